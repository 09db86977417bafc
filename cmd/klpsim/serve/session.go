package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"klpsim/kernel"
	"klpsim/kernel/printk"
	"klpsim/livepatch"
	"klpsim/scenarios"
	"klpsim/scenarios/debug"
	"klpsim/timeline"
)

// A session is one browser session: its event stream (server-sent
// events: the kernel log, the scenario's output, verdicts, the timeline's
// growth, debugger stops) and its machine.
type session struct {
	srv *Server
	id  string

	// busy is held while the machine runs (a run, a debugger command);
	// a second request finds it taken and is told so.
	busy sync.Mutex
	// intr interrupts what runs now (a run's Options.Interrupt, or the
	// debugger's Interrupt); nil when nothing runs.
	intrMu sync.Mutex
	intr   func()

	mu       sync.Mutex
	used     time.Time
	evs      []sseEvent // the stream since base
	base     int        // id of evs[0]
	evBytes  int
	notify   chan struct{} // closed and replaced at each event
	closed   bool
	dbg      *debug.Session
	follow   map[*kernel.Kernel]*follower // the debugged machines' followers
	tl       []timeline.Event             // the timeline of the machine shown
	lastK    *kernel.Kernel               // the machine whose log the page has
	progress *atomic.Bool                 // the debugged machine's Options.Progress
}

type sseEvent struct {
	kind string
	data string
}

// maxStream bounds a session's stored stream; past it the log and
// output are cut with one notice.
const maxStream = 8 << 20

func newSession(srv *Server, id string) *session {
	return &session{srv: srv, id: id, used: time.Now(), notify: make(chan struct{})}
}

func (ss *session) touch() {
	ss.mu.Lock()
	ss.used = time.Now()
	ss.mu.Unlock()
}

// idleFor is how long the session has had no request; a session whose
// machine runs, or with a page listening, is not idle.
func (ss *session) idleFor() time.Duration {
	if !ss.busy.TryLock() {
		return 0
	}
	ss.busy.Unlock()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return time.Since(ss.used)
}

