package sqlsim

import (
	"context"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tsql runs a batch through FreeTDS's tsql at a TDS version and
// encryption setting. Without tsql the test skips, unless CI is set
// (.ci/run installs freetds-bin).
func tsql(t *testing.T, s *sim, version, encryption, batch string) string {
	t.Helper()
	path, err := osexec.LookPath("tsql")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tsql (Debian package freetds-bin) is required when CI is set")
		}
		t.Skip("tsql not installed: apt-get install -y freetds-bin runs the FreeTDS matrix")
	}
	dir := t.TempDir()
	conf := fmt.Sprintf("[sqlsim]\n\thost = 127.0.0.1\n\tport = %d\n\ttds version = %s\n\tencryption = %s\n", s.Port(), version, encryption)
	if err := os.WriteFile(filepath.Join(dir, "freetds.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := osexec.CommandContext(ctx, path, "-S", "sqlsim", "-U", "sa", "-P", "Sa-Passw0rd!")
	cmd.Env = append(os.Environ(), "FREETDSCONF="+filepath.Join(dir, "freetds.conf"), "HOME="+dir, "TDSDUMP=")
	cmd.Stdin = strings.NewReader(batch + "\ngo\nexit\n")
	out, _ := cmd.CombinedOutput()
	return string(out)
}

// TestFreeTDSMatrix drives sqlsim with FreeTDS tsql (C, GnuTLS) at each
// TDS version it speaks, in plaintext and over TLS. Each expectation
// names what it follows:
//   - types: learn.microsoft.com/sql/t-sql/data-types/constants-transact-sql
//     (1.5 is decimal, 1.5e10 float, 0x binary), decimal-and-numeric
//     (precision and scale kept), char-and-varchar (char pads);
//   - before TDS 7.3, date/datetime2/datetimeoffset as nvarchar literals:
//     learn.microsoft.com/previous-versions/SQL/SQL-server-2008-r2/bb677302(v=sql.105);
//   - PRINT (message 0) and RAISERROR (50000, severity, state, line):
//     .../t-sql/language-elements/print-transact-sql, raiserror-transact-sql;
//   - a batch is compiled first: .../t-sql/language-elements/batches;
//   - BEGIN TRAN, @@TRANCOUNT, ROLLBACK: .../begin-transaction-transact-sql.
func TestFreeTDSMatrix(t *testing.T) {
	var cols, lits []string
	for i, c := range everyType {
		cols = append(cols, fmt.Sprintf("c%d %s", i, c.typ))
		lits = append(lits, c.literal)
	}
	setup := "CREATE DATABASE M\ngo\nUSE M\ngo\nCREATE TABLE t (" + strings.Join(cols, ", ") + ")\ngo\nINSERT INTO t VALUES (" + strings.Join(lits, ", ") + ")\ngo\n"
	batch := setup + "SELECT * FROM t\ngo\n" +
		"PRINT 'hello'\nRAISERROR('r %s %d', 11, 3, 'x', 5)\nSELECT 1 AS a\nSELECT 2 AS b\ngo\n" +
		"SELECT 10 AS ran\nSELEC 2\ngo\n" +
		"BEGIN TRAN\nDELETE FROM t\nSELECT @@TRANCOUNT AS trancount\nSELECT COUNT(*) AS inside FROM t\nROLLBACK\nSELECT COUNT(*) AS after FROM t\ngo\n" +
		"SELECT CAST(12345678901234.5678 AS decimal(18,4)) AS d, 1.5e10 AS f, 0x0A AS b, -1.25 + 0.5 AS s\ngo\n" +
		"SELECT CAST(SQL_VARIANT_PROPERTY('abc', 'BaseType') AS nvarchar(128)) AS bt, DATALENGTH('abc') AS dl, DATALENGTH(N'abc') AS dn"
	common := []string{
		"-2147483648\t9223372036854775807\t-32768\t255\t1\t15000000000\t12345678901234.5678\t1.50\t-922337203685477.5808\t",
		"6F9619FF-8B86-D011-B42D-00C04FC964FF\t00ff10\tplain\tab \théllo\té \t",
		"\t3.25\tMay  1 2026 12:35PM\t0a0b0000\t-5.5000\n", // real, smalldatetime (rounded), binary(4) (padded), smallmoney
		"hello\n", "Msg 50000 (severity 11, state 3) from SQLSIM Line 2:\n\t\"r x 5\"",
		"a\n1\n(1 row affected)\nb\n2\n",
		"Msg 102 (severity 15, state 1) from SQLSIM Line 2:\n\t\"Incorrect syntax near 'SELEC'.\"",
		"trancount\n1\n", "inside\n0\n", "after\n1\n",
		"12345678901234.5678\t15000000000\t0a\t-0.75\n",
		"bt\tdl\tdn\nvarchar\t3\t6\n", // 'abc' is varchar: .../constants-transact-sql
	}
	for _, tc := range []struct {
		version, encryption string
		tls                 bool
		want                []string
	}{
		{"7.1", "off", false, []string{"2026-05-01 12:34:56.123\t2026-05-01 12:34:56.0000000 +02:00\t2026-05-01\t", "\t12:34:56.123\t"}},
		{"7.2", "off", false, []string{"2026-05-01 12:34:56.123\t2026-05-01 12:34:56.0000000 +02:00\t2026-05-01\t", "\t12:34:56.123\t"}},
		{"7.3", "off", false, []string{"May  1 2026 12:34PM\tMay  1 2026 12:00AM", "\tJan  1 1900 12:34PM\t"}},
		{"7.4", "off", false, nil},
		{"7.4", "require", true, nil},
	} {
		t.Run(tc.version+"_"+tc.encryption, func(t *testing.T) {
			s := startSimWith(t, "", func(c *Config) { c.TLS = tc.tls })
			out := tsql(t, s, tc.version, tc.encryption, batch)
			for _, want := range append(common, tc.want...) {
				if !strings.Contains(out, want) {
					t.Errorf("tsql output lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "ran\n10") {
				t.Errorf("a batch with a syntax error ran its first statement:\n%s", out)
			}
		})
	}
}

// TestFreeTDSOldVersionRefused: TDS 7.0 is older than sqlsim (or SQL
// Server 2012 and later) speaks; the login is refused, not half-answered.
func TestFreeTDSOldVersionRefused(t *testing.T) {
	s := startSim(t, "")
	out := tsql(t, s, "7.0", "off", "SELECT 1")
	if !strings.Contains(out, "TDS version 0x70000000 is not supported") {
		t.Fatalf("tsql at TDS 7.0:\n%s", out)
	}
}

// TestFreeTDSStateSurvivesRestart: a row of every type inserted through
// FreeTDS tsql as literals reads back the same through tsql after sqlsim
// restarts on the same data directory, as the demo's instances do.
func TestFreeTDSStateSurvivesRestart(t *testing.T) {
	var cols, lits []string
	for i, c := range everyType {
		cols = append(cols, fmt.Sprintf("c%d %s", i, c.typ))
		lits = append(lits, c.literal)
	}
	dir := t.TempDir()
	s := startSim(t, dir)
	out := tsql(t, s, "7.4", "off", "CREATE DATABASE R\ngo\nCREATE TABLE R.dbo.t ("+strings.Join(cols, ", ")+")\ngo\n"+
		"INSERT INTO R.dbo.t VALUES ("+strings.Join(lits, ", ")+")")
	if strings.Contains(out, "Msg ") {
		t.Fatalf("setup through tsql:\n%s", out)
	}
	before := tsql(t, s, "7.4", "off", "SELECT * FROM R.dbo.t")
	s.Close()
	s = startSim(t, dir)
	after := tsql(t, s, "7.4", "off", "SELECT * FROM R.dbo.t")
	for _, want := range []string{
		"-2147483648\t9223372036854775807\t-32768\t255\t1\t15000000000\t12345678901234.5678\t1.50\t-922337203685477.5808\t",
		"6F9619FF-8B86-D011-B42D-00C04FC964FF\t00ff10\tplain\tab \théllo\té \t",
		"\t3.25\tMay  1 2026 12:35PM\t0a0b0000\t-5.5000\n",
	} {
		if !strings.Contains(after, want) {
			t.Errorf("after restart tsql lacks %q:\n%s", want, after)
		}
	}
	if before != after {
		t.Errorf("tsql read before the restart:\n%s\nand after:\n%s", before, after)
	}
}
