/**
 * Shifts and rotates: shl/sal, shr, sar, rol, ror, rcl, rcr (group 2: by 1,
 * by CL, by imm8) and shld/shrd. Counts are masked to 5 bits (6 for 64-bit);
 * a masked count of 0 changes nothing, not even the flags.
 */
import type { Cpu } from '../cpu.ts';
import type { Insn } from '../insn.ts';
import { F_SAR, F_SHL, F_SHR } from '../flags.ts';
import { def, MAP_0F, MAP_1B } from '../table.ts';
import { AF, CF, OF, RCX } from '../state.ts';
import { mask, rmwRead, rmwWrite, sizeIdx } from './operand.ts';

let outHi = 0;

/** Bit k (0-63) of a (lo, hi) value. */
function bit(lo: number, hi: number, k: number): number {
  return k < 32 ? (lo >>> k) & 1 : (hi >>> (k - 32)) & 1;
}

function shl64(lo: number, hi: number, n: number): number {
  if (n === 0) { outHi = hi; return lo; }
  if (n < 32) { outHi = (hi << n) | (lo >>> (32 - n)); return lo << n; }
  outHi = lo << (n - 32);
  return 0;
}
function shr64(lo: number, hi: number, n: number): number {
  if (n === 0) { outHi = hi; return lo; }
  if (n < 32) { outHi = hi >>> n; return (lo >>> n) | (hi << (32 - n)); }
  outHi = 0;
  return hi >>> (n - 32);
}
function sar64(lo: number, hi: number, n: number): number {
  if (n === 0) { outHi = hi; return lo; }
  if (n < 32) { outHi = hi >> n; return (lo >>> n) | (hi << (32 - n)); }
  outHi = hi >> 31;
  return hi >> (n - 32);
}

const SHIFT_UNDEF = AF | OF; // OF is defined only for 1-bit shifts; AF never

/**
 * Perform group-2 operation `op` (0 rol … 7 sar) on (lo, hi) of `size` bytes
 * by the already-masked count `n` > 0. Returns the result lo (hi in outHi)
 * and sets the flags.
 */
