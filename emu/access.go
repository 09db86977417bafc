package emu

import (
	"encoding/binary"

	"klpsim/isa"
)

// Guest data accesses. The fast paths hit a direct-mapped TLB entry and do
// not cross a page; everything else (misses, page-crossing accesses,
// stores to pages holding code, faults) goes through the slow paths.

// rfast and wfast probe the TLB for an n-byte access at a that stays on
// one page. They are small enough to inline into the interpreter's fast
// kinds, which call the slow path themselves on a nil result; load64 and
// friends cannot be inlined (the slow call alone exceeds Go's budget).
func (c *CPU) rfast(a, n uint64) *[PageSize]byte {
	e := &c.rt[tlbIndex(a>>12)]
	if e.vpn == a>>12 && a&(PageSize-1) <= PageSize-n {
		return &e.p.data
	}
	return nil
}

// rhit and whit probe the TLB for the page of a, for the interpreter's
// fast kinds, which check the offset themselves (off <= PageSize-8, so
// that no access crosses the page and the compiler drops its bounds
// checks) and call the slow path on a miss.
func (c *CPU) rhit(a uint64) *[PageSize]byte {
	if e := &c.rt[tlbIndex(a>>12)]; e.vpn == a>>12 {
		return &e.p.data
	}
	return nil
}

func (c *CPU) whit(a uint64) *[PageSize]byte {
	if e := &c.wt[tlbIndex(a>>12)]; e.vpn == a>>12 {
		return &e.p.data
	}
	return nil
}

func (c *CPU) wfast(a, n uint64) *[PageSize]byte {
	e := &c.wt[tlbIndex(a>>12)]
	if e.vpn == a>>12 && a&(PageSize-1) <= PageSize-n {
		return &e.p.data
	}
	return nil
}

func (c *CPU) load64(a uint64) uint64 {
	e := &c.rt[tlbIndex(a>>12)]
	if off := a & (PageSize - 1); e.vpn == a>>12 && off <= PageSize-8 {
		return binary.LittleEndian.Uint64(e.p.data[off:])
	}
	return c.loadSlow(a, 8)
}

func (c *CPU) load32(a uint64) uint64 {
	e := &c.rt[tlbIndex(a>>12)]
	if off := a & (PageSize - 1); e.vpn == a>>12 && off <= PageSize-4 {
		return uint64(binary.LittleEndian.Uint32(e.p.data[off:]))
	}
	return c.loadSlow(a, 4)
}

func (c *CPU) store64(a, v uint64) {
	e := &c.wt[tlbIndex(a>>12)]
	if off := a & (PageSize - 1); e.vpn == a>>12 && off <= PageSize-8 {
		binary.LittleEndian.PutUint64(e.p.data[off:], v)
		return
	}
	c.storeSlow(a, v, 8)
}

func (c *CPU) store32(a, v uint64) {
	e := &c.wt[tlbIndex(a>>12)]
	if off := a & (PageSize - 1); e.vpn == a>>12 && off <= PageSize-4 {
		binary.LittleEndian.PutUint32(e.p.data[off:], uint32(v))
		return
	}
	c.storeSlow(a, v, 4)
}

// load reads sz (1, 2, 4 or 8) bytes at a.
func (c *CPU) load(sz uint8, a uint64) uint64 {
	switch sz {
	case 8:
		return c.load64(a)
	case 4:
		return c.load32(a)
	case 1:
		if d := c.rfast(a, 1); d != nil {
			return uint64(d[a&(PageSize-1)])
		}
	case 2:
		if d := c.rfast(a, 2); d != nil {
			return uint64(binary.LittleEndian.Uint16(d[a&(PageSize-1):]))
		}
	}
	return c.loadSlow(a, sz)
}

// store writes the low sz bytes of v at a.
func (c *CPU) store(sz uint8, a, v uint64) {
	switch sz {
	case 8:
		c.store64(a, v)
	case 4:
		c.store32(a, v)
	case 1:
		if d := c.wfast(a, 1); d != nil {
			d[a&(PageSize-1)] = byte(v)
			return
		}
		c.storeSlow(a, v, sz)
	default:
		if d := c.wfast(a, 2); d != nil && sz == 2 {
			binary.LittleEndian.PutUint16(d[a&(PageSize-1):], uint16(v))
			return
		}
		c.storeSlow(a, v, sz)
	}
}

