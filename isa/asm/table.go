package asm

import (
	"fmt"
	"strconv"
	"strings"
)

// The instruction table is written in the notation of the Intel SDM opcode
// tables, one line per encoding form:
//
//	MNEMONIC operand, operand | encoding
//
// Operand patterns:
//
//	r8 r16 r32 r64           general register of that width
//	r/m8 ... r/m64           register or memory of that width
//	m                        memory of any width (lea, invlpg)
//	imm8 imm16 imm32 imm64   immediate stored in that many bits, zero- or sign-extended to the operand size
//	simm8 simm32             immediate sign-extended to a wider operand: must fit as a signed number
//	rel8 rel32               branch target
//	moffs8 ... moffs64       absolute 64-bit address without ModRM (mov al, [addr])
//	AL AX EAX RAX CL         that register only
//	1                        the constant 1 (shift by one)
//
// Encoding tokens:
//
//	o16        0x66 operand-size prefix
//	REX.W      64-bit operand size
//	XX         opcode byte in hex; XX+r adds the register number of the rN operand
//	/r         ModRM with reg = the rN operand and rm = the r/m operand
//	/0 ... /7  ModRM with that opcode extension in reg
//	ib iw id io  immediate of 1, 2, 4, 8 bytes
//	cb cd      branch displacement of 1 or 4 bytes
//	d64        default operand size is 64 bits: a memory operand without a size is a qword
//
// When several forms match, the assembler takes the shortest encoding and,
// among equally short ones, the first in the table; the order below is what
// makes the result agree with GNU as (e.g. "add rax, rbx" uses 01 /r, not
// 03 /r, and "add ax, 1" uses 83 /0 ib, not 05 iw).
func tableLines() []string {
	var t []string
	add := func(format string, args ...any) { t = append(t, fmt.Sprintf(format, args...)) }

	// Arithmetic and logic: ADD OR ADC SBB AND SUB XOR CMP share a layout
	// (SDM Vol. 2, "ADD"); base is the opcode of the r/m8, r8 form.
	for i, m := range []string{"ADD", "OR", "ADC", "SBB", "AND", "SUB", "XOR", "CMP"} {
		b := i * 8
		add("%s r/m8, r8 | %02X /r", m, b)
		add("%s r/m16, r16 | o16 %02X /r", m, b+1)
		add("%s r/m32, r32 | %02X /r", m, b+1)
		add("%s r/m64, r64 | REX.W %02X /r", m, b+1)
		add("%s r8, r/m8 | %02X /r", m, b+2)
		add("%s r16, r/m16 | o16 %02X /r", m, b+3)
		add("%s r32, r/m32 | %02X /r", m, b+3)
		add("%s r64, r/m64 | REX.W %02X /r", m, b+3)
		add("%s r/m16, simm8 | o16 83 /%d ib", m, i)
		add("%s r/m32, simm8 | 83 /%d ib", m, i)
		add("%s r/m64, simm8 | REX.W 83 /%d ib", m, i)
		add("%s AL, imm8 | %02X ib", m, b+4)
		add("%s AX, imm16 | o16 %02X iw", m, b+5)
		add("%s EAX, imm32 | %02X id", m, b+5)
		add("%s RAX, simm32 | REX.W %02X id", m, b+5)
		add("%s r/m8, imm8 | 80 /%d ib", m, i)
		add("%s r/m16, imm16 | o16 81 /%d iw", m, i)
		add("%s r/m32, imm32 | 81 /%d id", m, i)
		add("%s r/m64, simm32 | REX.W 81 /%d id", m, i)
	}

	// Shifts and rotates (SDM "SAL/SAR/SHL/SHR", "RCL/RCR/ROL/ROR").
	for _, s := range []struct {
		m string
		d int
	}{{"ROL", 0}, {"ROR", 1}, {"RCL", 2}, {"RCR", 3}, {"SHL", 4}, {"SAL", 4}, {"SHR", 5}, {"SAR", 7}} {
		for _, w := range []struct {
			sz   int
			pfx  string
			base int
		}{{8, "", 0}, {16, "o16 ", 1}, {32, "", 1}, {64, "REX.W ", 1}} {
			add("%s r/m%d, 1 | %s%02X /%d", s.m, w.sz, w.pfx, 0xD0+w.base, s.d)
			add("%s r/m%d | %s%02X /%d", s.m, w.sz, w.pfx, 0xD0+w.base, s.d)
			add("%s r/m%d, CL | %s%02X /%d", s.m, w.sz, w.pfx, 0xD2+w.base, s.d)
			add("%s r/m%d, imm8 | %s%02X /%d ib", s.m, w.sz, w.pfx, 0xC0+w.base, s.d)
		}
	}

	// One-operand group 3/4/5 instructions.
	for _, u := range []struct {
		m    string
		op   int
		d    int
		opnd string
	}{{"INC", 0xFE, 0, ""}, {"DEC", 0xFE, 1, ""}, {"NOT", 0xF6, 2, ""}, {"NEG", 0xF6, 3, ""},
		{"MUL", 0xF6, 4, ""}, {"IMUL", 0xF6, 5, ""}, {"DIV", 0xF6, 6, ""}, {"IDIV", 0xF6, 7, ""}} {
		add("%s r/m8 | %02X /%d", u.m, u.op, u.d)
		add("%s r/m16 | o16 %02X /%d", u.m, u.op+1, u.d)
		add("%s r/m32 | %02X /%d", u.m, u.op+1, u.d)
		add("%s r/m64 | REX.W %02X /%d", u.m, u.op+1, u.d)
	}

	// Condition codes, in encoding order, with their aliases.
	for cc, names := range condNames {
		for _, c := range strings.Fields(names) {
			add("J%s rel8 | %02X cb", c, 0x70+cc)
			add("J%s rel32 | 0F %02X cd", c, 0x80+cc)
			add("SET%s r/m8 | 0F %02X /0", c, 0x90+cc)
			add("CMOV%s r16, r/m16 | o16 0F %02X /r", c, 0x40+cc)
			add("CMOV%s r32, r/m32 | 0F %02X /r", c, 0x40+cc)
			add("CMOV%s r64, r/m64 | REX.W 0F %02X /r", c, 0x40+cc)
		}
	}

	// Bit tests (SDM "BT", "BTS", "BTR", "BTC").
	for i, m := range []string{"BT", "BTS", "BTR", "BTC"} {
		add("%s r/m16, r16 | o16 0F %02X /r", m, 0xA3+8*i)
		add("%s r/m32, r32 | 0F %02X /r", m, 0xA3+8*i)
		add("%s r/m64, r64 | REX.W 0F %02X /r", m, 0xA3+8*i)
		add("%s r/m16, imm8 | o16 0F BA /%d ib", m, 4+i)
		add("%s r/m32, imm8 | 0F BA /%d ib", m, 4+i)
		add("%s r/m64, imm8 | REX.W 0F BA /%d ib", m, 4+i)
	}

	// String instructions, usable with rep.
	for _, s := range []struct {
		m  string
		op int
	}{{"MOVS", 0xA4}, {"CMPS", 0xA6}, {"STOS", 0xAA}, {"LODS", 0xAC}, {"SCAS", 0xAE}} {
		add("%sB | %02X", s.m, s.op)
		add("%sW | o16 %02X", s.m, s.op+1)
		add("%sD | %02X", s.m, s.op+1)
		add("%sQ | REX.W %02X", s.m, s.op+1)
	}

	t = append(t, strings.Split(strings.TrimSpace(fixedTable), "\n")...)
	return t
}

