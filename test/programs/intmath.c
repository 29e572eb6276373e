/* Integer arithmetic the compiler turns into many different instructions:
   8/16/32/64-bit and 128-bit multiply and divide (signed and unsigned),
   overflow checks, shifts and rotates, bit scans, popcount, byte swaps,
   conditional moves, and signed/unsigned conversions. Prints results and a
   running checksum so any difference from the native run shows up. */
#include <stdint.h>
#include <stdio.h>
#include <inttypes.h>
#include <limits.h>

static uint64_t s = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return s; }
static uint64_t sum;
static void mix(uint64_t v) { sum = (sum ^ v) * 0x100000001b3ull + (sum >> 29); }

__attribute__((noinline)) static int64_t sdiv64(int64_t a, int64_t b) { return a / b; }
__attribute__((noinline)) static int64_t smod64(int64_t a, int64_t b) { return a % b; }
__attribute__((noinline)) static uint64_t udiv64(uint64_t a, uint64_t b) { return a / b; }
__attribute__((noinline)) static uint64_t umod64(uint64_t a, uint64_t b) { return a % b; }
__attribute__((noinline)) static int32_t sdiv32(int32_t a, int32_t b) { return a / b; }
__attribute__((noinline)) static uint32_t udiv32(uint32_t a, uint32_t b) { return a / b; }
__attribute__((noinline)) static int16_t sdiv16(int16_t a, int16_t b) { return a / b; }
__attribute__((noinline)) static uint8_t udiv8(uint8_t a, uint8_t b) { return a / b; }
__attribute__((noinline)) static int8_t smod8(int8_t a, int8_t b) { return a % b; }
__attribute__((noinline)) static unsigned __int128 umul128(uint64_t a, uint64_t b) { return (unsigned __int128)a * b; }
__attribute__((noinline)) static __int128 smul128(int64_t a, int64_t b) { return (__int128)a * b; }
__attribute__((noinline)) static unsigned __int128 udiv128(unsigned __int128 a, unsigned __int128 b) { return a / b; }
__attribute__((noinline)) static __int128 smod128(__int128 a, __int128 b) { return a % b; }
__attribute__((noinline)) static uint64_t rotl(uint64_t x, unsigned n) { return (x << (n & 63)) | (x >> ((-n) & 63)); }
__attribute__((noinline)) static uint32_t rotr32(uint32_t x, unsigned n) { return (x >> (n & 31)) | (x << ((-n) & 31)); }
__attribute__((noinline)) static int64_t sar(int64_t x, unsigned n) { return x >> (n & 63); }
__attribute__((noinline)) static int32_t smax(int32_t a, int32_t b) { return a > b ? a : b; }
__attribute__((noinline)) static uint64_t umin(uint64_t a, uint64_t b) { return a < b ? a : b; }

static void print128(const char *tag, unsigned __int128 v) {
  printf("%s %016" PRIx64 "%016" PRIx64 "\n", tag, (uint64_t)(v >> 64), (uint64_t)v);
}

