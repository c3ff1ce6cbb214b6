package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
)

// wireRecorder is a PostgreSQL protocol proxy that records the statements
// its clients send: each simple Query ('Q') and each Execute ('E') of the
// extended protocol is one statement, with its text and, for Execute, the
// parameters of its Bind. BEGIN, COMMIT and ROLLBACK are transaction
// boundaries, not statements. It reads only the client's side of the
// conversation and forwards every byte unchanged, so clients (lib/pq here)
// behave as on a direct connection.
//
// It is used only while statements are counted and captured, never during
// the timed rounds: the extra hop would cost the server under test.
type wireRecorder struct {
	ln       net.Listener
	upstream string

	mu        sync.Mutex
	recording bool
	stmts     []wireStatement
	txs       int
}

// wireStatement is one statement as sent: SQL with $n placeholders and the
// text of its parameters (nil for NULL).
type wireStatement struct {
	SQL    string
	Params []*string
}

func newWireRecorder(upstream string) (*wireRecorder, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	w := &wireRecorder{ln: ln, upstream: upstream}
	go w.accept()
	return w, nil
}

// Addr is host:port to connect to instead of the upstream server.
func (w *wireRecorder) Addr() string { return w.ln.Addr().String() }

func (w *wireRecorder) Close() error { return w.ln.Close() }

// Start clears what was recorded and records from now on.
func (w *wireRecorder) Start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.recording, w.stmts, w.txs = true, nil, 0
}

// Stop ends recording and returns the statements and the number of
// transactions committed or rolled back since Start (nothing when it was
// not recording).
func (w *wireRecorder) Stop() ([]wireStatement, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	stmts, txs := w.stmts, w.txs
	w.recording, w.stmts, w.txs = false, nil, 0
	return stmts, txs
}

func (w *wireRecorder) record(s *wireStatement, txEnd bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.recording {
		return
	}
	if txEnd {
		w.txs++
	}
	if s != nil {
		w.stmts = append(w.stmts, *s)
	}
}

func (w *wireRecorder) accept() {
	for {
		c, err := w.ln.Accept()
		if err != nil {
			return
		}
		go w.serve(c)
	}
}

func (w *wireRecorder) serve(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", w.upstream)
	if err != nil {
		return
	}
	defer server.Close()
	go func() {
		_, _ = io.Copy(client, server)
		client.Close()
	}()
	_ = w.forward(bufio.NewReaderSize(client, 64<<10), server)
}

// Protocol codes of the untyped first messages.
const (
	sslRequest    = 80877103
	gssencRequest = 80877104
)

// forward copies the client's messages to server, recording statements.
func (w *wireRecorder) forward(r *bufio.Reader, server io.Writer) error {
	out := bufio.NewWriterSize(server, 64<<10)
	send := func(b ...[]byte) error {
		for _, p := range b {
			if _, err := out.Write(p); err != nil {
				return err
			}
		}
		if r.Buffered() == 0 {
			return out.Flush()
		}
		return nil
	}
	// Startup: untyped messages until one that is not an encryption request.
	for {
		var hdr [8]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return err
		}
		n := int(binary.BigEndian.Uint32(hdr[:4]))
		if n < 8 {
			return errors.New("bad startup message")
		}
		body := make([]byte, n-8)
		if _, err := io.ReadFull(r, body); err != nil {
			return err
		}
		if err := send(hdr[:], body); err != nil {
			return err
		}
		if code := binary.BigEndian.Uint32(hdr[4:]); code != sslRequest && code != gssencRequest {
			break
		}
	}
	prepared := map[string]string{}
	portals := map[string]*wireStatement{}
	for {
		var hdr [5]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return err
		}
		n := int(binary.BigEndian.Uint32(hdr[1:]))
		if n < 4 {
			return errors.New("bad message length")
		}
		body := make([]byte, n-4)
		if _, err := io.ReadFull(r, body); err != nil {
			return err
		}
		switch hdr[0] {
		case 'Q':
			sql := cstring(body, 0)
			if isTxEnd(sql) {
				w.record(nil, true)
			} else if !isTxBegin(sql) {
				w.record(&wireStatement{SQL: sql}, false)
			}
		case 'P':
			name := cstring(body, 0)
			prepared[name] = cstring(body, len(name)+1)
		case 'B':
			portal, s := parseBind(body, prepared)
			if s != nil {
				portals[portal] = s
			}
		case 'E':
			if s := portals[cstring(body, 0)]; s != nil {
				if isTxEnd(s.SQL) {
					w.record(nil, true)
				} else if !isTxBegin(s.SQL) {
					w.record(s, false)
				}
			}
		}
		if err := send(hdr[:], body); err != nil {
			return err
		}
	}
}

// parseBind reads a Bind message: portal, statement, parameter formats and
// values. Binary parameters (which lib/pq does not send) are kept as hex.
func parseBind(b []byte, prepared map[string]string) (string, *wireStatement) {
	portal := cstring(b, 0)
	i := len(portal) + 1
	stmt := cstring(b, i)
	i += len(stmt) + 1
	sql, ok := prepared[stmt]
	if !ok || i+2 > len(b) {
		return portal, nil
	}
	nf := int(binary.BigEndian.Uint16(b[i:]))
	i += 2
	formats := make([]uint16, nf)
	for k := range formats {
		formats[k] = binary.BigEndian.Uint16(b[i:])
		i += 2
	}
	np := int(binary.BigEndian.Uint16(b[i:]))
	i += 2
	s := &wireStatement{SQL: sql, Params: make([]*string, np)}
	for k := 0; k < np; k++ {
		l := int32(binary.BigEndian.Uint32(b[i:]))
		i += 4
		if l < 0 {
			continue
		}
		v := string(b[i : i+int(l)])
		i += int(l)
		binaryFormat := nf == 1 && formats[0] == 1 || nf > 1 && formats[k] == 1
		if binaryFormat {
			v = fmt.Sprintf(`\x%x`, v)
		}
		s.Params[k] = &v
	}
	return portal, s
}

func cstring(b []byte, from int) string {
	if from >= len(b) {
		return ""
	}
	if i := bytes.IndexByte(b[from:], 0); i >= 0 {
		return string(b[from : from+i])
	}
	return string(b[from:])
}

func firstWord(sql string) string {
	f := strings.Fields(sql)
	if len(f) == 0 {
		return ""
	}
	return strings.ToUpper(strings.TrimSuffix(f[0], ";"))
}

func isTxBegin(sql string) bool {
	w := firstWord(sql)
	return w == "BEGIN" || w == "START"
}

func isTxEnd(sql string) bool {
	switch firstWord(sql) {
	case "COMMIT", "END", "ROLLBACK", "ABORT":
		return true
	}
	return false
}

var placeholder = regexp.MustCompile(`\$([0-9]+)`)

// Literal returns the statement with its parameters written in as SQL
// literals of unknown type, which PostgreSQL types from their context as
// it types unspecified parameters, for a pgbench script.
func (s wireStatement) Literal() string {
	return placeholder.ReplaceAllStringFunc(s.SQL, func(m string) string {
		var k int
		fmt.Sscan(m[1:], &k)
		if k < 1 || k > len(s.Params) || s.Params[k-1] == nil {
			return "NULL"
		}
		return "'" + strings.ReplaceAll(*s.Params[k-1], "'", "''") + "'"
	})
}
