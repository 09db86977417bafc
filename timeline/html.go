package timeline

import (
	"bufio"
	_ "embed"
	"fmt"
	"html"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// The picture: an HTML page with one inline SVG per test and a little
// JavaScript (zoom, pan, grouping) that needs nothing but the page.

//go:embed timeline.js
var script string

//go:embed timeline.css
var style string

// Geometry of the SVG, in pixels.
const (
	svgW     = 1200
	labelW   = 180
	plotW    = svgW - labelW - 20
	rulerH   = 30
	rowH     = 14 // a patch band, the global markers
	stepH    = 40
	laneH    = 16
	headerH  = 14
	stepsMax = 1 // scale of the step line is its own maximum
)

// WriteHTML writes the page of one scenario's pictures.
func WriteHTML(w io.Writer, scenario string, pics []*Picture) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>klpsim timeline: %s</title>\n<style>\n%s</style>\n</head><body>\n",
		html.EscapeString(scenario), style)
	fmt.Fprintf(bw, "<h1>%s</h1>\n", html.EscapeString(scenario))
	writeSections(bw, pics)
	fmt.Fprintf(bw, "<script>\n%s</script>\n</body></html>\n", script)
	return bw.Flush()
}

// WriteSections writes what WriteHTML puts in its page's body, the
// legend and a section per picture, for a page of its own that shows the
// pictures among other things (klpsim serve). The page needs Style, and
// Script run after the sections are in its document.
func WriteSections(w io.Writer, pics []*Picture) error {
	bw := bufio.NewWriter(w)
	writeSections(bw, pics)
	return bw.Flush()
}

// Style is the pictures' CSS.
func Style() string { return style }

// Script is the pictures' JavaScript (zoom, pan, lane grouping); it
// binds every svg.tl of the document when it runs.
func Script() string { return script }

func writeSections(bw *bufio.Writer, pics []*Picture) {
	writeLegend(bw, pics)
	for i, p := range pics {
		title := p.Test
		if title == "" {
			title = "(before the first test)"
		}
		fmt.Fprintf(bw, "<section class=\"pic\" id=\"pic%d\">\n<h2>%s</h2>\n", i+1, html.EscapeString(title))
		if p.Failed != "" {
			fmt.Fprintf(bw, "<p class=\"failed\">The scenario failed here: %s</p>\n", html.EscapeString(p.Failed))
		}
		bw.WriteString("<div class=\"controls\"><button data-act=\"in\">zoom in</button> <button data-act=\"out\">zoom out</button> <button data-act=\"reset\">whole test</button> group lanes by <label><input type=\"radio\" name=\"g" + strconv.Itoa(i+1) + "\" value=\"cpu\" checked> CPU</label> <label><input type=\"radio\" name=\"g" + strconv.Itoa(i+1) + "\" value=\"proc\"> process</label> <span class=\"view\"></span></div>\n")
		writeSVG(bw, p, fmt.Sprintf("p%d", i+1), false)
		bw.WriteString("</section>\n")
	}
}

func writeLegend(w *bufio.Writer, pics []*Picture) {
	folded := 0
	for _, p := range pics {
		folded = max(folded, p.Folded)
	}
	w.WriteString(`<details class="legend" open><summary>Legend</summary><ul>
<li><span class="sw st-running"></span> running <span class="sw st-idle"></span> idle loop <span class="sw st-runnable"></span> runnable (waiting for its CPU) <span class="sw st-sleeping"></span> sleeping; time runs left to right, in simulated time</li>
<li>patch_state band under each lane: <span class="sw ps-unpatched"></span> unpatched <span class="sw ps-patched"></span> patched <span class="sw ps-pending-patched"></span> TIF_PATCH_PENDING, to be patched <span class="sw ps-pending-unpatched"></span> TIF_PATCH_PENDING, to be unpatched</li>
<li>markers: <svg class="key" width="12" height="12"><path class="m-switched" d="M6 2 L11 11 L1 11 Z"/></svg> switched (hover: how — stack check, exit to user, idle, cond_resched, signal, force) <svg class="key" width="12" height="12"><rect class="m-blocked" x="2" y="2" width="8" height="8"/></svg> blocked (hover: why, the function, the stack) <svg class="key" width="12" height="12"><path class="m-signal" d="M6 1 L11 6 L6 11 L1 6 Z"/></svg> fake signal <svg class="key" width="12" height="12"><circle class="m-violation" cx="6" cy="6" r="5"/></svg> consistency violation; the row above the lanes: transition start/complete, force, reverse, modules, callbacks</li>
<li>patch bands: <span class="sw pb-enabling"></span> enabling <span class="sw pb-transition"></span> in transition <span class="sw pb-enabled"></span> enabled <span class="sw pb-disabling"></span> disabling; the step line counts the tasks still to switch</li>
<li>the ruler on top: the scenario's commands (hover for the line); zoom with the wheel or the buttons, drag to pan, #FROM,TO in the address (ns) opens a range</li>
`)
	fmt.Fprintf(w, "<li>with more than %d tasks, those whose only events are ordinary switches (stack check, exit to user) are folded into one lane per parent, named \"N tasks of pid P\"; their switches at one instant are one marker ×N%s</li>\n",
		MaxLanes, map[bool]string{true: fmt.Sprintf(" (here: %d tasks folded)", folded), false: ""}[folded > 0])
	w.WriteString("</ul></details>\n")
}

