package emu

// Write and read watchpoints: a debugger's "stop after a write to (a read
// of) this range". Read watchpoints work the same way through the read
// TLB: a read-watched page is never cached for reading, so every load
// from it takes loadSlow, which checks the ranges. Instruction fetches
// are not reads here (gdb's rwatch is about data).
// A watched page is never cached in a write TLB (as a page holding code
// is not), so every guest store to it takes storeSlow, which reaches
// written; host writes reach written through Memory.Write. Unwatched
// pages pay nothing: the check is on the slow path only, and a page's
// watch count is looked at only there.

type watchRange struct{ lo, hi uint64 } // [lo, hi)

// Watch makes every write that touches [addr, addr+n) record a hit
// (TakeWatchHit); a CPU whose store hit ends its Run with ExitBudget right
// after that instruction. The range must be mapped; unmapping a page drops
// the watches on it.
func (m *Memory) Watch(addr, n uint64) error { return m.addWatch(false, addr, n) }

// Unwatch removes a range set with Watch (the same addr and n).
func (m *Memory) Unwatch(addr, n uint64) { m.removeWatch(false, addr, n) }

// WatchRead makes every guest load that touches [addr, addr+n) record a
// hit (TakeWatchHit, TakeWatchKind), as Watch does for writes; the CPU
// stops right after the instruction. Host reads (Memory.Read) do not hit.
func (m *Memory) WatchRead(addr, n uint64) error { return m.addWatch(true, addr, n) }

// UnwatchRead removes a range set with WatchRead (the same addr and n).
func (m *Memory) UnwatchRead(addr, n uint64) { m.removeWatch(true, addr, n) }

// watchSet is the list of write (read) watches and a page's count of them.
func (m *Memory) watchSet(read bool) (*[]watchRange, func(*page) *uint16) {
	if read {
		return &m.rwatches, func(p *page) *uint16 { return &p.rwatch }
	}
	return &m.watches, func(p *page) *uint16 { return &p.watch }
}

func (m *Memory) addWatch(read bool, addr, n uint64) error {
	if err := m.check(addr, n); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	list, count := m.watchSet(read)
	*list = append(*list, watchRange{addr, addr + n})
	first, cnt, _ := pageRange(addr, n)
	for i := uint64(0); i < cnt; i++ {
		p := m.pages[first+i]
		*count(p)++
		// Out of the TLB the access goes through, so it takes the slow
		// path that checks the ranges.
		if read {
			m.flushPageR(p)
		} else {
			m.flushPageW(p)
		}
	}
	return nil
}

func (m *Memory) removeWatch(read bool, addr, n uint64) {
	list, count := m.watchSet(read)
	for i, w := range *list {
		if w.lo != addr || w.hi != addr+n {
			continue
		}
		*list = append((*list)[:i], (*list)[i+1:]...)
		first, cnt, _ := pageRange(addr, n)
		for j := uint64(0); j < cnt; j++ {
			if p := m.pages[first+j]; p != nil && *count(p) > 0 {
				*count(p)--
			}
		}
		return
	}
}

// readWatch is a load of [a, a+n) from a read-watched page: a hit, and
// the stop after this instruction, when it overlaps a watched range.
func (c *CPU) readWatch(a, n uint64) {
	m := c.mem
	for _, w := range m.rwatches {
		if a < w.hi && w.lo < a+n {
			if !m.watchHit {
				m.watchHit, m.watchAddr, m.watchRead = true, max(a, w.lo), true
			}
			c.watchStop()
			return
		}
	}
}

// TakeWatchKind reports whether the hit TakeWatchHit is about to return
// (or returned last) was a read; call it before TakeWatchHit.
func (m *Memory) TakeWatchKind() (read bool) { return m.watchRead }

// checkWatch records a hit when [a, a+n) overlaps a watched range.
func (m *Memory) checkWatch(a, n uint64) {
	for _, w := range m.watches {
		if a < w.hi && w.lo < a+n {
			if !m.watchHit {
				m.watchHit, m.watchAddr = true, max(a, w.lo)
			}
			return
		}
	}
}

// TakeWatchHit reports whether a write hit a watched range since the last
// call, and the first watched byte it wrote, and clears the hit.
func (m *Memory) TakeWatchHit() (addr uint64, hit bool) {
	addr, hit = m.watchAddr, m.watchHit
	m.watchHit, m.watchAddr, m.watchRead = false, 0, false
	return addr, hit
}

// watchStop ends the current Run after the instruction executing now,
// when a write it did hit a watchpoint: the rest of the budget is set
// aside (wleft) so the instruction count stays exact.
func (c *CPU) watchStop() {
	if !c.mem.watchHit {
		return
	}
	if c.blk != nil {
		// The rest of the block after this instruction was already
		// taken from the budget: set it aside too, and stop the block.
		c.left += c.blockRest() - 1
		c.blk, c.bstale = nil, true
	}
	c.wleft += c.left
	c.left = 0
}

// dropWatches forgets the watched ranges on a page being unmapped.
func (m *Memory) dropWatches(p *page) {
	lo, hi := p.vpn<<12, p.vpn<<12+PageSize
	for _, read := range []bool{false, true} {
		list, count := m.watchSet(read)
		if *count(p) == 0 {
			continue
		}
		var gone []watchRange
		for _, w := range *list {
			if w.lo < hi && lo < w.hi {
				gone = append(gone, w)
			}
		}
		for _, w := range gone {
			m.removeWatch(read, w.lo, w.hi-w.lo)
		}
	}
}
