package emu

import "os"

// The translator. A block (block.go) that has run jitHot times is
// translated into host machine code that does what the interpreter's
// switch does for each of its ops, in order, reading and writing the same
// CPU fields: the guest registers in c.R, the lazy flags, rip, the budget,
// and guest memory through the same TLBs. The interpreter stays the
// reference and the fallback: an op the translator does not handle, a TLB
// miss, a flag state it cannot read, ends the translated code early at
// that op, and the interpreter runs the block on from there with the
// state exactly as if it had run the ops before itself. So faults,
// watchpoints, self-modifying code and budgets go through the one path
// that already gets them right. See docs/emulator.md, "The translator".

// jitHotDefault is how many times a block runs interpreted before it is
// translated: code that runs a few times (boot, set-up) is not worth
// translating.
const jitHotDefault = 16

// The settings SetJIT and SetJITThreshold made, overriding KLPSIM_JIT.
var (
	jitForced, jitForcedOn bool
	jitForcedHot           uint32
)

// jitSettings are the translator settings of a new Memory: whether it
// translates and after how many runs. KLPSIM_JIT=off turns the translator
// off (to compare, or to rule it out); KLPSIM_JIT=eager translates every
// block the first time it runs (to test the translator on everything the
// interpreter is tested on). The variable is read here, as each Memory is
// made, rather than once at start-up: go test then knows the tests
// depend on it and does not reuse results cached under another setting.
func jitSettings() (on bool, hot uint32) {
	mode := os.Getenv("KLPSIM_JIT")
	on, hot = mode != "off", jitHotDefault
	if mode == "eager" {
		hot = 1
	}
	if jitForced {
		on = jitForcedOn
	}
	if jitForcedHot != 0 {
		hot = jitForcedHot
	}
	return on && jitSupported, hot
}

// SetJIT turns the translator on or off for Memories created from now on,
// whatever KLPSIM_JIT says, and returns whether it was on. It has no
// effect on hosts the translator does not support (only amd64 is).
func SetJIT(on bool) (was bool) {
	was, _ = jitSettings()
	jitForced, jitForcedOn = true, on
	return was
}

// SetJITThreshold sets how many runs make a block hot enough to translate
// (at least 1) for Memories created from now on, and returns the previous
// value; tests use 1 to translate everything at once.
func SetJITThreshold(n uint32) (was uint32) {
	_, was = jitSettings()
	jitForcedHot = max(n, 1)
	return was
}

// JITStats reports the translator's work on m: blocks translated, blocks
// it declined (their first op has no translation), and bytes of host code.
func (m *Memory) JITStats() (blocks, declined, bytes int) {
	if m.jit == nil {
		return 0, 0, 0
	}
	return m.jit.blocks, m.jit.declined, m.jit.used
}

// jitEntry is where translated code can be entered at op i of its block:
// off bytes into the code.
type jitEntry struct {
	i   uint16
	off uint32
}
