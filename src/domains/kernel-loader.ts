/**
 * Kernel loader: bzImage / compressed ELF / plain ELF → the segments to load
 * by physical address, plus the Xen notes and the layout libelf derives from
 * them (xen/common/libelf: elf_xen_parse, elf_xen_addr_calc_check).
 */
import { readFileSync } from 'node:fs';
import { UserError } from '../errors.ts';
import { isBzImage, parseBzImage, fmtVersion } from './bzimage.ts';
import { decompress, detectCompression, type Compression } from './decompress/detect.ts';
import { elfNotes, isElf, parseElf64, PT_LOAD, type Elf64 } from './elf.ts';
import { xenNotesFrom, xenNotesFromGuestString, type XenNotes } from './xen-notes.ts';

export interface KernelSegment {
  /** Physical (pseudo-physical) load address: segments load by p_paddr, as libelf does. */
  paddr: number;
  vaddr: bigint;
  filesz: number;
  memsz: number;
  /** PF_* flags (R=4, W=2, X=1). */
  flags: number;
  /** The file bytes (filesz long); the rest up to memsz is zero. */
  data: Uint8Array;
}

export interface LoadedKernel {
  container: 'bzImage' | 'compressed ELF' | 'ELF';
  compression: Compression | 'none';
  bootProtocol?: string;
  elf: Elf64;
  segments: KernelSegment[];
  notes: XenNotes;
  noteSource: 'PT_NOTE' | 'SHT_NOTE' | '__xen_guest' | 'none';
  /** True when the kernel carries Xen notes (or __xen_guest): it can boot as a PV guest. */
  isXenPv: boolean;
  /** Layout, as libelf computes it. */
  pstart: number;
  pend: number;
  virtBase: bigint;
  paddrOffset: bigint;
  virtKstart: bigint;
  virtKend: bigint;
  virtEntry: bigint;
  /** VA of the hypercall page, when the kernel asks for one. */
  virtHypercall?: bigint;
}

