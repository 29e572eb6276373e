/**
 * Exception, interrupt, event and system-call delivery to a 64-bit PV guest,
 * and HYPERVISOR_iret — the two directions of Xen's "bounce frame".
 *
 * Modelled on xen/arch/x86/x86_64/entry.S (create_bounce_frame,
 * switch_to_kernel, test_guest_events, restore_all_guest),
 * xen/arch/x86/pv/traps.c (pv_inject_event), xen/arch/x86/traps.c
 * (do_general_protection's "INT n" trick, do_int3), xen/arch/x86/pv/iret.c
 * (do_iret) and xen/arch/x86/pv/domain.c (toggle_guest_mode).
 *
 * A bounce (delivering exception/interrupt/event/syscall X to the guest kernel):
 *  1. guest-user mode → toggle to guest-kernel mode (swap the GS bases, kernel
 *     page tables) and build the frame at kernel_sp; guest-kernel mode → build
 *     it at the current RSP and clear the saved CS's RPL (0xe033 → 0xe030).
 *  2. RSP &= ~15; a stack inside the Xen hole crashes the domain.
 *  3. Frame, lowest address first: RCX, R11, [error code], RIP,
 *     CS | saved_upcall_mask << 32, RFLAGS (IF := !saved mask, IOPL := 0),
 *     RSP, SS. Written SS first, as Xen does; a fault crashes the domain.
 *  4. "Interrupt-like" bounces set the upcall mask.
 *  5. New context: RIP = handler (0 → crash), CS/SS = FLAT_KERNEL_CS/SS,
 *     RFLAGS &= ~(TF|NT|RF|VM|AC) (and ~DF for a syscall). Xen leaves through
 *     its sysret path, so the guest's RCX = handler and R11 = RFLAGS on entry
 *     (Linux's entry stubs pop the frame's RCX/R11 at once).
 *
 * PV-specific vCPU state that Vcpu does not hold (virtual CR2/CR4, the
 * syscall32/sysenter callbacks, DR7's emulated I/O enables) lives in a
 * `PvTrapState` per vCPU: `trapState(v)`.
 */
import type { Vcpu } from './vcpu.ts';
import {
  AC, BP, DB, DF, FLAGS_FIXED, GP, IF, IOPL, NT, OF_VEC, PF_VEC, PFEC_U, R11, RAX, RCX, RF, RSP, TF, UD,
} from '../cpu/state.ts';
import { VCPU_INFO } from './shared-info.ts';
import { fmtVa, GuestFault, toVa, vaHi, vaLo } from './guest-memory.ts';
import { VMASST_TYPE_architectural_iopl } from './domain.ts';
import { FLAT_KERNEL_CS64, FLAT_KERNEL_SS64, VGCF_IN_SYSCALL, VGCF_SYSCALL_DISABLES_EVENTS } from '../hypercall/abi.ts';

// ------------------------------------------------------------------ ABI constants

/** struct iret_context (xen/arch-x86/xen-x86_64.h): HYPERVISOR_iret's frame at the guest RSP. */
export const IRET_CONTEXT = {
  rax: 0,
  r11: 8,
  rcx: 16,
  flags: 24,
  rip: 32,
  cs: 40,
  rflags: 48,
  rsp: 56,
  ss: 64,
  size: 72,
} as const;

/** X86_EXC_HAVE_EC (Xen): the vectors that push an error code: #DF, #TS, #NP, #SS, #GP, #PF, #AC, #CP, #VC, #SX. */
export const X86_EXC_HAVE_EC = (1 << 8) | (1 << 10) | (1 << 11) | (1 << 12) | (1 << 13) | (1 << 14) | (1 << 17) | (1 << 21) | (1 << 29) | (1 << 30);
/** trap_info.flags bit 2 (TI_GET_IF): mask events on entry ("interrupt gate"). */
export const TI_FLAG_IF = 4;
/** X86_XEC_IDT: error-code bit saying "this #GP names an IDT entry". */
export const X86_XEC_IDT = 2;

/** EFLAGS.VM: never set for a 64-bit guest, but masked like Xen does. */
const VM = 1 << 17;
/** X86_EFLAGS_ALL (xen asm/x86-defns.h). */
const X86_EFLAGS_ALL = 0x3f7fd5;
/** What SYSRET keeps of R11 when it loads RFLAGS (Intel SDM: RFLAGS := (R11 & 3C7FD7H) | 2). */
const SYSRET_FLAGS_MASK = 0x3c7fd7;

