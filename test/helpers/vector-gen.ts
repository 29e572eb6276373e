/**
 * Test-vector machinery for the integer and MMX instructions of the opcode table:
 *
 * - INTEGER_SPECS: the table entries registered by the integer instruction
 *   modules (found by loading those modules first and watching `OPS` grow;
 *   so this module must be imported before anything that loads the CPU —
 *   in a test file, import it first);
 * - SKIPPED: the integer entries that differential tests leave out (control
 *   flow, privileged, system), with the reason;
 * - forms (spec × operand size × register/memory) and `identify`, which says
 *   which table forms a piece of code uses (coverage);
 * - the flags each instruction reads, defines and leaves undefined (SDM),
 *   exactly when the shift count is known;
 * - MMX_SPECS (entries with an MMX operand) and random x87/MMX states for them;
 * - a seeded random generator of valid encodings and machine states.
 */
import type { OpSpec } from '../../src/cpu/table.ts';
import { MAP_0F, MAP_0F38, MAP_0F3A, MAP_1B, OPS } from '../../src/cpu/table.ts';
import type * as NativeModule from './native.ts';
import type { MachineState } from './native.ts';

// ------------------------------------------------------------------ integer entries

const opsBefore = OPS.length;
await import('../../src/cpu/ops/alu.ts');
await import('../../src/cpu/ops/mov.ts');
await import('../../src/cpu/ops/control.ts');
await import('../../src/cpu/ops/stack.ts');
await import('../../src/cpu/ops/muldiv.ts');
await import('../../src/cpu/ops/shift.ts');
await import('../../src/cpu/ops/bits.ts');
await import('../../src/cpu/ops/string.ts');
await import('../../src/cpu/ops/system.ts');
await import('../../src/cpu/ops/misc-int.ts');
if (opsBefore !== 0) {
  throw new Error('vector-gen.ts must be imported before anything that loads the CPU (it tells integer table entries from the others by load order)');
}
/** Table entries registered by the integer modules (alu, mov, control, stack, muldiv, shift, bits, string, system, misc-int). */
export const INTEGER_SPECS: readonly OpSpec[] = OPS.slice();

const N: typeof NativeModule = await import('./native.ts');
const { opcodeSlots, decodeAt } = await import('../../src/cpu/decoder.ts');
/** Table entries with an MMX register operand (registered by the SSE/MMX modules). */
export const MMX_SPECS: readonly OpSpec[] = (await import('../../src/cpu/ops/mmx-core.ts')).MMX_SPECS;
const MMX_SET: ReadonlySet<OpSpec> = new Set(MMX_SPECS);
/** Whether an entry has an MMX operand (its vectors start from a random MMX/x87 state and compare it). */
export const isMmxSpec = (s: OpSpec): boolean => MMX_SET.has(s);
const { Cpu } = await import('../../src/cpu/cpu.ts');
const { PagedMemory } = await import('../../src/mmu/paged-memory.ts');
const { CODE_ADDR, DATA_ADDR, DATA_SIZE } = N;

// ------------------------------------------------------------------ labels, forms

const hex2 = (n: number): string => n.toString(16).padStart(2, '0');
const MAP_NAMES = ['', '0F ', '0F38 ', '0F3A '];

/** "add 0F c1/7 mem p66 W1 +r": the entry's opcode and constraints. */
export function specKey(s: OpSpec): string {
  return (
    `${s.name} ${MAP_NAMES[s.map]}${hex2(s.op)}${s.opReg ? '+r' : ''}${s.ext !== undefined ? '/' + s.ext : ''}` +
    (s.mod ? ` ${s.mod}` : '') +
    (s.rmField !== undefined ? ` rm=${s.rmField}` : '') +
    (s.prefix !== undefined ? ` p${hex2(s.prefix)}` : '') +
    (s.rexW !== undefined ? ` W${s.rexW ? 1 : 0}` : '')
  );
}

/** Operand sizes an entry can run with (0: the entry has no size). */
export function specSizes(s: OpSpec): number[] {
  const no66 = s.prefix !== undefined; // a 66 prefix would select another entry (or is the mandatory prefix)
  switch (s.size) {
    case 'b': return [1];
    case 'w': return [2];
    case 'd': return [4];
    case 'q': case 'f64': return [8];
    case 'n': return [0];
    case 'd64': return no66 ? [8] : [2, 8];
    default:
      if (s.rexW === true) return [8];
      if (s.rexW === false) return no66 ? [4] : [2, 4];
      return no66 ? [4, 8] : [2, 4, 8];
  }
}

/** Register/memory variants: undefined for entries without ModRM. */
export function specMods(s: OpSpec): Array<boolean | undefined> {
  if (!s.modrm) return [undefined];
  if (s.mod === 'reg') return [false];
  if (s.mod === 'mem') return [true];
  return [false, true];
}

export function formLabel(s: OpSpec, size: number, mem: boolean | undefined): string {
  return `${specKey(s)}${size ? ` o${size * 8}` : ''}${mem === undefined ? '' : mem ? ' m' : ' r'}`;
}

/** Every form (entry × operand size × reg/mem) of the given entries. */
export function allForms(specs: readonly OpSpec[]): string[] {
  const out: string[] = [];
  for (const s of specs) for (const size of specSizes(s)) for (const m of specMods(s)) out.push(formLabel(s, size, m));
  return out;
}

// ------------------------------------------------------------------ what differential tests skip

/**
 * Integer entries the differential tests do not require vectors for, by
 * specKey prefix ("name map op[/ext]"), with the reason. Several still get
 * hand-written vectors where host and emulator can be compared (jumps,
 * #GP/#UD at CPL 3).
 */