function shiftOp(c: Cpu, op: number, size: number, lo: number, hi: number, n: number): number {
  const bits = size * 8;
  const s = sizeIdx(size);
  if (size < 8) hi = 0;
  switch (op) {
    case 4: case 6: { // shl / sal
      let rL: number, rH = 0, cf: number;
      if (size === 8) {
        rL = shl64(lo, hi, n);
        rH = outHi;
        cf = bit(lo, hi, 64 - n);
      } else {
        rL = n >= 32 ? 0 : mask(size, lo << n);
        cf = n > bits ? 0 : (lo >>> (bits - n)) & 1;
      }
      c.setLazy((F_SHL << 2) | s, rL, rH, lo, hi, n, 0, cf);
      outHi = rH;
      return rL;
    }
    case 5: { // shr
      let rL: number, rH = 0, cf: number;
      if (size === 8) {
        rL = shr64(lo, hi, n);
        rH = outHi;
        cf = bit(lo, hi, n - 1);
      } else {
        rL = n >= 32 ? 0 : mask(size, (lo >>> 0) >>> n);
        cf = n > bits ? 0 : (lo >>> (n - 1)) & 1;
      }
      c.setLazy((F_SHR << 2) | s, rL, rH, lo, hi, n, 0, cf);
      outHi = rH;
      return rL;
    }
    case 7: { // sar
      let rL: number, rH = 0, cf: number;
      if (size === 8) {
        rL = sar64(lo, hi, n);
        rH = outHi;
        cf = bit(lo, hi, n - 1);
      } else {
        const v = size === 1 ? (lo << 24) >> 24 : size === 2 ? (lo << 16) >> 16 : lo;
        const k = n > 31 ? 31 : n;
        rL = mask(size, v >> k);
        cf = (v >> (n - 1 > 31 ? 31 : n - 1)) & 1;
      }
      c.setLazy((F_SAR << 2) | s, rL, rH, lo, hi, n, 0, cf);
      outHi = rH;
      return rL;
    }
    case 0: case 1: { // rol / ror: only CF and OF change
      const k = n % bits;
      let rL: number, rH = 0;
      if (size === 8) {
        if (op === 0) {
          const aL = shl64(lo, hi, k), aH = outHi;
          const bL = shr64(lo, hi, (64 - k) & 63), bH = outHi;
          rL = k === 0 ? lo : aL | bL;
          rH = k === 0 ? hi : aH | bH;
        } else {
          const aL = shr64(lo, hi, k), aH = outHi;
          const bL = shl64(lo, hi, (64 - k) & 63), bH = outHi;
          rL = k === 0 ? lo : aL | bL;
          rH = k === 0 ? hi : aH | bH;
        }
      } else {
        const u = lo >>> 0;
        rL = k === 0 ? mask(size, u) : mask(size, op === 0 ? (u << k) | (u >>> (bits - k)) : (u >>> k) | (u << (bits - k)));
      }
      const msb = size === 8 ? (rH >>> 31) & 1 : (rL >>> (bits - 1)) & 1;
      let cf: number, of: number;
      if (op === 0) {
        cf = rL & 1;
        of = msb ^ cf;
      } else {
        cf = msb;
        of = msb ^ (size === 8 ? (rH >>> 30) & 1 : (rL >>> (bits - 2)) & 1);
      }
      const f = c.getFlags();
      c.setArithFlags((f & ~(CF | OF)) | (cf ? CF : 0) | (of ? OF : 0));
      outHi = rH;
      return rL;
    }
    default: { // rcl (2) / rcr (3): rotate through CF, bits+1 positions
      const k = size === 1 ? n % 9 : size === 2 ? n % 17 : n;
      const cin = c.getCF() ? 1n : 0n;
      const width = BigInt(bits);
      const v = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
      const full = (cin << width) | v; // bits+1 wide: CF above the operand
      const m = (1n << (width + 1n)) - 1n;
      const kk = BigInt(k);
      const rot = op === 2 ? ((full << kk) | (full >> (width + 1n - kk))) & m : ((full >> kk) | (full << (width + 1n - kk))) & m;
      const res = rot & ((1n << width) - 1n);
      const cf = Number(rot >> width) & 1;
      const msb = Number((res >> (width - 1n)) & 1n);
      const of = op === 2 ? msb ^ cf : msb ^ Number((res >> (width - 2n)) & 1n);
      const f = c.getFlags();
      if (k !== 0) c.setArithFlags((f & ~(CF | OF)) | (cf ? CF : 0) | (of ? OF : 0));
      outHi = Number(res >> 32n) | 0;
      return Number(res & 0xffffffffn) | 0;
    }
  }
}

type CountFn = (c: Cpu, i: Insn) => number;
const byOne: CountFn = () => 1;
const byCL: CountFn = (c) => c.r[2 * RCX]!;
const byImm: CountFn = (_c, i) => i.immLo;

function group2(op: number, count: CountFn) {
  return (size: number, mem: boolean) => (c: Cpu, i: Insn): void => {
    const n = count(c, i) & (size === 8 ? 63 : 31);
    let lo: number, hi: number;
    if (mem) {
      const a = c.ea(i);
      lo = rmwRead(c, size, a, c.eaHi);
      hi = c.hi;
      if (n === 0) return;
      const r = shiftOp(c, op, size, lo, hi, n);
      rmwWrite(c, size, r, outHi);
      return;
    }
    lo = c.getReg(i.rm, size);
    hi = c.hi;
    if (n === 0) {
      if (size === 4) c.r[2 * i.rm + 1] = 0; // a 32-bit register destination is still written
      return;
    }
    const r = shiftOp(c, op, size, lo, hi, n);
    c.setReg(i.rm, size, r, outHi);
  };
}

