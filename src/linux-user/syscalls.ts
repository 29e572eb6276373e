/**
 * The Linux system-call layer for one single-threaded x86-64 process. The
 * CPU stops with Exit.Syscall after a `syscall` instruction; `handle()`
 * reads the number from RAX and the arguments from RDI, RSI, RDX, R10, R8,
 * R9, performs the call against the host (files, time, randomness) or the
 * emulated process state (memory map, descriptors, signal dispositions), and
 * leaves the result in RAX (-errno on failure), with RCX = the return RIP and
 * R11 = RFLAGS as the kernel's syscall entry leaves them.
 *
 * Structures are written exactly as x86-64 Linux lays them out (struct stat,
 * statx, utsname, timespec, rlimit, sysinfo, linux_dirent64, …).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { randomFillSync } from 'node:crypto';
import { resolve as resolvePath } from 'node:path';
import type { Cpu } from '../cpu/cpu.ts';
import { R10, R11, R8, R9, RAX, RCX, RDI, RDX, RF, RSI } from '../cpu/state.ts';
import { AddressSpace, GuestFault, PAGE, PROT_EXEC, PROT_READ, PROT_WRITE, STACK_LIMIT, pageUp } from './address-space.ts';
import {
  EACCES, EAGAIN, EBADF, ECHILD, EEXIST, EFAULT, EINVAL, ENAMETOOLONG, ENOENT, ENOMEM, ENOSYS, ENOTDIR,
  ENOTTY, EPERM, EPIPE, ERANGE, ESPIPE, ESRCH, ETIMEDOUT, FdTable, HostFile, MemFile, O_ACCMODE, O_APPEND, O_CLOEXEC, O_CREAT,
  O_DIRECTORY, O_NONBLOCK, O_PATH, O_RDONLY, O_WRONLY, OpenFile, PipeBuffer, PipeEnd, errnoOf, sleepMs,
  statInfo, type StatInfo,
} from './files.ts';
import { SYSCALL_NAMES } from './syscall-names.ts';

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100, AT_REMOVEDIR = 0x200, AT_EMPTY_PATH = 0x1000;

/** Signal numbers and names (x86-64). */
export const SIGNAL_NAMES: Record<number, string> = {
  1: 'SIGHUP', 2: 'SIGINT', 3: 'SIGQUIT', 4: 'SIGILL', 5: 'SIGTRAP', 6: 'SIGABRT', 7: 'SIGBUS', 8: 'SIGFPE', 9: 'SIGKILL',
  10: 'SIGUSR1', 11: 'SIGSEGV', 12: 'SIGUSR2', 13: 'SIGPIPE', 14: 'SIGALRM', 15: 'SIGTERM', 16: 'SIGSTKFLT', 17: 'SIGCHLD',
  18: 'SIGCONT', 19: 'SIGSTOP', 20: 'SIGTSTP', 21: 'SIGTTIN', 22: 'SIGTTOU', 23: 'SIGURG', 24: 'SIGXCPU', 25: 'SIGXFSZ',
  26: 'SIGVTALRM', 27: 'SIGPROF', 28: 'SIGWINCH', 29: 'SIGIO', 30: 'SIGPWR', 31: 'SIGSYS',
};
const SIGPIPE = 13;
/** Signals whose default action is to be ignored. */
const SIG_DEFAULT_IGNORE = new Set([17, 18, 23, 28]);

/** The process ended: exit status (0-255), or the signal that killed it. */
export class ProcessExit {
  constructor(
    readonly status: number,
    readonly signal = 0,
    readonly message = '',
  ) {}
}

export interface KernelOptions {
  /** Absolute host path of the executable (/proc/self/exe). */
  exePath: string;
  /** Host descriptors for the guest's 0, 1, 2. */
  stdio: [number, number, number];
  /** Log every unimplemented syscall (once per number), and every call when 'all'. */
  trace: boolean | 'all';
  log: (line: string) => void;
  /** Working directory for relative paths (default: the host's). */
  cwd?: string;
  /** The process's arguments and environment (for /proc/self/cmdline and environ). */
  argv?: string[];
  env?: string[];
}

const enc = new TextEncoder();
const dec = new TextDecoder();

const MAX_IO = 1 << 22;

/** 64-bit value → (lo, hi) halves into a DataView. */
function setU64(dv: DataView, off: number, v: number | bigint): void {
  const b = BigInt.asUintN(64, typeof v === 'bigint' ? v : BigInt(Math.trunc(v)));
  dv.setBigUint64(off, b, true);
}

export class LinuxKernel {
  readonly fds = new FdTable();
  readonly pid: number;
  readonly ppid: number;
  readonly uid: number;
  readonly gid: number;
  cwd: string;
  umaskValue = 0o022;
  private readonly sigactions = new Map<number, Uint8Array>();
  private sigmask = 0n;
  private altstack: Uint8Array = new Uint8Array(24);
  private readonly warned = new Set<number>();
  /** Scratch buffer for I/O. */
  private scratch = new Uint8Array(1 << 16);
  private readonly startNs = process.hrtime.bigint();
  private readonly tid: number;

  constructor(
    readonly cpu: Cpu,
    readonly as: AddressSpace,
    readonly opts: KernelOptions,
  ) {
    this.pid = process.pid;
    this.ppid = process.ppid;
    this.tid = this.pid;
    this.uid = process.getuid?.() ?? 0;
    this.gid = process.getgid?.() ?? 0;
    this.cwd = opts.cwd ?? process.cwd();
    new DataView(this.altstack.buffer).setInt32(8, 2, true); // SS_DISABLE
    for (let fd = 0; fd < 3; fd++) {
      const host = opts.stdio[fd]!;
      // O_RDWR, like a terminal's descriptors: the host says no if the direction is wrong.
      this.fds.add(new HostFile(host, 2, undefined, false), false, fd);
    }
  }

  // ---------------------------------------------------------------- argument access

  private argU(n: number): number {
    const r = this.cpu.r;
    return (r[2 * n]! >>> 0) + (r[2 * n + 1]! >>> 0) * 4294967296;
  }
  private argS(n: number): number {
    const r = this.cpu.r;
    return (r[2 * n]! >>> 0) + r[2 * n + 1]! * 4294967296;
  }
  private argI(n: number): number {
    return this.cpu.r[2 * n]!;
  }

  /** Handle the syscall the CPU just stopped at. Throws ProcessExit when the process ends. */
  handle(): void {
    const c = this.cpu;
    const nr = this.argU(RAX);
    let res: number;
    try {
      res = this.dispatch(nr);
    } catch (e) {
      if (e instanceof GuestFault) res = -EFAULT;
      else if (e instanceof SysError) res = -e.errno;
      else throw e;
    }
    if (this.opts.trace === 'all') this.opts.log(`syscall ${SYSCALL_NAMES[nr] ?? nr}(${[RDI, RSI, RDX, R10, R8, R9].map((r) => '0x' + c.getReg64n(r).toString(16)).join(', ')}) = ${res < 0 && res > -4096 ? `-${errName(-res)}` : '0x' + res.toString(16)}`);
    const hi = Math.floor(res / 4294967296);
    const lo = (res - hi * 4294967296) | 0;
    c.setReg64(RAX, lo, hi | 0);
    c.setReg64(RCX, c.ripLo, c.ripHi);
    c.setReg64(R11, c.getFlags() & ~RF, 0);
  }

  private nosys(nr: number): number {
    if (this.opts.trace && !this.warned.has(nr)) {
      this.warned.add(nr);
      this.opts.log(`unimplemented syscall ${nr} (${SYSCALL_NAMES[nr] ?? 'unknown'}) → ENOSYS`);
    }
    return -ENOSYS;
  }

