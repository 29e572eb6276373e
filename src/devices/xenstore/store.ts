/**
 * The xenstore database, as xenstored keeps it (tools/xenstored in the Xen
 * tree; behaviour follows Xen 4.17's C xenstored where versions differ):
 * nodes, permissions, transactions, watches and per-domain quotas. This file
 * knows nothing of rings or message framing (see protocol.ts and ring.ts).
 *
 * Model:
 * - A node is a path, a value (bytes), a list of children (in creation
 *   order) and permissions: entry 0 names the owner, who may do anything,
 *   and its bits are the default for domains without their own entry.
 *   Privileged callers (dom0) may do anything. A permission check looks at
 *   the node itself only, never at its parents; creating a node needs write
 *   access to the nearest existing ancestor. Nodes created by a domU are
 *   owned by it; otherwise a new node copies its parent's permissions.
 * - A failed access to a node the caller may not know about reports EACCES
 *   rather than ENOENT (xenstored's errno_from_parents).
 * - Every change gives the node a new generation number. A transaction
 *   records each node it touches with its generation at first access and
 *   works on private copies from then on; commit fails with EAGAIN if any
 *   recorded node changed in the global tree meanwhile, otherwise the
 *   changed nodes are copied in and their watches fire.
 * - Watches match the changed path and everything below their path
 *   (a watch on "/" sees everything); relative watches report relative
 *   paths. A new watch fires once at once. A domU only gets events for
 *   nodes it may read (or whose parent it may read). `@introduceDomain`
 *   and `@releaseDomain` are special watch paths fired by the domain
 *   registry; a domU needs read permission on them (SET_PERMS "@…").
 *
 * Callers: `XsSession` is one client connection (a domain's ring, or an
 * in-process client). `XenstoreClient` is the TypeScript API for dom0 code;
 * `XenStore` itself forwards the same methods to its built-in dom0 client.
 * Watch callbacks of in-process clients run synchronously once the store
 * operation that fired them has finished (never in the middle of one); a
 * callback may use the store freely.
 */
import {
  XENSTORE_ABS_PATH_MAX, XENSTORE_PAYLOAD_MAX, XENSTORE_REL_PATH_MAX, XS_PERM_NONE, XS_PERM_OWNER, XS_PERM_READ,
  XS_PERM_WRITE, type XsErrno,
} from './xs-wire.ts';

/** One permission entry: a domain and its XS_PERM_READ/WRITE bits. */
export interface XsPerm {
  id: number;
  perms: number;
}

/** A xenstore error; `errno` is the string that goes on the wire. */
export class XenstoreError extends Error {
  constructor(
    readonly errno: XsErrno,
    message?: string,
  ) {
    super(message ?? errno);
    this.name = 'XenstoreError';
  }
}

function fail(errno: XsErrno, message?: string): never {
  throw new XenstoreError(errno, message);
}

/** Per-domain limits for unprivileged domains (xenstored's defaults). */
export const XS_QUOTA = {
  /** Nodes owned by one domain (ENOSPC). */
  nodes: 1000,
  /** Watches of one connection (Xen 4.17 answers E2BIG). */
  watches: 128,
  /** Open transactions of one connection (ENOSPC). */
  transactions: 10,
  /** Stored size of one node: header, permissions, value, child names (ENOSPC). */
  nodeSize: 2048,
  /** Permission entries of one node (ENOSPC). */
  perms: 5,
  /** Nodes one transaction may touch (ENOSPC). */
  transactionNodes: 1024,
  /** Replies queued but not yet written before we stop reading requests. */
  outstanding: 20,
  /** Bytes of queued output (replies and watch events) before watch events are dropped. */
  queuedBytes: 2 * 1024 * 1024 + 512 * 1024,
} as const;

/** Size of xenstored's stored node header (generation, counts); part of the node-size quota. */
const NODE_HDR_SIZE = 24;
/** Size of one stored struct xs_permissions. */
const PERM_SIZE = 8;
const NO_GENERATION = -1;
const EMPTY = new Uint8Array(0);

/** Watch match kinds (xenstored's MATCH_EXACT / MATCH_SUBTREE). */
const MATCH_EXACT = 1;
const MATCH_SUBTREE = 2;
type Match = typeof MATCH_EXACT | typeof MATCH_SUBTREE;

/** A node. Never mutated once stored: changes make a new object. */
interface XsNode {
  readonly name: string;
  readonly value: Uint8Array;
  readonly perms: readonly XsPerm[];
  readonly children: readonly string[];
  generation: number;
}

/** What a transaction knows about one node. */
interface Accessed {
  /** The transaction's view of the node (null: absent). */
  node: XsNode | null;
  /** Global generation at first access (NO_GENERATION: absent). */
  generation: number;
  /** Checked at commit (the node was read before being changed). */
  checkGen: boolean;
  modified: boolean;
  /** Watch event to fire on commit (0: none). */
  fire: 0 | Match;
  /** Permissions at first access (watchers who could read it hear of its change). */
  origPerms: readonly XsPerm[] | null;
}

