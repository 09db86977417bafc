package emu

import (
	"runtime"
	"syscall"
	"unsafe"

	"klpsim/isa"
)

const jitSupported = true

// jitEnter runs translated code (jit_amd64.s): R15 holds c, and the code
// returns 0 when it ran to the block's end or left by a side exit (rip
// and the budget then set), or 1+i when the interpreter must go on at
// op i, run from the code page at c.jbase.
//
//go:noescape
func jitEnter(code uintptr, c *CPU) uint64

// Offsets of the CPU fields translated code reads and writes.
const (
	offR     = int32(unsafe.Offsetof(CPU{}.R))
	offRIP   = int32(unsafe.Offsetof(CPU{}.RIP))
	offFk    = int32(unsafe.Offsetof(CPU{}.fk))
	offFsz   = int32(unsafe.Offsetof(CPU{}.fsz))
	offFc    = int32(unsafe.Offsetof(CPU{}.fc))
	offFa    = int32(unsafe.Offsetof(CPU{}.fa))
	offFb    = int32(unsafe.Offsetof(CPU{}.fb))
	offFr    = int32(unsafe.Offsetof(CPU{}.fr))
	offRfl   = int32(unsafe.Offsetof(CPU{}.rfl))
	offCPL   = int32(unsafe.Offsetof(CPU{}.CPL))
	offFS    = int32(unsafe.Offsetof(CPU{}.FSBase))
	offGS    = int32(unsafe.Offsetof(CPU{}.GSBase))
	offKGS   = int32(unsafe.Offsetof(CPU{}.KernelGSBase))
	offRt    = int32(unsafe.Offsetof(CPU{}.rt))
	offWt    = int32(unsafe.Offsetof(CPU{}.wt))
	offLeft  = int32(unsafe.Offsetof(CPU{}.left))
	offJbase = int32(unsafe.Offsetof(CPU{}.jbase))
)

// The TLB probe reads a tlbEntry as {vpn, page pointer} and a page's bytes
// at the page pointer itself; fk and fsz are stored as one 16-bit word.
var _ = [1]struct{}{}[unsafe.Offsetof(page{}.data)]
var _ = [1]struct{}{}[unsafe.Offsetof(tlbEntry{}.vpn)]
var _ = [1]struct{}{}[unsafe.Offsetof(tlbEntry{}.p)-8]
var _ = [1]struct{}{}[unsafe.Sizeof(tlbEntry{})-16]
var _ = [1]struct{}{}[offFsz-offFk-1]
var _ = [1]struct{}{}[tlbSize-1024]

// jitArena holds a Memory's translated code: executable chunks filled in
// order and never reused, so code a block points at stays valid for the
// Memory's life (old copies of a block, kept by a chain link or a
// checkpoint, may still run it). When jitMaxBytes are used the Memory
// stops translating.
type jitArena struct {
	chunks   [][]byte
	free     []byte // the unused end of the last chunk
	used     int
	blocks   int
	declined int
	full     bool
}

const (
	jitChunk    = 1 << 20
	jitMaxBytes = 64 << 20
)

// translate compiles b into host code, or leaves it to the interpreter
// when none of its ops translates or the arena is full (the block is not
// tried again: its run count only passes jitHot once).
func (m *Memory) translate(b *block) {
	if m.jit == nil {
		m.jit = new(jitArena)
		runtime.AddCleanup(m, func(a *jitArena) { a.release() }, m.jit)
	}
	a := m.jit
	if a.full {
		return
	}
	code, entries := compileBlock(b)
	if code == nil {
		a.declined++
		return
	}
	if len(code) > len(a.free) {
		if (len(a.chunks)+1)*jitChunk > jitMaxBytes || len(code) > jitChunk {
			a.full = true
			return
		}
		c, err := syscall.Mmap(-1, 0, jitChunk, syscall.PROT_READ|syscall.PROT_WRITE|syscall.PROT_EXEC, syscall.MAP_PRIVATE|syscall.MAP_ANON)
		if err != nil {
			a.full = true
			return
		}
		a.chunks = append(a.chunks, c)
		a.free = c
	}
	copy(a.free, code)
	b.code = uintptr(unsafe.Pointer(&a.free[0]))
	b.entries = entries
	a.free = a.free[min((len(code)+15)&^15, len(a.free)):] // 16-byte aligned starts
	a.used += len(code)
	a.blocks++
}

func (a *jitArena) release() {
	for _, c := range a.chunks {
		syscall.Munmap(c)
	}
	a.chunks, a.free = nil, nil
}

// Host register use: R15 is the CPU; RAX, RCX, RDX and R8–R11, RSI are
// scratch. The TLB probe takes the address in RAX and leaves the page in
// RDX and the offset in RCX, clobbering R8. RBP, RSP and R14 (Go's g) are
// never touched.
const hCPU = h15

// Static flag kinds: fkUnknown when the flags come from before the block.
const fkUnknown = 0xff

type jitComp struct {
	xasm
	base uint64 // the code page the ops run from
	sfk  uint8  // the lazy flag kind the ops so far leave, or fkUnknown
	ssz  int    // and its size
	// Jumps to patch: to the fallback of op i, and to side exits.
	falls []jitFall
	sides []jitSide
}

type jitFall struct {
	pos  int
	i    int
	base uint64
}

type jitSide struct {
	pos    int
	rip    uint64 // where the branch goes; with fromR9, rip is in R9
	fromR9 bool
	back   uint64 // instructions given back to the budget
}

