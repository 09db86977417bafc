/* FNV-1a and a small open-addressing hash table. */
#include <stdio.h>
#include <string.h>
#include <stdint.h>

static uint64_t fnv(const char *s) {
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static char keys[1024][16];
static int used[1024];

int main(void) {
	int collisions = 0;
	for (int i = 0; i < 700; i++) {
		char k[16];
		snprintf(k, sizeof k, "key%d", i * 37);
		unsigned h = fnv(k) & 1023;
		while (used[h]) {
			collisions++;
			h = (h + 1) & 1023;
		}
		used[h] = 1;
		strcpy(keys[h], k);
	}
	int found = 0;
	for (int i = 0; i < 700; i++) {
		char k[16];
		snprintf(k, sizeof k, "key%d", i * 37);
		for (unsigned h = fnv(k) & 1023; used[h]; h = (h + 1) & 1023)
			if (strcmp(keys[h], k) == 0) {
				found++;
				break;
			}
	}
	printf("fnv(livepatch)=%016llx collisions=%d found=%d\n", (unsigned long long)fnv("livepatch"), collisions, found);
	return found == 700 ? 0 : 1;
}
