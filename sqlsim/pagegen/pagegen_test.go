package pagegen

import (
	"bytes"
	"compress/flate"
	"testing"
)

func TestPagesAreDeterministicAndCompressLikePages(t *testing.T) {
	a, b := make([]byte, Size), make([]byte, Size)
	Page(1, 7, 0, a)
	Page(1, 7, 0, b)
	if !bytes.Equal(a, b) {
		t.Fatal("the same page differs between calls")
	}
	Page(1, 7, 1, b)
	if bytes.Equal(a, b) {
		t.Fatal("a new version of a page is identical")
	}
	Page(2, 7, 0, b)
	if bytes.Equal(a, b) {
		t.Fatal("pages of different databases are identical")
	}
	var all bytes.Buffer
	for i := int64(0); i < 256; i++ {
		Page(3, i, 0, a)
		all.Write(a)
	}
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.DefaultCompression)
	w.Write(all.Bytes())
	w.Close()
	ratio := float64(all.Len()) / float64(z.Len())
	if ratio < 2 || ratio > 6 {
		t.Fatalf("compression ratio %.2f, want roughly 2-4x like data pages", ratio)
	}
}
