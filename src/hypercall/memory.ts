/**
 * memory_op (12): XENMEM_* for a 64-bit PV domU (xen/common/memory.c
 * do_memory_op, xen/arch/x86/mm.c arch_memory_op, Xen 4.17).
 *
 * Frame ownership is the hypervisor's P2M in DomainMemory: RAM frame f is
 * the domain's while `p2m[f] === baseMfn + f` (that is what page-types.ts's
 * ownedRam checks before any mapping). The balloon ops move frames in and
 * out of that set:
 *  - decrease_reservation (extent list = MFNs, as for any PV guest) releases
 *    owned frames: P2M slot -1, M2P entry invalid. A frame still referenced
 *    (mapped writable, a page table, a GDT page) stays untouched until its
 *    references are gone, as Xen frees a page only at its last reference;
 *  - populate_physmap (extent list = PFNs in, MFNs out) and
 *    increase_reservation (MFNs out) take released frames back (zeroed),
 *    preferring frame p for PFN p so the P2M stays an identity where it can.
 * The buffer never grows: a domain can get back at most what it gave up, so
 * populating beyond nr_pages fails the way Xen fails when it runs out of
 * memory (the count of extents done stops short).
 *
 * XENMEM_memory_map returns what libxl gives every PV domU
 * (libxl__arch_domain_create → xc_domain_set_memmap_limit): one E820 RAM
 * entry [0, maxmem) — here [0, maxPages * 4096). Linux then reserves the
 * ISA hole itself, which is exactly the map in the real-Xen boot log (with
 * -ENOSYS, Linux would add 8 MiB of "slack" RAM the log does not show).
 * A toolstack may set another map with setMemoryMap (XENMEM_set_memory_map's
 * effect, e.g. for e820_host).
 */
import type { Domain } from '../domains/domain.ts';
import type { Vcpu } from '../domains/vcpu.ts';
import { DOM0_ID } from '../domains/registry.ts';
import { GuestFault, toVa } from '../domains/guest-memory.ts';
import { ARCH_SHARED_INFO, SHARED_INFO } from '../domains/shared-info.ts';
import { PAGE_SIZE } from '../mmu/domain-memory.ts';
import { pageTypes } from '../mmu/page-types.ts';
import { registerHypercall } from './dispatch.ts';
import {
  DOMID_SELF,
  HYPERVISOR,
  HYPERVISOR_VIRT_END,
  HYPERVISOR_VIRT_START,
  MACH2PHYS_VIRT_END,
  MACH2PHYS_VIRT_START,
  XEN_EACCES,
  XEN_EINVAL,
  XEN_ENOSYS,
  XEN_EOPNOTSUPP,
  XEN_EPERM,
  XEN_ESRCH,
} from './abi.ts';

/** XENMEM_* (xen/memory.h). */
export const XENMEM = {
  increase_reservation: 0,
  decrease_reservation: 1,
  maximum_ram_page: 2,
  current_reservation: 3,
  maximum_reservation: 4,
  machphys_mfn_list: 5,
  populate_physmap: 6,
  add_to_physmap: 7,
  memory_map: 9,
  machine_memory_map: 10,
  exchange: 11,
  machphys_mapping: 12,
  set_memory_map: 13,
  maximum_gpfn: 14,
  remove_from_physmap: 15,
  claim_pages: 24,
  add_to_physmap_batch: 23,
  machphys_compat_mfn_list: 25,
  get_vnumainfo: 26,
  reserved_device_memory_map: 27,
  acquire_resource: 28,
} as const;

/** MEMOP_EXTENT_SHIFT / MEMOP_CMD_MASK: a continuation's start extent rides in cmd's upper bits. */
export const MEMOP_EXTENT_SHIFT = 6, MEMOP_CMD_MASK = (1 << MEMOP_EXTENT_SHIFT) - 1;

