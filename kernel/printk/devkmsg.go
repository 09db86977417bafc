package printk

import (
	"strconv"
	"strings"

	"klpsim/kernel/errno"
)

// WriteKmsg is a write(2) to /dev/kmsg (devkmsg_write): data becomes one
// record. An optional "<N>" prefix sets the level (N & 7) and, when
// N >> 3 is not 0, the facility ((N >> 3) & 0xff); without one the record
// gets default_message_loglevel and FacilityUser. A prefix that is not "<",
// decimal digits, ">" is kept as text; "<>" reads as <0>. The text stops at
// the first NUL byte (the kernel prints the buffer with "%s") and a trailing
// newline is stripped; KERN_ prefixes in it are not interpreted.
//
// It returns len(data), or errno.EINVAL for a write longer than
// PRINTKRB_RECORD_MAX. klpsim does not ratelimit /dev/kmsg writes (Linux
// limits each open file to a burst of 10 every 5 s unless printk.devkmsg=on;
// a shell's `echo > /dev/kmsg` opens the file anew each time). The record's
// Caller is "".
func (l *Log) WriteKmsg(now uint64, data []byte) (int, error) {
	if len(data) > PRINTKRB_RECORD_MAX {
		return 0, errno.EINVAL
	}
	level, facility, line := parseKmsgPrefix(data)
	if i := strings.IndexByte(line, 0); i >= 0 {
		line = line[:i]
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if level < 0 {
		level = l.defaultMessageLoglevel
	}
	l.store(now, facility, level, "", line)
	return len(data), nil
}

// parseKmsgPrefix splits the syslog prefix "<N>" off a /dev/kmsg write. It
// returns level -1 when there is no valid prefix (the caller substitutes
// default_message_loglevel), the facility, and the remaining text.
//
// devkmsg_write parses N with simple_strtoul: base 10, no sign, no leading
// spaces, overflow wrapping silently; the value is then truncated to 32 bits.
func parseKmsgPrefix(data []byte) (level, facility int, line string) {
	s := string(data)
	if len(s) == 0 || s[0] != '<' {
		return -1, FacilityUser, s
	}
	var v uint64
	i := 1
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		v = v*10 + uint64(s[i]-'0')
	}
	if i >= len(s) || s[i] != '>' {
		return -1, FacilityUser, s
	}
	u := uint32(v)
	facility = FacilityUser
	if f := int(u >> 3 & 0xff); f != 0 {
		facility = f
	}
	return int(u & 7), facility, s[i+1:]
}

// FormatKmsg renders a record the way a read(2) of /dev/kmsg returns it
// (info_print_ext_header + msg_print_ext_body), without CONFIG_PRINTK_CALLER:
//
//	<facility<<3|level>,<seq>,<timestamp in µs>,<'c' if LOG_CONT else '-'>;<text>\n
//
// Bytes below ' ', from 127 up, and '\\' in the text are escaped as \xNN.
func FormatKmsg(r Record) string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(r.Facility<<3 | r.Level))
	b.WriteByte(',')
	b.WriteString(strconv.FormatUint(r.Seq, 10))
	b.WriteByte(',')
	b.WriteString(strconv.FormatUint(r.TimeNS/1000, 10))
	if r.Flags&LOG_CONT != 0 {
		b.WriteString(",c;")
	} else {
		b.WriteString(",-;")
	}
	const hex = "0123456789abcdef"
	for i := 0; i < len(r.Text); i++ {
		c := r.Text[i]
		if c < ' ' || c >= 127 || c == '\\' {
			b.WriteString(`\x`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		} else {
			b.WriteByte(c)
		}
	}
	b.WriteByte('\n')
	return b.String()
}

// Kmsg is an open /dev/kmsg file descriptor used for reading (struct
// devkmsg_user): it remembers the sequence number of the next record to
// return. Like a file offset, a Kmsg is meant for one reader at a time.
type Kmsg struct {
	log *Log
	seq uint64
}

// OpenKmsg opens /dev/kmsg for reading, positioned at the oldest record in
// the ring (devkmsg_open).
func (l *Log) OpenKmsg() *Kmsg {
	return &Kmsg{log: l, seq: l.FirstSeq()}
}

// Read returns the next record in FormatKmsg form (devkmsg_read with
// O_NONBLOCK). It fails with errno.EAGAIN when no further record is
// readable yet, and with errno.EPIPE when the next record was overwritten
// — after which the file is positioned at the oldest record left, as in
// Linux.
func (k *Kmsg) Read() (string, error) {
	k.log.mu.Lock()
	defer k.log.mu.Unlock()
	recs := k.log.readable(k.seq)
	if len(recs) == 0 {
		return "", errno.EAGAIN
	}
	if recs[0].Seq != k.seq {
		k.seq = recs[0].Seq
		return "", errno.EPIPE
	}
	k.seq++
	return FormatKmsg(recs[0]), nil
}

// SeekSet positions the file at the oldest record (lseek SEEK_SET).
func (k *Kmsg) SeekSet() { k.seq = k.log.FirstSeq() }

// SeekData positions the file at the first record after the last Clear
// (lseek SEEK_DATA), which is where dmesg starts reading.
func (k *Kmsg) SeekData() {
	k.log.mu.Lock()
	defer k.log.mu.Unlock()
	k.seq = k.log.clearSeq
}

// SeekEnd positions the file after the last readable record (lseek
// SEEK_END), so that Read returns only new records.
func (k *Kmsg) SeekEnd() { k.seq = k.log.NextSeq() }