// compileBlock translates b's ops, or returns nil when none translates.
// An op without a translation ends a segment with its fallback, and the
// next op starts another, an entry where the interpreter comes back into
// the translation once it has done that op (entries, in op order).
func compileBlock(b *block) (code []byte, entries []jitEntry) {
	j := &jitComp{sfk: fkUnknown}
	j.base = b.rip &^ (PageSize - 1)
	ops := b.ops
	open := false // the current segment has code
	any := false
	for i := 0; i < len(ops); i++ {
		op := &ops[i]
		last := i == len(ops)-1
		if op.Kind >= isa.KStoreRun && op.Kind <= isa.KPopRun {
			// A run: one probe for all of its ops, or on to them one by
			// one (the run's ops are never the block's last).
			if n := int(op.Cond); j.run(op, ops[i+1:i+1+n], i) {
				i += n
			}
			open, any = true, true
			continue
		}
		mark := len(j.b)
		nf, ns := len(j.falls), len(j.sides)
		sfk, ssz := j.sfk, j.ssz
		if j.op(op, i, last) {
			open, any = true, true
			continue
		}
		j.b, j.falls, j.sides, j.sfk, j.ssz = j.b[:mark], j.falls[:nf], j.sides[:ns], sfk, ssz
		switch {
		case open || i == 0:
			// The interpreter does op i; at the block's start too, so
			// that the block's code begins at op 0.
			j.toFall(j.jmp(), i)
		case len(entries) > 0 && entries[len(entries)-1].i == uint16(i):
			entries = entries[:len(entries)-1] // an entry with no code
		}
		open = false
		if i+1 < len(ops) {
			entries = append(entries, jitEntry{i: uint16(i + 1), off: uint32(len(j.b))})
			j.sfk = fkUnknown // op i may have set them
		}
	}
	if !any {
		return nil, nil
	}
	if open {
		if b.fix {
			j.setRIP(j.base + uint64(ops[len(ops)-1].End))
		}
		j.retN(0)
	}
	// Out-of-line exits.
	fallAt := map[int]int{}
	for _, f := range j.falls {
		at, ok := fallAt[f.i]
		if !ok {
			at = len(j.b)
			fallAt[f.i] = at
			j.movImm64(hAX, f.base)
			j.movStore(8, mem(hCPU, offJbase), hAX)
			j.retN(uint32(1 + f.i))
		}
		j.patchTo(f.pos, at)
	}
	for _, s := range j.sides {
		j.patch(s.pos)
		if s.fromR9 {
			j.movStore(8, mem(hCPU, offRIP), h9)
		} else {
			j.setRIP(s.rip)
		}
		if s.back != 0 {
			j.aluImm(8, aluAdd, mem(hCPU, offLeft), int32(s.back))
		}
		j.retN(0)
	}
	return j.b, entries
}

// retN returns n to jitEnter.
func (j *jitComp) retN(n uint32) {
	if n == 0 {
		j.alu(4, aluXor, hAX, reg(hAX))
	} else {
		j.movImm64(hAX, uint64(n))
	}
	j.ret()
}

func (j *jitComp) toFall(pos, i int) {
	j.falls = append(j.falls, jitFall{pos: pos, i: i, base: j.base})
}

func (j *jitComp) toSide(pos int, rip uint64, back uint8) {
	j.sides = append(j.sides, jitSide{pos: pos, rip: rip, back: uint64(back)})
}

// slot is guest register r in the CPU.
func slot(r uint8) operand { return mem(hCPU, offR+8*int32(r&31)) }

// ld loads guest register r into h, truncated to sz (4 or 8) bytes.
func (j *jitComp) ld(h int, r uint8, sz uint8) {
	if r&31 >= isa.RegNone {
		j.alu(4, aluXor, h, reg(h)) // the always-zero register
		return
	}
	if sz == 8 {
		j.movLoad(8, h, slot(r))
	} else {
		j.movLoad(4, h, slot(r))
	}
}

// st stores h into guest register r.
func (j *jitComp) st(r uint8, h int) { j.movStore(8, slot(r), h) }

func (j *jitComp) setRIP(v uint64) {
	if fits32(v) {
		j.movImm(8, mem(hCPU, offRIP), int32(v))
		return
	}
	j.movImm64(hAX, v)
	j.movStore(8, mem(hCPU, offRIP), hAX)
}

// setFlags records a lazy flag state as the interpreter does; a, b, r are
// host registers or hNone for the fields the kind leaves alone.
func (j *jitComp) setFlags(fk uint8, sz uint8, a, b, r int) {
	j.movImm(2, mem(hCPU, offFk), int32(fk)|int32(sz)<<8)
	if a != hNone {
		j.movStore(8, mem(hCPU, offFa), a)
	}
	if b != hNone {
		j.movStore(8, mem(hCPU, offFb), b)
	}
	if r != hNone {
		j.movStore(8, mem(hCPU, offFr), r)
	}
	j.sfk, j.ssz = fk, int(sz)
}

// mask truncates h to sz bytes.
func (j *jitComp) mask(h int, sz uint8) {
	switch sz {
	case 4:
		j.movRR(4, h, h)
	case 2:
		j.movzx(2, h, reg(h))
	case 1:
		j.movzx(1, h, reg(h))
	}
}

// fits32 reports whether v is a sign-extended 32-bit immediate.
func fits32(v uint64) bool { return int64(v) == int64(int32(v)) }

// aluRI does h op= v at size sz (4 or 8; v already truncated to sz).
func (j *jitComp) aluRI(sz uint8, op, h int, v uint64) {
	switch {
	case sz == 4:
		j.aluImm(4, op, reg(h), int32(uint32(v)))
	case fits32(v):
		j.aluImm(8, op, reg(h), int32(v))
	default:
		j.movImm64(h11, v)
		j.alu(8, op, h, reg(h11))
	}
}

