/**
 * The PV MMU hypercalls (xen/arch/x86/mm.c: do_mmu_update, do_mmuext_op,
 * __do_update_va_mapping, new_guest_cr3): page-table updates checked by the
 * page-type rules of src/mmu/page-types.ts, pinning, base pointers, TLB
 * flushes.
 *
 *   1  mmu_update(reqs, count, done*, foreigndom)
 *  14  update_va_mapping(va, pte, flags)
 *  22  update_va_mapping_otherdomain(va, pte, flags, domid) — DOMID_SELF only
 *  26  mmuext_op(ops, count, done*, foreigndom)
 *
 * TLB policy: our software TLB is flushed on every vCPU of the domain
 * whenever an entry that was present changes in a way a TLB caches (frame,
 * P, RW, U, NX, caching bits) — a machine address gives no VA to invalidate
 * precisely. New mappings over non-present entries need no flush (failed
 * walks are never cached). Guest-requested flushes are honoured on top.
 *
 * Differences from Xen: no preemption/continuations (a huge `count` runs
 * to completion); foreigndom other than DOMID_SELF gives -EPERM (own id:
 * -ESRCH) as for a domU without privileges over other domains; FLUSH_CACHE
 * gives -EACCES as for any domain without cache-flush permission.
 */
import type { Vcpu } from '../domains/vcpu.ts';
import { CPU_FAULT } from '../cpu/state.ts';
import { toVa, vaHi, vaLo } from '../domains/guest-memory.ts';
import { pageTypes, PGT_l4, type PageTypes } from '../mmu/page-types.ts';
import { registerHypercall } from './dispatch.ts';
import {
  DOMID_IO, DOMID_SELF, DOMID_XEN, HYPERVISOR, XEN_EACCES, XEN_EFAULT, XEN_EINVAL, XEN_ENOSYS, XEN_EOPNOTSUPP, XEN_EPERM,
  XEN_ESRCH,
} from './abi.ts';

/** mmu_update commands: ptr[2:0] (xen/xen.h). */
export const MMU_NORMAL_PT_UPDATE = 0, MMU_MACHPHYS_UPDATE = 1, MMU_PT_UPDATE_PRESERVE_AD = 2, MMU_PT_UPDATE_NO_TRANSLATE = 3;
/** struct mmu_update { uint64_t ptr; uint64_t val; } */
export const MMU_UPDATE = { ptr: 0, val: 8, size: 16 } as const;
/** Set in `count` by Xen's own continuations. */
export const MMU_UPDATE_PREEMPTED = 0x80000000;

/** mmuext_op commands (xen/xen.h). */
export const MMUEXT_PIN_L1_TABLE = 0, MMUEXT_PIN_L2_TABLE = 1, MMUEXT_PIN_L3_TABLE = 2, MMUEXT_PIN_L4_TABLE = 3;
export const MMUEXT_UNPIN_TABLE = 4, MMUEXT_NEW_BASEPTR = 5, MMUEXT_TLB_FLUSH_LOCAL = 6, MMUEXT_INVLPG_LOCAL = 7;
export const MMUEXT_TLB_FLUSH_MULTI = 8, MMUEXT_INVLPG_MULTI = 9, MMUEXT_TLB_FLUSH_ALL = 10, MMUEXT_INVLPG_ALL = 11;
export const MMUEXT_FLUSH_CACHE = 12, MMUEXT_SET_LDT = 13, MMUEXT_NEW_USER_BASEPTR = 15, MMUEXT_CLEAR_PAGE = 16;
export const MMUEXT_COPY_PAGE = 17, MMUEXT_FLUSH_CACHE_GLOBAL = 18, MMUEXT_MARK_SUPER = 19, MMUEXT_UNMARK_SUPER = 20;
/** struct mmuext_op { unsigned int cmd; union arg1 @8; union arg2 @16; } (24 bytes on x86_64). */
export const MMUEXT_OP = { cmd: 0, arg1: 8, arg2: 16, size: 24 } as const;

