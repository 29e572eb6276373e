/**
 * The CPUID a PV domU sees, for both the forced-emulation prefix
 * (`ud2; .ascii "xen"; cpuid`) and a plain `cpuid`.
 *
 * Modelled on Xen's PV policy (xen/arch/x86/cpuid.c: guest_cpuid,
 * cpuid_hypervisor_leaves; xen/include/public/arch-x86/cpufeatureset.h), but
 * the feature set is exactly what the xenjs CPU (src/cpu/ops/*) implements,
 * since a PV guest runs its instructions on our CPU:
 *  - GenuineIntel, family 6 model 0x3c stepping 3 (a Haswell signature, which
 *    Linux handles without model quirks that matter to a PV guest);
 *  - x87, MMX (the architectural x86-64 baseline, src/cpu/ops/mmx*.ts),
 *    FXSR, SSE, SSE2, CMPXCHG16B, MOVBE, POPCNT, LZCNT, PREFETCHW, LAHF/SAHF,
 *    RDTSCP; nothing newer (no SSE3+, AVX, XSAVE, BMI, FSGSBASE, RDRAND);
 *  - what Xen hides from PV guests stays hidden (VME, PSE, PGE, PSE36, MTRR,
 *    PCID, x2APIC, TSC-deadline, 1 GiB pages, SMEP/SMAP, MONITOR, VMX, DS,
 *    PDCM, the 0xB topology leaf); the APIC bit is clear (PV Linux has none).
 * Out-of-range leaves return zeros (Xen follows the AMD model).
 */
import { TSC_SHIFT, TSC_TO_SYSTEM_MUL } from './time.ts';

/** Feature facts other modules consult (CR4 bits the guest may set, MSRs that exist). */
export const PV_POLICY = {
  /** CPUID.1:EDX.TSC: CR4.TSD may be set. */
  tsc: true,
  /** CPUID.1:EDX.DE: CR4.DE may be set (no: no debug extensions). */
  de: false,
  /** CPUID.7:EBX.FSGSBASE. */
  fsgsbase: false,
  /** CPUID.1:ECX.XSAVE. */
  xsave: false,
  /** CPUID.80000001:EDX.RDTSCP (MSR_TSC_AUX exists). */
  rdtscp: true,
  /** CPUID.7:ECX.RDPID. */
  rdpid: false,
  /** CPUID.80000001:EDX.LM (MSR_FS_BASE & co. exist). */
  lm: true,
} as const;

/** CPUID.7.0:EDX bit 29, XEN_CPUFEATURE(ARCH_CAPS, 9*32+29): IA32_ARCH_CAPABILITIES exists. */
export const CPUID7_EDX_ARCH_CAPS = 1 << 29;

/**
 * MSR_ARCH_CAPS (0x10a) as a PV guest reads it: every "not affected" bit Xen
 * passes to guests (cpufeatureset.h word 16, the "A" ones), because they are
 * true of the xenjs CPU, which executes nothing speculatively: RDCL_NO,
 * INTEL_SSB_NO, MDS_NO, IF_PSCHANGE_MC_NO, TAA_NO, SBDR_SSDP_NO, FBSDP_NO,
 * PSDP_NO, BHI_NO, PBRSB_NO, GDS_NO, RFDS_NO (low word) and ITS_NO (bit 62).
 * Without them Linux assumes the worst of an Intel CPU under a hypervisor
 * and routes every return and indirect branch through the ITS thunks and
 * clears CPU buffers on every kernel exit, which costs an emulated CPU dearly.
 */
export const ARCH_CAPS_LO = (1 << 0) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 8) | (1 << 13) | (1 << 14) | (1 << 15) | (1 << 20) | (1 << 24) | (1 << 26) | (1 << 27);
export const ARCH_CAPS_HI = 1 << (62 - 32);

/** XEN_CPUID_SIGNATURE_E[BCD]X (public/arch-x86/cpuid.h): "XenVMMXenVMM". */
export const XEN_CPUID_SIGNATURE_EBX = 0x566e6558, XEN_CPUID_SIGNATURE_ECX = 0x65584d4d, XEN_CPUID_SIGNATURE_EDX = 0x4d4d566e;
/** XEN_CPUID_MAX_NUM_LEAVES: the hypervisor leaves are 0x40000000..0x40000005. */
export const XEN_CPUID_MAX_NUM_LEAVES = 5;
/** XEN_CPUID_FEAT1_MMU_PT_UPDATE_PRESERVE_AD (leaf 0x40000002 ECX bit 0). */
export const XEN_CPUID_FEAT1_MMU_PT_UPDATE_PRESERVE_AD = 1;
/** Machine address width reported in leaf 0x40000005 EBX (≤ 44, so Linux keeps grant tables v1). */
export const PV_MACHINE_ADDRESS_BITS = 40;
/** The version leaf 0x40000001 reports (also what xen_version returns). */
const XEN_VERSION_MAJOR = 4, XEN_VERSION_MINOR = 17;

