/**
 * Open file descriptions for the user-mode Linux layer: host files (read and
 * written with synchronous fs calls; positions kept here for files we open,
 * the kernel's own position for inherited stdio descriptors), directories
 * (for getdents64), and in-process pipes. The descriptor table maps guest
 * fd numbers to shared descriptions, as dup() does.
 */
import * as fs from 'node:fs';
import { isatty } from 'node:tty';
import { constants as osConstants } from 'node:os';

export const EPERM = 1, ENOENT = 2, ESRCH = 3, EINTR = 4, EIO = 5, EBADF = 9, ECHILD = 10, EAGAIN = 11, ENOMEM = 12;
export const EACCES = 13, EFAULT = 14, EEXIST = 17, ENOTDIR = 20, EISDIR = 21, EINVAL = 22, EMFILE = 24, ENOTTY = 25;
export const ESPIPE = 29, EPIPE = 32, ERANGE = 34, ENAMETOOLONG = 36, ENOSYS = 38, ENOTEMPTY = 39, ETIMEDOUT = 110;
export const EDEADLK = 35, EOPNOTSUPP = 95;

/** open(2) flags (x86-64 values). */
export const O_ACCMODE = 3, O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40, O_EXCL = 0x80, O_NOCTTY = 0x100;
export const O_TRUNC = 0x200, O_APPEND = 0x400, O_NONBLOCK = 0x800, O_DIRECTORY = 0x10000, O_NOFOLLOW = 0x20000;
export const O_CLOEXEC = 0x80000, O_PATH = 0x200000, O_TMPFILE = 0x410000;

/** st_mode file types. */
export const S_IFMT = 0o170000, S_IFIFO = 0o010000, S_IFCHR = 0o020000, S_IFDIR = 0o040000, S_IFREG = 0o100000;

/** errno of a Node fs error (the host is Linux, so its numbers are the guest's). */
export function errnoOf(e: unknown): number {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code && code in osConstants.errno) return (osConstants.errno as Record<string, number>)[code]!;
  if (code === 'EOF') return 0;
  const n = (e as NodeJS.ErrnoException)?.errno;
  return typeof n === 'number' && n < 0 ? -n : EIO;
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));
export function sleepMs(ms: number): void {
  if (ms > 0) Atomics.wait(sleepCell, 0, 0, ms);
}

/** What fstat needs, in the units Linux reports. */
export interface StatInfo {
  dev: bigint;
  ino: bigint;
  mode: number;
  nlink: bigint;
  uid: number;
  gid: number;
  rdev: bigint;
  size: bigint;
  blksize: bigint;
  blocks: bigint;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  birthtimeNs: bigint;
}

export function statInfo(s: fs.BigIntStats): StatInfo {
  return {
    dev: s.dev, ino: s.ino, mode: Number(s.mode), nlink: s.nlink, uid: Number(s.uid), gid: Number(s.gid), rdev: s.rdev,
    size: s.size, blksize: s.blksize, blocks: s.blocks, atimeNs: s.atimeNs, mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs,
    birthtimeNs: s.birthtimeNs,
  };
}

/** An open file description. Results are byte counts or -errno. */
export abstract class OpenFile {
  refs = 1;
  /** Access mode and status flags (O_APPEND, O_NONBLOCK). */
  flags: number;
  /** Host path, when known (openat relative to a directory fd, /proc/self/fd links). */
  path: string | undefined;
  constructor(flags: number, path?: string) {
    this.flags = flags;
    this.path = path;
  }
  get readable(): boolean {
    return (this.flags & O_ACCMODE) !== O_WRONLY;
  }
  get writable(): boolean {
    return (this.flags & O_ACCMODE) !== O_RDONLY;
  }
  abstract read(buf: Uint8Array, len: number): number;
  abstract write(buf: Uint8Array, len: number): number;
  pread(_buf: Uint8Array, _len: number, _pos: number): number {
    return -ESPIPE;
  }
  pwrite(_buf: Uint8Array, _len: number, _pos: number): number {
    return -ESPIPE;
  }
  seek(_off: number, _whence: number): number {
    return -ESPIPE;
  }
  abstract stat(): StatInfo | number;
  isTty(): boolean {
    return false;
  }
  /** Host fd, for fs calls on the description (ftruncate, fchmod, …); -1 if none. */
  get hostFd(): number {
    return -1;
  }
  /** For poll: data (or EOF) can be read now without blocking. */
  pollIn(): boolean {
    return true;
  }
  close(): void {}
}