/** update_va_mapping flags (xen/xen.h). */
export const UVMF_NONE = 0, UVMF_TLB_FLUSH = 1, UVMF_INVLPG = 2, UVMF_FLUSHTYPE_MASK = 3;
export const UVMF_MULTI = 0, UVMF_LOCAL = 0, UVMF_ALL = 4;

/** Most LDT entries MMUEXT_SET_LDT accepts. */
export const MAX_LDT_ENTRIES = 8192;

// ---------------------------------------------------------------- guest memory, allocation-free

/** High half of the last rd64. */
let rdHi = 0;

/** Read the u64 at canonical-number VA `va` through the current tables; throws CPU_FAULT. */
function rd64(v: Vcpu, va: number): number {
  const lo = vaLo(va), hi = vaHi(va);
  if (va !== va || (hi << 16) >> 16 !== hi) throw CPU_FAULT;
  const r = v.cpu.read64(lo, hi);
  rdHi = v.cpu.hi;
  return r;
}

/** Store the hypercall's `done` count (a u32*; NULL = none). Faults are ignored, as in Xen. */
function writeDone(v: Vcpu, va: number, done: number): void {
  if (va === 0 || va !== va) return;
  const lo = vaLo(va), hi = vaHi(va);
  if ((hi << 16) >> 16 !== hi) return;
  try {
    v.cpu.write32(lo, hi, done);
  } catch (e) {
    if (e !== CPU_FAULT) throw e;
  }
}

/** Xen's __addr_ok for 64-bit PV: canonical and outside the hypervisor hole. */
export function addrOk(hi: number): boolean {
  const u = hi >>> 0;
  return u < 0x8000 || u >= 0xffff8800;
}

function isCanonical(hi: number): boolean {
  return (hi << 16) >> 16 === hi;
}

/** An MFN argument (xen_pfn_t) as a number (inexact beyond 2^53, which no owned MFN is). */
function mfnArg(lo: number, hi: number): number {
  return (hi >>> 0) * 4294967296 + (lo >>> 0);
}

export function flushAllTlbs(v: Vcpu): void {
  for (const w of v.domain.vcpus) w.mmu.flush();
}

function flushIfNeeded(v: Vcpu, pt: PageTypes): void {
  if (pt.needFlush) {
    pt.needFlush = false;
    flushAllTlbs(v);
  }
}

/**
 * Apply a TLB flush (invlpg when `invlpg`) to the vCPUs named by the
 * bitmap of unsigned longs at `maskVa` (vcpumask_to_pcpumask). Returns 0 or
 * -EFAULT.
 */
function flushMask(v: Vcpu, maskVa: number, invlpg: boolean, lo: number, hi: number): number {
  const vcpus = v.domain.vcpus;
  try {
    for (let offs = 0; ; offs++) {
      const bias = offs * 64;
      if (bias >= vcpus.length) return 0;
      const wlo = rd64(v, maskVa + offs * 8), whi = rdHi;
      for (let j = 0; j < 64; j++) {
        if (((j < 32 ? wlo >>> j : whi >>> (j - 32)) & 1) === 0) continue;
        const id = bias + j;
        if (id >= vcpus.length) return 0;
        const w = vcpus[id]!;
        if (invlpg) w.mmu.invalidatePage(lo, hi);
        else w.mmu.flush();
      }
    }
  } catch (e) {
    if (e !== CPU_FAULT) throw e;
    return -XEN_EFAULT;
  }
}

// ---------------------------------------------------------------- base pointers

/**
 * Install `mfn` as the vCPU's kernel L4 (guest_table): validate it as an L4,
 * hold a type reference while installed, drop the previous one
 * (new_guest_cr3). For MMUEXT_NEW_BASEPTR, and for the domain builder and
 * VCPUOP_initialise, which must install initial roots through here (after
 * pinning) so the reference counts stay right. Returns 0 or -errno.
 */
