/**
 * Build the default guest (run by `npm install` and `npm run images`):
 * Debian 12's cloud kernel + a busybox initramfs + images/demo.cfg.
 * Options: --generic also fetches linux-image-amd64 (XZ kernel, used by tests).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fetchBusybox, fetchKernel, SetupError } from './lib/debian.ts';
import { buildInitramfs } from './lib/initramfs.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const IMAGES_DIR = join(repo, 'images');
export const CACHE_DIR = join(IMAGES_DIR, 'cache');

const log = (line: string): void => void process.stderr.write(`[xenjs images] ${line}\n`);

export function buildDefaultGuest(): { kernel: string; initramfs: string; config: string } {
  mkdirSync(CACHE_DIR, { recursive: true });
  const kernel = fetchKernel('cloud', CACHE_DIR, log);
  const busybox = fetchBusybox(CACHE_DIR, log);
  const initramfs = join(IMAGES_DIR, 'initramfs.cpio.gz');
  const img = buildInitramfs(busybox);
  writeFileSync(initramfs, img);
  log(`wrote ${initramfs} (${(img.length / 1024).toFixed(0)} KiB)`);
  const config = join(IMAGES_DIR, 'demo.cfg');
  writeFileSync(
    config,
    [
      '# xenjs default guest (written by `npm run images`): Debian 12 cloud kernel + busybox initramfs',
      `name = "demo"`,
      `kernel = "${kernel.path}"`,
      `ramdisk = "${initramfs}"`,
      'memory = 256',
      'vcpus = 1',
      'extra = "console=hvc0"',
      '',
    ].join('\n'),
  );
  log(`wrote ${config} (kernel ${kernel.release})`);
  return { kernel: kernel.path, initramfs, config };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.env.XENJS_SKIP_IMAGES) {
    log('XENJS_SKIP_IMAGES is set: not building the default guest');
  } else {
    try {
      buildDefaultGuest();
      if (process.argv.includes('--generic')) fetchKernel('generic', CACHE_DIR, log);
    } catch (e) {
      if (e instanceof SetupError) {
        process.stderr.write(`xenjs images: ${e.message}\n`);
        process.exit(1);
      }
      throw e;
    }
  }
}
