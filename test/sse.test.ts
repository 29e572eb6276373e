/**
 * SSE/SSE2 against the host CPU.
 *
 * 1. Numerics, as "programs": one case runs hundreds of (ldmxcsr; load
 *    operands; OP; store result; stmxcsr) groups over cross products of
 *    special values (±0, ±inf, QNaN/SNaN in both positions, denormals,
 *    extremes, rounding ties, conversion boundaries) under several MXCSR
 *    settings (rounding modes, DAZ, FTZ), and the data areas are compared.
 * 2. Coverage fuzz: every table entry the SSE modules registered (SSE_SPECS)
 *    gets random encodings (register and memory forms, REX bits, aligned and
 *    misaligned operands, operands crossing into an unmapped page) over random
 *    states built from the same value pools, compared state by state.
 * 3. Faults: #GP for misaligned/reserved-MXCSR cases, #XM for unmasked
 *    exceptions (native), #NM with CR0.TS and #UD with CR4.OSFXSR clear
 *    (emulated only: user mode cannot set them).
 * rcpps/rsqrtps & co. are approximations on hardware: they are compared with
 * the architectural tolerance (|rel err| ≤ 1.5·2^-12 each, so 3·2^-12 apart).
 */
import { describe, expect, it } from 'vitest';
import {
  DATA_ADDR, DATA_SIZE, diffOutcomes, disassemble, hexBytes, makeRng, nativeAvailable, randomState, runEmulated, runNative,
  zeroState, type MachineState, type Outcome, type TestCase,
} from './helpers/native.ts';
import { MMX_SPECS, SSE_SPECS } from '../src/cpu/ops/sse.ts';
import type { OpSpec } from '../src/cpu/table.ts';
import { Cpu } from '../src/cpu/cpu.ts';
import { decodeAt } from '../src/cpu/decoder.ts';
import { Exit, GP, NM, UD } from '../src/cpu/state.ts';
import { PagedMemory, PROT_EXEC, PROT_READ, PROT_WRITE } from '../src/mmu/paged-memory.ts';

const d = nativeAvailable ? describe : describe.skip;

/** Deeper runs by hand: SSE_FUZZ=<cases per entry> SSE_SEED=<n> npx vitest run test/sse.test.ts */
const FUZZ = Number(process.env.SSE_FUZZ ?? 100);
const SEED = Number(process.env.SSE_SEED ?? 1234);

// ------------------------------------------------------------------ value pools

const SPECIAL32 = [
  0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x7f800000, 0xff800000, // ±0, ±1, ±inf
  0x7fc00000, 0xffc00000, 0x7fc12345, 0xffd00001, // QNaNs
  0x7f800001, 0xffa5a5a5, 0x7fbfffff, // SNaNs
  0x00000001, 0x807fffff, 0x00400000, 0x80000003, // denormals
  0x00800000, 0x80800001, 0x00ffffff, 0x7f7fffff, 0xff7ffffe, 0x7f000000, // extremes
  0x3f000000, 0x3fc00000, 0x40200000, 0xc0200000, 0x3effffff, 0x3f7fffff, 0x3f800001, // ties, near 1
  0x4f000000, 0x4effffff, 0xcf000000, 0xcf000001, 0x5f000000, 0x5effffff, 0xdf000000, 0xdf000001, // int boundaries
  0x1f800000, 0x20000000, 0x5f800000, 0x60000000, 0x0d000000, 0x72000000, // products/quotients near the edges
  0x40490fdb, 0xc0490fdb, 0x3eaaaaab, 0x4b800001, 0x33800000, // pi, 1/3, 2^24+, 2^-24
];
const SPECIAL64: bigint[] = [
  0x0000000000000000n, 0x8000000000000000n, 0x3ff0000000000000n, 0xbff0000000000000n, 0x7ff0000000000000n, 0xfff0000000000000n,
  0x7ff8000000000000n, 0xfff8000000000000n, 0x7ff8000012345678n, 0xfffc000000000001n, // QNaNs
  0x7ff0000000000001n, 0xfff4000000000000n, 0x7ff7ffffffffffffn, // SNaNs
  0x0000000000000001n, 0x800fffffffffffffn, 0x0008000000000000n, // denormals
  0x0010000000000000n, 0x8010000000000001n, 0x001fffffffffffffn, 0x7fefffffffffffffn, 0xffeffffffffffffen, 0x7fe0000000000000n,
  0x3fe0000000000000n, 0x3ff8000000000000n, 0x4004000000000000n, 0xc004000000000000n, 0x3fefffffffffffffn, 0x3ff0000000000001n,
  0x41dfffffffc00000n, 0x41dfffffffe00000n, 0x41e0000000000000n, 0xc1e0000000000000n, 0xc1e0000000100000n, 0xc1e0000000200000n, // 2^31 region
  0x43e0000000000000n, 0x43dfffffffffffffn, 0xc3e0000000000000n, 0xc3e0000000000001n, // 2^63
  0x1ff0000000000000n, 0x2000000000000000n, 0x5ff0000000000000n, 0x6000000000000000n, 0x0340000000000000n, 0x7c80000000000000n,
  0x400921fb54442d18n, 0x3fd5555555555555n, 0x4340000000000001n, 0x3ca0000000000000n, // pi, 1/3, 2^53+, 2^-53
  0x36a0000000000000n, 0x380fffffffffffffn, 0x3810000000000000n, 0x47efffffe0000000n, 0x47efffffffffffffn, // float32 edges
  0x3690000000000000n, 0xb6a8000000000000n, // tiny for float32
];

const MASK64 = (1n << 64n) - 1n;

function pick<T>(rng: () => number, a: readonly T[]): T {
  return a[Math.floor(rng() * a.length)]!;
}
const ri = (rng: () => number, n: number): number => Math.floor(rng() * n);
const u32 = (rng: () => number): number => ri(rng, 0x100000000) >>> 0;

