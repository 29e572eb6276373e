/**
 * Multiply and divide: mul, imul (one-, two- and three-operand), div, idiv,
 * including 64×64→128 products and 128/64 division. Products are built from
 * 16-bit limbs (no BigInt); 128-bit division uses BigInt only when the
 * dividend does not fit in 53 bits.
 */
import type { Cpu } from '../cpu.ts';
import type { Insn } from '../insn.ts';
import { F_MUL } from '../flags.ts';
import { def, MAP_0F, MAP_1B } from '../table.ts';
import { AF, CF, DE, OF, PF, RAX, RDX, SF, ZF } from '../state.ts';
import { readE, sizeIdx } from './operand.ts';

/** Unsigned 32×32 → 64: returns the low half; high half in mulHi. */
let mulHi = 0;
export function mulU32(a: number, b: number): number {
  const aL = a & 0xffff, aH = a >>> 16, bL = b & 0xffff, bH = b >>> 16;
  const ll = aL * bL, lh = aL * bH, hl = aH * bL, hh = aH * bH;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  mulHi = (hh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) | 0;
  return ((mid << 16) | (ll & 0xffff)) | 0;
}

/** Unsigned 64×64 → 128 into out[0..3] (least significant word first). */
const P = new Int32Array(4);
function mulU64(aL: number, aH: number, bL: number, bH: number): void {
  const p0 = mulU32(aL, bL), p0h = mulHi;
  const p1 = mulU32(aL, bH), p1h = mulHi;
  const p2 = mulU32(aH, bL), p2h = mulHi;
  const p3 = mulU32(aH, bH), p3h = mulHi;
  // word1 = p0h + p1 + p2
  let s = (p0h >>> 0) + (p1 >>> 0) + (p2 >>> 0);
  const w1 = s | 0;
  let carry = Math.floor(s / 4294967296);
  s = (p1h >>> 0) + (p2h >>> 0) + (p3 >>> 0) + carry;
  const w2 = s | 0;
  carry = Math.floor(s / 4294967296);
  const w3 = (p3h + carry) | 0;
  P[0] = p0;
  P[1] = w1;
  P[2] = w2;
  P[3] = w3;
}

/** Signed 64×64 → 128 into P: the unsigned product corrected for the signs. */
function mulS64(aL: number, aH: number, bL: number, bH: number): void {
  mulU64(aL, aH, bL, bH);
  if (aH < 0) sub64High(bL, bH);
  if (bH < 0) sub64High(aL, aH);
}
function sub64High(lo: number, hi: number): void {
  const d = (P[2]! >>> 0) - (lo >>> 0);
  P[2] = d | 0;
  P[3] = (P[3]! - hi - (d < 0 ? 1 : 0)) | 0;
}

/** CF = OF = `overflow`; SF/ZF/PF from the low result (undefined on hardware), AF cleared. */
function mulFlags(c: Cpu, size: number, resL: number, resH: number, overflow: boolean): void {
  c.setLazy((F_MUL << 2) | sizeIdx(size), resL, resH, 0, 0, 0, 0, overflow ? 1 : 0);
}

// ---- one-operand mul / imul (F6/F7 /4, /5)

function mul1(signed: boolean) {
  return (size: number) => (c: Cpu, i: Insn): void => {
    const r = c.r;
    const b = readE(c, i, size), bh = c.hi;
    switch (size) {
      case 1: {
        const a = r[0]! & 0xff;
        const p = signed ? ((a << 24) >> 24) * ((b << 24) >> 24) : a * b;
        c.setReg16(RAX, p);
        const ov = signed ? p !== (p << 24) >> 24 : p > 0xff;
        mulFlags(c, 1, p & 0xff, 0, ov);
        break;
      }
      case 2: {
        const a = r[0]! & 0xffff;
        const p = signed ? ((a << 16) >> 16) * ((b << 16) >> 16) : a * b;
        c.setReg16(RAX, p);
        c.setReg16(RDX, p >> 16);
        const ov = signed ? p !== (p << 16) >> 16 : p > 0xffff;
        mulFlags(c, 2, p & 0xffff, 0, ov);
        break;
      }
      case 4: {
        const a = r[0]!;
        const lo = mulU32(a, b);
        let hi = mulHi;
        if (signed) {
          if (a < 0) hi = (hi - b) | 0;
          if (b < 0) hi = (hi - a) | 0;
        }
        c.setReg32(RAX, lo);
        c.setReg32(RDX, hi);
        const ov = signed ? hi !== lo >> 31 : hi !== 0;
        mulFlags(c, 4, lo, 0, ov);
        break;
      }
      default: {
        const aL = r[0]!, aH = r[1]!;
        if (signed) mulS64(aL, aH, b, bh);
        else mulU64(aL, aH, b, bh);
        r[0] = P[0]!;
        r[1] = P[1]!;
        r[2 * RDX] = P[2]!;
        r[2 * RDX + 1] = P[3]!;
        const ov = signed ? P[2] !== P[1]! >> 31 || P[3] !== P[1]! >> 31 : (P[2]! | P[3]!) !== 0;
        mulFlags(c, 8, P[0]!, P[1]!, ov);
      }
    }
  };
}
const MUL_UNDEF = SF | ZF | AF | PF;
def({ name: 'mul', map: MAP_1B, op: 0xf6, ext: 4, modrm: true, size: 'b', make: mul1(false), undefFlags: MUL_UNDEF });
def({ name: 'imul', map: MAP_1B, op: 0xf6, ext: 5, modrm: true, size: 'b', make: mul1(true), undefFlags: MUL_UNDEF });
def({ name: 'mul', map: MAP_1B, op: 0xf7, ext: 4, modrm: true, size: 'v', make: mul1(false), undefFlags: MUL_UNDEF });
def({ name: 'imul', map: MAP_1B, op: 0xf7, ext: 5, modrm: true, size: 'v', make: mul1(true), undefFlags: MUL_UNDEF });