/** CPUID.1:EAX: family 6, model 0x3c (ext. model 3, model 0xc), stepping 3. */
export const PV_CPUID_SIGNATURE = 0x000306c3;
export const PV_BRAND_STRING = 'xenjs virtual CPU';

// Leaf 1 EDX
const FPU = 1 << 0, TSC = 1 << 4, MSR = 1 << 5, PAE = 1 << 6, CX8 = 1 << 8, CMOV = 1 << 15, PAT = 1 << 16;
const CLFSH = 1 << 19, MMX = 1 << 23, FXSR = 1 << 24, SSE = 1 << 25, SSE2 = 1 << 26, HTT = 1 << 28;
// Leaf 1 ECX
const CX16 = 1 << 13, MOVBE = 1 << 22, POPCNT = 1 << 23, HYPERVISOR = 1 << 31;
// Leaf 0x80000001 ECX / EDX
const LAHF_LM = 1 << 0, ABM = 1 << 5, PREFETCHW = 1 << 8;
const SYSCALL = 1 << 11, NX = 1 << 20, RDTSCP = 1 << 27, LM = 1 << 29;

/**
 * The TSC frequency in kHz, from the pvclock scale time.ts publishes
 * (ns = (tsc << shift) * mul / 2^32): 1 GHz today. Leaf 0x16 reports it, so
 * Linux's early CPU-frequency estimate (cpu_khz_from_cpuid) succeeds instead
 * of polling PIT channel 2 through ~100,000 emulated port reads
 * (quick_pit_calibrate). 0 would hide leaves 0xe-0x16.
 */
let tscKhz = Math.round((1e6 * 2 ** 32) / (TSC_TO_SYSTEM_MUL * 2 ** TSC_SHIFT));

/** Override the TSC frequency leaf 0x16 reports (0 = unknown: the basic leaves end at 0xd). */
export function setPvTscKhz(khz: number): void {
  tscKhz = khz > 0 ? Math.round(khz) : 0;
}

const BRAND = (() => {
  const b = new Uint8Array(48);
  b.set(new TextEncoder().encode(PV_BRAND_STRING));
  return new Int32Array(b.buffer);
})();

/** Leaf 4 (deterministic cache parameters): type, level, ways, sets — line size 64 everywhere. */
const CACHES: ReadonlyArray<{ type: number; level: number; ways: number; sets: number; shared: boolean }> = [
  { type: 1, level: 1, ways: 8, sets: 64, shared: false }, // L1 data, 32 KiB, 8-way
  { type: 2, level: 1, ways: 8, sets: 64, shared: false }, // L1 instruction, 32 KiB, 8-way
  { type: 3, level: 2, ways: 8, sets: 512, shared: false }, // L2 unified, 256 KiB, 8-way
  { type: 3, level: 3, ways: 16, sets: 8192, shared: true }, // L3 unified, 8 MiB, 16-way, shared by all vCPUs
];

