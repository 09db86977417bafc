package kernel

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"klpsim/kernel/errno"
)

const tracingDir = "/sys/kernel/debug/tracing/"

// shell runs a selftest-style line: "echo V > FILE", "echo V >> FILE" or
// "cat FILE", and fails the test on an error.
func shell(t *testing.T, k *Kernel, line string) string {
	t.Helper()
	out, err := shellErr(k, line)
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return out
}

type appendCtx struct{}

func (appendCtx) Appending() bool { return true }

func shellErr(k *Kernel, line string) (string, error) {
	if f, ok := strings.CutPrefix(line, "cat "); ok {
		return k.FS.Cat(nil, f)
	}
	v, _ := strings.CutPrefix(line, "echo")
	if i := strings.Index(v, " >> "); i >= 0 {
		return "", k.FS.Echo(appendCtx{}, strings.TrimSpace(v[:i]), v[i+4:])
	}
	i := strings.Index(v, " > ")
	return "", k.FS.Echo(nil, strings.TrimSpace(v[:i]), v[i+3:])
}

// traceFunction is functions.sh's trace_function: the function tracer
// filtered to one function, tracing on.
func traceFunction(t *testing.T, k *Kernel, fn string) {
	t.Helper()
	shell(t, k, "echo 0 > "+tracingDir+"tracing_on")
	shell(t, k, "echo nop > "+tracingDir+"current_tracer")
	shell(t, k, "echo "+fn+" > "+tracingDir+"set_ftrace_filter")
	shell(t, k, "echo function > "+tracingDir+"current_tracer")
	shell(t, k, "echo 1 > "+tracingDir+"tracing_on")
}

// The function tracer on cmdline_proc_show while cat reads /proc/cmdline:
// the whole `trace` file, pinned column by column against Linux 6.x's
// print_func_help_header_irq and trace_print_context.
func TestTrace_CmdlineProcShowGolden(t *testing.T) {
	k := boot(t, Config{CPUs: 2})
	traceFunction(t, k, "cmdline_proc_show")
	if got := shell(t, k, "cat /proc/cmdline"); !strings.HasPrefix(got, "BOOT_IMAGE=") {
		t.Fatalf("/proc/cmdline: %q", got)
	}
	ents := k.TraceEntries()
	if len(ents) != 1 {
		t.Fatalf("%d entries, want 1: %+v", len(ents), ents)
	}
	e := ents[0]
	if e.Comm != "cat" || k.Syms.Name(e.IP) != "cmdline_proc_show" || k.Syms.Name(e.ParentIP) != "seq_read" {
		t.Errorf("entry %+v", e)
	}
	want := `# tracer: function
#
# entries-in-buffer/entries-written: 1/1   #P:2
#
#                                _-----=> irqs-off/BH-disabled
#                               / _----=> need-resched
#                              | / _---=> hardirq/softirq
#                              || / _--=> preempt-depth
#                              ||| / _-=> migrate-disable
#                              |||| /     delay
#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION
#              | |         |   |||||     |         |
` + traceLine("cat", e.PID, e.CPU, e.TS, "cmdline_proc_show <-seq_read")
	if got := shell(t, k, "cat "+tracingDir+"trace"); got != want {
		t.Errorf("trace:\n%s\nwant:\n%s", got, want)
	}

	// The entry line itself, column by column, for fixed values.
	var b strings.Builder
	k.formatTraceEntry(&b, &TraceEntry{TS: 12_345_678_901, IP: k.sym("cmdline_proc_show"), ParentIP: k.sym("seq_read"), PID: 123, Comm: "cat", CPU: 1})
	k.formatTraceEntry(&b, &TraceEntry{TS: 5_000, IP: k.sym("schedule"), PID: 0, Comm: "swapper/0", CPU: 0, Flags: traceFlagIRQsOff | traceFlagNeedResched | traceFlagPreemptResch})
	k.formatTraceEntry(&b, &TraceEntry{TS: 99_999_999_999_999, IP: 0x1234, ParentIP: 0, PID: 4194304, Comm: "kworker/u8:1-events", CPU: 17})
	golden := "" +
		"             cat-123     [001] .....    12.345678: cmdline_proc_show <-seq_read\n" +
		"          <idle>-0       [000] dN...     0.000005: schedule\n" +
		"kworker/u8:1-events-4194304 [017] ..... 99999.999999: 0x00001234\n"
	if b.String() != golden {
		t.Errorf("entry lines:\n%s\nwant:\n%s", b.String(), golden)
	}
}

// traceLine is one expected entry line of a process-context entry.
func traceLine(comm string, pid, cpu int, ts uint64, fn string) string {
	us := ts / 1000
	return fmt.Sprintf("%16s-%-7d [%03d] ..... %5d.%06d: %s\n", comm, pid, cpu, us/1e6, us%1e6, fn)
}