/** HYPERVISOR_VIRT_START / HYPERVISOR_VIRT_END as high halves (the hole is 0xffff8000_00000000 .. 0xffff8800_00000000). */
const HOLE_START_HI = 0xffff8000;
const HOLE_END_HI = 0xffff8800;

/** Default debug-register values (xen asm/x86-defns.h X86_DR6_DEFAULT, X86_DR7_DEFAULT). */
export const X86_DR6_DEFAULT = 0xffff0ff0, X86_DR7_DEFAULT = 0x400;
/** X86_DR6_BS: single-step; X86_DR6_BP_MASK: the four breakpoint bits; X86_DR6_ZEROS: forced to 0. */
const X86_DR6_BS = 1 << 14, X86_DR6_BP_MASK = 0xf, X86_DR6_ZEROS = 0x1000;

/** CR4 bits (Intel SDM). */
export const X86_CR4_TSD = 1 << 2, X86_CR4_DE = 1 << 3, X86_CR4_PAE = 1 << 5, X86_CR4_MCE = 1 << 6;
export const X86_CR4_OSFXSR = 1 << 9, X86_CR4_OSXMMEXCPT = 1 << 10, X86_CR4_FSGSBASE = 1 << 16, X86_CR4_OSXSAVE = 1 << 18;
/** PV_CR4_GUEST_VISIBLE_MASK (xen asm/pv/domain.h) with a typical host's settings: PAE|MCE|OSFXSR|OSXMMEXCPT. */
export const PV_CR4_VISIBLE = X86_CR4_PAE | X86_CR4_MCE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT;

// ------------------------------------------------------------------ per-vCPU PV state

/** The parts of Xen's arch_vcpu/pv_vcpu that Vcpu does not hold. */
export class PvTrapState {
  /** CALLBACKTYPE_syscall32 / sysenter (stored; the CPU has no compatibility mode, so they are never delivered). */
  syscall32Callback = 0;
  syscall32DisablesEvents = false;
  sysenterCallback = 0;
  sysenterDisablesEvents = false;
  /** The virtual CR2 (pv.ctrlreg[2]) as (lo, hi): set when a #PF is delivered, read by `mov %cr2`. */
  readonly cr2 = new Int32Array(2);
  /** The guest's view of CR4 (pv.ctrlreg[4]): pv_fixup_guest_cr4(0) initially. */
  cr4 = PV_CR4_VISIBLE;
  /** DR7's I/O-breakpoint enables, kept out of DR7 proper (pv.dr7_emul). */
  dr7Emul = 0;
}

const STATES = new WeakMap<Vcpu, PvTrapState>();

/** The vCPU's PvTrapState (created on first use, which also sets DR6/DR7 to their reset values). */
export function trapState(v: Vcpu): PvTrapState {
  let s = STATES.get(v);
  if (s === undefined) {
    s = new PvTrapState();
    STATES.set(v, s);
    if (v.debugReg[6] === 0) v.debugReg[6] = X86_DR6_DEFAULT;
    if (v.debugReg[7] === 0) v.debugReg[7] = X86_DR7_DEFAULT;
  }
  return s;
}

// ------------------------------------------------------------------ helpers

const VECTOR_NAMES = ['DE', 'DB', 'NMI', 'BP', 'OF', 'BR', 'UD', 'NM', 'DF', 'CSO', 'TS', 'NP', 'SS', 'GP', 'PF', 'SPV', 'MF', 'AC', 'MC', 'XM', 'VE', 'CP'];

export function vectorName(vec: number): string {
  return vec < VECTOR_NAMES.length ? `#${VECTOR_NAMES[vec]}` : `vector ${vec}`;
}

function hex(lo: number, hi: number): string {
  return '0x' + ((BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)).toString(16);
}

function archIopl(v: Vcpu): boolean {
  return (v.domain.vmAssist & (1 << VMASST_TYPE_architectural_iopl)) !== 0;
}

/**
 * Switch between guest-kernel and guest-user mode (xen pv/domain.c:
 * toggle_guest_mode): swap the active GS base with the inactive one and
 * switch page tables (the MMU picks the kernel or user root by mode).
 */
