package livepatch

import "testing"

// The livepatch core's state is part of the machine state hash.
func TestStateHash_CoversTheCore(t *testing.T) {
	for _, tc := range []struct {
		part   string
		change func(c *Core)
	}{
		{"the target state", func(c *Core) { c.targetState = KLPTransitionPatched }},
		{"the fake-signal count", func(c *Core) { c.signalsCnt++ }},
		{"a patch", func(c *Core) { c.patches = append(c.patches, &Patch{Name: "p"}) }},
		{"a func_stack", func(c *Core) { c.ops = append(c.ops, &klpOps{oldFunc: 0x1000}) }},
		{"a shadow variable", func(c *Core) { c.shadow.vars[shadowKey{1, 2}] = &shadowVar{shadowKey: shadowKey{1, 2}, data: 3} }},
	} {
		t.Run(tc.part, func(t *testing.T) {
			k, c := machine(t, 1)
			before := k.StateHash()
			tc.change(c)
			if k.StateHash() == before {
				t.Errorf("changing %s leaves the hash unchanged", tc.part)
			}
		})
	}
}
