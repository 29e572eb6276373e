/**
 * Event channels between domains, and hostile requests: the errno values
 * come from xen/errno.h (checked below), the semantics from Xen 4.17's
 * common/event_channel.c (evtchn_alloc_unbound, evtchn_bind_interdomain,
 * __evtchn_close, evtchn_send, evtchn_bind_virq). Single-domain behaviour
 * is in test/hypercalls.test.ts.
 *
 * Two domains share a registry: A (d1) and B (d2).
 */
import { readFileSync } from 'node:fs';
import { beforeEach, describe, expect, it } from 'vitest';
import { DomainRegistry } from '../src/domains/registry.ts';
import * as abi from '../src/hypercall/abi.ts';
import { DOMID_IO, DOMID_SELF, HYPERVISOR, XEN_EEXIST, XEN_EFAULT, XEN_EINVAL, XEN_ENOENT, XEN_EPERM, XEN_ESRCH } from '../src/hypercall/abi.ts';
import * as E from '../src/hypercall/evtchn.ts';
import { HOLE_VA, TestDomain, UNMAPPED_VA } from './helpers/pv-test-domain.ts';

const OP = E.EVTCHNOP;

let registry: DomainRegistry;
let A: TestDomain;
let B: TestDomain;

beforeEach(() => {
  registry = new DomainRegistry();
  A = new TestDomain({ id: 1, registry });
  B = new TestDomain({ id: 2, registry });
});

const evtchnOp = (t: TestDomain, cmd: number, va = t.va(16)): number => t.call(HYPERVISOR.event_channel_op, [cmd, va]);

/** EVTCHNOP_alloc_unbound in `t` for `remote`: the port or an errno. */
function allocUnbound(t: TestDomain, remote: number, dom = DOMID_SELF): number {
  const L = E.EVTCHN_ALLOC_UNBOUND;
  t.put16(16, L.dom, dom);
  t.put16(16, L.remote_dom, remote);
  t.put32(16, L.port, 0xdead);
  const rc = evtchnOp(t, OP.alloc_unbound);
  return rc < 0 ? rc : t.u32(16, L.port);
}

/** EVTCHNOP_bind_interdomain from `t` to (rdom, rport): the local port or an errno. */
function bindInterdomain(t: TestDomain, rdom: number, rport: number): number {
  const L = E.EVTCHN_BIND_INTERDOMAIN;
  t.put16(16, L.remote_dom, rdom);
  t.put32(16, L.remote_port, rport);
  t.put32(16, L.local_port, 0xdead);
  const rc = evtchnOp(t, OP.bind_interdomain);
  return rc < 0 ? rc : t.u32(16, L.local_port);
}

function portOp(t: TestDomain, cmd: number, port: number): number {
  t.put32(17, 0, port);
  return evtchnOp(t, cmd, t.va(17));
}

function bindVirq(t: TestDomain, virq: number, vcpu = 0): number {
  const L = E.EVTCHN_BIND_VIRQ;
  t.put32(16, L.virq, virq);
  t.put32(16, L.vcpu, vcpu);
  const rc = evtchnOp(t, OP.bind_virq);
  return rc < 0 ? rc : t.u32(16, L.port);
}

function status(t: TestDomain, port: number, dom = DOMID_SELF): { rc: number; status: number; dom: number; port: number } {
  const L = E.EVTCHN_STATUS;
  t.put16(18, L.dom, dom);
  t.put32(18, L.port, port);
  const rc = t.call(HYPERVISOR.event_channel_op, [OP.status, t.va(18)]);
  return { rc, status: t.u32(18, L.status), dom: t.u16(18, L.u), port: t.u32(18, L.u_interdomain_port) };
}

describe('errno values', () => {
  it('match xen/errno.h', () => {
    const text = readFileSync('/usr/include/xen/errno.h', 'utf8');
    const xen = new Map([...text.matchAll(/XEN_ERRNO\((\w+),\s*(\d+)\)/g)].map((m) => [m[1]!, Number(m[2])]));
    expect(xen.size).toBeGreaterThan(30);
    const ours = Object.entries(abi).filter(([k]) => /^XEN_E[A-Z0-9]+$/.test(k));
    expect(ours.length).toBeGreaterThan(15);
    for (const [k, val] of ours) expect([k, val]).toEqual([k, xen.get(k.slice(4))]);
  });
});

