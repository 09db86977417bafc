package kernel

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"klpsim/kernel/errno"
	"klpsim/kernel/vfs"
)

// The function tracer and its tracefs files (kernel/trace/trace.c,
// trace_functions.c, trace_output.c and the filter files of ftrace.c).
//
// The tracer is one FtraceOps, Linux's global_ops: a host handler, no
// SAVE_REGS need beyond what the trampoline always saves, no IPMODIFY, so
// it shares a site with livepatch's ops and kprobes'. Its filter is
// set_ftrace_filter, kept whether or not the tracer is current, as Linux
// keeps global_ops' filter hash; an empty filter traces every function,
// including those of modules loaded later (addFtraceRecords attaches ops
// whose filter is empty). Each hit appends an entry to the ring buffer of
// the CPU it ran on; reading `trace` merges the CPUs' buffers by time stamp
// the way trace_find_next_entry does.
//
// The files live in /sys/kernel/debug/tracing, where debugfs automounts
// tracefs and where the livepatch selftests look (SYSFS_TRACING_DIR).

// traceBufEntries is the capacity of each CPU's ring buffer, in entries
// (Linux sizes it in bytes, buffer_size_kb). Tests may lower it.
var traceBufEntries = 16384

// Tracefs modes, TRACE_MODE_WRITE and TRACE_MODE_READ (kernel/trace/trace.h
// since 5.16, "tracing: Disable "other" permission bits in the tracefs
// files"), and the mode of the tracefs root (TRACEFS_DEFAULT_MODE).
const (
	traceModeWrite fs.FileMode = 0o640
	traceModeRead  fs.FileMode = 0o440
	traceDirMode   fs.FileMode = 0o700
)

// Trace entry flags, the subset of TRACE_FLAG_* klpsim records.
const (
	traceFlagIRQsOff      = 1 << 0 // TRACE_FLAG_IRQS_OFF: 'd'
	traceFlagNeedResched  = 1 << 2 // TRACE_FLAG_NEED_RESCHED
	traceFlagPreemptResch = 1 << 5 // TRACE_FLAG_PREEMPT_RESCHED: with the above, 'N'
)

// TraceEntry is one function-tracer event (struct ftrace_entry with its
// struct trace_entry header and the ring buffer's time stamp).
type TraceEntry struct {
	TS       uint64 // simulated ns since boot (trace_clock_local)
	IP       uint64 // the traced function
	ParentIP uint64 // its caller's return address
	PID      int
	Comm     string // the task's comm when the entry was written (saved_cmdlines)
	CPU      int
	Flags    uint8 // TRACE_FLAG_*
}

// traceRing is one CPU's ring buffer: the newest traceBufEntries entries,
// overwriting the oldest (the default "overwrite" mode).
type traceRing struct {
	ents    []TraceEntry // allocated at the first entry, never grown
	head    int          // index of the oldest entry
	n       int          // entries in the buffer
	overrun uint64       // entries overwritten before they were read
}

func (r *traceRing) add(e TraceEntry) {
	if r.ents == nil {
		r.ents = make([]TraceEntry, traceBufEntries)
	}
	if r.n < len(r.ents) {
		r.ents[(r.head+r.n)%len(r.ents)] = e
		r.n++
		return
	}
	r.ents[r.head] = e
	r.head = (r.head + 1) % len(r.ents)
	r.overrun++
}

func (r *traceRing) reset() { r.head, r.n, r.overrun = 0, 0, 0 }

func (r *traceRing) at(i int) *TraceEntry { return &r.ents[(r.head+i)%len(r.ents)] }

// tracingState is the kernel's tracing: the function tracer (this file) and
// kprobes (kprobe.go). Owned by the kernel goroutine.
type tracingState struct {
	tracer  string          // current_tracer: "nop" or "function"
	off     bool            // tracing_on = 0 (tracer_tracing_off)
	ops     FtraceOps       // global_ops, the function tracer's ftrace_ops
	filter  map[uint64]bool // set_ftrace_filter; empty: all functions
	rings   []traceRing     // per CPU
	clock   []traceClock    // per CPU
	kprobes kprobeState
}

// initTracing creates the tracer's and kprobes' state and files.
func (k *Kernel) initTracing() error {
	ts := &k.tracing
	ts.tracer = "nop"
	ts.rings = make([]traceRing, len(k.cpus))
	ts.clock = make([]traceClock, len(k.cpus))
	ts.ops.Func = k.functionTraceCall
	if err := k.initTraceFS(); err != nil {
		return err
	}
	return k.initKprobes()
}

