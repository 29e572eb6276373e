/** The `xenjs` command as a user runs it: exit codes and one-line errors. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IMAGES, REPO } from './helpers/images.ts';

const cli = join(REPO, 'bin', 'xenjs.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
const tmp = mkdtempSync(join(tmpdir(), 'xenjs-cli-'));

function oneLineError(r: ReturnType<typeof run>): string {
  expect(r.status).toBe(1);
  const err = r.stderr.trimEnd();
  expect(err.split('\n')).toHaveLength(1);
  expect(err).not.toMatch(/\n\s+at /);
  return err;
}

describe('xenjs boot', () => {
  it('runs the default guest: the kernel\'s first console_io lines appear, --max-insns stops it', () => {
    const r = run('boot', '--max-insns', '3000000', join(IMAGES, 'demo.cfg'), 'extra="console=hvc0 earlyprintk=xen"');
    // linux arch/x86/xen/enlighten_pv.c prints these through HYPERVISOR_console_io before anything else.
    expect(r.stdout).toContain('mapping kernel into physical memory\nabout to get started...');
    expect(r.stderr).toMatch(/stopped after --max-insns 3000000 while still running/);
    expect(r.status).toBe(2);
  });

  it('names file:line:col for a malformed config', () => {
    const f = join(tmp, 'bad.cfg');
    writeFileSync(f, 'name = "x"\nmemory = 12x\n');
    expect(oneLineError(run('boot', f))).toMatch(new RegExp(`^xenjs: ${f}:2:\\d+: `));
  });

  it('refuses a Python xm config with a message saying so', () => {
    const f = join(tmp, 'xm.cfg');
    writeFileSync(f, 'import os\nname = "vm1"\nkernel = "/boot/vmlinuz-" + os.uname()[2]\n');
    expect(oneLineError(run('boot', f))).toMatch(/xm \(Python\) config/);
  });

  it('names <command line> for a bad override', () => {
    expect(oneLineError(run('boot', join(IMAGES, 'demo.cfg'), 'memory=abc'))).toMatch(/^xenjs: <command line>:1:\d+: /);
  });

  it('reports a missing kernel file by name', () => {
    const f = join(tmp, 'nokernel.cfg');
    writeFileSync(f, `name = "x"\nkernel = "${join(tmp, 'missing-vmlinuz')}"\n`);
    expect(oneLineError(run('boot', f))).toContain(`${join(tmp, 'missing-vmlinuz')}: cannot read kernel: no such file`);
  });

  it('reports a missing config file', () => {
    expect(oneLineError(run('boot', join(tmp, 'none.cfg')))).toMatch(/none\.cfg: cannot read config file: no such file/);
  });

  it('unknown command and usage exit 2', () => {
    expect(run('frobnicate').status).toBe(2);
    expect(run().status).toBe(2);
    expect(run('help').status).toBe(0);
  });
});
