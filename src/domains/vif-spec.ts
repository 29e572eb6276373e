/**
 * The vif spec mini-language of xl-network-configuration(5): the strings in
 * `vif = [ '...', ... ]`.
 *
 * A spec is a comma-separated list of `key=value` settings and flags; empty
 * items and blanks before an item are ignored, so `''` is a valid vif with
 * every default.  Keys: mac, bridge, ip, model, type (vif|ioemu), vifname,
 * script, backend, rate, gatewaydev (and its deprecated alias netdev), mtu,
 * vlan, devid, the flags trusted / untrusted, and the COLO keys (kept
 * verbatim in `other`).  `accel` is accepted and ignored, as xl does.  Any
 * other key is an error, as in xl.
 *
 * Defaults (for a PV guest): bridge xenbr0, script vif-bridge, type vif,
 * mtu 1500, backend domain 0, no rate limit.  A missing mac is left
 * undefined: xl picks a random address in Xen's OUI 00:16:3e when the device
 * is created; {@link defaultMac} gives a deterministic one for us.
 */
import { ConfigError, show, type SourceLoc } from './xl-config.ts';

export interface VifRate {
  /** As written, e.g. "10Mb/s@20ms". */
  readonly text: string;
  readonly bytesPerInterval: number;
  readonly intervalUsecs: number;
}

export interface VifSpec {
  /** The spec as written. */
  readonly spec: string;
  /** The device number: its index in the vif list unless `devid=` says otherwise. */
  readonly devid: number;
  /** Lowercase `xx:xx:xx:xx:xx:xx`; undefined means "generate one" (see defaultMac). */
  readonly mac?: string;
  readonly bridge: string;
  readonly script: string;
  readonly type: 'vif' | 'ioemu';
  readonly mtu: number;
  readonly ip?: string;
  readonly model?: string;
  /** Backend interface name; xl's default is vif<domid>.<devid>. */
  readonly vifname?: string;
  /** Backend domain name; undefined means domain 0. */
  readonly backend?: string;
  readonly gatewaydev?: string;
  readonly rate?: VifRate;
  readonly vlan?: string;
  /** undefined: default (trusted). */
  readonly trusted?: boolean;
  /** COLO settings and other keys xl passes through untouched. */
  readonly other: Readonly<Record<string, string>>;
}

export const VIF_DEFAULT_BRIDGE = 'xenbr0';
export const VIF_DEFAULT_SCRIPT = 'vif-bridge';
export const VIF_DEFAULT_MTU = 1500;

/** Xen's Organizationally Unique Identifier, the first three MAC octets. */
export const XEN_OUI = '00:16:3e';

const DEFAULT_LOC: SourceLoc = { file: '<vif spec>', line: 1, col: 1 };

/**
 * Parses one vif spec; `index` is its position in the vif list (the default
 * devid).  Errors are ConfigErrors at `loc` naming the spec and the problem.
 */
export function parseVifSpec(spec: string, index = 0, loc: SourceLoc = DEFAULT_LOC): VifSpec {
  const fail = (problem: string): never => {
    throw new ConfigError(loc, `vif spec ${show(spec)}: ${problem}`);
  };
  const v: {
    -readonly [K in keyof VifSpec]: VifSpec[K];
  } = {
    spec,
    devid: index,
    bridge: VIF_DEFAULT_BRIDGE,
    script: VIF_DEFAULT_SCRIPT,
    type: 'vif',
    mtu: VIF_DEFAULT_MTU,
    other: {},
  };
  const other: Record<string, string> = {};

  for (const item of spec.split(',')) {
    const tok = item.replace(/^ +/, '');
    if (tok === '') continue;
    if (tok === 'trusted' || tok === 'untrusted') {
      v.trusted = tok === 'trusted';
      continue;
    }
    const eq = tok.indexOf('=');
    if (eq < 0) fail(`unrecognized argument ${show(tok)} (expected key=value)`);
    const key = tok.slice(0, eq);
    const value = tok.slice(eq + 1);
    switch (key) {
      case 'mac': {
        const mac = normalizeMac(value);
        if (mac === undefined) fail(`invalid mac ${show(value)} (expected six hex octets like 00:16:3e:12:34:56)`);
        v.mac = mac;
        break;
      }
      case 'bridge': v.bridge = value; break;
      case 'ip': v.ip = value; break;
      case 'model': v.model = value; break;
      case 'vifname': v.vifname = value; break;
      case 'script': v.script = value; break;
      case 'backend': v.backend = value; break;
      case 'gatewaydev':
      case 'netdev': v.gatewaydev = value; break;
      case 'vlan': v.vlan = value; break;
      case 'type':
        if (value !== 'vif' && value !== 'ioemu') fail(`invalid type ${show(value)} (expected vif or ioemu)`);
        v.type = value as 'vif' | 'ioemu';
        break;
      case 'mtu': {
        if (!/^[0-9]+$/.test(value) || Number(value) < 68 || Number(value) > 65535) {
          fail(`invalid mtu ${show(value)} (expected a number from 68 to 65535)`);
        }
        v.mtu = Number(value);
        break;
      }
      case 'devid': {
        if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(Number(value))) fail(`invalid devid ${show(value)}`);
        v.devid = Number(value);
        break;
      }
      case 'rate':
        v.rate = parseVifRate(value, fail);
        break;
      case 'accel':
        break; // accepted and ignored, as xl does
      default:
        if (key === 'forwarddev' || key.startsWith('colo_')) {
          other[key] = value;
          break;
        }
        fail(`unrecognized argument ${show(tok)}`);
    }
  }
  v.other = other;
  return v;
}

