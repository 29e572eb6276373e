/**
 * Integer ALU: add, or, adc, sbb, and, sub, xor, cmp (all forms), test,
 * inc, dec, not, neg, xchg, xadd, cmpxchg, cmpxchg8b/16b.
 */
import type { Cpu } from '../cpu.ts';
import type { Handler, Insn } from '../insn.ts';
import { F_ADC, F_ADD, F_DEC, F_INC, F_LOGIC, F_SBB, F_SUB } from '../flags.ts';
import { def, MAP_0F, MAP_1B } from '../table.ts';
import { AF, GP, RAX, RBX, RCX, RDX, ZF } from '../state.ts';
import { mask, readE, readMem, rmwRead, rmwWrite, sizeIdx } from './operand.ts';
import { leaAddress } from './mov.ts';

export const ADD = 0, OR = 1, ADC = 2, SBB = 3, AND = 4, SUB = 5, XOR = 6, CMP = 7;
const NAMES = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];

/**
 * The eight classic ALU operations on values of `size` bytes (masked to
 * size; 64-bit as lo/hi). Sets the lazy flags; returns the result's low half,
 * high half in c.hi.
 */
export function alu(c: Cpu, op: number, size: number, aL: number, aH: number, bL: number, bH: number): number {
  const s = sizeIdx(size);
  bL = mask(size, bL);
  let rL: number, rH = 0;
  if (size !== 8) {
    aH = 0;
    bH = 0;
  }
  switch (op) {
    case ADD: {
      if (size === 8) {
        const t = (aL >>> 0) + (bL >>> 0);
        rL = t | 0;
        rH = (aH + bH + (t > 0xffffffff ? 1 : 0)) | 0;
      } else rL = mask(size, aL + bL);
      c.setLazy((F_ADD << 2) | s, rL, rH, aL, aH, bL, bH, 0);
      break;
    }
    case ADC: {
      const cin = c.getCF() ? 1 : 0;
      if (size === 8) {
        const t = (aL >>> 0) + (bL >>> 0) + cin;
        rL = t | 0;
        rH = (aH + bH + (t > 0xffffffff ? 1 : 0)) | 0;
      } else rL = mask(size, (aL >>> 0) + (bL >>> 0) + cin);
      c.setLazy((F_ADC << 2) | s, rL, rH, aL, aH, bL, bH, cin);
      break;
    }
    case SUB:
    case CMP: {
      if (size === 8) {
        rL = (aL - bL) | 0;
        rH = (aH - bH - (aL >>> 0 < bL >>> 0 ? 1 : 0)) | 0;
      } else rL = mask(size, aL - bL);
      c.setLazy((F_SUB << 2) | s, rL, rH, aL, aH, bL, bH, 0);
      break;
    }
    case SBB: {
      const bin = c.getCF() ? 1 : 0;
      if (size === 8) {
        const d = (aL >>> 0) - (bL >>> 0) - bin;
        rL = d | 0;
        rH = (aH - bH - (d < 0 ? 1 : 0)) | 0;
      } else rL = mask(size, (aL >>> 0) - (bL >>> 0) - bin);
      c.setLazy((F_SBB << 2) | s, rL, rH, aL, aH, bL, bH, bin);
      break;
    }
    case AND:
      rL = aL & bL;
      rH = aH & bH;
      c.setLazy((F_LOGIC << 2) | s, rL, rH, 0, 0, 0, 0, 0);
      break;
    case OR:
      rL = aL | bL;
      rH = aH | bH;
      c.setLazy((F_LOGIC << 2) | s, rL, rH, 0, 0, 0, 0, 0);
      break;
    default: // XOR
      rL = aL ^ bL;
      rH = aH ^ bH;
      c.setLazy((F_LOGIC << 2) | s, rL, rH, 0, 0, 0, 0, 0);
      break;
  }
  c.hi = rH;
  return rL;
}

