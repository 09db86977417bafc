package kernel

import (
	"strings"
	"testing"
)

// A built-in is part of the kernel image: its functions are vmlinux
// symbols, exported to modules, traceable, and it can call vmlinux.
func TestLoadBuiltin(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	err := k.LoadBuiltin("extra.S", []byte(`.intel_syntax noprefix
	.text
	.globl extra_hello
	.type extra_hello, @function
extra_hello:
	.fentry
	push rbp
	mov rbp, rsp
	lea rdi, [rip + msg]
	call _printk
	pop rbp
	ret
	.size extra_hello, .-extra_hello
	.section .rodata
msg:	.asciz "\0016extra: hello\n"
# EXPORT_SYMBOL(extra_hello)
	.section .export_symbol, "a"
__export_symbol_extra_hello:
	.asciz ""
	.balign 8
	.quad extra_hello
`))
	if err != nil {
		t.Fatal(err)
	}
	addr, ok := k.Sym("extra_hello")
	if !ok || addr < k.vmlinux.end() || addr >= modulesBase {
		t.Fatalf("extra_hello at %#x", addr)
	}
	if s, ok := k.Syms.LookupExport("extra_hello"); !ok || s.Module != "" {
		t.Error("not exported as a vmlinux symbol")
	}
	if _, ok := k.FtraceLocation(addr); !ok {
		t.Error("not traceable")
	}
	k.RunOnTask("caller", func(ctx *OpCtx) uint64 { return ctx.Call(addr) }, 1e9)
	if recs := k.Log.Records(); !strings.HasSuffix(recs[len(recs)-1].Text, "extra: hello") {
		t.Errorf("last record %q", recs[len(recs)-1].Text)
	}
	if err := k.LoadBuiltin("bad.S", []byte("call nowhere\n")); err == nil {
		t.Error("a built-in with an undefined symbol linked")
	}
}
