/**
 * The JIT's code generator state: JavaScript source lines for one region,
 * unique local names, closure constants, register and flag locals, and
 * the memory-access forms.
 *
 * State in locals. While a region's function runs, the guest registers
 * live in JS locals (gN/hN: low/high half of register N) and so does the
 * lazy-flag record (f0..f7 for lf[0..7]). They are loaded when the function
 * is entered and stored back only where something else can look: at the
 * function's exits, around calls of instruction handlers, and in the
 * function's catch when an instruction faults. Templates read operands
 * before they write anything, so at any point that may fault the locals
 * hold exactly the state before the faulting instruction.
 *
 * Lazy flags. A flag writer assigns its record to f0..f7 at once; nothing
 * stores it to memory, and V8 drops the assignments that nothing can
 * observe (a later writer overwrites them before any exit, handler call,
 * read or possible fault): dead-flag elimination by the JS compiler, across
 * blocks too. A flag reader (jcc, setcc, cmovcc, adc/sbb, inc/dec's CF)
 * after a writer of the same block computes its condition from the
 * writer's operands (`pend`): cmp/test/sub/… fuse with jcc/setcc/cmovcc;
 * without a known writer it evaluates f0..f7 (runtime helpers). Rotates
 * change only CF and OF: unless a later instruction of the block provably
 * redefines every flag first, they materialise the flags (c.flags, f0 = 0).
 */
import type { Insn } from '../insn.ts';

/** Lazy-flag families (flags.ts). */
export const F_ADD = 1, F_ADC = 2, F_SUB = 3, F_SBB = 4, F_LOGIC = 5, F_INC = 6, F_DEC = 7, F_SHL = 8, F_SHR = 9, F_SAR = 10, F_MUL = 11;

/**
 * A flag record: family, operand size in bytes, and the values as JS
 * expressions (locals or literals, never re-evaluated memory), masked to
 * the size as flags.ts stores them. Unused fields are '0'.
 */
export interface Rec {
  fam: number;
  size: number;
  res: string;
  resH: string;
  a: string;
  aH: string;
  b: string;
  bH: string;
  aux: string;
}

export function rec(fam: number, size: number, f: Partial<Omit<Rec, 'fam' | 'size'>>): Rec {
  return { fam, size, res: f.res ?? '0', resH: f.resH ?? '0', a: f.a ?? '0', aH: f.aH ?? '0', b: f.b ?? '0', bH: f.bH ?? '0', aux: f.aux ?? '0' };
}

const SIZE_IDX: Record<number, number> = { 1: 0, 2: 1, 4: 2, 8: 3 };

const isLit = (e: string): boolean => /^-?\d+$/.test(e);
/** Unsigned view of an int32 expression. */
export const u32 = (e: string): string => (isLit(e) ? String(Number(e) >>> 0) : `(${e} >>> 0)`);

/** Sign bit of a value of `size` bytes as a boolean expression. */
export function signExpr(size: number, lo: string, hi: string): string {
  switch (size) {
    case 1: return `((${lo} & 128) !== 0)`;
    case 2: return `((${lo} & 32768) !== 0)`;
    case 4: return `((${lo}) < 0)`;
    default: return `((${hi}) < 0)`;
  }
}

/** Unsigned a < b for values of `size` bytes. */
function belowExpr(size: number, a: string, aH: string, b: string, bH: string): string {
  if (size === 8) return `(${aH} !== ${bH} ? ${u32(aH)} < ${u32(bH)} : ${u32(a)} < ${u32(b)})`;
  if (size === 4) return `(${u32(a)} < ${u32(b)})`;
  return `(${a} < ${b})`;
}

function eqExpr(size: number, a: string, aH: string, b: string, bH: string): string {
  return size === 8 ? `(${a} === ${b} && ${aH} === ${bH})` : `(${a} === ${b})`;
}

/** Signed a < b (or <=) for values of `size` bytes as stored (8/16 unsigned, 32 int32, 64 pairs). */
function lessExpr(size: number, a: string, aH: string, b: string, bH: string, orEqual: boolean): string {
  const op = orEqual ? '<=' : '<';
  if (size === 8) return `(${aH} !== ${bH} ? ${aH} < ${bH} : ${u32(a)} ${op} ${u32(b)})`;
  if (size === 4) return `(${a} ${op} ${b})`;
  const sh = size === 1 ? 24 : 16;
  return `(((${a} << ${sh}) >> ${sh}) ${op} ((${b} << ${sh}) >> ${sh}))`;
}

