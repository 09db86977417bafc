package elfrun

import (
	"encoding/binary"

	"klpsim/emu"
)

// The system calls glibc's and musl's static start-up and stdio make,
// beyond write, exit, brk and getpid. Each behaves as Linux does for a
// process with stdin, stdout and stderr on pipes, with answers that are a
// pure function of the run (no host time, no host randomness).

// More Linux system call numbers (syscall_64.tbl).
const (
	sysRead          = 0
	sysClose         = 3
	sysFstat         = 5
	sysLseek         = 8
	sysMmap          = 9
	sysMprotect      = 10
	sysMunmap        = 11
	sysRtSigaction   = 13
	sysRtSigprocmask = 14
	sysIoctl         = 16
	sysWritev        = 20
	sysMremap        = 25
	sysMadvise       = 28
	sysUname         = 63
	sysSysinfo       = 99
	sysReadlink      = 89
	sysGettid        = 186
	sysArchPrctl     = 158
	sysSetTidAddress = 218
	sysClockGettime  = 228
	sysNewfstatat    = 262
	sysSetRobustList = 273
	sysPrlimit64     = 302
	sysGetrandom     = 318
	sysRseq          = 334
)

// More errno values.
const (
	eNOENT  = 2
	eNOMEM  = 12
	eNOTTY  = 25
	eSPIPE  = 29
	eNODEV  = 19
	eEXISTS = 17
)

const (
	archSetFS = 0x1002
	archGetFS = 0x1003
	mapFixed  = 0x10
	mapAnon   = 0x20
	// mmapTop is where anonymous mappings are placed, downwards, below
	// the stack with a gap, as Linux's top-down layout does.
	mmapTop     = StackTop - StackSize - 1<<28
	atEmptyPath = 0x1000
)

// linuxSyscall handles the calls of this file; ok is false for a number
// it does not know.
func (p *Process) linuxSyscall(nr, a0, a1, a2, a3 uint64) (ret int64, ok bool) {
	c := p.CPU
	switch nr {
	case sysRead:
		if a0 == 0 {
			return 0, true // stdin is empty
		}
		return -eBADF, true
	case sysClose:
		if a0 <= 2 {
			return 0, true
		}
		return -eBADF, true
	case sysLseek:
		if a0 <= 2 {
			return -eSPIPE, true
		}
		return -eBADF, true
	case sysArchPrctl:
		switch a0 {
		case archSetFS:
			c.FSBase = a1
			return 0, true
		case archGetFS:
			return p.put64(a1, c.FSBase), true
		}
		return -eINVAL, true
	case sysSetTidAddress, sysGettid:
		return int64(p.pid), true
	case sysSetRobustList, sysRtSigaction, sysRtSigprocmask, sysMadvise:
		return 0, true
	case sysRseq:
		return -eNOSYS, true
	case sysIoctl:
		if a0 > 2 {
			return -eBADF, true
		}
		return -eNOTTY, true // TCGETS, TIOCGWINSZ...: not a terminal
	case sysWritev:
		return p.writev(a0, a1, a2), true
	case sysMmap:
		return p.mmap(a0, a1, a2, a3), true
	case sysMunmap:
		if a0&(emu.PageSize-1) != 0 || a1 == 0 {
			return -eINVAL, true
		}
		p.Mem.Unmap(a0, a1)
		return 0, true
	case sysMprotect:
		if a0&(emu.PageSize-1) != 0 {
			return -eINVAL, true
		}
		if a1 == 0 {
			return 0, true
		}
		if p.Mem.Protect(a0, a1, protPerm(a2)) != nil {
			return -eNOMEM, true
		}
		return 0, true
	case sysMremap:
		return -eNOMEM, true
	case sysUname:
		var b [6 * 65]byte
		for i, s := range []string{"Linux", "klpsim", "6.12.0", "#1 SMP PREEMPT_DYNAMIC", "x86_64", "(none)"} {
			copy(b[i*65:], s)
		}
		if p.Mem.Write(a0, b[:]) != nil {
			return -eFAULT, true
		}
		return 0, true
	case sysSysinfo:
		// struct sysinfo: a machine with 1 GiB of RAM, all free, no swap,
		// one process, up for no time.
		var b [112]byte
		binary.LittleEndian.PutUint64(b[32:], 1<<30) // totalram
		binary.LittleEndian.PutUint64(b[40:], 1<<30) // freeram
		binary.LittleEndian.PutUint16(b[80:], 1)     // procs
		binary.LittleEndian.PutUint32(b[104:], 1)    // mem_unit
		if p.Mem.Write(a0, b[:]) != nil {
			return -eFAULT, true
		}
		return 0, true
	case sysReadlink:
		return -eNOENT, true // no /proc
	case sysClockGettime:
		// Guest time is the instruction count at 1 GHz, as rdtsc's.
		t := c.TSC + c.Insns
		var b [16]byte
		binary.LittleEndian.PutUint64(b[:], t/1e9)
		binary.LittleEndian.PutUint64(b[8:], t%1e9)
		if p.Mem.Write(a1, b[:]) != nil {
			return -eFAULT, true
		}
		return 0, true
	case sysFstat:
		return p.fstat(a0, a1), true
	case sysNewfstatat:
		var path [1]byte
		if a3&atEmptyPath == 0 || p.Mem.Read(a1, path[:]) != nil || path[0] != 0 {
			return -eNOENT, true // no file system
		}
		return p.fstat(a0, a2), true
	case sysPrlimit64:
		if a0 != 0 && a0 != uint64(p.pid) {
			return -eINVAL, true
		}
		if a3 != 0 {
			// struct rlimit64: RLIMIT_STACK is the stack mapping, every
			// other resource unlimited.
			cur := ^uint64(0)
			if a1 == 3 {
				cur = StackSize
			}
			var b [16]byte
			binary.LittleEndian.PutUint64(b[:], cur)
			binary.LittleEndian.PutUint64(b[8:], ^uint64(0))
			if p.Mem.Write(a3, b[:]) != nil {
				return -eFAULT, true
			}
		}
		return 0, true
	case sysGetrandom:
		// Deterministic bytes: a run is a function of the program.
		n := min(a1, 256)
		b := make([]byte, n)
		for i := range b {
			p.rnd = p.rnd*6364136223846793005 + 1442695040888963407
			b[i] = byte(p.rnd >> 56)
		}
		if p.Mem.Write(a0, b) != nil {
			return -eFAULT, true
		}
		return int64(n), true
	}
	return 0, false
}

