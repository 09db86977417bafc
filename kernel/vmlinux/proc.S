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

	.section .rodata
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
