package kernel

import (
	"klpsim/emu"
	"klpsim/isa"
)

// Host halves of the system calls whose guest functions need them.

const (
	errnoEBADF  = 9
	errnoEFAULT = 14
)

// sysWrite is ksys_write for the two file descriptors klpsim's user tasks
// have: 1 and 2 both go to the task's Stdout.
func (k *Kernel) sysWrite(c *CPU, fd, buf, count uint64) uint64 {
	if fd != 1 && fd != 2 {
		return negErrno(errnoEBADF)
	}
	count = min(count, 1<<20)
	b := make([]byte, count)
	if buf >= 1<<47 || k.mem.Read(buf, b) != nil {
		return negErrno(errnoEFAULT)
	}
	if perm, ok := k.mem.PermAt(buf); !ok || perm&emu.PermUser == 0 {
		return negErrno(errnoEFAULT)
	}
	if w := c.curr.Stdout; w != nil {
		w.Write(b)
	}
	return count
}

// negErrno is -errno as a system call returns it in rax.
func negErrno(e int) uint64 { return uint64(-int64(e)) }

// The system call and exit-to-user hypercalls.
func init() {
	registerHypercalls(map[int]hypercall{
		hcGetpid: {"HC_GETPID", func(k *Kernel, c *CPU) uint64 {
			return uint64(c.curr.PID)
		}, hcFast},
		hcSysWrite: {"HC_SYS_WRITE", func(k *Kernel, c *CPU) uint64 {
			r := &c.emu.R
			return k.sysWrite(c, r[isa.RDI], r[isa.RSI], r[isa.RDX])
		}, 0},
		hcSysOther: {"HC_SYS_OTHER", func(k *Kernel, c *CPU) uint64 {
			return negErrno(errnoENOSYS)
		}, 0},
		hcTIWork: {"HC_TI_WORK", func(k *Kernel, c *CPU) uint64 {
			k.watchdogSched(c) // the exit to user mode schedules for the stopper
			ret := uint64(c.curr.TIF & exitToUserWork)
			if k.needResched(c) {
				ret |= TIFNeedResched
			}
			return ret
		}, hcFast},
		hcKlpUpdate: {"HC_KLP_UPDATE", func(k *Kernel, c *CPU) uint64 {
			if t := c.curr; t.TIF&TIFPatchPending != 0 {
				if k.Hooks.UpdatePatchState != nil {
					k.Hooks.UpdatePatchState(t)
				} else {
					t.TIF &^= TIFPatchPending // nothing to switch to
				}
			}
			return 0
		}, hcFast},
	})
}
