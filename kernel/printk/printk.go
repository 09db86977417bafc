// Package printk is the guest kernel's log: the printk ring buffer, the
// /dev/kmsg interface, dmesg rendering and dynamic debug.
//
// It mirrors kernel/printk/printk.c and lib/dynamic_debug.c of a 6.x kernel.
// The guest's printk() reaches Printk through the kernel package, which
// passes an already formatted message, the simulated time and the caller;
// everything after that — level and KERN_CONT prefixes, continuation lines,
// the record size limit, which records a reader can see — happens here the
// way Linux does it, because the kernel log is the test oracle: the livepatch
// selftests compare `dmesg` output with an expected transcript byte for byte.
//
// Facts this package encodes, with the Linux source they come from:
//
//   - One printk() call is one record, embedded newlines included
//     (vprintk_store since 5.10; the lockless ring buffer dropped the old
//     per-line split). Only a trailing newline is stripped; it sets
//     LOG_NEWLINE.
//   - A record without a trailing newline stays open. A KERN_CONT message
//     from the same caller appends to it (prb_reserve_in_last); any other
//     message finalizes it and starts a new record. An open record is not
//     visible to readers (desc_read_finalized_seq: "A descriptor in the
//     reserved or committed state means the record does not yet exist for
//     the reader"), so dmesg, /dev/kmsg and the console see it only once it
//     is finalized.
//   - A record holds at most PRINTKRB_RECORD_MAX-1 = 1023 bytes of
//     formatted text; longer messages are cut there (and lose their
//     trailing newline with it).
//   - dmesg (util-linux, reading /dev/kmsg) prints "[%5ld.%06ld] " and the
//     text, indents the continuation lines of a multi-line record by the
//     width of that prefix, prints an empty record as an empty line without
//     a timestamp, and starts after the last `dmesg -C`.
package printk

import (
	"fmt"
	"io"
	"strconv"
	"sync"
)

// Log levels, as in include/linux/kern_levels.h. LOGLEVEL_DEFAULT is what
// printk() starts with before parsing the message's prefix.
const (
	LOGLEVEL_DEFAULT = -1 // default (or last) loglevel
	LOGLEVEL_EMERG   = 0  // system is unusable
	LOGLEVEL_ALERT   = 1  // action must be taken immediately
	LOGLEVEL_CRIT    = 2  // critical conditions
	LOGLEVEL_ERR     = 3  // error conditions
	LOGLEVEL_WARNING = 4  // warning conditions
	LOGLEVEL_NOTICE  = 5  // normal but significant condition
	LOGLEVEL_INFO    = 6  // informational
	LOGLEVEL_DEBUG   = 7  // debug-level messages
)

// Message prefixes, as in include/linux/kern_levels.h: the ASCII SOH byte
// followed by the level digit, or 'c' for KERN_CONT.
const (
	KERN_SOH     = "\x01"
	KERN_EMERG   = KERN_SOH + "0"
	KERN_ALERT   = KERN_SOH + "1"
	KERN_CRIT    = KERN_SOH + "2"
	KERN_ERR     = KERN_SOH + "3"
	KERN_WARNING = KERN_SOH + "4"
	KERN_NOTICE  = KERN_SOH + "5"
	KERN_INFO    = KERN_SOH + "6"
	KERN_DEBUG   = KERN_SOH + "7"
	KERN_DEFAULT = ""
	KERN_CONT    = KERN_SOH + "c"
)

// Loglevel defaults, as in include/linux/printk.h with the Kconfig defaults
// (CONFIG_MESSAGE_LOGLEVEL_DEFAULT=4, CONFIG_CONSOLE_LOGLEVEL_DEFAULT=7).
const (
	MESSAGE_LOGLEVEL_DEFAULT    = 4  // level of a printk() without a level prefix
	CONSOLE_LOGLEVEL_SILENT     = 0  // mum's the word
	CONSOLE_LOGLEVEL_MIN        = 1  // minimum loglevel we let people use
	CONSOLE_LOGLEVEL_DEBUG      = 10 // issue debug messages
	CONSOLE_LOGLEVEL_MOTORMOUTH = 15 // you can't shut this one up
	CONSOLE_LOGLEVEL_DEFAULT    = 7  // console_loglevel at boot
)

