/**
 * A decoded instruction: everything the handler needs, decoded once and
 * cached in its block. Handlers are `(cpu, insn) => void`.
 */
import type { Cpu } from './cpu.ts';

export type Handler = (c: Cpu, i: Insn) => void;

export class Insn {
  exec: Handler = noHandler;
  /** The table entry's mnemonic (for traces, tests and coverage). */
  name = '';
  /** Linear address of this instruction and of the next one. */
  addrLo = 0;
  addrHi = 0;
  nextLo = 0;
  nextHi = 0;
  len = 0;
  /** Operand size in bytes (1, 2, 4, 8) and address size (4 or 8). */
  opSize = 4;
  addrSize = 8;
  /**
   * ModRM.reg with REX.R (or the register in the opcode's low bits for +r forms).
   * For 8-bit operands without REX, 4-7 become AH8+0..3 (AH, CH, DH, BH).
   */
  reg = 0;
  /** Register operand of ModRM.rm when mod = 3 (same 8-bit rule), else -1 (memory operand). */
  rm = -1;
  /** Raw ModRM.reg field (0-7): the opcode extension of group instructions. */
  ext = 0;
  /** Memory operand: base and index registers (-1: none), scale as a shift count, 64-bit displacement. */
  base = -1;
  index = -1;
  scale = 0;
  dispLo = 0;
  dispHi = 0;
  /** Segment override that matters in 64-bit mode: SEG_FS, SEG_GS, or -1. */
  seg = -1;
  /** Immediate (sign-extended to 64 bits as the instruction defines), and a second one (enter). */
  immLo = 0;
  immHi = 0;
  imm2 = 0;
  /** 0 none, 1 = F3 (rep/repe), 2 = F2 (repne). */
  rep = 0;
  lock = false;
  /** Mandatory/last SSE prefix seen: 0, 0x66, 0xF3, 0xF2. */
  prefix = 0;
  /** REX prefix present (any). */
  rex = false;
  /** VEX is not supported; kept for the #UD path. */
  opcode = 0;
}

function noHandler(): void {
  throw new Error('instruction without handler');
}

export interface Block {
  insns: Insn[];
  ripLo: number;
  ripHi: number;
  /** Linear address just past the last instruction. */
  endLo: number;
  endHi: number;
  /** RAM offset of the first byte (the cache key). */
  ramStart: number;
  cpl: number;
  /** The last instruction sets RIP itself (jump, call, ret, syscall, …). */
  endsWithControl: boolean;
  /** False for blocks that must not be cached (an instruction crossing into another page). */
  cacheable: boolean;
  /** Executions so far, and the compiled form once hot (threaded.ts). */
  hits: number;
  fn: ((c: Cpu) => number) | null;
  /** RAM page of the second page for a block whose one instruction straddles a page end, else -1. */
  page2: number;
  valid: boolean;
  /** Chained successors (the last two blocks that followed this one) and the TLB generation they were found in. */
  next1: Block | null;
  gen1: number;
  next2: Block | null;
  gen2: number;
}
