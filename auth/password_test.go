package auth

import (
	"strings"
	"testing"
	"time"
)

func TestPasswordHashRoundTrip(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$") || strings.Contains(h, "correct horse") {
		t.Fatalf("hash %q is not an argon2id PHC string", h)
	}
	if ok, err := CheckPassword(h, "correct horse"); !ok || err != nil {
		t.Fatalf("right password refused: %v", err)
	}
	if ok, _ := CheckPassword(h, "correct horsE"); ok {
		t.Fatal("wrong password accepted")
	}
	h2, _ := HashPassword("correct horse")
	if h2 == h {
		t.Fatal("two hashes of one password are equal: salt missing")
	}
	if _, err := CheckPassword("plain", "x"); err == nil {
		t.Fatal("malformed hash accepted")
	}
}

func TestThrottleDoublesAfterFreeAttempts(t *testing.T) {
	th := Throttle{FreeAttempts: 3, MaxWait: 10 * time.Second}
	last := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		failures int
		after    time.Duration
		want     time.Duration
	}{
		{2, 0, 0},
		{3, 0, time.Second},
		{4, 0, 2 * time.Second},
		{5, 500 * time.Millisecond, 3500 * time.Millisecond},
		{9, 0, 10 * time.Second},
		{9, 11 * time.Second, 0},
	}
	for _, c := range cases {
		if got := th.Wait(c.failures, last, last.Add(c.after)); got != c.want {
			t.Errorf("Wait(%d failures, +%v) = %v, want %v", c.failures, c.after, got, c.want)
		}
	}
}

func TestThrottleCountsThreeWays(t *testing.T) {
	th := Throttle{FreeAttempts: 3, AddrFree: 10, MaxWait: time.Minute, UserFree: 5, UserMaxDelay: time.Second}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(n int) Failure { return Failure{N: n, Last: now} }
	cases := []struct {
		name          string
		f             Failures
		refuse, delay time.Duration
	}{
		{"nothing failed", Failures{}, 0, 0},
		{"this name from this address", Failures{Pair: at(3), Addr: at(3), User: at(3)}, time.Second, 0},
		{"spraying names from one address", Failures{Pair: at(1), Addr: at(12), User: at(1)}, 4 * time.Second, 0},
		// Another address hammering the name slows the answer but never refuses.
		{"the name from elsewhere", Failures{User: at(40)}, 0, time.Second},
		{"the name a little from elsewhere", Failures{User: at(6)}, 0, 200 * time.Millisecond},
	}
	for _, c := range cases {
		if got := th.Refuse(c.f, now); got != c.refuse {
			t.Errorf("%s: Refuse = %v, want %v", c.name, got, c.refuse)
		}
		if got := th.Delay(c.f); got != c.delay {
			t.Errorf("%s: Delay = %v, want %v", c.name, got, c.delay)
		}
	}
	p1, a1, u1 := ThrottleKeys("Admin", "10.0.0.1")
	p2, a2, u2 := ThrottleKeys("admin", "10.0.0.2")
	if u1 != u2 || p1 == p2 || a1 == a2 {
		t.Fatalf("keys: user %q/%q must match (names are case-insensitive), pair and addr must differ", u1, u2)
	}
}

// TestGateBoundsConcurrentHashes: with every slot held, the next caller
// waits its time then gets ErrBusy; 100 callers never run more than the
// gate's size at once.
func TestGateBoundsConcurrentHashes(t *testing.T) {
	g := NewGate(2, 10*time.Millisecond)
	hold, held := make(chan struct{}), make(chan struct{}, 2)
	for range 2 {
		go g.Do(t.Context(), func() { held <- struct{}{}; <-hold })
	}
	<-held
	<-held
	if err := g.Do(t.Context(), func() { t.Error("ran without a slot") }); err != ErrBusy {
		t.Fatalf("with every slot held, Do = %v, want ErrBusy", err)
	}
	close(hold)

	g = NewGate(3, time.Minute)
	done := make(chan error)
	for range 100 {
		go func() { done <- g.Do(t.Context(), func() { time.Sleep(time.Millisecond) }) }()
	}
	for range 100 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if g.Peak() > 3 || g.Runs() != 100 {
		t.Fatalf("peak %d at once (want <= 3), %d runs (want 100)", g.Peak(), g.Runs())
	}
}
