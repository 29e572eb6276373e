/**
 * SSE/SSE2 data movement: movups/movaps/movupd/movapd/movdqu/movdqa,
 * movss/movsd, movlps/movhps/movlpd/movhpd/movhlps/movlhps, movd/movq
 * (GPR and xmm forms), the non-temporal stores, movmskps/pd, the float
 * shuffles and unpacks (shufps/pd, unpck[lh]ps/pd) and ldmxcsr/stmxcsr.
 * Data moves never touch float views, so NaN payloads are preserved.
 */
import type { Cpu } from '../cpu.ts';
import type { Handler, Insn } from '../insn.ts';
import { readMovdSource } from './operand.ts';
import { MAP_0F } from '../table.ts';
import { GP } from '../state.ts';
import { eaAligned, loadS128, loadS64, RES, sdef, sseCheck, SRC, storeX, write128 } from './sse-core.ts';

const S = SRC.i32;
const R = RES.i32;

/** MXCSR bits that may be set (no MM/misaligned-exception-mask bit: an Intel-like CPU). */
export const MXCSR_MASK = 0xffff;

// ---------------------------------------------------------------- full-register moves

/** xmm ← xmm/m128. */
const load128 = (align: boolean): Handler => (c, i) => {
  sseCheck(c);
  loadS128(c, i, align);
  storeX(c, i.reg, S);
};
/** xmm/m128 ← xmm. */
const store128 = (align: boolean): Handler => (c, i) => {
  sseCheck(c);
  const x = c.xmm;
  if (i.rm >= 0) {
    const d = i.rm << 2, s = i.reg << 2;
    x[d] = x[s]!;
    x[d + 1] = x[s + 1]!;
    x[d + 2] = x[s + 2]!;
    x[d + 3] = x[s + 3]!;
    return;
  }
  const a = align ? eaAligned(c, i) : c.ea(i);
  write128(c, a, c.eaHi, x, i.reg << 2);
};

function mv(name: string, op: number, prefix: 0 | 0x66 | 0xf3 | 0xf2, exec: Handler, mod?: 'reg' | 'mem'): void {
  sdef({ name, map: MAP_0F, op, prefix, modrm: true, size: 'n', exec, ...(mod ? { mod } : {}) });
}

mv('movups', 0x10, 0, load128(false));
mv('movupd', 0x10, 0x66, load128(false));
mv('movups', 0x11, 0, store128(false));
mv('movupd', 0x11, 0x66, store128(false));
mv('movaps', 0x28, 0, load128(true));
mv('movapd', 0x28, 0x66, load128(true));
mv('movaps', 0x29, 0, store128(true));
mv('movapd', 0x29, 0x66, store128(true));
mv('movdqa', 0x6f, 0x66, load128(true));
mv('movdqu', 0x6f, 0xf3, load128(false));
mv('movdqa', 0x7f, 0x66, store128(true));
mv('movdqu', 0x7f, 0xf3, store128(false));
mv('movntps', 0x2b, 0, store128(true), 'mem');
mv('movntpd', 0x2b, 0x66, store128(true), 'mem');
mv('movntdq', 0xe7, 0x66, store128(true), 'mem');

// ---------------------------------------------------------------- movss / movsd

mv('movss', 0x10, 0xf3, (c, i) => {
  sseCheck(c);
  const x = c.xmm, d = i.reg << 2;
  if (i.rm >= 0) {
    x[d] = x[i.rm << 2]!;
    return;
  }
  const a = c.ea(i);
  const v = c.read32(a, c.eaHi);
  x[d] = v;
  x[d + 1] = 0;
  x[d + 2] = 0;
  x[d + 3] = 0;
});
mv('movss', 0x11, 0xf3, (c, i) => {
  sseCheck(c);
  const x = c.xmm;
  if (i.rm >= 0) {
    x[i.rm << 2] = x[i.reg << 2]!;
    return;
  }
  const a = c.ea(i);
  c.write32(a, c.eaHi, x[i.reg << 2]!);
});
mv('movsd', 0x10, 0xf2, (c, i) => {
  sseCheck(c);
  const x = c.xmm, d = i.reg << 2;
  if (i.rm >= 0) {
    x[d] = x[i.rm << 2]!;
    x[d + 1] = x[(i.rm << 2) + 1]!;
    return;
  }
  const a = c.ea(i);
  const lo = c.read64(a, c.eaHi);
  x[d] = lo;
  x[d + 1] = c.hi;
  x[d + 2] = 0;
  x[d + 3] = 0;
});
mv('movsd', 0x11, 0xf2, (c, i) => {
  sseCheck(c);
  const x = c.xmm, s = i.reg << 2;
  if (i.rm >= 0) {
    x[i.rm << 2] = x[s]!;
    x[(i.rm << 2) + 1] = x[s + 1]!;
    return;
  }
  const a = c.ea(i);
  c.write64(a, c.eaHi, x[s]!, x[s + 1]!);
});

