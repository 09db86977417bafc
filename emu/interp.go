package emu

import (
	"encoding/binary"
	"math/bits"

	"klpsim/isa"
)

// Run executes instructions until budget instructions have retired or
// something the caller must handle happens, and says which. Calling Run
// again after ExitBreakpoint, RIP unchanged, executes the instruction under
// the breakpoint instead of reporting it again. Run(1) single-steps.
//
// Guest faults never escape as Go panics: the interpreter raises them with
// a sentinel panic that Run recovers once, leaving RIP at the faulting
// instruction and the architectural state as it was before it.
func (c *CPU) Run(budget uint64) (exit Exit) {
	c.left, c.budget = budget, budget
	c.bpSkip, c.bpAt = c.bpAt == c.RIP+1, 0
	defer func() {
		if r := recover(); r != nil {
			if r != errGuestFault {
				panic(r)
			}
			// The faulting instruction did not retire, nor did the rest
			// of its block.
			if c.blk != nil {
				c.left += c.blockRest()
				c.blk = nil
			} else {
				c.left++
			}
			exit = Exit{Reason: ExitException, Exc: c.exc}
		}
		c.left += c.wleft // a watchpoint's early end (watch.go)
		c.wleft = 0
		c.Insns += budget - c.left
	}()
	return c.run()
}

// trap ends the current instruction as an exception that is a trap: RIP
// already points past it, and it counts as retired.
func (c *CPU) trap(v Vector) Exit {
	c.exc = Exception{Vector: v, RIP: c.RIP}
	return Exit{Reason: ExitException, Exc: c.exc}
}