// Syslog facilities that matter to the kernel log (LOG_KERN, LOG_USER >> 3).
const (
	FacilityKern = 0 // printk() from the kernel
	FacilityUser = 1 // /dev/kmsg writes without a facility in their <N> prefix
)

// Size limits, as in kernel/printk/internal.h (6.x) and Kconfig.
const (
	// PRINTKRB_RECORD_MAX is the most a record may reserve, terminating NUL
	// included: a record's text is at most PRINTKRB_RECORD_MAX-1 bytes, and
	// a /dev/kmsg write longer than PRINTKRB_RECORD_MAX fails with EINVAL.
	PRINTKRB_RECORD_MAX = 1024

	// DefaultBufLen is log_buf_len for CONFIG_LOG_BUF_SHIFT=20.
	DefaultBufLen = 1 << 20

	// MinBufLen is log_buf_len for the smallest CONFIG_LOG_BUF_SHIFT (12).
	MinBufLen = 1 << 12

	// prbAvgBits is PRB_AVGBITS: the ring has one descriptor per 32 bytes
	// of text space, which bounds the number of records.
	prbAvgBits = 5

	// blkIDSize is sizeof(blk->id): every data block starts with the id of
	// its descriptor and is padded to a multiple of it.
	blkIDSize = 8
)

// Flags are a record's internal flags (enum printk_info_flags).
type Flags uint8

// Record flags.
const (
	LOG_NEWLINE Flags = 2 // text ended with a newline
	LOG_CONT    Flags = 8 // text is a fragment of a continuation line
)

// Record is one entry of the ring buffer, Linux's struct printk_info plus
// its text.
type Record struct {
	Seq      uint64 // sequence number; keeps counting when old records are dropped
	TimeNS   uint64 // simulated monotonic nanoseconds since boot (ts_nsec)
	Level    int    // 0..7, LOGLEVEL_EMERG..LOGLEVEL_DEBUG
	Facility int    // syslog facility: FacilityKern, FacilityUser, or what a <N> prefix said
	Flags    Flags  // LOG_NEWLINE, LOG_CONT
	Caller   string // "T<pid>" for a task, "C<cpu>" otherwise (caller_id); not printed by default
	Text     string // message text without level prefixes and without the trailing newline
}

// Log is the printk ring buffer (prb), with Linux's clear_seq, loglevels
// and an optional console. It is safe for concurrent use.
//
// Capacity is accounted like printk_ringbuffer: each record with text takes
// a data block of len(text) plus an 8-byte id, rounded up to 8 bytes, and
// there is one descriptor per 32 bytes of buffer. The oldest records are
// dropped when either runs out. (The real data ring also wastes the space
// between its last block and the end of the array when it wraps; klpsim
// does not, so it may keep a few records more than Linux would.)
type Log struct {
	mu sync.Mutex

	recs     []Record // readable and open records, oldest first; recs[i].Seq == firstSeq()+i
	head     int      // index of the oldest live record in recs (recs[:head] are dropped)
	nextSeq  uint64   // seq of the next record to be reserved (prb_next_reserve_seq)
	open     bool     // the newest record is committed but not finalized
	used     int      // data bytes in use
	bufLen   int      // log_buf_len
	maxDescs int      // descriptor count: bufLen >> PRB_AVGBITS
	clearSeq uint64   // first seq after the last Clear (clear_seq)

	consoleLoglevel        int       // console_loglevel
	defaultMessageLoglevel int       // default_message_loglevel
	console                io.Writer // receives finalized records with level < consoleLoglevel
}

