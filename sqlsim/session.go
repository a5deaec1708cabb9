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
}

func (s *session) Database() string { return s.db }

// Reset implements the tds package's optional reset: a pooled connection
// is reused, so the session goes back to its login database.
func (s *session) Reset(ctx context.Context) error {
	s.in.mu.Lock()
	defer s.in.mu.Unlock()
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
	s.in.inUse[strings.ToLower(s.db)]--
	s.in.mu.Unlock()
}

// execCtx carries one statement's context.
type execCtx struct {
	ctx    context.Context
	s      *session
	w      tds.ResultWriter
	params map[string]any
	now    time.Time // the batch's clock reading for GETDATE and friends
}

// Exec runs a batch: statements one after another until one fails, as SQL
// Server aborts a batch on the errors the simulator raises.
func (s *session) Exec(ctx context.Context, sql string, params []tds.Param, w tds.ResultWriter) error {
	toks, err := lex(sql)
	if err != nil {
		return s.fail(w, err)
	}
	ps := map[string]any{}
	for _, p := range params {
		ps[strings.ToLower(p.Name)] = p.Value
	}
	p := &parser{toks: toks}
	x := &execCtx{ctx: ctx, s: s, w: w, params: ps}
	for {
		for p.acceptOp(";") {
		}
		if p.peek().kind == tEOF {
			return nil
		}
		if err := x.statement(p); err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, errConnectionCut) {
				return err
			}
			return s.fail(w, err)
		}
	}
}

// fail reports a SQL error and ends the batch.
func (s *session) fail(w tds.ResultWriter, err error) error {
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
	x.w.Message(tds.Message{Number: 0, Class: 0, State: 1, Text: text, Server: x.s.in.ServerName()})
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
		return x.ddl(p)
	case p.is("INSERT"):
		return x.insert(p)
	case p.is("UPDATE"):
		return x.update(p)
	case p.is("DELETE"):
		return x.deleteStmt(p)
	case p.is("BACKUP"):
		return x.backup(p)
	case p.is("RESTORE"):
		return x.restore(p)
	case p.is("EXEC"), p.is("EXECUTE"):
		return x.exec(p)
	case p.is("SET"), p.is("BEGIN"), p.is("COMMIT"), p.is("CHECKPOINT"), p.is("PRINT"), p.is("GO"):
		// Session options and transaction brackets change nothing here:
		// every statement commits on its own.
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
		e, err := p.expr()
		if err != nil {
			return err
		}
		v, err := x.eval(e, nil)
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
