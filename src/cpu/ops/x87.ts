/**
 * The x87 FPU instructions (escape opcodes D8-DF, fwait) in 64-bit mode.
 *
 * Registers are 80-bit values (see x87-state.ts); the arithmetic is the
 * exact software extended precision of x87-float.ts, honouring the
 * precision and rounding control of FCW. The transcendental instructions
 * (x87-trans.ts) are computed through doubles. Environment and state
 * save/restore (fnstenv/fldenv/fnsave/frstor/fxsave/fxrstor) live in
 * x87-env.ts, shared helpers in x87-common.ts.
 *
 * Exceptions: flags accumulate in FSW. Masked responses are the
 * architectural ones (QNaN indefinite, integer indefinite, denormals,
 * infinities). An unmasked invalid-operation, denormal or zero-divide
 * exception suppresses the instruction's result (destination and TOP
 * unchanged), except that compares still set C3/C2/C0 (or ZF/PF/CF) and
 * only skip their pops, and that fld of a denormal single/double still
 * loads. An unmasked overflow or underflow delivers the exponent-wrapped
 * result to a register destination; a memory destination is left
 * unchanged and the stack is not popped. Any unmasked exception sets ES and
 * B; #MF is then raised by the next waiting x87 instruction (every one
 * except the FN* control instructions, fxsave and fxrstor), before it
 * executes, as on hardware with CR0.NE = 1.
 *
 * Where the SDM leaves condition codes undefined, this follows what the
 * reference host (an AMD processor) does, as measured by test/x87.test.ts,
 * with one exception: fcomi/fucomi(p) clear C1 as the SDM says (that host
 * leaves it unchanged). Undocumented aliases (FSTP1, FCOM2, FCOMP3, FXCH4,
 * FCOMP5, FXCH7, FSTP8, FSTP9, FFREEP) are implemented.
 *
 * CR0.EM or CR0.TS set: #NM (fwait: only with CR0.MP and TS).
 */
import type { Cpu } from '../cpu.ts';
import type { Insn } from '../insn.ts';
import { cond } from '../cond.ts';
import { def, MAP_1B } from '../table.ts';
import { CF, MF, NM, PF, ZF } from '../state.ts';
import {
  SW_B, SW_C0, SW_C1, SW_C2, SW_C3, SW_DE, SW_ES, SW_IE, SW_SF, SW_ZE, type X87,
} from '../x87-state.ts';
import {
  C_INF, C_NORM, C_QNAN, C_SNAN, C_UNSUP, C_ZERO, CMP_EQ, CMP_GT, CMP_LT, CW_IM, INT_HI, INT_LO, MEM_HI, MEM_LO, R, W, X_HI, X_LO,
  X_SE, classify, fadd, fcompare, fdiv, fmul, fprem, frndint, fromF32, fromF64, fromInt64, fscale, fsqrt, fxtract, loadDen,
  remPartial, remQ, roundTrap, toFloat, toInt,
} from './x87-float.ts';
import {
  fpuEnter, fpuEnterNoWait, isEmpty, lastDp, lastIp, pop, push, raise, setCw, setIndef, setReg, stackOverflow,
  stackUnderflow, unmaskedPre, x87,
} from './x87-common.ts';

/** Set the condition codes C3 C2 C0 (C1 cleared) from a compare result. */
function setCC(f: X87, r: number): void {
  let cc = 0;
  switch (r) {
    case CMP_GT: cc = 0; break;
    case CMP_LT: cc = SW_C0; break;
    case CMP_EQ: cc = SW_C3; break;
    default: cc = SW_C3 | SW_C2 | SW_C0; break;
  }
  f.sw = (f.sw & ~(SW_C0 | SW_C1 | SW_C2 | SW_C3)) | cc;
}

/** Operand scratch (a converted memory operand): sign/exponent, significand halves (typed: no boxing). */
const OP = new Int32Array(3);
let oDen = false;

/** Memory operand formats. */
const M32 = 0, M64 = 1, I16 = 2, I32 = 3, I64 = 4, M80 = 5;

/** Read and convert a memory operand of format fmt into (OP[0], OP[1], OP[2], oDen). May fault (before any change). */
function loadMem(c: Cpu, fmt: number, a: number, ah: number): void {
  switch (fmt) {
    case M32:
      fromF32(c.read32(a, ah));
      oDen = loadDen;
      break;
    case M64: {
      const lo = c.read64(a, ah);
      fromF64(lo, c.hi);
      oDen = loadDen;
      break;
    }
    case I16: {
      const v = (c.read16(a, ah) << 16) >> 16;
      fromInt64(v, v >> 31);
      oDen = false;
      break;
    }
    case I32: {
      const v = c.read32(a, ah);
      fromInt64(v, v >> 31);
      oDen = false;
      break;
    }
    case I64: {
      const lo = c.read64(a, ah);
      fromInt64(lo, c.hi);
      oDen = false;
      break;
    }
    default: {
      const lo = c.read64(a, ah);
      const hi = c.hi;
      const se = c.read16(((a >>> 0) + 8) | 0, (a >>> 0) + 8 > 0xffffffff ? (ah + 1) | 0 : ah);
      OP[0] = se;
      OP[1] = hi;
      OP[2] = lo;
      oDen = false;
      return;
    }
  }
  OP[0] = R.se;
  OP[1] = R.hi;
  OP[2] = R.lo;
}

