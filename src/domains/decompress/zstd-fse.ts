/**
 * FSE (tANS) tables for the Zstandard decoder, written from RFC 8878
 * section 4.1: parsing an FSE table description (normalized distribution),
 * building a decoding table from it, and the sequence-code tables
 * (literal lengths, match lengths, offsets) including the predefined ones.
 */
import { zstdFail } from './zstd-bits.ts';

/** An FSE decoding table: per state, the decoded symbol and how to reach the next state. */
export interface FseTable {
  /** Accuracy log: the table has 1 << log states. */
  readonly log: number;
  readonly symbol: Uint8Array;
  /** Number of bits to read for the next state. */
  readonly nbBits: Uint8Array;
  /** Baseline added to those bits to form the next state. */
  readonly next: Uint16Array;
}

/** A normalized distribution: probabilities per symbol (-1 = "less than 1"). */
export interface FseDistribution {
  readonly log: number;
  readonly numSymbols: number;
  readonly norm: Int16Array;
  /** Bytes the description occupied. */
  readonly size: number;
}

/**
 * Parse an FSE table description (a forward little-endian bitstream) from
 * src[start, end). maxSymbol/maxLog are the limits for the table's use.
 */
export function readFseDistribution(
  src: Uint8Array,
  start: number,
  end: number,
  maxSymbol: number,
  maxLog: number,
  what: string,
): FseDistribution {
  const avail = end - start;
  if (avail < 1) zstdFail(`truncated ${what} FSE table description`, start);
  let bp = 0; // bits consumed, relative to start
  const peek = (n: number): number => {
    const b = start + (bp >>> 3);
    return ((src[b]! | (src[b + 1]! << 8) | (src[b + 2]! << 16)) >>> (bp & 7)) & ((1 << n) - 1);
  };
  const log = peek(4) + 5;
  bp = 4;
  if (log > maxLog) zstdFail(`${what} FSE accuracy log ${log} exceeds maximum ${maxLog}`, start);
  const norm = new Int16Array(maxSymbol + 1);
  let remaining = 1 << log; // probability points still to distribute
  let sym = 0;
  while (remaining > 0) {
    if (sym > maxSymbol) zstdFail(`${what} FSE distribution has too many symbols`, start);
    if (bp > avail * 8) zstdFail(`truncated ${what} FSE table description`, start);
    // Values 0 .. remaining + 1 are possible.
    const maxValue = remaining + 1;
    const nbBits = 32 - Math.clz32(maxValue); // smallest T with (1 << T) > maxValue
    const half = 1 << (nbBits - 1);
    const shortCount = (1 << nbBits) - 1 - maxValue; // values encoded with nbBits - 1 bits
    const raw = peek(nbBits);
    let value = raw & (half - 1);
    if (value < shortCount) {
      bp += nbBits - 1;
    } else {
      value = raw;
      if (value >= half) value -= shortCount;
      bp += nbBits;
    }
    const proba = value - 1;
    if (proba === -1) remaining -= 1;
    else remaining -= proba;
    if (remaining < 0) zstdFail(`${what} FSE distribution exceeds its total`, start);
    norm[sym++] = proba;
    if (proba === 0) {
      // Repeat flags: how many further zero-probability symbols follow.
      for (;;) {
        if (bp > avail * 8) zstdFail(`truncated ${what} FSE table description`, start);
        const repeat = peek(2);
        bp += 2;
        sym += repeat;
        if (sym > maxSymbol + 1) zstdFail(`${what} FSE distribution has too many symbols`, start);
        if (repeat !== 3) break;
      }
    }
  }
  const size = (bp + 7) >>> 3;
  if (size > avail) zstdFail(`truncated ${what} FSE table description`, start);
  return { log, numSymbols: sym, norm, size };
}

/** Build the decoding table for a normalized distribution (RFC 8878 4.1.1). */
export function buildFseTable(norm: Int16Array, numSymbols: number, log: number): FseTable {
  const size = 1 << log;
  const mask = size - 1;
  const symbol = new Uint8Array(size);
  const nbBits = new Uint8Array(size);
  const next = new Uint16Array(size);
  const counter = new Uint16Array(numSymbols);
  let high = size - 1;
  for (let s = 0; s < numSymbols; s++) {
    const p = norm[s]!;
    if (p === -1) {
      symbol[high--] = s;
      counter[s] = 1;
    } else {
      counter[s] = p;
    }
  }
  const step = (size >>> 1) + (size >>> 3) + 3;
  let pos = 0;
  for (let s = 0; s < numSymbols; s++) {
    const p = norm[s]!;
    for (let i = 0; i < p; i++) {
      symbol[pos] = s;
      do pos = (pos + step) & mask;
      while (pos > high);
    }
  }
  if (pos !== 0) zstdFail('inconsistent FSE distribution', 0);
  for (let state = 0; state < size; state++) {
    const s = symbol[state]!;
    const x = counter[s]++;
    const n = log - (31 - Math.clz32(x));
    nbBits[state] = n;
    next[state] = (x << n) - size;
  }
  return { log, symbol, nbBits, next };
}

