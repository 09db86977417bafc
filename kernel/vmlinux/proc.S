# fs/proc and fs/seq_file.c: the read path of /proc files whose contents
# guest code produces. A read runs on a task, like cat's read(2): the show
# function is called through its ftrace site, so a livepatch that replaces
# cmdline_proc_show changes what `cat /proc/cmdline` prints.
	.intel_syntax noprefix
	.text

# proc_reader(m): the body of the reading task: seq_read(m), then exit.
	.globl proc_reader
	.type proc_reader, @function
proc_reader:
	.fentry
	push rbp
	mov rbp, rsp
	call seq_read
	xor edi, edi
	call do_exit
	ud2
	.size proc_reader, .-proc_reader

# seq_read(m): m->show(m, NULL).
	.globl seq_read
	.type seq_read, @function
seq_read:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	mov rbx, rdi
	xor esi, esi
	call qword ptr [rbx + SEQ_SHOW]
	pop r12
	pop rbx
	pop rbp
	ret
	.size seq_read, .-seq_read

# cmdline_proc_show(m, v): the kernel command line (fs/proc/cmdline.c).
	.globl cmdline_proc_show
	.type cmdline_proc_show, @function
cmdline_proc_show:
	.fentry
	push rbp
	mov rbp, rsp
	lea rsi, [rip + .Lfmt_line]
	lea rdx, [rip + saved_command_line]
	call seq_printf
	xor eax, eax
	pop rbp
	ret
	.size cmdline_proc_show, .-cmdline_proc_show

# meminfo_proc_show(m, v): fs/proc/meminfo.c, the first lines of it.
	.globl meminfo_proc_show
	.type meminfo_proc_show, @function
meminfo_proc_show:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	mov rbx, rdi
	lea r12, [rip + meminfo_values]
	mov rdi, rbx
	lea rsi, [rip + .Lfmt_total]
	mov rdx, qword ptr [r12]
	call seq_printf
	mov rdi, rbx
	lea rsi, [rip + .Lfmt_free]
	mov rdx, qword ptr [r12 + 8]
	call seq_printf
	mov rdi, rbx
	lea rsi, [rip + .Lfmt_avail]
	mov rdx, qword ptr [r12 + 16]
	call seq_printf
	xor eax, eax
	pop r12
	pop rbx
	pop rbp
	ret
	.size meminfo_proc_show, .-meminfo_proc_show

# ktime_get_boottime_ns(): simulated nanoseconds since boot.
	.globl ktime_get_boottime_ns
	.type ktime_get_boottime_ns, @function
ktime_get_boottime_ns:
	.fentry
	mov eax, HC_KTIME_GET_BOOTTIME
	vmcall
	ret
	.size ktime_get_boottime_ns, .-ktime_get_boottime_ns

# uptime_proc_show(m, v): fs/proc/uptime.c. The idle time is every CPU's
# (for_each_possible_cpu: idle_nsec += get_idle_time(&kcs, i)), read
# before the uptime, as there; both print as seconds and hundredths.
	.globl uptime_proc_show
	.type uptime_proc_show, @function
uptime_proc_show:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	push r13
	push r14
	mov rbx, rdi
	mov eax, HC_IDLE_TIME
	vmcall
	xor edx, edx
	mov ecx, 1000000000		# NSEC_PER_SEC
	div rcx				# idle.tv_sec, idle.tv_nsec
	mov r13, rax
	mov r14, rdx
	call ktime_get_boottime_ns
	xor edx, edx
	mov ecx, 1000000000
	div rcx				# uptime.tv_sec, uptime.tv_nsec
	mov r12, rax
	mov rax, rdx
	xor edx, edx
	mov ecx, 10000000		# NSEC_PER_SEC / 100
	div rcx
	mov rcx, rax			# uptime hundredths
	mov rax, r14
	xor edx, edx
	mov r8d, 10000000
	div r8
	mov r9, rax			# idle hundredths
	mov r8, r13
	mov rdx, r12
	mov rdi, rbx
	lea rsi, [rip + .Lfmt_uptime]
	call seq_printf
	xor eax, eax
	pop r14
	pop r13
	pop r12
	pop rbx
	pop rbp
	ret
	.size uptime_proc_show, .-uptime_proc_show

	.section .rodata
.Lfmt_uptime:
	.asciz "%lu.%02lu %lu.%02lu\n"
.Lfmt_line:
	.asciz "%s\n"
.Lfmt_total:
	.asciz "MemTotal:       %8lu kB\n"
.Lfmt_free:
	.asciz "MemFree:        %8lu kB\n"
.Lfmt_avail:
	.asciz "MemAvailable:   %8lu kB\n"

	.data
	.balign 8
# Filled at boot from the machine configuration.
	.globl saved_command_line
	.type saved_command_line, @object
saved_command_line:
	.zero 256
	.size saved_command_line, .-saved_command_line
	.globl meminfo_values
	.type meminfo_values, @object
meminfo_values:
	.quad 0, 0, 0
	.size meminfo_values, .-meminfo_values
