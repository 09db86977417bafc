package emu

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"klpsim/isa"
)

const (
	kText  uint64 = 0xffffffff81000000 // kernel text, as Linux lays it out
	kData  uint64 = 0xffffffff82000000
	kStack uint64 = 0xffffc90000004000 // top of a kernel stack
)

func code(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// machine maps kernel text (with text), a data page and a stack, and
// returns a CPU at CPL 0 about to run the text.
func machine(t testing.TB, text string) *CPU {
	t.Helper()
	m := NewMemory()
	must(t, m.Map(kText, 2*PageSize, PermRX))
	must(t, m.Map(kData, PageSize, PermRW))
	must(t, m.Map(kStack-4*PageSize, 4*PageSize, PermRW))
	must(t, m.Write(kText, code(t, text)))
	c := NewCPU(m)
	c.RIP = kText
	c.R[isa.RSP] = kStack
	return c
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantExit(t *testing.T, got Exit, reason ExitReason) {
	t.Helper()
	if got.Reason != reason {
		t.Fatalf("exit = %v (%v), want %v", got.Reason, got.Exc, reason)
	}
}

func TestRunBudgetAndCount(t *testing.T) {
	// 1: inc rax; jmp 1b
	c := machine(t, "48 ff c0 eb fb")
	wantExit(t, c.Run(1001), ExitBudget)
	if c.Insns != 1001 || c.R[isa.RAX] != 501 {
		t.Errorf("insns = %d, rax = %d; want 1001, 501", c.Insns, c.R[isa.RAX])
	}
	wantExit(t, c.Run(0), ExitBudget)
	if c.Insns != 1001 {
		t.Errorf("Run(0) retired instructions")
	}
}

func TestSingleStep(t *testing.T) {
	c := machine(t, "48 c7 c0 07 00 00 00 48 ff c0 90") // mov rax, 7; inc rax; nop
	for i, want := range []uint64{kText + 7, kText + 10, kText + 11} {
		wantExit(t, c.Run(1), ExitBudget)
		if c.RIP != want {
			t.Fatalf("step %d: rip = %#x, want %#x", i, c.RIP, want)
		}
	}
	if c.R[isa.RAX] != 8 {
		t.Errorf("rax = %d, want 8", c.R[isa.RAX])
	}
}

func TestHypercallHltInt3(t *testing.T) {
	c := machine(t, "0f 01 c1 f4 cc 0f 0b")
	wantExit(t, c.Run(10), ExitHypercall)
	if c.RIP != kText+3 {
		t.Errorf("after vmcall rip = %#x", c.RIP)
	}
	wantExit(t, c.Run(10), ExitHlt)
	if c.RIP != kText+4 {
		t.Errorf("after hlt rip = %#x", c.RIP)
	}
	x := c.Run(10)
	wantExit(t, x, ExitException)
	if x.Exc.Vector != VecBP || x.Exc.RIP != kText+5 || c.RIP != kText+5 {
		t.Errorf("int3: %+v rip %#x; want #BP as a trap at %#x", x.Exc, c.RIP, kText+5)
	}
	x = c.Run(10)
	if x.Exc.Vector != VecUD || c.RIP != kText+5 {
		t.Errorf("ud2: %+v rip %#x; want #UD as a fault at %#x", x.Exc, c.RIP, kText+5)
	}
	if c.Insns != 3 {
		t.Errorf("insns = %d, want 3 (the faulting ud2 does not retire)", c.Insns)
	}
}

func TestUnknownInstructionIsUD(t *testing.T) {
	// rdpid, addsd, pxor on MMX registers, pshufb (SSSE3), push es
	for _, s := range []string{"f3 0f c7 f8", "f2 0f 58 c1", "0f ef c1", "66 0f 38 00 c1", "06"} {
		c := machine(t, s)
		x := c.Run(5)
		if x.Reason != ExitException || x.Exc.Vector != VecUD || c.RIP != kText || c.Insns != 0 {
			t.Errorf("%s: exit %+v rip %#x insns %d; want #UD at the instruction", s, x, c.RIP, c.Insns)
		}
	}
}

func TestPageFaults(t *testing.T) {
	tests := []struct {
		name, text string
		user       bool
		addr, code uint64
	}{
		{"read unmapped", "48 8b 03", false, 0x1000, 0},                         // mov rax, [rbx]
		{"write unmapped", "48 89 03", false, 0x1000, PFWrite},                  // mov [rbx], rax
		{"write read-only", "48 89 03", false, kText, PFPresent | PFWrite},      // mov [rbx], rax
		{"fetch unmapped", "ff e3", false, 0x1000, PFFetch},                     // jmp rbx
		{"fetch non-executable", "ff e3", false, kData, PFPresent | PFFetch},    // jmp rbx
		{"user reads kernel page", "48 8b 03", true, kData, PFPresent | PFUser}, // mov rax, [rbx]
		{"crossing into unmapped", "48 8b 03", false, kData + PageSize - 4, 0},  // CR2 is the first missing byte
		{"push below the stack", "50", false, kStack - 4*PageSize - 8, PFWrite}, // push rax
		{"ret to unmapped", "c3", false, 0x1000, PFFetch},                       // the fetch faults, not the pop
		{"call through unmapped", "ff 13", false, 0x1000, 0},                    // call [rbx]
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := machine(t, tt.text)
			switch tt.name {
			case "push below the stack":
				c.R[isa.RSP] = kStack - 4*PageSize
			case "ret to unmapped":
				c.R[isa.RSP] -= 8
				must(t, c.mem.WriteU64(c.R[isa.RSP], 0x1000))
			}
			c.R[isa.RBX] = tt.addr
			if tt.user {
				// Let user mode run the kernel text page for this test only.
				must(t, c.mem.Protect(kText, PageSize, PermRX|PermUser))
				c.SetCPL(3)
			}
			before := c.R
			x := c.Run(10)
			if x.Reason != ExitException || x.Exc.Vector != VecPF {
				t.Fatalf("exit %+v, want #PF", x)
			}
			wantRIP := uint64(kText)
			if tt.name == "ret to unmapped" || tt.code&PFFetch != 0 {
				wantRIP = 0x1000
				if tt.name == "fetch non-executable" {
					wantRIP = kData
				}
				before[isa.RSP] = c.R[isa.RSP] // the branch retired
			}
			wantAddr := tt.addr
			if tt.name == "crossing into unmapped" {
				wantAddr = kData + PageSize
			}
			if x.Exc.Addr != wantAddr || x.Exc.ErrorCode != tt.code || x.Exc.RIP != wantRIP {
				t.Errorf("got addr %#x code %#x rip %#x; want %#x %#x %#x", x.Exc.Addr, x.Exc.ErrorCode, x.Exc.RIP, wantAddr, tt.code, wantRIP)
			}
			if c.R != before {
				t.Errorf("registers changed by a faulting instruction")
			}
		})
	}
}

