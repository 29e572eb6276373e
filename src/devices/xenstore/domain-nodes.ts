/**
 * The xenstore nodes the toolstack writes for a PV domU, as libxl does
 * (tools/libs/light: libxl__domain_make, libxl__build_post,
 * libxl__device_console_add, libxl__device_generic_add), with libxl's
 * permissions:
 *
 *   roperm = n0 r<domid>   (dom0 owns, the domain may read)
 *   rwperm = n<domid>      (the domain owns)
 *
 * /local/domain/<id>                       roperm; name, domid, vm, memory/*, cpu/*, store/*
 *   device/, control/, cpu/, memory/        roperm
 *   device/suspend/event-channel            rwperm
 *   control/shutdown, control/sysrq,
 *   control/feature-{poweroff,reboot,suspend}, data/, drivers/,
 *   feature/, attr/, error/                 rwperm (the guest writes these)
 *   console/                                n0 r<id>: backend, backend-id, limit, type, output, tty, port, ring-ref
 * /vm/<uuid>                                roperm; uuid, name, image/*, start_time
 * /libxl/<id>                               n0; type, device/console/0/*
 * /local/domain/0/backend/console/<id>/0    n0 r<id>: frontend, frontend-id, online, state, protocol
 *
 * Devices (vbd, vif, …) are added with addDevice, which creates the
 * frontend directory owned by the domain (n<id> r<backend>) and the backend
 * directory readable by it (n<backend> r<id>): a frontend can write its
 * ring-ref/event-channel/state and read its backend, nothing else.
 */
import { XenstoreError, type XenStore, type XenstoreTx, type XsPerm } from './store.ts';
import { XenbusState, XS_PERM_NONE, XS_PERM_READ } from './xs-wire.ts';

export interface DomainNodesInfo {
  domid: number;
  name: string;
  /** "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx". */
  uuid: string;
  /** memory/target (KiB). */
  memoryKiB: number;
  /** memory/static-max (KiB). */
  maxmemKiB: number;
  vcpus: number;
  /** vCPUs online at boot (default: all). */
  availVcpus?: number;
  storeMfn: number;
  storePort: number;
  consoleMfn: number;
  consolePort: number;
  /** console/tty (xenconsoled fills it in; default ""). */
  consoleTty?: string;
  /** For /vm/<uuid>/image/*. */
  kernel?: string;
  ramdisk?: string;
  cmdline?: string;
  /** Seconds since the epoch (default: now). */
  startTime?: number;
}

/** xenconsoled's ring limit (LIBXL_XENCONSOLE_LIMIT). */
const XENCONSOLE_LIMIT = 1048576;
/** LIBXL_XENCONSOLE_PROTOCOL. */
const XENCONSOLE_PROTOCOL = 'vt100';

const roperm = (domid: number): XsPerm[] => [{ id: 0, perms: XS_PERM_NONE }, { id: domid, perms: XS_PERM_READ }];
const rwperm = (domid: number): XsPerm[] => [{ id: domid, perms: XS_PERM_NONE }];
const noperm = (): XsPerm[] => [{ id: 0, perms: XS_PERM_NONE }];

export const domainPath = (domid: number): string => `/local/domain/${domid}`;

/** libxl__xs_mknod: an empty node with these permissions. */
function mknod(t: XenstoreTx, path: string, perms: XsPerm[]): void {
  t.write(path, '');
  t.setPerms(path, perms);
}

/** xs_rm as libxl uses it: a missing node (or parent) is fine. */
function rmIfExists(t: XenstoreTx, path: string): void {
  try {
    t.rm(path);
  } catch (e) {
    if (!(e instanceof XenstoreError && e.errno === 'ENOENT')) throw e;
  }
}

function writeAll(t: XenstoreTx, base: string, kv: Record<string, string>, perms?: XsPerm[]): void {
  for (const [k, v] of Object.entries(kv)) {
    const p = `${base}/${k}`;
    t.write(p, v);
    if (perms) t.setPerms(p, perms);
  }
}

/** dom0's own nodes (xen-init-dom0), created once. */
export function ensureDom0(store: XenStore): void {
  if (store.exists('/local/domain/0/domid')) return;
  store.transaction((t) => {
    t.write('/local/domain/0/name', 'Domain-0');
    t.write('/local/domain/0/domid', '0');
    t.mkdir('/local/domain/0/backend');
    t.mkdir('/vm');
    t.mkdir('/libxl');
  });
}

