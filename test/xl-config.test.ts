import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { UserError } from '../src/errors.ts';
import {
  applyOverrides,
  ConfigError,
  parseXlConfig,
  toPlain,
  type PlainValue,
  type RawConfig,
} from '../src/domains/xl-config.ts';
import {
  DEFAULT_MEMORY_MIB,
  loadDomainConfig,
  resolvePaths,
  toDomainConfig,
} from '../src/domains/domain-config.ts';
import { decodeVdev, parseDiskSpec } from '../src/domains/disk-spec.ts';
import { defaultMac, normalizeMac, parseVifSpec } from '../src/domains/vif-spec.ts';

const plain = (raw: RawConfig): Record<string, PlainValue> =>
  Object.fromEntries([...raw.settings].map(([k, s]) => [k, toPlain(s.value)]));
const parse = (text: string) => plain(parseXlConfig(text, 'demo.cfg'));
const domain = (text: string) => toDomainConfig(parseXlConfig(text, 'demo.cfg'), 'demo.cfg');

/** The error thrown by fn, checked to be a one-line ConfigError. */
function errorOf(fn: () => unknown): string {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ConfigError);
  expect(err).toBeInstanceOf(UserError);
  const message = (err as Error).message;
  expect(message).not.toMatch(/[\r\n]/);
  return message;
}
const parseError = (text: string) => errorOf(() => parseXlConfig(text, 'demo.cfg'));
const domainError = (text: string) => errorOf(() => domain(text));

const TUTORIAL = `kernel = "/boot/vmlinuz-2.6-xenU"
memory = 128
name = "vm1"
disk = [ 'file:/var/images/vm1disk,sda1,w', 'file:/var/images/vm1swap,sda2,w' ]
root = "/dev/sda1 ro"
vif = [ '' ]
`;

describe('the classic tutorial config', () => {
  it('parses to the raw settings', () => {
    expect(parse(TUTORIAL)).toEqual({
      kernel: '/boot/vmlinuz-2.6-xenU',
      memory: 128,
      name: 'vm1',
      disk: ['file:/var/images/vm1disk,sda1,w', 'file:/var/images/vm1swap,sda2,w'],
      root: '/dev/sda1 ro',
      vif: [''],
    });
  });

  it('records where each setting and value is', () => {
    const raw = parseXlConfig(TUTORIAL, 'demo.cfg');
    const disk = raw.settings.get('disk')!;
    expect(disk.loc).toEqual({ file: 'demo.cfg', line: 4, col: 1 });
    expect(disk.op).toBe('=');
    expect(disk.value.kind).toBe('list');
    if (disk.value.kind !== 'list') return;
    expect(disk.value.loc).toEqual({ file: 'demo.cfg', line: 4, col: 8 });
    expect(disk.value.items[1]!.loc).toEqual({ file: 'demo.cfg', line: 4, col: 45 });
    expect(raw.settings.get('memory')!.value).toEqual({
      kind: 'number',
      value: 128,
      text: '128',
      loc: { file: 'demo.cfg', line: 2, col: 10 },
    });
  });

  it('becomes the right DomainConfig', () => {
    const cfg = domain(TUTORIAL);
    expect(cfg).toMatchObject({
      file: 'demo.cfg',
      name: 'vm1',
      type: 'pv',
      kernel: '/boot/vmlinuz-2.6-xenU',
      cmdline: 'root=/dev/sda1 ro',
      memory: 128,
      maxmem: 128,
      vcpus: 1,
      maxvcpus: 1,
      on_poweroff: 'destroy',
      on_reboot: 'restart',
      on_watchdog: 'destroy',
      on_crash: 'destroy',
      on_soft_reset: 'soft-reset',
      other: {},
      warnings: [],
    });
    expect(cfg.ramdisk).toBeUndefined();
    expect(cfg.uuid).toBeUndefined();
    expect(cfg.disk).toHaveLength(2);
    expect(cfg.disk[0]).toMatchObject({
      target: '/var/images/vm1disk',
      format: 'raw',
      vdev: 'sda1',
      vdevInfo: { bus: 'sd', disk: 0, partition: 1, devnum: (8 << 8) | 1 },
      access: 'rw',
      readwrite: true,
      devtype: 'disk',
      removable: false,
      deprecatedPrefixes: ['file'],
    });
    expect(cfg.disk[1]).toMatchObject({ target: '/var/images/vm1swap', vdev: 'sda2', access: 'rw' });
    expect(cfg.vif).toEqual([
      { spec: '', devid: 0, bridge: 'xenbr0', script: 'vif-bridge', type: 'vif', mtu: 1500, other: {} },
    ]);
    expect(cfg.vif[0]!.mac).toBeUndefined();
  });
});

