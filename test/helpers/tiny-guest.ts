/**
 * A tiny 64-bit PV guest for lifecycle and console tests, built with gcc
 * from the assembly below (an ELF with a .note.Xen section, as Mini-OS has):
 * it boots in a few hundred instructions and does what its command line's
 * first character says.
 *
 * It always starts by printing, through HYPERVISOR_console_io,
 *   "tiny: hello\n" and "tiny: cmdline <cmdline>\n".
 * Then, by the first character of the command line:
 *   '0'..'5'  print "tiny: shutdown <c>\n" and SCHEDOP_shutdown with that reason
 *             (0 poweroff, 1 reboot, 3 crash — printing "tiny: panic: oh no" first —, 4 watchdog)
 *   'e'       echo: print "tiny: echo ready\n", then copy every byte that arrives
 *             on the hvc0 input ring to the hvc0 output ring (found through the M2P
 *             from start_info.console.domU.mfn) and notify the console event channel.
 *             Printable bytes, \r and \n are echoed as they are, others as "<XX>"
 *             (so Ctrl-C shows as "<03>"); 'q' is echoed, then the guest prints
 *             "tiny: bye\n" and powers off.
 *   's'       spin forever (a busy guest: budgets, destroy, pause)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SOURCE = `
  .section .note.Xen,"a",@note
  .balign 4
  .long 4, 8, 1          /* XEN_ELFNOTE_ENTRY */
  .asciz "Xen"
  .quad _start
  .long 4, 8, 6          /* XEN_ELFNOTE_GUEST_OS */
  .asciz "Xen"
  .asciz "tinyos"
  .balign 4
  .long 4, 8, 5          /* XEN_ELFNOTE_XEN_VERSION */
  .asciz "Xen"
  .asciz "xen-3.0"
  .balign 4
  .long 4, 8, 3          /* XEN_ELFNOTE_VIRT_BASE */
  .asciz "Xen"
  .quad 0

  .data
reason: .long 0
port:   .long 0
hexd:   .ascii "0123456789abcdef"
hello:  .asciz "tiny: hello\\n"
cmdl:   .asciz "tiny: cmdline "
nl:     .asciz "\\n"
shut:   .asciz "tiny: shutdown "
panic:  .asciz "tiny: panic: oh no\\n"
ready:  .asciz "tiny: echo ready\\n"
bye:    .asciz "tiny: bye\\n"
char:   .byte 0, 0

  .text
  .globl _start
_start:
  mov %rsi, %r12               /* start_info */
  lea hello(%rip), %rdi
  call puts_io
  lea cmdl(%rip), %rdi
  call puts_io
  lea 128(%r12), %rdi          /* start_info.cmd_line */
  call puts_io
  lea nl(%rip), %rdi
  call puts_io
  movzbl 128(%r12), %ebx
  cmp $'e', %bl
  je echo
  cmp $'s', %bl
  je spin
  cmp $'0', %bl
  jb spin
  cmp $'5', %bl
  ja spin
  lea shut(%rip), %rdi
  call puts_io
  lea 128(%r12), %rdi
  movb $0, 1(%rdi)             /* print just the first character */
  call puts_io
  lea nl(%rip), %rdi
  call puts_io
  sub $'0', %ebx
  cmp $3, %ebx
  jne 1f
  lea panic(%rip), %rdi
  call puts_io
1:
  mov %ebx, %edi
  call shutdown
spin:
  jmp spin

/* SCHEDOP_shutdown with the reason in %edi; never returns. */
shutdown:
  mov %edi, reason(%rip)
  mov $2, %edi                 /* SCHEDOP_shutdown */
  lea reason(%rip), %rsi
  mov $29, %eax                /* __HYPERVISOR_sched_op */
  syscall
  jmp spin

/* console_io(CONSOLEIO_write, strlen(s), s) for the NUL-terminated string at %rdi. */
puts_io:
  mov %rdi, %rdx
  xor %esi, %esi
