package scenarios

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"klpsim/kernel/errno"
	"klpsim/kernel/printk"
)

// The functions.sh helpers, each doing what the shell function does: the
// same log lines, the same waits, the same die messages.

type kernelDmesg = printk.DmesgOptions

var (
	timestampPrefix = regexp.MustCompile(`^\[[ 0-9.]*\] `)
	callerPrefix    = regexp.MustCompile(`^\[[ ]*[CT][0-9]*\] `)
)

// epoch is the wall-clock time of boot in the canary's timestamp: the
// machine's clock starts here, so a scenario's log is the same every run.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// startTest is start_test NAME.
func (r *runner) startTest(c *Cmd) error {
	r.endTest()
	return r.harness.startTest(r, r.expand(c.Args[0]))
}

// startTestCanary is today's start_test: a canary line in the log, which
// check_result's result starts after.
func (r *runner) startTestCanary(name string) error {
	now := epoch.Add(time.Duration(r.k.Now()))
	msg := "livepatch kselftest timestamp: " + now.Format("2006-01-02 15:04:05.000000000-07:00")
	r.log(msg)
	found := false
	ok, err := r.loopUntil(func() bool {
		for _, l := range r.dmesgLines() {
			if strings.Contains(l, msg) {
				r.lastDmesg, found = l, true
			}
		}
		return found
	})
	if err != nil {
		return err
	}
	if !ok {
		return r.die("buffer busy? can't find canary dmesg message: %s", msg)
	}
	r.test = &TestResult{Name: name}
	r.reported = false
	fmt.Fprintf(r.opts.Stdout, "TEST: %s ... ", name)
	r.log("===== TEST: " + name + " =====")
	return nil
}

// moduleName is the module a load or unload names (dashes as
// underscores, as insmod does).
func moduleName(s string) string { return strings.ReplaceAll(s, "-", "_") }

// isLivepatch is is_livepatch_mod, dying when the module file is missing.
func (r *runner) isLivepatch(mod string) (bool, error) {
	for _, m := range r.s.Modules {
		if m.Spec.Name == mod {
			return m.Spec.Livepatch, nil
		}
	}
	if r.opts.Catalog != nil {
		if lp, ok := r.opts.Catalog.IsLivepatch(mod); ok {
			return lp, nil
		}
	}
	return false, r.die(`Can't find "test_modules/%s.ko", try "make"`, mod)
}

// insmodLine is "% insmod test_modules/MOD.ko ARGS" with the trailing
// space trimmed, as __load_mod logs it.
func insmodLine(mod string, args []string) string {
	return strings.TrimSuffix("% insmod test_modules/"+mod+".ko "+strings.Join(args, " "), " ")
}

// loadModule is __load_mod.
func (r *runner) loadModule(mod string, args []string) error {
	r.log(r.harness.loadLine(mod, args))
	if err := r.k.Insmod(mod, strings.Join(args, " ")); err != nil {
		return r.die("%s", err)
	}
	ok, err := r.loopUntil(func() bool { return r.exists("/sys/module/" + mod) })
	if err != nil {
		return err
	}
	if !ok {
		return r.die("failed to load module %s", mod)
	}
	return nil
}

// loadMod is load_mod.
func (r *runner) loadMod(c *Cmd) error {
	a := r.args(c)
	mod := moduleName(a[0])
	lp, err := r.isLivepatch(mod)
	if err != nil {
		return err
	}
	if lp {
		return r.die("use load_lp() to load the livepatch module %s", mod)
	}
	return r.loadModule(mod, a[1:])
}

// loadLPNowait is load_lp_nowait.
func (r *runner) loadLPNowait(c *Cmd) error {
	a := r.args(c)
	return r.loadLPNowaitArgs(moduleName(a[0]), a[1:])
}

func (r *runner) loadLPNowaitArgs(mod string, args []string) error {
	lp, err := r.isLivepatch(mod)
	if err != nil {
		return err
	}
	if !lp {
		return r.die("module %s is not a livepatch", mod)
	}
	if err := r.loadModule(mod, args); err != nil {
		return err
	}
	ok, err := r.loopUntil(func() bool { return r.exists("/sys/kernel/livepatch/" + mod) })
	if err != nil {
		return err
	}
	if !ok {
		return r.die("failed to load module %s (sysfs)", mod)
	}
	return nil
}

// loadLP is load_lp.
func (r *runner) loadLP(c *Cmd) error {
	a := r.args(c)
	mod := moduleName(a[0])
	if err := r.loadLPNowaitArgs(mod, a[1:]); err != nil {
		return err
	}
	path := "/sys/kernel/livepatch/" + mod + "/transition"
	ok, err := r.loopUntil(func() bool { return r.catValue(path) == "0" })
	if err != nil {
		return err
	}
	if !ok {
		return r.die("failed to complete transition")
	}
	return nil
}

