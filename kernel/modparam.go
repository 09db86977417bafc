package kernel

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"klpsim/kernel/errno"
)

// Module parameters (kernel/params.c, lib/cmdline.c, lib/kstrtox.c): the
// insmod argument string is split by next_arg and handed to parse_args,
// each known parameter's set function parses its value into the module's
// guest variable, and /sys/module/NAME/parameters/P reads it back with
// the get function and stores through set again. Everything here works on
// guest memory, so a module sees its parameters in its own variables.

// ParamType is a module parameter's type, spelled as module_param(name,
// type, perm) spells it.
type ParamType string

// The parameter types of kernel/params.c (param_ops_*).
const (
	ParamByte    ParamType = "byte"    // unsigned char, "%hhu", kstrtou8
	ParamShort   ParamType = "short"   // short, "%hi", kstrtos16
	ParamUshort  ParamType = "ushort"  // unsigned short, "%hu", kstrtou16
	ParamInt     ParamType = "int"     // int, "%i", kstrtoint
	ParamUint    ParamType = "uint"    // unsigned int, "%u", kstrtouint
	ParamLong    ParamType = "long"    // long, "%li", kstrtol
	ParamUlong   ParamType = "ulong"   // unsigned long, "%lu", kstrtoul
	ParamUllong  ParamType = "ullong"  // unsigned long long, "%llu", kstrtoull
	ParamHexint  ParamType = "hexint"  // unsigned int, "%#08x", kstrtouint
	ParamBool    ParamType = "bool"    // bool (1 byte), Y/N, kstrtobool; a bare name means true
	ParamInvbool ParamType = "invbool" // bool holding the inverse of what was written
	ParamCharp   ParamType = "charp"   // char *: the kernel allocates a copy of the value
	ParamString  ParamType = "string"  // char[MaxLen] (module_param_string): copied in place
)

// ParamSpec declares one module parameter: module_param(Name, Type, Perm),
// module_param_array(Name, Type, &NumSymbol, Perm) when Array > 0, or
// module_param_string(Name, Symbol, MaxLen, Perm) for ParamString.
type ParamSpec struct {
	Name string    // the parameter's name (name=value; /sys/module/MOD/parameters/NAME)
	Type ParamType // the element type
	// Perm is the sysfs mode of parameters/NAME (0644, 0444, ...); 0 keeps
	// the parameter out of sysfs.
	Perm fs.FileMode
	// Symbol is the module variable that holds the value, in the module's
	// .data or .bss; empty means Name.
	Symbol string
	// Default, when not empty, is parsed into the variable when the module
	// loads, before the insmod arguments: the variable's initializer
	// written as a parameter value (the object's own .data content is used
	// otherwise).
	Default string
	// MaxLen is the size of a ParamString buffer, terminating NUL included.
	MaxLen int
	// Array > 0 makes the parameter an array of that many elements of Type
	// (module_param_array's ARRAY_SIZE); values are comma-separated.
	Array int
	// NumSymbol is the unsigned int variable that receives the number of
	// array elements given (module_param_array's nump); optional.
	NumSymbol string
	// Ops, when set, makes the parameter module_param_cb(Name, &Ops,
	// Symbol, Perm): Ops is the module's struct kernel_param_ops (flags,
	// set, get, free), whose set and get are guest functions the kernel
	// calls (modparam_cb.go); Symbol is kp->arg, NULL when empty. Type is
	// then empty.
	Ops string
}

func (p *ParamSpec) symbol() string {
	if p.Symbol != "" {
		return p.Symbol
	}
	return p.Name
}

// elemSize is the size of one value of the parameter's type in guest memory.
func (p *ParamSpec) elemSize() int {
	switch p.Type {
	case ParamByte, ParamBool, ParamInvbool:
		return 1
	case ParamShort, ParamUshort:
		return 2
	case ParamInt, ParamUint, ParamHexint:
		return 4
	case ParamLong, ParamUlong, ParamUllong, ParamCharp:
		return 8
	case ParamString:
		return p.MaxLen
	}
	return 0
}

