/** Emulation of the privileged instructions a PV kernel still executes (being written). */
import type { Vcpu } from './vcpu.ts';

export function emulatePrivilegedOp(_v: Vcpu): boolean {
  return false;
}
export function emulateInvalidOpcode(_v: Vcpu): boolean {
  return false;
}
