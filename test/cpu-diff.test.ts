/**
 * Differential tests of the integer and MMX instructions against the host CPU.
 *
 * Every vector runs natively (test/native/harness.c, one batch for the whole
 * file) and on our Cpu; results are compared with only the flags the SDM
 * leaves undefined masked (per instruction, and for shifts/rotates per
 * count). Groups:
 * - a sweep of every integer table form (entry × operand size × register/
 *   memory) over edge values; the coverage test fails if a form of the table
 *   has no vector (control-flow/privileged/system entries are listed in
 *   SKIPPED, and many still get vectors below);
 * - hand-written edge cases: carries and overflow with flag consumers, shift
 *   counts 0/1/31/32/63/64+, division faults, string ops with DF=1 and rep
 *   with RCX=0, lock forms, AH..BH with and without REX, 16-bit operands,
 *   RIP-relative addressing, operands at page ends, stack, control flow,
 *   #UD/#GP at CPL 3;
 * - MMX: a sweep of every MMX table form (MMX_SPECS) from edge MMX/x87
 *   states, element operations over edge lanes, shift counts, moves and REX
 *   bits, pshufw/pinsrw/pextrw/pmovmskb/maskmovq, conversions under every
 *   rounding mode, the aliasing with the x87 register file (TOP, tags,
 *   exponents; fxsave/fnsave/fnstenv images, x87 code around MMX code),
 *   faults (page ends, pending x87 exceptions, #XM, #UD encodings); the whole
 *   x87 state is compared, all eight registers included; a coverage test
 *   fails if an MMX form has no vector;
 * - known emulator bugs, as `it.fails` vectors (they pass once fixed: then
 *   move the vectors into "fixed bugs"; none is open now).
 */
// vector-gen must be imported before anything that loads the CPU.
import {
  allForms, CF, edgeData, edgeState, flagEffect, generateForm, identify, INTEGER_SPECS, KNOWN_BUGS, knownBug, MMX_SPECS, OF, SF, skipReason, specKey,
  specMods, specSizes, TESTED_SPECS, toleratedDifference, vectorDiffOptions, ZF, type Vector,
} from './helpers/vector-gen.ts';
import { describe, expect, it } from 'vitest';
import {
  assemble, DATA_ADDR, DATA_SIZE, diffOutcomes, disassemble, hex64, hexBytes, mmFromFx, mmxFx, nativeAvailable, REG_NAMES, runEmulated, runNative,
  zeroState, type MachineState, type Outcome,
} from './helpers/native.ts';

// ------------------------------------------------------------------ building vectors

interface HandVector {
  group: string;
  name: string;
  asm?: string;
  code?: Uint8Array;
  init: MachineState;
  flagMask?: number;
  faultFlagMask?: number;
  gprMask?: number;
  dataMask?: Array<[number, number]>;
  /** A known emulator bug this vector reproduces (it runs under it.fails). */
  bug?: string;
  /** MMX code: compare the x87 state, all eight registers included. */
  mmx?: boolean;
}

const vectors: HandVector[] = [];
const DATA = DATA_ADDR;
const D = (off: number): bigint => BigInt(DATA + off);
const M64 = (1n << 64n) - 1n;

type RegName = 'rax' | 'rcx' | 'rdx' | 'rbx' | 'rsp' | 'rbp' | 'rsi' | 'rdi' | 'r8' | 'r9' | 'r10' | 'r11' | 'r12' | 'r13' | 'r14' | 'r15';
type Regs = Partial<Record<RegName, bigint | number>>;

/** Shared data areas (sent to the harness once each). */
const EDGE_DATA = [edgeData(0), edgeData(5), edgeData(11), edgeData(17)];
const PATTERN = EDGE_DATA[0]!;

/**
 * A state: every register holds a distinct pattern (so partial writes and
 * missing zero-extension show), RSP is in the middle of the data area, and
 * `regs` override. Flags: arithmetic flags and DF.
 */
function st(regs: Regs = {}, flags = 0, data = PATTERN): MachineState {
  const s = zeroState(data);
  for (let k = 0; k < 16; k++) s.gpr[k] = (0x8877665544332211n + BigInt(k) * 0x0101010101010101n) & M64;
  s.gpr[4] = D(0x8000);
  for (const [n, v] of Object.entries(regs)) s.gpr[REG_NAMES.indexOf(n)] = BigInt(v) & M64;
  s.rflags = 0x2 | flags;
  return s;
}

function add(group: string, name: string, asm: string, init: MachineState, extra: Partial<HandVector> = {}): void {
  vectors.push({ group, name, asm, init, ...extra });
}

const SIZES = [8, 16, 32, 64] as const;
const R = { 8: ['al', 'cl', 'dl', 'bl'], 16: ['ax', 'cx', 'dx', 'bx'], 32: ['eax', 'ecx', 'edx', 'ebx'], 64: ['rax', 'rcx', 'rdx', 'rbx'] } as const;
const PTR = { 8: 'byte ptr', 16: 'word ptr', 32: 'dword ptr', 64: 'qword ptr' } as const;
/** Edge values for a size (as unsigned bigints). */
function edges(bits: number): bigint[] {
  const m = (1n << BigInt(bits)) - 1n;
  const h = 1n << BigInt(bits - 1);
  return [0n, 1n, m, h - 1n, h, h + 1n, m - 1n, 2n, 0x55n & m, (0xaaaaaaaaaaaaaaaan & m)];
}

// ------------------------------------------------------------------ 1. sweep of every table form

const SWEEP_PER_FORM = 4;
const SWEEP: Vector[] = [];
{
  let index = 0;
  for (const s of TESTED_SPECS) {
    for (const size of specSizes(s)) {
      for (const mem of specMods(s)) {
        for (let k = 0; k < SWEEP_PER_FORM; k++) {
          const data = EDGE_DATA[k % EDGE_DATA.length]!;
          SWEEP.push(generateForm(0x5eed, index++, data, s, size, mem, edgeState(k + index, data)));
        }
      }
    }
  }
}

// ------------------------------------------------------------------ 2. ALU flags and their consumers

const SETCC_ALL = 'seto r8b\nsetno r9b\nsetb r10b\nsetae r11b\nsete r12b\nsetne r13b\nsetbe r14b\nseta r15b\nsets sil\nsetns dil\nsetp bpl\nsetnp ah\nsetl dh\nsetge ch\nsetle bh\nsetg dl';
const CMOV_ALL = 'cmovo rsi, r8\ncmovb rdi, r9\ncmovbe rbp, r10\ncmovl r11, r12\ncmovle r13, r14';

for (const bits of SIZES) {
  const [a, b] = [R[bits][0], R[bits][3]];
  const ev = edges(bits);
  for (const op of ['add', 'adc', 'sub', 'sbb', 'cmp', 'and', 'or', 'xor', 'test']) {
    for (let i = 0; i < ev.length; i++) {
      for (const j of [0, 1, 2, 4, 5, 6]) {
        const cf = (i + j) & 1 ? CF : 0;
        const consumers = op === 'and' || op === 'or' || op === 'xor' || op === 'test' ? SETCC_ALL : `${SETCC_ALL}\n${CMOV_ALL}`;
        add('alu flags', `${op} ${a}, ${b} [${ev[i]!.toString(16)}, ${ev[j]!.toString(16)}] CF=${cf}`, `${op} ${a}, ${b}\n${consumers}`, st({ rax: ev[i]!, rbx: ev[j]! }, cf));
      }
    }
  }
  for (const op of ['neg', 'inc', 'dec', 'not']) {
    for (const v of ev) {
      add('alu flags', `${op} ${a} [${v.toString(16)}]`, `${op} ${a}\n${SETCC_ALL}`, st({ rax: v }, CF));
      add('alu flags', `${op} ${a} [${v.toString(16)}] CF=0`, `${op} ${a}\nadc ${b}, 0\n${SETCC_ALL}`, st({ rax: v, rbx: 7 }));
    }
  }
}
// Carry chains through the lazy flags (adc after add, sbb after sub, inc keeps CF).
for (const [x, y] of [[M64, 1n], [0x8000000000000000n, 0x8000000000000000n], [0x7fffffffffffffffn, 1n], [0n, 1n], [0xffffffffn, 1n]] as const) {
  add('alu flags', `128-bit add chain ${x.toString(16)}+${y.toString(16)}`, 'add rax, rbx\nadc rdx, rcx\nadc r8, 0\nsetc r9b\nseto r10b', st({ rax: x, rbx: y, rdx: x, rcx: y, r8: 0 }));
  add('alu flags', `128-bit sub chain ${x.toString(16)}-${y.toString(16)}`, 'sub rax, rbx\nsbb rdx, rcx\nsbb r8, 0\nsetc r9b\nsetl r10b', st({ rax: y, rbx: x, rdx: 0, rcx: 0, r8: 0 }));
  add('alu flags', `inc keeps CF ${x.toString(16)}`, 'add rax, rbx\ninc rcx\nadc rdx, 0\ndec r8\nsbb r9, 0', st({ rax: x, rbx: y }));
}
// Flags into memory-destination forms, and pushf/lahf reading fully defined flags.
for (const bits of SIZES) {
  for (const v of edges(bits).slice(0, 7)) {
    add('alu flags', `add ${PTR[bits]} [mem] ${v.toString(16)}`, `add ${PTR[bits]} [rbx], ${R[bits][1]}\npushfq\npop rax\nlahf`, st({ rbx: D(0x100), rcx: v }));
    add('alu flags', `sub ${PTR[bits]} [mem] ${v.toString(16)}`, `sub ${PTR[bits]} [rbx + 8], ${R[bits][1]}\n${SETCC_ALL}`, st({ rbx: D(0x100), rcx: v }));
  }
}
// sahf/lahf round trip and cmc/clc/stc.
for (const ah of [0x00, 0xff, 0xd5, 0x2a, 0x01, 0x40]) {
  add('alu flags', `sahf ${ah.toString(16)}`, `sahf\n${SETCC_ALL}\ncmc\nsetc al\nlahf`, st({ rax: ah << 8 }));
}
add('alu flags', 'clc/stc/cmc', 'stc\nsetc al\nclc\nsetc bl\ncmc\nsetc cl\ncmc\nsetc dl', st());

// ------------------------------------------------------------------ 3. shifts and rotates

