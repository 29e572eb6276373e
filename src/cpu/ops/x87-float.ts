/**
 * Software double extended-precision (80-bit) arithmetic for the x87 FPU.
 *
 * Values travel in their packed register form: `se` (sign bit 15, biased
 * exponent bits 14-0) and the 64-bit significand as two int32 halves
 * (`hi` holds bits 63..32, bit 63 being the explicit integer bit). Results
 * are left in the module-level record `R` (no allocation); `R.flags`
 * collects the status-word exception bits the operation raised plus SW_C1
 * when the result was rounded up in magnitude.
 *
 * Everything here is exact IEEE 754 arithmetic with the x87's rules: the
 * precision-control (24/53/64-bit significand, full 15-bit exponent range;
 * the reserved setting 01 behaves as 64 bits) and rounding-control fields of
 * the control word; tininess detected after rounding; masked underflow
 * delivering denormals; unmasked overflow and underflow delivering the
 * result with the exponent wrapped by 24576 (see roundGen for the details
 * measured on hardware); NaN propagation (an SNaN is quieted; of two NaNs a
 * QNaN beats an SNaN, else the larger significand wins, else the positive
 * one); the "real indefinite" QNaN for invalid operations and unsupported
 * encodings (unnormals, pseudo-NaN/infinity); pseudo-denormals accepted as
 * denormal operands.
 *
 * Significands are manipulated as 32-bit limbs with 32 extra guard bits
 * (`x`, sticky bit jammed into its LSB); multiplication splits limbs into
 * 16-bit halves so products stay exact in doubles; division and square
 * root use Knuth's algorithm D on 16-bit digits in preallocated arrays.
 */
import { SW_C1, SW_DE, SW_IE, SW_OE, SW_PE, SW_UE, SW_ZE } from '../x87-state.ts';

export const BIAS = 16383;
/** Operand classes. */
export const C_ZERO = 0, C_NORM = 1, C_DEN = 2, C_INF = 3, C_QNAN = 4, C_SNAN = 5, C_UNSUP = 6;

/** Control-word masks. */
export const CW_IM = 1, CW_DM = 2, CW_ZM = 4, CW_OM = 8, CW_UM = 16, CW_PM = 32;
/** Rounding control values. */
export const RC_NEAR = 0, RC_DOWN = 1, RC_UP = 2, RC_CHOP = 3;

/** Result record of the last operation. */
export const R = {
  se: 0,
  hi: 0,
  lo: 0,
  /** SW exception bits raised, plus SW_C1 when rounded up. */
  flags: 0,
};

/**
 * Word-sized scratch values (significand halves and the like) live in an
 * Int32Array: module-level `let` bindings holding values outside the small-
 * integer range would be boxed (allocated) on every store.
 */
export const W = new Int32Array(32);
export const AH = 0, AL = 1, BH = 2, BL = 3, NH = 4, NL = 5, SH = 6, SL = 7, SX = 8, RH = 9, RL = 10, OH = 11, OL = 12;
export const MULHI = 13, P0 = 14, P1 = 15, P2 = 16, P3 = 17, IH = 18, IL = 19;
/** Results for other modules: fist/fisttp/fbstp integer (INT_LO/HI), fst m32/m64 bits (MEM_LO/HI), fxtract's significand (X_*), exponentOf's significand (NORM_*). */
export const INT_LO = 20, INT_HI = 21, MEM_LO = 22, MEM_HI = 23, X_SE = 24, X_HI = 25, X_LO = 26, NORM_HI = 27, NORM_LO = 28;

/** Class of a packed 80-bit value. */
export function classify(se: number, hi: number, lo: number): number {
  const e = se & 0x7fff;
  if (e === 0x7fff) {
    if (hi >= 0) return C_UNSUP; // pseudo-infinity / pseudo-NaN
    if (((hi & 0x7fffffff) | lo) === 0) return C_INF;
    return hi & 0x40000000 ? C_QNAN : C_SNAN;
  }
  if (e === 0) return (hi | lo) === 0 ? C_ZERO : C_DEN;
  return hi < 0 ? C_NORM : C_UNSUP; // unnormal
}

export function setIndefinite(): void {
  R.se = 0xffff;
  R.hi = 0xc0000000 | 0;
  R.lo = 0;
}

function setInf(sign: number): void {
  R.se = (sign << 15) | 0x7fff;
  R.hi = 0x80000000 | 0;
  R.lo = 0;
}

function setZero(sign: number): void {
  R.se = sign << 15;
  R.hi = 0;
  R.lo = 0;
}

/** Invalid operation: IE and the indefinite QNaN. */
function invalid(): void {
  R.flags |= SW_IE;
  setIndefinite();
}

/**
 * NaN result of a two-operand operation where at least one operand is a NaN
 * (neither unsupported): SNaNs raise IE; the result is the quieted NaN by the
 * x87's rules.
 */
function propagateNaN(ca: number, aSe: number, aHi: number, aLo: number, cb: number, bSe: number, bHi: number, bLo: number): void {
  const aNaN = ca === C_QNAN || ca === C_SNAN;
  const bNaN = cb === C_QNAN || cb === C_SNAN;
  if (ca === C_SNAN || cb === C_SNAN) R.flags |= SW_IE;
  let pickA: boolean;
  if (aNaN && bNaN) {
    if (ca !== cb) pickA = ca === C_QNAN;
    else {
      // Larger significand (ignoring the quiet bit, which both share); on a tie the positive one (measured).
      const ah = aHi & 0x3fffffff, bh = bHi & 0x3fffffff;
      if (ah !== bh) pickA = ah > bh;
      else if (aLo !== bLo) pickA = aLo >>> 0 > bLo >>> 0;
      else pickA = (aSe & 0x8000) === 0;
    }
  } else pickA = aNaN;
  if (pickA) {
    R.se = aSe;
    R.hi = aHi | 0x40000000;
    R.lo = aLo;
  } else {
    R.se = bSe;
    R.hi = bHi | 0x40000000;
    R.lo = bLo;
  }
}

// ---------------------------------------------------------------- unpacking

/** Unpacked operands: sign, biased exponent of the normalised value (may be < 1), significand with bit 63 set. */
let aS = 0, aE = 0;
let bS = 0, bE = 0;

/** Normalised exponent/significand of a finite non-zero packed value into (nE, W[NH], W[NL]). */
let nE = 0;
function normalize(se: number, hi: number, lo: number): void {
  let e = se & 0x7fff;
  if (e === 0) e = 1; // denormals and pseudo-denormals have the exponent of 2^-16382
  if (hi < 0) {
    nE = e;
    W[NH] = hi;
    W[NL] = lo;
    return;
  }
  if (hi !== 0) {
    const s = Math.clz32(hi);
    W[NH] = (hi << s) | (lo >>> (32 - s));
    W[NL] = lo << s;
    nE = e - s;
  } else {
    const s = Math.clz32(lo);
    W[NH] = lo << s;
    W[NL] = 0;
    nE = e - 32 - s;
  }
}

function unpackA(se: number, hi: number, lo: number): void {
  normalize(se, hi, lo);
  aS = (se >>> 15) & 1;
  aE = nE;
  W[AH] = W[NH];
  W[AL] = W[NL];
}
function unpackB(se: number, hi: number, lo: number): void {
  normalize(se, hi, lo);
  bS = (se >>> 15) & 1;
  bE = nE;
  W[BH] = W[NH];
  W[BL] = W[NL];
}

// ---------------------------------------------------------------- shifting