// functionTraceCall is function_trace_call, the tracer's ftrace handler:
// record ip and parent_ip for the current task. It allocates nothing once
// the CPU's ring exists.
func (k *Kernel) functionTraceCall(ip, parentIP uint64, _ *FtraceOps, _ uint64) {
	ts := &k.tracing
	if ts.off {
		return
	}
	c := k.ftraceCPU
	t := c.curr
	var flags uint8
	// local_save_flags: the flags now, which no trampoline changed (an
	// ftrace_caller frame has no saved flags).
	if c.emu.RFLAGS()&(1<<9) == 0 { // X86_EFLAGS_IF
		flags |= traceFlagIRQsOff
	}
	if k.needResched(c) {
		flags |= traceFlagNeedResched | traceFlagPreemptResch
	}
	ts.rings[c.ID].add(TraceEntry{TS: k.traceClockLocal(c), IP: ip, ParentIP: parentIP, PID: t.PID, Comm: t.Comm, CPU: c.ID, Flags: flags})
}

// traceClock keeps a CPU's trace clock finer than k.now, which moves only
// between quanta: the instructions the CPU has retired since the first
// entry it wrote at this value of k.now, at ClockHz.
type traceClock struct {
	now   uint64 // k.now when the CPU last synced
	insns uint64 // the CPU's instruction count then
}

// traceClockLocal is trace_clock_local: simulated ns, monotonic per CPU,
// never before k.now nor past the end of the CPU's current quantum.
func (k *Kernel) traceClockLocal(c *CPU) uint64 {
	tc := &k.tracing.clock[c.ID]
	if tc.now != k.now {
		tc.now, tc.insns = k.now, c.emu.Insns
	}
	return k.now + (c.emu.Insns-tc.insns)*1_000_000_000/k.cfg.ClockHz
}

// CurrentTracer is current_tracer's value.
func (k *Kernel) CurrentTracer() string { return k.tracing.tracer }

// AvailableTracers lists the tracers in available_tracers' order:
// register_tracer pushes each new tracer at the head of trace_types, and
// nop registers first.
func AvailableTracers() []string { return []string{"function", "nop"} }

// TracingSetTracer is tracing_set_tracer: switch current_tracer. An unknown
// name is -EINVAL. Starting a tracer (even the same one again, even nop)
// clears the buffers, as tracer_init does.
func (k *Kernel) TracingSetTracer(name string) error {
	ts := &k.tracing
	if name != "nop" && name != "function" {
		return errno.EINVAL
	}
	if name == ts.tracer {
		return nil // tracing_set_tracer: "if (t == tr->current_trace) goto out"
	}
	if ts.tracer == "function" {
		if err := k.UnregisterFtraceFunction(&ts.ops); err != nil {
			return err
		}
	}
	ts.tracer = name
	k.TraceClear()
	if name == "function" {
		k.applyTraceFilter()
		return k.RegisterFtraceFunction(&ts.ops)
	}
	return nil
}

// TracingOn reports tracing_on.
func (k *Kernel) TracingOn() bool { return !k.tracing.off }

// SetTracingOn is tracer_tracing_on / tracer_tracing_off: while off,
// handlers run but write nothing.
func (k *Kernel) SetTracingOn(on bool) { k.tracing.off = !on }

// TraceClear is tracing_reset_online_cpus: empty every CPU's buffer, as
// opening `trace` with O_TRUNC does.
func (k *Kernel) TraceClear() {
	for i := range k.tracing.rings {
		k.tracing.rings[i].reset()
	}
}

// TraceEntries returns the buffered entries merged across CPUs in time
// order; on equal time stamps the lower CPU comes first
// (trace_find_next_entry keeps the first CPU with the smallest ts).
func (k *Kernel) TraceEntries() []TraceEntry {
	var out []TraceEntry
	for i := range k.tracing.rings {
		r := &k.tracing.rings[i]
		for j := 0; j < r.n; j++ {
			out = append(out, *r.at(j))
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].TS < out[b].TS })
	return out
}

