/**
 * The pure-TypeScript .xz decompressor against independent truth: data
 * compressed by the system `xz` CLI must come back byte-identical, and
 * damaged input must fail with a one-line DecompressError.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { crc32, crc64 } from '../src/domains/decompress/crc.ts';
import { xzDecompress } from '../src/domains/decompress/xz.ts';
import { sha256 } from '../src/domains/decompress/xz-sha256.ts';
import { DecompressError } from '../src/errors.ts';

const hasXz = spawnSync('xz', ['--version']).status === 0;

function xz(data: Uint8Array, ...args: string[]): Uint8Array {
  return new Uint8Array(
    execFileSync('xz', ['-z', '-c', '-T1', ...args], { input: data, maxBuffer: 1 << 30 }),
  );
}

/** Deterministic pseudo-random bytes (xorshift32). */
function randomBytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed | 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x;
  }
  return out;
}

function text(n: number): Uint8Array {
  const words = ['xen', 'hypervisor', 'domain', 'grant', 'event channel', 'page table', 'vcpu', 'hypercall'];
  let s = '';
  for (let i = 0; s.length < n; i++) {
    s += `${i % 97}: the ${words[i % words.length]} maps ${words[(i * 7) % words.length]} ${i & 0xff}\n`;
  }
  return new TextEncoder().encode(s.slice(0, n));
}

/** A slice of a real x86-64 ELF executable (the running node binary). */
const elf = readFileSync(process.execPath).subarray(0, 1_500_000);
/** Runs of bytes, mixed with short random stretches. */
const mixed = (() => {
  const r = randomBytes(300_000, 7);
  for (let i = 0; i < r.length; i += 1000) r.fill(r[i]! & 3, i, i + ((r[i + 1]! * 3) % 700));
  return r;
})();

const inputs: Record<string, Uint8Array> = {
  empty: new Uint8Array(0),
  'one byte': new Uint8Array([0x42]),
  random: randomBytes(200_000),
  text: text(1_000_000),
  elf,
  mixed,
};

function expectSame(actual: Uint8Array, expected: Uint8Array): void {
  expect(actual.length).toBe(expected.length);
  // Buffer.compare is fast; on mismatch report the first differing offset.
  if (Buffer.compare(Buffer.from(actual.buffer, actual.byteOffset, actual.length), Buffer.from(expected)) !== 0) {
    let i = 0;
    while (actual[i] === expected[i]) i++;
    expect.fail(`output differs first at byte ${i}`);
  }
}

/** Must throw a one-line DecompressError (never RangeError/TypeError). */
function expectDecompressError(data: Uint8Array, pattern?: RegExp): DecompressError {
  let err: unknown;
  try {
    xzDecompress(data);
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a DecompressError').toBeInstanceOf(DecompressError);
  const e = err as DecompressError;
  expect(e.message).toMatch(/^xz: [^\n]+$/);
  expect(e.format).toBe('xz');
  if (pattern) expect(e.message).toMatch(pattern);
  return e;
}

describe('crc32 / crc64 / sha256', () => {
  const nine = new TextEncoder().encode('123456789');
  it('match the standard check values', () => {
    expect(crc32(nine)).toBe(0xcbf43926);
    expect(crc64(nine)).toBe(0x995dc9bbdf1939fan);
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32(nine, 2, 5)).toBe(crc32(nine.subarray(2, 5)));
  });
  it('sha256 matches node:crypto at every padding boundary', () => {
    const d = randomBytes(300, 3);
    for (const n of [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 300]) {
      const want = createHash('sha256').update(d.subarray(0, n)).digest('hex');
      expect(Buffer.from(sha256(d, 0, n)).toString('hex')).toBe(want);
    }
  });
});

