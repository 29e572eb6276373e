/**
 * Huffman-coded literals for the Zstandard decoder, written from RFC 8878
 * sections 3.1.1.3.1 and 4.2: tree descriptions (direct and FSE-compressed
 * weights), decoding tables and 1- or 4-stream literal decoding.
 */
import { backwardInit, bitsAt, zstdFail } from './zstd-bits.ts';
import { buildFseTable, readFseDistribution } from './zstd-fse.ts';

/** Max_Number_of_Bits limit. */
const MAX_BITS = 11;

/**
 * A Huffman decoding table indexed by the next maxBits bits of the stream;
 * each entry is `symbol | (codeLength << 8)`.
 */
export class HuffmanTable {
  readonly entries = new Uint16Array(1 << MAX_BITS);
  /** 0 while no table has been loaded. */
  maxBits = 0;
}

const weights = new Uint8Array(260);
const rankStart = new Uint32Array(MAX_BITS + 2);

/**
 * Read a Huffman_Tree_Description starting at src[start] (bounded by end) into
 * `ht`; returns the number of bytes it occupied.
 */
export function readHuffmanTree(src: Uint8Array, start: number, end: number, ht: HuffmanTable): number {
  if (start >= end) zstdFail('truncated Huffman tree description', start);
  const header = src[start]!;
  let count: number;
  let consumed: number;
  if (header >= 128) {
    // Direct representation: 4 bits per weight, first weight in the high nibble.
    count = header - 127;
    consumed = 1 + ((count + 1) >>> 1);
    if (consumed > end - start) zstdFail('truncated Huffman tree description', start);
    for (let i = 0; i < count; i++) {
      const b = src[start + 1 + (i >>> 1)]!;
      weights[i] = i & 1 ? b & 15 : b >>> 4;
    }
  } else {
    consumed = 1 + header;
    if (header === 0 || consumed > end - start) zstdFail('truncated Huffman tree description', start);
    count = decodeFseWeights(src, start + 1, start + consumed);
  }
  buildHuffmanTable(count, ht, start);
  return consumed;
}

/** Decode FSE-compressed weights from src[start, end) into `weights`; returns their count. */
function decodeFseWeights(src: Uint8Array, start: number, end: number): number {
  const dist = readFseDistribution(src, start, end, 15, 6, 'Huffman weights');
  const t = buildFseTable(dist.norm, dist.numSymbols, dist.log);
  const { symbol, nbBits, next, log } = t;
  const base = start + dist.size;
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  let p = backwardInit(src, base, end, 'Huffman weights');
  p -= log;
  let s1 = bitsAt(dv, base, p, log);
  p -= log;
  let s2 = bitsAt(dv, base, p, log);
  let count = 0;
  // Two interleaved states; stop once an update over-reads the stream.
  for (;;) {
    if (count > 253) zstdFail('too many Huffman weights', start);
    weights[count++] = symbol[s1]!;
    let n = nbBits[s1]!;
    p -= n;
    s1 = next[s1]! + bitsAt(dv, base, p, n);
    if (p < 0) {
      weights[count++] = symbol[s2]!;
      break;
    }
    weights[count++] = symbol[s2]!;
    n = nbBits[s2]!;
    p -= n;
    s2 = next[s2]! + bitsAt(dv, base, p, n);
    if (p < 0) {
      weights[count++] = symbol[s1]!;
      break;
    }
  }
  return count;
}

