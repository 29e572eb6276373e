/**
 * Per-instruction templates of the JIT: JavaScript source specialised to
 * one decoded instruction (register locals, immediates, operand size and
 * displacement as constants). Each template reproduces its handler's
 * semantics exactly, including the order of faults: every memory access
 * that can fault comes before the first register or memory write, and a
 * path that may fault first stores the instruction's index in
 * c.faultIndex (the function's catch stores the register and flag locals).
 * Control transfers describe where they go (Gen.ctl); the compiler emits
 * the block's end.
 *
 * `emitInsn` returns false for anything it does not cover; the compiler
 * then calls the instruction's handler.
 */
import type { Insn } from '../insn.ts';
import { F_ADC, F_ADD, F_DEC, F_INC, F_LOGIC, F_MUL, F_SAR, F_SBB, F_SHL, F_SHR, F_SUB, rec, recAssign, type Gen, type Rec, type Target } from './gen.ts';

const ALU: Record<string, number> = { add: 0, or: 1, adc: 2, sbb: 3, and: 4, sub: 5, xor: 6, cmp: 7 };
const ADD = 0, OR = 1, ADC = 2, SBB = 3, AND = 4, SUB = 5, XOR = 6, CMP = 7;

const MASK: Record<number, number> = { 1: 255, 2: 65535 };

/** An immediate as the operand of an instruction of `size` bytes: [lo, hi] literals, masked like alu() masks it. */
function imm(i: Insn, size: number): [string, string] {
  switch (size) {
    case 1: return [String(i.immLo & 255), '0'];
    case 2: return [String(i.immLo & 65535), '0'];
    case 4: return [String(i.immLo | 0), '0'];
    default: return [String(i.immLo | 0), String(i.immHi | 0)];
  }
}

const canonical = (hi: number): boolean => (hi << 16) >> 16 === hi;

/** Mask a low-half expression to `size` (8/16 unsigned, 32/64 int32). */
function sized(size: number, e: string): string {
  return size <= 2 ? `((${e}) & ${MASK[size]})` : `((${e}) | 0)`;
}

export function emitInsn(g: Gen, i: Insn): boolean {
  switch (i.name) {
    case 'add': case 'or': case 'adc': case 'sbb': case 'and': case 'sub': case 'xor': case 'cmp':
      return alu(g, i);
    case 'test': return test(g, i);
    case 'inc': case 'dec': return incDec(g, i);
    case 'neg': case 'not': return negNot(g, i);
    case 'mov': return mov(g, i);
    case 'movzx': case 'movsx': case 'movsxd': return movExt(g, i);
    case 'lea': return lea(g, i);
    case 'push': return push(g, i);
    case 'pop': return pop(g, i);
    case 'leave': return leave(g, i);
    case 'call': return call(g, i);
    case 'ret': return ret(g, i);
    case 'jmp': return jmp(g, i);
    case 'jcc': return jcc(g, i);
    case 'setcc': return setcc(g, i);
    case 'cmovcc': return cmov(g, i);
    case 'shl': case 'sal': case 'shr': case 'sar': case 'rol': case 'ror': return shift(g, i);
    case 'xchg': return xchg(g, i);
    case 'imul': return imul(g, i);
    case 'cbw': case 'cwd': return signExt(g, i);
    default: return isNoOp(i);
  }
}

/** Handlers that do nothing (`() => {}`: nop forms, endbr64, hints), found by their source text. */
const noOps = new WeakMap<object, boolean>();
function isNoOp(i: Insn): boolean {
  const h = i.exec;
  let r = noOps.get(h);
  if (r === undefined) {
    r = /^\(\s*\)\s*=>\s*\{\s*\}$/.test(Function.prototype.toString.call(h).trim());
    noOps.set(h, r);
  }
  return r;
}

// ------------------------------------------------------------------ operands

/** Read the E operand (register or memory): [lo, hi] locals, masked to size. */
function readE(g: Gen, i: Insn, size: number): [string, string] {
  if (i.rm >= 0) return g.readReg(i.rm, size);
  const [lo, hi] = g.ea(i);
  return g.load(size, lo, hi);
}

/**
 * Read the E operand of a read-modify-write: a register, or memory through
 * rmwLoad (translated for write first). [lo, hi, o]: o is the RAM-offset
 * local to pass to rmwStore, '' for a register.
 */
function readModifyE(g: Gen, i: Insn, size: number): [string, string, string] {
  if (i.rm >= 0) {
    const [x, xh] = g.readReg(i.rm, size);
    return [x, xh, ''];
  }
  const [lo, hi] = g.ea(i);
  return g.rmwLoad(size, lo, hi);
}

