/**
 * x87 environment and state images: fnstenv/fldenv (28-byte 32-bit format,
 * 14-byte 16-bit format with a 66 prefix), fnsave/frstor (108 / 94 bytes),
 * fxsave/fxrstor (0F AE /0 /1: 512-byte image with XMM0-15 and MXCSR; with
 * REX.W the 64-bit FIP/FDP form).
 *
 * FCS and FDS are stored as 0 (as processors that deprecate them do). The
 * reserved upper halves of the 32-bit environment's words are written as
 * 0xFFFF, as hardware does. FOP is computed lazily from the last non-control
 * instruction: exactly for register forms, by re-reading its bytes for
 * memory forms (falling back to a reconstruction of the ModRM byte from the
 * decoded fields if the code page is gone).
 */
import type { Cpu } from '../cpu.ts';
import type { Insn } from '../insn.ts';
import { def, MAP_0F } from '../table.ts';
import { ACC_EXEC, GP, NM, UD } from '../state.ts';
import type { X87 } from '../x87-state.ts';
import { MXCSR_MASK } from './sse-move.ts';
import { fpuEnter as enter, fpuEnterNoWait as enterNoWait, setCw, x87 } from './x87-common.ts';

const BUF = new Uint8Array(512);
const DV = new DataView(BUF.buffer);

/** The last FOP (11 bits), computing it from the recorded instruction when needed. */
export function currentFop(c: Cpu, f: X87): number {
  const i = f.fopInsn;
  if (i === null) return f.fop;
  let v: number;
  if (i.rm >= 0) v = ((i.opcode & 7) << 8) | 0xc0 | (i.ext << 3) | (i.rm & 7);
  else v = memFop(c, i);
  f.fop = v & 0x7ff;
  f.fopInsn = null;
  return f.fop;
}

function memFop(c: Cpu, i: Insn): number {
  // Re-read the instruction: prefixes, the escape byte, ModRM.
  for (let k = 0; k < i.len - 1; k++) {
    const s = (i.addrLo >>> 0) + k;
    const hi = s > 0xffffffff ? (i.addrHi + 1) | 0 : i.addrHi;
    const off = c.mmu.translate(s | 0, hi, ACC_EXEC, c.cpl === 3);
    if (off < 0) break;
    const b = c.ram[off]!;
    if (b >= 0xd8 && b <= 0xdf) {
      const s2 = s + 1;
      const off2 = c.mmu.translate(s2 | 0, s2 > 0xffffffff ? (i.addrHi + 1) | 0 : i.addrHi, ACC_EXEC, c.cpl === 3);
      if (off2 < 0) break;
      return ((b & 7) << 8) | c.ram[off2]!;
    }
  }
  // Reconstruct the ModRM byte the way an assembler would have encoded the operand.
  let mod: number, rm: number;
  if (i.base < 0 && i.index < 0) {
    mod = 0;
    rm = 5; // RIP-relative (or absolute through SIB; indistinguishable here)
  } else {
    rm = i.index >= 0 || (i.base & 7) === 4 ? 4 : i.base & 7;
    const d = i.dispLo;
    mod = d === 0 && (i.base & 7) !== 5 ? 0 : d >= -128 && d <= 127 ? 1 : 2;
  }
  return ((i.opcode & 7) << 8) | (mod << 6) | (i.ext << 3) | rm;
}

/** Write the environment (28 or 14 bytes) into BUF at 0. */
function storeEnv(c: Cpu, f: X87, small: boolean): number {
  const fop = currentFop(c, f);
  if (small) {
    DV.setUint16(0, f.cw, true);
    DV.setUint16(2, f.getSw(), true);
    DV.setUint16(4, f.tagWord(), true);
    DV.setUint16(6, f.fipLo & 0xffff, true);
    DV.setUint16(8, 0, true);
    DV.setUint16(10, f.fdpLo & 0xffff, true);
    DV.setUint16(12, 0, true);
    return 14;
  }
  DV.setUint32(0, (f.cw | 0xffff0000) >>> 0, true);
  DV.setUint32(4, (f.getSw() | 0xffff0000) >>> 0, true);
  DV.setUint32(8, (f.tagWord() | 0xffff0000) >>> 0, true);
  DV.setInt32(12, f.fipLo, true);
  DV.setUint32(16, (fop << 16) >>> 0, true);
  DV.setInt32(20, f.fdpLo, true);
  DV.setUint32(24, 0xffff0000, true);
  return 28;
}