func TestNonCanonicalIsGP(t *testing.T) {
	c := machine(t, "48 8b 03") // mov rax, [rbx]
	c.R[isa.RBX] = 0x0000800000000000
	x := c.Run(1)
	if x.Exc.Vector != VecGP || c.RIP != kText {
		t.Errorf("exit %+v, want #GP at the instruction", x)
	}
}

func TestPrivilegedAtCPL3IsGP(t *testing.T) {
	for _, s := range []string{"f4", "fa", "fb", "48 0f 07", "48 cf"} { // hlt, cli, sti, sysretq, iretq
		c := machine(t, s)
		must(t, c.mem.Protect(kText, PageSize, PermRX|PermUser))
		c.SetCPL(3)
		if x := c.Run(1); x.Exc.Vector != VecGP || x.Reason != ExitException {
			t.Errorf("%s at CPL 3: exit %+v, want #GP", s, x)
		}
	}
}

func TestDivideErrors(t *testing.T) {
	tests := []struct {
		name, text    string
		rax, rdx, rbx uint64
	}{
		{"div by zero", "48 f7 f3", 1, 0, 0},
		{"div quotient overflow", "48 f7 f3", 0, 1, 1},
		{"idiv INT64_MIN/-1", "48 f7 fb", 1 << 63, ^uint64(0), ^uint64(0)},
		{"idiv32 INT32_MIN/-1", "f7 fb", 0x80000000, 0xffffffff, 0xffffffff},
		{"div8 overflow", "f6 f3", 0x1000, 0, 2},
	}
	for _, tt := range tests {
		c := machine(t, tt.text)
		c.R[isa.RAX], c.R[isa.RDX], c.R[isa.RBX] = tt.rax, tt.rdx, tt.rbx
		if x := c.Run(1); x.Exc.Vector != VecDE || x.Reason != ExitException || c.R[isa.RAX] != tt.rax {
			t.Errorf("%s: exit %+v rax %#x, want #DE with rax unchanged", tt.name, x, c.R[isa.RAX])
		}
	}
}