export function installKernelRoot(v: Vcpu, mfn: number): number {
  const pt = pageTypes(v.domain.memory);
  const held = pt.kernelRootRef[v.id] ?? 0;
  if (mfn === held && v.mmu.kernelRoot === mfn) {
    v.mmu.flush(); // write_ptbase: reloading CR3 flushes
    return 0;
  }
  const rc = pt.getTypeMfn(mfn, PGT_l4);
  if (rc < 0) return rc;
  pt.kernelRootRef[v.id] = mfn;
  v.mmu.setKernelRoot(mfn);
  if (held !== 0) pt.putTypeMfn(held);
  return 0;
}

/** MMUEXT_NEW_USER_BASEPTR (guest_table_user); 0 removes it. Returns 0 or -errno. */
export function installUserRoot(v: Vcpu, mfn: number): number {
  const pt = pageTypes(v.domain.memory);
  const held = pt.userRootRef[v.id] ?? 0;
  if (mfn === held) {
    if (v.mmu.userRoot !== mfn) v.mmu.setUserRoot(mfn);
    return 0;
  }
  if (mfn !== 0) {
    const rc = pt.getTypeMfn(mfn, PGT_l4);
    if (rc < 0) return rc;
  }
  pt.userRootRef[v.id] = mfn;
  v.mmu.setUserRoot(mfn);
  if (held !== 0) pt.putTypeMfn(held);
  return 0;
}

// ---------------------------------------------------------------- mmu_update

/** Errno for a foreigndom naming someone other than the caller (get_pg_owner + XSM for a domU). */
function foreignError(v: Vcpu, domid: number): number {
  if (domid === DOMID_SELF) return 0;
  if (domid === v.domain.id) return -XEN_ESRCH; // "Cannot specify itself as foreign domain"
  return -XEN_EPERM;
}

function mmuUpdate(v: Vcpu): number {
  const reqs = v.argVa(0);
  const count = v.arg32(1) & ~MMU_UPDATE_PREEMPTED;
  const pdone = v.argVa(2);
  const foreigndom = v.arg32(3);
  const ptDom = foreigndom >>> 16;
  if (ptDom !== 0 && ptDom - 1 !== v.domain.id) return -XEN_EPERM;
  const pt = pageTypes(v.domain.memory);
  const mem = v.domain.memory;
  let rc = foreignError(v, foreigndom & 0xffff);
  let i = 0;
  if (rc === 0) {
    try {
      for (; i < count; i++) {
        const a = reqs + i * MMU_UPDATE.size;
        const ptrLo = rd64(v, a + MMU_UPDATE.ptr), ptrHi = rdHi;
        const valLo = rd64(v, a + MMU_UPDATE.val), valHi = rdHi;
        const cmd = ptrLo & 7;
        switch (cmd) {
          case MMU_NORMAL_PT_UPDATE:
          case MMU_PT_UPDATE_PRESERVE_AD:
          case MMU_PT_UPDATE_NO_TRANSLATE:
            rc = pt.normalUpdate(ptrLo & ~7, ptrHi, valLo, valHi, cmd === MMU_PT_UPDATE_PRESERVE_AD);
            break;
          case MMU_MACHPHYS_UPDATE: {
            const mfn = (ptrLo >>> 12) + (ptrHi >>> 0) * 1048576;
            if (pt.mappable(mfn) < 0) {
              rc = -XEN_EINVAL;
              break;
            }
            if (valHi === 0 && valLo >= 0) mem.setM2p(mfn, valLo);
            else if (valHi === -1 && valLo === -1) mem.setM2p(mfn, -1);
            else {
              // Any other u64 is stored as given (Linux only writes PFNs and ~0).
              const o = mem.m2pBase * 4096 + (mfn - mem.baseMfn) * 8;
              mem.dv.setInt32(o, valLo, true);
              mem.dv.setInt32(o + 4, valHi, true);
            }
            rc = 0;
            break;
          }
          default:
            rc = -XEN_ENOSYS;
        }
        if (rc !== 0) break;
      }
    } catch (e) {
      if (e !== CPU_FAULT) throw e;
      rc = -XEN_EFAULT;
    }
  }
  flushIfNeeded(v, pt);
  writeDone(v, pdone, i);
  return rc;
}