export const SKIPPED: Array<[RegExp, string]> = [
  [/^(jmp|jcc|call|ret|loop|loope|loopne|jrcxz|callf|jmpf|iret) /, 'control flow'],
  [/^(int3|int|into) /, 'software interrupt: an exit to the layer above (natively int n is #GP or a real system call)'],
  [/^\(invalid in 64-bit mode\) /, 'control: #UD by design (c4/c5 are VEX prefixes on the host)'],
  [/^(ud0|ud1|ud2) /, 'control: #UD'],
  [/^(syscall|sysret|sysenter|sysexit) /, 'system call / return (natively a real system call)'],
  [/^(hlt|cli|sti|in|out|ins|outs|swapgs|rdmsr|wrmsr|clts|invd|wbinvd|rdpmc|lldt|ltr|lgdt|lidt|lmsw|invlpg|getsec) /, 'privileged (#GP at CPL 3)'],
  [/^mov 0F 2[0-3]/, 'privileged: mov to/from control and debug registers'],
  [/^(cpuid|rdtsc|rdtscp) /, 'system: the values depend on the CPU model and time'],
  [/^(sldt|str|sgdt|sidt|smsw) /, 'system: descriptor-table state differs from the host (the emulator models a flat CPU without UMIP)'],
  [/^(verr|verw) /, 'system: depends on descriptor tables (the emulator has none)'],
  [/^(monitor|mwait|xgetbv|xsetbv|clac|stac|vmcall) /, 'system: not available in the emulated CPU model'],
  [/^mov 8e/, 'system: segment register loads (FS/GS would break the harness; checked by hand for DS/ES/SS/GS)'],
  [/^pop 0F a[19]/, 'system: pop fs/gs loads a segment register'],
];

export function skipReason(s: OpSpec): string | undefined {
  const k = specKey(s);
  for (const [re, why] of SKIPPED) if (re.test(k)) return why;
  return undefined;
}

/** The integer entries the differential tests must cover. */
export const TESTED_SPECS: readonly OpSpec[] = INTEGER_SPECS.filter((s) => !skipReason(s));

// ------------------------------------------------------------------ identify forms in code

export interface InsnInfo {
  offset: number;
  len: number;
  spec: OpSpec | undefined;
  size: number;
  mem: boolean | undefined;
  form: string;
  name: string;
}

let idMem: InstanceType<typeof PagedMemory> | undefined;

/** Decode `code` (placed at CODE_ADDR) linearly and name the table form of each instruction. */
export function identify(code: Uint8Array): InsnInfo[] {
  if (!idMem) {
    idMem = new PagedMemory(1 << 18);
    idMem.map(CODE_ADDR, N.CODE_SIZE, 7);
  }
  const buf = new Uint8Array(code.length + 16);
  buf.set(code);
  idMem.writeBytes(CODE_ADDR, buf);
  const c = new Cpu(idMem);
  const out: InsnInfo[] = [];
  let off = 0;
  while (off < code.length) {
    const insn = decodeAt(c, CODE_ADDR + off, 0);
    const h = decodeHeader(code, off);
    const spec = h && findSpec(h);
    let size = 0;
    let mem: boolean | undefined;
    if (spec && h) {
      size = operandSize(spec, h);
      mem = spec.modrm ? h.mod !== 3 : undefined;
    }
    out.push({ offset: off, len: insn.len, spec, size, mem, form: spec ? formLabel(spec, size, mem) : '(none)', name: insn.name });
    off += insn.len;
  }
  return out;
}

interface Header {
  map: number;
  op: number;
  sse: number;
  opSize16: boolean;
  rexW: boolean;
  mod: number;
  reg: number;
  rm: number;
}

function decodeHeader(b: Uint8Array, p: number): Header | undefined {
  let opSize16 = false, sse = 0, rep = 0, rex = 0;
  for (let k = 0; k < 15; k++) {
    const x = b[p];
    if (x === undefined) return undefined;
    if (x === 0x66) { opSize16 = true; if (sse === 0) sse = 0x66; }
    else if (x === 0xf3) { rep = 1; sse = 0xf3; }
    else if (x === 0xf2) { rep = 2; sse = 0xf2; }
    else if (x === 0x67 || x === 0xf0 || x === 0x64 || x === 0x65 || x === 0x26 || x === 0x2e || x === 0x36 || x === 0x3e) { /* prefix */ }
    else if ((x & 0xf0) === 0x40) { rex = x; p++; continue; }
    else break;
    rex = 0;
    p++;
  }
  if (sse === 0x66 && rep) sse = rep === 1 ? 0xf3 : 0xf2;
  let map = MAP_1B;
  let op = b[p++]!;
  if (op === 0x0f) {
    op = b[p++]!;
    map = MAP_0F;
    if (op === 0x38) { map = MAP_0F38; op = b[p++]!; }
    else if (op === 0x3a) { map = MAP_0F3A; op = b[p++]!; }
  }
  const list = opcodeSlots()[map]?.[op];
  const modrm = list && list[0]!.modrm ? b[p] ?? 0 : 0;
  return { map, op, sse, opSize16, rexW: (rex & 8) !== 0, mod: modrm >> 6, reg: (modrm >> 3) & 7, rm: modrm & 7 };
}

function findSpec(h: Header): OpSpec | undefined {
  const list = opcodeSlots()[h.map]?.[h.op];
  if (!list) return undefined;
  for (const s of list) {
    if (s.prefix !== undefined && s.prefix !== h.sse) continue;
    if (s.ext !== undefined && s.ext !== h.reg) continue;
    if (s.mod === 'reg' && h.mod !== 3) continue;
    if (s.mod === 'mem' && h.mod === 3) continue;
    if (s.rmField !== undefined && (h.mod !== 3 || s.rmField !== h.rm)) continue;
    if (s.rexW !== undefined && s.rexW !== h.rexW) continue;
    return s;
  }
  return undefined;
}

function operandSize(s: OpSpec, h: Header): number {
  switch (s.size) {
    case 'b': return 1;
    case 'w': return 2;
    case 'd': return 4;
    case 'q': case 'f64': return 8;
    case 'n': return 0;
    case 'd64': return h.opSize16 && !h.rexW ? 2 : 8;
    default: return h.rexW ? 8 : h.opSize16 ? 2 : 4;
  }
}

// ------------------------------------------------------------------ flags (SDM)

export const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800;
export const ARITH = CF | PF | AF | ZF | SF | OF;

/** Flags an instruction reads, sets to defined values, and may leave undefined. */
export interface FlagEffect {
  reads: number;
  defined: number;
  undef: number;
  /** The destination's value is architecturally undefined (shld/shrd r16 with count > 16). */
  undefResult?: boolean;
}

/** Flags read by condition code cc (jcc/setcc/cmovcc). */
export function ccFlags(cc: number): number {
  switch (cc >> 1) {
    case 0: return OF;
    case 1: return CF;
    case 2: return ZF;
    case 3: return CF | ZF;
    case 4: return SF;
    case 5: return PF;
    case 6: return SF | OF;
    default: return ZF | SF | OF;
  }
}

