package kernel

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"klpsim/kernel/errno"
)

// kprobeModSrc is a test_klp_kprobe-like module: a struct kprobe on
// cmdline_proc_show (symbol_name at +48, pre_handler at +64, post_handler
// at +72) whose handlers count their calls and note regs->ip; kp_init
// registers it with register_kprobe, kp_exit unregisters it. post selects
// has_post_handler.
func kprobeModSrc(post bool) string {
	postHandler := "0"
	if post {
		postHandler = "kp_post"
	}
	return `
	.globl kp_init
	.type kp_init, @function
kp_init:
	.fentry
	push rbp
	mov rbp, rsp
	lea rdi, [rip + kp]
	call register_kprobe
	pop rbp
	ret
	.size kp_init, .-kp_init

	.globl kp_exit
	.type kp_exit, @function
kp_exit:
	.fentry
	push rbp
	mov rbp, rsp
	lea rdi, [rip + kp]
	call unregister_kprobe
	pop rbp
	ret
	.size kp_exit, .-kp_exit

# int kp_pre(struct kprobe *p, struct pt_regs *regs)
	.type kp_pre, @function
kp_pre:
	.fentry
	push rbp
	mov rbp, rsp
	inc qword ptr [rip + pre_count]
	mov rax, qword ptr [rsi + PT_IP]
	mov qword ptr [rip + pre_ip], rax
	xor eax, eax
	pop rbp
	ret
	.size kp_pre, .-kp_pre

# void kp_post(struct kprobe *p, struct pt_regs *regs, unsigned long flags)
	.type kp_post, @function
kp_post:
	.fentry
	push rbp
	mov rbp, rsp
	inc qword ptr [rip + post_count]
	mov rax, qword ptr [rsi + PT_IP]
	mov qword ptr [rip + post_ip], rax
	pop rbp
	ret
	.size kp_post, .-kp_post

	.section .rodata
kp_name:
	.asciz "cmdline_proc_show"

	.data
	.balign 8
	.globl kp
	.type kp, @object
kp:
	.zero 48
	.quad kp_name			# symbol_name
	.long 0				# offset
	.long 0
	.quad kp_pre			# pre_handler
	.quad ` + postHandler + `	# post_handler
	.zero 48
	.size kp, .-kp
	.type pre_count, @object
pre_count:
	.quad 0
	.type post_count, @object
post_count:
	.quad 0
	.type pre_ip, @object
pre_ip:
	.quad 0
	.type post_ip, @object
post_ip:
	.quad 0
	.text
`
}

// callGuest runs fn() on a new task (insmod-like) and returns its int
// result.
func callGuest(t *testing.T, k *Kernel, fn uint64) int32 {
	t.Helper()
	ret, err := k.RunOnTask("insmod", func(ctx *OpCtx) uint64 { return ctx.Call(fn) }, 1e9)
	if err != nil {
		t.Fatal(err)
	}
	return int32(ret)
}

