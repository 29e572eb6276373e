/**
 * MMX instructions that have no XMM twin in sse-int.ts: movd/movq to and
 * from mm (0F 6E/7E/6F/7F), movntq, emms, pshufw, pinsrw/pextrw/pmovmskb on
 * mm, maskmovq, the conversions between packed floats and mm
 * (cvtpi2ps/cvtpi2pd/cvt(t)ps2pi/cvt(t)pd2pi) and movq2dq/movdq2q.
 * The packed arithmetic, compares, logic, shifts, packs and unpacks on mm
 * are registered by sse-int.ts with their XMM forms. See mmx-core.ts for the
 * register aliasing and the order of exceptions.
 *
 * Details measured on the reference host: stores (movq/movd/movntq to
 * memory) fault before the switch to MMX mode; maskmovq switches first and
 * then needs all 8 bytes at DS:rDI writable (whatever the mask, as
 * maskmovdqu); cvtpi2ps/cvtpi2pd with a memory source neither switch to MMX
 * mode nor raise #MF; the other conversions raise #MF first and switch to
 * MMX mode before a SIMD floating-point exception (#XM) is delivered.
 */
import type { Cpu } from '../cpu.ts';
import type { Handler, Insn } from '../insn.ts';
import { readMovdSource } from './operand.ts';
import { MAP_0F } from '../table.ts';
import { MF, NM, RDI, UD } from '../state.ts';
import { SW_ES } from '../x87-state.ts';
import { loadS128, loadS64, RES, sseCheck, SRC } from './sse-core.ts';
import { b64, f32toI32, f64toI32, fpBegin, fpEnd, i32to32, rhi, setTruncate } from './sse-math.ts';
import { loadM64, mdef, mmxCheck, mmxSet, mmxSseCheck } from './mmx-core.ts';

const S32 = SRC.i32, S16 = SRC.u16, R16 = RES.u16;

function mm(name: string, op: number, exec: Handler, extra: Partial<{ mod: 'reg' | 'mem'; rexW: boolean; imm: 'ub'; prefix: 0 | 0x66 | 0xf3 | 0xf2 }> = {}): void {
  mdef({ name, map: MAP_0F, op, prefix: 0, modrm: true, size: 'n', exec, ...extra });
}

// ---------------------------------------------------------------- movd / movq

/** 0F 6E: movd mm, r/m32 / REX.W 0F 6E: movq mm, r/m64 (zero-extended). */
const movdToMm = (w: boolean): Handler => (c, i) => {
  const f = mmxCheck(c);
  const lo = readMovdSource(c, i, w), hi = c.hi;
  mmxSet(f, i.reg & 7, lo, hi);
};
/** 0F 7E: movd r/m32, mm / REX.W 0F 7E: movq r/m64, mm. */
const movdFromMm = (w: boolean): Handler => (c, i) => {
  const f = mmxCheck(c);
  const s = i.reg & 7;
  const lo = f.lo[s]!, hi = w ? f.hi[s]! : 0;
  if (i.rm >= 0) {
    c.r[2 * i.rm] = lo;
    c.r[2 * i.rm + 1] = hi;
  } else {
    const a = c.ea(i);
    if (w) c.write64(a, c.eaHi, lo, hi);
    else c.write32(a, c.eaHi, lo);
  }
  f.mmxEnter();
};
for (const w of [false, true]) {
  const name = w ? 'movq' : 'movd';
  mm(name, 0x6e, movdToMm(w), { rexW: w });
  mm(name, 0x7e, movdFromMm(w), { rexW: w });
}
/** 0F 6F: movq mm, mm/m64. */
mm('movq', 0x6f, (c, i) => {
  const f = mmxCheck(c);
  loadM64(c, i);
  mmxSet(f, i.reg & 7, S32[0]!, S32[1]!);
});
/** 0F 7F: movq mm/m64, mm; 0F E7: movntq m64, mm. */
const storeQ: Handler = (c, i) => {
  const f = mmxCheck(c);
  const s = i.reg & 7;
  const lo = f.lo[s]!, hi = f.hi[s]!;
  if (i.rm >= 0) {
    mmxSet(f, i.rm & 7, lo, hi);
    return;
  }
  const a = c.ea(i);
  c.write64(a, c.eaHi, lo, hi);
  f.mmxEnter();
};
mm('movq', 0x7f, storeQ);
mm('movntq', 0xe7, storeQ, { mod: 'mem' });

