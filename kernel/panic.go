package kernel

import (
	"fmt"
	"strings"
)

// The kernel's taint mask and panic (kernel/panic.c). One mask,
// tainted_mask, holds every taint: module loading adds O, K, P; an oops
// adds D. Oops and dump headers print it as print_tainted does; panic
// stops the machine with a *PanicError.

// Taint flags (include/linux/panic.h TAINT_*), numbered as in 6.12.
const (
	TaintProprietaryModule   = 0  // P (G when clear)
	TaintForcedModule        = 1  // F
	TaintCPUOutOfSpec        = 2  // S
	TaintForcedRmmod         = 3  // R
	TaintMachineCheck        = 4  // M
	TaintBadPage             = 5  // B
	TaintUser                = 6  // U
	TaintDie                 = 7  // D
	TaintOverriddenACPITable = 8  // A
	TaintWarn                = 9  // W
	TaintCrap                = 10 // C
	TaintFirmwareWorkaround  = 11 // I
	TaintOOTModule           = 12 // O
	TaintUnsignedModule      = 13 // E
	TaintSoftlockup          = 14 // L
	TaintLivepatch           = 15 // K
	TaintAux                 = 16 // X
	TaintRandstruct          = 17 // T
	TaintTest                = 18 // N
	taintFlagsCount          = 19 // TAINT_FLAGS_COUNT in 6.12 (FWCTL came in 6.15)
)

// taintFlag is struct taint_flag.
type taintFlag struct {
	cTrue  byte   // printed when tainted
	cFalse byte   // printed when not tainted
	module bool   // also shown as a per-module taint flag
	desc   string // the verbose name, #taint
}

// taintFlags is taint_flags[], indexed by flag number.
var taintFlags = [taintFlagsCount]taintFlag{
	{'P', 'G', true, "PROPRIETARY_MODULE"},
	{'F', ' ', true, "FORCED_MODULE"},
	{'S', ' ', false, "CPU_OUT_OF_SPEC"},
	{'R', ' ', false, "FORCED_RMMOD"},
	{'M', ' ', false, "MACHINE_CHECK"},
	{'B', ' ', false, "BAD_PAGE"},
	{'U', ' ', false, "USER"},
	{'D', ' ', false, "DIE"},
	{'A', ' ', false, "OVERRIDDEN_ACPI_TABLE"},
	{'W', ' ', false, "WARN"},
	{'C', ' ', true, "CRAP"},
	{'I', ' ', false, "FIRMWARE_WORKAROUND"},
	{'O', ' ', true, "OOT_MODULE"},
	{'E', ' ', true, "UNSIGNED_MODULE"},
	{'L', ' ', false, "SOFTLOCKUP"},
	{'K', ' ', true, "LIVEPATCH"},
	{'X', ' ', true, "AUX"},
	{'T', ' ', true, "RANDSTRUCT"},
	{'N', ' ', true, "TEST"},
}

// taintLetters is module_flags_taint: the letters of a module's taints.
func taintLetters(mask uint64) string {
	var b strings.Builder
	for i, f := range taintFlags {
		if f.module && mask&(1<<i) != 0 {
			b.WriteByte(f.cTrue)
		}
	}
	return b.String()
}

// Tainted is the kernel's taint mask (/proc/sys/kernel/tainted): bit N is
// TAINT_N.
func (k *Kernel) Tainted() uint64 { return k.modules.taints }

// addTaint is add_taint(flag, lockdep_ok): with lockdepUnreliable the
// first such taint says that lock debugging is off, through log.
func (k *Kernel) addTaint(flag int, lockdepUnreliable bool, log func(string)) {
	if lockdepUnreliable && !k.modules.lockdepOff {
		k.modules.lockdepOff = true
		log("\x014Disabling lock debugging due to kernel taint\n")
	}
	k.modules.taints |= 1 << flag
}

// printTainted is print_tainted(): "Not tainted", or "Tainted: " and one
// column per flag in taint_flags order, its letter when set and c_false
// (a blank, or G for P) when not.
func (k *Kernel) printTainted() string {
	mask := k.modules.taints
	if mask == 0 {
		return "Not tainted"
	}
	b := []byte("Tainted: ")
	for i, f := range taintFlags {
		if mask&(1<<i) != 0 {
			b = append(b, f.cTrue)
		} else {
			b = append(b, f.cFalse)
		}
	}
	return string(b)
}

// printTaintedVerbose is print_tainted_verbose(): the set flags by name,
// "Tainted: [O]=OOT_MODULE, [K]=LIVEPATCH". dump_stack_print_info prints
// it on a line of its own when the kernel is tainted.
func (k *Kernel) printTaintedVerbose() string {
	mask := k.modules.taints
	if mask == 0 {
		return "Not tainted"
	}
	var b strings.Builder
	b.WriteString("Tainted: ")
	sep := ""
	for i, f := range taintFlags {
		if mask&(1<<i) != 0 {
			fmt.Fprintf(&b, "%s[%c]=%s", sep, f.cTrue, f.desc)
			sep = ", "
		}
	}
	return b.String()
}

// PanicError is how a kernel panic stops the machine: panic() printed its
// message and the CPUs stopped. The machine stays inspectable but does
// not run again.
type PanicError struct {
	CPU  int
	Task string // the task current on that CPU, comm:pid
	Msg  string // panic's message: "Fatal exception in interrupt"
	// Cause is the first line of the report that led to the panic, such
	// as "BUG: TASK stack guard page was hit at ...", or "".
	Cause string
}

// Error gives panic's line and what caused it.
func (e *PanicError) Error() string {
	s := fmt.Sprintf("Kernel panic - not syncing: %s (CPU %d, %s)", e.Msg, e.CPU, e.Task)
	if e.Cause != "" {
		s += ": " + e.Cause
	}
	return s
}

// panic is panic(msg) on c: the message, the panic notifiers' lines and
// the end marker, then the machine stops with a *PanicError.
func (k *Kernel) panic(c *CPU, cause, msg string) {
	log := func(s string) { k.printk(c.ID, s) }
	if c.curr != nil {
		log = k.taskLog(c.curr)
	}
	log("\x010Kernel panic - not syncing: " + msg + "\n")
	log("\x010Kernel Offset: disabled\n") // x86's dump_kernel_offset, no KASLR
	log("\x010---[ end Kernel panic - not syncing: " + msg + " ]---\n")
	if k.err == nil {
		k.err = &PanicError{CPU: c.ID, Task: c.curr.String(), Msg: msg, Cause: cause}
	}
}