/** 96-bit scratch (h, l, x). */

/** (h, l, x) >> n with the bits shifted out ORed into bit 0 of x. */
function shiftRightJam(h: number, l: number, x: number, n: number): void {
  if (n <= 0) {
    W[SH] = h; W[SL] = l; W[SX] = x;
  } else if (n < 32) {
    W[SX] = (l << (32 - n)) | (x >>> n) | ((x << (32 - n)) !== 0 ? 1 : 0);
    W[SL] = (h << (32 - n)) | (l >>> n);
    W[SH] = h >>> n;
  } else if (n === 32) {
    W[SX] = l | (x !== 0 ? 1 : 0);
    W[SL] = h;
    W[SH] = 0;
  } else if (n < 64) {
    const m = n - 32;
    W[SX] = (h << (32 - m)) | (l >>> m) | (((l << (32 - m)) | x) !== 0 ? 1 : 0);
    W[SL] = h >>> m;
    W[SH] = 0;
  } else if (n === 64) {
    W[SX] = h | ((l | x) !== 0 ? 1 : 0);
    W[SL] = 0;
    W[SH] = 0;
  } else if (n < 96) {
    const m = n - 64;
    W[SX] = (h >>> m) | (((h << (32 - m)) | l | x) !== 0 ? 1 : 0);
    W[SL] = 0;
    W[SH] = 0;
  } else {
    W[SX] = (h | l | x) !== 0 ? 1 : 0;
    W[SL] = 0;
    W[SH] = 0;
  }
  W[SX] |= 0;
  W[SL] |= 0;
  W[SH] |= 0;
}

/** Normalise (h, l, x) (not all zero) to bit 95 set: result in (W[SH], W[SL], W[SX]), shift count returned. */
function normalize96(h: number, l: number, x: number): number {
  let n = 0;
  if (h === 0) {
    if (l === 0) {
      h = x; l = 0; x = 0; n = 64;
    } else {
      h = l; l = x; x = 0; n = 32;
    }
  }
  const s = Math.clz32(h);
  if (s !== 0) {
    h = (h << s) | (l >>> (32 - s));
    l = (l << s) | (x >>> (32 - s));
    x <<= s;
  }
  W[SH] = h; W[SL] = l; W[SX] = x;
  return n + s;
}

// ---------------------------------------------------------------- rounding

/** Output of roundSig. */
let rInexact = false, rUp = false, rCarry = false;

/**
 * Round the significand (h, l) with extra bits x to `prec` bits (64, 53, 24)
 * counted from bit 63, by rounding mode rc for sign. Result in (W[RH], W[RL]);
 * rCarry when the significand overflowed to 2^64 (then W[RH]:W[RL] = 2^63).
 */
function roundSig(h: number, l: number, x: number, prec: number, rc: number, sign: number): void {
  let rb: number, st: boolean, lsb: number;
  if (prec === 64) {
    rb = x >>> 31;
    st = (x & 0x7fffffff) !== 0;
    lsb = l & 1;
  } else if (prec === 53) {
    rb = (l >>> 10) & 1;
    st = ((l & 0x3ff) | x) !== 0;
    lsb = (l >>> 11) & 1;
    l &= ~0x7ff;
  } else {
    rb = (h >>> 7) & 1;
    st = ((h & 0x7f) | l | x) !== 0;
    lsb = (h >>> 8) & 1;
    h &= ~0xff;
    l = 0;
  }
  const inexact = rb !== 0 || st;
  let inc: boolean;
  switch (rc) {
    case RC_NEAR: inc = rb !== 0 && (st || lsb !== 0); break;
    case RC_DOWN: inc = inexact && sign !== 0; break;
    case RC_UP: inc = inexact && sign === 0; break;
    default: inc = false; break;
  }
  rCarry = false;
  if (inc) {
    if (prec === 24) {
      const t = (h >>> 0) + 0x100;
      if (t > 0xffffffff) {
        rCarry = true;
        h = 0x80000000;
      } else h = t;
    } else {
      const t = (l >>> 0) + (prec === 64 ? 1 : 0x800);
      if (t > 0xffffffff) {
        l = t - 0x100000000;
        const u = (h >>> 0) + 1;
        if (u > 0xffffffff) {
          rCarry = true;
          h = 0x80000000;
        } else h = u;
      } else l = t;
    }
  }
  W[RH] = h | 0;
  W[RL] = l | 0;
  rInexact = inexact;
  rUp = inc;
}

/** Rounded-result output of roundGen: sign, biased (extended) exponent, significand (bit 63 clear: denormal/zero). */
let oE = 0;
/** True when roundGen found an unmasked overflow/underflow for a memory destination (nothing must be stored). */
export let roundTrap = false;

/**
 * Round a normalised value (sign, biased exponent e of bit 63 of (h, l), extra
 * bits x) to a format with `prec` significand bits and biased-extended
 * exponent range [emin, emax]; `reg` selects a register destination (else
 * memory). Raises OE/UE/PE and C1 (rounded up) in R.flags. The responses, as
 * measured on hardware:
 * - masked underflow: tininess after rounding; the denormalised result, UE
 *   only when it is inexact;
 * - unmasked underflow, register: tininess after rounding; UE and the
 *   result with its exponent wrapped up by 24576;
 * - unmasked underflow, memory: only UE, nothing stored (roundTrap);
 * - masked overflow: infinity or the largest finite value by rounding mode;
 * - unmasked overflow, register: OE and the result wrapped down by 24576;
 *   memory: only OE, nothing stored;
 * - a wrapped exponent still out of range gives an infinity or a zero
 *   whatever the rounding mode.
 */
function roundGen(sign: number, e: number, h: number, l: number, x: number, prec: number, emin: number, emax: number, rc: number, cw: number, reg: boolean): void {
  roundTrap = false;
  if (e < emin) {
    const um = (cw & CW_UM) === 0;
    // Tininess after rounding: would the value rounded with an unbounded exponent still be below 2^emin?
    roundSig(h, l, x, prec, rc, sign);
    const tiny = !(rCarry && e === emin - 1);
    if (tiny) {
      if (um) {
        R.flags |= SW_UE;
        if (!reg) {
          roundTrap = true;
          return;
        }
        if (e + (rCarry ? 1 : 0) + 24576 >= emin) {
          if (rInexact) R.flags |= SW_PE;
          if (rUp) R.flags |= SW_C1;
          oE = e + (rCarry ? 1 : 0) + 24576;
          W[OH] = W[RH];
          W[OL] = W[RL];
          return;
        }
        // Still out of range after wrapping: a zero (whatever the rounding mode).
        R.flags |= SW_PE;
        oE = 0;
        W[OH] = 0;
        W[OL] = 0;
        return;
      }
      shiftRightJam(h, l, x, emin - e);
      roundSig(W[SH], W[SL], W[SX], prec, rc, sign);
      oE = emin;
      W[OH] = W[RH];
      W[OL] = W[RL];
      if (rInexact) R.flags |= SW_PE | SW_UE;
      else if (um) R.flags |= SW_UE;
      if (rUp) R.flags |= SW_C1;
      // A carry out of a denormal gives exactly 2^emin, which (h = 2^63 at emin) is already right.
      if (rCarry) W[OH] = 0x80000000 | 0;
      return;
    }
  }
  roundSig(h, l, x, prec, rc, sign);
  if (rCarry) e++;
  if (e > emax) {
    if (!(cw & CW_OM)) {
      if (!reg) {
        R.flags |= SW_OE;
        roundTrap = true;
        return;
      }
      R.flags |= SW_OE;
      if (e - 24576 <= emax) {
        if (rInexact) R.flags |= SW_PE;
        if (rUp) R.flags |= SW_C1;
        oE = e - 24576;
        W[OH] = W[RH];
        W[OL] = W[RL];
        return;
      }
      // Still out of range after wrapping: an infinity (whatever the rounding mode).
      R.flags |= SW_PE | SW_C1;
      oE = 0x7fff;
      W[OH] = 0x80000000 | 0;
      W[OL] = 0;
      return;
    }
    R.flags |= SW_OE | SW_PE;
    const toInf = rc === RC_NEAR || (rc === RC_UP && sign === 0) || (rc === RC_DOWN && sign !== 0);
    if (toInf) {
      R.flags |= SW_C1;
      oE = 0x7fff;
      W[OH] = 0x80000000 | 0;
      W[OL] = 0;
    } else {
      oE = emax;
      if (prec === 64) {
        W[OH] = -1;
        W[OL] = -1;
      } else if (prec === 53) {
        W[OH] = -1;
        W[OL] = ~0x7ff;
      } else {
        W[OH] = ~0xff;
        W[OL] = 0;
      }
    }
    return;
  }
  if (rInexact) R.flags |= SW_PE;
  if (rUp) R.flags |= SW_C1;
  oE = e;
  W[OH] = W[RH];
  W[OL] = W[RL];
}