export class XsTransaction {
  readonly accessed = new Map<string, Accessed>();
  /** Nodes created per owner, for the node quota. */
  readonly created = new Map<number, number>();
  failed = false;
  constructor(readonly id: number) {}
}

/** A registered watch. */
export interface XsWatch {
  /** Absolute path (or "@…"). */
  readonly node: string;
  readonly token: string;
  /** Characters to cut from event paths (relative watches). */
  readonly prefixLen: number;
  /** In-process clients only. */
  readonly callback?: WatchCallback;
}

export type WatchCallback = (path: string, token: string) => void;

/** Receives the watch events of a session: the path as the watcher sees it. */
export type EventSink = (watch: XsWatch, path: string) => void;

/** One client of the store (xenstored's "connection"). */
export class XsSession {
  readonly watches: XsWatch[] = [];
  readonly transactions = new Map<number, XsTransaction>();
  nextTransactionId = 1;
  closed = false;
  readonly implicitPath: string;

  constructor(
    readonly domid: number,
    readonly sink: EventSink,
  ) {
    this.implicitPath = `/local/domain/${domid}`;
  }

  get privileged(): boolean {
    return this.domid === 0;
  }
}

/** Operation context: who asks, and in which transaction. */
interface Ctx {
  s: XsSession;
  tx: XsTransaction | null;
}

const VALID_PATH = /^[A-Za-z0-9\-/_@]*$/;
const LOCAL_DOMAIN_PREFIX = /^\/local\/domain\/[0-9]{1,5}\//;

function parentOf(name: string): string {
  const i = name.lastIndexOf('/');
  return i <= 0 ? '/' : name.slice(0, i);
}

function baseName(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1);
}

function childPath(parent: string, child: string): string {
  return parent === '/' ? `/${child}` : `${parent}/${child}`;
}

/** `child` is `parent` or below it; everything is below "/". */
function isChild(child: string, parent: string): boolean {
  if (parent === '/') return true;
  if (!child.startsWith(parent)) return false;
  return child.length === parent.length || child.charCodeAt(parent.length) === 0x2f;
}

function nodeSize(value: Uint8Array, perms: readonly XsPerm[], children: readonly string[]): number {
  let size = NODE_HDR_SIZE + PERM_SIZE * perms.length + value.length;
  for (const c of children) size += c.length + 1;
  return size;
}

const clonePerms = (p: readonly XsPerm[]): XsPerm[] => p.map((e) => ({ id: e.id, perms: e.perms }));

/** One permission as the wire writes it: "r1", "b0", "n3", "w2". */
export function formatPerm(p: XsPerm): string {
  const c = ['n', 'r', 'w', 'b'][p.perms & (XS_PERM_READ | XS_PERM_WRITE)]!;
  return c + String(p.id | 0);
}

