/**
 * The contract between the CPU and whatever translates its addresses.
 *
 * Linear addresses are 64-bit and travel as two int32 halves (lo, hi); the CPU
 * checks canonical form before asking. Physical memory is one byte array
 * (`ram`); a translation yields an offset into it.
 *
 * The fast path never calls the MMU: the CPU looks in the TLB arrays, which
 * the MMU fills on a miss (`translate`). The MMU decides what goes into the
 * TLB (for example it leaves out write permission for pages holding cached
 * code, or for read-only page tables it must emulate writes to), so every
 * permission rule stays in one place.
 */
import type { Tlb } from './tlb.ts';

export interface Mmu {
  /** All memory the CPU can reach; translations are offsets into it. */
  readonly ram: Uint8Array;
  /** The TLB the CPU consults first. The MMU may replace its contents at any time, never the object. */
  readonly tlb: Tlb;
  /**
   * Translate one byte's linear address for an access (ACC_READ/WRITE/EXEC)
   * and fill the TLB entry for its page when the access is allowed.
   * Returns the offset in `ram`, or -1 for a page fault, in which case
   * `faultCode` holds the #PF error code (PFEC_* bits).
   * `user` is true for a CPL-3 access (the MMU applies U/S with it).
   */
  translate(lo: number, hi: number, access: number, user: boolean): number;
  /** #PF error code of the last failed translate. */
  faultCode: number;
  /**
   * Called by the CPU when it starts caching decoded code from the 4 KiB
   * physical page at `ramOffset >>> 12`: from then on, writes to that page
   * must miss the write TLB so the CPU can invalidate its blocks.
   */
  protectCode(page: number): void;
  /** Called when the CPU dropped every cached block of `page`: ordinary writes may go fast again. */
  unprotectCode(page: number): void;
}
