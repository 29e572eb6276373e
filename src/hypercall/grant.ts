/**
 * grant_table_op (20) for a PV guest (xen/common/grant_table.c
 * do_grant_table_op and the per-op handlers, Xen 4.17).
 *
 *   rdi = cmd, rsi = ops, rdx = count
 *
 * The table itself, the ABI constants and the pin rules live in
 * grant-table.ts (re-exported here); the copy engine in grant-copy.ts.
 *
 * setup_table / query_size: the shared grant frames are hypervisor-owned
 * frames of the domain (DomainMemory.allocSpecial): the table starts with
 * one frame, as Xen's does, and grows when the guest asks for more, up to
 * MAX_GRANT_FRAMES (libxl's default max_grant_frames for a domU). The guest
 * maps them by MFN with ordinary PTEs.
 *
 * set_version / get_version: version 2 is refused with -ENOSYS (Xen's
 * answer when max_grant_version is 1), so the table is always v1.
 *
 * copy: complete. Each side is a grant of some domain (GNTCOPY_*_gref) or,
 * for the caller's own memory, an MFN with domid DOMID_SELF (any other
 * domid there is GNTST_permission_denied, as in Xen). The in-process dom0
 * is a domain that grants nothing: its refs give GNTST_general_error.
 *
 * map_grant_ref: validated exactly as Xen does — flags, domain, ref, the
 * entry's type/domid/readonly bits, the frame's owner, the writable type —
 * but a mapping is then never created: xenjs keeps each domain's memory in
 * its own buffer, so a guest PTE cannot name another domain's frame. The
 * op fails with GNTST_general_error where Xen's create_grant_host_mapping
 * would have installed the PTE (the pin is undone, logged once per domain).
 * Linux frontends never map grants; only backends and gntdev in a driver
 * domain do, and xenjs runs the backends in dom0, in process.
 * unmap_grant_ref / unmap_and_replace: a guest never holds a mapping, so
 * every handle is unknown: GNTST_bad_handle.
 *
 * transfer, swap_grant_ref, get_status_frames, dump_table, cache_flush:
 * -ENOSYS (Linux uses none of them with a v1 table and copying netback).
 */
import type { Vcpu } from '../domains/vcpu.ts';
import { DOM0_ID, domainByAnyId, domainById } from '../domains/registry.ts';
import { registerHypercall } from './dispatch.ts';
import { DOMID_SELF, HYPERVISOR, XEN_EFAULT, XEN_EINVAL, XEN_ENOSYS, XEN_ESRCH } from './abi.ts';
import { guestHandleOkay, lookupDomain, mustBeFault, readPointer } from './memory.ts';
import { claimGrant, claimOwnFrame, grantCopyOne, type ClaimedBuf } from './grant-copy.ts';
import {
  acquireGrant, grantFrames, grantTableVersion, growGrantTable, releaseGrant,
  GNTCOPY_dest_gref, GNTCOPY_source_gref, GNTMAP_device_map, GNTMAP_host_map, GNTMAP_readonly,
  GNTST_bad_domain, GNTST_bad_gntref, GNTST_bad_handle, GNTST_bad_virt_addr, GNTST_general_error, GNTST_okay,
  GNTST_permission_denied, GNTTAB_COPY, GNTTAB_COPY_PTR, GNTTAB_GET_VERSION, GNTTAB_MAP_GRANT_REF, GNTTAB_QUERY_SIZE,
  GNTTAB_SET_VERSION, GNTTAB_SETUP_TABLE, GNTTAB_UNMAP_GRANT_REF, GNTTABOP, GNTTABOP_CMD_MASK, MAX_GRANT_FRAMES,
} from './grant-table.ts';

