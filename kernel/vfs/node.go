package vfs

import (
	"io/fs"
	"sort"
	"strings"

	"klpsim/kernel/errno"
)

// FSType says which Linux file system a subtree imitates. It decides the
// rules that differ between them; see the package doc's permission rule.
type FSType uint8

const (
	// inherit marks a node that takes its type from the directory it is in;
	// detached nodes built for dynamic directories are like this.
	inherit FSType = iota
	// Ramfs is a plain in-memory file system (the root, like rootfs/tmpfs):
	// no extra open checks, a missing callback is EINVAL.
	Ramfs
	// Devtmpfs is /dev; it behaves like Ramfs.
	Devtmpfs
	// Sysfs is kernfs as mounted at /sys: KERNFS_ROOT_EXTRA_OPEN_PERM_CHECK,
	// missing show/store is EIO, opening a missing name for create is EACCES,
	// show output is cut at PAGE_SIZE-1 and a write hands at most PAGE_SIZE
	// bytes to store.
	Sysfs
	// Procfs is /proc: a missing proc_read/proc_write is EIO, opening a
	// missing name for create is ENOENT.
	Procfs
)

// String returns the file system's Linux name ("sysfs").
func (t FSType) String() string {
	switch t {
	case Ramfs:
		return "ramfs"
	case Devtmpfs:
		return "devtmpfs"
	case Sysfs:
		return "sysfs"
	case Procfs:
		return "proc"
	}
	return "inherit"
}

// pageSize is PAGE_SIZE, the size of sysfs's show buffer and of the largest
// chunk kernfs_fop_write_iter hands to a store.
const pageSize = 4096

// Ops is the behaviour of a regular file, the union of what Linux spreads
// over sysfs_ops (show/store), kernfs_ops and proc_ops. A nil func means the
// file has no such method; what an access then gets is described in the
// package doc. Use [SeqFile] and [Attr] to build the common shapes.
type Ops struct {
	// Read produces the whole content. It runs on every read (at open time in
	// seq_file terms), so the content always reflects the current state.
	// ctx is the caller's context as passed to [FS.ReadFile].
	Read func(ctx any) ([]byte, error)
	// Write consumes one write(2): data is the whole user buffer (for
	// `echo 1 > f`, "1\n"). It returns how many bytes it consumed or an
	// error, which the write(2) returns as its errno.
	Write func(ctx any, data []byte) (int, error)
	// NoOpErr, if non-nil, is what a read or write gets when the file's mode
	// lets the caller open it but the matching func is nil. Nil means the
	// file system's default (EIO for sysfs and procfs, EINVAL otherwise).
	NoOpErr error
}

// DirOps makes a directory dynamic, like procfs's proc_root_lookup and
// proc_pid_readdir for /proc/PID. A dynamic directory may also have static
// children; those are found first and listed first, as proc_root_lookup
// tries the static entries before the PIDs.
type DirOps struct {
	// Lookup returns the child called name, or nil when there is none
	// (ENOENT). The returned node is usually freshly built with [NewDir],
	// [NewFile] and [NewSymlink]; it must not be attached elsewhere.
	Lookup func(ctx any, name string) *Node
	// List returns the names of the dynamic children in the order readdir
	// reports them (/proc lists PIDs in ascending order).
	List func(ctx any) []string
}

// Node is one entry of the tree: a directory, a regular file (an attribute)
// or a symlink. It is Linux's kernfs_node / proc_dir_entry. Every node is
// owned by uid 0 and gid 0.
//
// name, mode, ops and link are fixed at construction; children, dirOps,
// linked and typ are guarded by fs.mu once the node is attached to an FS.
// fs is written once, under fs.mu, when the node is first attached, which
// happens before any other goroutine can reach the node.
type Node struct {
	name string
	mode fs.FileMode // type bits (ModeDir, ModeSymlink, ModeDevice…) + permission bits
	ops  Ops         // regular files only
	link func(ctx any) (string, error)

	fs       *FS    // the tree this node was first attached to; never changes after
	linked   bool   // an entry of a directory right now
	typ      FSType // inherit unless set by a mount
	children map[string]*Node
	dirOps   *DirOps
}

// validName reports whether name can be a directory entry: not empty, not
// "." or "..", no '/' and no NUL (fs/namei.c would split or reject them).
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

func mustName(name string) {
	if !validName(name) {
		panic("BUG: vfs: invalid node name " + `"` + name + `"`)
	}
}

