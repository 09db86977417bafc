package kernel

import (
	"fmt"

	"klpsim/isa"
)

// Workqueues (kernel/workqueue.c), the part guest code sees: work items
// are struct work_struct in guest memory; schedule_work queues one on the
// calling CPU's pool, whose kworkers run them in process_one_work;
// flush_work sleeps until it has run. The host keeps the queues.
//
// Like Linux's concurrency-managed pools, a pool whose workers are all busy
// (one may be sleeping inside a work function for a long time) starts
// another worker for new items, so that one slow item does not hold up the
// rest — the livepatch transition retry among them.

// maxWorkersPerPool bounds the kworkers one pool starts.
const maxWorkersPerPool = 16

type workPool struct {
	cpu     *CPU
	workers []*Task  // kworker/N:M, in creation order
	idle    []*Task  // workers asleep in worker_thread, waiting for work
	pending []uint64 // queued work_structs, in order
}

// wakeWorker gives pending work a worker: an idle one, or a new one when
// every worker is busy (maybe_create_worker).
func (k *Kernel) wakeWorker(p *workPool) {
	if n := len(p.idle); n > 0 {
		w := p.idle[0]
		p.idle = p.idle[1:]
		k.wakeUp(w, TaskRunning)
		return
	}
	if len(p.workers) >= maxWorkersPerPool {
		return // the items wait for a worker to finish
	}
	w, err := k.createKthread(fmt.Sprintf("kworker/%d:%d", p.cpu.ID, len(p.workers)), k.sym("worker_thread"), 0, p.cpu)
	if err != nil {
		return // at the task limit: the items wait, as in Linux under pressure
	}
	w.Flags |= PFNoSetaffinity // bound to its pool's CPU
	p.workers = append(p.workers, w)
}

type workqueue struct {
	pools    []*workPool
	state    map[uint64]workState // by work_struct address
	flushers map[uint64][]*Task   // tasks in flush_work, by work
	delayed  map[uint64]*timer    // armed delayed_work timers, by work
}

type workState uint8

const (
	workIdle     workState = iota
	workPending            // queued, not started (WORK_STRUCT_PENDING)
	workRunning            // a kworker is in its function
	workRequeued           // running, and queued again
)

// initWorkqueues starts one kworker per CPU: kworker/N:0.
func (k *Kernel) initWorkqueues() error {
	k.workq = workqueue{state: map[uint64]workState{}, flushers: map[uint64][]*Task{}, delayed: map[uint64]*timer{}}
	for _, c := range k.cpus {
		p := &workPool{cpu: c}
		w, err := k.createKthread(fmt.Sprintf("kworker/%d:0", c.ID), k.sym("worker_thread"), 0, c)
		if err != nil {
			return err
		}
		w.Flags |= PFNoSetaffinity
		p.workers = []*Task{w}
		k.workq.pools = append(k.workq.pools, p)
	}
	return nil
}

// queueWork is queue_work_on(cpu, system_wq, work): false if already pending.
func (k *Kernel) queueWork(c *CPU, work uint64) bool {
	wq := &k.workq
	switch wq.state[work] {
	case workPending, workRequeued:
		return false
	case workRunning:
		wq.state[work] = workRequeued
	default:
		wq.state[work] = workPending
	}
	p := wq.pools[c.ID]
	p.pending = append(p.pending, work)
	k.wakeWorker(p)
	return true
}

// queueDelayedWork is queue_delayed_work: the work is queued on c's pool
// after delay jiffies.
func (k *Kernel) queueDelayedWork(c *CPU, dwork, delay uint64) bool {
	wq := &k.workq
	// A running item may be queued again (its PENDING bit is clear while
	// its function runs): that is how a work function re-arms itself.
	if st := wq.state[dwork]; st == workPending || st == workRequeued || wq.delayed[dwork] != nil {
		return false
	}
	if delay == 0 {
		return k.queueWork(c, dwork)
	}
	wq.delayed[dwork] = k.AddTimer(k.now+k.jiffiesToNS(delay), func() {
		delete(wq.delayed, dwork)
		k.queueWork(c, dwork)
	})
	return true
}

// workerNext gives the kworker on c its next item, or 0 after setting it
// to sleep as an idle worker (worker_thread then calls schedule()).
func (k *Kernel) workerNext(c *CPU) uint64 {
	p := k.workq.pools[c.ID]
	w := c.curr
	if !containsTask(p.workers, w) {
		k.bug(c, "worker_thread run by a task that is not one of the pool's kworkers")
		return 0
	}
	for i, x := range p.pending {
		if k.workq.state[x] == workRequeued {
			continue // its running instance must finish first
		}
		p.pending = append(p.pending[:i:i], p.pending[i+1:]...)
		k.workq.state[x] = workRunning
		for j, y := range p.idle { // woken by someone else: busy now
			if y == w {
				p.idle = append(p.idle[:j:j], p.idle[j+1:]...)
				break
			}
		}
		return x
	}
	w.State = TaskInterruptible
	if !containsTask(p.idle, w) {
		p.idle = append(p.idle, w)
	}
	return 0
}

