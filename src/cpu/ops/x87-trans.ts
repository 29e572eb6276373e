/**
 * x87 transcendental instructions: f2xm1, fyl2x, fyl2xp1, fptan, fpatan,
 * fsin, fcos, fsincos.
 *
 * Precision: these are computed through JS doubles (Math.*), NOT in 64-bit
 * extended precision. The extended operand is split into its nearest double
 * plus the (exact) residual, and the residual is applied with the
 * function's derivative, so the result is the double-precision value of the
 * function at the exact 80-bit argument: relative error about 2^-52 (a few
 * double ulps, i.e. roughly 2^11 extended ulps; hardware is within about one
 * extended ulp). The multiplications by ST(1) in fyl2x/fyl2xp1 and the
 * tiny-argument shortcuts are done in extended precision with the control
 * word's rounding, so the full exponent range works.
 *
 * Trigonometric arguments of magnitude 2^10 or more are reduced exactly
 * (BigInt) by the x87's own 66-bit approximation of pi/2, as the hardware
 * does, so huge arguments give the hardware's (mathematically inexact)
 * answers; |x| >= 2^63 sets C2 and leaves the operand. f2xm1 outside
 * [-1, 1] (undefined) leaves the operand and reports PE, as the reference
 * host does; fyl2xp1 outside its domain returns whatever the formula gives.
 * Zeros, infinities, NaNs, denormals and unsupported encodings follow the
 * SDM tables. PE is reported for every inexact-looking finite result; C1
 * (rounded up) is not modelled and left 0.
 */
import type { Cpu } from '../cpu.ts';
import type { Insn } from '../insn.ts';
import { SW_C1, SW_C2, SW_DE, SW_IE, SW_PE, SW_UE, SW_ZE } from '../x87-state.ts';
import {
  BIAS, C_DEN, C_INF, C_QNAN, C_SNAN, C_UNSUP, C_ZERO, NORM_HI, NORM_LO, R, W, classify, exponentOf, fadd, fdiv, fmul,
  fromDouble, toDouble,
} from './x87-float.ts';
import { fpuEnter, isEmpty, lastIp, pop, raise, setIndef, setReg, stackOverflow, stackUnderflow, unmaskedPre, x87 } from './x87-common.ts';

/** Control word used for the exact helper arithmetic: 64-bit precision, round to nearest, all masked. */
const CW_EXACT = 0x037f;
/** Control word for a final extended-precision step: the instruction's rounding control and masks, 64-bit precision. */
let cwFinal = 0x037f;

/** Residual of the last split(): x - double(x), as a double. */
let resid = 0;

/** Nearest double of a finite value, with the residual in `resid`. */
function split(se: number, hi: number, lo: number): number {
  const d = toDouble(se, hi, lo);
  fromDouble(d);
  fadd(se, hi, lo, R.se, R.hi, R.lo, true, CW_EXACT, false);
  resid = toDouble(R.se, R.hi, R.lo);
  return d;
}

/** Result flags of the current transcendental. */
let tFlags = 0;

/** Store a double result in R (exact), noting PE for a finite non-exact-looking result and UE for a tiny one. */
function fromResult(v: number, exact: boolean): void {
  fromDouble(v);
  if (Number.isNaN(v)) {
    tFlags |= SW_IE;
    R.se = 0xffff;
    R.hi = 0xc0000000 | 0;
    R.lo = 0;
    return;
  }
  if (!exact && v !== 0 && Number.isFinite(v)) {
    tFlags |= SW_PE;
    if (Math.abs(v) < 2.2250738585072014e-308) tFlags |= SW_UE; // (never below the extended range here)
  }
}

/** Handle a NaN/unsupported single operand: true when R holds the result. */
function nanOperand(cls: number, se: number, hi: number, lo: number): boolean {
  if (cls === C_UNSUP) {
    tFlags |= SW_IE;
    R.se = 0xffff; R.hi = 0xc0000000 | 0; R.lo = 0;
    return true;
  }
  if (cls === C_QNAN || cls === C_SNAN) {
    if (cls === C_SNAN) tFlags |= SW_IE;
    R.se = se; R.hi = hi | 0x40000000; R.lo = lo;
    return true;
  }
  return false;
}

/** Two-operand NaN handling through the core (fadd gives the x87's propagation); true when R holds the result. */
function nanOperands(ca: number, aSe: number, aHi: number, aLo: number, cb: number, bSe: number, bHi: number, bLo: number): boolean {
  if (ca === C_UNSUP || cb === C_UNSUP || ca >= C_QNAN || cb >= C_QNAN) {
    fadd(aSe, aHi, aLo, bSe, bHi, bLo, false, CW_EXACT, false);
    tFlags |= R.flags & SW_IE;
    return true;
  }
  return false;
}

