package gdbstub

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"klpsim/emu"
	"klpsim/kernel"
	"klpsim/scenarios/debug"
)

// DefaultAddr is where the stub listens when no address is given, as
// QEMU's -s.
const DefaultAddr = "127.0.0.1:1234"

// idleTID is the thread id of CPU 0's idle task; CPU n's is idleTID+n.
// Every idle task has pid 0, and gdb's thread ids must be unique and
// positive; every other task's thread id is its pid.
const idleTID = 0x40000000

// Server serves one Session to gdb clients, one at a time.
type Server struct {
	SS *debug.Session
	// Out receives the scenario's output as the machine runs (the text
	// `klpsim run` prints).
	Out io.Writer
	// Log receives the stub's own messages: connections, detach, and
	// the add-symbol-file line of each module that appears.
	Log io.Writer
	// SymbolDir, when set, is where the stub writes symbol files for
	// gdb: vmlinux, and each loaded module's with its add-symbol-file
	// line (symbols.go), announced on Log as the module appears.
	SymbolDir string

	c         *conn
	frames    chan frame
	gThread   int64 // Hg: the thread g/p/G/P read and write (0: any)
	cThread   int64 // Hc: the thread c/s resume (0 any, -1 all)
	bps       map[bpKey]int
	modsShown map[string]bool
	done      bool   // detached or killed: the Session is no longer gdb's
	exited    bool   // the W reply was sent
	shown     uint64 // bytes of the scenario's output written to Out
}

type bpKey struct {
	kind byte
	addr uint64
	n    uint64
}

