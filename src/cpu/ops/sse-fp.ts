/**
 * SSE/SSE2 floating-point instructions: packed and scalar arithmetic
 * (add, sub, mul, div, min, max, sqrt, rcp, rsqrt), bitwise logic on
 * ps/pd, comparisons (cmpps/pd/ss/sd, comis/ucomis), and the conversions
 * (float↔float, int↔float, cvt(t)…2si, cvt(t)…dq). Numerics are in
 * sse-math.ts; results are computed into scratch lanes first and written
 * only after fpEnd has accepted the exception flags.
 */
import type { Cpu } from '../cpu.ts';
import type { Insn, Handler } from '../insn.ts';
import { MAP_0F } from '../table.ts';
import {
  ADD, DIV, MAX, MIN, MUL, SUB,
  arith32, arith64, cmp32, cmp64, comi32, comi64, cvt32to64, cvt64to32, f32, fast32, fast64,
  f32toI32, f32toI64, f64toI32, f64toI64, fpBegin, fpEnd, i32to32, i64to32, i64to64,
  rcp32, rhi, rsqrt32, setTruncate, sqrt32, sqrt64, b64,
} from './sse-math.ts';
import { loadS128, loadS32, loadS64, RES, sdef, sseCheck, SRC } from './sse-core.ts';

const S = SRC.i32;
const R = RES.i32;

function wr4(c: Cpu, n: number): void {
  const x = c.xmm, o = n << 2;
  x[o] = R[0]!;
  x[o + 1] = R[1]!;
  x[o + 2] = R[2]!;
  x[o + 3] = R[3]!;
}

// ---------------------------------------------------------------- arithmetic

// Each lane first tries the value fast path (normal operands, round-to-nearest);
// it returns NaN when the bit-exact general path must decide.
const SF32 = SRC.f32, SF64 = SRC.f64, RF32 = RES.f32, RF64 = RES.f64;

const ps = (op: number): Handler => (c, i) => {
  sseCheck(c);
  loadS128(c, i, true);
  fpBegin(c);
  const x = c.xmm, xf = c.xmmF32, d = i.reg << 2;
  for (let k = 0; k < 4; k++) {
    const r = op < MIN ? fast32(op, xf[d + k]!, SF32[k]!) : NaN;
    if (r === r) RF32[k] = r;
    else R[k] = arith32(op, x[d + k]!, S[k]!);
  }
  fpEnd(c);
  wr4(c, i.reg);
};

const ss = (op: number): Handler => (c, i) => {
  sseCheck(c);
  const b = loadS32(c, i);
  fpBegin(c);
  const d = i.reg << 2;
  if (op < MIN) {
    const r = fast32(op, c.xmmF32[d]!, f32(b));
    if (r === r) {
      fpEnd(c);
      c.xmmF32[d] = r;
      return;
    }
  }
  const r = arith32(op, c.xmm[d]!, b);
  fpEnd(c);
  c.xmm[d] = r;
};

const pd = (op: number): Handler => (c, i) => {
  sseCheck(c);
  loadS128(c, i, true);
  fpBegin(c);
  const x = c.xmm, xf = c.xmmF64, d = i.reg << 2;
  for (let k = 0; k < 2; k++) {
    const r = op < MIN ? fast64(op, xf[(d >> 1) + k]!, SF64[k]!) : NaN;
    if (r === r) RF64[k] = r;
    else {
      R[2 * k] = arith64(op, x[d + 2 * k]!, x[d + 2 * k + 1]!, S[2 * k]!, S[2 * k + 1]!);
      R[2 * k + 1] = rhi;
    }
  }
  fpEnd(c);
  wr4(c, i.reg);
};

const sd = (op: number): Handler => (c, i) => {
  sseCheck(c);
  loadS64(c, i);
  fpBegin(c);
  const x = c.xmm, d = i.reg << 2;
  if (op < MIN) {
    const r = fast64(op, c.xmmF64[d >> 1]!, SF64[0]!);
    if (r === r) {
      fpEnd(c);
      c.xmmF64[d >> 1] = r;
      return;
    }
  }
  const lo = arith64(op, x[d]!, x[d + 1]!, S[0]!, S[1]!);
  const hi = rhi;
  fpEnd(c);
  x[d] = lo;
  x[d + 1] = hi;
};

