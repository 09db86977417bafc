package scenarios

import (
	"errors"
	"fmt"
	"klpsim/livepatch"
	"regexp"
	"strconv"
	"strings"

	"klpsim/kernel"
	"klpsim/kernel/vfs"
)

// The shell-like commands and the simulation commands.

// shellFailed ends a shell command: without '!', a failure prints the
// tool's error text on stderr and dies; with '!', success dies.
func (r *runner) shellFailed(c *Cmd, err error) error {
	if c.Not {
		if err == nil {
			return r.die("%s succeeded, expected it to fail", c.Name)
		}
		return nil
	}
	if err != nil {
		return r.die("%s", err)
	}
	return nil
}

// output sends a command's output to stdout, or to its redirection.
func (r *runner) output(c *Cmd, text string) error {
	if c.Redir == nil {
		fmt.Fprint(r.opts.Stdout, text)
		return nil
	}
	if text == "" {
		return nil
	}
	return r.writeFile(r.expand(c.Redir.File), []byte(text))
}

// writeFile is one write(2) of data to path through a shell redirection,
// errors as bash prints them.
func (r *runner) writeFile(path string, data []byte) error {
	if _, err := r.k.FS.Lookup(nil, path); err != nil {
		_, err := r.k.FS.WriteFile(nil, path, data)
		if err != nil {
			return &vfs.ShellError{Msg: "bash: " + path + ": " + errnoText(err), Err: err}
		}
		return nil
	}
	for len(data) > 0 {
		n, err := r.k.FS.WriteFile(nil, path, data)
		if err != nil {
			return &vfs.ShellError{Msg: "bash: " + path + ": " + errnoText(err), Err: err}
		}
		if n == 0 {
			return &vfs.ShellError{Msg: "bash: " + path + ": write consumed 0 bytes"}
		}
		data = data[n:]
	}
	return nil
}

// echo is echo [-n] WORDS [> FILE].
func (r *runner) echo(c *Cmd) error {
	a := r.args(c)
	nl := true
	if len(a) > 0 && a[0] == "-n" {
		nl, a = false, a[1:]
	}
	text := strings.Join(a, " ")
	if c.Redir == nil {
		if nl {
			text += "\n"
		}
		fmt.Fprint(r.opts.Stdout, text)
		return r.shellFailed(c, nil)
	}
	path := r.expand(c.Redir.File)
	var err error
	if nl {
		err = r.k.FS.Echo(nil, text, path)
	} else {
		err = r.writeFile(path, []byte(text))
	}
	return r.shellFailed(c, err)
}

// cat is cat FILE... [> FILE].
func (r *runner) cat(c *Cmd) error {
	var b strings.Builder
	var firstErr error
	for _, f := range r.args(c) {
		s, err := r.k.FS.Cat(nil, f)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			if !c.Not {
				continue
			}
			continue
		}
		b.WriteString(s)
	}
	if err := r.output(c, b.String()); err != nil && firstErr == nil {
		firstErr = err
	}
	return r.shellFailed(c, firstErr)
}

// grepLines returns the lines of text that match.
func grepLines(text, pattern string, fixed, whole, word, invert bool) ([]string, error) {
	if text == "" {
		return nil, nil
	}
	var re *regexp.Regexp
	if fixed && word && !whole {
		// -Fw: the fixed string as a whole word.
		fixed, pattern = false, regexp.QuoteMeta(pattern)
	}
	if !fixed {
		switch {
		case whole:
			pattern = "^(?:" + pattern + ")$"
		case word:
			// -w: the match must not touch word characters on either side.
			pattern = `(?:^|[^\w])(?:` + pattern + `)(?:[^\w]|$)`
		}
		var err error
		if re, err = regexp.Compile(pattern); err != nil {
			return nil, fmt.Errorf("bad pattern %q: %s", pattern, regexpError(err))
		}
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		var m bool
		switch {
		case fixed && whole:
			m = l == pattern
		case fixed:
			m = strings.Contains(l, pattern)
		default:
			m = re.MatchString(l)
		}
		if m != invert {
			out = append(out, l)
		}
	}
	return out, nil
}

