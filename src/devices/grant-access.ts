/**
 * dom0's grant-table operations, for the in-process backends: what Linux's
 * blkback/netback do with GNTTABOP_map_grant_ref, unmap_grant_ref and copy,
 * as a library. One GrantAccess is dom0 (domid 0) on one host; it finds the
 * granting domains through the host's DomainRegistry.
 *
 *   const grants = new GrantAccess(registry);
 *   const m = grants.map(domid, ref, { readonly: true });
 *   if (typeof m === 'number') fail(m);           // a GNTST_* status
 *   parse(m.bytes);                               // the guest's frame, 4096 bytes
 *   grants.unmap(m);                              // GNTST_okay, or GNTST_bad_handle
 *
 *   grants.copy([{ source: { ref, domid, offset: 0 }, dest: { buffer, offset: 0 },
 *                  len: 512, flags: GNTCOPY_source_gref }]);   // → [GNTST_okay]
 *
 * Every request is checked by the same code as a guest's hypercall
 * (src/hypercall/grant-table.ts): the entry must be GTF_permit_access for
 * domid 0, writable only without GTF_readonly, for a RAM frame the guest
 * owns that is no page table; GTF_reading/GTF_writing are set in the entry
 * while a mapping (or a copy) holds it. Statuses are Xen's GNTST_* values.
 *
 * A mapping's `bytes` is a live view of the guest frame. JavaScript cannot
 * make it read-only: a read-only mapping is a promise by the backend (the
 * trusted dom0 code) not to write. A backend that writes through a writable
 * mapping and keeps it (persistent grants) calls `written()` after writing,
 * so the guest's CPUs drop code they decoded from the frame; unmap does it
 * too. A mapping stays valid after the granting domain is destroyed (Xen
 * keeps the page until the last reference goes) and unmaps normally.
 */
import type { Domain } from '../domains/domain.ts';
import { DOM0_ID, type DomainRegistry } from '../domains/registry.ts';
import { DOMID_SELF } from '../hypercall/abi.ts';
import { claimGrant, grantCopyOne, isU16, type ClaimedBuf } from '../hypercall/grant-copy.ts';
import {
  acquireGrant, frameWritten, releaseGrant, type GrantPin,
  GNTCOPY_dest_gref, GNTCOPY_source_gref, GNTST_bad_copy_arg, GNTST_bad_domain, GNTST_bad_handle, GNTST_bad_page,
  GNTST_general_error, GNTST_no_device_space, GNTST_okay, GNTST_permission_denied,
} from '../hypercall/grant-table.ts';
import { PAGE_SIZE } from '../mmu/domain-memory.ts';

/** Xen's maptrack limit for a domain: max_maptrack_frames (1024) × 256 handles per frame. */
export const MAX_MAPTRACK_HANDLES = 1024 * (PAGE_SIZE / 16);

export interface MapOptions {
  /** GNTMAP_readonly: map for reading only (required for a GTF_readonly grant). */
  readonly?: boolean;
}

/** A grant mapped by dom0 (what GNTTABOP_map_grant_ref returns: handle, dev_bus_addr). */
export interface GrantMapping {
  /** grant_handle_t: dom0's maptrack index. */
  readonly handle: number;
  readonly domid: number;
  readonly ref: number;
  readonly readonly: boolean;
  /** The granted machine frame (dev_bus_addr >> 12). */
  readonly mfn: number;
  /** The frame's 4096 bytes, a live view of the guest's memory. */
  readonly bytes: Uint8Array;
  /** After writing through a mapping that is kept: the guest's CPUs forget code decoded from the frame. */
  written(): void;
}

/**
 * One side of a copy, as struct gnttab_copy_ptr: with the side's
 * GNTCOPY_*_gref flag, grant `ref` of domain `domid`; without it, dom0's
 * own memory — `buffer` (which stands for one page: at most its first 4096
 * bytes are used), with `domid` DOMID_SELF or left out.
 */
export interface GrantCopyPtr {
  ref?: number;
  domid?: number;
  buffer?: Uint8Array;
  offset: number;
}

export interface GrantCopyOp {
  source: GrantCopyPtr;
  dest: GrantCopyPtr;
  len: number;
  /** GNTCOPY_source_gref | GNTCOPY_dest_gref. */
  flags: number;
  /** Set by copy(): the op's GNTST_* status. */
  status?: number;
}

interface MapTrack {
  readonly pin: GrantPin;
  readonly mapping: GrantMapping;
}

export class GrantAccess {
  private readonly maptrack: Array<MapTrack | undefined> = [];
  private readonly freeHandles: number[] = [];
  private live = 0;

  constructor(private readonly registry: DomainRegistry) {}

  /** Mappings currently held. */
  get mapped(): number {
    return this.live;
  }

