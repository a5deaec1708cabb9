package coordinator

import (
	"context"
	"strings"

	"github.com/sqlvault/sqlvault/engine/mssql"
)

// FileMove puts one database file of the backup at a path the user chose.
type FileMove struct {
	LogicalName  string `json:"logical_name"`
	PhysicalName string `json:"physical_name"`
}

// RestoreItem is one more database of a multi-database restore: all go to
// the same point in time, on the same target instance, in one job.
type RestoreItem struct {
	ItemID       int64      `json:"item_id"`
	DatabaseName string     `json:"database_name,omitempty"` // alternate mode: the new name
	Files        []FileMove `json:"files,omitempty"`
}

// ProposedFile is one file of the backup a restore starts from, with the
// path it would be restored to.
type ProposedFile struct {
	LogicalName  string `json:"logical_name"`
	Type         string `json:"type"`        // D data, L log, S FILESTREAM/memory-optimized folder, F full-text folder
	BackupPath   string `json:"backup_path"` // where it was on the source
	PhysicalName string `json:"physical_name"`
}

// checkOptions checks what a target asks beyond where it goes: standby and
// recovery agree, and every relocated file names a usable path once.
func checkOptions(t RestoreTarget) error {
	if t.Standby && t.Recovery != nil && *t.Recovery {
		return invalid("target.standby", "a standby restore leaves the database read-only, not recovered; leave recovery unset or false")
	}
	if t.Mode == ModeFiles && (t.Standby || len(t.Files) > 0 || !t.recovery()) {
		return invalid("target.mode", "standby, recovery and files apply to a restore onto an instance, not to files mode")
	}
	seen := map[string]bool{}
	for _, f := range t.Files {
		name, path := strings.TrimSpace(f.LogicalName), strings.TrimSpace(f.PhysicalName)
		switch {
		case name == "" || path == "":
			return invalid("target.files", "each file needs logical_name and physical_name")
		case mssql.HasControl(path) || len(path) > 260:
			return invalid("target.files", "the path of %s must be at most 260 characters without control characters", name)
		case seen[strings.ToLower(name)]:
			return invalid("target.files", "%s is named twice", name)
		}
		seen[strings.ToLower(name)] = true
	}
	return nil
}

// movesFor places the backup's files: an alternate restore proposes the
// instance's default folders under the new name (MovesFor), the original
// keeps the backup's paths; the user's choices override either by logical
// name.
func movesFor(files []mssql.File, t RestoreTarget, info mssql.Instance) ([]mssql.Move, error) {
	var moves []mssql.Move
	if t.Mode == ModeAlternate {
		moves = mssql.MovesFor(files, t.DatabaseName, info.DefaultDataPath, info.DefaultLogPath)
	}
	for _, want := range t.Files {
		i := indexFile(files, want.LogicalName)
		if i < 0 {
			names := make([]string, len(files))
			for k, f := range files {
				names[k] = f.LogicalName
			}
			return nil, invalid("target.files", "the backup has no file %s; its files are %s", want.LogicalName, strings.Join(names, ", "))
		}
		m := mssql.Move{LogicalName: files[i].LogicalName, PhysicalName: strings.TrimSpace(want.PhysicalName)}
		if j := indexMove(moves, m.LogicalName); j >= 0 {
			moves[j] = m
		} else {
			moves = append(moves, m)
		}
	}
	return moves, nil
}

func indexFile(files []mssql.File, logical string) int {
	for i, f := range files {
		if strings.EqualFold(f.LogicalName, strings.TrimSpace(logical)) {
			return i
		}
	}
	return -1
}

func indexMove(moves []mssql.Move, logical string) int {
	for i, m := range moves {
		if strings.EqualFold(m.LogicalName, logical) {
			return i
		}
	}
	return -1
}

// ProposeFiles connects to the target instance and lists the files the
// restore's first backup holds (RESTORE FILELISTONLY) with the path each
// would get, so a user can relocate them before starting.
func (c *Coordinator) ProposeFiles(ctx context.Context, r RestoreRequest) ([]ProposedFile, error) {
	it, err := c.checkRestore(ctx, &r)
	if err != nil {
		return nil, err
	}
	if r.Target.Mode == ModeFiles {
		return nil, invalid("target.mode", "files mode restores onto no instance; its files keep the backup's paths")
	}
	plan, err := c.Plan(ctx, it.ID, r.RecoveryPointID, r.PointInTime)
	if err != nil {
		return nil, err
	}
	points, err := c.pointsOf(ctx, it.ID, plan)
	if err != nil {
		return nil, err
	}
	s, err := c.server(ctx, r.Target.ServerID)
	if err != nil {
		return nil, err
	}
	conn, info, err := c.connectSysadmin(ctx, s)
	if err != nil {
		return nil, err
	}
	drop, err := c.grantRead(ctx, conn, points[:1])
	defer drop()
	if err != nil {
		return nil, err
	}
	files, err := conn.FileList(ctx, c.urls(points[0]))
	if err != nil {
		return nil, err
	}
	moves, err := movesFor(files, r.Target, info)
	if err != nil {
		return nil, err
	}
	out := make([]ProposedFile, len(files))
	for i, f := range files {
		out[i] = ProposedFile{LogicalName: f.LogicalName, Type: f.Type, BackupPath: f.PhysicalName, PhysicalName: f.PhysicalName}
		if j := indexMove(moves, f.LogicalName); j >= 0 {
			out[i].PhysicalName = moves[j].PhysicalName
		}
	}
	return out, nil
}
