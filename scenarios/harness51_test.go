package scenarios

import (
	"testing"

	"klpsim/kernel/errno"
	"klpsim/kernel/vfs"
)

// kmod's modprobe messages, as v5.1's load_failing_mod logs them.
func TestModprobeError(t *testing.T) {
	f := modprobeError("5.1.0-klpsim")
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&vfs.ShellError{Msg: "insmod: ERROR: could not insert module test_modules/m.ko: Invalid parameters", Err: errno.EINVAL},
			"modprobe: ERROR: could not insert 'm': Invalid argument"},
		{&vfs.ShellError{Msg: "insmod: ERROR: could not insert module test_modules/m.ko: No such device", Err: errno.ENODEV},
			"modprobe: ERROR: could not insert 'm': No such device"},
		{&vfs.ShellError{Msg: "x", Err: errno.EBUSY}, "modprobe: ERROR: could not insert 'm': Device or resource busy"},
		{&vfs.ShellError{Msg: "x", Err: errno.EEXIST}, "modprobe: ERROR: could not insert 'm': Module already in kernel"},
		{&vfs.ShellError{Msg: "insmod: ERROR: could not insert module test_modules/m.ko: Unknown symbol in module", Err: errno.ENOENT},
			"modprobe: ERROR: could not insert 'm': Unknown symbol in module, or unknown parameter (see dmesg)"},
		{&vfs.ShellError{Msg: "insmod: ERROR: could not load module test_modules/m.ko: No such file or directory", Err: errno.ENOENT},
			"modprobe: FATAL: Module m not found in directory /lib/modules/5.1.0-klpsim"},
	} {
		if got := f("m", tc.err); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.err, got, tc.want)
		}
	}
	if got := modprobeLine("m", []string{"a=1", "b=2"}); got != "% modprobe m a=1 b=2" {
		t.Errorf("modprobeLine: %q", got)
	}
	if got := modprobeLine("m", nil); got != "% modprobe m" {
		t.Errorf("modprobeLine without args: %q", got)
	}
}
