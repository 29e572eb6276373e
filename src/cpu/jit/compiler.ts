/**
 * The block compiler. A hot block is compiled together with the hot blocks
 * it leads to (its *region*: the blocks reachable through Cpu.run's chain
 * links next1/next2 that are hot and not compiled yet) into one JavaScript
 * function. Each instruction is specialised by its template (templates.ts)
 * or, for anything without one, calls its handler. Inside a region,
 * control passes from block to block without returning to Cpu.run: a block
 * that ends by jumping to another member continues there directly (a loop
 * in the guest is a loop in the function), with registers and lazy flags
 * kept in JS locals throughout (see gen.ts).
 *
 * Every member block's `fn` becomes an entry into the region function, so
 * Cpu.run enters wherever it is. The function keeps Cpu.run's contract for
 * the block it was entered at (threaded.ts), covering the member blocks it
 * ran after it:
 * - normal end: returns the entry block's length; the instructions of the
 *   other blocks are added to c.icount here; RIP is left as the last block
 *   set it (a transfer to another block happens only after a block ending
 *   with a control transfer, so Cpu.run keeps RIP);
 * - a later block invalidated by a store into its own code: c.icount counts
 *   up to the storing instruction, RIP is set after it, and the function
 *   returns entry length - 1 (Cpu.run then keeps RIP);
 * - a fault in a later block: RIP is set to the faulting instruction,
 *   c.icount counts the instructions before it, c.faultIndex = 0 and
 *   c.excTrap = true, so that Cpu.run adds nothing and keeps RIP.
 * One call runs at most `regionConfig.maxInsns` instructions (Cpu.run checks
 * its budget between calls: a budget may be overshot by up to that many).
 *
 * Shape of the generated code:
 *
 *   function jit_region(c, e, ne) {            // entered at member e (ne instructions)
 *     if (c !== C) return FB[e](c);
 *     let g0 = r[0], h0 = r[1], …, f0 = lf[0], …;      // registers and flags in locals
 *     let cur = e, done = 0, ret = ne, xl = 0, xh = 0;
 *     try {
 *       exit: for (;;) switch (cur) {
 *         case 0: {
 *           …instructions (slow paths: `c.faultIndex = j; m = c.read32(…)`)…
 *           if (!B0.valid) { …; break exit; }        (after instructions that store)
 *           if (<cond>) { if (done + 9 <= 64) { done += 5; cur = 1; } else { done += 5; xl = …; xh = …; break exit; } }
 *           else { done += 5; xl = …; xh = …; break exit; }
 *         }
 *         case 1: …                                    (falls through from case 0)
 *       }
 *     } catch (x) { <store the locals>; <fix-ups for a fault after the entry block>; throw x; }
 *     <store the locals>; r[32] = xl; r[33] = xh; c.icount += done - ne; return ret;
 *   }
 *   return [function (c) { return jit_region(c, 0, 5); }, …];   // the members' entries
 */
import type { Cpu } from '../cpu.ts';
import type { Block } from '../insn.ts';
import { CPU_FAULT } from '../state.ts';
import { Gen, type Ctl, type Target } from './gen.ts';
import { COND_L, PARITY_PF, cfL, imul64, mulLo64Hi, memAccess, mulOut, setCfOfL } from './runtime.ts';
import { rmwRead, rmwWrite } from '../ops/operand.ts';
import { emitInsn } from './templates.ts';

export type BlockFn = (c: Cpu) => number;

/**
 * Region limits. maxInsns: instructions one call may run (Cpu.run checks its
 * budget between calls, so a budget may be overshot by this much; 1024 rather
 * than 64 made a 10-instruction guest loop about 20 % faster); maxBlocks / maxRegionInsns: size of a
 * region (V8 compiles big functions slowly and not at all past ~60 KB of
 * bytecode); minHits: executions a successor needs to join a region.
 */
export const regionConfig = { maxInsns: 1024, maxBlocks: 12, maxRegionInsns: 64, minHits: 4, enabled: true, inlineMemory: true };

/** Values of the helper names templates may use. */
function helper(name: string): unknown {
  if (name.startsWith('CCL')) return COND_L[Number(name.slice(3))];
  switch (name) {
    case 'CFL': return cfL;
    case 'SCOL': return setCfOfL;
    // The interpreter's read-modify-write halves serve as the slow path of the inline one.
    case 'RMWR': return rmwRead;
    case 'RMWW': return rmwWrite;
    case 'IMUL64': return imul64;
    case 'MULLO64H': return mulLo64Hi;
    case 'MO': return mulOut;
    case 'MEM': return memAccess;
    default: throw new Error(`jit: unknown helper ${name}`);
  }
}

/** Statistics, for benchmarks and tests. */
export const jitStats = { regions: 0, blocks: 0, insns: 0, templated: 0, handlers: 0, failures: 0 };