/** Load and parse a kernel file; every error names the file. */
export function loadKernelFile(path: string): LoadedKernel {
  let data: Uint8Array;
  try {
    data = new Uint8Array(readFileSync(path));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new UserError(`${path}: cannot read kernel: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  }
  try {
    return loadKernel(data);
  } catch (e) {
    if (e instanceof UserError) throw new UserError(`${path}: ${e.message}`);
    if (e instanceof RangeError || e instanceof TypeError) {
      // A decoder hit data it did not expect: report it as corruption, not a crash.
      throw new UserError(`${path}: corrupt kernel image (${e.message})`);
    }
    throw e;
  }
}

export function loadKernel(data: Uint8Array): LoadedKernel {
  if (data.length === 0) throw new UserError('empty file');
  let container: LoadedKernel['container'];
  let compression: LoadedKernel['compression'] = 'none';
  let bootProtocol: string | undefined;
  let elfBytes: Uint8Array;

  if (isBzImage(data)) {
    container = 'bzImage';
    const bz = parseBzImage(data);
    bootProtocol = fmtVersion(bz.version);
    const kind = detectCompression(bz.payload);
    if (isElf(bz.payload)) {
      elfBytes = bz.payload;
    } else if (!kind) {
      throw new UserError(
        `bzImage payload at byte ${bz.payloadFileOffset} has an unknown compression (magic ${hexBytes(bz.payload, 6)})`,
      );
    } else {
      compression = kind;
      // Linux appends the uncompressed size (u32 LE) to every compressed payload.
      const body = bz.payload.subarray(0, bz.payload.length - 4);
      const tail = bz.payload.subarray(bz.payload.length - 4);
      const expected = (tail[0]! | (tail[1]! << 8) | (tail[2]! << 16) | (tail[3]! << 24)) >>> 0;
      elfBytes = decompress(kind, kind === 'lz4' ? bz.payload : body, expected);
      if (elfBytes.length !== expected) {
        throw new UserError(
          `${kind} payload decompressed to ${elfBytes.length} bytes, but the bzImage says ${expected} (corrupt kernel)`,
        );
      }
    }
  } else if (isElf(data)) {
    container = 'ELF';
    elfBytes = data;
  } else {
    const kind = detectCompression(data);
    if (!kind) {
      throw new UserError(`not a kernel: neither a bzImage, an ELF, nor a known compressed file (starts ${hexBytes(data, 6)})`);
    }
    container = 'compressed ELF';
    compression = kind;
    elfBytes = decompress(kind, data);
  }
  if (!isElf(elfBytes)) throw new UserError(`decompressed payload is not an ELF (starts ${hexBytes(elfBytes, 4)})`);
  return fromElf(parseElf64(elfBytes), container, compression, bootProtocol);
}

function fromElf(
  elf: Elf64,
  container: LoadedKernel['container'],
  compression: LoadedKernel['compression'],
  bootProtocol: string | undefined,
): LoadedKernel {
  const loads = elf.phdrs.filter((p) => p.type === PT_LOAD && p.memsz > 0);
  if (loads.length === 0) throw new UserError('ELF has no loadable segments');
  const segments: KernelSegment[] = loads.map((p) => {
    if (p.paddr > 0xffffffffffffn >> 4n) throw new UserError(`segment p_paddr 0x${p.paddr.toString(16)} is out of range`);
    return {
      paddr: Number(p.paddr),
      vaddr: p.vaddr,
      filesz: p.filesz,
      memsz: p.memsz,
      flags: p.flags,
      data: elf.data.subarray(p.offset, p.offset + p.filesz),
    };
  });
  const pstart = Math.min(...segments.map((s) => s.paddr));
  const pend = Math.max(...segments.map((s) => s.paddr + s.memsz));

  let { notes: rawNotes, source } = elfNotes(elf);
  let notes = xenNotesFrom(rawNotes);
  let noteSource: LoadedKernel['noteSource'] = notes.entries.length > 0 ? source : 'none';
  if (notes.entries.length === 0) {
    const sec = elf.shdrs.find((s) => s.name === '__xen_guest');
    if (sec && sec.offset + sec.size <= elf.data.length) {
      const text = new TextDecoder().decode(elf.data.subarray(sec.offset, sec.offset + sec.size)).replace(/\0.*$/s, '');
      notes = xenNotesFromGuestString(text);
      noteSource = '__xen_guest';
    }
  }
  const isXenPv = notes.entries.length > 0;

  // libelf: elf_xen_addr_calc_check.
  const virtBase = notes.virtBase ?? 0n;
  const paddrOffset = notes.paddrOffset ?? (noteSource === 'PT_NOTE' || noteSource === 'SHT_NOTE' ? 0n : virtBase);
  const virtOffset = virtBase - paddrOffset;
  const virtKstart = BigInt(pstart) + virtOffset;
  const virtKend = BigInt(pend) + virtOffset;
  const virtEntry = notes.entry ?? elf.entry;
  let virtHypercall: bigint | undefined;
  if (notes.hypercallPage !== undefined) {
    // The __xen_guest form gives a page number relative to virt_base.
    virtHypercall = noteSource === '__xen_guest' ? virtBase + (notes.hypercallPage << 12n) : notes.hypercallPage;
  }
  if (isXenPv) {
    if (virtEntry < virtKstart || virtEntry >= virtKend) {
      throw new UserError(
        `entry 0x${virtEntry.toString(16)} lies outside the kernel image 0x${virtKstart.toString(16)}-0x${virtKend.toString(16)}`,
      );
    }
    if (notes.xenVersion !== undefined && notes.xenVersion !== 'xen-3.0') {
      throw new UserError(`kernel wants Xen interface "${notes.xenVersion}", only "xen-3.0" exists`);
    }
  }
  return {
    container,
    compression,
    bootProtocol,
    elf,
    segments,
    notes,
    noteSource,
    isXenPv,
    pstart,
    pend,
    virtBase,
    paddrOffset,
    virtKstart,
    virtKend,
    virtEntry,
    virtHypercall,
  };
}

function hexBytes(d: Uint8Array, n: number): string {
  return Array.from(d.subarray(0, n), (b) => b.toString(16).padStart(2, '0')).join(' ');
}