export function toggleGuestMode(v: Vcpu): void {
  const b = v.cpu.segBase, g = v.gsBaseInactive;
  const lo = b[10]!, hi = b[11]!;
  b[10] = g[0]!;
  b[11] = g[1]!;
  g[0] = lo;
  g[1] = hi;
  v.mmu.setKernelMode(!v.mmu.kernelMode);
}

/** Write the virtual CR2 (pv.ctrlreg[2] and vcpu_info.arch.cr2, as arch_set_cr2 does). */
export function setGuestCr2(v: Vcpu, lo: number, hi: number): void {
  const st = trapState(v);
  st.cr2[0] = lo;
  st.cr2[1] = hi;
  const dv = v.domain.memory.dv;
  const o = v.vcpuInfoOffset() + VCPU_INFO.arch_cr2;
  dv.setInt32(o, lo, true);
  dv.setInt32(o + 4, hi, true);
}

/** Scratch for HYPERVISOR_iret's frame (nine u64 as lo/hi pairs): no allocation per iret. */
const IRET_SCRATCH = new Int32Array(18);
const PAIR = new Int32Array(2);
const lo64 = (field: number): number => IRET_SCRATCH[field >>> 2]!;
const hi64 = (field: number): number => IRET_SCRATCH[(field >>> 2) + 1]!;

/** Set the guest's RFLAGS wholesale (arithmetic flags included). */
function setFlags(v: Vcpu, value: number): void {
  const cpu = v.cpu;
  cpu.getFlags(); // settle the lazy flags so `flags` holds all bits
  cpu.flags = value | FLAGS_FIXED;
}

// ------------------------------------------------------------------ the bounce frame

/**
 * Xen's create_bounce_frame plus the exit through restore_all_guest.
 * The interrupted context is the vCPU's current state, except `cs`, `ss` and
 * `eflags` which are what Xen's entry path saved (they differ for a guest
 * syscall, whose frame Xen builds from the SYSCALL registers).
 * `errorCode` < 0: no error-code slot. Returns false if the domain crashed.
 */
