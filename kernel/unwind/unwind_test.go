package unwind_test

import (
	"errors"
	"slices"
	"testing"

	"klpsim/emu"
	"klpsim/isa"
	"klpsim/kernel/unwind"
)

// wantUnreliable checks that err is an *UnreliableError for reason.
func wantUnreliable(t *testing.T, err, reason error) *unwind.UnreliableError {
	t.Helper()
	var ue *unwind.UnreliableError
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v, want *UnreliableError with %v", err, reason)
	}
	if !errors.Is(err, reason) {
		t.Fatalf("err = %v, want reason %v", err, reason)
	}
	return ue
}

func wantTrace(t *testing.T, m *machine, got []uint64, names ...string) {
	t.Helper()
	if want := m.addrs(names...); !slices.Equal(got, want) {
		t.Fatalf("trace = %#x\nwant    %#x (%v)", got, want, names)
	}
}

// A kthread sleeping four calls deep: the trace is the resume IP in
// schedule, then every call site's return address, ending with the return
// into entry code stored in the last frame at pt_regs-16; kernel-mode
// (zeroed) pt_regs end the walk.
func TestWalk_Kthread4Deep(t *testing.T) {
	m := sleeper4(t)
	if fp := m.frames(); fp[4] != m.stack.LastFrame() {
		t.Fatalf("f1's frame at %#x, want the last frame %#x", fp[4], m.stack.LastFrame())
	}
	got, err := m.walk(m.context())
	if err != nil {
		t.Fatal(err)
	}
	wantTrace(t, m, got, "ret_schedule", "ret_f4", "ret_f3", "ret_f2", "ret_f1", "ret_entry")

	n, why := unwind.WalkUnreliable(m.mem, m.text, m.stack, m.context(), 0, make([]uint64, 16))
	if why != nil || n != len(got) {
		t.Fatalf("WalkUnreliable = %d, %v; want %d, nil", n, why, len(got))
	}
}

// The same stack in a user task: the walk ends at the user regs at
// task_pt_regs (the syscall frame entry code does not encode).
func TestWalk_UserTaskEndsAtPtRegs(t *testing.T) {
	m := sleeper4(t)
	m.setUserRegs()
	got, err := m.walk(m.context())
	if err != nil {
		t.Fatal(err)
	}
	wantTrace(t, m, got, "ret_schedule", "ret_f4", "ret_f3", "ret_f2", "ret_f1", "ret_entry")
}

// is_last_aligned_frame: entry code called f1 one word lower, f1's return
// address is copied above its frame (as after GCC's stack realignment).
func TestWalk_LastAlignedFrame(t *testing.T) {
	m := newMachine(t)
	m.spawn("entry_kthread", m.stack.PtRegs()-8)
	m.runToSleep()
	last := m.stack.LastFrame()
	if fp := m.frames(); fp[4] != last-8 {
		t.Fatalf("f1's frame at %#x, want %#x", fp[4], last-8)
	}
	// Without the copy it is not a last frame, and its rbp 0 ends the chain.
	_, err := m.walk(m.context())
	wantUnreliable(t, err, unwind.ErrNoLastFrame)

	m.setWord(last+8, m.word(last))
	got, err := m.walk(m.context())
	if err != nil {
		t.Fatal(err)
	}
	wantTrace(t, m, got, "ret_schedule", "ret_f4", "ret_f3", "ret_f2", "ret_f1", "ret_entry")
}

// is_last_ftrace_frame: the last frame three words lower, under the
// layout an ftrace trampoline leaves for a function called by entry code:
// bp, parent ret, bp, function ret, parent ret, pt_regs.
func TestWalk_LastFtraceFrame(t *testing.T) {
	m := newMachine(t)
	m.spawn("entry_kthread", m.stack.PtRegs()-24)
	m.runToSleep()
	last := m.stack.LastFrame()
	bp := last - 24
	if fp := m.frames(); fp[4] != bp {
		t.Fatalf("f1's frame at %#x, want %#x", fp[4], bp)
	}
	_, err := m.walk(m.context())
	wantUnreliable(t, err, unwind.ErrNoLastFrame)

	m.setWord(bp+16, m.word(bp))   // bp
	m.setWord(bp+24, m.addr("f1")) // function ret
	m.setWord(bp+32, m.word(bp+8)) // parent ret
	got, err := m.walk(m.context())
	if err != nil {
		t.Fatal(err)
	}
	wantTrace(t, m, got, "ret_schedule", "ret_f4", "ret_f3", "ret_f2", "ret_f1", "ret_entry")
}

