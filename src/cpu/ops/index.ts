/** Registers every instruction module with the opcode table (imported once by the decoder). */
import './alu.ts';
import './mov.ts';
import './control.ts';
import './stack.ts';
import './muldiv.ts';
import './shift.ts';
import './bits.ts';
import './string.ts';
import './system.ts';
import './sse.ts';
import './x87.ts';
import './misc-int.ts';