func (c *CPU) run() Exit {
	c.blk, c.bstale = nil, false
fetch:
	for c.left != 0 {
		var ops []isa.Op
		var fix bool // rip must be set past the last op if it runs to the end
		// c.blk is the block that ran last (to its end or to a side
		// exit), or nil. The block that followed it last time from this
		// rip follows it again: no page lookup, no search for the block
		// (block.go, chain).
		var blk *block
		if c.blk != nil {
			blk = c.blk.chained(c)
		}
		if blk != nil {
			if l := c.blk.link; l.page != c.cpPage {
				c.cp, c.cpBase, c.cpPage = l.cp, blk.rip&^(PageSize-1), l.page
			}
		} else {
			// Fetch: a block (block.go) whose instructions are all taken
			// from the budget at once, or the one op at rip.
			off := c.RIP - c.cpBase
			if off >= PageSize {
				// A new code page. The block that ran last stays c.blk
				// for chaining; the fetch, which can fault, is no block's.
				last := c.blk
				c.fetch()
				c.blk = last
				continue
			}
			cp := c.cp
			b := cp.bidx[off]
			if b == 0 && c.left > 1 {
				b = c.buildBlock(off)
			}
			// b-1 wraps for 0 (not tried) and is noBlock-1 for noBlock.
			if b-1 < noBlock-1 && cp.blocks[b].n <= c.left {
				blk = &cp.blocks[b]
				if c.blk != nil {
					c.blk.chain(c, blk)
				}
			} else {
				i := cp.idx[off]
				op := &cp.ops[i]
				if op.Kind == isa.KDecode {
					c.fetch()
					continue
				}
				if op.Trap != 0 && (c.left != c.budget || !c.bpSkip) {
					c.bpAt = c.RIP + 1
					return Exit{Reason: ExitBreakpoint}
				}
				c.left--
				ops, fix = cp.ops[i:i+1], fixRIP(op.Kind)
			}
		}
		// base is the code page the ops run from: the next rip is
		// base+End, which does not depend on the previous rip.
		base := c.cpBase
		bi := uint(0)
		end := uint(len(ops))
		c.blk = blk
		if blk != nil {
			c.left -= blk.n
			ops, fix = blk.ops, blk.fix
			end = uint(len(ops))
			// A translated block runs as host code (jit.go), to its end
			// or a side exit, or up to an op the interpreter must do:
			// the loop below does the ops from there up to where the
			// translation goes on (end), and goes back into it.
			if blk.code == 0 {
				if blk.hits++; blk.hits == c.mem.jitHot && !c.mem.noJIT {
					c.mem.translate(blk)
				}
			}
			if blk.code != 0 {
				r := jitEnter(blk.code, c)
				if r == 0 {
					continue
				}
				bi, base = uint(r-1), c.jbase
				end, _ = blk.resume(bi)
			}
		}
	interp:
		// Inside a block rip is not kept up to date: the ops compute the
		// next one from base, branches set it, and the paths that can
		// fault or stop (the slow memory paths, generic) set it to the
		// op's own address first. Only those paths can drop the code
		// being run or hit a watchpoint (c.bstale): the TLB fast paths
		// never hold pages with code or watchpoints.
		for ; bi < end; bi++ {
			op := &ops[bi]
			switch op.Kind {
			// Fast kinds first: they carry the hot loops.
			case isa.KMovRR:
				c.R[op.R1&31] = c.R[op.R2&31] & sizeMask[op.Sz&15]
				continue
			case isa.KMovRI:
				c.R[op.R1&31] = op.Imm
				continue
			case isa.KLoad:
				// loadFast by hand: Go will not inline it.
				a := c.R[op.Base&31] + c.R[op.Index&31]<<op.Scale + op.Disp
				if d, off := c.rhit(a), a&(PageSize-1); d == nil || off > PageSize-8 {
					c.R[op.R1&31] = c.loadSlowAt(opAddr(base, op), a, op.Sz)
				} else if op.Sz == 8 {
					c.R[op.R1&31] = binary.LittleEndian.Uint64(d[off:])
				} else {
					c.R[op.R1&31] = uint64(binary.LittleEndian.Uint32(d[off:]))
				}
			case isa.KStore, isa.KStoreI:
				a := c.R[op.Base&31] + c.R[op.Index&31]<<op.Scale + op.Disp
				v := op.Imm
				if op.Kind == isa.KStore {
					v = c.R[op.R2&31]
				}
				if d, off := c.whit(a), a&(PageSize-1); d == nil || off > PageSize-8 {
					c.storeSlowAt(opAddr(base, op), a, v, op.Sz)
				} else if op.Sz == 8 {
					binary.LittleEndian.PutUint64(d[off:], v)
				} else {
					binary.LittleEndian.PutUint32(d[off:], uint32(v))
				}
			case isa.KLoadZX:
				a := c.R[op.Base&31] + c.R[op.Index&31]<<op.Scale + op.Disp
				if d, off := c.rhit(a), a&(PageSize-1); d == nil || off > PageSize-8 {
					c.R[op.R1&31] = c.loadSlowAt(opAddr(base, op), a, op.Sz2)
				} else if op.Sz2 == 1 {
					c.R[op.R1&31] = uint64(d[off])
				} else {
					c.R[op.R1&31] = uint64(binary.LittleEndian.Uint16(d[off:]))
				}
			case isa.KAddMR:
				m := sizeMask[op.Sz&15]
				ea := c.R[op.Base&31] + c.R[op.Index&31]<<op.Scale + op.Disp
				var a uint64
				if d, off := c.rhit(ea), ea&(PageSize-1); d == nil || off > PageSize-8 {
					a = c.loadSlowAt(opAddr(base, op), ea, op.Sz)
				} else if op.Sz == 8 {
					a = binary.LittleEndian.Uint64(d[off:])
				} else {
					a = uint64(binary.LittleEndian.Uint32(d[off:]))
				}
				b := c.R[op.R2&31] & m
				r := (a + b) & m
				if d, off := c.whit(ea), ea&(PageSize-1); d == nil || off > PageSize-8 {
					c.storeSlowAt(opAddr(base, op), ea, r, op.Sz)
				} else if op.Sz == 8 {
					binary.LittleEndian.PutUint64(d[off:], r)
				} else {
					binary.LittleEndian.PutUint32(d[off:], uint32(r))
				}
				c.fk, c.fsz, c.fa, c.fb, c.fr = fkAdd, op.Sz, a, b, r
			case isa.KLeaR:
				c.R[op.R1&31] = (c.R[op.Base&31] + c.R[op.Index&31]<<op.Scale + op.Disp) & sizeMask[op.Sz&15]
				continue
			case isa.KAddRR:
				m := sizeMask[op.Sz&15]
				a, b := c.R[op.R1&31]&m, c.R[op.R2&31]&m
				r := (a + b) & m
				c.R[op.R1&31] = r
				c.fk, c.fsz, c.fa, c.fb, c.fr = fkAdd, op.Sz, a, b, r
				continue
			case isa.KAddRI:
				m := sizeMask[op.Sz&15]
				a, b := c.R[op.R1&31]&m, op.Imm
				r := (a + b) & m
				c.R[op.R1&31] = r
				c.fk, c.fsz, c.fa, c.fb, c.fr = fkAdd, op.Sz, a, b, r
				continue
			case isa.KSubRR:
				m := sizeMask[op.Sz&15]
				a, b := c.R[op.R1&31]&m, c.R[op.R2&31]&m
				r := (a - b) & m
				c.R[op.R1&31] = r
				c.fk, c.fsz, c.fa, c.fb, c.fr = fkSub, op.Sz, a, b, r
				continue
			case isa.KSubRI:
				m := sizeMask[op.Sz&15]
				a, b := c.R[op.R1&31]&m, op.Imm
				r := (a - b) & m
				c.R[op.R1&31] = r
				c.fk, c.fsz, c.fa, c.fb, c.fr = fkSub, op.Sz, a, b, r
				continue
			case isa.KCmpRR:
				m := sizeMask[op.Sz&15]
				a, b := c.R[op.R1&31]&m, c.R[op.R2&31]&m
				c.fk, c.fsz, c.fa, c.fb, c.fr = fkSub, op.Sz, a, b, (a-b)&m
				continue
			case isa.KCmpRI:
				m := sizeMask[op.Sz&15]
				a, b := c.R[op.R1&31]&m, op.Imm
				c.fk, c.fsz, c.fa, c.fb, c.fr = fkSub, op.Sz, a, b, (a-b)&m
				continue
			case isa.KCmpRM:
				m := sizeMask[op.Sz&15]
				ea := c.R[op.Base&31] + c.R[op.Index&31]<<op.Scale + op.Disp
				var b uint64
				if d, off := c.rhit(ea), ea&(PageSize-1); d == nil || off > PageSize-8 {
					b = c.loadSlowAt(opAddr(base, op), ea, op.Sz)
				} else if op.Sz == 8 {
					b = binary.LittleEndian.Uint64(d[off:])
				} else {
					b = uint64(binary.LittleEndian.Uint32(d[off:]))
				}
				a := c.R[op.R1&31] & m
				c.fk, c.fsz, c.fa, c.fb, c.fr = fkSub, op.Sz, a, b, (a-b)&m
			case isa.KCmpMI:
				m := sizeMask[op.Sz&15]
				ea := c.R[op.Base&31] + c.R[op.Index&31]<<op.Scale + op.Disp
				var a uint64
				if d, off := c.rhit(ea), ea&(PageSize-1); d == nil || off > PageSize-8 {
					a = c.loadSlowAt(opAddr(base, op), ea, op.Sz)
				} else if op.Sz == 1 {
					a = uint64(d[off])
				} else if op.Sz == 8 {
					a = binary.LittleEndian.Uint64(d[off:])
				} else {
					a = uint64(binary.LittleEndian.Uint32(d[off:]))
				}
				b := op.Imm
				c.fk, c.fsz, c.fa, c.fb, c.fr = fkSub, op.Sz, a, b, (a-b)&m
			case isa.KAndRR:
				m := sizeMask[op.Sz&15]
				r := c.R[op.R1&31] & c.R[op.R2&31] & m
				c.R[op.R1&31] = r
				c.fk, c.fsz, c.fr = fkLogic, op.Sz, r
				continue
			case isa.KAndRI:
				m := sizeMask[op.Sz&15]
				r := c.R[op.R1&31] & op.Imm & m
				c.R[op.R1&31] = r
				c.fk, c.fsz, c.fr = fkLogic, op.Sz, r
				continue
			case isa.KOrRR:
				m := sizeMask[op.Sz&15]
				r := (c.R[op.R1&31] | c.R[op.R2&31]) & m
				c.R[op.R1&31] = r
				c.fk, c.fsz, c.fr = fkLogic, op.Sz, r
				continue
			case isa.KXorRR:
				m := sizeMask[op.Sz&15]
				r := (c.R[op.R1&31] ^ c.R[op.R2&31]) & m
				c.R[op.R1&31] = r
				c.fk, c.fsz, c.fr = fkLogic, op.Sz, r
				continue
			case isa.KTestRR:
				r := c.R[op.R1&31] & c.R[op.R2&31] & sizeMask[op.Sz&15]
				c.fk, c.fsz, c.fr = fkLogic, op.Sz, r
				continue
			case isa.KIncR:
				m := sizeMask[op.Sz&15]
				cf := c.carry()
				a := c.R[op.R1&31] & m
				r := (a + 1) & m
				c.R[op.R1&31] = r
				c.fk, c.fsz, c.fa, c.fr, c.fc = fkInc, op.Sz, a, r, cf
				continue
			case isa.KDecR:
				m := sizeMask[op.Sz&15]
				cf := c.carry()
				a := c.R[op.R1&31] & m
				r := (a - 1) & m
				c.R[op.R1&31] = r
				c.fk, c.fsz, c.fa, c.fr, c.fc = fkDec, op.Sz, a, r, cf
				continue
			case isa.KShlRI:
				m := sizeMask[op.Sz&15]
				a := c.R[op.R1&31] & m
				r := (a << op.Imm) & m
				c.R[op.R1&31] = r
				c.fk, c.fsz, c.fa, c.fb, c.fr = fkShl, op.Sz, a, op.Imm, r
				continue
			case isa.KShrRI:
				m := sizeMask[op.Sz&15]
				a := c.R[op.R1&31] & m
				r := a >> op.Imm
				c.R[op.R1&31] = r
				c.fk, c.fsz, c.fa, c.fb, c.fr = fkShr, op.Sz, a, op.Imm, r
				continue
			case isa.KPushR:
				sp := c.R[isa.RSP] - 8
				if d, off := c.whit(sp), sp&(PageSize-1); d != nil && off <= PageSize-8 {
					binary.LittleEndian.PutUint64(d[off:], c.R[op.R1&31])
				} else {
					c.storeSlowAt(opAddr(base, op), sp, c.R[op.R1&31], 8)
				}
				c.R[isa.RSP] = sp
			case isa.KPushI:
				sp := c.R[isa.RSP] - 8
				if d, off := c.whit(sp), sp&(PageSize-1); d != nil && off <= PageSize-8 {
					binary.LittleEndian.PutUint64(d[off:], op.Imm)
				} else {
					c.storeSlowAt(opAddr(base, op), sp, op.Imm, 8)
				}
				c.R[isa.RSP] = sp
			case isa.KMovsxdR:
				c.R[op.R1&31] = uint64(int64(int32(c.R[op.R2&31])))
				continue
			case isa.KLoadSeg:
				a := c.R[op.Base&31] + c.R[op.Index&31]<<op.Scale + op.Disp + c.segBase(op.Seg)
				if d, off := c.rhit(a), a&(PageSize-1); d == nil || off > PageSize-8 {
					c.R[op.R1&31] = c.loadSlowAt(opAddr(base, op), a, op.Sz)
				} else if op.Sz == 8 {
					c.R[op.R1&31] = binary.LittleEndian.Uint64(d[off:])
				} else {
					c.R[op.R1&31] = uint64(binary.LittleEndian.Uint32(d[off:]))
				}
			case isa.KStoreSeg:
				a := c.R[op.Base&31] + c.R[op.Index&31]<<op.Scale + op.Disp + c.segBase(op.Seg)
				v := c.R[op.R2&31]
				if d, off := c.whit(a), a&(PageSize-1); d == nil || off > PageSize-8 {
					c.storeSlowAt(opAddr(base, op), a, v, op.Sz)
				} else if op.Sz == 8 {
					binary.LittleEndian.PutUint64(d[off:], v)
				} else {
					binary.LittleEndian.PutUint32(d[off:], uint32(v))
				}
			case isa.KCallR:
				t := c.R[op.R1&31]
				sp := c.R[isa.RSP] - 8
				if d, off := c.whit(sp), sp&(PageSize-1); d != nil && off <= PageSize-8 {
					binary.LittleEndian.PutUint64(d[off:], base+uint64(op.End))
				} else {
					c.storeSlowAt(opAddr(base, op), sp, base+uint64(op.End), 8)
				}
				c.R[isa.RSP] = sp
				c.RIP = t
				if c.bstale {
					c.abandon(ops[bi+1:])
					continue fetch
				}
				continue
			case isa.KPopR:
				sp := c.R[isa.RSP]
				var v uint64
				if d, off := c.rhit(sp), sp&(PageSize-1); d != nil && off <= PageSize-8 {
					v = binary.LittleEndian.Uint64(d[off:])
				} else {
					v = c.loadSlowAt(opAddr(base, op), sp, 8)
				}
				c.R[isa.RSP] = sp + 8
				c.R[op.R1&31] = v
			case isa.KCallRel:
				sp := c.R[isa.RSP] - 8
				if d, off := c.whit(sp), sp&(PageSize-1); d != nil && off <= PageSize-8 {
					binary.LittleEndian.PutUint64(d[off:], base+uint64(op.End))
				} else {
					c.storeSlowAt(opAddr(base, op), sp, base+uint64(op.End), 8)
				}
				c.R[isa.RSP] = sp
				c.RIP = op.Imm
				if c.bstale {
					c.abandon(ops[bi+1:])
					continue fetch
				}
				continue
			case isa.KRetN:
				sp := c.R[isa.RSP]
				if d, off := c.rhit(sp), sp&(PageSize-1); d != nil && off <= PageSize-8 {
					c.RIP = binary.LittleEndian.Uint64(d[off:])
				} else {
					c.RIP = c.loadSlowAt(opAddr(base, op), sp, 8)
				}
				c.R[isa.RSP] = sp + 8
				continue
			case isa.KRetP:
				// A ret inside a block (block.go): on to the return site
				// the block was built for, or out to where the stack says.
				if !c.retP(op, base) {
					if c.bstale {
						c.abandon(ops[bi+1:])
					} else {
						c.left += uint64(op.Sz2) // a side exit (sideExits)
					}
					continue fetch
				}
				continue
			case isa.KJmpRel:
				c.RIP = op.Imm
				continue
			case isa.KJccRel:
				// Every branch kind repeats its taken and not-taken tails
				// rather than jumping to shared ones: shared, the branch
				// loop ran 3 % slower (Go's register allocation).
				if c.cond(op.Cond) {
					c.RIP = op.Imm
					if op.Sz2 != 0 {
						c.left += uint64(op.Sz2) // a side exit (sideExits)
						continue fetch
					}
					continue
				}
				if op.Sz2 == 0 {
					c.RIP = base + uint64(op.End)
				}
				continue
			case isa.KOrRI:
				r := (c.R[op.R1&31] | op.Imm) & sizeMask[op.Sz&15]
				c.R[op.R1&31] = r
				c.fk, c.fsz, c.fr = fkLogic, op.Sz, r
				continue
			case isa.KXorRI:
				r := (c.R[op.R1&31] ^ op.Imm) & sizeMask[op.Sz&15]
				c.R[op.R1&31] = r
				c.fk, c.fsz, c.fr = fkLogic, op.Sz, r
				continue
			case isa.KTestRI:
				c.fk, c.fsz, c.fr = fkLogic, op.Sz, c.R[op.R1&31]&op.Imm&sizeMask[op.Sz&15]
				continue
			case isa.KImulRR:
				a, b := c.R[op.R1&31]&sizeMask[op.Sz&15], c.R[op.R2&31]&sizeMask[op.Sz&15]
				lo, of := imul(a, b, op.Sz)
				c.R[op.R1&31] = lo
				c.fk, c.fsz, c.fa, c.fb, c.fr = fkMul, op.Sz, a, of, lo
				continue
			case isa.KImulRRI:
				a := c.R[op.R2&31] & sizeMask[op.Sz&15]
				lo, of := imul(a, op.Imm, op.Sz)
				c.R[op.R1&31] = lo
				c.fk, c.fsz, c.fa, c.fb, c.fr = fkMul, op.Sz, a, of, lo
				continue
			case isa.KCmovRR:
				if c.cond(op.Cond) {
					c.R[op.R1&31] = c.R[op.R2&31] & sizeMask[op.Sz&15]
				} else {
					c.R[op.R1&31] &= sizeMask[op.Sz&15]
				}
				continue
			case isa.KRolRI, isa.KRorRI:
				c.rotate(op)
				continue
			case isa.KRotNF:
				w := uint(8 * op.Sz)
				a, k := c.R[op.R1&31]&sizeMask[op.Sz&15], uint(op.Imm)
				if op.Cond != 0 {
					k = w - k
				}
				c.R[op.R1&31] = (a<<k | a>>(w-k)) & sizeMask[op.Sz&15]
				continue
			case isa.KAddRRNF:
				c.R[op.R1&31] = (c.R[op.R1&31] + c.R[op.R2&31]) & sizeMask[op.Sz&15]
				continue
			case isa.KAddRINF:
				c.R[op.R1&31] = (c.R[op.R1&31] + op.Imm) & sizeMask[op.Sz&15]
				continue
			case isa.KSubRRNF:
				c.R[op.R1&31] = (c.R[op.R1&31] - c.R[op.R2&31]) & sizeMask[op.Sz&15]
				continue
			case isa.KSubRINF:
				c.R[op.R1&31] = (c.R[op.R1&31] - op.Imm) & sizeMask[op.Sz&15]
				continue
			case isa.KAndRRNF:
				c.R[op.R1&31] = c.R[op.R1&31] & c.R[op.R2&31] & sizeMask[op.Sz&15]
				continue
			case isa.KAndRINF:
				c.R[op.R1&31] = c.R[op.R1&31] & op.Imm & sizeMask[op.Sz&15]
				continue
			case isa.KOrRRNF:
				c.R[op.R1&31] = (c.R[op.R1&31] | c.R[op.R2&31]) & sizeMask[op.Sz&15]
				continue
			case isa.KOrRINF:
				c.R[op.R1&31] = (c.R[op.R1&31] | op.Imm) & sizeMask[op.Sz&15]
				continue
			case isa.KXorRRNF:
				c.R[op.R1&31] = (c.R[op.R1&31] ^ c.R[op.R2&31]) & sizeMask[op.Sz&15]
				continue
			case isa.KXorRINF:
				c.R[op.R1&31] = (c.R[op.R1&31] ^ op.Imm) & sizeMask[op.Sz&15]
				continue
			case isa.KShlRINF:
				c.R[op.R1&31] = (c.R[op.R1&31] << op.Imm) & sizeMask[op.Sz&15]
				continue
			case isa.KShrRINF:
				c.R[op.R1&31] = (c.R[op.R1&31] & sizeMask[op.Sz&15]) >> op.Imm
				continue
			case isa.KImulRRNF:
				m := sizeMask[op.Sz&15]
				c.R[op.R1&31], _ = imul(c.R[op.R1&31]&m, c.R[op.R2&31]&m, op.Sz)
				continue
			case isa.KImulRRINF:
				c.R[op.R1&31], _ = imul(c.R[op.R2&31]&sizeMask[op.Sz&15], op.Imm, op.Sz)
				continue
			case isa.KFlagsNop:
				continue
			case isa.KPage:
				base = op.Imm // on into another page's code (block.go)
				continue
			case isa.KStoreRun, isa.KLoadRun, isa.KPushRun, isa.KPopRun:
				// Run headers (block.go, runs): the whole run on one page
				// in the TLB, or nothing and the ops run one by one.
				if c.run1(op, ops[bi+1:bi+1+uint(op.Cond)]) {
					bi += uint(op.Cond)
				}
				continue
			case isa.KNop:
				// Not a fast kind, but the kernel's fentry nops are hot:
				// as generic would, it sets rip itself.
				c.RIP = base + uint64(op.End)
				continue
			// Nor are these, but every syscall and every call through
			// ftrace runs them (entry code, klp_ftrace_handler): kernel-mode
			// forms here, setting rip as generic would; the rest below.
			case isa.KSwapgs:
				if c.CPL != 0 {
					goto generic
				}
				c.GSBase, c.KernelGSBase = c.KernelGSBase, c.GSBase
				c.RIP = base + uint64(op.End)
				continue
			case isa.KCli, isa.KSti:
				if c.CPL != 0 {
					goto generic
				}
				if op.Kind == isa.KCli {
					c.rfl &^= FlagIF
				} else {
					c.rfl |= FlagIF
				}
				c.RIP = base + uint64(op.End)
				continue
			case isa.KPushf:
				sp := c.R[isa.RSP] - 8
				if d, off := c.whit(sp), sp&(PageSize-1); d != nil && off <= PageSize-8 && op.Sz == 8 {
					binary.LittleEndian.PutUint64(d[off:], c.RFLAGS())
					c.R[isa.RSP] = sp
					c.RIP = base + uint64(op.End)
					continue
				}
				goto generic
			case isa.KPopf:
				sp := c.R[isa.RSP]
				if d, off := c.rhit(sp), sp&(PageSize-1); d != nil && off <= PageSize-8 && op.Sz == 8 && c.CPL == 0 {
					const w = flagsUserWritable | FlagIF
					c.rfl = c.RFLAGS()&^w | binary.LittleEndian.Uint64(d[off:])&w
					c.fk = fkRaw
					c.R[isa.RSP] = sp + 8
					c.RIP = base + uint64(op.End)
					continue
				}
				goto generic
			case isa.KCmpJccRR:
				m := sizeMask[op.Sz&15]
				a, b := c.R[op.R1&31]&m, c.R[op.R2&31]&m
				c.fk, c.fsz, c.fa, c.fb, c.fr = fkSub, op.Sz, a, b, (a-b)&m
				if condSub(op.Cond, a, b) || ((op.Cond < isa.CondB || op.Cond > isa.CondA) && c.cond(op.Cond)) {
					c.RIP = op.Disp
					if op.Sz2 != 0 {
						c.left += uint64(op.Sz2) // a side exit (sideExits)
						continue fetch
					}
					continue
				}
				if op.Sz2 == 0 {
					c.RIP = base + uint64(op.End)
				}
				continue
			case isa.KCmpJccRI:
				m := sizeMask[op.Sz&15]
				a, b := c.R[op.R1&31]&m, op.Imm
				c.fk, c.fsz, c.fa, c.fb, c.fr = fkSub, op.Sz, a, b, (a-b)&m
				if condSub(op.Cond, a, b) || ((op.Cond < isa.CondB || op.Cond > isa.CondA) && c.cond(op.Cond)) {
					c.RIP = op.Disp
					if op.Sz2 != 0 {
						c.left += uint64(op.Sz2) // a side exit (sideExits)
						continue fetch
					}
					continue
				}
				if op.Sz2 == 0 {
					c.RIP = base + uint64(op.End)
				}
				continue
			case isa.KTestJccRR:
				r := c.R[op.R1&31] & c.R[op.R2&31] & sizeMask[op.Sz&15]
				c.fk, c.fsz, c.fr = fkLogic, op.Sz, r
				if op.Cond == isa.CondE || op.Cond == isa.CondNE {
					if (r == 0) == (op.Cond == isa.CondE) {
						c.RIP = op.Disp
						if op.Sz2 != 0 {
							c.left += uint64(op.Sz2) // a side exit (sideExits)
							continue fetch
						}
						continue
					}
				} else if c.cond(op.Cond) {
					c.RIP = op.Disp
					if op.Sz2 != 0 {
						c.left += uint64(op.Sz2) // a side exit (sideExits)
						continue fetch
					}
					continue
				}
				if op.Sz2 == 0 {
					c.RIP = base + uint64(op.End)
				}
				continue
			case isa.KTestJccRI:
				r := c.R[op.R1&31] & op.Imm & sizeMask[op.Sz&15]
				c.fk, c.fsz, c.fr = fkLogic, op.Sz, r
				if op.Cond == isa.CondE || op.Cond == isa.CondNE {
					if (r == 0) == (op.Cond == isa.CondE) {
						c.RIP = op.Disp
						if op.Sz2 != 0 {
							c.left += uint64(op.Sz2) // a side exit (sideExits)
							continue fetch
						}
						continue
					}
				} else if c.cond(op.Cond) {
					c.RIP = op.Disp
					if op.Sz2 != 0 {
						c.left += uint64(op.Sz2) // a side exit (sideExits)
						continue fetch
					}
					continue
				}
				if op.Sz2 == 0 {
					c.RIP = base + uint64(op.End)
				}
				continue
			case isa.KDecJccR:
				m := sizeMask[op.Sz&15]
				cf := c.carry()
				a := c.R[op.R1&31] & m
				r := (a - 1) & m
				c.R[op.R1&31] = r
				c.fk, c.fsz, c.fa, c.fr, c.fc = fkDec, op.Sz, a, r, cf
				if (r == 0) == (op.Cond == isa.CondE) {
					c.RIP = op.Disp
					if op.Sz2 != 0 {
						c.left += uint64(op.Sz2) // a side exit (sideExits)
						continue fetch
					}
					continue
				}
				if op.Sz2 == 0 {
					c.RIP = base + uint64(op.End)
				}
				continue
			case isa.KJzRel, isa.KJnzRel:
				// ZF is "result is zero" for every lazy flag kind.
				z := c.fr == 0
				if c.fk == fkRaw {
					z = c.rfl&FlagZF != 0
				}
				if z == (op.Kind == isa.KJzRel) {
					c.RIP = op.Imm
					if op.Sz2 != 0 {
						c.left += uint64(op.Sz2) // a side exit (sideExits)
						continue fetch
					}
					continue
				}
				if op.Sz2 == 0 {
					c.RIP = base + uint64(op.End)
				}
				continue

			default:
				goto generic
			}
			// Only the memory ops get here.
			if c.bstale {
				c.RIP = base + uint64(op.End)
				c.abandon(ops[bi+1:])
				continue fetch
			}
			continue
		generic:
			c.RIP = opAddr(base, op)
			if c.generic(op) {
				return c.exit
			}
			if c.bstale {
				c.abandon(ops[bi+1:])
				continue fetch
			}
		}
		// Back into the translation at op end. (One call site for both
		// entries, with the first one going through here, cost the bench
		// loops 5-11 % more host instructions: valgrind.)
		if end < uint(len(ops)) {
			_, code := blk.resume(end - 1)
			r := jitEnter(code, c)
			if r == 0 {
				continue
			}
			bi, base = uint(r-1), c.jbase
			end, _ = blk.resume(bi)
			goto interp
		}
		if fix {
			c.RIP = base + uint64(ops[len(ops)-1].End)
		}
	}
	return Exit{Reason: ExitBudget}
}

