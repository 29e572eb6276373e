/**
 * Grant tables v1 beyond setup: dom0's in-process map/unmap/copy
 * (src/devices/grant-access.ts) and the guest's GNTTABOP_copy /
 * map_grant_ref / unmap_grant_ref, with hostile requests answered as Xen
 * 4.17's common/grant_table.c answers them. GNTST_* values and struct
 * layouts are checked against xen/grant_table.h by test/hypercalls.test.ts
 * (test/native/hypercall-offsets.c).
 *
 * Two domains share a registry: A (d1) grants, B (d2) is the other guest.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { GrantAccess, grantStatusText, MAX_MAPTRACK_HANDLES, type GrantCopyOp, type GrantMapping } from '../src/devices/grant-access.ts';
import { DomainRegistry } from '../src/domains/registry.ts';
import { DOMID_SELF, HYPERVISOR, XEN_EFAULT, XEN_EINVAL } from '../src/hypercall/abi.ts';
import * as G from '../src/hypercall/grant.ts';
import { XENMEM, XEN_MEMORY_RESERVATION } from '../src/hypercall/memory.ts';
import { Xenjs } from '../src/index.ts';
import { portInfo } from '../src/hypercall/evtchn.ts';
import { pageTypes } from '../src/mmu/page-types.ts';
import { HOLE_VA, TestDomain, UNMAPPED_VA } from './helpers/pv-test-domain.ts';
import { tinyConfig } from './helpers/tiny-guest.ts';

const {
  GNTST_okay, GNTST_general_error, GNTST_bad_domain, GNTST_bad_gntref, GNTST_bad_handle, GNTST_bad_page,
  GNTST_bad_copy_arg, GNTST_permission_denied, GTF_permit_access, GTF_readonly, GTF_reading, GTF_writing,
  GTF_accept_transfer, GTF_sub_page, GNTCOPY_source_gref, GNTCOPY_dest_gref,
} = G;

let registry: DomainRegistry;
let A: TestDomain;
let B: TestDomain;
let grants: GrantAccess;

beforeEach(() => {
  registry = new DomainRegistry();
  A = new TestDomain({ id: 1, registry });
  B = new TestDomain({ id: 2, registry });
  grants = new GrantAccess(registry);
});

/** Domain `t` grants `ref` of its page `pfn` (or any MFN) to `domid`. */
function grant(t: TestDomain, ref: number, domid: number, frame: number, flags = GTF_permit_access): void {
  expect(G.setGrantEntry(t.d, ref, { flags, domid, frame })).toBe(true);
}
const flagsOf = (t: TestDomain, ref: number): number => G.grantEntry(t.d, ref)!.flags;
const fillPage = (t: TestDomain, pfn: number, byte: number): void => void t.page(pfn).fill(byte);
const mapped = (m: GrantMapping | number): GrantMapping => {
  if (typeof m === 'number') throw new Error(`map failed: ${m} (${grantStatusText(m)})`);
  return m;
};

// ---------------------------------------------------------------- dom0 map / unmap

