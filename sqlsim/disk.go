package sqlsim

import (
	"os"
	"strings"

	"github.com/sqlvault/sqlvault/sqlsim/tds"
)

// diskPrefix marks a DISK = 'path' device among the URLs of a statement.
// RESTORE reads such files from the local file system, as SQL Server reads
// .bak files; BACKUP writes to URLs only (that is all sqlvault asks of it).
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

// refuseDisk fails a BACKUP to DISK: the simulator writes only to URLs.
func refuseDisk(urls []string) *tds.Message {
	for _, u := range urls {
		if isDisk(u) {
			return sqlErr(3201, 16, "Cannot open backup device: the simulator backs up to URL devices only.")
		}
	}
	return nil
}
