package emu

import (
	"encoding/binary"
	"fmt"

	"klpsim/isa"
)

// PageSize is the size of a guest page; mappings are in whole pages.
const PageSize = 4096

// Perm is a page's access permissions.
type Perm uint8

// Permission bits. A page without PermUser is reachable only at CPL 0, as
// with the U/S bit of an x86 page table entry.
const (
	PermR    Perm = 1 << iota // readable
	PermW                     // writable
	PermX                     // executable
	PermUser                  // accessible from user mode (CPL 3)

	PermRW  = PermR | PermW
	PermRX  = PermR | PermX
	PermRWX = PermR | PermW | PermX
)

func (p Perm) String() string {
	b := []byte("---k")
	if p&PermR != 0 {
		b[0] = 'r'
	}
	if p&PermW != 0 {
		b[1] = 'w'
	}
	if p&PermX != 0 {
		b[2] = 'x'
	}
	if p&PermUser != 0 {
		b[3] = 'u'
	}
	return string(b)
}

// page is one 4 KiB guest page.
type page struct {
	data [PageSize]byte
	perm Perm
	vpn  uint64 // address >> 12
	// code holds the ops decoded from this page, nil until an instruction
	// on it runs. While it is non-nil no CPU has the page in its write TLB,
	// so every store to it takes the slow path that drops the ops.
	code *codePage
	// spill is how many leading bytes of this page belong to instructions
	// that start on the previous page: a write to them must drop the
	// previous page's ops too.
	spill uint8
	// watch counts the watchpoints on this page (watch.go); while non-zero
	// no CPU caches the page for writing. rwatch counts the read
	// watchpoints; while non-zero no CPU caches it for reading.
	watch, rwatch uint16
	// deps are the pages with blocks that run on into this page's code
	// (block.go): dropping this page's code drops theirs.
	deps []*page
	// saved is the generation of the newest memory snapshot this page's
	// contents are saved in (snapshot.go); while it differs from
	// Memory.wgen the page stays out of the write TLBs.
	saved uint32
}

// codePage caches decoded ops for one page. idx maps a page offset to an
// index in ops; index 0 is a KDecode op, so an offset not decoded yet
// dispatches to the decoder with no extra branch in the interpreter.
// covered marks the bytes that decoded instructions were read from: only a
// write to one of those makes the cache stale, so data that shares a page
// with code does not force re-decoding.
type codePage struct {
	idx     [PageSize]uint16
	covered [PageSize / 64]uint64
	ops     []isa.Op
	// bidx maps an offset to the block starting there (block.go): an
	// index in blocks, 0 when not built yet, noBlock when there is none.
	bidx   [PageSize]uint16
	blocks []block
}

// cover marks [off, end) as read by the decoder.
func (cp *codePage) cover(off, end uint64) {
	for i := off; i < end && i < PageSize; i++ {
		cp.covered[i>>6] |= 1 << (i & 63)
	}
}

// overlaps reports whether any byte of [off, off+n) was decoded from.
func (cp *codePage) overlaps(off, n uint64) bool {
	for i := off; i < off+n && i < PageSize; i++ {
		if cp.covered[i>>6]>>(i&63)&1 != 0 {
			return true
		}
	}
	return false
}

func newCodePage() *codePage {
	cp := &codePage{ops: make([]isa.Op, 1, 64)}
	cp.ops[0] = isa.Op{Kind: isa.KDecode}
	return cp
}

// emptyCode is the code page a CPU points at when it has none: every
// offset decodes, and the decode path finds the real page.
var emptyCode = newCodePage()

// Memory is the guest physical-and-virtual address space: a sparse set of
// 4 KiB pages over the whole 64-bit range (kernel addresses such as
// 0xffffffff81000000 included). It is shared by the machine's CPUs, which
// are stepped one at a time by one goroutine: Memory is not safe for
// concurrent use.
type Memory struct {
	pages map[uint64]*page
	cpus  []*CPU
	// bps holds the addresses with a breakpoint; it is read only when an
	// instruction is decoded, to set TrapBreak in its op.
	bps map[uint64]bool
	// Write and read watchpoints (watch.go) and the hit not yet taken.
	watches   []watchRange
	rwatches  []watchRange
	watchHit  bool
	watchAddr uint64
	watchRead bool // the hit was a read
	// Memory snapshots (snapshot.go): the live ones, oldest first, the
	// last generation handed out, and the newest live one's (0: none).
	chain []*memSnap
	gen   uint32
	wgen  uint32
	// jit holds the translated code of this memory's blocks (jit.go);
	// nil until the first translation. A block is translated on its
	// jitHot-th run, unless noJIT.
	jit    *jitArena
	noJIT  bool
	jitHot uint32
}

