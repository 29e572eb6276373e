/**
 * The MMU of one PV vCPU: walks the guest's 4-level page tables (which hold
 * MFNs) in its domain's machine memory, enforces present/RW/US/NX, sets the
 * accessed and dirty bits as hardware does, and fills the CPU's TLB — our
 * shadow of the guest tables, flushed exactly when the ABI says.
 *
 * Guest-kernel and guest-user mode have separate roots (64-bit PV); in
 * guest-kernel mode the U bit is ignored (no SMEP/SMAP), in guest-user mode
 * every level must have U. The Xen hole (L4 slots 256-271) is ours: only
 * the read-only M2P is visible there.
 */
import type { Mmu } from '../cpu/mmu-interface.ts';
import { Tlb } from '../cpu/tlb.ts';
import { ACC_EXEC, ACC_WRITE, PFEC_I, PFEC_P, PFEC_RSVD, PFEC_U, PFEC_W } from '../cpu/state.ts';
import { DomainMemory, PAGE_SIZE } from './domain-memory.ts';

/** PTE bits. */
export const _PAGE_PRESENT = 1 << 0, _PAGE_RW = 1 << 1, _PAGE_USER = 1 << 2, _PAGE_PWT = 1 << 3, _PAGE_PCD = 1 << 4;
export const _PAGE_ACCESSED = 1 << 5, _PAGE_DIRTY = 1 << 6, _PAGE_PSE = 1 << 7, _PAGE_GLOBAL = 1 << 8;
/** NX is bit 63: bit 31 of the high half. */
export const _PAGE_NX_HI = 1 << 31;

/** MFN field of a PTE given as (lo, hi): bits 12-51. */
export function pteMfn(lo: number, hi: number): number {
  return (lo >>> 12) + (hi & 0xfffff) * 1048576;
}

export class PvMmu implements Mmu {
  readonly ram: Uint8Array;
  readonly tlb = new Tlb();
  faultCode = 0;
  readonly mem: DomainMemory;
  private readonly dv: DataView;
  /** Guest-kernel mode (TF_kernel_mode) or guest-user mode. */
  kernelMode = true;
  /** L4 MFNs: guest_table and guest_table_user (0 = none). */
  kernelRoot = 0;
  userRoot = 0;
  /** RAM pages whose decoded code the CPU caches: never put them in the write TLB. */
  private readonly codePages: Uint8Array;
  /** Walks performed (statistics). */
  walks = 0;

  constructor(mem: DomainMemory) {
    this.mem = mem;
    this.ram = mem.ram;
    this.dv = mem.dv;
    this.codePages = new Uint8Array(mem.totalFrames);
  }

  get root(): number {
    return this.kernelMode ? this.kernelRoot : this.userRoot;
  }

  /** Switch between guest-kernel and guest-user mode (the TLB is per mode: flush). */
  setKernelMode(kernel: boolean): void {
    if (this.kernelMode === kernel) return;
    this.kernelMode = kernel;
    this.tlb.flush();
  }

  setKernelRoot(mfn: number): void {
    this.kernelRoot = mfn;
    if (this.kernelMode) this.tlb.flush();
  }

  setUserRoot(mfn: number): void {
    this.userRoot = mfn;
    if (!this.kernelMode) this.tlb.flush();
  }

  flush(): void {
    this.tlb.flush();
  }

  invalidatePage(lo: number, hi: number): void {
    this.tlb.invalidatePage(lo, hi);
  }

