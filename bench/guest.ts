/**
 * Guest benchmarks for `npm run bench`: the default guest (images/demo.cfg —
 * Debian's cloud kernel + our busybox initramfs) booted on xenjs and, when
 * qemu-system-x86_64 is installed, the same kernel and initramfs booted on
 * QEMU (-accel tcg, console on the serial port), measured the same way:
 *
 *   boot       wall time from the start of the boot (xenjs: before createDomain
 *              loads the kernel; QEMU: before spawning it) to the console line
 *              `XENJS-BOOT-OK uptime=… kernel=…` printed by /init;
 *   sh-loop    `i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done` in the shell;
 *   dd-md5sum  `dd if=/dev/zero bs=1M count=64 | md5sum`.
 *
 * A workload is typed as one command line that prints a start marker with
 * the guest's /proc/uptime, runs the workload, and prints an end marker with
 * /proc/uptime again. The host timestamps each console chunk as it arrives
 * (xenjs: inside the scheduler, at most one 2 M-instruction slice late;
 * QEMU: when its stdout is read) and the figure is the host wall time
 * between the two markers. The guest's own clock (the /proc/uptime
 * difference) is printed beside it as a cross-check, and for xenjs the guest
 * instructions retired between the markers.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Xenjs, loadDomainConfig, type DomainHandle } from '../src/index.ts';

export const GUEST_ROWS = ['boot', 'sh-loop', 'dd-md5sum'] as const;
export type GuestRow = (typeof GUEST_ROWS)[number];

const LOOP_N = 200_000;
const DD_MIB = 64;
const WORKLOADS: Record<Exclude<GuestRow, 'boot'>, { what: string; cmd: string; check: (out: string) => string }> = {
  'sh-loop': {
    what: `shell loop: i=0; while [ $i -lt ${LOOP_N} ]; do i=$((i+1)); done`,
    cmd: `i=0; while [ $i -lt ${LOOP_N} ]; do i=$((i+1)); done; echo "i=$i"`,
    check: (out) => (new RegExp(`\\bi=${LOOP_N}\\b`).test(out) ? `i=${LOOP_N}` : `WRONG: no i=${LOOP_N} in output`),
  },
  'dd-md5sum': {
    what: `dd if=/dev/zero bs=1M count=${DD_MIB} | md5sum`,
    cmd: `dd if=/dev/zero bs=1M count=${DD_MIB} | md5sum`,
    check: (out) => {
      const want = createHash('md5').update(new Uint8Array(DD_MIB << 20)).digest('hex');
      const got = /\b([0-9a-f]{32})\b/.exec(out)?.[1];
      return got === want ? 'md5 ok' : `WRONG md5: ${got ?? 'none printed'} (want ${want})`;
    },
  },
};

/** Seconds to wait for the boot marker, and for one workload. */
const BOOT_TIMEOUT_S = Number(process.env.BENCH_BOOT_TIMEOUT ?? 1200);
const WORK_TIMEOUT_S = Number(process.env.BENCH_WORK_TIMEOUT ?? 1800);

/** One line of progress to stderr. */
function step(s: string): void {
  process.stderr.write(`[bench] ${s}\n`);
}

/** Where each run's whole console text is written. */
const LOGS = join(tmpdir(), 'xenjs-bench');

const now = (): number => Number(process.hrtime.bigint()) / 1e9;

/**
 * A console seen from the host, the same for xenjs and QEMU: text as it
 * arrives, each chunk timestamped on arrival, and waiters for patterns.
 */
class Console {
  text = '';
  private waiters: Array<{ re: RegExp; from: number; resolve: (m: Hit) => void }> = [];
  private closed: string | undefined;

  constructor(
    readonly send: (s: string) => void,
    /** Guest instructions so far, when the emulator can tell. */
    private readonly insns: () => number | undefined,
  ) {}

  /** New output: called as soon as the host has it. */
  data(s: string): void {
    const t = now();
    const insns = this.insns();
    const before = this.text.length;
    this.text += s;
    for (const w of [...this.waiters]) {
      // Markers are single lines: look back a little before the new chunk, not from the start.
      const start = Math.max(w.from, before - 512);
      const m = w.re.exec(this.text.slice(start));
      if (!m) continue;
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve({ t, insns, captures: m.slice(1), end: start + m.index + m[0].length });
    }
  }

  close(why: string): void {
    this.closed = why;
  }

