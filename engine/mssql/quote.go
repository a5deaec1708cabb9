package mssql

import (
	"strings"
	"unicode"
)

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

// HasControl reports whether a name holds a control character (C0, DEL,
// C1: CR, LF, NUL and the rest) or a Unicode line or paragraph separator.
// In a script file any of them may end a line, and a line reading GO ends
// a batch in sqlcmd and SSMS (GO is a client command, not T-SQL), so such
// names are refused as restore targets and never written into a script.
func HasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
	})
}
