/**
 * The hypercall families a booting domU calls besides the MMU ones:
 * xen_version, memory_op, console_io, sched_op, vcpu_op, physdev_op,
 * multicall, event_channel_op, grant_table_op and the small ones
 * (set_timer_op, nmi_op, platform_op, xsm_op, hvm_op, xenpmu_op), on a
 * small hand-built domain. Struct layouts and constants are checked against
 * the Xen public headers (test/native/hypercall-offsets.c), and hostile
 * requests must get the errno real Xen 4.17 gives.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { Domain, SHUTDOWN_crash, SHUTDOWN_poweroff, SHUTDOWN_reboot, SHUTDOWN_watchdog, VMASST_TYPE_pae_extended_cr3 } from '../src/domains/domain.ts';
import type { Vcpu } from '../src/domains/vcpu.ts';
import { SHARED_INFO, VCPU_INFO, ARCH_SHARED_INFO } from '../src/domains/shared-info.ts';
import { IF, RIP, RSP, SEG_CS, SEG_GS, SEG_SS } from '../src/cpu/state.ts';
import { dispatchHypercall, NO_RETURN, registeredHypercalls } from '../src/hypercall/dispatch.ts';
import * as abi from '../src/hypercall/abi.ts';
import {
  DOMID_IO, DOMID_SELF, HYPERVISOR, XEN_E2BIG, XEN_EACCES, XEN_EBUSY, XEN_EEXIST, XEN_EFAULT, XEN_EINVAL, XEN_ENOENT,
  XEN_ENOSPC, XEN_ENOSYS, XEN_ENXIO, XEN_EOPNOTSUPP, XEN_EPERM, XEN_ESRCH,
} from '../src/hypercall/abi.ts';
import * as version from '../src/hypercall/version.ts';
import * as memory from '../src/hypercall/memory.ts';
import * as sched from '../src/hypercall/sched.ts';
import * as vcpuOp from '../src/hypercall/vcpu-op.ts';
import * as evtchn from '../src/hypercall/evtchn.ts';
import * as grant from '../src/hypercall/grant.ts';
import * as physdev from '../src/hypercall/physdev.ts';
import * as misc from '../src/hypercall/misc.ts';
import * as console_ from '../src/hypercall/console.ts';
import { MULTICALL_ENTRY } from '../src/hypercall/multicall.ts';
import { setVmAssist } from '../src/hypercall/vm-assist.ts';
import { pageTypes, PGT_l4, PGT_seg_desc, PGT_writable } from '../src/mmu/page-types.ts';

// ---------------------------------------------------------------- the test domain
//
// 4096 pages, 2 vCPUs. PFN p (p < 1024) is mapped read-write at
// KBASE + p*4096, KBASE = 0xffffffff80000000 (L4[511] → L3[510] → L2[0..1]
// → L1s in pfns 4-5; L4 = pfn 1, L3 = pfn 2, L2 = pfn 3). PFNs from 1024 up
// are not mapped. Argument buffers live in pfns 16 and up.

const KBASE = -0x80000000; // 0xffffffff80000000 as a canonical number
const UNMAPPED_VA = 0x1000; // L4[0] is empty
const HOLE_VA = -0x800000000000 + 0x1000; // 0xffff800000001000, inside the Xen hole
const NONCANONICAL = 0x0000800000000000n;

let d: Domain;
let v: Vcpu;
let v1: Vcpu;
let now: number;
let consoleBytes: number[];
let logs: string[];

const mfn = (pfn: number): number => d.memory.baseMfn + pfn;
const va = (pfn: number, off = 0): number => KBASE + pfn * 4096 + off;
const off = (pfn: number, o = 0): number => pfn * 4096 + o;

function setPte(tablePfn: number, index: number, targetPfn: number, flags: number): void {
  const dv = d.memory.dv;
  const m = mfn(targetPfn);
  dv.setInt32(off(tablePfn, index * 8), ((m % 1048576) * 4096 + flags) | 0, true);
  dv.setInt32(off(tablePfn, index * 8 + 4), Math.floor(m / 1048576), true);
}

function makeDomain(opts: { maxPages?: number; vcpus?: number } = {}): void {
  now = 1_000_000_000;
  consoleBytes = [];
  logs = [];
  d = new Domain({
    id: 1,
    name: 'hc-test',
    nrPages: 4096,
    maxPages: opts.maxPages ?? 4096,
    vcpus: opts.vcpus ?? 2,
    consoleOut: (b) => consoleBytes.push(...b),
    clockNs: () => now,
    log: (l) => logs.push(l),
  });
  const P = 1, RW = 2, US = 4, A = 0x20, D = 0x40;
  setPte(1, 511, 2, P | RW | US | A);
  setPte(2, 510, 3, P | RW | US | A);
  setPte(3, 0, 4, P | RW | US | A);
  setPte(3, 1, 5, P | RW | US | A);
  for (let p = 0; p < 1024; p++) setPte(4 + (p >> 9), p & 511, p, P | RW | A | D);
  // shared_info as the builder leaves it: every vcpu_info masked.
  const si = d.memory.offsetOfMfn(d.sharedInfoMfn);
  for (let i = 0; i < 32; i++) d.memory.ram[si + i * 64 + VCPU_INFO.evtchn_upcall_mask] = 1;
  v = d.vcpus[0]!;
  v1 = d.vcpus[1]!;
  v.online = true;
  v.mmu.setKernelMode(true);
  v.mmu.setKernelRoot(mfn(1));
  // vCPU 1 shares the tables (for the cases where it is the caller).
  v1.mmu.setKernelMode(true);
  v1.mmu.setKernelRoot(mfn(1));
}

const ARG_REGS = [7, 6, 2, 10, 8, 9];
function setArgs(w: Vcpu, args: Array<number | bigint>): void {
  args.forEach((a, k) => w.cpu.setReg64n(ARG_REGS[k]!, BigInt.asUintN(64, BigInt(a))));
}
function call(w: Vcpu, num: number, ...args: Array<number | bigint>): number {
  setArgs(w, args);
  const r = dispatchHypercall(w, num);
  if (r === NO_RETURN) throw new Error('unexpected NO_RETURN');
  return r;
}

const dv = (): DataView => d.memory.dv;
const u8 = (pfn: number, o: number): number => d.memory.ram[off(pfn, o)]!;
const u16 = (pfn: number, o: number): number => dv().getUint16(off(pfn, o), true);
const u32 = (pfn: number, o: number): number => dv().getUint32(off(pfn, o), true);
const i32 = (pfn: number, o: number): number => dv().getInt32(off(pfn, o), true);
const u64 = (pfn: number, o: number): bigint => dv().getBigUint64(off(pfn, o), true);
const put16 = (pfn: number, o: number, x: number): void => dv().setUint16(off(pfn, o), x, true);
const put32 = (pfn: number, o: number, x: number): void => dv().setUint32(off(pfn, o), x >>> 0, true);
const put64 = (pfn: number, o: number, x: number | bigint): void => dv().setBigUint64(off(pfn, o), BigInt.asUintN(64, BigInt(x)), true);
const fill = (pfn: number, byte: number, pages = 1): void => void d.memory.ram.fill(byte, off(pfn), off(pfn + pages));
const str = (pfn: number, o: number, len: number): string => Buffer.from(d.memory.ram.subarray(off(pfn, o), off(pfn, o + len))).toString('latin1');

const siOff = (o: number): number => d.memory.offsetOfMfn(d.sharedInfoMfn) + o;
const pendingBit = (port: number): boolean => (d.memory.ram[siOff(SHARED_INFO.evtchn_pending + (port >> 3))]! & (1 << (port & 7))) !== 0;
const setMaskBit = (port: number, on: boolean): void => {
  const o = siOff(SHARED_INFO.evtchn_mask + (port >> 3));
  d.memory.ram[o] = on ? d.memory.ram[o]! | (1 << (port & 7)) : d.memory.ram[o]! & ~(1 << (port & 7));
};
const vcpuInfoByte = (w: Vcpu, o: number): number => d.memory.ram[w.vcpuInfoOffset() + o]!;
const selWord = (w: Vcpu): bigint => d.memory.dv.getBigUint64(w.vcpuInfoOffset() + VCPU_INFO.evtchn_pending_sel, true);

beforeEach(() => makeDomain());

// ---------------------------------------------------------------- layouts

/** { 'sizeof.NAME': size, 'NAME.field': offset, … } from a layout object { field: offset, …, size }. */
function structOffsets(name: string, layout: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(layout).map(([k, o]) => (k === 'size' ? [`sizeof.${name}`, o] : [`${name}.${k}`, o])));
}

