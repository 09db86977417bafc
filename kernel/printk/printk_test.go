package printk

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"klpsim/kernel/errno"
)

// all returns every live record, the open one included, and whether the
// newest is open.
func (l *Log) all() ([]Record, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Record(nil), l.recs[l.head:]...), l.open
}

type call struct {
	caller string
	msg    string
}

type want struct {
	level int
	text  string
	flags Flags
}

// TestPrintk_Levels covers the KERN_ prefixes of include/linux/kern_levels.h
// and the LOG_CONT rules of vprintk_store / prb_reserve_in_last (6.x).
func TestPrintk_Levels(t *testing.T) {
	long := strings.Repeat("x", 2000)
	tests := []struct {
		name  string
		calls []call
		want  []want
		open  bool // the newest record is still open
	}{
		{"emerg", []call{{"T1", KERN_EMERG + "m\n"}}, []want{{0, "m", LOG_NEWLINE}}, false},
		{"alert", []call{{"T1", KERN_ALERT + "m\n"}}, []want{{1, "m", LOG_NEWLINE}}, false},
		{"crit", []call{{"T1", KERN_CRIT + "m\n"}}, []want{{2, "m", LOG_NEWLINE}}, false},
		{"err", []call{{"T1", KERN_ERR + "m\n"}}, []want{{3, "m", LOG_NEWLINE}}, false},
		{"warning", []call{{"T1", KERN_WARNING + "m\n"}}, []want{{4, "m", LOG_NEWLINE}}, false},
		{"notice", []call{{"T1", KERN_NOTICE + "m\n"}}, []want{{5, "m", LOG_NEWLINE}}, false},
		{"info", []call{{"T1", KERN_INFO + "m\n"}}, []want{{6, "m", LOG_NEWLINE}}, false},
		{"debug", []call{{"T1", KERN_DEBUG + "m\n"}}, []want{{7, "m", LOG_NEWLINE}}, false},
		{"no prefix is MESSAGE_LOGLEVEL_DEFAULT", []call{{"T1", "m\n"}}, []want{{4, "m", LOG_NEWLINE}}, false},
		{"KERN_DEFAULT is empty", []call{{"T1", KERN_DEFAULT + "m\n"}}, []want{{4, "m", LOG_NEWLINE}}, false},
		{"old KERN_DEFAULT \\001d is text", []call{{"T1", "\x01dm\n"}}, []want{{4, "\x01dm", LOG_NEWLINE}}, false},
		{"SOH at the end is text", []call{{"T1", "m\x01\n"}}, []want{{4, "m\x01", LOG_NEWLINE}}, false},
		{"first level wins", []call{{"T1", KERN_INFO + KERN_ERR + "m\n"}}, []want{{6, "m", LOG_NEWLINE}}, false},
		{"level only from the first 7 bytes", []call{{"T1", KERN_CONT + KERN_CONT + KERN_CONT + KERN_ERR + "m\n"}},
			[]want{{4, "m", LOG_NEWLINE | LOG_CONT}}, false},
		{"multi-line is one record", []call{{"T1", "a\nb\n"}}, []want{{4, "a\nb", LOG_NEWLINE}}, false},
		{"only one trailing newline stripped", []call{{"T1", "a\n\n"}}, []want{{4, "a\n", LOG_NEWLINE}}, false},
		{"empty line", []call{{"T1", "\n"}}, []want{{4, "", LOG_NEWLINE}}, false},
		{"missing newline stays open", []call{{"T1", KERN_INFO + "abc"}}, []want{{6, "abc", 0}}, true},
		{"KERN_CONT joins", []call{{"T1", KERN_INFO + "abc"}, {"T1", KERN_CONT + "def"}, {"T1", KERN_CONT + "ghi\n"}},
			[]want{{6, "abcdefghi", LOG_NEWLINE}}, false},
		{"KERN_CONT keeps the first level", []call{{"T1", KERN_ERR + "abc"}, {"T1", KERN_CONT + KERN_DEBUG + "def\n"}},
			[]want{{3, "abcdef", LOG_NEWLINE}}, false},
		{"KERN_CONT from another caller", []call{{"T1", "abc"}, {"T2", KERN_CONT + "def\n"}},
			[]want{{4, "abc", 0}, {4, "def", LOG_CONT | LOG_NEWLINE}}, false},
		{"KERN_CONT after a newline", []call{{"T1", "abc\n"}, {"T1", KERN_CONT + "def\n"}},
			[]want{{4, "abc", LOG_NEWLINE}, {4, "def", LOG_CONT | LOG_NEWLINE}}, false},
		{"KERN_CONT with a level", []call{{"T1", KERN_CONT + KERN_INFO + "def\n"}},
			[]want{{6, "def", LOG_CONT | LOG_NEWLINE}}, false},
		{"no KERN_CONT closes the open record", []call{{"T1", "abc"}, {"T1", "def\n"}},
			[]want{{4, "abc", 0}, {4, "def", LOG_NEWLINE}}, false},
		{"KERN_CONT that would exceed the record limit", []call{{"T1", strings.Repeat("a", 1000)}, {"T1", KERN_CONT + strings.Repeat("b", 30) + "\n"}},
			[]want{{4, strings.Repeat("a", 1000), 0}, {4, strings.Repeat("b", 30), LOG_CONT | LOG_NEWLINE}}, false},
		{"KERN_CONT that just fits", []call{{"T1", strings.Repeat("a", 1000)}, {"T1", KERN_CONT + strings.Repeat("b", 20) + "\n"}},
			[]want{{4, strings.Repeat("a", 1000) + strings.Repeat("b", 20), LOG_NEWLINE}}, false},
		{"long message cut at 1023 bytes, newline lost", []call{{"T1", long + "\n"}}, []want{{4, long[:1023], 0}}, true},
		{"cut counts the prefix", []call{{"T1", KERN_INFO + long}}, []want{{6, long[:1021], 0}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := New(0)
			for _, c := range tc.calls {
				l.Printk(1000, c.caller, c.msg)
			}
			got, open := l.all()
			if len(got) != len(tc.want) {
				t.Fatalf("got %d records %+v, want %d", len(got), got, len(tc.want))
			}
			for i, w := range tc.want {
				g := got[i]
				if g.Level != w.level || g.Text != w.text || g.Flags != w.flags || g.Seq != uint64(i) || g.Facility != FacilityKern {
					t.Errorf("record %d = {seq %d level %d fac %d flags %d %q}, want {seq %d level %d fac 0 flags %d %q}",
						i, g.Seq, g.Level, g.Facility, g.Flags, g.Text, i, w.level, w.flags, w.text)
				}
			}
			if open != tc.open {
				t.Errorf("open = %v, want %v", open, tc.open)
			}
		})
	}
}

