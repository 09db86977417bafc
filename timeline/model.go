package timeline

import (
	"fmt"
	"sort"
	"strings"
)

// Picture is one test's timeline: the lanes of its tasks over
// [Start, End], with the transitions' markers and bands.
type Picture struct {
	Scenario   string
	Test       string // "" before the first start_test
	Start, End uint64
	Lanes      []*Lane
	Patches    []*PatchRow
	Steps      []Step   // tasks still to switch
	Commands   []Marker // the scenario's commands (Label: line, Detail: text)
	Global     []Marker // transition-wide markers: start, complete, signals, force, reverse, modules, callbacks
	Failed     string   // the scenario's error, when it stopped in this test
	// Folded is how many tasks were folded into group lanes.
	Folded int
}

// Lane is one task (or, Folded, a group of uninteresting tasks).
type Lane struct {
	ID     int // the pid, -1-CPU for an idle task
	Name   string
	PID    int
	CPU    int // the CPU it ran on last
	Group  int // its parent's pid (0 for idle tasks)
	Folded int // > 0: this lane stands for that many tasks
	States []Span
	Patch  []Span // unpatched, patched, pending-patched, pending-unpatched
	Marks  []Marker
}

// Span is a state over [From, To).
type Span struct {
	From, To uint64
	State    string
}

// Marker is a point event.
type Marker struct {
	At     uint64
	Kind   string // the event kind; switched markers add their way: switched:idle
	Label  string
	Detail string // the tooltip's text
	Red    bool
}

// Step is the number of tasks still to switch, from At on.
type Step struct {
	At    uint64
	Count int
}

// PatchRow is a patch's states over time.
type PatchRow struct {
	Patch string
	Spans []Span // enabling, transition, enabled, disabling
}

// MaxLanes is how many task lanes a picture shows one by one; beyond,
// tasks whose only event is an ordinary switch are folded, one lane per
// parent.
const MaxLanes = 200

// Build cuts one scenario's events into a picture per test.
func Build(events []Event) []*Picture {
	if len(events) == 0 {
		return nil
	}
	b := &builder{lanes: map[int]*Lane{}, lanePS: map[int]string{}, pending: map[int]bool{}, rows: map[string]*PatchRow{}}
	pic := &Picture{Scenario: events[0].Scenario, Start: events[0].TimeNS}
	var pics []*Picture
	end := events[len(events)-1].TimeNS
	for i := range events {
		e := &events[i]
		if e.Kind == KindTest {
			// The start_test command opens the new picture.
			var cmd []Marker
			if n := len(pic.Commands); n > 0 && strings.HasPrefix(pic.Commands[n-1].Detail, fmt.Sprintf("line %s: start_test", pic.Commands[n-1].Label)) {
				cmd, pic.Commands = pic.Commands[n-1:], pic.Commands[:n-1]
			}
			if pic.Test != "" || hasContent(b, pic) {
				pics = append(pics, b.cut(pic, e.TimeNS))
			} else {
				// Setup before the first test: its commands open the
				// test's ruler.
				cmd = append(pic.Commands, cmd...)
			}
			pic = &Picture{Scenario: e.Scenario, Test: e.Test, Start: e.TimeNS, Commands: cmd}
			continue
		}
		b.add(pic, e)
	}
	pics = append(pics, b.cut(pic, max(end, pic.Start)))
	return pics
}

func hasContent(b *builder, p *Picture) bool { return len(p.Global) > 0 }

type builder struct {
	lanes   map[int]*Lane   // the whole run's lanes
	order   []int           // lanes by first appearance
	lanePS  map[int]string  // patch_state band of each lane
	pending map[int]bool    // TIF_PATCH_PENDING, as the events tell it
	target  string          // the transition's target, "" when none
	enabled map[string]bool // enabled patches
	rows    map[string]*PatchRow
	rowOrd  []string
	// marks and steps are per picture: cut hands them out.
}

func (b *builder) baseline() string {
	for _, on := range b.enabled {
		if on {
			return "patched"
		}
	}
	return "unpatched"
}