int main(void) {
  /* Edge cases first. */
  printf("INT64_MIN/-1 mod: %" PRId64 "\n", smod64(INT64_MIN, 1));
  printf("INT64_MIN/3 = %" PRId64 " rem %" PRId64 "\n", sdiv64(INT64_MIN, 3), smod64(INT64_MIN, 3));
  printf("-7/2 = %" PRId64 " rem %" PRId64 "\n", sdiv64(-7, 2), smod64(-7, 2));
  printf("UINT64_MAX/7 = %" PRIu64 " rem %" PRIu64 "\n", udiv64(UINT64_MAX, 7), umod64(UINT64_MAX, 7));
  printf("INT32_MIN/-3 = %d\n", sdiv32(INT32_MIN, -3));
  printf("0xffffffff/0x10001 = %u\n", udiv32(0xffffffffu, 0x10001));
  printf("-32768/7 = %d\n", sdiv16(-32768, 7));
  printf("255/13 = %u, -128%%7 = %d\n", udiv8(255, 13), smod8(-128, 7));
  print128("umul128(max,max)", umul128(UINT64_MAX, UINT64_MAX));
  print128("smul128(min,-1)", (unsigned __int128)smul128(INT64_MIN, -1));
  print128("udiv128", udiv128(((unsigned __int128)0x123456789abcdefull << 64) | 0xfedcba9876543210ull, 0x1234567ull));
  print128("smod128", (unsigned __int128)smod128(-((__int128)1 << 100) - 12345, 987654321987ll));

  for (int i = 0; i < 20000; i++) {
    uint64_t a = rnd(), b = rnd();
    int shift = (int)(rnd() % 64);
    if (i & 1) b >>= shift;        /* small divisors too */
    if (b == 0) b = 1;
    int64_t sa = (int64_t)a, sb = (int64_t)b;
    if (sb == -1) sb = 3;
    mix(udiv64(a, b)); mix(umod64(a, b));
    mix((uint64_t)sdiv64(sa, sb)); mix((uint64_t)smod64(sa, sb));
    uint32_t a32 = (uint32_t)a, b32 = (uint32_t)b ? (uint32_t)b : 7;
    mix(udiv32(a32, b32)); mix((uint64_t)(int64_t)sdiv32((int32_t)a32, (int32_t)b32 == -1 ? 5 : (int32_t)b32));
    mix(udiv8((uint8_t)a, (uint8_t)b ? (uint8_t)b : 3)); mix((uint64_t)(int64_t)smod8((int8_t)a, (int8_t)b ? (int8_t)b : 3));
    mix((uint64_t)(int64_t)sdiv16((int16_t)a, (int16_t)b ? ((int16_t)b == -1 ? 9 : (int16_t)b) : 9));
    unsigned __int128 p = umul128(a, b); mix((uint64_t)p); mix((uint64_t)(p >> 64));
    __int128 q = smul128(sa, sb); mix((uint64_t)q); mix((uint64_t)((unsigned __int128)q >> 64));
    if ((i % 16) == 0) {
      unsigned __int128 n = ((unsigned __int128)a << 64) | b, d = ((unsigned __int128)(b >> (shift & 31)) << (i % 64)) | 1;
      unsigned __int128 r = udiv128(n, d); mix((uint64_t)r); mix((uint64_t)(r >> 64));
      __int128 m = smod128((__int128)n, (__int128)d | 1); mix((uint64_t)m);
    }
    uint64_t r1; int64_t r2; int32_t r3; uint32_t r4;
    mix(__builtin_add_overflow(a, b, &r1)); mix(r1);
    mix(__builtin_mul_overflow(sa, sb, &r2)); mix((uint64_t)r2);
    mix(__builtin_sub_overflow((int32_t)a, (int32_t)b, &r3)); mix((uint64_t)r3);
    mix(__builtin_mul_overflow((uint32_t)a, (uint32_t)b, &r4)); mix(r4);
    mix(rotl(a, shift)); mix(rotr32(a32, shift)); mix((uint64_t)sar(sa, shift));
    mix(a << shift); mix(b >> shift); mix((uint64_t)((int32_t)a32 >> (shift & 31)));
    mix(__builtin_popcountll(a)); mix(a ? __builtin_clzll(a) : 99); mix(b ? __builtin_ctzll(b) : 99);
    mix(a32 ? __builtin_clz(a32) : 99); mix(__builtin_bswap64(a)); mix(__builtin_bswap32(a32)); mix(__builtin_bswap16((uint16_t)a));
    mix((uint64_t)smax((int32_t)a32, (int32_t)b)); mix(umin(a, b));
    mix((uint64_t)(int64_t)(int8_t)a); mix((uint64_t)(int64_t)(int16_t)b); mix((uint64_t)(uint16_t)(a >> 7));
    mix((a > b) + 2 * (sa < sb) + 4 * ((int32_t)a32 <= (int32_t)b) + 8 * (a32 == (uint32_t)b));
    mix(a * 0x5851f42d4c957f2dull + b * 7 - (a32 * 3u) + (uint64_t)((int64_t)sb * -9));
    if ((i % 2000) == 0) printf("i=%d sum=%016" PRIx64 "\n", i, sum);
  }
  printf("final %016" PRIx64 "\n", sum);
  return 0;
}
