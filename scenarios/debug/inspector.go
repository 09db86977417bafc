package debug

import (
	"fmt"
	"sort"
)

// An Inspector is a command that only reads the stopped machine (info
// tasks, backtrace, x, disassemble, print, why, ...): it needs a Target,
// never the Session, so it can run on any stopped machine. The Session's
// own commands (stepping, breakpoints, scenario lines) are its own; it
// dispatches everything else here.
type Inspector struct {
	Name    string   // the full name, gdb's where gdb has one: "info tasks", "backtrace"
	Aliases []string // other names and abbreviations: "bt", "i tasks"
	Usage   string   // "backtrace [PID]"
	Help    string   // one line
	Run     func(t *Target, args []string) (Answer, error)
}

var inspectors = map[string]*Inspector{}

// registerInspector adds a command; each family registers its own in an
// init function beside its code. A name taken twice is a bug.
func registerInspector(c *Inspector) {
	for _, n := range append([]string{c.Name}, c.Aliases...) {
		if _, dup := inspectors[n]; dup {
			panic(fmt.Sprintf("BUG: debug: command name %q registered twice", n))
		}
		inspectors[n] = c
	}
}

// LookupInspector finds a command by its name or an alias.
func LookupInspector(name string) (*Inspector, bool) {
	c, ok := inspectors[name]
	return c, ok
}

// Inspectors lists every inspection command once, by name.
func Inspectors() []*Inspector {
	seen := map[*Inspector]bool{}
	var out []*Inspector
	for _, c := range inspectors {
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
