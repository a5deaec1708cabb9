// Package tds is the wire side of sqlsim: a TDS 7.4 server that accepts
// connections, negotiates PRELOGIN and TLS, authenticates LOGIN7 and turns SQL
// batches and sp_executesql RPCs into calls on a Handler. It knows nothing of
// databases or T-SQL; the engine behind Handler does.
package tds

import (
	"context"
	"errors"
)

// Handler is the engine behind the wire: it authenticates logins and opens
// one Session per connection.
type Handler interface {
	// Login checks the credentials. A refused login returns a *Message
	// (18456, class 14), which the server sends before closing.
	Login(ctx context.Context, req LoginRequest) (Session, error)
	// ServerName names the instance in messages and LOGINACK (e.g. "SQLPROD01").
	ServerName() string
}

// LoginRequest is what LOGIN7 carried.
type LoginRequest struct {
	User       string
	Password   string
	Database   string // initial catalog, "" for the login's default
	AppName    string
	HostName   string
	ServerName string // the name the client dialled
	Encrypted  bool   // whether the session runs over TLS
}

// Session runs the statements of one connection. Calls never overlap.
type Session interface {
	// Exec runs a batch. Params is nil for a SQL batch, and holds the typed
	// parameters of an sp_executesql RPC. ctx is cancelled when the client
	// sends an ATTENTION; the engine should stop soon after and return
	// ctx.Err(). SQL errors are reported with w.Message (class >= 11), not
	// returned; a returned error other than ctx's ends the connection.
	Exec(ctx context.Context, sql string, params []Param, w ResultWriter) error
	// Database is the current database, for ENVCHANGE after login.
	Database() string
	Close()
}

// ErrFatal, wrapped in what Exec returns, ends the connection once the
// answer written so far is sent: an error of severity 20 or above, after
// which "the client connection is terminated after receiving the
// message" (learn.microsoft.com/sql/t-sql/language-elements/raiserror-transact-sql).
var ErrFatal = errors.New("tds: fatal error, the connection closes")

// Param is one sp_executesql parameter, e.g. @p1 nvarchar(4000) = N'x'.
type Param struct {
	Name   string // with the leading @
	Type   Column // type as declared by the client
	Value  any    // same Go types as Row values; nil for NULL
	Output bool
}

// ResultWriter is how the engine answers. Every statement ends with Done.
// Output is buffered and sent when the batch ends or Flush is called.
type ResultWriter interface {
	// Columns starts a result set (COLMETADATA).
	Columns(cols []Column) error
	// Row sends one row; values match the columns in order.
	Row(values ...any) error
	// Done ends one statement (DONE, or DONEINPROC inside a procedure).
	// hasCount says whether count is meaningful (rows returned or affected).
	Done(count int64, hasCount bool) error
	// Message sends INFO (class <= 10) or ERROR (class >= 11).
	Message(m Message) error
	// Flush sends what is buffered now, e.g. "10 percent processed." during
	// a long BACKUP, so clients see progress while the statement runs.
	Flush() error
	// ChangeDatabase sends ENVCHANGE for USE.
	ChangeDatabase(name string) error
}

// Type is a SQL Server data type as it travels in COLMETADATA.
type Type int

// The types the simulator returns.
const (
	TypeBit Type = iota + 1
	TypeTinyInt
	TypeSmallInt
	TypeInt
	TypeBigInt
	TypeFloat
	TypeDecimal // also numeric; numeric(25,0) carries LSNs
	TypeNVarChar
	TypeDateTime
	TypeDateTime2
	TypeUniqueIdentifier
	TypeVarBinary
)

// Column describes one result column or parameter.
//
// Row values use these Go types: bool (bit); int64 (tinyint..bigint);
// float64 (float); Decimal (decimal, numeric); string (nvarchar);
// time.Time (datetime, datetime2; the wall clock is sent, the zone dropped);
// [16]byte in RFC 4122 order (uniqueidentifier, the wire swaps bytes);
// []byte (varbinary). nil is NULL.
type Column struct {
	Name      string
	Type      Type
	Nullable  bool
	Length    int   // nvarchar characters / varbinary bytes; -1 for max
	Precision uint8 // decimal
	Scale     uint8 // decimal, datetime2 (0-7)
}

// Decimal is an exact decimal: Unscaled * 10^-Scale. numeric(25,0) LSNs fit
// in the 128 bits SQL Server uses, so Unscaled is kept as two words.
type Decimal struct {
	Hi, Lo   uint64 // magnitude, Hi:Lo as a 128-bit unsigned integer
	Negative bool
	Scale    uint8
}

// Message is an INFO or ERROR token.
type Message struct {
	Number int32
	State  uint8
	Class  uint8 // severity: <= 10 INFO, >= 11 ERROR
	Text   string
	Server string
	Proc   string
	Line   int32
}

func (m *Message) Error() string { return m.Text }

// The server side, implemented in server.go, has this shape (the engine in
// package sqlsim relies on it):
//
//	func NewServer(h Handler, opts Options) *Server
//	func (s *Server) Serve(l net.Listener) error // returns after Close
//	func (s *Server) Close() error               // stops accepting, ends sessions
//
// with Options{TLSConfig *tls.Config (nil: encryption not supported);
// Logger *slog.Logger}.
