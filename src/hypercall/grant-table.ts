/**
 * Grant tables, version 1: the ABI constants and struct layouts
 * (xen/grant_table.h), each domain's shared table, and the active entries
 * — the pins other domains hold on its grants while they map or copy them
 * (xen/common/grant_table.c: _set_status_v1, get_paged_frame,
 * acquire_grant_for_copy / release_grant_for_copy, the pin half of
 * map_grant_ref / unmap_common_complete, Xen 4.17).
 *
 * The hypercall (grant.ts) and the in-process dom0 API
 * (src/devices/grant-access.ts) are both built on acquireGrant and
 * releaseGrant, so a guest's grant is checked the same way whoever uses it:
 *
 *   - the ref must lie inside the granting domain's table (GNTST_bad_gntref);
 *   - unless already pinned, the entry must be GTF_permit_access (without
 *     GTF_sub_page for a mapping) and name the user's domid, else
 *     GNTST_general_error ("Bad flags or dom");
 *   - a writable use of a GTF_readonly entry is GNTST_general_error;
 *   - the granted frame must be RAM the granting domain owns now: another
 *     domain's MFN, a released frame, or one of the hypervisor-owned frames
 *     (shared_info, grant frames) is GNTST_bad_page, as get_paged_frame
 *     fails for a page that get_page(page, rd) refuses. (Real Xen lets a PV
 *     guest grant its own shared_info/grant frames, which it owns as
 *     "xen heap" pages; xenjs refuses them: they are no RAM of the guest.)
 *   - a writable pin takes a PGT_writable type reference on the frame, so a
 *     frame in use as a page table or descriptor page cannot be granted for
 *     writing (GNTST_general_error, "could not pin"), and a frame pinned for
 *     writing cannot become one until the pin goes;
 *   - every pin also holds a general reference, so a frame the guest gives
 *     back while it is pinned is not handed out again until released.
 *
 * While pinned, GTF_reading (and GTF_writing for a writable pin) is set in
 * the shared entry; the last pin of each kind clears it again, which is how
 * a frontend knows it may end foreign access.
 */
import type { Domain } from '../domains/domain.ts';
import { PAGE_SIZE } from '../mmu/domain-memory.ts';
import { pageTypes, PGT_writable } from '../mmu/page-types.ts';

/** GNTTABOP_* (xen/grant_table.h). */
export const GNTTABOP = {
  map_grant_ref: 0,
  unmap_grant_ref: 1,
  setup_table: 2,
  dump_table: 3,
  transfer: 4,
  copy: 5,
  query_size: 6,
  unmap_and_replace: 7,
  set_version: 8,
  get_status_frames: 9,
  get_version: 10,
  swap_grant_ref: 11,
  cache_flush: 12,
} as const;

/** GNTST_* status codes (enum grant_status). */
export const GNTST_okay = 0, GNTST_general_error = -1, GNTST_bad_domain = -2, GNTST_bad_gntref = -3;
export const GNTST_bad_handle = -4, GNTST_bad_virt_addr = -5, GNTST_bad_dev_addr = -6, GNTST_no_device_space = -7;
export const GNTST_permission_denied = -8, GNTST_bad_page = -9, GNTST_bad_copy_arg = -10, GNTST_address_too_big = -11;
export const GNTST_eagain = -12, GNTST_no_space = -13;

/** GNTTABOP continuation bits in cmd (only cache_flush may carry them). */
export const GNTTABOP_CMD_MASK = (1 << 12) - 1;

/** GNTMAP_* flags of gnttab_map_grant_ref. */
export const GNTMAP_device_map = 1 << 0, GNTMAP_host_map = 1 << 1, GNTMAP_readonly = 1 << 2;
export const GNTMAP_application_map = 1 << 3, GNTMAP_contains_pte = 1 << 4;
/** GNTCOPY_* flags of gnttab_copy: which side names a grant reference (else a frame of the caller). */
export const GNTCOPY_source_gref = 1 << 0, GNTCOPY_dest_gref = 1 << 1;

