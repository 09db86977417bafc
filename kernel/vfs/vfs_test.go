package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"klpsim/kernel/errno"
)

// user is a ctx with non-root credentials.
type user struct {
	cred Cred
	pid  int
}

func (u user) VFSCred() Cred { return u.cred }

// task is a root ctx with a pid, for /proc/self.
type task struct{ pid int }

var nobody = user{cred: Cred{UID: 65534, GID: 65534}, pid: 7}

// newTestFS builds a tree shaped like the guest's: a livepatch patch dir as
// livepatch.md §3 lists it, a module parameter, /proc with cmdline, self
// and dynamic PID directories, and /dev/kmsg.
func newTestFS(t testing.TB) (*FS, *testState) {
	t.Helper()
	st := &testState{enabled: 1, pids: []int{1, 42}}
	f := New()
	must := func(_ *Node, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.Mount("/sys", 0o555, Sysfs))
	must(f.Mount("/proc", 0o555, Procfs))
	must(f.Mount("/dev", 0o755, Devtmpfs))
	must(f.MkdirAll("/sys/kernel/livepatch/p/vmlinux/cmdline_proc_show,1", 0o755))
	lp := "/sys/kernel/livepatch/p/"
	must(f.AddFile(lp+"enabled", 0o644, Attr(
		func(any) (string, error) { return fmt.Sprintf("%d\n", st.enabled), nil },
		func(_ any, buf string) error {
			v, err := strconv.Atoi(strings.TrimSpace(buf))
			if err != nil || v == st.enabled {
				return errno.EINVAL
			}
			st.enabled = v
			st.stores = append(st.stores, buf)
			return nil
		})))
	must(f.AddFile(lp+"transition", 0o444, Attr(func(any) (string, error) { return "0\n", nil }, nil)))
	must(f.AddFile(lp+"force", 0o200, Attr(nil, func(any, string) error { return errno.EINVAL })))
	must(f.AddFile(lp+"replace", 0o444, Attr(func(any) (string, error) { return "0\n", nil }, nil)))
	must(f.AddFile(lp+"stack_order", 0o444, Attr(func(any) (string, error) { return "1\n", nil }, nil)))
	must(f.AddFile(lp+"vmlinux/patched", 0o444, Attr(func(any) (string, error) { return "1\n", nil }, nil)))
	must(f.AddFile(lp+"noshow", 0o644, Attr(nil, nil)))
	must(f.MkdirAll("/sys/module/m/parameters", 0o755))
	must(f.AddFile("/sys/module/m/parameters/ro", 0o444, Attr(func(any) (string, error) { return "Y\n", nil },
		func(any, string) error { return nil })))

	must(f.AddFile("/proc/cmdline", 0o444, SeqFile(func(_ any, m *Seq) error {
		m.Printf("%s\n", st.cmdline())
		return nil
	})))
	must(f.Symlink("/proc/self", func(ctx any) (string, error) {
		switch c := ctx.(type) {
		case task:
			return strconv.Itoa(c.pid), nil
		case user:
			return strconv.Itoa(c.pid), nil
		}
		return "", errno.ENOENT // proc_self_get_link without a tgid
	}))
	if err := f.SetDirOps("/proc", &DirOps{
		Lookup: func(_ any, name string) *Node {
			pid, err := strconv.Atoi(name)
			if err != nil || !st.hasPid(pid) {
				return nil
			}
			d := NewDir(name, 0o555)
			addAll(d, NewFile("patch_state", 0o444, SeqFile(func(_ any, m *Seq) error {
				m.Printf("%d\n", -1)
				return nil
			})), NewFile("stat", 0o444, Ops{
				Read:    func(any) ([]byte, error) { return []byte(name + " (x) S\n"), nil },
				NoOpErr: errno.EINVAL, // pid_entry without a write method
			}), NewStaticSymlink("cwd", "/"))
			return d
		},
		List: func(any) []string {
			var out []string
			for _, p := range st.pids {
				out = append(out, strconv.Itoa(p))
			}
			return out
		},
	}); err != nil {
		t.Fatal(err)
	}
	must(f.AddFile("/dev/kmsg", fs.ModeDevice|fs.ModeCharDevice|0o644, Ops{
		Read:  func(any) ([]byte, error) { return nil, errno.EAGAIN },
		Write: func(_ any, b []byte) (int, error) { st.kmsg = append(st.kmsg, string(b)); return len(b), nil },
	}))
	must(f.AddFile("/dev/null", fs.ModeDevice|fs.ModeCharDevice|0o666, Ops{
		Read:  func(any) ([]byte, error) { return nil, nil },
		Write: func(_ any, b []byte) (int, error) { return len(b), nil },
	}))
	must(f.Symlink("/loop", func(any) (string, error) { return "/loop", nil }))
	return f, st
}

// addAll adds children to the detached directory d, as a DirOps.Lookup
// builds a /proc/PID directory.
func addAll(d *Node, children ...*Node) {
	for _, c := range children {
		if err := d.Add(c); err != nil {
			panic(err)
		}
	}
}

