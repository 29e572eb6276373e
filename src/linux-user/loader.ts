/**
 * Loading a static x86-64 Linux executable the way the kernel's binfmt_elf
 * does: PT_LOAD segments mapped page by page with their permissions (file
 * bytes, then zeroed bss), the program break after the highest segment, and
 * the initial stack: argc, argv, envp and the auxiliary vector, with the
 * strings, AT_PLATFORM and AT_RANDOM bytes above them (System V ABI AMD64
 * §3.4.1; Linux fs/binfmt_elf.c create_elf_tables).
 */
import { randomFillSync } from 'node:crypto';
import { AddressSpace, DYN_BASE, PAGE, PROT_EXEC, PROT_READ, PROT_WRITE, pageDown, pageUp } from './address-space.ts';
import { ET_DYN, ElfError, PF_R, PF_W, PF_X, PT_LOAD, PT_PHDR, type ElfImage } from './elf.ts';

/** Auxiliary vector keys (include/uapi/linux/auxvec.h). */
export const AT_NULL = 0, AT_PHDR = 3, AT_PHENT = 4, AT_PHNUM = 5, AT_PAGESZ = 6, AT_BASE = 7, AT_FLAGS = 8, AT_ENTRY = 9;
export const AT_UID = 11, AT_EUID = 12, AT_GID = 13, AT_EGID = 14, AT_PLATFORM = 15, AT_HWCAP = 16, AT_CLKTCK = 17;
export const AT_SECURE = 23, AT_RANDOM = 25, AT_HWCAP2 = 26, AT_EXECFN = 31, AT_MINSIGSTKSZ = 51;

export interface LoadedImage {
  entry: number;
  /** Initial RSP: points at argc. */
  sp: number;
  /** Where the program headers are in memory (AT_PHDR). */
  phdr: number;
  /** Load bias (0 for ET_EXEC). */
  bias: number;
  /** Lowest and highest+1 address of the loaded image. */
  start: number;
  end: number;
}

export interface StackSetup {
  argv: string[];
  envp: string[];
  /** AT_EXECFN: the file name as given to execve. */
  execfn: string;
  uid: number;
  gid: number;
  hwcap: number;
  /** AT_RANDOM bytes (16); random when absent. */
  random?: Uint8Array;
}

const protOf = (flags: number): number =>
  (flags & PF_R ? PROT_READ : 0) | (flags & PF_W ? PROT_WRITE : 0) | (flags & PF_X ? PROT_EXEC : 0);

/** Map the program's segments. The caller has checked there is no PT_INTERP. */
export function loadSegments(as: AddressSpace, file: Uint8Array, elf: ElfImage): Omit<LoadedImage, 'sp'> {
  const loads = elf.phdrs.filter((p) => p.type === PT_LOAD);
  const bias = elf.type === ET_DYN ? DYN_BASE - pageDown(Math.min(...loads.map((p) => p.vaddr))) : 0;
  let start = Infinity, end = 0;
  for (const ph of loads) {
    if (ph.align > 1 && ph.vaddr % PAGE !== ph.offset % PAGE) throw new ElfError('ELF segment is not page-congruent with its file offset');
    const vaddr = ph.vaddr + bias;
    const mapStart = pageDown(vaddr);
    const fileEnd = vaddr + ph.filesz;
    const memEnd = vaddr + ph.memsz;
    const mapEnd = pageUp(memEnd);
    if (mapEnd > mapStart) as.mapFixed(mapStart, mapEnd - mapStart, protOf(ph.flags), 'image');
    // File bytes from the start of the first page (as mmap of the file does), up to p_filesz;
    // the rest of the last file page and everything after it stays zero (bss).
    const fileStart = ph.offset - (vaddr - mapStart);
    if (fileEnd > mapStart) as.poke(mapStart, file.subarray(fileStart, ph.offset + ph.filesz));
    start = Math.min(start, mapStart);
    end = Math.max(end, memEnd);
  }
  // AT_PHDR: PT_PHDR if present, else the loaded bytes that hold the header table.
  let phdr = 0;
  const pt = elf.phdrs.find((p) => p.type === PT_PHDR);
  if (pt) phdr = pt.vaddr + bias;
  else {
    const seg = loads.find((p) => p.offset <= elf.phoff && elf.phoff < p.offset + p.filesz);
    if (seg) phdr = seg.vaddr + bias + (elf.phoff - seg.offset);
  }
  as.brkStart = as.brk = pageUp(end);
  return { entry: elf.entry + bias, phdr, bias, start, end };
}

/**
 * Build the initial process stack at the top of the (already mapped) stack
 * area. Layout from the top: 8 zero bytes, AT_EXECFN string, environment
 * strings, argument strings, then (16-byte aligned) the platform string and
 * 16 random bytes, then the auxv/envp/argv/argc block with RSP 16-aligned at argc.
 */
export function buildStack(as: AddressSpace, img: Omit<LoadedImage, 'sp'>, elf: ElfImage, s: StackSetup): number {
  const enc = new TextEncoder();
  const cstr = (x: string): Uint8Array => {
    const b = enc.encode(x);
    const o = new Uint8Array(b.length + 1);
    o.set(b);
    return o;
  };
  let p = as.stackTop - 8;
  const push = (b: Uint8Array): number => {
    p -= b.length;
    as.poke(p, b);
    return p;
  };
  const execfnAddr = push(cstr(s.execfn));
  const envAddrs: number[] = [];
  for (let k = s.envp.length - 1; k >= 0; k--) envAddrs.unshift(push(cstr(s.envp[k]!)));
  const argAddrs: number[] = [];
  for (let k = s.argv.length - 1; k >= 0; k--) argAddrs.unshift(push(cstr(s.argv[k]!)));
  p = p - (p % 16);
  const platformAddr = push(cstr('x86_64'));
  const random = s.random ?? randomFillSync(new Uint8Array(16));
  const randomAddr = push(random.subarray(0, 16));

  const aux: Array<[number, number]> = [
    [AT_MINSIGSTKSZ, 2048],
    [AT_HWCAP, s.hwcap],
    [AT_PAGESZ, PAGE],
    [AT_CLKTCK, 100],
    [AT_PHDR, img.phdr],
    [AT_PHENT, elf.phentsize],
    [AT_PHNUM, elf.phnum],
    [AT_BASE, 0],
    [AT_FLAGS, 0],
    [AT_ENTRY, img.entry],
    [AT_UID, s.uid],
    [AT_EUID, s.uid],
    [AT_GID, s.gid],
    [AT_EGID, s.gid],
    [AT_SECURE, 0],
    [AT_RANDOM, randomAddr],
    [AT_HWCAP2, 0],
    [AT_EXECFN, execfnAddr],
    [AT_PLATFORM, platformAddr],
    [AT_NULL, 0],
  ];
  const words: number[] = [s.argv.length, ...argAddrs, 0, ...envAddrs, 0];
  for (const [k, v] of aux) words.push(k, v);
  let sp = p - words.length * 8;
  sp -= sp % 16;
  const block = new Uint8Array(words.length * 8);
  const dv = new DataView(block.buffer);
  words.forEach((w, k) => {
    dv.setUint32(k * 8, w % 4294967296, true);
    dv.setUint32(k * 8 + 4, Math.floor(w / 4294967296), true);
  });
  as.poke(sp, block);
  return sp;
}
