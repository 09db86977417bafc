package kernel

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"klpsim/kernel/errno"
	"klpsim/kernel/vfs"
)

// lib/cmdline.c next_arg: quoting and '=' rules.
func TestModparam_NextArg(t *testing.T) {
	for _, tc := range []struct {
		in, param, val, rest string
		noVal                bool
	}{
		{in: "a=1 b=2", param: "a", val: "1", rest: "b=2"},
		{in: "flag  next", param: "flag", noVal: true, rest: "next"},
		{in: `s="hello world" x`, param: "s", val: "hello world", rest: "x"},
		{in: `"s=hello world" x`, param: "s", val: "hello world", rest: "x"},
		{in: `"quoted flag"`, param: "quoted flag", noVal: true},
		{in: `a=b"c d"e f`, param: "a", val: `b"c d"e`, rest: "f"},
		{in: `a="unterminated rest`, param: "a", val: "unterminated rest"},
		{in: `a="`, param: "a", val: ""},
		{in: "a=", param: "a", val: ""},
		{in: "=x y", param: "=x", noVal: true, rest: "y"}, // '=' first does not count
		{in: "a=b=c", param: "a", val: "b=c"},
		{in: "a=1\tb", param: "a", val: "1", rest: "b"},
		{in: "a=1\n", param: "a", val: "1"},
	} {
		param, val, rest := nextArg(tc.in)
		gotVal := "<nil>"
		if val != nil {
			gotVal = *val
		}
		wantVal := tc.val
		if tc.noVal {
			wantVal = "<nil>"
		}
		if param != tc.param || gotVal != wantVal || rest != tc.rest {
			t.Errorf("nextArg(%q) = %q, %q, %q; want %q, %q, %q", tc.in, param, gotVal, rest, tc.param, wantVal, tc.rest)
		}
	}
}

