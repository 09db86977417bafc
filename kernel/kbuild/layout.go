package kbuild

import (
	"fmt"
	"strings"
)

// Layout is one C expression that must equal a Go constant: an
// offsetof(...) or sizeof(...) of the header tree against the number the
// host side of the ABI uses.
type Layout struct {
	Expr string // C: "offsetof(struct work_struct, func)"
	Want int64  // the Go constant
	Name string // the Go constant's name, for the message
}

// CheckLayouts compiles a file that includes headers and asserts every
// layout with _Static_assert, so a header and its Go constant cannot
// drift apart. The error lists every mismatch as gcc reports it.
func CheckLayouts(headers []string, layouts []Layout) error {
	var b strings.Builder
	b.WriteString("#include <linux/stddef.h>\n")
	for _, h := range headers {
		fmt.Fprintf(&b, "#include <%s>\n", h)
	}
	for _, l := range layouts {
		fmt.Fprintf(&b, "_Static_assert((%s) == %d, \"%s != Go's %s (%d)\");\n", l.Expr, l.Want, l.Expr, l.Name, l.Want)
	}
	_, err := Compile("layout_check", Source{Name: "layout_check.c", Data: []byte(b.String())})
	return err
}
