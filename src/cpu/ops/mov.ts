/**
 * Data movement: mov (all forms), movzx/movsx/movsxd, lea, cmovcc, setcc,
 * bswap, movbe, cbw/cwde/cdqe, cwd/cdq/cqo, lahf/sahf, xlat, movnti, nop,
 * mov to/from segment registers.
 */
import type { Cpu } from '../cpu.ts';
import { SEG_FS, SEG_GS } from '../state.ts';
import type { Insn } from '../insn.ts';
import { cond } from '../cond.ts';
import { def, MAP_0F, MAP_0F38, MAP_1B } from '../table.ts';
import { AF, CF, GP, PF, RAX, RBX, RDX, SF, UD, ZF } from '../state.ts';
import { readE, readMem, signExtend, writeE, writeMem } from './operand.ts';

// ---- mov

const movEG = (size: number, mem: boolean) =>
  mem
    ? (c: Cpu, i: Insn): void => {
        const v = c.getReg(i.reg, size);
        const a = c.ea(i);
        writeMem(c, size, a, c.eaHi, v, c.hi);
      }
    : size === 8
      ? (c: Cpu, i: Insn): void => {
          c.r[2 * i.rm] = c.r[2 * i.reg]!;
          c.r[2 * i.rm + 1] = c.r[2 * i.reg + 1]!;
        }
      : size === 4
        ? (c: Cpu, i: Insn): void => {
            c.r[2 * i.rm] = c.r[2 * i.reg]!;
            c.r[2 * i.rm + 1] = 0;
          }
        : (c: Cpu, i: Insn): void => {
            const v = c.getReg(i.reg, size);
            c.setReg(i.rm, size, v, c.hi);
          };

const movGE = (size: number, mem: boolean) =>
  mem
    ? size === 8
      ? (c: Cpu, i: Insn): void => {
          const a = c.ea(i);
          const lo = c.read64(a, c.eaHi);
          c.r[2 * i.reg] = lo;
          c.r[2 * i.reg + 1] = c.hi;
        }
      : (c: Cpu, i: Insn): void => {
          const a = c.ea(i);
          const v = readMem(c, size, a, c.eaHi);
          c.setReg(i.reg, size, v, 0);
        }
    : (c: Cpu, i: Insn): void => {
        const v = c.getReg(i.rm, size);
        c.setReg(i.reg, size, v, c.hi);
      };

const movEI = (size: number) => (c: Cpu, i: Insn): void => writeE(c, i, size, i.immLo, i.immHi);

def({ name: 'mov', map: MAP_1B, op: 0x88, modrm: true, size: 'b', make: movEG });
def({ name: 'mov', map: MAP_1B, op: 0x89, modrm: true, size: 'v', make: movEG });
def({ name: 'mov', map: MAP_1B, op: 0x8a, modrm: true, size: 'b', make: movGE });
def({ name: 'mov', map: MAP_1B, op: 0x8b, modrm: true, size: 'v', make: movGE });
def({ name: 'mov', map: MAP_1B, op: 0xc6, ext: 0, modrm: true, size: 'b', imm: 'ib', make: movEI });
def({ name: 'mov', map: MAP_1B, op: 0xc7, ext: 0, modrm: true, size: 'v', imm: 'iz', make: movEI });
def({
  name: 'mov',
  map: MAP_1B,
  op: 0xb0,
  opReg: true,
  modrm: false,
  size: 'b',
  imm: 'ub',
  exec: (c, i) => c.setReg8(i.reg, i.immLo),
});
def({
  name: 'mov',
  map: MAP_1B,
  op: 0xb8,
  opReg: true,
  modrm: false,
  size: 'v',
  imm: 'iv',
  make: (size) => (c, i) => c.setReg(i.reg, size, i.immLo, i.immHi),
});
// mov al/eAX, [moffs] and back: the address is in disp (no base or index).
def({
  name: 'mov',
  map: MAP_1B,
  op: 0xa0,
  modrm: false,
  size: 'b',
  imm: 'moffs',
  exec: (c, i) => c.setReg8(RAX, c.read8(moffs(c, i), c.eaHi)),
});
def({
  name: 'mov',
  map: MAP_1B,
  op: 0xa1,
  modrm: false,
  size: 'v',
  imm: 'moffs',
  make: (size) => (c, i) => {
    const a = moffs(c, i);
    const v = readMem(c, size, a, c.eaHi);
    c.setReg(RAX, size, v, c.hi);
  },
});
def({
  name: 'mov',
  map: MAP_1B,
  op: 0xa2,
  modrm: false,
  size: 'b',
  imm: 'moffs',
  exec: (c, i) => c.write8(moffs(c, i), c.eaHi, c.r[0]!),
});
def({
  name: 'mov',
  map: MAP_1B,
  op: 0xa3,
  modrm: false,
  size: 'v',
  imm: 'moffs',
  make: (size) => (c, i) => {
    const v = c.getReg(RAX, size), vh = c.hi;
    const a = moffs(c, i);
    writeMem(c, size, a, c.eaHi, v, vh);
  },
});

