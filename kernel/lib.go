package kernel

import (
	"fmt"
	"io/fs"
	"math"
	"path"
	"strings"

	"klpsim/isa"
	"klpsim/kernel/errno"
	"klpsim/kernel/vfs"
)

// The kernel library guest modules call (kernel/vmlinux/lib.S): the host
// side of each entry point, registered as a host operation at boot.
//
//   - kmalloc(size, gfp), kzalloc(size, gfp), kfree(ptr): the kernel heap
//     (heap.go). Memory is always zeroed; gfp flags are ignored; NULL when
//     the heap is full; kfree(NULL) and kfree of an unknown address do
//     nothing.
//
//   - console_loglevel: printk's console level is k.Log's
//     (printk.Log.ConsoleLoglevel), default CONSOLE_LOGLEVEL_DEFAULT = 7.
//     Guest code reads it with get_console_loglevel() and sets it with
//     set_console_loglevel(level), which act on k.Log at once; the guest
//     int console_loglevel mirrors it (refreshed by both calls and by
//     Kernel.SetConsoleLoglevel), for debuggers and memory dumps. A plain
//     guest store to the int is not seen by printk, which klpsim keeps on
//     the host.
//
//   - Completions (kernel/sched/completion.c): struct completion is 32
//     bytes of guest memory, `unsigned int done` at 0 (UINT_MAX after
//     complete_all) and a struct swait_queue_head at 8 that the host does
//     not use: the waiting tasks are kept here, keyed by the completion's
//     address, oldest first. wait_for_completion takes one done or queues
//     the current task in TASK_UNINTERRUPTIBLE and calls schedule(), so a
//     waiter's stack shows schedule ← wait_for_completion ← its caller;
//     complete wakes the oldest waiter, complete_all all of them.
//
//   - proc_create_single(name, mode, parent, show) makes /proc/NAME (parent
//     must be NULL), whose reads run the guest show(m, NULL) through
//     seq_read on a task, as /proc/cmdline does; mode 0 means 0444. It
//     returns a handle (a kmalloc'ed struct proc_dir_entry), NULL if the
//     name exists. proc_remove(handle) and remove_proc_entry(name, NULL)
//     remove it.
//
//   - kobject_create_and_add(name, parent) makes a sysfs directory under
//     /sys (parent NULL) or under a kobject (kernel_kobj is /sys/kernel)
//     and returns a handle (a kmalloc'ed struct kobject whose first word
//     points to its name), NULL if it exists; kobject_put(kobj) removes it
//     with everything in it (klpsim's kobjects have one reference).
//     sysfs_create_file(kobj, attr) adds a struct kobj_attribute (name,
//     mode, show, store): a read runs show(kobj, attr, buf) on a task
//     with a PAGE_SIZE buffer, a write runs store(kobj, attr, buf, count).
//
//   - sprintf(buf, fmt, ...) and sysfs_emit(buf, fmt, ...) format with the
//     kernel's vsnprintf (format.go) and return the length written.
type libState struct {
	waiters  map[uint64][]*Task // completion address -> waiting tasks, oldest first
	procs    map[uint64]string  // proc_dir_entry handle -> /proc path
	kobjs    map[uint64]string  // kobject handle -> /sys path
	kobjName map[uint64]uint64  // kobject handle -> its kmalloc'ed name
}

// Guest layouts of lib.S's structures.
const (
	completionDone = 0  // unsigned int done
	completionSize = 32 // sizeof(struct completion)

	procEntrySize = 64 // klpsim's struct proc_dir_entry (opaque)
	kobjectName   = 0  // const char *name
	kobjectSize   = 64 // klpsim's struct kobject

	attrName      = 0  // struct attribute: const char *name
	attrMode      = 8  // umode_t mode
	kobjAttrShow  = 16 // struct kobj_attribute: show
	kobjAttrStore = 24 // store

	sysfsPageSize = 4096 // PAGE_SIZE: sysfs's show buffer
)