// loadFailingMod is load_failing_mod.
func (r *runner) loadFailingMod(c *Cmd) error {
	a := r.args(c)
	mod := moduleName(a[0])
	r.log(r.harness.loadLine(mod, a[1:]))
	err := r.k.Insmod(mod, strings.Join(a[1:], " "))
	if err == nil {
		return r.die("%s unexpectedly loaded", mod)
	}
	r.log(r.harness.loadError(mod, err))
	return nil
}

// tryLoad is try_load: insmod, whose failure is logged, not fatal (a
// script meant for several consistency models, where an enable may be
// refused under one of them: `insmod … || true`).
func (r *runner) tryLoad(c *Cmd) error {
	a := r.args(c)
	mod := moduleName(a[0])
	r.log(insmodLine(mod, a[1:]))
	if err := r.k.Insmod(mod, strings.Join(a[1:], " ")); err != nil {
		r.log(err.Error())
	}
	return nil
}

// unloadMod is unload_mod (and unload_lp).
func (r *runner) unloadMod(c *Cmd) error {
	mod := moduleName(r.expand(c.Args[0]))
	refcnt := "/sys/module/" + mod + "/refcnt"
	ok, err := r.loopUntil(func() bool { return r.catValue(refcnt) == "0" })
	if err != nil {
		return err
	}
	if !ok {
		return r.die("failed to unload module %s (refcnt)", mod)
	}
	r.log("% rmmod " + mod)
	if err := r.k.Rmmod(mod); err != nil {
		return r.die("%s", err)
	}
	ok, err = r.loopUntil(func() bool { return !r.exists("/sys/module/" + mod) })
	if err != nil {
		return err
	}
	if !ok {
		return r.die("failed to unload module %s (/sys/module)", mod)
	}
	return nil
}

// disableLP is disable_lp.
func (r *runner) disableLP(c *Cmd) error {
	mod := moduleName(r.expand(c.Args[0]))
	dir := "/sys/kernel/livepatch/" + mod
	r.log("% echo 0 > " + dir + "/enabled")
	if err := r.k.FS.Echo(nil, "0", dir+"/enabled"); err != nil {
		// The script goes on: bash prints the error on stderr.
		fmt.Fprintln(r.opts.Stderr, err)
	}
	ok, err := r.loopUntil(func() bool { return !r.exists(dir) })
	if err != nil {
		return err
	}
	if !ok {
		return r.die("failed to disable livepatch %s", mod)
	}
	return nil
}

// setPrePatchRet is set_pre_patch_ret.
func (r *runner) setPrePatchRet(c *Cmd) error {
	a := r.args(c)
	mod, ret := moduleName(a[0]), a[1]
	path := "/sys/module/" + mod + "/parameters/pre_patch_ret"
	r.log("% echo " + ret + " > " + path)
	if err := r.k.FS.Echo(nil, ret, path); err != nil {
		fmt.Fprintln(r.opts.Stderr, err)
	}
	ok, err := r.loopUntil(func() bool { return r.catValue(path) == ret })
	if err != nil {
		return err
	}
	if !ok {
		return r.die("failed to set pre_patch_ret parameter for %s module", mod)
	}
	return nil
}

// setFtraceEnabled is set_ftrace_enabled [--fail] VAL: sysctl -q
// kernel.ftrace_enabled=VAL, then the result logged.
func (r *runner) setFtraceEnabled(c *Cmd) error {
	a := r.args(c)
	canFail := false
	if a[0] == "--fail" {
		canFail, a = true, a[1:]
	}
	val := a[0]
	const file = "/proc/sys/kernel/ftrace_enabled"
	msg := ""
	if err := r.k.FS.Echo(nil, val, file); err != nil {
		msg = `sysctl: setting key "kernel.ftrace_enabled": ` + errnoText(err)
	}
	result := r.catValue(file)
	if result != val {
		if canFail {
			r.log("livepatch: " + strings.ReplaceAll(msg, "/proc/sys/kernel/", "kernel."))
			return nil
		}
		return &skipError{"failed to set kernel.ftrace_enabled = " + val}
	}
	r.log("livepatch: kernel.ftrace_enabled = " + result)
	return nil
}

