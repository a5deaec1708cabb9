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

// FuzzCheckSAS: a query string only authorizes what the device signed. A
// token issued read-only for one container never authorizes a write nor
// another container, whatever is appended to or changed in it; an expired
// one nothing; and no query at all panics the check.
func FuzzCheckSAS(f *testing.F) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := now
	d := &Device{cfg: Config{Key: bytes.Repeat([]byte{7}, 32), Now: func() time.Time { return clock }}}
	read := d.IssueSAS("job-1", "r", time.Hour)
	f.Add(read, "job-1", "r")
	f.Add(read, "job-1", "w")
	f.Add(read, "job-2", "r")
	f.Add(read+"&sp=rw", "job-1", "w")
	f.Add(strings.Replace(read, "sp=r", "sp=rw", 1), "job-1", "w")
	f.Add(d.IssueSAS("job-1", "rw", -time.Minute), "job-1", "r")
	f.Add("sig=&sp=&se=", "", "")
	f.Add("sv=2020-10-02&sr=c&sp=r&se=not-a-time&sig=AAAA", "job-1", "r")
	f.Add("%zz&sig=%", "job-1", "r")
	f.Fuzz(func(t *testing.T, query, container, perm string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		ok := d.checkSAS(q, container, perm) == nil
		if !ok {
			return
		}
		// Authorized: the signature must be the device's for exactly these
		// values, unexpired, and the permission among those signed.
		sp, se := q.Get("sp"), q.Get("se")
		exp, err := time.Parse(time.RFC3339, se)
		if q.Get("sig") != d.sign(container, sp, se) || err != nil || !now.Before(exp) || !strings.Contains(sp, perm) {
			t.Fatalf("checkSAS(%q, %q, %q) authorized a token the device did not sign for it", query, container, perm)
		}
		if container == "job-1" && sp == "r" && perm != "" && strings.ContainsAny(perm, "wdc") {
			t.Fatalf("a read token authorized %q", perm)
		}
	})
}