// initLib registers lib.S's host operations and fills in their numbers
// and kernel_kobj.
func (k *Kernel) initLib() error {
	l := &k.lib
	l.waiters = map[uint64][]*Task{}
	l.procs = map[uint64]string{}
	l.kobjs = map[uint64]string{}
	l.kobjName = map[uint64]uint64{}
	ops := []struct {
		word string
		f    OpFunc
	}{
		{"lib_op_kmalloc", k.libKmalloc},
		{"lib_op_kzalloc", k.libKmalloc},
		{"lib_op_kfree", func(ctx *OpCtx) uint64 { k.kfree(ctx.Args[0]); return 0 }},
		{"lib_op_get_console_loglevel", func(*OpCtx) uint64 { return uint64(int64(k.ConsoleLoglevel())) }},
		{"lib_op_set_console_loglevel", func(ctx *OpCtx) uint64 {
			k.SetConsoleLoglevel(int(int32(ctx.Args[0])))
			return 0
		}},
		{"lib_op_complete", func(ctx *OpCtx) uint64 { k.complete(ctx.Args[0], false); return 0 }},
		{"lib_op_complete_all", func(ctx *OpCtx) uint64 { k.complete(ctx.Args[0], true); return 0 }},
		{"lib_op_completion_try_wait", k.completionTryWait},
		{"lib_op_proc_create_single", k.procCreateSingle},
		{"lib_op_proc_remove", func(ctx *OpCtx) uint64 { k.procRemove(ctx.Args[0]); return 0 }},
		{"lib_op_remove_proc_entry", k.removeProcEntry},
		{"lib_op_kobject_create_and_add", k.kobjectCreateAndAdd},
		{"lib_op_kobject_put", func(ctx *OpCtx) uint64 { k.kobjectPut(ctx.Args[0]); return 0 }},
		{"lib_op_sysfs_create_file", k.sysfsCreateFile},
		{"lib_op_sysfs_remove_file", k.sysfsRemoveFile},
		{"lib_op_sprintf", func(ctx *OpCtx) uint64 { return k.libSprintf(ctx, 0) }},
		{"lib_op_sysfs_emit", func(ctx *OpCtx) uint64 { return k.libSprintf(ctx, sysfsPageSize) }},
		{"lib_op_kstrtobool", k.libKstrtobool},
	}
	for _, op := range ops {
		if err := k.mem.WriteU64(k.sym(op.word), k.RegisterOp(op.word[len("lib_op_"):], op.f)); err != nil {
			return err
		}
	}
	kobj, err := k.newKobject("kernel", "/sys/kernel")
	if err != nil {
		return err
	}
	return k.mem.WriteU64(k.sym("kernel_kobj"), kobj)
}

// libKstrtobool is kstrtobool(s, res) (util.S).
func (k *Kernel) libKstrtobool(ctx *OpCtx) uint64 {
	s, ok := k.guestString(ctx.Args[0], 16) // only the first two characters count
	if !ok {
		return negErrno(int(errno.EFAULT))
	}
	b, err := kstrtobool(s)
	if err != nil {
		return negErrno(int(errno.EINVAL))
	}
	if err := k.mem.Write(ctx.Args[1], []byte{byte(b2i(b))}); err != nil {
		return negErrno(int(errno.EFAULT))
	}
	return 0
}

// libKmalloc is kmalloc(size, gfp) and kzalloc(size, gfp).
func (k *Kernel) libKmalloc(ctx *OpCtx) uint64 {
	a, err := k.kmalloc(ctx.Args[0])
	if err != nil {
		return 0
	}
	return a
}

// ConsoleLoglevel is console_loglevel: printk sends records with a lower
// level to the console.
func (k *Kernel) ConsoleLoglevel() int {
	v := k.Log.ConsoleLoglevel()
	k.mirrorConsoleLoglevel(v)
	return v
}

// SetConsoleLoglevel sets console_loglevel, for printk and in the guest's
// console_loglevel int.
func (k *Kernel) SetConsoleLoglevel(level int) {
	k.Log.SetConsoleLoglevel(level)
	k.mirrorConsoleLoglevel(level)
}

