/**
 * SSE floating-point numerics, the x86 way, on raw bit patterns.
 *
 * Operands and results are bit patterns (binary32 as an int32; binary64 as a
 * (lo, hi) int32 pair, functions return lo and leave hi in `rhi`), so NaN
 * payloads never pass through JS numbers. Per instruction: `fpBegin(c)` reads
 * MXCSR (rounding control, DAZ, FTZ), the lane functions accumulate exception
 * flags in `fl`, and `fpEnd(c)` merges them into MXCSR or raises #XM (#UD
 * when CR4.OSXMMEXCPT is clear) for an unmasked exception, before the caller
 * writes any result.
 *
 * Fast paths use JS double arithmetic (correctly rounded; float32 results via
 * Math.fround of the double result are correctly rounded for + - * / sqrt) and
 * error-free transformations (TwoSum, Dekker's TwoProduct) to find the sign
 * of the rounding error, which gives the precision flag and directed
 * rounding. Whatever is near the edges (tiny or huge results, denormal
 * operands, results at the largest finite value) goes to an exact BigInt slow
 * path that rounds with an unbounded exponent first (x86 detects tininess
 * after rounding), then applies the denormal/FTZ/overflow rules.
 *
 * NaN rules (SDM vol. 1 table 4-7): the first source if it is a NaN, else the
 * second, quieted; an SNaN operand or an invalid operation sets IE; invalid
 * operations produce the default NaN (0xFFC00000 / 0xFFF8000000000000).
 * min/max return the second operand when either is a NaN (IE even for a
 * QNaN) or both are zero.
 *
 * Flag details below that the SDM leaves open were measured on the host
 * (test/sse.test.ts compares against it): a NaN operand hides the denormal
 * flag of the other operand; division by zero hides DE of the dividend; an
 * invalid sqrt of a negative denormal reports IE only; with DAZ, min/max
 * return the flushed operand even next to a NaN; with OM or UM unmasked, PE
 * reflects the rounding to the destination precision with an unbounded
 * exponent, and an unmasked pre-computation exception (IE/DE/ZE) reports only
 * the pre-computation flags of all lanes. rcp/rsqrt are computed exactly
 * rounded (within the architectural 1.5·2^-12), so they differ bitwise from
 * any real CPU's table-based approximations.
 */
import type { Cpu } from '../cpu.ts';
import { UD, XM } from '../state.ts';

export const IE = 1, DE = 2, ZE = 4, OE = 8, UE = 16, PE = 32;
export const ADD = 0, SUB = 1, MUL = 2, DIV = 3, MIN = 4, MAX = 5;

const SIGN = 0x80000000 | 0;
const INF32 = 0x7f800000;
const QUIET32 = 0x400000;
const NAN32 = 0xffc00000 | 0;
/** High half of the binary64 default NaN (low half 0). */
const NAN64_HI = 0xfff80000 | 0;
const INF64_HI = 0x7ff00000;
const QUIET64 = 0x80000;

const MIN32 = 1.1754943508222875e-38; // 2^-126
const MAX32 = 3.4028234663852886e38;
const MIN64 = 2.2250738585072014e-308; // 2^-1022
const MAX64 = Number.MAX_VALUE;
/** Bounds within which Dekker's TwoProduct is exact. */
const TP_LO = 2 ** -968;
const TP_HI = 2 ** 995;
/** Products up to this size cannot overflow inside TwoProduct. */
const TP_MAX = 2 ** 1020;

// ---------------------------------------------------------------- per-instruction state

/** Exception flags raised so far by the current instruction (MXCSR bits 0-5). */
let fl = 0;
/** High half of the last binary64 result. */
export let rhi = 0;
/** Rounding control (0 nearest, 1 down, 2 up, 3 toward zero). */
let rc = 0;
let daz = false;
/** FTZ applies only while underflow is masked. */
let ftz = false;
let umMasked = true;
let omMasked = true;

export function fpBegin(c: Cpu): void {
  const m = c.mxcsr;
  rc = (m >>> 13) & 3;
  daz = (m & 0x40) !== 0;
  umMasked = (m & 0x800) !== 0;
  omMasked = (m & 0x400) !== 0;
  ftz = (m & 0x8000) !== 0 && umMasked;
  fl = 0;
}

/**
 * Merge the flags into MXCSR. An unmasked exception raises #XM (or #UD when
 * CR4.OSXMMEXCPT is clear) with the flags set and nothing else changed: when
 * an unmasked pre-computation exception (IE, DE, ZE) occurred, only those
 * flags are reported.
 */
