/**
 * Differential testing against the host CPU.
 *
 * A test vector is a short piece of x86-64 code plus a machine state (GPRs,
 * RFLAGS, XMM, MXCSR, optionally the x87 state as an fxsave image, and a
 * 64 KiB data area). `runNative` runs a batch of vectors on the host through
 * test/native/harness.c (one process per batch); `runEmulated` runs one on
 * our Cpu with the same memory layout; `diffStates` / `diffOutcomes` say how
 * two results differ. `assemble` turns GNU-as Intel-syntax snippets into code
 * bytes (cached), `disassemble` is for failure messages.
 *
 * Layout (both sides):
 * - code at CODE_ADDR (64 KiB, RWX); natively it is followed by a jump back
 *   into the harness, emulated by an `int3` that ends the run;
 * - the data area at DATA_ADDR (DATA_SIZE bytes, RW); point RSP and memory
 *   operands into it;
 * - nothing else is mapped nearby: the page before and after each area faults.
 *
 * Only the arithmetic flags and DF of `init.rflags` are used (IF is always
 * set, as in user mode). The run is at CPL 3 with Linux's user selectors
 * (CS 0x33, SS 0x2b, others 0).
 *
 * Segment overrides: GS has base 0 on both sides; FS natively holds the
 * harness's TLS base, so FS-relative accesses and FS loads are not comparable
 * (and loading FS would break the harness). Loads of DS/ES/GS are undone
 * after each case.
 *
 * Faults: `vector` is the hardware exception vector (natively the signal
 * frame's trap number, so SIGSEGV gives #GP 13 or #PF 14, SIGBUS #SS 12 or
 * #AC 17, SIGFPE #DE 0 / #MF 16 / #XM 19, SIGILL #UD 6, SIGTRAP #BP 3 or
 * #DB 1; the bare signal is the fallback), `addr` the faulting address for
 * #PF, `rip` the reported RIP (the faulting instruction, or the one after
 * for traps such as int3), `code` the error code (#GP, #SS, #PF), `state`
 * the registers, XMM/x87 state and data area at the fault (RFLAGS without
 * RF). Vector -1 means the code did not finish (timeout natively,
 * instruction budget emulated); emulated only: -2 syscall, -3 hlt.
 *
 * Result states may share the input's `data` buffer when the data area did
 * not change: do not mutate results (or inputs that are still running).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cpu } from '../../src/cpu/cpu.ts';
import { Exit, PF_VEC } from '../../src/cpu/state.ts';
import { PagedMemory, PROT_EXEC, PROT_READ, PROT_WRITE } from '../../src/mmu/paged-memory.ts';

export const CODE_ADDR = 0x10000000;
export const CODE_SIZE = 0x10000;
export const DATA_ADDR = 0x20000000;
export const DATA_SIZE = 0x10000;

export interface MachineState {
  /** RAX..R15 in ModRM order, as unsigned 64-bit values. */
  gpr: bigint[];
  rflags: number;
  /** XMM0-15 as unsigned 128-bit values (lane 0 in the low bits). */
  xmm: bigint[];
  mxcsr: number;
  /** 512-byte fxsave image (x87 state; its MXCSR/XMM fields are ignored on input). Optional in the input. */
  fx?: Uint8Array;
  data: Uint8Array;
}

export type Outcome =
  | { kind: 'ok'; state: MachineState }
  | {
      kind: 'fault';
      /** Exception vector (DE=0 UD=6 GP=13 PF=14 …); -1: did not finish; emulated only: -2 syscall, -3 hlt. */
      vector: number;
      /** Faulting linear address (#PF only). */
      addr?: bigint;
      /** RIP the fault reports. */
      rip?: bigint;
      /** Error code (#GP, #SS, #PF, …). */
      code?: number;
      /** Native only: the signal that reported it. */
      signal?: number;
      /** The state at the fault (registers as the fault leaves them; RIP is `rip`). Absent after a timeout. */
      state?: MachineState;
    };

export interface TestCase {
  code: Uint8Array;
  init: MachineState;
}

const HERE = dirname(fileURLToPath(import.meta.url));
export const NATIVE_DIR = resolve(HERE, '../native');
export const BUILD_DIR = join(NATIVE_DIR, 'build');

const MASK64 = (1n << 64n) - 1n;
const MASK128 = (1n << 128n) - 1n;
export const REG_NAMES = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];
const ARITH_DF = 0x0cd5;
const FLAG_NAMES: Array<[number, string]> = [
  [0x1, 'CF'], [0x4, 'PF'], [0x10, 'AF'], [0x40, 'ZF'], [0x80, 'SF'], [0x100, 'TF'], [0x200, 'IF'],
  [0x400, 'DF'], [0x800, 'OF'], [0x3000, 'IOPL'], [0x4000, 'NT'], [0x10000, 'RF'], [0x40000, 'AC'], [0x200000, 'ID'],
];

/** Names of the flags set in a mask ("CF|ZF"). */
export function flagNames(m: number): string {
  const n = FLAG_NAMES.filter(([b]) => m & b).map(([, s]) => s);
  const rest = m & ~FLAG_NAMES.reduce((a, [b]) => a | b, 0);
  if (rest) n.push(`0x${rest.toString(16)}`);
  return n.join('|') || '0';
}

export const hex64 = (v: bigint): string => '0x' + (v & MASK64).toString(16).padStart(16, '0');
export const hexBytes = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex').replace(/(..)(?!$)/g, '$1 ');

// ------------------------------------------------------------------ states

