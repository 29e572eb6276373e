/**
 * Zstandard decompressor tests. Ground truth is the system `zstd` CLI: inputs
 * are compressed with many option variations and must decompress to the
 * identical bytes. Hand-built frames cover header variants the CLI does not
 * emit, and corrupted inputs must fail with a one-line DecompressError.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { xxh64, xxh64Hex } from '../src/domains/decompress/xxhash64.ts';
import { zstdDecompress } from '../src/domains/decompress/zstd.ts';
import { DecompressError } from '../src/errors.ts';

// ---------------------------------------------------------------------------
// Helpers

const HAVE_ZSTD = spawnSync('zstd', ['--version']).status === 0;
const TMP = mkdtempSync(join(tmpdir(), 'xenjs-zstd-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

let fileCounter = 0;

/** Compress with the zstd CLI from a file (so the content size is known). */
function zstdFile(data: Uint8Array, args: string[]): Uint8Array {
  const path = join(TMP, `in${fileCounter++}`);
  writeFileSync(path, data);
  const r = spawnSync('zstd', ['-q', '-c', ...args, path], { maxBuffer: 1 << 30 });
  rmSync(path);
  if (r.status !== 0) throw new Error(`zstd ${args.join(' ')} failed: ${r.stderr.toString()}`);
  return new Uint8Array(r.stdout);
}

