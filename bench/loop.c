/* CPU-bound guest loops for `npm run bench`.
   loop tight N : a 3-instruction counting loop (add, cmp, jne) — raw dispatch speed
   loop mix N   : an LCG with shifts, xors, a multiply and a data-dependent branch
   loop sieve N : sieve of Eratosthenes over N bytes (byte loads and stores) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "mix";
  long n = argc > 2 ? atol(argv[2]) : 10000000;
  if (!strcmp(mode, "tight")) {
    long i;
    for (i = 0; i < n; i++) __asm__ volatile("" ::: "memory");
    printf("tight %ld\n", i);
  } else if (!strcmp(mode, "sieve")) {
    unsigned char *s = calloc(n + 1, 1);
    long count = 0;
    for (long i = 2; i <= n; i++) {
      if (s[i]) continue;
      count++;
      for (long j = i * 2; j <= n; j += i) s[j] = 1;
    }
    printf("sieve %ld primes\n", count);
  } else {
    uint32_t x = 1, y = 0, z = 0;
    for (long i = 0; i < n; i++) {
      x = x * 1664525u + 1013904223u;
      y += x >> 16;
      y ^= (uint32_t)i;
      if (x & 0x100) z += y; else z -= x;
    }
    printf("mix %u %u %u\n", x, y, z);
  }
  return 0;
}
