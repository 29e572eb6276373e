/**
 * PV page-table semantics: page types and reference counts, mmu_update,
 * update_va_mapping, mmuext_op, vm_assist and writable page tables, on a
 * small hand-built domain. Hostile requests must get the errno real Xen
 * gives (xen/arch/x86/mm.c).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { Domain, VMASST_TYPE_m2p_strict, VMASST_TYPE_writable_pagetables } from '../src/domains/domain.ts';
import type { Vcpu } from '../src/domains/vcpu.ts';
import { dispatchHypercall } from '../src/hypercall/dispatch.ts';
import {
  DOMID_IO, DOMID_SELF, HYPERVISOR, XEN_EACCES, XEN_EBUSY, XEN_EFAULT, XEN_EINVAL, XEN_ENOSYS, XEN_EOPNOTSUPP, XEN_EPERM,
  XEN_ESRCH,
} from '../src/hypercall/abi.ts';
import {
  installKernelRoot, installUserRoot, MMU_MACHPHYS_UPDATE, MMU_NORMAL_PT_UPDATE, MMU_PT_UPDATE_PRESERVE_AD, MMUEXT_CLEAR_PAGE,
  MMUEXT_COPY_PAGE, MMUEXT_FLUSH_CACHE, MMUEXT_INVLPG_ALL, MMUEXT_INVLPG_LOCAL, MMUEXT_INVLPG_MULTI, MMUEXT_MARK_SUPER,
  MMUEXT_NEW_BASEPTR, MMUEXT_NEW_USER_BASEPTR, MMUEXT_PIN_L1_TABLE, MMUEXT_PIN_L2_TABLE, MMUEXT_PIN_L3_TABLE,
  MMUEXT_PIN_L4_TABLE, MMUEXT_SET_LDT, MMUEXT_TLB_FLUSH_ALL, MMUEXT_TLB_FLUSH_LOCAL, MMUEXT_TLB_FLUSH_MULTI,
  MMUEXT_UNMARK_SUPER, MMUEXT_UNPIN_TABLE, UVMF_ALL, UVMF_INVLPG, UVMF_NONE, UVMF_TLB_FLUSH,
} from '../src/hypercall/mmu.ts';
import { vmAssistEnabled } from '../src/hypercall/vm-assist.ts';
import { PageTypes, pageTypes, PGT_l1, PGT_l2, PGT_l3, PGT_l4, PGT_none, PGT_writable } from '../src/mmu/page-types.ts';
import { emulatePageTableWrite } from '../src/domains/ptwr.ts';
import { Exit, PF_VEC, PFEC_P, PFEC_U, PFEC_W, RAX, RDI } from '../src/cpu/state.ts';

// ---------------------------------------------------------------- the test domain
//
// 512 pages. PFN p is at VA p*4096 (one L1 maps the first 2 MiB):
//   L4 = pfn 1, L3 = pfn 2, L2 = pfn 3, L1 = pfn 4 (L4[0] → L3[0] → L2[0] → L1)
//   pfns 1-15 are mapped read-only (room for more tables), pfn 0 is not mapped,
//   the rest are mapped read-write. Request buffers live at pfn 100 (args),
//   101 (done), 102 (vcpu mask); code for the CPU tests at pfn 70.

const P = 0x1n, RW = 0x2n, US = 0x4n, PWT = 0x8n, PCD = 0x10n, A = 0x20n, D = 0x40n, PSE = 0x80n, G = 0x100n;
const GUEST_KERNEL = 1n << 52n, GNTTAB = 1n << 62n;
const NX = 1n << 63n;
const UPPER = P | RW | US | A | D; // 0x67
const ARGS = 100, DONE = 101, MASK = 102, CODE = 70;

let d: Domain;
let v: Vcpu;
let v1: Vcpu;
let pt: PageTypes;
let base: number;

const mfn = (pfn: number): number => base + pfn;
const pte = (pfn: number, flags: bigint): bigint => (BigInt(mfn(pfn)) << 12n) | flags;
const va = (pfn: number): number => pfn * 4096;

function rd(pfn: number, index: number): bigint {
  return d.memory.dv.getBigUint64(pfn * 4096 + index * 8, true);
}
function wr(pfn: number, index: number, val: bigint): void {
  d.memory.dv.setBigUint64(pfn * 4096 + index * 8, BigInt.asUintN(64, val), true);
}
/** Machine address of entry `index` of the table in `pfn`. */
function ma(pfn: number, index: number): bigint {
  return (BigInt(mfn(pfn)) << 12n) + BigInt(index * 8);
}
/** What Xen makes of a guest L1 entry without U: + U + _PAGE_GUEST_KERNEL. */
const kernelL1 = (pfn: number, flags: bigint): bigint => pte(pfn, flags | US) | GUEST_KERNEL;

const ARG_REGS = [7, 6, 2, 10, 8, 9];
function call(w: Vcpu, num: number, ...args: Array<number | bigint>): number {
  args.forEach((a, k) => w.cpu.setReg64n(ARG_REGS[k]!, BigInt.asUintN(64, BigInt(a))));
  const r = dispatchHypercall(w, num);
  if (typeof r !== 'number') throw new Error('unexpected NO_RETURN');
  return r;
}

function mmuUpdate(reqs: Array<[bigint, bigint]>, foreigndom = DOMID_SELF, w = v): number {
  reqs.forEach(([p, val], k) => {
    wr(ARGS, 2 * k, p);
    wr(ARGS, 2 * k + 1, val);
  });
  wr(DONE, 0, 0xdeadn);
  return call(w, HYPERVISOR.mmu_update, va(ARGS), reqs.length, va(DONE), foreigndom);
}