/** The x87 state after `fninit`, as an fxsave image (FCW 0x37F, everything empty). */
export function defaultFx(): Uint8Array {
  const fx = new Uint8Array(512);
  fx[0] = 0x7f;
  fx[1] = 0x03;
  new DataView(fx.buffer).setUint32(24, 0x1f80, true);
  return fx;
}

/**
 * An fxsave image holding MMX registers: `mm[n]` is the significand of the
 * physical register Rn (MMn), `se[n]` its sign and exponent (default 0xFFFF,
 * as an MMX write leaves it); TOP, the abridged tag bits (bit n: Rn not
 * empty), FSW (without TOP) and FCW as given. A pending exception (an
 * unmasked exception flag) sets ES and B, as fxrstor makes them.
 */
export function mmxFx(mm: readonly bigint[], opts: { top?: number; valid?: number; fsw?: number; fcw?: number; se?: readonly number[] } = {}): Uint8Array {
  const fx = defaultFx();
  const dv = new DataView(fx.buffer);
  const top = opts.top ?? 0;
  const fcw = opts.fcw ?? 0x037f;
  let fsw = (opts.fsw ?? 0) & ~0xb880;
  if (fsw & ~fcw & 0x3f) fsw |= 0x8080;
  dv.setUint16(0, fcw, true);
  dv.setUint16(2, fsw | (top << 11), true);
  fx[4] = opts.valid ?? 0xff;
  for (let i = 0; i < 8; i++) {
    const p = (top + i) & 7;
    dv.setBigUint64(32 + 16 * i, (mm[p] ?? 0n) & MASK64, true);
    dv.setUint16(40 + 16 * i, opts.se?.[p] ?? 0xffff, true);
  }
  return fx;
}

/** MMn (the significand of physical register n) from an fxsave image. */
export function mmFromFx(fx: Uint8Array, n: number): bigint {
  const dv = new DataView(fx.buffer, fx.byteOffset, 512);
  const top = (dv.getUint16(2, true) >> 11) & 7;
  return dv.getBigUint64(32 + 16 * ((n - top) & 7), true);
}

/** A state of zeros: RSP in the middle of the data area, MXCSR default; `data` (shared, not copied) or a zeroed area. */
export function zeroState(data?: Uint8Array): MachineState {
  const gpr = new Array<bigint>(16).fill(0n);
  gpr[4] = BigInt(DATA_ADDR + DATA_SIZE / 2);
  return { gpr, rflags: 0x2, xmm: new Array<bigint>(16).fill(0n), mxcsr: 0x1f80, data: data ?? new Uint8Array(DATA_SIZE) };
}

/** Copy a state (fx copied too; the data area too unless `shareData`). */
export function cloneState(s: MachineState, shareData = false): MachineState {
  return { gpr: s.gpr.slice(), rflags: s.rflags, xmm: s.xmm.slice(), mxcsr: s.mxcsr, fx: s.fx?.slice(), data: shareData ? s.data : s.data.slice() };
}

/** Fill a buffer with fast pseudo-random bytes from a 32-bit seed (xorshift). */
export function fillRandom(buf: Uint8Array, seed: number): void {
  let x = seed | 0 || 0x9e3779b9;
  const n = buf.length & ~3;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let k = 0; k < n; k += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    dv.setInt32(k, x, true);
  }
  for (let k = n; k < buf.length; k++) buf[k] = (x >>> (8 * (k & 3))) & 0xff;
}

const u32 = (rng: () => number): number => Math.floor(rng() * 0x100000000) >>> 0;
const u64 = (rng: () => number): bigint => (BigInt(u32(rng)) << 32n) | BigInt(u32(rng));

/**
 * An "interesting" 64-bit value: 0, 1, -1, the signed extremes (of every
 * size), small numbers, powers of two, values near 8/16/32-bit boundaries,
 * pointers into the data area, or random bits.
 */
export function interestingValue(rng: () => number): bigint {
  const r = rng();
  const pick = <T,>(a: T[]): T => a[Math.floor(rng() * a.length)]!;
  if (r < 0.06) return 0n;
  if (r < 0.1) return 1n;
  if (r < 0.15) return MASK64;
  if (r < 0.27) {
    const v = pick([0x7fn, 0x80n, 0xffn, 0x7fffn, 0x8000n, 0xffffn, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x7fffffffffffffffn, 0x8000000000000000n, 0x100n, 0x10000n, 0x100000000n]);
    return (v + BigInt(Math.floor(rng() * 3)) - 1n) & MASK64;
  }
  if (r < 0.37) return BigInt(Math.floor(rng() * 64)) - (rng() < 0.3 ? 32n : 0n) & MASK64;
  if (r < 0.45) return 1n << BigInt(Math.floor(rng() * 64));
  if (r < 0.6) return BigInt(DATA_ADDR + Math.floor(rng() * DATA_SIZE));
  if (r < 0.7) {
    // Random bits in one size, sign- or zero-extended.
    const bits = pick([8n, 16n, 32n]);
    let v = u64(rng) & ((1n << bits) - 1n);
    if (rng() < 0.5 && v >> (bits - 1n)) v |= MASK64 ^ ((1n << bits) - 1n);
    return v;
  }
  if (r < 0.8) return (u64(rng) & 0xffffffff_00000000n) | BigInt(pick([0, 1, 0xffffffff, 0x80000000, 0x7fffffff, u32(rng)]));
  return u64(rng);
}