/** Precision-control field → significand bits (the reserved value 01 gives 64 bits, as measured on hardware). */
export const PC_BITS = [24, 64, 53, 64] as const;

/** Round to an extended-precision register result with precision `prec`; packs into R. */
export function roundExt(sign: number, e: number, h: number, l: number, x: number, prec: number, rc: number, cw: number): void {
  roundGen(sign, e, h, l, x, prec, 1, 0x7ffe, rc, cw, true);
  R.se = (sign << 15) | (W[OH] < 0 ? oE & 0x7fff : 0);
  R.hi = W[OH];
  R.lo = W[OL];
}

/** Round and pack an extended value given in unpacked form, by the control word's precision and rounding. */
function roundCw(sign: number, e: number, h: number, l: number, x: number, cw: number): void {
  roundExt(sign, e, h, l, x, PC_BITS[(cw >>> 8) & 3]!, (cw >>> 10) & 3, cw);
}

// ---------------------------------------------------------------- add / subtract

/**
 * a + b (negB: a - b) by the control word. `den` is set when an operand came
 * from a memory format in which it was denormal (it is normal here).
 */
export function fadd(aSe: number, aHi: number, aLo: number, bSe: number, bHi: number, bLo: number, negB: boolean, cw: number, den: boolean): void {
  R.flags = 0;
  const ca = classify(aSe, aHi, aLo);
  const cb = classify(bSe, bHi, bLo);
  const rc = (cw >>> 10) & 3;
  if (ca >= C_INF || cb >= C_INF) {
    if (ca === C_UNSUP || cb === C_UNSUP) return invalid();
    if (ca >= C_QNAN || cb >= C_QNAN) return propagateNaN(ca, aSe, aHi, aLo, cb, bSe, bHi, bLo);
    const sa = (aSe >>> 15) & 1;
    const sb = ((bSe >>> 15) & 1) ^ (negB ? 1 : 0);
    if (ca === C_INF && cb === C_INF) {
      if (sa !== sb) return invalid();
      return setInf(sa);
    }
    if (ca === C_DEN || cb === C_DEN || den) R.flags |= SW_DE;
    return setInf(ca === C_INF ? sa : sb);
  }
  if (ca === C_DEN || cb === C_DEN || den) R.flags |= SW_DE;
  const sb0 = ((bSe >>> 15) & 1) ^ (negB ? 1 : 0);
  if (ca === C_ZERO) {
    if (cb === C_ZERO) {
      const sa = (aSe >>> 15) & 1;
      return setZero(sa === sb0 ? sa : rc === RC_DOWN ? 1 : 0);
    }
    unpackB(bSe, bHi, bLo);
    return roundCw(sb0, bE, W[BH], W[BL], 0, cw);
  }
  if (cb === C_ZERO) {
    unpackA(aSe, aHi, aLo);
    return roundCw(aS, aE, W[AH], W[AL], 0, cw);
  }
  unpackA(aSe, aHi, aLo);
  unpackB(bSe, bHi, bLo);
  bS = sb0;
  if (aS === bS) addMag(cw);
  else subMag(cw);
}

function addMag(cw: number): void {
  let e: number, h: number, l: number, x: number;
  let yh: number, yl: number;
  if (aE >= bE) {
    shiftRightJam(W[BH], W[BL], 0, aE - bE);
    e = aE; yh = W[AH]; yl = W[AL];
  } else {
    shiftRightJam(W[AH], W[AL], 0, bE - aE);
    e = bE; yh = W[BH]; yl = W[BL];
  }
  x = W[SX];
  const ls = (yl >>> 0) + (W[SL] >>> 0);
  l = ls | 0;
  const hs = (yh >>> 0) + (W[SH] >>> 0) + (ls > 0xffffffff ? 1 : 0);
  h = hs | 0;
  if (hs > 0xffffffff) {
    x = (l << 31) | (x >>> 1) | (x & 1);
    l = (h << 31) | (l >>> 1);
    h = (h >>> 1) | 0x80000000;
    e++;
  }
  roundCw(aS, e, h, l, x, cw);
}

function subMag(cw: number): void {
  // Order by magnitude: big - small.
  let aBig: boolean;
  if (aE !== bE) aBig = aE > bE;
  else if (W[AH] !== W[BH]) aBig = W[AH] >>> 0 > W[BH] >>> 0;
  else if (W[AL] !== W[BL]) aBig = W[AL] >>> 0 > W[BL] >>> 0;
  else {
    // Exact zero: +0, or -0 when rounding down.
    return setZero(((cw >>> 10) & 3) === RC_DOWN ? 1 : 0);
  }
  let sign: number, e: number, yh: number, yl: number;
  if (aBig) {
    shiftRightJam(W[BH], W[BL], 0, aE - bE);
    sign = aS; e = aE; yh = W[AH]; yl = W[AL];
  } else {
    shiftRightJam(W[AH], W[AL], 0, bE - aE);
    sign = bS; e = bE; yh = W[BH]; yl = W[BL];
  }
  // (yh, yl, 0) - (W[SH], W[SL], W[SX])
  const x = (0 - W[SX]) | 0;
  let borrow = W[SX] !== 0 ? 1 : 0;
  const ld = (yl >>> 0) - (W[SL] >>> 0) - borrow;
  borrow = ld < 0 ? 1 : 0;
  const l = ld | 0;
  const h = ((yh >>> 0) - (W[SH] >>> 0) - borrow) | 0;
  const n = normalize96(h, l, x);
  roundCw(sign, e - n, W[SH], W[SL], W[SX], cw);
}

// ---------------------------------------------------------------- multiply

/** 32×32 → 64 multiply: returns the low half, high half in W[MULHI]. */
function mul32(a: number, b: number): number {
  const a0 = a & 0xffff, a1 = a >>> 16, b0 = b & 0xffff, b1 = b >>> 16;
  const p00 = a0 * b0;
  const mid = a0 * b1 + a1 * b0 + (p00 >>> 16);
  W[MULHI] = (a1 * b1 + Math.floor(mid / 65536)) | 0;
  return ((mid << 16) | (p00 & 0xffff)) | 0;
}

