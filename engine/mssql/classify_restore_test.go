package mssql

import (
	"strings"
	"testing"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/sqlvault/sqlvault/engine"
)

// SQL Server's 3284, as the troubleshooting page quotes it, becomes
// UserErrorRestoreBlockSizeMismatch naming the block size it proposes.
func TestRestoreBlockSizeErrorIsNamed(t *testing.T) {
	text := "Filemark on device 'https://d/c/x.bak' is not aligned. Reissue the Restore statement with the same block size used to create the backupset: '65536' looks like a possible value."
	err := mssql.Error{Number: 3284, State: 5, Class: 16, Message: text,
		All: []mssql.Error{{Number: 3284, State: 5, Class: 16, Message: text}, {Number: 3013, Message: "RESTORE DATABASE is terminating abnormally."}}}
	got := classifyRestore(err, RestoreRequest{Database: "S"})
	if engine.CodeOf(got) != engine.CodeRestoreBlockSizeMismatch || !strings.Contains(engine.MessageOf(got), "SQL Server suggests 65536") {
		t.Fatalf("3284 classified as %v", got)
	}
}