/**
 * Write a new PV domain's nodes (libxl's domain_make + build_post + the
 * primary console) and INTRODUCE it (fires @introduceDomain). The ring
 * connection itself is a separate XenstoreConnection.
 */
export function introduceDomain(store: XenStore, info: DomainNodesInfo): void {
  const { domid } = info;
  if (!(domid > 0 && domid < 0x7ff0)) throw new RangeError(`bad domid ${domid}`);
  ensureDom0(store);
  const dom = domainPath(domid);
  const vm = `/vm/${info.uuid}`;
  const libxl = `/libxl/${domid}`;
  const ro = roperm(domid);
  const rw = rwperm(domid);
  const start = info.startTime ?? Date.now() / 1000;

  // libxl__domain_make
  store.transaction((t) => {
    rmIfExists(t, dom);
    mknod(t, dom, ro);
    rmIfExists(t, vm);
    mknod(t, vm, ro);
    rmIfExists(t, libxl);
    mknod(t, libxl, noperm());
    mknod(t, `${libxl}/device`, noperm());
    t.write(`${dom}/vm`, vm);
    t.write(`${dom}/name`, info.name);
    mknod(t, `${dom}/cpu`, ro);
    mknod(t, `${dom}/memory`, ro);
    mknod(t, `${dom}/device`, ro);
    mknod(t, `${dom}/device/suspend/event-channel`, rw);
    mknod(t, `${dom}/control`, ro);
    for (const n of ['shutdown', 'feature-poweroff', 'feature-reboot', 'feature-suspend', 'sysrq']) mknod(t, `${dom}/control/${n}`, rw);
    for (const n of ['data', 'drivers', 'feature', 'attr', 'error']) mknod(t, `${dom}/${n}`, rw);
    t.write(`${vm}/uuid`, info.uuid);
    t.write(`${vm}/name`, info.name);
    t.write(`${dom}/control/platform-feature-multiprocessor-suspend`, '1');
    t.write(`${dom}/control/platform-feature-xs_reset_watches`, '1');
    t.write(`${libxl}/type`, 'pv');
  });

  // The primary console (libxl__device_console_add with the build state).
  addDevice(store, {
    domid,
    kind: 'console',
    devid: 0,
    frontendPath: `${dom}/console`,
    frontendReadOnly: true,
    frontend: { 'backend-id': '0' },
    frontendRo: {
      limit: String(XENCONSOLE_LIMIT),
      type: 'xenconsoled',
      output: 'pty',
      tty: info.consoleTty ?? '',
      port: String(info.consolePort),
      'ring-ref': String(info.consoleMfn),
    },
    backend: {
      'frontend-id': String(domid),
      online: '1',
      state: String(XenbusState.Initialising),
      protocol: XENCONSOLE_PROTOCOL,
    },
  });

  // libxl__build_post
  const avail = info.availVcpus ?? info.vcpus;
  store.transaction((t) => {
    const ents: Record<string, string> = {
      'memory/static-max': String(info.maxmemKiB),
      'memory/target': String(info.memoryKiB),
      'memory/videoram': '0',
      domid: String(domid),
      'store/port': String(info.storePort),
      'store/ring-ref': String(info.storeMfn),
    };
    for (let i = 0; i < info.vcpus; i++) ents[`cpu/${i}/availability`] = i < avail ? 'online' : 'offline';
    writeAll(t, dom, ents);
    const vments: Record<string, string> = { 'image/ostype': 'linux' };
    if (info.kernel !== undefined) vments['image/kernel'] = info.kernel;
    vments.start_time = start.toFixed(2);
    if (info.ramdisk !== undefined) vments['image/ramdisk'] = info.ramdisk;
    if (info.cmdline !== undefined) vments['image/cmdline'] = info.cmdline;
    writeAll(t, vm, vments);
  });
  store.introduceDomain(domid);
}

/**
 * Disconnect a domain and remove its nodes (what xenstored and libxl do
 * when it is destroyed): RELEASE drops its connection and watches, then
 * /local/domain/<id>, /vm/<uuid>, /libxl/<id> and its backend directories
 * go, and @releaseDomain fires.
 */
