/* printf of integers in every width and base. */
#include <stdio.h>
#include <limits.h>

int main(void) {
	long vals[] = {0, 1, -1, 42, -42, 1000000007, INT_MAX, INT_MIN, LONG_MAX, LONG_MIN, 0x123456789abcdefL};
	for (unsigned i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		long v = vals[i];
		printf("%ld|%lu|%lx|%lo|%+d|%08d|%-6d|%hhd|%hu\n", v, (unsigned long)v, (unsigned long)v,
		       (unsigned long)v, (int)v, (int)v, (int)v, (char)v, (unsigned short)v);
	}
	char s[64];
	int n = snprintf(s, sizeof s, "%s-%c-%5s-%%", "abc", 'z', "x");
	printf("%d [%s]\n", n, s);
	fprintf(stderr, "to stderr\n");
	return 7;
}
