package tds

import "time"

// downCol is a result column sent to an older client as another type.
type downCol struct {
	i    int
	orig Column
}

// downlevel is the column an older client receives instead of c, if any.
// Before TDS 7.3, date, time, datetime2 and datetimeoffset travel as nvarchar
// of their literal's largest length
// (learn.microsoft.com/previous-versions/SQL/SQL-server-2008-r2/bb677302(v=sql.105));
// before 7.2 there are no (max) types, so they are capped at 8000 bytes.
func downlevel(c Column, ver uint32) (Column, bool) {
	if preDate(ver) {
		frac := 0
		if c.Scale > 0 {
			frac = int(min(c.Scale, 7)) + 1
		}
		switch c.Type {
		case TypeDate:
			return Column{Name: c.Name, Type: TypeNVarChar, Nullable: c.Nullable, Length: 10}, true
		case TypeTime:
			return Column{Name: c.Name, Type: TypeNVarChar, Nullable: c.Nullable, Length: 8 + frac}, true
		case TypeDateTime2:
			return Column{Name: c.Name, Type: TypeNVarChar, Nullable: c.Nullable, Length: 19 + frac}, true
		case TypeDateTimeOffset:
			return Column{Name: c.Name, Type: TypeNVarChar, Nullable: c.Nullable, Length: 26 + frac}, true
		}
	}
	if legacy71(ver) && c.isMax() {
		d := c
		d.Length = 8000
		if c.Type == TypeNVarChar {
			d.Length = 4000
		}
		return d, true
	}
	return c, false
}

// literal is v as the down-level column carries it: a date or time as
// its ODBC literal text, anything else unchanged.
func literal(c Column, v any) any {
	t, ok := v.(time.Time)
	if !ok {
		return v
	}
	layout := "2006-01-02 15:04:05"
	if c.Scale > 0 {
		layout += "." + "0000000"[:min(c.Scale, 7)]
	}
	switch c.Type {
	case TypeDate:
		return t.Format("2006-01-02")
	case TypeTime:
		return t.Format(layout[len("2006-01-02 "):])
	case TypeDateTimeOffset:
		return t.Format(layout + " -07:00")
	case TypeDateTime2:
		return t.Format(layout)
	}
	return v
}