  /**
   * Walk for (lo, hi) in the current mode. On success returns the RAM offset
   * of the byte; on failure -1 with faultCode set. `setAD` updates
   * accessed/dirty bits as hardware does (false for the hypervisor's own
   * look-ups, e.g. when decoding a faulting instruction).
   */
  walk(lo: number, hi: number, access: number, setAD: boolean, fill: boolean): number {
    const user = !this.kernelMode;
    const u = user ? PFEC_U : 0;
    const acc = (access === ACC_WRITE ? PFEC_W : 0) | (access === ACC_EXEC ? PFEC_I : 0);
    const uhi = hi >>> 0;
    // The Xen hole: 0xffff800000000000 - 0xffff87ffffffffff.
    if (uhi >= 0xffff8000 && uhi < 0xffff8800) {
      if (uhi < 0xffff8040 && access !== ACC_WRITE && access !== ACC_EXEC) {
        const vpage = ((uhi - 0xffff8000) * 1048576) + (lo >>> 12);
        const f = this.mem.m2pFrameForPage(vpage);
        if (f >= 0) {
          if (fill) this.tlb.read.set(lo, hi, f);
          return f * PAGE_SIZE + (lo & 0xfff);
        }
      }
      this.faultCode = u | acc | (access === ACC_WRITE && uhi < 0xffff8040 ? PFEC_P : 0);
      return -1;
    }
    const root = this.root;
    if (root === 0) {
      this.faultCode = u | acc;
      return -1;
    }
    this.walks++;
    const dv = this.dv;
    let table = this.mem.offsetOfMfn(root);
    if (table < 0) {
      this.faultCode = u | acc;
      return -1;
    }
    const idx4 = (hi >>> 7) & 511;
    const idx3 = ((hi & 0x7f) << 2) | (lo >>> 30);
    const idx2 = (lo >>> 21) & 511;
    const idx1 = (lo >>> 12) & 511;
    let rw = true, us = true, nx = false;
    let frameOff = -1;
    for (let level = 4; level >= 1; level--) {
      const index = level === 4 ? idx4 : level === 3 ? idx3 : level === 2 ? idx2 : idx1;
      const eo = table + index * 8;
      let e = dv.getInt32(eo, true);
      const eh = dv.getInt32(eo + 4, true);
      if ((e & _PAGE_PRESENT) === 0) {
        this.faultCode = u | acc;
        return -1;
      }
      if (level > 1 && e & _PAGE_PSE) {
        // PV guests may not use superpages (validation refuses them): a reserved-bit fault.
        this.faultCode = u | acc | PFEC_P | PFEC_RSVD;
        return -1;
      }
      if ((e & _PAGE_RW) === 0) rw = false;
      if ((e & _PAGE_USER) === 0) us = false;
      if (eh & _PAGE_NX_HI) nx = true;
      const next = this.mem.offsetOfMfn(pteMfn(e, eh));
      if (next < 0) {
        this.faultCode = u | acc | PFEC_P | PFEC_RSVD;
        return -1;
      }
      if (setAD) {
        let ne = e | _PAGE_ACCESSED;
        if (level === 1 && access === ACC_WRITE) ne |= _PAGE_DIRTY;
        if (ne !== e) {
          // Only once the access is known to be permitted (checked below for level 1).
          if (level > 1 || this.permitted(access, user, rw, us, nx)) dv.setInt32(eo, ne, true);
          e = ne;
        }
      }
      if (level === 1) frameOff = next;
      else table = next;
    }
    if (!this.permitted(access, user, rw, us, nx)) {
      this.faultCode = u | acc | PFEC_P;
      return -1;
    }
    if (fill) {
      const page = frameOff / PAGE_SIZE;
      if (access === ACC_WRITE) {
        if (!this.codePages[page]) this.tlb.write.set(lo, hi, page);
        this.tlb.read.set(lo, hi, page);
      } else if (access === ACC_EXEC) this.tlb.exec.set(lo, hi, page);
      else this.tlb.read.set(lo, hi, page);
    }
    return frameOff + (lo & 0xfff);
  }

  private permitted(access: number, user: boolean, rw: boolean, us: boolean, nx: boolean): boolean {
    if (user && !us) return false;
    if (access === ACC_WRITE && !rw) return false;
    if (access === ACC_EXEC && nx) return false;
    return true;
  }

  translate(lo: number, hi: number, access: number, _user: boolean): number {
    // The CPU runs a PV guest at CPL 3 in both modes; the mode that matters is ours.
    return this.walk(lo, hi, access, true, true);
  }

  /** The RAM offset a linear address maps to for the hypervisor's own reads (no A/D update, no TLB fill). */
  peek(lo: number, hi: number, access = 0): number {
    return this.walk(lo, hi, access, false, false);
  }

  /**
   * Let the next write to this linear page through once, whatever its
   * permissions (writable-page-table emulation steps the faulting store
   * with it, then validates what changed). Returns the RAM page or -1.
   */
  allowWriteOnce(lo: number, hi: number): number {
    const off = this.walk(lo, hi, 0, false, false);
    if (off < 0) return -1;
    const page = Math.floor(off / PAGE_SIZE);
    this.tlb.write.set(lo, hi, page);
    return page;
  }

  protectCode(page: number): void {
    this.codePages[page] = 1;
    this.tlb.write.invalidateRamPage(page);
  }

  unprotectCode(page: number): void {
    this.codePages[page] = 0;
  }
}