describe('xl.cfg syntax', () => {
  it('accepts both quote styles', () => {
    expect(parse(`a = "double"\nb = 'single'\nc = "it's"\nd = 'say "hi"'\ne = ""`)).toEqual({
      a: 'double',
      b: 'single',
      c: "it's",
      d: 'say "hi"',
      e: '',
    });
  });

  it('decodes backslash escapes in both quote styles', () => {
    expect(parse(String.raw`a = "q\"q\\b\'"` + '\n' + String.raw`b = 'x\ty\nz\r'`)).toEqual({
      a: `q"q\\b'`,
      b: 'x\ty\nz\r',
    });
    expect(parse(String.raw`a = "\a\b\f\v"`)).toEqual({ a: '\x07\b\f\v' });
    expect(parse(String.raw`a = "\x41\x7a|\101\0|\12"`)).toEqual({ a: 'Az|A\0|\n' });
  });

  it('reads decimal, hex and leading-0 octal numbers', () => {
    expect(parse('a = 128\nb = 0x80\nc = 0X1f\nd = 0200\ne = 0\nf = 007')).toEqual({
      a: 128,
      b: 128,
      c: 31,
      d: 128,
      e: 0,
      f: 7,
    });
    const raw = parseXlConfig('b = 0x80', 'demo.cfg');
    expect(raw.settings.get('b')!.value).toMatchObject({ kind: 'number', value: 128, text: '0x80' });
  });

  it('separates settings with newlines or semicolons', () => {
    expect(parse('name="h0"; type="pv"\nmemory=64;;vcpus=2;\n;')).toEqual({
      name: 'h0',
      type: 'pv',
      memory: 64,
      vcpus: 2,
    });
  });

  it('skips comments, but not # inside strings', () => {
    const text = [
      '# a comment line',
      'name = "vm#1" # trailing comment',
      "extra = 'console=hvc0 # not a comment'",
      '   # indented comment',
      'memory = 64#no space',
      'disk = [ # comment inside a list',
      "  'phy:/dev/x#y,xvda,w', # another",
      ']',
    ].join('\n');
    expect(parse(text)).toEqual({
      name: 'vm#1',
      extra: 'console=hvc0 # not a comment',
      memory: 64,
      disk: ['phy:/dev/x#y,xvda,w'],
    });
  });

  it('reads lists: multi-line, trailing comma, empty, nested, mixed', () => {
    const text = `disk = [
      'a',
      'b',
    ]
    empty = [ ]
    nested = [ ["pnode=0", "size=512"], [ 1, 0x2 ] ]
    mixed = [ 'x', 3, ]
    inline = ['p','q']`;
    expect(parse(text)).toEqual({
      disk: ['a', 'b'],
      empty: [],
      nested: [['pnode=0', 'size=512'], [1, 2]],
      mixed: ['x', 3],
      inline: ['p', 'q'],
    });
  });

  it('appends with += to strings and lists, as xl does', () => {
    const text = `extra = "console=hvc0"
extra += " quiet"
disk = [ 'a' ]
disk += [ 'b', 'c' ]
fresh += "new"
vif += [ '' ]`;
    expect(parse(text)).toEqual({
      extra: 'console=hvc0 quiet',
      disk: ['a', 'b', 'c'],
      fresh: 'new',
      vif: [''],
    });
    expect(parseXlConfig(text, 'demo.cfg').settings.get('disk')!.op).toBe('+=');
  });

  it('lets a later setting replace an earlier one, keeping first-seen order', () => {
    const raw = parseXlConfig('a = 1\nb = 2\na = "x"', 'demo.cfg');
    expect([...raw.settings.keys()]).toEqual(['a', 'b']);
    expect(plain(raw)).toEqual({ a: 'x', b: 2 });
    expect(raw.settings.get('a')!.loc.line).toBe(3);
  });

  it('accepts identifiers with underscores and digits, CRLF line ends and no final newline', () => {
    expect(parse('on_crash_2 = "x"\r\n_k = 1\r\nmax_grant_frames=32')).toEqual({
      on_crash_2: 'x',
      _k: 1,
      max_grant_frames: 32,
    });
    expect(parse('')).toEqual({});
    expect(parse('\n\n# only comments\n')).toEqual({});
  });
});

describe('command-line overrides', () => {
  it('apply like `xl create cfg key=value`', () => {
    const raw = parseXlConfig(TUTORIAL, 'demo.cfg');
    const over = applyOverrides(raw, [
      'vcpus=2',
      'extra="console=hvc0"',
      "disk+=['phy:/dev/vg/data,xvdb,r']",
      'memory = 0x100',
      "name='vm2'",
    ]);
    expect(plain(over)).toMatchObject({
      vcpus: 2,
      extra: 'console=hvc0',
      memory: 256,
      name: 'vm2',
      disk: ['file:/var/images/vm1disk,sda1,w', 'file:/var/images/vm1swap,sda2,w', 'phy:/dev/vg/data,xvdb,r'],
    });
    expect(plain(raw).name).toBe('vm1'); // the original is untouched
    const cfg = toDomainConfig(over, 'demo.cfg');
    expect(cfg.cmdline).toBe('root=/dev/sda1 ro console=hvc0');
    expect(cfg.vcpus).toBe(2);
    expect(cfg.disk[2]).toMatchObject({ target: '/dev/vg/data', vdev: 'xvdb', access: 'ro' });
  });

  it('report errors against <command line>', () => {
    const raw = parseXlConfig(TUTORIAL, 'demo.cfg');
    expect(errorOf(() => applyOverrides(raw, ['vcpus=2', 'name=vm2']))).toBe(
      '<command line>:2:6: expected a value, found \'vm2\' (strings must be quoted, e.g. "vm2")',
    );
    expect(errorOf(() => applyOverrides(raw, ['extra="oops']))).toBe('<command line>:1:7: unterminated string');
    expect(errorOf(() => applyOverrides(raw, ['vcpus']))).toBe(
      "<command line>:1:6: expected '=' after 'vcpus', found end of input",
    );
    expect(errorOf(() => applyOverrides(raw, ['disk+="x"']))).toBe(
      "<command line>:1:5: can't add a string to a list ('disk')",
    );
  });
});

