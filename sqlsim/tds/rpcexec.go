package tds

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
)

// ProcSession is optionally implemented by a Session that runs stored
// procedures called by name over RPC (other than the sp_executesql family,
// which the server maps to Exec). Without it such calls get error 2812.
type ProcSession interface {
	ExecProc(ctx context.Context, name string, params []Param, w ResultWriter) error
}

// TxSession is optionally implemented by a Session that takes part in
// transactions a client starts with transaction manager requests (what
// database/sql's BeginTx sends). Without it the server only acknowledges
// them.
type TxSession interface {
	BeginTx(ctx context.Context, name string) error
	CommitTx(ctx context.Context) error
	RollbackTx(ctx context.Context) error
}

// SavepointSession is optionally implemented by a TxSession that keeps
// savepoints: TM_SAVE_XACT sets one, and a TM_ROLLBACK_XACT naming one
// goes back to it without ending the transaction ([MS-TDS] 2.2.6.9).
// RollbackToTx reports whether the transaction ended (the name was the
// transaction's own). Without it such requests are refused.
type SavepointSession interface {
	SaveTx(ctx context.Context, name string) error
	RollbackToTx(ctx context.Context, name string) (ended bool, err error)
}

// System procedure names by id, for messages.
var procNames = map[uint16]string{
	1: "sp_cursor", 2: "sp_cursoropen", 3: "sp_cursorprepare", 4: "sp_cursorexecute",
	5: "sp_cursorprepexec", 6: "sp_cursorunprepare", 7: "sp_cursorfetch",
	8: "sp_cursoroption", 9: "sp_cursorclose", 10: "sp_executesql", 11: "sp_prepare",
	12: "sp_execute", 13: "sp_prepexec", 14: "sp_prepexecrpc", 15: "sp_unprepare",
}

// handleRPC runs every call of an RPC request in one response.
func (c *conn) handleRPC(ctx context.Context, m message, msgs <-chan message) error {
	calls, err := parseRPC(m.Data, c.ver)
	if err != nil {
		var u *unsupportedTypeError
		if errors.As(err, &u) {
			return c.errorResponse(Message{Number: 8016, State: 1, Class: 16, Line: 1, Text: u.Error()})
		}
		return err
	}
	return c.run(ctx, msgs, true, func(ctx context.Context, w *responseWriter) error {
		for i, call := range calls {
			w.startCall(call.Params)
			if err := c.execCall(ctx, call, w); err != nil {
				return err
			}
			if err := w.finishProc(i < len(calls)-1, false); err != nil {
				return err
			}
		}
		return nil
	}, func(w *responseWriter) error { return w.send(len(w.buf), true) })
}

// errorResponse answers a request with one ERROR and a final DONE.
func (c *conn) errorResponse(m Message) error {
	w := newResponseWriter(c, false)
	w.Message(m)
	return w.finish()
}

func procError(w ResultWriter, number int32, state uint8, text string) error {
	return w.Message(Message{Number: number, State: state, Class: 16, Line: 1, Text: text})
}

// execCall runs one procedure call.
func (c *conn) execCall(ctx context.Context, call rpcCall, w *responseWriter) error {
	id := call.ProcID
	name := call.ProcName
	if id == 0 {
		id = procIDByName(name)
	} else {
		name = procNames[id]
		if name == "" {
			name = fmt.Sprintf("#%d", id)
		}
	}
	ps := call.Params
	switch id {
	case procExecuteSQL:
		// @stmt, then optionally @params (the declarations), then values.
		if len(ps) == 0 || !isText(ps[0]) {
			return procError(w, 214, 2, "Procedure expects parameter '@statement' of type 'ntext/nchar/nvarchar'.")
		}
		rest := ps[1:]
		if len(rest) > 0 && isText(rest[0]) && !rest[0].Output {
			rest = rest[1:]
		}
		return c.sess.Exec(ctx, textOf(ps[0]), params(rest), w)
	case procPrepare, procPrepExec:
		// @handle OUTPUT, @params, @stmt [, @options | values...]
		if len(ps) < 3 || !isText(ps[2]) {
			return procError(w, 201, 4, fmt.Sprintf("Procedure or function '%s' expects parameter '@stmt', which was not supplied.", name))
		}
		c.nextHandle++
		if c.prepared == nil {
			c.prepared = map[int32]string{}
		}
		c.prepared[c.nextHandle] = textOf(ps[2])
		w.setOutput(0, int64(c.nextHandle))
		if id == procPrepare {
			return nil
		}
		return c.sess.Exec(ctx, textOf(ps[2]), params(ps[3:]), w)
	case procExecute:
		h, ok := handleOf(ps)
		stmt, found := c.prepared[h]
		if !ok || !found {
			return procError(w, 8179, 4, fmt.Sprintf("Could not find prepared statement with handle %d.", h))
		}
		return c.sess.Exec(ctx, stmt, params(ps[1:]), w)
	case procUnprepare:
		if h, ok := handleOf(ps); ok {
			delete(c.prepared, h)
		}
		return nil
	}
	if p, ok := c.sess.(ProcSession); ok && call.ProcID == 0 {
		return p.ExecProc(ctx, name, params(ps), w)
	}
	return procError(w, 2812, 62, fmt.Sprintf("Could not find stored procedure '%s'.", name))
}

