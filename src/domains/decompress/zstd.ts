/**
 * Zstandard decompressor (RFC 8878), pure TypeScript, no dependencies.
 *
 * Supports the whole frame format except dictionaries: any number of
 * concatenated Zstandard and skippable frames; all frame-header field sizes;
 * raw, RLE and compressed blocks; raw, RLE, Huffman and treeless literals
 * (1 or 4 streams, direct or FSE-compressed weights); predefined, RLE,
 * FSE-compressed and repeat sequence tables; repeat offsets; and the XXH64
 * content checksum. Corrupt or truncated input throws DecompressError.
 *
 * Output goes into one buffer: sized exactly from Frame_Content_Size when the
 * header gives it, otherwise from the caller's size hint or a guess, then
 * grown by doubling. Hot paths use typed arrays only and allocate nothing per
 * sequence; short literal and match copies are done in 4-byte words.
 */
import { xxh64 } from './xxhash64.ts';
import { backwardInit, bitsAt, bitsAtLong, setFailBias, zstdFail } from './zstd-bits.ts';
import {
  buildFseTable,
  KIND_LL,
  KIND_ML,
  KIND_OF,
  predefinedSeqTable,
  readFseDistribution,
  rleSeqTable,
  SEQ_MAX_LOG,
  SEQ_MAX_SYMBOL,
  SEQ_NAMES,
  toSeqTable,
  type SeqKind,
  type SeqTable,
} from './zstd-fse.ts';
import { decodeHuffmanLiterals, HuffmanTable, readHuffmanTree } from './zstd-huffman.ts';

const ZSTD_MAGIC = 0xfd2fb528;
const SKIPPABLE_MAGIC_HIGH = 0x184d2a5; // 0x184D2A50 .. 0x184D2A5F, shifted right by 4
const MAX_BLOCK = 128 * 1024;
/** Largest output we are willing to produce (and allocate) for one call. */
const MAX_OUTPUT = 0x7fffffff;
/** Copies up to this long are done in 4-byte words; longer ones with set/copyWithin. */
const LONG_COPY = 256;
/** Room the fast copy paths need past the end of a sequence's output. */
const WILD_SLACK = 16;
/** Readable bytes needed past any stream end (see compressedBlockNearEnd) and after the literals buffer. */
const PADDING = 32;

export interface ZstdOptions {
  /**
   * Expected decompressed size, if the caller knows it (e.g. the size Linux
   * appends to a compressed kernel). Only used to size the output buffer for
   * frames whose header omits the content size; never trusted for anything else.
   */
  sizeHint?: number;
}

/**
 * Decompress zstd data: one or more concatenated frames (skippable frames are
 * ignored). Throws DecompressError for corrupt, truncated or unsupported data
 * (frames that need a dictionary), including trailing bytes after the last frame.
 */
export function zstdDecompress(input: Uint8Array, options: ZstdOptions = {}): Uint8Array {
  return new ZstdDecoder(input, options.sizeHint ?? 0).run();
}

class ZstdDecoder {
  /**
   * The buffer blocks are decoded from: the input itself, or (for a block
   * ending within PADDING bytes of the input's end) a zero-padded scratch
   * copy, so that bit readers and word copies may over-read a little.
   */
  private src: Uint8Array;
  private dv: DataView;
  private readonly input: Uint8Array;
  private readonly inputDv: DataView;
  private readonly inLen: number;
  private scratch: Uint8Array | null = null;

  private out: Uint8Array = new Uint8Array(0);
  private op = 0;
  /** Output may not pass this (end of the frame's declared content, or capacity). */
  private lim = 0;
  /** End of the current frame's declared content, or Infinity. */
  private frameEnd = Infinity;
  private frameStart = 0;
  private blockMax = MAX_BLOCK;

  // Per-frame entropy state.
  private readonly huffman = new HuffmanTable();
  private readonly prevTables: (SeqTable | null)[] = [null, null, null];
  private rep1 = 1;
  private rep2 = 4;
  private rep3 = 8;

  // Literals of the current block: litSrc[litPos, litEnd).
  private readonly litBuf = new Uint8Array(MAX_BLOCK + PADDING);
  private readonly litDv = new DataView(this.litBuf.buffer);
  private litSrc: Uint8Array = this.litBuf;
  private litPos = 0;
  private litEnd = 0;

  /** Scratch: position after the last table parsed by seqTable(). */
  private cursor = 0;