// ea computes op's memory address (flat, no segment) into h; clobbers R10,
// R11.
func (j *jitComp) ea(h int, op *isa.Op) {
	base, index := op.Base&31 < isa.RegNone, op.Index&31 < isa.RegNone
	disp := op.Disp
	d := int32(0)
	big := !fits32(disp)
	if !big {
		d = int32(disp)
	}
	switch {
	case base && index:
		j.ld(h, op.Base, 8)
		j.ld(h11, op.Index, 8)
		j.lea(8, h, memX(h, h11, op.Scale, d))
	case base:
		j.ld(h, op.Base, 8)
		if d != 0 {
			j.lea(8, h, mem(h, d))
		}
	case index:
		j.ld(h11, op.Index, 8)
		j.lea(8, h, memX(hNone, h11, op.Scale, d))
	default:
		j.movImm64(h, disp)
		return
	}
	if big {
		j.movImm64(h10, disp)
		j.alu(8, aluAdd, h, reg(h10))
	}
}

// probe looks the address in RAX up in the read (write false) or write
// TLB for an access of n bytes: on a hit RDX is the page's bytes and RCX
// the offset; a miss, or an access the fast path does not take (the
// interpreter's: within 8 bytes of the page end), goes to op i's fallback.
func (j *jitComp) probe(write bool, i int, n int32) { j.probeSpan(write, i, max(n, 8)) }

// probeSpan is probe for n bytes from the address in RAX, all on its page.
func (j *jitComp) probeSpan(write bool, i int, n int32) {
	t := offRt
	if write {
		t = offWt
	}
	j.movRR(8, h8, hAX)
	j.shiftImm(8, shShr, reg(h8), 12)
	j.movRR(8, hDX, h8)
	j.shiftImm(8, shShr, reg(hDX), 10)
	j.alu(8, aluXor, hDX, reg(h8))
	j.aluImm(4, aluAnd, reg(hDX), tlbMask)
	j.shiftImm(4, shShl, reg(hDX), 4)
	j.alu(8, aluAdd, hDX, mem(hCPU, t))
	j.alu(8, aluCmp, h8, mem(hDX, 0))
	j.toFall(j.jcc(ccNE), i)
	j.movLoad(8, hDX, mem(hDX, 8))
	j.movRR(4, hCX, hAX)
	j.aluImm(4, aluAnd, reg(hCX), PageSize-1)
	j.aluImm(4, aluCmp, reg(hCX), PageSize-n)
	j.toFall(j.jcc(ccA), i)
}

// at is the probed byte.
var at = memX(hDX, hCX, 0, 0)

// load reads sz bytes (1, 2: zero-extended; 4: zero-extended; 8) at the
// probed address into h.
func (j *jitComp) load(h int, sz uint8) {
	switch sz {
	case 1, 2:
		j.movzx(int(sz), h, at)
	case 8:
		j.movLoad(8, h, at)
	default:
		j.movLoad(4, h, at)
	}
}

// hostFlags sets the host's arithmetic flags to the guest's, as far as
// conditions read them, from the flag state the ops so far left; false
// when it is not known here. Clobbers R8.
func (j *jitComp) hostFlags() bool {
	sz := j.ssz
	switch j.sfk {
	case fkSub:
		j.movLoad(8, h8, mem(hCPU, offFa))
		j.alu(sz, aluCmp, h8, mem(hCPU, offFb))
	case fkAdd:
		j.movLoad(8, h8, mem(hCPU, offFa))
		j.alu(sz, aluAdd, h8, mem(hCPU, offFb))
	case fkLogic:
		j.movLoad(8, h8, mem(hCPU, offFr))
		j.test(sz, reg(h8), h8)
	case fkInc, fkDec:
		j.btImm(mem(hCPU, offFc), 0)
		j.movLoad(8, h8, mem(hCPU, offFa))
		j.incDec(sz, reg(h8), j.sfk == fkDec)
	default:
		return false
	}
	return true
}

// branch ends a conditional branch whose condition is host condition cc:
// taken, rip is target and the instructions after it go back to the
// budget; not taken, a branch at the block's end sets rip past itself.
func (j *jitComp) branch(cc uint8, op *isa.Op, target uint64, last bool) {
	j.toSide(j.jcc(cc), target, op.Sz2)
	if last {
		j.setRIP(j.base + uint64(op.End))
	}
}

// carry puts the lazy CF (0 or 1) into R9, as c.carry() does; a flag
// kind it does not read (after a shift, a multiply, adc) goes to op i's
// fallback. Clobbers R8.
func (j *jitComp) carry(i int) {
	switch j.sfk {
	case fkSub:
		j.movLoad(8, h8, mem(hCPU, offFa))
		j.alu(8, aluCmp, h8, mem(hCPU, offFb))
		j.setcc(ccB, h9)
		j.movzx(1, h9, reg(h9))
	case fkAdd:
		j.movLoad(8, h8, mem(hCPU, offFr))
		j.alu(8, aluCmp, h8, mem(hCPU, offFa))
		j.setcc(ccB, h9)
		j.movzx(1, h9, reg(h9))
	case fkLogic:
		j.alu(4, aluXor, h9, reg(h9))
	case fkInc, fkDec:
		j.movLoad(8, h9, mem(hCPU, offFc))
		j.aluImm(4, aluAnd, reg(h9), FlagCF)
	case fkRaw:
		j.movLoad(8, h9, mem(hCPU, offRfl))
		j.aluImm(4, aluAnd, reg(h9), FlagCF)
	default:
		// Decided when the op runs.
		j.movzx(1, h8, mem(hCPU, offFk))
		var done []int
		for _, k := range []uint8{fkSub, fkAdd, fkLogic, fkInc, fkDec, fkRaw} {
			j.aluImm(4, aluCmp, reg(h8), int32(k))
			skip := j.jcc(ccNE)
			save := j.sfk
			j.sfk = k
			j.carry(i)
			j.sfk = save
			done = append(done, j.jmp())
			j.patch(skip)
		}
		j.toFall(j.jmp(), i)
		for _, p := range done {
			j.patch(p)
		}
	}
}

