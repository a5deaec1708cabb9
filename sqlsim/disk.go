package sqlsim

import (
	"os"
	"strings"

	"github.com/sqlvault/sqlvault/sqlsim/tds"
)

// diskPrefix marks a DISK = 'path' device among the URLs of a statement.
// RESTORE reads such files from the local file system, as SQL Server reads
// .bak files, and BACKUP writes them: a DBA's own BACKUP ... TO DISK, the
// foreign backup sqlvault must notice (MS "Backup devices (SQL Server)").
const diskPrefix = "disk:"

func isDisk(u string) bool { return strings.HasPrefix(u, diskPrefix) }

// diskFile is a backup file read from disk.
type diskFile struct {
	*os.File
	size int64
}

func (f diskFile) Size() int64 { return f.size }

// openDisk opens a DISK device; a missing file fails as SQL Server does
// (3201, operating system error 2).
func openDisk(u string) (BlobReader, *tds.Message) {
	path := strings.TrimPrefix(u, diskPrefix)
	f, err := os.Open(path)
	if err != nil {
		return nil, sqlErr(3201, 16, "Cannot open backup device '"+path+"'. Operating system error 2(The system cannot find the file specified.).")
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, sqlErr(3201, 16, "Cannot open backup device '"+path+"'. "+err.Error())
	}
	return diskFile{File: f, size: st.Size()}, nil
}

// diskPath is the file a DISK device names, as msdb records it.
func diskPath(u string) string { return strings.TrimPrefix(u, diskPrefix) }

// refuseMixed fails a BACKUP over devices of two kinds: the devices of one
// media set are all of one type (MS "Backup devices (SQL Server)").
func refuseMixed(urls []string) *tds.Message {
	for _, u := range urls {
		if isDisk(u) != isDisk(urls[0]) {
			return sqlErr(3201, 16, "Cannot open backup device '"+diskPath(u)+"'. The devices of a media set must all be of one type.")
		}
	}
	return nil
}

// diskWriter writes one backup file. The simulator writes one backup set
// per file, as BACKUP ... WITH INIT would (appending sets is not simulated).
type diskWriter struct{ f *os.File }

// createDisk opens a DISK device for writing; a missing folder fails as
// SQL Server does (3201, operating system error 3).
func createDisk(u string) (BlobWriter, *tds.Message) {
	path := diskPath(u)
	f, err := os.Create(path)
	if err != nil {
		return nil, sqlErr(3201, 16, "Cannot open backup device '"+path+"'. Operating system error 3(The system cannot find the path specified.).")
	}
	return diskWriter{f}, nil
}

func (w diskWriter) Write(p []byte) (int, error) { return w.f.Write(p) }
func (w diskWriter) Close() error                { return w.f.Close() }

// Abort removes a file a failed backup left half written.
func (w diskWriter) Abort() error {
	w.f.Close()
	return os.Remove(w.f.Name())
}
