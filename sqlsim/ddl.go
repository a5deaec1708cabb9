package sqlsim

import (
	"fmt"
	"strings"
)

// ddl handles CREATE, ALTER and DROP.
func (x *execCtx) ddl(p *parser) error {
	verb := strings.ToUpper(p.next().text)
	switch {
	case p.accept("DATABASE"):
		name, err := p.name()
		if err != nil {
			return err
		}
		switch verb {
		case "CREATE":
			return x.createDatabase(p, name)
		case "ALTER":
			return x.alterDatabase(p, name)
		}
		return x.dropDatabase(name)
	case p.accept("TABLE"):
		parts, err := p.multipart()
		if err != nil {
			return err
		}
		if verb == "CREATE" {
			return x.createTable(p, parts)
		}
		if verb == "DROP" {
			return x.dropTable(parts)
		}
	case p.accept("LOGIN"):
		name, err := p.name()
		if err != nil {
			return err
		}
		return x.login(p, verb, name)
	case p.accept("CREDENTIAL"):
		name, err := p.name()
		if err != nil {
			return err
		}
		return x.credential(p, verb, name)
	case verb == "ALTER" && p.accept("AVAILABILITY"):
		return x.alterAG(p) // ag_views.go
	case verb == "ALTER" && p.accept("SERVER"):
		if err := p.expect("ROLE"); err != nil {
			return err
		}
		role, err := p.name()
		if err != nil {
			return err
		}
		add := p.accept("ADD")
		if !add && !p.accept("DROP") {
			return p.syntaxErr()
		}
		if err := p.expect("MEMBER"); err != nil {
			return err
		}
		member, err := p.name()
		if err != nil {
			return err
		}
		if !strings.EqualFold(role, "sysadmin") {
			return sqlErr(15151, 16, fmt.Sprintf("Cannot alter the server role '%s': only sysadmin is simulated.", role))
		}
		return x.addSysadmin(member, add)
	}
	return p.syntaxErr()
}

func (x *execCtx) createDatabase(p *parser, name string) error {
	spec, err := parseCreateSpec(p)
	if err != nil {
		return err
	}
	if err := x.requireSysadmin("CREATE DATABASE"); err != nil {
		return err
	}
	in := x.s.in
	in.mu.Lock()
	defer in.mu.Unlock()
	if _, ok := in.st.Databases[strings.ToLower(name)]; ok {
		return sqlErr(1801, 16, fmt.Sprintf("Database '%s' already exists. Choose a different database name.", name))
	}
	d := x.newDatabase(name)
	if spec.snapshotOf != "" {
		src, ok := in.st.Databases[strings.ToLower(spec.snapshotOf)]
		if !ok {
			return sqlErr(911, 16, fmt.Sprintf("Database '%s' does not exist. Make sure that the name is entered correctly.", spec.snapshotOf))
		}
		snapshotOf(d, src, spec.files)
	} else {
		d.Files = filesOrDefault(name, spec.files)
	}
	in.st.Databases[strings.ToLower(name)] = d
	if err := in.save(); err != nil {
		return err
	}
	return x.w.Done(0, false)
}

// newDatabase makes an empty database as model would: FULL recovery.
func (x *execCtx) newDatabase(name string) *Database {
	in := x.s.in
	id := in.st.NextDBID
	in.st.NextDBID++
	return &Database{Name: name, ID: id, GUID: newGUID(), Created: in.cfg.Now().UTC(), State: "ONLINE", Recovery: "FULL",
		Compat: 160, Tables: map[string]*Table{}, Files: defaultFiles(name), Pages: 1024, AGSecondary: in.isAGSecondary(name)}
}

func (x *execCtx) alterDatabase(p *parser, name string) error {
	if err := p.expect("SET"); err != nil {
		return err
	}
	in := x.s.in
	in.mu.Lock()
	defer in.mu.Unlock()
	d, ok := in.st.Databases[strings.ToLower(name)]
	if !ok {
		return sqlErr(5011, 14, fmt.Sprintf("User does not have permission to alter database '%s', the database does not exist, or the database is not in a state that allows access checks.", name))
	}
	switch {
	case p.accept("RECOVERY"):
		model, err := p.name()
		if err != nil {
			return err
		}
		model = strings.ToUpper(model)
		if recoveryCodes[model] == 0 {
			return p.syntaxErr()
		}
		if model == "SIMPLE" {
			d.ChainOpen = false // the log chain breaks; a full backup starts a new one
			d.truncateLog(d.LogN + 1)
		}
		d.Recovery = model
	case p.accept("OFFLINE"), p.accept("ONLINE"), p.accept("EMERGENCY"):
		if err := setState(d, strings.ToUpper(p.toks[p.pos-1].text)); err != nil {
			return err
		}
	case p.accept("READ_ONLY"), p.accept("READ_WRITE"):
		if d.SourceID != 0 {
			return sqlErr(5093, 16, "The operation cannot be performed on a database snapshot.")
		}
		d.ReadOnly = strings.EqualFold(p.toks[p.pos-1].text, "READ_ONLY")
	case p.accept("HADR"): // SET HADR OFF (ag.go)
		if !p.accept("OFF") {
			return p.syntaxErr()
		}
		if err := in.agHadrOff(d); err != nil {
			return err
		}
	case p.accept("COMPATIBILITY_LEVEL"):
		p.expectOp("=")
		var lvl int
		fmt.Sscan(p.next().text, &lvl)
		d.Compat = lvl
	default:
		for !p.atStmtEnd() {
			p.next()
		}
	}
	for !p.atStmtEnd() { // WITH ROLLBACK IMMEDIATE and the like
		p.next()
	}
	if err := in.save(); err != nil {
		return err
	}
	return x.w.Done(0, false)
}