/** Compress with the zstd CLI from stdin (streaming: no content size in the header). */
function zstdStdin(data: Uint8Array, args: string[]): Uint8Array {
  const r = spawnSync('zstd', ['-q', '-c', ...args], { input: data, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`zstd ${args.join(' ')} failed: ${r.stderr.toString()}`);
  return new Uint8Array(r.stdout);
}

/** Does this zstd CLI accept these options? */
function supports(args: string[]): boolean {
  if (!HAVE_ZSTD) return false;
  return spawnSync('zstd', ['-q', '-c', ...args], { input: Buffer.from('probe') }).status === 0;
}

/** Deterministic PRNG (xorshift32). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

function randomData(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = r() & 0xff;
  return out;
}

function textData(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  const words = [
    'the', 'hypervisor', 'domain', 'page', 'table', 'event', 'channel', 'grant', 'xen', 'kernel',
    'vcpu', 'memory', 'interrupt', 'hypercall', 'shared', 'info', 'console', 'ring', 'buffer', 'block',
  ];
  let s = '';
  while (s.length < n) {
    const len = 3 + (r() % 12);
    const line: string[] = [];
    for (let i = 0; i < len; i++) line.push(words[r() % words.length]!);
    s += `${r() % 1000}: ${line.join(' ')}.\n`;
  }
  return new TextEncoder().encode(s.slice(0, n));
}

function tokenData(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  const tokens = Array.from({ length: 200 }, () => Array.from({ length: 6 }, () => r() & 0xff));
  const out = new Uint8Array(n);
  let o = 0;
  while (o < n) {
    for (const b of tokens[r() % tokens.length]!) if (o < n) out[o++] = b;
    if (o < n) out[o++] = r() & 0xff;
  }
  return out;
}

let nodeBinary: Buffer | undefined;
/** A slice of a large x86-64 binary (node itself). */
function binaryData(n: number, offset: number): Uint8Array {
  nodeBinary ??= readFileSync(existsSync('/usr/bin/node') ? '/usr/bin/node' : process.execPath);
  const all = nodeBinary;
  const start = Math.min(offset, Math.max(0, all.length - n));
  return new Uint8Array(all.subarray(start, start + n));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function skippableFrame(payload: Uint8Array, nibble = 0): Uint8Array {
  const h = new Uint8Array(8);
  const dv = new DataView(h.buffer);
  dv.setUint32(0, 0x184d2a50 + nibble, true);
  dv.setUint32(4, payload.length, true);
  return concat(h, payload);
}

/** Expect `fn` to throw a one-line zstd DecompressError; returns its message. */
function expectZstdError(fn: () => unknown): string {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a DecompressError').toBeInstanceOf(DecompressError);
  const msg = (err as Error).message;
  expect(msg.startsWith('zstd: ')).toBe(true);
  expect(msg).not.toContain('\n');
  return msg;
}

function sameBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect(actual.length).toBe(expected.length);
  // Compare as Buffers: fast, and a mismatch reports briefly.
  expect(Buffer.compare(Buffer.from(actual.buffer, actual.byteOffset, actual.length), Buffer.from(expected))).toBe(0);
}

// ---------------------------------------------------------------------------
// Inputs

const inputs: Record<string, Uint8Array> = {
  empty: new Uint8Array(0),
  'one byte': new Uint8Array([0x41]),
  'short text': new TextEncoder().encode('hello, hello, hello world\n'),
  'random 300 KiB': randomData(300 * 1024, 1),
  'text 1 MiB': textData(1 << 20, 2),
  'zeros 1 MiB': new Uint8Array(1 << 20),
  'period-3 pattern 200 KiB': new Uint8Array(200 * 1024).map((_, i) => 'abc'.charCodeAt(i % 3)),
  'x86 binary 2 MiB': binaryData(2 << 20, 8 << 20),
  // Literal bytes 0..7 only: the Huffman weights use the direct (4-bit) representation.
  'small alphabet 200 KiB': randomData(200 * 1024, 12).map((b) => b & 7),
  // Random letters have no matches at low levels: literal-only blocks (Number_of_Sequences = 0).
  'random letters 100 KiB': randomData(100 * 1024, 13).map((b) => 97 + (b % 26)),
  // 6-byte tokens + a random byte: blocks whose match lengths all share one code (RLE_Mode).
  'tokens 300 KiB': tokenData(300 * 1024, 14),
  mixed: concat(
    textData(100_000, 3),
    randomData(150_000, 4),
    new Uint8Array(300_000).fill(7),
    binaryData(400_000, 20 << 20),
    textData(5, 5),
  ),
};

/** CLI option sets: [label, args, compress from stdin?] */
const variations: Array<[string, string[], boolean]> = [
  ['-1', ['-1'], false],
  ['-3', ['-3'], false],
  ['-19', ['-19'], false],
  ['--ultra -22', ['--ultra', '-22'], false],
  ['--long=27', ['--long=27'], false],
  ['--no-check', ['--no-check'], false],
  ['--no-content-size', ['--no-content-size'], false],
  ['--format=zstd', ['--format=zstd'], false],
  ['stdin (streaming, no content size)', ['-6'], true],
  ['--fast=5', ['--fast=5'], false],
  ['--no-compress-literals', ['--no-compress-literals'], false],
  ['--target-compressed-block-size=2048', ['--target-compressed-block-size=2048'], false],
  ['-B (job size) with -T2', ['-T2', '-B262144'], false],
  ['1 KiB window (--zstd=wlog=10)', ['--zstd=wlog=10'], false],
  ['--rsyncable', ['--rsyncable'], false],
];

// ---------------------------------------------------------------------------

describe('xxh64', () => {
  // Independent BigInt reference, written straight from the XXH64 definition.
  const M = (1n << 64n) - 1n;
  const P1 = 0x9e3779b185ebca87n;
  const P2 = 0xc2b2ae3d27d4eb4fn;
  const P3 = 0x165667b19e3779f9n;
  const P4 = 0x85ebca77c2b2ae63n;
  const P5 = 0x27d4eb2f165667c5n;
  const rotl = (x: bigint, r: bigint): bigint => ((x << r) | (x >> (64n - r))) & M;
  const round = (acc: bigint, lane: bigint): bigint => (rotl((acc + lane * P2) & M, 31n) * P1) & M;
  const merge = (acc: bigint, v: bigint): bigint => (((acc ^ round(0n, v)) * P1) & M) + P4 & M;
  function ref(d: Uint8Array): string {
    const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
    const u64 = (i: number): bigint => dv.getBigUint64(i, true);
    let i = 0;
    let h: bigint;
    if (d.length >= 32) {
      let v1 = (P1 + P2) & M;
      let v2 = P2;
      let v3 = 0n;
      let v4 = (M + 1n - P1) & M;
      for (; i + 32 <= d.length; i += 32) {
        v1 = round(v1, u64(i));
        v2 = round(v2, u64(i + 8));
        v3 = round(v3, u64(i + 16));
        v4 = round(v4, u64(i + 24));
      }
      h = (rotl(v1, 1n) + rotl(v2, 7n) + rotl(v3, 12n) + rotl(v4, 18n)) & M;
      h = merge(merge(merge(merge(h, v1), v2), v3), v4);
    } else {
      h = P5;
    }
    h = (h + BigInt(d.length)) & M;
    for (; i + 8 <= d.length; i += 8) h = ((rotl(h ^ round(0n, u64(i)), 27n) * P1) & M) + P4 & M;
    if (i + 4 <= d.length) {
      h = ((rotl(h ^ ((BigInt(dv.getUint32(i, true)) * P1) & M), 23n) * P2) & M) + P3 & M;
      i += 4;
    }
    for (; i < d.length; i++) h = (rotl(h ^ ((BigInt(d[i]!) * P5) & M), 11n) * P1) & M;
    h ^= h >> 33n;
    h = (h * P2) & M;
    h ^= h >> 29n;
    h = (h * P3) & M;
    h ^= h >> 32n;
    return h.toString(16).padStart(16, '0');
  }

  it('matches published test vectors', () => {
    const enc = new TextEncoder();
    expect(xxh64Hex(new Uint8Array(0))).toBe('ef46db3751d8e999');
    expect(ref(new Uint8Array(0))).toBe('ef46db3751d8e999');
    expect(xxh64Hex(enc.encode('a'))).toBe('d24ec4f1a98c6e5b');
    expect(xxh64Hex(enc.encode('abc'))).toBe('44bc2cf5ad770999');
  });

  it('matches a BigInt reference for every length 0..300 and unaligned ranges', () => {
    const data = randomData(5000, 99);
    for (let n = 0; n <= 300; n++) expect(xxh64Hex(data.subarray(0, n))).toBe(ref(data.subarray(0, n)));
    for (const [s, e] of [[1, 4999], [3, 1000], [7, 7], [13, 77]] as const) {
      expect(xxh64Hex(data, s, e)).toBe(ref(data.slice(s, e)));
    }
    const big = randomData(1 << 20, 5);
    expect(xxh64Hex(big)).toBe(ref(big));
  });

});

describe('zstd CLI round trips', () => {
  for (const [label, args, stdin] of variations) {
    describe(label, () => {
      const ok = supports(args);
      for (const [name, data] of Object.entries(inputs)) {
        it(name, () => {
          expect(ok, `this zstd accepts ${args.join(' ')}`).toBe(true);
          const compressed = stdin ? zstdStdin(data, args) : zstdFile(data, args);
          sameBytes(zstdDecompress(compressed), data);
        });
      }
    });
  }
});

describe('frame sequences', () => {
  const a = textData(200_000, 7);
  const b = binaryData(300_000, 30 << 20);

  it('decodes two concatenated frames', () => {
    const c = concat(zstdFile(a, ['-3']), zstdFile(b, ['-19', '--no-check']));
    sameBytes(zstdDecompress(c), concat(a, b));
  });

  it('decodes concatenated frames with and without content size', () => {
    const c = concat(zstdStdin(b, ['-1']), zstdFile(a, ['-5']), zstdStdin(new Uint8Array(0), []));
    sameBytes(zstdDecompress(c), concat(b, a));
  });

  it('skips skippable frames (prepended, between, appended, empty)', () => {
    const c = concat(
      skippableFrame(new TextEncoder().encode('user metadata'), 0),
      zstdFile(a, ['-3']),
      skippableFrame(new Uint8Array(0), 0xf),
      skippableFrame(randomData(1000, 8), 7),
      zstdFile(b, ['-3']),
      skippableFrame(randomData(10, 9), 3),
    );
    sameBytes(zstdDecompress(c), concat(a, b));
  });

  it('uses sizeHint only to size the output', () => {
    // Streaming frames carry no content size; the hint (right, too small, too large, absurd) must not matter.
    const c = zstdStdin(b, ['-3']);
    for (const sizeHint of [b.length, 1000, b.length * 3, 2 ** 40, -1, Number.NaN]) {
      sameBytes(zstdDecompress(c, { sizeHint }), b);
    }
    sameBytes(zstdDecompress(concat(c, zstdStdin(a, ['-1'])), { sizeHint: b.length }), concat(b, a));
  });

  it('returns empty output for only skippable frames', () => {
    expect(zstdDecompress(skippableFrame(randomData(50, 1))).length).toBe(0);
  });

});

// ---------------------------------------------------------------------------
// Hand-built frames

function blockHeader(last: boolean, type: number, size: number): Uint8Array {
  const v = (last ? 1 : 0) | (type << 1) | (size << 3);
  return new Uint8Array([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff]);
}
function rawBlock(data: Uint8Array, last: boolean): Uint8Array {
  return concat(blockHeader(last, 0, data.length), data);
}
function rleBlock(byte: number, count: number, last: boolean): Uint8Array {
  return concat(blockHeader(last, 1, count), new Uint8Array([byte]));
}
function le(value: number, bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) out[i] = Math.floor(value / 2 ** (8 * i)) & 0xff;
  return out;
}
/** Magic + frame header with the given field layout. */
function frameHeader(opts: {
  fcs?: number;
  fcsBytes?: 0 | 1 | 2 | 4 | 8;
  single?: boolean;
  window?: number;
  checksum?: boolean;
  didBytes?: 0 | 1 | 2 | 4;
  did?: number;
}): Uint8Array {
  const fcsBytes = opts.fcsBytes ?? 0;
  const single = opts.single ?? false;
  const fcsFlag = { 0: 0, 1: 0, 2: 1, 4: 2, 8: 3 }[fcsBytes];
  if (fcsBytes === 1 && !single) throw new Error('1-byte FCS needs single segment');
  const didBytes = opts.didBytes ?? 0;
  const didFlag = { 0: 0, 1: 1, 2: 2, 4: 3 }[didBytes];
  const fhd = (fcsFlag << 6) | (single ? 0x20 : 0) | (opts.checksum ? 4 : 0) | didFlag;
  const parts: Uint8Array[] = [new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, fhd])];
  if (!single) parts.push(new Uint8Array([opts.window ?? 0x58]));
  parts.push(le(opts.did ?? 0, didBytes));
  const fcs = opts.fcs ?? 0;
  parts.push(le(fcsBytes === 2 ? fcs - 256 : fcs, fcsBytes));
  return concat(...parts);
}
function compressedBlock(body: Uint8Array, last: boolean): Uint8Array {
  return concat(blockHeader(last, 2, body.length), body);
}
/** Literals_Section_Header for raw (type 0) or RLE (type 1) literals. */
function literalsHeader(type: 0 | 1, n: number): Uint8Array {
  if (n < 32) return new Uint8Array([type | (n << 3)]);
  if (n < 4096) return new Uint8Array([type | (1 << 2) | ((n & 15) << 4), n >>> 4]);
  return new Uint8Array([type | (3 << 2) | ((n & 15) << 4), (n >>> 4) & 0xff, n >>> 12]);
}
function rleLiterals(byte: number, n: number): Uint8Array {
  return concat(literalsHeader(1, n), new Uint8Array([byte]));
}
function rawLiterals(bytes: Uint8Array): Uint8Array {
  return concat(literalsHeader(0, bytes.length), bytes);
}
function nbSeqField(k: number): Uint8Array {
  if (k < 128) return new Uint8Array([k]);
  if (k < 0x7f00) return new Uint8Array([(k >>> 8) + 128, k & 0xff]);
  return new Uint8Array([255, (k - 0x7f00) & 0xff, (k - 0x7f00) >>> 8]);
}
function checksumOf(data: Uint8Array): Uint8Array {
  return le(xxh64(data).lo, 4);
}

