/**
 * The PV domain builder: turns a loaded kernel, an optional initrd and a
 * command line into a ready-to-run Domain whose memory is laid out exactly
 * as libxenguest (Xen 4.17, tools/libs/guest/xg_dom_core.c + xg_dom_x86.c)
 * lays out a 64-bit PV domU, so the guest sees the same start_info,
 * page tables and p2m list it would see under real Xen.
 *
 * Allocation order (pv-abi.md §2.1), each segment page-aligned, PFN p at
 * VA virt_base + p*4096 in the initial mapping:
 *   kernel (at virt_kstart, padded from virt_base) → [initrd, when the kernel
 *   cannot take an unmapped one] → [p2m list, when INIT_P2M is absent] →
 *   start_info → xenstore ring → console ring → page tables (L4, L3…, L2…,
 *   L1…) → boot stack → padding up to virt_pgtab_end → [unmapped initrd] →
 *   [p2m list + its own L3/L2/L1s, mapped at INIT_P2M].
 *
 * The planning step is pure arithmetic (so errors come before any memory is
 * allocated); writing fills the Domain's frames. VAs inside the planner are
 * 48-bit (bits 63..48 dropped, as libxenguest's vaddr_mask does), which fit
 * a double exactly; reported VAs are canonical 64-bit bigints.
 */
import { ConsoleBackend } from '../devices/console.ts';
import { bindHostPort, reserveUnboundPort, type HostPort } from '../hypercall/evtchn.ts';
import { XenStore, XenstoreConnection, introduceDomain } from '../devices/xenstore/index.ts';
import { domainHandle, setDomainHandle } from '../hypercall/version.ts';
import { gunzipSync } from 'node:zlib';
import { UserError } from '../errors.ts';
import { FLAGS_FIXED, IF, RSI, RSP } from '../cpu/state.ts';
import { FLAT_KERNEL_CS64, FLAT_KERNEL_SS64, VGCF_IN_KERNEL, VGCF_ONLINE } from '../hypercall/abi.ts';
import { PAGE_SIZE } from '../mmu/domain-memory.ts';
import { pageTypes } from '../mmu/page-types.ts';
import { installKernelRoot } from '../hypercall/mmu.ts';
import { _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_RW, _PAGE_USER } from '../mmu/pv-mmu.ts';
import { Domain } from './domain.ts';
import type { LoadedKernel } from './kernel-loader.ts';
import { SHARED_INFO, VCPU_INFO, VCPU_INFO_SIZE, XEN_LEGACY_MAX_VCPUS } from './shared-info.ts';
import {
  MAX_GUEST_CMDLINE, SIF_MOD_START_PFN, SIF_VIRT_P2M_4TOOLS, XEN_GUEST_TYPE_X86_64, writeStartInfo, type StartInfo,
} from './start-info.ts';

// ------------------------------------------------------------------ constants

/** libxenguest's page-table entry flags for x86_64 (xg_dom_x86.c: x86_64_params.lvl_prot). */
export const PT_PROT_L1 = _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED; // 0x23
export const PT_PROT_UPPER = _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_USER; // 0x67

/** Event channels the toolstack gives the xenstore and console rings (libxl's usual choice). */
export const DEFAULT_STORE_EVTCHN = 1;
export const DEFAULT_CONSOLE_EVTCHN = 2;

/** Debug-register defaults libxenguest puts in the initial vCPU context. */
export const X86_DR6_DEFAULT = 0xffff0ff0;
export const X86_DR7_DEFAULT = 0x00000400;

/** XC_DOM_DECOMPRESS_MAX: libxenguest's cap on a (decompressed) module. */
const DECOMPRESS_MAX = 1024 * 1024 * 1024;
/** Padding libxenguest maps beyond the boot objects (alloc_pgtables_pv). */
const PGTAB_PADDING = 512 * 1024;
const EM_X86_64 = 62;
/** A sanity bound on vCPUs per domain (each is a whole emulated CPU). */
const MAX_VCPUS = 512;
const TWO32 = 4294967296;
const TWO47 = 2 ** 47;
const TWO48 = 2 ** 48;
/** The Xen hole, 48-bit: L4 slots 256-271 belong to the hypervisor. */
const HOLE_START48 = 0x800000000000;
const HOLE_END48 = 0x880000000000;

// ------------------------------------------------------------------ public types

export interface BuildOptions {
  id: number;
  name: string;
  kernel: LoadedKernel;
  /** The initrd file as read (gzip is unpacked, as libxenguest does, unless ramdiskGunzip is false). */
  ramdisk?: Uint8Array;
  cmdline: string;
  memoryMiB: number;
  maxmemMiB?: number;
  vcpus: number;
  consoleOut: (bytes: Uint8Array) => void;
  clockNs: () => number;
  log?: (line: string) => void;
  /** Print libxenguest-style `domainbuilder: detail:` lines (to stderr, or to the given function). */
  verbose?: boolean | ((line: string) => void);
  /** Unpack a gzip initrd before loading it (libxenguest does; default true). */
  ramdiskGunzip?: boolean;
  storeEvtchn?: number;
  consoleEvtchn?: number;
  /** dom0's xenstore (one per host); the builder introduces the domain and connects its ring. Default: a new store. */
  xenstore?: XenStore;
  /** xl's uuid= (default: derived from id and name). */
  uuid?: string;
}

