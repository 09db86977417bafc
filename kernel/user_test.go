package kernel

import (
	"bytes"
	"testing"

	"klpsim/isa/asm"
)

func userProg(t testing.TB, src string) UserProgram {
	t.Helper()
	o, err := asm.Assemble("user.S", []byte(".intel_syntax noprefix\n.text\n.globl _start\n_start:\n"+src))
	if err != nil {
		t.Fatal(err)
	}
	return UserProgram{Object: o}
}

const getpidLoop = `
	mov r12, 1000
1:	mov eax, 39		# getpid
	syscall
	mov rbx, rax
	dec r12
	jnz 1b
	mov eax, 1		# write(1, msg, 6)
	mov edi, 1
	lea rsi, [rip + msg]
	mov edx, 6
	syscall
	mov edi, ebx		# exit(pid & 0xff)
	mov eax, 60
	syscall
	ud2
msg:	.ascii "hello\n"
`

// A user process enters the kernel with syscall, gets answers, writes
// and exits through the real entry code.
func TestUserProcess(t *testing.T) {
	k := boot(t, Config{CPUs: 2})
	var out bytes.Buffer
	task, err := k.SpawnUser("getpid", userProg(t, getpidLoop))
	if err != nil {
		t.Fatal(err)
	}
	task.Stdout = &out
	pid := task.PID
	done := false
	k.onExit(task, func() { done = true })
	if err := k.RunUntil(k.Now()+1e9, func() bool { return done }); err != nil {
		t.Fatal(err)
	}
	if !done || out.String() != "hello\n" || task.ExitCode != (pid&0xff)<<8 {
		t.Errorf("done %v, output %q, exit code %#x (pid %d)", done, out.String(), task.ExitCode, pid)
	}
	if k.TaskByPID(pid) != nil {
		t.Error("the dead process is still in the task list")
	}
}

// Two CPU-bound processes on one CPU both progress: the timer interrupt
// preempts user mode, and the exit-to-user path reschedules.
func TestUserPreemption(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	spin := "1: inc rbx\n jmp 1b\n"
	a, err := k.SpawnUser("spin-a", userProg(t, spin))
	if err != nil {
		t.Fatal(err)
	}
	b, err := k.SpawnUser("spin-b", userProg(t, spin))
	if err != nil {
		t.Fatal(err)
	}
	if err := k.RunFor(100e6); err != nil { // 100 ms: 25 ticks at HZ=250
		t.Fatal(err)
	}
	// The user rbx of a switched-out task is in its pt_regs.
	userRBX := func(task *Task) uint64 {
		if task.onCPU && k.cpus[0].emu.CPL == 3 {
			return k.cpus[0].emu.R[3]
		}
		v, _ := k.mem.ReadU64(task.PtRegs() + ptBX)
		return v
	}
	ra, rb := userRBX(a), userRBX(b)
	if ra < 1e6 || rb < 1e6 {
		t.Errorf("progress: %d and %d iterations", ra, rb)
	}
	// A preempted user task's kernel stack is the interrupt entry path,
	// with user regs at task_pt_regs: reliable.
	off := a
	if a.onCPU {
		off = b
	}
	var buf [100]uint64
	n, err := k.StackTraceReliable(off, buf[:])
	if err != nil {
		t.Fatalf("stack of a preempted user task: %v\n%s", err, k.ProcStack(off))
	}
	if n == 0 || k.Syms.Name(buf[0]) != "schedule" {
		t.Errorf("stack of a preempted user task:\n%s", k.ProcStack(off))
	}
}
