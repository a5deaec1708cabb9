package vdi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"time"
)

// SAS tokens look like Azure's (sv, sr, si, sp, se, sig) so SQL Server
// stores and sends them unchanged, but are signed with the device's own
// key, and a signature alone is not enough: si names a grant the device
// holds in memory, as Azure's si names a stored access policy that can be
// revoked. A grant lives as long as its job: short deadline, renewed
// while the job runs, revoked when it ends; a restart forgets them all.

const sasVersion = "2020-10-02"

// GrantKind is what a grant lets its holder do.
type GrantKind int

const (
	// GrantBackup: read, write, lease and delete blobs of the container
	// that are not committed (committed blobs are write-once).
	GrantBackup GrantKind = iota + 1
	// GrantRestore: read, and acquire, renew, change or release a lease
	// (RESTORE's BAC2... lease); never write, delete or break.
	GrantRestore
)

const (
	grantTTL = 15 * time.Minute // a grant dies this long after its last renewal
	tokenTTL = 24 * time.Hour   // the token's se: no job's SAS outlives a day
)

type grant struct {
	container string
	kind      GrantKind
	deadline  time.Time
}

// Grant is one live grant and its token.
type Grant struct {
	d   *Device
	id  string
	SAS string // query string without '?'
}

// NewGrant makes a grant on container living ttl unless renewed.
func (d *Device) NewGrant(container string, kind GrantKind, ttl time.Duration) *Grant {
	now := d.cfg.Now()
	id := newGUID()
	perms := map[GrantKind]string{GrantBackup: "rwdl", GrantRestore: "rl"}[kind]
	d.mu.Lock()
	if d.grants == nil {
		d.grants = map[string]*grant{}
	}
	for k, g := range d.grants { // forget the dead
		if !now.Before(g.deadline) {
			delete(d.grants, k)
		}
	}
	d.grants[id] = &grant{container: container, kind: kind, deadline: now.Add(ttl)}
	d.mu.Unlock()
	exp := now.Add(max(ttl, tokenTTL)).UTC().Format(time.RFC3339)
	q := url.Values{}
	q.Set("sv", sasVersion)
	q.Set("sr", "c")
	q.Set("si", id)
	q.Set("sp", perms)
	q.Set("se", exp)
	q.Set("sig", d.sign(container, id, perms, exp))
	return &Grant{d: d, id: id, SAS: q.Encode()}
}

// Renew moves the grant's deadline to grantTTL from now; a revoked or
// expired grant stays dead.
func (g *Grant) Renew() {
	g.d.mu.Lock()
	defer g.d.mu.Unlock()
	if gr := g.d.grants[g.id]; gr != nil && g.d.cfg.Now().Before(gr.deadline) {
		gr.deadline = g.d.cfg.Now().Add(grantTTL)
	}
}

// Revoke ends the grant: its token is refused from now on.
func (g *Grant) Revoke() {
	g.d.mu.Lock()
	delete(g.d.grants, g.id)
	g.d.mu.Unlock()
}

// Hold grants kind on container for a job: the grant is renewed every
// grantTTL/3 until ctx ends or revoke is called, and revoke ends it.
func (d *Device) Hold(ctx context.Context, container string, kind GrantKind) (sas string, revoke func()) {
	g := d.NewGrant(container, kind, grantTTL)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(grantTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				g.Revoke()
				return
			case <-t.C:
				g.Renew()
			}
		}
	}()
	return g.SAS, func() { cancel(); <-done }
}

// IssueSAS returns a token for perms ("r" restore, anything else backup)
// on container, valid for ttl and never renewed (tests and the bench).
func (d *Device) IssueSAS(container, perms string, ttl time.Duration) string {
	kind := GrantBackup
	if perms == "r" {
		kind = GrantRestore
	}
	return d.NewGrant(container, kind, ttl).SAS
}

func (d *Device) sign(container, id, perms, exp string) string {
	m := hmac.New(sha256.New, d.cfg.Key)
	m.Write([]byte(sasVersion + "\n" + container + "\n" + id + "\n" + perms + "\n" + exp))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// access is what a request does, for the grant check.
type access int

const (
	accessRead access = iota
	accessWrite
	accessDelete
	accessLease      // acquire, renew, change, release
	accessLeaseBreak // break
)

// sasError is why a token does not authorize a request: Azure's code
// (AuthenticationFailed or AuthorizationPermissionMismatch) and message.
type sasError struct{ code, msg string }

func (e *sasError) Error() string { return e.msg }

func authFailed(msg string) *sasError {
	return &sasError{"AuthenticationFailed", "Server failed to authenticate the request. " + msg}
}

// checkSAS verifies the token of a request for container: the device's
// signature, an unexpired se, a live grant on that container, and an
// access the grant's kind allows.
func (d *Device) checkSAS(q url.Values, container string, a access) *sasError {
	sig, id, perms, exp := q.Get("sig"), q.Get("si"), q.Get("sp"), q.Get("se")
	if sig == "" {
		return authFailed("No shared access signature.")
	}
	if !hmac.Equal([]byte(sig), []byte(d.sign(container, id, perms, exp))) {
		return authFailed("Signature did not match for this container.")
	}
	now := d.cfg.Now()
	t, err := time.Parse(time.RFC3339, exp)
	if err != nil || !now.Before(t) {
		return authFailed("Signed expiry time has passed.")
	}
	d.mu.Lock()
	g := d.grants[id]
	d.mu.Unlock()
	if g == nil || g.container != container || !now.Before(g.deadline) {
		return authFailed("The access policy of this signature is no longer in force (its job has ended).")
	}
	if g.kind == GrantRestore && a != accessRead && a != accessLease {
		return &sasError{"AuthorizationPermissionMismatch", "This request is not authorized to perform this operation using this permission."}
	}
	return nil
}
