package sqlsim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/sqlvault/sqlvault/sqlsim/tds"
)

// sysVar evaluates @@VERSION, @@SERVERNAME and friends.
func (x *execCtx) sysVar(name string) (any, error) {
	switch name {
	case "VERSION":
		return x.s.in.versionBanner() + x.s.in.hostBanner(), nil
	case "SERVERNAME":
		return x.s.in.ServerName(), nil
	case "SERVICENAME":
		return x.s.in.cfg.InstanceName, nil
	case "SPID":
		return int64(52), nil
	case "TRANCOUNT":
		return int64(x.s.tx.count), nil
	case "ROWCOUNT": // rowcount.go
		return x.s.rowCount, nil
	case "ERROR":
		return int64(x.s.lastError), nil
	}
	return nil, sqlErr(137, 15, fmt.Sprintf("Must declare the scalar variable \"@@%s\".", name))
}

// serverProperty follows SERVERPROPERTY (learn.microsoft.com/sql/t-sql/functions/serverproperty-transact-sql).
func (x *execCtx) serverProperty(prop string) any {
	in := x.s.in
	switch strings.ToLower(prop) {
	case "productversion":
		return in.flav.version
	case "productmajorversion":
		return strconv.Itoa(in.flav.major)
	case "productlevel":
		return "RTM"
	case "edition":
		return "Developer Edition (64-bit)"
	case "engineedition":
		return int64(3)
	case "machinename", "computernamephysicalnetbios":
		return in.cfg.MachineName
	case "instancename":
		if strings.EqualFold(in.cfg.InstanceName, "MSSQLSERVER") {
			return nil // NULL for the default instance
		}
		return in.cfg.InstanceName
	case "servername":
		return in.ServerName()
	case "ishadrenabled": // Always On availability groups: on where a database is a replica
		if len(in.cfg.AGSecondaries) > 0 || in.ag.Load() != nil {
			return int64(1)
		}
		return int64(0)
	case "isclustered":
		return int64(0)
	case "instancedefaultdatapath", "instancedefaultlogpath", "instancedefaultbackuppath":
		return defaultDataPath
	case "collation":
		return "SQL_Latin1_General_CP1_CI_AS"
	}
	return nil
}

