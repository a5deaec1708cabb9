package mssql_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/enginetest"
	"github.com/sqlvault/sqlvault/engine/mssql"
	"github.com/sqlvault/sqlvault/sqlsim"
)

// TestVersionGate: an instance older than SQL Server 2016 is refused with
// UserErrorSQLVersionUnsupported and an action naming what it lacks;
// 2016, 2019 and 2022 are accepted.
func TestVersionGate(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		version string
		refused bool
	}{{"12.0.6024.0", true}, {"13.0.6300.2", false}, {"15.0.4355.3", false}, {"16.0.4145.4", false}} {
		in, err := sqlsim.Start(ctx, sqlsim.Config{SAPassword: "Sa-Passw0rd!", ProductVersion: c.version})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { in.Close() })
		conn, err := mssql.Connect(ctx, enginetest.Target(in, "sa", "Sa-Passw0rd!"))
		if err != nil {
			t.Fatal(err)
		}
		info, err := conn.Instance(ctx)
		conn.Close()
		if !c.refused {
			if err != nil || info.Version != c.version {
				t.Errorf("%s: instance %+v, %v", c.version, info, err)
			}
			continue
		}
		var e *engine.Error
		if engine.CodeOf(err) != engine.CodeSQLVersionUnsupported || !strings.Contains(engine.MessageOf(err), c.version) {
			t.Fatalf("%s: %v, want %s naming the version", c.version, err, engine.CodeSQLVersionUnsupported)
		}
		if !errors.As(err, &e) || !strings.Contains(e.Action(), "2016") || !strings.Contains(e.Action(), "shared access signature") {
			t.Errorf("action %q does not name what is missing", e.Action())
		}
	}
}
