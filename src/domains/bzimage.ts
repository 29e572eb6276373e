/**
 * The x86 boot protocol's bzImage container (Documentation/x86/boot.rst):
 * a real-mode setup part, then the protected-mode part holding a compressed
 * vmlinux ELF as its payload (boot protocol >= 2.08 tells us where).
 */
import { UserError } from '../errors.ts';

/** Setup-header offsets, named as in the boot protocol document. */
export const SETUP_HDR = {
  setup_sects: 0x1f1,
  boot_flag: 0x1fe, // 0xAA55
  header: 0x202, // "HdrS"
  version: 0x206,
  payload_offset: 0x248,
  payload_length: 0x24c,
} as const;

const HDRS_MAGIC = 0x53726448; // "HdrS" little-endian

export interface BzImage {
  /** Boot protocol version, e.g. 0x020f. */
  version: number;
  setupSects: number;
  /** File offset of the protected-mode kernel. */
  protectedModeStart: number;
  /** The compressed payload, including the 4-byte uncompressed-size trailer Linux appends. */
  payload: Uint8Array;
  payloadFileOffset: number;
}

export function isBzImage(data: Uint8Array): boolean {
  if (data.length < 0x250) return false;
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return dv.getUint16(SETUP_HDR.boot_flag, true) === 0xaa55 && dv.getUint32(SETUP_HDR.header, true) === HDRS_MAGIC;
}

export function parseBzImage(data: Uint8Array): BzImage {
  if (!isBzImage(data)) throw new UserError('not a bzImage (no 0xAA55 boot flag / "HdrS" setup header)');
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const version = dv.getUint16(SETUP_HDR.version, true);
  if (version < 0x0208) {
    throw new UserError(
      `bzImage boot protocol ${fmtVersion(version)} is too old: a payload pointer needs 2.08 or later`,
    );
  }
  let setupSects = data[SETUP_HDR.setup_sects]!;
  if (setupSects === 0) setupSects = 4; // as the boot protocol says
  const protectedModeStart = (setupSects + 1) * 512;
  const payloadOffset = dv.getUint32(SETUP_HDR.payload_offset, true);
  const payloadLength = dv.getUint32(SETUP_HDR.payload_length, true);
  const payloadFileOffset = protectedModeStart + payloadOffset;
  if (payloadLength === 0) throw new UserError('bzImage has an empty payload');
  if (payloadFileOffset + payloadLength > data.length) {
    throw new UserError(
      `truncated bzImage: payload ends at byte ${payloadFileOffset + payloadLength} but the file has ${data.length} bytes`,
    );
  }
  return {
    version,
    setupSects,
    protectedModeStart,
    payload: data.subarray(payloadFileOffset, payloadFileOffset + payloadLength),
    payloadFileOffset,
  };
}

export function fmtVersion(v: number): string {
  return `${v >>> 8}.${(v & 0xff).toString().padStart(2, '0')}`;
}
