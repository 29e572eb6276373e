/**
 * physdev_op (33) and physdev_op_compat (19): PHYSDEVOP_* as Xen 4.17
 * answers an unprivileged PV domU (xen/arch/x86/physdev.c do_physdev_op,
 * xen/arch/x86/compat.c).
 *
 *   physdev_op:        rdi = cmd, rsi = arg
 *   physdev_op_compat: rdi = struct physdev_op {u32 cmd; union @8}
 *
 * A domU has no physical IRQs and no devices: the I/O-privilege ops work
 * (set_iopl, set_iobitmap), the pirq bookkeeping ops answer as for a domain
 * with no pirqs bound, and everything that manages devices, MSIs, APICs or
 * pirq mappings is refused (-EPERM) as Xen's XSM_PRIV / XSM_DM_PRIV checks
 * refuse it. Unknown commands are -ENOSYS.
 */
import type { Domain } from '../domains/domain.ts';
import type { Vcpu } from '../domains/vcpu.ts';
import { pageTypes, PGT_writable } from '../mmu/page-types.ts';
import { registerHypercall } from './dispatch.ts';
import { HYPERVISOR, XEN_EBUSY, XEN_EINVAL, XEN_ENOSYS, XEN_EPERM } from './abi.ts';
import { DOMU_NR_PIRQS } from './evtchn.ts';
import { guestHandleOkay, readPointer, readU64 } from './memory.ts';

/** PHYSDEVOP_* (xen/physdev.h). */
export const PHYSDEVOP = {
  IRQ_UNMASK_NOTIFY: 4,
  irq_status_query: 5,
  set_iopl: 6,
  set_iobitmap: 7,
  apic_read: 8,
  apic_write: 9,
  alloc_irq_vector: 10,
  free_irq_vector: 11,
  eoi: 12,
  map_pirq: 13,
  unmap_pirq: 14,
  manage_pci_add: 15,
  manage_pci_remove: 16,
  pirq_eoi_gmfn_v1: 17,
  restore_msi: 19,
  manage_pci_add_ext: 20,
  setup_gsi: 21,
  get_free_pirq: 23,
  pci_mmcfg_reserved: 24,
  pci_device_add: 25,
  pci_device_remove: 26,
  restore_msi_ext: 27,
  pirq_eoi_gmfn_v2: 28,
  dbgp_op: 29,
  prepare_msix: 30,
  release_msix: 31,
} as const;

/** Struct layouts (xen/physdev.h, x86_64). */
export const PHYSDEV_SET_IOPL = { iopl: 0, size: 4 } as const;
export const PHYSDEV_SET_IOBITMAP = { bitmap: 0, nr_ports: 8, size: 16 } as const;
export const PHYSDEV_IRQ_STATUS_QUERY = { irq: 0, flags: 4, size: 8 } as const;
export const PHYSDEV_EOI = { irq: 0, size: 4 } as const;
export const PHYSDEV_PIRQ_EOI_GMFN = { gmfn: 0, size: 8 } as const;
/** struct physdev_op: u32 cmd, then the union (8-aligned). */
export const PHYSDEV_OP = { cmd: 0, u: 8, size: 24 } as const;
/** IOBMP_BYTES: the I/O bitmap a guest may point at (65536 ports). */
export const IOBMP_BYTES = 8192;

export const XENIRQSTAT_needs_eoi = 1, XENIRQSTAT_shared = 2;

// ------------------------------------------------------------------ per-vCPU / per-domain state

export interface IoBitmap {
  /** Guest VA of the bitmap (a set bit denies the port, as in a TSS bitmap). */
  va: number;
  /** Ports covered; ports at or beyond it are denied. */
  nrPorts: number;
}

const IOBITMAP = new WeakMap<Vcpu, IoBitmap>();
const EOI_MAP = new WeakMap<Domain, number>();

/** The I/O bitmap v registered with PHYSDEVOP_set_iobitmap (for the I/O port emulation), if any. */
export function ioBitmap(v: Vcpu): IoBitmap | undefined {
  return IOBITMAP.get(v);
}

/** The MFN of the domain's pirq EOI map (PHYSDEVOP_pirq_eoi_gmfn_v2), or 0. */
export function pirqEoiMapMfn(d: Domain): number {
  return EOI_MAP.get(d) ?? 0;
}

