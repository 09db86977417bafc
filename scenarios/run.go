package scenarios

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"klpsim/events"
	"klpsim/kernel"
	"klpsim/livepatch"
)

// The harness's constants (functions.sh).
const (
	MaxRetries    = 600         // MAX_RETRIES
	RetryInterval = 100_000_000 // RETRY_INTERVAL: 0.1 s, in ns
)

// Options are what the command line may override or add.
type Options struct {
	Stdout io.Writer // TEST lines, cat and echo output, diffs
	Stderr io.Writer // ERROR lines
	// Catalog is the built-in module catalog; nil means none.
	Catalog Catalog

	Seed     *uint64 // overrides the machine's seed
	CPUs     int     // overrides the machine's CPUs when > 0
	Timeout  uint64  // overrides the scenario's simulated time limit when > 0
	MaxInsns uint64  // instruction limit when > 0
	MaxTasks int     // task limit when > 0
	Model    string  // overrides the machine's consistency model when set
	// Kernel overrides the machine's kernel version when not "".
	Kernel string
	// Ftrace overrides the machine's ftrace design when not "".
	Ftrace string
	// CheckConsistency switches the livepatch consistency checker on at
	// boot (Core.EnableChecker).
	CheckConsistency bool
	// Dmesg prints the whole kernel log after the scenario.
	Dmesg bool
	// OnEvent receives the livepatch event stream: the transitions'
	// events, without the details (livepatch.EventKind.Detail) only the
	// event recorder shows.
	OnEvent func(livepatch.Event)
	// Update makes a check_result that does not match accept the actual
	// transcript: the test passes and Result.Updates holds the section's
	// new contents, for Rewrite. (A check that found no canary still
	// fails: there is nothing to accept.)
	Update bool
	// Interrupt, once set (by a SIGINT handler), stops the machine between
	// quanta: the scenario ends with each CPU's backtrace on Stderr and
	// Result.Interrupted. Progress, whenever set (by a ticker), makes the
	// goroutine stepping the machine call OnProgress with a snapshot.
	Interrupt, Progress *atomic.Bool
	OnProgress          func(kernel.Status)
	// Booted, when set, is called with the booted machine before the
	// script starts (the debugger attaches there). BeforeCommand is called
	// before each command with its line; an error ends the script there
	// (Result.Failed, with the error as Msg) without a report.
	Booted        func(k *kernel.Kernel, lp *livepatch.Core)
	BeforeCommand func(line int) error
	// RecordEvents keeps the run's events (Result.Events), the
	// scheduler's too with RecordSched: a lab's questions are judged on
	// them. A scenario with expect event lines records them anyway.
	RecordEvents, RecordSched bool
}

// TestResult is one start_test's outcome.
type TestResult struct {
	Name    string
	OK      bool
	Skipped bool
	Msg     string // why it failed or was skipped
}

// Result is a scenario's outcome.
type Result struct {
	Tests  []TestResult
	Failed bool   // an expectation failed, a wait timed out, or the script died
	Msg    string // the failure, when Failed
	// Updates are the expected sections that Options.Update accepted new
	// contents for, by name: those of the test cases that passed.
	Updates map[string]string
	// Discarded are the sections Options.Update accepted in test cases
	// that then failed: not updated, since their transcripts may show a
	// broken run.
	Discarded []string
	// Interrupted: Options.Interrupt stopped the scenario.
	Interrupted bool
	// Events are the run's events, with Options.RecordEvents.
	Events []events.Event
}

// SetupError is a failure to set the scenario up (boot, module
// registration): a problem of the scenario, not of what it tests.
type SetupError struct{ Err error }

func (e *SetupError) Error() string { return e.Err.Error() }
func (e *SetupError) Unwrap() error { return e.Err }

