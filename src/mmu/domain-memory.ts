/**
 * A PV domain's machine memory: its RAM frames, the hypervisor-owned frames
 * it may map (shared_info, grant-table frames), and the read-only M2P pages
 * it sees in the Xen hole — all in one buffer, so every translation is an
 * offset into it.
 *
 * MFNs are chosen here: frame f of the buffer is MFN `baseMfn + f`, and
 * guest PFN p lives in frame p, so MFN = PFN + baseMfn (never equal, which
 * keeps PFN/MFN mix-ups visible). The M2P is stored in its guest-visible
 * form (u64 PFN per MFN, ~0 when none) in the mirror frames.
 */
import { MACH2PHYS_VIRT_START } from '../hypercall/abi.ts';

export const PAGE_SIZE = 4096;
/** Hypervisor-owned frames a domain may map: shared_info + up to 32 grant-table frames + spare. */
export const SPECIAL_FRAMES = 40;
export const INVALID_M2P_ENTRY = -1; // ~0 in both halves

export class DomainMemory {
  readonly ram: Uint8Array;
  readonly dv: DataView;
  /** Guest RAM pages (PFN 0 .. nrPages-1). */
  readonly nrPages: number;
  /** MFN of frame 0. */
  readonly baseMfn: number;
  /** First frame index of the special (hypervisor-owned) frames. */
  readonly specialBase: number;
  private nextSpecial: number;
  /** First frame index of the M2P mirror; number of mirror frames. */
  readonly m2pBase: number;
  readonly m2pFrames: number;
  readonly totalFrames: number;
  /** P2M as the hypervisor sees it: PFN → MFN (-1 when not populated). */
  readonly p2m: Int32Array;

  constructor(nrPages: number, baseMfn: number) {
    if (baseMfn % 512 !== 0) throw new Error('baseMfn must be a multiple of 512 (M2P page alignment)');
    this.nrPages = nrPages;
    this.baseMfn = baseMfn;
    this.specialBase = nrPages;
    this.nextSpecial = nrPages;
    this.m2pBase = nrPages + SPECIAL_FRAMES;
    const covered = nrPages + SPECIAL_FRAMES;
    this.m2pFrames = Math.ceil((covered * 8) / PAGE_SIZE);
    this.totalFrames = this.m2pBase + this.m2pFrames;
    if (this.totalFrames * PAGE_SIZE > 0x7fff0000) throw new Error(`domain too large: ${nrPages} pages (at most ~2 GiB)`);
    this.ram = new Uint8Array(this.totalFrames * PAGE_SIZE);
    this.dv = new DataView(this.ram.buffer);
    this.p2m = new Int32Array(nrPages);
    // Every M2P entry starts invalid (~0), then RAM frames map to their PFNs.
    this.ram.fill(0xff, this.m2pBase * PAGE_SIZE);
    for (let pfn = 0; pfn < nrPages; pfn++) {
      this.p2m[pfn] = baseMfn + pfn;
      this.setM2p(baseMfn + pfn, pfn);
    }
  }

  /** Frame index of an MFN in this buffer, or -1 when the MFN is not this domain's. */
  frameOf(mfn: number): number {
    const f = mfn - this.baseMfn;
    return f >= 0 && f < this.m2pBase ? f : -1;
  }

  isRamMfn(mfn: number): boolean {
    const f = mfn - this.baseMfn;
    return f >= 0 && f < this.nrPages;
  }

  /** Byte offset of an MFN's first byte, or -1. */
  offsetOfMfn(mfn: number): number {
    const f = this.frameOf(mfn);
    return f < 0 ? -1 : f * PAGE_SIZE;
  }

  pfnToMfn(pfn: number): number {
    return pfn >= 0 && pfn < this.nrPages ? this.p2m[pfn]! : -1;
  }

  /** M2P lookup: the PFN of an MFN, or -1. */
  m2p(mfn: number): number {
    const f = mfn - this.baseMfn;
    if (f < 0 || f >= this.m2pBase) return -1;
    const o = this.m2pBase * PAGE_SIZE + f * 8;
    const lo = this.dv.getInt32(o, true), hi = this.dv.getInt32(o + 4, true);
    return hi === 0 && lo >= 0 ? lo : -1;
  }

  /** MMU_MACHPHYS_UPDATE: set M2P[mfn] (pfn -1 = invalid). Returns false for an MFN not owned. */
  setM2p(mfn: number, pfn: number): boolean {
    const f = mfn - this.baseMfn;
    if (f < 0 || f >= this.m2pBase) return false;
    const o = this.m2pBase * PAGE_SIZE + f * 8;
    this.dv.setInt32(o, pfn, true);
    this.dv.setInt32(o + 4, pfn < 0 ? -1 : 0, true);
    return true;
  }

  /** Allocate a hypervisor-owned frame (zeroed, M2P invalid); returns its MFN. */
  allocSpecial(): number {
    if (this.nextSpecial >= this.specialBase + SPECIAL_FRAMES) throw new Error('out of special frames');
    const f = this.nextSpecial++;
    this.ram.fill(0, f * PAGE_SIZE, (f + 1) * PAGE_SIZE);
    return this.baseMfn + f;
  }

  /** Is this MFN one of the hypervisor-owned frames (mappable but not RAM)? */
  isSpecialMfn(mfn: number): boolean {
    const f = mfn - this.baseMfn;
    return f >= this.specialBase && f < this.nextSpecial;
  }

  /**
   * The guest-visible M2P page for linear page `vpage` of the read-only
   * M2P area (page index from MACH2PHYS_VIRT_START), or -1 when that part of
   * the table belongs to MFNs outside this domain (a hole: reads fault).
   */
  m2pFrameForPage(vpage: number): number {
    const k = vpage - this.baseMfn / 512;
    return k >= 0 && k < this.m2pFrames ? this.m2pBase + k : -1;
  }

  /** Highest MFN the domain can see (for XENMEM_machphys_mapping). */
  get maxMfn(): number {
    return this.baseMfn + this.m2pBase - 1;
  }

  // ---- byte helpers by MFN (the hypervisor's own accesses)

  readU64Parts(mfn: number, byteOff: number, out: Int32Array): boolean {
    const o = this.offsetOfMfn(mfn);
    if (o < 0) return false;
    out[0] = this.dv.getInt32(o + byteOff, true);
    out[1] = this.dv.getInt32(o + byteOff + 4, true);
    return true;
  }
}

export { MACH2PHYS_VIRT_START };
