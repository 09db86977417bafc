package kernel

import (
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