describe('interdomain channels between two domains', () => {
  it('alloc_unbound in one, bind_interdomain from the other; sends set pending and the upcall in the peer', () => {
    const pa = allocUnbound(A, B.id);
    expect(pa).toBe(3); // after the toolstack's ports 1 and 2
    expect(status(A, pa)).toMatchObject({ rc: 0, status: E.EVTCHNSTAT_unbound, dom: B.id });

    const pb = bindInterdomain(B, A.id, pa);
    expect(pb).toBe(3);
    expect(B.pending(pb)).toBe(true); // Xen raises the new local port (lost notifications)
    expect(status(A, pa)).toMatchObject({ rc: 0, status: E.EVTCHNSTAT_interdomain, dom: B.id, port: pb });
    expect(status(B, pb)).toMatchObject({ rc: 0, status: E.EVTCHNSTAT_interdomain, dom: A.id, port: pa });

    A.v.blocked = true;
    expect(A.pending(pa)).toBe(false);
    expect(portOp(B, OP.send, pb)).toBe(0);
    expect(A.pending(pa)).toBe(true);
    expect(A.upcallPending()).toBe(true);
    expect(A.v.blocked).toBe(false); // woken

    // And back: once B has handled the bind's event, A's send raises B's port and upcall.
    B.clearPending(pb);
    B.clearUpcall();
    expect(portOp(A, OP.send, pa)).toBe(0);
    expect(B.pending(pb)).toBe(true);
    expect(B.upcallPending()).toBe(true);
  });

  it('the other direction, bind_vcpu routing, and close: the peer\'s end falls back to unbound for the closer', () => {
    const pa = allocUnbound(A, B.id);
    const pb = bindInterdomain(B, A.id, pa);
    // A routes its end to vCPU 1; B's send now wakes A's vCPU 1.
    A.put32(16, E.EVTCHN_BIND_VCPU.port, pa);
    A.put32(16, E.EVTCHN_BIND_VCPU.vcpu, 1);
    expect(evtchnOp(A, OP.bind_vcpu)).toBe(0);
    expect(portOp(B, OP.send, pb)).toBe(0);
    expect(A.upcallPending(A.v1)).toBe(true);
    expect(A.upcallPending(A.v)).toBe(false);
    expect(portOp(B, OP.unmask, pb)).toBe(0);
    expect(portOp(A, OP.close, pa)).toBe(0);
    expect(status(B, pb)).toMatchObject({ status: E.EVTCHNSTAT_unbound, dom: A.id });
    expect(portOp(B, OP.send, pb)).toBe(0); // unbound: dropped
    expect(status(A, pa).status).toBe(E.EVTCHNSTAT_closed);
    // A may bind B's port again (it is reserved for A now); a third domain may not.
    const C = new TestDomain({ id: 3, registry });
    expect(bindInterdomain(C, B.id, pb)).toBe(-XEN_EINVAL);
    const pa2 = bindInterdomain(A, B.id, pb);
    expect(pa2).toBeGreaterThan(0);
    A.clearUpcall(A.v1);
    expect(portOp(B, OP.send, pb)).toBe(0);
    expect(A.pending(pa2)).toBe(true);
  });

  it('a destroyed domain\'s ports close: peers fall back to unbound, the dying domain gets no new ports', () => {
    const pa = allocUnbound(A, B.id);
    const pb = bindInterdomain(B, A.id, pa);
    E.destroyEventChannels(B.d);
    registry.remove(B.d);
    expect(status(A, pa)).toMatchObject({ status: E.EVTCHNSTAT_unbound, dom: B.id });
    expect(portOp(A, OP.send, pa)).toBe(0); // dropped, nobody to reach
    expect(E.portInfo(B.d, pb).state).toBe(0);
    expect(allocUnbound(B, A.id)).toBe(-XEN_EINVAL); // get_free_port on a dying domain
    expect(bindInterdomain(A, B.id, pb)).toBe(-XEN_ESRCH); // gone from the registry
  });

  it('host (dom0) endpoints still work for registered domains', () => {
    let events = 0;
    const h = E.bindHostPort(A.d, 1, () => events++);
    if (typeof h === 'number') throw new Error(`bindHostPort: ${h}`);
    expect(portOp(A, OP.send, 1)).toBe(0);
    expect(events).toBe(1);
    h.notify();
    expect(A.pending(1)).toBe(true);
    expect(bindInterdomain(B, A.id, 1)).toBe(-XEN_EINVAL); // connected to dom0, not unbound for B
  });
});