/**
 * A decoding table for one sequence-code kind, with each state's code already
 * translated into a value baseline and a count of extra bits.
 */
export interface SeqTable {
  readonly log: number;
  readonly nbBits: Uint8Array;
  readonly next: Uint16Array;
  /** Value baseline of the state's code. */
  readonly valueBase: Uint32Array;
  /** Extra bits to read and add to valueBase. */
  readonly valueBits: Uint8Array;
}

/** 0 = literal lengths, 1 = offsets, 2 = match lengths (the order tables appear in a block). */
export type SeqKind = 0 | 1 | 2;
export const KIND_LL = 0;
export const KIND_OF = 1;
export const KIND_ML = 2;

export const SEQ_NAMES = ['literal-length', 'offset', 'match-length'] as const;
export const SEQ_MAX_SYMBOL = [35, 31, 52] as const;
export const SEQ_MAX_LOG = [9, 8, 9] as const;

const LL_BASE = new Uint32Array(36);
const LL_BITS = new Uint8Array(36);
const ML_BASE = new Uint32Array(53);
const ML_BITS = new Uint8Array(53);
const OF_BASE = new Uint32Array(32);
{
  for (let c = 0; c < 32; c++) OF_BASE[c] = 2 ** c;
  const llBase = [16, 18, 20, 22, 24, 28, 32, 40, 48, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536];
  const llBits = [1, 1, 1, 1, 2, 2, 3, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
  for (let c = 0; c < 16; c++) LL_BASE[c] = c;
  for (let i = 0; i < 20; i++) {
    LL_BASE[16 + i] = llBase[i]!;
    LL_BITS[16 + i] = llBits[i]!;
  }
  const mlBase = [
    35, 37, 39, 41, 43, 47, 51, 59, 67, 83, 99, 131, 259, 515, 1027, 2051, 4099, 8195, 16387, 32771, 65539,
  ];
  const mlBits = [1, 1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
  for (let c = 0; c < 32; c++) ML_BASE[c] = c + 3;
  for (let i = 0; i < 21; i++) {
    ML_BASE[32 + i] = mlBase[i]!;
    ML_BITS[32 + i] = mlBits[i]!;
  }
}

function codeValue(kind: SeqKind, code: number, base: Uint32Array, bits: Uint8Array, i: number): void {
  if (kind === KIND_LL) {
    base[i] = LL_BASE[code]!;
    bits[i] = LL_BITS[code]!;
  } else if (kind === KIND_ML) {
    base[i] = ML_BASE[code]!;
    bits[i] = ML_BITS[code]!;
  } else {
    // Offset_Value = (1 << code) + readBits(code)
    base[i] = OF_BASE[code]!;
    bits[i] = code;
  }
}

/** Attach value baselines to an FSE table of the given kind. */
export function toSeqTable(kind: SeqKind, t: FseTable): SeqTable {
  const size = 1 << t.log;
  const valueBase = new Uint32Array(size);
  const valueBits = new Uint8Array(size);
  for (let i = 0; i < size; i++) codeValue(kind, t.symbol[i]!, valueBase, valueBits, i);
  return { log: t.log, nbBits: t.nbBits, next: t.next, valueBase, valueBits };
}

/** The RLE_Mode table: a single state that always yields `code`. */
export function rleSeqTable(kind: SeqKind, code: number): SeqTable {
  const valueBase = new Uint32Array(1);
  const valueBits = new Uint8Array(1);
  codeValue(kind, code, valueBase, valueBits, 0);
  return { log: 0, nbBits: new Uint8Array(1), next: new Uint16Array(1), valueBase, valueBits };
}

/** Predefined distributions (RFC 8878 3.1.1.3.2.2). */
export const DEFAULT_DISTRIBUTIONS: readonly { log: number; norm: readonly number[] }[] = [
  {
    log: 6,
    norm: [4, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 2, 1, 1, 1, 1, 1, -1, -1, -1, -1],
  },
  {
    log: 5,
    norm: [1, 1, 1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1],
  },
  {
    log: 6,
    norm: [
      1, 4, 3, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
      1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1,
    ],
  },
];

const predefinedCache: (SeqTable | undefined)[] = [undefined, undefined, undefined];

/** The Predefined_Mode table for a sequence-code kind. */
export function predefinedSeqTable(kind: SeqKind): SeqTable {
  let t = predefinedCache[kind];
  if (t === undefined) {
    const d = DEFAULT_DISTRIBUTIONS[kind]!;
    t = toSeqTable(kind, buildFseTable(Int16Array.from(d.norm), d.norm.length, d.log));
    predefinedCache[kind] = t;
  }
  return t;
}