export function zfExpr(r: Rec): string {
  return r.size === 8 ? `((${r.res} | ${r.resH}) === 0)` : `(${r.res} === 0)`;
}
export function sfExpr(r: Rec): string {
  return signExpr(r.size, r.res, r.resH);
}
export function pfExpr(r: Rec): string {
  return `(PAR[${r.res} & 255] !== 0)`;
}
export function cfExpr(r: Rec): string {
  switch (r.fam) {
    case F_ADD: return belowExpr(r.size, r.res, r.resH, r.a, r.aH);
    case F_ADC: return `(${belowExpr(r.size, r.res, r.resH, r.a, r.aH)} || (${r.aux} !== 0 && ${eqExpr(r.size, r.res, r.resH, r.a, r.aH)}))`;
    case F_SUB: return belowExpr(r.size, r.a, r.aH, r.b, r.bH);
    case F_SBB: return `(${belowExpr(r.size, r.a, r.aH, r.b, r.bH)} || (${r.aux} !== 0 && ${eqExpr(r.size, r.a, r.aH, r.b, r.bH)}))`;
    case F_LOGIC: return 'false';
    default: return `(${r.aux} !== 0)`;
  }
}
export function ofExpr(r: Rec): string {
  const s = r.size;
  switch (r.fam) {
    case F_ADD: case F_ADC:
      return signExpr(s, `((${r.a} ^ ${r.res}) & (${r.b} ^ ${r.res}))`, `((${r.aH} ^ ${r.resH}) & (${r.bH} ^ ${r.resH}))`);
    case F_SUB: case F_SBB:
      return signExpr(s, `((${r.a} ^ ${r.b}) & (${r.a} ^ ${r.res}))`, `((${r.aH} ^ ${r.bH}) & (${r.aH} ^ ${r.resH}))`);
    case F_INC:
      return s === 8 ? `(${r.res} === 0 && ${r.resH} === -2147483648)` : `(${r.res} === ${s === 4 ? -2147483648 : s === 2 ? 0x8000 : 0x80})`;
    case F_DEC:
      return s === 8 ? `(${r.res} === -1 && ${r.resH} === 2147483647)` : `(${r.res} === ${s === 4 ? 0x7fffffff : s === 2 ? 0x7fff : 0x7f})`;
    case F_SHL: return `(${sfExpr(r)} !== (${r.aux} !== 0))`;
    case F_SHR: return signExpr(s, r.a, r.aH);
    case F_MUL: return `(${r.aux} !== 0)`;
    default: return 'false';
  }
}

/** Condition `cc` (0-15) from a pending record, as a boolean expression. */
export function condExpr(r: Rec, cc: number): string {
  const k = cc >> 1;
  let e: string;
  const s = r.size;
  if (r.fam === F_SUB && (k === 1 || k === 3 || k === 6 || k === 7 || k === 2)) {
    switch (k) {
      case 1: e = belowExpr(s, r.a, r.aH, r.b, r.bH); break;
      case 2: e = zfExpr(r); break;
      case 3: e = `(${belowExpr(s, r.a, r.aH, r.b, r.bH)} || ${eqExpr(s, r.a, r.aH, r.b, r.bH)})`; break;
      case 6: e = lessExpr(s, r.a, r.aH, r.b, r.bH, false); break;
      default: e = lessExpr(s, r.a, r.aH, r.b, r.bH, true); break;
    }
  } else if (r.fam === F_LOGIC) {
    switch (k) {
      case 0: case 1: e = 'false'; break;
      case 2: case 3: e = zfExpr(r); break;
      case 4: case 6: e = sfExpr(r); break;
      case 5: e = pfExpr(r); break;
      default: e = `(${zfExpr(r)} || ${sfExpr(r)})`; break;
    }
  } else {
    switch (k) {
      case 0: e = ofExpr(r); break;
      case 1: e = cfExpr(r); break;
      case 2: e = zfExpr(r); break;
      case 3: e = `(${cfExpr(r)} || ${zfExpr(r)})`; break;
      case 4: e = sfExpr(r); break;
      case 5: e = pfExpr(r); break;
      case 6: e = `(${sfExpr(r)} !== ${ofExpr(r)})`; break;
      default: e = `(${zfExpr(r)} || ${sfExpr(r)} !== ${ofExpr(r)})`; break;
    }
  }
  return (cc & 1) === 0 ? e : `!${e}`;
}

