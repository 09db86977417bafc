package emu

import (
	"encoding/binary"

	"klpsim/isa"
)

// Xmm is a 128-bit XMM register: Xmm[0] holds bits 0–63.
type Xmm [2]uint64

func (x Xmm) bytes() (b [16]byte) {
	binary.LittleEndian.PutUint64(b[:8], x[0])
	binary.LittleEndian.PutUint64(b[8:], x[1])
	return b
}

func xmmOf(b [16]byte) Xmm {
	return Xmm{binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])}
}

// load128 reads 16 bytes at a; aligned raises #GP for a misaligned
// address, as the legacy SSE m128 operands do.
func (c *CPU) load128(a uint64, aligned bool) Xmm {
	if aligned && a&15 != 0 {
		c.fault(VecGP, 0, 0)
	}
	lo := c.load64(a)
	return Xmm{lo, c.load64(a + 8)}
}

// store128 writes 16 bytes at a, after checking that both ends may be
// written, so that a fault leaves memory untouched.
func (c *CPU) store128(a uint64, v Xmm, aligned bool) {
	if aligned && a&15 != 0 {
		c.fault(VecGP, 0, 0)
	}
	c.wpage(a)
	c.wpage(a + 15)
	c.store64(a, v[0])
	c.store64(a+8, v[1])
}

// xsrc reads op's B operand as 128 bits (an XMM register or memory).
func (c *CPU) xsrc(op *isa.Op) Xmm {
	if op.B == isa.OpdMem {
		return c.load128(c.ea(op), op.Sz2 == isa.SseAligned)
	}
	return c.X[op.R2&15]
}

// sse executes a KSse op (isa/sse.go lists the operations).
func (c *CPU) sse(op *isa.Op) {
	switch op.Cond {
	case isa.SseMov:
		v := c.xsrc(op)
		if op.A == isa.OpdMem {
			c.store128(c.ea(op), v, op.Sz2 == isa.SseAligned)
			return
		}
		c.X[op.R1&15] = v
		return
	case isa.SseMovd:
		var v uint64
		switch op.B {
		case isa.OpdXmm:
			v = c.X[op.R2&15][0] & sizeMask[op.Sz&15]
		case isa.OpdReg:
			v = c.R[op.R2&15] & sizeMask[op.Sz&15]
		default:
			v = c.load(op.Sz, c.ea(op))
		}
		switch op.A {
		case isa.OpdXmm:
			c.X[op.R1&15] = Xmm{v, 0}
		case isa.OpdReg:
			c.R[op.R1&15] = v // 32-bit writes zero-extend
		default:
			c.store(op.Sz, c.ea(op), v)
		}
		return
	case isa.SseMovlps, isa.SseMovhps:
		h := 0
		if op.Cond == isa.SseMovhps {
			h = 1
		}
		if op.A == isa.OpdMem {
			c.store64(c.ea(op), c.X[op.R2&15][h])
		} else {
			c.X[op.R1&15][h] = c.load64(c.ea(op))
		}
		return
	case isa.SseMovlhps:
		c.X[op.R1&15][1] = c.X[op.R2&15][0]
		return
	case isa.SseMovhlps:
		c.X[op.R1&15][0] = c.X[op.R2&15][1]
		return
	case isa.SseMovq2:
		c.X[op.R1&15] = Xmm{c.X[op.R2&15][0], 0}
		return
	case isa.SsePmovmskb:
		b := c.X[op.R2&15].bytes()
		var m uint64
		for i, x := range b {
			m |= uint64(x>>7) << i
		}
		c.R[op.R1&15] = m
		return
	}
	d := &c.X[op.R1&15]
	switch op.Cond {
	case isa.SsePslldq, isa.SsePsrldq:
		b := d.bytes()
		var r [16]byte
		n := int(op.Imm)
		for i := range r {
			j := i - n
			if op.Cond == isa.SsePsrldq {
				j = i + n
			}
			if j >= 0 && j < 16 {
				r[i] = b[j]
			}
		}
		*d = xmmOf(r)
		return
	case isa.SsePsllq, isa.SsePsrlq, isa.SsePslld, isa.SsePsrld, isa.SsePsllw, isa.SsePsrlw:
		*d = shiftLanes(*d, op.Cond, uint(op.Imm))
		return
	}
	s := c.xsrc(op)
	switch op.Cond {
	case isa.SsePxor:
		*d = Xmm{d[0] ^ s[0], d[1] ^ s[1]}
	case isa.SsePor:
		*d = Xmm{d[0] | s[0], d[1] | s[1]}
	case isa.SsePand:
		*d = Xmm{d[0] & s[0], d[1] & s[1]}
	case isa.SsePandn:
		*d = Xmm{^d[0] & s[0], ^d[1] & s[1]}
	case isa.SsePshufd:
		var w [4]uint32
		for i := range w {
			k := op.Imm >> (2 * i) & 3
			w[i] = uint32(s[k/2] >> (32 * (k % 2)))
		}
		*d = Xmm{uint64(w[0]) | uint64(w[1])<<32, uint64(w[2]) | uint64(w[3])<<32}
	case isa.SsePunpcklbw, isa.SsePunpcklwd, isa.SsePunpckldq, isa.SsePunpcklqdq,
		isa.SsePunpckhbw, isa.SsePunpckhwd, isa.SsePunpckhdq, isa.SsePunpckhqdq:
		*d = unpack(*d, s, op.Cond)
	case isa.SsePackuswb:
		var r [16]byte
		for i, x := range [2]Xmm{*d, s} {
			for j := 0; j < 8; j++ {
				w := int16(x[j/4] >> (16 * (j % 4)))
				r[8*i+j] = byte(min(max(w, 0), 255))
			}
		}
		*d = xmmOf(r)
	default:
		*d = laneOp(*d, s, op.Cond)
	}
}