function mmuext(ops: Array<[number, bigint | number, (bigint | number)?]>, foreigndom = DOMID_SELF): number {
  ops.forEach(([cmd, a1, a2], k) => {
    wr(ARGS, 3 * k, BigInt(cmd));
    wr(ARGS, 3 * k + 1, BigInt.asUintN(64, BigInt(a1)));
    wr(ARGS, 3 * k + 2, BigInt.asUintN(64, BigInt(a2 ?? 0)));
  });
  wr(DONE, 0, 0xdeadn);
  return call(v, HYPERVISOR.mmuext_op, va(ARGS), ops.length, va(DONE), foreigndom);
}

const done = (): number => d.memory.dv.getUint32(DONE * 4096, true);
/** Read a u64 through a vCPU's MMU and TLB, as the guest would. */
const load = (w: Vcpu, addr: number): bigint => w.mem.u64n(addr);
/** Tag a frame's first word so a mapping of it can be recognised. */
const tag = (pfn: number): bigint => 0x7a6700000000n + BigInt(pfn);

function buildDomain(): void {
  d = new Domain({
    id: 1, name: 'pvmmu', nrPages: 512, maxPages: 512, vcpus: 2,
    consoleOut: () => {}, clockNs: () => 0, log: () => {},
  });
  base = d.memory.baseMfn;
  v = d.vcpus[0]!;
  v1 = d.vcpus[1]!;
  pt = pageTypes(d.memory);
  wr(1, 0, pte(2, UPPER));
  wr(2, 0, pte(3, UPPER));
  wr(3, 0, pte(4, UPPER));
  for (let p = 1; p < 512; p++) wr(4, p, pte(p, p < 16 ? P | A : P | RW | A));
  for (let p = 16; p < 512; p++) wr(p, 0, tag(p));
  // Junk in a Xen slot of the L4: validation discards it.
  wr(1, 260, pte(20, UPPER));
  // As the domain builder does: pin the L4, then install it as vCPU 0's (and 1's) kernel root.
  expect(pt.pin(mfn(1), 4)).toBe(0);
  expect(installKernelRoot(v, mfn(1))).toBe(0);
  expect(installKernelRoot(v1, mfn(1))).toBe(0);
}

beforeEach(buildDomain);

// ---------------------------------------------------------------- page types

describe('page types and validation', () => {
  it('the builder tree is validated, referenced and adjusted as Xen does', () => {
    expect(pt.typeOf(mfn(1))).toBe(PGT_l4);
    expect(pt.typeCount(mfn(1))).toBe(3); // pin + two installed roots
    expect(pt.isPinned(mfn(1))).toBe(true);
    expect([pt.typeOf(mfn(2)), pt.typeCount(mfn(2))]).toEqual([PGT_l3, 1]);
    expect([pt.typeOf(mfn(3)), pt.typeCount(mfn(3))]).toEqual([PGT_l2, 1]);
    expect([pt.typeOf(mfn(4)), pt.typeCount(mfn(4))]).toEqual([PGT_l1, 1]);
    expect([pt.typeOf(mfn(20)), pt.typeCount(mfn(20))]).toEqual([PGT_writable, 1]);
    expect([pt.typeOf(mfn(5)), pt.typeCount(mfn(5))]).toEqual([PGT_none, 0]); // mapped read-only only
    expect(rd(1, 260)).toBe(0n); // Xen slot cleared
    expect(rd(1, 0)).toBe(pte(2, UPPER)); // L4: + U + A (already there)
    expect(rd(4, 20)).toBe(kernelL1(20, P | RW | A));
    expect(load(v, va(20))).toBe(tag(20));
  });

  it('unpinning and dropping the base pointers devalidates the whole tree', () => {
    expect(mmuext([[MMUEXT_UNPIN_TABLE, mfn(1)]])).toBe(0);
    expect(pt.typeCount(mfn(1))).toBe(2);
    // Switch both vCPUs to a fresh L4 sharing the L3: the old one drops to 0.
    wr(8, 0, pte(2, UPPER));
    expect(mmuext([[MMUEXT_NEW_BASEPTR, mfn(8)]])).toBe(0);
    expect(installKernelRoot(v1, mfn(8))).toBe(0);
    expect(pt.typeCount(mfn(1))).toBe(0);
    expect(pt.isValidated(mfn(1))).toBe(false);
    expect(pt.typeCount(mfn(2))).toBe(1); // still referenced by the new L4
    expect(pt.typeCount(mfn(8))).toBe(2);
    // The old L4 is now an ordinary frame: it may be mapped writable.
    expect(mmuUpdate([[ma(4, 1), pte(1, P | RW | A)]])).toBe(0);
    expect(pt.typeOf(mfn(1))).toBe(PGT_writable);
  });
});

// ---------------------------------------------------------------- mmu_update

