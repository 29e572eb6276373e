/**
 * A simple MMU for user-mode programs and CPU tests: a page map from linear
 * pages to RAM pages with read/write/exec permissions (no guest page tables).
 * RAM pages are handed out on demand from one buffer. `run-elf` and the CPU
 * differential tests use it; the Xen PV MMU implements the same interface.
 */
import type { Mmu } from '../cpu/mmu-interface.ts';
import { Tlb } from '../cpu/tlb.ts';
import { ACC_EXEC, ACC_WRITE, PFEC_I, PFEC_P, PFEC_U, PFEC_W } from '../cpu/state.ts';

export const PROT_READ = 1, PROT_WRITE = 2, PROT_EXEC = 4;

export class OutOfMemory extends Error {}

export class PagedMemory implements Mmu {
  readonly ram: Uint8Array;
  readonly tlb = new Tlb();
  faultCode = 0;
  /** linear page number (as a double: hi * 2^20 + lo >>> 12) → RAM page << 3 | prot */
  private readonly pages = new Map<number, number>();
  private nextFree = 0;
  private readonly freeList: number[] = [];
  /** RAM pages holding cached code: writes to them must miss the TLB. */
  private readonly codePages: Uint8Array;

  constructor(ramBytes = 256 << 20) {
    this.ram = new Uint8Array(ramBytes);
    this.codePages = new Uint8Array(ramBytes >>> 12);
  }

  static pageKey(lo: number, hi: number): number {
    return hi * 1048576 + (lo >>> 12);
  }

  /** Map [addr, addr+len) (page-aligned, as a JS number; canonical addresses only) with fresh zeroed pages. */
  map(addr: number, len: number, prot: number): void {
    for (let a = addr; a < addr + len; a += 4096) {
      const key = Math.floor(a / 4096);
      const old = this.pages.get(key);
      if (old !== undefined) {
        this.pages.set(key, (old & ~7) | prot);
        continue;
      }
      const page = this.allocPage();
      this.ram.fill(0, page << 12, (page + 1) << 12);
      this.pages.set(key, (page << 3) | prot);
    }
    this.tlb.flush();
  }

  unmap(addr: number, len: number): void {
    for (let a = addr; a < addr + len; a += 4096) {
      const key = Math.floor(a / 4096);
      const e = this.pages.get(key);
      if (e === undefined) continue;
      this.pages.delete(key);
      this.freeList.push(e >>> 3);
    }
    this.tlb.flush();
  }

  protect(addr: number, len: number, prot: number): void {
    for (let a = addr; a < addr + len; a += 4096) {
      const key = Math.floor(a / 4096);
      const e = this.pages.get(key);
      if (e !== undefined) this.pages.set(key, (e & ~7) | prot);
    }
    this.tlb.flush();
  }

  isMapped(addr: number): boolean {
    return this.pages.has(Math.floor(addr / 4096));
  }

  private allocPage(): number {
    const p = this.freeList.pop();
    if (p !== undefined) return p;
    if ((this.nextFree + 1) << 12 > this.ram.length) throw new OutOfMemory('guest memory exhausted');
    return this.nextFree++;
  }

  /** RAM offset of a linear address (no permission check), or -1 if unmapped. */
  offsetOf(addr: number): number {
    const e = this.pages.get(Math.floor(addr / 4096));
    return e === undefined ? -1 : ((e >>> 3) << 12) + (addr % 4096);
  }

  /** Copy bytes into mapped memory (ignores permissions; the loader uses it). */
  writeBytes(addr: number, data: Uint8Array): void {
    for (let k = 0; k < data.length; ) {
      const off = this.offsetOf(addr + k);
      if (off < 0) throw new Error(`writeBytes: 0x${(addr + k).toString(16)} not mapped`);
      const n = Math.min(4096 - ((addr + k) % 4096), data.length - k);
      this.ram.set(data.subarray(k, k + n), off);
      k += n;
    }
  }

  readBytes(addr: number, len: number): Uint8Array {
    const out = new Uint8Array(len);
    for (let k = 0; k < len; ) {
      const off = this.offsetOf(addr + k);
      if (off < 0) throw new Error(`readBytes: 0x${(addr + k).toString(16)} not mapped`);
      const n = Math.min(4096 - ((addr + k) % 4096), len - k);
      out.set(this.ram.subarray(off, off + n), k);
      k += n;
    }
    return out;
  }

  translate(lo: number, hi: number, access: number, user: boolean): number {
    const e = this.pages.get(PagedMemory.pageKey(lo, hi));
    const u = user ? PFEC_U : 0;
    if (e === undefined) {
      this.faultCode = u | (access === ACC_WRITE ? PFEC_W : 0) | (access === ACC_EXEC ? PFEC_I : 0);
      return -1;
    }
    const prot = e & 7;
    const page = e >>> 3;
    const need = access === ACC_WRITE ? PROT_WRITE : access === ACC_EXEC ? PROT_EXEC : PROT_READ;
    if ((prot & need) === 0) {
      this.faultCode = PFEC_P | u | (access === ACC_WRITE ? PFEC_W : 0) | (access === ACC_EXEC ? PFEC_I : 0);
      return -1;
    }
    if (access === ACC_WRITE) {
      if (!this.codePages[page]) this.tlb.write.set(lo, hi, page);
      // Writable implies readable here (x86 has no write-only pages).
      this.tlb.read.set(lo, hi, page);
    } else if (access === ACC_EXEC) this.tlb.exec.set(lo, hi, page);
    else this.tlb.read.set(lo, hi, page);
    return (page << 12) | (lo & 0xfff);
  }

  protectCode(page: number): void {
    this.codePages[page] = 1;
    this.tlb.write.invalidateRamPage(page);
  }

  unprotectCode(page: number): void {
    this.codePages[page] = 0;
  }
}