  constructor(
    input: Uint8Array,
    private readonly sizeHint: number,
  ) {
    this.inLen = input.length;
    this.input = this.src = input;
    this.inputDv = this.dv = new DataView(input.buffer, input.byteOffset, input.byteLength);
  }

  run(): Uint8Array {
    const inLen = this.inLen;
    let p = 0;
    let frames = 0;
    while (p < inLen) {
      if (inLen - p < 4) zstdFail(`${inLen - p} trailing bytes after the last frame`, p);
      const magic = this.u32(p);
      if (magic === ZSTD_MAGIC) {
        p = this.frame(p);
      } else if (magic >>> 4 === SKIPPABLE_MAGIC_HIGH) {
        if (inLen - p < 8) zstdFail('truncated skippable frame header', p);
        const size = this.u32(p + 4);
        if (size > inLen - p - 8) zstdFail(`truncated skippable frame (needs ${size} bytes)`, p);
        p += 8 + size;
      } else {
        const hex = magic.toString(16).padStart(8, '0');
        zstdFail(
          frames === 0 ? `bad magic number 0x${hex}, not zstd data` : `bad magic number 0x${hex} after frame ${frames}`,
          p,
        );
      }
      frames++;
    }
    if (frames === 0) zstdFail('empty input', 0);
    return this.op === this.out.length ? this.out : this.out.slice(0, this.op);
  }

  private u32(p: number): number {
    const s = this.input;
    return (s[p]! | (s[p + 1]! << 8) | (s[p + 2]! << 16) | (s[p + 3]! << 24)) >>> 0;
  }

  private need(p: number, n: number, what: string): void {
    if (n > this.inLen - p) zstdFail(`truncated input: ${what} needs ${n} bytes, ${Math.max(0, this.inLen - p)} left`, p);
  }

  /** Make room for n more output bytes (growing the buffer if the size is not fixed). */
  private reserve(n: number, at: number): void {
    const need = this.op + n;
    if (need <= this.lim) return;
    if (need > this.frameEnd) {
      zstdFail(`decoded data exceeds the frame content size ${this.frameEnd - this.frameStart}`, at);
    }
    this.grow(need, at);
  }

  private grow(need: number, at: number): void {
    if (need > MAX_OUTPUT) zstdFail('decompressed data too large', at);
    if (need > this.out.length) {
      const size = Math.min(MAX_OUTPUT, Math.max(need, this.out.length * 2, 1 << 16));
      const bigger = allocate(size, at);
      bigger.set(this.out.subarray(0, this.op));
      this.out = bigger;
    }
    this.lim = Math.min(this.out.length, this.frameEnd);
  }