  private dispatch(nr: number): number {
    const a0 = RDI, a1 = RSI, a2 = RDX, a3 = R10, a4 = R8, a5 = R9;
    switch (nr) {
      case 0: return this.read(this.argI(a0), this.argU(a1), this.argU(a2));
      case 1: return this.write(this.argI(a0), this.argU(a1), this.argU(a2));
      case 2: return this.openat(AT_FDCWD, this.argU(a0), this.argI(a1), this.argI(a2));
      case 3: return this.fds.close(this.argI(a0));
      case 4: return this.statPath(AT_FDCWD, this.argU(a0), this.argU(a1), 0);
      case 5: return this.fstat(this.argI(a0), this.argU(a1));
      case 6: return this.statPath(AT_FDCWD, this.argU(a0), this.argU(a1), AT_SYMLINK_NOFOLLOW);
      case 7: return this.poll(this.argU(a0), this.argU(a1));
      case 8: return this.lseek(this.argI(a0), this.argS(a1), this.argI(a2));
      case 9: return this.mmap(this.argU(a0), this.argU(a1), this.argI(a2), this.argI(a3), this.argI(a4), this.argU(a5));
      case 10: return this.mprotect(this.argU(a0), this.argU(a1), this.argI(a2));
      case 11: return this.munmap(this.argU(a0), this.argU(a1));
      case 12: return this.as.setBrk(this.argU(a0));
      case 13: return this.rtSigaction(this.argI(a0), this.argU(a1), this.argU(a2), this.argU(a3));
      case 14: return this.rtSigprocmask(this.argI(a0), this.argU(a1), this.argU(a2), this.argU(a3));
      case 16: return this.ioctl(this.argI(a0), this.argU(a1) >>> 0, this.argU(a2));
      case 17: return this.pread(this.argI(a0), this.argU(a1), this.argU(a2), this.argS(a3));
      case 18: return this.pwrite(this.argI(a0), this.argU(a1), this.argU(a2), this.argS(a3));
      case 19: return this.readv(this.argI(a0), this.argU(a1), this.argI(a2));
      case 20: return this.writev(this.argI(a0), this.argU(a1), this.argI(a2));
      case 21: return this.faccessat(AT_FDCWD, this.argU(a0), this.argI(a1));
      case 22: return this.pipe2(this.argU(a0), 0);
      case 24: return 0; // sched_yield
      case 25: return this.mremap(this.argU(a0), this.argU(a1), this.argU(a2), this.argI(a3), this.argU(a4));
      case 26: return 0; // msync: private mappings only
      case 28: return 0; // madvise
      case 32: return this.dup(this.argI(a0));
      case 33: return this.dup3(this.argI(a0), this.argI(a1), 0, true);
      case 35: return this.nanosleep(this.argU(a0), this.argU(a1));
      case 37: return 0; // alarm: no signals are delivered
      case 39: return this.pid;
      case 40: return this.sendfile(this.argI(a0), this.argI(a1), this.argU(a2), this.argU(a3));
      case 56: case 57: case 58: case 59: return this.nosys(nr); // clone, fork, vfork, execve
      case 60: throw new ProcessExit(this.argI(a0) & 0xff);
      case 61: return -ECHILD; // wait4
      case 62: return this.kill(this.argI(a0), this.argI(a1));
      case 63: return this.uname(this.argU(a0));
      case 72: return this.fcntl(this.argI(a0), this.argI(a1), this.argU(a2));
      case 73: return this.fds.get(this.argI(a0)) ? 0 : -EBADF; // flock
      case 74: case 75: return this.fds.get(this.argI(a0)) ? 0 : -EBADF; // fsync, fdatasync
      case 76: return this.pathCall(AT_FDCWD, this.argU(a0), (p) => fs.truncateSync(p, this.argS(a1)));
      case 77: return this.fdCall(this.argI(a0), (fd) => fs.ftruncateSync(fd, this.argS(a1)));
      case 79: return this.getcwd(this.argU(a0), this.argU(a1));
      case 80: return this.chdir(this.argU(a0));
      case 81: return this.fchdir(this.argI(a0));
      case 82: return this.renameat(AT_FDCWD, this.argU(a0), AT_FDCWD, this.argU(a1));
      case 83: return this.pathCall(AT_FDCWD, this.argU(a0), (p) => fs.mkdirSync(p, this.argI(a1) & ~this.umaskValue & 0o7777));
      case 84: return this.pathCall(AT_FDCWD, this.argU(a0), (p) => fs.rmdirSync(p));
      case 85: return this.openat(AT_FDCWD, this.argU(a0), 0x241 /* O_CREAT|O_WRONLY|O_TRUNC */, this.argI(a1));
      case 86: return this.linkat(AT_FDCWD, this.argU(a0), AT_FDCWD, this.argU(a1));
      case 87: return this.pathCall(AT_FDCWD, this.argU(a0), (p) => fs.unlinkSync(p));
      case 88: return this.symlinkat(this.argU(a0), AT_FDCWD, this.argU(a1));
      case 89: return this.readlinkat(AT_FDCWD, this.argU(a0), this.argU(a1), this.argU(a2));
      case 90: return this.pathCall(AT_FDCWD, this.argU(a0), (p) => fs.chmodSync(p, this.argI(a1) & 0o7777));
      case 91: return this.fdCall(this.argI(a0), (fd) => fs.fchmodSync(fd, this.argI(a1) & 0o7777));
      case 92: case 93: case 94: return 0; // chown family: pretend success
      case 95: { const old = this.umaskValue; this.umaskValue = this.argI(a0) & 0o777; return old; }
      case 96: return this.gettimeofday(this.argU(a0), this.argU(a1));
      case 97: return this.prlimit(0, this.argI(a0), 0, this.argU(a1));
      case 98: return this.getrusage(this.argU(a1));
      case 99: return this.sysinfo(this.argU(a0));
      case 100: return this.times(this.argU(a0));
      case 102: case 107: return this.uid;
      case 104: case 108: return this.gid;
      case 105: case 106: case 113: case 114: case 117: case 119: return 0; // set*id
      case 109: return 0; // setpgid
      case 110: return this.ppid;
      case 111: case 121: case 124: return this.pid; // getpgrp, getpgid, getsid
      case 112: return this.pid; // setsid
      case 115: return 0; // getgroups: none
      case 118: case 120: return this.getresid(nr === 118 ? this.uid : this.gid, this.argU(a0), this.argU(a1), this.argU(a2));
      case 131: return this.sigaltstack(this.argU(a0), this.argU(a1));
      case 132: case 235: return this.utimens(nr, AT_FDCWD, this.argU(a0), this.argU(a1));
      case 280: return this.utimens(nr, this.argI(a0), this.argU(a1), this.argU(a2));
      case 135: return 0; // personality: PER_LINUX
      case 137: return this.statfs(this.argU(a0), -1, this.argU(a1));
      case 138: return this.statfs(0, this.argI(a0), this.argU(a1));
      case 140: return 20; // getpriority: nice 0
      case 141: return 0; // setpriority
      case 157: return this.prctl(this.argI(a0), this.argU(a1));
      case 158: return this.archPrctl(this.argI(a0), this.argU(a1));
      case 160: return 0; // setrlimit
      case 186: return this.tid;
      case 200: return this.kill(this.pid, this.argI(a1)); // tkill
      case 201: return this.time(this.argU(a0));
      case 202: return this.futex(this.argU(a0), this.argI(a1), this.argI(a2), this.argU(a3));
      case 203: return 0; // sched_setaffinity
      case 204: return this.schedGetaffinity(this.argU(a1), this.argU(a2));
      case 217: return this.getdents64(this.argI(a0), this.argU(a1), this.argU(a2));
      case 218: return this.tid; // set_tid_address
      case 221: return 0; // fadvise64
      case 228: return this.clockGettime(this.argI(a0), this.argU(a1));
      case 229: return this.clockGetres(this.argU(a1));
      case 230: return this.clockNanosleep(this.argI(a0), this.argI(a1), this.argU(a2), this.argU(a3));
      case 231: throw new ProcessExit(this.argI(a0) & 0xff);
      case 234: return this.kill(this.argI(a0), this.argI(a2)); // tgkill
      case 257: return this.openat(this.argI(a0), this.argU(a1), this.argI(a2), this.argI(a3));
      case 258: return this.pathCall(this.argI(a0), this.argU(a1), (p) => fs.mkdirSync(p, this.argI(a2) & ~this.umaskValue & 0o7777));
      case 260: return 0; // fchownat
      case 262: return this.statPath(this.argI(a0), this.argU(a1), this.argU(a2), this.argI(a3));
      case 263: return this.pathCall(this.argI(a0), this.argU(a1), (p) => (this.argI(a2) & AT_REMOVEDIR ? fs.rmdirSync(p) : fs.unlinkSync(p)));
      case 264: return this.renameat(this.argI(a0), this.argU(a1), this.argI(a2), this.argU(a3));
      case 265: return this.linkat(this.argI(a0), this.argU(a1), this.argI(a2), this.argU(a3));
      case 266: return this.symlinkat(this.argU(a0), this.argI(a1), this.argU(a2));
      case 267: return this.readlinkat(this.argI(a0), this.argU(a1), this.argU(a2), this.argU(a3));
      case 268: return this.pathCall(this.argI(a0), this.argU(a1), (p) => fs.chmodSync(p, this.argI(a2) & 0o7777));
      case 269: case 439: return this.faccessat(this.argI(a0), this.argU(a1), this.argI(a2));
      case 271: return this.poll(this.argU(a0), this.argU(a1)); // ppoll
      case 273: return 0; // set_robust_list
      case 285: return 0; // fallocate
      case 292: return this.dup3(this.argI(a0), this.argI(a1), this.argI(a2), false);
      case 293: return this.pipe2(this.argU(a0), this.argI(a1));
      case 302: return this.prlimit(this.argI(a0), this.argI(a1), this.argU(a2), this.argU(a3));
      case 309: return this.getcpu(this.argU(a0), this.argU(a1));
      case 316: return this.renameat(this.argI(a0), this.argU(a1), this.argI(a2), this.argU(a3), this.argI(a4));
      case 318: return this.getrandom(this.argU(a0), this.argU(a1));
      case 332: return this.statx(this.argI(a0), this.argU(a1), this.argI(a2), this.argU(a4));
      case 334: return -ENOSYS; // rseq: glibc runs without it
      case 436: return this.closeRange(this.argU(a0), this.argU(a1));
      default: return this.nosys(nr);
    }
  }

