package kernel

// What the kernel image exports to modules: the functions and variables
// of klpsim's vmlinux (and of the built-ins livepatch brings) that Linux
// 6.12 exports, true for EXPORT_SYMBOL_GPL. A global that is not here —
// cmdline_proc_show (static in Linux), kernel_op, the entry code — is
// not visible to modules: a module using it fails to load with
// "Unknown symbol NAME (err -2)", as it would on Linux.
//
// Some names are klpsim's stand-ins for what Linux has inline or under
// another name; they carry the export of what they stand for:
//
//	kmalloc, kzalloc                 __kmalloc_noprof          EXPORT_SYMBOL
//	init_completion                  (inline)                  -
//	schedule_work                    queue_work_on             EXPORT_SYMBOL
//	schedule_delayed_work            queue_delayed_work_on     EXPORT_SYMBOL
//	proc_create_single               proc_create_single_data   EXPORT_SYMBOL
//	sysfs_create_file, _remove_file  sysfs_create_file_ns ...  EXPORT_SYMBOL_GPL
//	mutex_init                       __mutex_init              EXPORT_SYMBOL
//	ktime_get_boottime_ns            ktime_get_with_offset     EXPORT_SYMBOL_GPL
//	get/set_console_loglevel         console_printk            EXPORT_SYMBOL_GPL
var kernelExports = map[string]bool{
	// kernel/printk/printk.c, lib/vsprintf.c, fs/seq_file.c
	"_printk": false, "sprintf": false, "console_loglevel": true,
	"get_console_loglevel": true, "set_console_loglevel": true,
	"seq_printf": false, "seq_puts": false, "seq_read": false,
	// mm/slab_common.c
	"kmalloc": false, "kzalloc": false, "kfree": false,
	// kernel/sched/
	"schedule": false, "schedule_timeout": false, "schedule_timeout_interruptible": false,
	"schedule_timeout_uninterruptible": false, "wake_up_process": false, "__cond_resched": false,
	"msleep":          false,
	"init_completion": false, "complete": false, "complete_all": false, "wait_for_completion": false,
	// kernel/locking/mutex.c
	"mutex_init": false, "mutex_lock": false, "mutex_trylock": false, "mutex_unlock": false, "mutex_is_locked": false,
	// kernel/workqueue.c
	"schedule_work": false, "schedule_delayed_work": false, "flush_work": true,
	// fs/proc, lib/kobject.c, fs/sysfs
	"proc_create_single": false, "proc_remove": false, "remove_proc_entry": false,
	"kobject_create_and_add": true, "kobject_put": false, "kernel_kobj": true,
	"sysfs_create_file": true, "sysfs_remove_file": true, "sysfs_emit": true, "kstrtobool": true,
	// kernel/time
	"ktime_get_boottime_ns": true,
	// kernel/kprobes.c
	"register_kprobe": true, "unregister_kprobe": true,
	// kernel/livepatch (the built-ins of livepatch/guest)
	"klp_enable_patch": true, "klp_get_state": true, "klp_get_prev_state": true,
	"klp_shadow_get": true, "klp_shadow_alloc": true, "klp_shadow_get_or_alloc": true,
	"klp_shadow_free": true, "klp_shadow_free_all": true,
}

// exportKernelSymbol exports a global of the kernel image if Linux does.
func (k *Kernel) exportKernelSymbol(name string) error {
	gpl, ok := kernelExports[name]
	if !ok {
		return nil
	}
	return k.Syms.Export("", name, gpl)
}