// tracing_on = 0 stops recording; writing `trace` clears it; switching
// tracer clears it too.
func TestTrace_TracingOnAndClear(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	traceFunction(t, k, "cmdline_proc_show")
	shell(t, k, "cat /proc/cmdline")
	if n := len(k.TraceEntries()); n != 1 {
		t.Fatalf("%d entries", n)
	}
	shell(t, k, "echo 0 > "+tracingDir+"tracing_on")
	if got := shell(t, k, "cat "+tracingDir+"tracing_on"); got != "0\n" {
		t.Errorf("tracing_on reads %q", got)
	}
	shell(t, k, "cat /proc/cmdline")
	if n := len(k.TraceEntries()); n != 1 {
		t.Errorf("tracing_on 0 still records: %d entries", n)
	}
	shell(t, k, "echo 1 > "+tracingDir+"tracing_on")
	shell(t, k, "cat /proc/cmdline")
	if n := len(k.TraceEntries()); n != 2 {
		t.Errorf("after tracing_on 1: %d entries, want 2", n)
	}
	shell(t, k, "echo  > "+tracingDir+"trace")
	if got := shell(t, k, "cat "+tracingDir+"trace"); !strings.Contains(got, "entries-in-buffer/entries-written: 0/0   #P:1\n") || strings.Contains(got, "cmdline_proc_show") {
		t.Errorf("after clearing:\n%s", got)
	}
	shell(t, k, "cat /proc/cmdline")
	shell(t, k, "echo nop > "+tracingDir+"current_tracer")
	if got := shell(t, k, "cat "+tracingDir+"trace"); !strings.HasPrefix(got, "# tracer: nop\n") || strings.Contains(got, "cmdline_proc_show") {
		t.Errorf("after nop:\n%s", got)
	}
	if !bytesNop(t, k, k.sym("cmdline_proc_show")) {
		t.Error("fentry site still enabled with the nop tracer")
	}
}

func bytesNop(t *testing.T, k *Kernel, ip uint64) bool {
	return siteBytes(t, k, ip)[0] == 0x0f
}

// The ring buffer keeps the newest entries and counts the rest as
// written.
func TestTrace_RingOverwrite(t *testing.T) {
	old := traceBufEntries
	traceBufEntries = 2
	defer func() { traceBufEntries = old }()
	k := boot(t, Config{CPUs: 1})
	traceFunction(t, k, "cmdline_proc_show")
	for range 3 {
		shell(t, k, "cat /proc/cmdline")
	}
	if got := shell(t, k, "cat "+tracingDir+"trace"); !strings.Contains(got, "# entries-in-buffer/entries-written: 2/3   #P:1\n") {
		t.Errorf("trace:\n%s", got)
	}
}

// set_ftrace_filter: names, globs, `>>`, '!', an empty write, errors, and
// the files' modes and fixed contents.
func TestTrace_FilterFile(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	filter := tracingDir + "set_ftrace_filter"
	if got := shell(t, k, "cat "+filter); got != "#### all functions enabled ####\n" {
		t.Errorf("empty filter reads %q", got)
	}
	shell(t, k, "echo cmdline_proc_show > "+filter)
	shell(t, k, "echo meminfo_proc_show >> "+filter)
	if got := shell(t, k, "cat "+filter); got != "cmdline_proc_show\nmeminfo_proc_show\n" {
		t.Errorf("filter reads %q", got)
	}
	shell(t, k, "echo !cmdline_proc_show >> "+filter)
	if got := shell(t, k, "cat "+filter); got != "meminfo_proc_show\n" {
		t.Errorf("after '!': %q", got)
	}
	shell(t, k, "echo *_proc_show > "+filter)
	if got := shell(t, k, "cat "+filter); got != "cmdline_proc_show\nmeminfo_proc_show\nuptime_proc_show\n" {
		t.Errorf("glob: %q", got)
	}
	// An unknown function: EINVAL, and the truncating open already emptied
	// the filter (ftrace_regex_release installs what the write built).
	_, err := shellErr(k, "echo no_such_function > "+filter)
	if !errors.Is(err, errno.EINVAL) || err.Error() != "bash: echo: write error: Invalid argument" {
		t.Errorf("unknown function: %v", err)
	}
	if got := shell(t, k, "cat "+filter); got != "#### all functions enabled ####\n" {
		t.Errorf("after a failed truncating write: %q", got)
	}
	shell(t, k, "echo cmdline_proc_show > "+filter)
	shell(t, k, "echo > "+filter)
	if got := shell(t, k, "cat "+filter); got != "#### all functions enabled ####\n" {
		t.Errorf("an empty write clears: %q", got)
	}

	if _, err := shellErr(k, "echo blk > "+tracingDir+"current_tracer"); !errors.Is(err, errno.EINVAL) {
		t.Errorf("unknown tracer: %v", err)
	}
	if _, err := shellErr(k, "echo x > "+tracingDir+"tracing_on"); !errors.Is(err, errno.EINVAL) {
		t.Errorf("tracing_on x: %v", err)
	}
	for _, c := range []struct{ file, mode, content string }{
		{"current_tracer", "-rw-r-----", "nop\n"},
		{"available_tracers", "-r--r-----", "function nop\n"},
		{"tracing_on", "-rw-r-----", "1\n"},
		{"trace", "-rw-r-----", ""},
		{"set_ftrace_filter", "-rw-r-----", ""},
		{"available_filter_functions", "-r--r-----", ""},
	} {
		mode, err := k.FS.StatMode(nil, tracingDir+c.file)
		if err != nil || mode != c.mode {
			t.Errorf("%s: mode %s, %v; want %s", c.file, mode, err, c.mode)
		}
		if c.content != "" {
			if got := shell(t, k, "cat "+tracingDir+c.file); got != c.content {
				t.Errorf("%s reads %q, want %q", c.file, got, c.content)
			}
		}
	}
	aff := shell(t, k, "cat "+tracingDir+"available_filter_functions")
	if !strings.Contains(aff, "\ncmdline_proc_show\n") || strings.Contains(aff, "ftrace_regs_caller") {
		t.Errorf("available_filter_functions:\n%s", aff)
	}
	if got := shell(t, k, "cat "+tracingDir+"current_tracer"); got != "nop\n" {
		t.Errorf("current_tracer %q", got)
	}
}

