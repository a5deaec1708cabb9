package tedious

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// tdsType is one column of the type table: its declared type, a literal,
// the same value as a tedious parameter, and what tedious reads back at
// TDS 7.3 and later (useUTC) and, for the date types, before 7.3.
type tdsType struct {
	sql, literal string
	param        param
	want, want72 string
	wire, wire72 string // tedious's name of the TDS type received
	param72      string // the parameter row before 7.3, when it differs
}

// types: values per learn.microsoft.com/sql/t-sql/data-types/data-types-transact-sql;
// literal typing per .../constants-transact-sql; down-level date types per
// learn.microsoft.com/previous-versions/SQL/SQL-server-2008-r2/bb677302(v=sql.105).
var types = []tdsType{
	{"int", "-2147483648", param{Type: "Int", Value: -2147483648}, "-2147483648", "", "IntN", "", ""},
	{"bigint", "9007199254740991", param{Type: "BigInt", Value: "9007199254740991"}, "9007199254740991", "", "IntN", "", ""},
	{"smallint", "-32768", param{Type: "SmallInt", Value: -32768}, "-32768", "", "IntN", "", ""},
	{"tinyint", "255", param{Type: "TinyInt", Value: 255}, "255", "", "IntN", "", ""},
	{"bit", "1", param{Type: "Bit", Value: true}, "true", "", "BitN", "", ""},
	{"float", "1.5e10", param{Type: "Float", Value: 1.5e10}, "15000000000", "", "FloatN", "", ""},
	{"decimal(18,4)", "1234.5678", param{Type: "Decimal", Value: 1234.5678, Options: map[string]int{"precision": 18, "scale": 4}}, "1234.5678", "", "DecimalN", "", ""},
	{"numeric(10,2)", "1.5", param{Type: "Numeric", Value: 1.5, Options: map[string]int{"precision": 10, "scale": 2}}, "1.5", "", "NumericN", "", ""},
	{"datetime", "'2026-05-01 12:34:56.997'", param{Type: "DateTime", Value: "2026-05-01T12:34:56.997Z"}, "2026-05-01T12:34:56.997Z", "", "DateTimeN", "", ""},
	{"datetime2(3)", "'2026-05-01 12:34:56.123'", param{Type: "DateTime2", Value: "2026-05-01T12:34:56.123Z", Options: map[string]int{"scale": 3}},
		"2026-05-01T12:34:56.123Z", "2026-05-01 12:34:56.123", "DateTime2", "NVarChar", ""},
	{"datetimeoffset", "'2026-05-01 12:34:56 +02:00'", param{Type: "DateTimeOffset", Value: "2026-05-01T10:34:56Z"},
		"2026-05-01T10:34:56.000Z", "2026-05-01 12:34:56.0000000 +02:00", "DateTimeOffset", "NVarChar",
		"2026-05-01 10:34:56.0000000 +00:00"}, // a JavaScript Date has no offset: tedious sends UTC
	{"date", "'2026-05-01'", param{Type: "Date", Value: "2026-05-01T00:00:00Z"}, "2026-05-01T00:00:00.000Z", "2026-05-01", "Date", "NVarChar", ""},
	{"uniqueidentifier", "'6F9619FF-8B86-D011-B42D-00C04FC964FF'", param{Type: "UniqueIdentifier", Value: "6F9619FF-8B86-D011-B42D-00C04FC964FF"},
		"6F9619FF-8B86-D011-B42D-00C04FC964FF", "", "UniqueIdentifier", "", ""},
	{"varbinary(16)", "0x00FF10", param{Type: "VarBinary", Value: nil}, "0x00ff10", "", "VarBinary", "", ""},
	{"varchar(20)", "'plain'", param{Type: "VarChar", Value: "plain"}, "plain", "", "VarChar", "", ""},
	{"char(3)", "'ab'", param{Type: "Char", Value: "ab"}, "ab ", "", "Char", "", ""},
	{"nvarchar(20)", "N'héllo'", param{Type: "NVarChar", Value: "héllo"}, "héllo", "", "NVarChar", "", ""},
	{"nchar(2)", "N'é'", param{Type: "NChar", Value: "é"}, "é ", "", "NChar", "", ""},
	{"money", "12.34", param{Type: "Money", Value: 12.34}, "12.34", "", "MoneyN", "", ""},
	{"smallmoney", "-5.5", param{Type: "SmallMoney", Value: -5.5}, "-5.5", "", "MoneyN", "", ""},
	{"time(3)", "'12:34:56.123'", param{Type: "Time", Value: "1970-01-01T12:34:56.123Z", Options: map[string]int{"scale": 3}},
		"1970-01-01T12:34:56.123Z", "12:34:56.123", "Time", "NVarChar", ""},
	{"real", "3.25", param{Type: "Real", Value: 3.25}, "3.25", "", "FloatN", "", ""},
	{"smalldatetime", "'2026-05-01 12:34:56'", param{Type: "SmallDateTime", Value: "2026-05-01T12:35:00Z"}, // the literal rounds to the minute
		"2026-05-01T12:35:00.000Z", "", "DateTimeN", "", ""},
	{"binary(4)", "0x0A0B", param{Type: "Binary", Value: nil}, "0x0a0b0000", "", "Binary", "", ""}, // padded with zeros
}

