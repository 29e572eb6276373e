/**
 * Condition codes (the cc of jcc, setcc, cmovcc), evaluated from the lazy
 * flags. Compare-style records (sub/cmp, logic/test) answer directly from
 * their operands; anything else materialises the flags.
 */
import type { Cpu } from './cpu.ts';
import { F_EFLAGS, F_LOGIC, F_SUB, LF_A, LF_AH, LF_B, LF_BH, LF_OP, LF_RES, LF_RESH, SIZE64 } from './flags.ts';
import { CF, OF, PF, SF, ZF } from './state.ts';

/** Sign-extend a stored 8/16-bit value (32-bit values are already int32). */
function sx(size: number, v: number): number {
  return size === 0 ? (v << 24) >> 24 : size === 1 ? (v << 16) >> 16 : v | 0;
}

/** Evaluate condition `cc` (0-15: o, no, b, nb, z, nz, be, nbe, s, ns, p, np, l, nl, le, nle). */
export function cond(c: Cpu, cc: number): boolean {
  const lf = c.lf;
  const op = lf[LF_OP]!;
  const fam = op >> 2;
  const size = op & 3;
  let r: boolean;
  if (fam === F_SUB && (cc & 0xe) !== 0 && (cc & 0xe) !== 10 && (cc & 0xe) !== 8) {
    // cmp a, b: answer from the operands.
    const aL = lf[LF_A]!, bL = lf[LF_B]!;
    switch (cc >> 1) {
      case 1: // b: a <u b
        r = size === SIZE64 && lf[LF_AH] !== lf[LF_BH] ? lf[LF_AH]! >>> 0 < lf[LF_BH]! >>> 0 : aL >>> 0 < bL >>> 0;
        break;
      case 2: // z
        r = size === SIZE64 ? (lf[LF_RES]! | lf[LF_RESH]!) === 0 : lf[LF_RES] === 0;
        break;
      case 3: // be: a <=u b
        r = size === SIZE64 && lf[LF_AH] !== lf[LF_BH] ? lf[LF_AH]! >>> 0 < lf[LF_BH]! >>> 0 : aL >>> 0 <= bL >>> 0;
        break;
      case 6: // l: a <s b
        r = size === SIZE64 ? (lf[LF_AH] !== lf[LF_BH] ? lf[LF_AH]! < lf[LF_BH]! : aL >>> 0 < bL >>> 0) : sx(size, aL) < sx(size, bL);
        break;
      default: // 7, le: a <=s b
        r = size === SIZE64 ? (lf[LF_AH] !== lf[LF_BH] ? lf[LF_AH]! < lf[LF_BH]! : aL >>> 0 <= bL >>> 0) : sx(size, aL) <= sx(size, bL);
        break;
    }
    return (cc & 1) === 0 ? r : !r;
  }
  if (fam === F_LOGIC) {
    // CF = OF = 0: only ZF, SF (and PF) matter.
    const z = size === SIZE64 ? (lf[LF_RES]! | lf[LF_RESH]!) === 0 : lf[LF_RES] === 0;
    const s = size === SIZE64 ? lf[LF_RESH]! < 0 : size === 2 ? lf[LF_RES]! < 0 : size === 1 ? (lf[LF_RES]! & 0x8000) !== 0 : (lf[LF_RES]! & 0x80) !== 0;
    switch (cc >> 1) {
      case 0: r = false; break; // o
      case 1: r = false; break; // b
      case 2: r = z; break;
      case 3: r = z; break; // be: CF | ZF
      case 4: r = s; break;
      case 5: return evalFlags(c, cc);
      case 6: r = s; break; // l: SF != OF
      default: r = z || s; break; // le
    }
    return (cc & 1) === 0 ? r : !r;
  }
  if (fam !== F_EFLAGS) {
    // ZF and SF come straight from the stored result for every lazy family.
    const k = cc >> 1;
    if (k === 2) {
      r = size === SIZE64 ? (lf[LF_RES]! | lf[LF_RESH]!) === 0 : lf[LF_RES] === 0;
      return (cc & 1) === 0 ? r : !r;
    }
    if (k === 4) {
      const v = lf[LF_RES]!;
      r = size === SIZE64 ? lf[LF_RESH]! < 0 : size === 2 ? v < 0 : size === 1 ? (v & 0x8000) !== 0 : (v & 0x80) !== 0;
      return (cc & 1) === 0 ? r : !r;
    }
  }
  return evalFlags(c, cc);
}

function evalFlags(c: Cpu, cc: number): boolean {
  const f = op0(c) ? c.flags : c.getFlags();
  let r: boolean;
  switch (cc >> 1) {
    case 0: r = (f & OF) !== 0; break;
    case 1: r = (f & CF) !== 0; break;
    case 2: r = (f & ZF) !== 0; break;
    case 3: r = (f & (CF | ZF)) !== 0; break;
    case 4: r = (f & SF) !== 0; break;
    case 5: r = (f & PF) !== 0; break;
    case 6: r = ((f & SF) !== 0) !== ((f & OF) !== 0); break;
    default: r = (f & ZF) !== 0 || ((f & SF) !== 0) !== ((f & OF) !== 0); break;
  }
  return (cc & 1) === 0 ? r : !r;
}

function op0(c: Cpu): boolean {
  return c.lf[LF_OP] === F_EFLAGS;
}

export const CC_NAMES = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];