// New returns an empty log with a buffer of bufLen bytes, rounded up to a
// power of two like log_buf_len= is (log_buf_len_update); 0 means
// DefaultBufLen, and anything below MinBufLen is raised to it.
func New(bufLen int) *Log {
	if bufLen == 0 {
		bufLen = DefaultBufLen
	}
	if bufLen < MinBufLen {
		bufLen = MinBufLen
	}
	n := MinBufLen
	for n < bufLen {
		n <<= 1
	}
	return &Log{
		bufLen:                 n,
		maxDescs:               n >> prbAvgBits,
		consoleLoglevel:        CONSOLE_LOGLEVEL_DEFAULT,
		defaultMessageLoglevel: MESSAGE_LOGLEVEL_DEFAULT,
	}
}

// BufLen returns the buffer size in bytes (log_buf_len, SYSLOG_ACTION_SIZE_BUFFER).
func (l *Log) BufLen() int { return l.bufLen }

// ConsoleLoglevel returns console_loglevel: records with a level below it
// go to the console.
func (l *Log) ConsoleLoglevel() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.consoleLoglevel
}

// SetConsoleLoglevel sets console_loglevel, as test_klp_state does with
// CONSOLE_LOGLEVEL_MOTORMOUTH. Records are stored whatever it is.
func (l *Log) SetConsoleLoglevel(level int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.consoleLoglevel = level
}

// DefaultMessageLoglevel returns default_message_loglevel, the level of a
// printk() without a level prefix and of a /dev/kmsg write without <N>.
func (l *Log) DefaultMessageLoglevel() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.defaultMessageLoglevel
}

// SetDefaultMessageLoglevel sets default_message_loglevel (the second field
// of /proc/sys/kernel/printk).
func (l *Log) SetDefaultMessageLoglevel(level int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.defaultMessageLoglevel = level
}

// SetConsole sets the console: every record is written to w when it is
// finalized, if its level is below console_loglevel at that moment, in the
// kernel's console format ("[%5lu.%06lu] " before each line, no escaping).
// nil disables the console. w is called with the log locked and must not
// call back into it.
func (l *Log) SetConsole(w io.Writer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.console = w
}

// Printk stores a kernel message, as printk() does once vsnprintf has
// formatted it: msg may start with KERN_<LEVEL> and KERN_CONT prefixes.
// now is the simulated time in nanoseconds since boot and caller the
// printing context ("T123", "C1"). It returns the number of text bytes
// stored, like printk().
func (l *Log) Printk(now uint64, caller, msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.store(now, FacilityKern, LOGLEVEL_DEFAULT, caller, msg)
}

// printkGetLevel returns the level or control character of the prefix at
// the start of s, or 0 (printk_get_level).
func printkGetLevel(s string) byte {
	if len(s) >= 2 && s[0] == KERN_SOH[0] {
		switch c := s[1]; {
		case c >= '0' && c <= '7', c == 'c':
			return c
		}
	}
	return 0
}

// parsePrefix walks the KERN_ prefixes at the start of text and returns
// their length (printk_parse_prefix). If level is non-nil and still
// LOGLEVEL_DEFAULT, the first level prefix sets it; KERN_CONT sets LOG_CONT
// in flags.
func parsePrefix(text string, level *int, flags *Flags) int {
	n := 0
	for {
		c := printkGetLevel(text[n:])
		if c == 0 {
			return n
		}
		switch {
		case c >= '0' && c <= '7':
			if level != nil && *level == LOGLEVEL_DEFAULT {
				*level = int(c - '0')
			}
		case c == 'c':
			if flags != nil {
				*flags |= LOG_CONT
			}
		}
		n += 2
	}
}