// condNames lists the condition-code suffixes by encoding (0 = o ... 15 = g).
var condNames = [16]string{"O", "NO", "B C NAE", "AE NB NC", "E Z", "NE NZ", "BE NA", "A NBE",
	"S", "NS", "P PE", "NP PO", "L NGE", "GE NL", "LE NG", "G NLE"}

// fixedTable holds the forms that do not come in families.
const fixedTable = `
MOV r/m8, r8 | 88 /r
MOV r/m16, r16 | o16 89 /r
MOV r/m32, r32 | 89 /r
MOV r/m64, r64 | REX.W 89 /r
MOV r8, r/m8 | 8A /r
MOV r16, r/m16 | o16 8B /r
MOV r32, r/m32 | 8B /r
MOV r64, r/m64 | REX.W 8B /r
MOV AL, moffs8 | A0
MOV AX, moffs16 | o16 A1
MOV EAX, moffs32 | A1
MOV RAX, moffs64 | REX.W A1
MOV moffs8, AL | A2
MOV moffs16, AX | o16 A3
MOV moffs32, EAX | A3
MOV moffs64, RAX | REX.W A3
MOV r8, imm8 | B0+r ib
MOV r16, imm16 | o16 B8+r iw
MOV r32, imm32 | B8+r id
MOV r64, imm64 | REX.W B8+r io
MOV r/m8, imm8 | C6 /0 ib
MOV r/m16, imm16 | o16 C7 /0 iw
MOV r/m32, imm32 | C7 /0 id
MOV r/m64, simm32 | REX.W C7 /0 id
MOVABS r64, imm64 | REX.W B8+r io
MOVABS AL, moffs8 | A0
MOVABS AX, moffs16 | o16 A1
MOVABS EAX, moffs32 | A1
MOVABS RAX, moffs64 | REX.W A1
MOVABS moffs8, AL | A2
MOVABS moffs16, AX | o16 A3
MOVABS moffs32, EAX | A3
MOVABS moffs64, RAX | REX.W A3
MOVZX r16, r/m8 | o16 0F B6 /r
MOVZX r32, r/m8 | 0F B6 /r
MOVZX r64, r/m8 | REX.W 0F B6 /r
MOVZX r32, r/m16 | 0F B7 /r
MOVZX r64, r/m16 | REX.W 0F B7 /r
MOVSX r16, r/m8 | o16 0F BE /r
MOVSX r32, r/m8 | 0F BE /r
MOVSX r64, r/m8 | REX.W 0F BE /r
MOVSX r32, r/m16 | 0F BF /r
MOVSX r64, r/m16 | REX.W 0F BF /r
MOVSXD r64, r/m32 | REX.W 63 /r
LEA r16, m | o16 8D /r
LEA r32, m | 8D /r
LEA r64, m | REX.W 8D /r
PUSH r64 | 50+r
PUSH r16 | o16 50+r
PUSH r/m64 | FF /6 d64
PUSH r/m16 | o16 FF /6
PUSH simm8 | 6A ib
PUSH simm32 | 68 id
POP r64 | 58+r
POP r16 | o16 58+r
POP r/m64 | 8F /0 d64
POP r/m16 | o16 8F /0
TEST r/m8, r8 | 84 /r
TEST r/m16, r16 | o16 85 /r
TEST r/m32, r32 | 85 /r
TEST r/m64, r64 | REX.W 85 /r
TEST r8, r/m8 | 84 /r
TEST r16, r/m16 | o16 85 /r
TEST r32, r/m32 | 85 /r
TEST r64, r/m64 | REX.W 85 /r
TEST AL, imm8 | A8 ib
TEST AX, imm16 | o16 A9 iw
TEST EAX, imm32 | A9 id
TEST RAX, simm32 | REX.W A9 id
TEST r/m8, imm8 | F6 /0 ib
TEST r/m16, imm16 | o16 F7 /0 iw
TEST r/m32, imm32 | F7 /0 id
TEST r/m64, simm32 | REX.W F7 /0 id
XCHG AX, r16 | o16 90+r
XCHG r16, AX | o16 90+r
XCHG EAX, r32 | 90+r
XCHG r32, EAX | 90+r
XCHG RAX, r64 | REX.W 90+r
XCHG r64, RAX | REX.W 90+r
XCHG r/m8, r8 | 86 /r
XCHG r8, r/m8 | 86 /r
XCHG r/m16, r16 | o16 87 /r
XCHG r16, r/m16 | o16 87 /r
XCHG r/m32, r32 | 87 /r
XCHG r32, r/m32 | 87 /r
XCHG r/m64, r64 | REX.W 87 /r
XCHG r64, r/m64 | REX.W 87 /r
CMPXCHG r/m8, r8 | 0F B0 /r
CMPXCHG r/m16, r16 | o16 0F B1 /r
CMPXCHG r/m32, r32 | 0F B1 /r
CMPXCHG r/m64, r64 | REX.W 0F B1 /r
XADD r/m8, r8 | 0F C0 /r
XADD r/m16, r16 | o16 0F C1 /r
XADD r/m32, r32 | 0F C1 /r
XADD r/m64, r64 | REX.W 0F C1 /r
IMUL r16, r/m16 | o16 0F AF /r
IMUL r32, r/m32 | 0F AF /r
IMUL r64, r/m64 | REX.W 0F AF /r
IMUL r16, r/m16, simm8 | o16 6B /r ib
IMUL r32, r/m32, simm8 | 6B /r ib
IMUL r64, r/m64, simm8 | REX.W 6B /r ib
IMUL r16, r/m16, imm16 | o16 69 /r iw
IMUL r32, r/m32, imm32 | 69 /r id
IMUL r64, r/m64, simm32 | REX.W 69 /r id
CBW | o16 98
CWDE | 98
CDQE | REX.W 98
CWD | o16 99
CDQ | 99
CQO | REX.W 99
CALL rel32 | E8 cd
CALL r/m64 | FF /2 d64
JMP rel8 | EB cb
JMP rel32 | E9 cd
JMP r/m64 | FF /4 d64
RET | C3
RET imm16 | C2 iw
LEAVE | C9
NOP | 90
NOP r/m16 | o16 0F 1F /0
NOP r/m32 | 0F 1F /0
NOP r/m64 | REX.W 0F 1F /0
INT3 | CC
INT imm8 | CD ib
UD2 | 0F 0B
HLT | F4
CLI | FA
STI | FB
CLC | F8
STC | F9
CLD | FC
STD | FD
PUSHF | 9C
PUSHFQ | 9C
POPF | 9D
POPFQ | 9D
SYSCALL | 0F 05
SYSRETQ | REX.W 0F 07
IRETQ | REX.W CF
SWAPGS | 0F 01 F8
CPUID | 0F A2
RDTSC | 0F 31
RDMSR | 0F 32
WRMSR | 0F 30
PAUSE | F3 90
LFENCE | 0F AE E8
MFENCE | 0F AE F0
SFENCE | 0F AE F8
VMCALL | 0F 01 C1
ENDBR64 | F3 0F 1E FA
INVLPG m | 0F 01 /7
`

