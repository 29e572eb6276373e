/* libc's string and memory functions over many sizes and alignments:
   memcpy, memmove (both directions, overlapping), memset, memcmp, memchr,
   strlen, strnlen, strcmp, strncmp, strchr, strrchr, strcpy, strcat, strstr,
   strspn. Comparison results are reduced to their sign (only that is
   specified). Prints per-function checksums. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t s = 88172645u;
static uint32_t rnd(void) { s ^= s << 13; s ^= s >> 17; s ^= s << 5; return s; }
static int sign(int x) { return (x > 0) - (x < 0); }
static uint64_t hash(const unsigned char *p, size_t n, uint64_t h) {
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

#define BUF 9000
static unsigned char a[BUF + 64], b[BUF + 64], c[BUF + 64];
static const size_t sizes[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 95, 127, 128, 129,
                               200, 255, 256, 257, 511, 512, 513, 1000, 1023, 1024, 1025, 2047, 4096, 4097, 8191, 8192};
#define NS (sizeof sizes / sizeof sizes[0])

static void fill(unsigned char *p, size_t n, int nonzero) {
  for (size_t i = 0; i < n; i++) { unsigned char x = (unsigned char)rnd(); p[i] = nonzero && !x ? 'x' : x; }
}

int main(void) {
  uint64_t hc = 0, hm = 0, hs = 0, hcmp = 0, hl = 0, hstr = 0, hchr = 0;
  for (size_t si = 0; si < NS; si++) {
    size_t n = sizes[si];
    if (n > 8192) __builtin_unreachable();
    for (int sa = 0; sa < 16; sa += 3) {
      for (int da = 0; da < 16; da += 5) {
        fill(a, BUF + 64, 0);
        memset(b, 0xcc, sizeof b);
        memcpy(b + da, a + sa, n);
        hc = hash(b, n + 40 < sizeof b ? n + 40 : sizeof b, hc);
        /* overlapping moves both ways */
        memcpy(c, a, sizeof c);
        memmove(c + da + 7, c + sa, n);
        hm = hash(c, n + 40 < sizeof c ? n + 40 : sizeof c, hm);
        memcpy(c, a, sizeof c);
        memmove(c + sa, c + da + 7, n);
        hm = hash(c, n + 40 < sizeof c ? n + 40 : sizeof c, hm);
        memset(c + da, sa * 17, n);
        hs = hash(c, n + 40 < sizeof c ? n + 40 : sizeof c, hs);
        /* memcmp: equal, then differing at a random position */
        memcpy(b + da, a + sa, n);
        hcmp = hcmp * 3 + (uint64_t)(sign(memcmp(b + da, a + sa, n)) + 1);
        if (n) {
          size_t pos = rnd() % n;
          b[da + pos] ^= 1 << (rnd() % 8);
          hcmp = hcmp * 3 + (uint64_t)(sign(memcmp(b + da, a + sa, n)) + 1);
          unsigned char needle = a[sa + pos];
          const unsigned char *f = memchr(a + sa, needle, n);
          hchr = hchr * 31 + (f ? (uint64_t)(f - (a + sa)) : 999999);
          f = memchr(a + sa, 0x100 + needle + 1, n);
          hchr = hchr * 31 + (f ? (uint64_t)(f - (a + sa)) : 999999);
        }
        /* strings of length n at these alignments */
        fill(a + sa, n, 1);
        a[sa + n] = 0;
        hl = hl * 31 + strlen((char *)a + sa) + 7 * strnlen((char *)a + sa, n / 2);
        strcpy((char *)b + da, (char *)a + sa);
        hstr = hstr * 3 + (uint64_t)(sign(strcmp((char *)b + da, (char *)a + sa)) + 1);
        if (n) {
          size_t pos = rnd() % n;
          b[da + pos] = (unsigned char)(b[da + pos] + 1 + rnd() % 200);
          if (!b[da + pos]) b[da + pos] = 1;
          hstr = hstr * 3 + (uint64_t)(sign(strcmp((char *)b + da, (char *)a + sa)) + 1);
          hstr = hstr * 3 + (uint64_t)(sign(strncmp((char *)b + da, (char *)a + sa, pos)) + 1);
          hstr = hstr * 3 + (uint64_t)(sign(strncmp((char *)b + da, (char *)a + sa, pos + 1)) + 1);
          char ch = (char)a[sa + rnd() % n];
          char *p1 = strchr((char *)a + sa, ch), *p2 = strrchr((char *)a + sa, ch);
          hchr = hchr * 31 + (uint64_t)(p1 - (char *)a - sa) + 1000 * (uint64_t)(p2 - (char *)a - sa);
          hchr = hchr * 31 + (strchr((char *)a + sa, 0) == (char *)a + sa + n);
          char pat[4] = {(char)a[sa + n / 2], n > 1 ? (char)a[sa + n / 2 + 1] : 0, 0, 0};
          char *st = strstr((char *)a + sa, pat);
          hchr = hchr * 31 + (st ? (uint64_t)(st - (char *)a - sa) : 77777);
          hchr = hchr * 31 + strspn((char *)a + sa, "abcdefghijklmnopqrstuvwxyz") + strcspn((char *)a + sa, "xyz");
        }
        if (n < 4000) {
          strcpy((char *)c, (char *)a + sa);
          strcat((char *)c, (char *)a + sa);
          hl = hl * 31 + strlen((char *)c);
        }
      }
    }
    printf("size %5zu: cpy %016" PRIx64 " move %016" PRIx64 " set %016" PRIx64 "\n", n, hc, hm, hs);
  }
  printf("memcmp %016" PRIx64 " strlen %016" PRIx64 " strcmp %016" PRIx64 " chr %016" PRIx64 "\n", hcmp, hl, hstr, hchr);
  return 0;
}
