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
export { UserError } from './errors.ts';