// xOf is the x of time t in the picture's initial (whole) view.
func xOf(p *Picture, t uint64) float64 {
	return labelW + float64(t-p.Start)/float64(p.End-p.Start)*plotW
}

func f1(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) }

// WriteSVG writes one picture as a standalone SVG file (its style inside,
// no script): the static picture docs embed.
func WriteSVG(w io.Writer, p *Picture) error {
	bw := bufio.NewWriter(w)
	writeSVG(bw, p, "p1", true)
	return bw.Flush()
}

func writeSVG(w *bufio.Writer, p *Picture, id string, standalone bool) {
	// Two layouts: lanes grouped by CPU, or by parent (process).
	type group struct {
		key   int
		name  string
		lanes []*Lane
	}
	layout := func(key func(*Lane) (int, string)) []*group {
		m := map[int]*group{}
		var gs []*group
		for _, l := range p.Lanes {
			k, name := key(l)
			g := m[k]
			if g == nil {
				g = &group{key: k, name: name}
				m[k] = g
				gs = append(gs, g)
			}
			g.lanes = append(g.lanes, l)
		}
		sort.SliceStable(gs, func(i, j int) bool { return gs[i].key < gs[j].key })
		return gs
	}
	byCPU := layout(func(l *Lane) (int, string) { return l.CPU, fmt.Sprintf("CPU %d", l.CPU) })
	byProc := layout(func(l *Lane) (int, string) {
		if l.ID < 0 {
			return -1, "idle tasks"
		}
		return l.Group, fmt.Sprintf("children of pid %d", l.Group)
	})
	top := rulerH + rowH*(len(p.Patches)+1) + stepH + 6
	ys := func(gs []*group) (map[*Lane]int, []int, int) {
		y := top
		pos := map[*Lane]int{}
		var heads []int
		for _, g := range gs {
			heads = append(heads, y)
			y += headerH
			for _, l := range g.lanes {
				pos[l] = y
				y += laneH
			}
		}
		return pos, heads, y
	}
	ycpu, hcpu, endCPU := ys(byCPU)
	yproc, hproc, endProc := ys(byProc)
	height := max(endCPU, endProc) + 24
	fmt.Fprintf(w, "<svg id=\"%s\" class=\"tl\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" data-start=\"%d\" data-end=\"%d\" data-l=\"%d\" data-w=\"%d\">\n",
		id, svgW, height, p.Start, p.End, labelW, plotW)
	fmt.Fprintf(w, "<defs><pattern id=\"%s-hp\" width=\"4\" height=\"4\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"2\" height=\"4\" class=\"ps-patched\"/></pattern>"+
		"<pattern id=\"%s-hu\" width=\"4\" height=\"4\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"2\" height=\"4\" class=\"ps-unpatched\"/></pattern>"+
		"<clipPath id=\"%s-clip\"><rect x=\"%d\" y=\"0\" width=\"%d\" height=\"%d\"/></clipPath></defs>\n", id, id, id, labelW, plotW, height)
	if standalone {
		fmt.Fprintf(w, "<style>\n%s</style>\n<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n", style)
	}
	writeAxis(w, p, height)
	// The command ruler.
	w.WriteString("<g class=\"ruler\">\n")
	fmt.Fprintf(w, "<text class=\"lbl\" x=\"4\" y=\"%d\">commands</text>\n", rulerH-8)
	lastLabel := -1e9
	for _, c := range p.Commands {
		x := xOf(p, c.At)
		label := ""
		if x-lastLabel > 16 {
			label, lastLabel = c.Label, x
		}
		fmt.Fprintf(w, "<g class=\"cmd\" data-t=\"%d\" transform=\"translate(%s,0)\"><line y1=\"%d\" y2=\"%d\"/><text y=\"%d\">%s</text><title>%s</title></g>\n",
			c.At, f1(x), rulerH-10, height, rulerH-12, html.EscapeString(label), html.EscapeString(c.Detail))
	}
	w.WriteString("</g>\n")
	// Patch bands.
	y := rulerH
	for _, r := range p.Patches {
		fmt.Fprintf(w, "<g class=\"patch\" transform=\"translate(0,%d)\"><text class=\"lbl\" x=\"4\" y=\"10\">%s</text>\n", y, html.EscapeString(r.Patch))
		for _, s := range r.Spans {
			writeSpan(w, p, s, "pb-"+s.State, 1, 11, r.Patch+": "+s.State)
		}
		w.WriteString("</g>\n")
		y += rowH
	}
	// The transition's own markers.
	fmt.Fprintf(w, "<g class=\"global\" transform=\"translate(0,%d)\"><text class=\"lbl\" x=\"4\" y=\"10\">livepatch</text>\n", y)
	for _, m := range p.Global {
		writeMarker(w, p, m, 6)
	}
	w.WriteString("</g>\n")
	y += rowH
	// The step line of tasks still to switch.
	maxN := 1
	for _, s := range p.Steps {
		maxN = max(maxN, s.Count)
	}
	var pts []string
	for _, s := range p.Steps {
		pts = append(pts, fmt.Sprintf("%d,%d", s.At, s.Count))
	}
	fmt.Fprintf(w, "<g class=\"steps\" transform=\"translate(0,%d)\"><text class=\"lbl\" x=\"4\" y=\"14\">tasks to switch</text><text class=\"lbl\" x=\"4\" y=\"28\">(max %d)</text>\n", y, maxN)
	fmt.Fprintf(w, "<polyline class=\"step\" data-pts=\"%s\" data-max=\"%d\" points=\"%s\"/>\n", strings.Join(pts, " "), maxN, stepPoints(p, maxN))
	w.WriteString("</g>\n")
	// Group headings, one set per layout.
	for _, set := range []struct {
		cls   string
		gs    []*group
		heads []int
		hide  bool
	}{{"grp-cpu", byCPU, hcpu, false}, {"grp-proc", byProc, hproc, true}} {
		style := ""
		if set.hide {
			style = " style=\"display:none\""
		}
		fmt.Fprintf(w, "<g class=\"%s\"%s>", set.cls, style)
		for i, g := range set.gs {
			fmt.Fprintf(w, "<text class=\"grp\" x=\"4\" y=\"%d\">%s</text>", set.heads[i]+11, html.EscapeString(g.name))
		}
		w.WriteString("</g>\n")
	}
	// Lanes.
	for _, l := range p.Lanes {
		name := fmt.Sprintf("%s %d", l.Name, l.PID)
		if l.Folded > 0 {
			name = l.Name
		}
		fmt.Fprintf(w, "<g class=\"lane\" id=\"%s-lane%d\" data-pid=\"%d\" data-ycpu=\"%d\" data-yproc=\"%d\" transform=\"translate(0,%d)\">", id, l.ID, l.PID, ycpu[l], yproc[l], ycpu[l])
		fmt.Fprintf(w, "<text class=\"name\" x=\"4\" y=\"11\">%s<title>%s</title></text>\n", html.EscapeString(trim(name, 26)), html.EscapeString(name))
		if l.Folded > 0 {
			writeSpan(w, p, Span{From: p.Start, To: p.End, State: "folded"}, "st-folded", 3, 8, name)
		}
		for _, s := range l.States {
			switch s.State {
			case "running":
				if l.ID < 0 {
					writeSpan(w, p, s, "st-idle", 4, 6, "idle loop")
				} else {
					writeSpan(w, p, s, "st-running", 2, 10, "running")
				}
			case "runnable":
				writeSpan(w, p, s, "st-runnable", 4, 6, "runnable")
			case "sleeping":
				writeSpan(w, p, s, "st-sleeping", 6, 2, "sleeping")
			}
		}
		for _, s := range l.Patch {
			if s.State == "none" {
				continue
			}
			cls := "ps-" + s.State
			writeSpan(w, p, s, cls, 13, 3, "patch_state: "+strings.Replace(s.State, "pending-", "TIF_PATCH_PENDING, to be ", 1))
		}
		for _, m := range l.Marks {
			writeMarker(w, p, m, 7)
		}
		w.WriteString("</g>\n")
	}
	w.WriteString("</svg>\n")
}

