package vault

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func BenchmarkPutBlock(b *testing.B) {
	be, _ := NewDirBackend(b.TempDir())
	v, err := Create(context.Background(), be, pass, Options{})
	if err != nil {
		b.Fatal(err)
	}
	data := SamplePages(1, 4<<20)
	b.SetBytes(int64(len(data)))
	i := 0
	for b.Loop() {
		// Vary the first page so every block is new data.
		copy(data, fmt.Sprintf("%08d", i))
		i++
		if err := v.PutBlock(context.Background(), "bench", fmt.Sprint(i), data); err != nil {
			b.Fatal(err)
		}
	}
}

func TestBenchRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	var out testWriter
	if err := Bench(context.Background(), &out, 8<<20); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"chunk (FastCDC", "hash", "compress", "encrypt", "pack write", "disk: raw", "compression ratio", "ingest new data, 4 stream", "ingest known data (dedup)", "restore read"} {
		if !out.contains(want) {
			t.Errorf("bench output lacks %q:\n%s", want, out.s)
		}
	}
}

type testWriter struct{ s string }

func (w *testWriter) Write(p []byte) (int, error) { w.s += string(p); return len(p), nil }
func (w *testWriter) contains(s string) bool      { return strings.Contains(w.s, s) }
