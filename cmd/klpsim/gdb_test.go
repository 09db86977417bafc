package main

import (
	"bufio"
	"bytes"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestGDBDetachSameTranscript: klpsim run --gdb and klpsim debug --gdb
// wait for gdb, and after gdb detaches the scenario runs to its end with
// the transcript and exit status of a plain klpsim run.
func TestGDBDetachSameTranscript(t *testing.T) {
	gdb, err := exec.LookPath("gdb")
	if err != nil {
		t.Skip("gdb is not installed (Debian: apt-get install gdb): the tests against the real gdb are skipped")
	}
	const scn = "../../scenarios/teach/01-sleeping-task.scn"
	var want bytes.Buffer
	wantCode := run([]string{"run", scn}, &want, io.Discard)
	for _, cmd := range []string{"run", "debug"} {
		t.Run(cmd, func(t *testing.T) {
			pr, pw := io.Pipe()
			var out bytes.Buffer
			done := make(chan int, 1)
			go func() {
				done <- run([]string{cmd, "--gdb", "127.0.0.1:0", scn}, &out, pw)
				pw.Close()
			}()
			sc := bufio.NewScanner(pr)
			var addr string
			for addr == "" && sc.Scan() {
				if m := regexp.MustCompile(`^waiting for gdb on (\S+)`).FindStringSubmatch(sc.Text()); m != nil {
					addr = m[1]
				}
			}
			var log strings.Builder
			logged := make(chan struct{})
			go func() {
				for sc.Scan() {
					log.WriteString(sc.Text() + "\n")
				}
				close(logged)
			}()
			if addr == "" {
				t.Fatalf("klpsim %s --gdb did not say where it waits", cmd)
			}
			g, err := exec.Command(gdb, "-nx", "-batch", "-ex", "target remote "+addr, "-ex", "info threads", "-ex", "stepi 3", "-ex", "detach").CombinedOutput()
			if err != nil {
				t.Fatalf("gdb: %v\n%s", err, g)
			}
			code := <-done
			<-logged
			if !strings.Contains(string(g), "kworker/1:0 pid 4") || !strings.Contains(string(g), "detached") {
				t.Errorf("gdb's session:\n%s", g)
			}
			if code != wantCode || out.String() != want.String() {
				t.Errorf("status %d, transcript:\n%s\nwant status %d and klpsim run's:\n%s", code, out.String(), wantCode, want.String())
			}
			if !strings.Contains(log.String(), "gdb detached; the machine runs to the end") {
				t.Errorf("stub's messages:\n%s", log.String())
			}
		})
	}
}