type testState struct {
	mu      sync.Mutex
	enabled int
	stores  []string
	kmsg    []string
	pids    []int
	patched bool
}

func (s *testState) cmdline() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.patched {
		return "test_klp_livepatch: this has been live patched"
	}
	return "console=ttyS0"
}

func (s *testState) hasPid(pid int) bool {
	for _, p := range s.pids {
		if p == pid {
			return true
		}
	}
	return false
}

func TestLookup_PathResolution(t *testing.T) {
	f, _ := newTestFS(t)
	tests := []struct {
		path string
		ctx  any
		want string // node name, or "" with err
		err  error
	}{
		{"/", nil, "/", nil},
		{"//", nil, "/", nil},
		{"/..", nil, "/", nil},
		{"/sys", nil, "sys", nil},
		{"/sys/", nil, "sys", nil},
		{"/sys/.", nil, "sys", nil},
		{"/sys/kernel/..", nil, "sys", nil},
		{"/sys/kernel/../kernel/./livepatch//p/enabled", nil, "enabled", nil},
		{"sys/kernel", nil, "kernel", nil}, // no cwd: relative to /
		{"/sys/kernel/livepatch/p/vmlinux/cmdline_proc_show,1", nil, "cmdline_proc_show,1", nil},
		{"", nil, "", errno.ENOENT},
		{"/nope", nil, "", errno.ENOENT},
		{"/nope/x", nil, "", errno.ENOENT},
		{"/sys/kernel/livepatch/q/enabled", nil, "", errno.ENOENT},
		{"/proc/cmdline/x", nil, "", errno.ENOTDIR},
		{"/proc/cmdline/", nil, "", errno.ENOTDIR},
		{"/proc/cmdline/.", nil, "", errno.ENOTDIR},
		{"/proc/cmdline/..", nil, "", errno.ENOTDIR},
		// symlinks and dynamic directories
		{"/proc/self", task{pid: 42}, "42", nil},
		{"/proc/self/patch_state", task{pid: 42}, "patch_state", nil},
		{"/proc/self/..", task{pid: 42}, "proc", nil},
		{"/proc/self/cwd/sys", task{pid: 1}, "sys", nil},
		{"/proc/self/", task{pid: 1}, "1", nil},
		{"/proc/self", nil, "", errno.ENOENT}, // no task
		{"/proc/self", task{pid: 5}, "", errno.ENOENT},
		{"/proc/42/../1/stat", nil, "stat", nil},
		{"/proc/43", nil, "", errno.ENOENT},
		{"/proc/abc", nil, "", errno.ENOENT},
		{"/loop", nil, "", errno.ELOOP},
		{"/loop/x", nil, "", errno.ELOOP},
	}
	for _, tt := range tests {
		n, err := f.Lookup(tt.ctx, tt.path)
		if tt.err != nil {
			if err != tt.err {
				t.Errorf("Lookup(%q) = %v, %v; want %v", tt.path, n, err, tt.err)
			}
			continue
		}
		if err != nil || n.Name() != tt.want {
			t.Errorf("Lookup(%q) = %v, %v; want %q", tt.path, n, err, tt.want)
		}
	}
}

func TestModeString(t *testing.T) {
	tests := []struct {
		mode fs.FileMode
		want string
	}{
		// tools/testing/selftests/livepatch/test-sysfs.sh check_sysfs_rights
		{0o644, "-rw-r--r--"},
		{0o200, "--w-------"},
		{0o444, "-r--r--r--"},
		{fs.ModeDir | 0o755, "drwxr-xr-x"},
		{fs.ModeSymlink | 0o777, "lrwxrwxrwx"},
		{fs.ModeDir | 0o555, "dr-xr-xr-x"},
		{fs.ModeDevice | fs.ModeCharDevice | 0o644, "crw-r--r--"},
		{fs.ModeDevice | 0o660, "brw-rw----"},
		{fs.ModeNamedPipe | 0o600, "prw-------"},
		{fs.ModeSocket | 0o777, "srwxrwxrwx"},
		{fs.ModeSetuid | 0o755, "-rwsr-xr-x"},
		{fs.ModeSetuid | 0o644, "-rwSr--r--"},
		{fs.ModeSetgid | 0o2755&0o777, "-rwxr-sr-x"},
		{fs.ModeSetgid | 0o644, "-rw-r-Sr--"},
		{fs.ModeDir | fs.ModeSticky | 0o777, "drwxrwxrwt"},
		{fs.ModeDir | fs.ModeSticky | 0o776, "drwxrwxrwT"},
		{0, "----------"},
	}
	for _, tt := range tests {
		if got := ModeString(tt.mode); got != tt.want {
			t.Errorf("ModeString(%v) = %q, want %q", tt.mode, got, tt.want)
		}
	}
}