/**
 * The arithmetic of group ext (0 add, 1 mul, 4 sub, 5 subr, 6 div, 7 divr)
 * with a = ST(0) and b = the other operand: the result is in R.
 */
function arith(ext: number, aSe: number, aHi: number, aLo: number, bSe: number, bHi: number, bLo: number, cw: number, den: boolean): void {
  switch (ext) {
    case 0: fadd(aSe, aHi, aLo, bSe, bHi, bLo, false, cw, den); break;
    case 1: fmul(aSe, aHi, aLo, bSe, bHi, bLo, cw, den); break;
    case 4: fadd(aSe, aHi, aLo, bSe, bHi, bLo, true, cw, den); break;
    case 5: fadd(bSe, bHi, bLo, aSe, aHi, aLo, true, cw, den); break;
    case 6: fdiv(aSe, aHi, aLo, bSe, bHi, bLo, cw, den); break;
    default: fdiv(bSe, bHi, bLo, aSe, aHi, aLo, cw, den); break;
  }
}

const ARITH_NAMES = ['fadd', 'fmul', 'fcom', 'fcomp', 'fsub', 'fsubr', 'fdiv', 'fdivr'];
const IARITH_NAMES = ['fiadd', 'fimul', 'ficom', 'ficomp', 'fisub', 'fisubr', 'fidiv', 'fidivr'];

// ---------------------------------------------------------------- arithmetic with a memory operand

function arithMem(fmt: number, ext: number) {
  return (c: Cpu, i: Insn): void => {
    const f = fpuEnter(c);
    const a = c.ea(i), ah = c.eaHi;
    loadMem(c, fmt, a, ah);
    lastIp(f, i);
    lastDp(f, a, ah);
    const p = f.top;
    if (isEmpty(f, p)) {
      const masked = stackUnderflow(f);
      if (ext === 2 || ext === 3) {
        setCC(f, 3); // even when unmasked
        if (ext === 3 && masked) pop(f);
      } else if (masked) setIndef(f, p);
      return;
    }
    if (ext === 2 || ext === 3) {
      // Compares set the condition codes even with an unmasked exception (then they do not pop).
      const r = fcompare(f.se[p]!, f.hi[p]!, f.lo[p]!, OP[0], OP[1], OP[2], false, oDen);
      const fl = R.flags;
      raise(f, fl);
      setCC(f, r);
      if (ext === 3 && !unmaskedPre(f, fl)) pop(f);
      return;
    }
    arith(ext, f.se[p]!, f.hi[p]!, f.lo[p]!, OP[0], OP[1], OP[2], f.cw, oDen);
    const fl = R.flags;
    if (unmaskedPre(f, fl)) return raise(f, fl & (SW_IE | SW_DE | SW_ZE));
    raise(f, fl);
    setReg(f, p, R.se, R.hi, R.lo);
  };
}

for (let ext = 0; ext < 8; ext++) {
  x87(ARITH_NAMES[ext]!, 0xd8, ext, 'mem', arithMem(M32, ext));
  x87(ARITH_NAMES[ext]!, 0xdc, ext, 'mem', arithMem(M64, ext));
  x87(IARITH_NAMES[ext]!, 0xda, ext, 'mem', arithMem(I32, ext));
  x87(IARITH_NAMES[ext]!, 0xde, ext, 'mem', arithMem(I16, ext));
}

// ---------------------------------------------------------------- arithmetic on registers

/**
 * D8 (ST(0) = ST(0) op ST(i)), DC (ST(i) = ST(i) op ST(0)) and DE (the same
 * and pop). In all three, ext 4 computes ST(0) - ST(i) and ext 5 ST(i) - ST(0)
 * (likewise 6/7 for division); only the destination differs.
 */
function arithReg(ext: number, toSti: boolean, popAfter: boolean) {
  return (c: Cpu, i: Insn): void => {
    const f = fpuEnter(c);
    lastIp(f, i);
    const p0 = f.top, pi = (f.top + (i.rm & 7)) & 7;
    const dst = toSti ? pi : p0;
    if (isEmpty(f, p0) || isEmpty(f, pi)) {
      if (!stackUnderflow(f)) return;
      setIndef(f, dst);
      if (popAfter) pop(f);
      return;
    }
    arith(ext, f.se[p0]!, f.hi[p0]!, f.lo[p0]!, f.se[pi]!, f.hi[pi]!, f.lo[pi]!, f.cw, false);
    const fl = R.flags;
    if (unmaskedPre(f, fl)) return raise(f, fl & (SW_IE | SW_DE | SW_ZE));
    raise(f, fl);
    setReg(f, dst, R.se, R.hi, R.lo);
    if (popAfter) pop(f);
  };
}

