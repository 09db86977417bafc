package timeline

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chromium finds the browser, or skips the test saying why.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH (Debian: apt-get install -y chromium; .ci/run installs it): the browser test of the timeline page is skipped")
	return ""
}

// headless runs the browser on url with one of --dump-dom or
// --screenshot=FILE and returns its standard output.
func headless(t *testing.T, bin, url string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	all := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--no-first-run", "--user-data-dir=" + t.TempDir(), "--window-size=1280,720"}, args...)
	cmd := exec.CommandContext(ctx, bin, append(all, url)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// TestChromium opens teach/01's page in a real browser: the script ran
// (the view line and the time axis are its work), the kworker's lane is
// there with its blocked markers and their tooltips, and a range in the
// address zooms the picture. Screenshots of both stay in the test's
// artifact directory (go test -artifacts keeps them).
func TestChromium(t *testing.T) {
	bin := chromium(t)
	evs, _ := record(t, teach01)
	dir := t.ArtifactDir()
	page := filepath.Join(dir, "teach01.html")
	f, err := os.Create(page)
	if err != nil {
		t.Fatal(err)
	}
	pics := Build(evs)
	if err := WriteHTML(f, teach01, pics); err != nil {
		t.Fatal(err)
	}
	f.Close()
	url := "file://" + page
	var kworker int
	var firstBlock uint64
	blockedAt := map[uint64]bool{}
	for _, e := range evs {
		if e.Kind == "blocked" && e.Func == "teach_sleep_fn" {
			if kworker == 0 {
				firstBlock = e.TimeNS
			}
			kworker = e.PID
			blockedAt[e.TimeNS] = true
		}
	}

	dom := headless(t, bin, url, "--dump-dom")
	if !regexp.MustCompile(`<span class="view">view 0\.000000s to [0-9.]+s</span>`).MatchString(dom) {
		t.Errorf("the script did not run: no view line in the DOM")
	}
	if !strings.Contains(dom, `<g class="axis"><line`) {
		t.Errorf("the script did not draw the time axis")
	}
	lane := regexp.MustCompile(`(?s)<g class="lane" id="p1-lane` + strconv.Itoa(kworker) + `".*?</g>\n?</g>|(?s)<g class="lane" id="p1-lane` + strconv.Itoa(kworker) + `".*?\n<g class="lane"`).FindString(dom)
	if lane == "" {
		t.Fatalf("no lane for the kworker (pid %d) in the DOM", kworker)
	}
	if !strings.Contains(lane, ">kworker/1:0 "+strconv.Itoa(kworker)+"<") {
		t.Errorf("the kworker's lane is not named kworker/1:0 %d", kworker)
	}
	if n := strings.Count(lane, `class="mk k-blocked"`); n != 4 {
		t.Errorf("%d blocked markers on the kworker's lane, want 4", n)
	}
	if !strings.Contains(lane, "kworker/1:0:"+strconv.Itoa(kworker)+" blocked: sleeping-on-function on function teach_sleep_fn\nschedule+0x11/0x13") {
		t.Errorf("no blocked tooltip with the function and the stack in the kworker's lane")
	}
	shot := filepath.Join(dir, "teach01.png")
	headless(t, bin, url, "--screenshot="+shot)
	if st, err := os.Stat(shot); err != nil || st.Size() < 1000 {
		t.Errorf("no screenshot: %v", err)
	}

	// Zoom: 100 ms around the first attempt.
	from, to := firstBlock, firstBlock+100_000_000
	zoomURL := url + "#" + strconv.FormatUint(from, 10) + "," + strconv.FormatUint(to, 10)
	dom = headless(t, bin, zoomURL, "--dump-dom")
	m := regexp.MustCompile(`<svg id="p1"[^>]*data-v0="([0-9.]+)" data-v1="([0-9.]+)"`).FindStringSubmatch(dom)
	if m == nil || m[1] != strconv.FormatUint(from, 10) || m[2] != strconv.FormatUint(to, 10) {
		t.Fatalf("the view after #%d,%d: %v", from, to, m)
	}
	// The first blocked marker now sits at the plot's left edge; the
	// later ones, a second apart, are off the view.
	marks := regexp.MustCompile(`<g class="mk k-blocked" data-t="(\d+)" transform="translate\(([-0-9.]+),0\)"( style="display: none;")?`).FindAllStringSubmatch(dom, -1)
	n := 0
	for _, mk := range marks {
		at, _ := strconv.ParseUint(mk[1], 10, 64)
		if !blockedAt[at] {
			continue // another task's
		}
		n++
		x, _ := strconv.ParseFloat(mk[2], 64)
		want := labelW + (float64(at)-float64(from))/float64(to-from)*plotW
		if math.Abs(x-want) > 0.06 {
			t.Errorf("marker at %d ns: x %.1f in the zoomed view, want %.1f", at, x, want)
		}
		if hidden := mk[3] != ""; hidden != (at > to) {
			t.Errorf("marker at %d ns: hidden %v in a view ending at %d", at, hidden, to)
		}
	}
	if n < 4 {
		t.Errorf("%d of the kworker's blocked markers after zooming, want 4", n)
	}
	headless(t, bin, zoomURL, "--screenshot="+filepath.Join(dir, "teach01-zoom.png"))
}
