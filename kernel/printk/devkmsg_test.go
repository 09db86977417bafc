package printk

import (
	"errors"
	"strings"
	"testing"

	"klpsim/kernel/errno"
)

// TestWriteKmsg_Prefix follows devkmsg_write: "<" + simple_strtoul digits +
// ">" is a prefix, N&7 the level and (N>>3)&0xff the facility when not 0;
// anything else is text.
func TestWriteKmsg_Prefix(t *testing.T) {
	tests := []struct {
		in       string
		level    int
		facility int
		text     string
		flags    Flags
	}{
		{"hello\n", 4, 1, "hello", LOG_NEWLINE},
		{"hello", 4, 1, "hello", 0},
		{"<3>err\n", 3, 1, "err", LOG_NEWLINE},
		{"<0>x\n", 0, 1, "x", LOG_NEWLINE},
		{"<7>x\n", 7, 1, "x", LOG_NEWLINE},
		{"<8>x\n", 0, 1, "x", LOG_NEWLINE},                // LOG_USER|LOG_EMERG
		{"<14>x\n", 6, 1, "x", LOG_NEWLINE},               // LOG_USER|LOG_INFO
		{"<30>x\n", 6, 3, "x", LOG_NEWLINE},               // LOG_DAEMON|LOG_INFO
		{"<2048>x\n", 0, 1, "x", LOG_NEWLINE},             // facility 256&0xff == 0: stays LOG_USER
		{"<4294967299>x\n", 3, 1, "x", LOG_NEWLINE},       // truncated to 32 bits: 3
		{"<>x\n", 0, 1, "x", LOG_NEWLINE},                 // no digits: simple_strtoul gives 0
		{"<3>>x\n", 3, 1, ">x", LOG_NEWLINE},              // only the first '>' ends the prefix
		{"<3>\n", 3, 1, "", LOG_NEWLINE},                  // empty text
		{"<3x>y\n", 4, 1, "<3x>y", LOG_NEWLINE},           // malformed: text
		{"<3\n", 4, 1, "<3", LOG_NEWLINE},                 // unterminated: text
		{"<3", 4, 1, "<3", 0},                             // unterminated at the end: text
		{"<-1>x\n", 4, 1, "<-1>x", LOG_NEWLINE},           // no sign
		{"<+3>x\n", 4, 1, "<+3>x", LOG_NEWLINE},           // no sign
		{"< 3>x\n", 4, 1, "< 3>x", LOG_NEWLINE},           // no leading space
		{"<0x3>x\n", 4, 1, "<0x3>x", LOG_NEWLINE},         // base 10 only
		{" <3>x\n", 4, 1, " <3>x", LOG_NEWLINE},           // prefix must come first
		{"\x016hi\n", 4, 1, "\x016hi", LOG_NEWLINE},       // KERN_ prefixes are text here
		{"a\x00b\n", 4, 1, "a", 0},                        // "%s" stops at NUL, newline lost
		{"two\nlines\n", 4, 1, "two\nlines", LOG_NEWLINE}, // one write, one record
		{"", 4, 1, "", 0},                                 // devkmsg_write stores even this
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			l := New(0)
			n, err := l.WriteKmsg(5, []byte(tc.in))
			if err != nil || n != len(tc.in) {
				t.Fatalf("WriteKmsg = %d, %v; want %d, nil", n, err, len(tc.in))
			}
			recs, _ := l.all()
			if len(recs) != 1 {
				t.Fatalf("got %d records, want 1", len(recs))
			}
			r := recs[0]
			if r.Level != tc.level || r.Facility != tc.facility || r.Text != tc.text || r.Flags != tc.flags || r.TimeNS != 5 {
				t.Errorf("record = {level %d fac %d flags %d time %d %q}, want {level %d fac %d flags %d time 5 %q}",
					r.Level, r.Facility, r.Flags, r.TimeNS, r.Text, tc.level, tc.facility, tc.flags, tc.text)
			}
		})
	}
}

func TestWriteKmsg_EachWriteIsARecord(t *testing.T) {
	l := New(0)
	l.WriteKmsg(0, []byte("no newline"))
	l.WriteKmsg(0, []byte("second\n"))
	recs := l.Records()
	if len(recs) != 2 || recs[0].Text != "no newline" || recs[1].Text != "second" {
		t.Errorf("records = %+v", recs)
	}
}