describe('defaults and the typed model', () => {
  it('applies every xl default to a minimal config', () => {
    const cfg = domain('name = "min"');
    expect(cfg).toMatchObject({
      name: 'min',
      type: 'pv',
      cmdline: '',
      memory: DEFAULT_MEMORY_MIB,
      maxmem: DEFAULT_MEMORY_MIB,
      vcpus: 1,
      maxvcpus: 1,
      on_poweroff: 'destroy',
      on_reboot: 'restart',
      on_watchdog: 'destroy',
      on_crash: 'destroy',
      on_soft_reset: 'soft-reset',
      disk: [],
      vif: [],
      other: {},
      warnings: [],
    });
    expect(DEFAULT_MEMORY_MIB).toBe(32); // libxl's default
    expect(cfg.kernel).toBeUndefined();
    expect(cfg.ramdisk).toBeUndefined();
  });

  it('derives maxmem from memory, memory from maxmem, maxvcpus from vcpus', () => {
    expect(domain('name="a"\nmemory=256')).toMatchObject({ memory: 256, maxmem: 256 });
    expect(domain('name="a"\nmaxmem=512')).toMatchObject({ memory: 512, maxmem: 512 });
    expect(domain('name="a"\nmemory=256\nmaxmem=1024')).toMatchObject({ memory: 256, maxmem: 1024 });
    expect(domain('name="a"\nvcpus=2')).toMatchObject({ vcpus: 2, maxvcpus: 2 });
    expect(domain('name="a"\nvcpus=2\nmaxvcpus=4')).toMatchObject({ vcpus: 2, maxvcpus: 4 });
  });

  it('accepts numbers written as strings and strings written as numbers, as xl does', () => {
    expect(domain('name=42\nmemory="0x100"\nvcpus="2"')).toMatchObject({ name: '42', memory: 256, vcpus: 2 });
  });

  it('builds the command line like xl', () => {
    expect(domain('name="a"\nroot="/dev/xvda1 ro"').cmdline).toBe('root=/dev/xvda1 ro');
    expect(domain('name="a"\nextra="console=hvc0"').cmdline).toBe('console=hvc0');
    expect(domain('name="a"\nroot="/dev/xvda1"\nextra="quiet"').cmdline).toBe('root=/dev/xvda1 quiet');
    const cfg = domain('name="a"\ncmdline="console=hvc0 root=/dev/xvda"\nroot="/dev/sda"\nextra="x"');
    expect(cfg.cmdline).toBe('console=hvc0 root=/dev/xvda');
    expect(cfg.warnings).toEqual(['demo.cfg:3:6: warning: ignoring root= and extra= in favour of cmdline=']);
  });

  it('reads kernel, ramdisk, uuid and every event action', () => {
    const cfg = domain(`name = "a"
kernel = "vmlinuz"
ramdisk = "initrd.gz"
uuid = "6A0B2E4C-1D3F-4a5b-8c9d-0e1f2a3b4c5d"
on_poweroff = "preserve"
on_reboot = "rename-restart"
on_watchdog = "coredump-destroy"
on_crash = "coredump-restart"
on_soft_reset = "destroy"`);
    expect(cfg).toMatchObject({
      kernel: 'vmlinuz',
      ramdisk: 'initrd.gz',
      uuid: '6a0b2e4c-1d3f-4a5b-8c9d-0e1f2a3b4c5d',
      on_poweroff: 'preserve',
      on_reboot: 'rename-restart',
      on_watchdog: 'coredump-destroy',
      on_crash: 'coredump-restart',
      on_soft_reset: 'destroy',
    });
    expect(domain('name="a"\non_crash="soft-reset"').on_crash).toBe('soft-reset');
  });

  it('accepts type="pv" and the deprecated builder="generic"', () => {
    expect(domain('name="a"\ntype="pv"').type).toBe('pv');
    expect(domain('name="a"\nbuilder="generic"').type).toBe('pv');
  });

  it('keeps unknown and unsupported settings, with warnings', () => {
    const cfg = domain('name="a"\nfrobnicate = [1, "x"]\npci = [ "01:00.0" ]\nvfb = []');
    expect(cfg.other).toEqual({ frobnicate: [1, 'x'], pci: ['01:00.0'], vfb: [] });
    expect(cfg.warnings).toEqual([
      "demo.cfg:2:1: warning: unknown setting 'frobnicate' (ignored)",
      "demo.cfg:3:1: warning: 'pci' is not supported by xenjs (ignored)",
      "demo.cfg:4:1: warning: 'vfb' is not supported by xenjs (ignored)",
    ]);
    expect(cfg.raw.settings.get('frobnicate')!.loc).toEqual({ file: 'demo.cfg', line: 2, col: 1 });
  });
});

