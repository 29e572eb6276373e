/**
 * x87 FPU register state. Registers hold JS doubles (the 80-bit extended
 * format is approximated by binary64, see x87.ts for the consequences);
 * the tag, status and control words are kept architecturally.
 */
export class X87 {
  /** ST registers by physical index 0-7 (ST(i) is st[(top + i) & 7]). */
  readonly st = new Float64Array(8);
  /** Tag word, 2 bits per physical register: 0 valid, 1 zero, 2 special, 3 empty. */
  tag = 0xffff;
  top = 0;
  /** Status word without TOP (bits 11-13 are composed on read). */
  sw = 0;
  cw = 0x037f;
  /** Last instruction/operand pointers (FNSTENV/FXSAVE report them). */
  fip = 0;
  fdp = 0;
  fop = 0;

  reset(): void {
    this.st.fill(0);
    this.tag = 0xffff;
    this.top = 0;
    this.sw = 0;
    this.cw = 0x037f;
    this.fip = this.fdp = this.fop = 0;
  }
}