func TestLstat_SysfsRights(t *testing.T) {
	f, _ := newTestFS(t)
	// test-sysfs.sh "sysfs test" (livepatch.md §3 table), plus /proc/self.
	for path, want := range map[string]string{
		"/sys/kernel/livepatch/p":                 "drwxr-xr-x",
		"/sys/kernel/livepatch/p/":                "drwxr-xr-x",
		"/sys/kernel/livepatch/p/enabled":         "-rw-r--r--",
		"/sys/kernel/livepatch/p/force":           "--w-------",
		"/sys/kernel/livepatch/p/replace":         "-r--r--r--",
		"/sys/kernel/livepatch/p/stack_order":     "-r--r--r--",
		"/sys/kernel/livepatch/p/transition":      "-r--r--r--",
		"/sys/kernel/livepatch/p/vmlinux/patched": "-r--r--r--",
		"/proc/self": "lrwxrwxrwx",
		"/proc":      "dr-xr-xr-x",
		"/dev/kmsg":  "crw-r--r--",
	} {
		m, err := f.Lstat(task{pid: 1}, path)
		if err != nil || ModeString(m) != want {
			t.Errorf("Lstat(%q) = %s, %v; want %s", path, ModeString(m), err, want)
		}
	}
	if m, err := f.Stat(task{pid: 1}, "/proc/self"); err != nil || ModeString(m) != "dr-xr-xr-x" {
		t.Errorf("Stat(/proc/self) = %s, %v", ModeString(m), err)
	}
	if got, err := f.Readlink(task{pid: 42}, "/proc/self"); got != "42" || err != nil {
		t.Errorf("Readlink(/proc/self) = %q, %v", got, err)
	}
	if _, err := f.Readlink(nil, "/proc/cmdline"); err != errno.EINVAL {
		t.Errorf("Readlink(/proc/cmdline) err = %v, want EINVAL", err)
	}
}

// TestPermissions encodes the rule in the package doc: DAC with root
// override (fs/namei.c generic_permission), then kernfs_fop_open's
// KERNFS_ROOT_EXTRA_OPEN_PERM_CHECK for sysfs, then the no-method errno
// (kobj_attr_show/store and pde_read/pde_write: EIO; vfs_write: EINVAL).
func TestPermissions(t *testing.T) {
	f, _ := newTestFS(t)
	root := task{pid: 1}
	tests := []struct {
		name  string
		ctx   any
		write bool
		path  string
		err   error
	}{
		{"root reads rw attr", root, false, "/sys/kernel/livepatch/p/enabled", nil},
		{"root writes rw attr", root, true, "/sys/kernel/livepatch/p/enabled", nil},
		{"root writes 0444 sysfs attr", root, true, "/sys/kernel/livepatch/p/transition", errno.EACCES},
		{"root writes 0444 sysfs attr with store", root, true, "/sys/module/m/parameters/ro", errno.EACCES},
		{"root reads 0200 sysfs attr", root, false, "/sys/kernel/livepatch/p/force", errno.EACCES},
		{"root reads 0644 attr without show", root, false, "/sys/kernel/livepatch/p/noshow", errno.EIO},
		{"root writes 0644 attr without store", root, true, "/sys/kernel/livepatch/p/noshow", errno.EIO},
		{"root writes proc_create file", root, true, "/proc/cmdline", errno.EIO},
		{"root writes pid_entry file", root, true, "/proc/1/stat", errno.EINVAL},
		{"root writes /proc/self/patch_state", root, true, "/proc/self/patch_state", errno.EIO},
		{"root writes /dev/kmsg", root, true, "/dev/kmsg", nil},
		{"root writes dir", root, true, "/sys/kernel", errno.EISDIR},
		{"root reads dir", root, false, "/sys/kernel", errno.EISDIR},
		{"user reads 0644", nobody, false, "/sys/kernel/livepatch/p/enabled", nil},
		{"user writes 0644", nobody, true, "/sys/kernel/livepatch/p/enabled", errno.EACCES},
		{"user writes 0666", nobody, true, "/dev/null", nil},
		{"user writes 0644 proc", nobody, true, "/proc/cmdline", errno.EACCES},
		{"group-0 user writes 0644", user{cred: Cred{UID: 5, GID: 0}}, true, "/sys/kernel/livepatch/p/enabled", errno.EACCES},
	}
	for _, tt := range tests {
		var err error
		if tt.write {
			_, err = f.WriteFile(tt.ctx, tt.path, []byte("0\n"))
		} else {
			_, err = f.ReadFile(tt.ctx, tt.path)
		}
		if err != tt.err {
			t.Errorf("%s: %s %s: err = %v, want %v", tt.name, map[bool]string{true: "write", false: "read"}[tt.write], tt.path, err, tt.err)
		}
	}
}