// patKind is the class of an operand pattern.
type patKind uint8

const (
	pReg   patKind = iota // rN
	pRM                   // r/mN
	pMem                  // m, mN
	pImm                  // immN / simmN
	pRel                  // relN
	pMoffs                // moffsN
	pFixed                // a specific register
	pOne                  // the constant 1
)

// pattern is one parsed operand pattern.
type pattern struct {
	kind   patKind
	size   int       // width in bits (0 for "m": any)
	signed bool      // simm: sign-extended to a wider operand
	reg    *register // pFixed
}

// form is one encoding of an instruction, parsed from a table line.
type form struct {
	mnem   string    // lower-case mnemonic
	ops    []pattern // operand patterns in Intel order
	o16    bool      // emit the 0x66 operand-size prefix
	rexW   bool      // emit REX.W
	opcode []byte    // opcode bytes (a mandatory F3 prefix, as in pause, is part of it)
	plusR  bool      // the register operand is added to the last opcode byte
	modrm  int       // -1: no ModRM; 0-7: opcode extension; 8: /r
	imms   []int     // immediate field widths in bytes, in operand order
	rel    int       // branch displacement width in bytes, 0 if none
	d64    bool      // sizeless memory operand means 64 bits
	osz    int       // operand size in bits (of the first register/memory pattern), 0 if none
	line   string    // the table line
}

