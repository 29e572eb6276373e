/**
 * Bit instructions: bt, bts, btr, btc (register and immediate bit offsets,
 * with the bit-string addressing of register offsets into memory), bsf, bsr,
 * tzcnt, lzcnt, popcnt.
 */
import type { Cpu } from '../cpu.ts';
import type { Insn } from '../insn.ts';
import { def, MAP_0F } from '../table.ts';
import { AF, CF, OF, PF, SF, ZF } from '../state.ts';
import { readE, rmwRead, rmwWrite } from './operand.ts';

// ---- bt / bts / btr / btc

const BT = 0, BTS = 1, BTR = 2, BTC = 3;
const BT_UNDEF = OF | SF | AF | PF;

function setCF(c: Cpu, on: boolean): void {
  const f = c.getFlags();
  c.setArithFlags(on ? f | CF : f & ~CF);
}

/** Apply the bit operation to (lo, hi) at bit k; returns the new lo, new hi in c.hi; sets CF to the old bit. */
function bitOp(c: Cpu, op: number, lo: number, hi: number, k: number): number {
  const inHi = k >= 32;
  const m = 1 << (k & 31);
  const word = inHi ? hi : lo;
  setCF(c, (word & m) !== 0);
  let nw = word;
  if (op === BTS) nw = word | m;
  else if (op === BTR) nw = word & ~m;
  else if (op === BTC) nw = word ^ m;
  c.hi = inHi ? nw : hi;
  return inHi ? lo : nw;
}

/** bt* Ev, Gv: with a memory operand, the register offset is signed and addresses a bit string. */
function btReg(op: number) {
  return (size: number, mem: boolean) => (c: Cpu, i: Insn): void => {
    let off = c.getReg(i.reg, size), offH = c.hi;
    if (!mem) {
      const k = off & (size * 8 - 1);
      const lo = c.getReg(i.rm, size), hi = c.hi;
      const r = bitOp(c, op, lo, hi, k);
      if (op !== BT) c.setReg(i.rm, size, r, c.hi);
      return;
    }
    // Signed bit offset → byte displacement (offset >> 3, arithmetic), operand-size aligned.
    if (size === 2) { off = (off << 16) >> 16; offH = off >> 31; }
    else if (size === 4) offH = off >> 31;
    const bits = size * 8;
    const k = off & (bits - 1);
    // unit index = off >> log2(bits) (signed 64-bit) → byte displacement = unit * size
    const sh = bits === 16 ? 4 : bits === 32 ? 5 : 6;
    let uL = (off >>> sh) | (offH << (32 - sh));
    let uH = offH >> sh;
    // times size (2, 4 or 8): shift left by 1, 2 or 3
    const ms = size === 2 ? 1 : size === 4 ? 2 : 3;
    const dL = uL << ms;
    const dH = (uH << ms) | (uL >>> (32 - ms));
    uL = dL;
    uH = dH;
    const a = c.ea(i), ah = c.eaHi;
    const s = (a >>> 0) + (uL >>> 0);
    const addrLo = s | 0;
    // With a 32-bit address size the bit-string address wraps at 4 GiB.
    const addrHi = i.addrSize === 4 ? 0 : (ah + uH + (s > 0xffffffff ? 1 : 0)) | 0;
    c.checkCanonical(addrHi);
    if (op === BT) {
      const lo = size === 8 ? c.read64(addrLo, addrHi) : size === 4 ? c.read32(addrLo, addrHi) : c.read16(addrLo, addrHi);
      const hi = size === 8 ? c.hi : 0;
      bitOp(c, op, lo, hi, k);
      return;
    }
    const lo = rmwRead(c, size, addrLo, addrHi), hi = c.hi;
    const r = bitOp(c, op, lo, hi, k);
    rmwWrite(c, size, r, c.hi);
  };
}

function btImm(op: number) {
  return (size: number, mem: boolean) => (c: Cpu, i: Insn): void => {
    const k = i.immLo & (size * 8 - 1);
    if (!mem) {
      const lo = c.getReg(i.rm, size), hi = c.hi;
      const r = bitOp(c, op, lo, hi, k);
      if (op !== BT) c.setReg(i.rm, size, r, c.hi);
      return;
    }
    const a = c.ea(i), ah = c.eaHi;
    if (op === BT) {
      const lo = readE(c, i, size);
      bitOp(c, op, lo, c.hi, k);
      return;
    }
    const lo = rmwRead(c, size, a, ah), hi = c.hi;
    const r = bitOp(c, op, lo, hi, k);
    rmwWrite(c, size, r, c.hi);
  };
}

