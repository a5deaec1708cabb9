package web

import (
	"github.com/sqlvault/sqlvault/sqlsim"
	"net"
	"strconv"
	"testing"
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