function bounce(
  v: Vcpu, handler: number, errorCode: number, interrupt: boolean, cs: number, ss: number, eflags: number, clearDf: boolean, what: string,
): boolean {
  const cpu = v.cpu, r = cpu.r;
  if (handler === 0 || !Number.isFinite(handler)) {
    v.domain.crash(`${what}: no handler registered (bounce to a null address)`, v);
    return false;
  }
  const oldSpLo = r[2 * RSP]!, oldSpHi = r[2 * RSP + 1]!;
  let spLo: number, spHi: number;
  if (!v.mmu.kernelMode) {
    // Push the new frame at the registered guest-OS stack base.
    toggleGuestMode(v);
    const ks = v.kernelSp;
    if (!Number.isFinite(ks)) {
      v.domain.crash(`${what}: kernel stack pointer (stack_switch) is not canonical`, v);
      return false;
    }
    spLo = vaLo(ks);
    spHi = vaHi(ks);
  } else {
    // In kernel context already: push at the existing RSP and tell the guest so (RPL 0).
    spLo = oldSpLo;
    spHi = oldSpHi;
    cs &= 0xfffc;
  }
  spLo &= ~15; // stack frames are 16-byte aligned
  const uh = spHi >>> 0, ul = spLo >>> 0;
  // Crash if HYPERVISOR_VIRT_START < rsp < HYPERVISOR_VIRT_END + 64 (unsigned), exactly Xen's test.
  const aboveStart = uh > HOLE_START_HI || (uh === HOLE_START_HI && ul > 0);
  const belowEnd = uh < HOLE_END_HI || (uh === HOLE_END_HI && ul < 0x40);
  if (aboveStart && belowEnd) {
    v.domain.crash(`${what}: guest stack ${hex(spLo, spHi)} lies in the Xen hole`, v);
    return false;
  }
  const top = toVa(spLo, spHi); // NaN when not canonical: the first write then faults
  const base = top - 56; // RCX slot without an error code; with one, everything below RIP moves down 8
  const lowest = errorCode >= 0 ? base - 8 : base;
  const dv = v.domain.memory.dv;
  const vo = v.vcpuInfoOffset();
  const mem = v.mem;
  let saved = 0;
  try {
    mem.setU64parts(base + 48, ss & 0xffff, 0); // SS
    mem.setU64parts(base + 40, oldSpLo, oldSpHi); // RSP (interrupted, unaligned)
    // Bits 32-63 of the CS slot: the 4 bytes from evtchn_upcall_mask on (the mask, then padding), before we set it.
    saved = dv.getInt32(vo + VCPU_INFO.evtchn_upcall_mask, true);
    if (interrupt) {
      const ram = v.domain.memory.ram;
      ram[vo + VCPU_INFO.evtchn_upcall_mask] = ram[vo + VCPU_INFO.evtchn_upcall_mask]! | 1;
    }
    mem.setU64parts(base + 24, cs & 0xffff, saved); // CS | saved_upcall_mask << 32
    const archFlags = archIopl(v) ? (v.iopl & 3) << 12 : 0;
    const frameFlags = (eflags & ~(IF | IOPL)) | ((saved & 0xff) === 0 ? IF : 0) | archFlags;
    mem.setU64parts(base + 32, frameFlags, 0); // RFLAGS
    mem.setU64parts(base + 16, r[32]!, r[33]!); // RIP
    if (errorCode >= 0) mem.setU64parts(base + 8, errorCode | 0, 0); // error code (u32, zero-extended)
    mem.setU64parts(lowest + 8, r[2 * R11]!, r[2 * R11 + 1]!); // R11
    mem.setU64parts(lowest, r[2 * RCX]!, r[2 * RCX + 1]!); // RCX
  } catch (e) {
    if (!(e instanceof GuestFault)) throw e;
    v.domain.crash(`${what}: fault writing the bounce frame on the guest stack at ${fmtVa(e.va)}`, v);
    return false;
  }
  // The new context. TF, VM, RF, NT and AC are cleared as on a hardware trap; a syscall also clears DF.
  let nf = eflags & ~(AC | VM | RF | NT | TF);
  if (clearDf) nf &= ~DF;
  // Xen returns with SYSRET: RCX := RIP, R11 := RFLAGS (IOPL/VM cleared, IF set), RFLAGS := R11 & 0x3c7fd7.
  const r11 = (nf & ~(IOPL | VM)) | IF;
  setFlags(v, r11 & SYSRET_FLAGS_MASK);
  r[2 * RSP] = vaLo(lowest);
  r[2 * RSP + 1] = vaHi(lowest);
  cpu.sel[1] = FLAT_KERNEL_CS64;
  cpu.sel[2] = FLAT_KERNEL_SS64;
  const hLo = vaLo(handler), hHi = vaHi(handler);
  r[32] = hLo;
  r[33] = hHi;
  r[2 * RCX] = hLo;
  r[2 * RCX + 1] = hHi;
  r[2 * R11] = r11;
  r[2 * R11 + 1] = 0;
  return true;
}

// ------------------------------------------------------------------ entry points used by the vCPU loop

/**
 * Deliver a hardware exception (pv_inject_event for X86_ET_HW_EXC) through
 * the virtual IDT. `errorCode` -1 = none; vectors with an error code get 0
 * when none is given. #PF first writes CR2 to vcpu_info.arch.cr2 (from
 * cpu.cr2) and sets the error code's U bit iff the fault came from
 * guest-user mode.
 */
export function injectException(v: Vcpu, vector: number, errorCode: number): void {
  if (v.domain.isShutdown) return;
  vector &= 0xff;
  const cpu = v.cpu;
  let ec = -1;
  if (vector < 32 && ((X86_EXC_HAVE_EC >>> vector) & 1) !== 0) ec = errorCode >= 0 ? errorCode >>> 0 : 0;
  if (vector === PF_VEC) {
    setGuestCr2(v, cpu.cr2[0]!, cpu.cr2[1]!);
    ec = (ec & ~PFEC_U) | (v.mmu.kernelMode ? 0 : PFEC_U);
  } else if (vector === DB) {
    // x86_merge_dr6 with the single-step status (the only #DB source the CPU has).
    trapState(v);
    const dr6 = ((((v.debugReg[6]! ^ X86_DR6_DEFAULT) & ~X86_DR6_BP_MASK) | X86_DR6_BS) ^ X86_DR6_DEFAULT) >>> 0;
    v.debugReg[6] = ((dr6 | X86_DR6_DEFAULT) & ~X86_DR6_ZEROS) >>> 0;
  }
  const ti = v.trapTable[vector]!;
  let what = `${vectorName(vector)}${ec >= 0 ? `[0x${ec.toString(16)}]` : ''} at rip ${hex(cpu.r[32]!, cpu.r[33]!)}`;
  if (vector === PF_VEC) what += ` (cr2 ${hex(cpu.cr2[0]!, cpu.cr2[1]!)})`;
  bounce(v, ti.address, ec, (ti.flags & TI_FLAG_IF) !== 0, cpu.sel[1]!, cpu.sel[2]!, cpu.getFlags(), false, `unhandled exception ${what}`);
}

