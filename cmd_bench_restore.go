package main

import (
	"context"
	"crypto/x509"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/mssql"
	"github.com/sqlvault/sqlvault/engine/policy"
	"github.com/sqlvault/sqlvault/engine/vault"
	"github.com/sqlvault/sqlvault/engine/vdi"
	"github.com/sqlvault/sqlvault/sqlsim"
)

// restoreBench is a catalog, vault, device and coordinator as serve wires
// them, with one simulated instance holding a database of page-like data.
type restoreBench struct {
	w       io.Writer
	catalog *db.DB
	eng     *engineParts
	coord   *coordinator.Coordinator
	sim     *sqlsim.Instance
	sa      *sql.DB
	plugin  *mssql.Conn
	closers []func()
}

const benchDB = "BenchDB"

// benchRestore measures restores of a full + differential + 20 logs chain
// of a database of sizeMiB: SQL Server (sqlsim) reading it through the
// device with the backups in 1 and 4 stripes, beside the backups' own
// ingest, and a point-in-time restore from the planner until the
// database is ONLINE through the coordinator.
func benchRestore(ctx context.Context, w io.Writer, dir string, sizeMiB int, codec string) error {
	tmp, err := os.MkdirTemp(dir, "sqlvault-restorebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	b := &restoreBench{w: w}
	defer b.close()
	if err := b.start(ctx, tmp, int64(sizeMiB)<<20, codec); err != nil {
		return err
	}
	fmt.Fprintf(w, "restore of a full + differential + 20 logs chain of a %d MiB database (sqlsim reads through the device over HTTPS)\n", sizeMiB)
	for _, stripes := range []int{1, 4} {
		if err := b.stripedChain(ctx, stripes); err != nil {
			return err
		}
	}
	return b.pointInTime(ctx)
}

func (b *restoreBench) close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
}

func (b *restoreBench) start(ctx context.Context, tmp string, size int64, codec string) error {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	catalog, err := db.Open(ctx, tmp)
	if err != nil {
		return err
	}
	b.catalog = catalog
	b.closers = append(b.closers, func() { catalog.Close() })
	const name = "restore-bench.sqlvault.test"
	o := serveOptions{data: tmp, deviceName: name, codec: codec}
	if b.eng, err = openEngine(ctx, o, catalog, log); err != nil {
		return err
	}
	b.closers = append(b.closers, b.eng.close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	b.eng.device.Listening(l)
	go b.eng.device.Serve(l)
	b.closers = append(b.closers, func() { b.eng.device.Shutdown(context.Background()) })
	b.coord = coordinator.New(coordinator.Config{DB: catalog, Vault: b.eng.vault, Device: b.eng.device, DeviceName: name,
		Secrets: b.eng.secrets, Logger: log})
	if err := b.coord.Start(ctx); err != nil {
		return err
	}
	b.closers = append(b.closers, b.coord.Stop)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b.eng.device.CACertPEM())
	b.sim, err = sqlsim.Start(ctx, sqlsim.Config{Addr: "127.0.0.1:0", DataDir: filepath.Join(tmp, "sqlsim"), SAPassword: demoSAPassword,
		TrustCA: pool, Hosts: map[string]string{name: "127.0.0.1"}, AllowedDevicePort: l.Addr().(*net.TCPAddr).Port, Logger: log})
	if err != nil {
		return err
	}
	b.closers = append(b.closers, func() { b.sim.Close() })
	if err := b.sim.CreateSyntheticDatabase(ctx, benchDB, size); err != nil {
		return err
	}
	if b.sa, err = sa(b.sim); err != nil {
		return err
	}
	b.closers = append(b.closers, func() { b.sa.Close() })
	if _, err := b.sa.ExecContext(ctx, "USE "+benchDB+"; CREATE TABLE t (id int)"); err != nil {
		return err
	}
	b.plugin, err = mssql.Connect(ctx, mssql.Target{Host: "127.0.0.1", Port: b.sim.Port(), User: "sa", Password: demoSAPassword, Encrypt: "disable"})
	if err == nil {
		b.closers = append(b.closers, func() { b.plugin.Close() })
	}
	return err
}

// insert commits a row, so that the next log (or differential) holds work.
func (b *restoreBench) insert(ctx context.Context, id int) error {
	_, err := b.sa.ExecContext(ctx, "INSERT INTO "+benchDB+".dbo.t VALUES (@p1)", id)
	return err
}

