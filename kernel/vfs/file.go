package vfs

import (
	"io/fs"
	"strings"

	"klpsim/kernel/errno"
)

// Access masks for permitted, as MAY_EXEC/MAY_WRITE/MAY_READ in
// include/linux/fs.h.
const (
	mayExec  = 1
	mayWrite = 2
	mayRead  = 4
)

// permitted is generic_permission (fs/namei.c) for a node owned by uid 0 and
// gid 0: root passes every read and write and every directory search, and
// executes a file only if some x bit is set; anyone else is checked against
// the group bits when its gid is 0 and the other bits otherwise.
func permitted(c Cred, mode fs.FileMode, mask int) bool {
	if c.UID == 0 {
		if mask&mayExec != 0 && !mode.IsDir() && mode&0o111 == 0 {
			return false
		}
		return true
	}
	bits := int(mode.Perm()) // other
	if c.GID == 0 {
		bits >>= 3 // group
	}
	return bits&mask == mask
}

// Open flags for open, the subset of O_* that echo, cat and write(2) from a
// scenario need.
const (
	oRead  = 1 << iota // FMODE_READ
	oWrite             // FMODE_WRITE
	oCreat             // O_CREAT (with O_TRUNC, which pseudo files ignore)
)

// file is an open file: the node and the type of the file system it is on.
type file struct {
	n   *Node
	typ FSType
}

// open is do_filp_open for the pseudo file systems: path walk, the create
// case, the directory cases, DAC, then kernfs's extra open check. Errors are
// what open(2) returns.
func (f *FS) open(ctx any, path string, flags int) (file, error) {
	if flags&oCreat != 0 && strings.HasSuffix(path, "/") {
		// open_last_lookups: once the parent is found, O_CREAT of a name
		// ending in '/' is EISDIR whether or not the name exists
		// ("bash: /sys/kernel/address_bits/: Is a directory").
		trimmed := strings.TrimRight(path, "/")
		if i := strings.LastIndexByte(trimmed, '/'); i > 0 {
			w, err := f.resolve(ctx, trimmed[:i], true, true)
			if err != nil {
				return file{}, err
			}
			if !w.node.IsDir() {
				return file{}, errno.ENOTDIR
			}
		}
		return file{}, errno.EISDIR
	}
	w, err := f.resolve(ctx, path, true, true)
	if err != nil {
		if err == errno.ENOENT && w.dir != nil && flags&oCreat != 0 {
			return file{}, createErr(w.typ)
		}
		return file{}, err
	}
	n := w.node
	if n.IsDir() {
		if flags&oWrite != 0 {
			return file{}, errno.EISDIR // may_open: directories are not opened for write
		}
		if !permitted(credOf(ctx), n.mode, mayRead) {
			return file{}, errno.EACCES
		}
		return file{n, w.typ}, nil
	}
	mask := 0
	if flags&oRead != 0 {
		mask |= mayRead
	}
	if flags&oWrite != 0 {
		mask |= mayWrite
	}
	if !permitted(credOf(ctx), n.mode, mask) {
		return file{}, errno.EACCES
	}
	if w.typ == Sysfs { // kernfs_fop_open, KERNFS_ROOT_EXTRA_OPEN_PERM_CHECK
		if flags&oWrite != 0 && n.mode&0o222 == 0 {
			return file{}, errno.EACCES
		}
		if flags&oRead != 0 && n.mode&0o444 == 0 {
			return file{}, errno.EACCES
		}
	}
	return file{n, w.typ}, nil
}

// createErr is what O_CREAT of a missing name in a directory of type t
// gives. kernfs_iop_lookup leaves a negative dentry and kernfs has no
// ->create, so lookup_open returns EACCES; proc_lookup returns -ENOENT
// itself. Creating regular files is not modelled, so ramfs and devtmpfs
// (which would create one) report ENOENT as well.
func createErr(t FSType) error {
	if t == Sysfs {
		return errno.EACCES
	}
	return errno.ENOENT
}

// noOpErr is what a read or write gets from an open file without the
// callback; see the package doc.
func (fl file) noOpErr() error {
	if fl.n.ops.NoOpErr != nil {
		return fl.n.ops.NoOpErr
	}
	switch fl.typ {
	case Sysfs, Procfs:
		return errno.EIO
	}
	return errno.EINVAL
}

func (fl file) read(ctx any) ([]byte, error) {
	if fl.n.IsDir() {
		return nil, errno.EISDIR // generic_read_dir
	}
	if fl.n.ops.Read == nil {
		return nil, fl.noOpErr()
	}
	b, err := fl.n.ops.Read(ctx)
	if err != nil {
		return nil, err
	}
	if fl.typ == Sysfs && len(b) >= pageSize {
		// sysfs_kf_seq_show: "fill_read_buffer: ... returned bad count",
		// then it struggles along with PAGE_SIZE-1 bytes.
		b = b[:pageSize-1]
	}
	return b, nil
}

func (fl file) write(ctx any, data []byte) (int, error) {
	if fl.n.ops.Write == nil {
		return 0, fl.noOpErr()
	}
	if fl.typ == Sysfs {
		if len(data) == 0 {
			return 0, nil // sysfs_kf_write: store is not called for 0 bytes
		}
		if len(data) > pageSize {
			data = data[:pageSize] // kernfs_fop_write_iter: at most PAGE_SIZE
		}
	}
	n, err := fl.n.ops.Write(ctx, data)
	if err != nil {
		return 0, err
	}
	if n < 0 || n > len(data) {
		panic("BUG: vfs: Write callback returned a count outside the buffer")
	}
	return n, nil
}

// ReadFile opens path for reading as the caller ctx and returns the whole
// content, freshly produced by the file's Read callback (a seq_file or sysfs
// show runs at read time). Errors: the open errors (ENOENT, ENOTDIR, EACCES,
// ELOOP), EISDIR for a directory, the no-callback errno of the package doc,
// or whatever the callback returns.
func (f *FS) ReadFile(ctx any, path string) ([]byte, error) {
	fl, err := f.open(ctx, path, oRead)
	if err != nil {
		return nil, err
	}
	return fl.read(ctx)
}

// WriteFile opens path for writing as the caller ctx (open(2) with O_WRONLY,
// no O_CREAT) and makes one write(2) of data, which the file's Write
// callback (a sysfs store) receives whole; sysfs passes at most PAGE_SIZE
// bytes and never calls store for an empty write. It returns the count the
// callback consumed. Errors: ENOENT, ENOTDIR, EACCES (DAC, or a sysfs file
// without any write bit even for root), EISDIR, ELOOP, the no-callback errno
// of the package doc, or the callback's error.
func (f *FS) WriteFile(ctx any, path string, data []byte) (int, error) {
	fl, err := f.open(ctx, path, oWrite)
	if err != nil {
		return 0, err
	}
	return fl.write(ctx, data)
}