// Run boots the scenario's machine and runs its script.
func Run(s *Scenario, opts Options) (*Result, error) {
	if opts.Stdout == nil {
		opts.Stdout = io.Discard
	}
	if opts.Stderr == nil {
		opts.Stderr = io.Discard
	}
	r := &runner{s: s, opts: opts, res: &Result{}, groups: map[string][]*kernel.Task{}}
	if err := r.boot(); err != nil {
		return nil, &SetupError{err}
	}
	r.vars = builtinVars(r.machine)
	if s.events || opts.RecordEvents {
		r.rec = &events.Recorder{Scenario: s.File, Sched: s.schedEvents || opts.RecordSched, Keep: true}
		r.rec.Attach(r.k, r.lp)
	}
	if opts.Booted != nil {
		opts.Booted(r.k, r.lp)
	}
	for i := 0; i < len(s.Cmds); i++ {
		c := s.Cmds[i]
		if opts.BeforeCommand != nil {
			if err := opts.BeforeCommand(c.Pos.Line); err != nil {
				r.res.Failed, r.res.Msg = true, err.Error()
				break
			}
		}
		if r.rec != nil {
			r.rec.Command(c.Pos.Line, s.lineText(c.Pos.Line))
		}
		r.cmd, r.cmdSeq, r.cmdStart = c, r.k.Log.NextSeq(), r.k.Now()
		err := r.waitTimedOut(c.spec.run(r, c))
		r.newViolations()
		if r.interrupted() {
			break
		}
		if err == nil {
			continue
		}
		r.stop(err)
		var cf *caseFailed
		if !errors.As(err, &cf) {
			if r.rec != nil && r.res.Failed {
				r.rec.Failed(r.res.Msg)
			}
			break
		}
		// A transcript that differs fails its test case only: the script
		// goes on at the next start_test.
		for i+1 < len(s.Cmds) && s.Cmds[i+1].Name != "start_test" {
			i++
		}
	}
	r.endTest()
	r.violationSummary()
	if r.rec != nil && opts.RecordEvents {
		r.res.Events = r.rec.Events
	}
	if opts.Dmesg {
		fmt.Fprintf(opts.Stdout, "--- dmesg (%s) ---\n%s", filepath.Base(s.File), r.k.Log.Dmesg(kernelDmesgOpts))
	}
	return r.res, nil
}

type runner struct {
	s       *Scenario
	opts    Options
	machine Machine // the machine as booted (options applied)
	k       *kernel.Kernel
	lp      *livepatch.Core
	res     *Result
	rec     *events.Recorder // the run's events, for expect event and labs
	cmd     *Cmd             // the command running
	// harness is the kernel version's functions.sh (harness51.go).
	harness *harnessStyle
	// savedDmesg is v6.6's SAVED_DMESG: how many lines dmesg had when
	// the test started.
	savedDmesg int

	deadline uint64            // simulated time the scenario must end by
	vars     map[string]string // the script's variables
	groups   map[string][]*kernel.Task
	// lastDmesg is LAST_DMESG: the canary's dmesg line.
	lastDmesg string
	test      *TestResult // the test in progress
	reported  bool        // the test's result is printed
	// pending are the updates check_result accepted in the test in
	// progress: Result.Updates once it passes.
	pending map[string]string
	// cmdSeq and cmdStart are the kernel log's next sequence number and
	// the simulated time when the running command started: a failure
	// shows the log lines since (explain.go).
	cmdSeq, cmdStart uint64
	// transitionStart is when the transition in progress started.
	transitionStart uint64
	// The consistency checker's violations (checker.go): how many were
	// seen, which expect_violation expected, how many the current test
	// had.
	violationsSeen int
	expected       map[int]bool
	testViolations int
}

