package kernel

import (
	"testing"

	"klpsim/isa/asm"
	"klpsim/isa/obj"
)

// testCodeBase is where tests load extra kernel code (out of the way of
// the module area's first allocations).
const testCodeBase = 0xffffffffc0000000

// loadTestCode assembles src, links it against vmlinux's symbols, maps it
// and registers its symbols (as module "kselftest") and ftrace sites: the
// workloads tests run as kthreads.
func loadTestCode(tb testing.TB, k *Kernel, src string) {
	tb.Helper()
	o, err := asm.AssembleWith("kselftest.S", []byte(".intel_syntax noprefix\n.text\n"+src), asm.Options{Defsym: abiSymbols()})
	if err != nil {
		tb.Fatal(err)
	}
	// Each load gets the next free megabyte.
	base := uint64(testCodeBase)
	for {
		if _, mapped := k.mem.PermAt(base); !mapped {
			break
		}
		base += 0x100000
	}
	img, err := link([]string{"kselftest"}, []*obj.Object{o}, base, func(name string) (uint64, bool) {
		return k.vmlinux.sym(name)
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := img.mapInto(k.mem); err != nil {
		tb.Fatal(err)
	}
	if err := k.addSymbols("kselftest", img); err != nil {
		tb.Fatal(err)
	}
	k.addFtraceRecords("kselftest", img)
}

// testSym is the address of a symbol loadTestCode loaded.
func testSym(tb testing.TB, k *Kernel, name string) uint64 {
	tb.Helper()
	for _, s := range k.Syms.ByName(name) {
		return s.Addr
	}
	tb.Fatalf("no symbol %s", name)
	return 0
}

// Workloads for the benchmarks and tests: a kthread that yields forever,
// and one that sleeps in msleep a few frames deep.
const workloads = `
	.text
	.globl yield_loop
	.type yield_loop, @function
yield_loop:
	.fentry
	push rbp
	mov rbp, rsp
1:	call schedule
	jmp 1b
	.size yield_loop, .-yield_loop

	.globl sleep_loop
	.type sleep_loop, @function
sleep_loop:
	.fentry
	push rbp
	mov rbp, rsp
1:	call sleep_deeper
	jmp 1b
	.size sleep_loop, .-sleep_loop

	.globl sleep_deeper
	.type sleep_deeper, @function
sleep_deeper:
	.fentry
	push rbp
	mov rbp, rsp
	mov edi, 1000
	call msleep
	pop rbp
	ret
	.size sleep_deeper, .-sleep_deeper
`
