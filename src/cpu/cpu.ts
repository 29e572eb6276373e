/**
 * The x86-64 CPU: architectural state in typed arrays, memory access through
 * the TLB fast path, lazy flags, and the block run loop. It knows nothing of
 * Xen: `run()` executes until its budget is spent or something happens that
 * the layer above must handle (an `Exit`).
 */
import type { Mmu } from './mmu-interface.ts';
import type { Tlb } from './tlb.ts';
import { TLB_MASK } from './tlb.ts';
import {
  ACC_EXEC, ACC_READ, ACC_WRITE, ARITH_FLAGS, CF, DB, DF, Exit, FLAGS_FIXED, GP, PF_VEC, RIP, RSP, SS, TF,
} from './state.ts';
import { F_EFLAGS, LF_A, LF_AH, LF_AUX, LF_B, LF_BH, LF_LEN, LF_OP, LF_RES, LF_RESH, lazyCF, lazyFlags } from './flags.ts';
import { Insn, type Block } from './insn.ts';
import { decodeBlock } from './decoder.ts';
import { compileBlock, compileConfig } from './threaded.ts';
import { X87 } from './x87-state.ts';

import { CPU_FAULT, SEG_FS } from './state.ts';
export { CPU_FAULT, MAX_BLOCK_INSNS, SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS } from './state.ts';

/** CPUID hook: fill out[0..3] = eax, ebx, ecx, edx for (leaf, subleaf). */
export type CpuidHook = (leaf: number, subleaf: number, out: Int32Array) => void;


export class Cpu {
  /** GPRs as (lo, hi) pairs: register n is r[2n], r[2n+1]; RIP is r[32], r[33]. */
  readonly r = new Int32Array(34);
  /** Lazy flag record (see flags.ts). */
  readonly lf = new Int32Array(LF_LEN);
  /** RFLAGS; the arithmetic bits are valid only while lf[LF_OP] is F_EFLAGS. */
  flags = FLAGS_FIXED;
  /** Segment selectors (ES, CS, SS, DS, FS, GS). */
  readonly sel = new Int32Array(6);
  /** Segment bases as (lo, hi) pairs, indexed like `sel`. Only FS and GS bases are used in 64-bit mode. */
  readonly segBase = new Int32Array(12);
  /** IA32_KERNEL_GS_BASE, swapped in by swapgs. */
  readonly kernelGsBase = new Int32Array(2);
  /** Current privilege level. */
  cpl = 3;
  /** XMM0-15 as 4 int32 lanes each; MXCSR. */
  readonly xmm = new Int32Array(64);
  readonly xmmF32 = new Float32Array(this.xmm.buffer);
  readonly xmmF64 = new Float64Array(this.xmm.buffer);
  mxcsr = 0x1f80;
  /** x87 FPU. */
  readonly fpu = new X87();
  /** Control registers for CPL-0 code (a PV guest never reaches them: it runs at CPL 3). */
  cr0 = 0x80050033;
  cr3 = 0;
  cr4 = 0x6f8;
  /** IA32_TSC_AUX, read by rdtscp. */
  tscAux = 0;
  /** CR0.TS: the next FPU/SSE instruction raises #NM. */
  get ts(): boolean {
    return (this.cr0 & 8) !== 0;
  }

  /** Scratch: high half of the last 64-bit value a helper returned. */
  hi = 0;
  /** Scratch: high half of the last effective address. */
  eaHi = 0;
  /** Read-modify-write in progress: RAM offset (or -1 when the operand crosses a page) and its address. */
  rmwOff = 0;
  rmwLo = 0;
  rmwHi = 0;

  /** The exception being reported (Exit.Exception / Exit.SoftwareInterrupt). */
  excVector = 0;
  excCode = 0;
  excHasCode = false;
  /** Faulting linear address of the last #PF. */
  readonly cr2 = new Int32Array(2);

  /** Instructions retired since creation. */
  icount = 0;
  /** Statistics: blocks decoded, code pages invalidated by writes. */
  blocksDecoded = 0;
  codeInvalidations = 0;
  /** Set by an instruction that ends `run` (syscall, hlt, int n). */
  exitReason: Exit = Exit.Budget;

