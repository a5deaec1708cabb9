package sqlsim

import (
	"context"
	"testing"
)

// discardBlobs accepts backups and throws them away.
type discardBlobs struct{}

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (discardWriter) Close() error                { return nil }
func (discardWriter) Abort() error                { return nil }

func (discardBlobs) Create(context.Context, string, string, int) (BlobWriter, error) {
	return discardWriter{}, nil
}
func (discardBlobs) Open(context.Context, string, string) (BlobReader, error) {
	return nil, context.Canceled
}

// BenchmarkSyntheticFullBackup measures how fast the simulator produces a
// full backup stream of a synthetic database (256 MiB per op).
func BenchmarkSyntheticFullBackup(b *testing.B) {
	in, err := Start(context.Background(), Config{SAPassword: "Sa-Passw0rd!", Blobs: discardBlobs{},
		SyntheticDatabases: []SyntheticDatabase{{Name: "Big", Size: 256 << 20}}})
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	db, err := openDB(in.Addr())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE CREDENTIAL [https://bench.sqlsim.test/c] WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = 'sig=x'"); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(256 << 20)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := db.Exec("BACKUP DATABASE Big TO URL = N'https://bench.sqlsim.test/c/big.bak' WITH MAXTRANSFERSIZE = 4194304, COPY_ONLY"); err != nil {
			b.Fatal(err)
		}
	}
}