const NO_FLAGS: FlagEffect = { reads: 0, defined: 0, undef: 0 };

/**
 * The flag effect of one instruction. `count` is the shift/rotate count
 * when known (imm8, 1, or CL of a known state); undefined → the
 * conservative answer. `rep`: the instruction has a rep prefix (string ops
 * with a zero count change no flags).
 */
export function flagEffect(s: OpSpec, size: number, opts: { count?: number; rep?: boolean; cc?: number } = {}): FlagEffect {
  const u = s.undefFlags ?? 0;
  const all = (undef = u): FlagEffect => ({ reads: 0, defined: ARITH & ~undef, undef });
  switch (s.name) {
    case 'add': case 'or': case 'and': case 'sub': case 'xor': case 'cmp': case 'test': case 'neg': case 'xadd': case 'cmpxchg':
    case 'popcnt': case 'mul': case 'imul': case 'div': case 'idiv':
      return all();
    case 'adc': case 'sbb':
      return { ...all(), reads: CF };
    case 'inc': case 'dec':
      return { reads: 0, defined: ARITH & ~CF, undef: 0 };
    case 'bt': case 'bts': case 'btr': case 'btc':
      return { reads: 0, defined: CF, undef: u };
    case 'bsf': case 'bsr':
      return { reads: 0, defined: ZF, undef: u };
    case 'tzcnt': case 'lzcnt':
      return { reads: 0, defined: CF | ZF, undef: u };
    case 'cmps': case 'scas':
      return opts.rep ? NO_FLAGS : all(0);
    case 'sahf':
      return { reads: 0, defined: SF | ZF | AF | PF | CF, undef: 0 };
    case 'popf':
      return all(0);
    case 'clc': case 'stc':
      return { reads: 0, defined: CF, undef: 0 };
    case 'cmc':
      return { reads: CF, defined: CF, undef: 0 };
    case 'cmpxchg8b':
      return { reads: 0, defined: ZF, undef: 0 };
    case 'verr': case 'verw':
      return { reads: 0, defined: ZF, undef: 0 };
    case 'pushf':
      return { reads: ARITH, defined: 0, undef: 0 };
    case 'lahf':
      return { reads: SF | ZF | AF | PF | CF, defined: 0, undef: 0 };
    case 'setcc': case 'cmovcc': case 'jcc':
      return { reads: ccFlags(opts.cc ?? s.op & 15), defined: 0, undef: 0 };
    case 'rol': case 'ror': case 'rcl': case 'rcr': case 'shl': case 'sal': case 'shr': case 'sar':
      return shiftEffect(s.name, size, opts.count);
    case 'shld': case 'shrd':
      return shiftDoubleEffect(size, opts.count);
    default:
      return { reads: 0, defined: 0, undef: u };
  }
}

function shiftEffect(name: string, size: number, count: number | undefined): FlagEffect {
  const rot = name === 'rol' || name === 'ror';
  const rc = name === 'rcl' || name === 'rcr';
  const cfUndefBig = (name === 'shl' || name === 'sal' || name === 'shr') && size <= 2;
  if (count === undefined) {
    if (rot) return { reads: 0, defined: 0, undef: OF };
    if (rc) return { reads: CF, defined: 0, undef: OF };
    return { reads: 0, defined: 0, undef: OF | AF | (cfUndefBig ? CF : 0) };
  }
  const m = count & (size === 8 ? 63 : 31);
  if (m === 0) return NO_FLAGS;
  const of = m === 1 ? OF : 0;
  if (rot) return { reads: 0, defined: CF | of, undef: OF & ~of };
  if (rc) return { reads: CF, defined: CF | of, undef: OF & ~of };
  let defined = CF | SF | ZF | PF | of;
  let undef = AF | (OF & ~of);
  if (cfUndefBig && m >= size * 8) {
    defined &= ~CF;
    undef |= CF;
  }
  return { reads: 0, defined, undef };
}

function shiftDoubleEffect(size: number, count: number | undefined): FlagEffect {
  if (count === undefined) return { reads: 0, defined: 0, undef: size === 2 ? ARITH : OF | AF, undefResult: size === 2 };
  const m = count & (size === 8 ? 63 : 31);
  if (m === 0) return NO_FLAGS;
  if (size === 2 && m > 16) return { reads: 0, defined: 0, undef: ARITH, undefResult: true };
  const of = m === 1 ? OF : 0;
  return { reads: 0, defined: CF | SF | ZF | PF | of, undef: AF | (OF & ~of) };
}

// ------------------------------------------------------------------ random generation

export interface Vector {
  code: Uint8Array;
  init: MachineState;
  /** RFLAGS bits, GPRs (bit n = register n) and data bytes [start, end) whose final values are undefined. */
  flagMask: number;
  /** Flags undefined at some point of the sequence (for states at a fault). */
  faultFlagMask: number;
  gprMask: number;
  dataMask: Array<[number, number]>;
  /** Table forms the code uses. */
  forms: string[];
  /** The code uses MMX registers: the initial state has a random x87/MMX state, and it is compared (all eight registers). */
  fx: boolean;
  /** Mnemonics, for messages. */
  desc: string;
  /** Replay: the run's seed and this vector's index. */
  seed: number;
  index: number;
}

type Rng = () => number;
const int = (rng: Rng, n: number): number => Math.floor(rng() * n);
const pick = <T,>(rng: Rng, a: readonly T[]): T => a[int(rng, a.length)]!;
const MASK64 = (1n << 64n) - 1n;

/** Entries the random generator draws from: tested integer entries (less hand-chosen exclusions) and the MMX entries. */
export const RANDOM_SPECS: readonly OpSpec[] = [...TESTED_SPECS.filter((s) => !/^pop 0F a[19]/.test(specKey(s))), ...MMX_SPECS];

/** How to compare a vector's outcomes (its masks; the x87/MMX state for MMX code). */
export function vectorDiffOptions(v: Vector): NativeModule.DiffOptions {
  return { flagMask: v.flagMask, faultFlagMask: v.faultFlagMask, gprMask: v.gprMask, dataMask: v.dataMask, fx: v.fx, fxAllRegs: v.fx };
}