// grep is grep [-q] [-v] [-x] [-w] [-F] PATTERN FILE... [> FILE]: it fails
// (exit status 1) when nothing matches, as grep does, which only matters
// with '!'; a missing file prints grep's error.
func (r *runner) grep(c *Cmd) error {
	a := r.args(c)
	var quiet, invert, whole, word, fixed bool
	i := 0
	for ; i < len(a) && strings.HasPrefix(a[i], "-") && a[i] != "-" && !c.Args[i].Quoted; i++ {
		quiet = quiet || strings.Contains(a[i], "q")
		invert = invert || strings.Contains(a[i], "v")
		whole = whole || strings.Contains(a[i], "x")
		word = word || strings.Contains(a[i], "w")
		fixed = fixed || strings.Contains(a[i], "F")
	}
	pattern, files := a[i], a[i+1:]
	var b strings.Builder
	matched := false
	var fileErr error
	for _, f := range files {
		s, err := r.k.FS.Cat(nil, f)
		if err != nil {
			fileErr = &vfs.ShellError{Msg: "grep: " + f + ": " + errnoText(err), Err: err}
			fmt.Fprintln(r.opts.Stderr, fileErr)
			continue
		}
		lines, err := grepLines(s, pattern, fixed, whole, word, invert)
		if err != nil {
			return r.die("grep: %v", err)
		}
		for _, l := range lines {
			matched = true
			if len(files) > 1 {
				l = f + ":" + l
			}
			b.WriteString(l + "\n")
		}
	}
	if !quiet {
		if err := r.output(c, b.String()); err != nil {
			return r.shellFailed(c, err)
		}
	}
	if c.Not {
		if matched {
			return r.die("grep %s matched, expected no match", pattern)
		}
		return nil
	}
	// Like a script without set -e, a grep that matches nothing goes on;
	// only its output (none) tells.
	_ = fileErr
	return nil
}

// sleepCmd is sleep DURATION.
func (r *runner) sleepCmd(c *Cmd) error {
	d, err := ParseDuration(r.expand(c.Args[0]))
	if err != nil {
		return r.die("sleep: %v", err)
	}
	return r.sleep(d)
}

// runCmd is run DURATION: the same as sleep.
func (r *runner) runCmd(c *Cmd) error { return r.sleepCmd(c) }

// dmesgCmd is dmesg [-C].
func (r *runner) dmesgCmd(c *Cmd) error {
	if len(c.Args) == 1 {
		r.k.Log.Clear()
		return nil
	}
	fmt.Fprint(r.opts.Stdout, r.k.Log.Dmesg(kernelDmesgOpts))
	return nil
}

// setCmd is set VAR VALUE...
func (r *runner) setCmd(c *Cmd) error {
	a := r.args(c)
	r.vars[a[0]] = strings.Join(a[1:], " ")
	return nil
}

// readCmd is read VAR FILE: VAR=$(cat FILE).
func (r *runner) readCmd(c *Cmd) error {
	a := r.args(c)
	s, err := r.k.FS.Cat(nil, a[1])
	if err != nil {
		return r.die("%s", err)
	}
	r.vars[a[0]] = strings.TrimRight(s, "\n")
	return nil
}

// spawn is spawn PROGRAM [count=N] [pids=VAR] [as=NAME] [entry=SYMBOL].
func (r *runner) spawn(c *Cmd) error {
	prog := r.expand(c.Args[0])
	opt := func(key, def string) string {
		if w, ok := c.opts[key]; ok {
			_, v, _ := keyval(r.expand(w))
			return v
		}
		return def
	}
	count, err := parseIntRange(opt("count", "1"), 1, 4096)
	if err != nil {
		return r.die("spawn count: %v", err)
	}
	name := opt("as", strings.TrimSuffix(prog, ".S"))
	var up kernel.UserProgram
	if o := r.s.programs[prog]; o != nil {
		up = kernel.UserProgram{Object: o, Entry: opt("entry", ""), Name: strings.TrimSuffix(prog, ".S")}
	} else if r.opts.Catalog != nil {
		p, ok, err := r.opts.Catalog.Program(prog)
		if err != nil || !ok {
			return r.die("spawn: no program %s (%v)", prog, err)
		}
		up = p
	} else {
		return r.die("spawn: no program %s", prog)
	}
	comm := name
	if len(comm) > 15 {
		comm = comm[:15] // TASK_COMM_LEN
	}
	if v := opt("cpu", ""); v != "" {
		cpu, _ := strconv.Atoi(v)
		if cpu >= len(r.k.CPUs()) {
			return r.die("spawn cpu=%d: the machine has %d CPUs", cpu, len(r.k.CPUs()))
		}
		if err := r.k.PlaceHostTasks(cpu); err != nil {
			return r.die("%v", err)
		}
		defer func() { _ = r.k.PlaceHostTasks(-1) }()
	}
	var pids []string
	for range count {
		t, err := r.k.SpawnUser(comm, up)
		if err != nil {
			return r.die("spawn %s: %v", prog, err)
		}
		r.groups[name] = append(r.groups[name], t)
		pids = append(pids, strconv.Itoa(t.PID))
	}
	if v := opt("pids", ""); v != "" {
		r.vars[v] = strings.Join(pids, ",")
	}
	return nil
}