const ARITH: Array<[number, string, number]> = [
  [0x58, 'add', ADD], [0x59, 'mul', MUL], [0x5c, 'sub', SUB], [0x5d, 'min', MIN], [0x5e, 'div', DIV], [0x5f, 'max', MAX],
];
for (const [op, name, k] of ARITH) {
  sdef({ name: name + 'ps', map: MAP_0F, op, prefix: 0, modrm: true, size: 'n', exec: ps(k) });
  sdef({ name: name + 'pd', map: MAP_0F, op, prefix: 0x66, modrm: true, size: 'n', exec: pd(k) });
  sdef({ name: name + 'ss', map: MAP_0F, op, prefix: 0xf3, modrm: true, size: 'n', exec: ss(k) });
  sdef({ name: name + 'sd', map: MAP_0F, op, prefix: 0xf2, modrm: true, size: 'n', exec: sd(k) });
}

// sqrt, rcp, rsqrt (unary on the source)
const ps1 = (fn: (a: number) => number, flags: boolean): Handler => (c, i) => {
  sseCheck(c);
  loadS128(c, i, true);
  if (flags) fpBegin(c);
  R[0] = fn(S[0]!);
  R[1] = fn(S[1]!);
  R[2] = fn(S[2]!);
  R[3] = fn(S[3]!);
  if (flags) fpEnd(c);
  wr4(c, i.reg);
};
const ss1 = (fn: (a: number) => number, flags: boolean): Handler => (c, i) => {
  sseCheck(c);
  const b = loadS32(c, i);
  if (flags) fpBegin(c);
  const r = fn(b);
  if (flags) fpEnd(c);
  c.xmm[i.reg << 2] = r;
};
sdef({ name: 'sqrtps', map: MAP_0F, op: 0x51, prefix: 0, modrm: true, size: 'n', exec: ps1(sqrt32, true) });
sdef({ name: 'sqrtss', map: MAP_0F, op: 0x51, prefix: 0xf3, modrm: true, size: 'n', exec: ss1(sqrt32, true) });
sdef({
  name: 'sqrtpd', map: MAP_0F, op: 0x51, prefix: 0x66, modrm: true, size: 'n',
  exec: (c, i) => {
    sseCheck(c);
    loadS128(c, i, true);
    fpBegin(c);
    R[0] = sqrt64(S[0]!, S[1]!);
    R[1] = rhi;
    R[2] = sqrt64(S[2]!, S[3]!);
    R[3] = rhi;
    fpEnd(c);
    wr4(c, i.reg);
  },
});
sdef({
  name: 'sqrtsd', map: MAP_0F, op: 0x51, prefix: 0xf2, modrm: true, size: 'n',
  exec: (c, i) => {
    sseCheck(c);
    loadS64(c, i);
    fpBegin(c);
    const lo = sqrt64(S[0]!, S[1]!);
    const hi = rhi;
    fpEnd(c);
    c.xmm[i.reg << 2] = lo;
    c.xmm[(i.reg << 2) + 1] = hi;
  },
});
sdef({ name: 'rsqrtps', map: MAP_0F, op: 0x52, prefix: 0, modrm: true, size: 'n', exec: ps1(rsqrt32, false) });
sdef({ name: 'rsqrtss', map: MAP_0F, op: 0x52, prefix: 0xf3, modrm: true, size: 'n', exec: ss1(rsqrt32, false) });
sdef({ name: 'rcpps', map: MAP_0F, op: 0x53, prefix: 0, modrm: true, size: 'n', exec: ps1(rcp32, false) });
sdef({ name: 'rcpss', map: MAP_0F, op: 0x53, prefix: 0xf3, modrm: true, size: 'n', exec: ss1(rcp32, false) });

// ---------------------------------------------------------------- logic (bitwise, integer lanes)

