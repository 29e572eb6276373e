/**
 * event_channel_op (32) and event_channel_op_compat (16): the 2-level event
 * channel ABI (xen/common/event_channel.c, event_2l.c, Xen 4.17).
 *
 * Port state lives here, per domain; the pending and mask bitmaps live in
 * shared_info and the selector/upcall bits in each vCPU's vcpu_info, exactly
 * where the guest reads them. FIFO is not offered (EVTCHNOP_init_control
 * → -ENOSYS), so Linux uses 2-level.
 *
 * Interdomain channels connect two domains of the same host (found through
 * the DomainRegistry), a domain with itself (loopback), or a domain with
 * the in-process dom0 (host endpoints, below). Binding checks what Xen's
 * evtchn_bind_interdomain checks: the remote domain must exist (-ESRCH) and
 * its port must be unbound and reserved for the binding domain (-EINVAL).
 * A domain's ports are its own namespace: a port number it has not
 * allocated is -EINVAL for close/send/unmask whatever other domains hold.
 * When a domain is destroyed (destroyEventChannels) every port is closed,
 * so its peers' ends fall back to unbound and their sends are dropped.
 *
 * Also the delivery primitives the rest of the hypervisor uses: setPending
 * (Xen's evtchn_2l_set_pending, with vcpu_kick and the SCHEDOP_poll wake-up),
 * sendVirq (timers and debug keys), and host endpoints — the in-process dom0
 * end of an interdomain channel, for backends and xenstore:
 *   bindHostPort(domain, port, onEvent) turns a guest port that is unbound
 *   to dom0 into a connected one; guest sends call onEvent, and the returned
 *   notify() raises the guest port.
 */
import type { Domain } from '../domains/domain.ts';
import type { Vcpu } from '../domains/vcpu.ts';
import { DOM0_ID, domainById } from '../domains/registry.ts';
import { SHARED_INFO, VCPU_INFO } from '../domains/shared-info.ts';
import { setVirqSender } from '../domains/timers.ts';
import { registerHypercall } from './dispatch.ts';
import { DOMID_SELF, HYPERVISOR, XEN_EBUSY, XEN_EEXIST, XEN_EINVAL, XEN_ENOENT, XEN_ENOSPC, XEN_ENOSYS, XEN_EPERM, XEN_ESRCH } from './abi.ts';
import { lookupDomain } from './memory.ts';
import { RUNSTATE_offline, RUNSTATE_running, setRunstate } from './vcpu-op.ts';

/** EVTCHNOP_* (xen/event_channel.h). */
export const EVTCHNOP = {
  bind_interdomain: 0,
  bind_virq: 1,
  bind_pirq: 2,
  close: 3,
  send: 4,
  status: 5,
  alloc_unbound: 6,
  bind_ipi: 7,
  bind_vcpu: 8,
  unmask: 9,
  reset: 10,
  init_control: 11,
  expand_array: 12,
  set_priority: 13,
  reset_cont: 14,
} as const;

/** EVTCHNSTAT_* (evtchn_status.status). */
export const EVTCHNSTAT_closed = 0, EVTCHNSTAT_unbound = 1, EVTCHNSTAT_interdomain = 2, EVTCHNSTAT_pirq = 3;
export const EVTCHNSTAT_virq = 4, EVTCHNSTAT_ipi = 5;

/** VIRQ_* (xen/xen.h). Timer, debug, xenoprof and xenpmu are per vCPU; the rest are global. */
export const VIRQ_TIMER = 0, VIRQ_DEBUG = 1, VIRQ_CONSOLE = 2, VIRQ_DOM_EXC = 3, VIRQ_XENOPROF = 7, VIRQ_XENPMU = 13;
export const NR_VIRQS = 24;