/** A page the builder placed: PFN, MFN and its VA in the initial mapping. */
export interface PagePlacement {
  pfn: number;
  mfn: number;
  va: bigint;
}

/** A segment (run of pages) the builder placed; `vend` is vstart + size (not page-rounded), as libxenguest logs it. */
export interface SegmentPlacement {
  pfn: number;
  pages: number;
  vstart: bigint;
  vend: bigint;
}

/** One level of an initial mapping's page tables. */
export interface PageTableLevel {
  /** 4 = L4 … 1 = L1. */
  level: number;
  /** VA range the tables of this level cover (48-bit form, as count_pgtables prints it). */
  from: number;
  to: number;
  /** First PFN of this level's tables, and how many. */
  pfn: number;
  count: number;
}

/** An initial mapping: `[from, to]` (inclusive, 48-bit) mapped to PFNs from `pfn` on. */
export interface InitialMapping {
  from: number;
  to: number;
  pfn: number;
  /** Page-table pages this mapping added. */
  tables: number;
  /** levels[0] = L1 … levels[3] = L4. */
  levels: PageTableLevel[];
}

export interface InitrdPlacement extends SegmentPlacement {
  /** Left out of the initial mapping (the kernel has MOD_START_PFN): mod_start is a PFN. */
  unmapped: boolean;
  /** start_info.mod_start / mod_len as written. */
  modStart: bigint;
  modLen: number;
  /** Bytes of the file given, bytes loaded (after gunzip), and whether it was gunzipped. */
  fileLen: number;
  dataLen: number;
  gunzipped: boolean;
}

export interface P2mPlacement extends SegmentPlacement {
  /** start_info.mfn_list: where the guest sees the list. */
  va: bigint;
  /** Pages of the list itself, then page-table pages of its own mapping (INIT_P2M only). */
  listPages: number;
  tablePages: number;
  /** start_info.first_p2m_pfn / nr_p2m_frames (0 when the list lives in the kernel mapping). */
  firstP2mPfn: number;
  nrP2mFrames: number;
  /** Entries (= p2m_size = nr_pages). */
  entries: number;
}

export interface DomainLayout {
  nrPages: number;
  maxPages: number;
  virtBase: bigint;
  entry: bigint;
  kernel: SegmentPlacement;
  initrd?: InitrdPlacement;
  startInfo: PagePlacement;
  xenstore: PagePlacement & { evtchn: number };
  console: PagePlacement & { evtchn: number };
  /** The initial page tables (mapping 0): L4 first; `pages` = nr_pt_frames. */
  pageTables: SegmentPlacement & { l4Mfn: number };
  bootStack: PagePlacement & { rsp: bigint };
  virtAllocEnd: bigint;
  virtPgtabEnd: bigint;
  p2m: P2mPlacement;
  sharedInfoMfn: number;
  startInfoFlags: number;
  /** Mapping 0 (the kernel's) and, with INIT_P2M, mapping 1 (the p2m list). */
  mappings: InitialMapping[];
  /** libxenguest-style detail lines (what `verbose` prints). */
  detail: string[];
}

export interface BuiltDomain {
  domain: Domain;
  layout: DomainLayout;
  startInfo: StartInfo;
  /** MFN of the initial L4: pinned (page-types), and installed as vCPU 0's kernel root. */
  l4Mfn: number;
  /** The xenstore the domain was introduced to. */
  xenstore: XenStore;
}

// ------------------------------------------------------------------ helpers

const hex = (v: number | bigint): string => v.toString(16);
const hex16 = (v: number): string => v.toString(16).padStart(16, '0');
const floorTo = (x: number, bits: number): number => Math.floor(x / 2 ** bits) * 2 ** bits;
const ceilMask = (x: number, bits: number): number => floorTo(x, bits) + 2 ** bits - 1;
const pagesFor = (bytes: number): number => Math.ceil(bytes / PAGE_SIZE);
/** 64-bit VA → the 48-bit form used for layout arithmetic. */
const va48 = (v: bigint): number => Number(BigInt.asUintN(48, v));
/** 48-bit form → canonical 64-bit VA. */
const canon = (v: number): bigint => (v >= TWO47 ? BigInt(v) | 0xffff000000000000n : BigInt(v));
/** A canonical 64-bit VA as the signed number the vCPU code uses. */
const vaNumber = (v: bigint): number => Number(BigInt.asIntN(64, v));

/** The layout does not fit in the domain's memory (converted to a sized UserError by buildDomain). */
class NoRoom extends Error {}

interface ModuleImage {
  /** Bytes to copy to the start of the module segment. */
  data: Uint8Array;
  /** Segment size libxenguest allocates (modulelen). */
  segLen: number;
  fileLen: number;
  gunzipped: boolean;
  /** The size xc_dom_check_gzip predicted (gzip ISIZE + 16), 0 when not gzip. */
  unzipLen: number;
}

