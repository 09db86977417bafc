package livepatch

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"klpsim/kernel"
)

// Helpers shared by shadow_test.go and state_test.go (sv: shadow
// variables and states).

// svBoot boots a one-CPU machine with the shadow and state API linked in.
func svBoot(t *testing.T) (*kernel.Kernel, *Core) {
	t.Helper()
	k, err := kernel.Boot(kernel.Config{CPUs: 1})
	if err != nil {
		t.Fatal(err)
	}
	c := &Core{k: k}
	if err := c.initShadow(); err != nil {
		t.Fatal(err)
	}
	if err := c.initState(); err != nil {
		t.Fatal(err)
	}
	return k, c
}

// svFn is one guest function with an ftrace site and a frame.
func svFn(name, body string) string {
	return fmt.Sprintf("\t.text\n\t.globl %[1]s\n\t.type %[1]s, @function\n%[1]s:\n\t.fentry\n\tpush rbp\n\tmov rbp, rsp\n%[2]s\tpop rbp\n\tret\n\t.size %[1]s, .-%[1]s\n", name, body)
}

// svModule registers a (non-livepatch) module built from src.
func svModule(t *testing.T, k *kernel.Kernel, spec kernel.ModuleSpec, src string) {
	t.Helper()
	o, err := kernel.AssembleModule(spec.Name+".S", []byte(".intel_syntax noprefix\n"+src))
	if err != nil {
		t.Fatal(err)
	}
	spec.Object = o
	if err := k.RegisterModule(spec); err != nil {
		t.Fatal(err)
	}
}

// svLog returns the log records from seq on, with task PIDs in WARNING
// lines replaced by "P" (the insmod task's PID is not known in advance).
func svLog(k *kernel.Kernel, seq uint64) []string {
	var out []string
	pid := regexp.MustCompile(`PID: \d+`)
	for _, r := range k.Log.Records() {
		if r.Seq >= seq {
			out = append(out, pid.ReplaceAllString(r.Text, "PID: P"))
		}
	}
	return out
}

