/**
 * x87 FPU and fxsave/fxrstor: differential tests against the host CPU.
 *
 * Every x87 entry of the opcode table (escape opcodes D8-DF, fwait, 0F AE /0
 * /1) is run in all its encodings (each ST(i) of the register forms) from
 * random machine states: random FCW (all rounding and precision controls,
 * sometimes unmasked exceptions), random FSW flags, TOP and empty registers,
 * and operands drawn from the interesting classes (±0, ±inf, QNaN/SNaN,
 * denormals, pseudo-denormals, unnormals, pseudo-NaN/inf, huge/tiny
 * exponents, rounding ties at 24/53/64 bits, integer boundaries, related
 * operands that cancel). Directed cases then cover what random states hit
 * rarely: overflow/underflow responses (masked and unmasked, register and
 * memory destinations), fprem partial remainders, fist overflow, BCD
 * limits, constants under every rounding mode, #MF delivery, alignment
 * faults, save-area round trips. Emulator-only tests cover #NM and the
 * instruction/operand pointers (which this AMD-style host does not save).
 *
 * Transcendental results (computed through doubles, see x87-trans.ts) are
 * compared with a tolerance of 2^-50 relative (plus a term for argument
 * reduction of huge arguments); their C1/PE/UE flags are not compared.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OPS, MAP_0F, MAP_1B, type OpSpec } from '../src/cpu/table.ts';
import { decodeAt } from '../src/cpu/decoder.ts';
import { Cpu } from '../src/cpu/cpu.ts';
import { Exit, MF, NM, RIP } from '../src/cpu/state.ts';
import { PagedMemory, PROT_EXEC, PROT_READ, PROT_WRITE } from '../src/mmu/paged-memory.ts';
import { REPO } from './helpers/images.ts';
import {
  CODE_ADDR, DATA_ADDR, DATA_SIZE, assemble, diffOutcomes, f80ToNumber, makeRng, nativeAvailable, runEmulated,
  runNative, zeroState, type MachineState, type Outcome,
} from './helpers/native.ts';

type F80 = [number, bigint];
type Rng = () => number;
const H = 1n << 63n;
const M64 = (1n << 64n) - 1n;

// ------------------------------------------------------------------ the table

/** The x87 entries of the opcode table. */
function x87Specs(): OpSpec[] {
  return OPS.filter(
    (s) =>
      (s.map === MAP_1B && ((s.op >= 0xd8 && s.op <= 0xdf) || s.op === 0x9b)) ||
      (s.map === MAP_0F && s.op === 0xae && (s.ext === 0 || s.ext === 1) && s.mod === 'mem'),
  );
}

/** Memory operand kind of a memory form. */
function memKind(s: OpSpec): string {
  if (s.map === MAP_0F) return s.ext === 0 ? 'fxsave' : 'fxrstor';
  const e = s.ext!;
  switch (s.op) {
    case 0xd8: return 'f32';
    case 0xdc: return 'f64';
    case 0xda: return 'i32';
    case 0xde: return 'i16';
    case 0xd9: return ['f32', '', 'f32', 'f32', 'env', 'cw', 'env', 'cw'][e]!;
    case 0xdb: return ['i32', 'i32', 'i32', 'i32', '', 'f80', '', 'f80'][e]!;
    case 0xdd: return ['f64', 'i64', 'f64', 'f64', 'save', '', 'save', 'sw'][e]!;
    default: return ['i16', 'i16', 'i16', 'i16', 'bcd', 'i64', 'bcd', 'i64'][e]!;
  }
}

/** Offset of memory operands in the data area ([rbx + OFF], RBX = DATA_ADDR). */
const OFF = 0x100;

/** Encodings of a table entry: [bytes, label]. Memory forms use [rbx + OFF] (mod 10, disp32). */
function encodings(s: OpSpec): Array<[number[], string]> {
  if (s.map === MAP_1B && s.op === 0x9b) return [[[0x9b], 'fwait']];
  const disp = [OFF & 0xff, OFF >> 8, 0, 0];
  if (s.mod === 'mem') {
    const modrm = 0x80 | (s.ext! << 3) | 3;
    if (s.map === MAP_0F) return [[[0x0f, s.op, modrm, ...disp], `${s.name}`], [[0x48, 0x0f, s.op, modrm, ...disp], `${s.name}64`]];
    const k = memKind(s);
    const out: Array<[number[], string]> = [[[s.op, modrm, ...disp], `${s.name} m(${k})`]];
    if (k === 'env' || k === 'save') out.push([[0x66, s.op, modrm, ...disp], `${s.name} m(16-bit ${k})`]);
    return out;
  }
  const rms = s.rmField !== undefined ? [s.rmField] : [0, 1, 2, 3, 4, 5, 6, 7];
  return rms.map((rm) => {
    const m = 0xc0 | (s.ext! << 3) | rm;
    return [[s.op, m], `${s.name} (${s.op.toString(16)} ${m.toString(16)})`];
  });
}

// ------------------------------------------------------------------ values