function lane32(rng: () => number): number {
  const r = rng();
  if (r < 0.5) return pick(rng, SPECIAL32) >>> 0;
  if (r < 0.85) return ((rng() < 0.5 ? 0x80000000 : 0) | ((100 + ri(rng, 55)) << 23) | ri(rng, 1 << 23)) >>> 0;
  return u32(rng);
}
function lane64(rng: () => number): bigint {
  const r = rng();
  if (r < 0.5) return pick(rng, SPECIAL64);
  if (r < 0.85) return ((rng() < 0.5 ? 1n << 63n : 0n) | (BigInt(1000 + ri(rng, 47)) << 52n) | (BigInt(u32(rng) & 0xfffff) << 32n) | BigInt(u32(rng)));
  return (BigInt(u32(rng)) << 32n) | BigInt(u32(rng));
}
const BYTES = [0, 1, 2, 0x7f, 0x80, 0x81, 0xfe, 0xff, 0x10, 0x40];
const WORDS = [0, 1, 0x7fff, 0x8000, 0x8001, 0xffff, 0xfffe, 0x00ff, 0xff00, 0x007f, 0xff80, 0x0100];

/** A 128-bit register value: float32 lanes, float64 lanes, interesting bytes/words or random bits. */
function xmmValue(rng: () => number): bigint {
  const k = ri(rng, 5);
  let v = 0n;
  if (k === 0) for (let l = 0; l < 4; l++) v |= BigInt(lane32(rng)) << BigInt(32 * l);
  else if (k === 1) for (let l = 0; l < 2; l++) v |= lane64(rng) << BigInt(64 * l);
  else if (k === 2) for (let l = 0; l < 16; l++) v |= BigInt(rng() < 0.7 ? pick(rng, BYTES) : ri(rng, 256)) << BigInt(8 * l);
  else if (k === 3) for (let l = 0; l < 8; l++) v |= BigInt(rng() < 0.7 ? pick(rng, WORDS) : ri(rng, 65536)) << BigInt(16 * l);
  else for (let l = 0; l < 4; l++) v |= BigInt(u32(rng)) << BigInt(32 * l);
  return v;
}

function putXmm(buf: Uint8Array, off: number, v: bigint): void {
  const dv = new DataView(buf.buffer, buf.byteOffset);
  dv.setBigUint64(off, v & MASK64, true);
  dv.setBigUint64(off + 8, v >> 64n, true);
}

/** Random MXCSR: sometimes another rounding mode, DAZ, FTZ, sticky flags, unmasked exceptions. */
function randMxcsr(rng: () => number): number {
  if (rng() < 0.5) return 0x1f80;
  let m = 0x1f80 | (ri(rng, 4) << 13);
  if (rng() < 0.35) m |= 0x40;
  if (rng() < 0.35) m |= 0x8000;
  if (rng() < 0.3) m |= ri(rng, 64);
  if (rng() < 0.15) m &= ~(ri(rng, 64) << 7);
  return m;
}

// ------------------------------------------------------------------ comparing with the approximation tolerance

const f32v = new DataView(new ArrayBuffer(4));
function asF32(bits: number): number {
  f32v.setUint32(0, bits >>> 0);
  return f32v.getFloat32(0);
}

/** rcp/rsqrt lanes: equal, or both NaN, or both tiny with the same sign, or within 3·2^-12 relative. */
function approxLaneOk(a: number, b: number): boolean {
  if (a === b) return true;
  const x = asF32(a), y = asF32(b);
  if (x !== x && y !== y) return (a | 0x400000) === (b | 0x400000);
  if (Math.abs(x) < 2 ** -125 && Math.abs(y) < 2 ** -125) return (a >>> 31) === (b >>> 31);
  if (!Number.isFinite(x) || !Number.isFinite(y)) return false;
  return Math.abs(x - y) <= Math.abs(x) * 3 * 2 ** -12;
}
function approxXmmOk(a: bigint, b: bigint): boolean {
  for (let l = 0; l < 4; l++) {
    const x = Number((a >> BigInt(32 * l)) & 0xffffffffn), y = Number((b >> BigInt(32 * l)) & 0xffffffffn);
    if (!approxLaneOk(x, y)) return false;
  }
  return true;
}

/** Differences, with rcp/rsqrt register results compared within tolerance when `approx`. */
function compare(nat: Outcome, emu: Outcome, approx: boolean): string[] {
  if (approx && nat.kind === 'ok' && emu.kind === 'ok') {
    const e = { ...emu.state, xmm: emu.state.xmm.map((v, k) => (approxXmmOk(nat.state.xmm[k]!, v) ? nat.state.xmm[k]! : v)) };
    return diffOutcomes(nat, { kind: 'ok', state: e }, {});
  }
  return diffOutcomes(nat, emu, {});
}

function describeCase(t: TestCase): string {
  const x = t.init.xmm.map((v, k) => `xmm${k}=${v.toString(16).padStart(32, '0')}`).join(' ');
  return `${disassemble(t.code) || hexBytes(t.code)}\n  mxcsr=0x${t.init.mxcsr.toString(16)} ${x}`;
}

// ------------------------------------------------------------------ programs over value pairs

const IN = 0x0000, OUT = 0x8000, MX = 0xff00, STRIDE = 32;

/** disp32 little-endian bytes. */
const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];

interface Group {
  /** The operands, 16 bytes each: loaded into xmm0 and xmm1 (and [rsi+off+16] is the memory form's operand). */
  a: bigint;
  b: bigint;
  mxcsr: number;
  /** Per-group immediate, for `op` to use. */
  imm?: number;
}

/**
 * Run `op` (code bytes operating on xmm0 ← xmm0 op xmm1 / [rsi+disp] etc.) over groups, natively and
 * emulated, 200 groups per case. `op(k)` returns the bytes for group k (its operand b is at
 * [rsi + k*32 + 16]). After it: xmm0 → out[k], mxcsr → out[k]+16, rax → out[k]+20, rflags → out[k]+28 (low 4 bytes).
 */
