package vfs

import (
	"io/fs"
	"strings"
	"sync"

	"klpsim/kernel/errno"
)

// maxSymlinks is MAXSYMLINKS (include/linux/namei.h): a walk that follows
// more symlinks than this fails with ELOOP.
const maxSymlinks = 40

// FS is one guest's file system tree, rooted at "/".
//
// The kernel builds it with the path-based mutators ([FS.Mount], [FS.Mkdir],
// [FS.MkdirAll], [FS.AddFile], [FS.Symlink], [FS.Add], [FS.SetDirOps],
// [FS.Remove]), which work with kernel privilege and never check
// permissions. Tasks access it with [FS.ReadFile], [FS.WriteFile],
// [FS.ReadDir], [FS.Stat], [FS.Lstat], [FS.Lookup] and the shell helpers,
// which take the caller's ctx and apply the rules in the package doc.
type FS struct {
	mu   sync.RWMutex // guards every attached node's children, dirOps, typ and fs
	root *Node
}

// New returns a tree holding only the root directory, drwxr-xr-x on a
// ramfs, as the kernel's rootfs is before anything is mounted.
func New() *FS {
	f := &FS{}
	f.root = &Node{name: "/", mode: fs.ModeDir | 0o755, children: map[string]*Node{}, typ: Ramfs}
	f.root.fs = f
	return f
}

// Cred is the part of a task's credentials the VFS checks: struct cred's
// fsuid and fsgid. UID 0 stands for a task holding CAP_DAC_OVERRIDE and
// CAP_DAC_READ_SEARCH.
type Cred struct {
	UID uint32 // fsuid
	GID uint32 // fsgid
}

// Caller is what a ctx implements to carry credentials. The kernel's task
// type (or whatever it passes as ctx) implements it; a ctx that does not,
// including nil, acts as root, like a kernel thread.
type Caller interface {
	VFSCred() Cred
}

func credOf(ctx any) Cred {
	if c, ok := ctx.(Caller); ok {
		return c.VFSCred()
	}
	return Cred{}
}

// walk is the result of resolving a path (fs/namei.c path_lookupat and
// friends).
type walk struct {
	node     *Node  // the final node; nil when only the last component is missing
	typ      FSType // file system type of node (or of dir when node is nil)
	dir      *Node  // directory holding the last component
	last     string // last component ("" for "/")
	trailing bool   // the path ended in '/' (or "." / ".."): it must be a directory
}

// step is one entry of the directory stack a walk keeps, so that ".." leaves
// the directory the walk came from (dynamic nodes have no parent pointer).
type step struct {
	n   *Node
	typ FSType
}

