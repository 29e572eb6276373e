/**
 * The block compiler (src/cpu/jit/) against the host CPU and against the
 * interpreter, with every block compiled before its first execution:
 *
 * - the differential vectors of cpu-diff.test.ts (a sweep of every integer
 *   table form over edge values) and cpu-random.test.ts (random 1-3
 *   instruction sequences) run natively and through the JIT, compared as
 *   those suites compare them;
 * - the same random vectors concatenated into long blocks (flags flowing
 *   across many instructions, faults in the middle of blocks) run through
 *   the JIT and the interpreter, which must agree exactly (all flags,
 *   undefined ones included);
 * - targeted tests: dead-flag elimination (flags read after the block,
 *   mid-block by adc/jcc/setcc/pushf/lahf, at a fault), faults in the middle
 *   of a block, self-modifying code, block chaining;
 * - busybox (a shell loop, md5sum) with identical output compiled and interpreted.
 *
 * Seed: XENJS_SEED (replay), else the time; XENJS_VECTORS changes the count.
 */
// vector-gen must be imported before anything that loads the CPU.
import {
  allForms, edgeData, edgeState, generateForm, generateVectors, KNOWN_BUGS, knownBug, RANDOM_SPECS, specMods, specSizes, TESTED_SPECS,
  toleratedDifference, vectorDiffOptions, type Vector,
} from './helpers/vector-gen.ts';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assemble, CODE_ADDR, CODE_SIZE, DATA_ADDR, DATA_SIZE, diffOutcomes, disassemble, hex64, hexBytes, loadCpu, nativeAvailable, REG_NAMES, runEmulated, runNative,
  saveCpu, zeroState, type MachineState, type Outcome,
} from './helpers/native.ts';
import { Cpu } from '../src/cpu/cpu.ts';
import { compileBlock, compileConfig } from '../src/cpu/threaded.ts';
import { generate, jitStats, regionConfig } from '../src/cpu/jit/compiler.ts';

const defaultMinHits = regionConfig.minHits;
import { cfL, COND_L, lazyArith, imul64, mulOut } from '../src/cpu/jit/runtime.ts';
import { lazyFlags } from '../src/cpu/flags.ts';
import { cond } from '../src/cpu/cond.ts';
import { Exit } from '../src/cpu/state.ts';
import { PagedMemory } from '../src/mmu/paged-memory.ts';
import { decodeBlock } from '../src/cpu/decoder.ts';
import { LinuxProcess } from '../src/linux-user/process.ts';
import { busyboxBinary } from './helpers/images.ts';

const SEED = process.env.XENJS_SEED ? Number(process.env.XENJS_SEED) >>> 0 : (Date.now() ^ (process.pid << 12)) >>> 0;
const COUNT = Number(process.env.XENJS_VECTORS ?? 12000);

// ------------------------------------------------------------------ compile every block before it runs

/**
 * Cpu.run compiles a block when its execution count reaches the threshold
 * and uses the compiled form from the next execution on; to run every
 * block compiled from its first execution, compile it as soon as the Cpu
 * looks it up (a test-only hook around the private Cpu.block).
 */
const proto = Cpu.prototype as unknown as { block: (this: Cpu) => { fn: unknown; cacheable: boolean } };
const origBlock = proto.block;
let compileFirst = false;
/** The memory runEmulated uses (seen through the Cpu), to clear its code area between runs. */
let emuMem: PagedMemory | undefined;
let inEmulate = false;
proto.block = function (this: Cpu) {
  if (inEmulate && this.mmu instanceof PagedMemory) emuMem = this.mmu;
  const b = origBlock.call(this);
  if (compileFirst && b.fn === null && b.cacheable) b.fn = compileBlock(b as never);
  return b;
};

/**
 * jit: every block compiled before its first execution (each a region of
 * its own: nothing is linked yet); region: blocks compiled on their third
 * execution, with the hot blocks linked to them (multi-block regions);
 * interp: the interpreter.
 */