// Listen opens ADDR for the stub: a missing host is loopback, so the
// machine is only reachable from another host when the user names a
// non-loopback address explicitly.
func Listen(addr string) (net.Listener, error) {
	if addr == "" {
		addr = DefaultAddr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		// A bare port ("1234") is loopback's.
		if _, perr := strconv.ParseUint(addr, 10, 16); perr == nil {
			host, port = "127.0.0.1", addr
		} else {
			return nil, fmt.Errorf("--gdb %q: expected HOST:PORT (default %s)", addr, DefaultAddr)
		}
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.Listen("tcp", net.JoinHostPort(host, port))
}

// Serve accepts gdb clients on l, one at a time, until one detaches or
// kills the machine (or the scenario ends and the client leaves). After
// a detach the machine runs to the end of the scenario, its output on
// Out. Serve closes l.
func (s *Server) Serve(l net.Listener) error {
	defer l.Close()
	if s.bps == nil {
		s.bps = map[bpKey]int{}
	}
	if s.modsShown == nil {
		s.modsShown = map[string]bool{}
		if s.SymbolDir != "" {
			if err := s.writeVmlinux(); err != nil {
				return err
			}
			s.logf("symbol files in %s: gdb %s -ex 'target remote %s'; after a module loads, source %s\n",
				s.SymbolDir, filepath.Join(s.SymbolDir, "vmlinux"), l.Addr(), filepath.Join(s.SymbolDir, lxScript))
		}
		s.newModules()
	}
	for !s.done {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		s.logf("gdb connected from %s\n", c.RemoteAddr())
		s.serveConn(c)
		c.Close()
		if !s.done {
			if s.SS.Ended() {
				return nil
			}
			s.logf("gdb disconnected; waiting for gdb on %s\n", l.Addr())
		}
	}
	return nil
}

func (s *Server) logf(format string, args ...any) {
	if s.Log != nil {
		fmt.Fprintf(s.Log, format, args...)
	}
}

// serveConn serves one client until it goes, detaches or kills.
func (s *Server) serveConn(rw io.ReadWriter) {
	s.c = newConn(rw)
	s.frames = make(chan frame)
	s.gThread, s.cThread = 0, 0
	go func(c *conn, ch chan<- frame) {
		defer close(ch)
		for {
			f, err := c.readFrame()
			if err != nil {
				return
			}
			ch <- f
		}
	}(s.c, s.frames)
	defer func() {
		if cl, ok := rw.(io.Closer); ok {
			cl.Close() // the reader ends with the connection
		}
		for range s.frames {
		}
	}()
	var pending []frame
	for !s.done {
		var f frame
		if len(pending) > 0 {
			f, pending = pending[0], pending[1:]
		} else {
			var ok bool
			if f, ok = <-s.frames; !ok {
				return
			}
		}
		if f.interrupt {
			// Ctrl-C while stopped: say where it is stopped.
			if err := s.c.writePacket([]byte(s.stopReply())); err != nil {
				return
			}
			continue
		}
		reply, more, quit := s.handle(f.payload)
		pending = append(pending, more...)
		if reply != nil {
			if err := s.c.writePacket(reply); err != nil {
				return
			}
		}
		if string(f.payload) == "QStartNoAckMode" {
			s.c.noAck.Store(true)
		}
		if quit {
			return
		}
	}
}

// handle answers one packet: the reply (nil: none), packets that came
// while the machine ran, and whether the connection ends.
func (s *Server) handle(p []byte) (reply []byte, more []frame, quit bool) {
	defer func() {
		if r := recover(); r != nil {
			reply, quit = []byte("E01"), false // a bug answers an error, never the host's end
		}
	}()
	ok := []byte("OK")
	if len(p) == 0 {
		return []byte{}, nil, false
	}
	str := string(p)
	switch {
	case strings.HasPrefix(str, "qSupported"):
		return []byte(fmt.Sprintf("PacketSize=%x;qXfer:features:read+;QStartNoAckMode+;swbreak+;hwbreak+;ReverseContinue+;ReverseStep+;vContSupported+", MaxPacket)), nil, false
	case str == "QStartNoAckMode":
		return ok, nil, false
	case strings.HasPrefix(str, "qXfer:features:read:"):
		return s.xferFeatures(str[len("qXfer:features:read:"):]), nil, false
	case str == "?":
		return []byte(s.stopReply()), nil, false
	case str == "qAttached":
		return []byte("1"), nil, false
	case str == "qC":
		if t := s.current(); t != nil {
			return []byte(fmt.Sprintf("QC%x", tidOf(t))), nil, false
		}
		return []byte{}, nil, false
	case str == "qfThreadInfo":
		var b []byte
		for _, t := range s.tasks() {
			if b == nil {
				b = append(b, 'm')
			} else {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, tidOf(t), 16)
		}
		if b == nil {
			return []byte("l"), nil, false
		}
		return b, nil, false
	case str == "qsThreadInfo":
		return []byte("l"), nil, false
	case strings.HasPrefix(str, "qThreadExtraInfo,"):
		t := s.task(str[len("qThreadExtraInfo,"):])
		if t == nil {
			return []byte("E01"), nil, false
		}
		return appendHex(nil, []byte(extraInfo(t))), nil, false
	case str[0] == 'T':
		if s.task(str[1:]) == nil {
			return []byte("E01"), nil, false
		}
		return ok, nil, false
	case str[0] == 'H' && len(str) > 1:
		id, err := parseTID(str[2:])
		if err != nil {
			return []byte("E01"), nil, false
		}
		if id > 0 {
			t := s.task(str[2:])
			if t == nil {
				return []byte("E01"), nil, false
			}
			if str[1] == 'g' {
				_ = s.SS.SelectTask(t) // gdb's `thread N`: monitor commands follow it
			}
		}
		switch str[1] {
		case 'g':
			s.gThread = id
		case 'c':
			s.cThread = id
		default:
			return []byte("E01"), nil, false
		}
		return ok, nil, false
	case str == "g":
		return s.readRegs(), nil, false
	case str[0] == 'G':
		return s.writeRegs(p[1:]), nil, false
	case str[0] == 'p':
		return s.readReg(str[1:]), nil, false
	case str[0] == 'P':
		return s.writeReg(str[1:]), nil, false
	case str[0] == 'm':
		return s.readMem(str[1:]), nil, false
	case str[0] == 'M':
		return s.writeMem(p[1:], false), nil, false
	case str[0] == 'X':
		return s.writeMem(p[1:], true), nil, false
	case str[0] == 'Z' || str[0] == 'z':
		return s.breakpoint(str), nil, false
	case str == "vCont?":
		return []byte("vCont;c;C;s;S"), nil, false
	case strings.HasPrefix(str, "vCont;"):
		return s.vCont(str[len("vCont;"):])
	case str[0] == 'c' || str[0] == 'C':
		return s.resume("continue", s.cThread)
	case str[0] == 's' || str[0] == 'S':
		return s.resume("stepi", s.cThread)
	case str == "bc":
		return s.resume("reverse-continue", s.cThread)
	case str == "bs":
		return s.resume("reverse-stepi", s.cThread)
	case str[0] == 'D':
		s.detach()
		return ok, nil, true
	case str == "k" || strings.HasPrefix(str, "vKill"):
		s.SS.Kill()
		s.done = true
		s.logf("gdb killed the machine\n")
		if str == "k" {
			return nil, nil, true
		}
		return ok, nil, true
	case strings.HasPrefix(str, "qRcmd,"):
		return s.monitor(str[len("qRcmd,"):]), nil, false
	case str == "qSymbol::":
		return ok, nil, false
	}
	// Everything else — vFile, qXfer we do not offer, tracepoints,
	// vRun/vAttach — is not supported: the empty reply.
	return []byte{}, nil, false
}

// tasks are the live guest tasks: gdb's threads.
func (s *Server) tasks() []*kernel.Task {
	if s.SS.Ended() || s.SS.Target().K == nil {
		return nil
	}
	var out []*kernel.Task
	k := s.SS.Target().K
	for _, t := range append(k.Tasks(), k.IdleTasks()...) {
		if t.State != kernel.TaskDead && (t.PID != 0 || t.IsIdle()) {
			out = append(out, t)
		}
	}
	return out
}

func tidOf(t *kernel.Task) int64 {
	if t.IsIdle() {
		return idleTID + int64(t.CPU())
	}
	return int64(t.PID)
}

// parseTID reads a thread id: hex, or -1 (all).
func parseTID(s string) (int64, error) {
	if s == "-1" {
		return -1, nil
	}
	if strings.HasPrefix(s, "p") { // multiprocess form, pPID.TID: the TID
		if i := strings.IndexByte(s, '.'); i >= 0 {
			s = s[i+1:]
		}
	}
	v, err := strconv.ParseUint(s, 16, 63)
	return int64(v), err
}

// task is the task thread id s names; 0 and -1 are the current one.
func (s *Server) task(id string) *kernel.Task {
	tid, err := parseTID(id)
	if err != nil {
		return nil
	}
	return s.taskByTID(tid)
}

func (s *Server) taskByTID(tid int64) *kernel.Task {
	if tid <= 0 {
		return s.current()
	}
	for _, t := range s.tasks() {
		if tidOf(t) == tid {
			return t
		}
	}
	return nil
}

// current is the Session's selected task, or CPU 0's.
func (s *Server) current() *kernel.Task {
	if s.SS.Ended() {
		return nil
	}
	t := s.SS.Target()
	if t.Task != nil && t.Task.State != kernel.TaskDead {
		return t.Task
	}
	if t.K == nil {
		return nil
	}
	return t.K.CurrentOn(0)
}

// extraInfo is what info threads shows beside a thread.
func extraInfo(t *kernel.Task) string {
	c, name := kernel.StateChar(t)
	ps := "idle"
	switch t.PatchState {
	case kernel.PatchUnpatched:
		ps = "unpatched"
	case kernel.PatchPatched:
		ps = "patched"
	}
	where := "off cpu"
	if t.Running() {
		where = fmt.Sprintf("on cpu %d", t.CPU())
	}
	return fmt.Sprintf("%s pid %d, %c (%s), patch_state %d %s, %s", t.Comm, t.PID, c, name, t.PatchState, ps, where)
}

func (s *Server) xferFeatures(arg string) []byte {
	annex, rng, found := strings.Cut(arg, ":")
	if !found || annex != "target.xml" {
		return []byte("E00")
	}
	offS, lenS, found := strings.Cut(rng, ",")
	off, err1 := strconv.ParseUint(offS, 16, 32)
	n, err2 := strconv.ParseUint(lenS, 16, 32)
	if !found || err1 != nil || err2 != nil {
		return []byte("E00")
	}
	if off >= uint64(len(targetXML)) {
		return []byte("l")
	}
	end := min(uint64(len(targetXML)), off+min(n, MaxPacket/2))
	kind := byte('m')
	if end == uint64(len(targetXML)) {
		kind = 'l'
	}
	return append([]byte{kind}, targetXML[off:end]...)
}

// stopReply is the stop packet of where the Session is: T05 (SIGTRAP) or
// T02 (SIGINT, an interrupt), with the thread and a breakpoint's or
// watchpoint's reason; W when the scenario has ended.
func (s *Server) stopReply() string {
	p := s.SS.Position()
	if p.Kind == debug.AtEnd || s.SS.Ended() {
		s.exited = true
		code := 0
		if p.Res == nil || p.Res.Failed {
			code = 1
		}
		return fmt.Sprintf("W%02x", code)
	}
	sig := 5
	if strings.Contains(p.Why, "interrupted") {
		sig = 2
	}
	r := fmt.Sprintf("T%02x", sig)
	if t := s.current(); t != nil {
		r += fmt.Sprintf("thread:%x;", tidOf(t))
		// gdb takes the thread of a stop for its general thread (g, p)
		// without an Hg.
		s.gThread = tidOf(t)
	}
	if p.Kind == debug.AtMachine {
		switch {
		case p.Stop.Reason&kernel.StopWatch != 0:
			r += fmt.Sprintf("%s:%x;", s.watchWord(p.BPs), p.Stop.WatchAddr)
		case p.Stop.Reason&kernel.StopBreak != 0 && s.gdbBreakpoint(p.BPs):
			r += "swbreak:;"
		}
	}
	return r
}

// watchWord is the stop reply's reason for a watchpoint stop: watch,
// rwatch or awatch, as gdb's Z2, Z3 or Z4 that stopped it was.
func (s *Server) watchWord(nums []int) string {
	for _, n := range nums {
		for k, m := range s.bps {
			if m != n {
				continue
			}
			switch k.kind {
			case '3':
				return "rwatch"
			case '4':
				return "awatch"
			}
		}
	}
	return "watch"
}

// gdbBreakpoint reports whether one of the Session breakpoints nums is
// one of gdb's (not the stub's own, as a step's).
func (s *Server) gdbBreakpoint(nums []int) bool {
	for _, n := range nums {
		for _, m := range s.bps {
			if m == n {
				return true
			}
		}
	}
	return false
}

// regsOf is the register file of the g thread.
func (s *Server) regsOf() (kernel.Regs, *kernel.Task, bool) {
	t := s.taskByTID(s.gThread)
	if t == nil {
		return kernel.Regs{}, nil, false
	}
	r, _ := s.SS.Target().K.TaskRegs(t)
	return r, t, true
}

func (s *Server) readRegs() []byte {
	r, _, ok := s.regsOf()
	if !ok {
		return []byte("E01")
	}
	var b []byte
	for _, g := range regs {
		b = appendRegHex(b, g, r)
	}
	return b
}

func (s *Server) readReg(arg string) []byte {
	n, err := strconv.ParseUint(arg, 16, 16)
	r, _, ok := s.regsOf()
	if err != nil || !ok || n >= uint64(len(regs)) {
		return []byte("E01")
	}
	return appendRegHex(nil, regs[n], r)
}

// setReg writes register n of the g thread: the general-purpose
// registers of a task on a CPU. A sleeping task's saved context and the
// other registers are read-only (E01).
func (s *Server) setReg(n int, v []byte) bool {
	r, t, ok := s.regsOf()
	if !ok || n >= len(regs) || len(v) != regs[n].size || (regs[n].gpr < 0 && regs[n].name != "rip") {
		return false
	}
	val := binary.LittleEndian.Uint64(v[:8])
	if regs[n].value(r) == val {
		return true
	}
	// A sleeping task's registers are its saved context: writing them
	// changes what it resumes with.
	if regs[n].gpr >= 0 {
		s.SS.Debugger().SetTaskReg(t, emu.Reg(regs[n].gpr), val)
	} else {
		s.SS.Debugger().SetTaskRIP(t, val)
	}
	return true
}

func (s *Server) writeReg(arg string) []byte {
	ns, vs, found := strings.Cut(arg, "=")
	n, err := strconv.ParseUint(ns, 16, 16)
	v, herr := decodeHex([]byte(vs))
	if !found || err != nil || herr != nil || n >= uint64(len(regs)) || !s.setReg(int(n), v) {
		return []byte("E01")
	}
	return []byte("OK")
}

// writeRegs is G: every register; those that cannot change must keep
// their value.
func (s *Server) writeRegs(hexs []byte) []byte {
	v, err := decodeHex(hexs)
	r, _, ok := s.regsOf()
	if err != nil || !ok {
		return []byte("E01")
	}
	var cur []byte
	for _, g := range regs {
		cur = appendRegHex(cur, g, r)
	}
	if len(v)*2 != len(cur) {
		return []byte("E01")
	}
	off := 0
	for i, g := range regs {
		want := v[off : off+g.size]
		if !bytes.Equal(appendHex(nil, want), cur[2*off:2*(off+g.size)]) && !s.setReg(i, want) {
			return []byte("E01")
		}
		off += g.size
	}
	return []byte("OK")
}

// parseAddrLen reads "ADDR,LEN".
func parseAddrLen(s string) (uint64, uint64, error) {
	as, ls, found := strings.Cut(s, ",")
	a, err1 := strconv.ParseUint(as, 16, 64)
	n, err2 := strconv.ParseUint(ls, 16, 64)
	if !found || err1 != nil || err2 != nil {
		return 0, 0, errors.New("bad address,length")
	}
	return a, n, nil
}

func (s *Server) readMem(arg string) []byte {
	a, n, err := parseAddrLen(arg)
	if err != nil || s.SS.Ended() {
		return []byte("E01")
	}
	n = min(n, (MaxPacket-4)/2)
	buf := make([]byte, n)
	mem := s.SS.Target().K.Memory()
	if mem.Read(a, buf) != nil {
		// The readable prefix (a read that crosses into an unmapped page).
		got := 0
		for got < len(buf) && mem.Read(a+uint64(got), buf[got:got+1]) == nil {
			got++
		}
		if got == 0 {
			return []byte("E14") // EFAULT
		}
		buf = buf[:got]
	}
	return appendHex(nil, buf)
}

// writeMem is M (hex data) or X (binary data): a host write, as a text
// poke is, so decoded code is dropped and the next run decodes the bytes.
func (s *Server) writeMem(arg []byte, binaryData bool) []byte {
	head, data, found := bytes.Cut(arg, []byte(":"))
	a, n, err := parseAddrLen(string(head))
	if !found || err != nil || s.SS.Ended() {
		return []byte("E01")
	}
	var b []byte
	if binaryData {
		b, err = unescape(data)
	} else {
		b, err = decodeHex(data)
	}
	if err != nil || uint64(len(b)) != n {
		return []byte("E01")
	}
	if n == 0 {
		return []byte("OK")
	}
	if s.SS.Target().K.Memory().Write(a, b) != nil {
		return []byte("E14")
	}
	return []byte("OK")
}

// breakpoint is Z/z: 0 and 1 (software and hardware breakpoints, both the
// emulator's breakpoint bit, so a text poke of the site keeps them), 2, 3
// and 4 (write, read and access watchpoints: the emulator's watches of
// guest stores and loads).
func (s *Server) breakpoint(str string) []byte {
	parts := strings.Split(str[1:], ",")
	if len(parts) < 3 || len(parts[0]) != 1 {
		return []byte("E01")
	}
	kind := parts[0][0]
	addr, err1 := strconv.ParseUint(parts[1], 16, 64)
	n, err2 := strconv.ParseUint(strings.SplitN(parts[2], ";", 2)[0], 16, 64)
	if err1 != nil || err2 != nil {
		return []byte("E01")
	}
	if kind == '1' {
		kind = '0'
	}
	if kind == '0' {
		n = 0 // a breakpoint's kind (its length) is not part of its identity
	}
	key := bpKey{kind, addr, n}
	switch kind {
	case '0', '2', '3', '4':
	default:
		return []byte{}
	}
	if str[0] == 'z' {
		if num, ok := s.bps[key]; ok {
			s.SS.DeleteBreakpoint(num)
			delete(s.bps, key)
		}
		return []byte("OK")
	}
	if _, ok := s.bps[key]; ok {
		return []byte("OK")
	}
	var num int
	var err error
	if kind == '0' {
		num, err = s.SS.BreakAt(addr)
	} else {
		num, err = s.SS.WatchAt(addr, n, map[byte]debug.WatchAccess{'2': debug.WatchWrite, '3': debug.WatchRead, '4': debug.WatchBoth}[kind])
	}
	if err != nil {
		return []byte("E01")
	}
	s.bps[key] = num
	return []byte("OK")
}

// vCont runs the machine for "ACTION[:TID];...": a step of one thread
// (gdb's stepi sends "s:TID;c") steps that task's CPU, the others
// running as they would; otherwise a continue.
func (s *Server) vCont(arg string) ([]byte, []frame, bool) {
	cmd, tid := "", int64(0)
	for _, a := range strings.Split(arg, ";") {
		act, th, _ := strings.Cut(a, ":")
		if act == "" {
			return []byte("E01"), nil, false
		}
		switch act[0] {
		case 's', 'S':
			if cmd != "stepi" {
				cmd, tid = "stepi", 0
				if th != "" {
					id, err := parseTID(th)
					if err != nil {
						return []byte("E01"), nil, false
					}
					tid = id
				}
			}
		case 'c', 'C':
			if cmd == "" {
				cmd = "continue"
			}
		default:
			return []byte{}, nil, false
		}
	}
	return s.resume(cmd, tid)
}

// resume runs a Session command that runs the machine, for thread tid
// (0 or -1: the selected one), and answers with the stop. While it runs,
// a Ctrl-C from gdb interrupts it; packets that arrive are kept for
// after.
func (s *Server) resume(cmd string, tid int64) ([]byte, []frame, bool) {
	if s.SS.Ended() {
		return []byte(s.stopReply()), nil, false
	}
	if tid > 0 {
		if t := s.taskByTID(tid); t != nil {
			_ = s.SS.SelectTask(t)
		}
	}
	var more []frame
	var wg sync.WaitGroup
	stop := make(chan struct{})
	lost := false
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case f, ok := <-s.frames:
				if !ok {
					lost = true
					s.SS.Interrupt()
					return
				}
				if f.interrupt {
					s.SS.Interrupt()
				} else {
					more = append(more, f)
				}
			case <-stop:
				return
			}
		}
	}()
	var a debug.Answer
	var err error
	if cmd == "reverse-continue" {
		a, err = s.SS.ReverseContinueToBreak()
	} else {
		a, err = s.SS.Exec(cmd)
	}
	close(stop)
	wg.Wait()
	s.emit(a)
	if lost {
		return nil, nil, true
	}
	s.newModules()
	if cmd == "reverse-continue" && err == nil && s.SS.Position().Kind == debug.AtLine {
		// Scenario lines are no stops of gdb's: this is the start.
		err = errors.New("the start of the history")
	}
	if err != nil && strings.HasPrefix(cmd, "reverse") {
		// The start of the history: gdb says "No more reverse-execution
		// history."
		r := "T05"
		if t := s.current(); t != nil {
			r += fmt.Sprintf("thread:%x;", tidOf(t))
			s.gThread = tidOf(t)
		}
		return []byte(r + "replaylog:begin;"), more, false
	}
	return []byte(s.stopReply()), more, false
}