const COUNTS = [0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 255];
for (const bits of SIZES) {
  const a = R[bits][0];
  const vals = [0x8000000000000001n, 0x4000000000000000n | 0x55n, M64, 1n, 0xc0000000c0008080n];
  for (const op of ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sar']) {
    for (const c of COUNTS) {
      for (const [vi, v] of vals.entries()) {
        const cf = vi & 1 ? CF : 0;
        add('shifts', `${op} ${a}, cl [${v.toString(16)}] cl=${c}`, `${op} ${a}, cl`, st({ rax: v, rcx: c }, cf | (vi === 2 ? OF : 0)));
      }
      add('shifts', `${op} ${a}, ${c & 0xff}`, `${op} ${a}, ${c & 0xff}`, st({ rax: 0x8000000180008081n }, CF));
    }
    add('shifts', `${op} ${a}, 1 (D1 form)`, `${op} ${a}, 1\n${SETCC_ALL.split('\n').slice(0, 6).join('\n')}`, st({ rax: 0xc000000000000080n }, 0));
    add('shifts', `${op} ${PTR[bits]} [mem], cl`, `${op} ${PTR[bits]} [rbx], cl`, st({ rbx: D(0x200), rcx: 3 }, CF));
    add('shifts', `${op} ${PTR[bits]} [mem], 1`, `${op} ${PTR[bits]} [rbx + 1], 1`, st({ rbx: D(0x200) }));
    // Count 0: no fault? The memory operand is still accessed (page end → #PF).
    add('shifts', `${op} ${PTR[bits]} [guard], 0`, `${op} ${PTR[bits]} [rbx], 0`, st({ rbx: D(DATA_SIZE) }));
  }
  // sal is shl under its own encoding (/6).
  const rex = bits === 64 ? [0x48] : bits === 16 ? [0x66] : [];
  const op8 = bits === 8 ? 0xd2 : 0xd3;
  add('shifts', `sal /6 ${a}, cl`, `.byte ${[...rex, op8, 0xf0].join(', ')}`, st({ rax: 0x4000000000004041n, rcx: 1 }));
  add('shifts', `sal /6 ${a}, cl=5`, `.byte ${[...rex, op8, 0xf0].join(', ')}`, st({ rax: 0x4000000000004041n, rcx: 5 }));
}
// Shifts followed by flag consumers (only the defined flags are read).
add('shifts', 'shl then setcc (count 1)', `shl eax, 1\nsetc bl\nseto cl\nsetz dl\nsets sil\nsetp dil`, st({ rax: 0xc0000000 }));
add('shifts', 'shr then setcc (count 1)', `shr rax, 1\nsetc bl\nseto cl\nsetz dl\nsets sil\nsetp dil`, st({ rax: 0x8000000000000001n }));
add('shifts', 'sar then adc', `sar eax, 5\nadc ebx, 0\nsetz cl`, st({ rax: 0x80000010 }));
add('shifts', 'rcl chain', 'shl rax, 1\nrcl rbx, 1\nrcl rcx, 1\nsetc dl', st({ rax: M64, rbx: 0x8000000000000000n, rcx: 0 }));
add('shifts', 'shift by 0 keeps lazy flags', 'add eax, ebx\nshl ecx, 0\nsetc dl\nseto sil\nsetz dil', st({ rax: 0xffffffff, rbx: 1, rcx: 5 }));
add('shifts', 'shift by cl=0 keeps flags', 'cmp eax, ebx\nshl rdx, cl\nsetb sil', st({ rax: 1, rbx: 2, rcx: 0x40 }));

// shld / shrd
for (const bits of [16, 32, 64] as const) {
  const [a, b] = [R[bits][0], R[bits][3]];
  for (const op of ['shld', 'shrd']) {
    for (const c of [0, 1, 2, 4, 15, 16, 17, 31, 32, 33, 63, 64]) {
      const undefinedResult = bits === 16 && (c & 31) > 16;
      add('shifts', `${op} ${a}, ${b}, cl=${c}`, `${op} ${a}, ${b}, cl`, st({ rax: 0x8123456789abcdefn, rbx: 0xfedcba9876543210n, rcx: c }, CF), undefinedResult ? { gprMask: 1 } : {});
      add('shifts', `${op} ${a}, ${b}, ${c}`, `${op} ${a}, ${b}, ${c}`, st({ rax: 0x0123456789abcdefn, rbx: 0xf0dcba9876543211n }), undefinedResult ? { gprMask: 1 } : {});
    }
    add('shifts', `${op} ${PTR[bits]} [mem], ${b}, cl`, `${op} ${PTR[bits]} [rdi], ${b}, cl`, st({ rdi: D(0x300), rbx: 0x1234567890abcdefn, rcx: 5 }));
    add('shifts', `${op} ${PTR[bits]} [mem], ${b}, 1`, `${op} ${PTR[bits]} [rdi + 2], ${b}, 1`, st({ rdi: D(0x300), rbx: 0x8000000000000000n }));
  }
}

// ------------------------------------------------------------------ 4. multiply and divide

for (const bits of SIZES) {
  const ev = edges(bits);
  const src = R[bits][3];
  for (const op of ['mul', 'imul']) {
    for (const x of ev) for (const y of [ev[1]!, ev[2]!, ev[4]!, ev[3]!, 3n]) {
      add('muldiv', `${op} ${src} [${x.toString(16)} * ${y.toString(16)}]`, `${op} ${src}\nsetc cl\nseto dil`, st({ rax: x, rbx: y, rdx: 0x1111 }));
    }
    add('muldiv', `${op} ${PTR[bits]} [mem]`, `${op} ${PTR[bits]} [rsi]`, st({ rax: ev[3]!, rsi: D(0x408) }));
  }
  if (bits !== 8) {
    const [a, b] = [R[bits][0], R[bits][3]];
    for (const x of ev) for (const y of [ev[2]!, ev[4]!, 2n, ev[3]!]) {
      add('muldiv', `imul ${a}, ${b} [${x.toString(16)} * ${y.toString(16)}]`, `imul ${a}, ${b}\nsetc cl\nseto dl`, st({ rax: x, rbx: y }));
      add('muldiv', `imul ${a}, ${b}, -2 [${x.toString(16)}]`, `imul ${a}, ${b}, -2\nseto cl`, st({ rbx: x }));
      add('muldiv', `imul ${a}, ${b}, 0x7f..`, `imul ${a}, ${b}, ${bits === 16 ? '0x7fff' : '0x7fffffff'}\nseto cl`, st({ rbx: x }));
    }
  }
  // Division: normal, by zero, quotient overflow, negative operands.
  const hiReg = bits === 8 ? 'ah' : R[bits][2];
  const divCases: Array<[string, bigint, bigint, bigint]> = [
    ['7/2', 0n, 7n, 2n],
    ['by zero', 0n, 5n, 0n],
    ['overflow (high >= divisor)', 3n, 0n, 3n],
    ['max / 1', 0n, ev[2]!, 1n],
    ['high part / max', ev[2]! - 1n, ev[2]!, ev[2]!],
    ['min / -1', bits === 8 ? 0xffn : ev[2]!, ev[4]!, ev[2]!],
    ['-7 / 2', ev[2]!, ev[2]! - 6n, 2n],
    ['7 / -2', 0n, 7n, ev[2]! - 1n],
    ['-min+1 / -1', ev[2]!, ev[5]!, ev[2]!],
    ['big / small', ev[3]!, ev[2]!, ev[4]! + 3n],
  ];
  for (const op of ['div', 'idiv']) {
    for (const [what, hi, lo, d] of divCases) {
      const regs: Regs = bits === 8 ? { rax: ((hi & 0xffn) << 8n) | (lo & 0xffn), rbx: d } : { rax: lo, rdx: hi, rbx: d };
      add('muldiv', `${op} ${src}: ${what}`, `${op} ${src}`, st(regs));
    }
    add('muldiv', `${op} ${PTR[bits]} [mem] by zero`, `${op} ${PTR[bits]} [rsi]`, st({ rax: 5, rdx: 0, rsi: D(0) }));
    add('muldiv', `${op} ${PTR[bits]} [mem]`, `${op} ${PTR[bits]} [rsi]`, st({ rax: 0x123456789n, rdx: 0, rsi: D(0x8 * 11) }));
    void hiReg;
  }
}
// 128/64 division with a large high half (the BigInt path).
for (const [hi, lo, d] of [[0x7fffffffffffffffn, M64, M64], [0x123456789n, 0xabcdef0123456789n, 0x1000000000n], [1n, 0n, 2n], [0xffffffffffffffffn, 0x8000000000000000n, 0x8000000000000000n]] as const) {
  add('muldiv', `div rbx 128/64 ${hi.toString(16)}:${lo.toString(16)}`, 'div rbx', st({ rdx: hi, rax: lo, rbx: d }));
  add('muldiv', `idiv rbx 128/64 ${hi.toString(16)}:${lo.toString(16)}`, 'idiv rbx', st({ rdx: hi, rax: lo, rbx: d }));
}

// ------------------------------------------------------------------ 5. string instructions

const STR_SUFFIX = { 8: 'b', 16: 'w', 32: 'd', 64: 'q' } as const;
for (const bits of SIZES) {
  const sfx = STR_SUFFIX[bits];
  for (const df of [0, 0x400]) {
    const base: Regs = { rsi: D(0x1000 + 0x40), rdi: D(0x2000 + 0x80), rax: 0x1122334455667788n };
    for (const op of ['movs', 'stos', 'lods', 'cmps', 'scas']) {
      add('strings', `${op}${sfx} DF=${df ? 1 : 0}`, `${op}${sfx}`, st(base, df));
      for (const rcx of [0, 1, 5, 33]) {
        const reps = op === 'cmps' || op === 'scas' ? ['repe', 'repne'] : ['rep'];
        for (const rep of reps) add('strings', `${rep} ${op}${sfx} rcx=${rcx} DF=${df ? 1 : 0}`, `${rep} ${op}${sfx}`, st({ ...base, rcx }, df));
      }
      // Address size 32: ESI/EDI/ECX (the upper halves are ignored and cleared).
      add('strings', `addr32 rep ${op}${sfx} DF=${df ? 1 : 0}`, `.byte 0x67\nrep ${op}${sfx}`, st({ rsi: D(0x1040) | 0xabcd00000000n, rdi: D(0x2080) | 0x1200000000n, rcx: 0x1500000003n }, df));
    }
    // Matching and mismatching compares: data with runs of equal elements.
    add('strings', `repe cmps${sfx} equal run DF=${df ? 1 : 0}`, `repe cmps${sfx}`, st({ rsi: D(0x3000), rdi: D(0x3000 + 8 * 36), rcx: 40 }, df));
    add('strings', `repne scas${sfx} finds DF=${df ? 1 : 0}`, `repne scas${sfx}`, st({ rdi: D(0x3000), rax: 0x55, rcx: 100 }, df));
    add('strings', `repe scas${sfx} zeros DF=${df ? 1 : 0}`, `repe scas${sfx}`, st({ rdi: D(0x3000), rax: 0, rcx: 100 }, df));
    // Faults in the middle of a rep: RCX/RSI/RDI show the progress.
    add('strings', `rep stos${sfx} into the guard page DF=${df ? 1 : 0}`, `rep stos${sfx}`, st({ rdi: df ? D(0x40) : D(DATA_SIZE - 0x40), rcx: 0x100 }, df));
    add('strings', `rep movs${sfx} from the guard page DF=${df ? 1 : 0}`, `rep movs${sfx}`, st({ rsi: df ? D(0x30) : D(DATA_SIZE - 0x30), rdi: D(0x5000), rcx: 0x100 }, df));
    add('strings', `rep movs${sfx} across a page, overlapping DF=${df ? 1 : 0}`, `rep movs${sfx}`, st({ rsi: D(0x5ff0), rdi: D(0x5ff0 + 3), rcx: 40 }, df));
    add('strings', `rep movs${sfx} overlapping backwards DF=${df ? 1 : 0}`, `rep movs${sfx}`, st({ rsi: D(0x6010), rdi: D(0x6008), rcx: 40 }, df));
    add('strings', `lods${sfx} at the end of the area`, `lods${sfx}`, st({ rsi: D(DATA_SIZE - 2) }, df));
  }
  add('strings', `rep movs${sfx} large count`, `rep movs${sfx}`, st({ rsi: D(0x1000), rdi: D(0x8000), rcx: 0x1000 / (bits / 8) }));
}
add('strings', 'repne scasb with rcx = 2^32 + 3 (64-bit count)', 'repne scasb', st({ rdi: D(0x100), rax: 0x77, rcx: 0x100000003n }));
add('strings', 'cmpsb flags into setcc', 'cmpsb\nsetb al\nsetl bl\nseto cl\nsetz dl', st({ rsi: D(0x10), rdi: D(0x20) }));
add('strings', 'movs with rep prefix F2', '.byte 0xf2, 0xa4', st({ rsi: D(0x10), rdi: D(0x400), rcx: 7 }));