/** Write the E operand. */
function writeE(g: Gen, i: Insn, size: number, v: string, vh: string): void {
  if (i.rm >= 0) {
    g.writeReg(i.rm, size, v, vh);
    return;
  }
  const [lo, hi] = g.ea(i);
  g.store(size, lo, hi, v, vh);
}

// ------------------------------------------------------------------ ALU

/** res = a op b (op: ALU index), with carry-in `ci` for adc/sbb. Binds and returns [res, resH] and the flag record. */
function aluCompute(g: Gen, op: number, size: number, a: string, aH: string, b: string, bH: string, ci: string): { res: string; resH: string; r: Rec } {
  const res = g.v('r');
  let resH = '0';
  const w = size === 8;
  if (w) resH = g.v('rh');
  switch (op) {
    case ADD: case ADC: {
      const c = op === ADC ? ` + ${ci}` : '';
      if (w) {
        const t = g.v('t');
        g.emit(`const ${t} = (${a} >>> 0) + (${b} >>> 0)${c}; const ${res} = ${t} | 0; const ${resH} = (${aH} + ${bH} + (${t} > 4294967295 ? 1 : 0)) | 0;`);
      } else g.emit(`const ${res} = ${sized(size, `${a} + ${b}${c}`)};`);
      return { res, resH, r: rec(op === ADC ? F_ADC : F_ADD, size, { res, resH, a, aH, b, bH, aux: op === ADC ? ci : '0' }) };
    }
    case SUB: case CMP: case SBB: {
      if (op === SBB) {
        if (w) {
          const d = g.v('d');
          g.emit(`const ${d} = (${a} >>> 0) - (${b} >>> 0) - ${ci}; const ${res} = ${d} | 0; const ${resH} = (${aH} - ${bH} - (${d} < 0 ? 1 : 0)) | 0;`);
        } else g.emit(`const ${res} = ${sized(size, `${a} - ${b} - ${ci}`)};`);
        return { res, resH, r: rec(F_SBB, size, { res, resH, a, aH, b, bH, aux: ci }) };
      }
      if (w) g.emit(`const ${res} = (${a} - ${b}) | 0; const ${resH} = (${aH} - ${bH} - ((${a} >>> 0) < (${b} >>> 0) ? 1 : 0)) | 0;`);
      else g.emit(`const ${res} = ${sized(size, `${a} - ${b}`)};`);
      return { res, resH, r: rec(F_SUB, size, { res, resH, a, aH, b, bH }) };
    }
    default: {
      const o = op === AND ? '&' : op === OR ? '|' : '^';
      g.emit(`const ${res} = ${a} ${o} ${b};${w ? ` const ${resH} = ${aH} ${o} ${bH};` : ''}`);
      return { res, resH, r: rec(F_LOGIC, size, { res, resH }) };
    }
  }
}

function alu(g: Gen, i: Insn): boolean {
  const op = ALU[i.name]!;
  const size = i.opSize;
  const opc = i.opcode;
  let form: number; // 0: E,G  1: G,E  2: A,imm  3: E,imm
  if (opc === 0x80 || opc === 0x81 || opc === 0x83) {
    if (i.ext !== op) return false;
    form = 3;
  } else {
    if (opc >> 3 !== op || (opc & 7) > 5) return false;
    form = (opc & 7) >> 1;
  }
  const ci = op === ADC || op === SBB ? g.v('ci') : '';
  if (ci) g.emit(`const ${ci} = ${g.cfNum()};`);
  // Register-register forms with the same register twice: xor/sub give 0 with fixed flags.
  if ((form === 0 || form === 1) && i.rm >= 0 && i.rm === i.reg && (op === XOR || op === SUB)) {
    g.writeReg(i.reg, size, '0', '0');
    g.setRec(rec(F_LOGIC, size, { res: '0', resH: '0' }));
    return true;
  }
  let a: string, aH: string, b: string, bH: string;
  let o = '';
  const mem = (form === 0 || form === 3) && i.rm < 0;
  if (form === 0 || form === 3) {
    if (form === 0) [b, bH] = g.readReg(i.reg, size, 'y');
    else [b, bH] = imm(i, size);
    if (mem) {
      const [lo, hi] = g.ea(i);
      if (op === CMP) [a, aH] = g.load(size, lo, hi);
      else [a, aH, o] = g.rmwLoad(size, lo, hi);
    } else [a, aH] = g.readReg(i.rm, size);
  } else if (form === 1) {
    [b, bH] = readE(g, i, size);
    [a, aH] = g.readReg(i.reg, size);
  } else {
    [b, bH] = imm(i, size);
    [a, aH] = g.readReg(0, size);
  }
  const { res, resH, r } = aluCompute(g, op, size, a, aH, b, bH, ci);
  if (op !== CMP) {
    if (mem) g.rmwStore(size, o, res, resH);
    else g.writeReg(form === 1 ? i.reg : form === 2 ? 0 : i.rm, size, res, resH);
  }
  g.setRec(r);
  return true;
}