/**
 * Hand-specialised register forms of the commonest 32/64-bit operations
 * (the interpreter's hottest handlers): operands from registers or the
 * immediate, flags recorded without going through alu().
 */
function fastRR(op: number, size: number, src: 'reg' | 'imm', dstIsRm: boolean): Handler | undefined {
  if (size !== 4 && size !== 8) return undefined;
  if (op !== ADD && op !== SUB && op !== CMP && op !== AND && op !== OR && op !== XOR) return undefined;
  const fam = op === ADD ? F_ADD : op === SUB || op === CMP ? F_SUB : F_LOGIC;
  const code = (fam << 2) | (size === 8 ? 3 : 2);
  const write = op !== CMP;
  if (size === 4) {
    return (c: Cpu, i: Insn): void => {
      const r = c.r, lf = c.lf;
      const d = dstIsRm ? 2 * i.rm : 2 * i.reg;
      const a = r[d]!;
      const b = src === 'imm' ? i.immLo : dstIsRm ? r[2 * i.reg]! : r[2 * i.rm]!;
      let res: number;
      if (op === ADD) res = (a + b) | 0;
      else if (op === SUB || op === CMP) res = (a - b) | 0;
      else if (op === AND) res = a & b;
      else if (op === OR) res = a | b;
      else res = a ^ b;
      if (write) {
        r[d] = res;
        r[d + 1] = 0;
      }
      lf[0] = code;
      lf[1] = res;
      lf[3] = a;
      lf[5] = b;
    };
  }
  return (c: Cpu, i: Insn): void => {
    const r = c.r, lf = c.lf;
    const d = dstIsRm ? 2 * i.rm : 2 * i.reg;
    const aL = r[d]!, aH = r[d + 1]!;
    let bL: number, bH: number;
    if (src === 'imm') {
      bL = i.immLo;
      bH = i.immHi;
    } else {
      const s = dstIsRm ? 2 * i.reg : 2 * i.rm;
      bL = r[s]!;
      bH = r[s + 1]!;
    }
    let lo: number, hi: number;
    if (op === ADD) {
      const t = (aL >>> 0) + (bL >>> 0);
      lo = t | 0;
      hi = (aH + bH + (t > 0xffffffff ? 1 : 0)) | 0;
    } else if (op === SUB || op === CMP) {
      lo = (aL - bL) | 0;
      hi = (aH - bH - (aL >>> 0 < bL >>> 0 ? 1 : 0)) | 0;
    } else if (op === AND) {
      lo = aL & bL;
      hi = aH & bH;
    } else if (op === OR) {
      lo = aL | bL;
      hi = aH | bH;
    } else {
      lo = aL ^ bL;
      hi = aH ^ bH;
    }
    if (write) {
      r[d] = lo;
      r[d + 1] = hi;
    }
    lf[0] = code;
    lf[1] = lo;
    lf[2] = hi;
    lf[3] = aL;
    lf[4] = aH;
    lf[5] = bL;
    lf[6] = bH;
  };
}

/** op E, G / op G, E / op E, imm — one factory per operand direction. */
function aluEG(op: number) {
  return (size: number, mem: boolean) =>
    (!mem && fastRR(op, size, 'reg', true)) ||
    (mem
      ? (c: Cpu, i: Insn): void => {
          const a = c.ea(i), ah = c.eaHi;
          const b = c.getReg(i.reg, size), bh = c.hi;
          if (op === CMP) {
            const x = readMem(c, size, a, ah);
            alu(c, op, size, x, c.hi, b, bh);
            return;
          }
          const x = rmwRead(c, size, a, ah);
          const r = alu(c, op, size, x, c.hi, b, bh);
          rmwWrite(c, size, r, c.hi);
        }
      : (c: Cpu, i: Insn): void => {
          const x = c.getReg(i.rm, size), xh = c.hi;
          const b = c.getReg(i.reg, size), bh = c.hi;
          const r = alu(c, op, size, x, xh, b, bh);
          if (op !== CMP) c.setReg(i.rm, size, r, c.hi);
        });
}

