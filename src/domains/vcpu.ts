/**
 * A PV vCPU: the CPU plus the state Xen keeps for it (trap table, callbacks,
 * kernel stack, GS bases, page-table roots via its MMU, vcpu_info placement)
 * and the loop that runs it and turns CPU exits into hypervisor actions:
 * `syscall` in guest-kernel mode is a hypercall, in guest-user mode a guest
 * system call; faults are bounced to the guest's trap table or emulated
 * (privileged instructions, writable page tables).
 */
import { Cpu } from '../cpu/cpu.ts';
import { Exit, GP, PF_VEC, RAX, RCX, UD, R11 } from '../cpu/state.ts';
import { PvMmu } from '../mmu/pv-mmu.ts';
import { dispatchHypercall, NO_RETURN } from '../hypercall/dispatch.ts';
import { GuestMemory, toVa } from './guest-memory.ts';
import type { Domain } from './domain.ts';
import * as traps from './traps.ts';
import { emulateInvalidOpcode, emulatePrivilegedOp } from './priv-op.ts';
import { emulatePageTableWrite } from './ptwr.ts';
import { SHARED_INFO, VCPU_INFO, VCPU_INFO_SIZE } from './shared-info.ts';
import '../hypercall/index.ts';

/** One entry of the virtual IDT (struct trap_info). */
export interface TrapInfo {
  /** Handler address (canonical number); 0 = not set. */
  address: number;
  cs: number;
  /** Bits 0-1: the DPL allowed for `int n`; bit 2: mask events on entry. */
  flags: number;
}

/** Why `Vcpu.run` returned. */
export const enum VcpuStop {
  Budget = 0,
  /** SCHEDOP_block with nothing pending: wake on an event or timer. */
  Blocked = 1,
  /** The domain shut down or crashed. */
  Shutdown = 2,
  /** VCPUOP_down or never brought up. */
  Offline = 3,
}

export class Vcpu {
  readonly cpu: Cpu;
  readonly mmu: PvMmu;
  readonly mem: GuestMemory;

  // ---- PV state (xen/include/xen/sched.h's struct vcpu + arch_vcpu, the parts a PV guest can set)
  readonly trapTable: TrapInfo[] = Array.from({ length: 256 }, () => ({ address: 0, cs: 0, flags: 0 }));
  kernelSs = 0;
  /** Kernel stack pointer for user→kernel transitions (canonical number). */
  kernelSp = 0;
  eventCallback = 0;
  failsafeCallback = 0;
  syscallCallback = 0;
  /** VGCF_* flags: syscall_disables_events, failsafe_disables_events, in_kernel, online. */
  vgcFlags = 0;
  /** The inactive GS base as (lo, hi): the user one while in guest-kernel mode and vice versa. */
  readonly gsBaseInactive = new Int32Array(2);
  /** Virtual IOPL (PHYSDEVOP_set_iopl). */
  iopl = 0;
  /** vcpu_info location: machine address (MFN*4096 + offset); default is shared_info's slot. */
  vcpuInfoMaddr = -1;
  /** Guest VA of the registered runstate area (0 = none). */
  runstateVa = 0;
  /** GDT frames and entry count from set_gdt. */
  gdtFrames: number[] = [];
  gdtEntries = 0;
  ldtBase = 0;
  ldtEntries = 0;
  /** Debug registers (set_debugreg). */
  readonly debugReg = new Float64Array(8);
  /** Single-shot timer deadline in ns of system time (-1 = none). */
  timerDeadline = -1;
  /** Periodic timer period (ns; 0 = stopped). Xen starts a PV vCPU with a 100 Hz periodic VIRQ_TIMER. */
  periodicPeriod = 10_000_000;
  periodicNext = 0;
  /** Blocked in SCHEDOP_block/poll. */
  blocked = false;
  online = false;
  /** Hypercall counters by number (for --trace-hypercalls summaries). */
  readonly hypercallCounts = new Map<number, number>();
  /** Exits from the CPU by kind, and exceptions by vector (statistics). */
  readonly exitCounts = new Float64Array(8);
  readonly exceptionCounts = new Float64Array(32);

  constructor(
    readonly domain: Domain,
    readonly id: number,
  ) {
    this.mmu = new PvMmu(domain.memory);
    this.cpu = new Cpu(this.mmu);
    this.cpu.cpl = 3; // a PV guest runs at CPL 3 in both guest-kernel and guest-user mode
    this.cpu.cpuid = (leaf, sub, out) => domain.cpuid(leaf, sub, out);
    // The TSC runs at 1 GHz: it is the domain's system time in ns (see time.ts).
    this.cpu.readTsc = () => domain.nowNs();
    this.mem = new GuestMemory(this.cpu);
  }

  get kernelMode(): boolean {
    return this.mmu.kernelMode;
  }