  cpuid: CpuidHook = defaultCpuid;
  /** Time-stamp counter source; default: retired instructions. */
  readTsc: () => number = () => this.icount;

  readonly mmu: Mmu;
  readonly ram: Uint8Array;
  readonly dv: DataView;
  readonly tlb: Tlb;
  // The TLB arrays, cached for the fast paths.
  private readonly rTagLo: Int32Array;
  private readonly rTagHi: Int32Array;
  private readonly rBase: Int32Array;
  private readonly wTagLo: Int32Array;
  private readonly wTagHi: Int32Array;
  private readonly wBase: Int32Array;
  private readonly xTagLo: Int32Array;
  private readonly xTagHi: Int32Array;
  private readonly xBase: Int32Array;

  /** Decoded blocks by RAM offset of their first byte. */
  private readonly blocks = new Map<number, Block>();
  /** Blocks by RAM page, for invalidation when the page is written. */
  private readonly pageBlocks = new Map<number, Block[]>();

  constructor(mmu: Mmu) {
    this.mmu = mmu;
    this.ram = mmu.ram;
    this.dv = new DataView(mmu.ram.buffer, mmu.ram.byteOffset, mmu.ram.byteLength);
    this.tlb = mmu.tlb;
    this.rTagLo = mmu.tlb.read.tagLo;
    this.rTagHi = mmu.tlb.read.tagHi;
    this.rBase = mmu.tlb.read.base;
    this.wTagLo = mmu.tlb.write.tagLo;
    this.wTagHi = mmu.tlb.write.tagHi;
    this.wBase = mmu.tlb.write.base;
    this.xTagLo = mmu.tlb.exec.tagLo;
    this.xTagHi = mmu.tlb.exec.tagHi;
    this.xBase = mmu.tlb.exec.base;
  }

  // ---------------------------------------------------------------- registers

  get ripLo(): number {
    return this.r[RIP]!;
  }
  get ripHi(): number {
    return this.r[RIP + 1]!;
  }
  setRip(lo: number, hi: number): void {
    this.r[RIP] = lo;
    this.r[RIP + 1] = hi;
  }

  /** A register as a BigInt (debugging, tests and slow paths only). */
  getReg64n(n: number): bigint {
    return (BigInt(this.r[2 * n + 1]! >>> 0) << 32n) | BigInt(this.r[2 * n]! >>> 0);
  }
  setReg64n(n: number, v: bigint): void {
    this.r[2 * n] = Number(v & 0xffffffffn) | 0;
    this.r[2 * n + 1] = Number((v >> 32n) & 0xffffffffn) | 0;
  }

  getReg8(n: number): number {
    return n < 16 ? this.r[2 * n]! & 0xff : (this.r[2 * (n - 16)]! >>> 8) & 0xff;
  }
  setReg8(n: number, v: number): void {
    if (n < 16) this.r[2 * n] = (this.r[2 * n]! & ~0xff) | (v & 0xff);
    else this.r[2 * (n - 16)] = (this.r[2 * (n - 16)]! & ~0xff00) | ((v & 0xff) << 8);
  }
  getReg16(n: number): number {
    return this.r[2 * n]! & 0xffff;
  }
  setReg16(n: number, v: number): void {
    this.r[2 * n] = (this.r[2 * n]! & ~0xffff) | (v & 0xffff);
  }
  /** 32-bit writes zero the upper half (the architecture's rule). */
  setReg32(n: number, v: number): void {
    this.r[2 * n] = v;
    this.r[2 * n + 1] = 0;
  }
  setReg64(n: number, lo: number, hi: number): void {
    this.r[2 * n] = lo;
    this.r[2 * n + 1] = hi;
  }

  /** Read a register of `size` bytes: returns the low 32 bits (zero-extended for 8/16), high half in this.hi. */
  getReg(n: number, size: number): number {
    switch (size) {
      case 1: this.hi = 0; return this.getReg8(n);
      case 2: this.hi = 0; return this.r[2 * n]! & 0xffff;
      case 4: this.hi = 0; return this.r[2 * n]!;
      default: this.hi = this.r[2 * n + 1]!; return this.r[2 * n]!;
    }
  }
  setReg(n: number, size: number, lo: number, hi: number): void {
    switch (size) {
      case 1: this.setReg8(n, lo); break;
      case 2: this.setReg16(n, lo); break;
      case 4: this.r[2 * n] = lo; this.r[2 * n + 1] = 0; break;
      default: this.r[2 * n] = lo; this.r[2 * n + 1] = hi; break;
    }
  }