/**
 * A random machine state: interesting GPR values (RSP points into the middle
 * of the data area, 8-byte aligned), random arithmetic flags (DF set
 * sometimes), random XMM registers, default MXCSR. `data`: share this buffer
 * instead of filling a fresh random one (the native runner sends a data area
 * only when it differs from the previous case's, so sharing keeps batches fast).
 */
export function randomState(rng: () => number, data?: Uint8Array): MachineState {
  const gpr: bigint[] = [];
  for (let k = 0; k < 16; k++) gpr.push(interestingValue(rng));
  gpr[4] = BigInt(DATA_ADDR + 0x4000 + 8 * Math.floor(rng() * 0x1000));
  let rflags = 0x2 | (u32(rng) & 0x8d5);
  if (rng() < 0.15) rflags |= 0x400;
  const xmm: bigint[] = [];
  for (let k = 0; k < 16; k++) xmm.push((u64(rng) << 64n) | u64(rng));
  let d = data;
  if (!d) {
    d = new Uint8Array(DATA_SIZE);
    fillRandom(d, u32(rng));
  }
  return { gpr, rflags, xmm, mxcsr: 0x1f80, data: d };
}

/** A deterministic PRNG (mulberry32) for seeded tests. */
export function makeRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ------------------------------------------------------------------ building tools

function sha(s: string | Buffer): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 16);
}

/** Write a file atomically (parallel test workers may race on the cache). */
function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

let harnessPath: string | undefined;

/** Build (once, cached by source hash) and return the path of the native harness. */
export function harness(): string {
  if (harnessPath) return harnessPath;
  const src = join(NATIVE_DIR, 'harness.c');
  const h = sha(readFileSync(src));
  mkdirSync(BUILD_DIR, { recursive: true });
  const exe = join(BUILD_DIR, `harness-${h}`);
  if (!existsSync(exe)) {
    const tmp = `${exe}.${process.pid}.tmp`;
    const r = spawnSync('gcc', ['-O2', '-Wall', '-o', tmp, src], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`building the native harness failed:\n${r.stderr}${r.error ?? ''}`);
    renameSync(tmp, exe);
  }
  return (harnessPath = exe);
}

/** Whether this host can run the native harness (x86-64 Linux). */
export const nativeAvailable = process.platform === 'linux' && process.arch === 'x64';

// ------------------------------------------------------------------ native runs

const CASE_HDR = 16 + 128 + 8 + 8 + 256;

/** Run a batch of vectors on the host CPU (one harness process). */
export function runNative(cases: TestCase[]): Outcome[] {
  if (cases.length === 0) return [];
  // Cases sharing a data buffer run together (the area is sent once per run of them); results come back in order.
  const firstUse = new Map<Uint8Array, number>();
  cases.forEach((c, k) => {
    if (!firstUse.has(c.init.data)) firstUse.set(c.init.data, k);
  });
  if (firstUse.size > 1) {
    const order = cases.map((_, k) => k).sort((x, y) => firstUse.get(cases[x]!.init.data)! - firstUse.get(cases[y]!.init.data)! || x - y);
    if (order.some((x, k) => x !== k)) {
      const sorted = runNative(order.map((k) => cases[k]!));
      const res = new Array<Outcome>(cases.length);
      order.forEach((k, j) => {
        res[k] = sorted[j]!;
      });
      return res;
    }
  }
  // Encode. Data areas are sent only when they differ from the previous case's.
  const parts: Buffer[] = [];
  let prevData: Uint8Array | undefined;
  for (const { code, init } of cases) {
    if (init.data.length !== DATA_SIZE) throw new Error(`data area must be ${DATA_SIZE} bytes`);
    const sendData = !prevData || (prevData !== init.data && Buffer.compare(prevData, init.data) !== 0);
    prevData = init.data;
    const h = Buffer.alloc(CASE_HDR);
    h.writeUInt32LE(0x53414358, 0);
    h.writeUInt32LE(code.length, 4);
    h.writeUInt32LE((init.fx ? 1 : 0) | (sendData ? 2 : 0), 8);
    for (let k = 0; k < 16; k++) h.writeBigUInt64LE(init.gpr[k]! & MASK64, 16 + 8 * k);
    h.writeBigUInt64LE(BigInt(init.rflags >>> 0), 144);
    h.writeUInt32LE(init.mxcsr & 0xffff, 152);
    for (let k = 0; k < 16; k++) {
      const v = init.xmm[k]! & MASK128;
      h.writeBigUInt64LE(v & MASK64, 160 + 16 * k);
      h.writeBigUInt64LE(v >> 64n, 168 + 16 * k);
    }
    parts.push(h);
    if (init.fx) parts.push(Buffer.from(init.fx.buffer, init.fx.byteOffset, 512));
    if (sendData) parts.push(Buffer.from(init.data.buffer, init.data.byteOffset, DATA_SIZE));
    parts.push(Buffer.from(code.buffer, code.byteOffset, code.byteLength));
  }
  const r = spawnSync(harness(), [], { input: Buffer.concat(parts), maxBuffer: 1 << 30 });
  if (r.status !== 0 || r.error) {
    // Find the case that kills the harness (it should not happen: report it precisely).
    if (cases.length > 1) {
      const half = cases.length >> 1;
      runNative(cases.slice(0, half));
      runNative(cases.slice(half));
    }
    const what = cases.length === 1 ? ` on the case with code [${hexBytes(cases[0]!.code)}]` : '';
    throw new Error(`native harness exited with ${r.status ?? r.signal}${what}: ${r.error ?? ''} ${r.stderr.toString()}`);
  }
  const out = r.stdout;
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const bytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  const u64 = (o: number): bigint => (BigInt(dv.getUint32(o + 4, true)) << 32n) | BigInt(dv.getUint32(o, true));
  const res: Outcome[] = [];
  let p = 0;
  for (const { init } of cases) {
    if (p + 40 > out.byteLength || dv.getUint32(p, true) !== 0x53455258) throw new Error('native harness: bad result stream');
    const status = dv.getUint32(p + 4, true);
    const signal = dv.getUint32(p + 8, true);
    const trapno = dv.getUint32(p + 12, true);
    const err = dv.getUint32(p + 16, true);
    const addr = u64(p + 24);
    const rip = u64(p + 32);
    p += 40;
    if (status === 2) {
      res.push({ kind: 'fault', vector: -1 });
      continue;
    }
    const gpr: bigint[] = [];
    for (let k = 0; k < 16; k++) gpr.push(u64(p + 8 * k));
    const rflags = dv.getUint32(p + 128, true);
    const fx = bytes.slice(p + 136, p + 136 + 512);
    p += 136 + 512;
    const { xmm, mxcsr } = xmmFromFx(fx);
    // Unchanged data areas share the input's buffer (results are not to be mutated).
    const nr = dv.getUint32(p, true);
    const data = nr === 0 ? init.data : init.data.slice();
    p += 4;
    for (let k = 0; k < nr; k++) {
      const off = dv.getUint32(p, true), len = dv.getUint32(p + 4, true);
      data.set(bytes.subarray(p + 8, p + 8 + len), off);
      p += 8 + len;
    }
    const state: MachineState = { gpr, rflags, xmm, mxcsr, fx, data };
    if (status === 1) {
      const vector = trapno <= 31 ? trapno : signalVector(signal);
      const o: Outcome = { kind: 'fault', vector, rip, signal, state };
      if (vector === PF_VEC) o.addr = addr;
      if (vector === 8 || (vector >= 10 && vector <= 14) || vector === 17) o.code = err;
      res.push(o);
      continue;
    }
    res.push({ kind: 'ok', state });
  }
  return res;
}

