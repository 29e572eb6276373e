/**
 * Emulation of the privileged instructions a PV guest still executes
 * (xen/arch/x86/pv/emul-priv-op.c, emul-inv-op.c, msr.c).
 *
 * The guest runs at CPL 3, so these raise #GP(0) (or #UD for the forced-
 * emulation CPUID); the vCPU loop asks us first and injects the exception
 * only if we return false. In guest-kernel mode (Xen's "mode_ring0") we
 * emulate rdmsr/wrmsr, mov to/from CR0/CR2/CR3/CR4 and DR0-7, clts, wbinvd,
 * and rdtsc/rdtscp when the guest set CR4.TSD. In either mode we emulate
 * in/out/ins/outs and cli/sti subject to the virtual IOPL and I/O bitmap.
 * A domU owns no ports: reads return all ones, writes are dropped, except
 * the PCI CONFIG_ADDRESS latch (dword 0xcf8) Xen keeps per domain.
 * Deviation: Xen's PIT channel-2 (0x42/0x43/0x61) and CMOS emulation are
 * not modelled; those ports read as all ones too.
 *
 * After an emulated instruction RIP moves past it, RF is cleared, and a set
 * TF raises the single-step #DB, as x86_emulate retires an instruction.
 */
import type { Vcpu } from './vcpu.ts';
import type { Domain } from './domain.ts';
import type { Insn } from '../cpu/insn.ts';
import { decodeAt } from '../cpu/decoder.ts';
import { CPU_FAULT, DB, GP, PF_VEC, RAX, RCX, RDI, RDX, RF, RSI, SEG_FS, TF, UD } from '../cpu/state.ts';
import { GuestFault, toVa, vaHi, vaLo } from './guest-memory.ts';
import { VMASST_TYPE_architectural_iopl } from './domain.ts';
import {
  injectException, PV_CR4_VISIBLE, setGuestCr2, trapState, X86_CR4_DE, X86_CR4_FSGSBASE, X86_CR4_OSXSAVE, X86_CR4_TSD,
  X86_DR6_DEFAULT, X86_DR7_DEFAULT,
} from './traps.ts';
import { ARCH_CAPS_HI, ARCH_CAPS_LO, PV_POLICY } from './cpuid-policy.ts';
import { ioBitmap } from '../hypercall/physdev.ts';
import { XEN_ENODEV, XEN_EINVAL, XEN_EPERM } from '../hypercall/abi.ts';

// ------------------------------------------------------------------ MSRs (names as in xen asm/msr-index.h)

export const MSR_IA32_TSC = 0x10, MSR_IA32_PLATFORM_ID = 0x17, MSR_APIC_BASE = 0x1b, MSR_IA32_FEATURE_CONTROL = 0x3a;
export const MSR_IA32_UCODE_REV = 0x8b, MSR_INTEL_PLATFORM_INFO = 0xce, MSR_IA32_MPERF = 0xe7, MSR_IA32_APERF = 0xe8;
export const MSR_INTEL_MISC_FEATURES_ENABLES = 0x140, MSR_IA32_PERF_STATUS = 0x198, MSR_IA32_PERF_CTL = 0x199;
export const MSR_IA32_THERM_CONTROL = 0x19a, MSR_IA32_THERM_STATUS = 0x19c, MSR_IA32_MISC_ENABLE = 0x1a0;
export const MSR_IA32_ENERGY_PERF_BIAS = 0x1b0, MSR_IA32_CR_PAT = 0x277, MSR_IA32_PERF_CAPABILITIES = 0x345;
export const MSR_ARCH_CAPS = 0x10a;
export const MSR_EFER = 0xc0000080, MSR_FS_BASE = 0xc0000100, MSR_GS_BASE = 0xc0000101, MSR_SHADOW_GS_BASE = 0xc0000102;
export const MSR_TSC_AUX = 0xc0000103;

