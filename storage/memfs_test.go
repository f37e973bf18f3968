package storage

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// memFS is an in-memory file layer for tests that write many thousands of
// windows, where a real disk would make them slow (a create and a rename
// cost hundreds of microseconds on ext4). It keeps what the Writer relies
// on: O_EXCL, renames that replace a file, removal of empty folders only,
// and readers that keep the content they opened.
type memFS struct {
	mu    sync.Mutex
	files map[string]*memNode // by slash path
	dirs  map[string]bool     // by slash path; "." is the root
	// sizesOnly makes files created from now on keep their size but not
	// their bytes, which would cost a copy of the whole fleet_metrics.csv
	// per window (many seconds under -race). Reading such a file fails.
	sizesOnly bool
}

// memNode is a file: its bytes, or only its size when lost.
type memNode struct {
	b    []byte
	size int64
	lost bool // created while sizesOnly: b is empty
}

// errNotKept is what reading a file written while sizesOnly gives.
var errNotKept = errors.New("memFS: content not kept")

func newMemFS() *memFS {
	return &memFS{files: make(map[string]*memNode), dirs: map[string]bool{".": true}}
}

// layer returns a hook that puts m in place of the real file layer, which
// it closes. m outlives Writers: a test can open another on it.
func (m *memFS) layer() func(fsys) fsys {
	return func(real fsys) fsys {
		real.Close()
		return memRoot{m}
	}
}

// memRoot is m as one Writer's fsys; its Close leaves m as it is.
type memRoot struct{ *memFS }

func (memRoot) Close() error { return nil }

func clean(name string) string { return path.Clean(filepath.ToSlash(name)) }

func (m *memFS) OpenFile(name string, flag int, perm fs.FileMode) (file, error) {
	name = clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirs[path.Dir(name)] {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	_, exists := m.files[name]
	if exists || m.dirs[name] {
		if flag&os.O_EXCL != 0 {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EINVAL} // not needed by the Writer
	}
	m.files[name] = &memNode{lost: m.sizesOnly}
	return &memFile{m: m, name: name}, nil
}

func (m *memFS) Open(name string) (file, error) {
	name = clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dirs[name] {
		return &memFile{m: m, name: name, dir: true}, nil
	}
	n, ok := m.files[name]
	switch {
	case !ok:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case n.lost:
		return nil, &fs.PathError{Op: "open", Path: name, Err: errNotKept}
	}
	return &memFile{m: m, name: name, r: bytes.NewReader(n.b)}, nil
}

func (m *memFS) Mkdir(name string, perm fs.FileMode) error {
	name = clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	_, isFile := m.files[name]
	switch {
	case m.dirs[name] || isFile:
		return &fs.PathError{Op: "mkdir", Path: name, Err: fs.ErrExist}
	case !m.dirs[path.Dir(name)]:
		return &fs.PathError{Op: "mkdir", Path: name, Err: fs.ErrNotExist}
	}
	m.dirs[name] = true
	return nil
}

func (m *memFS) Chmod(name string, perm fs.FileMode) error {
	_, err := m.Stat(name)
	return err
}

func (m *memFS) Rename(oldname, newname string) error {
	oldname, newname = clean(oldname), clean(newname)
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.files[oldname]
	switch {
	case !ok || !m.dirs[path.Dir(newname)]:
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: fs.ErrNotExist}
	case m.dirs[newname]:
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: syscall.EISDIR}
	}
	delete(m.files, oldname)
	m.files[newname] = n
	return nil
}

func (m *memFS) Remove(name string) error {
	name = clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[name]; ok {
		delete(m.files, name)
		return nil
	}
	if !m.dirs[name] {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	if len(m.children(name)) > 0 {
		return &fs.PathError{Op: "remove", Path: name, Err: syscall.ENOTEMPTY}
	}
	delete(m.dirs, name)
	return nil
}

func (m *memFS) Stat(name string) (fs.FileInfo, error) {
	name = clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dirs[name] {
		return memInfo{name: path.Base(name), dir: true}, nil
	}
	if n, ok := m.files[name]; ok {
		return memInfo{name: path.Base(name), size: n.size}, nil
	}
	return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
}

// children lists the entries of the folder dir, sorted by name. m.mu is
// held.
func (m *memFS) children(dir string) []fs.DirEntry {
	var entries []fs.DirEntry
	for name, n := range m.files {
		if path.Dir(name) == dir {
			entries = append(entries, fs.FileInfoToDirEntry(memInfo{name: path.Base(name), size: n.size}))
		}
	}
	for name := range m.dirs {
		if name != "." && path.Dir(name) == dir {
			entries = append(entries, fs.FileInfoToDirEntry(memInfo{name: path.Base(name), dir: true}))
		}
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries
}

// read returns the content of the file name, or nil.
func (m *memFS) read(name string) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n, ok := m.files[name]; ok && !n.lost {
		return n.b
	}
	return nil
}

// size returns the size of the file name, or -1.
func (m *memFS) size(name string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n, ok := m.files[name]; ok {
		return n.size
	}
	return -1
}

// list returns the slash paths of the files, sorted.
func (m *memFS) list() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var names []string
	for name := range m.files {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// memFile is a file being written (r nil, not dir), a file being read (r)
// or a folder being listed (dir).
type memFile struct {
	m    *memFS
	name string
	r    *bytes.Reader
	dir  bool
}

func (f *memFile) Read(p []byte) (int, error) {
	if f.r == nil {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: syscall.EBADF}
	}
	return f.r.Read(p)
}

func (f *memFile) Write(p []byte) (int, error) {
	if f.r != nil || f.dir {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: syscall.EBADF}
	}
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	n, ok := f.m.files[f.name]
	if !ok {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: fs.ErrNotExist} // renamed or removed while open: not done by the Writer
	}
	n.size += int64(len(p))
	if !n.lost {
		n.b = append(n.b, p...)
	}
	return len(p), nil
}

func (f *memFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if !f.dir {
		return nil, &fs.PathError{Op: "readdirent", Path: f.name, Err: syscall.ENOTDIR}
	}
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	entries := f.m.children(f.name)
	if n > 0 && len(entries) == 0 {
		return nil, io.EOF
	}
	return entries, nil
}

func (f *memFile) Sync() error                  { return nil }
func (f *memFile) Chmod(mode fs.FileMode) error { return nil }
func (f *memFile) Close() error                 { return nil }

type memInfo struct {
	name string
	size int64
	dir  bool
}

func (i memInfo) Name() string { return i.name }
func (i memInfo) Size() int64  { return i.size }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }
