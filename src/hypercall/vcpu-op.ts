/**
 * vcpu_op (24): VCPUOP_* (xen/arch/x86/domain.c do_vcpu_op,
 * xen/common/domain.c common_vcpu_op / map_vcpu_info / arch_set_info_guest,
 * Xen 4.17), plus the runstate bookkeeping behind
 * VCPUOP_register_runstate_memory_area and VCPUOP_get_runstate_info.
 *
 *   rdi = cmd, rsi = vcpuid (the target; -ENOENT beyond the domain's vCPUs), rdx = arg
 *
 * Runstate: a vCPU is "running" unless it is blocked (SCHEDOP_block/poll)
 * or down. xenjs has no physical CPUs to wait for, so "runnable" (and with
 * it steal time) never occurs. Times are ns of the domain's system time
 * (domain.nowNs()); each change is written through the registered guest VA
 * (with the vCPU's kernel page tables, as Xen does).
 */
import type { Vcpu } from '../domains/vcpu.ts';
import { FLAGS_FIXED, IF, IOPL, RIP, SEG_CS, SEG_DS, SEG_ES, SEG_FS, SEG_GS, SEG_SS } from '../cpu/state.ts';
import { fxrstorImage } from '../cpu/ops/x87-env.ts';
import { MXCSR_MASK } from '../cpu/ops/sse-move.ts';
import { SHUTDOWN_poweroff } from '../domains/domain.ts';
import { toVa } from '../domains/guest-memory.ts';
import { VCPU_INFO, VCPU_INFO_SIZE, XEN_LEGACY_MAX_VCPUS } from '../domains/shared-info.ts';
import { fireTimer } from '../domains/timers.ts';
import { PAGE_SIZE } from '../mmu/domain-memory.ts';
import { pageTypes, PGT_seg_desc, PGT_writable } from '../mmu/page-types.ts';
import { registerHypercall } from './dispatch.ts';
import {
  HYPERVISOR, VGCF_I387_VALID, VGCF_IN_KERNEL, VGCF_ONLINE, XEN_EEXIST, XEN_EFAULT, XEN_EINVAL, XEN_ENOENT, XEN_ENOSYS,
  XEN_ENXIO,
} from './abi.ts';
import { guestHandleOkay, mustBeFault, readPointer, readU64 } from './memory.ts';
import { installKernelRoot, installUserRoot } from './mmu.ts';

/** VCPUOP_* (xen/vcpu.h). */
export const VCPUOP = {
  initialise: 0,
  up: 1,
  down: 2,
  is_up: 3,
  get_runstate_info: 4,
  register_runstate_memory_area: 5,
  set_periodic_timer: 6,
  stop_periodic_timer: 7,
  set_singleshot_timer: 8,
  stop_singleshot_timer: 9,
  register_vcpu_info: 10,
  send_nmi: 11,
  get_physid: 12,
  register_vcpu_time_memory_area: 13,
} as const;

/** RUNSTATE_* (xen/vcpu.h). */
export const RUNSTATE_running = 0, RUNSTATE_runnable = 1, RUNSTATE_blocked = 2, RUNSTATE_offline = 3;
/** VCPU_SSHOTTMR_future: ignored since Xen 4.17 (a past timeout just fires). */
export const VCPU_SSHOTTMR_future = 1;

/** struct vcpu_runstate_info (48 bytes). */
export const VCPU_RUNSTATE_INFO = { state: 0, state_entry_time: 8, time: 16, size: 48 } as const;
/** struct vcpu_register_vcpu_info (16 bytes). */
export const VCPU_REGISTER_VCPU_INFO = { mfn: 0, offset: 8, size: 16 } as const;
/** struct vcpu_set_periodic_timer / vcpu_set_singleshot_timer. */
export const VCPU_SET_PERIODIC_TIMER = { period_ns: 0, size: 8 } as const;
export const VCPU_SET_SINGLESHOT_TIMER = { timeout_abs_ns: 0, flags: 8, size: 16 } as const;
/** struct vcpu_register_runstate_memory_area / vcpu_register_time_memory_area: one u64 address. */
export const VCPU_REGISTER_MEMORY_AREA = { addr: 0, size: 8 } as const;

