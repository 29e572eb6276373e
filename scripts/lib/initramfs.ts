/** The default guest's initramfs: static busybox and our /init, as a gzipped newc cpio. */
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { S_IFCHR, S_IFDIR, S_IFREG, writeCpio, type CpioEntry } from '../../src/devices/cpio.ts';

/** The marker line tests and benchmarks wait for. */
export const BOOT_MARKER = 'XENJS-BOOT-OK';

export const INIT_SCRIPT = `#!/bin/busybox sh
# xenjs default guest: mount the kernel filesystems, announce the boot, give a shell.
# /sbin (first in PATH) holds poweroff/reboot that act at once: PID 1 is this script, not an init.
/bin/busybox --install -s /bin
export PATH=/sbin:/bin HOME=/root TERM=\${TERM:-vt100}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
hostname xenjs
read UP IDLE < /proc/uptime
echo "${BOOT_MARKER} uptime=\${UP} kernel=\$(uname -r)"
export PS1='\\h:\\w# '
# cttyhack gives the shell the console as its controlling terminal (job control, Ctrl-C).
setsid cttyhack sh -l
echo "xenjs: shell exited, powering off"
poweroff -f
`;

export function buildInitramfs(busyboxPath: string): Uint8Array {
  const dir = (name: string): CpioEntry => ({ name, mode: S_IFDIR | 0o755 });
  const entries: CpioEntry[] = [
    dir('bin'),
    dir('sbin'),
    dir('dev'),
    dir('etc'),
    dir('proc'),
    dir('root'),
    dir('sys'),
    dir('tmp'),
    // The kernel opens /dev/console for init before devtmpfs is mounted.
    { name: 'dev/console', mode: S_IFCHR | 0o600, rdevMajor: 5, rdevMinor: 1 },
    { name: 'bin/busybox', mode: S_IFREG | 0o755, data: new Uint8Array(readFileSync(busyboxPath)) },
    { name: 'etc/passwd', mode: S_IFREG | 0o644, data: 'root:x:0:0:root:/root:/bin/sh\n' },
    { name: 'etc/group', mode: S_IFREG | 0o644, data: 'root:x:0:\n' },
    // The login shell reads this. Debian's busybox runs its own applets before PATH, and
    // its poweroff/reboot only signal an init (PID 1 here is /init, a script): act at once.
    {
      name: 'etc/profile',
      mode: S_IFREG | 0o644,
      data: 'poweroff() { sync; /bin/busybox poweroff -f; }\nhalt() { poweroff; }\nreboot() { sync; /bin/busybox reboot -f; }\n',
    },
    { name: 'init', mode: S_IFREG | 0o755, data: INIT_SCRIPT },
    // What the kernel runs for an orderly shutdown requested by the toolstack
    // (control/shutdown → orderly_poweroff → /sbin/poweroff): PID 1 is our script,
    // so busybox's signal-init poweroff would not work; power off directly.
    { name: 'sbin/poweroff', mode: S_IFREG | 0o755, data: '#!/bin/busybox sh\nsync\nexec /bin/busybox poweroff -f\n' },
    { name: 'sbin/reboot', mode: S_IFREG | 0o755, data: '#!/bin/busybox sh\nsync\nexec /bin/busybox reboot -f\n' },
  ];
  return new Uint8Array(gzipSync(writeCpio(entries), { level: 9 }));
}
