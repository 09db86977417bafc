package kernel

import (
	"encoding/binary"
	"fmt"

	"klpsim/kernel/errno"
	"klpsim/kernel/vfs"
)

// module_param_cb: a parameter whose kernel_param_ops are the module's own.
// Its set and get are guest functions, called as Linux calls them — on the
// task that loads the module or reads or writes the sysfs file, under the
// module's param_lock (kernel_param_lock) — with a struct kernel_param the
// kernel keeps in guest memory, so that kp->arg, kp->name and kp->mod are
// there for them:
//
//	parse_one (insmod NAME p=v)     err = ops->set(val, kp)   during load_module
//	param_attr_store (echo v > p)   err = ops->set(buf, kp)   -EPERM without set
//	param_attr_show (cat p)         n = ops->get(buf, kp)     -EPERM without get
//
// A negative result is the errno; get's result is the length of what it
// wrote into the zeroed page it was given.

// struct kernel_param_ops offsets (include/linux/moduleparam.h, x86-64).
const (
	kparamOpsFlags = 0
	kparamOpsSet   = 8
	kparamOpsGet   = 16

	// kernelParamOpsFlNoarg is KERNEL_PARAM_OPS_FL_NOARG: a bare "name"
	// (no '=') reaches set with val == NULL.
	kernelParamOpsFlNoarg = 1 << 0
)

// setupCustomParams gives a module with module_param_cb parameters what
// their guest calls need: its param_lock (a struct mutex) and, per
// parameter, a struct kernel_param with its name — one kmalloc'd block,
// freed with the module.
func (k *Kernel) setupCustomParams(m *Module) error {
	size := uint64(MutexSize)
	for _, p := range m.params {
		if p.spec.Ops != "" {
			size += kparamSize + uint64(len(p.spec.Name)+1+7)&^7
		}
	}
	if size == MutexSize {
		return nil
	}
	blk, err := k.kmalloc(size)
	if err != nil {
		return errno.ENOMEM
	}
	m.paramBlock = blk
	// mutex_init: no owner, an empty wait_list.
	k.writeParam(blk+mutexWaitList, binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, blk+mutexWaitList), blk+mutexWaitList))
	next := blk + MutexSize
	for _, p := range m.params {
		if p.spec.Ops == "" {
			continue
		}
		kp, name := next, next+kparamSize
		next = name + uint64(len(p.spec.Name)+1+7)&^7
		var b [kparamSize]byte
		binary.LittleEndian.PutUint64(b[kparamName:], name)
		binary.LittleEndian.PutUint64(b[kparamMod:], m.guest)
		binary.LittleEndian.PutUint64(b[kparamOps:], p.ops)
		binary.LittleEndian.PutUint16(b[kparamPerm:], uint16(p.spec.Perm))
		b[kparamLevel] = 0xff // -1: a module's parameters have no init level
		binary.LittleEndian.PutUint64(b[kparamArg:], p.addr)
		k.writeParam(kp, b[:])
		k.writeParam(name, append([]byte(p.spec.Name), 0))
		p.kp = kp
	}
	return nil
}

// freeCustomParams is destroy_params for module_param_cb parameters: the
// kernel_param block and the copies of the values given at load.
func (k *Kernel) freeCustomParams(m *Module) {
	for _, a := range m.paramArgs {
		k.kfree(a)
	}
	m.paramArgs = nil
	if m.paramBlock != 0 {
		k.kfree(m.paramBlock)
		m.paramBlock = 0
	}
}

// opsFn reads one of the parameter's ops' function pointers; a module
// whose ops point outside its mapped memory gets 0 (no such operation).
func (p *modParam) opsFn(k *Kernel, off uint64) uint64 {
	fn, err := k.mem.ReadU64(p.ops + off)
	if err != nil {
		return 0
	}
	return fn
}

// paramLock and paramUnlock are kernel_param_lock(mod) and
// kernel_param_unlock(mod): mutex_lock(&mod->param_lock).
func (k *Kernel) paramLock(ctx *OpCtx, m *Module) { ctx.Call(k.sym("mutex_lock"), m.paramBlock) }
func (k *Kernel) paramUnlock(ctx *OpCtx, m *Module) {
	ctx.Call(k.sym("mutex_unlock"), m.paramBlock)
}