// ---------------------------------------------------------------- sin, cos, tan, sincos

/** Trigonometric kinds. */
const K_SIN = 0, K_COS = 1, K_TAN = 2, K_SINCOS = 3;

/** Second result of fsincos (the cosine), packed. */
const COS = new Int32Array(3);

/**
 * Compute the function of kind k of ST(0) into R (and the cosine for sincos
 * into COS[0]…). Returns false for an out-of-range operand (|x| >= 2^63).
 */
function trig(k: number, se: number, hi: number, lo: number): boolean {
  const cls = classify(se, hi, lo);
  if (nanOperand(cls, se, hi, lo)) {
    COS[0] = R.se; COS[1] = R.hi; COS[2] = R.lo;
    return true;
  }
  if (cls === C_INF) {
    tFlags |= SW_IE;
    R.se = 0xffff; R.hi = 0xc0000000 | 0; R.lo = 0;
    COS[0] = R.se; COS[1] = R.hi; COS[2] = R.lo;
    return true;
  }
  if (cls === C_ZERO) {
    R.se = se; R.hi = 0; R.lo = 0; // sin, tan: ±0
    if (k === K_COS) {
      R.se = 0x3fff; R.hi = 0x80000000 | 0;
    }
    COS[0] = 0x3fff; COS[1] = 0x80000000 | 0; COS[2] = 0;
    return true;
  }
  if (cls === C_DEN) tFlags |= SW_DE;
  const E = exponentOf(se, hi, lo);
  if (E >= 63) return false;
  if (E < -40) {
    // Tiny: sin x = tan x = x, cos x = 1 to far beyond 64 bits.
    tFlags |= SW_PE;
    if (cls === C_DEN && k !== K_COS) tFlags |= SW_UE; // a denormal sine/tangent result
    R.se = se; R.hi = hi; R.lo = lo;
    if (k === K_COS) {
      R.se = 0x3fff; R.hi = 0x80000000 | 0; R.lo = 0;
    }
    COS[0] = 0x3fff; COS[1] = 0x80000000 | 0; COS[2] = 0;
    return true;
  }
  let x: number, r: number, q = 0;
  if (E >= 10) {
    // Large arguments: reduce by the x87's 66-bit pi/2 like the hardware does.
    x = reduce(se, hi, lo, E);
    r = resid;
    q = quadrant;
  } else {
    x = split(se, hi, lo);
    r = resid;
  }
  let s = Math.sin(x), c = Math.cos(x);
  // sin/cos of the exact argument (x + r) to first order
  let sv = s + c * r, cv = c - s * r;
  // quadrant q: (x + q·pi/2)
  switch (q) {
    case 1: s = sv; sv = cv; cv = -s; break;
    case 2: sv = -sv; cv = -cv; break;
    case 3: s = sv; sv = -cv; cv = s; break;
  }
  switch (k) {
    case K_SIN: fromResult(sv, false); break;
    case K_COS: fromResult(cv, false); break;
    case K_TAN: {
      if (q === 0) {
        const t = Math.tan(x);
        fromResult(t + (1 + t * t) * r, false);
      } else fromResult(sv / cv, false);
      break;
    }
    default: {
      fromResult(cv, false);
      COS[0] = R.se; COS[1] = R.hi; COS[2] = R.lo;
      fromResult(sv, false);
    }
  }
  return true;
}

/** pi/2 as the x87 knows it: the 66-bit pi (0xC90FDAA22168C234 followed by binary 11), over 2. */
const PIO2_66 = 0x3243f6a8885a308d3n; // pi · 2^64 truncated to 66 bits; pi/2 = PIO2_66 · 2^-65
let quadrant = 0;

/**
 * Reduce |x| >= 2^10 (finite, below 2^63) by the 66-bit pi/2: returns the
 * reduced argument as a double (residual in `resid`), the quadrant in
 * `quadrant`. Exact integer arithmetic (BigInt: a rare path).
 */
function reduce(se: number, hi: number, lo: number, E: number): number {
  const m = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  // x = m · 2^(E - 63); scale everything by 2^(65 + 64) so that pi/2 and x are integers.
  const X = m << BigInt(E - 63 + 129);
  const P = PIO2_66 << 64n;
  let k = X / P;
  let rem = X - k * P;
  if (rem * 2n > P) {
    k += 1n;
    rem -= P;
  }
  const neg = (se & 0x8000) !== 0;
  quadrant = Number(k & 3n);
  if (neg) {
    rem = -rem;
    quadrant = (4 - quadrant) & 3;
  }
  // rem · 2^-129 as a double plus residual
  const d = Number(rem);
  const back = BigInt(d);
  resid = Number(rem - back) * 2 ** -129;
  return d * 2 ** -129;
}

