package emu

import (
	"slices"

	"klpsim/isa"
)

// Basic blocks. The interpreter's per-instruction path finds each op by
// rip: offset from the code page base, the page's index, then the op, a
// chain of dependent loads before the switch can even start. A block is a
// run of straight-line ops copied into one slice, ending at the first
// branch: executing it walks the slice, and the next op's address is known
// without reading rip. Blocks live in their code page, so dropping the
// page's ops (a text poke, self-modifying code, a breakpoint set or
// cleared) drops its blocks too.
//
// A direct jmp or call whose target is on the same page does not end a
// block: the block goes on with the target's instructions (a superblock).
//
// A block holds only instructions that cannot leave Run, switch privilege
// or stop at a breakpoint; anything else ends the block before it and runs
// on the per-instruction path, as does any block longer than the budget
// left. So budgets, breakpoints, faults and instruction counts are exactly
// those of the per-instruction path.

const (
	// maxBlockOps bounds a block's length, so a budget rarely falls short
	// of a whole block.
	maxBlockOps = 64
	// noBlock in codePage.bidx: no block starts here (the first
	// instruction cannot be in one). 0 means not tried yet.
	noBlock = 0xffff
)

// block is a decoded basic block: ops to run in order, the last one
// possibly a branch. n is the number of instructions, which is more than
// len(ops) when compare-and-branch pairs are fused.
type block struct {
	ops []isa.Op
	n   uint64
	rip uint64 // the address of ops[0]
	fix bool   // the last op does not set rip (fixRIP)
	// link is where this block went last time (chain), kept out of line
	// so that blocks stay small.
	link *link
	// code is the block's translation (jit.go), 0 until it has run
	// jitHot times; hits counts the runs until then.
	code uintptr
	hits uint32
	// entries are the ops after untranslated ones where the translation
	// goes on (jit_amd64.go, compileBlock), in op order.
	entries []jitEntry
}

// resume is where the interpreter, going on at op i of a translated
// block, goes back into its translation: the index of the first entry
// after i and that entry's code, or the block's length and 0.
func (b *block) resume(i uint) (uint, uintptr) {
	for _, e := range b.entries {
		if uint(e.i) > i {
			return uint(e.i), b.code + uintptr(e.off)
		}
	}
	return uint(len(b.ops)), 0
}

// link is the block that ran after another one last time, when it starts
// at rip: the interpreter goes straight on to it without looking up the
// page and the block, while it is still what a fetch at rip would find.
type link struct {
	next *block
	rip  uint64
	cp   *codePage // next's code page, while still its page's
	page *page
	cpl  uint8 // the privilege level it was fetched at
}

// chain records blk, fetched the usual way, as the block after b.
func (b *block) chain(c *CPU, blk *block) {
	*b.link = link{next: blk, rip: blk.rip, cp: c.cp, page: c.cpPage, cpl: c.CPL}
}

// chained returns the block after b when it starts at rip and is still
// the block a fetch there would run: its page keeps the decoded code it
// was built in (a text poke, self-modifying code, a breakpoint, an unmap,
// a permission change or a snapshot restore drops it: TestChainFollowsChanges),
// the privilege level is the same, and it fits in the budget left.
func (b *block) chained(c *CPU) *block {
	l := b.link
	if l.rip == c.RIP && l.next != nil && l.page.code == l.cp && l.cpl == c.CPL && l.next.n <= c.left {
		return l.next
	}
	return nil
}

// blockEnd reports whether k ends a block (it is the block's last op).
func blockEnd(k isa.Kind) bool {
	switch k {
	case isa.KJcc, isa.KJccRel, isa.KJzRel, isa.KJnzRel, isa.KJmp, isa.KJmpRel,
		isa.KJmpInd, isa.KCall, isa.KCallRel, isa.KCallInd, isa.KCallR, isa.KRet, isa.KRetN, isa.KRetP:
		return true
	}
	return false
}

// blockSafe reports whether an op of kind k may run inside a block: it
// only changes registers, flags and memory and moves rip, and it never
// ends Run, changes privilege or re-executes itself. cli, sti, popfq and
// swapgs qualify: interrupts are taken between Runs, never inside one, and
// an fs/gs operand reads its base when it executes.
func blockSafe(k isa.Kind) bool {
	switch k {
	case isa.KDecode, isa.KUD, isa.KUD2, isa.KMovs, isa.KStos, isa.KInt3, isa.KInt,
		isa.KHlt, isa.KSyscall, isa.KSysret, isa.KIret, isa.KVmcall, isa.KRdtsc:
		return false
	}
	return true
}

