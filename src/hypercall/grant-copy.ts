/**
 * GNTTABOP_copy's engine, shared by the guest hypercall (grant.ts) and the
 * dom0 API (src/devices/grant-access.ts): claim the source, claim the
 * destination, check the ranges, copy, release (xen/common/grant_table.c
 * gnttab_copy_one, gnttab_copy_claim_buf, gnttab_copy_buf, Xen 4.17).
 *
 * Each side is a grant of some domain (pinned read-only for the source,
 * writable for the destination, through acquireGrant) or memory of the
 * caller itself: one of its own RAM frames for a guest, a buffer for dom0.
 * A destination frame of the caller's own must take a PGT_writable type
 * reference like a grant does, so a guest cannot copy into its own page
 * tables or descriptor pages behind the validator's back.
 *
 * The range check comes after both claims, as in Xen: a bad grant is
 * reported before a bad offset.
 */
import type { Domain } from '../domains/domain.ts';
import { PAGE_SIZE } from '../mmu/domain-memory.ts';
import { pageTypes, PGT_writable } from '../mmu/page-types.ts';
import {
  acquireGrant, frameWritten, releaseGrant, GNTST_bad_copy_arg, GNTST_bad_page, GNTST_general_error, GNTST_okay,
} from './grant-table.ts';

/** One side of a copy once claimed: bytes [base, base + size) of `bytes` stand for one page. */
export interface ClaimedBuf {
  readonly bytes: Uint8Array;
  readonly base: number;
  /** Usable bytes from base: PAGE_SIZE for a frame; a dom0 buffer may be shorter. */
  readonly size: number;
  release(): void;
  /** Called after the copy wrote into this side. */
  written(): void;
}

const NOTHING = (): void => {};

/** A grant of `rd` pinned for domain `ldomid` (the source read-only, the destination writable). */
export function claimGrant(rd: Domain, ref: number, ldomid: number, readonly: boolean): ClaimedBuf | number {
  const pin = acquireGrant(rd, ref, ldomid, readonly, false);
  if (typeof pin === 'number') return pin;
  return {
    bytes: rd.memory.ram,
    base: pin.offset,
    size: PAGE_SIZE,
    release: () => releaseGrant(pin),
    written: NOTHING, // releaseGrant of a writable pin drops decoded code
  };
}

/**
 * A frame of the calling PV guest named by MFN (get_paged_frame on the
 * caller): GNTST_bad_page unless it is RAM the guest owns; a destination
 * also needs a PGT_writable type reference (GNTST_general_error when the
 * frame is a page table or descriptor page).
 */
export function claimOwnFrame(d: Domain, mfn: number, readonly: boolean): ClaimedBuf | number {
  const pt = pageTypes(d.memory);
  const f = Number.isSafeInteger(mfn) ? pt.ownedRam(mfn) : -1;
  if (f < 0) return GNTST_bad_page;
  if (!readonly && pt.getType(f, PGT_writable) < 0) return GNTST_general_error;
  return {
    bytes: d.memory.ram,
    base: f * PAGE_SIZE,
    size: PAGE_SIZE,
    release: readonly ? NOTHING : () => pt.putType(f),
    written: () => frameWritten(d, f),
  };
}

/** gnttab_copy_buf: range checks (GNTST_bad_copy_arg beyond the page or the buffer), then the copy. */
function copyClaimed(src: ClaimedBuf, srcOff: number, dst: ClaimedBuf, dstOff: number, len: number): number {
  if (srcOff + len > PAGE_SIZE || dstOff + len > PAGE_SIZE) return GNTST_bad_copy_arg;
  if (srcOff + len > src.size || dstOff + len > dst.size) return GNTST_bad_copy_arg;
  if (len === 0) return GNTST_okay;
  const from = src.base + srcOff, to = dst.base + dstOff;
  // TypedArray set() copies through a clone when both views share a buffer: memmove semantics.
  dst.bytes.set(src.bytes.subarray(from, from + len), to);
  dst.written();
  return GNTST_okay;
}

/** Is `n` a valid u16 field value (offsets and len of struct gnttab_copy)? */
export function isU16(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffff;
}

/**
 * One copy: claim the source, then the destination, copy, release both.
 * The claims are thunks so that a failed source leaves the destination
 * untouched. Returns a GNTST_* status.
 */
export function grantCopyOne(
  claimSource: () => ClaimedBuf | number,
  claimDest: () => ClaimedBuf | number,
  srcOff: number,
  dstOff: number,
  len: number,
): number {
  const src = claimSource();
  if (typeof src === 'number') return src;
  const dst = claimDest();
  if (typeof dst === 'number') {
    src.release();
    return dst;
  }
  try {
    return copyClaimed(src, srcOff, dst, dstOff, len);
  } finally {
    dst.release();
    src.release();
  }
}
