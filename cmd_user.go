package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/sqlvault/sqlvault/accounts"
	"github.com/sqlvault/sqlvault/auth"
	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
)

// stdin is where passwords are read from; tests replace it.
var stdin io.Reader = os.Stdin

const userUsage = `usage: sqlvault user add|passwd|disable|enable|rm|list --data DIR [--name NAME] ...
  add     --name NAME [--role admin|operator|reader] [--random]   the password is read from standard input
  passwd  --name NAME [--random]                                   sets a new password; the user's sessions end
  disable --name NAME, enable --name NAME                          a disabled user cannot sign in
  rm      --name NAME                                              removes the user and the tokens it made
  list`

// runUser manages portal users on the catalog directly, for recovery
// without the portal (e.g. a forgotten admin password). Each change is in
// the audit log as done by cli:OSUSER.
func runUser(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(userUsage)
	}
	sub := args[0]
	fs := flag.NewFlagSet("user "+sub, flag.ContinueOnError)
	data := fs.String("data", envOr("SQLVAULT_DATA", "sqlvault-data"), "data directory of the server")
	name := fs.String("name", "", "the user name")
	role := fs.String("role", "reader", "role: admin, operator or reader")
	random := fs.Bool("random", false, "make a random password and print it instead of reading one")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *name == "" && sub != "list" {
		return errors.New("--name is required\n" + userUsage)
	}
	catalog, err := db.Open(ctx, *data)
	if err != nil {
		return err
	}
	defer catalog.Close()
	svc := accounts.Service{DB: catalog}
	if sub == "list" {
		return listUsers(ctx, catalog, stdout)
	}
	password := func() (string, error) {
		if *random {
			pw := auth.RandomPassword()
			fmt.Fprintln(stdout, pw)
			return pw, nil
		}
		return readPassword()
	}
	var u db.User
	switch sub {
	case "add":
		pw, err := password()
		if err != nil {
			return err
		}
		u, err = svc.AddUser(ctx, *name, pw, db.Role(*role))
		if err != nil {
			return cliErr(err)
		}
		return cliAudit(ctx, catalog, "user.create", u, "role "+string(u.Role))
	case "passwd", "disable", "enable", "rm":
	default:
		return fmt.Errorf("unknown subcommand %q\n%s", sub, userUsage)
	}
	if u, err = catalog.UserByName(ctx, *name); err != nil {
		return fmt.Errorf("user %q: %w", *name, err)
	}
	switch sub {
	case "passwd":
		pw, err := password()
		if err != nil {
			return err
		}
		if _, err := svc.Update(ctx, u.ID, accounts.Change{Password: &pw}); err != nil {
			return cliErr(err)
		}
		return cliAudit(ctx, catalog, "user.password", u, "password reset")
	case "disable", "enable":
		off := sub == "disable"
		if _, err := svc.Update(ctx, u.ID, accounts.Change{Disabled: &off}); err != nil {
			return cliErr(err)
		}
		return cliAudit(ctx, catalog, "user."+sub, u, sub+"d")
	default: // rm
		if _, err := svc.Remove(ctx, u.ID); err != nil {
			return cliErr(err)
		}
		return cliAudit(ctx, catalog, "user.delete", u, "")
	}
}

func listUsers(ctx context.Context, catalog *db.DB, stdout io.Writer) error {
	us, err := catalog.ListUsers(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tROLE\tSTATUS")
	for _, u := range us {
		st := "enabled"
		if u.Disabled {
			st = "disabled"
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\n", u.ID, u.Username, u.Role, st)
	}
	return w.Flush()
}

// readPassword reads one line of standard input (echo is the terminal's
// business: pipe it in, e.g. from a password manager).
func readPassword() (string, error) {
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("give the password on standard input (one line), or use --random")
	}
	return pw, nil
}

// cliErr shows an accounts refusal with its code and action.
func cliErr(err error) error {
	code := engine.CodeOf(err)
	if code == engine.CodeInternal {
		return err
	}
	return fmt.Errorf("%s: %s\n%s", code, engine.MessageOf(err), code.Action())
}

// cliActor names the CLI's user in the audit log; ':' keeps it apart from
// portal user names.
func cliActor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli:" + strconv.Itoa(os.Getuid())
}

func cliAudit(ctx context.Context, catalog *db.DB, action string, u db.User, detail string) error {
	return catalog.RecordAudit(ctx, db.AuditEntry{Actor: cliActor(), Addr: "local", Action: action, TargetType: "user",
		TargetID: strconv.FormatInt(u.ID, 10), Outcome: db.AuditSuccess, Detail: strings.TrimSpace("user " + u.Username + "; " + detail)})
}
