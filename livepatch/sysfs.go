package livepatch

import (
	"fmt"
	"io/fs"
	"strconv"

	"klpsim/kernel"
	"klpsim/kernel/errno"
	"klpsim/kernel/vfs"
)

// /sys/kernel/livepatch (core.c's sysfs interface):
//
//	<patch>/                drwxr-xr-x
//	<patch>/enabled         -rw-r--r--   1/0; write 0 to disable, the opposite value mid-transition to reverse
//	<patch>/transition      -r--r--r--   1 while this patch is in transition
//	<patch>/force           --w-------   1 forces the transition
//	<patch>/replace         -r--r--r--
//	<patch>/stack_order     -r--r--r--   1-based position in klp_patches
//	<patch>/<object>/patched -r--r--r--
//	<patch>/<object>/<function,sympos>/

const sysfsDir = "/sys/kernel/livepatch"

func patchDir(p *Patch) string { return sysfsDir + "/" + p.Name }

func objDir(o *Object) string { return patchDir(o.Patch) + "/" + o.DisplayName() }

func funcDir(f *Func) string {
	pos := f.OldSympos
	if pos == 0 {
		pos = 1
	}
	return fmt.Sprintf("%s/%s,%d", objDir(f.Obj), f.OldName, pos)
}

func (c *Core) sysfsAddPatch(p *Patch) error {
	fsys := c.k.FS
	if _, err := fsys.Mkdir(patchDir(p), 0o755); err != nil {
		return errno.EEXIST
	}
	p.sysfs = true
	show := func(f func() string) func(any) (string, error) {
		return func(any) (string, error) { return f(), nil }
	}
	attrs := []struct {
		name  string
		mode  fs.FileMode
		show  func(any) (string, error)
		store func(any, string) error
	}{
		{"enabled", 0o644, show(func() string { return fmt.Sprintf("%d\n", b2u(p.Enabled)) }),
			func(ctx any, buf string) error { return c.enabledStore(ctx, p, buf) }},
		{"transition", 0o444, show(func() string { return fmt.Sprintf("%d\n", b2u(c.transitionPatch == p)) }), nil},
		{"force", 0o200, nil, func(ctx any, buf string) error { return c.forceStore(ctx, p, buf) }},
		{"replace", 0o444, show(func() string { return fmt.Sprintf("%d\n", b2u(p.Replace)) }), nil},
		{"stack_order", 0o444, show(func() string { return strconv.Itoa(c.stackOrder(p)) + "\n" }), nil},
	}
	for _, a := range attrs {
		if a.name == "replace" && !c.v().SysfsReplace || a.name == "stack_order" && !c.v().SysfsStackOrder {
			continue
		}
		if _, err := fsys.AddFile(patchDir(p)+"/"+a.name, a.mode, vfs.Attr(a.show, a.store)); err != nil {
			return errno.ENOMEM
		}
	}
	return nil
}

func (c *Core) sysfsAddObject(o *Object) error {
	if _, err := c.k.FS.Mkdir(objDir(o), 0o755); err != nil {
		return errno.EEXIST
	}
	if !c.v().SysfsObjectPatched {
		return nil
	}
	_, err := c.k.FS.AddFile(objDir(o)+"/patched", 0o444, vfs.Attr(func(any) (string, error) {
		return fmt.Sprintf("%d\n", b2u(o.Patched)), nil
	}, nil))
	if err != nil {
		return errno.ENOMEM
	}
	return nil
}

func (c *Core) sysfsAddFunc(f *Func) error {
	if _, err := c.k.FS.Mkdir(funcDir(f), 0o755); err != nil {
		return errno.EEXIST
	}
	return nil
}

func (c *Core) sysfsRemovePatch(p *Patch) {
	if p.sysfs {
		_ = c.k.FS.Remove(patchDir(p))
		p.sysfs = false
	}
}

func (c *Core) sysfsRemoveObject(o *Object) { _ = c.k.FS.Remove(objDir(o)) }

func (c *Core) sysfsRemoveFunc(f *Func) { _ = c.k.FS.Remove(funcDir(f)) }

// stackOrder is the patch's 1-based position in klp_patches.
func (c *Core) stackOrder(p *Patch) int {
	for i, x := range c.patches {
		if x == p {
			return i + 1
		}
	}
	return 0
}

// onTask runs f as a host operation: directly when the write comes from a
// task already (a guest write(2)), else on a task of its own, as the
// shell's echo is (so that callbacks, which are guest code, can run).
func (c *Core) onTask(ctx any, f func(*kernel.OpCtx) error) error {
	if oc, ok := ctx.(*kernel.OpCtx); ok {
		return f(oc)
	}
	var err error
	_, rerr := c.k.RunOnTask("bash", func(oc *kernel.OpCtx) uint64 {
		err = f(oc)
		return 0
	}, 0) // as long as the machine's deadline allows
	if rerr != nil {
		return rerr
	}
	return err
}

// enabledStore is enabled_store.
func (c *Core) enabledStore(ctx any, p *Patch, buf string) error {
	enabled, err := kernel.Kstrtobool(buf)
	if err != nil {
		return err
	}
	return c.onTask(ctx, func(oc *kernel.OpCtx) error {
		c.lock(oc)
		defer c.unlock(oc)
		if p.Enabled == enabled {
			return errno.EINVAL
		}
		if p.Enabled && p.disableBlocked() {
			c.log(oc.Task, kernErr, "The livepatch '%s' does not support disable\n", p.Name)
			return errno.EINVAL
		}
		if p == c.transitionPatch {
			c.reverseTransition(oc.Task)
			return nil
		}
		if !enabled {
			return c.disablePatch(oc, p)
		}
		// A disabled patch cannot be enabled again.
		return errno.EINVAL
	})
}

// forceStore is force_store.
func (c *Core) forceStore(ctx any, p *Patch, buf string) error {
	val, err := kernel.Kstrtobool(buf)
	if err != nil {
		return err
	}
	if !val {
		return nil
	}
	return c.onTask(ctx, func(oc *kernel.OpCtx) error {
		c.lock(oc)
		defer c.unlock(oc)
		if p != c.transitionPatch {
			return errno.EINVAL
		}
		c.forceTransition(oc.Task)
		return nil
	})
}