describe('hand-built frames', () => {
  const data = textData(44_000, 11); // small enough for the 2-byte Frame_Content_Size field
  const blocks = (d: Uint8Array): Uint8Array =>
    concat(rawBlock(d.subarray(0, 1000), false), rleBlock(0x5a, 5000, false), rawBlock(d.subarray(1000), true));
  const expected = concat(data.subarray(0, 1000), new Uint8Array(5000).fill(0x5a), data.subarray(1000));

  it('supports every Frame_Content_Size field size and the window descriptor', () => {
    const n = expected.length;
    const headers = [
      frameHeader({ fcsBytes: 0 }),
      frameHeader({ fcsBytes: 2, fcs: n }),
      frameHeader({ fcsBytes: 4, fcs: n }),
      frameHeader({ fcsBytes: 8, fcs: n }),
      frameHeader({ fcsBytes: 4, fcs: n, single: true }),
      frameHeader({ fcsBytes: 8, fcs: n, single: true, checksum: true }),
      frameHeader({ fcsBytes: 2, fcs: n, window: 0x3f, didBytes: 1 }),
      frameHeader({ fcsBytes: 4, fcs: n, window: 0x80, didBytes: 2 }),
      frameHeader({ fcsBytes: 8, fcs: n, window: 0x00 + (7 << 3) + 3, didBytes: 4 }),
    ];
    for (const h of headers) {
      const checksum = (h[4]! & 4) !== 0 ? checksumOf(expected) : new Uint8Array(0);
      sameBytes(zstdDecompress(concat(h, blocks(data), checksum)), expected);
    }
  });

  it('supports 1-byte Frame_Content_Size (single segment) and empty frames', () => {
    const small = new TextEncoder().encode('tiny');
    sameBytes(zstdDecompress(concat(frameHeader({ fcsBytes: 1, single: true, fcs: 4 }), rawBlock(small, true))), small);
    expect(zstdDecompress(concat(frameHeader({ fcsBytes: 1, single: true, fcs: 0 }), rawBlock(small.subarray(0, 0), true))).length).toBe(0);
    expect(zstdDecompress(concat(frameHeader({}), rleBlock(1, 0, true)))).toHaveLength(0);
  });

  it('accepts Dictionary_ID fields holding 0 (no dictionary)', () => {
    const payload = new TextEncoder().encode('dictionary id zero');
    for (const didBytes of [1, 2, 4] as const) {
      const h = frameHeader({ didBytes, did: 0, fcsBytes: 1, single: true, fcs: payload.length });
      sameBytes(zstdDecompress(concat(h, rawBlock(payload, true))), payload);
    }
  });

  it('decodes RLE literals, RLE and repeat sequence modes, and a 3-byte sequence count', () => {
    // All three codes in RLE_Mode with 0 extra bits: the sequence bitstream is just its end marker.
    const k = 32600; // >= 0x7F00: 3-byte Number_of_Sequences
    const f = concat(
      frameHeader({}),
      rawBlock(new TextEncoder().encode('ABCDEFGH'), false),
      // literal length code 1 (1 literal), offset code 0 (repeat offset 1 = 1), match length code 0 (3)
      compressedBlock(concat(rleLiterals(0x78, k), nbSeqField(k), new Uint8Array([0x54, 1, 0, 0, 0x01])), false),
      // Repeat_Mode for all three tables, 5 sequences, 7 literals 'y'.
      compressedBlock(concat(rleLiterals(0x79, 7), nbSeqField(5), new Uint8Array([0xfc, 0x01])), true),
    );
    const expected = concat(
      new TextEncoder().encode('ABCDEFGH'),
      new Uint8Array(4 * k).fill(0x78),
      new Uint8Array(22).fill(0x79),
    );
    sameBytes(zstdDecompress(f), expected);
  });

  it('applies the repeat-offset rules for literal length 0', () => {
    // Two sequences with literal length 0 and Offset_Value 1: first uses Repeated_Offset2 (4),
    // which swaps the history to (4, 1), so the second uses 1.
    const f = concat(
      frameHeader({}),
      rawBlock(new TextEncoder().encode('ABCDEFGH'), false),
      compressedBlock(concat(rleLiterals(0x7a, 0), nbSeqField(2), new Uint8Array([0x54, 0, 0, 1, 0x01])), true),
    );
    expect(new TextDecoder().decode(zstdDecompress(f))).toBe('ABCDEFGHEFGHHHHH');
  });

  it('decodes a compressed block with raw literals and no sequences', () => {
    const text = new TextEncoder().encode('literals only, '.repeat(300));
    const f = concat(frameHeader({}), compressedBlock(concat(rawLiterals(text), new Uint8Array([0])), true));
    sameBytes(zstdDecompress(f), text);
  });

  it('rejects treeless literals and repeat mode without previous tables', () => {
    // Treeless literals header (type 3, 1 stream, sizes 1/1) as the first block.
    const treeless = compressedBlock(new Uint8Array([0x13, 0x40, 0x00, 0x80, 0x00]), true);
    expect(expectZstdError(() => zstdDecompress(concat(frameHeader({}), treeless)))).toMatch(/previous Huffman/);
    const repeat = compressedBlock(concat(rleLiterals(0x61, 4), nbSeqField(1), new Uint8Array([0xfc, 0x01])), true);
    expect(expectZstdError(() => zstdDecompress(concat(frameHeader({}), repeat)))).toMatch(/repeat mode/);
  });

  it('rejects a match reaching before the start of the frame', () => {
    // Offset code 0 with literal length 0 means Repeated_Offset2 = 4, but only 2 bytes exist.
    const f = concat(
      frameHeader({}),
      rawBlock(new TextEncoder().encode('AB'), false),
      compressedBlock(concat(rleLiterals(0x7a, 0), nbSeqField(1), new Uint8Array([0x54, 0, 0, 1, 0x01])), true),
    );
    expect(expectZstdError(() => zstdDecompress(f))).toMatch(/before the start of the frame/);
  });

  it('rejects frames that need a dictionary', () => {
    for (const didBytes of [1, 2, 4] as const) {
      const f = concat(frameHeader({ didBytes, did: 0x1234 & (didBytes === 1 ? 0xff : 0xffff) }), rawBlock(data, true));
      expect(expectZstdError(() => zstdDecompress(f))).toMatch(/needs dictionary/);
    }
  });

  it('rejects a wrong Frame_Content_Size', () => {
    const f = concat(frameHeader({ fcsBytes: 4, fcs: expected.length + 1 }), blocks(data));
    expectZstdError(() => zstdDecompress(f));
    const g = concat(frameHeader({ fcsBytes: 4, fcs: expected.length - 1 }), blocks(data));
    expectZstdError(() => zstdDecompress(g));
  });

  it('rejects the reserved bit, reserved block type and oversized blocks', () => {
    const h = frameHeader({});
    h[4]! |= 0x08;
    expect(expectZstdError(() => zstdDecompress(concat(h, rawBlock(data, true))))).toMatch(/reserved bit/);
    expect(expectZstdError(() => zstdDecompress(concat(frameHeader({}), blockHeader(true, 3, 1), new Uint8Array(1))))).toMatch(
      /reserved block type/,
    );
    expect(expectZstdError(() => zstdDecompress(concat(frameHeader({}), rleBlock(0, 200_000, true))))).toMatch(/exceeds/);
    // Window of 1 KiB (descriptor 0) limits blocks to 1 KiB.
    expect(expectZstdError(() => zstdDecompress(concat(frameHeader({ window: 0 }), rleBlock(0, 1025, true))))).toMatch(/exceeds/);
  });

  it('rejects an absurd Frame_Content_Size without allocating it', () => {
    const f = concat(frameHeader({ fcsBytes: 8, fcs: 2 ** 50 }), rawBlock(data, true));
    expect(expectZstdError(() => zstdDecompress(f))).toMatch(/content size/);
  });
});