// bytesOnly: JSON has no bytes, so the literal row alone covers these.
func bytesOnly(p param) bool { return p.Type == "VarBinary" || p.Type == "Binary" }

func setupBatches() []batch {
	var cols, lits, names []string
	var ps []param
	for i, c := range types {
		cols = append(cols, fmt.Sprintf("c%d %s", i, c.sql))
		lits = append(lits, c.literal)
		p := c.param
		p.Name = fmt.Sprintf("p%d", i)
		names = append(names, "@"+p.Name)
		if bytesOnly(p) {
			continue
		}
		ps = append(ps, p)
	}
	for i, c := range types {
		if bytesOnly(c.param) {
			names[i] = c.literal
		}
	}
	return []batch{
		{SQL: "CREATE DATABASE T; CREATE TABLE T.dbo.t (k int, " + strings.Join(cols, ", ") + ")"},
		{SQL: "INSERT INTO T.dbo.t VALUES (1, " + strings.Join(lits, ", ") + ")"},
		{SQL: "INSERT INTO T.dbo.t VALUES (2, " + strings.Join(names, ", ") + ")", Params: ps},
	}
}

// TestTediousMatrix: tedious logs in at TDS 7.1 to 7.4 in plaintext, 7.4
// over TLS and TDS 8.0 strict ([MS-TDS] 2.2.6.4 LOGIN7 TDSVersion,
// 2.2.6.5 PRELOGIN ENCRYPTION; learn.microsoft.com/sql/relational-databases/security/networking/tds-8),
// and reads the literal row and the parameter row back exactly, each
// column in SQL Server's type with its precision and scale.
func TestTediousMatrix(t *testing.T) {
	in := start(t)
	read := []batch{{SQL: "SELECT * FROM T.dbo.t ORDER BY k"}}
	cases := []tcase{{Name: "setup", TDSVersion: "7_4", Encrypt: false, Batches: setupBatches()}}
	logins := []struct {
		version string
		encrypt any
	}{{"7_1", false}, {"7_2", false}, {"7_3_A", false}, {"7_3_B", false}, {"7_4", false}, {"7_4", true}, {"7_4", "strict"}}
	for _, l := range logins {
		cases = append(cases, tcase{Name: fmt.Sprintf("%s_%v", l.version, l.encrypt), TDSVersion: l.version, Encrypt: l.encrypt, Batches: read})
	}
	got := run(t, in, cases)
	for _, e := range got["setup"] {
		if e.Error != nil {
			t.Fatalf("setup: %+v", *e.Error)
		}
	}
	for _, l := range logins {
		name := fmt.Sprintf("%s_%v", l.version, l.encrypt)
		checkTypeRows(t, name, got[name], l.version < "7_3")
	}
}