// kill is kill [-SIGNAL] NAME: the signal (SIGTERM by default) to every
// live task spawned as NAME or called NAME.
func (r *runner) kill(c *Cmd) error {
	a := r.args(c)
	sig := kernel.SIGTERM
	if len(a) == 2 {
		s, ok := parseSignal(a[0])
		if !ok {
			return r.die("kill: bad signal %s", a[0])
		}
		sig, a = s, a[1:]
	}
	tasks := r.liveTasks(a[0])
	if len(tasks) == 0 {
		return r.die("kill: no task %s", a[0])
	}
	for _, t := range tasks {
		r.k.Kill(t, sig)
	}
	return nil
}

// runUntil is run_until [timeout=DURATION] CONDITION [|| die MESSAGE]: the
// machine runs until the condition holds, checked between scheduling
// quanta (every 50 µs of simulated time at most).
func (r *runner) runUntil(c *Cmd) error {
	timeout := uint64(60e9)
	if w, ok := c.opts["timeout"]; ok {
		d, err := ParseDuration(strings.TrimPrefix(r.expand(w), "timeout="))
		if err != nil {
			return r.die("run_until: %v", err)
		}
		timeout = d
	}
	end := r.k.Now() + timeout
	if end > r.deadline {
		end = r.deadline
	}
	var condErr error
	cond := func() bool {
		v, err := r.eval(c.Cond)
		condErr = err
		return v && err == nil
	}
	if err := r.k.RunUntil(end, cond); err != nil {
		return err
	}
	if cond() {
		return nil
	}
	if end == r.deadline && r.k.Now() >= r.deadline {
		return r.timeoutErr()
	}
	return r.condFailed(c, condErr, "run_until: still false after "+fmtDuration(timeout))
}

// assert is assert CONDITION [|| die MESSAGE].
func (r *runner) assert(c *Cmd) error {
	v, err := r.eval(c.Cond)
	if v && err == nil {
		return nil
	}
	return r.condFailed(c, err, "assert")
}

// checkerCmd is checker on.
func (r *runner) checkerCmd(*Cmd) error {
	r.lp.EnableChecker()
	return nil
}

// expectViolation is expect_violation DURATION [REGEXP]: within DURATION
// the consistency checker (checker on) must stop the machine, with a
// verdict matching REGEXP; the checker logs the verdict as a "klpsim:"
// line, and the machine goes on.
func (r *runner) expectViolation(c *Cmd) error {
	a := r.args(c)
	d, err := ParseDuration(a[0])
	if err != nil {
		return r.die("expect_violation: %v", err)
	}
	r.lp.StopAtViolation(true)
	err = r.sleep(d)
	r.lp.StopAtViolation(false)
	if !errors.Is(err, livepatch.ErrInconsistent) {
		if err == nil {
			return r.die("expect_violation: no consistency violation within %s", a[0])
		}
		return err
	}
	verdict := r.k.ClearStop()
	// The checker logged it ("klpsim: …") and counts it; it is the
	// expected one, not a failure.
	r.expectViolations(1)
	if len(a) > 1 && !regexp.MustCompile(a[1]).MatchString(verdict.Error()) {
		return r.die("expect_violation: %q does not match %q", verdict.Error(), a[1])
	}
	return nil
}

// eval tests a condition now.
func (r *runner) eval(cd *Cond) (bool, error) {
	v, err := r.evalRaw(cd)
	return v != cd.Not, err
}

