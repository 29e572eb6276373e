/**
 * The CPU-state hypercalls: the virtual IDT (set_trap_table), GDT and
 * descriptors (set_gdt, update_descriptor), the kernel stack (stack_switch),
 * callbacks (set_callbacks, callback_op), CR0.TS (fpu_taskswitch), debug
 * registers (set_debugreg, get_debugreg), segment bases (set_segment_base)
 * and HYPERVISOR_iret.
 *
 * Modelled on xen/arch/x86/pv/callback.c, descriptor-tables.c,
 * misc-hypercalls.c and iret.c. 64-bit PV only: no compat variants.
 */
import type { Vcpu } from '../domains/vcpu.ts';
import type { Domain } from '../domains/domain.ts';
import { NO_RETURN, registerHypercall } from './dispatch.ts';
import { inMulticall } from './multicall.ts';
import {
  FLAT_KERNEL_CS64, HYPERVISOR, VGCF_FAILSAFE_DISABLES_EVENTS, VGCF_SYSCALL_DISABLES_EVENTS, XEN_EFAULT, XEN_EINVAL, XEN_ENODEV,
  XEN_ENOSYS,
} from './abi.ts';
import { hypercallIret, TI_FLAG_IF, trapState } from '../domains/traps.ts';
import { DR_VALUE, fpuTaskswitch, readDebugReg, setDebugReg } from '../domains/priv-op.ts';
import { GuestFault, toVa, vaHi, vaLo } from '../domains/guest-memory.ts';
import { NMI, R11, RAX, RCX } from '../cpu/state.ts';
import { pageTypes, PGT_seg_desc, PGT_writable } from '../mmu/page-types.ts';

// ------------------------------------------------------------------ ABI (names as in the Xen public headers)

/** struct trap_info (xen/arch-x86/xen.h). */
export const TRAP_INFO = { vector: 0, flags: 1, cs: 2, address: 8, size: 16 } as const;
/** struct callback_register / callback_unregister (xen/callback.h). */
export const CALLBACK_REGISTER = { type: 0, flags: 2, address: 8, size: 16 } as const;
export const CALLBACK_UNREGISTER = { type: 0, size: 4 } as const;
export const CALLBACKOP_register = 0, CALLBACKOP_unregister = 1;
export const CALLBACKTYPE_event = 0, CALLBACKTYPE_failsafe = 1, CALLBACKTYPE_syscall = 2, CALLBACKTYPE_sysenter_deprecated = 3;
export const CALLBACKTYPE_nmi = 4, CALLBACKTYPE_sysenter = 5, CALLBACKTYPE_syscall32 = 7;
export const CALLBACKF_mask_events = 1;
/** set_segment_base's `which` (xen/arch-x86/xen-x86_64.h). */
export const SEGBASE_FS = 0, SEGBASE_GS_USER = 1, SEGBASE_GS_KERNEL = 2, SEGBASE_GS_USER_SEL = 3;
/** The guest GDT may use pages 0-13; Xen owns page 14 on (xen/arch-x86/xen.h). */
export const FIRST_RESERVED_GDT_PAGE = 14;
export const FIRST_RESERVED_GDT_ENTRY = (FIRST_RESERVED_GDT_PAGE * 4096) / 8;

/** Descriptor high-dword bits (xen asm/desc.h). */
const _SEGMENT_TYPE = 15 << 8, _SEGMENT_WR = 1 << 9, _SEGMENT_EC = 1 << 10, _SEGMENT_CODE = 1 << 11;
const _SEGMENT_S = 1 << 12, _SEGMENT_DPL = 3 << 13, _SEGMENT_P = 1 << 15;

/** Xen's own GDT entries a PV guest can load (xen/arch/x86/desc.c), as (low, high) dwords; all flat, base 0. */
const XEN_GDT: ReadonlyMap<number, readonly [number, number]> = new Map([
  [0xe023 >> 3, [0x0000ffff, 0x00cffb00]], // FLAT_RING3_CS32
  [0xe02b >> 3, [0x0000ffff, 0x00cff300]], // FLAT_RING3_DS32
  [0xe033 >> 3, [0x0000ffff, 0x00affb00]], // FLAT_RING3_CS64
]);

// ------------------------------------------------------------------ helpers

const PAIR = new Int32Array(2);
/** check_descriptor's output (the fixed-up descriptor). */
let descA = 0, descB = 0;

/**
 * check_descriptor for a 64-bit PV guest: not-present descriptors pass
 * unchanged; present ones get DPL 3; code/data segments are fine; a system
 * descriptor of type 0 passes unchanged; of the rest only call gates are
 * allowed (target selector a guest one, FLAT_KERNEL_CS or in the LDT; DPL
 * moved into the selector's RPL, gate DPL 0; reserved bits clear).
 */
