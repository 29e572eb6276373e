/**
 * The disk spec mini-language of xl-disk-configuration(5): the strings in
 * `disk = [ '...', ... ]`.
 *
 * A spec is a comma-separated series of parameters.  Whitespace before each
 * is ignored.  Each parameter is one of
 *
 *   - `key=value` for format, vdev, access, devtype, backend, backendtype,
 *     script, specification, grant_usage and the COLO keys;
 *   - a flag: cdrom, direct-io-safe, discard, no-discard, colo, no-colo,
 *     trusted, untrusted;
 *   - `target=...`, which takes the whole rest of the spec (commas included),
 *     so it must come last;
 *   - a positional parameter, filling the first unset of
 *     target, format, vdev, access (an empty one takes the default);
 *   - a deprecated xm-era prefix at the start of a parameter, stripped and
 *     remembered: `raw:` `qcow:` `qcow2:` `vhd:` set the format; `iscsi:`
 *     `nbd:` `enbd:` `drbd:` set script=block-NAME; `tapdisk:` `tap:` `tap2:`
 *     `aio:` `ioemu:` `file:` `phy:` are ignored.  After a prefix the old
 *     syntax `[prefix:]target,vdev[:devtype],access` applies: no positional
 *     format, and the vdev may carry `:cdrom` / `:disk`.
 *
 * Defaults as xl applies them: format raw; access rw, but a cdrom is always
 * read-only; a cdrom with no (or an empty) target gets format `empty`.  vdev
 * is mandatory, and so is a target unless the device is a cdrom.
 */
import { ConfigError, show, parseXlNumber, type SourceLoc } from './xl-config.ts';

export type DiskFormat = 'raw' | 'qcow' | 'qcow2' | 'vhd' | 'qed' | 'empty';
export type DiskBackendType = 'phy' | 'qdisk' | 'tap' | 'standalone';

/** A guest device designation decoded per xen-vbd-interface(7). */
export interface VdevInfo {
  /** Nominal disk type: Xen virtual disk, SCSI or IDE. */
  readonly bus: 'xvd' | 'sd' | 'hd';
  /** Disk number from 0 (xvda, sda, hda and d0 are disk 0). */
  readonly disk: number;
  /** Partition number; 0 is the whole disk. */
  readonly partition: number;
  /** The number written to xenstore as `virtual-device`. */
  readonly devnum: number;
}

