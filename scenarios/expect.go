package scenarios

import (
	"fmt"
	"strconv"
	"strings"

	"klpsim/events"
)

// Conditions on the event stream (docs/scenarios.md, "expect event"):
//
//	expect event KIND [FIELD=VALUE...] [count OP N] [within DURATION]
//	expect no event KIND [FIELD=VALUE...] [within DURATION]
//
// and, in a lab's questions (.lab files) only, a window that starts at an
// event:
//
//	... [within DURATION] after event KIND [FIELD=VALUE...]
//
// KIND and FIELD are docs/events.md's. A VALUE matches the field's text
// as --json writes it, with * matching any run of characters; stack=F
// matches a stack with a frame in function F.

// EventCond is one expect line's condition.
type EventCond struct {
	Pos    Pos
	No     bool // expect no event: the count must be 0
	Kind   string
	Fields []FieldMatch
	// Op and N are the count's comparison; Op "" is the default: >= 1, or
	// with No == 0.
	Op string
	N  int
	// Within is the window's length when HasWithin.
	Within    uint64
	HasWithin bool
	// After (labs only) starts the window at the first event it matches.
	After *EventCond
	// Text is the condition as written, for messages.
	Text string
}

// FieldMatch is one FIELD=VALUE.
type FieldMatch struct {
	Pos   Pos
	Name  string
	Value Word
}

// countOps are the count's comparisons.
var countOps = []string{"==", "!=", "<", "<=", ">", ">="}

// parseEventCond reads the words after expect. lab allows after event.
func parseEventCond(pos Pos, ws []Word, lab bool, errf func(Pos, string, ...any)) *EventCond {
	c := &EventCond{Pos: pos}
	var text []string
	for _, w := range ws {
		text = append(text, w.String())
	}
	c.Text = "expect " + strings.Join(text, " ")
	lit := func(i int) string {
		if i >= len(ws) {
			return ""
		}
		s, _ := ws[i].Literal()
		return s
	}
	i := 0
	if lit(0) == "no" {
		c.No = true
		i++
	}
	what := "expect event"
	if c.No {
		what = "expect no event"
	}
	if lit(i) != "event" {
		at := pos
		got := "nothing"
		if i < len(ws) {
			at, got = ws[i].Pos, strconv.Quote(ws[i].String())
		}
		errf(at, "expect: expected event KIND or no event KIND, got %s", got)
		return nil
	}
	i++
	var ok bool
	if i, ok = c.kindAndFields(ws, i, what, pos, errf); !ok {
		return nil
	}
	for i < len(ws) {
		w := ws[i]
		switch s, _ := w.Literal(); {
		case s == "count" && !w.Quoted:
			if c.No {
				errf(w.Pos, "%s takes no count (it means count == 0)", what)
				return nil
			}
			if c.Op != "" {
				errf(w.Pos, "%s: second count", what)
				return nil
			}
			op := lit(i + 1)
			if !contains(countOps, op) {
				at := w.Pos
				if i+1 < len(ws) {
					at = ws[i+1].Pos
				}
				errf(at, "%s: count: expected an operator (== != < <= > >=), got %q", what, op)
				return nil
			}
			n, err := strconv.Atoi(lit(i + 2))
			if err != nil || n < 0 {
				at := ws[i+1].Pos
				if i+2 < len(ws) {
					at = ws[i+2].Pos
				}
				errf(at, "%s: count %s: expected a number of events, got %q", what, op, lit(i+2))
				return nil
			}
			c.Op, c.N = op, n
			i += 3
		case s == "within" && !w.Quoted:
			if c.HasWithin {
				errf(w.Pos, "%s: second within", what)
				return nil
			}
			d, err := ParseDuration(lit(i + 1))
			if err != nil {
				at := w.Pos
				if i+1 < len(ws) {
					at = ws[i+1].Pos
				}
				errf(at, "%s: within: %v, got %q", what, err, lit(i+1))
				return nil
			}
			c.Within, c.HasWithin = d, true
			i += 2
		case s == "after" && !w.Quoted:
			if !lab {
				errf(w.Pos, "%s: after event is for a lab's questions (.lab files); in a scenario, within counts from the expect line", what)
				return nil
			}
			if lit(i+1) != "event" {
				errf(w.Pos, "%s: after: expected after event KIND [FIELD=VALUE...]", what)
				return nil
			}
			a := &EventCond{Pos: w.Pos}
			j, ok := a.kindAndFields(ws, i+2, what+" after event", w.Pos, errf)
			if !ok {
				return nil
			}
			if j < len(ws) {
				errf(ws[j].Pos, "%s: unexpected %q after the after event clause (it comes last)", what, ws[j].String())
				return nil
			}
			a.Text = "event " + strings.Join(text[i+2:j], " ")
			c.After = a
			i = j
		default:
			more := ""
			if lab {
				more = " or after event KIND"
			}
			errf(w.Pos, "%s: unexpected %q: expected FIELD=VALUE, count OP N, within DURATION%s", what, w.String(), more)
			return nil
		}
	}
	return c
}