// rpage returns the page for a read at a, filling the TLB, or faults.
func (c *CPU) rpage(a uint64) *page {
	e := &c.rt[tlbIndex(a>>12)]
	if e.vpn == a>>12 {
		return e.p
	}
	if !canonical(a) {
		c.fault(VecGP, 0, 0)
	}
	p := c.mem.pages[a>>12]
	if p == nil || p.perm&PermR == 0 || (c.CPL == 3 && p.perm&PermUser == 0) {
		c.pageFault(a, p, false, false)
	}
	if p.rwatch != 0 {
		return p // read-watched: every load comes back to loadSlow
	}
	*e = tlbEntry{vpn: a >> 12, p: p}
	return p
}

// wpage returns the page for a write at a, or faults. Pages with decoded
// code are never cached for writing, so that storeSlow sees every write to
// them and drops the ops it makes stale.
func (c *CPU) wpage(a uint64) *page {
	e := &c.wt[tlbIndex(a>>12)]
	if e.vpn == a>>12 {
		return e.p
	}
	if !canonical(a) {
		c.fault(VecGP, 0, 0)
	}
	p := c.mem.pages[a>>12]
	if p == nil || p.perm&PermW == 0 || (c.CPL == 3 && p.perm&PermUser == 0) {
		c.pageFault(a, p, true, false)
	}
	if p.code != nil || p.spill != 0 || p.watch != 0 || p.saved != c.mem.wgen {
		return p
	}
	*e = tlbEntry{vpn: a >> 12, p: p}
	return p
}

// loadSlowAt and storeSlowAt are the slow paths of the ops
// of a block, at rip: rip is only kept up to date at block boundaries,
// so before anything can fault or stop at a watchpoint they set it.
func (c *CPU) loadSlowAt(rip, a uint64, sz uint8) uint64 {
	c.RIP = rip
	return c.loadSlow(a, sz)
}

func (c *CPU) storeSlowAt(rip, a, v uint64, sz uint8) {
	c.RIP = rip
	c.storeSlow(a, v, sz)
}

func (c *CPU) loadSlow(a uint64, sz uint8) uint64 {
	p := c.rpage(a)
	off := a & (PageSize - 1)
	if off+uint64(sz) <= PageSize {
		if p.rwatch != 0 {
			c.readWatch(a, uint64(sz))
		}
		switch sz {
		case 1:
			return uint64(p.data[off])
		case 2:
			return uint64(binary.LittleEndian.Uint16(p.data[off:]))
		case 4:
			return uint64(binary.LittleEndian.Uint32(p.data[off:]))
		}
		return binary.LittleEndian.Uint64(p.data[off:])
	}
	// Crosses into the next page: both must be readable before any byte
	// counts.
	q := c.rpage((a + uint64(sz) - 1) &^ (PageSize - 1))
	if p.rwatch != 0 || q.rwatch != 0 {
		c.readWatch(a, uint64(sz))
	}
	var v uint64
	for i := uint8(0); i < sz; i++ {
		b := a + uint64(i)
		pg := p
		if b>>12 != a>>12 {
			pg = q
		}
		v |= uint64(pg.data[b&(PageSize-1)]) << (8 * i)
	}
	return v
}

func (c *CPU) storeSlow(a, v uint64, sz uint8) {
	p := c.wpage(a)
	off := a & (PageSize - 1)
	if off+uint64(sz) <= PageSize {
		c.mem.save(p)
		switch sz {
		case 1:
			p.data[off] = byte(v)
		case 2:
			binary.LittleEndian.PutUint16(p.data[off:], uint16(v))
		case 4:
			binary.LittleEndian.PutUint32(p.data[off:], uint32(v))
		default:
			binary.LittleEndian.PutUint64(p.data[off:], v)
		}
		c.mem.written(p, off, uint64(sz))
		if p.watch != 0 {
			c.watchStop()
		}
		return
	}
	q := c.wpage((a + uint64(sz) - 1) &^ (PageSize - 1))
	c.mem.save(p)
	c.mem.save(q)
	for i := uint8(0); i < sz; i++ {
		b := a + uint64(i)
		pg := p
		if b>>12 != a>>12 {
			pg = q
		}
		pg.data[b&(PageSize-1)] = byte(v >> (8 * i))
	}
	c.mem.written(p, off, PageSize-off)
	c.mem.written(q, 0, off+uint64(sz)-PageSize)
	if p.watch != 0 || q.watch != 0 {
		c.watchStop()
	}
}

