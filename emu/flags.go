package emu

import "math/bits"

// Flag kinds: which operation last set the arithmetic flags (CPU.fk). The
// status bits are computed from the saved operands only when something
// reads them: a jcc after a cmp looks at the operands directly and RFLAGS
// is never assembled.
const (
	fkRaw   uint8 = iota // status bits are in rfl
	fkAdd                // fr = fa + fb
	fkAdc                // fr = fa + fb + fc
	fkSub                // fr = fa - fb (also cmp, cmpxchg)
	fkSbb                // fr = fa - fb - fc
	fkLogic              // fr = fa op fb for and/or/xor/test: CF = OF = 0
	fkInc                // fr = fa + 1; CF kept in fc
	fkDec                // fr = fa - 1; CF kept in fc
	fkNeg                // fr = -fa
	fkShl                // fr = fa << fb
	fkShr                // fr = fa >> fb, logical
	fkSar                // fr = fa >> fb, arithmetic
	fkMul                // CF = OF = fb; ZF, SF, PF from fr (undefined by the ISA)
)

// sizeMask[n] masks an n-byte value.
var sizeMask = [16]uint64{1: 0xff, 2: 0xffff, 4: 0xffffffff, 8: ^uint64(0)}

// setFlags records a flag-setting operation lazily. a, b and r are already
// truncated to sz bytes.
func (c *CPU) setFlags(k, sz uint8, a, b, r uint64) {
	c.fk, c.fsz, c.fa, c.fb, c.fr = k, sz, a, b, r
}

// carry returns CF as 0 or 1.
func (c *CPU) carry() uint64 {
	switch c.fk {
	case fkSub:
		if c.fa < c.fb {
			return 1
		}
		return 0
	case fkLogic:
		return 0
	case fkAdd:
		if c.fr < c.fa {
			return 1
		}
		return 0
	case fkInc, fkDec:
		return c.fc & FlagCF
	}
	return c.status() & FlagCF
}

// setCarry sets CF to cf (0 or 1) and leaves the other status bits as they
// are, turning the lazy state into raw bits.
func (c *CPU) setCarry(cf uint64) {
	c.rfl = c.rfl&^flagsStatus | c.status()&^FlagCF | cf&1
	c.fk = fkRaw
}

// status computes the six arithmetic status bits of RFLAGS.
func (c *CPU) status() uint64 {
	if c.fk == fkRaw {
		return c.rfl & flagsStatus
	}
	nbits := uint64(c.fsz) * 8
	sb := uint64(1) << (nbits - 1)
	a, b, r := c.fa, c.fb, c.fr
	var f uint64
	if r == 0 {
		f |= FlagZF
	}
	if r&sb != 0 {
		f |= FlagSF
	}
	if bits.OnesCount8(uint8(r))&1 == 0 {
		f |= FlagPF
	}
	switch c.fk {
	case fkAdd:
		f |= b2f(r < a, FlagCF) | b2f((a^r)&(b^r)&sb != 0, FlagOF) | (a^b^r)&FlagAF
	case fkAdc:
		f |= b2f(r < a || (c.fc != 0 && r == a), FlagCF) | b2f((a^r)&(b^r)&sb != 0, FlagOF) | (a^b^r)&FlagAF
	case fkSub:
		f |= b2f(a < b, FlagCF) | b2f((a^b)&(a^r)&sb != 0, FlagOF) | (a^b^r)&FlagAF
	case fkSbb:
		f |= b2f(a < b || (c.fc != 0 && a == b), FlagCF) | b2f((a^b)&(a^r)&sb != 0, FlagOF) | (a^b^r)&FlagAF
	case fkLogic:
	case fkInc:
		f |= c.fc&FlagCF | b2f(r == sb, FlagOF) | b2f(r&0xf == 0, FlagAF)
	case fkDec:
		f |= c.fc&FlagCF | b2f(a == sb, FlagOF) | b2f(a&0xf == 0, FlagAF)
	case fkNeg:
		f |= b2f(a != 0, FlagCF) | b2f(a == sb, FlagOF) | (a^r)&FlagAF
	case fkShl:
		var cf uint64
		if b <= nbits {
			cf = a >> (nbits - b) & 1
		}
		f |= cf | b2f((r>>(nbits-1))&1 != cf, FlagOF)
	case fkShr:
		var cf uint64
		if b <= nbits {
			cf = a >> (b - 1) & 1
		}
		f |= cf | b2f(a&sb != 0, FlagOF)
	case fkSar:
		sa := int64(a<<(64-nbits)) >> (64 - nbits)
		f |= uint64(sa>>min(b-1, 63)) & 1
	case fkMul:
		f |= b2f(b != 0, FlagCF|FlagOF)
	}
	return f
}

func b2f(cond bool, flag uint64) uint64 {
	if cond {
		return flag
	}
	return 0
}

// cond evaluates a condition code against the current flags. After cmp
// and the logic ops, the common conditions are answered from the operands.
func (c *CPU) cond(cc uint8) bool {
	switch c.fk {
	case fkSub:
		a, b := c.fa, c.fb
		switch cc {
		case 2: // b
			return a < b
		case 3: // ae
			return a >= b
		case 4: // e
			return a == b
		case 5: // ne
			return a != b
		case 6: // be
			return a <= b
		case 7: // a
			return a > b
		case 12, 13, 14, 15: // l, ge, le, g
			sh := 64 - 8*uint(c.fsz)
			sa, sb := int64(a<<sh), int64(b<<sh)
			switch cc {
			case 12:
				return sa < sb
			case 13:
				return sa >= sb
			case 14:
				return sa <= sb
			}
			return sa > sb
		}
	case fkLogic:
		r := c.fr
		neg := r>>(8*uint(c.fsz)-1) != 0
		switch cc {
		case 4:
			return r == 0
		case 5:
			return r != 0
		case 8, 12: // s, l (OF = 0)
			return neg
		case 9, 13: // ns, ge
			return !neg
		case 14: // le
			return r == 0 || neg
		case 15: // g
			return r != 0 && !neg
		}
	}
	return condFlags(cc, c.status())
}

// condFlags evaluates a condition code on RFLAGS bits.
func condFlags(cc uint8, f uint64) bool {
	var v bool
	switch cc >> 1 {
	case 0:
		v = f&FlagOF != 0
	case 1:
		v = f&FlagCF != 0
	case 2:
		v = f&FlagZF != 0
	case 3:
		v = f&(FlagCF|FlagZF) != 0
	case 4:
		v = f&FlagSF != 0
	case 5:
		v = f&FlagPF != 0
	case 6:
		v = (f&FlagSF != 0) != (f&FlagOF != 0)
	case 7:
		v = f&FlagZF != 0 || (f&FlagSF != 0) != (f&FlagOF != 0)
	}
	return v != (cc&1 != 0)
}
