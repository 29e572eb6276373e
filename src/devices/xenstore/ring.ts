/**
 * A domain's xenstore connection over its shared page
 * (struct xenstore_domain_interface, xen/io/xs_wire.h), as xenstored's
 * domain.c/core.c drive it:
 * - req[]/rsp[] are byte streams; the free-running u32 indices are masked
 *   with 1023. Messages may span the ring's wrap and arrive (or leave) in
 *   pieces over several notifications.
 * - A header whose len exceeds XENSTORE_PAYLOAD_MAX, or indices that claim
 *   more than a ring's worth of data, end the conversation: the page's
 *   `error` field is set (XENSTORE_ERROR_PROTO / _RINGIDX), the
 *   connection's watches, transactions and queued output are dropped and
 *   later kicks are ignored (xenstored's ignore_connection).
 * - Replies and watch events go into one output queue, written as space
 *   allows; when the guest has `XS_QUOTA.outstanding` replies it has not
 *   read, further requests wait in the ring until it reads some. Watch
 *   events wait in the queue while the ring is full; an event identical to
 *   one still queued and unsent is not queued twice (as xenstored).
 *
 * Wiring (the lead's toolstack): construct it when the domain is built,
 * with `notifyGuest` sending on the domain's store event channel from dom0;
 * call `kick()` whenever the guest notifies that channel. Watch events
 * caused by anyone else are written (and notified) as soon as the store
 * operation that caused them ends.
 */
import { encodeWatchEvent, handleRequest } from './protocol.ts';
import { XS_QUOTA, type XenStore, type XsSession } from './store.ts';
import {
  XENSTORE_CONNECTED, XENSTORE_DOMAIN_INTERFACE as XDI, XENSTORE_ERROR_NONE, XENSTORE_ERROR_PROTO,
  XENSTORE_ERROR_RINGIDX, XENSTORE_PAYLOAD_MAX, XENSTORE_RING_MASK, XENSTORE_RING_SIZE,
  XENSTORE_SERVER_FEATURE_ERROR, XSD_SOCKMSG,
} from './xs-wire.ts';

interface Outgoing {
  bytes: Uint8Array;
  event: boolean;
}

export class XenstoreConnection {
  readonly session: XsSession;
  private readonly dv: DataView;
  private readonly page: number;
  private readonly ram: Uint8Array;
  // Input assembly.
  private readonly hdr = new Uint8Array(XSD_SOCKMSG.size);
  private hdrUsed = 0;
  private body: Uint8Array | null = null;
  private bodyUsed = 0;
  // Output queue: the first entry may be partly written.
  private readonly out: Outgoing[] = [];
  private outOff = 0;
  private outBytes = 0;
  private pendingReplies = 0;
  private inKick = false;
  private flushQueued = false;
  private ignoredReason = XENSTORE_ERROR_NONE;
  private droppedEvents = 0;

  constructor(
    /** The domain's memory buffer. */
    ringRam: Uint8Array,
    /** Byte offset of the store page in `ringRam`. */
    ringOffset: number,
    readonly domid: number,
    readonly store: XenStore,
    private notifyGuest: () => void,
  ) {
    if (ringOffset < 0 || ringOffset + XDI.size > ringRam.length) throw new RangeError('xenstore page outside the domain memory');
    this.ram = ringRam;
    this.page = ringOffset;
    this.dv = new DataView(ringRam.buffer, ringRam.byteOffset, ringRam.byteLength);
    this.session = store.openSession(domid, (w, path) => this.queueEvent(path, w.token));
    // What xenstored does on INTRODUCE: an empty ring, and the features it offers.
    this.setU32(XDI.req_cons, 0);
    this.setU32(XDI.req_prod, 0);
    this.setU32(XDI.rsp_cons, 0);
    this.setU32(XDI.rsp_prod, 0);
    this.setU32(XDI.server_features, XENSTORE_SERVER_FEATURE_ERROR);
    this.setU32(XDI.connection, XENSTORE_CONNECTED);
    this.setU32(XDI.error, XENSTORE_ERROR_NONE);
  }

