/**
 * Control transfer: jmp, jcc, call, ret, loop/jrcxz, int3/int n/into,
 * syscall/sysret, iretq, hlt, ud2. Every handler here ends its block and
 * sets RIP itself.
 */
import type { Cpu } from '../cpu.ts';
import type { Insn } from '../insn.ts';
import { cond } from '../cond.ts';
import { def, MAP_0F, MAP_1B } from '../table.ts';
import { BP, Exit, GP, RCX, RSP, UD, OF_VEC } from '../state.ts';
import { readE } from './operand.ts';

function jumpTo(c: Cpu, lo: number, hi: number): void {
  // A non-canonical target faults at the jump (Intel: #GP with RIP at the jump).
  if ((hi << 16) >> 16 !== hi) throw c.fault(GP, 0);
  c.r[32] = lo;
  c.r[33] = hi;
}

function next(c: Cpu, i: Insn): void {
  c.r[32] = i.nextLo;
  c.r[33] = i.nextHi;
}

const jmpRel = (c: Cpu, i: Insn): void => jumpTo(c, i.immLo, i.immHi);
def({ name: 'jmp', map: MAP_1B, op: 0xeb, modrm: false, size: 'f64', imm: 'rel8', control: true, exec: jmpRel });
def({ name: 'jmp', map: MAP_1B, op: 0xe9, modrm: false, size: 'f64', imm: 'relz', control: true, exec: jmpRel });

for (let cc = 0; cc < 16; cc++) {
  // One closure per condition so the condition is a constant in each.
  const jcc = new Function('cond', 'jumpTo', `return function jcc_${cc}(c, i) {
    if (cond(c, ${cc})) jumpTo(c, i.immLo, i.immHi);
    else { c.r[32] = i.nextLo; c.r[33] = i.nextHi; }
  }`)(cond, jumpTo) as (c: Cpu, i: Insn) => void;
  def({ name: 'jcc', map: MAP_1B, op: 0x70 + cc, modrm: false, size: 'f64', imm: 'rel8', control: true, exec: jcc });
  def({ name: 'jcc', map: MAP_0F, op: 0x80 + cc, modrm: false, size: 'f64', imm: 'relz', control: true, exec: jcc });
}

def({
  name: 'call',
  map: MAP_1B,
  op: 0xe8,
  modrm: false,
  size: 'f64',
  imm: 'relz',
  control: true,
  exec: (c, i) => {
    if ((i.immHi << 16) >> 16 !== i.immHi) throw c.fault(GP, 0);
    c.push64(i.nextLo, i.nextHi);
    c.r[32] = i.immLo;
    c.r[33] = i.immHi;
  },
});
def({
  name: 'call',
  map: MAP_1B,
  op: 0xff,
  ext: 2,
  modrm: true,
  size: 'f64',
  control: true,
  exec: (c, i) => {
    const lo = readE(c, i, 8), hi = c.hi;
    if ((hi << 16) >> 16 !== hi) throw c.fault(GP, 0);
    c.push64(i.nextLo, i.nextHi);
    c.r[32] = lo;
    c.r[33] = hi;
  },
});
def({
  name: 'jmp',
  map: MAP_1B,
  op: 0xff,
  ext: 4,
  modrm: true,
  size: 'f64',
  control: true,
  exec: (c, i) => {
    const lo = readE(c, i, 8);
    jumpTo(c, lo, c.hi);
  },
});
// Far call/jmp through memory need descriptor tables, which this CPU does not model.
def({ name: 'callf', map: MAP_1B, op: 0xff, ext: 3, modrm: true, size: 'v', control: true, exec: (c) => { throw c.fault(UD); } });
def({ name: 'jmpf', map: MAP_1B, op: 0xff, ext: 5, modrm: true, size: 'v', control: true, exec: (c) => { throw c.fault(UD); } });

function ret(c: Cpu, i: Insn): void {
  const r = c.r;
  const sL = r[2 * RSP]!, sH = r[2 * RSP + 1]!;
  const lo = c.read64(sL, sH), hi = c.hi;
  if ((hi << 16) >> 16 !== hi) throw c.fault(GP, 0);
  const s = (sL >>> 0) + 8 + i.immLo;
  r[2 * RSP] = s | 0;
  r[2 * RSP + 1] = s > 0xffffffff ? (sH + 1) | 0 : sH;
  r[32] = lo;
  r[33] = hi;
}
def({ name: 'ret', map: MAP_1B, op: 0xc3, modrm: false, size: 'f64', control: true, exec: ret });
def({ name: 'ret', map: MAP_1B, op: 0xc2, modrm: false, size: 'f64', imm: 'iw', control: true, exec: ret });