// resolve walks path for a caller with credentials cred. followLast says
// whether a symlink as the last component is followed (LOOKUP_FOLLOW);
// search says whether directory search permission is checked (false for the
// kernel's own mutators). A missing last component is returned as a walk
// with node == nil and err == ENOENT, so create-style callers can decide.
func (f *FS) resolve(ctx any, path string, followLast, search bool) (walk, error) {
	if path == "" {
		return walk{}, errno.ENOENT // getname: empty pathname
	}
	cred := credOf(ctx)
	trailing := strings.HasSuffix(path, "/")
	comps := splitPath(path)
	if len(comps) > 0 {
		if l := comps[len(comps)-1]; l == "." || l == ".." {
			trailing = true
		}
	}
	stack := []step{{f.root, Ramfs}}
	if t := f.root.ownType(); t != inherit {
		stack[0].typ = t
	}
	links := 0
	for len(comps) > 0 {
		name := comps[0]
		comps = comps[1:]
		isLast := len(comps) == 0
		cur := stack[len(stack)-1]
		if !cur.n.IsDir() {
			return walk{}, errno.ENOTDIR
		}
		if search && !permitted(cred, cur.n.mode, mayExec) {
			return walk{}, errno.EACCES
		}
		switch name {
		case ".":
			continue
		case "..":
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		child := lookupChild(ctx, cur.n, name)
		if child == nil {
			if isLast {
				return walk{typ: cur.typ, dir: cur.n, last: name, trailing: trailing}, errno.ENOENT
			}
			return walk{}, errno.ENOENT
		}
		typ := cur.typ
		if t := child.ownType(); t != inherit {
			typ = t
		}
		if child.mode&fs.ModeSymlink != 0 && (!isLast || followLast || trailing) {
			links++
			if links > maxSymlinks {
				return walk{}, errno.ELOOP
			}
			target, err := child.link(ctx)
			if err != nil {
				return walk{}, err
			}
			if target == "" {
				return walk{}, errno.ENOENT
			}
			if strings.HasPrefix(target, "/") {
				stack = stack[:1]
			}
			comps = append(splitPath(target), comps...)
			continue
		}
		if isLast {
			if trailing && !child.IsDir() {
				return walk{}, errno.ENOTDIR
			}
			return walk{node: child, typ: typ, dir: cur.n, last: name, trailing: trailing}, nil
		}
		stack = append(stack, step{child, typ})
	}
	// Only "/", ".", ".." or a path that ended on a directory after "..".
	top := stack[len(stack)-1]
	return walk{node: top.n, typ: top.typ, dir: top.n, last: "", trailing: true}, nil
}

// lookupChild finds name in dir: static children first, then the dynamic
// lookup, called without the lock held.
func lookupChild(ctx any, dir *Node, name string) *Node {
	if c := dir.staticChild(name); c != nil {
		return c
	}
	if d := dir.dynamic(); d != nil && d.Lookup != nil {
		if c := d.Lookup(ctx, name); c != nil && c.name == name {
			return c
		}
	}
	return nil
}

func splitPath(p string) []string {
	parts := strings.Split(p, "/")
	out := parts[:0]
	for _, s := range parts {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Lookup resolves path for the caller ctx, following symlinks, and returns
// the node it names. Errors: ENOENT (a component is missing), ENOTDIR (a
// non-final component, or a final one followed by '/', is not a directory),
// EACCES (no search permission on a directory), ELOOP.
func (f *FS) Lookup(ctx any, path string) (*Node, error) {
	w, err := f.resolve(ctx, path, true, true)
	if err != nil {
		return nil, err
	}
	return w.node, nil
}

// Stat returns the mode of the node path names, following a final symlink
// (stat(2)).
func (f *FS) Stat(ctx any, path string) (fs.FileMode, error) {
	n, err := f.Lookup(ctx, path)
	if err != nil {
		return 0, err
	}
	return n.mode, nil
}

// Lstat returns the mode of the node path names without following a final
// symlink (lstat(2)). This is what `stat --format %A`, and so the selftests'
// check_sysfs_rights, reports: /proc/self is lrwxrwxrwx.
func (f *FS) Lstat(ctx any, path string) (fs.FileMode, error) {
	w, err := f.resolve(ctx, path, false, true)
	if err != nil {
		return 0, err
	}
	return w.node.mode, nil
}

// Readlink returns the target of the symlink path names (readlink(2)); EINVAL
// when it is not a symlink.
func (f *FS) Readlink(ctx any, path string) (string, error) {
	w, err := f.resolve(ctx, path, false, true)
	if err != nil {
		return "", err
	}
	if w.node.mode&fs.ModeSymlink == 0 {
		return "", errno.EINVAL
	}
	return w.node.link(ctx)
}

// ReadDir lists the directory path names, following symlinks: static
// children sorted by name, then the dynamic ones in the order DirOps.List
// gives them (a dynamic name that is also static is listed once). It needs
// read permission on the directory (EACCES) and fails with ENOTDIR on a
// file. "." and ".." are not listed.
func (f *FS) ReadDir(ctx any, path string) ([]*Node, error) {
	w, err := f.resolve(ctx, path, true, true)
	if err != nil {
		return nil, err
	}
	d := w.node
	if !d.IsDir() {
		return nil, errno.ENOTDIR
	}
	if !permitted(credOf(ctx), d.mode, mayRead) {
		return nil, errno.EACCES
	}
	out := d.staticChildren()
	if ops := d.dynamic(); ops != nil && ops.List != nil && ops.Lookup != nil {
		seen := make(map[string]bool, len(out))
		for _, c := range out {
			seen[c.name] = true
		}
		for _, name := range ops.List(ctx) {
			if seen[name] {
				continue
			}
			seen[name] = true
			if c := ops.Lookup(ctx, name); c != nil && c.name == name {
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// kernelDir resolves path as the kernel does for its own mutations (no
// permission checks, nil ctx) and returns the directory it names.
func (f *FS) kernelDir(path string) (*Node, error) {
	w, err := f.resolve(nil, path, true, false)
	if err != nil {
		return nil, err
	}
	if !w.node.IsDir() {
		return nil, errno.ENOTDIR
	}
	return w.node, nil
}

// kernelParent resolves the directory that will hold path's last component
// and returns it with that name. EINVAL for "/" or an invalid name, ENOENT
// or ENOTDIR for a bad parent.
func (f *FS) kernelParent(path string) (*Node, string, error) {
	comps := splitPath(path)
	if len(comps) == 0 {
		return nil, "", errno.EINVAL
	}
	name := comps[len(comps)-1]
	if !validName(name) {
		return nil, "", errno.EINVAL
	}
	dir, err := f.kernelDir("/" + strings.Join(comps[:len(comps)-1], "/"))
	if err != nil {
		return nil, "", err
	}
	return dir, name, nil
}

// Add attaches the detached node n (and its subtree) as an entry of the
// directory dirPath, like sysfs_create_group adding a prepared set at once.
// Errors: ENOENT/ENOTDIR for dirPath, EEXIST for a taken name, EINVAL when n
// is already attached.
func (f *FS) Add(dirPath string, n *Node) error {
	dir, err := f.kernelDir(dirPath)
	if err != nil {
		return err
	}
	return dir.Add(n)
}

// Mkdir creates the directory path with permission bits perm
// (kernfs_create_dir). The parent must exist (ENOENT, ENOTDIR); the name
// must be free (EEXIST).
func (f *FS) Mkdir(path string, perm fs.FileMode) (*Node, error) {
	dir, name, err := f.kernelParent(path)
	if err != nil {
		return nil, err
	}
	n := NewDir(name, perm)
	if err := dir.Add(n); err != nil {
		return nil, err
	}
	return n, nil
}

// MkdirAll creates path and any missing parents with permission bits perm
// and returns the directory; existing directories are kept as they are.
// ENOTDIR when a component exists and is not a directory; symlinks are not
// followed (they count as "not a directory").
func (f *FS) MkdirAll(path string, perm fs.FileMode) (*Node, error) {
	cur := f.root
	for _, name := range splitPath(path) {
		if !validName(name) {
			return nil, errno.EINVAL
		}
		next := lookupChild(nil, cur, name)
		if next == nil {
			n := NewDir(name, perm)
			if err := cur.Add(n); err == errno.EEXIST {
				n = cur.staticChild(name)
			} else if err != nil {
				return nil, err
			}
			next = n
		}
		if next == nil || !next.IsDir() {
			return nil, errno.ENOTDIR
		}
		cur = next
	}
	return cur, nil
}

// Mount creates the directory path with permission bits perm as the root of
// a file system of type t (proc on /proc, sysfs on /sys, devtmpfs on /dev).
// Everything later created under it follows t's rules.
func (f *FS) Mount(path string, perm fs.FileMode, t FSType) (*Node, error) {
	if t == inherit {
		return nil, errno.EINVAL
	}
	dir, name, err := f.kernelParent(path)
	if err != nil {
		return nil, err
	}
	n := NewDir(name, perm)
	n.typ = t
	if err := dir.Add(n); err != nil {
		return nil, err
	}
	return n, nil
}

// AddFile creates the regular file path with mode (permission bits, plus
// fs.ModeDevice|fs.ModeCharDevice for a character device) and behaviour ops,
// like sysfs_create_file or proc_create. Errors as for [FS.Mkdir].
func (f *FS) AddFile(path string, mode fs.FileMode, ops Ops) (*Node, error) {
	if mode&(fs.ModeDir|fs.ModeSymlink) != 0 {
		return nil, errno.EINVAL
	}
	dir, name, err := f.kernelParent(path)
	if err != nil {
		return nil, err
	}
	n := NewFile(name, mode, ops)
	if err := dir.Add(n); err != nil {
		return nil, err
	}
	return n, nil
}

// Symlink creates the symlink path whose target target computes on each
// resolution (see [NewSymlink]).
func (f *FS) Symlink(path string, target func(ctx any) (string, error)) (*Node, error) {
	dir, name, err := f.kernelParent(path)
	if err != nil {
		return nil, err
	}
	n := NewSymlink(name, target)
	if err := dir.Add(n); err != nil {
		return nil, err
	}
	return n, nil
}

// SetDirOps makes the directory path dynamic (see [DirOps]); nil ops makes
// it static again.
func (f *FS) SetDirOps(path string, ops *DirOps) error {
	dir, err := f.kernelDir(path)
	if err != nil {
		return err
	}
	f.mu.Lock()
	dir.dirOps = ops
	f.mu.Unlock()
	return nil
}

// Remove deletes path and, for a directory, everything below it, like
// kobject_del → sysfs_remove_dir → kernfs_remove. A final symlink is removed,
// not followed. Only static entries can be removed: ENOENT for a missing
// path or one a dynamic directory produces, EBUSY for "/", EINVAL for a
// path ending in "." or "..". The removed nodes stay valid for anyone still
// holding them (an open file in Linux gets ENODEV from then on; here their
// callbacks simply keep working) and can be added again.
func (f *FS) Remove(path string) error {
	w, err := f.resolve(nil, path, false, false)
	if err != nil {
		return err
	}
	if w.node == f.root {
		return errno.EBUSY
	}
	if w.last == "" {
		return errno.EINVAL // ends in "." or ".."
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if w.dir.children[w.last] != w.node {
		return errno.ENOENT
	}
	delete(w.dir.children, w.last)
	w.node.linked = false
	return nil
}
