/**
 * Traps, bounce frames, HYPERVISOR_iret, privileged-instruction emulation,
 * the CPUID policy and the CPU-state hypercalls (src/domains/traps.ts,
 * priv-op.ts, cpuid-policy.ts, src/hypercall/descriptors.ts).
 *
 * Each test builds a tiny PV domain by hand: kernel page tables mapping
 * 0xffffffff80000000 + pfn*4096 → PFN for the first 256 PFNs, a user L4
 * mapping 0x400000.. (user-accessible), and guest code written into RAM.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Domain } from '../src/domains/domain.ts';
import type { Vcpu } from '../src/domains/vcpu.ts';
import { dispatchHypercall, NO_RETURN } from '../src/hypercall/dispatch.ts';
import { SHARED_INFO, VCPU_INFO } from '../src/domains/shared-info.ts';
import {
  deliverPendingEvents, guestSyscall, injectException, IRET_CONTEXT, softwareInterrupt, trapState, X86_CR4_TSD,
} from '../src/domains/traps.ts';
import { emulateInvalidOpcode, emulatePrivilegedOp } from '../src/domains/priv-op.ts';
import { pvCpuid, XEN_CPUID_MAX_NUM_LEAVES, XEN_CPUID_SIGNATURE_EBX, XEN_CPUID_SIGNATURE_ECX, XEN_CPUID_SIGNATURE_EDX, XEN_CPUID_FEAT1_MMU_PT_UPDATE_PRESERVE_AD } from '../src/domains/cpuid-policy.ts';
import {
  CALLBACK_REGISTER, CALLBACK_UNREGISTER, CALLBACKF_mask_events, CALLBACKOP_register, CALLBACKOP_unregister, CALLBACKTYPE_event,
  CALLBACKTYPE_failsafe, CALLBACKTYPE_nmi, CALLBACKTYPE_sysenter, CALLBACKTYPE_sysenter_deprecated, CALLBACKTYPE_syscall,
  CALLBACKTYPE_syscall32, FIRST_RESERVED_GDT_ENTRY, FIRST_RESERVED_GDT_PAGE, SEGBASE_FS, SEGBASE_GS_KERNEL, SEGBASE_GS_USER,
  SEGBASE_GS_USER_SEL, TRAP_INFO,
} from '../src/hypercall/descriptors.ts';
import { FLAT_KERNEL_CS64, FLAT_KERNEL_SS64, FLAT_USER_CS32, HYPERVISOR, VGCF_FAILSAFE_DISABLES_EVENTS, VGCF_IN_SYSCALL, VGCF_SYSCALL_DISABLES_EVENTS } from '../src/hypercall/abi.ts';
import { decodeAt } from '../src/cpu/decoder.ts';
import { pageTypes, PGT_seg_desc } from '../src/mmu/page-types.ts';

const HERE = dirname(fileURLToPath(import.meta.url));

// ---------------------------------------------------------------- a hand-built PV domain

const KVA0 = -2147483648; // 0xffffffff80000000 as a canonical number
const kva = (pfn: number, off = 0): number => KVA0 + pfn * 4096 + off;
const UVA0 = 0x400000;
const USER_PFN0 = 40; // user page i (VA 0x400000 + i*4096) is PFN 40 + i
const uva = (page: number, off = 0): number => UVA0 + page * 4096 + off;
const CODE_PFN = 30;
const TWO64 = 1n << 64n;
const u64 = (x: number | bigint): bigint => BigInt.asUintN(64, BigInt(x));

const IF = 1 << 9, DF = 1 << 10, TF = 1 << 8, AC = 1 << 18, CF = 1, NT = 1 << 14, RF = 1 << 16;

interface T {
  d: Domain;
  v: Vcpu;
  console: string[];
  rd64(pfn: number, off: number): bigint;
  wr64(pfn: number, off: number, val: bigint | number): void;
  /** Read 64 bits at a kernel VA (PFN < 256). */
  k64(va: number): bigint;
  setReg(n: number, val: bigint | number): void;
  reg(n: number): bigint;
  rip(): bigint;
  setRip(va: number): void;
  /** Write code at a kernel/user VA and point RIP at it. */
  code(va: number, bytes: number[]): void;
  hc(num: number, ...args: Array<bigint | number>): number | typeof NO_RETURN;
  vcpuInfo(off: number): number;
  setVcpuInfo(off: number, b: number): void;
  mfn(pfn: number): number;
}

function pfnOfVa(va: number): number {
  if (va < 0) return Math.floor((va - KVA0) / 4096);
  return USER_PFN0 + Math.floor((va - UVA0) / 4096);
}

function setup(opts: { vcpus?: number } = {}): T {
  const consoleOut: string[] = [];
  const d = new Domain({
    id: 1,
    name: 'traps-test',
    nrPages: 256,
    maxPages: 256,
    vcpus: opts.vcpus ?? 1,
    consoleOut: (b) => consoleOut.push(new TextDecoder().decode(b)),
    clockNs: () => 0,
    log: () => {},
  });
  const m = d.memory;
  const dv = m.dv;
  const mfn = (pfn: number): number => m.pfnToMfn(pfn);
  const off = (pfn: number): number => m.offsetOfMfn(mfn(pfn));
  const pte = (table: number, index: number, target: number, flags: number): void => {
    const t = mfn(target);
    dv.setUint32(off(table) + index * 8, (((t % 0x100000) * 4096) | flags) >>> 0, true);
    dv.setUint32(off(table) + index * 8 + 4, Math.floor(t / 0x100000), true);
  };
  const P = 1, RW = 2, US = 4;
  // Kernel: L4 pfn 1 [511] → L3 pfn 3 [510] → L2 pfn 4 [0] → L1 pfn 5 [i] → pfn i.
  pte(1, 511, 3, P | RW);
  pte(3, 510, 4, P | RW);
  pte(4, 0, 5, P | RW);
  for (let i = 0; i < 256; i++) pte(5, i, i, P | RW);
  // User: L4 pfn 2 [0] → L3 pfn 6 [0] → L2 pfn 7 [2] → L1 pfn 8 [i] → pfn 40+i (16 pages), all user-accessible.
  pte(2, 0, 6, P | RW | US);
  pte(1, 0, 6, P | RW | US); // the kernel sees user memory too
  pte(6, 0, 7, P | RW | US);
  pte(7, 2, 8, P | RW | US);
  for (let i = 0; i < 16; i++) pte(8, i, USER_PFN0 + i, P | RW | US);
  const v = d.vcpus[0]!;
  v.mmu.setKernelRoot(mfn(1));
  v.mmu.setUserRoot(mfn(2));
  v.online = true;
  const cpu = v.cpu;
  cpu.getFlags();
  cpu.flags = IF | 2;
  cpu.sel[1] = FLAT_KERNEL_CS64;
  cpu.sel[2] = FLAT_KERNEL_SS64;
  v.kernelSs = FLAT_KERNEL_SS64;
  const viOff = m.offsetOfMfn(d.sharedInfoMfn) + SHARED_INFO.vcpu_info;
  const t: T = {
    d,
    v,
    console: consoleOut,
    rd64: (pfn, o) => dv.getBigUint64(off(pfn) + o, true),
    wr64: (pfn, o, val) => dv.setBigUint64(off(pfn) + o, u64(val), true),
    k64: (va) => {
      const pfn = pfnOfVa(va);
      const base = va < 0 ? kva(pfn) : uva(pfn - USER_PFN0);
      return dv.getBigUint64(off(pfn) + (va - base), true);
    },
    setReg: (n, val) => cpu.setReg64n(n, u64(val)),
    reg: (n) => cpu.getReg64n(n),
    rip: () => u64((BigInt(cpu.r[33]!) << 32n) | BigInt(cpu.r[32]! >>> 0)),
    setRip: (va) => {
      const x = u64(va);
      cpu.setRip(Number(x & 0xffffffffn) | 0, Number(x >> 32n) | 0);
    },
    code: (va, bytes) => {
      const pfn = pfnOfVa(va);
      const base = va < 0 ? kva(pfn) : uva(pfn - USER_PFN0);
      m.ram.set(bytes, off(pfn) + (va - base));
      cpu.flushCode();
      t.setRip(va);
    },
    hc: (num, ...args) => {
      const regs = [7, 6, 2, 10, 8, 9];
      args.forEach((a, k) => cpu.setReg64n(regs[k]!, u64(a)));
      cpu.setReg64n(0, BigInt(num));
      return dispatchHypercall(v, num);
    },
    vcpuInfo: (o) => m.ram[viOff + o]!,
    setVcpuInfo: (o, b) => {
      m.ram[viOff + o] = b;
    },
    mfn,
  };
  return t;
}

/** Run the vCPU for a small instruction budget (guest code ends in `jmp $`). */
function run(t: T, budget = 64): void {
  t.v.run(budget);
}

const RSP = 4, RCX = 1, R11 = 11, RAX = 0, RBX = 3, RDX = 2, RDI = 7;
const JMP_SELF = [0xeb, 0xfe];

// ---------------------------------------------------------------- bounce frames