/** struct xen_memory_reservation (32 bytes). */
export const XEN_MEMORY_RESERVATION = { extent_start: 0, nr_extents: 8, extent_order: 16, mem_flags: 20, domid: 24, size: 32 } as const;
/** struct xen_machphys_mapping (24 bytes). */
export const XEN_MACHPHYS_MAPPING = { v_start: 0, v_end: 8, max_mfn: 16, size: 24 } as const;
/** struct xen_memory_map (16 bytes); its buffer holds packed 20-byte e820 entries {u64 addr, u64 size, u32 type}. */
export const XEN_MEMORY_MAP = { nr_entries: 0, buffer: 8, size: 16 } as const;
export const E820_ENTRY_SIZE = 20;
/** struct xen_add_to_physmap (24 bytes) / xen_add_to_physmap_batch: the fields read before Xen refuses a PV guest. */
export const XEN_ADD_TO_PHYSMAP = { domid: 0, size: 2, space: 4, idx: 8, gpfn: 16, sizeof: 24 } as const;
export const XEN_ADD_TO_PHYSMAP_BATCH = { domid: 0, space: 2, sizeof: 32 } as const;
/** XENMAPSPACE_* used in the checks above. */
export const XENMAPSPACE_gmfn_range = 3, XENMAPSPACE_gmfn_foreign = 4;
/** struct xen_vnuma_topology_info: domid @0, pad @2 (the rest is never reached for a domU). */
export const XEN_VNUMA_TOPOLOGY_INFO = { domid: 0, pad: 2, size: 40 } as const;
/** Xen's CONFIG_DOMU_MAX_ORDER (x86): the largest extent a domU may ask for. */
export const DOMU_MAX_ORDER = 9;
/** XENMEMF_get_address_bits: mem_flags bits 0-7. */
export const XENMEMF_ADDRESS_BITS_MASK = 0xff;
/** E820 types; E820MAX, the most entries Xen keeps. */
export const E820_RAM = 1, E820_RESERVED = 2, E820MAX = 1024;

export interface E820Entry {
  addr: number;
  size: number;
  type: number;
}

// ------------------------------------------------------------------ helpers shared by the hypercall families

const TWO32 = 4294967296;
/** The Xen hole [HYPERVISOR_VIRT_START, HYPERVISOR_VIRT_END) as canonical (signed) numbers. */
const HV_START_SIGNED = Number(BigInt.asIntN(64, HYPERVISOR_VIRT_START));
const HV_END_SIGNED = Number(BigInt.asIntN(64, HYPERVISOR_VIRT_END));

/**
 * Xen's guest_handle_okay / array_access_ok for a 64-bit PV guest: the
 * start address must not lie in the hypervisor's hole
 * [0xffff800000000000, 0xffff880000000000) and the count must be below
 * 2^31. It checks nothing else: the accesses themselves may still fault.
 */
export function guestHandleOkay(va: number, count: number): boolean {
  if (!Number.isFinite(va)) return false;
  if (count >= 0x80000000) return false;
  return !(va >= HV_START_SIGNED && va < HV_END_SIGNED);
}

/**
 * rcu_lock_domain_by_any_id + the XSM_TARGET check for a domU naming a
 * domain: 0 for itself (DOMID_SELF or its own id), -EPERM for another
 * existing domain (a domU has no privilege over dom0 or its peers), -ESRCH
 * for one that does not exist and for the reserved ids (DOMID_IO, DOMID_XEN,
 * …). A domain in a registry knows which ids exist; one outside any (a
 * hand-built test domain) takes every id below DOMID_FIRST_RESERVED to exist.
 */
export function lookupDomain(d: Domain, domid: number): number {
  if (domid === DOMID_SELF || domid === d.id) return 0;
  if (domid >= DOMID_SELF) return -XEN_ESRCH;
  if (domid === DOM0_ID || !d.registry || d.registry.get(domid)) return -XEN_EPERM;
  return -XEN_ESRCH;
}

/** A u64 guest field read as a canonical pointer (NaN when not canonical, so accesses fault). */
export function readPointer(v: Vcpu, va: number, scratch: Int32Array): number {
  v.mem.u64parts(va, scratch);
  return toVa(scratch[0]!, scratch[1]!);
}

/** A u64 guest field read as an unsigned number (exact below 2^53). */
export function readU64(v: Vcpu, va: number, scratch: Int32Array): number {
  v.mem.u64parts(va, scratch);
  return (scratch[1]! >>> 0) * TWO32 + (scratch[0]! >>> 0);
}