// xpage returns the page holding code at a, checking execute permission.
// A small TLB of its own saves the page-map lookup when rip moves between
// pages (calls, syscall entry and exit).
func (c *CPU) xpage(a uint64) *page {
	e := &c.xt[tlbIndex(a>>12)&xtlbMask]
	if e.vpn == a>>12 {
		return e.p
	}
	if !canonical(a) {
		c.fault(VecGP, 0, 0)
	}
	p := c.mem.pages[a>>12]
	if p == nil || p.perm&PermX == 0 || (c.CPL == 3 && p.perm&PermUser == 0) {
		c.pageFault(a, p, false, true)
	}
	*e = tlbEntry{vpn: a >> 12, p: p}
	return p
}

// decode decodes and caches the instruction at c.RIP, making its page the
// current code page, and returns the op.
func (c *CPU) decode() *isa.Op {
	rip := c.RIP
	p := c.xpage(rip)
	if p.code == nil {
		p.code = newCodePage()
		c.mem.flushPageW(p)
	}
	c.cp, c.cpBase, c.cpPage, c.bstale = p.code, rip&^(PageSize-1), p, false
	off := rip & (PageSize - 1)
	if i := p.code.idx[off]; i != 0 {
		return &p.code.ops[i]
	}
	var buf [isa.MaxInstLen]byte
	n := copy(buf[:], p.data[off:])
	var q *page
	if n < len(buf) {
		// The instruction may continue on the next page; its bytes count
		// only if that page is executable too.
		if nq := c.mem.pages[p.vpn+1]; nq != nil && nq.perm&PermX != 0 &&
			(c.CPL == 0 || nq.perm&PermUser != 0) && canonical(rip+uint64(n)) {
			q = nq
			n += copy(buf[n:], q.data[:])
		}
	}
	in, err := isa.Decode(buf[:n])
	if err != nil && q == nil && n < len(buf) {
		c.xpage(rip + uint64(n)) // faults: the fetch ran off the page
	}
	if err == nil && int(off)+in.Len > PageSize {
		q.spill = max(q.spill, uint8(int(off)+in.Len-PageSize))
		if q.code == nil {
			// Writes to q must reach written() to drop p's ops too.
			c.mem.flushPageW(q)
		}
	}
	if err != nil {
		// Not cached with a length: every byte the decoder looked at.
		p.code.cover(off, off+uint64(n))
		return c.addOp(p, off, isa.Op{Kind: isa.KUD, Len: 1})
	}
	return c.cacheOp(p, off, in)
}

// cacheOp lowers in, decoded at offset off of p, and caches the op.
func (c *CPU) cacheOp(p *page, off uint64, in isa.Inst) *isa.Op {
	p.code.cover(off, off+uint64(in.Len))
	return c.addOp(p, off, isa.Lower(in, p.vpn<<12+off))
}

// addOp caches op as the one at offset off of p, with its breakpoint bit.
func (c *CPU) addOp(p *page, off uint64, op isa.Op) *isa.Op {
	if c.mem.bps[p.vpn<<12+off] {
		op.Trap |= isa.TrapBreak
	}
	op.End = uint16(off) + uint16(op.Len)
	if len(p.code.ops) >= 1<<16 {
		// Pathological: more distinct entry points than a page has bytes
		// cannot happen, but never index out of range.
		panic("BUG: emu: code page op table full")
	}
	p.code.ops = append(p.code.ops, op)
	p.code.idx[off] = uint16(len(p.code.ops) - 1)
	return &p.code.ops[len(p.code.ops)-1]
}

// ReadU64 reads a 64-bit value as this CPU sees memory at its current
// privilege, through its TLB, for host code on a hot path (ftrace
// handlers reading pt_regs). It ignores permissions like Memory.ReadU64,
// which it falls back to on a TLB miss.
func (c *CPU) ReadU64(a uint64) (uint64, error) {
	if d := c.rfast(a, 8); d != nil {
		return binary.LittleEndian.Uint64(d[a&(PageSize-1):]), nil
	}
	return c.mem.ReadU64(a)
}

// WriteU64 is the write twin of ReadU64. A hit in the write TLB is a page
// without decoded code, so no cache can go stale; everything else goes
// through Memory.Write, the one path that invalidates.
func (c *CPU) WriteU64(a, v uint64) error {
	if d := c.wfast(a, 8); d != nil {
		binary.LittleEndian.PutUint64(d[a&(PageSize-1):], v)
		return nil
	}
	return c.mem.WriteU64(a, v)
}