function signalVector(sig: number): number {
  switch (sig) {
    case 8: return 0; // SIGFPE
    case 4: return 6; // SIGILL
    case 11: return 13; // SIGSEGV
    case 7: return 13; // SIGBUS
    case 5: return 3; // SIGTRAP
    default: return -1;
  }
}

/** XMM registers and MXCSR from an fxsave image. */
export function xmmFromFx(fx: Uint8Array): { xmm: bigint[]; mxcsr: number } {
  const dv = new DataView(fx.buffer, fx.byteOffset, 512);
  const xmm: bigint[] = [];
  for (let k = 0; k < 16; k++) {
    const o = 160 + 16 * k;
    const v = [dv.getUint32(o, true), dv.getUint32(o + 4, true), dv.getUint32(o + 8, true), dv.getUint32(o + 12, true)];
    xmm.push(v[0] === 0 && v[1] === 0 && v[2] === 0 && v[3] === 0 ? 0n : (BigInt(v[3]!) << 96n) | (BigInt(v[2]!) << 64n) | (BigInt(v[1]!) << 32n) | BigInt(v[0]!));
  }
  return { xmm, mxcsr: dv.getUint32(24, true) };
}

// ------------------------------------------------------------------ emulated runs

let emuMem: PagedMemory | undefined;
let emuCodeLen = 0;
/** RAM offset of the data area (its pages are contiguous in RAM). */
let emuDataOff = 0;
/** The data buffer the emulated data area holds unchanged, if any (skips a copy). */
let emuDataSrc: Uint8Array | undefined;

function emulatorMemory(): PagedMemory {
  if (!emuMem) {
    emuMem = new PagedMemory(1 << 20);
    emuMem.map(CODE_ADDR, CODE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC);
    emuMem.map(DATA_ADDR, DATA_SIZE, PROT_READ | PROT_WRITE);
    emuDataOff = emuMem.offsetOf(DATA_ADDR);
    for (let a = 0; a < DATA_SIZE; a += 4096) {
      if (emuMem.offsetOf(DATA_ADDR + a) !== emuDataOff + a) throw new Error('emulator data area is not contiguous in RAM');
    }
  }
  return emuMem;
}

/**
 * Run `code` on our Cpu from `init` until RIP reaches the end of the code
 * (an `int3` placed there ends the run), at most `maxInsns` instructions.
 */
export function runEmulated(code: Uint8Array, init: MachineState, maxInsns = 100_000): Outcome {
  const mem = emulatorMemory();
  if (code.length + 1 > CODE_SIZE) throw new Error('code too long');
  if (emuCodeLen > 0) mem.writeBytes(CODE_ADDR, new Uint8Array(emuCodeLen));
  const tail = new Uint8Array(code.length + 1);
  tail.set(code);
  tail[code.length] = 0xcc;
  mem.writeBytes(CODE_ADDR, tail);
  emuCodeLen = tail.length;
  if (emuDataSrc !== init.data) mem.ram.set(init.data, emuDataOff);
  emuDataSrc = undefined;
  mem.tlb.flush();
  const c = new Cpu(mem);
  try {
    loadCpu(c, init);
    const endLo = CODE_ADDR + code.length + 1;
    let done = 0;
    for (;;) {
      const before = c.icount;
      const x = c.run(Math.min(1000, maxInsns - done));
      done += c.icount - before;
      if (x === Exit.Budget) {
        if (done >= maxInsns) return { kind: 'fault', vector: -1, rip: ripOf(c) };
        continue;
      }
      if (x === Exit.SoftwareInterrupt && c.excVector === 3 && c.ripLo === endLo && c.ripHi === 0) break;
      if (x === Exit.Exception || x === Exit.SoftwareInterrupt) {
        const o: Outcome = { kind: 'fault', vector: c.excVector, rip: ripOf(c), state: saveCpu(c, mem, init.data) };
        if (c.excVector === PF_VEC) o.addr = (BigInt(c.cr2[1]! >>> 0) << 32n) | BigInt(c.cr2[0]! >>> 0);
        if (c.excHasCode) o.code = c.excCode;
        return o;
      }
      if (x === Exit.Syscall) return { kind: 'fault', vector: -2, rip: ripOf(c) };
      return { kind: 'fault', vector: -3, rip: ripOf(c) };
    }
    const state = saveCpu(c, mem, init.data);
    if (state.data === init.data) emuDataSrc = init.data;
    return { kind: 'ok', state };
  } finally {
    c.flushCode();
  }
}

