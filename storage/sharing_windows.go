//go:build windows

package storage

// isSharingViolation reports whether err, from a rename (rename true) or a
// remove, means that another program holds the file open.
func isSharingViolation(err error, rename bool) bool {
	return windowsSharingViolation(err, rename)
}