/** EFER as a 64-bit PV guest sees it: SCE | LME | LMA | NXE. */
export const GUEST_EFER = 0xd01;
/** XEN_MSR_PAT: WB, WT, UC-, UC, WC, WP, UC, UC — fixed by the PV ABI. */
export const XEN_MSR_PAT_LO = 0x00070406, XEN_MSR_PAT_HI = 0x00000501;
/** APIC_BASE: enabled at the default address; BSP on vCPU 0 (Linux PV reads it and masks x2APIC). */
const APIC_DEFAULT_PHYS_BASE = 0xfee00000, APIC_BASE_ENABLE = 1 << 11, APIC_BASE_BSP = 1 << 8;
/**
 * guest_misc_enable(host value): FAST_STRING (0) as a typical host has it,
 * plus the bits Xen forces: BTS_UNAVAIL (11), PEBS_UNAVAIL (12), XTPR_DISABLE (23);
 * PERF_AVAIL and MONITOR_ENABLE cleared.
 */
export const GUEST_MISC_ENABLE = (1 << 0) | (1 << 11) | (1 << 12) | (1 << 23);
/** IA32_FEATURE_CONTROL: locked, nothing enabled. */
const IA32_FEATURE_CONTROL_LOCK = 1;

/** CR0 as the host has it (PE|MP|ET|NE|WP|AM|PG); the guest sees it with its own virtual TS. */
export const HOST_CR0 = 0x80050033;
const X86_CR0_TS = 8;

// ------------------------------------------------------------------ helpers shared with the hypercalls

/** do_fpu_taskswitch: set or clear the virtual CR0.TS (the CPU's TS raises #NM on the next FPU/SSE use). */
export function fpuTaskswitch(v: Vcpu, set: boolean): void {
  v.cpu.cr0 = set ? v.cpu.cr0 | X86_CR0_TS : v.cpu.cr0 & ~X86_CR0_TS;
}

/** pv_fixup_guest_cr4: the guest keeps only the controllable bits its CPUID allows; PAE|MCE|OSFXSR|OSXMMEXCPT show through. */
export function pvFixupGuestCr4(val: number): number {
  const allowed = (PV_POLICY.tsc ? X86_CR4_TSD : 0) | (PV_POLICY.de ? X86_CR4_DE : 0)
    | (PV_POLICY.fsgsbase ? X86_CR4_FSGSBASE : 0) | (PV_POLICY.xsave ? X86_CR4_OSXSAVE : 0);
  return ((val & allowed) | PV_CR4_VISIBLE) >>> 0;
}

/** Write the guest's CR4 view and the one bit of it the CPU acts on (TSD: rdtsc faults at CPL 3). */
export function writeGuestCr4(v: Vcpu, val: number): void {
  const cr4 = pvFixupGuestCr4(val);
  trapState(v).cr4 = cr4;
  v.cpu.cr4 = (v.cpu.cr4 & ~X86_CR4_TSD) | (cr4 & X86_CR4_TSD);
}

/** Result of readDebugReg: the value as (lo, hi). */
export const DR_VALUE = new Int32Array(2);

/** x86emul_read_dr: returns 0 with the value in DR_VALUE, or -ENODEV (→ #UD) for a register that does not exist. */
export function readDebugReg(v: Vcpu, reg: number): number {
  const st = trapState(v);
  const de = (st.cr4 & X86_CR4_DE) !== 0;
  let n = reg >>> 0;
  if (n === 4 || n === 5) {
    if (de) return -XEN_ENODEV;
    n += 2; // DR4/DR5 alias DR6/DR7 without CR4.DE
  }
  switch (n) {
    case 0: case 1: case 2: case 3: {
      const val = v.debugReg[n]!;
      DR_VALUE[0] = vaLo(val);
      DR_VALUE[1] = vaHi(val);
      return 0;
    }
    case 6:
      DR_VALUE[0] = v.debugReg[6]! | 0;
      DR_VALUE[1] = 0;
      return 0;
    case 7:
      DR_VALUE[0] = (v.debugReg[7]! | st.dr7Emul) | 0;
      DR_VALUE[1] = 0;
      return 0;
    default:
      return -XEN_ENODEV;
  }
}

