/**
 * A Linux process's address space on top of PagedMemory: the list of
 * mappings (VMAs) the kernel keeps for mmap/munmap/mprotect/mremap/brk, the
 * growable stack, and checked copies between guest memory and the host
 * (what copy_from_user/copy_to_user do: -EFAULT instead of a crash).
 *
 * Addresses are JS numbers (user addresses are below 2^47, so exact).
 */
import type { Cpu } from '../cpu/cpu.ts';
import { ACC_READ, ACC_WRITE } from '../cpu/state.ts';
import { PagedMemory } from '../mmu/paged-memory.ts';

export const PAGE = 4096;
export const PROT_NONE = 0, PROT_READ = 1, PROT_WRITE = 2, PROT_EXEC = 4;

/** Highest user address + 1 (x86-64, 4-level paging), and where the initial stack ends. */
export const TASK_SIZE = 0x7ffffffff000;
export const STACK_TOP = TASK_SIZE;
/** Largest the stack may grow (RLIMIT_STACK). */
export const STACK_LIMIT = 8 << 20;
/** Where mmap looks for free space, downwards (below the stack gap, as Linux without ASLR). */
export const MMAP_TOP = 0x7ffff7fff000;
/** Where a static-pie (ET_DYN without interpreter) is loaded (ELF_ET_DYN_BASE without randomisation). */
export const DYN_BASE = 0x555555554000;

export const pageDown = (a: number): number => a - (a % PAGE);
export const pageUp = (a: number): number => Math.ceil(a / PAGE) * PAGE;

export interface Vma {
  start: number;
  end: number;
  prot: number;
  /** 'stack', 'brk', 'anon', a file name, … (for traces). */
  name: string;
}

/** Thrown by guest copies that touch an unmapped or forbidden page. */
export class GuestFault extends Error {
  constructor(readonly addr: number) {
    super(`guest fault at 0x${addr.toString(16)}`);
  }
}

export class AddressSpace {
  readonly mem: PagedMemory;
  /** The CPU running in this space: its decoded-code cache must forget pages we rewrite or free. */
  cpu: Cpu | undefined;
  /** Mappings, sorted by start, never overlapping. */
  readonly vmas: Vma[] = [];

  /** Program break: start (end of the data segment), current value. */
  brkStart = 0;
  brk = 0;
  /** Stack: top, lowest address it may grow to, lowest mapped address now. */
  stackTop = STACK_TOP;
  stackLimit = STACK_TOP - STACK_LIMIT;
  stackLow = STACK_TOP;

  constructor(ramBytes: number) {
    this.mem = new PagedMemory(ramBytes);
  }

  // ---------------------------------------------------------------- mappings

  /** Map [start, start+len) with fresh zero pages (replacing whatever was there, like MAP_FIXED). */
  mapFixed(start: number, len: number, prot: number, name: string): void {
    len = pageUp(len);
    this.unmap(start, len);
    this.mem.map(start, len, prot);
    this.insertVma({ start, end: start + len, prot, name });
  }

  /** Remove every page of [start, start+len). */
  unmap(start: number, len: number): void {
    const end = start + pageUp(len);
    if (!this.overlaps(start, end)) return;
    for (let a = start; a < end; a += PAGE) this.forgetCode(a);
    this.mem.unmap(start, end - start);
    this.cutVmas(start, end);
  }

  /** Change protection; false (ENOMEM) if part of the range is not mapped. */
  protect(start: number, len: number, prot: number): boolean {
    const end = start + pageUp(len);
    if (!this.covered(start, end)) return false;
    // Split the VMAs at the edges, then relabel those inside.
    const inside = this.cutVmas(start, end);
    for (const v of inside) this.insertVma({ ...v, prot });
    this.mem.protect(start, end - start, prot);
    return true;
  }

  /** The VMA containing addr, if any. */
  find(addr: number): Vma | undefined {
    for (const v of this.vmas) if (addr >= v.start && addr < v.end) return v;
    return undefined;
  }

