package timeline

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
)

// The Chrome Trace Event format (the JSON object form), which Perfetto and
// chrome://tracing open. Tracks:
//
//   - process "CPUs" (pid cpuPID): a thread per CPU with a slice per task
//     run (idle time is a gap), as a scheduler view shows;
//   - a process per task group (a task's parent: "kthreadd" holds the
//     kernel threads, a shell its children; pid 0 "idle" the idle tasks),
//     a thread per task with its states as slices and its livepatch events
//     as instant events;
//   - process "livepatch" (pid lpPID): the transitions, patch states,
//     modules, callbacks and the scenario's commands as instant events,
//     and the counter "tasks to switch".
//
// Timestamps are the simulated clock in microseconds with three decimals:
// nanoseconds survive.

const (
	cpuPID  = 1 << 30
	lpPID   = 1<<30 + 1
	idleTID = 1 << 29 // idle task of CPU n: idleTID+n
)

// usec is a time in ns written as microseconds.
type usec uint64

func (u usec) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatUint(uint64(u)/1000, 10) + "." + fmt.Sprintf("%03d", uint64(u)%1000)), nil
}

// TraceEvent is one event of the trace file.
type TraceEvent struct {
	Name string         `json:"name"`
	Ph   string         `json:"ph"`
	Ts   usec           `json:"ts"`
	Dur  *usec          `json:"dur,omitempty"`
	PID  int            `json:"pid"`
	TID  int            `json:"tid"`
	S    string         `json:"s,omitempty"`
	Cat  string         `json:"cat,omitempty"`
	Args map[string]any `json:"args,omitempty"`
}

// laneTID is the trace thread of a task lane.
func laneTID(lane int) int {
	if lane < 0 {
		return idleTID + (-1 - lane)
	}
	return lane
}

// WriteTrace writes events (one scenario's, in order) as a Chrome trace.
func WriteTrace(w io.Writer, events []Event) error {
	var out []TraceEvent
	meta := func(pid, tid int, kind, name string) {
		out = append(out, TraceEvent{Name: kind, Ph: "M", PID: pid, TID: tid, Args: map[string]any{"name": name}})
	}
	end := uint64(0)
	for _, e := range events {
		end = max(end, e.TimeNS)
	}
	meta(cpuPID, 0, "process_name", "CPUs")
	meta(lpPID, 0, "process_name", "livepatch")
	meta(lpPID, 0, "thread_name", "transitions")
	meta(lpPID, 1, "thread_name", "scenario")
	out = append(out, TraceEvent{Name: "process_sort_index", Ph: "M", PID: cpuPID, Args: map[string]any{"sort_index": -2}})
	out = append(out, TraceEvent{Name: "process_sort_index", Ph: "M", PID: lpPID, Args: map[string]any{"sort_index": -1}})

	type open struct {
		since uint64
		state string
		name  string
	}
	cpus := map[int]*open{}   // what runs on each CPU, and since when
	lanes := map[int]*open{}  // each task's state
	group := map[int]int{}    // lane -> process id
	named := map[int]string{} // lane -> name given
	groups := map[int]bool{}
	cpuSeen := map[int]bool{}
	slice := func(pid, tid int, name string, from, to uint64, args map[string]any) {
		d := usec(to - from)
		out = append(out, TraceEvent{Name: name, Ph: "X", Ts: usec(from), Dur: &d, PID: pid, TID: tid, Cat: "sched", Args: args})
	}
	closeCPU := func(cpu int, at uint64) {
		if o := cpus[cpu]; o != nil {
			slice(cpuPID, cpu, o.name, o.since, at, map[string]any{"pid": o.state})
			delete(cpus, cpu)
		}
	}
	taskPID := func(lane int) int {
		if g, ok := group[lane]; ok {
			return g
		}
		return lane
	}
	for _, e := range events {
		lane, isTask := e.Lane()
		if e.Kind == KindSched {
			cpu := *e.CPU
			if !cpuSeen[cpu] {
				cpuSeen[cpu] = true
				meta(cpuPID, cpu, "thread_name", fmt.Sprintf("CPU %d", cpu))
			}
			if _, ok := group[lane]; !ok {
				g := e.PPID
				if lane < 0 {
					g = 0
				} else if g == 0 {
					g = lane
				}
				group[lane] = g
			}
			if named[lane] != e.Task {
				named[lane] = e.Task
				meta(taskPID(lane), laneTID(lane), "thread_name", fmt.Sprintf("%s %d", e.Task, e.PID))
			}
			if g := taskPID(lane); !groups[g] {
				groups[g] = true
				name := "idle"
				if g != 0 {
					name = fmt.Sprintf("group of pid %d", g)
				}
				meta(g, 0, "process_name", name)
			}
			if o := lanes[lane]; o != nil {
				slice(taskPID(lane), laneTID(lane), o.state, o.since, e.TimeNS, nil)
			}
			lanes[lane] = &open{since: e.TimeNS, state: e.State}
			if e.State == "dead" {
				delete(lanes, lane)
			}
			if e.State == "running" {
				closeCPU(cpu, e.TimeNS)
				if lane >= 0 {
					cpus[cpu] = &open{since: e.TimeNS, name: e.Task, state: strconv.Itoa(e.PID)}
				}
			} else if o := cpus[cpu]; o != nil && o.state == strconv.Itoa(e.PID) && lane >= 0 {
				closeCPU(cpu, e.TimeNS)
			}
			continue
		}
		args := eventArgs(&e)
		name := e.Kind
		switch {
		case e.Kind == KindCommand:
			name = e.Text
		case e.How != "":
			name += " (" + e.How + ")"
		case e.Why != "":
			name += " (" + e.Why + ")"
		}
		if _, known := group[lane]; isTask && known {
			out = append(out, TraceEvent{Name: name, Ph: "i", S: "t", Ts: usec(e.TimeNS), PID: taskPID(lane), TID: laneTID(lane), Cat: "livepatch", Args: args})
		} else {
			tid := 0
			if e.Kind == KindCommand || e.Kind == KindTest || e.Kind == KindResult || e.Kind == KindFailed {
				tid = 1
			}
			out = append(out, TraceEvent{Name: name, Ph: "i", S: "p", Ts: usec(e.TimeNS), PID: lpPID, TID: tid, Cat: "livepatch", Args: args})
		}
		if e.Pending != nil {
			out = append(out, TraceEvent{Name: "tasks to switch", Ph: "C", Ts: usec(e.TimeNS), PID: lpPID, Args: map[string]any{"tasks": *e.Pending}})
		}
	}
	for _, cpu := range sortedKeys(cpus) {
		closeCPU(cpu, end)
	}
	for _, lane := range sortedKeys(lanes) {
		o := lanes[lane]
		slice(taskPID(lane), laneTID(lane), o.state, o.since, end, nil)
	}
	bw := bufio.NewWriter(w)
	bw.WriteString(`{"displayTimeUnit":"ns","traceEvents":[`)
	for i := range out {
		if i > 0 {
			bw.WriteString(",")
		}
		bw.WriteString("\n")
		b, err := json.Marshal(&out[i])
		if err != nil {
			return err
		}
		bw.Write(b)
	}
	bw.WriteString("\n]}\n")
	return bw.Flush()
}

// eventArgs is the event as the trace's args: its --json fields.
func eventArgs(e *Event) map[string]any {
	b, _ := json.Marshal(e)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	delete(m, "version")
	delete(m, "scenario")
	return m
}

func sortedKeys[V any](m map[int]V) []int {
	ks := make([]int, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	return ks
}
