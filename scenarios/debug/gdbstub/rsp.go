// Package gdbstub serves the GDB Remote Serial Protocol on top of a
// scenarios/debug Session, so that GNU gdb (`target remote`) debugs the
// emulated machine: every guest task is a thread, breakpoints are the
// emulator's breakpoint bit, and reverse execution is the Session's.
//
// rsp.go is the packet layer: framing, checksums, acknowledgements and
// no-ack mode, binary escapes, and the packet size limit.
package gdbstub

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// MaxPacket is the largest packet payload the stub accepts, and the
// PacketSize it announces in qSupported: a longer one closes the
// connection (gdb never sends one once told the size).
const MaxPacket = 0x4000

// interruptByte is what gdb sends, unframed, for Ctrl-C.
const interruptByte = 0x03

// ErrTooLong is a packet over MaxPacket.
var ErrTooLong = fmt.Errorf("gdb packet longer than %d bytes", MaxPacket)

// A frame is one thing read from the client: a packet's payload, or an
// interrupt (Ctrl-C).
type frame struct {
	payload   []byte
	interrupt bool
}

// conn is one client's byte stream with the protocol's framing. One
// goroutine reads (readFrame, which also writes acks) while another
// writes packets: wmu orders the writes.
type conn struct {
	r     *bufio.Reader
	w     io.Writer
	noAck atomic.Bool // QStartNoAckMode accepted: no '+'/'-' either way
	wmu   sync.Mutex
	last  []byte // the last packet sent, for a '-' (resend); under wmu
}

// write sends raw bytes.
func (c *conn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.w.Write(b)
	return err
}

func newConn(rw io.ReadWriter) *conn {
	return &conn{r: bufio.NewReaderSize(rw, MaxPacket+16), w: rw}
}

// readFrame reads the next packet or interrupt. A packet with a bad
// checksum is answered '-' (gdb sends it again) and skipped; in no-ack
// mode it is dropped. Acks from the client ('+') are consumed; a '-'
// resends the last packet. An error ends the connection.
func (c *conn) readFrame() (frame, error) {
	for {
		b, err := c.r.ReadByte()
		if err != nil {
			return frame{}, err
		}
		switch b {
		case '+':
			continue
		case '-':
			c.wmu.Lock()
			var err error
			if c.last != nil && !c.noAck.Load() {
				_, err = c.w.Write(c.last)
			}
			c.wmu.Unlock()
			if err != nil {
				return frame{}, err
			}
			continue
		case interruptByte:
			return frame{interrupt: true}, nil
		case '$':
		default:
			continue // line noise between packets
		}
		payload, sum, err := c.readBody()
		if err != nil {
			return frame{}, err
		}
		if checksum(payload) != sum {
			if !c.noAck.Load() {
				if err := c.write([]byte{'-'}); err != nil {
					return frame{}, err
				}
			}
			continue
		}
		if !c.noAck.Load() {
			if err := c.write([]byte{'+'}); err != nil {
				return frame{}, err
			}
		}
		return frame{payload: payload}, nil
	}
}

// readBody reads a packet after its '$': the payload up to '#' (an
// escaped '#' is "}\x03", so a raw '#' always ends it) and the two hex
// digits of the checksum.
func (c *conn) readBody() ([]byte, byte, error) {
	var p []byte
	for {
		b, err := c.r.ReadByte()
		if err != nil {
			return nil, 0, err
		}
		if b == '#' {
			break
		}
		if b == '$' {
			p = p[:0] // a new packet began: the old one was cut off
			continue
		}
		if len(p) >= MaxPacket {
			return nil, 0, ErrTooLong
		}
		p = append(p, b)
	}
	var hx [2]byte
	if _, err := io.ReadFull(c.r, hx[:]); err != nil {
		return nil, 0, err
	}
	hi, ok1 := unhex(hx[0])
	lo, ok2 := unhex(hx[1])
	if !ok1 || !ok2 {
		// Not a checksum: never equal to a sum, so answered '-'.
		return p, checksum(p) + 1, nil
	}
	return p, hi<<4 | lo, nil
}

// writePacket sends a payload as "$payload#xx", escaping the bytes the
// framing reserves ('$', '#', '}', and '*' which would read as a run
// length).
func (c *conn) writePacket(payload []byte) error {
	out := make([]byte, 0, len(payload)+8)
	out = append(out, '$')
	var sum byte
	for _, b := range payload {
		if b == '$' || b == '#' || b == '}' || b == '*' {
			out = append(out, '}')
			sum += '}'
			b ^= 0x20
		}
		out = append(out, b)
		sum += b
	}
	out = append(out, '#', hexDigits[sum>>4], hexDigits[sum&15])
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.last = out
	_, err := c.w.Write(out)
	return err
}

func checksum(p []byte) byte {
	var s byte
	for _, b := range p {
		s += b
	}
	return s
}

const hexDigits = "0123456789abcdef"

func unhex(b byte) (byte, bool) {
	switch {
	case b >= '0' && b <= '9':
		return b - '0', true
	case b >= 'a' && b <= 'f':
		return b - 'a' + 10, true
	case b >= 'A' && b <= 'F':
		return b - 'A' + 10, true
	}
	return 0, false
}

// unescape decodes a binary payload's escapes ("}" then the byte xor
// 0x20), as X packets carry them.
func unescape(p []byte) ([]byte, error) {
	out := make([]byte, 0, len(p))
	for i := 0; i < len(p); i++ {
		b := p[i]
		if b == '}' {
			i++
			if i == len(p) {
				return nil, errors.New("binary data ends in an escape")
			}
			b = p[i] ^ 0x20
		}
		out = append(out, b)
	}
	return out, nil
}

// decodeHex is a hex string's bytes.
func decodeHex(s []byte) ([]byte, error) {
	if len(s)%2 != 0 {
		return nil, errors.New("odd number of hex digits")
	}
	out := make([]byte, len(s)/2)
	for i := range out {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%q is not hex", s[2*i:2*i+2])
		}
		out[i] = hi<<4 | lo
	}
	return out, nil
}

// appendHex appends b as hex digits.
func appendHex(dst, b []byte) []byte {
	for _, x := range b {
		dst = append(dst, hexDigits[x>>4], hexDigits[x&15])
	}
	return dst
}