// ------------------------------------------------------------------ 6. lock-prefixed forms

for (const bits of SIZES) {
  const r = R[bits][1];
  const p = PTR[bits];
  for (const op of ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor']) {
    add('lock', `lock ${op} ${p} [mem], ${r}`, `lock ${op} ${p} [rbx], ${r}`, st({ rbx: D(0x700), rcx: 0x8000000180008081n }, CF));
    add('lock', `lock ${op} ${p} [mem], imm`, `lock ${op} ${p} [rbx + 8], ${bits === 8 ? '0x81' : '-3'}`, st({ rbx: D(0x700) }, CF));
  }
  for (const op of ['inc', 'dec', 'not', 'neg']) add('lock', `lock ${op} ${p} [mem]`, `lock ${op} ${p} [rbx]`, st({ rbx: D(0x708) }, CF));
  add('lock', `lock xadd ${p} [mem]`, `lock xadd ${p} [rbx], ${r}`, st({ rbx: D(0x710), rcx: 0x7f7f7f7f7f7f7f7fn }));
  add('lock', `lock cmpxchg ${p} [mem] equal`, `lock cmpxchg ${p} [rbx], ${r}`, st({ rbx: D(0), rax: 0, rcx: 0x99 }));
  add('lock', `lock cmpxchg ${p} [mem] not equal`, `lock cmpxchg ${p} [rbx], ${r}`, st({ rbx: D(8), rax: 0, rcx: 0x99 }));
  add('lock', `xchg ${p} [mem] (implicitly locked)`, `xchg ${p} [rbx], ${r}`, st({ rbx: D(0x718), rcx: 0x1234 }));
  add('lock', `lock on a register form: #UD`, `.byte 0xf0\nadd ${R[bits][0]}, ${r}`, st());
  if (bits !== 8) {
    for (const op of ['bts', 'btr', 'btc']) {
      add('lock', `lock ${op} ${p} [mem], ${r}`, `lock ${op} ${p} [rbx], ${r}`, st({ rbx: D(0x720), rcx: 77 }));
      add('lock', `lock ${op} ${p} [mem], imm`, `lock ${op} ${p} [rbx], 13`, st({ rbx: D(0x720) }));
    }
  }
}
add('lock', 'lock mov: #UD', '.byte 0xf0\nmov dword ptr [rbx], eax', st({ rbx: D(0) }));
add('lock', 'lock cmp: #UD', '.byte 0xf0\ncmp dword ptr [rbx], eax', st({ rbx: D(0) }));
add('lock', 'lock cmpxchg8b equal', 'lock cmpxchg8b [rbx]', st({ rbx: D(8), rax: 1, rdx: 0, rcx: 0xaaaa, }));
add('lock', 'lock cmpxchg8b not equal', 'lock cmpxchg8b [rbx]', st({ rbx: D(8), rax: 2, rdx: 0 }));
add('lock', 'lock cmpxchg16b equal', 'lock cmpxchg16b [rbx]', st({ rbx: D(16), rax: 0xffffffffffffffffn, rdx: 2, rcx: 5, }));
add('lock', 'lock cmpxchg16b not equal', 'lock cmpxchg16b [rbx]', st({ rbx: D(16), rax: 0, rdx: 0 }));
add('lock', 'cmpxchg16b misaligned: #GP', 'cmpxchg16b [rbx]', st({ rbx: D(8) }));
add('lock', 'cmpxchg8b misaligned is fine', 'cmpxchg8b [rbx]', st({ rbx: D(3) }));

// ------------------------------------------------------------------ 7. 8-bit high registers

{
  const regs: Regs = { rax: 0x1122334455667788n, rbx: 0x99aabbccddeeff00n, rcx: 0x0102030405060708n, rdx: 0x8090a0b0c0d0e0f0n, rsi: 0xfedcba9876543210n, rdi: 0x0f1e2d3c4b5a6978n, rsp: D(0x8000), rbp: 0xdeadbeefcafebaben };
  const cases = [
    'mov ah, bh', 'mov ch, dh', 'mov al, ah', 'mov bh, cl', 'add ah, bh', 'sub ch, ah', 'adc dh, bh', 'xor ah, ah', 'and bh, 0x0f', 'cmp ah, ch\nsetb al',
    'inc ah', 'dec bh', 'neg ch', 'not dh', 'shl ah, cl', 'rol bh, 3', 'test ah, bh', 'xchg ah, al', 'xchg ch, dh', 'mov byte ptr [rsp], ah', 'mov bh, byte ptr [rsp + 3]',
     'movzx eax, ah', 'movsx ecx, bh', 'movzx dx, ch', 'seto ah', 'setb bh', 'mul ah', 'imul ch', 'div bh', 'lahf', 'cmpxchg ah, bh', 'xadd bh, ch',
    // With a REX prefix the same encodings name SPL/BPL/SIL/DIL.
    'mov spl, bpl', 'mov sil, dil', 'mov al, spl', 'add sil, 7', 'xchg dil, al', 'movzx eax, sil', 'movsx rcx, bpl', 'sete sil', 'inc dil',
    'mov r8b, sil', 'mov r15b, dil', '.byte 0x40, 0x88, 0xe0', '.byte 0x40, 0x0f, 0xb6, 0xc7', '.byte 0x40, 0x86, 0xc4',
  ];
  for (const c of cases) add('high bytes', c.replace(/\n/g, '; '), c, st(regs, CF));
}

// ------------------------------------------------------------------ 8. operand size 16 (and 32-bit zero-extension)

{
  const regs: Regs = { rax: 0x1122334455668000n, rbx: 0x99aabbccddee7fffn, rcx: 0x0102030405060003n, rdx: 0xffffffffffffffffn, rsi: D(0x900), rdi: D(0xa00) };
  const cases = [
    'add ax, bx', 'sub ax, bx', 'adc cx, 0xffff', 'imul ax, bx', 'imul cx, bx, 0x1234', 'mul bx', 'div cx', 'idiv cx', 'neg ax', 'inc dx', 'cmp ax, bx',
    'mov ax, 0x1234', 'mov word ptr [rsi], bx', 'mov cx, word ptr [rsi + 2]', 'movzx ax, bl', 'movsx ax, bl', 'movsx cx, byte ptr [rsi]', 'movzx eax, bx', 'movsx rax, bx',
    'xchg ax, bx', 'xchg cx, ax', 'xchg word ptr [rsi], dx', 'lea ax, [rbx + rcx*2 + 5]', 'lea eax, [rbx + rcx*2 + 5]', 'lea rax, [rbx + rcx*2 + 5]',
    'cmovz ax, bx', 'cmovnz ax, bx', 'cmovz eax, ebx', 'cmovnz eax, ebx', 'cmovz rax, rbx',
    'shl ax, cl', 'sar bx, 15', 'rol dx, 8', 'shld ax, bx, 4', 'bt ax, 15', 'bts bx, cx', 'bsf ax, bx', 'bsr cx, dx', 'tzcnt ax, cx', 'lzcnt ax, bx', 'popcnt ax, dx',
    'push ax\npop bx', 'pushw 0x8001\npop cx', 'push word ptr [rsi]\npop word ptr [rdi]', 'pushfw\npop ax', 'cbw', 'cwd', 'cwde', 'cdq', 'cdqe', 'cqo',
    'bswap eax', 'bswap rax', '.byte 0x66, 0x0f, 0xc8', 'movbe ax, word ptr [rsi]', 'movbe word ptr [rdi], bx', 'movbe eax, dword ptr [rsi]', 'movbe rax, qword ptr [rsi]',
    'xchg eax, eax', 'nop', '.byte 0x66, 0x90', 'mov eax, eax', 'add eax, 0', 'and ebx, ebx', 'mov ax, ds', 'mov eax, ss', 'mov rax, cs', 'mov word ptr [rsi], ss',
    '.byte 0x66, 0x0f, 0xa0\npop ax', 'push fs\npop rax', 'push gs\npop rbx', 'movsxd rax, ebx', 'movsxd rax, dword ptr [rsi]', '.byte 0x63, 0xc3', '.byte 0x66, 0x63, 0xc3',
  ];
  for (const c of cases) add('operand size', c.replace(/\n/g, '; '), c, st(regs, ZF | CF));
}

// ------------------------------------------------------------------ 9. addressing: RIP-relative, SIB, page ends

