# The built-in demo that `klpsim run` runs when given no scenario.
#
# Kernel-style guest code: frame pointers, a patchable entry (.fentry, the
# 5-byte nop gcc emits with -mfentry -mnop-mcount) on fib_show, and
# hypercalls (vmcall) for output. The host runs it once as assembled, then
# text-pokes fib_show's nop into "call count_calls" and runs it again: the
# same instruction-level mechanism ftrace and livepatch build on.
	.intel_syntax noprefix
	.text

# demo_main: for n in 1..10, fib_show(n); then report through hypercall 2.
	.globl demo_main
	.type demo_main, @function
demo_main:
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	mov ebx, 1
1:	mov edi, ebx
	call fib_show
	inc ebx
	cmp ebx, 10
	jbe 1b
	mov rdi, qword ptr [rip + ncalls]
	mov eax, 2			# hypercall 2: report the count
	vmcall
	pop r12
	pop rbx
	pop rbp
	hlt
	.size demo_main, .-demo_main

# fib_show(n): compute fib(n) iteratively and print "fib(n) = v" through
# hypercall 1 (rdi = n, rsi = v).
	.globl fib_show
	.type fib_show, @function
fib_show:
	.fentry
	push rbp
	mov rbp, rsp
	xor eax, eax			# fib(0)
	mov edx, 1			# fib(1)
	mov ecx, edi
	test ecx, ecx
	jz 3f
2:	lea r8, [rax + rdx]
	mov rax, rdx
	mov rdx, r8
	dec ecx
	jnz 2b
3:	mov rsi, rax
	mov eax, 1			# hypercall 1: print rdi, rsi
	vmcall
	pop rbp
	ret
	.size fib_show, .-fib_show

# count_calls: what the poked call at fib_show's entry reaches. It must
# preserve every register fib_show's caller set up, as ftrace_caller does.
	.globl count_calls
	.type count_calls, @function
count_calls:
	lock inc qword ptr [rip + ncalls]
	ret
	.size count_calls, .-count_calls

	.data
	.balign 8
ncalls:	.quad 0
