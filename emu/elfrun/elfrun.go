// Package elfrun runs static, non-PIE x86-64 Linux executables in user mode
// on the klpsim interpreter, with the part of the Linux system-call ABI
// that static glibc and musl programs need for start-up, memory and stdio
// (linux.go): write and writev to stdout/stderr, exit and exit_group,
// brk, anonymous mmap, munmap and mprotect, arch_prctl for the TLS base,
// and answers for the probes (uname, ioctl, newfstatat, prlimit64,
// getrandom, clock_gettime, ...). Every other system call fails with
// -ENOSYS and is recorded in the Result.
//
// The process image is laid out as Linux lays it out: PT_LOAD segments at
// their link addresses with their permissions, an 8 MiB stack ending at
// 0x7ffffffff000 holding argc, argv, envp and the auxiliary vector, a heap
// that brk grows from the page after the highest segment, and the CPU at
// CPL 3 with RFLAGS = 0x202 and every other register zero. Nothing is
// randomised: AT_RANDOM points at 16 fixed bytes, so that a run is a pure
// function of the program, its arguments and its environment.
//
// A guest exception ends the run the way a fatal signal ends a Linux
// process: Result.Fault says which signal and where, and the exit status
// is 128 + the signal number, as a shell reports it.
package elfrun

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"klpsim/emu"
	"klpsim/isa"

	"golang.org/x/arch/x86/x86asm"
)

// Address-space layout.
const (
	// StackTop is the address just above the initial stack, as on Linux
	// with a 47-bit user address space and no randomisation.
	StackTop = 0x7ffffffff000
	// StackSize is the size of the stack mapping.
	StackSize = 8 << 20
	// maxHeap bounds brk growth, so a runaway guest fails brk instead of
	// exhausting host memory.
	maxHeap = 1 << 30
	// maxWrite caps the bytes a single write system call copies out.
	maxWrite = 64 << 20
)

// DefaultChunk is the instruction budget of one emu.CPU.Run call.
const DefaultChunk = 1 << 20

// Linux system call numbers (arch/x86/entry/syscalls/syscall_64.tbl).
const (
	sysWrite     = 1
	sysBrk       = 12
	sysGetpid    = 39
	sysExit      = 60
	sysExitGroup = 231
)

// Linux errno values, returned negated in rax.
const (
	eBADF  = 9
	eFAULT = 14
	eNOSYS = 38
	eINVAL = 22
)

// Signal numbers (x86-64 Linux).
const (
	SIGILL  = 4
	SIGTRAP = 5
	SIGFPE  = 8
	SIGSEGV = 11
)

var sigNames = map[int]string{SIGILL: "SIGILL", SIGTRAP: "SIGTRAP", SIGFPE: "SIGFPE", SIGSEGV: "SIGSEGV"}

// Auxiliary vector tags (include/uapi/linux/auxvec.h).
const (
	atNull   = 0
	atPhdr   = 3
	atPhent  = 4
	atPhnum  = 5
	atPagesz = 6
	atEntry  = 9
	atUID    = 11
	atEUID   = 12
	atGID    = 13
	atEGID   = 14
	atRandom = 25
	atExecfn = 31
)

// ErrInsnLimit is returned (wrapped) when a run reaches Options.MaxInsns
// before the program exits.
var ErrInsnLimit = errors.New("instruction limit reached")

// Options tune a run. The zero value is usable.
type Options struct {
	// Env is the environment, as "NAME=value" strings. Nil means empty.
	Env []string
	// MaxInsns stops the run with ErrInsnLimit after this many retired
	// instructions; 0 means no limit.
	MaxInsns uint64
	// Chunk is the instruction budget of each emu.CPU.Run call; 0 means
	// DefaultChunk. It affects only how often the runner checks the limit.
	Chunk uint64
	// PID is what getpid returns; 0 means 1.
	PID int
}

// SyscallCount is an unimplemented system call the guest made, and how
// many times.
type SyscallCount struct {
	Nr    uint64 // system call number (rax)
	Count uint64 // number of calls
}