/** Statements assigning a record to the flag locals f0..f7 (recording which it assigns). */
export function recAssign(r: Rec, assigned: Set<number>): string {
  const s = recStores(r).replace(/lf\[(\d)\]/g, (_m, k: string) => {
    assigned.add(Number(k));
    return `f${k}`;
  });
  return s;
}

/** Statements storing a record into lf. Only the fields its family's flags depend on. */
export function recStores(r: Rec): string {
  const w = r.size === 8;
  const op = (r.fam << 2) | SIZE_IDX[r.size]!;
  let s = `lf[0] = ${op}; lf[1] = ${r.res};`;
  if (w) s += ` lf[2] = ${r.resH};`;
  switch (r.fam) {
    case F_ADD: case F_ADC: case F_SUB: case F_SBB:
      s += ` lf[3] = ${r.a}; lf[5] = ${r.b};`;
      if (w) s += ` lf[4] = ${r.aH}; lf[6] = ${r.bH};`;
      if (r.fam === F_ADC || r.fam === F_SBB) s += ` lf[7] = ${r.aux};`;
      break;
    case F_LOGIC:
      break;
    case F_SHR:
      s += ` lf[3] = ${r.a};`;
      if (w) s += ` lf[4] = ${r.aH};`;
      s += ` lf[7] = ${r.aux};`;
      break;
    default: // INC, DEC, SHL, SAR, MUL: CF (or OF) in aux
      s += ` lf[7] = ${r.aux};`;
      break;
  }
  return s;
}

/** Where a control transfer goes: JS expressions for RIP's halves (`konst`: numeric literals). */
export interface Target {
  lo: string;
  hi: string;
  konst: boolean;
}

/**
 * The control transfer ending a block: to `taken` (or, when `cond` — a
 * boolean local — is false, to `fall`); 'fault': #GP(0) at the instruction
 * (a non-canonical constant target).
 */
export interface Ctl {
  cond?: string;
  taken: Target | 'fault';
  fall?: Target;
}

export class Gen {
  readonly lines: string[] = [];
  private tmp = 0;
  /** Index of the instruction being compiled. */
  j = 0;
  /** The flag record the last full flag writer of this block produced (for fused conditions), if known. */
  private pend: Rec | null = null;
  /** Closure constants of the generated function (name → value). */
  readonly consts = new Map<string, unknown>();
  useRead = false;
  useWrite = false;
  useSeg = false;
  /** Set by templates when the instruction stores to memory (the block may have become invalid). */
  stored = false;
  /** Set by control-transfer templates (the compiler emits the block's end from it). */
  ctl: Ctl | null = null;
  /**
   * Set by the compiler before an instruction whose CF/OF update (a rotate)
   * nothing can observe: a later instruction of the block redefines every
   * flag first, and nothing in between can fault, exit or read flags.
   */
  partialDead = false;

  /** A fresh local name. */
  v(prefix: string): string {
    return `${prefix}${this.tmp++}`;
  }

  emit(s: string): void {
    this.lines.push(s);
  }

  /** Register a closure constant; returns its name. */
  constant(name: string, value: unknown): string {
    this.consts.set(name, value);
    return name;
  }

  // ------------------------------------------------------------------ flags
  //
  // The lazy-flag record lives in locals f0..f7 (lf[0..7]) while a region
  // runs: loaded on entry, stored back at exits, around handler calls and,
  // on a fault, by the function's catch. A flag writer assigns them at once;
  // V8 drops assignments nothing observes (dead-flag elimination) and keeps
  // the values a fault would need alive, so paths that may fault need no
  // code. A reader in the block computes its condition from the writer's
  // operands (`pend`, fused compare-and-branch); without one it evaluates
  // the record in f0..f7 (runtime helpers).

  /** Which of f0..f7 the region assigns (stored back at exits). */
  readonly fAssigned = new Set<number>();
  /** Whether the region touches the flags at all (f0..f7 loaded on entry). */
  usesFlags = false;