{
  const a: Array<[string, Regs]> = [
    ['mov rax, qword ptr [rip + DATA + 0x18]', {}],
    ['mov eax, dword ptr [rip + DATA_END - 4]', {}],
    ['add dword ptr [rip + DATA + 0x20], 0x12345', {}],
    ['add byte ptr [rip + DATA + 0x21], 7', {}],
    ['cmp word ptr [rip + DATA + 0x22], 0x7fff\nsetl al', {}],
    ['lea rax, [rip + 0x100]', {}],
    ['lea rbx, [rip - 1]', {}],
    ['.byte 0x67\nmov eax, dword ptr [rip + DATA + 0x28]', {}],
    ['.byte 0x67\nlea rax, [rip + 0x10]', {}],
    ['mov rax, qword ptr [DATA + 0x30]', {}],
    ['mov rax, qword ptr [rbx + rcx*8 + 8]', { rbx: D(0x100), rcx: 3 }],
    ['mov rax, qword ptr [rbx + rcx*8 - 8]', { rbx: D(0x100), rcx: -3 }],
    ['mov rax, qword ptr [rcx*4 + DATA + 0x40]', { rcx: 5 }],
    ['mov rax, qword ptr [rsp + 8]', {}],
    ['mov rax, qword ptr [rbp + 0]', { rbp: D(0x48) }],
    ['mov rax, qword ptr [r12]', { r12: D(0x50) }],
    ['mov rax, qword ptr [r13 + 0]', { r13: D(0x58) }],
    ['mov rax, qword ptr [r12 + r13*2]', { r12: D(0x50), r13: 4 }],
    ['mov rax, qword ptr [rbx + rbx]', { rbx: BigInt(DATA + 0x80) / 2n }],
    ['mov eax, dword ptr [ebx + ecx*4]', { rbx: 0xffffffff00000000n | D(0x60), rcx: 0x1234500000002n }],
    ['mov eax, dword ptr [ebx - 4]', { rbx: D(0x60) }],
    ['mov eax, dword ptr [ebx + 0x10]', { rbx: 0xfffffff8 }],
    ['lea eax, [rbx + rcx]', { rbx: 0xfffffffffffffff0n, rcx: 0x20 }],
    ['lea rax, [ebx + ecx]', { rbx: 0xfffffff0, rcx: 0x20 }],
    ['lea ax, [rbx + 0x7fff]', { rbx: 0x12348001 }],
  ];
  for (const [c, regs] of a) add('addressing', c.replace(/\n/g, '; '), c, st(regs));
  // Operands at the end of the area (the next page is not mapped) and across inner page boundaries.
  for (const bits of [16, 32, 64] as const) {
    const n = bits / 8;
    const r = R[bits][0], p = PTR[bits];
    for (let k = 1; k <= n; k++) {
      add('page ends', `load ${p} at end-${k}`, `mov ${r}, ${p} [rbx]`, st({ rbx: D(DATA_SIZE - k) }));
      add('page ends', `store ${p} at end-${k}`, `mov ${p} [rbx], ${r}`, st({ rbx: D(DATA_SIZE - k) }));
      add('page ends', `rmw ${p} at end-${k}`, `add ${p} [rbx], ${r}`, st({ rbx: D(DATA_SIZE - k) }));
      add('page ends', `load ${p} across a page at 0x1000-${k}`, `mov ${r}, ${p} [rbx]`, st({ rbx: D(0x1000 - k) }));
      add('page ends', `rmw ${p} across a page at 0x3000-${k}`, `xor ${p} [rbx], ${r}`, st({ rbx: D(0x3000 - k), rax: M64 }));
      add('page ends', `load ${p} below the area`, `mov ${r}, ${p} [rbx - ${k}]`, st({ rbx: D(0) }));
    }
    add('page ends', `xchg ${p} at the end`, `xchg ${p} [rbx], ${r}`, st({ rbx: D(DATA_SIZE - n + 2) }));
    add('page ends', `cmpxchg ${p} at the end`, `cmpxchg ${p} [rbx], ${R[bits][1]}`, st({ rbx: D(DATA_SIZE - n + 2) }));
    add('page ends', `movs ${p} across the end`, `movs${STR_SUFFIX[bits]}`, st({ rsi: D(0x10), rdi: D(DATA_SIZE - 1) }));
    add('page ends', `xchg ${p} ending at the page end`, `xchg ${p} [rbx], ${r}`, st({ rbx: D(DATA_SIZE - n + 1) }));
  }
  add('page ends', 'push at the bottom of the area', 'push rax', st({ rsp: D(4) }));
  add('page ends', 'push at the bottom (16-bit)', 'push ax', st({ rsp: D(1) }));
  add('page ends', 'pop at the top of the area', 'pop rax', st({ rsp: D(DATA_SIZE - 4) }));
  add('page ends', 'call with a bad stack', 'call 1f\n1:', st({ rsp: D(0) }));
  add('page ends', 'cmpxchg16b at the end', 'cmpxchg16b [rbx]', st({ rbx: D(DATA_SIZE - 16), rax: 1 }));
  add('page ends', 'cmpxchg8b at the end', 'cmpxchg8b [rbx]', st({ rbx: D(DATA_SIZE - 4) }));
  add('page ends', 'cmpxchg8b at the end-7', 'cmpxchg8b [rbx]', st({ rbx: D(DATA_SIZE - 7) }));
  add('page ends', 'movbe at the end', 'movbe dword ptr [rbx], eax', st({ rbx: D(DATA_SIZE - 3) }));
  add('page ends', 'bt bit string beyond the end', 'bt dword ptr [rbx], ecx', st({ rbx: D(DATA_SIZE - 8), rcx: 64 }));
  add('page ends', 'bt bit string before the start', 'bts qword ptr [rbx], rcx', st({ rbx: D(0), rcx: -1 }));
  add('page ends', 'bt bit string far', 'btr word ptr [rbx], cx', st({ rbx: D(0x8000), rcx: 0x8000 }));
  add('page ends', 'setcc to the guard page', 'setz byte ptr [rbx]', st({ rbx: D(DATA_SIZE) }));
  add('page ends', 'xlat', 'xlatb', st({ rbx: D(DATA_SIZE - 0x80), rax: 0x7f }));
  add('page ends', 'xlat past the end', 'xlatb', st({ rbx: D(DATA_SIZE - 0x80), rax: 0x80 }));
  add('page ends', 'moffs load', 'movabs rax, [0x20000008]', st());
  add('page ends', 'moffs store at the end', 'movabs [0x2000fffc], eax', st());
  add('page ends', 'moffs al', 'movabs al, [0x2000ffff]', st());
  add('page ends', 'non-canonical address: #GP', 'mov rax, qword ptr [rbx]', st({ rbx: 0x8000000000000000n }));
  add('page ends', 'non-canonical stack: #SS', 'mov rax, qword ptr [rsp + rbx]', st({ rbx: 0x7000000000000000n }));
  add('page ends', 'non-canonical [rbp + rbx]: #SS', 'mov rax, qword ptr [rbp + rbx]', st({ rbp: 0x8000000000000000n, rbx: 8 }));
  add('page ends', 'non-canonical [rbx + rbp]: #GP (the base decides)', 'mov rax, qword ptr [rbx + rbp]', st({ rbp: 0x8000000000000000n, rbx: 8 }));
  add('page ends', 'cmpxchg16b aligned non-canonical [rbp]: #SS', 'cmpxchg16b [rbp]', st({ rbp: 0x8000000000000000n }));
  add('page ends', 'cmpxchg16b misaligned non-canonical [rbx]: #GP', 'cmpxchg16b [rbx]', st({ rbx: 0x8000000000000008n }));
  add('page ends', 'kernel address: #PF', 'mov rax, qword ptr [rbx]', st({ rbx: 0xffffffff81000000n }));
  add('page ends', 'null page: #PF', 'mov dword ptr [rbx], eax', st({ rbx: 0 }));
  // Bit 47 must equal bits 63..48 (48-bit linear addresses).
  add('page ends', 'load from 0x0000800000000000: #GP', 'mov rax, qword ptr [rbx]', st({ rbx: 0x800000000000n }));
  add('page ends', 'load from 0xffff7fffffff0000: #GP', 'mov rax, qword ptr [rbx]', st({ rbx: 0xffff7fffffff0000n }));
  add('page ends', 'load from 0x00007ffffffffff8: #PF', 'mov rax, qword ptr [rbx]', st({ rbx: 0x7ffffffffff8n }));
  add('page ends', 'stack at 0x0000800000000010: #SS', 'push rax', st({ rsp: 0x800000000010n }));
  add('page ends', 'lodsb at 0x0000800000000000: #GP', 'lodsb', st({ rsi: 0x800000000000n }));
  add('page ends', 'jump to 0x0000800000000000: #GP', 'jmp rax', st({ rax: 0x800000000000n }));
  add('page ends', 'ret to a non-canonical address', 'push rax\nret', st({ rax: 0xffff000000000000n }));
  add('page ends', 'store qword crossing into the guard page at end-3', 'add qword ptr [rbx], rax', st({ rbx: D(DATA_SIZE - 3) }));
}

// ------------------------------------------------------------------ 10. stack

{
  const cases: Array<[string, Regs?, number?]> = [
    ['push rax\npush rbx\npop rcx\npop rdx'], ['push 0x7f\npush -1\npush 0x12345678\npush -0x12345678\npop rax\npop rbx\npop rcx\npop rdx'],
    ['push rsp\npop rax'], ['pop rsp', { rsp: D(0x100) }], ['push qword ptr [rsp]\npop rax'], ['push qword ptr [rsp + 8]'], ['pop qword ptr [rsp]'], ['pop qword ptr [rsp + 8]'],
    ['pop qword ptr [rsp - 8]'], ['push r15\npop r8'], ['pushw 0x8000\npushw 0x1\npop eax'.replace('pop eax', 'pop rax')], ['push ax\npush bx\npop ecx'.replace('pop ecx', 'pop rcx')],
    ['pop ax\npop bx'], ['pop word ptr [rsp]'], ['push word ptr [rsp + 1]'],
    ['pushfq\npop rax'], ['add eax, ebx\npushfq\npop rcx', { rax: 0x7fffffff, rbx: 1 }], ['sub eax, ebx\npushfw\npop cx', { rax: 0, rbx: 1 }],
    ['push 0x00000cd5\npopfq\npushfq\npop rax'], ['push 0\npopfq\nsetc al\nsetz bl'], ['push 0x00244ad7\npopfq\npushfq\npop rax'], ['push 0x200\npopfq\npushfq\npop rax'],
    ['pushw 0x0ed7\npopfw\npushfq\npop rax'], ['push 0x3000\npopfq\npushfq\npop rax'],
    ['enter 0, 0\nleave', { rbp: D(0x4000) }], ['enter 0x20, 0', { rbp: D(0x4000) }], ['enter 0x20, 1', { rbp: D(0x4000) }], ['enter 0x10, 2', { rbp: D(0x4000) }],
    ['enter 8, 5', { rbp: D(0x4000) }], ['enter 0, 31', { rbp: D(0x4000) }], ['enter 0, 32', { rbp: D(0x4000) }], ['enter 0xffff, 3', { rbp: D(0x4000) }],
    ['.byte 0x66\nenter 0x10, 2', { rbp: D(0x4000) }], ['leave', { rbp: D(0x4000) }], ['.byte 0x66\nleave', { rbp: D(0x4000) }], ['leave', { rbp: D(DATA_SIZE - 4) }],
    ['enter 0x10, 3\nleave', { rbp: D(0x4000) }],
  ];
  for (const [c, regs, fl] of cases) add('stack', c.replace(/\n/g, '; '), c, st(regs ?? {}, fl ?? 0));
}

// ------------------------------------------------------------------ 11. misc data movement

{
  const regs: Regs = { rax: 0x80000000000000ffn, rbx: D(0x200), rcx: 0xffffffff80000001n, rdx: 0x0000000100007f80n, rsi: D(0x300), rdi: D(0x400) };
  const cases = [
    'mov rax, 0x123456789abcdef0', 'mov eax, 0xffffffff', 'mov rax, -1', 'mov ax, -1', 'mov al, -1', 'mov r9, 0x7fffffff', 'mov qword ptr [rbx], -2', 'mov dword ptr [rbx], -2',
    'mov word ptr [rbx], -2', 'mov byte ptr [rbx], -2', 'mov qword ptr [rbx], rcx', 'mov rcx, qword ptr [rbx]', 'mov ecx, dword ptr [rbx]', 'mov cx, word ptr [rbx]',
    'movzx eax, byte ptr [rbx + 7]', 'movzx rax, word ptr [rbx + 6]', 'movsx rax, byte ptr [rbx + 7]', 'movsx eax, word ptr [rbx + 6]', 'movsx rcx, cx', 'movzx ecx, cl',
    'xlatb', 'bswap ecx', 'bswap rdx', 'bswap r11', 'cmovl rax, rcx', 'cmovge eax, ecx', 'cmovs rdx, qword ptr [rbx]', 'setg byte ptr [rbx]', 'sets al',
    'xchg r8, rax', 'xchg rax, r8', 'xchg r9d, eax', '.byte 0x41, 0x90', '.byte 0x66, 0x41, 0x90', 'pause', 'nop dword ptr [rax + rax]', '.byte 0x66, 0x0f, 0x1f, 0x44, 0, 0',
    'prefetcht0 [rbx]', 'prefetchnta [rcx]', 'prefetchw [rbx]', 'clflush [rbx]', 'lfence', 'mfence', 'sfence', 'movnti qword ptr [rbx], rcx', 'movnti dword ptr [rbx], ecx',
    'lea rax, [rbx + rcx*8 - 0x80]', 'lea eax, [rcx + rdx]', 'cld\nstd\npushfq\npop rax', 'xor eax, eax\nverr ax',
    // Sign extension of immediates and operands.
    'add rax, -1', 'add rax, -0x80000000', 'mov rax, -0x80000000', 'mov qword ptr [rbx], -0x80000000', 'and rcx, -2', 'cmp ax, -1\nsete bl', 'test rax, -1',
    'imul rax, rcx, -1', 'push -0x80\npop rdx', 'push -0x80000000\npop rdx', 'adc ecx, -1', 'or dx, -0x80', 'sub r9, 0x7fffffff', 'xor r10d, -1',
    'cbw\ncwde\ncdqe', 'movsx eax, al\nmovsx rcx, cx\nmovsxd rdx, edx', 'cqo\ncdq\ncwd',
    // GS override (the GS base is 0 on both sides; FS holds the host's TLS and is not compared).
    'mov rax, qword ptr gs:[rbx]', 'add dword ptr gs:[rbx + 4], ecx',
  ];
  for (const c of cases) add('misc', c.replace(/\n/g, '; '), c, st(regs, SF | OF));
}

