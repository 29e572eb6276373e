/**
 * .xz decompressor (XZ file format 1.x): streams, blocks, filter chains of
 * BCJ/delta filters ending in LZMA2, integrity checks, the index, stream
 * padding and concatenated streams. Everything is validated; any problem
 * throws DecompressError('xz', ... (at byte offset N)).
 *
 * Used for Debian's compressed kernels (x86 BCJ + LZMA2, CRC32 check).
 */
import { DecompressError } from '../../errors.ts';
import { crc32, crc64Parts } from './crc.ts';
import { arm64Decode, armDecode, armThumbDecode, deltaDecode, powerpcDecode, sparcDecode, x86Decode } from './xz-bcj.ts';
import { decodeLzma2, lzma2DictSize, XzOutput } from './xz-lzma2.ts';
import { sha256 } from './xz-sha256.ts';

function fail(detail: string): never {
  throw new DecompressError('xz', detail);
}

const HEADER_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const FOOTER_MAGIC_0 = 0x59; // 'Y'
const FOOTER_MAGIC_1 = 0x5a; // 'Z'
const STREAM_HEADER_SIZE = 12;
const STREAM_FOOTER_SIZE = 12;
/** Size of the check field for each check ID (0x00..0x0F). */
const CHECK_SIZES = [0, 4, 4, 4, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64];
const CHECK_NONE = 0x00;
const CHECK_CRC32 = 0x01;
const CHECK_CRC64 = 0x04;
const CHECK_SHA256 = 0x0a;

const FILTER_DELTA = 0x03;
const FILTER_X86 = 0x04;
const FILTER_POWERPC = 0x05;
const FILTER_IA64 = 0x06;
const FILTER_ARM = 0x07;
const FILTER_ARMTHUMB = 0x08;
const FILTER_SPARC = 0x09;
const FILTER_ARM64 = 0x0a;
const FILTER_LZMA2 = 0x21;

type SimpleDecoder = (buf: Uint8Array, from: number, to: number, arg: number) => void;

const BCJ_FILTERS = new Map<number, { decode: SimpleDecoder }>([
  [FILTER_X86, { decode: x86Decode }],
  [FILTER_POWERPC, { decode: powerpcDecode }],
  [FILTER_ARM, { decode: armDecode }],
  [FILTER_ARMTHUMB, { decode: armThumbDecode }],
  [FILTER_SPARC, { decode: sparcDecode }],
  [FILTER_ARM64, { decode: arm64Decode }],
]);

function hex(n: number): string {
  return '0x' + n.toString(16).padStart(2, '0');
}

