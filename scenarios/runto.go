package scenarios

import (
	"fmt"
	"io"

	"klpsim/kernel"
	"klpsim/livepatch"
)

// RunTo boots the scenario's machine and runs the commands that start
// before line, then hands back the machine stopped there: for tools that
// look at a scenario's machine part-way (the debugger's inspection tests).
// A command that fails stops the run with its error.
func RunTo(s *Scenario, opts Options, line int) (*kernel.Kernel, *livepatch.Core, error) {
	r := &runner{s: s, opts: opts, res: &Result{}, groups: map[string][]*kernel.Task{}}
	if r.opts.Stdout == nil || r.opts.Stderr == nil {
		r.opts.Stdout, r.opts.Stderr = io.Discard, io.Discard
	}
	if err := r.boot(); err != nil {
		return nil, nil, &SetupError{err}
	}
	r.vars = builtinVars(r.machine)
	for _, c := range s.Cmds {
		if c.Pos.Line >= line {
			break
		}
		r.cmd, r.cmdSeq, r.cmdStart = c, r.k.Log.NextSeq(), r.k.Now()
		if err := r.waitTimedOut(c.spec.run(r, c)); err != nil {
			return r.k, r.lp, fmt.Errorf("%s:%d: %w", s.File, c.Pos.Line, err)
		}
	}
	return r.k, r.lp, nil
}
