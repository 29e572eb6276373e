/**
 * XXH64 (seed 0), as used for the Zstandard content checksum.
 *
 * 64-bit lanes are kept as pairs of unsigned 32-bit halves (hi, lo); the
 * 64x64 -> 64 multiply splits the low halves into 16-bit pieces so that every
 * partial product is exact in a double, and uses Math.imul for the cross
 * terms that only contribute to the high half. No BigInt, no allocation in
 * the loop: helpers return their result through the module-level (rh, rl).
 */

const P1H = 0x9e3779b1;
const P1L = 0x85ebca87;
const P2H = 0xc2b2ae3d;
const P2L = 0x27d4eb4f;
const P3H = 0x165667b1;
const P3L = 0x9e3779f9;
const P4H = 0x85ebca77;
const P4L = 0xc2b2ae63;
const P5H = 0x27d4eb2f;
const P5L = 0x165667c5;

const P1L0 = P1L & 0xffff;
const P1L1 = P1L >>> 16;
const P2L0 = P2L & 0xffff;
const P2L1 = P2L >>> 16;
const INV16 = 1 / 65536;

let rh = 0;
let rl = 0;

/** (rh, rl) = (h, l) * (ch, cl) mod 2^64 */
function mul(h: number, l: number, ch: number, cl: number): void {
  const l0 = l & 0xffff;
  const l1 = l >>> 16;
  const c0 = cl & 0xffff;
  const c1 = cl >>> 16;
  const mid = l1 * c0 + l0 * c1; // < 2^33, exact
  const lo = l0 * c0 + (mid & 0xffff) * 65536; // < 2^33, exact
  rl = lo >>> 0;
  rh = (l1 * c1 + ((mid / 65536) >>> 0) + (lo > 0xffffffff ? 1 : 0) + Math.imul(h, cl) + Math.imul(l, ch)) >>> 0;
}

/** (rh, rl) = (ah, al) + (bh, bl) mod 2^64 */
function add(ah: number, al: number, bh: number, bl: number): void {
  const s = al + bl;
  rl = s >>> 0;
  rh = (ah + bh + (s > 0xffffffff ? 1 : 0)) >>> 0;
}

/** (rh, rl) = (h, l) rotated left by r (0 < r < 32) */
function rotl(h: number, l: number, r: number): void {
  rh = ((h << r) | (l >>> (32 - r))) >>> 0;
  rl = ((l << r) | (h >>> (32 - r))) >>> 0;
}

/** (rh, rl) = round(acc, lane) = rotl(acc + lane * P2, 31) * P1 */
function round(ah: number, al: number, inH: number, inL: number): void {
  mul(inH, inL, P2H, P2L);
  add(ah, al, rh, rl);
  rotl(rh, rl, 31);
  mul(rh, rl, P1H, P1L);
}

/** (rh, rl) = (acc ^ round(0, val)) * P1 + P4 */
function mergeRound(ah: number, al: number, vh: number, vl: number): void {
  round(0, 0, vh, vl);
  mul((ah ^ rh) >>> 0, (al ^ rl) >>> 0, P1H, P1L);
  add(rh, rl, P4H, P4L);
}

