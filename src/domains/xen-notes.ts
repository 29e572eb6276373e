/**
 * Xen ELF notes (xen/include/public/elfnote.h): the contract between a PV kernel
 * and the domain builder. Note name "Xen"; numeric values are 4 or 8 bytes LE.
 */
import type { ElfNote } from './elf.ts';

/** Note types, named as in xen/include/public/elfnote.h. */
export const XEN_ELFNOTE = {
  INFO: 0,
  ENTRY: 1,
  HYPERCALL_PAGE: 2,
  VIRT_BASE: 3,
  PADDR_OFFSET: 4,
  XEN_VERSION: 5,
  GUEST_OS: 6,
  GUEST_VERSION: 7,
  LOADER: 8,
  PAE_MODE: 9,
  FEATURES: 10,
  BSD_SYMTAB: 11,
  HV_START_LOW: 12,
  L1_MFN_VALID: 13,
  SUSPEND_CANCEL: 14,
  INIT_P2M: 15,
  MOD_START_PFN: 16,
  SUPPORTED_FEATURES: 17,
  PHYS32_ENTRY: 18,
} as const;

const NOTE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(XEN_ELFNOTE).map(([k, v]) => [v, k]),
);

/** How each note's descriptor is read. */
const STRING_NOTES = new Set<number>([
  XEN_ELFNOTE.INFO,
  XEN_ELFNOTE.XEN_VERSION,
  XEN_ELFNOTE.GUEST_OS,
  XEN_ELFNOTE.GUEST_VERSION,
  XEN_ELFNOTE.LOADER,
  XEN_ELFNOTE.PAE_MODE,
  XEN_ELFNOTE.FEATURES,
  XEN_ELFNOTE.BSD_SYMTAB,
]);

/** XENFEAT_* bit numbers (xen/include/public/features.h), for FEATURES strings and SUPPORTED_FEATURES. */
export const XENFEAT_NAMES: readonly string[] = [
  'writable_page_tables', // 0
  'writable_descriptor_tables', // 1
  'auto_translated_physmap', // 2
  'supervisor_mode_kernel', // 3
  'pae_pgdir_above_4gb', // 4
  'mmu_pt_update_preserve_ad', // 5
  'highmem_assist', // 6
  'gnttab_map_avail_bits', // 7
  'hvm_callback_vector', // 8
  'hvm_safe_pvclock', // 9
  'hvm_pirqs', // 10
  'dom0', // 11
  'grant_map_identity', // 12
  'memory_op_vnode_supported', // 13
  'ARM_SMCCC_supported', // 14
  'linux_rsdp_unrestricted', // 15
];

export interface XenNoteEntry {
  type: number;
  /** XEN_ELFNOTE_* name, or "UNKNOWN_<n>". */
  name: string;
  /** Printable value: a string, a hex number, or "mask=… value=…". */
  value: string;
}

export interface XenNotes {
  entries: XenNoteEntry[];
  guestOs?: string;
  guestVersion?: string;
  xenVersion?: string;
  loader?: string;
  paeMode?: string;
  bsdSymtab?: string;
  entry?: bigint;
  hypercallPage?: bigint;
  virtBase?: bigint;
  paddrOffset?: bigint;
  hvStartLow?: bigint;
  initP2m?: bigint;
  physEntry32?: bigint;
  suspendCancel?: boolean;
  modStartPfn?: boolean;
  l1MfnValid?: { mask: bigint; value: bigint };
  /** Raw FEATURES string, e.g. "!writable_page_tables|pae_pgdir_above_4gb". */
  features?: string;
  /** Features the guest requires ("!" prefix) and merely supports, by name. */
  featuresRequired: string[];
  featuresSupported: string[];
  /** SUPPORTED_FEATURES bitmap (u32). */
  supportedFeatures?: number;
}

function readUint(desc: Uint8Array): bigint {
  const dv = new DataView(desc.buffer, desc.byteOffset, desc.byteLength);
  if (desc.length >= 8) return dv.getBigUint64(0, true);
  if (desc.length >= 4) return BigInt(dv.getUint32(0, true));
  if (desc.length >= 2) return BigInt(dv.getUint16(0, true));
  if (desc.length === 1) return BigInt(desc[0]!);
  return 0n;
}

function readString(desc: Uint8Array): string {
  let end = 0;
  while (end < desc.length && desc[end] !== 0) end++;
  return new TextDecoder().decode(desc.subarray(0, end));
}

const hex = (v: bigint): string => '0x' + v.toString(16);

function splitFeatures(s: string, notes: XenNotes): void {
  for (const f of s.split('|')) {
    if (!f) continue;
    if (f.startsWith('!')) notes.featuresRequired.push(f.slice(1));
    else notes.featuresSupported.push(f);
  }
}

