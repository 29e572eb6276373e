/**
 * `npm run bench`, two sections.
 *
 * cpu: programs run through the run-elf machinery in this process
 * (LinuxProcess: loader, CPU, syscall layer), each several times. For every
 * program: guest instructions retired, median wall time, MIPS, the same
 * program's median wall time run natively, and the slowdown.
 *
 * guest (bench/guest.ts): the default guest (images/demo.cfg) booted on
 * xenjs: time to the XENJS-BOOT-OK marker, then a 200,000-iteration shell
 * loop and `dd … | md5sum` timed inside it; the same on QEMU (-accel tcg)
 * when it is installed, with the xenjs/QEMU ratios.
 *
 * Benchmarks never fail: problems are printed in the tables.
 *
 *   npm run bench                      everything: cpu rows 5 runs each, guest rows once
 *   npm run bench -- cpu               only the cpu section (or `guest`: only the guest section)
 *   npm run bench -- tight md5sum      only the named rows (cpu: tight mix sieve md5sum gzip;
 *                                      guest: boot sh-loop dd-md5sum)
 *   BENCH_RUNS=3                       cpu runs per program (a first run over 15 s cuts it to 3)
 *   BENCH_GUEST_RUNS=3                 guest boots per emulator (default 1; figures are medians)
 *   BENCH_QEMU=0                       do not run QEMU even when installed
 *   BENCH_BOOT_TIMEOUT / BENCH_WORK_TIMEOUT   seconds to wait for the boot marker / one
 *                                      workload (default 1200 / 1800)
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LinuxProcess } from '../src/linux-user/process.ts';
import { GUEST_ROWS, guestBench, type GuestRow } from './guest.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, '..');
const WORK = join(tmpdir(), 'xenjs-bench');
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 5) | 0);
/** A first run longer than this (seconds) cuts the runs to three. */
const LONG = 15;

interface Bench {
  name: string;
  what: string;
  /** Program and arguments (argv[0] is the program path). */
  argv: () => string[];
  /** File to connect to stdin (default /dev/null). */
  stdin?: () => string;
}

function say(s: string): void {
  process.stdout.write(s + '\n');
}

/** A line of progress on stderr (the figures go to stdout). */
function progress(s: string): void {
  process.stderr.write(`[bench] ${s}\n`);
}

/** Build bench/loop.c once (cached by source mtime). */
function loopBinary(): string {
  const src = join(HERE, 'loop.c');
  const out = join(WORK, 'loop');
  if (existsSync(out) && statSync(out).mtimeMs > statSync(src).mtimeMs) return out;
  const r = spawnSync('gcc', ['-O2', '-static', '-o', out, src], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`gcc -O2 -static bench/loop.c failed: ${(r.stderr || r.error?.message || '').trim().split('\n')[0]}`);
  return out;
}

let busybox: string | undefined;
async function busyboxPath(): Promise<string> {
  if (busybox) return busybox;
  const cached = join(REPO, 'images/cache/busybox-static/bin/busybox');
  if (existsSync(cached)) return (busybox = cached);
  const { busyboxBinary } = await import('../test/helpers/images.ts');
  return (busybox = busyboxBinary());
}

/** Deterministic data: `size` bytes of text-like, compressible content (xorshift-driven). */
function dataFile(name: string, size: number, text: boolean): string {
  const p = join(WORK, name);
  if (existsSync(p) && statSync(p).size === size) return p;
  const b = new Uint8Array(size);
  let s = 0x12345678;
  const words = ['the ', 'quick ', 'brown ', 'fox ', 'jumps ', 'over ', 'lazy ', 'dog ', 'xenjs ', 'cpu ', '\n', 'emulator ', '0123 ', 'zz '];
  let k = 0;
  while (k < size) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    if (text) {
      const w = words[(s >>> 0) % words.length]!;
      for (let j = 0; j < w.length && k < size; j++) b[k++] = w.charCodeAt(j);
    } else b[k++] = s & 0xff;
  }
  writeFileSync(p, b);
  return p;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

interface Row {
  name: string;
  what: string;
  icount?: number;
  wall?: number;
  native?: number;
  runs?: number;
  note: string;
}

function runGuest(argv: string[], stdinPath: string, outPath: string): { icount: number; wall: number; status: number; report?: string } {
  const fin = openSync(stdinPath, 'r');
  const fout = openSync(outPath, 'w');
  try {
    const t0 = process.hrtime.bigint();
    let report: string | undefined;
    const p = new LinuxProcess({ path: argv[0]!, argv, stdio: [fin, fout, fout], log: (l) => (report = l) });
    const r = p.run();
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    return { icount: r.icount, wall, status: r.status, report };
  } finally {
    closeSync(fin);
    closeSync(fout);
  }
}

function runNative(argv: string[], stdinPath: string, outPath: string): { wall: number; status: number } {
  const fin = openSync(stdinPath, 'r');
  const fout = openSync(outPath, 'w');
  try {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(argv[0]!, argv.slice(1), { stdio: [fin, fout, fout] });
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    return { wall, status: r.status ?? 128 };
  } finally {
    closeSync(fin);
    closeSync(fout);
  }
}

const CPU_ROWS = ['tight', 'mix', 'sieve', 'md5sum', 'gzip'];

