/**
 * `xenjs boot` on a terminal, as a user sees it: the command runs inside a
 * real pseudo-terminal (util-linux `script`), and the test types into it.
 * The guest is the tiny PV guest (test/helpers/tiny-guest.ts) in echo mode:
 * it copies every byte from its hvc0 input ring back to its output ring,
 * control characters as <XX>. After xenjs exits, `stty -a` runs in the same
 * terminal to show that it was restored (canonical mode and echo back on).
 *
 * Also `xenjs boot` without a terminal: stdin piped into the console, the
 * exit codes, --console-log.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { REPO } from './helpers/images.ts';
import { tinyGuest } from './helpers/tiny-guest.ts';

const cli = join(REPO, 'bin', 'xenjs.js');
const tmp = mkdtempSync(join(tmpdir(), 'xenjs-attach-'));
let cfgCount = 0;

/** A config file for the tiny guest (each its own path, so a test can find its own xenjs process). */
function tinyCfg(extra: string, more = ''): string {
  const f = join(tmp, `tiny${++cfgCount}.cfg`);
  writeFileSync(f, `name = "tiny"\nkernel = "${tinyGuest()}"\nmemory = 8\nextra = "${extra}"\n${more}`);
  return f;
}

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** A command running in a pseudo-terminal; `output` is everything the terminal showed. */
class Pty {
  readonly p: ChildProcessWithoutNullStreams;
  output = '';
  readonly done: Promise<number | null>;
  private wake: (() => void) | undefined;

  constructor(command: string) {
    // `script` runs the command with $SHELL. Pin bash: on Ctrl-C the whole foreground
    // process group gets SIGINT, and bash (unlike dash) waits for xenjs and carries on
    // when xenjs handles the signal, so the `echo`/`stty` after it still run.
    this.p = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], {
      env: { ...process.env, TERM: 'dumb', SHELL: '/bin/bash' },
    });
    this.p.stdout.on('data', (d: Buffer) => {
      this.output += d.toString('latin1');
      this.wake?.();
    });
    this.p.stderr.on('data', (d: Buffer) => {
      this.output += d.toString('latin1');
      this.wake?.();
    });
    this.done = new Promise((resolve) => this.p.on('close', (code) => resolve(code)));
  }

  type(s: string): void {
    this.p.stdin.write(Buffer.from(s, 'latin1'));
  }

  /** Wait until the terminal shows `re` (after offset `from`); returns the offset after the match. */
  async waitFor(re: RegExp, timeoutMs = 60_000, from = 0): Promise<number> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.output.slice(from));
      if (m) return from + m.index + m[0].length;
      if (Date.now() > end) throw new Error(`terminal never showed ${re}; it shows:\n${this.output}`);
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 200);
      });
    }
  }

  kill(): void {
    if (this.p.exitCode === null) this.p.kill('SIGKILL');
  }
}

const ptys: Pty[] = [];
function inPty(cfg: string): Pty {
  const t = new Pty(`${shq(process.execPath)} ${shq(cli)} boot ${shq(cfg)}; echo "xenjs-rc=$?"; stty -a`);
  ptys.push(t);
  return t;
}
afterEach(() => {
  for (const t of ptys.splice(0)) t.kill();
});

/** The terminal after xenjs: canonical mode and echo on again (stty -a prints "icanon", "echo", not "-icanon"). */
function expectSaneTerminal(out: string): void {
  const after = out.slice(out.lastIndexOf('xenjs-rc='));
  expect(after).toMatch(/speed \d+ baud/);
  expect(after).toMatch(/(^|\s)icanon(\s|$)/m);
  expect(after).toMatch(/(^|\s)echo(\s|$)/m);
  expect(after).toMatch(/(^|\s)isig(\s|$)/m);
}

