package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"

	"klpsim/kernel"
	"klpsim/livepatch"
	"klpsim/scenarios"
	"klpsim/timeline"
)

// outputFlags are run's outputs built from the event stream (--trace,
// --timeline) and its host diagnostics (--log).
type outputFlags struct {
	trace, timelinePath, logLevel *string
	log                           zerolog.Logger
	stderr                        io.Writer
	multi                         bool // more than one scenario: one file each
}

func addOutputFlags(fs *flag.FlagSet) *outputFlags {
	return &outputFlags{
		trace:        fs.String("trace", "", "write the run as a Chrome trace (`FILE.json`) for Perfetto or chrome://tracing"),
		timelinePath: fs.String("timeline", "", "write the timeline picture: `FILE.html` (one picture per test), or DIR/ (one page per test)"),
		logLevel:     fs.String("log", "", "host diagnostics on stderr at `level` debug, info, warn or error"),
		log:          zerolog.Nop(),
	}
}

// check validates the flags and makes sure every output can be written
// before anything runs: a run of minutes must not end in "permission
// denied".
func (o *outputFlags) check(stderr io.Writer) error {
	o.stderr = stderr
	if *o.logLevel != "" {
		l, err := timeline.NewLogger(stderr, *o.logLevel)
		if err != nil {
			return fmt.Errorf("--log %q: expected debug, info, warn or error", *o.logLevel)
		}
		o.log = l
	}
	if *o.trace != "" {
		if err := probeFile(*o.trace); err != nil {
			return fmt.Errorf("--trace: %v", err)
		}
	}
	if p := *o.timelinePath; p != "" {
		if isDirArg(p) {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return fmt.Errorf("--timeline: %v", err)
			}
			probe := filepath.Join(p, ".klpsim-probe")
			if err := probeFile(probe); err != nil {
				return fmt.Errorf("--timeline: %v", err)
			}
		} else if err := probeFile(p); err != nil {
			return fmt.Errorf("--timeline: %v", err)
		}
	}
	return nil
}

// isDirArg: a path ending in a slash, or an existing directory.
func isDirArg(p string) bool {
	if strings.HasSuffix(p, "/") {
		return true
	}
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// probeFile checks that path can be created, leaving no file behind that
// was not there.
func probeFile(path string) error {
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return fmt.Errorf("cannot write %s: %v", path, pe.Err)
		}
		return err
	}
	f.Close()
	if statErr != nil {
		os.Remove(path)
	}
	return nil
}

// recorder sets opts up to record scenario s's events: to jw (--json)
// and, for the trace and the timeline, into memory.
func (o *outputFlags) recorder(s *scenarios.Scenario, src []byte, jw *timeline.JSONWriter, opts *scenarios.Options) *timeline.Recorder {
	files := *o.trace != "" || *o.timelinePath != ""
	opts.Booted = func(k *kernel.Kernel, lp *livepatch.Core) {
		o.log.Debug().Int("cpus", len(k.CPUs())).Int("tasks", len(k.Tasks())).Uint64("time_ns", k.Now()).Msg("booted")
	}
	opts.BeforeCommand = nil
	if jw == nil && !files {
		return nil
	}
	rec := &timeline.Recorder{Scenario: s.File, Sched: true, Keep: files}
	if jw != nil {
		rec.Sink = jw.Write
	}
	lines := strings.Split(string(src), "\n")
	booted := opts.Booted
	opts.Booted = func(k *kernel.Kernel, lp *livepatch.Core) {
		booted(k, lp)
		rec.Attach(k, lp)
	}
	opts.BeforeCommand = func(line int) error {
		text := ""
		if line > 0 && line <= len(lines) {
			text = lines[line-1]
		}
		rec.Command(line, text)
		return nil
	}
	return rec
}

// finish records the scenario's outcome and writes the files.
func (o *outputFlags) finish(rec *timeline.Recorder, s *scenarios.Scenario, res *scenarios.Result, runErr error) error {
	if rec == nil {
		return nil
	}
	switch {
	case runErr != nil:
		rec.Failed(runErr.Error())
	case res != nil:
		for _, t := range res.Tests {
			verdict := "not ok"
			switch {
			case t.Skipped:
				verdict = "skip"
			case t.OK:
				verdict = "ok"
			}
			rec.Result(t.Name, verdict, t.Msg)
		}
		if res.Failed && res.Msg != "" {
			rec.Failed(res.Msg)
		}
	}
	o.log.Debug().Str("scenario", s.File).Int("events", len(rec.Events)).Msg("recorded")
	if p := *o.trace; p != "" {
		if o.multi {
			p = perScenario(p, s.File)
		}
		if err := writeFile(p, func(w io.Writer) error { return timeline.WriteTrace(w, rec.Events) }); err != nil {
			return err
		}
		o.log.Debug().Str("file", p).Msg("trace written")
	}
	if p := *o.timelinePath; p != "" {
		if err := o.writeTimeline(p, s, rec); err != nil {
			return err
		}
	}
	return nil
}

// perScenario names the file of one of several scenarios: x.json becomes
// x-NAME.json.
func perScenario(path, scn string) string {
	ext := filepath.Ext(path)
	base := strings.TrimSuffix(filepath.Base(scn), filepath.Ext(scn))
	return strings.TrimSuffix(path, ext) + "-" + base + ext
}

func (o *outputFlags) writeTimeline(p string, s *scenarios.Scenario, rec *timeline.Recorder) error {
	pics := timeline.Build(rec.Events)
	if !isDirArg(p) {
		if o.multi {
			p = perScenario(p, s.File)
		}
		return writeFile(p, func(w io.Writer) error { return timeline.WriteHTML(w, s.File, pics) })
	}
	base := strings.TrimSuffix(filepath.Base(s.File), filepath.Ext(s.File))
	for i, pic := range pics {
		name := filepath.Join(p, fmt.Sprintf("%s-%d.html", base, i+1))
		if err := writeFile(name, func(w io.Writer) error { return timeline.WriteHTML(w, s.File, pics[i:i+1]) }); err != nil {
			return err
		}
		o.log.Debug().Str("file", name).Str("test", pic.Test).Msg("timeline written")
	}
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
