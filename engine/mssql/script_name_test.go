package mssql

import (
	"strings"
	"testing"
)

// The script a person downloads shows examples with the name it was saved
// under, and refuses to run unelevated before doing anything.
func TestPermissionScriptNamesItsFileAndNeedsElevation(t *testing.T) {
	name := ScriptFileName(`SQL02\PROD`, false)
	if name != "sqlvault-permissions-SQL02_PROD.ps1" {
		t.Fatalf("file name = %q", name)
	}
	ps := PermissionScript(ScriptOptions{Login: "svc", ServerName: `SQL02\PROD`, FileName: name})
	if !strings.HasPrefix(ps, "#Requires -RunAsAdministrator\n") {
		t.Errorf("script does not start with #Requires -RunAsAdministrator:\n%.200s", ps)
	}
	for _, want := range []string{`.\` + name + "\n", `.\` + name + " -InstanceName SQLEXPRESS"} {
		if !strings.Contains(ps, want) {
			t.Errorf("script lacks the example %q", want)
		}
	}
	sh := LinuxPermissionScript(ScriptOptions{Login: "svc", ServerName: "SQL03", FileName: ScriptFileName("SQL03", true)})
	if !strings.Contains(sh, "sh sqlvault-permissions-SQL03.sh\n") {
		t.Errorf("Linux script's example does not name its file:\n%.400s", sh)
	}
	if !strings.Contains(PermissionScript(ScriptOptions{FileName: `x"; rm`}), `.\sqlvault-permissions.ps1`) {
		t.Error("an unsafe file name reaches the script")
	}
}
