package db

import "context"

// DatabaseCounts is how many databases a server has and how many of them
// are protected (an item of their own or of their availability group).
type DatabaseCounts struct {
	Total, Protected int
}

// CountDatabases counts a server's databases without reading them, for a
// server card that lists too many to show (the portal's /servers).
func (d *DB) CountDatabases(ctx context.Context, serverID int64) (DatabaseCounts, error) {
	var n DatabaseCounts
	err := d.read.QueryRowContext(ctx, `SELECT count(*), count(coalesce(i.id,
		(SELECT g.id FROM items g WHERE g.ag_id = d.ag_id AND g.group_database_id = d.group_database_id)))
		FROM databases d LEFT JOIN items i ON i.database_id = d.id WHERE d.server_id = ?`, serverID).Scan(&n.Total, &n.Protected)
	return n, err
}

// ListDatabasesPage is limit of a server's databases from offset, in
// ListDatabases's order.
func (d *DB) ListDatabasesPage(ctx context.Context, serverID int64, offset, limit int) ([]Database, error) {
	rows, err := d.read.QueryContext(ctx, databaseQuery+` WHERE d.server_id = ? ORDER BY d.is_system, d.name LIMIT ? OFFSET ?`,
		serverID, limit, offset)
	if err != nil {
		return nil, err
	}
	return scanDatabases(rows)
}
