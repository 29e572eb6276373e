/** Writable page tables (VMASST_TYPE_writable_pagetables): emulate guest stores into page-table pages (being written). */
import type { Vcpu } from './vcpu.ts';

export function emulatePageTableWrite(_v: Vcpu): boolean {
  return false;
}