/** Collect the Xen notes (name "Xen") of a kernel into a typed record. */
export function xenNotesFrom(notes: ElfNote[]): XenNotes {
  const out: XenNotes = { entries: [], featuresRequired: [], featuresSupported: [] };
  for (const n of notes) {
    if (n.name !== 'Xen') continue;
    const name = NOTE_NAMES[n.type] ?? `UNKNOWN_${n.type}`;
    let value: string;
    if (STRING_NOTES.has(n.type)) {
      const s = readString(n.desc);
      value = s;
      switch (n.type) {
        case XEN_ELFNOTE.GUEST_OS: out.guestOs = s; break;
        case XEN_ELFNOTE.GUEST_VERSION: out.guestVersion = s; break;
        case XEN_ELFNOTE.XEN_VERSION: out.xenVersion = s; break;
        case XEN_ELFNOTE.LOADER: out.loader = s; break;
        case XEN_ELFNOTE.PAE_MODE: out.paeMode = s; break;
        case XEN_ELFNOTE.BSD_SYMTAB: out.bsdSymtab = s; break;
        case XEN_ELFNOTE.FEATURES: out.features = s; splitFeatures(s, out); break;
      }
    } else if (n.type === XEN_ELFNOTE.L1_MFN_VALID) {
      // Two values of equal size: mask then value (4 or 8 bytes each).
      const half = n.desc.length >>> 1;
      const mask = readUint(n.desc.subarray(0, half));
      const v = readUint(n.desc.subarray(half));
      out.l1MfnValid = { mask, value: v };
      value = `mask=${hex(mask)} value=${hex(v)}`;
    } else {
      const v = readUint(n.desc);
      value = hex(v);
      switch (n.type) {
        case XEN_ELFNOTE.ENTRY: out.entry = v; break;
        case XEN_ELFNOTE.HYPERCALL_PAGE: out.hypercallPage = v; break;
        case XEN_ELFNOTE.VIRT_BASE: out.virtBase = v; break;
        case XEN_ELFNOTE.PADDR_OFFSET: out.paddrOffset = v; break;
        case XEN_ELFNOTE.HV_START_LOW: out.hvStartLow = v; break;
        case XEN_ELFNOTE.INIT_P2M: out.initP2m = v; break;
        case XEN_ELFNOTE.PHYS32_ENTRY: out.physEntry32 = v; break;
        case XEN_ELFNOTE.SUSPEND_CANCEL: out.suspendCancel = v !== 0n; break;
        case XEN_ELFNOTE.MOD_START_PFN: out.modStartPfn = v !== 0n; break;
        case XEN_ELFNOTE.SUPPORTED_FEATURES: {
          out.supportedFeatures = Number(v & 0xffffffffn);
          const names = XENFEAT_NAMES.filter((_, bit) => (out.supportedFeatures! >>> bit) & 1);
          value = `${hex(v)} (${names.join('|') || 'none'})`;
          break;
        }
      }
    }
    out.entries.push({ type: n.type, name, value });
  }
  return out;
}

/**
 * The legacy `__xen_guest` section: "GUEST_OS=linux,XEN_VER=xen-3.0,VIRT_BASE=0x…,…".
 * Only consulted when a kernel has no Xen notes.
 */
export function xenNotesFromGuestString(s: string): XenNotes {
  const out: XenNotes = { entries: [], featuresRequired: [], featuresSupported: [] };
  const push = (type: number, value: string): void => {
    out.entries.push({ type, name: NOTE_NAMES[type]!, value });
  };
  for (const item of s.split(',')) {
    const eq = item.indexOf('=');
    const key = (eq < 0 ? item : item.slice(0, eq)).trim();
    const val = eq < 0 ? '' : item.slice(eq + 1).trim();
    const n = (): bigint => BigInt(val.startsWith('0x') || val.startsWith('0X') ? val : `0x${val}`);
    switch (key) {
      case 'GUEST_OS': out.guestOs = val; push(XEN_ELFNOTE.GUEST_OS, val); break;
      case 'GUEST_VER': out.guestVersion = val; push(XEN_ELFNOTE.GUEST_VERSION, val); break;
      case 'XEN_VER': out.xenVersion = val; push(XEN_ELFNOTE.XEN_VERSION, val); break;
      case 'LOADER': out.loader = val; push(XEN_ELFNOTE.LOADER, val); break;
      case 'PAE': out.paeMode = val; push(XEN_ELFNOTE.PAE_MODE, val); break;
      case 'FEATURES': out.features = val; splitFeatures(val, out); push(XEN_ELFNOTE.FEATURES, val); break;
      case 'VIRT_BASE': out.virtBase = n(); push(XEN_ELFNOTE.VIRT_BASE, hex(out.virtBase)); break;
      case 'ELF_PADDR_OFFSET': out.paddrOffset = n(); push(XEN_ELFNOTE.PADDR_OFFSET, hex(out.paddrOffset)); break;
      case 'VIRT_ENTRY': out.entry = n(); push(XEN_ELFNOTE.ENTRY, hex(out.entry)); break;
      // HYPERCALL_PAGE in the string form is a page number relative to virt_base.
      case 'HYPERCALL_PAGE': out.hypercallPage = n(); push(XEN_ELFNOTE.HYPERCALL_PAGE, hex(out.hypercallPage)); break;
      case 'BSD_SYMTAB': out.bsdSymtab = 'yes'; push(XEN_ELFNOTE.BSD_SYMTAB, 'yes'); break;
    }
  }
  return out;
}
