package mssql

import (
	"strings"
	"testing"
)

func TestPermissionScriptInstanceDefault(t *testing.T) {
	s := PermissionScript(ScriptOptions{Login: "svc", InstanceName: "SQL$EXP`\"2"})
	if want := "[string]$InstanceName = \"SQL`$EXP```\"2\","; !strings.Contains(s, want) {
		t.Errorf("script lacks %s:\n%.600s", want, s)
	}
}
