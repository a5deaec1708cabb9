package auth

import (
	"strings"
	"time"
)

// Throttle decides what failed sign-ins cost, counted three ways so that no
// header can bypass it and nobody can lock a user out from elsewhere:
//
//   - one user name from one address: after FreeAttempts failures that
//     address is refused for that name, the wait doubling up to MaxWait;
//   - one address, any name: after AddrFree failures the address is refused
//     (password spraying over many names);
//   - one user name, any address: after UserFree failures every answer for
//     that name is slowed by a delay doubling up to UserMaxDelay, but never
//     refused, so an attacker elsewhere cannot keep the real user out.
//
// Failures older than Window are forgotten (and their rows deleted).
type Throttle struct {
	FreeAttempts int
	AddrFree     int
	MaxWait      time.Duration
	UserFree     int
	UserMaxDelay time.Duration
	Window       time.Duration
}

// DefaultThrottle: 3 attempts per name and address, 20 per address, then
// waits of 1 s, 2 s, 4 s ... up to 5 min; a name failed 10 times from
// anywhere answers up to 2 s slower; failures are forgotten after 30 min.
var DefaultThrottle = Throttle{FreeAttempts: 3, AddrFree: 20, MaxWait: 5 * time.Minute,
	UserFree: 10, UserMaxDelay: 2 * time.Second, Window: 30 * time.Minute}

// MaxUsernameLen bounds a user name (in characters); longer ones are
// refused before anything is written.
const MaxUsernameLen = 128

// Failure is the count of failures under one key and the time of the last.
type Failure struct {
	N    int
	Last time.Time
}

// Failures are the counts a sign-in is judged by.
type Failures struct{ Pair, Addr, User Failure }

// ThrottleKeys are the catalog keys of the three counts for a user name
// (case-insensitive, as user names are) and a client address.
func ThrottleKeys(name, addr string) (pair, byAddr, byUser string) {
	name = strings.ToLower(name)
	return "pair\x00" + name + "\x00" + addr, "addr\x00" + addr, "user\x00" + name
}

// Refuse returns how much longer attempts from this address for this name
// must be refused; zero lets the attempt proceed.
func (t Throttle) Refuse(f Failures, now time.Time) time.Duration {
	return max(t.Wait(f.Pair.N, f.Pair.Last, now), backoff(t.AddrFree, t.MaxWait, f.Addr, now))
}

// Delay is how long to hold the answer for a name that failed often from
// anywhere: it slows guessing without refusing the real user.
func (t Throttle) Delay(f Failures) time.Duration {
	if t.UserFree <= 0 || f.User.N < t.UserFree {
		return 0
	}
	return doubled(100*time.Millisecond, f.User.N-t.UserFree, t.UserMaxDelay)
}

// Wait returns how much longer to refuse attempts after failures of one
// name from one address, the last at time last, as seen at now.
func (t Throttle) Wait(failures int, last, now time.Time) time.Duration {
	return backoff(t.FreeAttempts, t.MaxWait, Failure{failures, last}, now)
}

// backoff: the first free failures cost nothing, then the wait after the
// last one doubles from one second up to maxWait. free <= 0 disables it.
func backoff(free int, maxWait time.Duration, f Failure, now time.Time) time.Duration {
	if free <= 0 || f.N < free {
		return 0
	}
	d := doubled(time.Second, f.N-free, maxWait)
	if left := f.Last.Add(d).Sub(now); left > 0 {
		return left
	}
	return 0
}

func doubled(base time.Duration, times int, limit time.Duration) time.Duration {
	d := base
	for i := 0; i < times && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}