// The limit is MAX_STACK_ENTRIES: 100 entries pass, 101 fail.
func TestWalk_MaxEntries(t *testing.T) {
	for _, tc := range []struct {
		depth int // rec frames; the trace has depth+2 entries
		err   error
	}{{98, nil}, {99, unwind.ErrTooDeep}} {
		m := newMachine(t)
		m.spawn("entry_rec", m.stack.PtRegs())
		m.cpu.R[isa.RDI] = uint64(tc.depth)
		m.runToSleep()
		got, err := m.walk(m.context())
		if tc.err == nil {
			if err != nil || len(got) != 100 {
				t.Fatalf("depth %d: %d entries, %v; want 100, nil", tc.depth, len(got), err)
			}
			continue
		}
		ue := wantUnreliable(t, err, tc.err)
		if len(got) != 100 || ue.Depth != 100 {
			t.Fatalf("depth %d: %d entries, depth %d; want 100", tc.depth, len(got), ue.Depth)
		}
		// WalkUnreliable keeps the first 100.
		buf := make([]uint64, 200)
		n, why := unwind.WalkUnreliable(m.mem, m.text, m.stack, m.context(), 0, buf)
		if n != 100 || !errors.Is(why, unwind.ErrTooDeep) {
			t.Fatalf("WalkUnreliable = %d, %v", n, why)
		}
	}
}

// A return address outside any known text (!__kernel_text_address).
func TestWalk_UnknownReturnAddress(t *testing.T) {
	m := sleeper4(t)
	fp := m.frames()
	m.setWord(fp[2]+8, 0xffffffffa0001234) // f3's return address into f2: no module there
	got, err := m.walk(m.context())
	ue := wantUnreliable(t, err, unwind.ErrUnknownText)
	if ue.IP != 0xffffffffa0001234 || ue.Depth != 3 {
		t.Fatalf("ip %#x depth %d", ue.IP, ue.Depth)
	}
	wantTrace(t, m, got, "ret_schedule", "ret_f4", "ret_f3")

	// The task's own IP too.
	st := m.context()
	st.IP = 0x1000
	if _, err := m.walk(st); !errors.Is(err, unwind.ErrUnknownText) {
		t.Fatalf("ip 0x1000: %v", err)
	}
}

// Frame pointers that leave the stack, go down, or are misaligned.
func TestWalk_BadFramePointer(t *testing.T) {
	for _, tc := range []struct {
		name string
		bp   func(m *machine, fp []uint64) uint64 // new saved rbp of f3's frame
	}{
		{"below-stack", func(m *machine, fp []uint64) uint64 { return m.stack.Base - 0x100 }},
		{"above-stack", func(m *machine, fp []uint64) uint64 { return m.stack.Base + m.stack.Size + 0x100 }},
		{"unmapped", func(m *machine, fp []uint64) uint64 { return 0x7000 }},
		{"down", func(m *machine, fp []uint64) uint64 { return fp[0] - 0x40 }},
		{"loop", func(m *machine, fp []uint64) uint64 { return fp[2] }},
		{"overlap", func(m *machine, fp []uint64) uint64 { return fp[2] + 8 }},
		{"misaligned", func(m *machine, fp []uint64) uint64 { return fp[3] + 4 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := sleeper4(t)
			fp := m.frames()
			m.setWord(fp[2], tc.bp(m, fp))
			got, err := m.walk(m.context())
			wantUnreliable(t, err, unwind.ErrBadFrame)
			wantTrace(t, m, got, "ret_schedule", "ret_f4", "ret_f3", "ret_f2")
		})
	}
	t.Run("start-bp-below-sp", func(t *testing.T) {
		m := sleeper4(t)
		st := m.context()
		st.SP = st.BP + 8
		_, err := m.walk(st)
		wantUnreliable(t, err, unwind.ErrBadFrame)
	})
	t.Run("unmapped-stack", func(t *testing.T) {
		m := sleeper4(t)
		if err := m.mem.Unmap(m.stack.Base, m.stack.Size); err != nil {
			t.Fatal(err)
		}
		_, err := m.walk(m.context())
		ue := wantUnreliable(t, err, unwind.ErrBadFrame)
		var um *emu.UnmappedError
		if !errors.As(ue, &um) {
			t.Fatalf("cause %v, want *emu.UnmappedError", ue.Err)
		}
	})
}