function runGroups(groups: Group[], op: (off: number, g: Group) => number[], approx = false): string[] {
  const per = 200;
  const cases: TestCase[] = [];
  for (let g0 = 0; g0 < groups.length; g0 += per) {
    const init = zeroState();
    const data = init.data;
    const dv = new DataView(data.buffer);
    const code: number[] = [];
    const n = Math.min(per, groups.length - g0);
    for (let k = 0; k < n; k++) {
      const g = groups[g0 + k]!;
      const off = IN + k * STRIDE, out = OUT + k * STRIDE;
      putXmm(data, off, g.a);
      putXmm(data, off + 16, g.b);
      dv.setUint32(MX + 4 * (k & 31), g.mxcsr, true);
      code.push(0x0f, 0xae, 0x93, ...le32(MX + 4 * (k & 31))); // ldmxcsr [rbx + mx]
      code.push(0x0f, 0x10, 0x86, ...le32(off)); // movups xmm0, [rsi + off]
      code.push(0x0f, 0x10, 0x8e, ...le32(off + 16)); // movups xmm1, [rsi + off + 16]
      code.push(0x31, 0xc0); // xor eax, eax
      code.push(...op(off + 16, g));
      code.push(0x0f, 0x11, 0x87, ...le32(out)); // movups [rdi + out], xmm0
      code.push(0x0f, 0xae, 0x9f, ...le32(out + 16)); // stmxcsr [rdi + out + 16]
      code.push(0x48, 0x89, 0x87, ...le32(out + 20)); // mov [rdi + out + 20], rax
      code.push(0x9c, 0x58); // pushfq; pop rax
      code.push(0x89, 0x87, ...le32(out + 28)); // mov [rdi + out + 28], eax
    }
    init.gpr[6] = BigInt(DATA_ADDR); // rsi
    init.gpr[7] = BigInt(DATA_ADDR); // rdi
    init.gpr[3] = BigInt(DATA_ADDR); // rbx
    cases.push({ code: new Uint8Array(code), init });
  }
  const nat = runNative(cases);
  const errs: string[] = [];
  cases.forEach((t, c) => {
    const emu = runEmulated(t.code, t.init);
    const n = nat[c]!;
    if (n.kind !== 'ok' || emu.kind !== 'ok') {
      errs.push(...diffOutcomes(n, emu));
      return;
    }
    const a = n.state.data, b = emu.state.data;
    for (let k = 0; k * STRIDE + OUT < OUT + per * STRIDE && c * per + k < groups.length; k++) {
      const o = OUT + k * STRIDE;
      const ea = a.subarray(o, o + STRIDE), eb = b.subarray(o, o + STRIDE);
      if (Buffer.compare(ea, eb) === 0) continue;
      if (approx) {
        const va = new DataView(ea.buffer, ea.byteOffset), vb = new DataView(eb.buffer, eb.byteOffset);
        let ok = Buffer.compare(ea.subarray(16), eb.subarray(16)) === 0;
        for (let l = 0; l < 4 && ok; l++) ok = approxLaneOk(va.getUint32(4 * l, true), vb.getUint32(4 * l, true));
        if (ok) continue;
      }
      const g = groups[c * per + k]!;
      const h = (x: Uint8Array): string => {
        const v = new DataView(x.buffer, x.byteOffset);
        return `xmm0=${v.getBigUint64(8, true).toString(16).padStart(16, '0')}:${v.getBigUint64(0, true).toString(16).padStart(16, '0')} mxcsr=${v.getUint32(16, true).toString(16)} rax=${v.getBigUint64(20, true).toString(16)} fl=${(v.getUint32(28, true) & 0x8d5).toString(16)}`;
      };
      errs.push(`group a=${g.a.toString(16)} b=${g.b.toString(16)} mxcsr=${g.mxcsr.toString(16)}:\n   native   ${h(ea)}\n   emulated ${h(eb)}`);
      if (errs.length > 20) break;
    }
  });
  return errs;
}

const MXCSRS = [0x1f80, 0x3f80, 0x5f80, 0x7f80, 0x1fc0, 0x9f80, 0x9fc0, 0xff80 & 0xffff, 0x1f80 | 0x3f];

/** All pairs (x, y) from a list, lanes of `size` bits, packed `lanes` per operand. */
function pairGroups(vals: bigint[], size: number, lanes: number, mxcsrs = MXCSRS): Group[] {
  const pairs: Array<[bigint, bigint]> = [];
  for (const x of vals) for (const y of vals) pairs.push([x, y]);
  const out: Group[] = [];
  for (const mx of mxcsrs) {
    for (let p = 0; p < pairs.length; p += lanes) {
      let a = 0n, b = 0n;
      for (let l = 0; l < lanes; l++) {
        const [x, y] = pairs[(p + l) % pairs.length]!;
        a |= x << BigInt(size * l);
        b |= y << BigInt(size * l);
      }
      // The lanes a scalar op does not touch carry a marker.
      if (lanes === 1) {
        const high = ~((1n << BigInt(size)) - 1n);
        a |= 0x0123456789abcdef_fedcba9876543210n & high;
        b |= 0xfedcba98765432100123456789abcdefn & high;
      }
      out.push({ a, b, mxcsr: mx });
    }
  }
  return out;
}

/** Groups for a one-operand instruction: the source (b) takes each value, under each MXCSR. */
function unaryGroups(vals: bigint[], size: number, lanes: number, mxcsrs = MXCSRS): Group[] {
  const out: Group[] = [];
  const marker = 0x0123456789abcdef_fedcba9876543210n;
  for (const mx of mxcsrs) {
    for (let p = 0; p < vals.length; p += lanes) {
      let b = lanes === 1 ? 0xfedcba98765432100123456789abcdefn & ~((1n << BigInt(size)) - 1n) : 0n;
      for (let l = 0; l < lanes; l++) b |= vals[(p + l) % vals.length]! << BigInt(size * l);
      out.push({ a: marker, b, mxcsr: mx });
    }
  }
  return out;
}

/** MXCSR settings for the packed forms (the scalar forms get all of MXCSRS). */
const PACKED_MXCSRS = [0x1f80, 0x7f80, 0x9fc0];

const S32 = SPECIAL32.map((v) => BigInt(v >>> 0));

/** Encoding helpers for the groups: OP xmm0, xmm1 (register) or OP xmm0, [rsi + off] (memory). */
const regOp = (bytes: number[]) => (): number[] => [...bytes, 0xc1];
const memOp = (bytes: number[]) => (off: number): number[] => [...bytes, 0x86, ...le32(off)];

