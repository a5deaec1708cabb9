package db

import (
	"context"
	"errors"
	"testing"
	"time"
)

func openTest(t *testing.T) *DB {
	t.Helper()
	d, err := Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestOpenAppliesMigrationsAndReopens(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	v, err := d.SchemaVersion(ctx)
	if err != nil || v < 2 {
		t.Fatalf("schema version = %d, %v; want >= 2", v, err)
	}
	if _, err := d.CreateUser(ctx, "admin", "h", RoleAdmin); err != nil {
		t.Fatal(err)
	}
	d.Close()

	d, err = Open(ctx, dir)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer d.Close()
	if n, _ := d.CountUsers(ctx); n != 1 {
		t.Fatalf("users after reopen = %d, want 1", n)
	}
	var mode string
	d.read.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode)
	var fk int
	d.read.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk)
	if mode != "wal" || fk != 1 {
		t.Fatalf("journal_mode=%s foreign_keys=%d, want wal and 1", mode, fk)
	}
}

func TestSessionsExpireAndSignOut(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d.SetClock(func() time.Time { return now })
	u, _ := d.CreateUser(ctx, "Ann", "h", RoleOperator)
	id, s, err := d.CreateSession(ctx, u.ID, time.Hour)
	if err != nil || s.CSRFToken == "" {
		t.Fatal(err)
	}
	got, err := d.SessionByID(ctx, id)
	if err != nil || got.User.Username != "Ann" || got.User.Role != RoleOperator {
		t.Fatalf("session = %+v, %v", got, err)
	}
	if _, err := d.SessionByID(ctx, id+"x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("wrong id: %v, want ErrNotFound", err)
	}
	now = now.Add(2 * time.Hour)
	if _, err := d.SessionByID(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired session still valid: %v", err)
	}
	now = now.Add(-2 * time.Hour)
	d.DeleteSession(ctx, id)
	if _, err := d.SessionByID(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("signed-out session still valid: %v", err)
	}
}

func TestTokensStoreOnlyHashes(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	secret, tok, err := d.CreateToken(ctx, "ci", RoleReader)
	if err != nil {
		t.Fatal(err)
	}
	var stored string
	d.read.QueryRowContext(ctx, "SELECT token_hash FROM api_tokens WHERE id = ?", tok.ID).Scan(&stored)
	if stored == secret || stored == "" {
		t.Fatalf("token stored in clear")
	}
	got, err := d.TokenBySecret(ctx, secret)
	if err != nil || got.Name != "ci" || got.Role != RoleReader {
		t.Fatalf("token = %+v, %v", got, err)
	}
	if _, err := d.TokenBySecret(ctx, secret[:len(secret)-1]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("truncated token accepted: %v", err)
	}
	if _, _, err := d.CreateToken(ctx, "ci", RoleReader); err == nil {
		t.Fatal("duplicate token name accepted")
	}
	if _, _, err := d.CreateToken(ctx, "x", Role("root")); err == nil {
		t.Fatal("unknown role accepted")
	}
}

func TestRoleAllows(t *testing.T) {
	cases := []struct {
		have, need Role
		ok         bool
	}{
		{RoleAdmin, RoleOperator, true}, {RoleOperator, RoleOperator, true}, {RoleReader, RoleOperator, false},
		{RoleOperator, RoleAdmin, false}, {RoleReader, RoleReader, true}, {Role(""), RoleReader, false},
	}
	for _, c := range cases {
		if got := c.have.Allows(c.need); got != c.ok {
			t.Errorf("%q.Allows(%q) = %v, want %v", c.have, c.need, got, c.ok)
		}
	}
}