  /** Replace the notification function (e.g. once the event channel is bound). */
  setNotify(f: () => void): void {
    this.notifyGuest = f;
  }

  /** Non-zero (XENSTORE_ERROR_*) once the connection was shut for a protocol violation. */
  get error(): number {
    return this.ignoredReason;
  }

  get closed(): boolean {
    return this.session.closed;
  }

  /** Bytes of output still waiting for ring space. */
  get queuedBytes(): number {
    return this.outBytes - this.outOff;
  }

  /** The guest notified the store event channel: consume requests, produce replies. */
  kick(): void {
    if (this.inKick || this.session.closed || this.ignoredReason) return;
    this.inKick = true;
    let consumed = false;
    let produced = false;
    try {
      produced = this.flushOut();
      while (!this.ignoredReason && !this.session.closed && this.pendingReplies < XS_QUOTA.outstanding) {
        const n = this.readInput();
        if (n === 0) break;
        consumed = true;
        // Write as we go so a long burst does not queue everything.
        if (this.flushOut()) produced = true;
      }
      if (this.flushOut()) produced = true;
    } finally {
      this.inKick = false;
    }
    if (consumed || produced) this.notifyGuest();
  }

  /** Detach from the store (domain destroyed). */
  close(): void {
    this.store.closeSession(this.session);
    this.out.length = 0;
    this.outOff = this.outBytes = this.pendingReplies = 0;
  }

  // ------------------------------------------------------------ page access

  private u32(off: number): number {
    return this.dv.getUint32(this.page + off, true);
  }

  private setU32(off: number, v: number): void {
    this.dv.setUint32(this.page + off, v >>> 0, true);
  }

  /** Shut the connection for a protocol violation. */
  private ignore(err: number): void {
    this.ignoredReason = err;
    this.setU32(XDI.error, err);
    this.store.log(`domain ${this.domid}: xenstore connection closed (error ${err})`);
    this.store.opResetWatches(this.session);
    this.out.length = 0;
    this.outOff = this.outBytes = this.pendingReplies = 0;
    this.body = null;
    this.hdrUsed = this.bodyUsed = 0;
  }

  // ------------------------------------------------------------ input

  /** Copy up to `want` request bytes into dst[at..]; returns bytes read (-1: bad indices). */
  private readRing(dst: Uint8Array, at: number, want: number): number {
    const cons = this.u32(XDI.req_cons);
    const prod = this.u32(XDI.req_prod);
    const avail = (prod - cons) >>> 0;
    if (avail > XENSTORE_RING_SIZE) return -1;
    let n = Math.min(want, avail);
    if (n === 0) return 0;
    const start = cons & XENSTORE_RING_MASK;
    const first = Math.min(n, XENSTORE_RING_SIZE - start);
    const base = this.page + XDI.req;
    dst.set(this.ram.subarray(base + start, base + start + first), at);
    if (n > first) dst.set(this.ram.subarray(base, base + (n - first)), at + first);
    this.setU32(XDI.req_cons, cons + n);
    return n;
  }

