package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/sqlvault/sqlvault/accounts"
	"github.com/sqlvault/sqlvault/db"
)

const tokenUsage = `usage: sqlvault token create|list|revoke --data DIR ...
  create --name NAME [--role admin|operator|reader] [--expires YYYY-MM-DD]   prints the token, shown only now
  list
  revoke --name NAME | --id ID                                              the token gets 401 from then on`

// runToken manages API tokens on the catalog directly. A token made here
// has no maker user (it outlives any user) and may have any role.
func runToken(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(tokenUsage)
	}
	sub := args[0]
	fs := flag.NewFlagSet("token "+sub, flag.ContinueOnError)
	data := fs.String("data", envOr("SQLVAULT_DATA", "sqlvault-data"), "data directory of the server")
	name := fs.String("name", "", "a name for the token, e.g. the script that uses it")
	role := fs.String("role", "operator", "role: admin, operator or reader")
	expires := fs.String("expires", "", "the day (UTC) the token stops working, YYYY-MM-DD; default never")
	id := fs.Int64("id", 0, "the token's id (revoke)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	catalog, err := db.Open(ctx, *data)
	if err != nil {
		return err
	}
	defer catalog.Close()
	switch sub {
	case "create":
		return createToken(ctx, catalog, *name, db.Role(*role), *expires, stdout)
	case "list":
		return listTokens(ctx, catalog, stdout)
	case "revoke":
		return revokeToken(ctx, catalog, *name, *id)
	}
	return fmt.Errorf("unknown subcommand %q\n%s", sub, tokenUsage)
}

func createToken(ctx context.Context, catalog *db.DB, name string, role db.Role, expires string, stdout io.Writer) error {
	if name == "" {
		return errors.New("--name is required")
	}
	var exp *time.Time
	if expires != "" {
		t, err := time.Parse("2006-01-02", expires)
		if err != nil {
			return fmt.Errorf("--expires %q: want YYYY-MM-DD", expires)
		}
		exp = &t
	}
	by := accounts.Creator{Name: cliActor(), Role: db.RoleAdmin}
	secret, t, err := accounts.Service{DB: catalog}.CreateToken(ctx, by, name, role, exp)
	if err != nil {
		return cliErr(err)
	}
	fmt.Fprintln(stdout, secret)
	return tokenAudit(ctx, catalog, "token.create", t, "role "+string(t.Role))
}

func listTokens(ctx context.Context, catalog *db.DB, stdout io.Writer) error {
	ts, err := catalog.ListTokens(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tROLE\tMADE BY\tEXPIRES\tLAST USED")
	for _, t := range ts {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, t.CreatedBy, when(t.ExpiresAt, "never"), when(t.LastUsedAt, "-"))
	}
	return w.Flush()
}

func when(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.Format(time.RFC3339)
}

func revokeToken(ctx context.Context, catalog *db.DB, name string, id int64) error {
	var t db.Token
	var err error
	switch {
	case id > 0:
		t, err = catalog.TokenByID(ctx, id)
	case name != "":
		t, err = catalog.TokenByName(ctx, name)
	default:
		return errors.New("--name or --id is required")
	}
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	if _, err := (accounts.Service{DB: catalog}).Revoke(ctx, t.ID); err != nil {
		return cliErr(err)
	}
	return tokenAudit(ctx, catalog, "token.revoke", t, "")
}

func tokenAudit(ctx context.Context, catalog *db.DB, action string, t db.Token, detail string) error {
	d := "token " + t.Name
	if detail != "" {
		d += "; " + detail
	}
	return catalog.RecordAudit(ctx, db.AuditEntry{Actor: cliActor(), Addr: "local", Action: action, TargetType: "token",
		TargetID: strconv.FormatInt(t.ID, 10), Outcome: db.AuditSuccess, Detail: d})
}
