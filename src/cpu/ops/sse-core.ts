/**
 * Shared machinery of the SSE/SSE2 modules: the availability check (#UD/#NM),
 * 128/64/32-bit XMM source operands (register or memory, with the 16-byte
 * alignment rule), 128-bit stores, scratch lane buffers and the registration
 * list the tests iterate.
 *
 * XMM data always travels in integer lanes (c.xmm, Int32Array): float views
 * are only used to produce new values, never to move existing ones, so NaN
 * payloads survive (V8 may canonicalise NaNs held in JS numbers).
 */
import type { Cpu } from '../cpu.ts';
import type { Insn } from '../insn.ts';
import { def, type OpSpec } from '../table.ts';
import { GP, NM, RBP, RSP, SEG_FS, UD } from '../state.ts';

/** Every table entry registered by the SSE modules (tests iterate it to prove coverage). */
export const SSE_SPECS: OpSpec[] = [];

export function sdef(spec: OpSpec): void {
  SSE_SPECS.push(spec);
  def(spec);
}

/**
 * SSE availability: #UD when CR0.EM is set or CR4.OSFXSR is clear, #NM when
 * CR0.TS is set. Every SSE/SSE2 instruction (ldmxcsr/stmxcsr included) starts with it.
 */
export function sseCheck(c: Cpu): void {
  if ((c.cr0 & 0xc) !== 0 || (c.cr4 & 0x200) === 0) {
    if ((c.cr0 & 4) !== 0 || (c.cr4 & 0x200) === 0) throw c.fault(UD);
    throw c.fault(NM);
  }
}

/** Views of one 16-byte scratch buffer. */
export class Lanes {
  readonly buf = new ArrayBuffer(16);
  readonly i32 = new Int32Array(this.buf);
  readonly u32 = new Uint32Array(this.buf);
  readonly i16 = new Int16Array(this.buf);
  readonly u16 = new Uint16Array(this.buf);
  readonly i8 = new Int8Array(this.buf);
  readonly u8 = new Uint8Array(this.buf);
  /** Float views: for producing values only (reading a NaN through them may change its bits). */
  readonly f32 = new Float32Array(this.buf);
  readonly f64 = new Float64Array(this.buf);
}

/** Source operand scratch (filled by the load helpers). */
export const SRC = new Lanes();
/** Destination copy / result scratch. */
export const DST = new Lanes();
export const RES = new Lanes();

const S = SRC.i32;

/** 128-bit read at (lo, hi) into out[0..3]. */
export function read128(c: Cpu, lo: number, hi: number, out: Int32Array): void {
  const a = c.read64(lo, hi);
  const b = c.hi;
  const s = (lo >>> 0) + 8;
  const h2 = s > 0xffffffff ? (hi + 1) | 0 : hi;
  const d = c.read64(s | 0, h2);
  out[0] = a;
  out[1] = b;
  out[2] = d;
  out[3] = c.hi;
}

/** 128-bit write of src[off..off+3] at (lo, hi); nothing is written if any part faults. */
export function write128(c: Cpu, lo: number, hi: number, src: Int32Array, off: number): void {
  if ((lo & 0xfff) > 0xff0) c.checkWritable(lo, hi, 16);
  c.write64(lo, hi, src[off]!, src[off + 1]!);
  const s = (lo >>> 0) + 8;
  c.write64(s | 0, s > 0xffffffff ? (hi + 1) | 0 : hi, src[off + 2]!, src[off + 3]!);
}

/**
 * Effective address of a 16-byte operand that must be aligned (#GP(0)
 * otherwise). High half in c.eaHi. Misalignment is checked before the
 * canonical form: a misaligned non-canonical address based on RSP or RBP
 * raises #GP(0), not #SS(0), as on the host.
 */
export function eaAligned(c: Cpu, i: Insn): number {
  if ((i.base === RSP || i.base === RBP) && misaligned16(c, i)) throw c.fault(GP, 0);
  const a = c.ea(i);
  if ((a & 15) !== 0) throw c.fault(GP, 0);
  return a;
}

/** Whether the linear address of the memory operand is not 16-byte aligned (only the low bits are computed). */
function misaligned16(c: Cpu, i: Insn): boolean {
  const r = c.r;
  let lo = i.dispLo;
  if (i.base >= 0) lo += r[2 * i.base]!;
  if (i.index >= 0) lo += r[2 * i.index]! << i.scale;
  if (i.seg >= SEG_FS) lo += c.segBase[2 * i.seg]!;
  return (lo & 15) !== 0;
}

/** The 128-bit source operand (xmm/m128) into SRC; `align`: the 16-byte rule applies. */
export function loadS128(c: Cpu, i: Insn, align: boolean): void {
  const rm = i.rm;
  if (rm >= 0) {
    const x = c.xmm, o = rm << 2;
    S[0] = x[o]!;
    S[1] = x[o + 1]!;
    S[2] = x[o + 2]!;
    S[3] = x[o + 3]!;
    return;
  }
  const a = align ? eaAligned(c, i) : c.ea(i);
  read128(c, a, c.eaHi, S);
}

/** The low 64 bits of the source (xmm/m64) into SRC[0..1]. */
export function loadS64(c: Cpu, i: Insn): void {
  const rm = i.rm;
  if (rm >= 0) {
    S[0] = c.xmm[rm << 2]!;
    S[1] = c.xmm[(rm << 2) + 1]!;
    return;
  }
  const a = c.ea(i);
  S[0] = c.read64(a, c.eaHi);
  S[1] = c.hi;
}

/** The low 32 bits of the source (xmm/m32), returned. */
export function loadS32(c: Cpu, i: Insn): number {
  const rm = i.rm;
  if (rm >= 0) return c.xmm[rm << 2]!;
  const a = c.ea(i);
  return c.read32(a, c.eaHi);
}

/** Copy XMM register n into DST. */
export function loadD(c: Cpu, n: number): void {
  const x = c.xmm, o = n << 2, d = DST.i32;
  d[0] = x[o]!;
  d[1] = x[o + 1]!;
  d[2] = x[o + 2]!;
  d[3] = x[o + 3]!;
}

/** Copy 4 lanes from `src` into XMM register n. */
export function storeX(c: Cpu, n: number, src: Int32Array): void {
  const x = c.xmm, o = n << 2;
  x[o] = src[0]!;
  x[o + 1] = src[1]!;
  x[o + 2] = src[2]!;
  x[o + 3] = src[3]!;
}