for (const ext of [0, 1, 4, 5, 6, 7]) {
  x87(ARITH_NAMES[ext]!, 0xd8, ext, 'reg', arithReg(ext, false, false));
  x87(ARITH_NAMES[ext]!, 0xdc, ext, 'reg', arithReg(ext, true, false));
  const pn = ['faddp', 'fmulp', '', '', 'fsubrp', 'fsubp', 'fdivrp', 'fdivp'][ext]!;
  x87(pn, 0xde, ext, 'reg', arithReg(ext, true, true));
}

// ---------------------------------------------------------------- compares

/**
 * Compare ST(0) with ST(i) (k = i; `fixed` >= 0 uses that register instead of
 * the ModRM one). pops: 0, 1 or 2. quiet: fucom. eflags: fcomi (ZF/PF/CF).
 */
function compareReg(pops: number, quiet: boolean, eflags: boolean, fixed = -1) {
  return (c: Cpu, i: Insn): void => {
    const f = fpuEnter(c);
    lastIp(f, i);
    const p0 = f.top, pi = (f.top + (fixed >= 0 ? fixed : i.rm & 7)) & 7;
    // The condition codes (EFLAGS) are set even with an unmasked exception; the pops are not done then.
    let r: number;
    let popOk: boolean;
    if (isEmpty(f, p0) || isEmpty(f, pi)) {
      popOk = stackUnderflow(f);
      r = 3;
    } else {
      r = fcompare(f.se[p0]!, f.hi[p0]!, f.lo[p0]!, f.se[pi]!, f.hi[pi]!, f.lo[pi]!, quiet, false);
      const fl = R.flags;
      raise(f, fl);
      popOk = !unmaskedPre(f, fl);
    }
    if (eflags) {
      f.sw &= ~SW_C1;
      c.setArithFlags(r === CMP_GT ? 0 : r === CMP_LT ? CF : r === CMP_EQ ? ZF : ZF | PF | CF);
    } else setCC(f, r);
    if (popOk) for (let k = 0; k < pops; k++) pop(f);
  };
}

x87('fcom', 0xd8, 2, 'reg', compareReg(0, false, false));
x87('fcomp', 0xd8, 3, 'reg', compareReg(1, false, false));
x87('fcom', 0xdc, 2, 'reg', compareReg(0, false, false)); // undocumented alias (FCOM2)
x87('fcomp', 0xdc, 3, 'reg', compareReg(1, false, false)); // alias (FCOMP3)
x87('fcomp', 0xde, 2, 'reg', compareReg(1, false, false)); // alias (FCOMP5)
x87('fcompp', 0xde, 3, 'reg', compareReg(2, false, false, 1), 1);
x87('fucom', 0xdd, 4, 'reg', compareReg(0, true, false));
x87('fucomp', 0xdd, 5, 'reg', compareReg(1, true, false));
x87('fucompp', 0xda, 5, 'reg', compareReg(2, true, false, 1), 1);
x87('fucomi', 0xdb, 5, 'reg', compareReg(0, true, true));
x87('fcomi', 0xdb, 6, 'reg', compareReg(0, false, true));
x87('fucomip', 0xdf, 5, 'reg', compareReg(1, true, true));
x87('fcomip', 0xdf, 6, 'reg', compareReg(1, false, true));

// ftst: compare ST(0) with +0.0
x87('ftst', 0xd9, 4, 'reg', (c, i) => {
  const f = fpuEnter(c);
  lastIp(f, i);
  const p = f.top;
  if (isEmpty(f, p)) {
    stackUnderflow(f);
    setCC(f, 3); // even when unmasked
    return;
  }
  const r = fcompare(f.se[p]!, f.hi[p]!, f.lo[p]!, 0, 0, 0, false, false);
  raise(f, R.flags);
  setCC(f, r);
}, 4);

// fxam: classify ST(0)
x87('fxam', 0xd9, 4, 'reg', (c, i) => {
  const f = fpuEnter(c);
  lastIp(f, i);
  const p = f.top;
  const sign = f.se[p]! & 0x8000 ? SW_C1 : 0;
  let cc: number;
  if (isEmpty(f, p)) cc = SW_C3 | SW_C0;
  else {
    switch (classify(f.se[p]!, f.hi[p]!, f.lo[p]!)) {
      case C_UNSUP: cc = 0; break;
      case C_QNAN: case C_SNAN: cc = SW_C0; break;
      case C_NORM: cc = SW_C2; break;
      case C_INF: cc = SW_C2 | SW_C0; break;
      case C_ZERO: cc = SW_C3; break;
      default: cc = SW_C3 | SW_C2; break; // denormal
    }
  }
  f.sw = (f.sw & ~(SW_C0 | SW_C1 | SW_C2 | SW_C3)) | cc | sign;
}, 5);

