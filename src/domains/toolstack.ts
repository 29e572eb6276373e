/**
 * The toolstack: what xl/libxl and dom0's daemons do for a domU, in process,
 * as a library. One `Xenjs` is one host: it allocates domain ids, builds
 * domains from xl configs, runs them on one scheduler, serves their
 * consoles (xenconsoled) and xenstore, and applies the config's lifecycle
 * actions when a guest shuts down. The CLI (`xenjs boot`) and the
 * integration tests use this API; so can any program embedding xenjs.
 *
 *   const xen = new Xenjs();
 *   const d = await xen.createDomain('images/demo.cfg', { overrides: ['memory=128'] });
 *   await d.console.waitFor('login:', { timeout: 60_000 });
 *   d.console.write('root\n');
 *   d.shutdown();                   // control/shutdown = "poweroff"
 *   const { reason } = await d.waitForExit();
 *   await xen.close();
 *
 * Domains start running as soon as they are created (unless `paused`); the
 * host loop runs in the background on Node's event loop and yields to it
 * between scheduler slices. `run()` resolves when nothing is left to run.
 *
 * Lifecycle (as xl's handle_domain_death): the guest's SCHEDOP_shutdown
 * reason picks the config's action — poweroff → on_poweroff, reboot →
 * on_reboot, crash → on_crash, watchdog → on_watchdog, soft_reset →
 * on_soft_reset (suspend never gets here: xenjs cancels guest suspends):
 *   destroy          the domain is destroyed; the handle's state becomes 'destroyed'.
 *   preserve         the domain stays, shut down ('shutdown', or 'crashed' for a crash), until destroy().
 *   restart          the domain is destroyed and built again from the same config, with
 *                    a new domain id; the handle follows it (its id changes, its console
 *                    stream continues) and emits 'restart'.
 *   rename-restart   the old domain is kept, renamed NAME-YYYYMMDDTHHMMZ (as xl), under a
 *                    handle of its own; a new one is built as for restart.
 *   coredump-destroy, coredump-restart: xenjs writes no core dump (it says so in the log)
 *                    and destroys / restarts.
 *   soft-reset       not supported for PV here: treated as restart.
 * The handle's 'exit' event (and waitForExit) fires when it reaches a final
 * state: destroyed, or shut down and preserved.
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { UserError } from '../errors.ts';
import type { ConsoleBackend } from '../devices/console.ts';
import { XenStore, releaseDomain } from '../devices/xenstore/index.ts';
import { GrantAccess } from '../devices/grant-access.ts';
import { destroyEventChannels, pollDeadline } from '../hypercall/evtchn.ts';
import { watchdogDeadline } from '../hypercall/sched.ts';
import { buildDomain, type DomainLayout } from './builder.ts';
import {
  loadDomainConfig, resolvePaths, toDomainConfig, type DomainConfig, type ShutdownAction,
} from './domain-config.ts';
import {
  Domain, SHUTDOWN_crash, SHUTDOWN_NAMES, SHUTDOWN_poweroff, SHUTDOWN_reboot, SHUTDOWN_watchdog, SHUTDOWN_soft_reset,
  type HypercallTracer,
} from './domain.ts';
import { loadKernelFile } from './kernel-loader.ts';
import { DomainRegistry } from './registry.ts';
import { Scheduler } from './scheduler.ts';
import { updateVcpuTime, updateWallclock } from './time.ts';
import { applyOverrides, ConfigError, type RawConfig, type RawSetting, type RawValue, type SourceLoc } from './xl-config.ts';

// ------------------------------------------------------------------ public types

/**
 * A domain's state. 'blocked' (every vCPU idle in SCHEDOP_block/poll) is
 * reported by `state` but never emitted as a 'state' event: it changes on
 * every timer tick.
 */
export type DomainState = 'running' | 'blocked' | 'paused' | 'shutdown' | 'crashed' | 'destroyed';

/** SCHEDOP_shutdown reasons by name (xen/sched.h SHUTDOWN_*). */
export type ShutdownReason = 'poweroff' | 'reboot' | 'suspend' | 'crash' | 'watchdog' | 'soft_reset';

/** What the toolstack may ask of a guest through control/shutdown. */
export type ShutdownRequest = 'poweroff' | 'reboot' | 'halt';

/** xl config keys as a plain object, e.g. { name: 'vm', kernel: '/boot/vmlinuz', memory: 256, extra: 'console=hvc0' }. */
export type XlKeys = Record<string, XlValue | undefined>;
export type XlValue = string | number | boolean | XlValue[];

/** A config: a parsed DomainConfig, the path of an xl config file, or xl keys. */
export type ConfigInput = DomainConfig | string | XlKeys;

export interface XenjsOptions {
  /**
   * Deterministic time: guest time advances with executed instructions
   * (nsPerInsn ns each, default 1) instead of the host clock, and jumps to
   * the next timer when every vCPU is idle; the wallclock starts at epochMs
   * (default 2024-01-01T00:00:00Z). The same guest with the same input then
   * replays identically, whatever the host's speed.
   */
  deterministic?: boolean | { nsPerInsn?: number; epochMs?: number };
  /** Stop the host loop (run() resolves 'budget') once this many guest instructions have run, over all domains. */
  maxInsns?: number;
  /** Guest instructions per vCPU scheduling slice (default: the scheduler's, 2,000,000). */
  sliceInsns?: number;
  /** Hypervisor and toolstack log lines (default: stderr). */
  log?: (line: string) => void;
}