// checkResult is check_result [--grep PATTERN]... SECTION: the harness's
// check_result, or, with --grep, the log lines after the canary that match
// any PATTERN instead of those naming livepatch: or test_klp (so a
// module's name need not contain test_klp).
func (r *runner) checkResult(c *Cmd) error {
	a := r.args(c)
	name := a[len(a)-1]
	keep := isHarnessLine
	if len(a) > 1 {
		var res []*regexp.Regexp
		for i := 1; i < len(a)-1; i += 2 {
			re, err := regexp.Compile(a[i])
			if err != nil {
				return r.die("check_result: bad pattern %q: %s", a[i], regexpError(err))
			}
			res = append(res, re)
		}
		keep = func(l string) bool {
			for _, re := range res {
				if re.MatchString(l) {
					return true
				}
			}
			return false
		}
	}
	sec := r.s.Sections[name]
	if sec == nil {
		return r.die("no section %s", name)
	}
	// check_result "$expect": the script's heredoc-free strings have no
	// trailing newline, and $(…) strips the result's.
	template := string(sec.Data)
	if u, ok := r.accepted(name); ok {
		template = u // an earlier check accepted new contents
	}
	want := strings.TrimRight(r.expandText(template), "\n")
	got := r.result(keep)
	switch {
	case want == got:
		if r.test != nil && !r.reported && r.testViolations == 0 {
			fmt.Fprintln(r.opts.Stdout, "ok")
			r.reported = true
		}
		return nil
	case got == "" && r.harness.canary:
		r.notOK("\n\nbuffer overrun? can't find canary dmesg entry\n")
	case r.opts.Update:
		if _, ok := r.accepted(name); ok {
			return r.die("check_result %s: cannot update: an earlier check_result of the section wants other contents", name)
		}
		r.accept(name, updatedSection(template, r.expandText, got))
		if r.test != nil && !r.reported {
			fmt.Fprintf(r.opts.Stdout, "ok (updated %s)\n", name)
			r.reported = true
		}
		return nil
	default:
		r.notOK("\n\n" + strings.TrimSuffix(UnifiedDiff("expected", "result", want+"\n", got+"\n"), "\n") + "\n")
	}
	return &caseFailed{"livepatch kselftest(s) failed"}
}

// caseFailed is check_result's die: the harness's script ends there, but
// a scenario ends only the test case (its later cases run and report).
type caseFailed struct{ msg string }

func (e *caseFailed) Error() string { return e.msg }

// accepted is the contents --update accepted for section name so far.
func (r *runner) accepted(name string) (string, bool) {
	if u, ok := r.pending[name]; ok {
		return u, true
	}
	u, ok := r.res.Updates[name]
	return u, ok
}

// accept records --update's new contents for section name, kept if the
// test case passes (commitUpdates).
func (r *runner) accept(name, data string) {
	if r.test == nil {
		r.commit(name, data) // outside a test case: nothing can fail it
		return
	}
	if r.pending == nil {
		r.pending = map[string]string{}
	}
	r.pending[name] = data
}

func (r *runner) commit(name, data string) {
	if r.res.Updates == nil {
		r.res.Updates = map[string]string{}
	}
	r.res.Updates[name] = data
}

// settleUpdates ends the test case's pending updates: kept when it
// passed, else discarded.
func (r *runner) settleUpdates(passed bool) {
	names := make([]string, 0, len(r.pending))
	for n := range r.pending {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if passed {
			r.commit(n, r.pending[n])
		} else {
			r.res.Discarded = append(r.res.Discarded, n)
		}
	}
	r.pending = nil
}

// notOK prints "not ok" and what follows, as check_result's echo -e does.
func (r *runner) notOK(detail string) {
	if r.test != nil && !r.reported {
		fmt.Fprint(r.opts.Stdout, "not ok")
		r.reported = true
	}
	fmt.Fprintln(r.opts.Stdout, detail)
}

func (r *runner) sysfsPath(c *Cmd) (path, expected string) {
	a := r.args(c)
	return "/sys/kernel/livepatch/" + moduleName(a[0]) + "/" + a[1], a[2]
}

// checkSysfsRights is check_sysfs_rights MOD REL EXPECTED.
func (r *runner) checkSysfsRights(c *Cmd) error {
	path, want := r.sysfsPath(c)
	got, err := r.k.FS.StatMode(nil, path)
	if err != nil {
		fmt.Fprintln(r.opts.Stderr, err)
	}
	if got != want {
		return r.die("Unexpected access rights of %s: %s vs. %s", path, want, got)
	}
	return nil
}

// checkSysfsValue is check_sysfs_value MOD REL EXPECTED.
func (r *runner) checkSysfsValue(c *Cmd) error {
	path, want := r.sysfsPath(c)
	got, err := r.k.FS.Cat(nil, path)
	if err != nil {
		fmt.Fprintln(r.opts.Stderr, err)
	}
	got = strings.TrimRight(got, "\n")
	if got != want {
		return r.die("Unexpected value in %s: %s vs. %s", path, want, got)
	}
	return nil
}

// readModuleParam is read_module_param MOD PARAM (the states POC's
// functions.sh, POC 5/7): it logs the cat, whose output must be empty —
// the parameter's get prints to the log instead.
func (r *runner) readModuleParam(c *Cmd) error {
	a := r.args(c)
	path := "/sys/module/" + moduleName(a[0]) + "/parameters/" + a[1]
	r.log("% cat " + path)
	out, err := r.k.FS.Cat(nil, path)
	if err != nil {
		out += err.Error()
	}
	if out = strings.TrimRight(out, "\n"); out != "" {
		return r.die("%s", out)
	}
	return nil
}