/** Struct layouts (offsets checked against the Xen headers by test/hypercalls.test.ts). */
export const EVTCHN_ALLOC_UNBOUND = { dom: 0, remote_dom: 2, port: 4, size: 8 } as const;
export const EVTCHN_BIND_INTERDOMAIN = { remote_dom: 0, remote_port: 4, local_port: 8, size: 12 } as const;
export const EVTCHN_BIND_VIRQ = { virq: 0, vcpu: 4, port: 8, size: 12 } as const;
export const EVTCHN_BIND_IPI = { vcpu: 0, port: 4, size: 8 } as const;
export const EVTCHN_BIND_PIRQ = { pirq: 0, flags: 4, port: 8, size: 12 } as const;
export const EVTCHN_PORT_ONLY = { port: 0, size: 4 } as const; // close, send, unmask
export const EVTCHN_STATUS = { dom: 0, port: 4, status: 8, vcpu: 12, u: 16, u_interdomain_port: 20, size: 24 } as const;
export const EVTCHN_BIND_VCPU = { port: 0, vcpu: 4, size: 8 } as const;
export const EVTCHN_RESET = { dom: 0, size: 2 } as const;
/** struct evtchn_op (the compat hypercall's argument): u32 cmd, then the union. */
export const EVTCHN_OP = { cmd: 0, u: 4, size: 28 } as const;

/** The 2-level ABI's port space for a 64-bit guest (64 words of 64 bits). */
export const EVTCHN_2L_NR_CHANNELS = 4096;
/** libxl's default event_channels (max_evtchn_port) for a domU. */
export const DEFAULT_MAX_EVTCHN_PORT = 1023;
/** Xen allocates struct evtchn in buckets; a port is "valid" once its bucket exists. */
const EVTCHNS_PER_BUCKET = 64;
/** Ports a domain's toolstack allocates first (libxl: xenstore, then console), unbound to dom0. */
export const TOOLSTACK_PORTS = [1, 2] as const;
/** nr_pirqs of a PV domU (nr_static_irqs + extra_domU_irqs; a fixed 24 + 32 here). */
export const DOMU_NR_PIRQS = 56;

/** Channel states (Xen's ECS_*). */
const ECS_FREE = 0, ECS_RESERVED = 1, ECS_UNBOUND = 2, ECS_INTERDOMAIN = 3, ECS_PIRQ = 4, ECS_VIRQ = 5, ECS_IPI = 6;

/** The in-process dom0 end of an interdomain channel. */
export interface HostPort {
  readonly domain: Domain;
  readonly port: number;
  /** Raise the guest's port (the backend's EVTCHNOP_send). */
  notify(): void;
  /** Disconnect: the guest port goes back to unbound (remote dom0), as when dom0 closes its end. */
  close(): void;
  /** Set when the guest closed its end (the backend should stop using it). */
  readonly closed: boolean;
}

interface HostEnd {
  onEvent: () => void;
  onClose: (() => void) | undefined;
  handle: { closed: boolean };
}

class EvtchnState {
  readonly state = new Uint8Array(EVTCHN_2L_NR_CHANNELS);
  readonly notifyVcpu = new Uint16Array(EVTCHN_2L_NR_CHANNELS);
  /** ECS_UNBOUND: the domain allowed to bind; ECS_INTERDOMAIN: the remote domain. */
  readonly remoteDom = new Uint16Array(EVTCHN_2L_NR_CHANNELS);
  readonly remotePort = new Int32Array(EVTCHN_2L_NR_CHANNELS);
  readonly virq = new Uint8Array(EVTCHN_2L_NR_CHANNELS);
  /** Ports connected to the in-process dom0. */
  readonly host = new Map<number, HostEnd>();
  /** ECS_INTERDOMAIN ports connected to a domain (this one for loopback): the peer. */
  readonly peers = new Map<number, Domain>();
  /** virq_to_evtchn per vCPU: [vcpu * NR_VIRQS + virq]. */
  readonly virqToPort: Int32Array;
  /** Ports below this are "valid" (their bucket exists). */
  validLimit = EVTCHNS_PER_BUCKET;
  maxPort = DEFAULT_MAX_EVTCHN_PORT;
  /** Did the toolstack reserve its ports explicitly? If not, the first guest call reserves TOOLSTACK_PORTS. */
  configured = false;
  /** SCHEDOP_poll per vCPU: 0 = not polling, -1 = any port, else the one port; and the timeout (ns, -1 none). */
  readonly pollPort: Int32Array;
  readonly pollDeadline: Float64Array;