describe('dom0 maps a guest grant', () => {
  it('gives a live view of the frame, flags GTF_reading/GTF_writing while mapped, clears them with the last unmap', () => {
    grant(A, 10, 0, A.mfn(100));
    fillPage(A, 100, 0x5a);
    const m = mapped(grants.map(A.id, 10));
    expect(m).toMatchObject({ domid: 1, ref: 10, readonly: false, mfn: A.mfn(100) });
    expect(m.bytes.length).toBe(4096);
    expect(m.bytes[123]).toBe(0x5a);
    m.bytes[7] = 0xa5;
    expect(A.page(100)[7]).toBe(0xa5); // the guest sees the backend's write
    A.page(100)[8] = 0x33;
    expect(m.bytes[8]).toBe(0x33); // and the backend the guest's
    expect(flagsOf(A, 10)).toBe(GTF_permit_access | GTF_reading | GTF_writing);

    const r = mapped(grants.map(A.id, 10, { readonly: true }));
    expect(r.handle).not.toBe(m.handle);
    expect(grants.mapped).toBe(2);
    expect(grants.unmap(m)).toBe(GNTST_okay);
    expect(flagsOf(A, 10)).toBe(GTF_permit_access | GTF_reading); // a reader is left
    expect(grants.unmap(r.handle)).toBe(GNTST_okay);
    expect(flagsOf(A, 10)).toBe(GTF_permit_access);
    expect(G.grantPinCount(A.d, 10)).toBe(0);
    expect(grants.mapped).toBe(0);
  });

  it('unmap twice, unknown handles and stale mapping objects are GNTST_bad_handle', () => {
    grant(A, 10, 0, A.mfn(100));
    const m = mapped(grants.map(A.id, 10));
    expect(grants.unmap(m)).toBe(GNTST_okay);
    expect(grants.unmap(m)).toBe(GNTST_bad_handle);
    expect(grants.unmap(m.handle)).toBe(GNTST_bad_handle);
    for (const h of [-1, 1.5, 99, 2 ** 32, NaN]) expect(grants.unmap(h)).toBe(GNTST_bad_handle);
    // The handle is reused by the next mapping: the old object must not unmap it.
    const n = mapped(grants.map(A.id, 10, { readonly: true }));
    expect(n.handle).toBe(m.handle);
    expect(grants.unmap(m)).toBe(GNTST_bad_handle);
    expect(flagsOf(A, 10)).toBe(GTF_permit_access | GTF_reading);
    expect(grants.unmap(n)).toBe(GNTST_okay);
  });

  it('a grant for another domain is refused (entry domid must be 0), and the entry is left untouched', () => {
    grant(A, 11, B.id, A.mfn(101));
    expect(grants.map(A.id, 11)).toBe(GNTST_general_error);
    expect(grants.map(A.id, 11, { readonly: true })).toBe(GNTST_general_error);
    expect(flagsOf(A, 11)).toBe(GTF_permit_access);
    expect(G.grantPinCount(A.d, 11)).toBe(0);
  });

  it('entries that grant no access are refused: invalid, accept_transfer, sub-page (for a mapping)', () => {
    grant(A, 12, 0, A.mfn(102), 0);
    grant(A, 13, 0, A.mfn(102), GTF_accept_transfer);
    grant(A, 14, 0, A.mfn(102), GTF_permit_access | GTF_sub_page);
    for (const ref of [12, 13, 14]) expect(grants.map(A.id, ref, { readonly: true })).toBe(GNTST_general_error);
    expect(grants.map(A.id, 20, { readonly: true })).toBe(GNTST_general_error); // never written: GTF_invalid
  });

  it('a writable map of a GTF_readonly grant is refused; a read-only map works', () => {
    grant(A, 15, 0, A.mfn(103), GTF_permit_access | GTF_readonly);
    expect(grants.map(A.id, 15)).toBe(GNTST_general_error);
    expect(flagsOf(A, 15)).toBe(GTF_permit_access | GTF_readonly);
    const r = mapped(grants.map(A.id, 15, { readonly: true }));
    expect(flagsOf(A, 15)).toBe(GTF_permit_access | GTF_readonly | GTF_reading);
    // Already pinned read-only: a writable map is still refused.
    expect(grants.map(A.id, 15)).toBe(GNTST_general_error);
    expect(grants.unmap(r)).toBe(GNTST_okay);
  });

  it('refs outside the table are GNTST_bad_gntref, unknown domains GNTST_bad_domain', () => {
    grant(A, 10, 0, A.mfn(100));
    for (const ref of [512, 100_000, -1, 1.5, 2 ** 32, NaN]) expect(grants.map(A.id, ref)).toBe(GNTST_bad_gntref);
    expect(G.ensureGrantFrames(A.d, 2)).toBeDefined();
    grant(A, 600, 0, A.mfn(100));
    expect(grants.unmap(mapped(grants.map(A.id, 600)))).toBe(GNTST_okay); // the grown table
    for (const dom of [7, DOMID_SELF, 0x7ff2, 70_000, -3]) expect(grants.map(dom, 10)).toBe(GNTST_bad_domain);
    expect(grants.map(0, 10)).toBe(GNTST_general_error); // dom0 itself grants nothing
  });

  it('a frame the granter does not own is GNTST_bad_page: another domain\'s, Xen\'s, released, or no RAM at all', () => {
    const frames = [
      B.mfn(100), // another domain's RAM
      A.d.sharedInfoMfn, // hypervisor-owned frames of A
      G.grantFrames(A.d)[0]!,
      A.d.memory.baseMfn + A.d.memory.m2pBase, // its read-only M2P
      0, 0xffffffff, A.mfn(4096), // nobody's
    ];
    frames.forEach((f, i) => grant(A, 30 + i, 0, f));
    for (let i = 0; i < frames.length; i++) {
      expect(grants.map(A.id, 30 + i, { readonly: true })).toBe(GNTST_bad_page);
      expect(grants.map(A.id, 30 + i)).toBe(GNTST_bad_page);
      expect(flagsOf(A, 30 + i)).toBe(GTF_permit_access); // no GTF_reading/writing left behind
    }
    expect(B.page(100).every((b) => b === 0)).toBe(true);

    // A frame given back with decrease_reservation is no longer A's to grant.
    grant(A, 40, 0, A.mfn(200));
    releaseFrame(A, 200);
    expect(grants.map(A.id, 40, { readonly: true })).toBe(GNTST_bad_page);
  });

  it('a page-table frame cannot be granted writable, and a frame mapped writable cannot become a page table', () => {
    const pt = pageTypes(A.d.memory);
    expect(pt.pin(A.mfn(300), 1)).toBe(0); // an L1 table
    grant(A, 50, 0, A.mfn(300));
    expect(grants.map(A.id, 50)).toBe(GNTST_general_error);
    expect(flagsOf(A, 50)).toBe(GTF_permit_access);
    const r = mapped(grants.map(A.id, 50, { readonly: true })); // reading a page table is fine
    expect(grants.unmap(r)).toBe(GNTST_okay);

    grant(A, 51, 0, A.mfn(301));
    const w = mapped(grants.map(A.id, 51));
    expect(pt.pin(A.mfn(301), 1)).toBeLessThan(0); // -EINVAL: it is a writable page now
    expect(grants.unmap(w)).toBe(GNTST_okay);
    expect(pt.pin(A.mfn(301), 1)).toBe(0);
  });

  it('a frame released while dom0 maps it is not handed out again until the unmap', () => {
    grant(A, 52, 0, A.mfn(302));
    const m = mapped(grants.map(A.id, 52, { readonly: true }));
    expect(pageTypes(A.d.memory).refs[302]).toBe(1);
    releaseFrame(A, 302);
    expect(populate(A, [302])).toEqual([]); // no frame free to give back
    expect(grants.unmap(m)).toBe(GNTST_okay);
    expect(populate(A, [302])).toEqual([A.mfn(302)]);
  });

  it('pin counts stop at Xen\'s limit (128 mappings of one grant), and the maptrack is bounded', () => {
    grant(A, 53, 0, A.mfn(303));
    const ms: GrantMapping[] = [];
    for (let i = 0; i < 128; i++) ms.push(mapped(grants.map(A.id, 53, { readonly: true })));
    expect(grants.map(A.id, 53, { readonly: true })).toBe(GNTST_general_error);
    for (const m of ms) expect(grants.unmap(m)).toBe(GNTST_okay);
    expect(flagsOf(A, 53)).toBe(GTF_permit_access);
    expect(MAX_MAPTRACK_HANDLES).toBe(262144);
  });

  it('a mapping outlives the granting domain\'s destruction and unmaps; new maps of it are GNTST_bad_domain', () => {
    grant(A, 10, 0, A.mfn(100));
    const m = mapped(grants.map(A.id, 10));
    registry.remove(A.d);
    expect(grants.map(A.id, 10)).toBe(GNTST_bad_domain);
    m.bytes[0] = 1;
    expect(grants.unmap(m)).toBe(GNTST_okay);
  });
});

