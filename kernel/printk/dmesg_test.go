package printk

import (
	"regexp"
	"strings"
	"testing"
)

// TestDmesg_Golden: "[%5ld.%06ld] " as util-linux dmesg prints it (and as
// the kernel's print_time does).
func TestDmesg_Golden(t *testing.T) {
	l := New(0)
	l.Printk(0, "T1", "zero\n")
	l.Printk(1000, "T1", "one microsecond\n")
	l.Printk(1999, "T1", "still one microsecond\n")
	l.Printk(12345678000, "T1", "twelve\n")
	l.Printk(99999999999000, "T1", "widest padded\n")
	l.Printk(123456000001000, "T1", "wider than the padding\n")
	l.WriteKmsg(1, []byte("<3>user error\n"))

	want := "" +
		"[    0.000000] zero\n" +
		"[    0.000001] one microsecond\n" +
		"[    0.000001] still one microsecond\n" +
		"[   12.345678] twelve\n" +
		"[99999.999999] widest padded\n" +
		"[123456.000001] wider than the padding\n" +
		"[    0.000000] user error\n"
	if got := l.Dmesg(DmesgOptions{}); got != want {
		t.Errorf("Dmesg:\n%s\nwant:\n%s", got, want)
	}

	wantNoTime := "zero\none microsecond\nstill one microsecond\ntwelve\nwidest padded\nwider than the padding\nuser error\n"
	if got := l.Dmesg(DmesgOptions{NoTime: true}); got != wantNoTime {
		t.Errorf("Dmesg(NoTime):\n%s\nwant:\n%s", got, wantNoTime)
	}

	wantRaw := "" +
		"<4>[    0.000000] zero\n" +
		"<4>[    0.000001] one microsecond\n" +
		"<4>[    0.000001] still one microsecond\n" +
		"<4>[   12.345678] twelve\n" +
		"<4>[99999.999999] widest padded\n" +
		"<4>[123456.000001] wider than the padding\n" +
		"<11>[    0.000000] user error\n"
	if got := l.Dmesg(DmesgOptions{Raw: true, NoTime: true}); got != wantRaw {
		t.Errorf("Dmesg(Raw):\n%s\nwant:\n%s", got, wantRaw)
	}

	lines := l.DmesgLines(DmesgOptions{})
	if len(lines) != 7 || lines[3] != "[   12.345678] twelve" {
		t.Errorf("DmesgLines = %q", lines)
	}
}

// TestDmesg_Text: print_record and safe_fwrite on multi-line, empty and
// non-printable text.
func TestDmesg_Text(t *testing.T) {
	tests := []struct {
		name   string
		text   string // stored with WriteKmsg, which keeps bytes as they are
		want   string
		notime string
	}{
		{"continuation lines are indented", "line1\nline2\nline3",
			"[    1.500000] line1\n               line2\n               line3\n", "line1\nline2\nline3\n"},
		{"trailing newline is not indented", "foo\n",
			"[    1.500000] foo\n\n", "foo\n\n"},
		{"empty record is an empty line", "", "\n", "\n"},
		{"tab and CR pass", "a\tb\rc", "[    1.500000] a\tb\rc\n", "a\tb\rc\n"},
		{"control bytes are escaped", "bell\x07esc\x1b", `[    1.500000] bell\x07esc\x1b` + "\n", `bell\x07esc\x1b` + "\n"},
		{"DEL is escaped", "del\x7f", `[    1.500000] del\x7f` + "\n", `del\x7f` + "\n"},
		{"UTF-8 passes", "caf\u00e9 \u2713", "[    1.500000] caf\u00e9 \u2713\n", "caf\u00e9 \u2713\n"},
		{"invalid UTF-8 is escaped", "bad\xff\xc3", `[    1.500000] bad\xff\xc3` + "\n", `bad\xff\xc3` + "\n"},
		{"C1 control is escaped", "nel\u0085", `[    1.500000] nel\xc2\x85` + "\n", `nel\xc2\x85` + "\n"},
		{"format character passes", "zw\u200b", "[    1.500000] zw\u200b\n", "zw\u200b\n"},
		{"backslash passes", `a\b`, `[    1.500000] a\b` + "\n", `a\b` + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := New(0)
			l.WriteKmsg(1500000000, []byte(tc.text+"\n"))
			if got := l.Dmesg(DmesgOptions{}); got != tc.want {
				t.Errorf("Dmesg = %q, want %q", got, tc.want)
			}
			if got := l.Dmesg(DmesgOptions{NoTime: true}); got != tc.notime {
				t.Errorf("Dmesg(NoTime) = %q, want %q", got, tc.notime)
			}
		})
	}
}