// ------------------------------------------------------------------ 12. bit instructions

for (const bits of [16, 32, 64] as const) {
  const [a, b] = [R[bits][0], R[bits][3]];
  const p = PTR[bits];
  for (const op of ['bt', 'bts', 'btr', 'btc']) {
    for (const off of [0, 1, bits - 1, bits, bits + 5, -1, -bits, 200, -200]) {
      add('bits', `${op} ${p} [mem], ${b}=${off}`, `${op} ${p} [rsi], ${b}`, st({ rsi: D(0x800), rbx: off }, ZF));
      add('bits', `${op} ${a}, ${b}=${off}`, `${op} ${a}, ${b}`, st({ rax: 0x8000000000000001n | 0x5555n, rbx: off }, ZF));
    }
    for (const imm of [0, 5, bits - 1, bits, 255]) add('bits', `${op} ${a}, ${imm}`, `${op} ${a}, ${imm}`, st({ rax: 0xaaaaaaaaaaaaaaaan }, ZF));
  }
  for (const op of ['bsf', 'bsr', 'tzcnt', 'lzcnt', 'popcnt']) {
    for (const v of [0n, 1n, 0x8000000000000000n, 0x80000000n, 0x8000n, 0x10000n, 0x100000000n, M64, 0x0ff0n]) {
      add('bits', `${op} ${a}, ${b}=${v.toString(16)}`, `${op} ${a}, ${b}\nsetz cl\nsetc dl`.replace('setc dl', op.startsWith('bs') ? '' : 'setc dl'), st({ rax: 0x1234567812345678n, rbx: v }));
    }
    add('bits', `${op} ${a}, ${p} [mem]`, `${op} ${a}, ${p} [rsi]`, st({ rsi: D(0x808) }));
  }
}

// ------------------------------------------------------------------ 13. control flow

{
  const ccs = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];
  const pairs: Array<[bigint, bigint]> = [[1n, 2n], [2n, 1n], [5n, 5n], [0x8000000000000000n, 1n], [M64, 0n], [0x7fffffffffffffffn, M64]];
  for (const cc of ccs) {
    for (const [x, y] of pairs) {
      add('control', `cmp; j${cc} rel8 [${x.toString(16)}, ${y.toString(16)}]`, `cmp rax, rbx\nj${cc} 1f\nmov ecx, 1\n1:\nnop`, st({ rax: x, rbx: y }));
    }
    add('control', `add; j${cc} rel32`, `add eax, ebx\n.byte 0x0f, ${0x80 + ccs.indexOf(cc)}\n.long 5\nmov ecx, 1\nnop`, st({ rax: 0x7fffffff, rbx: 1 }));
    add('control', `sub; cmov${cc}; set${cc}`, `sub ax, bx\ncmov${cc} ecx, edx\nset${cc} r8b`, st({ rax: 0x8000, rbx: 1 }));
  }
  const cases: Array<[string, Regs?]> = [
    ['jmp 1f\nmov eax, 1\n1:\nnop'], ['jmp 2f\n1: mov ebx, 2\njmp 3f\n2: jmp 1b\n3:'], ['.byte 0xe9\n.long 2\nnop\nnop\nmov ecx, 7'],
    ['call 1f\nmov eax, 1\n1: pop rbx'], ['call 1f\njmp 2f\n1: ret\n2: mov ecx, 3'], ['call 1f\njmp 2f\n1: ret 16\n2: nop'],
    ['lea rax, [rip + 1f]\ncall rax\njmp 2f\n1: ret\n2: nop'], ['lea rax, [rip + 1f]\nmov qword ptr [rsp - 16], rax\ncall qword ptr [rsp - 16]\njmp 2f\n1: ret\n2: nop'],
    ['lea rax, [rip + 1f]\njmp rax\nmov ecx, 1\n1: nop'], ['lea rax, [rip + 1f]\nmov qword ptr [rsp - 8], rax\njmp qword ptr [rsp - 8]\nud2\n1: nop'],
    ['mov ecx, 5\n1: add eax, 2\nloop 1b'], ['mov ecx, 5\n1: inc ebx\ncmp ebx, 3\nloopne 1b'], ['mov ecx, 5\n1: inc ebx\ncmp ebx, ebx\nloope 1b'],
    ['xor ecx, ecx\njrcxz 1f\nmov eax, 1\n1: nop'], ['mov ecx, 1\njrcxz 1f\nmov eax, 1\n1: nop'], ['.byte 0x67\njrcxz 1f\nmov eax, 1\n1: nop', { rcx: 0x100000000n }],
    ['.byte 0x67\nloop 1f\n1: nop', { rcx: 0x100000000n }], ['xor ecx, ecx\nloop 1f\n1: nop'],
    ['mov ecx, 100\n1: add rax, rcx\nsub rcx, 1\njnz 1b'], ['mov rsi, 10\n1: dec rsi\njg 1b'],
    ['int3'], ['nop\nint3\nnop'],
  ];
  for (const [c, regs] of cases) add('control', c.replace(/\n/g, '; '), c, st(regs ?? {}));
}

// ------------------------------------------------------------------ 14. #UD and #GP at CPL 3

{
  const ud = ['ud2', 'ud1 eax, ebx', 'ud0 eax, dword ptr [rbx]', '.byte 0x8d, 0xc0', '.byte 0x8c, 0xf0', '.byte 0x8e, 0xc8', 'lea rax, [rax]\n.byte 0x0f, 0x0b', '.byte 0xff, 0xd8', '.byte 0xff, 0xe8', '.byte 0xff, 0xff', '.byte 0xfe, 0xd0'];
  for (const op of [0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x60, 0x61, 0x62, 0x82, 0x9a, 0xce, 0xd4, 0xd5, 0xd6, 0xea]) {
    ud.push(`.byte 0x${op.toString(16)}, 0, 0, 0, 0, 0, 0, 0`);
  }
  for (const c of ud) add('#UD/#GP', `#UD: ${c.replace(/\n/g, '; ')}`, c, st({ rbx: D(0) }));
  const gp = [
    'hlt', 'cli', 'sti', 'in al, 0x80', 'in eax, dx', 'out 0x80, al', 'out dx, ax', 'insb', 'outsd', 'rdmsr', 'wrmsr', 'mov cr0, rax', 'mov rax, cr3', 'mov rax, cr2', 'mov cr4, rax',
    'clts', 'invd', 'wbinvd', 'rdpmc', 'lgdt [rbx]', 'lidt [rbx]', 'lldt ax', 'ltr ax', 'lmsw ax', 'invlpg [rbx]', 'swapgs', 'sysretq', 'mov rax, dr7', 'mov dr7, rax',
    'mov ss, ax', 'mov ds, ax\nmov eax, ds', 'mov es, ax\nmov eax, es', 'mov gs, ax\nmov eax, gs', 'mov ds, word ptr [rbx]',
  ];
  for (const c of gp) {
    // mov Sreg with the user data selector (0x2b) or null (DS/ES/GS only).
    const ax = /^mov (ss|ds|es|gs)/.test(c) ? 0x2b : 0;
    add('#UD/#GP', `CPL 3: ${c.replace(/\n/g, '; ')}`, c, st({ rax: ax, rbx: D(0), rdx: 0x80 }));
  }
  add('#UD/#GP', 'mov ds, null', 'mov ds, ax\nmov ecx, ds', st({ rax: 0 }));
}

// ------------------------------------------------------------------ 15. known bugs (it.fails)

const BUGS = KNOWN_BUGS;
/** A vector reproducing known bug `id` (runs under it.fails until fixed; none is open now). */
const bug = (id: keyof typeof BUGS, name: string, asm: string, init: MachineState): void => add('known bugs', name, asm, init, { bug: id });
// Fixed bugs keep their vectors as ordinary regression tests.
const fixed = (name: string, asm: string, init: MachineState): void => add('fixed bugs', name, asm, init);
fixed('repe scasb with RCX = 2^53 + 1', 'repe scasb', st({ rdi: D(0x100), rax: 0x77, rcx: (1n << 53n) + 1n }));
fixed('rep stosb into the guard page with RCX = 2^60 + 3', 'rep stosb', st({ rdi: D(DATA_SIZE - 5), rcx: (1n << 60n) + 3n }));
fixed('addr32 bt wrapping above 4 GiB', 'bt dword ptr [ebx], ecx', st({ rbx: 0xffffff00, rcx: 0x1000 }));
fixed('addr32 bts wrapping below zero', 'bts qword ptr [ebx], rcx', st({ rbx: 8, rcx: -0x80 }));
fixed('enter 0x10, 2 with RBP non-canonical', 'enter 0x10, 2', st({ rbp: 0x7fffffff00001000n }));
fixed('mov ss, 0', 'mov ss, ax', st({ rax: 0 }));
fixed('cmpxchg16b [rbp], rbp misaligned and non-canonical', 'cmpxchg16b [rbp]', st({ rbp: 0x8000000000000008n }));
fixed('prefetchw register form', '.byte 0x0f, 0x0d, 0xc8', st());
fixed('prefetch register form (/0)', '.byte 0x0f, 0x0d, 0xc0', st());
// A 16-byte SSE operand that is misaligned and non-canonical: #GP(0) even with an RSP/RBP base (alignment is checked
// first); aligned, the stack base gives #SS(0). (fxsave/fxrstor check the canonical form first.)
{
  const nc = { r14: 0x5864477800000000n };
  fixed('movaps xmm0, [rsp + r14 + 8] misaligned and non-canonical: #GP(0)', 'movaps xmm0, [rsp + r14 + 8]', st(nc));
  fixed('movaps xmm0, [rsp + r14] aligned and non-canonical: #SS(0)', 'movaps xmm0, [rsp + r14]', st({ ...nc, rsp: D(0x8000) }));
  fixed('movaps [rsp + r14 + 8], xmm0 misaligned and non-canonical: #GP(0)', 'movaps [rsp + r14 + 8], xmm0', st(nc));
  fixed('paddb xmm0, [rbp + r14 + 8] misaligned and non-canonical: #GP(0)', 'paddb xmm0, [rbp + r14 + 8]', st({ ...nc, rbp: D(0x100) }));
  fixed('movups xmm0, [rsp + r14 + 8] (no alignment rule): #SS(0)', 'movups xmm0, [rsp + r14 + 8]', st(nc));
  fixed('fxsave [rsp + r14 + 8]: #SS(0) (canonical form first)', 'fxsave [rsp + r14 + 8]', st(nc));
}
// enter probes the new stack top (RSP - frame) for writing after its pushes: #PF(W) there, RSP/RBP unchanged.
fixed('enter 0x2000, 0 near the bottom of the stack (#PF(W) at the new RSP)', 'enter 0x2000, 0', st({ rsp: D(0x1000) }));
fixed('enter 0x2000, 3 near the bottom of the stack', 'enter 0x2000, 3', st({ rsp: D(0x1000), rbp: D(0x3000) }));
fixed('enter 0x1001, 0: the probe is one byte, just below the area', 'enter 0x1001, 0', st({ rsp: D(0x1000) }));
fixed('enter 0xff8, 0: new RSP at the first byte of the area', 'enter 0xff8, 0', st({ rsp: D(0x1000) }));
fixed('data16 enter 0x2000, 0', '.byte 0x66\nenter 0x2000, 0', st({ rsp: D(0x1000) }));
fixed('enter 0xffff, 31 below the area', 'enter 0xffff, 31', st({ rsp: D(0x1000), rbp: D(0x3000) }));
fixed('enter 0x100, 2 inside the area', 'enter 0x100, 2', st({ rsp: D(0x1000), rbp: D(0x3000) }));

