/**
 * dom0's xenstored (src/devices/xenstore): wire constants checked against
 * xen/io/xs_wire.h and xen/io/xenbus.h (a small C program prints them), the
 * ring protocol through a fake guest that writes requests into a page and
 * reads the responses (wrapped indices, split messages, full rings, flow
 * control, protocol violations), the store (read/write/mkdir/rm/directory,
 * permissions, watches, transactions, quotas) and the toolstack's nodes.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import * as W from '../src/devices/xenstore/xs-wire.ts';
import {
  XENSTORE_DOMAIN_INTERFACE as XDI, XS_DIRECTORY, XS_DIRECTORY_PART, XS_ERROR, XS_GET_DOMAIN_PATH, XS_GET_PERMS,
  XS_INTRODUCE, XS_IS_DOMAIN_INTRODUCED, XS_MKDIR, XS_READ, XS_RESET_WATCHES, XS_RM, XS_SET_PERMS,
  XS_TRANSACTION_END, XS_TRANSACTION_START, XS_UNWATCH, XS_WATCH, XS_WATCH_EVENT, XS_WRITE,
} from '../src/devices/xenstore/xs-wire.ts';
import { XenStore, XenstoreError, XS_QUOTA } from '../src/devices/xenstore/store.ts';
import { XenstoreConnection } from '../src/devices/xenstore/ring.ts';
import { decodeHeader, encodeMessage, handleRequest } from '../src/devices/xenstore/protocol.ts';
import { addDevice, introduceDomain, releaseDomain } from '../src/devices/xenstore/domain-nodes.ts';

// ---------------------------------------------------------------- the real header

const HEADER_PROGRAM = String.raw`
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <xen/io/xs_wire.h>
#include <xen/io/xenbus.h>
#define C(x) printf("%s %ld\n", #x, (long)(x))
#define O(s, f) printf("%s.%s %lu\n", #s, #f, (unsigned long)offsetof(struct s, f))
#define S(s) printf("sizeof.%s %lu\n", #s, (unsigned long)sizeof(struct s))
int main(void)
{
    unsigned i;
    C(XS_CONTROL); C(XS_DEBUG); C(XS_DIRECTORY); C(XS_READ); C(XS_GET_PERMS); C(XS_WATCH); C(XS_UNWATCH);
    C(XS_TRANSACTION_START); C(XS_TRANSACTION_END); C(XS_INTRODUCE); C(XS_RELEASE); C(XS_GET_DOMAIN_PATH);
    C(XS_WRITE); C(XS_MKDIR); C(XS_RM); C(XS_SET_PERMS); C(XS_WATCH_EVENT); C(XS_ERROR);
    C(XS_IS_DOMAIN_INTRODUCED); C(XS_RESUME); C(XS_SET_TARGET); C(XS_RESET_WATCHES); C(XS_DIRECTORY_PART);
    C(XS_TYPE_COUNT); C(XS_INVALID);
    C(XENSTORE_RING_SIZE); C(XENSTORE_PAYLOAD_MAX); C(XENSTORE_ABS_PATH_MAX); C(XENSTORE_REL_PATH_MAX);
    C(XENSTORE_SERVER_FEATURE_RECONNECTION); C(XENSTORE_SERVER_FEATURE_ERROR);
    C(XENSTORE_CONNECTED); C(XENSTORE_RECONNECT);
    C(XENSTORE_ERROR_NONE); C(XENSTORE_ERROR_COMM); C(XENSTORE_ERROR_RINGIDX); C(XENSTORE_ERROR_PROTO);
    printf("MASK_XENSTORE_IDX_1029 %d\n", (int)MASK_XENSTORE_IDX(1024 + 5));
    O(xsd_sockmsg, type); O(xsd_sockmsg, req_id); O(xsd_sockmsg, tx_id); O(xsd_sockmsg, len); S(xsd_sockmsg);
    O(xenstore_domain_interface, req); O(xenstore_domain_interface, rsp);
    O(xenstore_domain_interface, req_cons); O(xenstore_domain_interface, req_prod);
    O(xenstore_domain_interface, rsp_cons); O(xenstore_domain_interface, rsp_prod);
    O(xenstore_domain_interface, server_features); O(xenstore_domain_interface, connection);
    O(xenstore_domain_interface, error); S(xenstore_domain_interface);
    C(XenbusStateUnknown); C(XenbusStateInitialising); C(XenbusStateInitWait); C(XenbusStateInitialised);
    C(XenbusStateConnected); C(XenbusStateClosing); C(XenbusStateClosed); C(XenbusStateReconfiguring);
    C(XenbusStateReconfigured);
    for (i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++)
        printf("xsd_errors %u %d %s\n", i, xsd_errors[i].errnum, xsd_errors[i].errstring);
    return 0;
}
`;

function runHeaderProgram(): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'xs-wire-'));
  try {
    const src = join(dir, 'xs-wire.c');
    const exe = join(dir, 'xs-wire');
    writeFileSync(src, HEADER_PROGRAM);
    const cc = spawnSync('gcc', ['-Wall', '-o', exe, src], { encoding: 'utf8' });
    expect(cc.status, cc.stderr).toBe(0);
    const run = spawnSync(exe, { encoding: 'utf8' });
    expect(run.status).toBe(0);
    return run.stdout.trim().split('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- a fake guest

interface Msg {
  type: number;
  reqId: number;
  txId: number;
  payload: Uint8Array;
  text: string;
}

const te = new TextEncoder();
const td = new TextDecoder('latin1');
const bytes = (s: string | Uint8Array): Uint8Array => (typeof s === 'string' ? te.encode(s) : s);
const PAGE = 2 * 4096;

/**
 * A guest's side of the store page, written the way Linux's xenbus_comms.c
 * does: requests are copied into req[] at req_prod & 1023 (wrapping), then
 * req_prod is advanced; responses are read from rsp[] at rsp_cons.
 */
class FakeGuest {
  readonly ram = new Uint8Array(4 * 4096);
  readonly dv = new DataView(this.ram.buffer);
  readonly conn: XenstoreConnection;
  notified = 0;
  nextReqId = 100;
  private stream = new Uint8Array(0);
  readonly events: Array<[string, string]> = [];

  constructor(
    readonly store: XenStore,
    readonly domid: number,
  ) {
    this.ram.fill(0xee, PAGE, PAGE + 4096); // the connection must set up the fields it uses
    this.conn = new XenstoreConnection(this.ram, PAGE, domid, store, () => this.notified++);
  }

  u32(off: number): number {
    return this.dv.getUint32(PAGE + off, true);
  }

  setU32(off: number, v: number): void {
    this.dv.setUint32(PAGE + off, v >>> 0, true);
  }

  /** Copy as much of `data` into req[] as fits; returns the count. */
  writeRaw(data: Uint8Array): number {
    const cons = this.u32(XDI.req_cons);
    let prod = this.u32(XDI.req_prod);
    const space = 1024 - ((prod - cons) >>> 0);
    const n = Math.min(space, data.length);
    for (let i = 0; i < n; i++) {
      this.ram[PAGE + XDI.req + (prod & 1023)] = data[i]!;
      prod = (prod + 1) >>> 0;
    }
    this.setU32(XDI.req_prod, prod);
    return n;
  }

  /**
   * Queue one request; returns its req_id. A request bigger than the free
   * space goes in pieces, kicking in between as Linux's xb_write waits for
   * the server to consume.
   */
  send(type: number, payload: string | Uint8Array, txId = 0, reqId = this.nextReqId++): number {
    const m = encodeMessage(type, reqId, txId, bytes(payload));
    let off = this.writeRaw(m);
    for (let round = 0; off < m.length; round++) {
      expect(round).toBeLessThan(64);
      this.conn.kick();
      off += this.writeRaw(m.subarray(off));
    }
    return reqId;
  }

