package sqlsim

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sqlvault/sqlvault/sqlsim/tds"
)

// tran is a session's explicit transaction
// (learn.microsoft.com/sql/t-sql/language-elements/begin-transaction-transact-sql):
// BEGIN TRAN nests (@@TRANCOUNT), COMMIT ends one level, ROLLBACK undoes
// everything since the outermost BEGIN. Each database the transaction
// writes is copied before its first change; a rollback logs the changes
// that bring the tables back, so LSNs keep growing and a log backup taken
// meanwhile replays to the same rows.
type tran struct {
	count int
	name  string                       // the outermost BEGIN TRAN's name, if any
	snaps map[string]map[string]*Table // database -> tables before the first change
	saves []savepoint                  // SAVE TRAN points, oldest first
	// doomed is an uncommittable transaction: an error in a TRY block
	// under XACT_ABORT ON; only reads and a full ROLLBACK remain.
	doomed bool
}

// savepoint is SAVE TRAN name
// (learn.microsoft.com/sql/t-sql/language-elements/save-transaction-transact-sql):
// the tables of each database the transaction had changed, as they were.
type savepoint struct {
	name  string
	snaps map[string]map[string]*Table
}

// begin is BEGIN TRANSACTION [name]; a name counts on the outermost only.
func (s *session) begin(name string) {
	if s.tx.count == 0 {
		s.tx.snaps, s.tx.name = map[string]map[string]*Table{}, name
	}
	s.tx.count++
}

// commit is COMMIT TRANSACTION: 3902 without one.
func (s *session) commit() error {
	if s.tx.count == 0 {
		return sqlErr(3902, 16, "The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION.")
	}
	if s.tx.doomed {
		return errDoomed()
	}
	s.tx.count--
	if s.tx.count == 0 {
		s.tx = tran{}
	}
	return nil
}

// rollback is ROLLBACK TRANSACTION: 3903 without one. Callers hold in.mu.
func (s *session) rollback() error {
	if s.tx.count == 0 {
		return sqlErr(3903, 16, "The ROLLBACK TRANSACTION request has no corresponding BEGIN TRANSACTION.")
	}
	now := s.in.cfg.Now().UTC()
	for key, old := range s.tx.snaps {
		if d, ok := s.in.st.Databases[key]; ok {
			revertTables(d, old, now)
		}
	}
	s.tx = tran{}
	return s.in.save()
}

// save is SAVE TRANSACTION name: 628 outside a transaction. Callers hold
// in.mu.
func (s *session) save(name string) error {
	if s.tx.count == 0 {
		return sqlErr(628, 16, "Cannot issue SAVE TRANSACTION when there is no active transaction.")
	}
	if s.tx.doomed {
		return errDoomed()
	}
	sp := savepoint{name: name, snaps: map[string]map[string]*Table{}}
	for key := range s.tx.snaps {
		if d, ok := s.in.st.Databases[key]; ok {
			sp.snaps[key] = d.cloneTables()
		}
	}
	s.tx.saves = append(s.tx.saves, sp)
	return nil
}

// rollbackTo is ROLLBACK TRANSACTION name: back to the latest savepoint
// of that name, @@TRANCOUNT unchanged, or the whole transaction when name
// is the outermost BEGIN's; names are case sensitive; 6401 for any other
// (learn.microsoft.com/sql/t-sql/language-elements/rollback-transaction-transact-sql).
// Callers hold in.mu.
func (s *session) rollbackTo(name string) error {
	if s.tx.count == 0 || name == "" {
		return s.rollback()
	}
	for i := len(s.tx.saves) - 1; i >= 0; i-- {
		if s.tx.saves[i].name != name {
			continue
		}
		if s.tx.doomed {
			return sqlErr(3931, 16, "The current transaction cannot be committed and cannot be rolled back to a savepoint. Roll back the entire transaction.")
		}
		now := s.in.cfg.Now().UTC()
		for key, before := range s.tx.snaps {
			d, ok := s.in.st.Databases[key]
			if !ok {
				continue
			}
			if at, saved := s.tx.saves[i].snaps[key]; saved {
				before = at
			}
			revertTables(d, (&Database{Tables: before}).cloneTables(), now) // the savepoint stays usable
		}
		s.tx.saves = s.tx.saves[:i+1]
		return s.in.save()
	}
	if name == s.tx.name {
		return s.rollback()
	}
	return sqlErr(6401, 16, fmt.Sprintf("Cannot roll back %s. No transaction or savepoint of that name was found.", name))
}

