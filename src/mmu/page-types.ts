/**
 * PV page types and type reference counts: the rules that keep a PV guest
 * from ever writing its own page tables directly (xen/arch/x86/mm.c:
 * get_page_from_l{1,2,3,4}e, promote_l*_table, _get_page_type,
 * _put_page_type, mod_l*_entry; simplified, faithful where it matters).
 *
 * Every frame the domain can map (its RAM and the hypervisor-owned special
 * frames) has a type — none, writable, L1..L4 or seg_desc — with a count of
 * the references that hold it in that type, a "validated" flag and a
 * "pinned" flag. The type can change only while the count is zero, so:
 *  - a present RW L1 entry (in a validated L1) holds a *writable* reference
 *    on the frame it maps, so that frame can't become a page table;
 *  - a present L2/L3/L4 entry holds an L1/L2/L3 reference on its target,
 *    which validates that table (recursively) on its first reference;
 *  - pins and installed base pointers hold references of their own.
 * When a page-table type's count drops to zero it is devalidated and the
 * references its entries held are dropped (recursively).
 *
 * Entries travel as two int32 halves (lo = bits 0-31, hi = bits 32-63); no
 * BigInt and no allocation on these paths (mmu_update and writable page
 * tables run them thousands of times during boot).
 *
 * Simplifications against Xen (see also the hypercall module):
 *  - no linear (recursive) page tables: an L2/L3/L4 entry must point at a
 *    table exactly one level down (Xen with pv-linear-pt=false);
 *  - only RAM frames can become page tables (Xen's special frames carry a
 *    permanent writable reference, which has the same effect);
 *  - no preemption: a deep validation runs to completion;
 *  - a frame's general reference count (count_info) is not modelled.
 */
import { XEN_EBUSY, XEN_EINVAL, XEN_EPERM } from '../hypercall/abi.ts';
import { DomainMemory, PAGE_SIZE } from './domain-memory.ts';
import { pteMfn, _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_GLOBAL, _PAGE_PCD, _PAGE_PRESENT, _PAGE_PSE, _PAGE_PWT, _PAGE_RW, _PAGE_USER } from './pv-mmu.ts';

/** Page types (Xen's PGT_*; the numbering is ours: PGT_l1 + n - 1 is the level-n table type). */
export const PGT_none = 0, PGT_writable = 1, PGT_l1 = 2, PGT_l2 = 3, PGT_l3 = 4, PGT_l4 = 5, PGT_seg_desc = 6;
export const PGT_NAMES = ['none', 'writable', 'l1', 'l2', 'l3', 'l4', 'seg_desc'] as const;

const F_VALIDATED = 1, F_PINNED = 2;

/** L4 slots owned by Xen (256-271 = 0xffff800000000000-0xffff87ffffffffff; xen/arch/x86/include/asm/config.h). */
export const ROOT_PAGETABLE_FIRST_XEN_SLOT = 256, ROOT_PAGETABLE_LAST_XEN_SLOT = 271;

/** The "machine" MFN space xenjs claims (CPUID 0x80000008 physical width 40 → MFN < 2^28; pv-abi §3.1). */
export const MACHINE_MFN_LIMIT = 2 ** 28;
/** Xen's INVALID_MFN as a PTE can encode it (PADDR_MASK >> PAGE_SHIFT, 40 bits of ones). */
export const PTE_INVALID_MFN = 2 ** 40 - 1;

// PTE flags that live in the high half, as bits of `hi` (PTE bits 52 and 62).
/** _PAGE_GUEST_KERNEL: Xen marks kernel mappings it gave U to (pte bit 52). */
export const _PAGE_GUEST_KERNEL_HI = 1 << 20;
/** _PAGE_GNTTAB (pte bit 62): reserved for grant mappings, refused in guest L1 entries. */
export const _PAGE_GNTTAB_HI = 1 << 30;