export function fpEnd(c: Cpu): void {
  const f = fl;
  if (f === 0) return;
  const m = c.mxcsr;
  const un = f & ~(m >>> 7) & 0x3f;
  if (un !== 0) {
    const pre = f & (IE | DE | ZE);
    c.mxcsr = m | ((un & pre) !== 0 ? pre : f);
    throw c.fault((c.cr4 & 0x400) !== 0 ? XM : UD);
  }
  c.mxcsr = m | f;
}

/** Set the rounding mode for a conversion that truncates (cvtt*): call after fpBegin. */
export function setTruncate(): void {
  rc = 3;
}

// ---------------------------------------------------------------- bit conversions

const cb = new ArrayBuffer(8);
const cI = new Int32Array(cb);
const cF = new Float32Array(cb);
const cD = new Float64Array(cb);

export function f32(b: number): number {
  cI[0] = b;
  return cF[0]!;
}
/** Bits of a (non-NaN) float32 value. */
export function b32(x: number): number {
  cF[0] = x;
  return cI[0]!;
}
export function f64(lo: number, hi: number): number {
  cI[0] = lo;
  cI[1] = hi;
  return cD[0]!;
}
/** Bits of a (non-NaN) double: returns lo, hi in rhi. */
export function b64(x: number): number {
  cD[0] = x;
  rhi = cI[1]!;
  return cI[0]!;
}

export function isNaN64(lo: number, hi: number): boolean {
  const h = hi & 0x7fffffff;
  return h > INF64_HI || (h === INF64_HI && lo !== 0);
}
function isSNaN64(lo: number, hi: number): boolean {
  return isNaN64(lo, hi) && (hi & QUIET64) === 0;
}

// ---------------------------------------------------------------- directed rounding helpers

/**
 * Adjust a round-to-nearest result (bits of a normal float32 strictly between
 * the smallest normal and the largest finite value) for the current rounding
 * mode, given the sign of (exact - result).
 */
function dir32(bits: number, s: number): number {
  const neg = bits < 0;
  switch (rc) {
    case 0: return bits;
    case 1: return s < 0 ? (neg ? bits + 1 : bits - 1) : bits;
    case 2: return s > 0 ? (neg ? bits - 1 : bits + 1) : bits;
    default: return (neg ? s > 0 : s < 0) ? bits - 1 : bits;
  }
}

/** Same for binary64 bits (lo, hi): returns lo, hi in rhi. */
function dir64(lo: number, hi: number, s: number): number {
  const neg = hi < 0;
  let d = 0;
  switch (rc) {
    case 1: if (s < 0) d = neg ? 1 : -1; break;
    case 2: if (s > 0) d = neg ? -1 : 1; break;
    case 3: if (neg ? s > 0 : s < 0) d = -1; break;
  }
  if (d === 1) {
    rhi = lo === -1 ? (hi + 1) | 0 : hi;
    return (lo + 1) | 0;
  }
  if (d === -1) {
    rhi = lo === 0 ? (hi - 1) | 0 : hi;
    return (lo - 1) | 0;
  }
  rhi = hi;
  return lo;
}

/** Result for an exact double value (normal range) after the precision flag: bits with directed rounding. */
function fin64(r: number, s: number): number {
  const lo = b64(r);
  if (s === 0) return lo;
  fl |= PE;
  return rc === 0 ? lo : dir64(lo, rhi, s);
}

// ---------------------------------------------------------------- exact slow path (BigInt)

let uNeg = false;
let uM = 0n;
let uE = 0;

/** Unpack a finite binary32 (fmt 0) or binary64 (fmt 1) into sign, integer significand and exponent. */
function unpack(fmt: number, v: bigint): void {
  if (fmt === 0) {
    uNeg = (v & 0x80000000n) !== 0n;
    const E = Number((v >> 23n) & 0xffn);
    const f = v & 0x7fffffn;
    if (E === 0) { uM = f; uE = -149; }
    else { uM = f | 0x800000n; uE = E - 150; }
  } else {
    uNeg = (v >> 63n) !== 0n;
    const E = Number((v >> 52n) & 0x7ffn);
    const f = v & 0xfffffffffffffn;
    if (E === 0) { uM = f; uE = -1074; }
    else { uM = f | 0x10000000000000n; uE = E - 1075; }
  }
}

function bitLen(m: bigint): number {
  return m === 0n ? 0 : m.toString(2).length;
}

let rInexact = false;

/** Round m * 2^e to an integer multiple of 2^shift relative to m (shift right by `shift`), current mode. */
function rnd(m: bigint, shift: number, sticky: boolean, neg: boolean): bigint {
  let q: bigint, half: boolean, rest: boolean;
  if (shift <= 0) {
    q = m << BigInt(-shift);
    half = false;
    rest = sticky;
  } else {
    const sh = BigInt(shift);
    q = m >> sh;
    const rem = m & ((1n << sh) - 1n);
    half = ((rem >> (sh - 1n)) & 1n) === 1n;
    rest = (rem & ((1n << (sh - 1n)) - 1n)) !== 0n || sticky;
  }
  rInexact = half || rest;
  if (!rInexact) return q;
  let up: boolean;
  switch (rc) {
    case 0: up = half && (rest || (q & 1n) === 1n); break;
    case 1: up = neg; break;
    case 2: up = !neg; break;
    default: up = false;
  }
  return up ? q + 1n : q;
}

