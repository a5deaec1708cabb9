package vdi

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"

	"github.com/sqlvault/sqlvault/engine/vault"
)

// CompareTarget is another Azure Blob endpoint that SQL Server's BACKUP TO
// URL could write to (WAL-G's SQL Server proxy, for one), benchmarked with
// the device's own client and data.
type CompareTarget struct {
	Name   string // label in the output
	URL    string // https://host[:port]/container, with its SAS as the query if it needs one
	CAFile string // PEM of the CA its certificate chains to; empty: the system roots
	Dir    string // the directory it stores into, to count stored bytes; empty skips it
}

// benchCompare runs the device and the target in turns, A B A B A B for
// each stream count, each run with fresh page-like data that both sides
// get alike, so that the machine's load falls on both; it prints every
// run, then the medians side by side.
func benchCompare(ctx context.Context, w io.Writer, o BenchOptions) error {
	c := o.Compare
	if o.Rounds <= 0 {
		o.Rounds = 3
	}
	client, err := compareClient(c)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "side by side: the device (vault codec %s, ingest %s) and %s at %s; the same client and data, %d MiB blocks, %d MiB per run, %d runs each, interleaved\n",
		cmpOr(o.Codec, vault.CodecZstd), cmpOr(o.IngestCodec, cmpOr(o.Codec, vault.CodecZstd)), c.Name, c.URL, o.BlockSize>>20, o.Size>>20, o.Rounds)
	type row struct{ a, b benchResult }
	rows := map[int]row{}
	for _, streams := range o.Streams {
		var as, bs []benchResult
		for round := range o.Rounds {
			seed := uint64(1000 + 100*round + 10*streams) // fresh data every round, the same for both sides
			data := newBenchData(streams, benchShare(o, streams), seed)
			fmt.Fprintf(w, "run %d, %d stream(s): sqlvault\n", round+1, streams)
			a, err := benchRun(ctx, w, o, data)
			if err != nil {
				data.free()
				return err
			}
			fmt.Fprintf(w, "run %d, %d stream(s): %s\n", round+1, streams, c.Name)
			b, err := compareRun(ctx, w, o, client, data, fmt.Sprintf("r%d-s%d", round, streams))
			data.free()
			if err != nil {
				return fmt.Errorf("%s: %w", c.Name, err)
			}
			as, bs = append(as, a), append(bs, b)
		}
		rows[streams] = row{medianResult(as), medianResult(bs)}
	}
	fmt.Fprintf(w, "medians of %d: streams | sqlvault MB/s | %s MB/s | ratio | sqlvault stored MB | %s stored MB | sqlvault reads MB/s | %s reads MB/s\n", o.Rounds, c.Name, c.Name, c.Name)
	for _, streams := range o.Streams {
		r := rows[streams]
		fmt.Fprintf(w, "%d | %.1f | %.1f | %.2fx | %.1f | %s | %.1f | %.1f\n", streams, r.a.ingest, r.b.ingest, r.a.ingest/r.b.ingest,
			float64(r.a.stored)/1e6, storedMB(r.b.stored), r.a.reads, r.b.reads)
	}
	return nil
}

// compareRun uploads a blob per stream of data (the device's of the same
// round) under a new prefix of the target, then reads them.
func compareRun(ctx context.Context, w io.Writer, o BenchOptions, client *http.Client, data benchData, prefix string) (benchResult, error) {
	var res benchResult
	streams, share := len(data.streams), len(data.streams[0])
	before, err := dirBytes(o.Compare.Dir)
	if err != nil {
		return res, err
	}
	u, err := url.Parse(o.Compare.URL)
	if err != nil {
		return res, err
	}
	sas := u.RawQuery
	u.RawQuery = ""
	base := u.JoinPath(prefix).String()
	blobURL := func(s int) string { return fmt.Sprintf("%s/stripe%d.bak?%s", base, s, sas) }
	elapsed, err := benchStreams(streams, func(s int) error {
		return benchUpload(ctx, client, blobURL(s), data.blocks(s), share, o.BlockSize)
	})
	if err != nil {
		return res, err
	}
	res.ingest = vault.BenchRate(w, fmt.Sprintf("%s ingest, %d stream(s)", o.Compare.Name, streams), int64(share*streams), elapsed)
	if o.Compare.Dir != "" {
		after, err := dirBytes(o.Compare.Dir)
		if err != nil {
			return res, err
		}
		res.stored = after - before
		fmt.Fprintf(w, "%-40s %9.1f MB (%.2fx smaller)\n", "  stored", float64(res.stored)/1e6, float64(share*streams)/float64(res.stored))
	}
	elapsed, err = benchStreams(streams, func(s int) error { return benchRead(ctx, client, blobURL(s), share, o.BlockSize) })
	if err != nil {
		return res, err
	}
	res.reads = vault.BenchRate(w, fmt.Sprintf("%s range reads, %d stream(s)", o.Compare.Name, streams), int64(share*streams), elapsed)
	return res, nil
}

func compareClient(c *CompareTarget) (*http.Client, error) {
	u, err := url.Parse(c.URL)
	if err != nil || u.Scheme != "https" {
		return nil, fmt.Errorf("compare URL %q: want https://host[:port]/container", c.URL)
	}
	roots, err := x509.SystemCertPool()
	if c.CAFile != "" {
		pem, rerr := os.ReadFile(c.CAFile)
		if rerr != nil {
			return nil, rerr
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate", c.CAFile)
		}
	} else if err != nil {
		return nil, err
	}
	return benchClient(roots, u.Hostname(), ""), nil
}

// medianResult takes the median of each figure on its own.
func medianResult(rs []benchResult) benchResult {
	med := func(f func(benchResult) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return benchResult{
		ingest: med(func(r benchResult) float64 { return r.ingest }),
		reads:  med(func(r benchResult) float64 { return r.reads }),
		stored: int64(med(func(r benchResult) float64 { return float64(r.stored) })),
	}
}

func storedMB(n int64) string {
	if n <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(n)/1e6)
}

// dirBytes is the size of the regular files under dir (0 for "").
func dirBytes(dir string) (int64, error) {
	if dir == "" {
		return 0, nil
	}
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	return n, err
}