// TestDmesg_Clear: `dmesg -C` hides what is there for later `dmesg`, while
// /dev/kmsg readers and sequence numbers carry on.
func TestDmesg_Clear(t *testing.T) {
	l := New(0)
	l.Printk(0, "T1", "before\n")
	l.Printk(0, "T1", "open across the clear")
	l.Clear()
	if got := l.Dmesg(DmesgOptions{}); got != "" {
		t.Errorf("Dmesg after Clear = %q, want empty", got)
	}
	l.Printk(1000000, "T1", "after\n")
	want := "[    0.000000] open across the clear\n[    0.001000] after\n"
	if got := l.Dmesg(DmesgOptions{}); got != want {
		t.Errorf("Dmesg = %q, want %q", got, want)
	}
	recs := l.Records()
	if len(recs) != 3 || recs[0].Text != "before" || recs[2].Seq != 2 {
		t.Errorf("Records after Clear = %+v", recs)
	}
}

var (
	timestampRE = regexp.MustCompile(`^\[[ 0-9.]*\] `)
	taintRE     = regexp.MustCompile(`(tainting|taints) kernel`)
)

// checkResult is functions.sh check_result's pipeline:
//
//	dmesg | awk -v last_dmesg="$LAST_DMESG" 'p; $0 == last_dmesg { p=1 }' |
//		grep -e 'livepatch:' -e 'test_klp' |
//		grep -v '\(tainting\|taints\) kernel' |
//		sed 's/^\[[ 0-9.]*\] //'
func checkResult(dmesg []string, lastDmesg string) string {
	var out []string
	p := false
	for _, line := range dmesg {
		if p && (strings.Contains(line, "livepatch:") || strings.Contains(line, "test_klp")) && !taintRE.MatchString(line) {
			out = append(out, timestampRE.ReplaceAllString(line, ""))
		}
		if line == lastDmesg {
			p = true
		}
	}
	return strings.Join(out, "\n")
}

