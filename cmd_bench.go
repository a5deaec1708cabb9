package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"

	"github.com/sqlvault/sqlvault/engine/vault"
	"github.com/sqlvault/sqlvault/engine/vdi"
)

// runBench measures the vault's throughput per stage, the device end to
// end over HTTPS with 1 and 4 streams and its range reads, and the disk's
// raw sequential write speed.
func runBench(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	size := fs.Int("size-mib", 512, "MiB of page-like data per measurement")
	dir := fs.String("dir", os.TempDir(), "directory on the disk to measure (the vault's disk)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile (go tool pprof) to this file")
	skipDevice := fs.Bool("no-device", false, "measure the vault stages only")
	codec := fs.String("codec", vault.CodecZstd, "the vault's chunk compression: zstd or s2")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if err := vault.BenchWith(ctx, stdout, vault.BenchOptions{Size: *size << 20, Dir: *dir, Codec: *codec}); err != nil {
		return fmt.Errorf("vault bench: %w", err)
	}
	if *skipDevice {
		return nil
	}
	if err := vdi.Bench(ctx, stdout, vdi.BenchOptions{Size: *size << 20, Dir: *dir, Codec: *codec}); err != nil {
		return fmt.Errorf("device bench: %w", err)
	}
	return nil
}