// stripedChain backs the database up as a chain with each backup in
// stripes URLs, as the plugin does, then restores the chain under a new
// name and reports both rates: the chain's bytes over the wall time of
// its BACKUPs, and of its RESTOREs.
func (b *restoreBench) stripedChain(ctx context.Context, stripes int) error {
	container := fmt.Sprintf("bench-chain-%d", stripes)
	containerURL := b.eng.device.ContainerURL(container)
	sas, revoke := b.eng.device.Hold(ctx, container, vdi.GrantBackup)
	if err := b.plugin.EnsureCredential(ctx, containerURL, sas); err != nil {
		revoke()
		return err
	}
	kinds := []string{mssql.KindFull, mssql.KindDifferential}
	for range 20 {
		kinds = append(kinds, mssql.KindLog)
	}
	chain := make([][]string, len(kinds))
	var elapsed time.Duration
	for i, kind := range kinds {
		if i > 0 {
			if err := b.insert(ctx, 1000*stripes+i); err != nil {
				revoke()
				return err
			}
		}
		for s := range stripes {
			chain[i] = append(chain[i], fmt.Sprintf("%s/%s_%02d_%dof%d.bak", containerURL, kind, i, s+1, stripes))
		}
		start := time.Now()
		_, err := b.plugin.Backup(ctx, mssql.BackupRequest{Database: benchDB, Kind: kind, URLs: chain[i]}, nil)
		elapsed += time.Since(start)
		if err != nil {
			revoke()
			return err
		}
	}
	revoke()
	total, err := b.chainBytes(ctx, container, chain)
	if err != nil {
		return err
	}
	vault.BenchRate(b.w, fmt.Sprintf("chain backups (ingest), %d stripe(s)", stripes), total, elapsed)

	sas, revoke = b.eng.device.Hold(ctx, container, vdi.GrantRestore)
	defer revoke()
	if err := b.plugin.EnsureCredential(ctx, containerURL, sas); err != nil {
		return err
	}
	files, err := b.plugin.FileList(ctx, chain[0])
	if err != nil {
		return err
	}
	target := fmt.Sprintf("%s_r%d", benchDB, stripes)
	moves := mssql.MovesFor(files, target, "/var/opt/mssql/data/", "/var/opt/mssql/data/")
	start := time.Now()
	for i, urls := range chain {
		req := mssql.RestoreRequest{Database: target, Log: kinds[i] == mssql.KindLog, URLs: urls, Recovery: i == len(chain)-1}
		if i == 0 {
			req.Moves = moves
		}
		if err := b.plugin.Restore(ctx, req, nil); err != nil {
			return err
		}
	}
	vault.BenchRate(b.w, fmt.Sprintf("chain restore reads, %d stripe(s)", stripes), total, time.Since(start))
	return b.plugin.DropCredential(ctx, containerURL)
}

// chainBytes is the size of the chain's blobs as the vault holds them
// (their logical size, what a restore reads).
func (b *restoreBench) chainBytes(ctx context.Context, container string, chain [][]string) (int64, error) {
	var total int64
	for _, urls := range chain {
		for _, u := range urls {
			m, err := b.eng.vault.Manifest(ctx, container+"/"+filepath.Base(u))
			if err != nil {
				return 0, err
			}
			total += m.Size
		}
	}
	return total, nil
}

// pointInTime protects the database through the coordinator (its full),
// takes a differential and 20 logs, then restores to a second inside the
// last log as a new database: the time from the request (the planner) until
// the job has seen the database ONLINE.
func (b *restoreBench) pointInTime(ctx context.Context) error {
	srv, job, err := b.coord.RegisterServer(ctx, coordinator.ServerInput{Name: "BENCH", Host: "127.0.0.1", Port: b.sim.Port(),
		Username: "sa", Password: demoSAPassword, Encrypt: "disable"})
	if err != nil {
		return err
	}
	if err := waitJob(ctx, b.coord, job, 30*time.Minute); err != nil {
		return err
	}
	pol, err := b.coord.CreatePolicy(ctx, policy.Policy{Name: "bench", Full: policy.FullSchedule{Frequency: "daily", Time: "03:00", Timezone: "UTC"},
		Log: policy.LogSchedule{Enabled: true, EveryMinutes: 60}, Retention: policy.Retention{DailyDays: 7, LogDays: 7}})
	if err != nil {
		return err
	}
	dbs, err := b.coord.Databases(ctx, srv.ID)
	if err != nil {
		return err
	}
	var item db.Item
	for _, d := range dbs {
		if d.Name == benchDB {
			if item, job, err = b.coord.Protect(ctx, d.ID, pol.ID); err != nil {
				return err
			}
		}
	}
	if err := waitJob(ctx, b.coord, job, 30*time.Minute); err != nil {
		return err
	}
	kinds := []string{mssql.KindDifferential}
	for range 20 {
		kinds = append(kinds, mssql.KindLog)
	}
	var at time.Time
	for i, kind := range kinds {
		if i == len(kinds)-1 {
			// A second inside the last log, before its row: STOPAT there
			// makes the restore read the whole chain and recover.
			time.Sleep(1100 * time.Millisecond)
			at = time.Now().UTC().Truncate(time.Second)
			time.Sleep(1100 * time.Millisecond)
		}
		if err := b.insert(ctx, 9000+i); err != nil {
			return err
		}
		if job, err = b.coord.BackupNow(ctx, item.ID, kind, 0); err != nil {
			return err
		}
		if err := waitJob(ctx, b.coord, job, 30*time.Minute); err != nil {
			return err
		}
	}
	start := time.Now()
	job, err = b.coord.Restore(ctx, coordinator.RestoreRequest{ItemID: item.ID, PointInTime: &at,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeAlternate, DatabaseName: benchDB + "_pit"}})
	if err != nil {
		return err
	}
	if err := waitJob(ctx, b.coord, job, 30*time.Minute); err != nil {
		return err
	}
	elapsed := time.Since(start)
	plan, err := b.coord.Plan(ctx, item.ID, 0, &at)
	if err != nil {
		return err
	}
	points, err := b.catalog.ListPoints(ctx, item.ID)
	if err != nil {
		return err
	}
	var total int64
	for _, s := range plan.Steps {
		for _, p := range points {
			if p.ID == s.Point.ID {
				total += p.SizeBytes
			}
		}
	}
	vault.BenchRate(b.w, fmt.Sprintf("point-in-time restore, planner to ONLINE (%d backups)", len(plan.Steps)), total, elapsed)
	fmt.Fprintf(b.w, "%-40s %9.2f s\n", "  wall time", elapsed.Seconds())
	return nil
}
