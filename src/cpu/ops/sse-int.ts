/**
 * Packed integer instructions on XMM registers (SSE2, 66-prefixed 0F
 * opcodes) and on MMX registers (the same opcodes without a prefix): add/sub
 * with wrap and saturation, multiplies, pmaddwd, psadbw, averages, min/max,
 * compares, logic, shifts (by register/memory and by imm8; byte shifts are
 * XMM only), packs, unpacks, shuffles, pinsrw/pextrw, pmovmskb, maskmovdqu.
 * The element operations are written once for n = 16 (XMM) or 8 (MMX)
 * bytes; the MMX-only moves, pshufw, pinsrw/pextrw/pmovmskb on mm,
 * maskmovq and the conversions are in mmx.ts.
 *
 * Operands: SRC holds the source (xmm/m128, 16-byte aligned in memory; or
 * mm/m64, unaligned), DST a copy of the destination register; the result
 * goes back to the register after every memory access has succeeded.
 */
import type { Cpu } from '../cpu.ts';
import type { Handler, Insn } from '../insn.ts';
import { MAP_0F } from '../table.ts';
import { RDI } from '../state.ts';
import { DST, loadD, loadS128, RES, sdef, sseCheck, SRC, storeX } from './sse-core.ts';
import { loadM32, loadM64, mdef, mmxCheck, mmxSet } from './mmx-core.ts';

const S = SRC, D = DST, R = RES;
const S32 = S.i32, D32 = D.i32, R32 = R.i32;

/** An element operation on the first n bytes of DST and SRC (n = 16: XMM, 8: MMX). */
type Elem = (n: number) => void;

/** A binary op computing DST op= SRC in place. */
const bin = (fn: Elem): Handler => (c, i) => {
  sseCheck(c);
  loadS128(c, i, true);
  loadD(c, i.reg);
  fn(16);
  storeX(c, i.reg, D32);
};
/** A binary op writing its result to RES. */
const binR = (fn: Elem): Handler => (c, i) => {
  sseCheck(c);
  loadS128(c, i, true);
  loadD(c, i.reg);
  fn(16);
  storeX(c, i.reg, R32);
};
/** The MMX form: mm ← mm op mm/m64 (m32 for the punpckl* forms), result in DST or RES. */
const mbin = (fn: Elem, out: Int32Array, low32: boolean): Handler => (c, i) => {
  const f = mmxCheck(c);
  if (low32) loadM32(c, i);
  else loadM64(c, i);
  const d = i.reg & 7;
  D32[0] = f.lo[d]!;
  D32[1] = f.hi[d]!;
  fn(8);
  mmxSet(f, d, out[0]!, out[1]!);
};

function reg66(name: string, op: number, exec: Handler, imm?: 'ub'): void {
  sdef({ name, map: MAP_0F, op, prefix: 0x66, modrm: true, size: 'n', exec, ...(imm ? { imm } : {}) });
}
function regMmx(name: string, op: number, exec: Handler): void {
  mdef({ name, map: MAP_0F, op, prefix: 0, modrm: true, size: 'n', exec });
}
/** Both forms of an element operation: 66 0F op (xmm, xmm/m128) and 0F op (mm, mm/m64). */
function both(name: string, op: number, fn: Elem, toRes = false, mmxLow32 = false): void {
  reg66(name, op, toRes ? binR(fn) : bin(fn));
  regMmx(name, op, mbin(fn, toRes ? R32 : D32, mmxLow32));
}

// ---------------------------------------------------------------- add / sub

