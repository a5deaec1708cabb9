package db

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// day0 is the first day of the report fixtures, midnight UTC.
var day0 = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

func at(day int, hh int) time.Time { return day0.AddDate(0, 0, day).Add(time.Duration(hh) * time.Hour) }

// reportHistory is a catalog made before the daily summary: two servers
// with an item each, backup jobs over five days (completed, failed, one
// never started, one cancelled, a restore), points over those days, some
// soft-deleted.
func reportHistory(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	pool := catalogAt(t, dir, 21)
	defer pool.Close()
	q := []string{
		`INSERT INTO servers (id, name, host, port, username, password_enc, created_at) VALUES (1, 'SQL01', 'h', 1433, 'u', x'01', 0), (2, 'SQL02', 'h', 1433, 'u', x'01', 0)`,
		`INSERT INTO databases (id, server_id, name, database_guid, discovered_at) VALUES (7, 1, 'Sales', 'g1', 0), (8, 2, 'HR', 'g2', 0)`,
		`INSERT INTO items (id, database_id, created_at) VALUES (1, 7, 0), (2, 8, 0)`,
	}
	job := func(id, item int, op, status string, created time.Time, started *time.Time, secs int) string {
		s, e := "NULL", "NULL"
		if started != nil {
			s = fmt.Sprint(ms(*started))
			if status != "in_progress" && status != "queued" {
				e = fmt.Sprint(ms(started.Add(time.Duration(secs) * time.Second)))
			}
		}
		return fmt.Sprintf(`INSERT INTO jobs (id, operation, kind, status, item_id, created_at, started_at, ended_at) VALUES (%d, '%s', 'full', '%s', %d, %d, %s, %s)`,
			id, op, status, item, ms(created), s, e)
	}
	id := 0
	for day := range 5 {
		for item := 1; item <= 2; item++ {
			for k, status := range []string{"completed", "completed", "failed", "cancelled"} {
				id++
				created := at(day, 2+k+item)
				started := created.Add(time.Second)
				q = append(q, job(id, item, "backup", status, created, &started, 10*(day+k+item)))
			}
			q = append(q, fmt.Sprintf(`INSERT INTO recovery_points (item_id, kind, blobs, start_time, end_time, first_lsn, last_lsn, checkpoint_lsn,
				database_backup_lsn, size_bytes, stored_bytes, created_at, deleted_at) VALUES (%d, 'full', '[]', %d, %d, '1', '2', '1', '0', %d, %d, 0, %s)`,
				item, ms(at(day, 5)), ms(at(day, 6)), 1000*(day+1)*item, 300*(day+1)+item, map[bool]string{true: fmt.Sprint(ms(at(day+2, 1))), false: "NULL"}[day%2 == 0]))
		}
	}
	q = append(q, job(100, 1, "backup", "failed", at(3, 20), nil, 0), job(101, 1, "restore", "completed", at(3, 21), nil, 0))
	for _, s := range q {
		if _, err := pool.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// sameReport compares the daily summary's figures with the oracle's (the
// queries over jobs and points) for a window and filter.
func sameReport(t *testing.T, d *DB, f ReportFilter) {
	t.Helper()
	ctx := context.Background()
	got, err := d.BackupTotalsByItem(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	want, err := d.oracleBackupTotalsByItem(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	for id, tot := range got { // the summary may hold a row of only deletions
		if *tot == (BackupTotals{ItemID: id}) && want[id] == nil {
			delete(got, id)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%+v: totals by item\n got %s\nwant %s", f, dump(got), dump(want))
	}
	gotDays, err := d.ReportDays(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	wantDays, err := d.oracleReportDays(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotDays, wantDays) {
		t.Errorf("%+v: days\n got %+v\nwant %+v", f, gotDays, wantDays)
	}
	for _, day := range wantDays {
		g, err1 := d.StoredBefore(ctx, f, day.Day)
		w, err2 := d.oracleStoredBefore(ctx, f, day.Day)
		if g != w || err1 != nil || err2 != nil {
			t.Errorf("%+v: stored before %s = %d (%v), want %d (%v)", f, day.Day, g, err1, w, err2)
		}
	}
	if len(want) == 0 && f.ItemID == 0 && f.ServerID == 0 {
		t.Fatalf("%+v: the oracle finds nothing: the fixture is wrong", f)
	}
}

func dump(m map[int64]*BackupTotals) string {
	s := ""
	for id, t := range m {
		s += fmt.Sprintf("%d:%+v ", id, *t)
	}
	return s
}

func reportFilters() []ReportFilter {
	var out []ReportFilter
	for _, w := range [][2]time.Time{{at(0, 0), at(5, 0)}, {at(1, 0), at(3, 0)}, {at(2, 0), at(4, 0)}, {at(-3, 0), at(9, 0)}} {
		out = append(out, ReportFilter{Since: w[0], Until: w[1]}, ReportFilter{Since: w[0], Until: w[1], ServerID: 2},
			ReportFilter{Since: w[0], Until: w[1], ItemID: 1})
	}
	return out
}

// The daily summary gives the Reports figures the jobs and points give:
// backfilled by its migration from the history, then kept as jobs finish
// and points are committed, soft-deleted and brought back.
func TestReportSummaryMatchesJobsAndPoints(t *testing.T) {
	dir := t.TempDir()
	reportHistory(t, dir)
	ctx := context.Background()
	d, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, f := range reportFilters() {
		sameReport(t, d, f)
	}

	// Days 5 and 6 through the catalog's own methods.
	clock := at(5, 1)
	d.SetClock(func() time.Time { return clock })
	for item := int64(1); item <= 2; item++ {
		for _, status := range []string{JobCompleted, JobFailed, JobCancelled} {
			clock = clock.Add(time.Hour)
			j, err := d.CreateJob(ctx, NewJob{Operation: "backup", Kind: "log", ItemID: item})
			if err == nil {
				clock = clock.Add(time.Minute)
				err = d.StartJob(ctx, j.ID)
			}
			if err == nil {
				clock = clock.Add(37 * time.Second)
				err = d.FinishJob(ctx, j.ID, status, "", "")
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		p, err := d.CommitPoint(ctx, Point{ItemID: item, Kind: "log", StartTime: at(5, 10), EndTime: at(6, 1), SizeBytes: 777, StoredBytes: 55})
		if err != nil {
			t.Fatal(err)
		}
		clock = at(6, 3)
		if err := d.SoftDeletePoints(ctx, []int64{p.ID, p.ID - 2}); err != nil {
			t.Fatal(err)
		}
		clock = at(6, 4)
		if err := d.UndeletePoint(ctx, p.ID-2, at(30, 0)); err != nil {
			t.Fatal(err)
		}
		clock = at(5, 2)
	}
	for _, f := range append(reportFilters(), ReportFilter{Since: at(5, 0), Until: at(7, 0)}, ReportFilter{Since: at(4, 0), Until: at(7, 0), ItemID: 2}) {
		sameReport(t, d, f)
	}
	// The report's item list: the items of the item list, with their
	// latest point (an item's RPO) and nothing else of its point times.
	got, err := d.ReportItems(ctx, ItemFilter{ServerID: 2})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := d.ListItems(ctx, ItemFilter{ServerID: 2})
	if len(got) != 1 || len(want) != 1 || got[0].ID != want[0].ID || got[0].LatestPoint == nil ||
		!got[0].LatestPoint.Equal(*want[0].LatestPoint) || got[0].LastFull != nil {
		t.Errorf("report items %+v, item list %+v", got, want)
	}
	// The overview's chart: the same per-day bytes as the points give.
	for _, now := range []time.Time{at(3, 12), at(6, 23), at(20, 0)} {
		got, err1 := d.SummaryBytesPerDay(ctx, now, 5)
		want, err2 := d.BytesPerDay(ctx, now, 5)
		if err1 != nil || err2 != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("bytes per day at %s:\n got %+v (%v)\nwant %+v (%v)", now, got, err1, want, err2)
		}
	}
}
