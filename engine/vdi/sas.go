package vdi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"time"
)

// SAS tokens look like Azure's (sv, sr, sp, se, sig) so SQL Server stores
// and sends them unchanged, but are signed with the device's own key: the
// signature covers the container, the permissions and the expiry.

const sasVersion = "2020-10-02"

// IssueSAS returns a query string (without '?') granting perms ("r",
// "rw", "rwd") on one container until ttl from now.
func (d *Device) IssueSAS(container, perms string, ttl time.Duration) string {
	exp := d.cfg.Now().Add(ttl).UTC().Format(time.RFC3339)
	q := url.Values{}
	q.Set("sv", sasVersion)
	q.Set("sr", "c")
	q.Set("sp", perms)
	q.Set("se", exp)
	q.Set("sig", d.sign(container, perms, exp))
	return q.Encode()
}

func (d *Device) sign(container, perms, exp string) string {
	m := hmac.New(sha256.New, d.cfg.Key)
	m.Write([]byte(sasVersion + "\n" + container + "\n" + perms + "\n" + exp))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// checkSAS verifies the token of a request for container needing perm.
func (d *Device) checkSAS(q url.Values, container, perm string) error {
	sig, perms, exp := q.Get("sig"), q.Get("sp"), q.Get("se")
	if sig == "" {
		return errors.New("Server failed to authenticate the request: no shared access signature.")
	}
	if !hmac.Equal([]byte(sig), []byte(d.sign(container, perms, exp))) {
		return errors.New("Server failed to authenticate the request. Signature did not match for this container.")
	}
	t, err := time.Parse(time.RFC3339, exp)
	if err != nil || !d.cfg.Now().Before(t) {
		return errors.New("Signed expiry time has passed.")
	}
	if !strings.Contains(perms, perm) {
		return errors.New("This request is not authorized to perform this operation using this permission.")
	}
	return nil
}