/** Debugging: called with every region's source before it is compiled. */
export const jitDebug: { onSource: ((source: string, members: Block[]) => void) | null } = { onSource: null };

/**
 * Functions Cpu.run has installed as `fn` but that have not compiled
 * anything yet (threaded.ts compileBlock's stubs): their blocks may still
 * join another block's region.
 */
export const pendingStubs = new WeakSet<object>();

/**
 * The region of `entry`: itself, then (breadth first through the chain
 * links) successors that are hot, valid, not compiled yet (no `fn`, or a
 * stub that has not run) and on one page.
 */
export function collectRegion(entry: Block): Block[] {
  const members = [entry];
  if (!regionConfig.enabled) return members;
  const seen = new Set<Block>(members);
  let insns = entry.insns.length;
  for (let q = 0; q < members.length; q++) {
    const b = members[q]!;
    if (!b.endsWithControl) continue;
    for (const s of [b.next1, b.next2]) {
      if (s === null || seen.has(s)) continue;
      seen.add(s);
      if (!s.valid || !s.cacheable || (s.fn !== null && !pendingStubs.has(s.fn)) || s.cpl !== entry.cpl || s.page2 >= 0 || s.hits < regionConfig.minHits) continue;
      if (members.length >= regionConfig.maxBlocks || insns + s.insns.length > regionConfig.maxRegionInsns) continue;
      members.push(s);
      insns += s.insns.length;
    }
  }
  return members;
}

export interface RegionSource {
  /** The factory's body: parameters C, FB, H, HS, IS, BS, PAR, FAULT. */
  source: string;
  helpers: Record<string, unknown>;
  templated: number;
  handlers: number;
}

/**
 * Whether the flags instruction j of `b` writes are dead: a later instruction
 * of the block redefines every flag, and nothing before it can read flags,
 * fault or leave the block (a cautious check by instruction kind:
 * register-only ALU and move forms). Rotates (which change CF and OF only)
 * and 64-bit imul (whose flags need the full 128-bit product) use it.
 */
function partialDead(b: Block, j: number): boolean {
  for (let k = j + 1; k < b.insns.length; k++) {
    const i = b.insns[k]!;
    const accImm = (i.opcode < 0x40 && (i.opcode & 7) >= 4 && (i.opcode & 7) <= 5) || i.opcode === 0xa8 || i.opcode === 0xa9;
    switch (i.name) {
      case 'add': case 'or': case 'and': case 'sub': case 'xor': case 'cmp': case 'test':
        return i.rm >= 0 || accImm;
      // imul with register operands defines every flag from its operands (CF/OF; the
      // others as the interpreter's record computes them) and cannot fault.
      case 'imul':
        return i.rm >= 0 && (i.opcode === 0xaf || i.opcode === 0x69 || i.opcode === 0x6b || i.opcode === 0xf7);
      // So does a shift of a register by a non-zero immediate count (zero leaves the flags).
      case 'shl': case 'sal': case 'shr': case 'sar':
        return i.rm >= 0 && (i.opcode === 0xd1 || i.opcode === 0xd0 || ((i.opcode === 0xc1 || i.opcode === 0xc0) && (i.immLo & (i.opSize === 8 ? 63 : 31)) !== 0));
      // Forms that cannot fault: register-to-register moves (not to/from a
      // segment register, 8C/8E), mov reg, imm, and lea with a memory operand
      // (its register form is #UD, and does not end the block).
      case 'mov':
        if ((i.rm >= 0 && i.opcode >= 0x88 && i.opcode <= 0x8b) || (i.opcode >= 0xb0 && i.opcode <= 0xbf)) continue;
        return false;
      case 'movzx': case 'movsx': case 'movsxd':
        if (i.rm >= 0) continue;
        return false;
      case 'lea':
        if (i.rm < 0) continue;
        return false;
      default:
        return false;
    }
  }
  return false;
}

