/**
 * CPU run-loop semantics the differential suite cannot see: exits, precise
 * faults (#PF error code, CR2, RIP, untouched state), instructions straddling
 * pages, self-modifying code, single-step traps, budgets.
 * Expected values come from the Intel SDM (vol. 3 §4.7, §6.15, §17.3).
 */
import { describe, expect, it } from 'vitest';
import { Cpu } from '../src/cpu/cpu.ts';
import { Exit, PF_VEC, DB, BP, UD, GP, DE, RAX, RBX, RCX, RSP, TF, PFEC_P, PFEC_W, PFEC_U, PFEC_I } from '../src/cpu/state.ts';
import { PagedMemory, PROT_EXEC, PROT_READ, PROT_WRITE } from '../src/mmu/paged-memory.ts';

const CODE = 0x400000;
const DATA = 0x600000;
const STACK = 0x7ff000;

function machine(code: number[], at = CODE): { c: Cpu; m: PagedMemory } {
  const m = new PagedMemory(16 << 20);
  m.map(CODE, 0x3000, PROT_READ | PROT_EXEC);
  m.map(DATA, 0x2000, PROT_READ | PROT_WRITE);
  m.map(STACK, 0x1000, PROT_READ | PROT_WRITE);
  m.writeBytes(at, new Uint8Array(code));
  const c = new Cpu(m);
  c.setRip(at, 0);
  c.setReg64n(RSP, BigInt(STACK + 0x1000));
  return { c, m };
}

const rip = (c: Cpu): number => c.r[32]! >>> 0;

describe('exits', () => {
  it('syscall exits with RIP past it, registers intact', () => {
    const { c } = machine([0xb8, 0x3c, 0, 0, 0, 0x0f, 0x05]); // mov eax, 60; syscall
    expect(c.run(100)).toBe(Exit.Syscall);
    expect(rip(c)).toBe(CODE + 7);
    expect(c.getReg64n(RAX)).toBe(60n);
    expect(c.icount).toBe(2);
  });

  it('int3 is a trap (#BP, RIP after it); int 0x80 reports its vector', () => {
    const a = machine([0x90, 0xcc]).c;
    expect(a.run(100)).toBe(Exit.SoftwareInterrupt);
    expect([a.excVector, rip(a)]).toEqual([BP, CODE + 2]);
    const b = machine([0xcd, 0x80]).c;
    expect(b.run(100)).toBe(Exit.SoftwareInterrupt);
    expect([b.excVector, rip(b)]).toEqual([0x80, CODE + 2]);
  });

  it('a budget stops between blocks and resumes where it stopped', () => {
    // loop: inc rax; jmp loop
    const { c } = machine([0x48, 0xff, 0xc0, 0xeb, 0xfb]);
    expect(c.run(1000)).toBe(Exit.Budget);
    expect(c.icount).toBeGreaterThanOrEqual(1000);
    expect(c.icount).toBeLessThan(1000 + 64);
    const before = c.getReg64n(RAX);
    c.run(1000);
    expect(c.getReg64n(RAX)).toBeGreaterThan(before);
  });

  it('privileged instructions at CPL 3 raise #GP(0) at the instruction', () => {
    for (const code of [[0xfa], [0xf4], [0x0f, 0x32], [0x0f, 0x30], [0x0f, 0x22, 0xd8], [0xe4, 0x70], [0x0f, 0x01, 0xf8], [0x0f, 0x09]]) {
      const { c } = machine([0x90, ...code]);
      expect(c.run(100)).toBe(Exit.Exception);
      expect([c.excVector, c.excHasCode, c.excCode, rip(c)]).toEqual([GP, true, 0, CODE + 1]);
    }
  });

  it('ud2 and undefined opcodes raise #UD; #DE restarts the div', () => {
    const a = machine([0x0f, 0x0b]).c;
    expect(a.run(10)).toBe(Exit.Exception);
    expect([a.excVector, rip(a)]).toEqual([UD, CODE]);
    const b = machine([0x31, 0xc9, 0xf7, 0xf1]).c; // xor ecx,ecx; div ecx
    expect(b.run(10)).toBe(Exit.Exception);
    expect([b.excVector, rip(b)]).toEqual([DE, CODE + 2]);
  });
});

