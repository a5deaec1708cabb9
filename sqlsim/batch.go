package sqlsim

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/sqlvault/sqlvault/sqlsim/tds"
)

// errContinue ends a statement whose error was already sent and which
// does not abort the batch (RAISERROR).
var errContinue = errors.New("sqlsim: statement done, batch continues")

// compile checks a batch of several statements before any runs: they run
// on a copy of the instance (no disk, no network; BACKUP and RESTORE are
// skipped, as they reach outside), and the first compile error (severity
// 15: syntax, undeclared variables, wrong argument counts) is the batch's
// only answer. Runtime errors there are ignored: the real run meets them.
func (s *session) compile(ctx context.Context, toks []token, ps map[string]any) (err error) {
	if done, err := parseOnly(toks, ps); done {
		return err
	}
	sb, serr := s.in.sandbox()
	if serr != nil {
		s.in.cfg.Logger.Warn("sqlsim: batch not compiled first", "err", serr)
		return nil
	}
	defer func() {
		if r := recover(); r != nil { // a copy that cannot run proves nothing
			err = nil
		}
	}()
	ss := &session{in: sb, login: s.login, db: s.db, loginDB: s.loginDB, compiling: true,
		tx: tran{count: s.tx.count, snaps: map[string]map[string]*Table{}}}
	vars := make(map[string]any, len(ps))
	for k, v := range ps {
		vars[k] = v
	}
	x := &execCtx{ctx: ctx, s: ss, w: discard{}, params: vars}
	return x.compileStatements(&parser{toks: toks})
}

// compileStatements runs statements on the copy until EOF, skipping past
// runtime errors; the first compile error is the answer.
func (x *execCtx) compileStatements(p *parser) error {
	for {
		for p.acceptOp(";") {
		}
		if p.peek().kind == tEOF || x.ctx.Err() != nil {
			return nil
		}
		x.line = p.peek().line
		if p.is("BACKUP") || p.is("RESTORE") {
			skipStatement(p)
			continue
		}
		start := p.pos
		err := x.statement(p)
		var m *tds.Message
		if errors.As(err, &m) && m.Class == 15 {
			if m.Line == 0 {
				m.Line = int32(x.line)
			}
			return err
		}
		if err != nil && !errors.Is(err, errContinue) {
			if p.pos == start {
				p.next()
			}
			skipStatement(p)
		}
	}
}

// parseOnly compiles a batch made only of statements whose syntax can be
// checked without running them (queries, DML, USE, transactions,
// messages, variables, SET, BACKUP/RESTORE, which the copy skips anyway),
// so the commonest batches need no copy of the instance. done is false
// when a statement of another kind needs the copy.
func parseOnly(toks []token, params map[string]any) (done bool, err error) {
	c := &checker{p: &parser{toks: toks}, vars: map[string]bool{}}
	for name := range params {
		c.vars[name] = true
	}
	for {
		for c.p.acceptOp(";") {
		}
		if c.p.peek().kind == tEOF {
			if len(c.blocks) > 0 { // a TRY or CATCH block left open
				return true, c.p.syntaxErr()
			}
			return true, nil
		}
		ok, err := c.statement()
		if !ok {
			return false, nil
		}
		if err == nil && !c.p.atStmtEnd() {
			err = c.p.syntaxErr() // what follows cannot start a statement
		}
		if err != nil {
			var m *tds.Message
			if errors.As(err, &m) && m.Class == 15 {
				return true, err
			}
			return false, nil
		}
	}
}

// checker parses statements without running them; vars are the
// parameters and the variables declared so far.
type checker struct {
	p      *parser
	vars   map[string]bool
	blocks []string // the TRY and CATCH blocks open, innermost last
}

