package kernel

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

func TestProcAndSys(t *testing.T) {
	k := boot(t, Config{CPUs: 2, Cmdline: "quiet"})
	k.RunFor(1e8)
	for _, tt := range []struct{ path, want string }{
		{"/proc/cmdline", "quiet\n"},
		{"/proc/sys/kernel/ftrace_enabled", "1\n"},
		{"/proc/2/comm", "kthreadd\n"},
		{"/proc/2/patch_state", "-1\n"},
	} {
		got, err := k.FS.Cat(nil, tt.path)
		if err != nil || got != tt.want {
			t.Errorf("cat %s = %q, %v; want %q", tt.path, got, err, tt.want)
		}
	}
	stack, err := k.FS.Cat(nil, "/proc/2/stack")
	if err != nil || !strings.HasPrefix(stack, "[<0>] schedule+0x") {
		t.Errorf("/proc/2/stack = %q, %v", stack, err)
	}
	for _, tt := range []struct{ path, want string }{
		{"/proc/cmdline", "-r--r--r--"},
		{"/proc/sys/kernel/ftrace_enabled", "-rw-r--r--"},
		{"/proc/2/stack", "-r--------"},
		{"/sys/kernel/debug/dynamic_debug/control", "-rw-r--r--"},
		{"/dev/kmsg", "crw-r--r--"},
	} {
		if got, err := k.FS.StatMode(nil, tt.path); err != nil || got != tt.want {
			t.Errorf("stat %s = %q, %v; want %q", tt.path, got, err, tt.want)
		}
	}
	if err := k.FS.Echo(nil, "0", "/proc/sys/kernel/ftrace_enabled"); err != nil || k.FtraceEnabled() {
		t.Errorf("echo 0 > ftrace_enabled: %v, enabled %v", err, k.FtraceEnabled())
	}
	if err := k.FS.Echo(nil, "2", "/proc/sys/kernel/ftrace_enabled"); err == nil || err.Error() != "bash: echo: write error: Invalid argument" {
		t.Errorf("echo 2 > ftrace_enabled: %v", err)
	}
	if err := k.FS.Echo(nil, "hello from the script", "/dev/kmsg"); err != nil {
		t.Fatal(err)
	}
	if recs := k.Log.Records(); recs[len(recs)-1].Text != "hello from the script" {
		t.Errorf("last record %q", recs[len(recs)-1].Text)
	}
	if _, err := k.FS.Cat(nil, "/proc/99999/comm"); err == nil {
		t.Error("cat of a missing pid succeeded")
	}
}

// /proc/uptime prints the time since boot and the summed idle time of all
// CPUs, each as seconds and truncated hundredths (fs/proc/uptime.c).
func TestProcUptime(t *testing.T) {
	uptime := func(k *Kernel) (up, idle float64) {
		t.Helper()
		out, err := k.FS.Cat(nil, "/proc/uptime")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fmt.Sscanf(out, "%f %f\n", &up, &idle); err != nil || !regexp.MustCompile(`^\d+\.\d\d \d+\.\d\d\n$`).MatchString(out) {
			t.Fatalf("/proc/uptime = %q (%v)", out, err)
		}
		return up, idle
	}
	// An idle machine: each CPU idles all the time it is up, bar boot and
	// the reads.
	k := boot(t, Config{CPUs: 2})
	for _, tt := range []struct {
		at   uint64
		want string // the uptime field: truncated, not rounded
	}{
		{500_000_000, "0.50"},
		{61_999_000_000, "61.99"},
		{100_007_000_000, "100.00"},
	} {
		if err := k.RunFor(tt.at - k.Now()); err != nil {
			t.Fatal(err)
		}
		out, err := k.FS.Cat(nil, "/proc/uptime")
		if err != nil || !strings.HasPrefix(out, tt.want+" ") {
			t.Errorf("at %d ns: /proc/uptime = %q, %v; want %s first", tt.at, out, err, tt.want)
		}
		up, idle := uptime(k)
		if idle < 2*up*0.99 || idle > 2*(up+0.01) { // up is truncated
			t.Errorf("idle machine at %.2f s: idle %.2f s, want nearly twice the uptime", up, idle)
		}
	}

	// One CPU of two spinning for 10 s: the idle time grows by the other's.
	// (A 10 MHz machine, so that the spinning costs the test little.)
	k = boot(t, Config{CPUs: 2, ClockHz: 10_000_000})
	_, idle0 := uptime(k)
	if _, err := k.SpawnUser("spin", userProg(t, "1: inc rbx\n jmp 1b\n")); err != nil {
		t.Fatal(err)
	}
	if err := k.RunFor(10e9); err != nil {
		t.Fatal(err)
	}
	_, idle1 := uptime(k)
	if d := idle1 - idle0; d < 9.9 || d > 10.1 {
		t.Errorf("idle time grew by %.2f s in 10 s with one CPU of two busy, want about 10", d)
	}
}