// ReadTrace renders the `trace` file: s_show's "# tracer:" lines,
// print_func_help_header_irq (the irq-info option is on by default), then
// one line per entry as trace_print_context and trace_fn_trace print it.
func (k *Kernel) ReadTrace() string {
	ents := k.TraceEntries()
	var written uint64
	for i := range k.tracing.rings {
		written += uint64(k.tracing.rings[i].n) + k.tracing.rings[i].overrun
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# tracer: %s\n#\n", k.tracing.tracer)
	fmt.Fprintf(&b, "# entries-in-buffer/entries-written: %d/%d   #P:%d\n#\n", len(ents), written, len(k.cpus))
	const pad = "                            " + "  " // 28 spaces, then %.*s of 2 spaces
	b.WriteString("#" + pad + "  _-----=> irqs-off/BH-disabled\n")
	b.WriteString("#" + pad + " / _----=> need-resched\n")
	b.WriteString("#" + pad + "| / _---=> hardirq/softirq\n")
	b.WriteString("#" + pad + "|| / _--=> preempt-depth\n")
	b.WriteString("#" + pad + "||| / _-=> migrate-disable\n")
	b.WriteString("#" + pad + "|||| /     delay\n")
	b.WriteString("#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION\n")
	b.WriteString("#              | |         |   |||||     |         |\n")
	for i := range ents {
		k.formatTraceEntry(&b, &ents[i])
	}
	return b.String()
}

// formatTraceEntry prints one function entry: "%16s-%-7d [%03d] " (comm,
// pid, cpu), trace_print_lat_fmt's five flag columns, " %5lu.%06lu: "
// (trace_print_time in microseconds), then "func <-parent".
func (k *Kernel) formatTraceEntry(b *strings.Builder, e *TraceEntry) {
	comm := e.Comm
	if e.PID == 0 {
		comm = "<idle>" // trace_find_cmdline
	}
	irqs := byte('.')
	if e.Flags&traceFlagIRQsOff != 0 {
		irqs = 'd'
	}
	resched := byte('.')
	switch e.Flags & (traceFlagNeedResched | traceFlagPreemptResch) {
	case traceFlagNeedResched | traceFlagPreemptResch:
		resched = 'N'
	case traceFlagNeedResched:
		resched = 'n'
	case traceFlagPreemptResch:
		resched = 'p'
	}
	usecs := e.TS / 1000
	fmt.Fprintf(b, "%16s-%-7d [%03d] %c%c... %5d.%06d: %s", comm, e.PID, e.CPU, irqs, resched,
		usecs/1_000_000, usecs%1_000_000, k.traceSym(e.IP))
	if e.ParentIP != 0 {
		b.WriteString(" <-")
		b.WriteString(k.traceSym(e.ParentIP))
	}
	b.WriteByte('\n')
}

// traceSym is seq_print_ip_sym without the sym-offset option: the bare
// symbol name (kallsyms_lookup, no module), "0x%08lx" when there is none,
// "0" for 0.
func (k *Kernel) traceSym(addr uint64) string {
	if addr == 0 {
		return "0"
	}
	if s, _, ok := k.Syms.Lookup(addr); ok {
		return s.Name
	}
	return fmt.Sprintf("0x%08x", addr)
}

// FtraceFilter returns set_ftrace_filter's function addresses in address
// order; empty means every function.
func (k *Kernel) FtraceFilter() []uint64 {
	var ips []uint64
	for _, r := range k.ftrace.recs {
		if k.tracing.filter[r.ip] {
			ips = append(ips, r.ip)
		}
	}
	return ips
}

// FtraceRegexWrite is a write(2) to set_ftrace_filter followed by its
// close (ftrace_regex_write, ftrace_regex_release). Without appendMode
// the file was opened with O_TRUNC, which empties the filter first;
// `>>` opens with O_APPEND and keeps it. text holds whitespace-separated
// words: a function name, a glob ("cmdline*", "*_show", "seq_?ead"), or
// either after '!' to remove the matches. A word that matches no function
// is -EINVAL and stops the write; as in Linux, the filter built so far —
// emptied, if truncating — is still installed at close.
func (k *Kernel) FtraceRegexWrite(text string, appendMode bool) error {
	ts := &k.tracing
	hash := map[uint64]bool{}
	if appendMode {
		for ip := range ts.filter {
			hash[ip] = true
		}
	}
	var err error
	for _, w := range strings.Fields(text) {
		if err = k.matchRecords(hash, w); err != nil {
			break
		}
	}
	ts.filter = hash
	if ts.tracer == "function" {
		// ftrace_hash_move_and_update_ops: the tracer has no IPMODIFY, so
		// moving it from one set of sites to another cannot fail.
		if e := k.UnregisterFtraceFunction(&ts.ops); e != nil {
			return e
		}
		k.applyTraceFilter()
		if e := k.RegisterFtraceFunction(&ts.ops); e != nil {
			return e
		}
	}
	return err
}

// matchRecords is match_records for one word of a filter write.
func (k *Kernel) matchRecords(hash map[uint64]bool, word string) error {
	remove := strings.HasPrefix(word, "!")
	if remove {
		word = word[1:]
	}
	glob := strings.ContainsAny(word, "*?[")
	if glob {
		if _, err := path.Match(word, ""); err != nil {
			return errno.EINVAL
		}
	}
	found := 0
	for _, r := range k.ftrace.recs {
		name := r.fn
		if name == "" {
			continue
		}
		ok := name == word
		if glob {
			ok, _ = path.Match(word, name)
		}
		if !ok {
			continue
		}
		found++
		if remove {
			delete(hash, r.ip)
		} else {
			hash[r.ip] = true
		}
	}
	if found == 0 {
		return errno.EINVAL
	}
	return nil
}

// applyTraceFilter copies set_ftrace_filter into the (unregistered)
// tracer ops.
func (k *Kernel) applyTraceFilter() {
	ts := &k.tracing
	ts.ops.filter = nil
	for ip := range ts.filter {
		if ts.ops.filter == nil {
			ts.ops.filter = map[uint64]bool{}
		}
		ts.ops.filter[ip] = true
	}
}

// FileAppender is implemented by a VFS caller context whose write is a
// shell `>>`: open(2) with O_APPEND instead of O_TRUNC. The VFS hands a
// write callback only the data, so set_ftrace_filter learns the open mode
// from the context; a context without it truncates, like `>`.
type FileAppender interface{ Appending() bool }

func appending(ctx any) bool {
	a, ok := ctx.(FileAppender)
	return ok && a.Appending()
}

// initTraceFS creates /sys/kernel/debug/tracing and its files.
func (k *Kernel) initTraceFS() error {
	const dir = "/sys/kernel/debug/tracing"
	if _, err := k.FS.MkdirAll(dir, traceDirMode); err != nil {
		return fmt.Errorf("kernel: %s: %w", dir, err)
	}
	files := []struct {
		name string
		mode fs.FileMode
		ops  vfs.Ops
	}{
		{"available_tracers", traceModeRead, vfs.Attr(func(any) (string, error) {
			return strings.Join(AvailableTracers(), " ") + "\n", nil
		}, nil)},
		{"current_tracer", traceModeWrite, vfs.Attr(
			func(any) (string, error) { return k.tracing.tracer + "\n", nil },
			func(_ any, buf string) error { return k.TracingSetTracer(strings.TrimSpace(buf)) })},
		{"tracing_on", traceModeWrite, vfs.Attr(
			func(any) (string, error) { return strconv.Itoa(b2i(k.TracingOn())) + "\n", nil },
			func(_ any, buf string) error {
				v, err := strconv.ParseUint(strings.TrimSuffix(buf, "\n"), 10, 64) // kstrtoul_from_user
				if err != nil {
					return errno.EINVAL
				}
				k.SetTracingOn(v != 0)
				return nil
			})},
		{"trace", traceModeWrite, vfs.Ops{
			Read: func(any) ([]byte, error) { return []byte(k.ReadTrace()), nil },
			// Opening with O_TRUNC clears; the write itself is
			// tracing_write_stub. The VFS shows only the write.
			Write: func(_ any, data []byte) (int, error) { k.TraceClear(); return len(data), nil }}},
		{"set_ftrace_filter", traceModeWrite, vfs.Ops{
			Read: func(any) ([]byte, error) {
				ips := k.FtraceFilter()
				if len(ips) == 0 {
					return []byte("#### all functions enabled ####\n"), nil
				}
				var b strings.Builder
				for _, ip := range ips {
					b.WriteString(k.Syms.Name(ip)) // %ps: "name [mod]" for modules
					b.WriteByte('\n')
				}
				return []byte(b.String()), nil
			},
			Write: func(ctx any, data []byte) (int, error) {
				if err := k.FtraceRegexWrite(string(data), appending(ctx)); err != nil {
					return 0, err
				}
				return len(data), nil
			}}},
		{"available_filter_functions", traceModeRead, vfs.SeqFile(func(_ any, m *vfs.Seq) error {
			for _, r := range k.ftrace.recs {
				m.Puts(k.Syms.Name(r.ip))
				m.Putc('\n')
			}
			return nil
		})},
	}
	for _, f := range files {
		if _, err := k.FS.AddFile(dir+"/"+f.name, f.mode, f.ops); err != nil {
			return fmt.Errorf("kernel: %s/%s: %w", dir, f.name, err)
		}
	}
	return nil
}