/** struct vcpu_guest_context (x86_64, 5168 bytes). */
export const VCPU_GUEST_CONTEXT = {
  fpu_ctxt: 0,
  flags: 512,
  user_regs: 520,
  trap_ctxt: 720,
  ldt_base: 4816,
  ldt_ents: 4824,
  gdt_frames: 4832,
  gdt_ents: 4960,
  kernel_ss: 4968,
  kernel_sp: 4976,
  ctrlreg: 4984,
  debugreg: 5048,
  event_callback_eip: 5112,
  failsafe_callback_eip: 5120,
  syscall_callback_eip: 5128,
  vm_assist: 5136,
  fs_base: 5144,
  gs_base_kernel: 5152,
  gs_base_user: 5160,
  size: 5168,
} as const;
/** struct cpu_user_regs (x86_64, 200 bytes). */
export const CPU_USER_REGS = {
  r15: 0, r14: 8, r13: 16, r12: 24, rbp: 32, rbx: 40, r11: 48, r10: 56, r9: 64, r8: 72, rax: 80, rcx: 88, rdx: 96,
  rsi: 104, rdi: 112, error_code: 120, entry_vector: 124, rip: 128, cs: 136, saved_upcall_mask: 140, rflags: 144,
  rsp: 152, ss: 160, es: 168, ds: 176, fs: 184, gs: 192, size: 200,
} as const;
/** struct trap_info (16 bytes). */
export const TRAP_INFO = { vector: 0, flags: 1, cs: 2, address: 8, size: 16 } as const;

/** GPR number (ModRM order) of each cpu_user_regs slot. */
const USER_REG_GPRS: ReadonlyArray<readonly [number, number]> = [
  [CPU_USER_REGS.rax, 0], [CPU_USER_REGS.rcx, 1], [CPU_USER_REGS.rdx, 2], [CPU_USER_REGS.rbx, 3],
  [CPU_USER_REGS.rsp, 4], [CPU_USER_REGS.rbp, 5], [CPU_USER_REGS.rsi, 6], [CPU_USER_REGS.rdi, 7],
  [CPU_USER_REGS.r8, 8], [CPU_USER_REGS.r9, 9], [CPU_USER_REGS.r10, 10], [CPU_USER_REGS.r11, 11],
  [CPU_USER_REGS.r12, 12], [CPU_USER_REGS.r13, 13], [CPU_USER_REGS.r14, 14], [CPU_USER_REGS.r15, 15],
];

/** Xen limits. */
export const MILLISECS = 1_000_000;
/** STIME_DELTA_MAX + 1 (2^62): the first period Xen refuses (an exact double, unlike 2^62 - 1). */
export const STIME_DELTA_LIMIT = 2 ** 62;
/** GDT: at most 16 frames in the context, FIRST_RESERVED_GDT_ENTRY (14 pages) entries. */
export const MAX_GDT_FRAMES = 16, FIRST_RESERVED_GDT_ENTRY = 14 * 512;
export const MAX_LDT_ENTS = 8192;
/** RFLAGS bits a PV context may carry (no VM, no reserved bits). */
const RFLAGS_VALID = 0x3d4fd5;
/** CR0.TS, the only CR0 bit a PV guest controls. */
const X86_CR0_TS = 8;

// ------------------------------------------------------------------ runstate

interface Runstate {
  state: number;
  /** System time (ns) the current state began. */
  entry: number;
  /** Accumulated ns per state. */
  readonly time: Float64Array;
}

const RUNSTATE = new WeakMap<Vcpu, Runstate>();

function runstateOf(v: Vcpu): Runstate {
  let rs = RUNSTATE.get(v);
  if (!rs) {
    // In that state since the domain was created (system time 0).
    rs = { state: !v.online ? RUNSTATE_offline : v.blocked ? RUNSTATE_blocked : RUNSTATE_running, entry: 0, time: new Float64Array(4) };
    RUNSTATE.set(v, rs);
  }
  return rs;
}