// store is vprintk_store. Preconditions: l.mu is held.
func (l *Log) store(now uint64, facility, level int, caller, msg string) int {
	reserveSize := len(msg) + 1
	if reserveSize > PRINTKRB_RECORD_MAX {
		reserveSize = PRINTKRB_RECORD_MAX
	}

	// The level and control flags come from the first 7 bytes only:
	// vprintk_store formats into an 8-byte prefix_buf to find them.
	var flags Flags
	if facility == FacilityKern {
		pb := msg
		if len(pb) > 7 {
			pb = pb[:7]
		}
		parsePrefix(pb, &level, &flags)
	}
	if level == LOGLEVEL_DEFAULT {
		level = l.defaultMessageLoglevel
	}

	if flags&LOG_CONT != 0 && l.open {
		last := &l.recs[len(l.recs)-1]
		// prb_reserve_in_last: same caller, and the grown record must
		// still fit in PRINTKRB_RECORD_MAX.
		if last.Caller == caller && len(last.Text)+reserveSize <= PRINTKRB_RECORD_MAX {
			text := sprint(msg, reserveSize, facility, &flags)
			l.resize(last, len(last.Text)+len(text))
			last = &l.recs[len(l.recs)-1] // resize may have moved recs
			last.Text += text
			if flags&LOG_NEWLINE != 0 {
				last.Flags |= LOG_NEWLINE
				l.finalize()
			}
			return len(text)
		}
	}

	// prb_reserve finalizes the previous record before reserving a new one.
	if l.open {
		l.finalize()
	}
	text := sprint(msg, reserveSize, facility, &flags)
	l.makeRoom(dataSize(len(text)), true)
	l.recs = append(l.recs, Record{
		Seq:      l.nextSeq,
		TimeNS:   now,
		Level:    level & 7,
		Facility: facility,
		Flags:    flags & 0x1f,
		Caller:   caller,
		Text:     text,
	})
	l.nextSeq++
	l.used += dataSize(len(text))
	l.open = true
	if flags&LOG_NEWLINE != 0 {
		l.finalize()
	}
	return len(text)
}

// sprint is printk_sprint: it cuts msg to the reserved size, strips and
// records a trailing newline, and strips the level prefixes of kernel
// messages.
func sprint(msg string, reserveSize, facility int, flags *Flags) string {
	text := msg[:reserveSize-1]
	if n := len(text); n > 0 && text[n-1] == '\n' {
		text = text[:n-1]
		*flags |= LOG_NEWLINE
	}
	if facility == FacilityKern {
		text = text[parsePrefix(text, nil, nil):]
	}
	return text
}

// dataSize is the data ring space a record with textLen bytes of text
// takes (to_blk_size); a record without text takes none.
func dataSize(textLen int) int {
	if textLen == 0 {
		return 0
	}
	return (textLen + blkIDSize + blkIDSize - 1) &^ (blkIDSize - 1)
}

// live returns the number of records in the ring.
func (l *Log) live() int { return len(l.recs) - l.head }

// makeRoom drops the oldest records until size more bytes of data and, if
// desc, one more descriptor fit. The newest record is never dropped.
func (l *Log) makeRoom(size int, desc bool) {
	keep := 0
	if !desc {
		keep = 1 // growing the newest record in place
	}
	extra := 0
	if desc {
		extra = 1
	}
	for l.live() > keep && (l.used+size > l.bufLen || l.live()+extra > l.maxDescs) {
		l.used -= dataSize(len(l.recs[l.head].Text))
		l.recs[l.head] = Record{}
		l.head++
	}
	// Compact once the dropped prefix dominates, so memory stays bounded.
	if l.head > 64 && l.head*2 > len(l.recs) {
		n := copy(l.recs, l.recs[l.head:])
		clear(l.recs[n:])
		l.recs = l.recs[:n]
		l.head = 0
	}
}

// resize accounts for the newest record growing to newLen bytes of text.
func (l *Log) resize(last *Record, newLen int) {
	delta := dataSize(newLen) - dataSize(len(last.Text))
	l.makeRoom(delta, false)
	l.used += delta
}