/**
 * xen base_disallow_mask: everything but P, RW, US, A, D, AVAIL (9-11),
 * AVAIL_HIGH (52-62) and NX — i.e. PWT, PCD, PSE and G in the low 12 bits.
 */
export const BASE_DISALLOW_LO = _PAGE_PWT | _PAGE_PCD | _PAGE_PSE | _PAGE_GLOBAL;
/** l1_disallow_mask for a domU (no cache-flush permission): base | GNTTAB, minus G — PWT, PCD, PAT and bit 62. */
export const L1_DISALLOW_LO = _PAGE_PWT | _PAGE_PCD | _PAGE_PSE; // bit 7 is PAT in an L1 entry
export const L1_DISALLOW_HI = _PAGE_GNTTAB_HI;

/**
 * Bits whose change never requires a TLB flush: A, D, G, the software bits
 * 9-11 and 52-62. (A stale TLB entry after an A/D change is what hardware
 * gives too; P, RW, U, NX, the caching bits and the frame are what matter.)
 */
const NOFLUSH_LO = _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_GLOBAL | 0xe00;
const NOFLUSH_HI = 0x7ff00000;

/** The type of a level-n table. */
export function tableType(level: number): number {
  return PGT_l1 + level - 1;
}

export function isXenL4Slot(index: number): boolean {
  return index >= ROOT_PAGETABLE_FIRST_XEN_SLOT && index <= ROOT_PAGETABLE_LAST_XEN_SLOT;
}

/**
 * Xen's adjust_guest_l*e for a 64-bit PV guest: returns the new low half
 * (the high half may gain _PAGE_GUEST_KERNEL: read it from `adjustedHi`).
 * L1: a kernel entry (no U) gets U and _PAGE_GUEST_KERNEL, a user entry G;
 * L2/L3: U; L4: U and A.
 */
let adjustedHi = 0;
function adjust(level: number, lo: number, hi: number): number {
  adjustedHi = hi;
  if ((lo & _PAGE_PRESENT) === 0) return lo;
  if (level === 1) {
    if ((lo & _PAGE_USER) === 0) {
      lo |= _PAGE_USER;
      adjustedHi = hi | _PAGE_GUEST_KERNEL_HI;
    }
    if ((adjustedHi & _PAGE_GUEST_KERNEL_HI) === 0) lo |= _PAGE_GLOBAL | _PAGE_USER;
    return lo;
  }
  if (level === 4) return lo | _PAGE_USER | _PAGE_ACCESSED;
  return lo | _PAGE_USER;
}

export class PageTypes {
  readonly mem: DomainMemory;
  /** Frames tracked: RAM then the special frames (index = MFN - baseMfn). */
  readonly frames: number;
  readonly type: Uint8Array;
  readonly count: Int32Array;
  readonly flags: Uint8Array;
  /**
   * General references the hypervisor holds on frames besides type
   * references (Xen's get_page): grant pins by other domains. A frame the
   * guest gives back while referenced is not handed out again until they go.
   */
  readonly refs: Int32Array;
  /** The domain's memory as 64-bit words, for a fast compare of a table frame with its snapshot (see commitTableWrite). */
  readonly ram64: Float64Array;
  private readonly dv: DataView;
  /**
   * Set when an entry that was present changed in a way the TLB caches
   * (frame, P, RW, U, NX, caching bits). Callers flush every vCPU's TLB
   * and clear it.
   */
  needFlush = false;
  /** Base-pointer references held per vCPU id (MFN, 0 = none): guest_table and guest_table_user. */
  readonly kernelRootRef: number[] = [];
  readonly userRootRef: number[] = [];
  /** Entry indices changed by a writable-page-table store (scratch). */
  private readonly changed = new Int16Array(512);