/** 64×64 → 128: words in W[P3] (top) .. W[P0]. */
function mul64(ah: number, al: number, bh: number, bl: number): void {
  const ll = mul32(al, bl), llH = W[MULHI];
  const lh = mul32(al, bh), lhH = W[MULHI];
  const hl = mul32(ah, bl), hlH = W[MULHI];
  const hh = mul32(ah, bh), hhH = W[MULHI];
  W[P0] = ll;
  // word 1: llH + lh + hl
  let t = (llH >>> 0) + (lh >>> 0) + (hl >>> 0);
  W[P1] = t | 0;
  let c = Math.floor(t / 4294967296);
  // word 2: lhH + hlH + hh + c
  t = (lhH >>> 0) + (hlH >>> 0) + (hh >>> 0) + c;
  W[P2] = t | 0;
  c = Math.floor(t / 4294967296);
  W[P3] = ((hhH >>> 0) + c) | 0;
}

export function fmul(aSe: number, aHi: number, aLo: number, bSe: number, bHi: number, bLo: number, cw: number, den: boolean): void {
  R.flags = 0;
  const ca = classify(aSe, aHi, aLo);
  const cb = classify(bSe, bHi, bLo);
  const sign = ((aSe ^ bSe) >>> 15) & 1;
  if (ca >= C_INF || cb >= C_INF) {
    if (ca === C_UNSUP || cb === C_UNSUP) return invalid();
    if (ca >= C_QNAN || cb >= C_QNAN) return propagateNaN(ca, aSe, aHi, aLo, cb, bSe, bHi, bLo);
    if (ca === C_ZERO || cb === C_ZERO) return invalid();
    if (ca === C_DEN || cb === C_DEN || den) R.flags |= SW_DE;
    return setInf(sign);
  }
  if (ca === C_DEN || cb === C_DEN || den) R.flags |= SW_DE;
  if (ca === C_ZERO || cb === C_ZERO) return setZero(sign);
  unpackA(aSe, aHi, aLo);
  unpackB(bSe, bHi, bLo);
  mul64(W[AH], W[AL], W[BH], W[BL]);
  let e = aE + bE - BIAS;
  let h = W[P3], l = W[P2], x = W[P1] | (W[P0] !== 0 ? 1 : 0);
  if (h < 0) e++;
  else {
    h = (h << 1) | (l >>> 31);
    l = (l << 1) | (W[P1] >>> 31);
    x = (W[P1] << 1) | (W[P0] !== 0 ? 1 : 0);
  }
  roundCw(sign, e, h, l, x, cw);
}

// ---------------------------------------------------------------- long division (Knuth D, 16-bit digits)

const DU = new Int32Array(24);
const DV = new Int32Array(12);
const DQ = new Int32Array(16);

/**
 * DU[0..m+n-1] / DV[0..n-1] (little-endian 16-bit digits, DV[n-1] >= 0x8000,
 * n >= 2): quotient in DQ[0..m], remainder in DU[0..n-1]. DU[m+n] must exist
 * and is overwritten.
 */
function divDigits(m: number, n: number): void {
  const u = DU, v = DV, q = DQ;
  u[m + n] = 0;
  const vTop = v[n - 1]!, vNext = v[n - 2]!;
  for (let j = m; j >= 0; j--) {
    const num = u[j + n]! * 65536 + u[j + n - 1]!;
    let qhat = Math.floor(num / vTop);
    let rhat = num - qhat * vTop;
    while (qhat >= 65536 || qhat * vNext > rhat * 65536 + u[j + n - 2]!) {
      qhat--;
      rhat += vTop;
      if (rhat >= 65536) break;
    }
    // u[j..j+n] -= qhat * v (qhat < 2^16, so each partial product plus carry is below 2^32)
    let carry = 0, borrow = 0;
    for (let k = 0; k < n; k++) {
      const p = qhat * v[k]! + carry;
      carry = p >>> 16;
      const t = u[k + j]! - (p & 0xffff) - borrow;
      borrow = t >>> 31; // 1 when negative
      u[k + j] = t & 0xffff;
    }
    const t = u[j + n]! - carry - borrow;
    if (t < 0) {
      // Added back: qhat was one too large.
      u[j + n] = t + 65536;
      qhat--;
      let c = 0;
      for (let k = 0; k < n; k++) {
        const s = u[k + j]! + v[k]! + c;
        u[k + j] = s & 0xffff;
        c = s >>> 16;
      }
      u[j + n] = (u[j + n]! + c) & 0xffff;
    } else u[j + n] = t;
    q[j] = qhat;
  }
}

/** Put a 32-bit word into two digits of arr at index k. */
function putWord(arr: Int32Array, k: number, w: number): void {
  arr[k] = w & 0xffff;
  arr[k + 1] = w >>> 16;
}
function getWord(arr: Int32Array, k: number): number {
  return (arr[k]! | (arr[k + 1]! << 16)) | 0;
}

export function fdiv(aSe: number, aHi: number, aLo: number, bSe: number, bHi: number, bLo: number, cw: number, den: boolean): void {
  R.flags = 0;
  const ca = classify(aSe, aHi, aLo);
  const cb = classify(bSe, bHi, bLo);
  const sign = ((aSe ^ bSe) >>> 15) & 1;
  if (ca >= C_INF || cb >= C_INF) {
    if (ca === C_UNSUP || cb === C_UNSUP) return invalid();
    if (ca >= C_QNAN || cb >= C_QNAN) return propagateNaN(ca, aSe, aHi, aLo, cb, bSe, bHi, bLo);
    if (ca === C_INF && cb === C_INF) return invalid();
    if (ca === C_DEN || cb === C_DEN || den) R.flags |= SW_DE;
    return ca === C_INF ? setInf(sign) : setZero(sign);
  }
  if (ca === C_ZERO && cb === C_ZERO) return invalid();
  if (cb === C_ZERO) {
    // Zero divide takes precedence: a denormal dividend does not raise DE.
    R.flags |= SW_ZE;
    return setInf(sign);
  }
  if (ca === C_DEN || cb === C_DEN || den) R.flags |= SW_DE;
  if (ca === C_ZERO) return setZero(sign);
  unpackA(aSe, aHi, aLo);
  unpackB(bSe, bHi, bLo);
  let e = aE - bE + BIAS;
  // Quotient of A·2^95 (A >= B) or A·2^96 (A < B) by B: 96 bits with the top one set.
  const aLess = W[AH] >>> 0 < W[BH] >>> 0 || (W[AH] === W[BH] && W[AL] >>> 0 < W[BL] >>> 0);
  if (aLess) e--;
  // Numerator digits: A shifted left by 96 or 95 bits → 10 digits (160 bits).
  const u = DU;
  for (let k = 0; k < 6; k++) u[k] = 0;
  if (aLess) {
    putWord(u, 6, W[AL]);
    putWord(u, 8, W[AH]);
  } else {
    // A << 95 = (A >> 1) << 96, with A's lowest bit at position 95.
    u[5] = (W[AL] & 1) << 15;
    putWord(u, 6, (W[AL] >>> 1) | (W[AH] << 31));
    putWord(u, 8, W[AH] >>> 1);
  }
  putWord(DV, 0, W[BL]);
  putWord(DV, 2, W[BH]);
  divDigits(6, 4);
  // Quotient fits in 6 digits (DQ[6] is 0).
  const sticky = (DU[0]! + DU[1]! + DU[2]! + DU[3]!) !== 0 ? 1 : 0;
  const x = getWord(DQ, 0) | sticky;
  roundCw(sign, e, getWord(DQ, 4), getWord(DQ, 2), x, cw);
}