function trigOp(name: string, ext: number, rm: number, k: number): void {
  x87(name, 0xd9, ext, 'reg', (c: Cpu, i: Insn) => {
    const f = fpuEnter(c);
    lastIp(f, i);
    const p0 = f.top, pn = (f.top - 1) & 7;
    const pushes = k === K_TAN || k === K_SINCOS;
    if (isEmpty(f, p0)) {
      f.sw &= ~SW_C2;
      if (!stackUnderflow(f)) return;
      setIndef(f, p0);
      if (pushes) {
        f.top = pn;
        setIndef(f, pn);
      }
      return;
    }
    if (pushes && !isEmpty(f, pn)) {
      f.sw &= ~SW_C2;
      if (!stackOverflow(f)) return;
      setIndef(f, p0);
      f.top = pn;
      setIndef(f, pn);
      return;
    }
    tFlags = 0;
    const inRange = trig(k, f.se[p0]!, f.hi[p0]!, f.lo[p0]!);
    if (!inRange) {
      f.sw = (f.sw & ~(SW_C1 | SW_C2)) | SW_C2;
      return;
    }
    if (unmaskedPre(f, tFlags)) return raise(f, tFlags & (SW_IE | SW_DE | SW_ZE));
    raise(f, tFlags);
    f.sw &= ~SW_C2;
    setReg(f, p0, R.se, R.hi, R.lo);
    if (k === K_TAN) {
      f.top = pn;
      // 1.0 (or the NaN again when the operand was a NaN)
      if (R.se === 0xffff && R.hi === (0xc0000000 | 0) && R.lo === 0 && tFlags & SW_IE) setIndef(f, pn);
      else if ((R.se & 0x7fff) === 0x7fff) setReg(f, pn, R.se, R.hi, R.lo);
      else setReg(f, pn, 0x3fff, 0x80000000 | 0, 0);
    } else if (k === K_SINCOS) {
      f.top = pn;
      setReg(f, pn, COS[0], COS[1], COS[2]);
    }
  }, rm);
}
trigOp('fptan', 6, 2, K_TAN);
trigOp('fsincos', 7, 3, K_SINCOS);
trigOp('fsin', 7, 6, K_SIN);
trigOp('fcos', 7, 7, K_COS);

// ---------------------------------------------------------------- f2xm1

const LN2 = Math.LN2;

function f2xm1(se: number, hi: number, lo: number): void {
  const cls = classify(se, hi, lo);
  if (nanOperand(cls, se, hi, lo)) return;
  if (cls === C_ZERO) {
    R.se = se; R.hi = 0; R.lo = 0;
    return;
  }
  if (cls === C_INF) {
    if (se & 0x8000) {
      R.se = 0xbfff; R.hi = 0x80000000 | 0; R.lo = 0; // -1
    } else {
      R.se = se; R.hi = hi; R.lo = lo;
    }
    return;
  }
  if (cls === C_DEN) tFlags |= SW_DE;
  const E = exponentOf(se, hi, lo);
  if (E >= 0 && !(E === 0 && W[NORM_HI] === (0x80000000 | 0) && W[NORM_LO] === 0)) {
    // |x| > 1 is outside the domain (undefined): the operand is left as it is, with PE (as measured).
    tFlags |= SW_PE;
    R.se = se; R.hi = hi; R.lo = lo;
    return;
  }
  if (E < -60) {
    // 2^x - 1 = x·ln2 (1 + x·ln2/2 + …): the extended product is exact enough.
    fmul(se, hi, lo, 0x3ffe, 0xb17217f7 | 0, 0xd1cf79ac | 0, cwFinal, false);
    tFlags |= R.flags | SW_PE;
    return;
  }
  const x = split(se, hi, lo);
  const v = Math.expm1(x * LN2) + resid * LN2 * Math.pow(2, x);
  fromResult(v, Number.isInteger(x) && x >= -1 && x <= 1);
}

x87('f2xm1', 0xd9, 6, 'reg', (c, i) => {
  const f = fpuEnter(c);
  lastIp(f, i);
  const p = f.top;
  if (isEmpty(f, p)) {
    if (stackUnderflow(f)) setIndef(f, p);
    return;
  }
  tFlags = 0;
  cwFinal = f.cw | 0x300;
  f2xm1(f.se[p]!, f.hi[p]!, f.lo[p]!);
  if (unmaskedPre(f, tFlags)) return raise(f, tFlags & (SW_IE | SW_DE | SW_ZE));
  raise(f, tFlags & ~SW_C1);
  setReg(f, p, R.se, R.hi, R.lo);
}, 0);

