package serve

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"klpsim/kernel"
	"klpsim/kernel/printk"
	"klpsim/livepatch"
	"klpsim/scenarios"
)

const teach01 = "teach/01-sleeping-task.scn"

// server starts a playground for a test.
func server(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
	})
	return srv, hs
}

// call makes one API request with a JSON body (a string is sent as is)
// and decodes the JSON answer.
func call(t *testing.T, hs *httptest.Server, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, hs.URL+path, rd)
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		out = map[string]any{"raw": string(data)}
	}
	return resp.StatusCode, out
}

func newSessionID(t *testing.T, hs *httptest.Server) string {
	t.Helper()
	st, out := call(t, hs, "POST", "/api/sessions", nil)
	if st != 200 {
		t.Fatalf("POST /api/sessions: %d %v", st, out)
	}
	return out["id"].(string)
}

func file(t *testing.T, name string) string {
	data, err := scenarios.Files.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

type sse struct {
	kind, data string
}

// stream reads a session's events until one of kind end arrives.
func stream(t *testing.T, hs *httptest.Server, id string) []sse {
	t.Helper()
	resp, err := hs.Client().Get(hs.URL + "/api/s/" + id + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events: Content-Type %q", ct)
	}
	var evs []sse
	var cur sse
	var data []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case l == "":
			if cur.kind != "" {
				cur.data = strings.Join(data, "\n")
				evs = append(evs, cur)
				if cur.kind == "end" {
					return evs
				}
			}
			cur, data = sse{}, nil
		case strings.HasPrefix(l, "event: "):
			cur.kind = l[len("event: "):]
		case strings.HasPrefix(l, "data: "):
			data = append(data, l[len("data: "):])
		}
	}
	t.Fatalf("the stream ended without an end event: %v", sc.Err())
	return nil
}

// straightDmesg is a run's whole kernel log without the playground.
func straightDmesg(t *testing.T, name string) string {
	sc, err := scenarios.ParseWith(name, []byte(file(t, name)), scenarios.Builtin, scenarios.ParseOptions{ReadFile: scenarios.Files.ReadFile})
	if err != nil {
		t.Fatal(err)
	}
	var k *kernel.Kernel
	if _, err := scenarios.Run(sc, scenarios.Options{Catalog: scenarios.Builtin, Booted: func(kk *kernel.Kernel, _ *livepatch.Core) { k = kk }}); err != nil {
		t.Fatal(err)
	}
	s, _ := k.Log.DmesgFrom(0, printk.DmesgOptions{})
	return s
}

// Parse: the parser's errors, placed, for the page; include lines read
// the gallery's files and nothing else; C is refused.
func TestParse(t *testing.T) {
	_, hs := server(t, Config{})
	cases := []struct {
		name, text string
		want       string // the first error's text; "" for none
	}{
		{"untitled.scn", "machine cpus=2\nstart_test x\nfrobnicate 3\n", `untitled.scn:3:1: unknown command "frobnicate" (docs/scenarios.md lists the commands)`},
		{teach01, file(t, teach01), ""},
		{"mine.scn", "include teach/teach-target.inc\nstart_test x\nload_mod test_klp_teach_target\n", ""},
		{"mine.scn", "include /etc/passwd\nstart_test x\n", "mine.scn:1:9: include /etc/passwd: not a file of the playground (a relative path in teach/, selftests/, labs/ or dir/)"},
		{"teach/x.scn", "include ../../etc/passwd\nstart_test x\n", "teach/x.scn:1:9: include ../../etc/passwd: not a file of the playground (a relative path in teach/, selftests/, labs/ or dir/)"},
		{"mine.scn", "include dir/x.inc\nstart_test x\n", "mine.scn:1:9: include dir/x.inc: no such file: the server was started without a DIR"},
		{"mine.scn", "module m\nstart_test x\n-- m.c --\nint x;\n", "mine.scn:1:1: module m is written in C: the playground builds no C (gcc would run on the server): write the module in assembly, or run it with klpsim run"},
		{"mine.scn", "", "mine.scn:1:1: not a scenario: the file is empty (a scenario is a script of commands, docs/scenarios.md)"},
	}
	for _, c := range cases {
		st, out := call(t, hs, "POST", "/api/parse", map[string]string{"name": c.name, "text": c.text})
		if st != 200 {
			t.Errorf("%s: status %d %v", c.name, st, out)
			continue
		}
		errs, _ := out["errors"].([]any)
		got := ""
		if len(errs) > 0 {
			got = errs[0].(map[string]any)["text"].(string)
		}
		if got != c.want {
			t.Errorf("%s %q:\n got %q\nwant %q", c.name, c.text[:min(len(c.text), 40)], got, c.want)
		}
	}
}