describe('xzDecompress: round trips through the xz CLI', () => {
  const variants: Array<[string, string[]]> = [
    ['-0', ['-0']],
    ['-6', ['-6']],
    ['-9e', ['-9e']],
    ['--x86 --lzma2=preset=6', ['--x86', '--lzma2=preset=6']],
    ['--check=crc32', ['--check=crc32']],
    ['--check=crc64', ['--check=crc64']],
    ['--check=sha256', ['--check=sha256']],
    ['--check=none', ['--check=none']],
    ['--block-size=65536', ['--block-size=65536']],
  ];
  for (const [vname, args] of variants) {
    for (const [iname, data] of Object.entries(inputs)) {
      // -9e on the larger inputs is slow to compress and adds nothing.
      if (vname === '-9e' && data.length > 300_000 && iname !== 'elf') continue;
      it(`${iname} (${data.length} bytes), xz ${vname}`, () => {
        expectSame(xzDecompress(xz(data, ...args)), data);
      });
    }
  }

  it('the Debian kernel recipe: --check=crc32 --x86 --lzma2 with a 32 MiB dictionary', () => {
    expectSame(xzDecompress(xz(elf, '--check=crc32', '--x86', '--lzma2=preset=9,dict=32MiB')), elf);
  });

  it('multithreaded xz (blocks carry compressed and uncompressed sizes)', () => {
    const data = new Uint8Array([...text(400_000), ...elf.subarray(0, 500_000)]);
    const c = new Uint8Array(
      execFileSync('xz', ['-z', '-c', '-T2', '--block-size=100000', '-3'], { input: data, maxBuffer: 1 << 30 }),
    );
    expectSame(xzDecompress(c), data);
  });

  it('--x86 with multiple blocks and a BCJ start offset', () => {
    expectSame(xzDecompress(xz(elf, '--x86=start=4096', '--lzma2=preset=1', '--block-size=300000')), elf);
  });

  it('unusual lc/lp/pb and a small dictionary', () => {
    const data = new Uint8Array([...elf.subarray(0, 200_000), ...text(200_000), ...mixed.subarray(0, 100_000)]);
    for (const opts of ['lc=0,lp=4,pb=4', 'lc=4,lp=0,pb=0', 'lc=1,lp=3,pb=2', 'dict=4KiB', 'lc=3,lp=1,pb=1,dict=64KiB,mf=hc4']) {
      expectSame(xzDecompress(xz(data, `--lzma2=${opts}`)), data);
    }
  });

  it('other BCJ filters and delta', () => {
    const data = new Uint8Array([...elf.subarray(200_000, 500_000), ...randomBytes(3, 9)]);
    for (const f of ['--arm', '--armthumb', '--arm64', '--powerpc', '--sparc', '--delta=dist=1', '--delta=dist=7', '--delta=dist=256']) {
      expectSame(xzDecompress(xz(data, f, '--lzma2=preset=1')), data);
    }
    expectSame(xzDecompress(xz(data, '--delta=dist=4', '--x86', '--lzma2=preset=1')), data);
  });

  it('an unsupported filter (IA-64 BCJ) is a clear error', () => {
    expectDecompressError(xz(elf.subarray(0, 10_000), '--ia64', '--lzma2=preset=1'), /unsupported filter 0x06/);
  });

  it('concatenated streams, with and without stream padding', () => {
    const a = text(100_000);
    const b = elf.subarray(0, 300_000);
    const xa = xz(a, '-6');
    const xb = xz(b, '--x86', '--lzma2=preset=6', '--check=sha256');
    const xe = xz(new Uint8Array(0));
    const want = new Uint8Array([...a, ...b]);
    expectSame(xzDecompress(new Uint8Array([...xa, ...xb])), want);
    expectSame(xzDecompress(new Uint8Array([...xa, 0, 0, 0, 0, ...xe, ...xb, 0, 0, 0, 0, 0, 0, 0, 0])), want);
    expectSame(xzDecompress(new Uint8Array([...xe, ...xe])), new Uint8Array(0));
    expectDecompressError(new Uint8Array([...xa, 0, 0, ...xb]), /padding/);
    expectDecompressError(new Uint8Array([...xa, 0, 0, 0]), /padding/);
  });

  it('the output is exactly sized (no slack past the data)', () => {
    const out = xzDecompress(xz(text(123_457), '--block-size=10000'));
    expect(out.length).toBe(123_457);
    expect(out.buffer.byteLength).toBe(123_457);
  });
});

