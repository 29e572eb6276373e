/**
 * The CPU that user programs see through CPUID: exactly the features the
 * xenjs CPU implements (x87, CMOV, CX8, CX16, TSC, FXSR, SSE, SSE2, LAHF in
 * 64-bit mode, SYSCALL, NX, long mode, and POPCNT when the opcode table has
 * it), nothing else (no SSE3+, AVX or XSAVE), so libc picks its baseline
 * x86-64 code paths. Cache descriptors come from leaf 4 (leaf 2 says so),
 * which is what glibc reads to size its memcpy thresholds.
 */
import type { CpuidHook } from '../cpu/cpu.ts';
import { OPS } from '../cpu/table.ts';
import '../cpu/ops/index.ts';

/** Leaf 1 EDX: fpu, tsc, cx8, cmov, fxsr, sse, sse2 (clflush is added when the table has it). */
const L1_EDX =
  (1 << 0) | // fpu
  (1 << 4) | // tsc
  (1 << 8) | // cx8
  (1 << 15) | // cmov
  (1 << 24) | // fxsr
  (1 << 25) | // sse
  (1 << 26); // sse2

export function hasInsn(name: string): boolean {
  return OPS.some((o) => o.name === name);
}

/** Leaf 1 EDX of the CPU we describe: what Linux reports as AT_HWCAP. */
export function hwcap(): number {
  const out = new Int32Array(4);
  makeCpuid()(1, 0, out);
  return out[3]! >>> 0;
}

const BRAND = 'xenjs virtual x86-64 CPU';

export function makeCpuid(): CpuidHook {
  const popcnt = hasInsn('popcnt');
  const clflush = hasInsn('clflush');
  const brand = new Int32Array(12);
  const bytes = new TextEncoder().encode(BRAND.padEnd(47, ' ').slice(0, 47));
  const b48 = new Uint8Array(48);
  b48.set(bytes);
  new Uint8Array(brand.buffer).set(b48);
  return (leaf, sub, out) => {
    out.fill(0);
    switch (leaf >>> 0) {
      case 0:
        out[0] = 4; // highest basic leaf: 1, 2, 4 are meaningful (leaf 3 reserved → zeros)
        out[1] = 0x756e6547; // "Genu"
        out[3] = 0x49656e69; // "ineI"
        out[2] = 0x6c65746e; // "ntel"
        break;
      case 1:
        out[0] = 0x000006f6; // family 6, model 15, stepping 6
        out[1] = (1 << 16) | (8 << 8); // one logical processor; clflush line 64 bytes
        out[2] = (1 << 13) | (popcnt ? 1 << 23 : 0); // cx16, popcnt
        out[3] = clflush ? L1_EDX | (1 << 19) : L1_EDX;
        break;
      case 2:
        out[0] = 0x0000ff01; // one round; descriptor 0xff: use leaf 4
        break;
      case 4: {
        // Deterministic cache parameters: L1d 32K 8-way, L1i 32K 8-way, L2 1M 16-way, L3 8M 16-way; 64-byte lines.
        const caches: Array<[number, number, number, number]> = [
          [1, 1, 8, 64], // type data, level 1, ways, sets
          [2, 1, 8, 64],
          [3, 2, 16, 1024],
          [3, 3, 16, 8192],
        ];
        const c = caches[sub];
        if (!c) break;
        const [type, level, ways, sets] = c;
        out[0] = type | (level << 5) | (1 << 8) | (level === 3 ? 0 : 0); // self-initialising; 1 thread shares it
        out[1] = (63 /* line size - 1 */) | (0 << 12) | ((ways - 1) << 22);
        out[2] = sets - 1;
        out[3] = level === 3 ? 2 : 0; // inclusive L3
        break;
      }
      case 0x80000000:
        out[0] = 0x80000008 | 0;
        break;
      case 0x80000001:
        out[2] = 1; // lahf/sahf in 64-bit mode
        out[3] = (1 << 11) | (1 << 20) | (1 << 29); // syscall, nx, lm
        break;
      case 0x80000002:
      case 0x80000003:
      case 0x80000004: {
        const k = ((leaf >>> 0) - 0x80000002) * 4;
        out[0] = brand[k]!;
        out[1] = brand[k + 1]!;
        out[2] = brand[k + 2]!;
        out[3] = brand[k + 3]!;
        break;
      }
      case 0x80000006:
        out[2] = (1024 << 16) | (6 << 12) | 64; // L2: 1 MiB, 16-way (code 6... 8-way), 64-byte lines
        break;
      case 0x80000008:
        out[0] = 0x3028; // 40-bit physical, 48-bit linear addresses
        break;
    }
  };
}
