/**
 * Compilation of hot blocks. The default is the JIT (src/cpu/jit/): one
 * generated JavaScript function per region of hot blocks with every
 * instruction specialised (constants for registers, immediates and sizes;
 * inline effective addresses, TLB fast paths and lazy flags, with dead-flag
 * elimination and fused compare-and-branch). The older "threaded" form —
 * one generated function calling each instruction's handler with its
 * decoded instruction as constants — remains as the fallback (and as
 * `compileConfig.jit = false`, or XENJS_JIT=0).
 *
 * Contract with Cpu.run: returns the block's instruction count when it ran
 * to the end, or the index of an instruction after which the block stopped
 * being valid (it wrote to its own code); on a fault it stores the index of
 * the faulting instruction in c.faultIndex and rethrows.
 */
import type { Cpu } from './cpu.ts';
import type { Block } from './insn.ts';
import { buildRegion, jitStats, pendingStubs } from './jit/compiler.ts';

export type CompiledBlock = (c: Cpu) => number;

const env = typeof process !== 'undefined' ? process.env : {};

/**
 * threshold: executions after which a block is compiled (XENJS_COMPILE_THRESHOLD).
 * V8 first runs a new function unoptimised, so compiling code that runs only
 * a few hundred times costs more than it saves: booting the default guest to
 * its marker took about 40 s at 100 and 30 s at 3000 (10000: the same).
 * XENJS_NO_COMPILE=1 keeps everything interpreted (-1); tests set
 * `compileConfig.threshold = 1` to compile every block at once.
 * jit: specialise blocks (true) or only thread their handlers (false).
 * strict: a code-generator error throws (tests) instead of falling back to
 * the threaded form.
 */
export const compileConfig = {
  threshold: env.XENJS_NO_COMPILE ? -1 : Number(env.XENJS_COMPILE_THRESHOLD ?? 3000),
  jit: env.XENJS_JIT !== '0',
  strict: false,
};

export function compileBlock(b: Block): CompiledBlock {
  if (!compileConfig.jit) return compileThreaded(b);
  // The specialised function binds the Cpu's arrays: it is built on the first run.
  const stub: CompiledBlock = (c) => {
    pendingStubs.delete(stub);
    let f: CompiledBlock;
    try {
      f = buildRegion(b, c, compileThreaded);
    } catch (e) {
      jitStats.failures++;
      if (compileConfig.strict) throw e;
      f = compileThreaded(b);
    }
    if (b.fn === stub) b.fn = f;
    return f(c);
  };
  pendingStubs.add(stub);
  return stub;
}

/** The threaded form: each instruction's handler called with its decoded instruction. */
export function compileThreaded(b: Block): CompiledBlock {
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
