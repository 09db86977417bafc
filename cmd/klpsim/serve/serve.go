// Package serve is klpsim's playground: an HTTP server with a web
// application embedded in the binary (static/) that edits, runs and
// debugs scenarios in the browser (docs/playground.md).
//
// Each browser session gets a session here, and each session at most one
// machine at a time: a scenario run, or a debugged scenario. Runs are
// bounded (instructions, simulated time, wall time, sessions at once) and
// cancellable. A scenario from a page reaches nothing on the host but the
// files of the gallery (the embedded teaching scenarios and selftests, and
// DIR's files under "dir/"): include lines resolve inside them, and
// modules written in C are refused (gcc would run on the host).
package serve

import (
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"klpsim/scenarios"
	"klpsim/timeline"
)

//go:embed static
var static embed.FS

// Config is what the server allows. The zero value of each limit means
// its default.
type Config struct {
	// Dir is the host directory whose files the gallery shows under
	// "dir/" and includes may read; "" for none.
	Dir string
	// MaxSessions is how many browser sessions (each with its machine)
	// may exist at once (default 4).
	MaxSessions int
	// MaxScenario is the largest scenario text accepted, in bytes
	// (default 256 KiB).
	MaxScenario int
	// MaxInsns bounds each machine's instructions (default 2e9).
	MaxInsns uint64
	// MaxSimNS bounds each machine's simulated time (default 10 minutes,
	// scenarios.DefaultTimeout); a scenario's own smaller limit stays.
	MaxSimNS uint64
	// MaxWall bounds the wall time of a run and of one debugger command
	// (default 60 s): past it the machine is interrupted.
	MaxWall time.Duration
	// Idle is how long a session without requests lives (default 10
	// minutes).
	Idle time.Duration
	// Catalog is the module catalog (default scenarios.Builtin).
	Catalog scenarios.Catalog
	// ProgressEvery is how often, in wall time, a running machine's log
	// and timeline are sent to the page between commands (default 100
	// ms); below 0, at every scheduling quantum (tests).
	ProgressEvery time.Duration
	// LoopbackOnly refuses requests whose Host is not a loopback name
	// (localhost, 127.0.0.1, [::1]): a server on loopback answers only
	// pages it served, not another site's through DNS rebinding.
	LoopbackOnly bool
}

func (c *Config) defaults() {
	if c.MaxSessions <= 0 {
		c.MaxSessions = 4
	}
	if c.MaxScenario <= 0 {
		c.MaxScenario = 256 << 10
	}
	if c.MaxInsns == 0 {
		c.MaxInsns = 2_000_000_000
	}
	if c.MaxSimNS == 0 {
		c.MaxSimNS = scenarios.DefaultTimeout
	}
	if c.MaxWall <= 0 {
		c.MaxWall = 60 * time.Second
	}
	if c.Idle <= 0 {
		c.Idle = 10 * time.Minute
	}
	if c.ProgressEvery == 0 {
		c.ProgressEvery = 100 * time.Millisecond
	}
	if c.Catalog == nil {
		c.Catalog = scenarios.Builtin
	}
}

// Server is the playground's HTTP handler and its sessions.
type Server struct {
	cfg   Config
	files *files
	mux   *http.ServeMux
	csrf  *http.CrossOriginProtection

	mu       sync.Mutex
	sessions map[string]*session
	closed   bool
	done     chan struct{}
}

// New returns a server for cfg; Close ends its sessions.
func New(cfg Config) (*Server, error) {
	cfg.defaults()
	f, err := newFiles(cfg.Dir)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, files: f, sessions: map[string]*session{}, done: make(chan struct{}), csrf: http.NewCrossOriginProtection()}
	s.routes()
	go s.reap()
	return s, nil
}

