/**
 * System and miscellaneous instructions: cpuid, rdtsc/rdtscp, fences,
 * clflush, flag instructions (clc/stc/cmc/cld/std/cli/sti), iretq, swapgs,
 * and the privileged instructions. At CPL > 0 a privileged instruction
 * raises #GP(0): the layer above (the hypervisor for a PV kernel) decodes and
 * emulates it. At CPL 0 the few that bare-metal tests need are modelled.
 */
import type { Cpu } from '../cpu.ts';
import type { Insn } from '../insn.ts';
import { def, MAP_0F, MAP_1B } from '../table.ts';
import { CF, DF, GP, IF, IOPL, RAX, RCX, RDX, RSP, UD } from '../state.ts';
import { readE, writeE } from './operand.ts';
import { writeFlags } from './stack.ts';

const regs4 = new Int32Array(4);

def({
  name: 'cpuid',
  map: MAP_0F,
  op: 0xa2,
  modrm: false,
  size: 'd',
  exec: (c) => {
    const r = c.r;
    c.cpuid(r[0]!, r[2 * RCX]!, regs4);
    c.setReg32(RAX, regs4[0]!);
    c.setReg32(3, regs4[1]!); // EBX
    c.setReg32(RCX, regs4[2]!);
    c.setReg32(RDX, regs4[3]!);
  },
});

function tsc(c: Cpu): void {
  const t = c.readTsc();
  c.setReg32(RAX, t | 0);
  c.setReg32(RDX, Math.floor(t / 4294967296) | 0);
}
/** CR4.TSD makes rdtsc privileged; off by default. */
const CR4_TSD = 1 << 2;
def({ name: 'rdtsc', map: MAP_0F, op: 0x31, modrm: false, size: 'd', exec: (c) => { if (c.cr4 & CR4_TSD) c.requireCpl0(); tsc(c); } });
def({
  name: 'rdtscp',
  map: MAP_0F,
  op: 0x01,
  mod: 'reg',
  ext: 7,
  rmField: 1,
  modrm: true,
  size: 'd',
  exec: (c) => {
    if (c.cr4 & CR4_TSD) c.requireCpl0();
    tsc(c);
    c.setReg32(RCX, c.tscAux);
  },
});

// ---- fences, cache control, pause: no-ops for a single in-order interpreter

def({ name: 'lfence', map: MAP_0F, op: 0xae, ext: 5, mod: 'reg', prefix: 0, modrm: true, size: 'n', exec: () => {} });
def({ name: 'mfence', map: MAP_0F, op: 0xae, ext: 6, mod: 'reg', prefix: 0, modrm: true, size: 'n', exec: () => {} });
def({ name: 'sfence', map: MAP_0F, op: 0xae, ext: 7, mod: 'reg', prefix: 0, modrm: true, size: 'n', exec: () => {} });
def({
  name: 'clflush',
  map: MAP_0F,
  op: 0xae,
  ext: 7,
  mod: 'mem',
  prefix: 0,
  modrm: true,
  size: 'n',
  exec: (c, i) => {
    readE(c, i, 1); // faults like a byte read
  },
});

// ---- flag instructions

function setFlagBit(c: Cpu, bit: number, on: boolean): void {
  c.getFlags();
  c.flags = on ? c.flags | bit : c.flags & ~bit;
}
def({ name: 'clc', map: MAP_1B, op: 0xf8, modrm: false, size: 'b', exec: (c) => setFlagBit(c, CF, false) });
def({ name: 'stc', map: MAP_1B, op: 0xf9, modrm: false, size: 'b', exec: (c) => setFlagBit(c, CF, true) });
def({ name: 'cmc', map: MAP_1B, op: 0xf5, modrm: false, size: 'b', exec: (c) => setFlagBit(c, CF, !c.getCF()) });
def({ name: 'cld', map: MAP_1B, op: 0xfc, modrm: false, size: 'b', exec: (c) => { c.flags &= ~DF; } });
def({ name: 'std', map: MAP_1B, op: 0xfd, modrm: false, size: 'b', exec: (c) => { c.flags |= DF; } });

