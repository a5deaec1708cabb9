package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// runDemo runs the server with a fixed, printed admin password in a data
// directory it names, so a newcomer can sign in at once.
func runDemo(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	var o serveOptions
	o.register(fs, "127.0.0.1:8080")
	fresh := fs.Bool("fresh", false, "delete the demo data directory and start over")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !isSet(fs, "data") && os.Getenv("SQLVAULT_DATA") == "" {
		o.data = filepath.Join(os.TempDir(), "sqlvault-demo")
	}
	if *fresh {
		if err := os.RemoveAll(o.data); err != nil {
			return err
		}
	}
	if os.Getenv("SQLVAULT_ADMIN_PASSWORD") == "" {
		os.Setenv("SQLVAULT_ADMIN_PASSWORD", "demo")
	}
	log := newLogger(o.logFormat)
	return serve(ctx, o, log, stdout, func(addr string) {
		fmt.Fprintf(stdout, "\nsqlvault demo is running.\n  Portal: http://%s\n  Sign in: admin / %s (a password set in an earlier run still holds)\n  Data:   %s (reused next time; --fresh starts over)\n  Stop:   Ctrl-C\n\n",
			addr, os.Getenv("SQLVAULT_ADMIN_PASSWORD"), o.data)
	})
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
