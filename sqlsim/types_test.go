package sqlsim

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
)

// everyType is a table of each data type sqlsim stores, with one value
// given as a literal and the text go-mssqldb reads back.
var everyType = []struct{ typ, literal, want string }{
	{"int", "-2147483648", "-2147483648"},
	{"bigint", "9223372036854775807", "9223372036854775807"},
	{"smallint", "-32768", "-32768"},
	{"tinyint", "255", "255"},
	{"bit", "1", "true"},
	{"float", "1.5e10", "1.5e+10"},
	{"decimal(18,4)", "12345678901234.5678", "12345678901234.5678"},
	{"numeric(10,2)", "1.5", "1.50"},
	{"money", "-922337203685477.5808", "-922337203685477.5808"},
	{"datetime", "'2026-05-01 12:34:56.997'", "2026-05-01T12:34:56.997Z"},
	{"datetime2(3)", "'2026-05-01 12:34:56.123'", "2026-05-01T12:34:56.123Z"},
	{"datetimeoffset", "'2026-05-01 12:34:56 +02:00'", "2026-05-01T12:34:56+02:00"},
	{"date", "'2026-05-01'", "2026-05-01T00:00:00Z"},
	{"uniqueidentifier", "'6F9619FF-8B86-D011-B42D-00C04FC964FF'", "6F9619FF-8B86-D011-B42D-00C04FC964FF"},
	{"varbinary(16)", "0x00FF10", "00ff10"},
	{"varchar(20)", "'plain'", "plain"},
	{"char(3)", "'ab'", "ab "},
	{"nvarchar(20)", "N'héllo'", "héllo"},
	{"nchar(2)", "N'é'", "é "},
	{"time(3)", "'12:34:56.123'", "0001-01-01T12:34:56.123Z"},
	{"real", "3.25", "3.25"},
	{"smalldatetime", "'2026-05-01 12:34:56'", "2026-05-01T12:35:00Z"}, // rounded to the minute
	{"binary(4)", "0x0A0B", "0a0b0000"},                                // padded with zeros
	{"smallmoney", "-5.5", "-5.5000"},
}

// render prints a scanned value the way the table above writes it.
func render(v any) string {
	switch v := v.(type) {
	case []byte:
		return fmt.Sprintf("%x", v)
	case time.Time:
		return v.Format(time.RFC3339Nano)
	case mssql.UniqueIdentifier:
		return v.String()
	}
	return fmt.Sprint(v)
}

// TestStateSurvivesEveryType: a row holding every type, inserted as
// literals and again as typed parameters, reads back exactly after a
// restart (the state encoder takes every value sqlsim stores).
// Sources: learn.microsoft.com/sql/t-sql/data-types/constants-transact-sql
// (literal types), .../decimal-and-numeric-transact-sql (precision, scale).
func TestStateSurvivesEveryType(t *testing.T) {
	dir := t.TempDir()
	s := startSim(t, dir)
	db := s.db(t, "sa", "Sa-Passw0rd!")
	var cols, lits, params []string
	var args []any
	for i, c := range everyType {
		cols = append(cols, fmt.Sprintf("c%d %s", i, c.typ))
		lits = append(lits, c.literal)
		params = append(params, fmt.Sprintf("@p%d", i+1))
	}
	exec(t, db, "CREATE DATABASE Types")
	exec(t, db, "CREATE TABLE Types.dbo.t (k int, "+strings.Join(cols, ", ")+")")
	exec(t, db, "INSERT INTO Types.dbo.t VALUES (1, "+strings.Join(lits, ", ")+")")
	// The same values as parameters, read back from the literal row.
	row := db.QueryRow("SELECT * FROM Types.dbo.t WHERE k = 1")
	vals := make([]any, len(everyType)+1)
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := row.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	for i, v := range vals[1:] {
		args = append(args, clientValue(everyType[i].typ, v))
	}
	exec(t, db, "INSERT INTO Types.dbo.t VALUES (2, "+strings.Join(params, ", ")+")", args...)
	s.Close()

	s2 := startSim(t, dir)
	db2 := s2.db(t, "sa", "Sa-Passw0rd!")
	// Each column travels as its declared type (go-mssqldb names the
	// TYPE_INFO it received: FLTN 4 is REAL, DATETIMN 4 SMALLDATETIME;
	// it calls NUMERICN DECIMAL too, tests/tedious tells them apart).
	rs, err := db2.Query("SELECT * FROM Types.dbo.t")
	if err != nil {
		t.Fatal(err)
	}
	cts, err := rs.ColumnTypes()
	rs.Close()
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range everyType {
		base, _, _ := strings.Cut(c.typ, "(")
		if base == "numeric" {
			base = "decimal"
		}
		if got := cts[i+1].DatabaseTypeName(); got != strings.ToUpper(base) {
			t.Errorf("%s column sent as %s", c.typ, got)
		}
	}
	for _, k := range []int{1, 2} {
		got := make([]any, len(everyType)+1)
		ptrs := make([]any, len(got))
		for i := range got {
			ptrs[i] = &got[i]
		}
		if err := db2.QueryRow("SELECT * FROM Types.dbo.t WHERE k = @p1", k).Scan(ptrs...); err != nil {
			t.Fatalf("row %d after restart: %v", k, err)
		}
		for i, c := range everyType {
			if r := render(clientValue(c.typ, got[i+1])); r != c.want {
				t.Errorf("row %d %s: got %s, want %s", k, c.typ, r, c.want)
			}
		}
	}
}