func (b *builder) lane(e *Event) *Lane {
	id, ok := e.Lane()
	if !ok {
		return nil
	}
	l := b.lanes[id]
	if l == nil {
		l = &Lane{ID: id, PID: e.PID, Name: e.Task, CPU: -1}
		if id < 0 {
			l.CPU = -1 - id
		}
		b.lanes[id] = l
		b.order = append(b.order, id)
		ps := b.baseline()
		if b.target != "" {
			// A task forked in a transition has its parent's state; a
			// pending parent makes it pending too (the recorder's counts
			// tell the exact number).
			ps = opposite(b.target)
			if pl, ok := b.lanePS[e.PPID]; ok {
				ps = pl
			}
		}
		b.setPS(l, e.TimeNS, ps)
	}
	if e.Task != "" {
		l.Name = e.Task
	}
	if e.Kind == KindSched {
		l.CPU = *e.CPU
		if id >= 0 && e.PPID != 0 {
			l.Group = e.PPID
		} else if id >= 0 && l.Group == 0 {
			l.Group = id
		}
	}
	return l
}

// actual is the patch_state behind a band: a task pending to X still
// runs the other side.
func actual(ps string) string {
	if t, ok := strings.CutPrefix(ps, "pending-"); ok {
		return opposite(t)
	}
	return ps
}

func opposite(t string) string {
	if t == "patched" {
		return "unpatched"
	}
	return "patched"
}

func setSpan(spans *[]Span, at uint64, state string) {
	s := *spans
	if n := len(s); n > 0 {
		if s[n-1].State == state {
			return
		}
		if s[n-1].From == at {
			s[n-1].State = state
			*spans = s
			return
		}
		s[n-1].To = at
	}
	*spans = append(s, Span{From: at, To: at, State: state})
}

func (b *builder) setPS(l *Lane, at uint64, ps string) {
	if len(l.Patch) > 0 && last(l.Patch) == "none" {
		return // dead
	}
	b.lanePS[l.ID] = ps
	setSpan(&l.Patch, at, ps)
}