  constructor(mem: DomainMemory) {
    this.mem = mem;
    this.frames = mem.m2pBase;
    this.type = new Uint8Array(this.frames);
    this.count = new Int32Array(this.frames);
    this.flags = new Uint8Array(this.frames);
    this.refs = new Int32Array(this.frames);
    this.dv = mem.dv;
    this.ram64 = new Float64Array(mem.ram.buffer, mem.ram.byteOffset, mem.ram.byteLength >> 3);
  }

  // ------------------------------------------------------------- ownership

  /** Frame index of a RAM MFN the domain owns (populated in its P2M), or -1. */
  ownedRam(mfn: number): number {
    const f = mfn - this.mem.baseMfn;
    return f >= 0 && f < this.mem.nrPages && this.mem.p2m[f] === mfn ? f : -1;
  }

  /** Frame index of an MFN an L1 entry may map: owned RAM or an allocated special frame; else -1. */
  mappable(mfn: number): number {
    const f = this.ownedRam(mfn);
    if (f >= 0) return f;
    return this.mem.isSpecialMfn(mfn) ? mfn - this.mem.baseMfn : -1;
  }

  /** Xen's error for an L1 entry naming an MFN the domain may not map (get_page_from_l1e). */
  static unmappableError(mfn: number): number {
    if (mfn === PTE_INVALID_MFN) return -XEN_EINVAL;
    // Machine RAM owned by someone else (another domain, Xen, or free): "could not pin".
    if (mfn < MACHINE_MFN_LIMIT) return -XEN_EBUSY;
    // Not RAM at all: MMIO the domain has no iomem permission for.
    return -XEN_EPERM;
  }

  // ------------------------------------------------------------- queries

  typeOf(mfn: number): number {
    const f = mfn - this.mem.baseMfn;
    return f >= 0 && f < this.frames ? this.type[f]! : -1;
  }
  typeCount(mfn: number): number {
    const f = mfn - this.mem.baseMfn;
    return f >= 0 && f < this.frames ? this.count[f]! : 0;
  }
  isPinned(mfn: number): boolean {
    const f = mfn - this.mem.baseMfn;
    return f >= 0 && f < this.frames && (this.flags[f]! & F_PINNED) !== 0;
  }
  isValidated(mfn: number): boolean {
    const f = mfn - this.mem.baseMfn;
    return f >= 0 && f < this.frames && (this.flags[f]! & F_VALIDATED) !== 0;
  }

  /** 1-4 when frame index `f` is an in-use (referenced, validated) page table, else 0. */
  inUseLevel(f: number): number {
    if (f < 0 || f >= this.frames || this.count[f] === 0 || (this.flags[f]! & F_VALIDATED) === 0) return 0;
    const t = this.type[f]!;
    return t >= PGT_l1 && t <= PGT_l4 ? t - PGT_l1 + 1 : 0;
  }

  // ------------------------------------------------------------- type references

  /**
   * Take a type reference of type `t` on frame `f` (Xen's _get_page_type):
   * the first reference may change the type and validates page tables.
   * Returns 0 or a negative errno (the frame is then untouched).
   */
  getType(f: number, t: number): number {
    const c = this.count[f]!;
    if (c > 0) {
      // Not the type it is in use as; or (only via a cycle) still being validated.
      if (this.type[f] !== t || (this.flags[f]! & F_VALIDATED) === 0) return -XEN_EINVAL;
      this.count[f] = c + 1;
      return 0;
    }
    if (this.type[f] !== t) {
      this.type[f] = t;
      this.flags[f] = this.flags[f]! & ~F_VALIDATED;
    }
    this.count[f] = 1;
    if (this.flags[f]! & F_VALIDATED) return 0;
    if (t >= PGT_l1 && t <= PGT_l4) {
      const rc = this.promote(f, t - PGT_l1 + 1);
      if (rc < 0) {
        // Xen: type_info = 0.
        this.type[f] = PGT_none;
        this.count[f] = 0;
        this.flags[f] = 0;
        return rc;
      }
    }
    this.flags[f] = this.flags[f]! | F_VALIDATED;
    return 0;
  }