func TestPermissions_SearchAndGroup(t *testing.T) {
	f := New()
	if _, err := f.Mount("/sys", 0o755, Sysfs); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Mkdir("/sys/private", 0o750); err != nil {
		t.Fatal(err)
	}
	if _, err := f.AddFile("/sys/private/x", 0o664, Attr(func(any) (string, error) { return "x\n", nil },
		func(any, string) error { return nil })); err != nil {
		t.Fatal(err)
	}
	other := user{cred: Cred{UID: 1000, GID: 1000}}
	group := user{cred: Cred{UID: 1000, GID: 0}}
	if _, err := f.ReadFile(other, "/sys/private/x"); err != errno.EACCES {
		t.Errorf("other user through 0750 dir: %v, want EACCES", err)
	}
	if _, err := f.ReadDir(other, "/sys/private"); err != errno.EACCES {
		t.Errorf("other user lists 0750 dir: %v, want EACCES", err)
	}
	if b, err := f.ReadFile(group, "/sys/private/x"); err != nil || string(b) != "x\n" {
		t.Errorf("gid-0 user reads: %q, %v", b, err)
	}
	if _, err := f.WriteFile(group, "/sys/private/x", []byte("1")); err != nil {
		t.Errorf("gid-0 user writes 0664: %v", err)
	}
}

func TestWriteFile_Semantics(t *testing.T) {
	f, st := newTestFS(t)
	n, err := f.WriteFile(nil, "/sys/kernel/livepatch/p/enabled", []byte("0\n"))
	if n != 2 || err != nil {
		t.Fatalf("WriteFile = %d, %v", n, err)
	}
	if !reflect.DeepEqual(st.stores, []string{"0\n"}) {
		t.Errorf("store got %q, want whole buffer %q", st.stores, "0\n")
	}
	if _, err := f.WriteFile(nil, "/sys/kernel/livepatch/p/enabled", []byte("0\n")); err != errno.EINVAL {
		t.Errorf("store error: %v, want EINVAL", err)
	}
	if b, _ := f.ReadFile(nil, "/sys/kernel/livepatch/p/enabled"); string(b) != "0\n" {
		t.Errorf("show after store = %q", b)
	}
	if n, err := f.WriteFile(nil, "/sys/kernel/livepatch/p/enabled", nil); n != 0 || err != nil {
		t.Errorf("empty sysfs write = %d, %v; want 0, nil without calling store", n, err)
	}
	if len(st.stores) != 1 {
		t.Errorf("store called for empty write")
	}
	if _, err := f.WriteFile(nil, "/sys/kernel/livepatch/p/missing", []byte("1\n")); err != errno.ENOENT {
		t.Errorf("WriteFile without O_CREAT on missing = %v, want ENOENT", err)
	}
	// Content is produced at read time.
	if b, _ := f.ReadFile(nil, "/proc/cmdline"); string(b) != "console=ttyS0\n" {
		t.Errorf("cmdline = %q", b)
	}
	st.patched = true
	if b, _ := f.ReadFile(nil, "/proc/cmdline"); string(b) != "test_klp_livepatch: this has been live patched\n" {
		t.Errorf("cmdline after patch = %q", b)
	}
}

func TestSysfs_PageSizeLimits(t *testing.T) {
	f := New()
	f.Mount("/sys", 0o755, Sysfs)
	var got int
	f.AddFile("/sys/big", 0o644, Ops{
		Read:  func(any) ([]byte, error) { return make([]byte, 5000), nil },
		Write: func(_ any, b []byte) (int, error) { got = len(b); return len(b), nil },
	})
	if b, _ := f.ReadFile(nil, "/sys/big"); len(b) != pageSize-1 {
		t.Errorf("show of 5000 bytes read back %d, want PAGE_SIZE-1", len(b))
	}
	if n, _ := f.WriteFile(nil, "/sys/big", make([]byte, 5000)); n != pageSize || got != pageSize {
		t.Errorf("write of 5000 = %d (store saw %d), want PAGE_SIZE", n, got)
	}
	// Echo keeps writing after the short write, as stdio does.
	if err := f.Echo(nil, strings.Repeat("x", 5000), "/sys/big"); err != nil || got != 5001-pageSize {
		t.Errorf("Echo 5001 bytes: %v, last store %d", err, got)
	}
}