both('paddb', 0xfc, (n) => { for (let k = 0; k < n; k++) D.u8[k] = D.u8[k]! + S.u8[k]!; });
both('paddw', 0xfd, (n) => { for (let k = 0; k < n >> 1; k++) D.u16[k] = D.u16[k]! + S.u16[k]!; });
both('paddd', 0xfe, (n) => { for (let k = 0; k < n >> 2; k++) D32[k] = (D32[k]! + S32[k]!) | 0; });
both('paddq', 0xd4, (n) => {
  for (let k = 0; k < n >> 2; k += 2) {
    const s = (D32[k]! >>> 0) + (S32[k]! >>> 0);
    D32[k] = s | 0;
    D32[k + 1] = (D32[k + 1]! + S32[k + 1]! + (s > 0xffffffff ? 1 : 0)) | 0;
  }
});
both('psubb', 0xf8, (n) => { for (let k = 0; k < n; k++) D.u8[k] = D.u8[k]! - S.u8[k]!; });
both('psubw', 0xf9, (n) => { for (let k = 0; k < n >> 1; k++) D.u16[k] = D.u16[k]! - S.u16[k]!; });
both('psubd', 0xfa, (n) => { for (let k = 0; k < n >> 2; k++) D32[k] = (D32[k]! - S32[k]!) | 0; });
both('psubq', 0xfb, (n) => {
  for (let k = 0; k < n >> 2; k += 2) {
    const a = D32[k]! >>> 0, b = S32[k]! >>> 0;
    D32[k] = (a - b) | 0;
    D32[k + 1] = (D32[k + 1]! - S32[k + 1]! - (a < b ? 1 : 0)) | 0;
  }
});

const sat = (v: number, lo: number, hi: number): number => (v < lo ? lo : v > hi ? hi : v);
both('paddsb', 0xec, (n) => { for (let k = 0; k < n; k++) D.i8[k] = sat(D.i8[k]! + S.i8[k]!, -128, 127); });
both('paddsw', 0xed, (n) => { for (let k = 0; k < n >> 1; k++) D.i16[k] = sat(D.i16[k]! + S.i16[k]!, -32768, 32767); });
both('paddusb', 0xdc, (n) => { for (let k = 0; k < n; k++) D.u8[k] = sat(D.u8[k]! + S.u8[k]!, 0, 255); });
both('paddusw', 0xdd, (n) => { for (let k = 0; k < n >> 1; k++) D.u16[k] = sat(D.u16[k]! + S.u16[k]!, 0, 65535); });
both('psubsb', 0xe8, (n) => { for (let k = 0; k < n; k++) D.i8[k] = sat(D.i8[k]! - S.i8[k]!, -128, 127); });
both('psubsw', 0xe9, (n) => { for (let k = 0; k < n >> 1; k++) D.i16[k] = sat(D.i16[k]! - S.i16[k]!, -32768, 32767); });
both('psubusb', 0xd8, (n) => { for (let k = 0; k < n; k++) D.u8[k] = sat(D.u8[k]! - S.u8[k]!, 0, 255); });
both('psubusw', 0xd9, (n) => { for (let k = 0; k < n >> 1; k++) D.u16[k] = sat(D.u16[k]! - S.u16[k]!, 0, 65535); });

// ---------------------------------------------------------------- multiplies

both('pmullw', 0xd5, (n) => { for (let k = 0; k < n >> 1; k++) D.i16[k] = Math.imul(D.i16[k]!, S.i16[k]!); });
both('pmulhw', 0xe5, (n) => { for (let k = 0; k < n >> 1; k++) D.i16[k] = (D.i16[k]! * S.i16[k]!) >> 16; });
both('pmulhuw', 0xe4, (n) => { for (let k = 0; k < n >> 1; k++) D.u16[k] = (D.u16[k]! * S.u16[k]!) >>> 16; });
both('pmuludq', 0xf4, (n) => {
  for (let k = 0; k < n >> 2; k += 2) {
    const a = D32[k]! >>> 0, b = S32[k]! >>> 0;
    const aL = a & 0xffff, aH = a >>> 16, bL = b & 0xffff, bH = b >>> 16;
    const mid = aL * bH + aH * bL;
    const low = aL * bL + (mid % 65536) * 65536;
    D32[k] = low >>> 0;
    D32[k + 1] = (aH * bH + Math.floor(mid / 65536) + Math.floor(low / 4294967296)) | 0;
  }
});
both('pmaddwd', 0xf5, (n) => {
  for (let k = 0; k < n >> 2; k++) {
    const v = D.i16[2 * k]! * S.i16[2 * k]! + D.i16[2 * k + 1]! * S.i16[2 * k + 1]!;
    D32[k] = v | 0;
  }
});
both('psadbw', 0xf6, (n) => {
  for (let q = 0; q < n >> 3; q++) {
    let s = 0;
    for (let k = 8 * q; k < 8 * q + 8; k++) s += Math.abs(D.u8[k]! - S.u8[k]!);
    D32[2 * q] = s;
    D32[2 * q + 1] = 0;
  }
});