// check validates a spec at RegisterModule: a known type, a sane size, a
// Default that parses.
func (p *ParamSpec) check() error {
	if p.Name == "" || strings.ContainsAny(p.Name, " =/\"") {
		return fmt.Errorf("parameter name %q", p.Name)
	}
	if p.Perm&^0o777 != 0 {
		return fmt.Errorf("parameter %s: perm %#o is not a permission", p.Name, p.Perm)
	}
	if p.Ops != "" {
		return p.checkCustom()
	}
	if p.elemSize() == 0 {
		return fmt.Errorf("parameter %s: type %q (want byte, short, ushort, int, uint, long, ulong, ullong, hexint, bool, invbool, charp or string)", p.Name, p.Type)
	}
	if p.Type == ParamString && p.Array > 0 {
		return fmt.Errorf("parameter %s: an array of strings is not a module_param type", p.Name)
	}
	if p.Array < 0 || p.NumSymbol != "" && p.Array == 0 {
		return fmt.Errorf("parameter %s: NumSymbol without Array", p.Name)
	}
	return nil
}

// modParam is a loaded module's kernel_param: where its variable is.
type modParam struct {
	spec    ParamSpec
	addr    uint64 // the variable (the first element of an array)
	numAddr uint64 // the array's count variable, 0 when there is none
	ops     uint64 // module_param_cb: the module's struct kernel_param_ops
	kp      uint64 // module_param_cb: the guest struct kernel_param
	// charps are the strings param_set_charp allocated (kmalloc_parameter),
	// freed when replaced and when the module goes (destroy_params).
	charps map[uint64]bool
}

// noArg reports KERNEL_PARAM_OPS_FL_NOARG: a bare "name" is accepted.
func (p *modParam) noArg() bool {
	return p.spec.Array == 0 && p.spec.Type == ParamBool
}

// set is kernel_param_ops.set: val nil is a bare "name" (no '='). Errors
// are errnos; the messages set functions print go to logf.
func (p *modParam) set(k *Kernel, val *string, logf func(string)) error {
	s := p.spec
	if val == nil {
		if !p.noArg() {
			return errno.EINVAL // parse_one: nobody handled NULL
		}
		one := "1"
		val = &one
	}
	if s.Array == 0 {
		return p.setElem(k, p.addr, *val, logf)
	}
	// param_array: a comma-separated list of at least one value; *num
	// counts the elements stored so far, also when one fails.
	v := *val
	num := uint32(0)
	writeNum := func() {
		if p.numAddr != 0 {
			k.writeParam(p.numAddr, binary.LittleEndian.AppendUint32(nil, num))
		}
	}
	defer writeNum()
	for {
		if int(num) == s.Array {
			logf(fmt.Sprintf("\x013%s: can only take %d arguments\n", s.Name, s.Array))
			return errno.EINVAL
		}
		elem, rest, more := strings.Cut(v, ",")
		if err := p.setElem(k, p.addr+uint64(num)*uint64(s.elemSize()), elem, logf); err != nil {
			return err
		}
		num++
		if !more {
			break
		}
		v = rest
	}
	return nil
}

// setElem parses one value into the element at addr.
func (p *modParam) setElem(k *Kernel, addr uint64, val string, logf func(string)) error {
	s := p.spec
	switch s.Type {
	case ParamBool, ParamInvbool:
		b, err := kstrtobool(val)
		if err != nil {
			return err
		}
		if s.Type == ParamInvbool {
			b = !b
		}
		k.writeParam(addr, []byte{byte(b2i(b))})
		return nil
	case ParamCharp:
		if len(val) > 1024 {
			logf(fmt.Sprintf("\x013%s: string parameter too long\n", s.Name))
			return errno.ENOSPC
		}
		old, _ := k.mem.ReadU64(addr)
		if p.charps[old] { // maybe_kfree_parameter
			delete(p.charps, old)
			k.kfree(old)
		}
		buf, err := k.kmalloc(uint64(len(val)) + 1)
		if err != nil {
			return errno.ENOMEM
		}
		k.writeParam(buf, append([]byte(val), 0))
		p.charps[buf] = true
		k.writeParam(addr, binary.LittleEndian.AppendUint64(nil, buf))
		return nil
	case ParamString:
		if len(val)+1 > s.MaxLen {
			logf(fmt.Sprintf("\x013%s: string doesn't fit in %d chars.\n", s.Name, s.MaxLen-1))
			return errno.ENOSPC
		}
		k.writeParam(addr, append([]byte(val), 0))
		return nil
	}
	v, err := parseParamInt(s.Type, val)
	if err != nil {
		return err
	}
	k.writeParam(addr, binary.LittleEndian.AppendUint64(nil, v)[:s.elemSize()])
	return nil
}