  /** Whether every page of [start, end) is mapped. */
  covered(start: number, end: number): boolean {
    let a = start;
    for (const v of this.vmas) {
      if (v.end <= a) continue;
      if (v.start > a) return false;
      a = v.end;
      if (a >= end) return true;
    }
    return a >= end;
  }

  overlaps(start: number, end: number): boolean {
    for (const v of this.vmas) if (v.start < end && v.end > start) return true;
    return false;
  }

  /** A free range of `len` bytes for mmap, searching downwards from MMAP_TOP (or at `hint` if free). */
  findFree(len: number, hint = 0): number {
    len = pageUp(len);
    if (hint && hint % PAGE === 0 && hint + len <= MMAP_TOP && !this.overlaps(hint, hint + len)) return hint;
    let top = MMAP_TOP;
    for (let k = this.vmas.length - 1; k >= 0; k--) {
      const v = this.vmas[k]!;
      if (v.start >= top) continue;
      if (v.end <= top - len) break;
      top = Math.min(top, v.start);
    }
    const floor = Math.max(this.brk, this.brkStart) + (64 << 20);
    return top - len >= floor ? top - len : -1;
  }

  private insertVma(n: Vma): void {
    let k = 0;
    while (k < this.vmas.length && this.vmas[k]!.start < n.start) k++;
    this.vmas.splice(k, 0, n);
  }

  /** Remove [start, end) from the VMA list (splitting at the edges); returns the removed pieces. */
  private cutVmas(start: number, end: number): Vma[] {
    const keep: Vma[] = [];
    const cut: Vma[] = [];
    for (const v of this.vmas) {
      if (v.end <= start || v.start >= end) {
        keep.push(v);
        continue;
      }
      if (v.start < start) keep.push({ ...v, end: start });
      if (v.end > end) keep.push({ ...v, start: end });
      cut.push({ ...v, start: Math.max(v.start, start), end: Math.min(v.end, end) });
    }
    keep.sort((a, b) => a.start - b.start);
    this.vmas.length = 0;
    this.vmas.push(...keep);
    return cut;
  }

  /** The CPU must not run stale decoded code from a RAM page we free or rewrite behind its back. */
  private forgetCode(addr: number): void {
    const off = this.mem.offsetOf(addr);
    if (off >= 0 && this.cpu) this.cpu.invalidateCodePage(off >>> 12);
  }

  // ---------------------------------------------------------------- brk and stack

  setBrk(want: number): number {
    if (want < this.brkStart) return this.brk;
    const oldEnd = pageUp(this.brk);
    const newEnd = pageUp(want);
    if (newEnd > oldEnd) {
      if (this.overlaps(oldEnd, newEnd)) return this.brk;
      try {
        this.mem.map(oldEnd, newEnd - oldEnd, PROT_READ | PROT_WRITE);
      } catch {
        return this.brk;
      }
      this.insertVma({ start: oldEnd, end: newEnd, prot: PROT_READ | PROT_WRITE, name: 'brk' });
      this.mergeBrk();
    } else if (newEnd < oldEnd) {
      this.unmap(newEnd, oldEnd - newEnd);
    }
    this.brk = want;
    return want;
  }

  private mergeBrk(): void {
    for (let k = this.vmas.length - 1; k > 0; k--) {
      const a = this.vmas[k - 1]!, b = this.vmas[k]!;
      if (a.name === 'brk' && b.name === 'brk' && a.end === b.start && a.prot === b.prot) {
        a.end = b.end;
        this.vmas.splice(k, 1);
      }
    }
  }

  /** Map the initial stack: `size` bytes below the top. */
  initStack(size: number): void {
    this.stackLow = this.stackTop - pageUp(size);
    this.mapFixed(this.stackLow, this.stackTop - this.stackLow, PROT_READ | PROT_WRITE, 'stack');
  }

  /** A fault at `addr` below the stack but within its limit grows the stack (true: retry the instruction). */
  growStack(addr: number): boolean {
    if (addr >= this.stackLow || addr < this.stackLimit) return false;
    const low = pageDown(addr);
    if (this.overlaps(low, this.stackLow)) return false;
    this.mem.map(low, this.stackLow - low, PROT_READ | PROT_WRITE);
    const v = this.vmas.find((x) => x.name === 'stack' && x.start === this.stackLow);
    if (v) v.start = low;
    else this.insertVma({ start: low, end: this.stackLow, prot: PROT_READ | PROT_WRITE, name: 'stack' });
    this.stackLow = low;
    return true;
  }