// emit appends an event to the stream.
func (ss *session) emit(kind string, v any) {
	var data string
	if s, ok := v.(string); ok {
		data = s
	} else {
		b, err := json.Marshal(v)
		if err != nil {
			b, _ = json.Marshal(map[string]string{"error": err.Error()})
		}
		data = string(b)
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closed {
		return
	}
	if (kind == "log" || kind == "out") && ss.evBytes+len(data) > maxStream {
		if ss.evBytes <= maxStream {
			ss.evBytes = maxStream + 1
			ss.evs = append(ss.evs, sseEvent{"notice", fmt.Sprintf("The output passed %d bytes; the rest is not shown.", maxStream)})
			close(ss.notify)
			ss.notify = make(chan struct{})
		}
		return
	}
	ss.evBytes += len(data)
	ss.evs = append(ss.evs, sseEvent{kind, data})
	close(ss.notify)
	ss.notify = make(chan struct{})
}

// restart begins a new stream: a page reading it is told to clear.
func (ss *session) restart(mode, name string) {
	ss.mu.Lock()
	ss.base += len(ss.evs)
	ss.evs, ss.evBytes = nil, 0
	ss.tl = nil
	ss.lastK = nil
	ss.mu.Unlock()
	ss.emit("start", map[string]string{"mode": mode, "name": name})
}

// close kills the machine and ends the stream.
func (ss *session) close() {
	ss.interrupt()
	ss.busy.Lock() // wait for the run or the command to stop
	defer ss.busy.Unlock()
	ss.mu.Lock()
	if ss.closed {
		ss.mu.Unlock()
		return
	}
	ss.closed = true
	d := ss.dbg
	ss.dbg = nil
	close(ss.notify)
	ss.mu.Unlock()
	if d != nil {
		d.Kill()
	}
}

func (ss *session) interrupt() bool {
	ss.intrMu.Lock()
	defer ss.intrMu.Unlock()
	if ss.intr == nil {
		return false
	}
	ss.intr()
	return true
}

func (ss *session) setInterrupt(f func()) {
	ss.intrMu.Lock()
	ss.intr = f
	ss.intrMu.Unlock()
}

// events streams the session's events to the page (text/event-stream);
// Last-Event-ID (or ?from=N) resumes after an event.
func (srv *Server) events(ss *session, w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		apiError(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	next := 0
	from := r.Header.Get("Last-Event-ID")
	if from == "" {
		from = r.URL.Query().Get("from")
	}
	if from != "" {
		if _, err := fmt.Sscanf(from, "%d", &next); err != nil || next < 0 {
			apiError(w, http.StatusBadRequest, fmt.Sprintf("bad event id %q: expected a number", from))
			return
		}
		if r.Header.Get("Last-Event-ID") != "" {
			next++
		}
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		ss.mu.Lock()
		if next < ss.base {
			next = ss.base
		}
		batch := append([]sseEvent(nil), ss.evs[next-ss.base:]...)
		first := next
		next += len(batch)
		wait, closed := ss.notify, ss.closed
		ss.mu.Unlock()
		var b bytes.Buffer
		for i, e := range batch {
			fmt.Fprintf(&b, "id: %d\nevent: %s\n", first+i, e.kind)
			for _, l := range strings.Split(e.data, "\n") {
				fmt.Fprintf(&b, "data: %s\n", l)
			}
			b.WriteByte('\n')
		}
		if b.Len() > 0 {
			if _, err := w.Write(b.Bytes()); err != nil {
				return
			}
			fl.Flush()
		}
		if closed {
			return
		}
		select {
		case <-wait:
		case <-r.Context().Done():
			return
		case <-srv.done:
			return
		case <-keepalive.C:
			ss.touch() // a page listening keeps its session
			if _, err := w.Write([]byte(": keepalive\n\n")); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

// limits applies the server's bounds to a machine's options: a
// scenario's own smaller limits stay.
func (srv *Server) limits(sc *scenarios.Scenario, opts *scenarios.Options) {
	opts.Catalog = srv.cfg.Catalog
	t := sc.Machine.Timeout
	if t == 0 || t > srv.cfg.MaxSimNS {
		opts.Timeout = srv.cfg.MaxSimNS
	}
	n := sc.Machine.MaxInsns
	if n == 0 || n > srv.cfg.MaxInsns {
		opts.MaxInsns = srv.cfg.MaxInsns
	}
}

// follower reads one machine as it runs: its kernel log from a
// sequence number on, and its timeline recorder.
type follower struct {
	k   *kernel.Kernel
	rec *timeline.Recorder
	seq uint64
	pub int // rec.Events published to the session
	// insns is the machine's instruction count when last looked at: less
	// now means the debugger rewound the machine in place to a checkpoint
	// (kernel/checkpoint.go), which puts back the log but not the
	// recorder, a host object.
	insns uint64
	// rewound: the page's copy of the log is ahead of the machine's.
	rewound bool
}

func newFollower(name string, k *kernel.Kernel, lp *livepatch.Core) *follower {
	f := &follower{k: k, rec: &timeline.Recorder{Scenario: name, Sched: true, Keep: true}}
	f.rec.Sink = f.sink
	f.rec.Attach(k, lp)
	return f
}

// sink sees each event as it is recorded; on the machine's goroutine.
func (f *follower) sink(*timeline.Event) { f.checkRewind(true) }

// checkRewind notices a rewind: the recorded events after the restored
// point go (they will be recorded again as the machine replays), but the
// event just recorded (last), which is the replay's, stays; the log is to
// be sent again whole.
func (f *follower) checkRewind(last bool) {
	n := f.k.Insns()
	back := n < f.insns
	f.insns = n
	if !back {
		return
	}
	f.rewound = true
	ev := f.rec.Events
	var keep []timeline.Event
	if last && len(ev) > 0 {
		keep, ev = ev[len(ev)-1:], ev[:len(ev)-1]
	}
	now := f.k.Now()
	i := len(ev)
	for i > 0 && ev[i-1].TimeNS > now {
		i--
	}
	f.rec.Events = append(ev[:i], keep...)
	f.pub = min(f.pub, i)
}

// flush publishes what the machine did since the last flush; on the
// goroutine stepping it, or while it is parked.
func (f *follower) flush(ss *session) {
	text, seq := f.k.Log.DmesgFrom(f.seq, printk.DmesgOptions{})
	f.seq = seq
	if text != "" {
		ss.emit("log", text)
	}
	if n := len(f.rec.Events); n > f.pub {
		ss.mu.Lock()
		ss.tl = append(ss.tl, f.rec.Events[f.pub:]...)
		ss.mu.Unlock()
		f.pub = n
		ss.emit("timeline", map[string]int{"events": n})
		if n >= maxTimeline && f.rec.Keep {
			f.rec.Keep = false
			ss.emit("notice", fmt.Sprintf("The timeline stops after %d events; the run goes on.", n))
		}
	}
}

// maxTimeline bounds the events a session's timeline keeps (a long run
// records a scheduling event per context switch).
var maxTimeline = 300_000

// lineWriter sends the scenario's output as "out" events.
type lineWriter struct{ ss *session }

func (w lineWriter) Write(p []byte) (int, error) {
	w.ss.emit("out", string(p))
	return len(p), nil
}

// takeBusy claims the session's machine for a request, or answers why
// not.
func (ss *session) takeBusy(w http.ResponseWriter) bool {
	if !ss.busy.TryLock() {
		apiError(w, http.StatusConflict, "busy: this session's machine is running; cancel it first (POST .../cancel)")
		return false
	}
	ss.mu.Lock()
	closed := ss.closed
	ss.mu.Unlock()
	if closed {
		ss.busy.Unlock()
		apiError(w, http.StatusNotFound, "the session is closed")
		return false
	}
	return true
}

// readSource decodes and parses a request's scenario; on an error it
// answers and returns nil.
func (srv *Server) readSource(w http.ResponseWriter, r *http.Request) (*scenarios.Scenario, source) {
	var src source
	if !decode(w, r, srv.cfg.MaxScenario+4096, &src) {
		return nil, src
	}
	if st, msg := srv.check(&src); st != 0 {
		apiError(w, st, msg)
		return nil, src
	}
	sc, err := srv.parseSource(src)
	if err != nil {
		replyParseErrors(w, err)
		return nil, src
	}
	return sc, src
}

// replyParseErrors answers 422 with the parser's errors.
func replyParseErrors(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnprocessableEntity)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": err.Error(), "errors": parseErrors(err)})
}

// run starts a run of the request's scenario; its progress comes on the
// event stream. Any debugged machine of the session is killed first.
func (srv *Server) run(ss *session, w http.ResponseWriter, r *http.Request) {
	sc, src := srv.readSource(w, r)
	if sc == nil {
		return
	}
	if !ss.takeBusy(w) {
		return
	}
	ss.killDebug()
	ss.restart("run", src.Name)
	var intr, progress atomic.Bool
	ss.setInterrupt(func() { intr.Store(true) })
	lines := strings.Split(src.Text, "\n")
	var f *follower
	opts := scenarios.Options{Stdout: lineWriter{ss}, Stderr: lineWriter{ss}, Interrupt: &intr, Progress: &progress}
	srv.limits(sc, &opts)
	opts.Booted = func(k *kernel.Kernel, lp *livepatch.Core) { f = newFollower(src.Name, k, lp) }
	opts.BeforeCommand = func(line int) error {
		text := ""
		if line > 0 && line <= len(lines) {
			text = lines[line-1]
		}
		f.rec.Command(line, text)
		f.flush(ss)
		return nil
	}
	opts.OnProgress = func(st kernel.Status) {
		f.flush(ss)
		ss.emit("progress", map[string]uint64{"now_ns": st.Now, "insns": st.Insns})
		if srv.cfg.ProgressEvery < 0 {
			progress.Store(true)
		}
	}
	if srv.cfg.ProgressEvery < 0 {
		progress.Store(true)
	}
	go func() {
		defer ss.busy.Unlock()
		defer ss.setInterrupt(nil)
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			tick := time.NewTicker(max(srv.cfg.ProgressEvery, time.Millisecond))
			defer tick.Stop()
			wall := time.NewTimer(srv.cfg.MaxWall)
			defer wall.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					progress.Store(true)
				case <-wall.C:
					ss.emit("notice", fmt.Sprintf("The run took more than %s of wall time: interrupted.", srv.cfg.MaxWall))
					intr.Store(true)
				}
			}
		}()
		res, err := runSafely(sc, opts)
		if f != nil {
			f.flush(ss)
			srv.verdicts(ss, f, res, err)
			f.flush(ss)
		}
		end := map[string]any{"mode": "run"}
		switch {
		case err != nil:
			end["verdict"], end["error"] = "error", err.Error()
		case res.Interrupted:
			end["verdict"] = "interrupted"
		case res.Failed:
			end["verdict"], end["error"] = "failed", res.Msg
		default:
			end["verdict"] = "passed"
		}
		ss.emit("end", end)
	}()
	reply(w, map[string]any{"started": src.Name, "commands": len(sc.Cmds)})
}

// runSafely is scenarios.Run; a panic in the simulator is the run's
// error, never the server's end.
func runSafely(sc *scenarios.Scenario, opts scenarios.Options) (res *scenarios.Result, err error) {
	defer func() {
		if v := recover(); v != nil {
			res, err = nil, fmt.Errorf("the simulator panicked: %v", v)
		}
	}()
	return scenarios.Run(sc, opts)
}

// verdicts sends the tests' results and records them on the timeline.
func (srv *Server) verdicts(ss *session, f *follower, res *scenarios.Result, err error) {
	if err != nil {
		f.rec.Failed(err.Error())
		return
	}
	for _, t := range res.Tests {
		v := "not ok"
		switch {
		case t.Skipped:
			v = "skip"
		case t.OK:
			v = "ok"
		}
		f.rec.Result(t.Name, v, t.Msg)
		ss.emit("result", map[string]string{"test": t.Name, "verdict": v, "msg": t.Msg})
	}
	if res.Failed && res.Msg != "" {
		f.rec.Failed(res.Msg)
	}
}

// cancel interrupts the session's run or debugger command.
func (srv *Server) cancel(ss *session, w http.ResponseWriter, r *http.Request) {
	reply(w, map[string]bool{"interrupted": ss.interrupt()})
}

func (ss *session) killDebug() {
	ss.mu.Lock()
	d := ss.dbg
	ss.dbg, ss.follow = nil, nil
	ss.mu.Unlock()
	if d != nil {
		d.Kill()
	}
}

// debug boots the request's scenario under the debugger, stopped before
// its first command.
func (srv *Server) debug(ss *session, w http.ResponseWriter, r *http.Request) {
	sc, src := srv.readSource(w, r)
	if sc == nil {
		return
	}
	if !ss.takeBusy(w) {
		return
	}
	defer ss.busy.Unlock()
	ss.killDebug()
	ss.restart("debug", src.Name)
	lines := strings.Split(src.Text, "\n")
	follow := map[*kernel.Kernel]*follower{}
	var lastBooted *kernel.Kernel
	var d *debug.Session
	opts := scenarios.Options{}
	srv.limits(sc, &opts)
	opts.Booted = func(k *kernel.Kernel, lp *livepatch.Core) {
		follow[k] = newFollower(src.Name, k, lp)
		lastBooted = k
	}
	opts.BeforeCommand = func(line int) error {
		k := lastBooted
		if d != nil && d.Target().K != nil {
			k = d.Target().K
		}
		if f := follow[k]; f != nil {
			text := ""
			if line > 0 && line <= len(lines) {
				text = lines[line-1]
			}
			f.rec.Command(line, text)
		}
		return nil
	}
	// While a command runs the machine, its log goes to the page as it
	// is written, if the page has that machine's log.
	progress := &atomic.Bool{}
	opts.Progress = progress
	opts.OnProgress = func(kernel.Status) {
		k := lastBooted
		if d != nil && d.Target().K != nil {
			k = d.Target().K
		}
		ss.mu.Lock()
		shown := ss.lastK == k
		ss.mu.Unlock()
		if f := follow[k]; f != nil && shown {
			f.checkRewind(false)
			if f.rewound {
				return // the stop sends the log whole
			}
			text, seq := k.Log.DmesgFrom(f.seq, printk.DmesgOptions{})
			f.seq = seq
			if text != "" {
				ss.emit("log", text)
			}
		}
		if srv.cfg.ProgressEvery < 0 {
			progress.Store(true)
		}
	}
	var err error
	func() {
		defer func() {
			if v := recover(); v != nil {
				err = fmt.Errorf("the simulator panicked: %v", v)
			}
		}()
		d, err = debug.New(sc, []byte(src.Text), opts)
	}()
	if err != nil {
		apiError(w, http.StatusUnprocessableEntity, fmt.Sprintf("%s: %v", src.Name, err))
		return
	}
	ss.mu.Lock()
	ss.dbg, ss.follow, ss.progress = d, follow, progress
	ss.mu.Unlock()
	where := d.Where()
	ss.syncDebug(d)
	reply(w, ss.answer("", where, nil, d))
}

// syncDebug publishes the stopped machine's log and timeline: the
// machine shown may be another one than before (a step back resumes a
// parked machine), then the page gets it whole.
func (ss *session) syncDebug(d *debug.Session) {
	k := d.Target().K
	ss.mu.Lock()
	f := ss.follow[k]
	sameK := ss.lastK == k
	ss.mu.Unlock()
	if k == nil || f == nil {
		return
	}
	f.checkRewind(false)
	if !sameK || f.rewound {
		f.rewound = false
		text, seq := k.Log.DmesgFrom(0, printk.DmesgOptions{})
		f.seq = seq
		ss.emit("logreset", text)
	} else {
		text, seq := k.Log.DmesgFrom(f.seq, printk.DmesgOptions{})
		f.seq = seq
		if text != "" {
			ss.emit("log", text)
		}
	}
	evs := append([]timeline.Event(nil), f.rec.Events...)
	f.pub = len(evs)
	if len(evs) >= maxTimeline && f.rec.Keep {
		f.rec.Keep = false
		ss.emit("notice", fmt.Sprintf("The timeline stops after %d events; the machine goes on.", len(evs)))
	}
	ss.mu.Lock()
	ss.lastK = k
	ss.tl = evs
	ss.mu.Unlock()
	ss.emit("timeline", map[string]int{"events": len(evs)})
}

type cmdRequest struct {
	Line string `json:"line"`
}

// cmd runs one debugger command on the session's stopped machine.
func (srv *Server) cmd(ss *session, w http.ResponseWriter, r *http.Request) {
	var req cmdRequest
	if !decode(w, r, 4096, &req) {
		return
	}
	if strings.ContainsAny(req.Line, "\n\r") {
		apiError(w, http.StatusBadRequest, "one command line, without newlines")
		return
	}
	if !ss.takeBusy(w) {
		return
	}
	defer ss.busy.Unlock()
	ss.mu.Lock()
	d, progress := ss.dbg, ss.progress
	ss.mu.Unlock()
	if d == nil {
		apiError(w, http.StatusConflict, "no debugged machine: press Debug first")
		return
	}
	ss.setInterrupt(d.Interrupt)
	defer ss.setInterrupt(nil)
	wall := time.AfterFunc(srv.cfg.MaxWall, d.Interrupt)
	stop := make(chan struct{})
	if srv.cfg.ProgressEvery < 0 {
		progress.Store(true)
	} else {
		go func() {
			tick := time.NewTicker(srv.cfg.ProgressEvery)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					progress.Store(true)
				}
			}
		}()
	}
	a, err := d.Exec(req.Line)
	close(stop)
	timedOut := !wall.Stop()
	if errors.Is(err, debug.ErrQuit) {
		ss.killDebug()
		ss.emit("end", map[string]string{"mode": "debug", "verdict": "killed"})
		reply(w, map[string]any{"command": req.Line, "text": "", "ended": true})
		return
	}
	if timedOut {
		a.Text += fmt.Sprintf("klpsim serve: the command took more than %s of wall time: interrupted\n", srv.cfg.MaxWall)
	}
	ss.syncDebug(d)
	if d.Ended() {
		ss.emit("end", map[string]string{"mode": "debug", "verdict": "ended", "text": d.Position().End})
	}
	reply(w, ss.answer(req.Line, a, err, d))
}

