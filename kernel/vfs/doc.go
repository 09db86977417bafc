// Package vfs is the guest kernel's small virtual file system: the trees
// behind /proc, /sys and /dev that the kernel model builds and the scenario
// runner reads and writes with echo, cat and stat.
//
// It is shaped like Linux's pseudo file systems rather than like a disk file
// system. A tree of [Node] values (kernfs_node in Linux) holds directories,
// attribute files and symlinks; the kernel attaches behaviour to files as an
// [Ops] value (sysfs show/store, a seq_file show, a proc_ops read/write), and
// a directory can be static (children added and removed by the kernel, like
// kernfs) or dynamic (a [DirOps] callback, like procfs's /proc/PID). Content
// is produced when it is read and a write hands the whole buffer to the store
// callback at once, exactly as sysfs does, so what the scenario sees is what
// the kernel state is at that instant.
//
// # Errors
//
// Every failure is a Linux errno from [klpsim/kernel/errno], so the shell
// helpers can print the same text bash and coreutils print on Linux.
//
// # Permission rule
//
// Opening a file runs two checks, in this order (fs/namei.c
// may_open/inode_permission, then the file system's open):
//
//  1. DAC, generic_permission() in fs/namei.c. Every node is owned by uid 0
//     and gid 0. A caller with uid 0 holds CAP_DAC_OVERRIDE and
//     CAP_DAC_READ_SEARCH and passes for reading and writing any file and for
//     searching and reading any directory. Anyone else gets the group bits
//     when its gid is 0 and the "other" bits otherwise; a missing bit is
//     EACCES. Path walk needs search (x) permission on every directory it
//     passes through.
//  2. sysfs only: kernfs_fop_open() in fs/kernfs/file.c, because sysfs_init()
//     (fs/sysfs/mount.c) creates its root with KERNFS_ROOT_EXTRA_OPEN_PERM_CHECK:
//     opening for write a file with no write bit at all (mode & S_IWUGO == 0)
//     or for read a file with no read bit (mode & S_IRUGO == 0) fails with
//     EACCES even for root, who passed step 1. This is why, as root,
//     `echo 1 > /sys/kernel/livepatch/P/transition` prints "Permission denied"
//     and `cat /sys/kernel/livepatch/P/force` does too.
//
// When the open succeeds but the file has no callback for the access:
//   - sysfs: a kobj_attribute without show or store makes kobj_attr_show or
//     kobj_attr_store (lib/kobject.c) return -EIO;
//   - procfs: a proc_create()d entry without proc_read/proc_write makes
//     pde_read or pde_write (fs/proc/inode.c) return -EIO, so root writing
//     /proc/cmdline gets "Input/output error";
//   - anything else (devtmpfs, /proc/PID/* entries whose file_operations have
//     no write method): vfs_read/vfs_write (fs/read_write.c) return -EINVAL
//     because the file lacks FMODE_CAN_READ/FMODE_CAN_WRITE.
//
// [Ops.NoOpErr] overrides that default per file.
//
// These were checked on a Linux 6.18 guest as root: writing a 0444 sysfs
// attribute and reading a 0200 one give "Permission denied"; writing
// /proc/cmdline gives "Input/output error"; writing /proc/self/stat gives
// "Invalid argument"; `echo 1 > /sys/kernel/missing` gives "Permission
// denied" (kernfs leaves a negative dentry and has no ->create, so
// lookup_open fails with EACCES) while `echo 1 > /proc/missing` gives "No
// such file or directory" (proc's lookup returns -ENOENT itself).
//
// # Concurrency
//
// The kernel model is single-threaded, but a debugger may read the tree from
// another goroutine, so the tree is guarded by one sync.RWMutex per [FS].
// Callbacks (Ops, DirOps, symlink targets) always run without that lock held,
// so a store may add or remove nodes, as a livepatch `enabled` store that
// frees its patch removes its own directory.
package vfs
