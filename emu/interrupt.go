package emu

import (
	"encoding/binary"
	"fmt"
)

// Segment selectors as Linux sets them up (arch/x86/include/asm/segment.h).
// klpsim keeps no descriptor tables: the selectors pushed in interrupt
// frames only carry the privilege level, which iretq restores from CS.
const (
	KernelCS = 0x10
	KernelDS = 0x18
	UserDS   = 0x2b
	UserCS   = 0x33
)

// InterruptFrameSize is the size of the frame Interrupt pushes without an
// error code: RIP, CS, RFLAGS, RSP, SS.
const InterruptFrameSize = 5 * 8

// Interrupt delivers an interrupt or exception to the CPU the way hardware
// does in 64-bit mode through an interrupt gate: on the kernel stack —
// stack0 (the TSS's RSP0) when the CPU is at CPL 3, the current stack
// otherwise — aligned down to 16 bytes, it pushes SS, RSP, RFLAGS, CS and
// RIP, then errCode if there is one; it clears IF and TF, enters CPL 0 and
// continues at handler. The handler returns with iretq.
//
// It is called between instructions (after Run returned), so RIP is the
// instruction to resume at. If the frame cannot be written the CPU is left
// unchanged and the error says why (a double fault, to a real kernel).
func (c *CPU) Interrupt(handler, stack0 uint64, errCode *uint64) error {
	sp, cs, ss := c.R[RSP], uint64(KernelCS), uint64(KernelDS)
	if c.CPL == 3 {
		sp, cs, ss = stack0, UserCS, UserDS
	}
	// Highest address first: SS, RSP, RFLAGS, CS, RIP [, error code].
	frame := [6]uint64{ss, c.R[RSP], c.RFLAGS(), cs, c.RIP}
	n := 5
	if errCode != nil {
		frame[5], n = *errCode, 6
	}
	sp = sp&^15 - uint64(n)*8
	var buf [6 * 8]byte
	for i := range n {
		binary.LittleEndian.PutUint64(buf[(n-1-i)*8:], frame[i])
	}
	if err := c.mem.Write(sp, buf[:n*8]); err != nil {
		return fmt.Errorf("emu: interrupt frame at %#x: %w", sp, err)
	}
	c.R[RSP] = sp
	c.SetRFLAGS(c.RFLAGS() &^ (FlagIF | FlagTF))
	c.SetCPL(0)
	c.RIP = handler
	return nil
}