// ---------------------------------------------------------------- square root

const SQ = new Int32Array(16);

export function fsqrt(aSe: number, aHi: number, aLo: number, cw: number): void {
  R.flags = 0;
  const ca = classify(aSe, aHi, aLo);
  const neg = (aSe & 0x8000) !== 0;
  switch (ca) {
    case C_UNSUP: return invalid();
    case C_QNAN: case C_SNAN: return propagateNaN(ca, aSe, aHi, aLo, C_ZERO, 0, 0, 0);
    case C_ZERO: R.se = aSe; R.hi = 0; R.lo = 0; return;
    case C_INF: if (neg) return invalid(); setInf(0); return;
  }
  if (neg) return invalid();
  if (ca === C_DEN) R.flags |= SW_DE;
  unpackA(aSe, aHi, aLo);
  const E = aE - BIAS;
  const odd = (E & 1) !== 0;
  const resE = (odd ? E - 1 : E) / 2 + BIAS;
  // M = A · 2^128 (odd) or A · 2^127 (even): 192 bits, 12 digits; its root has 96 bits.
  const u = SQ;
  for (let k = 0; k < 12; k++) u[k] = 0;
  if (odd) {
    putWord(u, 8, W[AL]);
    putWord(u, 10, W[AH]);
  } else {
    u[7] = (W[AL] & 1) << 15;
    putWord(u, 8, (W[AL] >>> 1) | (W[AH] << 31));
    putWord(u, 10, W[AH] >>> 1);
  }
  // First approximation in double: sqrt(A) · 2^64 (odd) or sqrt(2A) · 2^63 (even), 53 good bits.
  const ad = (W[AH] >>> 0) * 4294967296 + (W[AL] >>> 0);
  const y = Math.sqrt(odd ? ad : 2 * ad); // in [2^31.5, 2^32.5)
  // r0 = floor(y · 2^20) · 2^(43 or 44): y·2^20 is an integer < 2^53.
  // (clamped below 2^52 when odd so that r0 < 2^96: y can round up to exactly 2^32)
  const yi = Math.min(Math.floor(y * 1048576), odd ? 4503599627370495 : 9007199254740991);
  const sh = odd ? 44 : 43;
  // r0 as six digits: yi << sh.
  setDigitsShifted(DV, yi, sh);
  // Newton step: r1 = (r0 + floor(M / r0)) / 2.
  for (let k = 0; k < 12; k++) DU[k] = u[k]!;
  divDigits(6, 6);
  // r1 = (DV + DQ) >> 1 over 7 digits.
  let c = 0;
  for (let k = 0; k < 7; k++) {
    const s = (k < 6 ? DV[k]! : 0) + DQ[k]! + c;
    c = s >= 65536 ? 1 : 0;
    DQ[k] = s & 0xffff;
  }
  for (let k = 0; k < 6; k++) DV[k] = (DQ[k]! >>> 1) | ((DQ[k + 1]! & 1) << 15);
  // Correct downwards while r1² > M (at most once or twice: r1 is within one of the root).
  for (let guard = 0; ; guard++) {
    squareDigits6(DV, SQ2);
    let cmp = 0;
    for (let k = 11; k >= 0; k--) {
      if (SQ2[k] !== u[k]) {
        cmp = SQ2[k]! > u[k]! ? 1 : -1;
        break;
      }
    }
    if (cmp > 0 && guard < 8) {
      decDigits(DV, 6);
      continue;
    }
    // r1² <= M: is (r1+1)² <= M too? (only if the Newton step came out low, which it cannot; checked for safety)
    const sticky = cmp !== 0 ? 1 : 0;
    const x = getWord(DV, 0) | sticky;
    roundCw(0, resE, getWord(DV, 4), getWord(DV, 2), x, cw);
    return;
  }
}

const SQ2 = new Int32Array(13);

/** Six digits of v · 2^sh (v < 2^53 integer, sh < 64) into arr (96 bits). */
function setDigitsShifted(arr: Int32Array, v: number, sh: number): void {
  const vh = Math.floor(v / 4294967296) | 0, vl = (v % 4294967296) | 0;
  let w0 = 0, w1 = 0, w2 = 0;
  if (sh < 32) {
    w0 = vl << sh;
    w1 = sh === 0 ? vh : (vh << sh) | (vl >>> (32 - sh));
    w2 = sh === 0 ? 0 : vh >>> (32 - sh);
  } else {
    const m = sh - 32;
    w1 = vl << m;
    w2 = m === 0 ? vh : (vh << m) | (vl >>> (32 - m));
  }
  putWord(arr, 0, w0);
  putWord(arr, 2, w1);
  putWord(arr, 4, w2);
}

function squareDigits6(v: Int32Array, out: Int32Array): void {
  for (let k = 0; k < 13; k++) out[k] = 0;
  for (let i = 0; i < 6; i++) {
    let c = 0;
    const vi = v[i]!;
    for (let j = 0; j < 6; j++) {
      const t = out[i + j]! + vi * v[j]! + c;
      c = Math.floor(t / 65536);
      out[i + j] = t - c * 65536;
    }
    out[i + 6] = c;
  }
}

function decDigits(v: Int32Array, n: number): void {
  for (let k = 0; k < n; k++) {
    if (v[k] !== 0) {
      v[k]!--;
      return;
    }
    v[k] = 65535;
  }
}

// ---------------------------------------------------------------- compare

/** Compare results. */
export const CMP_GT = 0, CMP_LT = 1, CMP_EQ = 2, CMP_UN = 3;

/**
 * Compare a with b. `quiet`: only SNaNs (and unsupported encodings) raise IE
 * (fucom*); otherwise any NaN does (fcom*). Flags in R.flags.
 */
export function fcompare(aSe: number, aHi: number, aLo: number, bSe: number, bHi: number, bLo: number, quiet: boolean, den: boolean): number {
  R.flags = 0;
  const ca = classify(aSe, aHi, aLo);
  const cb = classify(bSe, bHi, bLo);
  if (ca >= C_QNAN || cb >= C_QNAN) {
    if (!quiet || ca === C_SNAN || cb === C_SNAN || ca === C_UNSUP || cb === C_UNSUP) R.flags |= SW_IE;
    return CMP_UN;
  }
  if (ca === C_DEN || cb === C_DEN || den) R.flags |= SW_DE;
  return cmpValues(ca, aSe, aHi, aLo, cb, bSe, bHi, bLo);
}

/** Order two non-NaN values (classes given). */
function cmpValues(ca: number, aSe: number, aHi: number, aLo: number, cb: number, bSe: number, bHi: number, bLo: number): number {
  const sa = (aSe >>> 15) & 1, sb = (bSe >>> 15) & 1;
  if (ca === C_ZERO && cb === C_ZERO) return CMP_EQ;
  if (ca === C_ZERO) return sb ? CMP_GT : CMP_LT;
  if (cb === C_ZERO) return sa ? CMP_LT : CMP_GT;
  if (sa !== sb) return sa ? CMP_LT : CMP_GT;
  // Same sign: compare magnitudes.
  let mag: number;
  if (ca === C_INF || cb === C_INF) mag = ca === cb ? 0 : ca === C_INF ? 1 : -1;
  else {
    normalize(aSe, aHi, aLo);
    const e1 = nE, h1 = W[NH], l1 = W[NL];
    normalize(bSe, bHi, bLo);
    if (e1 !== nE) mag = e1 > nE ? 1 : -1;
    else if (h1 !== W[NH]) mag = h1 >>> 0 > W[NH] >>> 0 ? 1 : -1;
    else if (l1 !== W[NL]) mag = l1 >>> 0 > W[NL] >>> 0 ? 1 : -1;
    else mag = 0;
  }
  if (mag === 0) return CMP_EQ;
  return (mag > 0) !== (sa !== 0) ? CMP_GT : CMP_LT;
}