function ripOf(c: Cpu): bigint {
  return (BigInt(c.ripHi >>> 0) << 32n) | BigInt(c.ripLo >>> 0);
}

/** Load a MachineState into a Cpu (registers, flags, XMM, MXCSR, x87 from `fx`), CPL 3, RIP at CODE_ADDR. */
export function loadCpu(c: Cpu, s: MachineState): void {
  for (let k = 0; k < 16; k++) c.setReg64n(k, s.gpr[k]! & MASK64);
  c.getFlags();
  c.flags = (s.rflags & ARITH_DF) | 0x202;
  for (let k = 0; k < 16; k++) {
    const v = s.xmm[k]! & MASK128;
    for (let l = 0; l < 4; l++) c.xmm[4 * k + l] = Number((v >> BigInt(32 * l)) & 0xffffffffn) | 0;
  }
  c.mxcsr = s.mxcsr & 0xffff;
  if (s.fx) fxToX87(c, s.fx);
  else c.fpu.reset();
  c.sel.set([0, 0x33, 0x2b, 0, 0, 0]);
  c.segBase.fill(0);
  c.cpl = 3;
  c.setRip(CODE_ADDR, 0);
}

/**
 * The Cpu's state as a MachineState (data from the data area; `same`: a
 * buffer to return instead of a copy when the data area still equals it).
 */
export function saveCpu(c: Cpu, mem: PagedMemory, same?: Uint8Array): MachineState {
  const gpr: bigint[] = [];
  for (let k = 0; k < 16; k++) gpr.push(c.getReg64n(k));
  const xmm: bigint[] = [];
  for (let k = 0; k < 16; k++) {
    let v = 0n;
    for (let l = 3; l >= 0; l--) v = (v << 32n) | BigInt(c.xmm[4 * k + l]! >>> 0);
    xmm.push(v);
  }
  const fx = x87ToFx(c);
  let data: Uint8Array;
  if (mem === emuMem) {
    const cur = mem.ram.subarray(emuDataOff, emuDataOff + DATA_SIZE);
    data = same && Buffer.compare(cur, same) === 0 ? same : cur.slice();
  } else data = mem.readBytes(DATA_ADDR, DATA_SIZE);
  return { gpr, rflags: c.getFlags() >>> 0, xmm, mxcsr: c.mxcsr >>> 0, fx, data };
}

// ------------------------------------------------------------------ x87 <-> fxsave

const f64buf = new DataView(new ArrayBuffer(8));

/** An 80-bit extended value (10 bytes at `off`) as the nearest double. */
export function f80ToNumber(b: Uint8Array, off = 0): number {
  const dv = new DataView(b.buffer, b.byteOffset + off, 10);
  const lo = dv.getUint32(0, true), hi = dv.getUint32(4, true), se = dv.getUint16(8, true);
  const sign = se & 0x8000 ? -1 : 1;
  const e = se & 0x7fff;
  if (e === 0x7fff) {
    if ((hi & 0x7fffffff) === 0 && lo === 0) return sign * Infinity;
    // NaN: keep the top fraction bits as the double's payload.
    const m = (BigInt(hi & 0x7fffffff) << 32n | BigInt(lo)) >> 11n;
    f64buf.setBigUint64(0, (se & 0x8000 ? 1n << 63n : 0n) | (0x7ffn << 52n) | m | (m === 0n ? 1n : 0n));
    return f64buf.getFloat64(0);
  }
  const mant = hi * 4294967296 + lo; // one rounding to 53 bits
  if (mant === 0) return sign * 0;
  return sign * mant * 2 ** (Math.max(e, 1) - 16383 - 63);
}

/** A double as an 80-bit extended value (exact), written at `off`. */
export function numberToF80(v: number, out: Uint8Array, off = 0): void {
  const dv = new DataView(out.buffer, out.byteOffset + off, 10);
  f64buf.setFloat64(0, v);
  const bits = f64buf.getBigUint64(0);
  const sign = bits >> 63n ? 0x8000 : 0;
  const e = Number((bits >> 52n) & 0x7ffn);
  let frac = bits & ((1n << 52n) - 1n);
  let exp: number, mant: bigint;
  if (e === 0x7ff) {
    exp = 0x7fff;
    mant = (1n << 63n) | (frac << 11n);
  } else if (e === 0) {
    if (frac === 0n) {
      exp = 0;
      mant = 0n;
    } else {
      // Subnormal double: normalise.
      let sh = 0;
      while (!(frac & (1n << 52n))) {
        frac <<= 1n;
        sh++;
      }
      exp = 1 - 1023 - sh + 16383;
      mant = frac << 11n;
    }
  } else {
    exp = e - 1023 + 16383;
    mant = ((1n << 52n) | frac) << 11n;
  }
  dv.setBigUint64(0, mant, true);
  dv.setUint16(8, sign | exp, true);
}

