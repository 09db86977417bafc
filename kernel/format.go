package kernel

import (
	"strconv"
	"strings"
)

// vsnprintf formats a guest format string with the kernel's printf rules
// (lib/vsprintf.c) for the conversions guest code uses: %d %i %u %x %X %o
// %c %s %p %pS %ps %pB and %%, with flags (- 0 + space #), width,
// precision and the h/hh/l/ll/z/t length modifiers. arg(i) returns the
// i-th argument register or stack slot; str reads a NUL-terminated guest
// string (at most 1 KiB, as a printk record's text is bounded); sym
// formats a code address as %pS does.
func vsnprintf(format string, arg func(i int) uint64, str func(addr uint64) (string, bool), sym func(addr uint64, offset bool) string) string {
	var b strings.Builder
	ai := 0
	next := func() uint64 { v := arg(ai); ai++; return v }
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(format) {
			break
		}
		if format[i] == '%' {
			b.WriteByte('%')
			continue
		}
		// flags
		var minus, zero, plus, space, hash bool
	flags:
		for ; i < len(format); i++ {
			switch format[i] {
			case '-':
				minus = true
			case '0':
				zero = true
			case '+':
				plus = true
			case ' ':
				space = true
			case '#':
				hash = true
			default:
				break flags
			}
		}
		width, prec := -1, -1
		if i < len(format) && format[i] == '*' {
			width = int(int32(next()))
			if width < 0 {
				minus, width = true, -width
			}
			i++
		}
		for ; i < len(format) && format[i] >= '0' && format[i] <= '9'; i++ {
			if width < 0 {
				width = 0
			}
			width = width*10 + int(format[i]-'0')
		}
		if i < len(format) && format[i] == '.' {
			prec = 0
			i++
			if i < len(format) && format[i] == '*' {
				prec = int(int32(next()))
				i++
			}
			for ; i < len(format) && format[i] >= '0' && format[i] <= '9'; i++ {
				prec = prec*10 + int(format[i]-'0')
			}
		}
		size := 4
		for ; i < len(format); i++ {
			switch format[i] {
			case 'h':
				if size == 2 {
					size = 1
				} else {
					size = 2
				}
				continue
			case 'l', 'z', 't', 'j', 'L', 'q':
				size = 8
				continue
			}
			break
		}
		if i >= len(format) {
			break
		}
		conv := format[i]
		pad := func(s string, numeric bool) {
			n := len(s)
			if width <= n {
				b.WriteString(s)
				return
			}
			fill := strings.Repeat(" ", width-n)
			switch {
			case minus:
				b.WriteString(s + fill)
			case zero && numeric && prec < 0:
				sign := ""
				if s != "" && (s[0] == '-' || s[0] == '+' || s[0] == ' ') {
					sign, s = s[:1], s[1:]
				}
				if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
					sign, s = sign+s[:2], s[2:]
				}
				b.WriteString(sign + strings.Repeat("0", width-n) + s)
			default:
				b.WriteString(fill + s)
			}
		}
		trunc := func(v uint64) uint64 {
			switch size {
			case 1:
				return v & 0xff
			case 2:
				return v & 0xffff
			case 4:
				return v & 0xffffffff
			}
			return v
		}
		digits := func(s string) string {
			if prec >= 0 && len(s) < prec {
				s = strings.Repeat("0", prec-len(s)) + s
			}
			if prec == 0 && s == "0" {
				s = ""
			}
			return s
		}
		switch conv {
		case 'd', 'i':
			sh := 64 - 8*uint(size)
			sv := int64(next()<<sh) >> sh
			s := digits(strconv.FormatUint(uint64(abs(sv)), 10))
			switch {
			case sv < 0:
				s = "-" + s
			case plus:
				s = "+" + s
			case space:
				s = " " + s
			}
			pad(s, true)
		case 'u':
			pad(digits(strconv.FormatUint(trunc(next()), 10)), true)
		case 'x', 'X':
			s := digits(strconv.FormatUint(trunc(next()), 16))
			if conv == 'X' {
				s = strings.ToUpper(s)
			}
			if hash && s != "" && s != "0" {
				s = "0" + string(conv) + s
			}
			pad(s, true)
		case 'o':
			s := digits(strconv.FormatUint(trunc(next()), 8))
			if hash && !strings.HasPrefix(s, "0") {
				s = "0" + s
			}
			pad(s, true)
		case 'c':
			pad(string([]byte{byte(next())}), false)
		case 's':
			p := next()
			s, ok := "(null)", false
			if p != 0 {
				s, ok = str(p)
				if !ok {
					s = "(efault)"
				}
			}
			if prec >= 0 && len(s) > prec {
				s = s[:prec]
			}
			pad(s, false)
		case 'p':
			p := next()
			ext := byte(0)
			if i+1 < len(format) {
				ext = format[i+1]
			}
			switch ext {
			case 'S', 'B':
				i++
				pad(sym(p, true), false)
			case 's':
				i++
				pad(sym(p, false), false)
			default:
				// Plain %p prints a hashed pointer in Linux; klpsim prints
				// it unhashed and zero-padded (as with no_hash_pointers) so
				// that transcripts are deterministic and useful.
				width = 16
				zero = true
				pad(strconv.FormatUint(p, 16), true)
			}
		default:
			b.WriteByte('%')
			b.WriteByte(conv)
		}
	}
	return b.String()
}

func abs(v int64) uint64 {
	if v < 0 {
		return uint64(-v)
	}
	return uint64(v)
}
