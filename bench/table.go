package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"unicode/utf8"
)

// A Sample is one value one run measured: metric Metric of row Row.
type Sample struct {
	Row    string
	Metric string
	Value  float64
}

// Column is one metric of a suite's table: its name (the table heading and
// the JSON key), the digits after the point it prints with, and what it
// means (for --help and README.md).
type Column struct {
	Name   string
	Digits int
	Doc    string
}

// Metric is a column's value in one row: the median over the runs, the
// spread (Spread: the largest deviation from the median as a fraction of
// it) and how many runs measured it.
type Metric struct {
	Median float64 `json:"median"`
	Spread float64 `json:"spread"`
	Runs   int     `json:"runs"`
}

// Row is one line of a table.
type Row struct {
	Name    string
	Metrics map[string]Metric // by Column.Name; a column a row lacks prints "-"
}

// Table is a suite's result.
type Table struct {
	Suite   string
	Runs    int
	Columns []Column
	Rows    []Row
	// Notes are printed under the table: what is missing and why (no
	// qemu-x86_64), and the goals.
	Notes []string
}

// summarize turns the samples of every run into rows, in the order the
// rows were first measured.
func summarize(suite string, runs int, cols []Column, samples []Sample) Table {
	t := Table{Suite: suite, Runs: runs, Columns: cols}
	type key struct{ row, metric string }
	values := map[key][]float64{}
	var order []string
	seen := map[string]bool{}
	for _, s := range samples {
		if !seen[s.Row] {
			seen[s.Row] = true
			order = append(order, s.Row)
		}
		if math.IsNaN(s.Value) {
			continue
		}
		k := key{s.Row, s.Metric}
		values[k] = append(values[k], s.Value)
	}
	for _, name := range order {
		r := Row{Name: name, Metrics: map[string]Metric{}}
		for _, c := range cols {
			if xs := values[key{name, c.Name}]; len(xs) > 0 {
				r.Metrics[c.Name] = Metric{Median: Median(xs), Spread: Spread(xs), Runs: len(xs)}
			}
		}
		t.Rows = append(t.Rows, r)
	}
	return t
}

// cell is a metric as the text table shows it: the median, and the
// spread when there is one ("424.1 ±3%").
func (c Column) cell(m Metric, ok bool) string {
	if !ok {
		return "-"
	}
	s := fmt.Sprintf("%.*f", c.Digits, m.Median)
	if m.Runs > 1 {
		s += " " + spreadText(m.Spread)
	}
	return s
}

func spreadText(f float64) string {
	if math.IsNaN(f) {
		return "±?"
	}
	return fmt.Sprintf("±%.0f%%", f*100)
}

// WriteText prints the table aligned in columns, then its notes.
func (t Table) WriteText(w io.Writer) {
	fmt.Fprintf(w, "%s (median ±spread of %d run%s)\n", t.Suite, t.Runs, plural(t.Runs))
	head := []string{"name"}
	for _, c := range t.Columns {
		head = append(head, c.Name)
	}
	lines := [][]string{head}
	for _, r := range t.Rows {
		l := []string{r.Name}
		for _, c := range t.Columns {
			m, ok := r.Metrics[c.Name]
			l = append(l, c.cell(m, ok))
		}
		lines = append(lines, l)
	}
	widths := make([]int, len(head))
	for _, l := range lines {
		for i, s := range l {
			widths[i] = max(widths[i], utf8.RuneCountInString(s))
		}
	}
	for _, l := range lines {
		var b strings.Builder
		for i, s := range l {
			// Pad by runes: "±" is one column but two bytes.
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(s))
			if i == 0 {
				b.WriteString("  " + s + pad)
			} else {
				b.WriteString("  " + pad + s)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	for _, n := range t.Notes {
		fmt.Fprintf(w, "  (%s)\n", n)
	}
}

// WriteMarkdown prints the table as a Markdown table, then its notes.
func (t Table) WriteMarkdown(w io.Writer) {
	fmt.Fprintf(w, "#### %s (median ±spread of %d run%s)\n\n", t.Suite, t.Runs, plural(t.Runs))
	fmt.Fprint(w, "| name |")
	for _, c := range t.Columns {
		fmt.Fprintf(w, " %s |", c.Name)
	}
	fmt.Fprint(w, "\n|---|")
	for range t.Columns {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprintln(w)
	for _, r := range t.Rows {
		fmt.Fprintf(w, "| %s |", r.Name)
		for _, c := range t.Columns {
			m, ok := r.Metrics[c.Name]
			fmt.Fprintf(w, " %s |", c.cell(m, ok))
		}
		fmt.Fprintln(w)
	}
	if len(t.Notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range t.Notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
	fmt.Fprintln(w)
}

// jsonRow is the shape of one --json line.
type jsonRow struct {
	Suite   string            `json:"suite"`
	Name    string            `json:"name"`
	Runs    int               `json:"runs"`
	Metrics map[string]Metric `json:"metrics"`
}

// WriteJSON prints one JSON object per row, one per line. A spread that
// is not a number (samples around a zero median) is written as -1.
func (t Table) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	for _, r := range t.Rows {
		ms := make(map[string]Metric, len(r.Metrics))
		for k, m := range r.Metrics {
			if math.IsNaN(m.Spread) {
				m.Spread = -1
			}
			ms[k] = m
		}
		if err := enc.Encode(jsonRow{Suite: t.Suite, Name: r.Name, Runs: t.Runs, Metrics: ms}); err != nil {
			return err
		}
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
