/**
 * SSE2 128-bit integer instructions (66-prefixed 0F opcodes): add/sub with
 * wrap and saturation, multiplies, pmaddwd, psadbw, averages, min/max,
 * compares, logic, shifts (by xmm/m128 and by imm8, byte shifts), packs,
 * unpacks, shuffles, pinsrw/pextrw, pmovmskb, maskmovdqu. The MMX (no
 * prefix) forms are not implemented (#UD).
 *
 * Operands: SRC holds the source (xmm/m128, 16-byte aligned in memory),
 * DST a copy of the destination register; the result goes back to the
 * register after every memory access has succeeded.
 */
import type { Cpu } from '../cpu.ts';
import type { Handler, Insn } from '../insn.ts';
import { MAP_0F } from '../table.ts';
import { RDI } from '../state.ts';
import { DST, loadD, loadS128, RES, sdef, sseCheck, SRC, storeX } from './sse-core.ts';

const S = SRC, D = DST, R = RES;
const S32 = S.i32, D32 = D.i32, R32 = R.i32;

/** A binary op computing DST op= SRC in place. */
const bin = (fn: () => void): Handler => (c, i) => {
  sseCheck(c);
  loadS128(c, i, true);
  loadD(c, i.reg);
  fn();
  storeX(c, i.reg, D32);
};
/** A binary op writing its result to RES. */
const binR = (fn: () => void): Handler => (c, i) => {
  sseCheck(c);
  loadS128(c, i, true);
  loadD(c, i.reg);
  fn();
  storeX(c, i.reg, R32);
};

function reg66(name: string, op: number, exec: Handler, imm?: 'ub'): void {
  sdef({ name, map: MAP_0F, op, prefix: 0x66, modrm: true, size: 'n', exec, ...(imm ? { imm } : {}) });
}

// ---------------------------------------------------------------- add / sub

reg66('paddb', 0xfc, bin(() => { for (let k = 0; k < 16; k++) D.u8[k] = D.u8[k]! + S.u8[k]!; }));
reg66('paddw', 0xfd, bin(() => { for (let k = 0; k < 8; k++) D.u16[k] = D.u16[k]! + S.u16[k]!; }));
reg66('paddd', 0xfe, bin(() => { for (let k = 0; k < 4; k++) D32[k] = (D32[k]! + S32[k]!) | 0; }));
reg66('paddq', 0xd4, bin(() => {
  for (let k = 0; k < 4; k += 2) {
    const s = (D32[k]! >>> 0) + (S32[k]! >>> 0);
    D32[k] = s | 0;
    D32[k + 1] = (D32[k + 1]! + S32[k + 1]! + (s > 0xffffffff ? 1 : 0)) | 0;
  }
}));
reg66('psubb', 0xf8, bin(() => { for (let k = 0; k < 16; k++) D.u8[k] = D.u8[k]! - S.u8[k]!; }));
reg66('psubw', 0xf9, bin(() => { for (let k = 0; k < 8; k++) D.u16[k] = D.u16[k]! - S.u16[k]!; }));
reg66('psubd', 0xfa, bin(() => { for (let k = 0; k < 4; k++) D32[k] = (D32[k]! - S32[k]!) | 0; }));
reg66('psubq', 0xfb, bin(() => {
  for (let k = 0; k < 4; k += 2) {
    const a = D32[k]! >>> 0, b = S32[k]! >>> 0;
    D32[k] = (a - b) | 0;
    D32[k + 1] = (D32[k + 1]! - S32[k + 1]! - (a < b ? 1 : 0)) | 0;
  }
}));