  /** Start a new block of a region: the flags come from f0..f7. */
  startBlock(): void {
    this.pend = null;
  }

  /** Forget the known record (after a handler call: the flags are back in f0..f7 from lf). */
  forgetFlags(): void {
    this.pend = null;
  }

  /** Code for a path that may fault: the faulting instruction's index (the catch stores registers and flags). */
  faultPrefix(): string {
    return `c.faultIndex = ${this.j};`;
  }

  /** A flag writer that defines all six arithmetic flags. */
  setRec(r: Rec): void {
    this.usesFlags = true;
    this.pend = r;
    this.emit(recAssign(r, this.fAssigned));
  }

  /** The six flags of the record in f0..f7 as arguments for the runtime helpers. */
  private fArgs(): string {
    this.usesFlags = true;
    return 'f0, f1, f2, f3, f4, f5, f6, f7';
  }

  /**
   * CF and OF change (0/1 locals), the other flags stay (rotates): unless
   * nothing can observe it, the flags are materialised into c.flags (f0 = 0,
   * family EFLAGS).
   */
  addPart(cf: string, of: string): void {
    if (this.partialDead) return;
    this.constant('SCOL', null);
    this.emit(`c.flags = SCOL(c, ${this.fArgs()}, ${cf}, ${of}); f0 = 0;`);
    this.fAssigned.add(0);
    this.pend = null;
  }

  /** CF now as a 0/1 number expression. */
  cfNum(): string {
    if (this.pend) {
      const e = cfExpr(this.pend);
      if (e === 'false') return '0';
      return `(${e} ? 1 : 0)`;
    }
    this.constant('CFL', null);
    return `CFL(c, ${this.fArgs()})`;
  }

  /** Condition cc now as a boolean expression. */
  cond(cc: number): string {
    if (this.pend) return condExpr(this.pend, cc);
    const name = this.constant(`CCL${cc}`, null);
    return `${name}(c, ${this.fArgs()})`;
  }

  /** Statements storing f0..f7 (those the region assigns) to lf. */
  static readonly SYNC_FLAGS = '/*SYNCF*/';
  /** Statements reloading f0..f7 from lf. */
  static readonly RELOAD_FLAGS = '/*RELOADF*/';

  // ------------------------------------------------------------------ registers

  // Registers live in JS locals while a region runs: gN / hN hold the low and
  // high halves of register N, loaded on entry for every register the region
  // uses, stored back at exits, before handler calls (and reloaded after
  // them) and by the catch on a fault.

  /** Registers the region uses (loaded on entry). */
  readonly used = new Set<number>();
  /** Registers the region writes (stored back). */
  readonly written = new Set<number>();

  /** The local holding register n's low half. */
  lo(n: number): string {
    this.used.add(n);
    return `g${n}`;
  }

  /** The local holding register n's high half. */
  hi(n: number): string {
    this.used.add(n);
    return `h${n}`;
  }

  /** Assign register n's halves (either may be null: unchanged). */
  set(n: number, lo: string | null, hi: string | null): void {
    this.used.add(n);
    this.written.add(n);
    this.emit(`${lo !== null ? `g${n} = ${lo};` : ''}${hi !== null ? ` h${n} = ${hi};` : ''}`);
  }

  /** Placeholders filled in when the region is done: store the written registers, reload the used ones. */
  static readonly SYNC = '/*SYNC*/';
  static readonly RELOAD = '/*RELOAD*/';

  /** Expression reading register n (ModRM numbering; 16-19 = AH..BH for size 1), masked to size. */
  rd(n: number, size: number): string {
    switch (size) {
      case 1: return n >= 16 ? `((${this.lo(n - 16)} >>> 8) & 255)` : `(${this.lo(n)} & 255)`;
      case 2: return `(${this.lo(n)} & 65535)`;
      default: return this.lo(n);
    }
  }

  /** High half of a 64-bit register. */
  rdH(n: number): string {
    return this.hi(n);
  }

  /** Bind a register's value (size-masked) to fresh locals: [lo, hi] ('0' for hi below 64 bits). */
  readReg(n: number, size: number, p = 'x'): [string, string] {
    const lo = this.v(p);
    if (size === 8) {
      const hi = this.v(p + 'h');
      this.emit(`const ${lo} = ${this.lo(n)}, ${hi} = ${this.hi(n)};`);
      return [lo, hi];
    }
    this.emit(`const ${lo} = ${this.rd(n, size)};`);
    return [lo, '0'];
  }