describe('struct layouts and constants match the Xen 4.17 headers', () => {
  it('every value test/native/hypercall-offsets.c prints', () => {
    const dir = join(import.meta.dirname, 'native', 'build');
    mkdirSync(dir, { recursive: true });
    const exe = join(dir, `hypercall-offsets-${process.pid}`);
    const cc = spawnSync('gcc', ['-Wall', '-o', exe, join(import.meta.dirname, 'native', 'hypercall-offsets.c')], { encoding: 'utf8' });
    expect(cc.status, cc.stderr).toBe(0);
    const run = spawnSync(exe, { encoding: 'utf8' });
    spawnSync('rm', ['-f', exe]);
    expect(run.status).toBe(0);
    const got = new Map(run.stdout.trim().split('\n').map((l) => {
      const [k, val] = l.split(' ');
      return [k!, BigInt(val!)] as const;
    }));

    const V = version, M = memory, S = sched, C = vcpuOp, E = evtchn, G = grant, PD = physdev, X = misc;
    const UR = C.CPU_USER_REGS, VGC = C.VCPU_GUEST_CONTEXT;
    const want: Record<string, number | bigint> = {
      XENVER_version: V.XENVER.version, XENVER_extraversion: V.XENVER.extraversion, XENVER_compile_info: V.XENVER.compile_info,
      XENVER_capabilities: V.XENVER.capabilities, XENVER_changeset: V.XENVER.changeset,
      XENVER_platform_parameters: V.XENVER.platform_parameters, XENVER_get_features: V.XENVER.get_features,
      XENVER_pagesize: V.XENVER.pagesize, XENVER_guest_handle: V.XENVER.guest_handle, XENVER_commandline: V.XENVER.commandline,
      XENVER_build_id: V.XENVER.build_id,
      'sizeof.xen_extraversion_t': V.XEN_EXTRAVERSION_LEN, 'sizeof.xen_capabilities_info_t': V.XEN_CAPABILITIES_INFO_LEN,
      'sizeof.xen_changeset_info_t': V.XEN_CHANGESET_INFO_LEN, 'sizeof.xen_commandline_t': V.XEN_COMMANDLINE_LEN,
      'sizeof.xen_domain_handle_t': V.XEN_DOMAIN_HANDLE_LEN,
      'sizeof.xen_compile_info': V.XEN_COMPILE_INFO.size, 'xen_compile_info.compiler': V.XEN_COMPILE_INFO.compiler,
      'xen_compile_info.compile_by': V.XEN_COMPILE_INFO.compile_by, 'xen_compile_info.compile_domain': V.XEN_COMPILE_INFO.compile_domain,
      'xen_compile_info.compile_date': V.XEN_COMPILE_INFO.compile_date,
      'sizeof.xen_platform_parameters': V.XEN_PLATFORM_PARAMETERS.size, 'xen_platform_parameters.virt_start': V.XEN_PLATFORM_PARAMETERS.virt_start,
      'sizeof.xen_feature_info': V.XEN_FEATURE_INFO.size, 'xen_feature_info.submap_idx': V.XEN_FEATURE_INFO.submap_idx,
      'xen_feature_info.submap': V.XEN_FEATURE_INFO.submap,
      XENFEAT_writable_page_tables: V.XENFEAT_writable_page_tables, XENFEAT_auto_translated_physmap: V.XENFEAT_auto_translated_physmap,
      XENFEAT_pae_pgdir_above_4gb: V.XENFEAT_pae_pgdir_above_4gb, XENFEAT_mmu_pt_update_preserve_ad: V.XENFEAT_mmu_pt_update_preserve_ad,
      XENFEAT_highmem_assist: V.XENFEAT_highmem_assist, XENFEAT_gnttab_map_avail_bits: V.XENFEAT_gnttab_map_avail_bits,
      XENFEAT_hvm_callback_vector: V.XENFEAT_hvm_callback_vector, XENFEAT_dom0: V.XENFEAT_dom0,
      XENFEAT_memory_op_vnode_supported: V.XENFEAT_memory_op_vnode_supported, XENFEAT_not_direct_mapped: V.XENFEAT_not_direct_mapped,
      XENFEAT_direct_mapped: V.XENFEAT_direct_mapped,

      XENMEM_increase_reservation: M.XENMEM.increase_reservation, XENMEM_decrease_reservation: M.XENMEM.decrease_reservation,
      XENMEM_maximum_ram_page: M.XENMEM.maximum_ram_page, XENMEM_current_reservation: M.XENMEM.current_reservation,
      XENMEM_maximum_reservation: M.XENMEM.maximum_reservation, XENMEM_machphys_mfn_list: M.XENMEM.machphys_mfn_list,
      XENMEM_populate_physmap: M.XENMEM.populate_physmap, XENMEM_add_to_physmap: M.XENMEM.add_to_physmap,
      XENMEM_memory_map: M.XENMEM.memory_map, XENMEM_machine_memory_map: M.XENMEM.machine_memory_map,
      XENMEM_exchange: M.XENMEM.exchange, XENMEM_machphys_mapping: M.XENMEM.machphys_mapping,
      XENMEM_set_memory_map: M.XENMEM.set_memory_map, XENMEM_maximum_gpfn: M.XENMEM.maximum_gpfn,
      XENMEM_remove_from_physmap: M.XENMEM.remove_from_physmap, XENMEM_claim_pages: M.XENMEM.claim_pages,
      XENMEM_add_to_physmap_batch: M.XENMEM.add_to_physmap_batch, XENMEM_machphys_compat_mfn_list: M.XENMEM.machphys_compat_mfn_list,
      XENMEM_get_vnumainfo: M.XENMEM.get_vnumainfo, XENMEM_reserved_device_memory_map: M.XENMEM.reserved_device_memory_map,
      XENMEM_acquire_resource: M.XENMEM.acquire_resource,
      XENMAPSPACE_gmfn_range: M.XENMAPSPACE_gmfn_range, XENMAPSPACE_gmfn_foreign: M.XENMAPSPACE_gmfn_foreign,
      'sizeof.xen_memory_reservation': M.XEN_MEMORY_RESERVATION.size,
      'xen_memory_reservation.extent_start': M.XEN_MEMORY_RESERVATION.extent_start,
      'xen_memory_reservation.nr_extents': M.XEN_MEMORY_RESERVATION.nr_extents,
      'xen_memory_reservation.extent_order': M.XEN_MEMORY_RESERVATION.extent_order,
      'xen_memory_reservation.mem_flags': M.XEN_MEMORY_RESERVATION.mem_flags,
      'xen_memory_reservation.domid': M.XEN_MEMORY_RESERVATION.domid,
      'sizeof.xen_machphys_mapping': M.XEN_MACHPHYS_MAPPING.size, 'xen_machphys_mapping.v_start': M.XEN_MACHPHYS_MAPPING.v_start,
      'xen_machphys_mapping.v_end': M.XEN_MACHPHYS_MAPPING.v_end, 'xen_machphys_mapping.max_mfn': M.XEN_MACHPHYS_MAPPING.max_mfn,
      'sizeof.xen_memory_map': M.XEN_MEMORY_MAP.size, 'xen_memory_map.nr_entries': M.XEN_MEMORY_MAP.nr_entries,
      'xen_memory_map.buffer': M.XEN_MEMORY_MAP.buffer,
      'sizeof.xen_foreign_memory_map': 8 + M.XEN_MEMORY_MAP.size, 'xen_foreign_memory_map.map': 8,
      'sizeof.xen_add_to_physmap': M.XEN_ADD_TO_PHYSMAP.sizeof, 'xen_add_to_physmap.domid': M.XEN_ADD_TO_PHYSMAP.domid,
      'xen_add_to_physmap.size': M.XEN_ADD_TO_PHYSMAP.size, 'xen_add_to_physmap.space': M.XEN_ADD_TO_PHYSMAP.space,
      'xen_add_to_physmap.idx': M.XEN_ADD_TO_PHYSMAP.idx, 'xen_add_to_physmap.gpfn': M.XEN_ADD_TO_PHYSMAP.gpfn,
      'sizeof.xen_add_to_physmap_batch': M.XEN_ADD_TO_PHYSMAP_BATCH.sizeof,
      'xen_add_to_physmap_batch.domid': M.XEN_ADD_TO_PHYSMAP_BATCH.domid, 'xen_add_to_physmap_batch.space': M.XEN_ADD_TO_PHYSMAP_BATCH.space,
      'sizeof.xen_vnuma_topology_info': M.XEN_VNUMA_TOPOLOGY_INFO.size, 'xen_vnuma_topology_info.domid': M.XEN_VNUMA_TOPOLOGY_INFO.domid,
      'xen_vnuma_topology_info.pad': M.XEN_VNUMA_TOPOLOGY_INFO.pad,
      MACH2PHYS_VIRT_START: BigInt.asIntN(64, abi.MACH2PHYS_VIRT_START), MACH2PHYS_VIRT_END: BigInt.asIntN(64, abi.MACH2PHYS_VIRT_END),
      HYPERVISOR_VIRT_START: BigInt.asIntN(64, abi.HYPERVISOR_VIRT_START),

      SCHEDOP_yield: S.SCHEDOP.yield, SCHEDOP_block: S.SCHEDOP.block, SCHEDOP_shutdown: S.SCHEDOP.shutdown, SCHEDOP_poll: S.SCHEDOP.poll,
      SCHEDOP_remote_shutdown: S.SCHEDOP.remote_shutdown, SCHEDOP_shutdown_code: S.SCHEDOP.shutdown_code,
      SCHEDOP_watchdog: S.SCHEDOP.watchdog, SCHEDOP_pin_override: S.SCHEDOP.pin_override,
      'sizeof.sched_shutdown': S.SCHED_SHUTDOWN.size, 'sched_shutdown.reason': S.SCHED_SHUTDOWN.reason,
      'sizeof.sched_poll': S.SCHED_POLL.size, 'sched_poll.ports': S.SCHED_POLL.ports, 'sched_poll.nr_ports': S.SCHED_POLL.nr_ports,
      'sched_poll.timeout': S.SCHED_POLL.timeout,
      'sizeof.sched_remote_shutdown': S.SCHED_REMOTE_SHUTDOWN.size, 'sched_remote_shutdown.domain_id': S.SCHED_REMOTE_SHUTDOWN.domain_id,
      'sched_remote_shutdown.reason': S.SCHED_REMOTE_SHUTDOWN.reason,
      'sizeof.sched_watchdog': S.SCHED_WATCHDOG.size, 'sched_watchdog.id': S.SCHED_WATCHDOG.id, 'sched_watchdog.timeout': S.SCHED_WATCHDOG.timeout,
      'sizeof.sched_pin_override': S.SCHED_PIN_OVERRIDE.size, 'sched_pin_override.pcpu': S.SCHED_PIN_OVERRIDE.pcpu,
      SHUTDOWN_poweroff, SHUTDOWN_reboot, SHUTDOWN_suspend: 2, SHUTDOWN_crash, SHUTDOWN_watchdog,

      VCPUOP_initialise: C.VCPUOP.initialise, VCPUOP_up: C.VCPUOP.up, VCPUOP_down: C.VCPUOP.down, VCPUOP_is_up: C.VCPUOP.is_up,
      VCPUOP_get_runstate_info: C.VCPUOP.get_runstate_info, VCPUOP_register_runstate_memory_area: C.VCPUOP.register_runstate_memory_area,
      VCPUOP_set_periodic_timer: C.VCPUOP.set_periodic_timer, VCPUOP_stop_periodic_timer: C.VCPUOP.stop_periodic_timer,
      VCPUOP_set_singleshot_timer: C.VCPUOP.set_singleshot_timer, VCPUOP_stop_singleshot_timer: C.VCPUOP.stop_singleshot_timer,
      VCPUOP_register_vcpu_info: C.VCPUOP.register_vcpu_info, VCPUOP_send_nmi: C.VCPUOP.send_nmi, VCPUOP_get_physid: C.VCPUOP.get_physid,
      VCPUOP_register_vcpu_time_memory_area: C.VCPUOP.register_vcpu_time_memory_area,
      RUNSTATE_running: C.RUNSTATE_running, RUNSTATE_runnable: C.RUNSTATE_runnable, RUNSTATE_blocked: C.RUNSTATE_blocked,
      RUNSTATE_offline: C.RUNSTATE_offline, VCPU_SSHOTTMR_future: C.VCPU_SSHOTTMR_future,
      'sizeof.vcpu_runstate_info': C.VCPU_RUNSTATE_INFO.size, 'vcpu_runstate_info.state': C.VCPU_RUNSTATE_INFO.state,
      'vcpu_runstate_info.state_entry_time': C.VCPU_RUNSTATE_INFO.state_entry_time, 'vcpu_runstate_info.time': C.VCPU_RUNSTATE_INFO.time,
      'sizeof.vcpu_register_vcpu_info': C.VCPU_REGISTER_VCPU_INFO.size, 'vcpu_register_vcpu_info.mfn': C.VCPU_REGISTER_VCPU_INFO.mfn,
      'vcpu_register_vcpu_info.offset': C.VCPU_REGISTER_VCPU_INFO.offset,
      'sizeof.vcpu_set_periodic_timer': C.VCPU_SET_PERIODIC_TIMER.size, 'vcpu_set_periodic_timer.period_ns': C.VCPU_SET_PERIODIC_TIMER.period_ns,
      'sizeof.vcpu_set_singleshot_timer': C.VCPU_SET_SINGLESHOT_TIMER.size,
      'vcpu_set_singleshot_timer.timeout_abs_ns': C.VCPU_SET_SINGLESHOT_TIMER.timeout_abs_ns,
      'vcpu_set_singleshot_timer.flags': C.VCPU_SET_SINGLESHOT_TIMER.flags,
      'sizeof.vcpu_register_runstate_memory_area': C.VCPU_REGISTER_MEMORY_AREA.size,
      'sizeof.vcpu_register_time_memory_area': C.VCPU_REGISTER_MEMORY_AREA.size,
      'sizeof.vcpu_guest_context': VGC.size, 'vcpu_guest_context.fpu_ctxt': VGC.fpu_ctxt, 'vcpu_guest_context.flags': VGC.flags,
      'vcpu_guest_context.user_regs': VGC.user_regs, 'vcpu_guest_context.trap_ctxt': VGC.trap_ctxt,
      'vcpu_guest_context.ldt_base': VGC.ldt_base, 'vcpu_guest_context.ldt_ents': VGC.ldt_ents,
      'vcpu_guest_context.gdt_frames': VGC.gdt_frames, 'vcpu_guest_context.gdt_ents': VGC.gdt_ents,
      'vcpu_guest_context.kernel_ss': VGC.kernel_ss, 'vcpu_guest_context.kernel_sp': VGC.kernel_sp,
      'vcpu_guest_context.ctrlreg': VGC.ctrlreg, 'vcpu_guest_context.debugreg': VGC.debugreg,
      'vcpu_guest_context.event_callback_eip': VGC.event_callback_eip, 'vcpu_guest_context.failsafe_callback_eip': VGC.failsafe_callback_eip,
      'vcpu_guest_context.syscall_callback_eip': VGC.syscall_callback_eip, 'vcpu_guest_context.vm_assist': VGC.vm_assist,
      'vcpu_guest_context.fs_base': VGC.fs_base, 'vcpu_guest_context.gs_base_kernel': VGC.gs_base_kernel,
      'vcpu_guest_context.gs_base_user': VGC.gs_base_user,
      'sizeof.cpu_user_regs': UR.size,
      ...Object.fromEntries(
        (['r15', 'r14', 'r13', 'r12', 'rbp', 'rbx', 'r11', 'r10', 'r9', 'r8', 'rax', 'rcx', 'rdx', 'rsi', 'rdi', 'error_code',
          'entry_vector', 'rip', 'cs', 'saved_upcall_mask', 'rflags', 'rsp', 'ss', 'es', 'ds', 'fs', 'gs'] as const).map((f) => [`cpu_user_regs.${f}`, UR[f]]),
      ),
      'sizeof.trap_info': C.TRAP_INFO.size, 'trap_info.vector': C.TRAP_INFO.vector, 'trap_info.flags': C.TRAP_INFO.flags,
      'trap_info.cs': C.TRAP_INFO.cs, 'trap_info.address': C.TRAP_INFO.address,
      VGCF_i387_valid: abi.VGCF_I387_VALID, VGCF_in_kernel: abi.VGCF_IN_KERNEL, VGCF_online: abi.VGCF_ONLINE,

      'sizeof.multicall_entry': MULTICALL_ENTRY.size, 'multicall_entry.op': MULTICALL_ENTRY.op,
      'multicall_entry.result': MULTICALL_ENTRY.result, 'multicall_entry.args': MULTICALL_ENTRY.args,
      CONSOLEIO_write: console_.CONSOLEIO_write, CONSOLEIO_read: console_.CONSOLEIO_read,

      ...Object.fromEntries(Object.entries(E.EVTCHNOP).filter(([k]) => k !== 'reset_cont').map(([k, n]) => [`EVTCHNOP_${k}`, n])),
      EVTCHNSTAT_closed: E.EVTCHNSTAT_closed, EVTCHNSTAT_unbound: E.EVTCHNSTAT_unbound, EVTCHNSTAT_interdomain: E.EVTCHNSTAT_interdomain,
      EVTCHNSTAT_pirq: E.EVTCHNSTAT_pirq, EVTCHNSTAT_virq: E.EVTCHNSTAT_virq, EVTCHNSTAT_ipi: E.EVTCHNSTAT_ipi,
      VIRQ_TIMER: E.VIRQ_TIMER, VIRQ_DEBUG: E.VIRQ_DEBUG, VIRQ_CONSOLE: E.VIRQ_CONSOLE, VIRQ_DOM_EXC: E.VIRQ_DOM_EXC,
      VIRQ_XENOPROF: E.VIRQ_XENOPROF, VIRQ_XENPMU: E.VIRQ_XENPMU, NR_VIRQS: E.NR_VIRQS,
      'sizeof.evtchn_alloc_unbound': E.EVTCHN_ALLOC_UNBOUND.size, 'evtchn_alloc_unbound.dom': E.EVTCHN_ALLOC_UNBOUND.dom,
      'evtchn_alloc_unbound.remote_dom': E.EVTCHN_ALLOC_UNBOUND.remote_dom, 'evtchn_alloc_unbound.port': E.EVTCHN_ALLOC_UNBOUND.port,
      'sizeof.evtchn_bind_interdomain': E.EVTCHN_BIND_INTERDOMAIN.size,
      'evtchn_bind_interdomain.remote_dom': E.EVTCHN_BIND_INTERDOMAIN.remote_dom,
      'evtchn_bind_interdomain.remote_port': E.EVTCHN_BIND_INTERDOMAIN.remote_port,
      'evtchn_bind_interdomain.local_port': E.EVTCHN_BIND_INTERDOMAIN.local_port,
      'sizeof.evtchn_bind_virq': E.EVTCHN_BIND_VIRQ.size, 'evtchn_bind_virq.virq': E.EVTCHN_BIND_VIRQ.virq,
      'evtchn_bind_virq.vcpu': E.EVTCHN_BIND_VIRQ.vcpu, 'evtchn_bind_virq.port': E.EVTCHN_BIND_VIRQ.port,
      'sizeof.evtchn_bind_ipi': E.EVTCHN_BIND_IPI.size, 'evtchn_bind_ipi.vcpu': E.EVTCHN_BIND_IPI.vcpu, 'evtchn_bind_ipi.port': E.EVTCHN_BIND_IPI.port,
      'sizeof.evtchn_bind_pirq': E.EVTCHN_BIND_PIRQ.size, 'evtchn_bind_pirq.pirq': E.EVTCHN_BIND_PIRQ.pirq,
      'evtchn_bind_pirq.flags': E.EVTCHN_BIND_PIRQ.flags, 'evtchn_bind_pirq.port': E.EVTCHN_BIND_PIRQ.port,
      'sizeof.evtchn_close': E.EVTCHN_PORT_ONLY.size, 'sizeof.evtchn_send': E.EVTCHN_PORT_ONLY.size, 'sizeof.evtchn_unmask': E.EVTCHN_PORT_ONLY.size,
      'sizeof.evtchn_status': E.EVTCHN_STATUS.size, 'evtchn_status.dom': E.EVTCHN_STATUS.dom, 'evtchn_status.port': E.EVTCHN_STATUS.port,
      'evtchn_status.status': E.EVTCHN_STATUS.status, 'evtchn_status.vcpu': E.EVTCHN_STATUS.vcpu, 'evtchn_status.u': E.EVTCHN_STATUS.u,
      'evtchn_status.u.interdomain.port': E.EVTCHN_STATUS.u_interdomain_port,
      'sizeof.evtchn_bind_vcpu': E.EVTCHN_BIND_VCPU.size, 'evtchn_bind_vcpu.port': E.EVTCHN_BIND_VCPU.port, 'evtchn_bind_vcpu.vcpu': E.EVTCHN_BIND_VCPU.vcpu,
      'sizeof.evtchn_reset': E.EVTCHN_RESET.size, 'evtchn_reset.dom': E.EVTCHN_RESET.dom,
      'sizeof.evtchn_op': E.EVTCHN_OP.size, 'evtchn_op.cmd': E.EVTCHN_OP.cmd, 'evtchn_op.u': E.EVTCHN_OP.u,

      ...Object.fromEntries(Object.entries(G.GNTTABOP).map(([k, n]) => [`GNTTABOP_${k}`, n])),
      GNTST_okay: G.GNTST_okay, GNTST_general_error: G.GNTST_general_error, GNTST_bad_domain: G.GNTST_bad_domain,
      GNTST_bad_gntref: G.GNTST_bad_gntref, GNTST_bad_handle: G.GNTST_bad_handle,
      GNTST_bad_virt_addr: G.GNTST_bad_virt_addr, GNTST_bad_dev_addr: G.GNTST_bad_dev_addr,
      GNTST_no_device_space: G.GNTST_no_device_space, GNTST_permission_denied: G.GNTST_permission_denied,
      GNTST_bad_page: G.GNTST_bad_page, GNTST_bad_copy_arg: G.GNTST_bad_copy_arg, GNTST_address_too_big: G.GNTST_address_too_big,
      GNTST_eagain: G.GNTST_eagain, GNTST_no_space: G.GNTST_no_space,
      GNTMAP_device_map: G.GNTMAP_device_map, GNTMAP_host_map: G.GNTMAP_host_map, GNTMAP_readonly: G.GNTMAP_readonly,
      GNTMAP_application_map: G.GNTMAP_application_map, GNTMAP_contains_pte: G.GNTMAP_contains_pte,
      GNTCOPY_source_gref: G.GNTCOPY_source_gref, GNTCOPY_dest_gref: G.GNTCOPY_dest_gref,
      GTF_invalid: G.GTF_invalid, GTF_accept_transfer: G.GTF_accept_transfer, GTF_transitive: G.GTF_transitive,
      GTF_type_mask: G.GTF_type_mask, GTF_sub_page: G.GTF_sub_page,
      GTF_permit_access: G.GTF_permit_access, GTF_readonly: G.GTF_readonly, GTF_reading: G.GTF_reading, GTF_writing: G.GTF_writing,
      GNTTAB_NR_RESERVED_ENTRIES: G.GNTTAB_NR_RESERVED_ENTRIES, GNTTAB_RESERVED_CONSOLE: G.GNTTAB_RESERVED_CONSOLE,
      GNTTAB_RESERVED_XENSTORE: G.GNTTAB_RESERVED_XENSTORE,
      'sizeof.gnttab_setup_table': G.GNTTAB_SETUP_TABLE.size, 'gnttab_setup_table.dom': G.GNTTAB_SETUP_TABLE.dom,
      'gnttab_setup_table.nr_frames': G.GNTTAB_SETUP_TABLE.nr_frames, 'gnttab_setup_table.status': G.GNTTAB_SETUP_TABLE.status,
      'gnttab_setup_table.frame_list': G.GNTTAB_SETUP_TABLE.frame_list,
      'sizeof.gnttab_query_size': G.GNTTAB_QUERY_SIZE.size, 'gnttab_query_size.dom': G.GNTTAB_QUERY_SIZE.dom,
      'gnttab_query_size.nr_frames': G.GNTTAB_QUERY_SIZE.nr_frames, 'gnttab_query_size.max_nr_frames': G.GNTTAB_QUERY_SIZE.max_nr_frames,
      'gnttab_query_size.status': G.GNTTAB_QUERY_SIZE.status,
      'sizeof.gnttab_set_version': G.GNTTAB_SET_VERSION.size, 'gnttab_set_version.version': G.GNTTAB_SET_VERSION.version,
      'sizeof.gnttab_get_version': G.GNTTAB_GET_VERSION.size, 'gnttab_get_version.dom': G.GNTTAB_GET_VERSION.dom,
      'gnttab_get_version.version': G.GNTTAB_GET_VERSION.version,
      'sizeof.grant_entry_v1': G.GRANT_ENTRY_V1.size, 'grant_entry_v1.flags': G.GRANT_ENTRY_V1.flags,
      'grant_entry_v1.domid': G.GRANT_ENTRY_V1.domid, 'grant_entry_v1.frame': G.GRANT_ENTRY_V1.frame,
      ...structOffsets('gnttab_map_grant_ref', G.GNTTAB_MAP_GRANT_REF),
      ...structOffsets('gnttab_unmap_grant_ref', G.GNTTAB_UNMAP_GRANT_REF),
      ...structOffsets('gnttab_unmap_and_replace', G.GNTTAB_UNMAP_AND_REPLACE),
      'sizeof.gnttab_copy': G.GNTTAB_COPY.size, 'gnttab_copy.len': G.GNTTAB_COPY.len, 'gnttab_copy.flags': G.GNTTAB_COPY.flags,
      'gnttab_copy.status': G.GNTTAB_COPY.status,
      'gnttab_copy.source.u.ref': G.GNTTAB_COPY.source + G.GNTTAB_COPY_PTR.u, 'gnttab_copy.source.u.gmfn': G.GNTTAB_COPY.source + G.GNTTAB_COPY_PTR.u,
      'gnttab_copy.source.domid': G.GNTTAB_COPY.source + G.GNTTAB_COPY_PTR.domid,
      'gnttab_copy.source.offset': G.GNTTAB_COPY.source + G.GNTTAB_COPY_PTR.offset,
      'gnttab_copy.dest.u.ref': G.GNTTAB_COPY.dest + G.GNTTAB_COPY_PTR.u, 'gnttab_copy.dest.u.gmfn': G.GNTTAB_COPY.dest + G.GNTTAB_COPY_PTR.u,
      'gnttab_copy.dest.domid': G.GNTTAB_COPY.dest + G.GNTTAB_COPY_PTR.domid,
      'gnttab_copy.dest.offset': G.GNTTAB_COPY.dest + G.GNTTAB_COPY_PTR.offset,

      PHYSDEVOP_IRQ_UNMASK_NOTIFY: PD.PHYSDEVOP.IRQ_UNMASK_NOTIFY, PHYSDEVOP_irq_status_query: PD.PHYSDEVOP.irq_status_query,
      PHYSDEVOP_set_iopl: PD.PHYSDEVOP.set_iopl, PHYSDEVOP_set_iobitmap: PD.PHYSDEVOP.set_iobitmap,
      PHYSDEVOP_apic_read: PD.PHYSDEVOP.apic_read, PHYSDEVOP_eoi: PD.PHYSDEVOP.eoi, PHYSDEVOP_map_pirq: PD.PHYSDEVOP.map_pirq,
      PHYSDEVOP_manage_pci_add: PD.PHYSDEVOP.manage_pci_add, PHYSDEVOP_pirq_eoi_gmfn_v1: PD.PHYSDEVOP.pirq_eoi_gmfn_v1,
      PHYSDEVOP_pirq_eoi_gmfn_v2: PD.PHYSDEVOP.pirq_eoi_gmfn_v2, PHYSDEVOP_get_free_pirq: PD.PHYSDEVOP.get_free_pirq,
      PHYSDEVOP_dbgp_op: PD.PHYSDEVOP.dbgp_op, PHYSDEVOP_prepare_msix: PD.PHYSDEVOP.prepare_msix,
      PHYSDEVOP_release_msix: PD.PHYSDEVOP.release_msix,
      XENIRQSTAT_needs_eoi: PD.XENIRQSTAT_needs_eoi, XENIRQSTAT_shared: PD.XENIRQSTAT_shared,
      'sizeof.physdev_set_iopl': PD.PHYSDEV_SET_IOPL.size, 'physdev_set_iopl.iopl': PD.PHYSDEV_SET_IOPL.iopl,
      'sizeof.physdev_set_iobitmap': PD.PHYSDEV_SET_IOBITMAP.size, 'physdev_set_iobitmap.bitmap': PD.PHYSDEV_SET_IOBITMAP.bitmap,
      'physdev_set_iobitmap.nr_ports': PD.PHYSDEV_SET_IOBITMAP.nr_ports,
      'sizeof.physdev_irq_status_query': PD.PHYSDEV_IRQ_STATUS_QUERY.size, 'physdev_irq_status_query.irq': PD.PHYSDEV_IRQ_STATUS_QUERY.irq,
      'physdev_irq_status_query.flags': PD.PHYSDEV_IRQ_STATUS_QUERY.flags,
      'sizeof.physdev_eoi': PD.PHYSDEV_EOI.size, 'sizeof.physdev_pirq_eoi_gmfn': PD.PHYSDEV_PIRQ_EOI_GMFN.size,
      'physdev_pirq_eoi_gmfn.gmfn': PD.PHYSDEV_PIRQ_EOI_GMFN.gmfn,
      'sizeof.physdev_op': PD.PHYSDEV_OP.size, 'physdev_op.cmd': PD.PHYSDEV_OP.cmd, 'physdev_op.u': PD.PHYSDEV_OP.u,

      XENNMI_register_callback: X.XENNMI_register_callback, XENNMI_unregister_callback: X.XENNMI_unregister_callback,
      'sizeof.xennmi_callback': X.XENNMI_CALLBACK.size, 'xennmi_callback.handler_address': X.XENNMI_CALLBACK.handler_address,
      'xennmi_callback.pad': X.XENNMI_CALLBACK.pad,
      XENPF_INTERFACE_VERSION: X.XENPF_INTERFACE_VERSION,
      'sizeof.xen_platform_op': X.XEN_PLATFORM_OP.size, 'xen_platform_op.cmd': X.XEN_PLATFORM_OP.cmd,
      'xen_platform_op.interface_version': X.XEN_PLATFORM_OP.interface_version,
    };
    const mismatches: string[] = [];
    for (const [k, val] of got) {
      if (!(k in want)) mismatches.push(`${k}: printed by the C program but not checked here`);
      else if (BigInt(want[k]!) !== val) mismatches.push(`${k}: headers ${val}, ours ${want[k]}`);
    }
    for (const k of Object.keys(want)) if (!got.has(k)) mismatches.push(`${k}: not printed by the C program`);
    expect(mismatches).toEqual([]);
  });
});

