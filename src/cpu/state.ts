/**
 * Constants shared by the CPU: register numbering, RFLAGS bits, exit reasons
 * and exception vectors. The CPU knows nothing of Xen; these are the
 * architecture's names (Intel SDM vol. 1 §3.4, vol. 3 §6.3).
 */

/** General-purpose registers, in ModRM/REX numbering. Register n lives in r[2n] (low 32 bits) and r[2n+1] (high). */
export const RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5, RSI = 6, RDI = 7;
export const R8 = 8, R9 = 9, R10 = 10, R11 = 11, R12 = 12, R13 = 13, R14 = 14, R15 = 15;
/** Index of RIP's low half in the register array (RIP is r[32], r[33]). */
export const RIP = 32;
export const REG_NAMES = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'] as const;

/** 8-bit register operands: 0-15 are the low bytes (AL..R15B); 16-19 are AH, CH, DH, BH. */
export const AH8 = 16;

/** RFLAGS bits. */
export const CF = 1 << 0;
export const PF = 1 << 2;
export const AF = 1 << 4;
export const ZF = 1 << 6;
export const SF = 1 << 7;
export const TF = 1 << 8;
export const IF = 1 << 9;
export const DF = 1 << 10;
export const OF = 1 << 11;
export const IOPL = 3 << 12;
export const NT = 1 << 14;
export const RF = 1 << 16;
export const AC = 1 << 18;
export const ID = 1 << 21;
/** The six arithmetic flags, the ones lazy evaluation produces. */
export const ARITH_FLAGS = CF | PF | AF | ZF | SF | OF;
/** Bit 1 of RFLAGS always reads as 1. */
export const FLAGS_FIXED = 1 << 1;

/** Exception vectors. */
export const DE = 0, DB = 1, NMI = 2, BP = 3, OF_VEC = 4, BR = 5, UD = 6, NM = 7, DF_VEC = 8;
export const TS = 10, NP = 11, SS = 12, GP = 13, PF_VEC = 14, MF = 16, AC_VEC = 17, MC = 18, XM = 19;

/** Why `Cpu.run` returned. */
export const enum Exit {
  /** The instruction budget is spent; nothing else happened. */
  Budget = 0,
  /** A `syscall` instruction: RIP is past it; RCX/R11 are not touched (the layer above decides). */
  Syscall = 1,
  /** An exception (fault or trap): see cpu.exception. RIP is the faulting instruction (faults) or the next (traps). */
  Exception = 2,
  /** `hlt` executed at CPL 0: RIP is past it. */
  Halt = 3,
  /** `int n` (including int3 and into when they trap): see cpu.exception; RIP is past the instruction. */
  SoftwareInterrupt = 4,
}

/** Page-fault error-code bits (SDM vol. 3 §4.7). */
export const PFEC_P = 1, PFEC_W = 2, PFEC_U = 4, PFEC_RSVD = 8, PFEC_I = 16;

/** Memory access kinds, as the MMU sees them. */
export const ACC_READ = 0, ACC_WRITE = 1, ACC_EXEC = 2;

/** Thrown (never allocated per fault) when an instruction raises an exception; details are in cpu.exc*. */
export const CPU_FAULT = { fault: true } as const;

/** Segment register numbers as encoded in instructions (ModRM.reg of mov Sreg). */
export const SEG_ES = 0, SEG_CS = 1, SEG_SS = 2, SEG_DS = 3, SEG_FS = 4, SEG_GS = 5;

/** Most instructions in one decoded block. */
export const MAX_BLOCK_INSNS = 64;