func isText(p rpcParam) bool {
	_, ok := p.Value.(string)
	return ok
}

func textOf(p rpcParam) string { s, _ := p.Value.(string); return s }

func handleOf(ps []rpcParam) (int32, bool) {
	if len(ps) == 0 {
		return 0, false
	}
	v, ok := ps[0].Value.(int64)
	return int32(v), ok
}

func params(ps []rpcParam) []Param {
	if len(ps) == 0 {
		return nil
	}
	out := make([]Param, len(ps))
	for i, p := range ps {
		out[i] = p.Param
	}
	return out
}

// Transaction manager request types ([MS-TDS] 2.2.6.9).
const (
	tmBegin    = 5
	tmCommit   = 7
	tmRollback = 8
	tmSave     = 9
)

// handleTransMgr answers BEGIN/COMMIT/ROLLBACK transaction requests with
// the ENVCHANGE that carries the transaction descriptor, which clients
// send back in ALL_HEADERS of later requests.
func (c *conn) handleTransMgr(ctx context.Context, m message) error {
	r := &reader{b: m.Data}
	if !legacy71(c.ver) {
		r.skipAllHeaders()
	}
	typ := r.u16()
	if r.err != nil {
		return r.err
	}
	tx, _ := c.sess.(TxSession)
	w := newResponseWriter(c, false)
	switch typ {
	case tmBegin:
		r.byte() // isolation level
		name := tmName(r)
		if tx != nil {
			if err := tx.BeginTx(ctx, name); err != nil {
				return c.errorResponse(tmError(err))
			}
		}
		c.beginTran(w)
	case tmCommit, tmRollback:
		name := tmName(r)
		flags := r.byte()
		if c.tranID == 0 {
			n, verb := int32(3902), "COMMIT"
			if typ == tmRollback {
				n, verb = 3903, "ROLLBACK"
			}
			return c.errorResponse(Message{Number: n, State: 1, Class: 16, Line: 1,
				Text: fmt.Sprintf("The %s TRANSACTION request has no corresponding BEGIN TRANSACTION.", verb)})
		}
		if typ == tmRollback && name != "" {
			ended, err := c.rollbackTo(ctx, name)
			if err != nil {
				return c.errorResponse(tmError(err))
			}
			if !ended { // back to a savepoint: the transaction goes on
				return w.finish()
			}
		} else if tx != nil {
			end := tx.CommitTx
			if typ == tmRollback {
				end = tx.RollbackTx
			}
			if err := end(ctx); err != nil {
				return c.errorResponse(tmError(err))
			}
		}
		env := byte(envCommitTran)
		if typ == tmRollback {
			env = envRollbackTran
		}
		w.buf.envChangeBytes(env, nil, tranBytes(c.tranID))
		c.tranID = 0
		if flags&0x01 != 0 { // fBeginXact: start the next one at once
			c.beginTran(w)
		}
	case tmSave:
		name := tmName(r)
		sp, ok := c.sess.(SavepointSession)
		if !ok {
			return c.errorResponse(Message{Number: 50000, State: 1, Class: 16, Line: 1, Text: "Savepoints are not supported by this server."})
		}
		if err := sp.SaveTx(ctx, name); err != nil {
			return c.errorResponse(tmError(err))
		}
	default:
		return c.errorResponse(Message{Number: 8509, State: 1, Class: 16, Line: 1,
			Text: "Distributed transactions are not supported by this server."})
	}
	return w.finish()
}

// rollbackTo hands a named TM_ROLLBACK_XACT to the session's savepoints.
func (c *conn) rollbackTo(ctx context.Context, name string) (bool, error) {
	sp, ok := c.sess.(SavepointSession)
	if !ok {
		return false, &Message{Number: 50000, State: 1, Class: 16, Text: "Savepoints are not supported by this server."}
	}
	return sp.RollbackToTx(ctx, name)
}

// tmError is the message a failed transaction manager request answers: the
// session's own SQL error, or 50000 with its text.
func tmError(err error) Message {
	var m *Message
	if errors.As(err, &m) {
		out := *m
		out.Line = max(out.Line, 1)
		return out
	}
	return Message{Number: 50000, State: 1, Class: 16, Line: 1, Text: err.Error()}
}

// tmName reads a transaction manager request's transaction name, a
// B_VARBYTE of UCS-2 (the length counts bytes, as Microsoft's mssql-tds
// crate and tedious write it: [MS-TDS] 2.2.6.9).
func tmName(r *reader) string { return decodeUCS2(r.bytes(int(r.byte()))) }

func (c *conn) beginTran(w *responseWriter) {
	c.nextTranID++
	c.tranID = c.nextTranID
	w.buf.envChangeBytes(envBeginTran, tranBytes(c.tranID), nil)
}

func tranBytes(id uint64) []byte { return binary.LittleEndian.AppendUint64(nil, id) }