describe('paths', () => {
  it('resolves relative kernel, ramdisk and disk paths against the cwd, as xl does', () => {
    const cfg = domain(`name = "a"
kernel = "boot/vmlinuz"
ramdisk = "/abs/initrd"
disk = [ 'images/root.img,raw,xvda,rw', '/abs/data.img,,xvdb', 'phy:sdc,xvdc,r', ',,hdc:cdrom,r', 'script=block-iscsi,vdev=xvdd,target=iqn.x:y' ]`);
    const r = resolvePaths(cfg, '/work/here');
    expect(r.kernel).toBe('/work/here/boot/vmlinuz');
    expect(r.ramdisk).toBe('/abs/initrd');
    expect(r.disk.map((d) => d.target)).toEqual([
      '/work/here/images/root.img',
      '/abs/data.img',
      '/dev/sdc',
      '',
      'iqn.x:y',
    ]);
    expect(cfg.kernel).toBe('boot/vmlinuz'); // toDomainConfig keeps paths as written
    expect(resolvePaths(domain('name="a"'), '/x').kernel).toBeUndefined();
  });

  it('loadDomainConfig reads a file, applies overrides and resolves paths', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'xl-config-'));
    writeFileSync(path.join(dir, 'vm.cfg'), TUTORIAL.replace('/boot/', 'boot/'));
    const cfg = loadDomainConfig('vm.cfg', ['vcpus=3'], dir);
    expect(cfg).toMatchObject({ name: 'vm1', vcpus: 3, kernel: path.join(dir, 'boot/vmlinuz-2.6-xenU') });
    expect(() => loadDomainConfig('missing.cfg', [], dir)).toThrow(
      new UserError('missing.cfg: cannot read config file: no such file'),
    );
  });
});

