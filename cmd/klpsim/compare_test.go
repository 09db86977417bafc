package main

import (
	"fmt"
	"testing"
)

// FuzzParseSeedRange: any --seeds value is a range A <= B that prints back
// as the digits it came from, or rejected; never a panic.
func FuzzParseSeedRange(f *testing.F) {
	for _, s := range []string{"1..10", "0..0", "5..1", "..", "1..", "18446744073709551615..18446744073709551615", "1...2", "-1..2", "1..2..3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, b, ok := parseSeedRange(s)
		if !ok {
			return
		}
		if a > b {
			t.Fatalf("%q: accepted %d..%d, a range going down", s, a, b)
		}
		if back := fmt.Sprintf("%d..%d", a, b); back != s && len(s) <= len(back) {
			t.Fatalf("%q read as %s", s, back)
		}
	})
}