const RS_BUF = new Uint8Array(VCPU_RUNSTATE_INFO.size);
const RS_DV = new DataView(RS_BUF.buffer);

/** vcpu_runstate_get: the runstate with the current state's time counted up to now, encoded in RS_BUF. */
function encodeRunstate(v: Vcpu): Uint8Array {
  const rs = runstateOf(v);
  const now = v.domain.nowNs();
  RS_DV.setInt32(VCPU_RUNSTATE_INFO.state, rs.state, true);
  RS_DV.setInt32(VCPU_RUNSTATE_INFO.state + 4, 0, true);
  RS_DV.setBigUint64(VCPU_RUNSTATE_INFO.state_entry_time, BigInt(Math.max(0, Math.floor(rs.entry))), true);
  for (let k = 0; k < 4; k++) {
    let t = rs.time[k]!;
    if (k === rs.state && now > rs.entry) t += now - rs.entry;
    RS_DV.setBigUint64(VCPU_RUNSTATE_INFO.time + 8 * k, BigInt(Math.floor(t)), true);
  }
  return RS_BUF;
}

/** The runstate as numbers (tests, diagnostics). */
export function runstateSnapshot(v: Vcpu): { state: number; entry: number; time: number[] } {
  const b = encodeRunstate(v);
  const dv = new DataView(b.buffer);
  return {
    state: dv.getInt32(0, true),
    entry: Number(dv.getBigUint64(8, true)),
    time: [0, 1, 2, 3].map((k) => Number(dv.getBigUint64(16 + 8 * k, true))),
  };
}

/**
 * Write `data` at guest VA `va` through v's kernel page tables (switching
 * from the user tables for the duration if v is in guest-user mode, as
 * Xen's update_guest_memory_policy does). Faults are ignored, as in Xen.
 */
function writeWithKernelTables(v: Vcpu, va: number, data: Uint8Array): void {
  const mmu = v.mmu;
  const user = !mmu.kernelMode;
  if (user) mmu.setKernelMode(true);
  try {
    v.mem.setBytes(va, data);
  } catch (e) {
    mustBeFault(e);
  } finally {
    if (user) mmu.setKernelMode(false);
  }
}

/** Copy the runstate to the vCPU's registered area (update_runstate_area). */
export function updateRunstateArea(v: Vcpu): void {
  if (v.runstateVa !== 0) writeWithKernelTables(v, v.runstateVa, encodeRunstate(v));
}

/** A runstate change (the scheduler's vcpu_runstate_change): accumulate the old state's time. */
export function setRunstate(v: Vcpu, state: number): void {
  const rs = runstateOf(v);
  if (rs.state === state) return;
  const now = v.domain.nowNs();
  if (now > rs.entry) rs.time[rs.state] = rs.time[rs.state]! + (now - rs.entry);
  rs.entry = now;
  rs.state = state;
  updateRunstateArea(v);
}

// ------------------------------------------------------------------ vcpu_time_info copies (VCPUOP_register_vcpu_time_memory_area)

const TIME_AREA = new WeakMap<Vcpu, number>();

/**
 * Xen 4.17 accepts VCPUOP_register_vcpu_time_memory_area; Linux then uses
 * the copy for the vDSO's pvclock (when PVCLOCK_TSC_STABLE is set). A copy
 * that is not refreshed as the time info changes would give user space a
 * wrong clock, so xenjs offers it only once the time code calls
 * updateVcpuTimeArea on every update and turns this on. Until then the
 * sub-op is -ENOSYS, which Linux handles ("VCLOCK_PVCLOCK not supported").
 */
let timeAreaSupported = false;

export function setVcpuTimeAreaSupported(on: boolean): void {
  timeAreaSupported = on;
}