// Result describes a finished run.
type Result struct {
	// ExitCode is the process's exit status as a shell reports it: the
	// low 8 bits of exit's argument, or 128 + signal for a fatal fault.
	ExitCode int
	// Fault is the fatal guest exception, nil when the program exited.
	Fault *Fault
	// Insns is the number of guest instructions retired.
	Insns uint64
	// Elapsed is the host time spent in the interpreter and the system
	// call handlers (loading excluded).
	Elapsed time.Duration
	// Unknown lists the system calls answered with -ENOSYS, by number.
	Unknown []SyscallCount
	// Translated is the number of blocks the emulator translated to host
	// code (emu's translator).
	Translated int
}

// Fault is a guest exception that killed the process, and the signal Linux
// would have delivered for it.
type Fault struct {
	Signal int           // SIGSEGV, SIGILL, SIGFPE or SIGTRAP
	Exc    emu.Exception // the exception as the CPU raised it
	// Mnemonic names the instruction of a #UD that decodes but that
	// klpsim does not implement ("cvtsi2sd"); empty for bytes that are no
	// instruction at all, and for ud2.
	Mnemonic string
}

// Error formats the fault like a crash report: the signal, the
// instruction, and what went wrong, e.g.
// "SIGSEGV at rip 0x401000: read from address 0x0".
func (f *Fault) Error() string {
	e := f.Exc
	var what string
	switch e.Vector {
	case emu.VecPF:
		switch {
		case e.ErrorCode&emu.PFFetch != 0:
			what = fmt.Sprintf("instruction fetch from address %#x", e.Addr)
		case e.ErrorCode&emu.PFWrite != 0:
			what = fmt.Sprintf("write to address %#x", e.Addr)
		default:
			what = fmt.Sprintf("read from address %#x", e.Addr)
		}
	case emu.VecGP:
		what = "general protection fault"
	case emu.VecUD:
		what = "invalid opcode"
		if f.Mnemonic != "" {
			what = "unsupported instruction " + f.Mnemonic
		}
	case emu.VecDE:
		what = "divide error"
	case emu.VecBP:
		what = "breakpoint (int3)"
	default:
		what = fmt.Sprintf("interrupt %#x", uint8(e.Vector))
	}
	return fmt.Sprintf("%s at rip %#x: %s", sigNames[f.Signal], e.RIP, what)
}

// signalFor maps an exception vector to the signal Linux sends for it in
// user mode (arch/x86/kernel/traps.c). A software interrupt other than
// int3 hits a DPL 0 gate and is a #GP, hence SIGSEGV.
func signalFor(v emu.Vector) int {
	switch v {
	case emu.VecDE:
		return SIGFPE
	case emu.VecBP:
		return SIGTRAP
	case emu.VecUD:
		return SIGILL
	}
	return SIGSEGV
}

// Process is a loaded program ready to run: its memory, its CPU and the
// state of its system calls. Run uses it; tests and tools may load one to
// inspect the initial state.
type Process struct {
	Mem *emu.Memory
	CPU *emu.CPU
	// Entry is the program's entry point and Phdr the guest address of
	// its program headers (AT_PHDR).
	Entry, Phdr uint64

	brkStart, brk, brkMapped uint64 // heap: start, current break, end of mapped pages
	pid                      int
	stdout, stderr           io.Writer
	exited                   bool
	exitCode                 int
	unknown                  map[uint64]uint64
	unknownOrder             []uint64
	mmapNext                 uint64 // lowest anonymous mapping so far (linux.go)
	rnd                      uint64 // getrandom's generator state
}