// op translates one op; false when it has no translation (nothing was
// emitted that matters: the caller rolls back).
func (j *jitComp) op(op *isa.Op, i int, last bool) bool {
	sz := op.Sz
	switch op.Kind {
	case isa.KMovRR:
		j.ld(hAX, op.R2, sz)
		j.st(op.R1, hAX)
	case isa.KMovRI:
		if fits32(op.Imm) {
			j.movImm(8, slot(op.R1), int32(op.Imm))
		} else {
			j.movImm64(hAX, op.Imm)
			j.st(op.R1, hAX)
		}
	case isa.KLeaR:
		j.ea(hAX, op)
		j.mask(hAX, sz)
		j.st(op.R1, hAX)
	case isa.KMovsxdR:
		j.movsxd(hAX, slot(op.R2))
		j.st(op.R1, hAX)

	case isa.KLoad, isa.KLoadSeg:
		j.ea(hAX, op)
		if op.Kind == isa.KLoadSeg {
			j.alu(8, aluAdd, hAX, mem(hCPU, segOff(op.Seg)))
		}
		j.probe(false, i, int32(sz))
		j.load(h9, ldSize(sz))
		j.st(op.R1, h9)
	case isa.KStore, isa.KStoreI, isa.KStoreSeg:
		j.ea(hAX, op)
		if op.Kind == isa.KStoreSeg {
			j.alu(8, aluAdd, hAX, mem(hCPU, segOff(op.Seg)))
		}
		j.probe(true, i, int32(sz))
		if op.Kind == isa.KStoreI {
			j.movImm64(h9, op.Imm)
		} else {
			j.movLoad(8, h9, slot(op.R2))
		}
		j.movStore(int(ldSize(sz)), at, h9)
	case isa.KLoadZX:
		j.ea(hAX, op)
		j.probe(false, i, int32(op.Sz2))
		j.load(h9, op.Sz2)
		j.st(op.R1, h9)
	case isa.KAddMR:
		j.ea(hAX, op)
		j.movRR(8, h10, hAX) // the address, for the store
		j.probe(false, i, int32(sz))
		j.load(h9, ldSize(sz)) // a
		j.ld(h11, op.R2, sz)   // b
		j.movRR(8, hSI, h11)
		j.alu(int(ldSize(sz)), aluAdd, hSI, reg(h9)) // r
		j.movRR(8, hAX, h10)
		j.probe(true, i, int32(sz))
		j.movStore(int(ldSize(sz)), at, hSI)
		j.setFlags(fkAdd, sz, h9, h11, hSI)
	case isa.KCmpRM:
		j.ea(hAX, op)
		j.probe(false, i, int32(sz))
		j.load(h9, ldSize(sz)) // b
		j.ld(hAX, op.R1, sz)   // a
		j.movRR(8, hDX, hAX)
		j.alu(int(sz), aluSub, hDX, reg(h9))
		j.setFlags(fkSub, sz, hAX, h9, hDX)
	case isa.KCmpMI:
		j.ea(hAX, op)
		j.probe(false, i, int32(sz))
		j.load(h9, cmpSize(sz)) // a
		j.movImm64(hAX, op.Imm) // b
		j.movRR(8, hDX, h9)
		j.alu(int(cmpSize(sz)), aluSub, hDX, reg(hAX))
		j.mask(hDX, cmpSize(sz))
		j.setFlags(fkSub, sz, h9, hAX, hDX)

	case isa.KAddRR, isa.KSubRR, isa.KCmpRR, isa.KAddRI, isa.KSubRI, isa.KCmpRI:
		j.ld(hAX, op.R1, sz) // a
		if rrKind(op.Kind) {
			j.ld(hCX, op.R2, sz) // b
		} else {
			j.movImm64(hCX, op.Imm)
		}
		j.movRR(8, hDX, hAX)
		j.alu(int(sz), aluOf[op.Kind], hDX, reg(hCX)) // r
		if op.Kind != isa.KCmpRR && op.Kind != isa.KCmpRI {
			j.st(op.R1, hDX)
		}
		fk := uint8(fkSub)
		if aluOf[op.Kind] == aluAdd {
			fk = fkAdd
		}
		j.setFlags(fk, sz, hAX, hCX, hDX)
	case isa.KAndRR, isa.KOrRR, isa.KXorRR, isa.KTestRR, isa.KAndRI, isa.KOrRI, isa.KXorRI, isa.KTestRI:
		j.ld(hAX, op.R1, sz)
		if rrKind(op.Kind) {
			j.alu(int(sz), aluOf[op.Kind], hAX, slot(op.R2))
		} else {
			j.aluRI(sz, aluOf[op.Kind], hAX, op.Imm)
		}
		if op.Kind != isa.KTestRR && op.Kind != isa.KTestRI {
			j.st(op.R1, hAX)
		}
		j.setFlags(fkLogic, sz, hNone, hNone, hAX)
	case isa.KAddRRNF, isa.KSubRRNF, isa.KAndRRNF, isa.KOrRRNF, isa.KXorRRNF,
		isa.KAddRINF, isa.KSubRINF, isa.KAndRINF, isa.KOrRINF, isa.KXorRINF:
		j.ld(hAX, op.R1, sz)
		if rrKind(op.Kind) {
			j.alu(int(sz), aluOf[op.Kind], hAX, slot(op.R2))
		} else {
			j.aluRI(sz, aluOf[op.Kind], hAX, op.Imm)
		}
		j.st(op.R1, hAX)
	case isa.KFlagsNop:

	case isa.KIncR, isa.KDecR, isa.KDecJccR:
		j.carry(i)
		j.ld(hAX, op.R1, sz)
		j.movRR(8, hCX, hAX)
		dec := op.Kind != isa.KIncR
		j.incDec(int(sz), reg(hCX), dec)
		j.st(op.R1, hCX)
		fk := uint8(fkInc)
		if dec {
			fk = fkDec
		}
		j.setFlags(fk, sz, hAX, hNone, hCX)
		j.movStore(8, mem(hCPU, offFc), h9)
		if op.Kind == isa.KDecJccR {
			j.test(int(sz), reg(hCX), hCX)
			j.branch(op.Cond, op, op.Disp, last)
		}
	case isa.KMov, isa.KAdd, isa.KOr, isa.KAnd, isa.KSub, isa.KXor, isa.KCmp, isa.KTest:
		return j.genericALU(op, i, last)
	case isa.KMovzx, isa.KMovsx:
		return j.genericExtend(op, i, last)
	case isa.KSetcc:
		return j.genericSetcc(op, i, last)
	case isa.KInc, isa.KDec:
		// The generic kinds, for a flat memory operand only (counters:
		// inc qword ptr [rip + n]); as generic does, fb is 0 and rip is
		// set past the op.
		if op.A != isa.OpdMem || op.Seg != 0 || (sz != 1 && sz != 2 && sz != 4 && sz != 8) {
			return false
		}
		j.ea(hAX, op)
		j.movRR(8, h10, hAX)
		j.probe(false, i, int32(sz))
		j.load(h11, sz) // a
		j.carry(i)
		j.movRR(8, hSI, h11)
		dec := op.Kind == isa.KDec
		j.incDec(int(sz), reg(hSI), dec)
		j.mask(hSI, sz)
		j.movRR(8, hAX, h10)
		j.probe(true, i, int32(sz))
		j.movStore(int(sz), at, hSI)
		fk := uint8(fkInc)
		if dec {
			fk = fkDec
		}
		j.alu(4, aluXor, hAX, reg(hAX))
		j.setFlags(fk, sz, h11, hAX, hSI)
		j.movStore(8, mem(hCPU, offFc), h9)
		if last {
			j.setRIP(j.base + uint64(op.End))
		}
	case isa.KShlRI, isa.KShrRI, isa.KShlRINF, isa.KShrRINF:
		j.ld(hAX, op.R1, sz)
		j.movRR(8, hDX, hAX)
		o := shShl
		if op.Kind == isa.KShrRI || op.Kind == isa.KShrRINF {
			o = shShr
		}
		j.shiftImm(int(sz), o, reg(hDX), uint8(op.Imm))
		j.st(op.R1, hDX)
		if op.Kind == isa.KShlRI || op.Kind == isa.KShrRI {
			j.movImm64(hCX, op.Imm)
			fk := uint8(fkShl)
			if o == shShr {
				fk = fkShr
			}
			j.setFlags(fk, sz, hAX, hCX, hDX)
		}
	case isa.KRotNF:
		o := shRol
		if op.Cond != 0 {
			o = shRor
		}
		j.ld(hAX, op.R1, sz)
		j.shiftImm(int(sz), o, reg(hAX), uint8(op.Imm))
		j.mask(hAX, sz)
		j.st(op.R1, hAX)
	case isa.KImulRR, isa.KImulRRI, isa.KImulRRNF, isa.KImulRRINF:
		if op.Kind == isa.KImulRR || op.Kind == isa.KImulRRNF {
			j.ld(hAX, op.R1, sz)
			j.ld(hCX, op.R2, sz)
		} else {
			j.ld(hAX, op.R2, sz)
			j.movImm64(hCX, op.Imm)
		}
		j.movRR(8, h10, hAX) // a
		j.imul(int(sz), hAX, reg(hCX))
		j.setcc(0, h9) // OF
		j.movzx(1, h9, reg(h9))
		j.st(op.R1, hAX)
		if op.Kind == isa.KImulRR || op.Kind == isa.KImulRRI {
			j.setFlags(fkMul, sz, h10, h9, hAX)
		}
	case isa.KCmovRR:
		if !j.hostFlags() {
			return false
		}
		j.ld(hAX, op.R1, 8)
		j.cmov(op.Cond, hAX, slot(op.R2))
		j.mask(hAX, sz)
		j.st(op.R1, hAX)

	case isa.KCmpJccRR, isa.KCmpJccRI:
		j.ld(hAX, op.R1, sz)
		if op.Kind == isa.KCmpJccRR {
			j.ld(hCX, op.R2, sz)
		} else {
			j.movImm64(hCX, op.Imm)
		}
		j.movRR(8, hDX, hAX)
		j.alu(int(sz), aluSub, hDX, reg(hCX))
		j.setFlags(fkSub, sz, hAX, hCX, hDX)
		j.alu(int(sz), aluCmp, hAX, reg(hCX))
		j.branch(op.Cond, op, op.Disp, last)
	case isa.KTestJccRR, isa.KTestJccRI:
		j.ld(hAX, op.R1, sz)
		if op.Kind == isa.KTestJccRR {
			j.alu(int(sz), aluAnd, hAX, slot(op.R2))
		} else {
			j.aluRI(sz, aluAnd, hAX, op.Imm)
		}
		j.setFlags(fkLogic, sz, hNone, hNone, hAX)
		j.test(int(sz), reg(hAX), hAX)
		j.branch(op.Cond, op, op.Disp, last)
	case isa.KJccRel:
		if !j.hostFlags() {
			return false
		}
		j.branch(op.Cond, op, op.Imm, last)
	case isa.KJzRel, isa.KJnzRel:
		// ZF is "result is zero" for every lazy kind but fkRaw.
		if j.sfk == fkUnknown || j.sfk == fkRaw {
			j.aluImm(1, aluCmp, mem(hCPU, offFk), int32(fkRaw))
			j.toFall(j.jcc(ccE), i)
		}
		j.aluImm(8, aluCmp, mem(hCPU, offFr), 0)
		cc := uint8(ccE)
		if op.Kind == isa.KJnzRel {
			cc = ccNE
		}
		j.branch(cc, op, op.Imm, last)
	case isa.KJmpRel:
		// Inside a block rip is dead: every way out sets it.
		if last {
			j.setRIP(op.Imm)
		}

	case isa.KPush, isa.KPushR, isa.KPushI, isa.KCallRel, isa.KCallR:
		switch op.Kind {
		case isa.KPush:
			// The generic kind, for a qword memory operand (the syscall
			// entry's push qword ptr gs:[...]); as generic does, rip is
			// set past the op.
			if op.A != isa.OpdMem || sz != 8 || op.B == isa.OpdImm || op.Seg&isa.Addr32 != 0 {
				return false
			}
			j.ea(hAX, op)
			if op.Seg&3 != 0 {
				j.alu(8, aluAdd, hAX, mem(hCPU, segOff(op.Seg)))
			}
			j.probe(false, i, 8)
			j.movLoad(8, h9, at)
		case isa.KPushR:
			j.movLoad(8, h9, slot(op.R1))
		case isa.KPushI:
			j.movImm64(h9, op.Imm)
		case isa.KCallR:
			j.movLoad(8, h11, slot(op.R1))
			fallthrough
		default:
			j.movImm64(h9, j.base+uint64(op.End))
		}
		j.push(h9, i)
		switch {
		case op.Kind == isa.KCallRel && last:
			j.setRIP(op.Imm)
		case op.Kind == isa.KCallR:
			j.movStore(8, mem(hCPU, offRIP), h11)
		case op.Kind == isa.KPush && last:
			j.setRIP(j.base + uint64(op.End))
		}
	case isa.KPopR, isa.KRetN, isa.KRetP:
		j.movLoad(8, hAX, slot(isa.RSP))
		j.movRR(8, h10, hAX)
		j.probe(false, i, 8)
		j.movLoad(8, h9, at)
		j.aluImm(8, aluAdd, reg(h10), 8)
		j.st(isa.RSP, h10)
		switch op.Kind {
		case isa.KPopR:
			j.st(op.R1, h9)
		case isa.KRetN:
			j.movStore(8, mem(hCPU, offRIP), h9)
		default:
			// On where the block goes, or out to where the stack says.
			j.movImm64(hAX, op.Imm)
			j.alu(8, aluCmp, h9, reg(hAX))
			j.sides = append(j.sides, jitSide{pos: j.jcc(ccNE), fromR9: true, back: uint64(op.Sz2)})
		}

	case isa.KPage:
		j.base = op.Imm
	case isa.KStoreRun, isa.KLoadRun, isa.KPushRun, isa.KPopRun:
		// Run headers only batch the ops after them; each is translated.
	case isa.KNop:
		if last {
			j.setRIP(j.base + uint64(op.End))
		}
	case isa.KCli, isa.KSti, isa.KSwapgs:
		j.aluImm(1, aluCmp, mem(hCPU, offCPL), 0)
		j.toFall(j.jcc(ccNE), i)
		switch op.Kind {
		case isa.KCli:
			j.aluImm(8, aluAnd, mem(hCPU, offRfl), ^int32(FlagIF))
		case isa.KSti:
			j.aluImm(8, aluOr, mem(hCPU, offRfl), FlagIF)
		default:
			j.movLoad(8, hAX, mem(hCPU, offGS))
			j.movLoad(8, hCX, mem(hCPU, offKGS))
			j.movStore(8, mem(hCPU, offGS), hCX)
			j.movStore(8, mem(hCPU, offKGS), hAX)
		}
		if last {
			j.setRIP(j.base + uint64(op.End))
		}
	case isa.KPushf:
		if sz != 8 {
			return false
		}
		// RFLAGS: rfl's other bits and the status bits, from the host's
		// flags set as the guest's (AF is 0 after a logic op, as
		// flags.go has it) or from rfl when they are raw.
		switch {
		case j.sfk == fkUnknown:
			j.aluImm(1, aluCmp, mem(hCPU, offFk), int32(fkRaw))
			j.toFall(j.jcc(ccNE), i)
			j.movLoad(8, h9, mem(hCPU, offRfl))
		case j.sfk == fkRaw:
			j.movLoad(8, h9, mem(hCPU, offRfl))
		default:
			logic := j.sfk == fkLogic
			if !j.hostFlags() {
				return false
			}
			j.pushfPop(h11)
			st := int32(flagsStatus)
			if logic {
				st &^= FlagAF
			}
			j.aluImm(8, aluAnd, reg(h11), st)
			j.movLoad(8, h9, mem(hCPU, offRfl))
			j.aluImm(8, aluAnd, reg(h9), ^int32(flagsStatus))
			j.alu(8, aluOr, h9, reg(h11))
		}
		j.push(h9, i)
		if last {
			j.setRIP(j.base + uint64(op.End))
		}
	case isa.KPopf:
		if sz != 8 {
			return false
		}
		j.aluImm(1, aluCmp, mem(hCPU, offCPL), 0)
		j.toFall(j.jcc(ccNE), i)
		j.movLoad(8, hAX, slot(isa.RSP))
		j.movRR(8, h10, hAX)
		j.probe(false, i, 8)
		const w = flagsUserWritable | FlagIF
		j.movLoad(8, h9, at)
		j.aluImm(8, aluAnd, reg(h9), w)
		j.movLoad(8, hAX, mem(hCPU, offRfl))
		j.aluImm(8, aluAnd, reg(hAX), ^int32(w))
		j.alu(8, aluOr, hAX, reg(h9))
		j.movStore(8, mem(hCPU, offRfl), hAX)
		j.movImm(1, mem(hCPU, offFk), int32(fkRaw))
		j.sfk = fkRaw
		j.aluImm(8, aluAdd, reg(h10), 8)
		j.st(isa.RSP, h10)
		if last {
			j.setRIP(j.base + uint64(op.End))
		}
	default:
		return false
	}
	return true
}