const pick = <T,>(r: Rng, a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
function rbits(r: Rng, n: number): bigint {
  let v = 0n;
  for (let k = 0; k < n; k += 30) v = (v << 30n) | BigInt(Math.floor(r() * 0x40000000));
  return v & ((1n << BigInt(n)) - 1n);
}

/** A significand (bit 63 set) with patterns that stress rounding at 24/53/64 bits. */
function sig(r: Rng): bigint {
  const x = r();
  let s = H | rbits(r, 63);
  if (x < 0.15) {
    const keep = BigInt(pick(r, [24, 53, 63, 1, 2, 10]));
    s &= ~((1n << (64n - keep)) - 1n);
    if (r() < 0.6) {
      const pos = 64n - keep - 1n;
      if (pos >= 0n) {
        s |= 1n << pos; // exactly half-way
        if (r() < 0.4 && pos > 0n) s |= 1n; // just above
      }
    }
  } else if (x < 0.25) s = (M64 ^ rbits(r, pick(r, [1, 3, 11, 12, 40, 41]))) | H;
  else if (x < 0.3) s = H;
  return s;
}

/** An extended value from the interesting classes; `center`: often a normal value near that exponent. */
function f80(r: Rng, center?: number): F80 {
  const sign = r() < 0.5 ? 0x8000 : 0;
  const x = r();
  if (center !== undefined && x < 0.7) {
    const e = Math.max(1, Math.min(0x7ffe, center + Math.floor((r() - 0.5) * pick(r, [2, 6, 70, 140]))));
    return [sign | e, sig(r)];
  }
  if (x < 0.05) return [sign, 0n];
  if (x < 0.09) return [sign | 0x7fff, H];
  if (x < 0.12) return [sign | 0x7fff, (3n << 62n) | (r() < 0.5 ? 0n : rbits(r, 62))]; // QNaN
  if (x < 0.15) return [sign | 0x7fff, (2n << 62n) | (rbits(r, 62) | 1n)]; // SNaN
  if (x < 0.18) return [sign, rbits(r, pick(r, [1, 10, 40, 63])) | 1n]; // denormal
  if (x < 0.19) return [sign, H | rbits(r, 63)]; // pseudo-denormal
  if (x < 0.2) return [sign | (1 + Math.floor(r() * 0x7ffe)), rbits(r, 62)]; // unnormal
  if (x < 0.21) return [sign | 0x7fff, rbits(r, 63)]; // pseudo-NaN / pseudo-infinity
  if (x < 0.25) return [sign | pick(r, [0x3fff, 0x4000, 0x3ffe, 0x401d, 0x403e, 0x403d, 0x400e, 0x401e, 0x400f, 0x403a]), sig(r)];
  if (x < 0.32) return [sign | (0x3fff + Math.floor(r() * 64)), sig(r)]; // integer range
  if (x < 0.4) {
    const e = pick(r, [16383 - 1022, 16383 - 1023, 16383 - 1074, 16383 - 1060, 16383 + 1023, 16383 + 1024, 16383 - 126, 16383 - 127, 16383 - 149, 16383 - 140, 16383 + 127, 16383 + 128, 1, 2, 0x7ffe, 0x7ffd]);
    return [sign | e, sig(r)];
  }
  if (x < 0.45) return [sign | (1 + Math.floor(r() * 0x7ffe)), sig(r)];
  return [sign | (0x3fff + Math.floor((r() - 0.5) * 40)), sig(r)];
}

function f32(r: Rng): bigint {
  const x = r();
  const s = r() < 0.5 ? 0x80000000 : 0;
  let v: number;
  if (x < 0.05) v = s;
  else if (x < 0.1) v = s | 0x7f800000;
  else if (x < 0.15) v = s | 0x7fc00000 | Math.floor(r() * 0x400000);
  else if (x < 0.2) v = s | 0x7f800000 | (1 + Math.floor(r() * 0x3fffff));
  else if (x < 0.3) v = s | Math.floor(r() * 0x800000);
  else if (x < 0.6) v = s | ((127 + Math.floor((r() - 0.5) * 30)) << 23) | Math.floor(r() * 0x800000);
  else v = s | Math.floor(r() * 0x80000000);
  return BigInt(v >>> 0);
}

function f64(r: Rng): bigint {
  const x = r();
  const s = r() < 0.5 ? H : 0n;
  if (x < 0.05) return s;
  if (x < 0.1) return s | (0x7ffn << 52n);
  if (x < 0.15) return s | (0xfffn << 51n) | rbits(r, 51);
  if (x < 0.2) return s | (0x7ffn << 52n) | (rbits(r, 51) | 1n);
  if (x < 0.3) return s | rbits(r, 52);
  if (x < 0.6) return s | (BigInt(1023 + Math.floor((r() - 0.5) * 60)) << 52n) | rbits(r, 52);
  return s | rbits(r, 63);
}

function int(r: Rng, bits: number): bigint {
  const b = BigInt(bits);
  const min = -(1n << (b - 1n)), max = (1n << (b - 1n)) - 1n;
  const x = r();
  let v: bigint;
  if (x < 0.2) v = pick(r, [0n, 1n, -1n, min, max, min + 1n, max - 1n, 2n, 10n, -10n]);
  else if (x < 0.5) v = BigInt.asIntN(bits, rbits(r, bits));
  else v = BigInt.asIntN(bits, rbits(r, Math.floor(r() * bits) + 1));
  return BigInt.asUintN(bits, v);
}

function le(v: bigint, n: number): number[] {
  const out: number[] = [];
  for (let k = 0; k < n; k++) out.push(Number((v >> BigInt(8 * k)) & 0xffn));
  return out;
}
const f80Bytes = (v: F80): number[] => [...le(v[1], 8), ...le(BigInt(v[0]), 2)];

// ------------------------------------------------------------------ x87 states

interface X87State {
  cw: number;
  sw: number;
  top: number;
  /** ST(0)..ST(7); undefined = empty. */
  st: Array<F80 | undefined>;
}

function randomX87(r: Rng, unmaskedRate = 0.1): X87State {
  const rc = Math.floor(r() * 4), pc = pick(r, [3, 3, 2, 0, 1]);
  const masks = r() < unmaskedRate ? Math.floor(r() * 64) : 0x3f;
  const cw = 0x40 | (rc << 10) | (pc << 8) | masks | (r() < 0.1 ? 0x1000 : 0);
  let sw = r() < 0.3 ? Math.floor(r() * 0x80) & 0x7f : 0;
  if (r() < 0.3) sw |= (Math.floor(r() * 16) << 8) & 0x4700;
  // Pending unmasked exceptions make every waiting instruction fault: keep a few.
  if (sw & ~cw & 0x3f && r() < 0.8) sw &= cw | ~0x3f;
  const top = Math.floor(r() * 8);
  const center = 0x3fff + Math.floor((r() - 0.5) * 20);
  const related = r() < 0.5;
  const st: Array<F80 | undefined> = [];
  for (let i = 0; i < 8; i++) st.push(r() < 0.08 ? undefined : f80(r, related ? center : undefined));
  return { cw, sw, top, st };
}

/** An fxsave image of an x87 state (ES/B consistent with the flags, as fxrstor makes them). */
function fxImage(s: X87State): Uint8Array {
  const b = Buffer.alloc(512);
  b.writeUInt16LE(s.cw, 0);
  let sw = s.sw & ~0xb800;
  if (sw & ~s.cw & 0x3f) sw |= 0x8080;
  b.writeUInt16LE(sw | (s.top << 11), 2);
  let tag = 0;
  s.st.forEach((v, i) => {
    // Empty registers keep stale contents, as on hardware.
    b.set(f80Bytes(v ?? [0x1234, 0x0123456789abcdefn]), 32 + 16 * i);
    if (v) tag |= 1 << ((s.top + i) & 7);
  });
  b[4] = tag;
  b.writeUInt32LE(0x1f80, 24);
  return new Uint8Array(b);
}

/** The bytes of a random memory operand of a kind. */
function operandBytes(r: Rng, kind: string): number[] {
  switch (kind) {
    case 'f32': return le(f32(r), 4);
    case 'f64': return le(f64(r), 8);
    case 'i16': return le(int(r, 16), 2);
    case 'i32': return le(int(r, 32), 4);
    case 'i64': return le(int(r, 64), 8);
    case 'f80': return f80Bytes(f80(r));
    case 'cw': return le(BigInt(Math.floor(r() * 0x10000) & (r() < 0.7 ? 0x1f3f : 0xffff)) | 0x3fn, 2);
    case 'bcd': {
      const b: number[] = [];
      for (let k = 0; k < 9; k++) b.push(r() < 0.9 ? Math.floor(r() * 10) * 16 + Math.floor(r() * 10) : Math.floor(r() * 256));
      b.push(r() < 0.5 ? 0x80 : 0);
      return b;
    }
    case 'fxrstor': {
      const img = fxImage(randomX87(r));
      // MXCSR: valid bits (bit 17, which this AMD host accepts, is left out), sometimes reserved bits (#GP).
      const mx = r() < 0.1 ? Math.floor(r() * 0x20000) : 0x1f80 | Math.floor(r() * 0x7f) | (Math.floor(r() * 4) << 13);
      new DataView(img.buffer).setUint32(24, mx, true);
      for (let k = 160; k < 416; k++) img[k] = Math.floor(r() * 256);
      for (let k = 6; k < 24; k++) img[k] = Math.floor(r() * 256); // FOP, FIP, FDP
      return [...img.subarray(0, 416)];
    }
    case 'env': case 'save': {
      const s = randomX87(r);
      let tag = 0;
      for (let p = 0; p < 8; p++) tag |= (s.st[(p - s.top) & 7] ? Math.floor(r() * 3) : 3) << (2 * p);
      if (r() < 0.1) tag = Math.floor(r() * 0x10000);
      let sw = s.sw & ~0x3800;
      if (r() < 0.2) sw |= 0x8080; // a stale ES: recomputed on load
      const b = [...le(BigInt(0xffff0000 | s.cw), 4), ...le(BigInt(0xffff0000 | sw | (s.top << 11)), 4), ...le(BigInt(0xffff0000 | tag), 4)];
      for (let k = 12; k < 28; k++) b.push(Math.floor(r() * 256));
      for (let i = 0; i < 8; i++) b.push(...f80Bytes(s.st[i] ?? f80(r)));
      return b;
    }
    default: return [];
  }
}

/**
 * Code that stores `bytes` at [rbx + OFF] (movabs r11, imm64; mov [rbx + d], r11), so that
 * every case shares one data area (the native runner then sends it only once).
 */
function storePrefix(bytes: number[], at = OFF): number[] {
  const out: number[] = [];
  const b = [...bytes];
  while (b.length % 8) b.push(0);
  for (let k = 0; k < b.length; k += 8) {
    out.push(0x49, 0xbb, ...b.slice(k, k + 8)); // movabs r11, imm64
    const d = at + k;
    out.push(0x4c, 0x89, 0x9b, d & 0xff, (d >> 8) & 0xff, 0, 0); // mov [rbx + d], r11
  }
  return out;
}

// ------------------------------------------------------------------ running and comparing

const SHARED_DATA = new Uint8Array(DATA_SIZE);

interface Case {
  label: string;
  name: string;
  code: Uint8Array;
  init: MachineState;
  /** Data-area ranges not compared (instruction/operand pointers this host does not save, MXCSR_MASK). */
  dataMask?: Array<[number, number]>;
  /** FSW bits not compared. */
  swMask?: number;
  /** Compare ST registers with the transcendental tolerance. */
  tolerant?: boolean;
  /** Skip comparing the result entirely (undefined behaviour, e.g. fyl2xp1 outside its domain): only run both. */
  dontCare?: boolean;
}

function stateFor(x: X87State, r?: Rng): MachineState {
  const s = zeroState();
  s.data = SHARED_DATA;
  s.gpr[3] = BigInt(DATA_ADDR);
  s.gpr[0] = 0x1122334455667788n;
  s.fx = fxImage(x);
  if (r) s.rflags = 2 | (r() < 0.5 ? 1 : 0) | (r() < 0.5 ? 4 : 0) | (r() < 0.5 ? 0x40 : 0) | (r() < 0.3 ? 0x880 : 0);
  return s;
}

const TRANS = new Set(['fsin', 'fcos', 'fsincos', 'fptan', 'fpatan', 'fyl2x', 'fyl2xp1', 'f2xm1']);

/** Relative distance of two 80-bit values (Infinity when not comparable). */
function f80Distance(a: Uint8Array, b: Uint8Array): number {
  const va = Buffer.from(a), vb = Buffer.from(b);
  const sa = va.readUInt16LE(8), sb = vb.readUInt16LE(8);
  if ((sa & 0x8000) !== (sb & 0x8000)) return Infinity;
  const ma = va.readBigUInt64LE(0), mb = vb.readBigUInt64LE(0);
  const ea = sa & 0x7fff, eb = sb & 0x7fff;
  if (ea === 0x7fff || eb === 0x7fff) return va.equals(vb) ? 0 : Infinity;
  // Denormal results carry fewer bits: allow a couple of units in the last place.
  if (Math.max(ea, eb) <= 1 && ma - mb <= 2n && mb - ma <= 2n) return 0;
  // Value = m · 2^(e - 63); compare at the larger exponent.
  const e = Math.max(ea, eb);
  const xa = Number(ma) * 2 ** (ea - e), xb = Number(mb) * 2 ** (eb - e);
  const big = Math.max(Math.abs(xa), Math.abs(xb));
  return big === 0 ? 0 : Math.abs(xa - xb) / big;
}

/** Copy into `emu` what is tolerated: close transcendental results, and the masked FSW bits. */
function tolerate(c: Case, nat: Outcome, emu: Outcome, input?: number): void {
  if (nat.kind !== 'ok' || emu.kind !== 'ok') return;
  const a = nat.state.fx!, b = emu.state.fx!;
  const m = c.swMask ?? 0;
  const swA = a[2]! | (a[3]! << 8), swB = b[2]! | (b[3]! << 8);
  const sw = (swB & ~m) | (swA & m);
  b[2] = sw & 0xff;
  b[3] = sw >> 8;
  if (!c.tolerant) return;
  // Huge trig arguments: the reduced argument carries an absolute error of about |x|·2^-66 on hardware.
  const slack = input !== undefined && Number.isFinite(input) ? Math.abs(input) * 2 ** -62 : 0;
  for (let i = 0; i < 8; i++) {
    const o = 32 + 16 * i;
    const x = a.subarray(o, o + 10), y = b.subarray(o, o + 10);
    const d = f80Distance(x, y);
    const mag = Math.abs(f80ToNumber(x));
    if (d <= 2 ** -50 || (slack > 0 && d * mag <= slack + mag * 2 ** -50)) b.set(x, o);
  }
}

/** Run cases natively and emulated; returns failure descriptions. */
function runCases(cases: Case[]): string[] {
  const nat = runNative(cases.map((c) => ({ code: c.code, init: c.init })));
  const fails: string[] = [];
  cases.forEach((c, k) => {
    const emu = runEmulated(c.code, c.init);
    const n = nat[k]!;
    if (c.dontCare) return;
    // For the transcendentals: the operand ST(0) (the fxsave image lists registers in stack order).
    const input = c.tolerant ? f80ToNumber(c.init.fx!, 32) : undefined;
    tolerate(c, n, emu, input);
    const d = diffOutcomes(n, emu, { fx: true, dataMask: c.dataMask });
    if (d.length) fails.push(`${c.label} [${Buffer.from(c.code).toString('hex')}]\n    ${d.join('\n    ')}`);
  });
  return fails;
}

/** FSW bits not compared per instruction (documented differences between the SDM and this host, or undefined). */
function swMaskFor(name: string): number {
  if (TRANS.has(name)) return 0x0230; // C1 (rounded up), PE, UE: not modelled for doubles-based results
  if (/^f(u)?comip?$/.test(name)) return 0x0200; // C1: the SDM says 0, AMD leaves it
  return 0;
}

/** Pointer fields of save areas: this host (AMD) stores them only with ES set; ours always. */
function maskFor(name: string, prefix16: boolean): Array<[number, number]> | undefined {
  if (name === 'fxsave') return [[OFF + 6, OFF + 24], [OFF + 28, OFF + 32]];
  if (name === 'fnstenv' || name === 'fnsave') return prefix16 ? [[OFF + 6, OFF + 14]] : [[OFF + 12, OFF + 28]];
  return undefined;
}

/** Transcendental operands outside their defined domains are not compared (results are undefined). */
function outOfDomain(name: string, x: X87State): boolean {
  const v0 = x.st[0], v1 = x.st[1];
  const num = (v: F80 | undefined): number => (v ? f80ToNumber(new Uint8Array(f80Bytes(v))) : NaN);
  if (name === 'fyl2xp1') return v0 !== undefined && v1 !== undefined && Math.abs(num(v0)) >= 1 - Math.SQRT1_2;
  return false;
}

function buildRandomCases(seed: number, perEncoding: number): Case[] {
  const r = makeRng(seed);
  const cases: Case[] = [];
  for (const s of x87Specs()) {
    for (const [bytes, label] of encodings(s)) {
      for (let n = 0; n < perEncoding; n++) {
        const x = randomX87(r, 0.15);
        if (s.name === 'fyl2xp1' && r() < 0.8 && x.st[0]) x.st[0] = [(x.st[0][0] & 0x8000) | (0x3ff0 + Math.floor(r() * 14)), sig(r)];
        if ((s.name === 'f2xm1' || s.name === 'fpatan' || s.name === 'fyl2x') && r() < 0.5 && x.st[0]) x.st[0] = [(x.st[0][0] & 0x8000) | (0x3fe0 + Math.floor(r() * 31)), sig(r)];
        const init = stateFor(x, r);
        const pre = s.mod === 'mem' ? storePrefix(operandBytes(r, memKind(s))) : [];
        cases.push({
          label: `${label} from ${describeX87(x)}`,
          name: s.name,
          code: new Uint8Array([...pre, ...bytes]),
          init,
          dataMask: maskFor(s.name, bytes[0] === 0x66),
          swMask: swMaskFor(s.name),
          tolerant: TRANS.has(s.name),
          dontCare: outOfDomain(s.name, x),
        });
      }
    }
  }
  return cases;
}

function describeX87(x: X87State): string {
  const st = x.st.map((v, i) => (v ? `st${i}=${v[0].toString(16)}:${v[1].toString(16)}` : `st${i}=empty`)).join(' ');
  return `cw=${x.cw.toString(16)} sw=${x.sw.toString(16)} top=${x.top} ${st}`;
}

function report(fails: string[]): string {
  return fails.length ? `${fails.length} mismatches:\n${fails.slice(0, 15).join('\n')}` : '';
}

// ------------------------------------------------------------------ tests

describe('x87 opcode table', () => {
  it('registers every escape-opcode form the brief lists, and each decodes to its entry', () => {
    const specs = x87Specs();
    const names = new Set(specs.map((s) => s.name));
    for (const n of [
      'fld', 'fst', 'fstp', 'fild', 'fist', 'fistp', 'fisttp', 'fld1', 'fldz', 'fldpi', 'fldl2e', 'fldl2t', 'fldlg2', 'fldln2', 'fxch',
      'fadd', 'faddp', 'fiadd', 'fsub', 'fsubp', 'fisub', 'fsubr', 'fsubrp', 'fisubr', 'fmul', 'fmulp', 'fimul', 'fdiv', 'fdivp', 'fidiv',
      'fdivr', 'fdivrp', 'fidivr', 'fchs', 'fabs', 'fsqrt', 'frndint', 'fscale', 'fxtract', 'fprem', 'fprem1', 'fcom', 'fcomp', 'fcompp',
      'fucom', 'fucomp', 'fucompp', 'ficom', 'ficomp', 'fcomi', 'fcomip', 'fucomi', 'fucomip', 'ftst', 'fxam', 'fcmovb', 'fcmove',
      'fcmovbe', 'fcmovu', 'fcmovnb', 'fcmovne', 'fcmovnbe', 'fcmovnu', 'fnstcw', 'fldcw', 'fnstsw', 'fnclex', 'fninit', 'ffree',
      'fincstp', 'fdecstp', 'fnstenv', 'fldenv', 'fnsave', 'frstor', 'fwait', 'f2xm1', 'fyl2x', 'fyl2xp1', 'fptan', 'fpatan', 'fsin',
      'fcos', 'fsincos', 'fxsave', 'fxrstor', 'fnop', 'fbld', 'fbstp',
    ]) expect(names, n).toContain(n);
    const mem = new PagedMemory(1 << 20);
    mem.map(0x400000, 0x1000, PROT_READ | PROT_WRITE | PROT_EXEC);
    const c = new Cpu(mem);
    let forms = 0;
    for (const s of specs) {
      for (const [bytes] of encodings(s)) {
        mem.writeBytes(0x400000, new Uint8Array([...bytes, 0x90, 0x90]));
        c.flushCode();
        mem.tlb.flush();
        const i = decodeAt(c, 0x400000, 0);
        expect(i.name, Buffer.from(bytes).toString('hex')).toBe(s.name);
        expect(i.len).toBe(bytes.length);
        forms++;
      }
    }
    // Register forms count every ST(i): 8 per row.
    expect(forms).toBeGreaterThan(400);
  });

  it('leaves the reserved encodings undefined (#UD)', () => {
    const mem = new PagedMemory(1 << 20);
    mem.map(0x400000, 0x1000, PROT_READ | PROT_WRITE | PROT_EXEC);
    const c = new Cpu(mem);
    for (const bytes of [[0xd9, 0x08], [0xd9, 0xd1], [0xd9, 0xe2], [0xd9, 0xe7], [0xd9, 0xef], [0xda, 0xe8], [0xdb, 0x20], [0xdb, 0xe5], [0xdb, 0xf8], [0xdd, 0x28], [0xdd, 0xf0], [0xde, 0xd8], [0xdf, 0xe1], [0xdf, 0xf8]]) {
      mem.writeBytes(0x400000, new Uint8Array([...bytes, 0x90]));
      c.flushCode();
      mem.tlb.flush();
      expect(decodeAt(c, 0x400000, 0).name, Buffer.from(bytes).toString('hex')).toBe('(bad)');
    }
  });
});

describe.runIf(nativeAvailable)('x87 against the host CPU', () => {
  // X87_STRESS=n runs n more random seeds (for soak testing; the default keeps the suite fast).
  it('every form, from random states', () => {
    const extra = Number(process.env.X87_STRESS ?? 0);
    const cases: Case[] = [];
    for (let k = 0; k <= extra; k++) cases.push(...buildRandomCases(0x87 + k * 7919, 12));
    const counts = new Map<string, number>();
    for (const c of cases) counts.set(c.name, (counts.get(c.name) ?? 0) + 1);
    for (const s of x87Specs()) expect(counts.get(s.name) ?? 0, s.name).toBeGreaterThanOrEqual(12);
    const fails = runCases(cases);
    expect(fails, report(fails)).toEqual([]);
  });

  it('arithmetic and conversions under every rounding and precision control, on rounding ties and special operands', () => {
    const r = makeRng(7);
    const ops = ['fadd st, st(1)', 'fsub st, st(1)', 'fsubr st, st(1)', 'fmul st, st(1)', 'fdiv st, st(1)', 'fdivr st, st(1)', 'fsqrt', 'frndint', 'fprem', 'fprem1', 'fscale', 'fxtract',
      'fst dword ptr [rbx+0x100]', 'fst qword ptr [rbx+0x100]', 'fist word ptr [rbx+0x100]', 'fist dword ptr [rbx+0x100]', 'fistp qword ptr [rbx+0x100]', 'fisttp qword ptr [rbx+0x100]', 'fbstp [rbx+0x100]', 'fxam', 'ftst', 'fcom st(1)', 'fucomi st, st(1)'];
    const codes = assemble(ops);
    const specials: F80[] = [[0, 0n], [0x8000, 0n], [0x7fff, H], [0xffff, H], [0x7fff, 0xc000000000000001n], [0x7fff, 0x8000000000000001n], [0xffff, 0xc000000000000000n],
      [0, 1n], [0x8000, 0x7fffffffffffffffn], [0, H | 5n], [0x3fff, 5n], [0x7fff, 0x4000000000000000n], [0x3fff, H], [0xbffe, H], [0x7ffe, M64], [1, H], [0x403e, H], [0xc03e, H | 1n], [0x401d, 0xffffffff00000000n]];
    const cases: Case[] = [];
    for (let k = 0; k < ops.length; k++) {
      const name = ops[k]!.split(' ')[0]!;
      for (let rc = 0; rc < 4; rc++) {
        for (const pc of [0, 2, 3]) {
          for (let n = 0; n < 14; n++) {
            const a = n < 6 ? pick(r, specials) : f80(r, 0x3fff);
            const b = n % 3 === 0 ? pick(r, specials) : f80(r, (a[0] & 0x7fff) || 0x3fff);
            const masks = n % 5 === 4 ? Math.floor(r() * 64) : 0x3f;
            const x: X87State = { cw: 0x40 | (rc << 10) | (pc << 8) | masks, sw: 0, top: Math.floor(r() * 8), st: [a, b] };
            cases.push({ label: `${ops[k]} ${describeX87(x)}`, name, code: codes[k]!, init: stateFor(x), swMask: swMaskFor(name) });
          }
        }
      }
    }
    const fails = runCases(cases);
    expect(fails, report(fails)).toEqual([]);
  });

  it('overflow, underflow and denormal responses (masked and unmasked; register and memory destinations)', () => {
    const big: F80 = [0x7ffe, M64], tiny: F80 = [1, H], half: F80 = [0x3ffe, H], two: F80 = [0x4000, H];
    const list: Array<[string, F80[]]> = [
      ['fmul st, st(1)', [big, two]], ['fmul st, st(1)', [tiny, half]], ['fmul st, st(1)', [[1, 0xc000000000000000n], half]],
      ['fmul st, st(1)', [[1, M64], [0x3ffe, M64]]], ['fmul st, st(1)', [[0, 0x7fffffffffffffffn], [0x3fff, H | 1n]]],
      ['fmul st, st(1)', [[0, 0x7fffffffffffffffn], [0x3fff, H]]], ['fdiv st, st(1)', [big, half]], ['fadd st, st(1)', [big, big]],
      ['fdiv st, st(1)', [[0, 0x1b1n], [0, 0n]]], ['fdiv st, st(1)', [[0, 0n], [0x8000, 0x1b1n]]], ['fcom st(1)', [[0, 0x1b1n], [0x3fff, H]]],
      ['fcomi st, st(1)', [[0, 0x1b1n], [0x7fff, 0x8000000000000001n]]], ['fcompp', [[0, 0x1b1n], [0x7fff, 0xc000000000000001n]]],
      ['fst qword ptr [rbx+0x100]', [[16383 + 1023, 0xfffffffffffffc00n]]], ['fst qword ptr [rbx+0x100]', [[16383 + 1023, 0xfffffffffffff800n]]],
      ['fst qword ptr [rbx+0x100]', [big]], ['fst qword ptr [rbx+0x100]', [[0x3c00, 0xfffffffffffffc00n]]], ['fst qword ptr [rbx+0x100]', [[0x3c00, 0xfffffffffffff800n]]],
      ['fst qword ptr [rbx+0x100]', [tiny]], ['fst dword ptr [rbx+0x100]', [big]], ['fst dword ptr [rbx+0x100]', [[16383 - 127, 0xffffff8000000000n]]],
      ['fstp qword ptr [rbx+0x100]', [[16383 + 1023, 0xfffffffffffffc00n]]], ['fstp qword ptr [rbx+0x100]', [tiny]],
      ['fscale', [two, [0x400d, 0xa000000000000000n]]], ['fscale', [two, [0xc00d, 0xa000000000000000n]]], ['fscale', [two, [0x401f, H]]],
      ['fscale', [two, [0xc01f, H]]], ['fscale', [[0, 1n], [0x4005, H]]], ['fscale', [[0, 0n], [0x7fff, H]]], ['fscale', [[0x7fff, H], [0xffff, H]]],
      ['fxtract', [[0, 1n]]], ['fxtract', [[0x8000, 0n]]], ['fxtract', [[0x8000, H | 3n]]],
      ['fsqrt', [[0, 1n]]], ['fsqrt', [[0x3fff, M64]]], ['fsqrt', [[0x4000, M64]]], ['fsqrt', [[0x8000, 1n]]], ['fsqrt', [[0x8000, 0n]]],
      ['fld dword ptr [rbx+0x100]', []], ['fld qword ptr [rbx+0x100]', []],
    ];
    const codes = assemble(list.map((l) => l[0]));
    const cases: Case[] = [];
    for (const cw of [0x37f, 0xb7f, 0x77f, 0xf7f, 0x167f, 0x167e, 0x164f, 0x377, 0x367, 0x267, 0x67, 0x1b67, 0xf67, 0x35f, 0x36f, 0x37d, 0x37b, 0x37e]) {
      list.forEach(([s, st], k) => {
        const x: X87State = { cw, sw: 0, top: 3, st };
        const init = stateFor(x);
        // A denormal single and double for the loads.
        const pre = s.startsWith('fld') ? storePrefix(s.includes('dword') ? [0x01, 0, 0, 0x80] : [0x55, 0, 0, 0, 0, 0, 0, 0]) : [];
        cases.push({ label: `${s} ${describeX87(x)}`, name: s.split(' ')[0]!, code: new Uint8Array([...pre, ...codes[k]!]), init, swMask: swMaskFor(s.split(' ')[0]!) });
      });
    }
    const fails = runCases(cases);
    expect(fails, report(fails)).toEqual([]);
  });

  it('stack overflow and underflow, every instruction (masked and unmasked)', () => {
    const r = makeRng(99);
    const cases: Case[] = [];
    for (const s of x87Specs()) {
      if (s.name === 'fwait' || s.map === MAP_0F) continue;
      for (const [bytes, label] of encodings(s).slice(0, 3)) {
        for (const full of [false, true]) {
          for (const cw of [0x37f, 0x37e]) {
            const x = randomX87(r);
            x.cw = cw;
            x.sw = 0x4700 & Math.floor(r() * 0x10000);
            // Empty stack, or a full one with ST(0)/ST(1) sometimes emptied.
            x.st = full ? x.st.map((v) => v ?? f80(r)) : [undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined];
            if (full && r() < 0.5) x.st[Math.floor(r() * 2)] = undefined;
            const pre = s.mod === 'mem' ? storePrefix(operandBytes(r, memKind(s))) : [];
            cases.push({
              label: `${label} ${describeX87(x)}`, name: s.name, code: new Uint8Array([...pre, ...bytes]), init: stateFor(x, r),
              dataMask: maskFor(s.name, bytes[0] === 0x66), swMask: swMaskFor(s.name), tolerant: TRANS.has(s.name), dontCare: outOfDomain(s.name, x),
            });
          }
        }
      }
    }
    const fails = runCases(cases);
    expect(fails, report(fails)).toEqual([]);
  });

  it('fprem/fprem1 partial remainders, fist overflow, BCD limits, constants under every rounding mode', () => {
    const list: Array<[string, F80[]]> = [];
    const bigA: F80[] = [[0x7000, 0xabcdef0123456789n], [0x4040, 0xabcdef0123456789n], [0x4050, 0xabcdef0123456789n], [0x4060, 0xabcdef0123456789n], [0x43ff, M64], [0x3fff, H], [0, 0x1b1n]];
    const divs: F80[] = [[0x3fff, 0xc000000000000001n], [0x3fff, H], [0, 0x1b1n], [0x3fc0, 0x9999999999999999n], [0x7fff, H]];
    for (const a of bigA) for (const b of divs) {
      list.push(['fprem', [a, b]], ['fprem1', [a, b]]);
    }
    for (const v of [[0x3ffe, 0xc000000000000000n], [0x3ffe, H], [0x3fff, 0xc000000000000000n], [0x4000, 0xa000000000000000n]] as F80[]) list.push(['fprem1', [v, [0x3fff, H]]], ['fprem', [v, [0x3fff, H]]]);
    for (const v of [[0x400e, H], [0xc00e, H], [0x400d, M64], [0xc00e, H | 1n], [0x401e, 0xffffffff00000000n], [0xc01e, H], [0x403e, H], [0xc03e, H], [0xc03e, H | 1n], [0x403d, M64], [0x3ffe, H], [0xbffe, H | 1n]] as F80[]) {
      list.push(['fist word ptr [rbx+0x100]', [v]], ['fist dword ptr [rbx+0x100]', [v]], ['fistp qword ptr [rbx+0x100]', [v]], ['fisttp word ptr [rbx+0x100]', [v]], ['fisttp dword ptr [rbx+0x100]', [v]], ['fisttp qword ptr [rbx+0x100]', [v]]);
    }
    for (const v of [[0x403a, 0xde0b6b3a763fffffn], [0x403a, 0xde0b6b3a76400000n], [0xc03a, 0xde0b6b3a763ffff0n], [0xbffe, H], [0x8000, 0n], [0x3ffd, H]] as F80[]) list.push(['fbstp [rbx+0x100]', [v]]);
    for (const k of ['fldpi', 'fldl2t', 'fldl2e', 'fldlg2', 'fldln2', 'fld1', 'fldz']) list.push([k, []]);
    const codes = assemble(list.map((l) => l[0]));
    const cases: Case[] = [];
    for (const cw of [0x37f, 0x77f, 0xb7f, 0xf7f, 0x7f, 0x27f]) {
      list.forEach(([s, st], k) => {
        const x: X87State = { cw, sw: 0x4700, top: 5, st };
        cases.push({ label: `${s} ${describeX87(x)}`, name: s.split(' ')[0]!, code: codes[k]!, init: stateFor(x) });
      });
    }
    // fprem loops until C2 clears (what fmod does).
    const loop = assemble(['2:\nfprem\nfnstsw ax\ntest ah, 4\njnz 2b', '2:\nfprem1\nfnstsw ax\ntest ah, 4\njnz 2b']);
    for (const a of bigA) for (const b of divs) for (const code of loop) {
      const x: X87State = { cw: 0x37f, sw: 0, top: 0, st: [a, b] };
      cases.push({ label: `fprem loop ${describeX87(x)}`, name: 'fprem', code, init: stateFor(x) });
    }
    const fails = runCases(cases);
    expect(fails, report(fails)).toEqual([]);
  });

  it('#MF is raised by the next waiting instruction only', () => {
    const snippets = [
      'fld1\nfldz\nfdivp st(1), st\nfnstsw ax\nfnstcw [rbx]\nfwait',
      'fld1\nfldz\nfdivp st(1), st\nfnclex\nfwait\nfld1',
      'fld1\nfldz\nfdivp st(1), st\nfld1',
      'fldz\nfldz\nfdivp st(1), st\nfnstenv [rbx]\nfld1',
      'fld1\nfldz\nfdivp st(1), st\nfxsave [rbx]\nfnsave [rbx+0x200]\nfld1',
      'fldcw [rbx+0x300]\nfld1',
      'fld1\nfldz\nfdivp st(1), st\nfldcw [rbx+0x302]\nfld1',
      'fld dword ptr [rbx+0x304]\nfld st(0)\nfwait',
    ];
    const codes = assemble(snippets);
    const cases: Case[] = codes.map((code, k) => {
      // IE and ZE unmasked; for the fldcw case, a pending ZE that fldcw unmasks.
      const x: X87State = { cw: k === 5 ? 0x37f : 0x37a, sw: k === 5 ? 0x0004 : 0, top: 0, st: [] };
      const init = stateFor(x);
      const pre = storePrefix([0x7b, 0x03, 0x7f, 0x03, 0x01, 0x00, 0xa0, 0x7f], 0x300); // cw 0x37b, cw 0x37f, an SNaN single
      const c = new Uint8Array([...pre, ...code]);
      return { label: snippets[k]!.replace(/\n/g, '; '), name: 'mf', code: c, init, dataMask: [[0, 0x300]] };
    });
    const fails = runCases(cases);
    expect(fails, report(fails)).toEqual([]);
  });

  it('fxsave/fxrstor: alignment and MXCSR faults, save-area round trips', () => {
    // [code, data ranges holding instruction/operand pointers or MXCSR_MASK (not compared)]
    const fxPtrs = (o: number): Array<[number, number]> => [[o + 6, o + 24], [o + 28, o + 32]];
    const list: Array<[string, Array<[number, number]>]> = [
      ['fxsave [rbx+8]', []], ['fxrstor [rbx+4]', []],
      ['fxsave64 [rbx+0x10]\nmov dword ptr [rbx+0x28], 0x10000\nfxrstor [rbx+0x10]', fxPtrs(0x10)],
      ['fxsave [rbx+0x100]\nfninit\nfxrstor [rbx+0x100]', fxPtrs(0x100)],
      ['fxsave64 [rbx+0x100]\nfld1\nfxrstor64 [rbx+0x100]', fxPtrs(0x100)],
      ['fnsave [rbx+0x100]\nfld1\nfrstor [rbx+0x100]', [[0x10c, 0x11c]]],
      ['fnstenv [rbx+0x100]\nfninit\nfldenv [rbx+0x100]', [[0x10c, 0x11c]]],
      ['data16 fnsave [rbx+0x100]\nfld1\ndata16 frstor [rbx+0x100]', [[0x106, 0x10e]]],
      ['fld tbyte ptr [rbx+0x300]\nfstp tbyte ptr [rbx+0x310]', []],
      ['fild qword ptr [rbx+0x300]\nfistp qword ptr [rbx+0x320]', []],
      ['fxsave [rbx+0xff0]', fxPtrs(0xff0)],
      ['fnstsw ax\nfnstcw [rbx]', []],
      ['fldcw [rbx+0x30a]\nfnstcw [rbx]', []],
      ['fincstp\nfdecstp\nfdecstp\nffree st(1)\nfxch st(3)\nfld st(2)', []],
    ];
    const codes = assemble(list.map((l) => l[0]));
    const r = makeRng(5);
    const cases: Case[] = [];
    for (let n = 0; n < 8; n++) {
      codes.forEach((code, k) => {
        const x = randomX87(r, 0);
        const init = stateFor(x, r);
        const pre = storePrefix([...f80Bytes(f80(r)), ...le(BigInt(Math.floor(r() * 0x10000)), 2)], 0x300);
        cases.push({ label: `${list[k]![0].replace(/\n/g, '; ')} ${describeX87(x)}`, name: 'save', code: new Uint8Array([...pre, ...code]), init, dataMask: list[k]![1] });
      });
    }
    const fails = runCases(cases);
    expect(fails, report(fails)).toEqual([]);
  });
});

// ------------------------------------------------------------------ glibc's long double, end to end

/**
 * A static C program using long double through glibc: printf %Lf/%Le/%La/%Lg,
 * strtold, the arithmetic, fmodl/remainderl (fprem/fprem1), sqrtl, rintl,
 * conversions to and from 64-bit integers (gcc's fnstcw/fldcw/fistp
 * sequences, fild with unsigned fix-ups), comparisons (fucomip, fcmov).
 * No transcendental functions: those go through f2xm1/fyl2x, which we
 * compute in double precision (see x87-trans.ts).
 */
const LONG_DOUBLE_C = String.raw`
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
static uint64_t s = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return s; }
__attribute__((noinline)) static long double op(long double a, long double b, int k) {
  switch (k) {
    case 0: return a + b; case 1: return a - b; case 2: return a * b; case 3: return a / b;
    case 4: return fmodl(a, b); case 5: return remainderl(a, b); default: return sqrtl(fabsl(a));
  }
}
__attribute__((noinline)) static long double mx(long double a, long double b) { return a > b ? a : b; }
int main(void) {
  static const long double sp[] = {0.0L, -0.0L, 1.0L, 0.1L, 1.0L / 3, LDBL_MIN, LDBL_MAX, LDBL_EPSILON, LDBL_TRUE_MIN,
                                   3.14159265358979323846264338327950288L, 1e4000L, 1e-4000L, 123456789012345678.0L, 2.5L, -7.75L};
  for (unsigned i = 0; i < sizeof sp / sizeof sp[0]; i++) {
    long double d = sp[i];
    printf("%Lg|%Le|%.21Lg|%La|%.3Lf|%.0Lf\n", d, d, d, d, d < 1e30L ? d : 0.0L, d < 1e25L ? d : 1.5L);
  }
  for (int i = 0; i < 200; i++) {
    long double a = (long double)(int64_t)rnd() / (long double)(rnd() | 1) * ldexpl(1.0L, (int)(rnd() % 80) - 40);
    long double b = (long double)(int64_t)rnd() / (long double)(rnd() >> 3 | 1);
    char buf[64];
    snprintf(buf, sizeof buf, "%.25Lg", a);
    long double back = strtold(buf, NULL);
    uint64_t u = rnd();
    printf("%s %d %.20Lg %.20Lg %.20Lg %lld %llu %.20Lg %.20Lg %.20Lg\n", buf, back == a, op(a, b, i % 7), rintl(a), nearbyintl(a * 3),
           (long long)b, (unsigned long long)(fabsl(b) * 1e3L), (long double)u, (long double)(double)a, mx(a, b));
  }
  long double x = 1.0L;
  for (int i = 0; i < 100; i++) x = x * 1.1L + 0.3L / (i + 1);
  printf("%.30Lg %.30Lg %.30Lg\n", x, sqrtl(x), floorl(x * 1e6L) / 1e6L);
  printf("%.20Lg %.20Lg %Lg\n", strtold("0x1.fffffffffffffffep16383", NULL), strtold("3.6451995318824746025e-4951", NULL), strtold("nan", NULL));
  return 0;
}
`;

describe.runIf(nativeAvailable)("glibc's long double on the emulated x87", () => {
  it('printf %Lf/%La, strtold, fmodl, sqrtl, rintl and conversions match the host run', () => {
    const dir = mkdtempSync(join(tmpdir(), 'x87-ld-'));
    try {
      writeFileSync(join(dir, 'ld.c'), LONG_DOUBLE_C);
      const exe = join(dir, 'ld');
      const cc = spawnSync('gcc', ['-O2', '-static', '-o', exe, join(dir, 'ld.c'), '-lm'], { encoding: 'utf8' });
      expect(cc.status, cc.stderr).toBe(0);
      const native = spawnSync(exe, [], { encoding: 'latin1' });
      const guest = spawnSync(process.execPath, [join(REPO, 'bin/xenjs.js'), 'run-elf', exe], { encoding: 'latin1', maxBuffer: 16 << 20, env: { ...process.env, XENJS_TRACE: '' } });
      expect(guest.stderr).toBe(native.stderr);
      expect(guest.stdout.split('\n')).toEqual(native.stdout.split('\n'));
      expect(guest.status).toBe(native.status);
      expect(native.stdout.length).toBeGreaterThan(10000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ------------------------------------------------------------------ emulator-only

function emuCpu(code: string): { c: Cpu; mem: PagedMemory } {
  const mem = new PagedMemory(1 << 20);
  mem.map(CODE_ADDR, 0x1000, PROT_READ | PROT_WRITE | PROT_EXEC);
  mem.map(DATA_ADDR, 0x1000, PROT_READ | PROT_WRITE);
  const [bytes] = assemble([code]);
  mem.writeBytes(CODE_ADDR, new Uint8Array([...bytes!, 0xf4]));
  const c = new Cpu(mem);
  c.cpl = 0; // the code ends with hlt
  c.setReg64n(3, BigInt(DATA_ADDR));
  c.setRip(CODE_ADDR, 0);
  return { c, mem };
}

describe('x87 in the emulator only', () => {
  it('raises #NM with CR0.TS or CR0.EM (fwait only with MP and TS); fxsave #UD with EM', () => {
    for (const [code, cr0, vec] of [
      ['fld1', 0x80050033 | 8, NM], ['fnstsw ax', 0x80050033 | 8, NM], ['fxsave [rbx]', 0x80050033 | 8, NM], ['fld1', 0x80050033 | 4, NM],
      ['fxrstor [rbx]', 0x80050033 | 4, 6], ['fwait', 0x80050033 | 8, NM], ['fwait', (0x80050033 | 8) & ~2, -1],
    ] as Array<[string, number, number]>) {
      const { c } = emuCpu(code);
      c.cr0 = cr0;
      const x = c.step();
      if (vec < 0) expect(x, code).toBe(Exit.Budget);
      else {
        expect(x, code).toBe(Exit.Exception);
        expect(c.excVector, code).toBe(vec);
        expect(c.r[RIP], code).toBe(CODE_ADDR);
      }
    }
  });

  it('#MF leaves the faulting instruction undone, with FIP/FOP/FDP pointing at the one that raised the exception', () => {
    const { c, mem } = emuCpu('fld qword ptr [rbx+8]\nfldz\nfdivr st, st(1)\nfld1\nfxsave64 [rbx+0x100]');
    mem.writeBytes(DATA_ADDR + 8, new Uint8Array(new Float64Array([3]).buffer));
    c.fpu.cw = 0x37b; // ZE unmasked
    expect(c.run(100)).toBe(Exit.Exception);
    expect(c.excVector).toBe(MF);
    const fdivAt = CODE_ADDR + 5; // fld qword [rbx+8] is 3 bytes, fldz 2
    expect(c.r[RIP]).toBe(fdivAt + 2);
    expect(c.fpu.fipLo).toBe(fdivAt);
    // Skip the fld1 and save: FOP is DC F9? no: D8 F9 (fdivr st, st(1))
    c.setRip(fdivAt + 4, 0);
    expect(c.run(100)).toBe(Exit.Halt);
    const img = mem.readBytes(DATA_ADDR + 0x100, 32);
    const dv = new DataView(img.buffer, img.byteOffset);
    expect(dv.getUint16(6, true)).toBe(0x0f9); // D8 F9 → fop 0 F9
    expect(dv.getUint32(8, true)).toBe(fdivAt);
    expect(dv.getUint32(16, true)).toBe(DATA_ADDR + 8); // the last memory operand
    expect(dv.getUint16(2, true) & 0x8084).toBe(0x8084);
  });

  it('records FOP for memory forms from the instruction bytes, and the 64-bit FIP/FDP with REX.W', () => {
    const { c, mem } = emuCpu('xor r12d, r12d\nfadd qword ptr [rbx+r12+0x40]\nfxsave64 [rbx+0x100]\nfnstenv [rbx+0x500]');
    c.fpu.valid = 0xff;
    expect(c.run(100)).toBe(Exit.Halt);
    const img = mem.readBytes(DATA_ADDR + 0x100, 32);
    const dv = new DataView(img.buffer, img.byteOffset);
    expect(dv.getUint16(6, true)).toBe(0x444); // 42 DC 44 23 40 → FOP 4 44
    expect(dv.getBigUint64(16, true)).toBe(BigInt(DATA_ADDR + 0x40));
    const env = mem.readBytes(DATA_ADDR + 0x500, 28);
    const ev = new DataView(env.buffer, env.byteOffset);
    expect(ev.getUint16(18, true)).toBe(0x444);
    expect(ev.getUint32(20, true)).toBe(DATA_ADDR + 0x40);
    expect(ev.getUint32(0, true)).toBe(0xffff037f);
  });

  it('keeps 80-bit values exact through loads, stores and the save areas', () => {
    const r = makeRng(3);
    const { c, mem } = emuCpu('fld tbyte ptr [rbx]\nfld st(0)\nfxch\nfnsave [rbx+0x100]\nfrstor [rbx+0x100]\nfstp tbyte ptr [rbx+0x20]\nfxsave [rbx+0x200]\nfxrstor [rbx+0x200]\nfstp tbyte ptr [rbx+0x30]');
    for (let n = 0; n < 200; n++) {
      const v = f80(r);
      mem.writeBytes(DATA_ADDR, new Uint8Array(f80Bytes(v)));
      c.fpu.reset();
      c.setRip(CODE_ADDR, 0);
      c.flushCode();
      expect(c.run(100)).toBe(Exit.Halt);
      const a = mem.readBytes(DATA_ADDR + 0x20, 10), b = mem.readBytes(DATA_ADDR + 0x30, 10);
      expect(Buffer.from(a).toString('hex')).toBe(Buffer.from(f80Bytes(v)).toString('hex'));
      expect(Buffer.from(b).toString('hex')).toBe(Buffer.from(f80Bytes(v)).toString('hex'));
    }
  });
});

