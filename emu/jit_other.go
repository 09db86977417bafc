//go:build !amd64

package emu

// The translator emits amd64 code only; elsewhere every block is
// interpreted.
const jitSupported = false

type jitArena struct{ blocks, declined, used int }

func (m *Memory) translate(b *block) {}

func jitEnter(code uintptr, c *CPU) uint64 { panic("emu: no translator on this host") }