// Load parses a static x86-64 ELF executable and builds its process image
// with the given argv and envp. stdout and stderr receive the guest's
// writes to file descriptors 1 and 2.
func Load(prog []byte, argv, env []string, stdout, stderr io.Writer) (*Process, error) {
	f, err := elf.NewFile(bytes.NewReader(prog))
	if err != nil {
		return nil, fmt.Errorf("elfrun: %w", err)
	}
	defer f.Close()
	switch {
	case f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64:
		return nil, fmt.Errorf("elfrun: not an x86-64 ELF64 executable (%v, %v)", f.Class, f.Machine)
	case f.Type == elf.ET_DYN:
		return nil, errors.New("elfrun: position-independent executables are not supported; link with -static -no-pie")
	case f.Type != elf.ET_EXEC:
		return nil, fmt.Errorf("elfrun: not an executable (%v)", f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			return nil, errors.New("elfrun: dynamically linked executables are not supported; link with -static")
		}
	}

	p := &Process{Mem: emu.NewMemory(), Entry: f.Entry, stdout: stdout, stderr: stderr, unknown: map[uint64]uint64{}}
	if err := p.loadSegments(f, prog); err != nil {
		return nil, err
	}
	p.CPU = emu.NewCPU(p.Mem)
	if err := p.setupStack(f, argv, env); err != nil {
		return nil, err
	}
	c := p.CPU
	c.RIP = f.Entry
	c.SetRFLAGS(0x202) // IF set, as in every Linux user task
	c.SetCPL(3)
	return p, nil
}

// loadSegments maps the PT_LOAD segments. Pages shared by two segments
// get the union of their permissions.
func (p *Process) loadSegments(f *elf.File, prog []byte) error {
	perms := map[uint64]emu.Perm{} // page address -> permissions
	var loads []*elf.Prog
	var end uint64
	for _, ph := range f.Progs {
		if ph.Type != elf.PT_LOAD || ph.Memsz == 0 {
			continue
		}
		if ph.Filesz > ph.Memsz || ph.Off+ph.Filesz > uint64(len(prog)) || ph.Off+ph.Filesz < ph.Off {
			return fmt.Errorf("elfrun: segment at %#x: file range out of bounds", ph.Vaddr)
		}
		last := ph.Vaddr + ph.Memsz
		if last < ph.Vaddr || last > StackTop-StackSize-maxHeap {
			return fmt.Errorf("elfrun: segment at %#x+%#x: outside the user address space", ph.Vaddr, ph.Memsz)
		}
		perm := emu.PermUser
		if ph.Flags&elf.PF_R != 0 {
			perm |= emu.PermR
		}
		if ph.Flags&elf.PF_W != 0 {
			perm |= emu.PermW
		}
		if ph.Flags&elf.PF_X != 0 {
			perm |= emu.PermX
		}
		for a := ph.Vaddr &^ (emu.PageSize - 1); a < last; a += emu.PageSize {
			perms[a] |= perm
		}
		loads = append(loads, ph)
		end = max(end, last)
	}
	if len(loads) == 0 {
		return errors.New("elfrun: no loadable segments")
	}
	for a, perm := range perms {
		if err := p.Mem.Map(a, emu.PageSize, perm); err != nil {
			return fmt.Errorf("elfrun: %w", err)
		}
	}
	phoff := binary.LittleEndian.Uint64(prog[0x20:])
	for _, ph := range loads {
		if err := p.Mem.Write(ph.Vaddr, prog[ph.Off:ph.Off+ph.Filesz]); err != nil {
			return fmt.Errorf("elfrun: %w", err)
		}
		if phoff >= ph.Off && phoff < ph.Off+ph.Filesz {
			p.Phdr = ph.Vaddr + phoff - ph.Off
		}
	}
	p.brkStart = (end + emu.PageSize - 1) &^ (emu.PageSize - 1)
	p.brk, p.brkMapped = p.brkStart, p.brkStart
	return nil
}

