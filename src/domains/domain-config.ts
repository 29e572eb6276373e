/**
 * From parsed xl settings (xl-config.ts) to a typed, validated DomainConfig
 * with xl's defaults.
 *
 * Defaults, as xl/libxl apply them:
 *   - type pv (the deprecated `builder = "generic"` means pv too); hvm and
 *     pvh are rejected, xenjs only runs PV guests;
 *   - memory: libxl's default of 32 MiB, or maxmem if only maxmem is given;
 *     maxmem defaults to memory;
 *   - vcpus 1; maxvcpus defaults to vcpus;
 *   - on_poweroff destroy, on_reboot restart, on_watchdog destroy,
 *     on_crash destroy, on_soft_reset soft-reset;
 *   - cmdline: `cmdline` if set (then root and extra are ignored, with a
 *     warning, as xl warns); otherwise "root=ROOT EXTRA" from whichever of
 *     root and extra are set; '' if none.
 *
 * As in xl, atoms are interchangeable: a number may be given as a string
 * (`memory = "256"`) and a string setting may be given as a number.
 *
 * Settings this model does not use are kept in `other` (plain values) and
 * reported in `warnings`, since xl ignores what it does not know rather than
 * failing.
 *
 * Paths: xl hands kernel and ramdisk paths to libxl unchanged, and libxl
 * opens them from the current directory of the `xl` process, so a relative
 * path is relative to where `xl create` runs, NOT to the config file's
 * directory.  toDomainConfig keeps paths as written; resolvePaths() makes them
 * absolute the way xl would find them.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../errors.ts';
import {
  applyOverrides,
  ConfigError,
  parseXlConfig,
  parseXlNumber,
  show,
  toPlain,
  type PlainValue,
  type RawConfig,
  type RawValue,
  type SourceLoc,
} from './xl-config.ts';
import { parseDiskSpec, type DiskSpec } from './disk-spec.ts';
import { parseVifSpec, type VifSpec } from './vif-spec.ts';

export type ShutdownAction =
  | 'destroy'
  | 'restart'
  | 'rename-restart'
  | 'preserve'
  | 'coredump-destroy'
  | 'coredump-restart'
  | 'soft-reset';

export const SHUTDOWN_ACTIONS: readonly ShutdownAction[] = [
  'destroy',
  'restart',
  'rename-restart',
  'preserve',
  'coredump-destroy',
  'coredump-restart',
  'soft-reset',
];

/** libxl's default memory size (MiB) when neither memory nor maxmem is given. */
export const DEFAULT_MEMORY_MIB = 32;

export interface DomainConfig {
  /** The config file's name as given (used in messages). */
  readonly file: string;
  readonly name: string;
  readonly type: 'pv';
  /** Lowercase 8-4-4-4-12 hex; undefined means "generate one". */
  readonly uuid?: string;
  readonly kernel?: string;
  readonly ramdisk?: string;
  /** The guest kernel command line; '' if none. */
  readonly cmdline: string;
  /** Initial memory, MiB. */
  readonly memory: number;
  /** Maximum memory, MiB (>= memory). */
  readonly maxmem: number;
  /** vCPUs online at boot. */
  readonly vcpus: number;
  /** vCPUs the guest may bring up (>= vcpus). */
  readonly maxvcpus: number;
  readonly on_poweroff: ShutdownAction;
  readonly on_reboot: ShutdownAction;
  readonly on_watchdog: ShutdownAction;
  readonly on_crash: ShutdownAction;
  readonly on_soft_reset: ShutdownAction;
  readonly disk: readonly DiskSpec[];
  readonly vif: readonly VifSpec[];
  /** Every setting not used above, as plain values, by key. */
  readonly other: Readonly<Record<string, PlainValue>>;
  /** One-line `FILE:LINE:COL: ...` notes: ignored or unsupported settings. */
  readonly warnings: readonly string[];
  /** The parsed settings, with locations. */
  readonly raw: RawConfig;
}

/** Keys toDomainConfig interprets. */
const HANDLED = new Set([
  'name', 'type', 'builder', 'uuid', 'kernel', 'ramdisk', 'cmdline', 'root', 'extra',
  'memory', 'maxmem', 'vcpus', 'maxvcpus',
  'on_poweroff', 'on_reboot', 'on_watchdog', 'on_crash', 'on_soft_reset',
  'disk', 'vif',
]);

