/**
 * String instructions: movs, stos, lods, cmps, scas, with rep/repe/repne,
 * the direction flag and 32-bit address size (67 prefix). A repeated
 * instruction runs in chunks: after a chunk with count left, RIP stays on the
 * instruction so the run loop can check its budget and events, as an
 * interrupt would. ins/outs are I/O: #GP at CPL > 0 (the layer above emulates).
 */
import type { Cpu } from '../cpu.ts';
import type { Insn } from '../insn.ts';
import { def, MAP_1B } from '../table.ts';
import { GP, RAX, RCX, RDI, RSI, SEG_FS } from '../state.ts';
import { alu, CMP } from './alu.ts';
import { readMem, writeMem } from './operand.ts';

/** Elements per chunk before yielding to the run loop. */
const CHUNK = 1 << 16;

let addrHi = 0;

/** Linear address for RSI (with a FS/GS override) or RDI: returns lo, hi in addrHi. */
function strAddr(c: Cpu, i: Insn, reg: number, useSeg: boolean): number {
  let lo = c.r[2 * reg]!;
  let hi = i.addrSize === 4 ? 0 : c.r[2 * reg + 1]!;
  if (useSeg && i.seg >= SEG_FS) {
    const s = (lo >>> 0) + (c.segBase[2 * i.seg]! >>> 0);
    hi = (hi + c.segBase[2 * i.seg + 1]! + (s > 0xffffffff ? 1 : 0)) | 0;
    lo = s | 0;
  }
  if ((hi << 16) >> 16 !== hi) throw c.fault(GP, 0);
  addrHi = hi;
  return lo;
}

/** reg += delta (respecting the address size). */
function advance(c: Cpu, i: Insn, reg: number, delta: number): void {
  const r = c.r;
  if (i.addrSize === 4) {
    r[2 * reg] = (r[2 * reg]! + delta) | 0;
    r[2 * reg + 1] = 0;
    return;
  }
  const s = (r[2 * reg]! >>> 0) + delta;
  r[2 * reg] = s | 0;
  if (s > 0xffffffff) r[2 * reg + 1] = (r[2 * reg + 1]! + 1) | 0;
  else if (s < 0) r[2 * reg + 1] = (r[2 * reg + 1]! - 1) | 0;
}

/** RCX (or ECX) as a JS number (exact up to 2^53). */
function count(c: Cpu, i: Insn): number {
  const r = c.r;
  return i.addrSize === 4 ? r[2 * RCX]! >>> 0 : (r[2 * RCX + 1]! >>> 0) * 4294967296 + (r[2 * RCX]! >>> 0);
}
/** RCX -= k, exactly (count() may round counts above 2^53; the register never does). */
function decCount(c: Cpu, i: Insn, k: number): void {
  const r = c.r;
  if (i.addrSize === 4) {
    c.setReg32(RCX, (r[2 * RCX]! - k) | 0);
    return;
  }
  const d = (r[2 * RCX]! >>> 0) - k;
  r[2 * RCX] = d | 0;
  if (d < 0) r[2 * RCX + 1] = (r[2 * RCX + 1]! - Math.ceil(-d / 4294967296)) | 0;
}

function done(c: Cpu, i: Insn): void {
  c.r[32] = i.nextLo;
  c.r[33] = i.nextHi;
}
function again(c: Cpu, i: Insn): void {
  c.r[32] = i.addrLo;
  c.r[33] = i.addrHi;
}

// ---- movs

function movsOne(c: Cpu, i: Insn, size: number): void {
  const s = strAddr(c, i, RSI, true), sh = addrHi;
  const v = readMem(c, size, s, sh), vh = c.hi;
  const d = strAddr(c, i, RDI, false), dh = addrHi;
  writeMem(c, size, d, dh, v, vh);
  const step = size * c.dir;
  advance(c, i, RSI, step);
  advance(c, i, RDI, step);
}

const movs = (size: number) => (c: Cpu, i: Insn): void => {
  if (i.rep === 0) {
    movsOne(c, i, size);
    done(c, i);
    return;
  }
  let n = count(c, i);
  let budget = CHUNK;
  while (n > 0 && budget > 0) {
    // Bulk path: forward copy within one page of each side, no overlap hazards.
    if (c.dir > 0 && n > 1) {
      const s = strAddr(c, i, RSI, true), sh = addrHi;
      const d = strAddr(c, i, RDI, false), dh = addrHi;
      const room = Math.min(0x1000 - (s & 0xfff), 0x1000 - (d & 0xfff));
      let k = Math.min(n, Math.floor(room / size), budget);
      if (k > 1) {
        const so = c.xlateRead(s, sh);
        const dof = c.xlateWrite(d, dh);
        const bytes = k * size;
        if (dof > so && dof < so + bytes) k = 0; // overlapping forward copy: element by element
        else {
          c.ram.copyWithin(dof, so, so + bytes);
          advance(c, i, RSI, bytes);
          advance(c, i, RDI, bytes);
          n -= k;
          budget -= k;
          decCount(c, i, k);
          continue;
        }
      }
    }
    movsOne(c, i, size);
    n--;
    budget--;
    decCount(c, i, 1);
  }
  if (n > 0) again(c, i);
  else done(c, i);
};

// ---- stos

