package gdbstub

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"klpsim/kernel"
	"klpsim/scenarios"
	"klpsim/scenarios/debug"
)

const teach01 = "../../teach/01-sleeping-task.scn"

// newServer boots file's machine in a Session, stopped before its first
// command, with a Server whose connection writes to out.
func newServer(t testing.TB, file string) (*Server, *rw) {
	t.Helper()
	return newServerDesign(t, file, "")
}

// newServerDesign is newServer with the machine on ftrace design
// ftrace ("": the machine's own).
func newServerDesign(t testing.TB, file, ftrace string) (*Server, *rw) {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := scenarios.Parse(file, src, scenarios.Builtin)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := debug.New(sc, src, scenarios.Options{Catalog: scenarios.Builtin, Ftrace: ftrace})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ss.Kill)
	c := &rw{in: strings.NewReader("")}
	s := &Server{SS: ss, bps: map[bpKey]int{}, modsShown: map[string]bool{}}
	s.c = newConn(c)
	s.c.noAck.Store(true)
	s.frames = make(chan frame)
	return s, c
}

func ask(t *testing.T, s *Server, p string) string {
	t.Helper()
	r, _, _ := s.handle([]byte(p))
	return string(r)
}

func TestServerPackets(t *testing.T) {
	s, _ := newServer(t, teach01)
	k := s.SS.Target().K
	sym := func(name string) uint64 { return k.Syms.ByName(name)[0].Addr }
	for _, tc := range []struct{ in, want string }{
		{"qSupported:multiprocess+;swbreak+;xmlRegisters=i386", "PacketSize=4000;qXfer:features:read+;QStartNoAckMode+;swbreak+;hwbreak+;ReverseContinue+;ReverseStep+;vContSupported+"},
		{"?", "T05thread:40000000;"},
		{"qfThreadInfo", "m2,3,4,40000000,40000001"},
		{"qsThreadInfo", "l"},
		{"T4", "OK"},
		{"T63", "E01"},
		{"Hg4", "OK"},
		{"Hg63", "E01"},
		{"Hx0", "E01"},
		{"vCont?", "vCont;c;C;s;S"},
		{"qXfer:features:read:other.xml:0,10", "E00"},
		{"qXfer:features:read:target.xml:0,5", "m<?xml"},
		{fmt.Sprintf("qXfer:features:read:target.xml:%x,10", len(targetXML)), "l"},
		{"vFile:open:2f6574632f706173737764,0,0", ""},
		{"vRun;", ""},
		{"Z3,1000,8", "E01"}, // a read watchpoint on unmapped memory
		{"Z5,1000,8", ""},    // no such kind
		{"m0,8", "E14"},
		{"mzz", "E01"},
		{"M0,1:zz", "E01"},
		{"X0,2:a", "E01"},
		{"p999", "E01"},
		{"P10=00", "E01"},
		{"G00", "E01"},
		{"Z0,zz,1", "E01"},
		{"vCont;q", ""},
		{"qRcmd,7368656c6c", "OK"}, // "shell": answered as unknown, on the console
	} {
		if got := ask(t, s, tc.in); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.in, got, tc.want)
		}
	}
	// The kworker is thread 4; its registers are its saved context.
	if got := ask(t, s, "qThreadExtraInfo,4"); !strings.HasPrefix(mustHex(t, got), "kworker/1:0 pid 4, ") {
		t.Errorf("extra info of 4: %q", mustHex(t, got))
	}
	ask(t, s, "Hg4")
	r, _ := k.TaskRegs(k.TaskByPID(4))
	if got, want := ask(t, s, "p10"), le64(r.RIP); got != want {
		t.Errorf("rip of pid 4: %s, want %s", got, want)
	}
	if g := ask(t, s, "g"); len(g) != 2*(16*8+8+4+6*4+8*10+8*4+16*16+4+8+8) || g[16*16:16*17] != le64(r.RIP) {
		t.Errorf("g: %d hex digits, rip %q", len(g), g[16*16:16*17])
	}
	// A sleeping thread's registers are writable: its saved context.
	if got := ask(t, s, "P0="+le64(0x1234)); got != "OK" {
		t.Errorf("P0 on the sleeping pid 4: %q", got)
	}
	if got, r2 := ask(t, s, "p0"), le64(0x1234); got != r2 {
		t.Errorf("rax of pid 4 after P0: %s, want %s", got, r2)
	}
	if sr, _ := k.TaskRegs(k.TaskByPID(4)); sr.R[0] != 0x1234 {
		t.Errorf("pid 4's saved rax is %#x, want 0x1234", sr.R[0])
	}
	ask(t, s, "P0="+le64(r.R[0])) // put it back
	if got := ask(t, s, "P10="+le64(r.RIP)); got != "OK" {
		t.Errorf("P10 (rip) with its own value: %q", got)
	}
	// Memory reads, and a write read back.
	var code [5]byte
	b := sym("msleep")
	if err := k.Memory().Read(b, code[:]); err != nil {
		t.Fatal(err)
	}
	if got := ask(t, s, fmt.Sprintf("m%x,5", b)); got != hex.EncodeToString(code[:]) {
		t.Errorf("m msleep: %s, want %x", got, code)
	}
	// A breakpoint, a continue to it: T05 for the task there, swbreak.
	if got := ask(t, s, fmt.Sprintf("Z0,%x,1", b)); got != "OK" {
		t.Fatalf("Z0: %q", got)
	}
	got := ask(t, s, "c")
	if p := s.SS.Position(); p.Kind != debug.AtMachine || p.Stop.RIP != b {
		t.Fatalf("c: stopped at %+v, want msleep", p)
	}
	if want := fmt.Sprintf("T05thread:%x;swbreak:;", tidOf(s.SS.Position().Stop.Task)); got != want {
		t.Errorf("c: %q, want %q", got, want)
	}
	if got := ask(t, s, fmt.Sprintf("z0,%x,1", b)); got != "OK" {
		t.Fatalf("z0: %q", got)
	}
	// A step of that thread, and back.
	tid := tidOf(s.SS.Position().Stop.Task)
	before := k.Insns()
	got = ask(t, s, fmt.Sprintf("vCont;s:%x;c", tid))
	if got != fmt.Sprintf("T05thread:%x;", tid) || s.SS.Position().Stop.RIP == b {
		t.Errorf("vCont;s: %q at %#x", got, s.SS.Position().Stop.RIP)
	}
	if got := ask(t, s, "bs"); got != fmt.Sprintf("T05thread:%x;", tid) || s.SS.Position().Stop.RIP != b || k2(s).Insns() != before {
		t.Errorf("bs: %q at %#x, insns %d want %d", got, s.SS.Position().Stop.RIP, k2(s).Insns(), before)
	}
	// A stop makes its thread gdb's general thread: g after it, with no
	// Hg, reads the stopped thread's registers.
	ask(t, s, "Hg2") // kthreadd, asleep: not the thread the step stops
	ask(t, s, fmt.Sprintf("vCont;s:%x;c", tid))
	if p := s.SS.Position(); p.Stop.Task == nil || p.Stop.Task.PID == 2 {
		t.Fatalf("the step stopped in %v", p.Stop.Task)
	}
	live, _ := k2(s).(interface{ CPURegs(int) kernel.Regs })
	if got, want := ask(t, s, "g")[16*16:16*17], le64(live.CPURegs(s.SS.Position().Stop.CPU).RIP); got != want {
		t.Errorf("g after the step: rip %s, want the stopped thread's %s", got, want)
	}
	// Hg selects the thread bs steps back (gdb's thread N, then
	// reverse-stepi sends Hc0): the sleeping kthreadd goes back its own
	// last instruction.
	ask(t, s, "Hg2")
	if got := ask(t, s, "bs"); got != "T05thread:2;" {
		t.Errorf("bs of kthreadd: %q", got)
	}
	// monitor why goes through the inspector.
	var out strings.Builder
	s.c.w = &out
	if got := ask(t, s, "qRcmd,"+hex.EncodeToString([]byte("why"))); got != "OK" {
		t.Fatalf("qRcmd why: %q", got)
	}
	if !strings.Contains(out.String(), "$O") {
		t.Errorf("qRcmd wrote %q, want O packets", out.String())
	}
	// Detach runs the scenario to its end.
	if got := ask(t, s, "D"); got != "OK" || !s.SS.Ended() {
		t.Fatalf("D: %q, ended %v", got, s.SS.Ended())
	}
	if got := ask(t, s, "?"); got != "W00" {
		t.Errorf("? after the end: %q (%s)", got, s.SS.Position().End)
	}
}

