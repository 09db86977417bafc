package kernel

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"klpsim/isa"
	"klpsim/kernel/errno"
	"klpsim/kernel/printk"
	"klpsim/kernel/vfs"
)

// Kprobes on function entry, placed through ftrace (kernel/kprobes.c,
// arch/x86/kernel/kprobes/ftrace.c; CONFIG_KPROBES_ON_FTRACE).
//
// A struct kprobe lives in guest memory; guest code registers it with
// register_kprobe (kernel/vmlinux/kprobes.S, a vmcall into
// registerKprobe), Go code with RegisterKprobe. A probe on a function's
// fentry site is armed by adding the site to one of two ftrace ops, as
// Linux's arm_kprobe_ftrace chooses by p->post_handler:
//
//	kprobe_ftrace_ops    SAVE_REGS            probes without a post_handler
//	kprobe_ipmodify_ops  SAVE_REGS|IPMODIFY   probes with one (the handler
//	                                          moves regs->ip to emulate the
//	                                          single step)
//
// so a probe with a post_handler and a livepatch of the same function
// exclude each other with -EBUSY, whichever comes second.
//
// Both ops are guest ops: their handler is kprobe_ftrace_handler, guest
// code that ftrace_ops_list_func's guest loop calls (see ftraceCall). It
// asks the host for the probes at ip (hcKprobeEnter, hcKprobeGet) and calls
// their pre_handler(p, regs) and post_handler(p, regs, 0) as ordinary
// guest calls on the current task, with interrupts off so that
// current_kprobe stays this CPU's — Linux runs them with preemption
// disabled. Handlers must not sleep, as in Linux.
//
// Probes that are not on an ftrace site would need int3 and single-step
// emulation, which klpsim does not have: registering one fails with
// -EOPNOTSUPP (an address inside the fentry nop itself gets Linux's
// -EILSEQ, since it is no instruction boundary).

// struct kprobe offsets (include/linux/kprobes.h, x86-64, 5.14 and later,
// without fault_handler). kernel/vmlinux/kprobes.S has the same numbers.
const (
	kpNmissed     = 32 // unsigned long nmissed
	kpAddr        = 40 // kprobe_opcode_t *addr
	kpSymbolName  = 48 // const char *symbol_name
	kpOffset      = 56 // unsigned int offset
	kpPreHandler  = 64 // kprobe_pre_handler_t pre_handler
	kpPostHandler = 72 // kprobe_post_handler_t post_handler
	kprobeSize    = 128
)

// kprobeHashBits is KPROBE_HASH_BITS: debugfs' list walks the table's
// 64 buckets in order, each newest first.
const kprobeHashBits = 6

// kprobe is the host's view of a registered struct kprobe.
type kprobe struct {
	p    uint64 // the guest struct kprobe
	addr uint64 // p->addr, canonicalized
	post bool   // p->post_handler was set at registration
	seq  uint64 // registration order, for the table's newest-first buckets
}

// kprobeSite is every probe at one address: Linux's aggregated kprobe.
type kprobeSite struct {
	addr   uint64
	probes []*kprobe  // in registration order
	armed  *FtraceOps // the ops the site is armed on; nil while disarmed
	cnt    *int       // that ops' arm count
}

// kprobeState is the kprobe table and the kprobe ftrace ops.
type kprobeState struct {
	sites        map[uint64]*kprobeSite // by probed address (kprobe_table)
	byStruct     map[uint64]*kprobe     // by guest struct address
	allDisarmed  bool                   // kprobes_all_disarmed (debugfs enabled = 0)
	ftraceOps    FtraceOps              // kprobe_ftrace_ops
	ipmodifyOps  FtraceOps              // kprobe_ipmodify_ops
	ftraceCnt    int                    // kprobe_ftrace_enabled
	ipmodifyCnt  int                    // kprobe_ipmodify_enabled
	current      []uint64               // current_kprobe per CPU
	hcCPU        *CPU                   // the CPU in a kprobe vmcall (WARN's CPU and PID)
	seq          uint64
	warnedArm    bool // WARN_ONCE in __arm_kprobe_ftrace
	warnedRereg  bool // WARN_ON_ONCE in warn_kprobe_rereg
	warnedDisarm bool // WARN_ONCE in __disarm_kprobe_ftrace
}

