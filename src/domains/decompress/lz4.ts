/**
 * LZ4 decompression: the legacy frame Linux's `make` uses for LZ4 kernels
 * (magic 0x184C2102, blocks of [u32 size][block], an optional 4-byte trailer
 * holding the uncompressed size), and the standard LZ4 frame (0x184D2204).
 */
import { DecompressError } from '../../errors.ts';

export const LZ4_LEGACY_MAGIC = 0x184c2102;
export const LZ4_FRAME_MAGIC = 0x184d2204;
const LEGACY_BLOCK_MAX = 8 << 20;

function fail(detail: string): never {
  throw new DecompressError('lz4', detail);
}

/** Growable output buffer: doubling, never per-byte allocation. */
class Output {
  buf: Uint8Array;
  len = 0;
  constructor(hint: number) {
    this.buf = new Uint8Array(Math.max(hint, 1 << 16));
  }
  reserve(extra: number): void {
    const need = this.len + extra;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  result(): Uint8Array {
    return this.buf.length === this.len ? this.buf : this.buf.slice(0, this.len);
  }
}

function u32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

/**
 * Decode one LZ4 block `src[start, end)` appending to `out`.
 * `maxOut` bounds this block's output (corrupt data must not run away).
 * Matches may reach back into earlier blocks (legacy frames use linked blocks
 * only within the 64 KiB window, which this handles naturally).
 */
function decodeBlock(src: Uint8Array, start: number, end: number, out: Output, maxOut: number): void {
  out.reserve(maxOut);
  const dst = out.buf;
  let op = out.len;
  const opLimit = op + maxOut;
  let ip = start;
  while (ip < end) {
    const token = src[ip++]!;
    let litLen = token >>> 4;
    if (litLen === 15) {
      let b: number;
      do {
        if (ip >= end) fail(`truncated literal length at byte ${ip}`);
        b = src[ip++]!;
        litLen += b;
      } while (b === 255);
    }
    if (ip + litLen > end) fail(`literals run past the end of the block at byte ${ip}`);
    if (op + litLen > opLimit) fail(`block decodes to more than ${maxOut} bytes`);
    dst.set(src.subarray(ip, ip + litLen), op);
    ip += litLen;
    op += litLen;
    if (ip === end) break; // last sequence has literals only
    if (ip + 2 > end) fail(`truncated match offset at byte ${ip}`);
    const offset = src[ip]! | (src[ip + 1]! << 8);
    ip += 2;
    if (offset === 0 || offset > op) fail(`invalid match offset ${offset} at byte ${ip - 2}`);
    let matchLen = token & 15;
    if (matchLen === 15) {
      let b: number;
      do {
        if (ip >= end) fail(`truncated match length at byte ${ip}`);
        b = src[ip++]!;
        matchLen += b;
      } while (b === 255);
    }
    matchLen += 4;
    if (op + matchLen > opLimit) fail(`block decodes to more than ${maxOut} bytes`);
    let from = op - offset;
    if (offset >= matchLen) {
      dst.copyWithin(op, from, from + matchLen);
      op += matchLen;
    } else {
      // Overlapping copy: repeats the last `offset` bytes.
      const stop = op + matchLen;
      while (op < stop) dst[op++] = dst[from++]!;
    }
  }
  out.len = op;
}

/** Decompress a legacy LZ4 frame (the Linux kernel's format). */
export function lz4LegacyDecompress(src: Uint8Array): Uint8Array {
  if (src.length < 4 || u32(src, 0) !== LZ4_LEGACY_MAGIC) fail('not an LZ4 legacy frame (bad magic)');
  const out = new Output(src.length * 4);
  let ip = 4;
  let trailer: number | undefined;
  while (ip < src.length) {
    const remaining = src.length - ip;
    if (remaining < 4) fail(`truncated block header at byte ${ip}`);
    const size = u32(src, ip);
    if (size === LZ4_LEGACY_MAGIC) {
      ip += 4; // a concatenated legacy stream
      continue;
    }
    // Linux appends the uncompressed size as a 4-byte trailer after the last block.
    if (remaining === 4) {
      trailer = size;
      break;
    }
    if (size > LEGACY_BLOCK_MAX + (LEGACY_BLOCK_MAX >>> 8) + 64) fail(`block size ${size} at byte ${ip} is too large (corrupt data?)`);
    ip += 4;
    if (ip + size > src.length) fail(`truncated: block at byte ${ip} needs ${size} bytes, ${src.length - ip} remain`);
    decodeBlock(src, ip, ip + size, out, LEGACY_BLOCK_MAX);
    ip += size;
  }
  if (trailer !== undefined && trailer !== out.len) {
    fail(`decoded ${out.len} bytes but the trailer says ${trailer} (truncated or corrupt)`);
  }
  return out.result();
}

/** Decompress a standard LZ4 frame (lz4 CLI default format), concatenated frames allowed. */
export function lz4FrameDecompress(src: Uint8Array): Uint8Array {
  const out = new Output(src.length * 4);
  let ip = 0;
  while (ip < src.length) {
    if (src.length - ip < 7) fail(`truncated frame header at byte ${ip}`);
    const magic = u32(src, ip);
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      // skippable frame
      const len = u32(src, ip + 4);
      ip += 8 + len;
      if (ip > src.length) fail('truncated skippable frame');
      continue;
    }
    if (magic === LZ4_LEGACY_MAGIC) {
      const rest = lz4LegacyDecompress(src.subarray(ip));
      out.reserve(rest.length);
      out.buf.set(rest, out.len);
      out.len += rest.length;
      return out.result();
    }
    if (magic !== LZ4_FRAME_MAGIC) fail(`bad frame magic 0x${magic.toString(16)} at byte ${ip}`);
    ip += 4;
    const flg = src[ip]!;
    const bd = src[ip + 1]!;
    if (flg >>> 6 !== 1) fail(`unsupported LZ4 frame version at byte ${ip}`);
    const blockChecksum = (flg & 0x10) !== 0;
    const hasSize = (flg & 0x08) !== 0;
    const contentChecksum = (flg & 0x04) !== 0;
    const hasDict = (flg & 0x01) !== 0;
    if (hasDict) fail('frame needs a dictionary');
    const maxBlock = [0, 0, 0, 0, 64 << 10, 256 << 10, 1 << 20, 4 << 20][(bd >>> 4) & 7]!;
    if (maxBlock === 0) fail(`invalid block maximum size at byte ${ip + 1}`);
    ip += 2 + (hasSize ? 8 : 0) + 1; // FLG, BD, content size, header checksum
    for (;;) {
      if (ip + 4 > src.length) fail(`truncated block header at byte ${ip}`);
      const word = u32(src, ip);
      ip += 4;
      if (word === 0) break;
      const size = word & 0x7fffffff;
      if (size > maxBlock) fail(`block size ${size} exceeds the frame's maximum ${maxBlock}`);
      if (ip + size > src.length) fail(`truncated block at byte ${ip}`);
      if (word & 0x80000000) {
        out.reserve(size);
        out.buf.set(src.subarray(ip, ip + size), out.len);
        out.len += size;
      } else {
        decodeBlock(src, ip, ip + size, out, maxBlock);
      }
      ip += size + (blockChecksum ? 4 : 0);
    }
    if (contentChecksum) ip += 4;
    if (ip > src.length) fail('truncated frame trailer');
  }
  return out.result();
}
