package coordinator_test

import (
	"context"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/engine/enginetest"
	"github.com/sqlvault/sqlvault/engine/vault"
)

// lockedBackend keeps retention dates as S3 Object Lock does: per
// object, only ever extended.
type lockedBackend struct {
	vault.Backend
	mu    sync.Mutex
	until map[string]time.Time
}

func (l *lockedBackend) Locks() bool { return true }

func (l *lockedBackend) Retain(_ context.Context, name string, until time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if until.After(l.until[name]) {
		l.until[name] = until
	}
	return nil
}

func (l *lockedBackend) dates() map[string]time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.until)
}

// TestRetentionJobExtendsObjectLocks: on storage with an object lock a
// backup holds its objects until the point's expiry plus the soft delete
// period (14 days); once soft delete is raised to 60 days, the next
// retention job holds every one of them until expiry plus 60 days.
func TestRetentionJobExtendsObjectLocks(t *testing.T) {
	ctx := context.Background()
	lb := &lockedBackend{until: map[string]time.Time{}}
	env := enginetest.StartWith(t, enginetest.Options{WrapBackend: func(b vault.Backend) vault.Backend { lb.Backend = b; return lb }})
	s := stackOn(t, env, env.SimConfig(saPW), nil)
	catalog := s.db
	s.exec("CREATE DATABASE [Sales]")
	srv := s.register("sa", saPW)
	it, job, err := s.coord.Protect(ctx, s.database(srv.ID, "Sales").ID, s.policy().ID)
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	points, err := catalog.ListPoints(ctx, it.ID)
	if err != nil || len(points) != 1 || points[0].ExpiresAt == nil {
		t.Fatalf("points = %+v, %v", points, err)
	}
	exp := *points[0].ExpiresAt
	first := lb.dates()
	if len(first) == 0 {
		t.Fatal("the backup retained nothing on storage with an object lock")
	}
	for name, d := range first {
		if name != "config" && !d.Equal(exp.Add(14*24*time.Hour)) {
			t.Fatalf("after the backup %s is held until %v, want expiry + 14 days %v", name, d, exp.Add(14*24*time.Hour))
		}
	}
	if _, err := s.coord.UpdateSettings(ctx, vault.Settings{Immutability: vault.ImmutabilityDisabled, SoftDeleteDays: 60}); err != nil {
		t.Fatal(err)
	}
	id, err := s.coord.QueueRetention(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(id)
	now := lb.dates()
	for name := range first {
		if want := exp.Add(60 * 24 * time.Hour); now[name].Before(want) {
			t.Fatalf("after the retention job %s is held until %v, want at least expiry + 60 days %v", name, now[name], want)
		}
	}
}