// The chain ends (rbp 0) or runs past the place the last frame must be.
func TestWalk_NoLastFrame(t *testing.T) {
	t.Run("outermost-frame-misplaced", func(t *testing.T) {
		// Entry code called f1 64 bytes below pt_regs: f1's frame is not
		// at pt_regs-16 and its saved rbp (entry's 0) ends the chain.
		m := newMachine(t)
		m.spawn("entry_kthread", m.stack.PtRegs()-64)
		m.runToSleep()
		got, err := m.walk(m.context())
		wantUnreliable(t, err, unwind.ErrNoLastFrame)
		wantTrace(t, m, got, "ret_schedule", "ret_f4", "ret_f3", "ret_f2", "ret_f1", "ret_entry")
	})
	t.Run("zero-bp", func(t *testing.T) {
		m := sleeper4(t)
		m.setWord(m.frames()[2], 0)
		_, err := m.walk(m.context())
		wantUnreliable(t, err, unwind.ErrNoLastFrame)
	})
	t.Run("past-last-frame", func(t *testing.T) {
		m := sleeper4(t)
		m.setWord(m.frames()[3], m.stack.LastFrame()+16) // f2's rbp into pt_regs
		_, err := m.walk(m.context())
		wantUnreliable(t, err, unwind.ErrNoLastFrame)
	})
}

// interrupted runs spin → spin_inner (or user code), interrupts it and
// runs the interrupt handler into schedule. pad is how far below pt_regs
// irq_entry calls the handler.
func interrupted(t *testing.T, user bool, pad uint64) *machine {
	m := newMachine(t)
	stack0 := m.stack.Base + m.stack.Size
	if user {
		m.cpu.RIP = m.addr("user_spin")
		m.cpu.R[isa.RSP] = 0x7ffffff000
		m.cpu.SetCPL(3)
	} else {
		m.spawn("entry_spin", m.stack.PtRegs())
	}
	m.cpu.R[isa.R12] = pad
	if x := m.cpu.Run(100); x.Reason != emu.ExitBudget {
		t.Fatalf("exit %v %v", x.Reason, x.Exc)
	}
	if err := m.cpu.Interrupt(m.addr("irq_entry"), stack0, nil); err != nil {
		t.Fatal(err)
	}
	m.runToSleep()
	return m
}

// An interrupt from user mode: entry code saves pt_regs at task_pt_regs
// and encodes rbp. The walk ends there successfully, whether the handler's
// frame is the last frame (as Linux's C entry points are) or the encoded
// pointer leads to the user regs.
func TestWalk_UserRegsFrame(t *testing.T) {
	regsOf := func(m *machine) uint64 { return m.stack.PtRegs() }
	t.Run("last-frame", func(t *testing.T) {
		m := interrupted(t, true, 0)
		if fp := m.frames(); fp[1] != m.stack.LastFrame() {
			t.Fatalf("irq_handler's frame at %#x, want the last frame", fp[1])
		}
		got, err := m.walk(m.context())
		if err != nil {
			t.Fatal(err)
		}
		wantTrace(t, m, got, "ret_schedule", "ret_irq_handler", "ret_irq_entry")
	})
	t.Run("encoded", func(t *testing.T) {
		m := interrupted(t, true, 16)
		if rbp := m.word(m.frames()[1]); rbp != regsOf(m)|1 {
			t.Fatalf("irq_handler's saved rbp %#x, want encoded %#x", rbp, regsOf(m)|1)
		}
		got, err := m.walk(m.context())
		if err != nil {
			t.Fatal(err)
		}
		wantTrace(t, m, got, "ret_schedule", "ret_irq_handler", "ret_irq_entry")
	})
	t.Run("start-from-user-regs", func(t *testing.T) {
		m := interrupted(t, true, 0)
		n, err := unwind.Walk(m.mem, m.text, m.stack, unwind.Start{Regs: regsOf(m)}, 0, make([]uint64, 8))
		if n != 0 || err != nil {
			t.Fatalf("from user regs: %d, %v", n, err)
		}
	})
	t.Run("user-regs-elsewhere", func(t *testing.T) {
		// User regs anywhere but task_pt_regs are corruption.
		m := interrupted(t, true, 256)
		regs := regsOf(m)
		low := regs - 200
		for off := uint64(0); off < unwind.PtRegsSize; off += 8 {
			m.setWord(low+off, m.word(regs+off))
		}
		m.setWord(m.frames()[1], low|1)
		_, err := m.walk(m.context())
		wantUnreliable(t, err, unwind.ErrBadFrame)
	})
}