// ---------------------------------------------------------------- update_va_mapping

function updateVaMapping(v: Vcpu): number {
  const lo = v.argLo(0), hi = v.argHi(0);
  const valLo = v.argLo(1), valHi = v.argHi(1);
  const flagsLo = v.argLo(2), flagsHi = v.argHi(2);
  if (!addrOk(hi)) return -XEN_EINVAL;
  const pt = pageTypes(v.domain.memory);
  const f = pt.findL1(v.mmu.kernelRoot, lo, hi);
  if (f < 0 || pt.inUseLevel(f) !== 1) return -XEN_EINVAL;
  const rc = pt.modEntry(f, 1, pt.l1Index, valLo, valHi, false);
  if (rc !== 0) return rc;
  let result = 0;
  const kind = flagsLo & UVMF_FLUSHTYPE_MASK;
  if (kind === UVMF_TLB_FLUSH || kind === UVMF_INVLPG) {
    const invlpg = kind === UVMF_INVLPG;
    const bLo = flagsLo & ~UVMF_FLUSHTYPE_MASK;
    if (bLo === UVMF_LOCAL && flagsHi === 0) {
      if (invlpg) v.mmu.invalidatePage(lo, hi);
      else v.mmu.flush();
    } else if (bLo === UVMF_ALL && flagsHi === 0) {
      for (const w of v.domain.vcpus) {
        if (invlpg) w.mmu.invalidatePage(lo, hi);
        else w.mmu.flush();
      }
    } else {
      result = flushMask(v, toVa(bLo, flagsHi), invlpg, lo, hi);
    }
  }
  flushIfNeeded(v, pt);
  return result;
}

function updateVaMappingOtherdomain(v: Vcpu): number {
  const rc = foreignError(v, v.arg32(3) & 0xffff);
  return rc !== 0 ? rc : updateVaMapping(v);
}

// ---------------------------------------------------------------- mmuext_op

function mmuextOp(v: Vcpu): number {
  const ops = v.argVa(0);
  const count = v.arg32(1) & ~MMU_UPDATE_PREEMPTED;
  const pdone = v.argVa(2);
  const fd = v.arg32(3) & 0xffff;
  if (fd !== DOMID_SELF) {
    if (fd === v.domain.id) return -XEN_ESRCH;
    if (fd === DOMID_IO || fd === DOMID_XEN) return -XEN_EINVAL; // not a PV domain
    return -XEN_EPERM;
  }
  const pt = pageTypes(v.domain.memory);
  let rc = 0;
  let i = 0;
  try {
    for (; i < count; i++) {
      const a = ops + i * MMUEXT_OP.size;
      const cmd = rd64(v, a + MMUEXT_OP.cmd) >>> 0;
      const a1Lo = rd64(v, a + MMUEXT_OP.arg1), a1Hi = rdHi;
      const a2Lo = rd64(v, a + MMUEXT_OP.arg2), a2Hi = rdHi;
      rc = mmuextOne(v, pt, cmd, a1Lo, a1Hi, a2Lo, a2Hi);
      if (rc !== 0) break;
    }
  } catch (e) {
    if (e !== CPU_FAULT) throw e;
    rc = -XEN_EFAULT;
  }
  flushIfNeeded(v, pt);
  writeDone(v, pdone, i);
  return rc;
}