func TestRemove_Subtree(t *testing.T) {
	f, _ := newTestFS(t)
	if err := f.Remove("/sys/kernel/livepatch/p"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{
		"/sys/kernel/livepatch/p",
		"/sys/kernel/livepatch/p/enabled",
		"/sys/kernel/livepatch/p/vmlinux/patched",
	} {
		if _, err := f.Lookup(nil, p); err != errno.ENOENT {
			t.Errorf("after Remove, Lookup(%q) = %v, want ENOENT", p, err)
		}
	}
	if ents, err := f.ReadDir(nil, "/sys/kernel/livepatch"); err != nil || len(ents) != 0 {
		t.Errorf("livepatch dir after Remove = %v, %v", ents, err)
	}
	tests := []struct {
		path string
		err  error
	}{
		{"/sys/kernel/livepatch/p", errno.ENOENT},
		{"/", errno.EBUSY},
		{"/sys/.", errno.EINVAL},
		{"/proc/1", errno.ENOENT}, // dynamic entries are not removable
		{"/proc/cmdline/x", errno.ENOTDIR},
	}
	for _, tt := range tests {
		if err := f.Remove(tt.path); err != tt.err {
			t.Errorf("Remove(%q) = %v, want %v", tt.path, err, tt.err)
		}
	}
	// A symlink is removed, not followed.
	if err := f.Remove("/proc/self"); err != nil {
		t.Errorf("Remove(/proc/self) = %v", err)
	}
	if _, err := f.Lookup(nil, "/proc/1"); err != nil {
		t.Errorf("Remove of the symlink touched its target: %v", err)
	}
}

func TestMutators_Errors(t *testing.T) {
	f, _ := newTestFS(t)
	if _, err := f.Mkdir("/sys/kernel/livepatch/p", 0o755); err != errno.EEXIST {
		t.Errorf("Mkdir existing = %v, want EEXIST", err)
	}
	if _, err := f.Mkdir("/sys/a/b", 0o755); err != errno.ENOENT {
		t.Errorf("Mkdir without parent = %v, want ENOENT", err)
	}
	if _, err := f.AddFile("/proc/cmdline/x", 0o444, Ops{}); err != errno.ENOTDIR {
		t.Errorf("AddFile under file = %v, want ENOTDIR", err)
	}
	if _, err := f.AddFile("/sys/kernel/livepatch/p/enabled", 0o444, Ops{}); err != errno.EEXIST {
		t.Errorf("AddFile duplicate = %v, want EEXIST", err)
	}
	if _, err := f.AddFile("/", 0o444, Ops{}); err != errno.EINVAL {
		t.Errorf("AddFile / = %v, want EINVAL", err)
	}
	if _, err := f.AddFile("/sys/x", fs.ModeDir|0o444, Ops{}); err != errno.EINVAL {
		t.Errorf("AddFile with dir mode = %v, want EINVAL", err)
	}
	if _, err := f.MkdirAll("/proc/cmdline/x", 0o755); err != errno.ENOTDIR {
		t.Errorf("MkdirAll through file = %v, want ENOTDIR", err)
	}
	if d, err := f.MkdirAll("/sys/kernel/livepatch", 0o700); err != nil || d.Mode() != fs.ModeDir|0o755 {
		t.Errorf("MkdirAll existing = %v, %v (must keep mode)", d, err)
	}
	n := NewDir("q", 0o755)
	if err := f.Add("/sys/kernel/livepatch", n); err != nil {
		t.Fatal(err)
	}
	if err := f.Add("/sys", n); err != errno.EINVAL {
		t.Errorf("Add of attached node = %v, want EINVAL", err)
	}
	if err := f.Remove("/sys/kernel/livepatch/q"); err != nil {
		t.Fatal(err)
	}
	if err := f.Add("/sys", n); err != nil {
		t.Errorf("re-Add of removed node = %v", err)
	}
	if _, err := f.Mount("/x", 0o755, inherit); err != errno.EINVAL {
		t.Errorf("Mount inherit = %v", err)
	}
	if err := f.SetDirOps("/proc/cmdline", nil); err != errno.ENOTDIR {
		t.Errorf("SetDirOps on file = %v", err)
	}
}

func TestNew_PanicsOnBadName(t *testing.T) {
	for _, name := range []string{"", ".", "..", "a/b", "a\x00"} {
		func() {
			defer func() {
				if r := recover(); r == nil {
					t.Errorf("NewDir(%q) did not panic", name)
				}
			}()
			NewDir(name, 0o755)
		}()
	}
}

func TestReadDir_Dynamic(t *testing.T) {
	f, st := newTestFS(t)
	names := func(path string) []string {
		ents, err := f.ReadDir(task{pid: 1}, path)
		if err != nil {
			t.Fatalf("ReadDir(%q): %v", path, err)
		}
		var out []string
		for _, e := range ents {
			out = append(out, e.Name())
		}
		return out
	}
	if got, want := names("/proc"), []string{"cmdline", "self", "1", "42"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ReadDir(/proc) = %q, want %q", got, want)
	}
	st.pids = []int{1, 42, 100}
	if got, want := names("/proc"), []string{"cmdline", "self", "1", "42", "100"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ReadDir(/proc) after fork = %q, want %q", got, want)
	}
	if b, err := f.ReadFile(nil, "/proc/100/patch_state"); err != nil || string(b) != "-1\n" {
		t.Errorf("new task's patch_state = %q, %v", b, err)
	}
	st.pids = []int{1}
	if _, err := f.Lookup(nil, "/proc/42"); err != errno.ENOENT {
		t.Errorf("exited task still visible: %v", err)
	}
	if got, want := names("/proc/self"), []string{"cwd", "patch_state", "stat"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ReadDir(/proc/self) = %q, want %q", got, want)
	}
	if _, err := f.ReadDir(nil, "/proc/cmdline"); err != errno.ENOTDIR {
		t.Errorf("ReadDir(file) = %v", err)
	}
	if m, err := f.Stat(nil, "/proc/1/patch_state"); err != nil || m != 0o444 {
		t.Errorf("dynamic file mode = %v, %v", m, err)
	}
}

func TestEcho(t *testing.T) {
	f, st := newTestFS(t)
	root := task{pid: 1}
	tests := []struct {
		value, path string
		want        string // error text, "" for success
		err         error
	}{
		{"0", "/sys/kernel/livepatch/p/enabled", "", nil},
		{"0", "/sys/kernel/livepatch/p/enabled", "bash: echo: write error: Invalid argument", errno.EINVAL},
		{"1", "/sys/kernel/livepatch/p/force", "bash: echo: write error: Invalid argument", errno.EINVAL},
		{"1", "/sys/kernel/livepatch/p/transition", "bash: /sys/kernel/livepatch/p/transition: Permission denied", errno.EACCES},
		{"1", "/sys/kernel/livepatch/q/enabled", "bash: /sys/kernel/livepatch/q/enabled: No such file or directory", errno.ENOENT},
		{"1", "/sys/kernel/livepatch/newfile", "bash: /sys/kernel/livepatch/newfile: Permission denied", errno.EACCES},
		{"1", "/proc/newfile", "bash: /proc/newfile: No such file or directory", errno.ENOENT},
		{"1", "/sys/kernel", "bash: /sys/kernel: Is a directory", errno.EISDIR},
		{"1", "/sys/kernel/livepatch/p/enabled/", "bash: /sys/kernel/livepatch/p/enabled/: Is a directory", errno.EISDIR},
		{"1", "/sys/kernel/newdir/", "bash: /sys/kernel/newdir/: Is a directory", errno.EISDIR},
		{"1", "/sys/nodir/x/", "bash: /sys/nodir/x/: No such file or directory", errno.ENOENT},
		{"1", "/proc/cmdline/x/", "bash: /proc/cmdline/x/: Not a directory", errno.ENOTDIR},
		{"1", "/proc/cmdline/x", "bash: /proc/cmdline/x: Not a directory", errno.ENOTDIR},
		{"1", "/proc/cmdline", "bash: echo: write error: Input/output error", errno.EIO},
		{"1", "/proc/self/stat", "bash: echo: write error: Invalid argument", errno.EINVAL},
		{"% insmod test_modules/test_klp_livepatch.ko", "/dev/kmsg", "", nil},
	}
	for _, tt := range tests {
		err := f.Echo(root, tt.value, tt.path)
		if tt.want == "" {
			if err != nil {
				t.Errorf("echo %s > %s: %v", tt.value, tt.path, err)
			}
			continue
		}
		if err == nil || err.Error() != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("echo %s > %s: %v, want %q (%v)", tt.value, tt.path, err, tt.want, tt.err)
		}
		if e, ok := errno.Of(err); !ok || e != tt.err {
			t.Errorf("echo %s > %s: errno.Of = %v, %v", tt.value, tt.path, e, ok)
		}
	}
	if !reflect.DeepEqual(st.stores, []string{"0\n"}) {
		t.Errorf("stores = %q", st.stores)
	}
	if !reflect.DeepEqual(st.kmsg, []string{"% insmod test_modules/test_klp_livepatch.ko\n"}) {
		t.Errorf("kmsg = %q", st.kmsg)
	}
}

