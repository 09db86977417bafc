package errno

import (
	"errors"
	"fmt"
	"testing"
)

// errnoTable is the spec: every Errno with its number, its Linux name and the
// text glibc 2.36's strerror prints for it on x86-64.
//
//   - numbers and names: include/uapi/asm-generic/errno-base.h (1–34),
//     include/uapi/asm-generic/errno.h (35–133), include/linux/errno.h (512–531);
//   - texts: glibc sysdeps/gnu/errlist.h (checked against strerror on the
//     build machine); numbers glibc has no text for print "Unknown error N".
var errnoTable = []struct {
	e    Errno
	num  int
	name string
	text string
}{
	{EPERM, 1, "EPERM", "Operation not permitted"},
	{ENOENT, 2, "ENOENT", "No such file or directory"},
	{ESRCH, 3, "ESRCH", "No such process"},
	{EINTR, 4, "EINTR", "Interrupted system call"},
	{EIO, 5, "EIO", "Input/output error"},
	{ENXIO, 6, "ENXIO", "No such device or address"},
	{E2BIG, 7, "E2BIG", "Argument list too long"},
	{ENOEXEC, 8, "ENOEXEC", "Exec format error"},
	{EBADF, 9, "EBADF", "Bad file descriptor"},
	{ECHILD, 10, "ECHILD", "No child processes"},
	{EAGAIN, 11, "EAGAIN", "Resource temporarily unavailable"},
	{ENOMEM, 12, "ENOMEM", "Cannot allocate memory"},
	{EACCES, 13, "EACCES", "Permission denied"},
	{EFAULT, 14, "EFAULT", "Bad address"},
	{ENOTBLK, 15, "ENOTBLK", "Block device required"},
	{EBUSY, 16, "EBUSY", "Device or resource busy"},
	{EEXIST, 17, "EEXIST", "File exists"},
	{EXDEV, 18, "EXDEV", "Invalid cross-device link"},
	{ENODEV, 19, "ENODEV", "No such device"},
	{ENOTDIR, 20, "ENOTDIR", "Not a directory"},
	{EISDIR, 21, "EISDIR", "Is a directory"},
	{EINVAL, 22, "EINVAL", "Invalid argument"},
	{ENFILE, 23, "ENFILE", "Too many open files in system"},
	{EMFILE, 24, "EMFILE", "Too many open files"},
	{ENOTTY, 25, "ENOTTY", "Inappropriate ioctl for device"},
	{ETXTBSY, 26, "ETXTBSY", "Text file busy"},
	{EFBIG, 27, "EFBIG", "File too large"},
	{ENOSPC, 28, "ENOSPC", "No space left on device"},
	{ESPIPE, 29, "ESPIPE", "Illegal seek"},
	{EROFS, 30, "EROFS", "Read-only file system"},
	{EMLINK, 31, "EMLINK", "Too many links"},
	{EPIPE, 32, "EPIPE", "Broken pipe"},
	{EDOM, 33, "EDOM", "Numerical argument out of domain"},
	{ERANGE, 34, "ERANGE", "Numerical result out of range"},
	{EDEADLK, 35, "EDEADLK", "Resource deadlock avoided"},
	{ENAMETOOLONG, 36, "ENAMETOOLONG", "File name too long"},
	{ENOLCK, 37, "ENOLCK", "No locks available"},
	{ENOSYS, 38, "ENOSYS", "Function not implemented"},
	{ENOTEMPTY, 39, "ENOTEMPTY", "Directory not empty"},
	{ELOOP, 40, "ELOOP", "Too many levels of symbolic links"},
	{ENOMSG, 42, "ENOMSG", "No message of desired type"},
	{EIDRM, 43, "EIDRM", "Identifier removed"},
	{ECHRNG, 44, "ECHRNG", "Channel number out of range"},
	{EL2NSYNC, 45, "EL2NSYNC", "Level 2 not synchronized"},
	{EL3HLT, 46, "EL3HLT", "Level 3 halted"},
	{EL3RST, 47, "EL3RST", "Level 3 reset"},
	{ELNRNG, 48, "ELNRNG", "Link number out of range"},
	{EUNATCH, 49, "EUNATCH", "Protocol driver not attached"},
	{ENOCSI, 50, "ENOCSI", "No CSI structure available"},
	{EL2HLT, 51, "EL2HLT", "Level 2 halted"},
	{EBADE, 52, "EBADE", "Invalid exchange"},
	{EBADR, 53, "EBADR", "Invalid request descriptor"},
	{EXFULL, 54, "EXFULL", "Exchange full"},
	{ENOANO, 55, "ENOANO", "No anode"},
	{EBADRQC, 56, "EBADRQC", "Invalid request code"},
	{EBADSLT, 57, "EBADSLT", "Invalid slot"},
	{EBFONT, 59, "EBFONT", "Bad font file format"},
	{ENOSTR, 60, "ENOSTR", "Device not a stream"},
	{ENODATA, 61, "ENODATA", "No data available"},
	{ETIME, 62, "ETIME", "Timer expired"},
	{ENOSR, 63, "ENOSR", "Out of streams resources"},
	{ENONET, 64, "ENONET", "Machine is not on the network"},
	{ENOPKG, 65, "ENOPKG", "Package not installed"},
	{EREMOTE, 66, "EREMOTE", "Object is remote"},
	{ENOLINK, 67, "ENOLINK", "Link has been severed"},
	{EADV, 68, "EADV", "Advertise error"},
	{ESRMNT, 69, "ESRMNT", "Srmount error"},
	{ECOMM, 70, "ECOMM", "Communication error on send"},
	{EPROTO, 71, "EPROTO", "Protocol error"},
	{EMULTIHOP, 72, "EMULTIHOP", "Multihop attempted"},
	{EDOTDOT, 73, "EDOTDOT", "RFS specific error"},
	{EBADMSG, 74, "EBADMSG", "Bad message"},
	{EOVERFLOW, 75, "EOVERFLOW", "Value too large for defined data type"},
	{ENOTUNIQ, 76, "ENOTUNIQ", "Name not unique on network"},
	{EBADFD, 77, "EBADFD", "File descriptor in bad state"},
	{EREMCHG, 78, "EREMCHG", "Remote address changed"},
	{ELIBACC, 79, "ELIBACC", "Can not access a needed shared library"},
	{ELIBBAD, 80, "ELIBBAD", "Accessing a corrupted shared library"},
	{ELIBSCN, 81, "ELIBSCN", ".lib section in a.out corrupted"},
	{ELIBMAX, 82, "ELIBMAX", "Attempting to link in too many shared libraries"},
	{ELIBEXEC, 83, "ELIBEXEC", "Cannot exec a shared library directly"},
	{EILSEQ, 84, "EILSEQ", "Invalid or incomplete multibyte or wide character"},
	{ERESTART, 85, "ERESTART", "Interrupted system call should be restarted"},
	{ESTRPIPE, 86, "ESTRPIPE", "Streams pipe error"},
	{EUSERS, 87, "EUSERS", "Too many users"},
	{ENOTSOCK, 88, "ENOTSOCK", "Socket operation on non-socket"},
	{EDESTADDRREQ, 89, "EDESTADDRREQ", "Destination address required"},
	{EMSGSIZE, 90, "EMSGSIZE", "Message too long"},
	{EPROTOTYPE, 91, "EPROTOTYPE", "Protocol wrong type for socket"},
	{ENOPROTOOPT, 92, "ENOPROTOOPT", "Protocol not available"},
	{EPROTONOSUPPORT, 93, "EPROTONOSUPPORT", "Protocol not supported"},
	{ESOCKTNOSUPPORT, 94, "ESOCKTNOSUPPORT", "Socket type not supported"},
	{EOPNOTSUPP, 95, "EOPNOTSUPP", "Operation not supported"},
	{EPFNOSUPPORT, 96, "EPFNOSUPPORT", "Protocol family not supported"},
	{EAFNOSUPPORT, 97, "EAFNOSUPPORT", "Address family not supported by protocol"},
	{EADDRINUSE, 98, "EADDRINUSE", "Address already in use"},
	{EADDRNOTAVAIL, 99, "EADDRNOTAVAIL", "Cannot assign requested address"},
	{ENETDOWN, 100, "ENETDOWN", "Network is down"},
	{ENETUNREACH, 101, "ENETUNREACH", "Network is unreachable"},
	{ENETRESET, 102, "ENETRESET", "Network dropped connection on reset"},
	{ECONNABORTED, 103, "ECONNABORTED", "Software caused connection abort"},
	{ECONNRESET, 104, "ECONNRESET", "Connection reset by peer"},
	{ENOBUFS, 105, "ENOBUFS", "No buffer space available"},
	{EISCONN, 106, "EISCONN", "Transport endpoint is already connected"},
	{ENOTCONN, 107, "ENOTCONN", "Transport endpoint is not connected"},
	{ESHUTDOWN, 108, "ESHUTDOWN", "Cannot send after transport endpoint shutdown"},
	{ETOOMANYREFS, 109, "ETOOMANYREFS", "Too many references: cannot splice"},
	{ETIMEDOUT, 110, "ETIMEDOUT", "Connection timed out"},
	{ECONNREFUSED, 111, "ECONNREFUSED", "Connection refused"},
	{EHOSTDOWN, 112, "EHOSTDOWN", "Host is down"},
	{EHOSTUNREACH, 113, "EHOSTUNREACH", "No route to host"},
	{EALREADY, 114, "EALREADY", "Operation already in progress"},
	{EINPROGRESS, 115, "EINPROGRESS", "Operation now in progress"},
	{ESTALE, 116, "ESTALE", "Stale file handle"},
	{EUCLEAN, 117, "EUCLEAN", "Structure needs cleaning"},
	{ENOTNAM, 118, "ENOTNAM", "Not a XENIX named type file"},
	{ENAVAIL, 119, "ENAVAIL", "No XENIX semaphores available"},
	{EISNAM, 120, "EISNAM", "Is a named type file"},
	{EREMOTEIO, 121, "EREMOTEIO", "Remote I/O error"},
	{EDQUOT, 122, "EDQUOT", "Disk quota exceeded"},
	{ENOMEDIUM, 123, "ENOMEDIUM", "No medium found"},
	{EMEDIUMTYPE, 124, "EMEDIUMTYPE", "Wrong medium type"},
	{ECANCELED, 125, "ECANCELED", "Operation canceled"},
	{ENOKEY, 126, "ENOKEY", "Required key not available"},
	{EKEYEXPIRED, 127, "EKEYEXPIRED", "Key has expired"},
	{EKEYREVOKED, 128, "EKEYREVOKED", "Key has been revoked"},
	{EKEYREJECTED, 129, "EKEYREJECTED", "Key was rejected by service"},
	{EOWNERDEAD, 130, "EOWNERDEAD", "Owner died"},
	{ENOTRECOVERABLE, 131, "ENOTRECOVERABLE", "State not recoverable"},
	{ERFKILL, 132, "ERFKILL", "Operation not possible due to RF-kill"},
	{EHWPOISON, 133, "EHWPOISON", "Memory page has hardware error"},
	{ERESTARTSYS, 512, "ERESTARTSYS", "Unknown error 512"},
	{ERESTARTNOINTR, 513, "ERESTARTNOINTR", "Unknown error 513"},
	{ERESTARTNOHAND, 514, "ERESTARTNOHAND", "Unknown error 514"},
	{ENOIOCTLCMD, 515, "ENOIOCTLCMD", "Unknown error 515"},
	{ERESTART_RESTARTBLOCK, 516, "ERESTART_RESTARTBLOCK", "Unknown error 516"},
	{EPROBE_DEFER, 517, "EPROBE_DEFER", "Unknown error 517"},
	{EOPENSTALE, 518, "EOPENSTALE", "Unknown error 518"},
	{ENOPARAM, 519, "ENOPARAM", "Unknown error 519"},
	{EBADHANDLE, 521, "EBADHANDLE", "Unknown error 521"},
	{ENOTSYNC, 522, "ENOTSYNC", "Unknown error 522"},
	{EBADCOOKIE, 523, "EBADCOOKIE", "Unknown error 523"},
	{ENOTSUPP, 524, "ENOTSUPP", "Unknown error 524"},
	{ETOOSMALL, 525, "ETOOSMALL", "Unknown error 525"},
	{ESERVERFAULT, 526, "ESERVERFAULT", "Unknown error 526"},
	{EBADTYPE, 527, "EBADTYPE", "Unknown error 527"},
	{EJUKEBOX, 528, "EJUKEBOX", "Unknown error 528"},
	{EIOCBQUEUED, 529, "EIOCBQUEUED", "Unknown error 529"},
	{ERECALLCONFLICT, 530, "ERECALLCONFLICT", "Unknown error 530"},
	{ENOGRACE, 531, "ENOGRACE", "Unknown error 531"},
}

