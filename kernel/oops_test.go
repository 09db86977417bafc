package kernel

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"klpsim/kernel/printk"
)

// A kernel fault is an oops with the faulting address, RIP, registers and
// the unwound stack; the task dies; the kernel goes on.
func TestOopsReport(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	_, err := k.RunOnTask("victim", func(ctx *OpCtx) uint64 { ctx.Call(0xdead0000); return 0 }, 1e9)
	wantShellError(t, err, "Killed", nil) // page_fault_oops: SIGKILL
	log := k.Log.Dmesg(printk.DmesgOptions{NoTime: true})
	for _, want := range []string{
		"BUG: unable to handle page fault for address: 00000000dead0000\n",
		"#PF: supervisor instruction fetch access in kernel mode\n",
		"#PF: error_code(0x0010) - not-present page\n",
		"Oops: 0010 [#1] PREEMPT SMP NOPTI\n",
		"CPU: 0 UID: 0 PID: 4 Comm: victim Not tainted 6.12.0-klpsim #1\n",
		"RIP: 0010:0xdead0000\n",
		"Call Trace:\n <TASK>\n kernel_op+0x",
		" op_thread+0x",
		" kthread+0x",
		" ret_from_fork_asm+0x",
		// oops_end taints the kernel D; the first taint that makes lockdep
		// unreliable turns lock debugging off, before the end marker.
		" </TASK>\nCR2: 00000000dead0000\nDisabling lock debugging due to kernel taint\n---[ end trace 0000000000000000 ]---\n",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("oops lacks %q:\n%s", want, log)
		}
	}
	// A NULL dereference says so.
	k.RunOnTask("null", func(ctx *OpCtx) uint64 {
		// seq_read(NULL) reads m->show from address 0x18.
		ctx.Call(k.sym("seq_read"), 0)
		return 0
	}, 1e9)
	log = k.Log.Dmesg(printk.DmesgOptions{NoTime: true})
	if !strings.Contains(log, "BUG: kernel NULL pointer dereference, address: 0000000000000018\n") ||
		!strings.Contains(log, "Oops: 0000 [#2]") || !strings.Contains(log, "RIP: 0010:seq_read+0x") {
		t.Errorf("NULL dereference oops:\n%s", log)
	}
	// The second oops finds the kernel tainted by the first (D), and
	// prints the mask as print_tainted does: a column per flag in
	// taint_flags order, G for a clear P, then the set flags by name.
	if !strings.Contains(log, "Comm: null Tainted: G      D            6.12.0-klpsim #1\nTainted: [D]=DIE\nRIP:") {
		t.Errorf("taint of the second oops:\n%s", log)
	}
	if n := strings.Count(log, "Disabling lock debugging"); n != 1 {
		t.Errorf("lock debugging disabled %d times, want once", n)
	}
	if err := k.RunFor(1e8); err != nil {
		t.Fatalf("the kernel did not go on: %v", err)
	}
}

// runUser spawns prog as comm and runs the machine until it has exited.
func runUser(t *testing.T, k *Kernel, comm string, prog UserProgram) (*Task, string) {
	t.Helper()
	task, err := k.SpawnUser(comm, prog)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	task.Stdout = &out
	done := false
	k.onExit(task, func() { done = true })
	if err := k.RunUntil(k.Now()+1e9, func() bool { return done }); err != nil {
		t.Fatal(err)
	}
	if !done {
		t.Fatalf("%s did not exit", comm)
	}
	return task, out.String()
}

const writeAndExit = `
	mov eax, 1		# write(1, msg, 3)
	mov edi, 1
	lea rsi, [rip + msg]
	mov edx, 3
	syscall
	xor edi, edi		# exit(0)
	mov eax, 60
	syscall
	ud2
msg:	.ascii "ok\n"
`

// A user program that faults dies of the signal Linux sends, with the
// line show_signal_msg or do_trap prints, and the CPU it ran on is sane:
// the next process there makes system calls and exits cleanly.
func TestUserFault_SignalAndNextSyscall(t *testing.T) {
	// The first process sits in slot 0: its text at 0x400000, its stack
	// ending at 0x1400000 with sp 0x13ffff8 at entry.
	for _, tc := range []struct {
		name string
		src  string
		sig  int
		want []string
	}{
		{"NULL read", "mov rax, qword ptr [8]\n", SIGSEGV, []string{
			"crasher[4]: segfault at 8 ip 0000000000400000 sp 00000000013ffff8 error 4 in crasher[0,400000+1000] likely on CPU 0 (core 0, socket 0)\n",
			"Code: Unable to access opcode bytes at 0x3fffd6.\n",
		}},
		{"ud2", "ud2\n", SIGILL, []string{
			"traps: crasher[4] trap invalid opcode ip:400000 sp:13ffff8 error:0 in crasher[0,400000+1000]\n",
		}},
		{"jump to nowhere", "mov rax, 0x300000\njmp rax\n", SIGSEGV, []string{
			"crasher[4]: segfault at 300000 ip 0000000000300000 sp 00000000013ffff8 error 14 likely on CPU 0 (core 0, socket 0)\n",
			"Code: Unable to access opcode bytes at 0x2fffd6.\n",
		}},
		{"jump into the kernel", "mov rax, 0xffffffff81000000\njmp rax\n", SIGSEGV, []string{
			"crasher[4]: segfault at ffffffff81000000 ip ffffffff81000000 sp 00000000013ffff8 error 15 likely on CPU 0 (core 0, socket 0)\n",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := boot(t, Config{CPUs: 1})
			crasher, _ := runUser(t, k, "crasher", userProg(t, tc.src))
			if crasher.ExitCode != tc.sig {
				t.Errorf("crasher exit code %#x, want signal %d", crasher.ExitCode, tc.sig)
			}
			w, out := runUser(t, k, "writer", userProg(t, writeAndExit))
			if out != "ok\n" || w.ExitCode != 0 {
				t.Errorf("the next process on the CPU: output %q, exit code %#x", out, w.ExitCode)
			}
			log := k.Log.Dmesg(printk.DmesgOptions{NoTime: true})
			for _, want := range tc.want {
				if !strings.Contains(log, want) {
					t.Errorf("log lacks %q:\n%s", want, log)
				}
			}
			if strings.Contains(log, "Oops") || strings.Contains(log, "BUG") {
				t.Errorf("a user fault oopsed the kernel:\n%s", log)
			}
		})
	}
}

