package main

import (
	"strings"
	"testing"
)

// klpsim serve warns, once and loudly, when it listens beyond loopback.
func TestServeListenWarns(t *testing.T) {
	for _, c := range []struct {
		addr string
		warn bool
	}{{"127.0.0.1:0", false}, {"[::1]:0", false}, {"0.0.0.0:0", true}} {
		var stderr strings.Builder
		ln, err := listen(c.addr, &stderr)
		if err != nil {
			t.Logf("%s: %v (skipped: no such address here)", c.addr, err)
			continue
		}
		ln.Close()
		if got := strings.Contains(stderr.String(), "WARNING: listening on") && strings.Contains(stderr.String(), "NOT loopback"); got != c.warn {
			t.Errorf("%s: warning %v, want %v: %q", c.addr, got, c.warn, stderr.String())
		}
	}
}