func (c *checker) statement() (bool, error) {
	p := c.p
	switch {
	case p.is("SELECT"):
		st, err := p.parseSelect()
		if err != nil {
			return true, err
		}
		var es []expr
		for _, it := range st.items {
			es = append(es, it.e)
		}
		for _, o := range st.orderBy {
			es = append(es, o.e)
		}
		for _, f := range st.from {
			es = append(es, f.on)
		}
		if containsAggregate(st.where) { // compiled, so an empty table does not hide it
			return true, sqlErr(147, 15, "An aggregate may not appear in the WHERE clause unless it is in a subquery contained in a HAVING clause or a select list, and the column being aggregated is an outer reference.")
		}
		return true, c.declared(append(es, st.where)...)
	case p.is("INSERT"):
		return true, c.insert()
	case p.is("UPDATE"):
		return true, c.update()
	case p.is("DELETE"):
		p.next()
		p.accept("FROM")
		return true, c.tableAndWhere()
	case p.is("USE"):
		p.next()
		_, err := p.name()
		return true, err
	case p.is("DECLARE"):
		return true, c.declare()
	case p.is("SET") && p.peekAt(1).kind == tParam:
		p.next()
		name := strings.ToLower(p.next().text)
		if !c.vars[name] {
			return true, sqlErr(137, 15, fmt.Sprintf("Must declare the scalar variable \"%s\".", name))
		}
		if err := p.expectOp("="); err != nil {
			return true, err
		}
		return true, c.exprs(1)
	case p.is("RAISERROR"):
		p.next()
		if err := p.expectOp("("); err != nil {
			return true, err
		}
		if err := c.exprs(0); err != nil {
			return true, err
		}
		if err := p.expectOp(")"); err != nil {
			return true, err
		}
		if p.accept("WITH") {
			for {
				if _, err := p.name(); err != nil {
					return true, err
				}
				if !p.acceptOp(",") {
					break
				}
			}
		}
		return true, nil
	case p.is("PRINT"), p.is("THROW"):
		throw := p.is("THROW")
		p.next()
		if p.atStmtEnd() {
			if throw && !c.inCatch() {
				return true, sqlErr(10704, 15, "To rethrow an error, a THROW statement must be used inside a CATCH block.")
			}
			return true, nil
		}
		return true, c.exprs(0)
	case p.is("BEGIN") && (strings.EqualFold(p.peekAt(1).text, "TRAN") || strings.EqualFold(p.peekAt(1).text, "TRANSACTION")),
		p.is("SAVE") && (strings.EqualFold(p.peekAt(1).text, "TRAN") || strings.EqualFold(p.peekAt(1).text, "TRANSACTION")),
		p.is("COMMIT"), p.is("ROLLBACK"):
		save := p.is("SAVE")
		p.next()
		if !p.accept("TRAN") && !p.accept("TRANSACTION") {
			p.accept("WORK")
		}
		t := p.peek()
		if t.kind == tParam && !c.vars[strings.ToLower(t.text)] {
			return true, sqlErr(137, 15, fmt.Sprintf("Must declare the scalar variable \"%s\".", t.text))
		}
		if (t.kind == tIdent && !(isStmtStart(t.text) && !t.quoted)) || t.kind == tParam {
			p.next()
		} else if save {
			return true, p.syntaxErr() // SAVE TRAN needs a name
		}
		return true, nil
	case p.is("BEGIN") && (strings.EqualFold(p.peekAt(1).text, "TRY") || strings.EqualFold(p.peekAt(1).text, "CATCH")),
		p.is("END") && (strings.EqualFold(p.peekAt(1).text, "TRY") || strings.EqualFold(p.peekAt(1).text, "CATCH")):
		return true, c.block()
	case p.is("SET"), p.is("CHECKPOINT"), p.is("GO"), p.is("BACKUP"), p.is("RESTORE"):
		skipStatement(p)
		return true, nil
	}
	return false, nil
}

func (c *checker) insert() error {
	p := c.p
	p.next()
	p.accept("INTO")
	if _, err := p.multipart(); err != nil {
		return err
	}
	if p.acceptOp("(") {
		for {
			if _, err := p.name(); err != nil {
				return err
			}
			if !p.acceptOp(",") {
				break
			}
		}
		if err := p.expectOp(")"); err != nil {
			return err
		}
	}
	if err := p.expect("VALUES"); err != nil {
		return err
	}
	for {
		if err := p.expectOp("("); err != nil {
			return err
		}
		if err := c.exprs(0); err != nil {
			return err
		}
		if err := p.expectOp(")"); err != nil {
			return err
		}
		if !p.acceptOp(",") {
			return nil
		}
	}
}

func (c *checker) update() error {
	p := c.p
	p.next()
	if _, err := p.multipart(); err != nil {
		return err
	}
	if err := p.expect("SET"); err != nil {
		return err
	}
	for {
		if _, err := p.name(); err != nil {
			return err
		}
		if err := p.expectOp("="); err != nil {
			return err
		}
		if err := c.exprs(1); err != nil {
			return err
		}
		if !p.acceptOp(",") {
			break
		}
	}
	return c.where()
}