export function checkDescriptor(a: number, b: number): boolean {
  descA = a;
  descB = b;
  if ((b & _SEGMENT_P) === 0) return true;
  // Any DPL below the guest kernel's RPL (3) becomes 3.
  const dpl = 3;
  b = (b & ~_SEGMENT_DPL) | (dpl << 13);
  if (b & _SEGMENT_S) {
    descA = a;
    descB = b;
    return true;
  }
  if ((b & _SEGMENT_TYPE) === 0) return true; // the harmless type 0 (e.g. the upper half of a call gate)
  if ((b & _SEGMENT_TYPE) !== 0xc00) return false; // only 64-bit call gates
  let cs = a >>> 16;
  if (!((cs >> 3) < FIRST_RESERVED_GDT_ENTRY || cs === FLAT_KERNEL_CS64 || (cs & 4) !== 0)) return false;
  b &= ~_SEGMENT_DPL;
  cs = (cs & ~3) | dpl;
  a = (a & 0xffff) | (cs << 16);
  if (b & 0xff) return false;
  descA = a;
  descB = b;
  return true;
}

/** Write 8 bytes into a domain frame on the hypervisor's behalf (CPUs drop any code decoded from it). */
function writeFrameU64(d: Domain, off: number, lo: number, hi: number): void {
  d.memory.dv.setInt32(off, lo, true);
  d.memory.dv.setInt32(off + 4, hi, true);
  for (const vc of d.vcpus) vc.cpu.invalidateCodePage(off >>> 12);
}

/** An MFN from a u64 held as (lo, hi), or -1 when it cannot be one of ours. */
function mfnOf(lo: number, hi: number): number {
  return hi >>> 0 < 0x100000 ? (hi >>> 0) * 4294967296 + (lo >>> 0) : -1;
}

/** validate_segdesc_page: check (and fix up in place) all 512 descriptors of a frame. */
function validateSegDescPage(d: Domain, mfn: number): boolean {
  const off = d.memory.offsetOfMfn(mfn);
  const dv = d.memory.dv;
  for (let k = 0; k < 512; k++) {
    const o = off + 8 * k;
    const a = dv.getInt32(o, true), b = dv.getInt32(o + 4, true);
    if (!checkDescriptor(a, b)) return false;
    if (descA !== a || descB !== b) writeFrameU64(d, o, descA, descB);
  }
  return true;
}

/** Return a 64-bit value in RAX when it does not fit the dispatcher's number convention (sets RCX/R11 like sysret). */
function returnU64(v: Vcpu, lo: number, hi: number): number | typeof NO_RETURN {
  if (hi >= 0 && hi < 0x200000) return hi * 4294967296 + (lo >>> 0);
  if (hi === -1) return -4294967296 + (lo >>> 0);
  const cpu = v.cpu;
  cpu.r[2 * RCX] = cpu.r[32]!;
  cpu.r[2 * RCX + 1] = cpu.r[33]!;
  cpu.setReg64(R11, cpu.getFlags(), 0);
  cpu.setReg64(RAX, lo, hi);
  return NO_RETURN;
}

/** A canonical address argument, or NaN. */
function argAddr(v: Vcpu, n: number): number {
  return toVa(v.argLo(n), v.argHi(n));
}

// ------------------------------------------------------------------ set_trap_table (0)

/** Entries handled per invocation before a continuation (Xen: hypercall_preempt_check). */
const TRAP_TABLE_CHUNK = 1024;

