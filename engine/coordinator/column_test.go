package coordinator_test

import (
	"context"
	"database/sql"
	"testing"
)

// column runs a query of one column on conn and answers its values.
func column[T any](t testing.TB, ctx context.Context, conn *sql.DB, query string) []T {
	t.Helper()
	rows, err := conn.QueryContext(ctx, query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
