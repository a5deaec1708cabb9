package vdi

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Answers clients rely on, as Azure gives them (docs/compatibility.md,
// "The device: requests SQL Server sends"): GUID request ids, one ETag
// per blob, conditional headers, Content-MD5, and Azure's error codes for
// what the device does not do.

// newGUID is a random (version 4) GUID, the form of Azure's request and
// lease ids.
func newGUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// etagOf formats a digest as Azure's quoted 0x... ETag.
func etagOf(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return fmt.Sprintf(`"0x%X"`, h[:8])
}

// unsupportedComps are Blob operations the device knows and does not do:
// append and page blobs, metadata, properties, tiers, snapshots, tags,
// copies, immutability settings.
var unsupportedComps = map[string]bool{"appendblock": true, "seal": true, "page": true, "pagelist": true, "incrementalcopy": true,
	"metadata": true, "properties": true, "tier": true, "snapshot": true, "copy": true, "tags": true, "expiry": true,
	"immutabilitypolicies": true, "legalhold": true, "query": true, "undelete": true, "list": true, "acl": true}

// refuseUnsupported answers requests the device does not serve with
// Azure's codes instead of letting them fall through to Put Blob.
func refuseUnsupported(w http.ResponseWriter, r *http.Request, comp string) bool {
	switch {
	case r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPut && r.Method != http.MethodDelete:
		writeError(w, http.StatusMethodNotAllowed, "UnsupportedHttpVerb", "The resource doesn't support the specified HTTP verb.")
	case r.Header.Get("x-ms-copy-source") != "":
		// Copy Blob, Put Blob From URL, Put Block From URL.
		writeError(w, http.StatusBadRequest, "UnsupportedHeader", "x-ms-copy-source: this device does not copy from URLs.")
	case unsupportedComps[strings.ToLower(comp)]:
		writeError(w, http.StatusBadRequest, "UnsupportedQueryParameter", fmt.Sprintf("comp=%s is not supported by this device", comp))
	case comp != "" && comp != "block" && comp != "blocklist" && comp != "lease":
		writeError(w, http.StatusBadRequest, "InvalidQueryParameterValue", fmt.Sprintf("comp=%s is not a valid value", comp))
	case r.Method == http.MethodPut && comp == "" && !strings.EqualFold(r.Header.Get("x-ms-blob-type"), "BlockBlob"):
		if r.Header.Get("x-ms-blob-type") == "" {
			writeError(w, http.StatusBadRequest, "MissingRequiredHeader", "Put Blob needs x-ms-blob-type.")
		} else {
			writeError(w, http.StatusBadRequest, "InvalidHeaderValue", "only block blobs are supported, not "+r.Header.Get("x-ms-blob-type"))
		}
	default:
		return false
	}
	return true
}

// matchETag reports whether an If-Match / If-None-Match list names etag
// ("*" names any existing blob).
func matchETag(list, etag string) bool {
	for _, e := range strings.Split(list, ",") {
		e = strings.TrimSpace(e)
		if (e == "*" && etag != "") || (e != "" && e == etag) {
			return true
		}
	}
	return false
}

// readConditions checks a read's conditional headers against the blob's
// ETag and time: false means the answer (412 or 304) is written.
func readConditions(w http.ResponseWriter, r *http.Request, etag string, mod time.Time) bool {
	mod = mod.Truncate(time.Second)
	if v := r.Header.Get("If-Match"); v != "" && !matchETag(v, etag) {
		writeError(w, http.StatusPreconditionFailed, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.")
		return false
	}
	if t, err := http.ParseTime(r.Header.Get("If-Unmodified-Since")); err == nil && mod.After(t) {
		writeError(w, http.StatusPreconditionFailed, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.")
		return false
	}
	notModified := false
	if v := r.Header.Get("If-None-Match"); v != "" {
		notModified = matchETag(v, etag)
	} else if t, err := http.ParseTime(r.Header.Get("If-Modified-Since")); err == nil && !mod.After(t) {
		notModified = true
	}
	if notModified {
		w.Header().Set("ETag", etag)
		w.WriteHeader(http.StatusNotModified)
		return false
	}
	return true
}

// writeConditions checks a write's If-Match / If-None-Match against the
// blob's ETag ("" when it does not exist): false means the answer is
// written (412, or 409 BlobAlreadyExists for If-None-Match: *).
func writeConditions(w http.ResponseWriter, r *http.Request, etag string) bool {
	if v := r.Header.Get("If-Match"); v != "" && !matchETag(v, etag) {
		writeError(w, http.StatusPreconditionFailed, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.")
		return false
	}
	if v := r.Header.Get("If-None-Match"); v != "" && matchETag(v, etag) {
		if strings.TrimSpace(v) == "*" {
			writeError(w, http.StatusConflict, "BlobAlreadyExists", "The specified blob already exists.")
		} else {
			writeError(w, http.StatusPreconditionFailed, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.")
		}
		return false
	}
	return true
}

// checkMD5 verifies a Content-MD5 header against the body it came with.
func checkMD5(w http.ResponseWriter, r *http.Request, body []byte) bool {
	v := r.Header.Get("Content-MD5")
	if v == "" {
		return true
	}
	want, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(want) != md5.Size {
		writeError(w, http.StatusBadRequest, "InvalidMd5", "The MD5 value specified in the request is invalid. It must be 128 bits and base64 encoded.")
		return false
	}
	if got := md5.Sum(body); string(got[:]) != string(want) {
		writeError(w, http.StatusBadRequest, "Md5Mismatch", "The MD5 value specified in the request did not match with the MD5 value calculated by the server.")
		return false
	}
	w.Header().Set("Content-MD5", v)
	return true
}