// buildBlock builds the block starting at offset off of the current code
// page and returns its index in cp.blocks, or noBlock. It decodes ahead of
// rip, so it must never fault: it stops at an instruction that does not
// decode from this page's bytes alone.
func (c *CPU) buildBlock(off uint64) uint16 {
	p, cp := c.cpPage, c.cp
	var ops []isa.Op
	var seen [maxBlockOps]uint64 // addresses in the block, to never visit one twice
	var rets []uint64            // return addresses of the calls in the block, innermost last
	n := uint64(0)
	pg, cur := p, p // the page of the next op, and of the last one appended
	for o := off; len(ops) < maxBlockOps; {
		op := c.opAt(pg, o)
		if op == nil || op.Trap != 0 || !blockSafe(op.Kind) || o+uint64(op.Len) > PageSize {
			break
		}
		a := pg.vpn<<12 + o
		if pg != cur {
			// On into another page's code (a call, jmp or ret went
			// there): from here the ops' End is relative to its base.
			ops = append(ops, isa.Op{Kind: isa.KPage, Imm: pg.vpn << 12})
			if !slices.Contains(pg.deps, p) {
				pg.deps = append(pg.deps, p) // dropping pg's code drops this block
			}
			cur = pg
			if len(ops) == maxBlockOps {
				ops = ops[:len(ops)-1]
				break
			}
		}
		seen[n] = a
		ops = append(ops, *op)
		n++
		o += uint64(op.Len)
		if !blockEnd(op.Kind) {
			continue
		}
		// A forward conditional branch is most often not taken (compilers
		// lay the likely path out straight): the block goes on with the
		// fall-through path, and a taken branch leaves it early, giving
		// the rest back to the budget (sideExits).
		if condBranch(op.Kind) && op.Imm > a {
			continue
		}
		// Where a direct jmp or call goes, and a ret from a function the
		// block called most likely goes (that call's return address), the
		// block goes on, on this page or another (c.codePage). A ret that
		// finds another address on the stack leaves the block (KRetP, a
		// side exit like a taken branch). An address already in the block
		// ends it, so every address in a block is distinct (blockRest
		// finds an op by its address).
		var t uint64
		switch op.Kind {
		case isa.KJmpRel, isa.KCallRel:
			t = op.Imm
		case isa.KRetN:
			if len(rets) == 0 {
				break
			}
			t = rets[len(rets)-1]
			rets = rets[:len(rets)-1]
		}
		next := c.codePage(p, t)
		if next == nil || slices.Contains(seen[:n], t) {
			break
		}
		switch op.Kind {
		case isa.KCallRel:
			rets = append(rets, a+uint64(op.Len))
		case isa.KRetN:
			ops[len(ops)-1].Kind, ops[len(ops)-1].Imm = isa.KRetP, t
		}
		pg, o = next, t&(PageSize-1)
	}
	if n == 0 || len(cp.blocks) >= noBlock-1 {
		cp.bidx[off] = noBlock
		return noBlock
	}
	if last := &ops[len(ops)-1]; last.Kind == isa.KRetP {
		last.Kind, last.Imm = isa.KRetN, 0 // the block ends there after all
	}
	deadFlags(ops)
	ops = fuse(ops)
	ops = runs(ops)
	sideExits(ops)
	if len(cp.blocks) == 0 {
		cp.blocks = append(cp.blocks, block{}) // index 0 is "not tried"
	}
	cp.blocks = append(cp.blocks, block{ops: ops, n: n, rip: p.vpn<<12 + off, fix: fixRIP(ops[len(ops)-1].Kind), link: new(link)})
	i := uint16(len(cp.blocks) - 1)
	cp.bidx[off] = i
	return i
}

// codePage returns the page at t whose code a block starting on page p
// may run on into, with its decoded ops made; nil when there is none: t
// is 0 (no target) or its page is not executable with p's user bit, so
// that the block runs wherever p can run.
func (c *CPU) codePage(p *page, t uint64) *page {
	if t == 0 {
		return nil
	}
	if t>>12 == p.vpn {
		return p
	}
	q := c.mem.pages[t>>12]
	if q == nil || q.perm&PermX == 0 || q.perm&PermUser != p.perm&PermUser {
		return nil
	}
	if q.code == nil {
		q.code = newCodePage()
		c.mem.flushPageW(q)
	}
	return q
}