/**
 * Round the exact value (-1)^neg * (m + sticky·ε) * 2^e (m > 0) to binary32
 * (fmt 0) or binary64 (fmt 1) bits, raising OE/UE/PE.
 */
export function roundPack(fmt: number, neg: boolean, m: bigint, e: number, sticky: boolean): bigint {
  const p = fmt === 0 ? 24 : 53;
  const emin = fmt === 0 ? -126 : -1022;
  const emax = fmt === 0 ? 127 : 1023;
  const bias = fmt === 0 ? 127 : 1023;
  const signBit = neg ? (fmt === 0 ? 0x80000000n : 1n << 63n) : 0n;
  const n = bitLen(m);
  let q = rnd(m, n - p, sticky, neg);
  const inexact = rInexact;
  let lsb = e + n - p;
  if (q === 1n << BigInt(p)) {
    q >>= 1n;
    lsb++;
  }
  const E = lsb + p - 1;
  // With the exception unmasked no result is delivered: PE then reflects the
  // rounding to the destination precision with an unbounded exponent (measured).
  if (E > emax && !omMasked) {
    fl |= inexact ? OE | PE : OE;
    return signBit;
  }
  if (E < emin && !umMasked) {
    fl |= inexact ? UE | PE : UE;
    return signBit;
  }
  if (E > emax) {
    fl |= OE | PE;
    const toInf = rc === 0 || (rc === 1 && neg) || (rc === 2 && !neg);
    const expAll = fmt === 0 ? 0xffn : 0x7ffn;
    if (toInf) return signBit | (expAll << BigInt(p - 1));
    return signBit | ((expAll << BigInt(p - 1)) - 1n);
  }
  if (E < emin) {
    if (ftz) {
      fl |= UE | PE;
      return signBit;
    }
    const d = rnd(m, emin - p + 1 - e, sticky, neg);
    if (rInexact) fl |= UE | PE;
    return signBit | d;
  }
  if (inexact) fl |= PE;
  return signBit | (BigInt(E + bias) << BigInt(p - 1)) | (q & ((1n << BigInt(p - 1)) - 1n));
}

function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt((bitLen(n) + 1) >> 1);
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

/** Exact op on finite operands (bits as BigInt; zeros allowed for add/mul), rounded. */
function slowOp(fmt: number, op: number, a: bigint, b: bigint): bigint {
  unpack(fmt, a);
  const an = uNeg, am = uM, ae = uE;
  unpack(fmt, b);
  const bn = uNeg, bm = uM, be = uE;
  const signBit = fmt === 0 ? 0x80000000n : 1n << 63n;
  switch (op) {
    case ADD:
    case SUB: {
      const bneg = op === SUB ? !bn : bn;
      const e = Math.min(ae, be);
      const A = am << BigInt(ae - e), B = bm << BigInt(be - e);
      const M = (an ? -A : A) + (bneg ? -B : B);
      if (M === 0n) return (am === 0n && bm === 0n && an === bneg ? an : rc === 1) ? signBit : 0n;
      return roundPack(fmt, M < 0n, M < 0n ? -M : M, e, false);
    }
    case MUL:
      if (am === 0n || bm === 0n) return an !== bn ? signBit : 0n;
      return roundPack(fmt, an !== bn, am * bm, ae + be, false);
    case DIV: {
      const p = fmt === 0 ? 24 : 53;
      const k = Math.max(0, p + 3 + bitLen(bm) - bitLen(am));
      const num = am << BigInt(k);
      return roundPack(fmt, an !== bn, num / bm, ae - be - k, num % bm !== 0n);
    }
    default: {
      // sqrt of a (positive, nonzero)
      const p = fmt === 0 ? 24 : 53;
      let m = am, e = ae;
      if (e & 1) {
        m <<= 1n;
        e -= 1;
      }
      const k = Math.max(0, Math.ceil((2 * p + 4 - bitLen(m)) / 2));
      const M = m << BigInt(2 * k);
      const s = isqrt(M);
      return roundPack(fmt, false, s, (e - 2 * k) / 2, s * s !== M);
    }
  }
}

const SQRT = 6;

function slow32(op: number, a: number, b: number): number {
  return Number(slowOp(0, op, BigInt(a >>> 0), BigInt(b >>> 0))) | 0;
}