  // ---------------------------------------------------------------- paths

  private path(addr: number): string {
    let b: Uint8Array;
    try {
      b = this.as.readCString(addr, 4096);
    } catch (e) {
      if (e instanceof GuestFault && e.addr !== addr) throw new SysError(ENAMETOOLONG);
      throw e;
    }
    return dec.decode(b);
  }

  /** Resolve a guest path against dirfd (AT_FDCWD or an open directory). */
  private resolveAt(dirfd: number, p: string): string {
    if (p === '/proc/self/exe') return this.opts.exePath;
    if (p.startsWith('/')) return p;
    let base = this.cwd;
    if (dirfd !== AT_FDCWD) {
      const f = this.fds.get(dirfd);
      if (!f) throw new SysError(EBADF);
      if (!f.path) throw new SysError(ENOTDIR);
      base = f.path;
    }
    return p === '' ? base : resolvePath(base, p);
  }

  private pathCall(dirfd: number, addr: number, fn: (p: string) => void): number {
    return this.guard(() => {
      const p = this.path(addr);
      if (p === '') return -ENOENT;
      fn(this.resolveAt(dirfd, p));
      return 0;
    });
  }

  private fdCall(fd: number, fn: (hostFd: number) => void): number {
    const f = this.fds.get(fd);
    if (!f) return -EBADF;
    if (f.hostFd < 0) return -EINVAL;
    return this.guard(() => {
      fn(f.hostFd);
      return 0;
    });
  }

  /** Run host fs calls, turning their errors into -errno. */
  private guard(fn: () => number): number {
    try {
      return fn();
    } catch (e) {
      if (e instanceof SysError) return -e.errno;
      if (e instanceof GuestFault || e instanceof ProcessExit) throw e;
      return -errnoOf(e);
    }
  }

  // ---------------------------------------------------------------- I/O

  private buf(n: number): Uint8Array {
    if (this.scratch.length < n) this.scratch = new Uint8Array(Math.max(n, this.scratch.length * 2));
    return this.scratch;
  }

  private read(fd: number, addr: number, count: number): number {
    const f = this.fds.get(fd);
    if (!f || !f.readable) return -EBADF;
    if (count === 0) return 0;
    count = Math.min(count, MAX_IO);
    this.as.checkWritable(addr, count);
    const b = this.buf(count);
    const n = f.read(b, count);
    if (n > 0) this.as.write(addr, b, n);
    return n;
  }

  private write(fd: number, addr: number, count: number): number {
    const f = this.fds.get(fd);
    if (!f || !f.writable) return -EBADF;
    if (count === 0) return 0;
    count = Math.min(count, MAX_IO);
    const b = this.as.read(addr, count, this.buf(count));
    return this.sigpipe(f.write(b, count));
  }

  /** EPIPE raises SIGPIPE, whose default action ends the process. */
  private sigpipe(n: number): number {
    if (n === -EPIPE && this.disposition(SIGPIPE) === 0n) throw new ProcessExit(128 + SIGPIPE, SIGPIPE);
    return n;
  }

  private pread(fd: number, addr: number, count: number, pos: number): number {
    const f = this.fds.get(fd);
    if (!f || !f.readable) return -EBADF;
    if (pos < 0) return -EINVAL;
    count = Math.min(count, MAX_IO);
    this.as.checkWritable(addr, count);
    const b = this.buf(count);
    const n = f.pread(b, count, pos);
    if (n > 0) this.as.write(addr, b, n);
    return n;
  }

  private pwrite(fd: number, addr: number, count: number, pos: number): number {
    const f = this.fds.get(fd);
    if (!f || !f.writable) return -EBADF;
    if (pos < 0) return -EINVAL;
    count = Math.min(count, MAX_IO);
    const b = this.as.read(addr, count, this.buf(count));
    return f.pwrite(b, count, pos);
  }

  private iovecs(iov: number, cnt: number): Array<[number, number]> {
    if (cnt < 0 || cnt > 1024) throw new SysError(EINVAL);
    const raw = this.as.read(iov, cnt * 16);
    const dv = new DataView(raw.buffer);
    const out: Array<[number, number]> = [];
    for (let k = 0; k < cnt; k++) {
      const base = dv.getUint32(k * 16, true) + dv.getUint32(k * 16 + 4, true) * 4294967296;
      const len = dv.getUint32(k * 16 + 8, true) + dv.getUint32(k * 16 + 12, true) * 4294967296;
      out.push([base, len]);
    }
    return out;
  }

