package scenarios

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rogpeppe/go-internal/txtar"
)

// updatedSection is what an expected section becomes when check_result
// is told to accept got: the lines got shares with the section (compared
// after $VAR expansion, a line at a time) keep their text as written, so
// "klp_pids=$pid_list" stays a reference; the rest are got's lines as
// they are. expand is the runner's $VAR expansion.
func updatedSection(template string, expand func(string) string, got string) string {
	tmpl := splitLines(template)
	exp := make([]string, len(tmpl))
	for i, l := range tmpl {
		exp[i] = expand(l)
	}
	var b strings.Builder
	for _, op := range lcsDiff(exp, splitLines(got)) {
		switch op.kind {
		case ' ':
			b.WriteString(tmpl[op.ai])
			b.WriteByte('\n')
		case '+':
			b.WriteString(op.text)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// Rewrite returns the scenario file data with the named sections'
// contents replaced by updates (Result.Updates); everything else — the
// script, comments, the other sections — is kept byte for byte. It fails,
// changing nothing, if a name is not a section of the file.
func Rewrite(data []byte, updates map[string]string) ([]byte, error) {
	ar := txtar.Parse(data)
	done := map[string]bool{}
	for i := range ar.Files {
		f := &ar.Files[i]
		if u, ok := updates[f.Name]; ok {
			f.Data = []byte(u)
			done[f.Name] = true
		}
	}
	var missing []string
	for name := range updates {
		if !done[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("no section %s", strings.Join(missing, ", "))
	}
	return txtar.Format(ar), nil
}

// RewriteFile writes Rewrite(old, updates) over the file name, in one
// rename so that a failure leaves the old file whole, keeping its mode.
// It returns the updated sections' names, sorted.
func RewriteFile(name string, old []byte, updates map[string]string) ([]string, error) {
	out, err := Rewrite(old, updates)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	fi, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), ".klpsim-update-*")
	if err != nil {
		return nil, err
	}
	_, werr := tmp.Write(out)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), fi.Mode().Perm())); err != nil {
		os.Remove(tmp.Name())
		return nil, err
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		os.Remove(tmp.Name())
		return nil, err
	}
	names := make([]string, 0, len(updates))
	for n := range updates {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}