const PARTS = new Int32Array(2);

/** Rethrow anything that is not a guest memory fault (host bugs must not be swallowed). */
export function mustBeFault(e: unknown): void {
  if (!(e instanceof GuestFault)) throw e;
}

// ------------------------------------------------------------------ per-domain state

interface MemState {
  /** Released frame indices, newest last; entries may be stale (re-owned since): checked on pop. */
  released: number[];
  releasedCount: number;
  e820: E820Entry[] | undefined;
}

const STATE = new WeakMap<Domain, MemState>();

function stateOf(d: Domain): MemState {
  let s = STATE.get(d);
  if (!s) {
    s = { released: [], releasedCount: 0, e820: undefined };
    STATE.set(d, s);
  }
  return s;
}

/**
 * Give the domain a memory map (XENMEM_set_memory_map). `undefined` restores
 * libxl's default for PV, one RAM entry [0, maxmem); an empty list makes
 * XENMEM_memory_map fail with -ENOSYS, as for a domain nobody gave a map.
 */
export function setMemoryMap(d: Domain, entries: E820Entry[] | undefined): void {
  stateOf(d).e820 = entries?.map((e) => ({ ...e }));
}

/** The map XENMEM_memory_map returns. */
export function memoryMap(d: Domain): E820Entry[] {
  return stateOf(d).e820 ?? [{ addr: 0, size: d.maxPages * PAGE_SIZE, type: E820_RAM }];
}

/** Pages the domain holds now (Xen's domain_tot_pages). */
export function currentPages(d: Domain): number {
  return d.memory.nrPages - stateOf(d).releasedCount;
}

/** Is this RAM frame currently given back to the hypervisor (ballooned out)? */
export function isReleasedMfn(d: Domain, mfn: number): boolean {
  const mem = d.memory;
  const f = mfn - mem.baseMfn;
  return f >= 0 && f < mem.nrPages && mem.p2m[f] !== mfn;
}

/** Release owned RAM frame `mfn` (decrease_reservation). false when the domain does not own it. */
function releaseFrame(d: Domain, s: MemState, mfn: number): boolean {
  const mem = d.memory;
  const f = pageTypes(mem).ownedRam(mfn);
  if (f < 0) return false;
  mem.p2m[f] = -1;
  mem.setM2p(mfn, -1);
  s.released.push(f);
  s.releasedCount++;
  return true;
}

/** Can released frame f be handed out again (no references left on it)? */
function reusable(d: Domain, f: number): boolean {
  const mem = d.memory;
  const pt = pageTypes(mem);
  return f >= 0 && f < mem.nrPages && mem.p2m[f] === -1 && pt.typeCount(mem.baseMfn + f) === 0 && pt.refs[f] === 0;
}

/**
 * Take a released frame back (preferring frame `prefer`), zero it and mark
 * it owned. Returns its MFN or -1 when none is free, or the domain is at
 * max_pages, or the frame's machine address needs more than `addressBits`.
 */
function takeFrame(d: Domain, s: MemState, prefer: number, addressBits: number): number {
  const mem = d.memory;
  if (s.releasedCount === 0 || currentPages(d) >= d.maxPages) return -1;
  const fits = (f: number): boolean => addressBits === 0 || (mem.baseMfn + f + 1) * PAGE_SIZE <= 2 ** addressBits;
  let f = -1;
  if (reusable(d, prefer) && fits(prefer)) f = prefer;
  else {
    // Newest first; drop stale entries (frames re-owned since they were pushed).
    for (let k = s.released.length - 1; k >= 0; k--) {
      const g = s.released[k]!;
      if (mem.p2m[g] !== -1) {
        s.released.splice(k, 1);
        continue;
      }
      if (reusable(d, g) && fits(g)) {
        f = g;
        break;
      }
    }
  }
  if (f < 0) return -1;
  const mfn = mem.baseMfn + f;
  mem.ram.fill(0, f * PAGE_SIZE, (f + 1) * PAGE_SIZE);
  mem.p2m[f] = mfn;
  s.releasedCount--;
  return mfn;
}

// ------------------------------------------------------------------ the hypercall

