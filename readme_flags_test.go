package main

import (
	"flag"
	"os"
	"strings"
	"testing"
)

// Every flag of serve is in the README's table, so an operator reading it
// learns each knob, the log slots among them.
func TestREADMEListsEveryServeFlag(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var o serveOptions
	o.register(fs, "127.0.0.1:8080")
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(string(readme), "`--"+f.Name+"`") {
			t.Errorf("README.md does not list serve's --%s (%s)", f.Name, f.Usage)
		}
	})
}