/** The guest VA of v's secondary vcpu_time_info (0 = none). */
export function vcpuTimeAreaVa(v: Vcpu): number {
  return TIME_AREA.get(v) ?? 0;
}

/**
 * Copy v's vcpu_time_info (from its vcpu_info) to the area registered with
 * VCPUOP_register_vcpu_time_memory_area. The time code should call this
 * whenever it updates a vCPU's time info.
 */
export function updateVcpuTimeArea(v: Vcpu): void {
  const va = vcpuTimeAreaVa(v);
  if (va === 0) return;
  const o = v.vcpuInfoOffset() + VCPU_INFO.time;
  writeWithKernelTables(v, va, v.domain.memory.ram.slice(o, o + 32));
}

// ------------------------------------------------------------------ vCPU initialisation state

/** vCPUs that have a context (Xen's is_initialised): built, or VCPUOP_initialise'd, or ever online. */
const INITIALISED = new WeakSet<Vcpu>();

export function isInitialised(v: Vcpu): boolean {
  return v.online || INITIALISED.has(v);
}

// ------------------------------------------------------------------ the operations

const PARTS = new Int32Array(2);

function vcpuOp(v: Vcpu): number {
  const cmd = v.arg32(0);
  const vcpuid = v.arg32(1);
  const arg = v.argVa(2);
  const d = v.domain;
  const t = d.vcpus[vcpuid];
  if (!t) return -XEN_ENOENT;
  const m = v.mem;

  switch (cmd) {
    case VCPUOP.initialise:
      return initialise(v, t, arg);

    case VCPUOP.up:
      if (!isInitialised(t)) return -XEN_EINVAL;
      if (!t.online) {
        t.online = true;
        setRunstate(t, t.blocked ? RUNSTATE_blocked : RUNSTATE_running);
      }
      return 0;

    case VCPUOP.down: {
      if (!d.vcpus.some((w) => w !== t && w.online)) {
        // The last vCPU going down: the domain powers off.
        d.shutdown(SHUTDOWN_poweroff);
        return 0;
      }
      if (t.online) {
        INITIALISED.add(t);
        t.online = false;
        setRunstate(t, RUNSTATE_offline);
      }
      return 0;
    }

    case VCPUOP.is_up:
      return t.online ? 1 : 0;

    case VCPUOP.get_runstate_info:
      m.setBytes(arg, encodeRunstate(t));
      return 0;

    case VCPUOP.register_runstate_memory_area: {
      const va = readPointer(v, arg + VCPU_REGISTER_MEMORY_AREA.addr, PARTS);
      if (!guestHandleOkay(va, 1)) return -XEN_EFAULT;
      t.runstateVa = va;
      if (va !== 0) {
        // The first copy goes through the caller's tables (copy_to_guest in its context); errors ignored.
        try {
          m.setBytes(va, encodeRunstate(t));
        } catch (e) {
          mustBeFault(e);
        }
      }
      return 0;
    }

    case VCPUOP.set_periodic_timer: {
      const period = readU64(v, arg + VCPU_SET_PERIODIC_TIMER.period_ns, PARTS);
      if (period < MILLISECS || period >= STIME_DELTA_LIMIT) return -XEN_EINVAL;
      if (t.periodicPeriod !== period) {
        t.periodicPeriod = period;
        t.periodicNext = d.nowNs() + period;
      }
      return 0;
    }

    case VCPUOP.stop_periodic_timer:
      t.periodicPeriod = 0;
      return 0;

    case VCPUOP.set_singleshot_timer: {
      if (t !== v) return -XEN_EINVAL;
      const timeout = readU64(v, arg + VCPU_SET_SINGLESHOT_TIMER.timeout_abs_ns, PARTS);
      m.u32(arg + VCPU_SET_SINGLESHOT_TIMER.flags); // read with the struct; VCPU_SSHOTTMR_future is ignored (4.17)
      if (timeout < d.nowNs()) {
        // Already expired: stop the timer and send the event now.
        t.timerDeadline = -1;
        fireTimer(t);
      } else t.timerDeadline = timeout;
      return 0;
    }

    case VCPUOP.stop_singleshot_timer:
      if (t !== v) return -XEN_EINVAL;
      t.timerDeadline = -1;
      return 0;

    case VCPUOP.register_vcpu_info:
      return registerVcpuInfo(v, t, arg);

    case VCPUOP.register_vcpu_time_memory_area: {
      if (!timeAreaSupported) return -XEN_ENOSYS;
      const va = readPointer(v, arg + VCPU_REGISTER_MEMORY_AREA.addr, PARTS);
      if (!guestHandleOkay(va, 1)) return -XEN_EFAULT;
      TIME_AREA.set(t, va);
      updateVcpuTimeArea(t);
      return 0;
    }

    case VCPUOP.send_nmi:
      // Xen: a non-NULL argument is -EINVAL; xenjs does not deliver virtual NMIs.
      return arg !== 0 ? -XEN_EINVAL : -XEN_ENOSYS;

    case VCPUOP.get_physid:
      return -XEN_EINVAL; // only for the hardware domain's pinned vCPUs

    default:
      return -XEN_ENOSYS;
  }
}