// Run: the event stream carries the kernel log as the machine writes it
// (all of it, the same as a run without the playground), the scenario's
// output, the verdicts, the timeline's growth and the end; the timeline
// answers the picture with the kworker blocked.
func TestRunStreams(t *testing.T) {
	_, hs := server(t, Config{})
	id := newSessionID(t, hs)
	st, out := call(t, hs, "POST", "/api/s/"+id+"/run", map[string]string{"name": teach01, "text": file(t, teach01)})
	if st != 200 {
		t.Fatalf("run: %d %v", st, out)
	}
	evs := stream(t, hs, id)
	if evs[0].kind != "start" || evs[0].data != `{"mode":"run","name":"teach/01-sleeping-task.scn"}` {
		t.Errorf("first event %v", evs[0])
	}
	var log, outText strings.Builder
	kinds := map[string]int{}
	var results []string
	for _, e := range evs {
		kinds[e.kind]++
		switch e.kind {
		case "log":
			log.WriteString(e.data)
		case "out":
			outText.WriteString(e.data)
		case "result":
			results = append(results, e.data)
		}
	}
	if want := straightDmesg(t, teach01); log.String() != want {
		t.Errorf("the streamed kernel log differs from a straight run's:\n%s\nwant:\n%s", log.String(), want)
	}
	if kinds["log"] < 5 {
		t.Errorf("the log came in %d pieces: not streamed as the run went", kinds["log"])
	}
	if !strings.Contains(outText.String(), "TEST: a sleeping task holds the transition until it leaves the function ... ok") {
		t.Errorf("output: %s", outText.String())
	}
	if len(results) != 1 || results[0] != `{"msg":"","test":"a sleeping task holds the transition until it leaves the function","verdict":"ok"}` {
		t.Errorf("results: %v", results)
	}
	if kinds["timeline"] == 0 {
		t.Errorf("no timeline event")
	}
	if end := evs[len(evs)-1]; end.data != `{"mode":"run","verdict":"passed"}` {
		t.Errorf("end: %s", end.data)
	}
	resp, err := hs.Client().Get(hs.URL + "/api/s/" + id + "/timeline")
	if err != nil {
		t.Fatal(err)
	}
	pic, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	lane := string(pic[bytes.Index(pic, []byte(`data-pid="4"`)):])
	lane = lane[:strings.Index(lane, `<g class="lane"`)]
	if !strings.Contains(lane, ">kworker/1:0 4<") || strings.Count(lane, `class="mk k-blocked"`) != 4 {
		t.Errorf("the kworker's lane on the timeline:\n%s", lane)
	}
	st, out = call(t, hs, "GET", "/api/s/"+id+"/stack?pid=4", nil)
	if st != 200 || !strings.Contains(fmt.Sprint(out["frames"]), "teach_sleep_fn+0x3f/0x5b [test_klp_teach_target]") {
		t.Errorf("stack of pid 4 after the run: %d %v", st, out)
	}
	if st, out := call(t, hs, "GET", "/api/s/"+id+"/stack?pid=1", nil); st != 404 || !strings.Contains(out["error"].(string), "never found it blocked") {
		t.Errorf("stack of pid 1: %d %v", st, out)
	}
}

