package kernel

import (
	"strings"
	"testing"

	"klpsim/kernel/printk"
)

// libCall runs the guest function name(args...) on an "insmod" task and
// returns its rax.
func libCall(t *testing.T, k *Kernel, name string, args ...uint64) uint64 {
	t.Helper()
	fn, ok := k.vmlinux.sym(name)
	if !ok {
		fn = testSym(t, k, name)
	}
	var ret uint64
	if _, err := k.RunOnTask("insmod", func(ctx *OpCtx) uint64 {
		ret = ctx.Call(fn, args...)
		return 0
	}, 1e9); err != nil {
		t.Fatal(err)
	}
	return ret
}

// Every lib.S entry point is an exported vmlinux function with an ftrace
// site, like the rest of the kernel image.
func TestLib_Exported(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	for _, name := range []string{"kmalloc", "kzalloc", "kfree", "get_console_loglevel", "set_console_loglevel",
		"init_completion", "complete", "complete_all", "wait_for_completion",
		"proc_create_single", "proc_remove", "remove_proc_entry",
		"kobject_create_and_add", "kobject_put", "sysfs_create_file", "sysfs_remove_file", "sprintf", "sysfs_emit"} {
		if _, ok := k.Syms.LookupExport(name); !ok {
			t.Errorf("%s is not exported", name)
		}
		if _, ok := k.FtraceLocation(k.sym(name)); !ok {
			t.Errorf("%s has no ftrace site", name)
		}
	}
	for _, name := range []string{"console_loglevel", "kernel_kobj"} {
		if _, ok := k.Syms.LookupExport(name); !ok {
			t.Errorf("%s is not exported", name)
		}
	}
}

func TestLib_Kmalloc(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	a := libCall(t, k, "kzalloc", 100, 0xcc0)
	if a == 0 || a%16 != 0 {
		t.Fatalf("kzalloc(100) = %#x", a)
	}
	buf := make([]byte, 100)
	if err := k.mem.Read(a, buf); err != nil {
		t.Fatal(err)
	}
	for _, b := range buf {
		if b != 0 {
			t.Fatal("kzalloc memory is not zeroed")
		}
	}
	b := libCall(t, k, "kmalloc", 16, 0xcc0)
	if b == 0 || b == a {
		t.Fatalf("kmalloc(16) = %#x (kzalloc gave %#x)", b, a)
	}
	libCall(t, k, "kfree", a)
	libCall(t, k, "kfree", 0) // kfree(NULL) is a no-op
	if c := libCall(t, k, "kzalloc", 100, 0xcc0); c != a {
		t.Errorf("kzalloc after kfree = %#x, want the freed %#x", c, a)
	}
	if c := libCall(t, k, "kmalloc", 1<<40, 0xcc0); c != 0 {
		t.Errorf("kmalloc(1 TiB) = %#x, want NULL", c)
	}
}