function test(g: Gen, i: Insn): boolean {
  const size = i.opSize;
  let a: string, aH: string, b: string, bH: string;
  switch (i.opcode) {
    case 0x84: case 0x85:
      if (i.rm >= 0 && i.rm === i.reg) {
        [a, aH] = g.readReg(i.rm, size);
        g.setRec(rec(F_LOGIC, size, { res: a, resH: aH }));
        return true;
      }
      [a, aH] = readE(g, i, size);
      [b, bH] = g.readReg(i.reg, size, 'y');
      break;
    case 0xa8: case 0xa9:
      [a, aH] = g.readReg(0, size);
      [b, bH] = imm(i, size);
      break;
    case 0xf6: case 0xf7:
      if (i.ext > 1) return false;
      [a, aH] = readE(g, i, size);
      [b, bH] = imm(i, size);
      break;
    default:
      return false;
  }
  const res = g.v('r');
  const resH = size === 8 ? g.v('rh') : '0';
  g.emit(`const ${res} = ${a} & ${b};${size === 8 ? ` const ${resH} = ${aH} & ${bH};` : ''}`);
  g.setRec(rec(F_LOGIC, size, { res, resH }));
  return true;
}

function incDec(g: Gen, i: Insn): boolean {
  if ((i.opcode !== 0xfe && i.opcode !== 0xff) || i.ext > 1) return false;
  const dec = i.name === 'dec';
  const size = i.opSize;
  const [x, xh, o] = readModifyE(g, i, size);
  const ci = g.v('ci');
  g.emit(`const ${ci} = ${g.cfNum()};`);
  const res = g.v('r');
  let resH = '0';
  if (size === 8) {
    resH = g.v('rh');
    g.emit(dec
      ? `const ${res} = (${x} - 1) | 0; const ${resH} = ${x} === 0 ? (${xh} - 1) | 0 : ${xh};`
      : `const ${res} = (${x} + 1) | 0; const ${resH} = ${x} === -1 ? (${xh} + 1) | 0 : ${xh};`);
  } else g.emit(`const ${res} = ${sized(size, `${x} ${dec ? '-' : '+'} 1`)};`);
  if (o) g.rmwStore(size, o, res, resH);
  else g.writeReg(i.rm, size, res, resH);
  g.setRec(rec(dec ? F_DEC : F_INC, size, { res, resH, a: x, aH: xh, b: '1', aux: ci }));
  return true;
}

function negNot(g: Gen, i: Insn): boolean {
  if ((i.opcode !== 0xf6 && i.opcode !== 0xf7) || (i.ext !== 2 && i.ext !== 3)) return false;
  const neg = i.ext === 3;
  const size = i.opSize;
  const [x, xh, o] = readModifyE(g, i, size);
  const res = g.v('r');
  let resH = '0';
  if (size === 8) {
    resH = g.v('rh');
    g.emit(neg
      ? `const ${res} = (-${x}) | 0; const ${resH} = (-${xh} - (${x} !== 0 ? 1 : 0)) | 0;`
      : `const ${res} = ~${x}; const ${resH} = ~${xh};`);
  } else g.emit(`const ${res} = ${sized(size, neg ? `-${x}` : `~${x}`)};`);
  if (o) g.rmwStore(size, o, res, resH);
  else g.writeReg(i.rm, size, res, resH);
  if (neg) g.setRec(rec(F_SUB, size, { res, resH, a: '0', aH: '0', b: x, bH: xh }));
  return true;
}

// ------------------------------------------------------------------ data movement

function mov(g: Gen, i: Insn): boolean {
  const size = i.opSize;
  const opc = i.opcode;
  if (opc === 0x88 || opc === 0x89) {
    const [v, vh] = g.readReg(i.reg, size, 'y');
    writeE(g, i, size, v, vh);
    return true;
  }
  if (opc === 0x8a || opc === 0x8b) {
    const [v, vh] = readE(g, i, size);
    g.writeReg(i.reg, size, v, vh);
    return true;
  }
  if (opc === 0xc6 || opc === 0xc7) {
    if (i.ext !== 0) return false;
    const [v, vh] = imm(i, size);
    writeE(g, i, size, v, vh);
    return true;
  }
  if (opc >= 0xb0 && opc <= 0xbf) {
    const [v, vh] = imm(i, size);
    g.writeReg(i.reg, size, v, vh);
    return true;
  }
  if (opc >= 0xa0 && opc <= 0xa3) {
    // moffs: the address is the displacement (plus FS/GS).
    const [lo, hi] = g.ea(i);
    if (opc <= 0xa1) {
      const [v, vh] = g.load(size, lo, hi);
      g.writeReg(0, size, v, vh);
    } else {
      const [v, vh] = g.readReg(0, size, 'y');
      g.store(size, lo, hi, v, vh);
    }
    return true;
  }
  return false;
}

