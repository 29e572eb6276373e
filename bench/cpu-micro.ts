/**
 * CPU micro benchmarks: guest loops exercising one kind of instruction each
 * (ns per guest instruction, process CPU time), and busybox workloads in
 * MIPS, for the JIT (src/cpu/jit), the threaded form and the interpreter.
 *
 *   npx tsx bench/cpu-micro.ts                  everything (modes jit, interp)
 *   npx tsx bench/cpu-micro.ts alu md5          only the rows whose name contains a word
 *   BENCH_MODES=jit,threaded,interp npx tsx bench/cpu-micro.ts
 *   BENCH_SHELL=20000 BENCH_MD5_MB=16 npx tsx bench/cpu-micro.ts shell md5
 *
 * Micro rows: each loop runs once to warm up (blocks compiled), then again
 * for the measurement: steady-state ns per instruction. Busybox rows: one
 * fresh process each, CPU time including compilation (and V8's compiler
 * threads: process.cpuUsage counts every thread), so they show what a user
 * gets. CPU time is used because the machine may be shared and wall time
 * is noisy; rows still vary by 10-20 % between runs.
 *
 * The script re-runs itself under `node --import tsx/esm` (real ES
 * modules): the tsx CLI's CommonJS transform turns every imported constant
 * into a getter call, which slows handler-heavy code several-fold and
 * distorts the comparison.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));

if (!process.env.XENJS_BENCH_CHILD) {
  const r = spawnSync(process.execPath, ['--import', 'tsx/esm', fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    cwd: join(HERE, '..'),
    env: { ...process.env, XENJS_BENCH_CHILD: '1' },
  });
  process.exit(r.status ?? 1);
}

const { Cpu } = await import('../src/cpu/cpu.ts');
const { Exit } = await import('../src/cpu/state.ts');
const { PagedMemory } = await import('../src/mmu/paged-memory.ts');
const { compileConfig } = await import('../src/cpu/threaded.ts');
const { jitStats } = await import('../src/cpu/jit/compiler.ts');
const { assemble, CODE_ADDR, DATA_ADDR } = await import('../test/helpers/native.ts');
const { LinuxProcess } = await import('../src/linux-user/process.ts');
const { busyboxBinary } = await import('../test/helpers/images.ts');

type Mode = 'jit' | 'threaded' | 'interp';
const MODES = (process.env.BENCH_MODES ?? 'jit,interp').split(',') as Mode[];
const filters = process.argv.slice(2);
const want = (name: string): boolean => filters.length === 0 || filters.some((f) => name.includes(f));
const defaultThreshold = compileConfig.threshold;

function setMode(m: Mode): void {
  compileConfig.threshold = m === 'interp' ? -1 : defaultThreshold;
  compileConfig.jit = m === 'jit';
}

function cpuSeconds(f: () => void): number {
  const t0 = process.cpuUsage();
  f();
  const t = process.cpuUsage(t0);
  return (t.user + t.system) / 1e6;
}

interface Micro {
  name: string;
  body: string;
  setup?: string;
}

const MICROS: Micro[] = [
  { name: 'alu reg 64 (add/sub/xor/and)', body: 'add rax, rbx\nsub rcx, rdx\nxor rsi, rdi\nand r8, r9' },
  { name: 'alu reg 32 + imm', body: 'add eax, 7\nsub ecx, ebx\nor edx, 0x10\ncmp esi, 5' },
  { name: 'alu 8/16-bit', body: 'add al, bl\nsub cx, dx\nxor ah, ch\ninc si' },
  { name: 'mov reg/imm', body: 'mov rax, rbx\nmov ecx, 5\nmov rdx, 0x123456789\nmov esi, edi' },
  { name: 'load [base+disp]', body: 'mov rax, [rbp + 8]\nmov ecx, [rbp + 16]\nmovzx edx, byte ptr [rbp + 3]\nmov rsi, [rbp + rdi*8]', setup: 'xor edi, edi' },
  { name: 'store [base+disp]', body: 'mov [rbp + 8], rax\nmov [rbp + 16], ecx\nmov byte ptr [rbp + 3], dl\nmov [rbp + rdi*8 + 32], rsi', setup: 'xor edi, edi' },
  { name: 'read-modify-write', body: 'add [rbp + 8], rax\ninc dword ptr [rbp + 16]\nxor [rbp + 24], ecx\nsub qword ptr [rbp + 32], 1' },
  { name: 'push/pop', body: 'push rax\npush rbx\npop rcx\npop rdx' },
  { name: 'lea / shifts / imul', body: 'lea rax, [rbx + rcx*4 + 8]\nshl rdx, 3\nsar esi, 2\nimul rdi, r8, 13' },
  { name: 'flags: cmp+setcc/cmov/adc', body: 'cmp rax, rbx\nsetb cl\ncmovl rdx, rsi\nadc rdi, 0' },
  { name: 'call/ret', body: 'call 7f\njmp 8f\n7: ret\n8:' },
  { name: 'branchy (cmp/jcc blocks)', body: 'cmp eax, 3\nja 7f\ninc eax\n7: test ebx, ebx\njz 8f\nadd ecx, ebx\n8:', setup: 'xor eax, eax\nmov ebx, 1' },
  { name: 'handler fallback (bt/bsf/rol cl)', body: 'bt rax, 5\nbsf rcx, rbx\nrol rdx, cl\nbswap rsi', setup: 'mov ebx, 0x100' },
];

const UNROLL = 8;
const ITERS = Number(process.env.BENCH_ITERS ?? 300_000);

/** Steady-state ns per instruction of a micro loop. */
function runMicro(m: Micro, mode: Mode): number {
  const body = Array.from({ length: UNROLL }, () => m.body).join('\n');
  const asm = `${m.setup ?? ''}\nmov rbp, ${DATA_ADDR + 0x1000}\n6: mov r15d, ${ITERS}\n9:\n${body}\ndec r15d\njnz 9b\nint3\njmp 6b`;
  const [code] = assemble([asm]);
  const mem = new PagedMemory(1 << 22);
  mem.map(CODE_ADDR, 0x10000, 7);
  mem.map(DATA_ADDR, 0x10000, 3);
  mem.writeBytes(CODE_ADDR, code!);
  setMode(mode);
  const c = new Cpu(mem);
  c.cpl = 3;
  c.setRip(CODE_ADDR, 0);
  c.setReg64(4, DATA_ADDR + 0x8000, 0);
  const loop = (): void => {
    for (;;) {
      const x = c.run(1 << 22);
      if (x === Exit.Budget) continue;
      if (x === Exit.SoftwareInterrupt) break;
      throw new Error(`${m.name}: exit ${x} vector ${c.excVector} at 0x${c.ripLo.toString(16)}`);
    }
  };
  loop(); // warm up: compile
  const before = c.icount;
  const s = cpuSeconds(loop); // int3 is a trap: RIP is past it, at the jmp back
  return (s * 1e9) / (c.icount - before);
}