/** cli/sti need CPL <= IOPL. */
function iflag(on: boolean) {
  return (c: Cpu, i: Insn): void => {
    if (c.cpl > (c.flags & IOPL) >> 12) throw c.fault(GP, 0);
    c.flags = on ? c.flags | IF : c.flags & ~IF;
    c.r[32] = i.nextLo;
    c.r[33] = i.nextHi;
  };
}
def({ name: 'cli', map: MAP_1B, op: 0xfa, modrm: false, size: 'b', control: true, exec: iflag(false) });
def({ name: 'sti', map: MAP_1B, op: 0xfb, modrm: false, size: 'b', control: true, exec: iflag(true) });

// ---- port I/O: in/out (privileged unless CPL <= IOPL; no devices on this bus)

function io(isIn: boolean, size: number) {
  return (c: Cpu): void => {
    if (c.cpl > (c.flags & IOPL) >> 12) throw c.fault(GP, 0);
    if (isIn) c.setReg(RAX, size, -1, 0); // an empty bus reads all ones
  };
}
def({ name: 'in', map: MAP_1B, op: 0xe4, modrm: false, size: 'b', imm: 'ub', exec: io(true, 1) });
def({ name: 'in', map: MAP_1B, op: 0xe5, modrm: false, size: 'v', imm: 'ub', make: (s) => io(true, s === 2 ? 2 : 4) });
def({ name: 'out', map: MAP_1B, op: 0xe6, modrm: false, size: 'b', imm: 'ub', exec: io(false, 1) });
def({ name: 'out', map: MAP_1B, op: 0xe7, modrm: false, size: 'v', imm: 'ub', make: (s) => io(false, s === 2 ? 2 : 4) });
def({ name: 'in', map: MAP_1B, op: 0xec, modrm: false, size: 'b', exec: io(true, 1) });
def({ name: 'in', map: MAP_1B, op: 0xed, modrm: false, size: 'v', make: (s) => io(true, s === 2 ? 2 : 4) });
def({ name: 'out', map: MAP_1B, op: 0xee, modrm: false, size: 'b', exec: io(false, 1) });
def({ name: 'out', map: MAP_1B, op: 0xef, modrm: false, size: 'v', make: (s) => io(false, s === 2 ? 2 : 4) });

// ---- iretq (64-bit frame: RIP, CS, RFLAGS, RSP, SS)

def({
  name: 'iret',
  map: MAP_1B,
  op: 0xcf,
  modrm: false,
  size: 'v',
  control: true,
  exec: (c, i) => {
    if (i.opSize !== 8) throw c.fault(UD); // 16/32-bit iret would return to compatibility mode
    const r = c.r;
    const sL = r[2 * RSP]!, sH = r[2 * RSP + 1]!;
    c.checkCanonical(sH, true);
    const at = (k: number): number => {
      const s = (sL >>> 0) + 8 * k;
      return c.read64(s | 0, s > 0xffffffff ? (sH + 1) | 0 : sH);
    };
    const ripL = at(0), ripH = c.hi;
    const cs = at(1) & 0xffff;
    const fl = at(2);
    const spL = at(3), spH = c.hi;
    const ss = at(4) & 0xffff;
    const newCpl = cs & 3;
    if (newCpl < c.cpl) throw c.fault(GP, cs & 0xfffc);
    if ((ripH << 16) >> 16 !== ripH) throw c.fault(GP, 0);
    writeFlags(c, fl);
    c.cpl = newCpl;
    c.sel[1] = cs;
    c.sel[2] = ss;
    r[2 * RSP] = spL;
    r[2 * RSP + 1] = spH;
    r[32] = ripL;
    r[33] = ripH;
  },
});

// ---- swapgs (CPL 0)

def({
  name: 'swapgs',
  map: MAP_0F,
  op: 0x01,
  mod: 'reg',
  ext: 7,
  rmField: 0,
  modrm: true,
  size: 'd',
  exec: (c) => {
    c.requireCpl0();
    const b = c.segBase, k = c.kernelGsBase;
    const lo = b[10]!, hi = b[11]!;
    b[10] = k[0]!;
    b[11] = k[1]!;
    k[0] = lo;
    k[1] = hi;
  },
});

// ---- privileged instructions (CPL 0 only)

const priv = (c: Cpu): void => {
  c.requireCpl0();
};
const privUD = (c: Cpu): void => {
  c.requireCpl0();
  throw c.fault(UD); // not modelled at CPL 0
};

