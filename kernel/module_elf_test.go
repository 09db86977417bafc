package kernel

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"klpsim/kernel/errno"
	"klpsim/kernel/kbuild"
)

// buildC builds a C module with gcc and reads it as the loader does.
func buildC(t *testing.T, name, src string) ModuleSpec {
	t.Helper()
	ko, err := kbuild.Build(name, []kbuild.Source{{Name: name + ".c", Data: []byte(src)}})
	if errors.Is(err, kbuild.ErrNoCompiler) {
		t.Skip("gcc not installed: C modules cannot be built")
	}
	if err != nil {
		t.Fatal(err)
	}
	spec, err := ModuleFromELF(name, ko)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

const cFeatures = `
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt
#include <linux/module.h>
#include <linux/kernel.h>

static int level = 3;
module_param(level, int, 0644);
MODULE_PARM_DESC(level, "a level");
static bool verbose;
module_param(verbose, bool, 0444);
static char *who = "world";
module_param(who, charp, 0644);
static char tag[8] = "none";
module_param_string(tag, tag, sizeof(tag), 0600);
static int pids[4];
static unsigned int npids;
module_param_array(pids, int, &npids, 0);

static const int squares[] = { 0, 1, 4, 9, 16, 25 };
static int sealed __ro_after_init = 5;

noinline int features_square(int i)
{
	return squares[i % 6] + sealed;
}
EXPORT_SYMBOL_GPL(features_square);

static int __init features_init(void)
{
	pr_info("hello %s level=%d verbose=%d tag=%s npids=%u\n", who, level, verbose, tag, npids);
	pr_info("square(%d)=%d first=%d\n", level, features_square(level), pids[0]);
	return 0;
}

static void __exit features_exit(void)
{
	pr_info("bye %s\n", who);
}

module_init(features_init);
module_exit(features_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("the C features the loader reads");
`

// TestModuleFromELF loads a gcc-built module: .init.text/.exit.text,
// .rodata, merged strings, .data..ro_after_init, parameters of every kind
// from __param with their modinfo, an EXPORT_SYMBOL_GPL, and init/exit
// found through module_init/module_exit's aliases.
func TestModuleFromELF(t *testing.T) {
	spec := buildC(t, "features", cFeatures)
	if spec.Init != "features_init" || spec.Exit != "features_exit" {
		t.Errorf("init %q exit %q, want the functions behind init_module/cleanup_module", spec.Init, spec.Exit)
	}
	if len(spec.ExportsGPL) != 1 || spec.ExportsGPL[0] != "features_square" || len(spec.Exports) != 0 {
		t.Errorf("exports %v, GPL %v", spec.Exports, spec.ExportsGPL)
	}
	var params []string
	for _, p := range spec.Params {
		params = append(params, p.Name+":"+string(p.Type))
	}
	if got := strings.Join(params, " "); got != "pids:int tag:string who:charp verbose:bool level:int" {
		t.Errorf("params %s", got)
	}
	k := boot(t, Config{CPUs: 1})
	if err := k.RegisterModule(spec); err != nil {
		t.Fatal(err)
	}
	if err := k.Insmod("features", "level=4 who=klpsim tag=abc pids=7,8 verbose"); err != nil {
		t.Fatalf("%v\n%s", err, logText(k))
	}
	log := logText(k)
	for _, want := range []string{
		"features: hello klpsim level=4 verbose=1 tag=abc npids=2\n",
		"features: square(4)=21 first=7\n",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	for path, want := range map[string]string{
		"/sys/module/features/parameters/level":   "4\n",
		"/sys/module/features/parameters/who":     "klpsim\n",
		"/sys/module/features/parameters/verbose": "Y\n",
		"/sys/module/features/parameters/tag":     "abc\n",
	} {
		if got, err := k.FS.Cat(nil, path); err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", path, got, err, want)
		}
	}
	m := k.FindModule("features")
	if a, ok := m.ModuleSym("features_init"); !ok || !m.Contains(a) {
		t.Error("features_init is not in kallsyms")
	}
	if _, ok := m.ModuleSym("init_module"); ok {
		t.Error("the init_module alias is in kallsyms: backtraces would name it")
	}
	for _, sec := range []string{".modinfo", "__param", ".export_symbol"} {
		if spec.Object.SectionIndex(sec) >= 0 {
			t.Errorf("%s is loaded", sec)
		}
	}
	if err := k.Rmmod("features"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logText(k), "features: bye klpsim\n") {
		t.Errorf("exit did not run:\n%s", logText(k))
	}
}

// TestModuleFromELF_Refused: Linux's messages for what the loader refuses
// or taints for: an unknown symbol, a GPL-only export seen from a
// proprietary module, and a module without MODULE_LICENSE.
func TestModuleFromELF_Refused(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	for _, spec := range []ModuleSpec{
		buildC(t, "features", cFeatures),
		buildC(t, "unknown", `#include <linux/module.h>
extern int no_such_symbol(void);
static int unknown_init(void) { return no_such_symbol(); }
module_init(unknown_init);
MODULE_LICENSE("GPL");
`),
		buildC(t, "proprietary", `#include <linux/module.h>
extern int features_square(int);
static int proprietary_init(void) { return features_square(1) * 0; }
module_init(proprietary_init);
MODULE_LICENSE("Proprietary");
`),
		buildC(t, "nolicense", `#include <linux/module.h>
static int nolicense_init(void) { return 0; }
module_init(nolicense_init);
`),
	} {
		if err := k.RegisterModule(spec); err != nil {
			t.Fatal(err)
		}
	}
	if err := k.Insmod("features", ""); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ mod, insmod, log string }{
		{"unknown", "insmod: ERROR: could not insert module test_modules/unknown.ko: Unknown symbol in module",
			"unknown: Unknown symbol no_such_symbol (err -2)\n"},
		{"proprietary", "insmod: ERROR: could not insert module test_modules/proprietary.ko: Unknown symbol in module",
			"proprietary: module license 'Proprietary' taints kernel.\n"},
		{"nolicense", "", ""},
	} {
		err := k.Insmod(tc.mod, "")
		if got := ""; err != nil {
			got = err.Error()
			if got != tc.insmod {
				t.Errorf("insmod %s: %q, want %q", tc.mod, got, tc.insmod)
			}
		} else if tc.insmod != "" {
			t.Errorf("insmod %s succeeded", tc.mod)
		}
		if !strings.Contains(logText(k), tc.log) {
			t.Errorf("log lacks %q:\n%s", tc.log, logText(k))
		}
	}
	if !strings.Contains(logText(k), "proprietary: Unknown symbol features_square (err -2)\n") {
		t.Errorf("the GPL-only export was not refused:\n%s", logText(k))
	}
	if m := k.FindModule("nolicense"); m == nil || m.Taints() != "PO" {
		t.Errorf("nolicense: %v, want loaded and tainted PO", m)
	}
	// First on its own kernel: the taint message names the license.
	k2 := boot(t, Config{CPUs: 1})
	if err := k2.RegisterModule(buildC(t, "nolicense", "#include <linux/module.h>\n")); err != nil {
		t.Fatal(err)
	}
	if err := k2.Insmod("nolicense", ""); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logText(k2), "nolicense: module license 'unspecified' taints kernel.\n") {
		t.Errorf("no license taint message:\n%s", logText(k2))
	}
}