  /** Drop a type reference; the last one on a page table devalidates it (dropping its entries' references). */
  putType(f: number): void {
    const c = this.count[f]! - 1;
    if (c < 0) return; // never taken (defensive: a bug, not a guest action)
    this.count[f] = c;
    if (c !== 0) return;
    const t = this.type[f]!;
    if (t >= PGT_l1 && t <= PGT_l4) {
      if (this.flags[f]! & F_VALIDATED) {
        this.flags[f] = this.flags[f]! & ~F_VALIDATED;
        this.demote(f, t - PGT_l1 + 1);
      }
    } else if (t === PGT_seg_desc) {
      this.flags[f] = this.flags[f]! & ~F_VALIDATED;
    }
  }

  /** Take a type reference by MFN on an owned RAM frame (e.g. seg_desc for set_gdt). */
  getTypeMfn(mfn: number, t: number): number {
    const f = this.ownedRam(mfn);
    return f < 0 ? -XEN_EINVAL : this.getType(f, t);
  }
  putTypeMfn(mfn: number): void {
    const f = mfn - this.mem.baseMfn;
    if (f >= 0 && f < this.frames) this.putType(f);
  }

  // ------------------------------------------------------------- entries

  /**
   * get_page_from_l1e for a present entry: check its flags and frame, and
   * take the writable reference a RW mapping holds. 0 or a negative errno.
   */
  getL1e(lo: number, hi: number): number {
    if ((lo & L1_DISALLOW_LO) !== 0 || (hi & L1_DISALLOW_HI) !== 0) return -XEN_EINVAL;
    const mfn = pteMfn(lo, hi);
    const f = this.mappable(mfn);
    if (f < 0) return PageTypes.unmappableError(mfn);
    // A page table (or descriptor page) may never be mapped writable: Xen's "could not pin".
    if ((lo & _PAGE_RW) !== 0 && this.getType(f, PGT_writable) < 0) return -XEN_EBUSY;
    return 0;
  }

  /** put_page_from_l1e: drop what getL1e took for an entry of a validated L1. */
  putL1e(lo: number, hi: number): void {
    if ((lo & (_PAGE_PRESENT | _PAGE_RW)) !== (_PAGE_PRESENT | _PAGE_RW)) return;
    const f = pteMfn(lo, hi) - this.mem.baseMfn;
    if (f >= 0 && f < this.frames) this.putType(f);
  }

  /**
   * get_page_from_l{2,3,4}e for a present entry of a level-`level` table:
   * its target must be an owned RAM frame that is (or validates as) a table
   * one level down.
   */
  getUpperEntry(level: number, lo: number, hi: number): number {
    if ((lo & BASE_DISALLOW_LO) !== 0) return -XEN_EINVAL;
    const f = this.ownedRam(pteMfn(lo, hi));
    if (f < 0) return -XEN_EINVAL;
    return this.getType(f, tableType(level - 1));
  }

  putUpperEntry(lo: number, hi: number): void {
    if ((lo & _PAGE_PRESENT) === 0) return;
    const f = pteMfn(lo, hi) - this.mem.baseMfn;
    if (f >= 0 && f < this.mem.nrPages) this.putType(f);
  }

  /** Validate one new entry of a level-`level` table (present or not). */
  private getEntry(level: number, lo: number, hi: number): number {
    if ((lo & _PAGE_PRESENT) === 0) return 0;
    return level === 1 ? this.getL1e(lo, hi) : this.getUpperEntry(level, lo, hi);
  }

  private putEntry(level: number, lo: number, hi: number): void {
    if (level === 1) this.putL1e(lo, hi);
    else this.putUpperEntry(lo, hi);
  }

  // ------------------------------------------------------------- validation