// NewDir returns a detached directory with permission bits perm (e.g. 0755,
// kernfs_create_dir's mode). Callers that build a subtree for a dynamic
// directory or for [FS.Add] add children with [Node.Add]. It panics on a
// name that cannot be a directory entry ("", ".", "..", containing '/').
func NewDir(name string, perm fs.FileMode) *Node {
	mustName(name)
	return &Node{name: name, mode: fs.ModeDir | perm.Perm(), children: map[string]*Node{}}
}

// NewFile returns a detached regular file with permission bits perm and the
// behaviour ops. mode may also carry fs.ModeDevice|fs.ModeCharDevice for a
// character device such as /dev/kmsg. It panics on an invalid name or on a
// directory or symlink type in mode.
func NewFile(name string, mode fs.FileMode, ops Ops) *Node {
	mustName(name)
	if mode&(fs.ModeDir|fs.ModeSymlink) != 0 {
		panic("BUG: vfs: NewFile with a directory or symlink mode")
	}
	return &Node{name: name, mode: mode, ops: ops}
}

// NewSymlink returns a detached symlink whose target is computed on every
// resolution, as proc_self_get_link computes /proc/self from the caller. A
// relative target resolves against the directory holding the link. target
// may return an errno (ENOENT when /proc/self is read by no task). Symlinks
// are lrwxrwxrwx, as on Linux.
func NewSymlink(name string, target func(ctx any) (string, error)) *Node {
	mustName(name)
	return &Node{name: name, mode: fs.ModeSymlink | 0o777, link: target}
}

// NewStaticSymlink returns a detached symlink to the fixed path target.
func NewStaticSymlink(name, target string) *Node {
	return NewSymlink(name, func(any) (string, error) { return target, nil })
}

// Name returns the node's name (the last path component).
func (n *Node) Name() string { return n.name }

// Mode returns the node's type and permission bits.
func (n *Node) Mode() fs.FileMode { return n.mode }

// IsDir reports whether the node is a directory.
func (n *Node) IsDir() bool { return n.mode.IsDir() }

// Add makes child an entry of the directory n. It fails with ENOTDIR when n
// is not a directory, EEXIST when the name is taken (kernfs_add_one) and
// EINVAL when child is already an entry somewhere or belongs to another FS.
// Nodes returned by a [DirOps] callback are detached; do not Add to them
// after returning them, since a concurrent reader may be walking them.
func (n *Node) Add(child *Node) error {
	if f := n.fs; f != nil {
		f.mu.Lock()
		defer f.mu.Unlock()
	}
	return n.addLocked(child)
}

func (n *Node) addLocked(child *Node) error {
	if !n.IsDir() {
		return errno.ENOTDIR
	}
	if child.linked || child == n || (child.fs != nil && child.fs != n.fs) {
		return errno.EINVAL
	}
	if _, dup := n.children[child.name]; dup {
		return errno.EEXIST
	}
	n.children[child.name] = child
	child.linked = true
	if n.fs != nil {
		child.attach(n.fs)
	}
	return nil
}

// attach records f as the tree of n's subtree. Caller holds f.mu for writing.
func (n *Node) attach(f *FS) {
	if n.fs == f {
		return
	}
	n.fs = f
	for _, c := range n.children {
		c.attach(f)
	}
}

// rlock read-locks the tree n belongs to and returns it (nil for a detached
// node, which is private to its builder and needs no lock).
func (n *Node) rlock() *FS {
	f := n.fs
	if f != nil {
		f.mu.RLock()
	}
	return f
}

// staticChild returns the static child called name. It runs without callbacks.
func (n *Node) staticChild(name string) *Node {
	if f := n.rlock(); f != nil {
		defer f.mu.RUnlock()
	}
	return n.children[name]
}

// dynamic returns n's DirOps, if any.
func (n *Node) dynamic() *DirOps {
	if f := n.rlock(); f != nil {
		defer f.mu.RUnlock()
	}
	return n.dirOps
}

// staticChildren returns n's static children sorted by name.
func (n *Node) staticChildren() []*Node {
	f := n.rlock()
	out := make([]*Node, 0, len(n.children))
	for _, c := range n.children {
		out = append(out, c)
	}
	if f != nil {
		f.mu.RUnlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// ownType returns the type set on n itself (inherit if none).
func (n *Node) ownType() FSType {
	if f := n.rlock(); f != nil {
		defer f.mu.RUnlock()
	}
	return n.typ
}
