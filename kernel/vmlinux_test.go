package kernel

import "testing"

// The boot image assembles, links, and has the functions the issue names,
// each with its fentry site at offset 0 where it is traceable.
func TestBuildVmlinux(t *testing.T) {
	img, err := buildVmlinux(false)
	if err != nil {
		t.Fatal(err)
	}
	sites := map[string]uint64{}
	for _, s := range img.sites {
		sites[s.fn] = s.addr
	}
	for _, fn := range []string{
		"do_syscall_64", "syscall_exit_to_user_mode", "exit_to_user_mode_loop",
		"arch_do_signal_or_restart", "__x64_sys_getpid", "seq_read",
		"cmdline_proc_show", "meminfo_proc_show", "seq_printf", "schedule",
		"schedule_timeout", "msleep", "__cond_resched", "do_idle", "kthread",
		"ret_from_fork", "worker_thread", "process_one_work", "_printk",
	} {
		addr, ok := img.sym(fn)
		if !ok {
			t.Errorf("%s: missing", fn)
			continue
		}
		if sites[fn] != addr {
			t.Errorf("%s at %#x: fentry site at %#x", fn, addr, sites[fn])
		}
	}
	for _, fn := range []string{"entry_SYSCALL_64", "ftrace_regs_caller", "ftrace_ops_list_func", "ret_from_fork_asm"} {
		if _, ok := img.sym(fn); !ok {
			t.Errorf("%s: missing", fn)
		}
		if _, traced := sites[fn]; traced {
			t.Errorf("%s is traceable; entry and ftrace code must be notrace", fn)
		}
	}
	if text := img.regions[0]; text.kind != "text" || text.addr != textBase {
		t.Errorf("first region %s at %#x", text.kind, text.addr)
	}
}
