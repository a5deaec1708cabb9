package sqlsim

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sqlvault/sqlvault/sqlsim/tds"
)

// The version and time zone sqlsim plays (Config.ProductVersion,
// Config.TimeZone). docs/compatibility.md, "Versions, time zones and
// RESTORE options", lists the sources.

// DefaultProductVersion is SQL Server 2022 CU15, what sqlsim reports unless
// told otherwise.
const DefaultProductVersion = "16.0.4145.4"

// releaseYears names the release of each major version sqlsim can play
// (learn.microsoft.com/troubleshoot/sql/releases/download-and-install-latest-updates).
var releaseYears = map[int]string{12: "2014", 13: "2016", 14: "2017", 15: "2019", 16: "2022"}

// windowsZones gives the Windows time zone id of the IANA zones sqlsim can
// play, as Unicode CLDR's common/supplemental/windowsZones.xml maps them
// (territory 001). SQL Server names zones by these ids in
// CURRENT_TIMEZONE_ID() and AT TIME ZONE.
var windowsZones = map[string]string{
	"UTC":                 "UTC",
	"Etc/UTC":             "UTC",
	"Europe/Berlin":       "W. Europe Standard Time",
	"Europe/London":       "GMT Standard Time",
	"Europe/Paris":        "Romance Standard Time",
	"America/New_York":    "Eastern Standard Time",
	"America/Chicago":     "Central Standard Time",
	"America/Denver":      "Mountain Standard Time",
	"America/Los_Angeles": "Pacific Standard Time",
	"Asia/Tokyo":          "Tokyo Standard Time",
	"Asia/Kolkata":        "India Standard Time",
	"Australia/Sydney":    "AUS Eastern Standard Time",
}

// flavour is the version and zone of a started instance.
type flavour struct {
	version string // ProductVersion, e.g. 16.0.4145.4
	major   int
	loc     *time.Location
	zoneID  string // Windows id of loc
}

// ParseProductVersion checks a --product-version value: four numbers of
// a major version sqlsim can play.
func ParseProductVersion(v string) (int, error) {
	parts := strings.Split(v, ".")
	if len(parts) != 4 {
		return 0, fmt.Errorf("product version %q: want major.minor.build.revision, e.g. %s", v, DefaultProductVersion)
	}
	for _, p := range parts {
		if _, err := strconv.ParseUint(p, 10, 16); err != nil {
			return 0, fmt.Errorf("product version %q: %q is not a number", v, p)
		}
	}
	major, _ := strconv.Atoi(parts[0])
	if _, ok := releaseYears[major]; !ok {
		return 0, fmt.Errorf("product version %q: sqlsim plays majors 12 (2014), 13 (2016), 14 (2017), 15 (2019) and 16 (2022)", v)
	}
	return major, nil
}

// newFlavour reads Config.ProductVersion and Config.TimeZone, with their
// defaults.
func newFlavour(cfg Config) (flavour, error) {
	f := flavour{version: cfg.ProductVersion}
	if f.version == "" {
		f.version = DefaultProductVersion
	}
	var err error
	if f.major, err = ParseProductVersion(f.version); err != nil {
		return f, err
	}
	if f.major < 14 && isLinux(cfg) {
		return f, fmt.Errorf("product version %s runs on Windows only: SQL Server 2017 (14.x) is the first on Linux", f.version)
	}
	name := cfg.TimeZone
	if name == "" {
		name = "UTC"
	}
	id, ok := windowsZones[name]
	if !ok {
		return f, fmt.Errorf("time zone %q: sqlsim knows the Windows id of %s only", name, strings.Join(zoneNames(), ", "))
	}
	if f.loc, err = time.LoadLocation(name); err != nil {
		return f, fmt.Errorf("time zone %q: %w", name, err)
	}
	f.zoneID = id
	return f, nil
}

func zoneNames() []string {
	var out []string
	for n := range windowsZones {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// versionBanner is @@VERSION up to the host part (hostBanner follows),
// in the form of the @@VERSION page's examples. The update level is not
// modelled: sqlsim says RTM, as SERVERPROPERTY('ProductLevel') does.
func (in *Instance) versionBanner() string {
	f := in.flav
	if f.version == DefaultProductVersion {
		return "Microsoft SQL Server 2022 (RTM-CU15) (KB5041321) - 16.0.4145.4 (X64) \n\tJul 30 2024 12:00:00 \n\tCopyright (C) 2022 Microsoft Corporation\n\tDeveloper Edition (64-bit)"
	}
	year := releaseYears[f.major]
	return fmt.Sprintf("Microsoft SQL Server %s (RTM) - %s (X64) \n\tJan 1 %s 00:00:00 \n\tCopyright (C) %s Microsoft Corporation\n\tDeveloper Edition (64-bit)",
		year, f.version, year, year)
}

// knowsSAS reports whether the version writes block blobs under a shared
// access signature credential: SQL Server 2016 and later
// (learn.microsoft.com/sql/relational-databases/backup-restore/sql-server-backup-to-url).
func (f flavour) knowsSAS() bool { return f.major >= 13 }

// local is the instance's wall clock at t, as a datetime value (sqlsim
// keeps datetime values as UTC-located times holding the wall clock).
func (f flavour) local(t time.Time) time.Time { return wallClock(t.In(f.loc)) }

// fromLocal is the instant a wall-clock datetime of the instance names. In
// the hour a fall-back repeats, Go's time.Date picks one of the two.
func (f flavour) fromLocal(wall time.Time) time.Time {
	return time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), wall.Nanosecond(), f.loc).UTC()
}