  private readv(fd: number, iov: number, cnt: number): number {
    const f = this.fds.get(fd);
    if (!f || !f.readable) return -EBADF;
    return this.guard(() => {
      let total = 0;
      for (const [base, len] of this.iovecs(iov, cnt)) {
        if (len === 0) continue;
        const n = this.read(fd, base, len);
        if (n < 0) return total > 0 ? total : n;
        total += n;
        if (n < len) break;
      }
      return total;
    });
  }

  private writev(fd: number, iov: number, cnt: number): number {
    const f = this.fds.get(fd);
    if (!f || !f.writable) return -EBADF;
    return this.guard(() => {
      const vecs = this.iovecs(iov, cnt);
      let total = 0;
      for (const [, len] of vecs) total += len;
      total = Math.min(total, MAX_IO);
      const b = new Uint8Array(total);
      let off = 0;
      for (const [base, len] of vecs) {
        const n = Math.min(len, total - off);
        if (n <= 0) break;
        this.as.read(base, n, b.subarray(off, off + n));
        off += n;
      }
      return this.sigpipe(f.write(b, total));
    });
  }

  private sendfile(outFd: number, inFd: number, offPtr: number, count: number): number {
    const out = this.fds.get(outFd), inp = this.fds.get(inFd);
    if (!out || !inp || !out.writable || !inp.readable) return -EBADF;
    count = Math.min(count, MAX_IO);
    const b = new Uint8Array(count);
    let n: number;
    if (offPtr) {
      const pos = this.as.readI64(offPtr);
      n = inp.pread(b, count, pos);
      if (n > 0) this.as.writeU64(offPtr, pos + n);
    } else n = inp.read(b, count);
    if (n <= 0) return n;
    return this.sigpipe(out.write(b, n));
  }

  private lseek(fd: number, off: number, whence: number): number {
    const f = this.fds.get(fd);
    if (!f) return -EBADF;
    return f.seek(off, whence);
  }

  private openat(dirfd: number, pathAddr: number, flags: number, mode: number): number {
    return this.guard(() => {
      const p = this.path(pathAddr);
      if (p === '') return -ENOENT;
      // The process's own descriptors by name: the host would show node's.
      const self = /^\/(?:proc\/self\/fd|dev\/fd)\/(\d+)$/.exec(p)?.[1] ?? { '/dev/stdin': '0', '/dev/stdout': '1', '/dev/stderr': '2' }[p];
      if (self !== undefined) {
        const f = this.fds.get(Number(self));
        if (!f) return -ENOENT;
        if (!(f instanceof HostFile && f.path)) {
          f.refs++;
          const n = this.fds.add(f, (flags & O_CLOEXEC) !== 0);
          if (n < 0) f.refs--;
          return n;
        }
      }
      // Files about the process itself are made up from our own state (the host's would describe node).
      const proc = /^\/proc\/(?:self|\d+)\/(maps|cmdline|environ)$/.exec(p);
      if (proc && (p.startsWith('/proc/self/') || p.startsWith(`/proc/${this.pid}/`))) {
        if ((flags & O_ACCMODE) !== O_RDONLY) return -EACCES;
        const f = new MemFile(this.procFile(proc[1]!), p);
        return this.fds.add(f, (flags & O_CLOEXEC) !== 0);
      }
      const host = self !== undefined ? (this.fds.get(Number(self)) as HostFile).path! : this.resolveAt(dirfd, p);
      // O_PATH descriptors only name a file: open it read-only on the host.
      let hostFlags = flags & ~(O_CLOEXEC | O_PATH);
      if (flags & O_PATH) hostFlags = O_RDONLY | (flags & O_DIRECTORY);
      const fd = fs.openSync(host, hostFlags, flags & O_CREAT ? mode & ~this.umaskValue & 0o7777 : 0o666);
      const f = new HostFile(fd, flags & (O_ACCMODE | O_APPEND | O_NONBLOCK), host, true);
      const gfd = this.fds.add(f, (flags & O_CLOEXEC) !== 0);
      if (gfd < 0) f.close();
      return gfd;
    });
  }

  /** /proc/self/maps from our VMA list; cmdline and environ from the initial stack's strings. */
  private procFile(name: string): Uint8Array {
    if (name === 'maps') {
      const lines = this.as.vmas.map((v) => {
        const perms = `${v.prot & PROT_READ ? 'r' : '-'}${v.prot & PROT_WRITE ? 'w' : '-'}${v.prot & PROT_EXEC ? 'x' : '-'}p`;
        const path = v.name === 'stack' ? '[stack]' : v.name === 'brk' ? '[heap]' : v.name === 'image' ? this.opts.exePath : v.name === 'anon' ? '' : v.name;
        const head = `${v.start.toString(16).padStart(8, '0')}-${v.end.toString(16).padStart(8, '0')} ${perms} 00000000 00:00 0`;
        return path ? `${head.padEnd(73)}${path}` : head;
      });
      return enc.encode(lines.join('\n') + '\n');
    }
    const list = name === 'cmdline' ? this.opts.argv ?? [] : this.opts.env ?? [];
    return enc.encode(list.map((x) => x + '\0').join(''));
  }

  private dup(fd: number): number {
    const f = this.fds.get(fd);
    if (!f) return -EBADF;
    f.refs++;
    const n = this.fds.add(f);
    if (n < 0) f.refs--;
    return n;
  }

  private dup3(oldfd: number, newfd: number, flags: number, isDup2: boolean): number {
    const f = this.fds.get(oldfd);
    if (!f) return -EBADF;
    if (oldfd === newfd) return isDup2 ? newfd : -EINVAL;
    if (newfd < 0 || newfd >= 1024) return -EBADF;
    this.fds.set(newfd, f, (flags & O_CLOEXEC) !== 0);
    return newfd;
  }

  private fcntl(fd: number, cmd: number, arg: number): number {
    const e = fd >= 0 ? this.fds.fds[fd] : undefined;
    if (!e) return -EBADF;
    switch (cmd) {
      case 0: // F_DUPFD
      case 1030: { // F_DUPFD_CLOEXEC
        e.file.refs++;
        const n = this.fds.add(e.file, cmd === 1030, arg >>> 0);
        if (n < 0) e.file.refs--;
        return n;
      }
      case 1: return e.cloexec ? 1 : 0; // F_GETFD
      case 2: e.cloexec = (arg & 1) !== 0; return 0; // F_SETFD
      case 3: return e.file.flags | (e.file instanceof HostFile && e.file.isDir ? O_DIRECTORY : 0); // F_GETFL
      case 4: e.file.flags = (e.file.flags & ~(O_APPEND | O_NONBLOCK)) | (arg & (O_APPEND | O_NONBLOCK)); return 0; // F_SETFL
      case 5: case 6: case 7: return 0; // locks: always granted
      case 1025: return 0; // F_SETPIPE_SZ etc.
      case 1032: return 65536; // F_GETPIPE_SZ
      default: return -EINVAL;
    }
  }

  private pipe2(addr: number, flags: number): number {
    this.as.checkWritable(addr, 8);
    const p = new PipeBuffer();
    const r = new PipeEnd(p, false, flags), w = new PipeEnd(p, true, flags);
    const rfd = this.fds.add(r, (flags & O_CLOEXEC) !== 0);
    if (rfd < 0) return rfd;
    const wfd = this.fds.add(w, (flags & O_CLOEXEC) !== 0);
    if (wfd < 0) {
      this.fds.close(rfd);
      return wfd;
    }
    const b = new Uint8Array(8);
    const dv = new DataView(b.buffer);
    dv.setInt32(0, rfd, true);
    dv.setInt32(4, wfd, true);
    this.as.write(addr, b);
    return 0;
  }

  private closeRange(first: number, last: number): number {
    for (let fd = first; fd <= Math.min(last, 1023); fd++) this.fds.close(fd);
    return 0;
  }