// run translates a run header (block.go, runs) and its ops: when their
// bytes are on one page the TLB holds, all of them with one probe, as
// c.run1 does; otherwise the interpreter goes on at the header (which
// then runs them one by one). False, with nothing emitted, when an op of
// the run has no translation here.
func (j *jitComp) run(h *isa.Op, run []isa.Op, i int) bool {
	for k := range run {
		switch run[k].Kind {
		case isa.KStore, isa.KStoreI, isa.KLoad, isa.KPushR, isa.KPushI, isa.KPopR:
		default:
			return false
		}
	}
	span := int32(h.Imm)
	lo := int32(0) // the run's lowest byte, from the probed address
	switch h.Kind {
	case isa.KStoreRun, isa.KLoadRun:
		if !fits32(h.Disp) {
			return false
		}
		lo = int32(h.Disp)
		j.ld(hAX, h.Base, 8)
		j.lea(8, hAX, mem(hAX, lo))
	case isa.KPushRun:
		j.movLoad(8, hAX, slot(isa.RSP))
		j.aluImm(8, aluSub, reg(hAX), span)
		j.movRR(8, h10, hAX)
	default:
		j.movLoad(8, hAX, slot(isa.RSP))
		j.movRR(8, h10, hAX)
	}
	j.probeSpan(h.Kind == isa.KStoreRun || h.Kind == isa.KPushRun, i, span)
	// [RDX+RCX] is the run's lowest byte now.
	byteAt := func(d int32) operand { return memX(hDX, hCX, 0, d) }
	for k := range run {
		s := &run[k]
		switch h.Kind {
		case isa.KStoreRun:
			if s.Kind == isa.KStoreI {
				j.movImm64(h9, s.Imm)
			} else {
				j.movLoad(8, h9, slot(s.R2))
			}
			j.movStore(8, byteAt(int32(s.Disp)-lo), h9)
		case isa.KLoadRun:
			j.movLoad(8, h9, byteAt(int32(s.Disp)-lo))
			j.st(s.R1, h9)
		case isa.KPushRun:
			if s.Kind == isa.KPushI {
				j.movImm64(h9, s.Imm)
			} else {
				j.movLoad(8, h9, slot(s.R1))
			}
			j.movStore(8, byteAt(span-8*int32(k+1)), h9)
		default:
			j.movLoad(8, h9, byteAt(8*int32(k)))
			j.st(s.R1, h9)
		}
	}
	switch h.Kind {
	case isa.KPushRun:
		j.st(isa.RSP, h10)
	case isa.KPopRun:
		j.aluImm(8, aluAdd, reg(h10), span)
		j.st(isa.RSP, h10)
	}
	return true
}

