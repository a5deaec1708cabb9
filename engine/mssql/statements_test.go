package mssql

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/sqlvault/sqlvault/engine"
)

func TestQuoting(t *testing.T) {
	cases := []struct{ in, name, str string }{
		{"Sales", "[Sales]", "N'Sales'"},
		{"a]b", "[a]]b]", "N'a]b'"},
		{"O'Brien", "[O'Brien]", "N'O''Brien'"},
		{"x]; DROP DATABASE y; --", "[x]]; DROP DATABASE y; --]", "N'x]; DROP DATABASE y; --'"},
		{"Ünïcødé 数据", "[Ünïcødé 数据]", "N'Ünïcødé 数据'"},
	}
	for _, c := range cases {
		if got := QuoteName(c.in); got != c.name {
			t.Errorf("QuoteName(%q) = %s, want %s", c.in, got, c.name)
		}
		if got := QuoteString(c.in); got != c.str {
			t.Errorf("QuoteString(%q) = %s, want %s", c.in, got, c.str)
		}
	}
}

func TestBackupStatement(t *testing.T) {
	cases := []struct {
		req  BackupRequest
		want string
	}{
		{BackupRequest{Database: "Sales", Kind: KindFull, URLs: []string{"https://d/c/a.bak"}},
			"BACKUP DATABASE [Sales] TO URL = N'https://d/c/a.bak' WITH CHECKSUM, STATS = 5, MAXTRANSFERSIZE = 4194304, BLOCKSIZE = 65536, NO_COMPRESSION"},
		{BackupRequest{Database: "Sales", Kind: KindDifferential, URLs: []string{"https://d/c/1", "https://d/c/2"}, Compression: true},
			"BACKUP DATABASE [Sales] TO URL = N'https://d/c/1', URL = N'https://d/c/2' WITH CHECKSUM, STATS = 5, MAXTRANSFERSIZE = 4194304, BLOCKSIZE = 65536, DIFFERENTIAL, COMPRESSION"},
		{BackupRequest{Database: "a]b", Kind: KindLog, URLs: []string{"https://d/c/l"}, NoRecovery: true, Name: "it's"},
			"BACKUP LOG [a]]b] TO URL = N'https://d/c/l' WITH CHECKSUM, STATS = 5, MAXTRANSFERSIZE = 4194304, BLOCKSIZE = 65536, NORECOVERY, NO_COMPRESSION, NAME = N'it''s'"},
		{BackupRequest{Database: "S", Kind: KindCopyOnlyFull, URLs: []string{"u"}},
			"BACKUP DATABASE [S] TO URL = N'u' WITH CHECKSUM, STATS = 5, MAXTRANSFERSIZE = 4194304, BLOCKSIZE = 65536, COPY_ONLY, NO_COMPRESSION"},
	}
	for _, c := range cases {
		got, err := c.req.Statement()
		if err != nil || got != c.want {
			t.Errorf("Statement(%+v) =\n %s (%v)\nwant\n %s", c.req, got, err, c.want)
		}
	}
	if _, err := (BackupRequest{Database: "S", Kind: "weekly", URLs: []string{"u"}}).Statement(); err == nil {
		t.Error("unknown kind accepted")
	}
	if _, err := (BackupRequest{Database: "S", Kind: KindFull}).Statement(); err == nil {
		t.Error("backup without URL accepted")
	}
}

func TestRestoreStatementConvertsStopAtToInstanceTime(t *testing.T) {
	stop := time.Date(2026, 3, 1, 22, 15, 7, 0, time.UTC)
	r := RestoreRequest{Database: "Sales_copy", Log: true, URLs: []string{"https://d/c/l.trn"}, StopAt: &stop}
	got := r.statement(-5 * time.Hour)
	want := "RESTORE LOG [Sales_copy] FROM URL = N'https://d/c/l.trn' WITH STATS = 5, BLOCKSIZE = 65536, NORECOVERY, STOPAT = N'2026-03-01T17:15:07'"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	r = RestoreRequest{Database: "S", URLs: []string{"u"}, Recovery: true, Replace: true,
		Moves: []Move{{"S_Data", `D:\Data\S.mdf`}}}
	if got := r.statement(0); got != `RESTORE DATABASE [S] FROM URL = N'u' WITH STATS = 5, BLOCKSIZE = 65536, RECOVERY, REPLACE, MOVE N'S_Data' TO N'D:\Data\S.mdf'` {
		t.Fatalf("got %s", got)
	}
}

