package livepatch

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"klpsim/kernel"
	"klpsim/kernel/errno"
	"klpsim/livepatch/testmods"
)

// machineVersion is machine for kernel version v, with v's test modules
// (names) registered.
func machineVersion(t testing.TB, cpus int, v *Version, names ...string) (*kernel.Kernel, *Core) {
	t.Helper()
	k, err := kernel.Boot(kernel.Config{CPUs: cpus, Banner: v.Banner})
	if err != nil {
		t.Fatal(err)
	}
	c, err := InitVersion(k, v)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"file kernel/livepatch/* +p", "func klp_try_switch_task -p"} {
		if err := k.Dyndbg.Control(q); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range names {
		spec, err := testmods.SpecFor(v.Name, n)
		if err != nil {
			t.Fatal(err)
		}
		if err := k.RegisterModule(spec); err != nil {
			t.Fatal(err)
		}
	}
	return k, c
}

func TestLookupVersion(t *testing.T) {
	for _, tc := range []struct{ name, want string }{{"", "6.12"}, {"6.12", "6.12"}, {"5.1", "5.1"}} {
		v, err := LookupVersion(tc.name)
		if err != nil || v.Name != tc.want {
			t.Errorf("LookupVersion(%q) = %v, %v; want %s", tc.name, v, err, tc.want)
		}
	}
	if _, err := LookupVersion("4.12"); err == nil || !strings.Contains(err.Error(), `unknown kernel "4.12": expected 6.12`) {
		t.Errorf("LookupVersion(4.12): %v", err)
	}
	if n := VersionNames(); n[0] != DefaultVersion {
		t.Errorf("VersionNames() = %v: the default first", n)
	}
}

// include/linux/livepatch.h: the same values, renamed in 5.19.
func TestVersion_StateNames(t *testing.T) {
	for _, tc := range []struct {
		v     *Version
		state int
		want  string
	}{
		{V612, KLPTransitionIdle, "KLP_TRANSITION_IDLE"}, {V612, KLPTransitionUnpatched, "KLP_TRANSITION_UNPATCHED"},
		{V612, KLPTransitionPatched, "KLP_TRANSITION_PATCHED"},
		{V51, KLPTransitionIdle, "KLP_UNDEFINED"}, {V51, KLPTransitionUnpatched, "KLP_UNPATCHED"},
		{V51, KLPTransitionPatched, "KLP_PATCHED"}, {V51, 7, "7"},
	} {
		if got := tc.v.StateName(tc.state); got != tc.want {
			t.Errorf("%s: StateName(%d) = %q, want %q", tc.v.Name, tc.state, got, tc.want)
		}
	}
}

// v5.1's patch directory has enabled, transition and force only; no
// replace (6.11), stack_order (6.14) or <object>/patched (6.1).
func TestVersion_Sysfs(t *testing.T) {
	for _, v := range []*Version{V612, V51} {
		t.Run(v.Name, func(t *testing.T) {
			k, _ := machineVersion(t, 2, v, "test_klp_livepatch")
			if err := k.Insmod("test_klp_livepatch", ""); err != nil {
				t.Fatal(err)
			}
			dir := "/sys/kernel/livepatch/test_klp_livepatch/"
			for _, f := range []string{"enabled", "transition", "force", "vmlinux", "vmlinux/cmdline_proc_show,1"} {
				if _, err := k.FS.Lookup(nil, dir+f); err != nil {
					t.Errorf("%s: %v", f, err)
				}
			}
			for _, f := range []string{"replace", "stack_order", "vmlinux/patched"} {
				_, err := k.FS.Cat(nil, dir+f)
				if v == V51 && !errors.Is(err, errno.ENOENT) {
					t.Errorf("cat %s: %v, want no such file", f, err)
				}
				if v == V612 && err != nil {
					t.Errorf("cat %s: %v", f, err)
				}
			}
		})
	}
}

// v5.1 has no klp_state API: vmlinux exports no klp_get_state or
// klp_get_prev_state, so a module using them does not load.
func TestVersion_NoStatesAPI(t *testing.T) {
	k, _ := machineVersion(t, 2, V51)
	for _, s := range []string{"klp_get_state", "klp_get_prev_state"} {
		if _, ok := k.Sym(s); ok {
			t.Errorf("v5.1 vmlinux has %s", s)
		}
	}
	spec, err := testmods.Spec("test_klp_state") // today's module
	if err != nil {
		t.Fatal(err)
	}
	if err := k.RegisterModule(spec); err != nil {
		t.Fatal(err)
	}
	if err := k.Insmod("test_klp_state", ""); !errors.Is(err, errno.ENOENT) || !strings.Contains(err.Error(), "Unknown symbol in module") {
		t.Errorf("insmod test_klp_state on v5.1: %v, want Unknown symbol in module", err)
	}
	k6, _ := machineVersion(t, 2, V612)
	if _, ok := k6.Sym("klp_get_prev_state"); !ok {
		t.Error("6.12 vmlinux lacks klp_get_prev_state")
	}
}