// The generic kinds the translation takes: the forms with registers that
// are not the high-byte ones, at most one memory operand, no 32-bit
// addressing. Each does what generic does, in its order: read A (unless
// it is only written), read B, write A, set the flags; rip is set past the
// op when it ends the block.

// plainReg reports whether r is a register the translation reads and
// writes by its slot: not a high-byte register (ah..bh), not the zero one.
func plainReg(r uint8) bool { return r < isa.RegNone }

// genericMem computes op's memory operand's address into RAX and R10,
// segment base included; false when it has 32-bit addressing.
func (j *jitComp) genericMem(op *isa.Op) bool {
	if op.Seg&isa.Addr32 != 0 {
		return false
	}
	j.ea(hAX, op)
	if op.Seg&3 != 0 {
		j.alu(8, aluAdd, hAX, mem(hCPU, segOff(op.Seg)))
	}
	j.movRR(8, h10, hAX)
	return true
}

// genericRead loads sz bytes (zero-extended) of register r, or of the
// probed memory, into h.
func (j *jitComp) genericRead(h int, isMem bool, r uint8, sz uint8) {
	if isMem {
		j.load(h, sz)
		return
	}
	switch sz {
	case 8:
		j.movLoad(8, h, slot(r))
	case 4:
		j.movLoad(4, h, slot(r))
	default:
		j.movzx(int(sz), h, slot(r))
	}
}

