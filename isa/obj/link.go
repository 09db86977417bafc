package obj

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Resolver gives the address of a symbol the object does not define (the
// kernel's kallsyms and exports, for a module), or false if there is none.
type Resolver func(name string) (uint64, bool)

// RelocError is a relocation the loader cannot apply: the message names the
// section, offset and symbol, as Linux's module loader does in its
// "Unknown symbol" and "overflow in relocation" messages.
type RelocError struct {
	Section string
	Offset  uint64
	Type    RelocType
	Sym     string
	Msg     string
}

func (e *RelocError) Error() string {
	return fmt.Sprintf("%s+%#x: %s %s: %s", e.Section, e.Offset, e.Type, e.Sym, e.Msg)
}

// SymbolAddr is the final address of symbol i when section k is loaded at
// addrs[k]; undefined symbols go to resolve.
func (o *Object) SymbolAddr(i int, addrs []uint64, resolve Resolver) (uint64, bool) {
	s := o.Symbols[i]
	switch {
	case s.Section == SectionAbs:
		return s.Value, true
	case s.Section == SectionUndef:
		if resolve == nil {
			return 0, false
		}
		return resolve(s.Name)
	case s.Section >= 0 && s.Section < len(addrs):
		return addrs[s.Section] + s.Value, true
	}
	return 0, false
}

// Relocate returns the contents of every section with all relocations
// applied, for sections loaded at addrs (one address per section). The
// object itself is not modified, and on error nothing is returned: a
// loader either gets every section ready or none.
func (o *Object) Relocate(addrs []uint64, resolve Resolver) ([][]byte, error) {
	if len(addrs) != len(o.Sections) {
		return nil, fmt.Errorf("obj: %d section addresses for %d sections", len(addrs), len(o.Sections))
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	out := make([][]byte, len(o.Sections))
	for i, s := range o.Sections {
		if !s.NoBits {
			out[i] = append([]byte(nil), s.Data...)
		}
	}
	for _, r := range o.Relocs {
		sec := o.Sections[r.Section]
		sym := o.Symbols[r.Sym]
		fail := func(msg string) error {
			return &RelocError{Section: sec.Name, Offset: r.Offset, Type: r.Type, Sym: sym.Name, Msg: msg}
		}
		s, ok := o.SymbolAddr(r.Sym, addrs, resolve)
		if !ok {
			return nil, fail("unknown symbol")
		}
		v := s + uint64(r.Addend)
		field := out[r.Section][r.Offset:]
		switch r.Type {
		case RelAbs64:
			binary.LittleEndian.PutUint64(field, v)
		case RelPC32, RelPLT32:
			d := int64(v - (addrs[r.Section] + r.Offset))
			if d < math.MinInt32 || d > math.MaxInt32 {
				return nil, fail(fmt.Sprintf("overflow: %#x is out of reach of a 32-bit displacement", s))
			}
			binary.LittleEndian.PutUint32(field, uint32(d))
		case RelAbs32:
			if v > math.MaxUint32 {
				return nil, fail(fmt.Sprintf("overflow: %#x does not zero-extend from 32 bits", v))
			}
			binary.LittleEndian.PutUint32(field, uint32(v))
		case RelAbs32S:
			if int64(v) < math.MinInt32 || int64(v) > math.MaxInt32 {
				return nil, fail(fmt.Sprintf("overflow: %#x does not sign-extend from 32 bits", v))
			}
			binary.LittleEndian.PutUint32(field, uint32(v))
		default:
			return nil, fail("unsupported relocation type")
		}
	}
	return out, nil
}