// setupStack maps the stack and writes the initial process stack as
// fs/binfmt_elf.c create_elf_tables does: strings at the top, then the
// AT_RANDOM bytes, then (16-byte aligned at rsp) argc, argv[], NULL,
// envp[], NULL and the auxiliary vector.
func (p *Process) setupStack(f *elf.File, argv, env []string) error {
	if err := p.Mem.Map(StackTop-StackSize, StackSize, emu.PermRW|emu.PermUser); err != nil {
		return fmt.Errorf("elfrun: %w", err)
	}
	sp := uint64(StackTop) - 8 // a zero word at the very top, as Linux leaves
	var strSize uint64
	for _, s := range append(append([]string(nil), argv...), env...) {
		strSize += uint64(len(s)) + 1
	}
	if strSize > StackSize/4 {
		return errors.New("elfrun: arguments and environment too large")
	}
	push := func(s string) uint64 {
		sp -= uint64(len(s)) + 1
		p.Mem.Write(sp, append([]byte(s), 0))
		return sp
	}
	execfn := uint64(0)
	if len(argv) > 0 {
		execfn = push(argv[0])
	}
	envp := make([]uint64, len(env))
	for i := len(env) - 1; i >= 0; i-- {
		envp[i] = push(env[i])
	}
	argp := make([]uint64, len(argv))
	for i := len(argv) - 1; i >= 0; i-- {
		argp[i] = push(argv[i])
	}
	sp &^= 15
	sp -= 16
	random := sp
	var rnd [16]byte
	for i := range rnd {
		rnd[i] = byte(0xa5 ^ i*0x3b) // fixed, so runs are reproducible
	}
	p.Mem.Write(random, rnd[:])

	auxv := []uint64{
		atPhdr, p.Phdr,
		atPhent, 56, // sizeof(Elf64_Phdr)
		atPhnum, uint64(len(f.Progs)),
		atPagesz, emu.PageSize,
		atEntry, f.Entry,
		atUID, 0, atEUID, 0, atGID, 0, atEGID, 0,
		atRandom, random,
		atExecfn, execfn,
		atNull, 0,
	}
	words := make([]uint64, 0, 1+len(argp)+1+len(envp)+1+len(auxv))
	words = append(words, uint64(len(argv)))
	words = append(words, argp...)
	words = append(words, 0)
	words = append(words, envp...)
	words = append(words, 0)
	words = append(words, auxv...)
	sp -= uint64(len(words)) * 8
	sp &^= 15 // the ABI: rsp is 16-byte aligned at the entry point
	buf := make([]byte, len(words)*8)
	for i, w := range words {
		binary.LittleEndian.PutUint64(buf[i*8:], w)
	}
	if err := p.Mem.Write(sp, buf); err != nil {
		return fmt.Errorf("elfrun: %w", err)
	}
	p.CPU.SetReg(emu.RSP, sp)
	return nil
}

// Run loads prog and runs it to completion. argv[0] is the program name the
// guest sees. The error is non-nil only when the program cannot be loaded
// or the run hits Options.MaxInsns (ErrInsnLimit, with the partial Result);
// a guest crash is a normal end, reported in Result.Fault.
func Run(prog []byte, argv []string, stdout, stderr io.Writer, opts Options) (Result, error) {
	p, err := Load(prog, argv, opts.Env, stdout, stderr)
	if err != nil {
		return Result{}, err
	}
	return p.Run(opts)
}

// Run runs a loaded process until it exits, faults or reaches the limit.
func (p *Process) Run(opts Options) (Result, error) {
	chunk := opts.Chunk
	if chunk == 0 {
		chunk = DefaultChunk
	}
	limit := opts.MaxInsns
	if limit == 0 {
		limit = math.MaxUint64
	}
	p.pid = opts.PID
	if p.pid == 0 {
		p.pid = 1
	}
	c := p.CPU
	start := time.Now()
	startInsns := c.Insns
	var res Result
	var err error
	for {
		used := c.Insns - startInsns
		if used >= limit {
			err = fmt.Errorf("elfrun: %w after %d instructions (rip %#x)", ErrInsnLimit, used, c.RIP)
			break
		}
		x := c.Run(min(chunk, limit-used))
		if x.Reason == emu.ExitBudget {
			continue
		}
		if x.Reason == emu.ExitSyscall {
			p.syscall()
			if p.exited {
				res.ExitCode = p.exitCode
				break
			}
			continue
		}
		exc := x.Exc
		if x.Reason != emu.ExitException {
			// hlt, vmcall and sysret are privileged and fault at CPL 3
			// before they can exit; a breakpoint is never set here.
			exc = emu.Exception{Vector: emu.VecGP, RIP: c.RIP}
		}
		res.Fault = &Fault{Signal: signalFor(exc.Vector), Exc: exc}
		if exc.Vector == emu.VecUD {
			res.Fault.Mnemonic = p.mnemonic(exc.RIP)
		}
		res.ExitCode = 128 + res.Fault.Signal
		break
	}
	res.Elapsed = time.Since(start)
	res.Insns = c.Insns - startInsns
	res.Translated, _, _ = c.Memory().JITStats()
	for _, nr := range p.unknownOrder {
		res.Unknown = append(res.Unknown, SyscallCount{Nr: nr, Count: p.unknown[nr]})
	}
	return res, err
}