// run1 does the ops of a run header's run at once and reports whether
// it could: their bytes all on one page that the TLB holds.
func (c *CPU) run1(op *isa.Op, run []isa.Op) bool {
	switch op.Kind {
	case isa.KStoreRun:
		lo := c.R[op.Base&31] + op.Disp
		d, off := c.whit(lo), lo&(PageSize-1)
		if d == nil || off > PageSize-op.Imm {
			return false
		}
		for i := range run {
			s := &run[i]
			v := s.Imm
			if s.Kind == isa.KStore {
				v = c.R[s.R2&31]
			}
			binary.LittleEndian.PutUint64(d[off+s.Disp-op.Disp:], v)
		}
	case isa.KLoadRun:
		lo := c.R[op.Base&31] + op.Disp
		d, off := c.rhit(lo), lo&(PageSize-1)
		if d == nil || off > PageSize-op.Imm {
			return false
		}
		for i := range run {
			s := &run[i]
			c.R[s.R1&31] = binary.LittleEndian.Uint64(d[off+s.Disp-op.Disp:])
		}
	case isa.KPushRun:
		lo := c.R[isa.RSP] - op.Imm
		d, off := c.whit(lo), lo&(PageSize-1)
		if d == nil || off > PageSize-op.Imm {
			return false
		}
		a := off + op.Imm
		for i := range run {
			s := &run[i]
			v := s.Imm
			if s.Kind == isa.KPushR {
				v = c.R[s.R1&31]
			}
			a -= 8
			binary.LittleEndian.PutUint64(d[a:], v)
		}
		c.R[isa.RSP] = lo
	default: // isa.KPopRun
		sp := c.R[isa.RSP]
		d, off := c.rhit(sp), sp&(PageSize-1)
		if d == nil || off > PageSize-op.Imm {
			return false
		}
		for i := range run {
			c.R[run[i].R1&31] = binary.LittleEndian.Uint64(d[off:])
			off += 8
		}
		c.R[isa.RSP] = sp + op.Imm
	}
	return true
}