/** A file on the host. `own` descriptors track their position here (pread/pwrite); inherited ones use the kernel's. */
export class HostFile extends OpenFile {
  pos = 0;
  readonly fd: number;
  readonly seekable: boolean;
  private readonly own: boolean;
  private tty: boolean | undefined;
  /** Directory listing for getdents64, taken at the first call. */
  dirents: Array<{ name: string; type: number; ino: bigint }> | undefined;
  direntPos = 0;
  readonly isDir: boolean;

  constructor(fd: number, flags: number, path: string | undefined, own: boolean) {
    super(flags, path);
    this.fd = fd;
    this.own = own;
    let mode = 0;
    try {
      mode = fs.fstatSync(fd).mode;
    } catch {
      /* a closed stdio descriptor: every call will fail with EBADF */
    }
    const type = mode & S_IFMT;
    this.isDir = type === S_IFDIR;
    this.seekable = own && (type === S_IFREG || type === 0o060000 || type === S_IFDIR);
  }

  override get hostFd(): number {
    return this.fd;
  }

  override isTty(): boolean {
    return (this.tty ??= isatty(this.fd));
  }

  read(buf: Uint8Array, len: number): number {
    if (this.isDir) return -EISDIR;
    if (this.seekable) {
      const n = this.pread(buf, len, this.pos);
      if (n > 0) this.pos += n;
      return n;
    }
    for (;;) {
      try {
        return fs.readSync(this.fd, buf, 0, len, null);
      } catch (e) {
        const err = errnoOf(e);
        if (err === 0) return 0;
        if (err === EAGAIN && !(this.flags & O_NONBLOCK)) {
          sleepMs(2);
          continue;
        }
        return -err;
      }
    }
  }

  write(buf: Uint8Array, len: number): number {
    if (this.seekable && !(this.flags & O_APPEND)) {
      const n = this.pwrite(buf, len, this.pos);
      if (n > 0) this.pos += n;
      return n;
    }
    let done = 0;
    while (done < len) {
      try {
        done += fs.writeSync(this.fd, buf, done, len - done, null);
      } catch (e) {
        const err = errnoOf(e);
        if (err === EAGAIN && !(this.flags & O_NONBLOCK)) {
          sleepMs(1);
          continue;
        }
        if (done > 0) break;
        return -err;
      }
    }
    if (this.seekable) this.pos = Number(fs.fstatSync(this.fd, { bigint: true }).size);
    return done;
  }

  override pread(buf: Uint8Array, len: number, pos: number): number {
    if (this.isDir) return -EISDIR;
    if (!this.seekable) return -ESPIPE;
    let done = 0;
    try {
      while (done < len) {
        const n = fs.readSync(this.fd, buf, done, len - done, pos + done);
        if (n === 0) break;
        done += n;
      }
    } catch (e) {
      if (done === 0) return -errnoOf(e);
    }
    return done;
  }

  override pwrite(buf: Uint8Array, len: number, pos: number): number {
    if (!this.seekable) return -ESPIPE;
    let done = 0;
    try {
      while (done < len) done += fs.writeSync(this.fd, buf, done, len - done, pos + done);
    } catch (e) {
      if (done === 0) return -errnoOf(e);
    }
    return done;
  }

  override seek(off: number, whence: number): number {
    if (!this.seekable) return -ESPIPE;
    let base: number;
    switch (whence) {
      case 0: base = 0; break;
      case 1: base = this.pos; break;
      case 2: {
        const st = this.stat();
        if (typeof st === 'number') return st;
        base = Number(st.size);
        break;
      }
      default: return -EINVAL;
    }
    const p = base + off;
    if (p < 0) return -EINVAL;
    this.pos = p;
    if (this.isDir) {
      // Directory offsets are getdents64's d_off cookies: the index of the next entry.
      if (p === 0) this.dirents = undefined;
      this.direntPos = p;
    }
    return p;
  }

  stat(): StatInfo | number {
    try {
      return statInfo(fs.fstatSync(this.fd, { bigint: true }));
    } catch (e) {
      return -errnoOf(e);
    }
  }

  override pollIn(): boolean {
    return true;
  }

  override close(): void {
    if (this.own) {
      try {
        fs.closeSync(this.fd);
      } catch {
        /* already gone */
      }
    }
  }
}