  /** Wait for `re` at or after `from`; rejects after `timeoutS` seconds or when the guest has gone. */
  async wait(re: RegExp, from: number, timeoutS: number, label: string): Promise<Hit> {
    const m = re.exec(this.text.slice(from));
    if (m) return { t: now(), insns: this.insns(), captures: m.slice(1), end: from + m.index + m[0].length };
    return new Promise<Hit>((resolve, reject) => {
      const t0 = now();
      const w = { re, from, resolve: (h: Hit): void => (clearInterval(iv), resolve(h)) };
      this.waiters.push(w);
      let beat = 0;
      const iv = setInterval(() => {
        const el = now() - t0;
        if (this.closed !== undefined || el > timeoutS) {
          clearInterval(iv);
          this.waiters.splice(this.waiters.indexOf(w), 1);
          const why = this.closed ?? `timed out after ${timeoutS} s`;
          reject(new Error(`${why} waiting for ${label}; last console line: ${JSON.stringify(lastLine(this.text))}`));
        } else if (el >= 60 * (beat + 1)) {
          beat++;
          const n = this.insns();
          step(`  ... ${label}: ${el.toFixed(0)} s${n !== undefined ? `, ${(n / 1e9).toFixed(2)} G guest instructions so far` : ''}`);
        }
      }, 250);
    });
  }
}

interface Hit {
  /** Host time the chunk completing the match arrived (seconds). */
  t: number;
  insns: number | undefined;
  captures: (string | undefined)[];
  end: number;
}

const lastLine = (s: string): string => s.replace(/\r/g, '').trimEnd().split('\n').pop()?.slice(-160) ?? '';

/** One measured figure. */
export interface Figure {
  /** Host wall seconds. */
  wall?: number;
  /** Seconds by the guest's own clock (/proc/uptime). */
  guestClock?: number;
  insns?: number;
  check: string;
}

export type GuestFigures = Partial<Record<GuestRow, Figure>>;

/** A running guest, whichever emulator: its console, a start time, and how to stop it. */
interface Guest {
  console: Console;
  t0: number;
  /** Power off and wait (bounded), then make sure it is gone. */
  stop(): Promise<void>;
}

let markerSeq = 0;
/** The shell's prompt (PS1 '\\h:\\w# ' with hostname xenjs); kernel messages may follow it. */
const PROMPT = /xenjs:[^\r\n]*# /;

/** Boot, run the selected workloads, power off. Errors become the rows' check text. */
async function measure(label: string, start: () => Promise<Guest>, rows: readonly GuestRow[], logFile: string): Promise<GuestFigures> {
  const out: GuestFigures = {};
  let g: Guest | undefined;
  try {
    step(`${label}: booting`);
    g = await start();
    const c = g.console;
    const boot = await c.wait(/XENJS-BOOT-OK uptime=([0-9.]+) kernel=(\S+)\r?\n/, 0, BOOT_TIMEOUT_S, `${label} boot marker`);
    out.boot = {
      wall: boot.t - g.t0,
      guestClock: Number(boot.captures[0]),
      ...(boot.insns !== undefined && { insns: boot.insns }),
      check: `kernel ${boot.captures[1]}`,
    };
    step(`${label}: XENJS-BOOT-OK after ${out.boot.wall!.toFixed(1)} s${boot.insns !== undefined ? ` (${(boot.insns / 1e9).toFixed(2)} G guest instructions)` : ''}`);
    let mark = (await c.wait(PROMPT, boot.end, 300, `${label} shell prompt`)).end;
    for (const row of rows) {
      if (row === 'boot') continue;
      const w = WORKLOADS[row];
      const tag = `B${++markerSeq}`;
      step(`${label}: ${row}: ${w.what}`);
      // The echoed command line shows `$u`, not a number: only the guest's own output matches.
      c.send(`read u x </proc/uptime; echo "${tag}-START $u"; ${w.cmd}; read u x </proc/uptime; echo "${tag}-END $u"\n`);
      const s = await c.wait(new RegExp(`${tag}-START ([0-9.]+)\\r?\\n`), mark, 120, `${label} ${row} start marker`);
      const e = await c.wait(new RegExp(`${tag}-END ([0-9.]+)\\r?\\n`), s.end, WORK_TIMEOUT_S, `${label} ${row} end marker`);
      const f: Figure = {
        wall: e.t - s.t,
        guestClock: Number(e.captures[0]) - Number(s.captures[0]),
        check: w.check(c.text.slice(s.end, e.end)),
      };
      if (s.insns !== undefined && e.insns !== undefined) f.insns = e.insns - s.insns;
      out[row] = f;
      step(`${label}: ${row}: ${f.wall!.toFixed(2)} s (${f.check})`);
      mark = (await c.wait(PROMPT, e.end, 120, `${label} shell prompt`)).end;
    }
  } catch (err) {
    const msg = (err as Error).message.split('\n')[0]!;
    step(`${label}: ${msg}`);
    for (const row of rows) out[row] ??= { check: `not measured: ${msg}` };
  } finally {
    if (g) {
      step(`${label}: powering off`);
      await g.stop();
      writeFileSync(logFile, g.console.text);
    }
  }
  return out;
}

