package debug

import (
	"fmt"
	"strconv"
	"strings"

	"klpsim/kernel/printk"
)

// dmesg [N]: the kernel log as dmesg prints it, or its last N lines.

func init() {
	registerInspector(&Inspector{
		Name: "dmesg", Usage: "dmesg [N]", Help: "the kernel log (its last N lines)",
		Run: dmesg,
	})
}

func dmesg(t *Target, args []string) (Answer, error) {
	lines := t.K.Log.DmesgLines(printk.DmesgOptions{})
	switch len(args) {
	case 0:
	case 1:
		n, err := strconv.Atoi(args[0])
		if err != nil || n < 0 {
			return Answer{}, &UsageError{Usage: "dmesg [N]", Why: fmt.Sprintf("%q is not a line count", args[0])}
		}
		if n < len(lines) {
			lines = lines[len(lines)-n:]
		}
	default:
		return Answer{}, &UsageError{Usage: "dmesg [N]"}
	}
	text := strings.Join(lines, "\n")
	if text != "" {
		text += "\n"
	}
	return Answer{Text: text, Data: lines}, nil
}
