/**
 * Decoders for the .xz "simple" filters that sit in front of LZMA2: the
 * branch/call/jump (BCJ) converters that turn absolute branch targets back
 * into relative ones, and the delta filter. Each runs in place over one
 * block's complete decoded output, which gives the same result as running it
 * incrementally: bytes too close to the end to hold a whole instruction are
 * left untouched, exactly as a streaming decoder leaves them at end of input.
 *
 * `start` is the filter's start offset property (the address of buf[from]).
 */

const X86_ALLOWED = [true, true, true, false, true, false, false, false];
const X86_BIT_NUMBER = [0, 1, 2, 2, 3, 3, 3, 3];

/** x86 BCJ (filter 0x04): E8 (call) / E9 (jmp) rel32 operands. */
export function x86Decode(buf: Uint8Array, from: number, to: number, start: number): void {
  if (to - from < 5) return;
  const limit = to - 5;
  let prevMask = 0;
  let prevPos = from - 5;
  let i = from;
  for (;;) {
    // Scan for the next E8 (call) or E9 (jmp) opcode.
    while (i <= limit && (buf[i]! & 0xfe) !== 0xe8) i++;
    if (i > limit) break;
    const offset = i - prevPos;
    prevPos = i;
    if (offset > 5) {
      prevMask = 0;
    } else {
      for (let k = 0; k < offset; k++) prevMask = (prevMask & 0x77) << 1;
    }
    let b = buf[i + 4]!;
    if ((b === 0 || b === 0xff) && X86_ALLOWED[(prevMask >>> 1) & 7] && prevMask >>> 1 < 0x10) {
      let src = ((b << 24) | (buf[i + 3]! << 16) | (buf[i + 2]! << 8) | buf[i + 1]!) >>> 0;
      const here = (start + (i - from) + 5) >>> 0;
      let dest: number;
      for (;;) {
        dest = (src - here) >>> 0;
        if (prevMask === 0) break;
        const idx = X86_BIT_NUMBER[prevMask >>> 1]!;
        b = (dest >>> (24 - idx * 8)) & 0xff;
        if (b !== 0 && b !== 0xff) break;
        src = (dest ^ ((1 << (32 - idx * 8)) - 1)) >>> 0;
      }
      buf[i + 4] = (dest >>> 24) & 1 ? 0xff : 0;
      buf[i + 3] = dest >>> 16;
      buf[i + 2] = dest >>> 8;
      buf[i + 1] = dest;
      i += 5;
      prevMask = 0;
    } else {
      i++;
      prevMask |= 1;
      if (b === 0 || b === 0xff) prevMask |= 0x10;
    }
  }
}

/** PowerPC BCJ (filter 0x05): big-endian `bl` instructions. */
export function powerpcDecode(buf: Uint8Array, from: number, to: number, start: number): void {
  for (let i = from; i + 4 <= to; i += 4) {
    if (buf[i]! >>> 2 === 0x12 && (buf[i + 3]! & 3) === 1) {
      const src = ((buf[i]! & 3) << 24) | (buf[i + 1]! << 16) | (buf[i + 2]! << 8) | (buf[i + 3]! & ~3);
      const dest = (src - (start + (i - from))) | 0;
      buf[i] = 0x48 | ((dest >>> 24) & 3);
      buf[i + 1] = dest >>> 16;
      buf[i + 2] = dest >>> 8;
      buf[i + 3] = (buf[i + 3]! & 3) | (dest & 0xff);
    }
  }
}

/** ARM BCJ (filter 0x07): little-endian `bl` instructions. */
export function armDecode(buf: Uint8Array, from: number, to: number, start: number): void {
  for (let i = from; i + 4 <= to; i += 4) {
    if (buf[i + 3] === 0xeb) {
      const src = ((buf[i + 2]! << 16) | (buf[i + 1]! << 8) | buf[i]!) << 2;
      const dest = (src - (start + (i - from) + 8)) >>> 2;
      buf[i + 2] = dest >>> 16;
      buf[i + 1] = dest >>> 8;
      buf[i] = dest;
    }
  }
}

/** ARM-Thumb BCJ (filter 0x08): 32-bit Thumb `bl` instruction pairs. */
export function armThumbDecode(buf: Uint8Array, from: number, to: number, start: number): void {
  for (let i = from; i + 4 <= to; i += 2) {
    if ((buf[i + 1]! & 0xf8) === 0xf0 && (buf[i + 3]! & 0xf8) === 0xf8) {
      const src =
        (((buf[i + 1]! & 7) << 19) | (buf[i]! << 11) | ((buf[i + 3]! & 7) << 8) | buf[i + 2]!) << 1;
      const dest = (src - (start + (i - from) + 4)) >>> 1;
      buf[i + 1] = 0xf0 | ((dest >>> 19) & 7);
      buf[i] = dest >>> 11;
      buf[i + 3] = 0xf8 | ((dest >>> 8) & 7);
      buf[i + 2] = dest;
      i += 2;
    }
  }
}

/** SPARC BCJ (filter 0x09): big-endian `call` instructions. */
export function sparcDecode(buf: Uint8Array, from: number, to: number, start: number): void {
  for (let i = from; i + 4 <= to; i += 4) {
    const b0 = buf[i]!;
    const b1 = buf[i + 1]!;
    if ((b0 === 0x40 && (b1 & 0xc0) === 0) || (b0 === 0x7f && (b1 & 0xc0) === 0xc0)) {
      const src = ((b0 << 24) | (b1 << 16) | (buf[i + 2]! << 8) | buf[i + 3]!) << 2;
      let dest = (src - (start + (i - from))) >>> 2;
      dest = (((0 - ((dest >>> 22) & 1)) << 22) & 0x3fffffff) | (dest & 0x3fffff) | 0x40000000;
      buf[i] = dest >>> 24;
      buf[i + 1] = dest >>> 16;
      buf[i + 2] = dest >>> 8;
      buf[i + 3] = dest;
    }
  }
}

/** ARM64 BCJ (filter 0x0A): `bl` and `adrp` instructions. */
export function arm64Decode(buf: Uint8Array, from: number, to: number, start: number): void {
  for (let i = from; i + 4 <= to; i += 4) {
    const pc = (start + (i - from)) >>> 0;
    let instr = (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24)) >>> 0;
    if (instr >>> 26 === 0x25) {
      // BL: 26-bit word offset
      instr = (0x94000000 | ((instr - (pc >>> 2)) & 0x03ffffff)) >>> 0;
    } else if ((instr & 0x9f000000) >>> 0 === 0x90000000) {
      // ADRP: 21-bit page offset, only converted when within +-512 MiB
      const src = ((instr >>> 29) & 3) | ((instr >>> 3) & 0x001ffffc);
      if (((src + 0x00020000) & 0x001c0000) !== 0) continue;
      const dest = (src - (pc >>> 12)) >>> 0;
      instr &= 0x9000001f;
      instr |= (dest & 3) << 29;
      instr |= (dest & 0x0003fffc) << 3;
      instr |= (0 - (dest & 0x00020000)) & 0x00e00000;
      instr >>>= 0;
    } else {
      continue;
    }
    buf[i] = instr;
    buf[i + 1] = instr >>> 8;
    buf[i + 2] = instr >>> 16;
    buf[i + 3] = instr >>> 24;
  }
}

/** Delta (filter 0x03): each byte was stored minus the byte `distance` earlier. */
export function deltaDecode(buf: Uint8Array, from: number, to: number, distance: number): void {
  for (let i = from + distance; i < to; i++) buf[i] = buf[i]! + buf[i - distance]!;
}
