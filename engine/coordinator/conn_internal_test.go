package coordinator

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/mssql"
	"github.com/sqlvault/sqlvault/engine/secret"
	"github.com/sqlvault/sqlvault/sqlsim"
)

// Two jobs of one server that connect at the same moment must both get a
// working connection: the second to finish must not close the pool the
// first is already using (it failed jobs with "sql: database is closed").
func TestConcurrentConnectsShareOnePool(t *testing.T) {
	ctx := context.Background()
	sim, err := sqlsim.Start(ctx, sqlsim.Config{SAPassword: "Sa-Passw0rd!"})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	box, _ := secret.New(make([]byte, 32))
	var arrived sync.WaitGroup
	arrived.Add(2)
	c := New(Config{Secrets: box, Connect: func(ctx context.Context, tg mssql.Target) (*mssql.Conn, error) {
		// Hold each caller until both are connecting, so the two
		// connects overlap whatever the scheduler does.
		arrived.Done()
		arrived.Wait()
		return mssql.Connect(ctx, tg)
	}})
	s := db.Server{ID: 1, Host: "127.0.0.1", Port: sim.Port(), Username: "sa", PasswordEnc: box.Seal("Sa-Passw0rd!"), Encrypt: "disable"}
	conns := make([]*mssql.Conn, 2)
	errs := make([]error, 2)
	var done sync.WaitGroup
	for i := range conns {
		done.Add(1)
		go func() {
			defer done.Done()
			conns[i], errs[i] = c.conn(ctx, s)
		}()
	}
	done.Wait()
	for i, cn := range conns {
		if errs[i] != nil {
			t.Fatalf("connect %d: %v", i, errs[i])
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := cn.DB().PingContext(pctx)
		cancel()
		if err != nil {
			t.Errorf("connection %d handed to a job no longer works: %v", i, err)
		}
	}
}
