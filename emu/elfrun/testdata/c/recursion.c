/* Deep recursion: Ackermann, Fibonacci and the towers of Hanoi. */
#include <stdio.h>

static long ack(long m, long n) {
	if (m == 0) return n + 1;
	if (n == 0) return ack(m - 1, 1);
	return ack(m - 1, ack(m, n - 1));
}

static long fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

static long hanoi(int n, int a, int b, int c) {
	if (n == 0) return 0;
	return hanoi(n - 1, a, c, b) + 1 + hanoi(n - 1, c, b, a);
}

int main(int argc, char **argv) {
	printf("ack(2,300)=%ld ack(3,5)=%ld fib(24)=%ld hanoi(16)=%ld argc=%d\n", ack(2, 300), ack(3, 5), fib(24), hanoi(16, 1, 2, 3), argc);
	return 0;
}