// Debug: the debugger's commands on the session's machine, their text
// and data; the log and timeline follow the stops.
func TestDebugCommands(t *testing.T) {
	_, hs := server(t, Config{})
	id := newSessionID(t, hs)
	cmd := func(line string) map[string]any {
		t.Helper()
		st, out := call(t, hs, "POST", "/api/s/"+id+"/cmd", map[string]string{"line": line})
		if st != 200 {
			t.Fatalf("%s: %d %v", line, st, out)
		}
		return out
	}
	if st, out := call(t, hs, "POST", "/api/s/"+id+"/cmd", map[string]string{"line": "stepi"}); st != 409 || out["error"] != "no debugged machine: press Debug first" {
		t.Errorf("a command before Debug: %d %v", st, out)
	}
	st, out := call(t, hs, "POST", "/api/s/"+id+"/debug", map[string]string{"name": teach01, "text": file(t, teach01)})
	if st != 200 || out["line"] != float64(31) || out["ended"] != false {
		t.Fatalf("debug: %d %v", st, out)
	}
	if a := cmd("break transition blocked"); a["text"] != "Breakpoint 1: transition blocked\n" {
		t.Errorf("break: %q", a["text"])
	}
	a := cmd("continue")
	if !strings.Contains(a["text"].(string), "transition blocked of test_klp_teach_patch: kworker/1:0 (pid 4), sleeping-on-function in teach_sleep_fn") {
		t.Errorf("continue: %q", a["text"])
	}
	at := a["insns"].(float64)
	a = cmd("backtrace 4")
	if !strings.Contains(a["text"].(string), "teach_sleep_fn+0x3f/0x5b [test_klp_teach_target]") || a["data"].(map[string]any)["pid"] != float64(4) {
		t.Errorf("backtrace 4: %v", a)
	}
	if a = cmd("stepi"); a["insns"].(float64) != at+1 {
		t.Errorf("stepi: at %v, was %v", a["insns"], at)
	}
	if a = cmd("reverse-stepi"); a["insns"].(float64) != at {
		t.Errorf("reverse-stepi: at %v, want %v (%v)", a["insns"], at, a)
	}
	if a = cmd("why"); !strings.Contains(a["text"].(string), "teach_sleep_fn") {
		t.Errorf("why: %q", a["text"])
	}
	if a = cmd("info tasks"); len(a["data"].([]any)) < 5 {
		t.Errorf("info tasks: %v", a["data"])
	}
	if a = cmd("disassemble teach_sleep_fn"); a["data"].(map[string]any)["fentry"] == nil {
		t.Errorf("disassemble: no fentry site: %v", a["text"])
	}
	if a = cmd("frobnicate"); a["error"] != `undefined command: "frobnicate". Try "help".` {
		t.Errorf("an unknown command: %v", a["error"])
	}
	resp, err := hs.Client().Get(hs.URL + "/api/s/" + id + "/timeline")
	if err != nil {
		t.Fatal(err)
	}
	pic, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(pic, []byte(">kworker/1:0 4<")) || !bytes.Contains(pic, []byte("k-blocked")) {
		t.Errorf("the debugged machine's timeline lacks the blocked kworker")
	}
	if a = cmd("quit"); a["ended"] != true {
		t.Errorf("quit: %v", a)
	}
	if st, out := call(t, hs, "POST", "/api/s/"+id+"/cmd", map[string]string{"line": "stepi"}); st != 409 {
		t.Errorf("a command after quit: %d %v", st, out)
	}
}

// endless keeps its CPU busy until it is interrupted or its limits end
// it (10 minutes of simulated time: hundreds of billions of
// instructions).
const endless = "machine cpus=1\nstart_test forever\nspawn spin.S as=spin\nrun 100000s\n-- spin.S --\n\t.intel_syntax noprefix\n\t.text\n\t.globl _start\n_start:\n\tjmp _start\n"

