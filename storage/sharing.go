package storage

import (
	"errors"
	"syscall"
)

// Windows error codes that mean another program holds a file open. They
// are declared here, not taken from package syscall, so that the predicate
// builds and is tested on every platform.
const (
	errorAccessDenied     = syscall.Errno(5)  // ERROR_ACCESS_DENIED
	errorSharingViolation = syscall.Errno(32) // ERROR_SHARING_VIOLATION
	errorLockViolation    = syscall.Errno(33) // ERROR_LOCK_VIOLATION
)

// windowsSharingViolation reports whether err carries a Windows error code
// that means another program (Excel, a sync client, a virus scanner) has
// the file open: ERROR_SHARING_VIOLATION or ERROR_LOCK_VIOLATION, and for
// a rename also ERROR_ACCESS_DENIED, which is what Windows answers when the
// target is open without delete sharing. Such refusals go away when the
// other program lets go, so they are worth a few retries. It looks only at
// the code, whatever the platform; isSharingViolation uses it on Windows.
func windowsSharingViolation(err error, rename bool) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	switch errno {
	case errorSharingViolation, errorLockViolation:
		return true
	case errorAccessDenied:
		return rename
	}
	return false
}
