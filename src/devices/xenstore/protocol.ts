/**
 * Xenstore messages (xen/io/xs_wire.h, docs/misc/xenstore.txt): the
 * xsd_sockmsg header, payload parsing, and the dispatch of one request to
 * the store with xenstored's argument checks and error replies. Transport
 * independent: ring.ts feeds it from a domain's shared page.
 *
 * Paths, tokens and other strings travel as bytes; they are handled here as
 * Latin-1 strings (one char per byte), so non-ASCII bytes survive and fail
 * the path character check.
 */
import { formatPerm, parsePerms, XenstoreError, type XenStore, type XsSession, type XsTransaction } from './store.ts';
import {
  DOMID_SELF, XENSTORE_PAYLOAD_MAX, XS_CONTROL, XS_DIRECTORY, XS_DIRECTORY_PART, XS_ERROR, XS_GET_DOMAIN_PATH,
  XS_GET_PERMS, XS_INTRODUCE, XS_IS_DOMAIN_INTRODUCED, XS_MKDIR, XS_READ, XS_RELEASE, XS_RESET_WATCHES, XS_RESUME,
  XS_RM, XS_SET_PERMS, XS_SET_TARGET, XS_TRANSACTION_END, XS_TRANSACTION_START, XS_UNWATCH, XS_WATCH,
  XS_WATCH_EVENT, XS_WRITE, XSD_SOCKMSG, type XsErrno,
} from './xs-wire.ts';

export interface XsHeader {
  type: number;
  reqId: number;
  txId: number;
  len: number;
}

/** Bytes → string, one char per byte. */
export function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 4096) s += String.fromCharCode(...b.subarray(i, i + 4096));
  return s;
}

/** String → bytes (chars above 0xff are truncated; callers pass Latin-1 or ASCII). */
export function latin1Bytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

export function decodeHeader(b: Uint8Array, off = 0): XsHeader {
  const dv = new DataView(b.buffer, b.byteOffset + off, XSD_SOCKMSG.size);
  return {
    type: dv.getUint32(XSD_SOCKMSG.type, true),
    reqId: dv.getUint32(XSD_SOCKMSG.req_id, true),
    txId: dv.getUint32(XSD_SOCKMSG.tx_id, true),
    len: dv.getUint32(XSD_SOCKMSG.len, true),
  };
}

/** A whole message: header + payload. */
export function encodeMessage(type: number, reqId: number, txId: number, payload: Uint8Array): Uint8Array {
  const m = new Uint8Array(XSD_SOCKMSG.size + payload.length);
  const dv = new DataView(m.buffer);
  dv.setUint32(XSD_SOCKMSG.type, type, true);
  dv.setUint32(XSD_SOCKMSG.req_id, reqId >>> 0, true);
  dv.setUint32(XSD_SOCKMSG.tx_id, txId >>> 0, true);
  dv.setUint32(XSD_SOCKMSG.len, payload.length, true);
  m.set(payload, XSD_SOCKMSG.size);
  return m;
}

/** NUL-terminated strings joined: ["a","b"] → "a\0b\0". */
export function nulStrings(items: readonly string[]): Uint8Array {
  return latin1Bytes(items.map((x) => `${x}\0`).join(''));
}

/** A WATCH_EVENT message ("path\0token\0", req_id and tx_id 0), or null if it would exceed the payload limit. */
export function encodeWatchEvent(path: string, token: string): Uint8Array | null {
  const payload = nulStrings([path, token]);
  if (payload.length > XENSTORE_PAYLOAD_MAX) return null;
  return encodeMessage(XS_WATCH_EVENT, 0, 0, payload);
}

/** The payload must be exactly one NUL-terminated string (xenstored's onearg). */
function onearg(p: Uint8Array): string | null {
  if (p.length === 0 || p.indexOf(0) !== p.length - 1) return null;
  return latin1(p.subarray(0, p.length - 1));
}

/** The NUL-terminated strings of a payload (bytes after the last NUL are ignored). */
function strings(p: Uint8Array): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === 0) {
      out.push(latin1(p.subarray(start, i)));
      start = i + 1;
    }
  }
  return out;
}