  /** Take whatever responses are in rsp[] (advancing rsp_cons) and parse complete messages. */
  drain(): Msg[] {
    const cons = this.u32(XDI.rsp_cons);
    const prod = this.u32(XDI.rsp_prod);
    const n = (prod - cons) >>> 0;
    expect(n).toBeLessThanOrEqual(1024);
    const chunk = new Uint8Array(n);
    for (let i = 0; i < n; i++) chunk[i] = this.ram[PAGE + XDI.rsp + ((cons + i) & 1023)]!;
    this.setU32(XDI.rsp_cons, cons + n);
    const s = new Uint8Array(this.stream.length + n);
    s.set(this.stream);
    s.set(chunk, this.stream.length);
    const out: Msg[] = [];
    let off = 0;
    while (s.length - off >= 16) {
      const dv = new DataView(s.buffer, off);
      const len = dv.getUint32(12, true);
      if (s.length - off < 16 + len) break;
      const payload = s.slice(off + 16, off + 16 + len);
      out.push({ type: dv.getUint32(0, true), reqId: dv.getUint32(4, true), txId: dv.getUint32(8, true), payload, text: td.decode(payload) });
      off += 16 + len;
    }
    this.stream = s.slice(off);
    for (const m of out) if (m.type === XS_WATCH_EVENT) this.events.push(eventOf(m));
    return out;
  }

  /** Send one request, kick, and return its reply (watch events are collected in `events`). */
  request(type: number, payload: string | Uint8Array, txId = 0): Msg {
    const id = this.send(type, payload, txId);
    this.conn.kick();
    for (let round = 0; round < 16; round++) {
      const reply = this.drain().find((m) => m.type !== XS_WATCH_EVENT && m.reqId === id);
      if (reply) {
        expect(reply.txId).toBe(txId);
        return reply;
      }
      this.conn.kick(); // as Linux notifies after consuming responses
    }
    throw new Error(`no reply to request ${id}`);
  }

  /** The reply's text, or "ERROR:<errno>". */
  ask(type: number, payload: string | Uint8Array, txId = 0): string {
    const r = this.request(type, payload, txId);
    return r.type === XS_ERROR ? `ERROR:${r.text.replace(/\0$/, '')}` : r.text;
  }
}

function eventOf(m: Msg): [string, string] {
  const [path, token] = m.text.split('\0');
  return [path!, token!];
}

const DOM1 = {
  domid: 1, name: 'guest1', uuid: '6bd6c5a6-8d1c-4f6e-9b3e-111111111111', memoryKiB: 262144, maxmemKiB: 262144,
  vcpus: 2, storeMfn: 0x13e01, storePort: 1, consoleMfn: 0x13e02, consolePort: 2, startTime: 1700000000,
};
const DOM2 = { ...DOM1, domid: 2, name: 'guest2', uuid: '6bd6c5a6-8d1c-4f6e-9b3e-222222222222' };

function errnoOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof XenstoreError) return e.errno;
    throw e;
  }
  return 'no error';
}

// ---------------------------------------------------------------- tests

describe('wire constants match xen/io/xs_wire.h and xen/io/xenbus.h', () => {
  it('message types, errors, structs, limits, XenBus states', () => {
    const lines = runHeaderProgram();
    const got = new Map<string, number>();
    const errors: Array<[string, number]> = [];
    for (const l of lines) {
      const f = l.split(' ');
      if (f[0] === 'xsd_errors') errors[Number(f[1])] = [f[3]!, Number(f[2])];
      else got.set(f[0]!, Number(f[1]));
    }
    const want: Record<string, number> = {
      XS_CONTROL: W.XS_CONTROL, XS_DEBUG: W.XS_DEBUG, XS_DIRECTORY: W.XS_DIRECTORY, XS_READ: W.XS_READ,
      XS_GET_PERMS: W.XS_GET_PERMS, XS_WATCH: W.XS_WATCH, XS_UNWATCH: W.XS_UNWATCH,
      XS_TRANSACTION_START: W.XS_TRANSACTION_START, XS_TRANSACTION_END: W.XS_TRANSACTION_END,
      XS_INTRODUCE: W.XS_INTRODUCE, XS_RELEASE: W.XS_RELEASE, XS_GET_DOMAIN_PATH: W.XS_GET_DOMAIN_PATH,
      XS_WRITE: W.XS_WRITE, XS_MKDIR: W.XS_MKDIR, XS_RM: W.XS_RM, XS_SET_PERMS: W.XS_SET_PERMS,
      XS_WATCH_EVENT: W.XS_WATCH_EVENT, XS_ERROR: W.XS_ERROR, XS_IS_DOMAIN_INTRODUCED: W.XS_IS_DOMAIN_INTRODUCED,
      XS_RESUME: W.XS_RESUME, XS_SET_TARGET: W.XS_SET_TARGET, XS_RESET_WATCHES: W.XS_RESET_WATCHES,
      XS_DIRECTORY_PART: W.XS_DIRECTORY_PART, XS_TYPE_COUNT: W.XS_TYPE_COUNT, XS_INVALID: W.XS_INVALID,
      XENSTORE_RING_SIZE: W.XENSTORE_RING_SIZE, XENSTORE_PAYLOAD_MAX: W.XENSTORE_PAYLOAD_MAX,
      XENSTORE_ABS_PATH_MAX: W.XENSTORE_ABS_PATH_MAX, XENSTORE_REL_PATH_MAX: W.XENSTORE_REL_PATH_MAX,
      XENSTORE_SERVER_FEATURE_RECONNECTION: W.XENSTORE_SERVER_FEATURE_RECONNECTION,
      XENSTORE_SERVER_FEATURE_ERROR: W.XENSTORE_SERVER_FEATURE_ERROR,
      XENSTORE_CONNECTED: W.XENSTORE_CONNECTED, XENSTORE_RECONNECT: W.XENSTORE_RECONNECT,
      XENSTORE_ERROR_NONE: W.XENSTORE_ERROR_NONE, XENSTORE_ERROR_COMM: W.XENSTORE_ERROR_COMM,
      XENSTORE_ERROR_RINGIDX: W.XENSTORE_ERROR_RINGIDX, XENSTORE_ERROR_PROTO: W.XENSTORE_ERROR_PROTO,
      MASK_XENSTORE_IDX_1029: (1024 + 5) & W.XENSTORE_RING_MASK,
      'xsd_sockmsg.type': W.XSD_SOCKMSG.type, 'xsd_sockmsg.req_id': W.XSD_SOCKMSG.req_id,
      'xsd_sockmsg.tx_id': W.XSD_SOCKMSG.tx_id, 'xsd_sockmsg.len': W.XSD_SOCKMSG.len,
      'sizeof.xsd_sockmsg': W.XSD_SOCKMSG.size,
      'xenstore_domain_interface.req': XDI.req, 'xenstore_domain_interface.rsp': XDI.rsp,
      'xenstore_domain_interface.req_cons': XDI.req_cons, 'xenstore_domain_interface.req_prod': XDI.req_prod,
      'xenstore_domain_interface.rsp_cons': XDI.rsp_cons, 'xenstore_domain_interface.rsp_prod': XDI.rsp_prod,
      'xenstore_domain_interface.server_features': XDI.server_features,
      'xenstore_domain_interface.connection': XDI.connection, 'xenstore_domain_interface.error': XDI.error,
      'sizeof.xenstore_domain_interface': XDI.size,
      XenbusStateUnknown: W.XenbusState.Unknown, XenbusStateInitialising: W.XenbusState.Initialising,
      XenbusStateInitWait: W.XenbusState.InitWait, XenbusStateInitialised: W.XenbusState.Initialised,
      XenbusStateConnected: W.XenbusState.Connected, XenbusStateClosing: W.XenbusState.Closing,
      XenbusStateClosed: W.XenbusState.Closed, XenbusStateReconfiguring: W.XenbusState.Reconfiguring,
      XenbusStateReconfigured: W.XenbusState.Reconfigured,
    };
    for (const [k, v] of Object.entries(want)) expect([k, got.get(k)]).toEqual([k, v]);
    // The error table: same strings, same order, same numbers.
    expect(errors).toEqual(W.XSD_ERRORS.map(([s, n]) => [s, n]));
    // Every message type below the count has a name (except the removed 20).
    for (let t = 0; t < W.XS_TYPE_COUNT; t++) expect(t === 20 || W.XS_TYPE_NAMES[t] !== undefined).toBe(true);
  });
});

