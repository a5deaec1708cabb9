package web

import (
	"context"
	"testing"
)

// BenchmarkBigCatalogHealthCheck times the coordinator's minute health
// check (RPO gauges and alerts, stored health) over the big catalog:
//
//	SQLVAULT_BENCH_ITEMS=10000 go test ./web -run '^$' -bench BigCatalogHealthCheck -benchtime 5x
func BenchmarkBigCatalogHealthCheck(b *testing.B) {
	dir, _ := seedBigCatalog(b)
	ts := newBigServer(b, dir)
	ctx := context.Background()
	ts.coord.CheckHealth(ctx) // the first check raises the RPO alerts; later ones find them raised
	for b.Loop() {
		ts.coord.CheckHealth(ctx)
	}
}
