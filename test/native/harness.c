/*
 * Differential-test harness: runs x86-64 test vectors natively, in a batch.
 *
 * Built by test/helpers/native.ts (gcc -O2, cached in test/native/build/ by
 * the hash of this file). Reads cases from stdin (or the file named by argv[1])
 * and writes one result per case to stdout. Formats (little-endian):
 *
 * Case:   u32 magic 'XCAS' (0x53414358), u32 codeLen, u32 flags, u32 reserved,
 *         u64 gpr[16] (RAX..R15, ModRM order), u64 rflags, u32 mxcsr, u32 pad,
 *         u8 xmm[16][16],
 *         u8 fx[512]            if flags & F_FX   (fxsave image: x87 state; its
 *                                                  MXCSR and XMM fields are
 *                                                  replaced by the ones above)
 *         u8 data[DATA_SIZE]    if flags & F_DATA (else: the previous case's
 *                                                  initial data again)
 *         u8 code[codeLen]
 * Result: u32 magic 'XRES' (0x53455258), u32 status (0 ok, 1 signal, 2 timeout),
 *         u32 signal, u32 trapno, u32 err, i32 si_code,
 *         u64 fault address (si_addr), u64 rip at the fault,
 *         then unless timed out: u64 gpr[16], u64 rflags, u8 fx[512] (fxsave64
 *         image: x87, MXCSR, XMM0-15), u32 nranges, nranges x (u32 off,
 *         u32 len, u8 bytes[len]): the bytes of the data area that changed.
 *         After a fault these are the registers the signal frame reports
 *         (RFLAGS without RF) and the data area at the fault.
 *
 * Layout: the code runs at CODE_ADDR (RWX) and is followed by
 * `jmp *0(%rip); .quad hx_return`; the data area is DATA_SIZE bytes at
 * DATA_ADDR (RW); one PROT_NONE guard page sits on each side of both areas.
 * Faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP) are caught on an
 * alternate stack, reported with the hardware vector (REG_TRAPNO), error
 * code, fault address and RIP, and the harness goes on with the next case.
 * A case running longer than a second is reported as a timeout.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <ucontext.h>
#include <unistd.h>

#define CODE_ADDR 0x10000000UL
#define CODE_SIZE 0x10000UL /* code + tail must fit: at most CODE_SIZE - 24 bytes of code */
#define DATA_ADDR 0x20000000UL
#define DATA_SIZE 0x10000UL
#define PAGE 0x1000UL

#define MAGIC_CASE 0x53414358u
#define MAGIC_RES 0x53455258u
#define F_FX 1u
#define F_DATA 2u

/* State shared with the trampoline (hidden: referenced RIP-relative from asm). */
#define HIDDEN __attribute__((visibility("hidden"), used))
HIDDEN uint64_t hx_in_gpr[16];
HIDDEN uint64_t hx_in_rflags;
HIDDEN uint64_t hx_out_gpr[16];
HIDDEN uint64_t hx_out_rflags;
HIDDEN uint64_t hx_host_rsp;
HIDDEN uint64_t hx_code_target = CODE_ADDR;
HIDDEN uint8_t hx_in_fx[512] __attribute__((aligned(16)));
HIDDEN uint8_t hx_out_fx[512] __attribute__((aligned(16)));
HIDDEN uint8_t hx_host_fx[512] __attribute__((aligned(16)));
HIDDEN uint64_t hx_scratch[32] __attribute__((aligned(16)));

void hx_enter(void);
void hx_return(void);

/*
 * hx_enter: save the host's callee-saved registers, RSP and FPU/SSE state;
 * load the case's x87/SSE state (fxrstor64), RFLAGS and all sixteen GPRs
 * (moves do not touch flags), and jump to the code. The code's tail jumps to
 * hx_return, which stores everything and returns to hx_enter's caller.
 */