// setCustom is ops->set(val, kp) for parse_one (keep true: the value
// stays allocated for the module's life, as mod->args does) and for
// param_attr_store (keep false: freed when the store returns, as sysfs's
// buffer is). val nil is a bare "name".
func (k *Kernel) setCustom(ctx *OpCtx, m *Module, p *modParam, val *string, keep bool) error {
	flags, _ := k.readU32(p.ops + kparamOpsFlags)
	if val == nil && flags&kernelParamOpsFlNoarg == 0 {
		return errno.EINVAL // parse_one: nobody handled NULL
	}
	var buf uint64
	if val != nil {
		var err error
		if buf, err = k.kmalloc(uint64(len(*val)) + 1); err != nil {
			return errno.ENOMEM
		}
		k.writeParam(buf, append([]byte(*val), 0))
	}
	// param_attr_store refuses a parameter without set; parse_one calls
	// it unchecked, and Linux oopses on the NULL call there: klpsim fails
	// the load with EPERM instead of killing insmod half-way.
	set := p.opsFn(k, kparamOpsSet)
	if set == 0 {
		k.kfree(buf)
		return errno.EPERM
	}
	k.paramLock(ctx, m)
	ret := int32(ctx.Call(set, buf, p.kp))
	k.paramUnlock(ctx, m)
	if buf != 0 {
		if keep {
			m.paramArgs = append(m.paramArgs, buf)
		} else {
			k.kfree(buf)
		}
	}
	if ret < 0 {
		return errno.Errno(-ret)
	}
	return nil
}

// getCustom is param_attr_show: ops->get(buf, kp) into a zeroed page; the
// result is its first n bytes (sysfs_kf_seq_show caps n at PAGE_SIZE-1).
func (k *Kernel) getCustom(ctx *OpCtx, m *Module, p *modParam) ([]byte, error) {
	get := p.opsFn(k, kparamOpsGet)
	if get == 0 {
		return nil, errno.EPERM
	}
	buf, err := k.kmalloc(sysfsPageSize)
	if err != nil {
		return nil, errno.ENOMEM
	}
	defer k.kfree(buf)
	k.paramLock(ctx, m)
	ret := int32(ctx.Call(get, buf, p.kp))
	k.paramUnlock(ctx, m)
	if ret < 0 {
		return nil, errno.Errno(-ret)
	}
	out := make([]byte, min(int(ret), sysfsPageSize-1))
	_ = k.mem.Read(buf, out)
	return out, nil
}

// onParamTask runs f on the task of a guest read(2) or write(2) (ctx is
// its *OpCtx) or, for the shell's cat and echo, on a task of their own
// named comm.
func (k *Kernel) onParamTask(ctx any, comm string, f func(*OpCtx) error) error {
	if oc, ok := ctx.(*OpCtx); ok {
		return f(oc)
	}
	var err error
	if _, rerr := k.RunOnTask(comm, func(oc *OpCtx) uint64 {
		err = f(oc)
		return 0
	}, procReadTimeout); rerr != nil {
		return rerr
	}
	return err
}

// checkCustom validates a module_param_cb spec at RegisterModule.
func (p *ParamSpec) checkCustom() error {
	if p.Type != "" {
		return fmt.Errorf("parameter %s: both a type (%s) and ops (%s)", p.Name, p.Type, p.Ops)
	}
	if p.Default != "" || p.Array != 0 || p.NumSymbol != "" || p.MaxLen != 0 {
		return fmt.Errorf("parameter %s: ops %s take no default, array, num or maxlen", p.Name, p.Ops)
	}
	return nil
}

// customParamOps is a module_param_cb parameter's sysfs file: reads call
// get, writes (if the mode has a write bit) call set, each on a task.
func (k *Kernel) customParamOps(m *Module, p *modParam) vfs.Ops {
	ops := vfs.Ops{Read: func(ctx any) ([]byte, error) {
		var out []byte
		err := k.onParamTask(ctx, readerComm(ctx), func(oc *OpCtx) error {
			var err error
			out, err = k.getCustom(oc, m, p)
			return err
		})
		return out, err
	}}
	if p.spec.Perm&0o222 != 0 {
		ops.Write = func(ctx any, data []byte) (int, error) {
			if len(data) > sysfsPageSize-1 { // kernfs: one page, NUL-terminated
				data = data[:sysfsPageSize-1]
			}
			val := string(data)
			err := k.onParamTask(ctx, "bash", func(oc *OpCtx) error {
				return k.setCustom(oc, m, p, &val, false)
			})
			if err != nil {
				return 0, err
			}
			return len(data), nil
		}
	}
	return ops
}