// retP does a KRetP's ret and reports whether it returned where the
// block goes on; otherwise rip is where it returned to.
func (c *CPU) retP(op *isa.Op, base uint64) bool {
	sp := c.R[isa.RSP]
	var t uint64
	if d, off := c.rhit(sp), sp&(PageSize-1); d != nil && off <= PageSize-8 {
		t = binary.LittleEndian.Uint64(d[off:])
	} else {
		t = c.loadSlowAt(opAddr(base, op), sp, 8)
	}
	c.R[isa.RSP] = sp + 8
	if t == op.Imm && !c.bstale {
		return true
	}
	c.RIP = t
	return false
}

// condSub answers the unsigned and equality conditions (CondB to CondA)
// after a compare of a and b without a call; it is false for the others,
// which the caller asks c.cond.
func condSub(cc uint8, a, b uint64) bool {
	switch cc {
	case isa.CondB:
		return a < b
	case isa.CondAE:
		return a >= b
	case isa.CondE:
		return a == b
	case isa.CondNE:
		return a != b
	case isa.CondBE:
		return a <= b
	case isa.CondA:
		return a > b
	}
	return false
}

// fetch decodes the instruction at rip for the fetch path. A fault
// there (#PF or #GP on the fetch) is the instruction's, which Run's
// recovery gives back to the budget as not retired: take it first.
func (c *CPU) fetch() {
	c.blk = nil // not in a block: a fault here is no block's
	c.left--
	c.decode()
	c.left++
}

