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
	"unicode/utf8"
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
	ID           int64     `json:"id"`
	Username     string    `json:"username"`
	PasswordHash string    `json:"-"`
	Role         Role      `json:"role"`
	Disabled     bool      `json:"disabled"`
	CreatedAt    time.Time `json:"created_at"`
}

// ErrLastAdmin refuses a change that would leave no enabled admin.
var ErrLastAdmin = errors.New("the last enabled admin cannot be removed, disabled or demoted")

// ErrDisabled refuses a session for a disabled user.
var ErrDisabled = errors.New("the user is disabled")

// CreateUser adds a user; the hash comes from the caller (auth.HashPassword).
func (d *DB) CreateUser(ctx context.Context, username, passwordHash string, role Role) (User, error) {
	if !role.Valid() {
		return User{}, fmt.Errorf("unknown role %q", role)
	}
	u := User{Username: username, PasswordHash: passwordHash, Role: role, CreatedAt: fromMS(d.nowMS())}
	res, err := d.write.ExecContext(ctx,
		`INSERT INTO users (username, password_hash, role, created_at) VALUES (?, ?, ?, ?)`,
		username, passwordHash, role, ms(u.CreatedAt))
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return User{}, fmt.Errorf("a user named %q %w", username, ErrDuplicate)
		}
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

const userColumns = `id, username, password_hash, role, disabled, created_at`

// UserByName finds a user by name, case-insensitively.
func (d *DB) UserByName(ctx context.Context, username string) (User, error) {
	return scanUser(d.read.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE username = ?`, username))
}

// UserByID finds a user by id.
func (d *DB) UserByID(ctx context.Context, id int64) (User, error) {
	return scanUser(d.read.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
}

// ListUsers lists every user by name.
func (d *DB) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY username`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

type scanner interface{ Scan(...any) error }

func scanUser(row scanner) (User, error) {
	var u User
	var created int64
	err := row.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Role, &u.Disabled, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	u.CreatedAt = fromMS(created)
	return u, err
}

// UserChange is what UpdateUser changes; nil fields stay as they are.
type UserChange struct {
	Role         *Role
	Disabled     *bool
	PasswordHash *string
	KeepSession  string // the cookie value of a session to keep (the user's own)
}

// UpdateUser changes a user's role, disabled flag or password. Disabling a
// user or setting its password ends its sessions (but KeepSession). A change that would
// leave no enabled admin is refused with ErrLastAdmin.
func (d *DB) UpdateUser(ctx context.Context, id int64, ch UserChange) (User, error) {
	if ch.Role != nil && !ch.Role.Valid() {
		return User{}, fmt.Errorf("unknown role %q", *ch.Role)
	}
	var u User
	err := d.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if u, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id)); err != nil {
			return err
		}
		was := u.Role == RoleAdmin && !u.Disabled
		if ch.Role != nil {
			u.Role = *ch.Role
		}
		if ch.Disabled != nil {
			u.Disabled = *ch.Disabled
		}
		if ch.PasswordHash != nil {
			u.PasswordHash = *ch.PasswordHash
		}
		if was && (u.Role != RoleAdmin || u.Disabled) {
			if err := otherAdminExists(ctx, tx, id); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET role = ?, disabled = ?, password_hash = ? WHERE id = ?`,
			u.Role, u.Disabled, u.PasswordHash, id); err != nil {
			return err
		}
		if u.Disabled || ch.PasswordHash != nil {
			_, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ? AND id_hash <> ?`, id, hashToken(ch.KeepSession))
		}
		return err
	})
	return u, err
}

// DeleteUser removes a user with its sessions and the tokens it made.
func (d *DB) DeleteUser(ctx context.Context, id int64) (User, error) {
	var u User
	err := d.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if u, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id)); err != nil {
			return err
		}
		if u.Role == RoleAdmin && !u.Disabled {
			if err := otherAdminExists(ctx, tx, id); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)
		return err
	})
	return u, err
}

