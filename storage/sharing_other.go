//go:build !windows

package storage

// isSharingViolation reports false: outside Windows an open file never
// blocks a rename or a remove.
func isSharingViolation(err error, rename bool) bool { return false }