function setTrapTable(v: Vcpu): number | typeof NO_RETURN {
  if (v.argLo(0) === 0 && v.argHi(0) === 0) {
    // No table: clear the whole virtual IDT.
    for (const t of v.trapTable) {
      t.address = 0;
      t.cs = 0;
      t.flags = 0;
    }
    return 0;
  }
  let p = v.argVa(0);
  for (let n = 0; ; n++) {
    let vector: number, flags: number, cs: number, address: number;
    try {
      const w = v.mem.u32(p + TRAP_INFO.vector); // vector, flags, cs
      v.mem.u64parts(p + TRAP_INFO.address, PAIR);
      vector = w & 0xff;
      flags = (w >>> 8) & 0xff;
      cs = w >>> 16;
      address = toVa(PAIR[0]!, PAIR[1]!);
      if (PAIR[0] === 0 && PAIR[1] === 0) return 0; // terminator
    } catch (e) {
      if (e instanceof GuestFault) return -XEN_EFAULT; // entries already copied stay
      throw e;
    }
    if (!Number.isFinite(address)) return -XEN_EINVAL;
    if ((cs & 3) < 3) cs = (cs & ~3) | 3; // fixup_guest_code_selector: RPL 3
    const t = v.trapTable[vector]!;
    t.address = address;
    t.cs = cs;
    t.flags = flags;
    p += TRAP_INFO.size;
    if (n + 1 >= TRAP_TABLE_CHUNK) {
      // A continuation: re-execute the `syscall` with the rest of the table, as Xen does.
      // Not possible inside a multicall (our multicalls run to completion): refuse an absurd table there.
      const cpu = v.cpu;
      if (inMulticall(v)) return -XEN_EINVAL;
      v.cpu.setReg64(7, vaLo(p), vaHi(p)); // rdi
      const lo = cpu.r[32]! >>> 0;
      cpu.r[32] = (lo - 2) | 0;
      if (lo < 2) cpu.r[33] = (cpu.r[33]! - 1) | 0;
      return NO_RETURN;
    }
  }
}

// ------------------------------------------------------------------ set_gdt (2)

function setGdt(v: Vcpu): number {
  const d = v.domain;
  const entries = v.arg32(1);
  if (entries > FIRST_RESERVED_GDT_ENTRY) return -XEN_EINVAL;
  const nr = Math.ceil(entries / 512);
  const list = v.argVa(0);
  const frames: number[] = [];
  for (let k = 0; k < nr; k++) {
    v.mem.u64parts(list + 8 * k, PAIR); // a fault → -EFAULT via the dispatcher
    frames.push(mfnOf(PAIR[0]!, PAIR[1]!));
  }
  // pv_set_gdt: a seg_desc type reference on every frame (the domain's own RAM, with no
  // conflicting use such as a page table or a writable mapping); a frame taking the type
  // afresh has all 512 descriptors validated (and fixed up) first.
  const pt = pageTypes(d.memory);
  for (let k = 0; k < nr; k++) {
    const mfn = frames[k]!;
    let ok = mfn >= 0 && pt.ownedRam(mfn) >= 0;
    if (ok) {
      const fresh = pt.typeOf(mfn) !== PGT_seg_desc || pt.typeCount(mfn) === 0;
      ok = pt.getTypeMfn(mfn, PGT_seg_desc) === 0;
      if (ok && fresh && !validateSegDescPage(d, mfn)) {
        pt.putTypeMfn(mfn);
        ok = false;
      }
    }
    if (ok) continue;
    for (let j = 0; j < k; j++) pt.putTypeMfn(frames[j]!);
    return -XEN_EINVAL;
  }
  // Tear down the old GDT, install the new one.
  for (const mfn of v.gdtFrames) pt.putTypeMfn(mfn);
  v.gdtFrames = frames;
  v.gdtEntries = entries;
  return 0;
}

// ------------------------------------------------------------------ update_descriptor (10)

function updateDescriptor(v: Vcpu): number {
  const d = v.domain;
  const aLo = v.argLo(0), aHi = v.argHi(0);
  // The machine address must be 8-byte aligned and the descriptor acceptable.
  if ((aLo & 7) !== 0 || !checkDescriptor(v.argLo(1), v.argHi(1))) return -XEN_EINVAL;
  const a = descA, b = descB;
  const mfn = aHi >>> 0 < 0x100000 ? (aHi >>> 0) * 1048576 + (aLo >>> 12) : -1;
  const pt = pageTypes(d.memory);
  if (mfn < 0 || pt.ownedRam(mfn) < 0) return -XEN_EINVAL;
  // A descriptor page stays one (revalidated if not in use); any other frame must be able to become writable.
  if (pt.typeOf(mfn) === PGT_seg_desc) {
    const fresh = pt.typeCount(mfn) === 0;
    if (pt.getTypeMfn(mfn, PGT_seg_desc) !== 0) return -XEN_EINVAL;
    if (fresh && !validateSegDescPage(d, mfn)) {
      pt.putTypeMfn(mfn);
      return -XEN_EINVAL;
    }
  } else if (pt.getTypeMfn(mfn, PGT_writable) !== 0) {
    return -XEN_EINVAL;
  }
  writeFrameU64(d, d.memory.offsetOfMfn(mfn) + (aLo & 0xfff), a, b);
  pt.putTypeMfn(mfn);
  return 0;
}

// ------------------------------------------------------------------ stack_switch (3), fpu_taskswitch (5)

