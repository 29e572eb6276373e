/**
 * Lazy arithmetic flags. An ALU instruction records what it did (operation
 * family and size, result, operands) in `lf`; a flag is computed only when
 * something reads it (jcc, setcc, cmovcc, adc, pushf, …). Family EFLAGS means
 * the flags are materialised in cpu.flags.
 *
 * Values are stored masked to the operation size: 8/16-bit values are
 * unsigned, 32-bit values are int32, 64-bit values are (lo, hi) int32 pairs.
 */
import { AF, CF, OF, PF, SF, ZF } from './state.ts';

/** Indices into the lazy-flag record. */
export const LF_OP = 0, LF_RES = 1, LF_RESH = 2, LF_A = 3, LF_AH = 4, LF_B = 5, LF_BH = 6, LF_AUX = 7;
export const LF_LEN = 8;

/** Families; the op code is family << 2 | size index (0: 8, 1: 16, 2: 32, 3: 64 bits). */
export const F_EFLAGS = 0;
export const F_ADD = 1; // res = a + b
export const F_ADC = 2; // res = a + b + aux(carry in)
export const F_SUB = 3; // res = a - b (also cmp, neg with a = 0)
export const F_SBB = 4; // res = a - b - aux(borrow in)
export const F_LOGIC = 5; // and/or/xor/test: CF = OF = 0
export const F_INC = 6; // res = a + 1; aux = CF kept from before
export const F_DEC = 7; // res = a - 1; aux = CF kept from before
export const F_SHL = 8; // aux = CF (last bit out); a = operand before; OF = MSB(res) ^ CF
export const F_SHR = 9; // aux = CF; a = operand before; OF = MSB(a)
export const F_SAR = 10; // aux = CF; OF = 0
export const F_MUL = 11; // aux = CF = OF (upper half significant); SF/ZF/PF from res (undefined on hardware)

export const SIZE8 = 0, SIZE16 = 1, SIZE32 = 2, SIZE64 = 3;

/** Parity flag lookup for the low byte. */
export const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let b = i, p = 1;
  while (b) {
    p ^= b & 1;
    b >>>= 1;
  }
  PARITY[i] = p ? PF : 0;
}

const MIN_BY_SIZE = new Int32Array([0x80, 0x8000, 0x80000000 | 0]);
const MAX_BY_SIZE = new Int32Array([0x7f, 0x7fff, 0x7fffffff]);

/** Sign bit of a stored value of the given size (64-bit uses the high half). */
function sign(size: number, lo: number, hi: number): number {
  switch (size) {
    case SIZE8: return lo & 0x80;
    case SIZE16: return lo & 0x8000;
    case SIZE32: return lo & 0x80000000;
    default: return hi & 0x80000000;
  }
}

/** Unsigned a < b for values of a size. */
function below(size: number, aL: number, aH: number, bL: number, bH: number): boolean {
  if (size === SIZE64 && aH !== bH) return aH >>> 0 < bH >>> 0;
  return aL >>> 0 < bL >>> 0;
}

function isZero(size: number, lo: number, hi: number): boolean {
  return size === SIZE64 ? (lo | hi) === 0 : lo === 0;
}

export function lazyCF(lf: Int32Array): boolean {
  const op = lf[LF_OP]!;
  const fam = op >> 2, size = op & 3;
  switch (fam) {
    case F_ADD:
      return below(size, lf[LF_RES]!, lf[LF_RESH]!, lf[LF_A]!, lf[LF_AH]!);
    case F_ADC: {
      const r = below(size, lf[LF_RES]!, lf[LF_RESH]!, lf[LF_A]!, lf[LF_AH]!);
      if (lf[LF_AUX]) return r || (lf[LF_RES] === lf[LF_A] && (size !== SIZE64 || lf[LF_RESH] === lf[LF_AH]));
      return r;
    }
    case F_SUB:
      return below(size, lf[LF_A]!, lf[LF_AH]!, lf[LF_B]!, lf[LF_BH]!);
    case F_SBB: {
      const r = below(size, lf[LF_A]!, lf[LF_AH]!, lf[LF_B]!, lf[LF_BH]!);
      if (lf[LF_AUX]) return r || (lf[LF_A] === lf[LF_B] && (size !== SIZE64 || lf[LF_AH] === lf[LF_BH]));
      return r;
    }
    case F_LOGIC:
      return false;
    default: // INC, DEC, SHL, SHR, SAR, MUL keep CF in aux
      return lf[LF_AUX] !== 0;
  }
}

export function lazyZF(lf: Int32Array): boolean {
  return isZero(lf[LF_OP]! & 3, lf[LF_RES]!, lf[LF_RESH]!);
}

export function lazySF(lf: Int32Array): boolean {
  return sign(lf[LF_OP]! & 3, lf[LF_RES]!, lf[LF_RESH]!) !== 0;
}

export function lazyPF(lf: Int32Array): boolean {
  return PARITY[lf[LF_RES]! & 0xff] !== 0;
}

export function lazyAF(lf: Int32Array): boolean {
  const fam = lf[LF_OP]! >> 2;
  switch (fam) {
    case F_ADD: case F_ADC: case F_SUB: case F_SBB:
      return ((lf[LF_A]! ^ lf[LF_B]! ^ lf[LF_RES]!) & 0x10) !== 0;
    case F_INC:
      return (lf[LF_RES]! & 0xf) === 0;
    case F_DEC:
      return (lf[LF_RES]! & 0xf) === 0xf;
    default:
      return false;
  }
}

export function lazyOF(lf: Int32Array): boolean {
  const op = lf[LF_OP]!;
  const fam = op >> 2, size = op & 3;
  const rL = lf[LF_RES]!, rH = lf[LF_RESH]!, aL = lf[LF_A]!, aH = lf[LF_AH]!, bL = lf[LF_B]!, bH = lf[LF_BH]!;
  switch (fam) {
    case F_ADD: case F_ADC:
      return sign(size, (aL ^ rL) & (bL ^ rL), (aH ^ rH) & (bH ^ rH)) !== 0;
    case F_SUB: case F_SBB:
      return sign(size, (aL ^ bL) & (aL ^ rL), (aH ^ bH) & (aH ^ rH)) !== 0;
    case F_INC: // result is the most negative value
      return size === SIZE64 ? rL === 0 && rH === (0x80000000 | 0) : rL === MIN_BY_SIZE[size];
    case F_DEC: // result is the most positive value
      return size === SIZE64 ? rL === -1 && rH === 0x7fffffff : rL === MAX_BY_SIZE[size];
    case F_SHL:
      return (sign(size, rL, rH) !== 0) !== (lf[LF_AUX] !== 0);
    case F_SHR:
      return sign(size, aL, aH) !== 0;
    case F_MUL:
      return lf[LF_AUX] !== 0;
    default: // LOGIC, SAR
      return false;
  }
}

/** All six arithmetic flags from the lazy record. */
export function lazyFlags(lf: Int32Array): number {
  return (
    (lazyCF(lf) ? CF : 0) |
    (lazyPF(lf) ? PF : 0) |
    (lazyAF(lf) ? AF : 0) |
    (lazyZF(lf) ? ZF : 0) |
    (lazySF(lf) ? SF : 0) |
    (lazyOF(lf) ? OF : 0)
  );
}