function aluGE(op: number) {
  return (size: number, mem: boolean) =>
    (!mem && fastRR(op, size, 'reg', false)) ||
    ((c: Cpu, i: Insn): void => {
      const y = readE(c, i, size), yh = c.hi;
      const x = c.getReg(i.reg, size), xh = c.hi;
      const r = alu(c, op, size, x, xh, y, yh);
      if (op !== CMP) c.setReg(i.reg, size, r, c.hi);
    });
}

function aluEI(op: number) {
  return (size: number, mem: boolean) =>
    (!mem && fastRR(op, size, 'imm', true)) ||
    (mem
      ? (c: Cpu, i: Insn): void => {
          const a = c.ea(i), ah = c.eaHi;
          if (op === CMP) {
            const x = readMem(c, size, a, ah);
            alu(c, op, size, x, c.hi, i.immLo, i.immHi);
            return;
          }
          const x = rmwRead(c, size, a, ah);
          const r = alu(c, op, size, x, c.hi, i.immLo, i.immHi);
          rmwWrite(c, size, r, c.hi);
        }
      : (c: Cpu, i: Insn): void => {
          const x = c.getReg(i.rm, size), xh = c.hi;
          const r = alu(c, op, size, x, xh, i.immLo, i.immHi);
          if (op !== CMP) c.setReg(i.rm, size, r, c.hi);
        });
}

/** op AL/eAX, imm */
function aluAI(op: number) {
  return (size: number) =>
    (c: Cpu, i: Insn): void => {
      const x = c.getReg(RAX, size), xh = c.hi;
      const r = alu(c, op, size, x, xh, i.immLo, i.immHi);
      if (op !== CMP) c.setReg(RAX, size, r, c.hi);
    };
}

const LOGIC_UNDEF = AF;

for (let op = 0; op < 8; op++) {
  const name = NAMES[op]!;
  const base = op * 8;
  const lockable = op !== CMP;
  const undefFlags = op === AND || op === OR || op === XOR ? LOGIC_UNDEF : 0;
  def({ name, map: MAP_1B, op: base + 0, modrm: true, size: 'b', make: aluEG(op), lockable, undefFlags });
  def({ name, map: MAP_1B, op: base + 1, modrm: true, size: 'v', make: aluEG(op), lockable, undefFlags });
  def({ name, map: MAP_1B, op: base + 2, modrm: true, size: 'b', make: aluGE(op), undefFlags });
  def({ name, map: MAP_1B, op: base + 3, modrm: true, size: 'v', make: aluGE(op), undefFlags });
  def({ name, map: MAP_1B, op: base + 4, modrm: false, size: 'b', imm: 'ib', make: aluAI(op), undefFlags });
  def({ name, map: MAP_1B, op: base + 5, modrm: false, size: 'v', imm: 'iz', make: aluAI(op), undefFlags });
  def({ name, map: MAP_1B, op: 0x80, ext: op, modrm: true, size: 'b', imm: 'ib', make: aluEI(op), lockable, undefFlags });
  def({ name, map: MAP_1B, op: 0x81, ext: op, modrm: true, size: 'v', imm: 'iz', make: aluEI(op), lockable, undefFlags });
  def({ name, map: MAP_1B, op: 0x83, ext: op, modrm: true, size: 'v', imm: 'ib', make: aluEI(op), lockable, undefFlags });
}

// ---- test

