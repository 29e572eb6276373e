/**
 * Helpers shared by the x87 instruction modules: prologues (#NM, #MF),
 * the register stack, exception-flag merging, registration in the table.
 */
import type { Cpu } from '../cpu.ts';
import type { Insn } from '../insn.ts';
import { def, MAP_1B, type OpSpec } from '../table.ts';
import { MF, NM } from '../state.ts';
import { SW_B, SW_C1, SW_DE, SW_ES, SW_IE, SW_SF, SW_ZE, type X87 } from '../x87-state.ts';
import { CW_IM } from './x87-float.ts';


/** Prologue of a waiting x87 instruction: #NM, then a pending unmasked exception (#MF). */
export function fpuEnter(c: Cpu): X87 {
  if (c.cr0 & 0xc) throw c.fault(NM);
  const f = c.fpu;
  if (f.sw & SW_ES) throw c.fault(MF);
  return f;
}

/** Prologue of a non-waiting (FN*) control instruction. */
export function fpuEnterNoWait(c: Cpu): X87 {
  if (c.cr0 & 0xc) throw c.fault(NM);
  return c.fpu;
}

/** Record the instruction (and its memory operand) as the last non-control one. */
export function lastIp(f: X87, i: Insn): void {
  f.fipLo = i.addrLo;
  f.fipHi = i.addrHi;
  f.fopInsn = i;
}
export function lastDp(f: X87, lo: number, hi: number): void {
  f.fdpLo = lo;
  f.fdpHi = hi;
}

/**
 * Merge an operation's flags into FSW: the exception bits are sticky, C1 is
 * replaced (rounded up), ES/B follow the unmasked ones.
 */
export function raise(f: X87, flags: number): void {
  let sw = (f.sw & ~SW_C1) | (flags & (0x7f | SW_C1));
  if (flags & ~f.cw & 0x3f) sw |= SW_ES | SW_B;
  f.sw = sw;
}

/** Flags with an unmasked pre-computation exception (IE, DE, ZE): the result must be suppressed. */
export function unmaskedPre(f: X87, flags: number): boolean {
  return (flags & ~f.cw & (SW_IE | SW_DE | SW_ZE)) !== 0;
}

/** Stack underflow (an empty source): IE + SF, C1 = 0. Returns true when masked (continue with the indefinite). */
export function stackUnderflow(f: X87): boolean {
  f.sw = (f.sw & ~SW_C1) | SW_IE | SW_SF;
  if (f.cw & CW_IM) return true;
  f.sw |= SW_ES | SW_B;
  return false;
}

/** Stack overflow (pushing onto a full register): IE + SF, C1 = 1. Returns true when masked. */
export function stackOverflow(f: X87): boolean {
  f.sw |= SW_C1 | SW_IE | SW_SF;
  if (f.cw & CW_IM) return true;
  f.sw |= SW_ES | SW_B;
  return false;
}

export function isEmpty(f: X87, p: number): boolean {
  return (f.valid & (1 << p)) === 0;
}

export function setReg(f: X87, p: number, se: number, hi: number, lo: number): void {
  f.se[p] = se & 0xffff;
  f.hi[p] = hi;
  f.lo[p] = lo;
  f.valid |= 1 << p;
}

export function setIndef(f: X87, p: number): void {
  setReg(f, p, 0xffff, 0xc0000000 | 0, 0);
}

export function pop(f: X87): void {
  f.valid &= ~(1 << f.top);
  f.top = (f.top + 1) & 7;
}

/** Push a value; handles stack overflow. Returns false when nothing was pushed (unmasked overflow). */
export function push(f: X87, se: number, hi: number, lo: number): boolean {
  const p = (f.top - 1) & 7;
  if (!isEmpty(f, p)) {
    if (!stackOverflow(f)) return false;
    f.top = p;
    setIndef(f, p);
    return true;
  }
  f.top = p;
  setReg(f, p, se, hi, lo);
  return true;
}

/** Register an x87 form. */
export function x87(name: string, op: number, ext: number, mod: 'reg' | 'mem', exec: (c: Cpu, i: Insn) => void, rmField?: number): void {
  const spec: OpSpec = { name, map: MAP_1B, op, ext, mod, modrm: true, size: 'n', exec };
  if (rmField !== undefined) spec.rmField = rmField;
  def(spec);
}

/** Load FCW (reserved bit 6 reads as 1, bits 13-15 as 0) and recompute ES/B. */
export function setCw(f: X87, v: number): void {
  f.cw = (v & 0x1f3f) | 0x40;
  updateEs(f);
}

/** ES and B are set exactly when some exception flag is set whose mask is clear. */
export function updateEs(f: X87): void {
  if (f.sw & ~f.cw & 0x3f) f.sw |= SW_ES | SW_B;
  else f.sw &= ~(SW_ES | SW_B);
}

