/** The `xenjs` command: argument parsing and dispatch. No hypervisor logic lives here. */
import { UserError } from '../errors.ts';
import { inspectCommand } from './inspect.ts';
import { bootCommand } from './boot.ts';
import { runElfCommand } from './run-elf.ts';

const USAGE = `usage: xenjs <command> [args]

commands:
  boot CONFIG [key=value ...]   create a domain from an xl-style config and attach to its console
  inspect KERNEL                show what the kernel loader finds in a kernel image
  run-elf PROGRAM [ARGS...]     run a static x86-64 Linux program on the xenjs CPU (like qemu-user)
  help                          this text`;

export async function main(argv: string[]): Promise<number> {
  const out = (s: string): void => void process.stdout.write(s + '\n');
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'boot':
        return await bootCommand(rest, out);
      case 'inspect':
        return inspectCommand(rest, out);
      case 'run-elf':
        return await runElfCommand(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        out(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        process.stderr.write(`xenjs: unknown command '${cmd}' (try 'xenjs help')\n`);
        return 2;
    }
  } catch (e) {
    if (e instanceof UserError) {
      process.stderr.write(`xenjs: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
