/*
 * Constants and layouts used by the trap/descriptor code (src/domains/traps.ts,
 * src/domains/cpuid-policy.ts, src/hypercall/descriptors.ts) that
 * test/native/xen-offsets.c does not print, from the installed Xen headers.
 *
 * Build: gcc -D__XEN_TOOLS__ -o traps-offsets traps-offsets.c
 * Output: "name value" lines, decimal (same format as xen-offsets.c).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <xen/xen.h>
#include <xen/callback.h>
#include <xen/arch-x86/cpuid.h>

#define OFF(s, f) printf("%s.%s %zu\n", #s, #f, offsetof(struct s, f))
#define SIZE(s) printf("sizeof.%s %zu\n", #s, sizeof(struct s))
#define CONST(c) printf("%s %llu\n", #c, (unsigned long long)(c))

int main(void)
{
    OFF(trap_info, vector);
    OFF(trap_info, flags);
    OFF(trap_info, cs);
    OFF(trap_info, address);
    SIZE(trap_info);
    OFF(iret_context, rax);
    OFF(iret_context, r11);
    OFF(iret_context, rcx);
    OFF(iret_context, flags);
    OFF(iret_context, rip);
    OFF(iret_context, cs);
    OFF(iret_context, rflags);
    OFF(iret_context, rsp);
    OFF(iret_context, ss);
    SIZE(iret_context);
    OFF(callback_register, type);
    OFF(callback_register, flags);
    OFF(callback_register, address);
    SIZE(callback_register);
    OFF(callback_unregister, type);
    SIZE(callback_unregister);
    OFF(vcpu_info, evtchn_upcall_pending);
    OFF(vcpu_info, evtchn_upcall_mask);
    OFF(vcpu_info, arch.cr2);

    CONST(CALLBACKOP_register);
    CONST(CALLBACKOP_unregister);
    CONST(CALLBACKTYPE_event);
    CONST(CALLBACKTYPE_failsafe);
    CONST(CALLBACKTYPE_syscall);
    CONST(CALLBACKTYPE_sysenter_deprecated);
    CONST(CALLBACKTYPE_nmi);
    CONST(CALLBACKTYPE_sysenter);
    CONST(CALLBACKTYPE_syscall32);
    CONST(CALLBACKF_mask_events);
    CONST(SEGBASE_FS);
    CONST(SEGBASE_GS_USER);
    CONST(SEGBASE_GS_KERNEL);
    CONST(SEGBASE_GS_USER_SEL);
    CONST(FIRST_RESERVED_GDT_PAGE);
    CONST(FIRST_RESERVED_GDT_ENTRY);
    CONST(FLAT_KERNEL_CS);
    CONST(FLAT_KERNEL_SS);
    CONST(FLAT_USER_CS32);
    CONST(VGCF_in_syscall);
    CONST(VGCF_syscall_disables_events);
    CONST(VGCF_failsafe_disables_events);
    CONST(XEN_CPUID_SIGNATURE_EBX);
    CONST(XEN_CPUID_SIGNATURE_ECX);
    CONST(XEN_CPUID_SIGNATURE_EDX);
    CONST(XEN_CPUID_FEAT1_MMU_PT_UPDATE_PRESERVE_AD);
    CONST(XEN_CPUID_MAX_NUM_LEAVES);
    return 0;
}