// call evaluates a scalar function.
func (x *execCtx) call(f funcExpr, row *rowCtx) (any, error) {
	switch f.name { // functions that read their argument's type, not only its value
	case "SQL_VARIANT_PROPERTY":
		return x.variantProperty(f, row)
	case "DATALENGTH":
		if c, ok := staticType(firstArg(f), row); ok && (c.Type == tds.TypeVarChar || c.Type == tds.TypeChar) {
			v, err := x.eval(f.args[0], row)
			if s, isStr := v.(string); isStr {
				return int64(len([]rune(s))), err // one byte a character in code page 1252
			}
			return dataLength(v), err
		}
	}
	args := make([]any, len(f.args))
	for i, a := range f.args {
		v, err := x.eval(a, row)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	if x.now.IsZero() {
		// Read once: in one query GETDATE and GETUTCDATE are the same
		// instant (SQL Server evaluates them once per statement).
		x.now = x.s.in.cfg.Now().UTC()
	}
	now, flav := x.now, x.s.in.flav
	argc := func(n int) error {
		if len(args) != n {
			return sqlErr(174, 15, fmt.Sprintf("The %s function requires %d argument(s).", strings.ToLower(f.name), n))
		}
		return nil
	}
	switch f.name {
	case "SERVERPROPERTY":
		if err := argc(1); err != nil {
			return nil, err
		}
		if v := x.serverProperty(fmt.Sprint(args[0])); v != nil {
			return variant{v}, nil
		}
		return nil, nil
	case "IS_SRVROLEMEMBER":
		if len(args) < 1 {
			return nil, argc(1)
		}
		if !strings.EqualFold(fmt.Sprint(args[0]), "sysadmin") {
			return int64(0), nil
		}
		login := x.s.login
		if len(args) == 2 {
			l, ok := x.s.in.st.Logins[strings.ToLower(fmt.Sprint(args[1]))]
			if !ok {
				return nil, nil
			}
			login = l
		}
		if login.Sysadmin {
			return int64(1), nil
		}
		return int64(0), nil
	case "GETDATE", "SYSDATETIME", "CURRENT_TIMESTAMP":
		return flav.local(now), nil // the host's wall clock
	case "GETUTCDATE", "SYSUTCDATETIME":
		return now, nil
	case "SYSDATETIMEOFFSET":
		return offsetValue(now.In(flav.loc)), nil
	case "CURRENT_TIMEZONE_ID":
		if flav.major < 16 { // SQL Server 2022 and later
			break
		}
		return flav.zoneID, argc(0)
	case "AT TIME ZONE":
		if flav.major < 13 { // SQL Server 2016 and later
			return nil, sqlErr(102, 15, "Incorrect syntax near 'AT'.")
		}
		return atTimeZone(args[0], args[1])
	case "DATEPART":
		if err := argc(2); err != nil {
			return nil, err
		}
		return datePart(fmt.Sprint(args[0]), args[1])
	case "DATEDIFF":
		if err := argc(3); err != nil {
			return nil, err
		}
		a, err1 := castTo(args[1], "datetime2")
		b, err2 := castTo(args[2], "datetime2")
		if err1 != nil || err2 != nil || a == nil || b == nil {
			return nil, nil
		}
		ta, tb := a.(time.Time), b.(time.Time)
		unit := map[string]time.Duration{"SECOND": time.Second, "SS": time.Second, "S": time.Second, "MINUTE": time.Minute, "MI": time.Minute,
			"N": time.Minute, "HOUR": time.Hour, "HH": time.Hour, "DAY": 24 * time.Hour, "DD": 24 * time.Hour, "MILLISECOND": time.Millisecond, "MS": time.Millisecond}[fmt.Sprint(args[0])]
		if unit == 0 {
			return nil, sqlErr(1023, 15, fmt.Sprintf("Invalid parameter 1 specified for datediff."))
		}
		// DATEDIFF counts the unit's boundaries crossed, not whole units.
		if unit == 24*time.Hour {
			ta, tb = wallClock(ta).Truncate(unit), wallClock(tb).Truncate(unit)
		} else {
			ta, tb = ta.Truncate(unit), tb.Truncate(unit)
		}
		return int64(tb.Sub(ta) / unit), nil
	case "DATEADD":
		if err := argc(3); err != nil {
			return nil, err
		}
		n, _ := castTo(args[1], "bigint")
		t, err := castTo(args[2], "datetime2")
		if err != nil || n == nil || t == nil {
			return nil, err
		}
		unit := map[string]time.Duration{"SECOND": time.Second, "MINUTE": time.Minute, "HOUR": time.Hour, "DAY": 24 * time.Hour}[fmt.Sprint(args[0])]
		return t.(time.Time).Add(time.Duration(n.(int64)) * unit), nil
	case "DB_NAME":
		if len(args) == 0 {
			return x.s.db, nil
		}
		id, _ := castTo(args[0], "int")
		for _, d := range x.s.in.st.Databases {
			if int64(d.ID) == id {
				return d.Name, nil
			}
		}
		return nil, nil
	case "DB_ID":
		name := x.s.db
		if len(args) == 1 {
			name = fmt.Sprint(args[0])
		}
		if d, ok := x.s.in.st.Databases[strings.ToLower(name)]; ok {
			return int64(d.ID), nil
		}
		return nil, nil
	case "SUSER_NAME", "SUSER_SNAME", "ORIGINAL_LOGIN", "SYSTEM_USER":
		return x.s.login.Name, nil
	case "ISNULL", "COALESCE":
		for _, a := range args {
			if a != nil {
				return a, nil
			}
		}
		return nil, nil
	case "UPPER", "LOWER", "LEN", "LTRIM", "RTRIM", "QUOTENAME":
		if err := argc(1); err != nil {
			return nil, err
		}
		if args[0] == nil {
			return nil, nil
		}
		s := fmt.Sprint(args[0])
		switch f.name {
		case "UPPER":
			return strings.ToUpper(s), nil
		case "LOWER":
			return strings.ToLower(s), nil
		case "LEN":
			return int64(len([]rune(strings.TrimRight(s, " ")))), nil
		case "LTRIM":
			return strings.TrimLeft(s, " "), nil
		case "RTRIM":
			return strings.TrimRight(s, " "), nil
		}
		return "[" + strings.ReplaceAll(s, "]", "]]") + "]", nil
	case "DATALENGTH": // learn.microsoft.com/sql/t-sql/functions/datalength-transact-sql
		if err := argc(1); err != nil {
			return nil, err
		}
		return dataLength(args[0]), nil
	case "SESSIONPROPERTY": // learn.microsoft.com/sql/t-sql/functions/sessionproperty-transact-sql
		if err := argc(1); err != nil {
			return nil, err
		}
		return sessionProperty(fmt.Sprint(args[0])), nil
	case "NEWID":
		return newGUID(), nil
	case "ERROR_NUMBER", "ERROR_MESSAGE", "ERROR_SEVERITY", "ERROR_STATE", "ERROR_LINE", "ERROR_PROCEDURE":
		return x.errorFunc(f.name), argc(0)
	case "XACT_STATE":
		return x.xactState(), argc(0)
	case "OBJECT_ID": // subquery.go
		return x.objectID(args)
	case "FN_HADR_BACKUP_IS_PREFERRED_REPLICA":
		if err := argc(1); err != nil {
			return nil, err
		}
		return x.backupIsPreferred(fmt.Sprint(args[0])), nil
	case "COUNT", "MAX", "MIN", "SUM", "COUNT_BIG":
		return nil, sqlErr(147, 15, "An aggregate may not appear in this position.")
	}
	return nil, sqlErr(195, 15, fmt.Sprintf("'%s' is not a recognized built-in function name.", f.name))
}

// dataLength is the bytes a value takes: UTF-16 for strings (the
// simulator keeps strings as nvarchar), 8 for a float or bigint.
func dataLength(v any) any {
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		return int64(len(utf16.Encode([]rune(v))) * 2)
	case []byte:
		return int64(len(v))
	case bool:
		return int64(1)
	case int64:
		if v > 1<<31-1 || v < -1<<31 {
			return int64(8)
		}
		return int64(4)
	case float64:
		return int64(8)
	case [16]byte:
		return int64(16)
	case time.Time:
		return int64(8)
	}
	return int64(len(fmt.Sprint(v)))
}