func (p *Process) put64(a, v uint64) int64 {
	if p.Mem.WriteU64(a, v) != nil {
		return -eFAULT
	}
	return 0
}

// fstat fills a struct stat for the standard descriptors: pipes.
func (p *Process) fstat(fd, buf uint64) int64 {
	if fd > 2 {
		return -eBADF
	}
	var st [144]byte
	binary.LittleEndian.PutUint32(st[24:], 0o010600) // st_mode: S_IFIFO | 0600
	binary.LittleEndian.PutUint64(st[16:], 1)        // st_nlink
	binary.LittleEndian.PutUint64(st[56:], 4096)     // st_blksize
	if p.Mem.Write(buf, st[:]) != nil {
		return -eFAULT
	}
	return 0
}

// writev writes each iovec in turn, as write does.
func (p *Process) writev(fd, iov, cnt uint64) int64 {
	if cnt > 1024 {
		return -eINVAL
	}
	var total int64
	for i := uint64(0); i < cnt; i++ {
		var b [16]byte
		if p.Mem.Read(iov+16*i, b[:]) != nil {
			return -eFAULT
		}
		base, n := binary.LittleEndian.Uint64(b[:]), binary.LittleEndian.Uint64(b[8:])
		if n == 0 {
			continue
		}
		r := p.write(fd, base, n)
		if r < 0 {
			if total > 0 {
				return total
			}
			return r
		}
		total += r
	}
	return total
}

func protPerm(prot uint64) emu.Perm {
	perm := emu.PermUser
	if prot&1 != 0 {
		perm |= emu.PermR
	}
	if prot&2 != 0 {
		perm |= emu.PermW | emu.PermR
	}
	if prot&4 != 0 {
		perm |= emu.PermX | emu.PermR
	}
	return perm
}

// mmap maps anonymous memory; file mappings fail with ENODEV.
func (p *Process) mmap(addr, length, prot, flags uint64) int64 {
	if flags&mapAnon == 0 {
		return -eNODEV
	}
	if length == 0 || length > maxHeap {
		return -eINVAL
	}
	size := (length + emu.PageSize - 1) &^ (emu.PageSize - 1)
	if flags&mapFixed != 0 {
		if addr&(emu.PageSize-1) != 0 || addr+size > StackTop-StackSize || addr < p.brkStart+maxHeap {
			return -eINVAL
		}
		p.Mem.Unmap(addr, size)
	} else {
		if p.mmapNext == 0 {
			p.mmapNext = mmapTop
		}
		if p.mmapNext-size < p.brkStart+maxHeap {
			return -eNOMEM
		}
		p.mmapNext -= size
		addr = p.mmapNext
	}
	if p.Mem.Map(addr, size, protPerm(prot)) != nil {
		return -eEXISTS
	}
	return int64(addr)
}
