/** `xenjs inspect KERNEL`: what the loader found, one fact a line. */
import { loadKernelFile, type LoadedKernel } from '../domains/kernel-loader.ts';

const hex = (v: bigint | number): string => '0x' + v.toString(16);

function flagString(f: number): string {
  return (f & 4 ? 'R' : '-') + (f & 2 ? 'W' : '-') + (f & 1 ? 'X' : '-');
}

export function describeKernel(k: LoadedKernel): string[] {
  const lines: string[] = [];
  const guestType = k.isXenPv ? 'xen-pv (x86_64)' : 'not a Xen PV kernel (no Xen ELF notes)';
  lines.push(`guest type: ${guestType}`);
  lines.push(`container: ${k.container}${k.bootProtocol ? ` (boot protocol ${k.bootProtocol})` : ''}`);
  lines.push(`compression: ${k.compression}`);
  lines.push(`elf size: ${k.elf.data.length} bytes`);
  lines.push(`elf entry: ${hex(k.elf.entry)}`);
  lines.push(`entry: ${hex(k.virtEntry)}`);
  lines.push(`virt base: ${hex(k.virtBase)}`);
  lines.push(`paddr offset: ${hex(k.paddrOffset)}`);
  lines.push(`kernel span: ${hex(k.virtKstart)}-${hex(k.virtKend)} (paddr ${hex(k.pstart)}-${hex(k.pend)}, ${((k.pend - k.pstart) / 1048576).toFixed(1)} MiB)`);
  lines.push(`hypercall page: ${k.virtHypercall !== undefined ? hex(k.virtHypercall) : 'none (hypercalls are syscall instructions)'}`);
  k.segments.forEach((s, i) => {
    lines.push(
      `segment ${i}: paddr ${hex(s.paddr)} vaddr ${hex(s.vaddr)} filesz ${hex(s.filesz)} memsz ${hex(s.memsz)} ${flagString(s.flags)}`,
    );
  });
  lines.push(`notes from: ${k.noteSource}`);
  for (const n of k.notes.entries) lines.push(`note ${n.name} (${n.type}): ${n.value}`);
  if (k.notes.featuresRequired.length) lines.push(`features required: ${k.notes.featuresRequired.join(' ')}`);
  if (k.notes.featuresSupported.length) lines.push(`features supported: ${k.notes.featuresSupported.join(' ')}`);
  return lines;
}

export function inspectCommand(args: string[], out: (s: string) => void): number {
  if (args.length !== 1) {
    out('usage: xenjs inspect KERNEL');
    return 2;
  }
  const k = loadKernelFile(args[0]!);
  for (const line of describeKernel(k)) out(line);
  return 0;
}
