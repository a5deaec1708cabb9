package sqlsim

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sqlvault/sqlvault/sqlsim/tds"
)

// session is one connection's state.
type session struct {
	in    *Instance
	login *Login
	db    string // current database
	// loginDB is where the login put the session; a pooled connection's
	// reset (RESETCONNECTION) returns there.
	loginDB string
	tx      tran // the explicit transaction, if any (tran.go)
	// compiling marks the copy a batch is compiled on (batch.go): it
	// does not wait.
	compiling bool
	// xactAbort is SET XACT_ABORT ON (tran.go).
	xactAbort bool
	// rowCount and lastError are @@ROWCOUNT and @@ERROR (rowcount.go).
	rowCount  int64
	lastError int32
}

func (s *session) Database() string { return s.db }

// Reset implements the tds package's optional reset: a pooled connection
// is reused, so the session goes back to its login database.
func (s *session) Reset(ctx context.Context) error {
	s.in.mu.Lock()
	defer s.in.mu.Unlock()
	s.endTran()
	s.xactAbort = false
	s.in.inUse[strings.ToLower(s.db)]--
	s.db = s.loginDB
	if _, ok := s.in.st.Databases[strings.ToLower(s.db)]; !ok {
		s.db = "master"
	}
	s.in.inUse[strings.ToLower(s.db)]++
	return nil
}

func (s *session) Close() {
	s.in.mu.Lock()
	s.endTran()
	s.in.inUse[strings.ToLower(s.db)]--
	s.in.mu.Unlock()
}

// execCtx carries one statement's context.
type execCtx struct {
	ctx    context.Context
	s      *session
	w      tds.ResultWriter
	params map[string]any    // parameters and DECLAREd variables, by lower-case name
	now    time.Time         // the batch's clock reading for GETDATE and friends
	line   int               // line of the batch where the running statement starts
	types  map[string]string // DECLAREd variables' types
	// caught is the error the running CATCH block handles (trycatch.go);
	// tryDepth and catchDepth count the TRY and CATCH blocks running.
	caught               *tds.Message
	tryDepth, catchDepth int
	// outer is the outer query's row while a subquery runs (subquery.go).
	outer *rowCtx
}

// Exec runs a batch. As SQL Server, it compiles the whole batch first
// (learn.microsoft.com/sql/t-sql/language-elements/batches): a syntax
// error runs none of it. Then statements run one after another; an error
// ends its statement only or the whole batch as SQL Server decides
// (errors.go).
// A USE inside sp_executesql lasts until the call returns, as with
// EXECUTE (learn.microsoft.com/sql/relational-databases/system-stored-procedures/sp-executesql-transact-sql).
func (s *session) Exec(ctx context.Context, sql string, params []tds.Param, w tds.ResultWriter) error {
	s.in.agSync() // a replica reads what its primary committed (ag.go)
	// A primary ships the batch's changes before the final DONE:
	// synchronous commit (ag_commit.go).
	defer s.in.agCommitted()
	toks, err := lex(sql)
	if err != nil {
		return s.fail(w, err, 1)
	}
	ps := map[string]any{}
	for _, p := range params {
		ps[strings.ToLower(p.Name)] = p.Value
	}
	if err := s.compile(ctx, toks, ps); err != nil {
		return s.fail(w, err, 0)
	}
	if params != nil {
		defer s.restoreDB(s.db)
	}
	x := &execCtx{ctx: ctx, s: s, w: &stmtWriter{ResultWriter: w}, params: ps}
	err = x.runStatements(&parser{toks: toks})
	switch {
	case err == nil:
		return s.endBatch(w)
	case errors.Is(err, context.Canceled) || errors.Is(err, errConnectionCut):
		return err
	}
	s.abortTran(w, err)
	if ferr := s.fail(w, err, x.line); ferr != nil || !isFatal(err) {
		return ferr
	}
	return fatalErr(err) // severity 20+: the connection closes after the message
}