function stackSwitch(v: Vcpu): number {
  let ss = v.argLo(0);
  if ((ss & 3) < 3) ss = (ss & ~3) | 3; // fixup_guest_stack_selector
  v.kernelSs = ss >>> 0;
  v.kernelSp = argAddr(v, 1); // NaN when not canonical: a later bounce then crashes the domain, as Xen's faulting write would
  return 0;
}

function fpuTaskswitchHc(v: Vcpu): number {
  fpuTaskswitch(v, v.argLo(0) !== 0);
  return 0;
}

// ------------------------------------------------------------------ set_debugreg (8), get_debugreg (9)

function setDebugRegHc(v: Vcpu): number {
  return setDebugReg(v, v.arg32(0), v.argLo(1), v.argHi(1));
}

function getDebugRegHc(v: Vcpu): number | typeof NO_RETURN {
  const rc = readDebugReg(v, v.arg32(0));
  if (rc !== 0) return -XEN_ENODEV;
  return returnU64(v, DR_VALUE[0]!, DR_VALUE[1]!);
}

// ------------------------------------------------------------------ set_segment_base (25)

/**
 * Read descriptor `sel` from the guest GDT (set_gdt frames), Xen's
 * reserved GDT entries, or the LDT (MMUEXT_SET_LDT, through the kernel page
 * tables) into descA/descB. False when it does not exist.
 */
function readDescriptor(v: Vcpu, sel: number): boolean {
  const index = sel >>> 3;
  if (sel & 4) {
    if (index >= v.ldtEntries) return false;
    try {
      v.mem.u64parts(v.ldtBase + index * 8, PAIR);
    } catch (e) {
      if (e instanceof GuestFault) return false;
      throw e;
    }
    descA = PAIR[0]!;
    descB = PAIR[1]!;
    return true;
  }
  if (index >= FIRST_RESERVED_GDT_ENTRY) {
    const x = XEN_GDT.get(index);
    if (!x) return false;
    descA = x[0];
    descB = x[1];
    return true;
  }
  if (index >= v.gdtEntries) return false;
  const off = v.domain.memory.offsetOfMfn(v.gdtFrames[index >>> 9] ?? -1);
  if (off < 0) return false;
  descA = v.domain.memory.dv.getInt32(off + (index & 511) * 8, true);
  descB = v.domain.memory.dv.getInt32(off + (index & 511) * 8 + 4, true);
  return true;
}

/**
 * Load the user %gs selector from guest-kernel context (SEGBASE_GS_USER_SEL):
 * what `mov sel, %gs` does at CPL 3 — a present data or readable code
 * segment with DPL 3 (any DPL if conforming); the base becomes the
 * descriptor's 32-bit base. Any failure loads the null selector (base 0),
 * as Xen's fixup does; the hypercall itself never fails.
 */
function loadUserGs(v: Vcpu, sel: number): void {
  sel &= 0xffff;
  if (sel > 3) sel |= 3;
  let base = 0;
  if (sel > 3) {
    let ok = readDescriptor(v, sel);
    if (ok) {
      const b = descB;
      const code = (b & _SEGMENT_CODE) !== 0;
      ok = (b & _SEGMENT_S) !== 0 && (b & _SEGMENT_P) !== 0 && (!code || (b & _SEGMENT_WR) !== 0);
      if (ok && !(code && (b & _SEGMENT_EC))) ok = ((b >>> 13) & 3) === 3; // DPL ≥ max(CPL 3, RPL 3)
    }
    if (ok) base = ((descB & 0xff000000) | ((descB & 0xff) << 16) | (descA >>> 16)) >>> 0;
    else sel = 0;
  }
  v.cpu.sel[5] = sel;
  // The user GS base is the inactive one while in guest-kernel mode.
  v.gsBaseInactive[0] = base | 0;
  v.gsBaseInactive[1] = 0;
}

function setSegmentBase(v: Vcpu): number {
  const which = v.arg32(0);
  const lo = v.argLo(1), hi = v.argHi(1);
  switch (which) {
    case SEGBASE_FS:
    case SEGBASE_GS_USER:
    case SEGBASE_GS_KERNEL: {
      if ((hi << 16) >> 16 !== hi) return -XEN_EINVAL;
      const b = v.cpu.segBase;
      if (which === SEGBASE_FS) {
        b[8] = lo;
        b[9] = hi;
      } else if (which === SEGBASE_GS_KERNEL) {
        b[10] = lo; // the active base (we are in guest-kernel mode)
        b[11] = hi;
      } else {
        v.gsBaseInactive[0] = lo;
        v.gsBaseInactive[1] = hi;
      }
      return 0;
    }
    case SEGBASE_GS_USER_SEL:
      loadUserGs(v, lo);
      return 0;
    default:
      return -XEN_EINVAL;
  }
}

