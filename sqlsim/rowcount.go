package sqlsim

import (
	"context"
	"errors"

	"github.com/sqlvault/sqlvault/sqlsim/tds"
)

// @@ROWCOUNT and @@ERROR describe the session's last statement.
//
// @@ROWCOUNT (learn.microsoft.com/sql/t-sql/functions/rowcount-transact-sql):
// a query or DML statement sets the rows it read or changed (the count
// its DONE carries), SET @variable sets 1, EXECUTE keeps the previous
// value, and USE, SET option, PRINT, RAISERROR, BEGIN TRANSACTION and
// COMMIT TRANSACTION reset it to 0 (they send no count).
//
// @@ERROR (learn.microsoft.com/sql/t-sql/functions/error-transact-sql):
// the number of the error the last statement raised, 0 when it raised
// none; IF resets it (ifelse.go), and the first statement of a CATCH
// block sees the error caught.

// stmtWriter passes a statement's answer on and notes what @@ROWCOUNT and
// @@ERROR need: the count its DONE carries and the last error it sent.
type stmtWriter struct {
	tds.ResultWriter
	count   int64
	counted bool
	errNum  int32
}

func (w *stmtWriter) Done(n int64, hasCount bool) error {
	if hasCount {
		w.count, w.counted = n, true
	}
	return w.ResultWriter.Done(n, hasCount)
}

// Message notes an error; severity 10 and below are informational
// (learn.microsoft.com/sql/relational-databases/errors-events/database-engine-error-severities).
func (w *stmtWriter) Message(m tds.Message) error {
	if m.Class >= 11 {
		w.errNum = m.Number
	}
	return w.ResultWriter.Message(m)
}

// TranBegun and TranEnded pass the transaction notices on (tran.go).
func (w *stmtWriter) TranBegun() error {
	if tw, ok := w.ResultWriter.(tds.TranWriter); ok {
		return tw.TranBegun()
	}
	return nil
}

func (w *stmtWriter) TranEnded(committed bool) error {
	if tw, ok := w.ResultWriter.(tds.TranWriter); ok {
		return tw.TranEnded(committed)
	}
	return nil
}

// run runs the statement at p and records @@ROWCOUNT and @@ERROR after it.
func (x *execCtx) run(p *parser) error {
	w, _ := x.w.(*stmtWriter)
	if w == nil {
		return x.statement(p)
	}
	kind := rowCountKind(p)
	w.count, w.counted, w.errNum = 0, false, 0
	err := x.statement(p)
	if errors.Is(err, context.Canceled) || errors.Is(err, errConnectionCut) {
		return err
	}
	failed := err != nil && !errors.Is(err, errContinue)
	if kind == "compound" && !failed { // its own statements set both
		return err
	}
	x.s.lastError = w.errNum
	if failed {
		x.s.lastError = errNumber(err)
	}
	switch {
	case failed:
		x.s.rowCount = 0
	case kind == "keep":
	case kind == "assign":
		x.s.rowCount = 1
	case w.counted:
		x.s.rowCount = w.count
	default:
		x.s.rowCount = 0
	}
	return err
}

// rowCountKind sorts the statement at p by what it does to @@ROWCOUNT:
// compound (IF, BEGIN ... END, TRY ... CATCH: the statements inside
// set it), keep (EXECUTE; DECLARE, which the page does not name),
// assign (SET @variable), or counted (the rest: its DONE's count, else 0).
func rowCountKind(p *parser) string {
	switch {
	case p.is("IF"), isBlockStart(p.toks, p.pos), p.is("BEGIN") && word(p.peekAt(1), "TRY"):
		return "compound"
	case p.is("EXEC"), p.is("EXECUTE"), p.is("DECLARE"):
		return "keep"
	case p.is("SET") && p.peekAt(1).kind == tParam:
		return "assign"
	}
	return "counted"
}

// errNumber is the number @@ERROR reports for a failed statement: of
// several messages (3201 then 3013) the last, as ERROR_NUMBER() does.
func errNumber(err error) int32 {
	if m := lastMessage(err); m != nil {
		return m.Number
	}
	return 50000
}

func lastMessage(err error) *tds.Message {
	var me *multiErr
	var m *tds.Message
	switch {
	case errors.As(err, &me) && len(me.msgs) > 0:
		return me.msgs[len(me.msgs)-1]
	case errors.As(err, &m):
		return m
	}
	return nil
}

// isCompileErr reports whether err is a compile error (severity 15
// here), which the compile pass answers.
func isCompileErr(err error) bool {
	var m *tds.Message
	return errors.As(err, &m) && m.Class == 15
}