/** Load the x87 part of an fxsave image into the Cpu's FPU (registers stored exactly, as 80-bit values). */
export function fxToX87(c: Cpu, fx: Uint8Array): void {
  const dv = new DataView(fx.buffer, fx.byteOffset, 512);
  const f = c.fpu;
  f.cw = dv.getUint16(0, true);
  f.setSw(dv.getUint16(2, true));
  f.valid = fx[4]!;
  f.fop = dv.getUint16(6, true) & 0x7ff;
  f.fopInsn = null;
  f.fipLo = dv.getInt32(8, true);
  f.fipHi = dv.getInt32(12, true);
  f.fdpLo = dv.getInt32(16, true);
  f.fdpHi = dv.getInt32(20, true);
  for (let i = 0; i < 8; i++) {
    // fxsave stores ST(i) in stack order; physical register p = (top + i) & 7.
    const p = (f.top + i) & 7;
    f.lo[p] = dv.getInt32(32 + 16 * i, true);
    f.hi[p] = dv.getInt32(36 + 16 * i, true);
    f.se[p] = dv.getUint16(40 + 16 * i, true);
  }
}

/** The Cpu's x87 state, MXCSR and XMM registers as an fxsave64 image. */
export function x87ToFx(c: Cpu): Uint8Array {
  const fx = new Uint8Array(512);
  const dv = new DataView(fx.buffer);
  const f = c.fpu;
  dv.setUint16(0, f.cw, true);
  dv.setUint16(2, f.getSw(), true);
  fx[4] = f.valid & 0xff;
  dv.setUint16(6, f.fop, true);
  dv.setInt32(8, f.fipLo, true);
  dv.setInt32(12, f.fipHi, true);
  dv.setInt32(16, f.fdpLo, true);
  dv.setInt32(20, f.fdpHi, true);
  dv.setUint32(24, c.mxcsr, true);
  dv.setUint32(28, 0xffff, true);
  for (let i = 0; i < 8; i++) {
    const p = (f.top + i) & 7;
    dv.setInt32(32 + 16 * i, f.lo[p]!, true);
    dv.setInt32(36 + 16 * i, f.hi[p]!, true);
    dv.setUint16(40 + 16 * i, f.se[p]! & 0xffff, true);
  }
  for (let k = 0; k < 64; k++) dv.setInt32(160 + 4 * k, c.xmm[k]!, true);
  return fx;
}

// ------------------------------------------------------------------ comparing

export interface DiffOptions {
  /** RFLAGS bits not to compare (undefined flags). */
  flagMask?: number;
  /** For the states at a fault: RFLAGS bits not to compare (default flagMask). */
  faultFlagMask?: number;
  /** Compare XMM registers and MXCSR (default true). */
  xmm?: boolean;
  /** Compare the x87 state of the fxsave images: FCW, FSW, abridged FTW, non-empty ST registers (default false). */
  fx?: boolean;
  /** With `fx`: compare all eight registers, empty ones too (MMX registers live in them whatever the tags say). */
  fxAllRegs?: boolean;
  /** Bit mask of GPRs not to compare (1 << RAX, …): architecturally undefined results. */
  gprMask?: number;
  /** Data-area byte ranges [start, end) not to compare. */
  dataMask?: Array<[number, number]>;
}

/**
 * Differences between an expected state `a` (usually native) and `b`
 * (usually emulated), one human-readable line each; empty when they agree.
 */
export function diffStates(a: MachineState, b: MachineState, opts: DiffOptions = {}): string[] {
  const d: string[] = [];
  for (let k = 0; k < 16; k++) {
    if (opts.gprMask && opts.gprMask & (1 << k)) continue;
    if ((a.gpr[k]! & MASK64) !== (b.gpr[k]! & MASK64)) d.push(`${REG_NAMES[k]}: expected ${hex64(a.gpr[k]!)} got ${hex64(b.gpr[k]!)}`);
  }
  const fm = ~(opts.flagMask ?? 0) & 0x3fffff;
  if ((a.rflags & fm) !== (b.rflags & fm)) {
    d.push(`rflags: expected 0x${(a.rflags & fm).toString(16)} got 0x${(b.rflags & fm).toString(16)} (differ: ${flagNames((a.rflags ^ b.rflags) & fm)})`);
  }
  if (opts.xmm !== false) {
    for (let k = 0; k < 16; k++) {
      if ((a.xmm[k]! & MASK128) !== (b.xmm[k]! & MASK128)) {
        d.push(`xmm${k}: expected 0x${a.xmm[k]!.toString(16).padStart(32, '0')} got 0x${b.xmm[k]!.toString(16).padStart(32, '0')}`);
      }
    }
    if (a.mxcsr !== b.mxcsr) d.push(`mxcsr: expected 0x${a.mxcsr.toString(16)} got 0x${b.mxcsr.toString(16)}`);
  }
  if (opts.fx && a.fx && b.fx) d.push(...diffFx(a.fx, b.fx, opts.fxAllRegs === true));
  d.push(...diffData(a.data, b.data, opts.dataMask));
  return d;
}

