/**
 * The opcode table: the single list of what the CPU implements. Every
 * instruction module registers its forms here with `def`; the decoder is
 * built from this list, and coverage and tests read it too.
 */
import type { Handler } from './insn.ts';

/** Opcode maps: one-byte, 0F, 0F 38, 0F 3A. */
export const MAP_1B = 0, MAP_0F = 1, MAP_0F38 = 2, MAP_0F3A = 3;

/**
 * Operand-size rule:
 * - 'b': always 8-bit;
 * - 'v': 16/32/64 (66 prefix → 16, REX.W → 64, default 32);
 * - 'd64': default 64 in long mode, 66 → 16, no 32-bit form (push, pop, near branches through registers);
 * - 'f64': always 64 (near relative branches, jcc);
 * - 'w': always 16; 'd': always 32; 'q': always 64;
 * - 'n': none (SSE/x87 handlers decide from the prefix).
 */
export type OpSizeRule = 'b' | 'v' | 'd64' | 'f64' | 'w' | 'd' | 'q' | 'n';

/**
 * Immediate kinds:
 * - 'ib': 8-bit, sign-extended to 64; 'ub': 8-bit zero-extended;
 * - 'iw': 16-bit zero-extended; 'iz': 16 or 32 bits by operand size, sign-extended to 64;
 * - 'iv': full operand size (imm64 with REX.W — mov r64, imm64);
 * - 'rel8' / 'relz': relative branch; the decoder stores the target address in imm;
 * - 'moffs': address-size offset (mov al, [moffs]) stored in disp;
 * - 'iw_ib': enter's imm16, imm8 (imm, imm2).
 */
export type ImmKind = 'ib' | 'ub' | 'iw' | 'iz' | 'iv' | 'rel8' | 'relz' | 'moffs' | 'iw_ib';

export interface OpSpec {
  /** Mnemonic as in the SDM, lower case. */
  name: string;
  map: number;
  op: number;
  /** Required ModRM.reg (opcode extension). */
  ext?: number;
  /** Only the register (mod = 3) or only the memory form. */
  mod?: 'reg' | 'mem';
  /** Required ModRM.rm when mod = 3 (0F 01 F8 swapgs and friends). */
  rmField?: number;
  /** Mandatory prefix: 0 = none of 66/F2/F3, or the prefix byte. Absent: any prefixes. */
  prefix?: 0 | 0x66 | 0xf2 | 0xf3;
  /** Requires REX.W = 1 (or 0). */
  rexW?: boolean;
  modrm: boolean;
  /** Register number in the opcode's low 3 bits (+REX.B): 50+r, B8+r, … */
  opReg?: boolean;
  imm?: ImmKind;
  size: OpSizeRule;
  /** Which register operands are 8-bit (AH..BH apply without REX). Default: both when size is 'b'. */
  byteRegs?: 'rm' | 'reg' | 'both' | 'none';
  /** Ends the block: the handler sets RIP itself. */
  control?: boolean;
  /** Valid with a LOCK prefix (memory form only). */
  lockable?: boolean;
  /** Flags the SDM leaves undefined after this instruction (masked in differential tests). */
  undefFlags?: number;
  /** The handler, or a factory choosing one by operand size and form at decode time (memoised). */
  exec?: Handler;
  make?: (opSize: number, mem: boolean) => Handler;
}

export const OPS: OpSpec[] = [];

export function def(spec: OpSpec): void {
  if (!spec.exec && !spec.make) throw new Error(`opcode ${spec.name}: no handler`);
  OPS.push(spec);
}

/** Several specs sharing fields. */
export function defAll(common: Partial<OpSpec>, specs: Array<Partial<OpSpec>>): void {
  for (const s of specs) def({ ...common, ...s } as OpSpec);
}
