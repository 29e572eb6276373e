/** Paths of the guest images the tests use (fetched once by test/global-setup.ts, cached in images/cache). */
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fetchBusybox, fetchKernel } from '../../scripts/lib/debian.ts';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const IMAGES = join(REPO, 'images');
export const CACHE = join(IMAGES, 'cache');
const quiet = (): void => {};

export const cloudKernel = (): { path: string; release: string } => fetchKernel('cloud', CACHE, quiet);
export const genericKernel = (): { path: string; release: string } => fetchKernel('generic', CACHE, quiet);
export const busyboxBinary = (): string => fetchBusybox(CACHE, quiet);