describe('hostile event-channel requests', () => {
  it('bind_interdomain to a port not allocated for us is -EINVAL (reserved for dom0 or another domain, bound, free, out of range)', () => {
    const C = new TestDomain({ id: 3, registry });
    const forC = allocUnbound(A, C.id);
    const forB = allocUnbound(A, B.id);
    const bound = bindInterdomain(B, A.id, forB);
    expect(bound).toBeGreaterThan(0);
    const virq = bindVirq(A, E.VIRQ_TIMER);
    const cases: Array<[number, string]> = [
      [1, 'unbound for dom0 (the toolstack\'s xenstore port)'],
      [forC, 'unbound for domain 3'],
      [forB, 'already bound'],
      [virq, 'a VIRQ'],
      [40, 'free'],
      [0, 'reserved port 0'],
      [4096, 'beyond the 2-level port space'],
      [0xffffffff, 'u32 max'],
    ];
    for (const [port, why] of cases) expect([why, bindInterdomain(B, A.id, port)]).toEqual([why, -XEN_EINVAL]);
    // None of them changed: A's ports are as they were.
    expect(status(A, forC)).toMatchObject({ status: E.EVTCHNSTAT_unbound, dom: C.id });
    expect(status(A, 1)).toMatchObject({ status: E.EVTCHNSTAT_unbound, dom: 0 });
    expect(status(A, forB)).toMatchObject({ status: E.EVTCHNSTAT_interdomain, dom: B.id, port: bound });
    // Unknown and reserved domains: -ESRCH; dom0 leaves nothing unbound for a guest: -EINVAL.
    expect(bindInterdomain(B, 9, 3)).toBe(-XEN_ESRCH);
    expect(bindInterdomain(B, DOMID_IO, 3)).toBe(-XEN_ESRCH);
    expect(bindInterdomain(B, 0, 1)).toBe(-XEN_EINVAL);
  });

  it('close, send and unmask act only on the caller\'s own ports: others\' numbers and out-of-range ports are -EINVAL', () => {
    const pa = allocUnbound(A, B.id);
    const va = bindVirq(A, E.VIRQ_DEBUG);
    // Ports A holds but B never allocated (B's table has only its toolstack ports 1 and 2).
    for (const port of [pa, va]) {
      expect(portOp(B, OP.close, port)).toBe(-XEN_EINVAL);
      expect(portOp(B, OP.send, port)).toBe(-XEN_EINVAL);
    }
    for (const port of [4096, 5000, 0x7fffffff, 0xffffffff]) {
      expect(portOp(B, OP.close, port)).toBe(-XEN_EINVAL);
      expect(portOp(B, OP.send, port)).toBe(-XEN_EINVAL);
      expect(portOp(B, OP.unmask, port)).toBe(-XEN_EINVAL);
    }
    // Port 0 is valid but reserved: it cannot be closed or sent on (unmasking it is harmless, as in Xen).
    expect(portOp(B, OP.close, 0)).toBe(-XEN_EINVAL);
    expect(portOp(B, OP.send, 0)).toBe(-XEN_EINVAL);
    expect(portOp(B, OP.unmask, 0)).toBe(0);
    expect(status(A, pa)).toMatchObject({ status: E.EVTCHNSTAT_unbound, dom: B.id });
    expect(status(A, va).status).toBe(E.EVTCHNSTAT_virq);
    expect(portOp(A, OP.send, va)).toBe(-XEN_EINVAL); // sending on a VIRQ port
  });

  it('bind_virq: invalid VIRQs -EINVAL, twice -EEXIST, global VIRQs only on vCPU 0, missing vCPUs -ENOENT', () => {
    expect(bindVirq(B, E.NR_VIRQS)).toBe(-XEN_EINVAL);
    expect(bindVirq(B, 0xffffffff)).toBe(-XEN_EINVAL);
    expect(bindVirq(B, 0x80000000)).toBe(-XEN_EINVAL);
    const t = bindVirq(B, E.VIRQ_TIMER);
    expect(t).toBeGreaterThan(0);
    expect(bindVirq(B, E.VIRQ_TIMER)).toBe(-XEN_EEXIST);
    expect(bindVirq(B, E.VIRQ_TIMER, 1)).toBeGreaterThan(0); // per-vCPU: vCPU 1 has its own
    expect(bindVirq(B, E.VIRQ_CONSOLE, 1)).toBe(-XEN_EINVAL);
    expect(bindVirq(B, E.VIRQ_TIMER, 2)).toBe(-XEN_ENOENT);
    expect(bindVirq(B, E.VIRQ_TIMER, 0xffffffff)).toBe(-XEN_ENOENT);
    expect(bindVirq(A, E.VIRQ_TIMER)).toBeGreaterThan(0); // another domain's VIRQ table is its own
  });

  it('acting for another domain: alloc_unbound and status -EPERM (it exists) or -ESRCH (it does not)', () => {
    expect(allocUnbound(B, B.id, A.id)).toBe(-XEN_EPERM);
    expect(allocUnbound(B, B.id, 0)).toBe(-XEN_EPERM);
    expect(allocUnbound(B, B.id, 9)).toBe(-XEN_ESRCH);
    expect(allocUnbound(B, B.id, DOMID_IO)).toBe(-XEN_ESRCH);
    expect(status(B, 1, A.id).rc).toBe(-XEN_EPERM);
    expect(status(B, 1, 9).rc).toBe(-XEN_ESRCH);
    // alloc_unbound for a remote that does not exist is allowed (Xen does not look it up).
    expect(allocUnbound(B, 9)).toBeGreaterThan(0);
  });

  it('bad pointers are -EFAULT and leave everything working', () => {
    for (const cmd of [OP.alloc_unbound, OP.bind_interdomain, OP.bind_virq, OP.close, OP.send, OP.status, OP.unmask]) {
      expect(evtchnOp(B, cmd, UNMAPPED_VA)).toBe(-XEN_EFAULT);
      expect(evtchnOp(B, cmd, HOLE_VA)).toBe(-XEN_EFAULT);
    }
    expect(B.call(HYPERVISOR.event_channel_op_compat, [UNMAPPED_VA])).toBe(-XEN_EFAULT);
    const pa = allocUnbound(A, B.id);
    const pb = bindInterdomain(B, A.id, pa);
    expect(pb).toBeGreaterThan(0);
    expect(portOp(B, OP.send, pb)).toBe(0);
    expect(A.pending(pa)).toBe(true);
  });
});