const sat = (v: number, lo: number, hi: number): number => (v < lo ? lo : v > hi ? hi : v);
reg66('paddsb', 0xec, bin(() => { for (let k = 0; k < 16; k++) D.i8[k] = sat(D.i8[k]! + S.i8[k]!, -128, 127); }));
reg66('paddsw', 0xed, bin(() => { for (let k = 0; k < 8; k++) D.i16[k] = sat(D.i16[k]! + S.i16[k]!, -32768, 32767); }));
reg66('paddusb', 0xdc, bin(() => { for (let k = 0; k < 16; k++) D.u8[k] = sat(D.u8[k]! + S.u8[k]!, 0, 255); }));
reg66('paddusw', 0xdd, bin(() => { for (let k = 0; k < 8; k++) D.u16[k] = sat(D.u16[k]! + S.u16[k]!, 0, 65535); }));
reg66('psubsb', 0xe8, bin(() => { for (let k = 0; k < 16; k++) D.i8[k] = sat(D.i8[k]! - S.i8[k]!, -128, 127); }));
reg66('psubsw', 0xe9, bin(() => { for (let k = 0; k < 8; k++) D.i16[k] = sat(D.i16[k]! - S.i16[k]!, -32768, 32767); }));
reg66('psubusb', 0xd8, bin(() => { for (let k = 0; k < 16; k++) D.u8[k] = sat(D.u8[k]! - S.u8[k]!, 0, 255); }));
reg66('psubusw', 0xd9, bin(() => { for (let k = 0; k < 8; k++) D.u16[k] = sat(D.u16[k]! - S.u16[k]!, 0, 65535); }));

// ---------------------------------------------------------------- multiplies

reg66('pmullw', 0xd5, bin(() => { for (let k = 0; k < 8; k++) D.i16[k] = Math.imul(D.i16[k]!, S.i16[k]!); }));
reg66('pmulhw', 0xe5, bin(() => { for (let k = 0; k < 8; k++) D.i16[k] = (D.i16[k]! * S.i16[k]!) >> 16; }));
reg66('pmulhuw', 0xe4, bin(() => { for (let k = 0; k < 8; k++) D.u16[k] = (D.u16[k]! * S.u16[k]!) >>> 16; }));
reg66('pmuludq', 0xf4, bin(() => {
  for (let k = 0; k < 4; k += 2) {
    const a = D32[k]! >>> 0, b = S32[k]! >>> 0;
    const aL = a & 0xffff, aH = a >>> 16, bL = b & 0xffff, bH = b >>> 16;
    const mid = aL * bH + aH * bL;
    const low = aL * bL + (mid % 65536) * 65536;
    D32[k] = low >>> 0;
    D32[k + 1] = (aH * bH + Math.floor(mid / 65536) + Math.floor(low / 4294967296)) | 0;
  }
}));
reg66('pmaddwd', 0xf5, bin(() => {
  for (let k = 0; k < 4; k++) {
    const v = D.i16[2 * k]! * S.i16[2 * k]! + D.i16[2 * k + 1]! * S.i16[2 * k + 1]!;
    D32[k] = v | 0;
  }
}));
reg66('psadbw', 0xf6, bin(() => {
  for (let q = 0; q < 2; q++) {
    let s = 0;
    for (let k = 8 * q; k < 8 * q + 8; k++) s += Math.abs(D.u8[k]! - S.u8[k]!);
    D32[2 * q] = s;
    D32[2 * q + 1] = 0;
  }
}));

// ---------------------------------------------------------------- average, min, max

reg66('pavgb', 0xe0, bin(() => { for (let k = 0; k < 16; k++) D.u8[k] = (D.u8[k]! + S.u8[k]! + 1) >> 1; }));
reg66('pavgw', 0xe3, bin(() => { for (let k = 0; k < 8; k++) D.u16[k] = (D.u16[k]! + S.u16[k]! + 1) >> 1; }));
reg66('pminub', 0xda, bin(() => { for (let k = 0; k < 16; k++) if (S.u8[k]! < D.u8[k]!) D.u8[k] = S.u8[k]!; }));
reg66('pmaxub', 0xde, bin(() => { for (let k = 0; k < 16; k++) if (S.u8[k]! > D.u8[k]!) D.u8[k] = S.u8[k]!; }));
reg66('pminsw', 0xea, bin(() => { for (let k = 0; k < 8; k++) if (S.i16[k]! < D.i16[k]!) D.i16[k] = S.i16[k]!; }));
reg66('pmaxsw', 0xee, bin(() => { for (let k = 0; k < 8; k++) if (S.i16[k]! > D.i16[k]!) D.i16[k] = S.i16[k]!; }));