func readU64(t *testing.T, k *Kernel, sym string) uint64 {
	t.Helper()
	v, err := k.mem.ReadU64(testSym(t, k, sym))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A guest module's kprobe with a post handler counts the calls of
// cmdline_proc_show while /proc/cmdline is read: pre_handler sees regs->ip
// = function + 1 (the int3 it emulates), post_handler function + 5; the
// probe shows in debugfs and enabled = 0 disarms it.
func TestKprobe_GuestModuleCountsCalls(t *testing.T) {
	k := boot(t, Config{CPUs: 2})
	loadTestCode(t, k, kprobeModSrc(true))
	cmdline := k.sym("cmdline_proc_show")
	if r := callGuest(t, k, testSym(t, k, "kp_init")); r != 0 {
		t.Fatalf("register_kprobe: %d", r)
	}
	if a := readU64(t, k, "kp") + 0; a != 0 { // hlist untouched
		t.Errorf("kp+0 = %#x", a)
	}
	if a, _ := k.mem.ReadU64(testSym(t, k, "kp") + kpAddr); a != cmdline {
		t.Errorf("p->addr = %#x, want cmdline_proc_show %#x", a, cmdline)
	}
	for range 2 {
		if got := shell(t, k, "cat /proc/cmdline"); !strings.HasPrefix(got, "BOOT_IMAGE=") {
			t.Fatalf("/proc/cmdline: %q", got)
		}
	}
	if pre, post := readU64(t, k, "pre_count"), readU64(t, k, "post_count"); pre != 2 || post != 2 {
		t.Errorf("pre %d post %d, want 2 and 2", pre, post)
	}
	if ip := readU64(t, k, "pre_ip"); ip != cmdline+1 {
		t.Errorf("pre_handler regs->ip %#x, want %#x", ip, cmdline+1)
	}
	if ip := readU64(t, k, "post_ip"); ip != cmdline+5 {
		t.Errorf("post_handler regs->ip %#x, want %#x", ip, cmdline+5)
	}
	wantList := fmt.Sprintf("%016x  k  cmdline_proc_show+0x0    [FTRACE]\n", cmdline)
	if got := shell(t, k, "cat /sys/kernel/debug/kprobes/list"); got != wantList {
		t.Errorf("list %q, want %q", got, wantList)
	}
	for file, mode := range map[string]string{"list": "-r--------", "enabled": "-rw-------"} {
		if m, err := k.FS.StatMode(nil, "/sys/kernel/debug/kprobes/"+file); err != nil || m != mode {
			t.Errorf("%s: %s %v, want %s", file, m, err, mode)
		}
	}
	if ks := shell(t, k, "cat /proc/kallsyms"); !strings.Contains(ks, " d kprobe_ftrace_ops\n") {
		t.Error("/proc/kallsyms has no kprobe_ftrace_ops (test-kprobe.sh would skip)")
	}

	shell(t, k, "echo 0 > /sys/kernel/debug/kprobes/enabled")
	if got := shell(t, k, "cat /sys/kernel/debug/kprobes/enabled"); got != "0\n" {
		t.Errorf("enabled reads %q", got)
	}
	if siteBytes(t, k, cmdline)[0] != 0x0f {
		t.Error("site still a call with kprobes disarmed")
	}
	shell(t, k, "cat /proc/cmdline")
	if pre := readU64(t, k, "pre_count"); pre != 2 {
		t.Errorf("disarmed probe ran: pre %d", pre)
	}
	shell(t, k, "echo 1 > /sys/kernel/debug/kprobes/enabled")
	shell(t, k, "cat /proc/cmdline")
	if pre := readU64(t, k, "pre_count"); pre != 3 {
		t.Errorf("re-armed probe: pre %d, want 3", pre)
	}
	var log strings.Builder
	for _, r := range k.Log.Records() {
		log.WriteString(r.Text + "\n")
	}
	if !strings.Contains(log.String(), "kprobes: Kprobes globally disabled\nkprobes: Kprobes globally enabled\n") {
		t.Errorf("log:\n%s", log.String())
	}

	callGuest(t, k, testSym(t, k, "kp_exit"))
	if siteBytes(t, k, cmdline)[0] != 0x0f {
		t.Error("site still a call after unregister_kprobe")
	}
	if got := shell(t, k, "cat /sys/kernel/debug/kprobes/list"); got != "" {
		t.Errorf("list after unregister: %q", got)
	}
}

// test-kprobe.sh case 1 and its mirror: a probe with a post_handler uses
// kprobe_ipmodify_ops, so it and a livepatch-like IPMODIFY ops on the same
// function exclude each other with -EBUSY, in both orders.
func TestKprobe_PostHandlerVsIPModify(t *testing.T) {
	t.Run("kprobe first", func(t *testing.T) {
		k := boot(t, Config{CPUs: 1})
		loadTestCode(t, k, livepatchSrc)
		loadTestCode(t, k, kprobeModSrc(true))
		if r := callGuest(t, k, testSym(t, k, "kp_init")); r != 0 {
			t.Fatalf("register_kprobe: %d", r)
		}
		ops := klpLikeOps(k, testSym(t, k, "livepatch_cmdline_proc_show"))
		k.FtraceSetFilterIP(ops, k.sym("cmdline_proc_show"), false)
		if err := k.RegisterFtraceFunction(ops); !errors.Is(err, errno.EBUSY) {
			t.Errorf("livepatch after the kprobe: %v, want EBUSY", err)
		}
		callGuest(t, k, testSym(t, k, "kp_exit"))
		if err := k.RegisterFtraceFunction(ops); err != nil {
			t.Errorf("livepatch after the kprobe went: %v", err)
		}
	})
	t.Run("livepatch first", func(t *testing.T) {
		k := boot(t, Config{CPUs: 1})
		loadTestCode(t, k, livepatchSrc)
		loadTestCode(t, k, kprobeModSrc(true))
		ops := klpLikeOps(k, testSym(t, k, "livepatch_cmdline_proc_show"))
		k.FtraceSetFilterIP(ops, k.sym("cmdline_proc_show"), false)
		if err := k.RegisterFtraceFunction(ops); err != nil {
			t.Fatal(err)
		}
		if r := callGuest(t, k, testSym(t, k, "kp_init")); r != -int32(errno.EBUSY) {
			t.Errorf("register_kprobe after the livepatch: %d, want -EBUSY", r)
		}
		if !strings.Contains(logText(k), "Failed to register kprobe-ftrace (error -16)\n") {
			t.Errorf("no WARN:\n%s", logText(k))
		}
		if got := shell(t, k, "cat /proc/cmdline"); got != "test_klp_livepatch: this has been live patched\n" {
			t.Errorf("livepatch lost: %q", got)
		}
		if got := shell(t, k, "cat /sys/kernel/debug/kprobes/list"); got != "" {
			t.Errorf("failed probe listed: %q", got)
		}
	})
}

func logText(k *Kernel) string {
	var b strings.Builder
	for _, r := range k.Log.Records() {
		b.WriteString(r.Text + "\n")
	}
	return b.String()
}

// test-kprobe.sh case 2: without a post_handler the probe uses
// kprobe_ftrace_ops (no IPMODIFY): it and the livepatch share the site and
// both run, whichever registered first.
func TestKprobe_NoPostHandlerCoexists(t *testing.T) {
	for _, kprobeFirst := range []bool{true, false} {
		t.Run(fmt.Sprint("kprobeFirst=", kprobeFirst), func(t *testing.T) {
			k := boot(t, Config{CPUs: 2})
			loadTestCode(t, k, livepatchSrc)
			loadTestCode(t, k, kprobeModSrc(false))
			ops := klpLikeOps(k, testSym(t, k, "livepatch_cmdline_proc_show"))
			k.FtraceSetFilterIP(ops, k.sym("cmdline_proc_show"), false)
			if !kprobeFirst {
				if err := k.RegisterFtraceFunction(ops); err != nil {
					t.Fatal(err)
				}
			}
			if r := callGuest(t, k, testSym(t, k, "kp_init")); r != 0 {
				t.Fatalf("register_kprobe: %d", r)
			}
			if kprobeFirst {
				if err := k.RegisterFtraceFunction(ops); err != nil {
					t.Fatalf("livepatch with a kprobe without post_handler: %v", err)
				}
			}
			if got := shell(t, k, "cat /proc/cmdline"); got != "test_klp_livepatch: this has been live patched\n" {
				t.Errorf("/proc/cmdline: %q", got)
			}
			if pre, post := readU64(t, k, "pre_count"), readU64(t, k, "post_count"); pre != 1 || post != 0 {
				t.Errorf("pre %d post %d, want 1 and 0", pre, post)
			}
			callGuest(t, k, testSym(t, k, "kp_exit"))
			if got := shell(t, k, "cat /proc/cmdline"); got != "test_klp_livepatch: this has been live patched\n" {
				t.Errorf("after the kprobe went: %q", got)
			}
		})
	}
}

// register_kprobe's errors, in kernel/kprobes.c's order, through the Go
// API (NewKprobe builds the guest struct).
func TestKprobe_RegisterErrors(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	cmdline := k.sym("cmdline_proc_show")
	for _, c := range []struct {
		name   string
		symbol string
		addr   uint64
		offset uint32
		want   error
	}{
		{"unknown symbol", "no_such_function", 0, 0, errno.ENOENT},
		{"symbol and addr", "cmdline_proc_show", cmdline, 0, errno.EINVAL},
		{"neither", "", 0, 0, errno.EINVAL},
		{"inside the fentry nop", "cmdline_proc_show", 0, 2, errno.EILSEQ},
		{"in the body", "cmdline_proc_show", 0, 5, errno.EOPNOTSUPP},
		{"notrace code", "ftrace_regs_caller", 0, 0, errno.EOPNOTSUPP},
		{"data", "saved_command_line", 0, 0, errno.EINVAL},
		{"no symbol there", "", 0x1000, 0, errno.ENOENT},
	} {
		p, err := k.NewKprobe(c.symbol, c.addr, c.offset, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := k.RegisterKprobe(p); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		k.FreeKprobe(p)
	}

	// By address, then a second registration of the same struct.
	p, _ := k.NewKprobe("", cmdline, 0, 0, 0)
	if err := k.RegisterKprobe(p); err != nil {
		t.Fatal(err)
	}
	if err := k.RegisterKprobe(p); !errors.Is(err, errno.EINVAL) {
		t.Errorf("re-registration: %v, want EINVAL", err)
	}
	// A second probe on the same function joins the first.
	q, _ := k.NewKprobe("cmdline_proc_show", 0, 0, 0, 0)
	if err := k.RegisterKprobe(q); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(shell(t, k, "cat /sys/kernel/debug/kprobes/list"), "cmdline_proc_show+0x0"); got != 2 {
		t.Errorf("%d list lines, want 2", got)
	}
	for _, x := range []uint64{p, q} {
		if err := k.UnregisterKprobe(x); err != nil {
			t.Fatal(err)
		}
	}
	if siteBytes(t, k, cmdline)[0] != 0x0f {
		t.Error("site still enabled")
	}
	if err := k.UnregisterKprobe(p); !errors.Is(err, errno.EINVAL) {
		t.Errorf("unregistering twice: %v", err)
	}
}

// A kprobe and the function tracer on one function: both see the call.
func TestKprobe_WithFunctionTracer(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	loadTestCode(t, k, kprobeModSrc(true))
	callGuest(t, k, testSym(t, k, "kp_init"))
	traceFunction(t, k, "cmdline_proc_show")
	shell(t, k, "cat /proc/cmdline")
	if pre := readU64(t, k, "pre_count"); pre != 1 {
		t.Errorf("pre %d", pre)
	}
	if tr := shell(t, k, "cat "+tracingDir+"trace"); !strings.Contains(tr, ": cmdline_proc_show <-seq_read\n") {
		t.Errorf("trace:\n%s", tr)
	}
}
