/**
 * Debian's unmodified cloud kernel boots through its early stages on xenjs:
 * the same messages, in the same order, as the same kernel prints as a PV
 * domU under real Xen 4.17 (shared/reference/real-xen-domu-boot.log), up to
 * and past the "Memory:" line. Bounded by --max-insns.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IMAGES, REPO } from './helpers/images.ts';

/** Guest instructions allowed: the "Memory:" line comes at about 1.2 G. */
const MAX_INSNS = 1_700_000_000;

function bootUntil(pattern: RegExp, timeoutMs: number): Promise<{ out: string; err: string; matched: boolean }> {
  return new Promise((resolve) => {
    const p = spawn(
      process.execPath,
      [join(REPO, 'bin', 'xenjs.js'), 'boot', '--max-insns', String(MAX_INSNS), join(IMAGES, 'demo.cfg'), 'extra="console=hvc0 earlyprintk=xen"'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    let done = false;
    const finish = (matched: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      p.kill('SIGKILL');
      resolve({ out, err, matched });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString('latin1');
      if (pattern.test(out)) finish(true);
    });
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString('latin1');
    });
    p.on('exit', () => finish(pattern.test(out)));
  });
}

describe('Debian cloud kernel, early boot as a PV domU', () => {
  it('prints its own boot messages through to the SLUB line, as under real Xen', async () => {
    const r = await bootUntil(/SLUB: HWalign=\d+/, 600_000);
    const lines = r.out.split('\n');
    expect(r.matched, `did not reach the SLUB line; last output:\n${lines.slice(-15).join('\n')}\n${r.err.slice(-2000)}`).toBe(true);
    // The messages real Xen's boot log shows, in that order (values differ: kernel build, clock, memory).
    const expected: RegExp[] = [
      /^mapping kernel into physical memory$/,
      /^about to get started\.\.\.$/,
      /\] Linux version 6\.1\.0-\d+-cloud-amd64 \(debian-kernel@lists\.debian\.org\)/,
      /\] Command line: console=hvc0 earlyprintk=xen$/,
      /\] BIOS-provided physical RAM map:$/,
      /\] Xen: \[mem 0x0000000000000000-0x000000000009ffff\] usable$/,
      /\] Hypervisor detected: Xen PV$/,
      /\] tsc: Detected \d+\.\d+ MHz processor$/,
      /\] RAMDISK: \[mem 0x04000000-0x041e\w+\]$/,
      /\] Zone ranges:$/,
      /\] p2m virtual area at/,
      /\] Booting kernel on Xen$/,
      /\] Xen version: 4\.17/,
      /\] setup_percpu: NR_CPUS:8192 nr_cpumask_bits:1 nr_cpu_ids:1 nr_node_ids:1$/,
      /\] percpu: Embedded \d+ pages\/cpu/,
      /\] Kernel command line: console=hvc0 earlyprintk=xen$/,
      /\] Memory: \d+K\/\d+K available \(\d+K kernel code/,
      /\] SLUB: HWalign=64, Order=0-3, MinObjects=0, CPUs=1, Nodes=1$/,
    ];
    let at = 0;
    for (const re of expected) {
      const k = lines.findIndex((l, idx) => idx >= at && re.test(l.replace(/\r$/, '')));
      expect(k, `missing (in order): ${re}`).toBeGreaterThanOrEqual(0);
      at = k + 1;
    }
    // Nothing went wrong on the way.
    expect(r.out).not.toMatch(/Oops|BUG:|Kernel panic|unchecked MSR access|WARNING: CPU/);
  }, 660_000);
});