// ---------------------------------------------------------------- compares

/** Bytes of x that are zero → 0xFF, others → 0 (SWAR). */
function zeroBytes(x: number): number {
  const t = ~(((x & 0x7f7f7f7f) + 0x7f7f7f7f) | x | 0x7f7f7f7f);
  return ((t >>> 7) * 0xff) | 0;
}
reg66('pcmpeqb', 0x74, (c, i) => {
  sseCheck(c);
  loadS128(c, i, true);
  const x = c.xmm, d = i.reg << 2;
  x[d] = zeroBytes(x[d]! ^ S32[0]!);
  x[d + 1] = zeroBytes(x[d + 1]! ^ S32[1]!);
  x[d + 2] = zeroBytes(x[d + 2]! ^ S32[2]!);
  x[d + 3] = zeroBytes(x[d + 3]! ^ S32[3]!);
});
reg66('pcmpeqw', 0x75, bin(() => { for (let k = 0; k < 8; k++) D.i16[k] = D.i16[k] === S.i16[k] ? -1 : 0; }));
reg66('pcmpeqd', 0x76, bin(() => { for (let k = 0; k < 4; k++) D32[k] = D32[k] === S32[k] ? -1 : 0; }));
reg66('pcmpgtb', 0x64, bin(() => { for (let k = 0; k < 16; k++) D.i8[k] = D.i8[k]! > S.i8[k]! ? -1 : 0; }));
reg66('pcmpgtw', 0x65, bin(() => { for (let k = 0; k < 8; k++) D.i16[k] = D.i16[k]! > S.i16[k]! ? -1 : 0; }));
reg66('pcmpgtd', 0x66, bin(() => { for (let k = 0; k < 4; k++) D32[k] = D32[k]! > S32[k]! ? -1 : 0; }));

// ---------------------------------------------------------------- logic

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

// ---------------------------------------------------------------- shifts

