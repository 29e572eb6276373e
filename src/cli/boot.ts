/**
 * `xenjs boot CONFIG [key=value ...]`: build a PV domain from an xl config
 * and run it, its console on this terminal.
 *
 * Options: --trace-hypercalls (every hypercall with decoded arguments, and a
 * count per hypercall at the end), --max-insns N (stop after N guest
 * instructions), --console-log FILE (also write the console to a file).
 */
import { readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { UserError } from '../errors.ts';
import { loadDomainConfig } from '../domains/domain-config.ts';
import { loadKernelFile } from '../domains/kernel-loader.ts';
import { buildDomain } from '../domains/builder.ts';
import { Scheduler } from '../domains/scheduler.ts';
import { HypercallTrace } from '../hypercall/trace.ts';
import { SHUTDOWN_NAMES, SHUTDOWN_crash, SHUTDOWN_poweroff } from '../domains/domain.ts';

interface BootFlags {
  traceHypercalls: boolean;
  maxInsns?: number;
  consoleLog?: string;
  rest: string[];
}

function parseFlags(args: string[]): BootFlags {
  const f: BootFlags = { traceHypercalls: false, rest: [] };
  for (let k = 0; k < args.length; k++) {
    const a = args[k]!;
    if (a === '--trace-hypercalls') f.traceHypercalls = true;
    else if (a === '--max-insns') {
      const n = Number(args[++k]);
      if (!Number.isFinite(n) || n <= 0) throw new UserError(`--max-insns needs a positive number, got '${args[k] ?? ''}'`);
      f.maxInsns = n;
    } else if (a === '--console-log') {
      const file = args[++k];
      if (!file) throw new UserError('--console-log needs a file name');
      f.consoleLog = file;
    } else if (a.startsWith('--')) throw new UserError(`unknown option ${a} (try 'xenjs help')`);
    else f.rest.push(a);
  }
  return f;
}

export async function bootCommand(args: string[], out: (s: string) => void): Promise<number> {
  const flags = parseFlags(args);
  const [file, ...overrides] = flags.rest;
  if (!file) {
    out('usage: xenjs boot [--trace-hypercalls] [--max-insns N] [--console-log FILE] CONFIG [key=value ...]');
    return 2;
  }
  const cfg = loadDomainConfig(file, overrides);
  for (const w of cfg.warnings) process.stderr.write(`xenjs: ${w}\n`);
  if (!cfg.kernel) throw new UserError(`${file}: no kernel given (add kernel = "/path/to/vmlinuz")`);
  const kernel = loadKernelFile(cfg.kernel);
  if (!kernel.isXenPv) {
    throw new UserError(`${cfg.kernel}: this kernel has no Xen ELF notes, so it cannot boot as a PV guest (build it with CONFIG_XEN_PV)`);
  }
  let ramdisk: Uint8Array | undefined;
  if (cfg.ramdisk) {
    try {
      ramdisk = new Uint8Array(readFileSync(cfg.ramdisk));
    } catch {
      throw new UserError(`${cfg.ramdisk}: cannot read ramdisk: no such file`);
    }
  }
  if (flags.consoleLog) writeFileSync(flags.consoleLog, '');
  const tail: string[] = [];
  let partial = '';
  const decoder = new TextDecoder();
  const consoleOut = (bytes: Uint8Array): void => {
    process.stdout.write(bytes);
    if (flags.consoleLog) appendFileSync(flags.consoleLog, bytes);
    partial += decoder.decode(bytes, { stream: true });
    const lines = partial.split('\n');
    partial = lines.pop()!;
    tail.push(...lines);
    if (tail.length > 40) tail.splice(0, tail.length - 40);
  };
  const t0 = process.hrtime.bigint();
  const clockNs = (): number => Number(process.hrtime.bigint() - t0);
  const built = buildDomain({
    id: 1,
    name: cfg.name,
    kernel,
    ramdisk,
    cmdline: cfg.cmdline,
    memoryMiB: cfg.memory,
    maxmemMiB: cfg.maxmem,
    vcpus: cfg.vcpus,
    consoleOut,
    clockNs,
  });
  const domain = built.domain;
  // console_io output and the hvc0 ring are one stream (src/devices/console.ts).
  domain.console!.onOutput(consoleOut);
  const trace = flags.traceHypercalls ? new HypercallTrace((l) => void process.stderr.write(l + '\n')) : undefined;
  domain.traceHypercalls = trace;
  const sched = new Scheduler({ maxInsns: flags.maxInsns });
  sched.add(domain);
  const onSigint = (): void => sched.stop();
  process.on('SIGINT', onSigint);
  try {
    await sched.run();
  } finally {
    process.off('SIGINT', onSigint);
  }
  const insns = sched.totalInsns;
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (trace) {
    process.stderr.write('hypercall counts:\n' + trace.summary().join('\n') + '\n');
    for (const v of domain.vcpus) {
      const ex = [...v.exceptionCounts].map((n, k) => (n ? `#${k}:${n}` : '')).filter(Boolean).join(' ');
      process.stderr.write(`vcpu ${v.id}: exits ${[...v.exitCounts].slice(0, 5).join('/')} (budget/syscall/exception/halt/int), exceptions ${ex}, blocks decoded ${v.cpu.blocksDecoded}, code invalidations ${v.cpu.codeInvalidations}, page walks ${v.mmu.walks}\n`);
    }
  }
  process.stderr.write(`\nxenjs: ${insns} guest instructions in ${secs.toFixed(1)} s (${(insns / secs / 1e6).toFixed(1)} MIPS)\n`);
  if (!domain.isShutdown) {
    process.stderr.write(`xenjs: domain ${domain.name} stopped${flags.maxInsns ? ` after --max-insns ${flags.maxInsns}` : ''} while still running\n`);
    return 2;
  }
  const reason = SHUTDOWN_NAMES[domain.shutdownReason] ?? String(domain.shutdownReason);
  if (domain.shutdownReason === SHUTDOWN_poweroff) return 0;
  if (domain.shutdownReason === SHUTDOWN_crash) {
    process.stderr.write(`xenjs: domain ${domain.name} crashed; last console lines:\n${tail.slice(-15).join('\n')}\n`);
    return 1;
  }
  process.stderr.write(`xenjs: domain ${domain.name} shut down (${reason})\n`);
  return 0;
}