/** Struct layouts (xen/grant_table.h, x86_64). */
export const GNTTAB_SETUP_TABLE = { dom: 0, nr_frames: 4, status: 8, frame_list: 16, size: 24 } as const;
export const GNTTAB_QUERY_SIZE = { dom: 0, nr_frames: 4, max_nr_frames: 8, status: 12, size: 16 } as const;
export const GNTTAB_SET_VERSION = { version: 0, size: 4 } as const;
export const GNTTAB_GET_VERSION = { dom: 0, version: 4, size: 8 } as const;
export const GNTTAB_MAP_GRANT_REF = { host_addr: 0, flags: 8, ref: 12, dom: 16, status: 18, handle: 20, dev_bus_addr: 24, size: 32 } as const;
export const GNTTAB_UNMAP_GRANT_REF = { host_addr: 0, dev_bus_addr: 8, handle: 16, status: 20, size: 24 } as const;
export const GNTTAB_UNMAP_AND_REPLACE = { host_addr: 0, new_addr: 8, handle: 16, status: 20, size: 24 } as const;
/** struct gnttab_copy: two gnttab_copy_ptr {u (ref or gmfn), domid, offset}, then len, flags, status. */
export const GNTTAB_COPY_PTR = { u: 0, domid: 8, offset: 10, size: 16 } as const;
export const GNTTAB_COPY = { source: 0, dest: 16, len: 32, flags: 34, status: 36, size: 40 } as const;
/** struct grant_entry_v1 (8 bytes): 512 per frame. */
export const GRANT_ENTRY_V1 = { flags: 0, domid: 2, frame: 4, size: 8 } as const;
export const GRANT_ENTRIES_PER_FRAME = PAGE_SIZE / GRANT_ENTRY_V1.size;
/** GTF_* flags of a v1 entry. */
export const GTF_invalid = 0, GTF_permit_access = 1, GTF_accept_transfer = 2, GTF_transitive = 3, GTF_type_mask = 3;
export const GTF_readonly = 1 << 2, GTF_reading = 1 << 3, GTF_writing = 1 << 4, GTF_sub_page = 1 << 8;
/** GNTTAB_NR_RESERVED_ENTRIES: refs the toolstack owns (0 console, 1 xenstore). */
export const GNTTAB_NR_RESERVED_ENTRIES = 8;
export const GNTTAB_RESERVED_CONSOLE = 0, GNTTAB_RESERVED_XENSTORE = 1;

/** libxl's default max_grant_frames (and what query_size reports). */
export const MAX_GRANT_FRAMES = 32;
/** Xen's INITIAL_NR_GRANT_FRAMES. */
export const INITIAL_NR_GRANT_FRAMES = 1;

/**
 * Xen's active_grant_entry pin layout (not ABI): counts of writable and
 * read-only host mappings in bytes 0 and 1 (device-map counts in bytes 2-3
 * are never used here: no I/O MMU). Copies pin as host accesses too.
 */
export const GNTPIN_hstw_inc = 1 << 0, GNTPIN_hstw_mask = 0xff << 0;
export const GNTPIN_hstr_inc = 1 << 8, GNTPIN_hstr_mask = 0xff << 8;
/** A count reaching 128 refuses further pins ("risk of counter overflow"). */
const GNTPIN_OVERFLOW = 0x80808080 | 0;

/** Shadow of a pinned entry: who pinned it, and the frame checked when the first pin was taken. */
interface ActiveEntry {
  pin: number;
  domid: number;
  mfn: number;
  /** Frame index of mfn in the granting domain's memory. */
  frame: number;
}

interface GrantState {
  readonly frames: number[];
  version: number;
  readonly active: Map<number, ActiveEntry>;
}

const STATE = new WeakMap<Domain, GrantState>();

function stateOf(d: Domain): GrantState {
  let s = STATE.get(d);
  if (!s) {
    s = { frames: [], version: 1, active: new Map() };
    STATE.set(d, s);
    growGrantTable(d, INITIAL_NR_GRANT_FRAMES);
  }
  return s;
}

/** gnttab_grow_table: allocate frames up to `n`; false when that is impossible. */
export function growGrantTable(d: Domain, n: number): boolean {
  const s = stateOf(d);
  if (n > MAX_GRANT_FRAMES) return false;
  while (s.frames.length < n) {
    let mfn: number;
    try {
      mfn = d.memory.allocSpecial();
    } catch {
      return false; // out of hypervisor-owned frames
    }
    s.frames.push(mfn);
  }
  return true;
}

