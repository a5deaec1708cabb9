package vdi

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Leases follow Azure's state machine (/rest/api/storageservices/lease-blob,
// "Remarks": outcomes by lease state), with the device clock cfg.Now:
// a finite lease (15-60 s) expires, an infinite one (-1) lasts until it is
// released or broken; acquiring again with the current id renews it, which
// is how a RESTORE proposing BAC2BAC2... after a crashed one gets in.

type leaseState int

const (
	leaseAvailable leaseState = iota
	leaseLeased
	leaseExpired
	leaseBreaking
	leaseBroken
)

var leaseStateNames = [...]string{"available", "leased", "expired", "breaking", "broken"}

// lease is one blob's lease; the device keeps them in memory only.
type lease struct {
	id       string
	infinite bool
	duration time.Duration // of a finite lease, for Renew
	until    time.Time     // end of a finite lease, or of the break period
	breaking bool          // Break was asked: until is when it is broken
}

func (l *lease) state(now time.Time) leaseState {
	switch {
	case l == nil:
		return leaseAvailable
	case l.breaking && now.Before(l.until):
		return leaseBreaking
	case l.breaking:
		return leaseBroken
	case !l.infinite && !now.Before(l.until):
		return leaseExpired
	}
	return leaseLeased
}

// holds reports whether the lease is active (Leased or Breaking).
func (s leaseState) holds() bool { return s == leaseLeased || s == leaseBreaking }

// sameLeaseID compares lease ids as GUIDs: case, dashes and braces do not
// matter (BAC2BAC2BAC2BAC2BAC2BAC2BAC2BAC2 is a GUID without dashes).
func sameLeaseID(a, b string) bool {
	return a != "" && normLeaseID(a) == normLeaseID(b)
}

func normLeaseID(s string) string {
	return strings.ToLower(strings.NewReplacer("-", "", "{", "", "}", "").Replace(s))
}