const NAMES = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal', 'sar'];
for (let op = 0; op < 8; op++) {
  const name = NAMES[op]!;
  const undefFlags = op < 4 ? OF : SHIFT_UNDEF;
  def({ name, map: MAP_1B, op: 0xc0, ext: op, modrm: true, size: 'b', imm: 'ub', make: group2(op, byImm), undefFlags });
  def({ name, map: MAP_1B, op: 0xc1, ext: op, modrm: true, size: 'v', imm: 'ub', make: group2(op, byImm), undefFlags });
  def({ name, map: MAP_1B, op: 0xd0, ext: op, modrm: true, size: 'b', make: group2(op, byOne), undefFlags: op < 4 ? 0 : AF });
  def({ name, map: MAP_1B, op: 0xd1, ext: op, modrm: true, size: 'v', make: group2(op, byOne), undefFlags: op < 4 ? 0 : AF });
  def({ name, map: MAP_1B, op: 0xd2, ext: op, modrm: true, size: 'b', make: group2(op, byCL), undefFlags });
  def({ name, map: MAP_1B, op: 0xd3, ext: op, modrm: true, size: 'v', make: group2(op, byCL), undefFlags });
}

// ---- shld / shrd: shift the destination, filling from the source register

function shiftDouble(left: boolean, count: CountFn) {
  return (size: number, mem: boolean) => (c: Cpu, i: Insn): void => {
    const n = count(c, i) & (size === 8 ? 63 : 31);
    let lo: number, hi: number;
    if (mem) {
      const a = c.ea(i);
      lo = rmwRead(c, size, a, c.eaHi);
      hi = c.hi;
    } else {
      lo = c.getReg(i.rm, size);
      hi = c.hi;
    }
    if (n === 0) {
      if (!mem && size === 4) c.r[2 * i.rm + 1] = 0;
      return;
    }
    const src = c.getReg(i.reg, size), srcH = c.hi;
    const bits = BigInt(size * 8);
    const m = (1n << bits) - 1n;
    const d = ((BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)) & m;
    const s = ((BigInt(srcH >>> 0) << 32n) | BigInt(src >>> 0)) & m;
    const k = BigInt(n);
    let res: bigint, cf: number;
    if (left) {
      // For 16-bit operands with count > 16 the result is undefined; hardware shifts through src:dst:src.
      const wide = (d << bits) | s;
      const shifted = n <= size * 8 ? wide << k : ((wide << bits) | d) << (k - bits);
      res = (shifted >> bits) & m;
      cf = Number((d >> (bits - k < 0n ? 0n : bits - k)) & 1n);
    } else {
      const wide = (s << bits) | d;
      res = (wide >> k) & m;
      cf = Number((d >> (k - 1n)) & 1n);
    }
    const rL = Number(res & 0xffffffffn) | 0;
    const rH = Number(res >> 32n) | 0;
    const orig = d;
    const msbChanged = Number(((res ^ orig) >> (bits - 1n)) & 1n);
    const ls = sizeIdx(size);
    // Record as a shift for SF/ZF/PF; CF from the last bit out; OF = sign change (defined for 1-bit shifts).
    c.setLazy(((left ? F_SHL : F_SHR) << 2) | ls, size === 8 ? rL : mask(size, rL), size === 8 ? rH : 0, lo, hi, n, 0, cf);
    if (!left) {
      // F_SHR derives OF from the operand's old MSB; shrd's OF is the MSB change instead.
      const f = c.getFlags();
      c.setArithFlags((f & ~OF) | (msbChanged ? OF : 0));
    }
    if (mem) rmwWrite(c, size, rL, rH);
    else c.setReg(i.rm, size, rL, rH);
  };
}
def({ name: 'shld', map: MAP_0F, op: 0xa4, modrm: true, size: 'v', imm: 'ub', make: shiftDouble(true, byImm), undefFlags: SHIFT_UNDEF });
def({ name: 'shld', map: MAP_0F, op: 0xa5, modrm: true, size: 'v', make: shiftDouble(true, byCL), undefFlags: SHIFT_UNDEF });
def({ name: 'shrd', map: MAP_0F, op: 0xac, modrm: true, size: 'v', imm: 'ub', make: shiftDouble(false, byImm), undefFlags: SHIFT_UNDEF });
def({ name: 'shrd', map: MAP_0F, op: 0xad, modrm: true, size: 'v', make: shiftDouble(false, byCL), undefFlags: SHIFT_UNDEF });