/**
 * set_debugreg (xen pv/misc-hypercalls.c): DR0-3 must be guest addresses
 * (-EPERM otherwise); DR6/DR7 are 32-bit (-EINVAL), with reserved bits
 * forced; DR7.GD is refused (-EPERM); I/O breakpoints need CR4.DE and are
 * kept aside in dr7_emul. -ENODEV for DR4/5 with CR4.DE or any other number.
 */
export function setDebugReg(v: Vcpu, reg: number, lo: number, hi: number): number {
  const st = trapState(v);
  const de = (st.cr4 & X86_CR4_DE) !== 0;
  let n = reg >>> 0;
  if (n === 4 || n === 5) {
    if (de) return -XEN_ENODEV;
    n += 2;
  }
  switch (n) {
    case 0: case 1: case 2: case 3: {
      const uh = hi >>> 0;
      if (!(uh < 0x8000 || uh >= 0xffff8800)) return -XEN_EPERM; // __addr_ok
      v.debugReg[n] = toVa(lo, hi);
      return 0;
    }
    case 6: {
      if (hi !== 0) return -XEN_EINVAL;
      v.debugReg[6] = ((lo | X86_DR6_DEFAULT) & ~0x1000) >>> 0; // x86_adj_dr6_rsvd (no RTM, no bus-lock detect)
      return 0;
    }
    case 7: {
      if (hi !== 0) return -XEN_EINVAL;
      // x86_adj_dr7_rsvd: bits 12, 14, 15 and (no RTM) 11 forced to 0, bit 10 to 1.
      let val = ((lo & ~0xd800) | X86_DR7_DEFAULT) >>> 0;
      if (val & 0x2000) return -XEN_EPERM; // DR7.GD
      let ioEnable = 0;
      if (val & 0xff) {
        for (let i = 16; i < 32; i += 4) {
          if (((val >>> i) & 3) === 2 /* DR_IO */) {
            if (!de) return -XEN_EPERM;
            ioEnable |= val & (3 << ((i - 16) >> 1));
          }
        }
        val = (val & ~ioEnable) >>> 0;
      }
      st.dr7Emul = ioEnable;
      v.debugReg[7] = val;
      return 0;
    }
    default:
      return -XEN_ENODEV;
  }
}

// ------------------------------------------------------------------ the emulator

const enum Res {
  /** Emulated: advance RIP past the instruction. */
  Done,
  /** Not emulated: the original #GP(0) goes to the guest. */
  Gp,
  /** An exception was injected, or RIP stays (a long rep ins/outs continues next time). */
  Handled,
}

/** PCI CONFIG_ADDRESS latch per domain (Xen's d->arch.pci_cf8). */
const PCI_CF8 = new WeakMap<Domain, number>();

/** Elements per emulation of a rep ins/outs before giving the run loop a turn (Xen: hypercall_preempt_check). */
const IO_REP_CHUNK = 4096;

function kernelCpl(v: Vcpu): boolean {
  return v.mmu.kernelMode;
}

/** iopl_ok: the virtual IOPL against the assumed CPL (1 in guest-kernel mode, 0 with architectural_iopl, 3 in user mode). */
function ioplOk(v: Vcpu): boolean {
  const arch = (v.domain.vmAssist & (1 << VMASST_TYPE_architectural_iopl)) !== 0;
  const cpl = v.mmu.kernelMode ? (arch ? 0 : 1) : 3;
  return cpl <= (v.iopl & 3);
}

/**
 * guest_io_okay: IOPL, else the PHYSDEVOP_set_iobitmap bitmap (read through
 * the kernel page tables, 2 bytes as hardware does). Returns Done (allowed),
 * Gp, or Handled when reading the bitmap faulted (#PF injected).
 */