// ---------------------------------------------------------------- xen_version

describe('xen_version', () => {
  const V = version.XENVER;
  it('version is 4.17, with or without a buffer (xen_force_evtchn_callback passes NULL)', () => {
    expect(call(v, HYPERVISOR.xen_version, V.version, 0)).toBe(0x00040011);
    expect(call(v, HYPERVISOR.xen_version, V.version, va(16))).toBe(0x00040011);
  });

  it('the char[] results are written whole, NUL-padded', () => {
    fill(16, 0xaa);
    expect(call(v, HYPERVISOR.xen_version, V.extraversion, va(16))).toBe(0);
    expect(str(16, 0, 16)).toBe('.0-xenjs'.padEnd(16, '\0'));
    expect(u8(16, 16)).toBe(0xaa);

    fill(17, 0xaa);
    expect(call(v, HYPERVISOR.xen_version, V.capabilities, va(17))).toBe(0);
    expect(str(17, 0, 1024)).toBe('xen-3.0-x86_64 '.padEnd(1024, '\0'));
    expect(u8(17, 1024)).toBe(0xaa);

    fill(18, 0xaa);
    expect(call(v, HYPERVISOR.xen_version, V.changeset, va(18))).toBe(0);
    expect(u8(18, 63)).toBe(0);
    expect(u8(18, 64)).toBe(0xaa);

    fill(19, 0xaa);
    expect(call(v, HYPERVISOR.xen_version, V.compile_info, va(19))).toBe(0);
    expect(str(19, 0, 18)).toBe('xenjs (TypeScript)');
    expect(u8(19, 63)).toBe(0);
    expect(str(19, 64, 5)).toBe('xenjs');
    expect(u8(19, 143)).toBe(0);
    expect(u8(19, 144)).toBe(0xaa);
  });

  it('platform_parameters, pagesize, guest_handle, commandline, build_id', () => {
    expect(call(v, HYPERVISOR.xen_version, V.platform_parameters, va(16))).toBe(0);
    expect(u64(16, 0)).toBe(0xffff800000000000n);
    expect(call(v, HYPERVISOR.xen_version, V.pagesize, 0)).toBe(4096);
    expect(call(v, HYPERVISOR.xen_version, V.pagesize, va(16))).toBe(-XEN_EINVAL);

    expect(call(v, HYPERVISOR.xen_version, V.guest_handle, va(16))).toBe(0);
    const h = d.memory.ram.slice(off(16), off(16, 16));
    expect(h).toEqual(version.domainHandle(d));
    expect(h[6]! >> 4).toBe(5); // a name-based UUID
    version.setDomainHandle(d, '01234567-89ab-cdef-0123-456789abcdef');
    call(v, HYPERVISOR.xen_version, V.guest_handle, va(16));
    expect(version.formatUuid(d.memory.ram.slice(off(16), off(16, 16)))).toBe('01234567-89ab-cdef-0123-456789abcdef');

    fill(20, 0xaa);
    expect(call(v, HYPERVISOR.xen_version, V.commandline, va(20))).toBe(0);
    expect(str(20, 0, 9)).toBe('<denied>\0');
    expect(u8(20, 9)).toBe(0xaa);
    expect(call(v, HYPERVISOR.xen_version, V.build_id, 0)).toBe(-XEN_EPERM);
    expect(call(v, HYPERVISOR.xen_version, 11, va(16))).toBe(-XEN_ENOSYS);
    expect(call(v, HYPERVISOR.xen_version, 0x12345, va(16))).toBe(-XEN_ENOSYS);
  });

  it('get_features: PV submap 0, pae_pgdir_above_4gb only with VMASST pae_extended_cr3, other submaps -EINVAL', () => {
    put32(16, 0, 0);
    put32(16, 4, 0xdeadbeef);
    expect(call(v, HYPERVISOR.xen_version, V.get_features, va(16))).toBe(0);
    const base = (1 << 13) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 17);
    expect(u32(16, 4)).toBe(base);
    setVmAssist(d, VMASST_TYPE_pae_extended_cr3, true);
    call(v, HYPERVISOR.xen_version, V.get_features, va(16));
    expect(u32(16, 4)).toBe(base | (1 << 4));
    put32(16, 0, 1);
    put32(16, 4, 0x1234);
    expect(call(v, HYPERVISOR.xen_version, V.get_features, va(16))).toBe(-XEN_EINVAL);
    expect(u32(16, 4)).toBe(0x1234);
  });

  it('bad buffers are -EFAULT: unmapped, in the Xen hole, non-canonical', () => {
    expect(call(v, HYPERVISOR.xen_version, V.extraversion, 0)).toBe(-XEN_EFAULT);
    expect(call(v, HYPERVISOR.xen_version, V.extraversion, UNMAPPED_VA)).toBe(-XEN_EFAULT);
    expect(call(v, HYPERVISOR.xen_version, V.capabilities, HOLE_VA)).toBe(-XEN_EFAULT);
    expect(call(v, HYPERVISOR.xen_version, V.get_features, NONCANONICAL)).toBe(-XEN_EFAULT);
    // A buffer that runs off the end of the mapping.
    expect(call(v, HYPERVISOR.xen_version, V.capabilities, va(1023, 4000))).toBe(-XEN_EFAULT);
  });
});

