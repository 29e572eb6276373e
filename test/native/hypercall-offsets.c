/*
 * Struct offsets, sizes and constants of the hypercall families in
 * src/hypercall/{version,memory,console,sched,vcpu-op,physdev,multicall,
 * evtchn,grant,misc}.ts, printed from the Xen public headers (libxen-dev)
 * as "name value" lines. test/hypercalls.test.ts compiles and runs this and
 * compares every line with the TypeScript constants.
 */
#define __XEN_INTERFACE_VERSION__ __XEN_LATEST_INTERFACE_VERSION__
#define __XEN_TOOLS__ 1
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <xen/xen.h>
#include <xen/version.h>
#include <xen/features.h>
#include <xen/memory.h>
#include <xen/sched.h>
#include <xen/vcpu.h>
#include <xen/event_channel.h>
#include <xen/grant_table.h>
#include <xen/physdev.h>
#include <xen/nmi.h>
#include <xen/platform.h>

#define O(s, f) printf("%s.%s %lu\n", #s, #f, (unsigned long)offsetof(struct s, f))
#define S(s) printf("sizeof.%s %lu\n", #s, (unsigned long)sizeof(struct s))
#define T(t) printf("sizeof.%s %lu\n", #t, (unsigned long)sizeof(t))
#define C(c) printf("%s %lld\n", #c, (long long)(c))

