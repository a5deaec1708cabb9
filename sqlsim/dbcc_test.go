package sqlsim

import (
	"testing"
)

// TestCheckDBAndDamagedPage: DBCC CHECKDB WITH NO_INFOMSGS of a sound
// database answers no error; sys.partitions counts each table's rows;
// with the damaged-page fault CHECKDB fails with 8939 and 8928, a backup
// carries the page: RESTORE VERIFYONLY ... WITH CHECKSUM and RESTORE ...
// WITH CHECKSUM fail with 3183, VERIFYONLY without CHECKSUM passes, and a
// copy restored without it fails CHECKDB the same way.
func TestCheckDBAndDamagedPage(t *testing.T) {
	s, db := setupBackups(t)
	for i := range 3 {
		exec(t, db, "INSERT INTO Sales.dbo.orders (id, note) VALUES (@p1, N'x')", i)
	}
	exec(t, db, "DBCC CHECKDB (N'Sales') WITH NO_INFOMSGS, ALL_ERRORMSGS")
	n := count(t, db, "SELECT p.rows FROM Sales.sys.tables t JOIN Sales.sys.partitions p ON p.object_id = t.object_id WHERE t.name = 'orders' AND p.index_id IN (0, 1)")
	if n != 3 {
		t.Fatalf("sys.partitions rows = %d, want 3", n)
	}

	s.SetFault(Fault{CorruptPages: []string{"Sales"}})
	_, err := db.Exec("DBCC CHECKDB (N'Sales') WITH NO_INFOMSGS, ALL_ERRORMSGS")
	if !hasNumber(err, 8928) || !hasNumber(err, 8939) {
		t.Fatalf("CHECKDB of a damaged database: %v (%v)", err, numbers(err))
	}
	url := container + "/sales.bak"
	exec(t, db, "BACKUP DATABASE Sales TO URL = N'"+url+"' WITH CHECKSUM")
	s.SetFault(Fault{})
	if _, err := db.Exec("RESTORE VERIFYONLY FROM URL = N'" + url + "' WITH CHECKSUM"); !hasNumber(err, 3183) {
		t.Fatalf("VERIFYONLY WITH CHECKSUM of a damaged backup: %v", err)
	}
	exec(t, db, "RESTORE VERIFYONLY FROM URL = N'"+url+"'")
	if _, err := db.Exec("RESTORE DATABASE Copy FROM URL = N'" + url + "' WITH CHECKSUM, MOVE 'Sales' TO '/d/c.mdf', MOVE 'Sales_log' TO '/d/c.ldf'"); !hasNumber(err, 3183) {
		t.Fatalf("RESTORE WITH CHECKSUM of a damaged backup: %v", err)
	}
	exec(t, db, "RESTORE DATABASE Copy FROM URL = N'"+url+"' WITH MOVE 'Sales' TO '/d/c.mdf', MOVE 'Sales_log' TO '/d/c.ldf'")
	if _, err := db.Exec("DBCC CHECKDB (N'Copy') WITH NO_INFOMSGS"); !hasNumber(err, 8928) {
		t.Fatalf("CHECKDB of the restored copy: %v", err)
	}
	if _, err := db.Exec("DBCC CHECKDB (N'Nope') WITH NO_INFOMSGS"); !hasNumber(err, 2520) {
		t.Fatalf("CHECKDB of no database: %v", err)
	}
}