// checkTypeRows judges the literal row and the parameter row of the type
// table as tedious read them (old: a client before TDS 7.3).
func checkTypeRows(t *testing.T, name string, evs []event, old bool) {
	t.Helper()
	var cols []column
	for _, e := range evs {
		if e.Columns != nil {
			cols = e.Columns
		}
	}
	rs := rows(evs)
	if len(rs) != 2 || len(cols) != len(types)+1 {
		t.Errorf("%s: %d rows, %d columns: %+v", name, len(rs), len(cols), evs)
		return
	}
	for i, c := range types {
		want, wire := c.want, c.wire
		if old && c.want72 != "" {
			want, wire = c.want72, c.wire72
		}
		if cols[i+1].Type != wire {
			t.Errorf("%s %s: tedious received %s, want %s", name, c.sql, cols[i+1].Type, wire)
		}
		for k, r := range rs {
			if k == 1 && old && c.param72 != "" {
				want = c.param72
			}
			if r[i+1] != want && !(k == 1 && bytesOnly(c.param)) {
				t.Errorf("%s %s row %d: %q, want %q", name, c.sql, k+1, r[i+1], want)
			}
		}
	}
	if p, s := cols[7].Precision, cols[7].Scale; p != 18 || s != 4 {
		t.Errorf("%s: decimal(18,4) column described as (%d,%d)", name, p, s)
	}
	for i, c := range types { // real is FLTN 4, smalldatetime DATETIMN 4 ([MS-TDS] 2.2.5.4.1)
		if (c.sql == "real" || c.sql == "smalldatetime") && cols[i+1].Length != 4 {
			t.Errorf("%s: %s column of %d bytes, want 4", name, c.sql, cols[i+1].Length)
		}
	}
}

// TestTediousStateSurvivesRestart: what tedious inserts, every type as a
// literal and as a parameter, tedious reads back exactly after sqlsim
// restarts on the same data directory, as the demo's instances do.
func TestTediousStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	in := startIn(t, dir)
	for _, e := range run(t, in, []tcase{{Name: "setup", TDSVersion: "7_4", Encrypt: false, Batches: setupBatches()}})["setup"] {
		if e.Error != nil {
			t.Fatalf("setup: %+v", *e.Error)
		}
	}
	in.Close()
	in = startIn(t, dir)
	got := run(t, in, []tcase{{Name: "after", TDSVersion: "7_4", Encrypt: false, Batches: []batch{{SQL: "SELECT * FROM T.dbo.t ORDER BY k"}}}})
	checkTypeRows(t, "after restart", got["after"], false)
}

