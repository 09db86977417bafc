package scenarios

import (
	"fmt"
	"strconv"
	"strings"
)

// Interrupts and progress from the command line. The machine is stepped by
// the goroutine running the scenario; Options.Interrupt and
// Options.Progress are flags another goroutine sets (a SIGINT handler, a
// ticker), which the kernel reads between scheduling quanta.

// watchAttention hands the options' flags to the kernel.
func (r *runner) watchAttention() {
	if r.opts.Interrupt != nil {
		r.k.SetInterrupt(r.opts.Interrupt)
	}
	if r.opts.Progress != nil && r.opts.OnProgress != nil {
		r.k.SetPoll(r.opts.Progress, func() { r.opts.OnProgress(r.k.Status()) })
	}
}

// interrupted reports whether the run was interrupted; if so, it ends the
// test in progress and prints, on stderr, where the script was and what
// each CPU executes (SysRq-l's backtraces, also in the kernel log).
func (r *runner) interrupted() bool {
	if r.opts.Interrupt == nil || !r.opts.Interrupt.Load() {
		return false
	}
	r.res.Interrupted = true
	r.res.Failed = true
	if r.res.Msg == "" {
		r.res.Msg = "interrupted"
	}
	fmt.Fprintf(r.opts.Stderr, "%s:%d: interrupted in %s at %s of simulated time\n",
		r.s.File, r.cmd.Pos.Line, r.cmd.Name, fmtTimestamp(r.k.Now()))
	fmt.Fprint(r.opts.Stderr, r.k.ShowAllCPUs())
	r.finishTest("not ok", "interrupted")
	return true
}

// fmtTimestamp shows simulated ns as seconds with microseconds, as
// printk's timestamps do.
func fmtTimestamp(ns uint64) string {
	us := strconv.FormatUint(ns/1e3%1e6, 10)
	return strconv.FormatUint(ns/1e9, 10) + "." + strings.Repeat("0", 6-len(us)) + us + "s"
}