__asm__(
    ".text\n"
    ".globl hx_enter\n"
    ".hidden hx_enter\n"
    ".type hx_enter, @function\n"
    "hx_enter:\n"
    "  push %rbx\n  push %rbp\n  push %r12\n  push %r13\n  push %r14\n  push %r15\n"
    "  mov %rsp, hx_host_rsp(%rip)\n"
    "  fxsave64 hx_host_fx(%rip)\n"
    "  fxrstor64 hx_in_fx(%rip)\n"
    "  pushq hx_in_rflags(%rip)\n"
    "  popfq\n"
    "  mov hx_in_gpr+0(%rip), %rax\n"
    "  mov hx_in_gpr+8(%rip), %rcx\n"
    "  mov hx_in_gpr+16(%rip), %rdx\n"
    "  mov hx_in_gpr+24(%rip), %rbx\n"
    "  mov hx_in_gpr+32(%rip), %rsp\n"
    "  mov hx_in_gpr+40(%rip), %rbp\n"
    "  mov hx_in_gpr+48(%rip), %rsi\n"
    "  mov hx_in_gpr+56(%rip), %rdi\n"
    "  mov hx_in_gpr+64(%rip), %r8\n"
    "  mov hx_in_gpr+72(%rip), %r9\n"
    "  mov hx_in_gpr+80(%rip), %r10\n"
    "  mov hx_in_gpr+88(%rip), %r11\n"
    "  mov hx_in_gpr+96(%rip), %r12\n"
    "  mov hx_in_gpr+104(%rip), %r13\n"
    "  mov hx_in_gpr+112(%rip), %r14\n"
    "  mov hx_in_gpr+120(%rip), %r15\n"
    "  jmp *hx_code_target(%rip)\n"
    ".size hx_enter, .-hx_enter\n"
    "\n"
    ".globl hx_return\n"
    ".hidden hx_return\n"
    ".type hx_return, @function\n"
    "hx_return:\n"
    "  mov %rsp, hx_out_gpr+32(%rip)\n"
    "  lea hx_scratch+128(%rip), %rsp\n"
    "  pushfq\n"
    "  popq hx_out_rflags(%rip)\n"
    "  mov %rax, hx_out_gpr+0(%rip)\n"
    "  mov %rcx, hx_out_gpr+8(%rip)\n"
    "  mov %rdx, hx_out_gpr+16(%rip)\n"
    "  mov %rbx, hx_out_gpr+24(%rip)\n"
    "  mov %rbp, hx_out_gpr+40(%rip)\n"
    "  mov %rsi, hx_out_gpr+48(%rip)\n"
    "  mov %rdi, hx_out_gpr+56(%rip)\n"
    "  mov %r8, hx_out_gpr+64(%rip)\n"
    "  mov %r9, hx_out_gpr+72(%rip)\n"
    "  mov %r10, hx_out_gpr+80(%rip)\n"
    "  mov %r11, hx_out_gpr+88(%rip)\n"
    "  mov %r12, hx_out_gpr+96(%rip)\n"
    "  mov %r13, hx_out_gpr+104(%rip)\n"
    "  mov %r14, hx_out_gpr+112(%rip)\n"
    "  mov %r15, hx_out_gpr+120(%rip)\n"
    "  pushq $0x202\n"
    "  popfq\n"
    "  fxsave64 hx_out_fx(%rip)\n"
    "  fxrstor64 hx_host_fx(%rip)\n"
    "  mov hx_host_rsp(%rip), %rsp\n"
    "  pop %r15\n  pop %r14\n  pop %r13\n  pop %r12\n  pop %rbp\n  pop %rbx\n"
    "  ret\n"
    ".size hx_return, .-hx_return\n");

static sigjmp_buf jb;
static volatile sig_atomic_t in_case;
static struct {
  uint32_t sig, trapno, err;
  int32_t code;
  uint64_t addr, rip;
  uint64_t gpr[16], rflags;
  uint8_t fx[512];
} fault;
/* ucontext greg index of each GPR in ModRM order. */
static const int greg_of[16] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
                                REG_R8,  REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15};
static uint8_t host_fx_clean[512] __attribute__((aligned(16)));

