package kernel

import "testing"

// The printf conversions guest code uses, as lib/vsprintf.c prints them.
func TestVsnprintf(t *testing.T) {
	args := []uint64{}
	arg := func(i int) uint64 {
		if i < len(args) {
			return args[i]
		}
		return 0
	}
	str := func(a uint64) (string, bool) { return map[uint64]string{0x1000: "hello"}[a], a == 0x1000 }
	sym := func(a uint64, off bool) string {
		if off {
			return "schedule+0x11/0x13"
		}
		return "schedule"
	}
	gfp := func(a uint64) uint32 { return uint32(a) }
	tests := []struct {
		f    string
		args []uint64
		want string
	}{
		{"%d %i %u", []uint64{^uint64(0), 5, 7}, "-1 5 7"},
		{"%ld", []uint64{1 << 63}, "-9223372036854775808"},
		{"%hhd %hd", []uint64{0xff, 0xffff}, "-1 -1"},
		{"%5d|%-5d|%05d", []uint64{42, 42, -42 & 0xffffffff}, "   42|42   |-0042"},
		{"%x %X %#x %08lx", []uint64{255, 255, 255, 0xabc}, "ff FF 0xff 00000abc"},
		{"%s|%.3s|%8s|%-8s|", []uint64{0x1000, 0x1000, 0x1000, 0x1000}, "hello|hel|   hello|hello   |"},
		{"%s %s", []uint64{0, 0x2000}, "(null) (efault)"},
		{"%c%c", []uint64{'o', 'k'}, "ok"},
		{"%pS %ps", []uint64{0xffffffff81000000, 0xffffffff81000000}, "schedule+0x11/0x13 schedule"},
		{"%pe %pe %pe", []uint64{^uint64(18), ^uint64(3999), 0x1000}, "-ENODEV -4000 0000000000001000"},
		{"%p", []uint64{0xffff888100000010}, "ffff888100000010"},
		{"%pGg %pGg %pGg", []uint64{0xcc0, 0xdc0, 0}, "GFP_KERNEL GFP_KERNEL|__GFP_ZERO none"},
		{"100%%", nil, "100%"},
		{"%*d|%.*s", []uint64{4, 7, 2, 0x1000}, "   7|he"},
	}
	for _, tt := range tests {
		args = tt.args
		if got := vsnprintf(tt.f, arg, str, sym, gfp); got != tt.want {
			t.Errorf("%q: got %q, want %q", tt.f, got, tt.want)
		}
	}
}
