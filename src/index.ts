/**
 * xenjs as a library: the toolstack API (create domains from xl configs, talk
 * to their consoles, shut them down, watch their lifecycle) and its types.
 * See README.md, "Library API".
 */
export { Xenjs, DomainHandle, DomainConsole, resolveConfig, rawConfigFromObject } from './domains/toolstack.ts';
export type {
  XenjsOptions, CreateOptions, WaitForOptions, ConsoleMatch, ExitInfo, RunResult, DomainState, ShutdownReason,
  ShutdownRequest, ConfigInput, XlKeys, XlValue,
} from './domains/toolstack.ts';
export { loadDomainConfig, toDomainConfig, type DomainConfig, type ShutdownAction } from './domains/domain-config.ts';
export { HypercallTrace } from './hypercall/trace.ts';
export { GrantAccess, grantStatusText, type GrantMapping, type GrantCopyOp, type GrantCopyPtr, type MapOptions } from './devices/grant-access.ts';
export {
  GNTST_okay, GNTST_general_error, GNTST_bad_domain, GNTST_bad_gntref, GNTST_bad_handle, GNTST_permission_denied,
  GNTST_bad_page, GNTST_bad_copy_arg, GNTCOPY_source_gref, GNTCOPY_dest_gref, GTF_permit_access, GTF_readonly,
} from './hypercall/grant-table.ts';
export { DomainRegistry } from './domains/registry.ts';
export { UserError } from './errors.ts';
