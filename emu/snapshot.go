package emu

import "fmt"

// Checkpoints of guest memory and CPUs, for the debugger's reverse
// execution.
//
// Memory snapshots are copy-on-write and incremental: taking one copies
// nothing; the first change to a page after it (a guest store, a host
// write, a permission change, unmapping) first saves the page's contents
// into the newest snapshot. A snapshot therefore holds only the pages
// changed between it and the next one, and the memory as it was at
// snapshot i is, page by page, the copy saved by the earliest snapshot
// from i on that saved the page, or today's page when none did.
//
// Until the first change after a snapshot a page stays out of every
// write TLB (wpage checks page.saved against Memory.wgen), so the saving
// happens in the store slow path and the fast path stays as it was: one
// TLB probe. With no snapshot taken, wgen is 0 and so is every page's
// saved: nothing changes for a run without checkpoints.

// memSnap is one memory snapshot: the pages first changed after it (and
// before the next), as they were when it was taken. A nil entry is a page
// that was not mapped then.
type memSnap struct {
	gen   uint32
	pages map[uint64]*savedPage
}

type savedPage struct {
	data [PageSize]byte
	perm Perm
}

// MemSnapshot is a handle on a memory snapshot, for RestoreState.
type MemSnapshot = *memSnap

// SaveState takes a memory snapshot and returns its handle.
func (m *Memory) SaveState() any {
	m.gen++
	s := &memSnap{gen: m.gen, pages: map[uint64]*savedPage{}}
	m.chain = append(m.chain, s)
	m.wgen = s.gen
	m.flushWriteTLBs()
	return s
}

// RestoreState brings memory back to a snapshot SaveState returned. The
// snapshots taken after it are dropped (they describe a future the
// machine leaves); the snapshot itself stays, and can be restored again.
func (m *Memory) RestoreState(st any) {
	s := st.(*memSnap)
	i := m.chainIndex(s)
	for j := len(m.chain) - 1; j >= i; j-- {
		for vpn, sp := range m.chain[j].pages {
			m.restorePage(vpn, sp)
		}
	}
	clear(m.chain[i+1:])
	m.chain = m.chain[:i+1]
	m.wgen = s.gen
	m.resetSaved()
	m.flushTLBs()
}

// DropSnapshot forgets a snapshot, keeping the older ones restorable: the
// pages it saved that the snapshot before it did not are the older
// snapshot's to keep (unchanged between the two, so the same contents).
// Dropping the last one ends copy-on-write.
func (m *Memory) DropSnapshot(st any) {
	s := st.(*memSnap)
	i := m.chainIndex(s)
	if i > 0 {
		prev := m.chain[i-1]
		for vpn, sp := range s.pages {
			if _, ok := prev.pages[vpn]; !ok {
				prev.pages[vpn] = sp
			}
		}
	}
	m.chain = append(m.chain[:i], m.chain[i+1:]...)
	m.chain = m.chain[:len(m.chain):len(m.chain)]
	if len(m.chain) == 0 {
		m.wgen = 0
	} else {
		m.wgen = m.chain[len(m.chain)-1].gen
	}
	m.resetSaved()
}

// SnapshotPages is how many saved pages the live snapshots hold (their
// memory cost is that times PageSize).
func (m *Memory) SnapshotPages() int {
	n := 0
	for _, s := range m.chain {
		n += len(s.pages)
	}
	return n
}

func (m *Memory) chainIndex(s *memSnap) int {
	for i, c := range m.chain {
		if c == s {
			return i
		}
	}
	panic(fmt.Sprintf("BUG: emu: memory snapshot %d is not live", s.gen))
}

// resetSaved marks each page saved for the newest snapshot exactly when
// that snapshot holds it.
func (m *Memory) resetSaved() {
	var cur *memSnap
	if len(m.chain) > 0 {
		cur = m.chain[len(m.chain)-1]
	}
	for vpn, p := range m.pages {
		p.saved = 0
		if cur != nil {
			if _, ok := cur.pages[vpn]; ok {
				p.saved = cur.gen
			}
		}
	}
}