// ------------------------------------------------------------------ 16. MMX

/**
 * MMX vectors start from an x87 state holding MMX values (mmxFx: MMn is the
 * significand of physical register Rn) and compare the whole x87 state,
 * all eight registers included whatever their tags (diffFx, fxAllRegs).
 */
const MM_EDGE: readonly bigint[] = [
  0n, M64, 0x7f7f7f7f7f7f7f7fn, 0x8080808080808080n, 0x7fff7fff7fff7fffn, 0x8000800080008000n, 0x7fffffff80000000n, 0x0001000100010001n,
  0x00ff00ff00ff00ffn, 0xff00ff00ff00ff00n, 0x0123456789abcdefn, 0xfedcba9876543210n, 0x017f80fe7f0181ffn, 0x8001fffe7ffe0001n,
  0x7fffffffffffffffn, 0x8000000000000000n, 0xffffffff00000001n, 0x00000001ffffffffn, 0x4f000000cf000000n, 0x3f800000bf800000n,
  0x0102040810204080n, 0xfffefdfcfbfaf9f8n, 0x00007fff00008000n, 0xffff0000ffff8000n,
];
/** Shift counts as 64-bit values (counts ≥ 2^32 act as huge). */
const MM_COUNTS = [0n, 1n, 7n, 8n, 15n, 16n, 17n, 31n, 32n, 33n, 63n, 64n, 65n, 255n, 1n << 32n, (1n << 32n) | 3n, 1n << 63n, M64];

/** MMX state k: each MMn a different edge value; TOP, tags and exponents vary. */
function mmxEdgeFx(k: number): Uint8Array {
  const mm = [0, 1, 2, 3, 4, 5, 6, 7].map((n) => MM_EDGE[(k * 3 + n * 5) % MM_EDGE.length]!);
  switch (k % 4) {
    case 0: return mmxFx(mm);
    case 1: return mmxFx(mm, { top: 3, valid: 0x0f, se: [0x3fff, 0x4000, 0xbfff, 0x7fff, 0, 0x4005, 0xffff, 0x1234] });
    case 2: return mmxFx(mm, { valid: 0, fsw: 0x4520 });
    default: return mmxFx(mm, { top: 6, valid: 0x81, fcw: 0x0c7f, fsw: 0x0201 });
  }
}

/** A hand-written MMX state: MM0-7 as given (physical registers), `regs` as st(). */
function mst(mm: readonly bigint[], regs: Regs = {}, fx: Parameters<typeof mmxFx>[1] = {}, data = PATTERN): MachineState {
  const s = st(regs, 0, data);
  s.fx = mmxFx(mm, fx);
  return s;
}
const addM = (group: string, name: string, asm: string, init: MachineState, extra: Partial<HandVector> = {}): void =>
  add(group, name, asm, init, { mmx: true, ...extra });
/** The MMX state `k` of the edge table (rotated). */
const edgeMm = (k: number): bigint[] => [0, 1, 2, 3, 4, 5, 6, 7].map((n) => MM_EDGE[(k * 7 + n * 3) % MM_EDGE.length]!);
/** A pending unmasked x87 exception (invalid operation): MMX instructions raise #MF. */
const PENDING = { fcw: 0x037e, fsw: 0x0001 };

// Sweep: every MMX table form, over edge states.
const MMX_SWEEP: Vector[] = [];
{
  let index = 0x10000;
  for (const s of MMX_SPECS) {
    for (const mem of specMods(s)) {
      for (let k = 0; k < 6; k++) {
        const data = EDGE_DATA[k % EDGE_DATA.length]!;
        const init = edgeState(k + index, data);
        init.fx = mmxEdgeFx(k + index);
        MMX_SWEEP.push(generateForm(0x3333, index++, data, s, 0, mem, init));
      }
    }
  }
}

// Element operations over edge values: four register pairs at a time, and a memory operand.
{
  const ops = [
    'paddb', 'paddw', 'paddd', 'paddq', 'psubb', 'psubw', 'psubd', 'psubq', 'paddsb', 'paddsw', 'paddusb', 'paddusw', 'psubsb', 'psubsw', 'psubusb', 'psubusw',
    'pmullw', 'pmulhw', 'pmulhuw', 'pmuludq', 'pmaddwd', 'psadbw', 'pavgb', 'pavgw', 'pminub', 'pmaxub', 'pminsw', 'pmaxsw',
    'pcmpeqb', 'pcmpeqw', 'pcmpeqd', 'pcmpgtb', 'pcmpgtw', 'pcmpgtd', 'pand', 'pandn', 'por', 'pxor',
    'packsswb', 'packuswb', 'packssdw', 'punpcklbw', 'punpcklwd', 'punpckldq', 'punpckhbw', 'punpckhwd', 'punpckhdq',
  ];
  for (const op of ops) {
    for (let k = 0; k < 6; k++) {
      addM('mmx', `${op} edge values #${k}`, `${op} mm0, mm1\n${op} mm2, mm3\n${op} mm4, mm5\n${op} mm6, mm7`, mst(edgeMm(k)));
    }
    // Equal operands (compares, saturation at zero), and a memory operand.
    addM('mmx', `${op} mm3, mm3`, `${op} mm3, mm3\n${op} mm5, mm5`, mst(edgeMm(2)));
    const ptr = op.startsWith('punpckl') ? 'dword ptr' : 'qword ptr';
    addM('mmx', `${op} mm1, ${ptr} [mem]`, `${op} mm1, ${ptr} [rbx]\n${op} mm6, ${ptr} [rbx + 8*rcx + 3]`, mst(edgeMm(4), { rbx: D(0x88), rcx: 5 }));
  }
}

// Shifts by mm/m64 and by imm8, counts below, at and beyond the element width.
for (const op of ['psrlw', 'psrld', 'psrlq', 'psraw', 'psrad', 'psllw', 'pslld', 'psllq']) {
  const val = [0x8001fffe7ffe0001n, 0xfedcba9876543210n, 0x8000000000000001n, 0x7fffffff80000000n];
  for (let k = 0; k < MM_COUNTS.length; k += 4) {
    const mm = [val[0]!, MM_COUNTS[k]!, val[1]!, MM_COUNTS[k + 1] ?? 2n, val[2]!, MM_COUNTS[k + 2] ?? 3n, val[3]!, MM_COUNTS[k + 3] ?? 4n];
    addM('mmx', `${op} by mm, counts ${MM_COUNTS.slice(k, k + 4).join(',')}`, `${op} mm0, mm1\n${op} mm2, mm3\n${op} mm4, mm5\n${op} mm6, mm7`, mst(mm));
  }
  addM('mmx', `${op} by m64`, `${op} mm0, qword ptr [rbx]\n${op} mm2, qword ptr [rbx + 8]`, mst(val.concat(val), { rbx: D(0x8 * 30) }));
  for (const cnts of [[0, 1, 2, 7], [8, 15, 16, 17], [31, 32, 33, 63], [64, 65, 127, 255]]) {
    addM('mmx', `${op} by imm ${cnts.join(',')}`, cnts.map((c, j) => `${op} mm${2 * j}, ${c}`).join('\n'), mst([val[0]!, 0n, val[1]!, 0n, val[2]!, 0n, val[3]!, 0n]));
  }
}

// Moves between mm, GPRs and memory; REX bits do not extend mm numbers.
{
  const regs: Regs = { rax: 0x8877665544332211n, rcx: 0xfedcba9876543210n, r9: 0x0123456789abcdefn, rbx: D(0x100) };
  const cases = [
    'movd mm0, eax', 'movd mm1, dword ptr [rbx]', 'movq mm2, rax', 'movq mm3, qword ptr [rbx]', 'movd mm4, r9d', 'movq mm5, r9',
    'movd eax, mm4', 'movd dword ptr [rbx], mm5', 'movq rcx, mm6', 'movq qword ptr [rbx], mm7', 'movd r10d, mm1', 'movq r11, mm2',
    'movq mm0, mm1', 'movq mm2, qword ptr [rbx + 8]', 'movq qword ptr [rbx + 8], mm3', '.byte 0x0f, 0x7f, 0xd9', 'movntq qword ptr [rbx], mm0',
    'movq mm0, mm0', 'movd eax, mm0\nmovd mm0, eax', 'emms', 'movq mm1, mm2\nemms', 'emms\nmovq mm1, mm2',
    '.byte 0x41, 0x0f, 0xfc, 0xc1', '.byte 0x4c, 0x0f, 0xfc, 0xc1', '.byte 0x45, 0x0f, 0x6f, 0xd3', '.byte 0x44, 0x0f, 0x7f, 0xc9', '.byte 0x41, 0x0f, 0x71, 0xd3, 3',
    '.byte 0x48, 0x0f, 0x6f, 0xc1', '.byte 0x48, 0x0f, 0xd7, 0xc3', '.byte 0x66, 0x48, 0x0f, 0x6e, 0xc0',
  ];
  for (const [k, c] of cases.entries()) addM('mmx', c.replace(/\n/g, '; '), c, mst(edgeMm(k), regs, k % 3 === 1 ? { top: 5, valid: 0x21 } : {}));
}

// pshufw, pinsrw, pextrw, pmovmskb, psadbw.
{
  for (const imm of [0x00, 0x1b, 0xe4, 0x55, 0xaa, 0xff, 0x4e, 0x93]) {
    addM('mmx', `pshufw imm 0x${imm.toString(16)}`, `pshufw mm0, mm1, ${imm}\npshufw mm2, qword ptr [rbx], ${imm}`, mst(edgeMm(imm), { rbx: D(0x50) }));
  }
  for (let imm = 0; imm < 8; imm++) {
    addM('mmx', `pinsrw imm ${imm}`, `pinsrw mm1, eax, ${imm}\npinsrw mm2, word ptr [rbx], ${imm}\npinsrw mm3, r9d, ${imm + 0xf8}`, mst(edgeMm(imm), { rax: 0x12345678, rbx: D(0x62), r9: 0xabcdn }));
    addM('mmx', `pextrw imm ${imm}`, `pextrw eax, mm1, ${imm}\npextrw r10d, mm2, ${imm}\n.byte 0x48, 0x0f, 0xc5, 0xdb, ${imm}`, mst(edgeMm(imm + 3)));
  }
  for (let k = 0; k < 4; k++) addM('mmx', `pmovmskb #${k}`, 'pmovmskb eax, mm0\npmovmskb r9d, mm1\npmovmskb ecx, mm2\npmovmskb r15d, mm3', mst(edgeMm(k)));
}

// maskmovq: masks, the destination at DS:rDI (addr32: EDI; GS override).
{
  const masks = [0n, M64, 0x8080808080808080n, 0x0080008000800080n, 0x7f7f7f7f7f7f7f7fn, 0xff00000000000000n, 0x00000000000000ffn, 0x8001020304050680n];
  for (const [k, m] of masks.entries()) {
    addM('mmx', `maskmovq mask ${m.toString(16)}`, 'maskmovq mm0, mm1', mst([0x1122334455667788n, m], { rdi: D(0x200 + k) }));
  }
  addM('mmx', 'maskmovq addr32', '.byte 0x67\nmaskmovq mm0, mm1', mst([0x1122334455667788n, M64], { rdi: D(0x300) | 0xabcd00000000n }));
  addM('mmx', 'maskmovq gs:', '.byte 0x65\nmaskmovq mm0, mm1', mst([0x1122334455667788n, M64], { rdi: D(0x308) }));
  addM('mmx', 'maskmovq across an inner page boundary', 'maskmovq mm0, mm1', mst([0x1122334455667788n, 0x8000000000000080n], { rdi: D(0x1ffc) }));
}