// ---------------------------------------------------------------- half moves

/** xmm.half(dstHalf) ← m64 (memory forms of movlps/movlpd/movhps/movhpd). */
const loadHalf = (dstHalf: number): Handler => (c, i) => {
  sseCheck(c);
  const a = c.ea(i);
  const lo = c.read64(a, c.eaHi);
  const d = (i.reg << 2) + 2 * dstHalf;
  c.xmm[d] = lo;
  c.xmm[d + 1] = c.hi;
};
/** m64 ← xmm.half(srcHalf). */
const storeHalf = (srcHalf: number): Handler => (c, i) => {
  sseCheck(c);
  const a = c.ea(i);
  const s = (i.reg << 2) + 2 * srcHalf;
  c.write64(a, c.eaHi, c.xmm[s]!, c.xmm[s + 1]!);
};
/** xmm.half(dstHalf) ← xmm2.half(srcHalf) (movhlps, movlhps). */
const regHalf = (dstHalf: number, srcHalf: number): Handler => (c, i) => {
  sseCheck(c);
  const x = c.xmm, d = (i.reg << 2) + 2 * dstHalf, s = (i.rm << 2) + 2 * srcHalf;
  x[d] = x[s]!;
  x[d + 1] = x[s + 1]!;
};
mv('movlps', 0x12, 0, loadHalf(0), 'mem');
mv('movhlps', 0x12, 0, regHalf(0, 1), 'reg');
mv('movlpd', 0x12, 0x66, loadHalf(0), 'mem');
mv('movlps', 0x13, 0, storeHalf(0), 'mem');
mv('movlpd', 0x13, 0x66, storeHalf(0), 'mem');
mv('movhps', 0x16, 0, loadHalf(1), 'mem');
mv('movlhps', 0x16, 0, regHalf(1, 0), 'reg');
mv('movhpd', 0x16, 0x66, loadHalf(1), 'mem');
mv('movhps', 0x17, 0, storeHalf(1), 'mem');
mv('movhpd', 0x17, 0x66, storeHalf(1), 'mem');

// ---------------------------------------------------------------- movd / movq

/** 66 0F 6E: movd xmm, r/m32 / 66 REX.W 0F 6E: movq xmm, r/m64 (zero-extended to 128 bits). */
const movdLoad = (w: boolean): Handler => (c, i) => {
  sseCheck(c);
  const lo = readMovdSource(c, i, w), hi = c.hi;
  const x = c.xmm, d = i.reg << 2;
  x[d] = lo;
  x[d + 1] = hi;
  x[d + 2] = 0;
  x[d + 3] = 0;
};
/** 66 0F 7E: movd r/m32, xmm / 66 REX.W 0F 7E: movq r/m64, xmm. */
const movdStore = (w: boolean): Handler => (c, i) => {
  sseCheck(c);
  const s = i.reg << 2;
  const lo = c.xmm[s]!, hi = w ? c.xmm[s + 1]! : 0;
  if (i.rm >= 0) {
    c.r[2 * i.rm] = lo;
    c.r[2 * i.rm + 1] = hi;
    return;
  }
  const a = c.ea(i);
  if (w) c.write64(a, c.eaHi, lo, hi);
  else c.write32(a, c.eaHi, lo);
};
for (const w of [false, true]) {
  const name = w ? 'movq' : 'movd';
  sdef({ name, map: MAP_0F, op: 0x6e, prefix: 0x66, rexW: w, modrm: true, size: 'n', exec: movdLoad(w) });
  sdef({ name, map: MAP_0F, op: 0x7e, prefix: 0x66, rexW: w, modrm: true, size: 'n', exec: movdStore(w) });
}
/** F3 0F 7E: movq xmm, xmm/m64 (upper half zeroed). */
mv('movq', 0x7e, 0xf3, (c, i) => {
  sseCheck(c);
  loadS64(c, i);
  const x = c.xmm, d = i.reg << 2;
  x[d] = S[0]!;
  x[d + 1] = S[1]!;
  x[d + 2] = 0;
  x[d + 3] = 0;
});
/** 66 0F D6: movq xmm/m64, xmm (register destination: upper half zeroed). */
mv('movq', 0xd6, 0x66, (c, i) => {
  sseCheck(c);
  const x = c.xmm, s = i.reg << 2;
  if (i.rm >= 0) {
    const d = i.rm << 2;
    const lo = x[s]!, hi = x[s + 1]!;
    x[d] = lo;
    x[d + 1] = hi;
    x[d + 2] = 0;
    x[d + 3] = 0;
    return;
  }
  const a = c.ea(i);
  c.write64(a, c.eaHi, x[s]!, x[s + 1]!);
});

