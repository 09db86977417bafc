package scenarios

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"klpsim/kernel/printk"
	"klpsim/livepatch"
)

// Failures that explain themselves: when a command fails, the runner
// prints under its ERROR line what the kernel said while the command ran
// (the lines a user would otherwise dig out of klpsim run --dmesg), and
// for a wait on a livepatch transition, which tasks hold it up and why.

// maxExplainLines bounds the kernel log lines shown under an error; the
// rest are counted (--dmesg shows them all).
const maxExplainLines = 30

// explainIndent sets the explanation apart from the ERROR line above it.
const explainIndent = "    "

// explainLines are the kernel log records logged since seq that explain a
// failure: the kernel's own (not the harness's /dev/kmsg writes) at
// warning level or above, and every livepatch line. The taint notices
// check_result also drops ("taints kernel", "tainting kernel") say
// nothing about a failure and are left out.
func explainLines(recs []printk.Record, seq uint64) []string {
	var out []string
	for _, rec := range recs {
		if rec.Seq < seq || rec.Facility != printk.FacilityKern {
			continue
		}
		if rec.Level > printk.LOGLEVEL_WARNING && !strings.HasPrefix(rec.Text, "livepatch: ") {
			continue
		}
		if strings.Contains(rec.Text, "taints kernel") || strings.Contains(rec.Text, "tainting kernel") {
			continue
		}
		out = append(out, strings.Split(rec.Text, "\n")...)
	}
	return out
}

// explain writes the explanation of the failure of the command that
// started when the log's next sequence number was seq: first the
// transition's state when the command waited on one (why), then the
// kernel log lines.
func (r *runner) explain(w io.Writer, why string) {
	if why != "" {
		fmt.Fprintf(w, "%s%s\n", explainIndent, why)
	}
	if r.k == nil {
		return
	}
	lines := explainLines(r.k.Log.Records(), r.cmdSeq)
	if len(lines) == 0 {
		return
	}
	fmt.Fprintf(w, "%skernel log since %s:%d:\n", explainIndent, r.s.File, r.cmd.Pos.Line)
	for i, l := range lines {
		if i == maxExplainLines {
			fmt.Fprintf(w, "%s  … %d more lines (klpsim run --dmesg shows the whole log)\n", explainIndent, len(lines)-i)
			break
		}
		fmt.Fprintf(w, "%s  %s\n", explainIndent, l)
	}
}

// onEvent follows the livepatch event stream for the explanations, and
// passes it on.
func (r *runner) onEvent(e livepatch.Event) {
	if e.Kind == livepatch.EventStart {
		r.transitionStart = e.TimeNS
	}
	if r.opts.OnEvent != nil && !e.Kind.Detail() {
		r.opts.OnEvent(e)
	}
}

// waitsOnTransition are the commands whose failure may be a stalled
// transition: the harness's waits and the scenario's own.
var waitsOnTransition = map[string]bool{
	"load_lp": true, "load_lp_nowait": true, "disable_lp": true, "unload_lp": true, "unload_mod": true,
	"loop_until": true, "run_until": true, "run": true, "sleep": true, "expect_violation": true,
}

// maxStallTasks bounds the tasks a stall report names.
const maxStallTasks = 8

// stallReport names, when a wait failed with a livepatch transition still
// running, the tasks not switched and what holds each back:
//
//	transition of 'P' (patching) still running after 60s: 1 task not switched: kworker/0:1 (pid 12) sleeping on function busymod_work_func
func (r *runner) stallReport(err error) string {
	if r.lp == nil || r.cmd == nil {
		return ""
	}
	var die *dieError
	if !waitsOnTransition[r.cmd.Name] && errors.As(err, &die) {
		return ""
	}
	info, ok := r.lp.Transition()
	if !ok {
		return ""
	}
	what := "patching"
	if info.Target == livepatch.KLPTransitionUnpatched {
		what = "unpatching"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "transition of '%s' (%s) still running after %s: ", info.Patch, what, fmtSeconds(r.k.Now()-r.transitionStart))
	switch len(info.Pending) {
	case 0:
		b.WriteString("every task switched, completion pending")
		return b.String()
	case 1:
		b.WriteString("1 task not switched: ")
	default:
		fmt.Fprintf(&b, "%d tasks not switched: ", len(info.Pending))
	}
	for i, p := range info.Pending {
		if i == maxStallTasks {
			fmt.Fprintf(&b, ", and %d more", len(info.Pending)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// fmtSeconds shows a simulated duration to a tenth of a second ("60s",
// "1.5s"), as a person would say how long a wait took.
func fmtSeconds(ns uint64) string {
	tenths := (ns + 50_000_000) / 100_000_000
	if tenths%10 == 0 {
		return fmt.Sprintf("%ds", tenths/10)
	}
	return fmt.Sprintf("%d.%ds", tenths/10, tenths%10)
}

// expectViolations marks the checker's last n violations as expected (by
// expect_violation).
func (r *runner) expectViolations(n int) {
	all := r.lp.Violations()
	if r.expected == nil {
		r.expected = map[int]bool{}
	}
	for i := max(0, len(all)-n); i < len(all); i++ {
		r.expected[i] = true
	}
}

// newViolations reports, after each command, the consistency violations
// the command's run caused that no expect_violation expected: each on
// stderr with where the script was, and the test and the scenario fail.
func (r *runner) newViolations() {
	if r.lp == nil {
		return
	}
	all := r.lp.Violations()
	for i := r.violationsSeen; i < len(all); i++ {
		if r.expected[i] {
			continue
		}
		msg := all[i].Error()
		fmt.Fprintf(r.opts.Stderr, "%s:%d: %s\n", r.s.File, r.cmd.Pos.Line, msg)
		r.res.Failed = true
		if r.res.Msg == "" {
			r.res.Msg = msg
		}
		if r.test != nil {
			r.testViolations++
		}
	}
	r.violationsSeen = len(all)
}

// violationSummary ends a run whose checker found violations with their
// count and list, unexpected ones first.
func (r *runner) violationSummary() {
	if r.lp == nil {
		return
	}
	all := r.lp.Violations()
	if len(all) == 0 {
		return
	}
	unexpected := len(all) - len(r.expected)
	fmt.Fprintf(r.opts.Stderr, "%s: consistency checker: %d violation(s), %d unexpected, %d expected by expect_violation\n",
		r.s.File, len(all), unexpected, len(r.expected))
	for i, v := range all {
		tag := "unexpected"
		if r.expected[i] {
			tag = "expected"
		}
		fmt.Fprintf(r.opts.Stderr, "%s%s: task %s:%d ran %s (%s)\n", explainIndent, tag, v.Task, v.PID, v.Where, ruleName[v.Kind])
	}
}

var ruleName = map[livepatch.ViolationKind]string{
	livepatch.RanReplacement: "an unpatched task in the patch's new code",
	livepatch.RanReplaced:    "a patched task in the code being replaced",
	livepatch.RanRetired:     "code the completed transition retired",
}