// sessionProperty answers the SET options a session has as SQL Server's
// defaults for a client that sets the ANSI options at login (ODBC, OLE DB
// and the TDS drivers): on, except NUMERIC_ROUNDABORT; unknown names NULL.
func sessionProperty(name string) any {
	switch strings.ToUpper(name) {
	case "ANSI_NULLS", "ANSI_PADDING", "ANSI_WARNINGS", "ARITHABORT", "CONCAT_NULL_YIELDS_NULL", "QUOTED_IDENTIFIER":
		return variant{int64(1)}
	case "NUMERIC_ROUNDABORT":
		return variant{int64(0)}
	}
	return nil
}

func firstArg(f funcExpr) expr {
	if len(f.args) == 0 {
		return nil
	}
	return f.args[0]
}

// variantProperty is SQL_VARIANT_PROPERTY(expression, property) for
// BaseType, Precision, Scale, Collation and MaxLength
// (learn.microsoft.com/sql/t-sql/functions/sql-variant-property-transact-sql):
// the type the expression has, a constant's included.
func (x *execCtx) variantProperty(f funcExpr, row *rowCtx) (any, error) {
	if len(f.args) != 2 {
		return nil, sqlErr(174, 15, "The sql_variant_property function requires 2 argument(s).")
	}
	v, err := x.eval(f.args[0], row)
	if err != nil {
		return nil, err
	}
	prop, err := x.eval(f.args[1], row)
	if err != nil || v == nil || prop == nil {
		return nil, err
	}
	c, ok := staticType(f.args[0], row)
	if !ok {
		if vv, isVariant := v.(variant); isVariant {
			v = vv.v
		}
		c = typeOf("", [][]any{{v}}, 0)
	}
	base, prec, scale, size := typeFacts(c)
	switch strings.ToLower(fmt.Sprint(prop)) {
	case "basetype":
		return variant{base}, nil
	case "precision":
		return variant{int64(prec)}, nil
	case "scale":
		return variant{int64(scale)}, nil
	case "maxlength":
		return variant{int64(size)}, nil
	case "collation":
		if isText(c.Type) {
			return variant{"SQL_Latin1_General_CP1_CI_AS"}, nil
		}
	}
	return nil, nil
}

// typeFacts names a column's type with its precision, scale and the
// bytes it takes at most
// (learn.microsoft.com/sql/t-sql/data-types/data-types-transact-sql).
func typeFacts(c tds.Column) (name string, prec, scale, size int) {
	switch c.Type {
	case tds.TypeVarChar:
		return "varchar", 0, 0, c.Length
	case tds.TypeChar:
		return "char", 0, 0, c.Length
	case tds.TypeNVarChar:
		return "nvarchar", 0, 0, 2 * c.Length
	case tds.TypeNChar:
		return "nchar", 0, 0, 2 * c.Length
	case tds.TypeInt:
		return "int", 10, 0, 4
	case tds.TypeBigInt:
		return "bigint", 19, 0, 8
	case tds.TypeSmallInt:
		return "smallint", 5, 0, 2
	case tds.TypeTinyInt:
		return "tinyint", 3, 0, 1
	case tds.TypeBit:
		return "bit", 1, 0, 1
	case tds.TypeFloat:
		if c.Length == 4 {
			return "real", 24, 0, 4
		}
		return "float", 53, 0, 8
	case tds.TypeDecimal, tds.TypeNumeric:
		name = "numeric"
		if c.Type == tds.TypeDecimal {
			name = "decimal"
		}
		p := int(c.Precision)
		return name, p, int(c.Scale), []int{5, 9, 13, 17}[min((max(p, 1)-1)/9, 3)]
	case tds.TypeUniqueIdentifier:
		return "uniqueidentifier", 0, 0, 16
	case tds.TypeVarBinary:
		return "varbinary", 0, 0, c.Length
	case tds.TypeBinary:
		return "binary", 0, 0, c.Length
	case tds.TypeDateTime:
		if c.Length == 4 {
			return "smalldatetime", 16, 0, 4
		}
		return "datetime", 23, 3, 8
	case tds.TypeDateTime2:
		return "datetime2", 27, int(c.Scale), 8
	case tds.TypeDateTimeOffset:
		return "datetimeoffset", 34, int(c.Scale), 10
	case tds.TypeDate:
		return "date", 10, 0, 3
	case tds.TypeTime:
		return "time", 16, int(c.Scale), 5
	}
	return "sql_variant", 0, 0, 0
}