func TestErrno_Table(t *testing.T) {
	for _, tt := range errnoTable {
		if int(tt.e) != tt.num {
			t.Errorf("%s = %d, want %d", tt.name, int(tt.e), tt.num)
		}
		if got := tt.e.Name(); got != tt.name {
			t.Errorf("Errno(%d).Name() = %q, want %q", tt.num, got, tt.name)
		}
		if got := tt.e.Error(); got != tt.text {
			t.Errorf("%s.Error() = %q, want %q", tt.name, got, tt.text)
		}
		if got := FromInt(-tt.num); got != tt.e {
			t.Errorf("FromInt(%d) = %d, want %s", -tt.num, got, tt.name)
		}
		if got := FromInt(tt.num); got != tt.e {
			t.Errorf("FromInt(%d) = %d, want %s", tt.num, got, tt.name)
		}
		if got := tt.e.Neg(); got != -tt.num {
			t.Errorf("%s.Neg() = %d, want %d", tt.name, got, -tt.num)
		}
	}
}

// TestErrno_TableComplete checks that the table above names every number the
// package knows, so a constant cannot be added without its spec row.
func TestErrno_TableComplete(t *testing.T) {
	inTable := map[Errno]bool{}
	for _, tt := range errnoTable {
		inTable[tt.e] = true
	}
	for n := -10; n < 700; n++ {
		e := Errno(n)
		if _, known := e.info(); known != inTable[e] {
			t.Errorf("Errno(%d): known to package = %v, in spec table = %v", n, known, inTable[e])
		}
	}
}