/** moffs operands decode with no base or index: the address is the displacement (plus FS/GS). */
function moffs(c: Cpu, i: Insn): number {
  return c.ea(i);
}

// ---- movzx / movsx / movsxd

def({
  name: 'movzx',
  map: MAP_0F,
  op: 0xb6,
  modrm: true,
  size: 'v',
  byteRegs: 'rm',
  make: (size) => (c, i) => c.setReg(i.reg, size, readE(c, i, 1), 0),
});
def({
  name: 'movzx',
  map: MAP_0F,
  op: 0xb7,
  modrm: true,
  size: 'v',
  make: (size) => (c, i) => c.setReg(i.reg, size, readE(c, i, 2), 0),
});
def({
  name: 'movsx',
  map: MAP_0F,
  op: 0xbe,
  modrm: true,
  size: 'v',
  byteRegs: 'rm',
  make: (size) => (c, i) => {
    const v = signExtend(c, 1, readE(c, i, 1), 0);
    c.setReg(i.reg, size, v, c.hi);
  },
});
def({
  name: 'movsx',
  map: MAP_0F,
  op: 0xbf,
  modrm: true,
  size: 'v',
  make: (size) => (c, i) => {
    const v = signExtend(c, 2, readE(c, i, 2), 0);
    c.setReg(i.reg, size, v, c.hi);
  },
});
def({
  name: 'movsxd',
  map: MAP_1B,
  op: 0x63,
  modrm: true,
  size: 'v',
  make: (size) => (c, i) => {
    const v = readE(c, i, 4);
    c.setReg(i.reg, size, v, v >> 31);
  },
});

// ---- lea: the address without segment base, truncated to the operand size

def({
  name: 'lea',
  map: MAP_1B,
  op: 0x8d,
  mod: 'mem',
  modrm: true,
  size: 'v',
  make: (size) => (c, i) => {
    const lo = leaAddress(c, i);
    c.setReg(i.reg, size, lo, c.eaHi);
  },
});
def({ name: 'lea', map: MAP_1B, op: 0x8d, mod: 'reg', modrm: true, size: 'v', exec: (c) => { throw c.fault(UD); } });

/** lea computes without the canonical check (it is not a memory access). */
export function leaAddress(c: Cpu, i: Insn): number {
  const r = c.r;
  let lo = i.dispLo, hi = i.dispHi;
  if (i.base >= 0) {
    const s = (lo >>> 0) + (r[2 * i.base]! >>> 0);
    hi = (hi + r[2 * i.base + 1]! + (s > 0xffffffff ? 1 : 0)) | 0;
    lo = s | 0;
  }
  if (i.index >= 0) {
    let xL = r[2 * i.index]!, xH = r[2 * i.index + 1]!;
    const sc = i.scale;
    if (sc) {
      xH = (xH << sc) | (xL >>> (32 - sc));
      xL <<= sc;
    }
    const s = (lo >>> 0) + (xL >>> 0);
    hi = (hi + xH + (s > 0xffffffff ? 1 : 0)) | 0;
    lo = s | 0;
  }
  if (i.addrSize === 4) hi = 0;
  c.eaHi = hi;
  return lo;
}

