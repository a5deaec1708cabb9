package tds

import (
	"fmt"
	"testing"
)

// BenchmarkRows measures result streaming end to end: the server encodes
// 10,000 two-column rows, go-mssqldb decodes them.
func BenchmarkRows(b *testing.B) {
	for _, mode := range []struct {
		name, query string
		tls         bool
	}{
		{"plaintext", "encrypt=disable&packet+size=32767", false},
		{"tls", "encrypt=true&TrustServerCertificate=true&packet+size=32767", true},
	} {
		b.Run(mode.name, func(b *testing.B) {
			ts := startServer(b, mode.tls)
			db := ts.open(b, mode.query)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rows, err := db.Query("rows 10000")
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for rows.Next() {
					var id int64
					var s string
					if err := rows.Scan(&id, &s); err != nil {
						b.Fatal(err)
					}
					n++
				}
				rows.Close()
				if n != 10000 {
					b.Fatal(fmt.Sprint("rows: ", n, rows.Err()))
				}
			}
			b.ReportMetric(float64(b.N*10000)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
