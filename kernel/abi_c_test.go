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
	layouts := []kbuild.Layout{
		{"offsetof(struct module, state)", moduleStructState, "moduleStructState"},
		{"offsetof(struct module, name)", moduleStructName, "moduleStructName"},
		{"sizeof(struct module)", moduleStructSize, "moduleStructSize"},
		{"MODULE_NAME_LEN", moduleNameLen, "moduleNameLen"},
		{"MODULE_STATE_LIVE", int64(ModuleStateLive), "ModuleStateLive"},
		{"MODULE_STATE_COMING", int64(ModuleStateComing), "ModuleStateComing"},
		{"MODULE_STATE_GOING", int64(ModuleStateGoing), "ModuleStateGoing"},
		{"MODULE_STATE_UNFORMED", int64(ModuleStateUnformed), "ModuleStateUnformed"},
		{"offsetof(struct work_struct, data)", workData, "workData"},
		{"offsetof(struct work_struct, entry)", workEntry, "workEntry"},
		{"offsetof(struct work_struct, func)", workFunc, "workFunc"},
		{"sizeof(struct work_struct)", workSize, "workSize"},
		{"sizeof(struct delayed_work)", dworkSize, "dworkSize"},
		{"offsetof(struct seq_file, buf)", seqFileBuf, "seqFileBuf"},
		{"offsetof(struct seq_file, size)", seqFileSz, "seqFileSz"},
		{"offsetof(struct seq_file, count)", seqFileCount, "seqFileCount"},
		{"offsetof(struct seq_file, show)", seqFileShow, "seqFileShow"},
		{"sizeof(struct seq_file)", seqFileSize, "seqFileSize"},
		{"offsetof(struct mutex, owner)", mutexOwner, "mutexOwner"},
		{"offsetof(struct mutex, wait_lock)", mutexWaitLock, "mutexWaitLock"},
		{"offsetof(struct mutex, wait_list)", mutexWaitList, "mutexWaitList"},
		{"sizeof(struct mutex)", MutexSize, "MutexSize"},
		{"offsetof(struct completion, done)", completionDone, "completionDone"},
		{"sizeof(struct completion)", completionSize, "completionSize"},
		{"offsetof(struct kobject, name)", kobjectName, "kobjectName"},
		{"sizeof(struct kobject)", kobjectSize, "kobjectSize"},
		{"offsetof(struct attribute, name)", attrName, "attrName"},
		{"offsetof(struct attribute, mode)", attrMode, "attrMode"},
		{"offsetof(struct kobj_attribute, show)", kobjAttrShow, "kobjAttrShow"},
		{"offsetof(struct kobj_attribute, store)", kobjAttrStore, "kobjAttrStore"},
		{"offsetof(struct kprobe, nmissed)", kpNmissed, "kpNmissed"},
		{"offsetof(struct kprobe, addr)", kpAddr, "kpAddr"},
		{"offsetof(struct kprobe, symbol_name)", kpSymbolName, "kpSymbolName"},
		{"offsetof(struct kprobe, offset)", kpOffset, "kpOffset"},
		{"offsetof(struct kprobe, pre_handler)", kpPreHandler, "kpPreHandler"},
		{"offsetof(struct kprobe, post_handler)", kpPostHandler, "kpPostHandler"},
		{"sizeof(struct kprobe)", kprobeSize, "kprobeSize"},
		{"TASK_RUNNING", TaskRunning, "TaskRunning"},
		{"TASK_INTERRUPTIBLE", TaskInterruptible, "TaskInterruptible"},
		{"TASK_UNINTERRUPTIBLE", TaskUninterruptible, "TaskUninterruptible"},
		{"sizeof(struct kernel_param)", kernelParamSize, "kernelParamSize"},
		{"offsetof(struct kernel_param, name)", kpName, "kpName"},
		{"offsetof(struct kernel_param, ops)", kpOps, "kpOps"},
		{"offsetof(struct kernel_param, perm)", kpPerm, "kpPerm"},
		{"offsetof(struct kernel_param, arg)", kpArg, "kpArg"},
		{"offsetof(struct kparam_string, maxlen)", kpsMaxlen, "kpsMaxlen"},
		{"offsetof(struct kparam_string, string)", kpsString, "kpsString"},
		{"offsetof(struct kparam_array, max)", kpaMax, "kpaMax"},
		{"offsetof(struct kparam_array, num)", kpaNum, "kpaNum"},
		{"offsetof(struct kparam_array, ops)", kpaOps, "kpaOps"},
		{"offsetof(struct kparam_array, elem)", kpaElem, "kpaElem"},
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