describe('mmu_update', () => {
  it('MMU_NORMAL_PT_UPDATE validates, writes, counts and is seen by the TLB', () => {
    expect(mmuUpdate([[ma(4, 0), pte(30, P | RW)]])).toBe(0);
    expect(done()).toBe(1);
    expect(rd(4, 0)).toBe(kernelL1(30, P | RW));
    expect(pt.typeCount(mfn(30))).toBe(2);
    expect(load(v, 0)).toBe(tag(30));
    // Replace a present mapping after it was cached in both vCPUs' TLBs.
    expect(load(v, va(21))).toBe(tag(21));
    expect(load(v1, va(21))).toBe(tag(21));
    expect(mmuUpdate([[ma(4, 21), pte(22, P | RW | A) | NX]])).toBe(0);
    expect(load(v, va(21))).toBe(tag(22));
    expect(load(v1, va(21))).toBe(tag(22));
    expect(pt.typeCount(mfn(21))).toBe(0);
    expect(pt.typeCount(mfn(22))).toBe(2);
    // Clearing it drops the reference.
    expect(mmuUpdate([[ma(4, 21), 0n]])).toBe(0);
    expect(pt.typeCount(mfn(22))).toBe(1);
    expect(() => load(v, va(21))).toThrow();
  });

  it('MMU_PT_UPDATE_PRESERVE_AD keeps the accessed and dirty bits', () => {
    wr(4, 30, pte(30, P | RW | A | D)); // as the MMU would have set them
    expect(mmuUpdate([[ma(4, 30) | BigInt(MMU_PT_UPDATE_PRESERVE_AD), pte(30, P)]])).toBe(0);
    expect(rd(4, 30)).toBe(kernelL1(30, P | A | D));
    expect(pt.typeCount(mfn(30))).toBe(0); // now read-only
    expect(mmuUpdate([[ma(4, 31) | BigInt(MMU_NORMAL_PT_UPDATE), pte(31, P)]])).toBe(0);
    expect(rd(4, 31)).toBe(kernelL1(31, P)); // A dropped without PRESERVE_AD
  });

  it('MMU_MACHPHYS_UPDATE sets the M2P for an owned frame only', () => {
    expect(mmuUpdate([[(BigInt(mfn(40)) << 12n) | BigInt(MMU_MACHPHYS_UPDATE), 0x1234n]])).toBe(0);
    expect(d.memory.m2p(mfn(40))).toBe(0x1234);
    expect(mmuUpdate([[(BigInt(mfn(40)) << 12n) | 1n, 0xffffffffffffffffn]])).toBe(0);
    expect(d.memory.m2p(mfn(40))).toBe(-1);
    expect(mmuUpdate([[(BigInt(d.sharedInfoMfn) << 12n) | 1n, 7n]])).toBe(0); // a special frame is the domain's
    expect(mmuUpdate([[(0x300005n << 12n) | 1n, 5n]])).toBe(-XEN_EINVAL);
  });

  it('a frame that is not an in-use table gets a plain store (unpinned tables are ordinary memory)', () => {
    expect(mmuUpdate([[ma(50, 3), 0x1122334455667788n]])).toBe(0);
    expect(rd(50, 3)).toBe(0x1122334455667788n);
    // Even a "PTE" that would be refused in a table: the frame is not one.
    expect(mmuUpdate([[ma(6, 0), pte(4, P | RW)]])).toBe(0);
    expect(rd(6, 0)).toBe(pte(4, P | RW));
    expect(pt.typeCount(mfn(4))).toBe(1);
  });

  it('stops at the first failure and reports how many succeeded', () => {
    const rc = mmuUpdate([
      [ma(4, 0), pte(30, P | RW)],
      [ma(4, 1), pte(4, P | RW)], // writable mapping of the L1 itself
      [ma(4, 2), 0n],
    ]);
    expect(rc).toBe(-XEN_EBUSY);
    expect(done()).toBe(1);
    expect(rd(4, 2)).toBe(kernelL1(2, P | A)); // untouched
  });

  it('bad commands, buffers and foreign domains', () => {
    expect(mmuUpdate([[ma(4, 0) | 5n, 0n]])).toBe(-XEN_ENOSYS);
    expect(mmuUpdate([[ma(4, 0), 0n]], d.id)).toBe(-XEN_ESRCH);
    expect(mmuUpdate([[ma(4, 0), 0n]], 7)).toBe(-XEN_EPERM);
    expect(mmuUpdate([[ma(4, 0), 0n]], DOMID_IO)).toBe(-XEN_EPERM);
    expect(call(v, HYPERVISOR.mmu_update, 0x200000, 1, 0, DOMID_SELF)).toBe(-XEN_EFAULT); // unmapped
    expect(call(v, HYPERVISOR.mmu_update, 0x800000000000n, 1, 0, DOMID_SELF)).toBe(-XEN_EFAULT); // non-canonical
    expect(mmuUpdate([[(0x300000n << 12n), 0n]])).toBe(-XEN_EINVAL); // table frame not ours
    expect(mmuUpdate([[(BigInt(d.sharedInfoMfn) << 12n), 0n]])).toBe(-XEN_EINVAL); // not RAM
  });

  describe('hostile updates get Xen\'s errno', () => {
    it('a writable mapping of a pinned table: -EBUSY', () => {
      expect(mmuUpdate([[ma(4, 0), pte(4, P | RW)]])).toBe(-XEN_EBUSY); // the L1 itself
      expect(mmuUpdate([[ma(4, 0), pte(3, P | RW)]])).toBe(-XEN_EBUSY); // the L2
      expect(mmuUpdate([[ma(4, 0), pte(4, P)]])).toBe(0); // read-only is fine
    });

    it('a writable mapping of the L4 itself: -EBUSY', () => {
      expect(mmuUpdate([[ma(4, 0), pte(1, P | RW | A)]])).toBe(-XEN_EBUSY);
      expect(rd(4, 0)).toBe(0n);
    });

    it('a PTE naming a foreign, non-existent or invalid MFN', () => {
      expect(mmuUpdate([[ma(4, 0), (0x300005n << 12n) | P]])).toBe(-XEN_EBUSY); // another domain's RAM
      expect(mmuUpdate([[ma(4, 0), (BigInt(base + d.memory.m2pBase) << 12n) | P]])).toBe(-XEN_EBUSY); // Xen's M2P
      expect(mmuUpdate([[ma(4, 0), (1n << 42n) | P]])).toBe(-XEN_EPERM); // no RAM there: MMIO
      expect(mmuUpdate([[ma(4, 0), (0xffffffffffn << 12n) | P]])).toBe(-XEN_EINVAL); // INVALID_MFN
      expect(mmuUpdate([[ma(3, 1), (0x300005n << 12n) | UPPER]])).toBe(-XEN_EINVAL); // as an L2 entry
      expect(mmuUpdate([[ma(4, 0), (BigInt(d.sharedInfoMfn) << 12n) | P | RW]])).toBe(0); // shared_info is fine
    });

    it('an entry in the Xen range: -EINVAL', () => {
      expect(mmuUpdate([[ma(1, 256), pte(2, UPPER)]])).toBe(-XEN_EINVAL);
      expect(mmuUpdate([[ma(1, 271), 0n]])).toBe(-XEN_EINVAL);
      expect(call(v, HYPERVISOR.update_va_mapping, 0xffff800000001000n, pte(30, P), UVMF_INVLPG)).toBe(-XEN_EINVAL);
    });

    it('an L2 entry that points at an L4 (or any wrong level): -EINVAL', () => {
      expect(mmuUpdate([[ma(3, 1), pte(1, UPPER)]])).toBe(-XEN_EINVAL);
      expect(mmuUpdate([[ma(3, 1), pte(3, UPPER & ~RW)]])).toBe(-XEN_EINVAL); // linear (self) map: not supported
      expect(mmuUpdate([[ma(2, 1), pte(4, UPPER)]])).toBe(-XEN_EINVAL); // L3 → L1
    });

    it('superpages and disallowed bits: -EINVAL', () => {
      expect(mmuUpdate([[ma(3, 1), pte(5, UPPER | PSE)]])).toBe(-XEN_EINVAL);
      expect(mmuUpdate([[ma(2, 1), pte(5, UPPER | PSE)]])).toBe(-XEN_EINVAL);
      expect(mmuUpdate([[ma(3, 1), pte(5, UPPER | G)]])).toBe(-XEN_EINVAL);
      expect(mmuUpdate([[ma(3, 1), pte(5, UPPER | PCD)]])).toBe(-XEN_EINVAL);
      expect(mmuUpdate([[ma(4, 0), pte(30, P | PSE)]])).toBe(-XEN_EINVAL); // PAT in an L1
      expect(mmuUpdate([[ma(4, 0), pte(30, P | PWT)]])).toBe(-XEN_EINVAL);
      expect(mmuUpdate([[ma(4, 0), pte(30, P) | GNTTAB]])).toBe(-XEN_EINVAL);
      expect(mmuUpdate([[ma(4, 0), pte(30, P | G) | NX | (0x7fn << 52n)]])).toBe(0); // G, NX, AVAIL_HIGH allowed
      // Nothing is checked in a non-present entry.
      expect(mmuUpdate([[ma(4, 0), 0xfffffffffffffffen]])).toBe(0);
    });

    it('typing a frame as a table while a writable mapping of it exists: -EINVAL', () => {
      expect(mmuUpdate([[ma(4, 5), pte(5, P | RW)]])).toBe(0);
      expect(mmuext([[MMUEXT_PIN_L1_TABLE, mfn(5)]])).toBe(-XEN_EINVAL);
      expect(mmuUpdate([[ma(3, 1), pte(5, UPPER)]])).toBe(-XEN_EINVAL);
      expect(mmuUpdate([[ma(4, 5), pte(5, P)]])).toBe(0);
      expect(mmuext([[MMUEXT_PIN_L1_TABLE, mfn(5)]])).toBe(0);
    });
  });

  it('a new L2 entry validates its L1 and keeps it referenced', () => {
    wr(5, 0, pte(40, P | RW));
    expect(mmuUpdate([[ma(3, 1), pte(5, UPPER)]])).toBe(0);
    expect([pt.typeOf(mfn(5)), pt.typeCount(mfn(5))]).toEqual([PGT_l1, 1]);
    expect(load(v, 0x200000)).toBe(tag(40));
    expect(mmuUpdate([[ma(3, 1), 0n]])).toBe(0);
    expect(pt.typeCount(mfn(5))).toBe(0);
    expect(pt.typeCount(mfn(40))).toBe(1); // only the main L1's mapping left
  });
});