type Mode = 'jit' | 'region' | 'interp';
function setMode(m: Mode): void {
  compileFirst = m === 'jit';
  compileConfig.threshold = m === 'jit' ? 1 : m === 'region' ? 3 : -1;
  regionConfig.minHits = m === 'region' ? 1 : defaultMinHits;
  compileConfig.jit = true;
  compileConfig.strict = true;
}
function emulate(m: Mode, code: Uint8Array, init: MachineState, max?: number): Outcome {
  setMode(m);
  // Stores into the code area (mapped RWX, outside the data area) would leak into the next run.
  if (emuMem) emuMem.writeBytes(CODE_ADDR, new Uint8Array(CODE_SIZE));
  inEmulate = true;
  try {
    return runEmulated(code, init, max);
  } finally {
    inEmulate = false;
    setMode('jit');
  }
}

const defaultThreshold = compileConfig.threshold;
afterAll(() => {
  regionConfig.minHits = defaultMinHits;
  proto.block = origBlock;
  compileFirst = false;
  compileConfig.threshold = defaultThreshold;
  compileConfig.strict = false;
});

function describeVector(v: { code: Uint8Array; init: MachineState }, diff: string[], what = ''): string {
  return [
    `${what}[${hexBytes(v.code)}]`,
    ...disassemble(v.code).split('\n').filter(Boolean).slice(0, 40).map((l) => `    ${l}`),
    `  init: ${v.init.gpr.map((g, k) => `${REG_NAMES[k]}=${hex64(g)}`).join(' ')} rflags=0x${v.init.rflags.toString(16)}`,
    ...diff.slice(0, 12).map((l) => `  ${l}`),
  ].join('\n');
}

/** Exact comparison of two emulated outcomes (every flag, undefined ones included). */
function sameOutcome(a: Outcome, b: Outcome): string[] {
  return diffOutcomes(a, b, { fx: true, fxAllRegs: true });
}

// ------------------------------------------------------------------ the runtime helpers agree with flags.ts

describe('jit runtime helpers', () => {
  it('lazy flags, CF and conditions of a record in locals agree with flags.ts / cond.ts', () => {
    const mem = new PagedMemory(1 << 16);
    const c = new Cpu(mem);
    const rng = mkRng(SEED);
    const pick = (): number => {
      const r = rng();
      if (r < 0.3) return [0, 1, -1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, -0x80000000][Math.floor(rng() * 11)]!;
      return (rng() * 0x100000000) | 0;
    };
    const bad: string[] = [];
    for (let n = 0; n < 20000; n++) {
      const fam = Math.floor(rng() * 12), size = Math.floor(rng() * 4);
      c.flags = 0x202 | (Math.floor(rng() * 0x1000) & 0x8d5);
      const m = size === 0 ? 0xff : size === 1 ? 0xffff : -1;
      c.lf[0] = (fam << 2) | size;
      for (let k = 1; k < 7; k++) c.lf[k] = size === 3 || k % 2 === 1 ? pick() & m : 0;
      c.lf[7] = rng() < 0.5 ? 1 : 0;
      const f = [...c.lf] as [number, number, number, number, number, number, number, number];
      if (fam === 0) f[0] = c.lf[0] = 0; // family EFLAGS: the flags are in c.flags
      let ok = (fam === 0 || lazyArith(c.lf) === lazyFlags(c.lf)) && cfL(c, ...f) === (c.getCF() ? 1 : 0);
      for (let cc = 0; cc < 16; cc++) ok &&= COND_L[cc]!(c, ...f) === cond(c, cc);
      if (!ok && bad.length < 10) bad.push(`lf = [${[...c.lf].join(', ')}]`);
    }
    expect(bad).toEqual([]);
  });

  it('imul64 gives the low 128-bit product and overflow', () => {
    const rng = mkRng(SEED ^ 0x1234);
    const M = (1n << 64n) - 1n;
    for (let n = 0; n < 5000; n++) {
      const a = BigInt.asIntN(64, (BigInt((rng() * 2 ** 32) >>> 0) << 32n) | BigInt((rng() * 2 ** 32) >>> 0)) >> BigInt(Math.floor(rng() * 64));
      const b = BigInt.asIntN(64, (BigInt((rng() * 2 ** 32) >>> 0) << 32n) | BigInt((rng() * 2 ** 32) >>> 0)) >> BigInt(Math.floor(rng() * 64));
      const p = a * b;
      const lo = imul64(Number(a & 0xffffffffn) | 0, Number((a >> 32n) & 0xffffffffn) | 0, Number(b & 0xffffffffn) | 0, Number((b >> 32n) & 0xffffffffn) | 0);
      const got = ((BigInt(mulOut.hi >>> 0) << 32n) | BigInt(lo >>> 0)) & M;
      expect(got).toBe(p & M);
      expect(mulOut.ov).toBe(BigInt.asIntN(64, p) === p ? 0 : 1);
    }
  });
});

function mkRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ------------------------------------------------------------------ differential: host vs JIT

const SWEEP: Vector[] = [];
{
  const data = [edgeData(0), edgeData(5), edgeData(11), edgeData(17)];
  let index = 0;
  for (const s of TESTED_SPECS) {
    for (const size of specSizes(s)) {
      for (const mem of specMods(s)) {
        for (let k = 0; k < 4; k++) {
          const d = data[k % data.length]!;
          SWEEP.push(generateForm(0x5eed, index++, d, s, size, mem, edgeState(k + index, d)));
        }
      }
    }
  }
}

function hostVsJit(vs: Vector[]): { failures: string[]; failCount: number; known: Map<string, number> } {
  const nat = runNative(vs);
  const failures: string[] = [];
  let failCount = 0;
  const known = new Map<string, number>();
  vs.forEach((v, k) => {
    const n = nat[k]!;
    const e = emulate('jit', v.code, v.init);
    const diff = diffOutcomes(n, e, vectorDiffOptions(v));
    if (diff.length === 0 || toleratedDifference(v.code, n, e)) return;
    const bug = knownBug(v.code, n, e, diff);
    if (bug) {
      known.set(bug, (known.get(bug) ?? 0) + 1);
      return;
    }
    failCount++;
    if (failures.length < 10) failures.push(describeVector(v, diff, `seed ${v.seed} #${v.index} ${v.desc}: `));
  });
  return { failures, failCount, known };
}

describe.skipIf(!nativeAvailable)('JIT against the host CPU', () => {
  it(`sweep of every integer table form (${SWEEP.length} vectors)`, () => {
    const { failures, failCount, known } = hostVsJit(SWEEP);
    if (known.size) console.log('known bugs:', [...known].map(([id, n]) => `${id} ×${n}: ${KNOWN_BUGS[id]}`).join('\n'));
    expect(failCount, `${failCount} differ:\n\n${failures.join('\n\n')}`).toBe(0);
  });

  it(`${COUNT} random vectors, seed ${SEED}`, () => {
    const forms = new Set<string>();
    let failCount = 0;
    const failures: string[] = [];
    for (let start = 0; start < COUNT; start += 2560) {
      const vs = generateVectors(SEED, Math.min(COUNT, start + 2560), RANDOM_SPECS, start);
      for (const v of vs) for (const f of v.forms) forms.add(f);
      const r = hostVsJit(vs);
      failCount += r.failCount;
      failures.push(...r.failures);
    }
    console.log(`seed ${SEED}: ${COUNT} vectors through the JIT, ${forms.size}/${allForms(RANDOM_SPECS).length} forms drawn`);
    expect(failCount, `${failCount} differ (replay: XENJS_SEED=${SEED} npx vitest run test/jit.test.ts):\n\n${failures.slice(0, 10).join('\n\n')}`).toBe(0);
  });
});

// ------------------------------------------------------------------ differential: interpreter vs JIT

