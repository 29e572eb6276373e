/**
 * LZMA2 decoder (the compression filter of .xz, filter ID 0x21).
 *
 * The whole uncompressed output lives in memory, so the output buffer itself
 * is the LZ dictionary: matches copy straight from earlier output. The range
 * decoder and the LZMA state live in local variables of one function per
 * chunk (`decodeLzmaChunk`), with bit decoding written out inline, because
 * that is what makes V8 generate tight code for it.
 */
import { DecompressError } from '../../errors.ts';

function fail(detail: string): never {
  throw new DecompressError('xz', detail);
}

/** Growable output: the dictionary and the result. */
export class XzOutput {
  buf: Uint8Array;
  pos = 0;
  constructor(initial: number) {
    this.buf = new Uint8Array(initial);
  }
  /** Make room for `extra` more bytes after `pos`. */
  ensure(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.buf.length) return;
    let size = Math.max(this.buf.length * 2, 1 << 16);
    while (size < need) size *= 2;
    let next: Uint8Array;
    try {
      next = new Uint8Array(size);
    } catch {
      fail(`output too large (${need} bytes)`);
    }
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }
}

// Probability array layout (all 11-bit probabilities in one Uint16Array).
const IS_MATCH = 0; // 12 states << 4 | posState
const IS_REP = IS_MATCH + 192;
const IS_REP_G0 = IS_REP + 12;
const IS_REP_G1 = IS_REP_G0 + 12;
const IS_REP_G2 = IS_REP_G1 + 12;
const IS_REP0_LONG = IS_REP_G2 + 12; // state << 4 | posState
const POS_SLOT = IS_REP0_LONG + 192; // 4 len states × 64
const SPEC_POS = POS_SLOT + 256; // 115 entries (distance slots 4..13)
const ALIGN = SPEC_POS + 115; // 16
const LEN_CODER = ALIGN + 16; // 514
const REP_LEN_CODER = LEN_CODER + 514; // 514
const LITERAL = REP_LEN_CODER + 514; // 0x300 << (lc + lp), at most 0x300 << 4
const PROBS_MAX = LITERAL + (0x300 << 4);
// Offsets inside a length coder.
const LEN_CHOICE = 0;
const LEN_CHOICE2 = 1;
const LEN_LOW = 2; // 16 posStates × 8
const LEN_MID = LEN_LOW + 128; // 16 posStates × 8
const LEN_HIGH = LEN_MID + 128; // 256

/** LZMA state carried between the chunks of one LZMA2 stream. */
class LzmaState {
  readonly probs = new Uint16Array(PROBS_MAX);
  lc = 0;
  lp = 0;
  pb = 0;
  state = 0;
  rep0 = 0;
  rep1 = 0;
  rep2 = 0;
  rep3 = 0;

  reset(): void {
    this.probs.fill(1024, 0, LITERAL + (0x300 << (this.lc + this.lp)));
    this.state = 0;
    this.rep0 = this.rep1 = this.rep2 = this.rep3 = 0;
  }
}

/**
 * Decode one LZMA chunk: compressed bytes inp[ip, inEnd), producing exactly
 * out[pos, outEnd). `dictStart` is where the dictionary was last reset.
 * Returns the input position after the chunk (must equal inEnd for valid data).
 */
