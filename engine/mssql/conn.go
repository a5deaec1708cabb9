// Package mssql is the SQL plugin: it talks to SQL Server through
// github.com/microsoft/go-mssqldb to check connections and permissions,
// discover databases, and run BACKUP and RESTORE against the virtual
// device. It turns SQL Server's failures into engine error codes.
package mssql

import (
	"context"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/sqlvault/sqlvault/engine"
)

// Target is how to reach one SQL Server instance.
type Target struct {
	Host                   string
	Port                   int    // 1433 when zero
	Instance               string // used only when Port is zero (SQL Browser)
	User                   string
	Password               string
	Encrypt                string // disable, true or strict
	TrustServerCertificate bool
	CAFile                 string        // a CA to trust for the instance's certificate
	DialTimeout            time.Duration // default 10 s
}

// dsn builds the go-mssqldb connection URL for a database.
func (t Target) dsn(database string) string {
	q := url.Values{}
	q.Set("database", database)
	q.Set("app name", "sqlvault")
	enc := t.Encrypt
	if enc == "" {
		enc = "disable"
	}
	q.Set("encrypt", enc)
	if t.TrustServerCertificate {
		q.Set("TrustServerCertificate", "true")
	}
	if t.CAFile != "" {
		q.Set("certificate", t.CAFile)
	}
	dial := t.DialTimeout
	if dial == 0 {
		dial = 10 * time.Second
	}
	q.Set("dial timeout", strconv.Itoa(int(dial.Seconds())))
	u := url.URL{Scheme: "sqlserver", User: url.UserPassword(t.User, t.Password), RawQuery: q.Encode()}
	switch {
	case t.Port != 0:
		u.Host = net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
	case t.Instance != "" && !strings.EqualFold(t.Instance, "MSSQLSERVER"):
		u.Host, u.Path = t.Host, "/"+t.Instance
	default:
		u.Host = net.JoinHostPort(t.Host, "1433")
	}
	return u.String()
}

// Conn is an open connection pool to one instance.
type Conn struct {
	db     *sql.DB
	target Target
}

// Connect opens a pool to the instance and checks that it answers, so a
// wrong host, login or certificate is reported here with its code.
func Connect(ctx context.Context, t Target) (*Conn, error) {
	connector, err := mssql.NewConnector(t.dsn("master"))
	if err != nil {
		return nil, engine.Wrap(engine.CodeInvalidRequest, err, "connection settings are not valid")
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := ping(ctx, db, t); err != nil {
		db.Close()
		return nil, err
	}
	return &Conn{db: db, target: t}, nil
}

// LoginTimeout bounds how long a connection and its login may take; a host
// that accepts TCP but never answers the login is reported unreachable.
const LoginTimeout = 30 * time.Second

// ping checks the instance answers. The driver does not watch the context
// during the login handshake, so the wait is bounded here.
func ping(ctx context.Context, db *sql.DB, t Target) error {
	ctx, cancel := context.WithTimeout(ctx, LoginTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- db.PingContext(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			return Classify(err, t)
		}
		return nil
	case <-ctx.Done():
		return engine.Errorf(engine.CodeInstanceUnreachable, "%s:%d accepted the connection but did not complete the SQL Server login in time",
			t.Host, t.Port)
	}
}

// Close closes the pool.
func (c *Conn) Close() error { return c.db.Close() }

// DB exposes the pool for callers that run their own statements (tests).
func (c *Conn) DB() *sql.DB { return c.db }

// Classify turns a connection or statement failure into an engine error
// with the code a user can act on.
func Classify(err error, t Target) error {
	if err == nil {
		return nil
	}
	addr := net.JoinHostPort(t.Host, strconv.Itoa(max(t.Port, 0)))
	var se mssql.Error
	if errors.As(err, &se) {
		switch se.Number {
		case 18456:
			return engine.Wrap(engine.CodeSQLLoginFailed, err, fmt.Sprintf("SQL Server at %s refused login %q (error 18456)", addr, t.User))
		case 4060:
			return engine.Wrap(engine.CodeSQLLoginFailed, err, "the login cannot open its default database (error 4060)")
		}
		return engine.Wrap(engine.CodeBackupFailed, err, fmt.Sprintf("SQL Server error %d: %s", se.Number, se.Message))
	}
	var ue x509.UnknownAuthorityError
	var he x509.HostnameError
	msg := err.Error()
	switch {
	case errors.As(err, &ue), errors.As(err, &he), strings.Contains(msg, "x509:"), strings.Contains(msg, "TLS Handshake failed"),
		strings.Contains(msg, "tls:"):
		return engine.Wrap(engine.CodeTLSFailed, err, fmt.Sprintf("TLS with SQL Server at %s failed: %s", addr, lastPart(msg)))
	case strings.Contains(msg, "unable to open tcp connection"), strings.Contains(msg, "connection refused"),
		strings.Contains(msg, "no such host"), strings.Contains(msg, "i/o timeout"), isNetDial(err):
		return engine.Wrap(engine.CodeInstanceUnreachable, err, fmt.Sprintf("cannot reach SQL Server at %s: %s", addr, lastPart(msg)))
	case strings.Contains(msg, "prelogin"), strings.Contains(msg, "invalid packet"), strings.Contains(msg, "unexpected EOF"),
		strings.Contains(msg, "Invalid packet"), strings.Contains(msg, "EOF"):
		return engine.Wrap(engine.CodeNotSQLServer, err, fmt.Sprintf("the service at %s did not answer as SQL Server does", addr))
	case errors.Is(err, context.Canceled):
		return engine.Wrap(engine.CodeCancelled, err, "cancelled")
	}
	return engine.Wrap(engine.CodeInstanceUnreachable, err, fmt.Sprintf("cannot use SQL Server at %s: %s", addr, lastPart(msg)))
}

func isNetDial(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// lastPart trims a chain of wrapped messages to its most specific cause.
func lastPart(msg string) string {
	if i := strings.LastIndex(msg, ": "); i >= 0 && i+2 < len(msg) {
		return msg[i+2:]
	}
	return msg
}