// kindAndFields reads KIND [FIELD=VALUE...] from ws[i:], up to the first
// word that is not FIELD=VALUE, and returns where it stopped.
func (c *EventCond) kindAndFields(ws []Word, i int, what string, pos Pos, errf func(Pos, string, ...any)) (int, bool) {
	if i >= len(ws) {
		errf(pos, "%s: expected an event kind (docs/events.md)", what)
		return i, false
	}
	k, ok := ws[i].Literal()
	if !ok {
		errf(ws[i].Pos, "%s: expected an event kind, not a variable", what)
		return i, false
	}
	if !events.IsKind(k) {
		errf(ws[i].Pos, "%s: unknown event kind %q%s", what, k, suggestFrom(k, events.Kinds, "docs/events.md lists them"))
		return i, false
	}
	c.Kind = k
	for i++; i < len(ws); i++ {
		name, val, ok := splitField(ws[i])
		if !ok {
			break
		}
		if !events.IsField(name) {
			errf(ws[i].Pos, "%s: unknown field %q%s", what, name, suggestFrom(name, events.Fields, "docs/events.md lists them"))
			return i, false
		}
		c.Fields = append(c.Fields, FieldMatch{Pos: ws[i].Pos, Name: name, Value: val})
	}
	return i, true
}

// splitField splits FIELD=VALUE; the field name must be literal text.
func splitField(w Word) (string, Word, bool) {
	if len(w.parts) == 0 || w.parts[0].isVar || w.Quoted && !strings.Contains(w.parts[0].text, "=") {
		return "", Word{}, false
	}
	name, rest, ok := strings.Cut(w.parts[0].text, "=")
	if !ok || name == "" || strings.ContainsAny(name, " \t\"'") {
		return "", Word{}, false
	}
	val := Word{Pos: w.Pos, Quoted: w.Quoted}
	if rest != "" {
		val.parts = append(val.parts, part{text: rest})
	}
	val.parts = append(val.parts, w.parts[1:]...)
	return name, val, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// suggestFrom proposes the name of list closest to s.
func suggestFrom(s string, list []string, none string) string {
	best, bestD := "", 3
	for _, n := range list {
		if d := editDistance(s, n); d < bestD || d == bestD && n < best {
			best, bestD = n, d
		}
	}
	if best == "" {
		return " (" + none + ")"
	}
	return fmt.Sprintf(": did you mean %s?", best)
}

// ----- matching

// eventMatcher is a condition's KIND and FIELD=VALUEs with the values
// expanded.
type eventMatcher struct {
	kind   string
	fields [][2]string
}

func (c *EventCond) matcher(expand func(Word) string) eventMatcher {
	m := eventMatcher{kind: c.Kind}
	for _, f := range c.Fields {
		m.fields = append(m.fields, [2]string{f.Name, expand(f.Value)})
	}
	return m
}

// score is how many of m's fields e matches, and whether it matches all
// (and is of m's kind).
func (m eventMatcher) score(e *events.Event) (int, bool) {
	if e.Kind != m.kind {
		return 0, false
	}
	n := 0
	for _, f := range m.fields {
		if fieldMatches(e, f[0], f[1]) {
			n++
		}
	}
	return n, n == len(m.fields)
}

func (m eventMatcher) matches(e *events.Event) bool {
	_, ok := m.score(e)
	return ok
}

// fieldMatches: the field's text (an absent number is 0, an absent flag
// false) matches the pattern; a stack matches when a frame or its
// function does.
func fieldMatches(e *events.Event, name, pattern string) bool {
	if name == "stack" {
		for _, fr := range e.Stack {
			fn, _, _ := strings.Cut(fr, "+")
			if glob(pattern, fr) || glob(pattern, fn) {
				return true
			}
		}
		return false
	}
	v, ok := e.Field(name)
	if !ok && (name == "nop" || name == "livepatch") {
		v = "false"
	}
	return glob(pattern, v)
}

// glob matches s against pattern, where * matches any run of characters
// (/ included) and everything else itself.
func glob(pattern, s string) bool {
	star := strings.IndexByte(pattern, '*')
	if star < 0 {
		return pattern == s
	}
	if !strings.HasPrefix(s, pattern[:star]) {
		return false
	}
	s, pattern = s[star:], pattern[star+1:]
	for i := 0; i <= len(s); i++ {
		if glob(pattern, s[i:]) {
			return true
		}
	}
	return false
}

// ----- verdicts

// noEnd is a window without an end.
const noEnd = ^uint64(0)

// compareCount is count OP n.
func compareCount(count int, op string, n int) bool {
	switch op {
	case "==":
		return count == n
	case "!=":
		return count != n
	case "<":
		return count < n
	case "<=":
		return count <= n
	case ">":
		return count > n
	case ">=":
		return count >= n
	}
	return false
}

// op is the condition's comparison with the defaults filled in.
func (c *EventCond) op() (string, int) {
	switch {
	case c.No:
		return "==", 0
	case c.Op == "":
		return ">=", 1
	}
	return c.Op, c.N
}

// decided reports whether count, seen part-way through the window, fixes
// the verdict whatever comes later (counts only grow).
func (c *EventCond) decided(count int) bool {
	op, n := c.op()
	switch op {
	case ">=", ">", "!=":
		return compareCount(count, op, n) && count >= n // true for good
	case "==", "<=":
		return count > n // false for good
	case "<":
		return count >= n
	}
	return false
}

// Verdict is a condition's outcome on an event stream.
type Verdict struct {
	OK    bool
	Count int // the matching events in the window
	// Msg says, for a failure, what was wanted and what was seen.
	Msg string
	// Nearest is, for a failure, the event that came closest: the first
	// one counted against an expect no event or a count too high, else
	// the event of the kind matching the most fields.
	Nearest *events.Event
}

// verdict judges c on evs[from:] up to time to (inclusive),
// with m its expanded matcher.
func (c *EventCond) verdict(m eventMatcher, evs []events.Event, from int, to uint64) Verdict {
	count := 0
	var first, near *events.Event
	best := -1
	for i := from; i < len(evs); i++ {
		e := &evs[i]
		if e.TimeNS > to {
			break
		}
		sc, ok := m.score(e)
		if ok {
			count++
			if first == nil {
				first = e
			}
		} else if e.Kind == m.kind && sc > best {
			best, near = sc, e
		}
	}
	op, n := c.op()
	v := Verdict{OK: compareCount(count, op, n), Count: count}
	if v.OK {
		return v
	}
	// Too few: show the closest miss; too many (or exactly the count
	// != excludes): the first one counted.
	if tooFew := op == ">=" || op == ">" || op == "==" && count < n; tooFew {
		v.Nearest = near
	} else {
		v.Nearest = first
	}
	switch {
	case c.No:
		v.Msg = fmt.Sprintf("%d matching event(s), want none", count)
	case c.Op == "":
		v.Msg = "no matching event"
	default:
		v.Msg = fmt.Sprintf("%d matching event(s), want count %s %d", count, op, n)
	}
	return v
}

// DescribeEvent shows an event in a message: its kind and fields (the
// stack's innermost frame only) and when.
func DescribeEvent(e *events.Event) string {
	var b strings.Builder
	b.WriteString(e.Kind)
	for _, f := range events.Fields {
		v, ok := e.Field(f)
		if !ok {
			continue
		}
		if f == "stack" {
			v = e.Stack[0] + ",…"
		}
		if strings.ContainsAny(v, " \t\"'") || v == "" {
			v = strconv.Quote(v)
		}
		fmt.Fprintf(&b, " %s=%s", f, v)
	}
	fmt.Fprintf(&b, " at %s", FormatTime(e.TimeNS))
	return b.String()
}

// FormatTime shows simulated nanoseconds as seconds (1.000061018s).
func FormatTime(ns uint64) string {
	s := strconv.FormatUint(ns/1e9, 10)
	if f := ns % 1e9; f != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%09d", f), "0")
	}
	return s + "s"
}