/** Keys xl knows that xenjs does not implement (reported as such, ignored). */
const KNOWN_UNSUPPORTED = new Set([
  'pool', 'cpus', 'cpus_soft', 'cpu_weight', 'cap', 'period', 'slice', 'latency', 'extratime',
  'vnuma', 'bootloader', 'bootloader_args', 'bootloader_restrict', 'bootloader_user', 'firmware',
  'pvshim', 'pvshim_path', 'pvshim_cmdline', 'pvshim_extra', 'seclabel', 'init_seclabel',
  'max_grant_frames', 'max_maptrack_frames', 'max_grant_version', 'nomigrate', 'driver_domain',
  'device_tree', 'e820_host', 'vfb', 'vkb', 'vtpm', 'p9', 'pvcalls', 'channel', 'pci', 'usbctrl',
  'usbdev', 'vdispl', 'vsnd', 'dtdev', 'irqs', 'iomem', 'ioports', 'cpuid', 'tsc_mode', 'localtime',
  'rtc_timeoffset', 'hap', 'oos', 'shadow_memory', 'passthrough', 'max_event_channels',
  'event_channels', 'vuart', 'gic_version', 'tee', 'nr_spis', 'mca_caps', 'msr_relaxed',
  'pci_permissive', 'pci_msitranslate', 'pci_seize', 'pci_power_mgmt', 'rdm', 'rdm_mem_boundary',
  'vncviewer', 'vnc', 'vnclisten', 'vncpasswd', 'vncdisplay', 'vncunused', 'sdl', 'opengl',
  'keymap', 'serial', 'boot', 'acpi', 'apic', 'pae', 'hpet', 'nx', 'viridian', 'videoram',
  'stdvga', 'vga', 'usb', 'usbdevice', 'soundhw', 'nographic', 'device_model_version',
  'device_model_override', 'device_model_stubdomain_override', 'device_model_user', 'dm_restrict',
  'xen_platform_pci', 'gfx_passthru', 'nestedhvm', 'altp2m', 'claim_mode', 'ms_vm_genid',
  'on_soft_reset_action', 'vcpu_hard_affinity', 'vif2', 'acpi_firmware', 'smbios_firmware',
  'vkb_device', 'trap_unmapped_accesses', 'vpmu', 'llc_colors', 'virtio',
]);

type Located<T> = { value: T; loc: SourceLoc };

/**
 * Turns parsed settings into a DomainConfig, applying xl's defaults and
 * checks.  Throws ConfigError (one line, `FILE:LINE:COL: problem`).
 * `file` names the config in messages that have no better location.
 */