// ---------------------------------------------------------------- loads

function fldMem(fmt: number) {
  return (c: Cpu, i: Insn): void => {
    const f = fpuEnter(c);
    const a = c.ea(i), ah = c.eaHi;
    loadMem(c, fmt, a, ah);
    lastIp(f, i);
    lastDp(f, a, ah);
    let flags = 0;
    if (fmt === M32 || fmt === M64) {
      const cls = classify(OP[0], OP[1], OP[2]);
      if (cls === C_SNAN) {
        flags = SW_IE;
        OP[1] |= 0x40000000;
      } else if (oDen) flags = SW_DE;
    }
    if (!isEmpty(f, (f.top - 1) & 7)) {
      if (stackOverflow(f)) {
        f.top = (f.top - 1) & 7;
        setIndef(f, f.top);
      }
      return;
    }
    if (flags) {
      raise(f, flags);
      // An unmasked SNaN suppresses the load; an unmasked denormal does not (measured).
      if (flags & SW_IE && !(f.cw & CW_IM)) return;
    } else f.sw &= ~SW_C1;
    push(f, OP[0], OP[1], OP[2]);
  };
}

x87('fld', 0xd9, 0, 'mem', fldMem(M32));
x87('fld', 0xdd, 0, 'mem', fldMem(M64));
x87('fld', 0xdb, 5, 'mem', fldMem(M80));
x87('fild', 0xdf, 0, 'mem', fldMem(I16));
x87('fild', 0xdb, 0, 'mem', fldMem(I32));
x87('fild', 0xdf, 5, 'mem', fldMem(I64));

// fld ST(i)
x87('fld', 0xd9, 0, 'reg', (c, i) => {
  const f = fpuEnter(c);
  lastIp(f, i);
  const ps = (f.top + (i.rm & 7)) & 7;
  if (isEmpty(f, ps)) {
    // An empty source is an underflow (it takes precedence over a full destination).
    if (!stackUnderflow(f)) return;
    f.top = (f.top - 1) & 7;
    setIndef(f, f.top);
    return;
  }
  f.sw &= ~SW_C1;
  push(f, f.se[ps]!, f.hi[ps]!, f.lo[ps]!);
});

/**
 * Constants. The x87 rounds an internal 66-bit value by the rounding
 * control: `rn` is the value rounded to nearest and `dir` says where the
 * true value lies: 0 exact, +1 above rn (RU gives one ulp more), -1 below
 * (RD and RZ give one ulp less). No exception but stack overflow; C1 = 0.
 */
function fldConst(se: number, hi: number, lo: number, dir: number) {
  return (c: Cpu, i: Insn): void => {
    const f = fpuEnter(c);
    lastIp(f, i);
    const rc = (f.cw >>> 10) & 3;
    let l = lo;
    if (dir < 0 && (rc === 1 || rc === 3)) l = (l - 1) | 0; // no borrow out of the low word for these constants
    else if (dir > 0 && rc === 2) l = (l + 1) | 0;
    f.sw &= ~SW_C1;
    push(f, se, hi, l);
  };
}

x87('fld1', 0xd9, 5, 'reg', fldConst(0x3fff, 0x80000000 | 0, 0, 0), 0);
x87('fldl2t', 0xd9, 5, 'reg', fldConst(0x4000, 0xd49a784b | 0, 0xcd1b8afe | 0, 1), 1); // log2(10)
x87('fldl2e', 0xd9, 5, 'reg', fldConst(0x3fff, 0xb8aa3b29 | 0, 0x5c17f0bc | 0, -1), 2); // log2(e)
x87('fldpi', 0xd9, 5, 'reg', fldConst(0x4000, 0xc90fdaa2 | 0, 0x2168c235 | 0, -1), 3);
x87('fldlg2', 0xd9, 5, 'reg', fldConst(0x3ffd, 0x9a209a84 | 0, 0xfbcff799 | 0, -1), 4); // log10(2)
x87('fldln2', 0xd9, 5, 'reg', fldConst(0x3ffe, 0xb17217f7 | 0, 0xd1cf79ac | 0, -1), 5); // ln(2)
x87('fldz', 0xd9, 5, 'reg', fldConst(0, 0, 0, 0), 6);

// ---------------------------------------------------------------- stores

