/**
 * x86-64 instruction decoder, driven by the opcode table (table.ts): legacy
 * prefixes, REX, the opcode maps, ModRM/SIB/displacement (RIP-relative
 * resolved to an absolute address), immediates. Decodes basic blocks that
 * never cross a 4 KiB page (an instruction straddling a page gets a block of
 * its own that is not cached).
 */
import type { Cpu } from './cpu.ts';
import { CPU_FAULT, MAX_BLOCK_INSNS, SEG_FS, SEG_GS } from './state.ts';
import { Insn, type Block, type Handler } from './insn.ts';
import { MAP_0F, MAP_0F38, MAP_0F3A, MAP_1B, OPS, type OpSpec } from './table.ts';
import { AH8, GP, UD } from './state.ts';
import './ops/index.ts';

/** Lookup: map × 256 opcode bytes → candidate specs. */
let slots: Array<Array<OpSpec[] | undefined>> | undefined;
const handlerCache = new Map<OpSpec, Map<number, Handler>>();

function buildSlots(): Array<Array<OpSpec[] | undefined>> {
  const s: Array<Array<OpSpec[] | undefined>> = [[], [], [], []];
  for (const spec of OPS) {
    const ops = spec.opReg ? [0, 1, 2, 3, 4, 5, 6, 7].map((k) => spec.op + k) : [spec.op];
    for (const op of ops) {
      const list = (s[spec.map]![op] ??= []);
      if (list.length && list[0]!.modrm !== spec.modrm) {
        throw new Error(`opcode table: ${spec.name} and ${list[0]!.name} disagree on ModRM at map ${spec.map} op ${op.toString(16)}`);
      }
      list.push(spec);
    }
  }
  // Most specific first: constraints on prefix, ext, mod, rm field and REX.W each count.
  const score = (x: OpSpec): number =>
    (x.prefix !== undefined ? 8 : 0) + (x.ext !== undefined ? 4 : 0) + (x.rmField !== undefined ? 2 : 0) + (x.mod ? 1 : 0) + (x.rexW !== undefined ? 1 : 0);
  for (const map of s) for (const list of map) list?.sort((a, b) => score(b) - score(a));
  return s;
}

/** The table, as the decoder sees it (for coverage reports). */
export function opcodeSlots(): Array<Array<OpSpec[] | undefined>> {
  return (slots ??= buildSlots());
}

function handlerFor(spec: OpSpec, opSize: number, mem: boolean): Handler {
  if (spec.exec) return spec.exec;
  let m = handlerCache.get(spec);
  if (!m) handlerCache.set(spec, (m = new Map()));
  const key = opSize * 2 + (mem ? 1 : 0);
  let h = m.get(key);
  if (!h) m.set(key, (h = spec.make!(opSize, mem)));
  return h;
}

const raiseUD: Handler = (c) => {
  throw c.fault(UD);
};

/** Byte source for the decoder: the block's page in RAM, then (only if needed) the next page through the MMU. */
class Fetcher {
  cpu!: Cpu;
  /** RAM offset of the block's first byte, or -1 to fetch everything through the TLB. */
  ram0 = -1;
  startLo = 0;
  startHi = 0;
  /** Bytes available from RAM without crossing the page. */
  avail = 0;
  /** Offset (from the block start) of the next byte. */
  pos = 0;
  /** Set when an instruction needed bytes from the next page. */
  crossed = false;
  /** RAM page of the next linear page, once an instruction reached into it. */
  page2 = -1;

  byte(): number {
    const p = this.pos++;
    if (p < this.avail) return this.cpu.ram[this.ram0 + p]!;
    this.crossed = true;
    const s = (this.startLo >>> 0) + p;
    const hi = s > 0xffffffff ? (this.startHi + 1) | 0 : this.startHi;
    const off = this.cpu.fetchOffset(s | 0, hi);
    if (this.page2 < 0) this.page2 = off >>> 12;
    return this.cpu.ram[off]!;
  }
  i8(): number {
    return (this.byte() << 24) >> 24;
  }
  u16(): number {
    const a = this.byte();
    return a | (this.byte() << 8);
  }
  i32(): number {
    const a = this.byte(), b = this.byte(), c = this.byte();
    return a | (b << 8) | (c << 16) | (this.byte() << 24);
  }
}

