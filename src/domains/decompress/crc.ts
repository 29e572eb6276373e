/**
 * CRC32 (IEEE 802.3, reflected polynomial 0xEDB88320) and CRC64 (ECMA-182,
 * reflected polynomial 0xC96C5795D7870F42), as used by .xz, gzip, zip, etc.
 *
 * CRC32 uses slicing-by-8 tables; CRC64 keeps the 64-bit register as two
 * 32-bit halves so the hot loop never touches BigInt.
 */

const CRC32_TABLES: Int32Array = (() => {
  const t = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[k * 256 + n] = c;
    }
  }
  return t;
})();

/**
 * Continue a CRC32 computation: `crc` is a previous result (0 to start).
 * Returns the unsigned 32-bit CRC of everything fed so far.
 */
export function crc32Update(crc: number, data: Uint8Array, start = 0, end = data.length): number {
  const t = CRC32_TABLES;
  let c = ~crc | 0;
  let i = start;
  const end8 = end - 8;
  while (i <= end8) {
    c ^= data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    c =
      t[1792 + (c & 0xff)]! ^
      t[1536 + ((c >>> 8) & 0xff)]! ^
      t[1280 + ((c >>> 16) & 0xff)]! ^
      t[1024 + (c >>> 24)]! ^
      t[768 + data[i + 4]!]! ^
      t[512 + data[i + 5]!]! ^
      t[256 + data[i + 6]!]! ^
      t[data[i + 7]!]!;
    i += 8;
  }
  while (i < end) c = t[(c ^ data[i++]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** CRC32 of data[start, end), as an unsigned 32-bit number. */
export function crc32(data: Uint8Array, start = 0, end = data.length): number {
  return crc32Update(0, data, start, end);
}

// CRC64 tables: low and high 32-bit halves of each 64-bit entry, slicing-by-4.
const CRC64_LO = new Int32Array(4 * 256);
const CRC64_HI = new Int32Array(4 * 256);
(() => {
  const polyLo = 0xd7870f42 | 0;
  const polyHi = 0xc96c5795 | 0;
  for (let n = 0; n < 256; n++) {
    let lo = n;
    let hi = 0;
    for (let k = 0; k < 8; k++) {
      const bit = lo & 1;
      lo = (lo >>> 1) | (hi << 31);
      hi = hi >>> 1;
      if (bit) {
        lo ^= polyLo;
        hi ^= polyHi;
      }
    }
    CRC64_LO[n] = lo;
    CRC64_HI[n] = hi;
  }
  for (let n = 0; n < 256; n++) {
    let lo = CRC64_LO[n]!;
    let hi = CRC64_HI[n]!;
    for (let k = 1; k < 4; k++) {
      const idx = lo & 0xff;
      lo = CRC64_LO[idx]! ^ ((lo >>> 8) | (hi << 24));
      hi = CRC64_HI[idx]! ^ (hi >>> 8);
      CRC64_LO[k * 256 + n] = lo;
      CRC64_HI[k * 256 + n] = hi;
    }
  }
})();

/**
 * CRC64 (xz flavour) of data[start, end) as [low 32 bits, high 32 bits],
 * both unsigned.
 */
export function crc64Parts(data: Uint8Array, start = 0, end = data.length): [number, number] {
  const tl = CRC64_LO;
  const th = CRC64_HI;
  let lo = -1;
  let hi = -1;
  let i = start;
  const end4 = end - 4;
  while (i <= end4) {
    lo ^= data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    const a = 768 + (lo & 0xff);
    const b = 512 + ((lo >>> 8) & 0xff);
    const c = 256 + ((lo >>> 16) & 0xff);
    const d = lo >>> 24;
    lo = tl[a]! ^ tl[b]! ^ tl[c]! ^ tl[d]! ^ hi;
    hi = th[a]! ^ th[b]! ^ th[c]! ^ th[d]!;
    i += 4;
  }
  while (i < end) {
    const idx = (lo ^ data[i++]!) & 0xff;
    lo = tl[idx]! ^ ((lo >>> 8) | (hi << 24));
    hi = th[idx]! ^ (hi >>> 8);
  }
  return [~lo >>> 0, ~hi >>> 0];
}

/** CRC64 (xz flavour) of data[start, end) as a BigInt. */
export function crc64(data: Uint8Array, start = 0, end = data.length): bigint {
  const [lo, hi] = crc64Parts(data, start, end);
  return (BigInt(hi) << 32n) | BigInt(lo);
}
