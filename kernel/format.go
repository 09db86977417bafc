package kernel

import (
	"strconv"
	"strings"

	"klpsim/kernel/errno"
)

// vsnprintf formats a guest format string with the kernel's printf rules
// (lib/vsprintf.c) for the conversions guest code uses: %d %i %u %x %X %o
// %c %s %p %pS %ps %pB and %%, with flags (- 0 + space #), width,
// precision and the h/hh/l/ll/z/t length modifiers. arg(i) returns the
// i-th argument register or stack slot; str reads a NUL-terminated guest
// string (at most 1 KiB, as a printk record's text is bounded); sym
// formats a code address as %pS does.
func vsnprintf(format string, arg func(i int) uint64, str func(addr uint64) (string, bool), sym func(addr uint64, offset bool) string, gfp func(addr uint64) uint32) string {
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
			case 'e':
				// %pe: an ERR_PTR as its errno's name (lib/errname.c), a
				// number it has no name for in decimal, any other
				// pointer as %p.
				i++
				if p > ^uint64(4095) { // IS_ERR: the last 4095 values
					e := errno.Errno(-int64(p))
					if n := e.Name(); !strings.HasPrefix(n, "Errno(") {
						pad("-"+n, false)
					} else {
						pad(strconv.FormatInt(int64(p), 10), false)
					}
				} else {
					width, zero = 16, true
					pad(strconv.FormatUint(p, 16), true)
				}
			case 'G':
				// %pGg: the gfp_t at p, as flag names (%pGp page flags and
				// %pGv vma flags are not supported).
				if i+2 < len(format) && format[i+2] == 'g' {
					i += 2
					if gfp != nil {
						pad(gfpNames(gfp(p)), false)
					}
				} else {
					width, zero = 16, true
					pad(strconv.FormatUint(p, 16), true)
				}
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

// gfp_t bits (include/linux/gfp_types.h, 6.x) and the names %pGg prints
// for them, composite names first, in the order of
// include/trace/events/mmflags.h's __def_gfpflag_names.
var gfpFlagNames = []struct {
	mask uint32
	name string
}{
	{0x100cca, "GFP_HIGHUSER_MOVABLE"},
	{0x100cc2, "GFP_HIGHUSER"},
	{0x100cc0, "GFP_USER"},
	{0x400cc0, "GFP_KERNEL_ACCOUNT"},
	{0xcc0, "GFP_KERNEL"},
	{0xc40, "GFP_NOFS"},
	{0x820, "GFP_ATOMIC"},
	{0xc00, "GFP_NOIO"},
	{0x800, "GFP_NOWAIT"},
	{0x01, "GFP_DMA"},
	{0x02, "__GFP_HIGHMEM"},
	{0x04, "GFP_DMA32"},
	{0x20, "__GFP_HIGH"},
	{0x40, "__GFP_IO"},
	{0x80, "__GFP_FS"},
	{0x2000, "__GFP_NOWARN"},
	{0x4000, "__GFP_RETRY_MAYFAIL"},
	{0x8000, "__GFP_NOFAIL"},
	{0x10000, "__GFP_NORETRY"},
	{0x40000, "__GFP_COMP"},
	{0x100, "__GFP_ZERO"},
	{0x80000, "__GFP_NOMEMALLOC"},
	{0x20000, "__GFP_MEMALLOC"},
	{0x100000, "__GFP_HARDWALL"},
	{0x200000, "__GFP_THISNODE"},
	{0x10, "__GFP_RECLAIMABLE"},
	{0x08, "__GFP_MOVABLE"},
	{0x400000, "__GFP_ACCOUNT"},
	{0x1000, "__GFP_WRITE"},
	{0xc00, "__GFP_RECLAIM"},
	{0x400, "__GFP_DIRECT_RECLAIM"},
	{0x800, "__GFP_KSWAPD_RECLAIM"},
}

// gfpNames is format_flags for a gfp mask: names joined with '|', any
// bits left over in hex, "none" for 0 (lib/vsprintf.c flags_string).
func gfpNames(v uint32) string {
	if v == 0 {
		return "none"
	}
	var parts []string
	for _, f := range gfpFlagNames {
		if v&f.mask == f.mask {
			parts = append(parts, f.name)
			v &^= f.mask
			if v == 0 {
				break
			}
		}
	}
	if v != 0 {
		parts = append(parts, "0x"+strconv.FormatUint(uint64(v), 16))
	}
	return strings.Join(parts, "|")
}