/** Load an environment from BUF at 0. */
function loadEnv(f: X87, small: boolean): void {
  const sw = DV.getUint16(small ? 2 : 4, true);
  const tag = DV.getUint16(small ? 4 : 8, true);
  f.setSw(sw);
  f.setTagWord(tag);
  if (small) {
    f.fipLo = DV.getUint16(6, true);
    f.fdpLo = DV.getUint16(10, true);
    f.fop = 0;
  } else {
    f.fipLo = DV.getInt32(12, true);
    f.fop = DV.getUint16(18, true) & 0x7ff;
    f.fdpLo = DV.getInt32(20, true);
  }
  f.fipHi = 0;
  f.fdpHi = 0;
  f.fopInsn = null;
  setCw(f, DV.getUint16(0, true)); // also recomputes ES/B from the loaded flags
}

x87('fnstenv', 0xd9, 6, 'mem', (c, i) => {
  const f = enterNoWait(c);
  const a = c.ea(i), ah = c.eaHi;
  const n = storeEnv(c, f, i.opSize === 2);
  c.writeBytes(a, ah, BUF, n);
  setCw(f, f.cw | 0x3f); // all exceptions masked afterwards (so ES/B clear)
});

x87('fldenv', 0xd9, 4, 'mem', (c, i) => {
  const f = enter(c);
  const a = c.ea(i), ah = c.eaHi;
  const small = i.opSize === 2;
  c.readBytes(a, ah, BUF, small ? 14 : 28);
  loadEnv(f, small);
});

x87('fnsave', 0xdd, 6, 'mem', (c, i) => {
  const f = enterNoWait(c);
  const a = c.ea(i), ah = c.eaHi;
  const small = i.opSize === 2;
  const n = storeEnv(c, f, small);
  for (let k = 0; k < 8; k++) {
    const p = (f.top + k) & 7;
    const o = n + 10 * k;
    DV.setInt32(o, f.lo[p]!, true);
    DV.setInt32(o + 4, f.hi[p]!, true);
    DV.setUint16(o + 8, f.se[p]! & 0xffff, true);
  }
  c.writeBytes(a, ah, BUF, n + 80);
  f.init();
});

x87('frstor', 0xdd, 4, 'mem', (c, i) => {
  const f = enter(c);
  const a = c.ea(i), ah = c.eaHi;
  const small = i.opSize === 2;
  const n = small ? 14 : 28;
  c.readBytes(a, ah, BUF, n + 80);
  loadEnv(f, small);
  for (let k = 0; k < 8; k++) {
    const p = (f.top + k) & 7;
    const o = n + 10 * k;
    f.lo[p] = DV.getInt32(o, true);
    f.hi[p] = DV.getInt32(o + 4, true);
    f.se[p] = DV.getUint16(o + 8, true);
  }
});

/**
 * Write the 416 architectural bytes of an FXSAVE image (x87 state, MXCSR,
 * XMM0-15; bytes 416-511 are not touched) into `out` at `off`. `rexW`: the
 * 64-bit FIP/FDP form (FXSAVE64); otherwise 32-bit offsets with FCS/FDS 0.
 * Exported for code that saves a vCPU's context (the same image FXSAVE writes).
 */
export function fxsaveImage(c: Cpu, out: Uint8Array, off: number, rexW: boolean): void {
  fxsaveTo(c, out === BUF && off === 0 ? DV : new DataView(out.buffer, out.byteOffset + off, 416), rexW);
}

