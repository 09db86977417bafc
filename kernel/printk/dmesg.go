package printk

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DmesgOptions selects the util-linux dmesg options klpsim supports. The
// zero value is `dmesg` with no options.
type DmesgOptions struct {
	NoTime bool // -t, --notime: no timestamp, no continuation-line indent
	Raw    bool // -r, --raw: "<N>[%5ld.%06ld] " prefix, N = facility<<3|level; overrides NoTime (dmesg rejects -r -t)
}

// Dmesg renders the records after the last Clear exactly as util-linux
// dmesg prints them when it reads /dev/kmsg (sys-utils/dmesg.c,
// print_record and safe_fwrite, in a UTF-8 locale):
//
//   - each record is "[%5ld.%06ld] " (seconds, microseconds) and its text,
//     then a newline;
//   - a record with empty text is an empty line, with no timestamp;
//   - every embedded newline that is not the last byte is followed by as
//     many spaces as the timestamp prefix is wide;
//   - NUL, invalid UTF-8 and non-printable characters other than white
//     space are written as \xNN per byte (for non-ASCII characters
//     "printable" approximates glibc's iswprint: assigned and not a C1
//     control).
//
// The open (not yet finalized) record, if any, is not shown.
func (l *Log) Dmesg(opts DmesgOptions) string {
	l.mu.Lock()
	recs := append([]Record(nil), l.readable(l.clearSeq)...)
	l.mu.Unlock()

	var b strings.Builder
	for i := range recs {
		writeDmesgRecord(&b, &recs[i], opts)
	}
	return b.String()
}

// DmesgFrom renders, as Dmesg does, the readable records from sequence
// number seq on, regardless of Clear (a /dev/kmsg reader's view), and
// returns the sequence number to continue from: how a reader follows the
// log as it grows (klpsim serve streams it). Records dropped from the ring
// before they were read are skipped.
func (l *Log) DmesgFrom(seq uint64, opts DmesgOptions) (string, uint64) {
	l.mu.Lock()
	recs := append([]Record(nil), l.readable(seq)...)
	next := l.nextReadableSeq()
	l.mu.Unlock()
	var b strings.Builder
	for i := range recs {
		writeDmesgRecord(&b, &recs[i], opts)
	}
	return b.String(), max(next, seq)
}

// DmesgLines is Dmesg split into lines, without the final newline; a
// multi-line record contributes one element per line, as the output of
// `dmesg | while read line` would.
func (l *Log) DmesgLines(opts DmesgOptions) []string {
	s := l.Dmesg(opts)
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func writeDmesgRecord(b *strings.Builder, r *Record, opts DmesgOptions) {
	if len(r.Text) == 0 {
		b.WriteByte('\n')
		return
	}
	usec := r.TimeNS / 1000
	var prefix string
	switch {
	case opts.Raw:
		prefix = "<" + strconv.Itoa(r.Facility<<3|r.Level) + ">[" + formatTime(usec) + "] "
	case opts.NoTime:
	default:
		prefix = "[" + formatTime(usec) + "] "
	}
	b.WriteString(prefix)
	safeWrite(b, r.Text, len(prefix))
	b.WriteByte('\n')
}

// safeWrite is dmesg's safe_fwrite: it escapes what a terminal should not
// see and indents continuation lines by indent spaces.
func safeWrite(b *strings.Builder, s string, indent int) {
	for i := 0; i < len(s); {
		c := s[i]
		if c == 0 {
			writeHex(b, s[i:i+1])
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch {
			case c == '\n' && i+1 < len(s) && s[i+1] != 0 && indent > 0:
				b.WriteByte('\n')
				b.WriteString(strings.Repeat(" ", indent))
			case isprint(c) || isspace(c):
				b.WriteByte(c)
			default:
				writeHex(b, s[i:i+1])
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			writeHex(b, s[i:i+1])
			n = 1
		case iswprint(r) || iswspace(r):
			b.WriteString(s[i : i+n])
		default:
			writeHex(b, s[i:i+n])
		}
		i += n
	}
}

// writeHex is dmesg's fwrite_hex: "\x%02x" for every byte.
func writeHex(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); i++ {
		b.WriteString(`\x`)
		b.WriteByte(hex[s[i]>>4])
		b.WriteByte(hex[s[i]&15])
	}
}

// iswprint approximates glibc's iswprint in a UTF-8 locale: every assigned
// character except the C1 controls and the line and paragraph separators
// (which iswspace accepts instead).
func iswprint(r rune) bool {
	return !unicode.IsControl(r) && r != 0x2028 && r != 0x2029 &&
		(unicode.IsGraphic(r) || unicode.In(r, unicode.Cf, unicode.Co))
}

// iswspace approximates glibc's iswspace for non-ASCII characters: the
// space separators except the no-break ones, and the line and paragraph
// separators.
func iswspace(r rune) bool {
	switch r {
	case 0x00a0, 0x2007, 0x202f:
		return false
	}
	return unicode.In(r, unicode.Zs, unicode.Zl, unicode.Zp)
}

func isprint(c byte) bool { return c >= ' ' && c < 127 }

func isspace(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }
