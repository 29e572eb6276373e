/**
 * sched_op (29) and sched_op_compat (6): SCHEDOP_* (xen/common/sched/core.c
 * do_sched_op / do_poll, xen/arch/x86/compat.c, Xen 4.17).
 *
 *   rdi = cmd, rsi = arg (a pointer; for sched_op_compat the value itself)
 *
 * Blocking sets `v.blocked`; Vcpu.run then stops with VcpuStop.Blocked and
 * the scheduler skips the vCPU until an event wakes it (evtchn.ts:
 * kickVcpu — any event that raises evtchn_upcall_pending, or, for a poll,
 * a send on a polled port) or a poll times out (servicePollTimeout, which
 * the scheduler calls with the timers). The hypercall itself has already
 * returned 0 in rax.
 *
 * Watchdogs (SCHEDOP_watchdog) are bookkept here; serviceWatchdogs(d, now)
 * shuts the domain down (SHUTDOWN_watchdog) when one expires.
 */
import type { Domain } from '../domains/domain.ts';
import type { Vcpu } from '../domains/vcpu.ts';
import { SHUTDOWN_crash, SHUTDOWN_NAMES, SHUTDOWN_suspend, SHUTDOWN_watchdog } from '../domains/domain.ts';
import { registerHypercall } from './dispatch.ts';
import { HYPERVISOR, XEN_EFAULT, XEN_EINVAL, XEN_ENOSPC, XEN_ENOSYS, XEN_EPERM, XEN_ESRCH } from './abi.ts';
import { kickVcpu, pollPort, startPoll } from './evtchn.ts';
import { guestHandleOkay, readPointer, readU64 } from './memory.ts';
import { RUNSTATE_blocked, setRunstate } from './vcpu-op.ts';

/** SCHEDOP_* (xen/sched.h). */
export const SCHEDOP = {
  yield: 0,
  block: 1,
  shutdown: 2,
  poll: 3,
  remote_shutdown: 4,
  shutdown_code: 5,
  watchdog: 6,
  pin_override: 7,
} as const;

/** struct sched_shutdown {u32 reason}; sched_poll; sched_remote_shutdown; sched_watchdog. */
export const SCHED_SHUTDOWN = { reason: 0, size: 4 } as const;
export const SCHED_POLL = { ports: 0, nr_ports: 8, timeout: 16, size: 24 } as const;
export const SCHED_REMOTE_SHUTDOWN = { domain_id: 0, reason: 4, size: 8 } as const;
export const SCHED_WATCHDOG = { id: 0, timeout: 4, size: 8 } as const;
export const SCHED_PIN_OVERRIDE = { pcpu: 0, size: 4 } as const;

/** do_poll's "fairly arbitrary limit". */
export const SCHED_POLL_MAX_PORTS = 128;
/** NR_DOMAIN_WATCHDOG_TIMERS. */
export const NR_DOMAIN_WATCHDOG_TIMERS = 2;
/** Xen's SHUTDOWN_CODE_INVALID: no code set with SCHEDOP_shutdown_code. */
const SHUTDOWN_CODE_INVALID = -1;

interface SchedState {
  shutdownCode: number;
  /** Watchdog deadlines in ns (-1 = slot free). */
  readonly watchdog: Float64Array;
}

const STATE = new WeakMap<Domain, SchedState>();

function stateOf(d: Domain): SchedState {
  let s = STATE.get(d);
  if (!s) {
    s = { shutdownCode: SHUTDOWN_CODE_INVALID, watchdog: new Float64Array(NR_DOMAIN_WATCHDOG_TIMERS).fill(-1) };
    STATE.set(d, s);
  }
  return s;
}

/** Xen's local_events_need_delivery for a PV vCPU. */
function eventsNeedDelivery(v: Vcpu): boolean {
  return v.upcallPending && !v.upcallMask;
}

function block(v: Vcpu): void {
  v.blocked = true;
  setRunstate(v, RUNSTATE_blocked);
}

/**
 * domain_shutdown with the shutdown_code rule: a code set earlier with
 * SCHEDOP_shutdown_code wins over the reason given now.
 */
function shutdownDomain(v: Vcpu, reason: number): number {
  const d = v.domain;
  const s = stateOf(d);
  if (s.shutdownCode === SHUTDOWN_CODE_INVALID) s.shutdownCode = reason;
  reason = s.shutdownCode;
  if (reason === SHUTDOWN_suspend) {
    // xenjs has no save/restore through the guest: the suspend is cancelled at once and the guest
    // resumes in place (HYPERVISOR_suspend returns 1, which Linux handles as "cancelled").
    s.shutdownCode = SHUTDOWN_CODE_INVALID;
    d.logOnce('suspend', 'guest asked to suspend: cancelled (xenjs snapshots the whole emulator instead)');
    return 1;
  }
  if (reason === SHUTDOWN_crash) d.log(`vcpu ${v.id} reported a guest crash (SCHEDOP_shutdown, reason crash)`);
  else d.log(`guest shutdown: ${SHUTDOWN_NAMES[reason] ?? `reason ${reason}`}`);
  d.shutdown(reason);
  return 0;
}

