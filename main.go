// Command sqlvault is a self-hosted backup server for Microsoft SQL Server.
//
//	sqlvault serve   run the server (the default command)
//	sqlvault demo    the server plus simulated SQL Server instances
//	sqlvault sqlsim  one simulated SQL Server instance
//	sqlvault token   create, list and revoke API tokens
//	sqlvault user    add, reset, disable and remove portal users
//	sqlvault restore export a restore chain as .bak files with its T-SQL
//	sqlvault vault   list, verify or rebuild the catalog from the vault
//	sqlvault bench   measure the vault's throughput
//	sqlvault version print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

type command struct {
	run  func(ctx context.Context, args []string, stdout io.Writer) error
	help string
}

func commands() map[string]command {
	return map[string]command{
		"serve":   {runServe, "run the backup server"},
		"demo":    {runDemo, "run the server with simulated SQL Server instances and sample databases"},
		"sqlsim":  {runSQLSim, "run one simulated SQL Server instance"},
		"token":   {runToken, "API tokens: token create|list|revoke --data DIR ..."},
		"user":    {runUser, "portal users: user add|passwd|disable|enable|rm|list --data DIR --name NAME"},
		"bench":   {runBench, "measure the vault's throughput per stage and end to end"},
		"restore": {runRestore, "export a restore chain as .bak files: restore --as-files DIR --item ID ..."},
		"verify":  {runVerify, "verify an item's recovery point on a verification instance: verify --item ID [--point-in-time T]"},
		"vault":   {runVault, "the vault on its own: vault list|verify|rebuild-catalog --data DIR"},
		"version": {runVersion, "print the version"},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "sqlvault:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	name := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		name, args = args[0], args[1:]
	}
	if name == "help" || name == "--help" || name == "-h" {
		usage(stdout)
		return nil
	}
	cmd, ok := commands()[name]
	if !ok {
		usage(os.Stderr)
		return fmt.Errorf("unknown command %q", name)
	}
	return cmd.run(ctx, args, stdout)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: sqlvault <command> [flags]\n\ncommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, cmds[n].help)
	}
	fmt.Fprintln(w, "\nRun 'sqlvault <command> -h' for a command's flags.")
}

func runVersion(_ context.Context, _ []string, stdout io.Writer) error {
	fmt.Fprintln(stdout, "sqlvault", version)
	return nil
}

// envOr returns the environment variable's value, or def.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}