describe('xenstore ring protocol', () => {
  let store: XenStore;
  let g: FakeGuest;
  let logs: string[];

  beforeEach(() => {
    logs = [];
    store = new XenStore({ log: (m) => logs.push(m) });
    introduceDomain(store, DOM1);
    introduceDomain(store, DOM2);
    g = new FakeGuest(store, 1);
  });

  it('sets up the page as xenstored does on INTRODUCE', () => {
    expect(g.u32(XDI.req_cons)).toBe(0);
    expect(g.u32(XDI.req_prod)).toBe(0);
    expect(g.u32(XDI.rsp_cons)).toBe(0);
    expect(g.u32(XDI.rsp_prod)).toBe(0);
    expect(g.u32(XDI.server_features)).toBe(W.XENSTORE_SERVER_FEATURE_ERROR);
    expect(g.u32(XDI.connection)).toBe(W.XENSTORE_CONNECTED);
    expect(g.u32(XDI.error)).toBe(0);
  });

  it('round trip: reply layout echoes req_id and tx_id', () => {
    const id = g.send(XS_READ, 'name\0', 0, 0xdeadbeef);
    g.conn.kick();
    expect(g.notified).toBe(1);
    // The raw bytes: struct xsd_sockmsg then the value (no NUL).
    expect(g.u32(XDI.req_cons)).toBe(g.u32(XDI.req_prod));
    expect(g.u32(XDI.rsp_prod)).toBe(16 + 6);
    const raw = g.ram.subarray(PAGE + XDI.rsp, PAGE + XDI.rsp + 22);
    const dv = new DataView(raw.buffer, raw.byteOffset);
    expect([dv.getUint32(0, true), dv.getUint32(4, true), dv.getUint32(8, true), dv.getUint32(12, true)]).toEqual([XS_READ, id, 0, 6]);
    expect(td.decode(raw.subarray(16))).toBe('guest1');
    const [m] = g.drain();
    expect(m!.reqId).toBe(0xdeadbeef);
  });

  it('read, write, mkdir, rm, directory through the ring', () => {
    expect(g.ask(XS_WRITE, 'data/foo\0bar')).toBe('OK\0');
    expect(g.ask(XS_READ, 'data/foo\0')).toBe('bar');
    expect(g.ask(XS_READ, '/local/domain/1/data/foo\0')).toBe('bar');
    expect(store.read('/local/domain/1/data/foo')).toBe('bar');
    // Binary values with NULs survive.
    expect(g.ask(XS_WRITE, bytes('data/bin\0a\0b\0'))).toBe('OK\0');
    expect(g.ask(XS_READ, 'data/bin\0')).toBe('a\0b\0');
    // mkdir creates the missing parents, empty.
    expect(g.ask(XS_MKDIR, 'data/x/y/z\0')).toBe('OK\0');
    expect(g.ask(XS_READ, 'data/x/y\0')).toBe('');
    expect(g.ask(XS_DIRECTORY, 'data\0')).toBe('foo\0bin\0x\0');
    expect(g.ask(XS_DIRECTORY, 'data/x/y/z\0')).toBe('');
    // mkdir of an existing node leaves its value.
    expect(g.ask(XS_MKDIR, 'data/foo\0')).toBe('OK\0');
    expect(g.ask(XS_READ, 'data/foo\0')).toBe('bar');
    // rm takes the subtree; a missing node with an existing parent is fine.
    expect(g.ask(XS_RM, 'data/x\0')).toBe('OK\0');
    expect(g.ask(XS_READ, 'data/x/y/z\0')).toBe('ERROR:ENOENT');
    expect(g.ask(XS_RM, 'data/x\0')).toBe('OK\0');
    expect(g.ask(XS_RM, 'data/x/y\0')).toBe('ERROR:ENOENT');
    expect(g.ask(XS_DIRECTORY, 'data\0')).toBe('foo\0bin\0');
    expect(g.ask(XS_READ, 'data/nope\0')).toBe('ERROR:ENOENT');
    // Bad paths.
    expect(g.ask(XS_READ, 'data/\0')).toBe('ERROR:EINVAL');
    expect(g.ask(XS_READ, 'data//foo\0')).toBe('ERROR:EINVAL');
    expect(g.ask(XS_READ, 'data/f*o\0')).toBe('ERROR:EINVAL');
    expect(g.ask(XS_READ, '@releaseDomain\0')).toBe('ERROR:EINVAL');
    expect(g.ask(XS_READ, `data/${'a'.repeat(2049)}\0`)).toBe('ERROR:EINVAL');
    expect(g.ask(XS_READ, 'data/foo')).toBe('ERROR:EINVAL'); // no NUL
    expect(g.ask(XS_READ, 'data/foo\0\0')).toBe('ERROR:EINVAL'); // two strings
    expect(g.ask(XS_WRITE, 'data/foo')).toBe('ERROR:EINVAL');
  });

  it('several requests before one kick; replies in order', () => {
    const ids = [
      g.send(XS_WRITE, 'data/a\x001'),
      g.send(XS_WRITE, 'data/b\x002'),
      g.send(XS_READ, 'data/a\0'),
      g.send(XS_READ, 'data/b\0'),
      g.send(XS_DIRECTORY, 'data\0'),
    ];
    g.conn.kick();
    expect(g.notified).toBe(1);
    const replies = g.drain();
    expect(replies.map((m) => m.reqId)).toEqual(ids);
    expect(replies.map((m) => m.text)).toEqual(['OK\0', 'OK\0', '1', '2', 'a\0b\0']);
  });

  it('free-running indices wrap (u32 and ring positions)', () => {
    const start = 0xffffff00;
    for (const f of [XDI.req_cons, XDI.req_prod, XDI.rsp_cons, XDI.rsp_prod]) g.setU32(f, start);
    for (let i = 0; i < 200; i++) {
      expect(g.ask(XS_WRITE, `data/k${i % 7}\0value-${i}`)).toBe('OK\0');
      expect(g.ask(XS_READ, `data/k${i % 7}\0`)).toBe(`value-${i}`);
    }
    expect(g.u32(XDI.req_prod)).toBeLessThan(start); // wrapped past 2^32
    expect(g.u32(XDI.rsp_prod)).toBeLessThan(start);
    expect(g.conn.error).toBe(0);
  });

  it('a request split across kicks, and one bigger than the ring', () => {
    const m = encodeMessage(XS_WRITE, 7, 0, bytes('data/split\0hello'));
    g.writeRaw(m.subarray(0, 10)); // part of the header
    g.conn.kick();
    expect(g.drain()).toEqual([]);
    g.writeRaw(m.subarray(10, 20)); // rest of the header, part of the payload
    g.conn.kick();
    expect(g.drain()).toEqual([]);
    g.writeRaw(m.subarray(20));
    g.conn.kick();
    const [r] = g.drain();
    expect([r!.reqId, r!.text]).toEqual([7, 'OK\0']);
    expect(store.read('/local/domain/1/data/split')).toBe('hello');

    // A 1900-byte value needs two ring fills (the guest waits for req_cons to move).
    const value = 'v'.repeat(1900);
    const big = encodeMessage(XS_WRITE, 8, 0, bytes(`data/big\0${value}`));
    let off = 0;
    let rounds = 0;
    while (off < big.length) {
      off += g.writeRaw(big.subarray(off));
      g.conn.kick();
      rounds++;
    }
    expect(rounds).toBeGreaterThan(1);
    const [r2] = g.drain();
    expect([r2!.reqId, r2!.text]).toEqual([8, 'OK\0']);
    expect(store.read('/local/domain/1/data/big')).toBe(value);
  });

  it('responses larger than the free space wait for rsp_cons to move', () => {
    const value = 'x'.repeat(4000);
    store.write('/local/domain/1/data/huge', value); // dom0 may exceed the domU node-size quota
    const id = g.send(XS_READ, 'data/huge\0');
    g.conn.kick();
    expect(g.u32(XDI.rsp_prod) - g.u32(XDI.rsp_cons)).toBe(1024); // ring full
    expect(g.conn.queuedBytes).toBe(16 + 4000 - 1024);
    let reply: Msg | undefined;
    let kicks = 1;
    while (!reply) {
      reply = g.drain().find((m) => m.reqId === id);
      g.conn.kick(); // Linux notifies after reading
      kicks++;
    }
    expect(kicks).toBeGreaterThanOrEqual(5);
    expect(reply.text).toBe(value);
    expect(g.conn.queuedBytes).toBe(0);
  });

  it('stops reading requests while too many replies are unread, then resumes', () => {
    store.write('/local/domain/1/data/huge', 'y'.repeat(3000));
    const n = 30;
    const ids: number[] = [];
    for (let i = 0; i < n; i++) ids.push(g.send(XS_READ, 'data/huge\0'));
    g.conn.kick();
    // Only XS_QUOTA.outstanding replies are pending; the rest of the requests stay in the ring.
    expect(g.u32(XDI.req_cons)).not.toBe(g.u32(XDI.req_prod));
    const got: Msg[] = [];
    for (let round = 0; round < 500 && got.length < n; round++) {
      got.push(...g.drain());
      g.conn.kick();
    }
    expect(got.map((m) => m.reqId)).toEqual(ids);
    expect(got.every((m) => m.text.length === 3000)).toBe(true);
    expect(XS_QUOTA.outstanding).toBeLessThan(n);
  });

  it('an oversize header closes the connection (error = XENSTORE_ERROR_PROTO)', () => {
    expect(g.ask(XS_WATCH, 'data\0t\0')).toBe('OK\0');
    const hdr = new Uint8Array(16);
    new DataView(hdr.buffer).setUint32(0, XS_READ, true);
    new DataView(hdr.buffer).setUint32(12, W.XENSTORE_PAYLOAD_MAX + 1, true);
    g.writeRaw(hdr);
    g.conn.kick();
    expect(g.conn.error).toBe(W.XENSTORE_ERROR_PROTO);
    expect(g.u32(XDI.error)).toBe(W.XENSTORE_ERROR_PROTO);
    expect(g.drain().filter((m) => m.type !== XS_WATCH_EVENT)).toEqual([]);
    // Ignored from now on: no replies, no watch events.
    g.send(XS_READ, 'name\0');
    g.conn.kick();
    store.write('/local/domain/1/data/after', '1');
    expect(g.drain()).toEqual([]);
    // A maximal payload is fine on a fresh connection.
    const g2 = new FakeGuest(store, 2);
    const m = encodeMessage(XS_WRITE, 1, 0, new Uint8Array(W.XENSTORE_PAYLOAD_MAX));
    m.set(bytes('data/max\0'), 16);
    let off = 0;
    while (off < m.length) {
      off += g2.writeRaw(m.subarray(off));
      g2.conn.kick();
    }
    // …but a domU's node-size quota refuses a value that big (xenstored: ENOSPC).
    expect(g2.drain().map((r) => r.text)).toEqual(['ENOSPC\0']);
    expect(g2.ask(XS_WRITE, `data/ok\0${'z'.repeat(1900)}`)).toBe('OK\0');
  });

  it('bad ring indices close the connection (XENSTORE_ERROR_RINGIDX)', () => {
    g.setU32(XDI.req_prod, 2000);
    g.conn.kick();
    expect(g.conn.error).toBe(W.XENSTORE_ERROR_RINGIDX);
    expect(g.u32(XDI.error)).toBe(W.XENSTORE_ERROR_RINGIDX);
    const g2 = new FakeGuest(store, 2);
    g2.send(XS_READ, 'name\0');
    g2.setU32(XDI.rsp_cons, 5000);
    g2.conn.kick();
    expect(g2.conn.error).toBe(W.XENSTORE_ERROR_RINGIDX);
  });

  it('malformed requests get error replies', () => {
    expect(g.ask(99, 'x\0')).toBe('ERROR:ENOSYS');
    expect(g.ask(XS_WATCH_EVENT, 'x\0t\0')).toBe('ERROR:ENOSYS');
    expect(g.ask(XS_ERROR, 'EINVAL\0')).toBe('ERROR:ENOSYS');
    expect(g.ask(20, '')).toBe('ERROR:ENOSYS'); // XS_RESTRICT, removed
    expect(g.ask(XS_WATCH, 'data\0')).toBe('ERROR:EINVAL');
    expect(g.ask(XS_TRANSACTION_END, 'X\0', 0)).toBe('ERROR:EINVAL');
    expect(g.ask(XS_TRANSACTION_END, 'T\0', 0)).toBe('ERROR:ENOENT');
    expect(g.ask(XS_READ, 'name\0', 12345)).toBe('ERROR:ENOENT'); // unknown transaction
    expect(g.ask(XS_SET_PERMS, 'data\0x1\0')).toBe('ERROR:EINVAL');
    expect(g.ask(XS_SET_PERMS, 'data\0')).toBe('ERROR:EINVAL');
    // Still connected.
    expect(g.ask(XS_READ, 'name\0')).toBe('guest1');
  });

  it('get_domain_path and the privileged-only requests', () => {
    expect(g.ask(XS_GET_DOMAIN_PATH, '5\0')).toBe('/local/domain/5\0');
    expect(g.ask(XS_GET_DOMAIN_PATH, '1\0')).toBe('/local/domain/1\0');
    expect(g.ask(XS_GET_DOMAIN_PATH, 'x\0')).toBe('ERROR:EINVAL');
    expect(g.ask(XS_GET_DOMAIN_PATH, '70000\0')).toBe('ERROR:EINVAL');
    expect(g.ask(XS_INTRODUCE, '3\x0099\x005\0')).toBe('ERROR:EACCES');
    expect(g.ask(XS_IS_DOMAIN_INTRODUCED, '1\0')).toBe('ERROR:EACCES');
    expect(g.ask(W.XS_RELEASE, '2\0')).toBe('ERROR:EACCES');
    expect(g.ask(W.XS_CONTROL, 'check\0')).toBe('ERROR:EACCES');
    expect(store.getDomainPath(7)).toBe('/local/domain/7');
  });

  it('permissions: own nodes, other domains, granted backend directories', () => {
    // Another domain's nodes are invisible, existing or not.
    expect(g.ask(XS_READ, '/local/domain/2/name\0')).toBe('ERROR:EACCES');
    expect(g.ask(XS_READ, '/local/domain/2/nope\0')).toBe('ERROR:EACCES');
    expect(g.ask(XS_DIRECTORY, '/local/domain\0')).toBe('ERROR:EACCES');
    expect(g.ask(XS_WRITE, '/local/domain/2/data/x\0y')).toBe('ERROR:EACCES');
    expect(g.ask(XS_READ, '/vm\0')).toBe('ERROR:EACCES');
    // Its own directory: readable; only the libxl rw nodes are writable.
    expect(g.ask(XS_READ, 'domid\0')).toBe('1');
    expect(g.ask(XS_READ, 'memory/target\0')).toBe('262144');
    expect(g.ask(XS_READ, 'cpu/1/availability\0')).toBe('online');
    expect(g.ask(XS_WRITE, 'name\0evil')).toBe('ERROR:EACCES');
    expect(g.ask(XS_WRITE, 'memory/target\x001')).toBe('ERROR:EACCES');
    expect(g.ask(XS_WRITE, 'newnode\x001')).toBe('ERROR:EACCES');
    expect(g.ask(XS_WRITE, 'control/feature-poweroff\x001')).toBe('OK\0');
    expect(g.ask(XS_WRITE, 'control/shutdown\0')).toBe('OK\0');
    expect(g.ask(XS_WRITE, 'data/mine\x001')).toBe('OK\0');
    expect(g.ask(XS_GET_PERMS, 'data/mine\0')).toBe('n1\0');
    expect(g.ask(XS_GET_PERMS, 'name\0')).toBe('n0\0r1\0');
    // Its backend's directory, once the toolstack grants it.
    const { backend, frontend } = addDevice(store, {
      domid: 1, kind: 'vbd', devid: 51712,
      frontend: { state: '1', 'virtual-device': '51712', 'device-type': 'disk' },
      backend: { state: '2', sectors: '2048' },
    });
    expect(g.ask(XS_READ, `${backend}/state\0`)).toBe('2');
    expect(g.ask(XS_DIRECTORY, `${backend}\0`)).toBe('frontend\0frontend-id\0state\0sectors\0');
    expect(g.ask(XS_WRITE, `${backend}/state\x004`)).toBe('ERROR:EACCES');
    expect(g.ask(XS_DIRECTORY, '/local/domain/0/backend/vbd/1\0')).toBe('ERROR:EACCES');
    expect(g.ask(XS_READ, '/local/domain/0/backend/vbd/2/51712/state\0')).toBe('ERROR:EACCES');
    // …and its frontend directory is its own (blkfront writes ring-ref, event-channel, state).
    expect(g.ask(XS_WRITE, 'device/vbd/51712/ring-ref\x008')).toBe('OK\0');
    expect(g.ask(XS_WRITE, 'device/vbd/51712/state\x003')).toBe('OK\0');
    expect(store.read(`${frontend}/ring-ref`)).toBe('8');
    expect(g.ask(XS_GET_PERMS, 'device/vbd/51712/ring-ref\0')).toBe('n1\0r0\0');
    // SET_PERMS: the owner may grant, not give away.
    expect(g.ask(XS_SET_PERMS, 'data/mine\0n1\0r2\0')).toBe('OK\0');
    expect(store.client(2).read('/local/domain/1/data/mine')).toBe('1');
    expect(g.ask(XS_SET_PERMS, 'data/mine\0n2\0')).toBe('ERROR:EPERM');
    expect(g.ask(XS_SET_PERMS, 'name\0n1\0')).toBe('ERROR:EACCES');
    expect(g.ask(XS_SET_PERMS, 'data/mine\0n1\0r2\0r3\0r4\0r5\0r6\0')).toBe('ERROR:ENOSPC');
    // Write access granted to another domain.
    store.write('/local/domain/2/data/shared', 'a');
    store.setPerms('/local/domain/2/data/shared', 'n2 b1');
    expect(g.ask(XS_READ, '/local/domain/2/data/shared\0')).toBe('a');
    expect(g.ask(XS_WRITE, '/local/domain/2/data/shared\0b')).toBe('OK\0');
    expect(store.read('/local/domain/2/data/shared')).toBe('b');
  });

  it('quotas: nodes and watches per domain, node size', () => {
    const c = store.client(2);
    // Directories made by dom0 inside the domain's data/ are owned (and counted) as the domain's.
    for (let d = 0; d < 25; d++) store.mkdir(`/local/domain/2/data/d${d}`);
    let err = 'no error';
    for (let i = 0; i < XS_QUOTA.nodes + 10; i++) {
      err = errnoOf(() => c.write(`/local/domain/2/data/d${i % 25}/m${i}`, ''));
      if (err !== 'no error') break;
    }
    expect(err).toBe('ENOSPC');
    expect(store.nodesOwnedBy(2)).toBe(XS_QUOTA.nodes);
    // A directory's own size counts too: a domU cannot grow one child list past the node-size quota.
    store.rm('/local/domain/2/data');
    store.mkdir('/local/domain/2/data');
    store.setPerms('/local/domain/2/data', 'n2');
    let children = 0;
    for (;;) {
      err = errnoOf(() => c.write(`/local/domain/2/data/child-${String(children).padStart(6, '0')}`, ''));
      if (err !== 'no error') break;
      children++;
    }
    expect(err).toBe('ENOSPC');
    expect(children).toBe(Math.floor((XS_QUOTA.nodeSize - 24 - 8 - 1) / 13));
    store.rm('/local/domain/2/data/child-000000');
    c.write('/local/domain/2/data/n0', 'x');
    for (let i = 0; i < XS_QUOTA.watches; i++) expect(g.ask(XS_WATCH, `data\0t${i}\0`)).toBe('OK\0');
    expect(g.ask(XS_WATCH, 'data\0one-too-many\0')).toBe('ERROR:E2BIG');
    expect(g.ask(XS_WATCH, 'data\0t0\0')).toBe('ERROR:EEXIST');
    expect(errnoOf(() => c.write('/local/domain/2/data/n0', 'q'.repeat(3000)))).toBe('ENOSPC');
  });

  it('a watch fires at once, then on changes at or below it (relative form)', () => {
    addDevice(store, { domid: 1, kind: 'vbd', devid: 51712, frontend: { state: '1' }, backend: { state: '2' } });
    expect(g.ask(XS_WATCH, 'device\0tok\0')).toBe('OK\0');
    expect(g.events).toEqual([['device', 'tok']]);
    // A change made by dom0 reaches the guest without it asking: written and notified right away.
    const before = g.notified;
    store.write('/local/domain/1/device/vbd/51712/state', '1');
    expect(g.notified).toBe(before + 1);
    g.drain();
    expect(g.events.pop()).toEqual(['device/vbd/51712/state', 'tok']);
    // Changes elsewhere do not fire.
    store.write('/local/domain/1/data/x', '1');
    store.write('/local/domain/1/devicex', '1');
    g.drain();
    expect(g.events.length).toBe(1);
    // The guest's own write: the event comes before the OK.
    const id = g.send(XS_WRITE, 'device/vbd/51712/state\x003');
    g.conn.kick();
    const ms = g.drain();
    expect(ms.map((m) => (m.type === XS_WATCH_EVENT ? m.text : m.reqId))).toEqual(['device/vbd/51712/state\0tok\0', id]);
    // An absolute watch reports absolute paths; rm fires for the removed node.
    expect(g.ask(XS_WATCH, '/local/domain/1/data\0abs\0')).toBe('OK\0');
    g.events.length = 0;
    expect(g.ask(XS_RM, 'data/x\0')).toBe('OK\0');
    expect(g.events).toEqual([['/local/domain/1/data/x', 'abs']]);
    // Unwatch stops it; RESET_WATCHES drops all.
    expect(g.ask(XS_UNWATCH, '/local/domain/1/data\0abs\0')).toBe('OK\0');
    expect(g.ask(XS_UNWATCH, '/local/domain/1/data\0abs\0')).toBe('ERROR:ENOENT');
    g.events.length = 0;
    store.write('/local/domain/1/data/y', '1');
    g.drain();
    expect(g.events).toEqual([]);
    expect(g.ask(XS_RESET_WATCHES, '')).toBe('OK\0');
    store.write('/local/domain/1/device/vbd/51712/state', '4');
    g.drain();
    expect(g.events).toEqual([]);
  });

  it('watch events are queued while the ring is full, never lost', () => {
    expect(g.ask(XS_WATCH, 'data\0t\0')).toBe('OK\0');
    g.events.length = 0;
    // 300 distinct changes (~30 bytes each) while the guest reads nothing.
    for (let i = 0; i < 300; i++) store.write(`/local/domain/1/data/k${i}`, '1');
    expect(g.conn.queuedBytes).toBeGreaterThan(0);
    for (let round = 0; round < 100 && g.conn.queuedBytes > 0; round++) {
      g.drain();
      g.conn.kick();
    }
    g.drain();
    expect(g.events.map((e) => e[0])).toEqual(Array.from({ length: 300 }, (_, i) => `data/k${i}`));
  });

  it('a domU only hears about nodes it may read', () => {
    const g2 = new FakeGuest(store, 2);
    expect(g2.ask(XS_WATCH, '/local/domain/1\0spy\0')).toBe('OK\0');
    expect(g2.events).toEqual([['/local/domain/1', 'spy']]); // the first event always comes
    store.write('/local/domain/1/data/secret', 'x');
    g2.drain();
    expect(g2.events.length).toBe(1);
    store.setPerms('/local/domain/1/data/secret', 'n1 r2');
    store.write('/local/domain/1/data/secret', 'y');
    g2.drain();
    expect(g2.events.slice(1)).toEqual([['/local/domain/1/data/secret', 'spy'], ['/local/domain/1/data/secret', 'spy']]);
  });

  it('transactions: private view, commit, abort, conflict → EAGAIN', () => {
    expect(g.ask(XS_WRITE, 'data/n\0old')).toBe('OK\0');
    expect(g.ask(XS_WATCH, 'data\0w\0')).toBe('OK\0');
    const t1 = Number(g.ask(XS_TRANSACTION_START, '\0').replace(/\0$/, ''));
    const t2 = Number(g.ask(XS_TRANSACTION_START, '\0').replace(/\0$/, ''));
    expect(t1).toBeGreaterThan(0);
    expect(t2).not.toBe(t1);
    expect(g.ask(XS_TRANSACTION_START, '\0', t1)).toBe('ERROR:EBUSY');
    g.events.length = 0;
    expect(g.ask(XS_WRITE, 'data/n\0t1', t1)).toBe('OK\0');
    expect(g.ask(XS_WRITE, 'data/new\0t1', t1)).toBe('OK\0');
    // Private view: the transaction sees its writes, nobody else does yet; no events yet.
    expect(g.ask(XS_READ, 'data/n\0', t1)).toBe('t1');
    expect(g.ask(XS_READ, 'data/n\0')).toBe('old');
    expect(g.ask(XS_READ, 'data/new\0')).toBe('ERROR:ENOENT');
    expect(g.ask(XS_READ, 'data/n\0', t2)).toBe('old');
    expect(g.events).toEqual([]);
    // Both touch data/n: the first commit wins, the second gets EAGAIN.
    expect(g.ask(XS_WRITE, 'data/n\0t2', t2)).toBe('OK\0');
    expect(g.ask(XS_TRANSACTION_END, 'T\0', t1)).toBe('OK\0');
    expect(g.events.sort()).toEqual([['data/n', 'w'], ['data/new', 'w']]);
    expect(g.ask(XS_TRANSACTION_END, 'T\0', t2)).toBe('ERROR:EAGAIN');
    expect(g.ask(XS_READ, 'data/n\0')).toBe('t1');
    expect(g.ask(XS_READ, 'data/new\0')).toBe('t1');
    // The id is gone after the end, whatever the result.
    expect(g.ask(XS_READ, 'data/n\0', t2)).toBe('ERROR:ENOENT');
    // Abort discards.
    const t3 = Number(g.ask(XS_TRANSACTION_START, '\0').replace(/\0$/, ''));
    expect(g.ask(XS_RM, 'data/n\0', t3)).toBe('OK\0');
    expect(g.ask(XS_TRANSACTION_END, 'F\0', t3)).toBe('OK\0');
    expect(g.ask(XS_READ, 'data/n\0')).toBe('t1');
    // A read-only transaction conflicts with a change to what it read.
    const t4 = Number(g.ask(XS_TRANSACTION_START, '\0').replace(/\0$/, ''));
    expect(g.ask(XS_READ, 'data/n\0', t4)).toBe('t1');
    store.write('/local/domain/1/data/n', 'dom0');
    expect(g.ask(XS_TRANSACTION_END, 'T\0', t4)).toBe('ERROR:EAGAIN');
    // …but not with changes to nodes it never touched.
    const t5 = Number(g.ask(XS_TRANSACTION_START, '\0').replace(/\0$/, ''));
    expect(g.ask(XS_READ, 'data/n\0', t5)).toBe('dom0');
    store.write('/local/domain/1/data/other', 'z');
    expect(g.ask(XS_WRITE, 'data/n\0t5', t5)).toBe('OK\0');
    expect(g.ask(XS_TRANSACTION_END, 'T\0', t5)).toBe('OK\0');
    expect(store.read('/local/domain/1/data/n')).toBe('t5');
    // A limit on open transactions.
    for (let i = 0; i < XS_QUOTA.transactions; i++) expect(g.ask(XS_TRANSACTION_START, '\0')).toMatch(/^\d+\0$/);
    expect(g.ask(XS_TRANSACTION_START, '\0')).toBe('ERROR:ENOSPC');
  });

  it('GET_PERMS/SET_PERMS strings and DIRECTORY_PART', () => {
    store.mkdir('/local/domain/1/data/many');
    const names: string[] = [];
    for (let i = 0; i < 200; i++) names.push(`child-with-a-long-name-number-${String(i).padStart(4, '0')}`);
    for (const n of names) store.write(`/local/domain/1/data/many/${n}`, '');
    // Too big for one reply.
    expect(g.ask(XS_DIRECTORY, 'data/many\0')).toBe('ERROR:E2BIG');
    const list: string[] = [];
    let off = 0;
    let gen: string | undefined;
    for (;;) {
      const r = g.ask(XS_DIRECTORY_PART, `data/many\0${off}\0`);
      const parts = r.split('\0');
      gen ??= parts[0];
      expect(parts[0]).toBe(gen);
      const body = r.slice(parts[0]!.length + 1);
      expect(body.length).toBeLessThanOrEqual(W.XENSTORE_PAYLOAD_MAX);
      if (body === '\0') break;
      const end = body.endsWith('\0\0');
      const items = body.split('\0').filter(Boolean);
      list.push(...items);
      off += items.reduce((a, s) => a + s.length + 1, 0);
      if (end) break;
    }
    expect(list).toEqual(names);
    expect(g.ask(XS_DIRECTORY_PART, 'data/many\0')).toBe('ERROR:EINVAL');
    // Perms as strings, dom0 may change owner.
    store.setPerms('/local/domain/1/data/many', [{ id: 0, perms: W.XS_PERM_READ }, { id: 1, perms: W.XS_PERM_READ | W.XS_PERM_WRITE }]);
    expect(g.ask(XS_GET_PERMS, 'data/many\0')).toBe('r0\0b1\0');
    expect(store.getPerms('/local/domain/1/data/many')).toEqual([{ id: 0, perms: 1 }, { id: 1, perms: 3 }]);
  });
});