function memoryOp(v: Vcpu): number {
  const cmdLo = v.argLo(0), cmdHi = v.argHi(0);
  const op = cmdLo & MEMOP_CMD_MASK;
  const startExtent = (cmdHi >>> 0) * 2 ** (32 - MEMOP_EXTENT_SHIFT) + (cmdLo >>> MEMOP_EXTENT_SHIFT);
  const arg = v.argVa(1);
  const d = v.domain;

  switch (op) {
    case XENMEM.increase_reservation:
    case XENMEM.decrease_reservation:
    case XENMEM.populate_physmap:
      return reservationOp(v, op, startExtent, arg);
  }
  // Everything else refuses a continuation index.
  if (startExtent !== 0 && op !== XENMEM.add_to_physmap && op !== XENMEM.add_to_physmap_batch) return -XEN_EINVAL;

  switch (op) {
    case XENMEM.maximum_ram_page:
      // Xen: max_page, the host's frame count. xenjs' machine is what it hands out.
      return d.memory.maxMfn + 1;

    case XENMEM.current_reservation:
    case XENMEM.maximum_reservation:
    case XENMEM.maximum_gpfn: {
      const domid = v.mem.u16(arg);
      const rc = lookupDomain(d, domid);
      if (rc) return rc;
      if (op === XENMEM.current_reservation) return currentPages(d);
      if (op === XENMEM.maximum_reservation) return d.maxPages;
      // domain_get_maximum_gpfn for PV: (shared_info.arch.max_pfn ?: 1) - 1, the value the guest wrote.
      const mem = d.memory;
      const o = mem.offsetOfMfn(d.sharedInfoMfn) + SHARED_INFO.arch + ARCH_SHARED_INFO.max_pfn;
      const maxPfn = (mem.dv.getUint32(o + 4, true) * TWO32) + mem.dv.getUint32(o, true);
      return (maxPfn || 1) - 1;
    }

    case XENMEM.machphys_mapping: {
      // v_start/v_end: the read-only M2P in the Xen hole; max_mfn bounds the guest's M2P look-ups to
      // the MFNs this domain can see (Xen gives a domU MACH2PHYS_NR_ENTRIES - 1).
      const out = new Uint8Array(XEN_MACHPHYS_MAPPING.size);
      const dv = new DataView(out.buffer);
      dv.setBigUint64(XEN_MACHPHYS_MAPPING.v_start, MACH2PHYS_VIRT_START, true);
      dv.setBigUint64(XEN_MACHPHYS_MAPPING.v_end, MACH2PHYS_VIRT_END, true);
      dv.setBigUint64(XEN_MACHPHYS_MAPPING.max_mfn, BigInt(d.memory.maxMfn), true);
      v.mem.setBytes(arg, out);
      return 0;
    }

    case XENMEM.memory_map: {
      const nr = v.mem.u32(arg + XEN_MEMORY_MAP.nr_entries);
      const buffer = readPointer(v, arg + XEN_MEMORY_MAP.buffer, PARTS);
      const map = memoryMap(d);
      if (map.length === 0) return -XEN_ENOSYS; // "backwards compatibility": no map set
      const n = Math.min(nr, map.length);
      const out = new Uint8Array(n * E820_ENTRY_SIZE);
      const dv = new DataView(out.buffer);
      for (let i = 0; i < n; i++) {
        const e = map[i]!;
        dv.setBigUint64(i * E820_ENTRY_SIZE, BigInt(e.addr), true);
        dv.setBigUint64(i * E820_ENTRY_SIZE + 8, BigInt(e.size), true);
        dv.setUint32(i * E820_ENTRY_SIZE + 16, e.type, true);
      }
      v.mem.setBytes(buffer, out);
      v.mem.setU32(arg + XEN_MEMORY_MAP.nr_entries, n);
      return 0;
    }

    case XENMEM.set_memory_map: {
      // struct xen_foreign_memory_map {domid_t domid; struct xen_memory_map map @8}: XSM_TARGET, so a
      // domain may set its own map.
      const domid = v.mem.u16(arg);
      const nr = v.mem.u32(arg + 8 + XEN_MEMORY_MAP.nr_entries);
      const buffer = readPointer(v, arg + 8 + XEN_MEMORY_MAP.buffer, PARTS);
      if (nr > E820MAX) return -XEN_EINVAL;
      const rc = lookupDomain(d, domid);
      if (rc) return rc;
      const raw = v.mem.bytes(buffer, nr * E820_ENTRY_SIZE);
      const dv = new DataView(raw.buffer);
      const entries: E820Entry[] = [];
      for (let i = 0; i < nr; i++) {
        entries.push({
          addr: Number(dv.getBigUint64(i * E820_ENTRY_SIZE, true)),
          size: Number(dv.getBigUint64(i * E820_ENTRY_SIZE + 8, true)),
          type: dv.getUint32(i * E820_ENTRY_SIZE + 16, true),
        });
      }
      setMemoryMap(d, entries);
      return 0;
    }
    case XENMEM.machine_memory_map:
      v.mem.bytes(arg, XEN_MEMORY_MAP.size);
      return -XEN_EPERM; // XSM_PRIV: dom0 only

    case XENMEM.add_to_physmap: {
      const domid = v.mem.u16(arg + XEN_ADD_TO_PHYSMAP.domid);
      const space = v.mem.u32(arg + XEN_ADD_TO_PHYSMAP.space);
      v.mem.bytes(arg, XEN_ADD_TO_PHYSMAP.sizeof);
      if (space === XENMAPSPACE_gmfn_foreign) return -XEN_ENOSYS;
      if (domid !== DOMID_SELF && domid >= DOMID_SELF) return -XEN_ESRCH;
      return -XEN_EACCES; // xatp_permission_check: not a translated (HVM/PVH) domain
    }
    case XENMEM.add_to_physmap_batch: {
      const domid = v.mem.u16(arg + XEN_ADD_TO_PHYSMAP_BATCH.domid);
      const space = v.mem.u16(arg + XEN_ADD_TO_PHYSMAP_BATCH.space);
      v.mem.bytes(arg, XEN_ADD_TO_PHYSMAP_BATCH.sizeof);
      if (space === XENMAPSPACE_gmfn_range) return -XEN_EOPNOTSUPP;
      if (domid !== DOMID_SELF && domid >= DOMID_SELF) return -XEN_ESRCH;
      return -XEN_EACCES;
    }
    case XENMEM.remove_from_physmap: {
      const domid = v.mem.u16(arg);
      v.mem.bytes(arg, 16);
      if (domid !== DOMID_SELF && domid >= DOMID_SELF) return -XEN_ESRCH;
      return -XEN_EACCES;
    }

    case XENMEM.claim_pages:
      return -XEN_EPERM;

    case XENMEM.get_vnumainfo: {
      const domid = v.mem.u16(arg + XEN_VNUMA_TOPOLOGY_INFO.domid);
      const pad = v.mem.u16(arg + XEN_VNUMA_TOPOLOGY_INFO.pad);
      v.mem.bytes(arg, XEN_VNUMA_TOPOLOGY_INFO.size);
      if (pad !== 0) return -XEN_EINVAL;
      const rc = lookupDomain(d, domid);
      if (rc) return rc;
      return -XEN_EOPNOTSUPP; // no vNUMA topology
    }

    // exchange: only swiotlb-xen needs it (guests over 4 GiB). machphys_mfn_list: the M2P's 2 MiB
    // machine extents, which xenjs' M2P mirror does not have. acquire_resource: privcmd/gntdev only.
    case XENMEM.exchange:
    case XENMEM.machphys_mfn_list:
    case XENMEM.machphys_compat_mfn_list:
    case XENMEM.acquire_resource:
    case XENMEM.reserved_device_memory_map:
    default:
      return -XEN_ENOSYS;
  }
}