/** The pid of the xenjs process booting `cfg` (found through /proc; it runs under script's shell). */
function xenjsPid(cfg: string): number {
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${e}/cmdline`, 'latin1').split('\0');
    } catch {
      continue;
    }
    if (argv.includes(cli) && argv.includes('boot') && argv.includes(cfg)) return Number(e);
  }
  throw new Error(`no xenjs process for ${cfg}`);
}

describe('xenjs boot on a terminal (attach like xl create -c)', () => {
  it('prints the escape hint, sends every key (Ctrl-C too) to the guest; Ctrl-] asks, y destroys; the terminal is restored', async () => {
    const t = inPty(tinyCfg('e'));
    await t.waitFor(/Connected to domain tiny; escape character is \^\]\r?\n/);
    const ready = await t.waitFor(/tiny: echo ready/);
    t.type('ab\x03\x1a');
    await t.waitFor(/ab<03><1a>/, 60_000, ready);
    t.type('\x1d');
    const asked = await t.waitFor(/Domain tiny is still running: destroy it\? \[y\/N\] /);
    t.type('y\n');
    expect(await t.done).toBe(0);
    expect(t.output.slice(asked)).toMatch(/xenjs: domain tiny destroyed/);
    expect(t.output).toMatch(/xenjs-rc=0/);
    // Ctrl-C was a key for the guest, not a signal for xenjs.
    expect(t.output).not.toMatch(/SIGINT/);
    expectSaneTerminal(t.output);
  }, 180_000);

  it('answering no leaves the domain running, detached; Ctrl-C is a signal again and destroys it', async () => {
    const t = inPty(tinyCfg('e'));
    await t.waitFor(/tiny: echo ready/);
    t.type('x\x1d');
    await t.waitFor(/destroy it\? \[y\/N\] /);
    t.type('n\n');
    const detached = await t.waitFor(/domain tiny keeps running here, detached, until it shuts down/);
    // Detached: typing no longer reaches the guest (the guest would echo Ctrl-A as <01>; the cooked terminal shows ^A).
    t.type('\x01');
    await new Promise((r) => setTimeout(r, 1000));
    expect(t.output.slice(detached)).not.toMatch(/<01>/);
    t.type('\x03');
    expect(await t.done).toBe(0);
    expect(t.output).toMatch(/xenjs: SIGINT: domain tiny destroyed/);
    expect(t.output).toMatch(/xenjs-rc=130/);
    expectSaneTerminal(t.output);
  }, 180_000);

  it('the guest powering off while attached ends xenjs with status 0 and a sane terminal', async () => {
    const t = inPty(tinyCfg('e'));
    await t.waitFor(/tiny: echo ready/);
    t.type('q');
    await t.waitFor(/tiny: bye/);
    expect(await t.done).toBe(0);
    expect(t.output).toMatch(/xenjs-rc=0/);
    expect(t.output).not.toMatch(/destroy it\?/);
    expectSaneTerminal(t.output);
  }, 180_000);

  it('SIGTERM while attached destroys the domain and restores the terminal (status 143)', async () => {
    const cfg = tinyCfg('e');
    const t = inPty(cfg);
    await t.waitFor(/tiny: echo ready/);
    process.kill(xenjsPid(cfg), 'SIGTERM');
    await t.done;
    expect(t.output).toMatch(/xenjs: SIGTERM: domain tiny destroyed/);
    expect(t.output).toMatch(/xenjs-rc=143/);
    expectSaneTerminal(t.output);
  }, 180_000);
});

describe('xenjs boot without a terminal', () => {
  const boot = (args: string[], input = ''): ReturnType<typeof spawnSync> =>
    spawnSync(process.execPath, [cli, 'boot', ...args], { input, encoding: 'latin1', timeout: 120_000 });

  it('pipes stdin into the console as-is and exits 0 when the guest powers off; --console-log has the whole stream', () => {
    const log = join(tmp, 'console.log');
    const r = boot(['--console-log', log, tinyCfg('e')], 'hello\x03\x1dq');
    expect(r.status).toBe(0);
    const out = String(r.stdout);
    expect(out).toBe('tiny: hello\ntiny: cmdline e\ntiny: echo ready\nhello<03><1d>qtiny: bye\n');
    expect(readFileSync(log, 'latin1')).toBe(out);
    expect(String(r.stderr)).toMatch(/guest shutdown: poweroff/);
  });

  it('a crash exits 1 with the last console lines; --max-insns exits 2', () => {
    const c = boot([tinyCfg('3')]);
    expect(c.status).toBe(1);
    expect(String(c.stderr)).toMatch(/xenjs: domain tiny crashed; last console lines:\ntiny: hello\ntiny: cmdline 3\ntiny: shutdown 3\ntiny: panic: oh no\n/);
    const s = boot(['--max-insns', '3000000', tinyCfg('s')]);
    expect(s.status).toBe(2);
    expect(String(s.stderr)).toMatch(/xenjs: domain tiny stopped after --max-insns 3000000 while still running/);
  });

  it('on_reboot=destroy ends it after a reboot; with restart it boots again in the same console until a signal', async () => {
    const r = boot([tinyCfg('1', 'on_reboot = "destroy"\n')]);
    expect(r.status).toBe(0);
    expect(String(r.stderr)).toMatch(/xenjs: domain tiny shut down \(reboot\)/);
    const p = spawn(process.execPath, [cli, 'boot', tinyCfg('1')]);
    let out = '';
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString('latin1')));
    const status = new Promise<number | null>((resolve) => p.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve) => {
      p.stdout.on('data', (d: Buffer) => {
        out += d.toString('latin1');
        if ((out.match(/tiny: hello/g) ?? []).length >= 3) resolve();
      });
    });
    p.kill('SIGTERM');
    expect(await status).toBe(143);
    expect(err).toMatch(/tiny restarting as domain 2/);
    expect(err).toMatch(/xenjs: SIGTERM: domain tiny destroyed/);
  }, 120_000);
});
