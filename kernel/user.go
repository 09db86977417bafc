package kernel

import (
	"fmt"

	"klpsim/emu"
	"klpsim/isa/obj"
)

// User tasks: processes running guest user code at CPL 3 that enter the
// kernel with syscall on their own kernel stack, and return through the
// exit-to-user path where pending work (rescheduling, signals, the
// livepatch switch) is done.
//
// klpsim keeps one address space: each process gets its own slot of user
// addresses for its program and stack. That is enough for processes that
// do not fork; fork with copy-on-write address spaces is not modelled.

const (
	userBase     = 0x0000000000400000 // the first process slot
	userSlot     = 0x0000000001000000 // 16 MiB of user addresses per process
	userStack    = 64 << 10           // each process's stack
	maxUserSlots = 4096
)

// UserProgram is a user-mode program: a relocatable object whose entry
// symbol is where the process starts.
type UserProgram struct {
	Object *obj.Object
	Entry  string // default "_start"
	// Name is the program file's name, as fault reports show its
	// mappings (print_vma_addr); default the process's comm.
	Name string
}

// taskSizeMax is TASK_SIZE_MAX: the end of user addresses.
const taskSizeMax = 1<<47 - emu.PageSize

// userMM is what klpsim keeps of a process's mm_struct: the file mappings
// of its program, for fault reports.
type userMM struct {
	file string
	vmas []vma
}

// vma is a file mapping: [start, end), from page pgoff of the file.
type vma struct {
	start, end, pgoff uint64
}

// SpawnUser starts a user process running prog, placed on the least loaded
// CPU, as a child of no process of the machine (the scenario's shell is not
// modelled): it takes its livepatch state from kthreadd, the stand-in for
// the process that would fork it. SpawnUserFrom forks it from a process.
func (k *Kernel) SpawnUser(comm string, prog UserProgram) (*Task, error) {
	return k.SpawnUserFrom(nil, comm, prog)
}

// SpawnUserFrom starts a user process running prog as a child of parent
// (nil: as SpawnUser does): at fork it inherits parent's patch_state and
// TIF_PATCH_PENDING (klp_copy_process), so a child of a process that has
// not switched yet has not switched either.
func (k *Kernel) SpawnUserFrom(parent *Task, comm string, prog UserProgram) (*Task, error) {
	cpu, pinned := k.placeHostTask(parent)
	if parent == nil {
		parent = k.kthreadd
	}
	entryName := prog.Entry
	if entryName == "" {
		entryName = "_start"
	}
	slot := -1
	for i := range maxUserSlots {
		if !k.userSlots[i] {
			slot = i
			break
		}
	}
	if slot < 0 {
		return nil, fmt.Errorf("kernel: %d user processes: %w", maxUserSlots, ErrLimit)
	}
	base := userBase + uint64(slot)*userSlot
	img, err := link([]string{comm}, []*obj.Object{prog.Object}, base, nil)
	if err != nil {
		return nil, err
	}
	entry, ok := img.sym(entryName)
	if !ok {
		return nil, fmt.Errorf("kernel: %s: no entry symbol %s", comm, entryName)
	}
	if img.end()+emu.PageSize+userStack > base+userSlot {
		return nil, fmt.Errorf("kernel: %s: program larger than a process slot", comm)
	}
	for i := range img.regions {
		img.regions[i].perm |= emu.PermUser
	}
	if err := img.mapInto(k.mem); err != nil {
		return nil, err
	}
	stackTop := base + userSlot
	if err := k.mem.Map(stackTop-userStack, userStack, emu.PermRW|emu.PermUser); err != nil {
		img.unmapFrom(k.mem)
		return nil, err
	}
	t, err := k.newTask(comm, 0, cpu)
	if err != nil {
		img.unmapFrom(k.mem)
		_ = k.mem.Unmap(stackTop-userStack, userStack)
		return nil, err
	}
	k.userSlots[slot] = true
	t.pinned = pinned
	t.mm = &userMM{file: prog.Name}
	if t.mm.file == "" {
		t.mm.file = comm
	}
	for _, r := range img.regions {
		if r.kind != "bss" { // bss is anonymous memory
			end := (r.addr + r.size + emu.PageSize - 1) &^ (emu.PageSize - 1)
			t.mm.vmas = append(t.mm.vmas, vma{start: r.addr, end: end, pgoff: (r.addr - base) / emu.PageSize})
		}
	}
	k.onExit(t, func() {
		img.unmapFrom(k.mem)
		_ = k.mem.Unmap(stackTop-userStack, userStack)
		k.userSlots[slot] = false
	})
	// The new task starts in ret_from_fork_asm with no function to call:
	// it returns to user mode through the pt_regs at the top of its stack.
	k.startKernelTask(t, 0, 0)
	regs := [ptRegsSize / 8]uint64{}
	regs[ptIP/8] = entry
	regs[ptCS/8] = emu.UserCS
	regs[ptFlags/8] = 0x202
	regs[ptSP/8] = stackTop - 8 // as after a call: the ABI's entry alignment
	regs[ptSS/8] = emu.UserDS
	for i, v := range regs {
		if err := k.mem.WriteU64(t.PtRegs()+uint64(i)*8, v); err != nil {
			panic("BUG: kernel: fresh kernel stack unwritable: " + err.Error())
		}
	}
	t.parent = parent
	k.copyProcess(parent, t)
	k.wakeUp(t, TaskRunning)
	return t, nil
}