// A module-like object's function (test_klp_livepatch's replacement)
// shows in available_filter_functions with " [mod]", and an empty filter
// traces it: new records join an ops that traces everything.
func TestTrace_ModuleFunctionAllFunctions(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	shell(t, k, "echo function > "+tracingDir+"current_tracer")
	loadTestCode(t, k, livepatchSrc)
	if aff := shell(t, k, "cat "+tracingDir+"available_filter_functions"); !strings.Contains(aff, "livepatch_cmdline_proc_show [kselftest]\n") {
		t.Errorf("available_filter_functions lacks the module function")
	}
	if siteBytes(t, k, testSym(t, k, "livepatch_cmdline_proc_show"))[0] != 0xe8 {
		t.Error("the tracer of all functions did not take the new module's site")
	}
	shell(t, k, "echo 0 > "+tracingDir+"tracing_on")
	shell(t, k, "echo nop > "+tracingDir+"current_tracer")
}

// livepatchSrc is test_klp_livepatch's replacement function.
const livepatchSrc = `
	.globl livepatch_cmdline_proc_show
	.type livepatch_cmdline_proc_show, @function
livepatch_cmdline_proc_show:
	.fentry
	push rbp
	mov rbp, rsp
	lea rsi, [rip + lp_msg]
	call seq_printf
	xor eax, eax
	pop rbp
	ret
	.size livepatch_cmdline_proc_show, .-livepatch_cmdline_proc_show
	.section .rodata
lp_msg:
	.asciz "test_klp_livepatch: this has been live patched\n"
	.text
`

// klpLikeOps is an IPMODIFY ops that does what klp_ftrace_handler does for
// a patched function: regs->ip = the replacement.
func klpLikeOps(k *Kernel, to uint64) *FtraceOps {
	return &FtraceOps{Flags: FtraceSaveRegs | FtraceIPModify | FtracePermanent, Func: func(_, _ uint64, _ *FtraceOps, regs uint64) {
		k.SetRegsIP(regs, to)
	}}
}

// test-ftrace.sh cases 2 and 3: trace the livepatch's replacement, or the
// patched function itself; the patch stays in effect and the trace shows
// the function. The tracer and the IPMODIFY ops share the site.
func TestTrace_LivepatchedFunction(t *testing.T) {
	for _, traced := range []string{"livepatch_cmdline_proc_show", "cmdline_proc_show"} {
		t.Run(traced, func(t *testing.T) {
			k := boot(t, Config{CPUs: 2})
			loadTestCode(t, k, livepatchSrc)
			cmdline := k.sym("cmdline_proc_show")
			ops := klpLikeOps(k, testSym(t, k, "livepatch_cmdline_proc_show"))
			if err := k.FtraceSetFilterIP(ops, cmdline, false); err != nil {
				t.Fatal(err)
			}
			if err := k.RegisterFtraceFunction(ops); err != nil {
				t.Fatal(err)
			}
			traceFunction(t, k, traced)
			if got := shell(t, k, "cat /proc/cmdline"); got != "test_klp_livepatch: this has been live patched\n" {
				t.Errorf("/proc/cmdline: %q", got)
			}
			tr := shell(t, k, "cat "+tracingDir+"trace")
			if !strings.Contains(tr, ": "+traced+" <-seq_read\n") {
				t.Errorf("trace lacks %s:\n%s", traced, tr)
			}
			// cleanup_tracing, then the livepatch goes away.
			shell(t, k, "echo 0 > "+tracingDir+"tracing_on")
			shell(t, k, "echo nop > "+tracingDir+"current_tracer")
			shell(t, k, "echo > "+tracingDir+"set_ftrace_filter")
			if got := shell(t, k, "cat /proc/cmdline"); got != "test_klp_livepatch: this has been live patched\n" {
				t.Errorf("after cleanup_tracing: %q", got)
			}
			if err := k.UnregisterFtraceFunction(ops); err != nil {
				t.Fatal(err)
			}
			if got := shell(t, k, "cat /proc/cmdline"); !strings.HasPrefix(got, "BOOT_IMAGE=") {
				t.Errorf("after unpatching: %q", got)
			}
		})
	}
}