/**
 * increase_reservation / decrease_reservation / populate_physmap. Like Xen,
 * the result is the number of extents done (errors just stop early), and
 * a bad argument returns the start extent.
 */
function reservationOp(v: Vcpu, op: number, start: number, arg: number): number {
  const d = v.domain;
  const m = v.mem;
  let list: number, nrExtents: number, order: number, memFlags: number, domid: number;
  try {
    list = readPointer(v, arg + XEN_MEMORY_RESERVATION.extent_start, PARTS);
    nrExtents = readU64(v, arg + XEN_MEMORY_RESERVATION.nr_extents, PARTS);
    order = m.u32(arg + XEN_MEMORY_RESERVATION.extent_order);
    memFlags = m.u32(arg + XEN_MEMORY_RESERVATION.mem_flags);
    domid = m.u16(arg + XEN_MEMORY_RESERVATION.domid);
  } catch (e) {
    mustBeFault(e);
    return start; // copy_from_guest failed: Xen returns start_extent, not -EFAULT
  }
  if (nrExtents > 0xffffffff >>> MEMOP_EXTENT_SHIFT || start >= nrExtents) return start;
  if (lookupDomain(d, domid) !== 0) return start;
  const addressBits = memFlags & XENMEMF_ADDRESS_BITS_MASK;
  if (addressBits !== 0 && addressBits <= 12) return start;
  const nullList = list === 0;
  if (op === XENMEM.increase_reservation) {
    if (!nullList && !guestHandleOkay(list, nrExtents)) return start;
  } else if (!guestHandleOkay(list, nrExtents)) return start;
  if (order > DOMU_MAX_ORDER) return start;

  const s = stateOf(d);
  const n = 2 ** order;
  let i = start;
  for (; i < nrExtents; i++) {
    const slot = list + i * 8;
    if (op === XENMEM.decrease_reservation) {
      let gmfn: number;
      try {
        gmfn = readU64(v, slot, PARTS);
      } catch (e) {
        mustBeFault(e);
        break;
      }
      let ok = true;
      for (let j = 0; j < n; j++) {
        if (!releaseFrame(d, s, gmfn + j)) {
          ok = false;
          break;
        }
      }
      if (!ok) break;
      continue;
    }
    // populate_physmap reads the PFN first; increase_reservation only reports the MFN.
    let gpfn = -1;
    if (op === XENMEM.populate_physmap) {
      try {
        gpfn = readU64(v, slot, PARTS);
      } catch (e) {
        mustBeFault(e);
        break;
      }
      if (gpfn + n > 0x7fffffff) break; // our M2P stores PFNs below 2^31
    }
    const mfn = takeExtent(d, s, order, gpfn, addressBits);
    if (mfn < 0) break;
    if (op === XENMEM.populate_physmap) for (let j = 0; j < n; j++) d.memory.setM2p(mfn + j, gpfn + j);
    if (op === XENMEM.populate_physmap || !nullList) {
      try {
        m.setU64num(slot, mfn);
      } catch (e) {
        mustBeFault(e);
        break; // as in Xen, the extent stays the domain's but is not counted as done
      }
    }
  }
  return i;
}

