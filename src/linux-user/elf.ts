/**
 * The parts of an x86-64 ELF executable a user-mode loader needs: the file
 * header and the program headers (ELF-64 object file format, System V ABI
 * AMD64 supplement).
 */

export const ET_EXEC = 2, ET_DYN = 3;
export const EM_X86_64 = 62;
export const PT_LOAD = 1, PT_DYNAMIC = 2, PT_INTERP = 3, PT_NOTE = 4, PT_PHDR = 6, PT_TLS = 7;
export const PT_GNU_STACK = 0x6474e551;
export const PF_X = 1, PF_W = 2, PF_R = 4;

export interface ProgramHeader {
  type: number;
  flags: number;
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
  align: number;
}

export interface ElfImage {
  type: number;
  entry: number;
  phoff: number;
  phentsize: number;
  phnum: number;
  phdrs: ProgramHeader[];
  /** The PT_INTERP path, if the program asks for a dynamic linker. */
  interp: string | undefined;
}

/** Why a file cannot be run; the message is one line for the user. */
export class ElfError extends Error {}

/** Parse and validate an executable: 64-bit, little-endian, x86-64, ET_EXEC or ET_DYN. */
export function parseElf(b: Uint8Array): ElfImage {
  if (b.length < 64 || b[0] !== 0x7f || b[1] !== 0x45 || b[2] !== 0x4c || b[3] !== 0x46) throw new ElfError('not an ELF file');
  if (b[4] !== 2) throw new ElfError('not a 64-bit ELF file (only x86-64 programs run)');
  if (b[5] !== 1) throw new ElfError('not a little-endian ELF file');
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const u64 = (o: number): number => dv.getUint32(o, true) + dv.getUint32(o + 4, true) * 2 ** 32;
  const type = dv.getUint16(16, true);
  const machine = dv.getUint16(18, true);
  if (machine !== EM_X86_64) throw new ElfError(`ELF machine ${machine} is not x86-64`);
  if (type !== ET_EXEC && type !== ET_DYN) throw new ElfError(`ELF type ${type} is not an executable`);
  const entry = u64(24);
  const phoff = u64(32);
  const phentsize = dv.getUint16(54, true);
  const phnum = dv.getUint16(56, true);
  if (phentsize < 56 || phnum === 0 || phoff + phnum * phentsize > b.length) throw new ElfError('bad ELF program header table');
  const phdrs: ProgramHeader[] = [];
  let interp: string | undefined;
  for (let k = 0; k < phnum; k++) {
    const o = phoff + k * phentsize;
    const ph: ProgramHeader = {
      type: dv.getUint32(o, true),
      flags: dv.getUint32(o + 4, true),
      offset: u64(o + 8),
      vaddr: u64(o + 16),
      filesz: u64(o + 32),
      memsz: u64(o + 40),
      align: u64(o + 48),
    };
    if (ph.type === PT_LOAD || ph.type === PT_INTERP) {
      if (ph.offset + ph.filesz > b.length) throw new ElfError('ELF segment extends past the end of the file');
      if (ph.type === PT_LOAD && (ph.memsz < ph.filesz || ph.vaddr + ph.memsz > 2 ** 47)) throw new ElfError('bad ELF PT_LOAD segment');
    }
    if (ph.type === PT_INTERP) {
      const s = b.subarray(ph.offset, ph.offset + ph.filesz);
      const z = s.indexOf(0);
      interp = new TextDecoder().decode(z >= 0 ? s.subarray(0, z) : s);
    }
    phdrs.push(ph);
  }
  if (!phdrs.some((p) => p.type === PT_LOAD)) throw new ElfError('ELF file has no loadable segments');
  return { type, entry, phoff, phentsize, phnum, phdrs, interp };
}