d('SSE numerics against the host', () => {
  const arith = [
    ['add', 0x58], ['mul', 0x59], ['sub', 0x5c], ['min', 0x5d], ['div', 0x5e], ['max', 0x5f],
  ] as const;
  for (const [name, op] of arith) {
    it(`${name}ss / ${name}ps: special-value pairs, all rounding modes, DAZ, FTZ`, () => {
      expect(runGroups(pairGroups(S32, 32, 1), regOp([0xf3, 0x0f, op]))).toEqual([]);
      expect(runGroups(pairGroups(S32, 32, 4, PACKED_MXCSRS), memOp([0x0f, op]))).toEqual([]);
    });
    it(`${name}sd / ${name}pd: special-value pairs, all rounding modes, DAZ, FTZ`, () => {
      expect(runGroups(pairGroups(SPECIAL64, 64, 1), memOp([0xf2, 0x0f, op]))).toEqual([]);
      expect(runGroups(pairGroups(SPECIAL64, 64, 2, PACKED_MXCSRS), regOp([0x66, 0x0f, op]))).toEqual([]);
    });
  }

  it('arithmetic on random operands with tiny, huge and cancelling results', () => {
    const rng = makeRng(SEED + 7);
    const groups32: Group[] = [], groups64: Group[] = [];
    for (let k = 0; k < 25 * FUZZ; k++) {
      // Exponents clustered at the edges of the range and close to each other.
      const e = pick(rng, [1, 2, 20, 60, 100, 127, 150, 200, 240, 253, 254]);
      const x = ((rng() < 0.5 ? 0x80000000 : 0) | (e << 23) | ri(rng, 1 << 23)) >>> 0;
      const e2 = Math.max(0, Math.min(254, pick(rng, [e, e - 1, e + 1, 254 - e, 127 - (e - 127), 127, 0, 24, 230])));
      const y = ((rng() < 0.5 ? 0x80000000 : 0) | (e2 << 23) | (rng() < 0.3 ? x & 0x7fffff : ri(rng, 1 << 23))) >>> 0;
      groups32.push({ a: BigInt(x), b: BigInt(y), mxcsr: pick(rng, MXCSRS) });
      const E = pick(rng, [1, 2, 50, 500, 1023, 1500, 2000, 2045, 2046]);
      const X = ((rng() < 0.5 ? 1n << 63n : 0n) | (BigInt(E) << 52n) | (BigInt(u32(rng) & 0xfffff) << 32n) | BigInt(u32(rng)));
      const E2 = Math.max(0, Math.min(2046, pick(rng, [E, E - 1, E + 1, 2046 - E, 1023 - (E - 1023), 1023, 0, 53, 2000])));
      const Y = ((rng() < 0.5 ? 1n << 63n : 0n) | (BigInt(E2) << 52n) | (rng() < 0.3 ? X & 0xfffffffffffffn : (BigInt(u32(rng) & 0xfffff) << 32n) | BigInt(u32(rng))));
      groups64.push({ a: X, b: Y, mxcsr: pick(rng, MXCSRS) });
    }
    for (const op of [0x58, 0x59, 0x5c, 0x5e]) {
      expect(runGroups(groups32, regOp([0xf3, 0x0f, op]))).toEqual([]);
      expect(runGroups(groups64, regOp([0xf2, 0x0f, op]))).toEqual([]);
    }
    expect(runGroups(groups32, regOp([0xf3, 0x0f, 0x51]))).toEqual([]);
    expect(runGroups(groups64, regOp([0xf2, 0x0f, 0x51]))).toEqual([]);
  });

  it('sqrt, rcp and rsqrt (ss, ps, sd, pd) on special values', () => {
    const single = unaryGroups(S32, 32, 1);
    const packed = unaryGroups(S32, 32, 4);
    expect(runGroups(single, regOp([0xf3, 0x0f, 0x51]))).toEqual([]);
    expect(runGroups(packed, memOp([0x0f, 0x51]))).toEqual([]);
    expect(runGroups(unaryGroups(SPECIAL64, 64, 1), regOp([0xf2, 0x0f, 0x51]))).toEqual([]);
    expect(runGroups(unaryGroups(SPECIAL64, 64, 2), memOp([0x66, 0x0f, 0x51]))).toEqual([]);
    expect(runGroups(single, regOp([0xf3, 0x0f, 0x52]), true)).toEqual([]);
    expect(runGroups(packed, memOp([0x0f, 0x52]), true)).toEqual([]);
    expect(runGroups(single, regOp([0xf3, 0x0f, 0x53]), true)).toEqual([]);
    expect(runGroups(packed, memOp([0x0f, 0x53]), true)).toEqual([]);
  });

  it('cmpss/cmpps/cmpsd/cmppd: all 8 predicates (and imm8 bits 3-7 ignored)', () => {
    // Every predicate per group (imm), DAZ on some.
    const preds = [0, 1, 2, 3, 4, 5, 6, 7, 0x0d];
    const withPreds = (g: Group[]): Group[] => g.map((x, k) => ({ ...x, imm: preds[k % preds.length]!, mxcsr: k % 5 === 0 ? 0x1fc0 : 0x1f80 }));
    const g32 = withPreds(pairGroups(S32, 32, 1, [0x1f80, 0x1f80]));
    const g64 = withPreds(pairGroups(SPECIAL64, 64, 1, [0x1f80, 0x1f80]));
    expect(runGroups(g32, (off, g) => [0xf3, 0x0f, 0xc2, 0x86, ...le32(off), g.imm!])).toEqual([]);
    expect(runGroups(g64, (_, g) => [0xf2, 0x0f, 0xc2, 0xc1, g.imm!])).toEqual([]);
    // Packed: every pair under every predicate.
    const all = (g: Group[]): Group[] => preds.flatMap((p) => g.map((x) => ({ ...x, imm: p })));
    expect(runGroups(all(pairGroups(S32, 32, 4, [0x1f80])), (_, g) => [0x0f, 0xc2, 0xc1, g.imm!])).toEqual([]);
    expect(runGroups(all(pairGroups(SPECIAL64, 64, 2, [0x1f80])), (off, g) => [0x66, 0x0f, 0xc2, 0x86, ...le32(off), g.imm!])).toEqual([]);
  });

  it('comiss/ucomiss/comisd/ucomisd set ZF/PF/CF, clear OF/SF/AF', () => {
    const g32 = pairGroups(S32, 32, 1, [0x1f80, 0x1fc0]);
    const g64 = pairGroups(SPECIAL64, 64, 1, [0x1f80, 0x1fc0]);
    // Set OF/SF/AF first (cmp al, 0x81 with al=0 … simpler: add to get flags), then compare.
    const pre = [0xb0, 0x7f, 0x04, 0x01]; // mov al, 0x7f; add al, 1 → OF, SF, AF set
    expect(runGroups(g32, () => [...pre, 0x0f, 0x2f, 0xc1])).toEqual([]);
    expect(runGroups(g32, (off) => [...pre, 0x0f, 0x2e, 0x86, ...le32(off)])).toEqual([]);
    expect(runGroups(g64, () => [...pre, 0x66, 0x0f, 0x2f, 0xc1])).toEqual([]);
    expect(runGroups(g64, (off) => [...pre, 0x66, 0x0f, 0x2e, 0x86, ...le32(off)])).toEqual([]);
  });

  it('float ↔ float conversions (cvtss2sd, cvtsd2ss, cvtps2pd, cvtpd2ps)', () => {
    const all64 = [...SPECIAL64, 0x380fffffe0000000n, 0x380ffffff0000000n, 0x3810000010000000n, 0x47efffffefffffffn, 0x47effffff0000000n];
    const g64 = unaryGroups(all64, 64, 1);
    const p64 = unaryGroups(all64, 64, 2);
    expect(runGroups(g64, regOp([0xf2, 0x0f, 0x5a]))).toEqual([]);
    expect(runGroups(p64, memOp([0x66, 0x0f, 0x5a]))).toEqual([]);
    expect(runGroups(unaryGroups(S32, 32, 1), memOp([0xf3, 0x0f, 0x5a]))).toEqual([]);
    expect(runGroups(unaryGroups(S32, 32, 4), regOp([0x0f, 0x5a]))).toEqual([]);
  });

  it('float → int conversions honour RC (cvt*) or truncate (cvtt*), integer indefinite on overflow/NaN', () => {
    const extra32 = [0x3f000001, 0xbf000000, 0xbfc00000, 0x4e800000, 0xcf000000, 0x4f7fffff, 0x3e800000].map((v) => BigInt(v >>> 0));
    const extra64 = [0x41dfffffffffffffn, 0xc1e00000001fffffn, 0x43dfffffffffffffn, 0x41e0000000100000n, 0xbfe0000000000001n, 0x4330000000000001n];
    const g32 = unaryGroups([...S32, ...extra32], 32, 1);
    const g64 = unaryGroups([...SPECIAL64, ...extra64], 64, 1);
    for (const [pfx, g] of [[0xf3, g32], [0xf2, g64]] as const) {
      for (const op of [0x2c, 0x2d]) {
        expect(runGroups(g, () => [pfx, 0x0f, op, 0xc1])).toEqual([]); // cvt(t)s?2si eax, xmm1
        expect(runGroups(g, (off) => [pfx, 0x48, 0x0f, op, 0x86, ...le32(off)])).toEqual([]); // rax, [mem]
      }
    }
    const p32 = unaryGroups([...S32, ...extra32], 32, 4);
    const p64 = unaryGroups([...SPECIAL64, ...extra64], 64, 2);
    expect(runGroups(p32, regOp([0x66, 0x0f, 0x5b]))).toEqual([]); // cvtps2dq
    expect(runGroups(p32, memOp([0xf3, 0x0f, 0x5b]))).toEqual([]); // cvttps2dq
    expect(runGroups(p64, regOp([0xf2, 0x0f, 0xe6]))).toEqual([]); // cvtpd2dq
    expect(runGroups(p64, memOp([0x66, 0x0f, 0xe6]))).toEqual([]); // cvttpd2dq
  });

  it('int → float conversions (cvtsi2ss/sd from r32, r64, m32, m64; cvtdq2ps; cvtdq2pd)', () => {
    const ints = [0n, 1n, 0xffffffffn, 0x7fffffffn, 0x80000000n, 0x80000001n, 0x00ffffffn, 0x01000001n, 0x7fffffc0n, 0x7fffff80n,
      0xffffffff_ffffffffn, 0x7fffffff_ffffffffn, 0x80000000_00000000n, 0x80000000_00000001n, 0x001fffff_ffffffffn, 0x00200000_00000001n,
      0xffe00000_00000001n, 0x12345678_9abcdef1n, 0x00000001_00000001n, 0xfffffffe_00000000n, 0x7fffff80_00000000n, 0x7fffffc0_00000001n];
    const rng = makeRng(3);
    for (let k = 0; k < 30; k++) ints.push((BigInt(u32(rng)) << 32n) | BigInt(u32(rng)), BigInt(u32(rng)));
    const g = unaryGroups(ints, 64, 1);
    for (const pfx of [0xf3, 0xf2]) {
      expect(runGroups(g, (off) => [0x48, 0x8b, 0x86, ...le32(off), pfx, 0x0f, 0x2a, 0xc0])).toEqual([]); // mov rax,[b]; cvtsi2s? xmm0, eax
      expect(runGroups(g, (off) => [0x48, 0x8b, 0x86, ...le32(off), pfx, 0x48, 0x0f, 0x2a, 0xc0])).toEqual([]); // rax
      expect(runGroups(g, (off) => [pfx, 0x0f, 0x2a, 0x86, ...le32(off)])).toEqual([]); // m32
      expect(runGroups(g, (off) => [pfx, 0x48, 0x0f, 0x2a, 0x86, ...le32(off)])).toEqual([]); // m64
    }
    const p = unaryGroups(ints, 64, 2);
    expect(runGroups(p, regOp([0x0f, 0x5b]))).toEqual([]);
    expect(runGroups(p, memOp([0xf3, 0x0f, 0xe6]))).toEqual([]);
  });
});