// Guest stores into code it has already executed must be seen: the
// decoded ops of the page are dropped.
func TestSelfModifyingCode(t *testing.T) {
	m := NewMemory()
	must(t, m.Map(0x400000, PageSize, PermRWX))
	// 0: mov eax, 1          (b8 01 00 00 00)
	// 5: inc ecx; cmp ecx, 2; je 21
	// 12: mov byte [rip-18], 2: patches the immediate at 1
	// 19: jmp 0
	// 21: hlt
	must(t, m.Write(0x400000, code(t, "b8 01 00 00 00 ff c1 83 f9 02 74 09 c6 05 ee ff ff ff 02 eb eb f4")))
	c := NewCPU(m)
	c.RIP = 0x400000
	wantExit(t, c.Run(100), ExitHlt)
	if c.R[isa.RAX] != 2 {
		t.Errorf("rax = %d, want 2 (the patched immediate)", c.R[isa.RAX])
	}
}

// Host writes are the text-poking path ftrace uses: turning a 5-byte nop
// into a call must take effect on the next execution, on every CPU.
func TestHostTextPoke(t *testing.T) {
	//  0: nop5 (0f 1f 44 00 00) ; 5: hlt ; 6: inc rax ; ret
	c := machine(t, "0f 1f 44 00 00 f4 48 ff c0 c3")
	c2 := NewCPU(c.mem)
	c2.RIP, c2.R[isa.RSP] = kText, kStack-PageSize
	wantExit(t, c.Run(10), ExitHlt)
	wantExit(t, c2.Run(10), ExitHlt)
	// Poke "call kText+6" over the nop.
	must(t, c.mem.Write(kText, code(t, "e8 01 00 00 00")))
	c.RIP, c2.RIP = kText, kText
	wantExit(t, c.Run(10), ExitHlt)
	wantExit(t, c2.Run(10), ExitHlt)
	if c.R[isa.RAX] != 1 || c2.R[isa.RAX] != 1 {
		t.Errorf("rax = %d, %d; want 1, 1 (the poked call ran on both CPUs)", c.R[isa.RAX], c2.R[isa.RAX])
	}
}

// One CPU's store to code must reach the cached ops another CPU runs.
func TestCrossCPUCodeWrite(t *testing.T) {
	m := NewMemory()
	must(t, m.Map(0x400000, PageSize, PermRWX))
	must(t, m.Write(0x400000, code(t, "b8 01 00 00 00 f4"))) // mov eax, 1; hlt
	a, b := NewCPU(m), NewCPU(m)
	a.RIP = 0x400000
	wantExit(t, a.Run(10), ExitHlt)
	// b: mov byte [0x400001], 9 ; hlt at 0x400100
	must(t, m.Write(0x400100, code(t, "c6 04 25 01 00 40 00 09 f4")))
	b.RIP = 0x400100
	wantExit(t, b.Run(10), ExitHlt)
	a.RIP = 0x400000
	wantExit(t, a.Run(10), ExitHlt)
	if a.R[isa.RAX] != 9 {
		t.Errorf("rax = %d, want 9", a.R[isa.RAX])
	}
}

// An instruction that straddles two pages is cached on the first; a write
// to the second must still drop it.
func TestInstructionAcrossPages(t *testing.T) {
	m := NewMemory()
	must(t, m.Map(0x400000, 2*PageSize, PermRX))
	start := uint64(0x400000 + PageSize - 3)
	must(t, m.Write(start, code(t, "b8 01 00 00 00 f4"))) // mov eax, 1 split 3+2; hlt
	c := NewCPU(m)
	c.RIP = start
	wantExit(t, c.Run(10), ExitHlt)
	must(t, m.Write(0x400000+PageSize, code(t, "07"))) // imm's top bytes: 0x00070001
	c.RIP = start
	wantExit(t, c.Run(10), ExitHlt)
	if c.R[isa.RAX] != 0x00070001 {
		t.Errorf("rax = %#x, want 0x70001", c.R[isa.RAX])
	}
}

// A store next to code, on the same page, leaves the decoded ops alone;
// a store over an instruction drops them.
func TestCodeCacheInvalidationIsPrecise(t *testing.T) {
	m := NewMemory()
	must(t, m.Map(0x400000, PageSize, PermRWX))
	// mov [rip+0x100], eax; hlt
	must(t, m.Write(0x400000, code(t, "89 05 00 01 00 00 f4")))
	c := NewCPU(m)
	c.RIP = 0x400000
	wantExit(t, c.Run(10), ExitHlt)
	p := m.pages[0x400]
	if p.code == nil {
		t.Fatal("a store to data beside the code dropped the decoded ops")
	}
	must(t, m.Write(0x400006, []byte{0x90}))
	if p.code != nil {
		t.Fatal("a write over an instruction kept the decoded ops")
	}
}