/** The MFNs of the domain's shared grant frames (at least one). */
export function grantFrames(d: Domain): readonly number[] {
  return stateOf(d).frames;
}

/** Grow the table to at least `n` frames (the toolstack seeding refs 0/1); returns the frames or undefined. */
export function ensureGrantFrames(d: Domain, n: number): readonly number[] | undefined {
  return growGrantTable(d, n) ? stateOf(d).frames : undefined;
}

/** The table's version (always 1: version 2 is refused). */
export function grantTableVersion(d: Domain): number {
  return stateOf(d).version;
}

/** nr_grant_entries. */
export function nrGrantEntries(d: Domain): number {
  return stateOf(d).frames.length * GRANT_ENTRIES_PER_FRAME;
}

export interface GrantEntryV1 {
  flags: number;
  domid: number;
  frame: number;
}

/** RAM offset of grant entry `ref`, or -1 beyond the table. */
function entryOffset(d: Domain, ref: number): number {
  const s = stateOf(d);
  if (!Number.isInteger(ref) || ref < 0) return -1;
  const f = Math.floor(ref / GRANT_ENTRIES_PER_FRAME);
  if (f >= s.frames.length) return -1;
  return d.memory.offsetOfMfn(s.frames[f]!) + (ref % GRANT_ENTRIES_PER_FRAME) * GRANT_ENTRY_V1.size;
}

/** Read grant entry `ref` (as a backend does), or undefined beyond the table. */
export function grantEntry(d: Domain, ref: number): GrantEntryV1 | undefined {
  const o = entryOffset(d, ref);
  if (o < 0) return undefined;
  const dv = d.memory.dv;
  return { flags: dv.getUint16(o + GRANT_ENTRY_V1.flags, true), domid: dv.getUint16(o + GRANT_ENTRY_V1.domid, true), frame: dv.getUint32(o + GRANT_ENTRY_V1.frame, true) };
}

/** Write grant entry `ref` (xc_dom_gnttab_seed: the console and xenstore refs). false beyond the table. */
export function setGrantEntry(d: Domain, ref: number, e: GrantEntryV1): boolean {
  const o = entryOffset(d, ref);
  if (o < 0) return false;
  const dv = d.memory.dv;
  dv.setUint16(o + GRANT_ENTRY_V1.domid, e.domid, true);
  dv.setUint32(o + GRANT_ENTRY_V1.frame, e.frame, true);
  dv.setUint16(o + GRANT_ENTRY_V1.flags, e.flags, true);
  return true;
}

// ------------------------------------------------------------------ pins

/** A pinned grant: access to one frame of the granting domain until releaseGrant. */
export interface GrantPin {
  /** The granting domain. */
  readonly domain: Domain;
  readonly ref: number;
  readonly readonly: boolean;
  /** The granted frame (what a mapping's dev_bus_addr names). */
  readonly mfn: number;
  /** Byte offset of the frame in domain.memory.ram. */
  readonly offset: number;
  /** Cleared by releaseGrant (a second release is a no-op). */
  live: boolean;
}

/** The active entry of a ref, if pinned (tests and diagnostics). */
export function grantPinCount(d: Domain, ref: number): number {
  return STATE.get(d)?.active.get(ref)?.pin ?? 0;
}

function clearEntryFlags(d: Domain, ref: number, bits: number): void {
  const o = entryOffset(d, ref);
  if (o < 0) return;
  const dv = d.memory.dv;
  dv.setUint16(o + GRANT_ENTRY_V1.flags, dv.getUint16(o + GRANT_ENTRY_V1.flags, true) & ~bits, true);
}

/**
 * _set_status_v1: check the shared entry (unless already pinned) and set
 * GTF_reading, and GTF_writing for a writable use.
 */