d('SSE2 integer instructions on boundary values', () => {
  const rng = makeRng(SEED + 21);
  /** Vectors of boundary bytes/words/dwords, both operands. */
  const vec = (): bigint => {
    const k = ri(rng, 3);
    let v = 0n;
    if (k === 0) for (let l = 0; l < 16; l++) v |= BigInt(pick(rng, BYTES)) << BigInt(8 * l);
    else if (k === 1) for (let l = 0; l < 8; l++) v |= BigInt(pick(rng, WORDS)) << BigInt(16 * l);
    else for (let l = 0; l < 4; l++) v |= BigInt(pick(rng, [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x7fff, 0x8000, 0xffff8000, 0x00008000, 0xfffe, u32(rng)]) >>> 0) << BigInt(32 * l);
    return v;
  };
  const groups: Group[] = [];
  for (let k = 0; k < 400; k++) groups.push({ a: vec(), b: vec(), mxcsr: 0x1f80 });
  const ops = [
    0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x74, 0x75, 0x76,
    0xd4, 0xd5, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xe3, 0xe4, 0xe5, 0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed, 0xee, 0xef,
    0xf4, 0xf5, 0xf6, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe,
  ];
  it('binary ops (packs, unpacks, compares, saturating and wrapping arithmetic, multiplies, psadbw, pavg, min/max)', () => {
    for (const op of ops) expect([op.toString(16), ...runGroups(groups, rng() < 0.5 ? regOp([0x66, 0x0f, op]) : memOp([0x66, 0x0f, op]))]).toEqual([op.toString(16)]);
  });
  it('shifts by xmm/m128 with counts below, at and beyond the element width (only the low 64 bits count)', () => {
    const counts = [...SHIFT_COUNTS.map(BigInt), 1n << 32n, (1n << 32n) | 3n, 1n << 63n, MASK64];
    const g: Group[] = [];
    for (const cnt of counts) for (let k = 0; k < 6; k++) g.push({ a: vec(), b: cnt | (BigInt(u32(rng)) << 64n) | (BigInt(u32(rng)) << 96n), mxcsr: 0x1f80 });
    for (const op of [0xd1, 0xd2, 0xd3, 0xe1, 0xe2, 0xf1, 0xf2, 0xf3]) {
      expect([op.toString(16), ...runGroups(g, regOp([0x66, 0x0f, op]))]).toEqual([op.toString(16)]);
      expect([op.toString(16), ...runGroups(g, memOp([0x66, 0x0f, op]))]).toEqual([op.toString(16)]);
    }
  });
  it('shifts by imm8 (66 0F 71/72/73 groups, pslldq/psrldq) with every count', () => {
    const g: Group[] = [];
    for (let n = 0; n < 256; n += n < 70 ? 1 : 37) for (let k = 0; k < 4; k++) g.push({ ...groups[k]!, imm: n });
    for (const [op, ext] of [[0x71, 2], [0x71, 4], [0x71, 6], [0x72, 2], [0x72, 4], [0x72, 6], [0x73, 2], [0x73, 3], [0x73, 6], [0x73, 7]] as const) {
      expect([op, ext, ...runGroups(g, (_, x) => [0x66, 0x0f, op, 0xc0 | (ext << 3), x.imm!])]).toEqual([op, ext]);
    }
  });
});

