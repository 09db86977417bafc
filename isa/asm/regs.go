package asm

// regKind classifies registers by where they may appear.
type regKind uint8

const (
	rkGPR   regKind = iota // general-purpose register, any width
	rkHigh8                // ah, ch, dh, bh: not encodable with a REX prefix
	rkRIP                  // rip, only as a memory base
	rkSeg                  // segment register, only as an override prefix
)

// register is one architectural register name.
type register struct {
	name string  // lower-case name as written
	num  uint8   // encoding number 0-15 (ModRM/SIB/REX); segment: index into segPrefix
	size int     // width in bits
	kind regKind // where it may be used
	rex  bool    // needs a REX prefix even though num < 8 (spl, bpl, sil, dil)
}

// segPrefix is the override prefix byte per segment register number.
var segPrefix = [6]byte{0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65}

// registers maps every register name to its description.
var registers = buildRegisters()

func buildRegisters() map[string]*register {
	registers := map[string]*register{}
	add := func(name string, num uint8, size int, kind regKind, rex bool) {
		registers[name] = &register{name: name, num: num, size: size, kind: kind, rex: rex}
	}
	r64 := []string{"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"}
	r32 := []string{"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"}
	r16 := []string{"ax", "cx", "dx", "bx", "sp", "bp", "si", "di"}
	r8 := []string{"al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil"}
	for i := uint8(0); i < 8; i++ {
		add(r64[i], i, 64, rkGPR, false)
		add(r32[i], i, 32, rkGPR, false)
		add(r16[i], i, 16, rkGPR, false)
		add(r8[i], i, 8, rkGPR, i >= 4)
	}
	for i := uint8(8); i < 16; i++ {
		n := "r" + itoa(int(i))
		add(n, i, 64, rkGPR, false)
		add(n+"d", i, 32, rkGPR, false)
		add(n+"w", i, 16, rkGPR, false)
		add(n+"b", i, 8, rkGPR, false)
	}
	for i, n := range []string{"ah", "ch", "dh", "bh"} {
		add(n, uint8(4+i), 8, rkHigh8, false)
	}
	add("rip", 0, 64, rkRIP, false)
	for i, n := range []string{"es", "cs", "ss", "ds", "fs", "gs"} {
		add(n, uint8(i), 16, rkSeg, false)
	}
	return registers
}

func itoa(i int) string {
	if i >= 10 {
		return string(rune('0'+i/10)) + string(rune('0'+i%10))
	}
	return string(rune('0' + i))
}

// lookupReg returns the register called name (case-insensitive), or nil.
func lookupReg(name string) *register {
	return registers[lower(name)]
}

func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