// Close kills every session's machine and stops the reaper.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.done)
	all := s.sessions
	s.sessions = map[string]*session{}
	s.mu.Unlock()
	for _, ss := range all {
		ss.close()
	}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		// A bug in a handler is one 500 answer, never the host's end.
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			apiError(w, http.StatusInternalServerError, fmt.Sprintf("internal error: %v", v))
		}
	}()
	if s.cfg.LoopbackOnly && !loopbackHost(r.Host) {
		apiError(w, http.StatusForbidden, fmt.Sprintf("host %q refused: this playground answers on loopback names only (localhost, 127.0.0.1, [::1])", r.Host))
		return
	}
	// Another site's page may not start or steer machines here.
	if err := s.csrf.Check(r); err != nil {
		apiError(w, http.StatusForbidden, "cross-origin request refused: "+err.Error())
		return
	}
	s.mux.ServeHTTP(w, r)
}

// loopbackHost reports whether a request's Host names this machine's
// loopback.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *Server) routes() {
	m := http.NewServeMux()
	sub, _ := fs.Sub(static, "static")
	m.Handle("/", noStore(http.FileServerFS(sub)))
	// The timeline package's own style and script, for its pictures.
	m.HandleFunc("GET /timeline.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		io.WriteString(w, timeline.Style())
	})
	m.HandleFunc("GET /timeline.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		io.WriteString(w, timeline.Script())
	})
	m.HandleFunc("GET /api/gallery", s.gallery)
	m.HandleFunc("GET /api/file", s.file)
	m.HandleFunc("POST /api/parse", s.parse)
	m.HandleFunc("POST /api/sessions", s.newSession)
	m.HandleFunc("DELETE /api/s/{id}", s.withSession(s.deleteSession))
	m.HandleFunc("GET /api/s/{id}/events", s.withSession(s.events))
	m.HandleFunc("POST /api/s/{id}/run", s.withSession(s.run))
	m.HandleFunc("POST /api/s/{id}/debug", s.withSession(s.debug))
	m.HandleFunc("POST /api/s/{id}/cmd", s.withSession(s.cmd))
	m.HandleFunc("POST /api/s/{id}/cancel", s.withSession(s.cancel))
	m.HandleFunc("GET /api/s/{id}/timeline", s.withSession(s.timeline))
	m.HandleFunc("GET /api/s/{id}/stack", s.withSession(s.stack))
	m.HandleFunc("GET /api/labs", s.labs)
	m.HandleFunc("POST /api/s/{id}/check", s.withSession(s.labCheck))
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusNotFound, fmt.Sprintf("no API %s %s", r.Method, r.URL.Path))
	})
	s.mux = m
}

// noStore keeps browsers from caching the application across versions
// of the binary.
func noStore(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// apiError answers {"error": msg} with the status.
func apiError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func reply(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		apiError(w, http.StatusInternalServerError, "answer not encodable: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(append(b, '\n'))
}

// decode reads a JSON request body of at most limit bytes into v, or
// answers the error and returns false.
func decode(w http.ResponseWriter, r *http.Request, limit int, v any) bool {
	r.Body = http.MaxBytesReader(w, r.Body, int64(limit))
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			apiError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request too large: the limit is %d bytes", limit))
		case errors.Is(err, io.EOF):
			apiError(w, http.StatusBadRequest, "malformed request: empty body, expected a JSON object")
		default:
			apiError(w, http.StatusBadRequest, "malformed request: "+err.Error())
		}
		return false
	}
	if dec.More() {
		apiError(w, http.StatusBadRequest, "malformed request: more than one JSON value")
		return false
	}
	return true
}

// source is a scenario sent by the page.
type source struct {
	Name string `json:"name"` // its path in the gallery's name space ("teach/01-...scn", "dir/x.scn", "untitled.scn")
	Text string `json:"text"`
}