function fstMem(fmt: number, popAfter: boolean, truncate = false) {
  return (c: Cpu, i: Insn): void => {
    const f = fpuEnter(c);
    const a = c.ea(i), ah = c.eaHi;
    const p = f.top;
    let flags = 0;
    let lo = 0, hi = 0, se = 0;
    if (isEmpty(f, p)) {
      // Underflow: masked → store the indefinite of the format.
      if (!(f.cw & CW_IM)) {
        lastIp(f, i);
        lastDp(f, a, ah);
        stackUnderflow(f);
        return;
      }
      switch (fmt) {
        case M32: lo = 0xffc00000 | 0; break;
        case M64: hi = 0xfff80000 | 0; break;
        case I16: lo = 0x8000; break;
        case I32: lo = 0x80000000 | 0; break;
        case I64: hi = 0x80000000 | 0; break;
        default: se = 0xffff; hi = 0xc0000000 | 0; break;
      }
      storeFmt(c, fmt, a, ah, lo, hi, se);
      lastIp(f, i);
      lastDp(f, a, ah);
      stackUnderflow(f);
      if (popAfter) pop(f);
      return;
    }
    const rse = f.se[p]!, rhi = f.hi[p]!, rlo = f.lo[p]!;
    switch (fmt) {
      case M32: case M64:
        toFloat(rse, rhi, rlo, fmt === M32 ? 32 : 64, f.cw);
        flags = R.flags;
        lo = W[MEM_LO];
        hi = W[MEM_HI];
        break;
      case I16: case I32: case I64:
        toInt(rse, rhi, rlo, fmt === I16 ? 16 : fmt === I32 ? 32 : 64, truncate ? 3 : (f.cw >>> 10) & 3);
        flags = R.flags;
        lo = W[INT_LO];
        hi = W[INT_HI];
        break;
      default:
        lo = rlo; hi = rhi; se = rse;
        break;
    }
    if (unmaskedPre(f, flags) || ((fmt === M32 || fmt === M64) && roundTrap)) {
      lastIp(f, i);
      lastDp(f, a, ah);
      raise(f, flags);
      return;
    }
    storeFmt(c, fmt, a, ah, lo, hi, se);
    lastIp(f, i);
    lastDp(f, a, ah);
    raise(f, flags);
    if (popAfter) pop(f);
  };
}

function storeFmt(c: Cpu, fmt: number, a: number, ah: number, lo: number, hi: number, se: number): void {
  switch (fmt) {
    case M32: case I32: c.write32(a, ah, lo); break;
    case I16: c.write16(a, ah, lo); break;
    case M64: case I64: c.write64(a, ah, lo, hi); break;
    default: {
      c.checkWritable(a, ah, 10);
      c.write64(a, ah, lo, hi);
      const s = (a >>> 0) + 8;
      c.write16(s | 0, s > 0xffffffff ? (ah + 1) | 0 : ah, se);
    }
  }
}

x87('fst', 0xd9, 2, 'mem', fstMem(M32, false));
x87('fstp', 0xd9, 3, 'mem', fstMem(M32, true));
x87('fst', 0xdd, 2, 'mem', fstMem(M64, false));
x87('fstp', 0xdd, 3, 'mem', fstMem(M64, true));
x87('fstp', 0xdb, 7, 'mem', fstMem(M80, true));
x87('fist', 0xdf, 2, 'mem', fstMem(I16, false));
x87('fistp', 0xdf, 3, 'mem', fstMem(I16, true));
x87('fist', 0xdb, 2, 'mem', fstMem(I32, false));
x87('fistp', 0xdb, 3, 'mem', fstMem(I32, true));
x87('fistp', 0xdf, 7, 'mem', fstMem(I64, true));
x87('fisttp', 0xdf, 1, 'mem', fstMem(I16, true, true));
x87('fisttp', 0xdb, 1, 'mem', fstMem(I32, true, true));
x87('fisttp', 0xdd, 1, 'mem', fstMem(I64, true, true));

// fst / fstp ST(i): a plain copy
function fstReg(popAfter: boolean) {
  return (c: Cpu, i: Insn): void => {
    const f = fpuEnter(c);
    lastIp(f, i);
    const p0 = f.top, pi = (f.top + (i.rm & 7)) & 7;
    if (isEmpty(f, p0)) {
      if (!stackUnderflow(f)) return;
      setIndef(f, pi);
    } else {
      f.sw &= ~SW_C1;
      setReg(f, pi, f.se[p0]!, f.hi[p0]!, f.lo[p0]!);
    }
    if (popAfter) pop(f);
  };
}
x87('fst', 0xdd, 2, 'reg', fstReg(false));
x87('fstp', 0xdd, 3, 'reg', fstReg(true));
// D9 D8+i (undocumented FSTP1): with ST(0) empty it pops without an exception and stores nothing (measured).
const fstpReg = fstReg(true);
x87('fstp', 0xd9, 3, 'reg', (c, i) => {
  const f = c.fpu;
  if (!(c.cr0 & 0xc) && !(f.sw & SW_ES) && isEmpty(f, f.top)) {
    lastIp(f, i);
    f.sw &= ~SW_C1;
    pop(f);
    return;
  }
  fstpReg(c, i);
});
x87('fstp', 0xdf, 2, 'reg', fstReg(true)); // alias (FSTP8)
x87('fstp', 0xdf, 3, 'reg', fstReg(true)); // alias (FSTP9)