func k2(s *Server) interface{ Insns() uint64 } { return s.SS.Target().K }

func le64(v uint64) string {
	var b [8]byte
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	return hex.EncodeToString(b[:])
}

func mustHex(t *testing.T, s string) string {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return string(b)
}

// FuzzHandle: no packet that leaves the machine stopped panics the host
// or gets a reply longer than a packet.
func FuzzHandle(f *testing.F) {
	s, _ := newServer(f, teach01)
	for _, p := range []string{"g", "p10", "P0=0000000000000000", "m0,10", "Mffffffff81000000,1:00", "X0,1:}", "Z0,0,1", "z2,1,8",
		"qThreadExtraInfo,4", "Hg-1", "Hc0", "qXfer:features:read:target.xml:0,ffff", "qRcmd,7768", "qRcmd,zz", "T-1", "G" + strings.Repeat("0", 100)} {
		f.Add([]byte(p))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		if len(p) > 0 && strings.IndexByte("cCsSbDkv", p[0]) >= 0 {
			return // runs or ends the machine: not a parser question
		}
		if strings.HasPrefix(string(p), "qRcmd") {
			return // the inspectors have their own fuzz targets
		}
		r, _, _ := s.handle(p)
		if len(r) > MaxPacket*2+2 {
			t.Fatalf("%q: a reply of %d bytes", p, len(r))
		}
	})
}