func TestWriteKmsg_TooLong(t *testing.T) {
	l := New(0)
	if _, err := l.WriteKmsg(0, []byte(strings.Repeat("x", PRINTKRB_RECORD_MAX+1))); !errors.Is(err, errno.EINVAL) {
		t.Errorf("WriteKmsg(1025 bytes) err = %v, want EINVAL", err)
	}
	if len(l.Records()) != 0 {
		t.Errorf("a failed write stored a record")
	}
	n, err := l.WriteKmsg(0, []byte(strings.Repeat("x", PRINTKRB_RECORD_MAX-1)+"\n"))
	if err != nil || n != PRINTKRB_RECORD_MAX {
		t.Fatalf("WriteKmsg(1024 bytes) = %d, %v", n, err)
	}
	// The text is cut at 1023 bytes, which here is exactly before "\n":
	// the newline is lost and the record stays open.
	if r, open := l.all(); len(r) != 1 || len(r[0].Text) != 1023 || r[0].Flags != 0 || !open {
		t.Errorf("records = %d, open = %v", len(r), open)
	}
}

// TestFormatKmsg follows info_print_ext_header and msg_add_ext_text.
func TestFormatKmsg(t *testing.T) {
	tests := []struct {
		r    Record
		want string
	}{
		{Record{Seq: 0, TimeNS: 0, Level: 6, Facility: 0, Text: "hello"}, "6,0,0,-;hello\n"},
		{Record{Seq: 42, TimeNS: 12345678901, Level: 4, Facility: 1, Text: "user"}, "12,42,12345678,-;user\n"},
		{Record{Seq: 1, TimeNS: 999, Level: 7, Flags: LOG_CONT | LOG_NEWLINE, Text: "cont"}, "7,1,0,c;cont\n"},
		{Record{Level: 3, Facility: 3, Text: "a\\b\nc\td\x7f\xc3\xa9"}, `27,0,0,-;a\x5cb\x0ac\x09d\x7f\xc3\xa9` + "\n"},
		{Record{Level: 0, Text: ""}, "0,0,0,-;\n"},
	}
	for _, tc := range tests {
		if got := FormatKmsg(tc.r); got != tc.want {
			t.Errorf("FormatKmsg(%+v) = %q, want %q", tc.r, got, tc.want)
		}
	}
}

func TestKmsg_Read(t *testing.T) {
	l := New(0)
	k := l.OpenKmsg()
	if _, err := k.Read(); !errors.Is(err, errno.EAGAIN) {
		t.Fatalf("Read on empty log: err = %v, want EAGAIN", err)
	}
	l.Printk(1000, "T1", KERN_INFO+"one\n")
	l.WriteKmsg(2000, []byte("two\n"))
	l.Printk(3000, "T1", "open")
	for _, want := range []string{"6,0,1,-;one\n", "12,1,2,-;two\n"} {
		if got, err := k.Read(); err != nil || got != want {
			t.Errorf("Read = %q, %v; want %q", got, err, want)
		}
	}
	if _, err := k.Read(); !errors.Is(err, errno.EAGAIN) {
		t.Errorf("Read of an open record: err = %v, want EAGAIN", err)
	}
	l.Printk(4000, "T1", KERN_CONT+" now closed\n")
	if got, err := k.Read(); err != nil || got != "4,2,3,-;open now closed\n" {
		t.Errorf("Read = %q, %v", got, err)
	}

	// SEEK_END then only new records; SEEK_DATA starts after Clear;
	// SEEK_SET at the oldest record.
	k.SeekEnd()
	if _, err := k.Read(); !errors.Is(err, errno.EAGAIN) {
		t.Errorf("Read after SeekEnd: err = %v, want EAGAIN", err)
	}
	l.Clear()
	l.Printk(5000, "T1", "after clear\n")
	k2 := l.OpenKmsg()
	k2.SeekData()
	if got, err := k2.Read(); err != nil || got != "4,3,5,-;after clear\n" {
		t.Errorf("Read after SeekData = %q, %v", got, err)
	}
	k2.SeekSet()
	if got, err := k2.Read(); err != nil || got != "6,0,1,-;one\n" {
		t.Errorf("Read after SeekSet = %q, %v", got, err)
	}
}