// boot builds the machine, brings up livepatch with the selftests'
// dynamic debug settings (set_dynamic_debug) and registers the modules.
func (r *runner) boot() error {
	m := r.s.Machine
	if r.opts.Seed != nil {
		m.Seed = *r.opts.Seed
	}
	if r.opts.CPUs > 0 {
		m.CPUs = r.opts.CPUs
	}
	if r.opts.Timeout > 0 {
		m.Timeout = r.opts.Timeout
	}
	if m.Timeout == 0 {
		m.Timeout = DefaultTimeout
	}
	if r.opts.MaxInsns > 0 {
		m.MaxInsns = r.opts.MaxInsns
	}
	if r.opts.MaxTasks > 0 {
		m.MaxTasks = r.opts.MaxTasks
	}
	if r.opts.Model != "" {
		m.Model = r.opts.Model
	}
	if r.opts.Kernel != "" {
		m.Kernel = r.opts.Kernel
	}
	ver, err := livepatch.LookupVersion(m.Kernel)
	if err != nil {
		return err
	}
	m.Kernel = ver.Name
	if r.opts.Ftrace != "" {
		m.Ftrace = r.opts.Ftrace
	}
	if m.Ftrace == "" {
		m.Ftrace = ver.Ftrace
	}
	r.harness = harnessFor(ver.Name)
	if r.opts.Catalog != nil {
		r.opts.Catalog = catalogFor(r.opts.Catalog, ver.Name)
	}
	r.machine = m
	k, err := kernel.Boot(kernel.Config{CPUs: m.CPUs, Seed: m.Seed, HZ: m.HZ, ClockHz: m.ClockHz, Preempt: m.Preempt,
		Cmdline: m.Cmdline, MaxInsns: m.MaxInsns, MaxTasks: m.MaxTasks, Banner: ver.Banner, Ftrace: m.Ftrace})
	if err != nil {
		return err
	}
	r.k = k
	k.AddStateRoot(r) // a command's bookkeeping changes as the machine runs (events, violations)
	if r.machine.CPUs == 0 {
		r.machine.CPUs = len(k.CPUs())
	}
	lp, err := livepatch.InitVersion(k, ver)
	if err != nil {
		return err
	}
	r.lp = lp
	if m.Model != "" {
		model, err := livepatch.ParseModel(m.Model)
		if err == nil {
			err = lp.SetModel(model)
		}
		if err != nil {
			return err
		}
	}
	lp.OnEvent = r.onEvent
	if r.opts.CheckConsistency {
		lp.EnableChecker()
	}
	for _, q := range []string{"file kernel/livepatch/* +p", "func klp_try_switch_task -p"} {
		if err := k.Dyndbg.Control(q); err != nil {
			return fmt.Errorf("dynamic debug %q: %w", q, err)
		}
	}
	if cat := r.opts.Catalog; cat != nil {
		declared := map[string]bool{}
		for _, md := range r.s.Modules {
			declared[md.Spec.Name] = true
		}
		for _, name := range cat.Names() {
			if declared[name] {
				continue // the file's module hides the catalog's
			}
			spec, err := cat.Spec(name)
			if err == nil {
				err = k.RegisterModule(spec)
			}
			if err != nil {
				return fmt.Errorf("built-in module %s: %w", name, err)
			}
		}
	}
	for _, md := range r.s.Modules {
		if err := k.RegisterModule(md.Spec); err != nil {
			return fmt.Errorf("%s:%d:%d: %w", r.s.File, md.Pos.Line, md.Pos.Col, err)
		}
	}
	r.deadline = k.Now() + m.Timeout
	r.setDeadline()
	r.watchAttention()
	return nil
}

// builtinVars are the harness's directory variables and NPROC.
func builtinVars(m Machine) map[string]string {
	return map[string]string{
		"SYSFS_KERNEL_DIR":  "/sys/kernel",
		"SYSFS_KLP_DIR":     "/sys/kernel/livepatch",
		"SYSFS_DEBUG_DIR":   "/sys/kernel/debug",
		"SYSFS_KPROBES_DIR": "/sys/kernel/debug/kprobes",
		"SYSFS_TRACING_DIR": "/sys/kernel/debug/tracing",
		"SYSFS_MODULE_DIR":  "/sys/module",
		"MAX_RETRIES":       strconv.Itoa(MaxRetries),
		"NPROC":             strconv.Itoa(m.CPUs),
	}
}

