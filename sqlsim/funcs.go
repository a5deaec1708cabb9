package sqlsim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
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
	case "ROWCOUNT", "ERROR", "TRANCOUNT":
		return int64(0), nil
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
		if len(in.cfg.AGSecondaries) > 0 {
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
	case "NEWID":
		return newGUID(), nil
	case "COUNT", "MAX", "MIN", "SUM", "COUNT_BIG":
		return nil, sqlErr(147, 15, "An aggregate may not appear in this position.")
	}
	return nil, sqlErr(195, 15, fmt.Sprintf("'%s' is not a recognized built-in function name.", f.name))
}
