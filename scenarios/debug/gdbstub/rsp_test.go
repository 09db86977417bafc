package gdbstub

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// rw is a connection whose input is fixed and whose output is recorded.
type rw struct {
	in  *strings.Reader
	out bytes.Buffer
}

func (c *rw) Read(p []byte) (int, error)  { return c.in.Read(p) }
func (c *rw) Write(p []byte) (int, error) { return c.out.Write(p) }

func TestReadFrame(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		noAck    bool
		want     []string // payloads; "^C" an interrupt
		wantOut  string   // what the stub wrote back
		wantErr  error
	}{
		{name: "one packet acked", in: "$g#67", want: []string{"g"}, wantOut: "+", wantErr: io.EOF},
		{name: "acks and noise skipped", in: "++x$?#3f", want: []string{"?"}, wantOut: "+", wantErr: io.EOF},
		{name: "bad checksum nacked then resent", in: "$g#00$g#67", want: []string{"g"}, wantOut: "-+", wantErr: io.EOF},
		{name: "not hex checksum", in: "$g#zz$g#67", want: []string{"g"}, wantOut: "-+", wantErr: io.EOF},
		{name: "upper-case checksum", in: "$m0,1#FA", want: []string{"m0,1"}, wantOut: "+", wantErr: io.EOF},
		{name: "interrupt between packets", in: "\x03$g#67", want: []string{"^C", "g"}, wantOut: "+", wantErr: io.EOF},
		{name: "no-ack mode writes nothing", in: "$g#67$g#00", noAck: true, want: []string{"g"}, wantErr: io.EOF},
		{name: "restart on $ inside a packet", in: "$m0$g#67", want: []string{"g"}, wantOut: "+", wantErr: io.EOF},
		{name: "cut-off packet", in: "$g", wantErr: io.EOF},
		{name: "cut-off checksum", in: "$g#6", wantErr: io.ErrUnexpectedEOF},
		{name: "too long", in: "$" + strings.Repeat("a", MaxPacket+1) + "#00", wantErr: ErrTooLong},
		{name: "longest accepted", in: "$" + strings.Repeat("0", MaxPacket) + "#00", want: []string{strings.Repeat("0", MaxPacket)}, wantOut: "+", wantErr: io.EOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &rw{in: strings.NewReader(tc.in)}
			cn := newConn(c)
			cn.noAck.Store(tc.noAck)
			var got []string
			var err error
			for {
				var f frame
				f, err = cn.readFrame()
				if err != nil {
					break
				}
				if f.interrupt {
					got = append(got, "^C")
				} else {
					got = append(got, string(f.payload))
				}
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("payloads %q, want %q", got, tc.want)
			}
			if c.out.String() != tc.wantOut {
				t.Errorf("wrote %q, want %q", c.out.String(), tc.wantOut)
			}
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestWritePacketEscapesAndResends(t *testing.T) {
	c := &rw{in: strings.NewReader("-")}
	cn := newConn(c)
	if err := cn.writePacket([]byte("a$b#c}d*e")); err != nil {
		t.Fatal(err)
	}
	want := "$a}\x04b}\x03c}]d}\x0ae#" // escaped bytes xor 0x20
	sum := checksum([]byte(want[1 : len(want)-1]))
	want += string([]byte{hexDigits[sum>>4], hexDigits[sum&15]})
	if c.out.String() != want {
		t.Fatalf("wrote %q, want %q", c.out.String(), want)
	}
	// A '-' from gdb resends it.
	if _, err := cn.readFrame(); err != io.EOF {
		t.Fatalf("readFrame: %v", err)
	}
	if c.out.String() != want+want {
		t.Fatalf("after '-': %q, want the packet twice", c.out.String())
	}
	// What was written reads back as the payload.
	back := newConn(&rw{in: strings.NewReader(want)})
	f, err := back.readFrame()
	if err != nil {
		t.Fatal(err)
	}
	if un, err := unescape(f.payload); err != nil || string(un) != "a$b#c}d*e" {
		t.Fatalf("read back %q (%v)", un, err)
	}
}

func TestUnescapeAndHex(t *testing.T) {
	if _, err := unescape([]byte("ab}")); err == nil {
		t.Error("unescape of a trailing escape: no error")
	}
	if b, err := unescape([]byte("}]x")); err != nil || string(b) != "}x" {
		t.Errorf("unescape: %q, %v", b, err)
	}
	for _, bad := range []string{"0", "0g", "zz"} {
		if _, err := decodeHex([]byte(bad)); err == nil {
			t.Errorf("decodeHex(%q): no error", bad)
		}
	}
	if b, err := decodeHex([]byte("00fFa5")); err != nil || !bytes.Equal(b, []byte{0, 0xff, 0xa5}) {
		t.Errorf("decodeHex: %x, %v", b, err)
	}
}

// FuzzReadFrame: any byte stream gives packets no longer than MaxPacket,
// or an error, and never a panic.
func FuzzReadFrame(f *testing.F) {
	for _, s := range []string{"$g#67", "\x03", "$g#00", "$}", "$X0,1:}#", "+-$qSupported:xmlRegisters=i386#6a", "$" + strings.Repeat("9", 100)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c := &rw{in: strings.NewReader(string(in))}
		cn := newConn(c)
		for i := 0; i < len(in)+1; i++ {
			fr, err := cn.readFrame()
			if err != nil {
				return
			}
			if len(fr.payload) > MaxPacket {
				t.Fatalf("payload of %d bytes", len(fr.payload))
			}
			_, _ = unescape(fr.payload)
		}
	})
}