2:
  cmpb $0, (%rdx,%rsi)
  je 3f
  inc %rsi
  jmp 2b
3:
  xor %edi, %edi               /* CONSOLEIO_write */
  mov $18, %eax                /* __HYPERVISOR_console_io */
  syscall
  ret

echo:
  mov 72(%r12), %rax           /* start_info.console.domU.mfn */
  movabs $0xffff800000000000, %rcx
  mov (%rcx,%rax,8), %rax      /* machine_to_phys_mapping[mfn] */
  shl $12, %rax                /* the initial mapping: VA = PFN << 12 (virt_base 0) */
  mov %rax, %r13               /* struct xencons_interface */
  mov 80(%r12), %eax           /* start_info.console.domU.evtchn */
  mov %eax, port(%rip)
  lea ready(%rip), %rdi
  call puts_io
4:
  mov 3072(%r13), %ecx         /* in_cons */
  mov 3076(%r13), %edx         /* in_prod */
  cmp %ecx, %edx
  jne 5f
  xor %edi, %edi               /* SCHEDOP_yield */
  xor %esi, %esi
  mov $29, %eax
  syscall
  jmp 4b
5:
  mov %ecx, %eax
  and $1023, %eax
  movzbl (%r13,%rax), %ebx     /* in[in_cons & 1023] */
  inc %ecx
  mov %ecx, 3072(%r13)
  cmp $'\\n', %bl
  je 6f
  cmp $'\\r', %bl
  je 6f
  cmp $0x20, %bl
  jb 7f
  cmp $0x7e, %bl
  ja 7f
6:
  mov %ebx, %edi
  call putc
  jmp 8f
7:
  mov $'<', %edi
  call putc
  mov %ebx, %eax
  shr $4, %eax
  lea hexd(%rip), %rdx
  movzbl (%rdx,%rax), %edi
  call putc
  mov %ebx, %eax
  and $15, %eax
  lea hexd(%rip), %rdx
  movzbl (%rdx,%rax), %edi
  call putc
  mov $'>', %edi
  call putc
8:
  call notify
  cmp $'q', %bl
  jne 4b
  lea bye(%rip), %rdi
  call puts_io
  xor %edi, %edi               /* SHUTDOWN_poweroff */
  call shutdown

/* Append the byte in %dil to out[] and bump out_prod (waiting while the ring is full). */
putc:
  mov 3084(%r13), %eax         /* out_prod */
  mov 3080(%r13), %edx         /* out_cons */
  mov %eax, %ecx
  sub %edx, %ecx
  cmp $2048, %ecx
  jb 9f
  push %rdi
  call notify
  pop %rdi
  jmp putc
9:
  mov %eax, %edx
  and $2047, %edx
  mov %dil, 1024(%r13,%rdx)
  inc %eax
  mov %eax, 3084(%r13)
  ret

/* EVTCHNOP_send on the console port. */
notify:
  mov $4, %edi                 /* EVTCHNOP_send */
  lea port(%rip), %rsi
  mov $32, %eax                /* __HYPERVISOR_event_channel_op */
  syscall
  ret
`;

let built: string | undefined;

/** Build the tiny guest once per process; returns the ELF's path. */
export function tinyGuest(): string {
  if (built && existsSync(built)) return built;
  const dir = mkdtempSync(join(tmpdir(), 'xenjs-tiny-'));
  const src = join(dir, 'tiny.S');
  const out = join(dir, 'tiny.elf');
  writeFileSync(src, SOURCE);
  execFileSync('gcc', ['-nostdlib', '-static', '-no-pie', '-Wl,--build-id=none', '-o', out, src]);
  built = out;
  return out;
}

/** An xl config (as an object of xl keys) for the tiny guest; `extra` is its command line. */
export function tinyConfig(extra: string, more: Record<string, string | number> = {}): Record<string, string | number> {
  return { name: 'tiny', kernel: tinyGuest(), memory: 8, extra, ...more };
}
