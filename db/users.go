package db

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Role is what a user or token may do. Reader sees everything and changes
// nothing; operator also runs backups and restores; admin also manages
// servers, policies, protection and users.
type Role string

const (
	RoleReader   Role = "reader"
	RoleOperator Role = "operator"
	RoleAdmin    Role = "admin"
)

var roleRank = map[Role]int{RoleReader: 1, RoleOperator: 2, RoleAdmin: 3}

// Valid reports whether r is one of the three roles.
func (r Role) Valid() bool { return roleRank[r] > 0 }

// Allows reports whether a holder of r may do what needs role need.
func (r Role) Allows(need Role) bool { return roleRank[r] >= roleRank[need] && r.Valid() }

// User is a person who signs in to the portal.
type User struct {
	ID           int64
	Username     string
	PasswordHash string
	Role         Role
	CreatedAt    time.Time
}

// CreateUser adds a user; the hash comes from the caller (web.HashPassword).
func (d *DB) CreateUser(ctx context.Context, username, passwordHash string, role Role) (User, error) {
	if !role.Valid() {
		return User{}, fmt.Errorf("unknown role %q", role)
	}
	u := User{Username: username, PasswordHash: passwordHash, Role: role, CreatedAt: fromMS(d.nowMS())}
	res, err := d.write.ExecContext(ctx,
		`INSERT INTO users (username, password_hash, role, created_at) VALUES (?, ?, ?, ?)`,
		username, passwordHash, role, ms(u.CreatedAt))
	if err != nil {
		return User{}, fmt.Errorf("create user %s: %w", username, err)
	}
	u.ID, _ = res.LastInsertId()
	return u, nil
}

// CountUsers is used at first start to decide whether to create admin.
func (d *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := d.read.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, err
}

// UserByName finds a user by name, case-insensitively.
func (d *DB) UserByName(ctx context.Context, username string) (User, error) {
	return d.scanUser(d.read.QueryRowContext(ctx,
		`SELECT id, username, password_hash, role, created_at FROM users WHERE username = ?`, username))
}

// UserByID finds a user by id.
func (d *DB) UserByID(ctx context.Context, id int64) (User, error) {
	return d.scanUser(d.read.QueryRowContext(ctx,
		`SELECT id, username, password_hash, role, created_at FROM users WHERE id = ?`, id))
}

func (d *DB) scanUser(row *sql.Row) (User, error) {
	var u User
	var created int64
	err := row.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Role, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	u.CreatedAt = fromMS(created)
	return u, err
}

// Session is a signed-in portal session.
type Session struct {
	User      User
	CSRFToken string
	ExpiresAt time.Time
}

// CreateSession stores a new session for the user and returns the secret
// cookie value; only its hash is kept.
func (d *DB) CreateSession(ctx context.Context, userID int64, ttl time.Duration) (string, Session, error) {
	id, csrf := randomToken(), randomToken()
	now := d.nowMS()
	exp := now + ttl.Milliseconds()
	_, err := d.write.ExecContext(ctx,
		`INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		hashToken(id), userID, csrf, now, exp)
	if err != nil {
		return "", Session{}, fmt.Errorf("create session: %w", err)
	}
	u, err := d.UserByID(ctx, userID)
	return id, Session{User: u, CSRFToken: csrf, ExpiresAt: fromMS(exp)}, err
}

// SessionByID returns the live session for a cookie value.
func (d *DB) SessionByID(ctx context.Context, id string) (Session, error) {
	var s Session
	var created, exp int64
	err := d.read.QueryRowContext(ctx, `
		SELECT u.id, u.username, u.password_hash, u.role, u.created_at, s.csrf_token, s.expires_at
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.id_hash = ? AND s.expires_at > ?`, hashToken(id), d.nowMS()).
		Scan(&s.User.ID, &s.User.Username, &s.User.PasswordHash, &s.User.Role, &created, &s.CSRFToken, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNotFound
	}
	s.User.CreatedAt, s.ExpiresAt = fromMS(created), fromMS(exp)
	return s, err
}

// DeleteSession signs a session out; expired sessions are swept too.
func (d *DB) DeleteSession(ctx context.Context, id string) error {
	_, err := d.write.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ? OR expires_at <= ?`, hashToken(id), d.nowMS())
	return err
}

// Token is an API token's record; the secret itself is shown once.
type Token struct {
	ID         int64
	Name       string
	Role       Role
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

// TokenPrefix marks sqlvault tokens so secret scanners can spot them.
const TokenPrefix = "svt_"

// CreateToken makes an API token and returns its secret, shown only now.
func (d *DB) CreateToken(ctx context.Context, name string, role Role) (string, Token, error) {
	if !role.Valid() {
		return "", Token{}, fmt.Errorf("unknown role %q (want admin, operator or reader)", role)
	}
	if strings.TrimSpace(name) == "" {
		return "", Token{}, errors.New("token name is empty")
	}
	secret := TokenPrefix + randomToken()
	t := Token{Name: name, Role: role, CreatedAt: fromMS(d.nowMS())}
	res, err := d.write.ExecContext(ctx,
		`INSERT INTO api_tokens (name, token_hash, role, created_at) VALUES (?, ?, ?, ?)`,
		name, hashToken(secret), role, ms(t.CreatedAt))
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return "", Token{}, fmt.Errorf("a token named %q already exists", name)
		}
		return "", Token{}, fmt.Errorf("create token: %w", err)
	}
	t.ID, _ = res.LastInsertId()
	return secret, t, nil
}

// TokenBySecret authenticates an API token and notes its use.
func (d *DB) TokenBySecret(ctx context.Context, secret string) (Token, error) {
	var t Token
	var created int64
	var used sql.NullInt64
	err := d.read.QueryRowContext(ctx,
		`SELECT id, name, role, created_at, last_used_at FROM api_tokens WHERE token_hash = ?`, hashToken(secret)).
		Scan(&t.ID, &t.Name, &t.Role, &created, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, ErrNotFound
	}
	if err != nil {
		return Token{}, err
	}
	t.CreatedAt, t.LastUsedAt = fromMS(created), nullTime(used)
	now := d.nowMS()
	// Note the use at most once a minute so reads do not turn into writes.
	if !used.Valid || now-used.Int64 > 60_000 {
		d.write.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, now, t.ID)
	}
	return t, nil
}

// LoginFailures returns the failures recorded for a user name and address,
// and the time of the last one.
func (d *DB) LoginFailures(ctx context.Context, username, addr string) (int, time.Time, error) {
	var n int
	var last int64
	err := d.read.QueryRowContext(ctx,
		`SELECT failures, last_failure FROM login_attempts WHERE username = ? AND addr = ?`, username, addr).Scan(&n, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	return n, fromMS(last), err
}

// RecordLoginFailure counts a failed sign-in.
func (d *DB) RecordLoginFailure(ctx context.Context, username, addr string) error {
	_, err := d.write.ExecContext(ctx, `
		INSERT INTO login_attempts (username, addr, failures, last_failure) VALUES (?, ?, 1, ?)
		ON CONFLICT (username, addr) DO UPDATE SET failures = failures + 1, last_failure = excluded.last_failure`,
		username, addr, d.nowMS())
	return err
}

// ClearLoginFailures forgets failures after a successful sign-in.
func (d *DB) ClearLoginFailures(ctx context.Context, username, addr string) error {
	_, err := d.write.ExecContext(ctx, `DELETE FROM login_attempts WHERE username = ? AND addr = ?`, username, addr)
	return err
}

func randomToken() string {
	b := make([]byte, 20)
	rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

func hashToken(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
