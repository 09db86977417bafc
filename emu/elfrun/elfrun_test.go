package elfrun

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// asmProg assembles and links src (Intel syntax, check.inc available) and
// returns the executable's bytes.
func asmProg(t *testing.T, src string) []byte {
	t.Helper()
	dir := t.TempDir()
	abs, err := filepath.Abs(corpusDir)
	if err != nil {
		t.Fatal(err)
	}
	// buildProg resolves sources against corpusDir; give it an absolute
	// path inside dir instead.
	rel, err := filepath.Rel(abs, filepath.Join(dir, "p.s"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "p.s"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(buildProg(t, dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSyscalls checks brk, getpid, write to a bad fd, an unknown system
// call and the exit status, through values the program writes out.
func TestSyscalls(t *testing.T) {
	prog := asmProg(t, `
	.intel_syntax noprefix
	.globl _start
_start:
	mov eax, 12		# brk(0)
	xor edi, edi
	syscall
	mov r12, rax
	lea rdi, [rax + 0x2100]	# grow by two pages and a bit
	mov eax, 12
	syscall
	mov r13, rax
	mov qword ptr [r12 + 0x2000], 42	# the new heap is usable
	mov eax, 39		# getpid
	syscall
	mov r14, rax
	mov eax, 1		# write(5, ...) = -EBADF
	mov edi, 5
	lea rsi, [rip + msg]
	mov edx, 3
	syscall
	mov r15, rax
	mov eax, 9999		# unknown: -ENOSYS
	syscall
	mov rbx, rax
	mov eax, 9999
	syscall
	mov eax, 1		# write(2, bad pointer) = -EFAULT
	mov edi, 2
	mov esi, 16
	mov edx, 3
	syscall
	mov rbp, rax
	mov [rip + out], r12
	mov [rip + out + 8], r13
	mov [rip + out + 16], r14
	mov [rip + out + 24], r15
	mov [rip + out + 32], rbx
	mov [rip + out + 40], rbp
	mov eax, 1
	mov edi, 1
	lea rsi, [rip + out]
	mov edx, 48
	syscall
	mov eax, 60
	mov edi, 0x1234		# only the low 8 bits are the status
	syscall
	.section .rodata
msg:	.ascii "abc"
	.bss
out:	.skip 48
`)
	var stdout, stderr bytes.Buffer
	res, err := Run(prog, []string{"p"}, &stdout, &stderr, Options{PID: 77})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0x34 || res.Fault != nil {
		t.Errorf("exit %d, fault %v; want 0x34, none", res.ExitCode, res.Fault)
	}
	out := stdout.Bytes()
	if len(out) != 48 {
		t.Fatalf("stdout %d bytes, want 48", len(out))
	}
	w := func(i int) int64 {
		var v uint64
		for k := 7; k >= 0; k-- {
			v = v<<8 | uint64(out[i*8+k])
		}
		return int64(v)
	}
	if start := w(0); start <= 0 || start%4096 != 0 {
		t.Errorf("brk(0) = %#x, want a page-aligned address", start)
	}
	if got, want := w(1), w(0)+0x2100; got != want {
		t.Errorf("brk(grow) = %#x, want %#x", got, want)
	}
	for i, want := range map[int]int64{2: 77, 3: -9, 4: -38, 5: -14} {
		if got := w(i); got != want {
			t.Errorf("result %d = %d, want %d", i, got, want)
		}
	}
	if len(res.Unknown) != 1 || res.Unknown[0] != (SyscallCount{Nr: 9999, Count: 2}) {
		t.Errorf("Unknown = %v, want [{9999 2}]", res.Unknown)
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr %q, want nothing", stderr.String())
	}
}

// TestInitialStack checks argc, argv, envp and the auxiliary vector the
// program finds at rsp, and the entry register state.
func TestInitialStack(t *testing.T) {
	prog := asmProg(t, `
	.intel_syntax noprefix
	.globl _start
_start:
	mov r12, rsp		# print argv[*] and envp[*], one per line
	mov r13, [r12]		# argc
	lea r14, [r12 + 8]
1:	mov rsi, [r14]
	test rsi, rsi
	jz 2f
	call puts
	add r14, 8
	jmp 1b
2:	add r14, 8		# envp
3:	mov rsi, [r14]
	test rsi, rsi
	jz 4f
	call puts
	add r14, 8
	jmp 3b
4:	add r14, 8		# auxv: exit with the number of entries + 16*(rsp%16)
	xor ebx, ebx
5:	inc ebx
	mov rax, [r14]
	add r14, 16
	test rax, rax
	jnz 5b
	mov rax, r12
	and eax, 15
	shl eax, 4
	lea edi, [rbx + rax]
	mov eax, 60
	syscall
puts:	mov rdx, -1
6:	inc rdx
	cmp byte ptr [rsi + rdx], 0
	jne 6b
	mov byte ptr [rsi + rdx], 10
	inc rdx
	mov eax, 1
	mov edi, 1
	syscall
	ret
`)
	var stdout bytes.Buffer
	res, err := Run(prog, []string{"prog", "a b", ""}, &stdout, nil, Options{Env: []string{"X=1", "HOME=/"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := "prog\na b\n\nX=1\nHOME=/\n"; stdout.String() != want {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}
	// 12 entries: PHDR PHENT PHNUM PAGESZ ENTRY UID EUID GID EGID RANDOM
	// EXECFN NULL; rsp 16-byte aligned.
	if res.ExitCode != 12 {
		t.Errorf("exit %d, want 12 auxv entries and an aligned rsp", res.ExitCode)
	}
}

// TestInsnLimit checks that an endless loop stops at the limit with
// ErrInsnLimit and a partial count.
func TestInsnLimit(t *testing.T) {
	prog := asmProg(t, ".intel_syntax noprefix\n.globl _start\n_start: jmp _start\n")
	res, err := Run(prog, []string{"loop"}, nil, nil, Options{MaxInsns: 1000, Chunk: 64})
	if !errors.Is(err, ErrInsnLimit) {
		t.Fatalf("err = %v, want ErrInsnLimit", err)
	}
	if res.Insns != 1000 {
		t.Errorf("Insns = %d, want 1000", res.Insns)
	}
}

// TestStackOverflow: unbounded recursion faults at the bottom of the
// 8 MiB stack like a Linux process with the default rlimit.
func TestStackOverflow(t *testing.T) {
	prog := asmProg(t, ".intel_syntax noprefix\n.globl _start\n_start: call _start\n")
	res, err := Run(prog, []string{"rec"}, nil, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := "SIGSEGV at rip 0x401000: write to address 0x7fffff7feff8"
	if res.Fault == nil || res.Fault.Error() != want || res.ExitCode != 139 {
		t.Errorf("fault %v, exit %d; want %q, 139", res.Fault, res.ExitCode, want)
	}
}

// TestLoadErrors checks that inputs the runner cannot run fail to load
// with a message saying why.
func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		prog []byte
		want string
	}{
		{"empty", nil, "elfrun:"},
		{"not elf", []byte("#!/bin/sh\necho hi\n"), "elfrun:"},
		{"truncated", asmProg(t, ".globl _start\n_start: nop\n")[:100], "elfrun:"},
	} {
		_, err := Run(tc.prog, []string{"x"}, nil, nil, Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := os.Stat("/bin/true"); err == nil {
		b, _ := os.ReadFile("/bin/true")
		if _, err := Run(b, []string{"true"}, nil, nil, Options{}); err == nil {
			t.Errorf("/bin/true (dynamic or PIE) loaded without error")
		}
	}
}