/** A read-only file whose bytes we make up (/proc/self/maps, /proc/self/cmdline). */
export class MemFile extends OpenFile {
  pos = 0;
  constructor(
    readonly data: Uint8Array,
    path: string,
  ) {
    super(O_RDONLY, path);
  }
  read(buf: Uint8Array, len: number): number {
    const n = this.pread(buf, len, this.pos);
    this.pos += n;
    return n;
  }
  write(): number {
    return -EBADF;
  }
  override pread(buf: Uint8Array, len: number, pos: number): number {
    const n = Math.max(0, Math.min(len, this.data.length - pos));
    buf.set(this.data.subarray(pos, pos + n));
    return n;
  }
  override seek(off: number, whence: number): number {
    const base = whence === 0 ? 0 : whence === 1 ? this.pos : whence === 2 ? this.data.length : NaN;
    if (Number.isNaN(base) || base + off < 0) return -EINVAL;
    return (this.pos = base + off);
  }
  stat(): StatInfo {
    const now = BigInt(Date.now()) * 1000000n;
    return {
      dev: 0x16n, ino: 4026531840n, mode: S_IFREG | 0o444, nlink: 1n, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0,
      rdev: 0n, size: 0n, blksize: 1024n, blocks: 0n, atimeNs: now, mtimeNs: now, ctimeNs: now, birthtimeNs: 0n,
    };
  }
}

/** An in-process pipe's buffer, shared by its two ends. */
export class PipeBuffer {
  chunks: Uint8Array[] = [];
  size = 0;
  readers = 0;
  writers = 0;
  readonly ino = BigInt(100000 + Math.floor(Math.random() * 100000));
}

export class PipeEnd extends OpenFile {
  constructor(readonly pipe: PipeBuffer, readonly isWrite: boolean, flags: number) {
    super((isWrite ? O_WRONLY : O_RDONLY) | (flags & O_NONBLOCK));
    if (isWrite) pipe.writers++;
    else pipe.readers++;
  }

  read(buf: Uint8Array, len: number): number {
    if (this.isWrite) return -EBADF;
    const p = this.pipe;
    if (p.size === 0) return p.writers === 0 ? 0 : -EAGAIN; // nobody else could ever fill it: never block
    let done = 0;
    while (done < len && p.chunks.length) {
      const c = p.chunks[0]!;
      const n = Math.min(c.length, len - done);
      buf.set(c.subarray(0, n), done);
      done += n;
      if (n === c.length) p.chunks.shift();
      else p.chunks[0] = c.subarray(n);
    }
    p.size -= done;
    return done;
  }

  write(buf: Uint8Array, len: number): number {
    if (!this.isWrite) return -EBADF;
    if (this.pipe.readers === 0) return -EPIPE;
    this.pipe.chunks.push(buf.slice(0, len));
    this.pipe.size += len;
    return len;
  }

  stat(): StatInfo {
    const now = BigInt(Date.now()) * 1000000n;
    return {
      dev: 0xcn, ino: this.pipe.ino, mode: S_IFIFO | 0o600, nlink: 1n, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0,
      rdev: 0n, size: 0n, blksize: 4096n, blocks: 0n, atimeNs: now, mtimeNs: now, ctimeNs: now, birthtimeNs: 0n,
    };
  }

  override pollIn(): boolean {
    return this.pipe.size > 0 || this.pipe.writers === 0;
  }

  override close(): void {
    if (this.isWrite) this.pipe.writers--;
    else this.pipe.readers--;
  }
}

export interface FdEntry {
  file: OpenFile;
  cloexec: boolean;
}

export const MAX_FDS = 1024;

/** The descriptor table. */
export class FdTable {
  readonly fds: Array<FdEntry | undefined> = [];

  get(fd: number): OpenFile | undefined {
    return fd >= 0 ? this.fds[fd]?.file : undefined;
  }

  /** Install at the lowest free number >= min; returns the fd or -EMFILE. */
  add(file: OpenFile, cloexec = false, min = 0): number {
    for (let fd = min; fd < MAX_FDS; fd++) {
      if (!this.fds[fd]) {
        this.fds[fd] = { file, cloexec };
        return fd;
      }
    }
    return -EMFILE;
  }

  /** Put `file` at `fd` (closing what was there), taking a reference. */
  set(fd: number, file: OpenFile, cloexec: boolean): void {
    if (this.fds[fd]) this.close(fd);
    file.refs++;
    this.fds[fd] = { file, cloexec };
  }

  close(fd: number): number {
    const e = fd >= 0 ? this.fds[fd] : undefined;
    if (!e) return -EBADF;
    this.fds[fd] = undefined;
    if (--e.file.refs === 0) e.file.close();
    return 0;
  }

  closeAll(): void {
    for (let fd = 0; fd < this.fds.length; fd++) if (this.fds[fd]) this.close(fd);
  }
}