// ------------------------------------------------------------------ callbacks: set_callbacks (4), callback_op (30)

/** register_guest_callback. */
function registerCallback(v: Vcpu, type: number, flags: number, address: number): number {
  if (!Number.isFinite(address)) return -XEN_EINVAL;
  const mask = (flags & CALLBACKF_mask_events) !== 0;
  switch (type) {
    case CALLBACKTYPE_event:
      v.eventCallback = address;
      return 0;
    case CALLBACKTYPE_failsafe:
      v.failsafeCallback = address;
      v.vgcFlags = mask ? v.vgcFlags | VGCF_FAILSAFE_DISABLES_EVENTS : v.vgcFlags & ~VGCF_FAILSAFE_DISABLES_EVENTS;
      return 0;
    case CALLBACKTYPE_syscall:
      v.syscallCallback = address;
      v.vgcFlags = mask ? v.vgcFlags | VGCF_SYSCALL_DISABLES_EVENTS : v.vgcFlags & ~VGCF_SYSCALL_DISABLES_EVENTS;
      return 0;
    case CALLBACKTYPE_syscall32: {
      const st = trapState(v);
      st.syscall32Callback = address;
      st.syscall32DisablesEvents = mask;
      return 0;
    }
    case CALLBACKTYPE_sysenter: {
      const st = trapState(v);
      st.sysenterCallback = address;
      st.sysenterDisablesEvents = mask;
      return 0;
    }
    case CALLBACKTYPE_nmi: {
      // register_guest_nmi_callback: trap_ctxt[NMI], FLAT_KERNEL_CS, events masked on entry.
      const t = v.trapTable[NMI]!;
      t.address = address;
      t.cs = FLAT_KERNEL_CS64;
      t.flags = TI_FLAG_IF;
      return 0;
    }
    default:
      return -XEN_ENOSYS;
  }
}

function callbackOp(v: Vcpu): number {
  const cmd = v.argLo(0);
  const arg = v.argVa(1);
  switch (cmd) {
    case CALLBACKOP_register: {
      // copy_from_guest of the whole struct: any fault → -EFAULT (via the dispatcher).
      const w = v.mem.u32(arg + CALLBACK_REGISTER.type);
      v.mem.u64parts(arg + CALLBACK_REGISTER.address, PAIR);
      return registerCallback(v, w & 0xffff, w >>> 16, toVa(PAIR[0]!, PAIR[1]!));
    }
    case CALLBACKOP_unregister: {
      const type = v.mem.u32(arg + CALLBACK_UNREGISTER.type) & 0xffff;
      switch (type) {
        case CALLBACKTYPE_event:
        case CALLBACKTYPE_failsafe:
        case CALLBACKTYPE_syscall:
        case CALLBACKTYPE_syscall32:
        case CALLBACKTYPE_sysenter:
          return -XEN_EINVAL; // cannot be unregistered
        case CALLBACKTYPE_nmi: {
          const t = v.trapTable[NMI]!;
          t.address = 0;
          t.cs = 0;
          t.flags = 0;
          return 0;
        }
        default:
          return -XEN_ENOSYS;
      }
    }
    default:
      return -XEN_ENOSYS;
  }
}

/** do_set_callbacks(event, failsafe, syscall): each registered with flags 0; bad addresses are ignored; always 0. */
function setCallbacks(v: Vcpu): number {
  registerCallback(v, CALLBACKTYPE_event, 0, argAddr(v, 0));
  registerCallback(v, CALLBACKTYPE_failsafe, 0, argAddr(v, 1));
  registerCallback(v, CALLBACKTYPE_syscall, 0, argAddr(v, 2));
  return 0;
}

// ------------------------------------------------------------------ registration

registerHypercall(HYPERVISOR.set_trap_table, setTrapTable);
registerHypercall(HYPERVISOR.set_gdt, setGdt);
registerHypercall(HYPERVISOR.stack_switch, stackSwitch);
registerHypercall(HYPERVISOR.set_callbacks, setCallbacks);
registerHypercall(HYPERVISOR.fpu_taskswitch, fpuTaskswitchHc);
registerHypercall(HYPERVISOR.set_debugreg, setDebugRegHc);
registerHypercall(HYPERVISOR.get_debugreg, getDebugRegHc);
registerHypercall(HYPERVISOR.update_descriptor, updateDescriptor);
registerHypercall(HYPERVISOR.iret, (v) => {
  hypercallIret(v);
  return NO_RETURN;
});
registerHypercall(HYPERVISOR.set_segment_base, setSegmentBase);
registerHypercall(HYPERVISOR.callback_op, callbackOp);
