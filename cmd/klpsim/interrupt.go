package main

import (
	"os"
	"os/signal"
	"sync/atomic"
)

// exitInterrupted is the status of a run that SIGINT stopped: 128 +
// SIGINT, what a shell reports for a command Ctrl-C killed.
const exitInterrupted = 130

// watchSIGINT makes the first SIGINT set flag: the machine stops between
// two scheduling quanta and the scenario prints what each CPU executes
// (scenarios.Options.Interrupt). A second SIGINT kills klpsim as usual, in
// case the first is not getting through. stop ends the watch.
func watchSIGINT(flag *atomic.Bool) (stop func()) {
	ch := make(chan os.Signal, 1)
	done := make(chan struct{})
	signal.Notify(ch, os.Interrupt)
	go func() {
		select {
		case <-ch:
			flag.Store(true)
			signal.Reset(os.Interrupt)
		case <-done:
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}