  private ioctl(fd: number, req: number, arg: number): number {
    const f = this.fds.get(fd);
    if (!f) return -EBADF;
    switch (req) {
      case 0x5401: { // TCGETS
        if (!f.isTty()) return -ENOTTY;
        const t = new Uint8Array(60);
        const dv = new DataView(t.buffer);
        dv.setUint32(0, 0x500, true); // c_iflag: ICRNL | IXON
        dv.setUint32(4, 0x5, true); // c_oflag: OPOST | ONLCR
        dv.setUint32(8, 0xbf, true); // c_cflag: B38400 | CS8 | CREAD
        dv.setUint32(12, 0x8a3b, true); // c_lflag: ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN
        const cc = [3, 28, 127, 21, 4, 0, 1, 0, 17, 19, 26, 0, 18, 15, 23, 22];
        cc.forEach((v, k) => (t[17 + k] = v));
        this.as.write(arg, t, 36);
        return 0;
      }
      case 0x5402: case 0x5403: case 0x5404: // TCSETS*
        return f.isTty() ? 0 : -ENOTTY;
      case 0x5413: { // TIOCGWINSZ
        if (!f.isTty()) return -ENOTTY;
        const ws = new Uint8Array(8);
        const dv = new DataView(ws.buffer);
        const s = f.hostFd === 1 ? process.stdout : f.hostFd === 2 ? process.stderr : undefined;
        dv.setUint16(0, (s as { rows?: number } | undefined)?.rows ?? 24, true);
        dv.setUint16(2, (s as { columns?: number } | undefined)?.columns ?? 80, true);
        this.as.write(arg, ws);
        return 0;
      }
      case 0x5414: return f.isTty() ? 0 : -ENOTTY; // TIOCSWINSZ
      case 0x540f: { // TIOCGPGRP
        if (!f.isTty()) return -ENOTTY;
        this.as.writeU32(arg, this.pid);
        return 0;
      }
      case 0x5410: return f.isTty() ? 0 : -ENOTTY; // TIOCSPGRP
      case 0x541b: { // FIONREAD
        const n = f instanceof PipeEnd ? f.pipe.size : 0;
        this.as.writeU32(arg, n);
        return 0;
      }
      case 0x5421: { // FIONBIO
        const on = this.as.readU32(arg) !== 0;
        f.flags = on ? f.flags | O_NONBLOCK : f.flags & ~O_NONBLOCK;
        return 0;
      }
      case 0x5451: case 0x5450: return 0; // FIOCLEX, FIONCLEX
      default:
        return -ENOTTY;
    }
  }

  private poll(fdsAddr: number, nfds: number): number {
    if (nfds > 1024) return -EINVAL;
    const raw = this.as.read(fdsAddr, nfds * 8);
    const dv = new DataView(raw.buffer);
    let ready = 0;
    for (let k = 0; k < nfds; k++) {
      const fd = dv.getInt32(k * 8, true);
      const events = dv.getInt16(k * 8 + 4, true);
      let rev = 0;
      if (fd >= 0) {
        const f = this.fds.get(fd);
        if (!f) rev = 0x20; // POLLNVAL
        else {
          if (events & 1 && f.readable && f.pollIn()) rev |= 1; // POLLIN
          if (events & 4 && f.writable) rev |= 4; // POLLOUT
          if (f instanceof PipeEnd && !f.isWrite && f.pipe.writers === 0) rev |= 0x10; // POLLHUP
        }
      }
      dv.setInt16(k * 8 + 6, rev, true);
      if (rev) ready++;
    }
    this.as.write(fdsAddr, raw);
    return ready;
  }

  // ---------------------------------------------------------------- stat

  /** struct stat (x86-64, 144 bytes). */
  private statBytes(s: StatInfo): Uint8Array {
    const b = new Uint8Array(144);
    const dv = new DataView(b.buffer);
    setU64(dv, 0, s.dev);
    setU64(dv, 8, s.ino);
    setU64(dv, 16, s.nlink);
    dv.setUint32(24, s.mode, true);
    dv.setUint32(28, s.uid, true);
    dv.setUint32(32, s.gid, true);
    setU64(dv, 40, s.rdev);
    setU64(dv, 48, s.size);
    setU64(dv, 56, s.blksize);
    setU64(dv, 64, s.blocks);
    const ts = (off: number, ns: bigint): void => {
      const sec = ns >= 0n ? ns / 1000000000n : -((-ns + 999999999n) / 1000000000n);
      setU64(dv, off, sec);
      setU64(dv, off + 8, ns - sec * 1000000000n);
    };
    ts(72, s.atimeNs);
    ts(88, s.mtimeNs);
    ts(104, s.ctimeNs);
    return b;
  }

  private fstat(fd: number, buf: number): number {
    const f = this.fds.get(fd);
    if (!f) return -EBADF;
    const s = f.stat();
    if (typeof s === 'number') return s;
    this.as.write(buf, this.statBytes(s));
    return 0;
  }

  /** stat/lstat/newfstatat: a path (AT_EMPTY_PATH: the fd itself). */
  private statAt(dirfd: number, pathAddr: number, flags: number): StatInfo | number {
    return this.guardStat(() => {
      const p = this.path(pathAddr);
      if (p === '') {
        if (!(flags & AT_EMPTY_PATH)) return -ENOENT;
        if (dirfd === AT_FDCWD) return statInfo(fs.statSync(this.cwd, { bigint: true }));
        const f = this.fds.get(dirfd);
        if (!f) return -EBADF;
        return f.stat();
      }
      const host = this.resolveAt(dirfd, p);
      return statInfo(flags & AT_SYMLINK_NOFOLLOW ? fs.lstatSync(host, { bigint: true }) : fs.statSync(host, { bigint: true }));
    });
  }

  private guardStat(fn: () => StatInfo | number): StatInfo | number {
    try {
      return fn();
    } catch (e) {
      if (e instanceof SysError) return -e.errno;
      if (e instanceof GuestFault) throw e;
      return -errnoOf(e);
    }
  }

  private statPath(dirfd: number, pathAddr: number, buf: number, flags: number): number {
    const s = this.statAt(dirfd, pathAddr, flags);
    if (typeof s === 'number') return s;
    this.as.write(buf, this.statBytes(s));
    return 0;
  }