// timeZoneColumn is msdb.dbo.backupset.time_zone for a backup started at
// t: local minus UTC in 15-minute intervals, with the rules in force then.
func (f flavour) timeZoneColumn(t time.Time) int64 {
	_, off := t.In(f.loc).Zone()
	return int64(off / (15 * 60))
}

// offsetValue is a datetimeoffset: the wall clock of t at its zone's
// offset. Datetime values without offset are UTC-located; a datetimeoffset
// always carries a fixed zone, +00:00 included, so the two stay apart.
func offsetValue(t time.Time) time.Time {
	_, off := t.Zone()
	return t.In(time.FixedZone(offsetName(off), off))
}

func isOffsetValue(t time.Time) bool { return t.Location() != time.UTC }

func offsetName(sec int) string {
	sign := '+'
	if sec < 0 {
		sign, sec = '-', -sec
	}
	return fmt.Sprintf("%c%02d:%02d", sign, sec/3600, sec/60%60)
}

// wallClock drops the zone of t, keeping its wall clock.
func wallClock(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// atTimeZone is `value AT TIME ZONE id`
// (learn.microsoft.com/sql/t-sql/queries/at-time-zone-transact-sql): a
// datetimeoffset is converted to the zone; a value without offset is read
// as the zone's wall clock and given the offset in force then.
func atTimeZone(v any, id any) (any, error) {
	if v == nil || id == nil {
		return nil, nil
	}
	t, ok := v.(time.Time)
	if !ok {
		return nil, sqlErr(8116, 16, "Argument data type is invalid for argument 1 of AT TIME ZONE function.")
	}
	loc, err := zoneByID(fmt.Sprint(id))
	if err != nil {
		return nil, err
	}
	if isOffsetValue(t) {
		return offsetValue(t.In(loc)), nil
	}
	return offsetValue(time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)), nil
}

// zoneByID finds the IANA zone of a Windows time zone id.
func zoneByID(id string) (*time.Location, error) {
	for name, wid := range windowsZones {
		if strings.EqualFold(wid, strings.TrimSpace(id)) {
			return time.LoadLocation(name)
		}
	}
	return nil, sqlErr(9820, 16, fmt.Sprintf("The time zone parameter '%s' provided to AT TIME ZONE clause is invalid.", id))
}

// urlBlockSize is the block size a BACKUP TO URL writes with: the
// BLOCKSIZE given, else 65536, the value SQL Server proposes for URL
// backups in error 3284.
func urlBlockSize(o backupOpts) int {
	if o.blockSize > 0 {
		return o.blockSize
	}
	return 65536
}

// blockSizeMismatch is error 3284, which RESTORE DATABASE|LOG of a
// compressed URL backup raises when it is not given the block size the
// backup was written with (MS "SQL Server back up to URL best practices and
// troubleshooting"; without BLOCKSIZE a restore reads 512-byte blocks, the
// RESTORE page's default for disk devices). Uncompressed backups and
// streams written before sqlsim recorded block sizes are not checked.
func blockSizeMismatch(url string, m backupMeta, o backupOpts) *tds.Message {
	if isDisk(url) || !m.Compressed || m.BlockSize == 0 {
		return nil
	}
	if o.blockSize == m.BlockSize {
		return nil
	}
	return &tds.Message{Number: 3284, Class: 16, State: 5, Text: fmt.Sprintf(
		"Filemark on device '%s' is not aligned. Reissue the Restore statement with the same block size used to create the backupset: '%d' looks like a possible value.",
		url, m.BlockSize)}
}

// datePart is DATEPART for the parts sqlsim needs
// (learn.microsoft.com/sql/t-sql/functions/datepart-transact-sql):
// TZOFFSET is a datetimeoffset's offset in minutes (0 without one).
func datePart(part string, v any) (any, error) {
	t, ok := v.(time.Time)
	if v == nil || !ok {
		return nil, nil
	}
	switch strings.ToUpper(part) {
	case "TZOFFSET", "TZ":
		_, off := t.Zone()
		return int64(off / 60), nil
	case "YEAR", "YY", "YYYY":
		return int64(t.Year()), nil
	case "MONTH", "MM", "M":
		return int64(t.Month()), nil
	case "DAY", "DD", "D":
		return int64(t.Day()), nil
	case "HOUR", "HH":
		return int64(t.Hour()), nil
	case "MINUTE", "MI", "N":
		return int64(t.Minute()), nil
	case "SECOND", "SS", "S":
		return int64(t.Second()), nil
	}
	return nil, sqlErr(155, 15, fmt.Sprintf("'%s' is not a recognized datepart option.", part))
}
