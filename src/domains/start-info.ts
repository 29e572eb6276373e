/**
 * struct start_info (xen/include/public/xen.h, x86_64): the page the domain
 * builder hands a PV kernel in %rsi. Offsets checked against the Xen 4.17
 * headers by test/builder.test.ts (test/native/xen-offsets.c).
 */

/** Byte offsets of struct start_info's fields (x86_64). */
export const START_INFO = {
  magic: 0, // char[32], "xen-3.0-x86_64"
  nr_pages: 32, // unsigned long
  shared_info: 40, // unsigned long: MACHINE address of shared_info
  flags: 48, // uint32_t: SIF_*
  store_mfn: 56, // xen_pfn_t
  store_evtchn: 64, // uint32_t
  console_domU_mfn: 72, // console.domU.mfn (xen_pfn_t)
  console_domU_evtchn: 80, // console.domU.evtchn (uint32_t)
  console_dom0_info_off: 72, // console.dom0.info_off (uint32_t)
  console_dom0_info_size: 76, // console.dom0.info_size (uint32_t)
  pt_base: 88, // unsigned long: VIRTUAL address of the top-level page table
  nr_pt_frames: 96, // unsigned long
  mfn_list: 104, // unsigned long: VIRTUAL address of the p2m list
  mod_start: 112, // unsigned long: VA of the module, or its PFN with SIF_MOD_START_PFN
  mod_len: 120, // unsigned long
  cmd_line: 128, // int8_t[MAX_GUEST_CMDLINE]
  first_p2m_pfn: 1152, // unsigned long
  nr_p2m_frames: 1160, // unsigned long
  size: 1168,
} as const;

export const START_INFO_MAGIC_LEN = 32;
/** Size of start_info.cmd_line, including the terminating NUL. */
export const MAX_GUEST_CMDLINE = 1024;

/** start_info.flags (SIF_*, xen.h). */
export const SIF_PRIVILEGED = 1 << 0;
export const SIF_INITDOMAIN = 1 << 1;
export const SIF_MULTIBOOT_MOD = 1 << 2;
export const SIF_MOD_START_PFN = 1 << 3;
export const SIF_VIRT_P2M_4TOOLS = 1 << 4;
export const SIF_PM_MASK = 0xff << 8;

/** The guest type a 64-bit PV kernel is built as; also start_info.magic. */
export const XEN_GUEST_TYPE_X86_64 = 'xen-3.0-x86_64';

/** The values the builder puts in start_info (u64 fields as bigint). */
export interface StartInfo {
  magic: string;
  nrPages: bigint;
  sharedInfo: bigint;
  flags: number;
  storeMfn: bigint;
  storeEvtchn: number;
  consoleMfn: bigint;
  consoleEvtchn: number;
  ptBase: bigint;
  nrPtFrames: bigint;
  mfnList: bigint;
  modStart: bigint;
  modLen: bigint;
  cmdLine: string;
  firstP2mPfn: bigint;
  nrP2mFrames: bigint;
}

/** Write a whole start_info at byte `off` of `dv` (the page is zeroed first, as libxenguest does). */
export function writeStartInfo(dv: DataView, off: number, s: StartInfo): void {
  const u8 = new Uint8Array(dv.buffer, dv.byteOffset + off, START_INFO.size);
  u8.fill(0);
  const enc = new TextEncoder();
  u8.set(enc.encode(s.magic).subarray(0, START_INFO_MAGIC_LEN - 1), START_INFO.magic);
  const cmd = enc.encode(s.cmdLine);
  if (cmd.length > MAX_GUEST_CMDLINE - 1) throw new RangeError(`command line longer than ${MAX_GUEST_CMDLINE - 1} bytes`);
  u8.set(cmd, START_INFO.cmd_line);
  const u64 = (o: number, v: bigint): void => dv.setBigUint64(off + o, BigInt.asUintN(64, v), true);
  u64(START_INFO.nr_pages, s.nrPages);
  u64(START_INFO.shared_info, s.sharedInfo);
  dv.setUint32(off + START_INFO.flags, s.flags >>> 0, true);
  u64(START_INFO.store_mfn, s.storeMfn);
  dv.setUint32(off + START_INFO.store_evtchn, s.storeEvtchn >>> 0, true);
  u64(START_INFO.console_domU_mfn, s.consoleMfn);
  dv.setUint32(off + START_INFO.console_domU_evtchn, s.consoleEvtchn >>> 0, true);
  u64(START_INFO.pt_base, s.ptBase);
  u64(START_INFO.nr_pt_frames, s.nrPtFrames);
  u64(START_INFO.mfn_list, s.mfnList);
  u64(START_INFO.mod_start, s.modStart);
  u64(START_INFO.mod_len, s.modLen);
  u64(START_INFO.first_p2m_pfn, s.firstP2mPfn);
  u64(START_INFO.nr_p2m_frames, s.nrP2mFrames);
}

/** Read a start_info back (for inspection and tests). */
export function readStartInfo(dv: DataView, off: number): StartInfo {
  const u8 = new Uint8Array(dv.buffer, dv.byteOffset + off, START_INFO.size);
  const str = (o: number, max: number): string => {
    let end = o;
    while (end < o + max && u8[end] !== 0) end++;
    return new TextDecoder().decode(u8.subarray(o, end));
  };
  const u64 = (o: number): bigint => dv.getBigUint64(off + o, true);
  return {
    magic: str(START_INFO.magic, START_INFO_MAGIC_LEN),
    nrPages: u64(START_INFO.nr_pages),
    sharedInfo: u64(START_INFO.shared_info),
    flags: dv.getUint32(off + START_INFO.flags, true),
    storeMfn: u64(START_INFO.store_mfn),
    storeEvtchn: dv.getUint32(off + START_INFO.store_evtchn, true),
    consoleMfn: u64(START_INFO.console_domU_mfn),
    consoleEvtchn: dv.getUint32(off + START_INFO.console_domU_evtchn, true),
    ptBase: u64(START_INFO.pt_base),
    nrPtFrames: u64(START_INFO.nr_pt_frames),
    mfnList: u64(START_INFO.mfn_list),
    modStart: u64(START_INFO.mod_start),
    modLen: u64(START_INFO.mod_len),
    cmdLine: str(START_INFO.cmd_line, MAX_GUEST_CMDLINE),
    firstP2mPfn: u64(START_INFO.first_p2m_pfn),
    nrP2mFrames: u64(START_INFO.nr_p2m_frames),
  };
}
