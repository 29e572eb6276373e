/* qsort of 10,000 integers, strings and structs (libc's merge sort with its
   indirect and in-place fallbacks), plus bsearch; prints samples and checksums. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 10000
static uint32_t s = 2463534242u;
static uint32_t rnd(void) { s ^= s << 13; s ^= s >> 17; s ^= s << 5; return s; }

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
struct rec { double key; int id; char tag[20]; };
static int cmp_rec(const void *a, const void *b) {
  const struct rec *x = a, *y = b;
  if (x->key != y->key) return x->key < y->key ? -1 : 1;
  return x->id - y->id;
}

int main(void) {
  static int v[N];
  for (int i = 0; i < N; i++) v[i] = (int)rnd() % 100000;
  qsort(v, N, sizeof v[0], cmp_int);
  uint64_t h = 0;
  for (int i = 0; i < N; i++) {
    h = h * 1000003 + (uint32_t)v[i];
    if (i && v[i - 1] > v[i]) printf("int order broken at %d\n", i);
  }
  printf("ints: first %d %d %d last %d hash %016" PRIx64 "\n", v[0], v[1], v[2], v[N - 1], h);
  int key = v[1234];
  int *found = bsearch(&key, v, N, sizeof v[0], cmp_int);
  printf("bsearch %d -> %d\n", key, found ? *found : -1);

  static char pool[N][16];
  static char *strs[N];
  for (int i = 0; i < N; i++) {
    int len = 1 + rnd() % 14;
    for (int k = 0; k < len; k++) pool[i][k] = 'a' + rnd() % 26;
    pool[i][len] = 0;
    strs[i] = pool[i];
  }
  qsort(strs, N, sizeof strs[0], cmp_str);
  h = 0;
  for (int i = 0; i < N; i++) for (const char *p = strs[i]; *p; p++) h = h * 131 + (unsigned char)*p;
  printf("strings: %s %s %s ... %s hash %016" PRIx64 "\n", strs[0], strs[1], strs[2], strs[N - 1], h);

  static struct rec recs[N];
  for (int i = 0; i < N; i++) {
    recs[i].key = (double)(rnd() % 5000) / 7.0;
    recs[i].id = i;
    snprintf(recs[i].tag, sizeof recs[i].tag, "r%05d", (int)(rnd() % 100000));
  }
  qsort(recs, N, sizeof recs[0], cmp_rec);
  h = 0;
  for (int i = 0; i < N; i++) h = h * 31 + (uint64_t)recs[i].id + (unsigned char)recs[i].tag[3];
  printf("records: %.6f/%d/%s %.6f/%d/%s hash %016" PRIx64 "\n", recs[0].key, recs[0].id, recs[0].tag, recs[N - 1].key, recs[N - 1].id, recs[N - 1].tag, h);
  for (int i = 0; i < N; i += 997) printf("rec[%d] %.4f %d %s\n", i, recs[i].key, recs[i].id, recs[i].tag);
  return 0;
}
