package scenarios

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"klpsim/kernel"
	"klpsim/livepatch"
)

// Comparing consistency models, and exploring schedules: the same
// scenario run under several models (klpsim compare) or many seeds
// (klpsim explore), each run summed up by its livepatch events, the
// core's statistics and the consistency checker, which is always on.

// Outcome is one run of a scenario, summed up.
type Outcome struct {
	Model string `json:"model"`
	Seed  uint64 `json:"seed"`
	// Enabled counts patching transitions that completed; Refused
	// enables that failed (kpatch's -EBUSY, a failing pre-patch
	// callback); Pending is 1 when a transition still runs at the end.
	Enabled int `json:"enabled"`
	Refused int `json:"refused"`
	Pending int `json:"pending"`
	// FirstNS is the simulated time from the first patching transition's
	// start (klp_init_transition) to its completion; -1 if it never
	// completed.
	FirstNS       int64  `json:"first_ns"`
	Signaled      int    `json:"signaled"`
	Stops         int    `json:"stops"`
	LongestStopNS uint64 `json:"longest_stop_ns"`
	Violations    int    `json:"violations"`
	// Script is "ok" or the script's failure (an expectation, a timeout).
	Script string `json:"script"`
	// Events is the run's livepatch event log, one line per event.
	Events []string `json:"events,omitempty"`
}

// Completed: every patching transition that started completed.
func (o *Outcome) Completed() bool { return o.Pending == 0 && o.Enabled > 0 }

// Verdict is the outcome in one word or phrase, for explore's majority.
func (o *Outcome) Verdict() string {
	v := "completed"
	switch {
	case o.Pending > 0:
		v = "stalled"
	case o.Enabled == 0 && o.Refused > 0:
		v = "refused"
	case o.Enabled == 0:
		v = "no-patch"
	}
	if o.Violations > 0 {
		v += ", inconsistent"
	}
	if o.Script != "ok" {
		v += ", script failed"
	}
	return v
}

// maxEvents bounds an outcome's event log.
const maxEvents = 400