func TestErrno_Aliases(t *testing.T) {
	for _, tt := range []struct {
		alias, primary Errno
		name           string
	}{
		{EWOULDBLOCK, EAGAIN, "EAGAIN"},
		{EDEADLOCK, EDEADLK, "EDEADLK"},
		{ENOTSUP, EOPNOTSUPP, "EOPNOTSUPP"},
	} {
		if tt.alias != tt.primary || tt.alias.Name() != tt.name {
			t.Errorf("alias %d: primary %d, Name %q; want %d, %q", tt.alias, tt.primary, tt.alias.Name(), tt.primary, tt.name)
		}
	}
}

// TestErrno_Unknown covers numbers Linux never assigned: glibc's
// "Unknown error N" (string/_strerror.c) and strerror(0) == "Success".
func TestErrno_Unknown(t *testing.T) {
	for _, tt := range []struct {
		e          Errno
		name, text string
	}{
		{0, "Errno(0)", "Success"},
		{41, "Errno(41)", "Unknown error 41"},
		{58, "Errno(58)", "Unknown error 58"},
		{134, "Errno(134)", "Unknown error 134"},
		{520, "Errno(520)", "Unknown error 520"},
		{532, "Errno(532)", "Unknown error 532"},
		{4095, "Errno(4095)", "Unknown error 4095"},
		{-1, "Errno(-1)", "Unknown error -1"},
	} {
		if got := tt.e.Name(); got != tt.name {
			t.Errorf("Errno(%d).Name() = %q, want %q", int(tt.e), got, tt.name)
		}
		if got := tt.e.Error(); got != tt.text {
			t.Errorf("Errno(%d).Error() = %q, want %q", int(tt.e), got, tt.text)
		}
	}
}

func TestOf(t *testing.T) {
	wrapped := fmt.Errorf("load module %q: %w", "test_klp_livepatch", EBUSY)
	for _, tt := range []struct {
		err  error
		want Errno
		ok   bool
	}{
		{EINVAL, EINVAL, true},
		{wrapped, EBUSY, true},
		{fmt.Errorf("outer: %w", wrapped), EBUSY, true},
		{errors.New("not an errno"), 0, false},
		{nil, 0, false},
	} {
		got, ok := Of(tt.err)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Of(%v) = %v, %v; want %v, %v", tt.err, got, ok, tt.want, tt.ok)
		}
	}
	if !errors.Is(wrapped, EBUSY) || errors.Is(wrapped, EINVAL) {
		t.Error("errors.Is does not match Errno values by number")
	}
}
