# arch/x86/entry/common.c, kernel/entry/common.c, kernel/sys.c: system
# calls and the way back to user mode, where tasks with TIF_PATCH_PENDING
# switch their patch state.
	.intel_syntax noprefix
	.text

# do_syscall_64(regs, nr)
	.globl do_syscall_64
	.type do_syscall_64, @function
do_syscall_64:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	mov rbx, rdi
	sti
	cmp rsi, NR_SYSCALLS
	jae 1f
	lea rax, [rip + sys_call_table]
	mov rax, qword ptr [rax + rsi*8]
	test rax, rax
	jz 1f
	mov rdi, rbx
	call rax
	mov qword ptr [rbx + PT_AX], rax
	jmp 2f
1:	mov rdi, rbx
	call __x64_sys_ni_syscall
	mov qword ptr [rbx + PT_AX], rax
2:	mov rdi, rbx
	call syscall_exit_to_user_mode
	pop r12
	pop rbx
	pop rbp
	ret
	.size do_syscall_64, .-do_syscall_64

	.globl syscall_exit_to_user_mode
	.type syscall_exit_to_user_mode, @function
syscall_exit_to_user_mode:
	.fentry
	push rbp
	mov rbp, rsp
	call exit_to_user_mode_loop
	cli
	pop rbp
	ret
	.size syscall_exit_to_user_mode, .-syscall_exit_to_user_mode

# exit_to_user_mode_loop(regs): handle the work flags until none are left:
# reschedule, switch the livepatch state, deliver signals.
	.globl exit_to_user_mode_loop
	.type exit_to_user_mode_loop, @function
exit_to_user_mode_loop:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	mov r12, rdi
1:	mov eax, HC_TI_WORK
	vmcall
	test eax, eax
	jz 9f
	mov ebx, eax
	test ebx, TIF_NEED_RESCHED
	jz 2f
	call schedule
2:	test ebx, TIF_PATCH_PENDING
	jz 3f
	call klp_update_patch_state
3:	test ebx, TIF_SIGPENDING | TIF_NOTIFY_SIGNAL
	jz 1b
	mov rdi, r12
	call arch_do_signal_or_restart
	jmp 1b
9:	pop r12
	pop rbx
	pop rbp
	ret
	.size exit_to_user_mode_loop, .-exit_to_user_mode_loop

	.globl arch_do_signal_or_restart
	.type arch_do_signal_or_restart, @function
arch_do_signal_or_restart:
	.fentry
	push rbp
	mov rbp, rsp
	mov eax, HC_DO_SIGNAL
	vmcall
	pop rbp
	ret
	.size arch_do_signal_or_restart, .-arch_do_signal_or_restart

# The system calls. Each takes the caller's pt_regs, as __x64_sys_* do.
	.globl __x64_sys_getpid
	.type __x64_sys_getpid, @function
__x64_sys_getpid:
	.fentry
	push rbp
	mov rbp, rsp
	mov eax, HC_GETPID
	vmcall
	pop rbp
	ret
	.size __x64_sys_getpid, .-__x64_sys_getpid

	.globl __x64_sys_write
	.type __x64_sys_write, @function
__x64_sys_write:
	.fentry
	push rbp
	mov rbp, rsp
	mov rdx, qword ptr [rdi + PT_DX]
	mov rsi, qword ptr [rdi + PT_SI]
	mov rdi, qword ptr [rdi + PT_DI]
	mov eax, HC_SYS_WRITE
	vmcall
	pop rbp
	ret
	.size __x64_sys_write, .-__x64_sys_write

	.globl __x64_sys_exit
	.type __x64_sys_exit, @function
__x64_sys_exit:
	.fentry
	push rbp
	mov rbp, rsp
	mov rdi, qword ptr [rdi + PT_DI]
	and edi, 0xff
	shl edi, 8
	call do_exit
	ud2
	.size __x64_sys_exit, .-__x64_sys_exit

# Everything else the host implements, or answers -ENOSYS.
	.globl __x64_sys_ni_syscall
	.type __x64_sys_ni_syscall, @function
__x64_sys_ni_syscall:
	.fentry
	push rbp
	mov rbp, rsp
	mov eax, HC_SYS_OTHER
	vmcall
	pop rbp
	ret
	.size __x64_sys_ni_syscall, .-__x64_sys_ni_syscall

	.section .rodata
	.balign 8
	.globl sys_call_table
	.type sys_call_table, @object
sys_call_table:
	.zero 8 * NR_SYSCALLS			# filled at boot from kernel/syscall.go
	.size sys_call_table, .-sys_call_table

	.text
# pause(): sleep until a signal. Returns -ERESTARTNOHAND, which the signal
# path turns into -EINTR after running a handler or into a restart of the
# call when no real signal was delivered (the livepatch fake signal).
	.globl __x64_sys_pause
	.type __x64_sys_pause, @function
__x64_sys_pause:
	.fentry
	push rbp
	mov rbp, rsp
	mov edi, TASK_INTERRUPTIBLE
	mov eax, HC_SET_STATE
	vmcall
	call schedule
	mov rax, -ERESTARTNOHAND
	pop rbp
	ret
	.size __x64_sys_pause, .-__x64_sys_pause