func (m *Memory) restorePage(vpn uint64, sp *savedPage) {
	p := m.pages[vpn]
	if prev := m.pages[vpn-1]; prev != nil {
		m.dropCode(prev) // its last instruction may run into this page
	}
	if sp == nil {
		if p != nil {
			m.dropCode(p)
			m.dropWatches(p)
			delete(m.pages, vpn)
		}
		return
	}
	if p == nil {
		p = &page{vpn: vpn}
		m.pages[vpn] = p
	}
	m.dropCode(p)
	p.data, p.perm, p.spill = sp.data, sp.perm, 0
}

// save keeps p's contents in the newest snapshot before its first change
// after it.
func (m *Memory) save(p *page) {
	if p.saved == m.wgen {
		return
	}
	p.saved = m.wgen
	s := m.chain[len(m.chain)-1]
	if _, ok := s.pages[p.vpn]; !ok {
		s.pages[p.vpn] = &savedPage{data: p.data, perm: p.perm}
	}
}

// mapped records that vpn was not mapped at the newest snapshot.
func (m *Memory) mapped(p *page) {
	if m.wgen == 0 {
		return
	}
	s := m.chain[len(m.chain)-1]
	if _, ok := s.pages[p.vpn]; !ok {
		s.pages[p.vpn] = nil
	}
	p.saved = m.wgen
}

func (m *Memory) flushWriteTLBs() {
	for _, c := range m.cpus {
		for k := range c.wtlb {
			for i := range c.wtlb[k] {
				c.wtlb[k][i] = tlbEntry{vpn: noVPN}
			}
		}
	}
}

// cpuState is a CPU's architectural state, and the breakpoint it resumes
// from.
type cpuState struct {
	R                            [32]uint64
	X                            [16]Xmm
	RIP                          uint64
	fk, fsz                      uint8
	fc, fa, fb, fr, rfl          uint64
	CPL                          uint8
	FSBase, GSBase, KernelGSBase uint64
	LSTAR, FMASK, TSC, Insns     uint64
	TrapSyscalls                 bool
	bpAt                         uint64
	bpSkip                       bool
}

// SaveState returns the CPU's state for RestoreState. It is taken between
// two Runs.
func (c *CPU) SaveState() any {
	return &cpuState{c.R, c.X, c.RIP, c.fk, c.fsz, c.fc, c.fa, c.fb, c.fr, c.rfl, c.CPL,
		c.FSBase, c.GSBase, c.KernelGSBase, c.LSTAR, c.FMASK, c.TSC, c.Insns, c.TrapSyscalls, c.bpAt, c.bpSkip}
}

// RestoreState puts back a state SaveState returned; the CPU's caches are
// emptied (the memory under them may have changed too).
func (c *CPU) RestoreState(st any) {
	s := st.(*cpuState)
	c.R, c.X, c.RIP = s.R, s.X, s.RIP
	c.fk, c.fsz, c.fc, c.fa, c.fb, c.fr, c.rfl = s.fk, s.fsz, s.fc, s.fa, s.fb, s.fr, s.rfl
	c.CPL = s.CPL
	c.FSBase, c.GSBase, c.KernelGSBase = s.FSBase, s.GSBase, s.KernelGSBase
	c.LSTAR, c.FMASK, c.TSC, c.Insns = s.LSTAR, s.FMASK, s.TSC, s.Insns
	c.TrapSyscalls, c.bpAt, c.bpSkip = s.TrapSyscalls, s.bpAt, s.bpSkip
	c.blk, c.bstale, c.left, c.budget, c.wleft = nil, false, 0, 0, 0
	c.exc, c.exit = Exception{}, Exit{}
	c.flushTLB()
}