// ---------------------------------------------------------------- dom0 copy

describe('dom0 copies', () => {
  it('from a grant into a buffer and from a buffer into a writable grant; statuses also in op.status', () => {
    grant(A, 10, 0, A.mfn(100), GTF_permit_access | GTF_readonly);
    grant(A, 11, 0, A.mfn(101));
    for (let i = 0; i < 4096; i++) A.page(100)[i] = i & 0xff;
    const buf = new Uint8Array(4096);
    const ops: GrantCopyOp[] = [
      { source: { ref: 10, domid: A.id, offset: 16 }, dest: { buffer: buf, offset: 0 }, len: 100, flags: GNTCOPY_source_gref },
      { source: { buffer: Uint8Array.of(9, 8, 7), offset: 0 }, dest: { ref: 11, domid: A.id, offset: 4093 }, len: 3, flags: GNTCOPY_dest_gref },
    ];
    expect(grants.copy(ops)).toEqual([GNTST_okay, GNTST_okay]);
    expect(ops.map((o) => o.status)).toEqual([GNTST_okay, GNTST_okay]);
    expect([...buf.subarray(0, 4)]).toEqual([16, 17, 18, 19]);
    expect(buf[99]).toBe(115);
    expect([...A.page(101).subarray(4093)]).toEqual([9, 8, 7]);
    expect(flagsOf(A, 10)).toBe(GTF_permit_access | GTF_readonly); // no pins left
    expect(flagsOf(A, 11)).toBe(GTF_permit_access);
  });

  it('between two guests\' grants (both given to dom0)', () => {
    grant(A, 10, 0, A.mfn(100), GTF_permit_access | GTF_readonly);
    grant(B, 20, 0, B.mfn(200));
    fillPage(A, 100, 0x77);
    const st = grants.copy([{ source: { ref: 10, domid: A.id, offset: 0 }, dest: { ref: 20, domid: B.id, offset: 0 }, len: 4096, flags: GNTCOPY_source_gref | GNTCOPY_dest_gref }]);
    expect(st).toEqual([GNTST_okay]);
    expect(B.page(200).every((b) => b === 0x77)).toBe(true);
  });

  it('hostile copies: into a read-only grant, grants of others, offsets crossing the page, bad refs and domains', () => {
    grant(A, 10, 0, A.mfn(100), GTF_permit_access | GTF_readonly);
    grant(A, 11, 0, A.mfn(101));
    grant(A, 12, B.id, A.mfn(102)); // for B, not dom0
    expect(pageTypes(A.d.memory).pin(A.mfn(103), 1)).toBe(0);
    grant(A, 13, 0, A.mfn(103)); // a page table, granted writable
    fillPage(A, 100, 0x11);
    const buf = new Uint8Array(4096).fill(0xee);
    const src = (ref: number, offset = 0, domid = A.id): { ref: number; domid: number; offset: number } => ({ ref, domid, offset });
    const into = (offset = 0): { buffer: Uint8Array; offset: number } => ({ buffer: buf, offset });
    const st = grants.copy([
      { source: into(), dest: src(10), len: 8, flags: GNTCOPY_dest_gref }, // writing a read-only grant
      { source: src(12), dest: into(), len: 8, flags: GNTCOPY_source_gref }, // B's grant
      { source: src(11, 4000), dest: into(), len: 200, flags: GNTCOPY_source_gref }, // crosses the source page
      { source: src(11), dest: into(4095), len: 2, flags: GNTCOPY_source_gref }, // crosses the buffer's page
      { source: src(11), dest: { buffer: new Uint8Array(10), offset: 0 }, len: 11, flags: GNTCOPY_source_gref }, // beyond the buffer
      { source: src(11, 65536), dest: into(), len: 1, flags: GNTCOPY_source_gref }, // not a u16
      { source: src(512, 4000), dest: into(), len: 200, flags: GNTCOPY_source_gref }, // the bad ref is reported first
      { source: src(11, 0, 9), dest: into(), len: 8, flags: GNTCOPY_source_gref }, // no domain 9
      { source: { buffer: buf, offset: 0, domid: A.id }, dest: src(11), len: 8, flags: GNTCOPY_dest_gref }, // a frame side must be DOMID_SELF
      { source: { offset: 0 }, dest: src(11), len: 8, flags: GNTCOPY_dest_gref }, // no buffer
      { source: src(10), dest: src(11, 0, 0), len: 8, flags: GNTCOPY_source_gref | GNTCOPY_dest_gref }, // dom0 grants nothing
      { source: into(), dest: src(13), len: 8, flags: GNTCOPY_dest_gref }, // into a page table
    ]);
    expect(st).toEqual([
      GNTST_general_error, GNTST_general_error, GNTST_bad_copy_arg, GNTST_bad_copy_arg, GNTST_bad_copy_arg,
      GNTST_bad_copy_arg, GNTST_bad_gntref, GNTST_bad_domain, GNTST_permission_denied, GNTST_bad_page, GNTST_general_error,
      GNTST_general_error,
    ]);
    expect(A.page(103).every((b) => b === 0)).toBe(true);
    expect(buf.every((b) => b === 0xee)).toBe(true);
    expect(A.page(100).every((b) => b === 0x11)).toBe(true);
    expect(A.page(101).every((b) => b === 0)).toBe(true);
    for (const ref of [10, 11, 12, 13]) expect(G.grantPinCount(A.d, ref)).toBe(0);
    expect(flagsOf(A, 10)).toBe(GTF_permit_access | GTF_readonly);
    expect(flagsOf(A, 11)).toBe(GTF_permit_access);
    expect(flagsOf(A, 13)).toBe(GTF_permit_access);
  });

  it('writes into a guest frame make its vCPUs drop code decoded from it (copy, unmap, written())', () => {
    const dropped: number[] = [];
    for (const w of A.d.vcpus) {
      const orig = w.cpu.invalidateCodePage.bind(w.cpu);
      w.cpu.invalidateCodePage = (page: number): void => {
        dropped.push(page);
        orig(page);
      };
    }
    grant(A, 11, 0, A.mfn(101));
    expect(grants.copy([{ source: { buffer: new Uint8Array(8), offset: 0 }, dest: { ref: 11, domid: A.id, offset: 0 }, len: 8, flags: GNTCOPY_dest_gref }])).toEqual([GNTST_okay]);
    expect(dropped).toContain(101);
    dropped.length = 0;
    const m = mapped(grants.map(A.id, 11));
    m.written();
    expect(dropped).toContain(101);
    dropped.length = 0;
    expect(grants.unmap(m)).toBe(GNTST_okay);
    expect(dropped).toContain(101);
    dropped.length = 0;
    const r = mapped(grants.map(A.id, 11, { readonly: true }));
    expect(grants.unmap(r)).toBe(GNTST_okay);
    expect(dropped).toEqual([]); // a reader wrote nothing
  });
});

