package timeline

import (
	"io"

	"github.com/rs/zerolog"
)

// JSONWriter writes events as --json's lines through zerolog: one object
// a line, fields in a fixed order, no level or wall-clock time (the
// stream must be the same for the same scenario and seed).
type JSONWriter struct{ l zerolog.Logger }

// NewJSONWriter writes to w.
func NewJSONWriter(w io.Writer) *JSONWriter {
	return &JSONWriter{zerolog.New(w)}
}

// Write writes one event.
func (j *JSONWriter) Write(e *Event) {
	z := j.l.Log().Int("version", e.Version).Str("scenario", e.Scenario).Uint64("time_ns", e.TimeNS).Str("event", e.Kind)
	if e.CPU != nil {
		z = z.Int("cpu", *e.CPU)
	}
	z = intField(z, "pid", e.PID)
	z = strField(z, "task", e.Task)
	z = intField(z, "ppid", e.PPID)
	z = strField(z, "state", e.State)
	z = strField(z, "patch", e.Patch)
	z = strField(z, "target", e.Target)
	z = strField(z, "how", e.How)
	z = strField(z, "why", e.Why)
	z = strField(z, "func", e.Func)
	if len(e.Stack) > 0 {
		z = z.Strs("stack", e.Stack)
	}
	z = intField(z, "retry", e.Retry)
	if e.StopNS != 0 {
		z = z.Uint64("stop_ns", e.StopNS)
	}
	if e.Pending != nil {
		z = z.Int("pending", *e.Pending)
	}
	z = strField(z, "callback", e.Callback)
	z = strField(z, "object", e.Object)
	z = intField(z, "ret", e.Ret)
	z = strField(z, "module", e.Module)
	z = strField(z, "action", e.Action)
	z = strField(z, "addr", e.Addr)
	z = intField(z, "depth", e.Depth)
	if e.Nop {
		z = z.Bool("nop", true)
	}
	if e.Livepatch {
		z = z.Bool("livepatch", true)
	}
	z = strField(z, "where", e.Where)
	if e.PatchState != nil {
		z = z.Int("patch_state", *e.PatchState)
	}
	z = intField(z, "line", e.Line)
	z = strField(z, "text", e.Text)
	z = strField(z, "test", e.Test)
	z = strField(z, "result", e.Result)
	z = strField(z, "msg", e.Msg)
	z.Send()
}

func strField(z *zerolog.Event, k, v string) *zerolog.Event {
	if v == "" {
		return z
	}
	return z.Str(k, v)
}

func intField(z *zerolog.Event, k string, v int) *zerolog.Event {
	if v == 0 {
		return z
	}
	return z.Int(k, v)
}

// NewLogger is the logger of host diagnostics (--log LEVEL): zerolog's
// console format on w, without wall-clock time. level is debug, info,
// warn or error.
func NewLogger(w io.Writer, level string) (zerolog.Logger, error) {
	lv, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Nop(), err
	}
	return zerolog.New(zerolog.ConsoleWriter{Out: w, NoColor: true, PartsExclude: []string{zerolog.TimestampFieldName}}).Level(lv), nil
}
