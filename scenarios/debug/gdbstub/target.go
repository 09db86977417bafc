package gdbstub

import (
	"encoding/binary"
	"strconv"
	"strings"

	"klpsim/emu"
	"klpsim/isa"
	"klpsim/kernel"
)

// The register file gdb sees, described to it in target.xml: gdb's amd64
// layout (features org.gnu.gdb.i386.core, .sse and .segments, whose
// register names gdb's i386 validation looks for). The machine has no x87
// or SSE state a kernel scenario uses; those registers read as their
// reset values and refuse writes.

// reg is one register of the layout: its name, size in bytes, and how
// to read it from a kernel.Regs (nil: a constant 0, or its reset value).
type reg struct {
	name  string
	size  int
	typ   string
	group string
	gpr   int // index in kernel.Regs.R, or -1
	get   func(r kernel.Regs) uint64
}

var regs = func() []reg {
	var out []reg
	for _, g := range []struct {
		name string
		r    int
	}{{"rax", isa.RAX}, {"rbx", isa.RBX}, {"rcx", isa.RCX}, {"rdx", isa.RDX}, {"rsi", isa.RSI}, {"rdi", isa.RDI},
		{"rbp", isa.RBP}, {"rsp", isa.RSP}, {"r8", isa.R8}, {"r9", isa.R9}, {"r10", isa.R10}, {"r11", isa.R11},
		{"r12", isa.R12}, {"r13", isa.R13}, {"r14", isa.R14}, {"r15", isa.R15}} {
		typ := "int64"
		switch g.name {
		case "rbp", "rsp":
			typ = "data_ptr"
		}
		out = append(out, reg{name: g.name, size: 8, typ: typ, gpr: g.r})
	}
	seg := func(user, kern uint64) func(kernel.Regs) uint64 {
		return func(r kernel.Regs) uint64 {
			if r.CPL == 3 {
				return user
			}
			return kern
		}
	}
	out = append(out,
		reg{name: "rip", size: 8, typ: "code_ptr", gpr: -1, get: func(r kernel.Regs) uint64 { return r.RIP }},
		reg{name: "eflags", size: 4, typ: "i386_eflags", gpr: -1, get: func(r kernel.Regs) uint64 { return r.RFLAGS }},
		reg{name: "cs", size: 4, typ: "int32", gpr: -1, get: seg(emu.UserCS, emu.KernelCS)},
		reg{name: "ss", size: 4, typ: "int32", gpr: -1, get: seg(emu.UserDS, emu.KernelDS)},
	)
	for _, s := range []string{"ds", "es", "fs", "gs"} {
		out = append(out, reg{name: s, size: 4, typ: "int32", gpr: -1})
	}
	for i := 0; i < 8; i++ {
		out = append(out, reg{name: "st" + strconv.Itoa(i), size: 10, typ: "i387_ext", group: "float", gpr: -1})
	}
	for _, s := range []string{"fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"} {
		r := reg{name: s, size: 4, typ: "int", group: "float", gpr: -1}
		switch s {
		case "fctrl":
			r.get = func(kernel.Regs) uint64 { return 0x37f } // FNINIT's
		case "ftag":
			r.get = func(kernel.Regs) uint64 { return 0xffff }
		}
		out = append(out, r)
	}
	for i := 0; i < 16; i++ {
		out = append(out, reg{name: "xmm" + strconv.Itoa(i), size: 16, typ: "vec128", group: "vector", gpr: -1})
	}
	out = append(out,
		reg{name: "mxcsr", size: 4, typ: "i386_mxcsr", group: "vector", gpr: -1, get: func(kernel.Regs) uint64 { return 0x1f80 }},
		reg{name: "fs_base", size: 8, typ: "int", gpr: -1, get: func(r kernel.Regs) uint64 { return r.FSBase }},
		reg{name: "gs_base", size: 8, typ: "int", gpr: -1, get: func(r kernel.Regs) uint64 { return r.GSBase }},
	)
	return out
}()

// value is register i of r.
func (g reg) value(r kernel.Regs) uint64 {
	switch {
	case g.gpr >= 0:
		return r.R[g.gpr]
	case g.get != nil:
		return g.get(r)
	}
	return 0
}

// appendRegHex appends register i's bytes (little-endian) in hex.
func appendRegHex(dst []byte, g reg, r kernel.Regs) []byte {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], g.value(r))
	return appendHex(dst, b[:g.size])
}

// targetXML is the target description gdb reads with
// qXfer:features:read:target.xml.
var targetXML = func() string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?>
<!DOCTYPE target SYSTEM "gdb-target.dtd">
<target version="1.0">
<architecture>i386:x86-64</architecture>
<osabi>none</osabi>
<feature name="org.gnu.gdb.i386.core">
<flags id="i386_eflags" size="4">
<field name="CF" start="0" end="0"/><field name="" start="1" end="1"/><field name="PF" start="2" end="2"/>
<field name="AF" start="4" end="4"/><field name="ZF" start="6" end="6"/><field name="SF" start="7" end="7"/>
<field name="TF" start="8" end="8"/><field name="IF" start="9" end="9"/><field name="DF" start="10" end="10"/>
<field name="OF" start="11" end="11"/><field name="NT" start="14" end="14"/><field name="RF" start="16" end="16"/>
<field name="VM" start="17" end="17"/><field name="AC" start="18" end="18"/><field name="VIF" start="19" end="19"/>
<field name="VIP" start="20" end="20"/><field name="ID" start="21" end="21"/>
</flags>
`)
	for i, g := range regs {
		switch {
		case g.name == "xmm0":
			b.WriteString(`</feature>
<feature name="org.gnu.gdb.i386.sse">
<vector id="v8bf16" type="bfloat16" count="8"/><vector id="v4f" type="ieee_single" count="4"/>
<vector id="v2d" type="ieee_double" count="2"/><vector id="v16i8" type="int8" count="16"/>
<vector id="v8i16" type="int16" count="8"/><vector id="v4i32" type="int32" count="4"/>
<vector id="v2i64" type="int64" count="2"/>
<union id="vec128"><field name="v8_bfloat16" type="v8bf16"/><field name="v4_float" type="v4f"/>
<field name="v2_double" type="v2d"/><field name="v16_int8" type="v16i8"/><field name="v8_int16" type="v8i16"/>
<field name="v4_int32" type="v4i32"/><field name="v2_int64" type="v2i64"/><field name="uint128" type="uint128"/></union>
<flags id="i386_mxcsr" size="4">
<field name="IE" start="0" end="0"/><field name="DE" start="1" end="1"/><field name="ZE" start="2" end="2"/>
<field name="OE" start="3" end="3"/><field name="UE" start="4" end="4"/><field name="PE" start="5" end="5"/>
<field name="DAZ" start="6" end="6"/><field name="IM" start="7" end="7"/><field name="DM" start="8" end="8"/>
<field name="ZM" start="9" end="9"/><field name="OM" start="10" end="10"/><field name="UM" start="11" end="11"/>
<field name="PM" start="12" end="12"/><field name="FZ" start="15" end="15"/>
</flags>
`)
		case g.name == "fs_base":
			b.WriteString("</feature>\n<feature name=\"org.gnu.gdb.i386.segments\">\n")
		}
		b.WriteString(`<reg name="` + g.name + `" bitsize="` + strconv.Itoa(g.size*8) + `" type="` + g.typ + `" regnum="` + strconv.Itoa(i) + `"`)
		if g.group != "" {
			b.WriteString(` group="` + g.group + `"`)
		}
		b.WriteString("/>\n")
	}
	b.WriteString("</feature>\n</target>\n")
	return b.String()
}()
