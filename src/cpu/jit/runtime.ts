/**
 * Run-time helpers for JIT-compiled blocks: the cold paths that generated
 * code calls instead of inlining (flags from the lazy record when the
 * compiler does not know which operation produced it, read-modify-write
 * across pages, 64-bit multiply).
 *
 * Hot helpers here use numeric literals rather than imported constants:
 * under the CommonJS transform some loaders apply to these modules, every
 * imported binding is a getter call. Literal values are the ones of
 * state.ts (CF 0x1, PF 0x4, AF 0x10, ZF 0x40, SF 0x80, OF 0x800) and
 * flags.ts (lf: 0 op, 1 res, 2 resH, 3 a, 4 aH, 5 b, 6 bH, 7 aux; families
 * 0 EFLAGS, 1 ADD, 2 ADC, 3 SUB, 4 SBB, 5 LOGIC, 6 INC, 7 DEC, 8 SHL,
 * 9 SHR, 10 SAR, 11 MUL; size index 0..3 = 8..64 bits). The unit test
 * test/jit.test.ts checks them against flags.ts.
 */
import type { Cpu } from '../cpu.ts';
import { rmwRead } from '../ops/operand.ts';

/** PF (0x4) for each low byte value. */
export const PARITY_PF = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let x = i, p = 1;
  while (x) {
    p ^= x & 1;
    x >>>= 1;
  }
  PARITY_PF[i] = p ? 4 : 0;
}

function signOf(size: number, lo: number, hi: number): boolean {
  switch (size) {
    case 0: return (lo & 0x80) !== 0;
    case 1: return (lo & 0x8000) !== 0;
    case 2: return (lo | 0) < 0;
    default: return (hi | 0) < 0;
  }
}

function belowU(size: number, aL: number, aH: number, bL: number, bH: number): boolean {
  if (size === 3 && aH !== bH) return aH >>> 0 < bH >>> 0;
  return aL >>> 0 < bL >>> 0;
}

/** CF from a lazy record (family != EFLAGS). */
function lazyCf(lf: Int32Array): boolean {
  const op = lf[0]!;
  const fam = op >> 2, size = op & 3;
  switch (fam) {
    case 1: return belowU(size, lf[1]!, lf[2]!, lf[3]!, lf[4]!);
    case 2: {
      if (belowU(size, lf[1]!, lf[2]!, lf[3]!, lf[4]!)) return true;
      return lf[7] !== 0 && lf[1] === lf[3] && (size !== 3 || lf[2] === lf[4]);
    }
    case 3: return belowU(size, lf[3]!, lf[4]!, lf[5]!, lf[6]!);
    case 4: {
      if (belowU(size, lf[3]!, lf[4]!, lf[5]!, lf[6]!)) return true;
      return lf[7] !== 0 && lf[3] === lf[5] && (size !== 3 || lf[4] === lf[6]);
    }
    case 5: return false;
    default: return lf[7] !== 0;
  }
}

/** OF from a lazy record (family != EFLAGS). */
function lazyOf(lf: Int32Array): boolean {
  const op = lf[0]!;
  const fam = op >> 2, size = op & 3;
  const rL = lf[1]!, rH = lf[2]!;
  switch (fam) {
    case 1: case 2:
      return signOf(size, (lf[3]! ^ rL) & (lf[5]! ^ rL), (lf[4]! ^ rH) & (lf[6]! ^ rH));
    case 3: case 4:
      return signOf(size, (lf[3]! ^ lf[5]!) & (lf[3]! ^ rL), (lf[4]! ^ lf[6]!) & (lf[4]! ^ rH));
    case 6:
      return size === 3 ? rL === 0 && rH === (0x80000000 | 0) : size === 2 ? rL === (0x80000000 | 0) : size === 1 ? rL === 0x8000 : rL === 0x80;
    case 7:
      return size === 3 ? rL === -1 && rH === 0x7fffffff : size === 2 ? rL === 0x7fffffff : size === 1 ? rL === 0x7fff : rL === 0x7f;
    case 8: return signOf(size, rL, rH) !== (lf[7] !== 0);
    case 9: return signOf(size, lf[3]!, lf[4]!);
    case 11: return lf[7] !== 0;
    default: return false;
  }
}

function lazyAf(lf: Int32Array): boolean {
  switch (lf[0]! >> 2) {
    case 1: case 2: case 3: case 4: return ((lf[3]! ^ lf[5]! ^ lf[1]!) & 0x10) !== 0;
    case 6: return (lf[1]! & 0xf) === 0;
    case 7: return (lf[1]! & 0xf) === 0xf;
    default: return false;
  }
}

