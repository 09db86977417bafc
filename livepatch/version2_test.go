package livepatch

import (
	"strings"
	"testing"

	"klpsim/kernel"
)

// pauseBody is a replacement pause() that sleeps for good (msleep of 100
// s at a time), so that the pauser, once switched, stays asleep.
const pauseBody = "1:\tmov edi, 100000\n\tcall msleep\n\tjmp 1b\n"

// The fake signal a stalled user task gets after 15 retries: v5.1's
// signal_wake_up sets TIF_SIGPENDING, 5.11's set_notify_signal sets
// TIF_NOTIFY_SIGNAL; either way the task leaves pause(), switches on its
// way back to user mode, and the transition completes.
func TestVersion_FakeSignal(t *testing.T) {
	for _, v := range []*Version{V612, V51} {
		t.Run(v.Name, func(t *testing.T) {
			k, c := machineVersion(t, 2, v)
			u, err := k.SpawnUser("pauser", tkUserProg(t, "1: mov eax, 34\n syscall\n jmp 1b\n"))
			if err != nil {
				t.Fatal(err)
			}
			k.RunFor(10e6)
			if !strings.Contains(k.ProcStack(u), "__x64_sys_pause") {
				t.Fatalf("pauser not in pause:\n%s", k.ProcStack(u))
			}
			tkAddLP(t, k, "test_klp_pause", 0, tkObj{funcs: []tkFunc{{old: "__x64_sys_pause", body: pauseBody}}})
			var tif uint32
			signals := 0
			var fake []string // the pauser's fake_signal events
			c.OnEvent = func(e Event) {
				if e.Kind == EventSignals {
					signals++
					tif = uint32(u.TIF)
				}
				if e.Kind == EventFakeSignal && e.PID == u.PID {
					fake = append(fake, e.Task+" "+e.Action)
				}
			}
			tkInsmod(t, k, "test_klp_pause", "")
			waitTransition(t, k, "test_klp_pause")
			want, not := uint32(kernel.TIFNotifySignal), uint32(kernel.TIFSigpending)
			if !v.NotifySignal {
				want, not = not, want
			}
			if signals != 1 || tif&want == 0 || tif&not != 0 {
				t.Errorf("%d signal rounds; the pauser's TIF then %#x, want %#x without %#x", signals, tif, want, not)
			}
			how := "set_notify_signal"
			if !v.NotifySignal {
				how = "signal_wake_up"
			}
			if len(fake) != 1 || fake[0] != "pauser "+how {
				t.Errorf("fake_signal events for the pauser: %q, want one %q", fake, "pauser "+how)
			}
		})
	}
}

// Since 5.5 klp_try_complete_transition kicks an idle CPU whose idle task
// it could not switch (wake_up_if_idle), which then switches in its idle
// loop at once; v5.1's idle task waited for the next retry's stack check.
func TestVersion_WakeUpIfIdle(t *testing.T) {
	for _, v := range []*Version{V612, V51} {
		t.Run(v.Name, func(t *testing.T) {
			k, c := machineVersion(t, 2, v, "test_klp_livepatch")
			k.RunFor(1e9)
			var idle []SwitchHow
			c.OnEvent = func(e Event) {
				if e.Kind == EventSwitched && strings.HasPrefix(e.Task, "swapper/") {
					idle = append(idle, e.How)
				}
			}
			tkInsmod(t, k, "test_klp_livepatch", "")
			waitTransition(t, k, "test_klp_livepatch")
			inLoop := 0
			for _, h := range idle {
				if h == SwitchIdle {
					inLoop++
				}
			}
			if len(idle) != 2 || (inLoop > 0) != v.WakeUpIfIdle {
				t.Errorf("idle tasks switched %v; wake_up_if_idle %v", idle, v.WakeUpIfIdle)
			}
		})
	}
}