// ------------------------------------------------------------------ coverage fuzz over the table

/** Specs whose handlers depend on the operand size (REX.W): exercise both. */
const usesW = (s: OpSpec): boolean => s.make !== undefined;
const isApprox = (s: OpSpec): boolean => /^r(cp|sqrt)[ps]s$/.test(s.name);
const SHIFT_COUNTS = [0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 255];

interface Gen {
  code: Uint8Array;
  init: MachineState;
}

/**
 * A random encoding of `spec` and a state for it. Memory operands use a base
 * register (not RSP/R12) plus disp8 pointing into the data area: 16-aligned,
 * misaligned, or crossing the end of the area into the unmapped guard page.
 */
function genCase(spec: OpSpec, rng: () => number, data: Uint8Array): Gen {
  const init = randomState(rng, data);
  for (let k = 0; k < 16; k++) init.xmm[k] = xmmValue(rng);
  init.mxcsr = randMxcsr(rng);
  const bytes: number[] = [];
  if (spec.prefix) bytes.push(spec.prefix);
  const mem = spec.mod === 'mem' ? true : spec.mod === 'reg' ? false : rng() < 0.5;
  const w = spec.rexW ?? (usesW(spec) ? rng() < 0.5 : rng() < 0.1);
  const reg = spec.ext !== undefined ? spec.ext : ri(rng, 16);
  let rex = 0x40 | (w ? 8 : 0) | (reg & 8 ? 4 : 0);
  let modrm: number;
  const tail: number[] = [];
  let addr = 0;
  if (mem) {
    const base = pick(rng, [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15]);
    rex |= base & 8 ? 1 : 0;
    modrm = 0x40 | ((reg & 7) << 3) | (base & 7);
    const r = rng();
    if (r < 0.7) addr = DATA_ADDR + 0x1000 + 16 * ri(rng, 0x800);
    else if (r < 0.9) addr = DATA_ADDR + 0x1000 + 16 * ri(rng, 0x800) + pick(rng, [1, 2, 4, 8, 12, 15]);
    else addr = DATA_ADDR + DATA_SIZE - pick(rng, [16, 8, 4, 2, 1, 12]); // at the end, maybe crossing into the guard page
    const disp = 16 * ri(rng, 8) - 64;
    init.gpr[base] = BigInt(addr - disp);
    tail.push(disp & 0xff);
  } else {
    const rm = ri(rng, 16);
    rex |= rm & 8 ? 1 : 0;
    modrm = 0xc0 | ((reg & 7) << 3) | (rm & 7);
  }
  if (rex !== 0x40 || rng() < 0.2) bytes.push(rex);
  bytes.push(0x0f, spec.op, modrm, ...tail);
  if (spec.imm) bytes.push(spec.ext !== undefined || /^ps[lr]/.test(spec.name) ? pick(rng, SHIFT_COUNTS) : ri(rng, 256));
  if (spec.name === 'maskmovdqu') {
    init.gpr[7] = BigInt(rng() < 0.8 ? DATA_ADDR + 0x2000 + ri(rng, 0x1000) : DATA_ADDR + DATA_SIZE - 8);
  }
  if (spec.name === 'ldmxcsr') {
    // A valid value most of the time; sometimes reserved bits (→ #GP).
    // (The data area is shared by the batch; both sides see its final contents.)
    const v = rng() < 0.8 ? randMxcsr(rng) ^ (rng() < 0.3 ? ri(rng, 64) << 7 : 0) : randMxcsr(rng) | (1 << pick(rng, [16, 18, 20, 31]));
    if (addr >= DATA_ADDR && addr + 4 <= DATA_ADDR + DATA_SIZE) {
      new DataView(data.buffer).setUint32(addr - DATA_ADDR, v >>> 0, true);
    }
  }
  return { code: new Uint8Array(bytes), init };
}

