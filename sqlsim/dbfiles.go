package sqlsim

import (
	"fmt"
	"strings"

	"github.com/sqlvault/sqlvault/sqlsim/tds"
)

// createSpec is what CREATE DATABASE says beyond the name
// (learn.microsoft.com/sql/t-sql/statements/create-database-transact-sql):
// the files of its ON and LOG ON clauses, and AS SNAPSHOT OF.
type createSpec struct {
	files      []DBFile
	snapshotOf string
}

// parseCreateSpec reads `[ON [PRIMARY] <filespec>, ... [, FILEGROUP g
// [CONTAINS FILESTREAM | CONTAINS MEMORY_OPTIMIZED_DATA] [DEFAULT]
// <filespec>, ...] [LOG ON <filespec>, ...]] [AS SNAPSHOT OF source]`; the
// other clauses (COLLATE, WITH, CONTAINMENT) are skipped.
func parseCreateSpec(p *parser) (createSpec, error) {
	var cs createSpec
	if p.accept("ON") {
		p.accept("PRIMARY")
		group, typ := "PRIMARY", "D"
		for {
			if p.accept("FILEGROUP") {
				g, err := p.name()
				if err != nil {
					return cs, err
				}
				group, typ = g, "D"
				if p.accept("CONTAINS") {
					// Both hold folders, type S in RESTORE FILELISTONLY.
					if !p.accept("FILESTREAM") && !p.accept("MEMORY_OPTIMIZED_DATA") {
						return cs, p.syntaxErr()
					}
					typ = "S"
				}
				p.accept("DEFAULT")
			}
			f, err := parseFileSpec(p, group, typ)
			if err != nil {
				return cs, err
			}
			cs.files = append(cs.files, f)
			if !p.acceptOp(",") {
				break
			}
		}
		if p.accept("LOG") {
			if err := p.expect("ON"); err != nil {
				return cs, err
			}
			for {
				f, err := parseFileSpec(p, "", "L")
				if err != nil {
					return cs, err
				}
				cs.files = append(cs.files, f)
				if !p.acceptOp(",") {
					break
				}
			}
		}
	}
	for !p.atStmtEnd() {
		if p.accept("AS") {
			if err := p.expect("SNAPSHOT"); err != nil {
				return cs, err
			}
			if err := p.expect("OF"); err != nil {
				return cs, err
			}
			src, err := p.name()
			if err != nil {
				return cs, err
			}
			cs.snapshotOf = src
			continue
		}
		p.next()
	}
	return cs, nil
}

// parseFileSpec reads `(NAME = logical, FILENAME = 'path' [, SIZE = ...]...)`.
func parseFileSpec(p *parser, group, typ string) (DBFile, error) {
	f := DBFile{Type: typ, FileGroup: group}
	if err := p.expectOp("("); err != nil {
		return f, err
	}
	for !p.acceptOp(")") {
		kw, err := p.name()
		if err != nil {
			return f, err
		}
		if err := p.expectOp("="); err != nil {
			return f, err
		}
		switch strings.ToUpper(kw) {
		case "NAME":
			f.Logical = p.next().text
		case "FILENAME":
			f.Physical = p.next().text
		}
		skipParens(p) // SIZE = 8MB, FILEGROWTH = 10% ...
		p.acceptOp(",")
		if p.peek().kind == tEOF {
			return f, p.syntaxErr()
		}
	}
	if f.Logical == "" || f.Physical == "" {
		return f, sqlErr(1038, 15, "An object or column name is missing or empty: every file needs NAME and FILENAME.")
	}
	return f, nil
}

// filesOrDefault completes the files CREATE DATABASE named: without an ON
// clause the files are the instance default's; without LOG ON the log is.
func filesOrDefault(name string, files []DBFile) []DBFile {
	def := defaultFiles(name)
	if len(files) == 0 {
		return def
	}
	for _, f := range files {
		if f.Type == "L" {
			return files
		}
	}
	return append(files, def[1])
}

// fileTypeCodes are sys.master_files' type and type_desc for each
// FILELISTONLY letter (learn.microsoft.com/sql/relational-databases/system-catalog-views/sys-master-files-transact-sql).
var fileTypeCodes = map[string]struct {
	code int64
	desc string
}{"D": {0, "ROWS"}, "L": {1, "LOG"}, "S": {2, "FILESTREAM"}, "F": {4, "FULLTEXT"}}

// fileClash finds two files of one restore placed on the same path: SQL
// Server refuses the RESTORE with 3176 while planning.
func fileClash(files []DBFile, moves map[string]string) error {
	seen := map[string]int{}
	for i, f := range files {
		phys := f.Physical
		if to, ok := moves[strings.ToLower(f.Logical)]; ok {
			phys = to
		}
		if j, ok := seen[strings.ToLower(phys)]; ok {
			return &multiErr{msgs: []*tds.Message{
				sqlErr(3176, 16, fmt.Sprintf("File '%s' is claimed by '%s'(%d) and '%s'(%d). The WITH MOVE clause can be used to relocate one or more files.",
					phys, f.Logical, i+1, files[j].Logical, j+1)),
				sqlErr(3119, 16, "Problems were identified while planning for the RESTORE statement. Previous messages provide details."),
				sqlErr(3013, 16, "RESTORE DATABASE is terminating abnormally.")}}
		}
		seen[strings.ToLower(phys)] = i
	}
	return nil
}

// AddFullTextCatalog gives a database a full-text catalog file (type F in
// RESTORE FILELISTONLY, 4 FULLTEXT in sys.master_files), as a database
// created on SQL Server 2005 and upgraded keeps; from SQL Server 2008 on
// CREATE FULLTEXT CATALOG makes no file, so no statement reaches this.
func (in *Instance) AddFullTextCatalog(database, logical, folder string) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	d, ok := in.st.Databases[strings.ToLower(database)]
	if !ok {
		return fmt.Errorf("sqlsim: no database %s", database)
	}
	d.Files = append(d.Files, DBFile{Logical: logical, Physical: folder, Type: "F"})
	return in.save()
}
