package auth

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// ErrBusy is returned when no hashing slot frees up within the gate's wait.
var ErrBusy = errors.New("too many password checks at once")

// Gate bounds how many password hashes run at once. Each argon2id check
// holds 19 MiB for tens of milliseconds, so without a bound 200 concurrent
// sign-ins would take 3.8 GiB; a caller waits briefly for a slot, then gets
// ErrBusy and answers "try again".
type Gate struct {
	slots chan struct{}
	wait  time.Duration
	now   atomic.Int32
	peak  atomic.Int32
	runs  atomic.Int64
}

// NewGate admits n hashes at once; others wait up to wait for a slot.
func NewGate(n int, wait time.Duration) *Gate {
	return &Gate{slots: make(chan struct{}, max(n, 1)), wait: wait}
}

// DefaultGate: 3 hashes at once (57 MiB), a waiting caller gives up after
// 2 seconds.
func DefaultGate() *Gate { return NewGate(3, 2*time.Second) }

// Do runs f in a slot, or returns ErrBusy (or the context's error).
func (g *Gate) Do(ctx context.Context, f func()) error {
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
	case <-t.C:
		return ErrBusy
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-g.slots }()
	n := g.now.Add(1)
	defer g.now.Add(-1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
	g.runs.Add(1)
	f()
	return nil
}

// Peak is the most hashes that ever ran at once; Runs how many ran.
func (g *Gate) Peak() int   { return int(g.peak.Load()) }
func (g *Gate) Runs() int64 { return g.runs.Load() }

// Size is how many hashes may run at once.
func (g *Gate) Size() int { return cap(g.slots) }