/** Fill out[0..3] = EAX, EBX, ECX, EDX for CPUID (leaf, sub) on a domain with `vcpus` vCPUs. */
export function pvCpuid(leaf: number, sub: number, out: Int32Array, vcpus: number): void {
  out[0] = 0;
  out[1] = 0;
  out[2] = 0;
  out[3] = 0;
  leaf >>>= 0;
  sub >>>= 0;
  const n = Math.max(1, Math.min(vcpus, 64));
  const maxBasic = tscKhz > 0 ? 0x16 : 0xd;
  if (leaf <= maxBasic) {
    switch (leaf) {
      case 0:
        out[0] = maxBasic;
        out[1] = 0x756e6547; // "Genu"
        out[3] = 0x49656e69; // "ineI"
        out[2] = 0x6c65746e; // "ntel"
        break;
      case 1:
        out[0] = PV_CPUID_SIGNATURE;
        // EBX: [7:0] brand index 0; [15:8] CLFLUSH line size in 8-byte units (64 bytes);
        // [23:16] logical processors per package = vCPUs; [31:24] initial APIC ID, cleared for PV as Xen does.
        out[1] = (8 << 8) | (Math.min(vcpus, 255) << 16);
        // ECX: CMPXCHG16B (13), MOVBE (22), POPCNT (23), running on a hypervisor (31).
        out[2] = CX16 | MOVBE | POPCNT | HYPERVISOR;
        // EDX: FPU (0), TSC (4), MSR (5), PAE (6), CX8 (8), CMOV (15), PAT (16), CLFLUSH (19), MMX (23),
        // FXSR (24), SSE (25), SSE2 (26); HTT (28) when the EBX count (> 1) is meaningful.
        out[3] = FPU | TSC | MSR | PAE | CX8 | CMOV | PAT | CLFSH | MMX | FXSR | SSE | SSE2 | (vcpus > 1 ? HTT : 0);
        break;
      case 2:
        // One iteration (AL = 1); descriptor 0xff: "no cache descriptors here, use leaf 4".
        out[0] = 0x0000ff01;
        break;
      case 4: {
        const c = CACHES[sub];
        if (!c) break; // type 0: no more caches
        // EAX: [4:0] type, [7:5] level, [8] self-initialising, [25:14] logical processors sharing − 1,
        // [31:26] cores per package − 1 (one core per vCPU, one thread per core).
        out[0] = c.type | (c.level << 5) | (1 << 8) | ((c.shared ? n - 1 : 0) << 14) | ((n - 1) << 26);
        // EBX: [11:0] line size − 1, [21:12] partitions − 1, [31:22] ways − 1.
        out[1] = 63 | ((c.ways - 1) << 22);
        out[2] = c.sets - 1; // ECX: sets − 1
        break;
      }
      case 7:
        // Subleaf 0: EAX = highest subleaf (0); no structured extended features
        // but ARCH_CAPS (EDX), which Xen offers every guest: MSR_ARCH_CAPS then says
        // which speculative-execution bugs the CPU does not have (priv-op.ts).
        if (sub === 0) out[3] = CPUID7_EDX_ARCH_CAPS;
        break;
      case 0x16:
        // Processor frequency: base and maximum MHz (the TSC's), bus 100 MHz.
        out[0] = Math.round(tscKhz / 1000);
        out[1] = out[0]!;
        out[2] = 100;
        break;
      // 3 (serial number), 5 (MONITOR), 6 (power), 8-0xa (PMU), 0xb (topology, hidden for PV),
      // 0xc, 0xd (XSAVE, hidden), 0xe-0x14 (SGX, RDT, PT: not offered), 0x15 (no crystal ratio): all zero.
    }
    return;
  }
  if (leaf >= 0x40000000 && leaf <= 0x400001ff) {
    // cpuid_hypervisor_leaves: Xen's leaves at base 0x40000000; nothing past base + 5 (nor at 0x40000100+).
    const idx = leaf - 0x40000000;
    switch (idx) {
      case 0:
        out[0] = 0x40000000 + XEN_CPUID_MAX_NUM_LEAVES; // largest leaf
        out[1] = XEN_CPUID_SIGNATURE_EBX;
        out[2] = XEN_CPUID_SIGNATURE_ECX;
        out[3] = XEN_CPUID_SIGNATURE_EDX;
        break;
      case 1:
        out[0] = (XEN_VERSION_MAJOR << 16) | XEN_VERSION_MINOR;
        break;
      case 2:
        out[0] = 1; // number of hypercall-transfer pages
        out[1] = 0x40000000; // MSR base for the hypercall page (HVM only)
        out[2] = XEN_CPUID_FEAT1_MMU_PT_UPDATE_PRESERVE_AD;
        break;
      case 3:
        // Time leaf: all zero (no vTSC, TSC mode "default", frequency not advertised here).
        break;
      case 4:
        // HVM-only leaf: zero for PV.
        break;
      case 5:
        // PV-specific parameters, subleaf 0: EBX[7:0] = machine address width.
        if (sub === 0) out[1] = PV_MACHINE_ADDRESS_BITS;
        break;
    }
    return;
  }
  if (leaf >= 0x80000000 && leaf <= 0x80000008) {
    switch (leaf) {
      case 0x80000000:
        out[0] = 0x80000008 | 0; // highest extended leaf
        break;
      case 0x80000001:
        // ECX: LAHF/SAHF in 64-bit mode (0), LZCNT (5, "ABM"), PREFETCHW (8).
        out[2] = LAHF_LM | ABM | PREFETCHW;
        // EDX: SYSCALL (11), NX (20), RDTSCP (27), long mode (29).
        out[3] = SYSCALL | NX | RDTSCP | LM;
        break;
      case 0x80000002:
      case 0x80000003:
      case 0x80000004: {
        const k = (leaf - 0x80000002) * 4;
        for (let j = 0; j < 4; j++) out[j] = BRAND[k + j]!;
        break;
      }
      case 0x80000006:
        // ECX: L2 line size 64 [7:0], associativity code 6 = 8-way [15:12], size 256 KiB [31:16].
        out[2] = (256 << 16) | (6 << 12) | 64;
        break;
      case 0x80000008:
        out[0] = 0x3028; // 40-bit physical, 48-bit linear addresses
        break;
      // 0x80000005 (AMD L1 info) and 0x80000007 (no invariant TSC, as Xen's PV default): zero.
    }
  }
}
