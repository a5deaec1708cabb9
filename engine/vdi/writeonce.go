package vdi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
)

// Committed blobs are write-once (issue 16.1): once a block list is
// committed, no device request changes or removes that name, whoever
// holds whatever token. Only the coordinator's retention removes data,
// through the vault. Uncommitted names stay writable and deletable, so a
// failed backup's blocks are still cleaned up.

type blobLock struct {
	mu sync.Mutex
	n  int
}

// lockBlob serialises the requests that change what a name is (Put Blob,
// Put Block List, Delete), so none slips past the write-once check while
// another commits.
func (d *Device) lockBlob(blob string) (unlock func()) {
	d.mu.Lock()
	if d.blobLocks == nil {
		d.blobLocks = map[string]*blobLock{}
	}
	l := d.blobLocks[blob]
	if l == nil {
		l = &blobLock{}
		d.blobLocks[blob] = l
	}
	l.n++
	d.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		d.mu.Lock()
		if l.n--; l.n == 0 {
			delete(d.blobLocks, blob)
		}
		d.mu.Unlock()
	}
}

// isCommitted reports whether blob's block list is committed, in this
// process or (after a restart) in the store; the store is asked once per
// name and process.
func (d *Device) isCommitted(ctx context.Context, blob string) (bool, error) {
	d.mu.Lock()
	sealed, known := d.sealed[blob]
	d.mu.Unlock()
	if known {
		return sealed, nil
	}
	br, err := d.cfg.Store.OpenBlob(ctx, blob)
	if err != nil && !errors.Is(err, ErrBlobNotFound) {
		return false, err
	}
	if err == nil {
		br.Close()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, known := d.sealed[blob]; !known { // a commit meanwhile has the last word
		d.sealed[blob] = err == nil
	}
	return d.sealed[blob], nil
}

// refuseCommitted answers a write or delete of a committed blob with
// Azure's code for an immutable blob (409 BlobImmutableDueToPolicy,
// /rest/api/storageservices/blob-service-error-codes), and a store it
// cannot ask with 500: it fails closed. True means the answer is written.
func (d *Device) refuseCommitted(w http.ResponseWriter, r *http.Request, blob string) bool {
	committed, err := d.isCommitted(r.Context(), blob)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "InternalError", "the vault could not say whether the blob is committed: "+err.Error())
		return true
	}
	if committed {
		d.cfg.Logger.Warn("write to a committed blob refused", "blob", blob, "method", r.Method, "comp", r.URL.Query().Get("comp"))
		writeError(w, http.StatusConflict, "BlobImmutableDueToPolicy", "This operation is not permitted as the blob is immutable due to a policy: a committed backup is write-once.")
		return true
	}
	return false
}

// markCommitted records a successful commit.
func (d *Device) markCommitted(blob string) {
	d.mu.Lock()
	d.sealed[blob] = true
	delete(d.created, blob)
	d.mu.Unlock()
}

// RestoreLeaseID is the lease id every RESTORE proposes (MS "Delete
// backup blob files with active leases").
const RestoreLeaseID = "BAC2BAC2BAC2BAC2BAC2BAC2BAC2BAC2"

// ClearLeases drops the leases on the container's blobs that RESTORE
// could not take over: the coordinator calls it before a restore reads a
// container, so a lease a hostile host took (or any other id) cannot block
// it. Leases with RestoreLeaseID stay: the next RESTORE re-acquires them
// with that id, and another restore running now may hold one.
func (d *Device) ClearLeases(container string) {
	prefix := container + "/"
	d.mu.Lock()
	for b, l := range d.leases {
		if strings.HasPrefix(b, prefix) && !sameLeaseID(l.id, RestoreLeaseID) {
			delete(d.leases, b)
		}
	}
	d.mu.Unlock()
}