function movExt(g: Gen, i: Insn): boolean {
  const size = i.opSize;
  let src: number, signed: boolean;
  if (i.name === 'movsxd') {
    if (i.opcode !== 0x63) return false;
    src = 4;
    signed = true;
  } else {
    if (i.opcode !== 0xb6 && i.opcode !== 0xb7 && i.opcode !== 0xbe && i.opcode !== 0xbf) return false;
    src = i.opcode & 1 ? 2 : 1;
    signed = i.name === 'movsx';
  }
  const [x] = readE(g, i, src);
  if (!signed) {
    g.writeReg(i.reg, size, x, '0');
    return true;
  }
  const v = g.v('sx');
  g.emit(`const ${v} = ${src === 1 ? `(${x} << 24) >> 24` : src === 2 ? `(${x} << 16) >> 16` : x};`);
  g.writeReg(i.reg, size, v, `(${v} >> 31)`);
  return true;
}

function lea(g: Gen, i: Insn): boolean {
  if (i.rm >= 0 || i.opcode !== 0x8d) return false;
  const [lo, hi] = g.ea(i, true);
  g.writeReg(i.reg, i.opSize, lo, hi);
  return true;
}

function xchg(g: Gen, i: Insn): boolean {
  const size = i.opSize;
  if (i.opcode >= 0x90 && i.opcode <= 0x97) {
    if (i.reg === 0) return true; // 90: nop (no zero-extension)
    const [x, xh] = g.readReg(0, size);
    const [y, yh] = g.readReg(i.reg, size, 'y');
    g.writeReg(0, size, y, yh);
    g.writeReg(i.reg, size, x, xh);
    return true;
  }
  if (i.opcode !== 0x86 && i.opcode !== 0x87) return false;
  const [y, yh] = g.readReg(i.reg, size, 'y');
  if (i.rm < 0) {
    const [lo, hi] = g.ea(i);
    const [x, xh, o] = g.rmwLoad(size, lo, hi);
    g.rmwStore(size, o, y, yh);
    g.writeReg(i.reg, size, x, xh);
  } else {
    const [x, xh] = g.readReg(i.rm, size);
    g.writeReg(i.rm, size, y, yh);
    g.writeReg(i.reg, size, x, xh);
  }
  return true;
}

function signExt(g: Gen, i: Insn): boolean {
  const size = i.opSize;
  if (i.opcode === 0x98) {
    const [a] = g.readReg(0, 4);
    if (size === 2) g.writeReg(0, 2, `((${a} << 24) >> 24)`, '0');
    else if (size === 4) g.writeReg(0, 4, `((${a} << 16) >> 16)`, '0');
    else g.set(0, null, `${a} >> 31`);
    return true;
  }
  if (i.opcode === 0x99) {
    const [a, ah] = g.readReg(0, 8);
    if (size === 2) g.writeReg(2, 2, `((${a} << 16) >> 31)`, '0');
    else if (size === 4) g.writeReg(2, 4, `(${a} >> 31)`, '0');
    else g.set(2, `${ah} >> 31`, `${ah} >> 31`);
    return true;
  }
  return false;
}

// ------------------------------------------------------------------ stack

/** push64 of (lo, hi) (already bound): the new RSP is checked canonical (#SS), written, then RSP set. */
function push64(g: Gen, lo: string, hi: string): void {
  const sL = g.v('sp'), sH = g.v('sph'), nL = g.v('np'), nH = g.v('nph');
  g.emit(`const ${sL} = ${g.lo(4)}, ${sH} = ${g.hi(4)}; const ${nL} = (${sL} - 8) | 0; const ${nH} = (${sL} >>> 0) < 8 ? (${sH} - 1) | 0 : ${sH};`);
  g.checkCanonical(nH, 12);
  g.store(8, nL, nH, lo, hi);
  g.set(4, nL, nH);
}