// With an out-of-tree livepatch module loaded the oops header shows O and
// K in their columns, and the names on the next line.
func TestOopsReport_Tainted(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	addModule(t, k, ModuleSpec{Name: "lp", Livepatch: true}, gfn("lp_fn", ""))
	if err := k.Insmod("lp", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := k.RunOnTask("victim", func(ctx *OpCtx) uint64 { ctx.Call(0xdead0000); return 0 }, 1e9); err == nil {
		t.Fatal("the victim's oops did not fail its operation")
	}
	log := k.Log.Dmesg(printk.DmesgOptions{NoTime: true})
	want := "Oops: 0010 [#1] PREEMPT SMP NOPTI\n" +
		"CPU: 0 UID: 0 PID: 5 Comm: victim Tainted: G           O  K    6.12.0-klpsim #1\n" +
		"Tainted: [O]=OOT_MODULE, [K]=LIVEPATCH\n" +
		"RIP: 0010:0xdead0000\n"
	if !strings.Contains(log, want) {
		t.Errorf("oops lacks\n%s\nlog:\n%s", want, log)
	}
	if k.Tainted() != 1<<TaintOOTModule|1<<TaintLivepatch|1<<TaintDie {
		t.Errorf("taint mask %#x after the oops", k.Tainted())
	}
}

// An oops in a /proc show function kills the reading task as
// page_fault_oops does (SIGKILL): the read fails as the shell reports a
// killed cat, instead of returning what was read so far.
func TestReadShow_Oops(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	loadTestCode(t, k, gfn("null_show", "\tmov rax, qword ptr [0]\n"))
	out, err := k.ReadShow("cat", testSym(t, k, "null_show"), 1e9)
	wantShellError(t, err, "Killed", nil)
	var ke *KilledError
	if !errors.As(err, &ke) || ke.Signal != SIGKILL {
		t.Errorf("error %v, want a KilledError for SIGKILL", err)
	}
	if out != "" {
		t.Errorf("output %q", out)
	}
	// A sysfs attribute's show is read the same way.
	if _, err := k.sysfsShow("cat", 0, 0, testSym(t, k, "null_show")); err == nil {
		t.Error("a sysfs show that oopsed read without an error")
	}
}

// Unbounded recursion runs into the guard page below the kernel stack: a
// double fault, handle_stack_overflow's BUG line, die and a panic. The
// machine stops with a *PanicError and stays stopped.
func TestStackOverflow_Panics(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	loadTestCode(t, k, gfn("recurse", "\tcall recurse\n"))
	var task *Task
	_, err := k.RunOnTask("deep", func(ctx *OpCtx) uint64 {
		task = ctx.Task
		ctx.Call(testSym(t, k, "recurse"))
		return 0
	}, 1e9)
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Msg != "Fatal exception in interrupt" || pe.CPU != 0 {
		t.Fatalf("error %v (%T), want a *PanicError", err, err)
	}
	bug := fmt.Sprintf("BUG: TASK stack guard page was hit at %016x (stack is %016x..%016x)",
		task.StackBase()-8, task.StackBase(), task.StackTop())
	if pe.Cause != bug {
		t.Errorf("cause %q, want %q", pe.Cause, bug)
	}
	log := k.Log.Dmesg(printk.DmesgOptions{NoTime: true})
	for _, want := range []string{
		bug + "\nstack guard page: 0000 [#1] PREEMPT SMP NOPTI\n",
		"CPU: 0 UID: 0 PID: 4 Comm: deep Not tainted 6.12.0-klpsim #1\nRIP: 0010:recurse+0x",
		"Call Trace:\n <TASK>\n recurse+0x",
		" </TASK>\nDisabling lock debugging due to kernel taint\n---[ end trace 0000000000000000 ]---\n" +
			"Kernel panic - not syncing: Fatal exception in interrupt\n" +
			"Kernel Offset: disabled\n" +
			"---[ end Kernel panic - not syncing: Fatal exception in interrupt ]---\n",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if err := k.RunFor(1e6); !errors.As(err, &pe) {
		t.Errorf("the machine ran on after the panic: %v", err)
	}
}

// A timer interrupt whose frame does not fit on what is left of the
// kernel stack is the same double fault.
func TestStackOverflow_Interrupt(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	loadTestCode(t, k, gfn("spin_low", "\tmov rsp, rdi\n1:\tjmp 1b\n"))
	var task *Task
	_, err := k.RunOnTask("low", func(ctx *OpCtx) uint64 {
		task = ctx.Task
		ctx.Call(testSym(t, k, "spin_low"), task.StackBase()+16)
		return 0
	}, 1e9)
	var pe *PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T), want a *PanicError", err, err)
	}
	bug := fmt.Sprintf("BUG: TASK stack guard page was hit at %016x (stack is %016x..%016x)",
		task.StackBase()-8, task.StackBase(), task.StackTop())
	if pe.Cause != bug || pe.Msg != "Fatal exception in interrupt" {
		t.Errorf("panic %q", pe)
	}
}
