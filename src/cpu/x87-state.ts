/**
 * x87 FPU architectural state.
 *
 * Each of the eight physical registers is kept in the 80-bit double
 * extended-precision format exactly as it appears in memory: `se` holds the
 * sign (bit 15) and the 15-bit biased exponent, `hi`/`lo` the 64-bit
 * significand including the explicit integer bit (bit 31 of `hi`). The
 * arithmetic that works on them lives in ops/x87-float.ts.
 *
 * The tag word is kept as the hardware keeps it internally: one "valid"
 * (non-empty) bit per physical register, like FXSAVE's abridged tag word;
 * the full two-bit tags that FNSTENV/FNSAVE report are computed from the
 * register contents when stored.
 */
import type { Insn } from './insn.ts';

/** Status-word bits. */
export const SW_IE = 0x0001, SW_DE = 0x0002, SW_ZE = 0x0004, SW_OE = 0x0008, SW_UE = 0x0010, SW_PE = 0x0020;
export const SW_SF = 0x0040, SW_ES = 0x0080, SW_C0 = 0x0100, SW_C1 = 0x0200, SW_C2 = 0x0400, SW_C3 = 0x4000, SW_B = 0x8000;
export const SW_TOP_SHIFT = 11;
export const SW_CC = SW_C0 | SW_C1 | SW_C2 | SW_C3;

export class X87 {
  /** Sign and biased exponent of each physical register (ST(i) is physical (top + i) & 7). */
  readonly se = new Int32Array(8);
  /** Significand bits 63..32 and 31..0. */
  readonly hi = new Int32Array(8);
  readonly lo = new Int32Array(8);
  /** Bit p set: physical register p is not empty (the abridged tag word). */
  valid = 0;
  top = 0;
  /** Status word with the TOP field (bits 11-13) kept zero; see getSw(). */
  sw = 0;
  cw = 0x037f;
  /** Last instruction pointer, data (operand) pointer and opcode, as FNSTENV/FXSAVE report them. */
  fipLo = 0;
  fipHi = 0;
  fdpLo = 0;
  fdpHi = 0;
  /** 11-bit last opcode; computed from `fopInsn` when that is set (see ops/x87.ts). */
  fop = 0;
  fopInsn: Insn | null = null;

  /** The status word as FNSTSW reports it (TOP included). */
  getSw(): number {
    return (this.sw & ~0x3800) | (this.top << SW_TOP_SHIFT);
  }

  /** Load a status word (TOP included). */
  setSw(v: number): void {
    this.top = (v >>> SW_TOP_SHIFT) & 7;
    this.sw = v & 0xc7ff;
  }

  /** FNINIT: default control word, clear status, all registers empty, pointers zero. Register contents stay. */
  init(): void {
    this.cw = 0x037f;
    this.sw = 0;
    this.top = 0;
    this.valid = 0;
    this.fipLo = this.fipHi = this.fdpLo = this.fdpHi = 0;
    this.fop = 0;
    this.fopInsn = null;
  }

  /** Processor reset: FNINIT and zeroed registers. */
  reset(): void {
    this.init();
    this.se.fill(0);
    this.hi.fill(0);
    this.lo.fill(0);
  }

  /** The two-bit tag of physical register p computed from its contents: 0 valid, 1 zero, 2 special, 3 empty. */
  tagOf(p: number): number {
    if (!(this.valid & (1 << p))) return 3;
    const e = this.se[p]! & 0x7fff;
    const h = this.hi[p]!, l = this.lo[p]!;
    if (e === 0x7fff) return 2;
    if (e === 0) return (h | l) === 0 ? 1 : 2;
    return h < 0 ? 0 : 2; // unnormals are special
  }

  /** The full tag word (FNSTENV/FNSAVE format). */
  tagWord(): number {
    let t = 0;
    for (let p = 0; p < 8; p++) t |= this.tagOf(p) << (2 * p);
    return t;
  }

  /** Load a full tag word: only "empty" (11b) versus anything else matters. */
  setTagWord(t: number): void {
    let v = 0;
    for (let p = 0; p < 8; p++) if (((t >>> (2 * p)) & 3) !== 3) v |= 1 << p;
    this.valid = v;
  }

  // ---- MMX aliasing (for the MMX instructions, which share the registers)

  /** Enter MMX mode (any MMX instruction): TOP = 0, all tags valid. */
  mmxEnter(): void {
    this.top = 0;
    this.valid = 0xff;
  }

  /** Write MMn (a 64-bit value as lo, hi): the significand takes it, the sign/exponent become all ones. */
  mmxWrite(n: number, lo: number, hi: number): void {
    this.lo[n] = lo;
    this.hi[n] = hi;
    this.se[n] = 0xffff;
  }

  /** EMMS: all registers empty. */
  emms(): void {
    this.valid = 0;
  }
}