function push(g: Gen, i: Insn): boolean {
  if (i.opSize !== 8) return false;
  const opc = i.opcode;
  let lo: string, hi: string;
  if (opc >= 0x50 && opc <= 0x57) [lo, hi] = g.readReg(i.reg, 8);
  else if (opc === 0x68 || opc === 0x6a) [lo, hi] = imm(i, 8);
  else if (opc === 0xff && i.ext === 6) [lo, hi] = readE(g, i, 8);
  else return false;
  push64(g, lo, hi);
  return true;
}

/** pop64: RSP checked canonical (#SS), read, then RSP += 8. Returns the value's locals. */
function pop64(g: Gen): [string, string] {
  const sL = g.v('sp'), sH = g.v('sph'), s = g.v('s');
  g.emit(`const ${sL} = ${g.lo(4)}, ${sH} = ${g.hi(4)};`);
  g.checkCanonical(sH, 12);
  const [v, vh] = g.load(8, sL, sH);
  g.emit(`const ${s} = (${sL} >>> 0) + 8;`);
  g.set(4, `${s} | 0`, `${s} > 4294967295 ? (${sH} + 1) | 0 : ${sH}`);
  return [v, vh];
}

function pop(g: Gen, i: Insn): boolean {
  if (i.opSize !== 8 || i.opcode < 0x58 || i.opcode > 0x5f) return false;
  const [v, vh] = pop64(g);
  g.writeReg(i.reg, 8, v, vh);
  return true;
}

function leave(g: Gen, i: Insn): boolean {
  if (i.opSize !== 8 || i.opcode !== 0xc9) return false;
  const bL = g.v('bp'), bH = g.v('bph'), s = g.v('s');
  g.emit(`const ${bL} = ${g.lo(5)}, ${bH} = ${g.hi(5)};`);
  g.checkCanonical(bH, 12);
  const [v, vh] = g.load(8, bL, bH);
  g.emit(`const ${s} = (${bL} >>> 0) + 8;`);
  g.set(4, `${s} | 0`, `${s} > 4294967295 ? (${bH} + 1) | 0 : ${bH}`);
  g.set(5, v, vh);
  return true;
}

// ------------------------------------------------------------------ control

// Control transfers do not store RIP themselves: they describe where they go
// (g.ctl) and the compiler emits the block's end: an edge to another block of
// the region, or the exit that stores RIP.

/** A constant target: #GP at the jump when it is not canonical. */
function constTarget(lo: number, hi: number): Target | 'fault' {
  return canonical(hi) ? { lo: String(lo | 0), hi: String(hi | 0), konst: true } : 'fault';
}

function checkTarget(g: Gen, hi: string): void {
  g.emit(`if (((${hi} << 16) >> 16) !== ${hi}) { ${g.faultPrefix()} throw c.fault(13, 0); }`);
}

function call(g: Gen, i: Insn): boolean {
  if (i.opcode === 0xe8) {
    if (!canonical(i.immHi)) {
      g.emit(`${g.faultPrefix()} throw c.fault(13, 0);`);
      g.ctl = { taken: 'fault' };
      return true;
    }
    push64(g, String(i.nextLo | 0), String(i.nextHi | 0));
    g.ctl = { taken: constTarget(i.immLo, i.immHi) };
    return true;
  }
  if (i.opcode === 0xff && i.ext === 2) {
    const [lo, hi] = readE(g, i, 8);
    checkTarget(g, hi);
    push64(g, String(i.nextLo | 0), String(i.nextHi | 0));
    g.ctl = { taken: { lo, hi, konst: false } };
    return true;
  }
  return false;
}

function ret(g: Gen, i: Insn): boolean {
  if (i.opcode !== 0xc3 && i.opcode !== 0xc2) return false;
  const sL = g.v('sp'), sH = g.v('sph'), s = g.v('s');
  g.emit(`const ${sL} = ${g.lo(4)}, ${sH} = ${g.hi(4)};`);
  const [v, vh] = g.load(8, sL, sH);
  checkTarget(g, vh);
  g.emit(`const ${s} = (${sL} >>> 0) + ${8 + (i.opcode === 0xc2 ? i.immLo : 0)};`);
  g.set(4, `${s} | 0`, `${s} > 4294967295 ? (${sH} + 1) | 0 : ${sH}`);
  g.ctl = { taken: { lo: v, hi: vh, konst: false } };
  return true;
}

function jmp(g: Gen, i: Insn): boolean {
  if (i.opcode === 0xeb || i.opcode === 0xe9) {
    g.ctl = { taken: constTarget(i.immLo, i.immHi) };
    return true;
  }
  if (i.opcode === 0xff && i.ext === 4) {
    const [lo, hi] = readE(g, i, 8);
    checkTarget(g, hi);
    g.ctl = { taken: { lo, hi, konst: false } };
    return true;
  }
  return false;
}