describe('JIT against the interpreter', () => {
  it('the sweep and random vectors give exactly the interpreter\'s results', () => {
    const vs = [...SWEEP, ...generateVectors(SEED ^ 0x77, 4000)];
    const failures: string[] = [];
    for (const v of vs) {
      const a = emulate('interp', v.code, v.init);
      const b = emulate('jit', v.code, v.init);
      const d = sameOutcome(a, b);
      if (d.length && failures.length < 10) failures.push(describeVector(v, d, `#${v.index} ${v.desc}: `));
    }
    expect(failures, failures.join('\n\n')).toEqual([]);
  });

  it('long blocks of random instructions (flags across instructions, faults mid-block)', () => {
    const pool = generateVectors(SEED ^ 0x99, 6000);
    const rng = mkRng(SEED ^ 0x4242);
    const failures: string[] = [];
    let faults = 0;
    for (let n = 0; n < 1500; n++) {
      const k = 3 + Math.floor(rng() * 14);
      const parts: Vector[] = [];
      for (let j = 0; j < k; j++) parts.push(pool[Math.floor(rng() * pool.length)]!);
      const code = new Uint8Array(parts.reduce((s, p) => s + p.code.length, 0));
      let o = 0;
      for (const p of parts) {
        code.set(p.code, o);
        o += p.code.length;
      }
      const init = parts[0]!.init;
      const a = emulate('interp', code, init);
      const b = emulate('jit', code, init);
      if (a.kind === 'fault') faults++;
      const d = sameOutcome(a, b);
      if (d.length && failures.length < 10) failures.push(describeVector({ code, init }, d, `${parts.map((p) => p.desc).join('; ')}: `));
    }
    console.log(`long blocks: 1500 sequences, ${faults} fault part-way`);
    expect(failures, failures.join('\n\n')).toEqual([]);
  });
});

// ------------------------------------------------------------------ targeted tests

const M64 = (1n << 64n) - 1n;
function st(regs: Partial<Record<string, bigint | number>> = {}, flags = 0): MachineState {
  const s = zeroState(new Uint8Array(DATA_SIZE));
  for (let k = 0; k < 16; k++) s.gpr[k] = (0x8877665544332211n + BigInt(k) * 0x0101010101010101n) & M64;
  s.gpr[4] = BigInt(DATA_ADDR + 0x8000);
  for (const [n, v] of Object.entries(regs)) s.gpr[REG_NAMES.indexOf(n)] = BigInt(v!) & M64;
  s.rflags = 0x2 | flags;
  return s;
}

/** Run an assembled snippet interpreted and compiled (both ways); the outcomes must agree exactly. Returns the JIT's outcome. */
function both(asm: string, init: MachineState): Outcome {
  const [code] = assemble([asm]);
  const a = emulate('interp', code!, init);
  const b = emulate('jit', code!, init);
  expect(sameOutcome(a, b), describeVector({ code: code!, init }, sameOutcome(a, b))).toEqual([]);
  const c = emulate('region', code!, init);
  expect(sameOutcome(a, c), describeVector({ code: code!, init }, sameOutcome(a, c), 'regions: ')).toEqual([]);
  return b;
}

/** The generated source of the block at the start of `asm`. */
function sourceOf(asm: string): string {
  const [code] = assemble([asm]);
  const mem = new PagedMemory(1 << 20);
  mem.map(CODE_ADDR, 0x1000, 7);
  mem.writeBytes(CODE_ADDR, code!);
  const c = new Cpu(mem);
  const b = decodeBlock(c, CODE_ADDR, 0, mem.offsetOf(CODE_ADDR));
  return generate([b]).source;
}

const count = (s: string, sub: string): number => s.split(sub).length - 1;