// An interrupt in kernel mode: kernel-mode regs in the middle of the
// stack make it unreliable; the unreliable walk goes through them.
func TestWalk_KernelRegsFrame(t *testing.T) {
	m := interrupted(t, false, 0)
	got, err := m.walk(m.context())
	ue := wantUnreliable(t, err, unwind.ErrKernelRegs)
	wantTrace(t, m, got, "ret_schedule", "ret_irq_handler", "ret_irq_entry")
	if ue.Frame == 0 || ue.Frame%8 != 0 {
		t.Fatalf("regs at %#x", ue.Frame)
	}

	buf := make([]uint64, 16)
	n, why := unwind.WalkUnreliable(m.mem, m.text, m.stack, m.context(), 0, buf)
	if !errors.Is(why, unwind.ErrKernelRegs) {
		t.Fatalf("why = %v", why)
	}
	// regs->ip is in spin_inner's loop, then spin's and entry's returns.
	wantTrace(t, m, buf[:n], "ret_schedule", "ret_irq_handler", "ret_irq_entry", "spin_loop", "ret_spin", "ret_entry_spin")

	// Starting from the kernel regs (an oops in spin_inner).
	n, err = unwind.Walk(m.mem, m.text, m.stack, unwind.Start{Regs: ue.Frame}, 0, buf)
	if n != 0 || !errors.Is(err, unwind.ErrKernelRegs) {
		t.Fatalf("Walk from kernel regs: %d, %v", n, err)
	}
	n, why = unwind.WalkUnreliable(m.mem, m.text, m.stack, unwind.Start{Regs: ue.Frame}, 0, buf)
	if !errors.Is(why, unwind.ErrKernelRegs) {
		t.Fatalf("why = %v", why)
	}
	wantTrace(t, m, buf[:n], "spin_loop", "ret_spin", "ret_entry_spin")
}

// A task stopped before its frame is set up (prologue) or after it was
// torn down (the epilogue's ret): the FP walk would drop f3 from the
// trace, so it is unreliable.
func TestWalk_PrologueEpilogue(t *testing.T) {
	for _, tc := range []struct {
		at   string // where the task stopped
		err  error
		want []string // the trace (WalkUnreliable's when unreliable)
	}{
		{"f4", unwind.ErrPrologue, []string{"f4", "ret_f2", "ret_f1", "ret_entry"}},
		{"push_f4", unwind.ErrPrologue, []string{"push_f4", "ret_f2", "ret_f1", "ret_entry"}},
		{"mov_f4", unwind.ErrPrologue, []string{"mov_f4", "ret_f2", "ret_f1", "ret_entry"}},
		{"body_f4", nil, []string{"body_f4", "ret_f3", "ret_f2", "ret_f1", "ret_entry"}},
		{"ret_f4", nil, []string{"ret_f4", "ret_f3", "ret_f2", "ret_f1", "ret_entry"}}, // pop rbp: frame still valid
		{"epi_f4", unwind.ErrPrologue, []string{"epi_f4", "ret_f2", "ret_f1", "ret_entry"}},
	} {
		t.Run(tc.at, func(t *testing.T) {
			m := newMachine(t)
			m.spawn("entry_kthread", m.stack.PtRegs())
			m.stepTo(tc.at)
			got, err := m.walk(m.context())
			if tc.err == nil {
				if err != nil {
					t.Fatal(err)
				}
				wantTrace(t, m, got, tc.want...)
				return
			}
			ue := wantUnreliable(t, err, tc.err)
			if len(got) != 0 || ue.IP != m.addr(tc.at) {
				t.Fatalf("got %#x, ip %#x", got, ue.IP)
			}
			buf := make([]uint64, 16)
			n, why := unwind.WalkUnreliable(m.mem, m.text, m.stack, m.context(), 0, buf)
			if !errors.Is(why, tc.err) {
				t.Fatalf("why = %v", why)
			}
			wantTrace(t, m, buf[:n], tc.want...)
		})
	}
	t.Run("ftrace-call-site", func(t *testing.T) {
		// With ftrace enabled the nop5 is a call; the prologue is the same.
		m := newMachine(t)
		m.spawn("entry_kthread", m.stack.PtRegs())
		m.stepTo("push_f4")
		f4 := m.addr("f4")
		rel := uint32(m.addr("schedule") - (f4 + 5))
		if err := m.mem.Write(f4, []byte{0xe8, byte(rel), byte(rel >> 8), byte(rel >> 16), byte(rel >> 24)}); err != nil {
			t.Fatal(err)
		}
		_, err := m.walk(m.context())
		wantUnreliable(t, err, unwind.ErrPrologue)
	})
}

