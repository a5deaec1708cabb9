package web

import (
	"context"
	"net"
	"slices"
	"strconv"
	"testing"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/policy"
	"github.com/sqlvault/sqlvault/sqlsim"
)

func strconvI(v int64) string { return strconv.FormatInt(v, 10) }

func listen(t *testing.T) net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// startSim starts a simulated SQL Server wired to the test server's device
// (it resolves the device's name and trusts its CA), with sa's password
// "Sa-Passw0rd!" and the logins given.
func (ts *testServer) startSim(t *testing.T, logins ...sqlsim.Login) *sqlsim.Instance {
	t.Helper()
	cfg := ts.env.SimConfig("Sa-Passw0rd!")
	cfg.Logins = logins
	return ts.env.StartSim(cfg)
}

// registerSim registers sim as SQL01, signing in as sa, and waits for its
// discovery.
func (ts *testServer) registerSim(t *testing.T, sim *sqlsim.Instance) db.Server {
	t.Helper()
	srv, job, err := ts.coord.RegisterServer(context.Background(), coordinator.ServerInput{Name: "SQL01", Host: "127.0.0.1",
		Port: sim.Port(), Username: "sa", Password: "Sa-Passw0rd!", Encrypt: "disable"})
	if err != nil {
		t.Fatal(err)
	}
	waitJob(t, ts, job)
	return srv
}

// protect creates pol and protects the databases of srv named with it,
// waiting for each first full; the items come in the order of names.
func (ts *testServer) protect(t *testing.T, srv db.Server, pol policy.Policy, names ...string) []db.Item {
	t.Helper()
	ctx := context.Background()
	p, err := ts.coord.CreatePolicy(ctx, pol)
	if err != nil {
		t.Fatal(err)
	}
	dbs, err := ts.db.ListDatabases(ctx, srv.ID)
	if err != nil {
		t.Fatal(err)
	}
	items := make([]db.Item, len(names))
	for _, d := range dbs {
		if i := slices.Index(names, d.Name); i >= 0 {
			it, job, err := ts.coord.Protect(ctx, d.ID, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			waitJob(t, ts, job)
			items[i] = it
		}
	}
	for i, it := range items {
		if it.ID == 0 {
			t.Fatalf("%s has no database %s", srv.Name, names[i])
		}
	}
	return items
}