func TestBreakpoint(t *testing.T) {
	c := machine(t, "48 ff c0 48 ff c0 48 ff c0 f4") // inc rax x3; hlt
	c.mem.SetBreakpoint(kText + 6)
	wantExit(t, c.Run(100), ExitBreakpoint)
	if c.RIP != kText+6 || c.R[isa.RAX] != 2 {
		t.Fatalf("stopped at %#x with rax %d; want %#x, 2", c.RIP, c.R[isa.RAX], kText+6)
	}
	// Resuming executes the instruction under the breakpoint.
	wantExit(t, c.Run(100), ExitHlt)
	if c.R[isa.RAX] != 3 {
		t.Errorf("rax = %d after resume, want 3", c.R[isa.RAX])
	}
	// A Run that starts at a breakpoint for any other reason than resuming
	// from it — here the budget ran out just before — reports it.
	c.RIP = kText
	wantExit(t, c.Run(2), ExitBudget)
	wantExit(t, c.Run(100), ExitBreakpoint)
	if c.RIP != kText+6 || c.R[isa.RAX] != 5 {
		t.Fatalf("stopped at %#x with rax %d; want %#x, 5", c.RIP, c.R[isa.RAX], kText+6)
	}
	// And single-stepping stops at it once, then executes it.
	wantExit(t, c.Run(1), ExitBudget)
	if c.R[isa.RAX] != 6 {
		t.Fatalf("rax = %d after stepping over the breakpoint, want 6", c.R[isa.RAX])
	}
	c.mem.ClearBreakpoint(kText + 6)
	c.R[isa.RAX] = 3
	c.RIP = kText
	wantExit(t, c.Run(100), ExitHlt)
	if c.R[isa.RAX] != 6 {
		t.Errorf("rax = %d with the breakpoint cleared, want 6", c.R[isa.RAX])
	}
}

func TestSyscallSysret(t *testing.T) {
	m := NewMemory()
	must(t, m.Map(0x400000, PageSize, PermRX|PermUser))
	must(t, m.Map(kText, PageSize, PermRX))
	must(t, m.Write(0x400000, code(t, "0f 05 f4")))       // syscall; hlt (#GP at CPL 3)
	must(t, m.Write(kText, code(t, "48 ff c0 48 0f 07"))) // inc rax; sysretq
	c := NewCPU(m)
	c.SetCPL(3)
	c.RIP = 0x400000
	c.LSTAR, c.FMASK = kText, FlagIF|FlagDF
	c.TrapSyscalls = true
	c.SetRFLAGS(0x202 | FlagDF)
	wantExit(t, c.Run(10), ExitSyscall)
	if c.CPL != 0 || c.RIP != kText || c.R[isa.RCX] != 0x400002 || c.R[isa.R11] != 0x602 || c.RFLAGS() != 0x2 {
		t.Fatalf("after syscall: cpl %d rip %#x rcx %#x r11 %#x rflags %#x", c.CPL, c.RIP, c.R[isa.RCX], c.R[isa.R11], c.RFLAGS())
	}
	wantExit(t, c.Run(10), ExitSysret)
	if c.CPL != 3 || c.RIP != 0x400002 || c.RFLAGS() != 0x602 || c.R[isa.RAX] != 1 {
		t.Fatalf("after sysret: cpl %d rip %#x rflags %#x rax %d", c.CPL, c.RIP, c.RFLAGS(), c.R[isa.RAX])
	}
	if x := c.Run(10); x.Exc.Vector != VecGP {
		t.Errorf("hlt at CPL 3 after sysret: %+v, want #GP", x)
	}
	// Without TrapSyscalls the round trip does not stop Run.
	c.TrapSyscalls = false
	c.RIP, c.R[isa.RAX] = 0x400000, 0
	if x := c.Run(10); x.Exc.Vector != VecGP || c.R[isa.RAX] != 1 || c.Insns != 6 {
		t.Errorf("untrapped round trip: %+v rax %d insns %d", x, c.R[isa.RAX], c.Insns)
	}
}

// With LSTAR zero, syscall only stops (the user-mode runner's hook).
func TestSyscallWithoutLSTAR(t *testing.T) {
	c := machine(t, "0f 05 f4")
	wantExit(t, c.Run(10), ExitSyscall)
	if c.RIP != kText+2 || c.CPL != 0 {
		t.Errorf("rip %#x, want %#x", c.RIP, kText+2)
	}
}