export * from './grant-table.ts';

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
    if (nr > MAX_GRANT_FRAMES || !growGrantTable(v.domain, nr)) status = GNTST_general_error;
    else {
      const frames = grantFrames(v.domain);
      for (let i = 0; i < nr; i++) {
        try {
          m.setU64num(list + 8 * i, frames[i]!);
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
    m.setU32(op + GNTTAB_QUERY_SIZE.nr_frames, grantFrames(v.domain).length);
    m.setU32(op + GNTTAB_QUERY_SIZE.max_nr_frames, MAX_GRANT_FRAMES);
  }
  m.setU16(op + GNTTAB_QUERY_SIZE.status, status);
  return 0;
}

// ------------------------------------------------------------------ map / unmap

/**
 * map_grant_ref for one op: every check Xen makes before it installs the
 * mapping, then GNTST_general_error (see the header: no foreign frames in a
 * guest's page tables).
 */
function mapOne(v: Vcpu, flags: number, ref: number, dom: number): number {
  const d = v.domain;
  if ((flags & (GNTMAP_device_map | GNTMAP_host_map)) === 0) return GNTST_bad_gntref;
  // rcu_lock_domain_by_id: DOMID_SELF is no domain here. dom0 exists but grants nothing.
  if (dom === DOM0_ID) return GNTST_general_error;
  const rd = domainById(d, dom);
  if (!rd) return GNTST_bad_domain;
  const pin = acquireGrant(rd, ref, d.id, (flags & GNTMAP_readonly) !== 0, true);
  if (typeof pin === 'number') return pin;
  releaseGrant(pin);
  d.logOnce('gnttab-map', `grant_table_op map_grant_ref: d${rd.id} ref ${ref} is valid, but xenjs cannot map another domain's frame into a PV guest → GNTST_general_error`);
  return GNTST_general_error;
}

function mapGrantRef(v: Vcpu, op: number, count: number): number {
  if (!guestHandleOkay(op, count)) return -XEN_EFAULT;
  const L = GNTTAB_MAP_GRANT_REF;
  for (let i = 0; i < count; i++) {
    const a = op + i * L.size;
    const raw = v.mem.bytes(a, L.size);
    const dv = new DataView(raw.buffer);
    const status = mapOne(v, dv.getUint32(L.flags, true), dv.getUint32(L.ref, true), dv.getUint16(L.dom, true));
    v.mem.setU16(a + L.status, status);
  }
  return 0;
}

/** unmap_grant_ref / unmap_and_replace: a guest's maptrack is empty, so every handle is GNTST_bad_handle. */
function unmapGrantRef(v: Vcpu, op: number, count: number): number {
  if (!guestHandleOkay(op, count)) return -XEN_EFAULT;
  const L = GNTTAB_UNMAP_GRANT_REF; // unmap_and_replace has the same size and status offset
  for (let i = 0; i < count; i++) {
    const a = op + i * L.size;
    v.mem.bytes(a, L.size);
    v.mem.setU16(a + L.status, GNTST_bad_handle);
  }
  return 0;
}

// ------------------------------------------------------------------ copy

interface GuestCopyPtr {
  /** The u64 union: a grant ref (low 32 bits) or an MFN. */
  lo: number;
  value: number;
  domid: number;
  offset: number;
}

function readCopyPtr(dv: DataView, at: number): GuestCopyPtr {
  const lo = dv.getUint32(at + GNTTAB_COPY_PTR.u, true);
  const hi = dv.getUint32(at + GNTTAB_COPY_PTR.u + 4, true);
  return { lo, value: hi * 4294967296 + lo, domid: dv.getUint16(at + GNTTAB_COPY_PTR.domid, true), offset: dv.getUint16(at + GNTTAB_COPY_PTR.offset, true) };
}

/** gnttab_copy_lock_domain: the domain one side names, 'dom0', or a GNTST_* status. */
function lockSide(v: Vcpu, p: GuestCopyPtr, isGref: boolean): ReturnType<typeof domainByAnyId> | 'dom0' | number {
  if (!isGref && p.domid !== DOMID_SELF) return GNTST_permission_denied; // only DOMID_SELF may name a frame
  if (p.domid === DOM0_ID && v.domain.id !== DOM0_ID) return 'dom0';
  return domainByAnyId(v.domain, p.domid) ?? GNTST_bad_domain;
}

function claimSide(v: Vcpu, side: Exclude<ReturnType<typeof lockSide>, number>, p: GuestCopyPtr, isGref: boolean, readonly: boolean): ClaimedBuf | number {
  if (side === 'dom0') return GNTST_general_error; // the in-process dom0 grants nothing
  if (!side) return GNTST_bad_domain;
  return isGref ? claimGrant(side, p.lo, v.domain.id, readonly) : claimOwnFrame(v.domain, p.value, readonly);
}

function copyOne(v: Vcpu, dv: DataView): number {
  const flags = dv.getUint16(GNTTAB_COPY.flags, true);
  const len = dv.getUint16(GNTTAB_COPY.len, true);
  const src = readCopyPtr(dv, GNTTAB_COPY.source), dst = readCopyPtr(dv, GNTTAB_COPY.dest);
  const srcGref = (flags & GNTCOPY_source_gref) !== 0, dstGref = (flags & GNTCOPY_dest_gref) !== 0;
  const sd = lockSide(v, src, srcGref);
  if (typeof sd === 'number') return sd;
  const dd = lockSide(v, dst, dstGref);
  if (typeof dd === 'number') return dd;
  return grantCopyOne(
    () => claimSide(v, sd, src, srcGref, true),
    () => claimSide(v, dd, dst, dstGref, false),
    src.offset, dst.offset, len,
  );
}

function grantCopy(v: Vcpu, op: number, count: number): number {
  if (!guestHandleOkay(op, count)) return -XEN_EFAULT;
  for (let i = 0; i < count; i++) {
    const a = op + i * GNTTAB_COPY.size;
    const raw = v.mem.bytes(a, GNTTAB_COPY.size);
    const status = copyOne(v, new DataView(raw.buffer));
    v.mem.setU16(a + GNTTAB_COPY.status, status);
  }
  return 0;
}

// ------------------------------------------------------------------ dispatch

function grantTableOp(v: Vcpu): number {
  const rawCmd = v.arg32(0);
  const op = v.argVa(1);
  const count = v.arg32(2);
  if (count >= 0x80000000) return -XEN_EINVAL; // (int)count < 0
  const cmd = rawCmd & GNTTABOP_CMD_MASK;
  if (cmd !== GNTTABOP.cache_flush && rawCmd !== cmd) return -XEN_EINVAL;
  switch (cmd) {
    case GNTTABOP.map_grant_ref:
      return mapGrantRef(v, op, count);
    case GNTTABOP.unmap_grant_ref:
    case GNTTABOP.unmap_and_replace:
      return unmapGrantRef(v, op, count);
    case GNTTABOP.copy:
      return grantCopy(v, op, count);
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
      v.mem.setU32(op + GNTTAB_GET_VERSION.version, grantTableVersion(v.domain));
      return 0;
    }
    // transfer, swap_grant_ref, v2 status frames, dump_table, cache_flush: not offered.
    default:
      return -XEN_ENOSYS;
  }
}

registerHypercall(HYPERVISOR.grant_table_op, grantTableOp);
