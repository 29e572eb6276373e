/**
 * `xenjs boot CONFIG [key=value ...]`: create a domain from an xl config and
 * attach to its console. Until the CPU exists (issue #3) it checks the config,
 * the kernel and the ramdisk, then says plainly that it cannot boot yet.
 */
import { statSync } from 'node:fs';
import { UserError } from '../errors.ts';
import { loadDomainConfig } from '../domains/domain-config.ts';
import { loadKernelFile } from '../domains/kernel-loader.ts';

export async function bootCommand(args: string[], out: (s: string) => void): Promise<number> {
  const [file, ...overrides] = args;
  if (!file) {
    out('usage: xenjs boot CONFIG [key=value ...]');
    return 2;
  }
  const cfg = loadDomainConfig(file, overrides);
  for (const w of cfg.warnings) process.stderr.write(`xenjs: ${w}\n`);
  if (!cfg.kernel) throw new UserError(`${file}: no kernel given (add kernel = "/path/to/vmlinuz")`);
  const kernel = loadKernelFile(cfg.kernel);
  if (!kernel.isXenPv) {
    throw new UserError(`${cfg.kernel}: this kernel has no Xen ELF notes, so it cannot boot as a PV guest (build it with CONFIG_XEN_PV)`);
  }
  if (cfg.ramdisk) {
    try {
      statSync(cfg.ramdisk);
    } catch {
      throw new UserError(`${cfg.ramdisk}: cannot read ramdisk: no such file`);
    }
  }
  out(`domain "${cfg.name}": ${cfg.memory} MiB, ${cfg.vcpus} vCPU${cfg.vcpus > 1 ? 's' : ''}, kernel entry 0x${kernel.virtEntry.toString(16)} (${kernel.compression})`);
  process.stderr.write('xenjs: booting is not implemented yet: the x86-64 CPU and the PV platform are still to come; the config and kernel were checked and are valid\n');
  return 3;
}
