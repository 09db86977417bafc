package emu_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"klpsim/emu"
	"klpsim/isa"
	"klpsim/isa/asm"
)

// eagerJIT makes every block translated the first time it runs, for the
// rest of the test, and skips the test where there is no translator.
func eagerJIT(t testing.TB) {
	t.Helper()
	if runtime.GOARCH != "amd64" || os.Getenv("KLPSIM_JIT") == "off" {
		t.Skip("no translator here: it emits amd64 code, and KLPSIM_JIT=off turns it off")
	}
	on := emu.SetJIT(true)
	n := emu.SetJITThreshold(1)
	t.Cleanup(func() { emu.SetJIT(on); emu.SetJITThreshold(n) })
}

// translated runs a fresh CPU from mk to its end and returns how many
// blocks the translator compiled: the tests below would prove nothing if
// it compiled none.
func translated(t *testing.T, mk func() *emu.CPU) int {
	c := mk()
	for c.Run(1<<20).Reason == emu.ExitBudget {
	}
	n, _, _ := c.Memory().JITStats()
	return n
}

// jitProg has an instance of every op the translator compiles, with the
// flag states it must read (carry for inc/dec, conditions for jcc and
// cmov, RFLAGS for pushfq) left by every flag kind, in the same block and
// across blocks (read when the op runs), and the ops it leaves to the
// interpreter in between; it ends in a fault inside a translated block.
const jitProg = `
	mov r15, 6
	mov rbx, 0x123456789
	mov rdi, -7
	mov r12, 0x7fffffff
9:	mov eax, ebx
	mov rdx, rdi
	mov r8, 0x1122334455667788
	mov r9d, -1
	lea r10, [rbx + rdi*4 + 0x40]
	lea r13d, [rdi*8 - 3]
	lea r14, [rsi - 0x1000]
	mov r14, [rip + f]
	movsxd rax, r9d
	mov [rsi], rbx
	mov [rsi + 8], r9d
	mov qword ptr [rsi + 16], -5
	mov dword ptr [rsi + 24], 0x80000000
	mov r10, [rsi + rcx*8]
	mov r13d, [rsi + 8]
	movzx eax, byte ptr [rsi + 3]
	movzx r14, word ptr [rsi + 9]
	add [rsi + 16], rbx
	add [rsi + 24], r12d
	mov dword ptr [rsi + 28], -1
	add [rsi + 28], r15d
	adc qword ptr [rsi + 64], 0	# the interpreter reads the carry from fr
	add [rsi + 28], r15d
	pushfq				# and the translation from fa and fb
	pop r8
	cmp rdx, [rsi]
	jl 1f
	cmp byte ptr [rsi + 2], 0x45
	jbe 1f
	cmp dword ptr [rsi + 24], 7
	cmp qword ptr [rsi], -1
1:	add rbx, rdi
	sub r12d, 0x10
	adc rax, 1
	inc r9
	cmp r12d, ebx
	inc rdx
	and r8, rdi
	dec r8d
	test r8d, 0x100
	dec rcx
	inc rcx
	or rax, 0x55
	xor r13d, r12d
	shl rbx, 3
	inc r10
	shr r12d, 5
	inc r10
	rol ebx, 7
	ror r8, 13
	imul rdx, rdi
	imul r9d, r12d, 0x10001
	inc r10
	cmovl r14, rbx
	cmovae r13d, edx
	add r12d, ebx
	cmovo rax, r8
	jc 2f
	sub r9, r12
	jg 2f
	inc qword ptr [rsi + 32]
	dec byte ptr [rsi + 40]
	inc word ptr [rsi + 42]
	dec dword ptr [rsi + 44]
	cmovne r9, rdx
	test rax, rbx
	cmovs r10, rdx
	mov byte ptr [rsi + 80], al	# generic forms: byte and word operands,
	mov [rsi + 82], r13w		# memory destinations, merges into
	mov byte ptr [rsi + 84], 0x9c	# registers
	mov dl, [rsi + 3]
	mov r8w, r9w
	add byte ptr [rsi + 80], dl
	sub word ptr [rsi + 82], 0x1234
	cmp [rsi + 16], rbx
	setb byte ptr [rsi + 86]
	test byte ptr [rsi + 84], 0x80
	setnz r9b
	and r12w, [rsi + 82]
	xor dl, 0x5a
	or [rsi + 24], r13d
	cmp dl, byte ptr [rsi + 80]
	setle al
	movzx r13d, dl
	mov [rsi + 88], rdx		# the merges' upper bytes, kept
	mov [rsi + 96], r8
	movzx r8w, byte ptr [rsi + 84]
	movsx rdx, byte ptr [rsi + 84]
	mov [rsi + 104], r8
	mov r8w, 0x8001
	movsx r12d, r8w
	movsx r9w, dl
	mov [rsi + 112], r9
	mov [rsi + 120], r12
	movsxd r14, dword ptr [rsi + 24]
	add ah, dl			# a high-byte register: left to the interpreter
	cmp r13d, 5
	mov r10, -1
	adc r10, rbx			# the interpreter's flags, read by the translation
	setc byte ptr [rsi + 128]
	cmovc r14, r10
2:	mov rax, fs:[8]
	mov gs:[48], rbx
	mov ecx, gs:[48]
	and ecx, 63
	push rbx
	push rdx
	push 0x1234
	pushfq
	pop r8
	popfq
	jz 3f
	pushfq
	pop rdx
	pop rbx
	cli
	pushfq
	sti
	pushfq
	swapgs
	pop rdx
	swapgs
	popfq
	call f
	call k
	add eax, 1			# skipped: k returns past it
	lea r8, [rip + f]
	call r8
	cmp eax, 1000
	ja 3f
	add eax, r9d
3:	xor eax, ebx
	test r12d, 0
	pushfq
	pop r8
	cmp r12d, 0x1f
	pushfq
	add r8, [rsp]
	pop rdx
	push 0x41
	popfq
	adc rax, 0
	push 0x41
	popfq
	inc r13				# the carry from raw flags
	pushfq
	pop rdx
	push 0x41
	popfq
	jz 5f
5:	dec r13				# from raw flags, found when it runs
	push qword ptr gs:[48]
	pop rdx
	push qword ptr [rsi + 8]
	pop r8
	mov [rsi + 56], rax
	dec r15
	jnz 9b
	mov rbx, [rsi + 8192 - 8]
	mov rbx, [rsi + 8192]		# faults: past the data pages
	hlt
f:	add eax, 1
	test eax, 2
	jnz 4f
	sub eax, 3
4:	ret
k:	pop rdx
	add rdx, 3
	push rdx
	ret
`

