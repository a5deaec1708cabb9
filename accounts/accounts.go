// Package accounts manages users and API tokens with their rules: password
// strength, the last enabled admin, and that a token never has more rights
// than whoever makes it. The portal, the API and the CLI all go through it.
package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sqlvault/sqlvault/auth"
	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
)

// Service manages accounts in one catalog.
type Service struct {
	DB  *db.DB
	Now func() time.Time // defaults to time.Now
}

// FieldError names the input field a refusal is about.
type FieldError struct{ Field, Message string }

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// FieldOf returns the field an error of this package names, or "".
func FieldOf(err error) string {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe.Field
	}
	return ""
}

func refuse(code engine.Code, field, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	return &engine.Error{Code: code, Message: field + ": " + msg, Err: &FieldError{Field: field, Message: msg}}
}

// MaxNameLen bounds user and token names, in characters.
const MaxNameLen = 128

// checkName refuses empty, over-long names, names with control
// characters or spaces around them, and ':' (it marks "token:NAME" and
// "cli:NAME" in the audit log, so no user can pass for either).
func checkName(field, name string) error {
	switch {
	case name == "":
		return refuse(engine.CodeInvalidRequest, field, "is required")
	case utf8.RuneCountInString(name) > MaxNameLen || !utf8.ValidString(name):
		return refuse(engine.CodeInvalidRequest, field, "must be at most %d characters of UTF-8", MaxNameLen)
	case strings.TrimSpace(name) != name:
		return refuse(engine.CodeInvalidRequest, field, "must not start or end with a space")
	case strings.ContainsFunc(name, unicode.IsControl):
		return refuse(engine.CodeInvalidRequest, field, "must not contain control characters")
	case field == "username" && strings.Contains(name, ":"):
		return refuse(engine.CodeInvalidRequest, field, "must not contain ':'")
	}
	return nil
}

func checkRole(r db.Role) error {
	if !r.Valid() {
		return refuse(engine.CodeInvalidRequest, "role", "%q is not one of reader, operator, admin", r)
	}
	return nil
}

func checkPassword(password, username string) error {
	if why := auth.WeakPassword(password, username); why != "" {
		return refuse(engine.CodeWeakPassword, "password", "%s", why)
	}
	return nil
}

// catalogErr gives the catalog's refusals their codes.
func catalogErr(err error, nameField string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, db.ErrNotFound):
		return engine.Wrap(engine.CodeNotFound, err, "no such user or token")
	case errors.Is(err, db.ErrDuplicate):
		return &engine.Error{Code: engine.CodeConflict, Message: err.Error(), Err: &FieldError{Field: nameField, Message: err.Error()}}
	case errors.Is(err, db.ErrLastAdmin):
		return engine.Wrap(engine.CodeLastAdmin, err, "this is the last enabled admin: it cannot be removed, disabled or given another role")
	}
	return err
}

// AddUser creates a user after checking its name, role and password.
func (s Service) AddUser(ctx context.Context, username, password string, role db.Role) (db.User, error) {
	if err := errors.Join(checkName("username", username), checkRole(role)); err != nil {
		return db.User{}, firstOf(err)
	}
	if err := checkPassword(password, username); err != nil {
		return db.User{}, err
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return db.User{}, err
	}
	u, err := s.DB.CreateUser(ctx, username, hash, role)
	return u, catalogErr(err, "username")
}

// firstOf returns the first error of a join, so the field named is the
// first one at fault.
func firstOf(err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()[0]
	}
	return err
}

// Change is what Update changes; nil fields stay.
type Change struct {
	Role     *db.Role
	Disabled *bool
	Password *string // a reset by an admin: the user's sessions end
}