// loop, loope, loopne, jrcxz: count in RCX (ECX with 67).
function loopOp(kind: number) {
  return (c: Cpu, i: Insn): void => {
    const r = c.r;
    let taken: boolean;
    if (kind === 3) {
      taken = i.addrSize === 4 ? r[2 * RCX] === 0 : (r[2 * RCX]! | r[2 * RCX + 1]!) === 0;
    } else {
      let lo = r[2 * RCX]!, hi = r[2 * RCX + 1]!;
      if (i.addrSize === 4) {
        lo = (lo - 1) | 0;
        c.setReg32(RCX, lo);
        hi = 0;
      } else {
        hi = lo === 0 ? (hi - 1) | 0 : hi;
        lo = (lo - 1) | 0;
        r[2 * RCX] = lo;
        r[2 * RCX + 1] = hi;
      }
      taken = (lo | hi) !== 0;
      if (kind === 1) taken = taken && cond(c, 4); // loope: ZF = 1
      else if (kind === 0) taken = taken && cond(c, 5); // loopne: ZF = 0
    }
    if (taken) jumpTo(c, i.immLo, i.immHi);
    else next(c, i);
  };
}
def({ name: 'loopne', map: MAP_1B, op: 0xe0, modrm: false, size: 'f64', imm: 'rel8', control: true, exec: loopOp(0) });
def({ name: 'loope', map: MAP_1B, op: 0xe1, modrm: false, size: 'f64', imm: 'rel8', control: true, exec: loopOp(1) });
def({ name: 'loop', map: MAP_1B, op: 0xe2, modrm: false, size: 'f64', imm: 'rel8', control: true, exec: loopOp(2) });
def({ name: 'jrcxz', map: MAP_1B, op: 0xe3, modrm: false, size: 'f64', imm: 'rel8', control: true, exec: loopOp(3) });

// ---- software interrupts and system calls: exits for the layer above

/** int3 is a trap: #BP reported with RIP after the instruction. */
def({
  name: 'int3',
  map: MAP_1B,
  op: 0xcc,
  modrm: false,
  size: 'b',
  control: true,
  exec: (c, i) => {
    next(c, i);
    c.excVector = BP;
    c.excHasCode = false;
    c.excCode = 0;
    c.exitReason = Exit.SoftwareInterrupt;
  },
});
def({
  name: 'int',
  map: MAP_1B,
  op: 0xcd,
  modrm: false,
  size: 'b',
  imm: 'ub',
  control: true,
  exec: (c, i) => {
    next(c, i);
    c.excVector = i.immLo;
    c.excHasCode = false;
    c.excCode = 0;
    c.exitReason = Exit.SoftwareInterrupt;
  },
});
// into and the other 32-bit-only opcodes are invalid in 64-bit mode.
for (const op of [0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x60, 0x61, 0x62, 0x82, 0x9a, 0xc4, 0xc5, 0xce, 0xd4, 0xd5, 0xd6, 0xea]) {
  def({ name: op === 0xce ? 'into' : '(invalid in 64-bit mode)', map: MAP_1B, op, modrm: false, size: 'b', control: true, exec: (c) => { throw c.fault(UD); } });
}
void OF_VEC;

def({
  name: 'syscall',
  map: MAP_0F,
  op: 0x05,
  modrm: false,
  size: 'b',
  control: true,
  exec: (c, i) => {
    next(c, i);
    c.exitReason = Exit.Syscall;
  },
});
def({
  name: 'sysret',
  map: MAP_0F,
  op: 0x07,
  modrm: false,
  size: 'v',
  control: true,
  exec: (c, i) => {
    c.requireCpl0();
    // 64-bit sysret: RIP = RCX, RFLAGS = R11, CPL 3.
    const r = c.r;
    jumpTo(c, r[2 * RCX]!, r[2 * RCX + 1]!);
    c.setArithFlags(r[22]!);
    c.flags = (r[22]! & 0x3c7fd7) | 2;
    c.cpl = 3;
    void i;
  },
});
def({
  name: 'hlt',
  map: MAP_1B,
  op: 0xf4,
  modrm: false,
  size: 'b',
  control: true,
  exec: (c, i) => {
    c.requireCpl0();
    next(c, i);
    c.exitReason = Exit.Halt;
  },
});
def({ name: 'ud2', map: MAP_0F, op: 0x0b, modrm: false, size: 'b', control: true, exec: (c) => { throw c.fault(UD); } });
def({ name: 'ud1', map: MAP_0F, op: 0xb9, modrm: true, size: 'v', control: true, exec: (c) => { throw c.fault(UD); } });
def({ name: 'ud0', map: MAP_0F, op: 0xff, modrm: true, size: 'v', control: true, exec: (c) => { throw c.fault(UD); } });