/** Interesting 64-bit MMX register values: edge bytes, words or dwords in every lane, shift counts, edge quadwords, random bits. */
export function mmxValue(rng: Rng): bigint {
  const k = int(rng, 7);
  let v = 0n;
  if (k === 0) for (let l = 0; l < 8; l++) v |= BigInt(pick(rng, [0, 1, 2, 0x7f, 0x80, 0x81, 0xfe, 0xff, 0x40, int(rng, 256)])) << BigInt(8 * l);
  else if (k === 1) for (let l = 0; l < 4; l++) v |= BigInt(pick(rng, [0, 1, 0x7fff, 0x8000, 0x8001, 0xffff, 0xfffe, 0x00ff, 0xff00, 0x007f, 0xff80, 0x0100, int(rng, 0x10000)])) << BigInt(16 * l);
  else if (k === 2) for (let l = 0; l < 2; l++) v |= BigInt(pick(rng, [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x7fff, 0x8000, 0xffff8000, 0x00008000, 0xfffe, 0x4f000000, 0xcf000000, 0x3f800000, int(rng, 0x100000000)])) << BigInt(32 * l);
  else if (k === 3) v = BigInt(pick(rng, COUNTS)) | (rng() < 0.3 ? BigInt(int(rng, 4)) << 32n : 0n);
  else if (k === 4) v = pick(rng, EDGE64);
  else v = u64(rng);
  return v;
}

/**
 * A random x87 state holding MMX values: TOP often 0, tags often all valid
 * (as MMX code leaves them), signs/exponents often all ones, some masked
 * exception flags and condition codes; rarely a pending unmasked exception
 * (then MMX instructions raise #MF).
 */
export function randomMmxFx(rng: Rng): Uint8Array {
  const mm: bigint[] = [];
  const se: number[] = [];
  for (let k = 0; k < 8; k++) {
    mm.push(mmxValue(rng));
    se.push(rng() < 0.6 ? 0xffff : pick(rng, [0, 0x3fff, 0x4005, 0x7fff, 0xbffe, int(rng, 0x10000)]));
  }
  const top = rng() < 0.6 ? 0 : int(rng, 8);
  const valid = rng() < 0.6 ? 0xff : rng() < 0.3 ? 0 : int(rng, 256);
  let fsw = rng() < 0.5 ? 0 : int(rng, 0x10000) & 0x4700;
  if (rng() < 0.3) fsw |= int(rng, 64);
  let fcw = 0x037f;
  if (rng() < 0.04) {
    fcw &= ~1;
    fsw |= 1;
  }
  return N.mmxFx(mm, { top, valid, fsw, fcw, se });
}

/**
 * Entries generated only in their memory form: the host (AMD) raises #UD for
 * the register form of 0F 0D, which the emulator treats as a NOP (a known
 * difference, kept in a hand-written vector).
 */
const HOST_MEM_ONLY = new Set(['prefetchw']);

/** Names whose memory operand is not accessed (no fixup needed, any address works). */
const NO_ACCESS = new Set(['lea', 'nop', 'prefetch', 'prefetchw']);
const STRING = new Set(['movs', 'cmps', 'stos', 'lods', 'scas']);

interface Unit {
  bytes: number[];
  spec: OpSpec;
  size: number;
  mem: boolean | undefined;
  /** Apply register fixups that make the operands meaningful (pointers into the data area, …). */
  fix: (st: MachineState) => void;
  /** Flag effect given the state the instruction starts from (exact) or null (unknown state). */
  effect: (st: MachineState | null) => FlagEffect;
  /** Where the destination lives (for undefined results): a GPR, or a data offset. */
  destReg?: number;
  /** Effective address of the memory operand in a given state (memory forms that access memory). */
  ea?: (st: MachineState) => bigint;
  memSize: number;
  /** Must run first (its exactness depends on the initial state). */
  firstOnly?: boolean;
}

const setReg = (st: MachineState, r: number, v: bigint): void => {
  st.gpr[r] = v & MASK64;
};

/** Read `size` bytes of the data area at `off` (little-endian), or undefined outside it. */
function dataAt(data: Uint8Array, off: number, size: number): bigint | undefined {
  if (off < 0 || off + size > DATA_SIZE) return undefined;
  let v = 0n;
  for (let k = size - 1; k >= 0; k--) v = (v << 8n) | BigInt(data[off + k]!);
  return v;
}

/** Value of a sized register operand (AH..BH for 16..19). */
function regVal(st: MachineState, r: number, size: number): bigint {
  if (r >= 16) return (st.gpr[r - 16]! >> 8n) & 0xffn;
  const m = size >= 8 ? MASK64 : (1n << BigInt(size * 8)) - 1n;
  return st.gpr[r]! & m;
}

/** A data-area offset for a memory operand of `size` bytes: mostly inside, sometimes across an edge. */
function pickTarget(rng: Rng, size: number, align = 1): number {
  const r = rng();
  let off: number;
  if (r < 0.82) off = 64 + int(rng, DATA_SIZE - 192);
  else if (r < 0.9) off = 0x1000 * (1 + int(rng, 15)) - 1 - int(rng, Math.max(1, size)); // straddles an inner page boundary
  else if (r < 0.96) off = DATA_SIZE - 1 - int(rng, size + 2); // may run into the guard page
  else off = -1 - int(rng, 8); // below the area
  if (align > 1 && rng() < 0.9) off &= ~(align - 1);
  return off;
}

/** Interesting shift counts. */
const COUNTS = [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 255];

/**
 * Encode one random instruction of entry `s` at code offset `at` (`force`:
 * the operand size and register/memory form), with the register fixups that
 * point its operands into `data`.
 */