  constructor(nvcpus: number) {
    this.virqToPort = new Int32Array(nvcpus * NR_VIRQS);
    this.pollPort = new Int32Array(nvcpus);
    this.pollDeadline = new Float64Array(nvcpus).fill(-1);
    this.state[0] = ECS_RESERVED;
  }
}

const STATE = new WeakMap<Domain, EvtchnState>();

function stateOf(d: Domain): EvtchnState {
  let s = STATE.get(d);
  if (!s) {
    s = new EvtchnState(d.vcpus.length);
    STATE.set(d, s);
  }
  return s;
}

/** The state as a guest hypercall sees it: the toolstack's ports exist before the guest runs. */
function guestStateOf(d: Domain): EvtchnState {
  const s = stateOf(d);
  if (!s.configured) {
    s.configured = true;
    for (const p of TOOLSTACK_PORTS) if (s.state[p] === ECS_FREE) allocPort(s, p, ECS_UNBOUND, 0);
  }
  return s;
}

function portValid(s: EvtchnState, port: number): boolean {
  return port >= 0 && port < s.validLimit && port < EVTCHN_2L_NR_CHANNELS;
}

function allocPort(s: EvtchnState, port: number, state: number, remoteDom: number): void {
  s.state[port] = state;
  s.notifyVcpu[port] = 0;
  s.remoteDom[port] = remoteDom;
  s.remotePort[port] = 0;
  s.virq[port] = 0;
  while (port >= s.validLimit) s.validLimit += EVTCHNS_PER_BUCKET;
}

/** get_free_port: the lowest free port, or a negative errno (-EINVAL once the domain is dying). */
function freePort(d: Domain, s: EvtchnState): number {
  if (d.isDying) return -XEN_EINVAL;
  for (let p = 1; p <= s.maxPort && p < EVTCHN_2L_NR_CHANNELS; p++) if (s.state[p] === ECS_FREE) return p;
  return -XEN_ENOSPC;
}

// ------------------------------------------------------------------ shared_info bits

function sharedInfoOffset(d: Domain): number {
  return d.memory.offsetOfMfn(d.sharedInfoMfn);
}

export function isPortPending(d: Domain, port: number): boolean {
  return (d.memory.ram[sharedInfoOffset(d) + SHARED_INFO.evtchn_pending + (port >> 3)]! & (1 << (port & 7))) !== 0;
}

export function isPortMasked(d: Domain, port: number): boolean {
  return (d.memory.ram[sharedInfoOffset(d) + SHARED_INFO.evtchn_mask + (port >> 3)]! & (1 << (port & 7))) !== 0;
}

/** Set selector bit `word` in v's evtchn_pending_sel; returns whether it was already set. */
function testAndSetSel(v: Vcpu, word: number): boolean {
  const ram = v.domain.memory.ram;
  const o = v.vcpuInfoOffset() + VCPU_INFO.evtchn_pending_sel + (word >> 3);
  const bit = 1 << (word & 7);
  const was = (ram[o]! & bit) !== 0;
  ram[o] = ram[o]! | bit;
  return was;
}

/** vcpu_mark_events_pending: set evtchn_upcall_pending; if it was clear, kick the vCPU. */
export function markEventsPending(v: Vcpu): void {
  const ram = v.domain.memory.ram;
  const o = v.vcpuInfoOffset() + VCPU_INFO.evtchn_upcall_pending;
  if (ram[o]! & 1) return;
  ram[o] = ram[o]! | 1;
  kickVcpu(v);
}

