/**
 * Tier-1 compilation of hot blocks into straight-line JS ("threaded code"):
 * one generated function per block calls each instruction's handler with
 * its decoded instruction as constants. Every call site then sees a single
 * target, so V8 inlines the handlers, and the interpreter's loop, array
 * loads and megamorphic dispatch disappear. Semantics are the
 * interpreter's exactly: the same handlers run in the same order.
 *
 * Contract with Cpu.run: returns the block's instruction count when it ran
 * to the end, or the index of an instruction after which the block stopped
 * being valid (it wrote to its own code); on a fault it stores the index of
 * the faulting instruction in c.faultIndex and rethrows.
 */
import type { Cpu } from './cpu.ts';
import type { Block } from './insn.ts';

export type CompiledBlock = (c: Cpu) => number;

/**
 * Executions after which a block is compiled. XENJS_NO_COMPILE=1 keeps everything
 * interpreted; tests set `compileConfig.threshold = 1` to compile every block at once.
 */
export const compileConfig = {
  threshold: typeof process !== 'undefined' && process.env.XENJS_NO_COMPILE ? -1 : 24,
};

export function compileBlock(b: Block): CompiledBlock {
  const n = b.insns.length;
  const params: string[] = ['b'];
  const args: unknown[] = [b];
  const lines: string[] = ['return function block(c) {', '  let k = 0;', '  try {'];
  for (let j = 0; j < n; j++) {
    const ins = b.insns[j]!;
    params.push(`h${j}`, `i${j}`);
    args.push(ins.exec, ins);
    if (j > 0) lines.push(`    k = ${j};`);
    lines.push(`    h${j}(c, i${j});`);
    if (j < n - 1) lines.push(`    if (!b.valid) return ${j};`);
  }
  lines.push(`    return ${n};`, '  } catch (e) {', '    c.faultIndex = k;', '    throw e;', '  }', '};');
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- generating code is the point of a compiler
  return new Function(...params, lines.join('\n'))(...args) as CompiledBlock;
}