func svWantLines(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// svRead reads n quadwords of a module's symbol.
func svRead(t *testing.T, k *kernel.Kernel, m *kernel.Module, sym string, n int) []uint64 {
	t.Helper()
	a, ok := m.ModuleSym(sym)
	if !ok {
		t.Fatalf("no %s in %s", sym, m.Name)
	}
	out := make([]uint64, n)
	for i := range out {
		v, err := k.Memory().ReadU64(a + uint64(8*i))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = v
	}
	return out
}

// svCallRecorder is guest code for ctors and dtors that log their calls
// in calls[] as {kind, arg0, arg1, x}: svRecord KIND, X-register.
const svCallRecorder = `
	.macro SV_RECORD kind, x
	mov rax, qword ptr [rip + ncalls]
	shl rax, 5
	lea rcx, [rip + calls]
	add rcx, rax
	mov qword ptr [rcx], \kind
	mov qword ptr [rcx + 8], rdi
	mov qword ptr [rcx + 16], rsi
	mov qword ptr [rcx + 24], \x
	add qword ptr [rip + ncalls], 1
	.endm
`

// shadowVarsMod is test_klp_shadow_vars' API walk, recording instead of
// printing: every result goes to res[], every ctor and dtor call to
// calls[]. The ctor records the data's old first word (zeroed memory: 0)
// and stores ctor_data there, as the selftest's shadow_ctor stores its
// pointer; the dtor records the data's first word before the free.
var shadowVarsMod = `
	.set SV_ID1, 0x1234
	.set SV_ID2, 0x1235
	.set SV_ID3, 0x1236
	.set GFP_KERNEL, 0xcc0
` + svCallRecorder + `
	.macro SV_ALLOC fn, obj, id, ctor, cd, slot
	lea rdi, [rip + \obj]
	mov rsi, \id
	mov edx, 16
	mov ecx, GFP_KERNEL
	lea r8, [rip + \ctor]
	lea r9, [rip + \cd]
	call \fn
	mov qword ptr [rip + res + \slot * 8], rax
	.endm

	.macro SV_GET obj, id, slot
	lea rdi, [rip + \obj]
	mov rsi, \id
	call klp_shadow_get
	mov qword ptr [rip + res + \slot * 8], rax
	test rax, rax
	jz 1f
	mov rax, qword ptr [rax]
	mov qword ptr [rip + res + \slot * 8 + 8], rax
1:
	.endm

	.macro SV_FREE obj, id
	lea rdi, [rip + \obj]
	mov rsi, \id
	lea rdx, [rip + shadow_dtor]
	call klp_shadow_free
	.endm
` + svFn("shadow_ctor", "\tmov r8, rdx\n\tmov rdx, qword ptr [rsi]\n\tSV_RECORD 1, rdx\n"+
	"\tmov qword ptr [rsi], r8\n\txor eax, eax\n") +
	svFn("shadow_ctor_fail", "\tSV_RECORD 3, rdx\n\tmov eax, -12\n") +
	svFn("shadow_dtor", "\tmov rdx, qword ptr [rsi]\n\tSV_RECORD 2, rdx\n") +
	svFn("test_klp_shadow_vars_init", `
	# Pass 1: <obj, SV_ID1> by get_or_alloc for obj1 and obj3, by alloc
	# for obj2; <obj, SV_ID2> by alloc.
	SV_ALLOC klp_shadow_get_or_alloc, obj1, SV_ID1, shadow_ctor, cd0, 0
	SV_ALLOC klp_shadow_alloc, obj1, SV_ID2, shadow_ctor, cd1, 1
	SV_ALLOC klp_shadow_alloc, obj2, SV_ID1, shadow_ctor, cd2, 2
	SV_ALLOC klp_shadow_alloc, obj2, SV_ID2, shadow_ctor, cd3, 3
	SV_ALLOC klp_shadow_get_or_alloc, obj3, SV_ID1, shadow_ctor, cd4, 4
	SV_ALLOC klp_shadow_alloc, obj3, SV_ID2, shadow_ctor, cd5, 5
	# Pass 2: get all six.
	SV_GET obj1, SV_ID1, 6
	SV_GET obj1, SV_ID2, 8
	SV_GET obj2, SV_ID1, 10
	SV_GET obj2, SV_ID2, 12
	SV_GET obj3, SV_ID1, 14
	SV_GET obj3, SV_ID2, 16
	# Pass 3: get_or_alloc of existing variables: no ctor.
	SV_ALLOC klp_shadow_get_or_alloc, obj1, SV_ID1, shadow_ctor, cd5, 18
	SV_ALLOC klp_shadow_get_or_alloc, obj2, SV_ID1, shadow_ctor, cd5, 19
	# A duplicate alloc WARNs and returns NULL, without a ctor call.
	SV_ALLOC klp_shadow_alloc, obj1, SV_ID1, shadow_ctor, cd5, 20
	# A failing ctor: NULL, pr_err, nothing left.
	SV_ALLOC klp_shadow_alloc, obj1, SV_ID3, shadow_ctor_fail, cd0, 21
	SV_GET obj1, SV_ID3, 22
	# Pass 4: free every <obj, SV_ID1> with the dtor.
	SV_FREE obj1, SV_ID1
	SV_FREE obj2, SV_ID1
	SV_FREE obj3, SV_ID1
	SV_GET obj1, SV_ID1, 24
	SV_GET obj2, SV_ID1, 26
	SV_GET obj3, SV_ID1, 28
	# Pass 5: <obj, SV_ID2> are still there.
	SV_GET obj1, SV_ID2, 30
	SV_GET obj2, SV_ID2, 32
	SV_GET obj3, SV_ID2, 34
	# Pass 6: free_all(SV_ID2, dtor).
	mov edi, SV_ID2
	lea rsi, [rip + shadow_dtor]
	call klp_shadow_free_all
	SV_GET obj1, SV_ID2, 36
	SV_GET obj2, SV_ID2, 38
	SV_GET obj3, SV_ID2, 40
	# Freeing what is gone does nothing.
	SV_FREE obj1, SV_ID1
	mov edi, SV_ID2
	lea rsi, [rip + shadow_dtor]
	call klp_shadow_free_all
	# A new variable in reused memory is zeroed; freed without a dtor.
	SV_ALLOC klp_shadow_get_or_alloc, obj1, SV_ID1, shadow_ctor, cd0, 42
	lea rdi, [rip + obj1]
	mov esi, SV_ID1
	xor edx, edx
	call klp_shadow_free
	SV_GET obj1, SV_ID1, 43
	xor eax, eax
`) + `
	.data
	.balign 16
obj2:	.zero 16	# first: its hash bucket comes before obj1's
obj1:	.zero 16
obj3:	.zero 16
cd0:	.quad 0
cd1:	.quad 0
cd2:	.quad 0
cd3:	.quad 0
cd4:	.quad 0
cd5:	.quad 0
ncalls:	.quad 0
calls:	.zero 32 * 32
res:	.zero 8 * 45
`

// The selftest module's walk through the API (test-shadow-vars.sh "basic
// shadow variable API"), from a module's init, checked through what the
// guest got back, what its ctor and dtor saw, and the log.
func TestShadow_BasicAPI(t *testing.T) {
	k, _ := svBoot(t)
	svModule(t, k, kernel.ModuleSpec{Name: "test_klp_shadow_vars", Init: "test_klp_shadow_vars_init"}, shadowVarsMod)
	seq := k.Log.NextSeq()
	if err := k.Insmod("test_klp_shadow_vars", ""); err != nil {
		t.Fatal(err)
	}
	m := k.FindModule("test_klp_shadow_vars")
	sym := func(name string) uint64 {
		a, ok := m.ModuleSym(name)
		if !ok {
			t.Fatalf("no %s", name)
		}
		return a
	}
	obj := []uint64{sym("obj1"), sym("obj2"), sym("obj3")}
	var cd []uint64
	for i := range 6 {
		cd = append(cd, sym(fmt.Sprintf("cd%d", i)))
	}
	svWantLines(t, svLog(k, seq),
		"test_klp_shadow_vars: loading out-of-tree module taints kernel.",
		"------------[ cut here ]------------",
		fmt.Sprintf("Duplicate shadow variable <%016x, 1234>", obj[0]),
		"WARNING: CPU: 0 PID: P at kernel/livepatch/shadow.c:165 klp_shadow_alloc+0x10/0x17",
		"---[ end trace 0000000000000000 ]---",
		fmt.Sprintf("livepatch: Failed to construct shadow variable <%016x, 1236> (-12)", obj[0]))

	res := svRead(t, k, m, "res", 45)
	data := res[:6] // <obj1,ID1> <obj1,ID2> <obj2,ID1> <obj2,ID2> <obj3,ID1> <obj3,ID2>
	for i, d := range data {
		if d == 0 || slices.Index(data, d) != i {
			t.Fatalf("pass 1 got %#x", data)
		}
	}
	check := func(what string, got, want []uint64) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %#x, want %#x", what, got, want)
		}
	}
	var pass2 []uint64
	for i, d := range data {
		pass2 = append(pass2, d, cd[i]) // the ctor stored ctor_data
	}
	check("pass 2 (get)", res[6:18], pass2)
	check("pass 3 (get_or_alloc of existing)", res[18:20], []uint64{data[0], data[2]})
	check("duplicate alloc", res[20:21], []uint64{0})
	check("failed ctor", res[21:24], []uint64{0, 0, 0})
	check("pass 4 (get after free)", res[24:30], make([]uint64, 6))
	check("pass 5 (others kept)", res[30:36], []uint64{data[1], cd[1], data[3], cd[3], data[5], cd[5]})
	check("pass 6 (get after free_all)", res[36:42], make([]uint64, 6))
	if res[42] == 0 || res[43] != 0 {
		t.Errorf("alloc after frees %#x, get after free without dtor %#x", res[42], res[43])
	}

	// Calls: ctors for the six new variables only (old data 0: zeroed),
	// the failing ctor, the dtors of pass 4 in order with the data
	// intact, free_all's dtors in hash order, the last ctor.
	type call struct{ kind, a, b, x uint64 }
	n := svRead(t, k, m, "ncalls", 1)[0]
	raw := svRead(t, k, m, "calls", 4*int(n))
	var got []call
	for i := range int(n) {
		got = append(got, call{raw[4*i], raw[4*i+1], raw[4*i+2], raw[4*i+3]})
	}
	var want []call
	for i, d := range data {
		want = append(want, call{1, obj[i/2], d, 0})
	}
	want = append(want, call{3, obj[0], 0, cd[0]}) // b filled below: memory freed
	for i := 0; i < 3; i++ {
		want = append(want, call{2, obj[i], data[2*i], cd[2*i]})
	}
	// hash_for_each over klp_shadow_hash: hash_64(obj, 12) ascending.
	id2 := []int{0, 1, 2}
	slices.SortFunc(id2, func(a, b int) int {
		ha, hb := obj[a]*0x61C8864680B583EB>>52, obj[b]*0x61C8864680B583EB>>52
		return int(int64(ha) - int64(hb))
	})
	if slices.Equal(id2, []int{0, 1, 2}) || slices.Equal(id2, []int{2, 1, 0}) {
		t.Fatalf("objects' hash order %v does not tell free_all's order from insertion order", id2)
	}
	for _, i := range id2 {
		want = append(want, call{2, obj[i], data[2*i+1], cd[2*i+1]})
	}
	want = append(want, call{1, obj[0], res[42], 0})
	if len(got) == len(want) {
		want[6].b = got[6].b // the failing ctor's speculative data
		if got[6].b == 0 {
			t.Error("failing ctor got no data")
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("ctor/dtor calls:\n got %#x\nwant %#x", got, want)
	}
}

