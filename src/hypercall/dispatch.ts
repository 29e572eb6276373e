/**
 * The hypercall table: one handler per __HYPERVISOR_* number, registered by
 * each family module. A handler reads its arguments from the vCPU's
 * registers (rdi, rsi, rdx, r10, r8, r9) and returns the value for rax:
 * 0 or positive on success, a negative Xen errno on failure. Guest memory
 * faults inside a handler become -EFAULT; nothing a guest passes may throw
 * past this point.
 */
import type { Vcpu } from '../domains/vcpu.ts';
import { GuestFault } from '../domains/guest-memory.ts';
import { HYPERCALL_NAMES, XEN_EFAULT, XEN_ENOSYS } from './abi.ts';

/** Returned by handlers that set the guest's registers themselves (iret): rax is left alone. */
export const NO_RETURN = Symbol('no-return');

export type HypercallHandler = (v: Vcpu) => number | typeof NO_RETURN;

const TABLE: Array<HypercallHandler | undefined> = [];

export function registerHypercall(num: number, handler: HypercallHandler): void {
  if (TABLE[num]) throw new Error(`hypercall ${num} registered twice`);
  TABLE[num] = handler;
}

export function hypercallHandler(num: number): HypercallHandler | undefined {
  return TABLE[num];
}

/** Numbers with a handler (for tests and traces). */
export function registeredHypercalls(): number[] {
  return TABLE.flatMap((h, n) => (h ? [n] : []));
}

/**
 * Run hypercall `num` for `v`. Unknown numbers return -ENOSYS (logged once
 * per domain by the caller's log hook).
 */
export function dispatchHypercall(v: Vcpu, num: number): number | typeof NO_RETURN {
  const h = num >= 0 && num < TABLE.length ? TABLE[num] : undefined;
  if (!h) {
    v.domain.logOnce(`hypercall-${num}`, `unimplemented hypercall ${num} (${HYPERCALL_NAMES[num] ?? 'unknown'}) → -ENOSYS`);
    return -XEN_ENOSYS;
  }
  try {
    return h(v);
  } catch (e) {
    if (e instanceof GuestFault) return -XEN_EFAULT;
    throw e;
  }
}