  // ---------------------------------------------------------------- guest copies (syscall arguments)

  /** RAM offset of a user-accessible byte, or throw GuestFault. */
  private xlate(addr: number, write: boolean): number {
    if (addr < 0 || addr >= TASK_SIZE) throw new GuestFault(addr);
    const lo = addr % 4294967296 | 0;
    const hi = Math.floor(addr / 4294967296);
    let off = this.mem.translate(lo, hi, write ? ACC_WRITE : ACC_READ, true);
    if (off < 0 && this.growStack(addr)) off = this.mem.translate(lo, hi, write ? ACC_WRITE : ACC_READ, true);
    if (off < 0) throw new GuestFault(addr);
    return off;
  }

  /** Copy guest memory out (throws GuestFault). */
  read(addr: number, len: number, out?: Uint8Array): Uint8Array {
    const buf = out ?? new Uint8Array(len);
    const ram = this.mem.ram;
    for (let k = 0; k < len; ) {
      const off = this.xlate(addr + k, false);
      const n = Math.min(PAGE - ((addr + k) % PAGE), len - k);
      buf.set(ram.subarray(off, off + n), k);
      k += n;
    }
    return buf;
  }

  /** Copy into guest memory (throws GuestFault before writing anything if a page is not writable). */
  write(addr: number, data: Uint8Array, len = data.length): void {
    if (len === 0) return;
    for (let a = pageDown(addr); a < addr + len; a += PAGE) this.xlate(Math.max(a, addr), true);
    const ram = this.mem.ram;
    for (let k = 0; k < len; ) {
      const off = this.xlate(addr + k, true);
      const n = Math.min(PAGE - ((addr + k) % PAGE), len - k);
      if (this.cpu) this.cpu.invalidateCodePage(off >>> 12);
      ram.set(data.subarray(k, k + n), off);
      k += n;
    }
  }

  /** Check that [addr, addr+len) is writable without writing (EFAULT before side effects). */
  checkWritable(addr: number, len: number): void {
    for (let a = pageDown(addr); a < addr + len; a += PAGE) this.xlate(Math.max(a, addr), true);
  }

  /** Write ignoring protection (the loader: read-only segments, the initial stack). */
  poke(addr: number, data: Uint8Array): void {
    for (let a = pageDown(addr); a < addr + data.length; a += PAGE) this.forgetCode(a);
    this.mem.writeBytes(addr, data);
  }

  /** A NUL-terminated string (at most `max` bytes). */
  readCString(addr: number, max = 4096): Uint8Array {
    const ram = this.mem.ram;
    const parts: number[] = [];
    for (let k = 0; k < max; ) {
      const off = this.xlate(addr + k, false);
      const n = Math.min(PAGE - ((addr + k) % PAGE), max - k);
      for (let j = 0; j < n; j++) {
        const b = ram[off + j]!;
        if (b === 0) return Uint8Array.from(parts);
        parts.push(b);
      }
      k += n;
    }
    throw new GuestFault(addr); // ENAMETOOLONG territory; callers map it
  }

  readU64(addr: number): number {
    const b = this.read(addr, 8);
    const dv = new DataView(b.buffer);
    return dv.getUint32(0, true) + dv.getUint32(4, true) * 4294967296;
  }

  readI64(addr: number): number {
    const b = this.read(addr, 8);
    const dv = new DataView(b.buffer);
    return dv.getUint32(0, true) + dv.getInt32(4, true) * 4294967296;
  }

  readU32(addr: number): number {
    const b = this.read(addr, 4);
    return new DataView(b.buffer).getUint32(0, true);
  }

  writeU64(addr: number, v: number | bigint): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, BigInt(v)), true);
    this.write(addr, b);
  }

  writeU32(addr: number, v: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v >>> 0, true);
    this.write(addr, b);
  }
}
