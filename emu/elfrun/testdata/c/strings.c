/* String and memory functions at every alignment: glibc and musl pick
   their SSE2 versions, which read 16 bytes at a time. */
#include <stdio.h>
#include <string.h>

static char buf[300], other[300];

int main(void) {
	unsigned long sum = 0;
	for (int align = 0; align < 17; align++) {
		for (int len = 0; len < 70; len += 3) {
			char *s = buf + align;
			memset(buf, 0, sizeof buf);
			for (int i = 0; i < len; i++)
				s[i] = 'a' + (i * 7 + align) % 26;
			char *o = other + (align * 5) % 16;
			memcpy(o, s, len + 1);
			sum = sum * 31 + strlen(s);
			sum = sum * 31 + (strcmp(s, o) == 0);
			if (len > 2) {
				o[len / 2] ^= 1;
				sum = sum * 31 + (strcmp(s, o) > 0) + 2 * (memcmp(s, o, len) < 0);
				o[len / 2] ^= 1;
			}
			char *c = strchr(s, 'q');
			sum = sum * 31 + (c ? (unsigned long)(c - s) : 999);
			c = strrchr(s, 'e');
			sum = sum * 31 + (c ? (unsigned long)(c - s) : 999);
			c = memchr(s, 'z', len);
			sum = sum * 31 + (c ? (unsigned long)(c - s) : 999);
			sum = sum * 31 + strnlen(s, len / 2);
		}
	}
	char hay[] = "the quick brown fox jumps over the lazy dog";
	printf("strstr=%ld strspn=%zu strcspn=%zu\n", (long)(strstr(hay, "lazy") - hay), strspn(hay, "eht "), strcspn(hay, "xyz"));
	char cat[64] = "live";
	strcat(cat, "patch");
	strncat(cat, "ing-and-more", 4);
	printf("%s %zu\n", cat, strlen(cat));
	printf("sum=%lu\n", sum);
	return 0;
}