func TestPrintk_ReturnsStoredLength(t *testing.T) {
	l := New(0)
	if n := l.Printk(0, "T1", KERN_INFO+"hello\n"); n != 5 {
		t.Errorf("Printk = %d, want 5", n)
	}
	l.Printk(0, "T1", "ab")
	if n := l.Printk(0, "T1", KERN_CONT+"cd\n"); n != 2 {
		t.Errorf("Printk(KERN_CONT) = %d, want 2", n)
	}
}

func TestPrintk_DefaultMessageLoglevel(t *testing.T) {
	l := New(0)
	l.SetDefaultMessageLoglevel(6)
	l.Printk(0, "T1", "x\n")
	if r := l.Records(); r[0].Level != 6 {
		t.Errorf("level = %d, want 6", r[0].Level)
	}
}

// TestPrintk_OpenRecordIsInvisible: a record without a trailing newline is
// committed but not finalized, and desc_read_finalized_seq hides it.
func TestPrintk_OpenRecordIsInvisible(t *testing.T) {
	l := New(0)
	l.Printk(0, "T1", "first\n")
	l.Printk(1000, "T1", "partial")
	if got := l.Dmesg(DmesgOptions{}); got != "[    0.000000] first\n" {
		t.Errorf("Dmesg with an open record = %q", got)
	}
	if n := l.NextSeq(); n != 1 {
		t.Errorf("NextSeq = %d, want 1", n)
	}
	l.Printk(2000, "T1", KERN_CONT+" line\n")
	want := "[    0.000000] first\n[    0.000001] partial line\n"
	if got := l.Dmesg(DmesgOptions{}); got != want {
		t.Errorf("Dmesg = %q, want %q", got, want)
	}
}

