package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/sqlvault/sqlvault/db"
)

func runToken(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: sqlvault token create --data DIR --name NAME [--role admin|operator|reader]")
	}
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	data := fs.String("data", envOr("SQLVAULT_DATA", "sqlvault-data"), "data directory of the server")
	name := fs.String("name", "", "a name for the token, e.g. the script that uses it")
	role := fs.String("role", "operator", "role: admin, operator or reader")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *name == "" {
		return errors.New("--name is required")
	}
	catalog, err := db.Open(ctx, *data)
	if err != nil {
		return err
	}
	defer catalog.Close()
	secret, _, err := catalog.CreateToken(ctx, *name, db.Role(*role))
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, secret)
	return nil
}
