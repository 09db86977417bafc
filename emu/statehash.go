package emu

import (
	"encoding/binary"
	"io"
	"slices"
)

// WriteState writes every mapped page to w, in address order: its
// number, its permissions and its bytes. It is the memory part of a
// machine state hash; breakpoints and the decode cache are left out
// because they are the debugger's and the interpreter's, not the guest's.
func (m *Memory) WriteState(w io.Writer) {
	vpns := make([]uint64, 0, len(m.pages))
	for v := range m.pages {
		vpns = append(vpns, v)
	}
	slices.Sort(vpns)
	var hdr [9]byte
	for _, v := range vpns {
		p := m.pages[v]
		binary.LittleEndian.PutUint64(hdr[:8], v)
		hdr[8] = byte(p.perm)
		w.Write(hdr[:])
		w.Write(p.data[:])
	}
}

// WriteState writes the CPU's architectural state to w: the registers
// (general-purpose and XMM),
// RFLAGS (lazy flags computed, so two CPUs whose flags read the same hash
// the same), the privilege level, the segment bases and MSRs, the
// time-stamp offset and the instruction count. What only a debugger or
// the interpreter sees (breakpoint resume, TLBs, the decode cache) is
// left out.
func (c *CPU) WriteState(w io.Writer) {
	var b []byte
	for _, r := range c.R[:16] {
		b = binary.LittleEndian.AppendUint64(b, r)
	}
	for _, x := range c.X {
		b = binary.LittleEndian.AppendUint64(b, x[0])
		b = binary.LittleEndian.AppendUint64(b, x[1])
	}
	for _, v := range []uint64{c.RIP, c.RFLAGS(), uint64(c.CPL), c.FSBase, c.GSBase, c.KernelGSBase, c.LSTAR, c.FMASK, c.TSC, c.Insns} {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	if c.TrapSyscalls {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	w.Write(b)
}

// Pages is the number of mapped pages: the machine's guest memory is
// Pages() * PageSize bytes.
func (m *Memory) Pages() int { return len(m.pages) }
