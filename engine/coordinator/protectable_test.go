package coordinator_test

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
)

// TestProtectabilityByState: discovery leaves database snapshots out;
// databases offline, restoring, recovering, recovery pending, suspect, in
// emergency, in standby or secondary in an availability group cannot be
// protected, each with its code and reason; a read-only database is
// protected for full and copy-only full backups only.
func TestProtectabilityByState(t *testing.T) {
	s := newStack(t)
	s.sim.Close()
	cfg := s.env.SimConfig(saPW)
	cfg.AGSecondaries = []string{"Replica"}
	s.sim = s.env.StartSim(cfg)
	s.sql.Close()
	s.sql = s.connect()

	for _, q := range []string{"CREATE DATABASE Sales", "CREATE DATABASE Archive", "ALTER DATABASE Archive SET READ_ONLY",
		"CREATE DATABASE Off", "ALTER DATABASE Off SET OFFLINE", "CREATE DATABASE Emerg", "ALTER DATABASE Emerg SET EMERGENCY",
		"CREATE DATABASE Sus", "CREATE DATABASE Pend", "CREATE DATABASE Rest", "CREATE DATABASE Recov", "CREATE DATABASE Replica",
		"CREATE DATABASE Sales_snap ON (NAME = Sales, FILENAME = '/var/opt/mssql/data/Sales_snap.ss') AS SNAPSHOT OF Sales"} {
		s.exec(q)
	}
	for name, st := range map[string]string{"Sus": "SUSPECT", "Pend": "RECOVERY_PENDING", "Rest": "RESTORING", "Recov": "RECOVERING"} {
		if err := s.sim.SetDatabaseState(name, st); err != nil {
			t.Fatal(err)
		}
	}
	// Standby: Sales restored under another name WITH STANDBY.
	s.exec("CREATE CREDENTIAL [" + s.env.Device.ContainerURL("standby") + "] WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = '" +
		strings.TrimPrefix(s.env.Device.IssueSAS("standby", "rw", time.Hour), "?") + "'")
	url := s.env.Device.BlobURL("standby", "sales.bak")
	s.exec("BACKUP DATABASE Sales TO URL = N'" + url + "'")
	s.exec("RESTORE DATABASE Standby FROM URL = N'" + url + "' WITH STANDBY = N'/var/opt/mssql/data/standby.tuf', " +
		"MOVE N'Sales' TO N'/var/opt/mssql/data/Standby.mdf', MOVE N'Sales_log' TO N'/var/opt/mssql/data/Standby_log.ldf'")

	srv := s.register("sa", saPW)
	dbs, err := s.db.ListDatabases(s.ctx, srv.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dbs {
		if d.Name == "Sales_snap" {
			t.Errorf("the snapshot is listed: %+v", d)
		}
	}
	pol := s.policy()
	for _, c := range []struct {
		name, reason string
		code         engine.Code
	}{
		{"Off", "offline", engine.CodeDatabaseNotOnline},
		{"Emerg", "emergency", engine.CodeDatabaseNotOnline},
		{"Sus", "suspect", engine.CodeDatabaseNotOnline},
		{"Pend", "recovery pending", engine.CodeDatabaseNotOnline},
		{"Rest", "restoring", engine.CodeDatabaseNotOnline},
		{"Recov", "recovering", engine.CodeDatabaseNotOnline},
		{"Standby", "standby", engine.CodeDatabaseInStandby},
		{"Replica", "availability group secondary: its group is not discovered yet", engine.CodeAGSecondary},
	} {
		d := s.database(srv.ID, c.name)
		pr := coordinator.ProtectabilityOf(d)
		if pr.Protectable() || pr.Code != c.code || !strings.Contains(pr.Reason, c.reason) {
			t.Errorf("%s (%s): %+v", c.name, d.State, pr)
		}
		_, _, err := s.coord.Protect(s.ctx, d.ID, pol.ID)
		if engine.CodeOf(err) != c.code || !strings.Contains(engine.MessageOf(err), c.reason) {
			t.Errorf("protect %s: %v", c.name, err)
		}
	}

	// Read-only: protected; its first full runs, a log or a differential
	// is refused, a copy-only full runs.
	archive := s.database(srv.ID, "Archive")
	if pr := coordinator.ProtectabilityOf(archive); !pr.Allows("full") || !pr.Allows("copy_only_full") || pr.Allows("log") || pr.Allows("differential") {
		t.Errorf("read-only Archive: %+v", pr)
	}
	it, job, err := s.coord.Protect(s.ctx, archive.ID, pol.ID)
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	if !strings.Contains(it.Note, "read-only") {
		t.Errorf("Archive's item note: %q", it.Note)
	}
	for _, kind := range []string{"log", "differential"} {
		if _, err := s.coord.BackupNow(s.ctx, it.ID, kind, 0); engine.CodeOf(err) != engine.CodeReadOnlyBackupType {
			t.Errorf("%s backup of read-only Archive: %v", kind, err)
		}
	}
	job, err = s.coord.BackupNow(s.ctx, it.ID, "copy_only_full", 0)
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)

	// Sales itself is protectable for every kind.
	if pr := coordinator.ProtectabilityOf(s.database(srv.ID, "Sales")); len(pr.Kinds) != 4 || pr.Reason != "" {
		t.Errorf("Sales: %+v", pr)
	}

	// Auto-protection takes the new databases it can protect and leaves
	// the others as discovered.
	if err := s.coord.SetAutoProtect(s.ctx, srv.ID, &pol.ID); err != nil {
		t.Fatal(err)
	}
	s.exec("CREATE DATABASE Later; CREATE DATABASE LaterOff; ALTER DATABASE LaterOff SET OFFLINE")
	job, err = s.coord.Rediscover(s.ctx, srv.ID)
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	if d := s.database(srv.ID, "Later"); d.ItemID == nil {
		t.Errorf("Later was not auto-protected: %+v", d)
	}
	if d := s.database(srv.ID, "LaterOff"); d.ItemID != nil {
		t.Errorf("offline LaterOff was auto-protected: %+v", d)
	}
}

// connect opens sa's connection to the stack's instance.
func (s *stack) connect() *sql.DB {
	s.t.Helper()
	conn, err := sql.Open("sqlserver", fmt.Sprintf("sqlserver://sa:%s@127.0.0.1:%d?encrypt=disable", saPW, s.sim.Port()))
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { conn.Close() })
	return conn
}