// TestModuleFromELF_TwoFiles: a module of two C files, linked with ld -r
// as Kbuild links one, loads and runs as one.
func TestModuleFromELF_TwoFiles(t *testing.T) {
	srcs := []kbuild.Source{
		{Name: "main.c", Data: []byte("#define pr_fmt(fmt) KBUILD_MODNAME \": \" fmt\n#include <linux/module.h>\n#include <linux/kernel.h>\n" +
			"int helper(int x);\nstatic int two_init(void) { pr_info(\"%d\\n\", helper(20)); return 0; }\nmodule_init(two_init);\nMODULE_LICENSE(\"GPL\");\n")},
		{Name: "helper.c", Data: []byte("int helper(int x) { return x + 22; }\n")},
	}
	ko, err := kbuild.Build("two", srcs)
	if errors.Is(err, kbuild.ErrNoCompiler) {
		t.Skip("gcc not installed: C modules cannot be built")
	}
	if _, lerr := exec.LookPath("ld"); lerr != nil {
		t.Skip("ld not installed: a module of several files is linked with ld -r")
	}
	if err != nil {
		t.Fatal(err)
	}
	spec, err := ModuleFromELF("two", ko)
	if err != nil {
		t.Fatal(err)
	}
	k := boot(t, Config{CPUs: 1})
	if err := k.RegisterModule(spec); err != nil {
		t.Fatal(err)
	}
	if err := k.Insmod("two", ""); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logText(k), "two: 42\n") {
		t.Errorf("log:\n%s", logText(k))
	}
}