function jcc(g: Gen, i: Insn): boolean {
  if (!((i.opcode >= 0x70 && i.opcode <= 0x7f) || (i.opcode >= 0x80 && i.opcode <= 0x8f))) return false;
  const cond = g.v('jc');
  g.emit(`const ${cond} = ${g.cond(i.opcode & 15)};`);
  g.ctl = { cond, taken: constTarget(i.immLo, i.immHi), fall: { lo: String(i.nextLo | 0), hi: String(i.nextHi | 0), konst: true } };
  return true;
}

function setcc(g: Gen, i: Insn): boolean {
  if (i.opcode < 0x90 || i.opcode > 0x9f) return false;
  const cond = g.cond(i.opcode & 15);
  const v = g.v('cc');
  g.emit(`const ${v} = ${cond} ? 1 : 0;`);
  writeE(g, i, 1, v, '0');
  return true;
}

function cmov(g: Gen, i: Insn): boolean {
  if (i.opcode < 0x40 || i.opcode > 0x4f) return false;
  const size = i.opSize;
  const [v, vh] = readE(g, i, size); // read (and maybe fault) whatever the condition
  const cond = g.cond(i.opcode & 15);
  const n = i.reg;
  g.emit(`if (${cond}) { ${g.writeRegCode(n, size, v, vh)} }`);
  if (size === 4) g.set(n, null, '0'); // a 32-bit cmov zero-extends even when false
  return true;
}

// ------------------------------------------------------------------ shifts and rotates

const SHIFT_OPS: Record<string, number> = { rol: 0, ror: 1, shl: 4, sal: 6, shr: 5, sar: 7 };

function shift(g: Gen, i: Insn): boolean {
  const opc = i.opcode;
  if (opc !== 0xc0 && opc !== 0xc1 && opc !== 0xd0 && opc !== 0xd1 && opc !== 0xd2 && opc !== 0xd3) return false;
  const op = SHIFT_OPS[i.name]!;
  if (i.ext !== op) return false;
  const size = i.opSize;
  const bits = size * 8;
  const byCl = opc === 0xd2 || opc === 0xd3;
  if (byCl && op < 4) return false; // rotates by CL: the handler
  const [x, xh, o] = readModifyE(g, i, size);
  const write = (res: string, resH: string): string => (o ? capture(g, () => g.rmwStore(size, o, res, resH)) : capture(g, () => g.writeReg(i.rm, size, res, resH)));
  const zeroHi = !o && size === 4 ? `h${i.rm} = 0;` : '';
  if (byCl) {
    const n = g.v('n');
    g.emit(`const ${n} = ${g.lo(1)} & ${size === 8 ? 63 : 31};`);
    const res = g.v('r'), resH = size === 8 ? g.v('rh') : '0', cf = g.v('cf');
    const body: string[] = [];
    body.push(`let ${res}, ${cf}${size === 8 ? `, ${resH}` : ''};`);
    if (size === 8) body.push(shift64Var(op, x, xh, n, res, resH, cf));
    else body.push(shiftSmallVar(op, size, x, n, res, cf));
    // A count of 0 leaves the flags as they are: the record is assigned only when it is not.
    const r = shiftRec(op, size, x, xh, res, resH, cf);
    g.usesFlags = true;
    body.push(recAssign(r, g.fAssigned));
    body.push(write(res, resH));
    g.emit(`if (${n} !== 0) { ${body.join(' ')} }${zeroHi ? ` else { ${zeroHi} }` : ''}`);
    g.forgetFlags();
    return true;
  }
  const n = (opc === 0xd0 || opc === 0xd1 ? 1 : i.immLo) & (size === 8 ? 63 : 31);
  if (n === 0) {
    if (zeroHi) g.set(i.rm, null, '0');
    return true;
  }
  const res = g.v('r'), resH = size === 8 ? g.v('rh') : '0';
  if (op < 4) {
    // rol / ror: only CF and OF change.
    const k = n % bits;
    const rolK = op === 0 ? k : (bits - k) % bits; // ror k = rol (bits - k)
    if (size === 8) {
      if (rolK === 0) g.emit(`const ${res} = ${x}, ${resH} = ${xh};`);
      else if (rolK < 32) g.emit(`const ${res} = (${x} << ${rolK}) | (${xh} >>> ${32 - rolK}), ${resH} = (${xh} << ${rolK}) | (${x} >>> ${32 - rolK});`);
      else if (rolK === 32) g.emit(`const ${res} = ${xh}, ${resH} = ${x};`);
      else g.emit(`const ${res} = (${xh} << ${rolK - 32}) | (${x} >>> ${64 - rolK}), ${resH} = (${x} << ${rolK - 32}) | (${xh} >>> ${64 - rolK});`);
    } else if (rolK === 0) g.emit(`const ${res} = ${x};`);
    else if (size === 4) g.emit(`const ${res} = (${x} << ${rolK}) | (${x} >>> ${32 - rolK});`);
    else g.emit(`const ${res} = ((${x} << ${rolK}) | (${x} >>> ${bits - rolK})) & ${MASK[size]};`);
    const msb = size === 8 ? `((${resH} >>> 31) & 1)` : `((${res} >>> ${bits - 1}) & 1)`;
    const cf = g.v('cf'), of = g.v('of');
    if (op === 0) g.emit(`const ${cf} = ${res} & 1; const ${of} = ${msb} ^ ${cf};`);
    else g.emit(`const ${cf} = ${msb}; const ${of} = ${cf} ^ ${size === 8 ? `((${resH} >>> 30) & 1)` : `((${res} >>> ${bits - 2}) & 1)`};`);
    g.emit(write(res, resH));
    g.addPart(cf, of);
    return true;
  }
  const cf = g.v('cf');
  if (size === 8) g.emit(shift64Const(op, x, xh, n, res, resH, cf));
  else g.emit(shiftSmallConst(op, size, x, n, res, cf));
  g.emit(write(res, resH));
  g.setRec(shiftRec(op, size, x, xh, res, resH, cf));
  return true;
}