/** VCPUOP_register_vcpu_info (map_vcpu_info): move t's vcpu_info into a guest page. */
function registerVcpuInfo(v: Vcpu, t: Vcpu, arg: number): number {
  const mfn = readU64(v, arg + VCPU_REGISTER_VCPU_INFO.mfn, PARTS);
  const offset = v.mem.u32(arg + VCPU_REGISTER_VCPU_INFO.offset);
  if (offset > PAGE_SIZE - VCPU_INFO_SIZE || (offset & 7) !== 0) return -XEN_ENXIO;
  if (t.vcpuInfoMaddr >= 0) return -XEN_EINVAL; // only once per vCPU
  if (t !== v && t.online) return -XEN_EINVAL; // on yourself, or on a vCPU that is down
  const mem = v.domain.memory;
  // A writable page of the domain: never a page table or descriptor page; the reference is held for good.
  if (pageTypes(mem).getTypeMfn(mfn, PGT_writable) < 0) return -XEN_EINVAL;
  const ram = mem.ram;
  const dst = mem.offsetOfMfn(mfn) + offset;
  if (t.id < XEN_LEGACY_MAX_VCPUS) {
    const src = t.vcpuInfoOffset();
    ram.copyWithin(dst, src, src + VCPU_INFO_SIZE);
  } else {
    ram.fill(0, dst, dst + VCPU_INFO_SIZE);
    ram[dst + VCPU_INFO.evtchn_upcall_mask] = 1;
  }
  t.vcpuInfoMaddr = mfn * PAGE_SIZE + offset;
  // Everything pending, so nothing raised meanwhile is lost (a spurious upcall, which the guest copes with).
  ram.fill(0xff, dst + VCPU_INFO.evtchn_pending_sel, dst + VCPU_INFO.evtchn_pending_sel + 8);
  ram[dst + VCPU_INFO.evtchn_upcall_pending] = ram[dst + VCPU_INFO.evtchn_upcall_pending]! | 1;
  // (force_update_vcpu_system_time: the copied vcpu_time_info stays valid; the time code refreshes it.)
  return 0;
}

/** Canonical 64-bit value at `o` of a DataView as a signed number; NaN if not canonical. */
function canon(dv: DataView, o: number): number {
  return toVa(dv.getInt32(o, true), dv.getInt32(o + 4, true));
}
function u64(dv: DataView, o: number): number {
  return dv.getUint32(o + 4, true) * 4294967296 + dv.getUint32(o, true);
}
function fixSel(sel: number): number {
  return (sel & 3) >= 3 ? sel : (sel & ~3) | 3;
}

