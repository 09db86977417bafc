package unwind_test

import (
	"sort"
	"testing"

	"klpsim/emu"
	"klpsim/isa"
	"klpsim/isa/asm"
	"klpsim/isa/obj"
	"klpsim/kernel/unwind"
)

// guestSrc is a small guest kernel laid out like the real one: entry code
// without frames (entry_kthread, entry_rec, entry_spin, irq_entry — the
// ret_from_fork_asm / interrupt entry counterparts), C-style functions
// with the fentry nop and the frame-pointer prologue, and schedule, whose
// vmcall is where a task switches out. Labels named ret_* are return
// addresses the tests expect in traces.
const guestSrc = `
	.intel_syntax noprefix
	.text

	.type	entry_kthread, @function
entry_kthread:				# rsp = where the entry frame ends
	call	f1
ret_entry:
	hlt
	.size	entry_kthread, .-entry_kthread

	.type	f1, @function
f1:
	.fentry
	push	rbp
	mov	rbp, rsp
	call	f2
ret_f1:
	pop	rbp
	ret
	.size	f1, .-f1

	.type	f2, @function
f2:
	.fentry
	push	rbp
	mov	rbp, rsp
	push	rbx
	call	f3
ret_f2:
	pop	rbx
	leave
	ret
	.size	f2, .-f2

	.type	f3, @function
f3:
	.fentry
	push	rbp
	mov	rbp, rsp
	call	f4
ret_f3:
	pop	rbp
	ret
	.size	f3, .-f3

	.type	f4, @function
f4:
	.fentry
push_f4:
	push	rbp
mov_f4:
	mov	rbp, rsp
body_f4:
	call	schedule
ret_f4:
	pop	rbp
epi_f4:
	ret
	.size	f4, .-f4

	.type	entry_g, @function
entry_g:
	call	g1
ret_entry_g:
	hlt
	.size	entry_g, .-entry_g

	.type	g1, @function
g1:
	.fentry
	push	rbp
	mov	rbp, rsp
	call	g2
ret_g1:
	pop	rbp
	ret
	.size	g1, .-g1

# g2 as gcc -O2 schedules a frame: work before the push, between push
# and mov, and after the leave.
	.type	g2, @function
g2:
	.fentry
pre_g2:
	mov	eax, 42
push_g2:
	push	rbp
mid_g2:
	mov	edx, eax
mov_g2:
	mov	rbp, rsp
body_g2:
	call	schedule
leave_g2:
	leave
epi_g2:
	add	eax, edx
ret_g2:
	ret
	.size	g2, .-g2

	.type	schedule, @function
schedule:
	.fentry
	push	rbp
	mov	rbp, rsp
	vmcall				# switched out: the task sleeps here
ret_schedule:
	pop	rbp
	ret
	.size	schedule, .-schedule

	.type	entry_rec, @function
entry_rec:				# rdi = depth
	call	rec
ret_entry_rec:
	hlt
	.size	entry_rec, .-entry_rec

	.type	rec, @function
rec:
	.fentry
	push	rbp
	mov	rbp, rsp
	dec	rdi
	jz	1f
	call	rec
ret_rec:
	pop	rbp
	ret
1:	call	schedule
ret_rec_sched:
	pop	rbp
	ret
	.size	rec, .-rec

	.type	entry_spin, @function
entry_spin:
	call	spin
ret_entry_spin:
	hlt
	.size	entry_spin, .-entry_spin

	.type	spin, @function
spin:
	.fentry
	push	rbp
	mov	rbp, rsp
	call	spin_inner
ret_spin:
	pop	rbp
	ret
	.size	spin, .-spin

	.type	spin_inner, @function
spin_inner:
	.fentry
	push	rbp
	mov	rbp, rsp
spin_loop:
	jmp	spin_loop
	.size	spin_inner, .-spin_inner

	.type	irq_entry, @function
irq_entry:				# hardware pushed ss rsp rflags cs ip
	push	-1			# orig_ax
	push	rdi
	push	rsi
	push	rdx
	push	rcx
	push	rax
	push	r8
	push	r9
	push	r10
	push	r11
	push	rbx
	push	rbp
	push	r12
	push	r13
	push	r14
	push	r15
	lea	rbp, [rsp+1]		# ENCODE_FRAME_POINTER
	mov	rdi, rsp
	sub	rsp, r12		# the tests' padding below pt_regs
	call	irq_handler
ret_irq_entry:
	hlt
	.size	irq_entry, .-irq_entry

	.type	irq_handler, @function
irq_handler:
	.fentry
	push	rbp
	mov	rbp, rsp
	call	schedule
ret_irq_handler:
	pop	rbp
	ret
	.size	irq_handler, .-irq_handler

	.section .usertext, "ax"
	.type	user_spin, @function
user_spin:
	jmp	user_spin
	.size	user_spin, .-user_spin
`

const (
	textBase  = 0xffffffff81000000
	userBase  = 0x400000
	stackBase = 0xffffc90000010000
)

// funcs is a Text: sorted functions of the guest image.
type funcs []struct{ start, size uint64 }

func (f funcs) FuncAt(addr uint64) (start, size uint64, ok bool) {
	i := sort.Search(len(f), func(i int) bool { return f[i].start > addr }) - 1
	if i >= 0 && addr < f[i].start+f[i].size {
		return f[i].start, f[i].size, true
	}
	return 0, 0, false
}

// machine is one guest with one task: its text, its kernel stack and a CPU.
type machine struct {
	t     testing.TB
	mem   *emu.Memory
	cpu   *emu.CPU
	sym   map[string]uint64
	text  funcs
	stack unwind.Stack
}

