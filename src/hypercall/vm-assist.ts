/**
 * vm_assist (21): turn on or off the VM-assist behaviours of the domain
 * (xen/common/domain.c: do_vm_assist; valid types for a 64-bit PV guest:
 * PV64_VM_ASSIST_MASK in xen/arch/x86/include/asm/domain.h).
 *
 *   rdi = cmd (VMASST_CMD_enable 0 / VMASST_CMD_disable 1), rsi = type
 *
 * The bits land in `domain.vmAssist` (bit n = type n; type 32, m2p_strict,
 * is above the int32 range, so the value is kept as a plain number and
 * updated arithmetically). Types 0 and 3 change nothing for a 64-bit guest;
 * 2 (writable_pagetables) enables the emulation in src/domains/ptwr.ts.
 */
import type { Domain } from '../domains/domain.ts';
import {
  VMASST_TYPE_4gb_segments, VMASST_TYPE_4gb_segments_notify, VMASST_TYPE_architectural_iopl, VMASST_TYPE_m2p_strict,
  VMASST_TYPE_pae_extended_cr3, VMASST_TYPE_runstate_update_flag, VMASST_TYPE_writable_pagetables,
} from '../domains/domain.ts';
import { registerHypercall } from './dispatch.ts';
import { HYPERVISOR, XEN_EINVAL, XEN_ENOSYS } from './abi.ts';

/** VMASST_CMD_* (xen/xen.h). */
export const VMASST_CMD_enable = 0, VMASST_CMD_disable = 1;

/**
 * May a 64-bit PV domain set this type (PV64_VM_ASSIST_MASK)? (A function,
 * not a table: domain.ts is still being evaluated when this module loads.)
 */
export function isPv64VmAssistType(type: number): boolean {
  switch (type) {
    case VMASST_TYPE_4gb_segments:
    case VMASST_TYPE_4gb_segments_notify:
    case VMASST_TYPE_writable_pagetables:
    case VMASST_TYPE_pae_extended_cr3:
    case VMASST_TYPE_architectural_iopl:
    case VMASST_TYPE_runstate_update_flag:
    case VMASST_TYPE_m2p_strict:
      return true;
  }
  return false;
}

const TWO32 = 4294967296;

/** Is VM assist `type` enabled for the domain? */
export function vmAssistEnabled(d: Domain, type: number): boolean {
  if (type < 32) return ((d.vmAssist % TWO32) >>> type & 1) === 1;
  return ((Math.floor(d.vmAssist / TWO32) >>> (type - 32)) & 1) === 1;
}

export function setVmAssist(d: Domain, type: number, on: boolean): void {
  let low = d.vmAssist % TWO32 >>> 0;
  let high = Math.floor(d.vmAssist / TWO32) >>> 0;
  const bit = 1 << (type & 31);
  if (type < 32) low = (on ? low | bit : low & ~bit) >>> 0;
  else high = (on ? high | bit : high & ~bit) >>> 0;
  d.vmAssist = high * TWO32 + low;
}

registerHypercall(HYPERVISOR.vm_assist, (v) => {
  const cmd = v.arg32(0), type = v.arg32(1);
  if (!isPv64VmAssistType(type)) return -XEN_EINVAL;
  switch (cmd) {
    case VMASST_CMD_enable:
      setVmAssist(v.domain, type, true);
      return 0;
    case VMASST_CMD_disable:
      setVmAssist(v.domain, type, false);
      return 0;
  }
  return -XEN_ENOSYS;
});