// expand is a word's text with its variables substituted.
func (r *runner) expand(w Word) string {
	var b strings.Builder
	for _, p := range w.parts {
		if p.isVar {
			b.WriteString(r.vars[p.text])
		} else {
			b.WriteString(p.text)
		}
	}
	return b.String()
}

func (r *runner) args(c *Cmd) []string {
	out := make([]string, len(c.Args))
	for i, w := range c.Args {
		out[i] = r.expand(w)
	}
	return out
}

// Failures. A dieError is functions.sh's die: the test fails and the
// scenario stops. A skipError is skip.
type dieError struct{ msg string }

func (e *dieError) Error() string { return e.msg }

type skipError struct{ msg string }

func (e *skipError) Error() string { return e.msg }

func (r *runner) die(format string, args ...any) error {
	return &dieError{fmt.Sprintf(format, args...)}
}

// stop ends the scenario on err: as die does, the message goes to the
// kernel log ("ERROR: …") and to stderr, with where it happened.
func (r *runner) stop(err error) {
	var skip *skipError
	if errors.As(err, &skip) {
		r.log("SKIP: " + skip.msg)
		r.finishTest("skip", skip.msg)
		fmt.Fprintf(r.opts.Stderr, "%s:%d: SKIP: %s\n", r.s.File, r.cmd.Pos.Line, skip.msg)
		return
	}
	msg := err.Error()
	var cf *caseFailed
	if _, ok := err.(*dieError); !ok && !errors.As(err, &cf) && r.k != nil {
		msg = fmt.Sprintf("%s: %v", r.cmd.Name, err)
	}
	r.log("ERROR: " + msg)
	r.res.Failed = true
	if r.res.Msg == "" {
		r.res.Msg = msg
	}
	r.finishTest("not ok", msg)
	fmt.Fprintf(r.opts.Stderr, "%s:%d: ERROR: %s\n", r.s.File, r.cmd.Pos.Line, msg)
	r.explain(r.opts.Stderr, r.stallReport(err))
}

// finishTest records the current test's result and prints it unless
// check_result already did.
func (r *runner) finishTest(verdict, msg string) {
	if r.test == nil {
		return
	}
	if verdict == "ok" && r.testViolations > 0 {
		verdict, msg = "not ok", fmt.Sprintf("%d livepatch consistency violation(s)", r.testViolations)
	}
	r.testViolations = 0
	r.settleUpdates(verdict == "ok")
	switch verdict {
	case "ok":
		r.test.OK = true
	case "skip":
		r.test.Skipped, r.test.Msg = true, msg
	default:
		r.test.Msg = msg
	}
	if !r.reported {
		fmt.Fprintln(r.opts.Stdout, verdict)
		r.reported = true
	}
	r.res.Tests = append(r.res.Tests, *r.test)
	if r.rec != nil {
		r.rec.Result(r.test.Name, verdict, r.test.Msg)
	}
	r.test = nil
}

// endTest closes a test that ran to its end without failing.
func (r *runner) endTest() {
	if r.test != nil {
		r.finishTest("ok", "")
	}
}

// log is functions.sh's log: echo "$1" > /dev/kmsg.
func (r *runner) log(msg string) {
	if r.k == nil {
		return
	}
	_, _ = r.k.Log.WriteKmsg(r.k.Now(), []byte(msg+"\n"))
}

// ----- time

// sleep runs the machine for d of simulated time, within the scenario's
// limit.
func (r *runner) sleep(d uint64) error {
	if r.k.Now()+d > r.deadline {
		// The machine may stop before the deadline (its instruction
		// limit, an interrupt): that is the error, not the time limit.
		if err := r.k.RunUntil(r.deadline, nil); err != nil {
			return err
		}
		return r.timeoutErr()
	}
	return r.k.RunFor(d)
}

