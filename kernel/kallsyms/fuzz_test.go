package kallsyms

import (
	"errors"
	"fmt"
	"testing"
)

// naiveTable is the obviously-correct model FuzzTable checks Table against:
// a slice searched linearly, with the same rules written the simple way.
type naiveTable struct {
	syms []naiveSym
	seq  uint64
}

type naiveSym struct {
	Sym
	seq uint64
}

// better reports whether a is preferred over b when both contain an address:
// the later start, then sized over zero-size, then the earlier added.
func (a naiveSym) better(b naiveSym) bool {
	if a.Addr != b.Addr {
		return a.Addr > b.Addr
	}
	if (a.Size != 0) != (b.Size != 0) {
		return a.Size != 0
	}
	return a.seq < b.seq
}

func naiveOverlap(a, b Sym) bool {
	return a.Module == b.Module && a.IsFunc() && b.IsFunc() && a.Size != 0 && b.Size != 0 &&
		a.Addr < b.End() && b.Addr < a.End() && !(a.Addr == b.Addr && a.Size == b.Size)
}

func (n *naiveTable) add(syms []Sym) bool {
	for i, s := range syms {
		for _, o := range n.syms {
			if naiveOverlap(s, o.Sym) || (o.Module == s.Module && o.Name == s.Name && o.Addr == s.Addr) {
				return false
			}
		}
		for _, o := range syms[:i] {
			if naiveOverlap(s, o) || (o.Module == s.Module && o.Name == s.Name && o.Addr == s.Addr) {
				return false
			}
		}
	}
	for _, s := range syms {
		n.seq++
		n.syms = append(n.syms, naiveSym{s, n.seq})
	}
	return true
}

func (n *naiveTable) remove(module string) {
	kept := n.syms[:0]
	for _, s := range n.syms {
		if s.Module != module {
			kept = append(kept, s)
		}
	}
	n.syms = kept
}

func (n *naiveTable) lookup(addr uint64) (Sym, uint64, bool) {
	var best naiveSym
	found := false
	for _, s := range n.syms {
		if d := addr - s.Addr; addr >= s.Addr && (d < s.Size || d == 0) {
			if !found || s.better(best) {
				best, found = s, true
			}
		}
	}
	if !found {
		return Sym{}, 0, false
	}
	return best.Sym, addr - best.Addr, true
}

func (n *naiveTable) find(module, name string, sympos int) (Sym, error) {
	var matches []Sym
	for _, s := range n.syms {
		if s.Module == module && s.Name == name {
			matches = append(matches, s.Sym)
		}
	}
	// Duplicates are rejected, so one object's namesakes have distinct
	// addresses: position = rank by address.
	pos := func(s Sym) int {
		p := 1
		for _, o := range matches {
			if o.Addr < s.Addr {
				p++
			}
		}
		return p
	}
	switch {
	case len(matches) == 0:
		return Sym{}, &NotFoundError{}
	case sympos == 0 && len(matches) > 1:
		return Sym{}, &AmbiguousError{}
	case sympos < 0 || sympos > len(matches):
		return Sym{}, &PositionError{}
	}
	for _, s := range matches {
		if sympos == 0 || pos(s) == sympos {
			return s, nil
		}
	}
	panic("unreachable")
}

// FuzzTable runs random sequences of Add, RemoveModule, Lookup and Find over a
// small address space (so symbols collide, nest and alias often) and checks
// every answer against naiveTable.
func FuzzTable(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 2, 3, 7, 8, 3, 1, 0})
	f.Add([]byte{0, 0, 10, 20, 0, 0, 0, 15, 4, 0, 2, 12, 3, 1, 1, 1, 2, 12})
	f.Fuzz(func(t *testing.T, data []byte) {
		next := func() byte {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return b
		}
		modules := []string{"", "mod_a", "mod_b"}
		names := []string{"f", "g", "h"}
		types := []byte("TtTtDdBb")
		tab, ref := New(), &naiveTable{}
		for step := 0; len(data) > 0; step++ {
			switch op := next() % 4; op {
			case 0: // Add a batch of 1..3 symbols.
				var batch []Sym
				for range 1 + int(next()%3) {
					batch = append(batch, Sym{
						Module: modules[next()%3],
						Name:   names[next()%3],
						Addr:   uint64(next() % 64),
						Size:   uint64(next() % 12),
						Type:   types[next()%8],
					})
				}
				err := tab.Add(batch...)
				if ok := ref.add(batch); ok != (err == nil) {
					t.Fatalf("step %d: Add(%v) = %v, model accepts: %v", step, batch, err, ok)
				}
			case 1:
				m := modules[next()%3]
				tab.RemoveModule(m)
				ref.remove(m)
			case 2:
				addr := uint64(next() % 80)
				s, off, ok := tab.Lookup(addr)
				ws, woff, wok := ref.lookup(addr)
				if s != ws || off != woff || ok != wok {
					t.Fatalf("step %d: Lookup(%#x) = %v+%#x %v, model %v+%#x %v", step, addr, s, off, ok, ws, woff, wok)
				}
			case 3:
				m, name, pos := modules[next()%3], names[next()%3], int(next()%5)-1
				s, err := tab.Find(m, name, pos)
				ws, werr := ref.find(m, name, pos)
				if s != ws || fmt.Sprintf("%T", err) != fmt.Sprintf("%T", werr) {
					t.Fatalf("step %d: Find(%q, %q, %d) = %v, %v; model %v, %v", step, m, name, pos, s, err, ws, werr)
				}
				if err != nil && errors.Is(err, ErrNotFound) != errors.Is(werr, ErrNotFound) {
					t.Fatalf("step %d: Find error %v vs model %v", step, err, werr)
				}
			}
			if tab.Len() != len(ref.syms) {
				t.Fatalf("step %d: Len() = %d, model %d", step, tab.Len(), len(ref.syms))
			}
		}
	})
}
