/**
 * console_io (18): the hypervisor console (xen/drivers/char/console.c
 * do_console_io / guest_console_write).
 *
 *   rdi = cmd (CONSOLEIO_write 0 / CONSOLEIO_read 1), rsi = count, rdx = buffer
 *
 * Real Xen refuses this to a domU unless it is a debug build (XSM_PRIV), and
 * for a debug build it strips non-printable characters and line-buffers
 * with a "(dN) " prefix. xenjs hands the bytes to the domain's console
 * output unchanged and at once: it is how a PV kernel prints before hvc0
 * exists (xen_raw_console_write, earlyprintk=xen).
 *
 * Like Xen, the write has no length cap: it copies in chunks and, for a
 * large buffer, continues the hypercall (rax/rsi/rdx rewritten, rip moved
 * back onto the syscall) so events are delivered in between; inside a
 * multicall it just finishes. A fault ends it with -EFAULT (the bytes
 * before the fault have been written). The result is 0, as in Xen.
 */
import type { Vcpu } from '../domains/vcpu.ts';
import { RAX, RDX, RSI } from '../cpu/state.ts';
import { vaHi, vaLo } from '../domains/guest-memory.ts';
import { NO_RETURN, registerHypercall } from './dispatch.ts';
import { HYPERVISOR, XEN_E2BIG, XEN_ENOSYS } from './abi.ts';
import { inMulticall } from './multicall.ts';

export const CONSOLEIO_write = 0, CONSOLEIO_read = 1;

/** Bytes copied per chunk, and per hypercall before it continues. */
const CHUNK = 4096;
const PER_CALL = 64 * 1024;

function consoleIo(v: Vcpu): number | typeof NO_RETURN {
  const cmd = v.arg32(0);
  const count = v.arg32(1);
  const buf = v.argVa(2);
  switch (cmd) {
    case CONSOLEIO_write:
      return consoleWrite(v, count, buf);
    case CONSOLEIO_read:
      // The result is a count, so Xen refuses counts that would overlap the error range.
      if (count >= 0x80000000) return -XEN_E2BIG;
      return 0; // no input on the hypervisor console
    default:
      return -XEN_ENOSYS;
  }
}

function consoleWrite(v: Vcpu, count: number, buf: number): number | typeof NO_RETURN {
  const d = v.domain;
  let done = 0;
  while (done < count) {
    if (done >= PER_CALL && !inMulticall(v)) {
      // hypercall_create_continuation(__HYPERVISOR_console_io, "iih", CONSOLEIO_write, count, buffer)
      const cpu = v.cpu;
      const next = buf + done;
      cpu.setReg64(RAX, HYPERVISOR.console_io, 0);
      cpu.setReg64(RSI, count - done, 0);
      cpu.setReg64(RDX, vaLo(next), vaHi(next));
      const rip = (cpu.r[32]! >>> 0) - 2;
      cpu.setRip(rip | 0, rip < 0 ? cpu.r[33]! - 1 : cpu.r[33]!);
      return NO_RETURN;
    }
    const n = Math.min(CHUNK, count - done);
    // A fault throws GuestFault: -EFAULT from the dispatcher, the chunks before it already written.
    d.writeConsole(v.mem.bytes(buf + done, n));
    done += n;
  }
  return 0;
}

registerHypercall(HYPERVISOR.console_io, consoleIo);
