/**
 * The default guest's initramfs: our cpio writer checked by GNU cpio, and the
 * whole image booted on QEMU (the same Debian kernel, natively, as the oracle
 * that our /init works before our own hypervisor runs it).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readCpio, S_IFCHR, S_IFDIR, S_IFLNK, S_IFREG, writeCpio } from '../src/devices/cpio.ts';
import { BOOT_MARKER, INIT_SCRIPT } from '../scripts/lib/initramfs.ts';
import { cloudKernel, IMAGES } from './helpers/images.ts';

describe('cpio newc writer', () => {
  it('writes archives GNU cpio lists and extracts byte for byte', () => {
    const dir = mkdtempSync(join(tmpdir(), 'xenjs-cpio-'));
    const big = new Uint8Array(100_003).map((_, i) => (i * 131) & 0xff);
    const archive = writeCpio([
      { name: 'd', mode: S_IFDIR | 0o755 },
      { name: 'd/odd-name.txt', mode: S_IFREG | 0o640, data: 'abc', uid: 1000, gid: 100, mtime: 1234567890 },
      { name: 'd/big', mode: S_IFREG | 0o600, data: big },
      { name: 'd/link', mode: S_IFLNK | 0o777, data: 'odd-name.txt' },
      { name: 'dev-null', mode: S_IFCHR | 0o666, rdevMajor: 1, rdevMinor: 3 },
      { name: 'empty', mode: S_IFREG | 0o644, data: '' },
    ]);
    const list = spawnSync('cpio', ['-itvn', '--quiet'], { input: archive, encoding: 'utf8' });
    expect(list.status).toBe(0);
    const lines = list.stdout.trim().split('\n');
    expect(lines).toHaveLength(6);
    expect(lines[1]).toMatch(/^-rw-r-----\s+1 1000\s+100\s+3 .* d\/odd-name\.txt$/);
    expect(lines[3]).toMatch(/^lrwxrwxrwx .* d\/link -> odd-name\.txt$/);
    expect(lines[4]).toMatch(/^crw-rw-rw-\s+1 0\s+0\s+1,\s+3 .* dev-null$/);
    const ex = spawnSync('cpio', ['-idm', '--quiet', '--no-absolute-filenames', 'd/*', 'empty'], { input: archive, cwd: dir });
    expect(ex.status).toBe(0);
    expect(Buffer.compare(readFileSync(join(dir, 'd/big')), Buffer.from(big))).toBe(0);
    expect(readFileSync(join(dir, 'd/odd-name.txt'), 'utf8')).toBe('abc');
    expect(readFileSync(join(dir, 'empty')).length).toBe(0);
    // And our reader agrees with what we wrote.
    expect(readCpio(archive).map((e) => e.name)).toEqual(['d', 'd/odd-name.txt', 'd/big', 'd/link', 'dev-null', 'empty']);
  });

  it('reads archives GNU cpio writes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'xenjs-cpio-'));
    writeFileSync(join(dir, 'a'), 'hello\n');
    writeFileSync(join(dir, 'bb'), new Uint8Array(5000).fill(7));
    const r = spawnSync('cpio', ['-o', '-H', 'newc', '--quiet'], { input: 'a\nbb\n', cwd: dir });
    expect(r.status).toBe(0);
    const entries = readCpio(new Uint8Array(r.stdout));
    expect(entries.map((e) => [e.name, e.data.length])).toEqual([
      ['a', 6],
      ['bb', 5000],
    ]);
  });
});

describe('default guest image', () => {
  const initramfs = (): Uint8Array => new Uint8Array(gunzipSync(readFileSync(join(IMAGES, 'initramfs.cpio.gz'))));

  it('holds static busybox, /dev/console and our /init', () => {
    const entries = readCpio(initramfs());
    const byName = new Map(entries.map((e) => [e.name, e]));
    expect(new TextDecoder().decode(byName.get('init')!.data)).toBe(INIT_SCRIPT);
    expect(byName.get('init')!.mode).toBe(S_IFREG | 0o755);
    const console = byName.get('dev/console')!;
    expect([console.mode & 0o170000, console.rdevMajor, console.rdevMinor]).toEqual([S_IFCHR, 5, 1]);
    const bb = byName.get('bin/busybox')!.data;
    expect(Array.from(bb.subarray(0, 4))).toEqual([0x7f, 0x45, 0x4c, 0x46]);
    // Static: no PT_INTERP program header.
    const tmp = join(mkdtempSync(join(tmpdir(), 'xenjs-bb-')), 'busybox');
    writeFileSync(tmp, bb);
    expect(spawnSync('readelf', ['-lW', tmp], { encoding: 'utf8' }).stdout).not.toMatch(/INTERP/);
  });

  it('demo.cfg names the kernel and ramdisk with 256 MiB and console=hvc0', () => {
    const cfg = readFileSync(join(IMAGES, 'demo.cfg'), 'utf8');
    expect(cfg).toMatch(/^memory = 256$/m);
    expect(cfg).toMatch(/^extra = "console=hvc0"$/m);
    expect(cfg).toContain(`kernel = "${cloudKernel().path}"`);
    expect(cfg).toContain(`ramdisk = "${join(IMAGES, 'initramfs.cpio.gz')}"`);
  });

  it('boots on QEMU to the marker and a shell that answers', async () => {
    const kernel = cloudKernel();
    const qemu = spawn(
      'qemu-system-x86_64',
      ['-accel', 'tcg', '-m', '256', '-nographic', '-no-reboot', '-kernel', kernel.path, '-initrd', join(IMAGES, 'initramfs.cpio.gz'), '-append', 'console=ttyS0 quiet'],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let out = '';
    qemu.stdout.on('data', (d: Buffer) => {
      out += d.toString('latin1');
    });
    const waitFor = (re: RegExp, ms: number): Promise<RegExpExecArray> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timeout waiting for ${re}; output:\n${out.slice(-2000)}`)), ms);
        const check = (): void => {
          const m = re.exec(out);
          if (m) {
            clearTimeout(timer);
            qemu.stdout.off('data', check);
            resolve(m);
          }
        };
        qemu.stdout.on('data', check);
        check();
      });
    try {
      const m = await waitFor(new RegExp(`${BOOT_MARKER} uptime=([0-9.]+) kernel=(\\S+)\\r?\\n`), 150_000);
      expect(m[2]).toBe(kernel.release);
      await waitFor(/xenjs:\/# /, 60_000);
      qemu.stdin.write('echo "sum=$((6*7)) release=$(uname -r)="\r');
      const ans = await waitFor(/sum=42 release=([^=\s]+)=/, 60_000);
      expect(ans[1]).toBe(kernel.release);
      qemu.stdin.write('exit\r');
      const code = await new Promise<number | null>((resolve) => qemu.on('exit', resolve));
      expect(out).toContain('powering off');
      expect(code).toBe(0);
    } finally {
      qemu.kill('SIGKILL');
    }
  }, 300_000);
});