function encodeUnit(rng: Rng, s: OpSpec, at: number, data: Uint8Array, force?: { size: number; mem: boolean | undefined }): Unit {
  const sizes = specSizes(s);
  const size = force ? force.size : pick(rng, sizes);
  const mods = HOST_MEM_ONLY.has(s.name) ? [true] : specMods(s);
  const mem = force ? force.mem : pick(rng, mods);
  const legacy: number[] = [];
  const W = s.rexW === true || (size === 8 && s.size === 'v');
  const isString = STRING.has(s.name);
  let addr32 = false;
  if (size === 2 && s.size !== 'w') legacy.push(0x66);
  if (mem && s.lockable && rng() < 0.35) legacy.push(0xf0);
  else if (s.modrm && rng() < 0.01) legacy.push(0xf0); // lock on a form that does not allow it: #UD
  if ((mem || isString || s.name === 'xlat' || s.imm === 'moffs') && rng() < 0.08) {
    legacy.push(0x67);
    addr32 = true;
  }
  // Segment overrides: the null ones, and GS (base 0 on both sides; FS holds the host's TLS base).
  if (rng() < 0.05) legacy.push(pick(rng, [0x2e, 0x3e, 0x26, 0x36, 0x65]));
  let rep = 0;
  if (isString && rng() < 0.6) rep = s.name === 'cmps' || s.name === 'scas' ? pick(rng, [0xf3, 0xf2]) : rng() < 0.85 ? 0xf3 : 0xf2;
  else if (s.map === MAP_1B && s.prefix === undefined && !isString && rng() < 0.03) rep = pick(rng, [0xf3, 0xf2]);
  if (rep) legacy.push(rep);
  // Shuffle the legacy prefixes; the mandatory prefix goes last.
  for (let k = legacy.length - 1; k > 0; k--) {
    const j = int(rng, k + 1);
    [legacy[k], legacy[j]] = [legacy[j]!, legacy[k]!];
  }
  if (s.prefix) legacy.push(s.prefix);

  const byteRegs = s.byteRegs ?? (s.size === 'b' ? 'both' : 'none');
  let useRex = W || rng() < 0.45;
  let rexR = 0, rexX = 0, rexB = 0;
  // Register fields.
  let regField: number;
  if (s.ext !== undefined) {
    regField = s.ext;
    if (useRex) rexR = int(rng, 2);
  } else {
    regField = int(rng, 8);
    if (useRex) rexR = int(rng, 2);
  }
  const fixes: Array<(st: MachineState) => void> = [];
  let modrm: number | undefined;
  let sib: number | undefined;
  let disp: number[] = [];
  let ripRelAt = -1; // offset within bytes of a disp32 to patch
  let target = 0; // data offset of the memory operand
  let rmReg = -1;
  const memSize = size || (s.name === 'cvtpd2pi' || s.name === 'cvttpd2pi' ? 16 : 8);
  // The memory operand: an absolute address, or base + index * scale + disp.
  let memAbs: bigint | undefined;
  let memBase = -1, memIndex = -1, memScale = 0, memDisp = 0n;
  let opLow = 0;
  if (s.opReg) {
    opLow = int(rng, 8);
    if (useRex) rexB = int(rng, 2);
  }
  if (s.modrm) {
    if (!mem) {
      let rm = s.rmField ?? int(rng, 8);
      if (useRex && s.rmField === undefined) rexB = int(rng, 2);
      modrm = 0xc0 | (regField << 3) | rm;
      rmReg = rm | (rexB << 3);
    } else {
      const align = (s.name === 'cmpxchg8b' && W) || s.name === 'cvtpd2pi' || s.name === 'cvttpd2pi' ? 16 : 1;
      target = pickTarget(rng, memSize, align);
      const r = rng();
      if (r < 0.1) {
        // RIP-relative: the displacement is patched once the length is known.
        modrm = (regField << 3) | 5;
        ripRelAt = 0;
        disp = [0, 0, 0, 0];
        memAbs = BigInt(DATA_ADDR + target);
      } else if (r < 0.16) {
        // Absolute [disp32] through a SIB without base or index.
        modrm = (regField << 3) | 4;
        sib = (int(rng, 4) << 6) | (4 << 3) | 5;
        const a = DATA_ADDR + target;
        disp = le(a, 4);
        memAbs = BigInt(a);
      } else {
        let base = int(rng, 16);
        const useSib = rng() < 0.45 || (base & 7) === 4; // rsp/r12 as a base need a SIB
        let index = -1, scale = 0;
        let mod = pick(rng, [0, 1, 2]);
        if ((base & 7) === 5 && mod === 0) mod = 1;
        if (useSib) {
          index = int(rng, 16);
          if (index === 4) index = -1; // rsp: no index
          scale = int(rng, 4);
          if (rng() < 0.1) {
            base = -1; // no base: [index*s + disp32]
            mod = 0;
          }
        }
        if (base >= 8 || index >= 8) useRex = true;
        if (base >= 8) rexB = 1;
        if (index >= 8) rexX = 1;
        if (useSib) {
          modrm = (mod << 6) | (regField << 3) | 4;
          sib = (scale << 6) | ((index < 0 ? 4 : index & 7) << 3) | (base < 0 ? 5 : base & 7);
        } else {
          modrm = (mod << 6) | (regField << 3) | (base & 7);
        }
        let d = 0;
        if (base < 0) d = 0; // disp32 decided below
        else if (mod === 1) d = int(rng, 256) - 128;
        else if (mod === 2) d = rng() < 0.5 ? int(rng, 0x2000) - 0x1000 : (int(rng, 0x100000) - 0x80000) | 0;
        const idxVal = index < 0 ? 0n : BigInt(int(rng, 33) - 16);
        const sc = BigInt(1 << scale);
        const want = BigInt(DATA_ADDR + target);
        if (base < 0) {
          const dd = Number(want - idxVal * sc);
          disp = le(dd, 4);
        } else {
          disp = mod === 1 ? [d & 0xff] : mod === 2 ? le(d, 4) : [];
        }
        memBase = base;
        memIndex = index;
        memScale = scale;
        memDisp = base < 0 ? BigInt(Number(want - idxVal * sc)) : BigInt(d);
        const hiJunk = addr32 && rng() < 0.5 ? BigInt(int(rng, 0x100000000)) << 32n : 0n;
        const dispV = BigInt(base < 0 ? 0 : d);
        fixes.push((st) => {
          if (base >= 0 && base === index) {
            // v*(1+sc) + d = want (rounded).
            const v = (want - dispV) / (1n + sc);
            setReg(st, base, v | hiJunk);
            return;
          }
          if (index >= 0) setReg(st, index, idxVal);
          if (base >= 0) setReg(st, base, (want - dispV - idxVal * sc) | hiJunk);
        });
      }
    }
  }
  // Immediate.
  let imm: number[] = [];
  let immVal = 0;
  switch (s.imm) {
    case 'ib': case 'ub':
      immVal = rng() < 0.4 ? pick(rng, COUNTS) : int(rng, 256);
      imm = [immVal & 0xff];
      break;
    case 'iw':
      imm = le(int(rng, 0x10000), 2);
      break;
    case 'iz':
      imm = size === 2 ? le(rndImm(rng, 2), 2) : le(rndImm(rng, 4), 4);
      break;
    case 'iv':
      imm = size === 2 ? le(rndImm(rng, 2), 2) : size === 4 ? le(rndImm(rng, 4), 4) : [...le(rndImm(rng, 4), 4), ...le(rndImm(rng, 4), 4)];
      break;
    case 'moffs': {
      target = pickTarget(rng, memSize);
      const a = DATA_ADDR + target;
      imm = addr32 ? le(a, 4) : [...le(a, 4), 0, 0, 0, 0];
      break;
    }
    case 'iw_ib':
      imm = [...le(int(rng, 0x40) * (rng() < 0.5 ? 8 : 1), 2), rng() < 0.7 ? int(rng, 4) : int(rng, 256)];
      break;
    default:
      break;
  }
  const rex = useRex ? 0x40 | (W ? 8 : 0) | (rexR << 2) | (rexX << 1) | rexB : 0;
  const opBytes = s.map === MAP_1B ? [s.op + opLow] : s.map === MAP_0F ? [0x0f, s.op + opLow] : s.map === MAP_0F38 ? [0x0f, 0x38, s.op] : [0x0f, 0x3a, s.op];
  const bytes = [...legacy, ...(rex ? [rex] : []), ...opBytes];
  if (modrm !== undefined) bytes.push(modrm);
  if (sib !== undefined) bytes.push(sib);
  const dispPos = bytes.length;
  bytes.push(...disp, ...imm);
  if (ripRelAt >= 0) {
    const next = CODE_ADDR + at + bytes.length;
    const d = DATA_ADDR + target - next;
    bytes.splice(dispPos, 4, ...le(d, 4));
  }

  // Register numbers as the instruction sees them.
  const regNum = s.opReg ? opLow | (rexB << 3) : regField | (rexR << 3);
  const byteReg = (n: number, applies: boolean): number => (applies && size === 1 && !rex && n >= 4 && n < 8 ? n + 12 : n);
  const eReg = rmReg >= 0 ? byteReg(rmReg, byteRegs === 'both' || byteRegs === 'rm') : -1;

  // Instruction-specific fixups.
  const name = s.name;
  const countOf = (st: MachineState | null): number | undefined => {
    if (s.op === 0xd0 || s.op === 0xd1) return 1;
    if (s.imm === 'ub' || s.imm === 'ib') return immVal;
    return st ? Number(st.gpr[1]! & 0xffn) : undefined;
  };
  let firstOnly = false;
  if (name === 'shl' || name === 'sal' || name === 'shr' || name === 'sar' || name === 'rol' || name === 'ror' || name === 'rcl' || name === 'rcr' || name === 'shld' || name === 'shrd') {
    if (!s.imm && s.op !== 0xd0 && s.op !== 0xd1 && rng() < 0.6) {
      const cnt = BigInt(pick(rng, COUNTS));
      fixes.push((st) => setReg(st, 1, (st.gpr[1]! & ~0xffn) | cnt));
    }
    if ((name === 'shld' || name === 'shrd') && size === 2) firstOnly = true;
  }
  if (isString) {
    const so = 0x100 + int(rng, DATA_SIZE - 0x200), dO = 0x100 + int(rng, DATA_SIZE - 0x200);
    const near = rng() < 0.1;
    const cnt = BigInt(rng() < 0.15 ? 0 : rng() < 0.9 ? int(rng, 20) : int(rng, 600));
    fixes.push((st) => {
      setReg(st, 6, BigInt(DATA_ADDR + (near ? DATA_SIZE - 8 - int(rng, 8) : so)));
      setReg(st, 7, BigInt(DATA_ADDR + (near && rng() < 0.5 ? 4 + int(rng, 8) : dO)));
      if (rep) setReg(st, 1, addr32 && rng() < 0.5 ? (BigInt(int(rng, 0x10000)) << 32n) | cnt : cnt);
      if ((name === 'scas' || name === 'cmps') && rng() < 0.3) {
        // Make a match likely: the accumulator equals the first element.
        const v = dataAt(data, Number(st.gpr[7]! - BigInt(DATA_ADDR)), memSize);
        if (v !== undefined) setReg(st, 0, v);
      }
    });
  }
  if (name === 'maskmovq') {
    const t = pickTarget(rng, 8);
    fixes.push((st) => setReg(st, 7, BigInt(DATA_ADDR + t)));
  }
  if (name === 'xlat') fixes.push((st) => setReg(st, 3, BigInt(DATA_ADDR + 0x100 + int(rng, DATA_SIZE - 0x200))));
  if (name === 'leave' || name === 'enter') fixes.push((st) => setReg(st, 5, BigInt(DATA_ADDR + 0x200 + int(rng, DATA_SIZE - 0x400))));
  if ((name === 'bt' || name === 'bts' || name === 'btr' || name === 'btc') && mem && !s.imm) {
    const off = BigInt(rng() < 0.8 ? int(rng, 512) - 128 : int(rng, 0x10000) - 0x8000);
    fixes.push((st) => setReg(st, regNum, off));
  }
  if ((name === 'div' || name === 'idiv') && rng() < 0.7) {
    fixes.push((st) => {
      const bits = BigInt(size * 8);
      const m = (1n << bits) - 1n;
      const divisor = mem ? dataAt(data, target, size) : regVal(st, eReg, size);
      if (divisor === undefined) return;
      if (size === 1) {
        // AX / r8: AH is the high part.
        const lo = st.gpr[0]! & 0xffn;
        const hi = name === 'div' ? (divisor === 0n ? 0n : BigInt(int(rng, 0x10000)) % divisor) : lo & 0x80n ? 0xffn : 0n;
        setReg(st, 0, (st.gpr[0]! & ~0xffffn) | (hi << 8n) | lo);
        return;
      }
      const lo = st.gpr[0]! & m;
      const hi = name === 'div' ? (divisor === 0n ? 0n : u64(rng) % divisor) : lo >> (bits - 1n) ? m : 0n;
      setReg(st, 2, (st.gpr[2]! & ~m) | (hi & m));
    });
  }
  if (name === 'cmpxchg' && rng() < 0.5) {
    fixes.push((st) => {
      const v = mem ? dataAt(data, target, size) : regVal(st, eReg, size);
      if (v === undefined) return;
      if (size === 1) setReg(st, 0, (st.gpr[0]! & ~0xffn) | v);
      else setReg(st, 0, v);
    });
  }
  if (name === 'cmpxchg8b' && rng() < 0.5) {
    fixes.push((st) => {
      if (W) {
        const a = dataAt(data, target, 8), b = dataAt(data, target + 8, 8);
        if (a === undefined || b === undefined) return;
        setReg(st, 0, a);
        setReg(st, 2, b);
      } else {
        const a = dataAt(data, target, 4), b = dataAt(data, target + 4, 4);
        if (a === undefined || b === undefined) return;
        setReg(st, 0, a);
        setReg(st, 2, b);
      }
    });
  }
  if (name === 'popf') {
    // popf is preceded by a push of a clean value (TF and AC clear: no single-step, no alignment checks).
    const v = (int(rng, 0x400000) & ~0x40100) | (rng() < 0.8 ? 0 : 0x400);
    const push = size === 2 ? [0x66, 0x68, ...le(v & 0xffff, 2)] : [0x68, ...le(v & 0x7fffffff, 4)];
    bytes.unshift(...push);
  }
  if (name === 'sahf' || name === 'lahf') {
    // nothing: AH from the state
  }
  const effect = (st: MachineState | null): FlagEffect => {
    const cnt = name === 'shld' || name === 'shrd' || /^(rol|ror|rcl|rcr|shl|sal|shr|sar)$/.test(name) ? countOf(st) : undefined;
    return flagEffect(s, size, { count: cnt, rep: isString && rep !== 0 });
  };
  const u: Unit = { bytes, spec: s, size, mem, memSize, fix: (st) => fixes.forEach((f) => f(st)), effect, firstOnly };
  if (modrm !== undefined) {
    if (mem && !NO_ACCESS.has(name)) {
      u.ea = (st) => {
        let a: bigint;
        if (memAbs !== undefined) a = memAbs;
        else {
          a = memDisp;
          if (memBase >= 0) a += st.gpr[memBase]!;
          if (memIndex >= 0) a += st.gpr[memIndex]! << BigInt(memScale);
        }
        return addr32 ? a & 0xffffffffn : a & MASK64;
      };
    } else if (!mem) u.destReg = eReg >= 16 ? eReg - 16 : eReg;
  }
  return u;
}