export function toDomainConfig(raw: RawConfig, file: string = raw.file): DomainConfig {
  const warnings: string[] = [];
  const warn = (loc: SourceLoc, text: string) => warnings.push(`${loc.file}:${loc.line}:${loc.col}: warning: ${text}`);
  const get = (key: string): RawValue | undefined => raw.settings.get(key)?.value;

  const str = (key: string): Located<string> | undefined => {
    const v = get(key);
    if (v === undefined) return undefined;
    if (v.kind === 'list') throw new ConfigError(v.loc, `${key} must be a single value, not a list`);
    return { value: v.kind === 'number' ? v.text : v.value, loc: v.loc };
  };
  const num = (key: string): Located<number> | undefined => {
    const v = get(key);
    if (v === undefined) return undefined;
    if (v.kind === 'list') throw new ConfigError(v.loc, `${key} must be a number, not a list`);
    if (v.kind === 'number') return { value: v.value, loc: v.loc };
    const n = parseXlNumber(v.value.trim());
    if (n === undefined) throw new ConfigError(v.loc, `${key} must be a number, not ${show(v.value)}`);
    return { value: n, loc: v.loc };
  };
  const list = (key: string): RawValue[] | undefined => {
    const v = get(key);
    if (v === undefined) return undefined;
    if (v.kind !== 'list') throw new ConfigError(v.loc, `${key} must be a list, e.g. ${key} = [ '...' ]`);
    return [...v.items];
  };
  const action = (key: string, dflt: ShutdownAction): ShutdownAction => {
    const v = str(key);
    if (!v) return dflt;
    if (!(SHUTDOWN_ACTIONS as readonly string[]).includes(v.value)) {
      throw new ConfigError(v.loc, `unknown ${key} action ${show(v.value)} (expected one of ${SHUTDOWN_ACTIONS.join(', ')})`);
    }
    return v.value as ShutdownAction;
  };

  // Guest type.
  const type = str('type');
  if (type && type.value !== 'pv') {
    if (type.value === 'hvm' || type.value === 'pvh') {
      throw new ConfigError(type.loc, `type ${show(type.value)} is not supported: only PV guests are supported (type = "pv")`);
    }
    throw new ConfigError(type.loc, `unknown type ${show(type.value)} (expected pv, pvh or hvm; only pv is supported)`);
  }
  const builder = str('builder');
  if (builder) {
    if (builder.value === 'hvm') {
      throw new ConfigError(builder.loc, `builder "hvm" is not supported: only PV guests are supported (type = "pv")`);
    }
    if (builder.value !== 'generic') {
      throw new ConfigError(builder.loc, `unknown builder ${show(builder.value)} (expected generic or hvm; builder is deprecated, use type = "pv")`);
    }
  }

  // Name.
  const name = str('name');
  if (!name) throw new ConfigError({ file, line: 1, col: 1 }, `no domain name: add name = "..."`);
  if (name.value === '') throw new ConfigError(name.loc, 'the domain name must not be empty');
  if (/[\x00-\x1f\x7f/]/.test(name.value)) {
    throw new ConfigError(name.loc, `bad domain name ${show(name.value)} (no '/' or control characters)`);
  }

  // UUID.
  const uuidSetting = str('uuid');
  let uuid: string | undefined;
  if (uuidSetting) {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(uuidSetting.value)) {
      throw new ConfigError(uuidSetting.loc, `bad uuid ${show(uuidSetting.value)} (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, hex)`);
    }
    uuid = uuidSetting.value.toLowerCase();
  }

  // Kernel and command line.
  const kernel = str('kernel');
  const ramdisk = str('ramdisk');
  if (kernel && kernel.value === '') throw new ConfigError(kernel.loc, 'kernel must not be empty');
  if (ramdisk && ramdisk.value === '') throw new ConfigError(ramdisk.loc, 'ramdisk must not be empty');
  const cmdlineSetting = str('cmdline');
  const root = str('root');
  const extra = str('extra');
  let cmdline: string;
  if (cmdlineSetting) {
    cmdline = cmdlineSetting.value;
    if (root || extra) warn((root ?? extra)!.loc, 'ignoring root= and extra= in favour of cmdline=');
  } else if (root && extra) {
    cmdline = `root=${root.value} ${extra.value}`;
  } else if (root) {
    cmdline = `root=${root.value}`;
  } else {
    cmdline = extra?.value ?? '';
  }

  // Memory (MiB).
  const memorySetting = num('memory');
  const maxmemSetting = num('maxmem');
  for (const [key, s] of [['memory', memorySetting], ['maxmem', maxmemSetting]] as const) {
    if (s && s.value < 1) throw new ConfigError(s.loc, `${key} must be at least 1 (MiB)`);
    if (s && s.value > 2 ** 32) throw new ConfigError(s.loc, `${key} ${s.value} MiB is too large`);
  }
  const memory = memorySetting?.value ?? maxmemSetting?.value ?? DEFAULT_MEMORY_MIB;
  const maxmem = maxmemSetting?.value ?? memory;
  if (maxmem < memory) {
    throw new ConfigError(maxmemSetting!.loc, `maxmem (${maxmem}) must not be less than memory (${memory})`);
  }

  // vCPUs.
  const vcpusSetting = num('vcpus');
  const maxvcpusSetting = num('maxvcpus');
  if (vcpusSetting && vcpusSetting.value < 1) throw new ConfigError(vcpusSetting.loc, 'vcpus must be at least 1');
  if (maxvcpusSetting && maxvcpusSetting.value < 1) throw new ConfigError(maxvcpusSetting.loc, 'maxvcpus must be at least 1');
  const vcpus = vcpusSetting?.value ?? 1;
  const maxvcpus = maxvcpusSetting?.value ?? vcpus;
  if (maxvcpus < vcpus) {
    throw new ConfigError(maxvcpusSetting!.loc, `maxvcpus (${maxvcpus}) must not be less than vcpus (${vcpus})`);
  }

  // Event actions.
  const on_poweroff = action('on_poweroff', 'destroy');
  const on_reboot = action('on_reboot', 'restart');
  const on_watchdog = action('on_watchdog', 'destroy');
  const on_crash = action('on_crash', 'destroy');
  const on_soft_reset = action('on_soft_reset', 'soft-reset');

  // Disks.
  const disk: DiskSpec[] = [];
  const byDevnum = new Map<number, string>();
  for (const item of list('disk') ?? []) {
    if (item.kind !== 'string') throw new ConfigError(item.loc, `disk entries must be strings, e.g. 'file:/path/img,xvda,w'`);
    const d = parseDiskSpec(item.value, item.loc);
    const clash = byDevnum.get(d.vdevInfo.devnum);
    if (clash !== undefined) {
      throw new ConfigError(item.loc, `vdev ${show(d.vdev)} is the same device as ${show(clash)} of an earlier disk`);
    }
    byDevnum.set(d.vdevInfo.devnum, d.vdev);
    disk.push(d);
  }

  // Network interfaces.
  const vif: VifSpec[] = [];
  const devids = new Set<number>();
  for (const [i, item] of (list('vif') ?? []).entries()) {
    if (item.kind !== 'string') throw new ConfigError(item.loc, `vif entries must be strings, e.g. 'bridge=xenbr0'`);
    const v = parseVifSpec(item.value, i, item.loc);
    if (devids.has(v.devid)) throw new ConfigError(item.loc, `vif devid ${v.devid} is used twice`);
    devids.add(v.devid);
    vif.push(v);
  }

  // Everything else: kept, and noted.
  const other: Record<string, PlainValue> = {};
  for (const [key, setting] of raw.settings) {
    if (HANDLED.has(key)) continue;
    other[key] = toPlain(setting.value);
    if (KNOWN_UNSUPPORTED.has(key)) warn(setting.loc, `${show(key)} is not supported by xenjs (ignored)`);
    else warn(setting.loc, `unknown setting ${show(key)} (ignored)`);
  }

  return {
    file,
    name: name.value,
    type: 'pv',
    ...(uuid !== undefined && { uuid }),
    ...(kernel && { kernel: kernel.value }),
    ...(ramdisk && { ramdisk: ramdisk.value }),
    cmdline,
    memory,
    maxmem,
    vcpus,
    maxvcpus,
    on_poweroff,
    on_reboot,
    on_watchdog,
    on_crash,
    on_soft_reset,
    disk,
    vif,
    other,
    warnings,
    raw,
  };
}

