/**
 * Xenstore wire constants, named as in the Xen headers:
 * - xen/io/xs_wire.h: message types, the error table, struct xsd_sockmsg,
 *   struct xenstore_domain_interface, payload/path limits, ring features;
 * - xen/io/xenbus.h: the XenBus state machine;
 * - tools/include/xenstore_lib.h: the permission bits (XS_PERM_*).
 * test/xenstore.test.ts checks these against the installed headers.
 */

/** enum xsd_sockmsg_type. */
export const XS_CONTROL = 0;
export const XS_DEBUG = XS_CONTROL;
export const XS_DIRECTORY = 1;
export const XS_READ = 2;
export const XS_GET_PERMS = 3;
export const XS_WATCH = 4;
export const XS_UNWATCH = 5;
export const XS_TRANSACTION_START = 6;
export const XS_TRANSACTION_END = 7;
export const XS_INTRODUCE = 8;
export const XS_RELEASE = 9;
export const XS_GET_DOMAIN_PATH = 10;
export const XS_WRITE = 11;
export const XS_MKDIR = 12;
export const XS_RM = 13;
export const XS_SET_PERMS = 14;
export const XS_WATCH_EVENT = 15;
export const XS_ERROR = 16;
export const XS_IS_DOMAIN_INTRODUCED = 17;
export const XS_RESUME = 18;
export const XS_SET_TARGET = 19;
/* 20 was XS_RESTRICT (removed). */
export const XS_RESET_WATCHES = 21;
export const XS_DIRECTORY_PART = 22;
export const XS_TYPE_COUNT = 23;
export const XS_INVALID = 0xffff;

/** Names of the message types (for logs and tests). */
export const XS_TYPE_NAMES: Readonly<Record<number, string>> = {
  [XS_CONTROL]: 'CONTROL', [XS_DIRECTORY]: 'DIRECTORY', [XS_READ]: 'READ', [XS_GET_PERMS]: 'GET_PERMS',
  [XS_WATCH]: 'WATCH', [XS_UNWATCH]: 'UNWATCH', [XS_TRANSACTION_START]: 'TRANSACTION_START',
  [XS_TRANSACTION_END]: 'TRANSACTION_END', [XS_INTRODUCE]: 'INTRODUCE', [XS_RELEASE]: 'RELEASE',
  [XS_GET_DOMAIN_PATH]: 'GET_DOMAIN_PATH', [XS_WRITE]: 'WRITE', [XS_MKDIR]: 'MKDIR', [XS_RM]: 'RM',
  [XS_SET_PERMS]: 'SET_PERMS', [XS_WATCH_EVENT]: 'WATCH_EVENT', [XS_ERROR]: 'ERROR',
  [XS_IS_DOMAIN_INTRODUCED]: 'IS_DOMAIN_INTRODUCED', [XS_RESUME]: 'RESUME', [XS_SET_TARGET]: 'SET_TARGET',
  [XS_RESET_WATCHES]: 'RESET_WATCHES', [XS_DIRECTORY_PART]: 'DIRECTORY_PART',
};

/**
 * The xsd_errors table, in the header's order: errors travel as these
 * strings (plus a NUL). The numbers are Linux errno values.
 */
export const XSD_ERRORS = [
  ['EINVAL', 22], ['EACCES', 13], ['EEXIST', 17], ['EISDIR', 21], ['ENOENT', 2], ['ENOMEM', 12],
  ['ENOSPC', 28], ['EIO', 5], ['ENOTEMPTY', 39], ['ENOSYS', 38], ['EROFS', 30], ['EBUSY', 16],
  ['EAGAIN', 11], ['EISCONN', 106], ['E2BIG', 7], ['EPERM', 1],
] as const;

/** An error name from the xsd_errors table. */
export type XsErrno = (typeof XSD_ERRORS)[number][0];

/** struct xsd_sockmsg (16 bytes, little-endian u32s). */
export const XSD_SOCKMSG = {
  type: 0,
  req_id: 4,
  tx_id: 8,
  len: 12,
  size: 16,
} as const;

/** struct xenstore_domain_interface (the page at start_info.store_mfn). */
export const XENSTORE_DOMAIN_INTERFACE = {
  req: 0, // char req[XENSTORE_RING_SIZE]
  rsp: 1024, // char rsp[XENSTORE_RING_SIZE]
  req_cons: 2048,
  req_prod: 2052,
  rsp_cons: 2056,
  rsp_prod: 2060,
  server_features: 2064,
  connection: 2068,
  error: 2072,
  size: 2076,
} as const;

export const XENSTORE_RING_SIZE = 1024;
/** MASK_XENSTORE_IDX(idx). */
export const XENSTORE_RING_MASK = XENSTORE_RING_SIZE - 1;
export const XENSTORE_PAYLOAD_MAX = 4096;
export const XENSTORE_ABS_PATH_MAX = 3072;
export const XENSTORE_REL_PATH_MAX = 2048;

export const XENSTORE_SERVER_FEATURE_RECONNECTION = 1;
export const XENSTORE_SERVER_FEATURE_ERROR = 2;

export const XENSTORE_CONNECTED = 0;
export const XENSTORE_RECONNECT = 1;

export const XENSTORE_ERROR_NONE = 0;
export const XENSTORE_ERROR_COMM = 1;
export const XENSTORE_ERROR_RINGIDX = 2;
export const XENSTORE_ERROR_PROTO = 3;

/** Permission bits (tools/include/xenstore_lib.h). */
export const XS_PERM_NONE = 0x00;
export const XS_PERM_READ = 0x01;
export const XS_PERM_WRITE = 0x02;
/** Internal to xenstored: "owns the node" (may change its permissions). */
export const XS_PERM_OWNER = 0x08;

/** DOMID_SELF (xen/xen.h), accepted by IS_DOMAIN_INTRODUCED. */
export const DOMID_SELF = 0x7ff0;

/** enum xenbus_state (xen/io/xenbus.h); `state` nodes hold these as decimal strings. */
export const XenbusState = {
  Unknown: 0,
  Initialising: 1,
  InitWait: 2,
  Initialised: 3,
  Connected: 4,
  Closing: 5,
  Closed: 6,
  Reconfiguring: 7,
  Reconfigured: 8,
} as const;
export type XenbusStateValue = (typeof XenbusState)[keyof typeof XenbusState];