func TestMovesForAlternateRestore(t *testing.T) {
	files := []File{{"Sales", `C:\old\Sales.mdf`, "D"}, {"Sales_2", `C:\old\Sales2.ndf`, "D"}, {"Sales_log", `C:\old\Sales_log.ldf`, "L"}}
	got := MovesFor(files, `Sales:copy`, `D:\Data\`, `E:\Log`)
	want := []Move{{"Sales", `D:\Data\Sales_copy.mdf`}, {"Sales_2", `D:\Data\Sales_copy_2.ndf`}, {"Sales_log", `E:\Log\Sales_copy_log.ldf`}}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("move %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if got := MovesFor([]File{{"x", "/var/opt/x.mdf", "D"}}, "n", "/var/opt/mssql/data/", ""); got[0].PhysicalName != "/var/opt/mssql/data/n.mdf" {
		t.Errorf("linux path = %s", got[0].PhysicalName)
	}
}

func TestClassifyConnectionErrors(t *testing.T) {
	tg := Target{Host: "sql01", Port: 1433, User: "backup"}
	cases := []struct {
		err  error
		want engine.Code
	}{
		{mssql.Error{Number: 18456, Message: "Login failed for user 'backup'."}, engine.CodeSQLLoginFailed},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, engine.CodeInstanceUnreachable},
		{errors.New("unable to open tcp connection with host 'sql01:1433': dial tcp: lookup sql01: no such host"), engine.CodeInstanceUnreachable},
		{errors.New("TLS Handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"), engine.CodeTLSFailed},
		{errors.New("reading prelogin response: unexpected EOF"), engine.CodeNotSQLServer},
	}
	for _, c := range cases {
		if got := engine.CodeOf(Classify(c.err, tg)); got != c.want {
			t.Errorf("Classify(%v) = %s, want %s", c.err, got, c.want)
		}
	}
}

func TestClassifyBackupErrors(t *testing.T) {
	r := BackupRequest{Database: "Sales"}
	cases := []struct {
		err  error
		want engine.Code
	}{
		{mssql.Error{Number: 4208, Message: "The statement BACKUP LOG is not allowed while the recovery model is SIMPLE."}, engine.CodeLogBackupSimple},
		{mssql.Error{Number: 3013, All: []mssql.Error{{Number: 4214}, {Number: 3013}}}, engine.CodeMissingFullBackup},
		{errors.Join(mssql.Error{Number: 3201, Message: "Cannot open backup device"}, mssql.Error{Number: 3013}), engine.CodeBackupFailed},
		{errors.New("read tcp: connection reset by peer"), engine.CodeConnectionLost},
	}
	for _, c := range cases {
		if got := engine.CodeOf(classifyBackup(c.err, r, Target{})); got != c.want {
			t.Errorf("classifyBackup(%v) = %s, want %s", c.err, got, c.want)
		}
	}
}

func TestPermissionScript(t *testing.T) {
	s := PermissionScript(ScriptOptions{Login: "bk'up", DeviceName: "vault.corp", DeviceCAPEM: []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), ServerName: "SQL02"})
	for _, want := range []string{
		`[string]$InstanceName = "MSSQLSERVER"`,
		`[string]$LoginName = 'bk''up'`,
		`"ALTER SERVER ROLE [sysadmin] ADD MEMBER [" + $LoginName.Replace("]", "]]") + "];"`,
		`$server = $env:COMPUTERNAME }`,
		`"$env:COMPUTERNAME\$InstanceName"`,
		`X509Store("Root", "LocalMachine")`,
		`catch {`, // each step reports its own failure and the next still runs
		`exit 1`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %s", want)
		}
	}
	if strings.Contains(s, `$ErrorActionPreference = "Stop"`) {
		t.Error("a failing step must not stop the others")
	}
}

func TestDSN(t *testing.T) {
	d := Target{Host: "sql01", Port: 14330, User: "u", Password: "p@ss:w/rd", Encrypt: "strict"}.dsn("master")
	for _, want := range []string{"sqlserver://u:p%40ss%3Aw%2Frd@sql01:14330", "encrypt=strict", "database=master", "app+name=sqlvault"} {
		if !strings.Contains(d, want) {
			t.Errorf("dsn %s lacks %s", d, want)
		}
	}
	if d := (Target{Host: "h", Instance: "SQLEXPRESS", User: "u"}).dsn("m"); !strings.Contains(d, "@h/SQLEXPRESS") {
		t.Errorf("named instance dsn %s", d)
	}
}

// TestConnectToSilentHost: a host that accepts TCP but never answers is
// reported unreachable once the caller's context ends, not after minutes.
func TestConnectToSilentHost(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // accept, then say nothing
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = Connect(ctx, Target{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, User: "sa", Password: "x"})
	if engine.CodeOf(err) != engine.CodeInstanceUnreachable || time.Since(start) > 5*time.Second {
		t.Fatalf("silent host: %v after %s", err, time.Since(start))
	}
}
