/**
 * shared_info and vcpu_info layouts (xen/include/public/xen.h, x86_64),
 * offsets checked against the Xen 4.17 headers by test/xen-abi.test.ts.
 */

/** struct shared_info */
export const SHARED_INFO = {
  vcpu_info: 0, // struct vcpu_info[XEN_LEGACY_MAX_VCPUS = 32], 64 bytes each
  evtchn_pending: 2048, // xen_ulong_t[64]
  evtchn_mask: 2560, // xen_ulong_t[64]
  wc_version: 3072,
  wc_sec: 3076,
  wc_nsec: 3080,
  wc_sec_hi: 3084,
  arch: 3088, // struct arch_shared_info
  size: 3136,
} as const;
export const XEN_LEGACY_MAX_VCPUS = 32;
export const VCPU_INFO_SIZE = 64;

/** struct vcpu_info */
export const VCPU_INFO = {
  evtchn_upcall_pending: 0, // u8
  evtchn_upcall_mask: 1, // u8
  evtchn_pending_sel: 8, // xen_ulong_t
  arch_cr2: 16, // struct arch_vcpu_info { cr2, pad }
  time: 32, // struct vcpu_time_info (32 bytes)
} as const;

/** struct vcpu_time_info */
export const VCPU_TIME_INFO = {
  version: 0, // u32
  tsc_timestamp: 8, // u64
  system_time: 16, // u64
  tsc_to_system_mul: 24, // u32
  tsc_shift: 28, // i8
  flags: 29, // u8
} as const;

/** struct arch_shared_info (x86_64) */
export const ARCH_SHARED_INFO = {
  max_pfn: 0,
  pfn_to_mfn_frame_list_list: 8,
  nmi_reason: 16,
  p2m_cr3: 24,
  p2m_vaddr: 32,
  p2m_generation: 40,
} as const;