/** The six arithmetic flags of a lazy record (family != EFLAGS). */
export function lazyArith(lf: Int32Array): number {
  const op = lf[0]!;
  const size = op & 3;
  const rL = lf[1]!, rH = lf[2]!;
  const z = size === 3 ? (rL | rH) === 0 : rL === 0;
  return (
    (lazyCf(lf) ? 0x1 : 0) |
    PARITY_PF[rL & 0xff]! |
    (lazyAf(lf) ? 0x10 : 0) |
    (z ? 0x40 : 0) |
    (signOf(size, rL, rH) ? 0x80 : 0) |
    (lazyOf(lf) ? 0x800 : 0)
  );
}

/** Condition `cc` from RFLAGS bits. */
function ccOf(f: number, cc: number): boolean {
  let r: boolean;
  switch (cc >> 1) {
    case 0: r = (f & 0x800) !== 0; break;
    case 1: r = (f & 0x1) !== 0; break;
    case 2: r = (f & 0x40) !== 0; break;
    case 3: r = (f & 0x41) !== 0; break;
    case 4: r = (f & 0x80) !== 0; break;
    case 5: r = (f & 0x4) !== 0; break;
    case 6: r = ((f & 0x80) !== 0) !== ((f & 0x800) !== 0); break;
    default: r = (f & 0x40) !== 0 || ((f & 0x80) !== 0) !== ((f & 0x800) !== 0); break;
  }
  return (cc & 1) === 0 ? r : !r;
}

// ---------------------------------------------------------------- flags held in locals

/** Scratch record for the helpers below (compiled code keeps lf in locals f0..f7). */
const REC = new Int32Array(8);

function loadRec(f0: number, f1: number, f2: number, f3: number, f4: number, f5: number, f6: number, f7: number): Int32Array {
  const t = REC;
  t[0] = f0; t[1] = f1; t[2] = f2; t[3] = f3; t[4] = f4; t[5] = f5; t[6] = f6; t[7] = f7;
  return t;
}

/** CF (0/1) of the record f0..f7 (f0 = 0: the flags are in c.flags). */
export function cfL(c: Cpu, f0: number, f1: number, f2: number, f3: number, f4: number, f5: number, f6: number, f7: number): number {
  if (f0 === 0) return c.flags & 1;
  return lazyCf(loadRec(f0, f1, f2, f3, f4, f5, f6, f7)) ? 1 : 0;
}

/** Condition cc of the record f0..f7. */
function condL(c: Cpu, cc: number, f0: number, f1: number, f2: number, f3: number, f4: number, f5: number, f6: number, f7: number): boolean {
  if (f0 === 0) return ccOf(c.flags, cc);
  const k = cc >> 1, size = f0 & 3;
  let r: boolean;
  if (k === 2) r = size === 3 ? (f1 | f2) === 0 : f1 === 0;
  else if (k === 4) r = signOf(size, f1, f2);
  else return ccOf(lazyArith(loadRec(f0, f1, f2, f3, f4, f5, f6, f7)), cc);
  return (cc & 1) === 0 ? r : !r;
}

/** One function per condition code (the condition a constant in each, for monomorphic call sites). */
export const COND_L: Array<(c: Cpu, f0: number, f1: number, f2: number, f3: number, f4: number, f5: number, f6: number, f7: number) => boolean> = [];
for (let cc = 0; cc < 16; cc++) {
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- a specialised copy per condition
  COND_L.push(new Function('condL', `return function condL${cc}(c, f0, f1, f2, f3, f4, f5, f6, f7) { return condL(c, ${cc}, f0, f1, f2, f3, f4, f5, f6, f7); }`)(condL) as (typeof COND_L)[number]);
}

/**
 * A rotate's flags: CF and OF replaced, the others from the record f0..f7
 * (or c.flags when f0 = 0). Returns the new c.flags; the caller sets f0 = 0.
 */
export function setCfOfL(c: Cpu, f0: number, f1: number, f2: number, f3: number, f4: number, f5: number, f6: number, f7: number, cf: number, of: number): number {
  let fl = c.flags;
  if (f0 !== 0) fl = (fl & ~0x8d5) | lazyArith(loadRec(f0, f1, f2, f3, f4, f5, f6, f7));
  return (fl & ~0x801) | (cf ? 0x1 : 0) | (of ? 0x800 : 0);
}

// ---------------------------------------------------------------- memory accesses through one shared function

/** Access kinds of `memAccess`: size index (0: 8 … 3: 64 bits) + 0 read, 4 write, 8 read for a read-modify-write. */
export const MEM_READ = 0, MEM_WRITE = 4, MEM_RMW = 8;

/**
 * One memory access of compiled code (the compact form: a call instead of
 * the inline TLB fast path, which makes V8 compile blocks several times
 * faster). `k`: the instruction's index in its block (c.faultIndex on a
 * fault); `vec`: #GP (13) / #SS (12) when the address must be checked
 * canonical first, 0 when not. Reads return the low half (high half in
 * c.hi); a read for read-modify-write also sets c.rmwOff (finish with
 * rmwWrite in ops/operand.ts). Deliberately one big function: V8 does not inline it into
 * every block.
 */