/** What libxenguest's xc_dom_build_module does with a module blob: gunzip it when it looks like gzip. */
function prepareModule(blob: Uint8Array, gunzip: boolean): ModuleImage {
  const size = blob.length;
  let unziplen = 0;
  if (gunzip && size >= 6 && blob[0] === 0x1f && blob[1] === 0x8b) {
    const isize = (blob[size - 4]! | (blob[size - 3]! << 8) | (blob[size - 2]! << 16) | (blob[size - 1]! << 24)) >>> 0;
    // xc_dom_check_gzip: the gzip trailer's size, plus 16 bytes of slack.
    if (isize <= DECOMPRESS_MAX) unziplen = isize + 16;
  }
  let segLen = Math.max(unziplen, size);
  if (unziplen && segLen > DECOMPRESS_MAX) {
    segLen = Math.min(unziplen, size);
    if (unziplen > segLen) unziplen = 0;
  }
  if (segLen > DECOMPRESS_MAX) throw new UserError(`initrd is ${size} bytes: more than the 1 GiB a module may have`);
  if (unziplen) {
    let out: Uint8Array | undefined;
    try {
      out = new Uint8Array(gunzipSync(blob));
    } catch {
      out = undefined; // not really gzip (or corrupt): hand over the raw blob, as libxenguest does
    }
    if (out && out.length <= unziplen) return { data: out, segLen, fileLen: size, gunzipped: true, unzipLen: unziplen };
  }
  return { data: blob, segLen, fileLen: size, gunzipped: false, unzipLen: unziplen };
}

// ------------------------------------------------------------------ planning

/** What planLayout decides (before any memory exists: PFNs only, MFNs come with the Domain). */
type PlannedLayout = Omit<DomainLayout, 'sharedInfoMfn' | 'startInfo' | 'xenstore' | 'console' | 'pageTables' | 'bootStack' | 'initrd'> & {
  startInfoPfn: number;
  xenstorePfn: number;
  consolePfn: number;
  pt: SegmentPlacement;
  bootStackPfn: number;
  initrd?: Omit<InitrdPlacement, 'fileLen' | 'dataLen' | 'gunzipped'>;
};

/**
 * libxenguest's allocator state: pfn_alloc_end / virt_alloc_end (always
 * virt_base + pfn_alloc_end pages, as RAM starts at PFN 0).
 */
class Allocator {
  pfnEnd = 0;
  readonly maps: InitialMapping[] = [];
  constructor(
    readonly nrPages: number,
    readonly base: number,
    readonly detail: string[],
  ) {}

  get vaEnd(): number {
    return this.base + this.pfnEnd * PAGE_SIZE;
  }

  private take(name: string, pages: number): void {
    if (pages > this.nrPages - this.pfnEnd) throw new NoRoom(name);
    this.pfnEnd += pages;
  }

  pad(boundary: number): void {
    if (boundary % PAGE_SIZE !== 0) throw new UserError(`segment boundary 0x${hex(canon(boundary))} is not page-aligned`);
    if (boundary < this.vaEnd) throw new UserError(`segment boundary 0x${hex(canon(boundary))} lies below 0x${hex(canon(this.vaEnd))}`);
    this.take('padding', (boundary - this.vaEnd) / PAGE_SIZE);
  }

  segment(name: string, start: number, size: number): SegmentPlacement {
    if (start) this.pad(start);
    const pages = pagesFor(size);
    const vstart = this.vaEnd;
    const pfn = this.pfnEnd;
    this.take(name, pages);
    const seg = { pfn, pages, vstart: canon(vstart), vend: canon(vstart + size) };
    this.detail.push(
      `${'xc_dom_alloc_segment'.padEnd(20)}:   ${name.padEnd(12)} : 0x${hex(seg.vstart)} -> 0x${hex(seg.vend)}  (pfn 0x${hex(pfn)} + 0x${hex(pages)} pages)`,
    );
    return seg;
  }

  page(name: string): number {
    const va = this.vaEnd;
    const pfn = this.pfnEnd;
    this.take(name, 1);
    this.detail.push(`${'xc_dom_alloc_page'.padEnd(20)}:   ${name.padEnd(12)} : 0x${hex(canon(va))} (pfn 0x${hex(pfn)})`);
    return pfn;
  }