// genericWrite writes sz bytes of h to register r (32-bit writes zero-
// extend, 8- and 16-bit ones merge: they store only the low bytes of the
// slot) or, after a write probe of the address in R10, to memory.
func (j *jitComp) genericWrite(h int, isMem bool, r uint8, sz uint8, i int) {
	if isMem {
		j.movRR(8, hAX, h10)
		j.probe(true, i, int32(sz))
		j.movStore(int(sz), at, h)
		return
	}
	if sz == 4 || sz == 8 {
		j.movStore(8, slot(r), h)
		return
	}
	j.movStore(int(sz), slot(r), h)
}

func validSize(sz uint8) bool { return sz == 1 || sz == 2 || sz == 4 || sz == 8 }

func (j *jitComp) genericALU(op *isa.Op, i int, last bool) bool {
	sz := op.Sz
	aMem, bMem := op.A == isa.OpdMem, op.B == isa.OpdMem
	switch {
	case !validSize(sz), aMem && bMem:
		return false
	case op.A == isa.OpdReg && !plainReg(op.R1), op.A != isa.OpdReg && !aMem:
		return false
	case op.B == isa.OpdReg && !plainReg(op.R2), op.B != isa.OpdReg && !bMem && op.B != isa.OpdImm:
		return false
	}
	mov := op.Kind == isa.KMov
	if aMem || bMem {
		if !j.genericMem(op) {
			return false
		}
		if bMem || !mov {
			j.probe(false, i, int32(sz))
		}
	}
	if !mov {
		j.genericRead(h11, aMem, op.R1, sz) // a
	}
	switch op.B { // b
	case isa.OpdImm:
		j.movImm64(h9, op.Imm&sizeMask[sz&15])
	default:
		j.genericRead(h9, bMem, op.R2, sz)
	}
	if mov {
		j.genericWrite(h9, aMem, op.R1, sz, i)
		if last {
			j.setRIP(j.base + uint64(op.End))
		}
		return true
	}
	var o int
	fk := uint8(fkLogic)
	switch op.Kind {
	case isa.KAdd:
		o, fk = aluAdd, fkAdd
	case isa.KSub, isa.KCmp:
		o, fk = aluSub, fkSub
	case isa.KAnd, isa.KTest:
		o = aluAnd
	case isa.KOr:
		o = aluOr
	default:
		o = aluXor
	}
	j.movRR(8, hSI, h11)
	j.alu(int(sz), o, hSI, reg(h9)) // r: the upper bits stay a's, which are 0
	if op.Kind != isa.KCmp && op.Kind != isa.KTest {
		j.genericWrite(hSI, aMem, op.R1, sz, i)
	}
	j.setFlags(fk, sz, h11, h9, hSI)
	j.movImm(8, mem(hCPU, offFc), 0)
	if last {
		j.setRIP(j.base + uint64(op.End))
	}
	return true
}

