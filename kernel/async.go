package kernel

import (
	"errors"

	"klpsim/kernel/errno"
	"klpsim/kernel/vfs"
)

// InsmodOn is Insmod's work done on a task the caller runs (one started
// with StartOnTask), for host code and tests with several commands under
// way at once. Its errors are Insmod's.
func (k *Kernel) InsmodOn(ctx *OpCtx, file, params string) error {
	name, filename := moduleFile(file)
	spec := k.modules.catalog[name]
	if spec == nil {
		return &vfs.ShellError{Msg: "insmod: ERROR: could not load module " + filename + ": No such file or directory", Err: errno.ENOENT}
	}
	err := k.loadModule(ctx, spec, params)
	var e errno.Errno
	if errors.As(err, &e) {
		return &vfs.ShellError{Msg: "insmod: ERROR: could not insert module " + filename + ": " + insmodStrerror(e), Err: e}
	}
	return err
}

// DeleteModuleOn is the delete_module system call on a task the caller
// runs (one started with StartOnTask): the module goes GOING, its exit
// runs there, and it is freed. It skips rmmod's checks of holders and
// references; the error is the system call's errno.
func (k *Kernel) DeleteModuleOn(ctx *OpCtx, name string) error {
	return k.deleteModule(ctx, name)
}