// ---------------------------------------------------------------- update_va_mapping

describe('update_va_mapping', () => {
  it('writes the L1 entry mapping va in the current kernel tables', () => {
    expect(call(v, HYPERVISOR.update_va_mapping, 0, pte(60, P | RW), UVMF_INVLPG)).toBe(0);
    expect(rd(4, 0)).toBe(kernelL1(60, P | RW));
    expect(load(v, 0)).toBe(tag(60));
    // A present mapping changed with UVMF_NONE: still never stale in our TLB.
    expect(load(v1, va(61))).toBe(tag(61));
    expect(call(v, HYPERVISOR.update_va_mapping, va(61), pte(62, P), UVMF_NONE)).toBe(0);
    expect(load(v1, va(61))).toBe(tag(62));
    expect(pt.typeCount(mfn(61))).toBe(0);
    expect(call(v, HYPERVISOR.update_va_mapping, va(61), pte(62, P), UVMF_TLB_FLUSH | UVMF_ALL)).toBe(0);
  });

  it('flags may be a pointer to a vCPU mask', () => {
    wr(MASK, 0, 3n);
    expect(call(v, HYPERVISOR.update_va_mapping, 0, pte(60, P), BigInt(va(MASK)) | BigInt(UVMF_INVLPG))).toBe(0);
    expect(call(v, HYPERVISOR.update_va_mapping, 0, pte(60, P), 0x200000n | BigInt(UVMF_TLB_FLUSH))).toBe(-XEN_EFAULT);
  });

  it('-EINVAL when no L1 maps va, and the usual checks on the PTE', () => {
    expect(call(v, HYPERVISOR.update_va_mapping, 0x40000000, pte(60, P), UVMF_INVLPG)).toBe(-XEN_EINVAL);
    expect(call(v, HYPERVISOR.update_va_mapping, 0x8000000000n, pte(60, P), UVMF_INVLPG)).toBe(-XEN_EINVAL);
    expect(call(v, HYPERVISOR.update_va_mapping, 0, pte(3, P | RW), UVMF_INVLPG)).toBe(-XEN_EBUSY);
    expect(call(v, HYPERVISOR.update_va_mapping, 0, pte(60, P | PCD), UVMF_INVLPG)).toBe(-XEN_EINVAL);
  });

  it('update_va_mapping_otherdomain: only DOMID_SELF', () => {
    expect(call(v, HYPERVISOR.update_va_mapping_otherdomain, 0, pte(60, P), UVMF_INVLPG, DOMID_SELF)).toBe(0);
    expect(call(v, HYPERVISOR.update_va_mapping_otherdomain, 0, pte(60, P), UVMF_INVLPG, 0)).toBe(-XEN_EPERM);
    expect(call(v, HYPERVISOR.update_va_mapping_otherdomain, 0, pte(60, P), UVMF_INVLPG, d.id)).toBe(-XEN_ESRCH);
  });
});