/** Generate the source of a region's function (exposed for tests and inspection). */
export function generate(members: Block[]): RegionSource {
  const g = new Gen();
  g.inlineMem = regionConfig.inlineMemory;
  const handlers: string[] = [];
  let templated = 0;
  const cap = regionConfig.maxInsns;
  const byRip = new Map<string, number>();
  members.forEach((b, m) => byRip.set(`${b.ripLo}:${b.ripHi}`, m));
  const lines: string[] = [];
  let usesX = false;
  for (let m = 0; m < members.length; m++) {
    const b = members[m]!;
    const n = b.insns.length;
    g.startBlock();
    const start = g.lines.length;
    let hadHandler = false;
    let ctl: Ctl | null = null;
    let lastStored = false;
    for (let j = 0; j < n; j++) {
      const ins = b.insns[j]!;
      g.j = j;
      g.stored = false;
      g.ctl = null;
      g.partialDead = partialDead(b, j);
      const at = g.lines.length;
      if (emitInsn(g, ins)) templated++;
      else {
        g.lines.length = at;
        g.ctl = null;
        g.usesFlags = true;
        // (inh: while the handler runs, c.r and c.lf are the truth: a fault must not store the locals over its partial work)
        g.emit(`${Gen.SYNC} ${Gen.SYNC_FLAGS} c.faultIndex = ${j}; inh = true; h${m}_${j}(c, i${m}_${j}); inh = false; ${Gen.RELOAD} ${Gen.RELOAD_FLAGS}`);
        g.forgetFlags();
        handlers.push(`const h${m}_${j} = HS[${m}][${j}], i${m}_${j} = IS[${m}][${j}];`);
        g.stored = true;
        hadHandler = true;
      }
      if (g.stored && j < n - 1) {
        // A store into this block's own code: stop after this instruction (see the contract above).
        g.emit(`if (!B${m}.valid) { if (done === 0) { ret = ${j}; done = ne; xl = r[32]; xh = r[33]; } else { done += ${j + 1}; ret = ne - 1; xl = ${ins.nextLo | 0}; xh = ${ins.nextHi | 0}; } break exit; }`);
      }
      ctl = g.ctl as Ctl | null;
      lastStored = g.stored;
    }
    const body = g.lines.splice(start);
    // Leaving the region after a member other than the entry: tell Cpu.run which block ran last, so it
    // follows (and records) that block's successors rather than the entry block's.
    const last = members.length > 1 ? ` c.jitLast = B${m};` : '';
    const exitTo = (lo: string, hi: string): string => `done += ${n}; xl = ${lo}; xh = ${hi};${last} break exit;`;
    /** The edge to member x when control goes to `t` (or the exit); `mayFall`: nothing follows, so x = m + 1 falls through. */
    const edgeTo = (x: number, t: { lo: string; hi: string }, mayFall: boolean): string => {
      const s = members[x]!;
      const samePage = (s.ripLo & -4096) === (b.ripLo & -4096) && s.ripHi === b.ripHi && s.ramStart >>> 12 === b.ramStart >>> 12;
      const checks: string[] = [`done + ${n + s.insns.length} <= ${cap}`];
      if (!samePage || hadHandler) {
        usesX = true;
        const idx = (s.ripLo >>> 12) & 4095;
        checks.push(`B${x}.valid && xTL[${idx}] === ${s.ripLo & -4096} && xTH[${idx}] === ${s.ripHi | 0} && xB[${idx}] === ${s.ramStart & -4096}`);
      } else if (lastStored) checks.push(`B${x}.valid`);
      if (hadHandler) checks.push('c.exitReason === 0 && (c.flags & 256) === 0');
      const take = `done += ${n}; cur = ${x};${mayFall && x === m + 1 ? '' : ' continue;'}`;
      return `if (${checks.join(' && ')}) { ${take} } else { ${exitTo(t.lo, t.hi)} }`;
    };
    const faultAtEnd = `${g.faultPrefix()} throw c.fault(13, 0);`;
    const path = (t: Target | 'fault'): string => {
      if (t === 'fault') return faultAtEnd;
      if (t.konst) {
        const x = byRip.get(`${Number(t.lo) | 0}:${Number(t.hi) | 0}`);
        return x === undefined ? exitTo(t.lo, t.hi) : edgeTo(x, t, true);
      }
      // A computed target (ret, indirect): the members Cpu.run has seen follow this block.
      const out: string[] = [];
      for (const nb of [b.next1, b.next2]) {
        const x = nb ? byRip.get(`${nb.ripLo}:${nb.ripHi}`) : undefined;
        if (x === undefined) continue;
        const sx = members[x]!;
        out.push(`if (${t.lo} === ${sx.ripLo | 0} && ${t.hi} === ${sx.ripHi | 0}) { ${edgeTo(x, t, false)} }`);
      }
      out.push(exitTo(t.lo, t.hi));
      return out.join(' ');
    };
    let end: string;
    if (!ctl) end = b.endsWithControl ? exitTo('r[32]', 'r[33]') : exitTo(String(b.endLo | 0), String(b.endHi | 0));
    else if (ctl.cond !== undefined) end = `if (${ctl.cond}) { ${path(ctl.taken)} } else { ${path(ctl.fall!)} }`;
    else end = path(ctl.taken);
    lines.push(`case ${m}: {`, ...body, end, '}');
  }

  const regs = [...g.used].sort((a, b) => a - b);
  const written = [...g.written].sort((a, b) => a - b);
  const sync = written.map((n) => `r[${2 * n}] = g${n}; r[${2 * n + 1}] = h${n};`).join(' ');
  const reload = regs.map((n) => `g${n} = r[${2 * n}]; h${n} = r[${2 * n + 1}];`).join(' ');
  const fs = [...g.fAssigned].sort();
  const syncF = fs.map((k) => `lf[${k}] = f${k};`).join(' ');
  const reloadF = g.usesFlags ? [0, 1, 2, 3, 4, 5, 6, 7].map((k) => `f${k} = lf[${k}];`).join(' ') : '';
  const fill = (x: string): string => x.split(Gen.SYNC).join(sync).split(Gen.RELOAD).join(reload).split(Gen.SYNC_FLAGS).join(syncF).split(Gen.RELOAD_FLAGS).join(reloadF);

  const out: string[] = [];
  if (regs.length) out.push(`let ${regs.map((n) => `g${n} = r[${2 * n}], h${n} = r[${2 * n + 1}]`).join(', ')};`);
  if (g.usesFlags) out.push(`let ${[0, 1, 2, 3, 4, 5, 6, 7].map((k) => `f${k} = lf[${k}]`).join(', ')};`);
  out.push(`let cur = e, done = 0, ret = ne, xl = 0, xh = 0${handlers.length ? ', inh = false' : ''};`);
  out.push('try {');
  out.push('exit: for (;;) switch (cur) {');
  out.push(...lines.map(fill));
  out.push('default: throw new Error("jit: bad region entry");');
  out.push('}');
  out.push('} catch (x) {');
  // A fault: the registers and flags as they were before the faulting instruction; after the entry block, report it there.
  out.push(handlers.length ? `if (!inh) { ${sync} ${syncF} }` : `${sync} ${syncF}`);
  out.push('if (x === FAULT && done !== 0) { if (!c.excTrap) { const i = IS[cur][c.faultIndex]; r[32] = i.addrLo; r[33] = i.addrHi; } c.icount += done + c.faultIndex; c.faultIndex = 0; c.excTrap = true; }');
  out.push('throw x;');
  out.push('}');
  out.push(`${sync} ${syncF}`);
  out.push('r[32] = xl; r[33] = xh; c.icount += done - ne; return ret;');

  const pre: string[] = ['"use strict";', 'const r = C.r, lf = C.lf, ram = C.ram, dv = C.dv;'];
  if (g.useRead) pre.push('const rTL = C.tlb.read.tagLo, rTH = C.tlb.read.tagHi, rB = C.tlb.read.base;');
  if (g.useWrite) pre.push('const wTL = C.tlb.write.tagLo, wTH = C.tlb.write.tagHi, wB = C.tlb.write.base;');
  if (usesX) pre.push('const xTL = C.tlb.exec.tagLo, xTH = C.tlb.exec.tagHi, xB = C.tlb.exec.base;');
  if (g.useSeg) pre.push('const sb = C.segBase;');
  pre.push(`const ${members.map((_, m) => `B${m} = BS[${m}]`).join(', ')};`);
  const helpers: Record<string, unknown> = {};
  const names = [...g.consts.keys()];
  for (const nm of names) helpers[nm] = helper(nm);
  if (names.length) pre.push(`const { ${names.join(', ')} } = H;`);
  pre.push(...handlers);
  // One entry function per member (its own call site: monomorphic, so V8 can call or inline the region directly).
  const entries = members.map((b, m) => `function (c) { return jit_region(c, ${m}, ${b.insns.length}); }`);
  const source = `${pre.join('\n')}\nfunction jit_region(c, e, ne) {\nif (c !== C) return FB[e](c);\n${out.join('\n')}\n}\nreturn [${entries.join(', ')}];`;
  return { source, helpers, templated, handlers: handlers.length };
}