// console_loglevel is printk's console level: the guest's writes decide
// what reaches the console, and host changes are what the guest reads.
func TestLib_ConsoleLoglevel(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	word := func() uint32 {
		v, err := k.readU32(k.sym("console_loglevel"))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if got := libCall(t, k, "get_console_loglevel"); got != printk.CONSOLE_LOGLEVEL_DEFAULT || word() != 7 {
		t.Fatalf("console_loglevel at boot: get %d, word %d; want 7", got, word())
	}
	var con strings.Builder
	k.Log.SetConsole(&con)
	libCall(t, k, "set_console_loglevel", printk.CONSOLE_LOGLEVEL_MOTORMOUTH)
	if k.Log.ConsoleLoglevel() != 15 || k.ConsoleLoglevel() != 15 || word() != 15 {
		t.Fatalf("after set_console_loglevel(15): log %d, word %d", k.Log.ConsoleLoglevel(), word())
	}
	k.printk(0, printk.KERN_DEBUG+"debug line\n")
	if !strings.Contains(con.String(), "debug line") {
		t.Errorf("a KERN_DEBUG line did not reach the console at level 15: %q", con.String())
	}
	k.SetConsoleLoglevel(4)
	if got := libCall(t, k, "get_console_loglevel"); got != 4 || word() != 4 {
		t.Errorf("guest reads %d (word %d) after the host set 4", got, word())
	}
	con.Reset()
	k.printk(0, printk.KERN_INFO+"info line\n")
	if con.Len() != 0 {
		t.Errorf("a KERN_INFO line reached the console at level 4: %q", con.String())
	}
	k.Log.SetConsoleLoglevel(6) // the printk side alone: the guest still sees it
	if got := libCall(t, k, "get_console_loglevel"); got != 6 {
		t.Errorf("guest reads %d after Log.SetConsoleLoglevel(6)", got)
	}
}

const completionSrc = `
	.text
	.globl comp_waiter
	.type comp_waiter, @function
comp_waiter:
	.fentry
	push rbp
	mov rbp, rsp
	lea rdi, [rip + comp]
	call wait_for_completion
	inc qword ptr [rip + comp_woken]
	xor edi, edi
	call do_exit
	.size comp_waiter, .-comp_waiter

	.data
	.balign 8
	.globl comp
	.type comp, @object
comp:	.zero 32
	.size comp, 32
	.globl comp_woken
	.type comp_woken, @object
comp_woken:	.quad 0
	.size comp_woken, 8
`

// wait_for_completion sleeps uninterruptibly in schedule until complete
// wakes one waiter, complete_all the rest; a done count left over lets a
// later wait return at once.
func TestLib_Completion(t *testing.T) {
	k := boot(t, Config{CPUs: 2})
	loadTestCode(t, k, completionSrc)
	comp, woken := testSym(t, k, "comp"), testSym(t, k, "comp_woken")
	count := func() uint64 {
		v, _ := k.mem.ReadU64(woken)
		return v
	}
	libCall(t, k, "init_completion", comp)
	if next, _ := k.mem.ReadU64(comp + 16); next != comp+16 {
		t.Errorf("init_completion: wait list head %#x, want %#x", next, comp+16)
	}
	var waiters []*Task
	for i := 0; i < 3; i++ {
		w, err := k.createKthread("waiter", testSym(t, k, "comp_waiter"), 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		waiters = append(waiters, w)
	}
	if err := k.RunFor(100e6); err != nil {
		t.Fatal(err)
	}
	if got := len(k.CompletionWaiters(comp)); got != 3 || count() != 0 {
		t.Fatalf("%d waiters, %d woken; want 3 waiting", got, count())
	}
	for _, w := range waiters {
		if w.State != TaskUninterruptible {
			t.Errorf("%s state %#x, want TASK_UNINTERRUPTIBLE", w, w.State)
		}
		if st := k.ProcStack(w); !strings.Contains(st, "schedule+") || !strings.Contains(st, "wait_for_completion+") {
			t.Errorf("%s stack:\n%s", w, st)
		}
	}
	libCall(t, k, "complete", comp)
	k.RunFor(100e6)
	if count() != 1 || len(k.CompletionWaiters(comp)) != 2 {
		t.Fatalf("after complete: %d woken, %d waiting", count(), len(k.CompletionWaiters(comp)))
	}
	if done, _ := k.readU32(comp); done != 0 {
		t.Errorf("done = %d after the waiter took it", done)
	}
	libCall(t, k, "complete_all", comp)
	k.RunFor(100e6)
	if count() != 3 || len(k.CompletionWaiters(comp)) != 0 {
		t.Fatalf("after complete_all: %d woken, %d waiting", count(), len(k.CompletionWaiters(comp)))
	}
	// complete before the wait: the wait returns at once.
	libCall(t, k, "init_completion", comp)
	libCall(t, k, "complete", comp)
	libCall(t, k, "wait_for_completion", comp)
	if done, _ := k.readU32(comp); done != 0 {
		t.Errorf("done = %d after complete + wait", done)
	}
}

const procSrc = `
	.text
	.globl demo_show
	.type demo_show, @function
demo_show:
	.fentry
	push rbp
	mov rbp, rsp
	lea rsi, [rip + .Lfmt]
	lea rdx, [rip + .Lmsg]
	call seq_printf
	xor eax, eax
	pop rbp
	ret
	.size demo_show, .-demo_show

	.globl demo_int_show
	.type demo_int_show, @function
demo_int_show:
	.fentry
	push rbp
	mov rbp, rsp
	mov rdi, rdx
	lea rsi, [rip + .Lfmt_int]
	mov edx, dword ptr [rip + demo_int]
	call sysfs_emit
	pop rbp
	ret
	.size demo_int_show, .-demo_int_show

	.globl demo_int_store
	.type demo_int_store, @function
demo_int_store:
	.fentry
	push rbp
	mov rbp, rsp
	movzx eax, byte ptr [rdx]
	sub eax, '0'
	mov dword ptr [rip + demo_int], eax
	mov rax, rcx
	pop rbp
	ret
	.size demo_int_store, .-demo_int_store

	.section .rodata
.Lfmt:	.asciz "%s\n"
.Lmsg:	.asciz "demo: original output"
.Lfmt_int:	.asciz "%u\n"
	.globl demo_name
	.type demo_name, @object
demo_name:	.asciz "demo"
	.size demo_name, 5
	.globl demo_dir
	.type demo_dir, @object
demo_dir:	.asciz "demo_dir"
	.size demo_dir, 9
demo_attr_name:	.asciz "value"
	.data
	.balign 8
demo_int:	.long 42, 0
	.globl demo_attr
	.type demo_attr, @object
demo_attr:	.quad demo_attr_name
	.short 0444
	.zero 6
	.quad demo_int_show, 0
	.size demo_attr, 32
	.globl demo_rw_attr
	.type demo_rw_attr, @object
demo_rw_attr:	.quad demo_attr_name
	.short 0644
	.zero 6
	.quad demo_int_show, demo_int_store
	.size demo_rw_attr, 32
`

// proc_create_single makes a /proc file whose reads run the guest show on
// a cat task; proc_remove takes it away.
func TestLib_ProcCreateSingle(t *testing.T) {
	k := boot(t, Config{CPUs: 2})
	loadTestCode(t, k, procSrc)
	name, show := testSym(t, k, "demo_name"), testSym(t, k, "demo_show")
	pde := libCall(t, k, "proc_create_single", name, 0, 0, show)
	if pde == 0 {
		t.Fatal("proc_create_single returned NULL")
	}
	if mode, err := k.FS.StatMode(nil, "/proc/demo"); err != nil || mode != "-r--r--r--" {
		t.Errorf("/proc/demo: %s, %v", mode, err)
	}
	if got, err := k.FS.Cat(nil, "/proc/demo"); err != nil || got != "demo: original output\n" {
		t.Errorf("cat /proc/demo = %q, %v", got, err)
	}
	if dup := libCall(t, k, "proc_create_single", name, 0, 0, show); dup != 0 {
		t.Errorf("a second /proc/demo: %#x, want NULL", dup)
	}
	libCall(t, k, "proc_remove", pde)
	if _, err := k.FS.Lookup(nil, "/proc/demo"); err == nil {
		t.Error("/proc/demo still there after proc_remove")
	}
	libCall(t, k, "proc_remove", 0)
	// remove_proc_entry by name.
	if libCall(t, k, "proc_create_single", name, 0o400, 0, show) == 0 {
		t.Fatal("proc_create_single after proc_remove returned NULL")
	}
	if mode, _ := k.FS.StatMode(nil, "/proc/demo"); mode != "-r--------" {
		t.Errorf("/proc/demo with mode 0400: %s", mode)
	}
	libCall(t, k, "remove_proc_entry", name, 0)
	if _, err := k.FS.Lookup(nil, "/proc/demo"); err == nil {
		t.Error("/proc/demo still there after remove_proc_entry")
	}
}

// kobject_create_and_add under kernel_kobj and sysfs_create_file give
// /sys/kernel/NAME/ATTR, whose reads run the guest show (sysfs_emit) and
// writes the guest store; kobject_put removes the directory.
func TestLib_Sysfs(t *testing.T) {
	k := boot(t, Config{CPUs: 2})
	loadTestCode(t, k, procSrc)
	kernelKobj, _ := k.mem.ReadU64(k.sym("kernel_kobj"))
	if kernelKobj == 0 {
		t.Fatal("kernel_kobj is NULL")
	}
	kobj := libCall(t, k, "kobject_create_and_add", testSym(t, k, "demo_dir"), kernelKobj)
	if kobj == 0 {
		t.Fatal("kobject_create_and_add returned NULL")
	}
	if dup := libCall(t, k, "kobject_create_and_add", testSym(t, k, "demo_dir"), kernelKobj); dup != 0 {
		t.Error("a second /sys/kernel/demo_dir was created")
	}
	if ret := libCall(t, k, "sysfs_create_file", kobj, testSym(t, k, "demo_attr")); ret != 0 {
		t.Fatalf("sysfs_create_file = %d", int64(ret))
	}
	if mode, _ := k.FS.StatMode(nil, "/sys/kernel/demo_dir/value"); mode != "-r--r--r--" {
		t.Errorf("value: %s", mode)
	}
	if got, err := k.FS.Cat(nil, "/sys/kernel/demo_dir/value"); err != nil || got != "42\n" {
		t.Errorf("cat value = %q, %v", got, err)
	}
	if err := k.FS.Echo(nil, "7", "/sys/kernel/demo_dir/value"); err == nil {
		t.Error("a write to a read-only attribute succeeded")
	}
	libCall(t, k, "sysfs_remove_file", kobj, testSym(t, k, "demo_attr"))
	if ret := libCall(t, k, "sysfs_create_file", kobj, testSym(t, k, "demo_rw_attr")); ret != 0 {
		t.Fatalf("sysfs_create_file (rw) = %d", int64(ret))
	}
	if err := k.FS.Echo(nil, "7", "/sys/kernel/demo_dir/value"); err != nil {
		t.Fatal(err)
	}
	if got, _ := k.FS.Cat(nil, "/sys/kernel/demo_dir/value"); got != "7\n" {
		t.Errorf("cat value after echo 7 = %q", got)
	}
	libCall(t, k, "kobject_put", kobj)
	if _, err := k.FS.Lookup(nil, "/sys/kernel/demo_dir"); err == nil {
		t.Error("/sys/kernel/demo_dir still there after kobject_put")
	}
	if _, err := k.FS.Lookup(nil, "/sys/kernel"); err != nil {
		t.Error("kobject_put removed /sys/kernel")
	}
}

// sprintf formats with the kernel's vsnprintf, arguments past the sixth
// included.
func TestLib_Sprintf(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	loadTestCode(t, k, `
	.globl sprintf_many
	.type sprintf_many, @function
sprintf_many:
	.fentry
	push rbp
	mov rbp, rsp
	push 7
	push 6
	lea rsi, [rip + .Lfmt]
	mov edx, 2
	mov ecx, 3
	mov r8d, 4
	mov r9d, 5
	call sprintf
	add rsp, 16
	pop rbp
	ret
	.size sprintf_many, .-sprintf_many
	.section .rodata
.Lfmt:	.asciz "%d %d %d %d %d %d!"
`)
	buf, err := k.kmalloc(64)
	if err != nil {
		t.Fatal(err)
	}
	n := libCall(t, k, "sprintf_many", buf)
	got, _ := k.guestString(buf, 64)
	if got != "2 3 4 5 6 7!" || n != uint64(len(got)) {
		t.Errorf("sprintf = %d, %q", n, got)
	}
}
