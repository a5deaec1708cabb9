package tds

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
)

// OutputSetter is implemented by the ResultWriter the server passes to
// Session.Exec for an RPC. The engine may type-assert it to set the value
// an OUTPUT parameter returns; without it, an output parameter returns
// the value it came in with, as an unassigned parameter does in SQL Server.
type OutputSetter interface {
	SetOutput(name string, value any) error
}

// Column flags in COLMETADATA ([MS-TDS] 2.2.7.4).
const (
	colFlagNullable         = 0x0001
	colFlagUpdateableUnkown = 0x0008
)

// pendingDone is the last DONE of the response so far. It is held back
// until the server knows whether more follows, because only the final DONE
// of a response may go without the MORE bit.
type pendingDone struct {
	token  byte
	status uint16
	curCmd uint16
	count  uint64
}

// responseWriter implements ResultWriter for one request. It buffers
// tokens and sends full packets as the buffer grows, any remainder on
// Flush, and the end-of-message packet in finish.
type responseWriter struct {
	c       *conn
	buf     tokenBuf
	pending *pendingDone
	started bool // packets of this response already went out

	inProc     bool // statements run inside an RPC: DONEINPROC
	cols       []Column
	colsInStmt bool
	errInStmt  bool
	errAny     bool
	down       []downCol   // columns of this result set sent as a down-level type
	params     []rpcParam  // parameters of the RPC call running now
	outVals    map[int]any // values set with SetOutput, by parameter index

	// stopped is set when the client sent ATTENTION or went away: writes
	// then fail with context.Canceled, so an engine that streams rows
	// without watching ctx still stops at its next Row.
	stopped atomic.Bool
}

func newResponseWriter(c *conn, inProc bool) *responseWriter {
	return &responseWriter{c: c, inProc: inProc}
}

var errNoColumns = errors.New("tds: Row called before Columns")

func (w *responseWriter) emitPending() {
	if p := w.pending; p != nil {
		w.buf.done(w.c.ver, p.token, p.status|doneMore, p.curCmd, p.count)
		w.pending = nil
	}
}

// Columns writes COLMETADATA.
func (w *responseWriter) Columns(cols []Column) error {
	if len(cols) == 0 || len(cols) > 4096 {
		return fmt.Errorf("tds: a result set needs 1..4096 columns, got %d", len(cols))
	}
	w.emitPending()
	w.down = w.down[:0]
	cols = slices.Clone(cols)
	for i := range cols {
		if d, ok := downlevel(cols[i], w.c.ver); ok {
			w.down = append(w.down, downCol{i, cols[i]})
			cols[i] = d
		}
	}
	var b tokenBuf
	b.byte(tokenColMetadata)
	b.u16(uint16(len(cols)))
	for _, c := range cols {
		b.userType(w.c.ver)
		flags := uint16(colFlagUpdateableUnkown)
		if c.Nullable {
			flags |= colFlagNullable
		}
		b.u16(flags)
		if err := b.typeInfo(c); err != nil {
			return err
		}
		b.bVarChar(c.Name)
	}
	w.buf = append(w.buf, b...)
	w.cols = append(w.cols[:0], cols...)
	w.colsInStmt = true
	return w.sendFull()
}

// Row writes one ROW token.
func (w *responseWriter) Row(values ...any) error {
	if w.stopped.Load() {
		return context.Canceled
	}
	if w.cols == nil {
		return errNoColumns
	}
	if len(values) != len(w.cols) {
		return fmt.Errorf("tds: row has %d values for %d columns", len(values), len(w.cols))
	}
	if len(w.down) > 0 {
		values = slices.Clone(values)
		for _, d := range w.down {
			values[d.i] = literal(d.orig, values[d.i])
		}
	}
	mark := len(w.buf)
	w.buf.byte(tokenRow)
	for i, v := range values {
		if err := w.buf.value(w.cols[i], v); err != nil {
			w.buf = w.buf[:mark] // never send half a row
			return err
		}
	}
	return w.sendFull()
}

// Done ends a statement. The token is held until the next one shows
// whether more follows.
func (w *responseWriter) Done(count int64, hasCount bool) error {
	w.emitPending()
	p := &pendingDone{token: tokenDone, curCmd: curCmdNone}
	if w.inProc {
		p.token = tokenDoneInProc
	}
	if hasCount {
		p.status |= doneCount
		p.count = uint64(max(count, 0))
	}
	if w.errInStmt {
		p.status |= doneError
	}
	if w.colsInStmt {
		p.curCmd = curCmdSelect
	}
	w.pending = p
	w.cols, w.colsInStmt, w.errInStmt = nil, false, false
	return nil
}

// Message writes INFO or ERROR.
func (w *responseWriter) Message(m Message) error {
	w.emitPending()
	w.buf.message(w.c.ver, m, w.c.serverName())
	if m.Class > 10 {
		w.errInStmt, w.errAny = true, true
	}
	return w.sendFull()
}

// ChangeDatabase writes the ENVCHANGE and the INFO 5701 SQL Server sends
// for USE.
func (w *responseWriter) ChangeDatabase(name string) error {
	w.emitPending()
	old := w.c.database
	w.buf.envChangeStrings(envDatabase, name, old)
	w.buf.message(w.c.ver, Message{Number: 5701, State: 1, Class: 0, Line: 1,
		Text: fmt.Sprintf("Changed database context to '%s'.", name)}, w.c.serverName())
	w.c.database = name
	return nil
}