// ---------------------------------------------------------------- emms

mdef({
  name: 'emms', map: MAP_0F, op: 0x77, prefix: 0, modrm: false, size: 'n',
  exec: (c) => {
    const cr0 = c.cr0;
    if ((cr0 & 0xc) !== 0) throw c.fault((cr0 & 4) !== 0 ? UD : NM);
    const f = c.fpu;
    if ((f.sw & SW_ES) !== 0) throw c.fault(MF);
    f.top = 0;
    f.emms();
  },
});

// ---------------------------------------------------------------- pshufw, pinsrw, pextrw, pmovmskb

mm('pshufw', 0x70, (c, i) => {
  const f = mmxCheck(c);
  loadM64(c, i);
  const m = i.immLo;
  for (let k = 0; k < 4; k++) R16[k] = S16[(m >> (2 * k)) & 3]!;
  mmxSet(f, i.reg & 7, RES.i32[0]!, RES.i32[1]!);
}, { imm: 'ub' });

mm('pinsrw', 0xc4, (c, i) => {
  const f = mmxCheck(c);
  let v: number;
  if (i.rm >= 0) v = c.r[2 * i.rm]! & 0xffff;
  else {
    const a = c.ea(i);
    v = c.read16(a, c.eaHi);
  }
  const d = i.reg & 7, n = i.immLo & 3, sh = (n & 1) << 4;
  let lo = f.lo[d]!, hi = f.hi[d]!;
  if (n < 2) lo = (lo & ~(0xffff << sh)) | (v << sh);
  else hi = (hi & ~(0xffff << sh)) | (v << sh);
  mmxSet(f, d, lo, hi);
}, { imm: 'ub' });

mm('pextrw', 0xc5, (c, i) => {
  const f = mmxCheck(c);
  const s = i.rm & 7, n = i.immLo & 3;
  const w = n < 2 ? f.lo[s]! : f.hi[s]!;
  c.setReg64(i.reg, (w >>> ((n & 1) << 4)) & 0xffff, 0);
  f.mmxEnter();
}, { mod: 'reg', imm: 'ub' });

/** Bit 7 of each byte of v → 4 bits. */
function msb4(v: number): number {
  return ((v >>> 7) & 1) | ((v >>> 14) & 2) | ((v >>> 21) & 4) | ((v >>> 28) & 8);
}
mm('pmovmskb', 0xd7, (c, i) => {
  const f = mmxCheck(c);
  const s = i.rm & 7;
  c.setReg64(i.reg, msb4(f.lo[s]!) | (msb4(f.hi[s]!) << 4), 0);
  f.mmxEnter();
}, { mod: 'reg' });

// ---------------------------------------------------------------- maskmovq

/** maskmovq mm1, mm2: store the bytes of mm1 whose mask byte (mm2) has bit 7 set, at DS:[rDI]. */
mm('maskmovq', 0xf7, (c: Cpu, i: Insn) => {
  const f = mmxCheck(c);
  f.mmxEnter();
  const s = i.reg & 7, m = i.rm & 7;
  const dLo = f.lo[s]!, dHi = f.hi[s]!, mLo = f.lo[m]!, mHi = f.hi[m]!;
  let lo = c.r[2 * RDI]!, hi = c.r[2 * RDI + 1]!;
  if (i.addrSize === 4) hi = 0;
  if (i.seg >= 4) {
    const b = 2 * i.seg;
    const sum = (lo >>> 0) + (c.segBase[b]! >>> 0);
    hi = (hi + c.segBase[b + 1]! + (sum > 0xffffffff ? 1 : 0)) | 0;
    lo = sum | 0;
  }
  c.checkCanonical(hi);
  // All 8 bytes must be writable whatever the mask (both pages checked first, the second at its first byte).
  c.xlateWrite(lo, hi);
  if ((lo & 0xfff) > 0xff8) {
    const n = ((lo >>> 0) | 0xfff) + 1;
    c.xlateWrite(n | 0, n > 0xffffffff ? (hi + 1) | 0 : hi);
  }
  for (let k = 0; k < 8; k++) {
    const mb = (k < 4 ? mLo : mHi) >>> (8 * (k & 3));
    if ((mb & 0x80) === 0) continue;
    const a = (lo >>> 0) + k;
    c.write8(a | 0, a > 0xffffffff ? (hi + 1) | 0 : hi, (k < 4 ? dLo : dHi) >>> (8 * (k & 3)));
  }
}, { mod: 'reg' });