const logic = (kind: number): Handler => (c, i) => {
  sseCheck(c);
  loadS128(c, i, true);
  const x = c.xmm, d = i.reg << 2;
  for (let k = 0; k < 4; k++) {
    const a = x[d + k]!, b = S[k]!;
    x[d + k] = kind === 0 ? a & b : kind === 1 ? ~a & b : kind === 2 ? a | b : a ^ b;
  }
};
for (const [op, name, k] of [[0x54, 'and', 0], [0x55, 'andn', 1], [0x56, 'or', 2], [0x57, 'xor', 3]] as const) {
  sdef({ name: name + 'ps', map: MAP_0F, op, prefix: 0, modrm: true, size: 'n', exec: logic(k) });
  sdef({ name: name + 'pd', map: MAP_0F, op, prefix: 0x66, modrm: true, size: 'n', exec: logic(k) });
}

// ---------------------------------------------------------------- comparisons

sdef({
  name: 'cmpps', map: MAP_0F, op: 0xc2, prefix: 0, modrm: true, size: 'n', imm: 'ub',
  exec: (c, i) => {
    sseCheck(c);
    loadS128(c, i, true);
    fpBegin(c);
    const x = c.xmm, d = i.reg << 2, p = i.immLo & 7;
    for (let k = 0; k < 4; k++) R[k] = cmp32(x[d + k]!, S[k]!, p) ? -1 : 0;
    fpEnd(c);
    wr4(c, i.reg);
  },
});
sdef({
  name: 'cmpss', map: MAP_0F, op: 0xc2, prefix: 0xf3, modrm: true, size: 'n', imm: 'ub',
  exec: (c, i) => {
    sseCheck(c);
    const b = loadS32(c, i);
    fpBegin(c);
    const r = cmp32(c.xmm[i.reg << 2]!, b, i.immLo & 7) ? -1 : 0;
    fpEnd(c);
    c.xmm[i.reg << 2] = r;
  },
});
sdef({
  name: 'cmppd', map: MAP_0F, op: 0xc2, prefix: 0x66, modrm: true, size: 'n', imm: 'ub',
  exec: (c, i) => {
    sseCheck(c);
    loadS128(c, i, true);
    fpBegin(c);
    const x = c.xmm, d = i.reg << 2, p = i.immLo & 7;
    R[0] = R[1] = cmp64(x[d]!, x[d + 1]!, S[0]!, S[1]!, p) ? -1 : 0;
    R[2] = R[3] = cmp64(x[d + 2]!, x[d + 3]!, S[2]!, S[3]!, p) ? -1 : 0;
    fpEnd(c);
    wr4(c, i.reg);
  },
});
sdef({
  name: 'cmpsd', map: MAP_0F, op: 0xc2, prefix: 0xf2, modrm: true, size: 'n', imm: 'ub',
  exec: (c, i) => {
    sseCheck(c);
    loadS64(c, i);
    fpBegin(c);
    const x = c.xmm, d = i.reg << 2;
    const r = cmp64(x[d]!, x[d + 1]!, S[0]!, S[1]!, i.immLo & 7) ? -1 : 0;
    fpEnd(c);
    x[d] = r;
    x[d + 1] = r;
  },
});

const comiss = (quiet: boolean): Handler => (c, i) => {
  sseCheck(c);
  const b = loadS32(c, i);
  fpBegin(c);
  const f = comi32(c.xmm[i.reg << 2]!, b, quiet);
  fpEnd(c);
  c.setArithFlags(f);
};
const comisd = (quiet: boolean): Handler => (c, i) => {
  sseCheck(c);
  loadS64(c, i);
  fpBegin(c);
  const x = c.xmm, d = i.reg << 2;
  const f = comi64(x[d]!, x[d + 1]!, S[0]!, S[1]!, quiet);
  fpEnd(c);
  c.setArithFlags(f);
};
sdef({ name: 'ucomiss', map: MAP_0F, op: 0x2e, prefix: 0, modrm: true, size: 'n', exec: comiss(true) });
sdef({ name: 'ucomisd', map: MAP_0F, op: 0x2e, prefix: 0x66, modrm: true, size: 'n', exec: comisd(true) });
sdef({ name: 'comiss', map: MAP_0F, op: 0x2f, prefix: 0, modrm: true, size: 'n', exec: comiss(false) });
sdef({ name: 'comisd', map: MAP_0F, op: 0x2f, prefix: 0x66, modrm: true, size: 'n', exec: comisd(false) });