// RunOutcome runs s once under model ("": the scenario's) with seed
// (nil: the scenario's), the consistency checker on.
func RunOutcome(s *Scenario, opts Options, model string, seed *uint64) (*Outcome, error) {
	o := &Outcome{FirstNS: -1}
	var lp *livepatch.Core
	var initAt uint64
	inited := false
	opts.Stdout, opts.Stderr = io.Discard, io.Discard
	opts.Model, opts.Seed, opts.CheckConsistency = model, seed, true
	opts.Update, opts.Dmesg = false, false
	opts.Booted = func(_ *kernel.Kernel, c *livepatch.Core) { lp = c }
	opts.OnEvent = func(e livepatch.Event) {
		if len(o.Events) < maxEvents {
			o.Events = append(o.Events, FormatEvent(e))
		}
		switch e.Kind {
		case livepatch.EventInit:
			if e.Target == livepatch.KLPTransitionPatched && !inited {
				initAt, inited = e.TimeNS, true
			}
		case livepatch.EventComplete:
			if e.Target != livepatch.KLPTransitionPatched {
				break
			}
			o.Enabled++
			if o.FirstNS < 0 && inited {
				o.FirstNS = int64(e.TimeNS - initAt)
			}
		}
	}
	res, err := Run(s, opts)
	if err != nil {
		return nil, err
	}
	o.Model = lp.Model().Name()
	o.Seed = s.Machine.Seed
	if seed != nil {
		o.Seed = *seed
	}
	o.Script = "ok"
	if res.Failed {
		o.Script = firstLine(res.Msg)
	}
	if lp.TransitionPatch() != nil {
		o.Pending = 1
	}
	st := lp.Stats()
	o.Signaled, o.Stops, o.LongestStopNS = st.Signaled, st.Stops, st.LongestStopNS
	o.Refused = st.Refused
	o.Violations = len(lp.Violations())
	return o, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// FormatEvent is one line of an event log.
func FormatEvent(e livepatch.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", fmtSimNS(e.TimeNS), e.Kind, e.Patch)
	if e.Task != "" {
		fmt.Fprintf(&b, " %s:%d", e.Task, e.PID)
	}
	switch e.Kind {
	case livepatch.EventSwitched:
		fmt.Fprintf(&b, " %s", e.How)
	case livepatch.EventBlocked:
		fmt.Fprintf(&b, " %s", e.Why)
	case livepatch.EventRetry:
		fmt.Fprintf(&b, " %d", e.Retry)
	case livepatch.EventStopMachine:
		fmt.Fprintf(&b, " stood %s", fmtSimNS(e.StopNS))
	}
	if e.Func != "" {
		fmt.Fprintf(&b, " %s", e.Func)
	}
	return b.String()
}

// fmtSimNS is simulated time as dmesg shows it.
func fmtSimNS(ns uint64) string { return fmt.Sprintf("%d.%06d", ns/1e9, ns%1e9/1e3) }

// CompareRow is one model's runs.
type CompareRow struct {
	Model string `json:"model"`
	Runs  int    `json:"runs"`
	// Completed runs: every patching transition completed.
	Completed int `json:"completed"`
	Refused   int `json:"refused"`
	// MaxFirstNS is the longest time to complete the first patching
	// transition over the completed runs (-1: none completed).
	MaxFirstNS    int64      `json:"max_first_ns"`
	Signaled      int        `json:"signaled"`
	Stops         int        `json:"stops"`
	LongestStopNS uint64     `json:"longest_stop_ns"`
	Violations    int        `json:"violations"`
	ScriptOK      int        `json:"script_ok"`
	Outcomes      []*Outcome `json:"outcomes"`
}

// Compare runs s under each model with seeds seed0, seed0+1, …
// (n of them).
func Compare(s *Scenario, opts Options, models []string, n int) ([]*CompareRow, error) {
	var rows []*CompareRow
	for _, m := range models {
		row := &CompareRow{Model: m, MaxFirstNS: -1}
		for i := range n {
			seed := s.Machine.Seed + uint64(i)
			o, err := RunOutcome(s, opts, m, &seed)
			if err != nil {
				return nil, err
			}
			o.Events = nil
			row.add(o)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func (r *CompareRow) add(o *Outcome) {
	r.Runs++
	if o.Completed() {
		r.Completed++
		r.MaxFirstNS = max(r.MaxFirstNS, o.FirstNS)
	}
	r.Refused += o.Refused
	r.Signaled += o.Signaled
	r.Stops += o.Stops
	r.LongestStopNS = max(r.LongestStopNS, o.LongestStopNS)
	r.Violations += o.Violations
	if o.Script == "ok" {
		r.ScriptOK++
	}
	r.Outcomes = append(r.Outcomes, o)
}

// WriteCompareTable prints the rows as a table.
func WriteCompareTable(w io.Writer, rows []*CompareRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tCOMPLETED\tREFUSED\tTIME TO COMPLETE\tSIGNALED\tSTOPS\tLONGEST STOP\tVIOLATIONS\tSCRIPT OK")
	for _, r := range rows {
		t := "-"
		if r.MaxFirstNS >= 0 {
			t = fmtSimNS(uint64(r.MaxFirstNS)) + " s"
		}
		stop := "-"
		if r.Stops > 0 {
			stop = fmtSimNS(r.LongestStopNS) + " s"
		}
		fmt.Fprintf(tw, "%s\t%d/%d\t%d\t%s\t%d\t%d\t%s\t%d\t%d/%d\n", r.Model, r.Completed, r.Runs, r.Refused, t,
			r.Signaled, r.Stops, stop, r.Violations, r.ScriptOK, r.Runs)
	}
	tw.Flush()
}

// ExploreResult is the outcome of every seed of a sweep (or of one
// shard of it).
type ExploreResult struct {
	File     string     `json:"file"`
	Model    string     `json:"model"`
	Outcomes []*Outcome `json:"outcomes"`
}

// Merge combines shards of one sweep into one result, in seed order.
func Merge(parts []*ExploreResult) (*ExploreResult, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("nothing to merge")
	}
	out := &ExploreResult{File: parts[0].File, Model: parts[0].Model}
	seen := map[uint64]bool{}
	for _, p := range parts {
		if p.File != out.File || p.Model != out.Model {
			return nil, fmt.Errorf("cannot merge a sweep of %s (model %s) with one of %s (model %s)", p.File, p.Model, out.File, out.Model)
		}
		for _, o := range p.Outcomes {
			if seen[o.Seed] {
				return nil, fmt.Errorf("seed %d appears in two shards", o.Seed)
			}
			seen[o.Seed] = true
			out.Outcomes = append(out.Outcomes, o)
		}
	}
	sort.Slice(out.Outcomes, func(i, j int) bool { return out.Outcomes[i].Seed < out.Outcomes[j].Seed })
	return out, nil
}

// WriteExploreReport prints what a sweep found: the verdicts and their
// seeds, the seeds that differ from the majority or where the checker
// fired, and for the first of each kind its event log and the command
// that replays it.
func WriteExploreReport(w io.Writer, r *ExploreResult) {
	count := map[string]int{}
	var order []string
	for _, o := range r.Outcomes {
		v := o.Verdict()
		if count[v] == 0 {
			order = append(order, v)
		}
		count[v]++
	}
	sort.SliceStable(order, func(i, j int) bool { return count[order[i]] > count[order[j]] })
	fmt.Fprintf(w, "%s, model %s: %d seeds\n", r.File, r.Model, len(r.Outcomes))
	if len(order) == 0 {
		return
	}
	majority := order[0]
	for _, v := range order {
		var seeds []string
		for _, o := range r.Outcomes {
			if o.Verdict() == v {
				seeds = append(seeds, fmt.Sprint(o.Seed))
			}
		}
		tag := ""
		if v == majority {
			tag = " (majority)"
		}
		fmt.Fprintf(w, "  %-40s %5d%s: seeds %s\n", v, count[v], tag, abbreviate(seeds))
	}
	shown := map[string]bool{}
	for _, o := range r.Outcomes {
		v := o.Verdict()
		if (v == majority && o.Violations == 0) || shown[v] {
			continue
		}
		shown[v] = true
		fmt.Fprintf(w, "\nfirst seed with %q: %d", v, o.Seed)
		if o.Script != "ok" {
			fmt.Fprintf(w, " (script: %s)", o.Script)
		}
		fmt.Fprintf(w, "\n  replay: klpsim run --seed %d --model %s --check-consistency --dmesg %s\n", o.Seed, r.Model, r.File)
		for _, e := range o.Events {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
}

// abbreviate lists at most 10 seeds.
func abbreviate(seeds []string) string {
	if len(seeds) <= 10 {
		return strings.Join(seeds, ",")
	}
	return strings.Join(seeds[:10], ",") + fmt.Sprintf(",… (%d more)", len(seeds)-10)
}

// Explore runs s under model with every seed of seeds, jobs at a time
// (each run is one independent machine), and returns the outcomes in
// seed order: the same seeds give the same result whatever jobs is.
func Explore(s *Scenario, opts Options, model string, seeds []uint64, jobs int) (*ExploreResult, error) {
	jobs = max(1, min(jobs, len(seeds)))
	out := make([]*Outcome, len(seeds))
	errs := make([]error, len(seeds))
	next := make(chan int)
	done := make(chan struct{})
	for range jobs {
		go func() {
			for i := range next {
				seed := seeds[i]
				out[i], errs[i] = RunOutcome(s, opts, model, &seed)
			}
			done <- struct{}{}
		}()
	}
	for i := range seeds {
		next <- i
	}
	close(next)
	for range jobs {
		<-done
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	name := model
	if name == "" {
		name = s.Machine.Model
		if name == "" {
			name = "klp"
		}
	}
	return &ExploreResult{File: s.File, Model: name, Outcomes: out}, nil
}

// ShardSeeds is the deterministic slice i (0-based) of n of the seeds
// from a to b inclusive: every n-th seed, starting with the i-th.
func ShardSeeds(a, b uint64, i, n int) []uint64 {
	var seeds []uint64
	for s := a; s <= b; s++ {
		if int((s-a)%uint64(n)) == i {
			seeds = append(seeds, s)
		}
		if s == ^uint64(0) {
			break
		}
	}
	return seeds
}