  /** struct statx (256 bytes); we fill STATX_BASIC_STATS | STATX_BTIME. */
  private statx(dirfd: number, pathAddr: number, flags: number, buf: number): number {
    const s = this.statAt(dirfd, pathAddr, flags);
    if (typeof s === 'number') return s;
    const b = new Uint8Array(256);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, 0x7ff | (s.birthtimeNs > 0n ? 0x800 : 0), true);
    dv.setUint32(4, Number(s.blksize), true);
    dv.setUint32(16, Number(s.nlink), true);
    dv.setUint32(20, s.uid, true);
    dv.setUint32(24, s.gid, true);
    dv.setUint16(28, s.mode, true);
    setU64(dv, 32, s.ino);
    setU64(dv, 40, s.size);
    setU64(dv, 48, s.blocks);
    const ts = (off: number, ns: bigint): void => {
      const sec = ns >= 0n ? ns / 1000000000n : -((-ns + 999999999n) / 1000000000n);
      setU64(dv, off, sec);
      dv.setUint32(off + 8, Number(ns - sec * 1000000000n), true);
    };
    ts(64, s.atimeNs);
    ts(80, s.birthtimeNs);
    ts(96, s.ctimeNs);
    ts(112, s.mtimeNs);
    const major = (d: bigint): number => Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn & 0xffffffffn));
    const minor = (d: bigint): number => Number((d & 0xffn) | ((d >> 12n) & ~0xffn & 0xffffffffn));
    dv.setUint32(128, major(s.rdev), true);
    dv.setUint32(132, minor(s.rdev), true);
    dv.setUint32(136, major(s.dev), true);
    dv.setUint32(140, minor(s.dev), true);
    this.as.write(buf, b);
    return 0;
  }

  /** struct statfs (x86-64, 120 bytes). fstatfs goes through the descriptor's path. */
  private statfs(pathAddr: number, fd: number, buf: number): number {
    return this.guard(() => {
      let p: string;
      if (fd >= 0) {
        const f = this.fds.get(fd);
        if (!f) return -EBADF;
        p = f.path ?? (f.hostFd >= 0 ? `/proc/self/fd/${f.hostFd}` : '/');
      } else p = this.resolveAt(AT_FDCWD, this.path(pathAddr));
      const st = fs.statfsSync(p, { bigint: true });
      const b = new Uint8Array(120);
      const dv = new DataView(b.buffer);
      setU64(dv, 0, st.type);
      setU64(dv, 8, st.bsize);
      setU64(dv, 16, st.blocks);
      setU64(dv, 24, st.bfree);
      setU64(dv, 32, st.bavail);
      setU64(dv, 40, st.files);
      setU64(dv, 48, st.ffree);
      setU64(dv, 64, 255); // f_namelen
      setU64(dv, 72, st.bsize); // f_frsize
      this.as.write(buf, b);
      return 0;
    });
  }

  private getdents64(fd: number, buf: number, count: number): number {
    const f = this.fds.get(fd);
    if (!f) return -EBADF;
    if (!(f instanceof HostFile) || !f.isDir || !f.path) return -ENOTDIR;
    return this.guard(() => {
      if (!f.dirents) {
        const dir = f.path!;
        const list: Array<{ name: string; type: number; ino: bigint }> = [];
        const self = fs.statSync(dir, { bigint: true });
        list.push({ name: '.', type: 4, ino: self.ino });
        let parentIno = self.ino;
        try {
          parentIno = fs.statSync(resolvePath(dir, '..'), { bigint: true }).ino;
        } catch {
          /* keep */
        }
        list.push({ name: '..', type: 4, ino: parentIno });
        // opendir/readSync keeps the file system's own order (readdirSync sorts by name).
        const entries: fs.Dirent[] = [];
        const h = fs.opendirSync(dir);
        try {
          for (let d = h.readSync(); d; d = h.readSync()) entries.push(d);
        } finally {
          h.closeSync();
        }
        for (const d of entries) {
          const type = d.isFile() ? 8 : d.isDirectory() ? 4 : d.isSymbolicLink() ? 10 : d.isCharacterDevice() ? 2 : d.isBlockDevice() ? 6 : d.isFIFO() ? 1 : d.isSocket() ? 12 : 0;
          let ino = 0n;
          try {
            ino = fs.lstatSync(resolvePath(dir, d.name), { bigint: true }).ino;
          } catch {
            /* vanished */
          }
          list.push({ name: d.name, type, ino });
        }
        f.dirents = list;
        f.direntPos = 0;
      }
      const out = new Uint8Array(count);
      const dv = new DataView(out.buffer);
      let off = 0;
      while (f.direntPos < f.dirents.length) {
        const d = f.dirents[f.direntPos]!;
        const name = enc.encode(d.name);
        const reclen = (19 + name.length + 1 + 7) & ~7;
        if (off + reclen > count) {
          if (off === 0) return -EINVAL;
          break;
        }
        setU64(dv, off, d.ino);
        setU64(dv, off + 8, f.direntPos + 1);
        dv.setUint16(off + 16, reclen, true);
        out[off + 18] = d.type;
        out.set(name, off + 19);
        off += reclen;
        f.direntPos++;
      }
      this.as.write(buf, out, off);
      return off;
    });
  }

  private faccessat(dirfd: number, pathAddr: number, mode: number): number {
    return this.guard(() => {
      const p = this.path(pathAddr);
      if (p === '') return -ENOENT;
      fs.accessSync(this.resolveAt(dirfd, p), mode & 7);
      return 0;
    });
  }

  private readlinkat(dirfd: number, pathAddr: number, buf: number, size: number): number {
    return this.guard(() => {
      if (size <= 0) return -EINVAL;
      const p = this.path(pathAddr);
      let target: string;
      const m = /^\/proc\/self\/fd\/(\d+)$/.exec(p);
      if (p === '/proc/self/exe') target = this.opts.exePath;
      else if (m) {
        const f = this.fds.get(Number(m[1]));
        if (!f) return -ENOENT;
        target = f.path ?? (f instanceof PipeEnd ? `pipe:[${f.pipe.ino}]` : `/dev/fd/${m[1]}`);
      } else target = fs.readlinkSync(this.resolveAt(dirfd, p));
      const b = enc.encode(target);
      const n = Math.min(b.length, size);
      this.as.write(buf, b, n);
      return n;
    });
  }

  private renameat(oldDir: number, oldAddr: number, newDir: number, newAddr: number, flags = 0): number {
    return this.guard(() => {
      const from = this.resolveAt(oldDir, this.path(oldAddr));
      const to = this.resolveAt(newDir, this.path(newAddr));
      if (flags & 1 /* RENAME_NOREPLACE */ && fs.existsSync(to)) return -EEXIST;
      if (flags & ~1) return -EINVAL;
      fs.renameSync(from, to);
      return 0;
    });
  }

  private linkat(oldDir: number, oldAddr: number, newDir: number, newAddr: number): number {
    return this.guard(() => {
      fs.linkSync(this.resolveAt(oldDir, this.path(oldAddr)), this.resolveAt(newDir, this.path(newAddr)));
      return 0;
    });
  }

  private symlinkat(targetAddr: number, newDir: number, newAddr: number): number {
    return this.guard(() => {
      fs.symlinkSync(this.path(targetAddr), this.resolveAt(newDir, this.path(newAddr)));
      return 0;
    });
  }

  /** utime(path, times) = 132, utimes(path, tv[2]) = 235, utimensat(dirfd, path, ts[2], flags) = 280. */
  private utimens(nr: number, dirfd: number, pathAddr: number, timesAddr: number): number {
    return this.guard(() => {
      let host: string | undefined;
      let fd = -1;
      if (nr === 280 && pathAddr === 0) {
        const f = this.fds.get(dirfd);
        if (!f) return -EBADF;
        fd = f.hostFd;
      } else host = this.resolveAt(dirfd, this.path(pathAddr));
      const now = Date.now() / 1000;
      let at = now, mt = now;
      if (timesAddr) {
        const raw = this.as.read(timesAddr, nr === 132 ? 16 : 32);
        const dv = new DataView(raw.buffer);
        const sec = (o: number): number => Number(dv.getBigInt64(o, true));
        if (nr === 132) {
          at = sec(0);
          mt = sec(8);
        } else {
          const frac = nr === 280 ? 1e9 : 1e6;
          const n0 = sec(8), n1 = sec(24);
          const oldSt = host !== undefined ? fs.statSync(host) : fs.fstatSync(fd);
          at = n0 === 0x3ffffffe ? oldSt.atimeMs / 1000 : n0 === 0x3fffffff ? now : sec(0) + n0 / frac;
          mt = n1 === 0x3ffffffe ? oldSt.mtimeMs / 1000 : n1 === 0x3fffffff ? now : sec(16) + n1 / frac;
        }
      }
      if (host !== undefined) fs.utimesSync(host, at, mt);
      else fs.futimesSync(fd, at, mt);
      return 0;
    });
  }

  private getcwd(buf: number, size: number): number {
    const b = enc.encode(this.cwd + '\0');
    if (size < b.length) return -ERANGE;
    this.as.write(buf, b);
    return b.length;
  }

  private chdir(pathAddr: number): number {
    return this.guard(() => {
      const p = this.resolveAt(AT_FDCWD, this.path(pathAddr));
      if (!fs.statSync(p).isDirectory()) return -ENOTDIR;
      this.cwd = p;
      return 0;
    });
  }

  private fchdir(fd: number): number {
    const f = this.fds.get(fd);
    if (!f) return -EBADF;
    if (!(f instanceof HostFile) || !f.isDir || !f.path) return -ENOTDIR;
    this.cwd = f.path;
    return 0;
  }

  // ---------------------------------------------------------------- memory

  private mmap(addr: number, len: number, prot: number, flags: number, fd: number, off: number): number {
    const MAP_SHARED = 1, MAP_PRIVATE = 2, MAP_FIXED = 0x10, MAP_ANON = 0x20, MAP_FIXED_NOREPLACE = 0x100000;
    if (len === 0 || off % PAGE !== 0) return -EINVAL;
    const type = flags & 3;
    if (type !== MAP_SHARED && type !== MAP_PRIVATE && type !== 3) return -EINVAL;
    len = pageUp(len);
    if (len > 2 ** 46) return -ENOMEM;
    let file: OpenFile | undefined;
    if (!(flags & MAP_ANON)) {
      file = this.fds.get(fd);
      if (!file) return -EBADF;
      if (!file.readable) return -EACCES;
      if (file instanceof PipeEnd) return -ENODEV;
    }
    let start: number;
    if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
      if (addr % PAGE !== 0 || addr + len > 2 ** 47) return -EINVAL;
      if (flags & MAP_FIXED_NOREPLACE && !(flags & MAP_FIXED) && this.as.overlaps(addr, addr + len)) return -EEXIST;
      start = addr;
    } else {
      start = this.as.findFree(len, addr - (addr % PAGE));
      if (start < 0) return -ENOMEM;
    }
    const p = prot & (PROT_READ | PROT_WRITE | PROT_EXEC);
    try {
      this.as.mapFixed(start, len, p, file ? (file.path ?? 'file') : 'anon');
    } catch {
      return -ENOMEM;
    }
    if (file) {
      const b = new Uint8Array(len);
      const n = file.pread(b, len, off);
      if (n < 0 && n !== -ESPIPE) {
        this.as.unmap(start, len);
        return n;
      }
      if (n > 0) this.as.poke(start, b.subarray(0, n));
    }
    return start;
  }

  private munmap(addr: number, len: number): number {
    if (addr % PAGE !== 0 || len === 0) return -EINVAL;
    this.as.unmap(addr, pageUp(len));
    return 0;
  }

  private mprotect(addr: number, len: number, prot: number): number {
    if (addr % PAGE !== 0) return -EINVAL;
    if (len === 0) return 0;
    return this.as.protect(addr, pageUp(len), prot & 7) ? 0 : -ENOMEM;
  }

  private mremap(old: number, oldSize: number, newSize: number, flags: number, newAddr: number): number {
    const MAYMOVE = 1, FIXED = 2;
    if (old % PAGE !== 0 || newSize === 0) return -EINVAL;
    oldSize = pageUp(oldSize);
    newSize = pageUp(newSize);
    const v = this.as.find(old);
    if (!v || !this.as.covered(old, old + oldSize)) return -EFAULT;
    if (!(flags & FIXED)) {
      if (newSize <= oldSize) {
        if (newSize < oldSize) this.as.unmap(old + newSize, oldSize - newSize);
        return old;
      }
      if (!this.as.overlaps(old + oldSize, old + newSize) && old + newSize <= 2 ** 47) {
        try {
          this.as.mapFixed(old + oldSize, newSize - oldSize, v.prot, v.name);
          return old;
        } catch {
          return -ENOMEM;
        }
      }
      if (!(flags & MAYMOVE)) return -ENOMEM;
    }
    const dest = flags & FIXED ? newAddr : this.as.findFree(newSize);
    if (dest < 0 || dest % PAGE !== 0) return dest < 0 ? -ENOMEM : -EINVAL;
    const data = this.as.mem.readBytes(old, Math.min(oldSize, newSize));
    this.as.mapFixed(dest, newSize, v.prot, v.name);
    this.as.poke(dest, data);
    this.as.unmap(old, oldSize);
    return dest;
  }

  // ---------------------------------------------------------------- process, signals, identity

  private archPrctl(code: number, addr: number): number {
    const c = this.cpu;
    const setBase = (seg: number): number => {
      if (addr >= 2 ** 47) return -EPERM;
      c.segBase[2 * seg] = addr % 4294967296 | 0;
      c.segBase[2 * seg + 1] = Math.floor(addr / 4294967296);
      return 0;
    };
    const getBase = (seg: number): number => {
      this.as.writeU64(addr, (c.segBase[2 * seg]! >>> 0) + (c.segBase[2 * seg + 1]! >>> 0) * 4294967296);
      return 0;
    };
    switch (code) {
      case 0x1001: return setBase(5); // ARCH_SET_GS
      case 0x1002: return setBase(4); // ARCH_SET_FS
      case 0x1003: return getBase(4); // ARCH_GET_FS
      case 0x1004: return getBase(5); // ARCH_GET_GS
      default: return -EINVAL;
    }
  }

  private prctl(option: number, arg: number): number {
    switch (option) {
      case 15: return 0; // PR_SET_NAME
      case 16: { // PR_GET_NAME
        const name = enc.encode(this.opts.exePath.split('/').pop()!.slice(0, 15));
        const b = new Uint8Array(16);
        b.set(name);
        this.as.write(arg, b);
        return 0;
      }
      default: return -EINVAL;
    }
  }

  private disposition(sig: number): bigint {
    const a = this.sigactions.get(sig);
    return a ? new DataView(a.buffer).getBigUint64(0, true) : 0n;
  }

  private rtSigaction(sig: number, act: number, oact: number, size: number): number {
    if (size !== 8 || sig < 1 || sig > 64) return -EINVAL;
    if (act && (sig === 9 || sig === 19)) return -EINVAL;
    const old = this.sigactions.get(sig) ?? new Uint8Array(32);
    const next = act ? this.as.read(act, 32) : undefined;
    if (oact) this.as.write(oact, old);
    if (next) this.sigactions.set(sig, next);
    return 0;
  }

  private rtSigprocmask(how: number, set: number, oset: number, size: number): number {
    if (size !== 8) return -EINVAL;
    const old = this.sigmask;
    if (set) {
      const m = BigInt(this.as.readU64(set)) & ~((1n << 8n) | (1n << 18n)); // SIGKILL, SIGSTOP can't be blocked
      if (how === 0) this.sigmask |= m;
      else if (how === 1) this.sigmask &= ~m;
      else if (how === 2) this.sigmask = m;
      else return -EINVAL;
    }
    if (oset) this.as.writeU64(oset, old);
    return 0;
  }

  private sigaltstack(ss: number, old: number): number {
    const prev = this.altstack.slice();
    if (ss) this.altstack = this.as.read(ss, 24);
    if (old) this.as.write(old, prev);
    return 0;
  }

  /** kill/tgkill/tkill: only this process exists. Default actions terminate; handlers are not run. */
  private kill(pid: number, sig: number): number {
    if (pid !== this.pid && pid !== 0 && pid !== -1) return -ESRCH;
    if (sig === 0) return 0;
    if (sig < 0 || sig > 64) return -EINVAL;
    const disp = this.disposition(sig);
    const blocked = (this.sigmask >> BigInt(sig - 1)) & 1n;
    if (sig === 9 || (disp === 0n && !blocked && !SIG_DEFAULT_IGNORE.has(sig))) {
      throw new ProcessExit(128 + sig, sig);
    }
    if (disp !== 0n && disp !== 1n && !blocked && this.opts.trace) this.opts.log(`signal ${SIGNAL_NAMES[sig] ?? sig} has a handler; signal delivery is not implemented, ignored`);
    return 0;
  }

  private futex(uaddr: number, op: number, val: number, timeout: number): number {
    const cmd = op & 0x7f;
    switch (cmd) {
      case 0: // FUTEX_WAIT
      case 9: { // FUTEX_WAIT_BITSET
        const cur = this.as.readU32(uaddr) | 0;
        if (cur !== val) return -EAGAIN;
        if (timeout) return -ETIMEDOUT;
        throw new ProcessExit(128 + 6, 6, 'futex wait with no other thread to wake it (deadlock)');
      }
      case 1: case 10: return 0; // FUTEX_WAKE(_BITSET): nobody waits
      default: return -ENOSYS;
    }
  }

  private uname(buf: number): number {
    const b = new Uint8Array(65 * 6);
    const fields = ['Linux', os.hostname(), os.release(), os.version(), 'x86_64', '(none)'];
    fields.forEach((s, k) => b.set(enc.encode(s).subarray(0, 64), k * 65));
    this.as.write(buf, b);
    return 0;
  }

  private getresid(id: number, a: number, b: number, c: number): number {
    for (const p of [a, b, c]) this.as.writeU32(p, id);
    return 0;
  }

  private prlimit(pid: number, res: number, newAddr: number, oldAddr: number): number {
    if (pid !== 0 && pid !== this.pid) return -ESRCH;
    if (res < 0 || res > 15) return -EINVAL;
    if (oldAddr) {
      const INF = (1n << 64n) - 1n;
      let cur = INF, max = INF;
      if (res === 3) cur = BigInt(STACK_LIMIT); // RLIMIT_STACK
      else if (res === 7) { cur = 1024n; max = 1024n; } // RLIMIT_NOFILE
      else if (res === 4) cur = 0n; // RLIMIT_CORE
      const b = new Uint8Array(16);
      const dv = new DataView(b.buffer);
      dv.setBigUint64(0, cur, true);
      dv.setBigUint64(8, max, true);
      this.as.write(oldAddr, b);
    }
    void newAddr;
    return 0;
  }

  private getrusage(addr: number): number {
    const b = new Uint8Array(144);
    const dv = new DataView(b.buffer);
    const us = Number((process.hrtime.bigint() - this.startNs) / 1000n);
    setU64(dv, 0, Math.floor(us / 1e6));
    setU64(dv, 8, us % 1e6);
    setU64(dv, 32, Math.floor(process.memoryUsage().rss / 1024)); // ru_maxrss (KiB)
    this.as.write(addr, b);
    return 0;
  }

  private times(addr: number): number {
    const ticks = Number((process.hrtime.bigint() - this.startNs) / 10000000n);
    if (addr) {
      const b = new Uint8Array(32);
      setU64(new DataView(b.buffer), 0, ticks);
      this.as.write(addr, b);
    }
    return ticks + 100000;
  }

  private sysinfo(addr: number): number {
    const b = new Uint8Array(112);
    const dv = new DataView(b.buffer);
    setU64(dv, 0, Math.floor(os.uptime()));
    os.loadavg().forEach((l, k) => setU64(dv, 8 + 8 * k, Math.round(l * 65536)));
    setU64(dv, 32, this.as.mem.ram.length);
    setU64(dv, 40, Math.max(0, this.as.mem.ram.length - (this.as.vmas.reduce((s, v) => s + v.end - v.start, 0))));
    dv.setUint16(80, 1, true); // procs
    dv.setUint32(104, 1, true); // mem_unit
    this.as.write(addr, b);
    return 0;
  }

  private schedGetaffinity(len: number, mask: number): number {
    if (len < 8 || len % 8) return -EINVAL;
    const b = new Uint8Array(8);
    b[0] = 1; // one CPU
    this.as.write(mask, b);
    return 8;
  }

  private getcpu(cpu: number, node: number): number {
    if (cpu) this.as.writeU32(cpu, 0);
    if (node) this.as.writeU32(node, 0);
    return 0;
  }

  // ---------------------------------------------------------------- time and randomness

  private nowNs(clock: number): bigint {
    switch (clock) {
      case 0: case 5: case 8: case 11: // REALTIME, REALTIME_COARSE, REALTIME_ALARM, TAI
        return BigInt(Date.now()) * 1000000n + (process.hrtime.bigint() % 1000000n);
      case 2: case 3: // PROCESS/THREAD_CPUTIME
        return process.hrtime.bigint() - this.startNs;
      default: // MONOTONIC, MONOTONIC_RAW, *_COARSE, BOOTTIME
        return process.hrtime.bigint();
    }
  }

  private clockGettime(clock: number, addr: number): number {
    if (clock < 0 || clock > 11) return -EINVAL;
    const ns = this.nowNs(clock);
    const b = new Uint8Array(16);
    const dv = new DataView(b.buffer);
    setU64(dv, 0, ns / 1000000000n);
    setU64(dv, 8, ns % 1000000000n);
    this.as.write(addr, b);
    return 0;
  }

  private clockGetres(addr: number): number {
    if (addr) {
      const b = new Uint8Array(16);
      setU64(new DataView(b.buffer), 8, 1);
      this.as.write(addr, b);
    }
    return 0;
  }

  private gettimeofday(tv: number, tz: number): number {
    const ns = this.nowNs(0);
    if (tv) {
      const b = new Uint8Array(16);
      const dv = new DataView(b.buffer);
      setU64(dv, 0, ns / 1000000000n);
      setU64(dv, 8, (ns % 1000000000n) / 1000n);
      this.as.write(tv, b);
    }
    if (tz) this.as.write(tz, new Uint8Array(8));
    return 0;
  }

  private time(addr: number): number {
    const t = Math.floor(Date.now() / 1000);
    if (addr) this.as.writeU64(addr, t);
    return t;
  }

  private readTimespec(addr: number): number {
    const sec = this.as.readI64(addr), nsec = this.as.readI64(addr + 8);
    if (sec < 0 || nsec < 0 || nsec >= 1e9) throw new SysError(EINVAL);
    return sec * 1000 + nsec / 1e6;
  }

  private nanosleep(req: number, rem: number): number {
    return this.guard(() => {
      sleepMs(this.readTimespec(req));
      if (rem) this.as.write(rem, new Uint8Array(16));
      return 0;
    });
  }

  private clockNanosleep(clock: number, flags: number, req: number, rem: number): number {
    return this.guard(() => {
      let ms = this.readTimespec(req);
      if (flags & 1) ms -= Number(this.nowNs(clock) / 1000000n); // TIMER_ABSTIME
      sleepMs(ms);
      if (rem && !(flags & 1)) this.as.write(rem, new Uint8Array(16));
      return 0;
    });
  }

  private getrandom(buf: number, len: number): number {
    len = Math.min(len, 1 << 25);
    const b = randomFillSync(new Uint8Array(len));
    this.as.write(buf, b);
    return len;
  }
}

/** An errno raised inside a helper, returned as -errno by `guard`. */
class SysError extends Error {
  constructor(readonly errno: number) {
    super(`errno ${errno}`);
  }
}

const ENODEV = 19;

function errName(n: number): string {
  for (const [k, v] of Object.entries(os.constants.errno)) if (v === n) return k;
  return String(n);
}