const BT_OPS: Array<[string, number, number]> = [['bt', BT, 0xa3], ['bts', BTS, 0xab], ['btr', BTR, 0xb3], ['btc', BTC, 0xbb]];
for (const [name, op, opcode] of BT_OPS) {
  def({ name, map: MAP_0F, op: opcode, modrm: true, size: 'v', make: btReg(op), lockable: op !== BT, undefFlags: BT_UNDEF });
  def({ name, map: MAP_0F, op: 0xba, ext: 4 + op, modrm: true, size: 'v', imm: 'ub', make: btImm(op), lockable: op !== BT, undefFlags: BT_UNDEF });
}

// ---- bsf / bsr / tzcnt / lzcnt / popcnt

function ctz32(v: number): number {
  return 31 - Math.clz32(v & -v);
}

function setZfCf(c: Cpu, zf: boolean, cf: boolean, others: number): void {
  const f = c.getFlags();
  c.setArithFlags((f & ~(ZF | CF | others)) | (zf ? ZF : 0) | (cf ? CF : 0));
}

const BSF_UNDEF = CF | OF | SF | AF | PF;
def({
  name: 'bsf',
  map: MAP_0F,
  op: 0xbc,
  modrm: true,
  size: 'v',
  undefFlags: BSF_UNDEF,
  make: (size) => (c, i) => {
    let lo = readE(c, i, size);
    const hi = c.hi;
    if (size === 2) lo &= 0xffff;
    if ((lo | (size === 8 ? hi : 0)) === 0) {
      setZfCf(c, true, false, 0);
      return; // destination unchanged (hardware leaves it, including the upper half)
    }
    const n = lo !== 0 ? ctz32(lo) : 32 + ctz32(hi);
    setZfCf(c, false, false, 0);
    c.setReg(i.reg, size, n, 0);
  },
});
def({
  name: 'bsr',
  map: MAP_0F,
  op: 0xbd,
  modrm: true,
  size: 'v',
  undefFlags: BSF_UNDEF,
  make: (size) => (c, i) => {
    let lo = readE(c, i, size);
    const hi = size === 8 ? c.hi : 0;
    if (size === 2) lo &= 0xffff;
    if ((lo | hi) === 0) {
      setZfCf(c, true, false, 0);
      return;
    }
    const n = hi !== 0 ? 63 - Math.clz32(hi) : 31 - Math.clz32(lo);
    setZfCf(c, false, false, 0);
    c.setReg(i.reg, size, n, 0);
  },
});
// tzcnt/lzcnt: CF = source was zero, ZF = result is zero; result = operand size for a zero source.
const CNT_UNDEF = OF | SF | AF | PF;
def({
  name: 'tzcnt',
  map: MAP_0F,
  op: 0xbc,
  prefix: 0xf3,
  modrm: true,
  size: 'v',
  undefFlags: CNT_UNDEF,
  make: (size) => (c, i) => {
    let lo = readE(c, i, size);
    const hi = size === 8 ? c.hi : 0;
    if (size === 2) lo &= 0xffff;
    let n: number;
    if ((lo | hi) === 0) n = size * 8;
    else n = lo !== 0 ? ctz32(lo) : 32 + ctz32(hi);
    setZfCf(c, n === 0, n === size * 8, 0);
    c.setReg(i.reg, size, n, 0);
  },
});
def({
  name: 'lzcnt',
  map: MAP_0F,
  op: 0xbd,
  prefix: 0xf3,
  modrm: true,
  size: 'v',
  undefFlags: CNT_UNDEF,
  make: (size) => (c, i) => {
    const lo = readE(c, i, size);
    const hi = size === 8 ? c.hi : 0;
    let n: number;
    if (size === 2) n = Math.clz32(lo & 0xffff) - 16;
    else if (size === 4) n = Math.clz32(lo);
    else n = hi !== 0 ? Math.clz32(hi) : 32 + Math.clz32(lo);
    setZfCf(c, n === 0, n === size * 8, 0);
    c.setReg(i.reg, size, n, 0);
  },
});

function popcnt32(v: number): number {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
}
def({
  name: 'popcnt',
  map: MAP_0F,
  op: 0xb8,
  prefix: 0xf3,
  modrm: true,
  size: 'v',
  make: (size) => (c, i) => {
    let lo = readE(c, i, size);
    const hi = size === 8 ? c.hi : 0;
    if (size === 2) lo &= 0xffff;
    const n = popcnt32(lo) + popcnt32(hi);
    // popcnt clears OF, SF, AF, CF, PF and sets ZF for a zero source.
    c.setArithFlags(n === 0 ? ZF : 0);
    c.setReg(i.reg, size, n, 0);
  },
});

export { popcnt32 };
