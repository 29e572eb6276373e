/**
 * xen_version (17): XENVER_* as Xen 4.17 answers a domU
 * (xen/common/kernel.c do_xen_version, with the default XSM policy of
 * xen/include/xsm/dummy.h: version, platform_parameters and get_features
 * always; extraversion, compile_info, capabilities, changeset, pagesize and
 * guest_handle for any guest; commandline and build_id are privileged —
 * commandline then returns "<denied>", build_id -EPERM).
 *
 *   rdi = cmd, rsi = buffer (NULL where the sub-op takes none)
 *
 * Buffers are written whole (the char arrays NUL-padded); a bad buffer is
 * -EFAULT. XENVER_version with a NULL buffer is what Linux uses to force
 * an event check (xen_force_evtchn_callback): it touches no memory.
 */
import { createHash } from 'node:crypto';
import type { Domain } from '../domains/domain.ts';
import type { Vcpu } from '../domains/vcpu.ts';
import { VMASST_TYPE_pae_extended_cr3 } from '../domains/domain.ts';
import { PAGE_SIZE } from '../mmu/domain-memory.ts';
import { registerHypercall } from './dispatch.ts';
import { HYPERVISOR, HYPERVISOR_VIRT_START, XEN_EINVAL, XEN_ENOSYS, XEN_EPERM, XEN_MAJOR, XEN_MINOR } from './abi.ts';
import { vmAssistEnabled } from './vm-assist.ts';

/** XENVER_* (xen/version.h). */
export const XENVER = {
  version: 0,
  extraversion: 1,
  compile_info: 2,
  capabilities: 3,
  changeset: 4,
  platform_parameters: 5,
  get_features: 6,
  pagesize: 7,
  guest_handle: 8,
  commandline: 9,
  build_id: 10,
} as const;

/** Array sizes of the char[] results and struct layouts (xen/version.h). */
export const XEN_EXTRAVERSION_LEN = 16, XEN_CAPABILITIES_INFO_LEN = 1024, XEN_CHANGESET_INFO_LEN = 64;
export const XEN_COMMANDLINE_LEN = 1024, XEN_DOMAIN_HANDLE_LEN = 16;
export const XEN_COMPILE_INFO = { compiler: 0, compile_by: 64, compile_domain: 80, compile_date: 112, size: 144 } as const;
export const XEN_PLATFORM_PARAMETERS = { virt_start: 0, size: 8 } as const;
export const XEN_FEATURE_INFO = { submap_idx: 0, submap: 4, size: 8 } as const;

/** XENFEAT_* (xen/features.h). */
export const XENFEAT_writable_page_tables = 0, XENFEAT_auto_translated_physmap = 2, XENFEAT_pae_pgdir_above_4gb = 4;
export const XENFEAT_mmu_pt_update_preserve_ad = 5, XENFEAT_highmem_assist = 6, XENFEAT_gnttab_map_avail_bits = 7;
export const XENFEAT_hvm_callback_vector = 8, XENFEAT_dom0 = 11, XENFEAT_memory_op_vnode_supported = 13;
export const XENFEAT_not_direct_mapped = 16, XENFEAT_direct_mapped = 17;

/** What xenjs reports: "Xen version: 4.17.0-xenjs" in the guest's log. */
export const XEN_EXTRAVERSION = '.0-xenjs';
export const XEN_CAPABILITIES = 'xen-3.0-x86_64 ';
export const XEN_CHANGESET = 'xenjs';
export const XEN_COMPILER = 'xenjs (TypeScript)';
export const XEN_COMPILE_BY = 'xenjs';
export const XEN_COMPILE_DOMAIN = 'xenjs';
export const XEN_COMPILE_DATE = 'Thu Jan  1 00:00:00 UTC 1970';
/** xen_deny(): what privileged string sub-ops return to a domU. */
export const XEN_DENY = '<denied>';

/** XENVER_get_features submap 0 for a 64-bit PV domU (Xen 4.17). */
export function pvFeatures(d: Domain): number {
  let f =
    (1 << XENFEAT_memory_op_vnode_supported) |
    (1 << XENFEAT_mmu_pt_update_preserve_ad) |
    (1 << XENFEAT_highmem_assist) |
    (1 << XENFEAT_gnttab_map_avail_bits) |
    (1 << XENFEAT_direct_mapped);
  if (vmAssistEnabled(d, VMASST_TYPE_pae_extended_cr3)) f |= 1 << XENFEAT_pae_pgdir_above_4gb;
  return f >>> 0;
}

// ------------------------------------------------------------------ the domain handle (UUID)

const HANDLES = new WeakMap<Domain, Uint8Array>();

