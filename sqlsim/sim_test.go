package sqlsim

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
)

// memBlobs is an in-memory blob store standing in for the HTTPS device.
type memBlobs struct {
	mu    sync.Mutex
	blobs map[string][]byte
	sas   map[string]string // url -> the SAS it was written with
}

func newMemBlobs() *memBlobs { return &memBlobs{blobs: map[string][]byte{}, sas: map[string]string{}} }

type memWriter struct {
	m   *memBlobs
	url string
	buf bytes.Buffer
}

func (w *memWriter) Write(p []byte) (int, error) { return w.buf.Write(p) }
func (w *memWriter) Abort() error                { return nil }
func (w *memWriter) Close() error {
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	w.m.blobs[w.url] = w.buf.Bytes()
	return nil
}

func (m *memBlobs) Create(_ context.Context, url, sas string, _ int) (BlobWriter, error) {
	m.mu.Lock()
	m.sas[url] = sas
	m.mu.Unlock()
	return &memWriter{m: m, url: url}, nil
}

func (m *memBlobs) Open(_ context.Context, url, _ string) (BlobReader, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.blobs[url]
	if !ok {
		return nil, errors.New("404 BlobNotFound")
	}
	return memReader{bytes.NewReader(b)}, nil
}

type memReader struct{ *bytes.Reader }

func (r memReader) Close() error { return nil }

// clock is a settable fake time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

type sim struct {
	*Instance
	blobs *memBlobs
	clock *clock
	dir   string
}

func startSim(t *testing.T, dir string) *sim {
	return startSimWith(t, dir, nil)
}

// startSimWith starts an instance on in-memory blobs; edit may change the
// config (e.g. set Blobs to nil to use HTTPS).
func startSimWith(t *testing.T, dir string, edit func(*Config)) *sim {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	c := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	b := newMemBlobs()
	cfg := Config{DataDir: dir, SAPassword: "Sa-Passw0rd!", Blobs: b, Now: c.Now,
		Logins: []Login{{Name: "reader", Password: "Reader-Pw1"}}}
	if edit != nil {
		edit(&cfg)
	}
	in, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	return &sim{Instance: in, blobs: b, clock: c, dir: dir}
}

func (s *sim) db(t *testing.T, user, pw string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlserver", fmt.Sprintf("sqlserver://%s:%s@%s?database=master&encrypt=disable", user, pw, s.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func exec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func sqlNumber(err error) int32 {
	var e mssql.Error
	if errors.As(err, &e) {
		return e.Number
	}
	return 0
}

func TestCatalogAsDiscoverySeesIt(t *testing.T) {
	s := startSim(t, "")
	db := s.db(t, "sa", "Sa-Passw0rd!")
	exec(t, db, "CREATE DATABASE [Sales]")
	exec(t, db, "CREATE DATABASE Reporting; ALTER DATABASE Reporting SET RECOVERY SIMPLE")

	var ver, edition, inst sql.NullString
	var sysadmin int
	if err := db.QueryRow(`SELECT SERVERPROPERTY('ProductVersion'), SERVERPROPERTY('Edition'), SERVERPROPERTY('InstanceName'), IS_SRVROLEMEMBER('sysadmin')`).
		Scan(&ver, &edition, &inst, &sysadmin); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ver.String, "16.") || !strings.Contains(edition.String, "Developer") || inst.Valid || sysadmin != 1 {
		t.Fatalf("properties: %v %v %v %d", ver, edition, inst, sysadmin)
	}
	rows, err := db.Query(`SELECT name, database_id, state_desc, recovery_model_desc, compatibility_level FROM sys.databases ORDER BY database_id`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var name, state, rm string
		var id, compat int
		rows.Scan(&name, &id, &state, &rm, &compat)
		got = append(got, fmt.Sprintf("%s:%d:%s:%s", name, id, state, rm))
	}
	want := "master:1:ONLINE:SIMPLE tempdb:2:ONLINE:SIMPLE model:3:ONLINE:FULL msdb:4:ONLINE:SIMPLE Sales:5:ONLINE:FULL Reporting:6:ONLINE:SIMPLE"
	if strings.Join(got, " ") != want {
		t.Fatalf("sys.databases:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	var guid mssql.UniqueIdentifier
	if err := db.QueryRow(`SELECT database_guid FROM sys.database_recovery_status WHERE database_id = @p1`, 5).Scan(&guid); err != nil {
		t.Fatal(err)
	}
	var size int64
	if err := db.QueryRow(`SELECT SUM(size) FROM sys.master_files WHERE database_id = 5`).Scan(&size); err != nil || size <= 0 {
		t.Fatalf("master_files size %d %v", size, err)
	}

	// A login without sysadmin sees 0, and cannot back up.
	rd := s.db(t, "reader", "Reader-Pw1")
	if err := rd.QueryRow(`SELECT IS_SRVROLEMEMBER('sysadmin')`).Scan(&sysadmin); err != nil || sysadmin != 0 {
		t.Fatalf("reader sysadmin = %d %v", sysadmin, err)
	}
	exec(t, db, "ALTER SERVER ROLE sysadmin ADD MEMBER [reader]")
	rd.QueryRow(`SELECT IS_SRVROLEMEMBER('sysadmin')`).Scan(&sysadmin)
	if sysadmin != 1 {
		t.Fatal("ALTER SERVER ROLE did not make reader sysadmin")
	}
	bad := s.db(t, "sa", "wrong")
	if err := bad.Ping(); sqlNumber(err) != 18456 {
		t.Fatalf("wrong password: %v, want error 18456", err)
	}
}

func TestStatePersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	s := startSim(t, dir)
	db := s.db(t, "sa", "Sa-Passw0rd!")
	exec(t, db, "CREATE DATABASE Keep; USE Keep; CREATE TABLE t (id int, v nvarchar(50)); INSERT INTO t VALUES (1, N'one'), (2, N'two')")
	db.Close()
	s.Close()

	s2 := startSim(t, dir)
	db2 := s2.db(t, "sa", "Sa-Passw0rd!")
	var n int
	if err := db2.QueryRow("SELECT COUNT(*) FROM Keep.dbo.t WHERE v LIKE N't%'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("after restart count = %d, %v", n, err)
	}
}

func TestWrongStatementsGiveSQLServerErrors(t *testing.T) {
	s := startSim(t, "")
	db := s.db(t, "sa", "Sa-Passw0rd!")
	cases := []struct {
		q    string
		want int32
	}{
		{"SELECT * FROM nope", 208},
		{"SELEC 1", 102},
		{"USE NoSuchDb", 911},
		{"CREATE DATABASE master", 1801},
		{"SELECT nosuchcol FROM sys.databases", 207},
		{"EXEC sp_nothing", 2812},
	}
	for _, c := range cases {
		if _, err := db.Exec(c.q); sqlNumber(err) != c.want {
			t.Errorf("%s: %v, want error %d", c.q, err, c.want)
		}
	}
}

var _ = io.EOF

func openDB(addr string) (*sql.DB, error) {
	return sql.Open("sqlserver", "sqlserver://sa:Sa-Passw0rd!@"+addr+"?database=master&encrypt=disable")
}