/** vcpu_kick / vcpu_unblock: a blocked (or polling) vCPU becomes runnable. */
export function kickVcpu(v: Vcpu): void {
  if (!v.blocked) return;
  v.blocked = false;
  const s = STATE.get(v.domain);
  if (s) {
    s.pollPort[v.id] = 0;
    s.pollDeadline[v.id] = -1;
  }
  setRunstate(v, v.online ? RUNSTATE_running : RUNSTATE_offline);
  v.domain.onVcpuWake?.(v);
}

/** evtchn_check_pollers: wake vCPUs polling this port (or any port). */
function checkPollers(d: Domain, s: EvtchnState, port: number): void {
  const pp = s.pollPort;
  for (let i = 0; i < pp.length; i++) {
    const p = pp[i]!;
    if (p !== 0 && (p < 0 || p === port)) kickVcpu(d.vcpus[i]!);
  }
}

/** evtchn_2l_set_pending: raise `port` towards vCPU `vcpuId`. */
export function setPending(d: Domain, vcpuId: number, port: number): void {
  const ram = d.memory.ram;
  const si = sharedInfoOffset(d);
  const byte = port >> 3, bit = 1 << (port & 7);
  const po = si + SHARED_INFO.evtchn_pending + byte;
  if (ram[po]! & bit) return;
  ram[po] = ram[po]! | bit;
  const v = d.vcpus[vcpuId];
  if (v && (ram[si + SHARED_INFO.evtchn_mask + byte]! & bit) === 0 && !testAndSetSel(v, port >> 6)) markEventsPending(v);
  const s = STATE.get(d);
  if (s) checkPollers(d, s, port);
}

/** evtchn_2l_unmask. */
function unmaskPort(d: Domain, s: EvtchnState, port: number): void {
  const ram = d.memory.ram;
  const si = sharedInfoOffset(d);
  const byte = port >> 3, bit = 1 << (port & 7);
  const mo = si + SHARED_INFO.evtchn_mask + byte;
  const wasMasked = (ram[mo]! & bit) !== 0;
  ram[mo] = ram[mo]! & ~bit;
  if (!wasMasked) return;
  if ((ram[si + SHARED_INFO.evtchn_pending + byte]! & bit) === 0) return;
  const v = d.vcpus[s.notifyVcpu[port]!];
  if (v && !testAndSetSel(v, port >> 6)) markEventsPending(v);
}

function clearPending(d: Domain, port: number): void {
  const o = sharedInfoOffset(d) + SHARED_INFO.evtchn_pending + (port >> 3);
  d.memory.ram[o] = d.memory.ram[o]! & ~(1 << (port & 7));
}

function isGlobalVirq(virq: number): boolean {
  return !(virq === VIRQ_TIMER || virq === VIRQ_DEBUG || virq === VIRQ_XENOPROF || virq === VIRQ_XENPMU);
}

/** send_guest_vcpu_virq / send_guest_global_virq. */
export function sendVirq(v: Vcpu, virq: number): void {
  const d = v.domain;
  const s = STATE.get(d);
  if (!s || virq < 0 || virq >= NR_VIRQS) return;
  if (isGlobalVirq(virq)) {
    const port = s.virqToPort[virq]!; // vCPU 0's table
    if (port) setPending(d, s.notifyVcpu[port]!, port);
  } else {
    const port = s.virqToPort[v.id * NR_VIRQS + virq]!;
    if (port) setPending(d, v.id, port);
  }
}

setVirqSender(sendVirq);

// ------------------------------------------------------------------ SCHEDOP_poll support

/** evtchn_port_poll: 1 pending, 0 not, -EINVAL for an invalid port. */
export function pollPort(d: Domain, port: number): number {
  const s = guestStateOf(d);
  if (!portValid(s, port)) return -XEN_EINVAL;
  return isPortPending(d, port) ? 1 : 0;
}

/** Record that v sleeps in SCHEDOP_poll (port -1 = any port), until `deadline` ns (-1 = none). */
export function startPoll(v: Vcpu, port: number, deadline: number): void {
  const s = guestStateOf(v.domain);
  s.pollPort[v.id] = port;
  s.pollDeadline[v.id] = deadline;
}

