package sqlsim

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/sqlvault/sqlvault/sqlsim/tds"
)

// Page damage (Fault.CorruptPages, --fault-corrupt-page DB): one data page
// of the database's first table is damaged. DBCC CHECKDB reports it with
// 8928 and 8939, a backup of the database carries the damaged page (its
// header records which), a database restored from that backup has it too,
// and RESTORE ... WITH CHECKSUM or RESTORE VERIFYONLY ... WITH CHECKSUM of
// the backup fails with 3183. Texts and severities follow
// learn.microsoft.com/sql/relational-databases/errors-events/database-engine-events-and-errors-8000-to-8999
// and ...-3000-to-3999.

// corruptPage is the damaged page of d (0: none): set on d by a restore
// of a damaged backup, or named by the fault knob. Callers hold in.mu.
func (in *Instance) corruptPage(d *Database) int64 {
	if d.CorruptPage != 0 {
		return d.CorruptPage
	}
	if slices.ContainsFunc(in.fault.CorruptPages, func(n string) bool { return strings.EqualFold(n, d.Name) }) {
		return max(d.Pages/2, 80) // a data page, past the file's allocation pages
	}
	return 0
}

// damagedBackup is RESTORE's answer when it checks the checksums of a
// backup holding a damaged page (3183, then 3013).
func damagedBackup(verb, database string, page int64) error {
	return &multiErr{[]*tds.Message{
		sqlErr(3183, 16, fmt.Sprintf("RESTORE detected an error on page (1:%d) in database \"%s\" as read from the backup set.", page, database)),
		sqlErr(3013, 16, verb+" is terminating abnormally.")}}
}

// dbccOpts are DBCC CHECKDB's arguments.
type dbccOpts struct {
	database                             string
	noInfo, allErrors, physicalOnly, tab bool
}

// dbcc runs DBCC CHECKDB [( 'db' | db [, NOINDEX] )] [WITH NO_INFOMSGS,
// ALL_ERRORMSGS, PHYSICAL_ONLY, TABLOCK, ...]
// (learn.microsoft.com/sql/t-sql/database-console-commands/dbcc-checkdb-transact-sql);
// other DBCC commands are refused (2526).
func (x *execCtx) dbcc(p *parser) error {
	p.next()
	cmd, err := p.name()
	if err != nil {
		return err
	}
	if !strings.EqualFold(cmd, "CHECKDB") {
		return sqlErr(2526, 16, "Incorrect DBCC statement. Check the documentation for the correct DBCC syntax and options.")
	}
	o, err := x.parseDBCC(p)
	if err != nil {
		return err
	}
	if !x.s.login.Sysadmin { // sysadmin or db_owner; the simulator has no database roles
		return sqlErr(2571, 14, "User does not have permission to run DBCC CHECKDB.")
	}
	in := x.s.in
	in.mu.Lock()
	d, ok := in.st.Databases[strings.ToLower(o.database)]
	var page int64
	var tables []string
	state := ""
	if ok {
		page, tables, state = in.corruptPage(d), tableNames(d), d.State
	}
	in.mu.Unlock()
	if !ok {
		return sqlErr(2520, 16, fmt.Sprintf("Could not find database '%s'. The database either does not exist, or was dropped before a statement tried to use it. Verify if the database exists by querying the sys.databases catalog view.", o.database))
	}
	if state != "ONLINE" {
		return sqlErr(922, 14, fmt.Sprintf("Database '%s' is being recovered. Waiting until recovery is finished.", d.Name))
	}
	if page == 0 {
		return x.checkdbClean(d, o, tables)
	}
	return x.checkdbDamaged(d, page, tables)
}

func (x *execCtx) parseDBCC(p *parser) (dbccOpts, error) {
	o := dbccOpts{database: x.s.db}
	if p.acceptOp("(") {
		t := p.next()
		switch t.kind {
		case tString, tIdent:
			o.database = t.text
		default:
			return o, p.syntaxErr()
		}
		for p.acceptOp(",") {
			p.next() // NOINDEX or a repair option: nothing here repairs
		}
		if err := p.expectOp(")"); err != nil {
			return o, err
		}
	}
	if p.accept("WITH") {
		for {
			kw, err := p.name()
			if err != nil {
				return o, err
			}
			switch strings.ToUpper(kw) {
			case "NO_INFOMSGS":
				o.noInfo = true
			case "ALL_ERRORMSGS":
				o.allErrors = true
			case "PHYSICAL_ONLY":
				o.physicalOnly = true
			case "TABLOCK":
				o.tab = true
			case "EXTENDED_LOGICAL_CHECKS", "DATA_PURITY", "ESTIMATEONLY":
			default:
				return o, p.syntaxErr()
			}
			if !p.acceptOp(",") {
				break
			}
		}
	}
	return o, nil
}

func tableNames(d *Database) []string {
	var names []string
	for _, t := range d.Tables {
		names = append(names, t.Name)
	}
	sort.Strings(names)
	return names
}

// checkdbClean reports a clean database: nothing with NO_INFOMSGS, else
// the summary lines (2536, 2593 per table, 8989, 2528).
func (x *execCtx) checkdbClean(d *Database, o dbccOpts, tables []string) error {
	if !o.noInfo {
		x.info(fmt.Sprintf("DBCC results for '%s'.", d.Name))
		for _, n := range tables {
			x.info(fmt.Sprintf("There are %d rows in %d pages for object '%s'.", len(d.Tables[strings.ToLower(n)].Rows), 1, n))
		}
		x.info(fmt.Sprintf("CHECKDB found 0 allocation errors and 0 consistency errors in database '%s'.", d.Name))
		x.info("DBCC execution completed. If DBCC printed error messages, contact your system administrator.")
	}
	return x.w.Done(0, false)
}

// checkdbDamaged reports the damaged page as SQL Server does: 8939 (the
// page's test failed), 8928 (it could not be processed), the object's and
// the database's totals (8990, 8989) and the minimum repair level (8958).
func (x *execCtx) checkdbDamaged(d *Database, page int64, tables []string) error {
	obj, table := int64(1000), "dbo.unknown"
	if len(tables) > 0 {
		table = tables[0]
	}
	part := 72057594043000000 + obj*65536
	where := fmt.Sprintf("Object ID %d, index ID 0, partition ID %d, alloc unit ID %d (type In-row data)", obj, part, part)
	msgs := []*tds.Message{
		sqlErr(8939, 16, fmt.Sprintf("Table error: %s, page (1:%d). Test (IS_OFF (BUF_IOERR, pBUF->bstat)) failed. Values are 133129 and -4.", where, page)),
		sqlErr(8928, 16, fmt.Sprintf("%s: Page (1:%d) could not be processed. See other errors for details.", where, page)),
	}
	for _, m := range msgs {
		m.Server, m.Line = x.s.in.ServerName(), int32(max(x.line, 1))
		x.w.Message(*m)
	}
	x.info(fmt.Sprintf("CHECKDB found 0 allocation errors and 2 consistency errors in table '%s' (object ID %d).", table, obj))
	x.info(fmt.Sprintf("CHECKDB found 0 allocation errors and 2 consistency errors in database '%s'.", d.Name))
	x.info(fmt.Sprintf("repair_allow_data_loss is the minimum repair level for the errors found by DBCC CHECKDB (%s).", d.Name))
	x.w.Done(0, false)
	return errContinue
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}
