package sqlsim

import (
	"strings"

	"github.com/sqlvault/sqlvault/sqlsim/tds"
)

// sysPartitions follows sys.partitions
// (learn.microsoft.com/sql/relational-databases/system-catalog-views/sys-partitions-transact-sql):
// one heap partition (index_id 0) per user table, object_id as sys.tables
// numbers it, rows exact here (SQL Server documents it as approximate).
func (x *execCtx) sysPartitions(parts []string) (*rowset, error) {
	dbName := x.s.db
	if len(parts) == 3 {
		dbName = parts[0]
	}
	d, ok := x.s.in.st.Databases[strings.ToLower(dbName)]
	if !ok {
		return nil, sqlErr(208, 16, "Invalid object name 'sys.partitions'.")
	}
	rs := &rowset{cols: []tds.Column{col("partition_id", tds.TypeBigInt), col("object_id", tds.TypeInt), col("index_id", tds.TypeInt),
		col("partition_number", tds.TypeInt), col("rows", tds.TypeBigInt)}}
	for i, n := range tableNames(d) {
		obj := int64(1000 + i)
		rs.rows = append(rs.rows, []any{72057594043000000 + obj*65536, obj, int64(0), int64(1), int64(len(d.Tables[strings.ToLower(n)].Rows))})
	}
	return rs, nil
}
