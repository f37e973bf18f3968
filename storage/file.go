package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// fsys is the file layer below the output root: the operations a Writer
// does, as os.Root offers them. Names are relative to the root. The real
// one is rootFS; tests wrap it to inject faults.
type fsys interface {
	OpenFile(name string, flag int, perm fs.FileMode) (file, error)
	Open(name string) (file, error)
	Mkdir(name string, perm fs.FileMode) error
	Chmod(name string, perm fs.FileMode) error
	Rename(oldname, newname string) error
	Remove(name string) error
	Stat(name string) (fs.FileInfo, error)
	Close() error
}

// file is a file or folder opened through an fsys.
type file interface {
	io.Reader
	io.Writer
	io.Closer
	Sync() error
	Chmod(mode fs.FileMode) error
	ReadDir(n int) ([]fs.DirEntry, error)
}

// rootFS is the fsys of an os.Root, which keeps every operation inside the
// output root (no symlink or ".." leads out of it).
type rootFS struct{ r *os.Root }

func (r rootFS) OpenFile(name string, flag int, perm fs.FileMode) (file, error) {
	f, err := r.r.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err // not a typed nil in an interface
	}
	return f, nil
}

func (r rootFS) Open(name string) (file, error) {
	f, err := r.r.Open(name)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (r rootFS) Mkdir(name string, perm fs.FileMode) error { return r.r.Mkdir(name, perm) }
func (r rootFS) Chmod(name string, perm fs.FileMode) error { return r.r.Chmod(name, perm) }
func (r rootFS) Rename(oldname, newname string) error      { return r.r.Rename(oldname, newname) }
func (r rootFS) Remove(name string) error                  { return r.r.Remove(name) }
func (r rootFS) Stat(name string) (fs.FileInfo, error)     { return r.r.Stat(name) }
func (r rootFS) Close() error                              { return r.r.Close() }

// openFS opens the output root as an fsys, wrapped by the tests' layer if
// they set one.
func (w *Writer) openFS() (fsys, error) {
	r, err := os.OpenRoot(w.dir)
	if err != nil {
		return nil, err
	}
	var f fsys = rootFS{r}
	if w.layer != nil {
		f = w.layer(f)
	}
	return f, nil
}

// Retries of an operation refused because another process holds the file
// open (Windows): up to shareRetries more attempts, waiting shareFirstWait,
// then twice as long each time: at most 310 ms in all.
const (
	shareRetries   = 5
	shareFirstWait = 10 * time.Millisecond
)

// retry runs op, and runs it again while it fails with a sharing violation,
// up to shareRetries times with growing waits. rename tells the predicate
// that op is a rename (Windows then also means a held file by "access
// denied"). The error of the last attempt is returned.
func (w *Writer) retry(rename bool, op func() error) error {
	wait := shareFirstWait
	for i := 0; ; i++ {
		err := op()
		if err == nil || !w.sharing(err, rename) {
			return err
		}
		if i == shareRetries {
			return fmt.Errorf("%w (refused %d times: the file is held open by another program)", err, i+1)
		}
		w.sleep(wait)
		wait *= 2
	}
}

// tempSuffix marks temporary files: ".latest_metrics.csv.tmp123". The name
// starts with "." and does not end in ".csv".
const tempSuffix = ".tmp"

// isTemp reports whether name is a temporary file name of ours.
func isTemp(name string) bool {
	return strings.HasPrefix(name, ".") && !strings.HasSuffix(name, ".csv")
}

// createTemp creates a new temporary file in dir for the target base, with
// mode 0644 (before the umask). The caller removes it.
func (w *Writer) createTemp(dir, base string) (file, string, error) {
	for range 100 {
		name := filepath.Join(dir, "."+base+tempSuffix+strconv.FormatUint(uint64(rand.Uint32()), 10)) // #nosec G404 -- O_EXCL makes the name safe; it needs no secrecy
		f, err := w.fs.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, name, err
	}
	return nil, "", fmt.Errorf("create temporary file in %s: too many name collisions", dir)
}

// replace atomically replaces the file name with the concatenation of
// parts: it writes a temporary file in the same folder, makes it 0644,
// syncs it, renames it over name (retrying while another program holds
// name open) and syncs the folder.
//
// replaced reports whether the rename happened: readers then see the new
// content, even if err (from syncing the folder) is not nil. When it did
// not, name keeps its previous content and the temporary file is removed;
// if even that fails, it is remembered and removed by a later Write.
func (w *Writer) replace(name string, parts ...[]byte) (replaced bool, err error) {
	dir, base := filepath.Split(name)
	dir = filepath.Clean(dir)
	f, tmp, err := w.createTemp(dir, base)
	if err != nil {
		return false, err
	}
	for _, p := range parts {
		if err == nil {
			_, err = f.Write(p)
		}
	}
	if err == nil {
		// Explicit, because the umask may have taken read access away
		// from the BI gateway's user.
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = w.retry(true, func() error { return w.fs.Rename(tmp, name) })
	}
	if err != nil {
		w.removeTemp(tmp)
		return false, err
	}
	return true, w.syncDir(dir)
}

// removeTemp removes the temporary file name, or remembers it for
// removeOrphans when it cannot.
func (w *Writer) removeTemp(name string) {
	err := w.retry(false, func() error { return w.fs.Remove(name) })
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		w.orphans = append(w.orphans, name)
	}
}