func (r *runner) timeoutErr() error {
	return fmt.Errorf("the scenario's simulated time limit (%s) is reached", fmtDuration(r.machine.Timeout))
}

// fmtDuration shows simulated nanoseconds the way scenarios write them.
func fmtDuration(ns uint64) string {
	switch {
	case ns%1e9 == 0:
		return strconv.FormatUint(ns/1e9, 10) + "s"
	case ns%1e6 == 0:
		return strconv.FormatUint(ns/1e6, 10) + "ms"
	case ns%1e3 == 0:
		return strconv.FormatUint(ns/1e3, 10) + "us"
	}
	return strconv.FormatUint(ns, 10) + "ns"
}

// loopUntil is functions.sh's loop_until: evaluate cond, and while it is
// false sleep RETRY_INTERVAL, at most MAX_RETRIES times.
func (r *runner) loopUntil(cond func() bool) (bool, error) {
	for i := 0; ; i++ {
		if cond() {
			return true, nil
		}
		if i == MaxRetries {
			return false, nil
		}
		if err := r.sleep(RetryInterval); err != nil {
			return false, err
		}
	}
}

// ----- files

func (r *runner) exists(path string) bool {
	_, err := r.k.FS.Lookup(nil, path)
	return err == nil
}

// catValue is $(cat FILE): the content without trailing newlines, "" on
// error.
func (r *runner) catValue(path string) string {
	s, err := r.k.FS.Cat(nil, path)
	if err != nil {
		return ""
	}
	return strings.TrimRight(s, "\n")
}

// ----- dmesg

var kernelDmesgOpts = kernelDmesg{}

// dmesgLines is `dmesg` split into lines.
func (r *runner) dmesgLines() []string {
	return r.k.Log.DmesgLines(kernelDmesgOpts)
}

// result is check_result's pipeline, as the kernel's harness has it,
// keeping the lines keep accepts.
func (r *runner) result(keep func(string) bool) string { return r.harness.result(r, keep) }

// isHarnessLine is check_result's grep: grep -e 'livepatch:' -e 'test_klp'.
func isHarnessLine(l string) bool {
	return strings.Contains(l, "livepatch:") || strings.Contains(l, "test_klp")
}

// resultOf is check_result's pipeline: the dmesg lines after LAST_DMESG
// with the timestamp and caller prefixes stripped that keep accepts
// (isHarnessLine, or check_result --grep's patterns), minus
// "(tainting|taints) kernel".
func (r *runner) resultOf(keep func(string) bool) string {
	var out []string
	p := false
	for _, l := range r.dmesgLines() {
		if p {
			m := callerPrefix.ReplaceAllString(timestampPrefix.ReplaceAllString(l, ""), "")
			if keep(m) && !strings.Contains(m, "tainting kernel") && !strings.Contains(m, "taints kernel") {
				out = append(out, m)
			}
		}
		if l == r.lastDmesg {
			// From the last copy of the canary: two test cases started
			// with no simulated time between them log the same one
			// (the harness's differ in wall-clock nanoseconds).
			p, out = true, out[:0]
		}
	}
	return strings.Join(out, "\n")
}

// ----- tasks

// liveTasks are the live tasks spawned as name, or called name.
func (r *runner) liveTasks(name string) []*kernel.Task {
	var out []*kernel.Task
	seen := map[*kernel.Task]bool{}
	for _, t := range r.groups[name] {
		if r.k.TaskByPID(t.PID) == t && t.State != kernel.TaskDead {
			out = append(out, t)
			seen[t] = true
		}
	}
	for _, t := range r.k.Tasks() {
		if t.Comm == name && !seen[t] && t.State != kernel.TaskDead && !t.IsIdle() {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out
}

// lineText is the file's line n, "" past its end.
func (s *Scenario) lineText(n int) string {
	if n < 1 || n > len(s.lines) {
		return ""
	}
	return s.lines[n-1]
}
