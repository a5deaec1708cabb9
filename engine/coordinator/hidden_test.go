package coordinator_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/enginetest"
	"github.com/sqlvault/sqlvault/engine/vault"
)

// markerBackend plays a versioned bucket (S3 with Object Lock) on which
// someone put delete markers over some objects: a plain read or list no
// longer sees them, the version under each marker stays readable.
type markerBackend struct {
	vault.Backend
	mu     sync.Mutex
	hidden map[string]bool
}

func (m *markerBackend) hide(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hidden[name] = true
}

func (m *markerBackend) isHidden(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hidden[name]
}

func (m *markerBackend) Get(ctx context.Context, name string) ([]byte, error) {
	if m.isHidden(name) {
		return nil, fmt.Errorf("%s: %w", name, vault.ErrNotExist)
	}
	return m.Backend.Get(ctx, name)
}

func (m *markerBackend) GetRange(ctx context.Context, name string, off, n int64) ([]byte, error) {
	if m.isHidden(name) {
		return nil, fmt.Errorf("%s: %w", name, vault.ErrNotExist)
	}
	return m.Backend.GetRange(ctx, name, off, n)
}

func (m *markerBackend) List(ctx context.Context, prefix string) ([]string, error) {
	names, err := m.Backend.List(ctx, prefix)
	return slices.DeleteFunc(names, m.isHidden), err
}

func (m *markerBackend) HiddenVersions(_ context.Context, name string) ([]string, error) {
	if m.isHidden(name) {
		return []string{"v1"}, nil
	}
	return nil, nil
}

func (m *markerBackend) ReadVersion(ctx context.Context, name, _ string, off, n int64) ([]byte, error) {
	if n < 0 {
		return m.Backend.Get(ctx, name)
	}
	return m.Backend.GetRange(ctx, name, off, n)
}

// TestVaultVerifyAlertsOnHiddenPacks: after delete markers are put over
// every pack of a backup, the vault verify job still completes (the
// data is read from the versions under the markers) and an alert with
// UserErrorVaultObjectHidden names the hidden packs, so a person learns
// that someone tried to remove a recovery point.
func TestVaultVerifyAlertsOnHiddenPacks(t *testing.T) {
	ctx := context.Background()
	mb := &markerBackend{hidden: map[string]bool{}}
	env := enginetest.StartWith(t, enginetest.Options{WrapBackend: func(b vault.Backend) vault.Backend { mb.Backend = b; return mb }})
	s := stackOn(t, env, env.SimConfig(saPW), nil)
	catalog := s.db
	s.exec("CREATE DATABASE [Sales]")
	srv := s.register("sa", saPW)
	_, job, err := s.coord.Protect(ctx, s.database(srv.ID, "Sales").ID, s.policy().ID)
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	packs, err := mb.Backend.List(ctx, "packs/")
	if err != nil || len(packs) == 0 {
		t.Fatalf("packs after the backup: %v %v", packs, err)
	}
	for _, p := range packs {
		mb.hide(p)
	}
	id, err := s.coord.QueueVerify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(id)
	alerts, err := catalog.ListAlerts(ctx, 50)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range alerts {
		if a.Code != string(engine.CodeVaultObjectHidden) {
			continue
		}
		for _, p := range packs[:min(len(packs), 5)] {
			if !strings.Contains(a.Message, p) {
				t.Fatalf("the hidden-object alert does not name %s: %q", p, a.Message)
			}
		}
		return
	}
	t.Fatalf("no %s alert after verify read %d hidden packs: %+v", engine.CodeVaultObjectHidden, len(packs), alerts)
}