function testFlags(c: Cpu, size: number, aL: number, aH: number, bL: number, bH: number): void {
  c.setLazy((F_LOGIC << 2) | sizeIdx(size), mask(size, aL & bL), size === 8 ? aH & bH : 0, 0, 0, 0, 0, 0);
}
const testEG = (size: number) => (c: Cpu, i: Insn): void => {
  const x = readE(c, i, size), xh = c.hi;
  const y = c.getReg(i.reg, size);
  testFlags(c, size, x, xh, y, c.hi);
};
const testEI = (size: number) => (c: Cpu, i: Insn): void => {
  const x = readE(c, i, size);
  testFlags(c, size, x, c.hi, i.immLo, i.immHi);
};
const testAI = (size: number) => (c: Cpu, i: Insn): void => {
  const x = c.getReg(RAX, size);
  testFlags(c, size, x, c.hi, i.immLo, i.immHi);
};
def({ name: 'test', map: MAP_1B, op: 0x84, modrm: true, size: 'b', make: testEG, undefFlags: AF });
def({ name: 'test', map: MAP_1B, op: 0x85, modrm: true, size: 'v', make: testEG, undefFlags: AF });
def({ name: 'test', map: MAP_1B, op: 0xa8, modrm: false, size: 'b', imm: 'ib', make: testAI, undefFlags: AF });
def({ name: 'test', map: MAP_1B, op: 0xa9, modrm: false, size: 'v', imm: 'iz', make: testAI, undefFlags: AF });
for (const ext of [0, 1]) {
  def({ name: 'test', map: MAP_1B, op: 0xf6, ext, modrm: true, size: 'b', imm: 'ib', make: testEI, undefFlags: AF });
  def({ name: 'test', map: MAP_1B, op: 0xf7, ext, modrm: true, size: 'v', imm: 'iz', make: testEI, undefFlags: AF });
}

// ---- inc / dec (CF is preserved: it rides in the lazy record's aux)

function incDecReg(dec: boolean, size: number): Handler {
  const code = ((dec ? F_DEC : F_INC) << 2) | (size === 8 ? 3 : 2);
  const delta = dec ? -1 : 1;
  return (c: Cpu, i: Insn): void => {
    const r = c.r, lf = c.lf;
    const cf = c.getCF() ? 1 : 0;
    const d = 2 * i.rm;
    const x = r[d]!, xh = size === 8 ? r[d + 1]! : 0;
    const rL = (x + delta) | 0;
    const rH = size === 8 ? (dec ? (x === 0 ? (xh - 1) | 0 : xh) : x === -1 ? (xh + 1) | 0 : xh) : 0;
    r[d] = rL;
    r[d + 1] = rH;
    lf[0] = code;
    lf[1] = rL;
    lf[2] = rH;
    lf[3] = x;
    lf[4] = xh;
    lf[5] = 1;
    lf[6] = 0;
    lf[7] = cf;
  };
}

function incDec(dec: boolean) {
  return (size: number, mem: boolean): Handler => (!mem && (size === 4 || size === 8) ? incDecReg(dec, size) : (c: Cpu, i: Insn): void => {
    let x: number, xh: number;
    let a = 0, ah = 0;
    if (mem) {
      a = c.ea(i);
      ah = c.eaHi;
      x = rmwRead(c, size, a, ah);
      xh = c.hi;
    } else {
      x = c.getReg(i.rm, size);
      xh = c.hi;
    }
    const cf = c.getCF() ? 1 : 0;
    let rL: number, rH = 0;
    if (size === 8) {
      if (dec) {
        rL = (x - 1) | 0;
        rH = x === 0 ? (xh - 1) | 0 : xh;
      } else {
        rL = (x + 1) | 0;
        rH = x === -1 ? (xh + 1) | 0 : xh;
      }
    } else rL = mask(size, dec ? x - 1 : x + 1);
    c.setLazy(((dec ? F_DEC : F_INC) << 2) | sizeIdx(size), rL, rH, x, xh, 1, 0, cf);
    if (mem) rmwWrite(c, size, rL, rH);
    else c.setReg(i.rm, size, rL, rH);
  });
}
def({ name: 'inc', map: MAP_1B, op: 0xfe, ext: 0, modrm: true, size: 'b', make: incDec(false), lockable: true });
def({ name: 'dec', map: MAP_1B, op: 0xfe, ext: 1, modrm: true, size: 'b', make: incDec(true), lockable: true });
def({ name: 'inc', map: MAP_1B, op: 0xff, ext: 0, modrm: true, size: 'v', make: incDec(false), lockable: true });
def({ name: 'dec', map: MAP_1B, op: 0xff, ext: 1, modrm: true, size: 'v', make: incDec(true), lockable: true });