// ---------------------------------------------------------------- the guest's GNTTABOP_copy

const C = G.GNTTAB_COPY, CP = G.GNTTAB_COPY_PTR;

interface GuestCopy {
  src: { u: number; domid: number; offset: number };
  dst: { u: number; domid: number; offset: number };
  len: number;
  flags: number;
}

/** Write `ops` as struct gnttab_copy[] at byte `at` of t's page `pfn`. */
function putCopies(t: TestDomain, pfn: number, ops: GuestCopy[], at = 0): void {
  ops.forEach((op, i) => {
    const o = at + i * C.size;
    for (const [at, p] of [[C.source, op.src], [C.dest, op.dst]] as const) {
      t.put64(pfn, o + at + CP.u, p.u);
      t.put16(pfn, o + at + CP.domid, p.domid);
      t.put16(pfn, o + at + CP.offset, p.offset);
    }
    t.put16(pfn, o + C.len, op.len);
    t.put16(pfn, o + C.flags, op.flags);
    t.put16(pfn, o + C.status, 0x7777);
  });
}
const copyStatus = (t: TestDomain, pfn: number, i: number, at = 0): number => t.i16(pfn, at + i * C.size + C.status);

describe('a guest\'s GNTTABOP_copy', () => {
  const copy = (t: TestDomain, count: number, va = t.va(16)): number => t.call(HYPERVISOR.grant_table_op, [G.GNTTABOP.copy, va, count]);

  it('copies from a grant it was given into its own frame, and from its frame into a writable grant', () => {
    grant(A, 10, B.id, A.mfn(100), GTF_permit_access | GTF_readonly);
    grant(A, 11, B.id, A.mfn(101));
    fillPage(A, 100, 0x42);
    B.page(300).fill(0x24);
    putCopies(B, 16, [
      { src: { u: 10, domid: A.id, offset: 8 }, dst: { u: B.mfn(301), domid: DOMID_SELF, offset: 0 }, len: 64, flags: GNTCOPY_source_gref },
      { src: { u: B.mfn(300), domid: DOMID_SELF, offset: 0 }, dst: { u: 11, domid: A.id, offset: 4000 }, len: 96, flags: GNTCOPY_dest_gref },
    ]);
    expect(copy(B, 2)).toBe(0);
    expect([copyStatus(B, 16, 0), copyStatus(B, 16, 1)]).toEqual([GNTST_okay, GNTST_okay]);
    expect(B.page(301).subarray(0, 64).every((b) => b === 0x42)).toBe(true);
    expect(B.page(301)[64]).toBe(0);
    expect(A.page(101).subarray(4000).every((b) => b === 0x24)).toBe(true);
    expect(A.page(101)[3999]).toBe(0);
    expect(flagsOf(A, 10)).toBe(GTF_permit_access | GTF_readonly);
    expect(flagsOf(A, 11)).toBe(GTF_permit_access);
  });

  it('hostile copies get Xen\'s statuses and change nothing', () => {
    grant(A, 10, B.id, A.mfn(100), GTF_permit_access | GTF_readonly);
    grant(A, 11, 0, A.mfn(101)); // for dom0, not B
    grant(A, 12, B.id, B.mfn(100)); // A granting B's own frame to B
    fillPage(A, 100, 0x42);
    fillPage(A, 101, 0x43);
    expect(pageTypes(B.d.memory).pin(B.mfn(310), 1)).toBe(0); // B's page table
    const self = (pfn: number, offset = 0): GuestCopy['src'] => ({ u: B.mfn(pfn), domid: DOMID_SELF, offset });
    const ofA = (ref: number, offset = 0): GuestCopy['src'] => ({ u: ref, domid: A.id, offset });
    const ops: Array<[GuestCopy, number]> = [
      [{ src: ofA(11), dst: self(301), len: 8, flags: GNTCOPY_source_gref }, GNTST_general_error], // not granted to B
      [{ src: self(300), dst: ofA(10), len: 8, flags: GNTCOPY_dest_gref }, GNTST_general_error], // read-only grant
      [{ src: ofA(12), dst: self(301), len: 8, flags: GNTCOPY_source_gref }, GNTST_bad_page], // A does not own the frame
      [{ src: ofA(10), dst: self(310), len: 8, flags: GNTCOPY_source_gref }, GNTST_general_error], // into B's own page table
      [{ src: ofA(10, 4000), dst: self(301), len: 200, flags: GNTCOPY_source_gref }, GNTST_bad_copy_arg],
      [{ src: ofA(10), dst: self(301, 4095), len: 2, flags: GNTCOPY_source_gref }, GNTST_bad_copy_arg],
      [{ src: ofA(512), dst: self(301), len: 8, flags: GNTCOPY_source_gref }, GNTST_bad_gntref],
      [{ src: { u: 10, domid: 9, offset: 0 }, dst: self(301), len: 8, flags: GNTCOPY_source_gref }, GNTST_bad_domain],
      [{ src: { u: 10, domid: 0, offset: 0 }, dst: self(301), len: 8, flags: GNTCOPY_source_gref }, GNTST_general_error], // dom0 grants nothing
      [{ src: { u: A.mfn(100), domid: A.id, offset: 0 }, dst: self(301), len: 8, flags: 0 }, GNTST_permission_denied], // A's frame by MFN
      [{ src: { u: A.mfn(100), domid: DOMID_SELF, offset: 0 }, dst: self(301), len: 8, flags: 0 }, GNTST_bad_page], // … as if its own
      [{ src: self(300), dst: { u: B.d.sharedInfoMfn, domid: DOMID_SELF, offset: 0 }, len: 8, flags: 0 }, GNTST_bad_page], // Xen's frame
      [{ src: self(300), dst: { u: 2 ** 52, domid: DOMID_SELF, offset: 0 }, len: 8, flags: 0 }, GNTST_bad_page],
    ];
    B.page(300).fill(0x24);
    putCopies(B, 16, ops.map(([op]) => op));
    expect(copy(B, ops.length)).toBe(0);
    expect(ops.map((_, i) => copyStatus(B, 16, i))).toEqual(ops.map(([, st]) => st));
    expect(B.page(301).every((b) => b === 0)).toBe(true);
    expect(B.page(310).every((b) => b === 0)).toBe(true);
    expect(A.page(100).every((b) => b === 0x42)).toBe(true);
    for (const ref of [10, 11, 12]) expect(G.grantPinCount(A.d, ref)).toBe(0);
    expect(flagsOf(A, 10)).toBe(GTF_permit_access | GTF_readonly);
    expect(flagsOf(A, 11)).toBe(GTF_permit_access);
  });

  it('a bad pointer is -EFAULT (and a fault mid-batch keeps what was done); the host carries on', () => {
    grant(A, 10, B.id, A.mfn(100), GTF_permit_access | GTF_readonly);
    fillPage(A, 100, 0x42);
    expect(copy(B, 1, UNMAPPED_VA)).toBe(-XEN_EFAULT);
    expect(copy(B, 1, HOLE_VA)).toBe(-XEN_EFAULT);
    expect(copy(B, 0x80000000)).toBe(-XEN_EINVAL);
    // Two ops: the first in the last slot of pfn 1023, the second on the unmapped page after it.
    const last = 4096 - C.size;
    putCopies(B, 1023, [{ src: { u: 10, domid: A.id, offset: 0 }, dst: { u: B.mfn(301), domid: DOMID_SELF, offset: 0 }, len: 8, flags: GNTCOPY_source_gref }], last);
    expect(copy(B, 2, B.va(1023, last))).toBe(-XEN_EFAULT);
    expect(copyStatus(B, 1023, 0, last)).toBe(GNTST_okay);
    expect(B.page(301)[0]).toBe(0x42);
    expect(G.grantPinCount(A.d, 10)).toBe(0);
    // Nothing is stuck: the same copy works again.
    B.page(301).fill(0);
    putCopies(B, 16, [{ src: { u: 10, domid: A.id, offset: 0 }, dst: { u: B.mfn(301), domid: DOMID_SELF, offset: 0 }, len: 8, flags: GNTCOPY_source_gref }]);
    expect(copy(B, 1)).toBe(0);
    expect(copyStatus(B, 16, 0)).toBe(GNTST_okay);
    expect(B.page(301)[7]).toBe(0x42);
  });
});

