/** Stack: push/pop (registers, memory, immediates, FS/GS, flags), enter, leave. */
import type { Cpu } from '../cpu.ts';
import { SEG_FS, SEG_GS } from '../state.ts';
import type { Insn } from '../insn.ts';
import { def, MAP_0F, MAP_1B } from '../table.ts';
import { AC, ARITH_FLAGS, DF, FLAGS_FIXED, ID, IF, IOPL, NT, RBP, RSP, TF } from '../state.ts';
import { readE, writeE } from './operand.ts';
import { loadSegment } from './mov.ts';

function push(c: Cpu, size: number, lo: number, hi: number): void {
  if (size === 8) c.push64(lo, hi);
  else c.push16(lo);
}

def({
  name: 'push',
  map: MAP_1B,
  op: 0x50,
  opReg: true,
  modrm: false,
  size: 'd64',
  make: (size) =>
    size === 8
      ? (c, i) => c.push64(c.r[2 * i.reg]!, c.r[2 * i.reg + 1]!)
      : (c, i) => c.push16(c.r[2 * i.reg]!),
});
def({
  name: 'pop',
  map: MAP_1B,
  op: 0x58,
  opReg: true,
  modrm: false,
  size: 'd64',
  make: (size) =>
    size === 8
      ? (c, i) => {
          const lo = c.pop64();
          c.r[2 * i.reg] = lo;
          c.r[2 * i.reg + 1] = c.hi;
        }
      : (c, i) => c.setReg16(i.reg, c.pop16()),
});
def({ name: 'push', map: MAP_1B, op: 0x68, modrm: false, size: 'd64', imm: 'iz', make: (size) => (c, i) => push(c, size, i.immLo, i.immHi) });
def({ name: 'push', map: MAP_1B, op: 0x6a, modrm: false, size: 'd64', imm: 'ib', make: (size) => (c, i) => push(c, size, i.immLo, i.immHi) });
def({
  name: 'push',
  map: MAP_1B,
  op: 0xff,
  ext: 6,
  modrm: true,
  size: 'd64',
  make: (size) => (c, i) => {
    const lo = readE(c, i, size);
    push(c, size, lo, c.hi);
  },
});
def({
  name: 'pop',
  map: MAP_1B,
  op: 0x8f,
  ext: 0,
  modrm: true,
  size: 'd64',
  make: (size) => (c: Cpu, i: Insn) => {
    // The destination address is computed with RSP already incremented (SDM: POP).
    const r = c.r;
    const sL = r[2 * RSP]!, sH = r[2 * RSP + 1]!;
    const v = size === 8 ? c.pop64() : c.pop16();
    const vh = c.hi;
    try {
      writeE(c, i, size, v, vh);
    } catch (e) {
      r[2 * RSP] = sL;
      r[2 * RSP + 1] = sH;
      throw e;
    }
  },
});

// push/pop fs, gs
for (const [op, seg, isPush] of [[0xa0, SEG_FS, true], [0xa1, SEG_FS, false], [0xa8, SEG_GS, true], [0xa9, SEG_GS, false]] as const) {
  def({
    name: isPush ? 'push' : 'pop',
    map: MAP_0F,
    op,
    modrm: false,
    size: 'd64',
    make: (size) =>
      isPush
        ? (c) => push(c, size, c.sel[seg]! & 0xffff, 0)
        : (c) => {
            const sL = c.r[2 * RSP]!, sH = c.r[2 * RSP + 1]!;
            const v = size === 8 ? c.pop64() : c.pop16();
            try {
              loadSegment(c, seg, v & 0xffff);
            } catch (e) {
              c.r[2 * RSP] = sL;
              c.r[2 * RSP + 1] = sH;
              throw e;
            }
          },
  });
}

// ---- pushf / popf

