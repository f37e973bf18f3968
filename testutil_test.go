package main

import (
	"strings"
	"sync"
)

// syncWriter makes a strings.Builder safe for the server's concurrent logs.
type syncWriter struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