describe('bounce frames (create_bounce_frame)', () => {
  it('#PF from guest-kernel mode: frame at the aligned RSP, CS RPL 0, saved mask, CR2 in vcpu_info', () => {
    const t = setup();
    const { v } = t;
    const H = kva(60, 0x100);
    v.trapTable[14] = { address: H, cs: 0xe033, flags: 0 };
    t.setReg(RSP, kva(10, 0x808)); // not 16-byte aligned
    t.setRip(kva(CODE_PFN, 0x40));
    t.setReg(RCX, 0x1111222233334444n);
    t.setReg(R11, 0x5555666677778888n);
    v.cpu.getFlags();
    v.cpu.flags = IF | 2 | CF | TF | AC | DF | NT | (3 << 12);
    v.cpu.cr2[0] = 0xdeadb000 | 0;
    v.cpu.cr2[1] = 0x7f;
    t.setVcpuInfo(VCPU_INFO.evtchn_upcall_mask, 0);
    injectException(v, 14, 0x3 | 0x4); // P|W, plus a U bit that must be cleared (guest-kernel mode)
    const top = kva(10, 0x800);
    const f = (k: number): bigint => t.k64(top - 64 + 8 * k);
    expect(f(0)).toBe(0x1111222233334444n); // RCX
    expect(f(1)).toBe(0x5555666677778888n); // R11
    expect(f(2)).toBe(3n); // error code, U clear
    expect(f(3)).toBe(u64(kva(CODE_PFN, 0x40))); // RIP
    expect(f(4)).toBe(0xe030n); // CS with RPL 0, saved mask 0
    expect(f(5)).toBe(BigInt(IF | 2 | CF | TF | AC | DF | NT)); // RFLAGS: IF from the mask, IOPL 0
    expect(f(6)).toBe(u64(kva(10, 0x808))); // interrupted RSP
    expect(f(7)).toBe(0xe02bn); // SS
    // CR2 in vcpu_info.arch.cr2 and the virtual CR2.
    const si = t.d.memory.offsetOfMfn(t.d.sharedInfoMfn) + VCPU_INFO.arch_cr2;
    expect(t.d.memory.dv.getBigUint64(si, true)).toBe(0x7fdeadb000n);
    expect(trapState(v).cr2[0]! >>> 0).toBe(0xdeadb000);
    // New context.
    expect(t.rip()).toBe(u64(H));
    expect(t.reg(RSP)).toBe(u64(top - 64));
    expect(v.cpu.sel[1]).toBe(0xe033);
    expect(v.cpu.sel[2]).toBe(0xe02b);
    const fl = v.cpu.getFlags();
    expect(fl & (TF | AC | NT | RF)).toBe(0);
    expect(fl & DF).toBe(DF); // only a syscall clears DF
    expect(fl & IF).toBe(IF);
    expect(t.reg(RCX)).toBe(u64(H)); // Xen exits through SYSRET
    expect(t.reg(R11)).toBe(BigInt(fl));
    expect(t.vcpuInfo(VCPU_INFO.evtchn_upcall_mask)).toBe(0); // flags bit 2 clear: events stay enabled
    expect(v.mmu.kernelMode).toBe(true);
  });

  it('saves a set upcall mask in CS bits 32+ and clears IF in the frame; trap flag bit 2 masks events', () => {
    const t = setup();
    const { v } = t;
    v.trapTable[13] = { address: kva(60), cs: 0xe033, flags: 4 };
    t.setReg(RSP, kva(10, 0x800));
    t.setVcpuInfo(VCPU_INFO.evtchn_upcall_mask, 1);
    t.setVcpuInfo(2, 0xaa); // padding after the mask is saved too (Xen pushes 8 bytes from the mask)
    injectException(v, 13, 0x18);
    const top = kva(10, 0x800);
    expect(t.k64(top - 64 + 16)).toBe(0x18n);
    expect(t.k64(top - 64 + 32)).toBe(0xe030n | (0xaa01n << 32n));
    expect(Number(t.k64(top - 64 + 40)) & IF).toBe(0);
    t.setVcpuInfo(2, 0);

    const t2 = setup();
    t2.v.trapTable[13] = { address: kva(60), cs: 0xe033, flags: 4 };
    t2.setReg(RSP, kva(10, 0x800));
    t2.setVcpuInfo(VCPU_INFO.evtchn_upcall_mask, 0);
    injectException(t2.v, 13, 0);
    expect(t2.vcpuInfo(VCPU_INFO.evtchn_upcall_mask)).toBe(1);
    expect(t2.k64(kva(10, 0x800) - 64 + 32)).toBe(0xe030n); // saved mask 0
  });

  it('#GP from guest-user mode: switches to kernel mode, kernel stack, swaps GS; user CS kept', () => {
    const t = setup();
    const { v } = t;
    v.trapTable[13] = { address: kva(61), cs: 0xe033, flags: 0 };
    v.kernelSp = kva(20, 0xff0);
    v.mmu.setKernelMode(false);
    v.cpu.sel[1] = 0x33;
    v.cpu.sel[2] = 0x2b;
    // Active (user) GS base and the inactive (kernel) one.
    v.cpu.segBase[10] = 0x1000;
    v.cpu.segBase[11] = 0;
    v.gsBaseInactive[0] = 0x12345000;
    v.gsBaseInactive[1] = 0xffff8880 | 0;
    t.setReg(RSP, uva(1, 0x7f8));
    t.setRip(uva(0, 0x10));
    injectException(v, 13, 0);
    expect(v.mmu.kernelMode).toBe(true);
    expect(v.cpu.segBase[10] >>> 0).toBe(0x12345000);
    expect(v.cpu.segBase[11] >>> 0).toBe(0xffff8880);
    expect(v.gsBaseInactive[0]).toBe(0x1000);
    const top = kva(20, 0xff0);
    const f = (k: number): bigint => t.k64(top - 64 + 8 * k);
    expect(f(2)).toBe(0n);
    expect(f(3)).toBe(BigInt(uva(0, 0x10)));
    expect(f(4)).toBe(0x33n); // user CS untouched: RPL 3 tells the guest it came from user mode
    expect(f(6)).toBe(BigInt(uva(1, 0x7f8)));
    expect(f(7)).toBe(0x2bn);
    expect(t.reg(RSP)).toBe(u64(top - 64));
  });

  it('#PF from guest-user mode gets the U bit whatever the error code said', () => {
    const t = setup();
    const { v } = t;
    v.trapTable[14] = { address: kva(61), cs: 0xe033, flags: 0 };
    v.kernelSp = kva(20, 0xff0);
    v.mmu.setKernelMode(false);
    v.cpu.cr2[0] = 0x400123;
    v.cpu.cr2[1] = 0;
    injectException(v, 14, 0x2);
    expect(t.k64(kva(20, 0xff0) - 64 + 16)).toBe(0x6n);
  });

  it('a real user-mode page fault goes through the loop to the trap table', () => {
    const t = setup();
    const { v } = t;
    v.trapTable[14] = { address: kva(61), cs: 0xe033, flags: 0 };
    t.code(kva(61), JMP_SELF);
    v.kernelSp = kva(20, 0xff0);
    v.mmu.setKernelMode(false);
    v.cpu.sel[1] = 0x33;
    // mov rax, [0x7ff000] (unmapped user address): 48 8b 04 25 00 f0 7f 00
    t.code(uva(0), [0x48, 0x8b, 0x04, 0x25, 0x00, 0xf0, 0x7f, 0x00, ...JMP_SELF]);
    run(t);
    expect(v.mmu.kernelMode).toBe(true);
    expect(t.rip()).toBe(u64(kva(61)));
    const top = kva(20, 0xff0);
    expect(t.k64(top - 64 + 16)).toBe(0x4n); // not present, read, user
    expect(t.k64(top - 64 + 24)).toBe(BigInt(uva(0)));
    expect(v.domain.isShutdown).toBe(false);
  });

  it('event upcall: no error code, mask set, IF from the old mask; nothing when masked', () => {
    const t = setup();
    const { v } = t;
    v.eventCallback = kva(62);
    t.setReg(RSP, kva(10, 0x800));
    t.setRip(kva(CODE_PFN));
    t.setVcpuInfo(VCPU_INFO.evtchn_upcall_pending, 1);
    t.setVcpuInfo(VCPU_INFO.evtchn_upcall_mask, 1);
    deliverPendingEvents(v);
    expect(t.rip()).toBe(u64(kva(CODE_PFN))); // masked: nothing
    t.setVcpuInfo(VCPU_INFO.evtchn_upcall_mask, 0);
    t.setReg(RCX, 7);
    t.setReg(R11, 8);
    deliverPendingEvents(v);
    expect(t.rip()).toBe(u64(kva(62)));
    const top = kva(10, 0x800);
    const f = (k: number): bigint => t.k64(top - 56 + 8 * k);
    expect(f(0)).toBe(7n);
    expect(f(1)).toBe(8n);
    expect(f(2)).toBe(u64(kva(CODE_PFN)));
    expect(f(3)).toBe(0xe030n);
    expect(Number(f(4)) & IF).toBe(IF);
    expect(f(5)).toBe(u64(kva(10, 0x800)));
    expect(f(6)).toBe(0xe02bn);
    expect(t.reg(RSP)).toBe(u64(top - 56));
    expect(t.vcpuInfo(VCPU_INFO.evtchn_upcall_mask)).toBe(1);
  });

  it('crashes the domain for a null handler, a stack in the Xen hole, or an unwritable stack', () => {
    const a = setup();
    a.setReg(RSP, kva(10, 0x800));
    injectException(a.v, 0, -1);
    expect(a.d.isShutdown).toBe(true);
    expect(a.console.join('')).toMatch(/#DE.*no handler/);

    const b = setup();
    b.v.trapTable[13] = { address: kva(60), cs: 0xe033, flags: 0 };
    b.setReg(RSP, 0xffff800000001000n);
    injectException(b.v, 13, 0);
    expect(b.d.isShutdown).toBe(true);
    expect(b.console.join('')).toMatch(/Xen hole/);

    const c = setup();
    c.v.trapTable[13] = { address: kva(60), cs: 0xe033, flags: 0 };
    c.setReg(RSP, 0x7ff000); // unmapped
    injectException(c.v, 13, 0);
    expect(c.d.isShutdown).toBe(true);
    expect(c.console.join('')).toMatch(/fault writing the bounce frame/);
  });

  it('the Xen-hole check matches Xen bounds exactly', () => {
    // RSP == HYPERVISOR_VIRT_START is allowed by the check (the write below it then faults).
    const a = setup();
    a.v.trapTable[13] = { address: kva(60), cs: 0xe033, flags: 0 };
    a.setReg(RSP, 0xffff880000000040n); // == HYPERVISOR_VIRT_END + 64: outside the hole
    injectException(a.v, 13, 0);
    expect(a.console.join('')).not.toMatch(/Xen hole/);
    const b = setup();
    b.v.trapTable[13] = { address: kva(60), cs: 0xe033, flags: 0 };
    b.setReg(RSP, 0xffff880000000030n);
    injectException(b.v, 13, 0);
    expect(b.console.join('')).toMatch(/Xen hole/);
  });
});

// ---------------------------------------------------------------- guest system calls

describe('guest-user syscall', () => {
  function userSetup(): T {
    const t = setup();
    const { v } = t;
    v.kernelSp = kva(20, 0xff0);
    v.mmu.setKernelMode(false);
    v.cpu.sel[1] = 0x33;
    v.cpu.sel[2] = 0x2b;
    t.setReg(RSP, uva(1, 0x800));
    return t;
  }

  it('bounces to the syscall callback with the SYSCALL frame, events masked, DF cleared', () => {
    const t = userSetup();
    const { v } = t;
    v.syscallCallback = kva(63);
    v.vgcFlags |= VGCF_SYSCALL_DISABLES_EVENTS;
    t.code(kva(63), JMP_SELF);
    t.setVcpuInfo(VCPU_INFO.evtchn_upcall_mask, 0);
    t.code(uva(0), [0x0f, 0x05, ...JMP_SELF]); // syscall
    t.setReg(RCX, 0xaaaa);
    t.setReg(R11, 0xbbbb);
    t.setReg(RAX, 60);
    v.cpu.getFlags();
    v.cpu.flags = IF | 2 | DF | CF;
    run(t, 1);
    expect(v.mmu.kernelMode).toBe(true);
    expect(t.rip()).toBe(u64(kva(63)));
    const top = kva(20, 0xff0);
    const f = (k: number): bigint => t.k64(top - 56 + 8 * k);
    expect(f(0)).toBe(BigInt(uva(0, 2))); // RCX slot = return RIP, as SYSCALL sets it
    expect(f(1)).toBe(BigInt(IF | 2 | DF | CF)); // R11 slot = user RFLAGS
    expect(f(2)).toBe(BigInt(uva(0, 2))); // RIP
    expect(f(3)).toBe(BigInt(FLAT_KERNEL_CS64)); // Xen's guess; Linux rewrites it
    expect(f(4)).toBe(BigInt(IF | 2 | DF | CF)); // RFLAGS (IF: mask was 0)
    expect(f(5)).toBe(BigInt(uva(1, 0x800)));
    expect(f(6)).toBe(BigInt(FLAT_KERNEL_SS64));
    expect(v.cpu.getFlags() & DF).toBe(0);
    expect(t.vcpuInfo(VCPU_INFO.evtchn_upcall_mask)).toBe(1);
    expect(t.reg(RAX)).toBe(60n);
  });

  it('round trip: user syscall → kernel handler (Linux-style) → HYPERVISOR_iret back to user', () => {
    const t = userSetup();
    const { v } = t;
    v.syscallCallback = kva(63);
    v.vgcFlags |= VGCF_SYSCALL_DISABLES_EVENTS;
    v.cpu.segBase[10] = 0x4000; // user GS (active in user mode)
    v.gsBaseInactive[0] = 0x9000; // kernel GS
    t.setVcpuInfo(VCPU_INFO.evtchn_upcall_mask, 0);
    // Kernel entry, as xen_entry_SYSCALL_64 + xen_iret: pop rcx; pop r11; mov eax, 0x77 (the result);
    // push $0 (flags); push rcx; push r11; push rax; mov eax, 23; syscall.
    t.code(kva(63), [0x59, 0x41, 0x5b, 0xb8, 0x77, 0, 0, 0, 0x6a, 0x00, 0x51, 0x41, 0x53, 0x50, 0xb8, 23, 0, 0, 0, 0x0f, 0x05]);
    t.code(uva(0), [0x0f, 0x05, ...JMP_SELF]);
    t.setReg(RAX, 39);
    t.setReg(RCX, 0x1234);
    v.cpu.getFlags();
    v.cpu.flags = IF | 2 | CF;
    run(t, 1 + 9);
    expect(v.mmu.kernelMode).toBe(false);
    expect(t.rip()).toBe(BigInt(uva(0, 2)));
    expect(t.reg(RAX)).toBe(0x77n);
    expect(t.reg(RCX)).toBe(BigInt(uva(0, 2))); // what SYSCALL left in RCX, restored from the frame
    expect(t.reg(R11)).toBe(BigInt(IF | 2 | CF));
    expect(t.reg(RSP)).toBe(BigInt(uva(1, 0x800)));
    expect(v.cpu.sel[1]).toBe(FLAT_KERNEL_CS64 | 3); // Xen's guessed CS came back (Linux writes __USER_CS there)
    expect(v.cpu.segBase[10]).toBe(0x4000);
    expect(v.gsBaseInactive[0]).toBe(0x9000);
    expect(t.vcpuInfo(VCPU_INFO.evtchn_upcall_mask)).toBe(0); // IF was set in the frame's RFLAGS
    expect(v.domain.isShutdown).toBe(false);
  });

  it('without VGCF_syscall_disables_events the mask stays clear', () => {
    const t = userSetup();
    t.v.syscallCallback = kva(63);
    t.setVcpuInfo(VCPU_INFO.evtchn_upcall_mask, 0);
    t.setRip(uva(0, 2));
    guestSyscall(t.v);
    expect(t.vcpuInfo(VCPU_INFO.evtchn_upcall_mask)).toBe(0);
  });

  it('no syscall callback: #UD at the syscall instruction, DF kept', () => {
    const t = userSetup();
    const { v } = t;
    v.trapTable[6] = { address: kva(64), cs: 0xe033, flags: 0 };
    v.cpu.getFlags();
    v.cpu.flags = IF | 2 | DF;
    t.setRip(uva(0, 0x12));
    guestSyscall(v);
    expect(t.rip()).toBe(u64(kva(64)));
    const top = kva(20, 0xff0);
    expect(t.k64(top - 56 + 16)).toBe(BigInt(uva(0, 0x10))); // RIP of the syscall itself
    expect(v.cpu.getFlags() & DF).toBe(DF);
  });
});

// ---------------------------------------------------------------- HYPERVISOR_iret

describe('HYPERVISOR_iret', () => {
  function frame(t: T, at: number, f: Partial<Record<keyof typeof IRET_CONTEXT, bigint | number>>): void {
    for (const [k, val] of Object.entries(f)) {
      const o = IRET_CONTEXT[k as keyof typeof IRET_CONTEXT];
      t.wr64(pfnOfVa(at), (at - kva(pfnOfVa(at))) + o, val);
    }
  }

  it('back to guest-user mode through the syscall path: registers, GS, mask', () => {
    const t = setup();
    const { v } = t;
    const sp = kva(20, 0xf00);
    frame(t, sp, {
      rax: 0x42, r11: 0x246, rcx: 0x1234567, flags: 0, rip: uva(0, 0x20), cs: 0x33, rflags: IF | 2 | CF | (3 << 12), rsp: uva(1, 0x900), ss: 0x2b,
    });
    v.cpu.segBase[10] = 0x5000; // kernel GS (active)
    v.gsBaseInactive[0] = 0x6000; // user GS
    t.setVcpuInfo(VCPU_INFO.evtchn_upcall_mask, 1);
    t.code(kva(CODE_PFN), [0xb8, 23, 0, 0, 0, 0x0f, 0x05]); // mov eax, 23; syscall
    t.code(uva(0, 0x20), JMP_SELF);
    t.setRip(kva(CODE_PFN));
    t.setReg(RSP, sp);
    run(t, 2);
    expect(v.mmu.kernelMode).toBe(false);
    expect(t.rip()).toBe(BigInt(uva(0, 0x20)));
    expect(t.reg(RAX)).toBe(0x42n);
    expect(t.reg(RCX)).toBe(0x1234567n);
    expect(t.reg(R11)).toBe(0x246n);
    expect(t.reg(RSP)).toBe(BigInt(uva(1, 0x900)));
    expect(v.cpu.sel[1]).toBe(0x33);
    expect(v.cpu.sel[2]).toBe(0x2b);
    expect(v.cpu.getFlags()).toBe(IF | 2 | CF); // IOPL cleared
    expect(v.cpu.segBase[10]).toBe(0x6000);
    expect(v.gsBaseInactive[0]).toBe(0x5000);
    expect(t.vcpuInfo(VCPU_INFO.evtchn_upcall_mask)).toBe(0);
  });

  it('back to guest-kernel mode: CS gets RPL 3, IF clear → events masked, pending event delivered after', () => {
    const t = setup();
    const { v } = t;
    const sp = kva(20, 0xf00);
    frame(t, sp, { rax: 1, r11: 2, rcx: 3, flags: 0, rip: kva(CODE_PFN, 0x80), cs: 0xe030, rflags: 2, rsp: kva(10, 0x800), ss: 0xe02b });
    t.setReg(RSP, sp);
    expect(t.hc(HYPERVISOR.iret)).toBe(NO_RETURN);
    expect(v.mmu.kernelMode).toBe(true);
    expect(v.cpu.sel[1]).toBe(0xe033);
    expect(t.rip()).toBe(u64(kva(CODE_PFN, 0x80)));
    expect(v.cpu.getFlags() & IF).toBe(IF); // the real IF stays on
    expect(t.vcpuInfo(VCPU_INFO.evtchn_upcall_mask)).toBe(1);
    expect([t.reg(RAX), t.reg(R11), t.reg(RCX)]).toEqual([1n, 2n, 3n]);

    // Now with IF set and an event pending: the next return to the guest bounces to the callback.
    const t2 = setup();
    t2.v.eventCallback = kva(62);
    t2.code(kva(62), JMP_SELF);
    frame(t2, sp, { rip: kva(CODE_PFN, 0x80), cs: 0xe030, rflags: IF | 2, rsp: kva(10, 0x800), ss: 0xe02b });
    t2.setVcpuInfo(VCPU_INFO.evtchn_upcall_pending, 1);
    t2.setVcpuInfo(VCPU_INFO.evtchn_upcall_mask, 1);
    t2.code(kva(CODE_PFN), [0xb8, 23, 0, 0, 0, 0x0f, 0x05]);
    t2.setReg(RSP, sp);
    run(t2, 3); // mov, syscall (iret), then the upcall at the next return to the guest
    expect(t2.rip()).toBe(u64(kva(62)));
    expect(t2.k64(kva(10, 0x800) - 56 + 16)).toBe(u64(kva(CODE_PFN, 0x80))); // the frame's RIP: the iret target
  });

  it('VGCF_in_syscall: RCX/R11 become RIP/RFLAGS (SYSRET) instead of the frame values', () => {
    const t = setup();
    const sp = kva(20, 0xf00);
    frame(t, sp, { rax: 0, r11: 0x99, rcx: 0x98, flags: VGCF_IN_SYSCALL, rip: kva(CODE_PFN, 0x80), cs: 0xe030, rflags: IF | 2 | RF | CF, rsp: kva(10, 0x800), ss: 0xe02b });
    t.setReg(RSP, sp);
    t.hc(HYPERVISOR.iret);
    expect(t.reg(RCX)).toBe(u64(kva(CODE_PFN, 0x80)));
    expect(t.reg(R11)).toBe(BigInt(IF | 2 | RF | CF));
    expect(t.v.cpu.getFlags()).toBe(IF | 2 | CF); // SYSRET drops RF
  });

  it('crashes on an unreadable frame or a user return without user page tables', () => {
    const a = setup();
    a.setReg(RSP, 0x7ff000);
    a.hc(HYPERVISOR.iret);
    expect(a.d.isShutdown).toBe(true);
    expect(a.console.join('')).toMatch(/iret context/);
    const b = setup();
    b.v.mmu.setUserRoot(0);
    frame(b, kva(20, 0xf00), { cs: 0x33, rip: uva(0), rflags: IF });
    b.setReg(RSP, kva(20, 0xf00));
    b.hc(HYPERVISOR.iret);
    expect(b.d.isShutdown).toBe(true);
    expect(b.console.join('')).toMatch(/no user page tables/);
  });

  it('a non-canonical RIP raises #GP(0) in the guest, as Xen reflects a faulting IRETQ', () => {
    const t = setup();
    t.v.trapTable[13] = { address: kva(60), cs: 0xe033, flags: 0 };
    frame(t, kva(20, 0xf00), { cs: 0xe030, rip: 0x0000800000000000n, rflags: IF, rsp: kva(10, 0x800), ss: 0xe02b });
    t.setReg(RSP, kva(20, 0xf00));
    t.hc(HYPERVISOR.iret);
    expect(t.rip()).toBe(u64(kva(60)));
    expect(t.k64(kva(10, 0x800) - 64 + 24)).toBe(0x0000800000000000n);
  });
});

// ---------------------------------------------------------------- int n

describe('software interrupts', () => {
  function userAt(t: T): void {
    t.v.kernelSp = kva(20, 0xff0);
    t.v.mmu.setKernelMode(false);
    t.v.cpu.sel[1] = 0x33;
    t.setReg(RSP, uva(1, 0x800));
  }

  it('int $0x80 with DPL 3 from user mode is delivered with RIP after the instruction', () => {
    const t = setup();
    t.v.trapTable[0x80] = { address: kva(65), cs: 0xe033, flags: 3 | 4 };
    t.code(kva(65), JMP_SELF);
    userAt(t);
    t.setVcpuInfo(VCPU_INFO.evtchn_upcall_mask, 0);
    t.code(uva(0), [0xcd, 0x80, ...JMP_SELF]);
    run(t, 1);
    expect(t.rip()).toBe(u64(kva(65)));
    const top = kva(20, 0xff0);
    expect(t.k64(top - 56 + 16)).toBe(BigInt(uva(0, 2))); // no error code; RIP after int
    expect(t.vcpuInfo(VCPU_INFO.evtchn_upcall_mask)).toBe(1); // interrupt gate
  });

  it('int n with too low a DPL: #GP((n << 3) | 2) at the int instruction', () => {
    const t = setup();
    t.v.trapTable[0x81] = { address: kva(65), cs: 0xe033, flags: 1 }; // kernel-only
    t.v.trapTable[13] = { address: kva(66), cs: 0xe033, flags: 0 };
    t.code(kva(66), JMP_SELF);
    userAt(t);
    t.code(uva(0, 0x10), [0xcd, 0x81, ...JMP_SELF]);
    run(t, 1);
    expect(t.rip()).toBe(u64(kva(66)));
    const top = kva(20, 0xff0);
    expect(t.k64(top - 64 + 16)).toBe(BigInt((0x81 << 3) | 2));
    expect(t.k64(top - 64 + 24)).toBe(BigInt(uva(0, 0x10)));
  });

  it('guest-kernel mode needs DPL ≥ 1; int3 always reaches vector 3 as a trap', () => {
    const t = setup();
    t.v.trapTable[0x81] = { address: kva(65), cs: 0xe033, flags: 1 };
    t.v.trapTable[0x82] = { address: kva(65), cs: 0xe033, flags: 0 };
    t.v.trapTable[13] = { address: kva(66), cs: 0xe033, flags: 0 };
    t.v.trapTable[3] = { address: kva(67), cs: 0xe033, flags: 0 }; // DPL 0, yet int3 works (Xen's IDT has DPL 3)
    t.setReg(RSP, kva(10, 0x800));
    t.setRip(kva(CODE_PFN, 2));
    softwareInterrupt(t.v, 0x81);
    expect(t.rip()).toBe(u64(kva(65)));
    t.setReg(RSP, kva(10, 0x800));
    t.setRip(kva(CODE_PFN, 2));
    softwareInterrupt(t.v, 0x82);
    expect(t.rip()).toBe(u64(kva(66)));
    expect(t.k64(kva(10, 0x800) - 64 + 16)).toBe(BigInt((0x82 << 3) | 2));

    const u = setup();
    u.v.trapTable[3] = { address: kva(67), cs: 0xe033, flags: 0 };
    u.code(kva(67), JMP_SELF);
    userAt(u);
    u.code(uva(0, 0x30), [0xcc, ...JMP_SELF]);
    run(u, 1);
    expect(u.rip()).toBe(u64(kva(67)));
    expect(u.k64(kva(20, 0xff0) - 56 + 16)).toBe(BigInt(uva(0, 0x31)));
  });
});

// ---------------------------------------------------------------- privileged instructions

describe('privileged-instruction emulation', () => {
  /** Execute one guest instruction (ending in jmp $) in guest-kernel mode; returns the RIP advance. */
  function exec(t: T, bytes: number[], at = kva(CODE_PFN, 0x100)): bigint {
    t.code(at, [...bytes, ...JMP_SELF]);
    t.setReg(RSP, kva(10, 0x800));
    run(t, 1);
    return t.rip() - u64(at);
  }

  it('wrmsr GS_BASE / FS_BASE / SHADOW_GS_BASE and rdmsr of them (RIP += 2)', () => {
    const t = setup();
    const { v } = t;
    t.setReg(RCX, 0xc0000101);
    t.setReg(RAX, 0x89abcdef);
    t.setReg(RDX, 0xffffffff);
    expect(exec(t, [0x0f, 0x30])).toBe(2n);
    expect(v.cpu.segBase[10] >>> 0).toBe(0x89abcdef);
    expect(v.cpu.segBase[11]).toBe(-1);
    t.setReg(RCX, 0xc0000102);
    t.setReg(RAX, 0x7000);
    t.setReg(RDX, 0);
    exec(t, [0x0f, 0x30]);
    expect(v.gsBaseInactive[0]).toBe(0x7000);
    t.setReg(RCX, 0xc0000100);
    t.setReg(RAX, 0x8000);
    exec(t, [0x0f, 0x30]);
    expect(v.cpu.segBase[8]).toBe(0x8000);
    t.setReg(RCX, 0xc0000101);
    t.setReg(RAX, 0);
    t.setReg(RDX, 0);
    expect(exec(t, [0x0f, 0x32])).toBe(2n);
    expect(t.reg(RAX)).toBe(0x89abcdefn);
    expect(t.reg(RDX)).toBe(0xffffffffn);
    // A non-canonical base is refused with #GP.
    v.trapTable[13] = { address: kva(66), cs: 0xe033, flags: 0 };
    t.code(kva(66), JMP_SELF);
    t.setReg(RCX, 0xc0000100);
    t.setReg(RDX, 0x00010000);
    exec(t, [0x0f, 0x30]);
    expect(t.rip()).toBe(u64(kva(66)));
  });

  it('rdmsr EFER, PAT, APIC_BASE, MISC_ENABLE; unknown MSRs: #GP, or 0 before a #GP handler exists', () => {
    const t = setup();
    const rd = (msr: number): bigint => {
      t.setReg(RCX, msr);
      exec(t, [0x0f, 0x32]);
      return (t.reg(RDX) << 32n) | t.reg(RAX);
    };
    expect(rd(0xc0000080)).toBe(0xd01n);
    expect(rd(0x277)).toBe(0x0000050100070406n);
    expect(rd(0x1b)).toBe(0xfee00900n);
    expect(rd(0x1a0) & 1n).toBe(1n);
    expect(rd(0x345)).toBe(0n);
    expect(rd(0x12345)).toBe(0n); // faked: no #GP handler yet
    expect(t.d.isShutdown).toBe(false);
    t.v.trapTable[13] = { address: kva(66), cs: 0xe033, flags: 0 };
    t.code(kva(66), JMP_SELF);
    t.setReg(RCX, 0x12345);
    exec(t, [0x0f, 0x32]);
    expect(t.rip()).toBe(u64(kva(66)));
    // wrmsr EFER: only the current value.
    const t2 = setup();
    t2.setReg(RCX, 0xc0000080);
    t2.setReg(RAX, 0xd01);
    t2.setReg(RDX, 0);
    expect(exec(t2, [0x0f, 0x30])).toBe(2n);
  });

  it('mov from/to CR0, CR2, CR3, CR4 (3 bytes; 4 with REX)', () => {
    const t = setup();
    const { v } = t;
    expect(exec(t, [0x0f, 0x20, 0xc0])).toBe(3n); // mov rax, cr0
    expect(t.reg(RAX)).toBe(0x80050033n);
    t.hc(HYPERVISOR.fpu_taskswitch, 1);
    exec(t, [0x0f, 0x20, 0xc0]);
    expect(t.reg(RAX)).toBe(0x8005003bn);
    t.setReg(RAX, 0x80050033); // mov cr0, rax: clear TS
    expect(exec(t, [0x0f, 0x22, 0xc0])).toBe(3n);
    expect(v.cpu.cr0 & 8).toBe(0);
    // mov r8, cr2 = 49 0f 20 d0 (REX.B selects r8)
    const t2 = setup();
    trapState(t2.v).cr2[0] = 0x1234000;
    expect(exec(t2, [0x49, 0x0f, 0x20, 0xd0])).toBe(4n);
    expect(t2.reg(8)).toBe(0x1234000n);
    expect(exec(t2, [0x0f, 0x20, 0xd8])).toBe(3n); // mov rax, cr3
    expect(t2.reg(RAX)).toBe(1n << 12n); // kernel L4 is PFN 1
    expect(exec(t2, [0x0f, 0x20, 0xe0])).toBe(3n); // mov rax, cr4
    expect(t2.reg(RAX)).toBe(0x660n);
    t2.setReg(RAX, 0x6f8 | X86_CR4_TSD | 0x80);
    exec(t2, [0x0f, 0x22, 0xe0]); // mov cr4, rax: PGE/PSE dropped, TSD kept
    expect(trapState(t2.v).cr4).toBe(0x660 | X86_CR4_TSD);
    expect(t2.v.cpu.cr4 & X86_CR4_TSD).toBe(X86_CR4_TSD);
    // With CR4.TSD, rdtsc faults at CPL 3 and is emulated in guest-kernel mode.
    expect(exec(t2, [0x0f, 0x31])).toBe(2n);
    // mov cr0 changing anything but TS → #GP.
    t2.v.trapTable[13] = { address: kva(66), cs: 0xe033, flags: 0 };
    t2.code(kva(66), JMP_SELF);
    t2.setReg(RAX, 0x80000033);
    exec(t2, [0x0f, 0x22, 0xc0]);
    expect(t2.rip()).toBe(u64(kva(66)));
  });

  it('port I/O: reads all ones, IOPL and I/O bitmap rules, the 0xcf8 latch, rep insb', () => {
    const t = setup();
    const { v } = t;
    v.trapTable[13] = { address: kva(66), cs: 0xe033, flags: 0 };
    t.code(kva(66), JMP_SELF);
    v.iopl = 1; // PHYSDEVOP_set_iopl(1), as Linux does
    t.setReg(RAX, 0);
    expect(exec(t, [0xe4, 0x60])).toBe(2n); // in al, 0x60
    expect(t.reg(RAX)).toBe(0xffn);
    t.setReg(RDX, 0xcfc);
    expect(exec(t, [0xed])).toBe(1n); // in eax, dx
    expect(t.reg(RAX)).toBe(0xffffffffn);
    t.setReg(RDX, 0xcf8);
    t.setReg(RAX, 0x80001234);
    expect(exec(t, [0xef])).toBe(1n); // out dx, eax
    t.setReg(RAX, 0);
    exec(t, [0xed]);
    expect(t.reg(RAX)).toBe(0x80001234n);
    t.setReg(RAX, 0x1122);
    expect(exec(t, [0x66, 0xe5, 0x40])).toBe(3n); // in ax, 0x40
    expect(t.reg(RAX)).toBe(0xffffn);
    // rep insb into a kernel buffer.
    t.setReg(RDI, kva(70));
    t.setReg(RCX, 3);
    t.setReg(RDX, 0x60);
    t.wr64(70, 0, 0);
    expect(exec(t, [0xf3, 0x6c])).toBe(2n);
    expect(t.rd64(70, 0)).toBe(0xffffffn);
    expect(t.reg(RCX)).toBe(0n);
    expect(t.reg(RDI)).toBe(u64(kva(70, 3)));
    // Virtual IOPL 0 in guest-kernel mode: #GP.
    v.iopl = 0;
    exec(t, [0xe4, 0x60]);
    expect(t.rip()).toBe(u64(kva(66)));
    // An I/O bitmap allowing port 0x60 only (bit clear = allowed).
    const bm = kva(71);
    for (let k = 0; k < 16; k++) t.wr64(71, 8 * k, -1n);
    t.wr64(71, 8, 0xfffffffffffffffen); // port 64 (byte 8, bit 0) allowed
    // PHYSDEVOP_set_iobitmap {bitmap, nr_ports = 128}
    t.wr64(72, 0, bm);
    t.wr64(72, 8, 128);
    expect(t.hc(HYPERVISOR.physdev_op, 7, kva(72))).toBe(0);
    t.setReg(RAX, 0);
    expect(exec(t, [0xe4, 0x40])).toBe(2n);
    expect(t.reg(RAX)).toBe(0xffn);
    exec(t, [0xe4, 0x41]);
    expect(t.rip()).toBe(u64(kva(66)));
  });

  it('user mode: in/out need IOPL 3; rdmsr and mov cr are #GP', () => {
    const t = setup();
    const { v } = t;
    v.trapTable[13] = { address: kva(66), cs: 0xe033, flags: 0 };
    t.code(kva(66), JMP_SELF);
    v.kernelSp = kva(20, 0xff0);
    v.iopl = 1;
    v.mmu.setKernelMode(false);
    t.code(uva(0), [0xe4, 0x60, ...JMP_SELF]);
    t.setReg(RSP, uva(1, 0x800));
    run(t, 1);
    expect(t.rip()).toBe(u64(kva(66)));
    const u = setup();
    u.v.trapTable[13] = { address: kva(66), cs: 0xe033, flags: 0 };
    u.code(kva(66), JMP_SELF);
    u.v.kernelSp = kva(20, 0xff0);
    u.v.iopl = 3;
    u.v.mmu.setKernelMode(false);
    u.code(uva(0), [0xe4, 0x60, ...JMP_SELF]);
    run(u, 1);
    expect(u.rip()).toBe(BigInt(uva(0, 2)));
    u.code(uva(0), [0x0f, 0x32, ...JMP_SELF]);
    run(u, 1);
    expect(u.rip()).toBe(u64(kva(66)));
  });

  it('wbinvd and clts are emulated in guest-kernel mode; cli/sti need the virtual IOPL', () => {
    const t = setup();
    expect(exec(t, [0x0f, 0x09])).toBe(2n);
    t.v.cpu.cr0 |= 8;
    expect(exec(t, [0x0f, 0x06])).toBe(2n);
    expect(t.v.cpu.cr0 & 8).toBe(0);
    t.v.iopl = 1;
    expect(exec(t, [0xfa])).toBe(1n);
    t.v.iopl = 0;
    t.v.trapTable[13] = { address: kva(66), cs: 0xe033, flags: 0 };
    t.code(kva(66), JMP_SELF);
    exec(t, [0xfb]);
    expect(t.rip()).toBe(u64(kva(66)));
  });

  it('CPUID.7 advertises ARCH_CAPS and MSR_ARCH_CAPS reads every "not affected" bit Xen offers guests (cpufeatureset.h)', () => {
    // Xen's own list: word 16 (MSR_ARCH_CAPS) features marked A (offered to all guests) whose name ends in _NO.
    const header = readFileSync('/usr/include/xen/arch-x86/cpufeatureset.h', 'utf8');
    let want = 0n;
    const names: string[] = [];
    for (const m of header.matchAll(/XEN_CPUFEATURE\((\w+_NO),\s*16\*32\+\s*(\d+)\)\s*\/\*!?A/g)) {
      want |= 1n << BigInt(m[2]!);
      names.push(m[1]!);
    }
    expect(names).toContain('ITS_NO');
    expect(names).toContain('MDS_NO');
    const archCapsBit = /XEN_CPUFEATURE\(ARCH_CAPS,\s*9\*32\+\s*(\d+)\)/.exec(header);
    const o = new Int32Array(4);
    pvCpuid(7, 0, o, 1);
    expect(o[3]! >>> 0).toBe(2 ** Number(archCapsBit![1]));
    const t = setup();
    t.setReg(RCX, 0x10a);
    exec(t, [0x0f, 0x32]);
    expect((t.reg(RDX) << 32n) | t.reg(RAX)).toBe(want);
  });

  it('forced-emulation CPUID (ud2; "xen"; cpuid) in both modes, RIP += 7; plain ud2 is #UD', () => {
    const t = setup();
    t.setReg(RAX, 0x40000000);
    t.setReg(RCX, 0);
    expect(exec(t, [0x0f, 0x0b, 0x78, 0x65, 0x6e, 0x0f, 0xa2])).toBe(7n);
    expect(t.reg(RAX)).toBe(0x40000005n);
    expect(t.reg(RBX)).toBe(BigInt(XEN_CPUID_SIGNATURE_EBX));
    expect(t.reg(RCX)).toBe(BigInt(XEN_CPUID_SIGNATURE_ECX));
    expect(t.reg(RDX)).toBe(BigInt(XEN_CPUID_SIGNATURE_EDX));
    // The same values from a plain cpuid.
    t.setReg(RAX, 0x40000000);
    exec(t, [0x0f, 0xa2]);
    expect(t.reg(RBX)).toBe(BigInt(XEN_CPUID_SIGNATURE_EBX));
    // User mode.
    const u = setup();
    u.v.mmu.setKernelMode(false);
    u.setReg(RAX, 0);
    u.code(uva(0), [0x0f, 0x0b, 0x78, 0x65, 0x6e, 0x0f, 0xa2, ...JMP_SELF]);
    run(u, 1);
    expect(u.rip()).toBe(BigInt(uva(0, 7)));
    expect(u.reg(RBX)).toBe(0x756e6547n);
    // ud2 alone.
    const w = setup();
    w.v.trapTable[6] = { address: kva(64), cs: 0xe033, flags: 0 };
    w.code(kva(64), JMP_SELF);
    exec(w, [0x0f, 0x0b, 0x90, 0x90, 0x90, 0x90, 0x90]);
    expect(w.rip()).toBe(u64(kva(64)));
  });

  it('keeps the original #GP record when not emulating', () => {
    const t = setup();
    t.v.cpu.excVector = 13;
    t.v.cpu.excCode = 0;
    t.v.cpu.excHasCode = true;
    t.code(kva(CODE_PFN), [0xf4]); // hlt
    expect(emulatePrivilegedOp(t.v)).toBe(false);
    expect(t.v.cpu.excVector).toBe(13);
    t.code(kva(CODE_PFN), [0x90]);
    expect(emulateInvalidOpcode(t.v)).toBe(false);
  });
});

// ---------------------------------------------------------------- CPUID policy

describe('CPUID policy', () => {
  const q = (leaf: number, sub = 0, vcpus = 1): number[] => {
    const o = new Int32Array(4);
    pvCpuid(leaf, sub, o, vcpus);
    return [...o].map((x) => x >>> 0);
  };

  it('presents Xen 4.17 hypervisor leaves', () => {
    expect(q(0x40000000)).toEqual([0x40000005, XEN_CPUID_SIGNATURE_EBX, XEN_CPUID_SIGNATURE_ECX, XEN_CPUID_SIGNATURE_EDX]);
    expect(q(0x40000001)[0]).toBe((4 << 16) | 17);
    expect(q(0x40000002)).toEqual([1, 0x40000000, XEN_CPUID_FEAT1_MMU_PT_UPDATE_PRESERVE_AD, 0]);
    expect(q(0x40000005)[1]).toBe(40);
    expect(q(0x40000006)).toEqual([0, 0, 0, 0]);
    expect(q(0x40000100)).toEqual([0, 0, 0, 0]);
  });

  it('is a GenuineIntel family 6 CPU with the features the CPU implements, and a brand string', () => {
    expect(q(0).slice(1)).toEqual([0x756e6547, 0x6c65746e, 0x49656e69]);
    const l1 = q(1, 0, 4);
    expect((l1[0]! >> 8) & 0xf).toBe(6);
    expect((l1[1]! >> 8) & 0xff).toBe(8);
    expect((l1[1]! >> 16) & 0xff).toBe(4);
    expect(l1[1]! >>> 24).toBe(0);
    expect(l1[2]! >>> 31).toBe(1); // hypervisor
    for (const bit of [0, 9, 12, 19, 20, 21, 26, 27, 28, 30]) expect((l1[2]! >> bit) & 1).toBe(0); // SSE3, SSSE3, FMA? no, SSE4.x, x2APIC, XSAVE, OSXSAVE, AVX, RDRAND
    for (const bit of [1, 3, 9, 11, 12, 13, 17]) expect((l1[3]! >> bit) & 1).toBe(0); // VME, PSE, APIC, SEP, MTRR, PGE, PSE36
    expect(q(7)).toEqual([0, 0, 0, 1 << 29]); // only ARCH_CAPS (see the MSR_ARCH_CAPS test)
    expect(q(0xb)).toEqual([0, 0, 0, 0]);
    expect(q(0x80000000)[0]).toBe(0x80000008);
    expect(q(0x80000008)[0]).toBe(0x3028);
    const brand = [2, 3, 4].flatMap((k) => q(0x80000000 + k));
    const s = Buffer.from(new Uint32Array(brand).buffer).toString('latin1').replace(/\0+$/, '');
    expect(s).toBe('xenjs virtual CPU');
    expect(q(4, 0, 4)[0]! >>> 26).toBe(3);
    // Leaf 0x16: the 1 GHz TSC of time.ts, so Linux skips PIT calibration; 0x15 (crystal ratio) absent.
    expect(q(0)[0]).toBe(0x16);
    expect(q(0x16)).toEqual([1000, 1000, 100, 0]);
    expect(q(0x15)).toEqual([0, 0, 0, 0]);
    expect(q(0x17)).toEqual([0, 0, 0, 0]);
    expect(q(4, 4)).toEqual([0, 0, 0, 0]);
  });

  it('advertised instructions decode on our CPU; hidden SSE3/SSSE3 ones do not', () => {
    const t = setup();
    const ok = (bytes: number[]): boolean => {
      t.code(kva(CODE_PFN), [...bytes, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90]);
      return decodeAt(t.v.cpu, t.v.cpu.r[32]!, t.v.cpu.r[33]!).name !== '(bad)';
    };
    expect(ok([0xf3, 0x0f, 0xb8, 0xc1])).toBe(true); // popcnt eax, ecx
    expect(ok([0xf3, 0x0f, 0xbd, 0xc1])).toBe(true); // lzcnt eax, ecx
    expect(ok([0x0f, 0x38, 0xf0, 0x01])).toBe(true); // movbe eax, [rcx]
    expect(ok([0x48, 0x0f, 0xc7, 0x09])).toBe(true); // cmpxchg16b [rcx]
    expect(ok([0x0f, 0x01, 0xf9])).toBe(true); // rdtscp
    expect(ok([0x0f, 0x0d, 0x09])).toBe(true); // prefetchw [rcx]
    expect(ok([0xf2, 0x0f, 0x7c, 0xc1])).toBe(false); // haddps (SSE3): hidden
    expect(ok([0x66, 0x0f, 0x38, 0x00, 0xc1])).toBe(false); // pshufb (SSSE3): hidden
  });
});

// ---------------------------------------------------------------- hypercalls

describe('descriptor and callback hypercalls', () => {
  it('set_trap_table: entries until address 0, RPL fix-up, NULL clears, faults and bad addresses', () => {
    const t = setup();
    const { v } = t;
    const tbl = kva(80);
    const entry = (k: number, vec: number, flags: number, cs: number, addr: bigint | number): void => {
      t.wr64(80, k * TRAP_INFO.size, BigInt(vec) | (BigInt(flags) << 8n) | (BigInt(cs) << 16n));
      t.wr64(80, k * TRAP_INFO.size + TRAP_INFO.address, addr);
    };
    entry(0, 14, 0, 0xe030, kva(90));
    entry(1, 0x80, 3 | 4, 0x10, kva(91));
    entry(2, 0, 0, 0, 0);
    entry(3, 6, 0, 0xe033, kva(92)); // after the terminator: ignored
    expect(t.hc(HYPERVISOR.set_trap_table, tbl)).toBe(0);
    expect(v.trapTable[14]).toEqual({ address: kva(90), cs: 0xe033, flags: 0 });
    expect(v.trapTable[0x80]).toEqual({ address: kva(91), cs: 0x13, flags: 7 });
    expect(v.trapTable[6]!.address).toBe(0);
    expect(t.hc(HYPERVISOR.set_trap_table, 0)).toBe(0);
    expect(v.trapTable[14]!.address).toBe(0);
    // A pointer that faults.
    expect(t.hc(HYPERVISOR.set_trap_table, 0x7ff000)).toBe(-14);
    // A table running off a mapped page: the entries before the fault stay.
    entry(255, 7, 0, 0xe033, kva(93));
    expect(t.hc(HYPERVISOR.set_trap_table, kva(80, 255 * 16))).toBe(0); // next page (pfn 81) is zero: terminator
    // A non-canonical handler.
    entry(0, 14, 0, 0xe033, 0x0000900000000000n);
    expect(t.hc(HYPERVISOR.set_trap_table, tbl)).toBe(-22);
  });

  it('callback_op: register/unregister, mask flag, bad address, unknown type, faulting argument', () => {
    const t = setup();
    const { v } = t;
    const arg = kva(82);
    const reg = (type: number, flags: number, addr: bigint | number): number | typeof NO_RETURN => {
      t.wr64(82, 0, BigInt(type) | (BigInt(flags) << 16n));
      t.wr64(82, CALLBACK_REGISTER.address, addr);
      return t.hc(HYPERVISOR.callback_op, CALLBACKOP_register, arg);
    };
    expect(reg(CALLBACKTYPE_event, 0, kva(100))).toBe(0);
    expect(v.eventCallback).toBe(kva(100));
    expect(reg(CALLBACKTYPE_syscall, CALLBACKF_mask_events, kva(101))).toBe(0);
    expect(v.syscallCallback).toBe(kva(101));
    expect(v.vgcFlags & VGCF_SYSCALL_DISABLES_EVENTS).toBeTruthy();
    expect(reg(CALLBACKTYPE_syscall, 0, kva(101))).toBe(0);
    expect(v.vgcFlags & VGCF_SYSCALL_DISABLES_EVENTS).toBe(0);
    expect(reg(CALLBACKTYPE_failsafe, CALLBACKF_mask_events, kva(102))).toBe(0);
    expect(v.failsafeCallback).toBe(kva(102));
    expect(v.vgcFlags & VGCF_FAILSAFE_DISABLES_EVENTS).toBeTruthy();
    expect(reg(CALLBACKTYPE_syscall32, CALLBACKF_mask_events, kva(103))).toBe(0);
    expect(trapState(v).syscall32Callback).toBe(kva(103));
    expect(reg(CALLBACKTYPE_sysenter, 0, kva(104))).toBe(0);
    expect(trapState(v).sysenterCallback).toBe(kva(104));
    expect(reg(CALLBACKTYPE_sysenter_deprecated, 0, kva(104))).toBe(-38);
    expect(reg(CALLBACKTYPE_nmi, 0, kva(105))).toBe(0);
    expect(v.trapTable[2]).toEqual({ address: kva(105), cs: FLAT_KERNEL_CS64, flags: 4 });
    expect(reg(CALLBACKTYPE_event, 0, 0x0000800000000000n)).toBe(-22); // non-canonical
    expect(reg(99, 0, 0x0000800000000000n)).toBe(-22); // the address is checked first
    expect(reg(99, 0, kva(1))).toBe(-38);
    const unreg = (type: number): number | typeof NO_RETURN => {
      t.wr64(82, 0, type);
      return t.hc(HYPERVISOR.callback_op, CALLBACKOP_unregister, arg);
    };
    expect(unreg(CALLBACKTYPE_event)).toBe(-22);
    expect(unreg(CALLBACKTYPE_nmi)).toBe(0);
    expect(v.trapTable[2]!.address).toBe(0);
    expect(unreg(42)).toBe(-38);
    expect(t.hc(HYPERVISOR.callback_op, 7, arg)).toBe(-38);
    expect(t.hc(HYPERVISOR.callback_op, CALLBACKOP_register, 0x7ff000)).toBe(-14);
    expect(t.hc(HYPERVISOR.callback_op, CALLBACKOP_register, kva(255, 0xff8))).toBe(-14); // struct straddles into unmapped
    void CALLBACK_UNREGISTER;
  });

  it('set_callbacks registers event, failsafe and syscall with flags 0, ignoring bad addresses', () => {
    const t = setup();
    const { v } = t;
    v.vgcFlags = VGCF_SYSCALL_DISABLES_EVENTS;
    expect(t.hc(HYPERVISOR.set_callbacks, kva(100), 0x0000800000000000n, kva(102))).toBe(0);
    expect(v.eventCallback).toBe(kva(100));
    expect(v.failsafeCallback).toBe(0);
    expect(v.syscallCallback).toBe(kva(102));
    expect(v.vgcFlags).toBe(0);
  });

  it('stack_switch and fpu_taskswitch', () => {
    const t = setup();
    const { v } = t;
    expect(t.hc(HYPERVISOR.stack_switch, 0x18, kva(20, 0xff0))).toBe(0);
    expect(v.kernelSs).toBe(0x1b);
    expect(v.kernelSp).toBe(kva(20, 0xff0));
    expect(t.hc(HYPERVISOR.fpu_taskswitch, 1)).toBe(0);
    expect(v.cpu.cr0 & 8).toBe(8);
    expect(t.hc(HYPERVISOR.fpu_taskswitch, 0)).toBe(0);
    expect(v.cpu.cr0 & 8).toBe(0);
  });

  it('set_segment_base: FS, GS_USER, GS_KERNEL, GS_USER_SEL (null, GDT entry, Xen flat entry, bad)', () => {
    const t = setup();
    const { v } = t;
    expect(t.hc(HYPERVISOR.set_segment_base, SEGBASE_FS, 0x7f0000001000n)).toBe(0);
    expect(v.cpu.segBase[8]).toBe(0x1000);
    expect(v.cpu.segBase[9]).toBe(0x7f00);
    expect(t.hc(HYPERVISOR.set_segment_base, SEGBASE_GS_USER, 0x2000)).toBe(0);
    expect(v.gsBaseInactive[0]).toBe(0x2000);
    expect(t.hc(HYPERVISOR.set_segment_base, SEGBASE_GS_KERNEL, u64(kva(50)))).toBe(0);
    expect(v.cpu.segBase[10]).toBe(kva(50) | 0);
    expect(v.cpu.segBase[11]).toBe(-1);
    expect(t.hc(HYPERVISOR.set_segment_base, SEGBASE_FS, 0x0000800000000000n)).toBe(-22);
    expect(t.hc(HYPERVISOR.set_segment_base, 9, 0)).toBe(-22);
    // A GDT with a user data segment (DPL 3, base 0x12345678) at index 6.
    const desc = 0x12cff2345678ffffn; // base 0x12345678, data RW, DPL 3, present, G, D
    t.wr64(84, 6 * 8, desc);
    t.wr64(83, 0, t.mfn(84));
    expect(t.hc(HYPERVISOR.set_gdt, kva(83), 16)).toBe(0);
    expect(t.hc(HYPERVISOR.set_segment_base, SEGBASE_GS_USER_SEL, 0x30)).toBe(0);
    expect(v.cpu.sel[5]).toBe(0x33);
    expect(v.gsBaseInactive[0] >>> 0).toBe(0x12345678);
    expect(t.hc(HYPERVISOR.set_segment_base, SEGBASE_GS_USER_SEL, 0)).toBe(0);
    expect(v.cpu.sel[5]).toBe(0);
    expect(v.gsBaseInactive[0]).toBe(0);
    expect(t.hc(HYPERVISOR.set_segment_base, SEGBASE_GS_USER_SEL, 0xe02b)).toBe(0);
    expect(v.cpu.sel[5]).toBe(0xe02b);
    // Beyond the GDT's entries: loads the null selector instead.
    expect(t.hc(HYPERVISOR.set_segment_base, SEGBASE_GS_USER_SEL, 0x100)).toBe(0);
    expect(v.cpu.sel[5]).toBe(0);
  });

  it('set_gdt validates frames and descriptors (DPL raised to 3)', () => {
    const t = setup();
    const { v } = t;
    const kernelCs = 0x00af9b000000ffffn; // DPL 0 64-bit code
    t.wr64(84, 2 * 8, kernelCs);
    t.wr64(83, 0, t.mfn(84));
    expect(t.hc(HYPERVISOR.set_gdt, kva(83), 16)).toBe(0);
    expect(t.rd64(84, 16)).toBe(0x00affb000000ffffn);
    expect(v.gdtFrames).toEqual([t.mfn(84)]);
    expect(v.gdtEntries).toBe(16);
    // A foreign frame (another domain's MFN), a special frame, too many entries, a faulting list.
    t.wr64(83, 0, 0x123);
    expect(t.hc(HYPERVISOR.set_gdt, kva(83), 16)).toBe(-22);
    t.wr64(83, 0, t.d.sharedInfoMfn);
    expect(t.hc(HYPERVISOR.set_gdt, kva(83), 16)).toBe(-22);
    expect(t.hc(HYPERVISOR.set_gdt, kva(83), FIRST_RESERVED_GDT_ENTRY + 1)).toBe(-22);
    expect(t.hc(HYPERVISOR.set_gdt, 0x7ff000, 16)).toBe(-14);
    // A present TSS descriptor is not allowed in a PV GDT.
    t.wr64(83, 0, t.mfn(85));
    t.wr64(85, 8 * 8, 0x00008900_00000067n);
    expect(t.hc(HYPERVISOR.set_gdt, kva(83), 16)).toBe(-22);
    expect(v.gdtFrames).toEqual([t.mfn(84)]); // unchanged
    void FIRST_RESERVED_GDT_PAGE;
  });

  it('set_gdt takes seg_desc type references: a page table cannot become a GDT; old frames are released', () => {
    const t = setup();
    const { v } = t;
    const pt = pageTypes(t.d.memory);
    expect(pt.pin(t.mfn(87), 1)).toBe(0); // an (empty) L1 page table
    t.wr64(83, 0, t.mfn(87));
    expect(t.hc(HYPERVISOR.set_gdt, kva(83), 16)).toBe(-22);
    t.wr64(83, 0, t.mfn(84));
    expect(t.hc(HYPERVISOR.set_gdt, kva(83), 16)).toBe(0);
    expect(pt.typeOf(t.mfn(84))).toBe(PGT_seg_desc);
    expect(pt.typeCount(t.mfn(84))).toBe(1);
    // While it is a GDT page it cannot be used as a page table.
    expect(pt.pin(t.mfn(84), 1)).toBeLessThan(0);
    // update_descriptor into the live GDT page is allowed (and keeps the type).
    expect(t.hc(HYPERVISOR.update_descriptor, BigInt(t.mfn(84)) * 4096n + 0x60n, 0x00cff3000000ffffn)).toBe(0);
    expect(pt.typeCount(t.mfn(84))).toBe(1);
    // update_descriptor into a page table is refused.
    expect(t.hc(HYPERVISOR.update_descriptor, BigInt(t.mfn(87)) * 4096n, 0)).toBe(-22);
    // A new GDT releases the old frame.
    t.wr64(83, 0, t.mfn(85));
    expect(t.hc(HYPERVISOR.set_gdt, kva(83), 16)).toBe(0);
    expect(pt.typeCount(t.mfn(84))).toBe(0);
    expect(pt.typeCount(t.mfn(85))).toBe(1);
  });

  it('update_descriptor: alignment, ownership, descriptor checks, call gates', () => {
    const t = setup();
    const ma = (pfn: number, off: number): bigint => BigInt(t.mfn(pfn)) * 4096n + BigInt(off);
    expect(t.hc(HYPERVISOR.update_descriptor, ma(86, 12 * 8), 0x00cf93000000ffffn)).toBe(0);
    expect(t.rd64(86, 96)).toBe(0x00cff3000000ffffn); // DPL 0 → 3
    expect(t.hc(HYPERVISOR.update_descriptor, ma(86, 12 * 8 + 4), 0)).toBe(-22);
    expect(t.hc(HYPERVISOR.update_descriptor, 0x123000n, 0)).toBe(-22);
    expect(t.hc(HYPERVISOR.update_descriptor, BigInt(t.d.sharedInfoMfn) * 4096n, 0)).toBe(-22);
    // Not present: anything goes, unchanged.
    expect(t.hc(HYPERVISOR.update_descriptor, ma(86, 0), 0x123456789abcdefn & ~(1n << 47n))).toBe(0);
    expect(t.rd64(86, 0)).toBe(0x123456789abcdefn & ~(1n << 47n));
    // A present TSS: refused. A call gate to a guest selector: DPL moves into the selector RPL, gate DPL 0.
    expect(t.hc(HYPERVISOR.update_descriptor, ma(86, 8), 0x00008900_00000067n)).toBe(-22);
    const gate = (0x0000ec00n << 32n) | (0x0010n << 16n) | 0x1234n; // P, DPL 3, type 0xc, selector 0x10
    expect(t.hc(HYPERVISOR.update_descriptor, ma(86, 16), gate)).toBe(0);
    expect(t.rd64(86, 16)).toBe((0x00008c00n << 32n) | (0x0013n << 16n) | 0x1234n);
    const badGate = (0x0000ec00n << 32n) | (0xe008n << 16n); // targets a Xen selector
    expect(t.hc(HYPERVISOR.update_descriptor, ma(86, 24), badGate)).toBe(-22);
  });

  it('set_debugreg / get_debugreg as Xen validates them', () => {
    const t = setup();
    expect(t.hc(HYPERVISOR.get_debugreg, 7)).toBe(0x400);
    expect(t.hc(HYPERVISOR.get_debugreg, 6)).toBe(0xffff0ff0);
    expect(t.hc(HYPERVISOR.set_debugreg, 7, 0)).toBe(0);
    expect(t.hc(HYPERVISOR.get_debugreg, 7)).toBe(0x400);
    expect(t.hc(HYPERVISOR.set_debugreg, 7, 0x2000)).toBe(-1); // GD
    expect(t.hc(HYPERVISOR.set_debugreg, 7, 0x100000000n)).toBe(-22);
    expect(t.hc(HYPERVISOR.set_debugreg, 7, 0x20001)).toBe(-1); // I/O breakpoint without CR4.DE
    expect(t.hc(HYPERVISOR.set_debugreg, 6, 0)).toBe(0);
    expect(t.hc(HYPERVISOR.get_debugreg, 6)).toBe(0xffff0ff0);
    expect(t.hc(HYPERVISOR.set_debugreg, 0, 0xffff800000000000n)).toBe(-1); // in the Xen hole
    expect(t.hc(HYPERVISOR.set_debugreg, 0, 0x400000)).toBe(0);
    expect(t.hc(HYPERVISOR.get_debugreg, 0)).toBe(0x400000);
    expect(t.hc(HYPERVISOR.set_debugreg, 1, u64(kva(5)))).toBe(0);
    expect(t.hc(HYPERVISOR.get_debugreg, 1)).toBe(kva(5)); // 0xffffffff80005000: fits the number convention
    expect(t.hc(HYPERVISOR.set_debugreg, 2, 0xffff888000001000n)).toBe(0);
    expect(t.hc(HYPERVISOR.get_debugreg, 2)).toBe(NO_RETURN); // set in RAX directly
    expect(t.reg(RAX)).toBe(0xffff888000001000n);
    expect(t.hc(HYPERVISOR.set_debugreg, 8, 0)).toBe(-19);
    expect(t.hc(HYPERVISOR.get_debugreg, 8)).toBe(-19);
    // DR4/DR5 alias DR6/DR7 (CR4.DE is never set).
    expect(t.hc(HYPERVISOR.get_debugreg, 5)).toBe(0x400);
  });

  it('set_trap_table handles a huge table through continuations', () => {
    const t = setup();
    // 2048 entries for vector 7 across pages 110..117, then a terminator (page 118 is zero).
    for (let k = 0; k < 2048; k++) {
      const pfn = 110 + Math.floor((k * 16) / 4096);
      const o = (k * 16) % 4096;
      t.wr64(pfn, o, 7n | (0xe033n << 16n));
      t.wr64(pfn, o + 8, kva(120 + (k % 3)));
    }
    t.code(kva(CODE_PFN), [0xb8, 0, 0, 0, 0, 0x0f, 0x05, ...JMP_SELF]); // mov eax, 0; syscall
    t.setReg(RDI, kva(110));
    run(t, 2);
    // The first chunk re-executes the syscall with RDI advanced.
    expect(t.rip()).toBe(u64(kva(CODE_PFN, 5)));
    expect(t.reg(RDI)).toBe(u64(kva(110, 1024 * 16)));
    run(t, 3);
    expect(t.reg(RAX)).toBe(0n);
    expect(t.rip()).toBe(u64(kva(CODE_PFN, 7)));
    expect(t.v.trapTable[7]!.address).toBe(kva(120 + (2047 % 3)));
  });
});

// ---------------------------------------------------------------- struct layouts against the Xen headers

describe('ABI layouts against the installed Xen headers', () => {
  const src = resolve(HERE, 'native/traps-offsets.c');
  const cc = spawnSync('gcc', ['--version']);
  const haveHeaders = cc.status === 0 && spawnSync('sh', ['-c', 'test -f /usr/include/xen/callback.h']).status === 0;
  it.skipIf(!haveHeaders)('matches offsetof/constants from test/native/traps-offsets.c', () => {
    const dir = mkdtempSync(join(tmpdir(), 'traps-offsets-'));
    const exe = join(dir, 'traps-offsets');
    const b = spawnSync('gcc', ['-D__XEN_TOOLS__', '-o', exe, src], { encoding: 'utf8' });
    expect(b.status, b.stderr).toBe(0);
    const out = spawnSync(exe, { encoding: 'utf8' }).stdout;
    const h = new Map(out.trim().split('\n').map((l) => l.split(' ') as [string, string]).map(([k, x]) => [k, Number(x)]));
    const want: Record<string, number> = {
      'trap_info.vector': TRAP_INFO.vector, 'trap_info.flags': TRAP_INFO.flags, 'trap_info.cs': TRAP_INFO.cs,
      'trap_info.address': TRAP_INFO.address, 'sizeof.trap_info': TRAP_INFO.size,
      'iret_context.rax': IRET_CONTEXT.rax, 'iret_context.r11': IRET_CONTEXT.r11, 'iret_context.rcx': IRET_CONTEXT.rcx,
      'iret_context.flags': IRET_CONTEXT.flags, 'iret_context.rip': IRET_CONTEXT.rip, 'iret_context.cs': IRET_CONTEXT.cs,
      'iret_context.rflags': IRET_CONTEXT.rflags, 'iret_context.rsp': IRET_CONTEXT.rsp, 'iret_context.ss': IRET_CONTEXT.ss,
      'sizeof.iret_context': IRET_CONTEXT.size,
      'callback_register.type': CALLBACK_REGISTER.type, 'callback_register.flags': CALLBACK_REGISTER.flags,
      'callback_register.address': CALLBACK_REGISTER.address, 'sizeof.callback_register': CALLBACK_REGISTER.size,
      'callback_unregister.type': CALLBACK_UNREGISTER.type, 'sizeof.callback_unregister': CALLBACK_UNREGISTER.size,
      'vcpu_info.evtchn_upcall_pending': VCPU_INFO.evtchn_upcall_pending, 'vcpu_info.evtchn_upcall_mask': VCPU_INFO.evtchn_upcall_mask,
      'vcpu_info.arch.cr2': VCPU_INFO.arch_cr2,
      CALLBACKOP_register, CALLBACKOP_unregister, CALLBACKTYPE_event, CALLBACKTYPE_failsafe, CALLBACKTYPE_syscall,
      CALLBACKTYPE_sysenter_deprecated, CALLBACKTYPE_nmi, CALLBACKTYPE_sysenter, CALLBACKTYPE_syscall32, CALLBACKF_mask_events,
      SEGBASE_FS, SEGBASE_GS_USER, SEGBASE_GS_KERNEL, SEGBASE_GS_USER_SEL, FIRST_RESERVED_GDT_PAGE, FIRST_RESERVED_GDT_ENTRY,
      FLAT_KERNEL_CS: FLAT_KERNEL_CS64, FLAT_KERNEL_SS: FLAT_KERNEL_SS64, FLAT_USER_CS32,
      VGCF_in_syscall: VGCF_IN_SYSCALL, VGCF_syscall_disables_events: VGCF_SYSCALL_DISABLES_EVENTS,
      VGCF_failsafe_disables_events: VGCF_FAILSAFE_DISABLES_EVENTS,
      XEN_CPUID_SIGNATURE_EBX, XEN_CPUID_SIGNATURE_ECX, XEN_CPUID_SIGNATURE_EDX, XEN_CPUID_FEAT1_MMU_PT_UPDATE_PRESERVE_AD,
      XEN_CPUID_MAX_NUM_LEAVES,
    };
    for (const [k, val] of Object.entries(want)) expect([k, h.get(k)]).toEqual([k, val]);
  });
});

void TWO64;
