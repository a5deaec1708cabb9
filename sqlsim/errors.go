package sqlsim

import (
	"fmt"

	"github.com/sqlvault/sqlvault/sqlsim/tds"
)

// What a runtime error ends, as SQL Server decides it:
//
//   - Batches (learn.microsoft.com/previous-versions/sql/sql-server-2008-r2/ms175502(v=sql.105)):
//     most runtime errors end their statement and the rest of the batch;
//     some, such as constraint violations, end only their statement and
//     the batch goes on.
//   - SET XACT_ABORT (learn.microsoft.com/sql/t-sql/statements/set-xact-abort-transact-sql):
//     with it OFF a foreign key error (547) ends only its statement and the
//     transaction commits; with it ON any runtime error ends the batch and
//     rolls the transaction back (RAISERROR excepted).
//   - SET ARITHABORT (learn.microsoft.com/sql/t-sql/statements/set-arithabort-transact-sql):
//     with ANSI_WARNINGS ON (the default, and all sqlsim plays) overflow
//     and divide by zero end the query but not the batch, XACT_ABORT OFF.
//   - Database Engine error severities
//     (learn.microsoft.com/sql/relational-databases/errors-events/database-engine-error-severities):
//     19 and above end the batch; 20 and above are fatal, and RAISERROR
//     (learn.microsoft.com/sql/t-sql/language-elements/raiserror-transact-sql)
//     says the connection is closed once the client has the message.
//   - TRY...CATCH (learn.microsoft.com/sql/t-sql/language-elements/try-catch-transact-sql):
//     in a TRY block any error of severity 11-19 goes to the CATCH block.
//
// Which other errors end only their statement no page lists; sqlsim ends
// the batch at them, the rule of most (docs/compatibility.md, Unknowns).

// statementErrors end only the statement that raised them.
var statementErrors = map[int32]bool{
	515:  true, // NULL into a NOT NULL column: a constraint violation
	547:  true, // FOREIGN KEY or CHECK conflict: the XACT_ABORT page's example
	2601: true, // duplicate key in a unique index
	2627: true, // duplicate key of a PRIMARY KEY or UNIQUE constraint
	8115: true, // arithmetic overflow
	8134: true, // divide by zero
}

// constraintErrors are followed by 3621 "The statement has been
// terminated." (severity 0), as SQL Server's transcripts show.
var constraintErrors = map[int32]bool{515: true, 547: true, 2601: true, 2627: true}

// endsStatementOnly reports whether err ends only its statement, so that
// the batch goes on: one of statementErrors, outside a TRY block (where
// the CATCH block takes every error) and with XACT_ABORT OFF.
func (x *execCtx) endsStatementOnly(err error) bool {
	if x.tryDepth > 0 || x.s.xactAbort {
		return false
	}
	m := lastMessage(err)
	return m != nil && m.Class < 19 && statementErrors[m.Number]
}

// reportStatementError sends the error of a statement that ends alone,
// then its DONE; @@ERROR already holds its number (rowcount.go).
func (x *execCtx) reportStatementError(err error) {
	var msgs []*tds.Message
	if me, ok := err.(*multiErr); ok {
		msgs = me.msgs
	} else if m := lastMessage(err); m != nil {
		msgs = []*tds.Message{m}
	}
	for _, m := range msgs {
		m.Server = x.s.in.ServerName()
		if m.Line == 0 {
			m.Line = int32(max(x.line, 1))
		}
		x.w.Message(*m)
	}
	if m := lastMessage(err); m != nil && constraintErrors[m.Number] {
		x.w.Message(tds.Message{Number: 3621, Class: 0, State: 0, Text: "The statement has been terminated.",
			Server: x.s.in.ServerName(), Line: int32(max(x.line, 1))})
	}
	x.w.Done(0, false)
}

// isFatal reports whether err is of severity 20 or above: the connection
// ends after the message.
func isFatal(err error) bool {
	m := lastMessage(err)
	return m != nil && m.Class >= 20
}

// fatalErr tells the tds package to close the connection once the
// answer so far is sent.
func fatalErr(err error) error {
	return fmt.Errorf("%w: %v", tds.ErrFatal, err)
}
