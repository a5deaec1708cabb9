package tds

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-sql/civil"
	"github.com/golang-sql/sqlexp"
	mssql "github.com/microsoft/go-mssqldb"
)

func queryInt(t *testing.T, db *sql.DB, q string) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// TestEncryptModes connects with each of go-mssqldb's encrypt settings and
// checks what the server negotiated and what crossed the wire in clear.
func TestEncryptModes(t *testing.T) {
	// Text of the login response (INFO 5701), as UCS-2: visible on the
	// wire only when the response is not encrypted.
	plainMarker := appendUCS2(nil, "Changed database context")
	// The client library name go-mssqldb puts in LOGIN7, as UCS-2:
	// readable only when LOGIN7 itself was not encrypted.
	loginMarker := appendUCS2(nil, "go-mssqldb")
	cases := []struct {
		name       string
		query      func(ts *testServer) string
		encrypted  bool // whole session under TLS
		plainAck   bool // the login response readable on the wire
		plainLogin bool // LOGIN7 readable on the wire
	}{
		{"disable", func(*testServer) string { return "encrypt=disable" }, false, true, true},
		// No encrypt parameter: go-mssqldb's default is ENCRYPT_OFF with
		// the certificate trusted, i.e. login-only TLS.
		{"default", func(*testServer) string { return "" }, false, true, false},
		{"false_login_only", func(*testServer) string { return "encrypt=false&TrustServerCertificate=true" }, false, true, false},
		{"true_trust", func(*testServer) string { return "encrypt=true&TrustServerCertificate=true" }, true, false, false},
		{"true_ca", func(ts *testServer) string {
			return "encrypt=true&certificate=" + ts.caFile + "&hostNameInCertificate=sqlsim.test"
		}, true, false, false},
		{"strict", func(ts *testServer) string {
			return "encrypt=strict&certificate=" + ts.caFile + "&hostNameInCertificate=sqlsim.test"
		}, true, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, true)
			db := ts.open(t, tc.query(ts))
			if n := queryInt(t, db, "select 1"); n != 1 {
				t.Fatalf("select 1 = %d", n)
			}
			if got := ts.h.lastLogin().Encrypted; got != tc.encrypted {
				t.Errorf("LoginRequest.Encrypted = %v, want %v", got, tc.encrypted)
			}
			if got := bytes.Contains(ts.rec.written(), plainMarker); got != tc.plainAck {
				t.Errorf("login response in plaintext = %v, want %v", got, tc.plainAck)
			}
			if got := bytes.Contains(ts.rec.read(), loginMarker); got != tc.plainLogin {
				t.Errorf("LOGIN7 in plaintext = %v, want %v", got, tc.plainLogin)
			}
		})
	}
}

func TestEncryptWrongHostRejected(t *testing.T) {
	ts := startServer(t, true)
	db := ts.open(t, "encrypt=true&certificate="+ts.caFile+"&hostNameInCertificate=other.test")
	if err := db.Ping(); err == nil {
		t.Fatal("connected although the certificate does not name other.test")
	}
}

func TestServerWithoutCertificate(t *testing.T) {
	ts := startServer(t, false)
	for _, q := range []string{"encrypt=disable", "encrypt=false"} {
		db := ts.open(t, q)
		if n := queryInt(t, db, "select 1"); n != 1 {
			t.Fatalf("%s: select 1 = %d", q, n)
		}
	}
	db := ts.open(t, "encrypt=true&TrustServerCertificate=true")
	err := db.Ping()
	if err == nil || !strings.Contains(err.Error(), "encryption") {
		t.Fatalf("encrypt=true against a server without certificate: err = %v, want an encryption refusal", err)
	}
}

