/**
 * The whole user story, as a user runs it: `xenjs boot images/demo.cfg` in a
 * real pseudo-terminal (util-linux `script`). Debian's unmodified cloud
 * kernel boots on xenjs to the initramfs's busybox shell on hvc0 (console
 * ring, event channels, xenstore, timers); the test types into the terminal
 * like a user: `uname -r` answers the Debian kernel's release, /proc/cpuinfo
 * describes the CPU xenjs offers, `poweroff` powers the domain off
 * (SCHEDOP_shutdown, reason poweroff) and xenjs exits with status 0, the
 * terminal restored. (Ctrl-] detaching is covered on the tiny guest in
 * attach.test.ts, where it is quick.)
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDomainConfig } from '../src/domains/domain-config.ts';
import { IMAGES, REPO } from './helpers/images.ts';

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

describe('default guest to a shell, through the xenjs command on a terminal', () => {
  let kill: (() => void) | undefined;
  afterAll(() => kill?.());

  it('boots to the busybox prompt, answers uname -r and /proc/cpuinfo, exits 0 on `poweroff`', async () => {
    const cfgPath = join(IMAGES, 'demo.cfg');
    const release = /vmlinuz-(\S+)$/.exec(loadDomainConfig(cfgPath).kernel!)![1]!;
    const cli = join(REPO, 'bin', 'xenjs.js');
    const command = `${shq(process.execPath)} ${shq(cli)} boot ${shq(cfgPath)}; echo "xenjs-rc=$?"; stty -a`;
    // bash runs the command (script uses $SHELL): see attach.test.ts.
    const p = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], { env: { ...process.env, TERM: 'dumb', SHELL: '/bin/bash' } });
    kill = () => {
      if (p.exitCode === null) p.kill('SIGKILL');
    };
    let out = '';
    let wake: (() => void) | undefined;
    const onData = (d: Buffer): void => {
      out += d.toString('latin1');
      wake?.();
    };
    p.stdout.on('data', onData);
    p.stderr.on('data', onData);
    const done = new Promise<number | null>((r) => p.on('close', (code) => r(code)));
    const type = (s: string): void => void p.stdin.write(s);
    const waitFor = async (re: RegExp, from: number, timeoutMs: number): Promise<number> => {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const m = re.exec(out.slice(from));
        if (m) return from + m.index + m[0].length;
        if (Date.now() > end || p.exitCode !== null) throw new Error(`terminal never showed ${re}; last output:\n${out.slice(-3000)}`);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 500);
        });
      }
    };

    const attached = await waitFor(/Connected to domain demo; escape character is \^\]/, 0, 60_000);
    const prompt = await waitFor(/xenjs:\/# /, attached, 600_000);
    // The kernel's own lines, then our /init's marker with the real kernel release.
    expect(out).toMatch(/Run \/init as init process/);
    expect(out).toMatch(new RegExp(`XENJS-BOOT-OK uptime=[0-9.]+ kernel=${release.replace(/\./g, '\\.')}\\r*\\n`));

    type('uname -r\n');
    const afterUname = await waitFor(new RegExp(`\\n${release.replace(/\./g, '\\.')}\\r*\\n[^]*xenjs:/# `), prompt, 120_000);
    type('cat /proc/cpuinfo; echo "cpus=$(grep -c ^processor /proc/cpuinfo) sum=$((6*7))"\n');
    const afterCpuinfo = await waitFor(/cpus=\d+ sum=42/, afterUname, 120_000);
    const cpuinfo = out.slice(afterUname, afterCpuinfo);
    expect(cpuinfo).toMatch(/vendor_id\s*: GenuineIntel/);
    expect(cpuinfo).toMatch(/model name\s*: \S/);
    expect(cpuinfo).toMatch(/flags\s*:.* sse2( |.*)hypervisor/);
    expect(cpuinfo).toMatch(/cpus=1 sum=42/);

    type('poweroff\n');
    expect(await done).toBe(0);
    expect(out.slice(afterCpuinfo)).toMatch(/xenjs-rc=0/);
    // The terminal is back in canonical mode with echo.
    const after = out.slice(out.lastIndexOf('xenjs-rc='));
    expect(after).toMatch(/(^|\s)icanon(\s|$)/m);
    expect(after).toMatch(/(^|\s)echo(\s|$)/m);
    expect(out).not.toMatch(/Oops|BUG:|Kernel panic|WARNING: CPU/);
  }, 900_000);
});