// ------------------------------------------------------------------ the operations

const PARTS = new Int32Array(2);

function physdevOp(v: Vcpu, cmd: number, arg: number): number {
  const m = v.mem;
  switch (cmd) {
    case PHYSDEVOP.set_iopl: {
      const iopl = m.u32(arg + PHYSDEV_SET_IOPL.iopl);
      if (iopl > 3) return -XEN_EINVAL;
      v.iopl = iopl;
      return 0;
    }

    case PHYSDEVOP.set_iobitmap: {
      const bitmap = readPointer(v, arg + PHYSDEV_SET_IOBITMAP.bitmap, PARTS);
      const nrPorts = m.u32(arg + PHYSDEV_SET_IOBITMAP.nr_ports);
      if (!guestHandleOkay(bitmap, IOBMP_BYTES) || nrPorts > 65536) return -XEN_EINVAL;
      IOBITMAP.set(v, { va: bitmap, nrPorts });
      return 0;
    }

    case PHYSDEVOP.pirq_eoi_gmfn_v1:
    case PHYSDEVOP.pirq_eoi_gmfn_v2: {
      // A writable page of the domain (its MFN: PV "gmfn"), registered once; no pirq ever uses it here.
      const mfn = readU64(v, arg + PHYSDEV_PIRQ_EOI_GMFN.gmfn, PARTS);
      const pt = pageTypes(v.domain.memory);
      if (pt.ownedRam(mfn) < 0) return -XEN_EINVAL;
      if (EOI_MAP.has(v.domain)) return -XEN_EBUSY;
      if (pt.getTypeMfn(mfn, PGT_writable) < 0) return -XEN_EINVAL;
      EOI_MAP.set(v.domain, mfn);
      return 0;
    }

    case PHYSDEVOP.irq_status_query: {
      const irq = m.u32(arg + PHYSDEV_IRQ_STATUS_QUERY.irq);
      m.u32(arg + PHYSDEV_IRQ_STATUS_QUERY.flags);
      if (irq >= DOMU_NR_PIRQS) return -XEN_EINVAL;
      m.setU32(arg + PHYSDEV_IRQ_STATUS_QUERY.flags, XENIRQSTAT_needs_eoi);
      return 0;
    }

    case PHYSDEVOP.eoi: {
      m.u32(arg + PHYSDEV_EOI.irq);
      return -XEN_EINVAL; // out of range, or no pirq bound to it
    }

    case PHYSDEVOP.IRQ_UNMASK_NOTIFY:
      return 0; // pirq_guest_unmask: nothing to unmask

    case PHYSDEVOP.dbgp_op:
      return -XEN_EPERM;

    // Interrupt routing, APIC access, PCI and MSI management: hardware/device-model domains only.
    case PHYSDEVOP.apic_read:
    case PHYSDEVOP.apic_write:
    case PHYSDEVOP.alloc_irq_vector:
    case PHYSDEVOP.free_irq_vector:
    case PHYSDEVOP.map_pirq:
    case PHYSDEVOP.unmap_pirq:
    case PHYSDEVOP.manage_pci_add:
    case PHYSDEVOP.manage_pci_remove:
    case PHYSDEVOP.manage_pci_add_ext:
    case PHYSDEVOP.restore_msi:
    case PHYSDEVOP.restore_msi_ext:
    case PHYSDEVOP.setup_gsi:
    case PHYSDEVOP.get_free_pirq:
    case PHYSDEVOP.pci_mmcfg_reserved:
    case PHYSDEVOP.pci_device_add:
    case PHYSDEVOP.pci_device_remove:
    case PHYSDEVOP.prepare_msix:
    case PHYSDEVOP.release_msix:
      return -XEN_EPERM;

    default:
      return -XEN_ENOSYS;
  }
}

registerHypercall(HYPERVISOR.physdev_op, (v) => physdevOp(v, v.arg32(0), v.argVa(1)));
registerHypercall(HYPERVISOR.physdev_op_compat, (v) => {
  const op = v.argVa(0);
  const cmd = v.mem.u32(op + PHYSDEV_OP.cmd);
  v.mem.bytes(op, PHYSDEV_OP.size);
  return physdevOp(v, cmd, op + PHYSDEV_OP.u);
});
