package tds

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Server.
type Options struct {
	// TLSConfig holds the server certificate. Nil means the server answers
	// PRELOGIN with ENCRYPT_NOT_SUP and refuses clients that require TLS.
	TLSConfig *tls.Config
	// Logger receives connection-level events; nil discards them.
	Logger *slog.Logger
	// LoginTimeout bounds PRELOGIN, TLS and LOGIN7 of a new connection
	// (default 30s), so silent clients cannot hold a goroutine forever.
	LoginTimeout time.Duration
	// MaxRequestSize bounds one request message (default 256 MiB).
	MaxRequestSize int
}

// Server accepts TDS connections and runs them against a Handler.
type Server struct {
	h    Handler
	opts Options
	log  *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	wg        sync.WaitGroup
	spid      atomic.Uint32
}

// NewServer returns a server for h; call Serve to accept connections.
func NewServer(h Handler, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.LoginTimeout <= 0 {
		opts.LoginTimeout = 30 * time.Second
	}
	if opts.MaxRequestSize <= 0 {
		opts.MaxRequestSize = 256 << 20
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		h: h, opts: opts, log: opts.Logger,
		ctx: ctx, cancel: cancel,
		listeners: map[net.Listener]struct{}{},
		conns:     map[net.Conn]struct{}{},
	}
	s.spid.Store(50) // SQL Server numbers user sessions from 51
	return s
}

// Serve accepts connections on l until Close; it then returns nil. Each
// connection runs in its own goroutine.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()

	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.isClosed() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		if !s.track(nc) {
			nc.Close()
			return nil
		}
		go s.serveConn(nc)
	}
}

// Close stops accepting, closes every connection and waits for their
// goroutines (and the sessions' Close) to finish.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// track registers a connection; false once the server is closed.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

func (s *Server) serveConn(nc net.Conn) {
	defer s.untrack(nc)
	defer nc.Close()
	spid := uint16(s.spid.Add(1))
	log := s.log.With("spid", spid, "remote", nc.RemoteAddr().String())
	defer func() {
		// A bug must cost one connection, never the process.
		if r := recover(); r != nil {
			log.Error("tds: connection panic", "panic", r)
		}
	}()
	c := &conn{srv: s, raw: nc, spid: spid, log: log}
	c.pw = &packetWriter{w: nc, packetSize: defaultPacketSize, spid: spid}
	err := c.serve(s.ctx)
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), s.isClosed():
		log.Debug("tds: connection closed")
	default:
		log.Info("tds: connection ended", "err", err)
	}
}
