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

// jitHot is how many times a block runs interpreted before it is
// translated: code that runs a few times (boot, set-up) is not worth
// translating.
var jitHot uint32 = 16

// jitOn says whether new Memories translate. KLPSIM_JIT=off turns the
// translator off (to compare, or to rule it out); KLPSIM_JIT=eager
// translates every block the first time it runs (to test the translator
// on everything the interpreter is tested on).
var jitOn = jitSupported && os.Getenv("KLPSIM_JIT") != "off"

func init() {
	if os.Getenv("KLPSIM_JIT") == "eager" {
		jitHot = 1
	}
}

// SetJIT turns the translator on or off for Memories created from now on
// and returns the previous setting. It has no effect on hosts the
// translator does not support (only amd64 is).
func SetJIT(on bool) (was bool) {
	was, jitOn = jitOn, on && jitSupported
	return was
}

// SetJITThreshold sets how many runs make a block hot enough to translate
// (at least 1) and returns the previous value; tests use 1 to translate
// everything at once.
func SetJITThreshold(n uint32) (was uint32) {
	was, jitHot = jitHot, max(n, 1)
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
