/**
 * The host tools the tests use as independent truth (binutils, gcc, lz4, xz,
 * zstd, qemu) or as a terminal (script). Missing ones are installed with apt-get when we are root,
 * otherwise the run stops with the command to type.
 */
import { spawnSync } from 'node:child_process';

/** command → Debian package that provides it */
export const HOST_TOOLS: Record<string, string> = {
  readelf: 'binutils',
  nm: 'binutils',
  objdump: 'binutils',
  gcc: 'gcc',
  lz4: 'lz4',
  xz: 'xz-utils',
  zstd: 'zstd',
  gzip: 'gzip',
  cpio: 'cpio',
  'qemu-system-x86_64': 'qemu-system-x86',
  script: 'bsdutils', // a pseudo-terminal for the console attach tests (test/attach.test.ts)
};

const have = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

export function ensureHostTools(log: (l: string) => void): void {
  const missing = [...new Set(Object.entries(HOST_TOOLS).filter(([c]) => !have(c)).map(([, p]) => p))];
  if (missing.length === 0) return;
  const cmd = `apt-get install -y --no-install-recommends ${missing.join(' ')} libc6-dev`;
  if (process.getuid?.() !== 0) throw new Error(`the tests need host tools that are missing: run \`sudo ${cmd}\``);
  log(`installing ${missing.join(', ')}`);
  const r = spawnSync('sh', ['-c', `DEBIAN_FRONTEND=noninteractive ${cmd} || (apt-get update -q && DEBIAN_FRONTEND=noninteractive ${cmd})`], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (r.status !== 0) throw new Error(`could not install ${missing.join(' ')}: run \`${cmd}\` by hand`);
}
