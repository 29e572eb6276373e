/* Floating point through libc's printf and strtod: many doubles (and some
   floats and long doubles) printed with %g, %e, %f, %a and round-trip
   precision, plus basic arithmetic, sqrt, conversions to and from integers,
   and comparisons including NaN and infinities. No transcendental functions:
   their library variants differ by host CPU, so they are no truth. */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t s = 0x2545f4914f6cdd1dull;
static uint64_t rnd(void) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return s; }

static uint64_t bits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
static double frombits(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }

__attribute__((noinline)) static double muladd(double a, double b, double c) { return a * b + c; }
__attribute__((noinline)) static double quot(double a, double b) { return a / b; }

int main(void) {
  static const double special[] = {0.0, -0.0, 1.0, -1.0, 0.1, 0.5, 1.0 / 3, 2.0 / 3, 1e-300, 1e300, DBL_MIN, DBL_MAX,
                                   DBL_EPSILON, 4.9406564584124654e-324, 123456789.0, 9007199254740993.0, 1e23, 5e-324,
                                   3.14159265358979323846, 2.718281828459045, 100.0, 1e15, 1e16, 1e21, 1e22, 0.000123456};
  for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) {
    double d = special[i];
    printf("%g|%e|%.17g|%a|%f|%.3f|%10.4e|%-12g|%+G|%.0f\n", d, d, d, d, d < 1e30 ? d : 0.0, d, d, d, d, d < 1e25 ? d : 1.5);
  }
  printf("inf %g %e %a %f; -inf %g; nan %g %e %f\n", INFINITY, INFINITY, INFINITY, INFINITY, -INFINITY, NAN, NAN, NAN);
  printf("nan cmp %d %d %d %d\n", NAN < 1.0, NAN == NAN, NAN != NAN, isnan(NAN));

  uint64_t acc = 0;
  for (int i = 0; i < 3000; i++) {
    uint64_t r = rnd();
    double d;
    switch (i % 4) {
      case 0: d = frombits(r); break;                                 /* any bit pattern */
      case 1: d = (double)(int64_t)r / (double)(rnd() >> 11 | 1); break;
      case 2: d = ldexp((double)(r >> 11), (int)(rnd() % 200) - 100); break;
      default: d = (double)(int32_t)r * 0.001; break;
    }
    if (isnan(d)) d = (double)i;
    char buf[128];
    snprintf(buf, sizeof buf, "%.17g", d);
    double back = strtod(buf, NULL);
    if (bits(back) != bits(d)) printf("round-trip mismatch %s\n", buf);
    acc = acc * 31 + bits(back);
    if (i % 10 == 0) printf("%s %g %.6e %a %.10f\n", buf, d, d, d, fabs(d) < 1e20 ? d : 0.0);
    double e = muladd(d, 1.0000001, 0.5), q = quot(d, 3.0 + i);
    double sq = sqrt(fabs(d));
    int64_t ti = fabs(d) < 9e18 ? (int64_t)d : -1;
    uint64_t tu = (d >= 0 && d < 1.8e19) ? (uint64_t)d : 7;
    float f = (float)d;
    acc ^= bits(e) + bits(q) * 3 + bits(sq) * 5 + (uint64_t)ti * 7 + tu * 11;
    acc += (uint64_t)(int64_t)lrint(fabs(d) < 1e18 ? d : 0.0) + (uint64_t)floor(fabs(d) < 1e18 ? fabs(d) : 0.0);
    if (i % 50 == 0) printf("f=%g %.9g fl=%.3f ce=%.3f rnd=%.3f trunc=%.3f\n", f, (double)f, floor(d), ceil(d), round(d), trunc(d));
    acc += (d < e) + 2 * (d <= q) + 4 * (d == sq) + 8 * (f > 0);
  }
  printf("acc %016" PRIx64 "\n", acc);

  long double ld = 1.0L / 3.0L;
  printf("long double %.20Lg %La %Le\n", ld, ld, ld * 1e100L);
  float fv = 1.0f / 7.0f;
  printf("float %.9g %a %e\n", fv, fv, fv);
  double sum = 0;
  for (int i = 1; i <= 100000; i++) sum += 1.0 / ((double)i * i);
  printf("basel %.17g\n", sum);
  printf("strtod %.17g %.17g %.17g %a\n", strtod("0.1e-5", NULL), strtod("123.456e78", NULL), strtod("0x1.8p3", NULL), strtod("2.2250738585072011e-308", NULL));
  return 0;
}