// ---------------------------------------------------------------- fyl2x, fyl2xp1, fpatan (ST(1) = f(ST(1), ST(0)), pop)

/** log2(x) of a finite positive x into R (extended, from a double with ~2^-53 relative error). */
function log2Ext(se: number, hi: number, lo: number): void {
  const E = exponentOf(se, hi, lo);
  let L: number;
  if (E === -1 || E === 0) {
    // x in [0.5, 2): log2 x = log1p(x - 1) / ln2 with x - 1 exact.
    fadd(se, hi, lo, 0x3fff, 0x80000000 | 0, 0, true, CW_EXACT, false);
    const t = split(R.se, R.hi, R.lo);
    L = (Math.log1p(t) + resid / (1 + t)) / LN2;
  } else {
    // x = m · 2^E with m in [1, 2): log2 x = E + log2 m.
    const m = split(BIAS, W[NORM_HI], W[NORM_LO]);
    L = E + Math.log2(m) + resid / (m * LN2);
  }
  fromDouble(L);
}

function fyl2x(ySe: number, yHi: number, yLo: number, xSe: number, xHi: number, xLo: number): void {
  const cx = classify(xSe, xHi, xLo), cy = classify(ySe, yHi, yLo);
  if (nanOperands(cy, ySe, yHi, yLo, cx, xSe, xHi, xLo)) return;
  const xNeg = (xSe & 0x8000) !== 0, yNeg = (ySe & 0x8000) !== 0;
  if (xNeg && cx !== C_ZERO) return invalidT();
  if (cx === C_ZERO) {
    // log2(0) = -inf; the zero divide takes precedence over a denormal y
    if (cy === C_ZERO) return invalidT();
    if (cy !== C_INF) tFlags |= SW_ZE;
    return infT(!yNeg);
  }
  if (cx === C_DEN || cy === C_DEN) tFlags |= SW_DE;
  if (cx === C_INF) {
    if (cy === C_ZERO) return invalidT();
    return infT(yNeg);
  }
  const one = (xSe & 0x7fff) === BIAS && xHi === (0x80000000 | 0) && xLo === 0;
  if (one) {
    if (cy === C_INF) return invalidT();
    R.se = ySe & 0x8000; R.hi = 0; R.lo = 0; // y · (+0)
    return;
  }
  if (cy === C_INF) {
    // sign: y · log2(x), log2(x) < 0 for x < 1
    const below = (xSe & 0x7fff) < BIAS;
    return infT(yNeg !== below);
  }
  if (cy === C_ZERO) {
    const below = (xSe & 0x7fff) < BIAS;
    R.se = yNeg !== below ? 0x8000 : 0; R.hi = 0; R.lo = 0;
    return;
  }
  log2Ext(xSe, xHi, xLo);
  fmul(ySe, yHi, yLo, R.se, R.hi, R.lo, cwFinal, false);
  tFlags |= (R.flags & ~(SW_C1 | SW_DE)) | SW_PE;
}

function fyl2xp1(ySe: number, yHi: number, yLo: number, xSe: number, xHi: number, xLo: number): void {
  const cx = classify(xSe, xHi, xLo), cy = classify(ySe, yHi, yLo);
  if (nanOperands(cy, ySe, yHi, yLo, cx, xSe, xHi, xLo)) return;
  const xNeg = (xSe & 0x8000) !== 0, yNeg = (ySe & 0x8000) !== 0;
  if (cx === C_DEN || cy === C_DEN) tFlags |= SW_DE;
  if (cx === C_ZERO) {
    if (cy === C_INF) return invalidT();
    R.se = (xNeg !== yNeg) ? 0x8000 : 0; R.hi = 0; R.lo = 0;
    return;
  }
  if (cx === C_INF) {
    if (xNeg || cy === C_ZERO) return invalidT();
    return infT(yNeg);
  }
  if (cy === C_INF) return infT(yNeg !== xNeg);
  if (cy === C_ZERO) {
    R.se = (xNeg !== yNeg) ? 0x8000 : 0; R.hi = 0; R.lo = 0;
    return;
  }
  const E = exponentOf(xSe, xHi, xLo);
  if (E < -60) {
    // log2(1 + x) = x · log2(e) (1 - x/2 + …)
    fmul(xSe, xHi, xLo, 0x3fff, 0xb8aa3b29 | 0, 0x5c17f0bc | 0, CW_EXACT, false);
  } else {
    const x = split(xSe, xHi, xLo);
    const L = (Math.log1p(x) + resid / (1 + x)) / LN2;
    if (Number.isNaN(L)) return invalidT();
    if (!Number.isFinite(L)) {
      tFlags |= SW_ZE;
      return infT(!yNeg);
    }
    fromDouble(L);
  }
  fmul(ySe, yHi, yLo, R.se, R.hi, R.lo, cwFinal, false);
  tFlags |= (R.flags & ~(SW_C1 | SW_DE)) | SW_PE;
}

