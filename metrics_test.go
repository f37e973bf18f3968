package main

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"
)

func TestCSVErrorReason(t *testing.T) {
	t.Parallel()
	wrap := func(err error) error {
		return fmt.Errorf("write window: %w", &fs.PathError{Op: "write", Path: "x", Err: err})
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{wrap(syscall.ENOSPC), "disk_full"},
		{wrap(syscall.EROFS), "permission"},
		{wrap(syscall.EACCES), "permission"},
		{wrap(syscall.ENOENT), "missing"},
		{errors.New("rename refused"), "other"},
	} {
		if got := csvErrorReason(tc.err); got != tc.want {
			t.Errorf("csvErrorReason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