function decodeLzmaChunk(
  s: LzmaState,
  inp: Uint8Array,
  ip: number,
  inEnd: number,
  out: Uint8Array,
  pos: number,
  outEnd: number,
  dictStart: number,
): number {
  const chunkStart = ip;
  if (inEnd - ip < 5) fail(`LZMA chunk too short (at byte offset ${ip})`);
  if (inp[ip] !== 0) fail(`bad LZMA range coder start (at byte offset ${ip})`);
  // range and code are unsigned 32-bit quantities held in int32 variables
  // (so V8 keeps them in integer registers). `code` is stored with its sign
  // bit flipped, so the unsigned test code < bound is the signed test
  // code < (bound ^ 0x80000000); subtraction works unchanged on it.
  let range = -1;
  let code = ((inp[ip + 1]! << 24) | (inp[ip + 2]! << 16) | (inp[ip + 3]! << 8) | inp[ip + 4]!) ^ -0x80000000;
  ip += 5;
  if (code === 0x7fffffff) fail(`bad LZMA range coder start (at byte offset ${chunkStart})`);

  const probs = s.probs;
  const lc = s.lc;
  const lcShift = 8 - lc;
  const lpMask = (1 << s.lp) - 1;
  const pbMask = (1 << s.pb) - 1;
  let state = s.state;
  let rep0 = s.rep0;
  let rep1 = s.rep1;
  let rep2 = s.rep2;
  let rep3 = s.rep3;

  let p = 0;
  let bound = 0;
  let i = 0;
  let sym = 0;
  let len = 0;

  while (pos < outEnd) {
    const posState = (pos - dictStart) & pbMask;

    // is_match[state][posState]
    i = IS_MATCH + (state << 4) + posState;
    if ((range & -0x1000000) === 0) {
      range <<= 8;
      code = ((code << 8) | inp[ip++]!) ^ -0x80000000;
    }
    p = probs[i]!;
    bound = Math.imul(range >>> 11, p);
    if (code < (bound ^ -0x80000000)) {
      range = bound;
      probs[i] = p + ((2048 - p) >>> 5);

      // ---- literal ----
      const rel = pos - dictStart;
      const prev = rel > 0 ? out[pos - 1]! : 0;
      const base = LITERAL + 0x300 * (((rel & lpMask) << lc) + (prev >>> lcShift));
      sym = 1;
      if (state >= 7) {
        let matchByte = out[pos - rep0 - 1]!;
        do {
          const matchBit = (matchByte >>> 7) & 1;
          matchByte <<= 1;
          i = base + ((1 + matchBit) << 8) + sym;
          if ((range & -0x1000000) === 0) {
            range <<= 8;
            code = ((code << 8) | inp[ip++]!) ^ -0x80000000;
          }
          p = probs[i]!;
          bound = Math.imul(range >>> 11, p);
          if (code < (bound ^ -0x80000000)) {
            range = bound;
            probs[i] = p + ((2048 - p) >>> 5);
            sym <<= 1;
            if (matchBit !== 0) break;
          } else {
            range = (range - bound) | 0;
            code = (code - bound) | 0;
            probs[i] = p - (p >>> 5);
            sym = (sym << 1) | 1;
            if (matchBit === 0) break;
          }
        } while (sym < 0x100);
      }
      while (sym < 0x100) {
        i = base + sym;
        if ((range & -0x1000000) === 0) {
          range <<= 8;
          code = ((code << 8) | inp[ip++]!) ^ -0x80000000;
        }
        p = probs[i]!;
        bound = Math.imul(range >>> 11, p);
        if (code < (bound ^ -0x80000000)) {
          range = bound;
          probs[i] = p + ((2048 - p) >>> 5);
          sym <<= 1;
        } else {
          range = (range - bound) | 0;
          code = (code - bound) | 0;
          probs[i] = p - (p >>> 5);
          sym = (sym << 1) | 1;
        }
      }
      out[pos++] = sym;
      state = state < 4 ? 0 : state < 10 ? state - 3 : state - 6;
      continue;
    }
    range = (range - bound) | 0;
    code = (code - bound) | 0;
    probs[i] = p - (p >>> 5);

    // is_rep[state]
    i = IS_REP + state;
    if ((range & -0x1000000) === 0) {
      range <<= 8;
      code = ((code << 8) | inp[ip++]!) ^ -0x80000000;
    }
    p = probs[i]!;
    bound = Math.imul(range >>> 11, p);
    let lenBase: number;
    if (code < (bound ^ -0x80000000)) {
      // ---- simple match ----
      range = bound;
      probs[i] = p + ((2048 - p) >>> 5);
      rep3 = rep2;
      rep2 = rep1;
      rep1 = rep0;
      lenBase = LEN_CODER;
      state = state < 7 ? 7 : 10;
    } else {
      range = (range - bound) | 0;
      code = (code - bound) | 0;
      probs[i] = p - (p >>> 5);
      // is_rep_g0[state]
      i = IS_REP_G0 + state;
      if ((range & -0x1000000) === 0) {
        range <<= 8;
        code = ((code << 8) | inp[ip++]!) ^ -0x80000000;
      }
      p = probs[i]!;
      bound = Math.imul(range >>> 11, p);
      if (code < (bound ^ -0x80000000)) {
        range = bound;
        probs[i] = p + ((2048 - p) >>> 5);
        // is_rep0_long[state][posState]
        i = IS_REP0_LONG + (state << 4) + posState;
        if ((range & -0x1000000) === 0) {
          range <<= 8;
          code = ((code << 8) | inp[ip++]!) ^ -0x80000000;
        }
        p = probs[i]!;
        bound = Math.imul(range >>> 11, p);
        if (code < (bound ^ -0x80000000)) {
          // ---- short rep: one byte at distance rep0 ----
          range = bound;
          probs[i] = p + ((2048 - p) >>> 5);
          if (rep0 >= pos - dictStart) fail(`LZMA distance beyond dictionary (at byte offset ${ip})`);
          state = state < 7 ? 9 : 11;
          out[pos] = out[pos - rep0 - 1]!;
          pos++;
          continue;
        }
        range = (range - bound) | 0;
        code = (code - bound) | 0;
        probs[i] = p - (p >>> 5);
      } else {
        range = (range - bound) | 0;
        code = (code - bound) | 0;
        probs[i] = p - (p >>> 5);
        // is_rep_g1[state]
        i = IS_REP_G1 + state;
        if ((range & -0x1000000) === 0) {
          range <<= 8;
          code = ((code << 8) | inp[ip++]!) ^ -0x80000000;
        }
        p = probs[i]!;
        bound = Math.imul(range >>> 11, p);
        let dist: number;
        if (code < (bound ^ -0x80000000)) {
          range = bound;
          probs[i] = p + ((2048 - p) >>> 5);
          dist = rep1;
        } else {
          range = (range - bound) | 0;
          code = (code - bound) | 0;
          probs[i] = p - (p >>> 5);
          // is_rep_g2[state]
          i = IS_REP_G2 + state;
          if ((range & -0x1000000) === 0) {
            range <<= 8;
            code = ((code << 8) | inp[ip++]!) ^ -0x80000000;
          }
          p = probs[i]!;
          bound = Math.imul(range >>> 11, p);
          if (code < (bound ^ -0x80000000)) {
            range = bound;
            probs[i] = p + ((2048 - p) >>> 5);
            dist = rep2;
          } else {
            range = (range - bound) | 0;
            code = (code - bound) | 0;
            probs[i] = p - (p >>> 5);
            dist = rep3;
            rep3 = rep2;
          }
          rep2 = rep1;
        }
        rep1 = rep0;
        rep0 = dist;
      }
      lenBase = REP_LEN_CODER;
      state = state < 7 ? 8 : 11;
    }

    // ---- length (0-based, 0..271) ----
    i = lenBase + LEN_CHOICE;
    if ((range & -0x1000000) === 0) {
      range <<= 8;
      code = ((code << 8) | inp[ip++]!) ^ -0x80000000;
    }
    p = probs[i]!;
    bound = Math.imul(range >>> 11, p);
    let treeBase: number;
    let treeBits: number;
    if (code < (bound ^ -0x80000000)) {
      range = bound;
      probs[i] = p + ((2048 - p) >>> 5);
      treeBase = lenBase + LEN_LOW + (posState << 3);
      treeBits = 3;
      len = 0;
    } else {
      range = (range - bound) | 0;
      code = (code - bound) | 0;
      probs[i] = p - (p >>> 5);
      i = lenBase + LEN_CHOICE2;
      if ((range & -0x1000000) === 0) {
        range <<= 8;
        code = ((code << 8) | inp[ip++]!) ^ -0x80000000;
      }
      p = probs[i]!;
      bound = Math.imul(range >>> 11, p);
      if (code < (bound ^ -0x80000000)) {
        range = bound;
        probs[i] = p + ((2048 - p) >>> 5);
        treeBase = lenBase + LEN_MID + (posState << 3);
        treeBits = 3;
        len = 8;
      } else {
        range = (range - bound) | 0;
        code = (code - bound) | 0;
        probs[i] = p - (p >>> 5);
        treeBase = lenBase + LEN_HIGH;
        treeBits = 8;
        len = 16;
      }
    }
    sym = 1;
    for (let k = 0; k < treeBits; k++) {
      i = treeBase + sym;
      if ((range & -0x1000000) === 0) {
        range <<= 8;
        code = ((code << 8) | inp[ip++]!) ^ -0x80000000;
      }
      p = probs[i]!;
      bound = Math.imul(range >>> 11, p);
      if (code < (bound ^ -0x80000000)) {
        range = bound;
        probs[i] = p + ((2048 - p) >>> 5);
        sym <<= 1;
      } else {
        range = (range - bound) | 0;
        code = (code - bound) | 0;
        probs[i] = p - (p >>> 5);
        sym = (sym << 1) | 1;
      }
    }
    len += sym - (1 << treeBits);

    if (lenBase === LEN_CODER) {
      // ---- distance of a simple match ----
      const slotBase = POS_SLOT + ((len < 3 ? len : 3) << 6);
      sym = 1;
      do {
        i = slotBase + sym;
        if ((range & -0x1000000) === 0) {
          range <<= 8;
          code = ((code << 8) | inp[ip++]!) ^ -0x80000000;
        }
        p = probs[i]!;
        bound = Math.imul(range >>> 11, p);
        if (code < (bound ^ -0x80000000)) {
          range = bound;
          probs[i] = p + ((2048 - p) >>> 5);
          sym <<= 1;
        } else {
          range = (range - bound) | 0;
          code = (code - bound) | 0;
          probs[i] = p - (p >>> 5);
          sym = (sym << 1) | 1;
        }
      } while (sym < 64);
      const slot = sym - 64;
      let dist: number;
      if (slot < 4) {
        dist = slot;
      } else {
        const nd = (slot >>> 1) - 1;
        dist = (2 | (slot & 1)) << nd; // distances >= 2^31 wrap negative: rejected below
        let m = 1;
        let extra = 0;
        if (slot < 14) {
          // reverse bit tree, nd bits
          const rb = SPEC_POS + dist - slot;
          for (let k = 0; k < nd; k++) {
            i = rb + m;
            if ((range & -0x1000000) === 0) {
              range <<= 8;
              code = ((code << 8) | inp[ip++]!) ^ -0x80000000;
            }
            p = probs[i]!;
            bound = Math.imul(range >>> 11, p);
            if (code < (bound ^ -0x80000000)) {
              range = bound;
              probs[i] = p + ((2048 - p) >>> 5);
              m <<= 1;
            } else {
              range = (range - bound) | 0;
              code = (code - bound) | 0;
              probs[i] = p - (p >>> 5);
              m = (m << 1) | 1;
              extra |= 1 << k;
            }
          }
          dist += extra;
        } else {
          // nd - 4 direct bits, then 4 reverse-coded align bits
          for (let k = nd - 4; k > 0; k--) {
            if ((range & -0x1000000) === 0) {
              range <<= 8;
              code = ((code << 8) | inp[ip++]!) ^ -0x80000000;
            }
            // Branch-free: these bits are incompressible, so a branch
            // would mispredict half the time. With the biased code, a
            // negative difference means the bit is 1.
            range >>>= 1;
            code = (code - range) | 0;
            const neg = code >> 31; // -1: bit 1; 0: bit 0, undo the subtraction
            code = (code + (range & ~neg)) | 0;
            extra = (extra << 1) - neg;
          }
          dist = (dist + (extra << 4)) | 0;
          extra = 0;
          for (let k = 0; k < 4; k++) {
            i = ALIGN + m;
            if ((range & -0x1000000) === 0) {
              range <<= 8;
              code = ((code << 8) | inp[ip++]!) ^ -0x80000000;
            }
            p = probs[i]!;
            bound = Math.imul(range >>> 11, p);
            if (code < (bound ^ -0x80000000)) {
              range = bound;
              probs[i] = p + ((2048 - p) >>> 5);
              m <<= 1;
            } else {
              range = (range - bound) | 0;
              code = (code - bound) | 0;
              probs[i] = p - (p >>> 5);
              m = (m << 1) | 1;
              extra |= 1 << k;
            }
          }
          dist = (dist + extra) | 0;
        }
      }
      if (dist < 0) {
        if (dist === -1) fail(`unexpected LZMA end marker inside LZMA2 chunk (at byte offset ${ip})`);
        fail(`LZMA distance beyond dictionary (at byte offset ${ip})`);
      }
      rep0 = dist;
    }

    // ---- copy the match ----
    if (rep0 >= pos - dictStart) fail(`LZMA distance beyond dictionary (at byte offset ${ip})`);
    len += 2;
    if (len > outEnd - pos) fail(`LZMA match runs past the end of its chunk (at byte offset ${ip})`);
    let src = pos - rep0 - 1;
    if (len > 16 && rep0 + 1 >= len) {
      out.copyWithin(pos, src, src + len);
      pos += len;
    } else {
      const e = pos + len;
      while (pos < e) out[pos++] = out[src++]!;
    }
  }

  if ((range & -0x1000000) === 0) {
    range <<= 8;
    code = ((code << 8) | inp[ip++]!) ^ -0x80000000;
  }
  if (ip > inEnd) fail(`LZMA chunk data is corrupt (reads past its end at byte offset ${inEnd})`);
  if (code !== -0x80000000 || ip !== inEnd) fail(`LZMA chunk data is corrupt (at byte offset ${chunkStart})`);

  s.state = state;
  s.rep0 = rep0;
  s.rep1 = rep1;
  s.rep2 = rep2;
  s.rep3 = rep3;
  return ip;
}