/** The poll timeout of v, in ns of system time (-1 = none or not polling). */
export function pollDeadline(v: Vcpu): number {
  const s = STATE.get(v.domain);
  return s && s.pollPort[v.id] !== 0 ? s.pollDeadline[v.id]! : -1;
}

/** The scheduler's hook: end a poll whose timeout has passed. */
export function servicePollTimeout(v: Vcpu, now: number): void {
  const t = pollDeadline(v);
  if (t >= 0 && now >= t) kickVcpu(v);
}

// ------------------------------------------------------------------ toolstack / backend API

/**
 * Allocate `port` (0 = the lowest free one) unbound, for `remoteDom` to
 * bind — what libxl's xc_evtchn_alloc_unbound does for xenstore and the
 * console before the domain runs. Returns the port or a negative errno.
 * The first call disables the default reservation of TOOLSTACK_PORTS.
 */
export function reserveUnboundPort(d: Domain, port: number, remoteDom: number): number {
  const s = stateOf(d);
  s.configured = true;
  if (port === 0) port = freePort(d, s);
  if (port < 0) return port;
  if (port >= EVTCHN_2L_NR_CHANNELS || port > s.maxPort) return -XEN_ENOSPC;
  if (s.state[port] !== ECS_FREE) return -XEN_EBUSY;
  allocPort(s, port, ECS_UNBOUND, remoteDom);
  return port;
}

/**
 * Connect the in-process dom0 to guest `port` (which must be unbound to
 * dom0): guest EVTCHNOP_send on it calls onEvent (synchronously, inside the
 * hypercall: do little there); notify() raises it in the guest. Returns a
 * negative errno when the port is not available.
 */
export function bindHostPort(d: Domain, port: number, onEvent: () => void, onClose?: () => void): HostPort | number {
  const s = guestStateOf(d);
  if (!portValid(s, port) || s.state[port] !== ECS_UNBOUND || s.remoteDom[port] !== 0) return -XEN_EINVAL;
  s.state[port] = ECS_INTERDOMAIN;
  s.remoteDom[port] = 0;
  s.remotePort[port] = 0;
  const handle = { closed: false };
  s.host.set(port, { onEvent, onClose, handle });
  return {
    domain: d,
    port,
    notify(): void {
      if (!handle.closed && s.state[port] === ECS_INTERDOMAIN) setPending(d, s.notifyVcpu[port]!, port);
    },
    close(): void {
      if (handle.closed) return;
      handle.closed = true;
      s.host.delete(port);
      if (s.state[port] === ECS_INTERDOMAIN) {
        s.state[port] = ECS_UNBOUND;
        s.remoteDom[port] = 0;
      }
    },
    get closed(): boolean {
      return handle.closed;
    },
  };
}

/** Raise a guest port from the host side whatever it is bound to (debugging, tests). */
export function raisePort(d: Domain, port: number): void {
  const s = stateOf(d);
  if (portValid(s, port) && s.state[port] !== ECS_FREE) setPending(d, s.notifyVcpu[port]!, port);
}

/**
 * evtchn_destroy: the domain is going away. It gets no new ports, and every
 * port is closed — interdomain peers fall back to unbound (reserved for it,
 * so nobody can bind them again by mistake), host endpoints are told.
 */
export function destroyEventChannels(d: Domain): void {
  d.isDying = true;
  const s = STATE.get(d);
  if (!s) return;
  for (let p = 1; p < s.validLimit; p++) if (s.state[p] !== ECS_FREE && s.state[p] !== ECS_RESERVED) closePort(d, p);
}

/** A port's state for tests and diagnostics. */
export function portInfo(d: Domain, port: number): { state: number; vcpu: number; remoteDom: number; remotePort: number; virq: number } {
  const s = stateOf(d);
  return { state: s.state[port]!, vcpu: s.notifyVcpu[port]!, remoteDom: s.remoteDom[port]!, remotePort: s.remotePort[port]!, virq: s.virq[port]! };
}

