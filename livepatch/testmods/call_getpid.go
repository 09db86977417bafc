package testmods

// This file mirrors test_klp-call_getpid.c
// (tools/testing/selftests/livepatch/ in Linux).

// callGetpidSrc is test_klp-call_getpid: a user program that calls
// getpid(2) in a loop, so that it spends its time entering and leaving
// the kernel — where a livepatch transition switches it.
//
//	static int stop;
//	static int sig_int;
//
//	void hup_handler(int signum) { stop = 1; }
//	void int_handler(int signum) { stop = 1; sig_int = 1; }
//
//	int main(int argc, char *argv[])
//	{
//		long count = 0;
//
//		signal(SIGHUP, &hup_handler);
//		signal(SIGINT, &int_handler);
//
//		while (!stop) {
//			(void)syscall(SYS_getpid);
//			count++;
//		}
//
//		if (sig_int)
//			printf("%ld iterations done\n", count);
//
//		return 0;
//	}
//
// klpsim's processes have no signal handlers yet, so the loop has no way
// out: it runs until a signal ends the process — SIGINT and SIGHUP do, by
// their default action, as does SIGKILL. It counts its calls in rbx.
const callGetpidSrc = `	.intel_syntax noprefix
	.set SYS_getpid, 39
	.text
	.globl _start
	.type _start, @function
_start:
	xor ebx, ebx
1:	mov eax, SYS_getpid
	syscall
	inc rbx
	jmp 1b
	.size _start, .-_start
`