/**
 * Compile the region of `entry` for Cpu `cpu`: every member's `fn` becomes
 * an entry into it (the entry's is returned). `fallback(b)` gives a form of
 * block b that works for any Cpu (a region binds this one's arrays).
 */
export function buildRegion(entry: Block, cpu: Cpu, fallback: (b: Block) => BlockFn): BlockFn {
  const members = collectRegion(entry);
  const src = generate(members);
  jitDebug.onSource?.(src.source, members);
  jitStats.regions++;
  jitStats.blocks += members.length;
  for (const b of members) jitStats.insns += b.insns.length;
  jitStats.templated += src.templated;
  jitStats.handlers += src.handlers;
  const fbs = members.map((b) => {
    let f: BlockFn | null = null;
    return (c: Cpu): number => (f ??= fallback(b))(c);
  });
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- generating code is the point of a compiler
  const factory = new Function('C', 'FB', 'H', 'HS', 'IS', 'BS', 'PAR', 'FAULT', src.source) as (...a: unknown[]) => BlockFn[];
  const entries = factory(cpu, fbs, src.helpers, members.map((b) => b.insns.map((i) => i.exec)), members.map((b) => b.insns), members, PARITY_PF, CPU_FAULT);
  for (let m = 1; m < members.length; m++) members[m]!.fn = entries[m]!;
  return entries[0]!;
}