describe('disk specs', () => {
  const d = (spec: string) => parseDiskSpec(spec);
  const core = (spec: string) => {
    const x = d(spec);
    return { target: x.target, format: x.format, vdev: x.vdev, access: x.access, devtype: x.devtype };
  };

  it('treats the documented equivalent forms of a disk alike', () => {
    const want = { target: '/dev/vg/guest-volume', format: 'raw', vdev: 'hda', access: 'rw', devtype: 'disk' };
    expect(core('/dev/vg/guest-volume,,hda')).toEqual(want);
    expect(core('/dev/vg/guest-volume,raw,hda,rw')).toEqual(want);
    expect(core('format=raw, vdev=hda, access=rw, target=/dev/vg/guest-volume')).toEqual(want);
    expect(core('raw:/dev/vg/guest-volume,hda,w')).toEqual(want);
  });

  it('treats the documented equivalent forms of a cdrom alike', () => {
    const want = { target: '/root/image.iso', format: 'raw', vdev: 'hdc', access: 'ro', devtype: 'cdrom' };
    expect(core('/root/image.iso,,hdc,cdrom')).toEqual(want);
    expect(core('/root/image.iso,,hdc,,cdrom')).toEqual(want);
    expect(core('/root/image.iso,raw,hdc,devtype=cdrom')).toEqual(want);
    expect(core('format=raw, vdev=hdc, access=ro, devtype=cdrom, target=/root/image.iso')).toEqual(want);
    expect(core('raw:/root/image.iso,hdc:cdrom,ro')).toEqual(want);
    expect(d('/root/image.iso,,hdc,cdrom').removable).toBe(true);
  });

  it('allows an empty cdrom drive', () => {
    const want = { target: '', format: 'empty', vdev: 'hdc', access: 'ro', devtype: 'cdrom' };
    expect(core(',hdc:cdrom,r')).toEqual(want);
    expect(core('vdev=hdc,cdrom')).toEqual(want);
    expect(core(',,hdc,,devtype=cdrom')).toEqual(want);
  });

  it('reads positional specs with defaults', () => {
    expect(d('/img/a.qcow2,qcow2,xvda,r')).toMatchObject({ format: 'qcow2', access: 'ro', readwrite: false });
    expect(d('/img/a,,xvda,')).toMatchObject({ format: 'raw', access: 'rw', readwrite: true });
    for (const f of ['raw', 'qcow', 'qcow2', 'vhd', 'qed']) expect(d(`/x,${f},xvda`).format).toBe(f);
    for (const [a, want] of [['r', 'ro'], ['ro', 'ro'], ['w', 'rw'], ['rw', 'rw']]) {
      expect(d(`/x,raw,xvda,${a}`).access).toBe(want);
    }
  });

  it('reads keyword specs; target= takes the rest, commas included', () => {
    expect(d('vdev=xvdb, format=vhd, access=ro, backendtype=qdisk, backend=driver-dom, target=/srv/a,b c')).toMatchObject({
      vdev: 'xvdb',
      format: 'vhd',
      access: 'ro',
      backendtype: 'qdisk',
      backend: 'driver-dom',
      target: '/srv/a,b c',
    });
    expect(d('vdev=xvda,script=block-drbd,target=res0')).toMatchObject({ script: 'block-drbd', target: 'res0' });
    expect(
      d('/x,,xvda,rw,direct-io-safe,no-discard,untrusted,specification=virtio,grant_usage=1'),
    ).toMatchObject({ directIoSafe: true, discard: false, trusted: false, specification: 'virtio', grantUsage: true });
    expect(d('/x,,xvda')).toMatchObject({ directIoSafe: false });
    expect(d('/x,,xvda').discard).toBeUndefined();
    expect(d('/x,,xvda').backendtype).toBeUndefined();
  });

  it('strips the xm-era prefixes xl still accepts', () => {
    expect(d('file:/var/images/vm1disk,sda1,w')).toMatchObject({
      target: '/var/images/vm1disk',
      vdev: 'sda1',
      access: 'rw',
      format: 'raw',
      deprecatedPrefixes: ['file'],
    });
    expect(d('phy:/dev/vg/lv,xvda,w')).toMatchObject({ target: '/dev/vg/lv', deprecatedPrefixes: ['phy'] });
    expect(d('tap:aio:/img/a.img,xvda,w')).toMatchObject({ target: '/img/a.img', format: 'raw', deprecatedPrefixes: ['tap', 'aio'] });
    expect(d('tap:qcow2:/img/a.qcow2,xvda,w')).toMatchObject({ target: '/img/a.qcow2', format: 'qcow2' });
    expect(d('tap2:tapdisk:aio:/img/b,xvdb,r')).toMatchObject({
      target: '/img/b',
      access: 'ro',
      deprecatedPrefixes: ['tap2', 'tapdisk', 'aio'],
    });
    expect(d('aio:/img/c,xvdc,w').target).toBe('/img/c');
    expect(d('qcow2:/img/d,xvdd,w').format).toBe('qcow2');
    expect(d('vhd:/img/e,xvde,w').format).toBe('vhd');
    expect(d('iscsi:iqn.2001-05.com.example:disk1,xvdf,w')).toMatchObject({
      script: 'block-iscsi',
      target: 'iqn.2001-05.com.example:disk1',
    });
  });

  it('decodes vdevs as xen-vbd-interface(7) says', () => {
    expect(decodeVdev('xvda')).toEqual({ bus: 'xvd', disk: 0, partition: 0, devnum: 202 << 8 });
    expect(decodeVdev('xvdb2')).toEqual({ bus: 'xvd', disk: 1, partition: 2, devnum: (202 << 8) | (1 << 4) | 2 });
    expect(decodeVdev('d1p2')).toEqual(decodeVdev('xvdb2'));
    expect(decodeVdev('d0')).toEqual(decodeVdev('xvda'));
    expect(decodeVdev('d0p0')).toEqual(decodeVdev('xvda'));
    expect(decodeVdev('xvdtq37')).toEqual({ bus: 'xvd', disk: 536, partition: 37, devnum: (1 << 28) | (536 << 8) | 37 });
    expect(decodeVdev('d536p37')).toEqual(decodeVdev('xvdtq37'));
    expect(decodeVdev('xvdz').disk).toBe(25);
    expect(decodeVdev('xvdaa').disk).toBe(26);
    expect(decodeVdev('xvdq')).toMatchObject({ disk: 16, devnum: (1 << 28) | (16 << 8) });
    expect(decodeVdev('sdb3')).toEqual({ bus: 'sd', disk: 1, partition: 3, devnum: (8 << 8) | (1 << 4) | 3 });
    expect(decodeVdev('hdc2')).toEqual({ bus: 'hd', disk: 2, partition: 2, devnum: (22 << 8) | 2 });
    expect(decodeVdev('hdb')).toEqual({ bus: 'hd', disk: 1, partition: 0, devnum: (3 << 8) | (1 << 6) });
    expect(decodeVdev('51712')).toEqual(decodeVdev('xvda'));
    expect(decodeVdev('0xca10')).toEqual(decodeVdev('xvdb'));
    expect(() => decodeVdev('hde')).toThrow("bad vdev 'hde': IDE disks go up to hdd");
    expect(() => decodeVdev('sdq')).toThrow("bad vdev 'sdq': SCSI disks go up to sdp");
    expect(() => decodeVdev('vda')).toThrow(/^bad vdev 'vda': expected/);
  });

  it('reports bad specs at the string in the config', () => {
    const err = (spec: string) => domainError(`name="a"\ndisk = [ '${spec}' ]`);
    expect(err('/x,raw,xvda,z')).toBe("demo.cfg:2:10: disk spec '/x,raw,xvda,z': unknown access 'z' (expected r, ro, w or rw)");
    expect(err('/x,raw')).toBe("demo.cfg:2:10: disk spec '/x,raw': no vdev specified");
    expect(err('vdev=xvda')).toBe("demo.cfg:2:10: disk spec 'vdev=xvda': no target specified (and device not removable)");
    expect(err(',,xvda')).toBe("demo.cfg:2:10: disk spec ',,xvda': empty target (only a cdrom drive may be empty)");
    expect(err('/x,vmdk,xvda')).toBe(
      "demo.cfg:2:10: disk spec '/x,vmdk,xvda': unknown format 'vmdk' (expected raw, qcow, qcow2, vhd or qed)",
    );
    expect(err('/x,raw,xvda,rw,extra')).toBe("demo.cfg:2:10: disk spec '/x,raw,xvda,rw,extra': too many positional parameters ('extra')");
    expect(err('foo:/x,xvda,w')).toBe("demo.cfg:2:10: disk spec 'foo:/x,xvda,w': unknown deprecated disk prefix 'foo:'");
    expect(err('/x,,xvda,colour=red')).toBe("demo.cfg:2:10: disk spec '/x,,xvda,colour=red': unknown parameter 'colour'");
    expect(err('/x,,xvda,devtype=floppy')).toBe(
      "demo.cfg:2:10: disk spec '/x,,xvda,devtype=floppy': unknown devtype 'floppy' (expected cdrom or disk)",
    );
    expect(err('/x,,vda')).toBe(
      "demo.cfg:2:10: disk spec '/x,,vda': bad vdev 'vda': expected xvdX[N], dN[pM], sdX[N], hdX[N] or a device number",
    );
    expect(domainError(`name="a"\ndisk = [ '/x,,xvda', '/y,,d0' ]`)).toBe(
      "demo.cfg:2:22: vdev 'd0' is the same device as 'xvda' of an earlier disk",
    );
    expect(domainError(`name="a"\ndisk = [ 1 ]`)).toBe("demo.cfg:2:10: disk entries must be strings, e.g. 'file:/path/img,xvda,w'");
    expect(domainError(`name="a"\ndisk = '/x,,xvda'`)).toBe("demo.cfg:2:8: disk must be a list, e.g. disk = [ '...' ]");
  });
});

