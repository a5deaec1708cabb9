package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/auth"
	"github.com/sqlvault/sqlvault/db"
)

// cli runs sqlvault with args and the given standard input.
func cli(t *testing.T, in string, args ...string) (string, error) {
	t.Helper()
	old := stdin
	stdin = strings.NewReader(in)
	defer func() { stdin = old }()
	var out bytes.Buffer
	err := run(context.Background(), args, &out)
	return out.String(), err
}

// TestUserCommandsRecoverWithoutThePortal: add an admin and an operator,
// reset the operator's password (refusing a weak one), disable it (its
// session ends), remove it; the last admin stays; each change is audited.
func TestUserCommandsRecoverWithoutThePortal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := cli(t, "a long and quiet river\n", "user", "add", "--data", dir, "--name", "root-admin", "--role", "admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli(t, "password1234\n", "user", "add", "--data", dir, "--name", "ops", "--role", "operator"); err == nil || !strings.Contains(err.Error(), "UserErrorWeakPassword") {
		t.Fatalf("weak password: %v", err)
	}
	pw, err := cli(t, "", "user", "add", "--data", dir, "--name", "ops", "--role", "operator", "--random")
	if err != nil {
		t.Fatal(err)
	}
	catalog, err := db.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer catalog.Close()
	u, _ := catalog.UserByName(ctx, "ops")
	if ok, _ := auth.CheckPassword(u.PasswordHash, strings.TrimSpace(pw)); !ok || u.Role != db.RoleOperator {
		t.Fatalf("the printed random password does not sign in ops (%+v)", u)
	}
	cookie, _, _ := catalog.CreateSession(ctx, u.ID, time.Hour)

	if _, err := cli(t, "another quiet river\n", "user", "passwd", "--data", dir, "--name", "ops"); err != nil {
		t.Fatal(err)
	}
	u, _ = catalog.UserByName(ctx, "ops")
	if ok, _ := auth.CheckPassword(u.PasswordHash, "another quiet river"); !ok {
		t.Fatal("passwd did not set the password")
	}
	if _, err := catalog.SessionByID(ctx, cookie); err == nil {
		t.Error("a session survived a password reset")
	}
	if _, err := cli(t, "", "user", "disable", "--data", dir, "--name", "ops"); err != nil {
		t.Fatal(err)
	}
	if u, _ = catalog.UserByName(ctx, "ops"); !u.Disabled {
		t.Fatal("disable did not disable")
	}
	out, _ := cli(t, "", "user", "list", "--data", dir)
	if !strings.Contains(out, "ops") || !strings.Contains(out, "disabled") {
		t.Fatalf("list = %q", out)
	}
	if _, err := cli(t, "", "user", "rm", "--data", dir, "--name", "root-admin"); err == nil || !strings.Contains(err.Error(), "UserErrorLastAdmin") {
		t.Fatalf("rm the last admin: %v", err)
	}
	if _, err := cli(t, "", "user", "rm", "--data", dir, "--name", "ops"); err != nil {
		t.Fatal(err)
	}
	if _, err := catalog.UserByName(ctx, "ops"); err == nil {
		t.Fatal("rm did not remove")
	}
	es, _ := catalog.ListAudit(ctx, db.AuditFilter{Action: "user."})
	if len(es) != 5 || !strings.HasPrefix(es[0].Actor, "cli:") || es[0].Action != "user.delete" {
		t.Fatalf("audit entries = %+v, want 5 changes by cli:", es)
	}
}

// TestTokenCommands: create prints a working token, list shows it without
// its text, revoke by name makes it fail.
func TestTokenCommands(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	secret, err := cli(t, "", "token", "create", "--data", dir, "--name", "ci", "--role", "reader", "--expires", "2099-01-01")
	if err != nil {
		t.Fatal(err)
	}
	secret = strings.TrimSpace(secret)
	catalog, err := db.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer catalog.Close()
	if tok, err := catalog.TokenBySecret(ctx, secret); err != nil || tok.Role != db.RoleReader || tok.ExpiresAt == nil {
		t.Fatalf("created token = %+v, %v", tok, err)
	}
	out, err := cli(t, "", "token", "list", "--data", dir)
	if err != nil || !strings.Contains(out, "ci") || strings.Contains(out, secret) || !strings.Contains(out, "2099-01-01") {
		t.Fatalf("list = %q, %v", out, err)
	}
	if _, err := cli(t, "", "token", "revoke", "--data", dir, "--name", "ci"); err != nil {
		t.Fatal(err)
	}
	if _, err := catalog.TokenBySecret(ctx, secret); err == nil {
		t.Fatal("a revoked token still works")
	}
}