func (k *Kernel) initKprobes() error {
	ks := &k.tracing.kprobes
	ks.sites = map[uint64]*kprobeSite{}
	ks.byStruct = map[uint64]*kprobe{}
	ks.current = make([]uint64, len(k.cpus))
	handler := k.sym("kprobe_ftrace_handler")
	hostCall := func(uint64, uint64, *FtraceOps, uint64) {
		panic("BUG: kernel: kprobe ftrace ops run as guest code")
	}
	ks.ftraceOps = FtraceOps{Func: hostCall, Flags: FtraceSaveRegs, guestFunc: handler, guestOps: k.sym("kprobe_ftrace_ops")}
	ks.ipmodifyOps = FtraceOps{Func: hostCall, Flags: FtraceSaveRegs | FtraceIPModify, guestFunc: handler, guestOps: k.sym("kprobe_ipmodify_ops")}

	const dir = "/sys/kernel/debug/kprobes"
	if _, err := k.FS.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("kernel: %s: %w", dir, err)
	}
	if _, err := k.FS.AddFile(dir+"/list", 0o400, vfs.SeqFile(func(_ any, m *vfs.Seq) error {
		m.Puts(k.KprobeList())
		return nil
	})); err != nil {
		return err
	}
	_, err := k.FS.AddFile(dir+"/enabled", 0o600, vfs.Ops{
		Read: func(any) ([]byte, error) {
			return []byte(strconv.Itoa(b2i(!ks.allDisarmed)) + "\n"), nil // read_enabled_file_bool
		},
		Write: func(_ any, data []byte) (int, error) {
			on, err := kstrtobool(string(data)) // kstrtobool_from_user
			if err != nil {
				return 0, err
			}
			if on {
				err = k.ArmAllKprobes()
			} else {
				err = k.DisarmAllKprobes()
			}
			if err != nil {
				return 0, err
			}
			return len(data), nil
		}})
	return err
}

// NewKprobe allocates a zeroed struct kprobe in guest memory with the
// given symbol_name (copied into guest memory too; "" leaves it NULL),
// addr, offset and handler addresses, for RegisterKprobe. FreeKprobe
// releases it.
func (k *Kernel) NewKprobe(symbol string, addr uint64, offset uint32, pre, post uint64) (uint64, error) {
	p, err := k.kmalloc(kprobeSize)
	if err != nil {
		return 0, err
	}
	if err := k.mem.Write(p, make([]byte, kprobeSize)); err != nil {
		return 0, err
	}
	var name uint64
	if symbol != "" {
		if name, err = k.kmalloc(uint64(len(symbol) + 1)); err != nil {
			return 0, err
		}
		if err := k.mem.Write(name, append([]byte(symbol), 0)); err != nil {
			return 0, err
		}
	}
	for off, v := range map[uint64]uint64{kpSymbolName: name, kpAddr: addr, kpPreHandler: pre, kpPostHandler: post} {
		if err := k.mem.WriteU64(p+off, v); err != nil {
			return 0, err
		}
	}
	if err := k.mem.Write(p+kpOffset, []byte{byte(offset), byte(offset >> 8), byte(offset >> 16), byte(offset >> 24)}); err != nil {
		return 0, err
	}
	return p, nil
}

// FreeKprobe frees a struct kprobe made by NewKprobe (unregister it first).
func (k *Kernel) FreeKprobe(p uint64) {
	if name, _ := k.mem.ReadU64(p + kpSymbolName); name != 0 {
		k.kfree(name)
	}
	k.kfree(p)
}

// RegisterKprobe is register_kprobe(p) for a struct kprobe at guest
// address p. Errors, in Linux's order: -EINVAL for both or neither of
// symbol_name and addr; -ENOENT for an unknown symbol or an address in no
// symbol; -EINVAL (with a WARN) for a probe already registered; -EILSEQ
// inside a fentry nop, -EOPNOTSUPP elsewhere off an ftrace site (see the
// file comment), -EINVAL outside kernel text; -EBUSY when arming conflicts
// with another IPMODIFY ops.
func (k *Kernel) RegisterKprobe(p uint64) error {
	ks := &k.tracing.kprobes
	addr, _ := k.mem.ReadU64(p + kpAddr)
	namePtr, _ := k.mem.ReadU64(p + kpSymbolName)
	var offb [4]byte
	if err := k.mem.Read(p+kpOffset, offb[:]); err != nil {
		return errno.EFAULT
	}
	offset := uint64(offb[0]) | uint64(offb[1])<<8 | uint64(offb[2])<<16 | uint64(offb[3])<<24
	post, _ := k.mem.ReadU64(p + kpPostHandler)

	// _kprobe_addr: canonicalize symbol+offset into an address.
	if (namePtr != 0) == (addr != 0) {
		return errno.EINVAL
	}
	if namePtr != 0 {
		name, ok := k.guestString(namePtr, 512) // KSYM_NAME_LEN
		if !ok {
			return errno.EFAULT
		}
		a, ok := k.kallsymsLookupName(name)
		if !ok {
			return errno.ENOENT
		}
		addr = a
	}
	addr += offset
	if _, _, ok := k.Syms.Lookup(addr); !ok {
		return errno.ENOENT
	}

	// warn_kprobe_rereg
	if ks.byStruct[p] != nil {
		k.warn(&ks.warnedRereg, "", "warn_kprobe_rereg")
		return errno.EINVAL
	}
	if err := k.mem.WriteU64(p+kpAddr, addr); err != nil {
		return errno.EFAULT
	}
	_ = k.mem.WriteU64(p+kpNmissed, 0)

	// check_kprobe_address_safe, with check_ftrace_location first.
	if loc, ok := k.FtraceLocation(addr); !ok || loc != addr {
		s, off, _ := k.Syms.Lookup(addr)
		switch {
		case s.Type != 'T' && s.Type != 't':
			return errno.EINVAL // !kernel_text_address
		case off < 5 && k.record(s.Addr) != nil:
			return errno.EILSEQ // inside the fentry nop: can_probe fails
		}
		return errno.EOPNOTSUPP
	}

	ks.seq++
	kp := &kprobe{p: p, addr: addr, post: post != 0, seq: ks.seq}
	if site := ks.sites[addr]; site != nil {
		// register_aggr_kprobe: join the armed site as it is (Linux does
		// not re-choose the ops when a post_handler joins).
		site.probes = append(site.probes, kp)
		ks.byStruct[p] = kp
		return nil
	}
	site := &kprobeSite{addr: addr, probes: []*kprobe{kp}}
	if !ks.allDisarmed {
		if err := k.armKprobe(site); err != nil {
			return err
		}
	}
	ks.sites[addr] = site
	ks.byStruct[p] = kp
	return nil
}

// kallsymsLookupName is kallsyms_lookup_name: vmlinux first, then modules;
// "mod:name" looks in one module.
func (k *Kernel) kallsymsLookupName(name string) (uint64, bool) {
	mod := ""
	if i := strings.IndexByte(name, ':'); i >= 0 {
		mod, name = name[:i], name[i+1:]
	}
	syms := k.Syms.ByName(name)
	sort.SliceStable(syms, func(a, b int) bool { return syms[a].Module == "" && syms[b].Module != "" })
	for _, s := range syms {
		if mod == "" || s.Module == mod {
			return s.Addr, true
		}
	}
	return 0, false
}

// UnregisterKprobe is unregister_kprobe(p): disarm and forget it. An
// unknown p is -EINVAL (Linux ignores it silently).
func (k *Kernel) UnregisterKprobe(p uint64) error {
	ks := &k.tracing.kprobes
	kp := ks.byStruct[p]
	if kp == nil {
		return errno.EINVAL
	}
	delete(ks.byStruct, p)
	site := ks.sites[kp.addr]
	for i, q := range site.probes {
		if q == kp {
			site.probes = append(site.probes[:i:i], site.probes[i+1:]...)
			break
		}
	}
	if len(site.probes) == 0 {
		if site.armed != nil {
			k.disarmKprobe(site)
		}
		delete(ks.sites, kp.addr)
	}
	return nil
}

// armKprobe is arm_kprobe_ftrace / __arm_kprobe_ftrace.
func (k *Kernel) armKprobe(site *kprobeSite) error {
	ks := &k.tracing.kprobes
	ops, cnt := &ks.ftraceOps, &ks.ftraceCnt
	if site.probes[0].post {
		ops, cnt = &ks.ipmodifyOps, &ks.ipmodifyCnt
	}
	if err := k.FtraceSetFilterIP(ops, site.addr, false); err != nil {
		k.warn(&ks.warnedArm, fmt.Sprintf("Failed to arm kprobe-ftrace at %s (error %d)", k.Syms.Format(site.addr), -errnoValue(err)), "__arm_kprobe_ftrace")
		return err
	}
	if *cnt == 0 {
		if err := k.RegisterFtraceFunction(ops); err != nil {
			k.warn(nil, fmt.Sprintf("Failed to register kprobe-ftrace (error %d)", -errnoValue(err)), "__arm_kprobe_ftrace")
			_ = k.FtraceSetFilterIP(ops, site.addr, true)
			return err
		}
	}
	*cnt++
	site.armed, site.cnt = ops, cnt
	return nil
}

