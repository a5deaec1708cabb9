package vdi

import (
	"crypto/rand"
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

// checkLease enforces Azure's rule: a leased blob is written only with its
// lease id.
func (d *Device) checkLease(w http.ResponseWriter, r *http.Request, blob string) bool {
	d.mu.Lock()
	lease, leased := d.leases[blob]
	d.mu.Unlock()
	got := r.Header.Get("x-ms-lease-id")
	switch {
	case leased && got == "":
		writeError(w, http.StatusPreconditionFailed, "LeaseIdMissing", "There is currently a lease on the blob and no lease ID was specified in the request.")
		return false
	case leased && got != lease:
		writeError(w, http.StatusPreconditionFailed, "LeaseIdMismatchWithBlobOperation", "The lease ID specified did not match the lease ID for the blob.")
		return false
	case !leased && got != "":
		writeError(w, http.StatusPreconditionFailed, "LeaseNotPresentWithBlobOperation", "There is currently no lease on the blob.")
		return false
	}
	return true
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

func (d *Device) putBlock(w http.ResponseWriter, r *http.Request, blob, blockID string) {
	if !validBlockID(blockID) {
		writeError(w, http.StatusBadRequest, "InvalidQueryParameterValue", "the block id is not valid base64 of at most 64 bytes")
		return
	}
	if !d.checkLease(w, r, blob) {
		return
	}
	if r.ContentLength > d.cfg.MaxBlockSize {
		writeError(w, http.StatusRequestEntityTooLarge, "RequestBodyTooLarge", fmt.Sprintf("a block may hold at most %d bytes", d.cfg.MaxBlockSize))
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

func (d *Device) putBlockList(w http.ResponseWriter, r *http.Request, blob string) {
	if !d.checkLease(w, r, blob) {
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
	d.mu.Lock()
	delete(d.created, blob)
	staged := d.blocks[blob]
	delete(d.blocks, blob)
	var committed []listedBlock
	for _, id := range ids {
		committed = append(committed, listedBlock{Name: id, Size: staged[id]})
	}
	d.committed[blob] = committed
	d.mu.Unlock()
	d.cfg.Logger.Info("blob committed", "blob", blob, "blocks", len(ids), "bytes", d.Received(blob))
	w.Header().Set("ETag", etag(d.cfg.Now()))
	w.Header().Set("Last-Modified", d.cfg.Now().UTC().Format(http.TimeFormat))
	w.WriteHeader(http.StatusCreated)
}

// putBlob handles Put Blob. SQL Server sends an empty one to create the
// blob before taking its lease; a non-empty body is stored as one block.
func (d *Device) putBlob(w http.ResponseWriter, r *http.Request, blob string) {
	if t := r.Header.Get("x-ms-blob-type"); t != "" && !strings.EqualFold(t, "BlockBlob") {
		writeError(w, http.StatusBadRequest, "InvalidHeaderValue", "only block blobs are supported, not "+t)
		return
	}
	if !d.checkLease(w, r, blob) {
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, d.cfg.MaxBlockSize+1))
	if err != nil || int64(len(data)) > d.cfg.MaxBlockSize {
		writeError(w, http.StatusRequestEntityTooLarge, "RequestBodyTooLarge", "Put Blob body too large; use blocks")
		return
	}
	if len(data) > 0 {
		id := base64.StdEncoding.EncodeToString([]byte("putblob"))
		if err := d.cfg.Store.PutBlock(r.Context(), blob, id, data); err == nil {
			err = d.cfg.Store.CommitBlob(r.Context(), blob, []string{id})
		}
		if err != nil {
			d.noteStoreError(blob, err)
			writeError(w, http.StatusInternalServerError, "InternalError", err.Error())
			return
		}
	} else {
		d.mu.Lock()
		d.created[blob] = true
		d.mu.Unlock()
	}
	w.Header().Set("ETag", etag(d.cfg.Now()))
	w.WriteHeader(http.StatusCreated)
}

// lease handles Lease Blob; actions are case-insensitive because SQL Server
// spells them "Acquire" and "Release".
func (d *Device) lease(w http.ResponseWriter, r *http.Request, blob string) {
	action := strings.ToLower(r.Header.Get("x-ms-lease-action"))
	d.mu.Lock()
	defer d.mu.Unlock()
	cur, leased := d.leases[blob]
	switch action {
	case "acquire":
		if leased {
			writeError(w, http.StatusConflict, "LeaseAlreadyPresent", "There is already a lease present.")
			return
		}
		id := r.Header.Get("x-ms-proposed-lease-id")
		if id == "" {
			id = newLeaseID()
		}
		d.leases[blob] = id
		w.Header().Set("x-ms-lease-id", id)
		w.WriteHeader(http.StatusCreated)
	case "renew":
		if !leased || r.Header.Get("x-ms-lease-id") != cur {
			writeError(w, http.StatusConflict, "LeaseIdMismatchWithLeaseOperation", "The lease ID specified did not match the lease ID for the blob.")
			return
		}
		w.Header().Set("x-ms-lease-id", cur)
		w.WriteHeader(http.StatusOK)
	case "release":
		if !leased || r.Header.Get("x-ms-lease-id") != cur {
			writeError(w, http.StatusConflict, "LeaseIdMismatchWithLeaseOperation", "The lease ID specified did not match the lease ID for the blob.")
			return
		}
		delete(d.leases, blob)
		w.WriteHeader(http.StatusOK)
	case "change":
		next := r.Header.Get("x-ms-proposed-lease-id")
		if !leased || r.Header.Get("x-ms-lease-id") != cur || next == "" {
			writeError(w, http.StatusConflict, "LeaseIdMismatchWithLeaseOperation", "The lease ID specified did not match the lease ID for the blob.")
			return
		}
		d.leases[blob] = next
		w.Header().Set("x-ms-lease-id", next)
		w.WriteHeader(http.StatusOK)
	case "break":
		delete(d.leases, blob)
		w.Header().Set("x-ms-lease-time", "0")
		w.WriteHeader(http.StatusAccepted)
	default:
		writeError(w, http.StatusBadRequest, "InvalidHeaderValue", fmt.Sprintf("lease action %q is not valid", action))
	}
}

func newLeaseID() string {
	b := make([]byte, 16)
	rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func etag(t time.Time) string { return fmt.Sprintf(`"0x%X"`, t.UnixNano()) }

func (d *Device) getBlob(w http.ResponseWriter, r *http.Request, blob string, head bool) {
	br, err := d.cfg.Store.OpenBlob(r.Context(), blob)
	if errors.Is(err, ErrBlobNotFound) {
		d.mu.Lock()
		created := d.created[blob]
		d.mu.Unlock()
		if !created {
			if head {
				w.Header().Set("x-ms-error-code", "BlobNotFound")
				w.WriteHeader(http.StatusNotFound)
				return
			}
			writeError(w, http.StatusNotFound, "BlobNotFound", "The specified blob does not exist.")
			return
		}
		br = emptyBlob{}
	} else if err != nil {
		writeError(w, http.StatusInternalServerError, "InternalError", err.Error())
		return
	}
	defer br.Close()
	size := br.Size()
	h := w.Header()
	h.Set("x-ms-blob-type", "BlockBlob")
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Type", "application/octet-stream")
	h.Set("ETag", etag(br.ModTime()))
	h.Set("Last-Modified", br.ModTime().UTC().Format(http.TimeFormat))
	d.mu.Lock()
	_, leased := d.leases[blob]
	d.mu.Unlock()
	if leased {
		h.Set("x-ms-lease-status", "locked")
		h.Set("x-ms-lease-state", "leased")
	} else {
		h.Set("x-ms-lease-status", "unlocked")
		h.Set("x-ms-lease-state", "available")
	}
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

func (d *Device) deleteBlob(w http.ResponseWriter, r *http.Request, blob string) {
	if !d.checkLease(w, r, blob) {
		return
	}
	if err := d.cfg.Store.DeleteBlob(r.Context(), blob); err != nil {
		writeError(w, http.StatusInternalServerError, "InternalError", err.Error())
		return
	}
	d.mu.Lock()
	delete(d.created, blob)
	delete(d.blocks, blob)
	delete(d.committed, blob)
	d.mu.Unlock()
	d.cfg.Store.AbortBlob(blob)
	w.WriteHeader(http.StatusAccepted)
}

type emptyBlob struct{}

func (emptyBlob) ReadAt([]byte, int64) (int, error) { return 0, io.EOF }
func (emptyBlob) Size() int64                       { return 0 }
func (emptyBlob) ModTime() time.Time                { return time.Now() }
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