func TestEcho_ZeroCountStore(t *testing.T) {
	f := New()
	f.Mount("/sys", 0o755, Sysfs)
	f.AddFile("/sys/z", 0o644, Ops{Write: func(any, []byte) (int, error) { return 0, nil }})
	if err := f.Echo(nil, "1", "/sys/z"); err == nil {
		t.Error("store consuming nothing: Echo succeeded")
	}
}

func TestCat(t *testing.T) {
	f, _ := newTestFS(t)
	root := task{pid: 42}
	tests := []struct {
		path, out, err string
	}{
		{"/sys/kernel/livepatch/p/enabled", "1\n", ""},
		{"/sys/kernel/livepatch/p/transition", "0\n", ""},
		{"/proc/self/patch_state", "-1\n", ""},
		{"/sys/kernel/livepatch/p/force", "", "cat: /sys/kernel/livepatch/p/force: Permission denied"},
		{"/sys/kernel/livepatch/q/enabled", "", "cat: /sys/kernel/livepatch/q/enabled: No such file or directory"},
		{"/sys/kernel/livepatch", "", "cat: /sys/kernel/livepatch: Is a directory"},
		{"/proc/cmdline/x", "", "cat: /proc/cmdline/x: Not a directory"},
		{"/sys/kernel/livepatch/p/vmlinux/cmdline_proc_show,1/x", "", "cat: /sys/kernel/livepatch/p/vmlinux/cmdline_proc_show,1/x: No such file or directory"},
		{"/sys/a:b", "", "cat: '/sys/a:b': No such file or directory"},
		{"/sys/kernel/livepatch/p/noshow", "", "cat: /sys/kernel/livepatch/p/noshow: Input/output error"},
		{"/dev/kmsg", "", "cat: /dev/kmsg: Resource temporarily unavailable"},
		{"/loop", "", "cat: /loop: Too many levels of symbolic links"},
	}
	for _, tt := range tests {
		out, err := f.Cat(root, tt.path)
		if tt.err == "" {
			if err != nil || out != tt.out {
				t.Errorf("cat %s = %q, %v; want %q", tt.path, out, err, tt.out)
			}
			continue
		}
		if err == nil || err.Error() != tt.err {
			t.Errorf("cat %s: %v, want %q", tt.path, err, tt.err)
		}
	}
}