/** Domain id as xenstored parses it (strtoul base 10, whole string, ≤ 65535). */
function parseDomid(s: string | null): number {
  if (s === null) throw new XenstoreError('EINVAL');
  if (!/^[0-9]*$/.test(s)) throw new XenstoreError('EINVAL');
  const v = s === '' ? 0 : Number(s);
  if (v > 65535) throw new XenstoreError('EINVAL');
  return v;
}

/** C atoi: leading decimal digits, 0 if none. */
function atoi(s: string): number {
  const m = /^\s*([+-]?[0-9]+)/.exec(s);
  return m ? Number(m[1]) : 0;
}

const OK = latin1Bytes('OK\0');
const str0 = (s: string): Uint8Array => latin1Bytes(`${s}\0`);

interface Req {
  store: XenStore;
  s: XsSession;
  tx: XsTransaction | null;
  payload: Uint8Array;
  reply: (payload: Uint8Array) => void;
}

interface Handler {
  fn: (r: Req) => void;
  /** Privileged callers only (else EACCES). */
  priv?: boolean;
  /** The tx_id of the header is ignored. */
  notid?: boolean;
}

const HANDLERS: Partial<Record<number, Handler>> = {
  [XS_CONTROL]: {
    priv: true,
    fn: () => {
      throw new XenstoreError('ENOSYS');
    },
  },
  [XS_DIRECTORY]: {
    fn: (r) => r.reply(nulStrings(r.store.opDirectory(r.s, r.tx, onearg(r.payload)))),
  },
  [XS_DIRECTORY_PART]: {
    fn: (r) => {
      const v = strings(r.payload);
      if (countNuls(r.payload) !== 2) throw new XenstoreError('EINVAL');
      r.reply(r.store.opDirectoryPart(r.s, r.tx, v[0]!, atoi(v[1]!)));
    },
  },
  [XS_READ]: {
    fn: (r) => r.reply(r.store.opRead(r.s, r.tx, onearg(r.payload))),
  },
  [XS_GET_PERMS]: {
    fn: (r) => r.reply(nulStrings(r.store.opGetPerms(r.s, r.tx, onearg(r.payload)).map(formatPerm))),
  },
  [XS_WRITE]: {
    fn: (r) => {
      const nul = r.payload.indexOf(0);
      if (nul < 0) throw new XenstoreError('EINVAL');
      r.store.opWrite(r.s, r.tx, latin1(r.payload.subarray(0, nul)), r.payload.subarray(nul + 1));
      r.reply(OK);
    },
  },
  [XS_MKDIR]: {
    fn: (r) => {
      r.store.opMkdir(r.s, r.tx, onearg(r.payload));
      r.reply(OK);
    },
  },
  [XS_RM]: {
    fn: (r) => {
      r.store.opRm(r.s, r.tx, onearg(r.payload));
      r.reply(OK);
    },
  },
  [XS_SET_PERMS]: {
    fn: (r) => {
      const v = strings(r.payload);
      if (v.length < 2) throw new XenstoreError('EINVAL');
      r.store.opSetPerms(r.s, r.tx, v[0]!, parsePerms(v.slice(1)));
      r.reply(OK);
    },
  },
  [XS_WATCH]: {
    notid: true,
    fn: (r) => {
      const v = strings(r.payload);
      if (v.length !== 2) throw new XenstoreError('EINVAL');
      const w = r.store.opWatch(r.s, v[0]!, v[1]!);
      r.reply(OK);
      // The first event follows the acknowledgement.
      r.store.fireInitial(r.s, w);
    },
  },
  [XS_UNWATCH]: {
    notid: true,
    fn: (r) => {
      const v = strings(r.payload);
      if (v.length !== 2) throw new XenstoreError('EINVAL');
      r.store.opUnwatch(r.s, v[0]!, v[1]!);
      r.reply(OK);
    },
  },
  [XS_TRANSACTION_START]: {
    fn: (r) => {
      // No nested transactions.
      if (r.tx) throw new XenstoreError('EBUSY');
      r.reply(str0(String(r.store.opTransactionStart(r.s))));
    },
  },
  [XS_TRANSACTION_END]: {
    fn: (r) => {
      const arg = onearg(r.payload);
      if (arg !== 'T' && arg !== 'F') throw new XenstoreError('EINVAL');
      r.store.opTransactionEnd(r.s, r.tx, arg === 'T');
      r.reply(OK);
    },
  },
  [XS_INTRODUCE]: {
    priv: true,
    fn: (r) => {
      // "<domid>\0<gfn>\0<evtchn>\0": the ring itself is wired by the toolstack (ring.ts).
      const v = strings(r.payload);
      if (v.length < 3) throw new XenstoreError('EINVAL');
      const domid = parseDomid(v[0]!);
      if (atoi(v[2]!) <= 0) throw new XenstoreError('EINVAL');
      r.store.introduceDomain(domid);
      r.reply(OK);
    },
  },
  [XS_RELEASE]: {
    priv: true,
    fn: (r) => {
      const domid = parseDomid(onearg(r.payload));
      if (domid === 0) throw new XenstoreError('EINVAL');
      if (!r.store.releaseDomain(domid)) throw new XenstoreError('ENOENT');
      r.reply(OK);
    },
  },
  [XS_RESUME]: {
    priv: true,
    fn: (r) => {
      const domid = parseDomid(onearg(r.payload));
      if (domid === 0) throw new XenstoreError('EINVAL');
      if (!r.store.isDomainIntroduced(domid)) throw new XenstoreError('ENOENT');
      r.reply(OK);
    },
  },
  [XS_SET_TARGET]: {
    priv: true,
    fn: (r) => {
      const v = strings(r.payload);
      if (v.length < 2) throw new XenstoreError('EINVAL');
      const domid = parseDomid(v[0]!);
      const target = parseDomid(v[1]!);
      if (!r.store.isDomainIntroduced(domid) || !r.store.isDomainIntroduced(target)) throw new XenstoreError('ENOENT');
      r.store.setTarget(domid, target);
      r.reply(OK);
    },
  },
  [XS_GET_DOMAIN_PATH]: {
    fn: (r) => r.reply(str0(`/local/domain/${parseDomid(onearg(r.payload))}`)),
  },
  [XS_IS_DOMAIN_INTRODUCED]: {
    priv: true,
    fn: (r) => {
      const domid = parseDomid(onearg(r.payload));
      r.reply(str0(domid === DOMID_SELF || r.store.isDomainIntroduced(domid) ? 'T' : 'F'));
    },
  },
  [XS_RESET_WATCHES]: {
    fn: (r) => {
      r.store.opResetWatches(r.s);
      r.reply(OK);
    },
  },
};

