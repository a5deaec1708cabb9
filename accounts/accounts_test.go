package accounts

import (
	"context"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/auth"
	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
)

func newService(t *testing.T) Service {
	t.Helper()
	d, err := db.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return Service{DB: d}
}

func TestAddUserRefusesByField(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	for _, c := range []struct {
		name, pw string
		role     db.Role
		code     engine.Code
		field    string
	}{
		{"ann", "Password1234", db.RoleReader, engine.CodeWeakPassword, "password"},
		{"ann", "too short", db.RoleReader, engine.CodeWeakPassword, "password"},
		{"", "a good long passphrase", db.RoleReader, engine.CodeInvalidRequest, "username"},
		{"token:ci", "a good long passphrase", db.RoleReader, engine.CodeInvalidRequest, "username"},
		{"bad\nname", "a good long passphrase", db.RoleReader, engine.CodeInvalidRequest, "username"},
		{"ann", "a good long passphrase", "root", engine.CodeInvalidRequest, "role"},
	} {
		_, err := s.AddUser(ctx, c.name, c.pw, c.role)
		if engine.CodeOf(err) != c.code || FieldOf(err) != c.field {
			t.Errorf("AddUser(%q, %q, %q) = %v, want %s on %s", c.name, c.pw, c.role, err, c.code, c.field)
		}
	}
	u, err := s.AddUser(ctx, "ann", "a good long passphrase", db.RoleOperator)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := auth.CheckPassword(u.PasswordHash, "a good long passphrase"); !ok {
		t.Fatal("the stored hash does not check")
	}
	if _, err := s.AddUser(ctx, "ANN", "another long passphrase", db.RoleReader); engine.CodeOf(err) != engine.CodeConflict || FieldOf(err) != "username" {
		t.Fatalf("duplicate user = %v", err)
	}
}

func TestTokensAreNoStrongerThanTheirCreator(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	op := Creator{Name: "olga", Role: db.RoleOperator}
	if _, _, err := s.CreateToken(ctx, op, "mine", db.RoleAdmin, nil); engine.CodeOf(err) != engine.CodeRoleTooHigh || FieldOf(err) != "role" {
		t.Fatalf("operator made an admin token: %v", err)
	}
	past := time.Now().Add(-time.Hour)
	if _, _, err := s.CreateToken(ctx, op, "old", db.RoleReader, &past); FieldOf(err) != "expires_at" {
		t.Fatalf("expired token made: %v", err)
	}
	secret, tok, err := s.CreateToken(ctx, op, "mine", db.RoleOperator, nil)
	if err != nil || tok.CreatedBy != "olga" {
		t.Fatalf("token = %+v, %v", tok, err)
	}
	if _, err := s.Revoke(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB.TokenBySecret(ctx, secret); err == nil {
		t.Fatal("revoked token still works")
	}
}

func TestOwnPasswordChangeKeepsOnlyThisSession(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	u, _ := s.AddUser(ctx, "ann", "a good long passphrase", db.RoleReader)
	here, _, _ := s.DB.CreateSession(ctx, u.ID, time.Hour)
	there, _, _ := s.DB.CreateSession(ctx, u.ID, time.Hour)
	if err := s.ChangeOwnPassword(ctx, u.ID, "wrong", "a new long passphrase", here); FieldOf(err) != "current_password" {
		t.Fatalf("wrong current password: %v", err)
	}
	if err := s.ChangeOwnPassword(ctx, u.ID, "a good long passphrase", "a new long passphrase", here); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB.SessionByID(ctx, here); err != nil {
		t.Errorf("the session that changed the password ended: %v", err)
	}
	if _, err := s.DB.SessionByID(ctx, there); err == nil {
		t.Error("another session survived a password change")
	}
}

func TestLastAdminHasItsCode(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	a, _ := s.AddUser(ctx, "root-admin", "a good long passphrase", db.RoleAdmin)
	if _, err := s.Remove(ctx, a.ID); engine.CodeOf(err) != engine.CodeLastAdmin {
		t.Fatalf("remove the last admin: %v", err)
	}
}