// v5.1 freed the replaced patches inside klp_complete_transition, before
// the new patch's post_patch callbacks; 5.5 moved it after, so that they
// can still see the replaced patches (klp_get_prev_state).
func TestVersion_ReplacedPatchesFreed(t *testing.T) {
	for _, tc := range []struct {
		v     *Version
		alive bool // the replaced patch is listed when the transition completes
	}{{V612, true}, {V51, false}} {
		t.Run(tc.v.Name, func(t *testing.T) {
			k, c := machineVersion(t, 2, tc.v, "test_klp_callbacks_demo", "test_klp_callbacks_demo2")
			if err := k.Insmod("test_klp_callbacks_demo", ""); err != nil {
				t.Fatal(err)
			}
			k.RunFor(2e9)
			seen := false
			listed := false
			c.OnEvent = func(e Event) {
				if e.Kind == EventComplete && e.Patch == "test_klp_callbacks_demo2" {
					seen = true
					for _, p := range c.Patches() {
						listed = listed || p.Name == "test_klp_callbacks_demo"
					}
				}
			}
			if err := k.Insmod("test_klp_callbacks_demo2", "replace=1"); err != nil {
				t.Fatal(err)
			}
			k.RunFor(2e9)
			if !seen || listed != tc.alive {
				t.Errorf("completion seen %v; replaced patch still listed then: %v, want %v", seen, listed, tc.alive)
			}
			if _, err := k.FS.Lookup(nil, "/sys/kernel/livepatch/test_klp_callbacks_demo"); err == nil {
				t.Error("the replaced patch's sysfs directory is still there")
			}
		})
	}
}

// FTRACE_OPS_FL_PERMANENT came with 5.5: on v5.1, kernel.ftrace_enabled
// can be cleared under a loaded livepatch, which then silently stops
// redirecting its functions.
func TestVersion_FtraceNotPermanent(t *testing.T) {
	for _, v := range []*Version{V612, V51} {
		t.Run(v.Name, func(t *testing.T) {
			k, _ := machineVersion(t, 2, v, "test_klp_livepatch")
			if err := k.Insmod("test_klp_livepatch", ""); err != nil {
				t.Fatal(err)
			}
			k.RunFor(2e9)
			err := k.FS.Echo(nil, "0", "/proc/sys/kernel/ftrace_enabled")
			out, _ := k.FS.Cat(nil, "/proc/cmdline")
			patched := strings.Contains(out, "this has been live patched")
			switch {
			case v.FtracePermanent && (!errors.Is(err, errno.EBUSY) || !patched):
				t.Errorf("ftrace_enabled=0: %v, /proc/cmdline %q; want EBUSY and still patched", err, out)
			case !v.FtracePermanent && (err != nil || patched):
				t.Errorf("ftrace_enabled=0: %v, /proc/cmdline %q; want accepted and the patch bypassed", err, out)
			}
		})
	}
}

// v5.1 had no klp_sched_try_switch: a kthread looping through
// cond_resched never checks its own stack.
func TestVersion_NoSchedTrySwitch(t *testing.T) {
	for _, v := range []*Version{V612, V51} {
		t.Run(v.Name, func(t *testing.T) {
			k, _ := machineVersion(t, 2, v)
			addModule(t, k, kernel.ModuleSpec{Name: "test_klp_condresched_mod", Init: "busy_init"}, condreschedModSrc)
			addModule(t, k, lpSpec("test_klp_condresched_lp"), condreschedLPSrc)
			if err := k.Insmod("test_klp_condresched_mod", ""); err != nil {
				t.Fatal(err)
			}
			if err := k.Dyndbg.Control("func klp_try_switch_task +p"); err != nil {
				t.Fatal(err)
			}
			k.RunFor(50e6)
			var worker *kernel.Task
			for _, w := range k.Tasks() {
				if strings.Contains(k.ProcStack(w), "] busy_fn+") {
					worker = w
				}
			}
			if worker == nil {
				t.Fatal("no task in busy_fn")
			}
			seq := k.Log.NextSeq()
			if err := k.Insmod("test_klp_condresched_lp", ""); err != nil {
				t.Fatal(err)
			}
			k.RunFor(500e6)
			// klp_try_switch_task's lines about the worker, logged by the
			// worker itself: only klp_sched_try_switch checks a task on
			// its own behalf.
			self := 0
			for _, r := range k.Log.Records() {
				if r.Seq >= seq && strings.Contains(r.Text, fmt.Sprintf("%s:%d ", worker.Comm, worker.PID)) && r.Caller == fmt.Sprintf("T%d", worker.PID) {
					self++
				}
			}
			if v.SchedTrySwitch != (self > 0) {
				t.Errorf("checks by the task itself: %d (klp_sched_try_switch %v)", self, v.SchedTrySwitch)
			}
		})
	}
}