// Limits and bad input: each a clear error, never a panic.
func TestLimitsAndBadInput(t *testing.T) {
	srv, hs := server(t, Config{MaxSessions: 2, MaxScenario: 1000, MaxInsns: 1 << 62})
	id := newSessionID(t, hs)
	newSessionID(t, hs)
	if st, out := call(t, hs, "POST", "/api/sessions", nil); st != 503 || !strings.HasPrefix(out["error"].(string), "too many sessions: 2 at once is the limit") {
		t.Errorf("a third session: %d %v", st, out)
	}
	run := "/api/s/" + id + "/run"
	cases := []struct {
		what, method, path string
		body               any
		status             int
		want               string
	}{
		{"oversized", "POST", run, map[string]string{"text": strings.Repeat("# x\n", 300)}, 413, "scenario too large: 1200 bytes, the limit is 1000"},
		{"oversized body", "POST", "/api/parse", `{"text": "` + strings.Repeat("x", 10000) + `"}`, 413, "request too large: the limit is 5096 bytes"},
		{"malformed", "POST", run, `{"text": `, 400, "malformed request: unexpected EOF"},
		{"empty", "POST", run, "", 400, "malformed request: empty body, expected a JSON object"},
		{"not an object", "POST", run, `[1]`, 400, "malformed request: json: cannot unmarshal array into Go value of type serve.source"},
		{"unknown field", "POST", run, `{"txt": "x"}`, 400, `malformed request: json: unknown field "txt"`},
		{"two values", "POST", run, `{} {}`, 400, "malformed request: more than one JSON value"},
		{"bad name", "POST", run, map[string]string{"name": "../x.scn", "text": "start_test x\n"}, 400, `bad scenario name "../x.scn": expected a relative path such as teach/mine.scn`},
		{"absolute name", "POST", run, map[string]string{"name": "/etc/x.scn", "text": "start_test x\n"}, 400, `bad scenario name "/etc/x.scn": expected a relative path such as teach/mine.scn`},
		{"parse error", "POST", run, map[string]string{"text": "frobnicate\n"}, 422, `untitled.scn:1:1: unknown command "frobnicate" (docs/scenarios.md lists the commands)`},
		{"no session", "POST", "/api/s/nope/run", map[string]string{"text": "x"}, 404, `no session "nope": it expired or was closed; reload the page`},
		{"wrong method", "GET", run, nil, 404, "no API GET " + run},
		{"no API", "GET", "/api/nothing", nil, 404, "no API GET /api/nothing"},
		{"newline in a command", "POST", "/api/s/" + id + "/cmd", map[string]string{"line": "stepi\nstepi"}, 400, "one command line, without newlines"},
		{"bad pid", "GET", "/api/s/" + id + "/stack?pid=x", nil, 400, `bad pid "x": expected a number`},
		{"file outside", "GET", "/api/file?path=../../etc/passwd", nil, 404, "../../etc/passwd: not a file of the playground (a relative path in teach/, selftests/, labs/ or dir/)"},
		{"post to a page", "POST", "/index.html", "x", 405, ""},
	}
	for _, c := range cases {
		st, out := call(t, hs, c.method, c.path, c.body)
		if st != c.status || (c.want != "" && out["error"] != c.want) {
			t.Errorf("%s: %d %q, want %d %q", c.what, st, out["error"], c.status, c.want)
		}
	}

	// A run in progress: a second run is refused; cancel interrupts it.
	if st, out := call(t, hs, "POST", run, map[string]string{"text": endless}); st != 200 {
		t.Fatalf("run: %d %v", st, out)
	}
	if st, out := call(t, hs, "POST", run, map[string]string{"text": endless}); st != 409 || !strings.HasPrefix(out["error"].(string), "busy:") {
		t.Errorf("a second run: %d %v", st, out)
	}
	if st, out := call(t, hs, "POST", "/api/s/"+id+"/cancel", nil); st != 200 || out["interrupted"] != true {
		t.Errorf("cancel: %d %v", st, out)
	}
	evs := stream(t, hs, id)
	if end := evs[len(evs)-1].data; end != `{"mode":"run","verdict":"interrupted"}` {
		t.Errorf("a cancelled run ended %s", end)
	}
	// Closing a session makes room for another.
	if st, _ := call(t, hs, "DELETE", "/api/s/"+id, nil); st != 200 {
		t.Errorf("delete: %d", st)
	}
	if srv.Sessions() != 1 {
		t.Errorf("%d sessions after a delete, want 1", srv.Sessions())
	}
	newSessionID(t, hs)
}