// Update changes a user's role, disabled flag or password.
func (s Service) Update(ctx context.Context, id int64, ch Change) (db.User, error) {
	var dc db.UserChange
	dc.Role, dc.Disabled = ch.Role, ch.Disabled
	if ch.Role != nil {
		if err := checkRole(*ch.Role); err != nil {
			return db.User{}, err
		}
	}
	if ch.Password != nil {
		u, err := s.DB.UserByID(ctx, id)
		if err != nil {
			return db.User{}, catalogErr(err, "")
		}
		if err := checkPassword(*ch.Password, u.Username); err != nil {
			return db.User{}, err
		}
		hash, err := auth.HashPassword(*ch.Password)
		if err != nil {
			return db.User{}, err
		}
		dc.PasswordHash = &hash
	}
	u, err := s.DB.UpdateUser(ctx, id, dc)
	return u, catalogErr(err, "")
}

// Remove deletes a user, its sessions and the tokens it made.
func (s Service) Remove(ctx context.Context, id int64) (db.User, error) {
	u, err := s.DB.DeleteUser(ctx, id)
	return u, catalogErr(err, "")
}

// ChangeOwnPassword sets a user's password after checking the current
// one; the user's other sessions end, the one whose cookie is keep stays.
func (s Service) ChangeOwnPassword(ctx context.Context, id int64, current, next, keep string) error {
	u, err := s.DB.UserByID(ctx, id)
	if err != nil {
		return catalogErr(err, "")
	}
	if ok, _ := auth.CheckPassword(u.PasswordHash, current); !ok {
		return refuse(engine.CodeInvalidRequest, "current_password", "is not your current password")
	}
	if err := checkPassword(next, u.Username); err != nil {
		return err
	}
	hash, err := auth.HashPassword(next)
	if err != nil {
		return err
	}
	_, err = s.DB.UpdateUser(ctx, id, db.UserChange{PasswordHash: &hash, KeepSession: keep})
	return catalogErr(err, "")
}

// Creator is who makes a token: its name for people, its role (the
// token's ceiling), the user it comes from, if any, and the token it
// signed in with, if it did (Token).
type Creator struct {
	Name   string
	Role   db.Role
	UserID *int64
	Token  *db.Token
}

// CreateToken makes a token no stronger than its creator, shown once.
func (s Service) CreateToken(ctx context.Context, by Creator, name string, role db.Role, expires *time.Time) (string, db.Token, error) {
	if err := errors.Join(checkName("name", name), checkRole(role)); err != nil {
		return "", db.Token{}, firstOf(err)
	}
	if !by.Role.Allows(role) {
		return "", db.Token{}, refuse(engine.CodeRoleTooHigh, "role",
			"a token cannot have a role (%s) above its creator's (%s)", role, by.Role)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	if expires != nil && !expires.After(now()) {
		return "", db.Token{}, refuse(engine.CodeInvalidRequest, "expires_at", "must be in the future")
	}
	n := db.NewToken{Name: name, Role: role, CreatedBy: by.Name, CreatorID: by.UserID, ExpiresAt: expires}
	if p := by.Token; p != nil {
		// A token made with a token never outlives it: revoked with it,
		// and expiring no later.
		n.ParentID = &p.ID
		if p.ExpiresAt != nil {
			if expires != nil && expires.After(*p.ExpiresAt) {
				return "", db.Token{}, refuse(engine.CodeInvalidRequest, "expires_at",
					"must not be later than the expiry of the token making it (%s)", p.ExpiresAt.UTC().Format(time.RFC3339))
			}
			n.ExpiresAt = p.ExpiresAt
			if expires != nil {
				n.ExpiresAt = expires
			}
		}
	}
	secret, t, err := s.DB.CreateTokenFor(ctx, n)
	return secret, t, catalogErr(err, "name")
}

// Revoke deletes a token; its secret gets 401 from then on.
func (s Service) Revoke(ctx context.Context, id int64) (db.Token, error) {
	t, err := s.DB.TokenByID(ctx, id)
	if err != nil {
		return db.Token{}, catalogErr(err, "")
	}
	return t, catalogErr(s.DB.DeleteToken(ctx, id), "")
}