func trim(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// stepPoints is the step line in the initial view.
func stepPoints(p *Picture, maxN int) string {
	var b strings.Builder
	y := func(n int) string { return f1(float64(stepH-4) - float64(n)/float64(maxN)*float64(stepH-8)) }
	prev := -1
	for _, s := range p.Steps {
		x := f1(xOf(p, s.At))
		if prev >= 0 {
			fmt.Fprintf(&b, "%s,%s ", x, y(prev))
		}
		fmt.Fprintf(&b, "%s,%s ", x, y(s.Count))
		prev = s.Count
	}
	if prev >= 0 {
		fmt.Fprintf(&b, "%s,%s", f1(xOf(p, p.End)), y(prev))
	}
	return strings.TrimSpace(b.String())
}

func writeSpan(w *bufio.Writer, p *Picture, s Span, cls string, y, h int, title string) {
	x0, x1 := xOf(p, s.From), xOf(p, s.To)
	fmt.Fprintf(w, "<rect class=\"%s\" data-t=\"%d\" data-u=\"%d\" x=\"%s\" y=\"%d\" width=\"%s\" height=\"%d\"><title>%s</title></rect>\n",
		cls, s.From, s.To, f1(x0), y, f1(max(x1-x0, 0.5)), h, html.EscapeString(title))
}

// markerShape is each marker kind's symbol, centred on (0, cy).
func markerShape(m Marker, cy int) string {
	kind, _, _ := strings.Cut(m.Kind, ":")
	switch kind {
	case "switched":
		return fmt.Sprintf("<path class=\"m-switched\" d=\"M0 %d L4 %d L-4 %d Z\"/>", cy-4, cy+4, cy+4)
	case "blocked":
		return fmt.Sprintf("<rect class=\"m-blocked\" x=\"-3.5\" y=\"%s\" width=\"7\" height=\"7\"/>", f1(float64(cy)-3.5))
	case "signal", "signals":
		return fmt.Sprintf("<path class=\"m-signal\" d=\"M0 %d L5 %d L0 %d L-5 %d Z\"/>", cy-5, cy, cy+5, cy)
	case "violation", "failed":
		return fmt.Sprintf("<circle class=\"m-violation\" cx=\"0\" cy=\"%d\" r=\"5\"/>", cy)
	}
	cls := "m-" + kind
	if m.Red {
		cls += " red"
	}
	return fmt.Sprintf("<line class=\"%s\" x1=\"0\" x2=\"0\" y1=\"%d\" y2=\"%d\"/><circle class=\"%s\" cx=\"0\" cy=\"%d\" r=\"3\"/>", cls, cy-6, cy+6, cls, cy)
}

func writeMarker(w *bufio.Writer, p *Picture, m Marker, cy int) {
	cls := "mk k-" + strings.ReplaceAll(m.Kind, ":", " how-")
	if m.Red {
		cls += " red"
	}
	fmt.Fprintf(w, "<g class=\"%s\" data-t=\"%d\" transform=\"translate(%s,0)\">%s<title>%s</title></g>\n",
		cls, m.At, f1(xOf(p, m.At)), markerShape(m, cy), html.EscapeString(fmt.Sprintf("%s: %s", fmtNS(m.At), m.Detail)))
}

// fmtNS shows a simulated time as seconds with nanoseconds.
func fmtNS(ns uint64) string {
	return fmt.Sprintf("%d.%09ds", ns/1e9, ns%1e9)
}

// writeAxis draws the time axis of the whole view, as the script does
// for any view: about ten ticks at round values.
func writeAxis(w *bufio.Writer, p *Picture, height int) {
	w.WriteString("<g class=\"axis\">")
	span := float64(p.End - p.Start)
	raw := span / 10
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	tick := 10 * pow
	for _, m := range []float64{1, 2, 5, 10} {
		if m*pow >= raw {
			tick = m * pow
			break
		}
	}
	for t := math.Ceil(float64(p.Start)/tick) * tick; t <= float64(p.End); t += tick {
		x := f1(labelW + (t-float64(p.Start))/span*plotW)
		label := fmt.Sprintf("%.3fs", t/1e9)
		if t < 1e9 {
			label = fmt.Sprintf("%.6fs", t/1e9)
		}
		fmt.Fprintf(w, "<line x1=\"%s\" x2=\"%s\" y1=\"0\" y2=\"%d\"/><text x=\"%s\" y=\"%d\">%s</text>", x, x, height, x, height-6, label)
	}
	w.WriteString("</g>\n")
}