  /** Statements storing a value to a register with the architecture's partial-write rules (32-bit writes zero the top). */
  writeRegCode(n: number, size: number, lo: string, hi: string): string {
    const at = this.lines.length;
    this.writeReg(n, size, lo, hi);
    return this.lines.splice(at).join(' ');
  }

  /** Store a value to a register with the architecture's partial-write rules (32-bit writes zero the top). */
  writeReg(n: number, size: number, lo: string, hi: string): void {
    switch (size) {
      case 1:
        if (n >= 16) {
          const m = n - 16;
          this.set(m, `(${this.lo(m)} & -65281) | ((${lo} & 255) << 8)`, null);
        } else this.set(n, `(${this.lo(n)} & -256) | (${lo} & 255)`, null);
        return;
      case 2:
        this.set(n, `(${this.lo(n)} & -65536) | (${lo} & 65535)`, null);
        return;
      case 4:
        this.set(n, lo, '0');
        return;
      default:
        this.set(n, lo, hi);
    }
  }

  // ------------------------------------------------------------------ addresses

  /**
   * The linear address of the instruction's memory operand (Cpu.ea): binds
   * locals and returns [lo, hi] (names or literals). With `lea`, no segment
   * base and no canonical check (leaAddress).
   */
  ea(i: Insn, lea = false): [string, string] {
    let lo: string, hi: string;
    const hasDisp = i.dispLo !== 0 || i.dispHi !== 0;
    if (i.addrSize === 4) {
      const parts: string[] = [];
      if (i.base >= 0) parts.push(this.lo(i.base));
      if (i.index >= 0) parts.push(i.scale ? `(${this.lo(i.index)} << ${i.scale})` : this.lo(i.index));
      if (i.dispLo !== 0 || parts.length === 0) parts.push(String(i.dispLo | 0));
      if (parts.length === 1 && isLit(parts[0]!)) lo = parts[0]!;
      else {
        lo = this.v('e');
        this.emit(`const ${lo} = (${parts.join(' + ')}) | 0;`);
      }
      hi = '0';
    } else if (i.base < 0 && i.index < 0) {
      lo = String(i.dispLo | 0);
      hi = String(i.dispHi | 0);
    } else {
      // Sum the terms with carries: start from the first register term (or the displacement).
      let curLo: string, curHi: string;
      const addTerm = (tLo: string, tHi: string): void => {
        const s = this.v('s'), nl = this.v('e'), nh = this.v('eh');
        this.emit(`const ${s} = ${u32(curLo)} + ${u32(tLo)}; const ${nl} = ${s} | 0; const ${nh} = (${curHi} + ${tHi} + (${s} > 4294967295 ? 1 : 0)) | 0;`);
        curLo = nl;
        curHi = nh;
      };
      if (i.base >= 0) {
        curLo = this.lo(i.base);
        curHi = this.hi(i.base);
        if (i.index >= 0) addTerm(...this.indexTerm(i));
        if (hasDisp) addTerm(String(i.dispLo | 0), String(i.dispHi | 0));
      } else {
        [curLo, curHi] = this.indexTerm(i);
        if (hasDisp) addTerm(String(i.dispLo | 0), String(i.dispHi | 0));
      }
      if (/^[gh]\d+$/.test(curLo)) {
        const nl = this.v('e'), nh = this.v('eh');
        this.emit(`const ${nl} = ${curLo}, ${nh} = ${curHi};`);
        curLo = nl;
        curHi = nh;
      }
      lo = curLo;
      hi = curHi;
    }
    if (lea) return [lo, hi];
    if (i.seg >= 4) {
      this.useSeg = true;
      const s = this.v('s'), nl = this.v('e'), nh = this.v('eh');
      this.emit(`const ${s} = ${u32(lo)} + (sb[${2 * i.seg}] >>> 0); const ${nl} = ${s} | 0; const ${nh} = (${hi} + sb[${2 * i.seg + 1}] + (${s} > 4294967295 ? 1 : 0)) | 0;`);
      lo = nl;
      hi = nh;
    }
    const vec = i.base === 4 || i.base === 5 ? 12 : 13;
    if (isLit(hi)) {
      const h = Number(hi);
      if ((h << 16) >> 16 !== h) this.emit(`${this.faultPrefix()} throw c.fault(${vec}, 0);`);
    } else if (!(i.addrSize === 4 && i.seg < 4)) this.checkCanonical(hi, vec);
    return [lo, hi];
  }