// ---------------------------------------------------------------- conversions

/**
 * The two int32 of cvtpi2ps/cvtpi2pd: from mm (which switches to MMX mode),
 * or from m64 (which does not, and raises no #MF). Returns the low one, the
 * high one in c.hi.
 */
function cvtpiSource(c: Cpu, i: Insn): number {
  if (i.rm >= 0) {
    const f = mmxSseCheck(c), n = i.rm & 7;
    const a = f.lo[n]!;
    c.hi = f.hi[n]!;
    f.mmxEnter();
    return a;
  }
  sseCheck(c);
  const e = c.ea(i);
  return c.read64(e, c.eaHi);
}

/** cvtpi2ps xmm, mm/m64 (0F 2A): two int32 → float32 into the low half of xmm (upper half kept). */
mm('cvtpi2ps', 0x2a, (c, i) => {
  const a = cvtpiSource(c, i), b = c.hi;
  fpBegin(c);
  const r0 = i32to32(a), r1 = i32to32(b);
  fpEnd(c);
  const d = i.reg << 2;
  c.xmm[d] = r0;
  c.xmm[d + 1] = r1;
});
/** cvtpi2pd xmm, mm/m64 (66 0F 2A): two int32 → float64 (exact). */
mm('cvtpi2pd', 0x2a, (c, i) => {
  const a = cvtpiSource(c, i), b = c.hi;
  const x = c.xmm, d = i.reg << 2;
  x[d] = b64(a);
  x[d + 1] = rhi;
  x[d + 2] = b64(b);
  x[d + 3] = rhi;
}, { prefix: 0x66 });
/** cvt(t)ps2pi mm, xmm/m64 (0F 2D / 0F 2C). */
const cvtps2pi = (trunc: boolean): Handler => (c, i) => {
  const f = mmxSseCheck(c);
  loadS64(c, i);
  f.mmxEnter();
  fpBegin(c);
  if (trunc) setTruncate();
  const r0 = f32toI32(S32[0]!), r1 = f32toI32(S32[1]!);
  fpEnd(c);
  mmxSet(f, i.reg & 7, r0, r1);
};
mm('cvtps2pi', 0x2d, cvtps2pi(false));
mm('cvttps2pi', 0x2c, cvtps2pi(true));
/** cvt(t)pd2pi mm, xmm/m128 (66 0F 2D / 66 0F 2C; the memory operand must be 16-byte aligned). */
const cvtpd2pi = (trunc: boolean): Handler => (c, i) => {
  const f = mmxSseCheck(c);
  loadS128(c, i, true);
  f.mmxEnter();
  fpBegin(c);
  if (trunc) setTruncate();
  const r0 = f64toI32(S32[0]!, S32[1]!), r1 = f64toI32(S32[2]!, S32[3]!);
  fpEnd(c);
  mmxSet(f, i.reg & 7, r0, r1);
};
mm('cvtpd2pi', 0x2d, cvtpd2pi(false), { prefix: 0x66 });
mm('cvttpd2pi', 0x2c, cvtpd2pi(true), { prefix: 0x66 });

// ---------------------------------------------------------------- movq2dq / movdq2q

/** movq2dq xmm, mm (F3 0F D6): the upper half of xmm is zeroed. */
mm('movq2dq', 0xd6, (c, i) => {
  const f = mmxSseCheck(c), s = i.rm & 7;
  const x = c.xmm, d = i.reg << 2;
  x[d] = f.lo[s]!;
  x[d + 1] = f.hi[s]!;
  x[d + 2] = 0;
  x[d + 3] = 0;
  f.mmxEnter();
}, { mod: 'reg', prefix: 0xf3 });
/** movdq2q mm, xmm (F2 0F D6). */
mm('movdq2q', 0xd6, (c, i) => {
  const f = mmxSseCheck(c), s = i.rm << 2;
  mmxSet(f, i.reg & 7, c.xmm[s]!, c.xmm[s + 1]!);
}, { mod: 'reg', prefix: 0xf2 });