function ioOkay(v: Vcpu, port: number, bytes: number): Res {
  if (ioplOk(v)) return Res.Done;
  const bm = ioBitmap(v);
  if (bm !== undefined && port + bytes <= bm.nrPorts) {
    const va = bm.va + (port >>> 3);
    const user = !v.mmu.kernelMode;
    let mask = 0;
    if (user) v.mmu.setKernelMode(true);
    try {
      mask = v.mem.u16(va);
    } catch (e) {
      if (!(e instanceof GuestFault)) throw e;
      if (user) v.mmu.setKernelMode(false);
      injectException(v, PF_VEC, 0); // cpu.cr2 holds the failing address
      return Res.Handled;
    }
    if (user) v.mmu.setKernelMode(false);
    if ((mask & (((1 << bytes) - 1) << (port & 7))) === 0) return Res.Done;
  }
  return Res.Gp;
}

/** guest_io_read for a domU: all ones, except a dword read of CONFIG_ADDRESS. */
function ioRead(v: Vcpu, port: number, bytes: number): number {
  if (port === 0xcf8 && bytes === 4) return PCI_CF8.get(v.domain) ?? 0;
  return bytes === 4 ? -1 : (1 << (8 * bytes)) - 1;
}

/** guest_io_write for a domU: dropped, except a dword write of CONFIG_ADDRESS. */
function ioWrite(v: Vcpu, port: number, bytes: number, data: number): void {
  if (port === 0xcf8 && bytes === 4) PCI_CF8.set(v.domain, data | 0);
}

function portIo(v: Vcpu, i: Insn, isIn: boolean): Res {
  const cpu = v.cpu;
  const size = i.opcode & 1 ? (i.opSize === 2 ? 2 : 4) : 1;
  const port = i.opcode < 0xe8 ? i.immLo & 0xff : cpu.r[2 * RDX]! & 0xffff;
  const ok = ioOkay(v, port, size);
  if (ok !== Res.Done) return ok;
  if (isIn) cpu.setReg(RAX, size, ioRead(v, port, size), 0);
  else ioWrite(v, port, size, cpu.r[2 * RAX]!);
  return Res.Done;
}

/** ins/outs (with rep): ES:rDI ← port, or port ← seg:rSI. */
function stringIo(v: Vcpu, i: Insn, isIn: boolean): Res {
  const cpu = v.cpu, r = cpu.r;
  const size = i.opcode & 1 ? (i.opSize === 2 ? 2 : 4) : 1;
  const a32 = i.addrSize === 4;
  let cLo = r[2 * RCX]!, cHi = a32 ? 0 : r[2 * RCX + 1]!;
  if (i.rep !== 0 && cLo === 0 && cHi === 0) return Res.Done; // rep with a zero count does nothing
  const port = r[2 * RDX]! & 0xffff;
  const ok = ioOkay(v, port, size);
  if (ok !== Res.Done) return ok;
  const ptr = isIn ? RDI : RSI;
  const step = cpu.flags & (1 << 10) ? -size : size; // DF
  const seg = !isIn && i.seg >= SEG_FS ? i.seg : -1;
  let n = 0;
  let res: Res = Res.Done;
  for (;;) {
    let pLo = r[2 * ptr]!, pHi = a32 ? 0 : r[2 * ptr + 1]!;
    if (a32) pLo = pLo >>> 0;
    if (seg >= 0) {
      const s = (pLo >>> 0) + (cpu.segBase[2 * seg]! >>> 0);
      pHi = (pHi + cpu.segBase[2 * seg + 1]! + (s > 0xffffffff ? 1 : 0)) | 0;
      pLo = s | 0;
    }
    const va = toVa(pLo, pHi);
    if (!Number.isFinite(va)) {
      res = Res.Gp;
      break;
    }
    try {
      if (isIn) {
        const d = ioRead(v, port, size);
        if (size === 1) v.mem.setU8(va, d);
        else if (size === 2) v.mem.setU16(va, d);
        else v.mem.setU32(va, d);
      } else {
        const d = size === 1 ? v.mem.u8(va) : size === 2 ? v.mem.u16(va) : v.mem.u32(va);
        ioWrite(v, port, size, d);
      }
    } catch (e) {
      if (!(e instanceof GuestFault)) throw e;
      injectException(v, PF_VEC, cpu.excCode); // the CPU left the precise CR2 and error code
      res = Res.Handled;
      break;
    }
    n++;
    // Advance the pointer (64- or 32-bit) and, with rep, count down.
    if (a32) {
      r[2 * ptr] = (r[2 * ptr]! + step) | 0;
      r[2 * ptr + 1] = 0;
    } else {
      const s = (r[2 * ptr]! >>> 0) + step;
      r[2 * ptr + 1] = (r[2 * ptr + 1]! + (s > 0xffffffff ? 1 : s < 0 ? -1 : 0)) | 0;
      r[2 * ptr] = s | 0;
    }
    if (i.rep === 0) break;
    if ((cLo >>> 0) === 0) cHi = (cHi - 1) | 0;
    cLo = (cLo - 1) | 0;
    r[2 * RCX] = cLo;
    r[2 * RCX + 1] = cHi;
    if (cLo === 0 && cHi === 0) break;
    if (n >= IO_REP_CHUNK) {
      res = Res.Handled; // RIP stays on the instruction: it faults again and continues
      break;
    }
  }
  if (a32 && i.rep !== 0) r[2 * RCX + 1] = 0;
  return res;
}