/**
 * Bounce to the event callback if an upcall is deliverable: Xen's
 * test_guest_events tests the (pending, mask) byte pair for "pending set,
 * mask clear". Called before every return to the guest.
 */
export function deliverPendingEvents(v: Vcpu): void {
  const ram = v.domain.memory.ram;
  const o = v.vcpuInfoOffset();
  if (ram[o + VCPU_INFO.evtchn_upcall_pending] === 0 || ram[o + VCPU_INFO.evtchn_upcall_mask] !== 0) return;
  if (v.domain.isShutdown || !v.online) return;
  const cpu = v.cpu;
  bounce(v, v.eventCallback, -1, true, cpu.sel[1]!, cpu.sel[2]!, cpu.getFlags(), false, 'event upcall');
}

/**
 * A `syscall` executed in guest-user mode (xen entry.S: lstar_enter →
 * switch_to_kernel). The CPU left RCX/R11 alone; we do what the hardware
 * SYSCALL did on real Xen (RCX := return RIP, R11 := RFLAGS), then bounce to
 * the syscall callback with the frame Xen builds: RIP = RCX, CS =
 * FLAT_KERNEL_CS64, RFLAGS = R11, SS = FLAT_KERNEL_SS64, events masked per
 * VGCF_syscall_disables_events, DF cleared. No callback: #UD at the syscall.
 */
export function guestSyscall(v: Vcpu): void {
  const cpu = v.cpu, r = cpu.r;
  const flags = cpu.getFlags();
  r[2 * RCX] = r[32]!;
  r[2 * RCX + 1] = r[33]!;
  r[2 * R11] = flags;
  r[2 * R11 + 1] = 0;
  let handler = v.syscallCallback;
  let interrupt = (v.vgcFlags & VGCF_SYSCALL_DISABLES_EVENTS) !== 0;
  let clearDf = true;
  let what = 'guest syscall';
  if (handler === 0) {
    // #UD at the syscall instruction, through the trap table; DF is left alone.
    const lo = r[32]! >>> 0;
    r[32] = (lo - 2) | 0;
    if (lo < 2) r[33] = (r[33]! - 1) | 0;
    const ti = v.trapTable[UD]!;
    handler = ti.address;
    interrupt = (ti.flags & TI_FLAG_IF) !== 0;
    clearDf = false;
    what = 'guest syscall without a syscall callback: #UD';
  }
  bounce(v, handler, -1, interrupt, FLAT_KERNEL_CS64, FLAT_KERNEL_SS64, flags, clearDf, what);
}

/**
 * `int n`, `int3` or `int $3/$4` from guest code (RIP is past the
 * instruction). Vectors 3 and 4 are always allowed (Xen's IDT gives them
 * DPL 3) and delivered as #BP/#OF traps. Any other vector needs
 * trap_info[n].flags & 3 ≥ the guest's privilege (1 in guest-kernel mode, 3
 * in guest-user mode — permit_softint); otherwise #GP with error code
 * (n << 3) | 2 at the `int` instruction (assumed 2 bytes, CD ib, as Xen does).
 */
export function softwareInterrupt(v: Vcpu, vector: number): void {
  if (v.domain.isShutdown) return;
  vector &= 0xff;
  if (vector === BP || vector === OF_VEC) {
    injectException(v, vector, -1);
    return;
  }
  const ti = v.trapTable[vector]!;
  const cpu = v.cpu, r = cpu.r;
  if ((ti.flags & 3) >= (v.mmu.kernelMode ? 1 : 3)) {
    // pv_inject_sw_interrupt: no error code, no #PF/#DB side effects.
    bounce(v, ti.address, -1, (ti.flags & TI_FLAG_IF) !== 0, cpu.sel[1]!, cpu.sel[2]!, cpu.getFlags(), false, `int $0x${vector.toString(16)}`);
    return;
  }
  const lo = r[32]! >>> 0;
  r[32] = (lo - 2) | 0;
  if (lo < 2) r[33] = (r[33]! - 1) | 0;
  injectException(v, GP, (vector << 3) | X86_XEC_IDT);
}