describe('page faults are precise', () => {
  it('write to a read-only page: error code P|W|U, CR2, RIP, nothing changed', () => {
    // mov rbx, CODE+0x100; mov qword [rbx], rax  (code page is read-only)
    const { c } = machine([0x48, 0xc7, 0xc3, ...le32(CODE + 0x100), 0x48, 0x89, 0x03]);
    c.setReg64n(RAX, 0x1122334455667788n);
    expect(c.run(100)).toBe(Exit.Exception);
    expect(c.excVector).toBe(PF_VEC);
    expect(c.excCode).toBe(PFEC_P | PFEC_W | PFEC_U);
    expect(c.cr2[0]! >>> 0).toBe(CODE + 0x100);
    expect(rip(c)).toBe(CODE + 7);
    expect(c.icount).toBe(1);
  });

  it('read of an unmapped page: error code U only', () => {
    const { c } = machine([0x48, 0x8b, 0x04, 0x25, ...le32(0x900000)]); // mov rax, [0x900000]
    expect(c.run(100)).toBe(Exit.Exception);
    expect([c.excVector, c.excCode, c.cr2[0]! >>> 0, rip(c)]).toEqual([PF_VEC, PFEC_U, 0x900000, CODE]);
  });

  it('a push that faults leaves RSP unchanged', () => {
    const { c } = machine([0x50]);
    c.setReg64n(RSP, 0x900008n);
    expect(c.run(10)).toBe(Exit.Exception);
    expect(c.excVector).toBe(PF_VEC);
    expect(c.getReg64n(RSP)).toBe(0x900008n);
  });

  it('a store straddling into an unmapped page writes nothing', () => {
    // mov rbx, DATA+0x2000-4; mov qword [rbx], rax  → the second page is unmapped
    const { c, m } = machine([0x48, 0xc7, 0xc3, ...le32(DATA + 0x2000 - 4), 0x48, 0x89, 0x03]);
    c.setReg64n(RAX, -1n);
    expect(c.run(10)).toBe(Exit.Exception);
    expect(c.excVector).toBe(PF_VEC);
    expect(c.cr2[0]! >>> 0).toBe(DATA + 0x2000);
    expect(Array.from(m.readBytes(DATA + 0x2000 - 4, 4))).toEqual([0, 0, 0, 0]);
  });

  it('fetching from a non-executable page: error code I|P|U', () => {
    const { c } = machine([0xff, 0xe3]); // jmp rbx
    c.setReg64n(RBX, BigInt(DATA));
    expect(c.run(10)).toBe(Exit.Exception);
    expect([c.excVector, c.excCode, rip(c)]).toEqual([PF_VEC, PFEC_I | PFEC_P | PFEC_U, DATA]);
  });

  it('non-canonical addresses raise #GP(0), not #PF', () => {
    const { c } = machine([0x48, 0x8b, 0x03]); // mov rax, [rbx]
    c.setReg64n(RBX, 0x0000800000000000n);
    expect(c.run(10)).toBe(Exit.Exception);
    expect([c.excVector, c.excCode]).toEqual([GP, 0]);
  });
});

describe('instructions and pages', () => {
  it('an instruction straddling two pages executes, and faults on the second page when it is absent', () => {
    const at = CODE + 0x3000 - 3;
    const m = new PagedMemory(16 << 20);
    m.map(CODE, 0x3000, PROT_READ | PROT_EXEC);
    // mov eax, 0x12345678 split 3 | 2 bytes; the rest is on an unmapped page
    m.writeBytes(at, new Uint8Array([0xb8, 0x78, 0x56]));
    const c = new Cpu(m);
    c.setRip(at, 0);
    expect(c.run(10)).toBe(Exit.Exception);
    expect([c.excVector, c.cr2[0]! >>> 0, rip(c)]).toEqual([PF_VEC, CODE + 0x3000, at]);
    m.map(CODE + 0x3000, 0x1000, PROT_READ | PROT_EXEC);
    m.writeBytes(CODE + 0x3000, new Uint8Array([0x34, 0x12, 0x0f, 0x05]));
    expect(c.run(10)).toBe(Exit.Syscall);
    expect(c.getReg64n(RAX)).toBe(0x12345678n);
  });

  it('self-modifying code: a store into the running block takes effect for the next instruction', () => {
    const m = new PagedMemory(16 << 20);
    m.map(CODE, 0x1000, PROT_READ | PROT_WRITE | PROT_EXEC);
    // mov byte [rip+1], 0x2a  (patches the imm8 of the next instruction); mov al, 0; syscall
    m.writeBytes(CODE, new Uint8Array([0xc6, 0x05, 0x01, 0, 0, 0, 0x2a, 0xb0, 0x00, 0x0f, 0x05]));
    const c = new Cpu(m);
    c.setRip(CODE, 0);
    expect(c.run(10)).toBe(Exit.Syscall);
    expect(c.getReg64n(RAX) & 0xffn).toBe(0x2an);
  });

  it('cached code is re-decoded after its page is rewritten', () => {
    const m = new PagedMemory(16 << 20);
    m.map(CODE, 0x1000, PROT_READ | PROT_WRITE | PROT_EXEC);
    m.map(DATA, 0x1000, PROT_READ | PROT_WRITE);
    m.writeBytes(CODE + 0x800, new Uint8Array([0xb8, 1, 0, 0, 0, 0xc3])); // f: mov eax,1; ret
    // main: call f; mov [CODE+0x801], cl; call f; syscall
    m.writeBytes(CODE, new Uint8Array([0xe8, ...le32(0x800 - 5), 0x88, 0x0c, 0x25, ...le32(CODE + 0x801), 0xe8, ...le32(0x800 - 17), 0x0f, 0x05]));
    const c = new Cpu(m);
    c.setRip(CODE, 0);
    c.setReg64n(RSP, BigInt(DATA + 0x1000));
    c.setReg64n(RCX, 7n);
    expect(c.run(100)).toBe(Exit.Syscall);
    expect(c.getReg64n(RAX)).toBe(7n);
  });
});

describe('single-step', () => {
  it('TF traps after each instruction with #DB and RIP past it', () => {
    const { c } = machine([0x90, 0x90, 0x0f, 0x05]);
    c.flags |= TF;
    expect(c.run(100)).toBe(Exit.Exception);
    expect([c.excVector, rip(c)]).toEqual([DB, CODE + 1]);
    expect(c.run(100)).toBe(Exit.Exception);
    expect([c.excVector, rip(c)]).toEqual([DB, CODE + 2]);
  });
});

function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}