// ---------------------------------------------------------------- packed BCD

const BCD = new Uint8Array(10);

x87('fbld', 0xdf, 4, 'mem', (c, i) => {
  const f = fpuEnter(c);
  const a = c.ea(i), ah = c.eaHi;
  c.readBytes(a, ah, BCD, 10);
  lastIp(f, i);
  lastDp(f, a, ah);
  // 18 digits: at most 10^18 - 1 < 2^60, exact in two 32-bit halves via doubles of 9 digits each.
  let high = 0, low = 0;
  for (let k = 8; k >= 0; k--) {
    const d = (BCD[k]! >>> 4) * 10 + (BCD[k]! & 15);
    if (k >= 5) high = high * 100 + d; // digits 17..10 (bytes 8..5)
    else low = low * 100 + d; // digits 9..0 (bytes 4..0)
  }
  // value = high · 10^10 + low
  const v = BigInt(high) * 10000000000n + BigInt(low);
  const s = BCD[9]! & 0x80 ? -v : v;
  if (v === 0n) {
    R.se = BCD[9]! & 0x80 ? 0x8000 : 0;
    R.hi = 0;
    R.lo = 0;
  } else fromInt64(Number(BigInt.asIntN(32, s)), Number(BigInt.asIntN(32, s >> 32n)));
  if (!isEmpty(f, (f.top - 1) & 7)) {
    if (stackOverflow(f)) {
      f.top = (f.top - 1) & 7;
      setIndef(f, f.top);
    }
    return;
  }
  f.sw &= ~SW_C1;
  push(f, R.se, R.hi, R.lo);
});

x87('fbstp', 0xdf, 6, 'mem', (c, i) => {
  const f = fpuEnter(c);
  const a = c.ea(i), ah = c.eaHi;
  const p = f.top;
  let flags = 0;
  if (isEmpty(f, p)) {
    if (!(f.cw & CW_IM)) {
      lastIp(f, i);
      lastDp(f, a, ah);
      stackUnderflow(f);
      return;
    }
    flags = SW_IE | SW_SF;
    bcdIndefinite();
  } else {
    toInt(f.se[p]!, f.hi[p]!, f.lo[p]!, 64, (f.cw >>> 10) & 3);
    flags = R.flags;
    const v = (BigInt(W[INT_HI]) << 32n) | BigInt(W[INT_LO] >>> 0);
    const m = v < 0n ? -v : v;
    if (flags & SW_IE || m > 999999999999999999n) {
      flags = SW_IE;
      bcdIndefinite();
    } else {
      let t = m;
      for (let k = 0; k < 9; k++) {
        const d = Number(t % 100n);
        t /= 100n;
        BCD[k] = ((d / 10) | 0) * 16 + (d % 10);
      }
      // A negative zero result keeps its sign.
      BCD[9] = v < 0n || (m === 0n && f.se[p]! & 0x8000) ? 0x80 : 0;
    }
  }
  if (unmaskedPre(f, flags)) {
    lastIp(f, i);
    lastDp(f, a, ah);
    raise(f, flags);
    return;
  }
  c.writeBytes(a, ah, BCD, 10);
  lastIp(f, i);
  lastDp(f, a, ah);
  if (flags & SW_SF) stackUnderflow(f);
  else raise(f, flags);
  pop(f);
});

function bcdIndefinite(): void {
  BCD.fill(0);
  BCD[7] = 0xc0;
  BCD[8] = 0xff;
  BCD[9] = 0xff;
}

// ---------------------------------------------------------------- register manipulation

function fxch(c: Cpu, i: Insn): void {
  const f = fpuEnter(c);
  lastIp(f, i);
  const p0 = f.top, pi = (f.top + (i.rm & 7)) & 7;
  if (isEmpty(f, p0) || isEmpty(f, pi)) {
    if (!stackUnderflow(f)) return;
    if (isEmpty(f, p0)) setIndef(f, p0);
    if (isEmpty(f, pi)) setIndef(f, pi);
  } else f.sw &= ~SW_C1;
  const se = f.se[p0]!, hi = f.hi[p0]!, lo = f.lo[p0]!;
  f.se[p0] = f.se[pi]!;
  f.hi[p0] = f.hi[pi]!;
  f.lo[p0] = f.lo[pi]!;
  f.se[pi] = se;
  f.hi[pi] = hi;
  f.lo[pi] = lo;
}
x87('fxch', 0xd9, 1, 'reg', fxch);
x87('fxch', 0xdd, 1, 'reg', fxch); // alias (FXCH4)
x87('fxch', 0xdf, 1, 'reg', fxch); // alias (FXCH7)

