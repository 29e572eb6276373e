/**
 * The scheduler: runs every runnable vCPU in slices, fires timers (the
 * single-shot and periodic VIRQ_TIMER), and sleeps on the host when every
 * vCPU is blocked, so an idle guest costs no host CPU. Yields to Node's
 * event loop between slices so console I/O keeps flowing.
 */
import type { Domain } from './domain.ts';
import { VcpuStop, type Vcpu } from './vcpu.ts';
import { fireTimer } from './timers.ts';
import { updateVcpuTime, updateWallclock } from './time.ts';
import { pollDeadline, servicePollTimeout } from '../hypercall/evtchn.ts';
import { serviceWatchdogs, watchdogDeadline } from '../hypercall/sched.ts';

export interface SchedulerOptions {
  /** Guest instructions per vCPU slice. */
  sliceInsns?: number;
  /** Stop after this many guest instructions in total (tests, --max-insns). */
  maxInsns?: number;
  /** Called after every slice (progress displays, test hooks). */
  onSlice?: () => void;
}

export class Scheduler {
  readonly domains: Domain[] = [];
  private stopped = false;
  private wake: (() => void) | undefined;

  constructor(private readonly opts: SchedulerOptions = {}) {}

  /** An event for a blocked vCPU of one of our domains (a backend notification, a timer) ends a host sleep. */
  private readonly wakeOnEvent = (): void => this.kick();

  add(d: Domain): void {
    this.domains.push(d);
    updateWallclock(d, Date.now());
    for (const v of d.vcpus) updateVcpuTime(v);
  }

  /** Interrupt a host sleep (an event arrived from outside: console input, a backend). */
  kick(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  stop(): void {
    this.stopped = true;
    this.kick();
  }

  get totalInsns(): number {
    let n = 0;
    for (const d of this.domains) for (const v of d.vcpus) n += v.cpu.icount;
    return n;
  }

  /** Run until every domain has shut down (or stop() / maxInsns). */
  async run(): Promise<void> {
    const slice = this.opts.sliceInsns ?? 2_000_000;
    for (const d of this.domains) d.onVcpuWake = this.wakeOnEvent;
    while (!this.stopped) {
      const live = this.domains.filter((d) => !d.isShutdown);
      if (live.length === 0) return;
      let ran = false;
      let earliest = Infinity;
      for (const d of live) {
        for (const v of d.vcpus) {
          this.fireDueTimers(v);
          if (!v.online || d.isShutdown) continue;
          if (!v.blocked) {
            updateVcpuTime(v);
            const stop = v.run(slice);
            ran = true;
            if (stop === VcpuStop.Shutdown) break;
          }
          const t = nextDeadline(v);
          if (t < earliest) earliest = t;
        }
      }
      for (const d of live) for (const poll of d.pollers) poll();
      this.opts.onSlice?.();
      if (this.opts.maxInsns !== undefined && this.totalInsns >= this.opts.maxInsns) return;
      if (ran) {
        await yieldToHost();
        continue;
      }
      // Everything is blocked: sleep until the next timer or an outside event.
      const now = live[0]!.nowNs();
      const waitMs = earliest === Infinity ? 1000 : Math.max(0, (earliest - now) / 1e6);
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.wake = undefined;
          resolve();
        }, Math.min(waitMs, 1000));
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  private fireDueTimers(v: Vcpu): void {
    const now = v.domain.nowNs();
    servicePollTimeout(v, now);
    if (v.id === 0) serviceWatchdogs(v.domain, now);
    if (v.timerDeadline >= 0 && now >= v.timerDeadline) {
      v.timerDeadline = -1;
      fireTimer(v);
    }
    if (v.periodicPeriod > 0 && now >= v.periodicNext) {
      v.periodicNext = now + v.periodicPeriod;
      fireTimer(v);
    }
  }
}

function nextDeadline(v: Vcpu): number {
  let t = Infinity;
  if (v.timerDeadline >= 0) t = v.timerDeadline;
  if (v.periodicPeriod > 0 && v.periodicNext < t) t = v.periodicNext;
  const p = pollDeadline(v);
  if (p >= 0 && p < t) t = p;
  const w = v.id === 0 ? watchdogDeadline(v.domain) : -1;
  if (w >= 0 && w < t) t = w;
  return t;
}

function yieldToHost(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