// lib/kstrtox.c: base 0, one trailing newline, ranges per type.
func TestModparam_Kstrto(t *testing.T) {
	for _, tc := range []struct {
		t    ParamType
		in   string
		want uint64
		err  error
	}{
		{ParamInt, "42", 42, nil},
		{ParamInt, "-42", uint64(1<<64 - 42), nil},
		{ParamInt, "+7", 7, nil},
		{ParamInt, "0x1f", 31, nil},
		{ParamInt, "0X1F", 31, nil},
		{ParamInt, "010", 8, nil},
		{ParamInt, "0", 0, nil},
		{ParamInt, "-0", 0, nil},
		{ParamInt, "08", 0, errno.EINVAL},
		{ParamInt, "0x", 0, errno.EINVAL},
		{ParamInt, "0xg", 0, errno.EINVAL},
		{ParamInt, "5\n", 5, nil},
		{ParamInt, "5\n\n", 0, errno.EINVAL},
		{ParamInt, "5 ", 0, errno.EINVAL},
		{ParamInt, " 5", 0, errno.EINVAL},
		{ParamInt, "", 0, errno.EINVAL},
		{ParamInt, "\n", 0, errno.EINVAL},
		{ParamInt, "-+5", 0, errno.EINVAL},
		{ParamInt, "2147483647", 2147483647, nil},
		{ParamInt, "2147483648", 0, errno.ERANGE},
		{ParamInt, "-2147483648", uint64(1<<64 - 2147483648), nil},
		{ParamInt, "-2147483649", 0, errno.ERANGE},
		{ParamUint, "4294967295", 4294967295, nil},
		{ParamUint, "4294967296", 0, errno.ERANGE},
		{ParamUint, "-1", 0, errno.EINVAL},
		{ParamByte, "255", 255, nil},
		{ParamByte, "256", 0, errno.ERANGE},
		{ParamShort, "-32768", uint64(1<<64 - 32768), nil},
		{ParamShort, "32768", 0, errno.ERANGE},
		{ParamUshort, "65535", 65535, nil},
		{ParamLong, "-9223372036854775808", 1 << 63, nil},
		{ParamLong, "9223372036854775808", 0, errno.ERANGE},
		{ParamUlong, "18446744073709551615", 1<<64 - 1, nil},
		{ParamUllong, "18446744073709551616", 0, errno.ERANGE},
		{ParamUllong, "99999999999999999999x", 0, errno.ERANGE}, // overflow is checked first
		{ParamHexint, "0xdeadbeef", 0xdeadbeef, nil},
	} {
		got, err := parseParamInt(tc.t, tc.in)
		if got != tc.want || !errors.Is(err, tc.err) && !(err == nil && tc.err == nil) {
			t.Errorf("%s %q: %d, %v; want %d, %v", tc.t, tc.in, got, err, tc.want, tc.err)
		}
	}
	for in, want := range map[string]any{
		"y": true, "Y": true, "1": true, "yes": true, "true": true, "on": true, "ON": true, "enable": true,
		"n": false, "N": false, "0": false, "no": false, "false": false, "off": false, "Off": false, "disable": false,
		"o": errno.EINVAL, "": errno.EINVAL, "2": errno.EINVAL, "maybe": errno.EINVAL, " y": errno.EINVAL,
	} {
		got, err := kstrtobool(in)
		if e, ok := want.(error); ok {
			if !errors.Is(err, e) {
				t.Errorf("kstrtobool(%q) = %v, %v; want %v", in, got, err, e)
			}
		} else if err != nil || got != want {
			t.Errorf("kstrtobool(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for v, want := range map[uint32]string{0: "00000000", 1: "0x000001", 255: "0x0000ff", 0x123456: "0x123456", 0xdeadbeef: "0xdeadbeef"} {
		if got := formatHexint(v); got != want {
			t.Errorf("%%#08x of %#x = %q, want %q", v, got, want)
		}
	}
}

// paramMod declares one parameter of every type; init prints a few so the
// test sees that the values reach guest code.
const paramModSrc = `
	.text
	.globl pm_init
	.type pm_init, @function
pm_init:
	.fentry
	push rbp
	mov rbp, rsp
	lea rdi, [rip + fmt]
	mov esi, dword ptr [rip + p_int]
	movzx edx, byte ptr [rip + p_bool]
	mov rcx, qword ptr [rip + p_charp]
	lea r8, [rip + p_string]
	call _printk
	xor eax, eax
	pop rbp
	ret
	.size pm_init, .-pm_init

	.globl pm_exit
	.type pm_exit, @function
pm_exit:
	.fentry
	push rbp
	mov rbp, rsp
	pop rbp
	ret
	.size pm_exit, .-pm_exit

	.section .rodata
fmt:	.asciz "\0016pm: int=%d bool=%d charp=%s string=%s\n"
dflt:	.asciz "from .data"

	.data
	.align 8
p_charp:	.quad dflt
p_long:		.quad 0
p_ulong:	.quad 0
p_ullong:	.quad 0
p_int:		.long 0
p_uint:		.long 0
p_hexint:	.long 0
p_arr:		.long 0, 0, 0, 0
p_arr_num:	.long 0
p_hidden:	.long 0
p_short:	.short 0
p_ushort:	.short 0
p_bool:		.byte 0
p_invbool:	.byte 0
p_byte:		.byte 0
p_string:	.space 16
`

var paramModParams = []ParamSpec{
	{Name: "p_int", Type: ParamInt, Perm: 0o644, Default: "42"},
	{Name: "p_uint", Type: ParamUint, Perm: 0o444},
	{Name: "p_long", Type: ParamLong, Perm: 0o644},
	{Name: "p_ulong", Type: ParamUlong, Perm: 0o644},
	{Name: "p_ullong", Type: ParamUllong, Perm: 0o644},
	{Name: "p_hexint", Type: ParamHexint, Perm: 0o644},
	{Name: "p_short", Type: ParamShort, Perm: 0o644},
	{Name: "p_ushort", Type: ParamUshort, Perm: 0o644},
	{Name: "p_byte", Type: ParamByte, Perm: 0o644},
	{Name: "p_bool", Type: ParamBool, Perm: 0o644},
	{Name: "p_invbool", Type: ParamInvbool, Perm: 0o644},
	{Name: "p_charp", Type: ParamCharp, Perm: 0o644},
	{Name: "p_string", Type: ParamString, Perm: 0o600, MaxLen: 16},
	{Name: "p_arr", Type: ParamInt, Perm: 0o644, Array: 4, NumSymbol: "p_arr_num"},
	{Name: "p_hidden", Type: ParamInt},
}

func paramKernel(t *testing.T) *Kernel {
	t.Helper()
	k := boot(t, Config{CPUs: 1})
	addModule(t, k, ModuleSpec{Name: "pm", InTree: true, Init: "pm_init", Exit: "pm_exit", Params: paramModParams}, paramModSrc)
	return k
}

func readParams(t *testing.T, k *Kernel) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range paramModParams {
		if p.Perm != 0 {
			out[p.Name] = cat(t, k, "/sys/module/pm/parameters/"+p.Name)
		}
	}
	return out
}

// Every type parses from the insmod string, lands in the guest variable
// and reads back through sysfs with its get format.
func TestModparam_Load(t *testing.T) {
	k := paramKernel(t)
	seq := k.Log.NextSeq()
	if err := k.Insmod("pm", ""); err != nil {
		t.Fatal(err)
	}
	wantLines(t, logSince(k, seq), "pm: int=42 bool=0 charp=from .data string=")
	got := readParams(t, k)
	for p, want := range map[string]string{"p_int": "42\n", "p_charp": "from .data\n", "p_arr": "", "p_bool": "N\n", "p_invbool": "Y\n", "p_hexint": "00000000\n", "p_string": "\n"} {
		if got[p] != want {
			t.Errorf("default %s = %q, want %q", p, got[p], want)
		}
	}
	if err := k.Rmmod("pm"); err != nil {
		t.Fatal(err)
	}

	args := `p_int=-5 p-uint=0x10 p_bool p_invbool=y p_charp="hello world" p_string=abc p_arr=1,2,3 ` +
		`p_byte=255 p_short=-32768 p_ushort=65535 p_long=-1 p_ulong=18446744073709551615 p_ullong=1 p_hexint=255 dyndbg=+p async_probe`
	seq = k.Log.NextSeq()
	if err := k.Insmod("pm", args); err != nil {
		t.Fatal(err)
	}
	wantLines(t, logSince(k, seq), "pm: int=-5 bool=1 charp=hello world string=abc")
	got = readParams(t, k)
	for p, want := range map[string]string{
		"p_int": "-5\n", "p_uint": "16\n", "p_bool": "Y\n", "p_invbool": "Y\n", "p_charp": "hello world\n",
		"p_string": "abc\n", "p_arr": "1,2,3\n", "p_byte": "255\n", "p_short": "-32768\n", "p_ushort": "65535\n",
		"p_long": "-1\n", "p_ulong": "18446744073709551615\n", "p_ullong": "1\n", "p_hexint": "0x0000ff\n",
	} {
		if got[p] != want {
			t.Errorf("%s = %q, want %q", p, got[p], want)
		}
	}
	m := k.FindModule("pm")
	// invbool stores the inverse and shows what was written.
	inv, _ := m.ModuleSym("p_invbool")
	if v, _ := k.mem.ReadU64(inv); byte(v) != 0 {
		t.Errorf("p_invbool=y stored %d, want 0", byte(v))
	}
	num, _ := m.ModuleSym("p_arr_num")
	var b [4]byte
	if err := k.mem.Read(num, b[:]); err != nil || binary.LittleEndian.Uint32(b[:]) != 3 {
		t.Errorf("p_arr_num = %d, want 3", binary.LittleEndian.Uint32(b[:]))
	}
	if _, err := k.FS.Stat(nil, "/sys/module/pm/parameters/p_hidden"); !errors.Is(err, errno.ENOENT) {
		t.Errorf("a parameter with perm 0 is in sysfs: %v", err)
	}
	// The charp copy is kernel heap, freed with the module.
	charp, _ := m.ModuleSym("p_charp")
	ptr, _ := k.mem.ReadU64(charp)
	if _, live := k.kheap.sizes[ptr]; !live {
		t.Errorf("p_charp points at %#x, not at a kmalloc'd copy", ptr)
	}
	if err := k.Rmmod("pm"); err != nil {
		t.Fatal(err)
	}
	if _, live := k.kheap.sizes[ptr]; live {
		t.Error("the charp copy outlived the module")
	}
}

// Bad values fail the load with params.c's messages and errno; unknown
// parameters are ignored with a warning; parsing goes on after an error.
func TestModparam_Reject(t *testing.T) {
	long := strings.Repeat("x", 1025)
	for _, tc := range []struct {
		args string
		err  string // insmod's strerror, "" for success
		log  []string
	}{
		{"p_int=abc", "Invalid parameters", []string{"pm: `abc' invalid for parameter `p_int'"}},
		{"p_int=2147483648", "Numerical result out of range", []string{"pm: `2147483648' invalid for parameter `p_int'"}},
		{"p_uint=-1", "Invalid parameters", []string{"pm: `-1' invalid for parameter `p_uint'"}},
		{"p_byte=256", "Numerical result out of range", []string{"pm: `256' invalid for parameter `p_byte'"}},
		{"p_bool=maybe", "Invalid parameters", []string{"pm: `maybe' invalid for parameter `p_bool'"}},
		{"p_invbool", "Invalid parameters", []string{"pm: `' invalid for parameter `p_invbool'"}},
		{"p_int", "Invalid parameters", []string{"pm: `' invalid for parameter `p_int'"}},
		{"p_arr", "Invalid parameters", []string{"pm: `' invalid for parameter `p_arr'"}},
		{"p_string=0123456789abcdef", "No space left on device", []string{
			"p_string: string doesn't fit in 15 chars.",
			"pm: `0123456789abcdef' too large for parameter `p_string'"}},
		// The second line, "pm: `xxx...' too large for parameter
		// `p_charp'", is longer than a printk record: cut at 1023 bytes it
		// loses its newline and stays an open record, not yet visible.
		{"p_charp=" + long, "No space left on device", []string{
			"p_charp: string parameter too long"}},
		{"p_arr=1,2,3,4,5", "Invalid parameters", []string{
			"p_arr: can only take 4 arguments",
			"pm: `1,2,3,4,5' invalid for parameter `p_arr'"}},
		{"p_arr=1,,2", "Invalid parameters", []string{"pm: `1,,2' invalid for parameter `p_arr'"}},
		{"p_int=1 bad=2 p_uint=x p_bool=q", "Invalid parameters", []string{
			"pm: unknown parameter 'bad' ignored",
			"pm: `x' invalid for parameter `p_uint'",
			"pm: `q' invalid for parameter `p_bool'"}},
		{"p_int=1 x=2 p_byte=999 p_uint=-1", "Invalid parameters", []string{ // the last error wins
			"pm: unknown parameter 'x' ignored",
			"pm: `999' invalid for parameter `p_byte'",
			"pm: `-1' invalid for parameter `p_uint'"}},
		{"foo=1 bar", "", []string{
			"pm: unknown parameter 'foo' ignored",
			"pm: unknown parameter 'bar' ignored",
			"pm: int=42 bool=0 charp=from .data string="}},
		{"p_int=7 -- p_bool=1 more", "", []string{
			"pm: parameters 'p_bool=1 more' after `--' ignored",
			"pm: int=7 bool=0 charp=from .data string="}},
		{"  p_int=010   p_bool=on  ", "", []string{"pm: int=8 bool=1 charp=from .data string="}},
	} {
		t.Run(tc.args[:min(len(tc.args), 30)], func(t *testing.T) {
			k := paramKernel(t)
			going := 0
			k.Hooks.ModuleComing = func(*OpCtx, *Module) error { return nil }
			k.Hooks.ModuleGoing = func(*OpCtx, *Module) { going++ }
			seq := k.Log.NextSeq()
			err := k.Insmod("pm", tc.args)
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else {
				wantShellError(t, err, "insmod: ERROR: could not insert module test_modules/pm.ko: "+tc.err, nil)
				nothingLeft(t, k, "pm", 0, 0)
				if going != 1 {
					t.Errorf("going hook ran %d times after a parameter error, want 1 (coming_cleanup)", going)
				}
			}
			wantLines(t, logSince(k, seq), tc.log...)
		})
	}
}

// sysfs parameters: reads and writes go to the guest variable through the
// type's get and set; the mode decides who may write; a bad value is
// EINVAL for echo.
func TestModparam_Sysfs(t *testing.T) {
	k := paramKernel(t)
	if err := k.Insmod("pm", ""); err != nil {
		t.Fatal(err)
	}
	m := k.FindModule("pm")
	for p, want := range map[string]string{"": "drwxr-xr-x", "/p_int": "-rw-r--r--", "/p_uint": "-r--r--r--", "/p_string": "-rw-------"} {
		if got, err := k.FS.StatMode(nil, "/sys/module/pm/parameters"+p); got != want {
			t.Errorf("parameters%s: %s %v, want %s", p, got, err, want)
		}
	}
	echo := func(v, p string) error { return k.FS.Echo(nil, v, "/sys/module/pm/parameters/"+p) }
	if err := echo("12", "p_int"); err != nil {
		t.Fatal(err)
	}
	addr, _ := m.ModuleSym("p_int")
	if v, _ := k.mem.ReadU64(addr); uint32(v) != 12 || cat(t, k, "/sys/module/pm/parameters/p_int") != "12\n" {
		t.Errorf("p_int after echo 12: %d", uint32(v))
	}
	err := echo("abc", "p_int")
	wantShellError(t, err, "bash: echo: write error: Invalid argument", errno.EINVAL)
	err = echo("99999999999", "p_int")
	wantShellError(t, err, "bash: echo: write error: Numerical result out of range", errno.ERANGE)
	if got := cat(t, k, "/sys/module/pm/parameters/p_int"); got != "12\n" {
		t.Errorf("p_int after bad writes: %q", got)
	}
	err = echo("3", "p_uint")
	wantShellError(t, err, "bash: /sys/module/pm/parameters/p_uint: Permission denied", errno.EACCES)
	for _, w := range []struct{ v, p, want string }{
		{"N", "p_bool", "N\n"},
		{"yes", "p_bool", "Y\n"},
		{"1", "p_invbool", "Y\n"},
		{"off", "p_invbool", "N\n"},
		{"5,6", "p_arr", "5,6\n"},
		{"foo", "p_charp", "foo\n\n"}, // param_set_charp keeps echo's newline
		{"bar", "p_charp", "bar\n\n"},
		{"xyz", "p_string", "xyz\n\n"},
		{"0x10", "p_hexint", "0x000010\n"},
	} {
		if err := echo(w.v, w.p); err != nil {
			t.Errorf("echo %s > %s: %v", w.v, w.p, err)
		}
		if got := cat(t, k, "/sys/module/pm/parameters/"+w.p); got != w.want {
			t.Errorf("%s after echo %s: %q, want %q", w.p, w.v, got, w.want)
		}
	}
	wantShellError(t, echo("0123456789abcdef", "p_string"), "bash: echo: write error: No space left on device", errno.ENOSPC)
	wantShellError(t, echo("1,2,3,4,5", "p_arr"), "bash: echo: write error: Invalid argument", errno.EINVAL)
	// Only the latest charp copy is live: the replaced one was freed.
	charps := 0
	for _, p := range m.params {
		charps += len(p.charps)
	}
	if charps != 1 {
		t.Errorf("%d charp copies live, want 1", charps)
	}
	// A non-root reader may read a 0644 parameter but not the 0600 one.
	if _, err := k.FS.ReadFile(user{}, "/sys/module/pm/parameters/p_int"); err != nil {
		t.Error(err)
	}
	if _, err := k.FS.ReadFile(user{}, "/sys/module/pm/parameters/p_string"); !errors.Is(err, errno.EACCES) {
		t.Errorf("non-root read of a 0600 parameter: %v", err)
	}
}

// user is an unprivileged caller for the VFS.
type user struct{}

func (user) VFSCred() vfs.Cred { return vfs.Cred{UID: 1000, GID: 1000} }