export function releaseDomain(store: XenStore, domid: number): void {
  if (domid === 0) throw new RangeError('dom0 cannot be released');
  const dom = domainPath(domid);
  const vm = store.read(`${dom}/vm`);
  // Close its connection first, so removing its nodes sends it nothing.
  const introduced = store.releaseDomain(domid, false);
  store.transaction((t) => {
    for (const backendDomain of t.directory('/local/domain') ?? []) {
      const base = `/local/domain/${backendDomain}/backend`;
      for (const kind of t.directory(base) ?? []) {
        if (t.exists(`${base}/${kind}/${domid}`)) t.rm(`${base}/${kind}/${domid}`);
      }
    }
    rmIfExists(t, dom);
    if (vm && vm.startsWith('/vm/')) rmIfExists(t, vm);
    rmIfExists(t, `/libxl/${domid}`);
  });
  // xenstored fires @releaseDomain when the domain dies; fire it after the clean-up too,
  // so a watcher that looks finds the nodes gone.
  if (introduced) store.run(() => store.fireSpecial('@releaseDomain'));
}

export interface DeviceSpec {
  /** The frontend domain. */
  domid: number;
  backendDomid?: number;
  /** Device class: "vbd", "vif", "console", … */
  kind: string;
  devid: number;
  /** Frontend keys the domain may change (state, virtual-device, mac, …); backend and backend-id are added. */
  frontend?: Record<string, string>;
  /** Frontend keys the domain may only read (console 0's ring-ref, port, …). */
  frontendRo?: Record<string, string>;
  /** Backend keys (frontend and frontend-id are added). */
  backend?: Record<string, string>;
  /** Default /local/domain/<id>/device/<kind>/<devid>. */
  frontendPath?: string;
  /** The frontend directory itself read-only for the domain (libxl does this for console 0). */
  frontendReadOnly?: boolean;
}

/** Paths of a device's two halves. */
export function devicePaths(domid: number, kind: string, devid: number, backendDomid = 0): { frontend: string; backend: string } {
  return {
    frontend: `${domainPath(domid)}/device/${kind}/${devid}`,
    backend: `${domainPath(backendDomid)}/backend/${kind}/${domid}/${devid}`,
  };
}

/**
 * libxl__device_generic_add: write a device's frontend and backend
 * directories with libxl's permissions, plus libxl's own copy under
 * /libxl/<id>/device. Backends then watch their directory and the frontend
 * state. Returns the two paths.
 */
export function addDevice(store: XenStore, dev: DeviceSpec): { frontend: string; backend: string } {
  const bdom = dev.backendDomid ?? 0;
  const paths = devicePaths(dev.domid, dev.kind, dev.devid, bdom);
  const frontend = dev.frontendPath ?? paths.frontend;
  const backend = paths.backend;
  const frontendPerms: XsPerm[] = [{ id: dev.domid, perms: XS_PERM_NONE }, { id: bdom, perms: XS_PERM_READ }];
  const roFrontendPerms: XsPerm[] = [{ id: bdom, perms: XS_PERM_NONE }, { id: dev.domid, perms: XS_PERM_READ }];
  const backendPerms = roFrontendPerms;
  const libxl = `/libxl/${dev.domid}/device/${dev.kind}/${dev.devid}`;
  store.transaction((t) => {
    rmIfExists(t, libxl);
    t.write(`${libxl}/frontend`, frontend);
    t.write(`${libxl}/backend`, backend);

    rmIfExists(t, frontend);
    t.mkdir(frontend);
    t.setPerms(frontend, dev.frontendReadOnly ? roFrontendPerms : frontendPerms);
    t.write(`${frontend}/backend`, backend);
    writeAll(t, frontend, { 'backend-id': String(bdom), ...dev.frontend }, frontendPerms);
    if (dev.frontendRo) writeAll(t, frontend, dev.frontendRo, roFrontendPerms);

    rmIfExists(t, backend);
    t.mkdir(backend);
    t.setPerms(backend, backendPerms);
    const bents = { 'frontend-id': String(dev.domid), ...dev.backend };
    t.write(`${backend}/frontend`, frontend);
    writeAll(t, backend, bents);
    writeAll(t, libxl, bents);
  });
  return { frontend, backend };
}

/** Remove a device's frontend, backend and libxl directories. */
export function removeDevice(store: XenStore, domid: number, kind: string, devid: number, backendDomid = 0): void {
  const paths = devicePaths(domid, kind, devid, backendDomid);
  store.transaction((t) => {
    for (const p of [paths.frontend, paths.backend, `/libxl/${domid}/device/${kind}/${devid}`]) rmIfExists(t, p);
  });
}
