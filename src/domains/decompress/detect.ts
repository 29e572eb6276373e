/** Identify a compressed stream by its magic bytes, and decompress it. */
import { gunzipSync } from 'node:zlib';
import { DecompressError, UserError } from '../../errors.ts';
import { lz4FrameDecompress, lz4LegacyDecompress } from './lz4.ts';
import { xzDecompress } from './xz.ts';
import { zstdDecompress } from './zstd.ts';

export type Compression = 'gzip' | 'bzip2' | 'lzma' | 'xz' | 'lzo' | 'lz4' | 'lz4-frame' | 'zstd';

const MAGICS: Array<[Compression, number[]]> = [
  ['gzip', [0x1f, 0x8b]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['lz4', [0x02, 0x21, 0x4c, 0x18]],
  ['lz4-frame', [0x04, 0x22, 0x4d, 0x18]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['lzo', [0x89, 0x4c, 0x5a, 0x4f]],
  ['lzma', [0x5d, 0x00, 0x00]],
];

export function detectCompression(data: Uint8Array): Compression | undefined {
  for (const [name, magic] of MAGICS) {
    if (data.length >= magic.length && magic.every((b, i) => data[i] === b)) return name;
  }
  return undefined;
}

/** `sizeHint`: the expected output size when known (only sizes buffers; never trusted). */
export function decompress(kind: Compression, data: Uint8Array, sizeHint?: number): Uint8Array {
  switch (kind) {
    case 'gzip':
      try {
        return new Uint8Array(gunzipSync(data));
      } catch (e) {
        throw new DecompressError('gzip', (e as Error).message);
      }
    case 'xz':
      return xzDecompress(data);
    case 'lz4':
      return lz4LegacyDecompress(data);
    case 'lz4-frame':
      return lz4FrameDecompress(data);
    case 'zstd':
      return zstdDecompress(data, sizeHint !== undefined ? { sizeHint } : undefined);
    case 'bzip2':
    case 'lzo':
    case 'lzma':
      throw new UserError(
        `${kind}-compressed kernels are not supported (supported: gzip, xz, lz4, zstd); decompress it to a plain ELF first`,
      );
  }
}