  /** promote_l{1,2,3,4}_table: validate every guest entry, adjusting them as Xen does. */
  private promote(f: number, level: number): number {
    const dv = this.dv;
    const base = f * PAGE_SIZE;
    for (let i = 0; i < 512; i++) {
      if (level === 4 && isXenL4Slot(i)) continue;
      const o = base + i * 8;
      const lo = dv.getInt32(o, true);
      if ((lo & _PAGE_PRESENT) === 0) continue;
      const hi = dv.getInt32(o + 4, true);
      const rc = this.getEntry(level, lo, hi);
      if (rc < 0) {
        for (let j = 0; j < i; j++) {
          if (level === 4 && isXenL4Slot(j)) continue;
          const oj = base + j * 8;
          this.putEntry(level, dv.getInt32(oj, true), dv.getInt32(oj + 4, true));
        }
        return rc;
      }
      const nlo = adjust(level, lo, hi);
      if (nlo !== lo) dv.setInt32(o, nlo, true);
      if (adjustedHi !== hi) dv.setInt32(o + 4, adjustedHi, true);
    }
    if (level === 4) {
      // Xen fills its own slots of a guest L4 (init_xen_l4_slots): whatever the guest put there is gone.
      this.mem.ram.fill(0, base + ROOT_PAGETABLE_FIRST_XEN_SLOT * 8, base + (ROOT_PAGETABLE_LAST_XEN_SLOT + 1) * 8);
    }
    return 0;
  }

  /** demote_l*_table / free_page_type: drop the references every entry holds. */
  private demote(f: number, level: number): void {
    const dv = this.dv;
    const base = f * PAGE_SIZE;
    for (let i = 0; i < 512; i++) {
      if (level === 4 && isXenL4Slot(i)) continue;
      const o = base + i * 8;
      const lo = dv.getInt32(o, true);
      if ((lo & _PAGE_PRESENT) === 0) continue;
      this.putEntry(level, lo, dv.getInt32(o + 4, true));
    }
  }

  // ------------------------------------------------------------- pinning

  /** MMUEXT_PIN_Ln_TABLE: validate as level `level` and hold the type. */
  pin(mfn: number, level: number): number {
    const f = this.ownedRam(mfn);
    if (f < 0) return -XEN_EINVAL;
    const rc = this.getType(f, tableType(level));
    if (rc < 0) return rc;
    if (this.flags[f]! & F_PINNED) {
      this.putType(f);
      return -XEN_EINVAL; // already pinned
    }
    this.flags[f] = this.flags[f]! | F_PINNED;
    return 0;
  }

  /** MMUEXT_UNPIN_TABLE. */
  unpin(mfn: number): number {
    const f = this.ownedRam(mfn);
    if (f < 0 || (this.flags[f]! & F_PINNED) === 0) return -XEN_EINVAL;
    this.flags[f] = this.flags[f]! & ~F_PINNED;
    this.putType(f);
    return 0;
  }

  // ------------------------------------------------------------- updates

  private noteChange(oldLo: number, oldHi: number, newLo: number, newHi: number): void {
    if ((oldLo & _PAGE_PRESENT) !== 0 && (((oldLo ^ newLo) & ~NOFLUSH_LO) !== 0 || ((oldHi ^ newHi) & ~NOFLUSH_HI) !== 0)) {
      this.needFlush = true;
    }
  }

  /**
   * mod_l{1,2,3,4}_entry: replace entry `index` of the in-use level-`level`
   * table in frame `f`, validating the new value and moving references.
   */
  modEntry(f: number, level: number, index: number, lo: number, hi: number, preserveAD: boolean): number {
    if (level === 4 && isXenL4Slot(index)) return -XEN_EINVAL;
    const dv = this.dv;
    const o = f * PAGE_SIZE + index * 8;
    const oldLo = dv.getInt32(o, true), oldHi = dv.getInt32(o + 4, true);
    if (lo & _PAGE_PRESENT) {
      const rc = level === 1 ? this.getL1e(lo, hi) : this.getUpperEntry(level, lo, hi);
      if (rc < 0) return rc;
      lo = adjust(level, lo, hi);
      hi = adjustedHi;
    }
    if (preserveAD) lo |= oldLo & (_PAGE_ACCESSED | _PAGE_DIRTY);
    dv.setInt32(o, lo, true);
    dv.setInt32(o + 4, hi, true);
    if (oldLo & _PAGE_PRESENT) this.putEntry(level, oldLo, oldHi);
    this.noteChange(oldLo, oldHi, lo, hi);
    return 0;
  }