  /** RAM offset of this vCPU's vcpu_info (registered placement, or its slot in shared_info). */
  vcpuInfoOffset(): number {
    const mem = this.domain.memory;
    if (this.vcpuInfoMaddr >= 0) {
      return mem.offsetOfMfn(Math.floor(this.vcpuInfoMaddr / 4096)) + (this.vcpuInfoMaddr % 4096);
    }
    return mem.offsetOfMfn(this.domain.sharedInfoMfn) + SHARED_INFO.vcpu_info + VCPU_INFO_SIZE * this.id;
  }

  /** evtchn_upcall_mask of this vCPU's vcpu_info (the virtual "interrupts disabled"). */
  get upcallMask(): boolean {
    return this.domain.memory.ram[this.vcpuInfoOffset() + VCPU_INFO.evtchn_upcall_mask] !== 0;
  }
  set upcallMask(on: boolean) {
    this.domain.memory.ram[this.vcpuInfoOffset() + VCPU_INFO.evtchn_upcall_mask] = on ? 1 : 0;
  }
  get upcallPending(): boolean {
    return this.domain.memory.ram[this.vcpuInfoOffset() + VCPU_INFO.evtchn_upcall_pending] !== 0;
  }

  // ---- hypercall arguments: rdi, rsi, rdx, r10, r8, r9

  private static readonly ARG_REGS = [7, 6, 2, 10, 8, 9];

  argLo(n: number): number {
    return this.cpu.r[2 * Vcpu.ARG_REGS[n]!]!;
  }
  argHi(n: number): number {
    return this.cpu.r[2 * Vcpu.ARG_REGS[n]! + 1]!;
  }
  /** Low 32 bits, unsigned (commands, counts, ports). */
  arg32(n: number): number {
    return this.argLo(n) >>> 0;
  }
  /** A pointer argument as a canonical number (NaN when not canonical: accesses then fault). */
  argVa(n: number): number {
    return toVa(this.argLo(n), this.argHi(n));
  }
  arg64n(n: number): bigint {
    return (BigInt(this.argHi(n) >>> 0) << 32n) | BigInt(this.argLo(n) >>> 0);
  }

  /**
   * Run until `budget` guest instructions have retired, the vCPU blocks, or
   * the domain stops. Events due are delivered at every return to the guest.
   */
  run(budget: number): VcpuStop {
    const cpu = this.cpu;
    const stopAt = cpu.icount + budget;
    while (cpu.icount < stopAt) {
      if (this.domain.isShutdown) return VcpuStop.Shutdown;
      if (!this.online) return VcpuStop.Offline;
      if (this.blocked) return VcpuStop.Blocked;
      traps.deliverPendingEvents(this);
      const exit = cpu.run(stopAt - cpu.icount);
      this.exitCounts[exit]++;
      switch (exit) {
        case Exit.Budget:
          break;
        case Exit.Syscall:
          if (this.kernelMode) this.hypercall();
          else traps.guestSyscall(this);
          break;
        case Exit.Exception:
          this.exception();
          break;
        case Exit.SoftwareInterrupt:
          traps.softwareInterrupt(this, cpu.excVector);
          break;
        case Exit.Halt:
          // hlt cannot execute at CPL 3; unreachable for a PV guest.
          traps.injectException(this, GP, 0);
          break;
      }
    }
    return VcpuStop.Budget;
  }

  private hypercall(): void {
    const cpu = this.cpu;
    const num = cpu.r[2 * RAX]!;
    this.hypercallCounts.set(num, (this.hypercallCounts.get(num) ?? 0) + 1);
    // Real Xen returns with sysret: rcx = return RIP, r11 = RFLAGS.
    const ripLo = cpu.r[32]!, ripHi = cpu.r[33]!;
    const flags = cpu.getFlags();
    const trace = this.domain.traceHypercalls;
    const before = trace ? trace.describe(this, num) : '';
    const result = dispatchHypercall(this, num);
    if (result === NO_RETURN) {
      if (trace) trace.log(this, before, '(no return)');
      return;
    }
    cpu.r[2 * RCX] = ripLo;
    cpu.r[2 * RCX + 1] = ripHi;
    cpu.setReg64(R11, flags, 0);
    cpu.setReg64(RAX, result | 0, result < 0 ? -1 : Math.floor(result / 4294967296));
    if (trace) trace.log(this, before, result);
  }

  private exception(): void {
    const cpu = this.cpu;
    const vector = cpu.excVector;
    this.exceptionCounts[vector & 31]++;
    if (vector === GP && emulatePrivilegedOp(this)) return;
    if (vector === UD && emulateInvalidOpcode(this)) return;
    if (vector === PF_VEC && emulatePageTableWrite(this)) return;
    traps.injectException(this, vector, cpu.excHasCode ? cpu.excCode : -1);
  }
}