func TestLoginFailed(t *testing.T) {
	ts := startServer(t, false)
	db, err := sql.Open("sqlserver", fmt.Sprintf("sqlserver://sa:wrong@%s?encrypt=disable", ts.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Ping()
	var me mssql.Error
	if !errors.As(err, &me) {
		t.Fatalf("Ping error %v (%T), want mssql.Error", err, err)
	}
	if me.Number != 18456 || me.Class != 14 || me.State != 1 || !strings.Contains(me.Message, "Login failed for user 'sa'.") {
		t.Fatalf("got %+v", me)
	}
	if got := ts.h.lastLogin(); got.User != "sa" || got.Password != "wrong" {
		t.Fatalf("handler saw user %q password %q", got.User, got.Password)
	}
}

func TestLoginFields(t *testing.T) {
	ts := startServer(t, false)
	db := ts.open(t, "encrypt=disable&app+name=sqlvault-test&workstation+id=box1")
	queryInt(t, db, "select 1")
	got := ts.h.lastLogin()
	if got.AppName != "sqlvault-test" || got.HostName != "box1" || got.Database != "master" || got.ServerName != "127.0.0.1" {
		t.Fatalf("LoginRequest = %+v", got)
	}
}

func TestTypesRead(t *testing.T) {
	ts := startServer(t, false)
	db := ts.open(t, "encrypt=disable")
	rows, err := db.Query("select types")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	ct, err := rows.ColumnTypes()
	if err != nil {
		t.Fatal(err)
	}
	wantTypes := []string{"BIT", "TINYINT", "SMALLINT", "INT", "BIGINT", "FLOAT", "DECIMAL", "DECIMAL", "DECIMAL",
		"NVARCHAR", "NVARCHAR", "DATETIME", "DATETIME2", "UNIQUEIDENTIFIER", "VARBINARY", "VARBINARY",
		"DATETIMEOFFSET", "DATE", "VARCHAR"}
	for i, c := range ct {
		if c.DatabaseTypeName() != wantTypes[i] {
			t.Errorf("column %s: type %s, want %s", c.Name(), c.DatabaseTypeName(), wantTypes[i])
		}
	}
	if p, s, ok := ct[6].DecimalSize(); !ok || p != 25 || s != 0 {
		t.Errorf("lsn DecimalSize = %d,%d,%v", p, s, ok)
	}
	if !rows.Next() {
		t.Fatal("no row")
	}
	var (
		b               bool
		ti, si, i, bi   int64
		f               float64
		lsn, dec        string
		lsn2            int64
		nv, nvmax, vc   string
		dt, dt2, dto, d time.Time
		g               mssql.UniqueIdentifier
		vb, vbmax       []byte
	)
	if err := rows.Scan(&b, &ti, &si, &i, &bi, &f, &lsn, &lsn2, &dec, &nv, &nvmax, &dt, &dt2, &g, &vb, &vbmax, &dto, &d, &vc); err != nil {
		t.Fatal(err)
	}
	check := func(name string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("bit", b, true)
	check("tinyint", ti, 255)
	check("smallint", si, -32768)
	check("int", i, -2147483648)
	check("bigint", bi, 9223372036854775807)
	check("float", f, 3.25)
	check("numeric(25,0)", lsn, bigLSN.String())
	check("decimal(25,0) as int64", lsn2, 25000000012300001)
	check("decimal(10,3)", dec, "-1234.567")
	check("nvarchar", nv, "héllo")
	check("nvarchar(max) length", len(nvmax), len(longString))
	if nvmax != longString {
		t.Error("nvarchar(max) value differs")
	}
	// datetime keeps 1/300 s: .1234567 rounds to .123.
	check("datetime", dt.Format(time.RFC3339Nano), "2024-03-05T13:14:15.123Z")
	check("datetime2(7)", dt2.Format(time.RFC3339Nano), "2024-03-05T13:14:15.1234567Z")
	check("uniqueidentifier", g.String(), "6F9619FF-8B86-D011-B42D-00C04FC964FF")
	check("varbinary", vb, []byte{1, 2, 3})
	if !bytes.Equal(vbmax, longBytes) {
		t.Errorf("varbinary(max): %d bytes, want %d equal bytes", len(vbmax), len(longBytes))
	}
	check("datetimeoffset", dto.Format(time.RFC3339Nano), "2024-03-05T07:44:15.1234567-05:30")
	check("date", d.Format("2006-01-02"), "2024-03-05")
	check("varchar", vc, "latin é")

	if !rows.Next() {
		t.Fatal("no NULL row")
	}
	vals := make([]any, len(typeColumns))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		if v != nil {
			t.Errorf("column %s: %v, want NULL", typeColumns[i].Name, v)
		}
	}
	if rows.Next() {
		t.Fatal("extra row")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestParams sends each Go type go-mssqldb supports through sp_executesql
// and reads it back from the "select echo" statement, which returns every
// parameter as a column of the parameter's own type.
func TestParams(t *testing.T) {
	ts := startServer(t, false)
	db := ts.open(t, "encrypt=disable")
	db.SetMaxOpenConns(1)
	when := time.Date(2023, 12, 31, 23, 59, 58, 987654300, time.FixedZone("", 2*3600))
	guid := mssql.UniqueIdentifier{0x6F, 0x96, 0x19, 0xFF, 0x8B, 0x86, 0xD0, 0x11, 0xB4, 0x2D, 0x00, 0xC0, 0x4F, 0xC9, 0x64, 0xFF}
	long := strings.Repeat("x", 5000)
	args := []any{
		"text ü", int64(-42), int32(7), true, 2.5, []byte{9, 8, 7}, when, guid, nil,
		mssql.VarChar("ascii"), mssql.NVarCharMax(long), civil.Date{Year: 2020, Month: 2, Day: 29},
		civil.DateTime{Date: civil.Date{Year: 2021, Month: 1, Day: 2}, Time: civil.Time{Hour: 3, Minute: 4, Second: 5, Nanosecond: 600}},
		mssql.DateTime1(time.Date(2022, 6, 7, 8, 9, 10, 0, time.UTC)), bytes.Repeat([]byte{7}, 9000), "",
	}
	rows, err := db.Query("select echo", args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if !rows.Next() {
		t.Fatalf("no row: %v", rows.Err())
	}
	got := make([]any, len(args))
	ptrs := make([]any, len(args))
	for i := range got {
		ptrs[i] = &got[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	rows.Close()

	var gotGUID mssql.UniqueIdentifier
	if err := gotGUID.Scan(got[7]); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"text ü", "-42", "7", "true", "2.5", "[9 8 7]", "2023-12-31T23:59:58.9876543+02:00", guid.String(), "<nil>",
		"ascii", long, "2020-02-29", "2021-01-02T03:04:05.0000006Z", "2022-06-07T08:09:10Z", fmt.Sprint(bytes.Repeat([]byte{7}, 9000)), "",
	}
	for i, w := range want {
		var s string
		switch v := got[i].(type) {
		case time.Time:
			s = v.Format(time.RFC3339Nano)
			if i == 11 {
				s = v.Format("2006-01-02")
			}
		default:
			s = fmt.Sprint(v)
		}
		if i == 7 {
			s = gotGUID.String()
		}
		if s != w {
			t.Errorf("param %d (%T): got %.60s, want %.60s", i+1, args[i], s, w)
		}
	}

	// The engine saw typed parameters named @p1..@pN.
	sess := ts.h.sessions[len(ts.h.sessions)-1]
	sess.mu.Lock()
	ps := sess.lastParams
	sess.mu.Unlock()
	wantTypes := []Type{TypeNVarChar, TypeBigInt, TypeInt, TypeBit, TypeFloat, TypeVarBinary, TypeDateTimeOffset,
		TypeUniqueIdentifier, TypeNVarChar, TypeVarChar, TypeNVarChar, TypeDate, TypeDateTime2, TypeDateTime, TypeVarBinary, TypeNVarChar}
	if len(ps) != len(wantTypes) {
		t.Fatalf("engine got %d params, want %d", len(ps), len(wantTypes))
	}
	for i, p := range ps {
		if p.Name != fmt.Sprintf("@p%d", i+1) || p.Type.Type != wantTypes[i] {
			t.Errorf("param %d: %s %v, want @p%d %v", i, p.Name, p.Type.Type, i+1, wantTypes[i])
		}
	}
	if ps[10].Type.Length != -1 || ps[14].Type.Length != -1 {
		t.Errorf("max parameters: lengths %d, %d, want -1", ps[10].Type.Length, ps[14].Type.Length)
	}
	if g, ok := ps[7].Value.([16]byte); !ok || g != [16]byte(guid) {
		t.Errorf("engine GUID %v, want RFC order %v", ps[7].Value, [16]byte(guid))
	}
}

func TestSQLError(t *testing.T) {
	ts := startServer(t, false)
	db := ts.open(t, "encrypt=disable")
	_, err := db.Exec("raise error")
	var me mssql.Error
	if !errors.As(err, &me) {
		t.Fatalf("err %v (%T), want mssql.Error", err, err)
	}
	if me.Number != 208 || me.Class != 16 || me.State != 1 || me.ServerName != "SQLSIMTEST" || me.Message != "Invalid object name 'nope'." {
		t.Fatalf("got %+v", me)
	}
	// The same error through sp_executesql.
	_, err = db.Exec("raise error", 1)
	if !errors.As(err, &me) || me.Number != 208 {
		t.Fatalf("rpc: err %v", err)
	}
	// The connection is still good.
	if n := queryInt(t, db, "select 1"); n != 1 {
		t.Fatal(n)
	}
}

func TestRowsAffected(t *testing.T) {
	ts := startServer(t, false)
	db := ts.open(t, "encrypt=disable")
	for _, args := range [][]any{nil, {1}} {
		res, err := db.Exec("do update", args...)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := res.RowsAffected(); n != 3 {
			t.Errorf("args %v: RowsAffected = %d, want 3", args, n)
		}
	}
}

func TestMultipleResultSets(t *testing.T) {
	ts := startServer(t, false)
	db := ts.open(t, "encrypt=disable")
	rows, err := db.Query("select two")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var a int64
	var b string
	if !rows.Next() || rows.Scan(&a) != nil || a != 1 {
		t.Fatal("first result set")
	}
	for rows.Next() {
	}
	if !rows.NextResultSet() || !rows.Next() || rows.Scan(&b) != nil || b != "x" {
		t.Fatalf("second result set: %v", rows.Err())
	}
}

func TestUnknownProcedure(t *testing.T) {
	ts := startServer(t, false)
	db := ts.open(t, "encrypt=disable")
	_, err := db.Exec("sp_no_such_proc", 1)
	var me mssql.Error
	if !errors.As(err, &me) || me.Number != 2812 || me.Message != "Could not find stored procedure 'sp_no_such_proc'." {
		t.Fatalf("err %v", err)
	}
}

func TestUseDatabase(t *testing.T) {
	ts := startServer(t, false)
	db := ts.open(t, "encrypt=disable")
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "use sales"); err != nil {
		t.Fatal(err)
	}
	var name string
	if err := conn.QueryRowContext(ctx, "db_name()").Scan(&name); err != nil || name != "sales" {
		t.Fatalf("db_name() = %q, %v", name, err)
	}
}

func TestTransactions(t *testing.T) {
	ts := startServer(t, false)
	db := ts.open(t, "encrypt=disable")
	db.SetMaxOpenConns(1)
	for _, commit := range []bool{true, false} {
		tx, err := db.BeginTx(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		if err := tx.QueryRow("select 1").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if commit {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	sess := ts.h.sessions[0]
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if got := strings.Join(sess.txEvents, ","); got != "begin,commit,begin,rollback" {
		t.Fatalf("session saw %s", got)
	}
}

// TestCancel: a client-side timeout sends ATTENTION; the engine's ctx is
// cancelled, the client gets its context error, and the same connection
// keeps working.
func TestCancel(t *testing.T) {
	ts := startServer(t, false)
	db := ts.open(t, "encrypt=disable")
	db.SetMaxOpenConns(1)
	for _, args := range [][]any{nil, {1}} { // SQL batch and RPC
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, err := db.ExecContext(ctx, "wait block", args...)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("args %v: err = %v, want deadline exceeded", args, err)
		}
		if n := queryInt(t, db, "select 1"); n != 1 {
			t.Fatal(n)
		}
	}
	// Closing Rows early sends ATTENTION while rows still stream; the
	// statement stops and the connection is reused.
	rows, err := db.Query("rows 1000000")
	if err != nil {
		t.Fatal(err)
	}
	if !rows.Next() {
		t.Fatal(rows.Err())
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, db, "select 1"); n != 1 {
		t.Fatal(n)
	}
	stats := db.Stats()
	if stats.OpenConnections != 1 {
		t.Errorf("open connections = %d, want the one connection reused", stats.OpenConnections)
	}
	sess := ts.h.sessions[0]
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if !sess.cancelled {
		t.Error("the engine's context was not cancelled")
	}
}

// TestProgressMessages shows INFO messages reach the client while the
// statement still runs: the statement waits after its first message until
// the test has received it.
func TestProgressMessages(t *testing.T) {
	ts := startServer(t, false)
	db := ts.open(t, "encrypt=disable")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	retmsg := &sqlexp.ReturnMessage{}
	rows, err := db.QueryContext(ctx, "run progress", retmsg)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var notices []string
	for ctx.Err() == nil {
		switch m := retmsg.Message(ctx).(type) {
		case sqlexp.MsgNotice:
			notices = append(notices, m.Message.String())
			if len(notices) == 1 {
				ts.h.releaseProgress() // only now may the statement go on
			}
		case sqlexp.MsgError:
			t.Fatal(m.Error)
		case sqlexp.MsgNextResultSet:
			if !rows.NextResultSet() {
				goto done
			}
		case sqlexp.MsgNext:
			for rows.Next() {
			}
		}
	}
done:
	want := "10 percent processed.|20 percent processed.|BACKUP DATABASE successfully processed 1 pages."
	if got := strings.Join(notices, "|"); got != want {
		t.Fatalf("notices %q, want %q", got, want)
	}
}

// TestPacketSizes streams a result set much larger than the packet size
// and sends a batch that spans many packets.
func TestPacketSizes(t *testing.T) {
	ts := startServer(t, true)
	for _, mode := range []string{"encrypt=disable", "encrypt=true&TrustServerCertificate=true"} {
		for _, size := range []int{512, 4096, 32767} {
			t.Run(fmt.Sprintf("%s/%d", mode, size), func(t *testing.T) {
				testPacketSize(t, ts.open(t, fmt.Sprintf("%s&packet+size=%d", mode, size)))
			})
		}
	}
}

func testPacketSize(t *testing.T, db *sql.DB) {
	{
		size := 0
		rows, err := db.Query("rows 3000")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			var i int64
			var s string
			if err := rows.Scan(&i, &s); err != nil {
				t.Fatal(err)
			}
			if i != int64(n) || s != fmt.Sprintf("row %d", n) {
				t.Fatalf("row %d: %d %q", n, i, s)
			}
			n++
		}
		if err := rows.Err(); err != nil || n != 3000 {
			t.Fatalf("packet size %d: %d rows, %v", size, n, err)
		}
		long := "--len " + strings.Repeat("ä", 50000)
		if got := queryInt(t, db, long); got != int64(len([]rune(long))) {
			t.Fatalf("packet size %d: server saw %d characters, want %d", size, got, len([]rune(long)))
		}
	}
}

func TestManyConnections(t *testing.T) {
	ts := startServer(t, true)
	db := ts.open(t, "encrypt=true&TrustServerCertificate=true")
	db.SetMaxOpenConns(16)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				var n int64
				if err := db.QueryRow("select 1").Scan(&n); err != nil || n != 1 {
					errs <- fmt.Errorf("select 1: %d %v", n, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if s := db.Stats(); s.OpenConnections < 2 {
		t.Errorf("only %d connections opened", s.OpenConnections)
	}
}

func TestOutputParams(t *testing.T) {
	ts := startServer(t, false)
	db := ts.open(t, "encrypt=disable")
	n, str, untouched := int64(21), "hi", int64(7)
	_, err := db.Exec("set outputs",
		sql.Named("n", sql.Out{Dest: &n}), sql.Named("s", sql.Out{Dest: &str}), sql.Named("in", 3))
	if err != nil {
		t.Fatal(err)
	}
	if n != 42 || str != "hi!" {
		t.Fatalf("outputs n=%d s=%q, want 42 and hi!", n, str)
	}
	// An output parameter the engine leaves alone returns its input.
	if _, err := db.Exec("select echo", sql.Named("u", sql.Out{Dest: &untouched})); err != nil {
		t.Fatal(err)
	}
	if untouched != 7 {
		t.Fatalf("untouched output = %d", untouched)
	}
}

// TestPreparedHandles drives sp_prepexec / sp_execute / sp_unprepare by
// name, as ODBC-style clients use them.
func TestPreparedHandles(t *testing.T) {
	ts := startServer(t, false)
	db := ts.open(t, "encrypt=disable")
	ctx := context.Background()
	// One connection throughout: the pool's RESETCONNECTION on reuse
	// would drop the handles, as sp_reset_connection does.
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var handle int64
	_, err = conn.ExecContext(ctx, "sp_prepexec", sql.Named("handle", sql.Out{Dest: &handle}),
		sql.Named("params", "@p1 int"), sql.Named("stmt", "select echo"), sql.Named("p1", 5))
	if err != nil {
		t.Fatal(err)
	}
	if handle != 1 {
		t.Fatalf("handle = %d, want 1", handle)
	}
	var got int64
	if err := conn.QueryRowContext(ctx, "sp_execute", handle, int64(9)).Scan(&got); err != nil || got != 9 {
		t.Fatalf("sp_execute: %d %v", got, err)
	}
	if _, err := conn.ExecContext(ctx, "sp_unprepare", handle); err != nil {
		t.Fatal(err)
	}
	_, err = conn.ExecContext(ctx, "sp_execute", handle, int64(9))
	var me mssql.Error
	if !errors.As(err, &me) || me.Number != 8179 {
		t.Fatalf("sp_execute after unprepare: %v", err)
	}
}

func TestVariant(t *testing.T) {
	ts := startServer(t, false)
	db := ts.open(t, "encrypt=disable")
	rows, err := db.Query("select variants")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	ct, _ := rows.ColumnTypes()
	if ct[0].DatabaseTypeName() != "SQL_VARIANT" {
		t.Errorf("type %s, want SQL_VARIANT", ct[0].DatabaseTypeName())
	}
	if !rows.Next() {
		t.Fatal(rows.Err())
	}
	got := make([]any, 10)
	ptrs := make([]any, len(got))
	for i := range got {
		ptrs[i] = &got[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	var g mssql.UniqueIdentifier
	if err := g.Scan(got[8]); err != nil {
		t.Fatal(err)
	}
	want := []string{"15.0.2000.5", "1", "1099511627776", "true", "2.5", "2024-03-05 13:14:15.123 +0000 UTC",
		"-123.45", "[1 2]", "6F9619FF-8B86-D011-B42D-00C04FC964FF", "<nil>"}
	for i, w := range want {
		s := fmt.Sprint(got[i])
		switch v := got[i].(type) {
		case []byte:
			if i == 6 {
				s = string(v) // decimals arrive as text
			}
		}
		if i == 8 {
			s = g.String()
		}
		if s != w {
			t.Errorf("variant %d: got %s (%T), want %s", i, s, got[i], w)
		}
	}
}
