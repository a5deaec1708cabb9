package main

import (
	"context"
	"flag"
	"io"

	"github.com/sqlvault/sqlvault/engine/vault"
)

// runBench measures the vault's throughput per stage and end to end.
func runBench(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	size := fs.Int("size-mib", 256, "MiB of page-like data to push through the vault")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return vault.Bench(ctx, stdout, *size<<20)
}
