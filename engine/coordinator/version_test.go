package coordinator_test

import (
	"fmt"
	"testing"

	"github.com/sqlvault/sqlvault/engine"
)

// TestRediscoverRefusesSQLServer2014: a registered server whose address
// now answers as SQL Server 2014 (12.0) fails its rediscovery with
// UserErrorSQLVersionUnsupported, which the server's status shows.
func TestRediscoverRefusesSQLServer2014(t *testing.T) {
	s := newStack(t)
	srv := s.register("sa", saPW)
	if got, _ := s.db.ServerByID(s.ctx, srv.ID); got.StatusCode != "" {
		t.Fatalf("server on 2022 = %+v", got)
	}
	port := s.sim.Port()
	s.sim.Close()
	cfg := s.env.SimConfig(saPW)
	cfg.Addr, cfg.ProductVersion = fmt.Sprintf("127.0.0.1:%d", port), "12.0.6024.0"
	s.env.StartSim(cfg)

	job, err := s.coord.Rediscover(s.ctx, srv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j := s.wait(job); j.ErrorCode != string(engine.CodeSQLVersionUnsupported) {
		t.Fatalf("rediscovery = %s %s %s, want %s", j.Status, j.ErrorCode, j.ErrorMessage, engine.CodeSQLVersionUnsupported)
	}
	if got, _ := s.db.ServerByID(s.ctx, srv.ID); got.StatusCode != string(engine.CodeSQLVersionUnsupported) {
		t.Fatalf("server status = %+v", got)
	}
}
