/**
 * Writable page tables (VMASST_TYPE_writable_pagetables; xen
 * xen/arch/x86/pv/ro-page-fault.c: pv_ro_page_fault, ptwr_emulated_update).
 *
 * A PV guest maps its page tables read-only, yet Linux still writes PTEs
 * with plain stores, xchg, cmpxchg or `lock btr` into tables that are in
 * use. Such a store takes a #PF (write to a present read-only page, in
 * guest-kernel mode); when the page is an in-use page table we perform the
 * store for the guest and check it: snapshot the table frame, let exactly
 * that one instruction write the page (PvMmu.allowWriteOnce), step it, and
 * validate every 8-byte entry that changed as an entry of the table's level
 * (moving reference counts). If any entry is refused the frame, registers
 * and fault state are put back and the original #PF goes to the guest, as
 * in Xen.
 *
 * Differences from Xen: Xen emulates stores into L1 tables only (and
 * naturally aligned ones of at most 8 bytes); we also accept L2-L4 tables
 * (never their Xen slots) and any store instruction, since each changed
 * entry is validated just the same. Single-step (#DB after the emulated
 * instruction) is not reported.
 */
import type { Vcpu } from './vcpu.ts';
import { ACC_READ, Exit, PFEC_I, PFEC_P, PFEC_RSVD, PFEC_U, PFEC_W } from '../cpu/state.ts';
import { LF_LEN } from '../cpu/flags.ts';
import { PAGE_SIZE } from '../mmu/domain-memory.ts';
import { isXenL4Slot, pageTypes } from '../mmu/page-types.ts';

/** VMASST_TYPE_writable_pagetables as a bit of domain.vmAssist. */
const WRITABLE_PAGETABLES_BIT = 1 << 2;
const PFEC_MASK = PFEC_P | PFEC_W | PFEC_U | PFEC_RSVD | PFEC_I;

// Scratch state, shared by every vCPU (emulation never nests).
const snap = new Uint8Array(PAGE_SIZE);
const snapDv = new DataView(snap.buffer);
const snap64 = new Float64Array(snap.buffer);
const savedR = new Int32Array(34);
const savedLf = new Int32Array(LF_LEN);

/** Statistics: emulated stores and refused ones. */
export const ptwrStats = { emulated: 0, refused: 0 };

/**
 * Called by the vCPU loop on every #PF exit (RIP = the faulting
 * instruction, cr2 = the address). Returns true when the store was
 * emulated (RIP is then past the instruction); false to deliver the #PF.
 */
export function emulatePageTableWrite(v: Vcpu): boolean {
  const cpu = v.cpu;
  const d = v.domain;
  if ((d.vmAssist & WRITABLE_PAGETABLES_BIT) === 0 || !v.kernelMode) return false;
  if ((cpu.excCode & PFEC_MASK) !== (PFEC_P | PFEC_W)) return false;
  const lo = cpu.cr2[0]!, hi = cpu.cr2[1]!;
  const mmu = v.mmu;
  const off = mmu.peek(lo, hi, ACC_READ);
  if (off < 0) return false;
  const frame = Math.floor(off / PAGE_SIZE);
  const pt = pageTypes(d.memory);
  const level = pt.inUseLevel(frame);
  if (level === 0) return false;
  if (level === 4 && isXenL4Slot((lo & 0xfff) >>> 3)) return false;

  // Everything the instruction may change, so a refused store leaves no trace.
  const base = frame * PAGE_SIZE;
  snap.set(d.memory.ram.subarray(base, base + PAGE_SIZE));
  savedR.set(cpu.r);
  savedLf.set(cpu.lf);
  const savedFlags = cpu.flags;
  const excCode = cpu.excCode, excVector = cpu.excVector, excHasCode = cpu.excHasCode;
  const icount = cpu.icount;

  mmu.allowWriteOnce(lo, hi);
  const exit = cpu.step();
  mmu.invalidatePage(lo, hi);
  cpu.invalidateCodePage(frame);

  const rc = exit === Exit.Budget ? pt.commitTableWrite(frame, snap, snapDv, snap64) : -1;
  if (rc < 0) {
    if (exit !== Exit.Budget) d.memory.ram.set(snap, base);
    cpu.r.set(savedR);
    cpu.lf.set(savedLf);
    cpu.flags = savedFlags;
    cpu.excCode = excCode;
    cpu.excVector = excVector;
    cpu.excHasCode = excHasCode;
    cpu.cr2[0] = lo;
    cpu.cr2[1] = hi;
    cpu.icount = icount;
    ptwrStats.refused++;
    return false;
  }
  if (pt.needFlush) {
    pt.needFlush = false;
    for (const w of d.vcpus) w.mmu.flush();
  }
  ptwrStats.emulated++;
  return true;
}