describe('xenstore store (dom0 API)', () => {
  let store: XenStore;
  beforeEach(() => {
    store = new XenStore({ log: () => {} });
  });

  it('read/write/mkdir/rm/directory', () => {
    expect(store.read('/a')).toBeNull();
    store.write('/a/b/c', 'v');
    expect(store.directory('/a')).toEqual(['b']);
    expect(store.read('/a/b')).toBe('');
    expect(store.read('/a/b/c')).toBe('v');
    store.mkdir('/a/d/e');
    expect(store.directory('/a')).toEqual(['b', 'd']);
    expect(store.directory('/')).toEqual(['tool', 'a']);
    expect(store.exists('/a/d/e')).toBe(true);
    store.rm('/a/b');
    expect(store.exists('/a/b/c')).toBe(false);
    expect(store.directory('/a')).toEqual(['d']);
    store.rm('/a/zzz'); // missing, parent exists: fine
    expect(errnoOf(() => store.rm('/q/zzz'))).toBe('ENOENT');
    expect(errnoOf(() => store.rm('/'))).toBe('EINVAL');
    expect(errnoOf(() => store.write('a//b', ''))).toBe('EINVAL');
    // Relative paths for dom0 are under /local/domain/0.
    store.write('rel', '1');
    expect(store.read('/local/domain/0/rel')).toBe('1');
    expect(store.readBytes('/a/d')).toEqual(new Uint8Array(0));
  });

  it('watches: immediate first event, subtree matches, rm reporting, callbacks after the operation', () => {
    const seen: string[] = [];
    const unwatch = store.watch('/local/domain/1/device', (p, tok) => seen.push(`${p}|${tok}`), 'T');
    expect(seen).toEqual(['/local/domain/1/device|T']);
    store.write('/local/domain/1/device/vbd/51712/state', '1');
    expect(seen.pop()).toBe('/local/domain/1/device/vbd/51712/state|T');
    store.write('/local/domain/1/devices', '1'); // a sibling with the same prefix
    expect(seen.length).toBe(1);
    // rm: each removed node below fires exactly, the removed root by subtree.
    const rmSeen: string[] = [];
    store.watch('/local/domain/1/device/vbd/51712/state', (p) => rmSeen.push(p));
    rmSeen.length = 0;
    store.rm('/local/domain/1/device');
    expect(rmSeen).toEqual(['/local/domain/1/device/vbd/51712/state']);
    expect(seen.slice(1)).toEqual(['/local/domain/1/device|T']);
    // A callback that writes: its event is delivered after it returns, never re-entrantly.
    const order: string[] = [];
    let depth = 0;
    store.watch('/x', (p) => {
      depth++;
      expect(depth).toBe(1);
      order.push(p);
      if (p === '/x/a') store.write('/x/b', '1');
      depth--;
    });
    store.write('/x/a', '1');
    expect(order).toEqual(['/x', '/x/a', '/x/b']);
    // A throwing callback is logged, not propagated.
    store.watch('/boom', () => {
      throw new Error('bad backend');
    });
    store.write('/boom/x', '1');
    unwatch();
    store.write('/local/domain/1/device/y', '1');
    expect(seen.length).toBe(2);
  });

  it('transactions through the API: retry helper, conflicts, set_perms firing', () => {
    store.write('/c', '0');
    const t1 = store.transactionStart();
    const t2 = store.transactionStart();
    store.write('/c', '1', t1);
    store.write('/c', '2', t2);
    store.transactionEnd(t1, true);
    expect(errnoOf(() => store.transactionEnd(t2, true))).toBe('EAGAIN');
    expect(store.read('/c')).toBe('1');
    // transaction() retries on EAGAIN.
    let attempts = 0;
    const r = store.transaction((t) => {
      attempts++;
      const v = Number(t.read('/c'));
      if (attempts === 1) store.write('/c', '10'); // a concurrent change
      t.write('/c', String(v + 1));
      return v;
    });
    expect(attempts).toBe(2);
    expect(r).toBe(10);
    expect(store.read('/c')).toBe('11');
    // Creating siblings in two transactions conflicts (both change the parent's child list).
    const a = store.transactionStart();
    const b = store.transactionStart();
    store.write('/p/x', '1', a);
    store.write('/p/y', '1', b);
    store.transactionEnd(a, true);
    expect(errnoOf(() => store.transactionEnd(b, true))).toBe('EAGAIN');
    // An exception aborts.
    expect(() => store.transaction((t) => {
      t.write('/never', '1');
      throw new Error('stop');
    })).toThrow('stop');
    expect(store.exists('/never')).toBe(false);
    // set_perms fires watches.
    const seen: string[] = [];
    store.watch('/c', (p) => seen.push(p));
    store.setPerms('/c', 'n0 r1');
    expect(seen).toEqual(['/c', '/c']);
  });
});