  private indexTerm(i: Insn): [string, string] {
    const x = i.index, sc = i.scale;
    if (sc === 0) return [this.lo(x), this.hi(x)];
    const l = this.v('ix'), h = this.v('ixh');
    this.emit(`const ${l} = ${this.lo(x)} << ${sc}, ${h} = (${this.hi(x)} << ${sc}) | (${this.lo(x)} >>> ${32 - sc});`);
    return [l, h];
  }

  // ------------------------------------------------------------------ memory
  //
  // Two forms: inline (the TLB fast path in the block, the Cpu's read/write
  // methods on a miss) and compact (every access calls runtime.memAccess).
  // V8 compiles the compact form several times faster for a few ns per
  // access; regionConfig.inlineMemory chooses.

  /** Inline TLB fast paths (else calls to memAccess). */
  inlineMem = false;
  /** #SS/#GP vector for the canonical check of the next access's address (compact form), 0: none. */
  private vecNext = 0;

  /** #vec(0) unless (…, hi) is canonical: emitted now (inline form) or done by the next access (compact form). */
  checkCanonical(hi: string, vec: number): void {
    if (this.inlineMem) this.emit(`if (((${hi} << 16) >> 16) !== ${hi}) { ${this.faultPrefix()} throw c.fault(${vec}, 0); }`);
    else this.vecNext = vec;
  }

  /** A call of memAccess: kind, address, value, this instruction, the pending canonical check. */
  private memCall(kind: number, lo: string, hi: string, v: string, vh: string): string {
    this.constant('MEM', null);
    const vec = this.vecNext;
    this.vecNext = 0;
    return `MEM(c, ${kind}, ${lo}, ${hi}, ${v}, ${vh}, ${this.j}, ${vec})`;
  }

  /** TLB fast-path condition pieces for an access of `size` at (lo, hi) through view `p` ('r' or 'w'). */
  private tlbTest(p: string, size: number, lo: string, hi: string): { idx: string; cond: string; off: string; pre: string } {
    if (isLit(lo)) {
      const l = Number(lo);
      const idx = String((l >>> 12) & 4095);
      const off = l & 4095;
      const cross = off + size > 4096;
      return { idx, pre: '', off: String(off), cond: cross ? 'false' : `${p}TL[${idx}] === ${l & -4096} && ${p}TH[${idx}] === ${hi}` };
    }
    const x = this.v('t');
    const cross = size > 1 ? ` && (${lo} & 4095) <= ${4096 - size}` : '';
    return { idx: x, pre: `const ${x} = (${lo} >>> 12) & 4095;`, off: `(${lo} & 4095)`, cond: `${p}TL[${x}] === (${lo} & -4096) && ${p}TH[${x}] === ${hi}${cross}` };
  }

  /** Load `size` bytes from (lo, hi): returns [lo, hi] locals (hi '0' below 64 bits); values masked/int32 as readMem returns. */
  load(size: number, lo: string, hi: string, p = 'm'): [string, string] {
    const v = this.v(p);
    const vh = size === 8 ? this.v(p + 'h') : '0';
    if (!this.inlineMem) {
      this.emit(`const ${v} = ${this.memCall(SIZE_IDX[size]!, lo, hi, '0', '0')};${size === 8 ? ` const ${vh} = c.hi;` : ''}`);
      return [v, vh];
    }
    this.useRead = true;
    const t = this.tlbTest('r', size, lo, hi);
    const at = `rB[${t.idx}] + ${t.off}`;
    let fast: string, slow: string;
    switch (size) {
      case 1: fast = `${v} = ram[${at}];`; slow = `${v} = c.read8(${lo}, ${hi});`; break;
      case 2: fast = `${v} = dv.getUint16(${at}, true);`; slow = `${v} = c.read16(${lo}, ${hi});`; break;
      case 4: fast = `${v} = dv.getInt32(${at}, true);`; slow = `${v} = c.read32(${lo}, ${hi});`; break;
      default: {
        const o = this.v('o');
        fast = `const ${o} = ${at}; ${v} = dv.getInt32(${o}, true); ${vh} = dv.getInt32(${o} + 4, true);`;
        slow = `${v} = c.read64(${lo}, ${hi}); ${vh} = c.hi;`;
      }
    }
    this.emit(`let ${v}${size === 8 ? `, ${vh}` : ''}; { ${t.pre} if (${t.cond}) { ${fast} } else { ${this.faultPrefix()} ${slow} } }`);
    return [v, vh];
  }

