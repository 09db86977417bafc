package emu

// Write watchpoints: a debugger's "stop after a write to this range".
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
func (m *Memory) Watch(addr, n uint64) error {
	if err := m.check(addr, n); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	m.watches = append(m.watches, watchRange{addr, addr + n})
	first, cnt, _ := pageRange(addr, n)
	for i := uint64(0); i < cnt; i++ {
		p := m.pages[first+i]
		p.watch++
		m.flushPageW(p)
	}
	return nil
}

// Unwatch removes a range set with Watch (the same addr and n).
func (m *Memory) Unwatch(addr, n uint64) {
	for i, w := range m.watches {
		if w.lo != addr || w.hi != addr+n {
			continue
		}
		m.watches = append(m.watches[:i], m.watches[i+1:]...)
		first, cnt, _ := pageRange(addr, n)
		for j := uint64(0); j < cnt; j++ {
			if p := m.pages[first+j]; p != nil && p.watch > 0 {
				p.watch--
			}
		}
		return
	}
}

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
	m.watchHit, m.watchAddr = false, 0
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
	if p.watch == 0 {
		return
	}
	lo, hi := p.vpn<<12, p.vpn<<12+PageSize
	var gone []watchRange
	for _, w := range m.watches {
		if w.lo < hi && lo < w.hi {
			gone = append(gone, w)
		}
	}
	for _, w := range gone {
		m.Unwatch(w.lo, w.hi-w.lo)
	}
}