// ---------------------------------------------------------------- sign masks

mv('movmskps', 0x50, 0, (c, i) => {
  sseCheck(c);
  const x = c.xmm, o = i.rm << 2;
  c.setReg64(i.reg, (x[o]! >>> 31) | ((x[o + 1]! >>> 31) << 1) | ((x[o + 2]! >>> 31) << 2) | ((x[o + 3]! >>> 31) << 3), 0);
}, 'reg');
mv('movmskpd', 0x50, 0x66, (c, i) => {
  sseCheck(c);
  const x = c.xmm, o = i.rm << 2;
  c.setReg64(i.reg, (x[o + 1]! >>> 31) | ((x[o + 3]! >>> 31) << 1), 0);
}, 'reg');

// ---------------------------------------------------------------- float shuffles and unpacks

function withSrc(c: Cpu, i: Insn): Int32Array {
  sseCheck(c);
  loadS128(c, i, true);
  return c.xmm;
}
mv('unpcklps', 0x14, 0, (c, i) => {
  const x = withSrc(c, i), d = i.reg << 2;
  R[0] = x[d]!; R[1] = S[0]!; R[2] = x[d + 1]!; R[3] = S[1]!;
  storeX(c, i.reg, R);
});
mv('unpckhps', 0x15, 0, (c, i) => {
  const x = withSrc(c, i), d = i.reg << 2;
  R[0] = x[d + 2]!; R[1] = S[2]!; R[2] = x[d + 3]!; R[3] = S[3]!;
  storeX(c, i.reg, R);
});
mv('unpcklpd', 0x14, 0x66, (c, i) => {
  const x = withSrc(c, i), d = i.reg << 2;
  x[d + 2] = S[0]!;
  x[d + 3] = S[1]!;
});
mv('unpckhpd', 0x15, 0x66, (c, i) => {
  const x = withSrc(c, i), d = i.reg << 2;
  x[d] = x[d + 2]!;
  x[d + 1] = x[d + 3]!;
  x[d + 2] = S[2]!;
  x[d + 3] = S[3]!;
});
sdef({
  name: 'shufps', map: MAP_0F, op: 0xc6, prefix: 0, modrm: true, size: 'n', imm: 'ub',
  exec: (c, i) => {
    const x = withSrc(c, i), d = i.reg << 2, m = i.immLo;
    R[0] = x[d + (m & 3)]!;
    R[1] = x[d + ((m >> 2) & 3)]!;
    R[2] = S[(m >> 4) & 3]!;
    R[3] = S[(m >> 6) & 3]!;
    storeX(c, i.reg, R);
  },
});
sdef({
  name: 'shufpd', map: MAP_0F, op: 0xc6, prefix: 0x66, modrm: true, size: 'n', imm: 'ub',
  exec: (c, i) => {
    const x = withSrc(c, i), d = i.reg << 2, m = i.immLo;
    const a = d + 2 * (m & 1), b = 2 * ((m >> 1) & 1);
    R[0] = x[a]!;
    R[1] = x[a + 1]!;
    R[2] = S[b]!;
    R[3] = S[b + 1]!;
    storeX(c, i.reg, R);
  },
});

// ---------------------------------------------------------------- MXCSR

sdef({
  name: 'ldmxcsr', map: MAP_0F, op: 0xae, ext: 2, mod: 'mem', prefix: 0, modrm: true, size: 'n',
  exec: (c, i) => {
    sseCheck(c);
    const a = c.ea(i);
    const v = c.read32(a, c.eaHi);
    if ((v & ~MXCSR_MASK) !== 0) throw c.fault(GP, 0);
    c.mxcsr = v;
  },
});
sdef({
  name: 'stmxcsr', map: MAP_0F, op: 0xae, ext: 3, mod: 'mem', prefix: 0, modrm: true, size: 'n',
  exec: (c, i) => {
    sseCheck(c);
    const a = c.ea(i);
    c.write32(a, c.eaHi, c.mxcsr);
  },
});
