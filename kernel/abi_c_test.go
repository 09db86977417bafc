package kernel

import (
	"errors"
	"testing"

	"klpsim/kernel/kbuild"
)

// TestHeaderLayouts checks include/linux/*.h against the layouts the host
// side reads and writes: every struct field the kernel model touches in
// guest memory has the same offset in the C headers.
func TestHeaderLayouts(t *testing.T) {
	l := func(expr string, want int64, name string) kbuild.Layout {
		return kbuild.Layout{Expr: expr, Want: want, Name: name}
	}
	layouts := []kbuild.Layout{
		l("offsetof(struct module, state)", moduleStructState, "moduleStructState"),
		l("offsetof(struct module, name)", moduleStructName, "moduleStructName"),
		l("sizeof(struct module)", moduleStructSize, "moduleStructSize"),
		l("MODULE_NAME_LEN", moduleNameLen, "moduleNameLen"),
		l("MODULE_STATE_LIVE", int64(ModuleStateLive), "ModuleStateLive"),
		l("MODULE_STATE_COMING", int64(ModuleStateComing), "ModuleStateComing"),
		l("MODULE_STATE_GOING", int64(ModuleStateGoing), "ModuleStateGoing"),
		l("MODULE_STATE_UNFORMED", int64(ModuleStateUnformed), "ModuleStateUnformed"),
		l("offsetof(struct work_struct, data)", workData, "workData"),
		l("offsetof(struct work_struct, entry)", workEntry, "workEntry"),
		l("offsetof(struct work_struct, func)", workFunc, "workFunc"),
		l("sizeof(struct work_struct)", workSize, "workSize"),
		l("sizeof(struct delayed_work)", dworkSize, "dworkSize"),
		l("offsetof(struct seq_file, buf)", seqFileBuf, "seqFileBuf"),
		l("offsetof(struct seq_file, size)", seqFileSz, "seqFileSz"),
		l("offsetof(struct seq_file, count)", seqFileCount, "seqFileCount"),
		l("offsetof(struct seq_file, show)", seqFileShow, "seqFileShow"),
		l("sizeof(struct seq_file)", seqFileSize, "seqFileSize"),
		l("offsetof(struct mutex, owner)", mutexOwner, "mutexOwner"),
		l("offsetof(struct mutex, wait_lock)", mutexWaitLock, "mutexWaitLock"),
		l("offsetof(struct mutex, wait_list)", mutexWaitList, "mutexWaitList"),
		l("sizeof(struct mutex)", MutexSize, "MutexSize"),
		l("offsetof(struct completion, done)", completionDone, "completionDone"),
		l("sizeof(struct completion)", completionSize, "completionSize"),
		l("offsetof(struct kobject, name)", kobjectName, "kobjectName"),
		l("sizeof(struct kobject)", kobjectSize, "kobjectSize"),
		l("offsetof(struct attribute, name)", attrName, "attrName"),
		l("offsetof(struct attribute, mode)", attrMode, "attrMode"),
		l("offsetof(struct kobj_attribute, show)", kobjAttrShow, "kobjAttrShow"),
		l("offsetof(struct kobj_attribute, store)", kobjAttrStore, "kobjAttrStore"),
		l("offsetof(struct kprobe, nmissed)", kpNmissed, "kpNmissed"),
		l("offsetof(struct kprobe, addr)", kpAddr, "kpAddr"),
		l("offsetof(struct kprobe, symbol_name)", kpSymbolName, "kpSymbolName"),
		l("offsetof(struct kprobe, offset)", kpOffset, "kpOffset"),
		l("offsetof(struct kprobe, pre_handler)", kpPreHandler, "kpPreHandler"),
		l("offsetof(struct kprobe, post_handler)", kpPostHandler, "kpPostHandler"),
		l("sizeof(struct kprobe)", kprobeSize, "kprobeSize"),
		l("KLPSIM_HC_GETPID", hcGetpid, "hcGetpid"),
		l("TASK_RUNNING", TaskRunning, "TaskRunning"),
		l("TASK_INTERRUPTIBLE", TaskInterruptible, "TaskInterruptible"),
		l("TASK_UNINTERRUPTIBLE", TaskUninterruptible, "TaskUninterruptible"),
		l("sizeof(struct kernel_param)", kparamSize, "kparamSize"),
		l("offsetof(struct kernel_param, name)", kparamName, "kparamName"),
		l("offsetof(struct kernel_param, ops)", kparamOps, "kparamOps"),
		l("offsetof(struct kernel_param, perm)", kparamPerm, "kparamPerm"),
		l("offsetof(struct kernel_param, arg)", kparamArg, "kparamArg"),
		l("offsetof(struct kparam_string, maxlen)", kparamStrMaxlen, "kparamStrMaxlen"),
		l("offsetof(struct kparam_string, string)", kparamStrString, "kparamStrString"),
		l("offsetof(struct kparam_array, max)", kparamArrMax, "kparamArrMax"),
		l("offsetof(struct kparam_array, num)", kparamArrNum, "kparamArrNum"),
		l("offsetof(struct kparam_array, ops)", kparamArrOps, "kparamArrOps"),
		l("offsetof(struct kparam_array, elem)", kparamArrElem, "kparamArrElem"),
	}
	err := kbuild.CheckLayouts([]string{"linux/module.h", "linux/workqueue.h", "linux/seq_file.h",
		"linux/mutex.h", "linux/completion.h", "linux/kobject.h", "linux/kprobes.h", "linux/sched.h"}, layouts)
	if errors.Is(err, kbuild.ErrNoCompiler) {
		t.Skip("gcc not installed: the header layouts are not checked")
	}
	if err != nil {
		t.Fatal(err)
	}
}