func (r *runner) evalRaw(cd *Cond) (bool, error) {
	a := make([]string, len(cd.Args))
	for i, w := range cd.Args {
		a[i] = r.expand(w)
	}
	switch cd.Kind {
	case "exists":
		return r.exists(a[0]), nil
	case "cat":
		s, err := r.k.FS.Cat(nil, a[0])
		if err != nil {
			return false, err
		}
		if cd.numeric {
			// A number: the first field, as /proc/uptime's seconds.
			f := strings.Fields(s)
			if len(f) == 0 {
				return false, fmt.Errorf("cat: %s is empty, not a number", a[0])
			}
			return compareNumbers(f[0], cd.Op, a[1])
		}
		eq := strings.TrimRight(s, "\n") == a[1]
		return eq == (cd.Op == "=="), nil
	case "value":
		if !cd.numeric {
			return (a[0] == a[1]) == (cd.Op == "=="), nil
		}
		return compareNumbers(a[0], cd.Op, a[1])
	case "grep":
		s, err := r.k.FS.Cat(nil, a[1])
		if err != nil {
			return false, err
		}
		lines, err := grepLines(s, a[0], cd.fixed, cd.whole, cd.word, cd.invert)
		return len(lines) > 0, err
	case "count":
		n, err := strconv.Atoi(a[1])
		if err != nil {
			return false, fmt.Errorf("count: %q is not a number", a[1])
		}
		return compare(len(r.k.FS.Glob(nil, a[0])), cd.Op, n), nil
	case "tasks":
		n, err := strconv.Atoi(a[1])
		if err != nil {
			return false, fmt.Errorf("tasks: %q is not a number", a[1])
		}
		return compare(len(r.liveTasks(a[0])), cd.Op, n), nil
	case "dmesg":
		re, err := regexp.Compile(a[0])
		if err != nil {
			return false, fmt.Errorf("bad pattern %q: %s", a[0], regexpError(err))
		}
		for _, l := range r.k.Log.DmesgLines(kernelDmesg{NoTime: true}) {
			if re.MatchString(l) {
				return true, nil
			}
		}
		return false, nil
	}
	panic("BUG: scenarios: condition " + cd.Kind)
}

// compareNumbers compares two numbers written as text (integers or
// decimals: 12, 0x1f, 3.25).
func compareNumbers(a, op, b string) (bool, error) {
	x, err := parseNumber(a)
	if err != nil {
		return false, err
	}
	y, err := parseNumber(b)
	if err != nil {
		return false, err
	}
	switch op {
	case "==":
		return x == y, nil
	case "!=":
		return x != y, nil
	case "<":
		return x < y, nil
	case "<=":
		return x <= y, nil
	case ">":
		return x > y, nil
	case ">=":
		return x >= y, nil
	}
	panic("BUG: scenarios: operator " + op)
}

func parseNumber(s string) (float64, error) {
	if n, err := strconv.ParseInt(s, 0, 64); err == nil {
		return float64(n), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return f, nil
}

func compare(a int, op string, b int) bool {
	switch op {
	case "==":
		return a == b
	case "!=":
		return a != b
	case "<":
		return a < b
	case "<=":
		return a <= b
	case ">":
		return a > b
	case ">=":
		return a >= b
	}
	panic("BUG: scenarios: operator " + op)
}

// condString shows a condition with its variables expanded.
func (r *runner) condString(cd *Cond) string {
	var parts []string
	if cd.Not {
		parts = append(parts, "!")
	}
	parts = append(parts, cd.Kind)
	for i, w := range cd.Args {
		if i == 1 && cd.Op != "" {
			parts = append(parts, cd.Op)
		}
		s := r.expand(w)
		if s == "" || strings.ContainsAny(s, " \t'\"") {
			s = strconv.Quote(s)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// taskset is taskset -c CPU COMMAND... (COMMAND's new tasks start on
// CPU) and taskset -p -c CPU TASK (TASK's tasks move to CPU).
func (r *runner) taskset(c *Cmd) error {
	cpuText := r.expand(c.opts["cpu"])
	cpu, err := strconv.Atoi(cpuText)
	if err != nil || cpu < 0 || cpu >= len(r.k.CPUs()) {
		return r.die("taskset: CPU %q: expected a CPU of the machine, 0 to %d", cpuText, len(r.k.CPUs())-1)
	}
	if c.inner != nil {
		if err := r.k.PlaceHostTasks(cpu); err != nil {
			return r.die("%v", err)
		}
		defer func() { _ = r.k.PlaceHostTasks(-1) }()
		return c.inner.spec.run(r, c.inner)
	}
	target := r.expand(c.opts["pid"])
	var tasks []*kernel.Task
	if strings.Trim(target, "0123456789,") == "" && target != "" {
		for _, f := range strings.Split(target, ",") {
			pid, _ := strconv.Atoi(f)
			t := r.k.TaskByPID(pid)
			if t == nil || t.State == kernel.TaskDead {
				return r.die("taskset: failed to get pid %d's affinity: No such process", pid)
			}
			tasks = append(tasks, t)
		}
	} else if tasks = r.liveTasks(target); len(tasks) == 0 {
		return r.die("taskset: no task called %s", target)
	}
	for _, t := range tasks {
		if err := r.k.SetCPU(t, cpu); err != nil {
			return r.die("taskset: failed to set pid %d's affinity: %s", t.PID, errnoText(err))
		}
	}
	return nil
}