function setStatus(d: Domain, ref: number, pinned: boolean, readonly: boolean, forMap: boolean, ldomid: number): number {
  const o = entryOffset(d, ref);
  const dv = d.memory.dv;
  const flags = dv.getUint16(o + GRANT_ENTRY_V1.flags, true);
  const domid = dv.getUint16(o + GRANT_ENTRY_V1.domid, true);
  const mask = GTF_type_mask | (forMap ? GTF_sub_page : 0);
  if (!pinned && ((flags & mask) !== GTF_permit_access || domid !== ldomid)) return GNTST_general_error;
  if (!readonly && (flags & GTF_readonly) !== 0) return GNTST_general_error;
  dv.setUint16(o + GRANT_ENTRY_V1.flags, flags | GTF_reading | (readonly ? 0 : GTF_writing), true);
  return GNTST_okay;
}

/**
 * Pin grant `ref` of domain `rd` for domain `ldomid` (acquire_grant_for_copy,
 * or the pin half of map_grant_ref when `forMap`). Returns the pin or a
 * GNTST_* status; on failure nothing is left pinned or flagged.
 */
export function acquireGrant(rd: Domain, ref: number, ldomid: number, readonly: boolean, forMap: boolean): GrantPin | number {
  if (!Number.isInteger(ref) || ref < 0 || ref >= nrGrantEntries(rd)) return GNTST_bad_gntref;
  const s = stateOf(rd);
  const pt = pageTypes(rd.memory);
  let act = s.active.get(ref);
  const oldPin = act?.pin ?? 0;
  if (oldPin !== 0 && (act!.domid !== ldomid || (oldPin & GNTPIN_OVERFLOW) !== 0)) return GNTST_general_error;
  if (oldPin === 0 || (!readonly && (oldPin & GNTPIN_hstw_mask) === 0)) {
    const rc = setStatus(rd, ref, oldPin !== 0, readonly, forMap, ldomid);
    if (rc !== GNTST_okay) return rc;
    if (oldPin === 0) {
      // get_paged_frame: for a PV domain the entry's frame is an MFN it must own.
      const mfn = grantEntry(rd, ref)!.frame;
      const f = pt.ownedRam(mfn);
      if (f < 0) {
        clearEntryFlags(rd, ref, GTF_reading | (readonly ? 0 : GTF_writing));
        return GNTST_bad_page;
      }
      act = { pin: 0, domid: ldomid, mfn, frame: f };
      s.active.set(ref, act);
    }
  }
  const a = act!;
  // get_page_type(PGT_writable_page): refused for a frame in use as a page table or descriptor page.
  if (!readonly && pt.getType(a.frame, PGT_writable) < 0) {
    let bits = 0;
    if ((a.pin & GNTPIN_hstw_mask) === 0) bits |= GTF_writing;
    if (a.pin === 0) {
      bits |= GTF_reading;
      s.active.delete(ref);
    }
    clearEntryFlags(rd, ref, bits);
    return GNTST_general_error;
  }
  pt.refs[a.frame] = pt.refs[a.frame]! + 1;
  a.pin += readonly ? GNTPIN_hstr_inc : GNTPIN_hstw_inc;
  return { domain: rd, ref, readonly, mfn: a.mfn, offset: a.frame * PAGE_SIZE, live: true };
}

/** Drop a pin (release_grant_for_copy / unmap_common_complete); the last ones clear GTF_writing and GTF_reading. */
export function releaseGrant(pin: GrantPin): void {
  if (!pin.live) return;
  pin.live = false;
  const d = pin.domain;
  const s = stateOf(d);
  const act = s.active.get(pin.ref);
  if (!act) return;
  const pt = pageTypes(d.memory);
  let bits = 0;
  if (pin.readonly) act.pin -= GNTPIN_hstr_inc;
  else {
    act.pin -= GNTPIN_hstw_inc;
    pt.putType(act.frame);
    if ((act.pin & GNTPIN_hstw_mask) === 0) bits |= GTF_writing;
    // The frame may hold code the guest's CPUs decoded before it was written.
    frameWritten(d, act.frame);
  }
  pt.refs[act.frame] = pt.refs[act.frame]! - 1;
  if (act.pin === 0) {
    bits |= GTF_reading;
    s.active.delete(pin.ref);
  }
  clearEntryFlags(d, pin.ref, bits);
}

/** The hypervisor (or dom0) wrote into frame index `frame` of `d`: its vCPUs drop code decoded from it. */
export function frameWritten(d: Domain, frame: number): void {
  for (const v of d.vcpus) v.cpu.invalidateCodePage(frame);
}