  // ---------------------------------------------------------------- flags

  /** Record a flag-setting operation (see flags.ts). */
  setLazy(op: number, resL: number, resH: number, aL: number, aH: number, bL: number, bH: number, aux: number): void {
    const lf = this.lf;
    lf[LF_OP] = op;
    lf[LF_RES] = resL;
    lf[LF_RESH] = resH;
    lf[LF_A] = aL;
    lf[LF_AH] = aH;
    lf[LF_B] = bL;
    lf[LF_BH] = bH;
    lf[LF_AUX] = aux;
  }

  /** Full RFLAGS, materialising lazy arithmetic flags. */
  getFlags(): number {
    if (this.lf[LF_OP] !== F_EFLAGS) {
      this.flags = (this.flags & ~ARITH_FLAGS) | lazyFlags(this.lf);
      this.lf[LF_OP] = F_EFLAGS;
    }
    return this.flags | FLAGS_FIXED;
  }

  /** Replace the arithmetic flags (the rest of RFLAGS is untouched). */
  setArithFlags(v: number): void {
    this.getFlags();
    this.flags = (this.flags & ~ARITH_FLAGS) | (v & ARITH_FLAGS);
  }

  getCF(): boolean {
    return this.lf[LF_OP] === F_EFLAGS ? (this.flags & CF) !== 0 : lazyCF(this.lf);
  }

  /** Direction for string instructions: +1 or -1. */
  get dir(): number {
    return this.flags & DF ? -1 : 1;
  }

  // ---------------------------------------------------------------- exceptions

  /** Raise a fault: returns the sentinel for `throw`. */
  fault(vector: number, code = -1): typeof CPU_FAULT {
    this.excVector = vector;
    this.excHasCode = code >= 0;
    this.excCode = code >= 0 ? code : 0;
    return CPU_FAULT;
  }

  private pageFault(lo: number, hi: number): typeof CPU_FAULT {
    this.cr2[0] = lo;
    this.cr2[1] = hi;
    return this.fault(PF_VEC, this.mmu.faultCode);
  }

  /** Check a linear address is canonical (bits 63..47 equal); #GP(0) (or #SS(0) for stack accesses) otherwise. */
  checkCanonical(hi: number, stack = false): void {
    if ((hi << 16) >> 16 !== hi) throw this.fault(stack ? SS : GP, 0);
  }

  // ---------------------------------------------------------------- effective addresses

  /**
   * Effective (linear) address of the instruction's memory operand: returns
   * the low half, high half in this.eaHi. Applies the FS/GS base and checks
   * canonical form.
   */
  ea(i: Insn): number {
    const r = this.r;
    let lo = i.dispLo;
    let hi = i.dispHi;
    if (i.base >= 0) {
      const s = (lo >>> 0) + (r[2 * i.base]! >>> 0);
      hi = (hi + r[2 * i.base + 1]! + (s > 0xffffffff ? 1 : 0)) | 0;
      lo = s | 0;
    }
    if (i.index >= 0) {
      let xL = r[2 * i.index]!;
      let xH = r[2 * i.index + 1]!;
      const sc = i.scale;
      if (sc !== 0) {
        xH = (xH << sc) | (xL >>> (32 - sc));
        xL <<= sc;
      }
      const s = (lo >>> 0) + (xL >>> 0);
      hi = (hi + xH + (s > 0xffffffff ? 1 : 0)) | 0;
      lo = s | 0;
    }
    if (i.addrSize === 4) hi = 0;
    if (i.seg >= SEG_FS) {
      const b = 2 * i.seg;
      const s = (lo >>> 0) + (this.segBase[b]! >>> 0);
      hi = (hi + this.segBase[b + 1]! + (s > 0xffffffff ? 1 : 0)) | 0;
      lo = s | 0;
    }
    if ((hi << 16) >> 16 !== hi) throw this.fault(i.base === RSP || i.base === 5 ? SS : GP, 0);
    this.eaHi = hi;
    return lo;
  }