def({
  name: 'pushf',
  map: MAP_1B,
  op: 0x9c,
  modrm: false,
  size: 'd64',
  make: (size) => (c) => {
    // RF and VM read as 0 in the pushed image.
    const f = c.getFlags() & ~0x30000;
    push(c, size, f, 0);
  },
});
def({
  name: 'popf',
  map: MAP_1B,
  op: 0x9d,
  modrm: false,
  size: 'd64',
  control: true, // TF may change: end the block
  make: (size) => (c, i) => {
    const v = size === 8 ? c.pop64() : c.pop16() | (c.getFlags() & ~0xffff);
    writeFlags(c, v);
    c.r[32] = i.nextLo;
    c.r[33] = i.nextHi;
  },
});

/** popf/iret semantics for the flags a program may change at its privilege level. */
export function writeFlags(c: Cpu, v: number): void {
  let changeable = ARITH_FLAGS | TF | DF | NT | AC | ID;
  const iopl = (c.getFlags() & IOPL) >> 12;
  if (c.cpl === 0) changeable |= IOPL | IF;
  else if (c.cpl <= iopl) changeable |= IF;
  c.getFlags();
  c.flags = ((c.flags & ~changeable) | (v & changeable)) | FLAGS_FIXED;
}

// ---- enter / leave

def({
  name: 'leave',
  map: MAP_1B,
  op: 0xc9,
  modrm: false,
  size: 'd64',
  make: (size) => (c) => {
    const r = c.r;
    const bL = r[2 * RBP]!, bH = r[2 * RBP + 1]!;
    if ((bH << 16) >> 16 !== bH) throw c.fault(12, 0);
    if (size === 8) {
      const lo = c.read64(bL, bH), hi = c.hi;
      const s = (bL >>> 0) + 8;
      r[2 * RSP] = s | 0;
      r[2 * RSP + 1] = s > 0xffffffff ? (bH + 1) | 0 : bH;
      r[2 * RBP] = lo;
      r[2 * RBP + 1] = hi;
    } else {
      const v = c.read16(bL, bH);
      const s = (bL >>> 0) + 2;
      r[2 * RSP] = s | 0;
      r[2 * RSP + 1] = s > 0xffffffff ? (bH + 1) | 0 : bH;
      c.setReg16(RBP, v);
    }
  },
});
def({
  name: 'enter',
  map: MAP_1B,
  op: 0xc8,
  modrm: false,
  size: 'd64',
  imm: 'iw_ib',
  make: (size) => (c, i) => {
    const r = c.r;
    const level = i.imm2 & 31;
    const frame = i.immLo;
    const spL = r[2 * RSP]!, spH = r[2 * RSP + 1]!;
    const bpL0 = r[2 * RBP]!, bpH0 = r[2 * RBP + 1]!;
    try {
      push(c, size, bpL0, bpH0);
      const tL = r[2 * RSP]!, tH = r[2 * RSP + 1]!;
      if (level > 0) {
        let bpL = bpL0, bpH = bpH0;
        for (let k = 1; k < level; k++) {
          const d = (bpL >>> 0) - size;
          bpH = d < 0 ? (bpH - 1) | 0 : bpH;
          bpL = d | 0;
          c.checkCanonical(bpH, true);
          const v = size === 8 ? c.read64(bpL, bpH) : c.read16(bpL, bpH);
          push(c, size, v, c.hi);
        }
        push(c, size, tL, tH);
      }
      const d = (r[2 * RSP]! >>> 0) - frame;
      const nH = d < 0 ? (r[2 * RSP + 1]! - 1) | 0 : r[2 * RSP + 1]!;
      const nL = d | 0;
      if (frame !== 0) {
        // The new stack top must be writable: the host probes one byte there after the
        // pushes (which stay written) and faults #PF(W) at RSP - frame, RSP and RBP unchanged.
        c.checkCanonical(nH, true);
        c.xlateWrite(nL, nH);
      }
      if (size === 8) {
        r[2 * RBP] = tL;
        r[2 * RBP + 1] = tH;
      } else c.setReg16(RBP, tL);
      r[2 * RSP] = nL;
      r[2 * RSP + 1] = nH;
    } catch (e) {
      r[2 * RSP] = spL;
      r[2 * RSP + 1] = spH;
      r[2 * RBP] = bpL0;
      r[2 * RBP + 1] = bpH0;
      throw e;
    }
  },
});
