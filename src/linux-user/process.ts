/**
 * One user-mode Linux process on the xenjs CPU (what qemu-user does): load a
 * static executable, run the CPU at CPL 3, hand each `syscall` to the
 * syscall layer, grow the stack on faults just below it, and turn any other
 * fault into the signal Linux would deliver (there are no handlers: the
 * process dies with 128 + signal, as a shell reports it).
 */
import { accessSync, constants as fsConstants, readFileSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { Cpu } from '../cpu/cpu.ts';
import { decodeAt } from '../cpu/decoder.ts';
import {
  AC_VEC, BP, BR, DB, DE, Exit, GP, IF, MF, NM, PF_VEC, PFEC_I, PFEC_P, PFEC_W, RSP, SS, UD, XM,
} from '../cpu/state.ts';
import { OutOfMemory } from '../mmu/paged-memory.ts';
import { AddressSpace } from './address-space.ts';
import { hwcap, makeCpuid } from './cpuid.ts';
import { ElfError, parseElf } from './elf.ts';
import { buildStack, loadSegments } from './loader.ts';
import { LinuxKernel, ProcessExit, SIGNAL_NAMES } from './syscalls.ts';

export interface ProcessOptions {
  /** Host path of the executable. */
  path: string;
  /** argv (argv[0] defaults to `path`). */
  argv?: string[];
  /** Environment as NAME=value strings (default: the host's). */
  env?: string[];
  /** Host descriptors for stdin, stdout, stderr (default 0, 1, 2). */
  stdio?: [number, number, number];
  /** Log unimplemented syscalls ('all': every syscall). */
  trace?: boolean | 'all';
  /** Where diagnostics go (default: host stderr). */
  log?: (line: string) => void;
  /** Guest RAM for the page allocator (default 1 GiB, allocated lazily by the host). */
  ramBytes?: number;
  /** Working directory for relative paths. */
  cwd?: string;
}

export interface ProcessResult {
  /** Exit status as a shell reports it: the exit code, or 128 + signal. */
  status: number;
  /** The signal that ended the process (0 if it exited). */
  signal: number;
  /** One-line report of a fatal fault, if any. */
  report?: string;
  /** Guest instructions retired. */
  icount: number;
}

/** A problem with the program file itself, before anything runs (missing, not ELF, dynamic). */
export class LoadError extends Error {}

const BUDGET = 1 << 24;

export class LinuxProcess {
  readonly as: AddressSpace;
  readonly cpu: Cpu;
  readonly kernel: LinuxKernel;
  readonly entry: number;
  private readonly log: (line: string) => void;

  constructor(opts: ProcessOptions) {
    this.log = opts.log ?? ((l) => void process.stderr.write(l + '\n'));
    let file: Uint8Array;
    let exePath: string;
    try {
      exePath = realpathSync(resolve(opts.cwd ?? process.cwd(), opts.path));
      file = readFileSync(exePath);
      accessSync(exePath, fsConstants.X_OK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new LoadError(code === 'ENOENT' ? `${opts.path}: no such file` : code === 'EISDIR' ? `${opts.path}: is a directory` : code === 'EACCES' ? `${opts.path}: permission denied` : `${opts.path}: ${(e as Error).message}`);
    }
    let elf;
    try {
      elf = parseElf(file);
    } catch (e) {
      if (e instanceof ElfError) throw new LoadError(`${opts.path}: ${e.message}`);
      throw e;
    }
    if (elf.interp !== undefined) throw new LoadError(`${opts.path}: dynamically linked programs are not supported; link with -static`);

    this.as = new AddressSpace(opts.ramBytes ?? 1 << 30);
    this.cpu = new Cpu(this.as.mem);
    this.as.cpu = this.cpu;
    this.cpu.cpuid = makeCpuid();
    this.cpu.cpl = 3;

    const argv = opts.argv ?? [opts.path];
    const env = opts.env ?? Object.entries(process.env).map(([k, v]) => `${k}=${v}`);
    const img = loadSegments(this.as, file, elf);
    const strBytes = [...argv, ...env, opts.path].reduce((n, s) => n + Buffer.byteLength(s) + 1, 0);
    this.as.initStack(128 * 1024 + strBytes + (argv.length + env.length) * 8);
    const uid = process.getuid?.() ?? 0, gid = process.getgid?.() ?? 0;
    const sp = buildStack(this.as, img, elf, { argv, envp: env, execfn: opts.path, uid, gid, hwcap: hwcap() });
    this.entry = img.entry;

    const c = this.cpu;
    c.setReg64(RSP, sp % 4294967296 | 0, Math.floor(sp / 4294967296));
    c.setRip(img.entry % 4294967296 | 0, Math.floor(img.entry / 4294967296));
    // As Linux starts a process: RDX = 0 (no rtld_fini), other registers zero, RFLAGS = IF (0x202),
    // MXCSR and the x87 control word at their reset values.
    c.flags |= IF;
    this.kernel = new LinuxKernel(c, this.as, {
      exePath,
      stdio: opts.stdio ?? [0, 1, 2],
      trace: opts.trace ?? false,
      log: this.log,
      cwd: opts.cwd,
      argv,
      env,
    });
  }

  /** Run to completion. */
  run(): ProcessResult {
    const c = this.cpu;
    try {
      for (;;) {
        const x = c.run(BUDGET);
        if (x === Exit.Budget) continue;
        if (x === Exit.Syscall) {
          this.kernel.handle();
          continue;
        }
        if (x === Exit.Exception && c.excVector === PF_VEC && !(c.excCode & PFEC_P)) {
          // A touch just below the stack grows it (as the kernel's stack VMA does).
          const addr = (c.cr2[0]! >>> 0) + c.cr2[1]! * 4294967296;
          if (this.as.growStack(addr)) continue;
        }
        return this.fatal(x);
      }
    } catch (e) {
      if (e instanceof ProcessExit) {
        this.kernel.fds.closeAll();
        // A signal the program sent itself (abort → SIGABRT) is reported like a fault; SIGPIPE quietly, as shells do.
        const report = e.message
          ? `${SIGNAL_NAMES[e.signal] ?? 'signal ' + e.signal}: ${e.message} at rip=${hex(c.ripLo, c.ripHi)}`
          : e.signal && e.signal !== 13
            ? `${SIGNAL_NAMES[e.signal] ?? 'signal ' + e.signal}: raised by the program (kill/tgkill) at rip=${hex(c.ripLo, c.ripHi)}`
            : undefined;
        if (report) this.log(report);
        return { status: e.status, signal: e.signal, report, icount: c.icount };
      }
      if (e instanceof OutOfMemory) {
        const report = `killed: out of guest memory at rip=${hex(c.ripLo, c.ripHi)}`;
        this.log(report);
        return { status: 128 + 9, signal: 9, report, icount: c.icount };
      }
      throw e;
    }
  }

  /** The process dies of an exception: report it in one line, exit 128 + signal. */
  private fatal(x: Exit): ProcessResult {
    const c = this.cpu;
    const rip = hex(c.ripLo, c.ripHi);
    let bytes = '';
    let name = '';
    try {
      const b: string[] = [];
      for (let k = 0; k < 15; k++) {
        const a = (c.ripLo >>> 0) + k;
        const lo = a | 0, hi = a > 0xffffffff ? c.ripHi + 1 : c.ripHi;
        const off = this.as.mem.translate(lo, hi, 2, true);
        if (off < 0) break;
        b.push(this.as.mem.ram[off]!.toString(16).padStart(2, '0'));
      }
      try {
        const i = decodeAt(c, c.ripLo, c.ripHi);
        name = i.name;
        bytes = b.slice(0, i.name.startsWith('(') ? 8 : i.len || b.length).join(' ');
      } catch {
        bytes = b.join(' ');
      }
    } catch {
      /* RIP itself is unmapped */
    }
    let sig: number;
    let what: string;
    const v = c.excVector;
    if (x === Exit.Halt) {
      sig = 11;
      what = 'hlt';
    } else if (x === Exit.SoftwareInterrupt) {
      sig = v === BP ? 5 : 11;
      what = v === BP ? 'int3' : `int 0x${v.toString(16)}`;
    } else {
      switch (v) {
        case DE: sig = 8; what = 'divide error'; break;
        case DB: case BP: sig = 5; what = 'trap'; break;
        case BR: sig = 11; what = 'bound range'; break;
        case UD: sig = 4; what = udWhat(name, bytes); break;
        case NM: sig = 4; what = 'device not available'; break;
        case MF: sig = 8; what = 'x87 floating-point exception'; break;
        case XM: sig = 8; what = 'SIMD floating-point exception'; break;
        case AC_VEC: sig = 7; what = 'alignment check'; break;
        case SS: sig = 7; what = 'stack-segment fault'; break;
        case GP: sig = 11; what = 'general protection fault'; break;
        case PF_VEC: {
          sig = 11;
          const code = c.excCode;
          const kind = code & PFEC_I ? 'exec' : code & PFEC_W ? 'write' : 'read';
          what = `page fault (${kind} ${code & PFEC_P ? 'not permitted' : 'unmapped'}) at ${hex(c.cr2[0]!, c.cr2[1]!)}`;
          break;
        }
        default: sig = 11; what = `exception ${v}`; break;
      }
    }
    const report = `${SIGNAL_NAMES[sig]}: ${what} at rip=${rip}${bytes ? ` [${bytes}]` : ''}${name && v !== UD ? ` (${name})` : ''}`;
    this.log(report);
    this.kernel.fds.closeAll();
    return { status: 128 + sig, signal: sig, report, icount: c.icount };
  }
}

/** What a #UD was about: VEX/EVEX (AVX) encodings, opcodes the CPU does not implement, or a real invalid instruction. */
function udWhat(name: string, bytes: string): string {
  const b = bytes.split(' ').filter((x) => x).map((x) => parseInt(x, 16));
  let k = 0;
  while (k < b.length && [0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65].includes(b[k]!)) k++;
  if (k < b.length && (b[k]! & 0xf0) === 0x40) k++;
  const op = b[k];
  if (op === 0xc4 || op === 0xc5) return 'VEX-encoded (AVX) instruction, not implemented';
  if (op === 0x62) return 'EVEX-encoded (AVX-512) instruction, not implemented';
  if (op === 0x8f) return 'XOP-encoded instruction, not implemented';
  if (name === '(bad)' || name === '') return 'invalid or unimplemented instruction';
  return `invalid instruction (${name})`;
}

function hex(lo: number, hi: number): string {
  return '0x' + ((hi >>> 0) * 4294967296 + (lo >>> 0)).toString(16);
}
