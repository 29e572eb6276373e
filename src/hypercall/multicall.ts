/**
 * multicall (13): run a batch of hypercalls (xen/common/multicall.c
 * do_multicall, xen/arch/x86/pv/hypercall.c pv_do_multicall_call).
 *
 *   rdi = multicall_entry[] {u64 op @0, u64 result @8, u64 args[6] @16} (64 bytes each), rsi = nr_calls
 *
 * Each entry's arguments are loaded into the argument registers (rdi, rsi,
 * rdx, r10, r8, r9), the handler runs through dispatchHypercall, and its
 * return value is stored in the entry's `result`; a failing entry does not
 * stop the batch (Linux checks every result). The guest's registers are
 * saved before the batch and restored after it. The multicall returns 0,
 * or -EFAULT if the list itself cannot be read or a result not written,
 * or -EINVAL when called from inside a multicall (the entry's result).
 * iret inside a multicall is refused with -EINVAL in its result slot (Xen
 * would perform it and end the batch; no guest does that).
 *
 * Hot during boot (Linux batches most MMU and CPU-state updates): no
 * allocation per entry — one scratch buffer, register state saved into a
 * preallocated array, guest memory accessed through the CPU directly.
 */
import type { Vcpu } from '../domains/vcpu.ts';
import { CPU_FAULT } from '../cpu/state.ts';
import { vaHi, vaLo } from '../domains/guest-memory.ts';
import { dispatchHypercall, NO_RETURN, registerHypercall } from './dispatch.ts';
import { HYPERVISOR, XEN_EFAULT, XEN_EINVAL, XEN_ENOSYS } from './abi.ts';
import { guestHandleOkay } from './memory.ts';

/** struct multicall_entry (64 bytes). */
export const MULTICALL_ENTRY = { op: 0, result: 8, args: 16, size: 64 } as const;

/** GPR numbers of the six argument registers. */
const ARG_GPRS = [7, 6, 2, 10, 8, 9] as const; // rdi, rsi, rdx, r10, r8, r9

/** The vCPU currently inside a multicall (multicalls never nest, and run to completion). */
let active: Vcpu | null = null;

/** Is `v` executing a multicall's entries right now? (Continuations are not possible there.) */
export function inMulticall(v: Vcpu): boolean {
  return active === v;
}

const SAVED = new Int32Array(34);
const ENTRY = new Int32Array(MULTICALL_ENTRY.size / 4);

/** Read one 64-byte entry into ENTRY; throws CPU_FAULT. */
function readEntry(v: Vcpu, va: number): void {
  const cpu = v.cpu;
  for (let k = 0; k < 8; k++) {
    const a = va + 8 * k;
    const hi = vaHi(a);
    if ((hi << 16) >> 16 !== hi) throw CPU_FAULT; // non-canonical
    ENTRY[2 * k] = cpu.read64(vaLo(a), hi);
    ENTRY[2 * k + 1] = cpu.hi;
  }
}

function multicall(v: Vcpu): number {
  if (active === v) return -XEN_EINVAL; // "Multicall reentry is disallowed."
  const list = v.argVa(0);
  const nr = v.arg32(1);
  if (!guestHandleOkay(list, nr)) return -XEN_EFAULT;
  if (nr === 0) return 0;
  const cpu = v.cpu;
  const r = cpu.r;
  const trace = v.domain.traceHypercalls;
  SAVED.set(r);
  active = v;
  let rc = 0;
  try {
    for (let i = 0; i < nr; i++) {
      const va = list + i * MULTICALL_ENTRY.size;
      try {
        readEntry(v, va);
      } catch (e) {
        if (e !== CPU_FAULT) throw e;
        rc = -XEN_EFAULT;
        break;
      }
      const opLo = ENTRY[0]!, opHi = ENTRY[1]!;
      let result: number;
      if (opHi !== 0 || opLo < 0) result = -XEN_ENOSYS;
      else if (opLo === HYPERVISOR.iret) result = -XEN_EINVAL;
      else {
        for (let k = 0; k < 6; k++) {
          const g = ARG_GPRS[k]!;
          r[2 * g] = ENTRY[4 + 2 * k]!;
          r[2 * g + 1] = ENTRY[5 + 2 * k]!;
        }
        const before = trace ? trace.describe(v, opLo) : '';
        const res = dispatchHypercall(v, opLo);
        if (res === NO_RETURN) {
          // A handler that took over the registers (none should inside a batch): undo it.
          r.set(SAVED);
          v.domain.logOnce(`multicall-noreturn-${opLo}`, `hypercall ${opLo} tried to continue/return inside a multicall`);
          result = 0;
        } else result = res;
        if (trace) trace.log(v, `  (multicall) ${before}`, result);
      }
      try {
        const lo = vaLo(va + MULTICALL_ENTRY.result), hi = vaHi(va + MULTICALL_ENTRY.result);
        if ((hi << 16) >> 16 !== hi) throw CPU_FAULT;
        cpu.write64(lo, hi, result | 0, result < 0 ? -1 : Math.floor(result / 4294967296));
      } catch (e) {
        if (e !== CPU_FAULT) throw e;
        rc = -XEN_EFAULT;
        break;
      }
      if (v.domain.isShutdown) break; // e.g. SCHEDOP_shutdown in the batch
    }
  } finally {
    active = null;
    r.set(SAVED);
  }
  return rc;
}

registerHypercall(HYPERVISOR.multicall, multicall);