// TestCheckResult_Canary replays selftests.md "basic function patching":
// start_test logs a canary through /dev/kmsg and remembers its dmesg line;
// check_result compares the filtered lines after it with the transcript.
// The pr_debug lines go through dynamic debug configured as
// set_dynamic_debug does, so the per-task klp_try_switch_task line is
// dropped.
func TestCheckResult_Canary(t *testing.T) {
	l := New(0)
	dd := NewDyndbg(nil)
	initializing := dd.Register("livepatch", "kernel/livepatch/transition.c", "klp_init_transition", 592,
		"livepatch: '%s': initializing %s transition\n")
	running := dd.Register("livepatch", "kernel/livepatch/transition.c", "klp_try_switch_task", 330,
		"livepatch: %s: %s:%d is running\n")
	completing := dd.Register("livepatch", "kernel/livepatch/transition.c", "klp_complete_transition", 88,
		"livepatch: '%s': completing %s transition\n")
	other := dd.Register("printk", "kernel/printk/printk.c", "boot_delay_setup", 1296,
		"boot_delay: %u, preset_lpj: %ld, lpj: %lu, HZ: %d, loops_per_msec: %llu\n")

	// functions.sh set_dynamic_debug.
	if err := dd.Control("file kernel/livepatch/* +p\nfunc klp_try_switch_task -p\n"); err != nil {
		t.Fatal(err)
	}
	if !initializing.Enabled() || !completing.Enabled() || running.Enabled() || other.Enabled() {
		t.Fatalf("sites after set_dynamic_debug: init %v completing %v running %v other %v",
			initializing.Enabled(), completing.Enabled(), running.Enabled(), other.Enabled())
	}

	var now uint64 = 5_000_000_000
	tick := func() uint64 { now += 1_234_567; return now }
	kmsg := func(s string) { l.WriteKmsg(tick(), []byte(s+"\n")) }
	printk := func(msg string) { l.Printk(tick(), "T1", msg) }
	prDebug := func(s *Site, msg string) {
		if s.Enabled() {
			printk(KERN_DEBUG + msg)
		}
	}
	const mod = "test_klp_livepatch"

	// Earlier output: a previous test's lines must not leak in.
	printk(KERN_NOTICE + "livepatch: 'test_klp_atomic_replace': unpatching complete\n")

	// start_test.
	canary := "livepatch kselftest timestamp: 2026-03-01 12:00:00.123456789+00:00"
	kmsg(canary)
	var lastDmesg string
	for _, line := range l.DmesgLines(DmesgOptions{}) {
		if strings.Contains(line, canary) {
			lastDmesg = line
		}
	}
	if lastDmesg != "[    5.002469] "+canary {
		t.Fatalf("LAST_DMESG = %q", lastDmesg)
	}
	kmsg("===== TEST: basic function patching =====")

	// load_lp.
	kmsg("% insmod test_modules/" + mod + ".ko")
	printk(KERN_WARNING + mod + ": tainting kernel with TAINT_LIVEPATCH\n")
	printk(KERN_NOTICE + "livepatch: enabling patch '" + mod + "'\n")
	prDebug(initializing, "livepatch: '"+mod+"': initializing patching transition\n")
	printk(KERN_NOTICE + "livepatch: '" + mod + "': starting patching transition\n")
	prDebug(running, "livepatch: "+mod+": kworker/0:1:42 is running\n")
	prDebug(completing, "livepatch: '"+mod+"': completing patching transition\n")
	printk(KERN_NOTICE + "livepatch: '" + mod + "': patching complete\n")
	printk(KERN_INFO + "unrelated: noise\n")
	// disable_lp.
	kmsg("% echo 0 > /sys/kernel/livepatch/" + mod + "/enabled")
	prDebug(initializing, "livepatch: '"+mod+"': initializing unpatching transition\n")
	printk(KERN_NOTICE + "livepatch: '" + mod + "': starting unpatching transition\n")
	prDebug(completing, "livepatch: '"+mod+"': completing unpatching transition\n")
	printk(KERN_NOTICE + "livepatch: '" + mod + "': unpatching complete\n")
	// unload_lp.
	kmsg("% rmmod " + mod)

	want := strings.ReplaceAll(`% insmod test_modules/$MOD_LIVEPATCH1.ko
livepatch: enabling patch '$MOD_LIVEPATCH1'
livepatch: '$MOD_LIVEPATCH1': initializing patching transition
livepatch: '$MOD_LIVEPATCH1': starting patching transition
livepatch: '$MOD_LIVEPATCH1': completing patching transition
livepatch: '$MOD_LIVEPATCH1': patching complete
% echo 0 > /sys/kernel/livepatch/$MOD_LIVEPATCH1/enabled
livepatch: '$MOD_LIVEPATCH1': initializing unpatching transition
livepatch: '$MOD_LIVEPATCH1': starting unpatching transition
livepatch: '$MOD_LIVEPATCH1': completing unpatching transition
livepatch: '$MOD_LIVEPATCH1': unpatching complete
% rmmod $MOD_LIVEPATCH1`, "$MOD_LIVEPATCH1", mod)
	if got := checkResult(l.DmesgLines(DmesgOptions{}), lastDmesg); got != want {
		t.Errorf("check_result:\n%s\nwant:\n%s", got, want)
	}

	// Had the canary been overwritten, the result would be empty ("buffer
	// overrun? can't find canary dmesg entry").
	if got := checkResult(l.DmesgLines(DmesgOptions{}), "[    0.000000] gone"); got != "" {
		t.Errorf("check_result without canary = %q, want empty", got)
	}
}

// TestDmesgFrom: a reader following the log gets each record once, in
// dmesg's format, whatever dmesg -C did; an open record waits until it is
// finalized; records dropped before they were read are skipped.
func TestDmesgFrom(t *testing.T) {
	l := New(0)
	l.Printk(0, "T1", "one\n")
	l.Printk(1000, "T1", "two")
	got, next := l.DmesgFrom(0, DmesgOptions{})
	if got != "[    0.000000] one\n" || next != 1 {
		t.Fatalf("DmesgFrom(0) = %q, %d; want the finalized record only, next 1", got, next)
	}
	l.Clear()
	l.Printk(2000, "T1", "three\n")
	got, next = l.DmesgFrom(next, DmesgOptions{})
	if got != "[    0.000001] two\n[    0.000002] three\n" || next != 3 {
		t.Fatalf("DmesgFrom(1) = %q, %d", got, next)
	}
	if got, n := l.DmesgFrom(next, DmesgOptions{}); got != "" || n != 3 {
		t.Fatalf("DmesgFrom at the end = %q, %d", got, n)
	}
	small := New(MinBufLen)
	for i := 0; i < 1000; i++ {
		small.Printk(uint64(i), "T1", "a line long enough to push the oldest records out of the ring\n")
	}
	got, next = small.DmesgFrom(0, DmesgOptions{NoTime: true})
	if next != 1000 || strings.Count(got, "\n") >= 1000 || got == "" {
		t.Fatalf("DmesgFrom over a wrapped ring: %d lines, next %d", strings.Count(got, "\n"), next)
	}
}
