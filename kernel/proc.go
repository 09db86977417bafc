package kernel

import (
	"strings"

	"klpsim/isa"
)

// /proc files whose contents guest code produces. A read runs the file's
// show function on a task ("cat"), through seq_read, so that the call goes
// through the function's ftrace site like any other call.

// seqOutput collects what seq_printf wrote to each guest seq_file.
type seqOutput map[uint64]*strings.Builder

// guestSeqPrintf is seq_printf(m, fmt, ...) from guest code.
func (k *Kernel) guestSeqPrintf(c *CPU) {
	r := &c.emu.R
	m := r[isa.RDI]
	out := k.seqOut[m]
	if out == nil {
		return // not a seq_file the kernel is reading: nothing to append to
	}
	s, ok := k.format(c, r[isa.RSI], []int{isa.RDX, isa.RCX, isa.R8, isa.R9})
	if ok {
		out.WriteString(s)
	}
}

// ReadShow reads a /proc-style file whose content the guest function show
// (int show(struct seq_file *m, void *v)) produces: a task named comm runs
// seq_read on a fresh seq_file, and the machine runs until it is done
// (at most timeout ns of simulated time, 0 for no budget of its own; never
// past the machine's deadline).
func (k *Kernel) ReadShow(comm string, show, timeout uint64) (string, error) {
	m, err := k.kmalloc(seqFileSize)
	if err != nil {
		return "", err
	}
	defer k.kfree(m)
	if err := k.mem.WriteU64(m+seqFileShow, show); err != nil {
		return "", err
	}
	if k.seqOut == nil {
		k.seqOut = seqOutput{}
	}
	out := &strings.Builder{}
	k.seqOut[m] = out
	defer delete(k.seqOut, m)
	t, err := k.createKthread(comm, k.sym("proc_reader"), m, nil)
	if err != nil {
		return "", err
	}
	t.Flags &^= PFKthread // a reader is a user process inside the kernel
	done := false
	k.onExit(t, func() { done = true })
	if err := k.waitExit(t, &done, timeout); err != nil {
		return "", err
	}
	if t.ExitCode != 0 {
		// proc_reader exits with 0; anything else is a fatal signal, such
		// as page_fault_oops's SIGKILL for an oops in show: cat dies and
		// what it read is lost with it.
		return "", killedError(t)
	}
	return out.String(), nil
}

// The seq_file hypercall.
func init() {
	registerHypercalls(map[int]hypercall{
		hcSeqPrintf: {"HC_SEQ_PRINTF", func(k *Kernel, c *CPU) uint64 {
			k.guestSeqPrintf(c)
			return 0
		}, hcFast},
	})
}