  /**
   * Count the page tables a new mapping of [from, to] needs beyond those the
   * existing mappings already provide (libxenguest's count_pgtables). The
   * first mapping gets the one L4. Table PFNs are numbered from the current
   * allocation end, L4 first, then L3s, L2s, L1s.
   */
  countTables(from: number, to: number, firstPfn: number): InitialMapping {
    if (this.maps.length === 2) throw new Error('too many initial mappings');
    const pfnEnd = firstPfn + Math.floor((to - from) / PAGE_SIZE);
    if (pfnEnd >= this.nrPages) throw new NoRoom('initial mapping');
    for (const m of this.maps) {
      if (from < m.to && to > m.from) {
        throw new UserError(`initial mappings overlap: 0x${hex(canon(from))}-0x${hex(canon(to))} and 0x${hex(canon(m.from))}-0x${hex(canon(m.to))}`);
      }
    }
    const map: InitialMapping = { from, to, pfn: 0, tables: 0, levels: [] };
    const levels: PageTableLevel[] = [];
    for (let l = 3; l >= 0; l--) {
      const lv: PageTableLevel = { level: l + 1, from: 0, to: 0, pfn: this.pfnEnd + map.tables, count: 0 };
      levels[l] = lv;
      if (l === 3) {
        if (this.maps.length === 0) {
          lv.to = TWO48 - 1;
          lv.count = 1;
          map.tables++;
        }
        continue;
      }
      // A table at level l+1 (L1 for l = 0) covers 2^bits bytes.
      const bits = 12 + 9 * (l + 1);
      let f = floorTo(from, bits);
      let t = ceilMask(to, bits);
      for (const m of this.maps) {
        const c = m.levels[l]!;
        if (c.from === c.to) continue;
        if (f >= c.from && t <= c.to) {
          f = t = 0; // wholly covered by an existing mapping's tables
          break;
        }
        if (f >= c.from && f <= c.to) f = c.to + 1;
        if (t >= c.from && t <= c.to) t = c.from - 1;
      }
      lv.from = f;
      lv.to = t;
      if (f < t) lv.count = Math.floor((t - f) / 2 ** bits) + 1;
      this.detail.push(
        `count_pgtables: 0x${hex16(2 ** bits - 1)}/${bits}: 0x${hex16(f)} -> 0x${hex16(t)}, ${lv.count} table(s)`,
      );
      map.tables += lv.count;
    }
    map.levels = levels;
    return map;
  }
}

function planLayout(
  kernel: LoadedKernel,
  nrPages: number,
  maxPages: number,
  module: { segLen: number; gunzipped: boolean; fileLen: number; unzipLen: number } | undefined,
): PlannedLayout {
  const detail: string[] = [];
  const base = va48(kernel.virtBase);
  if (base % PAGE_SIZE !== 0) throw new UserError(`VIRT_BASE 0x${hex(kernel.virtBase)} is not page-aligned`);
  const a = new Allocator(nrPages, base, detail);
  detail.push(`xc_dom_mem_init: mem ${nrPages / 256} MB, pages 0x${hex(nrPages)} pages, 4k each`);
  detail.push(`xc_dom_mem_init: 0x${hex(nrPages)} pages`);
  detail.push('xc_dom_build_image: called');

  // The kernel, at virt_kstart (padding from virt_base up to it).
  const kstart = va48(kernel.virtKstart);
  const kend = va48(kernel.virtKend);
  if (kernel.virtKstart < kernel.virtBase) {
    throw new UserError(`kernel starts at 0x${hex(kernel.virtKstart)}, below its VIRT_BASE 0x${hex(kernel.virtBase)}`);
  }
  const kernelSeg = a.segment('kernel', kstart, kend - kstart);

  // INIT_P2M: honoured when page-aligned and below virt_base (xc_dom_build_image).
  let p2mBase: number | undefined;
  const ip = kernel.notes.initP2m;
  if (ip !== undefined && ip < kernel.virtBase && ip % BigInt(PAGE_SIZE) === 0n) p2mBase = va48(ip);
  const unmappedInitrd = module !== undefined && kernel.notes.modStartPfn === true;
  let flags = SIF_VIRT_P2M_4TOOLS; // xc_dom_allocate's default
  let initrd: PlannedLayout['initrd'];
  const gunzipLine = (): void => {
    if (module?.gunzipped) detail.push(`xc_dom_do_gunzip: unzip ok, 0x${hex(module.fileLen)} -> 0x${hex(module.unzipLen)}`);
  };

  if (module && !unmappedInitrd) {
    const seg = a.segment('module0', 0, module.segLen);
    gunzipLine();
    initrd = { ...seg, unmapped: false, modStart: seg.vstart, modLen: module.segLen };
  }

  const p2mListBytes = pagesFor(nrPages * 8) * PAGE_SIZE;
  let p2m: P2mPlacement | undefined;
  if (p2mBase === undefined) {
    const seg = a.segment('phys2mach', 0, p2mListBytes);
    p2m = { ...seg, va: seg.vstart, listPages: seg.pages, tablePages: 0, firstP2mPfn: 0, nrP2mFrames: 0, entries: nrPages };
  }

  const startInfoPfn = a.page('start info');
  const xenstorePfn = a.page('xenstore');
  const consolePfn = a.page('console');

  // Initial page tables: map [virt_base, virt_pgtab_end), where virt_pgtab_end
  // leaves room for the tables themselves, the boot stack and 512 KiB, rounded
  // up to 4 MiB; recount until the tables cover themselves.
  const extra = 1 + PGTAB_PADDING / PAGE_SIZE;
  let pages = extra;
  let tryEnd: number;
  let map0: InitialMapping;
  for (;;) {
    tryEnd = ceilMask(a.vaEnd + pages * PAGE_SIZE, 22);
    if (tryEnd >= (base >= TWO47 ? TWO48 : TWO47)) {
      throw new UserError(`the kernel's initial mapping would run past the top of its address space (0x${hex(canon(base))}…)`);
    }
    map0 = a.countTables(base, tryEnd, 0);
    pages = map0.tables + extra;
    if (a.vaEnd + pages * PAGE_SIZE <= tryEnd + 1) break;
  }
  if (base < HOLE_END48 && tryEnd >= HOLE_START48) {
    throw new UserError(`the kernel's initial mapping 0x${hex(canon(base))}-0x${hex(canon(tryEnd))} overlaps the Xen hole`);
  }
  map0.pfn = 0;
  a.maps.push(map0);
  const virtPgtabEnd = tryEnd + 1;
  const pt = a.segment('page tables', 0, map0.tables * PAGE_SIZE);
  const bootStackPfn = a.page('boot stack');
  detail.push(`${'xc_dom_build_image'.padEnd(20)}: virt_alloc_end : 0x${hex(canon(a.vaEnd))}`);
  detail.push(`${'xc_dom_build_image'.padEnd(20)}: virt_pgtab_end : 0x${hex(canon(virtPgtabEnd))}`);
  const virtAllocEnd = canon(a.vaEnd);
  a.pad(virtPgtabEnd);

  if (module && unmappedInitrd) {
    const seg = a.segment('module0', 0, module.segLen);
    gunzipLine();
    flags |= SIF_MOD_START_PFN;
    initrd = { ...seg, unmapped: true, modStart: BigInt(seg.pfn), modLen: seg.pages * PAGE_SIZE };
  }

  if (p2mBase !== undefined) {
    const from = p2mBase;
    const to = from + p2mListBytes - 1;
    if (from < HOLE_END48 && to >= HOLE_START48) throw new UserError(`INIT_P2M 0x${hex(ip!)} puts the p2m list in the Xen hole`);
    const map1 = a.countTables(from, to, a.pfnEnd);
    map1.pfn = a.pfnEnd;
    // The list's pages come first, its page tables after them.
    for (const lv of map1.levels) lv.pfn += p2mListBytes / PAGE_SIZE;
    a.maps.push(map1);
    const seg = a.segment('phys2mach', 0, p2mListBytes + map1.tables * PAGE_SIZE);
    p2m = {
      ...seg,
      va: canon(p2mBase),
      listPages: p2mListBytes / PAGE_SIZE,
      tablePages: map1.tables,
      firstP2mPfn: seg.pfn,
      nrP2mFrames: seg.pages,
      entries: nrPages,
    };
  }

  return {
    nrPages,
    maxPages,
    virtBase: kernel.virtBase,
    entry: kernel.virtEntry,
    kernel: kernelSeg,
    startInfoPfn,
    xenstorePfn,
    consolePfn,
    pt,
    bootStackPfn,
    virtAllocEnd,
    virtPgtabEnd: canon(virtPgtabEnd),
    initrd,
    p2m: p2m!,
    startInfoFlags: flags,
    mappings: a.maps,
    detail,
  };
}

