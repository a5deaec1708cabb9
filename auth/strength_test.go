package auth

import "testing"

func TestWeakPasswordsAreRefused(t *testing.T) {
	for _, pw := range []string{
		"short",                  // too short
		"Password1234",           // a common word with digits
		"P@ssw0rd2024!",          // swaps and a year
		"qwertyuiop12",           // a keyboard walk
		"123456789012",           // a sequence
		"monkeymonkey",           // doubled
		"iloveyoudragon",         // two common words
		"aaaaaaaaaaaaaaaa",       // one character
		"abababababababab",       // too few characters
		"!!Welcome123!!",         // decorated on both sides
		"SQLSERVER2019$",         // a common one for this product
		"margaret-secret-garden", // contains the user name (below)
	} {
		if why := WeakPassword(pw, "margaret"); why == "" {
			t.Errorf("%q accepted", pw)
		}
	}
	for _, pw := range []string{
		"correct horse battery staple",
		"vX9#kq2!Lm0z",
		"Tuesday lunch at Ruth's?",
		"monkey-dragon-zebra-hat", // common words, but four of them
	} {
		if why := WeakPassword(pw, "margaret"); why != "" {
			t.Errorf("%q refused: %s", pw, why)
		}
	}
}

func TestCommonListIsLoaded(t *testing.T) {
	if len(common) < 300 || !common["password"] || common[""] {
		t.Fatalf("common list has %d entries", len(common))
	}
}
