/**
 * Operand access shared by the instruction modules: memory of any size at a
 * linear address, ModRM E operands (register or memory), and size helpers.
 * 64-bit values travel as (lo, hi): functions return lo and leave hi in c.hi.
 */
import type { Cpu } from '../cpu.ts';
import type { Insn } from '../insn.ts';
import { SIZE16, SIZE32, SIZE64, SIZE8 } from '../flags.ts';

/** Size in bytes → lazy-flag size index. */
export function sizeIdx(size: number): number {
  return size === 1 ? SIZE8 : size === 2 ? SIZE16 : size === 4 ? SIZE32 : SIZE64;
}

/** Mask a low half to the operand size (8/16 unsigned; 32/64 unchanged). */
export function mask(size: number, v: number): number {
  return size === 1 ? v & 0xff : size === 2 ? v & 0xffff : v | 0;
}

export function readMem(c: Cpu, size: number, lo: number, hi: number): number {
  switch (size) {
    case 1: c.hi = 0; return c.read8(lo, hi);
    case 2: c.hi = 0; return c.read16(lo, hi);
    case 4: c.hi = 0; return c.read32(lo, hi);
    default: return c.read64(lo, hi);
  }
}

export function writeMem(c: Cpu, size: number, lo: number, hi: number, vLo: number, vHi: number): void {
  switch (size) {
    case 1: c.write8(lo, hi, vLo); break;
    case 2: c.write16(lo, hi, vLo); break;
    case 4: c.write32(lo, hi, vLo); break;
    default: c.write64(lo, hi, vLo, vHi); break;
  }
}

/**
 * The source of movd/movq into an MMX or XMM register: r/m32 zero-extended,
 * or r/m64 when REX.W (`w`). Returns lo, hi in c.hi.
 */
export function readMovdSource(c: Cpu, i: Insn, w: boolean): number {
  if (i.rm >= 0) {
    c.hi = w ? c.r[2 * i.rm + 1]! : 0;
    return c.r[2 * i.rm]!;
  }
  const a = c.ea(i);
  if (w) return c.read64(a, c.eaHi);
  const v = c.read32(a, c.eaHi);
  c.hi = 0;
  return v;
}

/** Read the E operand (ModRM.rm): returns lo, hi in c.hi. */
export function readE(c: Cpu, i: Insn, size: number): number {
  if (i.rm >= 0) return c.getReg(i.rm, size);
  const a = c.ea(i);
  return readMem(c, size, a, c.eaHi);
}

/** Write the E operand. For memory, computes the address again (use the ea-taking forms in RMW paths). */
export function writeE(c: Cpu, i: Insn, size: number, lo: number, hi: number): void {
  if (i.rm >= 0) {
    c.setReg(i.rm, size, lo, hi);
    return;
  }
  const a = c.ea(i);
  writeMem(c, size, a, c.eaHi, lo, hi);
}

/** Sign-extend a value of `size` bytes to 64 bits: returns lo, hi in c.hi. */
export function signExtend(c: Cpu, size: number, lo: number, hi: number): number {
  switch (size) {
    case 1: lo = (lo << 24) >> 24; c.hi = lo >> 31; return lo;
    case 2: lo = (lo << 16) >> 16; c.hi = lo >> 31; return lo;
    case 4: c.hi = lo >> 31; return lo;
    default: c.hi = hi; return lo;
  }
}

/**
 * First half of a read-modify-write on memory: translates for write before
 * anything changes (so a fault leaves state untouched), then reads.
 * Returns lo, hi in c.hi. Finish with rmwWrite.
 */
export function rmwRead(c: Cpu, size: number, lo: number, hi: number): number {
  if ((lo & 0xfff) + size <= 0x1000) {
    const o = c.xlateWrite(lo, hi);
    c.rmwOff = o;
    const dv = c.dv;
    switch (size) {
      case 1: c.hi = 0; return c.ram[o]!;
      case 2: c.hi = 0; return dv.getUint16(o, true);
      case 4: c.hi = 0; return dv.getInt32(o, true);
      default: c.hi = dv.getInt32(o + 4, true); return dv.getInt32(o, true);
    }
  }
  c.checkWritable(lo, hi, size);
  c.rmwOff = -1;
  c.rmwLo = lo;
  c.rmwHi = hi;
  return readMem(c, size, lo, hi);
}

export function rmwWrite(c: Cpu, size: number, vLo: number, vHi: number): void {
  const o = c.rmwOff;
  if (o < 0) {
    writeMem(c, size, c.rmwLo, c.rmwHi, vLo, vHi);
    return;
  }
  const dv = c.dv;
  switch (size) {
    case 1: c.ram[o] = vLo; break;
    case 2: dv.setUint16(o, vLo, true); break;
    case 4: dv.setInt32(o, vLo, true); break;
    default: dv.setInt32(o, vLo, true); dv.setInt32(o + 4, vHi, true); break;
  }
}