// TestTediousBatches: messages, errors, line numbers, result sets,
// transactions and cancel as tedious sees them. Sources:
// learn.microsoft.com/sql/t-sql/language-elements/batches (compiled
// first), print-transact-sql (message 0), raiserror-transact-sql
// (50000, severity, state), begin-transaction-transact-sql and
// rollback-transaction-transact-sql, [MS-TDS] 2.2.6.9 (transaction manager
// requests), 2.2.1.7 (attention: cancel).
func TestTediousBatches(t *testing.T) {
	in := start(t)
	b := func(sqls ...string) []batch {
		var out []batch
		for _, s := range sqls {
			out = append(out, batch{SQL: s})
		}
		return out
	}
	cases := []tcase{
		{Name: "setup", Batches: b("CREATE DATABASE T; CREATE TABLE T.dbo.t (k int); INSERT INTO T.dbo.t VALUES (1), (2)")},
		{Name: "syntax", Batches: b("SELECT 10 AS ran\nSELEC 2")},
		{Name: "runtime", Batches: b("SELECT 1 AS first\nSELECT * FROM T.dbo.nope")},
		{Name: "messages", Batches: b("PRINT 'hello'\nRAISERROR('r %s %d', 11, 3, 'x', 5)\nSELECT 1 AS a\nSELECT 2 AS b")},
		{Name: "tsql_tran", Batches: b("BEGIN TRAN; DELETE FROM T.dbo.t; SELECT @@TRANCOUNT AS n; ROLLBACK; SELECT COUNT(*) AS n FROM T.dbo.t")},
		{Name: "tm_rollback", Tran: "rollback", Batches: b("DELETE FROM T.dbo.t", "SELECT COUNT(*) AS n FROM T.dbo.t")},
		{Name: "tm_commit", Tran: "commit", Batches: b("INSERT INTO T.dbo.t VALUES (3)", "SELECT COUNT(*) AS n FROM T.dbo.t")},
		{Name: "numbers", Batches: b("SELECT CAST(12345678.5678 AS decimal(18,4)) AS d, 1.5e10 AS f, 0x0A AS b, -1.25 + 0.5 AS s")},
		// The transaction is begun in a batch of its own, so whenever the
		// attention arrives the WAITFOR batch is the one it ends.
		{Name: "cancel", Batches: []batch{{SQL: "CREATE TABLE T.dbo.c (k int); BEGIN TRAN; INSERT INTO T.dbo.c VALUES (1)"},
			{SQL: "WAITFOR DELAY '00:01:00'", CancelAfterMs: 300},
			{SQL: "SELECT @@TRANCOUNT AS n; SELECT COUNT(*) AS c FROM T.dbo.c"}, {SQL: "ROLLBACK; SELECT COUNT(*) AS c FROM T.dbo.c"}}},
		{Name: "tm_savepoint", Batches: []batch{{SQL: "CREATE TABLE T.dbo.s (k int)"}, {TM: "begin", TMName: "outer"},
			{SQL: "INSERT INTO T.dbo.s VALUES (1)"}, {TM: "save", TMName: "sp"}, {SQL: "INSERT INTO T.dbo.s VALUES (2)"},
			{TM: "rollback", TMName: "sp"}, {SQL: "SELECT @@TRANCOUNT AS n; SELECT COUNT(*) AS c FROM T.dbo.s"},
			{TM: "rollback", TMName: "nope"}, {TM: "rollback"}, {SQL: "SELECT COUNT(*) AS c FROM T.dbo.s"}}},
		{Name: "tsql_savepoint", Batches: b("BEGIN TRAN; INSERT INTO T.dbo.t VALUES (9); SAVE TRAN sp; DELETE FROM T.dbo.t; ROLLBACK TRAN sp; " +
			"SELECT @@TRANCOUNT AS n; SELECT COUNT(*) AS c FROM T.dbo.t WHERE k = 9; ROLLBACK")},
		{Name: "try_catch", Batches: b("BEGIN TRY\nSELECT 1/0 AS x\nEND TRY\nBEGIN CATCH\nSELECT ERROR_NUMBER() AS n, ERROR_SEVERITY() AS s, ERROR_LINE() AS l\nEND CATCH")},
		{Name: "literals", Batches: b("SELECT 'abc' AS v, N'abc' AS n")},
	}
	for i := range cases {
		cases[i].TDSVersion, cases[i].Encrypt = "7_4", false
	}
	got := run(t, in, cases)

	_, errs := messages(got["syntax"])
	if len(errs) != 1 || errs[0].Number != 102 || errs[0].LineNumber != 2 || len(rows(got["syntax"])) != 0 {
		t.Errorf("syntax error batch: errors %+v, rows %v (want 102 at line 2 and nothing run)", errs, rows(got["syntax"]))
	}
	_, errs = messages(got["runtime"])
	if len(errs) != 1 || errs[0].Number != 208 || errs[0].LineNumber != 2 || !reflect.DeepEqual(rows(got["runtime"]), [][]string{{"1"}}) {
		t.Errorf("runtime error batch: errors %+v, rows %v (want 208 at line 2 after the first result)", errs, rows(got["runtime"]))
	}
	infos, errs := messages(got["messages"])
	if len(infos) != 1 || infos[0] != (message{Number: 0, State: 1, Class: 0, Message: "hello", LineNumber: 1}) {
		t.Errorf("PRINT: %+v", infos)
	}
	if len(errs) != 1 || errs[0] != (message{Number: 50000, State: 3, Class: 11, Message: "r x 5", LineNumber: 2}) {
		t.Errorf("RAISERROR: %+v", errs)
	}
	sets := 0
	for _, e := range got["messages"] {
		if e.Columns != nil {
			sets++
		}
	}
	if sets != 2 || !reflect.DeepEqual(rows(got["messages"]), [][]string{{"1"}, {"2"}}) {
		t.Errorf("two result sets after a RAISERROR of severity 11: %d sets, rows %v", sets, rows(got["messages"]))
	}
	for name, want := range map[string][][]string{
		"tsql_tran":   {{"1"}, {"2"}},
		"tm_rollback": {{"2"}},
		"tm_commit":   {{"3"}},
		"numbers":     {{"12345678.5678", "15000000000", "0x0a", "-0.75"}},
		// An attention leaves an open transaction open (it rolls back only
		// with XACT_ABORT ON: learn.microsoft.com/sql/connect/oledb/ole-db-interfaces/issabort-abort-ole-db),
		// and the session goes on.
		"cancel":         {{"1"}, {"1"}, {"0"}},
		"tm_savepoint":   {{"1"}, {"1"}, {"0"}},
		"tsql_savepoint": {{"1"}, {"1"}},
		"try_catch":      {{"8134", "16", "2"}},
	} {
		if r := rows(got[name]); !reflect.DeepEqual(r, want) {
			t.Errorf("%s: rows %v, want %v (events %+v)", name, r, want, got[name])
		}
	}
	for _, e := range got["tm_rollback"] {
		if e.Tran != nil && *e.Tran != "" {
			t.Errorf("tm_rollback: %s", *e.Tran)
		}
	}
	// TM_SAVE_XACT and a TM_ROLLBACK_XACT naming the savepoint keep the
	// transaction; an unknown name is 6401 ([MS-TDS] 2.2.6.9;
	// .../t-sql/language-elements/rollback-transaction-transact-sql).
	var refused []string // a request that succeeded reports null
	for _, e := range got["tm_savepoint"] {
		if e.Tran != nil {
			refused = append(refused, *e.Tran)
		}
	}
	if _, errs := messages(got["tm_savepoint"]); len(refused) != 1 || len(errs) != 1 || errs[0].Number != 6401 {
		t.Errorf("tm_savepoint: refused requests %q, errors %+v (want only the unknown name refused, 6401)", refused, errs)
	}
	if _, errs := messages(got["try_catch"]); len(errs) != 0 {
		t.Errorf("try_catch: a caught error reached the client: %+v", errs)
	}
	// 'abc' is varchar(3), N'abc' nvarchar(3): learn.microsoft.com/sql/t-sql/data-types/constants-transact-sql.
	var lit []column
	for _, e := range got["literals"] {
		if e.Columns != nil {
			lit = e.Columns
		}
	}
	if len(lit) != 2 || lit[0].Type != "VarChar" || lit[0].Length != 3 || lit[1].Type != "NVarChar" || lit[1].Length != 6 {
		t.Errorf("literals: columns %+v, want VarChar of 3 bytes and NVarChar of 6", lit)
	}
	var cancelled bool
	for _, e := range got["cancel"] {
		cancelled = cancelled || (e.Done != nil && e.Done.Error != nil && *e.Done.Error == "ECANCEL")
	}
	if !cancelled {
		js, _ := json.Marshal(got["cancel"])
		t.Errorf("cancel: %s", js)
	}
}