func (k *Kernel) mirrorConsoleLoglevel(v int) {
	b := uint32(int32(v))
	_ = k.mem.Write(k.sym("console_loglevel"), []byte{byte(b), byte(b >> 8), byte(b >> 16), byte(b >> 24)})
}

func (k *Kernel) readU32(addr uint64) (uint32, error) {
	var b [4]byte
	if err := k.mem.Read(addr, b[:]); err != nil {
		return 0, err
	}
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24, nil
}

func (k *Kernel) writeU32(addr uint64, v uint32) error {
	return k.mem.Write(addr, []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)})
}

// completionTryWait is wait_for_completion's step: take one done (rax 1),
// or queue current as a waiter in TASK_UNINTERRUPTIBLE (rax 0, the guest
// then calls schedule()).
func (k *Kernel) completionTryWait(ctx *OpCtx) uint64 {
	x, t := ctx.Args[0], ctx.Task
	done, err := k.readU32(x + completionDone)
	if err != nil {
		return 1 // not a completion: nothing to wait for
	}
	ws := k.lib.waiters[x]
	if done > 0 {
		if done != math.MaxUint32 {
			_ = k.writeU32(x+completionDone, done-1)
		}
		for i, w := range ws {
			if w == t {
				k.lib.waiters[x] = append(ws[:i:i], ws[i+1:]...)
				break
			}
		}
		if len(k.lib.waiters[x]) == 0 {
			delete(k.lib.waiters, x)
		}
		return 1
	}
	if !containsTask(ws, t) {
		k.lib.waiters[x] = append(ws, t)
	}
	t.State = TaskUninterruptible
	return 0
}

// complete is complete(x) (one done, the oldest waiter woken) or, with
// all, complete_all(x) (done = UINT_MAX, every waiter woken).
func (k *Kernel) complete(x uint64, all bool) {
	done, err := k.readU32(x + completionDone)
	if err != nil {
		return
	}
	switch {
	case all:
		done = math.MaxUint32
	case done != math.MaxUint32:
		done++
	}
	_ = k.writeU32(x+completionDone, done)
	ws := k.lib.waiters[x]
	for len(ws) > 0 {
		w := ws[0]
		ws = ws[1:]
		if k.wakeUp(w, TaskUninterruptible) && !all {
			break
		}
	}
	if len(ws) == 0 {
		delete(k.lib.waiters, x)
	} else {
		k.lib.waiters[x] = ws
	}
}

// CompletionWaiters are the tasks waiting on the completion at x.
func (k *Kernel) CompletionWaiters(x uint64) []*Task {
	return append([]*Task(nil), k.lib.waiters[x]...)
}

// procCreateSingle is proc_create_single(name, mode, parent, show).
func (k *Kernel) procCreateSingle(ctx *OpCtx) uint64 {
	nameAddr, mode, parent, show := ctx.Args[0], ctx.Args[1], ctx.Args[2], ctx.Args[3]
	name, ok := k.guestString(nameAddr, 256)
	if !ok || parent != 0 || !validProcName(name) {
		return 0
	}
	perm := fs.FileMode(mode & 0o777)
	if perm == 0 {
		perm = 0o444 // proc_create_data: S_IRUGO when no permission bits are given
	}
	p := "/proc/" + name
	if _, err := k.FS.AddFile(p, perm, vfs.Ops{Read: func(rctx any) ([]byte, error) {
		out, err := k.ReadShow(readerComm(rctx), show, procReadTimeout)
		return []byte(out), err
	}}); err != nil {
		k.printk(ctx.Task.cpu.ID, fmt.Sprintf("\x014proc_dir_entry '/proc/%s' already registered\n", name))
		return 0
	}
	h, err := k.kmalloc(procEntrySize)
	if err != nil {
		_ = k.FS.Remove(p)
		return 0
	}
	k.lib.procs[h] = p
	return h
}

func validProcName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

// procRemove is proc_remove(de).
func (k *Kernel) procRemove(h uint64) {
	p, ok := k.lib.procs[h]
	if !ok {
		return
	}
	_ = k.FS.Remove(p)
	delete(k.lib.procs, h)
	k.kfree(h)
}

