package sqlsim

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/sqlsim/tds"
)

type noBlobs struct{}

func (noBlobs) Create(context.Context, string, string, int) (BlobWriter, error) {
	return nil, errors.New("no network in the fuzz test")
}
func (noBlobs) Open(context.Context, string, string) (BlobReader, error) {
	return nil, errors.New("no network in the fuzz test")
}

// FuzzBatch runs arbitrary T-SQL batches (lexer, parser, evaluator) as sa
// on an in-memory instance: any batch ends with results or a SQL error,
// never a panic.
func FuzzBatch(f *testing.F) {
	for _, s := range []string{
		"SELECT 1",
		"CREATE DATABASE [Sales ]]'DB]",
		"USE [Sales ]]'DB]; CREATE TABLE t (id int, name nvarchar(50)); INSERT INTO t VALUES (1, N'Ünïcødé 数据库'), (2, 'a''b')",
		"SELECT name, database_id, state_desc FROM sys.databases WHERE name LIKE N'%DB' ORDER BY name",
		"ALTER SERVER ROLE sysadmin DROP MEMBER [x]",
		"BACKUP DATABASE [x] TO URL = N'https://h/c/b.bak' WITH COPY_ONLY, STATS = 5, MAXTRANSFERSIZE = 4194304",
		"RESTORE DATABASE [y] FROM URL = N'https://h/c/b.bak' WITH NORECOVERY, MOVE N'a' TO N'/x', STOPAT = '2024-01-01T00:00:00'",
		"SELECT CAST(1 AS numeric(25,0)), CONVERT(varchar(30), GETDATE(), 126), SERVERPROPERTY('ProductVersion'), IS_SRVROLEMEMBER('sysadmin')",
		"SELECT TOP (1) * FROM msdb.dbo.backupset ORDER BY backup_set_id DESC",
		"EXEC sp_addsrvrolemember 'a', 'sysadmin'",
		"CREATE CREDENTIAL [https://h/c] WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = 'sv=1&sig=x'",
		"SELECT 'unterminated", "[", "N'", "/* open", "SELECT ((((1", "SELECT 1e999999", "SELECT -9223372036854775808 - 1",
		"DECLARE @a int = 1; SELECT @a", "SELECT \t1\x00",
		"CREATE TABLE k (a int NOT NULL, b int, CONSTRAINT pk PRIMARY KEY CLUSTERED (a, b DESC), UNIQUE (b)); INSERT INTO k VALUES (1, 1), (1, 1); INSERT INTO k VALUES (NULL, 2); UPDATE k SET b = NULL; SELECT @@ERROR",
		"CREATE TABLE u (id int PRIMARY KEY, v int); INSERT INTO u VALUES (1 / 0, (SELECT 1 / 0)); INSERT INTO u VALUES (1, 1); SELECT @@ERROR",
		"SELECT a.id, (SELECT COUNT(*) FROM u b WHERE b.id = a.id) FROM u a WHERE EXISTS (SELECT 1 FROM u b WHERE b.id = a.id AND EXISTS (SELECT 1 WHERE a.v = 1))",
		"BEGIN TRY INSERT INTO u VALUES (1, 1) END TRY BEGIN CATCH SELECT ERROR_NUMBER() END CATCH; RAISERROR('x', 20, 1) WITH LOG; SELECT 1",
	} {
		f.Add(s)
	}
	// No network: every URL is refused at once.
	in, err := Start(context.Background(), Config{SAPassword: "Sa-Passw0rd!", Blobs: noBlobs{}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { in.Close() })
	f.Fuzz(func(t *testing.T, sql string) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := in.Login(ctx, tds.LoginRequest{User: "sa", Password: "Sa-Passw0rd!"})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		s.Exec(ctx, sql, nil, discard{})
	})
}
