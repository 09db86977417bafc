package kernel

import (
	"strings"
	"testing"
)

// Every number the ABI defines has exactly one registered service with a
// guest name of its own; the table is what the guest is assembled with.
func TestHypercallTable(t *testing.T) {
	names := map[string]int{}
	for nr := 1; nr < hcCount; nr++ {
		h := hypercalls[nr]
		if h.fn == nil {
			t.Errorf("hypercall %d has no registered service", nr)
			continue
		}
		if !strings.HasPrefix(h.name, "HC_") {
			t.Errorf("hypercall %d: name %q does not start with HC_", nr, h.name)
		}
		if prev, dup := names[h.name]; dup {
			t.Errorf("hypercalls %d and %d share the name %s", prev, nr, h.name)
		}
		names[h.name] = nr
		if h.how&hcFast != 0 && h.how&hcSetsRegs != 0 {
			t.Errorf("%s: a fast hypercall cannot set the registers itself", h.name)
		}
	}
	if hypercalls[0].fn != nil {
		t.Errorf("hypercall 0 is registered; 0 must stay invalid")
	}
	syms := abiSymbols()
	for name, nr := range names {
		if syms[name] != int64(nr) {
			t.Errorf("abiSymbols()[%s] = %d, want %d", name, syms[name], nr)
		}
	}
}

// registerHypercalls refuses what would make two services share a number.
func TestRegisterHypercallsRejects(t *testing.T) {
	noop := func(*Kernel, *CPU) uint64 { return 0 }
	for _, tc := range []struct {
		name  string
		table map[int]hypercall
		want  string
	}{
		{"twice", map[int]hypercall{hcPrintk: {"HC_X", noop, 0}}, "registered twice"},
		{"zero", map[int]hypercall{0: {"HC_X", noop, 0}}, "outside"},
		{"past the end", map[int]hypercall{hcCount: {"HC_X", noop, 0}}, "outside"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if s, _ := r.(string); !strings.Contains(s, tc.want) {
					t.Errorf("panic %v, want one containing %q", r, tc.want)
				}
			}()
			registerHypercalls(tc.table)
		})
	}
}