function rndImm(rng: Rng, bytes: number): number {
  const r = rng();
  if (r < 0.15) return 0;
  if (r < 0.25) return 1;
  if (r < 0.35) return -1;
  if (r < 0.5) return bytes === 2 ? pick(rng, [0x7fff, 0x8000, 0xffff]) : pick(rng, [0x7fffffff, 0x80000000 | 0, 0xffff, 0x8000]);
  return bytes === 2 ? int(rng, 0x10000) : int(rng, 0x100000000) | 0;
}

function le(v: number, n: number): number[] {
  const out: number[] = [];
  let x = BigInt.asUintN(n * 8, BigInt(Math.trunc(v)));
  for (let k = 0; k < n; k++) {
    out.push(Number(x & 0xffn));
    x >>= 8n;
  }
  return out;
}

function u64(rng: Rng): bigint {
  return (BigInt(int(rng, 0x100000000)) << 32n) | BigInt(int(rng, 0x100000000));
}

/**
 * Generate `count` random vectors from `seed`: 1-3 instructions each
 * (mostly one), drawn from RANDOM_SPECS (or `specs`), with random states
 * sharing one random data area per 256 vectors. Sequences never read a flag
 * an earlier instruction left undefined.
 */
export function generateVectors(seed: number, count: number, specs: readonly OpSpec[] = RANDOM_SPECS, from = 0): Vector[] {
  const out: Vector[] = [];
  let data: Uint8Array | undefined;
  for (let index = from; index < count; index++) {
    if (!data || index % 256 === 0) data = dataBlock(seed, index);
    out.push(generateOne(seed, index, data, specs));
  }
  return out;
}