/** An extent of 2^order frames (contiguous, aligned for order > 0); its first MFN or -1. */
function takeExtent(d: Domain, s: MemState, order: number, gpfn: number, addressBits: number): number {
  if (order === 0) return takeFrame(d, s, gpfn, addressBits);
  const mem = d.memory;
  const n = 2 ** order;
  if (s.releasedCount < n || currentPages(d) + n > d.maxPages) return -1;
  const fits = (f: number): boolean => addressBits === 0 || (mem.baseMfn + f + n) * PAGE_SIZE <= 2 ** addressBits;
  const runOk = (f: number): boolean => {
    if (f < 0 || f % n !== 0 || f + n > mem.nrPages || !fits(f)) return false;
    for (let j = 0; j < n; j++) if (!reusable(d, f + j)) return false;
    return true;
  };
  let f = gpfn >= 0 && runOk(gpfn) ? gpfn : -1;
  if (f < 0) {
    for (const g of s.released) {
      const base = g - (g % n);
      if (runOk(base)) {
        f = base;
        break;
      }
    }
  }
  if (f < 0) return -1;
  for (let j = 0; j < n; j++) {
    mem.ram.fill(0, (f + j) * PAGE_SIZE, (f + j + 1) * PAGE_SIZE);
    mem.p2m[f + j] = mem.baseMfn + f + j;
  }
  s.releasedCount -= n;
  return mem.baseMfn + f;
}

registerHypercall(HYPERVISOR.memory_op, memoryOp);