  /** Decode one Zstandard frame at src[start]; returns the position after it. */
  private frame(start: number): number {
    const src = this.input;
    let p = start + 4;
    this.need(p, 1, 'frame header');
    const fhd = src[p++]!;
    const fcsFlag = fhd >>> 6;
    const singleSegment = (fhd & 0x20) !== 0;
    const hasChecksum = (fhd & 0x04) !== 0;
    if (fhd & 0x08) zstdFail('reserved bit set in frame header descriptor', start + 4);
    const didSize = [0, 1, 2, 4][fhd & 3]!;
    const fcsSize = fcsFlag === 0 ? (singleSegment ? 1 : 0) : [0, 2, 4, 8][fcsFlag]!;
    this.need(p, (singleSegment ? 0 : 1) + didSize + fcsSize, 'frame header');
    let windowSize = 0;
    if (!singleSegment) {
      const wd = src[p++]!;
      const windowBase = 2 ** (10 + (wd >>> 3));
      windowSize = windowBase + (windowBase / 8) * (wd & 7);
    }
    let dictId = 0;
    for (let i = 0; i < didSize; i++) dictId += src[p + i]! * 2 ** (8 * i);
    p += didSize;
    if (dictId !== 0) zstdFail(`frame needs dictionary ${dictId}; dictionaries are not supported`, start);
    let fcs = -1;
    if (fcsSize === 1) fcs = src[p]!;
    else if (fcsSize === 2) fcs = (src[p]! | (src[p + 1]! << 8)) + 256;
    else if (fcsSize === 4) fcs = this.u32(p);
    else if (fcsSize === 8) fcs = this.u32(p) + this.u32(p + 4) * 4294967296;
    p += fcsSize;
    if (singleSegment) windowSize = fcs;
    this.blockMax = Math.min(windowSize, MAX_BLOCK);

    // Set up the output for this frame.
    this.frameStart = this.op;
    // A block of >= 4 bytes decodes to at most 128 KiB: a bound on this frame's size.
    const bound = Math.ceil((this.inLen - p) / 4) * MAX_BLOCK;
    if (fcs >= 0) {
      if (fcs > bound || this.op + fcs > MAX_OUTPUT) {
        zstdFail(`frame content size ${fcs} is impossible for ${this.inLen - p} bytes of input`, start);
      }
      this.frameEnd = this.op + fcs;
      if (this.frameEnd > this.out.length) {
        if (this.op === 0) {
          this.out = allocate(fcs, start);
        } else {
          this.grow(this.frameEnd, start);
        }
      }
    } else {
      this.frameEnd = Infinity;
      if (this.out.length - this.op < MAX_BLOCK) {
        // Unknown size: start from the caller's hint, else a guess; grow by doubling.
        const hint = this.sizeHint;
        const guess = hint > this.op && Number.isFinite(hint) ? hint - this.op : (this.inLen - p) * 4;
        this.grow(this.op + Math.max(MAX_BLOCK, Math.min(guess, bound, MAX_OUTPUT - this.op)), start);
      }
    }
    this.lim = Math.min(this.out.length, this.frameEnd);

    // Fresh entropy state.
    this.huffman.maxBits = 0;
    this.prevTables[0] = this.prevTables[1] = this.prevTables[2] = null;
    this.rep1 = 1;
    this.rep2 = 4;
    this.rep3 = 8;

    for (;;) {
      this.need(p, 3, 'block header');
      const bh = src[p]! | (src[p + 1]! << 8) | (src[p + 2]! << 16);
      const headerAt = p;
      p += 3;
      const last = bh & 1;
      const type = (bh >>> 1) & 3;
      const size = bh >>> 3;
      if (type === 3) zstdFail('reserved block type', headerAt);
      if (size > this.blockMax) zstdFail(`block size ${size} exceeds the maximum ${this.blockMax}`, headerAt);
      if (type === 0) {
        this.need(p, size, 'raw block');
        this.reserve(size, headerAt);
        this.out.set(src.subarray(p, p + size), this.op);
        this.op += size;
        p += size;
      } else if (type === 1) {
        this.need(p, 1, 'RLE block');
        this.reserve(size, headerAt);
        this.out.fill(src[p]!, this.op, this.op + size);
        this.op += size;
        p += 1;
      } else {
        this.need(p, size, 'compressed block');
        const before = this.op;
        if (p + size + PADDING <= this.inLen) {
          this.compressedBlock(p, p + size);
        } else {
          this.compressedBlockNearEnd(p, size);
        }
        if (this.op - before > this.blockMax) {
          zstdFail(`block decodes to ${this.op - before} bytes, more than the maximum ${this.blockMax}`, headerAt);
        }
        p += size;
      }
      if (last) break;
    }

    const produced = this.op - this.frameStart;
    if (fcs >= 0 && produced !== fcs) {
      zstdFail(`frame decoded to ${produced} bytes but its header says ${fcs}`, start);
    }
    if (hasChecksum) {
      this.need(p, 4, 'content checksum');
      const expected = this.u32(p);
      const actual = xxh64(this.out, this.frameStart, this.op).lo;
      if (actual !== expected) {
        zstdFail(
          `content checksum mismatch: expected 0x${expected.toString(16).padStart(8, '0')}, got 0x${actual.toString(16).padStart(8, '0')}`,
          p,
        );
      }
      p += 4;
    }
    return p;
  }

  /** Decode a compressed block from a zero-padded copy (it ends too close to the end of the input). */
  private compressedBlockNearEnd(p: number, size: number): void {
    let scratch = this.scratch;
    if (scratch === null) scratch = this.scratch = new Uint8Array(MAX_BLOCK + PADDING);
    scratch.set(this.input.subarray(p, p + size));
    scratch.fill(0, size, size + PADDING);
    this.src = scratch;
    this.dv = new DataView(scratch.buffer);
    setFailBias(p);
    try {
      this.compressedBlock(0, size);
    } finally {
      setFailBias(0);
      this.src = this.input;
      this.dv = this.inputDv;
    }
  }