/** Shift DST's elements by `n` (any non-negative count; counts past the width saturate). */
function shiftW(kind: number, n: number): void {
  if (kind === 2) {
    if (n > 15) n = 15;
    for (let k = 0; k < 8; k++) D.i16[k] = D.i16[k]! >> n;
  } else if (n > 15) D32.fill(0);
  else if (kind === 0) for (let k = 0; k < 8; k++) D.u16[k] = D.u16[k]! << n;
  else for (let k = 0; k < 8; k++) D.u16[k] = D.u16[k]! >>> n;
}
function shiftD(kind: number, n: number): void {
  if (kind === 2) {
    if (n > 31) n = 31;
    for (let k = 0; k < 4; k++) D32[k] = D32[k]! >> n;
  } else if (n > 31) D32.fill(0);
  else if (kind === 0) for (let k = 0; k < 4; k++) D32[k] = D32[k]! << n;
  else for (let k = 0; k < 4; k++) D32[k] = D32[k]! >>> n;
}
function shiftQ(kind: number, n: number): void {
  if (n > 63) {
    D32.fill(0);
    return;
  }
  if (n === 0) return;
  for (let k = 0; k < 4; k += 2) {
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
}
/** Shift count from SRC's low 64 bits, clamped (anything ≥ 2^32 acts like a huge count). */
function countS(): number {
  return S32[1] !== 0 ? 0x7fffffff : S32[0]! >>> 0 > 0x7fffffff ? 0x7fffffff : S32[0]!;
}
const shiftX = (fn: (kind: number, n: number) => void, kind: number): Handler => (c, i) => {
  sseCheck(c);
  loadS128(c, i, true);
  loadD(c, i.reg);
  fn(kind, countS());
  storeX(c, i.reg, D32);
};
/** Immediate forms (66 0F 71/72/73 /ext ib): the register is ModRM.rm. */
const shiftI = (fn: (kind: number, n: number) => void, kind: number): Handler => (c, i) => {
  sseCheck(c);
  loadD(c, i.rm);
  fn(kind, i.immLo);
  storeX(c, i.rm, D32);
};
// kinds: 0 left, 1 logical right, 2 arithmetic right
reg66('psrlw', 0xd1, shiftX(shiftW, 1));
reg66('psrld', 0xd2, shiftX(shiftD, 1));
reg66('psrlq', 0xd3, shiftX(shiftQ, 1));
reg66('psraw', 0xe1, shiftX(shiftW, 2));
reg66('psrad', 0xe2, shiftX(shiftD, 2));
reg66('psllw', 0xf1, shiftX(shiftW, 0));
reg66('pslld', 0xf2, shiftX(shiftD, 0));
reg66('psllq', 0xf3, shiftX(shiftQ, 0));

function grp(name: string, op: number, ext: number, exec: Handler): void {
  sdef({ name, map: MAP_0F, op, ext, mod: 'reg', prefix: 0x66, modrm: true, size: 'n', imm: 'ub', exec });
}
grp('psrlw', 0x71, 2, shiftI(shiftW, 1));
grp('psraw', 0x71, 4, shiftI(shiftW, 2));
grp('psllw', 0x71, 6, shiftI(shiftW, 0));
grp('psrld', 0x72, 2, shiftI(shiftD, 1));
grp('psrad', 0x72, 4, shiftI(shiftD, 2));
grp('pslld', 0x72, 6, shiftI(shiftD, 0));
grp('psrlq', 0x73, 2, shiftI(shiftQ, 1));
grp('psllq', 0x73, 6, shiftI(shiftQ, 0));
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

reg66('packsswb', 0x63, binR(() => {
  for (let k = 0; k < 8; k++) {
    R.i8[k] = sat(D.i16[k]!, -128, 127);
    R.i8[k + 8] = sat(S.i16[k]!, -128, 127);
  }
}));
reg66('packuswb', 0x67, binR(() => {
  for (let k = 0; k < 8; k++) {
    R.u8[k] = sat(D.i16[k]!, 0, 255);
    R.u8[k + 8] = sat(S.i16[k]!, 0, 255);
  }
}));
reg66('packssdw', 0x6b, binR(() => {
  for (let k = 0; k < 4; k++) {
    R.i16[k] = sat(D32[k]!, -32768, 32767);
    R.i16[k + 4] = sat(S32[k]!, -32768, 32767);
  }
}));

// ---------------------------------------------------------------- unpacks

reg66('punpcklbw', 0x60, binR(() => { for (let k = 0; k < 8; k++) { R.u8[2 * k] = D.u8[k]!; R.u8[2 * k + 1] = S.u8[k]!; } }));
reg66('punpcklwd', 0x61, binR(() => { for (let k = 0; k < 4; k++) { R.u16[2 * k] = D.u16[k]!; R.u16[2 * k + 1] = S.u16[k]!; } }));
reg66('punpckldq', 0x62, binR(() => { R32[0] = D32[0]!; R32[1] = S32[0]!; R32[2] = D32[1]!; R32[3] = S32[1]!; }));
reg66('punpcklqdq', 0x6c, binR(() => { R32[0] = D32[0]!; R32[1] = D32[1]!; R32[2] = S32[0]!; R32[3] = S32[1]!; }));
reg66('punpckhbw', 0x68, binR(() => { for (let k = 0; k < 8; k++) { R.u8[2 * k] = D.u8[k + 8]!; R.u8[2 * k + 1] = S.u8[k + 8]!; } }));
reg66('punpckhwd', 0x69, binR(() => { for (let k = 0; k < 4; k++) { R.u16[2 * k] = D.u16[k + 4]!; R.u16[2 * k + 1] = S.u16[k + 4]!; } }));
reg66('punpckhdq', 0x6a, binR(() => { R32[0] = D32[2]!; R32[1] = S32[2]!; R32[2] = D32[3]!; R32[3] = S32[3]!; }));
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