function u32le(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

/** End position of the last variable-length integer read by readVli. */
let vliEnd = 0;

/**
 * Read a .xz variable-length integer at b[at] without reading at or past
 * `limit`; sets vliEnd. Values beyond 2^53 are rejected (the format allows
 * up to 2^63 - 1, but no real size gets close).
 */
function readVli(b: Uint8Array, at: number, limit: number, what: string): number {
  let value = 0;
  let mul = 1;
  let p = at;
  for (let n = 0; ; n++) {
    if (p >= limit) fail(`truncated ${what} (at byte offset ${at})`);
    if (n >= 9) fail(`${what} is too long (at byte offset ${at})`);
    const byte = b[p++]!;
    value += (byte & 0x7f) * mul;
    if ((byte & 0x80) === 0) {
      if (byte === 0 && n > 0) fail(`${what} is not minimally encoded (at byte offset ${at})`);
      break;
    }
    mul *= 128;
  }
  if (value > Number.MAX_SAFE_INTEGER) fail(`${what} is too large (at byte offset ${at})`);
  vliEnd = p;
  return value;
}

interface Filter {
  id: number;
  /** start offset for BCJ filters, distance for delta */
  arg: number;
}

/**
 * Sum of the uncompressed sizes recorded in the indexes, walking the streams
 * backwards from the end of the input; -1 if that does not work out (the
 * forward pass then reports the actual problem). Only used to preallocate.
 */
function predictSize(input: Uint8Array): number {
  try {
    let end = input.length;
    let total = 0;
    while (end > 0) {
      while (end >= 4 && u32le(input, end - 4) === 0) end -= 4;
      if (end < STREAM_HEADER_SIZE + STREAM_FOOTER_SIZE) return -1;
      const foot = end - STREAM_FOOTER_SIZE;
      if (input[foot + 10] !== FOOTER_MAGIC_0 || input[foot + 11] !== FOOTER_MAGIC_1) return -1;
      const indexSize = (u32le(input, foot + 4) + 1) * 4;
      const indexStart = foot - indexSize;
      if (indexStart < STREAM_HEADER_SIZE || input[indexStart] !== 0) return -1;
      const count = readVli(input, indexStart + 1, foot, 'index');
      let p = vliEnd;
      let blocks = 0;
      for (let k = 0; k < count; k++) {
        const unpadded = readVli(input, p, foot, 'index');
        total += readVli(input, vliEnd, foot, 'index');
        p = vliEnd;
        blocks += Math.ceil(unpadded / 4) * 4;
      }
      const start = indexStart - blocks - STREAM_HEADER_SIZE;
      if (start < 0) return -1;
      for (let k = 0; k < HEADER_MAGIC.length; k++) if (input[start + k] !== HEADER_MAGIC[k]) return -1;
      end = start;
    }
    return total;
  } catch {
    return -1;
  }
}

function verifyCheck(
  checkType: number,
  input: Uint8Array,
  at: number,
  data: Uint8Array,
  from: number,
  to: number,
): void {
  let ok = true;
  let name = '';
  if (checkType === CHECK_CRC32) {
    name = 'CRC32';
    ok = crc32(data, from, to) === u32le(input, at);
  } else if (checkType === CHECK_CRC64) {
    name = 'CRC64';
    const [lo, hi] = crc64Parts(data, from, to);
    ok = lo === u32le(input, at) && hi === u32le(input, at + 4);
  } else if (checkType === CHECK_SHA256) {
    name = 'SHA-256';
    const digest = sha256(data, from, to);
    for (let k = 0; k < 32; k++) if (digest[k] !== input[at + k]) ok = false;
  }
  // CHECK_NONE and the reserved check IDs (whose size is known but whose
  // algorithm is not) are skipped, as the format specification allows.
  if (!ok) fail(`${name} check of block data does not match (at byte offset ${at})`);
}

/**
 * Decode one block starting at its header (input[at] != 0). Appends the
 * data to `out`, pushes [unpadded size, uncompressed size] onto `records`
 * and returns the offset just after the block's check field.
 */
function decodeBlock(input: Uint8Array, at: number, out: XzOutput, checkType: number, records: number[]): number {
  const len = input.length;
  const headerSize = (input[at]! + 1) * 4;
  if (at + headerSize > len) fail(`truncated block header (at byte offset ${at})`);
  const hdrEnd = at + headerSize - 4;
  if (crc32(input, at, hdrEnd) !== u32le(input, hdrEnd)) fail(`block header CRC32 mismatch (at byte offset ${at})`);
  const flags = input[at + 1]!;
  if (flags & 0x3c) fail(`unsupported block flags ${hex(flags)} (at byte offset ${at + 1})`);
  const filterCount = (flags & 3) + 1;
  let p = at + 2;
  let compSize = -1;
  let uncSize = -1;
  if (flags & 0x40) {
    compSize = readVli(input, p, hdrEnd, 'block compressed size');
    if (compSize === 0) fail(`block compressed size is zero (at byte offset ${p})`);
    p = vliEnd;
  }
  if (flags & 0x80) {
    uncSize = readVli(input, p, hdrEnd, 'block uncompressed size');
    p = vliEnd;
  }
  const filters: Filter[] = [];
  let dictSize = 0;
  for (let k = 0; k < filterCount; k++) {
    const idAt = p;
    const id = readVli(input, p, hdrEnd, 'filter ID');
    const propSize = readVli(input, vliEnd, hdrEnd, 'filter properties size');
    p = vliEnd;
    if (propSize > hdrEnd - p) fail(`truncated filter properties (at byte offset ${p})`);
    const last = k === filterCount - 1;
    if (id === FILTER_LZMA2) {
      if (!last) fail(`LZMA2 filter is not last in the filter chain (at byte offset ${idAt})`);
      if (propSize !== 1) fail(`bad LZMA2 properties size ${propSize} (at byte offset ${idAt})`);
      dictSize = lzma2DictSize(input[p]!, p);
      filters.push({ id, arg: dictSize });
    } else if (last) {
      fail(
        `unsupported filter chain: last filter is ${hex(id)}, only LZMA2 (0x21) is supported (at byte offset ${idAt})`,
      );
    } else if (id === FILTER_DELTA) {
      if (propSize !== 1) fail(`bad delta filter properties size ${propSize} (at byte offset ${idAt})`);
      filters.push({ id, arg: input[p]! + 1 });
    } else if (BCJ_FILTERS.has(id)) {
      let start = 0;
      if (propSize === 4) start = u32le(input, p);
      else if (propSize !== 0) fail(`bad BCJ filter properties size ${propSize} (at byte offset ${idAt})`);
      filters.push({ id, arg: start });
    } else if (id === FILTER_IA64) {
      fail(`unsupported filter 0x06 (IA-64 BCJ) (at byte offset ${idAt})`);
    } else {
      fail(`unsupported filter ${hex(id)} (at byte offset ${idAt})`);
    }
    p += propSize;
  }
  for (; p < hdrEnd; p++) if (input[p] !== 0) fail(`non-zero block header padding (at byte offset ${p})`);

  const dataStart = at + headerSize;
  let dataLimit = len;
  if (compSize >= 0) {
    if (compSize > len - dataStart) fail(`truncated block data (at byte offset ${len})`);
    dataLimit = dataStart + compSize;
  }
  const outStart = out.pos;
  if (uncSize >= 0) out.ensure(uncSize);
  const dataEnd = decodeLzma2(input, dataStart, dataLimit, out, uncSize >= 0 ? uncSize : Number.MAX_SAFE_INTEGER);
  const actualComp = dataEnd - dataStart;
  const actualUnc = out.pos - outStart;
  if (compSize >= 0 && actualComp !== compSize) {
    fail(`block compressed size ${actualComp} differs from its header (${compSize}) (at byte offset ${dataEnd})`);
  }
  if (uncSize >= 0 && actualUnc !== uncSize) {
    fail(`block uncompressed size ${actualUnc} differs from its header (${uncSize}) (at byte offset ${dataEnd})`);
  }
  for (let k = filters.length - 2; k >= 0; k--) {
    const f = filters[k]!;
    if (f.id === FILTER_DELTA) deltaDecode(out.buf, outStart, out.pos, f.arg);
    else BCJ_FILTERS.get(f.id)!.decode(out.buf, outStart, out.pos, f.arg);
  }

  p = dataEnd;
  while ((p - dataStart) & 3) {
    if (p >= len) fail(`truncated block padding (at byte offset ${p})`);
    if (input[p] !== 0) fail(`non-zero block padding (at byte offset ${p})`);
    p++;
  }
  const checkSize = CHECK_SIZES[checkType]!;
  if (checkSize > len - p) fail(`truncated block check (at byte offset ${p})`);
  verifyCheck(checkType, input, p, out.buf, outStart, out.pos);
  records.push(headerSize + actualComp + checkSize, actualUnc);
  return p + checkSize;
}

/** Decode one stream starting at input[at]; returns the offset after its footer. */
function decodeStream(input: Uint8Array, at: number, out: XzOutput): number {
  const len = input.length;
  for (let k = 0; k < HEADER_MAGIC.length && at + k < len; k++) {
    if (input[at + k] !== HEADER_MAGIC[k]) {
      if (at === 0) fail(`bad stream header magic, not an xz file (at byte offset ${k})`);
      fail(`bad stream header magic: unexpected data after the previous stream (at byte offset ${at + k})`);
    }
  }
  if (len - at < STREAM_HEADER_SIZE) fail(`truncated stream header (at byte offset ${len})`);
  if (crc32(input, at + 6, at + 8) !== u32le(input, at + 8)) {
    fail(`stream header CRC32 mismatch (at byte offset ${at + 8})`);
  }
  const flags0 = input[at + 6]!;
  const flags1 = input[at + 7]!;
  if (flags0 !== 0 || flags1 & 0xf0) fail(`unsupported stream flags (at byte offset ${at + 6})`);
  const checkType = flags1 & 0x0f;

  let p = at + STREAM_HEADER_SIZE;
  const records: number[] = [];
  for (;;) {
    if (p >= len) fail(`truncated stream: missing index (at byte offset ${p})`);
    if (input[p] === 0) break;
    p = decodeBlock(input, p, out, checkType, records);
  }

  // Index
  const indexStart = p;
  const count = readVli(input, p + 1, len, 'index record count');
  p = vliEnd;
  if (count !== records.length / 2) {
    fail(`index lists ${count} blocks but the stream has ${records.length / 2} (at byte offset ${indexStart})`);
  }
  for (let k = 0; k < count; k++) {
    const recAt = p;
    const unpadded = readVli(input, p, len, 'index record');
    const unc = readVli(input, vliEnd, len, 'index record');
    p = vliEnd;
    if (unpadded !== records[2 * k] || unc !== records[2 * k + 1]) {
      fail(`index record ${k} does not match block ${k} (at byte offset ${recAt})`);
    }
  }
  while ((p - indexStart) & 3) {
    if (p >= len) fail(`truncated index (at byte offset ${p})`);
    if (input[p] !== 0) fail(`non-zero index padding (at byte offset ${p})`);
    p++;
  }
  if (len - p < 4) fail(`truncated index (at byte offset ${p})`);
  if (crc32(input, indexStart, p) !== u32le(input, p)) fail(`index CRC32 mismatch (at byte offset ${p})`);
  p += 4;
  const indexSize = p - indexStart;

  // Footer
  if (len - p < STREAM_FOOTER_SIZE) fail(`truncated stream footer (at byte offset ${p})`);
  if (input[p + 10] !== FOOTER_MAGIC_0 || input[p + 11] !== FOOTER_MAGIC_1) {
    fail(`bad stream footer magic (at byte offset ${p + 10})`);
  }
  if (crc32(input, p + 4, p + 10) !== u32le(input, p)) fail(`stream footer CRC32 mismatch (at byte offset ${p})`);
  if ((u32le(input, p + 4) + 1) * 4 !== indexSize) {
    fail(`stream footer backward size does not match the index (at byte offset ${p + 4})`);
  }
  if (input[p + 8] !== flags0 || input[p + 9] !== flags1) {
    fail(`stream footer flags differ from the stream header (at byte offset ${p + 8})`);
  }
  return p + STREAM_FOOTER_SIZE;
}

/**
 * Decompress a complete .xz file (one or more concatenated streams, with
 * optional stream padding). Throws DecompressError on malformed, truncated,
 * corrupt or unsupported input.
 */
export function xzDecompress(input: Uint8Array): Uint8Array {
  if (input.length === 0) fail('empty input');
  const predicted = predictSize(input);
  let out: XzOutput;
  try {
    out = new XzOutput(predicted >= 0 ? predicted : Math.min(input.length * 4, 1 << 30));
  } catch {
    out = new XzOutput(1 << 16);
  }
  let p = 0;
  for (;;) {
    p = decodeStream(input, p, out);
    const padStart = p;
    while (p < input.length && input[p] === 0) p++;
    if ((p - padStart) & 3) fail(`stream padding is not a multiple of 4 bytes (at byte offset ${padStart})`);
    if (p >= input.length) break;
  }
  return out.pos === out.buf.length ? out.buf : out.buf.slice(0, out.pos);
}