/** The xz payload of a real Debian kernel, if the image cache has one. */
function debianKernelPayload(): Uint8Array | undefined {
  const cache = join(dirname(fileURLToPath(import.meta.url)), '..', 'images', 'cache');
  if (!existsSync(cache)) return undefined;
  for (const pkg of readdirSync(cache)) {
    const boot = join(cache, pkg, 'boot');
    if (!existsSync(boot)) continue;
    for (const f of readdirSync(boot)) {
      if (!f.startsWith('vmlinuz')) continue;
      const d = readFileSync(join(boot, f));
      const pm = ((d[0x1f1] || 4) + 1) * 512;
      const start = pm + d.readUInt32LE(0x248);
      const payload = new Uint8Array(d.subarray(start, start + d.readUInt32LE(0x24c)));
      // xz magic; drop the 4-byte uncompressed-size trailer Linux appends.
      if (payload[0] === 0xfd && payload[1] === 0x37) return payload.subarray(0, payload.length - 4);
    }
  }
  return undefined;
}

describe('xzDecompress: a real Debian kernel', () => {
  const payload = debianKernelPayload();
  it('matches xz -d on the bzImage payload (x86 BCJ + LZMA2, CRC32)', () => {
    const want = execFileSync('xz', ['-d', '-c'], { input: payload!, maxBuffer: 1 << 30 });
    const t = performance.now();
    const out = xzDecompress(payload!);
    const ms = performance.now() - t;
    expectSame(out, want);
    console.log(`xz: ${out.length} bytes in ${ms.toFixed(0)} ms (${(out.length / 1e3 / ms).toFixed(1)} MB/s)`);
  });
});