// ---------------------------------------------------------------- integers

/** Output of roundToInt: magnitude (W[IH], W[IL]), inexact and rounded-up flags. */
let iInexact = false, iUp = false, iBig = false;

/**
 * Round the finite value (sign, exponent e of bit 63, significand h:l normalised)
 * to an integer by rc: magnitude in (W[IH], W[IL]); iBig when it does not fit 64 bits.
 */
function roundToInt(sign: number, e: number, h: number, l: number, rc: number): void {
  const E = e - BIAS; // value = sig · 2^(E - 63)
  iInexact = false;
  iUp = false;
  iBig = false;
  if (E >= 63) {
    W[IH] = h;
    W[IL] = l;
    iBig = E > 63;
    return;
  }
  // Shift right by 63 - E (1..) with the shifted-out bits as round information.
  shiftRightJam(h, l, 0, 63 - E);
  const rb = W[SX] >>> 31;
  const st = (W[SX] & 0x7fffffff) !== 0;
  const inexact = rb !== 0 || st;
  let inc: boolean;
  switch (rc) {
    case RC_NEAR: inc = rb !== 0 && (st || (W[SL] & 1) !== 0); break;
    case RC_DOWN: inc = inexact && sign !== 0; break;
    case RC_UP: inc = inexact && sign === 0; break;
    default: inc = false; break;
  }
  let hh = W[SH], ll = W[SL];
  if (inc) {
    const t = (ll >>> 0) + 1;
    if (t > 0xffffffff) {
      ll = 0;
      hh = (hh + 1) | 0; // cannot overflow: the magnitude is below 2^63 before rounding
    } else ll = t | 0;
  }
  W[IH] = hh;
  W[IL] = ll;
  iInexact = inexact;
  iUp = inc;
}

/** FRNDINT: round to an integer by the rounding control (precision control does not apply). */
export function frndint(aSe: number, aHi: number, aLo: number, cw: number): void {
  R.flags = 0;
  const ca = classify(aSe, aHi, aLo);
  switch (ca) {
    case C_UNSUP: return invalid();
    case C_QNAN: case C_SNAN: return propagateNaN(ca, aSe, aHi, aLo, C_ZERO, 0, 0, 0);
    case C_ZERO: case C_INF: R.se = aSe; R.hi = aHi; R.lo = aLo; return;
  }
  if (ca === C_DEN) R.flags |= SW_DE;
  unpackA(aSe, aHi, aLo);
  if (aE - BIAS >= 63) {
    R.se = aSe; R.hi = aHi; R.lo = aLo;
    return;
  }
  roundToInt(aS, aE, W[AH], W[AL], (cw >>> 10) & 3);
  if (iInexact) R.flags |= SW_PE;
  if (iUp) R.flags |= SW_C1;
  packInt(aS, W[IH], W[IL]);
}

/** Pack a 64-bit magnitude (exact) with a sign into R. */
function packInt(sign: number, h: number, l: number): void {
  if ((h | l) === 0) return setZero(sign);
  const n = normalize96(h, l, 0);
  R.se = (sign << 15) | (BIAS + 63 - n);
  R.hi = W[SH];
  R.lo = W[SL];
}

/** FILD: a signed 64-bit integer (lo, hi) to extended (exact). */
export function fromInt64(lo: number, hi: number): void {
  let sign = 0;
  if (hi < 0) {
    sign = 1;
    lo = -lo | 0;
    hi = (~hi + (lo === 0 ? 1 : 0)) | 0;
  }
  packInt(sign, hi, lo);
}

/** Output of toInt: the integer (lo, hi), two's complement. */

/**
 * FIST/FISTP/FISTTP: convert to a signed integer of `bits` (16, 32, 64) by rc.
 * Invalid (NaN, infinity, unsupported, out of range) raises IE and yields the
 * integer indefinite (the most negative value); inexact raises PE (and C1 when rounded up).
 */
export function toInt(aSe: number, aHi: number, aLo: number, bits: number, rc: number): void {
  R.flags = 0;
  const ca = classify(aSe, aHi, aLo);
  if (ca >= C_INF) return intIndefinite(bits);
  if (ca === C_ZERO) {
    W[INT_LO] = 0;
    W[INT_HI] = 0;
    return;
  }
  unpackA(aSe, aHi, aLo);
  roundToInt(aS, aE, W[AH], W[AL], rc);
  if (iBig) return intIndefinite(bits);
  // Range check against 2^(bits-1) (one more allowed when negative).
  let ok: boolean;
  if (bits === 64) ok = W[IH] >= 0 || (aS !== 0 && W[IH] === (0x80000000 | 0) && W[IL] === 0);
  else if (W[IH] !== 0) ok = false;
  else {
    const lim = bits === 32 ? 0x80000000 : 0x8000;
    ok = W[IL] >>> 0 < lim || (aS !== 0 && W[IL] >>> 0 === lim);
  }
  if (!ok) return intIndefinite(bits);
  if (iInexact) R.flags |= SW_PE;
  if (iUp) R.flags |= SW_C1;
  if (aS) {
    W[INT_LO] = -W[IL] | 0;
    W[INT_HI] = (~W[IH] + (W[INT_LO] === 0 ? 1 : 0)) | 0;
  } else {
    W[INT_LO] = W[IL];
    W[INT_HI] = W[IH];
  }
  if (bits === 16) W[INT_LO] &= 0xffff;
}

function intIndefinite(bits: number): void {
  R.flags |= SW_IE;
  W[INT_LO] = bits === 16 ? 0x8000 : bits === 32 ? 0x80000000 | 0 : 0;
  W[INT_HI] = bits === 64 ? 0x80000000 | 0 : 0;
}

// ---------------------------------------------------------------- memory formats

/** Set by fromF32/fromF64 when the source was a denormal of its format. */
export let loadDen = false;

/** Single precision bits → extended (exact; SNaNs stay signalling). */
export function fromF32(v: number): void {
  const sign = v >>> 31;
  const e = (v >>> 23) & 0xff;
  const f = v & 0x7fffff;
  loadDen = false;
  if (e === 0xff) {
    R.se = (sign << 15) | 0x7fff;
    R.hi = 0x80000000 | (f << 8);
    R.lo = 0;
  } else if (e === 0) {
    if (f === 0) return setZero(sign);
    loadDen = true;
    const s = Math.clz32(f) - 8; // shift to put the top bit at bit 23
    R.se = (sign << 15) | (BIAS - 126 - s);
    R.hi = (f << (8 + s)) | 0;
    R.lo = 0;
  } else {
    R.se = (sign << 15) | (e - 127 + BIAS);
    R.hi = 0x80000000 | (f << 8);
    R.lo = 0;
  }
}

