package debug

import (
	"fmt"
	"strings"

	"klpsim/kernel"
)

// info ftrace [SYMBOL]: the fentry sites that are not plain nops (or the
// one of SYMBOL), with the bytes at the site and the ftrace_ops on it.

func init() {
	registerInspector(&Inspector{
		Name: "info ftrace", Aliases: []string{"i ftrace"},
		Usage: "info ftrace [SYMBOL]",
		Help:  "ftrace sites in use (or one): nop or call to what, the ops on it and their owners",
		Run:   infoFtrace,
	})
}

// FtraceSiteInfo is one fentry site.
type FtraceSiteInfo struct {
	IP       uint64        `json:"ip"`
	Function string        `json:"function"`
	Bytes    string        `json:"bytes"`
	Kind     string        `json:"kind"` // "nop", "call" or "other"
	Target   uint64        `json:"target,omitempty"`
	TargetFn string        `json:"target_function,omitempty"`
	Enabled  bool          `json:"enabled"`
	Ops      []FtraceOpsIn `json:"ops"`
}

// FtraceOpsIn is one ftrace_ops on a site.
type FtraceOpsIn struct {
	Flags []string `json:"flags"`
	Owner string   `json:"owner"`
}

var ftraceFlagNames = []struct {
	f    kernel.FtraceFlags
	name string
}{{kernel.FtraceDynamic, "DYNAMIC"}, {kernel.FtraceSaveRegs, "SAVE_REGS"}, {kernel.FtraceIPModify, "IPMODIFY"}, {kernel.FtracePermanent, "PERMANENT"}}

// siteBytes reads the 5 bytes at a site and says what they are.
func siteBytes(t *Target, ip uint64) (b [5]byte, kind string, target uint64, err error) {
	if err = t.K.Memory().Read(ip, b[:]); err != nil {
		return b, "", 0, err
	}
	switch {
	case b == [5]byte{0x0f, 0x1f, 0x44, 0x00, 0x00}:
		return b, "nop", 0, nil
	case b[0] == 0xe8:
		rel := int32(uint32(b[1]) | uint32(b[2])<<8 | uint32(b[3])<<16 | uint32(b[4])<<24)
		return b, "call", ip + 5 + uint64(int64(rel)), nil
	}
	return b, "other", 0, nil
}

func opsOwner(t *Target, ops *kernel.FtraceOps) string {
	if o := t.K.FtraceOpsOwner(ops); o != "" {
		return o
	}
	if t.LP != nil {
		if addr, ok := t.LP.FtraceOpsFunc(ops); ok {
			return "livepatch (klp_ops of " + t.K.Syms.Name(addr) + ")"
		}
	}
	return "unknown"
}

func siteInfo(t *Target, s kernel.FtraceSite) FtraceSiteInfo {
	si := FtraceSiteInfo{IP: s.IP, Function: t.K.Syms.Name(s.IP), Enabled: s.Enabled}
	b, kind, target, err := siteBytes(t, s.IP)
	if err != nil {
		si.Kind = "unreadable"
	} else {
		si.Bytes = fmt.Sprintf("% x", b[:])
		si.Kind, si.Target = kind, target
		if kind == "call" {
			si.TargetFn = t.K.Syms.Name(target)
		}
	}
	for _, ops := range s.Ops {
		oi := FtraceOpsIn{Owner: opsOwner(t, ops)}
		for _, fl := range ftraceFlagNames {
			if ops.Flags&fl.f != 0 {
				oi.Flags = append(oi.Flags, fl.name)
			}
		}
		si.Ops = append(si.Ops, oi)
	}
	return si
}

func (si FtraceSiteInfo) text() string {
	var b strings.Builder
	what := si.Kind
	if si.Kind == "call" {
		what = fmt.Sprintf("call %#x <%s>", si.Target, si.TargetFn)
	}
	fmt.Fprintf(&b, "%#x %s: %s (%s)\n", si.IP, si.Function, si.Bytes, what)
	if len(si.Ops) == 0 {
		b.WriteString("  no ops\n")
	}
	for _, o := range si.Ops {
		fl := strings.Join(o.Flags, "|")
		if fl == "" {
			fl = "0"
		}
		fmt.Fprintf(&b, "  ops %s, flags %s\n", o.Owner, fl)
	}
	return b.String()
}

func infoFtrace(t *Target, args []string) (Answer, error) {
	var want uint64
	switch len(args) {
	case 0:
	case 1:
		a, err := ParseAddress(t, args[0])
		if err != nil {
			return Answer{}, err
		}
		loc, ok := t.K.FtraceLocation(a)
		if !ok {
			return Answer{}, fmt.Errorf("%s: no ftrace site at %#x (not the start of a traceable function)", args[0], a)
		}
		want = loc
	default:
		return Answer{}, &UsageError{Usage: "info ftrace [SYMBOL]"}
	}
	var rows []FtraceSiteInfo
	var b strings.Builder
	for _, s := range t.K.FtraceSites() {
		if want != 0 && s.IP != want {
			continue
		}
		si := siteInfo(t, s)
		if want == 0 && si.Kind == "nop" && len(si.Ops) == 0 {
			continue
		}
		rows = append(rows, si)
		b.WriteString(si.text())
	}
	if len(rows) == 0 {
		b.WriteString("Every ftrace site is a nop with no ops.\n")
	}
	return Answer{Text: b.String(), Data: rows}, nil
}