// ---- cmovcc, setcc

for (let cc = 0; cc < 16; cc++) {
  def({
    name: 'cmovcc',
    map: MAP_0F,
    op: 0x40 + cc,
    modrm: true,
    size: 'v',
    make: (size) => (c, i) => {
      const v = readE(c, i, size), vh = c.hi; // the source is read (and may fault) either way
      if (cond(c, cc)) c.setReg(i.reg, size, v, vh);
      else if (size === 4) c.r[2 * i.reg + 1] = 0; // a 32-bit cmov zero-extends even when false
    },
  });
  def({
    name: 'setcc',
    map: MAP_0F,
    op: 0x90 + cc,
    modrm: true,
    size: 'b',
    exec: (c, i) => writeE(c, i, 1, cond(c, cc) ? 1 : 0, 0),
  });
}

// ---- bswap, movbe

function bswap32(v: number): number {
  return ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
}
def({
  name: 'bswap',
  map: MAP_0F,
  op: 0xc8,
  opReg: true,
  modrm: false,
  size: 'v',
  make: (size) => (c, i) => {
    const r = c.r, n = i.reg;
    if (size === 8) {
      const lo = r[2 * n]!, hi = r[2 * n + 1]!;
      r[2 * n] = bswap32(hi);
      r[2 * n + 1] = bswap32(lo);
    } else if (size === 4) c.setReg32(n, bswap32(r[2 * n]!));
    else c.setReg16(n, 0); // bswap r16 is undefined; hardware gives 0
  },
});
def({
  name: 'movbe',
  map: MAP_0F38,
  op: 0xf0,
  mod: 'mem',
  modrm: true,
  size: 'v',
  make: (size) => (c, i) => {
    const a = c.ea(i);
    const v = readMem(c, size, a, c.eaHi), vh = c.hi;
    if (size === 8) c.setReg(i.reg, 8, bswap32(vh), bswap32(v));
    else if (size === 4) c.setReg(i.reg, 4, bswap32(v), 0);
    else c.setReg(i.reg, 2, ((v & 0xff) << 8) | ((v >>> 8) & 0xff), 0);
  },
});
def({
  name: 'movbe',
  map: MAP_0F38,
  op: 0xf1,
  mod: 'mem',
  modrm: true,
  size: 'v',
  make: (size) => (c, i) => {
    const v = c.getReg(i.reg, size), vh = c.hi;
    const a = c.ea(i);
    if (size === 8) c.write64(a, c.eaHi, bswap32(vh), bswap32(v));
    else if (size === 4) c.write32(a, c.eaHi, bswap32(v));
    else c.write16(a, c.eaHi, ((v & 0xff) << 8) | ((v >>> 8) & 0xff));
  },
});

// ---- sign extension of the accumulator

def({
  name: 'cbw',
  map: MAP_1B,
  op: 0x98,
  modrm: false,
  size: 'v',
  make: (size) => (c) => {
    const r = c.r;
    if (size === 2) c.setReg16(RAX, (r[0]! << 24) >> 24);
    else if (size === 4) c.setReg32(RAX, (r[0]! << 16) >> 16);
    else r[1] = r[0]! >> 31;
  },
});
def({
  name: 'cwd',
  map: MAP_1B,
  op: 0x99,
  modrm: false,
  size: 'v',
  make: (size) => (c) => {
    const r = c.r;
    if (size === 2) c.setReg16(RDX, (r[0]! << 16) >> 31);
    else if (size === 4) c.setReg32(RDX, r[0]! >> 31);
    else {
      const s = r[1]! >> 31;
      r[2 * RDX] = s;
      r[2 * RDX + 1] = s;
    }
  },
});

// ---- lahf / sahf