func TestQuoteName(t *testing.T) {
	// Each row was checked with `cat NAME` (coreutils, C.UTF-8) on Linux.
	tests := map[string]string{
		"/sys/kernel/livepatch": "/sys/kernel/livepatch",
		"a:b":                   "'a:b'",
		"a b":                   "'a b'",
		"it's":                  `"it's"`,
		"#x":                    "'#x'",
		"x#":                    "x#",
		"~x":                    "'~x'",
		"x~":                    "x~",
		"{":                     "'{'",
		"a{":                    "a{",
		"a=b":                   "'a=b'",
		"a,b":                   "a,b",
		"a+b":                   "a+b",
		"a@b":                   "a@b",
		"a%b":                   "a%b",
		"a!b":                   "'a!b'",
		"a'b$c":                 `'a'\''b$c'`,
		"a^b":                   "'a^b'",
		"a.b-c_d":               "a.b-c_d",
		"a]b":                   "a]b",
		"a}b":                   "a}b",
		"a\tb":                  `'a'$'\t''b'`,
		"é":                     "é",
		"a'b c":                 `"a'b c"`,
		`a'b"c`:                 `'a'\''b"c'`,
		"a'b!c":                 `'a'\''b!c'`,
		`a'b\c`:                 `'a'\''b\c'`,
		"a'b:c":                 `"a'b:c"`,
		`a"b`:                   `'a"b'`,
		"a'b`c":                 `'a'\''b` + "`" + `c'`,
		"a\x01b":                `'a'$'\001''b'`,
		"a\x7fb":                `'a'$'\177''b'`,
		"a'b*c":                 `'a'\''b*c'`,
	}
	for in, want := range tests {
		if got := QuoteName(in); got != want {
			t.Errorf("QuoteName(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestGlob(t *testing.T) {
	f, _ := newTestFS(t)
	for _, name := range []string{"test_klp_state2", "test_klp_atomic_replace", "Zeta", ".hidden", "test_klp_state"} {
		if _, err := f.Mkdir("/sys/kernel/livepatch/"+name, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f.AddFile("/sys/kernel/livepatch/test_klp_state/enabled", 0o644, Ops{})
	tests := []struct {
		pattern string
		want    []string
	}{
		{"/sys/kernel/livepatch/*", []string{
			"/sys/kernel/livepatch/Zeta", "/sys/kernel/livepatch/p",
			"/sys/kernel/livepatch/test_klp_atomic_replace", "/sys/kernel/livepatch/test_klp_state",
			"/sys/kernel/livepatch/test_klp_state2"}},
		{"/sys/kernel/livepatch/.*", []string{"/sys/kernel/livepatch/.hidden"}},
		{"/sys/kernel/livepatch/test_klp_state?", []string{"/sys/kernel/livepatch/test_klp_state2"}},
		{"/sys/kernel/livepatch/[!tZ]*", []string{"/sys/kernel/livepatch/p"}},
		{"/sys/kernel/livepatch/[^tZ]*", []string{"/sys/kernel/livepatch/p"}},
		{"/sys/kernel/livepatch/*/enabled", []string{
			"/sys/kernel/livepatch/p/enabled", "/sys/kernel/livepatch/test_klp_state/enabled"}},
		{"/sys/kernel/livepatch/p/*/patched", []string{"/sys/kernel/livepatch/p/vmlinux/patched"}},
		{"/sys/kernel/livepatch/p/*/", []string{"/sys/kernel/livepatch/p/vmlinux/"}},
		{"/proc/[0-9]*", []string{"/proc/1", "/proc/42"}},
		{"/proc/*/patch_state", []string{"/proc/1/patch_state", "/proc/42/patch_state"}},
		{"/sys/kernel/livepatch/nomatch*", nil},
		{"/sys/kernel/livepatch/p", []string{"/sys/kernel/livepatch/p"}},
		{"/sys/kernel/livepatch/none", nil},
		{"relative/*", nil},
		{"/sys/kernel/livepatch/[", nil},
	}
	for _, tt := range tests {
		if got := f.Glob(nil, tt.pattern); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Glob(%q) = %q, want %q", tt.pattern, got, tt.want)
		}
	}
}

// TestStoreRemovesOwnDirectory: a store may remove the directory it lives
// in (as disabling a livepatch frees it and its sysfs dir); callbacks run
// without the tree lock, so this must not deadlock.
func TestStoreRemovesOwnDirectory(t *testing.T) {
	f := New()
	f.Mount("/sys", 0o755, Sysfs)
	f.MkdirAll("/sys/kernel/livepatch/p", 0o755)
	f.AddFile("/sys/kernel/livepatch/p/enabled", 0o644, Attr(nil, func(any, string) error {
		return f.Remove("/sys/kernel/livepatch/p")
	}))
	if err := f.Echo(nil, "0", "/sys/kernel/livepatch/p/enabled"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Lstat(nil, "/sys/kernel/livepatch/p"); err != errno.ENOENT {
		t.Errorf("dir still there: %v", err)
	}
}

// TestConcurrentReader runs a reader goroutine (a debugger UI) against the
// kernel goroutine adding and removing patch directories; run with -race.
func TestConcurrentReader(t *testing.T) {
	f, _ := newTestFS(t)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			for _, p := range f.Glob(nil, "/sys/kernel/livepatch/*") {
				f.Cat(nil, p+"/enabled")
				f.ReadDir(nil, p)
				f.Lstat(nil, p+"/transition")
			}
			f.ReadDir(nil, "/proc")
		}
	}()
	for i := 0; i < 200; i++ {
		dir := fmt.Sprintf("/sys/kernel/livepatch/lp%d", i%5)
		f.Remove(dir)
		d := NewDir(fmt.Sprintf("lp%d", i%5), 0o755)
		d.Add(NewFile("enabled", 0o644, Attr(func(any) (string, error) { return "1\n", nil }, nil)))
		f.Add("/sys/kernel/livepatch", d)
		f.AddFile(dir+"/transition", 0o444, Ops{})
		f.Mkdir(dir+"/vmlinux", 0o755)
	}
	close(done)
	wg.Wait()
}

// FuzzPath feeds random paths to every path operation; none may panic, and
// every error must be an errno.
func FuzzPath(f *testing.F) {
	for _, s := range []string{"/", "", ".", "..", "/proc/self/..", "/sys/kernel/livepatch/p/enabled/",
		"/loop", "//a//b/", "/proc/1/cwd/proc/self", "/sys/kernel/livepatch/*/[!x]", "/proc/cmdline/."} {
		f.Add(s)
	}
	fsys, _ := newTestFS(f)
	f.Fuzz(func(t *testing.T, p string) {
		check := func(err error) {
			if err == nil {
				return
			}
			if _, ok := errno.Of(err); !ok {
				if _, ok := err.(*ShellError); !ok {
					t.Fatalf("%q: non-errno error %v", p, err)
				}
			}
		}
		for _, ctx := range []any{nil, task{pid: 1}, nobody} {
			_, err := fsys.Lookup(ctx, p)
			check(err)
			_, err = fsys.Lstat(ctx, p)
			check(err)
			_, err = fsys.ReadFile(ctx, p)
			check(err)
			_, err = fsys.ReadDir(ctx, p)
			check(err)
			_, err = fsys.Readlink(ctx, p)
			check(err)
			_, err = fsys.Cat(ctx, p)
			check(err)
			fsys.Glob(ctx, p)
			QuoteName(p)
		}
		// Writes only as an unprivileged user into a fresh tree, so the
		// stores under test do not change state across inputs.
		g, _ := newTestFS(t)
		check(g.Echo(nobody, "1", p))
		_, err := g.WriteFile(nobody, p, []byte("1"))
		check(err)
		check(g.Remove(p))
		_, err = g.MkdirAll(p, 0o755)
		check(err)
	})
}

func TestStatMode(t *testing.T) {
	f, _ := newTestFS(t)
	tests := []struct{ path, want, err string }{
		{"/sys/kernel/livepatch/p", "drwxr-xr-x", ""},
		{"/sys/kernel/livepatch/p/force", "--w-------", ""},
		{"/proc/self", "lrwxrwxrwx", ""},
		// Checked with coreutils 9.1 stat on Linux.
		{"/sys/kernel/livepatch/q", "", "stat: cannot statx '/sys/kernel/livepatch/q': No such file or directory"},
		{"/nonexist/a:b", "", "stat: cannot statx '/nonexist/a:b': No such file or directory"},
		{"/nonexist/it's", "", `stat: cannot statx "/nonexist/it's": No such file or directory`},
	}
	for _, tt := range tests {
		got, err := f.StatMode(task{pid: 1}, tt.path)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("stat %s: %v, want %q", tt.path, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("stat %s = %q, %v; want %q", tt.path, got, err, tt.want)
		}
	}
}