// NewMemory returns an empty address space.
func NewMemory() *Memory {
	on, hot := jitSettings()
	return &Memory{pages: map[uint64]*page{}, bps: map[uint64]bool{}, noJIT: !on, jitHot: hot}
}

// Map maps [addr, addr+size) rounded out to whole pages, zero-filled, with
// perm. Mapping over an existing page is an error: nothing is changed.
func (m *Memory) Map(addr, size uint64, perm Perm) error {
	first, n, err := pageRange(addr, size)
	if err != nil {
		return err
	}
	for i := uint64(0); i < n; i++ {
		if m.pages[first+i] != nil {
			return fmt.Errorf("emu: map %#x+%#x: page %#x already mapped", addr, size, (first+i)<<12)
		}
	}
	for i := uint64(0); i < n; i++ {
		p := &page{perm: perm, vpn: first + i}
		m.pages[first+i] = p
		m.mapped(p)
	}
	return nil
}

// Unmap removes the pages of [addr, addr+size); unmapped pages are skipped.
func (m *Memory) Unmap(addr, size uint64) error {
	first, n, err := pageRange(addr, size)
	if err != nil {
		return err
	}
	for i := uint64(0); i < n; i++ {
		if p := m.pages[first+i]; p != nil {
			m.save(p)
			m.dropCode(p)
			m.dropWatches(p)
			delete(m.pages, first+i)
		}
	}
	m.flushTLBs()
	return nil
}

// Protect changes the permissions of the mapped pages of [addr, addr+size).
// Every page must be mapped; otherwise nothing changes.
func (m *Memory) Protect(addr, size uint64, perm Perm) error {
	first, n, err := pageRange(addr, size)
	if err != nil {
		return err
	}
	for i := uint64(0); i < n; i++ {
		if m.pages[first+i] == nil {
			return fmt.Errorf("emu: protect %#x+%#x: page %#x not mapped", addr, size, (first+i)<<12)
		}
	}
	for i := uint64(0); i < n; i++ {
		p := m.pages[first+i]
		m.save(p)
		p.perm = perm
		m.dropCode(p)
	}
	m.flushTLBs()
	return nil
}

// PermAt returns the permissions of the page holding addr.
func (m *Memory) PermAt(addr uint64) (Perm, bool) {
	p := m.pages[addr>>12]
	if p == nil {
		return 0, false
	}
	return p.perm, true
}

func pageRange(addr, size uint64) (first, n uint64, err error) {
	if size == 0 {
		return 0, 0, fmt.Errorf("emu: empty range at %#x", addr)
	}
	end := addr + size - 1
	if end < addr {
		return 0, 0, fmt.Errorf("emu: range %#x+%#x wraps", addr, size)
	}
	return addr >> 12, end>>12 - addr>>12 + 1, nil
}

// Read copies guest memory at addr into b, ignoring permissions (the host
// sees everything). It fails with a *UnmappedError naming the first
// missing page, before copying anything.
func (m *Memory) Read(addr uint64, b []byte) error {
	// Within one page (the unwinder's frame reads): one map lookup.
	if off := addr & (PageSize - 1); len(b) > 0 && off+uint64(len(b)) <= PageSize {
		p := m.pages[addr>>12]
		if p == nil {
			return &UnmappedError{Addr: addr}
		}
		copy(b, p.data[off:])
		return nil
	}
	if err := m.check(addr, uint64(len(b))); err != nil {
		return err
	}
	for len(b) > 0 {
		p := m.pages[addr>>12]
		n := copy(b, p.data[addr&(PageSize-1):])
		b, addr = b[n:], addr+uint64(n)
	}
	return nil
}