/**
 * HYPERVISOR_iret (xen pv/iret.c: do_iret). The frame (struct iret_context)
 * is at the guest RSP. Returning to guest-user mode (cs & 3 == 3) switches
 * page tables and GS bases; without a user root the domain crashes. The
 * upcall mask becomes !(rflags & IF); the vCPU loop then delivers anything
 * pending. Sets every register itself (the hypercall returns NO_RETURN).
 */
export function hypercallIret(v: Vcpu): void {
  const cpu = v.cpu, r = cpu.r;
  const sp = toVa(r[2 * RSP]!, r[2 * RSP + 1]!);
  const f = IRET_SCRATCH;
  try {
    for (let k = 0; k < 9; k++) {
      v.mem.u64parts(sp + 8 * k, PAIR);
      f[2 * k] = PAIR[0]!;
      f[2 * k + 1] = PAIR[1]!;
    }
  } catch (e) {
    if (!(e instanceof GuestFault)) throw e;
    v.domain.crash(`HYPERVISOR_iret: fault while reading the iret context from the guest stack at ${fmtVa(e.va)}`, v);
    return;
  }
  const cs = lo64(IRET_CONTEXT.cs) & 0xffff;
  if ((cs & 3) === 3) {
    if (v.mmu.userRoot === 0) {
      v.domain.crash('HYPERVISOR_iret: switching to guest-user mode with no user page tables', v);
      return;
    }
    toggleGuestMode(v);
  }
  const rflags = lo64(IRET_CONTEXT.rflags);
  if (archIopl(v)) v.iopl = (rflags & IOPL) >>> 12;
  const ripLo = lo64(IRET_CONTEXT.rip), ripHi = hi64(IRET_CONTEXT.rip);
  r[32] = ripLo;
  r[33] = ripHi;
  cpu.sel[1] = cs | 3; // force guest privilege
  cpu.sel[2] = (lo64(IRET_CONTEXT.ss) & 0xffff) | 3;
  r[2 * RSP] = lo64(IRET_CONTEXT.rsp);
  r[2 * RSP + 1] = hi64(IRET_CONTEXT.rsp);
  const newFlags = (rflags & X86_EFLAGS_ALL & ~(IOPL | VM)) | IF | FLAGS_FIXED;
  const canonicalRip = (ripHi << 16) >> 16 === ripHi;
  if (!(lo64(IRET_CONTEXT.flags) & VGCF_IN_SYSCALL)) {
    // Return through IRET: RCX and R11 come from the frame.
    r[2 * RCX] = lo64(IRET_CONTEXT.rcx);
    r[2 * RCX + 1] = hi64(IRET_CONTEXT.rcx);
    r[2 * R11] = lo64(IRET_CONTEXT.r11);
    r[2 * R11 + 1] = hi64(IRET_CONTEXT.r11);
    setFlags(v, newFlags);
  } else if (canonicalRip) {
    // Return through SYSRET: RCX := RIP, R11 := RFLAGS.
    r[2 * RCX] = ripLo;
    r[2 * RCX + 1] = ripHi;
    r[2 * R11] = newFlags;
    r[2 * R11 + 1] = 0;
    setFlags(v, newFlags & SYSRET_FLAGS_MASK);
  } else {
    // Xen falls back to IRET for a non-canonical RIP, with RCX := RIP.
    r[2 * RCX] = ripLo;
    r[2 * RCX + 1] = ripHi;
    setFlags(v, newFlags);
  }
  r[2 * RAX] = lo64(IRET_CONTEXT.rax);
  r[2 * RAX + 1] = hi64(IRET_CONTEXT.rax);
  v.upcallMask = (rflags & IF) === 0;
  if (!canonicalRip) {
    // Xen's IRETQ faults; the #GP is reflected to the guest as if raised in guest context.
    injectException(v, GP, 0);
  }
}
