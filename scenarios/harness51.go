package scenarios

import (
	"errors"
	"fmt"
	"strings"

	"klpsim/kernel/errno"
)

// harnessStyle is what differs between the kernels' functions.sh: how a
// test starts and which log lines check_result compares, and how module
// loads are logged. The kernel version a machine runs picks one
// (harnessFor); the helpers in harness.go read it.
type harnessStyle struct {
	// startTest is start_test NAME (or what the script did instead).
	startTest func(r *runner, name string) error
	// result is check_result's pipeline, with keep as its grep
	// (isHarnessLine, or check_result --grep's patterns).
	result func(r *runner, keep func(string) bool) string
	// loadLine is the "% insmod ..." / "% modprobe ..." line __load_mod
	// and load_failing_mod log.
	loadLine func(mod string, args []string) string
	// loadError is the loader's error text load_failing_mod logs.
	loadError func(mod string, err error) string
	// canary: check_result without a result is "buffer overrun? can't
	// find canary dmesg entry" (the canary harness) rather than a diff.
	canary bool
}

// harness612 is today's functions.sh: a canary per test, insmod of
// test_modules/NAME.ko.
var harness612 = &harnessStyle{
	startTest: (*runner).startTestCanary,
	result:    (*runner).resultOf,
	loadLine:  insmodLine,
	loadError: func(_ string, err error) string { return err.Error() },
	canary:    true,
}

// harness51 is v5.1's functions.sh (tools/testing/selftests/livepatch in
// v5.1–v5.4): each test echoes "TEST: NAME ... " itself and clears the
// ring buffer with dmesg -C; check_result is
//
//	dmesg | grep -v 'tainting' | grep -e 'livepatch:' -e 'test_klp' | sed 's/^\[[ 0-9.]*\] //'
//
// and the modules are lib/livepatch's, loaded with modprobe.
var harness51 = &harnessStyle{
	startTest: (*runner).startTest51,
	result:    (*runner).result51,
	loadLine:  modprobeLine,
	loadError: modprobeError("5.1.0-klpsim"),
}

// harness66 is functions.sh as the states POC found it (v6.6 with the
// kselftest tree of November 2023): start_test saves the log
// (save_dmesg) and logs "===== TEST: NAME ====="; check_result compares
// the lines dmesg gained since (comm -13) through the same filter as
// today's; modules are lib/livepatch's, loaded with modprobe.
var harness66 = &harnessStyle{
	startTest: (*runner).startTestSaved,
	result:    (*runner).resultSinceSaved,
	loadLine:  modprobeLine,
	loadError: modprobeError("6.6.0-klpsim"),
}

// harnessFor is the harness of a kernel version.
func harnessFor(version string) *harnessStyle {
	switch version {
	case "5.1":
		return harness51
	case "states-poc":
		return harness66
	}
	return harness612
}

// startTestSaved is v6.6's start_test: save_dmesg, the TEST line, the
// ===== TEST line in the log.
func (r *runner) startTestSaved(name string) error {
	r.savedDmesg = len(r.dmesgLines())
	r.test = &TestResult{Name: name}
	r.reported = false
	fmt.Fprintf(r.opts.Stdout, "TEST: %s ... ", name)
	r.log("===== TEST: " + name + " =====")
	return nil
}

// resultSinceSaved is v6.6's check_result pipeline:
//
//	dmesg | comm --nocheck-order -13 "$SAVED_DMESG" - | grep -e 'livepatch:' -e 'test_klp' |
//	grep -v '\(tainting\|taints\) kernel' | sed 's/^\[[ 0-9.]*\] //'
func (r *runner) resultSinceSaved(keep func(string) bool) string {
	var out []string
	lines := r.dmesgLines()
	if r.savedDmesg < len(lines) {
		lines = lines[r.savedDmesg:]
	} else {
		lines = nil
	}
	for _, l := range lines {
		l = timestampPrefix.ReplaceAllString(l, "")
		if keep(l) && !strings.Contains(l, "tainting kernel") && !strings.Contains(l, "taints kernel") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// startTest51 is the v5.1 scripts' `echo -n "TEST: NAME ... "` and
// `dmesg -C`.
func (r *runner) startTest51(name string) error {
	r.test = &TestResult{Name: name}
	r.reported = false
	fmt.Fprintf(r.opts.Stdout, "TEST: %s ... ", name)
	r.k.Log.Clear()
	r.lastDmesg = ""
	return nil
}

// result51 is v5.1's check_result pipeline over the whole (cleared)
// ring buffer.
func (r *runner) result51(keep func(string) bool) string {
	var out []string
	for _, l := range r.dmesgLines() {
		if strings.Contains(l, "tainting") {
			continue
		}
		if l = timestampPrefix.ReplaceAllString(l, ""); keep(l) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// modprobeLine is "% modprobe MOD ARGS" with the trailing space trimmed
// (${msg%% }).
func modprobeLine(mod string, args []string) string {
	return strings.TrimSuffix("% modprobe "+mod+" "+strings.Join(args, " "), " ")
}

// modprobeError is kmod modprobe's message for a failed load, on a
// kernel whose uname -r is release: a module modprobe cannot find is
// "modprobe: FATAL: Module MOD not found in directory
// /lib/modules/RELEASE"; a failed init_module is "modprobe: ERROR: could
// not insert 'MOD': <strerror>", with its two special cases.
func modprobeError(release string) func(mod string, err error) string {
	return func(mod string, err error) string {
		if strings.HasPrefix(err.Error(), "insmod: ERROR: could not load module") {
			return "modprobe: FATAL: Module " + mod + " not found in directory /lib/modules/" + release
		}
		var e errno.Errno
		if !errors.As(err, &e) {
			return err.Error()
		}
		msg := e.Error()
		switch e {
		case errno.EEXIST:
			msg = "Module already in kernel"
		case errno.ENOENT:
			msg = "Unknown symbol in module, or unknown parameter (see dmesg)"
		}
		return "modprobe: ERROR: could not insert '" + mod + "': " + msg
	}
}