// The same for a frame as gcc schedules it: instructions before the push
// rbp, between it and mov rbp, rsp, and between the leave and the ret are
// still outside the frame, and the caller g1 would drop out of the trace.
func TestWalk_PrologueEpilogueScheduled(t *testing.T) {
	for _, tc := range []struct {
		at  string
		err error
	}{
		{"g2", unwind.ErrPrologue},
		{"pre_g2", unwind.ErrPrologue},
		{"push_g2", unwind.ErrPrologue},
		{"mid_g2", unwind.ErrPrologue},
		{"mov_g2", unwind.ErrPrologue},
		{"body_g2", nil},
		{"leave_g2", nil},
		{"epi_g2", unwind.ErrPrologue},
		{"ret_g2", unwind.ErrPrologue},
	} {
		t.Run(tc.at, func(t *testing.T) {
			m := newMachine(t)
			m.spawn("entry_g", m.stack.PtRegs())
			m.stepTo(tc.at)
			got, err := m.walk(m.context())
			if tc.err == nil {
				if err != nil {
					t.Fatal(err)
				}
				wantTrace(t, m, got, tc.at, "ret_g1", "ret_entry_g")
				return
			}
			wantUnreliable(t, err, tc.err)
		})
	}
}

func TestWalk_BadStack(t *testing.T) {
	m := sleeper4(t)
	for _, s := range []unwind.Stack{{}, {Base: 4, Size: unwind.StackSize}, {Base: ^uint64(0) &^ 7, Size: unwind.StackSize}} {
		if _, err := unwind.Walk(m.mem, m.text, s, m.context(), 0, make([]uint64, 8)); err != unwind.ErrStack {
			t.Fatalf("%+v: %v", s, err)
		}
	}
}

// A buffer smaller than max is a limit too.
func TestWalk_SmallBuffer(t *testing.T) {
	m := sleeper4(t)
	n, err := unwind.Walk(m.mem, m.text, m.stack, m.context(), 100, make([]uint64, 3))
	if n != 3 || !errors.Is(err, unwind.ErrTooDeep) {
		t.Fatalf("%d, %v", n, err)
	}
}

// A new task that has not run yet: its context is the entry code with
// nothing on the stack below pt_regs, like Linux's fork frame, whose
// inactive_task_frame is the last frame. Whatever its rbp (0, or encoded
// pt_regs as copy_thread sets), the trace is the entry code alone.
func TestWalk_NewTask(t *testing.T) {
	for _, user := range []bool{false, true} {
		m := newMachine(t)
		if user {
			m.setUserRegs()
		}
		for _, bp := range []uint64{0, m.stack.PtRegs() | 1} {
			st := unwind.Start{IP: m.addr("entry_kthread"), SP: m.stack.PtRegs(), BP: bp}
			got, err := m.walk(st)
			if err != nil {
				t.Fatalf("user %v bp %#x: %v", user, bp, err)
			}
			wantTrace(t, m, got, "entry_kthread")
		}
	}
}

// TestWalk_FirstFrameMemo: the first frame's verdict is remembered for
// the next walk from the same ip, but only while the function's bytes
// are the same: with f4's pop rbp gone, the task at it is past the
// epilogue, and the walk must say so.
func TestWalk_FirstFrameMemo(t *testing.T) {
	m := newMachine(t)
	m.spawn("entry_kthread", m.stack.PtRegs())
	m.stepTo("ret_f4")
	for range 2 {
		if _, err := m.walk(m.context()); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.mem.Write(m.addr("ret_f4"), []byte{0x90}); err != nil { // pop rbp -> nop
		t.Fatal(err)
	}
	_, err := m.walk(m.context())
	wantUnreliable(t, err, unwind.ErrPrologue)
}
