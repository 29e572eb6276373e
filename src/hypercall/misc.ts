/**
 * The small hypercalls a domU may make, answered as Xen 4.17 answers an
 * unprivileged PV guest:
 *
 *   7  platform_op(op*)            dom0 only: -EPERM (-EACCES for a wrong interface version)
 *  15  set_timer_op(timeout)       the single-shot timer (xen/common/sched/core.c do_set_timer_op)
 *  27  xsm_op                      -ENOSYS (no XSM module: the dummy policy)
 *  28  nmi_op(cmd, arg*)           register/unregister the NMI callback (xen/arch/x86/pv/callback.c)
 *  34  hvm_op                      -ENOSYS (no HVM support: nothing for a PV guest to ask)
 *  40  xenpmu_op                   -EOPNOTSUPP (vPMU off, Xen's default; Linux: "VPMU disabled by hypervisor")
 *
 * Registered so they are answered, not logged as unknown.
 */
import type { Vcpu } from '../domains/vcpu.ts';
import { NMI } from '../cpu/state.ts';
import { registerHypercall } from './dispatch.ts';
import { FLAT_KERNEL_CS64, HYPERVISOR, XEN_EACCES, XEN_EINVAL, XEN_ENOSYS, XEN_EOPNOTSUPP, XEN_EPERM } from './abi.ts';

/** XENPF_INTERFACE_VERSION; struct xen_platform_op {u32 cmd; u32 interface_version; union…} (136 bytes). */
export const XENPF_INTERFACE_VERSION = 0x03000001;
export const XEN_PLATFORM_OP = { cmd: 0, interface_version: 4, size: 136 } as const;

/** XENNMI_* and struct xennmi_callback {u64 handler_address; u64 pad}. */
export const XENNMI_register_callback = 0, XENNMI_unregister_callback = 1;
export const XENNMI_CALLBACK = { handler_address: 0, pad: 8, size: 16 } as const;
/** trap_info flags bit 2 (TI_SET_IF): mask events on entry. */
export const TI_MASK_EVENTS = 4;

/** do_set_timer_op's bound: timeouts more than 2^50 ns ahead (~13 days) become 100 ms. */
export const TIMER_SLOP_LIMIT_NS = 2 ** 50;
export const HUGE_TIMEOUT_FALLBACK_NS = 100_000_000;

const PARTS = new Int32Array(2);

/** set_timer_op: rdi = absolute system time in ns (s_time_t); 0 cancels. Past times fire at once. */
function setTimerOp(v: Vcpu): number {
  const lo = v.argLo(0) >>> 0, hi = v.argHi(0);
  if (lo === 0 && hi === 0) {
    v.timerDeadline = -1;
    return 0;
  }
  const now = v.domain.nowNs();
  const timeout = hi * 4294967296 + lo; // signed
  const offset = timeout - now;
  if (hi < 0 || offset >= TIMER_SLOP_LIMIT_NS) {
    // Linux jiffy wrap or "no timer": Xen fires in 100 ms rather than never or at once.
    v.timerDeadline = now + HUGE_TIMEOUT_FALLBACK_NS;
    return 0;
  }
  v.timerDeadline = timeout;
  return 0;
}

function nmiOp(v: Vcpu): number {
  const cmd = v.arg32(0);
  const arg = v.argVa(1);
  const t = v.trapTable[NMI]!;
  switch (cmd) {
    case XENNMI_register_callback: {
      v.mem.bytes(arg, XENNMI_CALLBACK.size);
      v.mem.u64parts(arg + XENNMI_CALLBACK.handler_address, PARTS);
      const hi = PARTS[1]!;
      if ((hi << 16) >> 16 !== hi) return -XEN_EINVAL; // not canonical
      t.address = hi * 4294967296 + (PARTS[0]! >>> 0);
      t.cs = FLAT_KERNEL_CS64;
      t.flags = TI_MASK_EVENTS;
      return 0;
    }
    case XENNMI_unregister_callback:
      t.address = 0;
      t.cs = 0;
      t.flags = 0;
      return 0;
    default:
      return -XEN_ENOSYS;
  }
}

function platformOp(v: Vcpu): number {
  const op = v.argVa(0);
  v.mem.bytes(op, XEN_PLATFORM_OP.size);
  if (v.mem.u32(op + XEN_PLATFORM_OP.interface_version) !== XENPF_INTERFACE_VERSION) return -XEN_EACCES;
  return -XEN_EPERM;
}

registerHypercall(HYPERVISOR.set_timer_op, setTimerOp);
registerHypercall(HYPERVISOR.nmi_op, nmiOp);
registerHypercall(HYPERVISOR.platform_op, platformOp);
registerHypercall(HYPERVISOR.xsm_op, () => -XEN_ENOSYS);
registerHypercall(HYPERVISOR.hvm_op, () => -XEN_ENOSYS);
registerHypercall(HYPERVISOR.xenpmu_op, () => -XEN_EOPNOTSUPP);