/** The MSR value of a successful readMsr. */
let msrLo = 0, msrHi = 0;

/** read_msr + guest_rdmsr for a PV domU; false → #GP. */
function readMsr(v: Vcpu, msr: number): boolean {
  const cpu = v.cpu;
  msrHi = 0;
  switch (msr) {
    case MSR_FS_BASE: msrLo = cpu.segBase[8]!; msrHi = cpu.segBase[9]!; return true;
    case MSR_GS_BASE: msrLo = cpu.segBase[10]!; msrHi = cpu.segBase[11]!; return true;
    // In guest-kernel mode (the only mode that gets here) the inactive base is the user one.
    case MSR_SHADOW_GS_BASE: msrLo = v.gsBaseInactive[0]!; msrHi = v.gsBaseInactive[1]!; return true;
    case MSR_IA32_TSC: {
      const t = cpu.readTsc();
      msrLo = t | 0;
      msrHi = Math.floor(t / 4294967296) | 0;
      return true;
    }
    case MSR_EFER: msrLo = GUEST_EFER; return true;
    case MSR_IA32_CR_PAT: msrLo = XEN_MSR_PAT_LO; msrHi = XEN_MSR_PAT_HI; return true;
    case MSR_APIC_BASE: msrLo = (APIC_DEFAULT_PHYS_BASE | APIC_BASE_ENABLE | (v.id === 0 ? APIC_BASE_BSP : 0)) | 0; return true;
    case MSR_IA32_MISC_ENABLE: msrLo = GUEST_MISC_ENABLE; return true;
    case MSR_IA32_FEATURE_CONTROL: msrLo = IA32_FEATURE_CONTROL_LOCK; return true;
    case MSR_ARCH_CAPS: msrLo = ARCH_CAPS_LO; msrHi = ARCH_CAPS_HI; return true;
    case MSR_IA32_PERF_CAPABILITIES: // no extra capabilities
    case MSR_IA32_PLATFORM_ID: // host value; ours is 0
    case MSR_IA32_UCODE_REV: // microcode revision (EDX): 0
    case MSR_INTEL_PLATFORM_INFO: // no CPUID faulting
    case MSR_INTEL_MISC_FEATURES_ENABLES:
    case MSR_IA32_PERF_STATUS:
    case MSR_IA32_PERF_CTL:
    case MSR_IA32_THERM_STATUS:
      msrLo = 0;
      return true;
    case MSR_TSC_AUX:
      if (!PV_POLICY.rdtscp && !PV_POLICY.rdpid) return false;
      msrLo = cpu.tscAux | 0;
      return true;
    default:
      return false;
  }
}