async function main(): Promise<void> {
  mkdirSync(WORK, { recursive: true });
  // Arguments: section names (cpu, guest) and row names; none means everything.
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => a !== 'cpu' && a !== 'guest' && !CPU_ROWS.includes(a) && !(GUEST_ROWS as readonly string[]).includes(a));
  if (unknown.length > 0) {
    say(`bench: unknown section or row ${unknown.map((a) => JSON.stringify(a)).join(', ')}; sections: cpu guest; rows: ${[...CPU_ROWS, ...GUEST_ROWS].join(' ')}`);
    process.exitCode = 2;
    return;
  }
  const all = args.length === 0;
  const load = (): string => os.loadavg().map((x) => x.toFixed(2)).join(' ');
  say(`xenjs bench: node ${process.version}, ${os.cpus().length} host CPU(s), ${os.cpus()[0]?.model.trim() ?? 'unknown model'}; load average ${load()}`);
  const cpuOnly = CPU_ROWS.filter((r) => all || args.includes('cpu') || args.includes(r));
  const guestRows: GuestRow[] = GUEST_ROWS.filter((r) => all || args.includes('guest') || args.includes(r));
  if (cpuOnly.length > 0) await cpuBench(cpuOnly);
  if (guestRows.length > 0) await guestBench(guestRows, say);
  say(`\nload average at the end: ${load()} (other work on the host slows every figure)`);
}

async function cpuBench(only: string[]): Promise<void> {
  const benches: Bench[] = [
    { name: 'tight', what: 'loop.c: 3-instruction counting loop, 20M iterations', argv: () => [loopBinary(), 'tight', '20000000'] },
    { name: 'mix', what: 'loop.c: LCG, shifts, xor, branch; 5M iterations', argv: () => [loopBinary(), 'mix', '5000000'] },
    { name: 'sieve', what: 'loop.c: sieve of Eratosthenes over 4M bytes', argv: () => [loopBinary(), 'sieve', '4000000'] },
    {
      name: 'md5sum',
      what: 'busybox md5sum of a 16 MiB file',
      argv: () => [busybox!, 'md5sum', dataFile('random-16M.bin', 16 << 20, false)],
    },
    {
      name: 'gzip',
      what: 'busybox gzip -c of a fixed 4 MiB text buffer',
      argv: () => [busybox!, 'gzip', '-c'],
      stdin: () => dataFile('text-4M.txt', 4 << 20, true),
    },
  ].filter((b) => only.includes(b.name));

  say(`cpu: ${RUNS} run(s) each, median wall time; work dir ${WORK}`);
  try {
    await busyboxPath();
  } catch (e) {
    say(`(busybox unavailable: ${(e as Error).message.split('\n')[0]})`);
  }
  const rows: Row[] = [];
  for (const b of benches) {
    const row: Row = { name: b.name, what: b.what, note: '' };
    rows.push(row);
    try {
      if ((b.name === 'md5sum' || b.name === 'gzip') && !busybox) throw new Error('no busybox');
      const argv = b.argv();
      const stdinPath = b.stdin ? b.stdin() : '/dev/null';
      const guestOut = join(WORK, `${b.name}.guest.out`);
      const nativeOut = join(WORK, `${b.name}.native.out`);
      const walls: number[] = [];
      let icount = 0;
      let runs = RUNS;
      progress(`${b.name}: ${b.what}`);
      for (let k = 0; k < RUNS; k++) {
        const r = runGuest(argv, stdinPath, guestOut);
        walls.push(r.wall);
        icount = r.icount;
        if (r.status !== 0) {
          row.note = `guest exit ${r.status}: ${(r.report ?? readFileSync(guestOut, 'utf8').trim().split('\n').pop() ?? '').slice(0, 120)}`;
          break;
        }
        progress(`${b.name}: run ${k + 1}/${runs} ${r.wall.toFixed(3)} s`);
        // Long programs: three runs are enough for a median.
        if (k === 0 && r.wall > LONG && RUNS > 3) runs = 3;
        if (k + 1 >= runs) break;
      }
      progress(`${b.name}: native runs`);
      row.icount = icount;
      row.wall = median(walls);
      const nwalls: number[] = [];
      for (let k = 0; k < RUNS; k++) nwalls.push(runNative(argv, stdinPath, nativeOut).wall);
      row.runs = walls.length;
      row.native = median(nwalls);
      if (!row.note) {
        const same = readFileSync(guestOut).equals(readFileSync(nativeOut));
        row.note = same ? 'output = native' : 'OUTPUT DIFFERS from native';
      }
    } catch (e) {
      row.note = `not run: ${(e as Error).message.split('\n')[0]}`;
    }
  }

  const fmt = (n: number | undefined, d: number): string => (n === undefined || !isFinite(n) ? '-' : n.toFixed(d));
  const head = ['program', 'guest insns', 'runs', 'wall (s)', 'MIPS', 'native (s)', 'slowdown', 'check'];
  const body = rows.map((r) => [
    r.name,
    r.icount !== undefined ? r.icount.toLocaleString('en-US') : '-',
    r.runs !== undefined ? String(r.runs) : '-',
    fmt(r.wall, 3),
    r.icount !== undefined && r.wall ? fmt(r.icount / r.wall / 1e6, 1) : '-',
    fmt(r.native, 4),
    r.wall !== undefined && r.native ? `${fmt(r.wall / r.native, 0)}x` : '-',
    r.note,
  ]);
  const widths = head.map((h, k) => Math.max(h.length, ...body.map((row) => row[k]!.length)));
  const line = (cells: string[]): string => cells.map((c, k) => (k === 0 || k === cells.length - 1 ? c.padEnd(widths[k]!) : c.padStart(widths[k]!))).join('  ');
  say('');
  say(line(head));
  say(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of body) say(line(r));
  say('');
  for (const r of rows) say(`  ${r.name.padEnd(8)} ${r.what}`);
  const tight = rows.find((r) => r.name === 'tight');
  if (tight?.icount && tight.wall) say(`\ntight-loop speed: ${(tight.icount / tight.wall / 1e6).toFixed(1)} MIPS`);
}

main().catch((e) => {
  say(`bench: internal error: ${(e as Error).stack ?? e}`);
});
