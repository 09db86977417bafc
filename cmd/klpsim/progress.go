package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"klpsim/kernel"
)

// The progress line: when a run takes more than progressDelay of wall
// time and stderr is a terminal, klpsim redraws one line on stderr every
// progressEvery with the simulated time, the emulation speed and what each
// CPU runs. Wall time is read only here, never by the machine: the line
// appears in no transcript. A ticker sets a flag; the goroutine stepping
// the machine reads it between quanta and draws (scenarios.Options.Progress).

var (
	progressDelay = 2 * time.Second
	progressEvery = 250 * time.Millisecond
)

// progress draws the progress line on w.
type progress struct {
	w     io.Writer
	flag  atomic.Bool
	stop  chan struct{}
	drawn bool
	// col is the column the output through wrap left the cursor at; when
	// it is not 0 the line is drawn below and the cursor put back after.
	col   int
	below bool
	// The previous sample, for the speed.
	lastInsns uint64
	lastWall  time.Time
}

// startProgress starts the ticker if w is a terminal, else returns nil.
func startProgress(w io.Writer) *progress {
	f, ok := w.(*os.File)
	if !ok || !isTerminal(f) {
		return nil
	}
	p := &progress{w: w, stop: make(chan struct{}), lastWall: time.Now()}
	go func() {
		select {
		case <-time.After(progressDelay):
		case <-p.stop:
			return
		}
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			p.flag.Store(true)
			select {
			case <-t.C:
			case <-p.stop:
				return
			}
		}
	}()
	return p
}

// draw redraws the line from a snapshot (on the goroutine stepping the
// machine).
func (p *progress) draw(st kernel.Status) {
	now := time.Now()
	line := formatProgress(st, st.Insns-min(p.lastInsns, st.Insns), now.Sub(p.lastWall))
	p.lastInsns, p.lastWall = st.Insns, now
	if !p.drawn && p.col > 0 {
		fmt.Fprint(p.w, "\n")
		p.below = true
	}
	fmt.Fprint(p.w, "\r"+line+"\x1b[K")
	p.drawn = true
}

// clear erases the line and puts the cursor back where the output left it.
func (p *progress) clear() {
	if !p.drawn {
		return
	}
	fmt.Fprint(p.w, "\r\x1b[K")
	if p.below {
		fmt.Fprint(p.w, "\x1b[A\r")
		if p.col > 0 {
			fmt.Fprintf(p.w, "\x1b[%dC", p.col)
		}
	}
	p.drawn, p.below = false, false
}

// end stops the ticker and clears the line.
func (p *progress) end() {
	close(p.stop)
	p.clear()
}

// formatProgress is the progress line: simulated time, millions of guest
// instructions per wall second over the last sample, and per CPU the task
// and the function it executes (or "idle").
func formatProgress(st kernel.Status, insns uint64, wall time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%5d.%06d] %6.1f MIPS", st.Now/1e9, st.Now/1e3%1e6, mips(insns, wall))
	for i, c := range st.CPUs {
		if c.Idle {
			fmt.Fprintf(&b, " | %d: idle", i)
			continue
		}
		fmt.Fprintf(&b, " | %d: %s:%d %s", i, c.Comm, c.PID, c.Func)
	}
	return b.String()
}

func mips(insns uint64, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return float64(insns) / wall.Seconds() / 1e6
}

// wrap returns a writer that clears the progress line before writing to
// w, so that output never lands after it (the runner writes from the same
// goroutine that draws).
func (p *progress) wrap(w io.Writer) io.Writer { return clearing{p, w} }

type clearing struct {
	p *progress
	w io.Writer
}

func (c clearing) Write(b []byte) (int, error) {
	c.p.clear()
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		c.p.col = len(b) - i - 1
	} else {
		c.p.col += len(b)
	}
	return c.w.Write(b)
}