/** Fill the data area with register-like values. */
function fillData(rng: () => number): Uint8Array {
  const data = new Uint8Array(DATA_SIZE);
  for (let off = 0; off < DATA_SIZE; off += 16) putXmm(data, off, xmmValue(rng));
  return data;
}

d('every SSE/SSE2 table entry against the host (random encodings and states)', () => {
  it('decodes each generated encoding to its own entry', () => {
    const rng = makeRng(11);
    const mem = new PagedMemory(1 << 20);
    mem.map(0x400000, 0x1000, PROT_READ | PROT_EXEC);
    const c = new Cpu(mem);
    const data = fillData(rng);
    for (const spec of SSE_SPECS) {
      for (let k = 0; k < 8; k++) {
        const g = genCase(spec, rng, data);
        mem.writeBytes(0x400000, g.code);
        const i = decodeAt(c, 0x400000, 0);
        expect(`${i.name} (${hexBytes(g.code)})`).toBe(`${spec.name} (${hexBytes(g.code)})`);
        expect(i.len).toBe(g.code.length);
      }
    }
  });

  it(`${SSE_SPECS.length} entries × ${FUZZ} random cases match the host`, () => {
    const rng = makeRng(SEED);
    const failures: string[] = [];
    const perSpec = Math.max(4, FUZZ & ~3);
    // Batches share one data area (the harness sends it once).
    for (let b = 0; b < 4; b++) {
      const data = fillData(rng);
      const cases: Array<Gen & { spec: OpSpec }> = [];
      for (const spec of SSE_SPECS) for (let k = 0; k < perSpec / 4; k++) cases.push({ ...genCase(spec, rng, data), spec });
      const nat = runNative(cases);
      cases.forEach((t, k) => {
        const emu = runEmulated(t.code, t.init);
        const diff = compare(nat[k]!, emu, isApprox(t.spec));
        if (diff.length && failures.length < 30) failures.push(`${t.spec.name}: ${describeCase(t)}\n    ${diff.join('\n    ')}`);
      });
    }
    expect(failures).toEqual([]);
  });
});

// ------------------------------------------------------------------ faults

d('SSE faults against the host', () => {
  it('#XM for unmasked exceptions: which flags are reported, nothing written (lane combinations)', () => {
    const one = 0x3f800000n, snan = 0x7f800001n, den = 1n, big = 0x7f7fffffn, tiny = 0x00800000n, half = 0x3f000000n;
    /** Lane operand pairs that raise one kind of exception (for mulps/divps/addps). */
    const kinds: Array<[bigint, bigint]> = [
      [big, big], [tiny, tiny], [tiny, half], [0x00c00001n, 0x3f400001n], [snan, one], [0x7fc00000n, one], [den, 0x4b000000n],
      [one, 0x3eaaaaabn], [one, one], [one, 0n], [0n, 0n], [0x7f000000n, 0x40000001n],
    ];
    const L = (x: bigint, y: bigint, z: bigint): bigint => x | (y << 32n) | (z << 64n) | (one << 96n);
    const cases: TestCase[] = [];
    const rng = makeRng(SEED + 31);
    for (const op of [0x59, 0x5e, 0x58]) {
      for (const [a0, b0] of kinds) {
        for (const [a1, b1] of kinds) {
          const [a2, b2] = pick(rng, kinds);
          const init = zeroState();
          init.xmm[0] = L(a0, a1, a2);
          init.xmm[1] = L(b0, b1, b2);
          init.mxcsr = 0x1f80 & ~(0x80 << ri(rng, 6)) & ~(rng() < 0.3 ? 0x80 << ri(rng, 6) : 0);
          if (rng() < 0.3) init.mxcsr |= 0x40 | 0x8000;
          cases.push({ code: new Uint8Array([0x0f, op, 0xc1]), init });
        }
      }
    }
    // Scalar, double, comparison and conversion forms with IE, PE or DE unmasked.
    const snan64 = 0x7ff0000000000001n, qnan64 = 0x7ff8000000000000n, big64 = 0x7fefffffffffffffn, den64 = 1n;
    for (const [code, a, b] of [
      [[0xf2, 0x0f, 0x59, 0xc1], big64, big64], [[0xf2, 0x0f, 0x58, 0xc1], snan64, den64], [[0x66, 0x0f, 0x2f, 0xc1], qnan64, 0n],
      [[0x66, 0x0f, 0x2e, 0xc1], qnan64, 0n], [[0xf2, 0x48, 0x0f, 0x2d, 0xc1], 0n, 0x43e0000000000000n], [[0xf2, 0x0f, 0x2c, 0xc1], 0n, 0x3ff8000000000000n],
      [[0xf2, 0x0f, 0x5a, 0xc1], 0n, 0x3690000000000000n], [[0xf3, 0x0f, 0x5a, 0xc1], 0n, 0x7f800001n], [[0xf3, 0x48, 0x0f, 0x2a, 0xc0], 0n, 0n],
      [[0x0f, 0x5b, 0xc1], 0n, 0x7fffffffn], [[0x66, 0x0f, 0x51, 0xc1], 0n, 0xbff0000000000000n], [[0xf2, 0x0f, 0xc2, 0xc1, 1], qnan64, 0n],
    ] as Array<[number[], bigint, bigint]>) {
      for (let m = -1; m < 6; m++) {
        const init = zeroState();
        init.xmm[0] = a;
        init.xmm[1] = b;
        init.gpr[0] = 0x7fffffffffffffffn;
        init.mxcsr = m < 0 ? 0x1f80 : 0x1f80 & ~(0x80 << m);
        cases.push({ code: new Uint8Array(code), init });
      }
    }
    const nat = runNative(cases);
    const errs: string[] = [];
    cases.forEach((t, k) => {
      const diff = diffOutcomes(nat[k]!, runEmulated(t.code, t.init));
      if (diff.length && errs.length < 20) errs.push(`${describeCase(t)}\n    ${diff.join('\n    ')}`);
    });
    expect(errs).toEqual([]);
  });

  it('ldmxcsr: #GP(0) for reserved bits; stmxcsr round trip', () => {
    const cases: TestCase[] = [];
    for (const v of [0x1f80, 0xffff, 0x0000, 0x10000, 0x80000000, 0x1f80 | 0x40000, 0x7fbf]) {
      const init = zeroState();
      new DataView(init.data.buffer).setUint32(0x100, v >>> 0, true);
      init.gpr[3] = BigInt(DATA_ADDR + 0x100);
      // ldmxcsr [rbx]; stmxcsr [rbx+4]
      cases.push({ code: new Uint8Array([0x0f, 0xae, 0x13, 0x0f, 0xae, 0x5b, 0x04]), init });
    }
    const nat = runNative(cases);
    cases.forEach((t, k) => expect(diffOutcomes(nat[k]!, runEmulated(t.code, t.init))).toEqual([]));
  });
});