// The per-ops ftrace trampolines' symbol files come and go with the
// trampolines: written and announced (add-symbol-file) once the
// livepatch's klp_ops have them, in lx-symbols.gdb while they exist,
// removed when the patch is gone; the shared-trampoline design has none.
func TestTrampolineSymbolFiles(t *testing.T) {
	for _, design := range []string{"", "list"} {
		t.Run("design="+design, func(t *testing.T) {
			s, _ := newServerDesign(t, teach01, design)
			var log strings.Builder
			s.Log, s.SymbolDir = &log, t.TempDir()
			if err := s.writeVmlinux(); err != nil {
				t.Fatal(err)
			}
			to := func(line int) {
				t.Helper()
				if _, err := s.SS.Exec(fmt.Sprintf("break %d", line)); err != nil {
					t.Fatal(err)
				}
				if _, err := s.SS.Exec("continue"); err != nil {
					t.Fatal(err)
				}
				s.newModules()
			}
			files := func() []string {
				m, _ := filepath.Glob(filepath.Join(s.SymbolDir, "ftrace_trampoline-*.elf"))
				return m
			}
			script := func() string {
				b, _ := os.ReadFile(filepath.Join(s.SymbolDir, lxScript))
				return string(b)
			}
			to(70) // the livepatch is loaded, in transition
			k := s.SS.Target().K
			var want []string
			tramps, err := k.FtraceTrampolineSymbolFiles()
			if err != nil {
				t.Fatal(err)
			}
			for _, tr := range tramps {
				want = append(want, fmt.Sprintf("add-symbol-file %s %#x", filepath.Join(s.SymbolDir, fmt.Sprintf("ftrace_trampoline-%x.elf", tr.Addr)), tr.Addr))
			}
			if design == "list" {
				if len(want) != 0 || len(files()) != 0 || strings.Contains(log.String(), "ftrace_trampoline") {
					t.Fatalf("ftrace=list: trampolines %q, files %q, log:\n%s", want, files(), log.String())
				}
				return
			}
			if len(want) != 2 || len(files()) != 2 {
				t.Fatalf("trampolines %q, files %q: want one per klp_ops (teach_sleep_fn, teach_show)", want, files())
			}
			for _, w := range want {
				if !strings.Contains(log.String(), w+"\n") || !strings.Contains(script(), w+"\n") {
					t.Errorf("%q: not announced or not in %s:\n%s\n%s", w, lxScript, log.String(), script())
				}
			}
			to(105) // the livepatch disabled and unloaded
			if len(files()) != 0 || strings.Contains(script(), "ftrace_trampoline") {
				t.Errorf("after the patch went: files %q, %s:\n%s", files(), lxScript, script())
			}
		})
	}
}