// Conversions (rounding control from MXCSR; integer indefinite for NaN/out of range; #XM with unmasked exceptions).
{
  const f32s = [0x3f000000n, 0x3fc00000n, 0xbf000000n, 0xbfc00000n, 0x4f000000n, 0xcf000000n, 0xcf000001n, 0x4effffffn, 0x7f800000n, 0xff800000n, 0x7fc00000n, 0x7f800001n, 0x00000001n, 0x80000000n, 0x40490fdbn, 0xc0490fdbn];
  const f64s = [0x3fe0000000000000n, 0x3ff8000000000000n, 0xbfe0000000000000n, 0x41dfffffffc00000n, 0x41dfffffffe00000n, 0x41e0000000000000n, 0xc1e0000000000000n, 0xc1e0000000100000n, 0xc1e0000000200000n, 0x7ff0000000000000n, 0x7ff8000000000000n, 0x7ff0000000000001n, 0x0000000000000001n, 0x400921fb54442d18n];
  const ints = [0n, 1n, 0xffffffffn, 0x7fffffffn, 0x80000000n, 0x80000001n, 0x00ffffffn, 0x01000001n, 0x7fffffc0n, 0x7fffff80n, 0x12345679n, 0xfedcba97n];
  const pair = (a: bigint[], k: number, w: number): bigint => a[k % a.length]! | (a[(k + 1) % a.length]! << BigInt(w));
  for (const mx of [0x1f80, 0x3f80, 0x5f80, 0x7f80, 0x9fc0]) {
    for (let k = 0; k < f32s.length; k += 2) {
      const s = mst(edgeMm(k));
      s.mxcsr = mx;
      s.xmm[1] = pair(f32s, k, 32) | (0x1234n << 64n);
      s.xmm[2] = pair(f64s, k, 0) | (f64s[(k + 1) % f64s.length]! << 64n);
      addM('mmx', `cvt(t)ps2pi / cvt(t)pd2pi #${k} mxcsr ${mx.toString(16)}`, 'cvtps2pi mm0, xmm1\ncvttps2pi mm1, xmm1\ncvtpd2pi mm2, xmm2\ncvttpd2pi mm3, xmm2', s);
    }
    for (let k = 0; k < ints.length; k += 2) {
      const s = mst([pair(ints, k, 32), pair(ints, k + 3, 32)], { rbx: D(0x8 * 11) });
      s.mxcsr = mx;
      s.xmm[0] = 0x0123456789abcdef_fedcba9876543210n;
      s.xmm[1] = s.xmm[0];
      addM('mmx', `cvtpi2ps / cvtpi2pd #${k} mxcsr ${mx.toString(16)}`, 'cvtpi2ps xmm0, mm0\ncvtpi2pd xmm1, mm1\ncvtpi2ps xmm2, qword ptr [rbx]\ncvtpi2pd xmm3, qword ptr [rbx + 8]', s);
    }
  }
  // Memory operands: m64 (ps2pi), m128 aligned (pd2pi).
  addM('mmx', 'cvtps2pi mm0, [mem]; cvtpd2pi mm1, [aligned mem]', 'cvtps2pi mm0, qword ptr [rbx + 4]\ncvttpd2pi mm1, xmmword ptr [rbx + 16]', mst(edgeMm(1), { rbx: D(0x400) }));
  addM('mmx faults', 'cvtpd2pi misaligned: #GP(0)', 'cvtpd2pi mm1, xmmword ptr [rbx + 8]', mst(edgeMm(1), { rbx: D(0x400) }));
  addM('mmx faults', 'cvttpd2pi misaligned and non-canonical on the stack: #GP(0)', 'cvttpd2pi mm0, xmmword ptr [rsp + r14 + 8]', mst(edgeMm(1), { r14: 0x5864477800000000n }));
  addM('mmx faults', 'cvttpd2pi aligned and non-canonical on the stack: #SS(0)', 'cvttpd2pi mm0, xmmword ptr [rsp + r14]', mst(edgeMm(1), { r14: 0x5864477800000000n }));
  // Unmasked exceptions: #XM, raised after the switch to MMX mode.
  for (const [name, asm, mx] of [
    ['cvtps2pi NaN, IM clear', 'cvtps2pi mm0, xmm1', 0x1f00], ['cvttpd2pi out of range, IM clear', 'cvttpd2pi mm0, xmm2', 0x1f00],
    ['cvtpi2ps inexact, PM clear', 'cvtpi2ps xmm0, mm1', 0x0f80], ['cvtps2pi inexact, PM clear', 'cvtps2pi mm0, xmm3', 0x0f80],
    ['cvtpi2ps m64 inexact, PM clear', 'cvtpi2ps xmm0, qword ptr [rbx]', 0x0f80],
  ] as const) {
    const s = mst([0n, 0x7fffffff00000003n, 0n, 0n], { rbx: D(0x408) }, { top: 4, valid: 0x30 });
    s.mxcsr = mx;
    s.xmm[1] = 0x7fc000003f800000n;
    s.xmm[2] = 0x41e0000000000000n;
    s.xmm[3] = 0x3fc000003f000000n;
    addM('mmx faults', `#XM: ${name}`, asm, s);
  }
  addM('mmx', 'movq2dq / movdq2q', 'movq2dq xmm1, mm2\nmovdq2q mm3, xmm4\n.byte 0xf3, 0x44, 0x0f, 0xd6, 0xc5\n.byte 0xf2, 0x41, 0x0f, 0xd6, 0xf7', (() => {
    const s = mst(edgeMm(3), {}, { top: 2, valid: 0x3c });
    s.xmm[1] = M64 | (M64 << 64n);
    s.xmm[4] = 0x0123456789abcdef_fedcba9876543210n;
    s.xmm[15] = 0x1111111122222222_3333333344444444n;
    return s;
  })());
}

// The x87 register file: MMX writes set the exponent to all ones, any MMX instruction sets TOP = 0 and
// all tags valid, emms empties them; fxsave/fnsave/fnstenv show it; x87 code sees MMX values and vice versa.
{
  const f64 = D(0x500);
  /** fxsave/fnsave image fields the host does not define (FIP/FDP/FOP, MXCSR_MASK) are masked. */
  const fxMask = (off: number): Array<[number, number]> => [[off + 6, off + 24], [off + 28, off + 32]];
  const fnsaveMask = (off: number): Array<[number, number]> => [[off + 12, off + 28]];
  const cases: Array<[string, Partial<HandVector>?, Parameters<typeof mmxFx>[1]?]> = [
    ['fld1\nmovq mm0, mm0'],
    ['fld qword ptr [rbx]\nmovq mm1, mm7\nmovd eax, mm7'],
    ['movq mm0, qword ptr [rbx]\nfld1'],
    ['paddb mm0, mm1\nemms\nfld1\nfstp qword ptr [rbx + 8]'],
    ['fld1\nfld1\nmovd eax, mm7\nmovq rcx, mm6'],
    ['fldpi\nfld1\nfaddp\npxor mm7, mm7'],
    ['movq mm3, rax\nfxsave [rbx + 0x100]', { dataMask: fxMask(0x600) }],
    ['movq mm3, rax\nfnsave [rbx + 0x300]', { dataMask: fnsaveMask(0x800) }],
    ['movq mm3, rax\nfnstenv [rbx + 0x300]', { dataMask: fnsaveMask(0x800) }],
    ['emms\nfnstenv [rbx + 0x300]', { dataMask: fnsaveMask(0x800) }],
    ['emms\nfxsave [rbx + 0x100]', { dataMask: fxMask(0x600) }],
    ['movd eax, mm3\nfxsave [rbx + 0x100]', { dataMask: fxMask(0x600) }, { top: 5, valid: 0x21, se: [0x3fff, 0x4000, 0, 0x7fff, 0x8000, 0xc000, 0x4001, 0x1] }],
    ['movq mm0, rax\nfstp qword ptr [rbx + 8]\nfstp qword ptr [rbx + 16]'],
    ['movq mm0, rax\nfld st(3)'],
    ['movq mm0, rax\nfadd st(0), st(1)'],
    ['movq mm0, rax\nfnstsw ax\nmov ecx, eax\nemms\nfnstsw ax'],
    ['fninit\nmovq mm0, mm0\nfnstsw ax'],
    ['fld1\nfld1\nfld1\nemms\nfld1\nfstp qword ptr [rbx + 8]'],
    ['fld1\nfxsave [rbx + 0x100]\nmovq mm0, rax\nfxrstor [rbx + 0x100]\nmovq rcx, mm7', { dataMask: fxMask(0x600) }],
    ['movq mm2, rax\nfnsave [rbx + 0x300]\nmovq rcx, mm2\nfrstor [rbx + 0x300]\nmovq rdx, mm2', { dataMask: fnsaveMask(0x800) }],
    ['fincstp\nfincstp\nmovq mm1, mm1'],
    ['ffree st(0)\nfdecstp\nmovd eax, mm0'],
  ];
  for (const [k, [asm, extra, fx]] of cases.entries()) {
    addM('mmx x87 aliasing', asm.replace(/\n/g, '; '), asm, mst(edgeMm(k), { rbx: f64, rax: 0x0123456789abcdefn }, fx ?? (k % 2 ? { top: 3, valid: 0x18 } : {})), extra ?? {});
  }
}

