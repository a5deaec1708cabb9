package sqlsim

import (
	"errors"
	"strings"
	"time"

	"github.com/sqlvault/sqlvault/sqlsim/tds"
)

// TRY...CATCH (learn.microsoft.com/sql/t-sql/language-elements/try-catch-transact-sql):
// an error of severity 11 to 19 in the TRY block sends nothing to the
// client and runs the CATCH block, where ERROR_NUMBER() and its siblings
// describe it. Compile errors (severity 15 here), severity 20 and above
// and a cancel (ATTENTION) are not caught.

// tryCatch runs BEGIN TRY ... END TRY BEGIN CATCH ... END CATCH.
func (x *execCtx) tryCatch(p *parser) error {
	tryBody, catchBody, err := splitTryCatch(p)
	if err != nil {
		return err
	}
	if x.s.compiling { // both blocks are compiled, whatever the TRY block meets
		if err := x.compileStatements(&parser{toks: tryBody}); err != nil {
			return err
		}
		x.catchDepth++
		defer func() { x.catchDepth-- }()
		return x.compileStatements(&parser{toks: catchBody})
	}
	x.tryDepth++
	err = x.runStatements(&parser{toks: tryBody})
	x.tryDepth--
	m := catchable(err)
	if m == nil {
		return err
	}
	if x.s.xactAbort && x.s.tx.count > 0 && !isRaised(err) {
		x.s.tx.doomed = true
	}
	outer := x.caught
	x.caught = m
	x.catchDepth++
	defer func() { x.caught = outer; x.catchDepth-- }()
	return x.runStatements(&parser{toks: catchBody})
}

// splitTryCatch reads the construct at p and returns the tokens of each
// block, each ending in EOF; p moves past END CATCH. A TRY block must not
// be empty and BEGIN CATCH must follow END TRY at once (102 otherwise).
func splitTryCatch(p *parser) (tryBody, catchBody []token, err error) {
	p.next() // BEGIN
	p.next() // TRY
	start := p.pos
	end, err := blockEnd(p, "TRY")
	if err != nil {
		return nil, nil, err
	}
	if end == start {
		p.pos = end
		return nil, nil, p.syntaxErr()
	}
	tryBody = block(p.toks, start, end)
	p.pos = end + 2
	if !p.is("BEGIN") || !strings.EqualFold(p.peekAt(1).text, "CATCH") {
		return nil, nil, p.syntaxErr()
	}
	p.next()
	p.next()
	start = p.pos
	if end, err = blockEnd(p, "CATCH"); err != nil {
		return nil, nil, err
	}
	p.pos = end + 2
	return tryBody, block(p.toks, start, end), nil
}

// blockEnd finds the END kind closing the block that starts at p.pos,
// skipping nested blocks of the same kind.
func blockEnd(p *parser, kind string) (int, error) {
	depth := 0
	for i := p.pos; i < len(p.toks)-1; i++ {
		t, n := p.toks[i], p.toks[i+1]
		if t.kind != tIdent || t.quoted || !strings.EqualFold(n.text, kind) || n.kind != tIdent {
			continue
		}
		switch strings.ToUpper(t.text) {
		case "BEGIN":
			depth++
		case "END":
			if depth == 0 {
				return i, nil
			}
			depth--
		}
	}
	p.pos = len(p.toks) - 1
	return 0, p.syntaxErr()
}

// block copies toks[start:end] and ends it with EOF.
func block(toks []token, start, end int) []token {
	out := append([]token(nil), toks[start:end]...)
	return append(out, token{kind: tEOF, line: toks[end].line})
}

// runStatements runs statements until EOF or the first error that ends
// the batch (or, in a TRY block, goes to CATCH); an error that ends only
// its statement is sent and the next statement runs (errors.go). A
// message without a line gets its statement's.
func (x *execCtx) runStatements(p *parser) error {
	for {
		for p.acceptOp(";") {
		}
		if p.peek().kind == tEOF {
			return nil
		}
		x.line, x.now = p.peek().line, time.Time{}
		start := p.pos
		err := x.run(p)
		if err == nil || errors.Is(err, errContinue) {
			continue
		}
		if x.endsStatementOnly(err) {
			x.reportStatementError(err)
			if p.pos == start {
				p.next()
			}
			skipRest(p) // the statement may have failed before its end was read
			continue
		}
		var m *tds.Message
		if errors.As(err, &m) && m.Line == 0 {
			m.Line = int32(x.line)
		}
		return err
	}
}

