package vdi

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/sqlvault/sqlvault/engine/vault"
	"github.com/sqlvault/sqlvault/sqlsim/blob/blobtest"
)

// TestBenchCompareSendsTheSameShapeAndData: the side-by-side bench sends
// the other endpoint SQL Server's request sequence with the very data the
// device got in the same round, so the two figures compare like for like.
func TestBenchCompareSendsTheSameShapeAndData(t *testing.T) {
	other, err := blobtest.Start(blobtest.Options{Name: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ca := t.TempDir() + "/ca.pem"
	if err := os.WriteFile(ca, other.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	target := &CompareTarget{Name: "other", URL: other.ContainerURL("bench") + "?" + other.SAS, CAFile: ca}
	err = Bench(context.Background(), &out, BenchOptions{Size: 8 << 20, Dir: t.TempDir(), Streams: []int{1}, Rounds: 1, Compare: target})
	if err != nil {
		t.Fatal(err)
	}
	got, ok := other.Blob("bench/r0-s1/stripe0.bak")
	if !ok {
		t.Fatalf("the other endpoint holds %v", other.BlobNames())
	}
	want := make([]byte, 8<<20)
	vault.NewPageGen(1000+10).Fill(want, 0) // round 0, 1 stream: the device's generator
	if !bytes.Equal(got, want) {
		t.Errorf("the other endpoint got %d bytes unlike the device's data", len(got))
	}
	var seq []string
	for _, r := range other.Requests() {
		if r.Method == "PUT" {
			seq = append(seq, r.Comp+" "+r.LeaseAction+r.LeaseDur)
		}
	}
	wantSeq := "  lease Acquire-1 block  block  blocklist  lease Release"
	if strings.Join(seq, " ") != wantSeq {
		t.Errorf("PUT sequence %q, want %q", strings.Join(seq, " "), wantSeq)
	}
	if !strings.Contains(out.String(), "medians of 1") {
		t.Errorf("no medians in:\n%s", out.String())
	}
}