// forms maps a lower-case mnemonic to its forms in table order.
var forms = buildForms()

func buildForms() map[string][]*form {
	m := map[string][]*form{}
	for _, line := range tableLines() {
		f, err := parseForm(line)
		if err != nil {
			panic("BUG: instruction table: " + err.Error())
		}
		m[f.mnem] = append(m[f.mnem], f)
	}
	return m
}

func parseForm(line string) (*form, error) {
	lhs, rhs, ok := strings.Cut(line, "|")
	if !ok {
		return nil, fmt.Errorf("%q: missing |", line)
	}
	f := &form{modrm: -1, line: strings.TrimSpace(line)}
	lhs = strings.TrimSpace(lhs)
	mnem, opsText, _ := strings.Cut(lhs, " ")
	f.mnem = strings.ToLower(mnem)
	if opsText = strings.TrimSpace(opsText); opsText != "" {
		for _, o := range strings.Split(opsText, ",") {
			pt, err := parsePattern(strings.TrimSpace(o))
			if err != nil {
				return nil, fmt.Errorf("%q: %v", line, err)
			}
			f.ops = append(f.ops, pt)
			if f.osz == 0 && (pt.kind == pReg || pt.kind == pRM || pt.kind == pFixed) {
				f.osz = pt.size
			}
		}
	}
	for _, tok := range strings.Fields(rhs) {
		switch {
		case tok == "o16":
			f.o16 = true
		case tok == "REX.W":
			f.rexW = true
		case tok == "d64":
			f.d64 = true
		case tok == "/r":
			f.modrm = 8
		case len(tok) == 2 && tok[0] == '/' && tok[1] >= '0' && tok[1] <= '7':
			f.modrm = int(tok[1] - '0')
		case tok == "ib" || tok == "iw" || tok == "id" || tok == "io":
			f.imms = append(f.imms, map[string]int{"ib": 1, "iw": 2, "id": 4, "io": 8}[tok])
		case tok == "cb" || tok == "cd":
			f.rel = map[string]int{"cb": 1, "cd": 4}[tok]
		default:
			hex, plus := strings.CutSuffix(tok, "+r")
			v, err := strconv.ParseUint(hex, 16, 8)
			if err != nil || len(hex) != 2 {
				return nil, fmt.Errorf("%q: bad encoding token %q", line, tok)
			}
			f.opcode = append(f.opcode, byte(v))
			f.plusR = f.plusR || plus
		}
	}
	return f, nil
}

func parsePattern(s string) (pattern, error) {
	num := func(prefix string) (int, bool) {
		rest, ok := strings.CutPrefix(s, prefix)
		if !ok {
			return 0, false
		}
		n, err := strconv.Atoi(rest)
		return n, err == nil && (n == 8 || n == 16 || n == 32 || n == 64)
	}
	if r := registers[strings.ToLower(s)]; r != nil && s == strings.ToUpper(s) {
		return pattern{kind: pFixed, size: r.size, reg: r}, nil
	}
	if s == "1" {
		return pattern{kind: pOne}, nil
	}
	if s == "m" {
		return pattern{kind: pMem}, nil
	}
	for _, c := range []struct {
		prefix string
		kind   patKind
		signed bool
	}{{"r/m", pRM, false}, {"moffs", pMoffs, false}, {"simm", pImm, true}, {"imm", pImm, false}, {"rel", pRel, false}, {"r", pReg, false}, {"m", pMem, false}} {
		if n, ok := num(c.prefix); ok {
			return pattern{kind: c.kind, size: n, signed: c.signed}, nil
		}
	}
	return pattern{}, fmt.Errorf("bad operand pattern %q", s)
}