// check validates a source's name and size; "" when it is fine.
func (s *Server) check(src *source) (int, string) {
	if len(src.Text) > s.cfg.MaxScenario {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("scenario too large: %d bytes, the limit is %d", len(src.Text), s.cfg.MaxScenario)
	}
	if src.Name == "" {
		src.Name = "untitled.scn"
	}
	if len(src.Name) > 200 || !fs.ValidPath(src.Name) || src.Name == "." {
		return http.StatusBadRequest, fmt.Sprintf("bad scenario name %q: expected a relative path such as teach/mine.scn", src.Name)
	}
	return 0, ""
}

// parseSource parses a page's scenario as the runner would, reading
// includes from the gallery's files only and building no C.
func (s *Server) parseSource(src source) (*scenarios.Scenario, error) {
	return scenarios.ParseWith(src.Name, []byte(src.Text), s.cfg.Catalog, scenarios.ParseOptions{
		ReadFile: s.files.read,
		RefuseC:  "the playground builds no C (gcc would run on the server): write the module in assembly, or run it with klpsim run",
	})
}

// ParseError is one parser error, placed.
type ParseError struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"col"`
	Msg  string `json:"msg"`
	Text string `json:"text"` // file:line:col: msg
}

func parseErrors(err error) []ParseError {
	var list scenarios.ErrorList
	if errors.As(err, &list) {
		out := make([]ParseError, 0, len(list))
		for _, e := range list {
			out = append(out, ParseError{File: e.File, Line: e.Pos.Line, Col: e.Pos.Col, Msg: e.Msg, Text: e.Error()})
		}
		return out
	}
	return []ParseError{{Line: 1, Col: 1, Msg: err.Error(), Text: err.Error()}}
}

// parse answers the parser's errors for a scenario being edited.
func (s *Server) parse(w http.ResponseWriter, r *http.Request) {
	var src source
	if !decode(w, r, s.cfg.MaxScenario+4096, &src) {
		return
	}
	if st, msg := s.check(&src); st != 0 {
		apiError(w, st, msg)
		return
	}
	sc, err := s.parseSource(src)
	if err != nil {
		reply(w, map[string]any{"errors": parseErrors(err)})
		return
	}
	reply(w, map[string]any{"errors": []ParseError{}, "commands": len(sc.Cmds)})
}

// gallery lists the scenarios a page can open.
func (s *Server) gallery(w http.ResponseWriter, r *http.Request) {
	reply(w, s.files.list())
}

// file answers one gallery file's text.
func (s *Server) file(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("path")
	data, err := s.files.read(name)
	if err != nil {
		apiError(w, http.StatusNotFound, fmt.Sprintf("%s: %v", name, err))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(data)
}

// newSession makes a browser session, if there is room for one.
func (s *Server) newSession(w http.ResponseWriter, r *http.Request) {
	var b [12]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		apiError(w, http.StatusServiceUnavailable, "the server is shutting down")
		return
	}
	if len(s.sessions) >= s.cfg.MaxSessions {
		s.mu.Unlock()
		apiError(w, http.StatusServiceUnavailable, fmt.Sprintf("too many sessions: %d at once is the limit (each has its own machine); close another tab, or wait %s for an idle one to expire", s.cfg.MaxSessions, s.cfg.Idle))
		return
	}
	ss := newSession(s, id)
	s.sessions[id] = ss
	s.mu.Unlock()
	reply(w, map[string]any{"id": id, "limits": map[string]any{
		"max_insns": s.cfg.MaxInsns, "max_sim_ns": s.cfg.MaxSimNS, "max_wall_ms": s.cfg.MaxWall.Milliseconds(),
		"max_scenario": s.cfg.MaxScenario, "max_sessions": s.cfg.MaxSessions}})
}

// withSession finds the request's session.
func (s *Server) withSession(h func(*session, http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		s.mu.Lock()
		ss := s.sessions[id]
		s.mu.Unlock()
		if ss == nil {
			apiError(w, http.StatusNotFound, fmt.Sprintf("no session %q: it expired or was closed; reload the page", id))
			return
		}
		ss.touch()
		h(ss, w, r)
	}
}

func (s *Server) deleteSession(ss *session, w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	delete(s.sessions, ss.id)
	s.mu.Unlock()
	ss.close()
	reply(w, map[string]any{"closed": ss.id})
}

// reap ends the sessions idle for longer than cfg.Idle.
func (s *Server) reap() {
	t := time.NewTicker(max(s.cfg.Idle/10, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		var idle []*session
		s.mu.Lock()
		for id, ss := range s.sessions {
			if ss.idleFor() > s.cfg.Idle {
				delete(s.sessions, id)
				idle = append(idle, ss)
			}
		}
		s.mu.Unlock()
		for _, ss := range idle {
			ss.close()
		}
	}
}

// Sessions is how many sessions exist now.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// files is the gallery's name space: the embedded scenarios (teach/,
// selftests/), the labs' files as lab start copies them (labs/) and, under dir/, the files of the host directory.
type files struct {
	root *os.Root // nil without a directory
}

func newFiles(dir string) (*files, error) {
	if dir == "" {
		return &files{}, nil
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &files{root: root}, nil
}

// read reads a gallery file. The os.Root keeps a dir/ name inside the
// directory, symbolic links included.
func (f *files) read(name string) ([]byte, error) {
	if !fs.ValidPath(name) {
		return nil, fmt.Errorf("not a file of the playground (a relative path in teach/, selftests/, labs/ or dir/)")
	}
	if rest, ok := strings.CutPrefix(name, "dir/"); ok {
		if f.root == nil {
			return nil, fmt.Errorf("no such file: the server was started without a DIR")
		}
		return readLimited(f.root.FS(), rest)
	}
	if data, ok := readLabFile(name); ok {
		return data, nil
	}
	return readLimited(scenarios.Files, name)
}

// maxFile bounds a file read from DIR.
const maxFile = 4 << 20

func readLimited(fsys fs.FS, name string) ([]byte, error) {
	fl, err := fsys.Open(name)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, pe.Err
		}
		return nil, err
	}
	defer fl.Close()
	if st, err := fl.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("is a directory")
	}
	data, err := io.ReadAll(io.LimitReader(fl, maxFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFile {
		return nil, fmt.Errorf("larger than %d bytes", maxFile)
	}
	return data, nil
}

// Entry is one scenario of the gallery.
type Entry struct {
	Path  string `json:"path"`
	Group string `json:"group"` // teach, selftests, dir
	Title string `json:"title"`
}

func (f *files) list() []Entry {
	var out []Entry
	add := func(fsys fs.FS, prefix, group, dir string) {
		_ = fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || len(out) > 1000 {
				return fs.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(p, ".scn") {
				return nil
			}
			data, err := readLimited(fsys, p)
			if err != nil {
				return nil
			}
			out = append(out, Entry{Path: prefix + p, Group: group, Title: title(data)})
			return nil
		})
	}
	add(scenarios.Files, "", "teach", "teach")
	add(scenarios.Files, "", "selftests", "selftests")
	if f.root != nil {
		add(f.root.FS(), "dir/", "dir", ".")
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Group == "dir" && out[j].Group != "dir" })
	return out
}

// title is a scenario's first comment line, or its first start_test.
func title(data []byte) string {
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if t, ok := strings.CutPrefix(l, "#"); ok && strings.TrimSpace(t) != "" {
			t = strings.TrimSpace(t)
			t = strings.TrimPrefix(t, "Teaching scenario: ")
			if len(t) > 100 {
				t = t[:100] + "…"
			}
			return t
		}
		if t, ok := strings.CutPrefix(l, "start_test"); ok {
			return strings.Trim(strings.TrimSpace(t), `"'`)
		}
	}
	return ""
}

// Loopback reports whether a listener's address is a loopback one
// (127.0.0.0/8, ::1): only this host can reach it.
func Loopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}