// ---- not / neg

function notNeg(neg: boolean) {
  return (size: number, mem: boolean) => (c: Cpu, i: Insn): void => {
    let x: number, xh: number;
    if (mem) {
      const a = c.ea(i);
      x = rmwRead(c, size, a, c.eaHi);
      xh = c.hi;
    } else {
      x = c.getReg(i.rm, size);
      xh = c.hi;
    }
    let rL: number, rH: number;
    if (neg) {
      rL = alu(c, SUB, size, 0, 0, x, xh);
      rH = c.hi;
    } else {
      rL = mask(size, ~x);
      rH = size === 8 ? ~xh : 0;
    }
    if (mem) rmwWrite(c, size, rL, rH);
    else c.setReg(i.rm, size, rL, rH);
  };
}
def({ name: 'not', map: MAP_1B, op: 0xf6, ext: 2, modrm: true, size: 'b', make: notNeg(false), lockable: true });
def({ name: 'neg', map: MAP_1B, op: 0xf6, ext: 3, modrm: true, size: 'b', make: notNeg(true), lockable: true });
def({ name: 'not', map: MAP_1B, op: 0xf7, ext: 2, modrm: true, size: 'v', make: notNeg(false), lockable: true });
def({ name: 'neg', map: MAP_1B, op: 0xf7, ext: 3, modrm: true, size: 'v', make: notNeg(true), lockable: true });

// ---- xchg, xadd, cmpxchg

const xchgEG = (size: number, mem: boolean) => (c: Cpu, i: Insn): void => {
  const y = c.getReg(i.reg, size), yh = c.hi;
  if (mem) {
    const a = c.ea(i);
    const x = rmwRead(c, size, a, c.eaHi), xh = c.hi;
    rmwWrite(c, size, y, yh);
    c.setReg(i.reg, size, x, xh);
  } else {
    const x = c.getReg(i.rm, size), xh = c.hi;
    c.setReg(i.rm, size, y, yh);
    c.setReg(i.reg, size, x, xh);
  }
};
def({ name: 'xchg', map: MAP_1B, op: 0x86, modrm: true, size: 'b', make: xchgEG, lockable: true });
def({ name: 'xchg', map: MAP_1B, op: 0x87, modrm: true, size: 'v', make: xchgEG, lockable: true });
// 90+r: xchg eAX, r (90 without REX.B is nop; 90 with REX.B is xchg r8, rax; F3 90 is pause)
def({
  name: 'xchg',
  map: MAP_1B,
  op: 0x90,
  opReg: true,
  modrm: false,
  size: 'v',
  make: (size) => (c, i) => {
    if (i.reg === RAX) return; // 90 is nop (it does not zero-extend EAX, unlike 87 C0)
    const x = c.getReg(RAX, size), xh = c.hi;
    const y = c.getReg(i.reg, size), yh = c.hi;
    c.setReg(RAX, size, y, yh);
    c.setReg(i.reg, size, x, xh);
  },
});

const xadd = (size: number, mem: boolean) => (c: Cpu, i: Insn): void => {
  const y = c.getReg(i.reg, size), yh = c.hi;
  if (mem) {
    const a = c.ea(i);
    const x = rmwRead(c, size, a, c.eaHi), xh = c.hi;
    const r = alu(c, ADD, size, x, xh, y, yh);
    rmwWrite(c, size, r, c.hi);
    c.setReg(i.reg, size, x, xh);
  } else {
    const x = c.getReg(i.rm, size), xh = c.hi;
    const r = alu(c, ADD, size, x, xh, y, yh);
    const rh = c.hi;
    c.setReg(i.reg, size, x, xh);
    c.setReg(i.rm, size, r, rh);
  }
};
def({ name: 'xadd', map: MAP_0F, op: 0xc0, modrm: true, size: 'b', make: xadd, lockable: true });
def({ name: 'xadd', map: MAP_0F, op: 0xc1, modrm: true, size: 'v', make: xadd, lockable: true });

