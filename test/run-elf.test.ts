/**
 * `xenjs run-elf`: static x86-64 Linux programs on the xenjs CPU must behave
 * exactly like the same programs run natively on the host. The truth is the
 * host itself: Debian's busybox-static and C programs built here with
 * `gcc -O2 -static` run natively with the same arguments and input, and
 * stdout and the exit status must be identical.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxBinary, REPO } from './helpers/images.ts';

/** The real command: `xenjs run-elf …` (bin/xenjs.js loads the sources through tsx). */
const XENJS = join(REPO, 'bin/xenjs.js');
let work: string;
let busybox: string;

interface Run {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Run `argv` under `xenjs run-elf`. */
function guest(argv: string[], input?: Buffer | string, extra: string[] = []): Run {
  const r = spawnSync(process.execPath, [XENJS, 'run-elf', ...extra, ...argv], {
    input: input ?? '',
    cwd: work,
    maxBuffer: 64 << 20,
    env: { ...process.env, LC_ALL: 'C', XENJS_TRACE: '' },
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

function native(argv: string[], input?: Buffer | string): Run {
  const r = spawnSync(argv[0]!, argv.slice(1), { input: input ?? '', cwd: work, maxBuffer: 64 << 20, env: { ...process.env, LC_ALL: 'C' } });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** Same stdout and status under run-elf as natively; returns the output. */
function same(argv: string[], input?: Buffer | string): Buffer {
  const n = native(argv, input);
  const g = guest(argv, input);
  expect(g.stderr, `stderr of ${argv.join(' ')}`).toBe(n.stderr);
  expect(g.stdout.toString('latin1'), `stdout of ${argv.join(' ')}`).toBe(n.stdout.toString('latin1'));
  expect(g.status, `status of ${argv.join(' ')}`).toBe(n.status);
  return g.stdout;
}

/** Deterministic text: `lines` lines of words and numbers. */
function text(lines: number, seed = 1): string {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'Echo', 'fox', 'golf', 'hotel', 'India', 'juliet', 'kilo', 'lima', 'zulu', 'x'];
  let s = seed >>> 0 || 1;
  const next = (): number => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>>= 0);
  };
  const out: string[] = [];
  for (let k = 0; k < lines; k++) {
    const n = 1 + (next() % 6);
    const f: string[] = [];
    for (let j = 0; j < n; j++) f.push(next() % 3 === 0 ? String((next() % 200000) - 50000) : words[next() % words.length]!);
    out.push(f.join(next() % 4 === 0 ? '\t' : ' '));
  }
  return out.join('\n') + '\n';
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'xenjs-run-elf-'));
  busybox = busyboxBinary();
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('run-elf: busybox applets match native busybox', () => {
  it('echo', () => {
    same([busybox, 'echo', 'hello', 'world']);
    same([busybox, 'echo', '-n', 'no newline']);
    same([busybox, 'echo', '-e', 'tab\\there\\nnew line \\x41\\0101 \\\\ end']);
  });

  it('printf', () => {
    same([busybox, 'printf', '%s|%d|%x|%o|%5.2f|%e|%g|%c|%%\\n', 'abc', '42', '255', '8', '3.14159', '12345.678', '0.0001', 'Z']);
    same([busybox, 'printf', '%-8s|%08.3f|%+d|%u|%X\\n', 'left', '-2.5', '7', '4294967295', '48879']);
    same([busybox, 'printf', '%s %s\\n', 'a', 'b', 'c', 'd', 'e']);
  });

  it('sort', () => {
    const t = text(2000, 7);
    same([busybox, 'sort'], t);
    same([busybox, 'sort', '-n'], t);
    same([busybox, 'sort', '-r', '-k', '2'], t);
    same([busybox, 'sort', '-u', '-f'], t);
  });

  it('md5sum and sha256sum', () => {
    const data = Buffer.from(text(5000, 3));
    writeFileSync(join(work, 'data.txt'), data);
    same([busybox, 'md5sum'], data);
    same([busybox, 'sha256sum'], data);
    same([busybox, 'md5sum', 'data.txt']);
    same([busybox, 'sha256sum', 'data.txt']);
    same([busybox, 'md5sum'], '');
  });

  it('gzip -c | gzip -dc round trip', () => {
    const data = Buffer.from(text(10000, 11));
    const z = same([busybox, 'gzip', '-c'], data);
    expect(z.length).toBeLessThan(data.length / 2);
    const back = same([busybox, 'gzip', '-dc'], z);
    expect(back.equals(data)).toBe(true);
    // And through files.
    writeFileSync(join(work, 'in.txt'), data);
    const g = guest([busybox, 'gzip', '-c', 'in.txt']);
    expect(g.status).toBe(0);
    writeFileSync(join(work, 'in.txt.gz'), g.stdout);
    expect(guest([busybox, 'gzip', '-dc', 'in.txt.gz']).stdout.equals(data)).toBe(true);
  });

  it('awk', () => {
    const t = text(2000, 5);
    same([busybox, 'awk', '{ n++; w += NF; for (i = 1; i <= NF; i++) if ($i ~ /^-?[0-9]+$/) s += $i } END { printf "%d lines %d words sum %d avg %.4f\\n", n, w, s, s / n }'], t);
    same([busybox, 'awk', '{ c[$1]++ } END { for (k in c) print k, c[k] }'], text(500, 2));
    same([busybox, 'awk', 'BEGIN { x = sprintf("%08.3f|%e|%s", 3.14159, 1e100/3, toupper("abc")); print x, length(x), substr("hello", 2, 3), index("hello", "ll"); split("a:b:c", p, ":"); print p[3]; print 2^40, 7 % 3, int(-3.7), sqrt(2) }']);
    same([busybox, 'awk', '-F', '\t', 'NF > 1 { print NR ": " $2 }'], t);
  });

  it('sed', () => {
    const t = text(1500, 9);
    same([busybox, 'sed', '-e', 's/a/A/g', '-e', '/fox/d', '-e', '3,5p'], t);
    same([busybox, 'sed', '-n', 's/^\\([a-z]*\\) \\(-\\?[0-9]*\\)$/\\2 \\1/p'], t);
    same([busybox, 'sed', '-E', 's/([0-9]+)/<\\1>/2; y/abc/xyz/; $='], t);
  });

  it('expr', () => {
    same([busybox, 'expr', '12345', '*', '6789']);
    same([busybox, 'expr', '9223372036854775807', '/', '3']);
    same([busybox, 'expr', '-100', '%', '7']);
    same([busybox, 'expr', 'length', 'hello world']);
    same([busybox, 'expr', 'match', 'abcdef', 'a\\(.*\\)e']);
    same([busybox, 'expr', '5', '<', '3']);
    same([busybox, 'expr', 'substr', 'xenjs', '2', '3']);
  });
});

describe('run-elf: C programs built with gcc -O2 -static match their native runs', () => {
  const build = (name: string): string => {
    const out = join(work, name);
    const r = spawnSync('gcc', ['-O2', '-static', '-o', out, join(REPO, 'test/programs', `${name}.c`), '-lm'], { encoding: 'utf8' });
    expect(r.status, `gcc: ${r.stderr}`).toBe(0);
    return out;
  };

  for (const name of ['intmath', 'float', 'qsort', 'strings']) {
    it(name, () => {
      const exe = build(name);
      const out = same([exe]);
      expect(out.length).toBeGreaterThan(100);
    });
  }
});

describe('run-elf: the command line', () => {
  it('passes argv, environment and exit status', () => {
    const exe = join(work, 'args');
    writeFileSync(`${exe}.c`, '#include <stdio.h>\n#include <stdlib.h>\nint main(int c, char **v) { for (int i = 1; i < c; i++) printf("[%s]", v[i]); printf(" %s\\n", getenv("XENJS_TEST_VAR")); return c + 40; }\n');
    expect(spawnSync('gcc', ['-O2', '-static', '-o', exe, `${exe}.c`]).status).toBe(0);
    process.env.XENJS_TEST_VAR = 'value=1';
    try {
      const g = guest([exe, 'a b', '', 'c']);
      expect(g.stdout.toString()).toBe('[a b][][c] value=1\n');
      expect(g.status).toBe(44);
    } finally {
      delete process.env.XENJS_TEST_VAR;
    }
  });

  it('reports a missing file, a non-ELF file and a dynamic executable in one line', () => {
    const missing = guest([join(work, 'nope')]);
    expect(missing.status).not.toBe(0);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toMatch(/no such file/);

    writeFileSync(join(work, 'script.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
    const notElf = guest([join(work, 'script.sh')]);
    expect(notElf.status).not.toBe(0);
    expect(notElf.stderr).toMatch(/not an ELF file/);

    const dyn = join(work, 'dyn');
    writeFileSync(`${dyn}.c`, 'int main(void) { return 0; }\n');
    expect(spawnSync('gcc', ['-O2', '-o', dyn, `${dyn}.c`]).status).toBe(0);
    const d = guest([dyn]);
    expect(d.status).not.toBe(0);
    expect(d.stderr.trim()).toMatch(/dynamically linked programs are not supported; link with -static$/);
    expect(d.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('reports a fault with its signal, address and instruction bytes, and exits 128 + signal', () => {
    const exe = join(work, 'faults');
    writeFileSync(
      `${exe}.c`,
      '#include <string.h>\nint main(int c, char **v) { if (!strcmp(v[1], "ud2")) __asm__ volatile("ud2"); if (!strcmp(v[1], "segv")) *(volatile int *)16 = 1; return 3; }\n',
    );
    expect(spawnSync('gcc', ['-O2', '-static', '-o', exe, `${exe}.c`]).status).toBe(0);
    const ill = guest([exe, 'ud2']);
    expect(ill.status).toBe(128 + 4);
    expect(ill.stderr).toMatch(/SIGILL/);
    expect(ill.stderr).toMatch(/0f 0b/);
    const segv = guest([exe, 'segv']);
    expect(segv.status).toBe(128 + 11);
    expect(segv.stderr).toMatch(/SIGSEGV: page fault \(write unmapped\) at 0x10 /);
    expect(guest([exe, 'ok']).status).toBe(3);
  });

  it('--trace-syscalls names unimplemented syscalls', () => {
    const exe = join(work, 'nosys');
    writeFileSync(`${exe}.c`, '#include <unistd.h>\n#include <sys/syscall.h>\n#include <stdio.h>\nint main(void) { long r = syscall(SYS_io_setup, 1, 0); printf("%ld\\n", r); return 0; }\n');
    expect(spawnSync('gcc', ['-O2', '-static', '-o', exe, `${exe}.c`]).status).toBe(0);
    const g = guest([exe], '', ['--trace-syscalls']);
    expect(g.stdout.toString()).toBe('-1\n');
    expect(g.stderr).toMatch(/syscall 206 \(io_setup\)/);
    expect(readFileSync(exe).length).toBeGreaterThan(0);
  });
});