describe('dead-flag elimination and fused conditions', () => {
  it('flags live in locals: no lf stores inside the block, the branch fused with the compare', () => {
    const src = sourceOf('add eax, ebx\nsub ecx, edx\nxor esi, edi\ncmp rax, rbx\njne 1f\n1: nop');
    const body = src.slice(src.indexOf('case 0: {'), src.indexOf('default:'));
    expect(body).not.toContain('lf[');
    // Every writer assigns the locals (V8 drops the dead assignments); the last one is cmp (F_SUB, 64-bit).
    expect(count(body, 'f0 = ')).toBe(4);
    expect(body).toMatch(/f0 = 15; f1 = \w+; f2 = \w+; f3 = \w+; f5 = \w+; f4 = \w+; f6 = \w+;\s*const jc\d+ = !\(\(\w+ \| \w+\) === 0\);/);
    // The record reaches lf at the exit (and in the catch, on a fault).
    expect(count(src, 'lf[0] = f0;')).toBe(2);
  });

  it('paths that may fault carry no code but the instruction index; the catch stores registers and flags', () => {
    const src = sourceOf('add eax, ebx\nmov ecx, [rdx]\ncmp eax, 5\njne 1f\n1: nop');
    expect(src).toMatch(/else \{ c\.faultIndex = 1; \w+ = c\.read32\(/);
    expect(src).toMatch(/catch \(x\) \{\s*r\[0\] = g0; r\[1\] = h0; r\[2\] = g1; r\[3\] = h1;\s*lf\[0\] = f0;/);
  });

  it('flags read after the block end', () => {
    for (const [x, y] of [[1n, 2n], [M64, 1n], [0x8000000000000000n, 1n], [5n, 5n]] as const) {
      both('add rax, rbx\njmp 1f\n1: setc cl\nseto dl\nsetz sil\nsets dil\nsetp r8b\nlahf', st({ rax: x, rbx: y }));
      both('sub eax, ebx\nsbb ecx, ecx\njmp 1f\n1: pushfq\npop r9', st({ rax: x, rbx: y }));
      both('cmp rax, rbx\njl 1f\nmov r10, 1\n1: setg cl\nsetbe dl\npushfq\npop r11', st({ rax: x, rbx: y }));
      both('inc eax\nshl ebx, 3\nrol ecx, 5\njmp 1f\n1: pushfq\npop r11', st({ rax: x, rbx: y }));
    }
  });

  it('flags read in the middle of a block by adc, setcc, cmov, jcc, pushf, lahf', () => {
    for (const [x, y] of [[1n, 2n], [M64, 1n], [0x7fffffffn, 1n], [0n, 0n]] as const) {
      both('add rax, rbx\nadc rcx, rdx\nsetc r8b\nsbb r9d, r10d\ncmovb r11, r12\nsetl r13b\nlahf\npushfq\npop r14\nadd eax, 1\njz 1f\nnop\n1: nop', st({ rax: x, rbx: y, rcx: x, rdx: y }));
      both('sub al, bl\nsetae cl\ninc rdx\nsetbe sil\ndec r8w\nseto dil\nror r9, 3\nsetc r10b\nrol r11d, 1\nseto r12b\nneg r13\nsetb r14b', st({ rax: x, rbx: y }));
      both('test rax, rbx\nsete cl\nsetp dl\nsets sil\nimul rdx, rbx\nseto dil\nimul esi, ebx, 7\nsetc r8b\nshr r9, 1\nseto r10b\nsar r11d, 7\nsetc r12b', st({ rax: x, rbx: y }));
    }
  });

  it('flags at a fault in the middle of a block are those before the faulting instruction', () => {
    // The add's flags are dead in the block (cmp overwrites them) but must be visible at the fault.
    const o = both('add eax, ebx\nmov ecx, [rdx]\ncmp eax, 5\nmov esi, 1', st({ rax: 0xffffffff, rbx: 1, rdx: 0x1000 }));
    expect(o.kind).toBe('fault');
    if (o.kind === 'fault') {
      expect(o.vector).toBe(14);
      expect(o.rip).toBe(BigInt(CODE_ADDR + 2));
      expect(o.state!.gpr[0]).toBe(0n); // eax = 0, upper half cleared
      expect(o.state!.rflags & 0x41).toBe(0x41); // CF and ZF from the add
      expect(o.state!.gpr[1]).toBe(st().gpr[1]); // rcx untouched
    }
    // A rotate's CF/OF (a partial update) at a later fault.
    both('add eax, ebx\nrol ecx, 1\nmov edx, [rsi]\nadd edi, 1', st({ rax: 0xffffffff, rbx: 1, rcx: 0x80000000, rsi: 8 }));
    // 64-bit imul whose flags a later imul, shift or ALU op overwrites (the JIT then skips the overflow
    // computation): the products, and the flags the last writer leaves.
    for (const [x, y] of [[0x123456789abcdefn, 0xfedcba987654321n], [M64, M64], [0x8000000000000000n, 2n], [3n, 5n]] as const) {
      both('imul rax, rbx\nmov rcx, rax\nimul rcx, rdx\nimul rdx, rbx\nimul r8, rax, 0x12345\nshr rcx, 32\nadd rdx, rcx\nimul r9, r8\nsetc r10b\nseto r11b\npushfq\npop r12',
        st({ rax: x, rbx: y, rdx: y ^ 0x5555n, r8: x, r9: y }));
      // A fault before the next full writer keeps the imul's flags observable.
      both('imul rax, rbx\nmov rcx, [rsi]\nadd rcx, 1', st({ rax: x, rbx: y, rsi: 8 }));
    }
    // ... and at a #UD that does not end the block (lea's register form), or a mov to a segment register.
    for (const ud of ['.byte 0x4d, 0x8d, 0xf1', 'mov ss, ax']) {
      const o2 = both(`rol ecx, 1\n${ud}\nxor r9d, 7`, st({ rax: 0x1234, rcx: 0x40000000 }));
      expect(o2.kind).toBe('fault');
    }
    // A read-modify-write that faults leaves memory, registers and flags as they were.
    both('sub eax, eax\nadd dword ptr [rbx], 7\nsetc cl', st({ rbx: BigInt(DATA_ADDR + DATA_SIZE - 2) }));
    both('xor eax, eax\npush rbx\ncall 1f\n1: nop', st({ rsp: BigInt(DATA_ADDR + 8) }));
    both('cmp eax, ebx\nmov qword ptr [rcx], 1\nsetb dl', st({ rcx: 0x800000000000n }));
  });
});

describe('faults, self-modifying code, chaining', () => {
  it('a fault part-way through a block commits the earlier instructions only', () => {
    const o = both('mov eax, 1\nadd rbx, 5\npush rcx\nmov rdx, [rsi]\nmov edi, 9', st({ rsi: 0x10 }));
    expect(o.kind === 'fault' && o.vector === 14 && o.rip === BigInt(CODE_ADDR + 10)).toBe(true);
  });

  it('non-canonical addresses, jumps and returns fault like the interpreter', () => {
    both('mov eax, 1\nmov rcx, [rbx]', st({ rbx: 0x0000800000000000n }));
    both('mov eax, 1\nmov rcx, [rbp + 8]', st({ rbp: 0x0000800000000000n }));
    both('mov eax, 1\njmp rbx', st({ rbx: 0x0000800000000000n }));
    both('mov eax, 1\ncall rbx', st({ rbx: 0x0000800000000000n }));
    both('mov rax, 0x0000800000000000\npush rax\nret', st());
    both('mov rsp, rbx\npush rax', st({ rbx: 0x0000800000000004n }));
    both('mov rsp, rbx\npop rax', st({ rbx: 0x0000800000000000n }));
  });

  it('self-modifying code: a store into the running block takes effect at the next instruction', () => {
    // Overwrite the immediate of the instruction after the store.
    const asm = 'lea rbx, [rip + 1f]\nmov byte ptr [rbx + 1], 0x42\n1: mov al, 0x11\nmov ecx, 1\nadd edx, 2\nnop';
    const [code] = assemble([asm]);
    for (const m of ['interp', 'jit'] as const) {
      const o = emulate(m, code!, st());
      expect(o.kind).toBe('ok');
      if (o.kind === 'ok') expect(o.state.gpr[0]! & 0xffn).toBe(0x42n);
    }
    both(asm, st());
    // A loop that patches itself every iteration (block compiled, invalidated, recompiled).
    both('mov ecx, 40\n2: lea rbx, [rip + 1f]\nmov byte ptr [rbx + 2], cl\n1: add eax, 0\nadd edx, eax\ndec ecx\njnz 2b', st({ rax: 0, rdx: 0 }));
  });

  it('loops through multi-block regions: branches, calls, faults and self-modifying code in later blocks', () => {
    const before = jitStats.regions;
    const blocksBefore = jitStats.blocks;
    // A loop over several blocks with a call; a fault in a later block on the last iteration.
    both('mov ecx, 200\n1: add rax, rcx\ncall 3f\ntest cl, 1\njz 2f\ninc rbx\n2: dec ecx\njnz 1b\nmov rdx, [rsi]\n3: add rdx, 2\ncmp rdx, 1000\njb 4f\nxor edx, edx\n4: ret', st({ rax: 0, rbx: 0, rdx: 0, rsi: 0x10 }));
    // Faults part-way through later blocks: a load that faults once RBX walks off the data area.
    both(`mov ecx, 5000\n1: add rbx, 64\ntest ecx, 3\njz 2f\nadd eax, [rbx]\n2: sub rdx, rax\njc 3f\ninc rdi\n3: dec ecx\njnz 1b`, st({ rbx: BigInt(DATA_ADDR), rax: 0, rdx: 0 }));
    // Self-modifying code in a later block of the region.
    both('mov ecx, 60\n1: test ecx, 1\njz 2f\ninc r8\n2: lea rbx, [rip + 3f]\nmov byte ptr [rbx + 2], cl\n3: add eax, 0\nadd edx, eax\ndec ecx\njnz 1b', st({ rax: 0, rdx: 0, r8: 0 }));
    // Flags flowing over region edges (edges into blocks whose flags are live and dead).
    both('mov ecx, 300\n1: cmp ecx, 150\nja 2f\nadc rax, 1\njmp 3f\n2: sbb rbx, 0\n3: setc dl\nadd r9, rdx\ndec ecx\njnz 1b\npushfq\npop r10', st({ rax: 0, rbx: 0, r9: 0 }));
    expect(jitStats.regions).toBeGreaterThan(before);
    expect(jitStats.blocks - blocksBefore).toBeGreaterThan(jitStats.regions - before); // some regions have several blocks
  });

  it('random loop programs give the interpreter\'s results through regions', () => {
    const pool = generateVectors(SEED ^ 0x5151, 3000).filter((v) => !v.forms.some((f) => /^(push|pop|call|ret|enter|leave|popf|pushf)/.test(f)));
    const rng = mkRng(SEED ^ 0x6161);
    const chunk = (): string => {
      const v = pool[Math.floor(rng() * pool.length)]!;
      return `.byte ${[...v.code].join(', ')}`;
    };
    const programs: string[] = [];
    for (let n = 0; n < 120; n++) {
      const cc = ['z', 'nz', 'c', 'nc', 'l', 'ge', 'be', 'a', 's', 'o'][Math.floor(rng() * 10)]!;
      programs.push(`mov r15d, ${5 + Math.floor(rng() * 20)}\n1: ${chunk()}\n${chunk()}\nj${cc} 2f\n${chunk()}\n2: ${chunk()}\ndec r15d\njnz 1b`);
    }
    const codes = assemble(programs);
    const failures: string[] = [];
    let done = 0;
    codes.forEach((code, k) => {
      const init = pool[k % pool.length]!.init;
      const a = emulate('interp', code, init, 20000);
      if (a.kind === 'fault' && a.vector === -1) return; // ran out of budget (the random code changed the counter)
      done++;
      for (const m of ['jit', 'region'] as const) {
        const b = emulate(m, code, init, 20000);
        const d = sameOutcome(a, b);
        if (d.length && failures.length < 8) failures.push(describeVector({ code, init }, d, `${m}: `));
      }
    });
    expect(done).toBeGreaterThan(30);
    expect(failures, failures.join('\n\n')).toEqual([]);
  });

  it('loops through chained compiled blocks keep icount, the budget and faults exact', () => {
    const asm = 'mov ecx, 3000\n1: add rax, rcx\ninc rbx\ncmp rbx, 100\njb 2f\nxor ebx, ebx\n2: dec ecx\njnz 1b\nmov rdx, [rsi]';
    const [code] = assemble([asm]);
    for (const m of ['interp', 'jit', 'region'] as const) {
      setMode(m);
      const mem = new PagedMemory(1 << 20);
      mem.map(CODE_ADDR, 0x1000, 7);
      mem.map(DATA_ADDR, DATA_SIZE, 3);
      mem.writeBytes(CODE_ADDR, code!);
      const c = new Cpu(mem);
      loadCpu(c, st({ rax: 0, rbx: 0, rsi: 0x10 }));
      const steps: number[] = [];
      let x: Exit;
      do {
        const before = c.icount;
        x = c.run(1000);
        steps.push(c.icount - before);
      } while (x === Exit.Budget);
      expect(x).toBe(Exit.Exception);
      expect(c.excVector).toBe(14);
      expect(c.ripLo).toBe(CODE_ADDR + code!.length - 3);
      expect(c.icount).toBe(1 + 3000 * 6 + 30);
      for (const s of steps.slice(0, -1)) expect(s).toBeLessThan(1000 + regionConfig.maxInsns);
      expect(saveCpu(c, mem).gpr[0]).toBe(BigInt((3000 * 3001) / 2));
    }
    setMode('jit');
  });
});

// ------------------------------------------------------------------ busybox

describe('busybox through the JIT', () => {
  let work: string;
  let busybox: string;
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'xenjs-jit-'));
    busybox = busyboxBinary();
  });
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  function runBusybox(m: Mode, argv: string[], stdin?: string): { status: number; out: string } {
    setMode(m);
    const outPath = join(work, `out-${m}.txt`);
    const out = openSync(outPath, 'w');
    const inp = openSync(stdin ?? '/dev/null', 'r');
    try {
      const p = new LinuxProcess({ path: busybox, argv, stdio: [inp, out, 2], env: ['PATH=/bin', 'LC_ALL=C'], cwd: work });
      const r = p.run();
      return { status: r.status, out: readFileSync(outPath, 'latin1') };
    } finally {
      closeSync(out);
      closeSync(inp);
      setMode('jit');
    }
  }

  it('a shell loop', () => {
    const argv = ['sh', '-c', 'i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done; echo $i'];
    const before = jitStats.blocks;
    const j = runBusybox('jit', argv);
    expect(jitStats.blocks - before).toBeGreaterThan(500);
    expect(j).toEqual({ status: 0, out: '2000\n' });
    expect(runBusybox('interp', argv)).toEqual(j);
    expect(runBusybox('region', argv)).toEqual(j);
  });

  it('md5sum of a file', () => {
    const data = Buffer.alloc(200_000);
    let x = 12345;
    for (let k = 0; k < data.length; k++) {
      x = (Math.imul(x, 1103515245) + 12345) | 0;
      data[k] = x >>> 24;
    }
    writeFileSync(join(work, 'data.bin'), data);
    const j = runBusybox('jit', ['md5sum', 'data.bin']);
    const i = runBusybox('interp', ['md5sum', 'data.bin']);
    expect(j.status).toBe(0);
    expect(j).toEqual(i);
    expect(runBusybox('region', ['md5sum', 'data.bin'])).toEqual(i);
    expect(j.out).toMatch(/^[0-9a-f]{32} {2}data\.bin\n$/);
  });
});