/** XXH64 with seed 0 of data[start, end), as { hi, lo } unsigned 32-bit halves. */
export function xxh64(data: Uint8Array, start = 0, end = data.length): { hi: number; lo: number } {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const len = end - start;
  let i = start;
  let hh: number;
  let hl: number;
  if (len >= 32) {
    // Lanes are int32 halves in this loop (converted back to uint32 after it).
    add(P1H, P1L, P2H, P2L);
    let v1h = rh | 0;
    let v1l = rl | 0;
    let v2h = P2H | 0;
    let v2l = P2L | 0;
    let v3h = 0;
    let v3l = 0;
    let v4h = ~P1H; // -P1 (P1L is nonzero, so no borrow into the high half)
    let v4l = -P1L | 0;
    const limit = end - 32;
    // Each lane: acc = rotl(acc + lane * P2, 31) * P1, fully inlined. The high
    // half of a 32x32 product comes from two exact 32x16 products in doubles.
    while (i <= limit) {
      {
        const il = dv.getInt32(i, true);
        const ih = dv.getInt32(i + 4, true);
        const ul = il >>> 0;
        const phi = Math.floor((Math.floor(ul * P2L0 * INV16) + ul * P2L1) * INV16);
        const pl = Math.imul(il, P2L);
        const al = (v1l + pl) | 0;
        const ah = (phi + Math.imul(ih, P2L) + Math.imul(il, P2H) + v1h + ((al >>> 0) < (pl >>> 0) ? 1 : 0)) | 0;
        const bh = (ah << 31) | (al >>> 1);
        const bl = (al << 31) | (ah >>> 1);
        const ub = bl >>> 0;
        v1h = (Math.floor((Math.floor(ub * P1L0 * INV16) + ub * P1L1) * INV16) + Math.imul(bh, P1L) + Math.imul(bl, P1H)) | 0;
        v1l = Math.imul(bl, P1L);
      }
      {
        const il = dv.getInt32(i + 8, true);
        const ih = dv.getInt32(i + 12, true);
        const ul = il >>> 0;
        const phi = Math.floor((Math.floor(ul * P2L0 * INV16) + ul * P2L1) * INV16);
        const pl = Math.imul(il, P2L);
        const al = (v2l + pl) | 0;
        const ah = (phi + Math.imul(ih, P2L) + Math.imul(il, P2H) + v2h + ((al >>> 0) < (pl >>> 0) ? 1 : 0)) | 0;
        const bh = (ah << 31) | (al >>> 1);
        const bl = (al << 31) | (ah >>> 1);
        const ub = bl >>> 0;
        v2h = (Math.floor((Math.floor(ub * P1L0 * INV16) + ub * P1L1) * INV16) + Math.imul(bh, P1L) + Math.imul(bl, P1H)) | 0;
        v2l = Math.imul(bl, P1L);
      }
      {
        const il = dv.getInt32(i + 16, true);
        const ih = dv.getInt32(i + 20, true);
        const ul = il >>> 0;
        const phi = Math.floor((Math.floor(ul * P2L0 * INV16) + ul * P2L1) * INV16);
        const pl = Math.imul(il, P2L);
        const al = (v3l + pl) | 0;
        const ah = (phi + Math.imul(ih, P2L) + Math.imul(il, P2H) + v3h + ((al >>> 0) < (pl >>> 0) ? 1 : 0)) | 0;
        const bh = (ah << 31) | (al >>> 1);
        const bl = (al << 31) | (ah >>> 1);
        const ub = bl >>> 0;
        v3h = (Math.floor((Math.floor(ub * P1L0 * INV16) + ub * P1L1) * INV16) + Math.imul(bh, P1L) + Math.imul(bl, P1H)) | 0;
        v3l = Math.imul(bl, P1L);
      }
      {
        const il = dv.getInt32(i + 24, true);
        const ih = dv.getInt32(i + 28, true);
        const ul = il >>> 0;
        const phi = Math.floor((Math.floor(ul * P2L0 * INV16) + ul * P2L1) * INV16);
        const pl = Math.imul(il, P2L);
        const al = (v4l + pl) | 0;
        const ah = (phi + Math.imul(ih, P2L) + Math.imul(il, P2H) + v4h + ((al >>> 0) < (pl >>> 0) ? 1 : 0)) | 0;
        const bh = (ah << 31) | (al >>> 1);
        const bl = (al << 31) | (ah >>> 1);
        const ub = bl >>> 0;
        v4h = (Math.floor((Math.floor(ub * P1L0 * INV16) + ub * P1L1) * INV16) + Math.imul(bh, P1L) + Math.imul(bl, P1H)) | 0;
        v4l = Math.imul(bl, P1L);
      }
      i += 32;
    }
    v1h >>>= 0;
    v1l >>>= 0;
    v2h >>>= 0;
    v2l >>>= 0;
    v3h >>>= 0;
    v3l >>>= 0;
    v4h >>>= 0;
    v4l >>>= 0;
    rotl(v1h, v1l, 1);
    hh = rh;
    hl = rl;
    rotl(v2h, v2l, 7);
    add(hh, hl, rh, rl);
    hh = rh;
    hl = rl;
    rotl(v3h, v3l, 12);
    add(hh, hl, rh, rl);
    hh = rh;
    hl = rl;
    rotl(v4h, v4l, 18);
    add(hh, hl, rh, rl);
    mergeRound(rh, rl, v1h, v1l);
    mergeRound(rh, rl, v2h, v2l);
    mergeRound(rh, rl, v3h, v3l);
    mergeRound(rh, rl, v4h, v4l);
    hh = rh;
    hl = rl;
  } else {
    hh = P5H;
    hl = P5L;
  }
  add(hh, hl, Math.floor(len / 4294967296), len >>> 0);
  hh = rh;
  hl = rl;
  while (i + 8 <= end) {
    round(0, 0, dv.getUint32(i + 4, true), dv.getUint32(i, true));
    rotl((hh ^ rh) >>> 0, (hl ^ rl) >>> 0, 27);
    mul(rh, rl, P1H, P1L);
    add(rh, rl, P4H, P4L);
    hh = rh;
    hl = rl;
    i += 8;
  }
  if (i + 4 <= end) {
    mul(0, dv.getUint32(i, true), P1H, P1L);
    rotl((hh ^ rh) >>> 0, (hl ^ rl) >>> 0, 23);
    mul(rh, rl, P2H, P2L);
    add(rh, rl, P3H, P3L);
    hh = rh;
    hl = rl;
    i += 4;
  }
  while (i < end) {
    mul(0, data[i]!, P5H, P5L);
    rotl((hh ^ rh) >>> 0, (hl ^ rl) >>> 0, 11);
    mul(rh, rl, P1H, P1L);
    hh = rh;
    hl = rl;
    i++;
  }
  // Avalanche.
  hl = (hl ^ (hh >>> 1)) >>> 0; // h ^= h >> 33
  mul(hh, hl, P2H, P2L);
  hh = rh;
  hl = rl;
  const sl = ((hl >>> 29) | (hh << 3)) >>> 0; // h ^= h >> 29
  hl = (hl ^ sl) >>> 0;
  hh = (hh ^ (hh >>> 29)) >>> 0;
  mul(hh, hl, P3H, P3L);
  hh = rh;
  hl = (rl ^ rh) >>> 0; // h ^= h >> 32
  return { hi: hh, lo: hl };
}

/** XXH64 of data[start, end) as a 16-digit lowercase hex string. */
export function xxh64Hex(data: Uint8Array, start = 0, end = data.length): string {
  const { hi, lo } = xxh64(data, start, end);
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}