function fxsaveTo(c: Cpu, dv: DataView, rexW: boolean): void {
  const f = c.fpu;
  for (let k = 0; k < 32; k += 4) dv.setUint32(k, 0);
  dv.setUint16(0, f.cw, true);
  dv.setUint16(2, f.getSw(), true);
  dv.setUint8(4, f.valid);
  dv.setUint16(6, currentFop(c, f), true);
  dv.setInt32(8, f.fipLo, true);
  dv.setInt32(16, f.fdpLo, true);
  if (rexW) {
    dv.setInt32(12, f.fipHi, true);
    dv.setInt32(20, f.fdpHi, true);
  }
  dv.setUint32(24, c.mxcsr >>> 0, true);
  dv.setUint32(28, MXCSR_MASK, true);
  for (let k = 0; k < 8; k++) {
    const p = (f.top + k) & 7;
    const o = 32 + 16 * k;
    dv.setInt32(o, f.lo[p]!, true);
    dv.setInt32(o + 4, f.hi[p]!, true);
    dv.setUint32(o + 8, f.se[p]! & 0xffff, true);
    dv.setUint32(o + 12, 0, true);
  }
  for (let k = 0; k < 64; k++) dv.setInt32(160 + 4 * k, c.xmm[k]!, true);
}

/**
 * Load an FXSAVE image from `img` at `off` as FXRSTOR does (FCW reserved bits
 * normalised, ES/B recomputed from the flags and masks, the abridged tag word,
 * MXCSR and XMM0-15). Returns false, changing nothing, when the MXCSR has
 * reserved bits set (FXRSTOR's #GP). Exported for code that loads a vCPU's context.
 */
export function fxrstorImage(c: Cpu, img: Uint8Array, off: number, rexW: boolean): boolean {
  return fxrstorFrom(c, img === BUF && off === 0 ? DV : new DataView(img.buffer, img.byteOffset + off, 416), rexW);
}

function fxrstorFrom(c: Cpu, dv: DataView, rexW: boolean): boolean {
  const mx = dv.getUint32(24, true);
  if (mx & ~MXCSR_MASK) return false;
  const f = c.fpu;
  f.setSw(dv.getUint16(2, true));
  f.valid = dv.getUint8(4);
  f.fop = dv.getUint16(6, true) & 0x7ff;
  f.fopInsn = null;
  f.fipLo = dv.getInt32(8, true);
  f.fdpLo = dv.getInt32(16, true);
  f.fipHi = rexW ? dv.getInt32(12, true) : 0;
  f.fdpHi = rexW ? dv.getInt32(20, true) : 0;
  for (let k = 0; k < 8; k++) {
    const p = (f.top + k) & 7;
    const o = 32 + 16 * k;
    f.lo[p] = dv.getInt32(o, true);
    f.hi[p] = dv.getInt32(o + 4, true);
    f.se[p] = dv.getUint16(o + 8, true);
  }
  setCw(f, dv.getUint16(0, true));
  c.mxcsr = mx;
  for (let k = 0; k < 64; k++) c.xmm[k] = dv.getInt32(160 + 4 * k, true);
  return true;
}

def({
  name: 'fxsave', map: MAP_0F, op: 0xae, ext: 0, mod: 'mem', modrm: true, size: 'n',
  exec: (c, i) => {
    if (c.cr0 & 8) throw c.fault(NM);
    if (c.cr0 & 4) throw c.fault(UD);
    const a = c.ea(i), ah = c.eaHi;
    if (a & 15) throw c.fault(GP, 0);
    c.checkWritable(a, ah, 512);
    fxsaveImage(c, BUF, 0, i.opSize === 8);
    c.writeBytes(a, ah, BUF, 416);
  },
});

def({
  name: 'fxrstor', map: MAP_0F, op: 0xae, ext: 1, mod: 'mem', modrm: true, size: 'n',
  exec: (c, i) => {
    if (c.cr0 & 8) throw c.fault(NM);
    if (c.cr0 & 4) throw c.fault(UD);
    const a = c.ea(i), ah = c.eaHi;
    if (a & 15) throw c.fault(GP, 0);
    c.readBytes(a, ah, BUF, 416);
    if (!fxrstorImage(c, BUF, 0, i.opSize === 8)) throw c.fault(GP, 0);
  },
});