/** Model-specific registers the CPU itself knows (the layer above handles the rest). */
export const MSR_EFER = 0xc0000080, MSR_FS_BASE = 0xc0000100, MSR_GS_BASE = 0xc0000101, MSR_KERNEL_GS_BASE = 0xc0000102;
export const MSR_TSC_AUX = 0xc0000103;

def({
  name: 'rdmsr',
  map: MAP_0F,
  op: 0x32,
  modrm: false,
  size: 'd',
  exec: (c) => {
    c.requireCpl0();
    const n = c.r[2 * RCX]! >>> 0;
    let lo: number, hi: number;
    switch (n) {
      case MSR_FS_BASE: lo = c.segBase[8]!; hi = c.segBase[9]!; break;
      case MSR_GS_BASE: lo = c.segBase[10]!; hi = c.segBase[11]!; break;
      case MSR_KERNEL_GS_BASE: lo = c.kernelGsBase[0]!; hi = c.kernelGsBase[1]!; break;
      case MSR_EFER: lo = 0xd01; hi = 0; break; // SCE | LME | LMA | NXE
      case MSR_TSC_AUX: lo = c.tscAux; hi = 0; break;
      default: throw c.fault(GP, 0);
    }
    c.setReg32(RAX, lo);
    c.setReg32(RDX, hi);
  },
});
def({
  name: 'wrmsr',
  map: MAP_0F,
  op: 0x30,
  modrm: false,
  size: 'd',
  exec: (c) => {
    c.requireCpl0();
    const n = c.r[2 * RCX]! >>> 0;
    const lo = c.r[0]!, hi = c.r[2 * RDX]!;
    switch (n) {
      case MSR_FS_BASE: case MSR_GS_BASE: case MSR_KERNEL_GS_BASE:
        if ((hi << 16) >> 16 !== hi) throw c.fault(GP, 0);
        if (n === MSR_KERNEL_GS_BASE) { c.kernelGsBase[0] = lo; c.kernelGsBase[1] = hi; }
        else { const k = n === MSR_FS_BASE ? 8 : 10; c.segBase[k] = lo; c.segBase[k + 1] = hi; }
        break;
      case MSR_TSC_AUX: c.tscAux = lo; break;
      case MSR_EFER: break;
      default: throw c.fault(GP, 0);
    }
  },
});

// mov r64, CRn / mov CRn, r64 / mov DRn (0F 20-23): the ModRM always names registers.
def({
  name: 'mov',
  map: MAP_0F,
  op: 0x20,
  modrm: true,
  size: 'q',
  exec: (c, i) => {
    c.requireCpl0();
    const rm = i.rm >= 0 ? i.rm : (i.base & 7);
    let v: number;
    switch (i.reg) {
      case 0: v = c.cr0; break;
      case 2: c.setReg64(rm, c.cr2[0]!, c.cr2[1]!); return;
      case 3: v = c.cr3; break;
      case 4: v = c.cr4; break;
      default: throw c.fault(UD);
    }
    c.setReg64(rm, v, 0);
  },
});
def({
  name: 'mov',
  map: MAP_0F,
  op: 0x22,
  modrm: true,
  size: 'q',
  control: true,
  exec: (c, i) => {
    c.requireCpl0();
    const rm = i.rm >= 0 ? i.rm : (i.base & 7);
    const v = c.r[2 * rm]!;
    switch (i.reg) {
      case 0: c.cr0 = v; break;
      case 2: c.cr2[0] = v; c.cr2[1] = c.r[2 * rm + 1]!; break;
      case 3: c.cr3 = v; c.mmu.tlb.flush(); break;
      case 4: c.cr4 = v; break;
      default: throw c.fault(UD);
    }
    c.r[32] = i.nextLo;
    c.r[33] = i.nextHi;
  },
});
def({ name: 'mov', map: MAP_0F, op: 0x21, modrm: true, size: 'q', exec: privUD });
def({ name: 'mov', map: MAP_0F, op: 0x23, modrm: true, size: 'q', exec: privUD });
def({ name: 'clts', map: MAP_0F, op: 0x06, modrm: false, size: 'b', exec: (c) => { c.requireCpl0(); c.cr0 &= ~8; } });
def({ name: 'invd', map: MAP_0F, op: 0x08, modrm: false, size: 'b', exec: priv });
def({ name: 'wbinvd', map: MAP_0F, op: 0x09, modrm: false, size: 'b', exec: priv });
def({ name: 'rdpmc', map: MAP_0F, op: 0x33, modrm: false, size: 'b', exec: (c) => { c.requireCpl0(); throw c.fault(GP, 0); } });
def({ name: 'sysenter', map: MAP_0F, op: 0x34, modrm: false, size: 'b', control: true, exec: (c) => { throw c.fault(UD); } });
def({ name: 'sysexit', map: MAP_0F, op: 0x35, modrm: false, size: 'b', control: true, exec: (c) => { throw c.fault(UD); } });
def({ name: 'getsec', map: MAP_0F, op: 0x37, modrm: false, size: 'b', exec: (c) => { throw c.fault(UD); } });