  /**
   * MMU_NORMAL_PT_UPDATE / MMU_PT_UPDATE_PRESERVE_AD at machine address
   * (ptrLo, ptrHi) (8-aligned): a checked update when the frame is an
   * in-use page table, a plain store when it is an ordinary frame of the
   * domain, -EINVAL otherwise.
   */
  normalUpdate(ptrLo: number, ptrHi: number, lo: number, hi: number, preserveAD: boolean): number {
    const mfn = (ptrLo >>> 12) + (ptrHi >>> 0) * 1048576;
    const f = this.ownedRam(mfn);
    if (f < 0) return -XEN_EINVAL;
    const index = (ptrLo & 0xff8) >>> 3;
    const level = this.inUseLevel(f);
    if (level !== 0) return this.modEntry(f, level, index, lo, hi, preserveAD);
    if (this.count[f]! > 0 && this.type[f] !== PGT_writable) return -XEN_EINVAL; // e.g. an in-use descriptor page
    if (this.count[f] === 0) {
      // get_page_type(PGT_writable_page) + put: the frame becomes (unreferenced) writable.
      this.type[f] = PGT_writable;
      this.flags[f] = F_VALIDATED;
    }
    const o = f * PAGE_SIZE + index * 8;
    const dv = this.dv;
    this.noteChange(dv.getInt32(o, true), dv.getInt32(o + 4, true), lo, hi);
    dv.setInt32(o, lo, true);
    dv.setInt32(o + 4, hi, true);
    return 0;
  }

  /** Entry index found by the last successful findL1. */
  l1Index = 0;

  /**
   * Find the L1 entry that maps `va` (lo, hi) in the tables rooted at L4
   * `rootMfn` (map_guest_l1e): returns the frame index of the L1 table and
   * sets `l1Index`, or -1 when some level is absent.
   */
  findL1(rootMfn: number, lo: number, hi: number): number {
    const dv = this.dv;
    let f = this.ownedRam(rootMfn);
    if (f < 0) return -1;
    const idx4 = (hi >>> 7) & 511;
    const idx3 = ((hi & 0x7f) << 2) | (lo >>> 30);
    const idx2 = (lo >>> 21) & 511;
    for (let level = 4; level >= 2; level--) {
      const index = level === 4 ? idx4 : level === 3 ? idx3 : idx2;
      const o = f * PAGE_SIZE + index * 8;
      const e = dv.getInt32(o, true);
      if ((e & _PAGE_PRESENT) === 0 || (e & _PAGE_PSE) !== 0) return -1;
      f = this.ownedRam(pteMfn(e, dv.getInt32(o + 4, true)));
      if (f < 0) return -1;
    }
    this.l1Index = (lo >>> 12) & 511;
    return f;
  }