// disarmKprobe is disarm_kprobe_ftrace / __disarm_kprobe_ftrace.
func (k *Kernel) disarmKprobe(site *kprobeSite) {
	ks := &k.tracing.kprobes
	ops, cnt := site.armed, site.cnt
	if *cnt == 1 {
		if err := k.UnregisterFtraceFunction(ops); err != nil {
			k.warn(nil, fmt.Sprintf("Failed to unregister kprobe-ftrace (error %d)", -errnoValue(err)), "__disarm_kprobe_ftrace")
			return
		}
	}
	*cnt--
	if err := k.FtraceSetFilterIP(ops, site.addr, true); err != nil {
		k.warn(&ks.warnedDisarm, fmt.Sprintf("Failed to disarm kprobe-ftrace at %s (error %d)", k.Syms.Format(site.addr), -errnoValue(err)), "__disarm_kprobe_ftrace")
	}
	site.armed, site.cnt = nil, nil
}

// KprobesEnabled reads /sys/kernel/debug/kprobes/enabled.
func (k *Kernel) KprobesEnabled() bool { return !k.tracing.kprobes.allDisarmed }

// ArmAllKprobes is arm_all_kprobes (writing 1 to debugfs' enabled).
func (k *Kernel) ArmAllKprobes() error {
	ks := &k.tracing.kprobes
	if !ks.allDisarmed {
		return nil
	}
	ks.allDisarmed = false
	var errs, total int
	var last error
	for _, site := range k.kprobeSites() {
		total++
		if err := k.armKprobe(site); err != nil {
			errs++
			last = err
		}
	}
	if errs > 0 {
		k.printk(0, fmt.Sprintf(printk.KERN_WARNING+"kprobes: Kprobes globally enabled, but failed to enable %d out of %d probes. Please check which kprobes are kept disabled via debugfs.\n", errs, total))
	} else {
		k.printk(0, printk.KERN_INFO+"kprobes: Kprobes globally enabled\n")
	}
	return last
}

// DisarmAllKprobes is disarm_all_kprobes (writing 0 to debugfs' enabled):
// the probes stay registered but no site calls them.
func (k *Kernel) DisarmAllKprobes() error {
	ks := &k.tracing.kprobes
	if ks.allDisarmed {
		return nil
	}
	ks.allDisarmed = true
	for _, site := range k.kprobeSites() {
		if site.armed != nil {
			k.disarmKprobe(site)
		}
	}
	k.printk(0, printk.KERN_INFO+"kprobes: Kprobes globally disabled\n")
	return nil
}

// kprobeHash is hash_ptr(addr, KPROBE_HASH_BITS): hash_64 with
// GOLDEN_RATIO_64.
func kprobeHash(addr uint64) uint64 { return addr * 0x61c8864680b583eb >> (64 - kprobeHashBits) }

// kprobeSites lists the sites in kprobe_table order: bucket by bucket, the
// newest site first in each (hlist_add_head).
func (k *Kernel) kprobeSites() []*kprobeSite {
	sites := make([]*kprobeSite, 0, len(k.tracing.kprobes.sites))
	for _, s := range k.tracing.kprobes.sites {
		sites = append(sites, s)
	}
	sort.Slice(sites, func(a, b int) bool {
		ha, hb := kprobeHash(sites[a].addr), kprobeHash(sites[b].addr)
		if ha != hb {
			return ha < hb
		}
		return sites[a].probes[0].seq > sites[b].probes[0].seq
	})
	return sites
}

