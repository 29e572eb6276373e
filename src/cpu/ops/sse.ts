/**
 * SSE and SSE2 (64-bit mode, XMM forms): registers the instruction modules.
 * - sse-move.ts: moves, movd/movq, movmsk, float shuffles/unpacks, ldmxcsr/stmxcsr;
 * - sse-fp.ts: float arithmetic, logic, comparisons, conversions (numerics in sse-math.ts);
 * - sse-int.ts: 128-bit integer instructions.
 * The MMX-register forms (no prefix on the integer opcodes, cvtpi2ps & co.)
 * are not implemented; lddqu/movddup & co. are SSE3 and not here either.
 * SSE_SPECS lists every table entry these modules registered.
 */
import './sse-move.ts';
import './sse-fp.ts';
import './sse-int.ts';

export { SSE_SPECS } from './sse-core.ts';
