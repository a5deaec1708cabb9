package sqlsim

import (
	"fmt"
	"strings"
)

// IF...ELSE (learn.microsoft.com/sql/t-sql/language-elements/if-else-transact-sql):
// IF condition {statement | BEGIN ... END} [ELSE {statement | BEGIN ... END}];
// the first part runs when the condition is TRUE, the ELSE part when it
// is FALSE or NULL. BEGIN ... END groups statements
// (learn.microsoft.com/sql/t-sql/language-elements/begin-end-transact-sql).
// The batch's compile pass compiles both parts, whatever the condition.

// ifStmt runs IF ... [ELSE ...].
func (x *execCtx) ifStmt(p *parser) error {
	p.next() // IF
	cond, err := p.expr()
	if err != nil {
		return err
	}
	if !isPredicate(cond) {
		return sqlErr(4145, 15, fmt.Sprintf("An expression of non-boolean type specified in a context where a condition is expected, near '%s'.", p.peek().text))
	}
	then, err := branch(p)
	if err != nil {
		return err
	}
	var other []token
	if p.accept("ELSE") {
		if other, err = branch(p); err != nil {
			return err
		}
	}
	if x.s.compiling {
		if _, err := x.condition(cond); isCompileErr(err) {
			return err
		}
		if err := x.compileStatements(&parser{toks: then}); err != nil || other == nil {
			return err
		}
		return x.compileStatements(&parser{toks: other})
	}
	ok, err := x.condition(cond)
	if err != nil {
		return err
	}
	// "Conditional statements, such as the IF statement, reset @@ERROR"
	// (learn.microsoft.com/previous-versions/sql/sql-server-2008-r2/ms190193(v=sql.105)).
	x.s.lastError = 0
	switch {
	case ok:
		return x.runStatements(&parser{toks: then})
	case other != nil:
		return x.runStatements(&parser{toks: other})
	}
	return nil
}

// blockStmt runs BEGIN ... END on its own.
func (x *execCtx) blockStmt(p *parser) error {
	body, err := branch(p)
	if err != nil {
		return err
	}
	if x.s.compiling {
		return x.compileStatements(&parser{toks: body})
	}
	return x.runStatements(&parser{toks: body})
}

// condition evaluates an IF condition: true only when TRUE (NULL is not).
func (x *execCtx) condition(e expr) (bool, error) {
	x.s.in.mu.Lock() // as a query's WHERE: a subquery reads the tables
	defer x.s.in.mu.Unlock()
	v, err := x.eval(e, nil)
	return err == nil && v != nil && truthy(v), err
}

// isPredicate reports whether e is a condition (a comparison, AND, OR,
// NOT, IS NULL, IN, LIKE, EXISTS); SQL Server refuses IF 1 with 4145.
func isPredicate(e expr) bool {
	switch e := e.(type) {
	case binExpr:
		switch e.op {
		case "=", "<", ">", "<=", ">=", "<>", "!=", "AND", "OR":
			return true
		}
	case notExpr, isNullExpr, inExpr, inSubqueryExpr, likeExpr, existsExpr:
		return true
	}
	return false
}

// branch reads the statement or BEGIN ... END block at p and returns its
// tokens (a block's without BEGIN and END), ending in EOF; p moves past
// it. A missing statement or an empty block is 102.
func branch(p *parser) ([]token, error) {
	start := p.pos
	if p.peek().kind == tEOF || p.is("ELSE") || p.is("END") || p.isOp(";") {
		return nil, p.syntaxErr()
	}
	end, err := span(p.toks, start)
	if err != nil {
		return nil, err
	}
	p.pos = end
	if !isBlockStart(p.toks, start) {
		return block(p.toks, start, end), nil
	}
	if end-1 == start+1 { // BEGIN END
		p.pos = end - 1
		return nil, p.syntaxErr()
	}
	return block(p.toks, start+1, end-1), nil
}

// span finds where the statement starting at toks[i] ends (exclusive):
// an IF with its parts, a BEGIN ... END block, a TRY ... CATCH construct,
// or a simple statement, which ends at a semicolon or at the next word
// that starts a statement outside parentheses.
func span(toks []token, i int) (int, error) {
	switch {
	case word(toks[i], "IF"):
		p := &parser{toks: toks, pos: i + 1}
		if _, err := p.expr(); err != nil {
			return 0, err
		}
		end, err := span(toks, p.pos)
		if err != nil || !word(toks[end], "ELSE") {
			return end, err
		}
		return span(toks, end+1)
	case isBlockStart(toks, i):
		end, err := matchingEnd(toks, i)
		return end + 1, err
	case word(toks[i], "BEGIN") && word(tokAt(toks, i+1), "TRY"):
		end, err := matchingEnd(toks, i)
		if err != nil || !word(tokAt(toks, end+2), "BEGIN") || !word(tokAt(toks, end+3), "CATCH") {
			return end + 2, err
		}
		end, err = matchingEnd(toks, end+2)
		return end + 2, err
	}
	return simpleEnd(toks, i), nil
}

// simpleEnd is where a simple statement starting at toks[i] ends. The
// first SET of an UPDATE or ALTER is part of it.
func simpleEnd(toks []token, i int) int {
	depth, setOK := 0, word(toks[i], "UPDATE") || word(toks[i], "ALTER")
	for j := i + 1; ; j++ {
		t := toks[j]
		switch {
		case t.kind == tEOF:
			return j
		case t.kind == tOp && t.text == "(":
			depth++
		case t.kind == tOp && t.text == ")":
			depth--
		case depth > 0:
		case t.kind == tOp && t.text == ";", word(t, "ELSE"):
			return j
		case word(t, "SET") && setOK:
			setOK = false
		case t.kind == tIdent && !t.quoted && isStmtStart(t.text):
			return j
		}
	}
}

// matchingEnd finds the END that closes the BEGIN at toks[i]; BEGIN
// TRAN and BEGIN DISTRIBUTED TRAN open nothing.
func matchingEnd(toks []token, i int) (int, error) {
	depth := 0
	for j := i; toks[j].kind != tEOF; j++ {
		switch {
		case word(toks[j], "BEGIN") && !beginsTran(toks, j):
			depth++
		case word(toks[j], "END"):
			depth--
			if depth == 0 {
				return j, nil
			}
		}
	}
	return 0, (&parser{toks: toks, pos: len(toks) - 1}).syntaxErr()
}

// isBlockStart reports whether toks[i] begins a BEGIN ... END block (not
// BEGIN TRAN, BEGIN TRY or BEGIN CATCH).
func isBlockStart(toks []token, i int) bool {
	n := tokAt(toks, i+1)
	return word(toks[i], "BEGIN") && !beginsTran(toks, i) && !word(n, "TRY") && !word(n, "CATCH")
}

func beginsTran(toks []token, i int) bool {
	n := tokAt(toks, i+1)
	return word(n, "TRAN") || word(n, "TRANSACTION") || word(n, "DISTRIBUTED")
}

// tokAt is toks[i], or EOF past the end.
func tokAt(toks []token, i int) token {
	if i < len(toks) {
		return toks[i]
	}
	return token{kind: tEOF}
}

// word reports whether t is the keyword kw (unquoted).
func word(t token, kw string) bool {
	return t.kind == tIdent && !t.quoted && strings.EqualFold(t.text, kw)
}
