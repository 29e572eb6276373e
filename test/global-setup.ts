/**
 * Runs once before the tests: make sure the default guest and the extra
 * kernels the tests compare against are downloaded (cached after the first run).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildDefaultGuest } from '../scripts/build-images.ts';
import { fetchKernel } from '../scripts/lib/debian.ts';
import { ensureHostTools } from './helpers/host-tools.ts';
import { CACHE, IMAGES } from './helpers/images.ts';

export default function setup(): void {
  const log = (l: string): void => void process.stderr.write(`[test setup] ${l}\n`);
  ensureHostTools(log);
  // Rebuilt every run (cached downloads make it quick) so demo.cfg names the kernel apt resolves today.
  buildDefaultGuest();
  fetchKernel('cloud', CACHE, log);
  fetchKernel('generic', CACHE, log);
}
