package vdi

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzParseRange: any Range header against any size either is refused or
// names bytes inside the blob, start before end.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-", "bytes=0-1048575", "bytes=5-4", "bytes=-500", "bytes=1-2,3-4", "bytes= 9223372036854775807-",
		"bytes=0-9223372036854775807", "items=0-1", "bytes=+1-+2", "bytes=00-01", ""} {
		f.Add(s, int64(4<<20))
	}
	f.Add("bytes=0-0", int64(0))
	f.Add("bytes=0-", int64(-1))
	f.Fuzz(func(t *testing.T, h string, size int64) {
		start, end, ok := parseRange(h, size)
		if ok && (start < 0 || end < start || end >= size) {
			t.Fatalf("parseRange(%q, %d) = %d-%d: outside the blob", h, size, start, end)
		}
	})
}

// FuzzCheckSAS: a query string only authorizes what the device granted. A
// restore token for one container never authorizes a write, a delete or a
// lease break, nor another container, whatever is appended to or changed
// in it; an expired or revoked one nothing; and no query panics the check.
func FuzzCheckSAS(f *testing.F) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := now
	d := &Device{cfg: Config{Key: bytes.Repeat([]byte{7}, 32), Now: func() time.Time { return clock }}}
	read := d.IssueSAS("job-1", "r", time.Hour)
	revoked := d.NewGrant("job-1", GrantBackup, time.Hour)
	revoked.Revoke()
	for a := accessRead; a <= accessLeaseBreak; a++ {
		f.Add(read, "job-1", uint8(a))
		f.Add(read, "job-2", uint8(a))
		f.Add(revoked.SAS, "job-1", uint8(a))
	}
	f.Add(read+"&sp=rwdl", "job-1", uint8(accessWrite))
	f.Add(strings.Replace(read, "sp=rl", "sp=rwdl", 1), "job-1", uint8(accessWrite))
	f.Add(d.IssueSAS("job-1", "rw", -time.Minute), "job-1", uint8(accessRead))
	f.Add("sig=&sp=&se=", "", uint8(0))
	f.Add("sv=2020-10-02&sr=c&sp=r&se=not-a-time&sig=AAAA", "job-1", uint8(0))
	f.Add("%zz&sig=%", "job-1", uint8(0))
	f.Fuzz(func(t *testing.T, query, container string, a uint8) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		if d.checkSAS(q, container, access(a)) != nil {
			return
		}
		// Authorized: the signature must be the device's for exactly these
		// values, unexpired, naming a live grant on this container.
		si, sp, se := q.Get("si"), q.Get("sp"), q.Get("se")
		exp, err := time.Parse(time.RFC3339, se)
		g := d.grants[si]
		if q.Get("sig") != d.sign(container, si, sp, se) || err != nil || !now.Before(exp) || g == nil || g.container != container {
			t.Fatalf("checkSAS(%q, %q, %d) authorized a token the device did not grant for it", query, container, a)
		}
		if g.kind == GrantRestore && access(a) != accessRead && access(a) != accessLease {
			t.Fatalf("a restore token authorized access %d", a)
		}
	})
}
