/**
 * A small hand-built PV domain for hypercall tests (the layout of
 * test/hypercalls.test.ts): 4096 pages, 2 vCPUs, PFN p (p < 1024) mapped
 * read-write at KBASE + p*4096 (KBASE = 0xffffffff80000000; L4 = pfn 1,
 * L3 = pfn 2, L2 = pfn 3, L1s in pfns 4-5); PFNs from 1024 up are not
 * mapped. Argument buffers go in pfns 16 and up.
 */
import { Domain } from '../../src/domains/domain.ts';
import type { DomainRegistry } from '../../src/domains/registry.ts';
import { VCPU_INFO, SHARED_INFO } from '../../src/domains/shared-info.ts';
import type { Vcpu } from '../../src/domains/vcpu.ts';
import { dispatchHypercall, NO_RETURN } from '../../src/hypercall/dispatch.ts';

export const KBASE = -0x80000000; // 0xffffffff80000000 as a canonical number
export const UNMAPPED_VA = 0x1000; // L4[0] is empty
export const HOLE_VA = -0x800000000000 + 0x1000; // 0xffff800000001000, inside the Xen hole

const ARG_REGS = [7, 6, 2, 10, 8, 9]; // rdi, rsi, rdx, r10, r8, r9

export class TestDomain {
  readonly d: Domain;
  readonly v: Vcpu;
  readonly v1: Vcpu;
  readonly logs: string[] = [];

  constructor(opts: { id: number; registry?: DomainRegistry; vcpus?: number }) {
    this.d = new Domain({
      id: opts.id,
      name: `test-d${opts.id}`,
      nrPages: 4096,
      maxPages: 4096,
      vcpus: opts.vcpus ?? 2,
      consoleOut: () => {},
      clockNs: () => 1_000_000_000,
      log: (l) => this.logs.push(l),
    });
    const P = 1, RW = 2, US = 4, A = 0x20, D = 0x40;
    this.setPte(1, 511, 2, P | RW | US | A);
    this.setPte(2, 510, 3, P | RW | US | A);
    this.setPte(3, 0, 4, P | RW | US | A);
    this.setPte(3, 1, 5, P | RW | US | A);
    for (let p = 0; p < 1024; p++) this.setPte(4 + (p >> 9), p & 511, p, P | RW | A | D);
    // shared_info as the builder leaves it: every vcpu_info masked.
    const si = this.d.memory.offsetOfMfn(this.d.sharedInfoMfn);
    for (let i = 0; i < 32; i++) this.d.memory.ram[si + i * 64 + VCPU_INFO.evtchn_upcall_mask] = 1;
    this.v = this.d.vcpus[0]!;
    this.v1 = this.d.vcpus[1] ?? this.v;
    for (const w of this.d.vcpus) {
      w.mmu.setKernelMode(true);
      w.mmu.setKernelRoot(this.mfn(1));
    }
    this.v.online = true;
    opts.registry?.add(this.d);
  }

  get id(): number {
    return this.d.id;
  }

  mfn(pfn: number): number {
    return this.d.memory.baseMfn + pfn;
  }
  va(pfn: number, o = 0): number {
    return KBASE + pfn * 4096 + o;
  }
  off(pfn: number, o = 0): number {
    return pfn * 4096 + o;
  }

  private setPte(tablePfn: number, index: number, targetPfn: number, flags: number): void {
    const m = this.mfn(targetPfn);
    this.dv.setInt32(this.off(tablePfn, index * 8), ((m % 1048576) * 4096 + flags) | 0, true);
    this.dv.setInt32(this.off(tablePfn, index * 8 + 4), Math.floor(m / 1048576), true);
  }

  /** Run hypercall `num` on vCPU `w` (default vCPU 0) with the given arguments. */
  call(num: number, args: Array<number | bigint>, w: Vcpu = this.v): number {
    args.forEach((a, k) => w.cpu.setReg64n(ARG_REGS[k]!, BigInt.asUintN(64, BigInt(a))));
    const r = dispatchHypercall(w, num);
    if (r === NO_RETURN) throw new Error('unexpected NO_RETURN');
    return r;
  }

  get dv(): DataView {
    return this.d.memory.dv;
  }
  get ram(): Uint8Array {
    return this.d.memory.ram;
  }
  u16(pfn: number, o: number): number {
    return this.dv.getUint16(this.off(pfn, o), true);
  }
  i16(pfn: number, o: number): number {
    return this.dv.getInt16(this.off(pfn, o), true);
  }
  u32(pfn: number, o: number): number {
    return this.dv.getUint32(this.off(pfn, o), true);
  }
  put16(pfn: number, o: number, x: number): void {
    this.dv.setUint16(this.off(pfn, o), x, true);
  }
  put32(pfn: number, o: number, x: number): void {
    this.dv.setUint32(this.off(pfn, o), x >>> 0, true);
  }
  put64(pfn: number, o: number, x: number | bigint): void {
    this.dv.setBigUint64(this.off(pfn, o), BigInt.asUintN(64, BigInt(x)), true);
  }
  /** The bytes of page `pfn` (a live view). */
  page(pfn: number): Uint8Array {
    return this.ram.subarray(this.off(pfn), this.off(pfn + 1));
  }

  // ---- event-channel bits in shared_info / vcpu_info

  pending(port: number): boolean {
    const o = this.d.memory.offsetOfMfn(this.d.sharedInfoMfn) + SHARED_INFO.evtchn_pending + (port >> 3);
    return (this.ram[o]! & (1 << (port & 7))) !== 0;
  }
  /** The guest handled `port`: clear its pending bit (and the selector word's bit, as Linux does). */
  clearPending(port: number): void {
    const o = this.d.memory.offsetOfMfn(this.d.sharedInfoMfn) + SHARED_INFO.evtchn_pending + (port >> 3);
    this.ram[o] = this.ram[o]! & ~(1 << (port & 7));
    for (const w of this.d.vcpus) {
      const so = w.vcpuInfoOffset() + VCPU_INFO.evtchn_pending_sel + (port >> 9);
      this.ram[so] = this.ram[so]! & ~(1 << ((port >> 6) & 7));
    }
  }
  upcallPending(w: Vcpu = this.v): boolean {
    return (this.ram[w.vcpuInfoOffset() + VCPU_INFO.evtchn_upcall_pending]! & 1) !== 0;
  }
  clearUpcall(w: Vcpu = this.v): void {
    this.ram[w.vcpuInfoOffset() + VCPU_INFO.evtchn_upcall_pending] = 0;
  }
}