function busybox(mode: Mode, argv: string[], stdinPath?: string): { mips: number; s: number; insns: number } {
  setMode(mode);
  const out = openSync('/dev/null', 'w');
  const inp = openSync(stdinPath ?? '/dev/null', 'r');
  try {
    const p = new LinuxProcess({ path: busyboxBinary(), argv, stdio: [inp, out, 2], env: [] });
    let icount = 0;
    const s = cpuSeconds(() => {
      icount = p.run().icount;
    });
    return { mips: icount / s / 1e6, s, insns: icount };
  } finally {
    closeSync(out);
    closeSync(inp);
  }
}

const pad = (s: string, n: number): string => s.padEnd(n);
const num = (x: number, d = 1): string => x.toFixed(d).padStart(10);
const speedup = (r: Record<string, number>, lowerIsBetter: boolean): string =>
  r.jit && r.interp ? `  ${(lowerIsBetter ? r.interp / r.jit : r.jit / r.interp).toFixed(1)}x` : '';

const micros = MICROS.filter((m) => want(m.name));
if (micros.length) {
  console.log(`micro loops: steady-state ns per guest instruction (CPU time), ${ITERS} iterations × ${UNROLL} copies`);
  console.log(pad('', 36) + MODES.map((m) => m.padStart(10)).join('') + (MODES.includes('interp') && MODES.includes('jit') ? '  jit speedup' : ''));
  for (const m of micros) {
    const res: Record<string, number> = {};
    for (const mode of MODES) res[mode] = runMicro(m, mode);
    console.log(pad(m.name, 36) + MODES.map((mode) => num(res[mode]!, 2)).join('') + speedup(res, true));
  }
}

const workloads: Array<{ name: string; argv: () => string[]; stdin?: () => string }> = [];
const N = Number(process.env.BENCH_SHELL ?? 20000);
workloads.push({ name: `shell loop (busybox sh, ${N} iterations)`, argv: () => ['sh', '-c', `i=0; while [ $i -lt ${N} ]; do i=$((i+1)); done; echo $i`] });
const MB = Number(process.env.BENCH_MD5_MB ?? 8);
let work: string | undefined;
workloads.push({
  name: `md5sum (busybox, ${MB} MiB file)`,
  argv: () => {
    work ??= mkdtempSync(join(tmpdir(), 'xenjs-bench-'));
    const f = join(work, 'data.bin');
    const data = Buffer.alloc(MB << 20);
    let x = 1;
    for (let k = 0; k < data.length; k += 4) {
      x = (Math.imul(x, 1664525) + 1013904223) | 0;
      data.writeInt32LE(x, k);
    }
    writeFileSync(f, data);
    return ['md5sum', f];
  },
});
const wl = workloads.filter((w) => want(w.name));
if (wl.length) {
  console.log('\nbusybox: MIPS (CPU time of a fresh process, compilation included)');
  console.log(pad('', 36) + MODES.map((m) => m.padStart(10)).join('') + (MODES.includes('interp') && MODES.includes('jit') ? '  jit speedup' : ''));
  for (const w of wl) {
    const argv = w.argv();
    const res: Record<string, number> = {};
    for (const mode of MODES) res[mode] = busybox(mode, argv).mips;
    console.log(pad(w.name, 36) + MODES.map((mode) => num(res[mode]!)).join('') + speedup(res, false));
  }
  console.log(`jit: ${jitStats.regions} regions, ${jitStats.blocks} blocks, ${jitStats.templated}/${jitStats.insns} instructions templated`);
}
if (work) rmSync(work, { recursive: true, force: true });