/** Accepts `xx:xx:xx:xx:xx:xx` (or `-`-separated, one or two hex digits each). */
export function normalizeMac(text: string): string | undefined {
  const m = /^([0-9a-fA-F]{1,2})(?:([:-])([0-9a-fA-F]{1,2}))(?:\2([0-9a-fA-F]{1,2})){4}$/.exec(text);
  if (!m) return undefined;
  return text
    .split(/[:-]/)
    .map((o) => o.toLowerCase().padStart(2, '0'))
    .join(':');
}

/**
 * A MAC address for a vif given none: Xen's OUI 00:16:3e plus three octets.
 * xl uses random ones; we derive them from (domid, devid) and an optional
 * seed (e.g. the domain's name or uuid) with FNV-1a, so a domain gets the
 * same addresses each time.  As xl does, the top bit of the fourth octet is
 * cleared.
 */
export function defaultMac(domid: number, devid: number, seed = ''): string {
  let h = 0x811c9dc5;
  for (const ch of `${seed}\0${domid}\0${devid}`) {
    h ^= ch.codePointAt(0)! & 0xff;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  const octets = [(h >>> 16) & 0x7f, (h >>> 8) & 0xff, h & 0xff];
  return `${XEN_OUI}:${octets.map((o) => o.toString(16).padStart(2, '0')).join(':')}`;
}

/**
 * `RATE/s[@INTERVAL]`: RATE is a number with an optional G, M or K (powers
 * of 1000) then B (bytes) or b (bits); INTERVAL is a number with an optional
 * s, ms or us suffix (bare means seconds), default 50ms.  The result is the
 * credit per interval, as xl computes it.
 */
function parseVifRate(text: string, fail: (problem: string) => never): VifRate {
  const at = text.indexOf('@');
  const rate = at < 0 ? text : text.slice(0, at);
  const interval = at < 0 ? undefined : text.slice(at + 1);
  if (rate === '') fail(`no rate specified in ${show(text)}`);
  const rm = /^([0-9]+)([GMK]?)([Bb])\/s$/.exec(rate);
  if (!rm) fail(`invalid rate ${show(rate)} (expected e.g. 10Mb/s or 250KB/s)`);
  let n = Number(rm![1]);
  if (n === 0 || n > 0xffffffff) fail(`rate overflow in ${show(rate)}`);
  n *= { G: 1e9, M: 1e6, K: 1e3, '': 1 }[rm![2] as 'G' | 'M' | 'K' | ''];
  const bytesPerSec = rm![3] === 'b' ? Math.floor(n / 8) : n;

  let usecs = 50_000;
  if (interval !== undefined) {
    const im = /^([0-9]+)([mu]?)(s?)$/.exec(interval);
    if (!im) fail(`invalid replenishment interval ${show(interval)} (expected e.g. 20ms)`);
    let u = Number(im![1]);
    if (u === 0 || u > 0xffffffff) fail(`replenishment interval overflow in ${show(interval)}`);
    if (im![2] === '') u *= 1_000_000;
    else if (im![2] === 'm') u *= 1000;
    if (u > 0xffffffff) fail(`replenishment interval overflow in ${show(interval)}`);
    usecs = u;
  }
  const bytesPerInterval = Math.floor((bytesPerSec * usecs) / 1_000_000);
  if (!Number.isSafeInteger(bytesPerSec * usecs)) fail(`rate overflow in ${show(text)}`);
  return { text, bytesPerInterval, intervalUsecs: usecs };
}