/** Parse permission strings ("b0", "r1", …) as xenstored does (strtol base 0 for the domid); EINVAL on error. */
export function parsePerms(strings: readonly string[]): XsPerm[] {
  return strings.map((s) => {
    let perms: number;
    switch (s[0]) {
      case 'r': perms = XS_PERM_READ; break;
      case 'w': perms = XS_PERM_WRITE; break;
      case 'b': perms = XS_PERM_READ | XS_PERM_WRITE; break;
      case 'n': perms = XS_PERM_NONE; break;
      default: return fail('EINVAL', `bad permission "${s}"`);
    }
    const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(s.slice(1));
    if (!m) fail('EINVAL', `bad permission "${s}"`);
    const digits = m[2]!;
    let v = digits.startsWith('0x') || digits.startsWith('0X') ? parseInt(digits.slice(2), 16)
      : digits.length > 1 && digits[0] === '0' ? parseInt(digits, 8) : parseInt(digits, 10);
    if (m[1] === '-') v = -v;
    return { id: v >>> 0, perms };
  });
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

export interface XenStoreOptions {
  /** Diagnostics (a failing watch callback, dropped events). Default: console.warn. */
  log?: (msg: string) => void;
}

/** The xenstore database and its domain registry. Methods named op* are the protocol's entry points. */
export class XenStore {
  private readonly nodes = new Map<string, XsNode>();
  private generation = 0;
  private readonly sessions = new Set<XsSession>();
  /** Nodes owned per domain (quota accounting). */
  private readonly owned = new Map<number, number>();
  /** Permissions of the special watch paths. */
  private readonly specialPerms = new Map<string, XsPerm[]>([
    ['@introduceDomain', [{ id: 0, perms: XS_PERM_NONE }]],
    ['@releaseDomain', [{ id: 0, perms: XS_PERM_NONE }]],
  ]);
  private readonly introduced = new Set<number>([0]);
  /** SET_TARGET: domid → the domain it acts for. */
  private readonly targets = new Map<number, number>();
  private depth = 0;
  private draining = false;
  private readonly deferred: Array<() => void> = [];
  readonly log: (msg: string) => void;
  /** The in-process dom0 client (what the toolstack and backends use). */
  readonly dom0: XenstoreClient;

  constructor(opts: XenStoreOptions = {}) {
    this.log = opts.log ?? ((m) => console.warn(`xenstore: ${m}`));
    // What xenstored creates at start (setup_structure).
    const n0: XsPerm[] = [{ id: 0, perms: XS_PERM_NONE }];
    this.setGlobal(this.mkNode('/', EMPTY, n0, ['tool']));
    this.setGlobal(this.mkNode('/tool', EMPTY, n0, ['xenstored']));
    this.setGlobal(this.mkNode('/tool/xenstored', EMPTY, n0, []));
    this.dom0 = this.client(0);
  }

  // ------------------------------------------------------------ sessions

  /** Register a client connection for `domid`; its watch events go to `sink`. */
  openSession(domid: number, sink: EventSink): XsSession {
    const s = new XsSession(domid, sink);
    this.sessions.add(s);
    return s;
  }

  /** Drop a connection with its watches and transactions. */
  closeSession(s: XsSession): void {
    s.closed = true;
    s.watches.length = 0;
    s.transactions.clear();
    this.sessions.delete(s);
  }

  /** An in-process client acting as `domid` (dom0 code uses `store.dom0` or the store's own methods). */
  client(domid: number): XenstoreClient {
    let client: XenstoreClient | undefined;
    const s = this.openSession(domid, (w, path) => {
      if (!w.callback) return;
      const cb = w.callback;
      this.defer(() => {
        // An event queued before UNWATCH is not delivered.
        if (client && !client.session.closed && client.session.watches.includes(w)) cb(path, w.token);
      });
    });
    client = new XenstoreClient(this, s);
    return client;
  }

  /**
   * Run a store operation. Work deferred meanwhile (in-process watch
   * callbacks, ring flushes) runs when the outermost operation ends.
   */
  run<T>(fn: () => T): T {
    this.depth++;
    try {
      return fn();
    } finally {
      this.depth--;
      if (this.depth === 0) this.drain();
    }
  }

  /** Queue work for the end of the current operation (or run it now when idle). */
  defer(fn: () => void): void {
    this.deferred.push(fn);
    if (this.depth === 0) this.drain();
  }

  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      let fn: (() => void) | undefined;
      while ((fn = this.deferred.shift())) {
        try {
          fn();
        } catch (e) {
          this.log(`watch callback failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
        }
      }
    } finally {
      this.draining = false;
    }
  }

  // ------------------------------------------------------------ domain registry

  /** INTRODUCE: the domain is connected; fires @introduceDomain the first time. */
  introduceDomain(domid: number): void {
    if (this.introduced.has(domid)) return;
    this.introduced.add(domid);
    this.run(() => this.fireSpecial('@introduceDomain'));
  }

  /**
   * RELEASE: disconnect the domain (its sessions lose their watches and
   * transactions first, so removing its nodes afterwards tells it nothing)
   * and fire @releaseDomain (unless `fire` is false: the caller fires it
   * after cleaning up). False if it was not introduced.
   */
  releaseDomain(domid: number, fire = true): boolean {
    if (domid === 0 || !this.introduced.has(domid)) return false;
    for (const s of [...this.sessions]) if (s.domid === domid) this.closeSession(s);
    this.introduced.delete(domid);
    this.targets.delete(domid);
    if (fire) this.run(() => this.fireSpecial('@releaseDomain'));
    return true;
  }

  isDomainIntroduced(domid: number): boolean {
    return this.introduced.has(domid);
  }

  /** SET_TARGET: `domid` gets `target`'s rights (a device model acting for its guest). */
  setTarget(domid: number, target: number): void {
    this.targets.set(domid, target);
  }

  /** Fire a special watch path ("@releaseDomain" when a domain dies or shuts down, …). */
  fireSpecial(name: string): void {
    const perms = this.specialPerms.get(name);
    if (!perms) return;
    for (const s of this.sessions) {
      if (s.closed || s.watches.length === 0) continue;
      if (!(this.permFor(s, perms) & XS_PERM_READ)) continue;
      for (const w of s.watches) if (w.node === name) s.sink(w, name);
    }
  }

  /** Nodes currently owned by `domid`. */
  nodesOwnedBy(domid: number): number {
    return this.owned.get(domid) ?? 0;
  }

  // ------------------------------------------------------------ paths and permissions

  /** xenstored's canonicalize(): relative paths are under /local/domain/<domid>; EINVAL for bad names. */
  canonicalize(s: XsSession, path: string | null, allowSpecial: boolean): string {
    if (path === null || !VALID_PATH.test(path) || (path[0] === '@' && !allowSpecial)) fail('EINVAL');
    if (path[0] === '@') return path;
    const name = path[0] === '/' ? path : `${s.implicitPath}/${path}`;
    if ((name.endsWith('/') && name !== '/') || name.includes('//')) fail('EINVAL');
    const m = LOCAL_DOMAIN_PREFIX.exec(name);
    const localOff = m ? m[0].length : 0;
    if (name.length > localOff + XENSTORE_REL_PATH_MAX || name.length > XENSTORE_ABS_PATH_MAX) fail('EINVAL');
    return name;
  }

  /** READ/WRITE/OWNER bits `s` has on a node with these permissions. */
  private permFor(s: XsSession, perms: readonly XsPerm[]): number {
    const all = XS_PERM_READ | XS_PERM_WRITE | XS_PERM_OWNER;
    if (s.privileged) return all;
    const target = this.targets.get(s.domid);
    const owner = perms[0]!.id;
    if (owner === s.domid || owner === target) return all;
    for (let i = 1; i < perms.length; i++) {
      const p = perms[i]!;
      if (p.id === s.domid || p.id === target) return p.perms & (XS_PERM_READ | XS_PERM_WRITE);
    }
    return perms[0]!.perms & (XS_PERM_READ | XS_PERM_WRITE);
  }

  /** Permissions the nearest existing ancestor of `name` gives (xenstored's ask_parents). */
  private parentPerm(c: Ctx, name: string): number {
    let p = name;
    do {
      p = parentOf(p);
      const node = this.readNode(c, p);
      if (node) return this.permFor(c.s, node.perms);
    } while (p !== '/');
    return XS_PERM_NONE;
  }

  /**
   * The node with access `perm`, or null if it does not exist and the caller
   * may know that (else EACCES).
   */
  private getNodeOrNull(c: Ctx, name: string, perm: number): XsNode | null {
    const node = this.readNode(c, name);
    if (node && (this.permFor(c.s, node.perms) & perm) === perm) return node;
    // Do not reveal whether a node exists to a caller without access to its parent.
    if (!(this.parentPerm(c, name) & perm)) fail('EACCES');
    if (node) fail('EACCES');
    return null;
  }

  private getNode(c: Ctx, name: string, perm: number): XsNode {
    return this.getNodeOrNull(c, name, perm) ?? fail('ENOENT');
  }

  // ------------------------------------------------------------ node access (global or transaction)

  private mkNode(name: string, value: Uint8Array, perms: readonly XsPerm[], children: readonly string[]): XsNode {
    return { name, value, perms, children, generation: 0 };
  }

  private setGlobal(node: XsNode): void {
    const old = this.nodes.get(node.name);
    if (old) this.account(old.perms[0]!.id, -1);
    this.account(node.perms[0]!.id, 1);
    this.nodes.set(node.name, node);
  }

  private deleteGlobal(name: string): void {
    const old = this.nodes.get(name);
    if (!old) return;
    this.account(old.perms[0]!.id, -1);
    this.nodes.delete(name);
  }

  private account(domid: number, delta: number): void {
    const n = (this.owned.get(domid) ?? 0) + delta;
    if (n) this.owned.set(domid, n);
    else this.owned.delete(domid);
  }

  /** Read a node; inside a transaction this records the access. */
  private readNode(c: Ctx, name: string): XsNode | null {
    const g = this.nodes.get(name) ?? null;
    const tx = c.tx;
    if (!tx) return g;
    const a = tx.accessed.get(name);
    if (a) return a.node;
    if (!c.s.privileged && tx.accessed.size >= XS_QUOTA.transactionNodes) {
      tx.failed = true;
      fail('ENOSPC');
    }
    tx.accessed.set(name, {
      node: g,
      generation: g ? g.generation : NO_GENERATION,
      checkGen: true,
      modified: false,
      fire: 0,
      origPerms: g ? g.perms : null,
    });
    return g;
  }

  private writeNode(c: Ctx, node: XsNode): void {
    node.generation = ++this.generation;
    const tx = c.tx;
    if (!tx) {
      this.setGlobal(node);
      return;
    }
    let a = tx.accessed.get(node.name);
    if (!a) {
      a = { node: null, generation: NO_GENERATION, checkGen: false, modified: false, fire: 0, origPerms: null };
      tx.accessed.set(node.name, a);
    }
    a.node = node;
    a.modified = true;
  }

  private deleteNode(c: Ctx, name: string): void {
    const tx = c.tx;
    if (!tx) {
      this.deleteGlobal(name);
      return;
    }
    const a = tx.accessed.get(name);
    if (!a) return; // never read in this transaction, so nothing it could delete
    a.node = null;
    a.modified = true;
  }

  private checkNodeSize(c: Ctx, value: Uint8Array, perms: readonly XsPerm[], children: readonly string[]): void {
    if (!c.s.privileged && nodeSize(value, perms, children) >= XS_QUOTA.nodeSize) fail('ENOSPC');
  }

  /** Create `name` and any missing parents; returns the new node. */
  private createNode(c: Ctx, name: string, value: Uint8Array): XsNode {
    // Walk up to the nearest existing node.
    const names: string[] = [];
    let parentName = name;
    let parent: XsNode | null = null;
    while (!parent) {
      names.push(parentName);
      if (parentName === '/') fail('ENOENT');
      parentName = parentOf(parentName);
      parent = this.readNode(c, parentName);
    }
    // New nodes copy the parent's permissions; a domU owns what it creates.
    const perms = clonePerms(parent.perms);
    if (!c.s.privileged) perms[0] = { id: c.s.domid, perms: perms[0]!.perms };
    const owner = perms[0]!.id;

    // Check every quota before changing anything.
    if (!c.s.privileged) {
      const pending = c.tx?.created.get(owner) ?? 0;
      if (this.nodesOwnedBy(owner) + pending + names.length > XS_QUOTA.nodes) fail('ENOSPC');
    }
    const top = baseName(names[names.length - 1]!);
    const parentChildren = [...parent.children, top];
    this.checkNodeSize(c, parent.value, parent.perms, parentChildren);
    this.checkNodeSize(c, value, perms, []);

    this.writeNode(c, this.mkNode(parent.name, parent.value, parent.perms, parentChildren));
    let leaf: XsNode | null = null;
    for (let i = names.length - 1; i >= 0; i--) {
      const isLeaf = i === 0;
      const node = this.mkNode(names[i]!, isLeaf ? value : EMPTY, clonePerms(perms), isLeaf ? [] : [baseName(names[i - 1]!)]);
      this.writeNode(c, node);
      leaf = node;
    }
    if (c.tx) c.tx.created.set(owner, (c.tx.created.get(owner) ?? 0) + names.length);
    return leaf!;
  }

  // ------------------------------------------------------------ watches

  private fireWatches(c: Ctx, name: string, node: XsNode | null, match: Match, oldPerms: readonly XsPerm[] | null): void {
    const tx = c.tx;
    if (tx) {
      // Inside a transaction: remember, fire on commit.
      const a = tx.accessed.get(name);
      if (!a) {
        tx.failed = true;
        return;
      }
      if (!a.fire || match === MATCH_SUBTREE) a.fire = match;
      return;
    }
    this.fireGlobal(name, node, match, oldPerms);
  }

  private fireGlobal(name: string, node: XsNode | null, match: Match, oldPerms: readonly XsPerm[] | null): void {
    for (const s of this.sessions) {
      if (s.closed || s.watches.length === 0) continue;
      if (!this.watchPermitted(s, name, node, oldPerms)) continue;
      for (const w of s.watches) {
        const send = match === MATCH_EXACT ? name === w.node : isChild(name, w.node);
        if (send) s.sink(w, name.slice(w.prefixLen));
      }
    }
  }

  /** A watcher hears of a node it can read (before or after the change), or whose parent it can read. */
  private watchPermitted(s: XsSession, name: string, node: XsNode | null, oldPerms: readonly XsPerm[] | null): boolean {
    if (s.privileged) return true;
    if (oldPerms && this.permFor(s, oldPerms) & XS_PERM_READ) return true;
    const n = node ?? this.nodes.get(name);
    if (!n) return false;
    if (this.permFor(s, n.perms) & XS_PERM_READ) return true;
    const parent = this.nodes.get(parentOf(n.name));
    return parent ? (this.permFor(s, parent.perms) & XS_PERM_READ) !== 0 : false;
  }

  // ------------------------------------------------------------ operations (protocol entry points)

  /** A transaction of `s` by id (0: none); ENOENT if unknown. */
  lookupTransaction(s: XsSession, id: number): XsTransaction | null {
    if (id === 0) return null;
    return s.transactions.get(id) ?? fail('ENOENT');
  }

  opRead(s: XsSession, tx: XsTransaction | null, path: string | null): Uint8Array {
    const c: Ctx = { s, tx };
    return this.getNode(c, this.canonicalize(s, path, false), XS_PERM_READ).value;
  }

  opDirectory(s: XsSession, tx: XsTransaction | null, path: string | null): readonly string[] {
    const c: Ctx = { s, tx };
    return this.getNode(c, this.canonicalize(s, path, false), XS_PERM_READ).children;
  }

  /**
   * DIRECTORY_PART payload: "<generation>\0" then the child list (names
   * each followed by NUL) from byte `offset`, cut to fit a message; an
   * extra NUL marks the end of the list.
   */
  opDirectoryPart(s: XsSession, tx: XsTransaction | null, path: string | null, offset: number): Uint8Array {
    const c: Ctx = { s, tx };
    const node = this.getNode(c, this.canonicalize(s, path, false), XS_PERM_READ);
    const list = textEncoder.encode(node.children.map((x) => `${x}\0`).join(''));
    const gen = textEncoder.encode(`${node.generation}\0`);
    if (offset < 0 || offset >= list.length) {
      const out = new Uint8Array(gen.length + 1);
      out.set(gen);
      return out;
    }
    const strlen = (at: number): number => {
      let e = at;
      while (list[e] !== 0) e++;
      return e - at;
    };
    const maxlen = XENSTORE_PAYLOAD_MAX - gen.length - 1;
    let len = 0;
    while (len + strlen(offset + len) < maxlen) {
      len += strlen(offset + len) + 1;
      if (offset + len === list.length) break;
    }
    const end = offset + len === list.length;
    const out = new Uint8Array(gen.length + len + (end ? 1 : 0));
    out.set(gen);
    out.set(list.subarray(offset, offset + len), gen.length);
    return out;
  }

  opWrite(s: XsSession, tx: XsTransaction | null, path: string | null, value: Uint8Array): void {
    const c: Ctx = { s, tx };
    const name = this.canonicalize(s, path, false);
    let node = this.getNodeOrNull(c, name, XS_PERM_WRITE);
    if (!node) {
      node = this.createNode(c, name, value.slice());
    } else {
      this.checkNodeSize(c, value, node.perms, node.children);
      node = this.mkNode(name, value.slice(), node.perms, node.children);
      this.writeNode(c, node);
    }
    this.fireWatches(c, name, node, MATCH_SUBTREE, null);
  }

  opMkdir(s: XsSession, tx: XsTransaction | null, path: string | null): void {
    const c: Ctx = { s, tx };
    const name = this.canonicalize(s, path, false);
    if (this.getNodeOrNull(c, name, XS_PERM_WRITE)) return; // exists: fine
    const node = this.createNode(c, name, EMPTY);
    this.fireWatches(c, name, node, MATCH_SUBTREE, null);
  }

  opRm(s: XsSession, tx: XsTransaction | null, path: string | null): void {
    const c: Ctx = { s, tx };
    const name = this.canonicalize(s, path, false);
    const node = this.getNodeOrNull(c, name, XS_PERM_WRITE);
    if (!node) {
      // Not there: fine if the parent is.
      if (this.readNode(c, parentOf(name))) return;
      fail('ENOENT');
    }
    if (name === '/') fail('EINVAL');
    const parent = this.readNode(c, parentOf(name)) ?? fail('EINVAL');
    this.rmWalk(c, name, name);
    const base = baseName(name);
    this.writeNode(c, this.mkNode(parent.name, parent.value, parent.perms, parent.children.filter((x) => x !== base)));
  }

  /** Delete a subtree, children first, firing each node's watches while its permissions are still known. */
  private rmWalk(c: Ctx, name: string, root: string): void {
    const node = this.readNode(c, name);
    if (!node) return;
    for (const child of node.children) this.rmWalk(c, childPath(name, child), root);
    this.deleteNode(c, name);
    this.fireWatches(c, name, node, name === root ? MATCH_SUBTREE : MATCH_EXACT, null);
  }

  opGetPerms(s: XsSession, tx: XsTransaction | null, path: string | null): readonly XsPerm[] {
    const c: Ctx = { s, tx };
    const name = this.canonicalize(s, path, true);
    if (name[0] === '@') {
      const sp = this.specialPerms.get(name);
      if (!sp) fail(s.privileged ? 'ENOENT' : 'EACCES');
      if (!(this.permFor(s, sp) & XS_PERM_READ)) fail('EACCES');
      return sp;
    }
    return this.getNode(c, name, XS_PERM_READ).perms;
  }

  opSetPerms(s: XsSession, tx: XsTransaction | null, path: string | null, perms: readonly XsPerm[]): void {
    const c: Ctx = { s, tx };
    if (perms.length === 0) fail('EINVAL');
    if (!s.privileged && perms.length > XS_QUOTA.perms) fail('ENOSPC');
    const name = this.canonicalize(s, path, true);
    const want = clonePerms(perms);
    if (name[0] === '@') {
      const sp = this.specialPerms.get(name) ?? fail('EINVAL');
      const need = XS_PERM_WRITE | XS_PERM_OWNER;
      if ((this.permFor(s, sp) & need) !== need) fail('EACCES');
      this.specialPerms.set(name, want);
      return;
    }
    const node = this.getNode(c, name, XS_PERM_WRITE | XS_PERM_OWNER);
    // Only dom0 may give a node away.
    if (!s.privileged && want[0]!.id !== node.perms[0]!.id) fail('EPERM');
    this.checkNodeSize(c, node.value, want, node.children);
    const updated = this.mkNode(name, node.value, want, node.children);
    this.writeNode(c, updated);
    this.fireWatches(c, name, updated, MATCH_SUBTREE, node.perms);
  }

  /** Register a watch (the caller fires the initial event with fireInitial after acknowledging). */
  opWatch(s: XsSession, path: string | null, token: string, callback?: WatchCallback): XsWatch {
    const relative = path !== null && path[0] !== '/' && path[0] !== '@';
    const node = this.canonicalize(s, path, true);
    if (s.watches.some((w) => w.node === node && w.token === token)) fail('EEXIST');
    if (!s.privileged && s.watches.length >= XS_QUOTA.watches) fail('E2BIG');
    const w: XsWatch = { node, token, prefixLen: relative ? s.implicitPath.length + 1 : 0, callback };
    s.watches.push(w);
    return w;
  }

  /** The event every new watch gets at once, with its own path. */
  fireInitial(s: XsSession, w: XsWatch): void {
    s.sink(w, w.node.slice(w.prefixLen));
  }

  opUnwatch(s: XsSession, path: string | null, token: string): void {
    const node = this.canonicalize(s, path, true);
    const i = s.watches.findIndex((w) => w.node === node && w.token === token);
    if (i < 0) fail('ENOENT');
    s.watches.splice(i, 1);
  }

  opTransactionStart(s: XsSession): number {
    if (!s.privileged && s.transactions.size >= XS_QUOTA.transactions) fail('ENOSPC');
    let id: number;
    do {
      id = s.nextTransactionId;
      s.nextTransactionId = (s.nextTransactionId + 1) >>> 0 || 1;
    } while (s.transactions.has(id));
    s.transactions.set(id, new XsTransaction(id));
    return id;
  }

  /** End a transaction: commit (EAGAIN on conflict) or discard. The id is invalid afterwards either way. */
  opTransactionEnd(s: XsSession, tx: XsTransaction | null, commit: boolean): void {
    if (!tx) fail('ENOENT');
    s.transactions.delete(tx.id);
    if (!commit) return;
    if (tx.failed) fail('ENOMEM');
    for (const [name, a] of tx.accessed) {
      if (!a.checkGen) continue;
      const cur = this.nodes.get(name);
      if ((cur ? cur.generation : NO_GENERATION) !== a.generation) fail('EAGAIN');
    }
    if (!s.privileged) {
      for (const [owner, n] of tx.created) if (this.nodesOwnedBy(owner) + n > XS_QUOTA.nodes) fail('ENOSPC');
    }
    for (const [name, a] of tx.accessed) {
      if (!a.modified) continue;
      if (a.node) {
        a.node.generation = ++this.generation;
        this.setGlobal(a.node);
      } else {
        this.deleteGlobal(name);
      }
    }
    for (const [name, a] of tx.accessed) {
      if (a.modified && a.fire) this.fireGlobal(name, null, a.fire, a.origPerms);
    }
  }

  /** RESET_WATCHES: drop the session's watches and transactions. */
  opResetWatches(s: XsSession): void {
    s.watches.length = 0;
    s.transactions.clear();
  }

  // ------------------------------------------------------------ dom0 API (forwarded to `dom0`)

  read(path: string, tx = 0): string | null { return this.dom0.read(path, tx); }
  readBytes(path: string, tx = 0): Uint8Array | null { return this.dom0.readBytes(path, tx); }
  write(path: string, value: string | Uint8Array, tx = 0): void { this.dom0.write(path, value, tx); }
  mkdir(path: string, tx = 0): void { this.dom0.mkdir(path, tx); }
  rm(path: string, tx = 0): void { this.dom0.rm(path, tx); }
  directory(path: string, tx = 0): string[] | null { return this.dom0.directory(path, tx); }
  exists(path: string, tx = 0): boolean { return this.dom0.exists(path, tx); }
  getPerms(path: string, tx = 0): XsPerm[] | null { return this.dom0.getPerms(path, tx); }
  setPerms(path: string, perms: readonly XsPerm[] | string, tx = 0): void { this.dom0.setPerms(path, perms, tx); }
  watch(path: string, callback: WatchCallback, token?: string): () => void { return this.dom0.watch(path, callback, token); }
  transactionStart(): number { return this.dom0.transactionStart(); }
  transactionEnd(tx: number, commit: boolean): void { this.dom0.transactionEnd(tx, commit); }
  transaction<T>(fn: (t: XenstoreTx) => T, maxAttempts?: number): T { return this.dom0.transaction(fn, maxAttempts); }
  getDomainPath(domid: number): string { return `/local/domain/${domid}`; }
}

/** Parse "b0\0r1"-style permission text or pass entries through. */
function toPerms(perms: readonly XsPerm[] | string): readonly XsPerm[] {
  return typeof perms === 'string' ? parsePerms(perms.split(/[\s,\0]+/).filter(Boolean)) : perms;
}

/**
 * The TypeScript API of one in-process client (dom0 by default). Values are
 * UTF-8 strings or raw bytes. Errors throw XenstoreError, except that a
 * missing node reads as null. `tx` is a transaction id from
 * transactionStart (0: none); `transaction(fn)` wraps start/commit/retry.
 */
export class XenstoreClient {
  private tokens = 0;

  constructor(
    readonly store: XenStore,
    readonly session: XsSession,
  ) {}

  get domid(): number {
    return this.session.domid;
  }

  private tx(id: number): XsTransaction | null {
    return this.store.lookupTransaction(this.session, id);
  }

  private orNull<T>(fn: () => T): T | null {
    try {
      return this.store.run(fn);
    } catch (e) {
      if (e instanceof XenstoreError && e.errno === 'ENOENT') return null;
      throw e;
    }
  }

  readBytes(path: string, tx = 0): Uint8Array | null {
    return this.orNull(() => this.store.opRead(this.session, this.tx(tx), path).slice());
  }

  read(path: string, tx = 0): string | null {
    const b = this.readBytes(path, tx);
    return b === null ? null : textDecoder.decode(b);
  }

  write(path: string, value: string | Uint8Array, tx = 0): void {
    const bytes = typeof value === 'string' ? textEncoder.encode(value) : value;
    this.store.run(() => this.store.opWrite(this.session, this.tx(tx), path, bytes));
  }

  mkdir(path: string, tx = 0): void {
    this.store.run(() => this.store.opMkdir(this.session, this.tx(tx), path));
  }

  /** Remove a subtree (fine if it is already gone, as long as its parent exists). */
  rm(path: string, tx = 0): void {
    this.store.run(() => this.store.opRm(this.session, this.tx(tx), path));
  }

  directory(path: string, tx = 0): string[] | null {
    return this.orNull(() => [...this.store.opDirectory(this.session, this.tx(tx), path)]);
  }

  exists(path: string, tx = 0): boolean {
    return this.orNull(() => this.store.opDirectory(this.session, this.tx(tx), path)) !== null;
  }

  getPerms(path: string, tx = 0): XsPerm[] | null {
    return this.orNull(() => clonePerms(this.store.opGetPerms(this.session, this.tx(tx), path)));
  }

  /** Set permissions: entries, or text such as "n1 r0" / "b0,r1". */
  setPerms(path: string, perms: readonly XsPerm[] | string, tx = 0): void {
    this.store.run(() => this.store.opSetPerms(this.session, this.tx(tx), path, toPerms(perms)));
  }

  /**
   * Watch `path` and everything below it. The callback gets the changed
   * path (relative if `path` was) and the token; it runs once right away
   * (before watch() returns) and then after every change, each time once
   * the store operation that caused it has finished. Returns unwatch.
   */
  watch(path: string, callback: WatchCallback, token?: string): () => void {
    const tok = token ?? `ts${++this.tokens}`;
    const w = this.store.run(() => {
      const w = this.store.opWatch(this.session, path, tok, callback);
      this.store.fireInitial(this.session, w);
      return w;
    });
    return () => {
      const i = this.session.watches.indexOf(w);
      if (i >= 0) this.session.watches.splice(i, 1);
    };
  }

  unwatch(path: string, token: string): void {
    this.store.run(() => this.store.opUnwatch(this.session, path, token));
  }

  transactionStart(): number {
    return this.store.run(() => this.store.opTransactionStart(this.session));
  }

  /** Commit (throws XenstoreError EAGAIN on conflict) or abort. */
  transactionEnd(tx: number, commit: boolean): void {
    this.store.run(() => this.store.opTransactionEnd(this.session, this.tx(tx), commit));
  }

  /** Run `fn` in a transaction and commit, retrying on EAGAIN; aborts if `fn` throws. */
  transaction<T>(fn: (t: XenstoreTx) => T, maxAttempts = 64): T {
    for (let attempt = 1; ; attempt++) {
      const id = this.transactionStart();
      let result: T;
      try {
        result = fn(new XenstoreTx(this, id));
      } catch (e) {
        if (this.session.transactions.has(id)) this.transactionEnd(id, false);
        throw e;
      }
      try {
        this.transactionEnd(id, true);
        return result;
      } catch (e) {
        if (e instanceof XenstoreError && e.errno === 'EAGAIN' && attempt < maxAttempts) continue;
        throw e;
      }
    }
  }

  getDomainPath(domid: number): string {
    return `/local/domain/${domid}`;
  }

  /** Drop this client's watches and transactions (dom0's built-in client should stay open). */
  close(): void {
    this.store.closeSession(this.session);
  }
}

/** The client's operations bound to one transaction. */
export class XenstoreTx {
  constructor(
    readonly client: XenstoreClient,
    readonly id: number,
  ) {}

  read(path: string): string | null { return this.client.read(path, this.id); }
  readBytes(path: string): Uint8Array | null { return this.client.readBytes(path, this.id); }
  write(path: string, value: string | Uint8Array): void { this.client.write(path, value, this.id); }
  mkdir(path: string): void { this.client.mkdir(path, this.id); }
  rm(path: string): void { this.client.rm(path, this.id); }
  directory(path: string): string[] | null { return this.client.directory(path, this.id); }
  exists(path: string): boolean { return this.client.exists(path, this.id); }
  getPerms(path: string): XsPerm[] | null { return this.client.getPerms(path, this.id); }
  setPerms(path: string, perms: readonly XsPerm[] | string): void { this.client.setPerms(path, perms, this.id); }
}