// ---------------------------------------------------------------- mmuext_op

describe('mmuext_op', () => {
  it('PIN_L1..L4 validate recursively; UNPIN releases recursively', () => {
    // A second tree: L4 pfn 8 → L3 pfn 7 → L2 pfn 6 → L1 pfn 5 → pfn 40 (rw) and pfn 9 (ro).
    wr(8, 3, pte(7, UPPER));
    wr(7, 0, pte(6, UPPER));
    wr(6, 0, pte(5, UPPER));
    wr(5, 0, pte(40, P | RW));
    wr(5, 1, pte(9, P));
    expect(mmuext([[MMUEXT_PIN_L4_TABLE, mfn(8)]])).toBe(0);
    expect([8, 7, 6, 5].map((p) => pt.typeOf(mfn(p)))).toEqual([PGT_l4, PGT_l3, PGT_l2, PGT_l1]);
    expect([8, 7, 6, 5].map((p) => pt.typeCount(mfn(p)))).toEqual([1, 1, 1, 1]);
    expect(pt.typeCount(mfn(40))).toBe(2);
    // Pin the middle levels too: counts go up, no revalidation.
    expect(mmuext([[MMUEXT_PIN_L3_TABLE, mfn(7)], [MMUEXT_PIN_L2_TABLE, mfn(6)], [MMUEXT_PIN_L1_TABLE, mfn(5)]])).toBe(0);
    expect(done()).toBe(3);
    expect([7, 6, 5].map((p) => pt.typeCount(mfn(p)))).toEqual([2, 2, 2]);
    // Pinning at the wrong level: -EINVAL.
    expect(mmuext([[MMUEXT_PIN_L2_TABLE, mfn(5)]])).toBe(-XEN_EINVAL);
    expect(mmuext([[MMUEXT_UNPIN_TABLE, mfn(8)]])).toBe(0);
    expect(pt.typeCount(mfn(8))).toBe(0);
    // The L3 lost the L4's reference; the pinned L3 still holds the L2, which holds the L1.
    expect([7, 6, 5].map((p) => pt.typeCount(mfn(p)))).toEqual([1, 2, 2]);
    expect(mmuext([[MMUEXT_UNPIN_TABLE, mfn(7)], [MMUEXT_UNPIN_TABLE, mfn(6)], [MMUEXT_UNPIN_TABLE, mfn(5)]])).toBe(0);
    expect([7, 6, 5].map((p) => pt.typeCount(mfn(p)))).toEqual([0, 0, 0]);
    expect(pt.typeCount(mfn(40))).toBe(1);
  });

  it('double pin, unpin of an unpinned frame, frames not owned: -EINVAL', () => {
    expect(mmuext([[MMUEXT_PIN_L1_TABLE, mfn(5)]])).toBe(0);
    expect(mmuext([[MMUEXT_PIN_L1_TABLE, mfn(5)]])).toBe(-XEN_EINVAL);
    expect(pt.typeCount(mfn(5))).toBe(1);
    expect(mmuext([[MMUEXT_UNPIN_TABLE, mfn(5)]])).toBe(0);
    expect(mmuext([[MMUEXT_UNPIN_TABLE, mfn(5)]])).toBe(-XEN_EINVAL);
    expect(mmuext([[MMUEXT_UNPIN_TABLE, mfn(3)]])).toBe(-XEN_EINVAL); // in use but not pinned
    expect(mmuext([[MMUEXT_PIN_L1_TABLE, 0x300005]])).toBe(-XEN_EINVAL);
    expect(mmuext([[MMUEXT_PIN_L1_TABLE, d.sharedInfoMfn]])).toBe(-XEN_EINVAL);
  });

  it('pin of a table containing a writable self-mapping fails and leaves no type behind', () => {
    wr(5, 7, pte(5, P | RW));
    expect(mmuext([[MMUEXT_PIN_L1_TABLE, mfn(5)]])).toBe(-XEN_EBUSY); // get_page_from_l1e: could not pin
    expect([pt.typeOf(mfn(5)), pt.typeCount(mfn(5))]).toEqual([PGT_none, 0]);
    wr(8, 5, pte(8, UPPER));
    expect(mmuext([[MMUEXT_PIN_L4_TABLE, mfn(8)]])).toBe(-XEN_EINVAL); // an L4 is no L3
    // Deeper: an L2 whose L1 maps the L2 writable; everything validated so far is undone.
    wr(6, 0, pte(40, P | RW)); // (an L1 entry, harmless)
    wr(7, 0, pte(9, UPPER));
    wr(7, 1, pte(6, UPPER));
    wr(9, 0, pte(41, P | RW));
    wr(6, 0, pte(7, P | RW));
    expect(mmuext([[MMUEXT_PIN_L2_TABLE, mfn(7)]])).toBe(-XEN_EBUSY);
    expect([7, 9, 6].map((p) => pt.typeCount(mfn(p)))).toEqual([0, 0, 0]);
    expect(pt.typeCount(mfn(41))).toBe(1);
  });

  it('NEW_BASEPTR validates as L4 and holds a reference while installed', () => {
    wr(8, 0, pte(2, UPPER));
    expect(mmuext([[MMUEXT_NEW_BASEPTR, mfn(8)]])).toBe(0);
    expect(v.mmu.kernelRoot).toBe(mfn(8));
    expect(pt.typeCount(mfn(8))).toBe(1);
    expect(pt.typeCount(mfn(1))).toBe(2);
    expect(pt.typeCount(mfn(2))).toBe(2);
    expect(load(v, va(20))).toBe(tag(20));
    expect(mmuext([[MMUEXT_NEW_BASEPTR, mfn(8)]])).toBe(0); // same root: just a reload
    expect(pt.typeCount(mfn(8))).toBe(1);
    // Not an L4, or not a valid one: -EINVAL, nothing changes.
    expect(mmuext([[MMUEXT_NEW_BASEPTR, mfn(4)]])).toBe(-XEN_EINVAL);
    expect(mmuext([[MMUEXT_NEW_BASEPTR, mfn(20)]])).toBe(-XEN_EINVAL); // mapped writable
    expect(mmuext([[MMUEXT_NEW_BASEPTR, 0]])).toBe(-XEN_EINVAL);
    expect(v.mmu.kernelRoot).toBe(mfn(8));
  });

  it('NEW_USER_BASEPTR installs and removes the user root', () => {
    wr(9, 0, pte(2, UPPER));
    expect(mmuext([[MMUEXT_NEW_USER_BASEPTR, mfn(9)]])).toBe(0);
    expect(v.mmu.userRoot).toBe(mfn(9));
    expect([pt.typeOf(mfn(9)), pt.typeCount(mfn(9))]).toEqual([PGT_l4, 1]);
    expect(mmuext([[MMUEXT_NEW_USER_BASEPTR, 0]])).toBe(0);
    expect(v.mmu.userRoot).toBe(0);
    expect(pt.typeCount(mfn(9))).toBe(0);
    expect(mmuext([[MMUEXT_NEW_USER_BASEPTR, mfn(20)]])).toBe(-XEN_EINVAL);
  });

  it('TLB flushes and invalidations: local, multi and all', () => {
    const stale = (): void => {
      // Change the PTE behind the TLB's back (the hypervisor's own store).
      wr(4, 21, pte(22, P | RW | A | US) | GUEST_KERNEL);
    };
    const reset = (): void => {
      wr(4, 21, pte(21, P | RW | A | US) | GUEST_KERNEL);
      v.mmu.flush();
      v1.mmu.flush();
      expect(load(v, va(21))).toBe(tag(21));
      expect(load(v1, va(21))).toBe(tag(21));
      stale();
      expect(load(v, va(21))).toBe(tag(21)); // cached
    };
    reset();
    expect(mmuext([[MMUEXT_INVLPG_LOCAL, va(21)]])).toBe(0);
    expect(load(v, va(21))).toBe(tag(22));
    expect(load(v1, va(21))).toBe(tag(21));
    reset();
    expect(mmuext([[MMUEXT_TLB_FLUSH_LOCAL, 0]])).toBe(0);
    expect([load(v, va(21)), load(v1, va(21))]).toEqual([tag(22), tag(21)]);
    reset();
    wr(MASK, 0, 2n);
    expect(mmuext([[MMUEXT_INVLPG_MULTI, va(21), va(MASK)]])).toBe(0);
    expect([load(v, va(21)), load(v1, va(21))]).toEqual([tag(21), tag(22)]);
    reset();
    expect(mmuext([[MMUEXT_TLB_FLUSH_MULTI, 0, va(MASK)]])).toBe(0);
    expect([load(v, va(21)), load(v1, va(21))]).toEqual([tag(21), tag(22)]);
    reset();
    expect(mmuext([[MMUEXT_INVLPG_ALL, va(21)]])).toBe(0);
    expect([load(v, va(21)), load(v1, va(21))]).toEqual([tag(22), tag(22)]);
    reset();
    expect(mmuext([[MMUEXT_TLB_FLUSH_ALL, 0]])).toBe(0);
    expect([load(v, va(21)), load(v1, va(21))]).toEqual([tag(22), tag(22)]);
    expect(mmuext([[MMUEXT_TLB_FLUSH_MULTI, 0, 0x200000]])).toBe(-XEN_EINVAL); // unreadable mask
  });

  it('FLUSH_CACHE needs a permission a domU lacks', () => {
    expect(mmuext([[MMUEXT_FLUSH_CACHE, 0]])).toBe(-XEN_EACCES);
  });

  it('SET_LDT checks its arguments', () => {
    expect(mmuext([[MMUEXT_SET_LDT, 0x30000, 10]])).toBe(0);
    expect([v.ldtBase, v.ldtEntries]).toEqual([0x30000, 10]);
    expect(mmuext([[MMUEXT_SET_LDT, 0x30000, 8193]])).toBe(-XEN_EINVAL);
    expect(mmuext([[MMUEXT_SET_LDT, 0x30008, 1]])).toBe(-XEN_EINVAL);
    expect(mmuext([[MMUEXT_SET_LDT, 0xffff800000000000n, 1]])).toBe(-XEN_EINVAL);
    expect(mmuext([[MMUEXT_SET_LDT, 0x123, 0]])).toBe(0);
    expect([v.ldtBase, v.ldtEntries]).toEqual([0, 0]);
  });

  it('CLEAR_PAGE and COPY_PAGE need a frame that can be writable', () => {
    d.memory.ram.fill(0xaa, 50 * 4096, 51 * 4096);
    expect(mmuext([[MMUEXT_CLEAR_PAGE, mfn(50)]])).toBe(0);
    expect(d.memory.ram.subarray(50 * 4096, 51 * 4096).every((b) => b === 0)).toBe(true);
    expect(mmuext([[MMUEXT_COPY_PAGE, mfn(50), mfn(51)]])).toBe(0);
    expect(rd(50, 0)).toBe(tag(51));
    expect(mmuext([[MMUEXT_COPY_PAGE, mfn(5), mfn(4)]])).toBe(0); // from a table is fine
    expect(mmuext([[MMUEXT_CLEAR_PAGE, mfn(4)]])).toBe(-XEN_EINVAL);
    expect(mmuext([[MMUEXT_COPY_PAGE, mfn(3), mfn(51)]])).toBe(-XEN_EINVAL);
    expect(mmuext([[MMUEXT_CLEAR_PAGE, 0x300005]])).toBe(-XEN_EINVAL);
    expect(mmuext([[MMUEXT_COPY_PAGE, mfn(52), 0x300005]])).toBe(-XEN_EINVAL);
    expect(pt.typeCount(mfn(50))).toBe(1);
  });

  it('superpage marking is not supported; unknown commands are -ENOSYS', () => {
    expect(mmuext([[MMUEXT_MARK_SUPER, mfn(50)]])).toBe(-XEN_EOPNOTSUPP);
    expect(mmuext([[MMUEXT_UNMARK_SUPER, mfn(50)]])).toBe(-XEN_EOPNOTSUPP);
    expect(mmuext([[14, 0]])).toBe(-XEN_ENOSYS);
  });

  it('stops at the first failure; foreign domains are refused', () => {
    expect(mmuext([[MMUEXT_TLB_FLUSH_LOCAL, 0], [MMUEXT_UNPIN_TABLE, mfn(5)], [MMUEXT_PIN_L1_TABLE, mfn(5)]])).toBe(-XEN_EINVAL);
    expect(done()).toBe(1);
    expect(pt.isPinned(mfn(5))).toBe(false);
    expect(mmuext([[MMUEXT_TLB_FLUSH_LOCAL, 0]], d.id)).toBe(-XEN_ESRCH);
    expect(mmuext([[MMUEXT_TLB_FLUSH_LOCAL, 0]], DOMID_IO)).toBe(-XEN_EINVAL);
    expect(mmuext([[MMUEXT_TLB_FLUSH_LOCAL, 0]], 0)).toBe(-XEN_EPERM);
    expect(call(v, HYPERVISOR.mmuext_op, 0x200000, 1, 0, DOMID_SELF)).toBe(-XEN_EFAULT);
  });
});