/** write_msr + guest_wrmsr for a PV domU; false → #GP. */
function writeMsr(v: Vcpu, msr: number, lo: number, hi: number): boolean {
  const cpu = v.cpu;
  switch (msr) {
    case MSR_FS_BASE:
    case MSR_GS_BASE:
    case MSR_SHADOW_GS_BASE:
      if ((hi << 16) >> 16 !== hi) return false; // not canonical
      if (msr === MSR_FS_BASE) {
        cpu.segBase[8] = lo;
        cpu.segBase[9] = hi;
      } else if (msr === MSR_GS_BASE) {
        cpu.segBase[10] = lo;
        cpu.segBase[11] = hi;
      } else {
        // gs_base_user, which in guest-kernel mode is the inactive (shadow) base.
        v.gsBaseInactive[0] = lo;
        v.gsBaseInactive[1] = hi;
      }
      return true;
    case MSR_EFER:
      return lo === GUEST_EFER && hi === 0; // only the current value may be written back
    case MSR_IA32_MISC_ENABLE: // a differing value is logged by Xen and ignored
    case MSR_IA32_PERF_CTL:
    case MSR_IA32_THERM_CONTROL:
    case MSR_IA32_ENERGY_PERF_BIAS:
    case MSR_IA32_MPERF:
    case MSR_IA32_APERF:
      return true;
    case MSR_IA32_UCODE_REV:
      return lo === 0 && hi === 0; // Intel's "write 0, cpuid, read" sequence
    case MSR_INTEL_MISC_FEATURES_ENABLES:
      return lo === 0 && hi === 0; // CPUID faulting is not offered
    case MSR_TSC_AUX:
      if ((!PV_POLICY.rdtscp && !PV_POLICY.rdpid) || hi !== 0) return false;
      cpu.tscAux = lo;
      return true;
    default:
      return false;
  }
}

function rdmsr(v: Vcpu): Res {
  const cpu = v.cpu;
  const msr = cpu.r[2 * RCX]! >>> 0;
  if (!readMsr(v, msr)) {
    // Before a #GP handler exists Xen fakes a zero read (except for its own 0x4000xxxx range).
    if (v.trapTable[GP]!.address !== 0 || msr >>> 16 === 0x4000) return Res.Gp;
    v.domain.logOnce(`rdmsr-fake-${msr}`, `faking RDMSR 0x${msr.toString(16).padStart(8, '0')} (no #GP handler yet)`);
    msrLo = 0;
    msrHi = 0;
  }
  cpu.setReg32(RAX, msrLo);
  cpu.setReg32(RDX, msrHi);
  return Res.Done;
}

function wrmsr(v: Vcpu): Res {
  const r = v.cpu.r;
  const msr = r[2 * RCX]! >>> 0;
  if (writeMsr(v, msr, r[2 * RAX]!, r[2 * RDX]!)) return Res.Done;
  v.domain.logOnce(`wrmsr-${msr}`, `WRMSR 0x${msr.toString(16).padStart(8, '0')} refused (#GP)`);
  return Res.Gp;
}

