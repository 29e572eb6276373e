/**
 * Shared helpers for the Zstandard decoder: error reporting and the
 * backward ("reverse") bitstreams used by Huffman and FSE streams (RFC 8878
 * sections 4.1 and 4.2.2).
 *
 * A backward bitstream occupying src[base, end) is read as one little-endian
 * integer of (end - base) * 8 bits. Reading starts just below the end-marker
 * (the highest set bit of the last byte) and proceeds towards bit 0. A reader
 * is just an integer bit position `p`: reading n bits means p -= n and taking
 * the bits [p, p + n). Bits below position 0 read as zeros; callers detect
 * over-reads by checking that p ends at exactly 0.
 *
 * Readers take a DataView over the input and assume at least 4 readable bytes
 * past any stream end (the decoder copies blocks near the end of its input
 * into a zero-padded scratch buffer).
 */
import { DecompressError } from '../../errors.ts';

let failBias = 0;

/**
 * Offsets passed to zstdFail are relative to the buffer being decoded; while a
 * block is decoded from a scratch copy, this adds the copy's input position.
 */
export function setFailBias(bias: number): void {
  failBias = bias;
}

/** Throw a one-line zstd DecompressError mentioning the byte offset. */
export function zstdFail(detail: string, at: number): never {
  throw new DecompressError('zstd', `${detail} (at byte offset ${at + failBias})`);
}

/**
 * Start a backward bitstream over src[start, end): returns the bit position
 * (relative to `start`) just below the end-marker bit.
 */
export function backwardInit(src: Uint8Array, start: number, end: number, what: string): number {
  if (end <= start) zstdFail(`empty ${what} bitstream`, start);
  const last = src[end - 1]!;
  if (last === 0) zstdFail(`${what} bitstream lacks its end marker`, end - 1);
  return (end - 1 - start) * 8 + 31 - Math.clz32(last);
}

/**
 * The n bits (0 <= n <= 25) at bit positions [p, p + n) of the stream starting
 * at byte `base`. Positions below 0 read as zero bits.
 */
export function bitsAt(dv: DataView, base: number, p: number, n: number): number {
  if (p >= 0) return (dv.getUint32(base + (p >>> 3), true) >>> (p & 7)) & ((1 << n) - 1);
  return bitsBelowZero(dv, base, p, n);
}

function bitsBelowZero(dv: DataView, base: number, p: number, n: number): number {
  const top = p + n;
  if (top <= 0) return 0;
  return bitsAt(dv, base, 0, top) << -p;
}

/** Like bitsAt but for 0 <= n <= 32 bits; the result is a non-negative number. */
export function bitsAtLong(dv: DataView, base: number, p: number, n: number): number {
  if (n <= 25) return bitsAt(dv, base, p, n);
  return bitsAt(dv, base, p + 16, n - 16) * 65536 + bitsAt(dv, base, p, 16);
}
