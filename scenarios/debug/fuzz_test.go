package debug

import (
	"strings"
	"testing"
)

// FuzzInspectors feeds arbitrary command lines to the read-only commands
// on teach/01's stopped machine: whatever a user types, a command answers
// or fails with one line; it never panics (the Session would turn a panic
// into "internal error", which is a bug all the same) and never changes
// the machine (its state hash stays).
func FuzzInspectors(f *testing.F) {
	for _, s := range []string{
		"info tasks", "info patches", "info ftrace msleep", "info registers cpu0", "info registers 4 rip",
		"bt 4", "backtrace 99999", "x/4xg $sp", "x/3i teach_sleep_fn+5", "x/s 0", "x/-1xb msleep",
		"disassemble msleep", "disas 0xffffffffffffffff", "print $rip", "p task 4",
		"print *(struct klp_patch *)0x10", "print func_stack teach_sleep_fn", "print patch nope",
		"dmesg 3", "why", "print ((((", "info symbol $pc+3", "info symbol", "x/999999999999999999999xg msleep", "info registers $pc $sp",
	} {
		f.Add(s)
	}
	tg, err := teach01()
	if err != nil {
		f.Fatal(err)
	}
	before := tg.K.StateHash()
	f.Fuzz(func(t *testing.T, line string) {
		if len(strings.Fields(line)) == 0 {
			return
		}
		a, err := run(tg, line)
		if err != nil {
			if msg := strings.TrimSuffix(err.Error(), "\n"); strings.Contains(msg, "\n") {
				t.Errorf("%q: a multi-line error: %q", line, msg)
			}
			return
		}
		if len(a.Text) > 1<<22 {
			t.Errorf("%q: %d bytes of answer", line, len(a.Text))
		}
		if tg.K.StateHash() != before {
			t.Fatalf("%q changed the machine", line)
		}
	})
}

// FuzzParseAddress: any text is an address or one clear error.
func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"0x10", "msleep", "msleep+0x5", "*$pc", "$rsp+8", "vmlinux:msleep", "mod:", ":x", "+", "$", "0x+1"} {
		f.Add(s)
	}
	tg, err := teach01()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, err := ParseAddress(tg, s)
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: a multi-line error: %q", s, err)
		}
	})
}
