package vdi

import (
	"testing"
	"time"
)

type countingReader struct {
	emptyBlob
	asked *int
}

func (r countingReader) ETag() string { *r.asked++; return r.emptyBlob.ETag() }

// TestETagDerivedOncePerBlob: a restore's many ranged reads of one blob
// derive its ETag once and all answer the same one; another blob, or the
// same name committed again at another time, gets its own.
func TestETagDerivedOncePerBlob(t *testing.T) {
	var c etagCache
	asked := 0
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	a := countingReader{emptyBlob{etag: `"0xA"`, mod: t0}, &asked}
	for range 100 {
		if e := c.of("c/full.bak", a); e != `"0xA"` {
			t.Fatalf("ETag %s, want \"0xA\"", e)
		}
	}
	if asked != 1 {
		t.Errorf("the ETag was derived %d times for 100 reads of one blob, want once", asked)
	}
	b := countingReader{emptyBlob{etag: `"0xB"`, mod: t0.Add(time.Nanosecond)}, &asked}
	if e := c.of("c/full.bak", b); e != `"0xB"` {
		t.Errorf("the name committed at another time answers %s, want its own \"0xB\"", e)
	}
	if e := c.of("c/log.trn", a); e != `"0xA"` || asked != 3 {
		t.Errorf("another blob: %s after %d derivations, want its own after 3", e, asked)
	}
}