describe('vif specs', () => {
  it("treats '' as a vif with every default", () => {
    const v = parseVifSpec('', 3);
    expect(v).toEqual({ spec: '', devid: 3, bridge: 'xenbr0', script: 'vif-bridge', type: 'vif', mtu: 1500, other: {} });
  });

  it('reads the keys', () => {
    const v = parseVifSpec(
      'mac=00:16:3E:74:3d:76, bridge=xenbr1,ip=10.0.0.2,model=e1000,type=ioemu,vifname=web0,script=vif-route,' +
        'backend=netdom,gatewaydev=eth0,mtu=9000,rate=10Mb/s@20ms,vlan=10p/20,untrusted,accel=x,colo_forwarddev=eth9',
    );
    expect(v).toMatchObject({
      mac: '00:16:3e:74:3d:76',
      bridge: 'xenbr1',
      ip: '10.0.0.2',
      model: 'e1000',
      type: 'ioemu',
      vifname: 'web0',
      script: 'vif-route',
      backend: 'netdom',
      gatewaydev: 'eth0',
      mtu: 9000,
      rate: { text: '10Mb/s@20ms', bytesPerInterval: 25_000, intervalUsecs: 20_000 },
      vlan: '10p/20',
      trusted: false,
      other: { colo_forwarddev: 'eth9' },
    });
    expect(parseVifSpec('netdev=eth1').gatewaydev).toBe('eth1');
    expect(parseVifSpec('devid=7', 0).devid).toBe(7);
    expect(parseVifSpec('rate=250KB/s').rate).toEqual({ text: '250KB/s', bytesPerInterval: 12_500, intervalUsecs: 50_000 });
    expect(parseVifSpec('rate=1MB/s@20ms').rate!.bytesPerInterval).toBe(20_000);
    expect(parseVifSpec(',,bridge=br0,,').bridge).toBe('br0');
  });

  it('validates MAC addresses', () => {
    expect(normalizeMac('00:16:3e:0:a:FF')).toBe('00:16:3e:00:0a:ff');
    expect(normalizeMac('00-16-3e-01-02-03')).toBe('00:16:3e:01:02:03');
    expect(normalizeMac('00:16:3e:01:02')).toBeUndefined();
    expect(normalizeMac('00:16:3e:01:02:0g')).toBeUndefined();
    expect(normalizeMac('00:16-3e:01:02:03')).toBeUndefined();
  });

  it('generates deterministic MACs in the Xen OUI', () => {
    const a = defaultMac(1, 0);
    expect(a).toMatch(/^00:16:3e:[0-7][0-9a-f]:[0-9a-f]{2}:[0-9a-f]{2}$/);
    expect(defaultMac(1, 0)).toBe(a);
    expect(defaultMac(1, 1)).not.toBe(a);
    expect(defaultMac(2, 0)).not.toBe(a);
    expect(defaultMac(1, 0, 'vm1')).not.toBe(a);
  });

  it('numbers vifs by position and rejects clashes', () => {
    const cfg = domain(`name="a"\nvif = [ 'bridge=br0', '', 'mac=00:16:3e:00:00:01' ]`);
    expect(cfg.vif.map((v) => v.devid)).toEqual([0, 1, 2]);
    expect(cfg.vif[2]!.mac).toBe('00:16:3e:00:00:01');
    expect(domainError(`name="a"\nvif = [ '', 'devid=0' ]`)).toBe('demo.cfg:2:13: vif devid 0 is used twice');
  });

  it('reports bad specs at the string in the config', () => {
    const err = (spec: string) => domainError(`name="a"\nvif = [ '${spec}' ]`);
    expect(err('mac=00:16:3e:zz:00:01')).toBe(
      "demo.cfg:2:9: vif spec 'mac=00:16:3e:zz:00:01': invalid mac '00:16:3e:zz:00:01' (expected six hex octets like 00:16:3e:12:34:56)",
    );
    expect(err('colour=red')).toBe("demo.cfg:2:9: vif spec 'colour=red': unrecognized argument 'colour=red'");
    expect(err('xenbr0')).toBe("demo.cfg:2:9: vif spec 'xenbr0': unrecognized argument 'xenbr0' (expected key=value)");
    expect(err('type=e1000')).toBe("demo.cfg:2:9: vif spec 'type=e1000': invalid type 'e1000' (expected vif or ioemu)");
    expect(err('rate=fast')).toBe("demo.cfg:2:9: vif spec 'rate=fast': invalid rate 'fast' (expected e.g. 10Mb/s or 250KB/s)");
    expect(err('mtu=big')).toBe("demo.cfg:2:9: vif spec 'mtu=big': invalid mtu 'big' (expected a number from 68 to 65535)");
  });
});

