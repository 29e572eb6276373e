/**
 * The domain builder against independent truth:
 * - struct offsets and constants from the Xen headers themselves
 *   (test/native/xen-offsets.c compiled with gcc against /usr/include/xen);
 *   start_info is read back from guest memory at the headers' offsets;
 * - the layout real Xen 4.17's libxenguest chose for this kernel, as its
 *   `domainbuilder: detail:` lines recorded it (real-xen-domu-boot.log);
 * - a walk of the built page tables through the PV MMU (PvMmu.peek).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildDomain, PT_PROT_L1, PT_PROT_UPPER, type BuildOptions, type BuiltDomain } from '../src/domains/builder.ts';
import { loadKernelFile, type LoadedKernel } from '../src/domains/kernel-loader.ts';
import * as SI from '../src/domains/start-info.ts';
import { ARCH_SHARED_INFO, SHARED_INFO, VCPU_INFO, VCPU_INFO_SIZE, VCPU_TIME_INFO, XEN_LEGACY_MAX_VCPUS } from '../src/domains/shared-info.ts';
import { FLAT_KERNEL_CS64, FLAT_KERNEL_SS64, VGCF_IN_KERNEL, VGCF_ONLINE } from '../src/hypercall/abi.ts';
import { ACC_EXEC, ACC_READ, ACC_WRITE, PFEC_P, RSI, RSP } from '../src/cpu/state.ts';
import { pteMfn, _PAGE_USER } from '../src/mmu/pv-mmu.ts';
import { pageTypes, PGT_l1, PGT_l4, PGT_none, PGT_writable, _PAGE_GUEST_KERNEL_HI } from '../src/mmu/page-types.ts';
import { UserError } from '../src/errors.ts';
import { cloudKernel, IMAGES } from './helpers/images.ts';
import { BUILD_DIR, NATIVE_DIR } from './helpers/native.ts';

// ------------------------------------------------------------------ the Xen headers' view

/** Compile and run test/native/xen-offsets.c; returns name → value (offsets, sizes, constants). */
function xenHeaderValues(): Map<string, bigint> {
  if (!existsSync('/usr/include/xen/xen.h')) {
    const cmd = 'apt-get install -y --no-install-recommends libxen-dev';
    if (process.getuid?.() === 0) spawnSync('sh', ['-c', `DEBIAN_FRONTEND=noninteractive ${cmd}`], { stdio: 'inherit' });
    if (!existsSync('/usr/include/xen/xen.h')) throw new Error(`the Xen public headers are missing: run \`sudo ${cmd}\``);
  }
  const src = join(NATIVE_DIR, 'xen-offsets.c');
  const h = createHash('sha256').update(readFileSync(src)).digest('hex').slice(0, 16);
  mkdirSync(BUILD_DIR, { recursive: true });
  const exe = join(BUILD_DIR, `xen-offsets-${h}`);
  if (!existsSync(exe)) {
    const tmp = `${exe}.${process.pid}.tmp`;
    const r = spawnSync('gcc', ['-Wall', '-Werror', '-D__XEN_TOOLS__', '-o', tmp, src], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`building xen-offsets.c failed:\n${r.stderr}${r.error ?? ''}`);
    renameSync(tmp, exe);
  }
  const r = spawnSync(exe, [], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`xen-offsets failed: ${r.stderr}`);
  const out = new Map<string, bigint>();
  for (const line of r.stdout.split('\n')) {
    const m = /^(\S+) (\d+)$/.exec(line);
    if (m) out.set(m[1]!, BigInt(m[2]!));
  }
  return out;
}

let hdr: Map<string, bigint>;
/** A header value as a number (offsets, sizes, small constants). */
const H = (name: string): number => {
  const v = hdr.get(name);
  if (v === undefined) throw new Error(`xen-offsets printed no ${name}`);
  return Number(v);
};

// ------------------------------------------------------------------ what real Xen logged

/**
 * libxenguest's layout lines for linux-image-6.1.0-56-cloud-amd64 at memory=256,
 * copied verbatim from /work/shared/reference/real-xen-domu-boot.log (Xen 4.17,
 * domU 1, initrd /boot/initramfs-domu.cpio.gz: 0xfb24a bytes, gunzipped 0x1e5200 + 16); the
 * lines in between that are about the builder's own memory footprint are left out.
 */