function stosOne(c: Cpu, i: Insn, size: number): void {
  const d = strAddr(c, i, RDI, false), dh = addrHi;
  writeMem(c, size, d, dh, c.r[0]!, c.r[1]!);
  advance(c, i, RDI, size * c.dir);
}

const stos = (size: number) => (c: Cpu, i: Insn): void => {
  if (i.rep === 0) {
    stosOne(c, i, size);
    done(c, i);
    return;
  }
  let n = count(c, i);
  let budget = CHUNK;
  while (n > 0 && budget > 0) {
    if (c.dir > 0 && n > 1) {
      const d = strAddr(c, i, RDI, false), dh = addrHi;
      const k = Math.min(n, Math.floor((0x1000 - (d & 0xfff)) / size), budget);
      if (k > 1) {
        const dof = c.xlateWrite(d, dh);
        const lo = c.r[0]!, hi = c.r[1]!, dv = c.dv;
        if (size === 1) c.ram.fill(lo & 0xff, dof, dof + k);
        else if (size === 2) for (let j = 0; j < k; j++) dv.setUint16(dof + 2 * j, lo, true);
        else if (size === 4) for (let j = 0; j < k; j++) dv.setInt32(dof + 4 * j, lo, true);
        else for (let j = 0; j < k; j++) { dv.setInt32(dof + 8 * j, lo, true); dv.setInt32(dof + 8 * j + 4, hi, true); }
        advance(c, i, RDI, k * size);
        n -= k;
        budget -= k;
        decCount(c, i, k);
        continue;
      }
    }
    stosOne(c, i, size);
    n--;
    budget--;
    decCount(c, i, 1);
  }
  if (n > 0) again(c, i);
  else done(c, i);
};

// ---- lods

const lods = (size: number) => (c: Cpu, i: Insn): void => {
  let n = i.rep === 0 ? 1 : count(c, i);
  let budget = CHUNK;
  while (n > 0 && budget > 0) {
    const s = strAddr(c, i, RSI, true), sh = addrHi;
    const v = readMem(c, size, s, sh);
    c.setReg(RAX, size, v, c.hi);
    advance(c, i, RSI, size * c.dir);
    n--;
    budget--;
    if (i.rep !== 0) decCount(c, i, 1);
  }
  if (n > 0) again(c, i);
  else done(c, i);
};

// ---- cmps / scas (repe: stop when not equal; repne: stop when equal)

const cmps = (size: number) => (c: Cpu, i: Insn): void => {
  let n = i.rep === 0 ? 1 : count(c, i);
  let budget = CHUNK;
  while (n > 0 && budget > 0) {
    const s = strAddr(c, i, RSI, true), sh = addrHi;
    const a = readMem(c, size, s, sh), ah = c.hi;
    const d = strAddr(c, i, RDI, false), dh = addrHi;
    const b = readMem(c, size, d, dh), bh = c.hi;
    alu(c, CMP, size, a, ah, b, bh);
    const step = size * c.dir;
    advance(c, i, RSI, step);
    advance(c, i, RDI, step);
    n--;
    budget--;
    if (i.rep === 0) break;
    decCount(c, i, 1);
    const equal = size === 8 ? a === b && ah === bh : a === b;
    if (i.rep === 1 ? !equal : equal) {
      n = 0;
      break;
    }
  }
  if (n > 0) again(c, i);
  else done(c, i);
};

const scas = (size: number) => (c: Cpu, i: Insn): void => {
  let n = i.rep === 0 ? 1 : count(c, i);
  let budget = CHUNK;
  const acc = c.getReg(RAX, size), acch = c.hi;
  while (n > 0 && budget > 0) {
    const d = strAddr(c, i, RDI, false), dh = addrHi;
    const b = readMem(c, size, d, dh), bh = c.hi;
    alu(c, CMP, size, acc, acch, b, bh);
    advance(c, i, RDI, size * c.dir);
    n--;
    budget--;
    if (i.rep === 0) break;
    decCount(c, i, 1);
    const equal = size === 8 ? acc === b && acch === bh : acc === b;
    if (i.rep === 1 ? !equal : equal) {
      n = 0;
      break;
    }
  }
  if (n > 0) again(c, i);
  else done(c, i);
};

for (const [op, size, make, name] of [
  [0xa4, 'b', movs, 'movs'], [0xa5, 'v', movs, 'movs'],
  [0xa6, 'b', cmps, 'cmps'], [0xa7, 'v', cmps, 'cmps'],
  [0xaa, 'b', stos, 'stos'], [0xab, 'v', stos, 'stos'],
  [0xac, 'b', lods, 'lods'], [0xad, 'v', lods, 'lods'],
  [0xae, 'b', scas, 'scas'], [0xaf, 'v', scas, 'scas'],
] as const) {
  def({ name, map: MAP_1B, op, modrm: false, size, control: true, make: (s) => make(s) });
}

// ins/outs: port I/O is privileged here (the CPU has no I/O bitmap).
for (const op of [0x6c, 0x6d, 0x6e, 0x6f]) {
  def({ name: op < 0x6e ? 'ins' : 'outs', map: MAP_1B, op, modrm: false, size: op & 1 ? 'v' : 'b', control: true, exec: (c) => { throw c.fault(GP, 0); } });
}
