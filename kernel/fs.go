package kernel

import (
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"klpsim/kernel/errno"
	"klpsim/kernel/printk"
	"klpsim/kernel/vfs"
)

// The kernel's files: /proc, /sys (with debugfs at /sys/kernel/debug) and
// /dev/kmsg, with the modes Linux gives them. Other subsystems (modules,
// livepatch, tracing) add their own entries under these.
//
// Reads and writes from the host (a scenario's cat and echo) may run the
// machine: reading /proc/cmdline runs cmdline_proc_show on a task until it
// is done. They must not be called from inside a hypercall.

// procReadTimeout bounds the simulated time a /proc or sysfs read or write
// may take: none of its own, only the machine's deadline (a read(2) in
// Linux takes as long as the show function does).
const procReadTimeout = 0

func (k *Kernel) initFS() error {
	f := vfs.New()
	k.FS = f
	k.Dyndbg = printk.NewDyndbg(func(msg string) { k.printk(0, msg) })
	steps := []func() error{
		func() error { _, err := f.Mount("/proc", 0o555, vfs.Procfs); return err },
		func() error { _, err := f.Mount("/sys", 0o555, vfs.Sysfs); return err },
		func() error { _, err := f.Mount("/dev", 0o755, vfs.Devtmpfs); return err },
		func() error { _, err := f.MkdirAll("/sys/module", 0o755); return err },
		func() error { _, err := f.MkdirAll("/sys/kernel", 0o755); return err },
		// klp_init creates it at boot, empty until a patch is enabled.
		func() error { _, err := f.MkdirAll("/sys/kernel/livepatch", 0o755); return err },
		func() error { _, err := f.Mount("/sys/kernel/debug", 0o700, vfs.Ramfs); return err },
		func() error { _, err := f.MkdirAll("/sys/kernel/debug/dynamic_debug", 0o755); return err },
		func() error { _, err := f.MkdirAll("/proc/sys/kernel", 0o555); return err },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return fmt.Errorf("kernel: building the file tree: %w", err)
		}
	}
	show := func(fn string) vfs.Ops {
		addr := k.sym(fn)
		return vfs.Ops{Read: func(ctx any) ([]byte, error) {
			out, err := k.ReadShow(readerComm(ctx), addr, procReadTimeout)
			return []byte(out), err
		}}
	}
	files := []struct {
		path string
		mode fs.FileMode
		ops  vfs.Ops
	}{
		{"/proc/cmdline", 0o444, show("cmdline_proc_show")},
		{"/proc/meminfo", 0o444, show("meminfo_proc_show")},
		{"/proc/uptime", 0o444, show("uptime_proc_show")},
		{"/proc/kallsyms", 0o444, vfs.SeqFile(func(ctx any, m *vfs.Seq) error {
			return k.Syms.WriteProcKallsyms(m, true)
		})},
		{"/proc/sys/kernel/ftrace_enabled", 0o644, vfs.Attr(
			func(any) (string, error) { return strconv.Itoa(b2i(k.FtraceEnabled())) + "\n", nil },
			func(_ any, buf string) error {
				v, err := strconv.Atoi(strings.TrimSpace(buf))
				if err != nil || (v != 0 && v != 1) {
					return errno.EINVAL
				}
				return k.SetFtraceEnabled(v == 1)
			})},
		{"/sys/kernel/debug/dynamic_debug/control", 0o644, vfs.Ops{
			Read: func(any) ([]byte, error) { return []byte(k.Dyndbg.ReadControl()), nil },
			Write: func(_ any, data []byte) (int, error) {
				if err := k.Dyndbg.Control(string(data)); err != nil {
					return 0, err
				}
				return len(data), nil
			}}},
		{"/dev/kmsg", fs.ModeDevice | fs.ModeCharDevice | 0o644, vfs.Ops{
			Read: func(any) ([]byte, error) {
				var b strings.Builder
				for _, r := range k.Log.Records() {
					b.WriteString(printk.FormatKmsg(r))
				}
				return []byte(b.String()), nil
			},
			Write: func(_ any, data []byte) (int, error) { return k.Log.WriteKmsg(k.now, data) }}},
	}
	for _, fl := range files {
		if _, err := f.AddFile(fl.path, fl.mode, fl.ops); err != nil {
			return fmt.Errorf("kernel: %s: %w", fl.path, err)
		}
	}
	return f.SetDirOps("/proc", &vfs.DirOps{Lookup: k.procPIDLookup, List: k.procPIDList})
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// readerComm names the task a host read runs on: the command that reads.
func readerComm(ctx any) string {
	if s, ok := ctx.(interface{ ReaderComm() string }); ok {
		return s.ReaderComm()
	}
	return "cat"
}

// procPIDList lists /proc/PID directories, idle tasks excluded.
func (k *Kernel) procPIDList(any) []string {
	pids := make([]int, 0, len(k.tasks))
	for _, t := range k.tasks {
		pids = append(pids, t.PID)
	}
	sort.Ints(pids)
	out := make([]string, len(pids))
	for i, p := range pids {
		out[i] = strconv.Itoa(p)
	}
	return out
}

// procPIDLookup builds /proc/PID: comm, stack, patch_state, status.
// status's Cpus_allowed_list is the CPU a task is pinned to (taskset, a
// per-CPU kthread) or all of them.
func (k *Kernel) procPIDLookup(_ any, name string) *vfs.Node {
	pid, err := strconv.Atoi(name)
	if err != nil || strconv.Itoa(pid) != name {
		return nil
	}
	t := k.byPID[pid]
	if t == nil {
		return nil
	}
	dir := vfs.NewDir(name, 0o555)
	add := func(n *vfs.Node) {
		if err := dir.Add(n); err != nil {
			panic("BUG: kernel: /proc/PID: " + err.Error())
		}
	}
	add(vfs.NewFile("comm", 0o644, vfs.Attr(
		func(any) (string, error) { return t.Comm + "\n", nil },
		func(_ any, buf string) error {
			t.Comm = strings.TrimSuffix(buf, "\n")
			if len(t.Comm) > 15 {
				t.Comm = t.Comm[:15]
			}
			return nil
		})))
	add(vfs.NewFile("stack", 0o400, vfs.SeqFile(func(_ any, m *vfs.Seq) error {
		m.Puts(k.ProcStack(t))
		return nil
	})))
	add(vfs.NewFile("patch_state", 0o444, vfs.SeqFile(func(_ any, m *vfs.Seq) error {
		m.Printf("%d\n", t.PatchState)
		return nil
	})))
	add(vfs.NewFile("status", 0o444, vfs.SeqFile(func(_ any, m *vfs.Seq) error {
		m.Printf("Name:\t%s\nState:\t%s\nPid:\t%d\nPPid:\t%d\n", t.Comm, stateString(t), t.PID, ppid(t))
		m.Printf("Cpus_allowed_list:\t%s\n", k.cpusAllowed(t))
		return nil
	})))
	return dir
}

func ppid(t *Task) int {
	if t.parent == nil {
		return 0
	}
	return t.parent.PID
}

// stateString is /proc/PID/status's State line (fs/proc/array.c).
func stateString(t *Task) string {
	switch {
	case t.State == TaskRunning:
		return "R (running)"
	case t.State&TaskInterruptible != 0:
		if t.IsKthread() && t.State&TaskFreezable == 0 {
			return "I (idle)"
		}
		return "S (sleeping)"
	case t.State&TaskUninterruptible != 0:
		return "D (disk sleep)"
	case t.State&TaskStopped != 0:
		return "T (stopped)"
	case t.State == TaskDead:
		return "X (dead)"
	}
	return "R (running)"
}