const REAL_XEN_LOG = `
domainbuilder: detail: xc_dom_mem_init: mem 256 MB, pages 0x10000 pages, 4k each
domainbuilder: detail: xc_dom_mem_init: 0x10000 pages
domainbuilder: detail: xc_dom_build_image: called
domainbuilder: detail: xc_dom_alloc_segment:   kernel       : 0xffffffff81000000 -> 0xffffffff83e00000  (pfn 0x1000 + 0x2e00 pages)
domainbuilder: detail: xc_dom_alloc_page   :   start info   : 0xffffffff83e00000 (pfn 0x3e00)
domainbuilder: detail: xc_dom_alloc_page   :   xenstore     : 0xffffffff83e01000 (pfn 0x3e01)
domainbuilder: detail: xc_dom_alloc_page   :   console      : 0xffffffff83e02000 (pfn 0x3e02)
domainbuilder: detail: count_pgtables: 0x0000007fffffffff/39: 0x0000ff8000000000 -> 0x0000ffffffffffff, 1 table(s)
domainbuilder: detail: count_pgtables: 0x000000003fffffff/30: 0x0000ffff80000000 -> 0x0000ffffbfffffff, 1 table(s)
domainbuilder: detail: count_pgtables: 0x00000000001fffff/21: 0x0000ffff80000000 -> 0x0000ffff83ffffff, 32 table(s)
domainbuilder: detail: xc_dom_alloc_segment:   page tables  : 0xffffffff83e03000 -> 0xffffffff83e26000  (pfn 0x3e03 + 0x23 pages)
domainbuilder: detail: xc_dom_alloc_page   :   boot stack   : 0xffffffff83e26000 (pfn 0x3e26)
domainbuilder: detail: xc_dom_build_image  : virt_alloc_end : 0xffffffff83e27000
domainbuilder: detail: xc_dom_build_image  : virt_pgtab_end : 0xffffffff84000000
domainbuilder: detail: xc_dom_alloc_segment:   module0      : 0xffffffff84000000 -> 0xffffffff841e5210  (pfn 0x4000 + 0x1e6 pages)
domainbuilder: detail: xc_dom_do_gunzip: unzip ok, 0xfb24a -> 0x1e5210
domainbuilder: detail: count_pgtables: 0x0000007fffffffff/39: 0x0000008000000000 -> 0x000000ffffffffff, 1 table(s)
domainbuilder: detail: count_pgtables: 0x000000003fffffff/30: 0x0000008000000000 -> 0x000000803fffffff, 1 table(s)
domainbuilder: detail: count_pgtables: 0x00000000001fffff/21: 0x0000008000000000 -> 0x00000080001fffff, 1 table(s)
domainbuilder: detail: xc_dom_alloc_segment:   phys2mach    : 0xffffffff841e6000 -> 0xffffffff84269000  (pfn 0x41e6 + 0x83 pages)
domainbuilder: detail: start_info_x86_64: called
domainbuilder: detail: bootlate_pv: shared_info: pfn 0x0, mfn 0x5fc59
domainbuilder: detail: shared_info_x86_64: called
domainbuilder: detail: vcpu_x86_64: called
domainbuilder: detail: vcpu_x86_64: cr3: pfn 0x3e03 mfn 0x5c603
`.trim().split('\n');
/** The logged kernel's virt_kend (xc: detail: virt_kend). */
const LOGGED_VIRT_KEND = 0xffffffff83e00000n;

/** A value from a logged line, by regex (first capture group, hex). */
function logged(re: RegExp): number {
  for (const l of REAL_XEN_LOG) {
    const m = re.exec(l);
    if (m) return parseInt(m[1]!, 16);
  }
  throw new Error(`no logged line matches ${re}`);
}

// ------------------------------------------------------------------ fixtures

let kernel: LoadedKernel;
let release: string;
let initrdFile: Uint8Array;
let built: BuiltDomain;
/** Kernel-size difference to the logged kernel, in pages (0 when both end at the same PFN). */
let delta: number;

const base = (o: Partial<BuildOptions> = {}): BuildOptions => ({
  id: 1,
  name: 'test',
  kernel,
  cmdline: 'console=hvc0 earlyprintk=xen root=/dev/xvda1 ro',
  memoryMiB: 256,
  vcpus: 1,
  consoleOut: () => {},
  clockNs: () => 0,
  ...o,
});

beforeAll(() => {
  hdr = xenHeaderValues();
  const k = cloudKernel();
  release = k.release;
  kernel = loadKernelFile(k.path);
  initrdFile = new Uint8Array(readFileSync(join(IMAGES, 'initramfs.cpio.gz')));
  built = buildDomain(base({ ramdisk: initrdFile }));
  delta = Number((kernel.virtKend - LOGGED_VIRT_KEND) / 4096n);
}, 300_000);

const u64At = (b: BuiltDomain, off: number): bigint => b.domain.memory.dv.getBigUint64(off, true);
const pfnOffset = (b: BuiltDomain, pfn: number): number => b.domain.memory.offsetOfMfn(b.domain.memory.pfnToMfn(pfn));
const lohi = (va: bigint): [number, number] => [Number(BigInt.asIntN(32, va)), Number(BigInt.asIntN(32, va >> 32n))];
/** RAM offset a VA maps to through vCPU 0's page tables (no side effects), or -1. */
const peek = (b: BuiltDomain, va: bigint, access = ACC_READ): number => b.domain.vcpus[0]!.mmu.peek(...lohi(va), access);
const VA = (pfn: number): bigint => BigInt.asUintN(64, kernel.virtBase + BigInt(pfn) * 4096n);

// ------------------------------------------------------------------ tests