// answer is a debugger command's reply: its text, its data, and where
// the machine is now.
func (ss *session) answer(line string, a debug.Answer, err error, d *debug.Session) map[string]any {
	out := map[string]any{"command": line, "text": a.Text}
	if a.Data != nil {
		if _, jerr := json.Marshal(a.Data); jerr == nil {
			out["data"] = a.Data
		}
	}
	if err != nil {
		out["error"] = err.Error()
	}
	pos := d.Position()
	out["line"] = pos.Line
	out["ended"] = d.Ended()
	out["insns"] = pos.Insns
	out["now_ns"] = pos.NowNS
	return out
}

// timeline answers the pictures of the machine shown, as they are now:
// the timeline package's sections (legend, one SVG per test), which the
// page's copy of the package's script makes zoomable.
func (srv *Server) timeline(ss *session, w http.ResponseWriter, r *http.Request) {
	ss.mu.Lock()
	evs := ss.tl[:len(ss.tl):len(ss.tl)]
	ss.mu.Unlock()
	var b bytes.Buffer
	if err := timeline.WriteSections(&b, timeline.Build(evs)); err != nil {
		apiError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b.Bytes())
}

// stack answers, for a run's timeline, where a task was when the
// transition last found it blocked: the stack its blocked event carries.
// (A debugged machine answers backtrace PID instead: the live stack.)
func (srv *Server) stack(ss *session, w http.ResponseWriter, r *http.Request) {
	var pid int
	if _, err := fmt.Sscanf(r.URL.Query().Get("pid"), "%d", &pid); err != nil {
		apiError(w, http.StatusBadRequest, fmt.Sprintf("bad pid %q: expected a number", r.URL.Query().Get("pid")))
		return
	}
	ss.mu.Lock()
	evs := ss.tl[:len(ss.tl):len(ss.tl)]
	ss.mu.Unlock()
	var last *timeline.Event
	comm := ""
	for i := range evs {
		e := &evs[i]
		if lane, ok := e.Lane(); ok && lane == pid {
			if e.Task != "" {
				comm = e.Task
			}
			if e.Kind == "blocked" && len(e.Stack) > 0 {
				last = e
			}
		}
	}
	if last == nil {
		apiError(w, http.StatusNotFound, fmt.Sprintf("pid %d: the transition never found it blocked, so the run recorded no stack of it (Debug shows live stacks)", pid))
		return
	}
	frames := make([]debug.Frame, len(last.Stack))
	for i, s := range last.Stack {
		frames[i] = debug.Frame{N: i, Symbol: s}
	}
	reply(w, map[string]any{"pid": pid, "comm": comm, "reliable": true, "frames": frames,
		"when": fmt.Sprintf("recorded at %.6f s, when the transition found it %s in %s", float64(last.TimeNS)/1e9, last.Why, last.Func)})
}
