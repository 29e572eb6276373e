/**
 * The hypervisor's access to guest virtual memory (hypercall arguments,
 * bounce frames, vcpu_info through the guest's mappings): through the
 * vCPU's current page tables, exactly as the guest itself would see it.
 *
 * Guest virtual addresses are passed as JS numbers in "canonical" form: a
 * 64-bit canonical address read as a signed 64-bit integer, which always
 * fits a double exactly (|va| < 2^47). Plain arithmetic then works for
 * offsets; `toVa` converts register halves.
 */
import type { Cpu } from '../cpu/cpu.ts';
import { CPU_FAULT } from '../cpu/state.ts';

/** Thrown when the guest handed us an address it cannot access; hypercalls turn it into -EFAULT. */
export class GuestFault extends Error {
  constructor(readonly va: number) {
    super(`guest address ${fmtVa(va)} not accessible`);
  }
}

const TWO32 = 4294967296;

/** (lo, hi) register halves → canonical number; NaN if not canonical. */
export function toVa(lo: number, hi: number): number {
  if ((hi << 16) >> 16 !== hi) return NaN;
  return hi * TWO32 + (lo >>> 0);
}

export function vaLo(va: number): number {
  return (va % TWO32) | 0;
}
export function vaHi(va: number): number {
  return Math.floor(va / TWO32) | 0;
}

export function fmtVa(va: number): string {
  if (!Number.isFinite(va)) return '(non-canonical)';
  const v = va < 0 ? BigInt(va) + (1n << 64n) : BigInt(va);
  return '0x' + v.toString(16);
}

export class GuestMemory {
  constructor(private readonly cpu: Cpu) {}

  private guard<T>(va: number, f: () => T): T {
    if (!Number.isFinite(va)) throw new GuestFault(va);
    try {
      return f();
    } catch (e) {
      if (e === CPU_FAULT) throw new GuestFault(va);
      throw e;
    }
  }

  u8(va: number): number {
    return this.guard(va, () => this.cpu.read8(vaLo(va), vaHi(va)));
  }
  u16(va: number): number {
    return this.guard(va, () => this.cpu.read16(vaLo(va), vaHi(va)));
  }
  u32(va: number): number {
    return this.guard(va, () => this.cpu.read32(vaLo(va), vaHi(va)) >>> 0);
  }
  /** 64-bit read as (lo, hi) into out. */
  u64parts(va: number, out: Int32Array): void {
    this.guard(va, () => {
      out[0] = this.cpu.read64(vaLo(va), vaHi(va));
      out[1] = this.cpu.hi;
    });
  }
  u64n(va: number): bigint {
    return this.guard(va, () => {
      const lo = this.cpu.read64(vaLo(va), vaHi(va));
      return (BigInt(this.cpu.hi >>> 0) << 32n) | BigInt(lo >>> 0);
    });
  }
  /** A 64-bit value known to be small or a canonical address, as a number. */
  u64num(va: number): number {
    return this.guard(va, () => {
      const lo = this.cpu.read64(vaLo(va), vaHi(va));
      return this.cpu.hi * TWO32 + (lo >>> 0);
    });
  }
  setU8(va: number, v: number): void {
    this.guard(va, () => this.cpu.write8(vaLo(va), vaHi(va), v));
  }
  setU16(va: number, v: number): void {
    this.guard(va, () => this.cpu.write16(vaLo(va), vaHi(va), v));
  }
  setU32(va: number, v: number): void {
    this.guard(va, () => this.cpu.write32(vaLo(va), vaHi(va), v | 0));
  }
  setU64parts(va: number, lo: number, hi: number): void {
    this.guard(va, () => this.cpu.write64(vaLo(va), vaHi(va), lo, hi));
  }
  setU64n(va: number, v: bigint): void {
    const u = BigInt.asUintN(64, v);
    this.setU64parts(va, Number(u & 0xffffffffn) | 0, Number(u >> 32n) | 0);
  }
  /** Store a number (canonical address or non-negative integer < 2^53, or a small negative) as 64 bits. */
  setU64num(va: number, v: number): void {
    this.setU64parts(va, vaLo(v), vaHi(v));
  }
  bytes(va: number, len: number): Uint8Array {
    const out = new Uint8Array(len);
    this.guard(va, () => this.cpu.readBytes(vaLo(va), vaHi(va), out, len));
    return out;
  }
  setBytes(va: number, data: Uint8Array): void {
    this.guard(va, () => this.cpu.writeBytes(vaLo(va), vaHi(va), data, data.length));
  }
  /** A NUL-terminated string of at most `max` bytes. */
  cString(va: number, max: number): string {
    const b: number[] = [];
    for (let k = 0; k < max; k++) {
      const c = this.u8(va + k);
      if (c === 0) break;
      b.push(c);
    }
    return new TextDecoder().decode(new Uint8Array(b));
  }
}