describe('privileged requests on the wire (a dom0 session)', () => {
  it('INTRODUCE, IS_DOMAIN_INTRODUCED, RELEASE, RESUME, SET_TARGET', () => {
    const store = new XenStore({ log: () => {} });
    const events: string[] = [];
    const s0 = store.openSession(0, (_w, p) => events.push(p));
    const call = (type: number, payload: string, txId = 0): string => {
      let out: Uint8Array | undefined;
      handleRequest(store, s0, { type, reqId: 5, txId }, bytes(payload), (m) => (out = m));
      const h = decodeHeader(out!);
      expect([h.reqId, h.txId, h.len]).toEqual([5, txId, out!.length - 16]);
      const text = td.decode(out!.subarray(16));
      return h.type === XS_ERROR ? `ERROR:${text.replace(/\0$/, '')}` : text;
    };
    expect(call(XS_WATCH, '@introduceDomain\0i\0')).toBe('OK\0');
    expect(call(XS_WATCH, '@releaseDomain\0r\0')).toBe('OK\0');
    expect(events).toEqual(['@introduceDomain', '@releaseDomain']);
    expect(call(XS_IS_DOMAIN_INTRODUCED, '3\0')).toBe('F\0');
    expect(call(XS_IS_DOMAIN_INTRODUCED, '0\0')).toBe('T\0');
    expect(call(XS_IS_DOMAIN_INTRODUCED, `${W.DOMID_SELF}\0`)).toBe('T\0');
    expect(call(XS_INTRODUCE, '3\x001234\0')).toBe('ERROR:EINVAL');
    expect(call(XS_INTRODUCE, '3\x001234\x000\0')).toBe('ERROR:EINVAL'); // port must be > 0
    expect(call(XS_INTRODUCE, '3\x001234\x005\0')).toBe('OK\0');
    expect(call(XS_IS_DOMAIN_INTRODUCED, '3\0')).toBe('T\0');
    expect(call(XS_INTRODUCE, '3\x001234\x005\0')).toBe('OK\0'); // again: no second event
    expect(events).toEqual(['@introduceDomain', '@releaseDomain', '@introduceDomain']);
    expect(call(W.XS_RESUME, '3\0')).toBe('OK\0');
    expect(call(W.XS_SET_TARGET, '3\x009\0')).toBe('ERROR:ENOENT');
    expect(call(W.XS_RELEASE, '0\0')).toBe('ERROR:EINVAL');
    expect(call(W.XS_RELEASE, '4\0')).toBe('ERROR:ENOENT');
    expect(call(W.XS_RELEASE, '3\0')).toBe('OK\0');
    expect(events.at(-1)).toBe('@releaseDomain');
    expect(call(XS_IS_DOMAIN_INTRODUCED, '3\0')).toBe('F\0');
    expect(call(W.XS_CONTROL, 'check\0')).toBe('ERROR:ENOSYS');
    // dom0 may read everything and give nodes away.
    expect(call(XS_WRITE, '/local/domain/3/data/x\0v')).toBe('OK\0');
    expect(call(XS_SET_PERMS, '/local/domain/3/data/x\0n3\0r0\0')).toBe('OK\0');
    expect(call(XS_GET_PERMS, '/local/domain/3/data/x\0')).toBe('n3\0r0\0');
    expect(call(XS_SET_PERMS, '/local/domain/3/data/x\0b0x10\0')).toBe('OK\0'); // strtol base 0
    expect(call(XS_GET_PERMS, '/local/domain/3/data/x\0')).toBe('b16\0');
    expect(call(XS_READ, 'name\0')).toBe('ERROR:ENOENT'); // relative to /local/domain/0
    // Transactions on the wire.
    const t = Number(call(XS_TRANSACTION_START, '\0').replace(/\0$/, ''));
    expect(call(XS_WRITE, '/t\0in-tx', t)).toBe('OK\0');
    expect(call(XS_READ, '/t\0')).toBe('ERROR:ENOENT');
    expect(call(XS_TRANSACTION_END, 'T\0', t)).toBe('OK\0');
    expect(call(XS_READ, '/t\0')).toBe('in-tx');
  });
});

