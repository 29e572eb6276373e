/**
 * A PV domain: its machine memory, vCPUs, the hypervisor-side state shared
 * by them (shared_info, vm_assist, CPUID policy, console output), and its
 * lifecycle. Built by builder.ts; run by the scheduler.
 */
import { DomainMemory } from '../mmu/domain-memory.ts';
import { Vcpu } from './vcpu.ts';
import { pvCpuid } from './cpuid-policy.ts';
import type { ConsoleBackend } from '../devices/console.ts';
import type { DomainRegistry } from './registry.ts';

/** SHUTDOWN_* reasons (xen/sched.h). */
export const SHUTDOWN_poweroff = 0, SHUTDOWN_reboot = 1, SHUTDOWN_suspend = 2, SHUTDOWN_crash = 3, SHUTDOWN_watchdog = 4, SHUTDOWN_soft_reset = 5;
export const SHUTDOWN_NAMES = ['poweroff', 'reboot', 'suspend', 'crash', 'watchdog', 'soft_reset'];

/** VMASST_TYPE_* (xen/xen.h). */
export const VMASST_TYPE_4gb_segments = 0, VMASST_TYPE_4gb_segments_notify = 1, VMASST_TYPE_writable_pagetables = 2;
export const VMASST_TYPE_pae_extended_cr3 = 3, VMASST_TYPE_architectural_iopl = 4, VMASST_TYPE_runstate_update_flag = 5;
export const VMASST_TYPE_m2p_strict = 32;

export interface HypercallTracer {
  describe(v: Vcpu, num: number): string;
  log(v: Vcpu, before: string, result: number | string): void;
}

export interface DomainOptions {
  id: number;
  name: string;
  /** Guest RAM in pages. */
  nrPages: number;
  /** Maximum pages (maxmem). */
  maxPages: number;
  vcpus: number;
  /** Where console bytes go (console_io writes now; the hvc0 ring later). */
  consoleOut: (bytes: Uint8Array) => void;
  /** Monotonic time source in ns (host clock, or instruction-driven in deterministic mode). */
  clockNs: () => number;
  log?: (line: string) => void;
}

export class Domain {
  readonly id: number;
  readonly name: string;
  readonly memory: DomainMemory;
  readonly vcpus: Vcpu[] = [];
  readonly maxPages: number;
  /**
   * Called when one of this domain's blocked vCPUs becomes runnable (an event
   * arrived): the scheduler running the domain sets it, to end its host sleep.
   * Per domain, so that several hosts (Xenjs instances) in one process each
   * wake only their own scheduler.
   */
  onVcpuWake: ((v: Vcpu) => void) | undefined = undefined;
  /** MFN of shared_info (a hypervisor-owned frame). */
  readonly sharedInfoMfn: number;
  /** VMASST bits enabled by the guest. */
  vmAssist = 0;
  isShutdown = false;
  shutdownReason = -1;
  traceHypercalls: HypercallTracer | undefined;
  /** dom0 backends to service after every scheduling slice (console, xenstore, block, net). */
  readonly pollers: Array<() => void> = [];
  /** The console backend (hvc0 ring + console_io output in one stream), once the builder connected it. */
  console: ConsoleBackend | undefined;
  /** The host's domains (set by DomainRegistry.add), through which this domain finds its peers. */
  registry: DomainRegistry | undefined;
  /** Set once the domain is being destroyed (Xen's is_dying): no new ports or grant pins. */
  isDying = false;
  private readonly logged = new Set<string>();
  readonly opts: DomainOptions;

  constructor(opts: DomainOptions) {
    this.opts = opts;
    this.id = opts.id;
    this.name = opts.name;
    this.maxPages = opts.maxPages;
    // Each domain gets its own MFN range; base 1 GiB of MFN space per domain id, above any PFN.
    this.memory = new DomainMemory(opts.nrPages, 0x100000 * (opts.id + 1));
    this.sharedInfoMfn = this.memory.allocSpecial();
    for (let i = 0; i < opts.vcpus; i++) this.vcpus.push(new Vcpu(this, i));
  }

  cpuid(leaf: number, sub: number, out: Int32Array): void {
    pvCpuid(leaf, sub, out, this.vcpus.length);
  }

  /** System time in ns since the domain was created. */
  nowNs(): number {
    return this.opts.clockNs();
  }

  /** HYPERVISOR_console_io output: into the console stream (and its subscribers). */
  writeConsole(bytes: Uint8Array): void {
    if (this.console) this.console.emit(bytes);
    else this.opts.consoleOut(bytes);
  }

  log(line: string): void {
    (this.opts.log ?? ((l: string) => void process.stderr.write(`(xenjs) d${this.id}: ${l}\n`)))(line);
  }

  logOnce(key: string, line: string): void {
    if (this.logged.has(key)) return;
    this.logged.add(key);
    this.log(line);
  }

  shutdown(reason: number): void {
    if (this.isShutdown) return;
    this.isShutdown = true;
    this.shutdownReason = reason;
  }

  /** The guest did something fatal: report it on its console and stop it (never the host). */
  crash(why: string, v?: Vcpu): void {
    const lines = [`(xenjs) domain ${this.id} (${this.name}) crashed: ${why}`];
    if (v) lines.push(...registerDump(v));
    this.writeConsole(new TextEncoder().encode(lines.join('\n') + '\n'));
    this.log(lines[0]!);
    this.shutdown(SHUTDOWN_crash);
  }
}

export function registerDump(v: Vcpu): string[] {
  const c = v.cpu;
  const h = (n: number): string => c.getReg64n(n).toString(16).padStart(16, '0');
  const names = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];
  const rip = ((BigInt(c.r[33]! >>> 0) << 32n) | BigInt(c.r[32]! >>> 0)).toString(16).padStart(16, '0');
  const out = [`vcpu ${v.id} ${v.kernelMode ? 'guest-kernel' : 'guest-user'} mode  rip ${rip}  rflags ${c.getFlags().toString(16)}`];
  for (let i = 0; i < 16; i += 4) out.push(names.slice(i, i + 4).map((n, k) => `${n.padStart(3)} ${h(i + k)}`).join('  '));
  out.push(`cr2 ${((BigInt(c.cr2[1]! >>> 0) << 32n) | BigInt(c.cr2[0]! >>> 0)).toString(16)}  cr3(kernel) mfn ${v.mmu.kernelRoot.toString(16)}  cr3(user) mfn ${v.mmu.userRoot.toString(16)}`);
  return out;
}
