package kernel

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// WARN from a host operation is reported at the guest function whose body
// the operation is (the caller of kernel_op), with that function's frame
// in RSP and RBP — not kernel_op's, where the CPU really is — and with a
// call trace from its caller; it taints the kernel W, and a WarnOnce site
// fires once.
func TestWarn_ReportsTheCallersFrame(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	site := &WarnSite{File: "kernel/test/warn.c", Line: 42}
	op := k.RegisterOp("warner", func(ctx *OpCtx) uint64 {
		k.WarnOnce(ctx, site, true)
		k.WarnOnce(ctx, site, true) // already done: silent
		return 0
	})
	// warn_body has 32 bytes of locals, so its rsp at the return from
	// kernel_op is rbp - 32; kernel_op's own frame has none.
	loadTestCode(t, k, fmt.Sprintf(`
	.text
	.globl warn_body
	.type warn_body, @function
warn_body:
	.fentry
	push rbp
	mov rbp, rsp
	sub rsp, 32
	mov rdi, %d
	xor esi, esi
	call kernel_op
	leave
	ret
	.size warn_body, .-warn_body
	.globl warn_caller
	.type warn_caller, @function
warn_caller:
	.fentry
	push rbp
	mov rbp, rsp
	call warn_body
	pop rbp
	ret
	.size warn_caller, .-warn_caller
`, op))
	seq := k.Log.NextSeq()
	if _, err := k.RunOnTask("warner", func(ctx *OpCtx) uint64 {
		return ctx.Call(testSym(t, k, "warn_caller"))
	}, 1e9); err != nil {
		t.Fatal(err)
	}
	splat := strings.Join(logSince(k, seq), "\n")
	for _, w := range []string{
		`(?m)^------------\[ cut here \]------------$`,
		`(?m)^WARNING: CPU: 0 PID: \d+ at kernel/test/warn.c:42 warn_body\+0x[0-9a-f]+/0x[0-9a-f]+ \[kselftest\]$`,
		`(?m)^RIP: 0010:warn_body\+`,
		`(?s)Call Trace:\n <TASK>\n warn_caller\+0x[0-9a-f]+/0x[0-9a-f]+ \[kselftest\]\n`,
		`(?m)^---\[ end trace 0000000000000000 \]---$`,
	} {
		if !regexp.MustCompile(w).MatchString(splat) {
			t.Errorf("no %q in:\n%s", w, splat)
		}
	}
	if n := strings.Count(splat, "cut here"); n != 1 {
		t.Errorf("%d splats, want 1 (WARN_ON_ONCE)", n)
	}
	m := regexp.MustCompile(`RSP: 0018:([0-9a-f]{16})[\s\S]*RBP: ([0-9a-f]{16})`).FindStringSubmatch(splat)
	if m == nil {
		t.Fatalf("no RSP/RBP in:\n%s", splat)
	}
	sp, _ := strconv.ParseUint(m[1], 16, 64)
	bp, _ := strconv.ParseUint(m[2], 16, 64)
	if bp-sp != 32 {
		t.Errorf("RSP %#x, RBP %#x: want warn_body's frame (rsp = rbp - 32)", sp, bp)
	}
	if k.Tainted()&(1<<TaintWarn) == 0 {
		t.Errorf("tainted %#x: no TAINT_WARN", k.Tainted())
	}
}