// ---------------------------------------------------------------- vm_assist

describe('vm_assist', () => {
  it('enables and disables the PV64 types, refuses the rest', () => {
    expect(call(v, HYPERVISOR.vm_assist, 0, VMASST_TYPE_writable_pagetables)).toBe(0);
    expect(vmAssistEnabled(d, VMASST_TYPE_writable_pagetables)).toBe(true);
    expect(d.vmAssist & 4).toBe(4);
    for (const t of [0, 1, 3, 4, 5]) expect(call(v, HYPERVISOR.vm_assist, 0, t)).toBe(0);
    expect(call(v, HYPERVISOR.vm_assist, 0, VMASST_TYPE_m2p_strict)).toBe(0);
    expect(vmAssistEnabled(d, VMASST_TYPE_m2p_strict)).toBe(true);
    expect(d.vmAssist).toBe(2 ** 32 + 0x3f);
    expect(call(v, HYPERVISOR.vm_assist, 1, VMASST_TYPE_writable_pagetables)).toBe(0);
    expect(vmAssistEnabled(d, VMASST_TYPE_writable_pagetables)).toBe(false);
    expect(vmAssistEnabled(d, VMASST_TYPE_m2p_strict)).toBe(true);
    expect(call(v, HYPERVISOR.vm_assist, 1, VMASST_TYPE_m2p_strict)).toBe(0);
    expect(d.vmAssist).toBe(0x3b);
    expect(call(v, HYPERVISOR.vm_assist, 0, 6)).toBe(-XEN_EINVAL);
    expect(call(v, HYPERVISOR.vm_assist, 0, 64)).toBe(-XEN_EINVAL);
    expect(call(v, HYPERVISOR.vm_assist, 2, 2)).toBe(-XEN_ENOSYS);
  });
});