/** Smallest memory (MiB) with which the layout fits, or undefined if none up to 1 TiB does. */
function minimumMiB(kernel: LoadedKernel, module: ModuleImage | undefined): number | undefined {
  const fits = (mib: number): boolean => {
    try {
      planLayout(kernel, mib * 256, mib * 256, module);
      return true;
    } catch (e) {
      if (e instanceof NoRoom) return false;
      throw e;
    }
  };
  let lo = 1, hi = 1 << 20;
  if (!fits(hi)) return undefined;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (fits(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

// ------------------------------------------------------------------ checks

function checkKernel(kernel: LoadedKernel): void {
  if (kernel.elf.machine !== EM_X86_64) {
    throw new UserError(`kernel is not an x86-64 ELF (e_machine ${kernel.elf.machine}): only 64-bit PV guests are supported`);
  }
  const n = kernel.notes;
  if (!kernel.isXenPv) {
    throw new UserError('kernel has no Xen ELF notes: it is not a Xen PV kernel (CONFIG_XEN_PV)');
  }
  if (n.xenVersion === undefined) throw new UserError('kernel has Xen notes but no XEN_VERSION note (it must say "xen-3.0")');
  if (n.xenVersion !== 'xen-3.0') throw new UserError(`kernel wants Xen interface "${n.xenVersion}", only "xen-3.0" exists`);
  if (n.entry === undefined) throw new UserError('kernel has Xen notes but no ENTRY note: its PV entry point is unknown');
  if (n.virtBase === undefined) throw new UserError('kernel has Xen notes but no VIRT_BASE note');
  if (kernel.virtEntry < kernel.virtKstart || kernel.virtEntry >= kernel.virtKend) {
    throw new UserError(`kernel entry 0x${hex(kernel.virtEntry)} lies outside its image 0x${hex(kernel.virtKstart)}-0x${hex(kernel.virtKend)}`);
  }
}

function checkNumbers(o: BuildOptions): { nrPages: number; maxPages: number } {
  if (!Number.isInteger(o.memoryMiB) || o.memoryMiB <= 0) throw new UserError(`memory must be a whole number of MiB above 0 (got ${o.memoryMiB})`);
  const maxmem = o.maxmemMiB ?? o.memoryMiB;
  if (!Number.isInteger(maxmem) || maxmem < o.memoryMiB) throw new UserError(`maxmem (${maxmem}) must be a whole number of MiB, at least memory (${o.memoryMiB})`);
  if (!Number.isInteger(o.vcpus) || o.vcpus < 1 || o.vcpus > MAX_VCPUS) {
    throw new UserError(`vcpus must be between 1 and ${MAX_VCPUS} (got ${o.vcpus})`);
  }
  const cmdBytes = new TextEncoder().encode(o.cmdline).length;
  if (cmdBytes > MAX_GUEST_CMDLINE - 1) {
    throw new UserError(`kernel command line is ${cmdBytes} bytes; start_info holds at most ${MAX_GUEST_CMDLINE - 1}`);
  }
  if (o.cmdline.includes('\0')) throw new UserError('kernel command line contains a NUL byte');
  return { nrPages: o.memoryMiB * 256, maxPages: maxmem * 256 };
}

// ------------------------------------------------------------------ building

/** Build a 64-bit PV domain for `opts.kernel`, laid out as libxenguest would, with vCPU 0 ready to run. */
/**
 * dom0's console backend for the domain (what xenconsoled does): the hvc0
 * ring at the console page, its event channel (bound to dom0 before the
 * guest runs), and console_io output folded into the same stream.
 */
function connectConsole(domain: Domain, mfn: number, port: number): void {
  reserveUnboundPort(domain, port, 0);
  const cons = new ConsoleBackend(domain.memory.ram, domain.memory.offsetOfMfn(mfn));
  const host = bindHostPort(domain, port, () => cons.kick());
  if (typeof host === 'number') throw new Error(`console event channel ${port}: error ${host}`);
  cons.setNotify(() => host.notify());
  domain.console = cons;
  domain.pollers.push(() => cons.kick());
}

/**
 * Introduce the domain to xenstored (the nodes libxl writes) and serve its
 * store ring: the guest's store event channel kicks the connection; the
 * connection notifies back through the same channel.
 */
function connectXenstore(
  domain: Domain,
  store: XenStore,
  info: { uuid?: string; memoryKiB: number; maxmemKiB: number; storeMfn: number; storePort: number; consoleMfn: number; consolePort: number },
): void {
  reserveUnboundPort(domain, info.storePort, 0);
  if (info.uuid) setDomainHandle(domain, info.uuid);
  const uuid = formatUuid(domainHandle(domain));
  introduceDomain(store, {
    domid: domain.id,
    name: domain.name,
    uuid,
    memoryKiB: info.memoryKiB,
    maxmemKiB: info.maxmemKiB,
    vcpus: domain.vcpus.length,
    storeMfn: info.storeMfn,
    storePort: info.storePort,
    consoleMfn: info.consoleMfn,
    consolePort: info.consolePort,
  });
  let host: HostPort | undefined;
  const conn = new XenstoreConnection(domain.memory.ram, domain.memory.offsetOfMfn(info.storeMfn), domain.id, store, () => host?.notify());
  const h = bindHostPort(domain, info.storePort, () => conn.kick());
  if (typeof h === 'number') throw new Error(`xenstore event channel ${info.storePort}: error ${h}`);
  host = h;
  domain.pollers.push(() => conn.kick());
}

function formatUuid(b: Uint8Array): string {
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function buildDomain(opts: BuildOptions): BuiltDomain {
  const kernel = opts.kernel;
  checkKernel(kernel);
  const { nrPages, maxPages } = checkNumbers(opts);
  const module = opts.ramdisk ? prepareModule(opts.ramdisk, opts.ramdiskGunzip ?? true) : undefined;

  let plan: PlannedLayout;
  try {
    plan = planLayout(kernel, nrPages, maxPages, module);
  } catch (e) {
    if (!(e instanceof NoRoom)) throw e;
    throw new UserError(noRoomMessage(kernel, module, opts.memoryMiB));
  }

  let domain: Domain;
  try {
    domain = new Domain({
      id: opts.id,
      name: opts.name,
      nrPages,
      maxPages,
      vcpus: opts.vcpus,
      consoleOut: opts.consoleOut,
      clockNs: opts.clockNs,
      log: opts.log,
    });
  } catch (e) {
    if (e instanceof Error && e.message.startsWith('domain too large')) {
      throw new UserError(`memory = ${opts.memoryMiB} MiB is more than xenjs can give one domain (about 2 GiB)`);
    }
    throw e;
  }
  const mem = domain.memory;
  const ram = mem.ram;
  const dv = mem.dv;
  const mfnOf = (pfn: number): number => mem.pfnToMfn(pfn);
  const offOf = (pfn: number): number => mem.offsetOfMfn(mfnOf(pfn));
  const vaOfPfn = (pfn: number): bigint => BigInt.asUintN(64, kernel.virtBase + BigInt(pfn) * BigInt(PAGE_SIZE));
  const place = (pfn: number): PagePlacement => ({ pfn, mfn: mfnOf(pfn), va: vaOfPfn(pfn) });

  // Kernel segments by physical address, relative to the kernel segment's first PFN.
  const kbase = offOf(plan.kernel.pfn);
  for (const s of kernel.segments) {
    const o = kbase + (s.paddr - kernel.pstart);
    ram.set(s.data.subarray(0, s.filesz), o);
    if (s.memsz > s.filesz) ram.fill(0, o + s.filesz, o + s.memsz);
  }

  // The initrd (mapped or not, its bytes sit at its PFNs).
  let initrd: InitrdPlacement | undefined;
  if (plan.initrd && module) {
    const o = offOf(plan.initrd.pfn);
    ram.fill(0, o, o + plan.initrd.pages * PAGE_SIZE);
    ram.set(module.data, o);
    initrd = { ...plan.initrd, fileLen: module.fileLen, dataLen: module.data.length, gunzipped: module.gunzipped };
  }

  // xenstore and console rings: zeroed.
  for (const pfn of [plan.xenstorePfn, plan.consolePfn]) ram.fill(0, offOf(pfn), offOf(pfn) + PAGE_SIZE);

  // The p2m list: entry i = MFN of PFN i (u64); the rest of its last page ~0.
  const p2mOff = offOf(plan.p2m.pfn);
  for (let i = 0; i < plan.p2m.listPages * 512; i++) {
    const mfn = i < nrPages ? mfnOf(i) : -1;
    dv.setInt32(p2mOff + i * 8, mfn < 0 ? -1 : mfn % TWO32 | 0, true);
    dv.setInt32(p2mOff + i * 8 + 4, mfn < 0 ? -1 : Math.floor(mfn / TWO32), true);
  }

  writePageTables(plan.mappings, mfnOf, offOf, dv);

  // start_info.
  const storeEvtchn = opts.storeEvtchn ?? DEFAULT_STORE_EVTCHN;
  const consoleEvtchn = opts.consoleEvtchn ?? DEFAULT_CONSOLE_EVTCHN;
  const startInfo: StartInfo = {
    magic: XEN_GUEST_TYPE_X86_64,
    nrPages: BigInt(nrPages),
    sharedInfo: BigInt(domain.sharedInfoMfn) * BigInt(PAGE_SIZE),
    flags: plan.startInfoFlags,
    storeMfn: BigInt(mfnOf(plan.xenstorePfn)),
    storeEvtchn,
    consoleMfn: BigInt(mfnOf(plan.consolePfn)),
    consoleEvtchn,
    ptBase: plan.pt.vstart,
    nrPtFrames: BigInt(plan.mappings[0]!.tables),
    mfnList: plan.p2m.va,
    modStart: initrd ? initrd.modStart : 0n,
    modLen: initrd ? BigInt(initrd.modLen) : 0n,
    cmdLine: opts.cmdline,
    firstP2mPfn: BigInt(plan.p2m.firstP2mPfn),
    nrP2mFrames: BigInt(plan.p2m.nrP2mFrames),
  };
  writeStartInfo(dv, offOf(plan.startInfoPfn), startInfo);
  plan.detail.push('start_info_x86_64: called');

  // shared_info: zeroed, every legacy vcpu_info's upcall mask set.
  const si = mem.offsetOfMfn(domain.sharedInfoMfn);
  ram.fill(0, si, si + PAGE_SIZE);
  for (let i = 0; i < XEN_LEGACY_MAX_VCPUS; i++) ram[si + SHARED_INFO.vcpu_info + i * VCPU_INFO_SIZE + VCPU_INFO.evtchn_upcall_mask] = 1;
  plan.detail.push(`bootlate_pv: shared_info: pfn 0x0, mfn 0x${hex(domain.sharedInfoMfn)}`);
  plan.detail.push('shared_info_x86_64: called');

  // vCPU 0 (vcpu_x86_64).
  const l4Mfn = mfnOf(plan.pt.pfn);
  const rsp = vaOfPfn(plan.bootStackPfn + 1);
  const v = domain.vcpus[0]!;
  const cpu = v.cpu;
  cpu.r.fill(0);
  cpu.setRip(Number(BigInt.asIntN(32, kernel.virtEntry)), Number(BigInt.asIntN(32, kernel.virtEntry >> 32n)));
  cpu.setReg64n(RSP, rsp);
  cpu.setReg64n(RSI, vaOfPfn(plan.startInfoPfn));
  cpu.getFlags(); // settle lazy flags before replacing RFLAGS
  cpu.flags = IF | FLAGS_FIXED;
  cpu.sel.fill(0);
  cpu.sel[1] = FLAT_KERNEL_CS64;
  cpu.sel[2] = FLAT_KERNEL_SS64;
  cpu.segBase.fill(0);
  v.kernelSs = FLAT_KERNEL_SS64;
  v.kernelSp = vaNumber(rsp);
  v.vgcFlags = VGCF_IN_KERNEL | VGCF_ONLINE;
  v.debugReg.fill(0);
  v.debugReg[6] = X86_DR6_DEFAULT;
  v.debugReg[7] = X86_DR7_DEFAULT;
  v.mmu.setKernelMode(true);
  v.mmu.setUserRoot(0);
  // bootlate_pv pins the L4 (MMUEXT_PIN_L4_TABLE), which validates the whole
  // tree as Xen would; the vCPU context then takes cr3 as guest_table.
  const pinRc = pageTypes(mem).pin(l4Mfn, 4);
  if (pinRc < 0) throw new Error(`domain builder: the initial page tables do not validate (pin L4 mfn 0x${hex(l4Mfn)}: ${pinRc})`);
  const rootRc = installKernelRoot(v, l4Mfn);
  if (rootRc < 0) throw new Error(`domain builder: cannot install the initial L4 mfn 0x${hex(l4Mfn)} as vCPU 0's root: ${rootRc}`);
  v.mmu.flush();
  v.online = true;
  plan.detail.push('vcpu_x86_64: called');
  plan.detail.push(`vcpu_x86_64: cr3: pfn 0x${hex(plan.pt.pfn)} mfn 0x${hex(l4Mfn)}`);

  const layout: DomainLayout = {
    nrPages,
    maxPages,
    virtBase: kernel.virtBase,
    entry: kernel.virtEntry,
    kernel: plan.kernel,
    initrd,
    startInfo: place(plan.startInfoPfn),
    xenstore: { ...place(plan.xenstorePfn), evtchn: storeEvtchn },
    console: { ...place(plan.consolePfn), evtchn: consoleEvtchn },
    pageTables: { ...plan.pt, l4Mfn },
    bootStack: { ...place(plan.bootStackPfn), rsp },
    virtAllocEnd: plan.virtAllocEnd,
    virtPgtabEnd: plan.virtPgtabEnd,
    p2m: plan.p2m,
    sharedInfoMfn: domain.sharedInfoMfn,
    startInfoFlags: plan.startInfoFlags,
    mappings: plan.mappings,
    detail: plan.detail.map((l) => `domainbuilder: detail: ${l}`),
  };

  if (opts.verbose) {
    const out = typeof opts.verbose === 'function' ? opts.verbose : (l: string): void => void process.stderr.write(l + '\n');
    for (const l of layout.detail) out(l);
  }
  connectConsole(domain, layout.console.mfn, consoleEvtchn);
  const xenstore = opts.xenstore ?? new XenStore();
  connectXenstore(domain, xenstore, {
    uuid: opts.uuid,
    memoryKiB: opts.memoryMiB * 1024,
    maxmemKiB: (opts.maxmemMiB ?? opts.memoryMiB) * 1024,
    storeMfn: layout.xenstore.mfn,
    storePort: storeEvtchn,
    consoleMfn: layout.console.mfn,
    consolePort: consoleEvtchn,
  });
  return { domain, layout, startInfo, l4Mfn, xenstore };
}

function noRoomMessage(kernel: LoadedKernel, module: ModuleImage | undefined, memoryMiB: number): string {
  const bare = minimumMiB(kernel, undefined);
  if (bare === undefined || memoryMiB < bare) {
    return `memory = ${memoryMiB} MiB is too small for this kernel: its image, boot pages and initial page tables need memory >= ${bare ?? '(over 1 TiB)'} MiB`;
  }
  const need = module ? minimumMiB(kernel, module) : undefined;
  const what = module?.gunzipped ? `${module.data.length} bytes after gunzip` : `${module?.data.length ?? 0} bytes`;
  return `the initrd (${what}) does not fit in memory = ${memoryMiB} MiB: kernel, initrd and p2m list need memory >= ${need ?? '(over 1 TiB)'} MiB`;
}

/**
 * Fill the initial page tables of every mapping (libxenguest's
 * setup_pgtables_pv): each table level points at the next level's tables
 * of every mapping it overlaps, L1s at the mapped PFNs. L1 entries for the
 * page-table pages themselves are read-only.
 */
function writePageTables(
  maps: InitialMapping[],
  mfnOf: (pfn: number) => number,
  offOf: (pfn: number) => number,
  dv: DataView,
): void {
  const isTablePage = (pfn: number): boolean =>
    maps.some((m) => pfn >= m.levels[3]!.pfn && pfn < m.levels[3]!.pfn + m.tables);
  for (let l = 3; l >= 0; l--) {
    for (const m1 of maps) {
      const lv = m1.levels[l]!;
      if (lv.count === 0) continue;
      const tableOff = offOf(lv.pfn); // a level's tables are consecutive pages: index on across them
      const unit = 2 ** (12 + 9 * l);
      for (const m2 of maps) {
        const child = l > 0 ? m2.levels[l - 1]! : { from: m2.from, to: m2.to, pfn: m2.pfn, count: 1 };
        if (child.count === 0) continue;
        if (child.from >= lv.to || child.to <= lv.from) continue;
        const lo = Math.max(lv.from, child.from);
        const first = Math.floor((lo - lv.from) / unit);
        const last = Math.floor((Math.min(lv.to, child.to) - lv.from) / unit);
        let pfn = Math.floor((lo - child.from) / unit) + child.pfn;
        for (let p = first; p <= last; p++, pfn++) {
          const mfn = mfnOf(pfn);
          const prot = l > 0 ? PT_PROT_UPPER : isTablePage(pfn) ? PT_PROT_L1 & ~_PAGE_RW : PT_PROT_L1;
          dv.setInt32(tableOff + p * 8, ((mfn % 1048576) * PAGE_SIZE + prot) | 0, true);
          dv.setInt32(tableOff + p * 8 + 4, Math.floor(mfn / 1048576), true);
        }
      }
    }
  }
}