  /** Read what is available of the current message; process it when complete. Returns bytes consumed. */
  private readInput(): number {
    let total = 0;
    if (!this.body) {
      const n = this.readRing(this.hdr, this.hdrUsed, XSD_SOCKMSG.size - this.hdrUsed);
      if (n < 0) {
        this.ignore(XENSTORE_ERROR_RINGIDX);
        return 0;
      }
      this.hdrUsed += n;
      total += n;
      if (this.hdrUsed < XSD_SOCKMSG.size) return total;
      const len = new DataView(this.hdr.buffer).getUint32(XSD_SOCKMSG.len, true);
      if (len > XENSTORE_PAYLOAD_MAX) {
        this.ignore(XENSTORE_ERROR_PROTO);
        return 0;
      }
      this.body = new Uint8Array(len);
      this.bodyUsed = 0;
    }
    const body = this.body;
    if (this.bodyUsed < body.length) {
      const n = this.readRing(body, this.bodyUsed, body.length - this.bodyUsed);
      if (n < 0) {
        this.ignore(XENSTORE_ERROR_RINGIDX);
        return 0;
      }
      this.bodyUsed += n;
      total += n;
      if (this.bodyUsed < body.length) return total;
    }
    const hv = new DataView(this.hdr.buffer);
    const hdr = {
      type: hv.getUint32(XSD_SOCKMSG.type, true),
      reqId: hv.getUint32(XSD_SOCKMSG.req_id, true),
      txId: hv.getUint32(XSD_SOCKMSG.tx_id, true),
    };
    this.hdrUsed = 0;
    this.body = null;
    this.bodyUsed = 0;
    handleRequest(this.store, this.session, hdr, body, (msg) => this.queue(msg, false));
    // A zero-length message still counts as progress.
    return total || 1;
  }

  // ------------------------------------------------------------ output

  private queue(bytes: Uint8Array, event: boolean): void {
    if (this.ignoredReason || this.session.closed) return;
    this.out.push({ bytes, event });
    this.outBytes += bytes.length;
    if (!event) this.pendingReplies++;
  }

  private queueEvent(path: string, token: string): void {
    if (this.ignoredReason || this.session.closed) return;
    const msg = encodeWatchEvent(path, token);
    if (!msg) return; // over-long events are not sent (xenstored)
    if (path[0] !== '@') {
      // Identical to one not yet started? Then the guest will hear of it anyway.
      for (let i = 0; i < this.out.length; i++) {
        const o = this.out[i]!;
        if (!o.event || (i === 0 && this.outOff > 0) || o.bytes.length !== msg.length) continue;
        if (sameBytes(o.bytes, msg)) return;
      }
    }
    if (this.outBytes - this.outOff + msg.length > XS_QUOTA.queuedBytes) {
      if (this.droppedEvents++ === 0) this.store.log(`domain ${this.domid}: output queue full, dropping watch events`);
      return;
    }
    this.queue(msg, true);
    if (!this.inKick && !this.flushQueued) {
      this.flushQueued = true;
      this.store.defer(() => {
        this.flushQueued = false;
        if (this.inKick) return; // the running kick writes it
        if (this.flushOut()) this.notifyGuest();
      });
    }
  }

  /** Write queued output into rsp[] as space allows. True if anything was written. */
  private flushOut(): boolean {
    if (this.out.length === 0 || this.ignoredReason) return false;
    const cons = this.u32(XDI.rsp_cons);
    let prod = this.u32(XDI.rsp_prod);
    const used = (prod - cons) >>> 0;
    if (used > XENSTORE_RING_SIZE) {
      this.ignore(XENSTORE_ERROR_RINGIDX);
      return false;
    }
    let space = XENSTORE_RING_SIZE - used;
    const base = this.page + XDI.rsp;
    let wrote = false;
    while (space > 0 && this.out.length > 0) {
      const o = this.out[0]!;
      const n = Math.min(space, o.bytes.length - this.outOff);
      const start = prod & XENSTORE_RING_MASK;
      const first = Math.min(n, XENSTORE_RING_SIZE - start);
      this.ram.set(o.bytes.subarray(this.outOff, this.outOff + first), base + start);
      if (n > first) this.ram.set(o.bytes.subarray(this.outOff + first, this.outOff + n), base);
      prod = (prod + n) >>> 0;
      space -= n;
      this.outOff += n;
      wrote = true;
      if (this.outOff === o.bytes.length) {
        this.out.shift();
        this.outBytes -= o.bytes.length;
        this.outOff = 0;
        if (!o.event) this.pendingReplies--;
      }
    }
    // Data before index.
    if (wrote) this.setU32(XDI.rsp_prod, prod);
    return wrote;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