describe('malformed configs', () => {
  it('unterminated string', () => {
    expect(parseError('name = "vm1"\nmemory = 128\nkernel = "/boot/vmlinuz\n')).toBe('demo.cfg:3:10: unterminated string');
    expect(parseError("name = 'vm1")).toBe('demo.cfg:1:8: unterminated string');
    expect(parseError('name = "ends in backslash\\')).toBe('demo.cfg:1:8: unterminated string');
  });

  it('bad escapes', () => {
    expect(parseError('a = "x\\qy"')).toBe("demo.cfg:1:7: invalid escape '\\q' in string");
    expect(parseError('a = "\\x4"')).toBe('demo.cfg:1:6: invalid \\x escape in string (needs two hex digits)');
    expect(parseError('a = "\\400"')).toBe("demo.cfg:1:6: octal escape '\\\\400' in string is above \\377");
  });

  it('missing =', () => {
    expect(parseError('name = "a"\nkernel "/boot/vmlinuz"')).toBe("demo.cfg:2:8: expected '=' after 'kernel', found a string");
    expect(parseError('memory 128')).toBe("demo.cfg:1:8: expected '=' after 'memory', found '128'");
    expect(parseError('vcpus\n')).toBe("demo.cfg:1:6: expected '=' after 'vcpus', found end of line");
  });

  it('missing value or name', () => {
    expect(parseError('name =\nmemory = 1')).toBe("demo.cfg:1:7: missing value after '='");
    expect(parseError('extra += ;')).toBe("demo.cfg:1:10: missing value after '+='");
    expect(parseError('= 3')).toBe("demo.cfg:1:1: missing setting name before '='");
    expect(parseError('"name" = 3')).toBe('demo.cfg:1:1: expected a setting name, found a string');
    expect(parseError('kernel = vmlinuz')).toBe(
      'demo.cfg:1:10: expected a value, found \'vmlinuz\' (strings must be quoted, e.g. "vmlinuz")',
    );
  });

  it('bad numbers', () => {
    expect(parseError('memory = 08')).toBe("demo.cfg:1:10: bad number '08' (a leading 0 means octal)");
    expect(parseError('memory = 12abc')).toBe("demo.cfg:1:10: bad number '12abc'");
    expect(parseError('memory = 1.5')).toBe("demo.cfg:1:10: bad number '1.5'");
    expect(parseError('memory = 0x')).toBe("demo.cfg:1:10: bad number '0x'");
    expect(parseError('memory = 99999999999999999999')).toBe("demo.cfg:1:10: bad number '99999999999999999999' (too large)");
    expect(domainError('name="a"\nmemory = "lots"')).toBe("demo.cfg:2:10: memory must be a number, not 'lots'");
    expect(domainError('name="a"\nvcpus = [2]')).toBe('demo.cfg:2:9: vcpus must be a number, not a list');
  });

  it('unexpected characters', () => {
    expect(parseError('memory = -1')).toBe("demo.cfg:1:10: unexpected character '-'");
    expect(parseError('a = 1\nb@ = 2')).toBe("demo.cfg:2:2: expected '=' after 'b', found '@'");
    expect(parseError('a = 1 \x01')).toBe('demo.cfg:1:7: unexpected character U+0001');
  });

  it('unbalanced brackets', () => {
    expect(parseError("name = 'a'\ndisk = [ 'file:/x,xvda,w',\nmemory = 128\n")).toBe(
      "demo.cfg:2:8: '[' is never closed (missing ']')",
    );
    expect(parseError("disk = [ 'a', [ 'b' ]")).toBe("demo.cfg:1:8: '[' is never closed (missing ']')");
    expect(parseError("disk = [ 'a' 'b' ]")).toBe("demo.cfg:1:14: expected ',' or ']' in list, found a string");
    expect(parseError("disk = [ , ]")).toBe("demo.cfg:1:10: expected a value or ']' in list, found ','");
    expect(parseError("disk = [ 'a' ] ]")).toBe("demo.cfg:1:16: expected ';' or end of line after the value of 'disk', found ']'");
    expect(parseError("a = 1\n]")).toBe("demo.cfg:2:1: unexpected ']'");
  });

  it('+= misuse', () => {
    expect(parseError('memory = 128\nmemory += 64')).toBe("demo.cfg:2:8: can't use '+=' with a number ('memory')");
    expect(parseError("disk = [ 'a' ]\ndisk += 'b'")).toBe("demo.cfg:2:6: can't add a string to a list ('disk')");
  });

  it('unknown action values', () => {
    expect(domainError('name = "a"\non_crash = "explode"')).toBe(
      "demo.cfg:2:12: unknown on_crash action 'explode' (expected one of destroy, restart, rename-restart, preserve, coredump-destroy, coredump-restart, soft-reset)",
    );
    expect(domainError('name = "a"\non_poweroff = "reboot"')).toMatch(/^demo\.cfg:2:15: unknown on_poweroff action 'reboot' /);
  });

  it('missing or bad name', () => {
    expect(domainError('memory = 128\nkernel = "/boot/vmlinuz"')).toBe('demo.cfg:1:1: no domain name: add name = "..."');
    expect(domainError('name = ""')).toBe('demo.cfg:1:8: the domain name must not be empty');
    expect(domainError('name = [ "a" ]')).toBe('demo.cfg:1:8: name must be a single value, not a list');
    expect(domainError('name = "a/b"')).toBe("demo.cfg:1:8: bad domain name 'a/b' (no '/' or control characters)");
  });

  it('guest types other than PV', () => {
    expect(domainError('name = "a"\ntype = "hvm"')).toBe(
      `demo.cfg:2:8: type 'hvm' is not supported: only PV guests are supported (type = "pv")`,
    );
    expect(domainError('name = "a"\ntype = "pvh"')).toBe(
      `demo.cfg:2:8: type 'pvh' is not supported: only PV guests are supported (type = "pv")`,
    );
    expect(domainError('name = "a"\nbuilder = "hvm"')).toBe(
      `demo.cfg:2:11: builder "hvm" is not supported: only PV guests are supported (type = "pv")`,
    );
    expect(domainError('name = "a"\ntype = "xen"')).toBe(
      "demo.cfg:2:8: unknown type 'xen' (expected pv, pvh or hvm; only pv is supported)",
    );
  });

  it('inconsistent sizes and bad uuid', () => {
    expect(domainError('name="a"\nmemory=512\nmaxmem=256')).toBe('demo.cfg:3:8: maxmem (256) must not be less than memory (512)');
    expect(domainError('name="a"\nvcpus=4\nmaxvcpus=2')).toBe('demo.cfg:3:10: maxvcpus (2) must not be less than vcpus (4)');
    expect(domainError('name="a"\nvcpus=0')).toBe('demo.cfg:2:7: vcpus must be at least 1');
    expect(domainError('name="a"\nmemory=0')).toBe('demo.cfg:2:8: memory must be at least 1 (MiB)');
    expect(domainError('name="a"\nuuid="1234"')).toBe(
      "demo.cfg:2:6: bad uuid '1234' (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, hex)",
    );
  });

  it('escapes control characters so the message stays on one line', () => {
    const msg = domainError('name = "a"\non_crash = "x\\ny"');
    expect(msg).toBe(
      "demo.cfg:2:12: unknown on_crash action 'x\\ny' (expected one of destroy, restart, rename-restart, preserve, coredump-destroy, coredump-restart, soft-reset)",
    );
  });
});