// checkObjectPatched is check_object_patched LP OBJ EXPECTED (POC 5/7):
// check_sysfs_value LP OBJ/patched EXPECTED.
func (r *runner) checkObjectPatched(c *Cmd) error {
	a := r.args(c)
	path := "/sys/kernel/livepatch/" + moduleName(a[0]) + "/" + a[1] + "/patched"
	got, err := r.k.FS.Cat(nil, path)
	if err != nil {
		fmt.Fprintln(r.opts.Stderr, err)
	}
	if got = strings.TrimRight(got, "\n"); got != a[2] {
		return r.die("Unexpected value in %s: %s vs. %s", path, a[2], got)
	}
	return nil
}

// loopUntilCmd is loop_until CONDITION [|| die MESSAGE].
func (r *runner) loopUntilCmd(c *Cmd) error {
	var condErr error
	ok, err := r.loopUntil(func() bool {
		v, err := r.eval(c.Cond)
		condErr = err
		return v && err == nil
	})
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	return r.condFailed(c, condErr, fmt.Sprintf("loop_until: still false after %d retries %s apart", MaxRetries, fmtDuration(RetryInterval)))
}

// condFailed is the die of a condition that did not hold.
func (r *runner) condFailed(c *Cmd, condErr error, what string) error {
	if c.Die != nil && c.Skip {
		return &skipError{r.expand(*c.Die)}
	}
	if c.Die != nil {
		return r.die("%s", r.expand(*c.Die))
	}
	msg := what + ": " + r.condString(c.Cond)
	if condErr != nil {
		msg += " (" + condErr.Error() + ")"
	}
	return r.die("%s", msg)
}

// logCmd is log MESSAGE.
func (r *runner) logCmd(c *Cmd) error {
	r.log(strings.Join(r.args(c), " "))
	return nil
}

func (r *runner) dieCmd(c *Cmd) error { return r.die("%s", strings.Join(r.args(c), " ")) }

func (r *runner) skipCmd(c *Cmd) error { return &skipError{strings.Join(r.args(c), " ")} }

var _ = errno.EINVAL

// The function tracer helpers of functions.sh.

const tracingDir = "/sys/kernel/debug/tracing"

// tracingWrite is one `echo VALUE > $SYSFS_TRACING_DIR/FILE`.
func (r *runner) tracingWrite(file, value string) error {
	if err := r.k.FS.Echo(nil, value, tracingDir+"/"+file); err != nil {
		return r.die("%v", err)
	}
	return nil
}

// cleanupTracing is cleanup_tracing: tracing off, no filter, the nop
// tracer, an empty buffer.
func (r *runner) cleanupTracing(*Cmd) error {
	for _, w := range [][2]string{{"tracing_on", "0"}, {"set_ftrace_filter", ""}, {"current_tracer", "nop"}, {"trace", ""}} {
		if err := r.tracingWrite(w[0], w[1]); err != nil {
			return err
		}
	}
	return nil
}

// traceFunction is trace_function FUNCTION: the function tracer on one
// function.
func (r *runner) traceFunction(c *Cmd) error {
	if err := r.cleanupTracing(c); err != nil {
		return err
	}
	fn := r.args(c)[0]
	for _, w := range [][2]string{{"current_tracer", "function"}, {"set_ftrace_filter", fn}, {"tracing_on", "1"}} {
		if err := r.tracingWrite(w[0], w[1]); err != nil {
			return err
		}
	}
	return nil
}

// checkTracedFunctions is check_traced_functions FUNCTION...: each must
// appear as a word in the trace buffer (grep -Fwq), then cleanup_tracing.
func (r *runner) checkTracedFunctions(c *Cmd) error {
	trace, err := r.k.FS.Cat(nil, tracingDir+"/trace")
	if err != nil {
		return r.die("%v", err)
	}
	for _, fn := range r.args(c) {
		if lines, _ := grepLines(trace, fn, true, false, true, false); len(lines) == 0 { // grep -Fwq
			return r.die("Function (%s) did not appear in the trace", fn)
		}
	}
	return r.cleanupTracing(c)
}

var textVar = regexp.MustCompile(`\$(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)`)

// expandText substitutes the script's variables in an expected transcript,
// as bash does in check_result's "$expect" ($NAME or ${NAME}); names the
// script never set are left as they are.
func (r *runner) expandText(s string) string {
	return textVar.ReplaceAllStringFunc(s, func(m string) string {
		name := strings.Trim(m[1:], "{}")
		if v, ok := r.vars[name]; ok {
			return v
		}
		return m
	})
}
