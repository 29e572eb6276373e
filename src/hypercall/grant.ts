/**
 * grant_table_op (20): the guest's own grant table, version 1
 * (xen/common/grant_table.c do_grant_table_op, gnttab_setup_table,
 * gnttab_query_size, gnttab_set_version, gnttab_get_version, Xen 4.17).
 *
 *   rdi = cmd, rsi = ops, rdx = count
 *
 * The shared grant frames are hypervisor-owned frames of the domain
 * (DomainMemory.allocSpecial): the table starts with one frame, as Xen's
 * does, and grows when the guest asks for more with setup_table, up to
 * MAX_GRANT_FRAMES (libxl's default max_grant_frames for a domU). The guest
 * maps them by MFN with ordinary PTEs.
 *
 * Version 2 is refused with -ENOSYS (Xen's answer when max_grant_version
 * is 1), so the table is always v1. The backend/mapping ops (map, unmap,
 * copy, transfer, …) are -ENOSYS for now: xenjs' backends read grants
 * through grantEntry() in-process.
 */
import type { Domain } from '../domains/domain.ts';
import type { Vcpu } from '../domains/vcpu.ts';
import { PAGE_SIZE } from '../mmu/domain-memory.ts';
import { registerHypercall } from './dispatch.ts';
import { HYPERVISOR, XEN_EFAULT, XEN_EINVAL, XEN_ENOSYS, XEN_ESRCH } from './abi.ts';
import { guestHandleOkay, lookupDomain, mustBeFault, readPointer } from './memory.ts';

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

/** GNTST_* status codes. */
export const GNTST_okay = 0, GNTST_general_error = -1, GNTST_bad_domain = -2, GNTST_bad_virt_addr = -5;
export const GNTST_permission_denied = -8;

/** GNTTABOP continuation bits in cmd (only cache_flush may carry them). */
export const GNTTABOP_CMD_MASK = (1 << 12) - 1;

/** Struct layouts (xen/grant_table.h, x86_64). */
export const GNTTAB_SETUP_TABLE = { dom: 0, nr_frames: 4, status: 8, frame_list: 16, size: 24 } as const;
export const GNTTAB_QUERY_SIZE = { dom: 0, nr_frames: 4, max_nr_frames: 8, status: 12, size: 16 } as const;
export const GNTTAB_SET_VERSION = { version: 0, size: 4 } as const;
export const GNTTAB_GET_VERSION = { dom: 0, version: 4, size: 8 } as const;
/** struct grant_entry_v1 (8 bytes): 512 per frame. */
export const GRANT_ENTRY_V1 = { flags: 0, domid: 2, frame: 4, size: 8 } as const;
export const GRANT_ENTRIES_PER_FRAME = PAGE_SIZE / GRANT_ENTRY_V1.size;
/** GTF_* flags of a v1 entry. */
export const GTF_invalid = 0, GTF_permit_access = 1, GTF_accept_transfer = 2, GTF_type_mask = 3;
export const GTF_readonly = 1 << 2, GTF_reading = 1 << 3, GTF_writing = 1 << 4;
/** GNTTAB_NR_RESERVED_ENTRIES: refs the toolstack owns (0 console, 1 xenstore). */
export const GNTTAB_NR_RESERVED_ENTRIES = 8;
export const GNTTAB_RESERVED_CONSOLE = 0, GNTTAB_RESERVED_XENSTORE = 1;

/** libxl's default max_grant_frames (and what query_size reports). */
export const MAX_GRANT_FRAMES = 32;
/** Xen's INITIAL_NR_GRANT_FRAMES. */
export const INITIAL_NR_GRANT_FRAMES = 1;

interface GrantState {
  readonly frames: number[];
  version: number;
}

const STATE = new WeakMap<Domain, GrantState>();

function stateOf(d: Domain): GrantState {
  let s = STATE.get(d);
  if (!s) {
    s = { frames: [], version: 1 };
    STATE.set(d, s);
    grow(d, s, INITIAL_NR_GRANT_FRAMES);
  }
  return s;
}

/** gnttab_grow_table: allocate frames up to `n`; false when that is impossible. */
function grow(d: Domain, s: GrantState, n: number): boolean {
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
  const s = stateOf(d);
  return grow(d, s, n) ? s.frames : undefined;
}