func TestKernelAddressesAndStack(t *testing.T) {
	// call f; hlt; f: push rbp; mov rbp, rsp; mov rax, [rbp+8]; pop rbp; ret
	c := machine(t, "e8 01 00 00 00 f4 55 48 89 e5 48 8b 45 08 5d c3")
	wantExit(t, c.Run(100), ExitHlt)
	if c.R[isa.RAX] != kText+5 || c.R[isa.RSP] != kStack {
		t.Errorf("rax %#x rsp %#x; want return address %#x and a balanced stack", c.R[isa.RAX], c.R[isa.RSP], kText+5)
	}
}

func TestFSBase(t *testing.T) {
	c := machine(t, "64 48 8b 04 25 10 00 00 00 f4") // mov rax, fs:[0x10]
	c.FSBase = kData
	must(t, c.mem.WriteU64(kData+0x10, 0x1234))
	wantExit(t, c.Run(10), ExitHlt)
	if c.R[isa.RAX] != 0x1234 {
		t.Errorf("rax = %#x", c.R[isa.RAX])
	}
}

func TestMemoryHostAccess(t *testing.T) {
	m := NewMemory()
	must(t, m.Map(0x1000, 2*PageSize, PermR))
	if err := m.Map(0x2000, PageSize, PermR); err == nil {
		t.Error("double Map succeeded")
	}
	// Host writes ignore permissions and may cross pages.
	must(t, m.Write(0x1ffc, []byte{1, 2, 3, 4, 5, 6, 7, 8}))
	v, err := m.ReadU64(0x1ffc)
	if err != nil || v != 0x0807060504030201 {
		t.Errorf("ReadU64 = %#x, %v", v, err)
	}
	if err := m.Write(0x2ffc, make([]byte, 8)); err == nil {
		t.Error("write past the mapping succeeded")
	} else if ue, ok := err.(*UnmappedError); !ok || ue.Addr != 0x3000 {
		t.Errorf("error %v, want unmapped 0x3000", err)
	}
	if v, _ := m.ReadU64(0x2ff8); v != 0 {
		t.Error("a failed write changed memory")
	}
	must(t, m.Unmap(0x1000, PageSize))
	if _, ok := m.PermAt(0x1000); ok {
		t.Error("page still mapped after Unmap")
	}
}

// Table-driven checks of flag results the differential corpus cannot pin
// down (it masks undefined flags) and of lazy-flag bookkeeping.
func TestFlags(t *testing.T) {
	tests := []struct {
		name, text string
		rax, rbx   uint64
		wantRAX    uint64
		wantFlags  uint64 // status bits only
	}{
		{"add carry+zero", "48 01 d8", ^uint64(0), 1, 0, FlagCF | FlagZF | FlagPF | FlagAF},
		{"add signed overflow", "48 01 d8", 1 << 62, 1 << 62, 1 << 63, FlagOF | FlagSF | FlagPF},
		{"sub borrow", "48 29 d8", 0, 1, ^uint64(0), FlagCF | FlagSF | FlagPF | FlagAF},
		{"cmp 32-bit equal", "39 d8", 0xffff_ffff_0000_0005, 5, 0xffff_ffff_0000_0005, FlagZF | FlagPF},
		{"8-bit add into ah", "00 dc", 0x7f00, 0x01, 0x8000, FlagSF | FlagOF | FlagAF},
		{"inc keeps CF", "f9 48 ff c0", 0x7fffffffffffffff, 0, 1 << 63, FlagCF | FlagOF | FlagSF | FlagPF | FlagAF},
		{"dec to zero", "f8 48 ff c8", 1, 0, 0, FlagZF | FlagPF},
		{"neg zero clears CF", "48 f7 d8", 0, 0, 0, FlagZF | FlagPF},
		{"neg min", "48 f7 d8", 1 << 63, 0, 1 << 63, FlagCF | FlagOF | FlagSF | FlagPF},
		{"adc with carry", "f9 48 11 d8", ^uint64(0), 0, 0, FlagCF | FlagZF | FlagPF | FlagAF},
		{"sbb with carry", "f9 48 19 d8", 0, 0, ^uint64(0), FlagCF | FlagSF | FlagPF | FlagAF},
		{"shl by 1 sets OF", "48 d1 e0", 1 << 62, 0, 1 << 63, FlagOF | FlagSF | FlagPF},
		{"shr out of bit 0", "48 d1 e8", 3, 0, 1, FlagCF},
		{"sar negative", "48 d1 f8", ^uint64(0), 0, ^uint64(0), FlagCF | FlagSF | FlagPF},
		{"xor clears", "48 31 c0", 5, 0, 0, FlagZF | FlagPF},
		{"bt sets only CF", "f8 48 0f a3 d8", 4, 2, 4, FlagCF},
		{"stc cmc", "f9 f5", 0, 0, 0, 0},
		{"imul overflow", "48 0f af c3", 1 << 62, 4, 0, FlagCF | FlagOF | FlagZF | FlagPF},
	}
	for _, tt := range tests {
		for _, fast := range []bool{true, false} {
			isa.NoFastKinds = !fast
			c := machine(t, tt.text+" f4")
			c.SetRFLAGS(0x2)
			c.R[isa.RAX], c.R[isa.RBX] = tt.rax, tt.rbx
			wantExit(t, c.Run(10), ExitHlt)
			if got := c.RFLAGS() & flagsStatus; got != tt.wantFlags || c.R[isa.RAX] != tt.wantRAX {
				t.Errorf("%s (fast %v): rax %#x flags %#x; want %#x %#x", tt.name, fast, c.R[isa.RAX], got, tt.wantRAX, tt.wantFlags)
			}
		}
	}
	isa.NoFastKinds = false
}