  /** Store `size` bytes to (lo, hi). */
  store(size: number, lo: string, hi: string, v: string, vh: string): void {
    this.stored = true;
    if (!this.inlineMem) {
      this.emit(`${this.memCall(4 + SIZE_IDX[size]!, lo, hi, v, size === 8 ? vh : '0')};`);
      return;
    }
    this.useWrite = true;
    const t = this.tlbTest('w', size, lo, hi);
    const at = `wB[${t.idx}] + ${t.off}`;
    let fast: string, slow: string;
    switch (size) {
      case 1: fast = `ram[${at}] = ${v};`; slow = `c.write8(${lo}, ${hi}, ${v});`; break;
      case 2: fast = `dv.setUint16(${at}, ${v}, true);`; slow = `c.write16(${lo}, ${hi}, ${v});`; break;
      case 4: fast = `dv.setInt32(${at}, ${v}, true);`; slow = `c.write32(${lo}, ${hi}, ${v});`; break;
      default: {
        const o = this.v('o');
        fast = `const ${o} = ${at}; dv.setInt32(${o}, ${v}, true); dv.setInt32(${o} + 4, ${vh}, true);`;
        slow = `c.write64(${lo}, ${hi}, ${v}, ${vh});`;
      }
    }
    this.emit(`{ ${t.pre} if (${t.cond}) { ${fast} } else { ${this.faultPrefix()} ${slow} } }`);
  }

  /**
   * First half of a read-modify-write: translate for write (faulting before
   * anything changes), read. Returns [value lo, value hi, RAM offset local
   * (-1 when the operand crosses a page)]. Finish with rmwStore.
   */
  rmwLoad(size: number, lo: string, hi: string, p = 'm'): [string, string, string] {
    this.stored = true;
    const v = this.v(p);
    const vh = size === 8 ? this.v(p + 'h') : '0';
    const o = this.v('o');
    if (!this.inlineMem) {
      this.emit(`const ${v} = ${this.memCall(8 + SIZE_IDX[size]!, lo, hi, '0', '0')};${size === 8 ? ` const ${vh} = c.hi;` : ''} const ${o} = c.rmwOff;`);
      return [v, vh, o];
    }
    this.useWrite = true;
    const t = this.tlbTest('w', size, lo, hi);
    let fast: string;
    switch (size) {
      case 1: fast = `${v} = ram[${o}];`; break;
      case 2: fast = `${v} = dv.getUint16(${o}, true);`; break;
      case 4: fast = `${v} = dv.getInt32(${o}, true);`; break;
      default: fast = `${v} = dv.getInt32(${o}, true); ${vh} = dv.getInt32(${o} + 4, true);`;
    }
    this.constant('RMWR', null);
    const slow = `${v} = RMWR(c, ${size}, ${lo}, ${hi}); ${size === 8 ? `${vh} = c.hi; ` : ''}${o} = c.rmwOff;`;
    this.emit(`let ${v}${size === 8 ? `, ${vh}` : ''}, ${o} = -1; { ${t.pre} if (${t.cond}) { ${o} = wB[${t.idx}] + ${t.off}; ${fast} } else { ${this.faultPrefix()} ${slow} } }`);
    return [v, vh, o];
  }

  rmwStore(size: number, o: string, v: string, vh: string): void {
    let fast: string;
    switch (size) {
      case 1: fast = `ram[${o}] = ${v};`; break;
      case 2: fast = `dv.setUint16(${o}, ${v}, true);`; break;
      case 4: fast = `dv.setInt32(${o}, ${v}, true);`; break;
      default: fast = `dv.setInt32(${o}, ${v}, true); dv.setInt32(${o} + 4, ${vh}, true);`;
    }
    this.constant('RMWW', null);
    this.emit(`if (${o} >= 0) { ${fast} } else RMWW(c, ${size}, ${v}, ${vh});`);
  }
}
