// Package wsgorilla plugs github.com/gorilla/websocket into gqlgen's websocket
// transport. server.go passes New(...) as transport.Websocket.Implementation;
// nothing else in Gatehouse needs to import this package.
package wsgorilla

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
)

// CloseInitTimeout is the graphql-transport-ws close code for a client that
// did not send connection_init in time.
const CloseInitTimeout = 4408

// gqlgenInitTimeoutReason is the reason gqlgen gives, with code 1002, when it
// closes a socket that never sent connection_init (transport/websocket.go).
const gqlgenInitTimeoutReason = "connection initialisation timeout"

// Options configures an Implementation. The zero value is usable.
type Options struct {
	// CheckOrigin reports whether the upgrade request's Origin is allowed; a
	// refused request gets 403. Nil allows only same-origin requests (and
	// requests without an Origin header), as gorilla does by default.
	CheckOrigin func(r *http.Request) bool
	// ReadBufferSize and WriteBufferSize are the I/O buffer sizes in bytes;
	// zero means gorilla's default of 4096.
	ReadBufferSize, WriteBufferSize int
	// WriteBufferPool lends write buffers to connections only while they
	// write, so idle subscribers hold none. Nil means one sync.Pool shared by
	// every connection of the Implementation.
	WriteBufferPool websocket.BufferPool
	// ReuseHTTPBuffers makes each connection read and write through the
	// buffers net/http allocated for it (4 KiB each), which net/http keeps
	// for the connection's whole life anyway, instead of allocating its own;
	// the buffer sizes and the pool are then ignored. This is the least
	// memory per connection.
	ReuseHTTPBuffers bool
	// EnableCompression negotiates permessage-deflate; it costs memory per
	// connection and is off by default.
	EnableCompression bool
	// WriteTimeout bounds each message write, so that a peer that stops
	// reading cannot hold a writer (and the connection's lock) forever; the
	// connection fails instead. Zero means no limit.
	WriteTimeout time.Duration
}

// Implementation is a transport.WebsocketImplementation backed by gorilla.
// It is safe for concurrent use.
type Implementation struct {
	upgrader     websocket.Upgrader
	writeTimeout time.Duration
}

var _ transport.WebsocketImplementation = (*Implementation)(nil)

// New returns an Implementation configured by opts.
func New(opts Options) *Implementation {
	pool := opts.WriteBufferPool
	if pool == nil {
		pool = &sync.Pool{}
	}
	if opts.ReuseHTTPBuffers {
		// gorilla reuses the hijacked bufio buffers when no size and no
		// pool is set.
		opts.ReadBufferSize, opts.WriteBufferSize, pool = 0, 0, nil
	}
	u := websocket.Upgrader{
		CheckOrigin:       opts.CheckOrigin,
		ReadBufferSize:    opts.ReadBufferSize,
		WriteBufferSize:   opts.WriteBufferSize,
		EnableCompression: opts.EnableCompression,
	}
	if pool != nil {
		u.WriteBufferPool = pool
	}
	return &Implementation{upgrader: u, writeTimeout: opts.WriteTimeout}
}

// Accept upgrades the request, offering the subprotocols gqlgen supports. On
// failure gorilla has already written the HTTP error (403 for a refused
// Origin, 400 for a malformed handshake).
func (i *Implementation) Accept(w http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	u := i.upgrader
	u.Subprotocols = opts.Subprotocols
	ws, err := u.Upgrade(w, r, opts.ResponseHeader)
	if err != nil {
		return nil, fmt.Errorf("wsgorilla: upgrade: %w", err)
	}
	return &conn{Conn: ws, writeTimeout: i.writeTimeout}, nil
}

// conn adapts *websocket.Conn to transport.WebsocketConn, including the
// optional read limiter and read deadliner interfaces.
type conn struct {
	*websocket.Conn
	writeTimeout time.Duration
}

// WriteJSON writes one message within the write timeout. gqlgen serialises
// writes on a connection.
func (c *conn) WriteJSON(v any) error {
	if c.writeTimeout > 0 {
		if err := c.SetWriteDeadline(time.Now().Add(c.writeTimeout)); err != nil {
			return err
		}
	}
	return c.Conn.WriteJSON(v)
}

var (
	_ transport.WebsocketConn          = (*conn)(nil)
	_ transport.WebsocketReadLimiter   = (*conn)(nil)
	_ transport.WebsocketReadDeadliner = (*conn)(nil)
)

// NextReader returns the next data message. A close by the peer or by us
// returns an error wrapping both transport.ErrWebsocketClosed and the cause.
func (c *conn) NextReader() (int, io.Reader, error) {
	t, r, err := c.Conn.NextReader()
	var closeErr *websocket.CloseError
	if errors.As(err, &closeErr) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		err = fmt.Errorf("%w: %w", transport.ErrWebsocketClosed, err)
	}
	return t, r, err
}

// WriteClose sends a close frame. gqlgen's init timeout (1002) becomes 4408 on
// graphql-transport-ws, as that protocol requires; other codes pass as given.
func (c *conn) WriteClose(code int, reason string) error {
	if code == transport.WebsocketCloseProtocolError && reason == gqlgenInitTimeoutReason &&
		c.Subprotocol() == "graphql-transport-ws" {
		code, reason = CloseInitTimeout, "Connection initialisation timeout"
	}
	if len(reason) > 123 { // a control frame payload is at most 125 bytes
		reason = strings.ToValidUTF8(reason[:123], "")
	}
	msg := websocket.FormatCloseMessage(code, reason)
	return c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
}