// emit writes the scenario's output in a's data to Out, each byte of
// the history once: after gdb went back (bc, bs) the run forward again
// writes what Out has already shown, up to the point it had reached.
func (s *Server) emit(a debug.Answer) {
	var o string
	if d, ok := a.Data.(map[string]any); ok {
		o, _ = d["output"].(string)
	}
	o += s.SS.TakeOutput()
	end := s.SS.OutputOffset() // o is the history's bytes up to here
	if end <= s.shown {
		return
	}
	if n := end - s.shown; n < uint64(len(o)) {
		o = o[uint64(len(o))-n:]
	}
	s.shown = end
	if s.Out != nil {
		io.WriteString(s.Out, o)
	}
}

// detach is D: gdb's breakpoints go, and the machine runs to the end of
// the scenario as it would have without gdb.
func (s *Server) detach() {
	s.done = true
	s.logf("gdb detached; the machine runs to the end\n")
	for k, n := range s.bps {
		s.SS.DeleteBreakpoint(n)
		delete(s.bps, k)
	}
	for !s.SS.Ended() {
		a, err := s.SS.Exec("continue")
		s.emit(a)
		if err != nil {
			break
		}
	}
}

// newModules logs the add-symbol-file line of each module loaded (and
// each ftrace trampoline allocated) since the last call (lx-symbols'
// way), when SymbolDir is set.
func (s *Server) newModules() {
	if s.SymbolDir == "" || s.SS.Ended() {
		return
	}
	lines, err := s.lxSymbols()
	if err != nil {
		s.logf("lx-symbols: %v\n", err)
		return
	}
	now := map[string]bool{}
	for _, l := range lines {
		now[l] = true
		if !s.modsShown[l] {
			s.modsShown[l] = true
			s.logf("%s\n", l)
		}
	}
	// What went (a module unloaded, a trampoline freed) is announced
	// again if it comes back.
	for l := range s.modsShown {
		if !now[l] {
			delete(s.modsShown, l)
		}
	}
}