func (b *builder) add(pic *Picture, e *Event) {
	at := e.TimeNS
	mark := func(l *Lane, kind, label, detail string, red bool) {
		m := Marker{At: at, Kind: kind, Label: label, Detail: detail, Red: red}
		if l != nil {
			l.Marks = append(l.Marks, m)
		} else {
			pic.Global = append(pic.Global, m)
		}
	}
	if e.Pending != nil {
		// Steps at one instant stay: a retry that switches all but one
		// task at once still shows how many it started from.
		if n := len(pic.Steps); n == 0 || pic.Steps[n-1].Count != *e.Pending {
			pic.Steps = append(pic.Steps, Step{At: at, Count: *e.Pending})
		}
	}
	switch e.Kind {
	case KindCommand:
		pic.Commands = append(pic.Commands, Marker{At: at, Kind: "command", Label: fmt.Sprint(e.Line), Detail: fmt.Sprintf("line %d: %s", e.Line, e.Text)})
	case KindFailed:
		pic.Failed = e.Msg
		mark(nil, "failed", "failed", e.Msg, true)
	case KindResult:
		if e.Result == "not ok" {
			mark(nil, "failed", "not ok", e.Test+": "+e.Msg, true)
		}
	case KindSched:
		l := b.lane(e)
		setSpan(&l.States, at, e.State)
		if e.State == "dead" {
			b.setPS(l, at, "none")
		}
	case KindModule:
		mark(nil, "module", e.Action+" "+e.Module, fmt.Sprintf("module %s %s", e.Module, e.Action), false)
	case KindPatchState:
		if b.enabled == nil {
			b.enabled = map[string]bool{}
		}
		r := b.rows[e.Patch]
		if r == nil {
			r = &PatchRow{Patch: e.Patch}
			b.rows[e.Patch] = r
			b.rowOrd = append(b.rowOrd, e.Patch)
		}
		setSpan(&r.Spans, at, e.State)
		switch e.State {
		case "enabled":
			b.enabled[e.Patch] = true
		case "disabled":
			b.enabled[e.Patch] = false
		}
		if e.State == "enabled" || e.State == "disabled" {
			base := b.baseline()
			for _, id := range b.order {
				b.setPS(b.lanes[id], at, base)
			}
			b.target = ""
			clear(b.pending)
		}
	case KindViolation:
		l := b.lane(e)
		mark(l, "violation", "violation", e.Msg, true)
	case "init":
		b.target = e.Target
		for _, id := range b.order {
			b.setPS(b.lanes[id], at, opposite(e.Target))
		}
		mark(nil, "init", "init "+e.Patch, fmt.Sprintf("'%s': initializing %s transition", e.Patch, e.Target), false)
	case "start":
		b.target = e.Target
		for _, id := range b.order {
			if actual(b.lanePS[id]) != e.Target && b.lanes[id].States != nil && last(b.lanes[id].States) != "dead" {
				b.pending[id] = true
				b.setPS(b.lanes[id], at, "pending-"+e.Target)
			}
		}
		mark(nil, "start", "start", fmt.Sprintf("'%s': starting %s transition", e.Patch, e.Target), false)
	case "switched":
		l := b.lane(e)
		delete(b.pending, l.ID)
		b.setPS(l, at, e.Target)
		mark(l, "switched:"+e.How, "switched", fmt.Sprintf("%s:%d switched to %s (%s)", l.Name, e.PID, e.Target, e.How), false)
	case "blocked":
		l := b.lane(e)
		d := fmt.Sprintf("%s:%d blocked: %s", l.Name, e.PID, e.Why)
		if e.Func != "" {
			d += " on function " + e.Func
		}
		if len(e.Stack) > 0 {
			d += "\n" + strings.Join(e.Stack, "\n")
		}
		mark(l, "blocked", "blocked", d, false)
	case "signals":
		for _, id := range b.order {
			if b.pending[id] && id >= 0 {
				mark(b.lanes[id], "signal", "signal", "fake signal (klp_send_signals)", false)
			}
		}
		mark(nil, "signals", "signals", "signaling remaining tasks", false)
	case "forced":
		mark(nil, "forced", "force", fmt.Sprintf("'%s': forcing remaining tasks to the %s state", e.Patch, e.Target), false)
	case "reversed":
		mark(nil, "reversed", "reverse", fmt.Sprintf("'%s': reversing transition, now %s", e.Patch, e.Target), false)
		b.target = e.Target
		for _, id := range b.order {
			delete(b.pending, id)
			// klp_reverse_transition clears every TIF_PATCH_PENDING.
			b.setPS(b.lanes[id], at, actual(b.lanePS[id]))
		}
	case "complete":
		mark(nil, "complete", "complete", fmt.Sprintf("'%s': %s complete", e.Patch, e.Target), false)
	case "callback":
		d := fmt.Sprintf("%s callback of %s", e.Callback, e.Object)
		if e.Ret != 0 {
			d += fmt.Sprintf(" returned %d", e.Ret)
		}
		mark(nil, "callback", e.Callback, d, e.Ret != 0)
	case "stop-machine":
		d := fmt.Sprintf("stop_machine: every CPU stood still for %s", fmtNS(e.StopNS))
		if e.Func != "" {
			d += "; the safety check failed on " + e.Func
		}
		mark(nil, "stop-machine", "stop_machine", d, e.Func != "")
	case "retry":
		// The step line shows it.
	}
}

func last(s []Span) string { return s[len(s)-1].State }

