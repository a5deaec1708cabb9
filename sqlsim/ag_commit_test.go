package sqlsim

import (
	"path/filepath"
	"testing"
)

// TestAGSynchronousCommitAcrossProcesses: with the primary and a
// synchronous-commit secondary in separate processes (and an
// asynchronous-commit one, shown as such on the primary), a row the primary
// has confirmed is on the secondary when the INSERT returns: the primary
// is killed right after it (SIGKILL, no goodbye) and the secondary holds
// the row. Heartbeats are 15 s apart here, so none can carry the row in
// between: only the push before the batch's DONE does.
func TestAGSynchronousCommitAcrossProcesses(t *testing.T) {
	files := t.TempDir()
	slow := []string{"--ag-health-timeout", "60s"}
	a := startAGProc(t, "SQL1", t.TempDir(), append(slow, "--ag-role", "primary")...)
	for _, q := range []string{"CREATE DATABASE Sales", "CREATE TABLE Sales.dbo.orders (id int)",
		"BACKUP DATABASE Sales TO DISK = N'" + filepath.Join(files, "full.bak") + "'",
		"ALTER AVAILABILITY GROUP [ag1] ADD DATABASE [Sales]"} {
		exec(t, a.db, q)
	}
	b := startAGProc(t, "SQL2", t.TempDir(), append(slow, "--ag-role", "secondary", "--ag-peer", a.peer)...)
	if n := count(t, b.db, salesOrders); n != 0 {
		t.Fatalf("SQL2 holds %d orders before any INSERT", n)
	}
	startAGProc(t, "SQL3", t.TempDir(), append(slow, "--ag-role", "secondary", "--ag-peer", a.peer,
		"--ag-availability-mode", "asynchronous_commit")...)
	modes := "SELECT COUNT(*) FROM sys.availability_replicas WHERE (replica_server_name = N'SQL3' AND availability_mode_desc = N'ASYNCHRONOUS_COMMIT' AND failover_mode_desc = N'MANUAL') OR (replica_server_name IN (N'SQL1', N'SQL2') AND availability_mode_desc = N'SYNCHRONOUS_COMMIT')"
	if n := count(t, a.db, modes); n != 3 {
		t.Errorf("the primary shows %d of the 3 replicas with their availability mode", n)
	}
	states := "SELECT COUNT(*) FROM sys.dm_hadr_database_replica_states s JOIN sys.availability_replicas r ON r.replica_id = s.replica_id WHERE (r.replica_server_name = N'SQL3' AND s.synchronization_state_desc = N'SYNCHRONIZING' AND s.is_commit_participant = 0) OR (r.replica_server_name = N'SQL2' AND s.synchronization_state_desc = N'SYNCHRONIZED' AND s.is_commit_participant = 1)"
	if n := count(t, a.db, states); n != 2 {
		t.Errorf("the primary shows %d of the 2 expected secondary states (SQL2 synchronized, SQL3 asynchronous: synchronizing)", n)
	}
	exec(t, a.db, "INSERT INTO Sales.dbo.orders (id) VALUES (1), (2)")
	exec(t, a.db, "INSERT INTO Sales.dbo.orders (id) VALUES (3)")
	a.kill()
	if n := count(t, b.db, salesOrders); n != 3 {
		t.Fatalf("the synchronous secondary holds %d orders once the primary confirmed 3 and died, want 3", n)
	}
}