  /** rcu_lock_domain_by_id for dom0: a registered domain, or a GNTST_* status. */
  private granter(domid: number): Domain | number {
    if (!Number.isInteger(domid) || domid < 0 || domid > 0xffff) return GNTST_bad_domain;
    // dom0 itself exists but grants nothing; DOMID_SELF names no domain for a map (rcu_lock_domain_by_id).
    if (domid === DOM0_ID) return GNTST_general_error;
    return this.registry.get(domid) ?? GNTST_bad_domain;
  }

  /**
   * GNTTABOP_map_grant_ref (GNTMAP_host_map, plus GNTMAP_readonly when
   * asked): a mapping, or GNTST_bad_domain / bad_gntref / general_error /
   * bad_page / no_device_space.
   */
  map(domid: number, ref: number, opts: MapOptions = {}): GrantMapping | number {
    const rd = this.granter(domid);
    if (typeof rd === 'number') return rd;
    if (this.freeHandles.length === 0 && this.maptrack.length >= MAX_MAPTRACK_HANDLES) return GNTST_no_device_space;
    const readonly = opts.readonly === true;
    const pin = acquireGrant(rd, ref, DOM0_ID, readonly, true);
    if (typeof pin === 'number') return pin;
    const handle = this.freeHandles.pop() ?? this.maptrack.length;
    const mapping: GrantMapping = {
      handle,
      domid,
      ref,
      readonly,
      mfn: pin.mfn,
      bytes: rd.memory.ram.subarray(pin.offset, pin.offset + PAGE_SIZE),
      written: () => frameWritten(rd, pin.offset / PAGE_SIZE),
    };
    this.maptrack[handle] = { pin, mapping };
    this.live++;
    return mapping;
  }

  /**
   * GNTTABOP_unmap_grant_ref: GNTST_okay, or GNTST_bad_handle for a handle
   * that maps nothing (never mapped, or already unmapped). A mapping object
   * must be the one this handle maps now (a stale object whose handle was
   * reused is refused).
   */
  unmap(h: GrantMapping | number): number {
    const handle = typeof h === 'number' ? h : h.handle;
    if (!Number.isInteger(handle) || handle < 0 || handle >= this.maptrack.length) return GNTST_bad_handle;
    const t = this.maptrack[handle];
    if (!t || (typeof h !== 'number' && t.mapping !== h)) return GNTST_bad_handle;
    this.maptrack[handle] = undefined;
    this.freeHandles.push(handle);
    this.live--;
    releaseGrant(t.pin);
    return GNTST_okay;
  }

  /** Unmap everything (dom0's backends shutting down). */
  unmapAll(): void {
    for (const t of this.maptrack) if (t) this.unmap(t.mapping);
  }

  /** GNTTABOP_copy: each op's GNTST_* status (also stored in op.status). */
  copy(ops: readonly GrantCopyOp[]): number[] {
    return ops.map((op) => (op.status = this.copyOne(op)));
  }

  private copyOne(op: GrantCopyOp): number {
    const srcGref = (op.flags & GNTCOPY_source_gref) !== 0;
    const dstGref = (op.flags & GNTCOPY_dest_gref) !== 0;
    // gnttab_copy_lock_domains: source, then destination.
    const sd = this.lockSide(op.source, srcGref);
    if (typeof sd === 'number') return sd;
    const dd = this.lockSide(op.dest, dstGref);
    if (typeof dd === 'number') return dd;
    if (!isU16(op.len) || !isU16(op.source.offset) || !isU16(op.dest.offset)) return GNTST_bad_copy_arg;
    return grantCopyOne(
      () => this.claimSide(sd, op.source, true),
      () => this.claimSide(dd, op.dest, false),
      op.source.offset, op.dest.offset, op.len,
    );
  }

  /** The granting domain of a gref side, 'local' for a dom0 buffer, or a GNTST_* status. */
  private lockSide(p: GrantCopyPtr, isGref: boolean): Domain | 'local' | number {
    if (!isGref) return p.domid === undefined || p.domid === DOMID_SELF ? 'local' : GNTST_permission_denied;
    return this.granter(p.domid ?? -1);
  }

  private claimSide(side: Domain | 'local', p: GrantCopyPtr, readonly: boolean): ClaimedBuf | number {
    if (side !== 'local') return claimGrant(side, p.ref ?? -1, DOM0_ID, readonly);
    if (!(p.buffer instanceof Uint8Array)) return GNTST_bad_page;
    return { bytes: p.buffer, base: 0, size: Math.min(p.buffer.length, PAGE_SIZE), release: () => {}, written: () => {} };
  }
}

/** A one-line description of a GNTST_* status, for backend error messages. */
export function grantStatusText(status: number): string {
  return GNTST_TEXT[-status] ?? `unknown grant status ${status}`;
}

/** GNTTABOP_error_msgs (xen/grant_table.h), by -status. */
const GNTST_TEXT = [
  'okay', 'undefined error', 'unrecognised domain id', 'invalid grant reference', 'invalid mapping handle',
  'invalid virtual address', 'invalid device address', 'no spare translation slot in the I/O MMU',
  'permission denied', 'bad page', 'copy arguments cross page boundary', 'page address size too large',
  'operation not done; try again', 'out of space',
];
