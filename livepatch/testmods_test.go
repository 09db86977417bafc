package livepatch

import (
	"fmt"
	"strings"
	"testing"

	"klpsim/kernel"
	"klpsim/livepatch/testmods"
)

// The upstream selftest modules come from the built-in catalog
// (livepatch/testmods); this file is the test harness around them: a
// kselftest type that drives a machine the way functions.sh does, and
// short names for the catalog's building blocks that tests use to write
// variants of the modules.

var (
	tmHeader        = testmods.Header
	tmCallbackInfo  = testmods.CallbackInfo
	tmCallback      = testmods.Callback
	tmEnableInit    = testmods.EnableInit
	tmDemoCallbacks = testmods.DemoCallbacks
)

const tmDemoObjCallbacks = testmods.DemoObjCallbacks

// testModule is a catalog module's modinfo and source, for a test that
// builds a variant of it.
type testModule struct {
	spec kernel.ModuleSpec // everything but the object
	src  string            // guest assembly (Intel syntax)
}

func tmSource(name string) testModule {
	spec, src, err := testmods.Source(name)
	if err != nil {
		panic(err)
	}
	return testModule{spec: spec, src: src}
}

// tmCallbacksMod is test_klp_callbacks_mod's source.
func tmCallbacksMod() testModule { return tmSource("test_klp_callbacks_mod") }

// The catalog's layouts are livepatch's.
func TestTestmods_Layout(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"klp_object.mod", testmods.KlpObjectMod, ObjMod},
		{"klp_patch.replace", testmods.KlpPatchReplace, PatchReplace},
		{"klp_state.data", testmods.KlpStateData, StateData},
	} {
		if c.got != c.want {
			t.Errorf("testmods: %s at %d, livepatch has %d", c.name, c.got, c.want)
		}
	}
}