// FuzzExecute runs arbitrary bytes as kernel and as user code: whatever
// they do, the host must not panic and Run must return an exit.
func FuzzExecute(f *testing.F) {
	for _, s := range []string{"48 ff c0 eb fb", "0f 05", "f3 a4", "48 f7 f3", "ff 13", "c6 05 00 00 00 00 90", "f0 48 0f b1 0b", "48 cf", "9d", "66 0f ef c0", "66 0f 7f 03", "66 0f d7 c1", "f3 0f 1e fa"} {
		f.Add(code(f, s), false, uint64(0))
	}
	f.Fuzz(func(t *testing.T, text []byte, user bool, seed uint64) {
		if len(text) > PageSize {
			text = text[:PageSize]
		}
		m := NewMemory()
		must(t, m.Map(kText, 2*PageSize, PermRWX|PermUser))
		must(t, m.Map(kData, PageSize, PermRW|PermUser))
		must(t, m.Map(kStack-PageSize, PageSize, PermRW|PermUser))
		must(t, m.Write(kText, text))
		c := NewCPU(m)
		for i := range 16 {
			c.R[i] = kData + (seed>>i)&0xff8
		}
		c.R[isa.RSP] = kStack - 64
		c.R[isa.RCX] = seed & 0xffff
		c.RIP = kText
		if user {
			c.SetCPL(3)
		}
		for range 4 {
			x := c.Run(2000)
			if x.Reason == ExitException && x.Exc.Vector == VecBP {
				continue
			}
			if x.Reason != ExitBudget && x.Reason != ExitHlt && x.Reason != ExitSyscall {
				break
			}
		}
	})
}

// An interrupt taken in user mode lands on the kernel stack with the frame
// iretq expects, and iretq goes back to user mode where it was.
func TestInterruptAndIret(t *testing.T) {
	m := NewMemory()
	must(t, m.Map(0x400000, PageSize, PermRX|PermUser))
	must(t, m.Map(0x7ff000, PageSize, PermRW|PermUser))
	must(t, m.Map(kText, PageSize, PermRX))
	must(t, m.Map(kStack-PageSize, PageSize, PermRW))
	must(t, m.Write(0x400000, code(t, "48 ff c0 eb fb"))) // 1: inc rax; jmp 1b
	must(t, m.Write(kText, code(t, "48 ff c3 48 cf")))    // inc rbx; iretq
	c := NewCPU(m)
	c.SetCPL(3)
	c.RIP, c.R[isa.RSP] = 0x400000, 0x7ff800
	c.SetRFLAGS(0x202)
	wantExit(t, c.Run(3), ExitBudget) // stopped before the jmp
	must(t, c.Interrupt(kText, kStack-8, nil))
	if c.CPL != 0 || c.RIP != kText || c.R[isa.RSP] != kStack-16-40 || c.RFLAGS()&FlagIF != 0 {
		t.Fatalf("after delivery: cpl %d rip %#x rsp %#x rflags %#x", c.CPL, c.RIP, c.R[isa.RSP], c.RFLAGS())
	}
	var frame [5]uint64
	for i := range frame {
		frame[i], _ = m.ReadU64(c.R[isa.RSP] + uint64(i)*8)
	}
	if frame != [5]uint64{0x400003, UserCS, 0x202, 0x7ff800, UserDS} {
		t.Errorf("frame %#x", frame)
	}
	wantExit(t, c.Run(2), ExitBudget) // inc rbx; iretq
	if c.CPL != 3 || c.RIP != 0x400003 || c.R[isa.RSP] != 0x7ff800 || c.RFLAGS() != 0x202 || c.R[isa.RBX] != 1 {
		t.Errorf("after iretq: cpl %d rip %#x rsp %#x rflags %#x rbx %d", c.CPL, c.RIP, c.R[isa.RSP], c.RFLAGS(), c.R[isa.RBX])
	}
	// With an unmapped kernel stack nothing changes and the error says so.
	before := *c
	if err := c.Interrupt(kText, 0x1000, nil); err == nil {
		t.Error("interrupt onto an unmapped stack succeeded")
	}
	if c.RIP != before.RIP || c.CPL != 3 || c.R != before.R {
		t.Error("a failed delivery changed the CPU")
	}
}

