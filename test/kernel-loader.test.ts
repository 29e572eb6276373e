/**
 * The kernel loader against independent truth: Debian's own lz4/xz/zstd/gzip
 * tools decompress the same payloads, binutils' readelf reports the notes and
 * program headers.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadKernel, loadKernelFile } from '../src/domains/kernel-loader.ts';
import { parseBzImage } from '../src/domains/bzimage.ts';
import { elfNotes } from '../src/domains/elf.ts';
import { UserError } from '../src/errors.ts';
import { cloudKernel, genericKernel, REPO } from './helpers/images.ts';

const tmp = mkdtempSync(join(tmpdir(), 'xenjs-loader-'));

/** Run a tool, return stdout; `okCodes` lists exit codes that still mean complete output. */
function tool(cmd: string, args: string[], input?: Uint8Array, okCodes = [0]): Uint8Array {
  const r = spawnSync(cmd, args, { input, maxBuffer: 1 << 30 });
  if (r.error) throw r.error;
  if (!okCodes.includes(r.status ?? -1)) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return new Uint8Array(r.stdout);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;
}

interface ReadelfNote {
  owner: string;
  type: number;
  desc: string;
}

/** Parse `readelf -nW` (the notes readelf finds, in file order; -W puts each on one line). */
function readelfNotes(file: string): ReadelfNote[] {
  const text = execFileSync('readelf', ['-nW', file], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const named: Record<string, number> = { 'NT_VERSION (version)': 1, 'NT_ARCH (architecture)': 2, 'GO BUILDID': 4 };
  const notes: ReadelfNote[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s+(\S+)\s+0x([0-9a-f]+)\t([^\t]*)(?:\t\s*description data:\s*(.*))?$/.exec(line);
    if (!m) continue;
    const tm = /\(0x([0-9a-f]+)\)\s*$/.exec(m[3]!);
    const type = tm ? parseInt(tm[1]!, 16) : named[m[3]!.trim()];
    if (type === undefined) continue;
    notes.push({ owner: m[1]!, type, desc: (m[4] ?? '').trim() });
  }
  return notes;
}

interface ReadelfLoad {
  offset: number;
  vaddr: bigint;
  paddr: bigint;
  filesz: number;
  memsz: number;
  flags: string;
}

function readelfLoads(file: string): ReadelfLoad[] {
  const text = execFileSync('readelf', ['-lW', file], { encoding: 'utf8' });
  return text
    .split('\n')
    .filter((l) => /^\s+LOAD\s/.test(l))
    .map((l) => {
      // Type Offset VirtAddr PhysAddr FileSiz MemSiz Flg(may hold spaces) Align
      const f = l.trim().split(/\s+/);
      return {
        offset: parseInt(f[1]!, 16),
        vaddr: BigInt(f[2]!),
        paddr: BigInt(f[3]!),
        filesz: parseInt(f[4]!, 16),
        memsz: parseInt(f[5]!, 16),
        flags: f.slice(6, -1).join(''),
      };
    });
}

const hexDesc = (d: Uint8Array): string => Array.from(d, (b) => b.toString(16).padStart(2, '0')).join(' ');

describe('Debian cloud kernel (LZ4 bzImage)', () => {
  let bz: Uint8Array;
  let refElfPath: string;
  let refElf: Uint8Array;

  beforeAll(() => {
    bz = new Uint8Array(readFileSync(cloudKernel().path));
    const payload = parseBzImage(bz).payload;
    // Debian's lz4 writes the whole ELF, then exits 1 on Linux's 4-byte size trailer.
    refElf = tool('lz4', ['-dc'], payload, [0, 1]);
    refElfPath = join(tmp, 'vmlinux-cloud');
    writeFileSync(refElfPath, refElf);
  });

  it('decompresses to the same ELF as the lz4 tool', () => {
    const k = loadKernel(bz);
    expect(k.container).toBe('bzImage');
    expect(k.compression).toBe('lz4');
    expect(k.elf.data.length).toBe(refElf.length);
    expect(sameBytes(k.elf.data, refElf)).toBe(true);
  });

  it('reports the Xen notes readelf -n reports, in order', () => {
    const k = loadKernel(bz);
    const ref = readelfNotes(refElfPath).filter((n) => n.owner === 'Xen');
    expect(ref.length).toBeGreaterThan(10);
    const ours = k.elf.phdrs.length && k.noteSource === 'PT_NOTE' ? k.notes.entries : [];
    expect(ours.map((e) => e.type)).toEqual(ref.map((n) => n.type));
    // Each typed value must come from exactly readelf's description bytes.
    const raw = elfNotes(k.elf).notes.filter((n) => n.name === 'Xen');
    expect(raw.map((n) => hexDesc(n.desc))).toEqual(ref.map((n) => n.desc));
  });

  it('decodes the notes Xen 4.17 reads from this kernel', () => {
    const k = loadKernel(bz);
    const n = k.notes;
    expect(n.guestOs).toBe('linux');
    expect(n.xenVersion).toBe('xen-3.0');
    expect(n.loader).toBe('generic');
    expect(n.paeMode).toBe('yes');
    expect(n.virtBase).toBe(0xffffffff80000000n);
    expect(n.initP2m).toBe(0x8000000000n);
    expect(n.hvStartLow).toBe(0xffff800000000000n);
    expect(n.features).toBe('!writable_page_tables|pae_pgdir_above_4gb');
    expect(n.featuresRequired).toEqual(['writable_page_tables']);
    expect(n.modStartPfn).toBe(true);
    expect(n.suspendCancel).toBe(true);
    expect(n.l1MfnValid).toEqual({ mask: 1n, value: 1n });
    expect(n.hypercallPage).toBeUndefined();
    expect(k.isXenPv).toBe(true);
    expect(k.virtEntry).toBe(n.entry);
    // The entry is startup_xen (linux arch/x86/xen/xen-head.S): objdump shows its
    // `cld; mov initial_stack(%rip),%rsp; mov $MSR_GS_BASE,%ecx` at that address.
    const start = '0x' + k.virtEntry.toString(16);
    const stop = '0x' + (k.virtEntry + 16n).toString(16);
    const dis = execFileSync('objdump', ['-d', `--start-address=${start}`, `--stop-address=${stop}`, refElfPath], {
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    });
    const insns = dis.split('\n').filter((l) => /^\s*[0-9a-f]+:\t/.test(l)).map((l) => l.split('\t')[2]!.trim());
    expect(insns[0]).toBe('cld');
    expect(insns[1]).toMatch(/^mov\s+-?0x[0-9a-f]+\(%rip\),%rsp/);
    expect(insns[2]).toBe('mov    $0xc0000101,%ecx');
  });

  it('reports the PT_LOAD segments readelf -l reports, loaded by paddr', () => {
    const k = loadKernel(bz);
    const ref = readelfLoads(refElfPath);
    expect(k.segments.length).toBe(ref.length);
    k.segments.forEach((s, i) => {
      const r = ref[i]!;
      expect(BigInt(s.paddr)).toBe(r.paddr);
      expect(s.vaddr).toBe(r.vaddr);
      expect(s.filesz).toBe(r.filesz);
      expect(s.memsz).toBe(r.memsz);
      expect((s.flags & 4 ? 'R' : '') + (s.flags & 2 ? 'W' : '') + (s.flags & 1 ? 'E' : '')).toBe(r.flags);
      expect(sameBytes(s.data, refElf.subarray(r.offset, r.offset + r.filesz))).toBe(true);
    });
    expect(k.pstart).toBe(Math.min(...ref.map((r) => Number(r.paddr))));
    expect(k.pend).toBe(Math.max(...ref.map((r) => Number(r.paddr) + r.memsz)));
    expect(k.virtKstart).toBe(k.virtBase + BigInt(k.pstart));
  });

  it('accepts the same kernel as a plain ELF, and gzip/zstd-compressed ELFs', () => {
    const plain = loadKernel(refElf);
    expect(plain.container).toBe('ELF');
    expect(plain.notes).toEqual(loadKernel(bz).notes);
    const gz = loadKernel(tool('gzip', ['-c', '-1'], refElf));
    expect(gz.compression).toBe('gzip');
    expect(sameBytes(gz.elf.data, refElf)).toBe(true);
    const zst = loadKernel(tool('zstd', ['-c', '-3'], refElf));
    expect(zst.compression).toBe('zstd');
    expect(sameBytes(zst.elf.data, refElf)).toBe(true);
  });

  it('unpacks a bzImage whose payload is zstd (as Debian 13 builds them)', () => {
    // Re-pack this kernel's payload the way Linux's Makefile does for zstd: data + u32 size.
    const setup = parseBzImage(bz);
    const z = tool('zstd', ['-c', '-19'], refElf);
    const payload = new Uint8Array(z.length + 4);
    payload.set(z);
    new DataView(payload.buffer).setUint32(z.length, refElf.length, true);
    const img = new Uint8Array(setup.payloadFileOffset + payload.length);
    img.set(bz.subarray(0, setup.payloadFileOffset));
    img.set(payload, setup.payloadFileOffset);
    new DataView(img.buffer).setUint32(0x24c, payload.length, true);
    const k = loadKernel(img);
    expect(k.compression).toBe('zstd');
    expect(sameBytes(k.elf.data, refElf)).toBe(true);
  });
});

describe('Debian generic kernel (XZ + BCJ bzImage)', () => {
  it('decompresses to the same ELF as xz -d', () => {
    const bz = new Uint8Array(readFileSync(genericKernel().path));
    const payload = parseBzImage(bz).payload;
    const ref = tool('xz', ['-dc', '--single-stream'], payload);
    const k = loadKernel(bz);
    expect(k.compression).toBe('xz');
    expect(k.elf.data.length).toBe(ref.length);
    expect(sameBytes(k.elf.data, ref)).toBe(true);
    expect(k.isXenPv).toBe(true);
    expect(k.notes.virtBase).toBe(0xffffffff80000000n);
  });
});

describe('Mini-OS style guest: notes only in SHT_NOTE sections', () => {
  it('falls back to the .note sections when there is no PT_NOTE', () => {
    const src = join(tmp, 'minios.S');
    writeFileSync(
      src,
      `
      .section .note.Xen,"",@note
      .balign 4
      .long 4, 8, 1          /* XEN_ELFNOTE_ENTRY */
      .asciz "Xen"
      .quad _start
      .long 4, 8, 6          /* XEN_ELFNOTE_GUEST_OS */
      .asciz "Xen"
      .asciz "Mini-OS"
      .long 4, 8, 5          /* XEN_ELFNOTE_XEN_VERSION */
      .asciz "Xen"
      .asciz "xen-3.0"
      .long 4, 8, 3          /* XEN_ELFNOTE_VIRT_BASE */
      .asciz "Xen"
      .quad 0
      .text
      .globl _start
_start: hlt
`,
    );
    const out = join(tmp, 'minios.elf');
    execFileSync('gcc', ['-nostdlib', '-static', '-no-pie', '-Wl,--build-id=none', '-o', out, src]);
    const phdrTypes = execFileSync('readelf', ['-lW', out], { encoding: 'utf8' });
    expect(phdrTypes).not.toMatch(/^\s+NOTE\s/m);
    const k = loadKernelFile(out);
    expect(k.noteSource).toBe('SHT_NOTE');
    expect(k.notes.guestOs).toBe('Mini-OS');
    expect(k.notes.xenVersion).toBe('xen-3.0');
    const entry = execFileSync('nm', [out], { encoding: 'utf8' }).match(/^([0-9a-f]+) T _start$/m)![1]!;
    expect(k.virtEntry).toBe(BigInt('0x' + entry));
    const ref = readelfNotes(out).filter((n) => n.owner === 'Xen');
    expect(k.notes.entries.map((e) => e.type)).toEqual(ref.map((n) => n.type));
  });
});

describe('bad kernels give one-line errors naming the file', () => {
  const cli = join(REPO, 'bin', 'xenjs.js');
  function inspectFails(bytes: Uint8Array, name: string): string {
    const file = join(tmp, name);
    writeFileSync(file, bytes);
    const r = spawnSync(process.execPath, [cli, 'inspect', file], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    const err = r.stderr.trimEnd();
    expect(err.split('\n')).toHaveLength(1);
    expect(err).toContain(file);
    expect(err).not.toMatch(/\bat .*\.ts:\d+/); // no stack trace
    return err;
  }

  let bz: Uint8Array;
  beforeAll(() => {
    bz = new Uint8Array(readFileSync(cloudKernel().path));
  });

  it('truncated inside the payload', () => {
    expect(inspectFails(bz.subarray(0, bz.length >> 1), 'half.bz')).toMatch(/truncated/);
  });
  it('truncated inside the setup header', () => {
    expect(inspectFails(bz.subarray(0, 0x300), 'head.bz')).toMatch(/truncated|not a/);
  });
  it('corrupt compressed data', () => {
    const bad = bz.slice();
    const p = parseBzImage(bad);
    for (let i = 0; i < 64; i++) bad[p.payloadFileOffset + 1000 + i * 4099] ^= 0x5a;
    expect(inspectFails(bad, 'corrupt.bz')).toMatch(/lz4|corrupt/);
  });
  it('not a kernel at all', () => {
    expect(inspectFails(new TextEncoder().encode('hello world\n'), 'text.bin')).toMatch(/not a kernel/);
  });
  it('empty file', () => {
    expect(inspectFails(new Uint8Array(0), 'empty.bin')).toMatch(/empty/);
  });
  it('missing file', () => {
    const r = spawnSync(process.execPath, [cli, 'inspect', join(tmp, 'nope')], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(/nope: cannot read kernel: no such file/);
  });
  it('ELF with a truncated segment', () => {
    const elf = tool('lz4', ['-dc'], parseBzImage(bz).payload, [0, 1]);
    expect(inspectFails(elf.subarray(0, 0x300000), 'short.elf')).toMatch(/truncated: segment/);
  });
  it('the library API throws UserError, not RangeError', () => {
    expect(() => loadKernel(bz.subarray(0, 70000))).toThrow(UserError);
  });
});

describe('xenjs inspect', () => {
  it('prints one fact a line, every Xen note with its value', () => {
    const cli = join(REPO, 'bin', 'xenjs.js');
    const out = execFileSync(process.execPath, [cli, 'inspect', cloudKernel().path], { encoding: 'utf8' });
    expect(out).toMatch(/^guest type: xen-pv \(x86_64\)$/m);
    expect(out).toMatch(/^compression: lz4$/m);
    expect(out).toMatch(/^virt base: 0xffffffff80000000$/m);
    expect(out).toMatch(/^note INIT_P2M \(15\): 0x8000000000$/m);
    expect(out).toMatch(/^note FEATURES \(10\): !writable_page_tables\|pae_pgdir_above_4gb$/m);
    expect(out).toMatch(/^hypercall page: none/m);
    expect(out.match(/^note /gm)!.length).toBe(readelfNotes(refPath()).filter((n) => n.owner === 'Xen').length);
  });
});

function refPath(): string {
  return join(tmp, 'vmlinux-cloud');
}
