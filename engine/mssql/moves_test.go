package mssql

import (
	"strings"
	"testing"
)

// TestMovesForEveryFileType: data, log, FILESTREAM and memory-optimized
// containers (S) and full-text catalogs (F) each get their own path, even
// when logical names differ only in characters a file name cannot hold.
func TestMovesForEveryFileType(t *testing.T) {
	files := []File{{"Docs", "", "D"}, {"Docs2", "", "D"}, {"fs:1", "", "S"}, {"fs/1", "", "S"}, {"Mem", "", "S"},
		{"ft", "", "F"}, {"Docs_log", "", "L"}, {"Docs_log2", "", "L"}}
	got := MovesFor(files, "Docs copy", `D:\Data\`, `E:\Log\`)
	want := []string{`D:\Data\Docs copy.mdf`, `D:\Data\Docs copy_2.ndf`, `D:\Data\Docs copy_fs_1`, `D:\Data\Docs copy_fs_1_2`,
		`D:\Data\Docs copy_Mem`, `D:\Data\Docs copy_ft`, `E:\Log\Docs copy_log.ldf`, `E:\Log\Docs copy_log_2.ldf`}
	seen := map[string]bool{}
	for i, m := range got {
		if m.LogicalName != files[i].LogicalName || m.PhysicalName != want[i] {
			t.Errorf("move %d = %+v, want %s to %s", i, m, files[i].LogicalName, want[i])
		}
		if seen[strings.ToLower(m.PhysicalName)] {
			t.Errorf("%s is used twice", m.PhysicalName)
		}
		seen[strings.ToLower(m.PhysicalName)] = true
	}
}

// TestStandbyStatement: the last link of a standby restore says STANDBY
// with an undo file in the default log folder, never RECOVERY as well
// (RESTORE Arguments: STANDBY and RECOVERY exclude each other).
func TestStandbyStatement(t *testing.T) {
	undo := StandbyFileFor("Sales:copy", `E:\Log\`)
	r := RestoreRequest{Database: "Sales:copy", Log: true, URLs: []string{"u"}, Recovery: true, StandbyFile: undo}
	got := r.statement(0)
	want := `RESTORE LOG [Sales:copy] FROM URL = N'u' WITH STATS = 5, BLOCKSIZE = 65536, STANDBY = N'E:\Log\Sales_copy_undo.tuf'`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