const f = new Fetcher();

/** Add a small signed offset to a 64-bit (lo, hi) address: returns lo; high half in addHi. */
let addHi = 0;
function add64(lo: number, hi: number, d: number, dHi: number): number {
  const s = (lo >>> 0) + (d >>> 0);
  addHi = (hi + dHi + (s > 0xffffffff ? 1 : 0)) | 0;
  return s | 0;
}

/**
 * Decode one instruction at the fetcher's position into `i`. Returns false
 * when the bytes do not form a valid instruction (the insn then raises #UD).
 */
function decodeOne(c: Cpu, i: Insn): void {
  const start = f.pos;
  let opSize16 = false, addr32 = false, rep = 0, lock = false, seg = -1, sse = 0;
  let rex = 0;
  let b = f.byte();
  // Legacy prefixes (any order); a REX only counts when it is the last prefix.
  for (;;) {
    if (b === 0x66) { opSize16 = true; if (sse === 0) sse = 0x66; }
    else if (b === 0x67) addr32 = true;
    else if (b === 0xf0) lock = true;
    else if (b === 0xf3) { rep = 1; sse = 0xf3; }
    else if (b === 0xf2) { rep = 2; sse = 0xf2; }
    else if (b === 0x64) seg = SEG_FS;
    else if (b === 0x65) seg = SEG_GS;
    else if (b === 0x26 || b === 0x2e || b === 0x36 || b === 0x3e) { /* null segments in 64-bit mode */ }
    else if ((b & 0xf0) === 0x40) { rex = b; b = f.byte(); if ((b & 0xf0) === 0x40 || isLegacyPrefix(b)) { rex = 0; continue; } break; }
    else break;
    rex = 0;
    b = f.byte();
    if (f.pos - start > 14) break;
  }
  if (sse === 0x66 && rep) sse = rep === 1 ? 0xf3 : 0xf2;
  let map = MAP_1B;
  if (b === 0x0f) {
    b = f.byte();
    map = MAP_0F;
    if (b === 0x38) { map = MAP_0F38; b = f.byte(); }
    else if (b === 0x3a) { map = MAP_0F3A; b = f.byte(); }
  }
  i.opcode = b;
  const rexW = (rex & 8) !== 0;
  const list = (slots ??= buildSlots())[map]![b];
  const ud = (): void => {
    i.exec = raiseUD;
    i.name = '(bad)';
  };
  if (!list) {
    ud();
    finishLength(i, start);
    return;
  }
  const hasModrm = list[0]!.modrm;
  let modrm = 0, mod = 0, regField = 0, rmField = 0;
  if (hasModrm) {
    modrm = f.byte();
    mod = modrm >>> 6;
    regField = (modrm >>> 3) & 7;
    rmField = modrm & 7;
  }
  let spec: OpSpec | undefined;
  for (const s of list) {
    if (s.prefix !== undefined && s.prefix !== sse) continue;
    if (s.ext !== undefined && s.ext !== regField) continue;
    if (s.mod === 'reg' && mod !== 3) continue;
    if (s.mod === 'mem' && mod === 3) continue;
    if (s.rmField !== undefined && (mod !== 3 || s.rmField !== rmField)) continue;
    if (s.rexW !== undefined && s.rexW !== rexW) continue;
    spec = s;
    break;
  }
  // ModRM memory operand.
  i.base = -1;
  i.index = -1;
  i.scale = 0;
  i.dispLo = 0;
  i.dispHi = 0;
  i.rm = -1;
  let ripRel = false;
  if (hasModrm) {
    if (mod === 3) {
      i.rm = rmField | ((rex & 1) << 3);
    } else {
      let baseReg = rmField;
      if (rmField === 4) {
        const sib = f.byte();
        const idx = ((sib >>> 3) & 7) | ((rex & 2) << 2);
        baseReg = sib & 7;
        if (idx !== 4) {
          i.index = idx;
          i.scale = sib >>> 6;
        }
        if (baseReg === 5 && mod === 0) {
          i.base = -1;
          const d = f.i32();
          i.dispLo = d;
          i.dispHi = d >> 31;
        } else {
          i.base = baseReg | ((rex & 1) << 3);
        }
      } else if (rmField === 5 && mod === 0) {
        ripRel = true;
        const d = f.i32();
        i.dispLo = d;
        i.dispHi = d >> 31;
      } else {
        i.base = baseReg | ((rex & 1) << 3);
      }
      if (mod === 1) {
        const d = f.i8();
        i.dispLo = d;
        i.dispHi = d >> 31;
      } else if (mod === 2) {
        const d = f.i32();
        i.dispLo = d;
        i.dispHi = d >> 31;
      }
    }
  }
  if (!spec) {
    ud();
    finishLength(i, start);
    return;
  }
  // Operand size.
  let opSize: number;
  switch (spec.size) {
    case 'b': opSize = 1; break;
    case 'v': opSize = rexW ? 8 : opSize16 ? 2 : 4; break;
    case 'd64': opSize = opSize16 && !rexW ? 2 : 8; break;
    case 'f64': opSize = 8; break;
    case 'w': opSize = 2; break;
    case 'd': opSize = 4; break;
    case 'q': opSize = 8; break;
    default: opSize = rexW ? 8 : opSize16 ? 2 : 4; break;
  }
  i.opSize = opSize;
  i.addrSize = addr32 ? 4 : 8;
  i.ext = regField;
  i.seg = seg;
  i.rep = rep;
  i.lock = lock;
  i.prefix = sse;
  i.rex = rex !== 0;
  // Register operands, with the AH..BH rule for 8-bit registers without REX.
  i.reg = spec.opReg ? (b & 7) | ((rex & 1) << 3) : regField | ((rex & 4) << 1);
  const byteRegs = spec.byteRegs ?? (spec.size === 'b' ? 'both' : 'none');
  if (rex === 0) {
    if ((byteRegs === 'reg' || byteRegs === 'both') && i.reg >= 4 && i.reg < 8) i.reg = AH8 + i.reg - 4;
    if ((byteRegs === 'rm' || byteRegs === 'both') && i.rm >= 4 && i.rm < 8) i.rm = AH8 + i.rm - 4;
  }
  // Immediates.
  i.immLo = 0;
  i.immHi = 0;
  i.imm2 = 0;
  let rel = false;
  switch (spec.imm) {
    case undefined: break;
    case 'ib': { const v = f.i8(); i.immLo = v; i.immHi = v >> 31; break; }
    case 'ub': i.immLo = f.byte(); break;
    case 'iw': i.immLo = f.u16(); break;
    case 'iz': {
      if (opSize === 2) i.immLo = f.u16();
      else { const v = f.i32(); i.immLo = v; i.immHi = v >> 31; }
      break;
    }
    case 'iv': {
      if (opSize === 2) i.immLo = f.u16();
      else if (opSize === 4) i.immLo = f.i32();
      else { i.immLo = f.i32(); i.immHi = f.i32(); }
      break;
    }
    case 'rel8': { const v = f.i8(); i.immLo = v; i.immHi = v >> 31; rel = true; break; }
    case 'relz': { const v = opSize16 ? (f.u16() << 16) >> 16 : f.i32(); i.immLo = v; i.immHi = v >> 31; rel = true; break; }
    case 'moffs': {
      if (addr32) { i.dispLo = f.i32(); i.dispHi = 0; }
      else { i.dispLo = f.i32(); i.dispHi = f.i32(); }
      break;
    }
    case 'iw_ib': i.immLo = f.u16(); i.imm2 = f.byte(); break;
  }
  finishLength(i, start);
  if (i.len > 15) {
    i.exec = (cc) => { throw cc.fault(GP, 0); };
    i.name = '(too long)';
    return;
  }
  // RIP-relative operands and branch targets are relative to the next instruction.
  if (ripRel) {
    i.dispLo = add64(i.nextLo, i.nextHi, i.dispLo, i.dispHi);
    i.dispHi = addHi;
    if (addr32) i.dispHi = 0;
  }
  if (rel) {
    i.immLo = add64(i.nextLo, i.nextHi, i.immLo, i.immHi);
    i.immHi = addHi;
    if (opSize16) { i.immLo &= 0xffff; i.immHi = 0; }
  }
  if (lock && (!spec.lockable || i.rm >= 0)) {
    ud();
    return;
  }
  i.name = spec.name;
  i.exec = handlerFor(spec, opSize, i.rm < 0 && hasModrm);
  control = spec.control === true;
}