static void on_signal(int sig, siginfo_t *si, void *ucv) {
  /* The test code may have set AC (alignment checks): the kernel keeps it for the handler. */
  __asm__ volatile("pushfq\n andq $~0x40000, (%%rsp)\n popfq" ::: "memory", "cc");
  ucontext_t *uc = (ucontext_t *)ucv;
  if (!in_case) {
    if (sig == SIGALRM) return;
    /* A fault in the harness itself: die loudly. */
    signal(sig, SIG_DFL);
    raise(sig);
    _exit(128 + sig);
  }
  fault.sig = (uint32_t)sig;
  fault.trapno = (uint32_t)uc->uc_mcontext.gregs[REG_TRAPNO];
  fault.err = (uint32_t)uc->uc_mcontext.gregs[REG_ERR];
  fault.code = si->si_code;
  fault.addr = (uint64_t)si->si_addr;
  fault.rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
  for (int k = 0; k < 16; k++) fault.gpr[k] = (uint64_t)uc->uc_mcontext.gregs[greg_of[k]];
  fault.rflags = (uint64_t)uc->uc_mcontext.gregs[REG_EFL] & ~0x10000ull; /* RF is set in a fault's frame */
  if (uc->uc_mcontext.fpregs) memcpy(fault.fx, uc->uc_mcontext.fpregs, 512);
  in_case = 0;
  siglongjmp(jb, sig == SIGALRM ? 2 : 1);
}

static FILE *in;
static uint8_t *outbuf;
static size_t outlen, outcap;

/* Output buffer: flushed between cases only, so one case's result (at most
 * about 2 * DATA_SIZE bytes) always fits. */
static void out(const void *p, size_t n) {
  memcpy(outbuf + outlen, p, n);
  outlen += n;
}
static void flush_if_needed(void) {
  if (outlen + 3 * DATA_SIZE > outcap) {
    fwrite(outbuf, 1, outlen, stdout);
    outlen = 0;
  }
}
static void out32(uint32_t v) { out(&v, 4); }
static void out64(uint64_t v) { out(&v, 8); }

static int readn(void *p, size_t n) { return fread(p, 1, n, in) == n; }

