/**
 * Timer expiry → VIRQ_TIMER on the vCPU (xen/common/timer.c, vcpu_singleshot_timer_fn).
 * The event-channel module registers how a VIRQ is raised.
 */
import type { Vcpu } from './vcpu.ts';

export const VIRQ_TIMER = 0;

type VirqSender = (v: Vcpu, virq: number) => void;
let sendVirq: VirqSender = () => {};

export function setVirqSender(f: VirqSender): void {
  sendVirq = f;
}

export function fireTimer(v: Vcpu): void {
  sendVirq(v, VIRQ_TIMER);
}
