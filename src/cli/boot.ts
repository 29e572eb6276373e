/**
 * `xenjs boot CONFIG [key=value ...]`: create a PV domain from an xl config
 * and attach to its console, as `xl create -c` does.
 *
 * On a terminal: the escape hint, then the console in raw mode — every key
 * goes to the guest (Ctrl-C too); Ctrl-] detaches and asks whether to
 * destroy the domain. Answering no leaves it running here, headless: xenjs
 * is the hypervisor, so the process stays until the domain exits (Ctrl-C,
 * now a signal again, destroys it). Without a terminal the console goes to
 * stdout and stdin goes to the console as-is.
 *
 * Options: --trace-hypercalls (every hypercall with decoded arguments, and a
 * count per hypercall at the end), --max-insns N (stop after N guest
 * instructions), --console-log FILE (also write the console, from its first
 * byte, to FILE).
 *
 * Exit status: 0 when the guest powered off (or shut down otherwise, or was
 * destroyed at the detach prompt); 1 when it crashed or its watchdog fired
 * (with its last console lines) or a restart failed; 2 when --max-insns
 * stopped it; 128+N after signal N (the domain is destroyed).
 */
import { UserError } from '../errors.ts';
import { loadDomainConfig } from '../domains/domain-config.ts';
import type { Domain } from '../domains/domain.ts';
import { Xenjs, type ExitInfo, type RunResult } from '../domains/toolstack.ts';
import { HypercallTrace } from '../hypercall/trace.ts';
import { askYesNo, attachConsole, isInteractive, pipeConsole, type Attachment } from './attach.ts';

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

const SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;
type SignalName = keyof typeof SIGNALS;

type Event =
  | { kind: 'exit'; info: ExitInfo }
  | { kind: 'run'; result: RunResult }
  | { kind: 'detach' }
  | { kind: 'signal'; name: SignalName };

export async function bootCommand(args: string[], out: (s: string) => void): Promise<number> {
  const flags = parseFlags(args);
  const [file, ...overrides] = flags.rest;
  if (!file) {
    out('usage: xenjs boot [--trace-hypercalls] [--max-insns N] [--console-log FILE] CONFIG [key=value ...]');
    return 2;
  }
  const err = (s: string): void => void process.stderr.write(s + '\n');
  const cfg = loadDomainConfig(file, overrides);
  const xen = new Xenjs({ maxInsns: flags.maxInsns, log: err });
  const trace = flags.traceHypercalls ? new HypercallTrace(err) : undefined;
  const t0 = process.hrtime.bigint();
  const handle = await xen.createDomain(cfg, { paused: true, consoleLog: flags.consoleLog, traceHypercalls: trace });
  let lastDomain: Domain | undefined = handle.domain;
  handle.on('restart', () => (lastDomain = handle.domain ?? lastDomain));

  // The console: attached on a terminal, piped otherwise.
  const interactive = isInteractive();
  let attachment: Attachment | undefined;
  let stopPipe: (() => void) | undefined;
  if (interactive) attachment = attachConsole(handle);
  else stopPipe = pipeConsole(handle, { input: process.stdin, output: process.stdout });

  // Signals destroy the domain (in raw mode Ctrl-C is a key for the guest, not a signal).
  let onSignal: (name: SignalName) => void = () => {};
  let gotSignal = false;
  const signalled = new Promise<Event>((resolve) => (onSignal = (name) => {
    gotSignal = true;
    resolve({ kind: 'signal', name });
  }));
  const handlers = (Object.keys(SIGNALS) as SignalName[]).map((name) => {
    const h = (): void => onSignal(name);
    process.on(name, h);
    return [name, h] as const;
  });

  const exited = handle.waitForExit().then((info): Event => ({ kind: 'exit', info }));
  const ran = xen.run().then((result): Event => ({ kind: 'run', result }));
  handle.unpause();

  let code = 0;
  const messages: string[] = [];
  try {
    let detachP: Promise<Event> | undefined = attachment?.detached.then((): Event => ({ kind: 'detach' }));
    let runP: Promise<Event> | undefined = ran;
    for (;;) {
      const waits = [exited, signalled];
      if (runP) waits.push(runP);
      if (detachP) waits.push(detachP);
      const ev = await Promise.race(waits);
      if (ev.kind === 'detach') {
        detachP = undefined;
        attachment = undefined; // already closed: the terminal is cooked again
        const yes = await askYesNo(`Domain ${handle.name} is still running: destroy it? [y/N] `, undefined, Promise.race([exited, signalled]));
        if (handle.exit || gotSignal) continue; // it ended, or a signal came, meanwhile: handle that
        if (yes) {
          handle.destroy();
          messages.push(`xenjs: domain ${handle.name} destroyed`);
          code = 0;
          break;
        }
        err(`xenjs: domain ${handle.name} keeps running here, detached, until it shuts down (Ctrl-C destroys it)`);
        continue;
      }
      if (ev.kind === 'signal') {
        handle.destroy();
        messages.push(`xenjs: ${ev.name}: domain ${handle.name} destroyed`);
        code = 128 + SIGNALS[ev.name];
        break;
      }
      if (ev.kind === 'run' && ev.result === 'budget') {
        messages.push(`xenjs: domain ${handle.name} stopped${flags.maxInsns ? ` after --max-insns ${flags.maxInsns}` : ''} while still running`);
        code = 2;
        break;
      }
      const info = ev.kind === 'exit' ? ev.info : handle.exit;
      if (!info) {
        runP = undefined; // the host loop ended without an exit (cannot happen here): wait for the exit or a signal
        continue;
      }
      code = exitCode(info, handle.console.tail(15), messages);
      break;
    }
  } finally {
    attachment?.close();
    stopPipe?.();
    for (const [name, h] of handlers) process.off(name, h);
    await xen.close();
  }

  const insns = xen.totalInsns;
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (trace) {
    err('hypercall counts:\n' + trace.summary().join('\n'));
    for (const v of lastDomain?.vcpus ?? []) {
      const ex = [...v.exceptionCounts].map((n, k) => (n ? `#${k}:${n}` : '')).filter(Boolean).join(' ');
      err(`vcpu ${v.id}: exits ${[...v.exitCounts].slice(0, 5).join('/')} (budget/syscall/exception/halt/int), exceptions ${ex}, blocks decoded ${v.cpu.blocksDecoded}, code invalidations ${v.cpu.codeInvalidations}, page walks ${v.mmu.walks}`);
    }
  }
  err(`\nxenjs: ${insns} guest instructions in ${secs.toFixed(1)} s (${(insns / secs / 1e6).toFixed(1)} MIPS)`);
  for (const m of messages) err(m);
  return code;
}

/** The exit status for how the domain ended, with the message to print. */
function exitCode(info: ExitInfo, lastLines: string[], messages: string[]): number {
  const name = info.name;
  if (info.error !== undefined) {
    messages.push(`xenjs: domain ${name}: ${info.error}`);
    return 1;
  }
  switch (info.reason) {
    case 'poweroff':
      return 0;
    case 'crash':
      messages.push(`xenjs: domain ${name} crashed; last console lines:\n${lastLines.join('\n')}`);
      return 1;
    case 'watchdog':
      messages.push(`xenjs: domain ${name} was stopped by its watchdog; last console lines:\n${lastLines.join('\n')}`);
      return 1;
    case 'destroyed':
      messages.push(`xenjs: domain ${name} destroyed`);
      return 0;
    default:
      messages.push(`xenjs: domain ${name} shut down (${info.reason})`);
      return 0;
  }
}
