/**
 * --trace-hypercalls: one line per hypercall with its decoded arguments and
 * result, and a count per hypercall (and sub-op) at the end.
 */
import type { HypercallTracer } from '../domains/domain.ts';
import type { Vcpu } from '../domains/vcpu.ts';
import { HYPERCALL_NAMES, HYPERVISOR } from './abi.ts';

/** Hypercalls whose first argument is a sub-command worth showing by number. */
const WITH_SUBOP = new Set<number>([
  HYPERVISOR.memory_op, HYPERVISOR.xen_version, HYPERVISOR.console_io, HYPERVISOR.grant_table_op, HYPERVISOR.vm_assist,
  HYPERVISOR.vcpu_op, HYPERVISOR.sched_op, HYPERVISOR.callback_op, HYPERVISOR.event_channel_op, HYPERVISOR.physdev_op,
  HYPERVISOR.set_segment_base,
]);

export class HypercallTrace implements HypercallTracer {
  readonly counts = new Map<string, number>();
  constructor(
    private readonly out: (line: string) => void,
    private readonly printEach = true,
  ) {}

  describe(v: Vcpu, num: number): string {
    const name = HYPERCALL_NAMES[num] ?? `hypercall_${num}`;
    const key = WITH_SUBOP.has(num) ? `${name}/${v.arg32(0)}` : name;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    if (!this.printEach) return '';
    const args = [0, 1, 2, 3].map((k) => '0x' + v.arg64n(k).toString(16)).join(', ');
    return `${name}(${args})`;
  }

  log(v: Vcpu, before: string, result: number | string): void {
    if (!this.printEach) return;
    const r = typeof result === 'number' ? (result < 0 ? `-${-result}` : `0x${result.toString(16)}`) : result;
    this.out(`d${v.domain.id}v${v.id} ${before} = ${r}`);
  }

  summary(): string[] {
    return [...this.counts.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${String(n).padStart(9)}  ${k}`);
  }
}