// validLeaseID accepts the GUID forms Azure does.
func validLeaseID(s string) bool {
	n := normLeaseID(s)
	if len(n) != 32 || (len(s) != 32 && len(s) != 36 && len(s) != 38) {
		return false
	}
	for _, c := range n {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// leaseDuration reads x-ms-lease-duration: -1 or 15..60 seconds.
func leaseDuration(h string) (infinite bool, d time.Duration, ok bool) {
	n, err := strconv.Atoi(strings.TrimSpace(h))
	switch {
	case err != nil:
		return false, 0, false
	case n == -1:
		return true, 0, true
	case n >= 15 && n <= 60:
		return false, time.Duration(n) * time.Second, true
	}
	return false, 0, false
}

// leaseReply is what a lease operation answers: an error code or the
// status and headers of success.
type leaseReply struct {
	status    int
	code, msg string
	id        string // x-ms-lease-id to return
	leaseTime string // x-ms-lease-time (Break)
}

func leaseFail(status int, code, msg string) leaseReply {
	return leaseReply{status: status, code: code, msg: msg}
}

var (
	errLeasePresent   = leaseFail(http.StatusConflict, "LeaseAlreadyPresent", "There is already a lease present.")
	errLeaseMismatch  = leaseFail(http.StatusConflict, "LeaseIdMismatchWithLeaseOperation", "The lease ID specified did not match the lease ID for the blob.")
	errLeaseNone      = leaseFail(http.StatusConflict, "LeaseNotPresentWithLeaseOperation", "There is currently no lease on the blob.")
	errLeaseBreaking  = leaseFail(http.StatusConflict, "LeaseIsBreakingAndCannotBeAcquired", "There is already a breaking lease present.")
	errLeaseBreakingC = leaseFail(http.StatusConflict, "LeaseIsBreakingAndCannotBeChanged", "The lease is breaking and cannot be changed.")
	errLeaseBroken    = leaseFail(http.StatusConflict, "LeaseIsBrokenAndCannotBeRenewed", "The lease has been broken and cannot be renewed.")
)

// leaseAction applies one Lease Blob request to cur (nil: no lease) at
// now, returning the lease to keep (nil: none) and the reply. h holds the
// request's headers; action is lower case.
func leaseAction(cur *lease, action string, h http.Header, now time.Time) (*lease, leaseReply) {
	st := cur.state(now)
	given := h.Get("x-ms-lease-id")
	proposed := h.Get("x-ms-proposed-lease-id")
	if proposed != "" && !validLeaseID(proposed) {
		return cur, leaseFail(http.StatusBadRequest, "InvalidHeaderValue", "x-ms-proposed-lease-id must be a GUID")
	}
	switch action {
	case "acquire":
		infinite, d, ok := leaseDuration(h.Get("x-ms-lease-duration"))
		if !ok {
			return cur, leaseFail(http.StatusBadRequest, "InvalidHeaderValue", "x-ms-lease-duration must be -1 or 15 to 60")
		}
		switch {
		case st == leaseBreaking:
			return cur, errLeaseBreaking
		case st == leaseLeased && !sameLeaseID(proposed, cur.id):
			return cur, errLeasePresent
		}
		id := proposed
		if id == "" {
			id = newGUID()
		}
		return &lease{id: id, infinite: infinite, duration: d, until: now.Add(d)}, leaseReply{status: http.StatusCreated, id: id}
	case "renew":
		switch {
		case st == leaseAvailable:
			return cur, errLeaseNone
		case !sameLeaseID(given, cur.id):
			return cur, errLeaseMismatch
		case st == leaseBreaking || st == leaseBroken:
			return cur, errLeaseBroken
		}
		return renewed(cur, now), leaseReply{status: http.StatusOK, id: cur.id}
	case "change":
		switch {
		case proposed == "":
			return cur, leaseFail(http.StatusBadRequest, "MissingRequiredHeader", "x-ms-proposed-lease-id is required to change a lease")
		case st == leaseAvailable || st == leaseExpired || st == leaseBroken:
			return cur, errLeaseNone
		case st == leaseBreaking:
			return cur, errLeaseBreakingC
		case !sameLeaseID(given, cur.id) && !sameLeaseID(proposed, cur.id):
			return cur, errLeaseMismatch
		}
		next := *cur
		next.id = proposed
		return &next, leaseReply{status: http.StatusOK, id: proposed}
	case "release":
		switch {
		case st == leaseAvailable:
			return cur, errLeaseNone
		case !sameLeaseID(given, cur.id):
			return cur, errLeaseMismatch
		}
		return nil, leaseReply{status: http.StatusOK}
	case "break":
		return breakLease(cur, st, h.Get("x-ms-lease-break-period"), now)
	}
	return cur, leaseFail(http.StatusBadRequest, "InvalidHeaderValue", "x-ms-lease-action must be acquire, renew, change, release or break")
}

// renewed restarts a lease's clock for the duration it was taken with.
func renewed(cur *lease, now time.Time) *lease {
	next := *cur
	next.until = now.Add(cur.duration)
	return &next
}

// breakLease ends a lease after a break period (0-60 s; by default what is
// left of a finite lease, 0 for an infinite one). A Breaking lease's
// period only shortens; a Broken or Expired one becomes Broken at once.
func breakLease(cur *lease, st leaseState, period string, now time.Time) (*lease, leaseReply) {
	if st == leaseAvailable {
		return cur, errLeaseNone
	}
	left := time.Duration(0)
	switch st {
	case leaseLeased:
		if !cur.infinite {
			left = cur.until.Sub(now)
		}
	case leaseBreaking:
		left = cur.until.Sub(now)
	}
	if period != "" && st.holds() {
		n, err := strconv.Atoi(strings.TrimSpace(period))
		if err != nil || n < 0 || n > 60 {
			return cur, leaseFail(http.StatusBadRequest, "InvalidHeaderValue", "x-ms-lease-break-period must be 0 to 60")
		}
		left = min(left, time.Duration(n)*time.Second)
		if st == leaseLeased && cur.infinite {
			left = time.Duration(n) * time.Second
		}
	}
	next := *cur
	next.breaking, next.until = true, now.Add(left)
	secs := int((left + time.Second - 1) / time.Second)
	return &next, leaseReply{status: http.StatusAccepted, leaseTime: strconv.Itoa(secs)}
}