// ---------------------------------------------------------------- memory_op

describe('memory_op', () => {
  const X = memory.XENMEM;
  const R = memory.XEN_MEMORY_RESERVATION;
  /** A reservation at pfn 16, extent list at pfn 17. */
  function reservation(extents: number[], order = 0, domid = DOMID_SELF, list: number = va(17)): void {
    put64(16, R.extent_start, list);
    put64(16, R.nr_extents, extents.length);
    put32(16, R.extent_order, order);
    put32(16, R.mem_flags, 0);
    put16(16, R.domid, domid);
    extents.forEach((e, i) => put64(17, 8 * i, e));
  }

  it('machphys_mapping: the read-only M2P and the highest MFN the domain can see', () => {
    expect(call(v, HYPERVISOR.memory_op, X.machphys_mapping, va(16))).toBe(0);
    expect(u64(16, 0)).toBe(0xffff800000000000n);
    expect(u64(16, 8)).toBe(0xffff804000000000n);
    expect(u64(16, 16)).toBe(BigInt(d.memory.maxMfn));
    expect(call(v, HYPERVISOR.memory_op, X.machphys_mapping, UNMAPPED_VA)).toBe(-XEN_EFAULT);
  });

  it('memory_map: one RAM entry [0, maxmem) as libxl sets for PV; a map set by the toolstack; none → -ENOSYS', () => {
    put32(16, 0, 8);
    put64(16, 8, va(17));
    fill(17, 0xaa);
    expect(call(v, HYPERVISOR.memory_op, X.memory_map, va(16))).toBe(0);
    expect(u32(16, 0)).toBe(1);
    expect([u64(17, 0), u64(17, 8), u32(17, 16)]).toEqual([0n, 4096n * 4096n, memory.E820_RAM]);
    expect(u8(17, 20)).toBe(0xaa);
    memory.setMemoryMap(d, [
      { addr: 0, size: 0xa0000, type: memory.E820_RAM },
      { addr: 0xa0000, size: 0x60000, type: memory.E820_RESERVED },
      { addr: 0x100000, size: 4096 * 4096 - 0x100000, type: memory.E820_RAM },
    ]);
    put32(16, 0, 8);
    expect(call(v, HYPERVISOR.memory_op, X.memory_map, va(16))).toBe(0);
    expect(u32(16, 0)).toBe(3);
    expect(u64(17, 20)).toBe(0xa0000n);
    expect(u64(17, 28)).toBe(0x60000n);
    expect(u32(17, 36)).toBe(memory.E820_RESERVED);
    expect(u8(17, 60)).toBe(0xaa);
    put32(16, 0, 1); // a smaller buffer: truncated
    expect(call(v, HYPERVISOR.memory_op, X.memory_map, va(16))).toBe(0);
    expect(u32(16, 0)).toBe(1);
    memory.setMemoryMap(d, []);
    expect(call(v, HYPERVISOR.memory_op, X.memory_map, va(16))).toBe(-XEN_ENOSYS);
    // A domain may set its own map (XSM_TARGET); another domain's is -EPERM.
    memory.setMemoryMap(d, undefined);
    put16(18, 0, DOMID_SELF);
    put32(18, 8, 1);
    put64(18, 16, va(19));
    put64(19, 0, 0);
    put64(19, 8, 0x1000000);
    put32(19, 16, memory.E820_RAM);
    expect(call(v, HYPERVISOR.memory_op, X.set_memory_map, va(18))).toBe(0);
    expect(memory.memoryMap(d)).toEqual([{ addr: 0, size: 0x1000000, type: memory.E820_RAM }]);
    put16(18, 0, 0);
    expect(call(v, HYPERVISOR.memory_op, X.set_memory_map, va(18))).toBe(-XEN_EPERM);
  });

  it('reservation queries take a domid pointer: self or DOMID_SELF; others -EPERM/-ESRCH', () => {
    put16(16, 0, DOMID_SELF);
    expect(call(v, HYPERVISOR.memory_op, X.maximum_reservation, va(16))).toBe(4096);
    expect(call(v, HYPERVISOR.memory_op, X.current_reservation, va(16))).toBe(4096);
    put16(16, 0, d.id);
    expect(call(v, HYPERVISOR.memory_op, X.maximum_reservation, va(16))).toBe(4096);
    put16(16, 0, 0);
    expect(call(v, HYPERVISOR.memory_op, X.maximum_reservation, va(16))).toBe(-XEN_EPERM);
    put16(16, 0, DOMID_IO);
    expect(call(v, HYPERVISOR.memory_op, X.current_reservation, va(16))).toBe(-XEN_ESRCH);
    expect(call(v, HYPERVISOR.memory_op, X.current_reservation, UNMAPPED_VA)).toBe(-XEN_EFAULT);
    expect(call(v, HYPERVISOR.memory_op, X.maximum_ram_page, 0)).toBe(d.memory.maxMfn + 1);
    // maximum_gpfn: from the max_pfn the guest wrote into shared_info.
    put16(16, 0, DOMID_SELF);
    expect(call(v, HYPERVISOR.memory_op, X.maximum_gpfn, va(16))).toBe(0);
    d.memory.dv.setUint32(siOff(SHARED_INFO.arch + ARCH_SHARED_INFO.max_pfn), 4096, true);
    expect(call(v, HYPERVISOR.memory_op, X.maximum_gpfn, va(16))).toBe(4095);
  });

  it('decrease_reservation releases owned frames (by MFN); populate_physmap gives them back (PFN in, MFN out)', () => {
    reservation([mfn(2000), mfn(2001)]);
    expect(call(v, HYPERVISOR.memory_op, X.decrease_reservation, va(16))).toBe(2);
    expect(d.memory.p2m[2000]).toBe(-1);
    expect(d.memory.m2p(mfn(2000))).toBe(-1);
    expect(memory.isReleasedMfn(d, mfn(2001))).toBe(true);
    expect(pageTypes(d.memory).ownedRam(mfn(2000))).toBe(-1); // no longer mappable
    put16(18, 0, DOMID_SELF);
    expect(call(v, HYPERVISOR.memory_op, X.current_reservation, va(18))).toBe(4094);
    // Releasing again: not owned, nothing done.
    expect(call(v, HYPERVISOR.memory_op, X.decrease_reservation, va(16))).toBe(0);

    d.memory.ram.fill(0x55, mfn(2000) - d.memory.baseMfn, 1); // (frame contents get scrubbed below)
    d.memory.ram.fill(0x55, 2000 * 4096, 2001 * 4096);
    reservation([2000]);
    expect(call(v, HYPERVISOR.memory_op, X.populate_physmap, va(16))).toBe(1);
    expect(u64(17, 0)).toBe(BigInt(mfn(2000))); // its own frame, preferred
    expect(d.memory.m2p(mfn(2000))).toBe(2000);
    expect(d.memory.ram[2000 * 4096 + 123]).toBe(0);
    reservation([5000]); // a PFN beyond nr_pages gets any free frame
    expect(call(v, HYPERVISOR.memory_op, X.populate_physmap, va(16))).toBe(1);
    expect(u64(17, 0)).toBe(BigInt(mfn(2001)));
    expect(d.memory.m2p(mfn(2001))).toBe(5000);
    expect(call(v, HYPERVISOR.memory_op, X.current_reservation, va(18))).toBe(4096);
    // Nothing left to give.
    reservation([6000]);
    expect(call(v, HYPERVISOR.memory_op, X.populate_physmap, va(16))).toBe(0);
  });

  it('increase_reservation (NULL list allowed), extent orders, max_pages, bad arguments', () => {
    reservation([mfn(2048)], 1);
    expect(call(v, HYPERVISOR.memory_op, X.decrease_reservation, va(16))).toBe(1); // order 1: 2048 and 2049
    expect(memory.currentPages(d)).toBe(4094);
    reservation([0, 0], 0, DOMID_SELF, 0);
    expect(call(v, HYPERVISOR.memory_op, X.increase_reservation, va(16))).toBe(2);
    expect(memory.currentPages(d)).toBe(4096);

    reservation([mfn(2048)], 10); // above the domU max order
    expect(call(v, HYPERVISOR.memory_op, X.decrease_reservation, va(16))).toBe(0);
    reservation([mfn(2048)], 0, 0); // another domain: nothing done
    expect(call(v, HYPERVISOR.memory_op, X.decrease_reservation, va(16))).toBe(0);
    // An unreadable reservation returns the start extent, not -EFAULT.
    expect(call(v, HYPERVISOR.memory_op, X.populate_physmap, UNMAPPED_VA)).toBe(0);
    // A continuation start beyond nr_extents.
    reservation([mfn(2048)]);
    expect(call(v, HYPERVISOR.memory_op, X.decrease_reservation | (5 << memory.MEMOP_EXTENT_SHIFT), va(16))).toBe(5);
    // An unreadable extent list stops early.
    reservation([mfn(2048), mfn(2049)], 0, DOMID_SELF, UNMAPPED_VA);
    expect(call(v, HYPERVISOR.memory_op, X.decrease_reservation, va(16))).toBe(0);
  });

  it('a frame still referenced is released but not reused until its references are gone', () => {
    const pt = pageTypes(d.memory);
    expect(pt.getTypeMfn(mfn(3000), PGT_writable)).toBe(0);
    reservation([mfn(3000)]);
    expect(call(v, HYPERVISOR.memory_op, X.decrease_reservation, va(16))).toBe(1);
    reservation([3000]);
    expect(call(v, HYPERVISOR.memory_op, X.populate_physmap, va(16))).toBe(0);
    pt.putTypeMfn(mfn(3000));
    expect(call(v, HYPERVISOR.memory_op, X.populate_physmap, va(16))).toBe(1);
  });

  it('PV has no physmap to add to; other unsupported ops', () => {
    put16(16, 0, DOMID_SELF);
    put32(16, memory.XEN_ADD_TO_PHYSMAP.space, 1);
    expect(call(v, HYPERVISOR.memory_op, X.add_to_physmap, va(16))).toBe(-XEN_EACCES);
    put32(16, memory.XEN_ADD_TO_PHYSMAP.space, memory.XENMAPSPACE_gmfn_foreign);
    expect(call(v, HYPERVISOR.memory_op, X.add_to_physmap, va(16))).toBe(-XEN_ENOSYS);
    expect(call(v, HYPERVISOR.memory_op, X.remove_from_physmap, va(16))).toBe(-XEN_EACCES);
    expect(call(v, HYPERVISOR.memory_op, X.exchange, va(16))).toBe(-XEN_ENOSYS);
    expect(call(v, HYPERVISOR.memory_op, X.machphys_mfn_list, va(16))).toBe(-XEN_ENOSYS);
    expect(call(v, HYPERVISOR.memory_op, X.acquire_resource, va(16))).toBe(-XEN_ENOSYS);
    expect(call(v, HYPERVISOR.memory_op, X.claim_pages, va(16))).toBe(-XEN_EPERM);
    expect(call(v, HYPERVISOR.memory_op, X.machine_memory_map, va(16))).toBe(-XEN_EPERM);
    put16(16, 0, DOMID_SELF);
    put16(16, 2, 0);
    expect(call(v, HYPERVISOR.memory_op, X.get_vnumainfo, va(16))).toBe(-XEN_EOPNOTSUPP);
    put16(16, 2, 1); // pad must be 0
    expect(call(v, HYPERVISOR.memory_op, X.get_vnumainfo, va(16))).toBe(-XEN_EINVAL);
    expect(call(v, HYPERVISOR.memory_op, 63, va(16))).toBe(-XEN_ENOSYS);
    // Continuation bits on a sub-op that has none.
    expect(call(v, HYPERVISOR.memory_op, X.machphys_mapping | (1 << 6), va(16))).toBe(-XEN_EINVAL);
  });
});

// ---------------------------------------------------------------- console_io

describe('console_io', () => {
  it('CONSOLEIO_write hands the bytes to the domain console at once and returns 0', () => {
    const msg = Buffer.from('mapping kernel into physical memory\n\x1b[0m');
    d.memory.ram.set(msg, off(16));
    expect(call(v, HYPERVISOR.console_io, console_.CONSOLEIO_write, msg.length, va(16))).toBe(0);
    expect(Buffer.from(consoleBytes).toString('latin1')).toBe(msg.toString('latin1'));
    expect(call(v, HYPERVISOR.console_io, console_.CONSOLEIO_write, 0, 0)).toBe(0);
  });

  it('a bad buffer is -EFAULT; read returns 0; unknown commands -ENOSYS', () => {
    expect(call(v, HYPERVISOR.console_io, console_.CONSOLEIO_write, 10, UNMAPPED_VA)).toBe(-XEN_EFAULT);
    expect(call(v, HYPERVISOR.console_io, console_.CONSOLEIO_write, 10, HOLE_VA)).toBe(-XEN_EFAULT);
    expect(call(v, HYPERVISOR.console_io, console_.CONSOLEIO_read, 16, va(16))).toBe(0);
    expect(call(v, HYPERVISOR.console_io, console_.CONSOLEIO_read, 0x80000000, va(16))).toBe(-XEN_E2BIG);
    expect(call(v, HYPERVISOR.console_io, 2, 1, va(16))).toBe(-XEN_ENOSYS);
  });

  it('a long write continues itself (no length cap), so events can come in between', () => {
    const n = 100 * 1024;
    for (let i = 0; i < n; i++) d.memory.ram[off(100) + i] = 32 + (i % 90);
    v.cpu.setRip(0x1002, -1);
    setArgs(v, [console_.CONSOLEIO_write, n, va(100)]);
    expect(dispatchHypercall(v, HYPERVISOR.console_io)).toBe(NO_RETURN);
    expect(v.cpu.getReg64n(0)).toBe(BigInt(HYPERVISOR.console_io));
    expect(v.cpu.r[RIP]).toBe(0x1000);
    expect(v.arg32(1)).toBe(n - 64 * 1024);
    expect(v.argVa(2)).toBe(va(100, 64 * 1024));
    expect(dispatchHypercall(v, HYPERVISOR.console_io)).toBe(0);
    expect(consoleBytes.length).toBe(n);
    expect(consoleBytes[n - 1]).toBe(32 + ((n - 1) % 90));
  });
});