describe('xzDecompress: damaged input', () => {
  const small = text(6000);
  const smallXz = xz(small, '--x86', '--lzma2=preset=6', '--check=crc32');
  const bigXz = xz(elf.subarray(0, 400_000), '-6', '--block-size=100000');

  it('empty input, bad magic, other formats', () => {
    expectDecompressError(new Uint8Array(0), /empty/);
    expectDecompressError(new Uint8Array([1, 2, 3]));
    const bad = smallXz.slice();
    bad[1] ^= 0x10;
    expectDecompressError(bad, /magic/);
    expectDecompressError(new Uint8Array(execFileSync('gzip', ['-c'], { input: small })), /magic/);
    expectDecompressError(xz(small, '--format=lzma'), /magic/);
  });

  it('every truncation of a small file', () => {
    for (let n = 0; n < smallXz.length; n++) expectDecompressError(smallXz.subarray(0, n));
  });

  it('truncations of a multi-block file', () => {
    for (let n = 0; n < bigXz.length; n += 997) expectDecompressError(bigXz.subarray(0, n));
    expectDecompressError(bigXz.subarray(0, bigXz.length - 1));
  });

  it('every single flipped byte of a small file is detected', () => {
    for (let i = 0; i < smallXz.length; i++) {
      const bad = smallXz.slice();
      bad[i] ^= 0x01 << (i % 8);
      expectDecompressError(bad);
    }
  });

  it('a flipped byte in the middle of a multi-block file', () => {
    for (const at of [bigXz.length >> 1, (bigXz.length >> 1) + 1, bigXz.length >> 2, (bigXz.length * 3) >> 2]) {
      const bad = bigXz.slice();
      bad[at] ^= 0xff;
      expectDecompressError(bad);
    }
  });

  it('random corruption never escapes as anything but DecompressError', () => {
    const base = xz(mixed.subarray(0, 50_000), '-6', '--check=none', '--block-size=20000');
    const rnd = randomBytes(4000, 11);
    for (let t = 0; t < 400; t++) {
      const bad = base.slice();
      const hits = 1 + (rnd[t * 9]! % 4);
      for (let h = 0; h < hits; h++) {
        const pos = ((rnd[t * 9 + 1 + 2 * h]! << 8) | rnd[t * 9 + 2 + 2 * h]!) % bad.length;
        bad[pos] = rnd[(t * 7 + h) % rnd.length]!;
      }
      try {
        xzDecompress(bad);
      } catch (e) {
        // With --check=none some damage is undetectable; anything thrown must be ours.
        expect(e).toBeInstanceOf(DecompressError);
        expect((e as Error).message).toMatch(/^xz: [^\n]+$/);
      }
    }
  });

  /** Rewrite a little-endian u32 (used to re-seal CRC32 fields after tampering). */
  function putU32(b: Uint8Array, at: number, v: number): void {
    b[at] = v;
    b[at + 1] = v >>> 8;
    b[at + 2] = v >>> 16;
    b[at + 3] = v >>> 24;
  }
  /** Offsets of the index and footer of a single-stream file. */
  function layout(f: Uint8Array): { index: number; footer: number } {
    const footer = f.length - 12;
    const size = ((f[footer + 4]! | (f[footer + 5]! << 8)) + 1) * 4;
    return { index: footer - size, footer };
  }

  it('an index that disagrees with the blocks (CRC32 re-sealed) is rejected', () => {
    const bad = smallXz.slice();
    const { index, footer } = layout(bad);
    // Index: 00, count=1, unpadded size (2-byte VLI), uncompressed size 6000 = F0 2E, padding, CRC32
    expect(Array.from(bad.subarray(index, index + 2))).toEqual([0x00, 0x01]);
    expect(Array.from(bad.subarray(index + 4, index + 6))).toEqual([0xf0, 0x2e]);
    bad[index + 4] = 0xf1; // 6001 bytes
    putU32(bad, footer - 4, crc32(bad, index, footer - 4));
    expectDecompressError(bad, /index record 0 does not match block 0/);
  });

  it('a footer whose backward size or flags disagree (CRC32 re-sealed) is rejected', () => {
    const bad = smallXz.slice();
    const { footer } = layout(bad);
    bad[footer + 4]! += 1;
    putU32(bad, footer, crc32(bad, footer + 4, footer + 10));
    expectDecompressError(bad, /backward size/);
    const bad2 = smallXz.slice();
    bad2[footer + 9] = 0x04; // CRC64 in the footer, CRC32 in the header
    putU32(bad2, footer, crc32(bad2, footer + 4, footer + 10));
    expectDecompressError(bad2, /footer flags differ/);
  });

  it('reserved block header flags (CRC32 re-sealed) are rejected', () => {
    const bad = smallXz.slice();
    const hdrSize = (bad[12]! + 1) * 4;
    bad[13]! |= 0x04;
    putU32(bad, 12 + hdrSize - 4, crc32(bad, 12, 12 + hdrSize - 4));
    expectDecompressError(bad, /unsupported block flags/);
  });

  it('a reserved check type of known size is skipped, as the format allows', () => {
    const f = smallXz.slice();
    const { footer } = layout(f);
    f[7] = 0x02; // reserved 4-byte check instead of CRC32 (0x01)
    putU32(f, 8, crc32(f, 6, 8));
    f[footer + 9] = 0x02;
    putU32(f, footer, crc32(f, footer + 4, footer + 10));
    expectSame(xzDecompress(f), small);
  });

  it('trailing garbage after a stream', () => {
    expectDecompressError(new Uint8Array([...smallXz, 0, 0, 0, 0, 1, 2, 3, 4]), /magic/);
  });
});