const cmpxchg = (size: number, mem: boolean) => (c: Cpu, i: Insn): void => {
  const acc = c.getReg(RAX, size), acch = c.hi;
  let x: number, xh: number;
  if (mem) {
    const a = c.ea(i);
    // The destination is written in both cases (with its own value on failure), as on hardware.
    x = rmwRead(c, size, a, c.eaHi);
    xh = c.hi;
  } else {
    x = c.getReg(i.rm, size);
    xh = c.hi;
  }
  alu(c, CMP, size, acc, acch, x, xh);
  const equal = mask(size, acc) === mask(size, x) && (size !== 8 || acch === xh);
  if (equal) {
    const s = c.getReg(i.reg, size), sh = c.hi;
    if (mem) rmwWrite(c, size, s, sh);
    else c.setReg(i.rm, size, s, sh);
  } else {
    if (mem) rmwWrite(c, size, x, xh);
    c.setReg(RAX, size, x, xh);
  }
};
def({ name: 'cmpxchg', map: MAP_0F, op: 0xb0, modrm: true, size: 'b', make: cmpxchg, lockable: true });
def({ name: 'cmpxchg', map: MAP_0F, op: 0xb1, modrm: true, size: 'v', make: cmpxchg, lockable: true });

/** cmpxchg8b / cmpxchg16b m64/m128 (0F C7 /1). */
function cmpxchgWide(c: Cpu, i: Insn): void {
  // cmpxchg16b checks 16-byte alignment before the address's canonical form.
  if (i.opSize === 8 && leaAddress(c, i) & 15) throw c.fault(GP, 0);
  const a = c.ea(i), ah = c.eaHi;
  const r = c.r;
  if (i.opSize === 8) {
    const x0 = rmwRead(c, 8, a, ah), x1 = c.hi;
    const hiOff = c.rmwOff;
    const y0 = c.read32((a + 8) | 0, ah), y1 = c.read32((a + 12) | 0, ah); // same page: 16-byte aligned
    const eq = x0 === r[2 * RAX] && x1 === r[2 * RAX + 1] && y0 === r[2 * RDX] && y1 === r[2 * RDX + 1];
    c.getFlags();
    if (eq) {
      c.rmwOff = hiOff;
      rmwWrite(c, 8, r[2 * RBX]!, r[2 * RBX + 1]!);
      c.write64((a + 8) | 0, ah, r[2 * RCX]!, r[2 * RCX + 1]!);
      c.flags |= ZF;
    } else {
      c.flags &= ~ZF;
      r[2 * RAX] = x0;
      r[2 * RAX + 1] = x1;
      r[2 * RDX] = y0;
      r[2 * RDX + 1] = y1;
    }
    return;
  }
  const x = rmwRead(c, 8, a, ah), xh = c.hi;
  const eq = x === r[2 * RAX] && xh === r[2 * RDX];
  c.getFlags();
  if (eq) {
    rmwWrite(c, 8, r[2 * RBX]!, r[2 * RCX]!);
    c.flags |= ZF;
  } else {
    rmwWrite(c, 8, x, xh);
    c.flags &= ~ZF;
    c.setReg32(RAX, x);
    c.setReg32(RDX, xh);
  }
}
def({ name: 'cmpxchg8b', map: MAP_0F, op: 0xc7, ext: 1, mod: 'mem', modrm: true, size: 'v', exec: cmpxchgWide, lockable: true });