const SAHF_MASK = SF | ZF | AF | PF | CF;
const AH_REG = 16;
def({ name: 'lahf', map: MAP_1B, op: 0x9f, modrm: false, size: 'b', exec: (c) => c.setReg8(AH_REG, c.getFlags() & 0xff) });
def({ name: 'sahf', map: MAP_1B, op: 0x9e, modrm: false, size: 'b', exec: (c) => {
  const f = c.getFlags();
  c.setArithFlags((f & ~SAHF_MASK) | (c.getReg8(AH_REG) & SAHF_MASK));
} });

// ---- xlat, movnti, nop

def({
  name: 'xlat',
  map: MAP_1B,
  op: 0xd7,
  modrm: false,
  size: 'b',
  exec: (c, i) => {
    const r = c.r;
    let lo = r[2 * RBX]!, hi = r[2 * RBX + 1]!;
    const s = (lo >>> 0) + (r[0]! & 0xff);
    hi = (hi + (s > 0xffffffff ? 1 : 0)) | 0;
    lo = s | 0;
    if (i.addrSize === 4) hi = 0;
    if (i.seg >= SEG_FS) {
      const t = (lo >>> 0) + (c.segBase[2 * i.seg]! >>> 0);
      hi = (hi + c.segBase[2 * i.seg + 1]! + (t > 0xffffffff ? 1 : 0)) | 0;
      lo = t | 0;
    }
    c.checkCanonical(hi);
    c.setReg8(RAX, c.read8(lo, hi));
  },
});
def({
  name: 'movnti',
  map: MAP_0F,
  op: 0xc3,
  mod: 'mem',
  prefix: 0,
  modrm: true,
  size: 'v',
  make: (size) => (c, i) => writeE(c, i, size, c.getReg(i.reg, size), c.hi),
});
def({ name: 'nop', map: MAP_0F, op: 0x1f, modrm: true, size: 'v', exec: () => {} });
// 0F 18-1E: prefetch hints and reserved NOPs (endbr64 is F3 0F 1E FA).
for (let op = 0x18; op <= 0x1e; op++) {
  def({ name: op === 0x18 ? 'prefetch' : 'nop', map: MAP_0F, op, modrm: true, size: 'v', exec: () => {} });
}
def({ name: 'prefetchw', map: MAP_0F, op: 0x0d, mod: 'mem', modrm: true, size: 'v', exec: () => {} });
def({ name: 'prefetchw', map: MAP_0F, op: 0x0d, mod: 'reg', modrm: true, size: 'v', exec: (c) => { throw c.fault(UD); } });

// ---- segment registers: mov Sreg. In 64-bit mode only FS/GS selectors matter for
// addressing; loading them here sets the base to 0 (a flat GDT), as Linux expects
// of a null or flat selector. The layer above intercepts if it needs descriptors.

def({
  name: 'mov',
  map: MAP_1B,
  op: 0x8c,
  modrm: true,
  size: 'v',
  make: (size, mem) => (c, i) => {
    if (i.ext > 5) throw c.fault(UD);
    const v = c.sel[i.ext]! & 0xffff;
    if (mem) writeE(c, i, 2, v, 0);
    else c.setReg(i.rm, size === 2 ? 2 : size, v, 0);
  },
});
def({
  name: 'mov',
  map: MAP_1B,
  op: 0x8e,
  modrm: true,
  size: 'w',
  exec: (c, i) => {
    if (i.ext === 1 || i.ext > 5) throw c.fault(UD);
    const v = readE(c, i, 2);
    loadSegment(c, i.ext, v);
  },
});

/** Load a data segment selector in 64-bit mode. The CPU has no descriptor tables: null and flat selectors only. */
export function loadSegment(c: Cpu, seg: number, v: number): void {
  if (seg === 2 && (v & 3) !== c.cpl && (v & ~3) !== 0) throw c.fault(GP, v & 0xfffc);
  // A null SS is allowed in 64-bit mode only below CPL 3.
  if (seg === 2 && (v & ~3) === 0 && c.cpl === 3) throw c.fault(GP, 0);
  c.sel[seg] = v;
  if (seg === SEG_FS || seg === SEG_GS) {
    c.segBase[2 * seg] = 0;
    c.segBase[2 * seg + 1] = 0;
  }
}

export { bswap32 };