func (x *execCtx) dropDatabase(name string) error {
	in := x.s.in
	in.mu.Lock()
	defer in.mu.Unlock()
	d, ok := in.st.Databases[strings.ToLower(name)]
	if !ok {
		return sqlErr(3701, 11, fmt.Sprintf("Cannot drop the database '%s', because it does not exist or you do not have permission.", name))
	}
	if m := in.agDropRefusal(d.Name); m != nil {
		return m
	}
	if d.isSystem() {
		return sqlErr(3708, 16, fmt.Sprintf("Cannot drop the database '%s' because it is a system database.", d.Name))
	}
	if in.inUse[strings.ToLower(name)] > 0 {
		return sqlErr(3702, 16, fmt.Sprintf("Cannot drop database \"%s\" because it is currently in use.", d.Name))
	}
	delete(in.st.Databases, strings.ToLower(name))
	if err := in.save(); err != nil {
		return err
	}
	return x.w.Done(0, false)
}

// currentDB returns the session's database for writing; callers hold in.mu.
func (x *execCtx) currentDB() (*Database, error) { return x.dbFor([]string{""}) }

// dbFor returns the database a db.schema.object name writes to: its first
// part when it has three, else the session's; callers hold in.mu.
func (x *execCtx) dbFor(parts []string) (*Database, error) {
	name := x.s.db
	if len(parts) == 3 {
		name = parts[0]
	}
	d, ok := x.s.in.st.Databases[strings.ToLower(name)]
	if !ok {
		return nil, sqlErr(2702, 16, fmt.Sprintf("Database '%s' does not exist.", name))
	}
	if d.State != "ONLINE" {
		return nil, sqlErr(942, 14, fmt.Sprintf("Database '%s' cannot be opened because it is offline or restoring.", name))
	}
	x.s.touch(d)
	return d, readOnlyErr(d)
}

func (x *execCtx) createTable(p *parser, parts []string) error {
	name := parts[len(parts)-1]
	if err := p.expectOp("("); err != nil {
		return err
	}
	var cols []ColDef
	var keys []tableKey
	for {
		if p.is("PRIMARY") || p.is("CONSTRAINT") || p.is("UNIQUE") {
			if k, ok := tableConstraint(p); ok {
				keys = append(keys, k)
			}
		} else {
			cn, err := p.name()
			if err != nil {
				return err
			}
			typ, err := p.typeName()
			if err != nil {
				return err
			}
			c, k := columnConstraints(p, ColDef{Name: cn, Type: typ}) // NULL, NOT NULL, IDENTITY(1,1), PRIMARY KEY, DEFAULT ...
			cols = append(cols, c)
			if k.kind != "" {
				keys = append(keys, k)
			}
		}
		if p.acceptOp(",") {
			continue
		}
		if err := p.expectOp(")"); err != nil {
			return err
		}
		break
	}
	in := x.s.in
	in.mu.Lock()
	defer in.mu.Unlock()
	d, err := x.dbFor(parts)
	if err != nil {
		return err
	}
	applyKeys(name, cols, keys)
	if _, ok := d.table(name); ok {
		return sqlErr(2714, 16, fmt.Sprintf("There is already an object named '%s' in the database.", name))
	}
	rec := LogRecord{Op: "create_table", Table: name, Cols: cols}
	rec.N = d.appendLog(in.cfg.Now().UTC(), rec)
	d.apply(d.Log[len(d.Log)-1])
	x.afterWrite(d)
	if err := in.save(); err != nil {
		return err
	}
	return x.w.Done(0, false)
}

// skipParens skips tokens up to the next comma or closing parenthesis at
// this nesting level.
func skipParens(p *parser) {
	depth := 0
	for p.peek().kind != tEOF {
		if p.isOp("(") {
			depth++
		} else if p.isOp(")") {
			if depth == 0 {
				return
			}
			depth--
		} else if p.isOp(",") && depth == 0 {
			return
		}
		p.next()
	}
}