  // ---------------------------------------------------------------- memory: reads

  /** RAM offset of a readable byte at linear (lo, hi), through the TLB or the MMU. */
  xlateRead(lo: number, hi: number): number {
    const idx = (lo >>> 12) & TLB_MASK;
    if (this.rTagLo[idx] === (lo & ~0xfff) && this.rTagHi[idx] === hi) return this.rBase[idx]! + (lo & 0xfff);
    const off = this.mmu.translate(lo, hi, ACC_READ, this.cpl === 3);
    if (off < 0) throw this.pageFault(lo, hi);
    return off;
  }

  /** RAM offset of a writable byte (translating for write; write access implies read). */
  xlateWrite(lo: number, hi: number): number {
    const idx = (lo >>> 12) & TLB_MASK;
    if (this.wTagLo[idx] === (lo & ~0xfff) && this.wTagHi[idx] === hi) return this.wBase[idx]! + (lo & 0xfff);
    const off = this.mmu.translate(lo, hi, ACC_WRITE, this.cpl === 3);
    if (off < 0) throw this.pageFault(lo, hi);
    if (this.pageBlocks.has(off >>> 12)) this.invalidateCodePage(off >>> 12);
    return off;
  }

  read8(lo: number, hi: number): number {
    const idx = (lo >>> 12) & TLB_MASK;
    if (this.rTagLo[idx] === (lo & ~0xfff) && this.rTagHi[idx] === hi) return this.ram[this.rBase[idx]! + (lo & 0xfff)]!;
    return this.ram[this.xlateRead(lo, hi)]!;
  }

  read16(lo: number, hi: number): number {
    const idx = (lo >>> 12) & TLB_MASK;
    if (this.rTagLo[idx] === (lo & ~0xfff) && this.rTagHi[idx] === hi && (lo & 0xfff) <= 0xffe)
      return this.dv.getUint16(this.rBase[idx]! + (lo & 0xfff), true);
    return this.readSlow(lo, hi, 2);
  }

  /** 32-bit read, as an int32. */
  read32(lo: number, hi: number): number {
    const idx = (lo >>> 12) & TLB_MASK;
    if (this.rTagLo[idx] === (lo & ~0xfff) && this.rTagHi[idx] === hi && (lo & 0xfff) <= 0xffc)
      return this.dv.getInt32(this.rBase[idx]! + (lo & 0xfff), true);
    return this.readSlow(lo, hi, 4);
  }

  /** 64-bit read: returns the low half, high half in this.hi. */
  read64(lo: number, hi: number): number {
    const idx = (lo >>> 12) & TLB_MASK;
    if (this.rTagLo[idx] === (lo & ~0xfff) && this.rTagHi[idx] === hi && (lo & 0xfff) <= 0xff8) {
      const o = this.rBase[idx]! + (lo & 0xfff);
      this.hi = this.dv.getInt32(o + 4, true);
      return this.dv.getInt32(o, true);
    }
    const l = this.readSlow(lo, hi, 4);
    const a = addr64Lo(lo, hi, 4);
    this.hi = this.readSlow(a, carryHi, 4);
    return l;
  }

  /** A read that may cross a page: byte by byte, both pages translated (the first fault wins). */
  private readSlow(lo: number, hi: number, size: number): number {
    const first = this.xlateRead(lo, hi);
    if ((lo & 0xfff) + size <= 0x1000) {
      return size === 2 ? this.dv.getUint16(first, true) : this.dv.getInt32(first, true);
    }
    let v = 0;
    for (let k = 0; k < size; k++) {
      const a = addr64Lo(lo, hi, k);
      v |= this.ram[this.xlateRead(a, carryHi)]! << (8 * k);
    }
    return size === 2 ? v & 0xffff : v;
  }

  // ---------------------------------------------------------------- memory: writes

