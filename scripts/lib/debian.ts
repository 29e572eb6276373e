/**
 * Fetch Debian packages with `apt-get download` (the machine's own sources,
 * never a named mirror) into a cache, and unpack them with dpkg-deb.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

export class SetupError extends Error {
  override name = 'SetupError';
}

export interface Log {
  (line: string): void;
}

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

function aptListsPresent(): boolean {
  const dir = '/var/lib/apt/lists';
  try {
    return readdirSync(dir).some((f) => f.includes('Packages'));
  } catch {
    return false;
  }
}

function aptUpdate(log: Log): void {
  if (!isRoot()) {
    throw new SetupError("apt's package lists are missing or stale: run `sudo apt-get update`, then `npm run images`");
  }
  log('apt-get update (package lists are missing or stale)');
  const r = spawnSync('apt-get', ['update', '-q'], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new SetupError('`apt-get update` failed: are you offline? Connect, then run `npm run images`');
}

export function checkApt(log: Log): void {
  if (!have('apt-get') || !have('apt-cache') || !have('dpkg-deb')) {
    throw new SetupError(
      'apt-get/dpkg-deb not found: the default guest is built from Debian packages, so run this on Debian 12 (or set XENJS_SKIP_IMAGES=1 to skip)',
    );
  }
  if (!aptListsPresent()) aptUpdate(log);
}

/** The concrete package a metapackage depends on, e.g. linux-image-cloud-amd64 → linux-image-6.1.0-50-cloud-amd64. */
export function resolveDepends(meta: string, pattern: RegExp, log: Log): string {
  for (let attempt = 0; attempt < 2; attempt++) {
    const r = spawnSync('apt-cache', ['depends', meta], { encoding: 'utf8' });
    if (r.status === 0) {
      for (const line of r.stdout.split('\n')) {
        const m = /^\s*Depends:\s*(\S+)/.exec(line);
        if (m && pattern.test(m[1]!)) return m[1]!;
      }
    }
    if (attempt === 0) aptUpdate(log);
  }
  throw new SetupError(`apt does not know ${meta}: check /etc/apt/sources.list has Debian 12 (bookworm) main, run apt-get update`);
}

/** Download a package into `cacheDir` unless a .deb of it is already there; returns the .deb path. */
export function downloadPackage(pkg: string, cacheDir: string, log: Log): string {
  mkdirSync(cacheDir, { recursive: true });
  const cached = findDeb(pkg, cacheDir);
  if (cached) {
    log(`${pkg}: cached (${(statSync(cached).size / 1048576).toFixed(1)} MiB)`);
    return cached;
  }
  for (let attempt = 0; attempt < 2; attempt++) {
    log(`${pkg}: downloading with apt-get download`);
    // Download into a scratch dir so an interrupted download never looks cached.
    const tmp = join(cacheDir, '.partial');
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    const r = spawnSync('apt-get', ['download', '-o', 'APT::Sandbox::User=root', pkg], {
      cwd: tmp,
      stdio: ['ignore', 'inherit', 'pipe'],
      encoding: 'utf8',
    });
    const deb = findDeb(pkg, tmp);
    if (r.status === 0 && deb) {
      const dest = join(cacheDir, deb.slice(tmp.length + 1));
      renameSync(deb, dest);
      rmSync(tmp, { recursive: true, force: true });
      log(`${pkg}: ${(statSync(dest).size / 1048576).toFixed(1)} MiB`);
      return dest;
    }
    const err = (r.stderr ?? '').split('\n').filter((l) => l.startsWith('E:'));
    if (attempt === 0 && err.some((l) => /Unable to locate|Failed to fetch|404/.test(l)) && isRoot()) {
      aptUpdate(log);
      continue;
    }
    throw new SetupError(
      `apt-get download ${pkg} failed${err.length ? ` (${err[0]!.slice(3).trim()})` : ''}: are you offline? Connect (and run apt-get update), then \`npm run images\``,
    );
  }
  throw new SetupError(`apt-get download ${pkg} failed`);
}

function findDeb(pkg: string, dir: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  const f = readdirSync(dir).find((n) => n.startsWith(`${pkg}_`) && n.endsWith('.deb'));
  return f ? join(dir, f) : undefined;
}

/** Unpack a .deb's files into `dest` (once; a marker file records completion). */
export function unpackDeb(deb: string, dest: string, only?: string): string {
  const marker = join(dest, '.unpacked');
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(deb).mtimeMs) return dest;
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest, { recursive: true });
  // `only` limits extraction to one directory of the package (a kernel's modules are 400 MB).
  const r = only
    ? spawnSync('sh', ['-c', 'dpkg-deb --fsys-tarfile "$1" | tar -xf - -C "$2" "./$3"', 'sh', deb, dest, only], {
        stdio: ['ignore', 'ignore', 'pipe'],
        encoding: 'utf8',
      })
    : spawnSync('dpkg-deb', ['-x', deb, dest], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new SetupError(`unpacking ${deb} failed: ${r.stderr.trim().split('\n')[0]} (delete it and retry)`);
  spawnSync('touch', [marker]);
  return dest;
}

/** Fetch a kernel flavour: "cloud" (linux-image-cloud-amd64) or "generic" (linux-image-amd64). */
export function fetchKernel(flavour: 'cloud' | 'generic', cacheRoot: string, log: Log): { path: string; release: string } {
  checkApt(log);
  const meta = flavour === 'cloud' ? 'linux-image-cloud-amd64' : 'linux-image-amd64';
  const pkg = resolveDepends(meta, /^linux-image-\d/, log);
  log(`${meta} -> ${pkg}`);
  const deb = downloadPackage(pkg, join(cacheRoot, 'debs'), log);
  const root = unpackDeb(deb, join(cacheRoot, pkg), 'boot');
  const bootDir = join(root, 'boot');
  const vmlinuz = readdirSync(bootDir).find((n) => n.startsWith('vmlinuz-'));
  if (!vmlinuz) throw new SetupError(`${deb} has no /boot/vmlinuz-*: delete it and retry`);
  return { path: join(bootDir, vmlinuz), release: vmlinuz.slice('vmlinuz-'.length) };
}

/** Fetch busybox-static; returns the path of the static busybox binary. */
export function fetchBusybox(cacheRoot: string, log: Log): string {
  checkApt(log);
  const deb = downloadPackage('busybox-static', join(cacheRoot, 'debs'), log);
  const root = unpackDeb(deb, join(cacheRoot, 'busybox-static'));
  const bin = join(root, 'bin', 'busybox');
  if (!existsSync(bin)) throw new SetupError(`${deb} has no /bin/busybox: delete it and retry`);
  return bin;
}