// touch copies a database's tables before a transaction first changes
// it. Callers hold in.mu.
func (s *session) touch(d *Database) {
	key := strings.ToLower(d.Name)
	if s.tx.count == 0 || s.tx.snaps[key] != nil {
		return
	}
	s.tx.snaps[key] = d.cloneTables()
}

// revertTables logs and applies the changes that turn d's tables back
// into old.
func revertTables(d *Database, old map[string]*Table, now time.Time) {
	for key, cur := range d.Tables {
		if _, ok := old[key]; !ok {
			d.apply(logged(d, now, LogRecord{Op: "drop_table", Table: cur.Name}))
		}
	}
	for key, was := range old {
		cur, ok := d.Tables[key]
		if !ok {
			d.apply(logged(d, now, LogRecord{Op: "create_table", Table: was.Name, Cols: was.Columns}))
			cur = d.Tables[key]
		}
		for id := range cur.Rows {
			if _, kept := was.Rows[id]; !kept {
				d.apply(logged(d, now, LogRecord{Op: "delete", Table: was.Name, RowID: id}))
			}
		}
		for id, row := range was.Rows {
			if c, ok := cur.Rows[id]; !ok || !sameRow(c, row) {
				d.apply(logged(d, now, LogRecord{Op: "update", Table: was.Name, RowID: id, Values: row}))
			}
		}
		cur.NextRow = max(cur.NextRow, was.NextRow)
	}
}

func logged(d *Database, now time.Time, rec LogRecord) LogRecord {
	d.appendLog(now, rec)
	return d.Log[len(d.Log)-1]
}

func sameRow(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if c, ok := compare(a[i], b[i]); (a[i] == nil) != (b[i] == nil) || (a[i] != nil && (!ok || c != 0)) {
			return false
		}
	}
	return true
}

// BeginTx, CommitTx and RollbackTx implement tds.TxSession: the
// transaction manager requests ([MS-TDS] 2.2.6.9) of clients' transaction
// APIs act as the T-SQL statements do.
func (s *session) BeginTx(ctx context.Context, name string) error {
	s.in.mu.Lock()
	defer s.in.mu.Unlock()
	s.begin(name)
	return nil
}

func (s *session) CommitTx(ctx context.Context) error {
	s.in.mu.Lock()
	defer s.in.mu.Unlock()
	return s.commit()
}

func (s *session) RollbackTx(ctx context.Context) error {
	s.in.mu.Lock()
	defer s.in.mu.Unlock()
	return s.rollback()
}

// SaveTx and RollbackToTx implement tds.SavepointSession: TM_SAVE_XACT
// and a TM_ROLLBACK_XACT that names a savepoint act as SAVE TRAN and
// ROLLBACK TRAN name.
func (s *session) SaveTx(ctx context.Context, name string) error {
	s.in.mu.Lock()
	defer s.in.mu.Unlock()
	return s.save(name)
}

func (s *session) RollbackToTx(ctx context.Context, name string) (bool, error) {
	s.in.mu.Lock()
	defer s.in.mu.Unlock()
	err := s.rollbackTo(name)
	return s.tx.count == 0, err
}