// Flush sends everything buffered now, without ending the response.
func (w *responseWriter) Flush() error {
	if w.stopped.Load() {
		return context.Canceled
	}
	if len(w.buf) == 0 {
		return nil
	}
	return w.send(len(w.buf), false)
}

// SetOutput records the value an OUTPUT parameter returns.
func (w *responseWriter) SetOutput(name string, value any) error {
	for i, p := range w.params {
		if p.Output && strings.EqualFold(p.Name, name) {
			w.setOutput(i, value)
			return nil
		}
	}
	return fmt.Errorf("tds: no output parameter %s", name)
}

func (w *responseWriter) setOutput(i int, value any) {
	if w.outVals == nil {
		w.outVals = map[int]any{}
	}
	w.outVals[i] = value
}

// startCall makes params the parameters OUTPUT values refer to.
func (w *responseWriter) startCall(params []rpcParam) {
	w.params, w.outVals = params, nil
}

// sendFull sends the whole packets the buffer holds, keeping the tail for
// later so packets stay full while rows stream.
func (w *responseWriter) sendFull() error {
	payload := w.c.pw.packetSize - headerSize
	if len(w.buf) < 4*payload {
		return nil
	}
	return w.send(len(w.buf)/payload*payload, false)
}

func (w *responseWriter) send(n int, eom bool) error {
	if !w.started {
		w.c.pw.begin(packetReply)
		w.started = true
	}
	if err := w.c.pw.write(w.buf[:n], eom); err != nil {
		return fmt.Errorf("tds: send response: %w", err)
	}
	w.buf = append(w.buf[:0], w.buf[n:]...)
	return nil
}

// finish ends a SQL batch response: the held DONE goes out as the final
// one (or a bare DONE if the engine sent none).
func (w *responseWriter) finish() error {
	if p := w.pending; p != nil {
		w.buf.done(w.c.ver, p.token, p.status, p.curCmd, p.count)
		w.pending = nil
	} else {
		status := uint16(doneFinal)
		if w.errAny {
			status |= doneError
		}
		w.buf.done(w.c.ver, tokenDone, status, curCmdNone, 0)
	}
	return w.send(len(w.buf), true)
}

// finishProc ends one RPC: RETURNSTATUS, RETURNVALUE per output parameter,
// DONEPROC. more is set when further calls of the same request follow.
func (w *responseWriter) finishProc(more, eom bool) error {
	w.emitPending()
	w.buf.returnStatus(0)
	for i, p := range w.params {
		if !p.Output {
			continue
		}
		v := p.Value
		if o, ok := w.outVals[i]; ok {
			v = o
		}
		if err := w.returnValue(i, p, v); err != nil {
			return err
		}
	}
	status := uint16(doneFinal)
	if more {
		status |= doneMore
	}
	if w.errAny {
		status |= doneError
	}
	w.buf.done(w.c.ver, tokenDoneProc, status, curCmdExecute, 0)
	w.errAny = false
	if eom {
		return w.send(len(w.buf), true)
	}
	return nil
}

// returnValue writes RETURNVALUE ([MS-TDS] 2.2.7.19) in the parameter's
// declared type.
func (w *responseWriter) returnValue(ordinal int, p rpcParam, v any) error {
	var b tokenBuf
	b.byte(tokenReturnValue)
	b.u16(uint16(ordinal))
	b.bVarChar(p.Name)
	b.byte(0x01) // output parameter of an RPC
	b.userType(w.c.ver)
	b.u16(colFlagNullable)
	col := p.Type
	if err := b.typeInfo(col); err != nil {
		return err
	}
	if err := b.value(col, v); err != nil {
		return err
	}
	w.buf = append(w.buf, b...)
	return nil
}

// finishAttention ends a cancelled request: whatever was produced goes
// out, then DONE with the ATTN bit acknowledges the attention
// ([MS-TDS] 2.2.1.7).
func (w *responseWriter) finishAttention() error {
	w.emitPending()
	w.buf.done(w.c.ver, tokenDone, doneAttn, curCmdNone, 0)
	return w.send(len(w.buf), true)
}

// finishCancelled ends a request cancelled while it ran: its response
// message is closed with a DONE, then the acknowledgment follows as a
// message of its own. tedious relies on this order: it reads the message
// that answers the request before the one that acknowledges the
// attention (lib/connection.js, SENT_CLIENT_REQUEST state).
func (w *responseWriter) finishCancelled() error {
	if err := w.finish(); err != nil {
		return err
	}
	w.started = false
	return w.finishAttention()
}

// TranWriter is implemented by the ResultWriter the server passes to
// Session.Exec: the engine reports that a T-SQL BEGIN TRANSACTION started
// the outermost transaction or a COMMIT or ROLLBACK ended it, and the
// server sends ENVCHANGE 8, 9 or 10 with the transaction descriptor
// clients send back in ALL_HEADERS ([MS-TDS] 2.2.7.9, 2.2.5.3.2).
type TranWriter interface {
	TranBegun() error
	TranEnded(committed bool) error
}

func (w *responseWriter) TranBegun() error {
	w.emitPending()
	w.c.beginTran(w)
	return nil
}

func (w *responseWriter) TranEnded(committed bool) error {
	w.emitPending()
	if w.c.tranID == 0 {
		return nil
	}
	env := byte(envRollbackTran)
	if committed {
		env = envCommitTran
	}
	w.buf.envChangeBytes(env, nil, tranBytes(w.c.tranID))
	w.c.tranID = 0
	return nil
}
