package kernel

import (
	"errors"
	"strings"
	"testing"

	"klpsim/kernel/errno"
)

// cbModSrc is a module with module_param_cb parameters whose ops are its
// own guest functions:
//
//	cb (0644, arg &cb_val): set parses a bool with kstrtobool into *kp->arg
//	  and refuses to set it twice (-EBUSY), as waiting_welcome_set does;
//	  get prints a line and sysfs_emits the value.
//	hello (0400): get only; it prints a line and returns 0 (POC
//	  test_klp_speaker's "welcome").
//	noset (0644): the same get-only ops with a writable mode.
//	flag (0644, KERNEL_PARAM_OPS_FL_NOARG): set with val == NULL allowed.
const cbModSrc = `
	.text
	.globl pcb_init
	.type pcb_init, @function
pcb_init:
	.fentry
	push rbp
	mov rbp, rsp
	lea rdi, [rip + fmt_init]
	movzx esi, byte ptr [rip + cb_val]
	call _printk
	xor eax, eax
	pop rbp
	ret
	.size pcb_init, .-pcb_init

	.globl pcb_exit
	.type pcb_exit, @function
pcb_exit:
	.fentry
	ret
	.size pcb_exit, .-pcb_exit

# static int cb_set(const char *val, const struct kernel_param *kp)
	.type cb_set, @function
cb_set:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	mov rbx, rdi
	mov r12, rsi
	lea rdi, [rip + fmt_set]
	mov rsi, rbx
	mov rdx, qword ptr [r12]		# kp->name
	call _printk
	mov rax, qword ptr [r12 + 32]		# kp->arg
	cmp byte ptr [rax], 0
	je 1f
	mov eax, -16			# -EBUSY
	jmp 2f
1:	mov rdi, rbx
	mov rsi, qword ptr [r12 + 32]
	call kstrtobool
2:	pop r12
	pop rbx
	pop rbp
	ret
	.size cb_set, .-cb_set

# static int cb_get(char *buffer, const struct kernel_param *kp)
	.type cb_get, @function
cb_get:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	mov rbx, rdi
	mov r12, rsi
	lea rdi, [rip + fmt_get]
	call _printk
	mov rdi, rbx
	lea rsi, [rip + fmt_val]
	mov rax, qword ptr [r12 + 32]
	movzx edx, byte ptr [rax]
	call sysfs_emit
	pop r12
	pop rbx
	pop rbp
	ret
	.size cb_get, .-cb_get

	.type hello_get, @function
hello_get:
	.fentry
	push rbp
	mov rbp, rsp
	lea rdi, [rip + fmt_hello]
	call _printk
	xor eax, eax
	pop rbp
	ret
	.size hello_get, .-hello_get

	.type flag_set, @function
flag_set:
	.fentry
	push rbp
	mov rbp, rsp
	mov rsi, rdi
	lea rdi, [rip + fmt_flag]
	call _printk
	xor eax, eax
	pop rbp
	ret
	.size flag_set, .-flag_set

	.section .rodata
fmt_init:	.asciz "\0016pcb: init cb=%d\n"
fmt_set:	.asciz "\0016pcb: set %s of %s\n"
fmt_get:	.asciz "\0016pcb: get\n"
fmt_val:	.asciz "%d\n"
fmt_hello:	.asciz "\0016pcb: Hello, World!\n"
fmt_flag:	.asciz "\0016pcb: flag_set %s\n"
	.balign 8
# struct kernel_param_ops { flags, set, get, free }
cb_ops:		.long 0, 0
		.quad cb_set, cb_get, 0
hello_ops:	.long 0, 0
		.quad 0, hello_get, 0
flag_ops:	.long 1, 0
		.quad flag_set, 0, 0

	.data
cb_val:	.byte 0
`

var cbModParams = []ParamSpec{
	{Name: "cb", Ops: "cb_ops", Symbol: "cb_val", Perm: 0o644},
	{Name: "hello", Ops: "hello_ops", Perm: 0o400},
	{Name: "noset", Ops: "hello_ops", Perm: 0o644},
	{Name: "flag", Ops: "flag_ops", Perm: 0o200},
}

func cbKernel(t *testing.T) *Kernel {
	t.Helper()
	k := boot(t, Config{CPUs: 1})
	addModule(t, k, ModuleSpec{Name: "pcb", InTree: true, Init: "pcb_init", Exit: "pcb_exit", Params: cbModParams}, cbModSrc)
	return k
}

// callers returns each record's caller id since seq.
func callers(k *Kernel, seq uint64) []string {
	var out []string
	for _, r := range k.Log.Records() {
		if r.Seq >= seq {
			out = append(out, r.Caller)
		}
	}
	return out
}

// insmod NAME p=v: parse_one calls the module's set during load_module,
// as guest code on the insmod task, before init; with kp->name and
// kp->arg.
func TestModparamCB_LoadTimeSet(t *testing.T) {
	k := cbKernel(t)
	seq := k.Log.NextSeq()
	if err := k.Insmod("pcb", "cb=1 flag"); err != nil {
		t.Fatal(err)
	}
	wantLines(t, logSince(k, seq), "pcb: set 1 of cb", "pcb: flag_set (null)", "pcb: init cb=1")
	c := callers(k, seq)
	if len(c) != 3 || !strings.HasPrefix(c[0], "T") || c[0] != c[2] {
		t.Errorf("callers %q: set must run on the insmod task, as init does", c)
	}
	m := k.FindModule("pcb")
	if m.paramBlock == 0 || len(m.paramArgs) != 1 {
		t.Fatalf("param block %#x, %d kept values", m.paramBlock, len(m.paramArgs))
	}
	live := append([]uint64{m.paramBlock}, m.paramArgs...)
	if err := k.Rmmod("pcb"); err != nil {
		t.Fatal(err)
	}
	for _, a := range live {
		if _, ok := k.kheap.sizes[a]; ok {
			t.Errorf("%#x outlived the module", a)
		}
	}
}