function diffFx(a: Uint8Array, b: Uint8Array, allRegs: boolean): string[] {
  const d: string[] = [];
  const av = new DataView(a.buffer, a.byteOffset, 512), bv = new DataView(b.buffer, b.byteOffset, 512);
  const w = (n: string, off: number): void => {
    const x = av.getUint16(off, true), y = bv.getUint16(off, true);
    if (x !== y) d.push(`${n}: expected 0x${x.toString(16)} got 0x${y.toString(16)}`);
  };
  w('fcw', 0);
  w('fsw', 2);
  if (a[4] !== b[4]) d.push(`ftw (abridged): expected 0x${a[4]!.toString(16)} got 0x${b[4]!.toString(16)}`);
  const top = (av.getUint16(2, true) >> 11) & 7;
  for (let i = 0; i < 8; i++) {
    if (!allRegs && !(a[4]! & (1 << ((top + i) & 7)))) continue; // empty in the expected state
    const x = a.subarray(32 + 16 * i, 42 + 16 * i), y = b.subarray(32 + 16 * i, 42 + 16 * i);
    if (Buffer.compare(x, y) !== 0) {
      const p = (top + i) & 7;
      d.push(`st${i} (r${p}, mm${p}): expected ${f80Hex(x)} (${f80ToNumber(x)}) got ${f80Hex(y)} (${f80ToNumber(y)})`);
    }
  }
  return d;
}

const f80Hex = (b: Uint8Array): string => '0x' + Buffer.from(b).reverse().toString('hex');

function diffData(a: Uint8Array, b: Uint8Array, mask?: Array<[number, number]>): string[] {
  if (Buffer.compare(a, b) === 0) return [];
  const d: string[] = [];
  let shown = 0;
  for (let k = 0; k < DATA_SIZE; k++) {
    if (a[k] === b[k] || mask?.some(([s, e]) => k >= s && k < e)) continue;
    let e = k;
    while (e < DATA_SIZE && e - k < 32 && a[e] !== b[e]) e++;
    if (shown++ < 8) d.push(`data[0x${k.toString(16)}] (0x${(DATA_ADDR + k).toString(16)}): expected ${hexBytes(a.subarray(k, e))} got ${hexBytes(b.subarray(k, e))}`);
    k = e;
  }
  if (shown > 8) d.push(`… ${shown - 8} more differing data ranges`);
  return d;
}

/**
 * Differences between two outcomes: both ok (then diffStates), or the same
 * fault (vector; RIP; the address for #PF; the error code for #GP/#SS/#PF,
 * except #PF's P bit above 2^47 - 4096, which Linux always reports as set),
 * and then the states at the fault.
 */
export function diffOutcomes(a: Outcome, b: Outcome, opts: DiffOptions = {}): string[] {
  const desc = (o: Outcome): string =>
    o.kind === 'ok'
      ? 'completed'
      : `fault vector ${o.vector}` +
        (o.addr !== undefined ? ` addr ${hex64(o.addr)}` : '') +
        (o.code !== undefined ? ` code 0x${o.code.toString(16)}` : '') +
        (o.rip !== undefined ? ` at rip ${hex64(o.rip)}` : '');
  if (a.kind === 'ok' && b.kind === 'ok') return diffStates(a.state, b.state, opts);
  if (a.kind === 'fault' && b.kind === 'fault') {
    let same = a.vector === b.vector && (a.rip === undefined || b.rip === undefined || a.rip === b.rip);
    if (same && a.vector === PF_VEC) same = a.addr === b.addr;
    if (same && a.code !== undefined && b.code !== undefined) {
      let m = 0xffff;
      if (a.vector === PF_VEC) {
        m = 0x1f;
        // Linux reports user accesses above TASK_SIZE_MAX (2^47 - 4096) as protection faults.
        if (a.addr !== undefined && a.addr >= 0x7ffffffff000n) m &= ~1;
      }
      same = (a.code & m) === (b.code & m);
    }
    if (same) {
      if (!a.state || !b.state) return [];
      const o = { ...opts, flagMask: opts.faultFlagMask ?? opts.flagMask };
      return diffStates(a.state, b.state, o).map((l) => `at the fault: ${l}`);
    }
  }
  return [`outcome: expected ${desc(a)} got ${desc(b)}`];
}

// ------------------------------------------------------------------ assembler

/** Symbols snippets may use: `[rip + DATA + 8]`, `mov eax, [DATA]`, `movabs rax, CODE`. */
const ASM_SYMBOLS: Record<string, number> = { DATA: DATA_ADDR, CODE: CODE_ADDR, DATA_END: DATA_ADDR + DATA_SIZE };

const asmCache = new Map<string, Uint8Array[]>();

/**
 * Assemble snippets of GNU as Intel syntax (`.intel_syntax noprefix`), each
 * placed at CODE_ADDR. Labels are shared by all snippets of one call: use
 * numeric local labels (`1:` … `jnz 1b`). DATA, DATA_END and CODE are the
 * areas' addresses. Results are cached in test/native/build/ by content hash.
 */