int main(void)
{
    /* version.h */
    C(XENVER_version); C(XENVER_extraversion); C(XENVER_compile_info); C(XENVER_capabilities);
    C(XENVER_changeset); C(XENVER_platform_parameters); C(XENVER_get_features); C(XENVER_pagesize);
    C(XENVER_guest_handle); C(XENVER_commandline); C(XENVER_build_id);
    T(xen_extraversion_t); T(xen_capabilities_info_t); T(xen_changeset_info_t); T(xen_commandline_t);
    T(xen_domain_handle_t);
    S(xen_compile_info); O(xen_compile_info, compiler); O(xen_compile_info, compile_by);
    O(xen_compile_info, compile_domain); O(xen_compile_info, compile_date);
    S(xen_platform_parameters); O(xen_platform_parameters, virt_start);
    S(xen_feature_info); O(xen_feature_info, submap_idx); O(xen_feature_info, submap);
    C(XENFEAT_writable_page_tables); C(XENFEAT_auto_translated_physmap); C(XENFEAT_pae_pgdir_above_4gb);
    C(XENFEAT_mmu_pt_update_preserve_ad); C(XENFEAT_highmem_assist); C(XENFEAT_gnttab_map_avail_bits);
    C(XENFEAT_hvm_callback_vector); C(XENFEAT_dom0); C(XENFEAT_memory_op_vnode_supported);
    C(XENFEAT_not_direct_mapped); C(XENFEAT_direct_mapped);

    /* memory.h */
    C(XENMEM_increase_reservation); C(XENMEM_decrease_reservation); C(XENMEM_maximum_ram_page);
    C(XENMEM_current_reservation); C(XENMEM_maximum_reservation); C(XENMEM_machphys_mfn_list);
    C(XENMEM_populate_physmap); C(XENMEM_add_to_physmap); C(XENMEM_memory_map); C(XENMEM_machine_memory_map);
    C(XENMEM_exchange); C(XENMEM_machphys_mapping); C(XENMEM_set_memory_map); C(XENMEM_maximum_gpfn);
    C(XENMEM_remove_from_physmap); C(XENMEM_claim_pages); C(XENMEM_add_to_physmap_batch);
    C(XENMEM_machphys_compat_mfn_list); C(XENMEM_get_vnumainfo); C(XENMEM_reserved_device_memory_map);
    C(XENMEM_acquire_resource);
    C(XENMAPSPACE_gmfn_range); C(XENMAPSPACE_gmfn_foreign);
    S(xen_memory_reservation); O(xen_memory_reservation, extent_start); O(xen_memory_reservation, nr_extents);
    O(xen_memory_reservation, extent_order); O(xen_memory_reservation, mem_flags); O(xen_memory_reservation, domid);
    S(xen_machphys_mapping); O(xen_machphys_mapping, v_start); O(xen_machphys_mapping, v_end); O(xen_machphys_mapping, max_mfn);
    S(xen_memory_map); O(xen_memory_map, nr_entries); O(xen_memory_map, buffer);
    S(xen_foreign_memory_map); O(xen_foreign_memory_map, map);
    S(xen_add_to_physmap); O(xen_add_to_physmap, domid); O(xen_add_to_physmap, size); O(xen_add_to_physmap, space);
    O(xen_add_to_physmap, idx); O(xen_add_to_physmap, gpfn);
    S(xen_add_to_physmap_batch); O(xen_add_to_physmap_batch, domid); O(xen_add_to_physmap_batch, space);
    S(xen_vnuma_topology_info); O(xen_vnuma_topology_info, domid); O(xen_vnuma_topology_info, pad);
    C(MACH2PHYS_VIRT_START); C(MACH2PHYS_VIRT_END); C(HYPERVISOR_VIRT_START);

    /* sched.h */
    C(SCHEDOP_yield); C(SCHEDOP_block); C(SCHEDOP_shutdown); C(SCHEDOP_poll); C(SCHEDOP_remote_shutdown);
    C(SCHEDOP_shutdown_code); C(SCHEDOP_watchdog); C(SCHEDOP_pin_override);
    S(sched_shutdown); O(sched_shutdown, reason);
    S(sched_poll); O(sched_poll, ports); O(sched_poll, nr_ports); O(sched_poll, timeout);
    S(sched_remote_shutdown); O(sched_remote_shutdown, domain_id); O(sched_remote_shutdown, reason);
    S(sched_watchdog); O(sched_watchdog, id); O(sched_watchdog, timeout);
    S(sched_pin_override); O(sched_pin_override, pcpu);
    C(SHUTDOWN_poweroff); C(SHUTDOWN_reboot); C(SHUTDOWN_suspend); C(SHUTDOWN_crash); C(SHUTDOWN_watchdog);

    /* vcpu.h */
    C(VCPUOP_initialise); C(VCPUOP_up); C(VCPUOP_down); C(VCPUOP_is_up); C(VCPUOP_get_runstate_info);
    C(VCPUOP_register_runstate_memory_area); C(VCPUOP_set_periodic_timer); C(VCPUOP_stop_periodic_timer);
    C(VCPUOP_set_singleshot_timer); C(VCPUOP_stop_singleshot_timer); C(VCPUOP_register_vcpu_info);
    C(VCPUOP_send_nmi); C(VCPUOP_get_physid); C(VCPUOP_register_vcpu_time_memory_area);
    C(RUNSTATE_running); C(RUNSTATE_runnable); C(RUNSTATE_blocked); C(RUNSTATE_offline);
    C(VCPU_SSHOTTMR_future);
    S(vcpu_runstate_info); O(vcpu_runstate_info, state); O(vcpu_runstate_info, state_entry_time); O(vcpu_runstate_info, time);
    S(vcpu_register_vcpu_info); O(vcpu_register_vcpu_info, mfn); O(vcpu_register_vcpu_info, offset);
    S(vcpu_set_periodic_timer); O(vcpu_set_periodic_timer, period_ns);
    S(vcpu_set_singleshot_timer); O(vcpu_set_singleshot_timer, timeout_abs_ns); O(vcpu_set_singleshot_timer, flags);
    S(vcpu_register_runstate_memory_area); S(vcpu_register_time_memory_area);
    S(vcpu_guest_context); O(vcpu_guest_context, fpu_ctxt); O(vcpu_guest_context, flags); O(vcpu_guest_context, user_regs);
    O(vcpu_guest_context, trap_ctxt); O(vcpu_guest_context, ldt_base); O(vcpu_guest_context, ldt_ents);
    O(vcpu_guest_context, gdt_frames); O(vcpu_guest_context, gdt_ents); O(vcpu_guest_context, kernel_ss);
    O(vcpu_guest_context, kernel_sp); O(vcpu_guest_context, ctrlreg); O(vcpu_guest_context, debugreg);
    O(vcpu_guest_context, event_callback_eip); O(vcpu_guest_context, failsafe_callback_eip);
    O(vcpu_guest_context, syscall_callback_eip); O(vcpu_guest_context, vm_assist); O(vcpu_guest_context, fs_base);
    O(vcpu_guest_context, gs_base_kernel); O(vcpu_guest_context, gs_base_user);
    S(cpu_user_regs); O(cpu_user_regs, r15); O(cpu_user_regs, r14); O(cpu_user_regs, r13); O(cpu_user_regs, r12);
    O(cpu_user_regs, rbp); O(cpu_user_regs, rbx); O(cpu_user_regs, r11); O(cpu_user_regs, r10); O(cpu_user_regs, r9);
    O(cpu_user_regs, r8); O(cpu_user_regs, rax); O(cpu_user_regs, rcx); O(cpu_user_regs, rdx); O(cpu_user_regs, rsi);
    O(cpu_user_regs, rdi); O(cpu_user_regs, error_code); O(cpu_user_regs, entry_vector); O(cpu_user_regs, rip);
    O(cpu_user_regs, cs); O(cpu_user_regs, saved_upcall_mask); O(cpu_user_regs, rflags); O(cpu_user_regs, rsp);
    O(cpu_user_regs, ss); O(cpu_user_regs, es); O(cpu_user_regs, ds); O(cpu_user_regs, fs); O(cpu_user_regs, gs);
    S(trap_info); O(trap_info, vector); O(trap_info, flags); O(trap_info, cs); O(trap_info, address);
    C(VGCF_i387_valid); C(VGCF_in_kernel); C(VGCF_online);

    /* xen.h: multicall, console */
    S(multicall_entry); O(multicall_entry, op); O(multicall_entry, result); O(multicall_entry, args);
    C(CONSOLEIO_write); C(CONSOLEIO_read);

    /* event_channel.h */
    C(EVTCHNOP_bind_interdomain); C(EVTCHNOP_bind_virq); C(EVTCHNOP_bind_pirq); C(EVTCHNOP_close);
    C(EVTCHNOP_send); C(EVTCHNOP_status); C(EVTCHNOP_alloc_unbound); C(EVTCHNOP_bind_ipi); C(EVTCHNOP_bind_vcpu);
    C(EVTCHNOP_unmask); C(EVTCHNOP_reset); C(EVTCHNOP_init_control); C(EVTCHNOP_expand_array);
    C(EVTCHNOP_set_priority);
    C(EVTCHNSTAT_closed); C(EVTCHNSTAT_unbound); C(EVTCHNSTAT_interdomain); C(EVTCHNSTAT_pirq);
    C(EVTCHNSTAT_virq); C(EVTCHNSTAT_ipi);
    C(VIRQ_TIMER); C(VIRQ_DEBUG); C(VIRQ_CONSOLE); C(VIRQ_DOM_EXC); C(VIRQ_XENOPROF); C(VIRQ_XENPMU); C(NR_VIRQS);
    S(evtchn_alloc_unbound); O(evtchn_alloc_unbound, dom); O(evtchn_alloc_unbound, remote_dom); O(evtchn_alloc_unbound, port);
    S(evtchn_bind_interdomain); O(evtchn_bind_interdomain, remote_dom); O(evtchn_bind_interdomain, remote_port);
    O(evtchn_bind_interdomain, local_port);
    S(evtchn_bind_virq); O(evtchn_bind_virq, virq); O(evtchn_bind_virq, vcpu); O(evtchn_bind_virq, port);
    S(evtchn_bind_ipi); O(evtchn_bind_ipi, vcpu); O(evtchn_bind_ipi, port);
    S(evtchn_bind_pirq); O(evtchn_bind_pirq, pirq); O(evtchn_bind_pirq, flags); O(evtchn_bind_pirq, port);
    S(evtchn_close); S(evtchn_send); S(evtchn_unmask);
    S(evtchn_status); O(evtchn_status, dom); O(evtchn_status, port); O(evtchn_status, status); O(evtchn_status, vcpu);
    O(evtchn_status, u); O(evtchn_status, u.interdomain.port);
    S(evtchn_bind_vcpu); O(evtchn_bind_vcpu, port); O(evtchn_bind_vcpu, vcpu);
    S(evtchn_reset); O(evtchn_reset, dom);
    S(evtchn_op); O(evtchn_op, cmd); O(evtchn_op, u);

    /* grant_table.h */
    C(GNTTABOP_map_grant_ref); C(GNTTABOP_unmap_grant_ref); C(GNTTABOP_setup_table); C(GNTTABOP_dump_table);
    C(GNTTABOP_transfer); C(GNTTABOP_copy); C(GNTTABOP_query_size); C(GNTTABOP_unmap_and_replace);
    C(GNTTABOP_set_version); C(GNTTABOP_get_status_frames); C(GNTTABOP_get_version); C(GNTTABOP_swap_grant_ref);
    C(GNTTABOP_cache_flush);
    C(GNTST_okay); C(GNTST_general_error); C(GNTST_bad_domain); C(GNTST_bad_gntref); C(GNTST_bad_handle);
    C(GNTST_bad_virt_addr); C(GNTST_bad_dev_addr); C(GNTST_no_device_space); C(GNTST_permission_denied);
    C(GNTST_bad_page); C(GNTST_bad_copy_arg); C(GNTST_address_too_big); C(GNTST_eagain); C(GNTST_no_space);
    C(GNTMAP_device_map); C(GNTMAP_host_map); C(GNTMAP_readonly); C(GNTMAP_application_map); C(GNTMAP_contains_pte);
    C(GNTCOPY_source_gref); C(GNTCOPY_dest_gref);
    C(GTF_invalid); C(GTF_accept_transfer); C(GTF_transitive); C(GTF_type_mask); C(GTF_sub_page);
    C(GTF_permit_access); C(GTF_readonly); C(GTF_reading); C(GTF_writing); C(GNTTAB_NR_RESERVED_ENTRIES);
    C(GNTTAB_RESERVED_CONSOLE); C(GNTTAB_RESERVED_XENSTORE);
    S(gnttab_setup_table); O(gnttab_setup_table, dom); O(gnttab_setup_table, nr_frames); O(gnttab_setup_table, status);
    O(gnttab_setup_table, frame_list);
    S(gnttab_query_size); O(gnttab_query_size, dom); O(gnttab_query_size, nr_frames); O(gnttab_query_size, max_nr_frames);
    O(gnttab_query_size, status);
    S(gnttab_set_version); O(gnttab_set_version, version);
    S(gnttab_get_version); O(gnttab_get_version, dom); O(gnttab_get_version, version);
    S(grant_entry_v1); O(grant_entry_v1, flags); O(grant_entry_v1, domid); O(grant_entry_v1, frame);
    S(gnttab_map_grant_ref); O(gnttab_map_grant_ref, host_addr); O(gnttab_map_grant_ref, flags);
    O(gnttab_map_grant_ref, ref); O(gnttab_map_grant_ref, dom); O(gnttab_map_grant_ref, status);
    O(gnttab_map_grant_ref, handle); O(gnttab_map_grant_ref, dev_bus_addr);
    S(gnttab_unmap_grant_ref); O(gnttab_unmap_grant_ref, host_addr); O(gnttab_unmap_grant_ref, dev_bus_addr);
    O(gnttab_unmap_grant_ref, handle); O(gnttab_unmap_grant_ref, status);
    S(gnttab_unmap_and_replace); O(gnttab_unmap_and_replace, host_addr); O(gnttab_unmap_and_replace, new_addr);
    O(gnttab_unmap_and_replace, handle); O(gnttab_unmap_and_replace, status);
    S(gnttab_copy); O(gnttab_copy, source.u.ref); O(gnttab_copy, source.u.gmfn); O(gnttab_copy, source.domid);
    O(gnttab_copy, source.offset); O(gnttab_copy, dest.u.ref); O(gnttab_copy, dest.u.gmfn); O(gnttab_copy, dest.domid);
    O(gnttab_copy, dest.offset); O(gnttab_copy, len); O(gnttab_copy, flags); O(gnttab_copy, status);

    /* physdev.h */
    C(PHYSDEVOP_IRQ_UNMASK_NOTIFY); C(PHYSDEVOP_irq_status_query); C(PHYSDEVOP_set_iopl); C(PHYSDEVOP_set_iobitmap);
    C(PHYSDEVOP_apic_read); C(PHYSDEVOP_eoi); C(PHYSDEVOP_map_pirq); C(PHYSDEVOP_manage_pci_add);
    C(PHYSDEVOP_pirq_eoi_gmfn_v1); C(PHYSDEVOP_pirq_eoi_gmfn_v2); C(PHYSDEVOP_get_free_pirq); C(PHYSDEVOP_dbgp_op);
    C(PHYSDEVOP_prepare_msix); C(PHYSDEVOP_release_msix);
    C(XENIRQSTAT_needs_eoi); C(XENIRQSTAT_shared);
    S(physdev_set_iopl); O(physdev_set_iopl, iopl);
    S(physdev_set_iobitmap); O(physdev_set_iobitmap, bitmap); O(physdev_set_iobitmap, nr_ports);
    S(physdev_irq_status_query); O(physdev_irq_status_query, irq); O(physdev_irq_status_query, flags);
    S(physdev_eoi); S(physdev_pirq_eoi_gmfn); O(physdev_pirq_eoi_gmfn, gmfn);
    S(physdev_op); O(physdev_op, cmd); O(physdev_op, u);

    /* nmi.h, platform.h */
    C(XENNMI_register_callback); C(XENNMI_unregister_callback);
    S(xennmi_callback); O(xennmi_callback, handler_address); O(xennmi_callback, pad);
    C(XENPF_INTERFACE_VERSION);
    S(xen_platform_op); O(xen_platform_op, cmd); O(xen_platform_op, interface_version);
    return 0;
}