function signOp(kind: number) {
  return (c: Cpu, i: Insn): void => {
    const f = fpuEnter(c);
    lastIp(f, i);
    const p = f.top;
    if (isEmpty(f, p)) {
      if (stackUnderflow(f)) setIndef(f, p);
      return;
    }
    f.sw &= ~SW_C1;
    f.se[p] = kind === 0 ? f.se[p]! ^ 0x8000 : f.se[p]! & 0x7fff;
  };
}
x87('fchs', 0xd9, 4, 'reg', signOp(0), 0);
x87('fabs', 0xd9, 4, 'reg', signOp(1), 1);

x87('fnop', 0xd9, 2, 'reg', (c, i) => {
  const f = fpuEnter(c);
  lastIp(f, i);
}, 0);

x87('fdecstp', 0xd9, 6, 'reg', (c, i) => {
  const f = fpuEnter(c);
  lastIp(f, i);
  f.sw &= ~SW_C1;
  f.top = (f.top - 1) & 7;
}, 6);
x87('fincstp', 0xd9, 6, 'reg', (c, i) => {
  const f = fpuEnter(c);
  lastIp(f, i);
  f.sw &= ~SW_C1;
  f.top = (f.top + 1) & 7;
}, 7);

// ffree: the condition codes are undefined; hardware clears C1.
x87('ffree', 0xdd, 0, 'reg', (c, i) => {
  const f = fpuEnter(c);
  lastIp(f, i);
  f.sw &= ~SW_C1;
  f.valid &= ~(1 << ((f.top + (i.rm & 7)) & 7));
});
// FFREEP (undocumented): free ST(i) and pop.
x87('ffreep', 0xdf, 0, 'reg', (c, i) => {
  const f = fpuEnter(c);
  lastIp(f, i);
  f.sw &= ~SW_C1;
  f.valid &= ~(1 << ((f.top + (i.rm & 7)) & 7));
  pop(f);
});

// fcmovcc ST(0), ST(i): DA C0 b, C8 e, D0 be, D8 u; DB the negations.
function fcmov(cc: number) {
  return (c: Cpu, i: Insn): void => {
    const f = fpuEnter(c);
    lastIp(f, i);
    const p0 = f.top, pi = (f.top + (i.rm & 7)) & 7;
    if (isEmpty(f, p0) || isEmpty(f, pi)) {
      // Underflow: ST(0) becomes the indefinite whatever the condition.
      if (stackUnderflow(f)) setIndef(f, p0);
      return;
    }
    // C1 is left alone (it is only defined for the underflow case).
    if (cond(c, cc)) setReg(f, p0, f.se[pi]!, f.hi[pi]!, f.lo[pi]!);
  };
}
x87('fcmovb', 0xda, 0, 'reg', fcmov(2));
x87('fcmove', 0xda, 1, 'reg', fcmov(4));
x87('fcmovbe', 0xda, 2, 'reg', fcmov(6));
x87('fcmovu', 0xda, 3, 'reg', fcmov(10));
x87('fcmovnb', 0xdb, 0, 'reg', fcmov(3));
x87('fcmovne', 0xdb, 1, 'reg', fcmov(5));
x87('fcmovnbe', 0xdb, 2, 'reg', fcmov(7));
x87('fcmovnu', 0xdb, 3, 'reg', fcmov(11));

// ---------------------------------------------------------------- one-operand arithmetic on ST(0)

/** Apply a unary core operation to ST(0) (result in R). */
function unary(name: string, rm: number, op: (se: number, hi: number, lo: number, cw: number) => void): void {
  x87(name, 0xd9, rm >> 3, 'reg', (c, i) => {
    const f = fpuEnter(c);
    lastIp(f, i);
    const p = f.top;
    if (isEmpty(f, p)) {
      if (stackUnderflow(f)) setIndef(f, p);
      return;
    }
    op(f.se[p]!, f.hi[p]!, f.lo[p]!, f.cw);
    const fl = R.flags;
    if (unmaskedPre(f, fl)) return raise(f, fl & (SW_IE | SW_DE | SW_ZE));
    raise(f, fl);
    setReg(f, p, R.se, R.hi, R.lo);
  }, rm & 7);
}
unary('fsqrt', 0x3a, fsqrt);
unary('frndint', 0x3c, frndint);