// ---------------------------------------------------------------- float ↔ float

sdef({
  name: 'cvtps2pd', map: MAP_0F, op: 0x5a, prefix: 0, modrm: true, size: 'n',
  exec: (c, i) => {
    sseCheck(c);
    loadS64(c, i);
    fpBegin(c);
    R[0] = cvt32to64(S[0]!);
    R[1] = rhi;
    R[2] = cvt32to64(S[1]!);
    R[3] = rhi;
    fpEnd(c);
    wr4(c, i.reg);
  },
});
sdef({
  name: 'cvtpd2ps', map: MAP_0F, op: 0x5a, prefix: 0x66, modrm: true, size: 'n',
  exec: (c, i) => {
    sseCheck(c);
    loadS128(c, i, true);
    fpBegin(c);
    R[0] = cvt64to32(S[0]!, S[1]!);
    R[1] = cvt64to32(S[2]!, S[3]!);
    R[2] = 0;
    R[3] = 0;
    fpEnd(c);
    wr4(c, i.reg);
  },
});
sdef({
  name: 'cvtss2sd', map: MAP_0F, op: 0x5a, prefix: 0xf3, modrm: true, size: 'n',
  exec: (c, i) => {
    sseCheck(c);
    const b = loadS32(c, i);
    fpBegin(c);
    const lo = cvt32to64(b), hi = rhi;
    fpEnd(c);
    c.xmm[i.reg << 2] = lo;
    c.xmm[(i.reg << 2) + 1] = hi;
  },
});
sdef({
  name: 'cvtsd2ss', map: MAP_0F, op: 0x5a, prefix: 0xf2, modrm: true, size: 'n',
  exec: (c, i) => {
    sseCheck(c);
    loadS64(c, i);
    fpBegin(c);
    const r = cvt64to32(S[0]!, S[1]!);
    fpEnd(c);
    c.xmm[i.reg << 2] = r;
  },
});

// ---------------------------------------------------------------- int ↔ float (packed)

sdef({
  name: 'cvtdq2ps', map: MAP_0F, op: 0x5b, prefix: 0, modrm: true, size: 'n',
  exec: (c, i) => {
    sseCheck(c);
    loadS128(c, i, true);
    fpBegin(c);
    for (let k = 0; k < 4; k++) R[k] = i32to32(S[k]!);
    fpEnd(c);
    wr4(c, i.reg);
  },
});
const cvtps2dq = (trunc: boolean): Handler => (c, i) => {
  sseCheck(c);
  loadS128(c, i, true);
  fpBegin(c);
  if (trunc) setTruncate();
  for (let k = 0; k < 4; k++) R[k] = f32toI32(S[k]!);
  fpEnd(c);
  wr4(c, i.reg);
};
sdef({ name: 'cvtps2dq', map: MAP_0F, op: 0x5b, prefix: 0x66, modrm: true, size: 'n', exec: cvtps2dq(false) });
sdef({ name: 'cvttps2dq', map: MAP_0F, op: 0x5b, prefix: 0xf3, modrm: true, size: 'n', exec: cvtps2dq(true) });

