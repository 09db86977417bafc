package vfs

import (
	"path"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ShellError is a failed shell command: Msg is the line bash or coreutils
// prints on stderr, Err the errno behind it (nil when there is none).
type ShellError struct {
	Msg string // e.g. "bash: echo: write error: Invalid argument"
	Err error  // e.g. errno.EINVAL
}

// Error returns the message exactly as the shell prints it.
func (e *ShellError) Error() string { return e.Msg }

// Unwrap returns the errno, for errors.Is and errno.Of.
func (e *ShellError) Unwrap() error { return e.Err }

// Echo does what `echo value > path` does in bash for the caller ctx: open
// path with O_WRONLY|O_CREAT|O_TRUNC, write value plus "\n", and keep
// writing the rest after a short write, as stdio's flush does. Errors are
// formatted as bash 5.2 prints them for `bash -c` (a script adds
// "script: line N: " in place of "bash: "):
//
//	bash: /sys/kernel/livepatch/p/enabled: No such file or directory   (open failed)
//	bash: /sys/kernel/livepatch/p/transition: Permission denied         (open failed)
//	bash: echo: write error: Invalid argument                           (the store failed)
//
// A write that consumes nothing would make real bash retry forever; Echo
// stops and reports it instead.
func (f *FS) Echo(ctx any, value, path string) error {
	fl, err := f.open(ctx, path, oWrite|oCreat)
	if err != nil {
		return &ShellError{Msg: "bash: " + path + ": " + err.Error(), Err: err}
	}
	data := []byte(value + "\n")
	for len(data) > 0 {
		n, err := fl.write(ctx, data)
		if err != nil {
			return &ShellError{Msg: "bash: echo: write error: " + err.Error(), Err: err}
		}
		if n == 0 {
			return &ShellError{Msg: "bash: echo: write error: " + path + " consumed 0 bytes (bash would retry forever)"}
		}
		data = data[n:]
	}
	return nil
}

// Cat does what `cat path` does for the caller ctx and returns the content.
// Errors are formatted as GNU coreutils 9 prints them, the file name quoted
// by its shell-escape rules when it holds special characters:
//
//	cat: /sys/kernel/livepatch/p: No such file or directory
//	cat: /sys/kernel/livepatch: Is a directory
//	cat: /sys/kernel/livepatch/p/force: Permission denied
func (f *FS) Cat(ctx any, path string) (string, error) {
	b, err := f.ReadFile(ctx, path)
	if err != nil {
		return "", &ShellError{Msg: "cat: " + QuoteName(path) + ": " + err.Error(), Err: err}
	}
	return string(b), nil
}

// QuoteName quotes a file name the way coreutils does in diagnostics
// (gnulib quotef: shell-escape style, with ':' also quoted). Names made of
// ordinary characters are returned as they are; otherwise the name is put
// in single quotes, in double quotes when it contains a single quote and
// nothing else double quotes would treat specially, and control characters
// become $'\t' pieces. Checked against `cat NAME` with coreutils on Linux:
//
//	a:b     'a:b'
//	it's    "it's"
//	a'b$c   'a'\''b$c'
//	a<TAB>b 'a'$'\t''b'
//	#x      '#x'
//	x#      x#
//
// A name starting with a control character is rendered slightly differently
// from gnulib, which then opens with an empty pair of quotes.
func QuoteName(name string) string {
	if name == "" {
		return "''"
	}
	needs, dqOK, hasSQ := false, true, false
	for i, r := range name {
		switch {
		case r == '\'':
			needs, hasSQ = true, true
		case r == ' ' || r == ':':
			needs = true // fine inside double quotes
		case (r == '#' || r == '~') && i == 0:
			needs = true
		case (r == '{' || r == '}') && len(name) == 1:
			needs = true
		case strings.ContainsRune("!\"$&()*;<=>?[\\^`|", r):
			needs, dqOK = true, false
		case r == utf8.RuneError || !unicode.IsPrint(r):
			needs, dqOK = true, false
		}
	}
	if !needs {
		return name
	}
	if hasSQ && dqOK {
		return `"` + name + `"`
	}
	var b strings.Builder
	b.WriteByte('\'')
	for i := 0; i < len(name); {
		r, size := utf8.DecodeRuneInString(name[i:])
		switch {
		case r == '\'':
			b.WriteString(`'\''`)
		case (r == utf8.RuneError && size <= 1) || !unicode.IsPrint(r) && r != ' ':
			b.WriteString(`'$'`)
			for j := 0; j < size; j++ {
				b.WriteString(cEscape(name[i+j]))
			}
			b.WriteString(`''`)
		default:
			b.WriteString(name[i : i+size])
		}
		i += size
	}
	b.WriteByte('\'')
	return b.String()
}

// cEscape is one byte in $'...' notation.
func cEscape(c byte) string {
	switch c {
	case '\a':
		return `\a`
	case '\b':
		return `\b`
	case '\f':
		return `\f`
	case '\n':
		return `\n`
	case '\r':
		return `\r`
	case '\t':
		return `\t`
	case '\v':
		return `\v`
	}
	return `\` + string([]byte{'0' + c>>6, '0' + c>>3&7, '0' + c&7})
}

// Glob expands pattern as bash does pathname expansion for the caller ctx
// and returns the matching paths, sorted. Each component may use *, ? and
// [...] (with [!...] or [^...] for negation); wildcards match neither '/'
// nor a leading '.' (dotglob off); a pattern ending in '/' matches
// directories only and keeps the slash. Names are sorted in byte order,
// which is bash's order under LC_COLLATE=C (the selftests' names are ASCII,
// where C and en_US order agree except for case and punctuation).
//
// Unlike bash, a pattern that matches nothing yields nil, not the pattern
// itself (bash's nullglob); a pattern with no wildcard yields itself if it
// exists. Only absolute patterns are supported (there is no cwd).
func (f *FS) Glob(ctx any, pattern string) []string {
	if !strings.HasPrefix(pattern, "/") {
		return nil
	}
	dirOnly := strings.HasSuffix(pattern, "/") && pattern != "/"
	comps := splitPath(pattern)
	if !hasMeta(pattern) {
		if _, err := f.Lstat(ctx, pattern); err != nil {
			return nil
		}
		return []string{pattern}
	}
	prefixes := []string{""}
	for i, c := range comps {
		last := i == len(comps)-1
		var next []string
		if !hasMeta(c) {
			for _, p := range prefixes {
				next = append(next, p+"/"+c)
			}
		} else {
			pat := strings.ReplaceAll(c, "[!", "[^")
			for _, p := range prefixes {
				dir := p
				if dir == "" {
					dir = "/"
				}
				ents, err := f.ReadDir(ctx, dir)
				if err != nil {
					continue
				}
				for _, e := range ents {
					if strings.HasPrefix(e.name, ".") && !strings.HasPrefix(c, ".") {
						continue
					}
					if ok, err := path.Match(pat, e.name); err == nil && ok {
						next = append(next, p+"/"+e.name)
					}
				}
			}
		}
		if !last {
			// Keep only what can be walked into (bash opens each as a dir).
			kept := next[:0]
			for _, p := range next {
				if m, err := f.Stat(ctx, p); err == nil && m.IsDir() {
					kept = append(kept, p)
				}
			}
			next = kept
		}
		prefixes = next
	}
	var out []string
	for _, p := range prefixes {
		if dirOnly {
			if m, err := f.Stat(ctx, p); err == nil && m.IsDir() {
				out = append(out, p+"/")
			}
			continue
		}
		if _, err := f.Lstat(ctx, p); err == nil {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// hasMeta reports whether s holds a glob metacharacter.
func hasMeta(s string) bool { return strings.ContainsAny(s, "*?[") }

// StatMode does what `stat --format %A path` does for the caller ctx, the
// command behind the selftests' check_sysfs_rights: it returns the
// permission string of path without following a final symlink ([FS.Lstat],
// [ModeString]). The error is formatted as GNU coreutils 9.1 prints it,
// with the name always quoted:
//
//	stat: cannot statx '/sys/kernel/livepatch/p': No such file or directory
func (f *FS) StatMode(ctx any, path string) (string, error) {
	m, err := f.Lstat(ctx, path)
	if err != nil {
		return "", &ShellError{Msg: "stat: cannot statx " + quoteAlways(path) + ": " + err.Error(), Err: err}
	}
	return ModeString(m), nil
}

// quoteAlways is gnulib quoteaf: QuoteName, but with quotes even when none
// are needed ('/sys/x').
func quoteAlways(name string) string {
	q := QuoteName(name)
	if q == name {
		return "'" + name + "'"
	}
	return q
}