// ---------------------------------------------------------------------------
// Corrupt input

describe('corrupt input', () => {
  const original = concat(textData(60_000, 21), binaryData(150_000, 40 << 20));
  const good = zstdFile(original, ['-9']);
  const goodNoCheck = zstdFile(original, ['-9', '--no-check']);

  it('sanity: the good inputs decode', () => {
    sameBytes(zstdDecompress(good), original);
    sameBytes(zstdDecompress(goodNoCheck), original);
  });

  it('rejects empty input and bad magic', () => {
    expect(expectZstdError(() => zstdDecompress(new Uint8Array(0)))).toMatch(/empty/);
    expect(expectZstdError(() => zstdDecompress(new TextEncoder().encode('this is not zstd data')))).toMatch(/bad magic/);
    const gz = new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(expectZstdError(() => zstdDecompress(gz))).toMatch(/bad magic/);
    const flipped = good.slice();
    flipped[0]! ^= 1;
    expect(expectZstdError(() => zstdDecompress(flipped))).toMatch(/bad magic/);
  });

  it('rejects garbage after the last frame', () => {
    expect(expectZstdError(() => zstdDecompress(concat(good, new Uint8Array([1, 2, 3, 4, 5]))))).toMatch(/bad magic/);
    expect(expectZstdError(() => zstdDecompress(concat(good, new Uint8Array([1, 2]))))).toMatch(/trailing/);
  });

  it('rejects a bad content checksum', () => {
    const bad = good.slice();
    bad[bad.length - 1]! ^= 0x40;
    expect(expectZstdError(() => zstdDecompress(bad))).toMatch(/checksum mismatch/);
  });

  it('rejects every truncation', () => {
    const cuts = new Set<number>();
    for (let n = 0; n < 64; n++) cuts.add(n);
    for (let n = good.length - 64; n < good.length; n++) cuts.add(n);
    for (let n = 0; n < good.length; n += 997) cuts.add(n);
    for (const n of cuts) expectZstdError(() => zstdDecompress(good.subarray(0, n)));
    for (let n = goodNoCheck.length - 40; n < goodNoCheck.length; n++) {
      expectZstdError(() => zstdDecompress(goodNoCheck.subarray(0, n)));
    }
  });

  it('detects a flipped byte anywhere (or decodes correctly if it was harmless)', () => {
    const r = rng(1234);
    const positions: number[] = [];
    for (let i = 0; i < 40; i++) positions.push(i);
    for (let i = 0; i < 1500; i++) positions.push(r() % good.length);
    for (const pos of positions) {
      const bad = good.slice();
      bad[pos]! ^= 1 + (r() % 255);
      let out: Uint8Array | undefined;
      try {
        out = zstdDecompress(bad);
      } catch (e) {
        expect(e).toBeInstanceOf(DecompressError);
        const msg = (e as Error).message;
        expect(msg).not.toContain('\n');
        // The reported offset points into the input.
        const at = Number(/\(at byte offset (\d+)\)$/.exec(msg)?.[1]);
        expect(at).toBeGreaterThanOrEqual(0);
        expect(at).toBeLessThanOrEqual(bad.length);
        continue;
      }
      // Only harmless header bits (e.g. the window size) may survive; the checksum catches the rest.
      sameBytes(out, original);
    }
  });

  it('never fails with anything but DecompressError on damaged frames without checksum', () => {
    const r = rng(777);
    for (let i = 0; i < 1500; i++) {
      const bad = goodNoCheck.slice();
      const flips = 1 + (r() % 4);
      for (let k = 0; k < flips; k++) bad[r() % bad.length]! ^= 1 + (r() % 255);
      try {
        zstdDecompress(bad);
      } catch (e) {
        expect(e).toBeInstanceOf(DecompressError);
        expect((e as Error).message).not.toContain('\n');
      }
    }
  });

  it('rejects random garbage after a valid magic number', () => {
    const r = rng(4242);
    for (let i = 0; i < 3000; i++) {
      const len = 1 + (r() % 600);
      const bad = concat(new Uint8Array([0x28, 0xb5, 0x2f, 0xfd]), randomData(len, r()));
      if (i % 2 === 0) bad[4] = bad[4]! & ~0x08 & ~0x03; // plausible header: no reserved bit, no dictionary
      try {
        zstdDecompress(bad);
      } catch (e) {
        expect(e).toBeInstanceOf(DecompressError);
      }
    }
  });

  it('rejects damaged compressed blocks with random contents', () => {
    // Valid header + compressed block header, random block body.
    const r = rng(99);
    for (let i = 0; i < 3000; i++) {
      const size = 1 + (r() % 300);
      const body = randomData(size, r());
      const f = concat(frameHeader({ fcsBytes: 0 }), blockHeader(true, 2, size), body);
      try {
        zstdDecompress(f);
      } catch (e) {
        expect(e).toBeInstanceOf(DecompressError);
      }
    }
  });
});

describe('long distance matches', () => {
  it('decodes offsets beyond 64 MiB (offset codes above 25)', () => {
    // A 1 MiB chunk repeated after 65 MiB of other data; --long=27 finds the match.
    const chunk = randomData(1 << 20, 31);
    const data = concat(chunk, randomData(65 << 20, 32), chunk);
    sameBytes(zstdDecompress(zstdFile(data, ['-1', '--long=27'])), data);
  });
});