// ---------------------------------------------------------------- average, min, max

both('pavgb', 0xe0, (n) => { for (let k = 0; k < n; k++) D.u8[k] = (D.u8[k]! + S.u8[k]! + 1) >> 1; });
both('pavgw', 0xe3, (n) => { for (let k = 0; k < n >> 1; k++) D.u16[k] = (D.u16[k]! + S.u16[k]! + 1) >> 1; });
both('pminub', 0xda, (n) => { for (let k = 0; k < n; k++) if (S.u8[k]! < D.u8[k]!) D.u8[k] = S.u8[k]!; });
both('pmaxub', 0xde, (n) => { for (let k = 0; k < n; k++) if (S.u8[k]! > D.u8[k]!) D.u8[k] = S.u8[k]!; });
both('pminsw', 0xea, (n) => { for (let k = 0; k < n >> 1; k++) if (S.i16[k]! < D.i16[k]!) D.i16[k] = S.i16[k]!; });
both('pmaxsw', 0xee, (n) => { for (let k = 0; k < n >> 1; k++) if (S.i16[k]! > D.i16[k]!) D.i16[k] = S.i16[k]!; });

// ---------------------------------------------------------------- compares

/** Bytes of x that are zero → 0xFF, others → 0 (SWAR). */
function zeroBytes(x: number): number {
  const t = ~(((x & 0x7f7f7f7f) + 0x7f7f7f7f) | x | 0x7f7f7f7f);
  return ((t >>> 7) * 0xff) | 0;
}
// The XMM pcmpeqb works in place (it is hot in string functions).
reg66('pcmpeqb', 0x74, (c, i) => {
  sseCheck(c);
  loadS128(c, i, true);
  const x = c.xmm, d = i.reg << 2;
  x[d] = zeroBytes(x[d]! ^ S32[0]!);
  x[d + 1] = zeroBytes(x[d + 1]! ^ S32[1]!);
  x[d + 2] = zeroBytes(x[d + 2]! ^ S32[2]!);
  x[d + 3] = zeroBytes(x[d + 3]! ^ S32[3]!);
});
regMmx('pcmpeqb', 0x74, mbin((n) => { for (let k = 0; k < n >> 2; k++) D32[k] = zeroBytes(D32[k]! ^ S32[k]!); }, D32, false));
both('pcmpeqw', 0x75, (n) => { for (let k = 0; k < n >> 1; k++) D.i16[k] = D.i16[k] === S.i16[k] ? -1 : 0; });
both('pcmpeqd', 0x76, (n) => { for (let k = 0; k < n >> 2; k++) D32[k] = D32[k] === S32[k] ? -1 : 0; });
both('pcmpgtb', 0x64, (n) => { for (let k = 0; k < n; k++) D.i8[k] = D.i8[k]! > S.i8[k]! ? -1 : 0; });
both('pcmpgtw', 0x65, (n) => { for (let k = 0; k < n >> 1; k++) D.i16[k] = D.i16[k]! > S.i16[k]! ? -1 : 0; });
both('pcmpgtd', 0x66, (n) => { for (let k = 0; k < n >> 2; k++) D32[k] = D32[k]! > S32[k]! ? -1 : 0; });