// ---------------------------------------------------------------- sched_op

describe('sched_op', () => {
  const S = sched.SCHEDOP;
  it('yield returns 0; block clears the upcall mask and blocks unless an event is pending', () => {
    expect(call(v, HYPERVISOR.sched_op, S.yield, 0)).toBe(0);
    v.upcallMask = true;
    expect(call(v, HYPERVISOR.sched_op, S.block, 0)).toBe(0);
    expect(v.upcallMask).toBe(false);
    expect(v.blocked).toBe(true);
    expect(vcpuOp.runstateSnapshot(v).state).toBe(vcpuOp.RUNSTATE_blocked);
    // An event wakes it.
    const woken: number[] = [];
    v.domain.onVcpuWake = (w) => woken.push(w.id);
    evtchn.markEventsPending(v);
    v.domain.onVcpuWake = undefined;
    expect(v.blocked).toBe(false);
    expect(woken).toEqual([0]);
    expect(vcpuOp.runstateSnapshot(v).state).toBe(vcpuOp.RUNSTATE_running);
    // Already pending: returns at once.
    expect(call(v, HYPERVISOR.sched_op, S.block, 0)).toBe(0);
    expect(v.blocked).toBe(false);
  });

  it('shutdown: the reason; crash is noted; a shutdown_code set earlier wins', () => {
    put32(16, 0, SHUTDOWN_crash);
    expect(call(v, HYPERVISOR.sched_op, S.shutdown, va(16))).toBe(0);
    expect(d.isShutdown).toBe(true);
    expect(d.shutdownReason).toBe(SHUTDOWN_crash);
    expect(logs.some((l) => l.includes('crash'))).toBe(true);

    makeDomain();
    put32(16, 0, SHUTDOWN_reboot);
    expect(call(v, HYPERVISOR.sched_op, S.shutdown_code, va(16))).toBe(0);
    put32(16, 0, SHUTDOWN_poweroff);
    expect(call(v, HYPERVISOR.sched_op, S.shutdown, va(16))).toBe(0);
    expect(d.shutdownReason).toBe(SHUTDOWN_reboot);

    makeDomain();
    expect(call(v, HYPERVISOR.sched_op, S.shutdown, UNMAPPED_VA)).toBe(-XEN_EFAULT);
    put32(16, 0, 2); // suspend: cancelled at once
    expect(call(v, HYPERVISOR.sched_op, S.shutdown, va(16))).toBe(1);
    expect(d.isShutdown).toBe(false);
  });

  it('sched_op_compat: yield, block, shutdown with the reason as the argument', () => {
    expect(call(v, HYPERVISOR.sched_op_compat, S.yield, 0)).toBe(0);
    expect(call(v, HYPERVISOR.sched_op_compat, S.poll, 0)).toBe(-XEN_ENOSYS);
    expect(call(v, HYPERVISOR.sched_op_compat, S.shutdown, SHUTDOWN_poweroff)).toBe(0);
    expect(d.isShutdown).toBe(true);
    expect(d.shutdownReason).toBe(SHUTDOWN_poweroff);
  });

  it('poll: validates nr_ports and ports; returns at once if a port is pending; else sleeps until a send or the timeout', () => {
    const P = sched.SCHED_POLL;
    const poll = (ports: number[], timeout = 0, list = va(17)): number => {
      put64(16, P.ports, list);
      put32(16, P.nr_ports, ports.length);
      put64(16, P.timeout, timeout);
      ports.forEach((p, i) => put32(17, 4 * i, p));
      return call(v, HYPERVISOR.sched_op, S.poll, va(16));
    };
    put64(16, P.ports, va(17));
    put32(16, P.nr_ports, 129);
    expect(call(v, HYPERVISOR.sched_op, S.poll, va(16))).toBe(-XEN_EINVAL);
    expect(poll([3], 0, HOLE_VA)).toBe(-XEN_EFAULT);
    expect(poll([3], 0, UNMAPPED_VA)).toBe(-XEN_EFAULT);
    expect(poll([5000])).toBe(-XEN_EINVAL);

    // An IPI port on vCPU 0, masked (PV spinlocks poll with events masked).
    put32(18, evtchn.EVTCHN_BIND_IPI.vcpu, 0);
    expect(call(v, HYPERVISOR.event_channel_op, evtchn.EVTCHNOP.bind_ipi, va(18))).toBe(0);
    const port = u32(18, evtchn.EVTCHN_BIND_IPI.port);
    setMaskBit(port, true);
    expect(poll([port])).toBe(0);
    expect(v.blocked).toBe(true);
    put32(19, 0, port);
    expect(call(v1, HYPERVISOR.event_channel_op, evtchn.EVTCHNOP.send, va(19))).toBe(0);
    expect(v.blocked).toBe(false); // woken although masked
    expect(pendingBit(port)).toBe(true);
    expect(poll([port])).toBe(0); // pending: no sleep
    expect(v.blocked).toBe(false);

    // Timeout.
    d.memory.ram[siOff(SHARED_INFO.evtchn_pending + (port >> 3))] = 0;
    expect(poll([port], now + 5_000_000)).toBe(0);
    expect(v.blocked).toBe(true);
    expect(evtchn.pollDeadline(v)).toBe(now + 5_000_000);
    evtchn.servicePollTimeout(v, now + 1);
    expect(v.blocked).toBe(true);
    now += 5_000_000;
    evtchn.servicePollTimeout(v, now);
    expect(v.blocked).toBe(false);
    expect(evtchn.pollDeadline(v)).toBe(-1);
  });

  it('remote_shutdown, pin_override: -EPERM; watchdog bookkeeping; unknown -ENOSYS', () => {
    put16(16, 0, 0);
    expect(call(v, HYPERVISOR.sched_op, S.remote_shutdown, va(16))).toBe(-XEN_EPERM);
    expect(call(v, HYPERVISOR.sched_op, S.pin_override, va(16))).toBe(-XEN_EPERM);
    expect(call(v, HYPERVISOR.sched_op, 99, va(16))).toBe(-XEN_ENOSYS);
    const wd = (id: number, timeout: number): number => {
      put32(16, 0, id);
      put32(16, 4, timeout);
      return call(v, HYPERVISOR.sched_op, S.watchdog, va(16));
    };
    expect(wd(0, 10)).toBe(1);
    expect(wd(0, 20)).toBe(2);
    expect(wd(0, 30)).toBe(-XEN_ENOSPC);
    expect(wd(2, 0)).toBe(0); // freed
    expect(wd(2, 5)).toBe(-XEN_EINVAL);
    expect(wd(7, 5)).toBe(-XEN_EINVAL);
    expect(sched.watchdogDeadline(d)).toBe(now + 10e9);
    sched.serviceWatchdogs(d, now + 9e9);
    expect(d.isShutdown).toBe(false);
    sched.serviceWatchdogs(d, now + 10e9);
    expect(d.shutdownReason).toBe(SHUTDOWN_watchdog);
  });
});

// ---------------------------------------------------------------- vcpu_op