function countNuls(p: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < p.length; i++) if (p[i] === 0) n++;
  return n;
}

/** The ERROR reply payload for an errno ("ENOENT\0"). */
export function errorPayload(errno: XsErrno): Uint8Array {
  return str0(errno);
}

/**
 * Handle one request from session `s` and emit its reply (a whole message)
 * through `send`. Watch events the request causes for `s` itself go to the
 * session's sink, before the reply as xenstored orders them (except a new
 * watch's first event, which follows its acknowledgement). Never throws for
 * a guest's mistake; an internal failure is logged and answered with EIO.
 */
export function handleRequest(
  store: XenStore,
  s: XsSession,
  hdr: Pick<XsHeader, 'type' | 'reqId' | 'txId'>,
  payload: Uint8Array,
  send: (message: Uint8Array) => void,
): void {
  const reply = (type: number, p: Uint8Array): void => {
    if (p.length > XENSTORE_PAYLOAD_MAX) {
      type = XS_ERROR;
      p = errorPayload('E2BIG');
    }
    send(encodeMessage(type, hdr.reqId, hdr.txId, p));
  };
  const h = HANDLERS[hdr.type];
  if (!h) {
    reply(XS_ERROR, errorPayload('ENOSYS'));
    return;
  }
  if (h.priv && !s.privileged) {
    reply(XS_ERROR, errorPayload('EACCES'));
    return;
  }
  store.run(() => {
    try {
      const tx = h.notid ? null : store.lookupTransaction(s, hdr.txId);
      h.fn({ store, s, tx, payload, reply: (p) => reply(hdr.type, p) });
    } catch (e) {
      if (e instanceof XenstoreError) {
        reply(XS_ERROR, errorPayload(e.errno));
      } else {
        store.log(`internal error handling ${hdr.type} from domain ${s.domid}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
        reply(XS_ERROR, errorPayload('EIO'));
      }
    }
  });
}

/** Message-type name for logs. */
export { XS_TYPE_NAMES } from './xs-wire.ts';