function isLegacyPrefix(b: number): boolean {
  return b === 0x66 || b === 0x67 || b === 0xf0 || b === 0xf2 || b === 0xf3 || b === 0x64 || b === 0x65 || b === 0x26 || b === 0x2e || b === 0x36 || b === 0x3e;
}

function finishLength(i: Insn, start: number): void {
  i.len = f.pos - start;
  i.addrLo = add64(f.startLo, f.startHi, start, 0);
  i.addrHi = addHi;
  i.nextLo = add64(i.addrLo, i.addrHi, i.len, 0);
  i.nextHi = addHi;
  control = true; // until decodeOne says otherwise (a #UD insn ends the block)
}

/** Whether the instruction just decoded ends the block. */
let control = false;

/**
 * Decode a block at linear (lo, hi) whose first byte is at RAM offset
 * `ramOff` (-1: fetch through the TLB). At most `max` instructions.
 * Throws CPU_FAULT only if the first instruction cannot be fetched.
 */
export function decodeBlock(c: Cpu, lo: number, hi: number, ramOff: number, max = MAX_BLOCK_INSNS): Block {
  f.cpu = c;
  f.ram0 = ramOff;
  f.startLo = lo;
  f.startHi = hi;
  f.avail = ramOff < 0 ? 0 : 0x1000 - (lo & 0xfff);
  f.pos = 0;
  f.crossed = false;
  f.page2 = -1;
  const insns: Insn[] = [];
  let endsWithControl = false;
  let cacheable = ramOff >= 0;
  while (insns.length < max) {
    const i = new Insn();
    const before = f.pos;
    try {
      decodeOne(c, i);
    } catch (e) {
      if (e !== CPU_FAULT || insns.length === 0) throw e;
      // A later instruction cannot be fetched yet: end the block before it.
      f.pos = before;
      break;
    }
    if (f.crossed) {
      // An instruction straddling the page end runs in a block of its own, cached
      // under both pages (block() checks the second page's mapping on every hit).
      if (insns.length > 0) {
        f.pos = before;
        f.crossed = false;
        f.page2 = -1;
        break;
      }
      insns.push(i);
      endsWithControl = control;
      break;
    }
    insns.push(i);
    if (control) {
      endsWithControl = true;
      break;
    }
    if (f.pos >= f.avail) break;
  }
  const last = insns[insns.length - 1]!;
  return {
    insns,
    ripLo: lo,
    ripHi: hi,
    endLo: last.nextLo,
    endHi: last.nextHi,
    ramStart: ramOff,
    cpl: c.cpl,
    endsWithControl,
    cacheable,
    page2: f.crossed ? f.page2 : -1,
    hits: 0,
    fn: null,
    valid: true,
    next1: null,
    gen1: -1,
    next2: null,
    gen2: -1,
  };
}

/** Decode a single instruction at (lo, hi) without executing it (tests, traces, the layer above's emulation). */
export function decodeAt(c: Cpu, lo: number, hi: number): Insn {
  return decodeBlock(c, lo, hi, -1, 1).insns[0]!;
}
