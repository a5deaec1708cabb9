package db

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestLastEnabledAdminCannotGo(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	a, _ := d.CreateUser(ctx, "admin", "h", RoleAdmin)
	op, _ := d.CreateUser(ctx, "olga", "h", RoleOperator)
	reader, yes := RoleReader, true
	for name, try := range map[string]func() error{
		"demote":  func() error { _, err := d.UpdateUser(ctx, a.ID, UserChange{Role: &reader}); return err },
		"disable": func() error { _, err := d.UpdateUser(ctx, a.ID, UserChange{Disabled: &yes}); return err },
		"remove":  func() error { _, err := d.DeleteUser(ctx, a.ID); return err },
	} {
		if err := try(); !errors.Is(err, ErrLastAdmin) {
			t.Errorf("%s the only admin: %v, want ErrLastAdmin", name, err)
		}
	}
	if u, _ := d.UserByID(ctx, a.ID); u.Role != RoleAdmin || u.Disabled {
		t.Fatalf("refused changes were applied: %+v", u)
	}
	// With a second enabled admin the first may go.
	admin := RoleAdmin
	if _, err := d.UpdateUser(ctx, op.ID, UserChange{Role: &admin}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.UpdateUser(ctx, a.ID, UserChange{Disabled: &yes}); err != nil {
		t.Fatalf("disable one of two admins: %v", err)
	}
	// A disabled admin does not count: the other is now the last.
	if _, err := d.DeleteUser(ctx, op.ID); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("remove the last enabled admin: %v", err)
	}
	if _, err := d.DeleteUser(ctx, a.ID); err != nil {
		t.Fatalf("remove a disabled admin: %v", err)
	}
}

func TestDisablingAUserEndsItsSessionsAndTokens(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	d.CreateUser(ctx, "admin", "h", RoleAdmin)
	u, _ := d.CreateUser(ctx, "ann", "h", RoleOperator)
	cookie, s, err := d.CreateSession(ctx, u.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	d.NoteSessionClient(ctx, cookie, "192.0.2.7", "test agent")
	list, _ := d.ListSessions(ctx, u.ID)
	if len(list) != 1 || list[0].ID != s.ID || list[0].Addr != "192.0.2.7" {
		t.Fatalf("sessions = %+v, want the one just made from 192.0.2.7", list)
	}
	secret, _, err := d.CreateTokenFor(ctx, NewToken{Name: "ann's", Role: RoleReader, CreatedBy: "ann", CreatorID: &u.ID})
	if err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	if _, err := d.UpdateUser(ctx, u.ID, UserChange{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.SessionByID(ctx, cookie); !errors.Is(err, ErrNotFound) {
		t.Errorf("a disabled user's session still works: %v", err)
	}
	if _, _, err := d.CreateSession(ctx, u.ID, time.Hour); !errors.Is(err, ErrDisabled) {
		t.Errorf("a disabled user got a new session: %v", err)
	}
	if _, err := d.TokenBySecret(ctx, secret); !errors.Is(err, ErrNotFound) {
		t.Errorf("a disabled user's token still works: %v", err)
	}
	d.UpdateUser(ctx, u.ID, UserChange{Disabled: &no})
	if _, err := d.TokenBySecret(ctx, secret); err != nil {
		t.Errorf("token of a re-enabled user: %v", err)
	}
	// An operator's operator token follows its maker down to reader.
	opSecret, _, _ := d.CreateTokenFor(ctx, NewToken{Name: "ann's ops", Role: RoleOperator, CreatorID: &u.ID})
	reader := RoleReader
	d.UpdateUser(ctx, u.ID, UserChange{Role: &reader})
	if tok, err := d.TokenBySecret(ctx, opSecret); err != nil || tok.Role != RoleReader {
		t.Errorf("token of a demoted maker = %+v, %v; want role reader", tok, err)
	}
	d.DeleteUser(ctx, u.ID)
	if _, err := d.TokenByName(ctx, "ann's"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a removed user's token is still listed: %v", err)
	}
}

func TestTokensExpireAndRevoke(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d.SetClock(func() time.Time { return now })
	exp := now.Add(time.Hour)
	secret, tok, err := d.CreateTokenFor(ctx, NewToken{Name: "ci", Role: RoleOperator, CreatedBy: "admin", ExpiresAt: &exp})
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.TokenBySecret(ctx, secret)
	if err != nil || got.CreatedBy != "admin" || got.ExpiresAt == nil || !got.ExpiresAt.Equal(exp) {
		t.Fatalf("token = %+v, %v", got, err)
	}
	if l, _ := d.TokenByID(ctx, tok.ID); l.LastUsedAt == nil || !l.LastUsedAt.Equal(now) {
		t.Errorf("last use not noted: %+v", l)
	}
	now = exp
	if _, err := d.TokenBySecret(ctx, secret); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired token accepted: %v", err)
	}
	now = exp.Add(-time.Minute)
	if err := d.DeleteToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.TokenBySecret(ctx, secret); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoked token accepted: %v", err)
	}
	if err := d.DeleteToken(ctx, tok.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoke twice: %v, want ErrNotFound", err)
	}
}

func TestAuditLogIsAppendOnlyAndFiltered(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d.SetClock(func() time.Time { return now })
	for i, e := range []AuditEntry{
		{Actor: "admin", Addr: "192.0.2.1", Action: "auth.sign_in", Outcome: AuditSuccess},
		{Actor: "Admin", Action: "policy.create", TargetType: "policy", TargetID: "1", Outcome: AuditSuccess},
		{Actor: "token:ci", Action: "policy.delete", TargetType: "policy", TargetID: "1", Outcome: AuditDenied, Status: 403},
	} {
		now = now.Add(time.Duration(i) * time.Hour)
		if err := d.RecordAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	all, _ := d.ListAudit(ctx, AuditFilter{})
	if len(all) != 3 || all[0].Action != "policy.delete" {
		t.Fatalf("entries = %+v, want 3 newest first", all)
	}
	for name, f := range map[string]struct {
		f    AuditFilter
		want int
	}{
		"actor":        {AuditFilter{Actor: "ADMIN"}, 2},
		"action":       {AuditFilter{Action: "auth.sign_in"}, 1},
		"action group": {AuditFilter{Action: "policy."}, 2},
		"since":        {AuditFilter{Since: &all[1].At}, 2},
		"page":         {AuditFilter{BeforeID: all[0].ID, Limit: 1}, 1},
	} {
		if got, err := d.ListAudit(ctx, f.f); err != nil || len(got) != f.want {
			t.Errorf("%s: %d entries (%v), want %d", name, len(got), err, f.want)
		}
	}
	if _, err := d.write.ExecContext(ctx, `UPDATE audit_log SET actor = 'someone else'`); err == nil {
		t.Error("an audit entry was changed")
	}
	if _, err := d.write.ExecContext(ctx, `DELETE FROM audit_log`); err == nil {
		t.Error("audit entries were deleted")
	}
	if again, _ := d.ListAudit(ctx, AuditFilter{}); len(again) != 3 || again[2].Actor != "admin" {
		t.Fatalf("entries after the refused changes = %+v", again)
	}
}