/** Double precision bits (lo, hi) → extended. */
export function fromF64(lo: number, hi: number): void {
  const sign = hi >>> 31;
  const e = (hi >>> 20) & 0x7ff;
  const fh = hi & 0xfffff;
  loadDen = false;
  if (e === 0x7ff) {
    R.se = (sign << 15) | 0x7fff;
    R.hi = 0x80000000 | (fh << 11) | (lo >>> 21);
    R.lo = lo << 11;
  } else if (e === 0) {
    if ((fh | lo) === 0) return setZero(sign);
    loadDen = true;
    // value = f · 2^-1074; normalising the 64-bit (fh, lo) to bit 63 shifts it left by n.
    const n = normalize96(fh, lo, 0);
    R.se = (sign << 15) | (BIAS - 1074 + 63 - n);
    R.hi = W[SH];
    R.lo = W[SL];
  } else {
    R.se = (sign << 15) | (e - 1023 + BIAS);
    R.hi = 0x80000000 | (fh << 11) | (lo >>> 21);
    R.lo = lo << 11;
  }
}

/** Output of toF32/toF64: the bits (f64: lo in W[MEM_LO], hi in W[MEM_HI]). */

/**
 * Extended → single/double (bits 32 or 64) rounded by rc; flags in R.flags
 * (IE for SNaN/unsupported, OE/UE/PE, C1). roundTrap: nothing may be stored
 * (unmasked overflow/underflow).
 */
export function toFloat(aSe: number, aHi: number, aLo: number, bits: number, cw: number): void {
  R.flags = 0;
  roundTrap = false;
  const ca = classify(aSe, aHi, aLo);
  const sign = (aSe >>> 15) & 1;
  const dbl = bits === 64;
  switch (ca) {
    case C_ZERO:
      W[MEM_LO] = dbl ? 0 : sign << 31;
      W[MEM_HI] = dbl ? sign << 31 : 0;
      return;
    case C_INF:
      W[MEM_LO] = dbl ? 0 : (sign << 31) | 0x7f800000;
      W[MEM_HI] = dbl ? (sign << 31) | 0x7ff00000 : 0;
      return;
    case C_UNSUP:
      R.flags |= SW_IE;
      W[MEM_LO] = dbl ? 0 : 0xffc00000 | 0;
      W[MEM_HI] = dbl ? 0xfff80000 | 0 : 0;
      return;
    case C_SNAN: case C_QNAN: {
      if (ca === C_SNAN) R.flags |= SW_IE;
      if (dbl) {
        W[MEM_HI] = (sign << 31) | 0x7ff80000 | ((aHi >>> 11) & 0x7ffff);
        W[MEM_LO] = (aHi << 21) | (aLo >>> 11);
      } else {
        W[MEM_LO] = (sign << 31) | 0x7fc00000 | ((aHi >>> 8) & 0x3fffff);
        W[MEM_HI] = 0;
      }
      return;
    }
  }
  unpackA(aSe, aHi, aLo);
  const rc = (cw >>> 10) & 3;
  if (dbl) roundGen(sign, aE, W[AH], W[AL], 0, 53, BIAS - 1022, BIAS + 1023, rc, cw, false);
  else roundGen(sign, aE, W[AH], W[AL], 0, 24, BIAS - 126, BIAS + 127, rc, cw, false);
  if (roundTrap) return;
  const normal = W[OH] < 0;
  if (dbl) {
    const ef = oE === 0x7fff ? 0x7ff : normal ? oE - BIAS + 1023 : 0;
    W[MEM_HI] = (sign << 31) | (ef << 20) | ((W[OH] >>> 11) & 0xfffff);
    W[MEM_LO] = (W[OH] << 21) | (W[OL] >>> 11);
  } else {
    const ef = oE === 0x7fff ? 0xff : normal ? oE - BIAS + 127 : 0;
    W[MEM_LO] = (sign << 31) | (ef << 23) | ((W[OH] >>> 8) & 0x7fffff);
    W[MEM_HI] = 0;
  }
}

// ---------------------------------------------------------------- remainder, scale, extract

/** Quotient bits of the last fprem (Q2, Q1, Q0) and whether it was partial (C2). */
export let remQ = 0, remPartial = false;

/**
 * FPREM (round = false: quotient truncated) / FPREM1 (round = true: quotient
 * rounded to nearest) of a by b. Exact. When the exponent difference is 64
 * or more, a partial remainder is computed (C2 = 1).
 */
export function fprem(aSe: number, aHi: number, aLo: number, bSe: number, bHi: number, bLo: number, round: boolean, cw: number): void {
  R.flags = 0;
  remQ = 0;
  remPartial = false;
  const ca = classify(aSe, aHi, aLo);
  const cb = classify(bSe, bHi, bLo);
  if (ca === C_UNSUP || cb === C_UNSUP) return invalid();
  if (ca >= C_QNAN || cb >= C_QNAN) return propagateNaN(ca, aSe, aHi, aLo, cb, bSe, bHi, bLo);
  if (ca === C_INF || cb === C_ZERO) return invalid();
  if (ca === C_DEN || cb === C_DEN) R.flags |= SW_DE;
  if (ca === C_ZERO || cb === C_INF) {
    R.se = aSe; R.hi = aHi; R.lo = aLo;
    if (ca === C_DEN && aHi < 0) R.se = aSe | 1; // a pseudo-denormal comes back normalised
    return;
  }
  unpackA(aSe, aHi, aLo);
  unpackB(bSe, bHi, bLo);
  const sign = aS;
  let d = aE - bE;
  // |a| < |b|: the quotient is 0 and the remainder a, except for fprem1 when |a| may exceed |b|/2 (d = -1).
  if (d < 0 && (!round || d < -1)) return roundExt(sign, aE, W[AH], W[AL], 0, 64, RC_NEAR, cw);
  // Exponent difference of 64 or more: a partial remainder, reducing by a multiple of b·2^(d - n)
  // with n = 32 + d mod 32 (what the hardware does; C2 = 1 asks for another iteration).
  let partial = false;
  let qExp = 0;
  if (d >= 64) {
    partial = true;
    const n = 32 + (d % 32);
    qExp = d - n;
    d = n;
  }
  // Remainder (rh, rl, rx) at the scale of b·2^qExp (bit 63 ↔ exponent rE), quotient's low word q0.
  let rh: number, rl: number, rx = 0, q0: number, rE: number;
  if (d >= 0) {
    // Q = trunc(A·2^d / B), Rm = A·2^d - Q·B (exact, < B).
    for (let k = 0; k < 12; k++) DU[k] = 0;
    shiftIntoDigits(W[AH], W[AL], d);
    putWord(DV, 0, W[BL]);
    putWord(DV, 2, W[BH]);
    divDigits(4, 4);
    rh = getWord(DU, 2);
    rl = getWord(DU, 0);
    q0 = getWord(DQ, 0);
    rE = bE + qExp;
  } else {
    // d = -1 (fprem1 only): quotient 0, remainder a.
    rh = W[AH];
    rl = W[AL];
    q0 = 0;
    rE = aE;
  }
  let rs = sign;
  if (round && !partial) {
    // Round the quotient to nearest-even: compare 2·Rm with B.
    const c = d < 0 ? cmp64(W[AH], W[AL], W[BH], W[BL]) : rh < 0 ? 1 : cmp64((rh << 1) | (rl >>> 31), rl << 1, W[BH], W[BL]);
    if (c > 0 || (c === 0 && (q0 & 1) !== 0)) {
      // Q + 1: the remainder becomes B - Rm with the opposite sign.
      if (d < 0) {
        // B - A/2 at B's scale
        shiftRightJam(W[AH], W[AL], 0, 1);
        rx = (0 - W[SX]) | 0;
        let borrow = W[SX] !== 0 ? 1 : 0;
        const ld = (W[BL] >>> 0) - (W[SL] >>> 0) - borrow;
        borrow = ld < 0 ? 1 : 0;
        rl = ld | 0;
        rh = ((W[BH] >>> 0) - (W[SH] >>> 0) - borrow) | 0;
        rE = bE;
      } else {
        const ld = (W[BL] >>> 0) - (rl >>> 0);
        rl = ld | 0;
        rh = ((W[BH] >>> 0) - (rh >>> 0) - (ld < 0 ? 1 : 0)) | 0;
      }
      rs ^= 1;
      q0 = (q0 + 1) | 0;
    }
  }
  remQ = q0 & 7;
  remPartial = partial;
  // An exact zero remainder has the dividend's sign.
  if ((rh | rl | rx) === 0) return setZero(sign);
  const n = normalize96(rh, rl, rx);
  roundExt(rs, rE - n, W[SH], W[SL], W[SX], 64, RC_NEAR, cw);
}