// catchable is the error a CATCH block sees, or nil when err is not one
// TRY catches. Of several messages (3201 then 3013) the last counts, as
// ERROR_NUMBER() reports the last.
func catchable(err error) *tds.Message {
	m := lastMessage(err)
	if m == nil || m.Class < 11 || m.Class > 19 || m.Class == 15 {
		return nil
	}
	return m
}

// errorFunc answers ERROR_NUMBER(), ERROR_MESSAGE(), ERROR_SEVERITY(),
// ERROR_STATE(), ERROR_LINE() and ERROR_PROCEDURE(): the caught error,
// NULL outside a CATCH block
// (learn.microsoft.com/sql/t-sql/functions/error-number-transact-sql and
// its siblings).
func (x *execCtx) errorFunc(name string) any {
	m := x.caught
	if m == nil {
		return nil
	}
	switch name {
	case "ERROR_NUMBER":
		return int64(m.Number)
	case "ERROR_MESSAGE":
		return m.Text
	case "ERROR_SEVERITY":
		return int64(m.Class)
	case "ERROR_STATE":
		return int64(m.State)
	case "ERROR_LINE":
		return int64(m.Line)
	}
	return nil // ERROR_PROCEDURE: no procedure raised it
}

// xactState is XACT_STATE()
// (learn.microsoft.com/sql/t-sql/functions/xact-state-transact-sql): 1
// in a transaction, -1 in an uncommittable one, 0 outside.
func (x *execCtx) xactState() any {
	switch {
	case x.s.tx.doomed:
		return int64(-1)
	case x.s.tx.count > 0:
		return int64(1)
	}
	return int64(0)
}

// block checks BEGIN TRY, END TRY, BEGIN CATCH and END CATCH for the
// compile pass: each END closes its own BEGIN, a TRY block is not empty
// and its CATCH block follows at once.
func (c *checker) block() error {
	p := c.p
	verb, kind := strings.ToUpper(p.next().text), strings.ToUpper(p.peek().text)
	at := p.pos - 1
	p.next()
	switch {
	case verb == "BEGIN" && kind == "CATCH":
		if at < 2 || !strings.EqualFold(p.toks[at-2].text, "END") || !strings.EqualFold(p.toks[at-1].text, "TRY") || p.toks[at-2].kind != tIdent {
			p.pos = at
			return p.syntaxErr()
		}
		c.blocks = append(c.blocks, kind)
	case verb == "BEGIN":
		c.blocks = append(c.blocks, kind)
	default: // END
		n := len(c.blocks)
		if n == 0 || c.blocks[n-1] != kind || (kind == "TRY" && at >= 2 && strings.EqualFold(p.toks[at-1].text, "TRY") && strings.EqualFold(p.toks[at-2].text, "BEGIN")) {
			p.pos = at
			return p.syntaxErr()
		}
		c.blocks = c.blocks[:n-1]
		if kind == "TRY" && !(p.is("BEGIN") && strings.EqualFold(p.peekAt(1).text, "CATCH")) {
			return p.syntaxErr()
		}
	}
	return nil
}

// inCatch reports whether the checker is inside a CATCH block, where a
// THROW without arguments rethrows.
func (c *checker) inCatch() bool {
	for _, b := range c.blocks {
		if b == "CATCH" {
			return true
		}
	}
	return false
}

// rethrow is THROW without arguments: the caught error again, number
// and all (learn.microsoft.com/sql/t-sql/language-elements/throw-transact-sql);
// outside a CATCH block 10704, a compile error.
func (x *execCtx) rethrow() error {
	if x.caught != nil {
		m := *x.caught
		return &m
	}
	if x.catchDepth > 0 { // compiling a CATCH block: nothing is caught yet
		return errContinue
	}
	return sqlErr(10704, 15, "To rethrow an error, a THROW statement must be used inside a CATCH block.")
}

// raisedErr is a RAISERROR caught by a TRY block: XACT_ABORT ignores it.
type raisedErr struct{ m *tds.Message }

func (r raisedErr) Error() string { return r.m.Error() }
func (r raisedErr) Unwrap() error { return r.m }

func isRaised(err error) bool {
	var r raisedErr
	return errors.As(err, &r)
}

// skipRest moves past the rest of a failed statement: to the next
// statement start outside parentheses.
func skipRest(p *parser) {
	depth := 0
	for p.peek().kind != tEOF && (depth > 0 || !p.atStmtEnd()) {
		switch {
		case p.isOp("("):
			depth++
		case p.isOp(")") && depth > 0:
			depth--
		}
		p.next()
	}
}
