package vfs

import (
	"bytes"
	"fmt"
)

// Seq is the buffer a seq_file show callback prints into (struct seq_file).
// Its methods never fail; the content is handed to the reader when show
// returns.
type Seq struct {
	buf bytes.Buffer
}

// Printf appends formatted text, like seq_printf.
func (m *Seq) Printf(format string, args ...any) { fmt.Fprintf(&m.buf, format, args...) }

// Puts appends s, like seq_puts.
func (m *Seq) Puts(s string) { m.buf.WriteString(s) }

// Putc appends one byte, like seq_putc.
func (m *Seq) Putc(c byte) { m.buf.WriteByte(c) }

// Write appends p, like seq_write; it lets a Seq be an io.Writer.
func (m *Seq) Write(p []byte) (int, error) { return m.buf.Write(p) }

// SeqFile returns the Ops of a read-only seq_file opened with single_open
// (proc_create_single, as /proc/cmdline's cmdline_proc_show): every read
// calls show with a fresh Seq and returns what it printed. An error from
// show fails the read with that error.
func SeqFile(show func(ctx any, m *Seq) error) Ops {
	return Ops{Read: func(ctx any) ([]byte, error) {
		var m Seq
		if err := show(ctx, &m); err != nil {
			return nil, err
		}
		return m.buf.Bytes(), nil
	}}
}

// Attr returns the Ops of a sysfs attribute (struct kobj_attribute) with the
// given show and store; either may be nil, and the attribute's mode decides
// whether the missing one is EACCES or EIO (see the package doc).
//
// show returns the text to read, usually ending in "\n" (sysfs_emit). store
// receives the whole written buffer as a string, newline included ("1\n" for
// `echo 1 > f`), and returns nil to consume all of it — what nearly every
// kernel store does by returning count — or the errno to fail the write
// with.
func Attr(show func(ctx any) (string, error), store func(ctx any, buf string) error) Ops {
	var ops Ops
	if show != nil {
		ops.Read = func(ctx any) ([]byte, error) {
			s, err := show(ctx)
			if err != nil {
				return nil, err
			}
			return []byte(s), nil
		}
	}
	if store != nil {
		ops.Write = func(ctx any, data []byte) (int, error) {
			if err := store(ctx, string(data)); err != nil {
				return 0, err
			}
			return len(data), nil
		}
	}
	return ops
}