func jitCPU(t *testing.T) *emu.CPU {
	c := progCPU(t, jitProg)
	c.R[isa.RSI] = bData
	c.FSBase, c.GSBase, c.KernelGSBase = bData+128, bData+256, bData+512
	return c
}

// TestJITMatchesStepping runs the programs of the block tests and jitProg
// with every block translated, at budgets of every size, against
// single-stepping (which never builds blocks, so never translates): every
// stop must be a state the stepped run passed through, the faults and
// watchpoint hits the same.
func TestJITMatchesStepping(t *testing.T) {
	eagerJIT(t)
	progs := []struct {
		name string
		mk   func(t *testing.T) *emu.CPU
	}{
		{"jit", jitCPU},
		{"block", func(t *testing.T) *emu.CPU { return blockCPU(t, false) }},
		{"block-watched", func(t *testing.T) *emu.CPU { return blockCPU(t, true) }},
		{"runs", runCPU},
		{"rets", func(t *testing.T) *emu.CPU { return progCPU(t, retProg) }},
		{"cross-page", func(t *testing.T) *emu.CPU { return progCPU(t, crossProg) }},
	}
	for _, p := range progs {
		t.Run(p.name, func(t *testing.T) {
			mk := func() *emu.CPU { return p.mk(t) }
			c, refExc, ref := stepped(t, mk())
			matchStepping(t, mk, refExc, c.Insns, ref)
			if n := translated(t, mk); n == 0 {
				t.Errorf("no block was translated")
			}
		})
	}
}

// TestJITChainFollowsChanges is TestChainFollowsChanges with every block
// translated: translated code is dropped with its block.
func TestJITChainFollowsChanges(t *testing.T) {
	eagerJIT(t)
	TestChainFollowsChanges(t)
}

// TestJITFusedBranches is TestFusedBranches with every block translated:
// each condition after cmp and test, in a translated block, against the
// pair stepped.
func TestJITFusedBranches(t *testing.T) {
	eagerJIT(t)
	TestFusedBranches(t)
}

// FuzzJIT builds a loop from the fuzzer's bytes, each picking one of the
// instruction forms below with registers, immediates and offsets from the
// bytes after it, and runs it translated against single-stepping.
func FuzzJIT(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	f.Add([]byte("\x21\x03\x07\x30\x01\x02\x33\x05\x06\x19\x44\x02\x35\x00\x01"))
	f.Add([]byte("\x3a\x01\x02\x03\x3b\x04\x05\x06\x3c\x07\x08\x09\x3d\x0a\x0b\x0c"))
	f.Fuzz(func(t *testing.T, prog []byte) {
		eagerJIT(t)
		src := jitFuzzProg(prog)
		if _, err := asm.Assemble("f.S", []byte(".intel_syntax noprefix\n.text\n"+src+"\n")); err != nil {
			t.Skipf("no such instruction (ah with a REX register, say): %v", err)
		}
		mk := func() *emu.CPU {
			c := progCPU(t, src)
			c.R[isa.RSI] = bData + 1024
			return c
		}
		c, refExc, ref := stepped(t, mk())
		matchStepping(t, mk, refExc, c.Insns, ref)
	})
}