export interface GrantEntryV1 {
  flags: number;
  domid: number;
  frame: number;
}

/** RAM offset of grant entry `ref`, or -1 beyond the table. */
function entryOffset(d: Domain, ref: number): number {
  const s = stateOf(d);
  const f = Math.floor(ref / GRANT_ENTRIES_PER_FRAME);
  if (ref < 0 || f >= s.frames.length) return -1;
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

// ------------------------------------------------------------------ the hypercall

const PARTS = new Int32Array(2);

/** The status to report for a domid that is not the caller's own (GNTST_bad_domain or permission_denied). */
function domainStatus(v: Vcpu, dom: number): number {
  const rc = lookupDomain(v.domain, dom);
  return rc === 0 ? GNTST_okay : rc === -XEN_ESRCH ? GNTST_bad_domain : GNTST_permission_denied;
}

function setupTable(v: Vcpu, op: number, count: number): number {
  if (count !== 1) return -XEN_EINVAL;
  const m = v.mem;
  const dom = m.u16(op + GNTTAB_SETUP_TABLE.dom);
  const nr = m.u32(op + GNTTAB_SETUP_TABLE.nr_frames);
  const list = readPointer(v, op + GNTTAB_SETUP_TABLE.frame_list, PARTS);
  if (!guestHandleOkay(list, nr)) return -XEN_EFAULT;
  let status = domainStatus(v, dom);
  if (status === GNTST_okay) {
    const s = stateOf(v.domain);
    if (nr > MAX_GRANT_FRAMES || !grow(v.domain, s, nr)) status = GNTST_general_error;
    else {
      for (let i = 0; i < nr; i++) {
        try {
          m.setU64num(list + 8 * i, s.frames[i]!);
        } catch (e) {
          mustBeFault(e);
          status = GNTST_bad_virt_addr;
        }
      }
    }
  }
  m.setU16(op + GNTTAB_SETUP_TABLE.status, status);
  return 0;
}

function querySize(v: Vcpu, op: number, count: number): number {
  if (count !== 1) return -XEN_EINVAL;
  const m = v.mem;
  const dom = m.u16(op + GNTTAB_QUERY_SIZE.dom);
  m.bytes(op, GNTTAB_QUERY_SIZE.size);
  const status = domainStatus(v, dom);
  if (status === GNTST_okay) {
    const s = stateOf(v.domain);
    m.setU32(op + GNTTAB_QUERY_SIZE.nr_frames, s.frames.length);
    m.setU32(op + GNTTAB_QUERY_SIZE.max_nr_frames, MAX_GRANT_FRAMES);
  }
  m.setU16(op + GNTTAB_QUERY_SIZE.status, status);
  return 0;
}

function grantTableOp(v: Vcpu): number {
  const rawCmd = v.arg32(0);
  const op = v.argVa(1);
  const count = v.arg32(2);
  if (count >= 0x80000000) return -XEN_EINVAL; // (int)count < 0
  const cmd = rawCmd & GNTTABOP_CMD_MASK;
  if (cmd !== GNTTABOP.cache_flush && rawCmd !== cmd) return -XEN_EINVAL;
  switch (cmd) {
    case GNTTABOP.setup_table:
      return setupTable(v, op, count);
    case GNTTABOP.query_size:
      return querySize(v, op, count);
    case GNTTABOP.set_version: {
      const version = v.mem.u32(op + GNTTAB_SET_VERSION.version);
      if (version !== 1 && version !== 2) return -XEN_EINVAL;
      if (version === 2) return -XEN_ENOSYS; // max_grant_version 1: "behave as before set_version"
      return 0;
    }
    case GNTTABOP.get_version: {
      const dom = v.mem.u16(op + GNTTAB_GET_VERSION.dom);
      v.mem.bytes(op, GNTTAB_GET_VERSION.size);
      const rc = lookupDomain(v.domain, dom);
      if (rc) return rc;
      v.mem.setU32(op + GNTTAB_GET_VERSION.version, stateOf(v.domain).version);
      return 0;
    }
    // Mapping, copying and transferring grants (backends, gntdev), v2 status frames: not yet.
    default:
      return -XEN_ENOSYS;
  }
}

registerHypercall(HYPERVISOR.grant_table_op, grantTableOp);