// mnemonic names the instruction at rip when it decodes, for a #UD
// report: the instruction is one klpsim does not implement.
func (p *Process) mnemonic(rip uint64) string {
	var buf [isa.MaxInstLen]byte
	n := 0
	for n < len(buf) && p.Mem.Read(rip+uint64(n), buf[n:n+1]) == nil {
		n++
	}
	in, err := isa.Decode(buf[:n])
	if err != nil || in.Op == x86asm.UD2 || in.Op == x86asm.UD1 || in.Op == x86asm.UD0 {
		return ""
	}
	return strings.ToLower(in.Op.String())
}

// syscall handles the system call the CPU stopped at: the number in rax,
// arguments in rdi, rsi, rdx, r10, r8, r9, the result in rax. Like the
// syscall instruction, it leaves the return address in rcx and RFLAGS in
// r11, so registers match a native run.
func (p *Process) syscall() {
	c := p.CPU
	c.SetReg(emu.RCX, c.RIP)
	c.SetReg(emu.R11, c.RFLAGS())
	nr := c.Reg(emu.RAX)
	a0, a1, a2 := c.Reg(emu.RDI), c.Reg(emu.RSI), c.Reg(emu.RDX)
	var ret int64
	switch nr {
	case sysWrite:
		ret = p.write(a0, a1, a2)
	case sysExit, sysExitGroup:
		p.exited, p.exitCode = true, int(a0&0xff)
		return
	case sysBrk:
		ret = int64(p.setBrk(a0))
	case sysGetpid:
		ret = int64(p.pid)
	default:
		if r, ok := p.linuxSyscall(nr, a0, a1, a2, c.Reg(emu.R10)); ok {
			ret = r
			break
		}
		if p.unknown[nr] == 0 {
			p.unknownOrder = append(p.unknownOrder, nr)
		}
		p.unknown[nr]++
		ret = -eNOSYS
	}
	c.SetReg(emu.RAX, uint64(ret))
}

func (p *Process) write(fd, buf, count uint64) int64 {
	var w io.Writer
	switch fd {
	case 1:
		w = p.stdout
	case 2:
		w = p.stderr
	default:
		return -eBADF
	}
	if int64(count) < 0 {
		return -eINVAL
	}
	count = min(count, maxWrite)
	b := make([]byte, count)
	if err := p.Mem.Read(buf, b); err != nil {
		return -eFAULT
	}
	if w == nil {
		return int64(count)
	}
	n, _ := w.Write(b)
	return int64(n)
}

// setBrk implements brk(2): it returns the new break, or the old one when
// the request is below the heap start or cannot be satisfied.
func (p *Process) setBrk(addr uint64) uint64 {
	if addr < p.brkStart || addr > p.brkStart+maxHeap {
		return p.brk
	}
	want := (addr + emu.PageSize - 1) &^ (emu.PageSize - 1)
	switch {
	case want > p.brkMapped:
		if err := p.Mem.Map(p.brkMapped, want-p.brkMapped, emu.PermRW|emu.PermUser); err != nil {
			return p.brk
		}
	case want < p.brkMapped:
		p.Mem.Unmap(want, p.brkMapped-want)
	}
	p.brkMapped = want
	p.brk = addr
	return p.brk
}