// ---- two/three-operand imul: truncated signed product

function imulTrunc(c: Cpu, size: number, aL: number, aH: number, bL: number, bH: number): number {
  if (size === 2) {
    const p = ((aL << 16) >> 16) * ((bL << 16) >> 16);
    mulFlags(c, 2, p & 0xffff, 0, p !== (p << 16) >> 16);
    c.hi = 0;
    return p & 0xffff;
  }
  if (size === 4) {
    const lo = Math.imul(aL, bL);
    let hi = mulU32(aL, bL);
    hi = mulHi;
    if (aL < 0) hi = (hi - bL) | 0;
    if (bL < 0) hi = (hi - aL) | 0;
    mulFlags(c, 4, lo, 0, hi !== lo >> 31);
    c.hi = 0;
    return lo;
  }
  mulS64(aL, aH, bL, bH);
  const ov = P[2] !== P[1]! >> 31 || P[3] !== P[1]! >> 31;
  mulFlags(c, 8, P[0]!, P[1]!, ov);
  c.hi = P[1]!;
  return P[0]!;
}

def({
  name: 'imul',
  map: MAP_0F,
  op: 0xaf,
  modrm: true,
  size: 'v',
  undefFlags: MUL_UNDEF,
  make: (size) => (c, i) => {
    const b = readE(c, i, size), bh = c.hi;
    const a = c.getReg(i.reg, size), ah = c.hi;
    const r = imulTrunc(c, size, a, ah, b, bh);
    c.setReg(i.reg, size, r, c.hi);
  },
});
const imul3 = (size: number) => (c: Cpu, i: Insn): void => {
  const a = readE(c, i, size), ah = c.hi;
  const r = imulTrunc(c, size, a, ah, i.immLo, i.immHi);
  c.setReg(i.reg, size, r, c.hi);
};
def({ name: 'imul', map: MAP_1B, op: 0x69, modrm: true, size: 'v', imm: 'iz', make: imul3, undefFlags: MUL_UNDEF });
def({ name: 'imul', map: MAP_1B, op: 0x6b, modrm: true, size: 'v', imm: 'ib', make: imul3, undefFlags: MUL_UNDEF });

// ---- div / idiv: #DE on a zero divisor or a quotient that does not fit

const TWO32 = 4294967296;
const DIV_UNDEF = CF | OF | SF | ZF | AF | PF;