// Write copies b into guest memory at addr, ignoring permissions. It is the
// one path by which the host changes guest memory, text included (ftrace's
// nop/call pokes, module loading, breakpoints): decoded ops of every page
// it touches are dropped, so the next execution decodes the new bytes.
func (m *Memory) Write(addr uint64, b []byte) error {
	if err := m.check(addr, uint64(len(b))); err != nil {
		return err
	}
	for len(b) > 0 {
		p := m.pages[addr>>12]
		off := addr & (PageSize - 1)
		m.save(p)
		n := copy(p.data[off:], b)
		m.written(p, off, uint64(n))
		b, addr = b[n:], addr+uint64(n)
	}
	return nil
}

// UnmappedError reports a host access to an address with no page.
type UnmappedError struct{ Addr uint64 }

func (e *UnmappedError) Error() string { return fmt.Sprintf("emu: address %#x not mapped", e.Addr) }

func (m *Memory) check(addr, n uint64) error {
	if n == 0 {
		return nil
	}
	first, count, err := pageRange(addr, n)
	if err != nil {
		return err
	}
	for i := uint64(0); i < count; i++ {
		if m.pages[first+i] == nil {
			return &UnmappedError{Addr: max(addr, (first+i)<<12)}
		}
	}
	return nil
}

// ReadU64 reads a little-endian 64-bit value.
func (m *Memory) ReadU64(addr uint64) (uint64, error) {
	var b [8]byte
	if err := m.Read(addr, b[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// WriteU64 writes a little-endian 64-bit value.
func (m *Memory) WriteU64(addr, v uint64) error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	return m.Write(addr, b[:])
}

// SetBreakpoint makes every CPU stop with ExitBreakpoint before executing
// the instruction at addr.
func (m *Memory) SetBreakpoint(addr uint64) {
	m.bps[addr] = true
	if p := m.pages[addr>>12]; p != nil {
		m.dropCode(p)
	}
	// An instruction spanning into this page may start on the previous one.
	if p := m.pages[addr>>12-1]; p != nil {
		m.dropCode(p)
	}
}

// ClearBreakpoint removes a breakpoint set with SetBreakpoint.
func (m *Memory) ClearBreakpoint(addr uint64) {
	if !m.bps[addr] {
		return
	}
	delete(m.bps, addr)
	if p := m.pages[addr>>12]; p != nil {
		m.dropCode(p)
	}
}

// written is called for every write to [off, off+n) of a page that may
// hold code (host writes, and guest stores that miss the write TLB): it
// drops the decoded ops the write makes stale. Writes take effect before
// the next instruction is fetched; the instruction doing the write keeps
// its op.
func (m *Memory) written(p *page, off, n uint64) {
	if p.watch != 0 {
		m.checkWatch(p.vpn<<12+off, n)
	}
	if p.code != nil && p.code.overlaps(off, n) {
		m.dropCode(p)
	}
	if p.spill != 0 && off < uint64(p.spill) {
		p.spill = 0
		if prev := m.pages[p.vpn-1]; prev != nil {
			m.dropCode(prev)
		}
	}
}

// dropCode forgets p's decoded ops. A CPU executing on p keeps the op it
// is executing (the slice stays alive) and re-fetches before the next one.
func (m *Memory) dropCode(p *page) {
	if p.code == nil {
		return
	}
	p.code = nil
	for _, c := range m.cpus {
		if c.cpPage == p {
			c.cp, c.cpBase, c.cpPage = emptyCode, noCodeBase, nil
			c.bstale = true
		}
	}
	deps := p.deps
	p.deps = nil
	for _, d := range deps {
		m.dropCode(d)
	}
}

// flushTLBs empties every CPU's TLB (after unmap or a permission change).
func (m *Memory) flushTLBs() {
	for _, c := range m.cpus {
		c.flushTLB()
	}
}

// flushPageW removes p from every CPU's write TLB, so stores to it take the
// slow path; called when p starts holding decoded ops.
func (m *Memory) flushPageW(p *page) {
	for _, c := range m.cpus {
		for k := range c.wtlb {
			e := &c.wtlb[k][tlbIndex(p.vpn)]
			if e.vpn == p.vpn {
				*e = tlbEntry{vpn: noVPN}
			}
		}
	}
}

// flushPageR removes p from every CPU's read TLB, so loads from it take
// the slow path (a read watchpoint on it).
func (m *Memory) flushPageR(p *page) {
	for _, c := range m.cpus {
		for k := range c.rtlb {
			e := &c.rtlb[k][tlbIndex(p.vpn)]
			if e.vpn == p.vpn {
				*e = tlbEntry{vpn: noVPN}
			}
		}
	}
}