// ------------------------------------------------------------------ the operations

/** evtchn_free: clear the pending bit, back to ECS_FREE, notify vCPU 0. */
function freeChannel(d: Domain, s: EvtchnState, port: number): void {
  clearPending(d, port);
  s.state[port] = ECS_FREE;
  s.notifyVcpu[port] = 0;
  s.remoteDom[port] = 0;
  s.remotePort[port] = 0;
  s.virq[port] = 0;
  s.peers.delete(port);
}

/** evtchn_close. */
export function closePort(d: Domain, port: number): number {
  const s = guestStateOf(d);
  if (!portValid(s, port)) return -XEN_EINVAL;
  switch (s.state[port]) {
    case ECS_FREE:
    case ECS_RESERVED:
      return -XEN_EINVAL;
    case ECS_UNBOUND:
    case ECS_IPI:
    case ECS_PIRQ:
      break;
    case ECS_VIRQ: {
      const virq = s.virq[port]!;
      const vc = isGlobalVirq(virq) ? 0 : s.notifyVcpu[port]!;
      s.virqToPort[vc * NR_VIRQS + virq] = 0;
      break;
    }
    case ECS_INTERDOMAIN: {
      const host = s.host.get(port);
      if (host) {
        s.host.delete(port);
        host.handle.closed = true;
        host.onClose?.();
      } else {
        // The other end goes back to unbound, reserved for us (as Xen's __evtchn_close).
        const peer = s.peers.get(port);
        if (peer) {
          const ps = stateOf(peer);
          const rp = s.remotePort[port]!;
          ps.state[rp] = ECS_UNBOUND;
          ps.remoteDom[rp] = d.id;
          ps.remotePort[rp] = 0;
          ps.peers.delete(rp);
        }
      }
      break;
    }
  }
  freeChannel(d, s, port);
  return 0;
}

function evtchnSend(d: Domain, port: number): number {
  const s = guestStateOf(d);
  if (!portValid(s, port)) return -XEN_EINVAL;
  switch (s.state[port]) {
    case ECS_INTERDOMAIN: {
      const host = s.host.get(port);
      if (host) host.onEvent();
      else {
        const peer = s.peers.get(port);
        if (peer) {
          const rp = s.remotePort[port]!;
          setPending(peer, stateOf(peer).notifyVcpu[rp]!, rp);
        }
      }
      return 0;
    }
    case ECS_IPI:
      setPending(d, s.notifyVcpu[port]!, port);
      return 0;
    case ECS_UNBOUND:
      return 0; // silently dropped
    default:
      return -XEN_EINVAL;
  }
}