// dtorMod is a ctor-less module whose dtor records its calls.
var dtorMod = svCallRecorder + svFn("shadow_dtor", "\tmov rdx, qword ptr [rsi]\n\tSV_RECORD 2, rdx\n") + `
	.data
	.balign 8
ncalls:	.quad 0
calls:	.zero 32 * 8
`

// klp_shadow_free_all meets variables as hash_for_each does: bucket by
// bucket, and in a bucket newest first (hash_add_rcu adds at the head).
// obj is only a key, never dereferenced, so any number will do. Also:
// the WARN names the calling task, and a variable without ctor is zeroed
// data.
func TestShadow_FreeAllHashOrder(t *testing.T) {
	k, _ := svBoot(t)
	svModule(t, k, kernel.ModuleSpec{Name: "shadow_dtor_mod"}, dtorMod)
	if err := k.Insmod("shadow_dtor_mod", ""); err != nil {
		t.Fatal(err)
	}
	m := k.FindModule("shadow_dtor_mod")
	dtor, _ := m.ModuleSym("shadow_dtor")
	// Two keys in one bucket, one in an earlier bucket.
	a := uint64(0xffff888000001000)
	b := a + 8
	for shadowBucket(b) != shadowBucket(a) {
		b += 8
	}
	c := a + 8
	for shadowBucket(c) >= shadowBucket(a) {
		c += 8
	}
	sym := func(name string) uint64 {
		s, ok := k.Sym(name)
		if !ok {
			t.Fatalf("no %s", name)
		}
		return s
	}
	alloc, getOrAlloc, freeAll := sym("klp_shadow_alloc"), sym("klp_shadow_get_or_alloc"), sym("klp_shadow_free_all")
	var data []uint64
	var pid int
	seq := k.Log.NextSeq()
	_, err := k.RunOnTask("shadow", func(ctx *kernel.OpCtx) uint64 {
		pid = ctx.Task.PID
		for _, obj := range []uint64{a, b, c} {
			data = append(data, ctx.Call(alloc, obj, 7, 24, 0xcc0, 0, 0))
		}
		data = append(data, ctx.Call(getOrAlloc, b, 7, 24, 0xcc0, 0, 0)) // exists: no WARN
		data = append(data, ctx.Call(alloc, c, 7, 24, 0xcc0, 0, 0))      // duplicate
		ctx.Call(freeAll, 7, dtor)
		return 0
	}, 1e9)
	if err != nil {
		t.Fatal(err)
	}
	if data[0] == 0 || data[1] == 0 || data[2] == 0 || data[3] != data[1] || data[4] != 0 {
		t.Errorf("alloc a, b, c, get_or_alloc b, alloc c: %#x", data)
	}
	got := svLog(k, seq)
	svWantLines(t, got,
		"------------[ cut here ]------------",
		fmt.Sprintf("Duplicate shadow variable <%016x, 7>", c),
		"WARNING: CPU: 0 PID: P at kernel/livepatch/shadow.c:165 klp_shadow_alloc+0x10/0x17",
		"---[ end trace 0000000000000000 ]---")
	for _, r := range k.Log.Records() {
		if r.Seq >= seq && strings.HasPrefix(r.Text, "WARNING:") && !strings.Contains(r.Text, fmt.Sprintf("PID: %d ", pid)) {
			t.Errorf("WARN names another task than %d: %q", pid, r.Text)
		}
	}
	n := svRead(t, k, m, "ncalls", 1)[0]
	calls := svRead(t, k, m, "calls", 4*int(n))
	want := []uint64{2, c, data[2], 0, 2, b, data[1], 0, 2, a, data[0], 0}
	if !slices.Equal(calls, want) {
		t.Errorf("dtor calls (kind, obj, data, *data) %#x, want %#x (c's bucket first, then b before a)", calls, want)
	}
}