// nextAddr is the address of the op after ops[i] in a block that
// starts with ops[i] at a.
func nextAddr(op *isa.Op, a uint64, last bool) uint64 {
	if !last && (op.Kind == isa.KJmpRel || op.Kind == isa.KCallRel || op.Kind == isa.KRetP) {
		return op.Imm
	}
	return a + uint64(op.Len)
}

// opAt returns the cached op at offset o of page p, decoding it from the
// page's bytes if needed, or nil when it cannot be decoded without the
// next page (which decode would check and maybe fault on).
func (c *CPU) opAt(p *page, o uint64) *isa.Op {
	if o >= PageSize {
		return nil
	}
	if i := p.code.idx[o]; i != 0 {
		return &p.code.ops[i]
	}
	in, err := isa.Decode(p.data[o:])
	if err != nil {
		return nil // decode() will raise #UD or fault, at the right time
	}
	return c.cacheOp(p, o, in)
}

// minRun is the shortest run of memory ops worth a run header.
const minRun = 2

// runKind is the run header kind ops[i] can start or continue a run of,
// given the run's first op (nil when ops[i] starts it); 0 when none.
func runKind(op, first *isa.Op) isa.Kind {
	switch op.Kind {
	case isa.KStore, isa.KStoreI:
		if op.Sz == 8 && op.Index == isa.RegNone && (first == nil || first.Base == op.Base) {
			return isa.KStoreRun
		}
	case isa.KLoad:
		if op.Sz == 8 && op.Index == isa.RegNone && (first == nil || first.Base == op.Base) {
			return isa.KLoadRun
		}
	case isa.KPushR, isa.KPushI:
		if op.Kind == isa.KPushI || op.R1 != isa.RSP {
			return isa.KPushRun
		}
	case isa.KPopR:
		if op.R1 != isa.RSP {
			return isa.KPopRun
		}
	}
	return 0
}

// runs puts a run header (isa.KStoreRun and friends) before every run of
// at least minRun memory ops of one kind that could be done with one TLB
// lookup: stores or loads off one base register (a load into the base
// register ends its run), pushes, pops. The header does them all, or, when
// the run's bytes are not on one page the TLB holds, nothing: the ops
// after it run as usual and fault exactly where they would.
func runs(ops []isa.Op) []isa.Op {
	var out []isa.Op
	for i := 0; i < len(ops); {
		k := runKind(&ops[i], nil)
		j := i + 1
		if k != 0 {
			for j < len(ops) && runKind(&ops[j], &ops[i]) == k && j-i < 255 {
				if k == isa.KLoadRun && ops[j-1].R1 == ops[i].Base {
					break
				}
				j++
			}
		}
		if k == 0 || j-i < minRun {
			out = append(out, ops[i])
			i++
			continue
		}
		h := isa.Op{Kind: k, Cond: uint8(j - i), Base: ops[i].Base, End: ops[i].End - uint16(ops[i].Len)}
		switch k {
		case isa.KStoreRun, isa.KLoadRun:
			lo, hi := int64(ops[i].Disp), int64(ops[i].Disp)
			for _, op := range ops[i:j] {
				lo, hi = min(lo, int64(op.Disp)), max(hi, int64(op.Disp))
			}
			if hi-lo+8 > PageSize {
				out = append(out, ops[i])
				i++
				continue
			}
			h.Disp, h.Imm = uint64(lo), uint64(hi-lo+8)
		default:
			h.Imm = 8 * uint64(j-i)
		}
		out = append(append(out, h), ops[i:j]...)
		i = j
	}
	return out
}

// condBranch reports whether k is a conditional branch that may sit
// inside a block, or a ret predicted to return inside it (sideExits).
func condBranch(k isa.Kind) bool {
	return k == isa.KJccRel || k == isa.KJzRel || k == isa.KJnzRel || k == isa.KRetP ||
		k >= isa.KCmpJccRR && k <= isa.KTestJccRI
}