  /** Decode a Compressed_Block occupying src[start, end). */
  private compressedBlock(start: number, end: number): void {
    const src = this.src;
    let p = this.literals(start, end);

    // Sequences_Section_Header.
    if (p >= end) zstdFail('missing sequences section', p);
    let nbSeq = src[p++]!;
    if (nbSeq >= 128) {
      if (nbSeq === 255) {
        if (end - p < 2) zstdFail('truncated sequences section header', p);
        nbSeq = src[p]! + (src[p + 1]! << 8) + 0x7f00;
        p += 2;
      } else {
        if (end - p < 1) zstdFail('truncated sequences section header', p);
        nbSeq = ((nbSeq - 128) << 8) + src[p++]!;
      }
    }
    if (nbSeq === 0) {
      this.flushLiterals(p);
      return;
    }
    if (p >= end) zstdFail('truncated sequences section header', p);
    const modes = src[p]!;
    if (modes & 3) zstdFail('reserved bits set in sequence compression modes', p);
    p++;
    const llT = this.seqTable(KIND_LL, modes >>> 6, p, end);
    const ofT = this.seqTable(KIND_OF, (modes >>> 4) & 3, this.cursor, end);
    const mlT = this.seqTable(KIND_ML, (modes >>> 2) & 3, this.cursor, end);
    p = this.cursor;
    this.prevTables[KIND_LL] = llT;
    this.prevTables[KIND_OF] = ofT;
    this.prevTables[KIND_ML] = mlT;
    this.sequences(nbSeq, llT, ofT, mlT, p, end);
    this.flushLiterals(end);
  }

  /** Parse the Literals_Section at src[start] (bounded by end); returns its end. */
  private literals(start: number, end: number): number {
    const src = this.src;
    const b0 = src[start]!;
    const type = b0 & 3;
    const sizeFormat = (b0 >>> 2) & 3;
    if (type < 2) {
      // Raw or RLE literals.
      let hdr: number;
      let size: number;
      if ((sizeFormat & 1) === 0) {
        hdr = 1;
        size = b0 >>> 3;
      } else if (sizeFormat === 1) {
        hdr = 2;
        size = (b0 >>> 4) + (src[start + 1]! << 4);
      } else {
        hdr = 3;
        size = (b0 >>> 4) + (src[start + 1]! << 4) + (src[start + 2]! << 12);
      }
      if (size > this.blockMax) zstdFail(`literals size ${size} exceeds the block maximum`, start);
      const p = start + hdr;
      if (type === 0) {
        if (p + size > end) zstdFail('raw literals exceed the block', start);
        this.litSrc = src;
        this.litPos = p;
        this.litEnd = p + size;
        return p + size;
      }
      if (p + 1 > end) zstdFail('RLE literals exceed the block', start);
      this.litBuf.fill(src[p]!, 0, size);
      this.litSrc = this.litBuf;
      this.litPos = 0;
      this.litEnd = size;
      return p + 1;
    }

    // Compressed or treeless (Huffman) literals.
    let hdr: number;
    let regen: number;
    let comp: number;
    const four = sizeFormat !== 0;
    if (sizeFormat < 2) {
      hdr = 3;
      const v = b0 | (src[start + 1]! << 8) | (src[start + 2]! << 16);
      regen = (v >>> 4) & 0x3ff;
      comp = (v >>> 14) & 0x3ff;
    } else if (sizeFormat === 2) {
      hdr = 4;
      const v = (b0 | (src[start + 1]! << 8) | (src[start + 2]! << 16) | (src[start + 3]! << 24)) >>> 0;
      regen = (v >>> 4) & 0x3fff;
      comp = v >>> 18;
    } else {
      hdr = 5;
      const v = (b0 | (src[start + 1]! << 8) | (src[start + 2]! << 16) | (src[start + 3]! << 24)) >>> 0;
      regen = (v >>> 4) & 0x3ffff;
      comp = (v >>> 22) + (src[start + 4]! << 10);
    }
    let p = start + hdr;
    const litEnd = p + comp;
    if (litEnd > end) zstdFail('compressed literals exceed the block', start);
    if (regen > this.blockMax) zstdFail(`literals size ${regen} exceeds the block maximum`, start);
    if (type === 2) {
      p += readHuffmanTree(src, p, litEnd, this.huffman);
    } else if (this.huffman.maxBits === 0) {
      zstdFail('treeless literals without a previous Huffman table', start);
    }
    decodeHuffmanLiterals(src, this.dv, p, litEnd, this.huffman, four, this.litBuf, regen);
    this.litSrc = this.litBuf;
    this.litPos = 0;
    this.litEnd = regen;
    return litEnd;
  }

