package main

import (
	"context"
	"errors"
	"io"
)

// These commands arrive with their issues (sqlsim: #3).

func runSQLSim(context.Context, []string, io.Writer) error {
	return errors.New("sqlsim is not built into this version yet")
}
