package kernel

import (
	"strings"
	"testing"
)

func boot(t *testing.T, cfg Config) *Kernel {
	t.Helper()
	k, err := Boot(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The machine boots, its kthreads reach their sleeps, and an idle machine
// skips time instead of spinning.
func TestBootAndIdle(t *testing.T) {
	k := boot(t, Config{CPUs: 2})
	if err := k.RunFor(10e9); err != nil {
		t.Fatal(err)
	}
	if k.Now() < 10e9 {
		t.Errorf("now = %d", k.Now())
	}
	for _, task := range k.Tasks() {
		if task.Running() || task.State == TaskRunning {
			t.Errorf("%s still runnable after 10 s of nothing to do (state %#x)", task, task.State)
		}
	}
	if k.insns > 100000 {
		t.Errorf("%d instructions for an idle machine", k.insns)
	}
}

func TestReadShow(t *testing.T) {
	k := boot(t, Config{CPUs: 2, Cmdline: "root=/dev/vda quiet"})
	out, err := k.ReadShow("cat", k.sym("cmdline_proc_show"), 1e9)
	if err != nil {
		t.Fatal(err)
	}
	if out != "root=/dev/vda quiet\n" {
		t.Errorf("cmdline = %q", out)
	}
	out, err = k.ReadShow("cat", k.sym("meminfo_proc_show"), 1e9)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "MemTotal:        2097152 kB\n") {
		t.Errorf("meminfo = %q", out)
	}
}