// ---------------------------------------------------------------- logic

// The XMM forms work in place on the register.
const plogic = (kind: number): Handler => (c, i) => {
  sseCheck(c);
  loadS128(c, i, true);
  const x = c.xmm, d = i.reg << 2;
  switch (kind) {
    case 0: for (let k = 0; k < 4; k++) x[d + k] = x[d + k]! & S32[k]!; break;
    case 1: for (let k = 0; k < 4; k++) x[d + k] = ~x[d + k]! & S32[k]!; break;
    case 2: for (let k = 0; k < 4; k++) x[d + k] = x[d + k]! | S32[k]!; break;
    default: for (let k = 0; k < 4; k++) x[d + k] = x[d + k]! ^ S32[k]!; break;
  }
};
reg66('pand', 0xdb, plogic(0));
reg66('pandn', 0xdf, plogic(1));
reg66('por', 0xeb, plogic(2));
reg66('pxor', 0xef, plogic(3));
regMmx('pand', 0xdb, mbin(() => { D32[0] &= S32[0]!; D32[1] &= S32[1]!; }, D32, false));
regMmx('pandn', 0xdf, mbin(() => { D32[0] = ~D32[0]! & S32[0]!; D32[1] = ~D32[1]! & S32[1]!; }, D32, false));
regMmx('por', 0xeb, mbin(() => { D32[0] |= S32[0]!; D32[1] |= S32[1]!; }, D32, false));
regMmx('pxor', 0xef, mbin(() => { D32[0] ^= S32[0]!; D32[1] ^= S32[1]!; }, D32, false));

// ---------------------------------------------------------------- shifts