func (c *checker) tableAndWhere() error {
	if _, err := c.p.multipart(); err != nil {
		return err
	}
	return c.where()
}

func (c *checker) where() error {
	if !c.p.accept("WHERE") {
		return nil
	}
	return c.exprs(1)
}

func (c *checker) declare() error {
	p := c.p
	p.next()
	for {
		t := p.next()
		if t.kind != tParam {
			return sqlErr(102, 15, fmt.Sprintf("Incorrect syntax near '%s'.", t.text))
		}
		p.accept("AS")
		if _, err := p.typeName(); err != nil {
			return err
		}
		if p.acceptOp("=") {
			if err := c.exprs(1); err != nil {
				return err
			}
		}
		c.vars[strings.ToLower(t.text)] = true
		if !p.acceptOp(",") {
			return nil
		}
	}
}

// exprs parses n comma-separated expressions (0: as many as there are).
func (c *checker) exprs(n int) error {
	for i := 0; n == 0 || i < n; i++ {
		e, err := c.p.expr()
		if err != nil {
			return err
		}
		if err := c.declared(e); err != nil {
			return err
		}
		if n == 0 && !c.p.acceptOp(",") {
			return nil
		}
		if n > 0 && i < n-1 && !c.p.acceptOp(",") {
			return c.p.syntaxErr()
		}
	}
	return nil
}

// declared refuses a variable the batch neither declares nor was given
// (137, a compile error).
func (c *checker) declared(es ...expr) error {
	for _, e := range es {
		if p, ok := e.(paramExpr); ok && !c.vars[p.name] {
			return sqlErr(137, 15, fmt.Sprintf("Must declare the scalar variable \"%s\".", p.name))
		}
		if err := c.declared(children(e)...); err != nil {
			return err
		}
	}
	return nil
}

// containsAggregate reports whether e calls COUNT, MAX, MIN, SUM or
// COUNT_BIG anywhere.
func containsAggregate(e expr) bool {
	if f, ok := e.(funcExpr); ok && aggregates[f.name] {
		return true
	}
	for _, x := range children(e) {
		if containsAggregate(x) {
			return true
		}
	}
	return false
}

// children are the expressions e is made of, for the compile-time walks.
func children(e expr) []expr {
	switch e := e.(type) {
	case binExpr:
		return []expr{e.l, e.r}
	case notExpr:
		return []expr{e.e}
	case isNullExpr:
		return []expr{e.e}
	case inExpr:
		return append([]expr{e.e}, e.list...)
	case inSubqueryExpr:
		return []expr{e.e}
	case likeExpr:
		return []expr{e.e, e.pat}
	case funcExpr:
		return e.args
	case castExpr:
		return []expr{e.e}
	}
	return nil
}

func skipStatement(p *parser) {
	p.next()
	for !p.atStmtEnd() {
		p.next()
	}
}

// sandbox is a copy of the instance that keeps its state in memory and
// reaches no URL.
func (in *Instance) sandbox() (*Instance, error) {
	var buf bytes.Buffer
	in.mu.Lock()
	err := gob.NewEncoder(&buf).Encode(in.st)
	in.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var st state
	if err := gob.NewDecoder(&buf).Decode(&st); err != nil {
		return nil, err
	}
	cfg := in.cfg
	cfg.DataDir, cfg.Blobs, cfg.Logger = "", noNetwork{}, slog.New(slog.DiscardHandler)
	return &Instance{cfg: cfg, flav: in.flav, st: &st, inUse: map[string]int{}}, nil
}

type noNetwork struct{}

func (noNetwork) Create(context.Context, string, string, int) (BlobWriter, error) {
	return nil, errors.New("sqlsim: no device while compiling")
}
func (noNetwork) Open(context.Context, string, string) (BlobReader, error) {
	return nil, errors.New("sqlsim: no device while compiling")
}

// discard answers nothing: the compile pass's writer.
type discard struct{}

func (discard) Columns([]tds.Column) error  { return nil }
func (discard) Row(...any) error            { return nil }
func (discard) Done(int64, bool) error      { return nil }
func (discard) Message(tds.Message) error   { return nil }
func (discard) Flush() error                { return nil }
func (discard) ChangeDatabase(string) error { return nil }