  write8(lo: number, hi: number, v: number): void {
    const idx = (lo >>> 12) & TLB_MASK;
    if (this.wTagLo[idx] === (lo & ~0xfff) && this.wTagHi[idx] === hi) {
      this.ram[this.wBase[idx]! + (lo & 0xfff)] = v;
      return;
    }
    this.ram[this.xlateWrite(lo, hi)] = v;
  }

  write16(lo: number, hi: number, v: number): void {
    const idx = (lo >>> 12) & TLB_MASK;
    if (this.wTagLo[idx] === (lo & ~0xfff) && this.wTagHi[idx] === hi && (lo & 0xfff) <= 0xffe) {
      this.dv.setUint16(this.wBase[idx]! + (lo & 0xfff), v, true);
      return;
    }
    this.writeSlow(lo, hi, 2, v);
  }

  write32(lo: number, hi: number, v: number): void {
    const idx = (lo >>> 12) & TLB_MASK;
    if (this.wTagLo[idx] === (lo & ~0xfff) && this.wTagHi[idx] === hi && (lo & 0xfff) <= 0xffc) {
      this.dv.setInt32(this.wBase[idx]! + (lo & 0xfff), v, true);
      return;
    }
    this.writeSlow(lo, hi, 4, v);
  }

  write64(lo: number, hi: number, vLo: number, vHi: number): void {
    const idx = (lo >>> 12) & TLB_MASK;
    if (this.wTagLo[idx] === (lo & ~0xfff) && this.wTagHi[idx] === hi && (lo & 0xfff) <= 0xff8) {
      const o = this.wBase[idx]! + (lo & 0xfff);
      this.dv.setInt32(o, vLo, true);
      this.dv.setInt32(o + 4, vHi, true);
      return;
    }
    if ((lo & 0xfff) <= 0xff8) {
      const o = this.xlateWrite(lo, hi);
      this.dv.setInt32(o, vLo, true);
      this.dv.setInt32(o + 4, vHi, true);
      return;
    }
    this.checkWritable(lo, hi, 8);
    this.writeSlow(lo, hi, 4, vLo);
    const a = addr64Lo(lo, hi, 4);
    this.writeSlow(a, carryHi, 4, vHi);
  }

  /**
   * Make sure every page of [addr, addr+size) is writable before anything is
   * written, so a fault on the second page leaves memory untouched.
   */
  checkWritable(lo: number, hi: number, size: number): void {
    this.xlateWrite(lo, hi);
    const a = addr64Lo(lo, hi, size - 1);
    const aHi = carryHi;
    // The second page faults at its first byte, as hardware reports it.
    if ((a & ~0xfff) !== (lo & ~0xfff) || aHi !== hi) this.xlateWrite(a & ~0xfff, aHi);
  }

  private writeSlow(lo: number, hi: number, size: number, v: number): void {
    if ((lo & 0xfff) + size <= 0x1000) {
      const o = this.xlateWrite(lo, hi);
      if (size === 2) this.dv.setUint16(o, v, true);
      else this.dv.setInt32(o, v, true);
      return;
    }
    this.checkWritable(lo, hi, size);
    for (let k = 0; k < size; k++) {
      const a = addr64Lo(lo, hi, k);
      this.ram[this.xlateWrite(a, carryHi)] = v >>> (8 * k);
    }
  }

  /** Read `n` bytes into a buffer (slow path helper for wide SSE/x87 operands). */
  readBytes(lo: number, hi: number, out: Uint8Array, n: number): void {
    if ((lo & 0xfff) + n <= 0x1000) {
      const o = this.xlateRead(lo, hi);
      out.set(this.ram.subarray(o, o + n));
      return;
    }
    for (let k = 0; k < n; k++) {
      const a = addr64Lo(lo, hi, k);
      out[k] = this.ram[this.xlateRead(a, carryHi)]!;
    }
  }

  writeBytes(lo: number, hi: number, src: Uint8Array, n: number): void {
    if ((lo & 0xfff) + n <= 0x1000) {
      const o = this.xlateWrite(lo, hi);
      this.ram.set(src.subarray(0, n), o);
      return;
    }
    this.checkWritable(lo, hi, n);
    for (let k = 0; k < n; k++) {
      const a = addr64Lo(lo, hi, k);
      this.ram[this.xlateWrite(a, carryHi)] = src[k]!;
    }
  }