// ---------------------------------------------------------------- writable page tables

describe('writable page tables (a guest store into a read-only table)', () => {
  /** Put `code` at pfn CODE and point RIP at it. */
  function code(bytes: number[]): void {
    d.memory.ram.set(bytes, CODE * 4096);
    v.cpu.setRip(va(CODE), 0);
  }
  const setReg = (r: number, x: bigint): void => v.cpu.setReg64n(r, BigInt.asUintN(64, x));

  beforeEach(() => {
    expect(call(v, HYPERVISOR.vm_assist, 0, VMASST_TYPE_writable_pagetables)).toBe(0);
    v.online = true;
  });

  it('mov [rdi], rax into an L1 installs a validated PTE the TLB then sees', () => {
    code([0x48, 0x89, 0x07, 0xeb, 0xfe]); // mov [rdi], rax; jmp $
    setReg(RDI, BigInt(va(4))); // L1 entry 0 (VA 0, not present)
    setReg(RAX, pte(80, P | RW | A));
    expect(() => load(v, 0)).toThrow();
    v.run(20);
    expect(d.isShutdown).toBe(false);
    expect(v.cpu.ripLo).toBe(va(CODE) + 3);
    expect(rd(4, 0)).toBe(kernelL1(80, P | RW | A));
    expect(pt.typeCount(mfn(80))).toBe(2);
    expect(load(v, 0)).toBe(tag(80));
  });

  it('replacing a present (cached) mapping is seen at once', () => {
    expect(load(v, va(21))).toBe(tag(21));
    expect(load(v1, va(21))).toBe(tag(21));
    code([0x48, 0x89, 0x07]);
    setReg(RDI, BigInt(va(4) + 21 * 8));
    setReg(RAX, pte(22, P | A));
    expect(v.cpu.step()).toBe(Exit.Exception);
    expect(emulatePageTableWrite(v)).toBe(true);
    expect(load(v, va(21))).toBe(tag(22));
    expect(load(v1, va(21))).toBe(tag(22));
    expect(pt.typeCount(mfn(21))).toBe(0);
  });

  it('an invalid value is refused: memory, registers and the #PF are left as they were', () => {
    code([0x48, 0x89, 0x07]);
    const target = va(4) + 33 * 8;
    setReg(RDI, BigInt(target));
    setReg(RAX, pte(3, P | RW)); // a writable mapping of the L2
    const before = rd(4, 33);
    expect(v.cpu.step()).toBe(Exit.Exception);
    expect(v.cpu.excVector).toBe(PF_VEC);
    expect(v.cpu.excCode & (PFEC_P | PFEC_W)).toBe(PFEC_P | PFEC_W);
    expect(emulatePageTableWrite(v)).toBe(false);
    expect(rd(4, 33)).toBe(before);
    expect(v.cpu.ripLo).toBe(va(CODE));
    expect(v.cpu.excVector).toBe(PF_VEC);
    expect(v.cpu.cr2[0]).toBe(target);
    expect(pt.typeCount(mfn(3))).toBe(1);
    expect(() => load(v, target)).not.toThrow();
    // PSE in an L1 entry (PAT), a foreign frame: refused too.
    for (const bad of [pte(30, P | PSE), (0x300005n << 12n) | P]) {
      setReg(RAX, bad);
      expect(v.cpu.step()).toBe(Exit.Exception);
      expect(emulatePageTableWrite(v)).toBe(false);
      expect(rd(4, 33)).toBe(before);
    }
  });

  it('xchg, a 4-byte half store and lock btr are emulated too', () => {
    code([0x48, 0x87, 0x07]); // xchg [rdi], rax
    setReg(RDI, BigInt(va(4) + 40 * 8));
    setReg(RAX, pte(41, P | A));
    const old = rd(4, 40);
    expect(v.cpu.step()).toBe(Exit.Exception);
    expect(emulatePageTableWrite(v)).toBe(true);
    expect(v.cpu.getReg64n(RAX)).toBe(old);
    expect(rd(4, 40)).toBe(kernelL1(41, P | A));
    // Set NX with a 4-byte store to the high half.
    code([0x89, 0x07]); // mov [rdi], eax
    setReg(RDI, BigInt(va(4) + 40 * 8 + 4));
    setReg(RAX, (kernelL1(41, P | A) | NX) >> 32n);
    expect(v.cpu.step()).toBe(Exit.Exception);
    expect(emulatePageTableWrite(v)).toBe(true);
    expect(rd(4, 40)).toBe(kernelL1(41, P | A) | NX);
    // Clear the accessed bit the way Linux ages pages.
    code([0xf0, 0x48, 0x0f, 0xba, 0x37, 0x05]); // lock btr qword [rdi], 5
    setReg(RDI, BigInt(va(4) + 40 * 8));
    expect(v.cpu.step()).toBe(Exit.Exception);
    expect(emulatePageTableWrite(v)).toBe(true);
    expect(rd(4, 40)).toBe(kernelL1(41, P) | NX);
  });

  it('upper-level tables are handled, but never an L4\'s Xen slots', () => {
    wr(5, 0, pte(90, P | RW));
    code([0x48, 0x89, 0x07]);
    setReg(RDI, BigInt(va(3) + 8)); // L2 entry 1
    setReg(RAX, pte(5, UPPER));
    expect(v.cpu.step()).toBe(Exit.Exception);
    expect(emulatePageTableWrite(v)).toBe(true);
    expect(pt.typeOf(mfn(5))).toBe(PGT_l1);
    expect(load(v, 0x200000)).toBe(tag(90));
    code([0x48, 0x89, 0x07]);
    setReg(RDI, BigInt(va(1) + 256 * 8));
    setReg(RAX, pte(2, UPPER));
    expect(v.cpu.step()).toBe(Exit.Exception);
    expect(emulatePageTableWrite(v)).toBe(false);
    expect(rd(1, 256)).toBe(0n);
  });

  it('not emulated: without the VM assist, for ordinary read-only pages, or in guest-user mode', () => {
    code([0x48, 0x89, 0x07]);
    setReg(RDI, BigInt(va(10))); // read-only but not a table
    setReg(RAX, 1n);
    expect(v.cpu.step()).toBe(Exit.Exception);
    expect(emulatePageTableWrite(v)).toBe(false);
    expect(rd(10, 0)).toBe(0n);
    expect(call(v, HYPERVISOR.vm_assist, 1, VMASST_TYPE_writable_pagetables)).toBe(0);
    code([0x48, 0x89, 0x07]);
    setReg(RDI, BigInt(va(4)));
    setReg(RAX, pte(80, P));
    expect(v.cpu.step()).toBe(Exit.Exception);
    expect(emulatePageTableWrite(v)).toBe(false);
    expect(rd(4, 0)).toBe(0n);
    // Guest-user mode (the user root maps the same tables, every level has U after validation).
    expect(call(v, HYPERVISOR.vm_assist, 0, VMASST_TYPE_writable_pagetables)).toBe(0);
    expect(installUserRoot(v, mfn(1))).toBe(0);
    v.mmu.setKernelMode(false);
    code([0x48, 0x89, 0x07]);
    setReg(RDI, BigInt(va(4)));
    setReg(RAX, pte(80, P));
    expect(v.cpu.step()).toBe(Exit.Exception);
    expect(v.cpu.excCode & (PFEC_U | PFEC_P | PFEC_W)).toBe(PFEC_U | PFEC_P | PFEC_W);
    expect(emulatePageTableWrite(v)).toBe(false);
    expect(rd(4, 0)).toBe(0n);
    v.mmu.setKernelMode(true);
    expect(v.cpu.step()).toBe(Exit.Exception);
    expect(emulatePageTableWrite(v)).toBe(true);
    expect(rd(4, 0)).toBe(kernelL1(80, P));
  });
});

describe('page-type state is per domain', () => {
  it('another domain has its own', () => {
    const other = new Domain({
      id: 2, name: 'other', nrPages: 64, maxPages: 64, vcpus: 1, consoleOut: () => {}, clockNs: () => 0, log: () => {},
    });
    expect(pageTypes(other.memory)).not.toBe(pt);
    expect(pageTypes(other.memory).typeOf(mfn(1))).toBe(-1);
    expect(pageTypes(d.memory)).toBe(pt);
    expect(PGT_l2).toBe(PGT_l1 + 1);
    expect(PGT_l3).toBe(PGT_l1 + 2);
  });
});