// declare is DECLARE @name type [= value] [, ...]
// (learn.microsoft.com/sql/t-sql/language-elements/declare-local-variable-transact-sql).
func (x *execCtx) declare(p *parser) error {
	p.next()
	for {
		t := p.next()
		if t.kind != tParam {
			return sqlErr(102, 15, fmt.Sprintf("Incorrect syntax near '%s'.", t.text))
		}
		name := strings.ToLower(t.text)
		p.accept("AS")
		typ, err := p.typeName()
		if err != nil {
			return err
		}
		if _, dup := x.types[name]; dup {
			return sqlErr(134, 15, fmt.Sprintf("The variable name '%s' has already been declared. Variable names must be unique within a query batch or stored procedure.", t.text))
		}
		if x.types == nil {
			x.types = map[string]string{}
		}
		x.types[name], x.params[name] = typ, nil
		if p.acceptOp("=") {
			if err := x.assign(p, name); err != nil {
				return err
			}
		}
		if !p.acceptOp(",") {
			return x.w.Done(0, false)
		}
	}
}

// setVar is SET @name = value.
func (x *execCtx) setVar(p *parser) error {
	p.next()
	t := p.next()
	name := strings.ToLower(t.text)
	if _, ok := x.types[name]; !ok {
		return sqlErr(137, 15, fmt.Sprintf("Must declare the scalar variable \"%s\".", t.text))
	}
	if err := p.expectOp("="); err != nil {
		return err
	}
	if err := x.assign(p, name); err != nil {
		return err
	}
	return x.w.Done(0, false)
}

func (x *execCtx) assign(p *parser, name string) error {
	v, err := x.value(p)
	if err != nil {
		return err
	}
	if v, err = castTo(v, x.types[name]); err != nil {
		return err
	}
	x.params[name] = v
	return nil
}

// value parses the next expression and evaluates it with no row in scope.
func (x *execCtx) value(p *parser) (any, error) {
	e, err := p.expr()
	if err != nil {
		return nil, err
	}
	if hasSubquery(e) {
		x.s.in.mu.Lock()
		defer x.s.in.mu.Unlock()
	}
	return x.eval(e, nil)
}

// messageStmt runs PRINT, RAISERROR and THROW.
func (x *execCtx) messageStmt(p *parser) error {
	verb := strings.ToUpper(p.next().text)
	paren := verb == "RAISERROR" && p.acceptOp("(")
	var args []any
	for !p.atStmtEnd() && !p.isOp(")") && !p.is("WITH") {
		v, err := x.value(p)
		if err != nil {
			return err
		}
		args = append(args, v)
		if !p.acceptOp(",") {
			break
		}
	}
	if paren {
		if err := p.expectOp(")"); err != nil {
			return err
		}
	}
	withLog := false
	if p.accept("WITH") {
		for {
			opt, err := p.name()
			if err != nil {
				return err
			}
			withLog = withLog || strings.EqualFold(opt, "LOG")
			if !p.acceptOp(",") {
				break
			}
		}
	}
	switch verb {
	case "PRINT":
		return x.print(args)
	case "RAISERROR":
		return x.raiserror(args, withLog)
	}
	return x.throw(args)
}

// print sends its text as an informational message (number 0, severity
// 0), as PRINT does (learn.microsoft.com/sql/t-sql/language-elements/print-transact-sql).
func (x *execCtx) print(args []any) error {
	if len(args) != 1 {
		return sqlErr(102, 15, "Incorrect syntax near 'PRINT'.")
	}
	text := ""
	if args[0] != nil {
		v, err := castTo(args[0], "nvarchar")
		if err != nil {
			return err
		}
		text = v.(string)
	}
	x.info(text)
	return x.w.Done(0, false)
}