function fpatan(ySe: number, yHi: number, yLo: number, xSe: number, xHi: number, xLo: number): void {
  const cx = classify(xSe, xHi, xLo), cy = classify(ySe, yHi, yLo);
  if (nanOperands(cy, ySe, yHi, yLo, cx, xSe, xHi, xLo)) return;
  if (cx === C_DEN || cy === C_DEN) tFlags |= SW_DE;
  if (cx === C_ZERO || cy === C_ZERO || cx === C_INF || cy === C_INF) {
    const xd = cx === C_ZERO ? (xSe & 0x8000 ? -0 : 0) : cx === C_INF ? (xSe & 0x8000 ? -Infinity : Infinity) : xSe & 0x8000 ? -1 : 1;
    const yd = cy === C_ZERO ? (ySe & 0x8000 ? -0 : 0) : cy === C_INF ? (ySe & 0x8000 ? -Infinity : Infinity) : ySe & 0x8000 ? -1 : 1;
    const v = Math.atan2(yd, xd);
    fromResult(v, v === 0);
    return;
  }
  const ey = exponentOf(ySe, yHi, yLo), ex = exponentOf(xSe, xHi, xLo);
  if (ey - ex < -62 && !(xSe & 0x8000)) {
    // atan(y/x) = y/x to beyond 64 bits
    fdiv(ySe, yHi, yLo, xSe, xHi, xLo, cwFinal, false);
    tFlags |= (R.flags & ~(SW_C1 | SW_DE)) | SW_PE;
    return;
  }
  // Scale both by 2^-max(ey, ex) (exact) into double range.
  const m = Math.max(ey, ex);
  const yd = scaled(ySe, yHi, yLo, m), yr = resid;
  const xd = scaled(xSe, xHi, xLo, m), xr = resid;
  const v = Math.atan2(yd, xd) + (xd * yr - yd * xr) / (xd * xd + yd * yd);
  fromResult(v, false);
}

/** split() of the value · 2^-m (m the larger exponent; the result stays finite, may lose range when tiny). */
function scaled(se: number, hi: number, lo: number, m: number): number {
  const E = exponentOf(se, hi, lo);
  const ne = E - m;
  if (ne < -1000) {
    resid = 0;
    return se & 0x8000 ? -0 : 0;
  }
  // Rebuild with the exponent ne (normalised significand).
  return split((se & 0x8000) | (ne + BIAS), W[NORM_HI], W[NORM_LO]);
}

function invalidT(): void {
  tFlags |= SW_IE;
  R.se = 0xffff; R.hi = 0xc0000000 | 0; R.lo = 0;
}
function infT(neg: boolean): void {
  R.se = neg ? 0xffff : 0x7fff; R.hi = 0x80000000 | 0; R.lo = 0;
}

function st1Op(name: string, ext: number, rm: number, op: (a: number, b: number, c: number, d: number, e: number, g: number) => void): void {
  x87(name, 0xd9, ext, 'reg', (c, i) => {
    const f = fpuEnter(c);
    lastIp(f, i);
    const p0 = f.top, p1 = (f.top + 1) & 7;
    if (isEmpty(f, p0) || isEmpty(f, p1)) {
      if (!stackUnderflow(f)) return;
      setIndef(f, p1);
      pop(f);
      return;
    }
    tFlags = 0;
    cwFinal = f.cw | 0x300;
    op(f.se[p1]!, f.hi[p1]!, f.lo[p1]!, f.se[p0]!, f.hi[p0]!, f.lo[p0]!);
    if (unmaskedPre(f, tFlags)) return raise(f, tFlags & (SW_IE | SW_DE | SW_ZE));
    raise(f, tFlags & ~SW_C1);
    setReg(f, p1, R.se, R.hi, R.lo);
    pop(f);
  }, rm);
}
st1Op('fyl2x', 6, 1, fyl2x);
st1Op('fpatan', 6, 3, fpatan);
st1Op('fyl2xp1', 7, 1, fyl2xp1);