/** Binary operations on ST(0) and ST(1) with the result in ST(0) (fscale, fprem, fprem1). */
function st01(name: string, rm: number, kind: number): void {
  x87(name, 0xd9, rm >> 3, 'reg', (c, i) => {
    const f = fpuEnter(c);
    lastIp(f, i);
    const p0 = f.top, p1 = (f.top + 1) & 7;
    if (isEmpty(f, p0) || isEmpty(f, p1)) {
      if (kind !== 0) f.sw &= ~SW_C2;
      if (stackUnderflow(f)) setIndef(f, p0);
      return;
    }
    const a0 = f.se[p0]!, a1 = f.hi[p0]!, a2 = f.lo[p0]!, b0 = f.se[p1]!, b1 = f.hi[p1]!, b2 = f.lo[p1]!;
    if (kind === 0) fscale(a0, a1, a2, b0, b1, b2, f.cw);
    else fprem(a0, a1, a2, b0, b1, b2, kind === 2, f.cw);
    const fl = R.flags;
    if (unmaskedPre(f, fl)) {
      raise(f, fl & (SW_IE | SW_DE | SW_ZE));
      if (kind !== 0 && fl & SW_IE) f.sw &= ~SW_C2;
      return;
    }
    raise(f, fl);
    if (kind !== 0) {
      // Condition codes: C2 = incomplete; C0, C3, C1 = quotient bits 2, 1, 0 (when complete).
      // A NaN result (invalid operation or NaN operand): C1 = C2 = 0, C0 and C3 unchanged.
      let cc: number;
      if ((R.se & 0x7fff) === 0x7fff && ((R.hi & 0x7fffffff) | R.lo) !== 0) cc = f.sw & (SW_C0 | SW_C3);
      else if (remPartial) cc = SW_C2;
      else cc = (remQ & 4 ? SW_C0 : 0) | (remQ & 2 ? SW_C3 : 0) | (remQ & 1 ? SW_C1 : 0);
      f.sw = (f.sw & ~(SW_C0 | SW_C1 | SW_C2 | SW_C3)) | cc;
    }
    setReg(f, p0, R.se, R.hi, R.lo);
  }, rm & 7);
}
st01('fscale', 0x3d, 0);
st01('fprem', 0x38, 1);
st01('fprem1', 0x35, 2);

// fxtract: ST(0) = exponent, then push the significand.
x87('fxtract', 0xd9, 6, 'reg', (c, i) => {
  const f = fpuEnter(c);
  lastIp(f, i);
  const p0 = f.top, pn = (f.top - 1) & 7;
  if (isEmpty(f, p0)) {
    if (!stackUnderflow(f)) return;
    setIndef(f, p0);
    f.top = pn;
    setIndef(f, pn);
    return;
  }
  if (!isEmpty(f, pn)) {
    if (!stackOverflow(f)) return;
    setIndef(f, p0);
    f.top = pn;
    setIndef(f, pn);
    return;
  }
  fxtract(f.se[p0]!, f.hi[p0]!, f.lo[p0]!, f.cw);
  const fl = R.flags;
  if (unmaskedPre(f, fl)) return raise(f, fl & (SW_IE | SW_DE | SW_ZE));
  raise(f, fl);
  setReg(f, p0, R.se, R.hi, R.lo);
  f.top = pn;
  setReg(f, pn, W[X_SE], W[X_HI], W[X_LO]);
}, 4);

// ---------------------------------------------------------------- control

x87('fnstsw', 0xdf, 4, 'reg', (c) => {
  const f = fpuEnterNoWait(c);
  c.setReg16(0, f.getSw());
}, 0);

x87('fnstsw', 0xdd, 7, 'mem', (c, i) => {
  const f = fpuEnterNoWait(c);
  const a = c.ea(i);
  c.write16(a, c.eaHi, f.getSw());
});

x87('fnstcw', 0xd9, 7, 'mem', (c, i) => {
  const f = fpuEnterNoWait(c);
  const a = c.ea(i);
  c.write16(a, c.eaHi, f.cw);
});

x87('fldcw', 0xd9, 5, 'mem', (c, i) => {
  const f = fpuEnter(c);
  const a = c.ea(i);
  const v = c.read16(a, c.eaHi);
  setCw(f, v);
});

x87('fnclex', 0xdb, 4, 'reg', (c) => {
  const f = fpuEnterNoWait(c);
  f.sw &= ~(0xff | SW_B);
}, 2);

x87('fninit', 0xdb, 4, 'reg', (c) => {
  fpuEnterNoWait(c).init();
}, 3);

// 8087/287 leftovers, no-ops on later processors: feni, fdisi, fsetpm.
for (const [name, rm] of [['fneni', 0], ['fndisi', 1], ['fnsetpm', 4]] as const) {
  x87(name, 0xdb, 4, 'reg', (c) => {
    fpuEnterNoWait(c);
  }, rm);
}

def({
  name: 'fwait',
  map: MAP_1B,
  op: 0x9b,
  modrm: false,
  size: 'n',
  exec: (c) => {
    if ((c.cr0 & 0xa) === 0xa) throw c.fault(NM); // MP and TS
    if (c.fpu.sw & SW_ES) throw c.fault(MF);
  },
});

import './x87-env.ts';
import './x87-trans.ts';