// tranStmt runs BEGIN TRAN[SACTION] [name], COMMIT [TRAN[SACTION]] [name],
// ROLLBACK [TRAN[SACTION]] [name] and SAVE TRAN[SACTION] name, and tells
// the client through ENVCHANGE when the outermost transaction starts or
// ends.
func (x *execCtx) tranStmt(p *parser) error {
	verb := strings.ToUpper(p.next().text)
	if (verb == "BEGIN" || verb == "SAVE") && !(p.is("TRAN") || p.is("TRANSACTION")) {
		return p.syntaxErr()
	}
	if !p.accept("TRAN") && !p.accept("TRANSACTION") {
		p.accept("WORK")
	}
	name, err := x.tranName(p)
	if err != nil {
		return err
	}
	if verb == "SAVE" && name == "" {
		return p.syntaxErr()
	}
	in := x.s.in
	in.mu.Lock()
	before := x.s.tx.count
	switch verb {
	case "BEGIN":
		x.s.begin(name)
	case "COMMIT":
		err = x.s.commit()
	case "SAVE":
		err = x.s.save(name)
	default:
		err = x.s.rollbackTo(name)
	}
	after := x.s.tx.count
	in.mu.Unlock()
	if err != nil {
		return err
	}
	if tw, ok := x.w.(tds.TranWriter); ok && (before == 0) != (after == 0) {
		if after > 0 {
			tw.TranBegun()
		} else {
			tw.TranEnded(verb == "COMMIT")
		}
	}
	return x.w.Done(0, false)
}

// tranName reads an optional transaction or savepoint name, given as an
// identifier or a variable; only its first 32 characters count.
func (x *execCtx) tranName(p *parser) (string, error) {
	t := p.peek()
	var name string
	switch {
	case t.kind == tIdent && !(isStmtStart(t.text) && !t.quoted):
		p.next()
		name = t.text
	case t.kind == tParam:
		v, err := x.value(p)
		if err != nil || v == nil {
			return "", err
		}
		name = fmt.Sprint(v)
	default:
		return "", nil
	}
	if r := []rune(name); len(r) > 32 {
		name = string(r[:32])
	}
	return name, nil
}

// SET XACT_ABORT ON|OFF
// (learn.microsoft.com/sql/t-sql/statements/set-xact-abort-transact-sql):
// with it on, a runtime error rolls the whole transaction back and ends
// the batch; in a TRY block it leaves the transaction uncommittable
// instead (XACT_STATE -1; .../language-elements/try-catch-transact-sql).
// RAISERROR does not honour it. A batch that ends with an uncommittable
// transaction rolls it back with 3998.
func (x *execCtx) setXactAbort(p *parser) error {
	p.next()
	p.next()
	switch {
	case p.accept("ON"):
		x.s.xactAbort = true
	case p.accept("OFF"):
		x.s.xactAbort = false
	default:
		return p.syntaxErr()
	}
	return x.w.Done(0, false)
}

// abortTran rolls back the open transaction after a runtime error when
// XACT_ABORT is on.
func (s *session) abortTran(w tds.ResultWriter, err error) {
	if !s.xactAbort || s.tx.count == 0 || isRaised(err) {
		return
	}
	s.rollbackAndTell(w)
}

// endBatch ends a batch: an uncommittable transaction left open is rolled
// back (3998).
func (s *session) endBatch(w tds.ResultWriter) error {
	if !s.tx.doomed {
		return nil
	}
	s.rollbackAndTell(w)
	return s.fail(w, sqlErr(3998, 16, "Uncommittable transaction is detected at the end of the batch. The transaction is rolled back."), 1)
}

func (s *session) rollbackAndTell(w tds.ResultWriter) {
	s.in.mu.Lock()
	err := s.rollback()
	s.in.mu.Unlock()
	if err != nil {
		s.in.cfg.Logger.Warn("sqlsim: rollback failed", "err", err)
	}
	if tw, ok := w.(tds.TranWriter); ok {
		tw.TranEnded(false)
	}
}

func errDoomed() error {
	return sqlErr(3930, 16, "The current transaction cannot be committed and cannot support operations that write to the log file. Roll back the transaction.")
}

// writes reports whether the statement at p changes data or schema.
func writes(p *parser) bool {
	for _, kw := range []string{"INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "DROP", "SAVE"} {
		if p.is(kw) {
			return true
		}
	}
	return false
}