function shiftRec(op: number, size: number, x: string, xh: string, res: string, resH: string, cf: string): Rec {
  if (op === 5) return rec(F_SHR, size, { res, resH, a: x, aH: xh, aux: cf });
  if (op === 7) return rec(F_SAR, size, { res, resH, aux: cf });
  return rec(F_SHL, size, { res, resH, a: x, aH: xh, aux: cf });
}

/** 8/16/32-bit shift by a constant count 1..31 (x masked to size). */
function shiftSmallConst(op: number, size: number, x: string, n: number, res: string, cf: string): string {
  const bits = size * 8;
  if (op === 5) {
    return `const ${res} = ${size === 4 ? `(${x} >>> ${n}) | 0` : `${x} >>> ${n}`}; const ${cf} = ${n > bits ? '0' : `(${x} >>> ${n - 1}) & 1`};`;
  }
  if (op === 7) {
    const v = size === 1 ? `((${x} << 24) >> 24)` : size === 2 ? `((${x} << 16) >> 16)` : x;
    const r = size === 4 ? `${v} >> ${n}` : `(${v} >> ${n}) & ${MASK[size]}`;
    return `const ${res} = ${r}; const ${cf} = (${v} >> ${n - 1}) & 1;`;
  }
  const r = size === 4 ? `${x} << ${n}` : `(${x} << ${n}) & ${MASK[size]}`;
  return `const ${res} = ${r}; const ${cf} = ${n > bits ? '0' : `(${x} >>> ${bits - n}) & 1`};`;
}

/** 64-bit shift by a constant count 1..63. */
function shift64Const(op: number, x: string, xh: string, n: number, res: string, resH: string, cf: string): string {
  const bit = (k: number): string => (k < 32 ? `(${x} >>> ${k}) & 1` : `(${xh} >>> ${k - 32}) & 1`);
  if (op === 4 || op === 6) {
    const v = n < 32 ? `${x} << ${n}, ${resH} = (${xh} << ${n}) | (${x} >>> ${32 - n})` : n === 32 ? `0, ${resH} = ${x}` : `0, ${resH} = ${x} << ${n - 32}`;
    return `const ${res} = ${v}; const ${cf} = ${bit(64 - n)};`;
  }
  if (op === 5) {
    const v = n < 32 ? `(${x} >>> ${n}) | (${xh} << ${32 - n}), ${resH} = ${xh} >>> ${n}` : n === 32 ? `${xh}, ${resH} = 0` : `${xh} >>> ${n - 32}, ${resH} = 0`;
    return `const ${res} = ${v}; const ${cf} = ${bit(n - 1)};`;
  }
  const v = n < 32 ? `(${x} >>> ${n}) | (${xh} << ${32 - n}), ${resH} = ${xh} >> ${n}` : `${xh} >> ${n - 32}, ${resH} = ${xh} >> 31`;
  return `const ${res} = ${v}; const ${cf} = ${bit(n - 1)};`;
}