func otherAdminExists(ctx context.Context, tx *sql.Tx, id int64) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0 AND id <> ?`, id).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return ErrLastAdmin
	}
	return nil
}

// Session is a signed-in portal session.
type Session struct {
	ID        int64
	User      User
	CSRFToken string
	ExpiresAt time.Time
}

// CreateSession stores a new session for the user and returns the secret
// cookie value; only its hash is kept. A disabled user gets ErrDisabled.
func (d *DB) CreateSession(ctx context.Context, userID int64, ttl time.Duration) (string, Session, error) {
	id, csrf := randomToken(), randomToken()
	now := d.nowMS()
	exp := now + ttl.Milliseconds()
	res, err := d.write.ExecContext(ctx, `
		INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at, last_seen_at)
		SELECT ?, id, ?, ?, ?, ? FROM users WHERE id = ? AND disabled = 0`,
		hashToken(id), csrf, now, exp, now, userID)
	if err != nil {
		return "", Session{}, fmt.Errorf("create session: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return "", Session{}, ErrDisabled
	}
	sid, _ := res.LastInsertId()
	u, err := d.UserByID(ctx, userID)
	return id, Session{ID: sid, User: u, CSRFToken: csrf, ExpiresAt: fromMS(exp)}, err
}

// SessionByID returns the live session for a cookie value; a disabled
// user has none. Its use is noted at most once a minute.
func (d *DB) SessionByID(ctx context.Context, id string) (Session, error) {
	var s Session
	var created, exp int64
	var seen sql.NullInt64
	now := d.nowMS()
	err := d.read.QueryRowContext(ctx, `
		SELECT s.id, u.id, u.username, u.password_hash, u.role, u.created_at, s.csrf_token, s.expires_at, s.last_seen_at
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.id_hash = ? AND s.expires_at > ? AND u.disabled = 0`, hashToken(id), now).
		Scan(&s.ID, &s.User.ID, &s.User.Username, &s.User.PasswordHash, &s.User.Role, &created, &s.CSRFToken, &exp, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, err
	}
	s.User.CreatedAt, s.ExpiresAt = fromMS(created), fromMS(exp)
	if !seen.Valid || now-seen.Int64 > 60_000 {
		d.write.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id = ?`, now, s.ID)
	}
	return s, nil
}

// NoteSessionClient records where a session was opened from, for the
// list of a user's sessions.
func (d *DB) NoteSessionClient(ctx context.Context, id, addr, userAgent string) error {
	_, err := d.write.ExecContext(ctx, `UPDATE sessions SET addr = ?, user_agent = ? WHERE id_hash = ?`,
		addr, truncate(userAgent, 200), hashToken(id))
	return err
}

// DeleteSession signs a session out; expired sessions are swept too.
func (d *DB) DeleteSession(ctx context.Context, id string) error {
	_, err := d.write.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ? OR expires_at <= ?`, hashToken(id), d.nowMS())
	return err
}

// SessionInfo is a live session as an administrator sees it; the secret
// is never shown.
type SessionInfo struct {
	ID         int64      `json:"id"`
	UserID     int64      `json:"user_id"`
	Username   string     `json:"username"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	LastSeenAt *time.Time `json:"last_seen_at"`
	Addr       string     `json:"addr"`
	UserAgent  string     `json:"user_agent"`
}

const sessionInfoQuery = `
	SELECT s.id, s.user_id, u.username, s.created_at, s.expires_at, s.last_seen_at, s.addr, s.user_agent
	FROM sessions s JOIN users u ON u.id = s.user_id`

