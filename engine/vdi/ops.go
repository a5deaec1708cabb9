package vdi

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// writeError answers in Azure's error format: the code in the body and in
// x-ms-error-code, which SQL Server copies into its error 3201 message.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("x-ms-error-code", code)
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`,
		xmlEscape(code), xmlEscape(msg))
}

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// checkLease enforces Azure's lease rules on a blob operation: an active
// lease (Leased or Breaking) is written only with its id; reads need no
// id, but one given must be the active lease's; an id naming a lease that
// expired or was broken is LeaseLost.
func (d *Device) checkLease(w http.ResponseWriter, r *http.Request, blob string, write bool) bool {
	got := r.Header.Get("x-ms-lease-id")
	d.mu.Lock()
	l := d.leases[blob]
	st := l.state(d.cfg.Now())
	d.mu.Unlock()
	fail := func(code, msg string) bool {
		writeError(w, http.StatusPreconditionFailed, code, msg)
		return false
	}
	switch {
	case got == "" && st.holds() && write:
		return fail("LeaseIdMissing", "There is currently a lease on the blob and no lease ID was specified in the request.")
	case got == "":
		return true
	case st.holds() && sameLeaseID(got, l.id):
		return true
	case st.holds():
		return fail("LeaseIdMismatchWithBlobOperation", "The lease ID specified did not match the lease ID for the blob.")
	case l != nil && sameLeaseID(got, l.id):
		return fail("LeaseLost", "A lease ID was specified, but the lease for the blob has expired or was broken.")
	}
	return fail("LeaseNotPresentWithBlobOperation", "There is currently no lease on the blob.")
}

// validBlockID checks a block id as Azure does: base64, at most 64 bytes
// decoded.
func validBlockID(id string) bool {
	raw, err := base64.StdEncoding.DecodeString(id)
	return id != "" && err == nil && len(raw) <= 64
}

var errTooLarge = errors.New("body larger than allowed")

// blockBufs recycles the buffers of 4 MiB blocks, SQL Server's usual size.
var blockBufs = sync.Pool{New: func() any { b := make([]byte, 4<<20); return &b }}

// readBlock reads a request body of at most limit bytes into one buffer
// sized from Content-Length (no doubling and copying as io.ReadAll does).
// The vault reads it only during PutBlock; release returns it.
func readBlock(r *http.Request, limit int64) ([]byte, func(), error) {
	n := r.ContentLength
	if n > limit {
		return nil, func() {}, errTooLarge
	}
	if n < 0 { // chunked: read up to the limit
		data, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		if err == nil && int64(len(data)) > limit {
			err = errTooLarge
		}
		return data, func() {}, err
	}
	var buf []byte
	release := func() {}
	if n <= 4<<20 {
		p := blockBufs.Get().(*[]byte)
		buf, release = (*p)[:n], func() { blockBufs.Put(p) }
	} else {
		buf = make([]byte, n)
	}
	if _, err := io.ReadFull(r.Body, buf); err != nil {
		return nil, release, fmt.Errorf("the body is shorter than Content-Length: %w", err)
	}
	if m, _ := r.Body.Read(make([]byte, 1)); m > 0 {
		return nil, release, errors.New("the body is longer than Content-Length")
	}
	return buf, release, nil
}

// maxUncommitted is Azure's limit of uncommitted blocks per blob.
const maxUncommitted = 100_000

func (d *Device) putBlock(w http.ResponseWriter, r *http.Request, blob, blockID string) {
	if !validBlockID(blockID) {
		writeError(w, http.StatusBadRequest, "InvalidQueryParameterValue", "the block id is not valid base64 of at most 64 bytes")
		return
	}
	if d.refuseCommitted(w, r, blob) || !d.checkLease(w, r, blob, true) {
		return
	}
	if r.ContentLength > d.cfg.MaxBlockSize {
		writeError(w, http.StatusRequestEntityTooLarge, "RequestBodyTooLarge", fmt.Sprintf("a block may hold at most %d bytes", d.cfg.MaxBlockSize))
		return
	}
	d.mu.Lock()
	full := len(d.blocks[blob]) >= maxUncommitted
	d.mu.Unlock()
	if full {
		writeError(w, http.StatusConflict, "BlockCountExceedsLimit", "The uncommitted block count cannot exceed the maximum limit of 100,000 blocks.")
		return
	}
	data, release, err := readBlock(r, d.cfg.MaxBlockSize)
	defer release()
	if err != nil {
		if errors.Is(err, errTooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, "RequestBodyTooLarge", "the block is too large")
		} else {
			writeError(w, http.StatusBadRequest, "InvalidInput", "reading the block failed: "+err.Error())
		}
		return
	}
	if !checkMD5(w, r, data) {
		return
	}
	if err := d.cfg.Store.PutBlock(r.Context(), blob, blockID, data); err != nil {
		d.noteStoreError(blob, err)
		d.cfg.Logger.Error("store block", "blob", blob, "err", err)
		writeError(w, http.StatusInternalServerError, "InternalError", "the vault could not store the block: "+err.Error())
		return
	}
	d.addReceived(blob, int64(len(data)))
	d.mu.Lock()
	if d.blocks[blob] == nil {
		d.blocks[blob] = map[string]int64{}
	}
	d.blocks[blob][blockID] = int64(len(data))
	d.mu.Unlock()
	w.Header().Set("x-ms-request-server-encrypted", "true")
	w.WriteHeader(http.StatusCreated)
}

// createdETag is the ETag of the empty blob Put Blob made at t.
func createdETag(blob string, t time.Time) string {
	return etagOf("created", blob, t.UTC().Format(time.RFC3339Nano))
}

// uncommittedETag is the ETag of an uncommitted name: the empty blob Put
// Blob created, or "" when there is none.
func (d *Device) uncommittedETag(blob string) string {
	d.mu.Lock()
	t, ok := d.created[blob]
	d.mu.Unlock()
	if !ok {
		return ""
	}
	return createdETag(blob, t)
}

// committedHeaders sets the ETag and Last-Modified of a just committed blob.
func (d *Device) committedHeaders(w http.ResponseWriter, r *http.Request, blob string) {
	if br, err := d.cfg.Store.OpenBlob(r.Context(), blob); err == nil {
		w.Header().Set("ETag", br.ETag())
		w.Header().Set("Last-Modified", br.ModTime().UTC().Format(http.TimeFormat))
		br.Close()
	}
}

func (d *Device) putBlockList(w http.ResponseWriter, r *http.Request, blob string) {
	defer d.lockBlob(blob)()
	if d.refuseCommitted(w, r, blob) || !writeConditions(w, r, d.uncommittedETag(blob)) || !d.checkLease(w, r, blob, true) {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBlockListBody+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "InvalidInput", err.Error())
		return
	}
	if len(body) > maxBlockListBody {
		writeError(w, http.StatusRequestEntityTooLarge, "RequestBodyTooLarge", "the block list body is larger than the device accepts")
		return
	}
	if !checkMD5(w, r, body) {
		return
	}
	ids, err := ParseBlockList(body)
	if errors.Is(err, errBlockListTooLong) {
		writeError(w, http.StatusBadRequest, "BlockListTooLong", err.Error())
		return
	}
	if err != nil {
		d.cfg.Logger.Warn("unreadable block list", "blob", blob, "bytes", len(body), "head", hex.EncodeToString(body[:min(64, len(body))]), "err", err)
		writeError(w, http.StatusBadRequest, "InvalidXmlDocument", "XML specified is not syntactically valid: "+err.Error())
		return
	}
	if err := d.cfg.Store.CommitBlob(r.Context(), blob, ids); err != nil {
		d.noteStoreError(blob, err)
		writeError(w, http.StatusBadRequest, "InvalidBlockList", err.Error())
		return
	}
	d.markCommitted(blob)
	d.mu.Lock()
	staged := d.blocks[blob]
	delete(d.blocks, blob)
	var committed []listedBlock
	for _, id := range ids {
		committed = append(committed, listedBlock{Name: id, Size: staged[id]})
	}
	d.committed[blob] = committed
	d.mu.Unlock()
	d.cfg.Logger.Info("blob committed", "blob", blob, "blocks", len(ids), "bytes", d.Received(blob))
	d.committedHeaders(w, r, blob)
	w.WriteHeader(http.StatusCreated)
}

// putBlob handles Put Blob. SQL Server sends an empty one to create the
// blob before taking its lease; a non-empty body is stored as one block
// and committed.
func (d *Device) putBlob(w http.ResponseWriter, r *http.Request, blob string) {
	defer d.lockBlob(blob)()
	if d.refuseCommitted(w, r, blob) || !writeConditions(w, r, d.uncommittedETag(blob)) || !d.checkLease(w, r, blob, true) {
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, d.cfg.MaxBlockSize+1))
	if err != nil || int64(len(data)) > d.cfg.MaxBlockSize {
		writeError(w, http.StatusRequestEntityTooLarge, "RequestBodyTooLarge", "Put Blob body too large; use blocks")
		return
	}
	if !checkMD5(w, r, data) {
		return
	}
	if len(data) == 0 {
		now := d.cfg.Now()
		d.mu.Lock()
		d.created[blob] = now
		d.mu.Unlock()
		w.Header().Set("ETag", createdETag(blob, now))
		w.Header().Set("Last-Modified", now.UTC().Format(http.TimeFormat))
		w.WriteHeader(http.StatusCreated)
		return
	}
	id := base64.StdEncoding.EncodeToString([]byte("putblob"))
	if err := d.cfg.Store.PutBlock(r.Context(), blob, id, data); err == nil {
		err = d.cfg.Store.CommitBlob(r.Context(), blob, []string{id})
	}
	if err != nil {
		d.noteStoreError(blob, err)
		writeError(w, http.StatusInternalServerError, "InternalError", err.Error())
		return
	}
	d.markCommitted(blob)
	d.mu.Lock()
	d.committed[blob] = []listedBlock{{Name: id, Size: int64(len(data))}}
	d.mu.Unlock()
	d.committedHeaders(w, r, blob)
	w.WriteHeader(http.StatusCreated)
}

// lease handles Lease Blob (lease.go has the state machine); actions are
// case-insensitive because SQL Server spells them "Acquire" and "Release".
// A committed blob may be leased, as RESTORE does, but its lease is never
// broken through the device: breaking it would only serve to fail a
// restore that holds it.
func (d *Device) lease(w http.ResponseWriter, r *http.Request, blob, action string) {
	committed, err := d.isCommitted(r.Context(), blob)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "InternalError", err.Error())
		return
	}
	if !committed && d.uncommittedETag(blob) == "" {
		writeError(w, http.StatusNotFound, "BlobNotFound", "The specified blob does not exist.")
		return
	}
	if committed && action == "break" {
		writeError(w, http.StatusConflict, "BlobImmutableDueToPolicy", "This operation is not permitted as the blob is immutable due to a policy: the lease of a committed backup is not broken.")
		return
	}
	d.mu.Lock()
	next, rep := leaseAction(d.leases[blob], action, r.Header, d.cfg.Now())
	if rep.code == "" {
		if next == nil {
			delete(d.leases, blob)
		} else {
			d.leases[blob] = next
		}
	}
	d.mu.Unlock()
	if rep.code != "" {
		writeError(w, rep.status, rep.code, rep.msg)
		return
	}
	if rep.id != "" {
		w.Header().Set("x-ms-lease-id", rep.id)
	}
	if rep.leaseTime != "" {
		w.Header().Set("x-ms-lease-time", rep.leaseTime)
	}
	w.WriteHeader(rep.status)
}

// leaseHeaders describes the blob's lease as Get Blob Properties does.
func (d *Device) leaseHeaders(h http.Header, blob string) {
	d.mu.Lock()
	l := d.leases[blob]
	st := l.state(d.cfg.Now())
	d.mu.Unlock()
	h.Set("x-ms-lease-state", leaseStateNames[st])
	if st.holds() {
		h.Set("x-ms-lease-status", "locked")
	} else {
		h.Set("x-ms-lease-status", "unlocked")
	}
	if st == leaseLeased && l.infinite {
		h.Set("x-ms-lease-duration", "infinite")
	} else if st == leaseLeased {
		h.Set("x-ms-lease-duration", "fixed")
	}
}

// openCurrent opens the blob readers see: the committed one, or the empty
// blob Put Blob created; ErrBlobNotFound when there is neither.
func (d *Device) openCurrent(r *http.Request, blob string) (BlobReader, error) {
	br, err := d.cfg.Store.OpenBlob(r.Context(), blob)
	if !errors.Is(err, ErrBlobNotFound) {
		return br, err
	}
	d.mu.Lock()
	t, created := d.created[blob]
	d.mu.Unlock()
	if !created {
		return nil, ErrBlobNotFound
	}
	return emptyBlob{etag: createdETag(blob, t), mod: t}, nil
}

func (d *Device) getBlob(w http.ResponseWriter, r *http.Request, blob string, head bool) {
	br, err := d.openCurrent(r, blob)
	if errors.Is(err, ErrBlobNotFound) {
		if head {
			w.Header().Set("x-ms-error-code", "BlobNotFound")
			w.WriteHeader(http.StatusNotFound)
			return
		}
		writeError(w, http.StatusNotFound, "BlobNotFound", "The specified blob does not exist.")
		return
	} else if err != nil {
		writeError(w, http.StatusInternalServerError, "InternalError", err.Error())
		return
	}
	defer br.Close()
	etag := d.etags.of(blob, br)
	if !d.checkLease(w, r, blob, false) || !readConditions(w, r, etag, br.ModTime()) {
		return
	}
	size := br.Size()
	h := w.Header()
	h.Set("x-ms-blob-type", "BlockBlob")
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Type", "application/octet-stream")
	h.Set("ETag", etag)
	h.Set("Last-Modified", br.ModTime().UTC().Format(http.TimeFormat))
	d.leaseHeaders(h, blob)
	start, end := int64(0), size-1
	status := http.StatusOK
	if rg := cmpOr(r.Header.Get("x-ms-range"), r.Header.Get("Range")); rg != "" && !head {
		s, e, ok := parseRange(rg, size)
		if !ok {
			h.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
			writeError(w, http.StatusRequestedRangeNotSatisfiable, "InvalidRange", "The range specified is invalid for the current size of the resource.")
			return
		}
		start, end, status = s, e, http.StatusPartialContent
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", s, e, size))
	}
	h.Set("Content-Length", strconv.FormatInt(end-start+1, 10))
	w.WriteHeader(status)
	if head || size == 0 {
		return
	}
	if _, err := io.Copy(w, io.NewSectionReader(br, start, end-start+1)); err != nil {
		d.cfg.Logger.Warn("serving blob", "blob", blob, "err", err)
	}
}

// parseRange reads "bytes=a-b" or "bytes=a-".
func parseRange(s string, size int64) (int64, int64, bool) {
	s, ok := strings.CutPrefix(strings.TrimSpace(s), "bytes=")
	if !ok || strings.Contains(s, ",") {
		return 0, 0, false
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil || start < 0 || start >= size {
		return 0, 0, false
	}
	end := size - 1
	if b != "" {
		e, err := strconv.ParseInt(b, 10, 64)
		if err != nil || e < start {
			return 0, 0, false
		}
		end = min(e, size-1)
	}
	return start, end, true
}

// deleteBlob deletes an uncommitted blob (a failed backup's, as SQL
// Server cleans up); a committed one is refused by the write-once rule.
func (d *Device) deleteBlob(w http.ResponseWriter, r *http.Request, blob string) {
	defer d.lockBlob(blob)()
	if d.refuseCommitted(w, r, blob) {
		return
	}
	d.mu.Lock()
	_, created := d.created[blob]
	exists := created || d.blocks[blob] != nil
	d.mu.Unlock()
	if !exists {
		writeError(w, http.StatusNotFound, "BlobNotFound", "The specified blob does not exist.")
		return
	}
	if !writeConditions(w, r, d.uncommittedETag(blob)) || !d.checkLease(w, r, blob, true) {
		return
	}
	if err := d.cfg.Store.DeleteBlob(r.Context(), blob); err != nil {
		writeError(w, http.StatusInternalServerError, "InternalError", err.Error())
		return
	}
	d.mu.Lock()
	delete(d.created, blob)
	delete(d.blocks, blob)
	delete(d.leases, blob)
	d.mu.Unlock()
	d.cfg.Store.AbortBlob(blob)
	w.WriteHeader(http.StatusAccepted)
}

// emptyBlob is what Put Blob created before any block list is committed.
type emptyBlob struct {
	etag string
	mod  time.Time
}

func (emptyBlob) ReadAt([]byte, int64) (int, error) { return 0, io.EOF }
func (emptyBlob) Size() int64                       { return 0 }
func (b emptyBlob) ModTime() time.Time              { return b.mod }
func (b emptyBlob) ETag() string                    { return b.etag }
func (emptyBlob) Close() error                      { return nil }

type listedBlock struct {
	Name string `xml:"Name"`
	Size int64  `xml:"Size"`
}

type blockListAnswer struct {
	XMLName     xml.Name      `xml:"BlockList"`
	Committed   []listedBlock `xml:"CommittedBlocks>Block"`
	Uncommitted []listedBlock `xml:"UncommittedBlocks>Block"`
}

// getBlockList answers Get Block List from what this process saw: the
// blocks staged since it started and the lists it committed.
func (d *Device) getBlockList(w http.ResponseWriter, r *http.Request, blob string) {
	which := strings.ToLower(cmpOr(r.URL.Query().Get("blocklisttype"), "committed"))
	if which != "committed" && which != "uncommitted" && which != "all" {
		writeError(w, http.StatusBadRequest, "InvalidQueryParameterValue", "blocklisttype must be committed, uncommitted or all")
		return
	}
	var ans blockListAnswer
	d.mu.Lock()
	committed, known := d.committed[blob]
	staged := d.blocks[blob]
	if which != "uncommitted" {
		ans.Committed = append(ans.Committed, committed...)
	}
	if which != "committed" {
		for id, n := range staged {
			ans.Uncommitted = append(ans.Uncommitted, listedBlock{Name: id, Size: n})
		}
	}
	d.mu.Unlock()
	if !known && staged == nil {
		if _, err := d.cfg.Store.OpenBlob(r.Context(), blob); err != nil {
			writeError(w, http.StatusNotFound, "BlobNotFound", "The specified blob does not exist.")
			return
		}
	}
	out, _ := xml.Marshal(ans)
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(xml.Header))
	w.Write(out)
}