function div(signed: boolean) {
  return (size: number) => (c: Cpu, i: Insn): void => {
    const r = c.r;
    const d = readE(c, i, size), dh = c.hi;
    switch (size) {
      case 1: {
        const n = r[0]! & 0xffff;
        if (signed) {
          const dv = (d << 24) >> 24;
          if (dv === 0) throw c.fault(DE);
          const nn = (n << 16) >> 16;
          const q = Math.trunc(nn / dv);
          if (q > 127 || q < -128) throw c.fault(DE);
          c.setReg16(RAX, (q & 0xff) | ((nn - q * dv) & 0xff) << 8);
        } else {
          if (d === 0) throw c.fault(DE);
          const q = Math.floor(n / d);
          if (q > 0xff) throw c.fault(DE);
          c.setReg16(RAX, q | ((n - q * d) << 8));
        }
        return;
      }
      case 2: {
        const n = ((r[2 * RDX]! & 0xffff) << 16) | (r[0]! & 0xffff);
        if (signed) {
          const dv = (d << 16) >> 16;
          if (dv === 0) throw c.fault(DE);
          const q = Math.trunc(n / dv);
          if (q > 32767 || q < -32768) throw c.fault(DE);
          c.setReg16(RAX, q);
          c.setReg16(RDX, n - q * dv);
        } else {
          if (d === 0) throw c.fault(DE);
          const nu = n >>> 0;
          const q = Math.floor(nu / d);
          if (q > 0xffff) throw c.fault(DE);
          c.setReg16(RAX, q);
          c.setReg16(RDX, nu - q * d);
        }
        return;
      }
      case 4: {
        const nL = r[0]!, nH = r[2 * RDX]!;
        if (d === 0) throw c.fault(DE);
        let q: number, rem: number;
        if (!signed) {
          const dd = d >>> 0;
          if (nH >>> 0 >= dd) throw c.fault(DE);
          [q, rem] = divU53(nH >>> 0, nL >>> 0, dd);
        } else {
          const neg = nH < 0;
          // |n| as (hi, lo)
          let aL = nL, aH = nH;
          if (neg) {
            aL = (-nL) | 0;
            aH = (~nH + (nL === 0 ? 1 : 0)) | 0;
          }
          const dd = Math.abs(d);
          if (aH >>> 0 >= dd) throw c.fault(DE);
          [q, rem] = divU53(aH >>> 0, aL >>> 0, dd);
          if (neg !== d < 0) q = -q;
          if (neg) rem = -rem;
          if (q > 0x7fffffff || q < -0x80000000) throw c.fault(DE);
        }
        c.setReg32(RAX, q | 0);
        c.setReg32(RDX, rem | 0);
        return;
      }
      default:
        div64(c, signed, d, dh);
    }
  };
}

/** (hi * 2^32 + lo) / d for a quotient known to fit 32 bits: [quotient, remainder]. */
const QR: [number, number] = [0, 0];
function divU53(hi: number, lo: number, d: number): [number, number] {
  if (hi < 0x200000) {
    const n = hi * TWO32 + lo;
    let q = Math.floor(n / d);
    let rem = n - q * d;
    if (rem < 0) {
      q--;
      rem += d;
    } else if (rem >= d) {
      q++;
      rem -= d;
    }
    QR[0] = q;
    QR[1] = rem;
    return QR;
  }
  const n = (BigInt(hi) << 32n) | BigInt(lo);
  const bd = BigInt(d);
  QR[0] = Number(n / bd);
  QR[1] = Number(n % bd);
  return QR;
}

function div64(c: Cpu, signed: boolean, dL: number, dH: number): void {
  const r = c.r;
  if ((dL | dH) === 0) throw c.fault(DE);
  const nLo = r[0]!, nLoH = r[1]!, nHi = r[2 * RDX]!, nHiH = r[2 * RDX + 1]!;
  // Fast path: unsigned, RDX = 0, dividend and divisor below 2^53.
  if (!signed && (nHi | nHiH) === 0 && nLoH >>> 0 < 0x200000 && dH >>> 0 < 0x200000) {
    const n = (nLoH >>> 0) * TWO32 + (nLo >>> 0);
    const d = (dH >>> 0) * TWO32 + (dL >>> 0);
    let q = Math.floor(n / d);
    let rem = n - q * d;
    if (rem < 0) {
      q--;
      rem += d;
    } else if (rem >= d) {
      q++;
      rem -= d;
    }
    r[0] = q | 0;
    r[1] = Math.floor(q / TWO32) | 0;
    r[2 * RDX] = rem | 0;
    r[2 * RDX + 1] = Math.floor(rem / TWO32) | 0;
    return;
  }
  const u = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  let n = (u(nHi, nHiH) << 64n) | u(nLo, nLoH);
  let d = u(dL, dH);
  if (signed) {
    n = BigInt.asIntN(128, n);
    d = BigInt.asIntN(64, d);
    const q = n / d; // BigInt division truncates toward zero, as idiv does
    const rem = n % d;
    if (q > 0x7fffffffffffffffn || q < -0x8000000000000000n) throw c.fault(DE);
    c.setReg64n(RAX, BigInt.asUintN(64, q));
    c.setReg64n(RDX, BigInt.asUintN(64, rem));
  } else {
    const q = n / d;
    if (q > 0xffffffffffffffffn) throw c.fault(DE);
    c.setReg64n(RAX, q);
    c.setReg64n(RDX, n % d);
  }
}

def({ name: 'div', map: MAP_1B, op: 0xf6, ext: 6, modrm: true, size: 'b', make: div(false), undefFlags: DIV_UNDEF });
def({ name: 'idiv', map: MAP_1B, op: 0xf6, ext: 7, modrm: true, size: 'b', make: div(true), undefFlags: DIV_UNDEF });
def({ name: 'div', map: MAP_1B, op: 0xf7, ext: 6, modrm: true, size: 'v', make: div(false), undefFlags: DIV_UNDEF });
def({ name: 'idiv', map: MAP_1B, op: 0xf7, ext: 7, modrm: true, size: 'v', make: div(true), undefFlags: DIV_UNDEF });