// ------------------------------------------------------------------ xenjs

function startXenjs(cfgPath: string, log: string[]): () => Promise<Guest> {
  return async () => {
    const xen = new Xenjs({ log: (l) => log.push(l) });
    let d: DomainHandle | undefined;
    const console = new Console(
      (s) => d?.console.write(s),
      () => d?.instructions,
    );
    const t0 = now();
    try {
      d = await xen.createDomain(cfgPath);
    } catch (e) {
      await xen.close();
      throw e;
    }
    step(`xenjs: kernel loaded and domain ${d.id} built in ${(now() - t0).toFixed(1)} s; running`);
    const decoder = new TextDecoder();
    d.console.onData((b) => console.data(decoder.decode(b, { stream: true })));
    // Anything already printed (nothing: the domain runs from the next turn on).
    if (d.console.length > 0) console.data(d.console.text());
    void d.waitForExit().then((x) => console.close(`the domain exited (${x.reason})`));
    return {
      console,
      t0,
      stop: async () => {
        if (d && !d.exit) {
          d.console.write('poweroff\n');
          const gone = await Promise.race([d.waitForExit().then(() => true), sleep(60_000).then(() => false)]);
          if (!gone) step('xenjs: no poweroff after 60 s: destroying the domain');
        }
        await xen.close();
      },
    };
  };
}

// ------------------------------------------------------------------ QEMU

export const QEMU = 'qemu-system-x86_64';