// opAddr is the address of op, run from the code page at base.
func opAddr(base uint64, op *isa.Op) uint64 {
	return base + uint64(op.End) - uint64(op.Len)
}

// fixRIP reports whether rip must be set past an op of kind k after it
// runs: the fast kinds leave it alone unless they branch; generic sets it.
func fixRIP(k isa.Kind) bool {
	return k >= isa.KindFast && !blockEnd(k) && (k < isa.KCmpJccRR || k > isa.KTestJccRI)
}

// abandon ends the block being run early, after its code was dropped
// or a watchpoint hit: rest will not run and goes back to the budget.
func (c *CPU) abandon(rest []isa.Op) {
	if c.blk != nil {
		c.left += opsInsns(rest)
	}
	c.blk = nil
}

// opsInsns counts the instructions in ops: two for a fused pair.
func opsInsns(ops []isa.Op) uint64 {
	n := uint64(len(ops))
	for i := range ops {
		switch k := ops[i].Kind; {
		case k >= isa.KCmpJccRR && k <= isa.KTestJccRI:
			n++
		case k >= isa.KStoreRun && k <= isa.KPage:
			n-- // a run header or a page switch is no instruction
		}
	}
	return n
}

// blockRest is the number of instructions of the block being executed
// from the one at rip to its end, all taken from the budget already; 0
// outside a block.
func (c *CPU) blockRest() uint64 {
	b := c.blk
	if b == nil {
		return 0
	}
	a := b.rip
	for i := range b.ops {
		if a == c.RIP {
			return opsInsns(b.ops[i:])
		}
		a = nextAddr(&b.ops[i], a, i == len(b.ops)-1)
	}
	return 0
}

// ea computes the effective address of op's memory operand, with segment
// base and address-size truncation.
func (c *CPU) ea(op *isa.Op) uint64 {
	a := c.R[op.Base&31] + c.R[op.Index&31]<<op.Scale + op.Disp
	if op.Seg != 0 {
		a = c.segAdjust(op.Seg, a)
	}
	return a
}

// segBase is the fs or gs base for an op's Seg (SegFS or SegGS).
func (c *CPU) segBase(seg uint8) uint64 {
	if seg&3 == isa.SegGS {
		return c.GSBase
	}
	return c.FSBase
}

func (c *CPU) segAdjust(seg uint8, a uint64) uint64 {
	if seg&isa.Addr32 != 0 {
		a &= 0xffffffff
	}
	if seg&3 != 0 {
		a += c.segBase(seg)
	}
	return a
}

// getReg reads register r as an sz-byte operand.
func (c *CPU) getReg(sz, r uint8) uint64 {
	switch sz {
	case 8:
		return c.R[r&31]
	case 4:
		return c.R[r&31] & 0xffffffff
	case 2:
		return c.R[r&31] & 0xffff
	}
	if r >= isa.RegAH {
		return c.R[(r-isa.RegAH)&31] >> 8 & 0xff
	}
	return c.R[r&31] & 0xff
}

// setReg writes an sz-byte operand to register r with the x86-64 rules:
// 32-bit writes zero-extend, 8- and 16-bit writes merge.
func (c *CPU) setReg(sz, r uint8, v uint64) {
	switch sz {
	case 8:
		c.R[r&31] = v
	case 4:
		c.R[r&31] = v & 0xffffffff
	case 2:
		c.R[r&31] = c.R[r&31]&^0xffff | v&0xffff
	default:
		if r >= isa.RegAH {
			i := (r - isa.RegAH) & 31
			c.R[i] = c.R[i]&^0xff00 | (v&0xff)<<8
			return
		}
		c.R[r&31] = c.R[r&31]&^0xff | v&0xff
	}
}