/**
 * Makes kernel, ramdisk and disk target paths absolute the way xl finds them:
 * relative to `cwd` (the directory `xl create` runs in), not to the config
 * file's directory.  Disk targets are left alone when empty (cdrom), when a
 * hotplug script interprets them, or when already absolute; a relative target
 * of a `phy` disk (prefix `phy:` or backendtype=phy) becomes /dev/TARGET, as
 * xl's block hotplug script does.
 */
export function resolvePaths(cfg: DomainConfig, cwd: string = process.cwd()): DomainConfig {
  const abs = (p: string) => path.resolve(cwd, p);
  const disk = cfg.disk.map((d): DiskSpec => {
    if (d.target === '' || d.script !== undefined || path.isAbsolute(d.target)) return d;
    const phy = d.backendtype === 'phy' || (d.backendtype === undefined && d.deprecatedPrefixes.includes('phy'));
    return { ...d, target: phy ? `/dev/${d.target}` : abs(d.target) };
  });
  return {
    ...cfg,
    ...(cfg.kernel !== undefined && { kernel: abs(cfg.kernel) }),
    ...(cfg.ramdisk !== undefined && { ramdisk: abs(cfg.ramdisk) }),
    disk,
  };
}

/**
 * Reads, parses and checks a config file as `xl create FILE KEY=VALUE...`
 * does, with paths resolved against `cwd`.
 */
export function loadDomainConfig(
  file: string,
  overrides: readonly string[] = [],
  cwd: string = process.cwd(),
): DomainConfig {
  let text: string;
  try {
    text = readFileSync(path.resolve(cwd, file), 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : String((e as Error).message).split('\n')[0];
    throw new UserError(`${file}: cannot read config file: ${why}`);
  }
  const raw = applyOverrides(parseXlConfig(text, file), overrides);
  return resolvePaths(toDomainConfig(raw, file), cwd);
}