describe('struct layouts match the Xen headers', () => {
  it('start_info offsets, size, SIF_* flags and MAX_GUEST_CMDLINE', () => {
    const S = SI.START_INFO;
    const pairs: [number, string][] = [
      [S.magic, 'start_info.magic'], [S.nr_pages, 'start_info.nr_pages'], [S.shared_info, 'start_info.shared_info'],
      [S.flags, 'start_info.flags'], [S.store_mfn, 'start_info.store_mfn'], [S.store_evtchn, 'start_info.store_evtchn'],
      [S.console_domU_mfn, 'start_info.console.domU.mfn'], [S.console_domU_evtchn, 'start_info.console.domU.evtchn'],
      [S.console_dom0_info_off, 'start_info.console.dom0.info_off'], [S.console_dom0_info_size, 'start_info.console.dom0.info_size'],
      [S.pt_base, 'start_info.pt_base'], [S.nr_pt_frames, 'start_info.nr_pt_frames'], [S.mfn_list, 'start_info.mfn_list'],
      [S.mod_start, 'start_info.mod_start'], [S.mod_len, 'start_info.mod_len'], [S.cmd_line, 'start_info.cmd_line'],
      [S.first_p2m_pfn, 'start_info.first_p2m_pfn'], [S.nr_p2m_frames, 'start_info.nr_p2m_frames'], [S.size, 'sizeof.start_info'],
      [SI.MAX_GUEST_CMDLINE, 'MAX_GUEST_CMDLINE'], [SI.SIF_PRIVILEGED, 'SIF_PRIVILEGED'], [SI.SIF_INITDOMAIN, 'SIF_INITDOMAIN'],
      [SI.SIF_MULTIBOOT_MOD, 'SIF_MULTIBOOT_MOD'], [SI.SIF_MOD_START_PFN, 'SIF_MOD_START_PFN'],
      [SI.SIF_VIRT_P2M_4TOOLS, 'SIF_VIRT_P2M_4TOOLS'], [SI.SIF_PM_MASK, 'SIF_PM_MASK'],
    ];
    for (const [ours, name] of pairs) expect(ours, name).toBe(H(name));
  });

  it('shared_info, vcpu_info, vcpu_time_info, arch_shared_info (src/domains/shared-info.ts)', () => {
    const pairs: [number, string][] = [
      [SHARED_INFO.vcpu_info, 'shared_info.vcpu_info'], [SHARED_INFO.evtchn_pending, 'shared_info.evtchn_pending'],
      [SHARED_INFO.evtchn_mask, 'shared_info.evtchn_mask'], [SHARED_INFO.wc_version, 'shared_info.wc_version'],
      [SHARED_INFO.wc_sec, 'shared_info.wc_sec'], [SHARED_INFO.wc_nsec, 'shared_info.wc_nsec'],
      [SHARED_INFO.wc_sec_hi, 'shared_info.wc_sec_hi'], [SHARED_INFO.arch, 'shared_info.arch'], [SHARED_INFO.size, 'sizeof.shared_info'],
      [XEN_LEGACY_MAX_VCPUS, 'XEN_LEGACY_MAX_VCPUS'], [VCPU_INFO_SIZE, 'sizeof.vcpu_info'],
      [VCPU_INFO.evtchn_upcall_pending, 'vcpu_info.evtchn_upcall_pending'], [VCPU_INFO.evtchn_upcall_mask, 'vcpu_info.evtchn_upcall_mask'],
      [VCPU_INFO.evtchn_pending_sel, 'vcpu_info.evtchn_pending_sel'], [VCPU_INFO.arch_cr2, 'vcpu_info.arch.cr2'],
      [VCPU_INFO.time, 'vcpu_info.time'],
      [VCPU_TIME_INFO.version, 'vcpu_time_info.version'], [VCPU_TIME_INFO.tsc_timestamp, 'vcpu_time_info.tsc_timestamp'],
      [VCPU_TIME_INFO.system_time, 'vcpu_time_info.system_time'], [VCPU_TIME_INFO.tsc_to_system_mul, 'vcpu_time_info.tsc_to_system_mul'],
      [VCPU_TIME_INFO.tsc_shift, 'vcpu_time_info.tsc_shift'], [VCPU_TIME_INFO.flags, 'vcpu_time_info.flags'],
      [ARCH_SHARED_INFO.max_pfn, 'arch_shared_info.max_pfn'],
      [ARCH_SHARED_INFO.pfn_to_mfn_frame_list_list, 'arch_shared_info.pfn_to_mfn_frame_list_list'],
      [ARCH_SHARED_INFO.nmi_reason, 'arch_shared_info.nmi_reason'], [ARCH_SHARED_INFO.p2m_cr3, 'arch_shared_info.p2m_cr3'],
      [ARCH_SHARED_INFO.p2m_vaddr, 'arch_shared_info.p2m_vaddr'], [ARCH_SHARED_INFO.p2m_generation, 'arch_shared_info.p2m_generation'],
    ];
    for (const [ours, name] of pairs) expect(ours, name).toBe(H(name));
  });

  it('the selectors and VGCF flags the builder puts in vCPU 0', () => {
    expect(FLAT_KERNEL_CS64).toBe(H('FLAT_KERNEL_CS64'));
    expect(FLAT_KERNEL_SS64).toBe(H('FLAT_KERNEL_SS64'));
    expect(H('FLAT_KERNEL_DS64')).toBe(0); // what the builder leaves in ds/es/fs/gs
    expect(VGCF_IN_KERNEL).toBe(H('VGCF_in_kernel'));
    expect(VGCF_ONLINE).toBe(H('VGCF_online'));
  });
});

