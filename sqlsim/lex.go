package sqlsim

import (
	"fmt"
	"strings"
	"unicode"
)

// tokKind classifies a T-SQL token.
type tokKind int

const (
	tEOF    tokKind = iota
	tIdent          // name, [bracketed name] or "quoted name"
	tString         // 'text' or N'text'
	tNumber         // 123, 1.5
	tParam          // @p1
	tVar            // @@VERSION
	tOp             // = < > <= >= <> != , ( ) . * ; + -
)

type token struct {
	kind   tokKind
	text   string // identifiers unquoted; strings unescaped
	quoted bool   // identifier was [bracketed] or "quoted": never a keyword
	// national marks N'text', a Unicode constant; 'text' is varchar
	// (learn.microsoft.com/sql/t-sql/data-types/constants-transact-sql).
	national bool
	line     int // 1-based line of the batch where the token starts
}

// lex splits T-SQL into tokens, dropping comments.
func lex(src string) ([]token, error) {
	var out []token
	r := []rune(src)
	line, counted, start, emitted := 1, 0, 0, 0
	markLine := func() { // the token emitted by the last step starts at start
		for ; counted < start; counted++ {
			if r[counted] == '\n' {
				line++
			}
		}
		for ; emitted < len(out); emitted++ {
			out[emitted].line = line
		}
	}
	for i := 0; i < len(r); {
		markLine()
		start = i
		c := r[i]
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '-' && i+1 < len(r) && r[i+1] == '-':
			for i < len(r) && r[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(r) && r[i+1] == '*':
			end := strings.Index(string(r[i+2:]), "*/")
			if end < 0 {
				return nil, sqlErr(113, 15, "Missing end comment mark '*/'.")
			}
			i += 2 + len([]rune(string(r[i+2:])[:end])) + 2
		case c == '[':
			var b strings.Builder
			j := i + 1
			for ; j < len(r); j++ {
				if r[j] == ']' {
					if j+1 < len(r) && r[j+1] == ']' {
						b.WriteRune(']')
						j++
						continue
					}
					break
				}
				b.WriteRune(r[j])
			}
			if j >= len(r) {
				return nil, sqlErr(105, 15, fmt.Sprintf("Unclosed quotation mark after the character string '%s'.", b.String()))
			}
			out = append(out, token{kind: tIdent, text: b.String(), quoted: true})
			i = j + 1
		case c == '\'' || ((c == 'N' || c == 'n') && i+1 < len(r) && r[i+1] == '\''):
			national := c != '\''
			if national {
				i++
			}
			s, next, ok := quoted(r, i, '\'')
			if !ok {
				return nil, sqlErr(105, 15, fmt.Sprintf("Unclosed quotation mark after the character string '%s'.", s))
			}
			out = append(out, token{kind: tString, text: s, national: national})
			i = next
		case c == '"':
			s, next, ok := quoted(r, i, '"')
			if !ok {
				return nil, sqlErr(105, 15, "Unclosed quotation mark.")
			}
			out = append(out, token{kind: tIdent, text: s, quoted: true})
			i = next
		case c == '@':
			j := i + 1
			kind := tParam
			if j < len(r) && r[j] == '@' {
				kind, j = tVar, j+1
			}
			start := j
			for j < len(r) && (unicode.IsLetter(r[j]) || unicode.IsDigit(r[j]) || r[j] == '_') {
				j++
			}
			out = append(out, token{kind: kind, text: strings.ToUpper(string(r[start:j]))})
			if kind == tParam {
				out[len(out)-1].text = "@" + string(r[start:j])
			}
			i = j
		case unicode.IsDigit(c) || (c == '.' && i+1 < len(r) && unicode.IsDigit(r[i+1])):
			j := numberEnd(r, i)
			out = append(out, token{kind: tNumber, text: string(r[i:j])})
			i = j
		case unicode.IsLetter(c) || c == '_' || c == '#':
			j := i
			for j < len(r) && (unicode.IsLetter(r[j]) || unicode.IsDigit(r[j]) || r[j] == '_' || r[j] == '$' || r[j] == '#') {
				j++
			}
			out = append(out, token{kind: tIdent, text: string(r[i:j])})
			i = j
		default:
			two := ""
			if i+1 < len(r) {
				two = string(r[i : i+2])
			}
			switch two {
			case "<=", ">=", "<>", "!=":
				out = append(out, token{kind: tOp, text: two})
				i += 2
				continue
			}
			if strings.ContainsRune("=<>,().*;+-/%", c) {
				out = append(out, token{kind: tOp, text: string(c)})
				i++
				continue
			}
			return nil, sqlErr(102, 15, fmt.Sprintf("Incorrect syntax near '%c'.", c))
		}
	}
	markLine()
	start = len(r)
	markLine()
	return append(out, token{kind: tEOF, line: line}), nil
}