// restoreDB puts the session back in database name after sp_executesql.
func (s *session) restoreDB(name string) {
	s.in.mu.Lock()
	defer s.in.mu.Unlock()
	if _, ok := s.in.st.Databases[strings.ToLower(name)]; !ok || strings.EqualFold(name, s.db) {
		return
	}
	s.in.inUse[strings.ToLower(s.db)]--
	s.db = name
	s.in.inUse[strings.ToLower(name)]++
}

// endTran rolls back a transaction the session leaves open (a closed or
// reset connection); callers hold in.mu.
func (s *session) endTran() {
	if s.tx.count > 0 {
		s.rollback()
	}
}

// fail reports a SQL error and ends the batch; a message without a line
// gets the line of the statement that raised it.
func (s *session) fail(w tds.ResultWriter, err error, line int) error {
	var msgs []*tds.Message
	var me *multiErr
	var m *tds.Message
	switch {
	case errors.As(err, &me):
		msgs = me.msgs
	case errors.As(err, &m):
		msgs = []*tds.Message{m}
	default:
		msgs = []*tds.Message{sqlErr(50000, 16, err.Error())}
	}
	for _, m := range msgs {
		m.Server = s.in.ServerName()
		if m.Line == 0 {
			m.Line = int32(max(line, 1))
		}
		w.Message(*m)
	}
	return w.Done(0, false)
}

// multiErr is several SQL errors raised by one statement (e.g. 3201 then
// 3013 for a failed BACKUP).
type multiErr struct{ msgs []*tds.Message }

func (e *multiErr) Error() string {
	parts := make([]string, len(e.msgs))
	for i, m := range e.msgs {
		parts[i] = m.Text
	}
	return strings.Join(parts, " ")
}

var errConnectionCut = errors.New("sqlsim: connection cut by fault injection")

func (x *execCtx) info(text string) {
	x.w.Message(tds.Message{Number: 0, Class: 0, State: 1, Text: text, Server: x.s.in.ServerName(), Line: int32(max(x.line, 1))})
}

// statement dispatches on the first keywords.
func (x *execCtx) statement(p *parser) error {
	switch {
	case p.is("SELECT"):
		return x.selectStmt(p)
	case p.is("USE"):
		p.next()
		name, err := p.name()
		if err != nil {
			return err
		}
		return x.use(name)
	case p.is("CREATE"), p.is("ALTER"), p.is("DROP"):
		if x.s.tx.count > 0 && strings.EqualFold(p.peekAt(1).text, "DATABASE") { // learn.microsoft.com/sql/t-sql/statements/create-database-transact-sql#limitations-and-restrictions
			return sqlErr(226, 16, strings.ToUpper(p.peek().text)+" DATABASE statement not allowed within multi-statement transaction.")
		}
		return x.ddl(p)
	case p.is("INSERT"):
		return x.insert(p)
	case p.is("UPDATE"):
		return x.update(p)
	case p.is("DELETE"):
		return x.deleteStmt(p)
	case p.is("BACKUP"), p.is("RESTORE"):
		if x.s.tx.count > 0 { // learn.microsoft.com/sql/t-sql/statements/backup-transact-sql#limitations-and-restrictions
			return &multiErr{[]*tds.Message{sqlErr(3021, 16, "Cannot perform a backup or restore operation within a transaction."),
				sqlErr(3013, 16, strings.ToUpper(p.peek().text)+" DATABASE is terminating abnormally.")}}
		}
		if p.is("BACKUP") {
			return x.backup(p)
		}
		return x.restore(p)
	case p.is("EXEC"), p.is("EXECUTE"):
		return x.exec(p)
	case p.is("DBCC"):
		return x.dbcc(p)
	case p.is("IF"):
		return x.ifStmt(p)
	case isBlockStart(p.toks, p.pos):
		return x.blockStmt(p)
	case p.is("BEGIN") && (strings.EqualFold(p.peekAt(1).text, "TRY")):
		return x.tryCatch(p)
	case p.is("BEGIN"), p.is("COMMIT"), p.is("ROLLBACK"), p.is("SAVE"):
		return x.tranStmt(p)
	case p.is("PRINT"), p.is("RAISERROR"), p.is("THROW"):
		return x.messageStmt(p)
	case p.is("DECLARE"):
		return x.declare(p)
	case p.is("WAITFOR"):
		return x.waitfor(p)
	case p.is("SET") && p.peekAt(1).kind == tParam:
		return x.setVar(p)
	case p.is("SET") && strings.EqualFold(p.peekAt(1).text, "XACT_ABORT"):
		return x.setXactAbort(p)
	case x.s.tx.doomed && writes(p):
		return errDoomed()
	case p.is("SET"), p.is("CHECKPOINT"), p.is("GO"):
		// Session options change nothing here.
		p.next()
		for !p.atStmtEnd() {
			p.next()
		}
		return x.w.Done(0, false)
	}
	return p.syntaxErr()
}