/** The random data area shared by vectors 256k … 256k+255 of a run. */
export function dataBlock(seed: number, index: number): Uint8Array {
  const data = new Uint8Array(DATA_SIZE);
  N.fillRandom(data, (seed ^ Math.imul((index & ~255) + 1, 0x9e3779b1)) | 0);
  return data;
}

/** Vector `index` of run `seed` (pass dataBlock(seed, index) as `data` to get generateVectors' vector). */
export function generateOne(seed: number, index: number, data: Uint8Array, specs: readonly OpSpec[] = RANDOM_SPECS): Vector {
  return generate(seed, index, data, specs);
}

/**
 * One vector exercising one form (entry, operand size, register/memory) with
 * a deterministic pseudo-random encoding; `state` replaces the random
 * machine state (its register fixups are still applied).
 */
export function generateForm(seed: number, index: number, data: Uint8Array, s: OpSpec, size: number, mem: boolean | undefined, state?: MachineState): Vector {
  return generate(seed, index, data, [s], { size, mem }, state);
}

function generate(seed: number, index: number, data: Uint8Array, specs: readonly OpSpec[], force?: { size: number; mem: boolean | undefined }, state?: MachineState): Vector {
  const rng = N.makeRng((seed * 0x1000193) ^ (index * 0x27d4eb2d) ^ 0x5bd1e995);
  for (let attempt = 0; ; attempt++) {
    const n = force ? 1 : rng() < 0.65 ? 1 : rng() < 0.75 ? 2 : 3;
    const units: Unit[] = [];
    let at = 0;
    if (force) {
      units.push(encodeUnit(rng, specs[0]!, 0, data, force));
      at = units[0]!.bytes.length;
    }
    for (let k = units.length; k < n; k++) {
      let s = pick(rng, specs);
      let u = encodeUnit(rng, s, at, data);
      while (u.firstOnly && k > 0) {
        s = pick(rng, specs);
        u = encodeUnit(rng, s, at, data);
      }
      units.push(u);
      at += u.bytes.length;
    }
    const init = state ? { ...N.cloneState(state, true), data } : N.randomState(rng, data);
    const mmx = units.some((u) => isMmxSpec(u.spec));
    if (mmx && !init.fx) init.fx = randomMmxFx(rng);
    // The first instruction's fixups win: apply in reverse order.
    for (let k = units.length - 1; k >= 0; k--) units[k]!.fix(init);
    // Undefined flags through the sequence.
    let undef = 0;
    let everUndef = 0;
    let ok = true;
    let gprMask = 0;
    const dataMask: Array<[number, number]> = [];
    units.forEach((u, k) => {
      const e = u.effect(k === 0 ? init : null);
      if (e.reads & undef) ok = false;
      undef = (undef & ~e.defined) | e.undef;
      everUndef |= undef;
      if (e.undefResult) {
        // Only alone: the undefined result must not feed later instructions.
        if (units.length > 1) ok = false;
        if (u.destReg !== undefined && u.destReg >= 0) gprMask |= 1 << u.destReg;
        if (u.ea) {
          const off = Number(u.ea(init) - BigInt(DATA_ADDR));
          dataMask.push([off, off + u.memSize]);
        }
      }
    });
    if (!ok && attempt < 50) continue;
    const code = new Uint8Array(units.flatMap((u) => u.bytes));
    return {
      code,
      init,
      flagMask: undef,
      faultFlagMask: everUndef,
      gprMask,
      dataMask,
      forms: units.map((u) => formLabel(u.spec, u.size, u.mem)),
      desc: units.map((u) => u.spec.name).join('; '),
      fx: mmx,
      seed,
      index,
    };
  }
}