// ----- the command

func checkExpect(p *parser, c *Cmd) {
	c.event = parseEventCond(c.Pos, c.Args, false, p.errorf)
	if c.event != nil {
		p.s.events = true
		if c.event.Kind == events.KindSched {
			p.s.schedEvents = true
		}
	}
}

// expectCmd is expect [no] event …: without within it judges the events
// recorded so far; with within, it runs the machine until the verdict is
// certain or the window has passed.
func (r *runner) expectCmd(c *Cmd) error {
	cond := c.event
	m := cond.matcher(r.expand)
	if !cond.HasWithin {
		return r.expectVerdict(cond, cond.verdict(m, r.rec.Events, 0, noEnd))
	}
	start, from := r.k.Now(), len(r.rec.Events)
	end := start + cond.Within
	stop := min(end, r.deadline)
	// Count incrementally: the condition is checked between quanta.
	seen, count := from, 0
	certain := func() bool {
		for ; seen < len(r.rec.Events); seen++ {
			if e := &r.rec.Events[seen]; e.TimeNS <= end && m.matches(e) {
				count++
			}
		}
		return cond.decided(count)
	}
	if err := r.k.RunUntil(stop, certain); err != nil {
		return err
	}
	if !cond.decided(count) && stop < end {
		return r.timeoutErr()
	}
	return r.expectVerdict(cond, cond.verdict(m, r.rec.Events, from, end))
}

func (r *runner) expectVerdict(cond *EventCond, v Verdict) error {
	if v.OK {
		return nil
	}
	msg := cond.Text + ": " + v.Msg
	if cond.HasWithin {
		msg += " within " + fmtDuration(cond.Within)
	}
	if v.Nearest != nil {
		msg += "; nearest: " + DescribeEvent(v.Nearest)
	}
	return &caseFailed{msg}
}

// checkLab records lab NAME: the lab the file is a copy of (klpsim lab
// check judges it by that lab's questions).
func checkLab(p *parser, c *Cmd) {
	name, ok := c.Args[0].Literal()
	if !ok || name == "" {
		p.errorf(c.Args[0].Pos, "lab: expected the lab's name, not a variable")
		return
	}
	if p.s.Lab != "" {
		p.errorf(c.Pos, "lab: second lab line (the first is at line %d)", p.s.LabPos.Line)
		return
	}
	p.s.Lab, p.s.LabPos = name, c.Pos
}