function eventChannelOp(v: Vcpu, cmd: number, arg: number): number {
  const d = v.domain;
  const m = v.mem;
  switch (cmd) {
    case EVTCHNOP.alloc_unbound: {
      const dom = m.u16(arg + EVTCHN_ALLOC_UNBOUND.dom);
      let remote = m.u16(arg + EVTCHN_ALLOC_UNBOUND.remote_dom);
      const rc = lookupDomain(d, dom);
      if (rc) return rc;
      const s = guestStateOf(d);
      const port = freePort(d, s);
      if (port < 0) return port;
      if (remote === DOMID_SELF) remote = d.id;
      allocPort(s, port, ECS_UNBOUND, remote);
      m.setU32(arg + EVTCHN_ALLOC_UNBOUND.port, port);
      return 0;
    }

    case EVTCHNOP.bind_interdomain: {
      let rdom = m.u16(arg + EVTCHN_BIND_INTERDOMAIN.remote_dom);
      const rport = m.u32(arg + EVTCHN_BIND_INTERDOMAIN.remote_port);
      m.u32(arg + EVTCHN_BIND_INTERDOMAIN.local_port);
      if (rdom === DOMID_SELF) rdom = d.id;
      // rcu_lock_domain_by_id. The in-process dom0 exists but never leaves a port unbound for a
      // guest (its backends bind the guest's ports instead); a domain outside any registry takes
      // every unreserved id to exist (see lookupDomain) and so finds no port there either.
      const rd = domainById(d, rdom);
      if (!rd && !(rdom === DOM0_ID || (!d.registry && rdom < DOMID_SELF))) return -XEN_ESRCH;
      const s = guestStateOf(d);
      const lport = freePort(d, s);
      if (lport < 0) return lport;
      if (!rd) return -XEN_EINVAL;
      const rs = guestStateOf(rd);
      if (!portValid(rs, rport) || rs.state[rport] !== ECS_UNBOUND || rs.remoteDom[rport] !== d.id) return -XEN_EINVAL;
      allocPort(s, lport, ECS_INTERDOMAIN, rd.id);
      s.remotePort[lport] = rport;
      s.peers.set(lport, rd);
      rs.state[rport] = ECS_INTERDOMAIN;
      rs.remoteDom[rport] = d.id;
      rs.remotePort[rport] = lport;
      rs.peers.set(rport, d);
      // Notifications on the remote unbound port may have been lost: Xen raises the new local port.
      setPending(d, s.notifyVcpu[lport]!, lport);
      m.setU32(arg + EVTCHN_BIND_INTERDOMAIN.local_port, lport);
      return 0;
    }

    case EVTCHNOP.bind_virq: {
      const virq = m.u32(arg + EVTCHN_BIND_VIRQ.virq);
      const vcpu = m.u32(arg + EVTCHN_BIND_VIRQ.vcpu);
      m.u32(arg + EVTCHN_BIND_VIRQ.port);
      if (virq >= NR_VIRQS) return -XEN_EINVAL;
      if (isGlobalVirq(virq) && vcpu !== 0) return -XEN_EINVAL;
      if (vcpu >= d.vcpus.length) return -XEN_ENOENT;
      const s = guestStateOf(d);
      const slot = vcpu * NR_VIRQS + virq;
      if (s.virqToPort[slot]) return -XEN_EEXIST;
      const port = freePort(d, s);
      if (port < 0) return port;
      allocPort(s, port, ECS_VIRQ, 0);
      s.notifyVcpu[port] = vcpu;
      s.virq[port] = virq;
      s.virqToPort[slot] = port;
      m.setU32(arg + EVTCHN_BIND_VIRQ.port, port);
      return 0;
    }

    case EVTCHNOP.bind_ipi: {
      const vcpu = m.u32(arg + EVTCHN_BIND_IPI.vcpu);
      m.u32(arg + EVTCHN_BIND_IPI.port);
      if (vcpu >= d.vcpus.length) return -XEN_ENOENT;
      const s = guestStateOf(d);
      const port = freePort(d, s);
      if (port < 0) return port;
      allocPort(s, port, ECS_IPI, 0);
      s.notifyVcpu[port] = vcpu;
      m.setU32(arg + EVTCHN_BIND_IPI.port, port);
      return 0;
    }

    case EVTCHNOP.bind_pirq: {
      const pirq = m.u32(arg + EVTCHN_BIND_PIRQ.pirq);
      m.bytes(arg, EVTCHN_BIND_PIRQ.size);
      if (pirq >= DOMU_NR_PIRQS) return -XEN_EINVAL;
      return -XEN_EPERM; // no physical IRQ is granted to a domU
    }

    case EVTCHNOP.close:
      return closePort(d, m.u32(arg + EVTCHN_PORT_ONLY.port));

    case EVTCHNOP.send:
      return evtchnSend(d, m.u32(arg + EVTCHN_PORT_ONLY.port));

    case EVTCHNOP.status: {
      const dom = m.u16(arg + EVTCHN_STATUS.dom);
      const port = m.u32(arg + EVTCHN_STATUS.port);
      m.bytes(arg, EVTCHN_STATUS.size);
      const rc = lookupDomain(d, dom);
      if (rc) return rc;
      const s = guestStateOf(d);
      if (!portValid(s, port)) return -XEN_EINVAL;
      let status = EVTCHNSTAT_closed;
      switch (s.state[port]) {
        case ECS_UNBOUND:
          status = EVTCHNSTAT_unbound;
          m.setU16(arg + EVTCHN_STATUS.u, s.remoteDom[port]!);
          break;
        case ECS_INTERDOMAIN:
          status = EVTCHNSTAT_interdomain;
          m.setU16(arg + EVTCHN_STATUS.u, s.remoteDom[port]!);
          m.setU32(arg + EVTCHN_STATUS.u_interdomain_port, s.remotePort[port]!);
          break;
        case ECS_PIRQ:
          status = EVTCHNSTAT_pirq;
          break;
        case ECS_VIRQ:
          status = EVTCHNSTAT_virq;
          m.setU32(arg + EVTCHN_STATUS.u, s.virq[port]!);
          break;
        case ECS_IPI:
          status = EVTCHNSTAT_ipi;
          break;
      }
      m.setU32(arg + EVTCHN_STATUS.status, status);
      m.setU32(arg + EVTCHN_STATUS.vcpu, s.notifyVcpu[port]!);
      return 0;
    }

    case EVTCHNOP.bind_vcpu: {
      const port = m.u32(arg + EVTCHN_BIND_VCPU.port);
      const vcpu = m.u32(arg + EVTCHN_BIND_VCPU.vcpu);
      if (vcpu >= d.vcpus.length) return -XEN_ENOENT;
      const s = guestStateOf(d);
      if (!portValid(s, port)) return -XEN_EINVAL;
      switch (s.state[port]) {
        case ECS_VIRQ:
          if (!isGlobalVirq(s.virq[port]!)) return -XEN_EINVAL;
          s.notifyVcpu[port] = vcpu;
          return 0;
        case ECS_UNBOUND:
        case ECS_INTERDOMAIN:
          s.notifyVcpu[port] = vcpu;
          return 0;
        default:
          return -XEN_EINVAL;
      }
    }

    case EVTCHNOP.unmask: {
      const port = m.u32(arg + EVTCHN_PORT_ONLY.port);
      const s = guestStateOf(d);
      if (!portValid(s, port)) return -XEN_EINVAL;
      unmaskPort(d, s, port);
      return 0;
    }

    case EVTCHNOP.reset:
    case EVTCHNOP.reset_cont: {
      const rc = lookupDomain(d, m.u16(arg + EVTCHN_RESET.dom));
      if (rc) return rc;
      const s = guestStateOf(d);
      for (let p = 1; p < s.validLimit; p++) if (s.state[p] !== ECS_FREE && s.state[p] !== ECS_RESERVED) closePort(d, p);
      return 0;
    }

    // FIFO ABI: not offered, so Linux falls back to 2-level (any negative result will do).
    case EVTCHNOP.init_control:
    case EVTCHNOP.expand_array:
    case EVTCHNOP.set_priority:
    default:
      return -XEN_ENOSYS;
  }
}

/** Ops the compat hypercall forwards (xen/arch/x86/compat.c). */
const COMPAT_OPS = new Set<number>([
  EVTCHNOP.bind_interdomain, EVTCHNOP.bind_virq, EVTCHNOP.bind_pirq, EVTCHNOP.close, EVTCHNOP.send,
  EVTCHNOP.status, EVTCHNOP.alloc_unbound, EVTCHNOP.bind_ipi, EVTCHNOP.bind_vcpu, EVTCHNOP.unmask,
]);

registerHypercall(HYPERVISOR.event_channel_op, (v) => eventChannelOp(v, v.arg32(0), v.argVa(1)));
registerHypercall(HYPERVISOR.event_channel_op_compat, (v) => {
  const op = v.argVa(0);
  const cmd = v.mem.u32(op + EVTCHN_OP.cmd);
  v.mem.bytes(op, EVTCHN_OP.size);
  if (!COMPAT_OPS.has(cmd)) return -XEN_ENOSYS;
  return eventChannelOp(v, cmd, op + EVTCHN_OP.u);
});