/** Set the domain's handle (xl's uuid=): a UUID string or 16 bytes. */
export function setDomainHandle(d: Domain, uuid: string | Uint8Array): void {
  let b: Uint8Array;
  if (typeof uuid === 'string') {
    const hex = uuid.replace(/-/g, '');
    if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error(`not a UUID: ${uuid}`);
    b = Uint8Array.from(hex.match(/../g)!.map((x) => parseInt(x, 16)));
  } else {
    if (uuid.length !== XEN_DOMAIN_HANDLE_LEN) throw new Error('a domain handle is 16 bytes');
    b = Uint8Array.from(uuid);
  }
  HANDLES.set(d, b);
}

/**
 * The domain's handle. Unless the toolstack set one, a name-based UUID
 * derived from the domain's id and name (stable across runs, so
 * deterministic runs stay deterministic).
 */
export function domainHandle(d: Domain): Uint8Array {
  let h = HANDLES.get(d);
  if (!h) {
    h = new Uint8Array(createHash('sha1').update(`xenjs-domain:${d.id}:${d.name}`).digest().subarray(0, 16));
    h[6] = (h[6]! & 0x0f) | 0x50; // version 5 (name-based, SHA-1)
    h[8] = (h[8]! & 0x3f) | 0x80; // RFC 4122 variant
    HANDLES.set(d, h);
  }
  return h;
}

export function formatUuid(b: Uint8Array): string {
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// ------------------------------------------------------------------ the hypercall

/** A NUL-padded char[len] holding `s` (safe_strcpy: truncated to len-1 characters). */
function charArray(s: string, len: number): Uint8Array {
  const out = new Uint8Array(len);
  out.set(new TextEncoder().encode(s).subarray(0, len - 1));
  return out;
}

function xenVersion(v: Vcpu): number {
  const cmd = v.arg32(0);
  const buf = v.argVa(1);
  const m = v.mem;
  switch (cmd) {
    case XENVER.version:
      return (XEN_MAJOR << 16) | XEN_MINOR;

    case XENVER.extraversion:
      m.setBytes(buf, charArray(XEN_EXTRAVERSION, XEN_EXTRAVERSION_LEN));
      return 0;

    case XENVER.compile_info: {
      const out = new Uint8Array(XEN_COMPILE_INFO.size);
      out.set(charArray(XEN_COMPILER, XEN_COMPILE_INFO.compile_by - XEN_COMPILE_INFO.compiler), XEN_COMPILE_INFO.compiler);
      out.set(charArray(XEN_COMPILE_BY, XEN_COMPILE_INFO.compile_domain - XEN_COMPILE_INFO.compile_by), XEN_COMPILE_INFO.compile_by);
      out.set(charArray(XEN_COMPILE_DOMAIN, XEN_COMPILE_INFO.compile_date - XEN_COMPILE_INFO.compile_domain), XEN_COMPILE_INFO.compile_domain);
      out.set(charArray(XEN_COMPILE_DATE, XEN_COMPILE_INFO.size - XEN_COMPILE_INFO.compile_date), XEN_COMPILE_INFO.compile_date);
      m.setBytes(buf, out);
      return 0;
    }

    case XENVER.capabilities:
      m.setBytes(buf, charArray(XEN_CAPABILITIES, XEN_CAPABILITIES_INFO_LEN));
      return 0;

    case XENVER.changeset:
      m.setBytes(buf, charArray(XEN_CHANGESET, XEN_CHANGESET_INFO_LEN));
      return 0;

    case XENVER.platform_parameters: {
      const out = new Uint8Array(XEN_PLATFORM_PARAMETERS.size);
      new DataView(out.buffer).setBigUint64(XEN_PLATFORM_PARAMETERS.virt_start, HYPERVISOR_VIRT_START, true);
      m.setBytes(buf, out);
      return 0;
    }

    case XENVER.get_features: {
      const idx = m.u32(buf + XEN_FEATURE_INFO.submap_idx);
      m.u32(buf + XEN_FEATURE_INFO.submap); // copy_from_guest reads the whole struct
      if (idx !== 0) return -XEN_EINVAL;
      m.setU32(buf + XEN_FEATURE_INFO.submap, pvFeatures(v.domain));
      return 0;
    }

    case XENVER.pagesize:
      return buf !== 0 ? -XEN_EINVAL : PAGE_SIZE;

    case XENVER.guest_handle:
      m.setBytes(buf, domainHandle(v.domain));
      return 0;

    case XENVER.commandline: {
      // Privileged: a domU gets xen_deny() and its NUL (9 bytes), not the hypervisor's command line.
      const s = new TextEncoder().encode(XEN_DENY);
      const out = new Uint8Array(s.length + 1);
      out.set(s);
      m.setBytes(buf, out);
      return 0;
    }

    case XENVER.build_id:
      return -XEN_EPERM;

    default:
      return -XEN_ENOSYS;
  }
}

registerHypercall(HYPERVISOR.xen_version, xenVersion);