// ---------------------------------------------------------------- the guest's map / unmap

describe('a guest\'s map_grant_ref and unmap_grant_ref', () => {
  const M = G.GNTTAB_MAP_GRANT_REF, U = G.GNTTAB_UNMAP_GRANT_REF;
  const map = (flags: number, ref: number, dom: number): number => {
    B.put64(16, M.host_addr, B.va(400));
    B.put32(16, M.flags, flags);
    B.put32(16, M.ref, ref);
    B.put16(16, M.dom, dom);
    B.put16(16, M.status, 0x7777);
    B.put32(16, M.handle, 0x12345678);
    expect(B.call(HYPERVISOR.grant_table_op, [G.GNTTABOP.map_grant_ref, B.va(16), 1])).toBe(0);
    expect(B.u32(16, M.handle)).toBe(0x12345678); // no handle is ever handed out
    return B.i16(16, M.status);
  };
  const HOST = G.GNTMAP_host_map, RO = G.GNTMAP_readonly;

  it('validates like Xen: flags, domain, ref, entry, readonly, frame owner', () => {
    grant(A, 10, B.id, A.mfn(100), GTF_permit_access | GTF_readonly);
    grant(A, 11, 0, A.mfn(101));
    grant(A, 12, B.id, B.mfn(5));
    expect(map(0, 10, A.id)).toBe(GNTST_bad_gntref); // neither host_map nor device_map
    expect(map(HOST | RO, 10, DOMID_SELF)).toBe(GNTST_bad_domain); // map_grant_ref takes no DOMID_SELF
    expect(map(HOST | RO, 10, 9)).toBe(GNTST_bad_domain);
    expect(map(HOST | RO, 512, A.id)).toBe(GNTST_bad_gntref);
    expect(map(HOST | RO, 11, A.id)).toBe(GNTST_general_error); // granted to dom0
    expect(map(HOST | RO, 10, 0)).toBe(GNTST_general_error); // dom0 grants nothing
    expect(map(HOST, 10, A.id)).toBe(GNTST_general_error); // writable map of a read-only grant
    expect(map(HOST | RO, 12, A.id)).toBe(GNTST_bad_page);
    for (const ref of [10, 11, 12]) expect(flagsOf(A, ref) & (GTF_reading | GTF_writing)).toBe(0);
  });

  it('a valid grant passes every check, but xenjs cannot put another domain\'s frame in a guest page table: GNTST_general_error', () => {
    grant(A, 10, B.id, A.mfn(100), GTF_permit_access | GTF_readonly);
    expect(map(HOST | RO, 10, A.id)).toBe(GNTST_general_error);
    expect(map(G.GNTMAP_device_map | RO, 10, A.id)).toBe(GNTST_general_error);
    expect(flagsOf(A, 10)).toBe(GTF_permit_access | GTF_readonly);
    expect(G.grantPinCount(A.d, 10)).toBe(0);
    expect(B.logs.filter((l) => l.includes('map_grant_ref')).length).toBe(1); // said once
  });

  it('unmap and unmap_and_replace: a guest holds no mappings, so every handle is GNTST_bad_handle; bad pointers -EFAULT', () => {
    for (const cmd of [G.GNTTABOP.unmap_grant_ref, G.GNTTABOP.unmap_and_replace]) {
      for (let i = 0; i < 3; i++) {
        B.put32(16, i * U.size + U.handle, i);
        B.put16(16, i * U.size + U.status, 0x7777);
      }
      expect(B.call(HYPERVISOR.grant_table_op, [cmd, B.va(16), 3])).toBe(0);
      for (let i = 0; i < 3; i++) expect(B.i16(16, i * U.size + U.status)).toBe(GNTST_bad_handle);
      expect(B.call(HYPERVISOR.grant_table_op, [cmd, UNMAPPED_VA, 1])).toBe(-XEN_EFAULT);
      expect(B.call(HYPERVISOR.grant_table_op, [cmd, HOLE_VA, 1])).toBe(-XEN_EFAULT);
    }
    expect(B.call(HYPERVISOR.grant_table_op, [G.GNTTABOP.map_grant_ref, UNMAPPED_VA, 1])).toBe(-XEN_EFAULT);
    expect(B.call(HYPERVISOR.grant_table_op, [G.GNTTABOP.map_grant_ref, B.va(16), 0])).toBe(0);
  });
});