describe('SSE availability (emulated: CR0.TS → #NM, CR0.EM or no CR4.OSFXSR → #UD)', () => {
  it('every SSE/SSE2 table entry raises #NM when CR0.TS is set, before touching memory', () => {
    const rng = makeRng(5);
    const mem = new PagedMemory(1 << 20);
    mem.map(0x400000, 0x1000, PROT_READ | PROT_EXEC);
    const data = fillData(rng);
    for (const spec of SSE_SPECS) {
      for (const [cr0, cr4, want] of [[0x80050033 | 8, 0x6f8, NM], [0x80050033 | 4, 0x6f8, UD], [0x80050033, 0x6f8 & ~0x200, UD]] as const) {
        const g = genCase(spec, rng, data);
        mem.writeBytes(0x400000, g.code);
        const c = new Cpu(mem);
        c.flushCode();
        c.cr0 = cr0;
        c.cr4 = cr4;
        c.setRip(0x400000, 0);
        for (let k = 0; k < 16; k++) c.setReg64n(k, g.init.gpr[k]!);
        expect(c.step()).toBe(Exit.Exception);
        expect(`${spec.name}: vector ${c.excVector}`).toBe(`${spec.name}: vector ${want}`);
        expect(c.ripLo).toBe(0x400000);
      }
    }
  });

  it('every MMX table entry: #UD with CR0.EM, #NM with CR0.TS; only those with an XMM operand need CR4.OSFXSR', () => {
    const mem = new PagedMemory(1 << 20);
    mem.map(0x400000, 0x1000, PROT_READ | PROT_EXEC);
    mem.map(0x600000, 0x1000, PROT_READ | PROT_WRITE);
    const withXmm = /^(cvt|movq2dq|movdq2q)/;
    for (const spec of MMX_SPECS) {
      for (const mem_ of spec.mod === 'reg' ? [false] : spec.mod === 'mem' ? [true] : [false, true]) {
        const bytes: number[] = [];
        if (spec.prefix) bytes.push(spec.prefix);
        if (spec.rexW) bytes.push(0x48);
        bytes.push(0x0f, spec.op);
        if (spec.modrm) bytes.push(mem_ ? ((spec.ext ?? 1) << 3) | 3 : 0xc0 | ((spec.ext ?? 1) << 3) | 2);
        if (spec.imm) bytes.push(1);
        for (const [cr0, cr4, want] of [
          [0x80050033 | 8, 0x6f8, NM], [0x80050033 | 4, 0x6f8, UD], [0x80050033 | 0xc, 0x6f8, UD],
          [0x80050033, 0x6f8 & ~0x200, withXmm.test(spec.name) ? UD : -1], [0x80050033, 0x6f8, -1],
        ] as const) {
          mem.writeBytes(0x400000, new Uint8Array(bytes));
          const c = new Cpu(mem);
          c.flushCode();
          c.cr0 = cr0;
          c.cr4 = cr4;
          c.setRip(0x400000, 0);
          c.setReg64n(3, 0x600000n);
          c.setReg64n(7, 0x600100n);
          c.fpu.top = 3;
          c.fpu.valid = 0x18;
          const x = c.step();
          const what = `${spec.name} [${hexBytes(new Uint8Array(bytes))}] cr0=${cr0.toString(16)} cr4=${cr4.toString(16)}`;
          if (want < 0) {
            expect(`${what}: ${x}`).toBe(`${what}: ${Exit.Budget}`);
            // cvtpi2ps/cvtpi2pd from memory do not switch to MMX mode; emms empties the tags.
            const noSwitch = mem_ && /^cvtpi2p/.test(spec.name);
            expect([what, c.fpu.top, c.fpu.valid]).toEqual([what, noSwitch ? 3 : 0, noSwitch ? 0x18 : spec.name === 'emms' ? 0 : 0xff]);
          } else {
            expect(`${what}: ${x} vector ${c.excVector}`).toBe(`${what}: ${Exit.Exception} vector ${want}`);
            expect([c.ripLo, c.fpu.top, c.fpu.valid]).toEqual([0x400000, 3, 0x18]);
          }
        }
      }
    }
  });

  it('a misaligned movaps store faults #GP(0) with memory unchanged', () => {
    const mem = new PagedMemory(1 << 20);
    mem.map(0x400000, 0x1000, PROT_READ | PROT_EXEC);
    mem.map(0x600000, 0x1000, PROT_READ | PROT_WRITE);
    mem.writeBytes(0x400000, new Uint8Array([0x0f, 0x29, 0x43, 0x08])); // movaps [rbx+8], xmm0
    const c = new Cpu(mem);
    c.setRip(0x400000, 0);
    c.setReg64n(3, 0x600000n);
    c.xmm.fill(-1);
    expect(c.step()).toBe(Exit.Exception);
    expect([c.excVector, c.excCode]).toEqual([GP, 0]);
    expect([...mem.readBytes(0x600000, 32)].every((b) => b === 0)).toBe(true);
  });
});
