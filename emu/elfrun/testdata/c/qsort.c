/* qsort and bsearch on pseudo-random data, and heap allocation. */
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b) {
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

int main(void) {
	int n = 5000;
	long *v = malloc(n * sizeof *v);
	unsigned long x = 88172645463325252UL;
	for (int i = 0; i < n; i++) {
		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		v[i] = (long)(x % 100000) - 50000;
	}
	qsort(v, n, sizeof *v, cmp);
	int sorted = 1;
	for (int i = 1; i < n; i++)
		sorted &= v[i - 1] <= v[i];
	long key = v[1234];
	long *f = bsearch(&key, v, n, sizeof *v, cmp);
	printf("sorted=%d min=%ld max=%ld median=%ld found=%d\n", sorted, v[0], v[n - 1], v[n / 2], f && *f == key);
	char *big = malloc(1 << 20); /* large enough for mmap */
	for (int i = 0; i < 1 << 20; i++)
		big[i] = (char)i;
	long s = 0;
	for (int i = 0; i < 1 << 20; i += 4096)
		s += big[i + 7];
	printf("big=%ld\n", s);
	free(big);
	free(v);
	return 0;
}