describe(`the built domain (cloud kernel, 256 MiB, initramfs)`, () => {
  it('start_info, read at the Xen headers\' offsets, holds every field', () => {
    const b = built;
    const L = b.layout;
    const mem = b.domain.memory;
    const s = pfnOffset(b, L.startInfo.pfn);
    const rd = (f: string): bigint => u64At(b, s + H(`start_info.${f}`));
    const rd32 = (f: string): number => mem.dv.getUint32(s + H(`start_info.${f}`), true);
    const cstr = (f: string, max: number): string => {
      const o = s + H(`start_info.${f}`);
      let e = o;
      while (e < o + max && mem.ram[e] !== 0) e++;
      expect(e, `${f} is NUL-terminated`).toBeLessThan(o + max);
      return Buffer.from(mem.ram.subarray(o, e)).toString('latin1');
    };
    expect(cstr('magic', 32)).toBe('xen-3.0-x86_64');
    expect(rd('nr_pages')).toBe(65536n);
    expect(rd('shared_info')).toBe(BigInt(b.domain.sharedInfoMfn) * 4096n);
    expect(mem.isSpecialMfn(b.domain.sharedInfoMfn)).toBe(true);
    // libxenguest: SIF_VIRT_P2M_4TOOLS always (xc_dom_allocate), SIF_MOD_START_PFN for the unmapped initrd.
    expect(rd32('flags')).toBe(H('SIF_MOD_START_PFN') | H('SIF_VIRT_P2M_4TOOLS'));
    expect(rd('store_mfn')).toBe(BigInt(mem.pfnToMfn(L.xenstore.pfn)));
    expect(rd32('store_evtchn')).toBe(1);
    expect(rd('console.domU.mfn')).toBe(BigInt(mem.pfnToMfn(L.console.pfn)));
    expect(rd32('console.domU.evtchn')).toBe(2);
    expect(rd('pt_base')).toBe(VA(L.pageTables.pfn));
    expect(rd('nr_pt_frames')).toBe(BigInt(L.pageTables.pages));
    expect(rd('mfn_list')).toBe(0x8000000000n);
    expect(rd('mfn_list')).toBe(kernel.notes.initP2m);
    expect(rd('mod_start')).toBe(BigInt(L.initrd!.pfn));
    expect(rd('mod_len')).toBe(BigInt(L.initrd!.pages * 4096));
    expect(cstr('cmd_line', H('MAX_GUEST_CMDLINE'))).toBe('console=hvc0 earlyprintk=xen root=/dev/xvda1 ro');
    expect(rd('first_p2m_pfn')).toBe(BigInt(L.p2m.pfn));
    expect(rd('nr_p2m_frames')).toBe(BigInt(L.p2m.pages));
    // Nothing beyond the struct: the rest of the page is zero.
    expect(mem.ram.subarray(s + H('sizeof.start_info'), s + 4096).every((x) => x === 0)).toBe(true);
    // readStartInfo (our constants) agrees with the header-offset reads above.
    expect(SI.readStartInfo(mem.dv, s)).toEqual(b.startInfo);
  });

  it(`places everything where real Xen 4.17 did for this kernel (log: 6.1.0-56-cloud-amd64)`, () => {
    const L = built.layout;
    // The logged kernel (6.1.0-56) and the one the cache holds must be compared by where
    // their image ends: everything up to the boot stack moves with virt_kend.
    // Both 6.1.0-50 (virt_kend 0xffffffff83e00000, segments 0x1822310/0x618000/0x34000/0xdb4000)
    // and 6.1.0-56 (same virt_kend; 0x1826634/0x61a000/0x34000/0xdb2000) give delta 0.
    expect(kernel.virtKstart).toBe(0xffffffff81000000n);
    expect(L.kernel.pfn).toBe(logged(/kernel\s+: .*\(pfn 0x([0-9a-f]+)/));
    expect(L.kernel.pages).toBe(logged(/kernel\s+: .*\+ 0x([0-9a-f]+) pages/) + delta);
    expect(L.startInfo.pfn).toBe(logged(/start info\s+: .*\(pfn 0x([0-9a-f]+)\)/) + delta);
    expect(L.xenstore.pfn).toBe(logged(/xenstore\s+: .*\(pfn 0x([0-9a-f]+)\)/) + delta);
    expect(L.console.pfn).toBe(logged(/console\s+: .*\(pfn 0x([0-9a-f]+)\)/) + delta);
    expect(L.pageTables.pfn).toBe(logged(/page tables\s+: .*\(pfn 0x([0-9a-f]+)/) + delta);
    expect(L.bootStack.pfn).toBe(L.pageTables.pfn + L.pageTables.pages);
    // virt_pgtab_end: 4 MiB-aligned, covering the boot stack + 512 KiB of padding.
    expect(L.virtPgtabEnd % (4n << 20n)).toBe(0n);
    expect(L.virtPgtabEnd).toBeGreaterThanOrEqual(VA(L.bootStack.pfn + 1) + (512n << 10n));
    expect(L.virtPgtabEnd - (4n << 20n)).toBeLessThan(VA(L.bootStack.pfn + 1) + (512n << 10n));
    // The initrd at the first PFN past virt_pgtab_end; the p2m list right after it.
    expect(L.initrd!.pfn).toBe(Number((L.virtPgtabEnd - kernel.virtBase) / 4096n));
    expect(L.p2m.pfn).toBe(L.initrd!.pfn + L.initrd!.pages);
    // libxenguest gunzips the initrd and sizes the segment as gzip's ISIZE + 16.
    const isize = Buffer.from(initrdFile.subarray(initrdFile.length - 4)).readUInt32LE(0);
    expect(L.initrd!.gunzipped).toBe(true);
    expect(L.initrd!.pages).toBe(Math.ceil((isize + 16) / 4096));
    expect(L.p2m.pages).toBe(logged(/phys2mach\s+: .*\+ 0x([0-9a-f]+) pages/)); // 0x80 list pages + L3, L2, L1
    if (delta === 0) {
      expect(L.pageTables.pages).toBe(logged(/page tables\s+: .*\+ 0x([0-9a-f]+) pages/));
      expect(L.bootStack.pfn).toBe(logged(/boot stack\s+: .*\(pfn 0x([0-9a-f]+)\)/));
      expect(L.virtAllocEnd).toBe(0xffffffff83e27000n);
      expect(L.virtPgtabEnd).toBe(0xffffffff84000000n);
      expect(L.initrd!.pfn).toBe(logged(/module0\s+: .*\(pfn 0x([0-9a-f]+)/));
    }
  });

  it('with an initrd of the logged size, prints libxenguest\'s detail lines word for word', () => {
    // The logged initrd gunzipped to 0x1e5210 - 16 bytes; make one of that size.
    const unzip = logged(/unzip ok, 0x[0-9a-f]+ -> 0x([0-9a-f]+)/);
    const fake = new Uint8Array(gzipSync(Buffer.alloc(unzip - 16, 0x5a)));
    const lines: string[] = [];
    const b = buildDomain(base({ ramdisk: fake, cmdline: 'console=hvc0', verbose: (l) => lines.push(l) }));
    expect(lines).toEqual(b.layout.detail);
    const ours = lines.filter((l) => !/unzip ok|mfn 0x/.test(l));
    const theirs = REAL_XEN_LOG.filter((l) => !/unzip ok|mfn 0x/.test(l));
    if (delta !== 0) {
      // A kernel of another size shifts the lines; the structure must still match.
      expect(ours.map((l) => l.replace(/0x[0-9a-f]+/g, 'N'))).toEqual(theirs.map((l) => l.replace(/0x[0-9a-f]+/g, 'N')));
      return;
    }
    expect(ours).toEqual(theirs);
    // cr3: the same PFN; the MFN is ours to choose (never equal to the PFN).
    expect(lines.find((l) => l.includes('cr3:'))).toMatch(/cr3: pfn 0x3e03 mfn 0x(?!3e03\b)[0-9a-f]+$/);
    expect(lines.find((l) => l.includes('unzip ok'))).toBe(`domainbuilder: detail: xc_dom_do_gunzip: unzip ok, 0x${fake.length.toString(16)} -> 0x${unzip.toString(16)}`);
  });

  it('vCPU 0 starts at the ELF entry with rsi = start_info, the boot stack and FLAT_KERNEL selectors', () => {
    const b = built;
    const v = b.domain.vcpus[0]!;
    const c = v.cpu;
    const L = b.layout;
    expect((BigInt(c.r[33]! >>> 0) << 32n) | BigInt(c.r[32]! >>> 0)).toBe(kernel.virtEntry);
    expect(kernel.virtEntry).toBe(kernel.notes.entry);
    expect(c.getReg64n(RSI)).toBe(VA(L.startInfo.pfn));
    expect(c.getReg64n(RSP)).toBe(VA(L.bootStack.pfn + 1));
    for (const r of [0, 1, 2, 3, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15]) expect(c.getReg64n(r), `gpr ${r}`).toBe(0n);
    expect(c.getFlags()).toBe(0x202);
    expect(Array.from(c.sel)).toEqual([0, H('FLAT_KERNEL_CS'), H('FLAT_KERNEL_SS'), 0, 0, 0]);
    expect(Array.from(c.segBase)).toEqual(new Array(12).fill(0));
    expect(v.kernelSs).toBe(H('FLAT_KERNEL_SS'));
    expect(BigInt.asUintN(64, BigInt(v.kernelSp))).toBe(VA(L.bootStack.pfn + 1));
    expect(v.vgcFlags).toBe(H('VGCF_in_kernel') | H('VGCF_online'));
    expect(v.online).toBe(true);
    expect(v.kernelMode).toBe(true);
    expect(v.mmu.kernelRoot).toBe(b.domain.memory.pfnToMfn(L.pageTables.pfn));
    expect(v.mmu.kernelRoot).toBe(b.l4Mfn);
    expect(v.mmu.userRoot).toBe(0);
    expect(v.debugReg[6]).toBe(0xffff0ff0);
    expect(v.debugReg[7]).toBe(0x400);
  });

  it('shared_info is zero except every legacy vcpu_info\'s upcall mask', () => {
    const mem = built.domain.memory;
    const o = mem.offsetOfMfn(built.domain.sharedInfoMfn);
    for (let i = 0; i < 4096; i++) {
      const slot = Math.floor(i / H('sizeof.vcpu_info'));
      const want = slot < H('XEN_LEGACY_MAX_VCPUS') && i % H('sizeof.vcpu_info') === H('vcpu_info.evtchn_upcall_mask') ? 1 : 0;
      if (mem.ram[o + i] !== want) expect(`byte ${i} = ${mem.ram[o + i]}`).toBe(`byte ${i} = ${want}`);
    }
  });

  it('page walk: entry maps the kernel\'s bytes; start_info read-write; page tables read-only', () => {
    const b = built;
    const L = b.layout;
    const mem = b.domain.memory;
    // The entry point: executable, and the bytes are the ELF segment's.
    const seg = kernel.segments.find((s) => s.vaddr !== 0n && kernel.virtEntry >= s.vaddr && kernel.virtEntry < s.vaddr + BigInt(s.memsz))!;
    const off = peek(b, kernel.virtEntry, ACC_EXEC);
    expect(off).toBeGreaterThanOrEqual(0);
    const at = Number(kernel.virtEntry - seg.vaddr);
    expect(Buffer.from(mem.ram.subarray(off, off + 64)).equals(Buffer.from(seg.data.subarray(at, at + 64)))).toBe(true);
    // Every kernel page maps PFN = paddr / 4096 (load by physical address), including the VA-0 percpu segment.
    for (const s of kernel.segments) {
      for (let p = 0; p < s.memsz; p += 4096) {
        const o = peek(b, VA((s.paddr + p) / 4096));
        expect(o).toBe(pfnOffset(b, (s.paddr + p) / 4096));
        const n = Math.min(64, Math.max(0, s.filesz - p));
        if (n && !Buffer.from(mem.ram.subarray(o, o + n)).equals(Buffer.from(s.data.subarray(p, p + n)))) {
          expect(`segment 0x${s.paddr.toString(16)} page 0x${p.toString(16)}`).toBe('equal to the ELF bytes');
        }
        if (p + 4096 > s.filesz && p < s.memsz && s.filesz < s.memsz) {
          expect(mem.ram.subarray(o + Math.max(0, s.filesz - p), o + 4096).every((x) => x === 0)).toBe(true);
        }
      }
    }
    // start_info at rsi: read-write; xenstore/console/boot stack too.
    const rsi = b.domain.vcpus[0]!.cpu.getReg64n(RSI);
    expect(peek(b, rsi, ACC_WRITE)).toBe(pfnOffset(b, L.startInfo.pfn));
    for (const p of [L.xenstore, L.console, L.bootStack]) expect(peek(b, p.va, ACC_WRITE)).toBe(pfnOffset(b, p.pfn));
    // Every page-table page: mapped, readable, not writable.
    const mmu = b.domain.vcpus[0]!.mmu;
    for (let pfn = L.pageTables.pfn; pfn < L.pageTables.pfn + L.pageTables.pages; pfn++) {
      expect(peek(b, VA(pfn)), `pt pfn 0x${pfn.toString(16)} readable`).toBe(pfnOffset(b, pfn));
      expect(peek(b, VA(pfn), ACC_WRITE), `pt pfn 0x${pfn.toString(16)} read-only`).toBe(-1);
      expect(mmu.faultCode & PFEC_P).toBe(PFEC_P);
    }
    // Mapped up to virt_pgtab_end, not beyond (the unmapped initrd lies there).
    const last = Number((L.virtPgtabEnd - kernel.virtBase) / 4096n) - 1;
    expect(peek(b, VA(last), ACC_WRITE)).toBe(pfnOffset(b, last));
    expect(peek(b, VA(last + 1))).toBe(-1);
    expect(peek(b, VA(0))).toBe(pfnOffset(b, 0));
  });

  it('page-table entries: flags per level, MFNs ≠ PFNs, the Xen hole left empty', () => {
    const b = built;
    const L = b.layout;
    const mem = b.domain.memory;
    const dv = mem.dv;
    const l4 = pfnOffset(b, L.pageTables.pfn);
    const ptPfns = new Set<number>();
    for (const m of L.mappings) for (let i = 0; i < m.tables; i++) ptPfns.add(m.levels[3]!.pfn + i);
    // L4: exactly slots 1 (p2m) and 511 (kernel); 256-271 (Xen's) are zero.
    const present: number[] = [];
    for (let i = 0; i < 512; i++) if (dv.getUint32(l4 + i * 8, true) & 1) present.push(i);
    expect(present).toEqual([1, 511]);
    for (let i = 256; i < 272; i++) expect(u64At(b, l4 + i * 8)).toBe(0n);
    // Walk every table reachable from the L4, checking flags and that each entry's MFN is the M2P inverse of a PFN ≠ MFN.
    let l1Entries = 0;
    const bad: string[] = [];
    const check = (ok: boolean, what: string): void => void (ok || bad.push(what));
    const walk = (pfn: number, level: number): void => {
      const o = pfnOffset(b, pfn);
      for (let i = 0; i < 512; i++) {
        const lo = dv.getUint32(o + i * 8, true), hi = dv.getUint32(o + i * 8 + 4, true);
        const at = `L${level} pfn 0x${pfn.toString(16)}[${i}] = 0x${hi.toString(16)}_${lo.toString(16).padStart(8, '0')}`;
        if (!(lo & 1)) {
          check((lo | hi) === 0, `${at}: not present but not zero`);
          continue;
        }
        const mfn = pteMfn(lo, hi);
        const target = mem.m2p(mfn);
        check(target >= 0, `${at}: MFN not the domain's`);
        check(mfn !== target, `${at}: MFN = PFN`);
        // Pinning adjusts entries as Xen does (adjust_guest_l1e): a kernel L1 entry gains U and
        // _PAGE_GUEST_KERNEL; otherwise the builder's flags stand. No NX, no other high bits.
        check((hi & ~_PAGE_GUEST_KERNEL_HI) === Math.floor(mfn / 1048576), `${at}: high bits`);
        if (level > 1) {
          check((lo & 0xfff) === PT_PROT_UPPER && hi === Math.floor(mfn / 1048576), `${at}: flags (want 0x67)`);
          check(ptPfns.has(target), `${at}: points at a frame that is not a page table`);
          if (ptPfns.has(target)) walk(target, level - 1);
        } else {
          l1Entries++;
          const prot = ptPfns.has(target) ? PT_PROT_L1 & ~2 : PT_PROT_L1; // 0x21 / 0x23 as written
          check((lo & 0xfff & ~_PAGE_USER) === prot, `${at}: flags (want 0x${prot.toString(16)})`);
          check(((lo & _PAGE_USER) !== 0) === ((hi & _PAGE_GUEST_KERNEL_HI) !== 0), `${at}: U without _PAGE_GUEST_KERNEL`);
        }
      }
    };
    walk(L.pageTables.pfn, 4);
    expect(bad.slice(0, 10)).toEqual([]);
    const mapped0 = Number((L.virtPgtabEnd - kernel.virtBase) / 4096n);
    expect(l1Entries).toBe(mapped0 + L.p2m.listPages);
    expect(PT_PROT_UPPER).toBe(0x67);
    expect(PT_PROT_L1).toBe(0x23);
  });

  it('the p2m list at 0x8000000000 holds MFN(i) at entry i, is writable, and M2P inverts it', () => {
    const b = built;
    const L = b.layout;
    const mem = b.domain.memory;
    expect(b.startInfo.mfnList).toBe(0x8000000000n);
    for (let i = 0; i < L.p2m.listPages * 512; i++) {
      const va = 0x8000000000n + BigInt(i) * 8n;
      const o = peek(b, va);
      if (o < 0) expect(`p2m entry ${i}`).toBe('mapped');
      const v = u64At(b, o);
      const want = i < L.nrPages ? BigInt(mem.pfnToMfn(i)) : 0xffffffffffffffffn;
      if (v !== want) expect(`p2m[${i}] = 0x${v.toString(16)}`).toBe(`p2m[${i}] = 0x${want.toString(16)}`);
    }
    // Linux writes INVALID into the tail of the list: the mapping must be writable.
    for (let p = 0; p < L.p2m.listPages; p++) {
      expect(peek(b, 0x8000000000n + BigInt(p) * 4096n, ACC_WRITE)).toBe(pfnOffset(b, L.p2m.pfn + p));
    }
    expect(peek(b, 0x8000000000n + BigInt(L.p2m.listPages) * 4096n)).toBe(-1);
    // MFN ≠ PFN everywhere, and M2P ∘ P2M = id.
    for (let pfn = 0; pfn < L.nrPages; pfn++) {
      const mfn = mem.pfnToMfn(pfn);
      if (mfn === pfn || mem.m2p(mfn) !== pfn) expect(`pfn 0x${pfn.toString(16)} → mfn 0x${mfn.toString(16)} → 0x${mem.m2p(mfn).toString(16)}`).toBe('inverse');
    }
    // The store and console rings are reachable through mfn_to_pfn (M2P). The console page is
    // zeroed; the store page too, except server_features, which xenstored sets on introduction
    // (xen/io/xs_wire.h: XENSTORE_SERVER_FEATURE_ERROR at offset 2064).
    expect(mem.m2p(Number(b.startInfo.storeMfn))).toBe(L.xenstore.pfn);
    expect(mem.m2p(Number(b.startInfo.consoleMfn))).toBe(L.console.pfn);
    expect(mem.ram.subarray(pfnOffset(b, L.console.pfn), pfnOffset(b, L.console.pfn) + 4096).every((x) => x === 0)).toBe(true);
    const store = mem.ram.subarray(pfnOffset(b, L.xenstore.pfn), pfnOffset(b, L.xenstore.pfn) + 4096);
    expect(new DataView(store.buffer, store.byteOffset).getUint32(2064, true)).toBe(2);
    expect(store.every((x, k) => x === 0 || (k >= 2064 && k < 2068))).toBe(true);
    // first_p2m_pfn .. + nr_p2m_frames: the list, then its L3, L2, L1 (not mapped anywhere).
    const m1 = L.mappings[1]!;
    expect(m1.levels.slice(0, 3).map((l) => l.pfn)).toEqual([L.p2m.pfn + L.p2m.listPages + 2, L.p2m.pfn + L.p2m.listPages + 1, L.p2m.pfn + L.p2m.listPages]);
    expect(L.p2m.pages).toBe(L.p2m.listPages + 3);
  });

  it('the initrd is not mapped, and its (gunzipped) bytes sit at mod_start', () => {
    const b = built;
    const L = b.layout;
    const mem = b.domain.memory;
    const modStart = Number(b.startInfo.modStart);
    expect(b.startInfo.flags & SI.SIF_MOD_START_PFN).toBeTruthy();
    expect(modStart).toBe(L.initrd!.pfn);
    for (let p = 0; p < L.initrd!.pages; p++) expect(peek(b, VA(modStart + p))).toBe(-1);
    const cpio = new Uint8Array(gunzipSync(initrdFile));
    const o = pfnOffset(b, modStart);
    expect(Buffer.from(mem.ram.subarray(o, o + cpio.length)).equals(Buffer.from(cpio))).toBe(true);
    expect(Buffer.from(cpio.subarray(0, 6)).toString()).toBe('070701'); // newc cpio
    expect(mem.ram.subarray(o + cpio.length, o + L.initrd!.pages * 4096).every((x) => x === 0)).toBe(true);
    expect(Number(b.startInfo.modLen)).toBeGreaterThanOrEqual(cpio.length);
  });

  it('pins the L4 as bootlate_pv does: the whole tree validates under the page-type rules', () => {
    const b = built;
    const L = b.layout;
    const mem = b.domain.memory;
    const pt = pageTypes(mem);
    expect(pt.isPinned(b.l4Mfn)).toBe(true);
    expect(pt.typeOf(b.l4Mfn)).toBe(PGT_l4);
    expect(pt.kernelRootRef[0]).toBe(b.l4Mfn); // vCPU 0's guest_table holds its own reference
    expect(pt.typeCount(b.l4Mfn)).toBe(2);
    // Every table of both mappings is validated as its level; nothing else is a page table.
    const tableLevel = new Map<number, number>();
    for (const m of L.mappings) for (const lv of m.levels) for (let i = 0; i < lv.count; i++) tableLevel.set(lv.pfn + i, lv.level);
    expect(tableLevel.size).toBe(L.pageTables.pages + L.p2m.tablePages);
    for (let pfn = 0; pfn < L.nrPages; pfn++) {
      const mfn = mem.pfnToMfn(pfn);
      const want = tableLevel.get(pfn);
      const got = pt.typeOf(mfn);
      if (want !== undefined) {
        if (got !== PGT_l1 + want - 1 || !pt.isValidated(mfn)) expect(pt.describe(mfn)).toBe(`an L${want} table`);
      } else if (got !== PGT_none && got !== PGT_writable) {
        expect(pt.describe(mfn)).toBe('not a page table');
      }
    }
    // Mapped read-write → a writable reference (start_info, the rings, the boot stack, the p2m list, the kernel).
    for (const pfn of [L.startInfo.pfn, L.xenstore.pfn, L.console.pfn, L.bootStack.pfn, L.p2m.pfn, kernel.pstart / 4096]) {
      expect(pt.typeOf(mem.pfnToMfn(pfn)), `pfn 0x${pfn.toString(16)}`).toBe(PGT_writable);
    }
    // The unmapped initrd holds no reference.
    expect(pt.typeCount(mem.pfnToMfn(L.initrd!.pfn))).toBe(0);
  });
});

describe('variants', () => {
  it('a kernel without MOD_START_PFN gets a mapped initrd after the kernel, mod_start = its VA', () => {
    const k: LoadedKernel = { ...kernel, notes: { ...kernel.notes, modStartPfn: undefined } };
    const b = buildDomain(base({ kernel: k, ramdisk: initrdFile, memoryMiB: 128 }));
    const L = b.layout;
    const kend = L.kernel.pfn + L.kernel.pages;
    expect(L.initrd!.unmapped).toBe(false);
    expect(L.initrd!.pfn).toBe(kend);
    expect(L.startInfo.pfn).toBe(kend + L.initrd!.pages);
    expect(b.startInfo.flags).toBe(SI.SIF_VIRT_P2M_4TOOLS);
    expect(b.startInfo.modStart).toBe(VA(kend));
    const isize = Buffer.from(initrdFile.subarray(initrdFile.length - 4)).readUInt32LE(0);
    expect(b.startInfo.modLen).toBe(BigInt(isize + 16)); // vend - vstart, as Xen 4.17 computes it
    const cpio = new Uint8Array(gunzipSync(initrdFile));
    const o = peek(b, b.startInfo.modStart);
    expect(o).toBe(pfnOffset(b, kend));
    expect(Buffer.from(b.domain.memory.ram.subarray(o, o + 4096)).equals(Buffer.from(cpio.subarray(0, 4096)))).toBe(true);
    expect(L.virtPgtabEnd).toBeGreaterThan(VA(L.bootStack.pfn));
  });

  it('a kernel without INIT_P2M gets its p2m list inside the initial mapping', () => {
    const k: LoadedKernel = { ...kernel, notes: { ...kernel.notes, initP2m: undefined } };
    const b = buildDomain(base({ kernel: k, memoryMiB: 128 }));
    const L = b.layout;
    const kend = L.kernel.pfn + L.kernel.pages;
    expect(L.p2m.pfn).toBe(kend);
    expect(L.startInfo.pfn).toBe(kend + L.p2m.pages);
    expect(b.startInfo.mfnList).toBe(VA(kend));
    expect(b.startInfo.firstP2mPfn).toBe(0n);
    expect(b.startInfo.nrP2mFrames).toBe(0n);
    expect(L.mappings).toHaveLength(1);
    const o = peek(b, b.startInfo.mfnList + 8n * 5n);
    expect(u64At(b, o)).toBe(BigInt(b.domain.memory.pfnToMfn(5)));
  });

  it('an uncompressed initrd is loaded as is; ramdiskGunzip: false keeps the gzip', () => {
    const raw = new Uint8Array(gunzipSync(initrdFile));
    const b1 = buildDomain(base({ ramdisk: raw, memoryMiB: 128 }));
    expect(b1.layout.initrd!.gunzipped).toBe(false);
    expect(b1.layout.initrd!.pages).toBe(Math.ceil(raw.length / 4096));
    const b2 = buildDomain(base({ ramdisk: initrdFile, memoryMiB: 128, ramdiskGunzip: false }));
    const o = pfnOffset(b2, b2.layout.initrd!.pfn);
    expect(Buffer.from(b2.domain.memory.ram.subarray(o, o + initrdFile.length)).equals(Buffer.from(initrdFile))).toBe(true);
  });

  it('a command line of exactly 1023 bytes fits', () => {
    const b = buildDomain(base({ cmdline: 'x'.repeat(1023), memoryMiB: 128 }));
    expect(b.startInfo.cmdLine).toHaveLength(1023);
  });
});

describe('bad input gives one-line errors', () => {
  const err = (o: Partial<BuildOptions>): string => {
    try {
      buildDomain(base(o));
    } catch (e) {
      expect(e).toBeInstanceOf(UserError);
      const m = (e as Error).message;
      expect(m).not.toContain('\n');
      return m;
    }
    throw new Error('no error');
  };

  it('memory too small for the kernel image and tables says how much is needed', () => {
    // The image ends at 62 MiB; its mapping runs to 64 MiB; p2m list + tables need one more MiB.
    expect(err({ memoryMiB: 32 })).toBe(
      'memory = 32 MiB is too small for this kernel: its image, boot pages and initial page tables need memory >= 65 MiB',
    );
    expect(err({ memoryMiB: 64 })).toMatch(/need memory >= 65 MiB/);
    expect(() => buildDomain(base({ memoryMiB: 65 }))).not.toThrow();
  });

  it('an initrd that does not fit', () => {
    const m = err({ memoryMiB: 65, ramdisk: initrdFile });
    expect(m).toMatch(/^the initrd \(\d+ bytes after gunzip\) does not fit in memory = 65 MiB: kernel, initrd and p2m list need memory >= \d+ MiB$/);
    const need = Number(/>= (\d+) MiB/.exec(m)![1]);
    expect(() => buildDomain(base({ memoryMiB: need, ramdisk: initrdFile }))).not.toThrow();
    expect(err({ memoryMiB: need - 1, ramdisk: initrdFile })).toContain('does not fit');
  });

  it('a kernel without Xen notes', () => {
    const k: LoadedKernel = { ...kernel, isXenPv: false, noteSource: 'none', notes: { entries: [], featuresRequired: [], featuresSupported: [] } };
    expect(err({ kernel: k })).toBe('kernel has no Xen ELF notes: it is not a Xen PV kernel (CONFIG_XEN_PV)');
    const noEntry: LoadedKernel = { ...kernel, notes: { ...kernel.notes, entry: undefined } };
    expect(err({ kernel: noEntry })).toMatch(/no ENTRY note/);
  });

  it('a kernel for another Xen interface than xen-3.0', () => {
    const k: LoadedKernel = { ...kernel, notes: { ...kernel.notes, xenVersion: 'xen-4.0' } };
    expect(err({ kernel: k })).toBe('kernel wants Xen interface "xen-4.0", only "xen-3.0" exists');
    const none: LoadedKernel = { ...kernel, notes: { ...kernel.notes, xenVersion: undefined } };
    expect(err({ kernel: none })).toMatch(/no XEN_VERSION note/);
  });

  it('a command line longer than 1023 bytes', () => {
    expect(err({ cmdline: 'x'.repeat(1024) })).toBe('kernel command line is 1024 bytes; start_info holds at most 1023');
    expect(err({ cmdline: 'é'.repeat(512) })).toMatch(/is 1024 bytes/); // counted in UTF-8 bytes
  });

  it('nonsense sizes', () => {
    expect(err({ memoryMiB: 0 })).toMatch(/memory must be/);
    expect(err({ memoryMiB: 256, maxmemMiB: 128 })).toMatch(/maxmem \(128\)/);
    expect(err({ vcpus: 0 })).toMatch(/vcpus must be/);
  });
});

it('the kernel under test', () => {
  // Recorded for the report: which kernel the cache held, and how far its end is from the logged one's.
  expect(release).toMatch(/^6\.1\.0-\d+-cloud-amd64$/);
  expect(typeof delta).toBe('number');
});