  /** Raise #AC/#GP as the architecture does for a misaligned 16-byte SSE operand. */
  checkAlign16(lo: number): void {
    if (lo & 15) throw this.fault(GP, 0);
  }

  // ---------------------------------------------------------------- stack

  push64(lo: number, hi: number): void {
    const r = this.r;
    const sL = r[2 * RSP]!, sH = r[2 * RSP + 1]!;
    const nL = (sL - 8) | 0;
    const nH = (sL >>> 0) < 8 ? (sH - 1) | 0 : sH;
    if ((nH << 16) >> 16 !== nH) throw this.fault(SS, 0);
    this.write64(nL, nH, lo, hi);
    r[2 * RSP] = nL;
    r[2 * RSP + 1] = nH;
  }

  /** Pop 64 bits: returns lo, hi in this.hi. RSP changes only after the read succeeded. */
  pop64(): number {
    const r = this.r;
    const sL = r[2 * RSP]!, sH = r[2 * RSP + 1]!;
    if ((sH << 16) >> 16 !== sH) throw this.fault(SS, 0);
    const lo = this.read64(sL, sH);
    const s = (sL >>> 0) + 8;
    r[2 * RSP] = s | 0;
    r[2 * RSP + 1] = s > 0xffffffff ? (sH + 1) | 0 : sH;
    return lo;
  }

  push16(v: number): void {
    const r = this.r;
    const sL = r[2 * RSP]!, sH = r[2 * RSP + 1]!;
    const nL = (sL - 2) | 0;
    const nH = (sL >>> 0) < 2 ? (sH - 1) | 0 : sH;
    this.checkCanonical(nH, true);
    this.write16(nL, nH, v);
    r[2 * RSP] = nL;
    r[2 * RSP + 1] = nH;
  }

  pop16(): number {
    const r = this.r;
    const sL = r[2 * RSP]!, sH = r[2 * RSP + 1]!;
    this.checkCanonical(sH, true);
    const v = this.read16(sL, sH);
    const s = (sL >>> 0) + 2;
    r[2 * RSP] = s | 0;
    r[2 * RSP + 1] = s > 0xffffffff ? (sH + 1) | 0 : sH;
    return v;
  }

  // ---------------------------------------------------------------- code cache

  /** Drop every decoded block that came from RAM page `page` (it was written). */
  invalidateCodePage(page: number): void {
    const list = this.pageBlocks.get(page);
    if (!list) return;
    this.codeInvalidations++;
    for (const b of list) {
      b.valid = false;
      if (this.blocks.get(b.ramStart) === b) this.blocks.delete(b.ramStart);
    }
    this.pageBlocks.delete(page);
    this.mmu.unprotectCode(page);
  }

  /** Forget all decoded code (e.g. after loading a new program). */
  flushCode(): void {
    for (const page of this.pageBlocks.keys()) this.mmu.unprotectCode(page);
    this.blocks.clear();
    this.pageBlocks.clear();
  }

  /** The block starting at RIP: from the cache, or decoded now. Throws a fault if RIP cannot be fetched. */
  private block(): Block {
    const lo = this.r[RIP]!, hi = this.r[RIP + 1]!;
    const idx = (lo >>> 12) & TLB_MASK;
    let off: number;
    if (this.xTagLo[idx] === (lo & ~0xfff) && this.xTagHi[idx] === hi) off = this.xBase[idx]! + (lo & 0xfff);
    else {
      if ((hi << 16) >> 16 !== hi) throw this.fault(GP, 0);
      off = this.mmu.translate(lo, hi, ACC_EXEC, this.cpl === 3);
      if (off < 0) throw this.pageFault(lo, hi);
    }
    const b = this.blocks.get(off);
    if (b !== undefined && b.ripLo === lo && b.ripHi === hi && b.cpl === this.cpl && (b.page2 < 0 || this.secondPageOf(lo, hi) === b.page2)) {
      return b;
    }
    const nb = decodeBlock(this, lo, hi, off);
    this.blocksDecoded++;
    if (nb.cacheable) {
      this.blocks.set(off, nb);
      this.addPageBlock(off >>> 12, nb);
      if (nb.page2 >= 0) this.addPageBlock(nb.page2, nb);
    }
    return nb;
  }