func containsTask(list []*Task, t *Task) bool {
	for _, x := range list {
		if x == t {
			return true
		}
	}
	return false
}

// workDone ends a work item's run and wakes its flushers.
func (k *Kernel) workDone(work uint64) {
	wq := &k.workq
	if wq.state[work] == workRequeued {
		wq.state[work] = workPending
		for _, p := range wq.pools {
			for _, x := range p.pending {
				if x == work {
					k.wakeWorker(p)
				}
			}
		}
		return
	}
	delete(wq.state, work)
	for _, t := range wq.flushers[work] {
		k.wakeUp(t, TaskRunning)
	}
	delete(wq.flushers, work)
}

// flushWork is one pass of flush_work's wait: 0 when work is idle, else it
// registers current as a waiter, sets it to sleep and returns 1.
func (k *Kernel) flushWork(c *CPU, work uint64) uint64 {
	wq := &k.workq
	if wq.state[work] == workIdle && wq.delayed[work] == nil {
		return 0
	}
	wq.flushers[work] = append(wq.flushers[work], c.curr)
	c.curr.State = TaskUninterruptible
	return 1
}

// Work is a work item the host queues whose function is Go code: a guest
// struct delayed_work whose func is host_work_fn, which runs the item's
// host operation on the kworker that picks it up. Livepatch's transition
// retry (klp_transition_work) is one.
type Work struct {
	addr uint64 // the guest struct delayed_work
}

// NewWork allocates a work item that runs f on a kworker when queued.
func (k *Kernel) NewWork(name string, f OpFunc) (*Work, error) {
	a, err := k.kmalloc(hostWorkSize)
	if err != nil {
		return nil, err
	}
	op := k.RegisterOp(name, f)
	if err := k.mem.WriteU64(a+workFunc, k.sym("host_work_fn")); err != nil {
		return nil, err
	}
	if err := k.mem.WriteU64(a+hostWorkOp, op); err != nil {
		return nil, err
	}
	return &Work{addr: a}, nil
}

// QueueDelayedWork is schedule_delayed_work(w, delay jiffies) on CPU 0's
// pool; false if it is already pending.
func (k *Kernel) QueueDelayedWork(w *Work, delay uint64) bool {
	return k.queueDelayedWork(k.cpus[0], w.addr, delay)
}

// CancelDelayedWork is cancel_delayed_work: a pending item is dropped
// (true); one that is running keeps running.
func (k *Kernel) CancelDelayedWork(w *Work) bool {
	wq := &k.workq
	if t := wq.delayed[w.addr]; t != nil {
		k.DelTimer(t)
		delete(wq.delayed, w.addr)
		return true
	}
	if wq.state[w.addr] != workPending {
		return false
	}
	for _, p := range wq.pools {
		for i, x := range p.pending {
			if x == w.addr {
				p.pending = append(p.pending[:i], p.pending[i+1:]...)
				delete(wq.state, w.addr)
				return true
			}
		}
	}
	return false
}

// WorkPending is delayed_work_pending: queued or waiting for its timer.
func (k *Kernel) WorkPending(w *Work) bool {
	st := k.workq.state[w.addr]
	return k.workq.delayed[w.addr] != nil || st == workPending || st == workRequeued
}

// The workqueue hypercalls.
func init() {
	registerHypercalls(map[int]hypercall{
		hcQueueWork: {"HC_QUEUE_WORK", func(k *Kernel, c *CPU) uint64 {
			return b2u(k.queueWork(c, c.emu.R[isa.RDI]))
		}, 0},
		hcQueueDelayedWork: {"HC_QUEUE_DELAYED_WORK", func(k *Kernel, c *CPU) uint64 {
			return b2u(k.queueDelayedWork(c, c.emu.R[isa.RDI], c.emu.R[isa.RSI]))
		}, 0},
		hcFlushWork: {"HC_FLUSH_WORK", func(k *Kernel, c *CPU) uint64 {
			return k.flushWork(c, c.emu.R[isa.RDI])
		}, 0},
		hcWorkerNext: {"HC_WORKER_NEXT", (*Kernel).workerNext, 0},
		hcWorkDone: {"HC_WORK_DONE", func(k *Kernel, c *CPU) uint64 {
			k.workDone(c.emu.R[isa.RDI])
			return 0
		}, 0},
	})
}
