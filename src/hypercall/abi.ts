/**
 * Xen ABI numbers, named as in the Xen 4.17 public headers:
 * hypercall numbers (xen/xen.h), errno values (xen/errno.h), and the
 * constants shared by several hypercall families.
 */

/** __HYPERVISOR_* (xen/xen.h). */
export const HYPERVISOR = {
  set_trap_table: 0,
  mmu_update: 1,
  set_gdt: 2,
  stack_switch: 3,
  set_callbacks: 4,
  fpu_taskswitch: 5,
  sched_op_compat: 6,
  platform_op: 7,
  set_debugreg: 8,
  get_debugreg: 9,
  update_descriptor: 10,
  memory_op: 12,
  multicall: 13,
  update_va_mapping: 14,
  set_timer_op: 15,
  event_channel_op_compat: 16,
  xen_version: 17,
  console_io: 18,
  physdev_op_compat: 19,
  grant_table_op: 20,
  vm_assist: 21,
  update_va_mapping_otherdomain: 22,
  iret: 23,
  vcpu_op: 24,
  set_segment_base: 25,
  mmuext_op: 26,
  xsm_op: 27,
  nmi_op: 28,
  sched_op: 29,
  callback_op: 30,
  xenoprof_op: 31,
  event_channel_op: 32,
  physdev_op: 33,
  hvm_op: 34,
  sysctl: 35,
  domctl: 36,
  kexec_op: 37,
  tmem_op: 38,
  argo_op: 39,
  xenpmu_op: 40,
  dm_op: 41,
  hypfs_op: 42,
} as const;

export const HYPERCALL_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(HYPERVISOR).map(([k, v]) => [v, k]),
);

/** Xen errno values (xen/errno.h); hypercalls return them negated. */
export const XEN_EPERM = 1, XEN_ENOENT = 2, XEN_ESRCH = 3, XEN_EINTR = 4, XEN_EIO = 5, XEN_ENXIO = 6, XEN_E2BIG = 7;
export const XEN_EBADF = 9, XEN_EAGAIN = 11, XEN_ENOMEM = 12, XEN_EACCES = 13, XEN_EFAULT = 14, XEN_EBUSY = 16;
export const XEN_EEXIST = 17, XEN_ENODEV = 19, XEN_EINVAL = 22, XEN_ENOSPC = 28, XEN_ERANGE = 34, XEN_ENOSYS = 38;
export const XEN_ENODATA = 61, XEN_ETIME = 62, XEN_EOPNOTSUPP = 95;

/** DOMID_SELF and friends (xen/xen.h). */
export const DOMID_SELF = 0x7ff0, DOMID_IO = 0x7ff1, DOMID_XEN = 0x7ff2, DOMID_COW = 0x7ff3, DOMID_INVALID = 0x7ff4;

/** x86-64 PV layout (xen/arch-x86/xen-x86_64.h). */
export const HYPERVISOR_VIRT_START = 0xffff800000000000n;
export const HYPERVISOR_VIRT_END = 0xffff880000000000n;
export const MACH2PHYS_VIRT_START = 0xffff800000000000n;
export const MACH2PHYS_VIRT_END = 0xffff804000000000n;
/** Flat segment selectors Xen provides to 64-bit PV guests. */
export const FLAT_KERNEL_CS64 = 0xe033, FLAT_KERNEL_DS64 = 0xe02b, FLAT_KERNEL_SS64 = 0xe02b;
export const FLAT_USER_CS64 = 0xe033, FLAT_USER_DS64 = 0xe02b, FLAT_USER_SS64 = 0xe02b;
export const FLAT_USER_CS32 = 0xe023;

/** VGCF_* (xen/arch-x86/xen.h). */
export const VGCF_I387_VALID = 1 << 0, VGCF_IN_KERNEL = 1 << 2, VGCF_FAILSAFE_DISABLES_EVENTS = 1 << 3;
export const VGCF_SYSCALL_DISABLES_EVENTS = 1 << 4, VGCF_ONLINE = 1 << 5, VGCF_IN_SYSCALL = 1 << 8;

/** The Xen version we claim to be. */
export const XEN_MAJOR = 4, XEN_MINOR = 17;