// quoted reads a string delimited by q, where a doubled q is one q.
func quoted(r []rune, i int, q rune) (string, int, bool) {
	var b strings.Builder
	for j := i + 1; j < len(r); j++ {
		if r[j] == q {
			if j+1 < len(r) && r[j+1] == q {
				b.WriteRune(q)
				j++
				continue
			}
			return b.String(), j + 1, true
		}
		b.WriteRune(r[j])
	}
	return b.String(), len(r), false
}

// parser walks tokens.
type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) peekAt(n int) token {
	if p.pos+n < len(p.toks) {
		return p.toks[p.pos+n]
	}
	return token{kind: tEOF}
}
func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

// is reports whether the next token is the keyword (case-insensitive).
func (p *parser) is(kw string) bool {
	t := p.peek()
	return t.kind == tIdent && !t.quoted && strings.EqualFold(t.text, kw)
}

func (p *parser) isOp(op string) bool {
	t := p.peek()
	return t.kind == tOp && t.text == op
}

// accept consumes the keyword if present.
func (p *parser) accept(kw string) bool {
	if p.is(kw) {
		p.pos++
		return true
	}
	return false
}

func (p *parser) acceptOp(op string) bool {
	if p.isOp(op) {
		p.pos++
		return true
	}
	return false
}

func (p *parser) expect(kw string) error {
	if !p.accept(kw) {
		return p.syntaxErr()
	}
	return nil
}

func (p *parser) expectOp(op string) error {
	if !p.acceptOp(op) {
		return p.syntaxErr()
	}
	return nil
}

// syntaxErr is SQL Server's error 102.
func (p *parser) syntaxErr() error {
	t := p.peek()
	m := sqlErr(102, 15, fmt.Sprintf("Incorrect syntax near '%s'.", t.text))
	if t.kind == tEOF {
		m = sqlErr(102, 15, "Incorrect syntax near the end of the statement.")
	}
	m.Line = int32(t.line) // a syntax error names the line it is on
	return m
}

// name reads an identifier.
func (p *parser) name() (string, error) {
	t := p.peek()
	if t.kind != tIdent {
		return "", p.syntaxErr()
	}
	p.pos++
	return t.text, nil
}

// multipart reads a.b.c names, returning the parts.
func (p *parser) multipart() ([]string, error) {
	n, err := p.name()
	if err != nil {
		return nil, err
	}
	parts := []string{n}
	for p.isOp(".") {
		p.pos++
		if p.isOp(".") { // db..table
			parts = append(parts, "dbo")
			continue
		}
		n, err := p.name()
		if err != nil {
			return nil, err
		}
		parts = append(parts, n)
	}
	return parts, nil
}

// endStmt accepts an optional semicolon.
func (p *parser) endStmt() { p.acceptOp(";") }

// atStmtEnd reports whether the statement ends here.
func (p *parser) atStmtEnd() bool {
	t := p.peek()
	return t.kind == tEOF || (t.kind == tOp && t.text == ";") || (t.kind == tIdent && !t.quoted && isStmtStart(t.text))
}

var stmtStarts = map[string]bool{"SELECT": true, "INSERT": true, "UPDATE": true, "DELETE": true, "CREATE": true, "ALTER": true,
	"DROP": true, "USE": true, "BACKUP": true, "RESTORE": true, "EXEC": true, "EXECUTE": true, "IF": true, "SET": true,
	"DECLARE": true, "GO": true, "BEGIN": true, "COMMIT": true, "ROLLBACK": true, "PRINT": true, "CHECKPOINT": true, "WAITFOR": true,
	"RAISERROR": true, "THROW": true, "DBCC": true, "SAVE": true, "END": true}

func isStmtStart(s string) bool { return stmtStarts[strings.ToUpper(s)] }

// numberEnd finds the end of a numeric constant at i: a binary constant
// 0x..., an integer, a decimal 1.5, or a float 1.5e10
// (learn.microsoft.com/sql/t-sql/data-types/constants-transact-sql).
func numberEnd(r []rune, i int) int {
	j := i
	if r[i] == '0' && i+1 < len(r) && (r[i+1] == 'x' || r[i+1] == 'X') {
		for j = i + 2; j < len(r) && strings.ContainsRune("0123456789abcdefABCDEF", r[j]); j++ {
		}
		return j
	}
	for j < len(r) && (unicode.IsDigit(r[j]) || r[j] == '.') {
		j++
	}
	if j < len(r) && (r[j] == 'e' || r[j] == 'E') {
		k := j + 1
		if k < len(r) && (r[k] == '+' || r[k] == '-') {
			k++
		}
		if k < len(r) && unicode.IsDigit(r[k]) {
			for j = k; j < len(r) && unicode.IsDigit(r[j]); j++ {
			}
		}
	}
	return j
}