// writeParam stores a parameter's bytes; the variable is in the module's
// mapped data, so a failure is a kernel bug.
func (k *Kernel) writeParam(addr uint64, b []byte) {
	if err := k.mem.Write(addr, b); err != nil {
		panic(fmt.Sprintf("BUG: kernel: module parameter at %#x: %v", addr, err))
	}
}

// get is kernel_param_ops.get: the text a sysfs read returns.
func (p *modParam) get(k *Kernel) string {
	s := p.spec
	if s.Array == 0 {
		return p.getElem(k, p.addr)
	}
	n := uint64(s.Array)
	if p.numAddr != 0 {
		var c [4]byte
		_ = k.mem.Read(p.numAddr, c[:])
		n = min(uint64(binary.LittleEndian.Uint32(c[:])), n)
	}
	// param_array_get: each element's "v\n", the newline before the next
	// one replaced by a comma; nothing at all for no elements.
	parts := make([]string, n)
	for i := range n {
		parts[i] = strings.TrimSuffix(p.getElem(k, p.addr+i*uint64(s.elemSize())), "\n")
	}
	if n == 0 {
		return ""
	}
	return strings.Join(parts, ",") + "\n"
}

func (p *modParam) getElem(k *Kernel, addr uint64) string {
	s := p.spec
	switch s.Type {
	case ParamCharp:
		ptr, _ := k.mem.ReadU64(addr)
		if ptr == 0 {
			return "(null)\n" // vsnprintf's %s of NULL
		}
		str, _ := k.readCString(ptr, 4096)
		return str + "\n"
	case ParamString:
		str, _ := k.readCString(addr, s.MaxLen)
		return str + "\n"
	}
	b := make([]byte, 8)
	_ = k.mem.Read(addr, b[:s.elemSize()])
	v := binary.LittleEndian.Uint64(b)
	switch s.Type {
	case ParamBool:
		return map[bool]string{true: "Y\n", false: "N\n"}[v != 0]
	case ParamInvbool:
		return map[bool]string{true: "N\n", false: "Y\n"}[v != 0]
	case ParamShort:
		return strconv.FormatInt(int64(int16(v)), 10) + "\n"
	case ParamInt:
		return strconv.FormatInt(int64(int32(v)), 10) + "\n"
	case ParamLong:
		return strconv.FormatInt(int64(v), 10) + "\n"
	case ParamHexint:
		return formatHexint(uint32(v)) + "\n"
	}
	return strconv.FormatUint(v, 10) + "\n"
}

// formatHexint is C's "%#08x": 0 prints without the 0x prefix, and the
// width counts the prefix.
func formatHexint(v uint32) string {
	if v == 0 {
		return "00000000"
	}
	h := strconv.FormatUint(uint64(v), 16)
	if len(h) < 6 {
		h = strings.Repeat("0", 6-len(h)) + h
	}
	return "0x" + h
}

// readCString reads a NUL-terminated guest string of at most max bytes.
func (k *Kernel) readCString(addr uint64, max int) (string, error) {
	var b strings.Builder
	var c [1]byte
	for i := 0; i < max; i++ {
		if err := k.mem.Read(addr+uint64(i), c[:]); err != nil {
			return b.String(), err
		}
		if c[0] == 0 {
			break
		}
		b.WriteByte(c[0])
	}
	return b.String(), nil
}