  /**
   * Writable page tables: the guest has just stored into in-use table frame
   * `f`, whose previous contents are `snap` (4096 bytes, with `snapDv` and
   * `snap64` views). Validate every entry that changed as an entry of the
   * table's level; on success keep them (adjusted, references moved) and
   * return 0; on failure put the old contents back and return the errno.
   *
   * Entries are compared as doubles (half the work of int32 pairs). The two
   * ways that can disagree with a bit compare are harmless: NaN patterns
   * compare unequal to themselves (the entry is revalidated: references net
   * to zero), and +0/-0 compare equal — 0 and 0x8000000000000000, both
   * not present, which hold nothing and need no check.
   */
  commitTableWrite(f: number, snap: Uint8Array, snapDv: DataView, snap64: Float64Array): number {
    const level = this.inUseLevel(f);
    if (level === 0) return -XEN_EINVAL;
    const cur = this.ram64;
    const dv = this.dv;
    const w = f * (PAGE_SIZE >> 3);
    const base = f * PAGE_SIZE;
    const changed = this.changed;
    let n = 0;
    let rc = 0;
    for (let i = 0; i < 512; i++) {
      if (cur[w + i] === snap64[i]) continue;
      if (level === 4 && isXenL4Slot(i)) {
        rc = -XEN_EINVAL;
        break;
      }
      const o = base + i * 8;
      const lo = dv.getInt32(o, true), hi = dv.getInt32(o + 4, true);
      rc = this.getEntry(level, lo, hi);
      if (rc < 0) break;
      changed[n++] = i;
      const nlo = adjust(level, lo, hi);
      if (nlo !== lo) dv.setInt32(o, nlo, true);
      if (adjustedHi !== hi) dv.setInt32(o + 4, adjustedHi, true);
    }
    if (rc < 0) {
      for (let k = 0; k < n; k++) {
        const o = base + changed[k]! * 8;
        this.putEntry(level, dv.getInt32(o, true), dv.getInt32(o + 4, true));
      }
      this.mem.ram.set(snap, base);
      return rc;
    }
    for (let k = 0; k < n; k++) {
      const j = changed[k]!;
      const oldLo = snapDv.getInt32(j * 8, true), oldHi = snapDv.getInt32(j * 8 + 4, true);
      if (oldLo & _PAGE_PRESENT) this.putEntry(level, oldLo, oldHi);
      this.noteChange(oldLo, oldHi, dv.getInt32(base + j * 8, true), dv.getInt32(base + j * 8 + 4, true));
    }
    return 0;
  }

  // ------------------------------------------------------------- whole frames

  /** MMUEXT_CLEAR_PAGE: the frame must be owned RAM that can take the writable type. */
  clearPage(mfn: number): number {
    const f = this.ownedRam(mfn);
    if (f < 0 || this.getType(f, PGT_writable) < 0) return -XEN_EINVAL;
    this.mem.ram.fill(0, f * PAGE_SIZE, (f + 1) * PAGE_SIZE);
    this.putType(f);
    return 0;
  }

  /** MMUEXT_COPY_PAGE: src any owned RAM frame, dst owned RAM that can take the writable type. */
  copyPage(dstMfn: number, srcMfn: number): number {
    const s = this.ownedRam(srcMfn);
    if (s < 0) return -XEN_EINVAL;
    const d = this.ownedRam(dstMfn);
    if (d < 0 || this.getType(d, PGT_writable) < 0) return -XEN_EINVAL;
    this.mem.ram.copyWithin(d * PAGE_SIZE, s * PAGE_SIZE, (s + 1) * PAGE_SIZE);
    this.putType(d);
    return 0;
  }

  /** A one-line description of a frame's type state (debugging, crash reports). */
  describe(mfn: number): string {
    const f = mfn - this.mem.baseMfn;
    if (f < 0 || f >= this.frames) return `mfn ${mfn.toString(16)}: not the domain's`;
    const fl = this.flags[f]!;
    return `mfn ${mfn.toString(16)}: ${PGT_NAMES[this.type[f]!]} count ${this.count[f]}${fl & F_VALIDATED ? ' validated' : ''}${fl & F_PINNED ? ' pinned' : ''}`;
  }
}

const STATE = new WeakMap<DomainMemory, PageTypes>();

/** The page-type state of a domain's memory (created on first use). */
export function pageTypes(mem: DomainMemory): PageTypes {
  let pt = STATE.get(mem);
  if (pt === undefined) {
    pt = new PageTypes(mem);
    STATE.set(mem, pt);
  }
  return pt;
}
