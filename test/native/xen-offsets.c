/*
 * Prints the layout of the Xen public structures xenjs reads and writes, as
 * the installed Xen headers (libxen-dev, /usr/include/xen) define it for
 * x86_64, so tests can compare our constants with the headers rather than
 * with themselves.
 *
 * Build: gcc -D__XEN_TOOLS__ -o xen-offsets xen-offsets.c
 * (__XEN_TOOLS__ selects the latest interface version and exposes
 * start_info, as the toolstack sees it.)
 *
 * Output: one "name value" pair per line, value in decimal:
 *   <struct>.<field> <offset>     offsetof(struct <struct>, <field>)
 *   sizeof.<struct> <size>        sizeof(struct <struct>)
 *   <MACRO> <value>               a constant from the headers
 * Nested fields use dots as in C (start_info.console.domU.mfn).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <xen/xen.h>
#include <xen/callback.h>
#include <xen/event_channel.h>
#include <xen/grant_table.h>
#include <xen/memory.h>
#include <xen/physdev.h>
#include <xen/sched.h>
#include <xen/vcpu.h>
#include <xen/version.h>

#define OFF(s, f) printf("%s.%s %zu\n", #s, #f, offsetof(struct s, f))
#define SIZE(s) printf("sizeof.%s %zu\n", #s, sizeof(struct s))
#define CONST(c) printf("%s %llu\n", #c, (unsigned long long)(c))

int main(void)
{
    /* ---- start_info (xen.h) */
    OFF(start_info, magic);
    OFF(start_info, nr_pages);
    OFF(start_info, shared_info);
    OFF(start_info, flags);
    OFF(start_info, store_mfn);
    OFF(start_info, store_evtchn);
    OFF(start_info, console.domU.mfn);
    OFF(start_info, console.domU.evtchn);
    OFF(start_info, console.dom0.info_off);
    OFF(start_info, console.dom0.info_size);
    OFF(start_info, pt_base);
    OFF(start_info, nr_pt_frames);
    OFF(start_info, mfn_list);
    OFF(start_info, mod_start);
    OFF(start_info, mod_len);
    OFF(start_info, cmd_line);
    OFF(start_info, first_p2m_pfn);
    OFF(start_info, nr_p2m_frames);
    SIZE(start_info);
    CONST(MAX_GUEST_CMDLINE);
    CONST(SIF_PRIVILEGED);
    CONST(SIF_INITDOMAIN);
    CONST(SIF_MULTIBOOT_MOD);
    CONST(SIF_MOD_START_PFN);
    CONST(SIF_VIRT_P2M_4TOOLS);
    CONST(SIF_PM_MASK);

    /* ---- shared_info, vcpu_info, vcpu_time_info, arch_shared_info */
    OFF(shared_info, vcpu_info);
    OFF(shared_info, evtchn_pending);
    OFF(shared_info, evtchn_mask);
    OFF(shared_info, wc_version);
    OFF(shared_info, wc_sec);
    OFF(shared_info, wc_nsec);
    OFF(shared_info, wc_sec_hi);
    OFF(shared_info, arch);
    SIZE(shared_info);
    CONST(XEN_LEGACY_MAX_VCPUS);
    OFF(vcpu_info, evtchn_upcall_pending);
    OFF(vcpu_info, evtchn_upcall_mask);
    OFF(vcpu_info, evtchn_pending_sel);
    OFF(vcpu_info, arch);
    OFF(vcpu_info, arch.cr2);
    OFF(vcpu_info, time);
    SIZE(vcpu_info);
    OFF(vcpu_time_info, version);
    OFF(vcpu_time_info, tsc_timestamp);
    OFF(vcpu_time_info, system_time);
    OFF(vcpu_time_info, tsc_to_system_mul);
    OFF(vcpu_time_info, tsc_shift);
    OFF(vcpu_time_info, flags);
    SIZE(vcpu_time_info);
    CONST(XEN_PVCLOCK_TSC_STABLE_BIT);
    CONST(XEN_PVCLOCK_GUEST_STOPPED);
    OFF(arch_shared_info, max_pfn);
    OFF(arch_shared_info, pfn_to_mfn_frame_list_list);
    OFF(arch_shared_info, nmi_reason);
    OFF(arch_shared_info, p2m_cr3);
    OFF(arch_shared_info, p2m_vaddr);
    OFF(arch_shared_info, p2m_generation);
    SIZE(arch_shared_info);

    /* ---- trap_info, mmu_update, mmuext_op, multicall_entry */
    OFF(trap_info, vector);
    OFF(trap_info, flags);
    OFF(trap_info, cs);
    OFF(trap_info, address);
    SIZE(trap_info);
    OFF(mmu_update, ptr);
    OFF(mmu_update, val);
    SIZE(mmu_update);
    OFF(mmuext_op, cmd);
    OFF(mmuext_op, arg1.mfn);
    OFF(mmuext_op, arg1.linear_addr);
    OFF(mmuext_op, arg2.nr_ents);
    OFF(mmuext_op, arg2.vcpumask);
    OFF(mmuext_op, arg2.src_mfn);
    SIZE(mmuext_op);
    OFF(multicall_entry, op);
    OFF(multicall_entry, result);
    OFF(multicall_entry, args);
    SIZE(multicall_entry);

    /* ---- vcpu_guest_context and cpu_user_regs (arch-x86) */
    OFF(vcpu_guest_context, fpu_ctxt);
    OFF(vcpu_guest_context, flags);
    OFF(vcpu_guest_context, user_regs);
    OFF(vcpu_guest_context, trap_ctxt);
    OFF(vcpu_guest_context, ldt_base);
    OFF(vcpu_guest_context, ldt_ents);
    OFF(vcpu_guest_context, gdt_frames);
    OFF(vcpu_guest_context, gdt_ents);
    OFF(vcpu_guest_context, kernel_ss);
    OFF(vcpu_guest_context, kernel_sp);
    OFF(vcpu_guest_context, ctrlreg);
    OFF(vcpu_guest_context, debugreg);
    OFF(vcpu_guest_context, event_callback_eip);
    OFF(vcpu_guest_context, failsafe_callback_eip);
    OFF(vcpu_guest_context, syscall_callback_eip);
    OFF(vcpu_guest_context, vm_assist);
    OFF(vcpu_guest_context, fs_base);
    OFF(vcpu_guest_context, gs_base_kernel);
    OFF(vcpu_guest_context, gs_base_user);
    SIZE(vcpu_guest_context);
    CONST(VGCF_i387_valid);
    CONST(VGCF_in_kernel);
    CONST(VGCF_failsafe_disables_events);
    CONST(VGCF_syscall_disables_events);
    CONST(VGCF_online);
    CONST(VGCF_in_syscall);
    OFF(cpu_user_regs, r15);
    OFF(cpu_user_regs, r14);
    OFF(cpu_user_regs, r13);
    OFF(cpu_user_regs, r12);
    OFF(cpu_user_regs, rbp);
    OFF(cpu_user_regs, rbx);
    OFF(cpu_user_regs, r11);
    OFF(cpu_user_regs, r10);
    OFF(cpu_user_regs, r9);
    OFF(cpu_user_regs, r8);
    OFF(cpu_user_regs, rax);
    OFF(cpu_user_regs, rcx);
    OFF(cpu_user_regs, rdx);
    OFF(cpu_user_regs, rsi);
    OFF(cpu_user_regs, rdi);
    OFF(cpu_user_regs, error_code);
    OFF(cpu_user_regs, entry_vector);
    OFF(cpu_user_regs, rip);
    OFF(cpu_user_regs, cs);
    OFF(cpu_user_regs, saved_upcall_mask);
    OFF(cpu_user_regs, rflags);
    OFF(cpu_user_regs, rsp);
    OFF(cpu_user_regs, ss);
    OFF(cpu_user_regs, es);
    OFF(cpu_user_regs, ds);
    OFF(cpu_user_regs, fs);
    OFF(cpu_user_regs, gs);
    SIZE(cpu_user_regs);
    CONST(FLAT_KERNEL_CS);
    CONST(FLAT_KERNEL_SS);
    CONST(FLAT_KERNEL_DS);
    CONST(FLAT_KERNEL_CS64);
    CONST(FLAT_KERNEL_SS64);
    CONST(FLAT_KERNEL_DS64);
    CONST(FLAT_USER_CS64);
    CONST(FLAT_USER_SS64);
    CONST(FLAT_USER_DS64);
    CONST(FLAT_USER_CS32);
    CONST(FLAT_USER_DS32);
    CONST(HYPERVISOR_VIRT_START);
    CONST(HYPERVISOR_VIRT_END);
    CONST(MACH2PHYS_VIRT_START);
    CONST(MACH2PHYS_VIRT_END);

    /* ---- iret_context (HYPERVISOR_iret's frame) */
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
    CONST(VGCF_IN_SYSCALL);

    /* ---- callbacks */
    OFF(callback_register, type);
    OFF(callback_register, flags);
    OFF(callback_register, address);
    SIZE(callback_register);
    OFF(callback_unregister, type);
    SIZE(callback_unregister);
    CONST(CALLBACKTYPE_event);
    CONST(CALLBACKTYPE_failsafe);
    CONST(CALLBACKTYPE_syscall);
    CONST(CALLBACKTYPE_syscall32);
    CONST(CALLBACKTYPE_sysenter);
    CONST(CALLBACKTYPE_nmi);
    CONST(CALLBACKF_mask_events);

    /* ---- memory_op */
    OFF(xen_memory_reservation, extent_start);
    OFF(xen_memory_reservation, nr_extents);
    OFF(xen_memory_reservation, extent_order);
    OFF(xen_memory_reservation, mem_flags);
    OFF(xen_memory_reservation, domid);
    SIZE(xen_memory_reservation);
    OFF(xen_machphys_mapping, v_start);
    OFF(xen_machphys_mapping, v_end);
    OFF(xen_machphys_mapping, max_mfn);
    SIZE(xen_machphys_mapping);
    OFF(xen_memory_map, nr_entries);
    OFF(xen_memory_map, buffer);
    SIZE(xen_memory_map);
    OFF(xen_add_to_physmap, domid);
    OFF(xen_add_to_physmap, size);
    OFF(xen_add_to_physmap, space);
    OFF(xen_add_to_physmap, idx);
    OFF(xen_add_to_physmap, gpfn);
    SIZE(xen_add_to_physmap);
    OFF(xen_memory_exchange, in);
    OFF(xen_memory_exchange, out);
    OFF(xen_memory_exchange, nr_exchanged);
    SIZE(xen_memory_exchange);

    /* ---- event channels */
    OFF(evtchn_alloc_unbound, dom);
    OFF(evtchn_alloc_unbound, remote_dom);
    OFF(evtchn_alloc_unbound, port);
    SIZE(evtchn_alloc_unbound);
    OFF(evtchn_bind_interdomain, remote_dom);
    OFF(evtchn_bind_interdomain, remote_port);
    OFF(evtchn_bind_interdomain, local_port);
    SIZE(evtchn_bind_interdomain);
    OFF(evtchn_bind_virq, virq);
    OFF(evtchn_bind_virq, vcpu);
    OFF(evtchn_bind_virq, port);
    SIZE(evtchn_bind_virq);
    OFF(evtchn_bind_pirq, pirq);
    OFF(evtchn_bind_pirq, flags);
    OFF(evtchn_bind_pirq, port);
    SIZE(evtchn_bind_pirq);
    OFF(evtchn_bind_ipi, vcpu);
    OFF(evtchn_bind_ipi, port);
    SIZE(evtchn_bind_ipi);
    OFF(evtchn_close, port);
    SIZE(evtchn_close);
    OFF(evtchn_send, port);
    SIZE(evtchn_send);
    OFF(evtchn_status, dom);
    OFF(evtchn_status, port);
    OFF(evtchn_status, status);
    OFF(evtchn_status, vcpu);
    OFF(evtchn_status, u);
    OFF(evtchn_status, u.unbound.dom);
    OFF(evtchn_status, u.interdomain.dom);
    OFF(evtchn_status, u.interdomain.port);
    OFF(evtchn_status, u.pirq);
    OFF(evtchn_status, u.virq);
    SIZE(evtchn_status);
    OFF(evtchn_bind_vcpu, port);
    OFF(evtchn_bind_vcpu, vcpu);
    SIZE(evtchn_bind_vcpu);
    OFF(evtchn_unmask, port);
    SIZE(evtchn_unmask);
    OFF(evtchn_reset, dom);
    SIZE(evtchn_reset);
    OFF(evtchn_init_control, control_gfn);
    OFF(evtchn_init_control, offset);
    OFF(evtchn_init_control, vcpu);
    OFF(evtchn_init_control, link_bits);
    SIZE(evtchn_init_control);
    OFF(evtchn_op, cmd);
    OFF(evtchn_op, u);
    SIZE(evtchn_op);
    CONST(EVTCHNOP_bind_interdomain);
    CONST(EVTCHNOP_bind_virq);
    CONST(EVTCHNOP_bind_pirq);
    CONST(EVTCHNOP_close);
    CONST(EVTCHNOP_send);
    CONST(EVTCHNOP_status);
    CONST(EVTCHNOP_alloc_unbound);
    CONST(EVTCHNOP_bind_ipi);
    CONST(EVTCHNOP_bind_vcpu);
    CONST(EVTCHNOP_unmask);
    CONST(EVTCHNOP_reset);
    CONST(EVTCHNOP_init_control);
    CONST(EVTCHNOP_expand_array);
    CONST(EVTCHNOP_set_priority);

    /* ---- vcpu_op */
    OFF(vcpu_runstate_info, state);
    OFF(vcpu_runstate_info, state_entry_time);
    OFF(vcpu_runstate_info, time);
    SIZE(vcpu_runstate_info);
    OFF(vcpu_register_runstate_memory_area, addr);
    SIZE(vcpu_register_runstate_memory_area);
    OFF(vcpu_set_periodic_timer, period_ns);
    SIZE(vcpu_set_periodic_timer);
    OFF(vcpu_set_singleshot_timer, timeout_abs_ns);
    OFF(vcpu_set_singleshot_timer, flags);
    SIZE(vcpu_set_singleshot_timer);
    OFF(vcpu_register_vcpu_info, mfn);
    OFF(vcpu_register_vcpu_info, offset);
    OFF(vcpu_register_vcpu_info, rsvd);
    SIZE(vcpu_register_vcpu_info);

    /* ---- sched_op */
    OFF(sched_shutdown, reason);
    SIZE(sched_shutdown);
    OFF(sched_poll, ports);
    OFF(sched_poll, nr_ports);
    OFF(sched_poll, timeout);
    SIZE(sched_poll);

    /* ---- grant tables */
    OFF(grant_entry_v1, flags);
    OFF(grant_entry_v1, domid);
    OFF(grant_entry_v1, frame);
    SIZE(grant_entry_v1);
    OFF(gnttab_setup_table, dom);
    OFF(gnttab_setup_table, nr_frames);
    OFF(gnttab_setup_table, status);
    OFF(gnttab_setup_table, frame_list);
    SIZE(gnttab_setup_table);
    OFF(gnttab_query_size, dom);
    OFF(gnttab_query_size, nr_frames);
    OFF(gnttab_query_size, max_nr_frames);
    OFF(gnttab_query_size, status);
    SIZE(gnttab_query_size);
    OFF(gnttab_map_grant_ref, host_addr);
    OFF(gnttab_map_grant_ref, flags);
    OFF(gnttab_map_grant_ref, ref);
    OFF(gnttab_map_grant_ref, dom);
    OFF(gnttab_map_grant_ref, status);
    OFF(gnttab_map_grant_ref, handle);
    OFF(gnttab_map_grant_ref, dev_bus_addr);
    SIZE(gnttab_map_grant_ref);
    OFF(gnttab_copy, source);
    OFF(gnttab_copy, dest);
    OFF(gnttab_copy, len);
    OFF(gnttab_copy, flags);
    OFF(gnttab_copy, status);
    SIZE(gnttab_copy);

    /* ---- version, physdev */
    OFF(xen_feature_info, submap_idx);
    OFF(xen_feature_info, submap);
    SIZE(xen_feature_info);
    OFF(physdev_set_iopl, iopl);
    SIZE(physdev_set_iopl);
    return 0;
}