// parseParamInt parses an integer parameter value with the kstrto*
// function of its type and returns it zero- or sign-extended.
func parseParamInt(t ParamType, s string) (uint64, error) {
	signed := map[ParamType]int{ParamShort: 16, ParamInt: 32, ParamLong: 64}
	unsigned := map[ParamType]int{ParamByte: 8, ParamUshort: 16, ParamUint: 32, ParamHexint: 32, ParamUlong: 64, ParamUllong: 64}
	if bits, ok := signed[t]; ok {
		v, err := kstrtoll(s)
		if err != nil {
			return 0, err
		}
		if bits < 64 && v != v<<(64-bits)>>(64-bits) {
			return 0, errno.ERANGE
		}
		return uint64(v), nil
	}
	bits := unsigned[t]
	v, err := kstrtoull(s)
	if err != nil {
		return 0, err
	}
	if bits < 64 && v>>bits != 0 {
		return 0, errno.ERANGE
	}
	return v, nil
}

// kstrtoull is lib/kstrtox.c kstrtoull(s, 0, &res): an optional '+', then
// _kstrtoull.
func kstrtoull(s string) (uint64, error) {
	s = strings.TrimPrefix(s, "+")
	return kstrtoullNoSign(s)
}

// kstrtoullNoSign is _kstrtoull with base 0: "0x" means hex when a hex
// digit follows, a leading 0 octal; at most one trailing newline.
func kstrtoullNoSign(s string) (uint64, error) {
	base := uint64(10)
	if len(s) > 0 && s[0] == '0' {
		base = 8
		if len(s) > 2 && s[1]|0x20 == 'x' && isxdigit(s[2]) {
			base = 16
			s = s[2:]
		}
	}
	// _parse_integer
	var res uint64
	n, overflow := 0, false
	for ; n < len(s); n++ {
		c := s[n]
		var d uint64
		switch lc := c | 0x20; {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case lc >= 'a' && lc <= 'f':
			d = uint64(lc-'a') + 10
		default:
			d = 16
		}
		if d >= base {
			break
		}
		if res > (^uint64(0)-d)/base {
			overflow = true
		}
		res = res*base + d
	}
	if overflow {
		return 0, errno.ERANGE
	}
	if n == 0 {
		return 0, errno.EINVAL
	}
	s = strings.TrimPrefix(s[n:], "\n")
	if s != "" {
		return 0, errno.EINVAL
	}
	return res, nil
}

// kstrtoll is kstrtoll(s, 0, &res).
func kstrtoll(s string) (int64, error) {
	if strings.HasPrefix(s, "-") {
		u, err := kstrtoullNoSign(s[1:])
		if err != nil {
			return 0, err
		}
		if int64(-u) > 0 {
			return 0, errno.ERANGE
		}
		return int64(-u), nil
	}
	u, err := kstrtoull(s)
	if err != nil {
		return 0, err
	}
	if int64(u) < 0 {
		return 0, errno.ERANGE
	}
	return int64(u), nil
}

func isxdigit(c byte) bool {
	return c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'f'
}

// Kstrtobool is kstrtobool, for the sysfs stores of subsystems above the
// kernel (livepatch's enabled and force).
func Kstrtobool(s string) (bool, error) { return kstrtobool(s) }

// kstrtobool is lib/kstrtox.c kstrtobool: only the first character counts
// (two for "on"/"off"), so "yes", "true", "enable" are true and "no",
// "false", "disable" false.
func kstrtobool(s string) (bool, error) {
	if s == "" {
		return false, errno.EINVAL
	}
	switch s[0] {
	case 'e', 'E', 'y', 'Y', 't', 'T', '1':
		return true, nil
	case 'd', 'D', 'n', 'N', 'f', 'F', '0':
		return false, nil
	case 'o', 'O':
		if len(s) > 1 {
			switch s[1] {
			case 'n', 'N':
				return true, nil
			case 'f', 'F':
				return false, nil
			}
		}
	}
	return false, errno.EINVAL
}

// isspace is the kernel's isspace (lib/ctype.c): the C locale's white
// space plus Latin-1 NBSP (0xa0).
func isspace(c byte) bool {
	return c == ' ' || c >= '\t' && c <= '\r' || c == 0xa0
}

func skipSpaces(s string) string {
	i := 0
	for i < len(s) && isspace(s[i]) {
		i++
	}
	return s[i:]
}

