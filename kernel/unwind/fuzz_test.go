package unwind_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"klpsim/isa"
	"klpsim/kernel/unwind"
)

// FuzzWalk fills the top of a task stack with random words — biased
// towards stack addresses, encoded regs pointers and text addresses, so
// that chains form — and walks from a random start. Neither walk may
// panic or hang, report more entries than allowed, or succeed with
// anything but text addresses.
func FuzzWalk(f *testing.F) {
	f.Add([]byte{}, uint64(0), uint64(0), uint64(0), uint64(0))
	f.Add([]byte("\x00\x01\x02\x03\x04\x05\x06\x07\x08"), uint64(0x40), uint64(0x3f00), uint64(0x3f48), uint64(0))
	f.Add(make([]byte, 512), uint64(1), uint64(0x3e00), uint64(0x3e11), uint64(0x3e41))
	m := newMachine(f)
	m.spawn("entry_kthread", m.stack.PtRegs())
	m.runToSleep()
	good := m.context()
	snap := make([]byte, m.stack.Size)
	if err := m.mem.Read(m.stack.Base, snap); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{}, good.IP-m.text[0].start, good.SP-m.stack.Base, good.BP-m.stack.Base, uint64(0))

	buf := make([]uint64, unwind.MaxStackEntries+1)
	f.Fuzz(func(t *testing.T, data []byte, ip, sp, bp, regs uint64) {
		if err := m.mem.Write(m.stack.Base, snap); err != nil {
			t.Fatal(err)
		}
		// Interpret data as words written downwards from pt_regs's end.
		text := m.text[len(m.text)-1]
		textEnd := text.start + text.size
		for i := 0; i+9 <= len(data) && i/9*8 < int(m.stack.Size); i += 9 {
			w := binary.LittleEndian.Uint64(data[i+1:])
			switch data[i] % 4 {
			case 1: // a stack address, maybe encoded
				w = m.stack.Base + w%(m.stack.Size+64)
			case 2: // a text address
				w = m.text[0].start + w%(textEnd-m.text[0].start+16)
			}
			m.setWord(m.stack.Base+m.stack.Size-8-uint64(i/9)*8, w)
		}
		st := unwind.Start{
			IP: m.text[0].start + ip%(textEnd-m.text[0].start+16),
			SP: m.stack.Base + sp%(m.stack.Size+64),
			BP: m.stack.Base + bp%(m.stack.Size+64),
		}
		if regs&1 != 0 {
			st.Regs = m.stack.Base + regs%(m.stack.Size+64)
		}
		if ip&(1<<63) != 0 { // raw values too
			st = unwind.Start{IP: ip, SP: sp, BP: bp, Regs: regs &^ 1}
		}
		n, err := unwind.Walk(m.mem, m.text, m.stack, st, 0, buf)
		if n > unwind.MaxStackEntries {
			t.Fatalf("Walk reported %d entries", n)
		}
		var ue *unwind.UnreliableError
		if err != nil && !errors.As(err, &ue) {
			t.Fatalf("Walk error %v is not an *UnreliableError", err)
		}
		for _, a := range buf[:n] {
			if _, _, ok := m.text.FuncAt(a); !ok {
				t.Fatalf("entry %#x outside text (err %v)", a, err)
			}
		}
		nu, why := unwind.WalkUnreliable(m.mem, m.text, m.stack, st, 0, buf)
		if nu > unwind.MaxStackEntries {
			t.Fatalf("WalkUnreliable reported %d entries", nu)
		}
		if err == nil && (why != nil || nu != n) {
			t.Fatalf("Walk reliable with %d entries, WalkUnreliable %d, %v", n, nu, why)
		}
	})
}

// BenchmarkWalk is the reliable walk of a kthread sleeping 10 entries
// deep: schedule, 8 frames of rec, the return into entry code.
func BenchmarkWalk(b *testing.B) {
	m := newMachine(b)
	m.spawn("entry_rec", m.stack.PtRegs())
	m.cpu.R[isa.RDI] = 8
	m.runToSleep()
	st := m.context()
	buf := make([]uint64, unwind.MaxStackEntries)
	if n, err := unwind.Walk(m.mem, m.text, m.stack, st, 0, buf); n != 10 || err != nil {
		b.Fatalf("%d entries, %v", n, err)
	}
	var text unwind.Text = m.text // as the kernel holds its kallsyms: boxed once
	b.ReportAllocs()
	for b.Loop() {
		unwind.Walk(m.mem, text, m.stack, st, 0, buf)
	}
}
