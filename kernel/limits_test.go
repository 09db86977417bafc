package kernel

import (
	"errors"
	"strings"
	"testing"
)

// Limits are errors that name themselves, never hangs.
func TestLimits(t *testing.T) {
	k := boot(t, Config{CPUs: 1, MaxInsns: 1_000_000})
	k.SpawnUser("spin", userProg(t, "1: jmp 1b\n"))
	err := k.RunFor(1e9)
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "MaxInsns") {
		t.Errorf("instruction limit: %v", err)
	}
	k = boot(t, Config{CPUs: 1, MaxTasks: 5})
	var last error
	for i := 0; i < 10 && last == nil; i++ {
		_, last = k.SpawnUser("p", userProg(t, "1: jmp 1b\n"))
	}
	if !errors.Is(last, ErrLimit) || !strings.Contains(last.Error(), "MaxTasks") {
		t.Errorf("task limit: %v", last)
	}
	if _, err := Boot(Config{CPUs: 65}); err == nil {
		t.Error("65 CPUs booted")
	}
	if _, err := Boot(Config{CPUs: 1, Cmdline: strings.Repeat("x", 300)}); err == nil {
		t.Error("a 300-byte command line was accepted")
	}
}