  private addPageBlock(page: number, b: Block): void {
    let list = this.pageBlocks.get(page);
    if (!list) {
      list = [];
      this.pageBlocks.set(page, list);
      this.mmu.protectCode(page);
    }
    list.push(b);
  }

  /** RAM page the linear page after (lo, hi)'s page maps to now (for straddling blocks), or -1. */
  private secondPageOf(lo: number, hi: number): number {
    const s = ((lo & ~0xfff) >>> 0) + 0x1000;
    const nhi = s > 0xffffffff ? (hi + 1) | 0 : hi;
    try {
      return this.fetchOffset(s | 0, nhi) >>> 12;
    } catch (e) {
      if (e !== CPU_FAULT) throw e;
      return -1;
    }
  }

  /** RAM offset of one code byte for the decoder (may fault). */
  fetchOffset(lo: number, hi: number): number {
    const idx = (lo >>> 12) & TLB_MASK;
    if (this.xTagLo[idx] === (lo & ~0xfff) && this.xTagHi[idx] === hi) return this.xBase[idx]! + (lo & 0xfff);
    if ((hi << 16) >> 16 !== hi) throw this.fault(GP, 0);
    const off = this.mmu.translate(lo, hi, ACC_EXEC, this.cpl === 3);
    if (off < 0) throw this.pageFault(lo, hi);
    return off;
  }

  fetchByte(lo: number, hi: number): number {
    return this.ram[this.fetchOffset(lo, hi)]!;
  }

  // ---------------------------------------------------------------- run loop

  /**
   * Execute until `budget` instructions have retired (checked between blocks)
   * or an exit happens. Returns why it stopped.
   */
  run(budget: number): Exit {
    const stop = this.icount + budget;
    const r = this.r;
    const tlb = this.tlb;
    let prev: Block | null = null;
    this.jitLast = null;
    while (this.icount < stop) {
      // Follow the previous block's chain when it is still valid, else look up/decode.
      const lo = r[RIP]!, hi = r[RIP + 1]!;
      let b: Block | null = null;
      if (prev !== null) {
        const n1: Block | null = prev.next1;
        if (n1 !== null && n1.ripLo === lo && n1.ripHi === hi && prev.gen1 === tlb.gen && n1.valid && n1.cpl === this.cpl) b = n1;
        else {
          const n2: Block | null = prev.next2;
          if (n2 !== null && n2.ripLo === lo && n2.ripHi === hi && prev.gen2 === tlb.gen && n2.valid && n2.cpl === this.cpl) b = n2;
        }
      }
      if (b === null) {
        try {
          b = this.block();
        } catch (e) {
          if (e !== CPU_FAULT) throw e;
          return Exit.Exception;
        }
        if (prev !== null && b.cacheable && prev.cacheable) {
          // Keep the two most recent successors.
          prev.next2 = prev.next1;
          prev.gen2 = prev.gen1;
          prev.next1 = b;
          prev.gen1 = tlb.gen;
        }
      }
      if (this.flags & TF) return this.singleStep();
      const insns = b.insns;
      const n = insns.length;
      let k = 0;
      const fn = b.fn;
      try {
        if (fn !== null) k = fn(this);
        else {
          if (++b.hits === compileConfig.threshold && b.cacheable) b.fn = compileBlock(b);
          for (; k < n; k++) {
            const i = insns[k]!;
            i.exec(this, i);
            // A store into this block's own page invalidated it: stop after this instruction.
            if (!b.valid) break;
          }
        }
      } catch (e) {
        if (e !== CPU_FAULT) throw e;
        if (fn !== null) k = this.faultIndex;
        const i = insns[k]!;
        this.icount += k;
        // Faults restart the instruction; a trap handler has already set RIP past it.
        if (!this.excTrap) this.setRip(i.addrLo, i.addrHi);
        this.excTrap = false;
        return Exit.Exception;
      }
      if (k < n) {
        // Self-modifying code: resume right after the writing instruction, re-decoding.
        const i = insns[k]!;
        this.icount += k + 1;
        if (k < n - 1 || !b.endsWithControl) {
          r[RIP] = i.nextLo;
          r[RIP + 1] = i.nextHi;
        }
        prev = null;
        if (this.exitReason !== Exit.Budget) {
          const x = this.exitReason;
          this.exitReason = Exit.Budget;
          return x;
        }
        continue;
      }
      this.icount += n;
      if (!b.endsWithControl) {
        r[RIP] = b.endLo;
        r[RIP + 1] = b.endHi;
      }
      if (this.exitReason !== Exit.Budget) {
        const x = this.exitReason;
        this.exitReason = Exit.Budget;
        this.jitLast = null;
        return x;
      }
      prev = b;
      if (this.jitLast !== null) {
        prev = this.jitLast;
        this.jitLast = null;
      }
    }
    return Exit.Budget;
  }