/** VCPUOP_initialise (default_initialise_vcpu → arch_set_info_guest, PV 64-bit). */
function initialise(v: Vcpu, t: Vcpu, arg: number): number {
  if (t.id >= XEN_LEGACY_MAX_VCPUS && t.vcpuInfoMaddr < 0) return -XEN_EINVAL; // dummy vcpu_info
  const buf = v.mem.bytes(arg, VCPU_GUEST_CONTEXT.size);
  if (isInitialised(t)) return -XEN_EEXIST;
  const dv = new DataView(buf.buffer);
  const C = VCPU_GUEST_CONTEXT, R = C.user_regs;
  const flags = u64(dv, C.flags);

  const mustBeCanonical = [
    R + CPU_USER_REGS.rip, R + CPU_USER_REGS.rsp, C.kernel_sp, C.fs_base, C.gs_base_kernel, C.gs_base_user,
    C.event_callback_eip, C.syscall_callback_eip, C.failsafe_callback_eip,
  ];
  for (const o of mustBeCanonical) if (Number.isNaN(canon(dv, o))) return -XEN_EINVAL;
  const ldtEnts = u64(dv, C.ldt_ents);
  const ldtBase = canon(dv, C.ldt_base);
  for (let i = 0; i < 256; i++) if (Number.isNaN(canon(dv, C.trap_ctxt + i * TRAP_INFO.size + TRAP_INFO.address))) return -XEN_EINVAL;
  // __addr_ok(ldt_base): canonical and outside the hypervisor hole; then the LDT safety checks.
  if (Number.isNaN(ldtBase) || !guestHandleOkay(ldtBase, 0)) return -XEN_EINVAL;
  if ((dv.getUint32(C.ldt_base, true) & (PAGE_SIZE - 1)) !== 0 || ldtEnts > MAX_LDT_ENTS) return -XEN_EINVAL;
  const gdtEnts = u64(dv, C.gdt_ents);
  const nrGdtFrames = Math.ceil(gdtEnts / 512);
  if (nrGdtFrames > MAX_GDT_FRAMES) return -XEN_EINVAL;
  const cr3 = u64(dv, C.ctrlreg + 3 * 8), cr1 = u64(dv, C.ctrlreg + 1 * 8);
  if (!(flags & VGCF_IN_KERNEL) && cr1 === 0) return -XEN_EINVAL;

  // pv_set_gdt: take a descriptor-page reference on every frame.
  if (gdtEnts > FIRST_RESERVED_GDT_ENTRY) return -XEN_EINVAL;
  const pt = pageTypes(t.domain.memory);
  const frames: number[] = [];
  for (let i = 0; i < nrGdtFrames; i++) {
    const mfn = u64(dv, C.gdt_frames + 8 * i);
    if (pt.getTypeMfn(mfn, PGT_seg_desc) < 0) {
      for (const f of frames) pt.putTypeMfn(f);
      return -XEN_EINVAL;
    }
    frames.push(mfn);
  }
  // Page-table bases (validated as L4s, referenced while installed).
  const undoGdt = (): void => frames.forEach((f) => pt.putTypeMfn(f));
  if (installKernelRoot(t, Math.floor(cr3 / PAGE_SIZE)) < 0) {
    undoGdt();
    return -XEN_EINVAL;
  }
  if (installUserRoot(t, Math.floor(cr1 / PAGE_SIZE)) < 0) {
    undoGdt();
    return -XEN_EINVAL;
  }

  // ---- the context is good: load it.
  const cpu = t.cpu;
  t.vgcFlags = flags % 4294967296;
  t.mmu.setKernelMode((flags & VGCF_IN_KERNEL) !== 0);
  if (flags & VGCF_I387_VALID) loadFxsave(t, buf);

  for (const [o, n] of USER_REG_GPRS) {
    cpu.r[2 * n] = dv.getInt32(R + o, true);
    cpu.r[2 * n + 1] = dv.getInt32(R + o + 4, true);
  }
  cpu.r[RIP] = dv.getInt32(R + CPU_USER_REGS.rip, true);
  cpu.r[RIP + 1] = dv.getInt32(R + CPU_USER_REGS.rip + 4, true);
  const rflags = dv.getUint32(R + CPU_USER_REGS.rflags, true);
  t.iopl = (rflags & IOPL) >>> 12; // IOPL is virtualised
  cpu.getFlags(); // settle lazy flags before replacing RFLAGS
  cpu.flags = ((rflags & RFLAGS_VALID & ~IOPL) | IF | FLAGS_FIXED) >>> 0;
  cpu.sel[SEG_CS] = fixSel(dv.getUint16(R + CPU_USER_REGS.cs, true));
  cpu.sel[SEG_SS] = fixSel(dv.getUint16(R + CPU_USER_REGS.ss, true));
  cpu.sel[SEG_DS] = dv.getUint16(R + CPU_USER_REGS.ds, true);
  cpu.sel[SEG_ES] = dv.getUint16(R + CPU_USER_REGS.es, true);
  cpu.sel[SEG_FS] = dv.getUint16(R + CPU_USER_REGS.fs, true);
  cpu.sel[SEG_GS] = dv.getUint16(R + CPU_USER_REGS.gs, true);

  const setBase = (seg: number, o: number): void => {
    cpu.segBase[2 * seg] = dv.getInt32(o, true);
    cpu.segBase[2 * seg + 1] = dv.getInt32(o + 4, true);
  };
  setBase(SEG_FS, C.fs_base);
  const kernel = (flags & VGCF_IN_KERNEL) !== 0;
  setBase(SEG_GS, kernel ? C.gs_base_kernel : C.gs_base_user);
  const inactive = kernel ? C.gs_base_user : C.gs_base_kernel;
  t.gsBaseInactive[0] = dv.getInt32(inactive, true);
  t.gsBaseInactive[1] = dv.getInt32(inactive + 4, true);

  for (let i = 0; i < 256; i++) {
    const o = C.trap_ctxt + i * TRAP_INFO.size;
    const ti = t.trapTable[i]!;
    ti.flags = dv.getUint8(o + TRAP_INFO.flags);
    ti.cs = fixSel(dv.getUint16(o + TRAP_INFO.cs, true));
    ti.address = canon(dv, o + TRAP_INFO.address);
  }
  t.ldtEntries = ldtEnts;
  t.ldtBase = ldtEnts ? ldtBase : 0;
  t.gdtFrames = frames;
  t.gdtEntries = gdtEnts;
  t.kernelSs = fixSel(dv.getUint16(C.kernel_ss, true));
  t.kernelSp = canon(dv, C.kernel_sp);
  t.eventCallback = canon(dv, C.event_callback_eip);
  t.failsafeCallback = canon(dv, C.failsafe_callback_eip);
  t.syscallCallback = canon(dv, C.syscall_callback_eip);
  cpu.cr0 = (cpu.cr0 & ~X86_CR0_TS) | (dv.getUint32(C.ctrlreg, true) & X86_CR0_TS);
  for (let i = 0; i < 8; i++) {
    const o = C.debugreg + 8 * i;
    t.debugReg[i] = dv.getInt32(o + 4, true) * 4294967296 + dv.getUint32(o, true);
  }
  t.mmu.flush();

  INITIALISED.add(t);
  if (flags & VGCF_ONLINE) {
    t.online = true;
    setRunstate(t, RUNSTATE_running);
  }
  return 0;
}

/**
 * Load an fxsave image (the context's fpu_ctxt, when VGCF_I387_VALID): x87,
 * MXCSR, XMM, as the CPU's fxrstor does. MXCSR bits the CPU does not have are
 * dropped first (Xen masks them too), so the restore cannot refuse.
 */
function loadFxsave(t: Vcpu, buf: Uint8Array): void {
  const img = buf.slice(VCPU_GUEST_CONTEXT.fpu_ctxt, VCPU_GUEST_CONTEXT.fpu_ctxt + 512);
  const dv = new DataView(img.buffer);
  dv.setUint32(24, dv.getUint32(24, true) & MXCSR_MASK, true);
  fxrstorImage(t.cpu, img, 0, true);
}

registerHypercall(HYPERVISOR.vcpu_op, vcpuOp);