// Group 6 (0F 00): sldt/str are readable at CPL 3 (UMIP off): a flat CPU has none loaded.
def({ name: 'sldt', map: MAP_0F, op: 0x00, ext: 0, modrm: true, size: 'v', make: (s, mem) => (c, i) => writeE(c, i, mem ? 2 : s, 0, 0) });
def({ name: 'str', map: MAP_0F, op: 0x00, ext: 1, modrm: true, size: 'v', make: (s, mem) => (c, i) => writeE(c, i, mem ? 2 : s, 0, 0) });
for (const [ext, name] of [[2, 'lldt'], [3, 'ltr']] as const) def({ name, map: MAP_0F, op: 0x00, ext, modrm: true, size: 'w', exec: privUD });
for (const [ext, name] of [[4, 'verr'], [5, 'verw']] as const) def({ name, map: MAP_0F, op: 0x00, ext, modrm: true, size: 'w', exec: (c) => { c.getFlags(); c.flags &= ~0x40; } });

// Group 7 (0F 01), memory forms: sgdt/sidt store a 10-byte pseudo-descriptor (zeros: no tables).
const storeDescTable = (c: Cpu, i: Insn): void => {
  const a = c.ea(i), ah = c.eaHi;
  c.checkWritable(a, ah, 10);
  c.write16(a, ah, 0);
  c.write64((a + 2) | 0, ah, 0, 0);
};
def({ name: 'sgdt', map: MAP_0F, op: 0x01, ext: 0, mod: 'mem', modrm: true, size: 'n', exec: storeDescTable });
def({ name: 'sidt', map: MAP_0F, op: 0x01, ext: 1, mod: 'mem', modrm: true, size: 'n', exec: storeDescTable });
def({ name: 'lgdt', map: MAP_0F, op: 0x01, ext: 2, mod: 'mem', modrm: true, size: 'n', exec: privUD });
def({ name: 'lidt', map: MAP_0F, op: 0x01, ext: 3, mod: 'mem', modrm: true, size: 'n', exec: privUD });
def({ name: 'smsw', map: MAP_0F, op: 0x01, ext: 4, modrm: true, size: 'v', make: (s, mem) => (c, i) => writeE(c, i, mem ? 2 : s, c.cr0 & (mem ? 0xffff : -1), 0) });
def({ name: 'lmsw', map: MAP_0F, op: 0x01, ext: 6, modrm: true, size: 'w', exec: privUD });
def({ name: 'invlpg', map: MAP_0F, op: 0x01, ext: 7, mod: 'mem', modrm: true, size: 'n', exec: (c, i) => { c.requireCpl0(); const a = c.ea(i); c.mmu.tlb.invalidatePage(a, c.eaHi); } });
// 0F 01 register forms not listed (monitor/mwait, xgetbv/xsetbv, vmcall, clac/stac, …): not available → #UD.
for (const [ext, rmField, name] of [[1, 0, 'monitor'], [1, 1, 'mwait'], [2, 0, 'xgetbv'], [2, 1, 'xsetbv'], [1, 2, 'clac'], [1, 3, 'stac'], [0, 1, 'vmcall']] as const) {
  def({ name, map: MAP_0F, op: 0x01, ext, mod: 'reg', rmField, modrm: true, size: 'n', exec: (c) => { throw c.fault(UD); } });
}