static void *map_fixed(uint64_t addr, size_t len, int prot) {
  void *p = mmap((void *)addr, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (p != (void *)addr) {
    fprintf(stderr, "harness: cannot map %#lx\n", (unsigned long)addr);
    exit(2);
  }
  return p;
}

int main(int argc, char **argv) {
  in = argc > 1 ? fopen(argv[1], "rb") : stdin;
  if (!in) {
    perror(argv[1]);
    return 2;
  }
  static char inbuf[1 << 20];
  setvbuf(in, inbuf, _IOFBF, sizeof inbuf);
  outcap = 1 << 22;
  outbuf = malloc(outcap);

  map_fixed(CODE_ADDR - PAGE, PAGE, PROT_NONE);
  uint8_t *code = map_fixed(CODE_ADDR, CODE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC);
  map_fixed(CODE_ADDR + CODE_SIZE, PAGE, PROT_NONE);
  map_fixed(DATA_ADDR - PAGE, PAGE, PROT_NONE);
  uint8_t *data = map_fixed(DATA_ADDR, DATA_SIZE, PROT_READ | PROT_WRITE);
  map_fixed(DATA_ADDR + DATA_SIZE, PAGE, PROT_NONE);
  static uint8_t init_data[DATA_SIZE];

  stack_t ss = {.ss_sp = malloc(1 << 16), .ss_size = 1 << 16, .ss_flags = 0};
  sigaltstack(&ss, NULL);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGALRM};
  for (unsigned k = 0; k < sizeof sigs / sizeof sigs[0]; k++) sigaction(sigs[k], &sa, NULL);

  uint16_t sel_ds, sel_es, sel_gs;
  __asm__ volatile("mov %%ds, %0\n mov %%es, %1\n mov %%gs, %2" : "=r"(sel_ds), "=r"(sel_es), "=r"(sel_gs));

  /* A clean FPU/SSE image to start each case from (default x87 state, XMM/MXCSR replaced). */
  __asm__ volatile("fninit\n fxsave64 %0" : "=m"(host_fx_clean));

  size_t prev_code_len = 0;
  for (;;) {
    uint32_t hdr[4];
    if (!readn(hdr, sizeof hdr)) break;
    if (hdr[0] != MAGIC_CASE) {
      fprintf(stderr, "harness: bad case header\n");
      return 2;
    }
    uint32_t code_len = hdr[1], flags = hdr[2];
    uint64_t rflags;
    uint32_t mx[2];
    uint8_t xmm[256];
    uint8_t fx[512] __attribute__((aligned(16)));
    if (!readn(hx_in_gpr, 128) || !readn(&rflags, 8) || !readn(mx, 8) || !readn(xmm, 256)) goto truncated;
    if (flags & F_FX) {
      if (!readn(fx, 512)) goto truncated;
    } else
      memcpy(fx, host_fx_clean, 512);
    if ((flags & F_DATA) && !readn(init_data, DATA_SIZE)) goto truncated;
    if (code_len > CODE_SIZE - 24) {
      fprintf(stderr, "harness: code too long\n");
      return 2;
    }
    /* Clear what the previous case left, then code + jmp *disp(%rip) + (aligned) &hx_return:
     * aligned so that the test code may leave AC set. */
    memset(code, 0, prev_code_len);
    if (!readn(code, code_len)) goto truncated;
    size_t slot = (code_len + 6 + 7) & ~(size_t)7;
    int32_t disp = (int32_t)(slot - (code_len + 6));
    code[code_len] = 0xff;
    code[code_len + 1] = 0x25;
    memcpy(code + code_len + 2, &disp, 4);
    uint64_t ret = (uint64_t)&hx_return;
    memcpy(code + slot, &ret, 8);
    prev_code_len = slot + 8;

    memcpy(fx + 24, &mx[0], 4); /* MXCSR */
    memcpy(fx + 160, xmm, 256); /* XMM0-15 */
    memcpy(hx_in_fx, fx, 512);
    /* Only the arithmetic flags, DF, and the always-one bit; IF stays as the OS wants it. */
    hx_in_rflags = (rflags & 0x0cd5) | 0x202;
    memcpy(data, init_data, DATA_SIZE);

    memset(&fault, 0, sizeof fault);
    struct itimerval tv = {{0, 0}, {1, 0}}, off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &tv, NULL);
    int status = sigsetjmp(jb, 1);
    if (status == 0) {
      in_case = 1;
      hx_enter();
      in_case = 0;
    }
    setitimer(ITIMER_REAL, &off, NULL);
    __asm__ volatile("cld\n fxrstor64 %0" ::"m"(host_fx_clean));
    /* The code may have loaded DS, ES or GS (tests do not touch FS: glibc's TLS lives there). */
    __asm__ volatile("mov %0, %%ds\n mov %1, %%es\n mov %2, %%gs" ::"r"(sel_ds), "r"(sel_es), "r"(sel_gs));

    flush_if_needed();
    out32(MAGIC_RES);
    out32((uint32_t)status);
    out32(fault.sig);
    out32(fault.trapno);
    out32(fault.err);
    out32((uint32_t)fault.code);
    out64(fault.addr);
    out64(fault.rip);
    if (status == 2) continue;
    if (status == 1) {
      out(fault.gpr, 128);
      out64(fault.rflags);
      out(fault.fx, 512);
    } else {
      out(hx_out_gpr, 128);
      out64(hx_out_rflags);
      out(hx_out_fx, 512);
    }
    /* Changed ranges of the data area, at 8-byte granularity then trimmed. */
    uint32_t nr = 0;
    size_t nr_pos = outlen;
    out32(0);
    for (size_t o = 0; o < DATA_SIZE;) {
      size_t chunk = DATA_SIZE - o < 64 ? DATA_SIZE - o : 64;
      if (memcmp(data + o, init_data + o, chunk) == 0) {
        o += chunk;
        continue;
      }
      size_t s = o;
      while (data[s] == init_data[s]) s++;
      size_t e = s;
      /* Extend while bytes differ (allowing equal runs shorter than 16). */
      size_t last = s;
      while (e < DATA_SIZE && e - last <= 16) {
        if (data[e] != init_data[e]) last = e;
        e++;
      }
      e = last + 1;
      out32((uint32_t)s);
      out32((uint32_t)(e - s));
      out(data + s, e - s);
      nr++;
      o = e;
    }
    memcpy(outbuf + nr_pos, &nr, 4);
  }
  fwrite(outbuf, 1, outlen, stdout);
  fflush(stdout);
  return 0;
truncated:
  fprintf(stderr, "harness: truncated case\n");
  return 2;
}