/** The QEMU version line, or why there is none. */
export function qemuVersion(): { version?: string; why?: string } {
  const r = spawnSync(QEMU, ['--version'], { encoding: 'utf8' });
  if (r.error) return { why: (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? `${QEMU} is not installed` : r.error.message };
  if (r.status !== 0) return { why: `${QEMU} --version exited ${r.status}` };
  return { version: r.stdout.split('\n')[0]!.trim() };
}

export function qemuArgs(kernel: string, ramdisk: string): string[] {
  return [
    '-accel', 'tcg', '-m', '256', '-smp', '1',
    '-nodefaults', '-display', 'none', '-serial', 'stdio', '-no-reboot',
    '-kernel', kernel, '-initrd', ramdisk, '-append', 'console=ttyS0',
  ];
}

function startQemu(kernel: string, ramdisk: string): () => Promise<Guest> {
  return async () => {
    const t0 = now();
    const q: ChildProcessWithoutNullStreams = spawn(QEMU, qemuArgs(kernel, ramdisk), { stdio: ['pipe', 'pipe', 'pipe'] });
    // Typed text: as the QEMU initramfs test does, end lines with CR (the serial tty maps it to NL).
    const console = new Console((s) => q.stdin.write(s.replace(/\n/g, '\r')), () => undefined);
    let stderr = '';
    q.stdout.on('data', (b: Buffer) => console.data(b.toString('latin1')));
    q.stderr.on('data', (b: Buffer) => (stderr += b.toString('latin1')));
    q.stdin.on('error', () => {});
    const exited = new Promise<void>((resolve) => {
      q.on('error', (e) => {
        console.close(`${QEMU} failed: ${e.message}`);
        resolve();
      });
      q.on('exit', (code, sig) => {
        console.close(`${QEMU} exited (${sig ?? code})${stderr.trim() ? `: ${lastLine(stderr)}` : ''}`);
        resolve();
      });
    });
    return {
      console,
      t0,
      stop: async () => {
        if (q.exitCode === null && q.signalCode === null) {
          q.stdin.write('poweroff\r');
          const gone = await Promise.race([exited.then(() => true), sleep(30_000).then(() => false)]);
          if (!gone) {
            step('qemu: no poweroff after 30 s: killing it');
            q.kill('SIGKILL');
            await exited;
          }
        }
      },
    };
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

// ------------------------------------------------------------------ the section

const median = (xs: number[]): number | undefined => {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Median of each number over runs; the check text of the last run (or the first failure). */
function combine(runs: GuestFigures[], row: GuestRow): Figure | undefined {
  const fs = runs.map((r) => r[row]).filter((f): f is Figure => f !== undefined);
  if (fs.length === 0) return undefined;
  const ok = fs.filter((f) => f.wall !== undefined);
  const pick = (k: 'wall' | 'guestClock' | 'insns'): number | undefined => median(ok.map((f) => f[k]).filter((x): x is number => x !== undefined));
  const bad = fs.find((f) => f.wall === undefined || /WRONG/.test(f.check));
  return {
    wall: pick('wall'),
    guestClock: pick('guestClock'),
    insns: pick('insns'),
    check: (bad ?? fs[fs.length - 1]!).check + (ok.length < fs.length ? ` (${ok.length}/${fs.length} runs measured)` : ''),
  };
}

/** The guest section: prints its own header, table and notes through `say`. */
export async function guestBench(rows: readonly GuestRow[], say: (s: string) => void): Promise<void> {
  const runs = Math.max(1, Number(process.env.BENCH_GUEST_RUNS ?? 1) | 0);
  const cfgPath = join(dirname(fileURLToPath(import.meta.url)), '..', 'images', 'demo.cfg');
  say('');
  if (!existsSync(cfgPath)) {
    say(`guest: not run: ${cfgPath} does not exist (build the default guest with \`npm run images\`)`);
    return;
  }
  const cfg = loadDomainConfig(cfgPath);
  mkdirSync(LOGS, { recursive: true });
  const kernel = cfg.kernel!;
  const ramdisk = cfg.ramdisk!;
  const qv = process.env.BENCH_QEMU === '0' ? { why: 'BENCH_QEMU=0' } : qemuVersion();
  say(`guest: images/demo.cfg (${kernel.split('/').pop()} + ${ramdisk.split('/').pop()}), ${runs} run(s), median; time between console markers, host wall clock`);
  say(qv.version
    ? `  QEMU: ${qv.version}: ${QEMU} ${qemuArgs('<the same vmlinuz>', '<the same initramfs>').join(' ')}`
    : `  QEMU: not run (${qv.why}): xenjs figures only`);

  const xlog: string[] = [];
  const xen: GuestFigures[] = [];
  const qemu: GuestFigures[] = [];
  for (let k = 0; k < runs; k++) {
    const tag = runs > 1 ? ` (run ${k + 1}/${runs})` : '';
    xen.push(await measure(`xenjs${tag}`, startXenjs(cfgPath, xlog), rows, join(LOGS, `guest-xenjs-${k + 1}.console`)));
    if (qv.version) qemu.push(await measure(`qemu${tag}`, startQemu(kernel, ramdisk), rows, join(LOGS, `guest-qemu-${k + 1}.console`)));
  }

  const fmt = (n: number | undefined, d: number): string => (n === undefined || !isFinite(n) ? '-' : n.toFixed(d));
  const head = ['figure', 'xenjs (s)', 'guest clock', 'guest insns', 'MIPS', ...(qv.version ? ['QEMU tcg (s)', 'guest clock', 'xenjs/QEMU'] : []), 'check'];
  const body = rows.map((row) => {
    const x = combine(xen, row);
    const q = qv.version ? combine(qemu, row) : undefined;
    const checks = x && q && x.check === q.check ? `${x.check} (both)` : [x ? `xenjs: ${x.check}` : '', q ? `qemu: ${q.check}` : ''].filter(Boolean).join('; ');
    return [
      row,
      fmt(x?.wall, 2),
      fmt(x?.guestClock, 2),
      x?.insns !== undefined ? Math.round(x.insns).toLocaleString('en-US') : '-',
      x?.insns !== undefined && x.wall ? fmt(x.insns / x.wall / 1e6, 1) : '-',
      ...(qv.version ? [fmt(q?.wall, 2), fmt(q?.guestClock, 2), x?.wall !== undefined && q?.wall ? `${fmt(x.wall / q.wall, 1)}x` : '-'] : []),
      checks,
    ];
  });
  const widths = head.map((h, k) => Math.max(h.length, ...body.map((r) => r[k]!.length)));
  const line = (cells: string[]): string => cells.map((c, k) => (k === 0 || k === cells.length - 1 ? c.padEnd(widths[k]!) : c.padStart(widths[k]!))).join('  ');
  say('');
  say(line(head));
  say(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of body) say(line(r));
  say('');
  const whats: Record<GuestRow, string> = {
    boot: 'start of the boot (xenjs: kernel load + domain build; QEMU: spawn) to /init\'s XENJS-BOOT-OK line; guest clock = its uptime= (from the kernel\'s clock start)',
    'sh-loop': WORKLOADS['sh-loop'].what,
    'dd-md5sum': WORKLOADS['dd-md5sum'].what,
  };
  for (const row of rows) say(`  ${row.padEnd(9)} ${whats[row]}`);
  if (rows.some((r) => r !== 'boot')) say('  guest clock: /proc/uptime difference printed by the guest around the workload; guest insns: retired by xenjs');
  say(`  consoles: ${join(LOGS, 'guest-{xenjs,qemu}-N.console')}`);
  const errs = xlog.filter((l) => /error|unknown|unhandled|unimplemented/i.test(l));
  if (errs.length > 0) say(`  xenjs log: ${errs.length} error-like line(s), last: ${errs[errs.length - 1]}`);
}