/** Complete the weights (deduce the last one) and fill the decoding table. */
function buildHuffmanTable(count: number, ht: HuffmanTable, at: number): void {
  if (count > 255) zstdFail('too many Huffman weights', at);
  let total = 0;
  for (let i = 0; i < count; i++) {
    const w = weights[i]!;
    if (w > MAX_BITS) zstdFail(`Huffman weight ${w} out of range`, at);
    if (w !== 0) total += 1 << (w - 1);
  }
  if (total === 0) zstdFail('Huffman tree has no symbols', at);
  const maxBits = 32 - Math.clz32(total);
  if (maxBits > MAX_BITS) zstdFail(`Huffman code length ${maxBits} exceeds ${MAX_BITS}`, at);
  const left = (1 << maxBits) - total;
  if ((left & (left - 1)) !== 0) zstdFail('Huffman weights do not complete to a power of 2', at);
  weights[count] = 32 - Math.clz32(left);
  const numSymbols = count + 1;

  rankStart.fill(0);
  for (let s = 0; s < numSymbols; s++) rankStart[weights[s]!]++;
  let pos = 0;
  for (let w = 1; w <= MAX_BITS; w++) {
    const c = rankStart[w]!;
    rankStart[w] = pos;
    pos += c << (w - 1);
  }
  const entries = ht.entries;
  for (let s = 0; s < numSymbols; s++) {
    const w = weights[s]!;
    if (w === 0) continue;
    const e = s | ((maxBits + 1 - w) << 8);
    const from = rankStart[w]!;
    const to = from + (1 << (w - 1));
    for (let i = from; i < to; i++) entries[i] = e;
    rankStart[w] = to;
  }
  ht.maxBits = maxBits;
}

/**
 * Decode `n` literals from the Huffman streams in src[start, end) (jump table
 * included when `four`) into out[0, n).
 */
export function decodeHuffmanLiterals(
  src: Uint8Array,
  dv: DataView,
  start: number,
  end: number,
  ht: HuffmanTable,
  four: boolean,
  out: Uint8Array,
  n: number,
): void {
  if (!four) {
    decodeStream(src, dv, start, end, ht, out, 0, n);
    return;
  }
  if (end - start < 10) zstdFail('truncated Huffman jump table', start);
  const e1 = start + 6 + (src[start]! | (src[start + 1]! << 8));
  const e2 = e1 + (src[start + 2]! | (src[start + 3]! << 8));
  const e3 = e2 + (src[start + 4]! | (src[start + 5]! << 8));
  if (e3 >= end) zstdFail('Huffman jump table exceeds the literals section', start);
  const seg = (n + 3) >>> 2;
  const last = n - 3 * seg;
  if (last < 0) zstdFail(`too few literals (${n}) for 4 Huffman streams`, start);
  decodeStream(src, dv, start + 6, e1, ht, out, 0, seg);
  decodeStream(src, dv, e1, e2, ht, out, seg, seg);
  decodeStream(src, dv, e2, e3, ht, out, 2 * seg, seg);
  decodeStream(src, dv, e3, end, ht, out, 3 * seg, last);
}

function decodeStream(
  src: Uint8Array,
  dv: DataView,
  start: number,
  end: number,
  ht: HuffmanTable,
  out: Uint8Array,
  o: number,
  n: number,
): void {
  const entries = ht.entries;
  const maxBits = ht.maxBits;
  const mask = (1 << maxBits) - 1;
  let p = backwardInit(src, start, end, 'Huffman literals');
  const stop = o + n;
  // Fast path: two symbols per 32-bit load while both lookups stay in the stream.
  const twoBits = 2 * maxBits;
  const stop2 = stop - 1;
  while (o < stop2 && p >= twoBits) {
    const q = p - twoBits;
    const w = dv.getUint32(start + (q >>> 3), true) >>> (q & 7);
    const e1 = entries[(w >>> maxBits) & mask]!;
    const l1 = e1 >>> 8;
    out[o++] = e1;
    const e2 = entries[(w >>> (maxBits - l1)) & mask]!;
    out[o++] = e2;
    p -= l1 + (e2 >>> 8);
  }
  while (o < stop) {
    const q = p - maxBits;
    let idx: number;
    if (q >= 0) {
      idx = (dv.getUint32(start + (q >>> 3), true) >>> (q & 7)) & mask;
    } else {
      idx = bitsAt(dv, start, q, maxBits);
    }
    const e = entries[idx]!;
    out[o++] = e;
    p -= e >>> 8;
  }
  if (p !== 0) zstdFail('Huffman literal stream not consumed exactly', start);
}