describe('vcpu_op', () => {
  const C = vcpuOp.VCPUOP;
  it('is_up for existing vCPUs, -ENOENT beyond', () => {
    expect(call(v, HYPERVISOR.vcpu_op, C.is_up, 0, 0)).toBe(1);
    expect(call(v, HYPERVISOR.vcpu_op, C.is_up, 1, 0)).toBe(0);
    expect(call(v, HYPERVISOR.vcpu_op, C.is_up, 2, 0)).toBe(-XEN_ENOENT);
    expect(call(v, HYPERVISOR.vcpu_op, C.is_up, 8191, 0)).toBe(-XEN_ENOENT);
    expect(call(v, HYPERVISOR.vcpu_op, 99, 0, 0)).toBe(-XEN_ENOSYS);
  });

  it('register_vcpu_info moves vcpu_info into a guest page (copying it), once per vCPU', () => {
    const R = vcpuOp.VCPU_REGISTER_VCPU_INFO;
    const old = v.vcpuInfoOffset();
    d.memory.ram[old + VCPU_INFO.time] = 6; // a time version to see copied
    d.memory.ram[old + VCPU_INFO.evtchn_upcall_mask] = 1;
    put64(16, R.mfn, mfn(20));
    put32(16, R.offset, 64);
    expect(call(v, HYPERVISOR.vcpu_op, C.register_vcpu_info, 0, va(16))).toBe(0);
    expect(v.vcpuInfoMaddr).toBe(mfn(20) * 4096 + 64);
    expect(v.vcpuInfoOffset()).toBe(off(20, 64));
    expect(u8(20, 64 + VCPU_INFO.time)).toBe(6);
    expect(u8(20, 64 + VCPU_INFO.evtchn_upcall_mask)).toBe(1);
    expect(u64(20, 64 + VCPU_INFO.evtchn_pending_sel)).toBe(0xffffffffffffffffn);
    expect(u8(20, 64 + VCPU_INFO.evtchn_upcall_pending)).toBe(1);
    expect(pageTypes(d.memory).typeOf(mfn(20))).toBe(PGT_writable);
    // A second registration.
    put64(16, R.mfn, mfn(21));
    expect(call(v, HYPERVISOR.vcpu_op, C.register_vcpu_info, 0, va(16))).toBe(-XEN_EINVAL);
    // vCPU 1 (down) may be registered by vCPU 0; bad offsets, frames.
    put32(16, R.offset, 4096 - 63);
    expect(call(v, HYPERVISOR.vcpu_op, C.register_vcpu_info, 1, va(16))).toBe(-XEN_ENXIO);
    put32(16, R.offset, 12);
    expect(call(v, HYPERVISOR.vcpu_op, C.register_vcpu_info, 1, va(16))).toBe(-XEN_ENXIO);
    put32(16, R.offset, 0);
    put64(16, R.mfn, d.sharedInfoMfn + 100); // not RAM
    expect(call(v, HYPERVISOR.vcpu_op, C.register_vcpu_info, 1, va(16))).toBe(-XEN_EINVAL);
    put64(16, R.mfn, 5);
    expect(call(v, HYPERVISOR.vcpu_op, C.register_vcpu_info, 1, va(16))).toBe(-XEN_EINVAL);
    expect(pageTypes(d.memory).getTypeMfn(mfn(22), PGT_l4)).toBe(0); // a page table: not writable
    put64(16, R.mfn, mfn(22));
    expect(call(v, HYPERVISOR.vcpu_op, C.register_vcpu_info, 1, va(16))).toBe(-XEN_EINVAL);
    put64(16, R.mfn, mfn(21));
    put32(16, R.offset, 4096 - 64);
    expect(call(v, HYPERVISOR.vcpu_op, C.register_vcpu_info, 1, va(16))).toBe(0);
    expect(v1.vcpuInfoOffset()).toBe(off(21, 4096 - 64));
    expect(call(v, HYPERVISOR.vcpu_op, C.register_vcpu_info, 1, UNMAPPED_VA)).toBe(-XEN_EFAULT);
  });

  it('register_vcpu_info on an online vCPU other than the caller is -EINVAL', () => {
    v1.online = true;
    put64(16, 0, mfn(20));
    put32(16, 8, 0);
    expect(call(v, HYPERVISOR.vcpu_op, C.register_vcpu_info, 1, va(16))).toBe(-XEN_EINVAL);
    expect(call(v1, HYPERVISOR.vcpu_op, C.register_vcpu_info, 1, va(16))).toBe(0);
  });

  it('register_runstate_memory_area writes the runstate through the VA; it follows blocking', () => {
    const RS = vcpuOp.VCPU_RUNSTATE_INFO;
    fill(30, 0xaa);
    put64(16, 0, va(30));
    expect(call(v, HYPERVISOR.vcpu_op, C.register_runstate_memory_area, 0, va(16))).toBe(0);
    expect(v.runstateVa).toBe(va(30));
    expect(i32(30, RS.state)).toBe(vcpuOp.RUNSTATE_running);
    expect(u64(30, RS.state_entry_time)).toBe(0n); // running since the domain was created
    expect(u64(30, RS.time)).toBe(BigInt(now));
    expect([1, 2, 3].map((k) => u64(30, RS.time + 8 * k))).toEqual([0n, 0n, 0n]);
    expect(u8(30, RS.size)).toBe(0xaa);
    // Blocking updates it.
    now += 1000;
    v.upcallMask = true;
    expect(call(v, HYPERVISOR.sched_op, sched.SCHEDOP.block, 0)).toBe(0);
    expect(i32(30, RS.state)).toBe(vcpuOp.RUNSTATE_blocked);
    expect(u64(30, RS.state_entry_time)).toBe(BigInt(now));
    expect(u64(30, RS.time)).toBe(BigInt(now));
    // Registration errors: the hole is -EFAULT; an unmapped VA is accepted (the write is skipped).
    put64(16, 0, HOLE_VA);
    expect(call(v, HYPERVISOR.vcpu_op, C.register_runstate_memory_area, 0, va(16))).toBe(-XEN_EFAULT);
    put64(16, 0, NONCANONICAL);
    expect(call(v, HYPERVISOR.vcpu_op, C.register_runstate_memory_area, 0, va(16))).toBe(-XEN_EFAULT);
    put64(16, 0, UNMAPPED_VA);
    expect(call(v, HYPERVISOR.vcpu_op, C.register_runstate_memory_area, 1, va(16))).toBe(0);
    expect(v1.runstateVa).toBe(UNMAPPED_VA);
  });

  it('get_runstate_info: an offline vCPU has been offline since creation', () => {
    expect(call(v, HYPERVISOR.vcpu_op, C.get_runstate_info, 1, va(16))).toBe(0);
    expect(i32(16, 0)).toBe(vcpuOp.RUNSTATE_offline);
    expect(u64(16, 16 + 3 * 8)).toBe(BigInt(now));
    expect(call(v, HYPERVISOR.vcpu_op, C.get_runstate_info, 1, UNMAPPED_VA)).toBe(-XEN_EFAULT);
  });

  it('timers: periodic (>= 1 ms), single-shot (own vCPU only; a past timeout fires VIRQ_TIMER now), stop', () => {
    put64(16, 0, 500_000);
    expect(call(v, HYPERVISOR.vcpu_op, C.set_periodic_timer, 0, va(16))).toBe(-XEN_EINVAL);
    put64(16, 0, 20_000_000);
    expect(call(v, HYPERVISOR.vcpu_op, C.set_periodic_timer, 1, va(16))).toBe(0); // any vCPU
    expect(v1.periodicPeriod).toBe(20_000_000);
    expect(v1.periodicNext).toBe(now + 20_000_000);
    put64(16, 0, 2 ** 62);
    expect(call(v, HYPERVISOR.vcpu_op, C.set_periodic_timer, 1, va(16))).toBe(-XEN_EINVAL); // > STIME_DELTA_MAX
    expect(call(v, HYPERVISOR.vcpu_op, C.stop_periodic_timer, 0, 0)).toBe(0);
    expect(v.periodicPeriod).toBe(0);

    const S = vcpuOp.VCPU_SET_SINGLESHOT_TIMER;
    put64(16, S.timeout_abs_ns, now + 1234);
    put32(16, S.flags, vcpuOp.VCPU_SSHOTTMR_future);
    expect(call(v, HYPERVISOR.vcpu_op, C.set_singleshot_timer, 1, va(16))).toBe(-XEN_EINVAL);
    expect(call(v, HYPERVISOR.vcpu_op, C.set_singleshot_timer, 0, va(16))).toBe(0);
    expect(v.timerDeadline).toBe(now + 1234);
    expect(call(v, HYPERVISOR.vcpu_op, C.stop_singleshot_timer, 1, 0)).toBe(-XEN_EINVAL);
    expect(call(v, HYPERVISOR.vcpu_op, C.stop_singleshot_timer, 0, 0)).toBe(0);
    expect(v.timerDeadline).toBe(-1);

    // A timeout in the past (the future flag is ignored since Xen 4.17): VIRQ_TIMER at once.
    put32(18, evtchn.EVTCHN_BIND_VIRQ.virq, evtchn.VIRQ_TIMER);
    put32(18, evtchn.EVTCHN_BIND_VIRQ.vcpu, 0);
    expect(call(v, HYPERVISOR.event_channel_op, evtchn.EVTCHNOP.bind_virq, va(18))).toBe(0);
    const port = u32(18, evtchn.EVTCHN_BIND_VIRQ.port);
    v.timerDeadline = now + 99;
    put64(16, S.timeout_abs_ns, now - 1);
    expect(call(v, HYPERVISOR.vcpu_op, C.set_singleshot_timer, 0, va(16))).toBe(0);
    expect(v.timerDeadline).toBe(-1);
    expect(pendingBit(port)).toBe(true);
    expect(call(v, HYPERVISOR.vcpu_op, C.set_singleshot_timer, 0, UNMAPPED_VA)).toBe(-XEN_EFAULT);
  });

  it('register_vcpu_time_memory_area (once the time code opts in) copies vcpu_time_info there; send_nmi, get_physid', () => {
    const t = v.vcpuInfoOffset() + VCPU_INFO.time;
    for (let k = 0; k < 32; k++) d.memory.ram[t + k] = k + 1;
    put64(16, 0, va(31, 32));
    expect(call(v, HYPERVISOR.vcpu_op, C.register_vcpu_time_memory_area, 0, va(16))).toBe(-XEN_ENOSYS);
    vcpuOp.setVcpuTimeAreaSupported(true);
    expect(call(v, HYPERVISOR.vcpu_op, C.register_vcpu_time_memory_area, 0, va(16))).toBe(0);
    expect(Array.from(d.memory.ram.subarray(off(31, 32), off(31, 64)))).toEqual(Array.from({ length: 32 }, (_, k) => k + 1));
    expect(vcpuOp.vcpuTimeAreaVa(v)).toBe(va(31, 32));
    for (let k = 0; k < 32; k++) d.memory.ram[t + k] = 100 + k;
    vcpuOp.updateVcpuTimeArea(v);
    expect(u8(31, 32)).toBe(100);
    put64(16, 0, HOLE_VA);
    expect(call(v, HYPERVISOR.vcpu_op, C.register_vcpu_time_memory_area, 0, va(16))).toBe(-XEN_EFAULT);
    vcpuOp.setVcpuTimeAreaSupported(false);
    expect(call(v, HYPERVISOR.vcpu_op, C.send_nmi, 1, 0)).toBe(-XEN_ENOSYS);
    expect(call(v, HYPERVISOR.vcpu_op, C.send_nmi, 1, va(16))).toBe(-XEN_EINVAL);
    expect(call(v, HYPERVISOR.vcpu_op, C.get_physid, 0, va(16))).toBe(-XEN_EINVAL);
  });

  /** A vcpu_guest_context for vCPU 1 at pfns 40-41, the way Linux's cpu_initialize_context fills one. */
  function context(over: (o: (field: number) => number) => void = () => {}): number {
    const G = vcpuOp.VCPU_GUEST_CONTEXT, U = vcpuOp.CPU_USER_REGS;
    fill(40, 0, 2);
    const o = (field: number): number => field; // offsets within the context
    const p64 = (field: number, val: number | bigint): void => dv().setBigUint64(off(40, field), BigInt.asUintN(64, BigInt(val)), true);
    p64(G.flags, abi.VGCF_IN_KERNEL);
    p64(G.user_regs + U.rip, 0xffffffff81001234n);
    p64(G.user_regs + U.rsp, 0xffffc90000123f58n);
    p64(G.user_regs + U.rflags, 0x1000); // IOPL 1, IF clear
    p64(G.user_regs + U.rdi, 0x1111);
    p64(G.user_regs + U.r15, 0xf15);
    dv().setUint16(off(40, G.user_regs + U.cs), 0x10, true);
    dv().setUint16(off(40, G.user_regs + U.ss), 0x18, true);
    dv().setUint16(off(40, G.user_regs + U.ds), 0x2b, true);
    dv().setUint16(off(40, G.user_regs + U.es), 0x2b, true);
    const t14 = G.trap_ctxt + 14 * vcpuOp.TRAP_INFO.size;
    dv().setUint8(off(40, t14), 14);
    dv().setUint16(off(40, t14 + vcpuOp.TRAP_INFO.cs), 0x10, true);
    p64(t14 + vcpuOp.TRAP_INFO.address, 0xffffffff81a00000n);
    p64(G.gdt_frames, mfn(1030));
    p64(G.gdt_ents, 16);
    p64(G.kernel_ss, 0x18);
    p64(G.kernel_sp, 0xffffc90000124000n);
    p64(G.ctrlreg + 3 * 8, mfn(1031) * 4096);
    p64(G.event_callback_eip, 0xffffffff81b00000n);
    p64(G.failsafe_callback_eip, 0xffffffff81b00100n);
    p64(G.gs_base_kernel, 0xffff888007c00000n);
    p64(G.debugreg + 7 * 8, 0x400);
    over(o);
    void o;
    return va(40);
  }

  it('initialise loads a context into a vCPU that is down; up brings it online; a second initialise is -EEXIST', () => {
    fill(1031, 0); // an empty L4 for vCPU 1
    expect(call(v, HYPERVISOR.vcpu_op, C.up, 1, 0)).toBe(-XEN_EINVAL); // no context yet
    expect(call(v, HYPERVISOR.vcpu_op, C.initialise, 1, context())).toBe(0);
    const cpu = v1.cpu;
    expect(cpu.getReg64n(RIP / 2)).toBe(0xffffffff81001234n);
    expect(cpu.getReg64n(RSP)).toBe(0xffffc90000123f58n);
    expect(cpu.getReg64n(7)).toBe(0x1111n);
    expect(cpu.getReg64n(15)).toBe(0xf15n);
    expect(cpu.getFlags() & (IF | 0x3000)).toBe(IF); // IF forced on, IOPL virtualised
    expect(v1.iopl).toBe(1);
    expect(cpu.sel[SEG_CS]).toBe(0x13);
    expect(cpu.sel[SEG_SS]).toBe(0x1b);
    expect(cpu.segBase[2 * SEG_GS + 1]! >>> 0).toBe(0xffff8880);
    expect(v1.kernelMode).toBe(true);
    expect(v1.trapTable[14]).toEqual({ address: Number(BigInt.asIntN(64, 0xffffffff81a00000n)), cs: 0x13, flags: 0 });
    expect(v1.gdtFrames).toEqual([mfn(1030)]);
    expect(v1.gdtEntries).toBe(16);
    expect(pageTypes(d.memory).typeOf(mfn(1030))).toBe(PGT_seg_desc);
    expect(v1.kernelSs).toBe(0x1b);
    expect(v1.kernelSp).toBe(Number(BigInt.asIntN(64, 0xffffc90000124000n)));
    expect(v1.mmu.kernelRoot).toBe(mfn(1031));
    expect(pageTypes(d.memory).typeOf(mfn(1031))).toBe(PGT_l4);
    expect(v1.eventCallback).toBe(Number(BigInt.asIntN(64, 0xffffffff81b00000n)));
    expect(v1.debugReg[7]).toBe(0x400);
    expect(v1.online).toBe(false);
    expect(call(v, HYPERVISOR.vcpu_op, C.is_up, 1, 0)).toBe(0);
    expect(call(v, HYPERVISOR.vcpu_op, C.up, 1, 0)).toBe(0);
    expect(v1.online).toBe(true);
    expect(call(v, HYPERVISOR.vcpu_op, C.is_up, 1, 0)).toBe(1);
    expect(call(v, HYPERVISOR.vcpu_op, C.initialise, 1, context())).toBe(-XEN_EEXIST);
    // down: vCPU 1 goes offline; then vCPU 0 is the last one up: the domain powers off.
    expect(call(v, HYPERVISOR.vcpu_op, C.down, 1, 0)).toBe(0);
    expect(v1.online).toBe(false);
    expect(vcpuOp.runstateSnapshot(v1).state).toBe(vcpuOp.RUNSTATE_offline);
    expect(call(v, HYPERVISOR.vcpu_op, C.up, 1, 0)).toBe(0); // still initialised
    expect(call(v, HYPERVISOR.vcpu_op, C.down, 1, 0)).toBe(0);
    expect(call(v, HYPERVISOR.vcpu_op, C.down, 0, 0)).toBe(0);
    expect(d.isShutdown).toBe(true);
    expect(d.shutdownReason).toBe(SHUTDOWN_poweroff);
  });

  it('initialise with VGCF_i387_valid loads fpu_ctxt as fxrstor does (MXCSR bits the CPU lacks dropped)', () => {
    fill(1031, 0);
    const G = vcpuOp.VCPU_GUEST_CONTEXT;
    const at = (o: number): number => off(40, G.fpu_ctxt + o);
    const ctx = context(() => {
      dv().setBigUint64(off(40, G.flags), BigInt(abi.VGCF_IN_KERNEL | abi.VGCF_I387_VALID), true);
      dv().setUint16(at(0), 0x037a, true); // FCW: reserved bit 6 set (fxrstor keeps it set), PC = double
      dv().setUint16(at(2), 0x3800, true); // FSW: TOP = 7
      dv().setUint8(at(4), 0x80); // abridged tag: physical register 7 valid
      dv().setUint32(at(24), 0x11f80, true); // MXCSR with bit 16 (not in MXCSR_MASK)
      // ST(0) (physical 7) = 1.0: significand 0x8000000000000000, exponent 0x3fff.
      dv().setUint32(at(32), 0, true);
      dv().setUint32(at(36), 0x80000000, true);
      dv().setUint16(at(40), 0x3fff, true);
      dv().setUint32(at(160 + 16 * 3 + 12), 0xdeadbeef, true); // XMM3[127:96]
    });
    expect(call(v, HYPERVISOR.vcpu_op, C.initialise, 1, ctx)).toBe(0);
    const cpu = v1.cpu, f = cpu.fpu;
    expect(f.cw & 0xf3f).toBe(0x033a);
    expect(f.top).toBe(7);
    expect(f.valid).toBe(0x80);
    expect(cpu.mxcsr).toBe(0x1f80);
    expect(f.hi[7]! >>> 0).toBe(0x80000000);
    expect(f.se[7]).toBe(0x3fff);
    expect(cpu.xmm[3 * 4 + 3]! >>> 0).toBe(0xdeadbeef);
  });

  it('initialise validates the context like arch_set_info_guest', () => {
    const G = vcpuOp.VCPU_GUEST_CONTEXT, U = vcpuOp.CPU_USER_REGS;
    fill(1031, 0);
    const p64 = (field: number, val: number | bigint): void => dv().setBigUint64(off(40, field), BigInt.asUintN(64, BigInt(val)), true);
    const tryCtx = (f: () => void): number => call(v, HYPERVISOR.vcpu_op, C.initialise, 1, context(f));
    expect(tryCtx(() => p64(G.user_regs + U.rip, NONCANONICAL))).toBe(-XEN_EINVAL);
    expect(tryCtx(() => p64(G.trap_ctxt + 3 * 16 + 8, NONCANONICAL))).toBe(-XEN_EINVAL);
    expect(tryCtx(() => p64(G.ldt_base, 0xffff800000000000n))).toBe(-XEN_EINVAL); // in the Xen hole
    expect(tryCtx(() => p64(G.ldt_base, 0x1234))).toBe(-XEN_EINVAL); // not page-aligned
    expect(tryCtx(() => p64(G.ldt_ents, 8193))).toBe(-XEN_EINVAL);
    expect(tryCtx(() => p64(G.gdt_ents, 16 * 512 + 1))).toBe(-XEN_EINVAL);
    expect(tryCtx(() => p64(G.flags, 0))).toBe(-XEN_EINVAL); // user mode without a user L4
    expect(tryCtx(() => p64(G.ctrlreg + 3 * 8, (d.sharedInfoMfn + 200) * 4096))).toBe(-XEN_EINVAL);
    expect(pageTypes(d.memory).typeCount(mfn(1030))).toBe(0); // the GDT reference was given back
    expect(tryCtx(() => p64(G.gdt_frames, mfn(1)))).toBe(0); // (pfn 1 is an untyped frame here)
    // Unreadable context; vCPU beyond the domain.
    makeDomain();
    expect(call(v, HYPERVISOR.vcpu_op, C.initialise, 1, UNMAPPED_VA)).toBe(-XEN_EFAULT);
    expect(call(v, HYPERVISOR.vcpu_op, C.initialise, 2, va(40))).toBe(-XEN_ENOENT);
    expect(call(v, HYPERVISOR.vcpu_op, C.initialise, 0, context())).toBe(-XEN_EEXIST);
  });
});

