package auth

import (
	_ "embed"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MinPasswordLen is the shortest password accepted, in characters.
const MinPasswordLen = 12

// maxPasswordLen bounds what is hashed.
const maxPasswordLen = 1024

//go:embed common-passwords.txt
var commonText string

// common is the set of common passwords and stems.
var common = func() map[string]bool {
	m := map[string]bool{}
	for _, l := range strings.Split(commonText, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			m[l] = true
		}
	}
	return m
}()

// WeakPassword says why password is too weak, or "" if it is not: it must
// have at least MinPasswordLen characters and not be a common password, a
// common one dressed up (digits or symbols around it, letter-for-digit
// swaps, doubled, two joined), a run of too few distinct characters, or
// contain the user's own name.
func WeakPassword(password, username string) string {
	n := utf8.RuneCountInString(password)
	switch {
	case n < MinPasswordLen:
		return fmt.Sprintf("must have at least %d characters (it has %d)", MinPasswordLen, n)
	case len(password) > maxPasswordLen:
		return fmt.Sprintf("must have at most %d bytes", maxPasswordLen)
	case distinct(password) < 5:
		return "uses too few different characters"
	}
	lower := strings.ToLower(password)
	if u := strings.ToLower(strings.TrimSpace(username)); len(u) >= 3 && strings.Contains(lower, u) {
		return "must not contain the user name"
	}
	if isCommon(lower) {
		return "is one of the most common passwords (or one dressed up with digits, symbols or repetition)"
	}
	return ""
}

// decoration is what people put around a common word.
const decoration = "0123456789!@#$%^&*?.,_-+= "

var unleet = strings.NewReplacer("0", "o", "1", "i", "3", "e", "4", "a", "@", "a", "$", "s", "5", "s", "7", "t", "!", "i")

func isCommon(lower string) bool {
	if common[lower] || isSequence(lower) {
		return true
	}
	core := strings.Trim(lower, decoration)
	if core == "" {
		return isRepeat(lower) // all digits and symbols: only a pattern is common
	}
	for _, c := range []string{core, unleet.Replace(core)} {
		if common[c] || isRepeat(c) || isPair(c) {
			return true
		}
	}
	return false
}

// isRepeat reports whether s is one shorter unit repeated, e.g. "abcabcabc".
func isRepeat(s string) bool {
	for n := 1; n <= len(s)/2; n++ {
		if len(s)%n == 0 && strings.Repeat(s[:n], len(s)/n) == s {
			return true
		}
	}
	return false
}

// isPair reports whether s is two common words joined, or one doubled.
func isPair(s string) bool {
	for i := 1; i < len(s); i++ {
		if common[s[:i]] && common[strings.Trim(s[i:], decoration)] {
			return true
		}
	}
	return false
}

// isSequence reports whether each character follows the last by the same
// step of one, as in "1234567890123" or "zyxwvutsrqpo".
func isSequence(s string) bool {
	if len(s) < 3 {
		return false
	}
	step := int(s[1]) - int(s[0])
	if step != 1 && step != -1 && !(s[0] == '9' && s[1] == '0') && !(s[0] == '0' && s[1] == '9') {
		return false
	}
	for i := 1; i < len(s); i++ {
		d := int(s[i]) - int(s[i-1])
		wrap := (s[i-1] == '9' && s[i] == '0' && step == 1) || (s[i-1] == '0' && s[i] == '9' && step == -1)
		if d != step && !wrap {
			return false
		}
	}
	return true
}

func distinct(s string) int {
	seen := map[rune]bool{}
	for _, r := range s {
		seen[r] = true
	}
	return len(seen)
}