// addTestModules registers the named catalog modules (the selftests'
// `make` in test_modules/).
func addTestModules(t testing.TB, k *kernel.Kernel, names ...string) {
	t.Helper()
	for _, name := range names {
		spec, err := testmods.Spec(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := k.RegisterModule(spec); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// isLivepatch is modinfo's "livepatch: Y" for a catalog module.
func isLivepatch(t testing.TB, mod string) bool {
	spec, _, err := testmods.Source(mod)
	if err != nil {
		t.Fatal(err)
	}
	return spec.Livepatch
}

// readModTarget is `cat /proc/test_klp_mod_target`.
func readModTarget(t testing.TB, k *kernel.Kernel) string {
	t.Helper()
	out, err := k.FS.Cat(nil, "/proc/test_klp_mod_target")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// consoleLoglevel is printk's console_loglevel.
func consoleLoglevel(t testing.TB, k *kernel.Kernel) int32 {
	t.Helper()
	return int32(k.ConsoleLoglevel())
}

// kselftest drives a machine the way tools/testing/selftests/livepatch/
// functions.sh does: every command is logged to /dev/kmsg first, every
// wait is a loop_until in simulated time, and checkResult compares the
// filtered log since startTest.
type kselftest struct {
	t   *testing.T
	k   *kernel.Kernel
	c   *Core
	seq uint64
}

// newKselftest boots a two-CPU machine with the selftests' dynamic debug
// settings and the named test modules, and starts the test.
func newKselftest(t *testing.T, modules ...string) *kselftest {
	t.Helper()
	k, c := machine(t, 2)
	addTestModules(t, k, modules...)
	s := &kselftest{t: t, k: k, c: c}
	s.startTest()
	return s
}

// startTest marks where check_result's log starts (the canary).
func (s *kselftest) startTest() { s.seq = s.k.Log.NextSeq() }

// log is functions.sh's log: echo "$1" > /dev/kmsg.
func (s *kselftest) log(line string) {
	s.t.Helper()
	kmsg(s.t, s.k, line)
}

// loopUntil is loop_until: up to 600 retries 0.1 s apart.
func (s *kselftest) loopUntil(cond func() bool) bool {
	s.t.Helper()
	if err := s.k.RunUntil(s.k.Now()+60e9, cond); err != nil {
		s.t.Fatal(err)
	}
	return cond()
}

func (s *kselftest) exists(path string) bool {
	_, err := s.k.FS.Lookup(nil, path)
	return err == nil
}

func (s *kselftest) read(path string) string {
	v, _ := s.k.FS.Cat(nil, path)
	return v
}

func insmodLine(mod, args string) string {
	return strings.TrimRight("% insmod test_modules/"+mod+".ko "+args, " ")
}

// insmod is __load_mod: log, insmod (dying on any output), wait for
// /sys/module/MOD.
func (s *kselftest) insmod(mod, args string) {
	s.t.Helper()
	s.log(insmodLine(mod, args))
	if err := s.k.Insmod(mod, args); err != nil {
		s.t.Fatalf("%s", err)
	}
	if !s.loopUntil(func() bool { return s.exists("/sys/module/" + mod) }) {
		s.t.Fatalf("/sys/module/%s never appeared", mod)
	}
}

// loadMod is load_mod (for a module that is not a livepatch).
func (s *kselftest) loadMod(mod, args string) {
	s.t.Helper()
	if isLivepatch(s.t, mod) {
		s.t.Fatalf("use loadLP() instead of loadMod() for %s", mod)
	}
	s.insmod(mod, args)
}

// loadLPNowait is load_lp_nowait: the patch's sysfs directory appears,
// the transition may go on.
func (s *kselftest) loadLPNowait(mod, args string) {
	s.t.Helper()
	if !isLivepatch(s.t, mod) {
		s.t.Fatalf("use loadMod() instead of loadLP() for %s", mod)
	}
	s.insmod(mod, args)
	if !s.loopUntil(func() bool { return s.exists("/sys/kernel/livepatch/" + mod) }) {
		s.t.Fatalf("/sys/kernel/livepatch/%s never appeared", mod)
	}
}

// loadLP is load_lp: load_lp_nowait, then wait for the transition.
func (s *kselftest) loadLP(mod, args string) {
	s.t.Helper()
	s.loadLPNowait(mod, args)
	path := "/sys/kernel/livepatch/" + mod + "/transition"
	if !s.loopUntil(func() bool { return s.read(path) == "0\n" }) {
		s.t.Fatalf("%s never reached 0 (%q)", path, s.read(path))
	}
}

// loadFailingMod is load_failing_mod: insmod must fail, and its error
// line goes to the log.
func (s *kselftest) loadFailingMod(mod, args string) {
	s.t.Helper()
	s.log(insmodLine(mod, args))
	err := s.k.Insmod(mod, args)
	if err == nil {
		s.t.Fatalf("%s unexpectedly loaded", mod)
	}
	s.log(err.Error())
}

// unloadMod is unload_mod (and unload_lp): wait for refcnt 0, log, rmmod,
// wait for /sys/module/MOD to vanish.
func (s *kselftest) unloadMod(mod string) {
	s.t.Helper()
	refcnt := "/sys/module/" + mod + "/refcnt"
	if !s.loopUntil(func() bool { return s.read(refcnt) == "0\n" }) {
		s.t.Fatalf("%s: refcnt is %q", mod, s.read(refcnt))
	}
	s.log("% rmmod " + mod)
	if err := s.k.Rmmod(mod); err != nil {
		s.t.Fatalf("%s", err)
	}
	if !s.loopUntil(func() bool { return !s.exists("/sys/module/" + mod) }) {
		s.t.Fatalf("/sys/module/%s still there", mod)
	}
}

// disableLP is disable_lp: echo 0 > enabled, wait until the patch's sysfs
// directory is gone.
func (s *kselftest) disableLP(mod string) {
	s.t.Helper()
	path := "/sys/kernel/livepatch/" + mod
	s.log("% echo 0 > " + path + "/enabled")
	if err := s.k.FS.Echo(nil, "0", path+"/enabled"); err != nil {
		s.t.Fatalf("echo 0 > %s/enabled: %v", path, err)
	}
	if !s.loopUntil(func() bool { return !s.exists(path) }) {
		s.t.Fatalf("%s still there", path)
	}
}

// setPrePatchRet is set_pre_patch_ret.
func (s *kselftest) setPrePatchRet(mod string, ret int) {
	s.t.Helper()
	path := "/sys/module/" + mod + "/parameters/pre_patch_ret"
	s.log(fmt.Sprintf("%% echo %d > %s", ret, path))
	if err := s.k.FS.Echo(nil, fmt.Sprint(ret), path); err != nil {
		s.t.Fatal(err)
	}
	want := fmt.Sprintf("%d\n", ret)
	if !s.loopUntil(func() bool { return s.read(path) == want }) {
		s.t.Fatalf("%s reads %q", path, s.read(path))
	}
}

// checkResult is check_result: the filtered log since startTest must be
// want exactly (want without its trailing newline, as in the scripts).
func (s *kselftest) checkResult(want string) {
	s.t.Helper()
	got := dmesg(s.k, s.seq)
	want = strings.TrimLeft(want, "\n")
	if got != want {
		s.t.Errorf("check_result:\n%s", tmDiff(want, got))
	}
}

// tmDiff shows got against want line by line ("-" want, "+" got).
func tmDiff(want, got string) string {
	w := strings.Split(strings.TrimSuffix(want, "\n"), "\n")
	g := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	var b strings.Builder
	i, j := 0, 0
	for i < len(w) || j < len(g) {
		switch {
		case i < len(w) && j < len(g) && w[i] == g[j]:
			b.WriteString("  " + w[i] + "\n")
			i++
			j++
		case j < len(g) && !tmContains(w[i:], g[j]):
			b.WriteString("+ " + g[j] + "\n")
			j++
		case i < len(w):
			b.WriteString("- " + w[i] + "\n")
			i++
		default:
			b.WriteString("+ " + g[j] + "\n")
			j++
		}
	}
	return b.String()
}

func tmContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// unloadLP is unload_lp: the same as unload_mod.
func (s *kselftest) unloadLP(mod string) {
	s.t.Helper()
	s.unloadMod(mod)
}