// finalize closes the open record: it can no longer be extended and
// becomes visible to readers and the console (desc_make_final).
func (l *Log) finalize() {
	l.open = false
	r := &l.recs[len(l.recs)-1]
	if l.console != nil && r.Level < l.consoleLoglevel {
		io.WriteString(l.console, consoleText(r))
	}
}

// consoleText formats a record for a (non-extended) console, as
// record_print_text does with printk_time on: the time prefix before every
// line and a final newline.
func consoleText(r *Record) string {
	prefix := timePrefix(r.TimeNS)
	b := make([]byte, 0, len(prefix)+len(r.Text)+1)
	b = append(b, prefix...)
	for i := 0; i < len(r.Text); i++ {
		b = append(b, r.Text[i])
		if r.Text[i] == '\n' {
			b = append(b, prefix...)
		}
	}
	return string(append(b, '\n'))
}

// timePrefix is print_time plus the separating space: "[%5lu.%06lu] ".
func timePrefix(ns uint64) string {
	return "[" + formatTime(ns/1000) + "] "
}

// formatTime formats microseconds as "%5lu.%06lu" seconds, the format of
// both the kernel's print_time and dmesg's default timestamp.
func formatTime(usec uint64) string {
	sec := strconv.FormatUint(usec/1000000, 10)
	frac := strconv.FormatUint(usec%1000000, 10)
	b := make([]byte, 0, 16)
	for i := len(sec); i < 5; i++ {
		b = append(b, ' ')
	}
	b = append(b, sec...)
	b = append(b, '.')
	for i := len(frac); i < 6; i++ {
		b = append(b, '0')
	}
	b = append(b, frac...)
	return string(b)
}

// readable returns the records readers can see, from seq on: every live
// record except an open one. Preconditions: l.mu is held.
func (l *Log) readable(from uint64) []Record {
	recs := l.recs[l.head:]
	if l.open {
		recs = recs[:len(recs)-1]
	}
	if len(recs) == 0 || from <= recs[0].Seq {
		return recs
	}
	skip := from - recs[0].Seq
	if skip >= uint64(len(recs)) {
		return nil
	}
	return recs[skip:]
}

// Records returns a copy of every record a reader can see now, oldest
// first, regardless of Clear (what /dev/kmsg opened with SEEK_SET reads).
func (l *Log) Records() []Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Record(nil), l.readable(0)...)
}

// FirstSeq returns the sequence number of the oldest record still in the
// ring (prb_first_valid_seq), or NextSeq if the ring is empty.
func (l *Log) FirstSeq() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.firstSeq()
}

func (l *Log) firstSeq() uint64 {
	if l.live() == 0 {
		return l.nextSeq
	}
	return l.recs[l.head].Seq
}

// NextSeq returns the sequence number the next readable record will have
// (prb_next_seq): an open record's seq while it is open.
func (l *Log) NextSeq() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nextReadableSeq()
}

func (l *Log) nextReadableSeq() uint64 {
	if l.open {
		return l.nextSeq - 1
	}
	return l.nextSeq
}

// Clear is SYSLOG_ACTION_CLEAR (`dmesg -C`): later Dmesg calls start after
// the records readable now. Nothing is deleted; /dev/kmsg readers still see
// every record and the sequence numbers keep counting.
func (l *Log) Clear() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.clearSeq = l.nextReadableSeq()
}

// WriteState writes the ring's contents and counters to w, for a machine
// state hash: every live record and what decides which records come next
// and which are dropped.
func (l *Log) WriteState(w io.Writer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(w, "printk %d %d %t %d %d %d %d %d\n", l.head, l.nextSeq, l.open, l.used, l.bufLen, l.clearSeq, l.consoleLoglevel, l.defaultMessageLoglevel)
	for _, r := range l.recs[l.head:] {
		fmt.Fprintf(w, "%d %d %d %d %d %q %q\n", r.Seq, r.TimeNS, r.Level, r.Facility, r.Flags, r.Caller, r.Text)
	}
}
