/**
 * Shared machinery of the MMX instructions (the forms whose operands include
 * the 64-bit MMX registers MM0-7).
 *
 * MMn is the significand (bits 0-63) of the x87 physical register Rn (not
 * ST(n)): X87.lo/hi[n]. Every MMX instruction switches the x87 unit to MMX
 * mode (TOP = 0, all tags valid) and every write of MMn sets Rn's sign and
 * exponent to all ones (SDM vol. 1 §9.5); emms empties the tag word. REX.R
 * and REX.B do not extend MMX register numbers (MM8 is MM0).
 *
 * Order of events, as the reference host does it: #UD (CR0.EM), #NM
 * (CR0.TS), #MF for a pending unmasked x87 exception, then the memory
 * operand (a fault there leaves the x87 state unchanged), then the switch
 * to MMX mode and the result. (maskmovq switches before its store, and the
 * SSE conversions switch before raising #XM: see mmx.ts.)
 *
 * MMX_SPECS lists every table entry with an MMX operand.
 */
import type { Cpu } from '../cpu.ts';
import type { Insn } from '../insn.ts';
import { def, type OpSpec } from '../table.ts';
import { MF, NM, UD } from '../state.ts';
import { SW_ES, type X87 } from '../x87-state.ts';
import { sseCheck, SRC } from './sse-core.ts';

/** Every table entry with an MMX register operand (tests iterate it to prove coverage). */
export const MMX_SPECS: OpSpec[] = [];

export function mdef(spec: OpSpec): void {
  MMX_SPECS.push(spec);
  def(spec);
}

/** MMX availability: #UD with CR0.EM, #NM with CR0.TS, then #MF for a pending x87 exception. */
export function mmxCheck(c: Cpu): X87 {
  const cr0 = c.cr0;
  if ((cr0 & 0xc) !== 0) throw c.fault((cr0 & 4) !== 0 ? UD : NM);
  const f = c.fpu;
  if ((f.sw & SW_ES) !== 0) throw c.fault(MF);
  return f;
}

/** SSE/SSE2 instructions with an MMX operand (cvtpi2ps & co., movq2dq, movdq2q): SSE availability, then #MF. */
export function mmxSseCheck(c: Cpu): X87 {
  sseCheck(c);
  const f = c.fpu;
  if ((f.sw & SW_ES) !== 0) throw c.fault(MF);
  return f;
}

const S = SRC.i32;

/** The 64-bit source operand (mm/m64) into SRC[0..1]. */
export function loadM64(c: Cpu, i: Insn): void {
  const rm = i.rm;
  if (rm >= 0) {
    const f = c.fpu, n = rm & 7;
    S[0] = f.lo[n]!;
    S[1] = f.hi[n]!;
    return;
  }
  const a = c.ea(i);
  S[0] = c.read64(a, c.eaHi);
  S[1] = c.hi;
}

/** The source of the MMX punpckl* forms: mm (all 64 bits) or m32 (only 32 bits are read) into SRC. */
export function loadM32(c: Cpu, i: Insn): void {
  const rm = i.rm;
  if (rm >= 0) {
    const f = c.fpu, n = rm & 7;
    S[0] = f.lo[n]!;
    S[1] = f.hi[n]!;
    return;
  }
  const a = c.ea(i);
  S[0] = c.read32(a, c.eaHi);
  S[1] = 0;
}

/** Switch to MMX mode and write MMn. */
export function mmxSet(f: X87, n: number, lo: number, hi: number): void {
  f.top = 0;
  f.valid = 0xff;
  f.lo[n] = lo;
  f.hi[n] = hi;
  f.se[n] = 0xffff;
}