// ListSessions lists a user's live sessions, newest first.
func (d *DB) ListSessions(ctx context.Context, userID int64) ([]SessionInfo, error) {
	rows, err := d.read.QueryContext(ctx, sessionInfoQuery+` WHERE s.user_id = ? AND s.expires_at > ? ORDER BY s.id DESC`, userID, d.nowMS())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []SessionInfo{}
	for rows.Next() {
		s, err := scanSessionInfo(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// SessionInfoByID returns one live session.
func (d *DB) SessionInfoByID(ctx context.Context, id int64) (SessionInfo, error) {
	return scanSessionInfo(d.read.QueryRowContext(ctx, sessionInfoQuery+` WHERE s.id = ? AND s.expires_at > ?`, id, d.nowMS()))
}

func scanSessionInfo(row scanner) (SessionInfo, error) {
	var s SessionInfo
	var created, exp int64
	var seen sql.NullInt64
	err := row.Scan(&s.ID, &s.UserID, &s.Username, &created, &exp, &seen, &s.Addr, &s.UserAgent)
	if errors.Is(err, sql.ErrNoRows) {
		return SessionInfo{}, ErrNotFound
	}
	s.CreatedAt, s.ExpiresAt, s.LastSeenAt = fromMS(created), fromMS(exp), nullTime(seen)
	return s, err
}

// EndSession ends one session by its id.
func (d *DB) EndSession(ctx context.Context, id int64) error {
	res, err := d.write.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// EndUserSessions ends a user's sessions except the one whose cookie
// value is keep (empty: all of them).
func (d *DB) EndUserSessions(ctx context.Context, userID int64, keep string) error {
	_, err := d.write.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ? AND id_hash <> ?`, userID, hashToken(keep))
	return err
}

// Token is an API token's record; the secret itself is shown once.
type Token struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Role       Role       `json:"role"`
	CreatedBy  string     `json:"created_by"`
	CreatorID  *int64     `json:"-"`
	ParentID   *int64     `json:"parent_id,omitempty"` // the token this one was made with
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// TokenPrefix marks sqlvault tokens so secret scanners can spot them.
const TokenPrefix = "svt_"

// NewToken is what a token is made with. CreatedBy names its maker for
// people; CreatorID, when set, ties the token to a user: it stops
// working while the user is disabled and is removed with the user.
type NewToken struct {
	Name      string
	Role      Role
	CreatedBy string
	CreatorID *int64
	ParentID  *int64 // the token it is made with: revoking that revokes this
	ExpiresAt *time.Time
}

// CreateToken makes an API token with no maker recorded (the CLI's).
func (d *DB) CreateToken(ctx context.Context, name string, role Role) (string, Token, error) {
	return d.CreateTokenFor(ctx, NewToken{Name: name, Role: role})
}

// CreateTokenFor makes an API token and returns its secret, shown only now.
func (d *DB) CreateTokenFor(ctx context.Context, n NewToken) (string, Token, error) {
	if !n.Role.Valid() {
		return "", Token{}, fmt.Errorf("unknown role %q (want admin, operator or reader)", n.Role)
	}
	if strings.TrimSpace(n.Name) == "" {
		return "", Token{}, errors.New("token name is empty")
	}
	secret := TokenPrefix + randomToken()
	t := Token{Name: n.Name, Role: n.Role, CreatedBy: n.CreatedBy, CreatorID: n.CreatorID, ParentID: n.ParentID, CreatedAt: fromMS(d.nowMS()), ExpiresAt: n.ExpiresAt}
	var exp *int64
	if n.ExpiresAt != nil {
		v := ms(*n.ExpiresAt)
		exp = &v
	}
	res, err := d.write.ExecContext(ctx, `
		INSERT INTO api_tokens (name, token_hash, role, created_at, created_by, creator_id, parent_id, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		n.Name, hashToken(secret), n.Role, ms(t.CreatedAt), n.CreatedBy, n.CreatorID, n.ParentID, exp)
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return "", Token{}, fmt.Errorf("a token named %q %w", n.Name, ErrDuplicate)
		}
		return "", Token{}, fmt.Errorf("create token: %w", err)
	}
	t.ID, _ = res.LastInsertId()
	return secret, t, nil
}

const tokenColumns = `t.id, t.name, t.role, t.created_by, t.creator_id, t.parent_id, t.created_at, t.expires_at, t.last_used_at`

func scanToken(row scanner) (Token, error) {
	var t Token
	var created int64
	var creator, parent, exp, used sql.NullInt64
	err := row.Scan(&t.ID, &t.Name, &t.Role, &t.CreatedBy, &creator, &parent, &created, &exp, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, ErrNotFound
	}
	if creator.Valid {
		t.CreatorID = &creator.Int64
	}
	if parent.Valid {
		t.ParentID = &parent.Int64
	}
	t.CreatedAt, t.ExpiresAt, t.LastUsedAt = fromMS(created), nullTime(exp), nullTime(used)
	return t, err
}

// TokenBySecret authenticates an API token and notes its use. An expired
// token, or one whose maker is disabled, is not found; one whose maker
// now has a lower role acts with that role.
func (d *DB) TokenBySecret(ctx context.Context, secret string) (Token, error) {
	now := d.nowMS()
	t, err := scanToken(d.read.QueryRowContext(ctx, `
		SELECT `+tokenColumns+` FROM api_tokens t LEFT JOIN users u ON u.id = t.creator_id
		WHERE t.token_hash = ? AND (t.expires_at IS NULL OR t.expires_at > ?) AND coalesce(u.disabled, 0) = 0`,
		hashToken(secret), now))
	if err != nil {
		return Token{}, err
	}
	// A token never does more than its maker may now: a demoted maker's
	// tokens are demoted with it.
	if t.CreatorID != nil {
		var maker Role
		if err := d.read.QueryRowContext(ctx, `SELECT role FROM users WHERE id = ?`, *t.CreatorID).Scan(&maker); err != nil {
			return Token{}, err
		}
		if !maker.Allows(t.Role) {
			t.Role = maker
		}
	}
	// Note the use at most once a minute so reads do not turn into writes.
	if t.LastUsedAt == nil || now-ms(*t.LastUsedAt) > 60_000 {
		d.write.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, now, t.ID)
	}
	return t, nil
}

// ListTokens lists every token by name.
func (d *DB) ListTokens(ctx context.Context) ([]Token, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens t ORDER BY t.name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// TokenByID finds a token's record by id.
func (d *DB) TokenByID(ctx context.Context, id int64) (Token, error) {
	return scanToken(d.read.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens t WHERE t.id = ?`, id))
}

// TokenByName finds a token's record by name.
func (d *DB) TokenByName(ctx context.Context, name string) (Token, error) {
	return scanToken(d.read.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens t WHERE t.name = ?`, name))
}

// DeleteToken revokes a token: its secret stops working at once, and so
// do those of every token made with it (parent_id cascades).
func (d *DB) DeleteToken(ctx context.Context, id int64) error {
	res, err := d.write.ExecContext(ctx, `DELETE FROM api_tokens WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
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

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