var jitForms = []string{
	"add %q, %q", "sub %q, %q", "and %q, %q", "or %q, %q", "xor %q, %q", "cmp %q, %q", "test %q, %q",
	"add %d, %d", "sub %d, %d", "and %d, %d", "or %d, %d", "xor %d, %d", "cmp %d, %d", "test %d, %d",
	"add %q, %i", "sub %d, %i", "and %q, %i", "or %d, %i", "xor %q, %i", "cmp %d, %i", "test %q, %i",
	"imul %q, %q", "imul %d, %d, %i", "inc %q", "dec %d", "shl %q, %s", "shr %d, %s", "rol %d, %s", "ror %q, %s",
	"mov %q, %q", "mov %d, %d", "mov %q, %I", "lea %q, [%q + %q*4 + %i]", "movsxd %q, %d", "adc %q, %q",
	"mov %q, [rsi + %m]", "mov [rsi + %m], %q", "mov dword ptr [rsi + %m], %i", "movzx %d, byte ptr [rsi + %m]",
	"movzx %q, word ptr [rsi + %m]", "add [rsi + %m], %q", "cmp %q, [rsi + %m]", "cmp byte ptr [rsi + %m], %b",
	"cmp qword ptr [rsi + %m], %i", "inc qword ptr [rsi + %m]", "dec byte ptr [rsi + %m]",
	"push %q", "pop %q", "push %i", "cmov%c %q, %q", "j%c 1f\n\tnot %q\n1:", "pushfq\n\tpop %q",
	"push %q\n\tand qword ptr [rsp], 0x8d5\n\tpopfq", "call 2f\n\tjmp 3f\n2:\tadd %q, 1\n\tret\n3:",
	"mov [rsi + %m], %q\n\tmov [rsi + %m], %q", "push %q\n\tpush %q\n\tpop %q\n\tpop %q",
	"cmp %q, %q\n\tj%c 1f\n\tinc %q\n1:", "dec %d\n\tjnz 1f\n\tinc %q\n1:",
	"mov byte ptr [rsi + %m], %B", "mov [rsi + %m], %w", "mov %B, [rsi + %m]", "mov %w, %w",
	"add %B, %B", "sub byte ptr [rsi + %m], %b", "cmp [rsi + %m], %q", "test %B, %b", "xor %w, [rsi + %m]",
	"cmp %q, %q\n\tset%c %B", "test %d, %d\n\tset%c byte ptr [rsi + %m]",
	"movzx %d, %B", "movzx %w, byte ptr [rsi + %m]", "movsx %q, %B", "movsx %d, word ptr [rsi + %m]", "movsx %w, %B",
}

var jitRegs = []string{"rax", "rbx", "rcx", "rdx", "rdi", "r8", "r9", "r10", "r12", "r13", "r14"}
var jitBytes = []string{"al", "bl", "cl", "dl", "dil", "r8b", "r9b", "r10b", "r12b", "ah", "bh"}
var jitWords = []string{"ax", "bx", "cx", "dx", "di", "r8w", "r9w", "r10w", "r12w", "r13w", "r14w"}
var jitConds = []string{"o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"}

// jitFuzzProg turns b into a loop body of jitForms, run three times.
func jitFuzzProg(b []byte) string {
	next := func() byte {
		if len(b) == 0 {
			return 0
		}
		v := b[0]
		b = b[1:]
		return v
	}
	var body strings.Builder
	for n := 0; len(b) > 0 && n < 40; n++ {
		form := jitForms[int(next())%len(jitForms)]
		var out strings.Builder
		for i := 0; i < len(form); i++ {
			if form[i] != '%' {
				out.WriteByte(form[i])
				continue
			}
			i++
			v := next()
			switch form[i] {
			case 'q':
				out.WriteString(jitRegs[int(v)%len(jitRegs)])
			case 'd':
				r := jitRegs[int(v)%len(jitRegs)]
				if r[1] >= '0' && r[1] <= '9' {
					r += "d"
				} else {
					r = "e" + r[1:]
				}
				out.WriteString(r)
			case 'B':
				out.WriteString(jitBytes[int(v)%len(jitBytes)])
			case 'w':
				out.WriteString(jitWords[int(v)%len(jitWords)])
			case 'i':
				out.WriteString(fmt.Sprint(int32(int8(v)) * 0x1010101))
			case 'I':
				out.WriteString(fmt.Sprintf("%#x", uint64(v)*0x0101010101010101))
			case 'b':
				out.WriteString(fmt.Sprint(v))
			case 's':
				out.WriteString(fmt.Sprint(v%31 + 1))
			case 'm':
				out.WriteString(fmt.Sprint(int(v%128) * 8))
			case 'c':
				out.WriteString(jitConds[v%16])
			}
		}
		body.WriteString("\t" + out.String() + "\n")
	}
	return "\tmov r15, 3\n9:\n" + body.String() + "\tdec r15\n\tjnz 9b\n\tud2\n"
}