// monitorCommands are the `monitor` words and the Session commands they
// run; all of them only read the machine.
var monitorCommands = map[string]string{
	"why": "why", "tasks": "info tasks", "patches": "info patches", "dmesg": "dmesg",
	"ftrace": "info ftrace", "bt": "backtrace", "backtrace": "backtrace",
}

// monitor is qRcmd: the kernel view through the debugger's inspectors,
// sent as console output ("O" packets) before the final OK.
func (s *Server) monitor(hexCmd string) []byte {
	raw, err := decodeHex([]byte(hexCmd))
	if err != nil {
		return []byte("E01")
	}
	words := strings.Fields(string(raw))
	var text string
	switch {
	case len(words) == 0 || words[0] == "help":
		text = "monitor commands: why, tasks, patches, dmesg, ftrace [SYMBOL], bt [PID], lx-symbols\n"
	case words[0] == "lx-symbols":
		lines, err := s.lxSymbols()
		if err != nil {
			text = "lx-symbols: " + err.Error() + "\n"
			break
		}
		text = strings.Join(lines, "\n") + "\n"
	default:
		cmd, ok := monitorCommands[words[0]]
		if !ok {
			text = fmt.Sprintf("unknown monitor command %q; \"monitor help\" lists them\n", words[0])
			break
		}
		a, err := s.SS.Exec(strings.Join(append([]string{cmd}, words[1:]...), " "))
		text = a.Text
		if err != nil {
			text += err.Error() + "\n"
		}
	}
	const chunk = (MaxPacket - 8) / 2
	for len(text) > 0 {
		n := min(len(text), chunk)
		if err := s.c.writePacket(appendHex([]byte{'O'}, []byte(text[:n]))); err != nil {
			return nil
		}
		text = text[n:]
	}
	return []byte("OK")
}