// loc is a resolved A operand: a register or an address.
type loc struct {
	mem  bool
	addr uint64
}

// locA resolves op's A operand.
func (c *CPU) locA(op *isa.Op) loc {
	if op.A == isa.OpdMem {
		return loc{mem: true, addr: c.ea(op)}
	}
	return loc{}
}

func (c *CPU) read(op *isa.Op, l loc, sz uint8) uint64 {
	if l.mem {
		return c.load(sz, l.addr)
	}
	return c.getReg(sz, op.R1)
}

func (c *CPU) write(op *isa.Op, l loc, sz uint8, v uint64) {
	if l.mem {
		c.store(sz, l.addr, v)
		return
	}
	c.setReg(sz, op.R1, v)
}

// readB reads op's B operand at size sz.
func (c *CPU) readB(op *isa.Op, sz uint8) uint64 {
	switch op.B {
	case isa.OpdReg:
		return c.getReg(sz, op.R2)
	case isa.OpdMem:
		return c.load(sz, c.ea(op))
	}
	return op.Imm & sizeMask[sz&15]
}

func (c *CPU) push(sz uint8, v uint64) {
	sp := c.R[isa.RSP] - uint64(sz)
	c.store(sz, sp, v)
	c.R[isa.RSP] = sp
}

func signExtend(v uint64, sz uint8) uint64 {
	sh := 64 - 8*uint(sz)
	return uint64(int64(v<<sh) >> sh)
}