describe('on a Xenjs host', () => {
  it('built domains join the host\'s registry for xen.grants; destroy closes their ports and removes them', async () => {
    const xen = new Xenjs({ log: () => {} });
    try {
      const h1 = await xen.createDomain(tinyConfig('s', { name: 'one' }), { paused: true });
      const h2 = await xen.createDomain(tinyConfig('s', { name: 'two' }), { paused: true });
      const d1 = h1.domain!, d2 = h2.domain!;
      expect(xen.registry.get(h1.id)).toBe(d1);
      expect(xen.registry.get(h2.id)).toBe(d2);
      expect(d1.registry).toBe(xen.registry);
      const pfn = 100, mfn = d1.memory.pfnToMfn(pfn);
      expect(G.setGrantEntry(d1, 8, { flags: GTF_permit_access, domid: 0, frame: mfn })).toBe(true);
      const m = mapped(xen.grants.map(h1.id, 8));
      expect(m.bytes.byteOffset).toBe(d1.memory.offsetOfMfn(mfn));
      const storePort = 1;
      expect(portInfo(d1, storePort).state).not.toBe(0); // the xenstore port, bound to dom0
      h1.destroy();
      expect(xen.registry.get(h1.id)).toBeUndefined();
      expect(d1.isDying).toBe(true);
      expect(portInfo(d1, storePort).state).toBe(0); // closed
      expect(xen.grants.map(h1.id, 8)).toBe(GNTST_bad_domain);
      expect(xen.grants.unmap(m)).toBe(GNTST_okay); // the mapping outlived it
      expect(xen.registry.get(h2.id)).toBe(d2);
    } finally {
      await xen.close();
    }
    expect(xen.registry.size).toBe(0);
  });
});

