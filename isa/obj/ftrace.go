package obj

import "fmt"

// Nop5 is the 5-byte NOP at every patchable function entry ("nopl
// 0x0(%rax,%rax,1)"), what gcc -mfentry -mnop-mcount emits. It is exactly as
// long as CallRel32's output, so ftrace can swap the two with one text poke.
var Nop5 = [5]byte{0x0f, 0x1f, 0x44, 0x00, 0x00}

// CallRel32 encodes "call to" placed at address from: e8 followed by the
// little-endian displacement to relative to from+5. It fails when the
// displacement does not fit in a signed 32-bit field, which a kernel must
// report rather than silently truncate.
func CallRel32(from, to uint64) ([5]byte, error) {
	disp := int64(to - (from + 5))
	if disp != int64(int32(disp)) {
		return [5]byte{}, fmt.Errorf("call from %#x to %#x: displacement %#x does not fit in rel32", from, to, disp)
	}
	d := uint32(int32(disp))
	return [5]byte{0xe8, byte(d), byte(d >> 8), byte(d >> 16), byte(d >> 24)}, nil
}