// The machine's bounds: instructions, simulated time, wall time.
func TestMachineLimits(t *testing.T) {
	cases := []struct {
		cfg  Config
		text string
		want string
	}{
		{Config{MaxInsns: 1_000_000}, endless, `"error":"run: kernel: 1000000 instructions: limit reached (MaxInsns)"`},
		{Config{MaxSimNS: 1_000_000}, endless, "simulated time limit (1ms) is reached"},
		{Config{MaxWall: time.Millisecond, MaxInsns: 1 << 62}, endless, `"verdict":"interrupted"`},
	}
	for _, c := range cases {
		_, hs := server(t, c.cfg)
		id := newSessionID(t, hs)
		if st, out := call(t, hs, "POST", "/api/s/"+id+"/run", map[string]string{"text": c.text}); st != 200 {
			t.Fatalf("run: %d %v", st, out)
		}
		evs := stream(t, hs, id)
		var all strings.Builder
		for _, e := range evs {
			all.WriteString(e.data + "\n")
		}
		if !strings.Contains(all.String(), c.want) {
			t.Errorf("%+v: no %q in\n%s", c.cfg, c.want, all.String())
		}
	}
}

// An idle session expires, and its room is given back.
func TestIdleSessionsExpire(t *testing.T) {
	srv, hs := server(t, Config{Idle: 20 * time.Millisecond, MaxSessions: 1})
	newSessionID(t, hs)
	for i := 0; srv.Sessions() != 0; i++ {
		if i > 1000 {
			t.Fatal("the idle session never expired")
		}
		time.Sleep(10 * time.Millisecond)
	}
	newSessionID(t, hs)
}

// DIR's files are under dir/, and a symbolic link out of DIR stays
// closed.
func TestDir(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "secret.inc")
	os.WriteFile(outside, []byte("secret\n"), 0o644)
	os.Symlink(outside, filepath.Join(dir, "escape.inc"))
	os.WriteFile(filepath.Join(dir, "mine.scn"), []byte("# My scenario\nstart_test mine\n"), 0o644)
	_, hs := server(t, Config{Dir: dir})
	st, out := call(t, hs, "GET", "/api/gallery", nil)
	if st != 200 {
		t.Fatalf("gallery: %d", st)
	}
	_ = out
	resp, _ := hs.Client().Get(hs.URL + "/api/gallery")
	var entries []Entry
	json.NewDecoder(resp.Body).Decode(&entries)
	resp.Body.Close()
	groups := map[string]int{}
	for _, e := range entries {
		groups[e.Group]++
	}
	if entries[0] != (Entry{Path: "dir/mine.scn", Group: "dir", Title: "My scenario"}) || groups["teach"] < 10 || groups["selftests"] < 5 {
		t.Errorf("gallery: %v first, groups %v", entries[0], groups)
	}
	st, out = call(t, hs, "POST", "/api/parse", map[string]string{"name": "dir/x.scn", "text": "include escape.inc\nstart_test x\n"})
	errs := fmt.Sprint(out["errors"])
	if st != 200 || !strings.Contains(errs, "x.scn:1:9: include escape.inc:") || strings.Contains(errs, "secret") {
		t.Errorf("an include through a link out of DIR: %d %s", st, errs)
	}
}

