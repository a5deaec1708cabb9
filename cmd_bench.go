package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
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
	mutexProfile := fs.String("mutexprofile", "", "write a profile of lock contention (go tool pprof) to this file")
	skipDevice := fs.Bool("no-device", false, "measure the vault stages only")
	restoreMiB := fs.Int("restore-mib", 256, "MiB of the database whose backup chain the restore part restores; 0 skips it")
	codec := fs.String("codec", vault.CodecZstd, "the vault's chunk compression: zstd or s2")
	vaultURL := fs.String("vault", "", "a bucket URL (s3://BUCKET?endpoint=...) holding the device bench's vault instead of --dir")
	ingest := fs.String("ingest-codec", vault.CodecS2, "the compression blocks are ingested with before the background recompression to --codec (serve's default s2); --ingest-codec zstd compresses in line")
	compareURL := fs.String("compare-url", "", "also drive another Azure Blob endpoint (https://HOST[:PORT]/CONTAINER, e.g. WAL-G's SQL Server proxy) with the same client and data, interleaved with the device's runs; runs the device part only")
	compareName := fs.String("compare-name", "WAL-G", "the other endpoint's label")
	compareCA := fs.String("compare-ca", "", "PEM file of the CA the other endpoint's certificate chains to")
	compareDir := fs.String("compare-dir", "", "the directory the other endpoint stores into, to count its stored bytes")
	deviceOnly := fs.Bool("device-only", false, "run the device part only (with --cpuprofile: a profile of the ingest pipeline alone)")
	restoreOnly := fs.Bool("restore-only", false, "run the restore part only (sqlsim's chain backups and restores through the device)")
	rounds := fs.Int("rounds", 3, "runs of each side per stream count with --compare-url (medians are printed)")
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
	if *mutexProfile != "" {
		runtime.SetMutexProfileFraction(1)
		defer writeProfile("mutex", *mutexProfile)
	}
	if *compareURL != "" {
		target := &vdi.CompareTarget{Name: *compareName, URL: *compareURL, CAFile: *compareCA, Dir: *compareDir}
		return vdi.Bench(ctx, stdout, vdi.BenchOptions{Size: *size << 20, Dir: *dir, Codec: *codec, Vault: *vaultURL, IngestCodec: *ingest, Compare: target, Rounds: *rounds})
	}
	if *restoreOnly {
		return benchRestore(ctx, stdout, *dir, max(*restoreMiB, 1), *codec)
	}
	if *deviceOnly {
		return vdi.Bench(ctx, stdout, vdi.BenchOptions{Size: *size << 20, Dir: *dir, Codec: *codec, Vault: *vaultURL, IngestCodec: *ingest})
	}
	if err := vault.BenchWith(ctx, stdout, vault.BenchOptions{Size: *size << 20, Dir: *dir, Codec: *codec}); err != nil {
		return fmt.Errorf("vault bench: %w", err)
	}
	if *skipDevice {
		return nil
	}
	if err := vdi.Bench(ctx, stdout, vdi.BenchOptions{Size: *size << 20, Dir: *dir, Codec: *codec, Vault: *vaultURL, IngestCodec: *ingest}); err != nil {
		return fmt.Errorf("device bench: %w", err)
	}
	if *restoreMiB > 0 {
		if err := benchRestore(ctx, stdout, *dir, *restoreMiB, *codec); err != nil {
			return fmt.Errorf("restore bench: %w", err)
		}
	}
	return nil
}

// writeProfile writes the named runtime profile (mutex, block) to file.
func writeProfile(name, file string) {
	f, err := os.Create(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	defer f.Close()
	pprof.Lookup(name).WriteTo(f, 0)
}