// nextArg is lib/cmdline.c next_arg: it splits the first "param",
// "param=val" or quoted argument off args and returns the rest with its
// leading spaces skipped. val is nil when there is no '=' (an '=' in the
// first position does not count). Double quotes group spaces; a quote
// opening the argument or the value is dropped together with the closing
// quote at its end.
func nextArg(args string) (param string, val *string, rest string) {
	quoted, inQuote := false, false
	if strings.HasPrefix(args, `"`) {
		args = args[1:]
		quoted, inQuote = true, true
	}
	i, equals := 0, 0
	for ; i < len(args); i++ {
		if isspace(args[i]) && !inQuote {
			break
		}
		if equals == 0 && args[i] == '=' {
			equals = i
		}
		if args[i] == '"' {
			inQuote = !inQuote
		}
	}
	// next_arg writes NULs into the buffer: at equals, at i, and at i-1
	// when it drops a closing quote. end is the first of those after the
	// value (or after the parameter when there is no value).
	end := i
	vstart := 0
	if equals != 0 {
		vstart = equals + 1
		if vstart < len(args) && args[vstart] == '"' {
			vstart++
			if args[i-1] == '"' {
				end = i - 1
			}
		}
	}
	if quoted && i > 0 && end == i && args[i-1] == '"' {
		end = i - 1
	}
	if equals == 0 {
		param = args[:end]
	} else {
		param = args[:equals]
		v := ""
		if vstart < end {
			v = args[vstart:end]
		}
		val = &v
	}
	if i < len(args) {
		rest = args[i+1:]
	}
	return param, val, skipSpaces(rest)
}

// parameq is params.c parameq: '-' and '_' are the same character.
func parameq(a, b string) bool {
	norm := func(s string) string { return strings.ReplaceAll(s, "-", "_") }
	return norm(a) == norm(b)
}

// parseArgs is kernel/params.c parse_args for a module (doing = its
// name): every argument is parsed, errors are logged and the last one is
// returned; arguments after "--" are returned as the rest.
func (k *Kernel) parseArgs(ctx *OpCtx, m *Module, args string, logf func(string)) (afterDashes string, err error) {
	args = skipSpaces(args)
	for args != "" {
		var param string
		var val *string
		param, val, args = nextArg(args)
		if val == nil && param == "--" {
			return args, err
		}
		ret := k.parseOne(ctx, m, param, val, logf)
		if ret == nil {
			continue
		}
		v := ""
		if val != nil {
			v = *val
		}
		switch ret {
		case errno.ENOENT:
			logf(fmt.Sprintf("\x013%s: Unknown parameter `%s'\n", m.Name, param))
		case errno.ENOSPC:
			logf(fmt.Sprintf("\x013%s: `%s' too large for parameter `%s'\n", m.Name, v, param))
		default:
			logf(fmt.Sprintf("\x013%s: `%s' invalid for parameter `%s'\n", m.Name, v, param))
		}
		err = ret
	}
	return "", err
}

// parseOne is params.c parse_one with the module loader's
// unknown_module_param_cb: an unknown parameter is ignored with a warning,
// except async_probe and dyndbg, which every module accepts.
func (k *Kernel) parseOne(ctx *OpCtx, m *Module, param string, val *string, logf func(string)) error {
	for _, p := range m.params {
		if parameq(param, p.spec.Name) {
			if p.spec.Ops != "" {
				return k.setCustom(ctx, m, p, val, true)
			}
			return p.set(k, val, logf)
		}
	}
	if param == "async_probe" {
		return nil
	}
	// ddebug_dyndbg_module_param_cb: "dyndbg" or "anything.dyndbg".
	name := param
	if _, after, ok := strings.Cut(param, "."); ok {
		name = after
	}
	if name == "dyndbg" {
		q := "+p"
		if val != nil {
			q = *val
		}
		_, _ = k.Dyndbg.ExecQueries(q, m.Name) // a bad query does not stop the load
		return nil
	}
	logf(fmt.Sprintf("\x014%s: unknown parameter '%s' ignored\n", m.Name, param))
	return nil
}
