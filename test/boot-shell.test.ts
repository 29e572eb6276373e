/**
 * The whole story on the default guest: Debian's unmodified cloud kernel
 * boots on xenjs to the initramfs's busybox shell on hvc0 (console ring,
 * event channels, xenstore, timers), answers typed commands, and `poweroff`
 * powers the domain off (SCHEDOP_shutdown, reason poweroff).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDomainConfig } from '../src/domains/domain-config.ts';
import { loadKernelFile } from '../src/domains/kernel-loader.ts';
import { buildDomain } from '../src/domains/builder.ts';
import { Scheduler } from '../src/domains/scheduler.ts';
import { SHUTDOWN_poweroff } from '../src/domains/domain.ts';
import { IMAGES } from './helpers/images.ts';

describe('default guest to a shell', () => {
  it('boots to the busybox prompt, answers commands, powers off on `poweroff`', async () => {
    const cfg = loadDomainConfig(join(IMAGES, 'demo.cfg'));
    const kernel = loadKernelFile(cfg.kernel!);
    const release = /vmlinuz-(\S+)$/.exec(cfg.kernel!)![1]!;
    const t0 = process.hrtime.bigint();
    const built = buildDomain({
      id: 1,
      name: cfg.name,
      kernel,
      ramdisk: new Uint8Array(readFileSync(cfg.ramdisk!)),
      cmdline: cfg.cmdline,
      memoryMiB: cfg.memory,
      vcpus: cfg.vcpus,
      consoleOut: () => {},
      clockNs: () => Number(process.hrtime.bigint() - t0),
    });
    const d = built.domain;
    const cons = d.console!;
    let text = '';
    let stage = 0;
    const type = (s: string): void => cons.input(new TextEncoder().encode(s));
    cons.onOutput((bytes) => {
      text += new TextDecoder().decode(bytes);
      if (stage === 0 && text.includes('xenjs:/# ')) {
        stage = 1;
        type('uname -r; echo "sum=$((6*7)) cpus=$(grep -c ^processor /proc/cpuinfo)"\n');
      } else if (stage === 1 && /cpus=\d+/.test(text)) {
        stage = 2;
        type('poweroff\n');
      }
    });
    const sched = new Scheduler({ maxInsns: 6_000_000_000 });
    sched.add(d);
    await sched.run();
    const tail = text.slice(-3000);
    // The kernel's own lines, then our /init's marker with the real kernel release.
    expect(text).toMatch(/Run \/init as init process/);
    expect(text).toContain(`XENJS-BOOT-OK uptime=`);
    expect(text).toMatch(new RegExp(`XENJS-BOOT-OK uptime=[0-9.]+ kernel=${release.replace(/\./g, '\\.')}\\r?\\n`));
    // The typed command's answers.
    expect(text, tail).toMatch(new RegExp(`\\n${release.replace(/\./g, '\\.')}\\r?\\n`));
    expect(text, tail).toMatch(/sum=42 cpus=1/);
    // `poweroff` typed in the shell → SCHEDOP_shutdown(poweroff).
    expect(d.isShutdown).toBe(true);
    expect(d.shutdownReason).toBe(SHUTDOWN_poweroff);
    expect(text).not.toMatch(/Oops|BUG:|Kernel panic|WARNING: CPU/);
  }, 900_000);
});
