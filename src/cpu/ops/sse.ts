/**
 * SSE and SSE2 (64-bit mode, XMM forms) and MMX: registers the instruction modules.
 * - sse-move.ts: moves, movd/movq, movmsk, float shuffles/unpacks, ldmxcsr/stmxcsr;
 * - sse-fp.ts: float arithmetic, logic, comparisons, conversions (numerics in sse-math.ts);
 * - sse-int.ts: packed integer instructions, on XMM (66 prefix) and MMX (no prefix) registers;
 * - mmx.ts: the other MMX forms (moves, emms, pshufw, pinsrw/pextrw/pmovmskb,
 *   maskmovq, cvtpi2ps & co., movq2dq/movdq2q).
 * lddqu/movddup & co. are SSE3 and not here.
 * SSE_SPECS lists every XMM-only table entry these modules registered,
 * MMX_SPECS every entry with an MMX operand.
 */
import './sse-move.ts';
import './sse-fp.ts';
import './sse-int.ts';
import './mmx.ts';

export { SSE_SPECS } from './sse-core.ts';
export { MMX_SPECS } from './mmx-core.ts';