export interface DiskSpec {
  /** The spec as written. */
  readonly spec: string;
  /** Image path or device; '' for an empty cdrom drive. */
  readonly target: string;
  readonly format: DiskFormat;
  /** The vdev as written, e.g. "xvda", "sda1", "d0p1", "51712". */
  readonly vdev: string;
  readonly vdevInfo: VdevInfo;
  readonly access: 'rw' | 'ro';
  readonly readwrite: boolean;
  readonly devtype: 'disk' | 'cdrom';
  /** cdroms are removable. */
  readonly removable: boolean;
  /** Backend domain name; undefined means domain 0. */
  readonly backend?: string;
  /** undefined means "let the toolstack choose". */
  readonly backendtype?: DiskBackendType;
  /** Hotplug script: the target is not a host path but the script's argument. */
  readonly script?: string;
  readonly specification?: 'xen' | 'virtio';
  readonly directIoSafe: boolean;
  /** undefined: default (discard advertised). */
  readonly discard?: boolean;
  /** undefined: default (trusted). */
  readonly trusted?: boolean;
  readonly grantUsage?: boolean;
  readonly colo?: boolean;
  readonly coloHost?: string;
  readonly coloPort?: number;
  readonly coloExport?: string;
  readonly activeDisk?: string;
  readonly hiddenDisk?: string;
  /** xm-era prefixes that were stripped, in order, e.g. ['tap', 'aio']. */
  readonly deprecatedPrefixes: readonly string[];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const FORMATS = new Map<string, DiskFormat>([
  ['', 'raw'],
  ['raw', 'raw'],
  ['qcow', 'qcow'],
  ['qcow2', 'qcow2'],
  ['vhd', 'vhd'],
  ['qed', 'qed'],
  ['empty', 'empty'],
]);
const BACKEND_TYPES = new Set<string>(['phy', 'qdisk', 'tap', 'standalone']);
const FORMAT_PREFIXES = new Set(['raw', 'qcow', 'qcow2', 'vhd']);
const SCRIPT_PREFIXES = new Set(['iscsi', 'nbd', 'enbd', 'drbd']);
const IGNORED_PREFIXES = new Set(['tapdisk', 'tap', 'tap2', 'aio', 'ioemu', 'file', 'phy']);

const DEFAULT_LOC: SourceLoc = { file: '<disk spec>', line: 1, col: 1 };

/**
 * Parses one disk spec.  Errors are ConfigErrors at `loc` (where the spec's
 * string is in the config) naming the spec and the problem.
 */
export function parseDiskSpec(spec: string, loc: SourceLoc = DEFAULT_LOC): DiskSpec {
  const fail = (problem: string): never => {
    throw new ConfigError(loc, `disk spec ${show(spec)}: ${problem}`);
  };

  let target: string | undefined;
  let format: DiskFormat | undefined;
  let vdev: string | undefined;
  let access: 'rw' | 'ro' = 'rw';
  let accessSet = false; // only the positional access counts, as in xl
  let cdrom = false;
  let hadPrefix = false;
  const prefixes: string[] = [];
  const d: Partial<Mutable<DiskSpec>> = { directIoSafe: false };

  const setFormat = (value: string) => {
    const f = FORMATS.get(value);
    if (f === undefined) fail(`unknown format ${show(value)} (expected raw, qcow, qcow2, vhd or qed)`);
    if (format !== undefined && format !== f) fail(`format respecified (${show(value)})`);
    format = f;
  };
  const setAccess = (value: string) => {
    if (value === 'r' || value === 'ro') access = 'ro';
    else if (value === 'w' || value === 'rw' || value === '') access = 'rw';
    else fail(`unknown access ${show(value)} (expected r, ro, w or rw)`);
  };
  // A string parameter may be given once; an empty earlier value may be replaced.
  const setOnce = (name: string, current: string | undefined, value: string): string => {
    if (current) fail(`${name} respecified (${show(value)})`);
    return value;
  };
  // `vdev:cdrom` / `vdev:disk`, old syntax; returns false if there is no colon.
  const vdevAndDevtype = (tok: string): boolean => {
    const colon = tok.lastIndexOf(':');
    if (colon < 0) return false;
    vdev = setOnce('vdev', vdev, tok.slice(0, colon));
    const type = tok.slice(colon + 1);
    if (type === 'cdrom') cdrom = true;
    else if (type === 'disk') cdrom = false;
    else fail(`unknown device type ${show(type)} after the vdev (expected cdrom or disk)`);
    return true;
  };

  let pos = 0;
  while (pos < spec.length) {
    while (pos < spec.length && /[ \t\n]/.test(spec[pos]!)) pos++;
    if (pos >= spec.length) break;
    const rest = spec.slice(pos);

    if (rest.startsWith('target=')) {
      let t = rest.slice('target='.length);
      if (t.endsWith(',')) t = t.slice(0, -1);
      target = setOnce('target', target, t);
      break;
    }

    // A known prefix is stripped whatever follows it (`tap:aio:/x`); an
    // unknown `word:` is an error unless a letter or digit follows, which
    // makes it a `vdev:devtype` such as `hdc:cdrom`.
    const prefix = /^([a-z][a-z0-9]*):/.exec(rest);
    if (prefix) {
      const p = prefix[1]!;
      const known = FORMAT_PREFIXES.has(p) || SCRIPT_PREFIXES.has(p) || IGNORED_PREFIXES.has(p);
      if (known) {
        if (FORMAT_PREFIXES.has(p)) setFormat(p);
        else if (SCRIPT_PREFIXES.has(p)) d.script = setOnce('script', d.script, `block-${p}`);
        hadPrefix = true;
        prefixes.push(p);
        pos += prefix[0].length;
        continue;
      }
      if (!/[a-z0-9]/.test(rest[prefix[0].length] ?? '')) fail(`unknown deprecated disk prefix ${show(p + ':')}`);
    }

    const comma = spec.indexOf(',', pos);
    const end = comma < 0 ? spec.length : comma;
    const tok = spec.slice(pos, end);
    pos = comma < 0 ? spec.length : comma + 1;

    const eq = tok.indexOf('=');
    if (eq >= 0) {
      const key = tok.slice(0, eq);
      const value = tok.slice(eq + 1);
      switch (key) {
        case 'format':
          setFormat(value);
          break;
        case 'vdev':
          vdev = setOnce('vdev', vdev, value);
          break;
        case 'access':
          setAccess(value);
          break;
        case 'devtype':
          if (value === 'cdrom') cdrom = true;
          else if (value === 'disk') cdrom = false;
          else fail(`unknown devtype ${show(value)} (expected cdrom or disk)`);
          break;
        case 'backend':
          d.backend = setOnce('backend', d.backend, value);
          break;
        case 'backendtype':
          if (!BACKEND_TYPES.has(value)) fail(`unknown backendtype ${show(value)} (expected phy, qdisk, tap or standalone)`);
          if (d.backendtype !== undefined && d.backendtype !== value) fail(`backendtype respecified (${show(value)})`);
          d.backendtype = value as DiskBackendType;
          break;
        case 'script':
          d.script = setOnce('script', d.script, value);
          break;
        case 'specification':
          if (value !== 'xen' && value !== 'virtio') fail(`unknown specification ${show(value)} (expected xen or virtio)`);
          if (d.specification !== undefined && d.specification !== value) fail(`specification respecified (${show(value)})`);
          d.specification = value as 'xen' | 'virtio';
          break;
        case 'grant_usage':
          if (value !== '0' && value !== '1') fail(`grant_usage must be 0 or 1, not ${show(value)}`);
          d.grantUsage = value === '1';
          break;
        case 'colo-host':
          d.coloHost = setOnce('colo-host', d.coloHost, value);
          break;
        case 'colo-port': {
          const port = parseXlNumber(value);
          if (!port || port > 65535) fail(`bad colo-port ${show(value)}`);
          d.coloPort = port;
          break;
        }
        case 'colo-export':
          d.coloExport = setOnce('colo-export', d.coloExport, value);
          break;
        case 'active-disk':
          d.activeDisk = setOnce('active-disk', d.activeDisk, value);
          break;
        case 'hidden-disk':
          d.hiddenDisk = setOnce('hidden-disk', d.hiddenDisk, value);
          break;
        default:
          if (/^[a-z][-a-z0-9_]*$/.test(key)) fail(`unknown parameter ${show(key)}`);
          fail(`bad disk syntax near ${show(tok)} (use target=... for a target containing '=' or ',')`);
      }
      continue;
    }

    switch (tok) {
      case 'cdrom': cdrom = true; continue;
      case 'direct-io-safe': d.directIoSafe = true; continue;
      case 'discard': d.discard = true; continue;
      case 'no-discard': d.discard = false; continue;
      case 'colo': d.colo = true; continue;
      case 'no-colo': d.colo = false; continue;
      case 'trusted': d.trusted = true; continue;
      case 'untrusted': d.trusted = false; continue;
    }

    // Positional.  xl keeps trailing blanks; we drop them (a vdev "xvda "
    // could never be valid anyway).
    const value = tok.replace(/[ \t\n]+$/, '');
    if (target === undefined) {
      target = value;
    } else if (!hadPrefix && format === undefined) {
      if (target === '' && vdevAndDevtype(value)) format = 'empty';
      else setFormat(value);
    } else if (vdev === undefined) {
      if (!vdevAndDevtype(value)) vdev = value;
    } else if (!accessSet) {
      accessSet = true;
      setAccess(value);
    } else {
      fail(`too many positional parameters (${show(value)})`);
    }
  }

  if (format === undefined) format = 'raw';
  if (cdrom) {
    access = 'ro';
    if (!target) format = 'empty';
  }
  if (!vdev) fail('no vdev specified');
  if (target === undefined && !cdrom) fail('no target specified (and device not removable)');
  // xl lets an empty target through to libxl, which then fails; say so here.
  if (target === '' && !cdrom) fail('empty target (only a cdrom drive may be empty)');
  let vdevInfo: VdevInfo;
  try {
    vdevInfo = decodeVdev(vdev!);
  } catch (e) {
    if (e instanceof VdevError) fail(e.message);
    throw e;
  }

  return {
    ...d,
    spec,
    target: target ?? '',
    format,
    vdev: vdev!,
    vdevInfo: vdevInfo!,
    access,
    readwrite: access === 'rw',
    devtype: cdrom ? 'cdrom' : 'disk',
    removable: cdrom,
    directIoSafe: d.directIoSafe ?? false,
    deprecatedPrefixes: prefixes,
  };
}

class VdevError extends Error {}

/** Bijective base-26: a=1 … z=26, aa=27 …; returns disk number (a → 0). */
function lettersToDisk(letters: string): number {
  let n = 0;
  for (const ch of letters) n = n * 26 + (ch.charCodeAt(0) - 96);
  return n - 1;
}

/**
 * Decodes a vdev per xen-vbd-interface(7): `xvdX[N]` (X: one or more letters,
 * bijective base 26, so xvdtq is disk 536), `dN[pM]`, `sdX[N]` (disks 0-15,
 * partitions 0-15), `hdX[N]` (disks 0-3, partitions 0-63), or a bare number
 * (decimal, 0x hex, 0 octal) that is the xenstore value itself.
 * Throws an Error with a one-line message for anything else.
 */
export function decodeVdev(vdev: string): VdevInfo {
  const bad = (why: string): never => {
    throw new VdevError(`bad vdev ${show(vdev)}: ${why}`);
  };
  const part = (digits: string | undefined): number => {
    if (!digits) return 0;
    const n = Number(digits);
    return Number.isSafeInteger(n) ? n : -1;
  };
  let m: RegExpExecArray | null;
  if ((m = /^xvd([a-z]+)([0-9]*)$/.exec(vdev)) || (m = /^d([0-9]+)(?:p([0-9]+))?$/.exec(vdev))) {
    const disk = vdev.startsWith('xvd') ? (m[1]!.length > 5 ? -1 : lettersToDisk(m[1]!)) : part(m[1]);
    const partition = part(m[2]);
    if (disk < 0 || disk > (1 << 20) - 1) bad('disk number out of range (at most 1048575)');
    if (partition < 0 || partition > 255) bad('partition number out of range (at most 255)');
    return { bus: 'xvd', disk, partition, devnum: xvdDevnum(disk, partition) };
  }
  if ((m = /^sd([a-z])([0-9]*)$/.exec(vdev))) {
    const disk = lettersToDisk(m[1]!);
    const partition = part(m[2]);
    if (disk > 15) bad('SCSI disks go up to sdp');
    if (partition < 0 || partition > 15) bad('SCSI partitions go up to 15');
    return { bus: 'sd', disk, partition, devnum: (8 << 8) | (disk << 4) | partition };
  }
  if ((m = /^hd([a-z])([0-9]*)$/.exec(vdev))) {
    const disk = lettersToDisk(m[1]!);
    const partition = part(m[2]);
    if (disk > 3) bad('IDE disks go up to hdd');
    if (partition < 0 || partition > 63) bad('IDE partitions go up to 63');
    const devnum = disk < 2 ? (3 << 8) | (disk << 6) | partition : (22 << 8) | ((disk - 2) << 6) | partition;
    return { bus: 'hd', disk, partition, devnum };
  }
  const n = parseXlNumber(vdev);
  if (n !== undefined) {
    if (n >= 1 << 28 && n < 2 ** 29) {
      const disk = (n >>> 8) & 0xfffff;
      return { bus: 'xvd', disk, partition: n & 0xff, devnum: n };
    }
    const major = n >>> 8;
    if (major === 202) return { bus: 'xvd', disk: (n >> 4) & 15, partition: n & 15, devnum: n };
    if (major === 8) return { bus: 'sd', disk: (n >> 4) & 15, partition: n & 15, devnum: n };
    if (major === 3) return { bus: 'hd', disk: (n >> 6) & 1, partition: n & 63, devnum: n };
    if (major === 22) return { bus: 'hd', disk: 2 + ((n >> 6) & 1), partition: n & 63, devnum: n };
    bad('not a known xenstore device number encoding');
  }
  return bad('expected xvdX[N], dN[pM], sdX[N], hdX[N] or a device number');
}

function xvdDevnum(disk: number, partition: number): number {
  return disk <= 15 && partition <= 15 ? (202 << 8) | (disk << 4) | partition : (1 << 28) | (disk << 8) | partition;
}
