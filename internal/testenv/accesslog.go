package testenv

import "sync"

// accessLog is what a test server served, safe for concurrent use. The
// servers embed it, so tests read it as server.Requests() and reset it with
// server.ResetLog().
type accessLog[T any] struct {
	mu      sync.Mutex
	entries []T
}

func (l *accessLog[T]) add(e T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, e)
}

// Requests returns the log so far.
func (l *accessLog[T]) Requests() []T {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]T(nil), l.entries...)
}

// ResetLog empties the log.
func (l *accessLog[T]) ResetLog() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = nil
}