// ---------------------------------------------------------------- physdev_op

describe('physdev_op', () => {
  const P = physdev.PHYSDEVOP;
  it('set_iopl (0-3), set_iobitmap', () => {
    put32(16, 0, 1);
    expect(call(v, HYPERVISOR.physdev_op, P.set_iopl, va(16))).toBe(0);
    expect(v.iopl).toBe(1);
    put32(16, 0, 4);
    expect(call(v, HYPERVISOR.physdev_op, P.set_iopl, va(16))).toBe(-XEN_EINVAL);
    expect(call(v, HYPERVISOR.physdev_op, P.set_iopl, UNMAPPED_VA)).toBe(-XEN_EFAULT);
    put64(16, 0, va(50));
    put32(16, 8, 1024);
    expect(call(v, HYPERVISOR.physdev_op, P.set_iobitmap, va(16))).toBe(0);
    expect(physdev.ioBitmap(v)).toEqual({ va: va(50), nrPorts: 1024 });
    put32(16, 8, 65537);
    expect(call(v, HYPERVISOR.physdev_op, P.set_iobitmap, va(16))).toBe(-XEN_EINVAL);
    put64(16, 0, HOLE_VA);
    put32(16, 8, 16);
    expect(call(v, HYPERVISOR.physdev_op, P.set_iobitmap, va(16))).toBe(-XEN_EINVAL);
  });

  it('pirq ops for a domain without pirqs; device ops are privileged', () => {
    put64(16, 0, mfn(60));
    expect(call(v, HYPERVISOR.physdev_op, P.pirq_eoi_gmfn_v2, va(16))).toBe(0);
    expect(physdev.pirqEoiMapMfn(d)).toBe(mfn(60));
    expect(call(v, HYPERVISOR.physdev_op, P.pirq_eoi_gmfn_v2, va(16))).toBe(-XEN_EBUSY);
    put64(16, 0, 7);
    expect(call(v, HYPERVISOR.physdev_op, P.pirq_eoi_gmfn_v1, va(16))).toBe(-XEN_EINVAL);
    put32(16, 0, 3);
    put32(16, 4, 0xff);
    expect(call(v, HYPERVISOR.physdev_op, P.irq_status_query, va(16))).toBe(0);
    expect(u32(16, 4)).toBe(physdev.XENIRQSTAT_needs_eoi);
    put32(16, 0, 1000);
    expect(call(v, HYPERVISOR.physdev_op, P.irq_status_query, va(16))).toBe(-XEN_EINVAL);
    expect(call(v, HYPERVISOR.physdev_op, P.eoi, va(16))).toBe(-XEN_EINVAL);
    expect(call(v, HYPERVISOR.physdev_op, P.map_pirq, va(16))).toBe(-XEN_EPERM);
    expect(call(v, HYPERVISOR.physdev_op, P.manage_pci_add, va(16))).toBe(-XEN_EPERM);
    expect(call(v, HYPERVISOR.physdev_op, P.prepare_msix, va(16))).toBe(-XEN_EPERM);
    expect(call(v, HYPERVISOR.physdev_op, 99, va(16))).toBe(-XEN_ENOSYS);
  });

  it('physdev_op_compat takes {cmd, union @8}', () => {
    put32(16, physdev.PHYSDEV_OP.cmd, P.set_iopl);
    put32(16, physdev.PHYSDEV_OP.u, 2);
    expect(call(v, HYPERVISOR.physdev_op_compat, va(16))).toBe(0);
    expect(v.iopl).toBe(2);
    expect(call(v, HYPERVISOR.physdev_op_compat, UNMAPPED_VA)).toBe(-XEN_EFAULT);
  });
});

// ---------------------------------------------------------------- multicall

describe('multicall', () => {
  const E = MULTICALL_ENTRY;
  function entries(list: Array<[number | bigint, ...Array<number | bigint>]>, pfn = 16): number {
    list.forEach(([op, ...args], i) => {
      put64(pfn, i * E.size + E.op, op);
      put64(pfn, i * E.size + E.result, 0xdeadbeef);
      for (let k = 0; k < 6; k++) put64(pfn, i * E.size + E.args + 8 * k, args[k] ?? 0);
    });
    return va(pfn);
  }
  const result = (i: number, pfn = 16): bigint => BigInt.asIntN(64, u64(pfn, i * E.size + E.result));

  it('runs each entry, stores each result (failures included), restores the argument registers, returns 0', () => {
    put32(20, 0, 0);
    const list = entries([
      [HYPERVISOR.xen_version, version.XENVER.version, 0],
      [HYPERVISOR.memory_op, 63, 0],
      [HYPERVISOR.vcpu_op, vcpuOp.VCPUOP.is_up, 1000, 0],
      [HYPERVISOR.xen_version, version.XENVER.extraversion, UNMAPPED_VA],
      [HYPERVISOR.xen_version, version.XENVER.get_features, va(20)],
      [1000],
      [(1n << 32n) | BigInt(HYPERVISOR.xen_version)],
    ]);
    setArgs(v, [list, 7, 0x10101010, 0x20202020, 0x30303030, 0x40404040]);
    v.cpu.setReg64n(0, 13n);
    expect(dispatchHypercall(v, HYPERVISOR.multicall)).toBe(0);
    expect(result(0)).toBe(0x40011n);
    expect(result(1)).toBe(BigInt(-XEN_ENOSYS));
    expect(result(2)).toBe(BigInt(-XEN_ENOENT));
    expect(result(3)).toBe(BigInt(-XEN_EFAULT));
    expect(result(4)).toBe(0n);
    expect(u32(20, 4)).not.toBe(0); // the features were written
    expect(result(5)).toBe(BigInt(-XEN_ENOSYS));
    expect(result(6)).toBe(BigInt(-XEN_ENOSYS));
    expect(v.argVa(0)).toBe(list);
    expect(v.arg32(1)).toBe(7);
    expect([2, 3, 4, 5].map((k) => v.arg64n(k))).toEqual([0x10101010n, 0x20202020n, 0x30303030n, 0x40404040n]);
    expect(v.cpu.getReg64n(0)).toBe(13n);
  });

  it('a nested multicall and an iret inside a batch get -EINVAL in their slots', () => {
    const inner = entries([[HYPERVISOR.xen_version, 0, 0]], 17);
    const list = entries([
      [HYPERVISOR.multicall, inner, 1],
      [HYPERVISOR.iret],
      [HYPERVISOR.xen_version, 0, 0],
    ]);
    expect(call(v, HYPERVISOR.multicall, list, 3)).toBe(0);
    expect(result(0)).toBe(BigInt(-XEN_EINVAL));
    expect(result(1)).toBe(BigInt(-XEN_EINVAL));
    expect(result(2)).toBe(0x40011n);
    expect(result(0, 17)).toBe(0xdeadbeefn); // the inner batch never ran
  });

  it('batches MMU-style work: later entries see earlier ones (set_iopl then an event op)', () => {
    put32(20, 0, 3);
    put32(21, evtchn.EVTCHN_BIND_IPI.vcpu, 1);
    const list = entries([
      [HYPERVISOR.physdev_op, physdev.PHYSDEVOP.set_iopl, va(20)],
      [HYPERVISOR.event_channel_op, evtchn.EVTCHNOP.bind_ipi, va(21)],
      [HYPERVISOR.sched_op, sched.SCHEDOP.yield, 0],
    ]);
    expect(call(v, HYPERVISOR.multicall, list, 3)).toBe(0);
    expect(v.iopl).toBe(3);
    expect(result(1)).toBe(0n);
    expect(u32(21, evtchn.EVTCHN_BIND_IPI.port)).toBeGreaterThan(0);
  });

  it('an unreadable list is -EFAULT; zero entries is 0', () => {
    expect(call(v, HYPERVISOR.multicall, UNMAPPED_VA, 1)).toBe(-XEN_EFAULT);
    expect(call(v, HYPERVISOR.multicall, HOLE_VA, 1)).toBe(-XEN_EFAULT);
    expect(call(v, HYPERVISOR.multicall, NONCANONICAL, 1)).toBe(-XEN_EFAULT);
    expect(call(v, HYPERVISOR.multicall, UNMAPPED_VA, 0)).toBe(0);
    // The list runs off the mapping after the first entry: that entry ran.
    const list = va(1023, 4096 - 64);
    put64(1023, 4096 - 64, HYPERVISOR.xen_version);
    for (let k = 0; k < 6; k++) put64(1023, 4096 - 48 + 8 * k, 0);
    expect(call(v, HYPERVISOR.multicall, list, 2)).toBe(-XEN_EFAULT);
    expect(BigInt.asIntN(64, u64(1023, 4096 - 56))).toBe(0x40011n);
  });
});

// ---------------------------------------------------------------- event_channel_op

describe('event_channel_op (2-level)', () => {
  const E = evtchn.EVTCHNOP;
  const bindVirq = (virq: number, vcpu: number): number => {
    put32(16, evtchn.EVTCHN_BIND_VIRQ.virq, virq);
    put32(16, evtchn.EVTCHN_BIND_VIRQ.vcpu, vcpu);
    const rc = call(v, HYPERVISOR.event_channel_op, E.bind_virq, va(16));
    return rc < 0 ? rc : u32(16, evtchn.EVTCHN_BIND_VIRQ.port);
  };
  const portOp = (cmd: number, port: number, w = v): number => {
    put32(17, 0, port);
    return call(w, HYPERVISOR.event_channel_op, cmd, va(17));
  };
  const status = (port: number): { rc: number; status: number; vcpu: number; u0: number; u1: number } => {
    put16(18, 0, DOMID_SELF);
    put32(18, 4, port);
    const rc = call(v, HYPERVISOR.event_channel_op, E.status, va(18));
    return { rc, status: u32(18, 8), vcpu: u32(18, 12), u0: u32(18, 16), u1: u32(18, 20) };
  };

  it('bind_virq: timer and debug per vCPU, after the toolstack ports 1 and 2; errors', () => {
    expect(bindVirq(evtchn.VIRQ_TIMER, 0)).toBe(3);
    expect(bindVirq(evtchn.VIRQ_DEBUG, 0)).toBe(4);
    expect(bindVirq(evtchn.VIRQ_TIMER, 1)).toBe(5);
    expect(bindVirq(evtchn.VIRQ_TIMER, 0)).toBe(-XEN_EEXIST);
    expect(bindVirq(24, 0)).toBe(-XEN_EINVAL);
    expect(bindVirq(evtchn.VIRQ_CONSOLE, 1)).toBe(-XEN_EINVAL); // global VIRQs bind on vCPU 0
    expect(bindVirq(evtchn.VIRQ_TIMER, 2)).toBe(-XEN_ENOENT);
    expect(status(1)).toMatchObject({ rc: 0, status: evtchn.EVTCHNSTAT_unbound, u0: 0 });
    expect(status(3)).toMatchObject({ rc: 0, status: evtchn.EVTCHNSTAT_virq, vcpu: 0, u0: evtchn.VIRQ_TIMER });
    expect(status(5)).toMatchObject({ status: evtchn.EVTCHNSTAT_virq, vcpu: 1 });
    expect(status(0).status).toBe(evtchn.EVTCHNSTAT_closed);
    expect(status(10).status).toBe(evtchn.EVTCHNSTAT_closed);
    expect(status(5000).rc).toBe(-XEN_EINVAL);
  });

  it('a VIRQ sets pending, the selector bit and upcall_pending, and wakes a blocked vCPU', () => {
    const port = bindVirq(evtchn.VIRQ_TIMER, 0);
    v.blocked = true;
    evtchn.sendVirq(v, evtchn.VIRQ_TIMER);
    expect(pendingBit(port)).toBe(true);
    expect(selWord(v)).toBe(1n);
    expect(vcpuInfoByte(v, VCPU_INFO.evtchn_upcall_pending)).toBe(1);
    expect(v.blocked).toBe(false);
    // vCPU 1's timer port goes to vCPU 1.
    const p1 = bindVirq(evtchn.VIRQ_TIMER, 1);
    evtchn.sendVirq(v1, evtchn.VIRQ_TIMER);
    expect(pendingBit(p1)).toBe(true);
    expect(vcpuInfoByte(v1, VCPU_INFO.evtchn_upcall_pending)).toBe(1);
  });

  it('a masked port is only marked pending; unmask delivers it', () => {
    const port = bindVirq(evtchn.VIRQ_DEBUG, 0);
    setMaskBit(port, true);
    evtchn.sendVirq(v, evtchn.VIRQ_DEBUG);
    expect(pendingBit(port)).toBe(true);
    expect(selWord(v)).toBe(0n);
    expect(vcpuInfoByte(v, VCPU_INFO.evtchn_upcall_pending)).toBe(0);
    expect(portOp(E.unmask, port)).toBe(0);
    expect(selWord(v)).toBe(1n);
    expect(vcpuInfoByte(v, VCPU_INFO.evtchn_upcall_pending)).toBe(1);
    expect(portOp(E.unmask, 5000)).toBe(-XEN_EINVAL);
  });

  it('IPIs, loopback interdomain channels, close, send on the wrong kind of port', () => {
    put32(16, evtchn.EVTCHN_BIND_IPI.vcpu, 1);
    expect(call(v, HYPERVISOR.event_channel_op, E.bind_ipi, va(16))).toBe(0);
    const ipi = u32(16, 4);
    expect(portOp(E.send, ipi)).toBe(0);
    expect(pendingBit(ipi)).toBe(true);
    expect(vcpuInfoByte(v1, VCPU_INFO.evtchn_upcall_pending)).toBe(1);
    put32(16, 0, 7);
    expect(call(v, HYPERVISOR.event_channel_op, E.bind_ipi, va(16))).toBe(-XEN_ENOENT);

    put16(16, 0, DOMID_SELF);
    put16(16, 2, DOMID_SELF);
    expect(call(v, HYPERVISOR.event_channel_op, E.alloc_unbound, va(16))).toBe(0);
    const a = u32(16, 4);
    expect(status(a)).toMatchObject({ status: evtchn.EVTCHNSTAT_unbound, u0: d.id });
    expect(portOp(E.send, a)).toBe(0); // unbound: dropped
    expect(pendingBit(a)).toBe(false);
    put16(16, 0, DOMID_SELF);
    put32(16, 4, a);
    expect(call(v, HYPERVISOR.event_channel_op, E.bind_interdomain, va(16))).toBe(0);
    const b = u32(16, 8);
    expect(pendingBit(b)).toBe(true); // Xen raises the new local port
    expect(status(a)).toMatchObject({ status: evtchn.EVTCHNSTAT_interdomain, u0: d.id, u1: b });
    expect(portOp(E.send, b)).toBe(0);
    expect(pendingBit(a)).toBe(true);
    expect(portOp(E.close, b)).toBe(0);
    expect(status(a)).toMatchObject({ status: evtchn.EVTCHNSTAT_unbound, u0: d.id });
    expect(status(b).status).toBe(evtchn.EVTCHNSTAT_closed);
    expect(portOp(E.close, b)).toBe(-XEN_EINVAL);
    expect(portOp(E.close, 0)).toBe(-XEN_EINVAL);
    // Binding to a port that is not unbound for us; foreign domains.
    put16(16, 0, DOMID_SELF);
    put32(16, 4, ipi);
    expect(call(v, HYPERVISOR.event_channel_op, E.bind_interdomain, va(16))).toBe(-XEN_EINVAL);
    put16(16, 0, 0);
    expect(call(v, HYPERVISOR.event_channel_op, E.bind_interdomain, va(16))).toBe(-XEN_EINVAL);
    put16(16, 0, DOMID_SELF);
    put16(16, 2, 0);
    put16(16, 0, 5);
    expect(call(v, HYPERVISOR.event_channel_op, E.alloc_unbound, va(16))).toBe(-XEN_EPERM);
    const timer = bindVirq(evtchn.VIRQ_TIMER, 0);
    expect(portOp(E.send, timer)).toBe(-XEN_EINVAL);
    expect(portOp(E.close, timer)).toBe(0);
    expect(bindVirq(evtchn.VIRQ_TIMER, 0)).toBe(timer); // the slot and the port are free again
  });

  it('bind_vcpu, reset, the FIFO ops, unknown ops, bind_pirq', () => {
    const timer = bindVirq(evtchn.VIRQ_TIMER, 0);
    put32(16, 0, 1);
    put32(16, 4, 1);
    expect(call(v, HYPERVISOR.event_channel_op, E.bind_vcpu, va(16))).toBe(0); // an unbound port
    expect(status(1).vcpu).toBe(1);
    put32(16, 0, timer);
    expect(call(v, HYPERVISOR.event_channel_op, E.bind_vcpu, va(16))).toBe(-XEN_EINVAL); // per-vCPU VIRQ
    put32(16, 4, 9);
    expect(call(v, HYPERVISOR.event_channel_op, E.bind_vcpu, va(16))).toBe(-XEN_ENOENT);
    for (const cmd of [E.init_control, E.expand_array, E.set_priority, 99]) {
      expect(call(v, HYPERVISOR.event_channel_op, cmd, va(16))).toBe(-XEN_ENOSYS);
    }
    put32(16, 0, 3);
    expect(call(v, HYPERVISOR.event_channel_op, E.bind_pirq, va(16))).toBe(-XEN_EPERM);
    put16(16, 0, DOMID_SELF);
    expect(call(v, HYPERVISOR.event_channel_op, E.reset, va(16))).toBe(0);
    expect(status(timer).status).toBe(evtchn.EVTCHNSTAT_closed);
    expect(status(1).status).toBe(evtchn.EVTCHNSTAT_closed);
    expect(call(v, HYPERVISOR.event_channel_op, E.bind_ipi, UNMAPPED_VA)).toBe(-XEN_EFAULT);
  });

  it('event_channel_op_compat: {cmd, union @4}; FIFO ops are not forwarded', () => {
    put32(16, evtchn.EVTCHN_OP.cmd, E.bind_ipi);
    put32(16, evtchn.EVTCHN_OP.u, 0);
    expect(call(v, HYPERVISOR.event_channel_op_compat, va(16))).toBe(0);
    expect(u32(16, evtchn.EVTCHN_OP.u + 4)).toBe(3);
    put32(16, evtchn.EVTCHN_OP.cmd, E.init_control);
    expect(call(v, HYPERVISOR.event_channel_op_compat, va(16))).toBe(-XEN_ENOSYS);
  });

  it('host (dom0) endpoints: guest sends reach the backend, notify raises the guest port', () => {
    expect(evtchn.reserveUnboundPort(d, 1, 0)).toBe(1);
    expect(evtchn.reserveUnboundPort(d, 2, 0)).toBe(2);
    expect(evtchn.reserveUnboundPort(d, 2, 0)).toBe(-XEN_EBUSY);
    let events = 0;
    const h = evtchn.bindHostPort(d, 1, () => events++);
    if (typeof h === 'number') throw new Error(`bindHostPort: ${h}`);
    expect(status(1)).toMatchObject({ status: evtchn.EVTCHNSTAT_interdomain, u0: 0 });
    expect(portOp(E.send, 1)).toBe(0);
    expect(events).toBe(1);
    h.notify();
    expect(pendingBit(1)).toBe(true);
    expect(evtchn.bindHostPort(d, 1, () => {})).toBe(-XEN_EINVAL); // already connected
    expect(portOp(E.close, 1)).toBe(0);
    expect(h.closed).toBe(true);
    expect(bindVirq(evtchn.VIRQ_TIMER, 0)).toBe(1); // lowest free port
  });
});