// sideExits marks the conditional branches inside a block: Sz2 is the
// number of instructions after the branch, which a taken branch gives
// back to the budget as it leaves the block; 0 (the block's last op)
// means the branch sets rip either way.
func sideExits(ops []isa.Op) {
	for i := range ops {
		if condBranch(ops[i].Kind) {
			ops[i].Sz2 = uint8(opsInsns(ops[i+1:]))
		}
	}
}

// fuse replaces each flag-setting compare directly followed by a
// conditional branch by one op that does both. The pair counts as two
// instructions; only register forms are fused, so the first half cannot
// fault.
func fuse(ops []isa.Op) []isa.Op {
	out := ops[:0]
	for i := 0; i < len(ops); i++ {
		op := ops[i]
		if i+1 < len(ops) && fusePair(&op, &ops[i+1]) {
			i++ // the branch is now part of op
		}
		out = append(out, op)
	}
	return out
}

// fusePair turns f into the fused op of f and the branch j after it, and
// reports whether it did.
func fusePair(f, j *isa.Op) bool {
	var cond uint8
	switch j.Kind {
	case isa.KJzRel:
		cond = isa.CondE
	case isa.KJnzRel:
		cond = isa.CondNE
	case isa.KJccRel:
		cond = j.Cond
	default:
		return false
	}
	var k isa.Kind
	switch f.Kind {
	case isa.KCmpRR:
		k = isa.KCmpJccRR
	case isa.KCmpRI:
		k = isa.KCmpJccRI
	case isa.KTestRR:
		k = isa.KTestJccRR
	case isa.KTestRI:
		k = isa.KTestJccRI
	case isa.KDecR:
		if cond != isa.CondNE && cond != isa.CondE {
			return false
		}
		k = isa.KDecJccR
	default:
		return false
	}
	f.Kind, f.Cond, f.Disp, f.Len, f.End = k, cond, j.Imm, f.Len+j.Len, j.End
	return true
}

// flagsNF maps the register ops that set every status flag without
// reading any to their flag-dead twins (0: none).
var flagsNF = [isa.KindEnd]isa.Kind{
	isa.KAddRR: isa.KAddRRNF, isa.KAddRI: isa.KAddRINF,
	isa.KSubRR: isa.KSubRRNF, isa.KSubRI: isa.KSubRINF,
	isa.KAndRR: isa.KAndRRNF, isa.KAndRI: isa.KAndRINF,
	isa.KOrRR: isa.KOrRRNF, isa.KOrRI: isa.KOrRINF,
	isa.KXorRR: isa.KXorRRNF, isa.KXorRI: isa.KXorRINF,
	isa.KShlRI: isa.KShlRINF, isa.KShrRI: isa.KShrRINF,
	isa.KImulRR: isa.KImulRRNF, isa.KImulRRI: isa.KImulRRINF,
	isa.KCmpRR: isa.KFlagsNop, isa.KCmpRI: isa.KFlagsNop,
	isa.KTestRR: isa.KFlagsNop, isa.KTestRI: isa.KFlagsNop,
}

// deadFlags turns flag-setting register ops whose flags are overwritten
// before anything can see them into their flag-dead twins (flagsNF, and
// rotates into KRotNF), which skip recording flags. Only ops that neither
// touch flags nor can fault may sit in between: a fault must show the
// flags as the instruction before it left them, and the flags at the
// block's end are always live.
func deadFlags(ops []isa.Op) {
	for i := len(ops) - 1; i >= 0; i-- {
		k := ops[i].Kind
		if flagsNF[k] == 0 && k != isa.KRolRI && k != isa.KRorRI {
			continue
		}
	scan:
		for j := i + 1; j < len(ops); j++ {
			kj := ops[j].Kind
			switch {
			case kj == isa.KMovRR || kj == isa.KMovRI || kj == isa.KLeaR || kj == isa.KJmpRel ||
				kj == isa.KRotNF || kj >= isa.KAddRRNF && kj <= isa.KFlagsNop || kj == isa.KPage:
				// neither reads nor writes flags, never faults
			case flagsNF[kj] != 0:
				// writes every status flag without reading any
				switch k {
				case isa.KRolRI:
					ops[i].Kind, ops[i].Cond = isa.KRotNF, 0
				case isa.KRorRI:
					ops[i].Kind, ops[i].Cond = isa.KRotNF, 1
				default:
					ops[i].Kind = flagsNF[k]
				}
				break scan
			default:
				break scan
			}
		}
	}
}