// FuzzParseAPI: whatever a page sends to the parser, the answer is a
// JSON error or the parser's errors, never a 500 or a panic.
func FuzzParseAPI(f *testing.F) {
	f.Add(`{"name":"x.scn","text":"machine cpus=2\nstart_test x\n"}`)
	f.Add(`{"text":"include teach/teach-target.inc\n"}`)
	f.Add(`{"name":"../x","text":""}`)
	f.Add(`{"text":"-- --\n"}`)
	f.Add(`[`)
	srv, err := New(Config{MaxScenario: 4096})
	if err != nil {
		f.Fatal(err)
	}
	defer srv.Close()
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/api/parse", strings.NewReader(body))
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%q: %d %s", body, rec.Code, rec.Body.String())
		}
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%q: not JSON: %s", body, rec.Body.String())
		}
	})
}

// Another site's page cannot reach the playground: a cross-origin POST
// is refused, and a server on loopback answers loopback host names only
// (DNS rebinding).
func TestForeignPagesRefused(t *testing.T) {
	srv, err := New(Config{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, c := range []struct {
		host, origin, site string
		status             int
	}{
		{"127.0.0.1:8080", "", "", 200},
		{"localhost:8080", "http://localhost:8080", "same-origin", 200},
		{"[::1]:8080", "", "", 200},
		{"evil.example:8080", "", "", 403},
		{"127.0.0.1:8080", "http://evil.example", "cross-site", 403},
	} {
		req := httptest.NewRequest("POST", "/api/sessions", nil)
		req.Host = c.host
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
			req.Header.Set("Sec-Fetch-Site", c.site)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != c.status {
			t.Errorf("host %s origin %q: %d %s, want %d", c.host, c.origin, rec.Code, rec.Body.String(), c.status)
		}
	}
}

// The timeline keeps a bounded number of events: past it, it says so and
// the run goes on.
func TestTimelineBounded(t *testing.T) {
	old := maxTimeline
	maxTimeline = 50
	defer func() { maxTimeline = old }()
	_, hs := server(t, Config{})
	id := newSessionID(t, hs)
	if st, out := call(t, hs, "POST", "/api/s/"+id+"/run", map[string]string{"name": teach01, "text": file(t, teach01)}); st != 200 {
		t.Fatalf("run: %d %v", st, out)
	}
	evs := stream(t, hs, id)
	var out, notes strings.Builder
	for _, e := range evs {
		switch e.kind {
		case "out":
			out.WriteString(e.data)
		case "notice":
			notes.WriteString(e.data + "\n")
		}
	}
	if !strings.HasPrefix(notes.String(), "The timeline stops after ") || !strings.Contains(out.String(), "... ok") {
		t.Errorf("notices: %s\noutput: %s", notes.String(), out.String())
	}
	if end := evs[len(evs)-1].data; end != `{"mode":"run","verdict":"passed"}` {
		t.Errorf("end: %s", end)
	}

	// A debugged machine too.
	if st, out := call(t, hs, "POST", "/api/s/"+id+"/debug", map[string]string{"name": teach01, "text": file(t, teach01)}); st != 200 {
		t.Fatalf("debug: %d %v", st, out)
	}
	if st, out := call(t, hs, "POST", "/api/s/"+id+"/cmd", map[string]string{"line": "continue"}); st != 200 || out["ended"] != true {
		t.Fatalf("continue: %d %v", st, out)
	}
	notes.Reset()
	for _, e := range stream(t, hs, id) {
		if e.kind == "notice" {
			notes.WriteString(e.data + "\n")
		}
	}
	if !strings.HasPrefix(notes.String(), "The timeline stops after ") {
		t.Errorf("debug: notices %q", notes.String())
	}
}

// A debugger command that runs the machine sends its kernel log while it
// runs, not only at the stop. ProgressEvery < 0 polls at every quantum,
// so the pieces do not depend on wall time.
func TestDebugStreamsLog(t *testing.T) {
	_, hs := server(t, Config{ProgressEvery: -1})
	id := newSessionID(t, hs)
	if st, out := call(t, hs, "POST", "/api/s/"+id+"/debug", map[string]string{"name": teach01, "text": file(t, teach01)}); st != 200 {
		t.Fatalf("debug: %d %v", st, out)
	}
	if st, out := call(t, hs, "POST", "/api/s/"+id+"/cmd", map[string]string{"line": "continue"}); st != 200 || out["ended"] != true {
		t.Fatalf("continue: %d %v", st, out)
	}
	evs := stream(t, hs, id)
	var log strings.Builder
	pieces := 0
	for _, e := range evs {
		switch e.kind {
		case "logreset":
			log.Reset()
			log.WriteString(e.data)
		case "log":
			pieces++
			log.WriteString(e.data)
		}
	}
	if pieces < 3 {
		t.Errorf("the continue's log came in %d pieces, want it streamed", pieces)
	}
	if want := straightDmesg(t, teach01); log.String() != want {
		t.Errorf("the debugged machine's log as the page has it:\n%s\nwant:\n%s", log.String(), want)
	}
}

// The page's log and timeline follow the debugger backwards: after a
// step back inside a long command (a checkpoint restored in place, which
// puts back the machine's log but not the host's recorder) or across
// commands (a replay), the log is the machine's as it is at the stop and
// the timeline ends there.
func TestDebugFollowsReverse(t *testing.T) {
	for _, c := range []struct {
		name, text string
		far, back  uint64
	}{
		{"in place", endless2, 40_000_000, 20_000_000},
		{"replay", file(t, teach01), 12000, 6000},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, hs := server(t, Config{ProgressEvery: -1})
			id := newSessionID(t, hs)
			cmd := func(line string) map[string]any {
				t.Helper()
				st, out := call(t, hs, "POST", "/api/s/"+id+"/cmd", map[string]string{"line": line})
				if st != 200 || out["error"] != nil {
					t.Fatalf("%s: %d %v", line, st, out)
				}
				return out
			}
			if st, out := call(t, hs, "POST", "/api/s/"+id+"/debug", map[string]string{"name": teach01, "text": c.text}); st != 200 {
				t.Fatalf("debug: %d %v", st, out)
			}
			cmd(fmt.Sprintf("goto %d", c.far))
			back := cmd(fmt.Sprintf("goto %d", c.back))
			if uint64(back["insns"].(float64)) != c.back {
				t.Fatalf("goto %d: at %v", c.back, back["insns"])
			}
			now := uint64(back["now_ns"].(float64))
			dm := cmd("dmesg")["text"].(string)
			resp, err := hs.Client().Get(hs.URL + "/api/s/" + id + "/timeline")
			if err != nil {
				t.Fatal(err)
			}
			pic, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			cmd("kill")
			var log strings.Builder
			for _, e := range stream(t, hs, id) {
				switch e.kind {
				case "logreset":
					log.Reset()
					log.WriteString(e.data)
				case "log":
					log.WriteString(e.data)
				}
			}
			// The kill adds its own line.
			rest, ok := strings.CutPrefix(log.String(), dm)
			if !ok || !regexp.MustCompile(`^\[[ 0-9.]+\] ERROR: run: killed by the debugger\n$`).MatchString(rest) {
				t.Errorf("after going back, the page's log (%d bytes):\n%s\nthe machine's (%d bytes):\n%s", log.Len(), log.String(), len(dm), dm)
			}
			for _, m := range regexp.MustCompile(`data-end="(\d+)"`).FindAllStringSubmatch(string(pic), -1) {
				if end, _ := strconv.ParseUint(m[1], 10, 64); end > now {
					t.Errorf("a picture ends at %d ns, after the stop (%d ns)", end, now)
				}
			}
		})
	}
}

// endless2: two tasks share one CPU, each yielding it every few million
// instructions (context switches: events on the timeline).
const endless2 = "machine cpus=1\nstart_test forever\nspawn spin.S as=spin\nspawn spin.S as=spin2\nrun 100000s\n-- spin.S --\n\t.intel_syntax noprefix\n\t.text\n\t.globl _start\n_start:\n\tmov ecx, 3000000\nd:\n\tdec ecx\n\tjnz d\n\tmov eax, 24\n\tsyscall\n\tjmp _start\n"