// raiserror follows RAISERROR
// (learn.microsoft.com/sql/t-sql/language-elements/raiserror-transact-sql):
// a text raises 50000 with printf-style arguments; severity 0-10 is
// informational; 11-18 is an error that does not end the batch; 19-25
// needs WITH LOG and sysadmin.
func (x *execCtx) raiserror(args []any, withLog bool) error {
	if len(args) < 3 {
		return sqlErr(102, 15, "Incorrect syntax near 'RAISERROR'.")
	}
	sev, ok1 := args[1].(int64)
	state, ok2 := args[2].(int64)
	if !ok1 || !ok2 {
		return sqlErr(102, 15, "Incorrect syntax near 'RAISERROR'.")
	}
	if sev > 18 && (!withLog || !x.s.login.Sysadmin) {
		return sqlErr(2754, 16, "Error severity levels greater than 18 can only be specified by members of the sysadmin role, using the WITH LOG option.")
	}
	m := tds.Message{Number: 50000, Class: uint8(min(max(sev, 0), 25)), State: uint8(min(max(state, 0), 255)),
		Server: x.s.in.ServerName(), Line: int32(x.line)}
	switch msg := args[0].(type) {
	case string:
		m.Text = sprintfSQL(msg, args[3:])
	case int64:
		m.Number, m.Class, m.State = 18054, 16, 1
		m.Text = fmt.Sprintf("Error %d, severity %d, state %d was raised, but no message with that error number was found in sys.messages. If error is larger than 50000, make sure the user-defined message is added using sp_addmessage.", msg, sev, state)
	default:
		return sqlErr(102, 15, "Incorrect syntax near 'RAISERROR'.")
	}
	if sev > 18 || (sev >= 11 && x.tryDepth > 0) { // 19+ ends the batch; in a TRY block the CATCH block takes it
		return raisedErr{&m}
	}
	x.w.Message(m)
	x.w.Done(0, false)
	return errContinue
}

// throw follows THROW
// (learn.microsoft.com/sql/t-sql/language-elements/throw-transact-sql):
// severity 16, the batch ends; numbers below 50000 are refused (35100).
func (x *execCtx) throw(args []any) error {
	if len(args) == 0 {
		return x.rethrow()
	}
	if len(args) != 3 {
		return sqlErr(102, 15, "Incorrect syntax near 'THROW'.")
	}
	n, ok1 := args[0].(int64)
	state, ok2 := args[2].(int64)
	if !ok1 || !ok2 {
		return sqlErr(102, 15, "Incorrect syntax near 'THROW'.")
	}
	if n < 50000 || n > 2147483647 {
		return sqlErr(35100, 16, fmt.Sprintf("Error number %d in the THROW statement is outside the valid range. Specify an error number in the valid range of 50000 to 2147483647.", n))
	}
	return &tds.Message{Number: int32(n), Class: 16, State: uint8(min(max(state, 0), 255)), Text: fmt.Sprint(args[1]), Line: int32(x.line)}
}

var printfSpec = regexp.MustCompile(`%[-+ 0#]*(\d+|\*)?(\.\d+)?[hlI]*[diosuxX%]`)

// sprintfSQL substitutes RAISERROR's printf-style arguments.
func sprintfSQL(format string, args []any) string {
	i := 0
	return printfSpec.ReplaceAllStringFunc(format, func(spec string) string {
		if spec == "%%" {
			return "%"
		}
		if i >= len(args) {
			return "(null)"
		}
		a := args[i]
		i++
		if a == nil {
			return "(null)"
		}
		verb := spec[len(spec)-1]
		goSpec := strings.TrimRight(spec[:len(spec)-1], "hlI")
		switch verb {
		case 'i', 'u':
			verb = 'd'
		case 's':
			if d, ok := a.(tds.Decimal); ok {
				a = d.String()
			}
		}
		return fmt.Sprintf(goSpec+string(verb), a)
	})
}

// waitfor is WAITFOR DELAY 'hh:mm[:ss[.mss]]'
// (learn.microsoft.com/sql/t-sql/language-elements/waitfor-transact-sql);
// a cancel (ATTENTION) ends it. WAITFOR TIME is not simulated.
func (x *execCtx) waitfor(p *parser) error {
	p.next()
	if !p.accept("DELAY") {
		return p.syntaxErr()
	}
	v, err := x.value(p)
	if err != nil {
		return err
	}
	t, err := time.Parse("15:04:05.999", fmt.Sprint(v))
	if err != nil {
		if t, err = time.Parse("15:04", fmt.Sprint(v)); err != nil {
			return sqlErr(148, 15, "Incorrect time syntax in time string '"+fmt.Sprint(v)+"' used with WAITFOR.")
		}
	}
	d := time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond())
	if x.s.compiling {
		return x.w.Done(0, false)
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-x.ctx.Done():
		return x.ctx.Err()
	case <-timer.C:
	}
	return x.w.Done(0, false)
}
