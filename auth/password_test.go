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