// Init may link every guest/*.S itself before initShadow and initState
// run: they then only register their operations.
func TestShadow_GuestLinkedByInit(t *testing.T) {
	k, err := kernel.Boot(kernel.Config{CPUs: 1})
	if err != nil {
		t.Fatal(err)
	}
	for f, src := range map[string][]byte{"kernel/livepatch/shadow.S": shadowSource, "kernel/livepatch/state.S": stateSource} {
		if err := k.LoadBuiltin(f, src); err != nil {
			t.Fatal(err)
		}
	}
	c := &Core{k: k}
	if err := c.initShadow(); err != nil {
		t.Fatal(err)
	}
	if err := c.initState(); err != nil {
		t.Fatal(err)
	}
	alloc, _ := k.Sym("klp_shadow_alloc")
	get, _ := k.Sym("klp_shadow_get")
	var got [2]uint64
	if _, err := k.RunOnTask("shadow", func(ctx *kernel.OpCtx) uint64 {
		got[0] = ctx.Call(alloc, 0x1000, 1, 8, 0xcc0, 0, 0)
		got[1] = ctx.Call(get, 0x1000, 1)
		return 0
	}, 1e9); err != nil {
		t.Fatal(err)
	}
	if got[0] == 0 || got[1] != got[0] {
		t.Errorf("alloc %#x, get %#x", got[0], got[1])
	}
}