// Faults: memory operands at the end of the data area (the x87 state is unchanged), pending x87 exceptions (#MF), #UD.
{
  const end = D(DATA_SIZE);
  const m = edgeMm(5);
  const fx = { top: 5, valid: 0x0f };
  const cases = [
    'paddb mm2, qword ptr [rbx - 8]', 'paddb mm2, qword ptr [rbx - 4]', 'movq mm1, qword ptr [rbx - 4]', 'movd mm1, dword ptr [rbx - 4]', 'movd mm1, dword ptr [rbx - 2]',
    'movq qword ptr [rbx - 4], mm1', 'movd dword ptr [rbx - 4], mm1', 'movd dword ptr [rbx - 3], mm1', 'movntq qword ptr [rbx - 8], mm1', 'movntq qword ptr [rbx - 7], mm1',
    'punpcklbw mm1, dword ptr [rbx - 4]', 'punpckldq mm1, dword ptr [rbx - 2]', 'punpckhbw mm1, qword ptr [rbx - 4]', 'pinsrw mm1, word ptr [rbx - 2], 1', 'pinsrw mm1, word ptr [rbx - 1], 1',
    'pshufw mm1, qword ptr [rbx - 4], 0x1b', 'psllq mm1, qword ptr [rbx - 4]', 'cvtpi2ps xmm1, qword ptr [rbx - 4]', 'cvtps2pi mm1, qword ptr [rbx - 4]', 'cvtpd2pi mm1, xmmword ptr [rbx - 16]',
    'mov rdi, rbx\nsub rdi, 4\nmaskmovq mm1, mm2', 'mov rdi, rbx\nsub rdi, 8\nmaskmovq mm1, mm2', 'mov rdi, rbx\nmaskmovq mm1, mm0', 'mov rdi, rbx\nsub rdi, 1\nmaskmovq mm1, mm6',
  ];
  for (const c of cases) addM('mmx faults', `${c.replace(/\n/g, '; ')} at the end of the area`, c, mst(m, { rbx: end }, fx));
  const pending = [
    'paddb mm0, mm1', 'movd eax, mm0', 'movq mm0, qword ptr [rbx]', 'emms', 'pextrw eax, mm1, 1', 'mov rdi, rbx\nmaskmovq mm1, mm0', 'cvtps2pi mm0, xmm1', 'cvtpd2pi mm0, xmmword ptr [rbx + 8]',
    'movq2dq xmm1, mm2', 'movdq2q mm1, xmm2', 'cvtpi2ps xmm0, mm1', 'cvtpi2ps xmm0, qword ptr [rbx]', 'cvtpi2pd xmm0, qword ptr [rbx]', 'cvtpi2pd xmm0, mm1', 'psrlq mm1, 3',
    'movq mm1, qword ptr [rbx - 0x10000]', 'fnclex\nmovq mm1, mm2', 'fninit\nemms',
  ];
  for (const c of pending) addM('mmx faults', `pending x87 exception: ${c.replace(/\n/g, '; ')}`, c, mst(m, { rbx: D(0x700) }, { ...PENDING, top: 2, valid: 0x0c }));
  const ud = [
    '.byte 0x66, 0x0f, 0x77', '.byte 0xf3, 0x0f, 0x77', '.byte 0xf3, 0x0f, 0xfc, 0xc1', '.byte 0xf2, 0x0f, 0x6f, 0xc1', '.byte 0xf3, 0x0f, 0x70, 0xc1, 0',
    '.byte 0x0f, 0x73, 0xdb, 1', '.byte 0x0f, 0x73, 0xfb, 1', '.byte 0x0f, 0x71, 0xc3, 1', '.byte 0x0f, 0x72, 0xcb, 1', '.byte 0x0f, 0x71, 0x03, 1',
    '.byte 0xf0, 0x0f, 0xfc, 0x03', '.byte 0x0f, 0xc5, 0x03, 1', '.byte 0x0f, 0xd7, 0x03', '.byte 0x0f, 0xf7, 0x03', '.byte 0xf3, 0x0f, 0xd6, 0x03',
    '.byte 0xf2, 0x0f, 0xd6, 0x03', '.byte 0x0f, 0xe7, 0xc1', '.byte 0xf3, 0x0f, 0x2d, 0xc1\n.byte 0x0f, 0x0f, 0xc1, 0x9e',
  ];
  for (const c of ud) addM('mmx faults', `#UD: ${c.replace(/\n/g, '; ')}`, c, mst(m, { rbx: D(0x700) }, fx));
}

// ------------------------------------------------------------------ masks and running

/**
 * Undefined flags (and results) of a hand-written sequence, from the
 * instructions it decodes to: the first instruction's shift count comes from
 * the initial RCX; later CL counts are treated conservatively. Throws if an
 * instruction reads a flag an earlier one left undefined (a badly written
 * vector).
 */
function autoMasks(v: HandVector): void {
  let undef = 0, ever = 0;
  identify(v.code!).forEach((i, k) => {
    if (!i.spec) return;
    const s = i.spec;
    const bytes = v.code!.subarray(i.offset, i.offset + i.len);
    let count: number | undefined;
    if (s.name === 'shld' || s.name === 'shrd' || /^(rol|ror|rcl|rcr|shl|sal|shr|sar)$/.test(s.name)) {
      if (s.op === 0xd0 || s.op === 0xd1) count = 1;
      else if (s.imm) count = bytes[bytes.length - 1]!;
      else if (k === 0) count = Number(v.init.gpr[1]! & 0xffn);
    }
    const rep = bytes.some((b, j) => (b === 0xf3 || b === 0xf2) && j < bytes.length - 1);
    const e = flagEffect(s, i.size, { count, rep });
    if (e.reads & undef) throw new Error(`vector "${v.name}": ${i.name} reads flags left undefined (0x${(e.reads & undef).toString(16)})`);
    if (e.undefResult && v.gprMask === undefined && v.dataMask === undefined) throw new Error(`vector "${v.name}": undefined result needs an explicit mask`);
    undef = (undef & ~e.defined) | e.undef;
    ever |= undef;
  });
  v.flagMask ??= undef;
  v.faultFlagMask ??= ever;
}

// Assemble everything at once, then compute the masks.
{
  const asmVectors = vectors.filter((v) => v.asm !== undefined);
  const codes = assemble(asmVectors.map((v) => v.asm!));
  asmVectors.forEach((v, k) => {
    v.code = codes[k]!;
  });
  for (const v of vectors) autoMasks(v);
}

interface Result {
  name: string;
  group: string;
  bug?: string;
  code: Uint8Array;
  init: MachineState;
  native: Outcome;
  emulated: Outcome;
  diff: string[];
}

let results: Result[] | undefined;
let runError: unknown;
/** Vectors of the groups whose difference matched a known bug's signature, by bug. */
const reassigned = new Map<string, number>();
function run(): Result[] {
  if (results) return results;
  if (runError) throw runError;
  try {
    return runAll();
  } catch (e) {
    runError = e;
    throw e;
  }
}

function runAll(): Result[] {
  const all: Array<{ group: string; name: string; bug?: string; code: Uint8Array; init: MachineState; opts: Parameters<typeof diffOutcomes>[2] }> = [];
  SWEEP.forEach((v) => all.push({ group: 'sweep', name: `${v.forms.join(', ')} #${v.index}`, code: v.code, init: v.init, opts: vectorDiffOptions(v) }));
  MMX_SWEEP.forEach((v) => all.push({ group: 'mmx sweep', name: `${v.forms.join(', ')} #${v.index}`, code: v.code, init: v.init, opts: vectorDiffOptions(v) }));
  for (const v of vectors) {
    all.push({
      group: v.group, name: v.name, bug: v.bug, code: v.code!, init: v.init,
      opts: { flagMask: v.flagMask, faultFlagMask: v.faultFlagMask, gprMask: v.gprMask, dataMask: v.dataMask, fx: v.mmx, fxAllRegs: v.mmx },
    });
  }
  const nat = runNative(all);
  results = all.map((v, k) => {
    const emulated = runEmulated(v.code, v.init);
    const native = nat[k]!;
    let diff = diffOutcomes(native, emulated, v.opts);
    let bugId = v.bug;
    if (diff.length && toleratedDifference(v.code, native, emulated)) diff = [];
    if (diff.length && !bugId) {
      // A difference with the signature of a known bug counts for that bug's it.fails test.
      bugId = knownBug(v.code, native, emulated, diff);
      if (bugId) reassigned.set(bugId, (reassigned.get(bugId) ?? 0) + 1);
    }
    return { name: v.name, group: v.group, bug: bugId, code: v.code, init: v.init, native, emulated, diff };
  });
  return results;
}

function report(rs: Result[]): string {
  return rs
    .slice(0, 12)
    .map((r) =>
      [
        `${r.group}: ${r.name}   [${hexBytes(r.code)}]`,
        ...disassemble(r.code).split('\n').filter(Boolean).map((l) => `    ${l}`),
        `  init: ${r.init.gpr.map((g, k) => `${REG_NAMES[k]}=${hex64(g)}`).join(' ')} rflags=0x${r.init.rflags.toString(16)}`,
        ...r.diff.map((l) => `  ${l}`),
      ].join('\n'),
    )
    .join('\n\n') + (rs.length > 12 ? `\n\n… and ${rs.length - 12} more` : '');
}

const GROUPS = [
  'sweep', 'alu flags', 'shifts', 'muldiv', 'strings', 'lock', 'high bytes', 'operand size', 'addressing', 'page ends', 'stack', 'misc', 'bits', 'control', '#UD/#GP',
  'fixed bugs', 'mmx sweep', 'mmx', 'mmx x87 aliasing', 'mmx faults',
];

describe.skipIf(!nativeAvailable)('integer instructions against the host CPU', () => {
  it('every integer table form has vectors (skipped entries are listed)', () => {
    const used = new Set<string>();
    for (const v of SWEEP) for (const i of identify(v.code)) used.add(i.form);
    for (const v of vectors) for (const i of identify(v.code!)) used.add(i.form);
    const forms = allForms(TESTED_SPECS);
    const missing = forms.filter((f) => !used.has(f));
    const skipped = INTEGER_SPECS.filter((s) => skipReason(s));
    const byReason = new Map<string, string[]>();
    for (const s of skipped) {
      const r = skipReason(s)!;
      if (!byReason.has(r)) byReason.set(r, []);
      const k = specKey(s);
      if (!byReason.get(r)!.includes(k)) byReason.get(r)!.push(k);
    }
    console.log(
      `coverage: ${forms.length - missing.length}/${forms.length} forms of ${TESTED_SPECS.length} tested integer entries; ` +
        `${skipped.length} entries skipped; ${SWEEP.length + vectors.length} vectors\nskipped:\n` +
        [...byReason].map(([r, ks]) => `  ${r}: ${ks.join(', ')}`).join('\n'),
    );
    expect(missing, `integer table forms without a vector:\n${missing.join('\n')}`).toEqual([]);
    expect(TESTED_SPECS.length + skipped.length).toBe(INTEGER_SPECS.length);
  });

  it('every MMX table form has vectors', () => {
    const used = new Set<string>();
    for (const v of MMX_SWEEP) for (const i of identify(v.code)) used.add(i.form);
    for (const v of vectors) if (v.mmx) for (const i of identify(v.code!)) used.add(i.form);
    const forms = allForms(MMX_SPECS);
    const missing = forms.filter((f) => !used.has(f));
    const hand = vectors.filter((v) => v.mmx).length;
    console.log(`MMX coverage: ${forms.length - missing.length}/${forms.length} forms of ${MMX_SPECS.length} MMX entries; ${MMX_SWEEP.length} sweep and ${hand} hand-written vectors`);
    expect(missing, `MMX table forms without a vector:\n${missing.join('\n')}`).toEqual([]);
  });

  it('MMX vectors really exercise MMX state (the host changes MM registers)', () => {
    const rs = run().filter((r) => r.group.startsWith('mmx') && r.native.kind === 'ok');
    let changed = 0;
    for (const r of rs) {
      if (r.native.kind !== 'ok' || !r.native.state.fx || !r.init.fx) continue;
      for (let n = 0; n < 8; n++) if (mmFromFx(r.native.state.fx, n) !== mmFromFx(r.init.fx, n)) changed++;
    }
    expect(changed).toBeGreaterThan(rs.length / 2);
  });

  for (const g of GROUPS) {
    it(g, () => {
      const rs = run().filter((r) => r.group === g && !r.bug);
      expect(rs.length).toBeGreaterThan(0);
      const bad = rs.filter((r) => r.diff.length);
      const faults = rs.filter((r) => r.native.kind === 'fault').length;
      console.log(`${g}: ${rs.length} vectors (${rs.length - faults} complete, ${faults} fault on the host), ${bad.length} differ`);
      expect(bad.length, `${bad.length} of ${rs.length} vectors differ from the host:\n\n${report(bad)}`).toBe(0);
    });
  }

  for (const [id, what] of Object.entries(BUGS)) {
    it.fails(`known bug: ${what}`, () => {
      const rs = run().filter((r) => r.bug === id);
      if (reassigned.get(id)) console.log(`known bug ${id}: ${reassigned.get(id)} vectors of the other groups show it too`);
      expect(rs.length).toBeGreaterThan(0);
      const bad = rs.filter((r) => r.diff.length);
      expect(bad.length, report(bad)).toBe(0);
    });
  }
});

