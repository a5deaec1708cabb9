package mssql

import "strings"

// QuoteName quotes an identifier as T-SQL's QUOTENAME does: brackets
// around it, a closing bracket doubled. Database names may hold anything.
func QuoteName(name string) string {
	return "[" + strings.ReplaceAll(name, "]", "]]") + "]"
}

// QuoteString makes an N'…' Unicode literal with quotes doubled, for the
// places T-SQL does not take parameters (BACKUP and RESTORE options, DDL).
func QuoteString(s string) string {
	return "N'" + strings.ReplaceAll(s, "'", "''") + "'"
}
