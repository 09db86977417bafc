package vfs

import "io/fs"

// ModeString renders mode the way `stat --format %A` and `ls -l` do
// (coreutils filemodestring): a type letter (- d l c b p s) and three rwx
// triplets, with s/S for setuid and setgid and t/T for sticky. This is the
// string the selftests' check_sysfs_rights compares: "-rw-r--r--",
// "--w-------", "-r--r--r--", "drwxr-xr-x", "lrwxrwxrwx".
func ModeString(mode fs.FileMode) string {
	var b [10]byte
	switch {
	case mode&fs.ModeDir != 0:
		b[0] = 'd'
	case mode&fs.ModeSymlink != 0:
		b[0] = 'l'
	case mode&fs.ModeDevice != 0 && mode&fs.ModeCharDevice != 0:
		b[0] = 'c'
	case mode&fs.ModeDevice != 0:
		b[0] = 'b'
	case mode&fs.ModeNamedPipe != 0:
		b[0] = 'p'
	case mode&fs.ModeSocket != 0:
		b[0] = 's'
	default:
		b[0] = '-'
	}
	const rwx = "rwxrwxrwx"
	for i := 0; i < 9; i++ {
		if mode&(1<<uint(8-i)) != 0 {
			b[1+i] = rwx[i]
		} else {
			b[1+i] = '-'
		}
	}
	special := func(i int, set bool, lower, upper byte) {
		if !set {
			return
		}
		if b[i] == 'x' {
			b[i] = lower
		} else {
			b[i] = upper
		}
	}
	special(3, mode&fs.ModeSetuid != 0, 's', 'S')
	special(6, mode&fs.ModeSetgid != 0, 's', 'S')
	special(9, mode&fs.ModeSticky != 0, 't', 'T')
	return string(b[:])
}