/** mov to/from CRn / DRn (0F 20-23). The CPU treats the ModRM as register-only; we only accept mod = 3. */
function movCrDr(v: Vcpu, i: Insn): Res {
  const cpu = v.cpu;
  if (i.rm < 0) return Res.Gp;
  const reg = i.reg;
  const rLo = cpu.r[2 * i.rm]!, rHi = cpu.r[2 * i.rm + 1]!;
  const st = trapState(v);
  switch (i.opcode) {
    case 0x20: // mov reg, CRn
      switch (reg) {
        case 0: cpu.setReg64(i.rm, ((HOST_CR0 & ~X86_CR0_TS) | (cpu.cr0 & X86_CR0_TS)) | 0, 0); return Res.Done;
        case 2: cpu.setReg64(i.rm, st.cr2[0]!, st.cr2[1]!); return Res.Done;
        case 3: {
          // xen_pfn_to_cr3(mfn_to_gfn(guest_table)): the kernel L4's PFN << 12.
          const pfn = v.domain.memory.m2p(v.mmu.kernelRoot);
          if (pfn < 0) cpu.setReg64(i.rm, -4096, -1);
          else cpu.setReg64(i.rm, (pfn << 12) | 0, Math.floor(pfn / 1048576));
          return Res.Done;
        }
        case 4: cpu.setReg64(i.rm, st.cr4 | 0, 0); return Res.Done;
        default: return Res.Gp;
      }
    case 0x22: // mov CRn, reg
      switch (reg) {
        case 0:
          // Only TS may change (do_fpu_taskswitch); anything else is refused.
          if (((rLo ^ HOST_CR0) & ~X86_CR0_TS) !== 0 || rHi !== 0) return Res.Gp;
          fpuTaskswitch(v, (rLo & X86_CR0_TS) !== 0);
          return Res.Done;
        case 2:
          setGuestCr2(v, rLo, rHi);
          return Res.Done;
        case 4:
          writeGuestCr4(v, rLo);
          return Res.Done;
        default:
          // CR3 writes need new_guest_cr3 (pinning and validating an L4): not offered — Linux uses MMUEXT_NEW_BASEPTR.
          return Res.Gp;
      }
    case 0x21: { // mov reg, DRn
      if (readDebugReg(v, reg) !== 0) {
        injectException(v, UD, -1);
        return Res.Handled;
      }
      cpu.setReg64(i.rm, DR_VALUE[0]!, DR_VALUE[1]!);
      return Res.Done;
    }
    case 0x23: { // mov DRn, reg
      const rc = setDebugReg(v, reg, rLo, rHi);
      if (rc === 0) return Res.Done;
      if (rc === -XEN_ENODEV) {
        injectException(v, UD, -1);
        return Res.Handled;
      }
      return Res.Gp;
    }
  }
  return Res.Gp;
}

function rdtsc(v: Vcpu, withAux: boolean): Res {
  const cpu = v.cpu;
  const t = cpu.readTsc();
  cpu.setReg32(RAX, t | 0);
  cpu.setReg32(RDX, Math.floor(t / 4294967296) | 0);
  if (withAux) cpu.setReg32(RCX, cpu.tscAux);
  return Res.Done;
}

/**
 * Retire an emulated instruction (pv_emul_instruction_done): RIP := next,
 * RF cleared, and a single-step #DB if TF was set.
 */
function instructionDone(v: Vcpu, lo: number, hi: number): void {
  const cpu = v.cpu;
  const tf = (cpu.flags & TF) !== 0;
  cpu.r[32] = lo;
  cpu.r[33] = hi;
  cpu.flags &= ~RF;
  if (tf) injectException(v, DB, -1);
}

function emulate(v: Vcpu, i: Insn): Res {
  const kernel = kernelCpl(v);
  switch (i.name) {
    case 'rdmsr': return kernel ? rdmsr(v) : Res.Gp;
    case 'wrmsr': return kernel ? wrmsr(v) : Res.Gp;
    case 'mov':
      if (i.opcode >= 0x20 && i.opcode <= 0x23) return kernel ? movCrDr(v, i) : Res.Gp;
      return Res.Gp;
    case 'clts':
      if (!kernel) return Res.Gp;
      fpuTaskswitch(v, false);
      return Res.Done;
    case 'wbinvd': return kernel ? Res.Done : Res.Gp; // a domU may not flush caches: ignored
    case 'in': return portIo(v, i, true);
    case 'out': return portIo(v, i, false);
    case 'ins': return stringIo(v, i, true);
    case 'outs': return stringIo(v, i, false);
    case 'cli':
    case 'sti':
      // With a sufficient virtual IOPL Xen skips them (the upcall mask is the guest's interrupt flag).
      return ioplOk(v) ? Res.Done : Res.Gp;
    case 'rdtsc': return kernel ? rdtsc(v, false) : Res.Gp; // faults only with CR4.TSD
    case 'rdtscp': return kernel ? rdtsc(v, true) : Res.Gp;
    default: return Res.Gp;
  }
}

