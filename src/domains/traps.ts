/**
 * Exception, interrupt, event and system-call delivery to a PV guest: Xen's
 * bounce frame (xen/arch/x86/x86_64/entry.S: create_bounce_frame), the
 * virtual IDT, HYPERVISOR_iret. (Being written: see the issue #4 notes.)
 */
import type { Vcpu } from './vcpu.ts';

export function injectException(v: Vcpu, vector: number, errorCode: number): void {
  v.domain.crash(`unhandled exception ${vector} (error code ${errorCode}) — trap delivery not implemented yet`, v);
}
export function deliverPendingEvents(_v: Vcpu): void {}
export function guestSyscall(v: Vcpu): void {
  v.domain.crash('guest-user syscall — not implemented yet', v);
}
export function softwareInterrupt(v: Vcpu, vector: number): void {
  v.domain.crash(`int ${vector} — not implemented yet`, v);
}