function schedOp(v: Vcpu): number {
  const cmd = v.arg32(0);
  const arg = v.argVa(1);
  const d = v.domain;
  const m = v.mem;
  switch (cmd) {
    case SCHEDOP.yield:
      return 0;

    case SCHEDOP.block:
      // vcpu_block_enable_events: unmask, block, and unblock at once if an event is already pending.
      v.upcallMask = false;
      if (!v.upcallPending) block(v);
      return 0;

    case SCHEDOP.shutdown: {
      const reason = m.u32(arg + SCHED_SHUTDOWN.reason) & 0xff;
      return shutdownDomain(v, reason);
    }

    case SCHEDOP.shutdown_code: {
      const reason = m.u32(arg + SCHED_SHUTDOWN.reason) & 0xff;
      const s = stateOf(d);
      if (s.shutdownCode === SHUTDOWN_CODE_INVALID) s.shutdownCode = reason;
      return 0;
    }

    case SCHEDOP.poll:
      return poll(v, arg);

    case SCHEDOP.remote_shutdown: {
      const domid = m.u16(arg + SCHED_REMOTE_SHUTDOWN.domain_id);
      m.u32(arg + SCHED_REMOTE_SHUTDOWN.reason);
      // rcu_lock_domain_by_id (DOMID_SELF is not an id), then XSM_DM_PRIV: a domU is nobody's device model.
      return domid < 0x7ff0 ? -XEN_EPERM : -XEN_ESRCH;
    }

    case SCHEDOP.watchdog: {
      const id = m.u32(arg + SCHED_WATCHDOG.id);
      const timeout = m.u32(arg + SCHED_WATCHDOG.timeout);
      return watchdog(d, id, timeout);
    }

    case SCHEDOP.pin_override:
      return -XEN_EPERM; // hardware domain only

    default:
      return -XEN_ENOSYS;
  }
}

const PARTS = new Int32Array(2);

/** do_poll. */
function poll(v: Vcpu, arg: number): number {
  const d = v.domain;
  const ports = readPointer(v, arg + SCHED_POLL.ports, PARTS);
  const nr = v.mem.u32(arg + SCHED_POLL.nr_ports);
  const timeout = readU64(v, arg + SCHED_POLL.timeout, PARTS);
  if (nr > SCHED_POLL_MAX_PORTS) return -XEN_EINVAL;
  if (!guestHandleOkay(ports, nr)) return -XEN_EFAULT;
  if (eventsNeedDelivery(v)) return 0;
  let port = 0;
  for (let i = 0; i < nr; i++) {
    port = v.mem.u32(ports + 4 * i); // a fault here is -EFAULT (via the dispatcher)
    const rc = pollPort(d, port);
    if (rc < 0) return rc;
    if (rc > 0) return 0;
  }
  startPoll(v, nr === 1 ? port : -1, timeout !== 0 ? timeout : -1);
  block(v);
  return 0;
}

/** domain_watchdog: id 0 allocates a timer (returns id 1..2); timeout 0 frees one. */
function watchdog(d: Domain, id: number, timeoutS: number): number {
  const s = stateOf(d);
  const now = d.nowNs();
  if (id === 0) {
    for (let i = 0; i < NR_DOMAIN_WATCHDOG_TIMERS; i++) {
      if (s.watchdog[i]! >= 0) continue;
      s.watchdog[i] = now + timeoutS * 1e9;
      return i + 1;
    }
    return -XEN_ENOSPC;
  }
  const k = id - 1;
  if (k >= NR_DOMAIN_WATCHDOG_TIMERS || s.watchdog[k]! < 0) return -XEN_EINVAL;
  s.watchdog[k] = timeoutS === 0 ? -1 : now + timeoutS * 1e9;
  return 0;
}

/** The earliest watchdog deadline of the domain (ns), or -1. */
export function watchdogDeadline(d: Domain): number {
  const s = STATE.get(d);
  if (!s) return -1;
  let t = -1;
  for (const w of s.watchdog) if (w >= 0 && (t < 0 || w < t)) t = w;
  return t;
}

/** The scheduler's hook: a watchdog that expired shuts the domain down (domain_watchdog_timeout). */
export function serviceWatchdogs(d: Domain, now: number): void {
  const t = watchdogDeadline(d);
  if (t < 0 || now < t || d.isShutdown) return;
  d.log('watchdog timer fired');
  d.shutdown(SHUTDOWN_watchdog);
}

/** The domain's shutdown code set with SCHEDOP_shutdown_code (-1 = none). */
export function shutdownCode(d: Domain): number {
  return stateOf(d).shutdownCode;
}

registerHypercall(HYPERVISOR.sched_op, schedOp);

registerHypercall(HYPERVISOR.sched_op_compat, (v) => {
  const cmd = v.arg32(0);
  switch (cmd) {
    case SCHEDOP.yield:
      return 0;
    case SCHEDOP.block:
      v.upcallMask = false;
      if (!v.upcallPending) block(v);
      return 0;
    case SCHEDOP.shutdown:
      // The reason is the argument itself; the result is always 0.
      shutdownDomain(v, v.arg32(1) & 0xff);
      return 0;
    default:
      return -XEN_ENOSYS;
  }
});

export { kickVcpu as wakeVcpu };
