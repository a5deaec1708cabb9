// Package faults tests how sqlvault behaves when what it depends on fails:
// the vault's storage fills up, SQL Server drops the connection mid-restore,
// is down when a schedule fires, or its login loses sysadmin. Each test runs
// the real coordinator, vault, device and the sqlsim instance in-process.
// See docs/reliability.md.
package faults

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/microsoft/go-mssqldb"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/enginetest"
	"github.com/sqlvault/sqlvault/engine/policy"
	"github.com/sqlvault/sqlvault/engine/vault"
	"github.com/sqlvault/sqlvault/sqlsim"
)

const saPW = "Sa-Passw0rd!"

// fullBackend is a vault backend on a disk that fills up: once budget
// bytes have been written, every Put fails with ENOSPC as os.WriteFile
// would, until free is called.
type fullBackend struct {
	vault.Backend
	budget atomic.Int64 // < 0: unlimited
	fails  atomic.Int64
}

func (b *fullBackend) Put(ctx context.Context, name string, data []byte) error {
	if b.budget.Load() >= 0 && b.budget.Add(-int64(len(data))) < 0 {
		b.fails.Add(1)
		return &fs.PathError{Op: "write", Path: name, Err: syscall.ENOSPC}
	}
	return b.Backend.Put(ctx, name, data)
}

func (b *fullBackend) fill(left int64) { b.budget.Store(left) }
func (b *fullBackend) free()           { b.budget.Store(-1) }

// stack is the engine over a temp catalog and a vault on fullBackend.
type stack struct {
	t       *testing.T
	ctx     context.Context
	db      *db.DB
	backend *fullBackend
	vault   *vault.Vault
	env     *enginetest.Env
	coord   *coordinator.Coordinator
	sim     *sqlsim.Instance
	simDir  string
	sa      *sql.DB
	skew    atomic.Int64 // the coordinator's clock runs this far ahead
}

// advance moves the coordinator's clock forward, for schedule slots.
func (s *stack) advance(d time.Duration) { s.skew.Add(int64(d)) }

func newStack(t *testing.T) *stack {
	t.Helper()
	ctx := context.Background()
	catalog, err := db.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { catalog.Close() })
	fb := &fullBackend{}
	env := enginetest.StartWith(t, enginetest.Options{WrapBackend: func(b vault.Backend) vault.Backend {
		fb.Backend = b
		fb.free()
		return fb
	}})
	s := &stack{t: t, ctx: ctx, db: catalog, backend: fb, env: env, vault: env.Vault, simDir: t.TempDir()}
	s.coord = env.Coordinator(catalog, func(c *coordinator.Config) {
		c.Now = func() time.Time { return time.Now().Add(time.Duration(s.skew.Load())) }
	})
	s.startSim("127.0.0.1:0")
	return s
}

// startSim starts (or restarts, on the same data directory) the instance.
func (s *stack) startSim(addr string) {
	s.t.Helper()
	cfg := s.env.SimConfig(saPW)
	cfg.Addr, cfg.DataDir = addr, s.simDir
	cfg.Logins = []sqlsim.Login{{Name: "svc", Password: "Svc-Passw0rd!", Sysadmin: true}}
	var in *sqlsim.Instance
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		// A restart on the same port may race the old socket's release.
		if in, err = sqlsim.Start(s.ctx, cfg); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { in.Close() })
	s.sim = in
	if s.sa != nil {
		s.sa.Close()
	}
	s.sa, err = sql.Open("sqlserver", fmt.Sprintf("sqlserver://sa:%s@127.0.0.1:%d?encrypt=disable", saPW, in.Port()))
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { s.sa.Close() })
}

func (s *stack) exec(q string) {
	s.t.Helper()
	if _, err := s.sa.ExecContext(s.ctx, q); err != nil {
		s.t.Fatalf("%s: %v", q, err)
	}
}

func (s *stack) rows(table string) int {
	s.t.Helper()
	var n int
	if err := s.sa.QueryRowContext(s.ctx, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		s.t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// wait polls a job until it ends.
func (s *stack) wait(id int64) db.Job {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		j, err := s.db.JobByID(s.ctx, id)
		if err != nil {
			s.t.Fatal(err)
		}
		if j.Status != db.JobQueued && j.Status != db.JobInProgress {
			return j
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("job %d did not finish: %+v", id, j)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *stack) mustComplete(id int64) db.Job {
	s.t.Helper()
	j := s.wait(id)
	if j.Status != db.JobCompleted {
		s.t.Fatalf("job %d (%s %s) %s: %s %s", id, j.Operation, j.Kind, j.Status, j.ErrorCode, j.ErrorMessage)
	}
	return j
}

// protect registers the instance as svc, discovers it and protects the
// database under a daily policy with 15-minute logs; the first full runs.
func (s *stack) protect(database string) (db.Server, db.Item, policy.Policy) {
	s.t.Helper()
	srv, job, err := s.coord.RegisterServer(s.ctx, coordinator.ServerInput{Name: "SQL01", Host: "127.0.0.1", Port: s.sim.Port(),
		Username: "svc", Password: "Svc-Passw0rd!"})
	if err != nil {
		s.t.Fatal(err)
	}
	s.mustComplete(job)
	dbs, _ := s.db.ListDatabases(s.ctx, srv.ID)
	var dbID int64
	for _, d := range dbs {
		if d.Name == database {
			dbID = d.ID
		}
	}
	if dbID == 0 {
		s.t.Fatalf("%s not discovered", database)
	}
	pol, err := s.coord.CreatePolicy(s.ctx, policy.Policy{Name: "Daily", Full: policy.FullSchedule{Frequency: "daily", Time: "22:00", Timezone: "UTC"},
		Log: policy.LogSchedule{Enabled: true, EveryMinutes: 15}, Retention: policy.Retention{DailyDays: 30, LogDays: 15}})
	if err != nil {
		s.t.Fatal(err)
	}
	it, full, err := s.coord.Protect(s.ctx, dbID, pol.ID)
	if err != nil {
		s.t.Fatal(err)
	}
	s.mustComplete(full)
	return srv, it, pol
}

func (s *stack) backup(itemID int64, kind string) db.Job {
	s.t.Helper()
	id, err := s.coord.BackupNow(s.ctx, itemID, kind, 0)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.wait(id)
}

// restore restores a point under a new name and returns the job.
func (s *stack) restore(itemID, pointID int64, name string) db.Job {
	s.t.Helper()
	id, err := s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: itemID, RecoveryPointID: pointID,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeAlternate, DatabaseName: name}})
	if err != nil {
		s.t.Fatal(err)
	}
	return s.wait(id)
}