describe('toolstack nodes', () => {
  let store: XenStore;
  beforeEach(() => {
    store = new XenStore({ log: () => {} });
  });

  it('introduceDomain writes what libxl writes, with libxl permissions', () => {
    const introduced: string[] = [];
    store.watch('@introduceDomain', (p) => introduced.push(p));
    introduceDomain(store, { ...DOM1, vcpus: 3, availVcpus: 2, kernel: '/boot/vmlinuz', cmdline: 'console=hvc0' });
    expect(introduced).toEqual(['@introduceDomain', '@introduceDomain']);
    const d = '/local/domain/1';
    const vm = `/vm/${DOM1.uuid}`;
    const expectNode = (p: string, v: string, perms: string): void => {
      expect([p, store.read(p)]).toEqual([p, v]);
      expect([p, store.getPerms(p)!.map((x) => `${'nrwb'[x.perms]}${x.id}`).join(',')]).toEqual([p, perms]);
    };
    expectNode(d, '', 'n0,r1');
    expectNode(`${d}/name`, 'guest1', 'n0,r1');
    expectNode(`${d}/domid`, '1', 'n0,r1');
    expectNode(`${d}/vm`, vm, 'n0,r1');
    expectNode(`${d}/memory/target`, '262144', 'n0,r1');
    expectNode(`${d}/memory/static-max`, '262144', 'n0,r1');
    expectNode(`${d}/cpu/0/availability`, 'online', 'n0,r1');
    expectNode(`${d}/cpu/1/availability`, 'online', 'n0,r1');
    expectNode(`${d}/cpu/2/availability`, 'offline', 'n0,r1');
    expectNode(`${d}/device`, '', 'n0,r1');
    expectNode(`${d}/control`, '', 'n0,r1');
    expectNode(`${d}/control/shutdown`, '', 'n1');
    expectNode(`${d}/control/feature-poweroff`, '', 'n1');
    expectNode(`${d}/control/feature-reboot`, '', 'n1');
    expectNode(`${d}/control/feature-suspend`, '', 'n1');
    expectNode(`${d}/control/sysrq`, '', 'n1');
    expectNode(`${d}/control/platform-feature-xs_reset_watches`, '1', 'n0,r1');
    expectNode(`${d}/data`, '', 'n1');
    expectNode(`${d}/store/ring-ref`, String(DOM1.storeMfn), 'n0,r1');
    expectNode(`${d}/store/port`, '1', 'n0,r1');
    expectNode(`${d}/console/ring-ref`, String(DOM1.consoleMfn), 'n0,r1');
    expectNode(`${d}/console/port`, '2', 'n0,r1');
    expectNode(`${d}/console/type`, 'xenconsoled', 'n0,r1');
    expectNode(`${d}/console/limit`, '1048576', 'n0,r1');
    expectNode(`${d}/console/tty`, '', 'n0,r1');
    expectNode(`${d}/console/backend`, '/local/domain/0/backend/console/1/0', 'n0,r1');
    expectNode('/local/domain/0/backend/console/1/0/frontend-id', '1', 'n0,r1');
    expectNode(`${vm}/uuid`, DOM1.uuid, 'n0,r1');
    expectNode(`${vm}/name`, 'guest1', 'n0,r1');
    expectNode(`${vm}/image/ostype`, 'linux', 'n0,r1');
    expectNode(`${vm}/image/cmdline`, 'console=hvc0', 'n0,r1');
    expectNode('/local/domain/0/name', 'Domain-0', 'n0');
    expect(store.directory(`${d}/device`)).toEqual(['suspend']);
    expect(store.isDomainIntroduced(1)).toBe(true);
    // The guest reads its nodes through its own connection.
    const g = new FakeGuest(store, 1);
    expect(g.ask(XS_READ, 'store/ring-ref\0')).toBe(String(DOM1.storeMfn));
    expect(g.ask(XS_DIRECTORY, 'cpu\0')).toBe('0\x001\x002\0');
  });

  it('releaseDomain removes the nodes, closes the connection and fires @releaseDomain', () => {
    introduceDomain(store, DOM1);
    introduceDomain(store, DOM2);
    addDevice(store, { domid: 1, kind: 'vif', devid: 0, frontend: { state: '1', mac: '00:16:3e:00:00:01', handle: '0' }, backend: { state: '2' } });
    const g1 = new FakeGuest(store, 1);
    const g2 = new FakeGuest(store, 2);
    expect(g1.ask(XS_WATCH, 'device\0d\0')).toBe('OK\0');
    // A domU needs read permission on @releaseDomain to hear it.
    expect(g2.ask(XS_WATCH, '@releaseDomain\0r\0')).toBe('OK\0');
    expect(g2.ask(XS_GET_PERMS, '@releaseDomain\0')).toBe('ERROR:EACCES');
    const released: string[] = [];
    store.watch('@releaseDomain', (p) => released.push(p));
    g1.drain();
    g1.events.length = 0;
    g2.events.length = 0;
    releaseDomain(store, 2);
    g2.drain();
    expect(g2.events).toEqual([]); // it was released itself, and could not see it anyway
    expect(released).toEqual(['@releaseDomain', '@releaseDomain']);
    // Grant domain 1 and release it: dom0 hears, domain 1's connection is gone.
    store.setPerms('@releaseDomain', 'n0 r1');
    expect(store.getPerms('@releaseDomain')).toEqual([{ id: 0, perms: 0 }, { id: 1, perms: 1 }]);
    releaseDomain(store, 1);
    expect(released.length).toBe(3);
    expect(g1.conn.closed).toBe(true);
    g1.drain();
    expect(g1.events).toEqual([]); // no events for its own removed nodes
    for (const p of ['/local/domain/1', `/vm/${DOM1.uuid}`, '/libxl/1', '/local/domain/0/backend/vif/1', '/local/domain/0/backend/console/1']) {
      expect([p, store.exists(p)]).toEqual([p, false]);
    }
    expect(store.isDomainIntroduced(1)).toBe(false);
    expect(store.nodesOwnedBy(1)).toBe(0);
    // A domU granted read on @releaseDomain hears it.
    introduceDomain(store, DOM1);
    const g3 = new FakeGuest(store, 1);
    expect(g3.ask(XS_WATCH, '@releaseDomain\0r\0')).toBe('OK\0');
    g3.events.length = 0;
    introduceDomain(store, DOM2);
    releaseDomain(store, 2);
    g3.drain();
    expect(g3.events).toEqual([['@releaseDomain', 'r']]);
  });

  it('addDevice gives the frontend to the domain and lets it read the backend', () => {
    introduceDomain(store, DOM1);
    const { frontend, backend } = addDevice(store, {
      domid: 1, kind: 'vbd', devid: 51712,
      frontend: { state: '1', 'virtual-device': '51712', 'device-type': 'disk' },
      backend: { state: '2' },
    });
    expect(frontend).toBe('/local/domain/1/device/vbd/51712');
    expect(backend).toBe('/local/domain/0/backend/vbd/1/51712');
    expect(store.read(`${frontend}/backend`)).toBe(backend);
    expect(store.read(`${frontend}/backend-id`)).toBe('0');
    expect(store.read(`${backend}/frontend`)).toBe(frontend);
    expect(store.read(`${backend}/frontend-id`)).toBe('1');
    expect(store.getPerms(frontend)).toEqual([{ id: 1, perms: 0 }, { id: 0, perms: 1 }]);
    expect(store.getPerms(backend)).toEqual([{ id: 0, perms: 0 }, { id: 1, perms: 1 }]);
    // The frontend/backend handshake over the two halves, with dom0's watch on the frontend state.
    const states: string[] = [];
    store.watch(`${frontend}/state`, (p) => states.push(store.read(p) ?? '-'));
    const g = new FakeGuest(store, 1);
    expect(g.ask(XS_WATCH, `${backend}/state\0be\0`)).toBe('OK\0');
    expect(g.ask(XS_WRITE, 'device/vbd/51712/state\x003')).toBe('OK\0');
    store.write(`${backend}/state`, '4');
    g.drain();
    expect(states).toEqual(['1', '3']);
    expect(g.events).toEqual([[`${backend}/state`, 'be'], [`${backend}/state`, 'be']]);
  });
});