// generic executes every kind without a fast path. It advances RIP itself
// and returns true, with c.exit set, for instructions that leave Run.
func (c *CPU) generic(op *isa.Op) bool {
	sz := op.Sz
	m := sizeMask[sz&15]
	next := c.RIP + uint64(op.Len)
	switch op.Kind {
	case isa.KUD, isa.KUD2:
		c.fault(VecUD, 0, 0)

	case isa.KMov:
		v := c.readB(op, sz)
		c.write(op, c.locA(op), sz, v)
	case isa.KMovzx, isa.KMovsx:
		v := c.readB(op, op.Sz2)
		if op.Kind == isa.KMovsx {
			v = signExtend(v, op.Sz2) & m
		}
		c.setReg(sz, op.R1, v)
	case isa.KLea:
		a := c.R[op.Base&31] + c.R[op.Index&31]<<op.Scale + op.Disp
		if op.Seg&isa.Addr32 != 0 {
			a &= 0xffffffff
		}
		c.setReg(sz, op.R1, a&m)
	case isa.KXchg:
		l := c.locA(op)
		a := c.read(op, l, sz)
		b := c.getReg(sz, op.R2)
		c.write(op, l, sz, b)
		c.setReg(sz, op.R2, a)
	case isa.KCmpxchg:
		l := c.locA(op)
		d := c.read(op, l, sz)
		acc := c.getReg(sz, isa.RAX)
		if acc == d {
			c.write(op, l, sz, c.getReg(sz, op.R2))
		} else {
			if l.mem {
				c.store(sz, l.addr, d) // the locked cycle always writes
			}
			c.setReg(sz, isa.RAX, d)
		}
		c.setFlags(fkSub, sz, acc, d, (acc-d)&m)
	case isa.KXadd:
		l := c.locA(op)
		a := c.read(op, l, sz)
		b := c.getReg(sz, op.R2)
		r := (a + b) & m
		if l.mem {
			c.store(sz, l.addr, r)
			c.setReg(sz, op.R2, a)
		} else {
			c.setReg(sz, op.R2, a)
			c.setReg(sz, op.R1, r)
		}
		c.setFlags(fkAdd, sz, a, b, r)
	case isa.KPush:
		var v uint64
		if op.B == isa.OpdImm {
			v = op.Imm & m
		} else {
			v = c.read(op, c.locA(op), sz)
		}
		c.push(sz, v)
	case isa.KPop:
		sp := c.R[isa.RSP]
		v := c.load(sz, sp)
		if op.A == isa.OpdMem {
			// The address is computed with rsp already incremented.
			c.R[isa.RSP] = sp + uint64(sz)
			a := c.ea(op)
			c.R[isa.RSP] = sp
			c.store(sz, a, v)
			c.R[isa.RSP] = sp + uint64(sz)
		} else {
			c.R[isa.RSP] = sp + uint64(sz)
			c.setReg(sz, op.R1, v)
		}

	case isa.KAdd, isa.KOr, isa.KAdc, isa.KSbb, isa.KAnd, isa.KSub, isa.KXor, isa.KCmp, isa.KTest:
		l := c.locA(op)
		a := c.read(op, l, sz)
		b := c.readB(op, sz)
		var r, cin uint64
		var k uint8
		switch op.Kind {
		case isa.KAdd:
			r, k = a+b, fkAdd
		case isa.KAdc:
			cin = c.carry()
			r, k = a+b+cin, fkAdc
		case isa.KSub, isa.KCmp:
			r, k = a-b, fkSub
		case isa.KSbb:
			cin = c.carry()
			r, k = a-b-cin, fkSbb
		case isa.KAnd, isa.KTest:
			r, k = a&b, fkLogic
		case isa.KOr:
			r, k = a|b, fkLogic
		case isa.KXor:
			r, k = a^b, fkLogic
		}
		r &= m
		if op.Kind != isa.KCmp && op.Kind != isa.KTest {
			c.write(op, l, sz, r)
		}
		c.setFlags(k, sz, a, b, r)
		c.fc = cin
	case isa.KInc, isa.KDec:
		l := c.locA(op)
		a := c.read(op, l, sz)
		cf := c.carry()
		r, k := (a+1)&m, fkInc
		if op.Kind == isa.KDec {
			r, k = (a-1)&m, fkDec
		}
		c.write(op, l, sz, r)
		c.setFlags(k, sz, a, 0, r)
		c.fc = cf
	case isa.KNeg:
		l := c.locA(op)
		a := c.read(op, l, sz)
		r := -a & m
		c.write(op, l, sz, r)
		c.setFlags(fkNeg, sz, a, 0, r)
	case isa.KNot:
		l := c.locA(op)
		c.write(op, l, sz, ^c.read(op, l, sz)&m)

	case isa.KMul, isa.KImul1:
		c.mul1(op, sz)
	case isa.KImul2, isa.KImul3:
		var a, b uint64
		if op.Kind == isa.KImul2 {
			a, b = c.getReg(sz, op.R1), c.readB(op, sz)
		} else {
			a, b = c.readB(op, sz), op.Imm&m
		}
		lo, of := imul(a, b, sz)
		c.setReg(sz, op.R1, lo)
		c.setFlags(fkMul, sz, a, of, lo)
	case isa.KDiv, isa.KIdiv:
		c.div(op, sz)
	case isa.KCwd:
		v := uint64(0)
		if c.getReg(sz, isa.RAX)>>(8*uint(sz)-1) != 0 {
			v = m
		}
		c.setReg(sz, isa.RDX, v)
	case isa.KCbw:
		c.setReg(sz, isa.RAX, signExtend(c.getReg(sz/2, isa.RAX), sz/2)&m)

	case isa.KShl, isa.KShr, isa.KSar:
		l := c.locA(op)
		a := c.read(op, l, sz)
		n := c.readB(op, 1) & 31
		if sz == 8 {
			n = c.readB(op, 1) & 63
		}
		var r uint64
		switch op.Kind {
		case isa.KShl:
			r = a << n & m
		case isa.KShr:
			r = a >> n
		default:
			r = uint64(int64(signExtend(a, sz))>>n) & m
		}
		c.write(op, l, sz, r)
		if n != 0 { // a zero count leaves the flags alone
			k := fkSar
			switch op.Kind {
			case isa.KShl:
				k = fkShl
			case isa.KShr:
				k = fkShr
			}
			c.setFlags(k, sz, a, n, r)
		}
	case isa.KRol, isa.KRor:
		c.rotate(op)
	case isa.KBt, isa.KBts, isa.KBtr, isa.KBtc:
		w := uint64(8 * sz)
		b := c.readB(op, sz)
		l := c.locA(op)
		if l.mem && op.B == isa.OpdReg {
			// A register bit offset is signed and may reach any word.
			off := int64(signExtend(b, sz))
			l.addr += uint64(off>>bits.TrailingZeros64(w)) * uint64(sz)
		}
		bit := b & (w - 1)
		a := c.read(op, l, sz)
		cf := a >> bit & 1
		switch op.Kind {
		case isa.KBts:
			c.write(op, l, sz, a|1<<bit)
		case isa.KBtr:
			c.write(op, l, sz, a&^(1<<bit))
		case isa.KBtc:
			c.write(op, l, sz, a^1<<bit)
		}
		c.setCarry(cf)
	case isa.KSetcc:
		v := uint64(0)
		if c.cond(op.Cond) {
			v = 1
		}
		c.write(op, c.locA(op), 1, v)
	case isa.KCmovcc:
		v := c.readB(op, sz)
		if c.cond(op.Cond) {
			c.setReg(sz, op.R1, v)
		} else if sz == 4 {
			c.R[op.R1&31] &= 0xffffffff
		}

	case isa.KJcc:
		if op.Cond == isa.CondRCXZ {
			if c.R[isa.RCX]&sizeMask[sz&15] == 0 {
				next = op.Imm
			}
		} else if c.cond(op.Cond) {
			next = op.Imm
		}
	case isa.KJmp:
		next = op.Imm
	case isa.KJmpInd:
		next = c.read(op, c.locA(op), 8)
	case isa.KCall:
		c.push(8, next)
		next = op.Imm
	case isa.KCallInd:
		t := c.read(op, c.locA(op), 8)
		c.push(8, next)
		next = t
	case isa.KRet:
		sp := c.R[isa.RSP]
		next = c.load64(sp)
		c.R[isa.RSP] = sp + 8 + op.Imm
	case isa.KLeave:
		bp := c.R[isa.RBP]
		v := c.load64(bp)
		c.R[isa.RSP] = bp + 8
		c.R[isa.RBP] = v

	case isa.KMovs, isa.KStos:
		if !c.stringOp(op, sz) {
			return false // more iterations: RIP stays, re-execute
		}

	case isa.KNop, isa.KPause:
	case isa.KInt3:
		c.RIP = next
		return c.stop(c.trap(VecBP))
	case isa.KInt:
		c.RIP = next
		return c.stop(c.trap(Vector(op.Imm)))
	case isa.KHlt:
		c.privileged()
		c.RIP = next
		return c.stop(Exit{Reason: ExitHlt})
	case isa.KCli:
		c.privileged()
		c.rfl &^= FlagIF
	case isa.KSti:
		c.privileged()
		c.rfl |= FlagIF
	case isa.KPushf:
		c.push(8, c.RFLAGS())
	case isa.KPopf:
		v := c.load64(c.R[isa.RSP])
		c.R[isa.RSP] += 8
		w := uint64(flagsUserWritable)
		if c.CPL == 0 {
			w |= FlagIF
		}
		c.rfl = c.RFLAGS()&^w | v&w
		c.fk = fkRaw
	case isa.KClc, isa.KStc, isa.KCmc:
		cf := uint64(0)
		switch op.Kind {
		case isa.KStc:
			cf = 1
		case isa.KCmc:
			cf = c.carry() ^ 1
		}
		c.setCarry(cf)
	case isa.KCld:
		c.rfl &^= FlagDF
	case isa.KStd:
		c.rfl |= FlagDF

	case isa.KSyscall:
		if c.LSTAR == 0 {
			c.RIP = next
			return c.stop(Exit{Reason: ExitSyscall})
		}
		c.R[isa.RCX] = next
		c.R[isa.R11] = c.RFLAGS()
		c.SetRFLAGS(c.R[isa.R11] &^ c.FMASK)
		c.SetCPL(0)
		c.RIP = c.LSTAR
		if !c.TrapSyscalls {
			return false // the guest kernel takes it from here
		}
		return c.stop(Exit{Reason: ExitSyscall})
	case isa.KSysret:
		c.privileged()
		if !canonical(c.R[isa.RCX]) {
			c.fault(VecGP, 0, 0)
		}
		c.SetRFLAGS(c.R[isa.R11] &^ (1<<16 | 1<<17)) // RF and VM clear
		c.SetCPL(3)
		c.RIP = c.R[isa.RCX]
		if !c.TrapSyscalls {
			return false
		}
		return c.stop(Exit{Reason: ExitSysret})
	case isa.KIret:
		c.privileged()
		sp := c.R[isa.RSP]
		rip, cs, fl, rsp := c.load64(sp), c.load64(sp+8), c.load64(sp+16), c.load64(sp+24)
		c.load64(sp + 32) // ss
		if !canonical(rip) {
			c.fault(VecGP, 0, 0)
		}
		c.SetRFLAGS(fl)
		c.R[isa.RSP] = rsp
		c.SetCPL(uint8(cs & 3))
		next = rip
	case isa.KBsf, isa.KBsr:
		v := c.readB(op, sz)
		f := c.status() &^ flagsStatus
		if v == 0 {
			f |= FlagZF // the destination keeps its value, as CPUs do
		} else if op.Kind == isa.KBsf {
			c.setReg(sz, op.R1, uint64(bits.TrailingZeros64(v)))
		} else {
			c.setReg(sz, op.R1, uint64(63-bits.LeadingZeros64(v)))
		}
		c.rfl = c.rfl&^flagsStatus | f
		c.fk = fkRaw
	case isa.KBswap:
		v := c.getReg(sz, op.R1)
		if sz == 8 {
			v = bits.ReverseBytes64(v)
		} else {
			v = uint64(bits.ReverseBytes32(uint32(v)))
		}
		c.setReg(sz, op.R1, v)
	case isa.KSse:
		c.sse(op)
	case isa.KCpuid:
		c.cpuid()
	case isa.KRdtsc:
		t := c.TSC + c.Insns + (c.budget - c.left)
		c.R[isa.RAX] = t & 0xffffffff
		c.R[isa.RDX] = t >> 32
	case isa.KSwapgs:
		c.privileged()
		c.GSBase, c.KernelGSBase = c.KernelGSBase, c.GSBase
	case isa.KVmcall:
		if c.CPL != 0 {
			c.fault(VecUD, 0, 0) // as outside VMX: only the guest kernel calls the host
		}
		c.RIP = next
		if c.HostCall != nil && c.HostCall() {
			if c.mem.watchHit {
				c.watchStop() // the host's write was this instruction's
			}
			return false // served in place; the budget keeps running
		}
		return c.stop(Exit{Reason: ExitHypercall})
	default:
		panic("BUG: emu: unhandled op kind")
	}
	c.RIP = next
	return false
}

// rotate is rol and ror: only CF and OF change, and only for a non-zero
// count.
func (c *CPU) rotate(op *isa.Op) {
	sz := op.Sz
	m := sizeMask[sz&15]
	l := c.locA(op)
	a := c.read(op, l, sz)
	n := c.readB(op, 1) & 31
	if sz == 8 {
		n = c.readB(op, 1) & 63
	}
	w := uint(8 * sz)
	k := uint(n) % w
	var r uint64
	if op.Kind == isa.KRol || op.Kind == isa.KRolRI {
		r = (a<<k | a>>(w-k)) & m
	} else {
		r = (a>>k | a<<(w-k)) & m
	}
	c.write(op, l, sz, r)
	if n != 0 {
		f := c.status() &^ (FlagCF | FlagOF)
		msb := r >> (w - 1) & 1
		if op.Kind == isa.KRol || op.Kind == isa.KRolRI {
			f |= r & 1
			f |= b2f(msb != r&1, FlagOF)
		} else {
			f |= msb
			f |= b2f(msb != r>>(w-2)&1, FlagOF)
		}
		c.rfl = c.rfl&^flagsStatus | f
		c.fk = fkRaw
	}
}