// Errors from set at load fail the load with parse_args' message and
// set's errno; nothing of the module is left.
func TestModparamCB_LoadTimeErrors(t *testing.T) {
	for _, tc := range []struct {
		args, err string
		log       []string
	}{
		{"cb=1 cb=1", "Device or resource busy", []string{"pcb: set 1 of cb", "pcb: set 1 of cb", "pcb: `1' invalid for parameter `cb'"}},
		{"cb=maybe", "Invalid parameters", []string{"pcb: set maybe of cb", "pcb: `maybe' invalid for parameter `cb'"}},
		// No KERNEL_PARAM_OPS_FL_NOARG: a bare name never reaches set.
		{"cb", "Invalid parameters", []string{"pcb: `' invalid for parameter `cb'"}},
		// No set at all: Linux would oops on the NULL call; klpsim refuses.
		{"hello=1", "Operation not permitted", []string{"pcb: `1' invalid for parameter `hello'"}},
	} {
		t.Run(tc.args, func(t *testing.T) {
			k := cbKernel(t)
			seq := k.Log.NextSeq()
			err := k.Insmod("pcb", tc.args)
			wantShellError(t, err, "insmod: ERROR: could not insert module test_modules/pcb.ko: "+tc.err, nil)
			wantLines(t, logSince(k, seq), tc.log...)
			nothingLeft(t, k, "pcb", 0, 0)
			for a := range k.kheap.sizes {
				if a == 0 {
					t.Error("kmalloc'd 0")
				}
			}
		})
	}
}

// sysfs: a read runs get on a task and returns what it wrote; a write
// runs set and returns its errno; without set a writable file is EPERM,
// without a write bit EACCES.
func TestModparamCB_Sysfs(t *testing.T) {
	k := cbKernel(t)
	if err := k.Insmod("pcb", ""); err != nil {
		t.Fatal(err)
	}
	const dir = "/sys/module/pcb/parameters/"
	for p, want := range map[string]string{"cb": "-rw-r--r--", "hello": "-r--------", "noset": "-rw-r--r--", "flag": "--w-------"} {
		if got, err := k.FS.StatMode(nil, dir+p); got != want {
			t.Errorf("%s: %s %v, want %s", p, got, err, want)
		}
	}
	seq := k.Log.NextSeq()
	if got := cat(t, k, dir+"cb"); got != "0\n" {
		t.Errorf("cat cb = %q", got)
	}
	if got := cat(t, k, dir+"hello"); got != "" {
		t.Errorf("cat hello = %q, want nothing (get returned 0)", got)
	}
	wantLines(t, logSince(k, seq), "pcb: get", "pcb: Hello, World!")
	for _, c := range callers(k, seq) {
		if !strings.HasPrefix(c, "T") {
			t.Errorf("get ran as %q, not on a task", c)
		}
	}
	echo := func(v, p string) error { return k.FS.Echo(nil, v, dir+p) }
	seq = k.Log.NextSeq()
	if err := echo("1", "cb"); err != nil {
		t.Fatal(err)
	}
	if got := cat(t, k, dir+"cb"); got != "1\n" {
		t.Errorf("cb after echo 1: %q", got)
	}
	wantShellError(t, echo("1", "cb"), "bash: echo: write error: Device or resource busy", errno.EBUSY)
	wantLines(t, logSince(k, seq), "pcb: set 1\n of cb", "pcb: get", "pcb: set 1\n of cb")
	wantShellError(t, echo("1", "noset"), "bash: echo: write error: Operation not permitted", errno.EPERM)
	wantShellError(t, echo("1", "hello"), "bash: "+dir+"hello: Permission denied", errno.EACCES)
	if _, err := k.FS.ReadFile(nil, dir+"flag"); !errors.Is(err, errno.EACCES) && !errors.Is(err, errno.EPERM) {
		t.Errorf("reading a write-only parameter: %v", err)
	}
	// The sysfs buffers are freed when the call returns.
	m := k.FindModule("pcb")
	if len(m.paramArgs) != 0 {
		t.Errorf("%d values kept after sysfs writes, want 0", len(m.paramArgs))
	}
}

// RegisterModule checks a module_param_cb spec.
func TestModparamCB_Reject(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	o, err := AssembleModule("pcb.S", []byte(".intel_syntax noprefix\n"+cbModSrc))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		p    ParamSpec
		want string
	}{
		{ParamSpec{Name: "x", Ops: "cb_ops", Type: ParamInt}, "both a type (int) and ops (cb_ops)"},
		{ParamSpec{Name: "x", Ops: "nope"}, "parameter x: nope is not defined"},
		{ParamSpec{Name: "x", Ops: "cb_ops", Symbol: "nope"}, "parameter x: nope is not defined"},
		{ParamSpec{Name: "x", Ops: "cb_ops", Default: "1"}, "take no default"},
	} {
		err := k.RegisterModule(ModuleSpec{Name: "pcbx", Object: o, Init: "pcb_init", Params: []ParamSpec{tc.p}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.p, err, tc.want)
		}
	}
}