  /** Index of the faulting instruction within a compiled block (see threaded.ts). */
  faultIndex = 0;

  /**
   * Set by a compiled region when it ran past its entry block: the member that
   * ran last, whose successors Cpu.run follows and records next (a hint: a
   * successor is only taken after its RIP is checked).
   */
  jitLast: Block | null = null;

  /** Set by trap-type exceptions (int3, into, #DB traps) which report RIP after the instruction. */
  excTrap = false;

  /** RFLAGS.TF: execute one instruction, then report the #DB trap (RIP after it). */
  private singleStep(): Exit {
    const x = this.step();
    if (x !== Exit.Budget) return x;
    this.excVector = DB;
    this.excHasCode = false;
    this.excCode = 0;
    return Exit.Exception;
  }

  /** Execute exactly one instruction (single-step for tests and debuggers). */
  step(): Exit {
    const lo = this.r[RIP]!, hi = this.r[RIP + 1]!;
    let b: Block;
    try {
      b = decodeBlock(this, lo, hi, -1, 1);
    } catch (e) {
      if (e !== CPU_FAULT) throw e;
      return Exit.Exception;
    }
    const i = b.insns[0]!;
    try {
      i.exec(this, i);
    } catch (e) {
      if (e !== CPU_FAULT) throw e;
      if (!this.excTrap) this.setRip(i.addrLo, i.addrHi);
      this.excTrap = false;
      return Exit.Exception;
    }
    this.icount++;
    if (!b.endsWithControl) this.setRip(b.endLo, b.endHi);
    const x = this.exitReason;
    this.exitReason = Exit.Budget;
    return x;
  }

  // ---------------------------------------------------------------- helpers for instructions

  /** Privileged instructions: #GP(0) at CPL > 0, so the layer above can emulate them. */
  requireCpl0(): void {
    if (this.cpl !== 0) throw this.fault(GP, 0);
  }
}

/** High half of the last addr64Lo result (module scope avoids allocating a pair). */
let carryHi = 0;

/** (lo, hi) + k for a small non-negative k: returns lo, high half in carryHi. */
function addr64Lo(lo: number, hi: number, k: number): number {
  const s = (lo >>> 0) + k;
  carryHi = s > 0xffffffff ? (hi + 1) | 0 : hi;
  return s | 0;
}

/** CPUID when no hook is installed: a minimal x86-64 CPU with SSE2. */
function defaultCpuid(leaf: number, _sub: number, out: Int32Array): void {
  out.fill(0);
  switch (leaf >>> 0) {
    case 0:
      out[0] = 0xd;
      out[1] = 0x756e6547; // "Genu"
      out[3] = 0x49656e69; // "ineI"
      out[2] = 0x6c65746e; // "ntel"
      break;
    case 1:
      out[0] = 0x000306c3;
      out[3] = 0x0789abf9 | (1 << 25) | (1 << 26); // fpu…cmov, mmx, fxsr, sse, sse2
      out[2] = 1 << 13; // cx16
      break;
    case 0x80000000:
      out[0] = 0x80000008 | 0;
      break;
    case 0x80000001:
      out[3] = (1 << 11) | (1 << 20) | (1 << 29); // syscall, nx, lm
      out[2] = 1; // lahf/sahf in 64-bit mode
      break;
    case 0x80000008:
      out[0] = 0x3028; // 40-bit physical, 48-bit linear
      break;
  }
}

export { Insn };