/**
 * A #GP from guest code: emulate the instruction at RIP if Xen would
 * (see the file comment). True when handled (emulated, or another exception
 * injected); false to deliver the original #GP.
 */
export function emulatePrivilegedOp(v: Vcpu): boolean {
  const cpu = v.cpu;
  if (cpu.excCode !== 0) return false; // only #GP(0) comes from privileged instructions
  // Decoding (or emulating) may fault and overwrite the CPU's exception record; keep the original #GP.
  const vec = cpu.excVector, code = cpu.excCode, has = cpu.excHasCode;
  const cr2Lo = cpu.cr2[0]!, cr2Hi = cpu.cr2[1]!;
  let i: Insn | undefined;
  try {
    i = decodeAt(cpu, cpu.r[32]!, cpu.r[33]!);
  } catch (e) {
    if (e !== CPU_FAULT) throw e;
  }
  const res = i ? emulate(v, i) : Res.Gp;
  if (res === Res.Gp) {
    cpu.excVector = vec;
    cpu.excCode = code;
    cpu.excHasCode = has;
    cpu.cr2[0] = cr2Lo;
    cpu.cr2[1] = cr2Hi;
    return false;
  }
  if (res === Res.Done) instructionDone(v, i!.nextLo, i!.nextHi);
  return true;
}

/** "\x0f\x0b" "xen" then "\x0f\xa2": the forced-emulation prefix and cpuid. */
const FORCED_SIG = [0x0f, 0x0b, 0x78, 0x65, 0x6e, 0x0f, 0xa2];
const FORCED_PARTS: ReadonlyArray<readonly [number, number]> = [[0, 5], [5, 7]];
const FORCED_BYTES = new Uint8Array(7);
const CPUID_OUT = new Int32Array(4);

/**
 * A #UD from guest code (pv_emulate_invalid_op): the forced-emulation
 * sequence `ud2; .ascii "xen"; cpuid` runs CPUID with the domain's policy
 * and RIP += 7, in either guest mode. A fault reading the bytes is injected
 * as #PF. False for anything else (the #UD goes to the guest).
 */
export function emulateInvalidOpcode(v: Vcpu): boolean {
  const cpu = v.cpu, r = cpu.r;
  const rip = toVa(r[32]!, r[33]!);
  if (!Number.isFinite(rip)) return false;
  // Like Xen: copy the 5-byte signature, compare, then copy the 2 instruction bytes, compare.
  for (const [from, to] of FORCED_PARTS) {
    for (let k = from; k < to; k++) {
      try {
        FORCED_BYTES[k] = v.mem.u8(rip + k);
      } catch (e) {
        if (!(e instanceof GuestFault)) throw e;
        injectException(v, PF_VEC, 0); // pv_inject_page_fault(0, addr): CR2 is the byte that failed
        return true;
      }
    }
    for (let k = from; k < to; k++) if (FORCED_BYTES[k] !== FORCED_SIG[k]) return false;
  }
  v.domain.cpuid(r[2 * RAX]!, r[2 * RCX]!, CPUID_OUT);
  cpu.setReg32(RAX, CPUID_OUT[0]!);
  cpu.setReg32(3, CPUID_OUT[1]!); // RBX
  cpu.setReg32(RCX, CPUID_OUT[2]!);
  cpu.setReg32(RDX, CPUID_OUT[3]!);
  const next = rip + FORCED_SIG.length;
  instructionDone(v, vaLo(next), vaHi(next));
  return true;
}