// removeProcEntry is remove_proc_entry(name, parent).
func (k *Kernel) removeProcEntry(ctx *OpCtx) uint64 {
	name, ok := k.guestString(ctx.Args[0], 256)
	if !ok || ctx.Args[1] != 0 {
		return 0
	}
	for h, p := range k.lib.procs {
		if p == "/proc/"+name {
			k.procRemove(h)
			return 0
		}
	}
	k.printk(ctx.Task.cpu.ID, fmt.Sprintf("\x014name '%s'\n", name)) // remove_proc_entry's WARN text
	return 0
}

// newKobject makes a kobject handle for the sysfs directory p (which must
// exist).
func (k *Kernel) newKobject(name, p string) (uint64, error) {
	h, err := k.kmalloc(kobjectSize)
	if err != nil {
		return 0, err
	}
	s, err := k.kmalloc(uint64(len(name)) + 1)
	if err != nil {
		k.kfree(h)
		return 0, err
	}
	if err := k.mem.Write(s, append([]byte(name), 0)); err != nil {
		return 0, err
	}
	if err := k.mem.WriteU64(h+kobjectName, s); err != nil {
		return 0, err
	}
	k.lib.kobjs[h] = p
	k.lib.kobjName[h] = s
	return h, nil
}

// kobjectCreateAndAdd is kobject_create_and_add(name, parent).
func (k *Kernel) kobjectCreateAndAdd(ctx *OpCtx) uint64 {
	name, ok := k.guestString(ctx.Args[0], 256)
	if !ok || !validProcName(name) {
		return 0
	}
	dir := "/sys"
	if parent := ctx.Args[1]; parent != 0 {
		if dir, ok = k.lib.kobjs[parent]; !ok {
			return 0
		}
	}
	p := path.Join(dir, name)
	if _, err := k.FS.Mkdir(p, 0o755); err != nil {
		k.printk(ctx.Task.cpu.ID, fmt.Sprintf("\x013kobject_add_internal failed for %s with -EEXIST, don't try to register things with the same name in the same directory.\n", name))
		return 0
	}
	h, err := k.newKobject(name, p)
	if err != nil {
		_ = k.FS.Remove(p)
		return 0
	}
	return h
}

// kobjectPut is kobject_put(kobj) on a kobject's only reference: its
// directory goes, with its attributes and the kobjects below it.
func (k *Kernel) kobjectPut(h uint64) {
	p, ok := k.lib.kobjs[h]
	if !ok || p == "/sys/kernel" {
		return
	}
	_ = k.FS.Remove(p)
	for c, cp := range k.lib.kobjs {
		if cp == p || strings.HasPrefix(cp, p+"/") {
			delete(k.lib.kobjs, c)
			k.kfree(k.lib.kobjName[c])
			delete(k.lib.kobjName, c)
			k.kfree(c)
		}
	}
}

// sysfsCreateFile is sysfs_create_file(kobj, attr) for a struct
// kobj_attribute.
func (k *Kernel) sysfsCreateFile(ctx *OpCtx) uint64 {
	kobj, attr := ctx.Args[0], ctx.Args[1]
	dir, ok := k.lib.kobjs[kobj]
	if !ok {
		return negErrno(int(errno.EINVAL))
	}
	nameAddr, err := k.mem.ReadU64(attr + attrName)
	if err != nil {
		return negErrno(int(errno.EFAULT))
	}
	name, ok := k.guestString(nameAddr, 256)
	if !ok || !validProcName(name) {
		return negErrno(int(errno.EINVAL))
	}
	mode, _ := k.readU32(attr + attrMode)
	show, _ := k.mem.ReadU64(attr + kobjAttrShow)
	store, _ := k.mem.ReadU64(attr + kobjAttrStore)
	var ops vfs.Ops
	if show != 0 {
		ops.Read = func(rctx any) ([]byte, error) { return k.sysfsShow(readerComm(rctx), kobj, attr, show) }
	}
	if store != 0 {
		ops.Write = func(wctx any, data []byte) (int, error) {
			return k.sysfsStore(readerComm(wctx), kobj, attr, store, data)
		}
	}
	if _, err := k.FS.AddFile(dir+"/"+name, fs.FileMode(mode&0o777), ops); err != nil {
		k.printk(ctx.Task.cpu.ID, fmt.Sprintf("\x014sysfs: cannot create duplicate filename '%s/%s'\n", strings.TrimPrefix(dir, "/sys"), name))
		return negErrno(int(errno.EEXIST))
	}
	return 0
}

