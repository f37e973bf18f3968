package ingest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// Tokens are the bearer tokens that may ingest: one given directly (the
// -ingest-token flag or FLEETPULSE_INGEST_TOKEN) and those of a file, one per
// line, which is read again when it changes, so tokens rotate without a
// restart. Tokens are compared in constant time and never logged. Tokens is
// safe for concurrent use.
type Tokens struct {
	path string
	now  func() time.Time

	mu        sync.Mutex
	static    [][sha256.Size]byte
	fromFile  [][sha256.Size]byte
	modTime   time.Time
	size      int64
	checkedAt time.Time
}

// minTokenLen is the shortest token accepted in configuration.
const minTokenLen = 16

// NewTokens returns the tokens of token (may be empty) and of the file at
// path (may be empty). It fails when a token is too short or the file cannot
// be read.
func NewTokens(token, path string, now func() time.Time) (*Tokens, error) {
	t := &Tokens{path: path, now: now}
	if token != "" {
		if len(token) < minTokenLen {
			return nil, fmt.Errorf("ingest token: at least %d characters, please", minTokenLen)
		}
		t.static = append(t.static, sha256.Sum256([]byte(token)))
	}
	if path != "" {
		if err := t.reload(); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Enabled reports whether any token is configured.
func (t *Tokens) Enabled() bool {
	if t == nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.maybeReload()
	return len(t.static)+len(t.fromFile) > 0
}

// Valid reports whether token is one of the tokens, in time that does not
// depend on which one or on how much of it matches.
func (t *Tokens) Valid(token string) bool {
	_, ok := t.Key(token)
	return ok
}

// Key returns the SHA-256 of token, which identifies it without holding it
// (the rate limit keys its buckets by it), and whether token is valid.
func (t *Tokens) Key(token string) ([sha256.Size]byte, bool) {
	sum := sha256.Sum256([]byte(token))
	if t == nil || token == "" {
		return sum, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.maybeReload()
	ok := 0
	for _, list := range [][][sha256.Size]byte{t.static, t.fromFile} {
		for i := range list {
			ok |= subtle.ConstantTimeCompare(sum[:], list[i][:])
		}
	}
	return sum, ok == 1
}

// maybeReload reads the file again, at most once a second, when its size or
// modification time changed. A file that has become unreadable keeps the
// tokens last read. t.mu is held.
func (t *Tokens) maybeReload() {
	if t.path == "" {
		return
	}
	now := t.now()
	if now.Sub(t.checkedAt) < time.Second {
		return
	}
	t.checkedAt = now
	fi, err := os.Stat(t.path)
	if err != nil || (fi.ModTime().Equal(t.modTime) && fi.Size() == t.size) {
		return
	}
	t.reloadLocked()
}

func (t *Tokens) reload() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.checkedAt = t.now()
	return t.reloadLocked()
}

func (t *Tokens) reloadLocked() error {
	fi, err := os.Stat(t.path)
	if err != nil {
		return fmt.Errorf("ingest token file: %w", err)
	}
	b, err := os.ReadFile(t.path)
	if err != nil {
		return fmt.Errorf("ingest token file: %w", err)
	}
	var list [][sha256.Size]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if len(line) < minTokenLen {
			return fmt.Errorf("ingest token file %s: line %d: token shorter than %d characters", t.path, n, minTokenLen)
		}
		list = append(list, sha256.Sum256([]byte(line)))
	}
	if err := sc.Err(); err != nil {
		// A line too long for the scanner: keep the tokens last read
		// rather than a list cut short.
		return fmt.Errorf("ingest token file %s: %w", t.path, err)
	}
	t.fromFile, t.modTime, t.size = list, fi.ModTime(), fi.Size()
	return nil
}
