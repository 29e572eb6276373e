/**
 * dom0's xenstored: the store (store.ts), the wire protocol (protocol.ts,
 * ring.ts) and the toolstack's nodes (domain-nodes.ts).
 */
export * from './xs-wire.ts';
export { XenStore, XenstoreClient, XenstoreTx, XenstoreError, XsSession, XS_QUOTA, formatPerm, parsePerms } from './store.ts';
export type { XsPerm, XsWatch, WatchCallback, EventSink, XenStoreOptions } from './store.ts';
export { XenstoreConnection } from './ring.ts';
export { handleRequest, encodeMessage, decodeHeader, encodeWatchEvent } from './protocol.ts';
export type { XsHeader } from './protocol.ts';
export { introduceDomain, releaseDomain, addDevice, removeDevice, devicePaths, domainPath, ensureDom0 } from './domain-nodes.ts';
export type { DomainNodesInfo, DeviceSpec } from './domain-nodes.ts';