export interface CreateOptions {
  /** `xl create CFG KEY=VALUE...` overrides, e.g. ['memory=128', 'extra="console=hvc0"']. */
  overrides?: readonly string[];
  /** Directory relative kernel/ramdisk paths and the config file are resolved against (default: process.cwd()). */
  cwd?: string;
  /** Create it paused (xl create -p): call unpause() to start it. */
  paused?: boolean;
  /** Also write the console stream, from its first byte, to this file (truncated first). */
  consoleLog?: string;
  /** Hypercall tracer (--trace-hypercalls) for this domain. */
  traceHypercalls?: HypercallTracer;
}

export interface WaitForOptions {
  /** Reject after this many ms (default: wait until the domain exits). */
  timeout?: number;
  /** Match only text at or after this offset in text() (default 0: the whole scrollback). */
  from?: number;
  signal?: AbortSignal;
}

export interface ConsoleMatch {
  /** The matched text. */
  match: string;
  /** Offset of the match in text(). */
  index: number;
  /** Offset just after the match: pass it as `from` to wait for what comes next. */
  end: number;
  /** Capture groups of a RegExp pattern ([] for a string). */
  captures: (string | undefined)[];
  groups?: Record<string, string>;
}

/** How a domain's handle ended. */
export interface ExitInfo {
  /** The guest's shutdown reason, or 'destroyed' when destroy() ended a running domain. */
  reason: ShutdownReason | 'destroyed';
  /** 'destroyed', or 'shutdown'/'crashed' when the action was preserve. */
  state: 'destroyed' | 'shutdown' | 'crashed';
  /** The config action that was applied (absent for destroy()). */
  action?: ShutdownAction;
  id: number;
  name: string;
  /** Set when a restart failed (the kernel could not be loaded again, …). */
  error?: string;
}

/** Why run() returned. */
export type RunResult = 'idle' | 'stopped' | 'budget';

// ------------------------------------------------------------------ configs

const XL_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

function rawValue(v: XlValue, loc: SourceLoc, key: string): RawValue {
  if (typeof v === 'string') return { kind: 'string', value: v, loc };
  if (typeof v === 'boolean') return { kind: 'number', value: v ? 1 : 0, text: v ? '1' : '0', loc };
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw new ConfigError(loc, `${key} must be a whole number (xl has no signs or fractions), not ${v}`);
    return { kind: 'number', value: v, text: String(v), loc };
  }
  if (Array.isArray(v)) return { kind: 'list', items: v.map((x) => rawValue(x, loc, key)), loc };
  throw new ConfigError(loc, `${key} must be a string, a number or a list`);
}

/** xl keys given as an object → the parsed form a config file has (line N = the Nth key). */
export function rawConfigFromObject(obj: XlKeys, file = '<object>'): RawConfig {
  const settings = new Map<string, RawSetting>();
  let line = 0;
  for (const [key, value] of Object.entries(obj)) {
    line++;
    if (value === undefined) continue;
    const loc = { file, line, col: 1 };
    if (!XL_KEY.test(key)) throw new ConfigError(loc, `bad key ${JSON.stringify(key)} (xl keys are identifiers)`);
    settings.set(key, { key, op: '=', value: rawValue(value, loc, key), loc });
  }
  return { file, settings };
}

function isDomainConfig(c: DomainConfig | XlKeys): c is DomainConfig {
  const r = (c as DomainConfig).raw as unknown;
  return typeof r === 'object' && r !== null && (r as RawConfig).settings instanceof Map && (c as DomainConfig).type === 'pv';
}

/** Any config input (plus `xl create` overrides) → a checked DomainConfig with absolute paths. */
export function resolveConfig(input: ConfigInput, overrides: readonly string[] = [], cwd = process.cwd()): DomainConfig {
  if (typeof input === 'string') return loadDomainConfig(input, overrides, cwd);
  if (isDomainConfig(input)) {
    if (overrides.length === 0) return resolvePaths(input, cwd);
    return resolvePaths(toDomainConfig(applyOverrides(input.raw, overrides), input.file), cwd);
  }
  const raw = applyOverrides(rawConfigFromObject(input), overrides);
  return resolvePaths(toDomainConfig(raw, raw.file), cwd);
}

// ------------------------------------------------------------------ a small typed emitter

type Listener = (...args: never[]) => void;

class Emitter {
  private readonly listeners = new Map<string, Array<{ fn: Listener; once: boolean }>>();
  protected onError: (e: unknown, event: string) => void = () => {};

  protected addListener(event: string, fn: Listener, once: boolean): void {
    const l = this.listeners.get(event) ?? [];
    l.push({ fn, once });
    this.listeners.set(event, l);
  }

  protected removeListener(event: string, fn: Listener): void {
    const l = this.listeners.get(event);
    if (!l) return;
    const i = l.findIndex((e) => e.fn === fn);
    if (i >= 0) l.splice(i, 1);
  }

  /** Call every listener; one that throws is reported and does not stop the others (or the host). */
  protected emit(event: string, ...args: unknown[]): void {
    const l = this.listeners.get(event);
    if (!l || l.length === 0) return;
    for (const e of [...l]) {
      if (e.once) this.removeListener(event, e.fn);
      try {
        (e.fn as (...a: unknown[]) => void)(...args);
      } catch (err) {
        this.onError(err, event);
      }
    }
  }
}

// ------------------------------------------------------------------ the console stream

const describePattern = (p: string | RegExp): string => (typeof p === 'string' ? JSON.stringify(p) : String(p));

interface Waiter {
  pattern: string | RegExp;
  from: number;
  resolve: (m: ConsoleMatch) => void;
  reject: (e: Error) => void;
  cleanup: () => void;
}