/** Shift DST's first `bytes` bytes of elements by `n` (any non-negative count; counts past the width saturate). */
type Shift = (kind: number, n: number, bytes: number) => void;
const shiftW: Shift = (kind, n, bytes) => {
  const e = bytes >> 1;
  if (kind === 2) {
    if (n > 15) n = 15;
    for (let k = 0; k < e; k++) D.i16[k] = D.i16[k]! >> n;
  } else if (n > 15) D32.fill(0);
  else if (kind === 0) for (let k = 0; k < e; k++) D.u16[k] = D.u16[k]! << n;
  else for (let k = 0; k < e; k++) D.u16[k] = D.u16[k]! >>> n;
};
const shiftD: Shift = (kind, n, bytes) => {
  const e = bytes >> 2;
  if (kind === 2) {
    if (n > 31) n = 31;
    for (let k = 0; k < e; k++) D32[k] = D32[k]! >> n;
  } else if (n > 31) D32.fill(0);
  else if (kind === 0) for (let k = 0; k < e; k++) D32[k] = D32[k]! << n;
  else for (let k = 0; k < e; k++) D32[k] = D32[k]! >>> n;
};
const shiftQ: Shift = (kind, n, bytes) => {
  if (n > 63) {
    D32.fill(0);
    return;
  }
  if (n === 0) return;
  for (let k = 0; k < bytes >> 2; k += 2) {
    const lo = D32[k]!, hi = D32[k + 1]!;
    if (kind === 0) {
      if (n >= 32) {
        D32[k + 1] = lo << (n - 32);
        D32[k] = 0;
      } else {
        D32[k + 1] = (hi << n) | (lo >>> (32 - n));
        D32[k] = lo << n;
      }
    } else if (n >= 32) {
      D32[k] = hi >>> (n - 32);
      D32[k + 1] = 0;
    } else {
      D32[k] = (lo >>> n) | (hi << (32 - n));
      D32[k + 1] = hi >>> n;
    }
  }
};
/** Shift count from SRC's low 64 bits, clamped (anything ≥ 2^32 acts like a huge count). */
function countS(): number {
  return S32[1] !== 0 ? 0x7fffffff : S32[0]! >>> 0 > 0x7fffffff ? 0x7fffffff : S32[0]!;
}
const shiftX = (fn: Shift, kind: number): Handler => (c, i) => {
  sseCheck(c);
  loadS128(c, i, true);
  loadD(c, i.reg);
  fn(kind, countS(), 16);
  storeX(c, i.reg, D32);
};
/** Immediate forms (66 0F 71/72/73 /ext ib): the register is ModRM.rm. */
const shiftI = (fn: Shift, kind: number): Handler => (c, i) => {
  sseCheck(c);
  loadD(c, i.rm);
  fn(kind, i.immLo, 16);
  storeX(c, i.rm, D32);
};
/** MMX: mm ← mm shifted by mm/m64. */
const mshiftX = (fn: Shift, kind: number): Handler => (c, i) => {
  const f = mmxCheck(c);
  loadM64(c, i);
  const d = i.reg & 7;
  D32[0] = f.lo[d]!;
  D32[1] = f.hi[d]!;
  fn(kind, countS(), 8);
  mmxSet(f, d, D32[0]!, D32[1]!);
};
/** MMX immediate forms (0F 71/72/73 /ext ib): the register is ModRM.rm. */
const mshiftI = (fn: Shift, kind: number): Handler => (c, i) => {
  const f = mmxCheck(c);
  const d = i.rm & 7;
  D32[0] = f.lo[d]!;
  D32[1] = f.hi[d]!;
  fn(kind, i.immLo, 8);
  mmxSet(f, d, D32[0]!, D32[1]!);
};
// kinds: 0 left, 1 logical right, 2 arithmetic right
for (const [name, op, fn, kind] of [
  ['psrlw', 0xd1, shiftW, 1], ['psrld', 0xd2, shiftD, 1], ['psrlq', 0xd3, shiftQ, 1], ['psraw', 0xe1, shiftW, 2],
  ['psrad', 0xe2, shiftD, 2], ['psllw', 0xf1, shiftW, 0], ['pslld', 0xf2, shiftD, 0], ['psllq', 0xf3, shiftQ, 0],
] as const) {
  reg66(name, op, shiftX(fn, kind));
  regMmx(name, op, mshiftX(fn, kind));
}

function grp(name: string, op: number, ext: number, exec: Handler): void {
  sdef({ name, map: MAP_0F, op, ext, mod: 'reg', prefix: 0x66, modrm: true, size: 'n', imm: 'ub', exec });
}
for (const [name, op, ext, fn, kind] of [
  ['psrlw', 0x71, 2, shiftW, 1], ['psraw', 0x71, 4, shiftW, 2], ['psllw', 0x71, 6, shiftW, 0],
  ['psrld', 0x72, 2, shiftD, 1], ['psrad', 0x72, 4, shiftD, 2], ['pslld', 0x72, 6, shiftD, 0],
  ['psrlq', 0x73, 2, shiftQ, 1], ['psllq', 0x73, 6, shiftQ, 0],
] as const) {
  grp(name, op, ext, shiftI(fn, kind));
  mdef({ name, map: MAP_0F, op, ext, mod: 'reg', prefix: 0, modrm: true, size: 'n', imm: 'ub', exec: mshiftI(fn, kind) });
}
grp('psrldq', 0x73, 3, (c, i) => {
  sseCheck(c);
  loadD(c, i.rm);
  const n = i.immLo;
  for (let k = 0; k < 16; k++) R.u8[k] = k + n < 16 ? D.u8[k + n]! : 0;
  storeX(c, i.rm, R32);
});
grp('pslldq', 0x73, 7, (c, i) => {
  sseCheck(c);
  loadD(c, i.rm);
  const n = i.immLo;
  for (let k = 0; k < 16; k++) R.u8[k] = k >= n ? D.u8[k - n]! : 0;
  storeX(c, i.rm, R32);
});

// ---------------------------------------------------------------- packs

