package serve

import (
	"flag"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var shots = flag.String("screenshots", "", "also write the browser test's screenshots to `DIR` (docs/playground uses them)")

// TestBrowser uses the playground as a person would, in headless
// Chromium: type into the editor and see the parser's error inline; open
// teach/01 from the gallery and run it (the kernel log, the verdict, the
// blocked kworker on the timeline); debug it to the transition's first
// blocked event, click the kworker's lane and see its backtrace through
// teach_sleep_fn, click that frame for the disassembly with the fentry
// site marked, and step once. Screenshots stay as test artifacts (go test
// -artifacts keeps them; -screenshots DIR copies them). Then open lab 00
// and Check it.
func TestBrowser(t *testing.T) {
	bin := chromium(t)
	srv, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer func() {
		srv.Close() // ends the page's event stream first
		hs.Close()
	}()
	dir := t.ArtifactDir()
	shot := func(name string, b *browser) {
		b.screenshot(filepath.Join(dir, name))
		if *shots != "" {
			b.screenshot(filepath.Join(*shots, name))
		}
	}

	b := startBrowser(t, bin)
	b.navigate(hs.URL + "/")
	b.waitFor("the page to start", `document.body.dataset.ready === "1"`)

	// Type a scenario with an unknown command: the error shows inline,
	// on its line, with the parser's file:line:col message.
	b.click("the editor", `document.getElementById("src")`)
	b.eval(`document.getElementById("src").select()`, nil)
	b.typeText("machine cpus=2\nstart_test \"typed\"\nlog \"hello\"\nfrobnicate 3\n")
	b.waitFor("the inline parse error", `document.querySelector(".hl .l.err .emsg")`)
	if got := b.str(`document.querySelector(".hl .l.err").dataset.line`); got != "4" {
		t.Errorf("the error is on line %s, want 4", got)
	}
	if msg := b.str(`document.querySelector(".hl .l.err .emsg").textContent`); !strings.Contains(msg, `4:1: unknown command "frobnicate"`) {
		t.Errorf("the inline message: %q", msg)
	}
	if li := b.str(`document.getElementById("errors").textContent`); !strings.Contains(li, `untitled.scn:4:1: unknown command "frobnicate"`) {
		t.Errorf("the error list: %q", li)
	}
	if g := b.str(`document.querySelector(".gutter .err").textContent`); g != "4" {
		t.Errorf("the gutter marks line %q, want 4", g)
	}
	shot("editor-error.png", b)
	// Fixing it clears the error.
	b.eval(`(() => { const s = document.getElementById("src"); s.focus(); const i = s.value.indexOf("frobnicate 3"); s.setSelectionRange(i, i + "frobnicate 3".length); })()`, nil)
	b.typeText(`log "fixed"`)
	b.waitFor("the error to go", `!document.querySelector(".hl .l.err") && document.getElementById("parsestate").textContent === "parses"`)

	// The gallery: teach/01, run.
	b.eval(`(() => { const s = document.getElementById("gallery"); s.value = "teach/01-sleeping-task.scn"; s.dispatchEvent(new Event("change")); })()`, nil)
	b.waitFor("teach/01 to load", `document.getElementById("name").value === "teach/01-sleeping-task.scn" && document.getElementById("parsestate").textContent === "parses"`)
	if n := b.str(`String(document.querySelectorAll(".hl .t-cmd").length)`); n == "0" {
		t.Errorf("no command highlighted in teach/01")
	}
	b.click("Run", `document.getElementById("run")`)
	b.waitFor("the run to end", `document.body.dataset.ended`)
	if v := b.str(`document.body.dataset.ended`); v != "passed" {
		t.Fatalf("the run ended %q; output: %s", v, b.str(`document.getElementById("out").textContent`))
	}
	if v := b.str(`document.getElementById("verdicts").textContent`); v != "TEST: a sleeping task holds the transition until it leaves the function ... ok" {
		t.Errorf("verdicts: %q", v)
	}
	if log := b.str(`document.getElementById("log").textContent`); !strings.Contains(log, "livepatch: klp_try_switch_task: kworker/1:0:4 is sleeping on function teach_sleep_fn") {
		t.Errorf("the kernel log pane lacks the kworker's verdict:\n%s", log)
	}
	shot("run-output.png", b)
	b.click("the Timeline tab", `document.querySelector('[data-tab="timeline"]')`)
	kworker := `[...document.querySelectorAll("#timeline g.lane")].find(g => g.querySelector("text.name").firstChild.textContent === "kworker/1:0 4")`
	b.waitFor("the kworker's lane", kworker)
	if n := b.str(`String(` + kworker + `.querySelectorAll(".k-blocked").length)`); n != "4" {
		t.Errorf("%s blocked markers on the kworker's lane, want 4", n)
	}
	// The timeline's own script made the finished run's pictures
	// zoomable; zoom in once.
	b.waitFor("the timeline's script", `document.querySelector("#timeline .view").textContent.startsWith("view 0.000000s to ")`)
	shot("run-timeline.png", b)
	b.click("zoom in", `document.querySelector('#timeline [data-act="in"]')`)
	b.waitFor("the zoomed view", `!document.querySelector("#timeline .view").textContent.startsWith("view 0.000000s to ")`)
	b.click("whole test", `document.querySelector('#timeline [data-act="reset"]')`)
	// After a run, a lane's click shows where the transition found it.
	b.click("the kworker's lane", kworker+`.querySelector("text.name")`)
	b.waitFor("the recorded stack", `document.getElementById("task").textContent.includes("teach_sleep_fn+0x3f/0x5b")`)

	// Debug: to the first blocked event, then the kworker's live stack.
	b.click("Debug", `document.getElementById("debug")`)
	b.waitFor("the debugger's first stop", `document.getElementById("where").textContent.startsWith("line ")`)
	idle := func() { b.waitFor("the debugger to be idle", `document.body.dataset.busy !== "1"`) }
	idle()
	b.click("break blocked", `document.querySelector('[data-cmd="break transition blocked"]')`)
	b.waitFor("the breakpoint", `document.getElementById("console").textContent.includes("Breakpoint 1")`)
	idle()
	b.click("continue", `document.querySelector('[data-cmd="continue"]')`)
	b.waitFor("the blocked event's stop", `document.getElementById("console").textContent.includes("transition blocked of test_klp_teach_patch: kworker/1:0 (pid 4)")`)
	// The editor marks the command the machine is stopped in.
	b.waitFor("the current line in the editor", `document.querySelector(".hl .l.cur")`)
	if cur, where := b.str(`document.querySelector(".hl .l.cur").dataset.line`), b.str(`document.getElementById("where").textContent`); !strings.HasPrefix(where, "line "+cur+" ") {
		t.Errorf("the editor marks line %s; the debugger is at %q", cur, where)
	}
	b.click("the Timeline tab", `document.querySelector('[data-tab="timeline"]')`)
	b.waitFor("the kworker's lane while debugging", kworker)
	idle()
	b.click("the kworker's lane", kworker+`.querySelector("text.name")`)
	b.waitFor("the kworker's backtrace", `document.getElementById("task").textContent.includes("Stack of kworker/1:0 (pid 4)")`)
	bt := b.str(`document.getElementById("task").textContent`)
	if !strings.Contains(bt, "teach_sleep_fn+0x3f/0x5b [test_klp_teach_target]") || !strings.Contains(bt, "msleep+0x20/0x2d") {
		t.Errorf("the kworker's backtrace: %q", bt)
	}
	shot("debug-backtrace.png", b)

	// Its frame in teach_sleep_fn: the disassembly, fentry site marked.
	idle()
	b.click("teach_sleep_fn's frame", `[...document.querySelectorAll("#task .frame")].find(d => d.textContent.includes("teach_sleep_fn+"))`)
	b.waitFor("the disassembly", `document.querySelector("#disas .fentry")`)
	if f := b.str(`document.querySelector("#disas .fentry").textContent`); !strings.Contains(f, "<+0>:") {
		t.Errorf("the fentry line marked: %q, want the function's first instruction", f)
	}
	if d := b.str(`document.getElementById("disas").textContent`); !strings.Contains(d, "Dump of assembler code for function teach_sleep_fn") || !strings.Contains(d, "fentry site") {
		t.Errorf("the disassembly: %q", d)
	}

	// The console takes any command: why, typed.
	idle()
	b.click("the console", `document.getElementById("cmd")`)
	b.typeText("why")
	b.pressEnter()
	b.waitFor("why's answer", `document.getElementById("console").textContent.includes("(klpsim) why\n")`)
	if c := b.str(`document.getElementById("console").textContent`); !strings.Contains(c[strings.LastIndex(c, "(klpsim) why"):], "teach_sleep_fn") {
		t.Errorf("why: %q", c[strings.LastIndex(c, "(klpsim) why"):])
	}

	// Step once.
	idle()
	before := b.str(`document.getElementById("where").textContent`)
	b.click("stepi", `document.querySelector('[data-cmd="stepi"]')`)
	b.waitFor("the step", `document.getElementById("console").textContent.includes("(klpsim) stepi")`)
	b.waitFor("the new position", `document.getElementById("where").textContent !== `+strconv.Quote(before))
	after := b.str(`document.getElementById("where").textContent`)
	if insns(before)+1 != insns(after) {
		t.Errorf("stepi: %q -> %q, want one instruction more", before, after)
	}
	shot("debug-stepi.png", b)

	// A lab from the gallery: its starting file in the editor, its
	// handout in the Lab tab; Check answers its questions.
	b.eval(`(() => { const s = document.getElementById("gallery"); s.value = "lab:00-example"; s.dispatchEvent(new Event("change")); })()`, nil)
	b.waitFor("lab 00 to load", `document.getElementById("name").value === "labs/00-example.scn" && document.getElementById("parsestate").textContent === "parses"`)
	if h := b.str(`document.querySelector("#handout h3").textContent`); h != "Lab 00 (example): make the transition complete" {
		t.Errorf("the handout's heading: %q", h)
	}
	b.click("Check", `document.getElementById("check")`)
	b.waitFor("the lab's verdicts", `document.body.dataset.checked`)
	if v := b.str(`document.body.dataset.checked`); v == "3/3" || !strings.HasSuffix(v, "/3") {
		t.Errorf("the unmodified lab checked %s, want some of 3 questions failing", v)
	}
	if q := b.str(`document.querySelectorAll("#labcheck .questions li")[1].textContent`); !strings.HasPrefix(q, "FAIL 2. The transition completes") || !strings.Contains(q, "hint: The kworker must leave lab_sleep_fn") || !strings.Contains(q, "failed: expect event complete patch=lab_patch target=patched: no matching event") {
		t.Errorf("question 2 after Check: %q", q)
	}
	shot("lab-check.png", b)
	if *shots != "" {
		if _, err := os.Stat(filepath.Join(*shots, "debug-stepi.png")); err != nil {
			t.Error(err)
		}
	}
}

// insns reads the instruction count of the where line.
func insns(where string) int {
	f := strings.Fields(where)
	for i, w := range f {
		if w == "instructions" && i > 0 {
			n, _ := strconv.Atoi(f[i-1])
			return n
		}
	}
	return -1
}