function mmuextOne(v: Vcpu, pt: PageTypes, cmd: number, a1Lo: number, a1Hi: number, a2Lo: number, a2Hi: number): number {
  switch (cmd) {
    case MMUEXT_PIN_L1_TABLE:
    case MMUEXT_PIN_L2_TABLE:
    case MMUEXT_PIN_L3_TABLE:
    case MMUEXT_PIN_L4_TABLE:
      return pt.pin(mfnArg(a1Lo, a1Hi), cmd - MMUEXT_PIN_L1_TABLE + 1);
    case MMUEXT_UNPIN_TABLE:
      return pt.unpin(mfnArg(a1Lo, a1Hi));
    case MMUEXT_NEW_BASEPTR:
      return installKernelRoot(v, mfnArg(a1Lo, a1Hi));
    case MMUEXT_NEW_USER_BASEPTR:
      return installUserRoot(v, mfnArg(a1Lo, a1Hi));
    case MMUEXT_TLB_FLUSH_LOCAL:
      v.mmu.flush();
      return 0;
    case MMUEXT_INVLPG_LOCAL:
      if (isCanonical(a1Hi)) v.mmu.invalidatePage(a1Lo, a1Hi);
      return 0;
    case MMUEXT_TLB_FLUSH_MULTI:
    case MMUEXT_INVLPG_MULTI: {
      const invlpg = cmd === MMUEXT_INVLPG_MULTI;
      if (invlpg && !addrOk(a1Hi)) {
        // Xen still reads the mask (and fails on a bad one), then skips the flush.
        return flushMaskCheckOnly(v, toVa(a2Lo, a2Hi));
      }
      return flushMask(v, toVa(a2Lo, a2Hi), invlpg, a1Lo, a1Hi) === 0 ? 0 : -XEN_EINVAL;
    }
    case MMUEXT_TLB_FLUSH_ALL:
      flushAllTlbs(v);
      return 0;
    case MMUEXT_INVLPG_ALL:
      if (addrOk(a1Hi)) for (const w of v.domain.vcpus) w.mmu.invalidatePage(a1Lo, a1Hi);
      return 0;
    case MMUEXT_FLUSH_CACHE:
    case MMUEXT_FLUSH_CACHE_GLOBAL:
      return -XEN_EACCES; // needs cache-flush permission (I/O memory access), which a domU lacks
    case MMUEXT_SET_LDT: {
      const ents = a2Lo >>> 0;
      if (ents > MAX_LDT_ENTRIES || (ents !== 0 && ((a1Lo & 0xfff) !== 0 || !addrOk(a1Hi)))) return -XEN_EINVAL;
      const base = ents !== 0 ? toVa(a1Lo, a1Hi) : 0;
      v.ldtBase = base;
      v.ldtEntries = ents;
      return 0;
    }
    case MMUEXT_CLEAR_PAGE:
      return pt.clearPage(mfnArg(a1Lo, a1Hi));
    case MMUEXT_COPY_PAGE:
      return pt.copyPage(mfnArg(a1Lo, a1Hi), mfnArg(a2Lo, a2Hi));
    case MMUEXT_MARK_SUPER:
    case MMUEXT_UNMARK_SUPER:
      return -XEN_EOPNOTSUPP;
    default:
      return -XEN_ENOSYS;
  }
}

/** Read a vCPU mask without acting on it: -EINVAL when it cannot be read. */
function flushMaskCheckOnly(v: Vcpu, maskVa: number): number {
  const n = v.domain.vcpus.length;
  try {
    for (let offs = 0; offs * 64 < n; offs++) rd64(v, maskVa + offs * 8);
    return 0;
  } catch (e) {
    if (e !== CPU_FAULT) throw e;
    return -XEN_EINVAL;
  }
}

registerHypercall(HYPERVISOR.mmu_update, mmuUpdate);
registerHypercall(HYPERVISOR.update_va_mapping, updateVaMapping);
registerHypercall(HYPERVISOR.update_va_mapping_otherdomain, updateVaMappingOtherdomain);
registerHypercall(HYPERVISOR.mmuext_op, mmuextOp);
