package debug

import (
	"fmt"
	"strconv"
	"strings"

	"klpsim/isa"
)

// x/FMT ADDRESS: gdb's examine. FMT is [COUNT][FORMAT][SIZE] in any
// order: formats x d u i s, sizes b h w g (defaults 1, x, w).

func init() {
	registerInspector(&Inspector{
		Name: "x", Usage: "x/FMT ADDRESS", Help: "examine memory: x/4xg ADDR, x/5i ADDR, x/s ADDR",
		Run: examine,
	})
}

// ExamineInfo is x's Data: the units read (strings and instructions as
// text).
type ExamineInfo struct {
	Addr   uint64   `json:"addr"`
	Values []uint64 `json:"values,omitempty"`
	Text   []string `json:"text,omitempty"`
}

func parseFmt(f string) (count int, format byte, size int, err error) {
	count, format, size = 1, 'x', 4
	num := ""
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch {
		case c >= '0' && c <= '9':
			num += string(c)
		case strings.IndexByte("xduis", c) >= 0:
			format = c
		case c == 'b':
			size = 1
		case c == 'h':
			size = 2
		case c == 'w':
			size = 4
		case c == 'g':
			size = 8
		default:
			return 0, 0, 0, fmt.Errorf("Invalid format letter %q in /%s: use x d u i s and sizes b h w g", c, f)
		}
	}
	if num != "" {
		if count, err = strconv.Atoi(num); err != nil || count <= 0 || count > 4096 {
			return 0, 0, 0, fmt.Errorf("bad count %q (1 to 4096)", num)
		}
	}
	return count, format, size, nil
}

func examine(t *Target, args []string) (Answer, error) {
	const usage = "x/FMT ADDRESS"
	f := ""
	if len(args) > 0 && strings.HasPrefix(args[0], "/") {
		f, args = args[0][1:], args[1:]
	}
	if len(args) != 1 {
		return Answer{}, &UsageError{Usage: usage}
	}
	count, format, size, err := parseFmt(f)
	if err != nil {
		return Answer{}, err
	}
	addr, err := ParseAddress(t, args[0])
	if err != nil {
		return Answer{}, err
	}
	info := ExamineInfo{Addr: addr}
	var b strings.Builder
	mem := t.K.Memory()
	cannot := func(a uint64) error { return fmt.Errorf("Cannot access memory at address %#x", a) }
	switch format {
	case 'i':
		rip := currentRIP(t)
		sym := symLabel(t)
		for range count {
			var code [isa.MaxInstLen]byte
			n := 0
			for n < len(code) && mem.Read(addr+uint64(n), code[n:n+1]) == nil {
				n++
			}
			if n == 0 {
				return Answer{}, cannot(addr)
			}
			in, err := isa.Decode(code[:n])
			l, text := uint64(in.Len), ""
			if err != nil {
				l, text = 1, "(bad)"
			} else {
				text = formatInst(in, addr, code[:n], sym)
			}
			mark := "   "
			if addr == rip {
				mark = "=> "
			}
			fmt.Fprintf(&b, "%s%#x <%s>:\t%s\n", mark, addr, gdbSym(t, addr), text)
			info.Text = append(info.Text, text)
			addr += l
		}
	case 's':
		for range count {
			var s []byte
			for a := addr; len(s) < 4096; a++ {
				var c [1]byte
				if err := mem.Read(a, c[:]); err != nil {
					return Answer{}, cannot(a)
				}
				if c[0] == 0 {
					break
				}
				s = append(s, c[0])
			}
			q := strconv.Quote(string(s))
			fmt.Fprintf(&b, "%#x <%s>:\t%s\n", addr, gdbSym(t, addr), q)
			info.Text = append(info.Text, string(s))
			addr += uint64(len(s)) + 1
		}
	default:
		perLine := map[int]int{1: 8, 2: 8, 4: 4, 8: 2}[size]
		buf := make([]byte, size)
		for i := range count {
			a := addr + uint64(i*size)
			if err := mem.Read(a, buf); err != nil {
				if b.Len() > 0 && i%perLine != 0 {
					b.WriteString("\n")
				}
				return Answer{Text: b.String()}, cannot(a)
			}
			var v uint64
			for j := size - 1; j >= 0; j-- {
				v = v<<8 | uint64(buf[j])
			}
			info.Values = append(info.Values, v)
			if i%perLine == 0 {
				if i > 0 {
					b.WriteString("\n")
				}
				fmt.Fprintf(&b, "%#x <%s>:", a, gdbSym(t, a))
			}
			switch format {
			case 'x':
				fmt.Fprintf(&b, "\t0x%0*x", size*2, v)
			case 'u':
				fmt.Fprintf(&b, "\t%d", v)
			case 'd':
				sh := 64 - 8*size
				fmt.Fprintf(&b, "\t%d", int64(v<<sh)>>sh)
			}
		}
		b.WriteString("\n")
	}
	return Answer{Text: b.String(), Data: info}, nil
}
