package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// tempSuffix marks temporary files: ".latest_metrics.csv.tmp123". The name
// starts with "." and does not end in ".csv".
const tempSuffix = ".tmp"

// isTemp reports whether name is a temporary file name of ours.
func isTemp(name string) bool {
	return strings.HasPrefix(name, ".") && !strings.HasSuffix(name, ".csv")
}

// createTemp creates a new temporary file in dir for the target base, with
// mode 0644 (before the umask). The caller removes it.
func (w *Writer) createTemp(dir, base string) (*os.File, string, error) {
	for range 100 {
		name := filepath.Join(dir, "."+base+tempSuffix+strconv.FormatUint(uint64(rand.Uint32()), 10))
		f, err := w.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, name, err
	}
	return nil, "", fmt.Errorf("create temporary file in %s: too many name collisions", dir)
}

// replace atomically replaces the file name with data: it writes a
// temporary file in the same folder, syncs it, makes it 0644, renames it
// over name and syncs the folder. On error the temporary file is removed
// and name keeps its previous content.
func (w *Writer) replace(name string, data []byte) error {
	dir, base := filepath.Split(name)
	dir = filepath.Clean(dir)
	f, tmp, err := w.createTemp(dir, base)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
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
		err = w.root.Rename(tmp, name)
	}
	if err != nil {
		w.root.Remove(tmp)
		return err
	}
	return w.syncDir(dir)
}

// syncDir makes the entries of the folder dir durable (a rename or a new
// file in it).
func (w *Writer) syncDir(dir string) error {
	d, err := w.root.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// mkdir creates the folder name with mode 0755 unless it exists. The mode
// is set explicitly because the umask may take away the access a BI
// gateway running as another user needs.
func (w *Writer) mkdir(name string) error {
	err := w.root.Mkdir(name, 0o755)
	if errors.Is(err, fs.ErrExist) {
		fi, err := w.root.Stat(name)
		if err == nil && !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", name)
		}
		return err
	}
	if err != nil {
		return err
	}
	if err := w.root.Chmod(name, 0o755); err != nil {
		return err
	}
	return w.syncDir(filepath.Dir(name))
}

// readDir lists the folder name.
func (w *Writer) readDir(name string) ([]os.DirEntry, error) {
	d, err := w.root.Open(name)
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
			if err := w.root.Remove(name); err != nil {
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
		if rerr := w.root.Remove(name); err == nil {
			err = rerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
