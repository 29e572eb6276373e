/**
 * ELF64 little-endian x86-64 reader: program headers, section headers and notes.
 * Bounds are checked against the file so a truncated or corrupt kernel gives a
 * one-line error instead of reading garbage.
 */
import { UserError } from '../errors.ts';

export const PT_LOAD = 1;
export const PT_NOTE = 4;
export const SHT_NOTE = 7;
export const EM_X86_64 = 62;
export const EM_386 = 3;

export interface ProgramHeader {
  type: number;
  flags: number; // PF_X=1, PF_W=2, PF_R=4
  offset: number;
  vaddr: bigint;
  paddr: bigint;
  filesz: number;
  memsz: number;
  align: number;
}

export interface SectionHeader {
  name: string;
  type: number;
  addr: bigint;
  offset: number;
  size: number;
}

export interface ElfNote {
  name: string;
  type: number;
  desc: Uint8Array;
}

export interface Elf64 {
  data: Uint8Array;
  type: number; // ET_EXEC=2, ET_DYN=3
  machine: number;
  entry: bigint;
  phdrs: ProgramHeader[];
  shdrs: SectionHeader[];
}

export class ElfError extends UserError {
  override name = 'ElfError';
}

export function isElf(data: Uint8Array): boolean {
  return data.length >= 4 && data[0] === 0x7f && data[1] === 0x45 && data[2] === 0x4c && data[3] === 0x46;
}

/** Largest offset we accept as a JS number (files are far smaller). */
function num(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ElfError(`${what} 0x${v.toString(16)} is out of range`);
  return Number(v);
}

export function parseElf64(data: Uint8Array): Elf64 {
  if (!isElf(data)) throw new ElfError('not an ELF file (bad magic)');
  if (data.length < 64) throw new ElfError(`truncated ELF header (${data.length} bytes)`);
  if (data[4] === 1) throw new ElfError('32-bit ELF (ELFCLASS32): only 64-bit x86-64 PV kernels are supported');
  if (data[4] !== 2) throw new ElfError(`bad ELF class ${data[4]}`);
  if (data[5] !== 1) throw new ElfError('big-endian ELF is not x86-64');
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const type = dv.getUint16(16, true);
  const machine = dv.getUint16(18, true);
  if (machine !== EM_X86_64) throw new ElfError(`ELF machine ${machine} is not x86-64 (62)`);
  const entry = dv.getBigUint64(24, true);
  const phoff = num(dv.getBigUint64(32, true), 'e_phoff');
  const shoff = num(dv.getBigUint64(40, true), 'e_shoff');
  const phentsize = dv.getUint16(54, true);
  const phnum = dv.getUint16(56, true);
  const shentsize = dv.getUint16(58, true);
  const shnum = dv.getUint16(60, true);
  const shstrndx = dv.getUint16(62, true);

  const phdrs: ProgramHeader[] = [];
  if (phnum > 0) {
    if (phentsize < 56) throw new ElfError(`bad e_phentsize ${phentsize}`);
    if (phoff + phnum * phentsize > data.length)
      throw new ElfError(`truncated: program headers end at ${phoff + phnum * phentsize}, file has ${data.length} bytes`);
  }
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    const ph: ProgramHeader = {
      type: dv.getUint32(o, true),
      flags: dv.getUint32(o + 4, true),
      offset: num(dv.getBigUint64(o + 8, true), 'p_offset'),
      vaddr: dv.getBigUint64(o + 16, true),
      paddr: dv.getBigUint64(o + 24, true),
      filesz: num(dv.getBigUint64(o + 32, true), 'p_filesz'),
      memsz: num(dv.getBigUint64(o + 40, true), 'p_memsz'),
      align: num(dv.getBigUint64(o + 48, true), 'p_align'),
    };
    if ((ph.type === PT_LOAD || ph.type === PT_NOTE) && ph.offset + ph.filesz > data.length)
      throw new ElfError(
        `truncated: segment ${i} needs bytes up to ${ph.offset + ph.filesz}, file has ${data.length}`,
      );
    if (ph.type === PT_LOAD && ph.filesz > ph.memsz) throw new ElfError(`segment ${i}: p_filesz > p_memsz`);
    phdrs.push(ph);
  }

  const shdrs: SectionHeader[] = [];
  if (shnum > 0 && shoff > 0 && shentsize >= 64 && shoff + shnum * shentsize <= data.length) {
    const raw: Array<{ nameOff: number; sh: SectionHeader }> = [];
    for (let i = 0; i < shnum; i++) {
      const o = shoff + i * shentsize;
      raw.push({
        nameOff: dv.getUint32(o, true),
        sh: {
          name: '',
          type: dv.getUint32(o + 4, true),
          addr: dv.getBigUint64(o + 16, true),
          offset: num(dv.getBigUint64(o + 24, true), 'sh_offset'),
          size: num(dv.getBigUint64(o + 32, true), 'sh_size'),
        },
      });
    }
    const strtab = shstrndx < raw.length ? raw[shstrndx]!.sh : undefined;
    for (const { nameOff, sh } of raw) {
      if (strtab && strtab.offset + nameOff < data.length) sh.name = cString(data, strtab.offset + nameOff, strtab.offset + strtab.size);
      shdrs.push(sh);
    }
  }
  return { data, type, machine, entry, phdrs, shdrs };
}

function cString(data: Uint8Array, start: number, end: number): string {
  let e = start;
  const lim = Math.min(end, data.length);
  while (e < lim && data[e] !== 0) e++;
  return new TextDecoder().decode(data.subarray(start, e));
}

/** Parse a note area: repeated {namesz, descsz, type, name (4-aligned), desc (4-aligned)}. */
export function parseNotes(data: Uint8Array, start: number, size: number): ElfNote[] {
  const notes: ElfNote[] = [];
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const end = start + size;
  if (end > data.length) throw new ElfError(`truncated: note area ends at ${end}, file has ${data.length} bytes`);
  let o = start;
  while (o + 12 <= end) {
    const namesz = dv.getUint32(o, true);
    const descsz = dv.getUint32(o + 4, true);
    const type = dv.getUint32(o + 8, true);
    const nameStart = o + 12;
    const descStart = nameStart + align4(namesz);
    const next = descStart + align4(descsz);
    if (next > end) throw new ElfError(`corrupt note at file offset ${o}: sizes run past the note area`);
    const name = cString(data, nameStart, nameStart + namesz);
    notes.push({ name, type, desc: data.subarray(descStart, descStart + descsz) });
    o = next;
  }
  return notes;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

/** All notes of the file: from PT_NOTE segments, or from SHT_NOTE sections when there are none. */
export function elfNotes(elf: Elf64): { notes: ElfNote[]; source: 'PT_NOTE' | 'SHT_NOTE' | 'none' } {
  const fromPhdrs = elf.phdrs.filter((p) => p.type === PT_NOTE);
  if (fromPhdrs.length > 0) {
    return { notes: fromPhdrs.flatMap((p) => parseNotes(elf.data, p.offset, p.filesz)), source: 'PT_NOTE' };
  }
  const fromSections = elf.shdrs.filter((s) => s.type === SHT_NOTE);
  if (fromSections.length > 0) {
    return { notes: fromSections.flatMap((s) => parseNotes(elf.data, s.offset, s.size)), source: 'SHT_NOTE' };
  }
  return { notes: [], source: 'none' };
}