both('packsswb', 0x63, (n) => {
  const h = n >> 1;
  for (let k = 0; k < h; k++) {
    R.i8[k] = sat(D.i16[k]!, -128, 127);
    R.i8[k + h] = sat(S.i16[k]!, -128, 127);
  }
}, true);
both('packuswb', 0x67, (n) => {
  const h = n >> 1;
  for (let k = 0; k < h; k++) {
    R.u8[k] = sat(D.i16[k]!, 0, 255);
    R.u8[k + h] = sat(S.i16[k]!, 0, 255);
  }
}, true);
both('packssdw', 0x6b, (n) => {
  const h = n >> 2;
  for (let k = 0; k < h; k++) {
    R.i16[k] = sat(D32[k]!, -32768, 32767);
    R.i16[k + h] = sat(S32[k]!, -32768, 32767);
  }
}, true);

// ---------------------------------------------------------------- unpacks (the MMX punpckl* forms read only m32)

both('punpcklbw', 0x60, (n) => { for (let k = 0; k < n >> 1; k++) { R.u8[2 * k] = D.u8[k]!; R.u8[2 * k + 1] = S.u8[k]!; } }, true, true);
both('punpcklwd', 0x61, (n) => { for (let k = 0; k < n >> 2; k++) { R.u16[2 * k] = D.u16[k]!; R.u16[2 * k + 1] = S.u16[k]!; } }, true, true);
both('punpckldq', 0x62, (n) => { for (let k = 0; k < n >> 3; k++) { R32[2 * k] = D32[k]!; R32[2 * k + 1] = S32[k]!; } }, true, true);
reg66('punpcklqdq', 0x6c, binR(() => { R32[0] = D32[0]!; R32[1] = D32[1]!; R32[2] = S32[0]!; R32[3] = S32[1]!; }));
both('punpckhbw', 0x68, (n) => { const h = n >> 1; for (let k = 0; k < h; k++) { R.u8[2 * k] = D.u8[k + h]!; R.u8[2 * k + 1] = S.u8[k + h]!; } }, true);
both('punpckhwd', 0x69, (n) => { const h = n >> 2; for (let k = 0; k < h; k++) { R.u16[2 * k] = D.u16[k + h]!; R.u16[2 * k + 1] = S.u16[k + h]!; } }, true);
both('punpckhdq', 0x6a, (n) => { const h = n >> 3; for (let k = 0; k < h; k++) { R32[2 * k] = D32[k + h]!; R32[2 * k + 1] = S32[k + h]!; } }, true);
reg66('punpckhqdq', 0x6d, binR(() => { R32[0] = D32[2]!; R32[1] = D32[3]!; R32[2] = S32[2]!; R32[3] = S32[3]!; }));

// ---------------------------------------------------------------- shuffles

const shuf = (kind: number): Handler => (c, i) => {
  sseCheck(c);
  loadS128(c, i, true);
  const m = i.immLo;
  if (kind === 0) {
    for (let k = 0; k < 4; k++) R32[k] = S32[(m >> (2 * k)) & 3]!;
  } else if (kind === 1) {
    R32[0] = S32[0]!;
    R32[1] = S32[1]!;
    for (let k = 0; k < 4; k++) R.u16[4 + k] = S.u16[4 + ((m >> (2 * k)) & 3)]!;
  } else {
    for (let k = 0; k < 4; k++) R.u16[k] = S.u16[(m >> (2 * k)) & 3]!;
    R32[2] = S32[2]!;
    R32[3] = S32[3]!;
  }
  storeX(c, i.reg, R32);
};
sdef({ name: 'pshufd', map: MAP_0F, op: 0x70, prefix: 0x66, modrm: true, size: 'n', imm: 'ub', exec: shuf(0) });
sdef({ name: 'pshufhw', map: MAP_0F, op: 0x70, prefix: 0xf3, modrm: true, size: 'n', imm: 'ub', exec: shuf(1) });
sdef({ name: 'pshuflw', map: MAP_0F, op: 0x70, prefix: 0xf2, modrm: true, size: 'n', imm: 'ub', exec: shuf(2) });