// sysfsRemoveFile is sysfs_remove_file(kobj, attr).
func (k *Kernel) sysfsRemoveFile(ctx *OpCtx) uint64 {
	dir, ok := k.lib.kobjs[ctx.Args[0]]
	if !ok {
		return 0
	}
	nameAddr, _ := k.mem.ReadU64(ctx.Args[1] + attrName)
	if name, ok := k.guestString(nameAddr, 256); ok {
		_ = k.FS.Remove(dir + "/" + name)
	}
	return 0
}

// sysfsShow reads a guest attribute: show(kobj, attr, buf) on a task
// named comm, with a zeroed page for buf.
func (k *Kernel) sysfsShow(comm string, kobj, attr, show uint64) ([]byte, error) {
	var out []byte
	var ret uint64
	_, err := k.RunOnTask(comm, func(ctx *OpCtx) uint64 {
		buf, err := k.kmalloc(sysfsPageSize)
		if err != nil {
			ret = negErrno(int(errno.ENOMEM))
			return 0
		}
		defer k.kfree(buf)
		ret = ctx.Call(show, kobj, attr, buf)
		if n := int64(ret); n > 0 {
			out = make([]byte, min(n, sysfsPageSize))
			_ = k.mem.Read(buf, out)
		}
		return 0
	}, procReadTimeout)
	if err != nil {
		return nil, err
	}
	if n := int64(ret); n < 0 {
		return nil, errno.Errno(-n)
	}
	return out, nil
}

// sysfsStore writes a guest attribute: store(kobj, attr, buf, count).
func (k *Kernel) sysfsStore(comm string, kobj, attr, store uint64, data []byte) (int, error) {
	if len(data) > sysfsPageSize-1 {
		data = data[:sysfsPageSize-1]
	}
	var ret uint64
	_, err := k.RunOnTask(comm, func(ctx *OpCtx) uint64 {
		buf, err := k.kmalloc(sysfsPageSize)
		if err != nil {
			ret = negErrno(int(errno.ENOMEM))
			return 0
		}
		defer k.kfree(buf)
		_ = k.mem.Write(buf, data)
		ret = ctx.Call(store, kobj, attr, buf, uint64(len(data)))
		return 0
	}, procReadTimeout)
	if err != nil {
		return 0, err
	}
	if n := int64(ret); n < 0 {
		return 0, errno.Errno(-n)
	}
	return int(int64(ret)), nil
}

// libSprintf is sprintf(buf, fmt, ...) (limit 0) and sysfs_emit (limit
// PAGE_SIZE: at most limit-1 characters). It formats from the registers
// of the vmcall that started the operation — still the CPU's, since the
// operation has not called guest code yet — and the stack above
// kernel_op_args' frame, where the tail-calling entry points leave
// arguments past the sixth.
func (k *Kernel) libSprintf(ctx *OpCtx, limit int) uint64 {
	c := ctx.Task.cpu
	if c.curr != ctx.Task {
		panic("BUG: kernel: sprintf operation off its CPU")
	}
	s, ok := k.format(c, c.emu.R[isa.RSI], []int{isa.RDX, isa.RCX, isa.R8, isa.R9})
	if !ok {
		return 0
	}
	if limit > 0 && len(s) > limit-1 {
		s = s[:limit-1]
	}
	if err := k.mem.Write(ctx.Args[0], append([]byte(s), 0)); err != nil {
		return 0
	}
	return uint64(len(s))
}
