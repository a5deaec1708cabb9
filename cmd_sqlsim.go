package main

import (
	"context"
	"io"

	"github.com/sqlvault/sqlvault/sqlsim"
)

// runSQLSim runs one simulated SQL Server instance.
func runSQLSim(ctx context.Context, args []string, stdout io.Writer) error {
	return sqlsim.Main(ctx, args, stdout)
}