/** 8/16/32-bit shift by a run-time count n (1..31), assigning to already-declared res, cf. */
function shiftSmallVar(op: number, size: number, x: string, n: string, res: string, cf: string): string {
  const bits = size * 8;
  const big = size === 4 ? '' : `${n} > ${bits} ? 0 : `;
  if (op === 5) return `${res} = ${size === 4 ? `(${x} >>> ${n}) | 0` : `${x} >>> ${n}`}; ${cf} = ${big}(${x} >>> (${n} - 1)) & 1;`;
  if (op === 7) {
    const v = size === 1 ? `((${x} << 24) >> 24)` : size === 2 ? `((${x} << 16) >> 16)` : x;
    return `${res} = ${size === 4 ? `${v} >> ${n}` : `(${v} >> ${n}) & ${MASK[size]}`}; ${cf} = (${v} >> (${n} - 1)) & 1;`;
  }
  return `${res} = ${size === 4 ? `${x} << ${n}` : `(${x} << ${n}) & ${MASK[size]}`}; ${cf} = ${big}(${x} >>> (${bits} - ${n})) & 1;`;
}

/** 64-bit shift by a run-time count n (1..63). */
function shift64Var(op: number, x: string, xh: string, n: string, res: string, resH: string, cf: string): string {
  const bitAt = (k: string): string => `(${k} < 32 ? (${x} >>> ${k}) & 1 : (${xh} >>> (${k} - 32)) & 1)`;
  if (op === 4 || op === 6) {
    return `if (${n} < 32) { ${res} = ${x} << ${n}; ${resH} = (${xh} << ${n}) | (${x} >>> (32 - ${n})); } else { ${res} = 0; ${resH} = ${x} << (${n} - 32); } ${cf} = ${bitAt(`(64 - ${n})`)};`;
  }
  if (op === 5) {
    return `if (${n} < 32) { ${res} = (${x} >>> ${n}) | (${xh} << (32 - ${n})); ${resH} = ${xh} >>> ${n}; } else { ${res} = (${xh} >>> (${n} - 32)) | 0; ${resH} = 0; } ${cf} = ${bitAt(`(${n} - 1)`)};`;
  }
  return `if (${n} < 32) { ${res} = (${x} >>> ${n}) | (${xh} << (32 - ${n})); ${resH} = ${xh} >> ${n}; } else { ${res} = ${xh} >> (${n} - 32); ${resH} = ${xh} >> 31; } ${cf} = ${bitAt(`(${n} - 1)`)};`;
}

// ------------------------------------------------------------------ multiply

function imul(g: Gen, i: Insn): boolean {
  const size = i.opSize;
  if (size === 1) return false;
  let a: string, aH: string, b: string, bH: string;
  if (i.opcode === 0xaf) {
    [b, bH] = readE(g, i, size);
    [a, aH] = g.readReg(i.reg, size);
  } else if (i.opcode === 0x69 || i.opcode === 0x6b) {
    [a, aH] = readE(g, i, size);
    [b, bH] = imm(i, size);
  } else return false;
  if (size === 8 && g.partialDead) {
    // Nothing observes the flags: only the truncated product is needed.
    const lo = g.v('r'), hi = g.v('rh');
    g.constant('MULLO64H', null);
    g.emit(`const ${lo} = Math.imul(${a}, ${b}); const ${hi} = MULLO64H(${a}, ${aH}, ${b}, ${bH});`);
    g.writeReg(i.reg, size, lo, hi);
    return true;
  }
  const res = g.v('r'), ov = g.v('ov');
  let resH = '0';
  if (size === 2) {
    const p = g.v('p');
    g.emit(`const ${p} = ((${a} << 16) >> 16) * ((${b} << 16) >> 16); const ${res} = ${p} & 65535; const ${ov} = ${p} !== ((${p} << 16) >> 16) ? 1 : 0;`);
  } else if (size === 4) {
    g.emit(`const ${res} = Math.imul(${a}, ${b}); const ${ov} = ${a} * ${b} !== ${res} ? 1 : 0;`);
  } else {
    resH = g.v('rh');
    g.constant('IMUL64', null);
    g.constant('MO', null);
    g.emit(`const ${res} = IMUL64(${a}, ${aH}, ${b}, ${bH}); const ${resH} = MO.hi; const ${ov} = MO.ov;`);
  }
  g.writeReg(i.reg, size, res, resH);
  g.setRec(rec(F_MUL, size, { res, resH, aux: ov }));
  return true;
}

// ------------------------------------------------------------------ helpers

/** Run an emitter and return what it emitted as one string (instead of emitting it). */
function capture(g: Gen, f: () => void): string {
  const n = g.lines.length;
  f();
  return g.lines.splice(n).join(' ');
}