function big64(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

function split64(v: bigint): number {
  rhi = Number(v >> 32n) | 0;
  return Number(v & 0xffffffffn) | 0;
}

function slow64(op: number, aLo: number, aHi: number, bLo: number, bHi: number): number {
  return split64(slowOp(1, op, big64(aLo, aHi), big64(bLo, bHi)));
}

// ---------------------------------------------------------------- binary32 arithmetic

/** add/sub/mul/div/min/max on binary32 bits. */
export function arith32(op: number, a: number, b: number): number {
  let aa = a & 0x7fffffff, ba = b & 0x7fffffff;
  if (aa > INF32 || ba > INF32) {
    if (op >= MIN) {
      // min/max return the second operand, after DAZ (no DE is reported next to a NaN).
      fl |= IE;
      return daz && ba < 0x800000 ? b & SIGN : b;
    }
    if ((aa > INF32 && (a & QUIET32) === 0) || (ba > INF32 && (b & QUIET32) === 0)) fl |= IE;
    return aa > INF32 ? a | QUIET32 : b | QUIET32;
  }
  let den = false;
  if (aa < 0x800000 && aa !== 0) {
    if (daz) { a &= SIGN; aa = 0; } else den = true;
  }
  if (ba < 0x800000 && ba !== 0) {
    if (daz) { b &= SIGN; ba = 0; } else den = true;
  }
  // Division by zero takes priority over the denormal flag (measured).
  if (den && !(op === DIV && ba === 0)) fl |= DE;
  if (op === SUB) {
    b ^= SIGN;
    op = ADD;
  }
  const x = f32(a), y = f32(b);
  switch (op) {
    case ADD: {
      if (aa === INF32 || ba === INF32) {
        if (aa === ba && (a ^ b) < 0) {
          fl |= IE;
          return NAN32;
        }
        return aa === INF32 ? a : b;
      }
      const r = x + y;
      if (r === 0) return aa === 0 && ba === 0 && a === b ? a : rc === 1 ? SIGN : 0;
      const R = Math.fround(r);
      const Ra = Math.abs(R);
      if (Ra > MIN32 && Ra < MAX32) {
        const bv = r - x;
        const s = (r - R) + ((x - (r - bv)) + (y - bv));
        const bits = b32(R);
        if (s === 0) return bits;
        fl |= PE;
        return dir32(bits, s);
      }
      return slow32(ADD, a, b);
    }
    case MUL: {
      if (aa === INF32 || ba === INF32) {
        if (aa === 0 || ba === 0) {
          fl |= IE;
          return NAN32;
        }
        return ((a ^ b) & SIGN) | INF32;
      }
      if (aa === 0 || ba === 0) return (a ^ b) & SIGN;
      const r = x * y;
      const R = Math.fround(r);
      const Ra = Math.abs(R);
      if (Ra > MIN32 && Ra < MAX32) {
        const bits = b32(R);
        const s = r - R;
        if (s === 0) return bits;
        fl |= PE;
        return dir32(bits, s);
      }
      return slow32(MUL, a, b);
    }
    case DIV: {
      if (aa === INF32) {
        if (ba === INF32) {
          fl |= IE;
          return NAN32;
        }
        return ((a ^ b) & SIGN) | INF32;
      }
      if (ba === INF32) return (a ^ b) & SIGN;
      if (ba === 0) {
        if (aa === 0) {
          fl |= IE;
          return NAN32;
        }
        fl |= ZE;
        return ((a ^ b) & SIGN) | INF32;
      }
      if (aa === 0) return (a ^ b) & SIGN;
      const R = Math.fround(x / y);
      const Ra = Math.abs(R);
      if (Ra > MIN32 && Ra < MAX32) {
        const bits = b32(R);
        let s = x - R * y;
        if (s === 0) return bits;
        if (y < 0) s = -s;
        fl |= PE;
        return dir32(bits, s);
      }
      return slow32(DIV, a, b);
    }
    case MIN:
      return x < y ? a : b;
    default:
      return x > y ? a : b;
  }
}

export function sqrt32(a: number): number {
  let aa = a & 0x7fffffff;
  if (aa > INF32) {
    if ((a & QUIET32) === 0) fl |= IE;
    return a | QUIET32;
  }
  if (a < 0 && aa !== 0 && !(daz && aa < 0x800000)) {
    // Invalid (negative, denormals included) takes priority over the denormal flag.
    fl |= IE;
    return NAN32;
  }
  if (aa < 0x800000 && aa !== 0) {
    if (daz) { a &= SIGN; aa = 0; } else fl |= DE;
  }
  if (aa === 0) return a;
  if (aa === INF32) return a;
  const x = f32(a);
  const R = Math.fround(Math.sqrt(x));
  const bits = b32(R);
  const s = x - R * R;
  if (s === 0) return bits;
  fl |= PE;
  return dir32(bits, s);
}

/** rcpss/rcpps: computed exactly (within the architecture's 1.5·2^-12 tolerance); no flags. */
export function rcp32(a: number): number {
  const aa = a & 0x7fffffff;
  if (aa > INF32) return a | QUIET32;
  if (aa < 0x800000) return (a & SIGN) | INF32;
  if (aa === INF32) return a & SIGN;
  const R = Math.fround(1 / f32(a));
  if (Math.abs(R) < MIN32) return a & SIGN;
  return b32(R);
}

/** rsqrtss/rsqrtps: computed exactly; no flags. */
export function rsqrt32(a: number): number {
  const aa = a & 0x7fffffff;
  if (aa > INF32) return a | QUIET32;
  if (aa < 0x800000) return (a & SIGN) | INF32;
  if (a < 0) return NAN32;
  if (aa === INF32) return 0;
  return b32(Math.fround(1 / Math.sqrt(f32(a))));
}

/** cmpss/cmpps predicate (imm8 & 7) on binary32 bits. */
export function cmp32(a: number, b: number, pred: number): boolean {
  let aa = a & 0x7fffffff, ba = b & 0x7fffffff;
  const an = aa > INF32, bn = ba > INF32;
  if (an || bn) {
    if ((pred & 3) === 1 || (pred & 3) === 2) fl |= IE;
    else if ((an && (a & QUIET32) === 0) || (bn && (b & QUIET32) === 0)) fl |= IE;
    return pred >= 3 && pred <= 6;
  }
  if (aa < 0x800000 && aa !== 0) {
    if (daz) { a &= SIGN; aa = 0; } else fl |= DE;
  }
  if (ba < 0x800000 && ba !== 0) {
    if (daz) { b &= SIGN; ba = 0; } else fl |= DE;
  }
  const x = f32(a), y = f32(b);
  switch (pred) {
    case 0: return x === y;
    case 1: return x < y;
    case 2: return x <= y;
    case 3: return false;
    case 4: return x !== y;
    case 5: return !(x < y);
    case 6: return !(x <= y);
    default: return true;
  }
}

/** comiss/ucomiss: returns ZF|PF|CF as RFLAGS bits. `quiet`: ucomiss (QNaN does not signal). */
export function comi32(a: number, b: number, quiet: boolean): number {
  let aa = a & 0x7fffffff, ba = b & 0x7fffffff;
  const an = aa > INF32, bn = ba > INF32;
  if (an || bn) {
    if (!quiet || (an && (a & QUIET32) === 0) || (bn && (b & QUIET32) === 0)) fl |= IE;
    return 0x45;
  }
  if (aa < 0x800000 && aa !== 0) {
    if (daz) { a &= SIGN; aa = 0; } else fl |= DE;
  }
  if (ba < 0x800000 && ba !== 0) {
    if (daz) { b &= SIGN; ba = 0; } else fl |= DE;
  }
  const x = f32(a), y = f32(b);
  return x > y ? 0 : x < y ? 1 : 0x40;
}

// ---------------------------------------------------------------- binary64 arithmetic

/** Dekker's TwoProduct (Veltkamp splitting): the exact error x*y - p of the rounded product p. */
function twoProdErr(x: number, y: number, p: number): number {
  let t = 134217729 * x;
  const xh = t - (t - x), xl = x - xh;
  t = 134217729 * y;
  const yh = t - (t - y), yl = y - yh;
  return ((xh * yh - p) + xh * yl + xl * yh) + xl * yl;
}

/** add/sub/mul/div/min/max on binary64 bits: returns lo, hi in rhi. */
export function arith64(op: number, aLo: number, aHi: number, bLo: number, bHi: number): number {
  const an = isNaN64(aLo, aHi), bn = isNaN64(bLo, bHi);
  if (an || bn) {
    if (op >= MIN) {
      fl |= IE;
      if (daz && (bHi & INF64_HI) === 0) {
        rhi = bHi & SIGN;
        return 0;
      }
      rhi = bHi;
      return bLo;
    }
    if ((an && (aHi & QUIET64) === 0) || (bn && (bHi & QUIET64) === 0)) fl |= IE;
    if (an) {
      rhi = aHi | QUIET64;
      return aLo;
    }
    rhi = bHi | QUIET64;
    return bLo;
  }
  let den = false;
  if ((aHi & INF64_HI) === 0 && ((aHi & 0xfffff) | aLo) !== 0) {
    if (daz) { aHi &= SIGN; aLo = 0; } else den = true;
  }
  if ((bHi & INF64_HI) === 0 && ((bHi & 0xfffff) | bLo) !== 0) {
    if (daz) { bHi &= SIGN; bLo = 0; } else den = true;
  }
  if (den && !(op === DIV && ((bHi & 0x7fffffff) | bLo) === 0)) fl |= DE;
  if (op === SUB) {
    bHi ^= SIGN;
    op = ADD;
  }
  const x = f64(aLo, aHi), y = f64(bLo, bHi);
  const aInf = (aHi & 0x7fffffff) === INF64_HI, bInf = (bHi & 0x7fffffff) === INF64_HI;
  const aZero = x === 0, bZero = y === 0;
  switch (op) {
    case ADD: {
      if (aInf || bInf) {
        if (aInf && bInf && (aHi ^ bHi) < 0) return nan64();
        if (aInf) { rhi = aHi; return aLo; }
        rhi = bHi;
        return bLo;
      }
      const r = x + y;
      if (r === 0) {
        if (aZero && bZero && aHi === bHi) { rhi = aHi; return 0; }
        rhi = rc === 1 ? SIGN : 0;
        return 0;
      }
      const Ra = Math.abs(r);
      if (Ra > MIN64 && Ra < MAX64) {
        const bv = r - x;
        return fin64(r, (x - (r - bv)) + (y - bv));
      }
      return slow64(ADD, aLo, aHi, bLo, bHi);
    }
    case MUL: {
      if (aInf || bInf) {
        if (aZero || bZero) return nan64();
        rhi = ((aHi ^ bHi) & SIGN) | INF64_HI;
        return 0;
      }
      if (aZero || bZero) { rhi = (aHi ^ bHi) & SIGN; return 0; }
      const r = x * y;
      const Ra = Math.abs(r);
      if (Ra > TP_LO && Ra < TP_MAX && Math.abs(x) < TP_HI && Math.abs(y) < TP_HI) return fin64(r, twoProdErr(x, y, r));
      return slow64(MUL, aLo, aHi, bLo, bHi);
    }
    case DIV: {
      if (aInf) {
        if (bInf) return nan64();
        rhi = ((aHi ^ bHi) & SIGN) | INF64_HI;
        return 0;
      }
      if (bInf) { rhi = (aHi ^ bHi) & SIGN; return 0; }
      if (bZero) {
        if (aZero) return nan64();
        fl |= ZE;
        rhi = ((aHi ^ bHi) & SIGN) | INF64_HI;
        return 0;
      }
      if (aZero) { rhi = (aHi ^ bHi) & SIGN; return 0; }
      const r = x / y;
      const Ra = Math.abs(r), xa = Math.abs(x), ya = Math.abs(y);
      if (Ra > TP_LO && Ra < TP_HI && ya < TP_HI && xa > TP_LO && xa < TP_MAX) {
        const p = r * y;
        let s = (x - p) - twoProdErr(r, y, p);
        if (y < 0) s = -s;
        return fin64(r, s);
      }
      return slow64(DIV, aLo, aHi, bLo, bHi);
    }
    case MIN:
      if (x < y) { rhi = aHi; return aLo; }
      rhi = bHi;
      return bLo;
    default:
      if (x > y) { rhi = aHi; return aLo; }
      rhi = bHi;
      return bLo;
  }
}

/**
 * Fast path for add/sub/mul/div of two normal finite binary64 values under
 * round-to-nearest (values, not bits): the result, with PE raised as needed,
 * or NaN when the general path (arith64 on the bits) has to decide.
 */
export function fast64(op: number, x: number, y: number): number {
  if (rc !== 0) return NaN;
  const ax = Math.abs(x), ay = Math.abs(y);
  if (!(ax >= MIN64 && ax <= MAX64 && ay >= MIN64 && ay <= MAX64)) return NaN;
  switch (op) {
    case ADD:
    case SUB: {
      const b = op === ADD ? y : -y;
      const r = x + b;
      const ar = Math.abs(r);
      if (ar > MIN64 && ar < MAX64) {
        const bv = r - x;
        if ((x - (r - bv)) + (b - bv) !== 0) fl |= PE;
        return r;
      }
      return r === 0 ? r : NaN;
    }
    case MUL: {
      const r = x * y;
      const ar = Math.abs(r);
      if (ar > TP_LO && ar < TP_MAX && ax < TP_HI && ay < TP_HI) {
        if (twoProdErr(x, y, r) !== 0) fl |= PE;
        return r;
      }
      return NaN;
    }
    case DIV: {
      const r = x / y;
      const ar = Math.abs(r);
      if (ar > TP_LO && ar < TP_HI && ay < TP_HI && ax > TP_LO && ax < TP_MAX) {
        const p = r * y;
        if (x - p !== twoProdErr(r, y, p)) fl |= PE;
        return r;
      }
      return NaN;
    }
    default:
      return NaN;
  }
}

/** The same for binary32 values (read through a Float32Array: NaNs just fail the range test). */
export function fast32(op: number, x: number, y: number): number {
  if (rc !== 0) return NaN;
  const ax = Math.abs(x), ay = Math.abs(y);
  if (!(ax >= MIN32 && ax <= MAX32 && ay >= MIN32 && ay <= MAX32)) return NaN;
  switch (op) {
    case ADD:
    case SUB: {
      const b = op === ADD ? y : -y;
      const r = x + b;
      const R = Math.fround(r);
      const aR = Math.abs(R);
      if (aR > MIN32 && aR < MAX32) {
        const bv = r - x;
        if ((r - R) + ((x - (r - bv)) + (b - bv)) !== 0) fl |= PE;
        return R;
      }
      return r === 0 ? r : NaN;
    }
    case MUL: {
      const r = x * y;
      const R = Math.fround(r);
      const aR = Math.abs(R);
      if (aR > MIN32 && aR < MAX32) {
        if (r !== R) fl |= PE;
        return R;
      }
      return NaN;
    }
    case DIV: {
      const R = Math.fround(x / y);
      const aR = Math.abs(R);
      if (aR > MIN32 && aR < MAX32) {
        if (x !== R * y) fl |= PE;
        return R;
      }
      return NaN;
    }
    default:
      return NaN;
  }
}

function nan64(): number {
  fl |= IE;
  rhi = NAN64_HI;
  return 0;
}

export function sqrt64(lo: number, hi: number): number {
  if (isNaN64(lo, hi)) {
    if ((hi & QUIET64) === 0) fl |= IE;
    rhi = hi | QUIET64;
    return lo;
  }
  const den = (hi & INF64_HI) === 0 && ((hi & 0xfffff) | lo) !== 0;
  if (den && daz) {
    hi &= SIGN;
    lo = 0;
  }
  if (hi < 0 && ((hi & 0x7fffffff) | lo) !== 0) return nan64();
  if (den && !daz) fl |= DE;
  const x = f64(lo, hi);
  if (x === 0 || x === Infinity) { rhi = hi; return lo; }
  const r = Math.sqrt(x);
  if (x > TP_LO && x < TP_MAX) {
    const p = r * r;
    return fin64(r, (x - p) - twoProdErr(r, r, p));
  }
  return split64(slowOp(1, SQRT, big64(lo, hi), 0n));
}

export function cmp64(aLo: number, aHi: number, bLo: number, bHi: number, pred: number): boolean {
  const an = isNaN64(aLo, aHi), bn = isNaN64(bLo, bHi);
  if (an || bn) {
    if ((pred & 3) === 1 || (pred & 3) === 2) fl |= IE;
    else if ((an && (aHi & QUIET64) === 0) || (bn && (bHi & QUIET64) === 0)) fl |= IE;
    return pred >= 3 && pred <= 6;
  }
  const x = den64(aLo, aHi), y = den64(bLo, bHi);
  switch (pred) {
    case 0: return x === y;
    case 1: return x < y;
    case 2: return x <= y;
    case 3: return false;
    case 4: return x !== y;
    case 5: return !(x < y);
    case 6: return !(x <= y);
    default: return true;
  }
}

/** Value of non-NaN binary64 bits with the DAZ/DE rule applied. */
function den64(lo: number, hi: number): number {
  if ((hi & INF64_HI) === 0 && ((hi & 0xfffff) | lo) !== 0) {
    if (daz) return hi < 0 ? -0 : 0;
    fl |= DE;
  }
  return f64(lo, hi);
}

export function comi64(aLo: number, aHi: number, bLo: number, bHi: number, quiet: boolean): number {
  const an = isNaN64(aLo, aHi), bn = isNaN64(bLo, bHi);
  if (an || bn) {
    if (!quiet || isSNaN64(aLo, aHi) || isSNaN64(bLo, bHi)) fl |= IE;
    return 0x45;
  }
  const x = den64(aLo, aHi), y = den64(bLo, bHi);
  return x > y ? 0 : x < y ? 1 : 0x40;
}

// ---------------------------------------------------------------- conversions

/** binary32 → binary64 (exact): returns lo, hi in rhi. */
export function cvt32to64(a: number): number {
  const aa = a & 0x7fffffff;
  if (aa > INF32) {
    if ((a & QUIET32) === 0) fl |= IE;
    rhi = (a & SIGN) | 0x7ff80000 | ((a & 0x7fffff) >>> 3);
    return (a & 7) << 29;
  }
  if (aa < 0x800000 && aa !== 0) {
    if (daz) { rhi = a & SIGN; return 0; }
    fl |= DE;
  }
  return b64(f32(a));
}

/** binary64 → binary32, rounded per MXCSR. */
export function cvt64to32(lo: number, hi: number): number {
  if (isNaN64(lo, hi)) {
    if ((hi & QUIET64) === 0) fl |= IE;
    return (hi & SIGN) | 0x7fc00000 | ((hi & 0xfffff) << 3) | (lo >>> 29);
  }
  const h = hi & 0x7fffffff;
  if (h < 0x100000) {
    if ((h | lo) === 0) return hi & SIGN;
    if (daz) return hi & SIGN;
    fl |= DE;
    return Number(slowConvert(0, big64(lo, hi), 1)) | 0;
  }
  if (h === INF64_HI) return (hi & SIGN) | INF32;
  const x = f64(lo, hi);
  const R = Math.fround(x);
  const Ra = Math.abs(R);
  if (Ra > MIN32 && Ra < MAX32) {
    const bits = b32(R);
    const s = x - R;
    if (s === 0) return bits;
    fl |= PE;
    return dir32(bits, s);
  }
  return Number(slowConvert(0, big64(lo, hi), 1)) | 0;
}

/** Round a finite float of format `from` (bits) into format `to`. */
function slowConvert(to: number, bits: bigint, from: number): bigint {
  unpack(from, bits);
  if (uM === 0n) return uNeg ? (to === 0 ? 0x80000000n : 1n << 63n) : 0n;
  return roundPack(to, uNeg, uM, uE, false);
}

/** int32 → binary32, rounded per MXCSR. */
export function i32to32(v: number): number {
  const R = Math.fround(v);
  const bits = b32(R);
  const s = v - R;
  if (s === 0) return bits;
  fl |= PE;
  return dir32(bits, s);
}

/** int64 (lo, hi) → binary32. */
export function i64to32(lo: number, hi: number): number {
  if (hi === lo >> 31) return i32to32(lo);
  if (hi >= -0x200000 && hi < 0x200000) {
    const v = hi * 4294967296 + (lo >>> 0);
    const R = Math.fround(v);
    const bits = b32(R);
    const s = v - R;
    if (s === 0) return bits;
    fl |= PE;
    return dir32(bits, s);
  }
  const v = BigInt.asIntN(64, big64(lo, hi));
  return Number(roundPack(0, v < 0n, v < 0n ? -v : v, 0, false)) | 0;
}

/** int64 (lo, hi) → binary64: returns lo, hi in rhi. */
export function i64to64(lo: number, hi: number): number {
  if (hi >= -0x200000 && hi < 0x200000) return b64(hi * 4294967296 + (lo >>> 0));
  const v = BigInt.asIntN(64, big64(lo, hi));
  return split64(roundPack(1, v < 0n, v < 0n ? -v : v, 0, false));
}

/** Round to an integer in mode m (0 nearest-even, 1 down, 2 up, 3 toward zero). */
function roundInt(x: number, m: number): number {
  switch (m) {
    case 0: {
      let f = Math.floor(x);
      const d = x - f;
      if (d > 0.5 || (d === 0.5 && f % 2 !== 0)) f += 1;
      return f;
    }
    case 1: return Math.floor(x);
    case 2: return Math.ceil(x);
    default: return Math.trunc(x);
  }
}

/** Value of a binary32 for conversion to integer (NaN → NaN), DAZ applied. */
function val32(a: number): number {
  const aa = a & 0x7fffffff;
  if (aa > INF32) return NaN;
  if (daz && aa < 0x800000) return 0;
  return f32(a);
}

function val64(lo: number, hi: number): number {
  if (isNaN64(lo, hi)) return NaN;
  if (daz && (hi & INF64_HI) === 0) return 0;
  return f64(lo, hi);
}

/** Float value → int32 with the current rounding (setTruncate for cvtt*); 0x80000000 on NaN/overflow. */
function toI32(x: number): number {
  if (x !== x) {
    fl |= IE;
    return SIGN;
  }
  const r = roundInt(x, rc);
  if (r >= 2147483648 || r < -2147483648) {
    fl |= IE;
    return SIGN;
  }
  if (r !== x) fl |= PE;
  return r | 0;
}

function toI64(x: number): number {
  if (x !== x) {
    fl |= IE;
    rhi = SIGN;
    return 0;
  }
  const r = roundInt(x, rc);
  if (r >= 9223372036854775808 || r < -9223372036854775808) {
    fl |= IE;
    rhi = SIGN;
    return 0;
  }
  if (r !== x) fl |= PE;
  const h = Math.floor(r / 4294967296);
  rhi = h | 0;
  return (r - h * 4294967296) | 0;
}

export function f32toI32(a: number): number {
  return toI32(val32(a));
}
export function f32toI64(a: number): number {
  return toI64(val32(a));
}
export function f64toI32(lo: number, hi: number): number {
  return toI32(val64(lo, hi));
}
export function f64toI64(lo: number, hi: number): number {
  return toI64(val64(lo, hi));
}
