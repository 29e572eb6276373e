/**
 * cpio "newc" (SVR4 without CRC) archive writer: the format the Linux kernel
 * unpacks as an initramfs (Documentation/driver-api/early-userspace/buffer-format.rst).
 */

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;

export interface CpioEntry {
  /** Path inside the archive, without a leading "/" (e.g. "bin/busybox"). */
  name: string;
  /** Full st_mode: file type bits | permissions. */
  mode: number;
  /** File contents, or the link target for a symlink. */
  data?: Uint8Array | string;
  uid?: number;
  gid?: number;
  mtime?: number;
  /** Device numbers for character/block special files. */
  rdevMajor?: number;
  rdevMinor?: number;
}

const HEADER_LEN = 110;
const enc = new TextEncoder();

function hex8(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`cpio field out of range: ${n}`);
  return n.toString(16).padStart(8, '0');
}

const pad4 = (n: number): number => (4 - (n & 3)) & 3;

/** Build a newc archive; entries are written in the order given, then the TRAILER!!! entry. */
export function writeCpio(entries: CpioEntry[]): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const push = (b: Uint8Array): void => {
    chunks.push(b);
    total += b.length;
  };
  let ino = 1;
  const all = [...entries, { name: 'TRAILER!!!', mode: 0, data: new Uint8Array(0) } as CpioEntry];
  for (const e of all) {
    const trailer = e.name === 'TRAILER!!!';
    const name = enc.encode(e.name.replace(/^\/+/, '') + '\0');
    const data = typeof e.data === 'string' ? enc.encode(e.data) : (e.data ?? new Uint8Array(0));
    const isDir = (e.mode & S_IFMT) === S_IFDIR;
    const fields = [
      trailer ? 0 : ino++,
      e.mode,
      e.uid ?? 0,
      e.gid ?? 0,
      isDir ? 2 : 1, // nlink
      e.mtime ?? 0,
      data.length,
      0, // devmajor
      0, // devminor
      e.rdevMajor ?? 0,
      e.rdevMinor ?? 0,
      name.length,
      0, // check
    ];
    const header = enc.encode('070701' + fields.map(hex8).join(''));
    push(header);
    push(name);
    push(new Uint8Array(pad4(HEADER_LEN + name.length)));
    push(data);
    push(new Uint8Array(pad4(data.length)));
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

export interface CpioReadEntry {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  rdevMajor: number;
  rdevMinor: number;
  data: Uint8Array;
}

/** Read a newc archive (used by tests and `inspect`-style tools). */
export function readCpio(buf: Uint8Array): CpioReadEntry[] {
  const dec = new TextDecoder();
  const out: CpioReadEntry[] = [];
  let o = 0;
  for (;;) {
    if (o + HEADER_LEN > buf.length) throw new Error(`cpio: truncated header at byte ${o}`);
    const h = dec.decode(buf.subarray(o, o + HEADER_LEN));
    if (!h.startsWith('070701')) throw new Error(`cpio: bad magic at byte ${o}`);
    const f = (i: number): number => parseInt(h.slice(6 + i * 8, 14 + i * 8), 16);
    const namesize = f(11);
    const filesize = f(6);
    const nameStart = o + HEADER_LEN;
    const name = dec.decode(buf.subarray(nameStart, nameStart + namesize - 1));
    const dataStart = nameStart + namesize + pad4(HEADER_LEN + namesize);
    if (dataStart + filesize > buf.length) throw new Error(`cpio: truncated data of ${name}`);
    if (name === 'TRAILER!!!') break;
    out.push({
      name,
      mode: f(1),
      uid: f(2),
      gid: f(3),
      rdevMajor: f(9),
      rdevMinor: f(10),
      data: buf.subarray(dataStart, dataStart + filesize),
    });
    o = dataStart + filesize + pad4(filesize);
  }
  return out;
}