  /** Resolve the decoding table for one sequence-code kind; sets this.cursor past its description. */
  private seqTable(kind: SeqKind, mode: number, p: number, end: number): SeqTable {
    const name = SEQ_NAMES[kind];
    this.cursor = p;
    switch (mode) {
      case 0:
        return predefinedSeqTable(kind);
      case 1: {
        if (p >= end) zstdFail(`truncated ${name} RLE code`, p);
        const code = this.src[p]!;
        if (code > SEQ_MAX_SYMBOL[kind]) zstdFail(`${name} code ${code} out of range`, p);
        this.cursor = p + 1;
        return rleSeqTable(kind, code);
      }
      case 2: {
        const d = readFseDistribution(this.src, p, end, SEQ_MAX_SYMBOL[kind], SEQ_MAX_LOG[kind], name);
        this.cursor = p + d.size;
        return toSeqTable(kind, buildFseTable(d.norm, d.numSymbols, d.log));
      }
      default: {
        const t = this.prevTables[kind];
        if (t === null) zstdFail(`${name} repeat mode without a previous table`, p);
        return t;
      }
    }
  }

  /** Decode and execute nbSeq sequences from the bitstream src[start, end). */
  private sequences(nbSeq: number, llT: SeqTable, ofT: SeqTable, mlT: SeqTable, start: number, end: number): void {
    const src = this.src;
    const dv = this.dv;
    let pos = backwardInit(src, start, end, 'sequences');
    pos -= llT.log;
    let llState = bitsAt(dv, start, pos, llT.log);
    pos -= ofT.log;
    let ofState = bitsAt(dv, start, pos, ofT.log);
    pos -= mlT.log;
    let mlState = bitsAt(dv, start, pos, mlT.log);

    const llNb = llT.nbBits, llNext = llT.next, llBase = llT.valueBase, llBits = llT.valueBits;
    const ofNb = ofT.nbBits, ofNext = ofT.next, ofBase = ofT.valueBase, ofBits = ofT.valueBits;
    const mlNb = mlT.nbBits, mlNext = mlT.next, mlBase = mlT.valueBase, mlBits = mlT.valueBits;

    let out = this.out;
    let outDv = new DataView(out.buffer, out.byteOffset, out.byteLength);
    let outLen = out.length;
    let op = this.op;
    let lim = this.lim;
    const frameStart = this.frameStart;
    const lits = this.litSrc;
    const litDv = lits === this.src ? this.dv : this.litDv;
    let litPos = this.litPos;
    const litEnd = this.litEnd;
    let rep1 = this.rep1;
    let rep2 = this.rep2;
    let rep3 = this.rep3;

    for (let s = nbSeq; s > 0; s--) {
      // Offset, then match length, then literal length extra bits.
      const ofN = ofBits[ofState]!;
      pos -= ofN;
      const ofValue = ofBase[ofState]! + (ofN <= 25 ? bitsAt(dv, start, pos, ofN) : bitsAtLong(dv, start, pos, ofN));
      let n = mlBits[mlState]!;
      pos -= n;
      const ml = mlBase[mlState]! + bitsAt(dv, start, pos, n);
      n = llBits[llState]!;
      pos -= n;
      const ll = llBase[llState]! + bitsAt(dv, start, pos, n);

      let offset: number;
      if (ofValue > 3) {
        offset = ofValue - 3;
        rep3 = rep2;
        rep2 = rep1;
        rep1 = offset;
      } else {
        const idx = ll === 0 ? ofValue + 1 : ofValue;
        if (idx === 1) {
          offset = rep1;
        } else if (idx === 2) {
          offset = rep2;
          rep2 = rep1;
          rep1 = offset;
        } else if (idx === 3) {
          offset = rep3;
          rep3 = rep2;
          rep2 = rep1;
          rep1 = offset;
        } else {
          offset = rep1 - 1;
          if (offset === 0) zstdFail('repeat offset becomes 0', start);
          rep3 = rep2;
          rep2 = rep1;
          rep1 = offset;
        }
      }

      if (s > 1) {
        n = llNb[llState]!;
        pos -= n;
        llState = llNext[llState]! + bitsAt(dv, start, pos, n);
        n = mlNb[mlState]!;
        pos -= n;
        mlState = mlNext[mlState]! + bitsAt(dv, start, pos, n);
        n = ofNb[ofState]!;
        pos -= n;
        ofState = ofNext[ofState]! + bitsAt(dv, start, pos, n);
      }

      // Execute: copy literals, then the match.
      if (op + ll + ml > lim) {
        this.op = op;
        this.reserve(ll + ml, start);
        out = this.out;
        outDv = new DataView(out.buffer, out.byteOffset, out.byteLength);
        outLen = out.length;
        lim = this.lim;
      }
      if (ll > litEnd - litPos) zstdFail('sequence literal length exceeds the literals', start);
      if (offset > op + ll - frameStart) {
        zstdFail(`match offset ${offset} reaches before the start of the frame`, start);
      }
      if (op + ll + ml + WILD_SLACK <= outLen) {
        // Fast path: copy 4-byte words, possibly writing up to WILD_SLACK bytes
        // past the end (those bytes are overwritten by the following output).
        if (ll <= 16) {
          outDv.setUint32(op, litDv.getUint32(litPos, true), true);
          outDv.setUint32(op + 4, litDv.getUint32(litPos + 4, true), true);
          outDv.setUint32(op + 8, litDv.getUint32(litPos + 8, true), true);
          outDv.setUint32(op + 12, litDv.getUint32(litPos + 12, true), true);
        } else if (ll <= LONG_COPY) {
          for (let i = 0; i < ll; i += 4) outDv.setUint32(op + i, litDv.getUint32(litPos + i, true), true);
        } else {
          out.set(lits.subarray(litPos, litPos + ll), op);
        }
        op += ll;
        litPos += ll;
        const from = op - offset;
        if (offset >= 16 && ml <= 16) {
          outDv.setUint32(op, outDv.getUint32(from, true), true);
          outDv.setUint32(op + 4, outDv.getUint32(from + 4, true), true);
          outDv.setUint32(op + 8, outDv.getUint32(from + 8, true), true);
          outDv.setUint32(op + 12, outDv.getUint32(from + 12, true), true);
        } else if (offset >= 4) {
          // Word copies read only bytes already written, even when the match overlaps itself.
          if (ml <= LONG_COPY || offset < ml) {
            for (let i = 0; i < ml; i += 4) outDv.setUint32(op + i, outDv.getUint32(from + i, true), true);
          } else {
            out.copyWithin(op, from, from + ml);
          }
        } else {
          copyShortPeriod(out, op, offset, ml);
        }
        op += ml;
      } else {
        // Near the end of the buffer: exact copies.
        if (ll <= 16) {
          for (let e = op + ll; op < e; ) out[op++] = lits[litPos++]!;
        } else {
          out.set(lits.subarray(litPos, litPos + ll), op);
          op += ll;
          litPos += ll;
        }
        if (offset >= ml) {
          out.copyWithin(op, op - offset, op - offset + ml);
        } else {
          copyShortPeriod(out, op, offset, ml);
        }
        op += ml;
      }
    }
    if (pos !== 0) zstdFail('sequences bitstream not consumed exactly', start);
    this.op = op;
    this.litPos = litPos;
    this.rep1 = rep1;
    this.rep2 = rep2;
    this.rep3 = rep3;
  }

  /** Append the block's remaining literals to the output. */
  private flushLiterals(at: number): void {
    const n = this.litEnd - this.litPos;
    if (n > 0) {
      this.reserve(n, at);
      this.out.set(this.litSrc.subarray(this.litPos, this.litEnd), this.op);
      this.op += n;
      this.litPos = this.litEnd;
    }
  }
}

/**
 * Match copy where offset may be smaller than length (LZ77 semantics): the
 * output repeats with period `offset`, so copy in chunks that double in size.
 */
function copyShortPeriod(out: Uint8Array, op: number, offset: number, ml: number): void {
  const from = op - offset;
  if (ml <= 32) {
    for (let i = 0; i < ml; i++) out[op + i] = out[from + i]!;
    return;
  }
  let dist = offset;
  let left = ml;
  while (left > 0) {
    const chunk = dist < left ? dist : left;
    out.copyWithin(op, from, from + chunk);
    op += chunk;
    left -= chunk;
    dist += chunk;
  }
}

/** Allocate an output buffer, reporting failure as a DecompressError. */
function allocate(size: number, at: number): Uint8Array {
  try {
    return new Uint8Array(size);
  } catch {
    return zstdFail(`cannot allocate ${size} bytes for the decompressed data`, at);
  }
}