// TestLog_Wraparound: the oldest records go first and Seq keeps counting.
func TestLog_Wraparound(t *testing.T) {
	for _, tc := range []struct {
		name      string
		msgLen    int
		wantCount int
	}{
		// 4096 bytes: 128 descriptors; 12-byte texts take 24 bytes each,
		// so the descriptors run out first.
		{"descriptors", 12, 128},
		// 100-byte texts take 112 bytes each: 36 fit in 4096.
		{"data", 100, 36},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := New(MinBufLen)
			k := l.OpenKmsg()
			const n = 1000
			for i := range n {
				msg := fmt.Sprintf("%0*d\n", tc.msgLen, i)
				l.Printk(uint64(i)*1000, "T1", msg)
			}
			recs := l.Records()
			if len(recs) != tc.wantCount {
				t.Fatalf("kept %d records, want %d", len(recs), tc.wantCount)
			}
			for i, r := range recs {
				seq := uint64(n - tc.wantCount + i)
				if r.Seq != seq || r.Text != fmt.Sprintf("%0*d", tc.msgLen, seq) {
					t.Fatalf("record %d = {seq %d %q}, want seq %d", i, r.Seq, r.Text, seq)
				}
			}
			if got, want := l.FirstSeq(), uint64(n-tc.wantCount); got != want {
				t.Errorf("FirstSeq = %d, want %d", got, want)
			}
			if got := l.NextSeq(); got != n {
				t.Errorf("NextSeq = %d, want %d", got, n)
			}
			if l.used > l.bufLen {
				t.Errorf("used %d > bufLen %d", l.used, l.bufLen)
			}
			// A reader that was at seq 0 lost records: EPIPE, then it
			// continues at the oldest one left.
			if _, err := k.Read(); !errors.Is(err, errno.EPIPE) {
				t.Fatalf("Read after overwrite: err = %v, want EPIPE", err)
			}
			line, err := k.Read()
			if err != nil || !strings.HasPrefix(line, fmt.Sprintf("4,%d,", n-tc.wantCount)) {
				t.Errorf("Read = %q, %v", line, err)
			}
		})
	}
}

func TestLog_WraparoundKeepsOpenRecord(t *testing.T) {
	l := New(MinBufLen)
	l.Printk(0, "T1", "open")
	for range 40 {
		l.Printk(0, "T1", KERN_CONT+strings.Repeat("c", 20))
		l.Printk(0, "T2", strings.Repeat("x", 100)+"\n")
	}
	if l.used > l.bufLen {
		t.Errorf("used %d > bufLen %d", l.used, l.bufLen)
	}
	total := 0
	for _, r := range l.Records() {
		total += dataSize(len(r.Text))
	}
	if recs, _ := l.all(); len(recs) > 0 {
		if total != l.used && total+dataSize(len(recs[len(recs)-1].Text)) != l.used {
			t.Errorf("accounting: records take %d, used says %d", total, l.used)
		}
	}
}

func TestNew_BufLen(t *testing.T) {
	for _, tc := range []struct{ in, want int }{
		{0, 1 << 20}, {1, 4096}, {4096, 4096}, {5000, 8192}, {1 << 17, 1 << 17},
	} {
		if got := New(tc.in).BufLen(); got != tc.want {
			t.Errorf("New(%d).BufLen() = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// TestConsole: records reach the console when finalized, if their level is
// below console_loglevel (suppress_message_printing).
func TestConsole(t *testing.T) {
	l := New(0)
	var con strings.Builder
	l.SetConsole(&con)
	if got := l.ConsoleLoglevel(); got != CONSOLE_LOGLEVEL_DEFAULT {
		t.Fatalf("ConsoleLoglevel = %d, want %d", got, CONSOLE_LOGLEVEL_DEFAULT)
	}
	l.Printk(1500000000, "T1", KERN_INFO+"info\n")
	l.Printk(1500000000, "T1", KERN_DEBUG+"debug hidden\n")
	l.Printk(2000000000, "T1", KERN_ERR+"two\nlines\n")
	l.Printk(3000000000, "T1", KERN_NOTICE+"partial")
	want := "[    1.500000] info\n[    2.000000] two\n[    2.000000] lines\n"
	if con.String() != want {
		t.Errorf("console before finalizing = %q, want %q", con.String(), want)
	}
	l.SetConsoleLoglevel(CONSOLE_LOGLEVEL_MOTORMOUTH)
	l.Printk(4000000000, "T1", KERN_DEBUG+"debug shown\n")
	want += "[    3.000000] partial\n[    4.000000] debug shown\n"
	if con.String() != want {
		t.Errorf("console = %q, want %q", con.String(), want)
	}
	// Records are stored whatever console_loglevel says.
	if n := len(l.Records()); n != 5 {
		t.Errorf("stored %d records, want 5", n)
	}
}