// KprobeList renders /sys/kernel/debug/kprobes/list (show_kprobe_addr and
// report_probe): "%px  k  sym+0x%x  mod " then the [DISABLED] and [FTRACE]
// marks. A module probe reads "… func+0x0  modname [FTRACE]"; a vmlinux one
// has " " in place of the module name, hence four spaces.
func (k *Kernel) KprobeList() string {
	var b strings.Builder
	for _, site := range k.kprobeSites() {
		s, off, ok := k.Syms.Lookup(site.addr)
		for _, kp := range site.probes {
			if ok {
				mod := s.Module
				if mod == "" {
					mod = " "
				}
				fmt.Fprintf(&b, "%016x  k  %s+0x%x  %s ", kp.addr, s.Name, off, mod)
			} else {
				fmt.Fprintf(&b, "%016x  k  %s ", kp.addr, k.Syms.Format(kp.addr))
			}
			b.WriteString("[FTRACE]\n") // every klpsim kprobe is on ftrace; none is disabled or gone
		}
	}
	return b.String()
}

// kprobeHypercall services the kprobe vmcalls of kernel/vmlinux/kprobes.S.
func (k *Kernel) kprobeHypercall(c *CPU, nr uint64) uint64 {
	ks := &k.tracing.kprobes
	r := &c.emu.R
	switch nr {
	case hcKprobeRegister:
		ks.hcCPU = c
		defer func() { ks.hcCPU = nil }()
		return errRet(k.RegisterKprobe(r[isa.RDI]))
	case hcKprobeUnregister:
		ks.hcCPU = c
		defer func() { ks.hcCPU = nil }()
		_ = k.UnregisterKprobe(r[isa.RDI])
	case hcKprobeEnter:
		site := ks.sites[r[isa.RDI]]
		if site == nil || site.armed == nil || len(site.probes) == 0 {
			return 0
		}
		if ks.current[c.ID] != 0 { // kprobe_running: a probe inside a handler
			for _, kp := range site.probes {
				n, _ := k.mem.ReadU64(kp.p + kpNmissed)
				_ = k.mem.WriteU64(kp.p+kpNmissed, n+1)
			}
			return 0
		}
		ks.current[c.ID] = site.probes[0].p
		return 1
	case hcKprobeGet:
		site := ks.sites[r[isa.RDI]]
		if i := r[isa.RSI]; site != nil && i < uint64(len(site.probes)) {
			return site.probes[i].p
		}
	case hcKprobeExit:
		ks.current[c.ID] = 0
	}
	return 0
}

// errRet is a C function's int result for err: 0 or -errno.
func errRet(err error) uint64 {
	if err == nil {
		return 0
	}
	return uint64(-int64(errnoValue(err)))
}

// errnoValue is the positive errno number of err (EINVAL for anything
// that is not an errno).
func errnoValue(err error) int {
	var e errno.Errno
	if errors.As(err, &e) {
		return int(e)
	}
	return int(errno.EINVAL)
}

// warn prints a WARN()/WARN_ONCE() splat, abbreviated: the cut-here
// line, the message, the WARNING line naming the function (without
// kernel/kprobes.c's line number and the register dump), the end marker.
// once, when non-nil, makes it WARN_ONCE.
func (k *Kernel) warn(once *bool, msg, fn string) {
	if once != nil {
		if *once {
			return
		}
		*once = true
	}
	cpu, pid := 0, 0
	if c := k.tracing.kprobes.hcCPU; c != nil {
		cpu, pid = c.ID, c.curr.PID
	}
	k.printk(cpu, printk.KERN_WARNING+"------------[ cut here ]------------\n")
	if msg != "" {
		k.printk(cpu, printk.KERN_WARNING+msg+"\n")
	}
	k.printk(cpu, fmt.Sprintf(printk.KERN_WARNING+"WARNING: CPU: %d PID: %d at kernel/kprobes.c %s\n", cpu, pid, fn))
	k.printk(cpu, printk.KERN_WARNING+"---[ end trace 0000000000000000 ]---\n")
}

// The kprobe hypercalls of kernel/vmlinux/kprobes.S.
func init() {
	h := func(nr int) hcFunc {
		return func(k *Kernel, c *CPU) uint64 { return k.kprobeHypercall(c, uint64(nr)) }
	}
	registerHypercalls(map[int]hypercall{
		hcKprobeRegister:   {"HC_KPROBE_REGISTER", h(hcKprobeRegister), 0},
		hcKprobeUnregister: {"HC_KPROBE_UNREGISTER", h(hcKprobeUnregister), 0},
		hcKprobeEnter:      {"HC_KPROBE_ENTER", h(hcKprobeEnter), 0},
		hcKprobeGet:        {"HC_KPROBE_GET", h(hcKprobeGet), 0},
		hcKprobeExit:       {"HC_KPROBE_EXIT", h(hcKprobeExit), 0},
	})
}