// ------------------------------------------------------------------ edge values

/** 64-bit edge values: zero, one, all ones, the signed extremes of every size, and neighbours. */
export const EDGE64: readonly bigint[] = [
  0n, 1n, MASK64, 2n, 0x7fn, 0x80n, 0xffn, 0x100n, 0x7fffn, 0x8000n, 0xffffn, 0x10000n,
  0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n, 0x7fffffffffffffffn, 0x8000000000000000n,
  0xffffffffffffff80n, 0xffffffffffff8000n, 0xffffffff80000000n, 0xffffffff7fffffffn, 0x8000000000000001n, 0x7ffffffffffffffen,
  0x0123456789abcdefn, 0xfedcba9876543210n, 0x5555555555555555n, 0xaaaaaaaaaaaaaaaan, 0x00000000ffff0000n, 0xffffffff00000001n,
  31n, 32n, 63n, 64n, 0x1fn, 0x3fn,
];

/** A data area of edge values: 8-byte aligned slot k holds EDGE64[(k + shift) % n]. */
export function edgeData(shift = 0): Uint8Array {
  const d = new Uint8Array(DATA_SIZE);
  const dv = new DataView(d.buffer);
  for (let o = 0; o < DATA_SIZE; o += 8) dv.setBigUint64(o, EDGE64[(o / 8 + shift) % EDGE64.length]!, true);
  return d;
}

/** Machine state k of an edge sweep: each register holds a different edge value; flags vary. */
export function edgeState(k: number, data: Uint8Array): MachineState {
  const st = N.zeroState(data);
  for (let r = 0; r < 16; r++) st.gpr[r] = EDGE64[(k * 7 + r * 5) % EDGE64.length]!;
  st.gpr[4] = BigInt(DATA_ADDR + 0x8000);
  const flagSets = [0x2, 0x2 | CF, 0x2 | ARITH, 0x2 | ZF | PF, 0x2 | CF | OF | SF, 0x2 | AF];
  st.rflags = flagSets[k % flagSets.length]!;
  return st;
}

// ------------------------------------------------------------------ known emulator bugs

/**
 * Known emulator bugs found by these tests (reported to the owner of the
 * CPU files; each has deterministic `it.fails` vectors in cpu-diff.test.ts).
 * The ids key KNOWN_BUG_SIGNATURES.
 */
export const KNOWN_BUGS: Record<string, string> = {
  // None open. (Fixed: enterProbe — enter now probes the new stack top for writing; its vectors are in "fixed bugs".)
};

type Outcome = NativeModule.Outcome;

/** The instruction of `code` at `rip` (CODE_ADDR-based). */
export function insnAt(code: Uint8Array, rip: bigint | undefined): (InsnInfo & { bytes: Uint8Array }) | undefined {
  if (rip === undefined) return undefined;
  const off = Number(rip - BigInt(CODE_ADDR));
  const i = identify(code).find((x) => x.offset === off);
  return i && { ...i, bytes: code.subarray(i.offset, i.offset + i.len) };
}

const LEGACY = [0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x2e, 0x3e, 0x26, 0x36, 0x64, 0x65];
function hasPrefix(b: Uint8Array, p: number): boolean {
  for (const x of b) {
    if (x === p) return true;
    if (!LEGACY.includes(x) && (x & 0xf0) !== 0x40) return false;
  }
  return false;
}
const faultInsn = (code: Uint8Array, n: Outcome) => (n.kind === 'fault' ? insnAt(code, n.rip) : undefined);

/** Signatures of the known bugs: does a difference look like bug `id`? */
export const KNOWN_BUG_SIGNATURES: Record<string, (code: Uint8Array, n: Outcome, e: Outcome, diff: string[]) => boolean> = {};

/** The known bug a difference matches, if any. */
export function knownBug(code: Uint8Array, n: Outcome, e: Outcome, diff: string[]): string | undefined {
  for (const [id, m] of Object.entries(KNOWN_BUG_SIGNATURES)) if (m(code, n, e, diff)) return id;
  return undefined;
}

/**
 * Differences that are not bugs: which operand of a two-memory-operand
 * string instruction (movs, cmps) faults first when both are bad is
 * implementation-specific (the host checks [RDI] first); and a vector whose
 * stores overwrote the harness's return jump just past the code (the code
 * area is writable: a random address can land there), so that natively it
 * faults outside the code while the emulated run, which ends differently,
 * completes.
 */
export function toleratedDifference(code: Uint8Array, n: Outcome, e: Outcome): boolean {
  if (n.kind === 'fault' && e.kind === 'ok' && n.rip !== undefined && n.vector >= 0) {
    const off = n.rip - BigInt(CODE_ADDR);
    if (off < 0n || off >= BigInt(code.length)) return true;
  }
  if (n.kind !== 'fault' || e.kind !== 'fault' || n.rip !== e.rip) return false;
  const memFaults = [12, 13, 14];
  if (!memFaults.includes(n.vector) || !memFaults.includes(e.vector)) return false;
  const i = insnAt(code, n.rip);
  return !!i && (i.name === 'movs' || i.name === 'cmps');
}