// cut closes pic at end: each lane's spans and marks inside [Start, end]
// become the picture's lanes, and the marks move out of the builder.
func (b *builder) cut(pic *Picture, end uint64) *Picture {
	pic.End = max(end, pic.Start+1)
	clip := func(spans []Span) []Span {
		var out []Span
		for i, s := range spans {
			to := s.To
			if i == len(spans)-1 {
				to = pic.End
			}
			if to < pic.Start || s.From > pic.End || (to == pic.Start && s.From < pic.Start) {
				continue
			}
			out = append(out, Span{From: max(s.From, pic.Start), To: min(to, pic.End), State: s.State})
		}
		return out
	}
	var lanes []*Lane
	for _, id := range b.order {
		l := b.lanes[id]
		c := *l
		c.States, c.Patch, c.Marks = clip(l.States), clip(l.Patch), l.Marks
		l.Marks = nil
		if len(c.Marks) == 0 && (len(c.States) == 0 || (len(c.States) == 1 && c.States[0].State == "dead")) {
			continue
		}
		lanes = append(lanes, &c)
	}
	// Idle tasks first, then by pid.
	sort.SliceStable(lanes, func(i, j int) bool {
		a, b := lanes[i], lanes[j]
		if (a.ID < 0) != (b.ID < 0) {
			return a.ID < 0
		}
		if a.ID < 0 {
			return a.ID > b.ID
		}
		return a.ID < b.ID
	})
	// Half a pixel of the whole view: a busy task blocked at each of
	// its cond_resched calls would otherwise draw thousands of markers
	// on one spot.
	bucket := max((pic.End-pic.Start)/(2*plotW), 1)
	for _, l := range lanes {
		l.Marks = merge(l.Marks, pic.Start, bucket)
	}
	pic.Global = merge(pic.Global, pic.Start, bucket)
	pic.Lanes = fold(lanes)
	for _, l := range pic.Lanes {
		pic.Folded += l.Folded
	}
	for _, name := range b.rowOrd {
		r := b.rows[name]
		if c := clip(r.Spans); len(c) > 0 && !(len(c) == 1 && c[0].State == "disabled") {
			pic.Patches = append(pic.Patches, &PatchRow{Patch: name, Spans: c})
		}
	}
	return pic
}

// interesting: a lane worth its own row in a crowded picture.
func interesting(l *Lane) bool {
	if l.ID < 0 {
		return true
	}
	for _, m := range l.Marks {
		if m.Kind != "switched:stack-check" && m.Kind != "switched:exit-to-user" {
			return true
		}
	}
	return false
}

// fold keeps at most MaxLanes lanes: beyond, the uninteresting ones of a
// parent become one lane that says how many they are, with their
// switches as one marker each (their times are what counts).
func fold(lanes []*Lane) []*Lane {
	if len(lanes) <= MaxLanes {
		return lanes
	}
	var out []*Lane
	groups := map[int]*Lane{}
	var gorder []int
	for _, l := range lanes {
		if interesting(l) {
			out = append(out, l)
			continue
		}
		g := groups[l.Group]
		if g == nil {
			g = &Lane{ID: 1<<30 + l.Group, Group: l.Group, PID: l.Group, CPU: l.CPU}
			groups[l.Group] = g
			gorder = append(gorder, l.Group)
		}
		g.Folded++
		g.Marks = append(g.Marks, l.Marks...)
	}
	for _, gid := range gorder {
		g := groups[gid]
		g.Name = fmt.Sprintf("%d tasks of pid %d", g.Folded, gid)
		sort.SliceStable(g.Marks, func(i, j int) bool { return g.Marks[i].At < g.Marks[j].At })
		g.Marks = thin(g.Marks)
		out = append(out, g)
	}
	return out
}

// thin keeps one marker per kind and instant: a folded lane's thousand
// switches at one retry are one marker saying how many.
func thin(ms []Marker) []Marker {
	var out []Marker
	count := 0
	for i, m := range ms {
		count++
		if i+1 < len(ms) && ms[i+1].At == m.At && ms[i+1].Kind == m.Kind {
			continue
		}
		if count > 1 {
			m.Detail = fmt.Sprintf("%d tasks %s", count, strings.TrimPrefix(m.Kind, "switched:"))
			m.Label = fmt.Sprintf("%s ×%d", m.Label, count)
		}
		out = append(out, m)
		count = 0
	}
	return out
}

// merge folds the markers of one kind that fall within one bucket of
// time into the first of them, which says how many it stands for and
// until when.
func merge(ms []Marker, start, bucket uint64) []Marker {
	var out []Marker
	n := 0
	for i := 0; i < len(ms); {
		m := ms[i]
		j := i + 1
		for j < len(ms) && ms[j].Kind == m.Kind && (ms[j].At-start)/bucket == (m.At-start)/bucket {
			j++
		}
		if n = j - i; n > 1 {
			m.Label = fmt.Sprintf("%s ×%d", m.Label, n)
			m.Detail = fmt.Sprintf("%s\n(%d like it until %s)", m.Detail, n, fmtNS(ms[j-1].At))
		}
		out = append(out, m)
		i = j
	}
	return out
}
