/**
 * `xenjs run-elf [--trace-syscalls] PROGRAM [ARGS…]`: run a static x86-64
 * Linux program on the xenjs CPU with the host's stdin/stdout/stderr, like
 * qemu-user. Exits with the program's status (128 + signal when it dies).
 */
import { writeSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { LinuxProcess, LoadError } from '../linux-user/process.ts';

export const RUN_ELF_USAGE = 'usage: xenjs run-elf [--trace-syscalls] PROGRAM [ARGS...]';

export async function runElfCommand(args: string[]): Promise<number> {
  let trace: boolean | 'all' = process.env.XENJS_TRACE ? (process.env.XENJS_TRACE === 'all' ? 'all' : true) : false;
  let k = 0;
  for (; k < args.length; k++) {
    const a = args[k]!;
    if (a === '--trace-syscalls') trace = trace === 'all' ? 'all' : true;
    else if (a === '--trace-all-syscalls') trace = 'all';
    else if (a === '--') {
      k++;
      break;
    } else if (a === '-h' || a === '--help') {
      process.stdout.write(RUN_ELF_USAGE + '\n');
      return 0;
    } else if (a.startsWith('-')) {
      process.stderr.write(`xenjs run-elf: unknown option ${a}\n${RUN_ELF_USAGE}\n`);
      return 2;
    } else break;
  }
  const program = args[k];
  if (program === undefined) {
    process.stderr.write(RUN_ELF_USAGE + '\n');
    return 2;
  }
  const log = (l: string): void => void writeErr(`xenjs run-elf: ${l}\n`);
  let p: LinuxProcess;
  try {
    p = new LinuxProcess({ path: program, argv: [program, ...args.slice(k + 1)], trace, log });
  } catch (e) {
    if (e instanceof LoadError) {
      writeErr(`xenjs run-elf: ${e.message}\n`);
      return 127;
    }
    throw e;
  }
  const r = p.run();
  if (process.env.XENJS_STATS) writeErr(`xenjs run-elf: ${r.icount} instructions\n`);
  return r.status;
}

/** Synchronous stderr (the guest writes fd 2 synchronously too; keep the order). */
function writeErr(s: string): void {
  try {
    writeSync(2, s);
  } catch {
    /* stderr closed */
  }
}

// Runnable on its own (`npx tsx src/cli/run-elf.ts PROGRAM …`) until the main dispatcher has the command.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runElfCommand(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`xenjs run-elf: internal error: ${(e as Error).stack ?? e}\n`);
      process.exit(70);
    },
  );
}