func TestSwapgs(t *testing.T) {
	c := machine(t, "0f 01 f8 65 48 8b 04 25 08 00 00 00 f4") // swapgs; mov rax, gs:[8]; hlt
	c.KernelGSBase = kData
	must(t, c.mem.WriteU64(kData+8, 77))
	wantExit(t, c.Run(10), ExitHlt)
	if c.R[isa.RAX] != 77 || c.GSBase != kData || c.KernelGSBase != 0 {
		t.Errorf("rax %d gs %#x kgs %#x", c.R[isa.RAX], c.GSBase, c.KernelGSBase)
	}
}

// HostCall serves a vmcall without leaving Run, or declines it.
func TestHostCall(t *testing.T) {
	c := machine(t, "0f 01 c1 0f 01 c1 f4") // vmcall; vmcall; hlt
	calls := 0
	c.HostCall = func() bool {
		calls++
		c.R[isa.RAX] = 42
		return calls == 1 // serve the first, decline the second
	}
	wantExit(t, c.Run(10), ExitHypercall)
	if calls != 2 || c.RIP != kText+6 || c.R[isa.RAX] != 42 || c.Insns != 2 {
		t.Errorf("calls %d rip %#x rax %d insns %d", calls, c.RIP, c.R[isa.RAX], c.Insns)
	}
}

// FuzzSSEFaultsPrecise runs one SSE-space instruction (0f escape, any
// mandatory prefix, fuzzed operand bytes) against registers pointing near
// page edges: whatever it does, a fault leaves every register, the XMM
// registers, RFLAGS and memory exactly as they were.
func FuzzSSEFaultsPrecise(f *testing.F) {
	for _, s := range []string{"66 0f 6f 07", "66 0f 7f 47 f8", "f3 0f 7f 0f", "0f 11 4e 01", "66 0f d6 47 fc", "66 0f ef 0e", "0f 17 47 fc", "66 0f 11 00"} {
		b := code(f, s)
		f.Add(b[0], b[1:], uint64(0xff8))
	}
	f.Fuzz(func(t *testing.T, prefix byte, rest []byte, off uint64) {
		if len(rest) > 16 {
			rest = rest[:16]
		}
		text := []byte{0x0f}
		switch prefix % 4 {
		case 1:
			text = []byte{0x66, 0x0f}
		case 2:
			text = []byte{0xf3, 0x0f}
		case 3:
			text = []byte{0xf2, 0x0f}
		}
		text = append(text, rest...)
		m := NewMemory()
		must(t, m.Map(kText, PageSize, PermRX|PermUser))
		must(t, m.Map(kData, PageSize, PermRW|PermUser))
		must(t, m.Map(kData+PageSize, PageSize, PermR|PermUser)) // read-only next page
		must(t, m.Write(kText, text))
		c := NewCPU(m)
		for i := range 16 {
			c.R[i] = kData + (off+uint64(i)*8)&0x1fff
			c.X[i] = Xmm{uint64(i) * 0x0101010101010101, ^uint64(i)}
		}
		c.RIP = kText
		c.SetCPL(3)
		var before, after bytes.Buffer
		c.WriteState(&before)
		m.WriteState(&before)
		x := c.Run(1)
		if x.Reason != ExitException || c.RIP != kText {
			return // ran, or a trap (RIP past it)
		}
		c.WriteState(&after)
		m.WriteState(&after)
		if !bytes.Equal(before.Bytes(), after.Bytes()) {
			t.Fatalf("% x: %v changed the state", text, x.Exc)
		}
	})
}