function cmp64(ah: number, al: number, bh: number, bl: number): number {
  if (ah !== bh) return ah >>> 0 > bh >>> 0 ? 1 : -1;
  if (al !== bl) return al >>> 0 > bl >>> 0 ? 1 : -1;
  return 0;
}

/** DU[0..7] = (h, l) << d (d < 64) as 16-bit digits (128 bits). */
function shiftIntoDigits(h: number, l: number, d: number): void {
  let w0 = 0, w1 = 0, w2 = 0, w3 = 0;
  if (d === 0) {
    w0 = l; w1 = h;
  } else if (d < 32) {
    w0 = l << d;
    w1 = (h << d) | (l >>> (32 - d));
    w2 = h >>> (32 - d);
  } else if (d === 32) {
    w1 = l; w2 = h;
  } else {
    const m = d - 32;
    w1 = l << m;
    w2 = (h << m) | (l >>> (32 - m));
    w3 = h >>> (32 - m);
  }
  putWord(DU, 0, w0);
  putWord(DU, 2, w1);
  putWord(DU, 4, w2);
  putWord(DU, 6, w3);
}

/**
 * FSCALE: a · 2^trunc(b). Exact unless the result leaves the normal range
 * (then rounded by rc at 64 bits, with the usual overflow/underflow responses).
 */
export function fscale(aSe: number, aHi: number, aLo: number, bSe: number, bHi: number, bLo: number, cw: number): void {
  R.flags = 0;
  const ca = classify(aSe, aHi, aLo);
  const cb = classify(bSe, bHi, bLo);
  if (ca === C_UNSUP || cb === C_UNSUP) return invalid();
  if (ca >= C_QNAN || cb >= C_QNAN) return propagateNaN(ca, aSe, aHi, aLo, cb, bSe, bHi, bLo);
  const sa = (aSe >>> 15) & 1;
  const sb = (bSe >>> 15) & 1;
  if (cb === C_INF) {
    if (sb === 0) {
      if (ca === C_ZERO) return invalid();
      if (ca === C_DEN) R.flags |= SW_DE;
      return setInf(sa);
    }
    if (ca === C_INF) return invalid();
    if (ca === C_DEN) R.flags |= SW_DE;
    return setZero(sa);
  }
  if (ca === C_DEN || cb === C_DEN) R.flags |= SW_DE;
  if (ca === C_ZERO || ca === C_INF) {
    R.se = aSe; R.hi = aHi; R.lo = aLo;
    return;
  }
  // n = trunc(b), clamped far outside the exponent range.
  let n = 0;
  if (cb !== C_ZERO) {
    unpackB(bSe, bHi, bLo);
    const E = bE - BIAS;
    if (E >= 0) {
      if (E >= 20) n = 1 << 20;
      else n = (W[BH] >>> (31 - E));
      if (sb) n = -n;
    }
  }
  unpackA(aSe, aHi, aLo);
  roundExt(sa, aE + n, W[AH], W[AL], 0, 64, (cw >>> 10) & 3, cw);
}

/** Output of fxtract: the exponent part goes in R, the significand part here. */

/** FXTRACT: R = exponent (unbiased, as a float), (W[X_SE], W[X_HI], W[X_LO]) = significand with exponent 0. */
export function fxtract(aSe: number, aHi: number, aLo: number, _cw: number): void {
  R.flags = 0;
  const ca = classify(aSe, aHi, aLo);
  switch (ca) {
    case C_UNSUP:
      invalid();
      W[X_SE] = R.se; W[X_HI] = R.hi; W[X_LO] = R.lo;
      return;
    case C_QNAN: case C_SNAN:
      propagateNaN(ca, aSe, aHi, aLo, C_ZERO, 0, 0, 0);
      W[X_SE] = R.se; W[X_HI] = R.hi; W[X_LO] = R.lo;
      return;
    case C_ZERO:
      R.flags |= SW_ZE;
      setInf(1);
      W[X_SE] = aSe; W[X_HI] = 0; W[X_LO] = 0;
      return;
    case C_INF:
      setInf(0);
      W[X_SE] = aSe; W[X_HI] = aHi; W[X_LO] = aLo;
      return;
  }
  if (ca === C_DEN) R.flags |= SW_DE;
  unpackA(aSe, aHi, aLo);
  W[X_SE] = (aS << 15) | BIAS;
  W[X_HI] = W[AH];
  W[X_LO] = W[AL];
  const E = aE - BIAS;
  if (E === 0) return setZero(0);
  fromInt64(E, E >> 31);
}

// ---------------------------------------------------------------- doubles (transcendental helpers)

/** Extended → JS double, rounded to nearest (NaN payloads dropped). */
export function toDouble(se: number, hi: number, lo: number): number {
  const ca = classify(se, hi, lo);
  const sign = se & 0x8000 ? -1 : 1;
  switch (ca) {
    case C_ZERO: return sign * 0;
    case C_INF: return sign * Infinity;
    case C_QNAN: case C_SNAN: case C_UNSUP: return NaN;
  }
  normalize(se, hi, lo);
  // Round the 64-bit significand to 53 bits, nearest-even.
  R.flags = 0;
  roundSig(W[NH], W[NL], 0, 53, RC_NEAR, 0);
  let e = nE;
  let h = W[RH], l = W[RL];
  if (rCarry) e++;
  const m = (h >>> 0) * 2097152 + (l >>> 11); // top 53 bits as an integer
  const k = e - BIAS - 52;
  if (k < -1000) return sign * m * Math.pow(2, k + 200) * Math.pow(2, -200);
  if (k > 1000) return sign * m * Math.pow(2, k - 200) * Math.pow(2, 200);
  return sign * m * Math.pow(2, k);
}

/** JS double → extended in R (exact). */
const F64 = new Float64Array(1);
const F64I = new Int32Array(F64.buffer);
export function fromDouble(v: number): void {
  F64[0] = v;
  fromF64(F64I[0]!, F64I[1]!);
}

/** Normalised significand of the last exponentOf() call. */

/** Unbiased exponent of a finite non-zero packed value (normalised; significand in W[NORM_HI]/W[NORM_LO]). */
export function exponentOf(se: number, hi: number, lo: number): number {
  normalize(se, hi, lo);
  W[NORM_HI] = W[NH];
  W[NORM_LO] = W[NL];
  return nE - BIAS;
}