// ---------------------------------------------------------------- grant_table_op

describe('grant_table_op (v1)', () => {
  const G = grant.GNTTABOP;
  it('query_size and setup_table grow the table up to 32 frames, giving MFNs', () => {
    put16(16, 0, DOMID_SELF);
    expect(call(v, HYPERVISOR.grant_table_op, G.query_size, va(16), 1)).toBe(0);
    expect([u32(16, 4), u32(16, 8), u16(16, 12)]).toEqual([1, 32, 0]);
    expect(call(v, HYPERVISOR.grant_table_op, G.query_size, va(16), 2)).toBe(-XEN_EINVAL);

    put16(17, 0, DOMID_SELF);
    put32(17, 4, 4);
    put16(17, 8, 0x7777);
    put64(17, 16, va(18));
    expect(call(v, HYPERVISOR.grant_table_op, G.setup_table, va(17), 1)).toBe(0);
    expect(u16(17, 8)).toBe(grant.GNTST_okay);
    const frames = [0, 1, 2, 3].map((i) => Number(u64(18, 8 * i)));
    expect(frames).toEqual([...grant.grantFrames(d)]);
    expect(new Set(frames).size).toBe(4);
    for (const f of frames) expect(d.memory.isSpecialMfn(f)).toBe(true);
    expect(call(v, HYPERVISOR.grant_table_op, G.query_size, va(16), 1)).toBe(0);
    expect(u32(16, 4)).toBe(4);
    // Asking again returns the same frames.
    put32(17, 4, 2);
    expect(call(v, HYPERVISOR.grant_table_op, G.setup_table, va(17), 1)).toBe(0);
    expect(Number(u64(18, 8))).toBe(frames[1]);

    put32(17, 4, 33);
    expect(call(v, HYPERVISOR.grant_table_op, G.setup_table, va(17), 1)).toBe(0);
    expect(i16(17, 8)).toBe(grant.GNTST_general_error);
    put32(17, 4, 1);
    put64(17, 16, UNMAPPED_VA);
    expect(call(v, HYPERVISOR.grant_table_op, G.setup_table, va(17), 1)).toBe(0);
    expect(i16(17, 8)).toBe(grant.GNTST_bad_virt_addr);
    put64(17, 16, HOLE_VA);
    expect(call(v, HYPERVISOR.grant_table_op, G.setup_table, va(17), 1)).toBe(-XEN_EFAULT);
    put64(17, 16, va(18));
    put16(17, 0, 0);
    expect(call(v, HYPERVISOR.grant_table_op, G.setup_table, va(17), 1)).toBe(0);
    expect(i16(17, 8)).toBe(grant.GNTST_permission_denied);
    put16(17, 0, DOMID_IO);
    expect(call(v, HYPERVISOR.grant_table_op, G.setup_table, va(17), 1)).toBe(0);
    expect(i16(17, 8)).toBe(grant.GNTST_bad_domain);
    expect(call(v, HYPERVISOR.grant_table_op, G.setup_table, va(17), 0)).toBe(-XEN_EINVAL);
    expect(call(v, HYPERVISOR.grant_table_op, G.setup_table, UNMAPPED_VA, 1)).toBe(-XEN_EFAULT);
  });

  it('versions: v1 stays, v2 is -ENOSYS; get_version; ops not offered -ENOSYS; continuation bits -EINVAL', () => {
    put32(16, 0, 1);
    expect(call(v, HYPERVISOR.grant_table_op, G.set_version, va(16), 1)).toBe(0);
    put32(16, 0, 2);
    expect(call(v, HYPERVISOR.grant_table_op, G.set_version, va(16), 1)).toBe(-XEN_ENOSYS);
    put32(16, 0, 3);
    expect(call(v, HYPERVISOR.grant_table_op, G.set_version, va(16), 1)).toBe(-XEN_EINVAL);
    put16(16, 0, DOMID_SELF);
    put32(16, 4, 0);
    expect(call(v, HYPERVISOR.grant_table_op, G.get_version, va(16), 1)).toBe(0);
    expect(u32(16, 4)).toBe(1);
    put16(16, 0, 0);
    expect(call(v, HYPERVISOR.grant_table_op, G.get_version, va(16), 1)).toBe(-XEN_EPERM);
    // (map, unmap and copy: test/grant.test.ts)
    for (const op of [G.transfer, G.get_status_frames, G.swap_grant_ref, G.dump_table, 99]) {
      expect(call(v, HYPERVISOR.grant_table_op, op, va(16), 1)).toBe(-XEN_ENOSYS);
    }
    expect(call(v, HYPERVISOR.grant_table_op, G.query_size | (1 << 12), va(16), 1)).toBe(-XEN_EINVAL);
    expect(call(v, HYPERVISOR.grant_table_op, G.query_size, va(16), 0x80000000)).toBe(-XEN_EINVAL);
  });

  it('entries are readable and writable in-process (backends, toolstack seeding)', () => {
    expect(grant.setGrantEntry(d, 1, { flags: grant.GTF_permit_access, domid: 0, frame: mfn(2000) })).toBe(true);
    expect(grant.grantEntry(d, 1)).toEqual({ flags: 1, domid: 0, frame: mfn(2000) });
    const f0 = d.memory.offsetOfMfn(grant.grantFrames(d)[0]!);
    expect(d.memory.dv.getUint32(f0 + 8 + 4, true)).toBe(mfn(2000));
    expect(grant.grantEntry(d, 512)).toBeUndefined();
    expect(grant.ensureGrantFrames(d, 2)?.length).toBe(2);
    expect(grant.grantEntry(d, 512)).toEqual({ flags: 0, domid: 0, frame: 0 });
  });
});

const i16 = (pfn: number, o: number): number => dv().getInt16(off(pfn, o), true);

// ---------------------------------------------------------------- the small ones

describe('set_timer_op, nmi_op, platform_op, xsm_op, hvm_op, xenpmu_op', () => {
  it('set_timer_op: absolute ns, 0 cancels, absurd timeouts become 100 ms', () => {
    expect(call(v, HYPERVISOR.set_timer_op, now + 5_000_000)).toBe(0);
    expect(v.timerDeadline).toBe(now + 5_000_000);
    expect(call(v, HYPERVISOR.set_timer_op, 0)).toBe(0);
    expect(v.timerDeadline).toBe(-1);
    expect(call(v, HYPERVISOR.set_timer_op, now - 5)).toBe(0); // the past fires at the next timer check
    expect(v.timerDeadline).toBe(now - 5);
    expect(call(v, HYPERVISOR.set_timer_op, now + 2 ** 51)).toBe(0);
    expect(v.timerDeadline).toBe(now + 100_000_000);
    expect(call(v, HYPERVISOR.set_timer_op, -5n)).toBe(0);
    expect(v.timerDeadline).toBe(now + 100_000_000);
  });

  it('nmi_op registers the NMI entry of the virtual IDT', () => {
    put64(16, 0, 0xffffffff81c00000n);
    expect(call(v, HYPERVISOR.nmi_op, misc.XENNMI_register_callback, va(16))).toBe(0);
    expect(v.trapTable[2]).toEqual({ address: Number(BigInt.asIntN(64, 0xffffffff81c00000n)), cs: abi.FLAT_KERNEL_CS64, flags: 4 });
    put64(16, 0, NONCANONICAL);
    expect(call(v, HYPERVISOR.nmi_op, misc.XENNMI_register_callback, va(16))).toBe(-XEN_EINVAL);
    expect(call(v, HYPERVISOR.nmi_op, misc.XENNMI_register_callback, UNMAPPED_VA)).toBe(-XEN_EFAULT);
    expect(call(v, HYPERVISOR.nmi_op, misc.XENNMI_unregister_callback, 0)).toBe(0);
    expect(v.trapTable[2]).toEqual({ address: 0, cs: 0, flags: 0 });
    expect(call(v, HYPERVISOR.nmi_op, 2, 0)).toBe(-XEN_ENOSYS);
  });

  it('privileged or absent interfaces', () => {
    put32(16, 4, misc.XENPF_INTERFACE_VERSION);
    expect(call(v, HYPERVISOR.platform_op, va(16))).toBe(-XEN_EPERM);
    put32(16, 4, 1);
    expect(call(v, HYPERVISOR.platform_op, va(16))).toBe(-XEN_EACCES);
    expect(call(v, HYPERVISOR.platform_op, UNMAPPED_VA)).toBe(-XEN_EFAULT);
    expect(call(v, HYPERVISOR.xsm_op, va(16))).toBe(-XEN_ENOSYS);
    expect(call(v, HYPERVISOR.hvm_op, 0, va(16))).toBe(-XEN_ENOSYS);
    expect(call(v, HYPERVISOR.xenpmu_op, 0, va(16))).toBe(-XEN_EOPNOTSUPP);
  });

  it('every family is registered (so none is logged as unknown)', () => {
    const nums = registeredHypercalls();
    for (const n of [
      HYPERVISOR.platform_op, HYPERVISOR.sched_op_compat, HYPERVISOR.memory_op, HYPERVISOR.multicall, HYPERVISOR.set_timer_op,
      HYPERVISOR.event_channel_op_compat, HYPERVISOR.xen_version, HYPERVISOR.console_io, HYPERVISOR.physdev_op_compat,
      HYPERVISOR.grant_table_op, HYPERVISOR.vcpu_op, HYPERVISOR.xsm_op, HYPERVISOR.nmi_op, HYPERVISOR.sched_op,
      HYPERVISOR.event_channel_op, HYPERVISOR.physdev_op, HYPERVISOR.hvm_op, HYPERVISOR.xenpmu_op,
    ]) expect(nums).toContain(n);
    expect(logs).toEqual([]);
  });
});