const cParamCB = `
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/sysfs.h>

static bool armed;

static int armed_set(const char *val, const struct kernel_param *kp)
{
	bool *p = kp->arg;
	bool v;
	int ret;

	ret = kstrtobool(val, &v);
	if (ret)
		return ret;
	if (v && *p) {
		pr_err("%s: %s is already armed\n", __func__, kp->name);
		return -EBUSY;
	}
	*p = v;
	pr_info("%s: %s=%d\n", __func__, kp->name, v);
	return 0;
}

static int armed_get(char *buffer, const struct kernel_param *kp)
{
	return sysfs_emit(buffer, "%s\n", *(bool *)kp->arg ? "armed" : "idle");
}

static const struct kernel_param_ops armed_ops = {
	.set = armed_set,
	.get = armed_get,
};
module_param_cb(armed, &armed_ops, &armed, 0644);

static int hello_get(char *buffer, const struct kernel_param *kp)
{
	pr_info("%s: Hello, World!\n", __func__);
	return 0;
}

static const struct kernel_param_ops hello_ops = {
	.get = hello_get,
};
module_param_cb(hello, &hello_ops, NULL, 0400);

static int __init pcb_init(void)
{
	pr_info("init armed=%d\n", armed);
	return 0;
}

static void __exit pcb_exit(void)
{
}

module_init(pcb_init);
module_exit(pcb_exit);
MODULE_LICENSE("GPL");
`

// TestModuleFromELF_ParamCB: module_param_cb in C — __param's ops point
// at the module's own kernel_param_ops, whose set and get the kernel
// calls at load and from sysfs.
func TestModuleFromELF_ParamCB(t *testing.T) {
	spec := buildC(t, "pcbc", cParamCB)
	var params []string
	for _, p := range spec.Params {
		params = append(params, p.Name+":"+p.Ops+":"+p.Symbol)
	}
	if got := strings.Join(params, " "); !strings.Contains(got, "armed:") || !strings.Contains(got, "hello:") {
		t.Fatalf("params %s", got)
	}
	k := boot(t, Config{CPUs: 1})
	if err := k.RegisterModule(spec); err != nil {
		t.Fatal(err)
	}
	seq := k.Log.NextSeq()
	if err := k.Insmod("pcbc", "armed=1"); err != nil {
		t.Fatalf("%v\n%s", err, logText(k))
	}
	wantLines(t, logSince(k, seq), "pcbc: loading out-of-tree module taints kernel.", "pcbc: armed_set: armed=1", "pcbc: init armed=1")
	const dir = "/sys/module/pcbc/parameters/"
	if got := cat(t, k, dir+"armed"); got != "armed\n" {
		t.Errorf("armed = %q", got)
	}
	seq = k.Log.NextSeq()
	if got := cat(t, k, dir+"hello"); got != "" {
		t.Errorf("hello = %q", got)
	}
	wantShellError(t, k.FS.Echo(nil, "1", dir+"armed"), "bash: echo: write error: Device or resource busy", errno.EBUSY)
	if err := k.FS.Echo(nil, "0", dir+"armed"); err != nil {
		t.Fatal(err)
	}
	wantLines(t, logSince(k, seq), "pcbc: hello_get: Hello, World!", "pcbc: armed_set: armed is already armed", "pcbc: armed_set: armed=0")
	if err := k.Rmmod("pcbc"); err != nil {
		t.Fatal(err)
	}
	// An error from set at load fails it, with parse_args' line.
	seq = k.Log.NextSeq()
	err := k.Insmod("pcbc", "armed=maybe")
	wantShellError(t, err, "insmod: ERROR: could not insert module test_modules/pcbc.ko: Invalid parameters", errno.EINVAL)
	wantLines(t, logSince(k, seq), "pcbc: `maybe' invalid for parameter `armed'")
}