// clientValue is what go-mssqldb means by a scanned value: numeric
// arrives as text bytes, uniqueidentifier as its wire bytes.
func clientValue(typ string, v any) any {
	b, ok := v.([]byte)
	switch {
	case !ok:
		return v
	case strings.HasPrefix(typ, "decimal"), strings.HasPrefix(typ, "numeric"), typ == "money", typ == "smallmoney":
		return string(b)
	case typ == "uniqueidentifier":
		var u mssql.UniqueIdentifier
		u.Scan(b)
		return u
	}
	return v
}

// TestStringConstantTypes: 'abc' is varchar(3) in the database's
// collation, N'abc' nvarchar(3); a varchar constant holds only what code
// page 1252 has (learn.microsoft.com/sql/t-sql/data-types/constants-transact-sql,
// .../functions/sql-variant-property-transact-sql, .../functions/datalength-transact-sql).
func TestStringConstantTypes(t *testing.T) {
	s := startSim(t, "")
	db := s.db(t, "sa", "Sa-Passw0rd!")
	rs, err := db.Query("SELECT 'abc' AS v, N'abc' AS n, 'ab' + 'cd' AS vv, 'ab' + N'cd' AS vn")
	if err != nil {
		t.Fatal(err)
	}
	cts, err := rs.ColumnTypes()
	if err != nil {
		t.Fatal(err)
	}
	rs.Close()
	want := []struct {
		typ string
		n   int64
	}{{"VARCHAR", 3}, {"NVARCHAR", 3}, {"VARCHAR", 4}, {"NVARCHAR", 4}}
	for i, ct := range cts {
		n, _ := ct.Length()
		if ct.DatabaseTypeName() != want[i].typ || n != want[i].n {
			t.Errorf("%s: %s(%d), want %s(%d)", ct.Name(), ct.DatabaseTypeName(), n, want[i].typ, want[i].n)
		}
	}
	var base, nbase, coll string
	var vlen, nlen, vmax, nmax int64
	var jp, njp string
	err = db.QueryRow(`SELECT CAST(SQL_VARIANT_PROPERTY('abc', 'BaseType') AS nvarchar(128)), CAST(SQL_VARIANT_PROPERTY(N'abc', 'BaseType') AS nvarchar(128)),
		CAST(SQL_VARIANT_PROPERTY('abc', 'Collation') AS nvarchar(128)), DATALENGTH('abc'), DATALENGTH(N'abc'),
		CAST(SQL_VARIANT_PROPERTY('abc', 'MaxLength') AS int), CAST(SQL_VARIANT_PROPERTY(N'abc', 'MaxLength') AS int), '日本', N'日本'`).
		Scan(&base, &nbase, &coll, &vlen, &nlen, &vmax, &nmax, &jp, &njp)
	if err != nil {
		t.Fatal(err)
	}
	if base != "varchar" || nbase != "nvarchar" || coll != "SQL_Latin1_General_CP1_CI_AS" || vlen != 3 || nlen != 6 || vmax != 3 || nmax != 6 {
		t.Errorf("BaseType %s/%s, Collation %s, DATALENGTH %d/%d, MaxLength %d/%d", base, nbase, coll, vlen, nlen, vmax, nmax)
	}
	if jp != "??" || njp != "日本" {
		t.Errorf("'日本' read %q, N'日本' %q: want ?? (not in code page 1252) and 日本", jp, njp)
	}
}

// TestNumericConstantTypes: 1.5 is numeric(2,1), an integer beyond int
// numeric(p,0) (there is no bigint constant), 1 int; text meeting a
// number converts to it, as the number's type has the higher precedence
// (learn.microsoft.com/sql/t-sql/data-types/constants-transact-sql,
// .../data-type-precedence-transact-sql).
func TestNumericConstantTypes(t *testing.T) {
	s := startSim(t, "")
	db := s.db(t, "sa", "Sa-Passw0rd!")
	rs, err := db.Query("SELECT 1.5 AS d, 3000000000 AS big, 1 AS i")
	if err != nil {
		t.Fatal(err)
	}
	cts, err := rs.ColumnTypes()
	rs.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		typ     string
		p, s    int64
		decimal bool
	}{{"DECIMAL", 2, 1, true}, {"DECIMAL", 10, 0, true}, {"INT", 0, 0, false}}
	for i, ct := range cts {
		p, sc, ok := ct.DecimalSize()
		if ct.DatabaseTypeName() != want[i].typ || ok != want[i].decimal || (ok && (p != want[i].p || sc != want[i].s)) {
			t.Errorf("%s: %s(%d,%d), want %s(%d,%d)", ct.Name(), ct.DatabaseTypeName(), p, sc, want[i].typ, want[i].p, want[i].s)
		}
	}
	var sum, prec int
	if err := db.QueryRow("SELECT '1' + 1, CAST(SQL_VARIANT_PROPERTY(1.5, 'Precision') AS int)").Scan(&sum, &prec); err != nil || sum != 2 || prec != 2 {
		t.Errorf("'1' + 1 = %d, precision of 1.5 %d (%v), want 2 and 2", sum, prec, err)
	}
	var e mssql.Error
	if _, err := db.Exec("SELECT 'a' + 1"); !errors.As(err, &e) || e.Number != 245 {
		t.Errorf("'a' + 1: %v, want 245", err)
	}
}