// ---------------------------------------------------------------- word insert/extract, byte mask

sdef({
  name: 'pinsrw', map: MAP_0F, op: 0xc4, prefix: 0x66, modrm: true, size: 'n', imm: 'ub',
  exec: (c, i) => {
    sseCheck(c);
    let v: number;
    if (i.rm >= 0) v = c.r[2 * i.rm]! & 0xffff;
    else {
      const a = c.ea(i);
      v = c.read16(a, c.eaHi);
    }
    const n = i.immLo & 7, l = (i.reg << 2) + (n >> 1), sh = (n & 1) << 4;
    c.xmm[l] = (c.xmm[l]! & ~(0xffff << sh)) | (v << sh);
  },
});
sdef({
  name: 'pextrw', map: MAP_0F, op: 0xc5, mod: 'reg', prefix: 0x66, modrm: true, size: 'n', imm: 'ub',
  exec: (c, i) => {
    sseCheck(c);
    const n = i.immLo & 7;
    c.setReg64(i.reg, (c.xmm[(i.rm << 2) + (n >> 1)]! >>> ((n & 1) << 4)) & 0xffff, 0);
  },
});

/** Bit 7 of each byte of v → 4 bits. */
function msb4(v: number): number {
  return ((v >>> 7) & 1) | ((v >>> 14) & 2) | ((v >>> 21) & 4) | ((v >>> 28) & 8);
}
sdef({
  name: 'pmovmskb', map: MAP_0F, op: 0xd7, mod: 'reg', prefix: 0x66, modrm: true, size: 'n',
  exec: (c, i) => {
    sseCheck(c);
    const x = c.xmm, o = i.rm << 2;
    c.setReg64(i.reg, msb4(x[o]!) | (msb4(x[o + 1]!) << 4) | (msb4(x[o + 2]!) << 8) | (msb4(x[o + 3]!) << 12), 0);
  },
});

/** maskmovdqu xmm1, xmm2: store the bytes of xmm1 whose mask byte (xmm2) has bit 7 set, at DS:[rdi]. */
sdef({
  name: 'maskmovdqu', map: MAP_0F, op: 0xf7, mod: 'reg', prefix: 0x66, modrm: true, size: 'n',
  exec: (c: Cpu, i: Insn) => {
    sseCheck(c);
    loadD(c, i.reg);
    const x = c.xmm, m = i.rm << 2;
    for (let k = 0; k < 4; k++) S32[k] = x[m + k]!;
    let lo = c.r[2 * RDI]!, hi = c.r[2 * RDI + 1]!;
    if (i.addrSize === 4) hi = 0;
    if (i.seg >= 4) {
      const b = 2 * i.seg;
      const s = (lo >>> 0) + (c.segBase[b]! >>> 0);
      hi = (hi + c.segBase[b + 1]! + (s > 0xffffffff ? 1 : 0)) | 0;
      lo = s | 0;
    }
    c.checkCanonical(hi);
    // The whole 16-byte range must be writable, whatever the mask (as the
    // host does; the SDM leaves faults on masked bytes implementation-defined):
    // check both pages first (the second at its first byte), then store.
    c.xlateWrite(lo, hi);
    if ((lo & 0xfff) > 0xff0) {
      const s = ((lo >>> 0) | 0xfff) + 1;
      c.xlateWrite(s | 0, s > 0xffffffff ? (hi + 1) | 0 : hi);
    }
    for (let k = 0; k < 16; k++) {
      if (S.u8[k]! < 0x80) continue;
      const s = (lo >>> 0) + k;
      c.write8(s | 0, s > 0xffffffff ? (hi + 1) | 0 : hi, D.u8[k]!);
    }
  },
});