// laneOp applies a per-lane compare or arithmetic operation.
func laneOp(d, s Xmm, k uint8) Xmm {
	a, b := d.bytes(), s.bytes()
	var r [16]byte
	w := 1 // lane width in bytes
	switch k {
	case isa.SsePcmpeqw, isa.SsePsubw, isa.SsePaddw:
		w = 2
	case isa.SsePcmpeqd, isa.SsePsubd, isa.SsePaddd:
		w = 4
	case isa.SsePsubq, isa.SsePaddq:
		w = 8
	}
	for i := 0; i < 16; i += w {
		var x, y uint64
		for j := w - 1; j >= 0; j-- {
			x, y = x<<8|uint64(a[i+j]), y<<8|uint64(b[i+j])
		}
		var v uint64
		switch k {
		case isa.SsePcmpeqb, isa.SsePcmpeqw, isa.SsePcmpeqd:
			if x == y {
				v = ^uint64(0)
			}
		case isa.SsePcmpgtb:
			if int8(x) > int8(y) {
				v = 0xff
			}
		case isa.SsePminub:
			v = min(x, y)
		case isa.SsePmaxub:
			v = max(x, y)
		case isa.SsePsubb, isa.SsePsubw, isa.SsePsubd, isa.SsePsubq:
			v = x - y
		default: // the adds
			v = x + y
		}
		for j := 0; j < w; j++ {
			r[i+j] = byte(v >> (8 * j))
		}
	}
	return xmmOf(r)
}

// unpack interleaves the low (or high) halves of d and s, lane by lane.
func unpack(d, s Xmm, k uint8) Xmm {
	a, b := d.bytes(), s.bytes()
	w, off := 1, 0
	switch k {
	case isa.SsePunpcklwd, isa.SsePunpckhwd:
		w = 2
	case isa.SsePunpckldq, isa.SsePunpckhdq:
		w = 4
	case isa.SsePunpcklqdq, isa.SsePunpckhqdq:
		w = 8
	}
	if k >= isa.SsePunpckhbw {
		off = 8
	}
	var r [16]byte
	for i := 0; i < 8/w; i++ {
		copy(r[2*i*w:], a[off+i*w:off+(i+1)*w])
		copy(r[(2*i+1)*w:], b[off+i*w:off+(i+1)*w])
	}
	return xmmOf(r)
}

// shiftLanes shifts each word, dword or qword by n bits; a count at least
// the lane width clears it.
func shiftLanes(d Xmm, k uint8, n uint) Xmm {
	w := uint(64)
	switch k {
	case isa.SsePslld, isa.SsePsrld:
		w = 32
	case isa.SsePsllw, isa.SsePsrlw:
		w = 16
	}
	left := k == isa.SsePsllq || k == isa.SsePslld || k == isa.SsePsllw
	m := ^uint64(0) >> (64 - w)
	var r Xmm
	for h := range d {
		for i := uint(0); i < 64; i += w {
			v := d[h] >> i & m
			switch {
			case n >= w:
				v = 0
			case left:
				v = v << n & m
			default:
				v >>= n
			}
			r[h] |= v << i
		}
	}
	return r
}