export function assemble(snippets: string[]): Uint8Array[] {
  const src =
    '.intel_syntax noprefix\n' +
    snippets.map((s, k) => `.section .t${k},"ax"\n${s}\n`).join('');
  const h = sha(src);
  const cached = asmCache.get(h);
  if (cached) return cached;
  mkdirSync(BUILD_DIR, { recursive: true });
  const cacheFile = join(BUILD_DIR, `asm-${h}.json`);
  if (existsSync(cacheFile)) {
    const r = (JSON.parse(readFileSync(cacheFile, 'utf8')) as string[]).map((x) => new Uint8Array(Buffer.from(x, 'hex')));
    asmCache.set(h, r);
    return r;
  }
  const base = join(BUILD_DIR, `asm-${h}.${process.pid}`);
  writeFileSync(`${base}.s`, src);
  const r = spawnSync('as', ['--64', '-o', `${base}.o`, `${base}.s`], { encoding: 'utf8' });
  if (r.status !== 0) {
    rmSync(`${base}.s`, { force: true });
    const lines = src.split('\n');
    const msg = r.stderr.replace(/^.*?\.s:(\d+): (.*)$/gm, (_m, n: string, e: string) => `${e}  <<  ${lines[Number(n) - 1]?.trim()}`);
    throw new Error(`as failed:\n${msg}`);
  }
  const obj = readFileSync(`${base}.o`);
  const out = linkSections(obj, snippets.length);
  writeAtomic(cacheFile, JSON.stringify(out.map((b) => Buffer.from(b).toString('hex'))));
  rmSync(`${base}.s`, { force: true });
  rmSync(`${base}.o`, { force: true });
  asmCache.set(h, out);
  return out;
}

/** Extract sections .t0… from an ELF64 relocatable object, applying relocations with the section at CODE_ADDR. */
function linkSections(obj: Buffer, n: number): Uint8Array[] {
  const shoff = Number(obj.readBigUInt64LE(0x28));
  const shentsize = obj.readUInt16LE(0x3a);
  const shnum = obj.readUInt16LE(0x3c);
  const shstrndx = obj.readUInt16LE(0x3e);
  interface Sec { name: string; type: number; offset: number; size: number; link: number; info: number; entsize: number }
  const secs: Sec[] = [];
  for (let k = 0; k < shnum; k++) {
    const o = shoff + k * shentsize;
    secs.push({
      name: '',
      type: obj.readUInt32LE(o + 4),
      offset: Number(obj.readBigUInt64LE(o + 0x18)),
      size: Number(obj.readBigUInt64LE(o + 0x20)),
      link: obj.readUInt32LE(o + 0x28),
      info: obj.readUInt32LE(o + 0x2c),
      entsize: Number(obj.readBigUInt64LE(o + 0x38)),
      nameOff: obj.readUInt32LE(o),
    } as Sec & { nameOff: number });
  }
  const strAt = (sec: Sec, off: number): string => {
    let e = sec.offset + off;
    while (obj[e] !== 0) e++;
    return obj.toString('latin1', sec.offset + off, e);
  };
  for (const s of secs) s.name = strAt(secs[shstrndx]!, (s as Sec & { nameOff: number }).nameOff);
  const result: Uint8Array[] = [];
  const index = new Map<string, number>();
  secs.forEach((s, k) => index.set(s.name, k));
  for (let t = 0; t < n; t++) {
    const k = index.get(`.t${t}`);
    if (k === undefined) {
      result.push(new Uint8Array(0));
      continue;
    }
    const s = secs[k]!;
    const bytes = new Uint8Array(obj.subarray(s.offset, s.offset + s.size));
    const bv = new DataView(bytes.buffer);
    for (const rs of secs) {
      if (rs.type !== 4 || rs.info !== k) continue; // SHT_RELA for this section
      const symtab = secs[rs.link]!;
      const strtab = secs[symtab.link]!;
      for (let o = rs.offset; o < rs.offset + rs.size; o += 24) {
        const off = Number(obj.readBigUInt64LE(o));
        const info = obj.readBigUInt64LE(o + 8);
        const addend = Number(obj.readBigInt64LE(o + 16));
        const type = Number(info & 0xffffffffn);
        const symIdx = Number(info >> 32n);
        const so = symtab.offset + symIdx * 24;
        const name = strAt(strtab, obj.readUInt32LE(so));
        const shndx = obj.readUInt16LE(so + 6);
        const value = Number(obj.readBigUInt64LE(so + 8));
        let S: number;
        if (shndx === k) S = CODE_ADDR + value;
        else if (name in ASM_SYMBOLS) S = ASM_SYMBOLS[name]!;
        else throw new Error(`assemble: snippet ${t} refers to '${name || `section ${shndx}`}' (use numeric labels within one snippet, or DATA/CODE)`);
        const P = CODE_ADDR + off;
        switch (type) {
          case 1: bv.setBigUint64(off, BigInt(S + addend), true); break; // R_X86_64_64
          case 2: case 4: bv.setInt32(off, S + addend - P, true); break; // PC32, PLT32
          case 10: case 11: bv.setInt32(off, S + addend, true); break; // 32, 32S
          default: throw new Error(`assemble: unsupported relocation type ${type}`);
        }
      }
    }
    result.push(bytes);
  }
  return result;
}

/** Disassembly (Intel syntax) of code placed at CODE_ADDR, or '' when objdump is missing. */
export function disassemble(code: Uint8Array): string {
  const f = join(BUILD_DIR, `dis-${process.pid}.bin`);
  try {
    mkdirSync(BUILD_DIR, { recursive: true });
    writeFileSync(f, code);
    const r = spawnSync('objdump', ['-D', '-b', 'binary', '-m', 'i386:x86-64', '-M', 'intel', `--adjust-vma=0x${CODE_ADDR.toString(16)}`, f], { encoding: 'utf8' });
    if (r.status !== 0) return '';
    return r.stdout
      .split('\n')
      .filter((l) => /^\s+[0-9a-f]+:/.test(l))
      .map((l) => l.trim().replace(/\s+/g, ' '))
      .join('\n');
  } catch {
    return '';
  } finally {
    try {
      rmSync(f, { force: true });
    } catch {
      /* ignore */
    }
  }
}
