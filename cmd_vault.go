package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"text/tabwriter"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
)

// runVault is `sqlvault vault list|verify|rebuild-catalog`: the vault on
// its own, e.g. on a new server after the catalog was lost.
func runVault(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: sqlvault vault list|verify|rebuild-catalog --data DIR [--vault LOC] [--vault-key-file FILE]")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("vault "+sub, flag.ContinueOnError)
	var o serveOptions
	o.register(fs, "127.0.0.1:8080")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.DiscardHandler)
	switch sub {
	case "list", "verify", "rebuild-catalog":
	default:
		return fmt.Errorf("unknown vault command %q: list, verify or rebuild-catalog", sub)
	}
	pass, err := vaultPassphrase(ctx, o)
	if err != nil {
		return err
	}
	v, err := openVault(ctx, o, pass, log)
	if err != nil {
		return err
	}
	defer v.Close()
	switch sub {
	case "list":
		ms, err := v.List(ctx, "")
		if err != nil {
			return err
		}
		sort.Slice(ms, func(i, j int) bool { return ms[i].Created.Before(ms[j].Created) })
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "CREATED\tSERVER\tDATABASE\tTYPE\tBYTES\tBLOB")
		for _, m := range ms {
			var l coordinator.PointLabels
			json.Unmarshal([]byte(m.Labels["sqlvault.point"]), &l)
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\n", m.Created.Format("2006-01-02 15:04:05"), l.Server, l.Database, l.Kind, m.Size, m.Blob)
		}
		return w.Flush()
	case "verify":
		rep, err := v.Verify(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d packs, %d chunks, %d bytes read\n", rep.Packs, rep.Chunks, rep.Bytes)
		if !rep.OK() {
			return fmt.Errorf("damaged packs %v, %d missing chunks; affected backups: %v", rep.DamagedPacks, rep.MissingChunks, rep.AffectedBlobs)
		}
		if rep.Tampered() { // recoverable, but someone tried: fail so a script notices
			return fmt.Errorf("every chunk authenticated, but %d objects were hidden by delete markers (tampering; read from their retained versions): %v. %s",
				len(rep.HiddenObjects), rep.HiddenObjects, engine.CodeVaultObjectHidden.Action())
		}
		fmt.Fprintln(stdout, "every chunk authenticated: OK")
		return nil
	}
	catalog, err := db.Open(ctx, o.data)
	if err != nil {
		return err
	}
	defer catalog.Close()
	eng, err := openEngineSecrets(o)
	if err != nil {
		return err
	}
	c := coordinator.New(coordinator.Config{DB: catalog, Vault: v, Secrets: eng, Logger: log})
	rep, err := c.RebuildCatalog(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rebuilt %s from the vault: %d servers, %d databases, %d items, %d recovery points (%d blobs without labels skipped)\n",
		filepath.Join(o.data, db.FileName), rep.Servers, rep.Databases, rep.Items, rep.Points, rep.Skipped)
	fmt.Fprintln(stdout, "Servers come back without their password and items stopped: enter each login again and resume protection.")
	return nil
}