sdef({
  name: 'cvtdq2pd', map: MAP_0F, op: 0xe6, prefix: 0xf3, modrm: true, size: 'n',
  exec: (c, i) => {
    sseCheck(c);
    loadS64(c, i);
    const a = S[0]!, b = S[1]!;
    R[0] = b64(a);
    R[1] = rhi;
    R[2] = b64(b);
    R[3] = rhi;
    wr4(c, i.reg);
  },
});
const cvtpd2dq = (trunc: boolean): Handler => (c, i) => {
  sseCheck(c);
  loadS128(c, i, true);
  fpBegin(c);
  if (trunc) setTruncate();
  R[0] = f64toI32(S[0]!, S[1]!);
  R[1] = f64toI32(S[2]!, S[3]!);
  R[2] = 0;
  R[3] = 0;
  fpEnd(c);
  wr4(c, i.reg);
};
sdef({ name: 'cvtpd2dq', map: MAP_0F, op: 0xe6, prefix: 0xf2, modrm: true, size: 'n', exec: cvtpd2dq(false) });
sdef({ name: 'cvttpd2dq', map: MAP_0F, op: 0xe6, prefix: 0x66, modrm: true, size: 'n', exec: cvtpd2dq(true) });

// ---------------------------------------------------------------- int ↔ float (scalar, GPR)

/** Integer source of cvtsi2ss/sd: r/m32 or r/m64 (REX.W). Returns lo, hi in c.hi. */
function intSrc(c: Cpu, i: Insn, w: boolean): number {
  if (i.rm >= 0) {
    c.hi = w ? c.r[2 * i.rm + 1]! : 0;
    return c.r[2 * i.rm]!;
  }
  const a = c.ea(i);
  if (w) return c.read64(a, c.eaHi);
  c.hi = 0;
  return c.read32(a, c.eaHi);
}

sdef({
  name: 'cvtsi2ss', map: MAP_0F, op: 0x2a, prefix: 0xf3, modrm: true, size: 'n',
  make: (size) => {
    const w = size === 8;
    return (c, i) => {
      sseCheck(c);
      const lo = intSrc(c, i, w), hi = c.hi;
      fpBegin(c);
      const r = w ? i64to32(lo, hi) : i32to32(lo);
      fpEnd(c);
      c.xmm[i.reg << 2] = r;
    };
  },
});
sdef({
  name: 'cvtsi2sd', map: MAP_0F, op: 0x2a, prefix: 0xf2, modrm: true, size: 'n',
  make: (size) => {
    const w = size === 8;
    return (c, i) => {
      sseCheck(c);
      const lo = intSrc(c, i, w), hi = c.hi;
      fpBegin(c);
      const r = w ? i64to64(lo, hi) : b64(lo);
      const rh = rhi;
      fpEnd(c);
      c.xmm[i.reg << 2] = r;
      c.xmm[(i.reg << 2) + 1] = rh;
    };
  },
});

const cvtss2si = (trunc: boolean) => (size: number): Handler => {
  const w = size === 8;
  return (c, i) => {
    sseCheck(c);
    const b = loadS32(c, i);
    fpBegin(c);
    if (trunc) setTruncate();
    const lo = w ? f32toI64(b) : f32toI32(b);
    const hi = w ? rhi : 0;
    fpEnd(c);
    c.r[2 * i.reg] = lo;
    c.r[2 * i.reg + 1] = hi;
  };
};
const cvtsd2si = (trunc: boolean) => (size: number): Handler => {
  const w = size === 8;
  return (c, i) => {
    sseCheck(c);
    loadS64(c, i);
    fpBegin(c);
    if (trunc) setTruncate();
    const lo = w ? f64toI64(S[0]!, S[1]!) : f64toI32(S[0]!, S[1]!);
    const hi = w ? rhi : 0;
    fpEnd(c);
    c.r[2 * i.reg] = lo;
    c.r[2 * i.reg + 1] = hi;
  };
};
sdef({ name: 'cvttss2si', map: MAP_0F, op: 0x2c, prefix: 0xf3, modrm: true, size: 'n', make: cvtss2si(true) });
sdef({ name: 'cvttsd2si', map: MAP_0F, op: 0x2c, prefix: 0xf2, modrm: true, size: 'n', make: cvtsd2si(true) });
sdef({ name: 'cvtss2si', map: MAP_0F, op: 0x2d, prefix: 0xf3, modrm: true, size: 'n', make: cvtss2si(false) });
sdef({ name: 'cvtsd2si', map: MAP_0F, op: 0x2d, prefix: 0xf2, modrm: true, size: 'n', make: cvtsd2si(false) });