var guestObj *obj.Object

func newMachine(t testing.TB) *machine {
	t.Helper()
	if guestObj == nil {
		o, err := asm.Assemble("guest.S", []byte(guestSrc))
		if err != nil {
			t.Fatal(err)
		}
		guestObj = o
	}
	o := guestObj
	m := &machine{t: t, mem: emu.NewMemory(), sym: map[string]uint64{},
		stack: unwind.Stack{Base: stackBase, Size: unwind.StackSize}}
	addrs := make([]uint64, len(o.Sections))
	next := uint64(textBase)
	for i, s := range o.Sections {
		if s.Name == ".usertext" {
			addrs[i] = userBase
			continue
		}
		addrs[i] = next
		next += (s.Size + emu.PageSize) &^ (emu.PageSize - 1)
	}
	data, err := o.Relocate(addrs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range o.Sections {
		if s.Size == 0 || s.Flags&obj.FlagAlloc == 0 {
			continue
		}
		perm := emu.PermRWX
		if s.Name == ".usertext" {
			perm |= emu.PermUser
		}
		if err := m.mem.Map(addrs[i], (s.Size+emu.PageSize-1)&^(emu.PageSize-1), perm); err != nil {
			t.Fatal(err)
		}
		if err := m.mem.Write(addrs[i], data[i]); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range o.Symbols {
		if a, ok := o.SymbolAddr(i, addrs, nil); ok && s.Section >= 0 {
			m.sym[s.Name] = a
			if s.Type == obj.SymFunc && s.Size > 0 {
				m.text = append(m.text, struct{ start, size uint64 }{a, s.Size})
			}
		}
	}
	sort.Slice(m.text, func(i, j int) bool { return m.text[i].start < m.text[j].start })
	if err := m.mem.Map(m.stack.Base, m.stack.Size, emu.PermRW); err != nil {
		t.Fatal(err)
	}
	m.cpu = emu.NewCPU(m.mem)
	return m
}

// addr returns a symbol's address.
func (m *machine) addr(name string) uint64 {
	a, ok := m.sym[name]
	if !ok {
		m.t.Fatalf("no symbol %q", name)
	}
	return a
}

// addrs maps names to addresses.
func (m *machine) addrs(names ...string) []uint64 {
	out := make([]uint64, len(names))
	for i, n := range names {
		out[i] = m.addr(n)
	}
	return out
}

// spawn starts the CPU at entry code fn with rsp = sp and rbp = 0, as a
// new task's first instruction after the fork frame.
func (m *machine) spawn(fn string, sp uint64) {
	m.cpu.RIP = m.addr(fn)
	m.cpu.R[isa.RSP] = sp
	m.cpu.R[isa.RBP] = 0
}

// runToSleep runs until the vmcall in schedule: the task has switched out.
func (m *machine) runToSleep() {
	m.t.Helper()
	x := m.cpu.Run(100_000)
	if x.Reason != emu.ExitHypercall {
		m.t.Fatalf("exit %v %v at %#x, want hypercall", x.Reason, x.Exc, m.cpu.RIP)
	}
}

// stepTo single-steps until RIP is at the named label.
func (m *machine) stepTo(label string) {
	m.t.Helper()
	want := m.addr(label)
	for range 10_000 {
		if m.cpu.RIP == want {
			return
		}
		if x := m.cpu.Run(1); x.Reason != emu.ExitBudget && x.Reason != emu.ExitHypercall {
			m.t.Fatalf("exit %v %v at %#x", x.Reason, x.Exc, m.cpu.RIP)
		}
	}
	m.t.Fatalf("never reached %s", label)
}

// context is the task's saved {rip, rsp, rbp}.
func (m *machine) context() unwind.Start {
	return unwind.Start{IP: m.cpu.RIP, SP: m.cpu.R[isa.RSP], BP: m.cpu.R[isa.RBP]}
}

func (m *machine) word(addr uint64) uint64 {
	v, err := m.mem.ReadU64(addr)
	if err != nil {
		m.t.Fatal(err)
	}
	return v
}

func (m *machine) setWord(addr, v uint64) {
	if err := m.mem.WriteU64(addr, v); err != nil {
		m.t.Fatal(err)
	}
}

// setUserRegs makes the task's pt_regs those of a user task (CS = user).
func (m *machine) setUserRegs() {
	m.setWord(m.stack.PtRegs()+unwind.PtRegsOffCS, emu.UserCS)
}

// walk runs the reliable walk with the default limit.
func (m *machine) walk(st unwind.Start) ([]uint64, error) {
	var buf [unwind.MaxStackEntries + 8]uint64
	n, err := unwind.Walk(m.mem, m.text, m.stack, st, unwind.MaxStackEntries, buf[:])
	return buf[:n], err
}

// sleeper4 is a kthread sleeping in schedule under f1 → f2 → f3 → f4,
// called from entry code with its last frame where Linux puts it.
func sleeper4(t testing.TB) *machine {
	m := newMachine(t)
	m.spawn("entry_kthread", m.stack.PtRegs())
	m.runToSleep()
	return m
}

// frames returns the frame pointers of sleeper4's chain, innermost first:
// schedule, f4, f3, f2, f1.
func (m *machine) frames() []uint64 {
	var fp []uint64
	for bp := m.cpu.R[isa.RBP]; bp != 0 && bp&1 == 0 && len(fp) < 5; bp = m.word(bp) {
		fp = append(fp, bp)
	}
	return fp
}