func (j *jitComp) genericExtend(op *isa.Op, i int, last bool) bool {
	sz, from := op.Sz, op.Sz2
	bMem := op.B == isa.OpdMem
	switch {
	case !validSize(sz) || !validSize(from) || from >= sz:
		return false
	case op.A != isa.OpdReg || !plainReg(op.R1):
		return false
	case op.B == isa.OpdReg && !plainReg(op.R2), op.B != isa.OpdReg && !bMem:
		return false
	}
	var src operand
	if bMem {
		if !j.genericMem(op) {
			return false
		}
		j.probe(false, i, int32(from))
		src = at
	} else {
		src = slot(op.R2)
	}
	if op.Kind == isa.KMovsx {
		j.movsx(int(from), h9, src)
		j.mask(h9, sz)
	} else if from == 4 {
		j.movLoad(4, h9, src)
	} else {
		j.movzx(int(from), h9, src)
	}
	j.genericWrite(h9, false, op.R1, sz, i)
	if last {
		j.setRIP(j.base + uint64(op.End))
	}
	return true
}

func (j *jitComp) genericSetcc(op *isa.Op, i int, last bool) bool {
	aMem := op.A == isa.OpdMem
	if op.A == isa.OpdReg && !plainReg(op.R1) || op.A != isa.OpdReg && !aMem {
		return false
	}
	if aMem && !j.genericMem(op) {
		return false
	}
	if !j.hostFlags() {
		return false
	}
	j.setcc(op.Cond, h9)
	j.genericWrite(h9, aMem, op.R1, 1, i)
	if last {
		j.setRIP(j.base + uint64(op.End))
	}
	return true
}

// aluOf is the host ALU operation of the register kinds translated with
// one.
var aluOf = [isa.KindEnd]int{
	isa.KAddRR: aluAdd, isa.KAddRI: aluAdd, isa.KAddRRNF: aluAdd, isa.KAddRINF: aluAdd,
	isa.KSubRR: aluSub, isa.KSubRI: aluSub, isa.KSubRRNF: aluSub, isa.KSubRINF: aluSub,
	isa.KCmpRR: aluSub, isa.KCmpRI: aluSub,
	isa.KAndRR: aluAnd, isa.KAndRI: aluAnd, isa.KAndRRNF: aluAnd, isa.KAndRINF: aluAnd,
	isa.KTestRR: aluAnd, isa.KTestRI: aluAnd,
	isa.KOrRR: aluOr, isa.KOrRI: aluOr, isa.KOrRRNF: aluOr, isa.KOrRINF: aluOr,
	isa.KXorRR: aluXor, isa.KXorRI: aluXor, isa.KXorRRNF: aluXor, isa.KXorRINF: aluXor,
}

// rrKind reports whether a kind of aluOf takes its second operand from
// R2 (otherwise from Imm).
func rrKind(k isa.Kind) bool {
	switch k {
	case isa.KAddRR, isa.KSubRR, isa.KCmpRR, isa.KAndRR, isa.KTestRR, isa.KOrRR, isa.KXorRR,
		isa.KAddRRNF, isa.KSubRRNF, isa.KAndRRNF, isa.KOrRRNF, isa.KXorRRNF:
		return true
	}
	return false
}

// push pushes h (not RAX, RCX, RDX, R8 or R10) as op i: a write probe of
// rsp-8, the store, rsp moved.
func (j *jitComp) push(h int, i int) {
	j.movLoad(8, hAX, slot(isa.RSP))
	j.aluImm(8, aluSub, reg(hAX), 8)
	j.movRR(8, h10, hAX)
	j.probe(true, i, 8)
	j.movStore(8, at, h)
	j.st(isa.RSP, h10)
}

// ldSize is the access size of the 4-or-8-byte fast kinds.
func ldSize(sz uint8) uint8 {
	if sz == 8 {
		return 8
	}
	return 4
}

// cmpSize is KCmpMI's access size (1, 4 or 8).
func cmpSize(sz uint8) uint8 {
	if sz == 1 || sz == 8 {
		return sz
	}
	return 4
}

func segOff(seg uint8) int32 {
	if seg&3 == isa.SegGS {
		return offGS
	}
	return offFS
}