describe('xm (Python) configs', () => {
  const PY = (what: string) =>
    `this looks like an xm (Python) config ('${what}'), which xl does not accept; ` +
    'rewrite it as plain KEY = VALUE settings (see xl.cfg(5))';

  it('are recognised and explained', () => {
    expect(parseError('import os, re\narch = os.uname()[4]\n')).toBe(`demo.cfg:1:1: ${PY('import')}`);
    expect(parseError('# an xm config\nfrom os import uname\n')).toBe(`demo.cfg:2:1: ${PY('from')}`);
    expect(parseError('def f(x):\n    return x\n')).toBe(`demo.cfg:1:1: ${PY('def')}`);
    expect(parseError('name = "a"\nif arch == "x86_64":\n    memory = 512\n')).toBe(`demo.cfg:2:1: ${PY('if')}`);
    expect(parseError('kernel = "/boot/vmlinuz-" + os.uname()[2]')).toBe(`demo.cfg:1:27: ${PY('+')}`);
    expect(parseError('name = "vm%d" % vmid')).toBe(`demo.cfg:1:15: ${PY('%')}`);
    expect(parseError('memory = int(mem)')).toBe(`demo.cfg:1:10: ${PY('int(')}`);
    expect(parseError('arch = os.uname()[4]')).toBe(`demo.cfg:1:8: ${PY('os.')}`);
    expect(parseError('print("hello")')).toBe(`demo.cfg:1:1: ${PY('print')}`);
    expect(parseError('os.system("true")')).toBe(`demo.cfg:1:3: ${PY('.')}`);
    expect(parseError('acpi = True')).toBe(`demo.cfg:1:8: ${PY('True')}`);
    expect(parseError("disk = [ 'phy:%s,xvda,w' % dev ]")).toBe(`demo.cfg:1:26: ${PY('%')}`);
    expect(parseError('disk = [ d for d in disks ]')).toBe(`demo.cfg:1:12: ${PY('for')}`);
    expect(parseError('vif = { "bridge": "xenbr0" }')).toBe(`demo.cfg:1:7: ${PY('{')}`);
  });
});