func (x *execCtx) use(name string) error {
	in := x.s.in
	in.mu.Lock()
	defer in.mu.Unlock()
	d, ok := in.st.Databases[strings.ToLower(name)]
	if !ok {
		return sqlErr(911, 16, fmt.Sprintf("Database '%s' does not exist. Make sure that the name is entered correctly.", name))
	}
	if d.State != "ONLINE" {
		return sqlErr(927, 14, fmt.Sprintf("Database '%s' cannot be opened. It is in the middle of a restore.", d.Name))
	}
	in.inUse[strings.ToLower(x.s.db)]--
	x.s.db = d.Name
	in.inUse[strings.ToLower(d.Name)]++
	x.w.ChangeDatabase(d.Name)
	return x.w.Done(0, false)
}

// exec handles the system procedures the simulator knows.
func (x *execCtx) exec(p *parser) error {
	p.next()
	parts, err := p.multipart()
	if err != nil {
		return err
	}
	proc := strings.ToLower(parts[len(parts)-1])
	var args []any
	for !p.atStmtEnd() {
		if p.peek().kind == tParam && p.peekAt(1).kind == tOp && p.peekAt(1).text == "=" {
			p.next()
			p.next()
		}
		v, err := x.value(p)
		if err != nil {
			return err
		}
		args = append(args, v)
		if !p.acceptOp(",") {
			break
		}
	}
	switch proc {
	case "sp_addsrvrolemember":
		if len(args) != 2 || !strings.EqualFold(fmt.Sprint(args[1]), "sysadmin") {
			return sqlErr(15412, 16, "sp_addsrvrolemember: only the sysadmin role is simulated.")
		}
		return x.addSysadmin(fmt.Sprint(args[0]), true)
	case "sp_dropsrvrolemember":
		if len(args) != 2 {
			return sqlErr(201, 16, "Procedure or function 'sp_dropsrvrolemember' expects parameter '@rolename', which was not supplied.")
		}
		return x.addSysadmin(fmt.Sprint(args[0]), false)
	}
	return sqlErr(2812, 16, fmt.Sprintf("Could not find stored procedure '%s'.", parts[len(parts)-1]))
}

func (x *execCtx) requireSysadmin(what string) error {
	if x.s.login.Sysadmin {
		return nil
	}
	return sqlErr(262, 14, fmt.Sprintf("%s permission denied in database '%s'.", what, x.s.db))
}

func (x *execCtx) addSysadmin(name string, add bool) error {
	if err := x.requireSysadmin("ALTER SERVER ROLE"); err != nil {
		return sqlErr(15247, 16, "User does not have permission to perform this action.")
	}
	in := x.s.in
	in.mu.Lock()
	defer in.mu.Unlock()
	l, ok := in.st.Logins[strings.ToLower(name)]
	if !ok {
		return sqlErr(15151, 16, fmt.Sprintf("Cannot add the principal '%s', because it does not exist or you do not have permission.", name))
	}
	l.Sysadmin = add
	if err := in.save(); err != nil {
		return err
	}
	return x.w.Done(0, false)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