// removeOrphans removes the temporary files that a failed Write could not
// remove. Those that still resist stay on the list.
func (w *Writer) removeOrphans() {
	left := w.orphans[:0]
	for _, name := range w.orphans {
		err := w.retry(false, func() error { return w.fs.Remove(name) })
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			left = append(left, name)
		}
	}
	w.orphans = left
}

// syncDir makes the entries of the folder dir durable (a rename or a new
// file in it). On Windows it does nothing: a folder opened for reading
// cannot be flushed there, and NTFS journals renames itself.
func (w *Writer) syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := w.fs.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// mkdir creates the folder name with mode 0755 unless it exists, and
// reports whether it created it. The mode is set explicitly because the
// umask may take away the access a BI gateway running as another user
// needs.
func (w *Writer) mkdir(name string) (created bool, err error) {
	err = w.fs.Mkdir(name, 0o755)
	if errors.Is(err, fs.ErrExist) {
		fi, err := w.fs.Stat(name)
		if err == nil && !fi.IsDir() {
			return false, fmt.Errorf("%s is not a directory", name)
		}
		return false, err
	}
	if err != nil {
		return false, err
	}
	if err := w.fs.Chmod(name, 0o755); err != nil {
		return true, err
	}
	return true, w.syncDir(filepath.Dir(name))
}

// readDir lists the folder name.
func (w *Writer) readDir(name string) ([]fs.DirEntry, error) {
	d, err := w.fs.Open(name)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.ReadDir(-1)
}

// removeStale removes the temporary files left in dir (and, if deep, its
// subfolders) by a process that stopped while writing.
func (w *Writer) removeStale(dir string, deep bool) error {
	entries, err := w.readDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := filepath.Join(dir, e.Name())
		switch {
		case e.IsDir() && deep:
			if err := w.removeStale(name, deep); err != nil {
				return err
			}
		case e.Type().IsRegular() && isTemp(e.Name()):
			if err := w.retry(false, func() error { return w.fs.Remove(name) }); err != nil {
				return fmt.Errorf("remove stale temporary file: %w", err)
			}
			w.log.Debug("stale temporary file removed", "file", name)
		}
	}
	return nil
}

// checkWritable creates and removes a temporary file in each folder that
// Write writes to, so that a read-only output root fails at start rather
// than at the first window.
func (w *Writer) checkWritable() error {
	for _, dir := range []string{csvDir, historyDir} {
		f, name, err := w.createTemp(dir, "probe")
		if err != nil {
			return err
		}
		err = f.Close()
		if rerr := w.fs.Remove(name); err == nil {
			err = rerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