/**
 * A domain's console as its user sees it: everything it printed
 * (HYPERVISOR_console_io and the hvc0 ring, in order) from the first byte,
 * across restarts, plus input to it.
 */
export class DomainConsole {
  private readonly chunks: Uint8Array[] = [];
  private size = 0;
  private str = '';
  private readonly decoder = new TextDecoder('utf-8');
  private readonly dataListeners = new Set<(bytes: Uint8Array) => void>();
  private readonly waiters = new Set<Waiter>();
  private checkQueued = false;
  private logFd: number | undefined;
  /** Where input goes (the current incarnation's backend). */
  sink: ((bytes: Uint8Array) => void) | undefined;
  /** Set once no more output can come: pending and later waitFor calls reject with it. */
  private closedWhy: string | undefined;

  constructor(
    private readonly label: () => string,
    private readonly report: (e: unknown) => void,
    logFile?: string,
  ) {
    if (logFile !== undefined) {
      try {
        this.logFd = openSync(logFile, 'w');
      } catch (e) {
        throw new UserError(`${logFile}: cannot write the console log: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
      }
    }
  }

  /** Bytes printed so far. */
  get byteLength(): number {
    return this.size;
  }

  /** Length of text() so far (a mark to pass as `from`). */
  get length(): number {
    return this.str.length;
  }

  /** Everything printed so far, decoded as UTF-8. */
  text(): string {
    return this.str;
  }

  /** Everything printed so far, as bytes. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }

  /** The last `n` lines (a final line without its newline counts; \r is dropped). */
  tail(n = 15): string[] {
    const lines = this.str.replace(/\r/g, '').split('\n');
    if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    return lines.slice(-n);
  }

  /** Subscribe to output as it arrives; returns unsubscribe. */
  onData(cb: (bytes: Uint8Array) => void): () => void {
    this.dataListeners.add(cb);
    return () => this.dataListeners.delete(cb);
  }

  /** Type into the console (the guest's hvc0 input ring). */
  write(data: string | Uint8Array): void {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    if (bytes.length === 0) return;
    this.sink?.(bytes);
  }

  /**
   * Resolve when `pattern` appears in the console text — including text that
   * arrived before the call (from `opts.from`, default the first byte).
   * Rejects on timeout, on abort, or when the domain exits without it.
   */
  waitFor(pattern: string | RegExp, opts: WaitForOptions = {}): Promise<ConsoleMatch> {
    const re = typeof pattern === 'string' ? pattern : new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
    const from = Math.max(0, opts.from ?? 0);
    const now = this.search(re, from);
    if (now) return Promise.resolve(now);
    if (this.closedWhy !== undefined) {
      return Promise.reject(new Error(`${this.closedWhy} before ${describePattern(pattern)} appeared on its console; last lines:\n${this.tail().join('\n')}`));
    }
    if (opts.signal?.aborted) return Promise.reject(opts.signal.reason instanceof Error ? opts.signal.reason : new Error('aborted'));
    return new Promise<ConsoleMatch>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const onAbort = (): void => {
        w.cleanup();
        reject(opts.signal?.reason instanceof Error ? opts.signal.reason : new Error('aborted'));
      };
      const w: Waiter = {
        pattern: re,
        from,
        resolve,
        reject,
        cleanup: () => {
          this.waiters.delete(w);
          if (timer) clearTimeout(timer);
          opts.signal?.removeEventListener('abort', onAbort);
        },
      };
      this.waiters.add(w);
      if (opts.timeout !== undefined && Number.isFinite(opts.timeout)) {
        timer = setTimeout(() => {
          // A last look: output from the current slice may not have been checked yet.
          const m = this.search(w.pattern, w.from);
          w.cleanup();
          if (m) resolve(m);
          else reject(new Error(`timed out after ${opts.timeout} ms waiting for ${describePattern(pattern)} on the console of ${this.label()}; last lines:\n${this.tail().join('\n')}`));
        }, opts.timeout);
      }
      opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private search(p: string | RegExp, from: number): ConsoleMatch | undefined {
    const s = this.str;
    if (typeof p === 'string') {
      const i = s.indexOf(p, from);
      return i < 0 ? undefined : { match: p, index: i, end: i + p.length, captures: [] };
    }
    const hay = from > 0 ? s.slice(from) : s;
    const m = p.exec(hay);
    if (!m) return undefined;
    const index = m.index + from;
    return { match: m[0], index, end: index + m[0].length, captures: m.slice(1), ...(m.groups && { groups: { ...m.groups } }) };
  }

  /** New output (called by the backends, inside a scheduler slice). */
  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const copy = bytes.slice();
    this.chunks.push(copy);
    this.size += copy.length;
    this.str += this.decoder.decode(copy, { stream: true });
    if (this.logFd !== undefined) {
      try {
        writeSync(this.logFd, copy);
      } catch (e) {
        this.report(e);
      }
    }
    for (const l of this.dataListeners) {
      try {
        l(copy);
      } catch (e) {
        this.report(e);
      }
    }
    // Waiters are checked once per host turn, not once per chunk (a boot prints thousands).
    if (this.waiters.size > 0 && !this.checkQueued) {
      this.checkQueued = true;
      setImmediate(() => {
        this.checkQueued = false;
        this.checkWaiters();
      });
    }
  }

  private checkWaiters(): void {
    for (const w of [...this.waiters]) {
      const m = this.search(w.pattern, w.from);
      if (m) {
        w.cleanup();
        w.resolve(m);
      }
    }
  }

  /** No more output will come (the domain is gone or preserved): settle every waiter. */
  close(why: string): void {
    this.checkWaiters();
    this.closedWhy = why;
    for (const w of [...this.waiters]) {
      w.cleanup();
      w.reject(new Error(`${why} before ${describePattern(w.pattern)} appeared on its console; last lines:\n${this.tail().join('\n')}`));
    }
  }

  /** Close the log file (final). */
  closeLog(): void {
    if (this.logFd !== undefined) {
      try {
        closeSync(this.logFd);
      } catch {
        // already closed
      }
      this.logFd = undefined;
    }
  }
}

// ------------------------------------------------------------------ one built domain

/** One built domain (a handle has a new one after each restart). */
class Incarnation {
  /** Shutdown seen and its action applied. */
  reaped = false;
  /** Torn down: no longer scheduled, released from xenstore. */
  gone = false;
  paused = false;

  constructor(
    readonly domain: Domain,
    readonly layout: DomainLayout,
    /** The builder's console backend: hvc0 ring and console_io output in one stream. */
    readonly console: ConsoleBackend,
  ) {}
}

// ------------------------------------------------------------------ the handle

/**
 * A domain as the user sees it. Across restarts (on_reboot = restart) the
 * handle follows the new domain: `id` changes, the console stream goes on.
 */
export class DomainHandle extends Emitter {
  readonly console: DomainConsole;
  private inc: Incarnation | undefined;
  private currentName: string;
  private exitInfo: ExitInfo | undefined;
  private readonly exitWaiters: Array<(e: ExitInfo) => void> = [];
  private lastState: DomainState;
  private lastId: number;

  /** @internal — created by Xenjs.createDomain. */
  constructor(
    private readonly host: Xenjs,
    readonly config: DomainConfig,
    readonly options: CreateOptions,
    console: DomainConsole,
    name: string,
  ) {
    super();
    this.console = console;
    this.currentName = name;
    this.lastState = 'running';
    this.lastId = -1;
    this.onError = (e, event) => host.report(e, `a '${event}' listener of domain ${this.currentName}`);
  }

  /** The domain id (changes on restart; the last one once destroyed). */
  get id(): number {
    return this.inc ? this.inc.domain.id : this.lastId;
  }

  get name(): string {
    return this.currentName;
  }

  get state(): DomainState {
    if (this.exitInfo?.state === 'destroyed' || !this.inc) return 'destroyed';
    const inc = this.inc;
    if (inc.domain.isShutdown) return inc.domain.shutdownReason === SHUTDOWN_crash ? 'crashed' : 'shutdown';
    if (inc.paused) return 'paused';
    const vs = inc.domain.vcpus.filter((v) => v.online);
    if (vs.length > 0 && vs.every((v) => v.blocked)) return 'blocked';
    return 'running';
  }

  /** The running Domain (for tools and tests that look inside); undefined once destroyed. */
  get domain(): Domain | undefined {
    return this.inc?.domain;
  }

  /** The builder's layout of the current domain. */
  get layout(): DomainLayout | undefined {
    return this.inc?.layout;
  }

  /** Guest instructions executed by the current domain. */
  get instructions(): number {
    let n = 0;
    for (const v of this.inc?.domain.vcpus ?? []) n += v.cpu.icount;
    return n;
  }

  /** How it ended, once it has. */
  get exit(): ExitInfo | undefined {
    return this.exitInfo;
  }

  on(event: 'state', cb: (state: DomainState, previous: DomainState) => void): this;
  on(event: 'shutdown', cb: (reason: ShutdownReason, action: ShutdownAction) => void): this;
  on(event: 'restart', cb: (newId: number, oldId: number) => void): this;
  on(event: 'exit', cb: (info: ExitInfo) => void): this;
  on(event: string, cb: Listener): this {
    this.addListener(event, cb, false);
    return this;
  }

  once(event: 'state', cb: (state: DomainState, previous: DomainState) => void): this;
  once(event: 'shutdown', cb: (reason: ShutdownReason, action: ShutdownAction) => void): this;
  once(event: 'restart', cb: (newId: number, oldId: number) => void): this;
  once(event: 'exit', cb: (info: ExitInfo) => void): this;
  once(event: string, cb: Listener): this {
    this.addListener(event, cb, true);
    return this;
  }

  off(event: string, cb: Listener): this {
    this.removeListener(event, cb);
    return this;
  }

  /** Resolves when the handle reaches a final state (destroyed, or shut down and preserved). */
  waitForExit(): Promise<ExitInfo> {
    if (this.exitInfo) return Promise.resolve(this.exitInfo);
    return new Promise((resolve) => this.exitWaiters.push(resolve));
  }

  /**
   * Ask the guest to shut down, as `xl shutdown` / `xl reboot` do: write
   * control/shutdown in its xenstore directory (Linux clears it and calls
   * SCHEDOP_shutdown with the matching reason). The guest decides; watch
   * 'exit' or waitForExit(). A guest that does not read xenstore (still
   * early in its boot, or without PV drivers) does not react. With `force`
   * the hypervisor shuts the domain down at once with that reason, as if the
   * guest had asked, and the config's action applies; with `timeout` (ms), a
   * guest that has not shut down by then is forced.
   */
  shutdown(reason: ShutdownRequest = 'poweroff', opts: { force?: boolean; timeout?: number } = {}): void {
    if (reason !== 'poweroff' && reason !== 'reboot' && reason !== 'halt') throw new UserError(`cannot ask a domain to ${String(reason)} (poweroff, reboot or halt)`);
    const inc = this.inc;
    if (!inc || inc.gone || inc.domain.isShutdown) return;
    const code = reason === 'reboot' ? SHUTDOWN_reboot : SHUTDOWN_poweroff;
    if (opts.force) {
      this.host.forceShutdown(inc, code);
      return;
    }
    this.host.writeControlShutdown(inc, reason);
    if (opts.timeout !== undefined) {
      const t = setTimeout(() => {
        if (this.inc === inc && !inc.domain.isShutdown && !inc.gone) this.host.forceShutdown(inc, code);
      }, opts.timeout);
      void this.waitForExit().then(() => clearTimeout(t));
      this.once('restart', () => clearTimeout(t));
    }
  }

  /** Destroy the domain now (xl destroy): it stops at once and its memory is released. */
  destroy(): void {
    this.host.destroyHandle(this);
  }

  /** Stop scheduling it (takes effect at the end of the current slice). */
  pause(): void {
    const inc = this.inc;
    if (!inc || inc.gone || inc.paused || inc.domain.isShutdown) return;
    inc.paused = true;
    this.host.unschedule(inc);
    this.noteState();
  }

  unpause(): void {
    const inc = this.inc;
    if (!inc || inc.gone || !inc.paused) return;
    inc.paused = false;
    this.host.schedule(inc);
    this.noteState();
  }

  // ---- internal (the host drives these)

  /** @internal */
  get incarnation(): Incarnation | undefined {
    return this.inc;
  }

  /** @internal */
  attach(inc: Incarnation): void {
    const old = this.inc;
    this.inc = inc;
    this.lastId = inc.domain.id;
    this.console.sink = (bytes) => {
      inc.console.input(bytes);
      this.host.kick();
    };
    if (old) this.emit('restart', inc.domain.id, old.domain.id);
  }

  /** @internal — emit 'state' if the lifecycle state changed ('blocked' counts as 'running'). */
  noteState(): void {
    let s = this.state;
    if (s === 'blocked') s = 'running';
    if (s === this.lastState) return;
    const prev = this.lastState;
    this.lastState = s;
    this.emit('state', s, prev);
  }

  /** @internal */
  noteShutdown(reason: ShutdownReason, action: ShutdownAction): void {
    this.emit('shutdown', reason, action);
  }

  /** @internal — the final state was reached. */
  finish(info: ExitInfo, detach: boolean): void {
    if (detach && this.inc) {
      this.lastId = this.inc.domain.id;
      this.inc = undefined;
      this.console.sink = undefined;
    }
    this.noteState();
    if (this.exitInfo) {
      // Already exited (preserved, now destroyed): only the state changes.
      if (info.state === 'destroyed') this.exitInfo = { ...this.exitInfo, state: 'destroyed' };
      this.console.closeLog();
      return;
    }
    this.exitInfo = info;
    this.console.close(`domain ${this.currentName} ${info.state === 'destroyed' ? 'was destroyed' : info.state === 'crashed' ? 'crashed' : 'shut down'}`);
    if (info.state === 'destroyed') this.console.closeLog();
    for (const w of this.exitWaiters.splice(0)) w(info);
    this.emit('exit', info);
  }
}

// ------------------------------------------------------------------ the host

const DOMID_FIRST_RESERVED = 0x7ff0;
const DEFAULT_EPOCH_MS = Date.UTC(2024, 0, 1);

const SHUTDOWN_REASONS: readonly ShutdownReason[] = SHUTDOWN_NAMES as ShutdownReason[];

/** The config action for a shutdown reason (xl's handle_domain_death). */
function actionFor(cfg: DomainConfig, reason: number): ShutdownAction {
  switch (reason) {
    case SHUTDOWN_poweroff: return cfg.on_poweroff;
    case SHUTDOWN_reboot: return cfg.on_reboot;
    case SHUTDOWN_crash: return cfg.on_crash;
    case SHUTDOWN_watchdog: return cfg.on_watchdog;
    case SHUTDOWN_soft_reset: return cfg.on_soft_reset;
    default: return 'destroy';
  }
}

export class Xenjs {
  /** The host's xenstore (dom0's xenstored): every domain is introduced to it. */
  readonly store: XenStore;
  /** The host's domains by id: interdomain event channels and grant copies find their peers here. */
  readonly registry = new DomainRegistry();
  /** dom0's grant-table operations (map/unmap/copy), for in-process backends. */
  readonly grants = new GrantAccess(this.registry);
  private readonly handles: DomainHandle[] = [];
  private readonly incs = new Set<Incarnation>();
  private nextDomid = 1;
  private sched: Scheduler | undefined;
  private loop: Promise<RunResult> | undefined;
  private stopRequested = false;
  private budgetHit = false;
  private idleWake: (() => void) | undefined;
  private retiredInsns = 0;
  private warpNs = 0;
  private readonly t0 = process.hrtime.bigint();
  private readonly nsPerInsn: number;
  private readonly epochMs: number | undefined;
  private reaping = false;
  readonly log: (line: string) => void;

  constructor(readonly options: XenjsOptions = {}) {
    this.log = options.log ?? ((l) => void process.stderr.write(l + '\n'));
    const det = options.deterministic;
    this.nsPerInsn = det ? (typeof det === 'object' ? det.nsPerInsn ?? 1 : 1) : 0;
    this.epochMs = det ? (typeof det === 'object' ? det.epochMs ?? DEFAULT_EPOCH_MS : DEFAULT_EPOCH_MS) : undefined;
    if (det && !(this.nsPerInsn > 0)) throw new UserError('deterministic.nsPerInsn must be above 0');
    this.store = new XenStore({ log: (m) => this.log(`(xenjs) xenstore: ${m}`) });
  }

  get deterministic(): boolean {
    return this.epochMs !== undefined;
  }

  /** Every domain that exists (not destroyed). */
  get domains(): readonly DomainHandle[] {
    return this.handles.filter((h) => h.state !== 'destroyed');
  }

  /** A domain by id or name. */
  domain(idOrName: number | string): DomainHandle | undefined {
    return this.domains.find((h) => (typeof idOrName === 'number' ? h.id === idOrName : h.name === idOrName));
  }

  /** Guest instructions executed on this host, over all domains (destroyed ones included). */
  get totalInsns(): number {
    let n = this.retiredInsns;
    for (const inc of this.incs) for (const v of inc.domain.vcpus) n += v.cpu.icount;
    return n;
  }

  /** Host time in ns: instruction-driven when deterministic, else the host clock since construction. */
  nowNs(): number {
    if (this.epochMs !== undefined) return this.totalInsns * this.nsPerInsn + this.warpNs;
    return Number(process.hrtime.bigint() - this.t0);
  }

  /** Build a domain and start it (unless opts.paused): `xl create`. */
  async createDomain(config: ConfigInput, opts: CreateOptions = {}): Promise<DomainHandle> {
    const cfg = resolveConfig(config, opts.overrides ?? [], opts.cwd);
    for (const w of cfg.warnings) this.log(`xenjs: ${w}`);
    if (this.domains.some((h) => h.name === cfg.name)) throw new UserError(`domain with name "${cfg.name}" already exists`);
    let handle: DomainHandle | undefined;
    const console = new DomainConsole(() => handle?.name ?? cfg.name, (e) => this.report(e, `the console of ${cfg.name}`), opts.consoleLog);
    try {
      handle = new DomainHandle(this, cfg, opts, console, cfg.name);
      const inc = this.build(cfg, opts, console, cfg.name);
      handle.attach(inc);
      this.handles.push(handle);
      if (opts.paused) {
        inc.paused = true;
        handle.noteState();
      } else {
        this.schedule(inc);
      }
      return handle;
    } catch (e) {
      console.closeLog();
      throw e;
    }
  }

  /**
   * Run the host until nothing is left to run (every domain destroyed or
   * preserved; paused domains keep it waiting), stop(), or the maxInsns
   * budget. Domains already run in the background from creation; this
   * (re)starts the loop after a stop() and tells when it ends.
   */
  run(): Promise<RunResult> {
    this.stopRequested = false;
    return this.ensureLoop();
  }

  /** Stop executing guests (they keep their state; run() resumes them). */
  stop(): void {
    this.stopRequested = true;
    this.sched?.stop();
    this.wakeIdle();
  }

  /** Destroy every domain and stop. */
  async close(): Promise<void> {
    for (const h of [...this.handles]) h.destroy();
    this.stop();
    if (this.loop) await this.loop;
  }

  // ---------------------------------------------------------------- building

  private allocDomid(): number {
    const used = new Set([...this.incs].map((i) => i.domain.id));
    for (let k = 0; k < DOMID_FIRST_RESERVED; k++) {
      const id = this.nextDomid;
      this.nextDomid = id + 1 >= DOMID_FIRST_RESERVED ? 1 : id + 1;
      if (!used.has(id)) return id;
    }
    throw new UserError('no free domain id');
  }

  private build(cfg: DomainConfig, opts: CreateOptions, stream: DomainConsole, name: string): Incarnation {
    if (!cfg.kernel) throw new UserError(`${cfg.file}: no kernel given (add kernel = "/path/to/vmlinuz")`);
    const kernel = loadKernelFile(cfg.kernel);
    if (!kernel.isXenPv) {
      throw new UserError(`${cfg.kernel}: this kernel has no Xen ELF notes, so it cannot boot as a PV guest (build it with CONFIG_XEN_PV)`);
    }
    let ramdisk: Uint8Array | undefined;
    if (cfg.ramdisk) {
      try {
        ramdisk = new Uint8Array(readFileSync(cfg.ramdisk));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new UserError(`${cfg.ramdisk}: cannot read ramdisk: ${code === 'ENOENT' ? 'no such file' : code ?? String(e)}`);
      }
    }
    const id = this.allocDomid();
    const built = buildDomain({
      id,
      name,
      kernel,
      ramdisk,
      cmdline: cfg.cmdline,
      memoryMiB: cfg.memory,
      maxmemMiB: cfg.maxmem,
      vcpus: cfg.vcpus,
      // console_io output goes into the console backend's stream once the builder has connected it (always, before the guest runs).
      consoleOut: (bytes) => stream.push(bytes),
      // System time is host-wide, as in Xen (NOW() is the host's): every domain's timers share one base.
      clockNs: () => this.nowNs(),
      log: (l) => this.log(`(xenjs) d${id}: ${l}`),
      // The builder writes the nodes libxl writes, introduces the domain and serves its store ring.
      xenstore: this.store,
      ...(cfg.uuid !== undefined && { uuid: cfg.uuid }),
    });
    const d = built.domain;
    const backend = d.console;
    if (!backend) throw new Error('the builder connected no console backend');
    backend.onOutput((b) => stream.push(b));
    // Anything printed before we subscribed (nothing: the guest has not run yet, but stay exact).
    const before = backend.scrollback();
    if (before.length > 0) stream.push(before);
    const inc = new Incarnation(d, built.layout, backend);
    if (opts.traceHypercalls) d.traceHypercalls = opts.traceHypercalls;
    updateWallclock(d, this.epochMs !== undefined ? this.epochMs : Date.now());
    for (const v of d.vcpus) updateVcpuTime(v);
    this.incs.add(inc);
    this.registry.add(d);
    return inc;
  }

  /** xl shutdown / xl reboot: control/shutdown in the guest's xenstore directory. */
  writeControlShutdown(inc: Incarnation, what: ShutdownRequest): void {
    try {
      this.store.dom0.write(`/local/domain/${inc.domain.id}/control/shutdown`, what);
    } catch (e) {
      this.report(e, `writing control/shutdown of domain ${inc.domain.id}`);
    }
    this.kick();
  }

  /** The hypervisor shuts the domain down as if the guest had asked; the config's action follows. */
  forceShutdown(inc: Incarnation, reason: number): void {
    if (inc.gone || inc.domain.isShutdown) return;
    inc.domain.log(`shut down by the toolstack: ${SHUTDOWN_NAMES[reason] ?? reason}`);
    inc.domain.shutdown(reason);
    this.reap();
    this.kick();
  }

  // ---------------------------------------------------------------- scheduling

  /** Wake the host loop (new work, console input, an unpause). */
  kick(): void {
    this.sched?.kick();
    this.wakeIdle();
  }

  private wakeIdle(): void {
    const w = this.idleWake;
    this.idleWake = undefined;
    w?.();
  }

  /** @internal */
  schedule(inc: Incarnation): void {
    if (inc.gone || inc.paused || inc.domain.isShutdown) return;
    const s = this.sched;
    if (s && !s.domains.includes(inc.domain)) s.domains.push(inc.domain);
    this.kick();
    if (!this.stopRequested) void this.ensureLoop();
  }

  /** @internal */
  unschedule(inc: Incarnation): void {
    const s = this.sched;
    if (!s) return;
    const i = s.domains.indexOf(inc.domain);
    if (i >= 0) s.domains.splice(i, 1);
    s.kick();
  }

  private runnable(): Incarnation[] {
    return [...this.incs].filter((i) => !i.gone && !i.paused && !i.domain.isShutdown);
  }

  private ensureLoop(): Promise<RunResult> {
    if (!this.loop) {
      this.budgetHit = false;
      this.loop = this.hostLoop().finally(() => {
        this.loop = undefined;
        this.sched = undefined;
      });
    }
    return this.loop;
  }

  private async hostLoop(): Promise<RunResult> {
    // Start on a later turn, so a caller can subscribe to a new domain's console and events first.
    await new Promise<void>((r) => setImmediate(r));
    for (;;) {
      if (this.stopRequested) return 'stopped';
      if (this.budgetHit || this.budgetSpent()) {
        this.budgetHit = true;
        return 'budget';
      }
      this.reap();
      const runnable = this.runnable();
      if (runnable.length === 0) {
        if (![...this.incs].some((i) => !i.gone && i.paused && !i.domain.isShutdown)) return 'idle';
        await new Promise<void>((r) => (this.idleWake = r));
        continue;
      }
      const sched = new Scheduler({ sliceInsns: this.options.sliceInsns, onSlice: () => this.afterSlice(sched) });
      for (const inc of runnable) sched.domains.push(inc.domain);
      this.sched = sched;
      try {
        await sched.run();
      } finally {
        this.sched = undefined;
      }
      this.reap();
    }
  }

  private budgetSpent(): boolean {
    return this.options.maxInsns !== undefined && this.totalInsns >= this.options.maxInsns;
  }

  /** After every scheduler pass: timeouts, shutdowns and their actions, the budget, deterministic time. */
  private afterSlice(sched: Scheduler): void {
    this.reap();
    if (this.budgetSpent()) {
      this.budgetHit = true;
      sched.stop();
      return;
    }
    this.idleDeadlines(sched);
  }

  /**
   * Deterministic time: when every vCPU is idle, jump to the next deadline
   * (a timer, a poll timeout, a watchdog), so idle time costs nothing and
   * replays exactly. (With host time the scheduler sleeps until then.)
   */
  private idleDeadlines(sched: Scheduler): void {
    if (!this.deterministic) return;
    let earliest = Infinity;
    for (const d of sched.domains) {
      if (d.isShutdown) continue;
      for (const v of d.vcpus) {
        if (!v.online) continue;
        if (!v.blocked) return; // something will run: nothing to do
        for (const t of [v.timerDeadline, v.periodicPeriod > 0 ? v.periodicNext : -1, pollDeadline(v)]) {
          if (t >= 0 && t < earliest) earliest = t;
        }
      }
      const w = watchdogDeadline(d);
      if (w >= 0 && w < earliest) earliest = w;
    }
    if (earliest === Infinity) return;
    const now = this.nowNs();
    if (earliest > now) this.warpNs += earliest - now;
  }

  private handleOf(inc: Incarnation): DomainHandle | undefined {
    return this.handles.find((h) => h.incarnation === inc);
  }

  // ---------------------------------------------------------------- lifecycle

  /** Apply the config's action to every domain that has shut down since the last look. */
  private reap(): void {
    if (this.reaping) return;
    this.reaping = true;
    try {
      for (let again = true; again; ) {
        again = false;
        for (const inc of [...this.incs]) {
          if (inc.gone || inc.reaped || !inc.domain.isShutdown) continue;
          inc.reaped = true;
          again = true;
          this.onShutdown(inc);
        }
      }
    } finally {
      this.reaping = false;
    }
  }

  private onShutdown(inc: Incarnation): void {
    const d = inc.domain;
    // What the guest wrote just before shutting down is still in the ring.
    try {
      inc.console.kick();
    } catch (e) {
      this.report(e, `the console of domain ${d.id}`);
    }
    this.unschedule(inc);
    const h = this.handleOf(inc);
    if (!h) {
      this.teardown(inc);
      return;
    }
    const code = d.shutdownReason;
    const reason = SHUTDOWN_REASONS[code] ?? 'poweroff';
    const action = actionFor(h.config, code);
    // xenstored tells @releaseDomain watchers when a domain shuts down.
    try {
      this.store.run(() => this.store.fireSpecial('@releaseDomain'));
    } catch (e) {
      this.report(e, 'xenstore @releaseDomain');
    }
    h.noteShutdown(reason, action);
    if (h.incarnation !== inc || inc.gone) return; // a listener destroyed or restarted it
    const info = (state: ExitInfo['state'], error?: string): ExitInfo => ({
      reason, state, action, id: d.id, name: h.name, ...(error !== undefined && { error }),
    });
    switch (action) {
      case 'coredump-destroy':
      case 'coredump-restart':
        this.log(`(xenjs) d${d.id}: ${action}: xenjs writes no core dumps; ${action === 'coredump-destroy' ? 'destroying' : 'restarting'}`);
        break;
      case 'soft-reset':
        this.log(`(xenjs) d${d.id}: soft-reset is not supported for PV domains here: restarting instead`);
        break;
      default:
        break;
    }
    switch (action) {
      case 'preserve':
        h.finish(info(code === SHUTDOWN_crash ? 'crashed' : 'shutdown'), false);
        return;
      case 'destroy':
      case 'coredump-destroy':
        this.teardown(inc);
        h.finish(info('destroyed'), true);
        this.forget(h);
        return;
      case 'rename-restart': {
        // The old domain stays, renamed, under a handle of its own; the original handle goes on with a new domain.
        const renamed = this.preservedName(h.name, d.id);
        const old = new DomainHandle(this, h.config, {}, new DomainConsole(() => renamed, (e) => this.report(e, `the console of ${renamed}`)), renamed);
        old.console.push(inc.console.scrollback());
        old.attach(inc);
        this.handles.push(old);
        this.renameInStore(inc, renamed);
        this.log(`(xenjs) d${d.id}: preserved as ${renamed}`);
        old.finish({ ...info(code === SHUTDOWN_crash ? 'crashed' : 'shutdown'), name: renamed }, false);
        this.restart(h, inc, false);
        return;
      }
      case 'restart':
      case 'coredump-restart':
      case 'soft-reset':
        this.restart(h, inc, true);
        return;
    }
  }

  private preservedName(name: string, id: number): string {
    const ms = this.epochMs !== undefined ? this.epochMs + this.nowNs() / 1e6 : Date.now();
    const t = new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
    let n = `${name}-${t.slice(0, 4)}${t.slice(5, 7)}${t.slice(8, 10)}T${t.slice(11, 13)}${t.slice(14, 16)}Z`;
    if (this.domains.some((h) => h.name === n)) n += `-${id}`;
    return n;
  }

  private renameInStore(inc: Incarnation, name: string): void {
    try {
      this.store.dom0.write(`/local/domain/${inc.domain.id}/name`, name);
    } catch (e) {
      this.report(e, 'renaming a domain in xenstore');
    }
  }

  /** Build the handle's config again as a new domain (xl's restart: destroy, then create). */
  private restart(h: DomainHandle, old: Incarnation, destroyOld: boolean): void {
    const oldId = old.domain.id;
    if (destroyOld) this.teardown(old);
    let inc: Incarnation;
    try {
      inc = this.build(h.config, h.options, h.console, h.name);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      this.log(`(xenjs) d${oldId}: restart of ${h.name} failed: ${why}`);
      h.finish({ reason: SHUTDOWN_REASONS[old.domain.shutdownReason] ?? 'reboot', state: 'destroyed', action: 'restart', id: oldId, name: h.name, error: why }, true);
      return;
    }
    this.log(`(xenjs) d${oldId}: ${h.name} restarting as domain ${inc.domain.id}`);
    h.attach(inc);
    h.noteState();
    this.schedule(inc);
  }

  /** @internal — destroy(): the domain stops now and is released. */
  destroyHandle(h: DomainHandle): void {
    const inc = h.incarnation;
    if (!inc) return;
    const preserved = h.exit !== undefined;
    const id = inc.domain.id;
    // Stop it before anything else can look: a vCPU in the middle of a slice returns at its next exit.
    if (!inc.domain.isShutdown) inc.domain.isShutdown = true;
    inc.reaped = true;
    this.teardown(inc);
    h.finish({ reason: preserved ? h.exit!.reason : 'destroyed', state: 'destroyed', id, name: h.name }, true);
    this.forget(h);
    this.kick();
  }

  /** Release a domain: unschedule, disconnect backends, remove its xenstore nodes (libxl__destroy_domid). */
  private teardown(inc: Incarnation): void {
    if (inc.gone) return;
    inc.gone = true;
    this.unschedule(inc);
    const d = inc.domain;
    if (!d.isShutdown) d.isShutdown = true;
    for (const v of d.vcpus) this.retiredInsns += v.cpu.icount;
    this.incs.delete(inc);
    // evtchn_destroy: its ports close (peers fall back to unbound); then nobody can find it by id.
    try {
      destroyEventChannels(d);
    } catch (e) {
      this.report(e, `closing the event channels of domain ${d.id}`);
    }
    this.registry.remove(d);
    try {
      // Closes its store connection, removes its nodes, fires @releaseDomain.
      releaseDomain(this.store, d.id);
    } catch (e) {
      this.report(e, `releasing domain ${d.id} in xenstore`);
    }
    d.pollers.length = 0;
  }

  private forget(h: DomainHandle): void {
    const i = this.handles.indexOf(h);
    if (i >= 0) this.handles.splice(i, 1);
  }

  /** @internal — a failure in host code or a user callback: logged, never fatal to the host. */
  report(e: unknown, where: string): void {
    this.log(`xenjs: error in ${where}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  }
}
