package main

import (
	"context"
	"errors"
	"io"
)

// These commands arrive with their issues (sqlsim: #3, bench: #4, demo: #9).

func runSQLSim(context.Context, []string, io.Writer) error {
	return errors.New("sqlsim is not built into this version yet")
}

func runBench(context.Context, []string, io.Writer) error {
	return errors.New("bench is not built into this version yet")
}