describe('status text', () => {
  it('follows GNTTABOP_error_msgs', () => {
    expect(grantStatusText(GNTST_bad_copy_arg)).toBe('copy arguments cross page boundary');
    expect(grantStatusText(-99)).toBe('unknown grant status -99');
  });
});

// ---------------------------------------------------------------- helpers using memory_op

/** XENMEM_decrease_reservation of one page of `t`, by MFN as a PV guest does. */
function releaseFrame(t: TestDomain, pfn: number): void {
  const R = XEN_MEMORY_RESERVATION;
  t.put64(17, 0, t.mfn(pfn));
  t.put64(16, R.extent_start, t.va(17));
  t.put64(16, R.nr_extents, 1);
  t.put32(16, R.extent_order, 0);
  t.put32(16, R.mem_flags, 0);
  t.put16(16, R.domid, DOMID_SELF);
  expect(t.call(HYPERVISOR.memory_op, [XENMEM.decrease_reservation, t.va(16)])).toBe(1);
}

/** XENMEM_populate_physmap of `pfns`: the MFNs given back. */
function populate(t: TestDomain, pfns: number[]): number[] {
  const R = XEN_MEMORY_RESERVATION;
  pfns.forEach((p, i) => t.put64(17, 8 * i, p));
  t.put64(16, R.extent_start, t.va(17));
  t.put64(16, R.nr_extents, pfns.length);
  t.put32(16, R.extent_order, 0);
  t.put32(16, R.mem_flags, 0);
  t.put16(16, R.domid, DOMID_SELF);
  const n = t.call(HYPERVISOR.memory_op, [XENMEM.populate_physmap, t.va(16)]);
  return Array.from({ length: Math.max(n, 0) }, (_, i) => Number(t.dv.getBigUint64(t.off(17, 8 * i), true)));
}