// A fault on the instruction fetch itself (rip on a page that is not
// mapped or not executable) retires nothing: the instruction count stays.
func TestFetchFaultCountsNothing(t *testing.T) {
	c := machine(t, "90 90 e9 f9 1f 00 00") // nop; nop; jmp to kText+2*PageSize (not code)
	must(t, c.Memory().Map(kText+2*PageSize, PageSize, PermRW))
	for _, rip := range []uint64{0x1000, kText + 2*PageSize} {
		c.RIP = rip
		before := c.Insns
		x := c.Run(10)
		if x.Reason != ExitException || x.Exc.Vector != VecPF || c.Insns != before {
			t.Errorf("rip %#x: %v %v, %d instructions retired; want a #PF and none", rip, x.Reason, x.Exc, c.Insns-before)
		}
	}
	c.RIP = kText
	before := c.Insns
	if x := c.Run(10); x.Reason != ExitException || x.Exc.RIP != kText+2*PageSize || c.Insns-before != 3 {
		t.Errorf("nop; nop; jmp: %v %v, %d retired; want the #PF at the next page after 3", x.Reason, x.Exc, c.Insns-before)
	}
}

// TestKernelFlagOps: pushfq, popfq, cli and sti at CPL 0 (the interpreter
// has fast paths for them) against what they must do, single-stepped and
// in blocks, and at CPL 3, where cli faults and popfq leaves IF alone.
func TestKernelFlagOps(t *testing.T) {
	// cmp sets ZF; sti; pushfq; pop rax (IF and ZF set); cli; pushfq;
	// pop rbx (IF clear); add rbx, 1 (ZF clear); push rax; popfq (IF
	// back, ZF back); pushfq; pop rcx; hlt.
	const text = "48 39 c0 fb 9c 58 fa 9c 5b 48 83 c3 01 50 9d 9c 59 f4"
	for _, budget := range []uint64{1, 1 << 20} {
		c := machine(t, text)
		for {
			x := c.Run(budget)
			if x.Reason == ExitHlt {
				break
			}
			wantExit(t, x, ExitBudget)
		}
		if c.R[isa.RAX]&(FlagIF|FlagZF) != FlagIF|FlagZF || c.R[isa.RBX]&FlagIF != 0 ||
			c.R[isa.RCX] != c.R[isa.RAX] || c.R[isa.RSP] != kStack {
			t.Errorf("budget %d: rax %#x rbx %#x rcx %#x rsp %#x", budget, c.R[isa.RAX], c.R[isa.RBX], c.R[isa.RCX], c.R[isa.RSP])
		}
	}
	// At CPL 3 popfq cannot change IF, and cli is #GP.
	c := machine(t, "6a 00 9d fa f4") // push 0; popfq; cli
	c.mem.Protect(kText, 2*PageSize, PermRX|PermUser)
	c.mem.Protect(kStack-4*PageSize, 4*PageSize, PermRW|PermUser)
	c.SetRFLAGS(FlagIF)
	c.SetCPL(3)
	x := c.Run(100)
	if x.Reason != ExitException || x.Exc.Vector != VecGP || c.RFLAGS()&FlagIF == 0 || c.RIP != kText+3 {
		t.Errorf("CPL 3: %v, rflags %#x, rip %#x; want #GP at the cli with IF still set", x, c.RFLAGS(), c.RIP)
	}
}

// TestSegmentLoadsStores: fs- and gs-relative moves (the kernel's per-CPU
// data, user TLS) give the same results with and without their fast kinds,
// on a page and across the end of one (the slow path), and fault where the
// base puts them.
func TestSegmentLoadsStores(t *testing.T) {
	// mov rax, fs:[0x8]; mov gs:[0x10], rbx; mov ecx, dword ptr gs:[0x10];
	// mov rdx, qword ptr gs:[0xefc] (crosses the page end: #PF); hlt
	const text = "64 48 8b 04 25 08 00 00 00 65 48 89 1c 25 10 00 00 00 65 8b 0c 25 10 00 00 00 65 48 8b 14 25 fc 0e 00 00 f4"
	var want [5]uint64
	for i, fast := range []bool{false, true} {
		isa.NoFastKinds = !fast
		c := machine(t, text)
		must(t, c.mem.Write(kData+0x48, []byte{1, 2, 3, 4, 5, 6, 7, 8}))
		c.FSBase, c.GSBase = kData+0x40, kData+0x100
		c.R[isa.RBX] = 0x1122334455667788
		x := c.Run(100)
		got := [5]uint64{c.R[isa.RAX], c.R[isa.RCX], c.RIP, c.Insns, x.Exc.Addr}
		if x.Reason != ExitException || x.Exc.Vector != VecPF || c.RIP != kText+26 {
			t.Errorf("fast %v: %v; want a #PF at the last mov", fast, x)
		}
		if got[0] != 0x0807060504030201 || got[1] != 0x55667788 {
			t.Errorf("fast %v: rax %#x rcx %#x", fast, got[0], got[1])
		}
		if i == 1 && got != want {
			t.Errorf("fast: %x; generic: %x", got, want)
		}
		want = got
	}
	isa.NoFastKinds = false
}