// stop records why Run must return.
func (c *CPU) stop(x Exit) bool {
	c.exit = x
	return true
}

// privileged raises #GP for a CPL 0 instruction in user mode.
func (c *CPU) privileged() {
	if c.CPL != 0 {
		c.fault(VecGP, 0, 0)
	}
}

// mul1 is the one-operand mul and imul: rDX:rAX = rAX * A.
func (c *CPU) mul1(op *isa.Op, sz uint8) {
	b := c.read(op, c.locA(op), sz)
	a := c.getReg(sz, isa.RAX)
	signed := op.Kind == isa.KImul1
	var hi, lo uint64
	if sz == 8 {
		hi, lo = bits.Mul64(a, b)
		if signed {
			if int64(a) < 0 {
				hi -= b
			}
			if int64(b) < 0 {
				hi -= a
			}
		}
	} else {
		w := 8 * uint(sz)
		var p uint64
		if signed {
			p = uint64(int64(signExtend(a, sz)) * int64(signExtend(b, sz)))
		} else {
			p = a * b
		}
		lo, hi = p&sizeMask[sz], p>>w&sizeMask[sz]
	}
	var of uint64
	if signed {
		if hi != uint64(int64(signExtend(lo, sz))>>63)&sizeMask[sz] {
			of = 1
		}
	} else if hi != 0 {
		of = 1
	}
	if sz == 1 {
		c.setReg(2, isa.RAX, hi<<8|lo)
	} else {
		c.setReg(sz, isa.RAX, lo)
		c.setReg(sz, isa.RDX, hi)
	}
	c.setFlags(fkMul, sz, a, of, lo)
}

// imul multiplies two sz-byte values as signed and returns the truncated
// product and whether it overflowed.
func imul(a, b uint64, sz uint8) (lo, of uint64) {
	if sz == 8 {
		hi, l := bits.Mul64(a, b)
		if int64(a) < 0 {
			hi -= b
		}
		if int64(b) < 0 {
			hi -= a
		}
		if hi != uint64(int64(l)>>63) {
			of = 1
		}
		return l, of
	}
	p := int64(signExtend(a, sz)) * int64(signExtend(b, sz))
	lo = uint64(p) & sizeMask[sz]
	if int64(signExtend(lo, sz)) != p {
		of = 1
	}
	return lo, of
}

// div is div and idiv: rAX, rDX = rDX:rAX / A, rDX:rAX % A. A zero divisor
// or a quotient too wide for rAX raises #DE.
func (c *CPU) div(op *isa.Op, sz uint8) {
	d := c.read(op, c.locA(op), sz)
	if d == 0 {
		c.fault(VecDE, 0, 0)
	}
	var hi, lo uint64
	if sz == 1 {
		ax := c.getReg(2, isa.RAX)
		hi, lo = ax>>8, ax&0xff
	} else {
		hi, lo = c.getReg(sz, isa.RDX), c.getReg(sz, isa.RAX)
	}
	var q, r uint64
	if op.Kind == isa.KDiv {
		if sz == 8 {
			if hi >= d {
				c.fault(VecDE, 0, 0)
			}
			q, r = bits.Div64(hi, lo, d)
		} else {
			n := hi<<(8*uint(sz)) | lo
			q, r = n/d, n%d
			if q > sizeMask[sz] {
				c.fault(VecDE, 0, 0)
			}
		}
	} else {
		var ok bool
		q, r, ok = idiv(hi, lo, d, sz)
		if !ok {
			c.fault(VecDE, 0, 0)
		}
	}
	if sz == 1 {
		c.setReg(2, isa.RAX, (r&0xff)<<8|q&0xff)
		return
	}
	c.setReg(sz, isa.RAX, q)
	c.setReg(sz, isa.RDX, r)
}

// idiv divides the signed 2*sz-byte value hi:lo by the signed sz-byte d.
func idiv(hi, lo, d uint64, sz uint8) (q, r uint64, ok bool) {
	if sz < 8 {
		w := 8 * uint(sz)
		n := int64(signExtend(hi<<w|lo, 2*sz))
		dv := int64(signExtend(d, sz))
		qq, rr := n/dv, n%dv
		lim := int64(1) << (w - 1)
		if qq >= lim || qq < -lim || (n == -1<<63 && dv == -1) {
			return 0, 0, false
		}
		return uint64(qq) & sizeMask[sz], uint64(rr) & sizeMask[sz], true
	}
	neg := int64(hi) < 0
	if neg { // |hi:lo|
		lo = -lo
		hi = ^hi
		if lo == 0 {
			hi++
		}
	}
	dneg := int64(d) < 0
	ad := d
	if dneg {
		ad = -d
	}
	if hi >= ad {
		return 0, 0, false
	}
	uq, ur := bits.Div64(hi, lo, ad)
	if neg != dneg {
		if uq > 1<<63 {
			return 0, 0, false
		}
		uq = -uq
	} else if uq >= 1<<63 {
		return 0, 0, false
	}
	if neg {
		ur = -ur
	}
	return uq, ur, true
}

// stringOp runs movs or stos, with rep up to a chunk of iterations at a
// time, and reports whether the instruction is finished. An unfinished rep
// leaves RIP at the instruction (as an interrupted rep does on hardware)
// so that budgets and interrupts still apply to long copies.
func (c *CPU) stringOp(op *isa.Op, sz uint8) bool {
	rep := op.Cond != 0
	step := uint64(sz)
	if c.rfl&FlagDF != 0 {
		step = -step
	}
	for i := 0; i < 4096; i++ {
		if rep && c.R[isa.RCX] == 0 {
			return true
		}
		if op.Kind == isa.KMovs {
			c.store(sz, c.R[isa.RDI], c.load(sz, c.R[isa.RSI]))
			c.R[isa.RSI] += step
		} else {
			c.store(sz, c.R[isa.RDI], c.getReg(sz, isa.RAX))
		}
		c.R[isa.RDI] += step
		if !rep {
			return true
		}
		c.R[isa.RCX]--
	}
	return c.R[isa.RCX] == 0
}

// cpuid answers the few leaves klpsim's guests ask: the vendor string and
// feature words that claim exactly what the interpreter implements: the
// time-stamp counter, cmpxchg8b's feature bit (cmpxchg), cmov, and the
// SSE/SSE2 integer and move instructions of isa/sse.go. No x87, no
// SSE3 or later, no AVX: glibc's IFUNC resolvers pick the SSE2 string
// functions. Leaf 7 (extended features) answers all zeros.
func (c *CPU) cpuid() {
	var a, b, cx, d uint32
	switch uint32(c.R[isa.RAX]) {
	case 0:
		a = 7
		// "klpsimx86-64" in ebx, edx, ecx order.
		b, d, cx = 0x73706c6b, 0x3878696d, 0x34362d36
	case 1:
		a = 0x00000f01                          // family 15, model 0, stepping 1
		d = 1<<4 | 1<<8 | 1<<15 | 1<<25 | 1<<26 // tsc, cx8, cmov, sse, sse2
	}
	c.R[isa.RAX], c.R[isa.RBX], c.R[isa.RCX], c.R[isa.RDX] = uint64(a), uint64(b), uint64(cx), uint64(d)
}