func (x *execCtx) dropTable(parts []string) error {
	name := parts[len(parts)-1]
	in := x.s.in
	in.mu.Lock()
	defer in.mu.Unlock()
	d, err := x.dbFor(parts)
	if err != nil {
		return err
	}
	if _, ok := d.table(name); !ok {
		return sqlErr(3701, 11, fmt.Sprintf("Cannot drop the table '%s', because it does not exist or you do not have permission.", name))
	}
	d.appendLog(in.cfg.Now().UTC(), LogRecord{Op: "drop_table", Table: name})
	d.apply(d.Log[len(d.Log)-1])
	x.afterWrite(d)
	if err := in.save(); err != nil {
		return err
	}
	return x.w.Done(0, false)
}

// afterWrite truncates the log in SIMPLE recovery, as a checkpoint would.
func (x *execCtx) afterWrite(d *Database) {
	if d.Recovery == "SIMPLE" || !d.ChainOpen {
		// Without a log chain (SIMPLE, or FULL before the first full
		// backup) the log is truncated at checkpoints; keep a short tail.
		if len(d.Log) > 10000 {
			d.truncateLog(d.Log[len(d.Log)-1000].N)
		}
	}
}

func (x *execCtx) login(p *parser, verb, name string) error {
	if err := x.requireSysadmin(verb + " LOGIN"); err != nil {
		return sqlErr(15247, 16, "User does not have permission to perform this action.")
	}
	pw := ""
	if p.accept("WITH") {
		if err := p.expect("PASSWORD"); err != nil {
			return err
		}
		if err := p.expectOp("="); err != nil {
			return err
		}
		pw = p.next().text
	}
	for !p.atStmtEnd() {
		p.next()
	}
	in := x.s.in
	in.mu.Lock()
	defer in.mu.Unlock()
	key := strings.ToLower(name)
	l, exists := in.st.Logins[key]
	switch verb {
	case "CREATE":
		if exists {
			return sqlErr(15025, 16, fmt.Sprintf("The server principal '%s' already exists.", name))
		}
		in.st.Logins[key] = &Login{Name: name, Password: pw, Created: in.cfg.Now().UTC()}
	case "ALTER":
		if !exists {
			return sqlErr(15151, 16, fmt.Sprintf("Cannot alter the login '%s', because it does not exist or you do not have permission.", name))
		}
		if pw != "" {
			l.Password = pw
		}
	case "DROP":
		if !exists {
			return sqlErr(15151, 16, fmt.Sprintf("Cannot drop the login '%s', because it does not exist or you do not have permission.", name))
		}
		delete(in.st.Logins, key)
	}
	if err := in.save(); err != nil {
		return err
	}
	return x.w.Done(0, false)
}

// credential handles CREATE/ALTER/DROP CREDENTIAL
// (learn.microsoft.com/sql/t-sql/statements/create-credential-transact-sql).
func (x *execCtx) credential(p *parser, verb, name string) error {
	if !x.s.login.Sysadmin {
		return sqlErr(15247, 16, "User does not have permission to perform this action.")
	}
	var identity, secret string
	if verb != "DROP" {
		if err := p.expect("WITH"); err != nil {
			return err
		}
		for {
			switch {
			case p.accept("IDENTITY"):
				p.expectOp("=")
				identity = p.next().text
			case p.accept("SECRET"):
				p.expectOp("=")
				secret = p.next().text
			default:
				return p.syntaxErr()
			}
			if !p.acceptOp(",") {
				break
			}
		}
	}
	in := x.s.in
	in.mu.Lock()
	defer in.mu.Unlock()
	key := strings.ToLower(name)
	c, exists := in.st.Credentials[key]
	switch verb {
	case "CREATE":
		if exists {
			return sqlErr(15025, 16, fmt.Sprintf("The credential '%s' already exists.", name))
		}
		in.st.Credentials[key] = &Credential{ID: in.st.NextCredID, Name: name, Identity: identity, Secret: secret, Created: in.cfg.Now().UTC()}
		in.st.NextCredID++
	case "ALTER":
		if !exists {
			return sqlErr(15151, 16, fmt.Sprintf("Cannot alter the credential '%s', because it does not exist or you do not have permission.", name))
		}
		c.Identity, c.Secret = identity, secret
	case "DROP":
		if !exists {
			return sqlErr(15151, 16, fmt.Sprintf("Cannot drop the credential '%s', because it does not exist or you do not have permission.", name))
		}
		delete(in.st.Credentials, key)
	}
	if err := in.save(); err != nil {
		return err
	}
	return x.w.Done(0, false)
}