/** Dictionary size encoded in the LZMA2 filter property byte. */
export function lzma2DictSize(prop: number, at: number): number {
  if (prop > 40) fail(`bad LZMA2 dictionary size property 0x${prop.toString(16)} (at byte offset ${at})`);
  if (prop === 40) return 0xffffffff;
  return (2 | (prop & 1)) * 2 ** ((prop >>> 1) + 11);
}

/**
 * Decode an LZMA2 stream starting at input[ip] (not reading at or past
 * inEnd), appending to `out`. Returns the input position just after the
 * end-of-stream control byte. `maxOut` bounds the total output of this call.
 */
export function decodeLzma2(input: Uint8Array, ip: number, inEnd: number, out: XzOutput, maxOut: number): number {
  const s = new LzmaState();
  const outStart = out.pos;
  let dictStart = out.pos;
  let needDictReset = true;
  let needProps = true;
  for (;;) {
    if (ip >= inEnd) fail(`truncated LZMA2 data (at byte offset ${ip})`);
    const ctrlAt = ip;
    const control = input[ip++]!;
    if (control === 0x00) return ip;
    if (control >= 0xe0 || control === 0x01) {
      needProps = true;
      needDictReset = false;
      dictStart = out.pos;
    } else if (needDictReset) {
      fail(`LZMA2 data does not start with a dictionary reset (at byte offset ${ctrlAt})`);
    }
    if (control >= 0x80) {
      if (inEnd - ip < 4) fail(`truncated LZMA2 chunk header (at byte offset ${ctrlAt})`);
      const unc = (control & 0x1f) * 65536 + (input[ip]! << 8) + input[ip + 1]! + 1;
      const comp = (input[ip + 2]! << 8) + input[ip + 3]! + 1;
      ip += 4;
      if (control >= 0xc0) {
        if (ip >= inEnd) fail(`truncated LZMA2 chunk header (at byte offset ${ctrlAt})`);
        let props = input[ip++]!;
        if (props >= 9 * 5 * 5) fail(`bad LZMA properties byte 0x${props.toString(16)} (at byte offset ${ip - 1})`);
        const lc = props % 9;
        props = (props / 9) | 0;
        const lp = props % 5;
        const pb = (props / 5) | 0;
        if (lc + lp > 4) fail(`bad LZMA2 properties: lc + lp > 4 (at byte offset ${ip - 1})`);
        s.lc = lc;
        s.lp = lp;
        s.pb = pb;
        needProps = false;
      } else if (needProps) {
        fail(`LZMA2 chunk lacks required properties (at byte offset ${ctrlAt})`);
      }
      if (control >= 0xa0) s.reset();
      if (comp > inEnd - ip) fail(`truncated LZMA2 chunk (at byte offset ${ctrlAt})`);
      if (out.pos - outStart + unc > maxOut) fail(`LZMA2 data larger than declared (at byte offset ${ctrlAt})`);
      out.ensure(unc);
      decodeLzmaChunk(s, input, ip, ip + comp, out.buf, out.pos, out.pos + unc, dictStart);
      ip += comp;
      out.pos += unc;
    } else if (control <= 0x02) {
      if (inEnd - ip < 2) fail(`truncated LZMA2 chunk header (at byte offset ${ctrlAt})`);
      const size = (input[ip]! << 8) + input[ip + 1]! + 1;
      ip += 2;
      if (size > inEnd - ip) fail(`truncated LZMA2 uncompressed chunk (at byte offset ${ctrlAt})`);
      if (out.pos - outStart + size > maxOut) fail(`LZMA2 data larger than declared (at byte offset ${ctrlAt})`);
      out.ensure(size);
      out.buf.set(input.subarray(ip, ip + size), out.pos);
      out.pos += size;
      ip += size;
    } else {
      fail(`invalid LZMA2 control byte 0x${control.toString(16)} (at byte offset ${ctrlAt})`);
    }
  }
}