export function memAccess(c: Cpu, kind: number, lo: number, hi: number, val: number, valHi: number, k: number, vec: number): number {
  c.faultIndex = k;
  if (vec !== 0 && (hi << 16) >> 16 !== hi) throw c.fault(vec, 0);
  switch (kind) {
    case 0: c.hi = 0; return c.read8(lo, hi);
    case 1: c.hi = 0; return c.read16(lo, hi);
    case 2: c.hi = 0; return c.read32(lo, hi);
    case 3: return c.read64(lo, hi);
    case 4: c.write8(lo, hi, val); return 0;
    case 5: c.write16(lo, hi, val); return 0;
    case 6: c.write32(lo, hi, val); return 0;
    case 7: c.write64(lo, hi, val, valHi); return 0;
    case 8: return rmwRead(c, 1, lo, hi);
    case 9: return rmwRead(c, 2, lo, hi);
    case 10: return rmwRead(c, 4, lo, hi);
    case 11: return rmwRead(c, 8, lo, hi);
    default: {
      // Not reached; keeps the function above V8's inlining size limit (max_inlined_bytecode_size).
      let x = kind;
      for (let n = 0; n < 8; n++) {
        x = (Math.imul(x, 0x9e3779b1) ^ (x >>> 15) ^ lo ^ hi ^ val ^ valHi ^ k ^ vec) | 0;
        x = (x + ((x << 7) ^ (x >>> 3)) + Math.imul(lo, n) + Math.imul(hi, n + 1)) | 0;
        x = (x ^ ((x >>> 11) | (x << 21)) ^ Math.imul(val, n + 2) ^ Math.imul(valHi, n + 3)) | 0;
        x = (x + ((k << 3) | (vec >>> 2)) + ((x & 0xff) << 8) + ((x >>> 24) & 0xff)) | 0;
      }
      throw new Error(`jit: bad memory access kind ${kind} (${x})`);
    }
  }
}

// ---------------------------------------------------------------- multiply

/** High 32 bits of the unsigned product of two 32-bit values. */
function mulHiU32(a: number, b: number): number {
  const aL = a & 0xffff, aH = a >>> 16, bL = b & 0xffff, bH = b >>> 16;
  const ll = aL * bL, lh = aL * bH, hl = aH * bL, hh = aH * bH;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (hh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) | 0;
}

/**
 * High 32 bits of the truncated 64×64 product (imul r64 whose flags nothing
 * observes: the low 32 bits are Math.imul(aL, bL)). Signed and unsigned
 * truncated products are the same bits.
 */
export function mulLo64Hi(aL: number, aH: number, bL: number, bH: number): number {
  return (mulHiU32(aL, bL) + Math.imul(aL, bH) + Math.imul(aH, bL)) | 0;
}

/** Result of imul64: high half of the truncated product and the overflow flag. */
export const mulOut = { hi: 0, ov: 0 };

/**
 * Truncating signed 64×64 multiply (imul r64, r/m64[, imm]): returns the
 * low 32 bits of the product; mulOut.hi the next 32; mulOut.ov 1 when the
 * full signed product does not fit in 64 bits.
 */
export function imul64(aL: number, aH: number, bL: number, bH: number): number {
  // Unsigned 128-bit product in 32-bit words w0..w3.
  const w0 = Math.imul(aL, bL);
  const p0h = mulHiU32(aL, bL);
  const p1 = Math.imul(aL, bH), p1h = mulHiU32(aL, bH);
  const p2 = Math.imul(aH, bL), p2h = mulHiU32(aH, bL);
  const p3 = Math.imul(aH, bH), p3h = mulHiU32(aH, bH);
  let s = (p0h >>> 0) + (p1 >>> 0) + (p2 >>> 0);
  const w1 = s | 0;
  let carry = Math.floor(s / 4294967296);
  s = (p1h >>> 0) + (p2h >>> 0) + (p3 >>> 0) + carry;
  let w2 = s | 0;
  carry = Math.floor(s / 4294967296);
  let w3 = (p3h + carry) | 0;
  // Signed correction of the high 64 bits.
  if (aH < 0) {
    const d = (w2 >>> 0) - (bL >>> 0);
    w2 = d | 0;
    w3 = (w3 - bH - (d < 0 ? 1 : 0)) | 0;
  }
  if (bH < 0) {
    const d = (w2 >>> 0) - (aL >>> 0);
    w2 = d | 0;
    w3 = (w3 - aH - (d < 0 ? 1 : 0)) | 0;
  }
  const ext = w1 >> 31;
  mulOut.hi = w1;
  mulOut.ov = w2 !== ext || w3 !== ext ? 1 : 0;
  return w0;
}
