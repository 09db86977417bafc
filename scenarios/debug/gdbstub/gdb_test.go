package gdbstub

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"klpsim/scenarios"
	"klpsim/scenarios/debug"
)

// gdbRun is one batch gdb session against a Server.
type gdbRun struct {
	gdb string // gdb's output
	out string // the scenario's output (Server.Out)
	log string // the stub's messages
	dir string // the symbol files
	s   *Server
}

// runGDB serves file's machine and runs gdb in batch mode on the script
// script(dir, addr) returns: dir holds the symbol files, addr is the
// stub's. It returns when gdb has exited and the Server is done.
func runGDB(t *testing.T, file string, script func(dir, addr string) string) gdbRun {
	t.Helper()
	return runGDBDesign(t, "", file, script)
}

// runGDBDesign is runGDB with the machine on ftrace design ftrace.
func runGDBDesign(t *testing.T, ftrace, file string, script func(dir, addr string) string) gdbRun {
	t.Helper()
	gdb, err := exec.LookPath("gdb")
	if err != nil {
		t.Skip("gdb is not installed (Debian: apt-get install gdb): the tests against the real gdb are skipped")
	}
	s, _ := newServerDesign(t, file, ftrace)
	var out, log bytes.Buffer
	s.Out, s.Log, s.SymbolDir = &out, &log, t.TempDir()
	s.bps, s.modsShown = nil, nil
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	cmds := filepath.Join(t.TempDir(), "cmds.gdb")
	if err := os.WriteFile(cmds, []byte("set pagination off\nset confirm off\n"+script(s.SymbolDir, l.Addr().String())), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	g, err := exec.CommandContext(ctx, gdb, "-nx", "-batch", "-x", cmds).CombinedOutput()
	if err != nil {
		t.Logf("gdb: %v", err)
	}
	l.Close()
	if err := <-served; err != nil && !s.done {
		t.Logf("Serve: %v", err)
	}
	return gdbRun{gdb: string(g), out: out.String(), log: log.String(), dir: s.SymbolDir, s: s}
}

// straightRun is the scenario's output without a debugger.
func straightRun(t *testing.T, file string) string {
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := scenarios.Parse(file, src, scenarios.Builtin)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if _, err := scenarios.Run(sc, scenarios.Options{Catalog: scenarios.Builtin, Stdout: &out, Stderr: &out}); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func must(t *testing.T, text, re, what string) []string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(text)
	if m == nil {
		t.Errorf("%s: no match for %q in gdb's output", what, re)
	}
	return m
}

// TestGDBTeach01 is the walk through scenarios/teach/01 with
// the real gdb: symbols from the stub's files, a breakpoint on the
// patched teach_show, x/i showing the fentry call to the trampoline,
// stepi through the trampoline (the klp_ops' own, with its symbol file)
// and the guest klp_ftrace_handler, whose backtrace shows the trampoline
// frame, into the new function, reverse-stepi,
// the tasks as threads, the sleeping kworker's backtrace from its saved
// context, a write watchpoint, reverse-continue to the start (gdb's
// breakpoints and watchpoints are the only stops on the way back), and a
// detach that lets the scenario end as it would have: the transcript
// shows each line once, though the machine ran part of it twice.
func TestGDBTeach01(t *testing.T) {
	r := runGDB(t, teach01, func(dir, addr string) string {
		return `file ` + dir + `/vmlinux
target remote ` + addr + `
break msleep
continue
delete
source ` + dir + `/lx-symbols.gdb
break teach_show
continue
continue
delete
source ` + dir + `/lx-symbols.gdb
echo ==list-module\n
list teach_sleep_fn
echo ==x/i\n
x/2i $pc
echo ==stepi-in\n
stepi
info symbol $pc
echo ==stepi\n
display/i $pc
set $n = 0
while $pc != (long)&livepatch_teach_show && $n < 200
  stepi
  if $pc == (long)&klp_ftrace_handler + 1
    echo ==bt-handler\n
    bt
  end
  set $n = $n + 1
end
undisplay
printf "==steps %d\n", $n
x/i $pc
echo ==reverse-stepi\n
reverse-stepi
x/i $pc
echo ==threads\n
info threads
thread 3
bt
monitor why
echo ==lx-symbols\n
monitor lx-symbols
echo ==watch\n
watch *(char *)0xffffffffa0002000
continue
delete
echo ==rwatch\n
rwatch *(char *)0xffffffffa0002000
continue
x/i $pc
delete
echo ==reverse-continue\n
reverse-continue
info threads
detach
`
	})
	g := r.gdb
	t.Log(g)
	must(t, g, `==list-module\n(?:\d+\t.*\n)*?\d+\tteach_sleep_fn:\n\d+\t\t\.fentry\n`, "list in a module's source")
	// teach_show's site calls the klp_ops' own trampoline (ftrace=args,
	// the default), a copy of ftrace_caller: gdb has its symbol file,
	// named as kallsyms names it, its lines ftrace_caller's.
	must(t, g, `==x/i\n=> 0x[0-9a-f]+ <teach_show>:\s+call\s+0x[0-9a-f]+ <ftrace_trampoline>`, "x/i at the patched teach_show")
	must(t, g, fmt.Sprintf("==stepi-in\nftrace_trampoline \\(\\) at kernel/vmlinux/ftrace.S:%d\n%[1]d\t\tsub rsp, PT_REGS_SIZE\n", lineOf(t, "ftrace.S", "ftrace_caller:", "sub rsp, PT_REGS_SIZE")), "stepi into the trampoline: its symbol and source line")
	must(t, g, `==stepi-in\n(?:.*\n)*?ftrace_trampoline in section \.text of \S+/ftrace_trampoline-[0-9a-f]+\.elf\n`, "info symbol in the trampoline")
	walk := g[strings.Index(g, "==stepi\n"):]
	must(t, walk, `<ftrace_trampoline\+\d+>:\s+call\s+0x[0-9a-f]+ <klp_ftrace_handler>`, "the trampoline calls the handler")
	must(t, walk, `klp_ftrace_handler \(\) at kernel/livepatch/patch.S:\d+\n`, "stepi into the guest handler, with its source")
	must(t, walk, fmt.Sprintf(`==bt-handler\n#0  klp_ftrace_handler \(\) at kernel/livepatch/patch.S:\d+\n#1  0x[0-9a-f]+ in ftrace_trampoline \(\) at kernel/vmlinux/ftrace.S:%d\n#2  0x[0-9a-f]+ in teach_show \(\) at test_klp_teach_target.S:\d+\n#3  0x[0-9a-f]+ in seq_read \(\)`,
		lineOf(t, "ftrace.S", "ftrace_caller:", "call ftrace_ops_list_func")), "bt from the handler through the trampoline to the patched function's caller")
	must(t, walk, `<ftrace_trampoline\+\d+>:\s+ret`, "the trampoline's return")
	must(t, walk, `==steps \d+\n=> 0x[0-9a-f]+ <livepatch_teach_show>:`, "stepi lands in the new function")
	must(t, g, `==reverse-stepi\n(?:.*\n)*?=> 0x[0-9a-f]+ <ftrace_trampoline\+\d+>:\s+ret`, "reverse-stepi back onto the trampoline's ret")
	must(t, r.log, `add-symbol-file \S+/ftrace_trampoline-[0-9a-f]+\.elf 0x[0-9a-f]+\n`, "the stub announces the trampoline's symbol file")
	for _, th := range []string{`Thread 2 \(kthreadd pid 2, `, `Thread 4 \(kworker/1:0 pid 4, D \(disk sleep\), patch_state 0 unpatched`, `\(swapper/0 pid 0, `, `\(cat pid \d+, R \(running\)`} {
		must(t, g, th, "info threads")
	}
	must(t, g, `#3  0x[0-9a-f]+ in msleep \(\) at kernel/vmlinux/sched.S:\d+\n#4  0x[0-9a-f]+ in teach_sleep_fn \(\) at test_klp_teach_target.S:\d+\n#5  0x[0-9a-f]+ in sleep_work_fn \(\)`, "bt of the kworker")
	must(t, g, `#10 0x[0-9a-f]+ in ret_from_fork_asm \(\) at kernel/vmlinux/entry.S:\d+\n`, "bt ends at ret_from_fork_asm")
	if strings.Contains(g, "in ?? ()") {
		t.Error("a backtrace runs past ret_from_fork_asm into ?? (its return address is undefined)")
	}
	must(t, g, `kworker/1:0 \(pid 4\), D \(disk sleep\): sleeping on function teach_sleep_fn`, "monitor why")
	must(t, g, `==lx-symbols\nadd-symbol-file \S+/test_klp_teach_patch.ko 0xffffffffa0005000 -s \.rodata 0x[0-9a-f]+ -s \.data 0x[0-9a-f]+\nadd-symbol-file \S+/test_klp_teach_target.ko 0xffffffffa0000000 `, "monitor lx-symbols")
	must(t, g, `==watch\nHardware watchpoint 3: \*\(char \*\)0xffffffffa0002000\n(?:.*\n)*?\nOld value = 1 '\\001'\nNew value = 0 '\\000'\n`, "the write watchpoint on block")
	must(t, g, `==rwatch\nHardware read watchpoint 4: \*\(char \*\)0xffffffffa0002000\n(?:.*\n)*?\nValue = 0 '\\000'\n(?:.*\n)*?=> 0x[0-9a-f]+ <teach_sleep_fn\+\d+>:\s+je`, "the read watchpoint on block: the loop's cmp read it, the stop is after it")
	must(t, g, `==reverse-continue\n\nNo more reverse-execution history.\n`, "reverse-continue back to the start")
	must(t, r.log, `add-symbol-file \S+/test_klp_teach_target.ko 0xffffffffa0000000 -s \.rodata 0x[0-9a-f]+ -s \.data 0x[0-9a-f]+`, "lx-symbols line")
	if !r.s.SS.Ended() {
		t.Fatalf("after detach the scenario did not run to its end")
	}
	if want := straightRun(t, teach01); r.out != want {
		t.Errorf("the transcript under gdb differs from a straight run's:\n--- gdb\n%s\n--- straight\n%s", r.out, want)
	}
}

// TestGDBSharedTrampoline: under ftrace=list every site calls the shared
// ftrace_regs_caller, which walks the ops in ftrace_ops_list_func and
// reaches the host klp_ftrace_handler through a vmcall — the path Linux
// takes when several ftrace users share a site, which the default design
// takes only then. gdb steps it by vmlinux's symbols alone: no
// trampoline files.
func TestGDBSharedTrampoline(t *testing.T) {
	r := runGDBDesign(t, "list", teach01, func(dir, addr string) string {
		return `file ` + dir + `/vmlinux
target remote ` + addr + `
break msleep
continue
delete
source ` + dir + `/lx-symbols.gdb
break teach_show
continue
continue
delete
source ` + dir + `/lx-symbols.gdb
echo ==x/i\n
x/i $pc
echo ==stepi\n
display/i $pc
set $n = 0
while $pc != (long)&livepatch_teach_show && $n < 200
  stepi
  set $n = $n + 1
end
undisplay
printf "==steps %d\n", $n
x/i $pc
detach
`
	})
	g := r.gdb
	t.Log(g)
	must(t, g, `==x/i\n=> 0x[0-9a-f]+ <teach_show>:\s+call\s+0x[0-9a-f]+ <ftrace_regs_caller>`, "x/i at the patched teach_show")
	walk := g[strings.Index(g, "==stepi\n"):]
	must(t, walk, `ftrace_regs_caller \(\) at kernel/vmlinux/ftrace.S:\d+\n\d+\t\tpushfq\n`, "stepi into the shared trampoline")
	must(t, walk, `<ftrace_ops_list_func\+\d+>:\s+vmcall`, "the list function's vmcall to the host handler")
	must(t, walk, `<ftrace_regs_caller\+\d+>:\s+ret`, "the trampoline's return")
	must(t, walk, `==steps \d+\n=> 0x[0-9a-f]+ <livepatch_teach_show>:`, "stepi lands in the new function")
	if strings.Contains(r.log, "ftrace_trampoline") {
		t.Errorf("ftrace=list announced trampoline symbol files:\n%s", r.log)
	}
}

// TestGDBInterrupt: Ctrl-C (0x03) while the machine runs stops it with
// SIGINT; a second continue after D runs it to its end.
func TestGDBInterrupt(t *testing.T) {
	s, _ := newServer(t, "../../../cmd/klpsim/testdata/scn/runaway.scn")
	s.bps, s.modsShown = nil, nil
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	send := func(p string) {
		if _, err := client.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	c := newConn(client)
	read := func() string {
		f, err := c.readFrame()
		if err != nil {
			t.Fatal(err)
		}
		return string(f.payload)
	}
	// Ack mode: the stub acks our packet; our reader consumes its acks.
	writeTo := func(p string) { c.writePacket([]byte(p)) }
	writeTo("vCont;c")
	// The machine runs into the endless loop; interrupt it.
	time.Sleep(50 * time.Millisecond) // not an assertion: the stop is the same whenever it comes
	send("\x03")
	got := read()
	if !strings.HasPrefix(got, "T02thread:") {
		t.Fatalf("stop after Ctrl-C: %q, want T02", got)
	}
	if p := s.SS.Position(); p.Kind != debug.AtMachine || !strings.Contains(p.Why, "interrupted") {
		t.Fatalf("position after Ctrl-C: %+v", p)
	}
	writeTo("D")
	if got := read(); got != "OK" {
		t.Fatalf("D: %q", got)
	}
	client.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !s.SS.Ended() {
		t.Fatal("after D the scenario did not end")
	}
}

// lineOf is the first line of kernel/vmlinux/FILE at or after the line
// holding after that holds want.
func lineOf(t *testing.T, file, after, want string) int {
	t.Helper()
	b, err := os.ReadFile("../../../kernel/vmlinux/" + file)
	if err != nil {
		t.Fatal(err)
	}
	seen := false
	for i, l := range strings.Split(string(b), "\n") {
		seen = seen || strings.HasPrefix(l, after)
		if seen && strings.TrimSpace(l) == want {
			return i + 1
		}
	}
	t.Fatalf("no %q after %q in %s", want, after, file)
	return 0
}

// TestGDBSourceLines: the symbol file's line table lets gdb break on a
// line of a .S file, say where it stopped, list the source and step by
// line.
func TestGDBSourceLines(t *testing.T) {
	n := lineOf(t, "sched.S", "schedule:", "vmcall")
	r := runGDB(t, teach01, func(dir, addr string) string {
		return fmt.Sprintf(`file %s/vmlinux
target remote %s
break sched.S:%d
continue
echo ==where\n
info line *$pc
x/i $pc
echo ==list\n
list sched.S:%d,%d
echo ==step\n
delete
step
info line *$pc
detach
`, dir, addr, n, n-1, n)
	})
	g := r.gdb
	t.Log(g)
	must(t, g, fmt.Sprintf(`Breakpoint 1 at 0x[0-9a-f]+: file kernel/vmlinux/sched.S, line %d\.`, n), "break FILE:LINE")
	must(t, g, fmt.Sprintf(`Breakpoint 1, schedule \(\) at kernel/vmlinux/sched.S:%d\n%d\t\tvmcall`, n, n), "the stop at the line")
	must(t, g, fmt.Sprintf(`==where\nLine %d of "kernel/vmlinux/sched.S" starts at address 0x[0-9a-f]+ <schedule\+\d+> and ends at 0x[0-9a-f]+ <schedule\+\d+>\.\n=> 0x[0-9a-f]+ <schedule\+\d+>:\s+vmcall`, n), "info line")
	must(t, g, fmt.Sprintf(`==list\n%d\t\tmov eax, HC_SCHEDULE\n%d\t\tvmcall`, n-1, n), "list")
	must(t, g, fmt.Sprintf(`==step\n(?:.*\n)*?Line %d of "kernel/vmlinux/sched.S"`, n+1), "step to the next line")
}
