package httpserver_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/internal/httpserver"
)

// TestSlowHandlerKeepsItsContext: on one kept-alive connection, a request
// whose handler runs past the body deadline (after reading its body, or
// having none) is not cancelled, and neither is the next request on that
// connection. (net/http cancels the connection's context when its watch
// for a closed connection hits a read deadline; a deadline left in place
// past the body made every later request on the connection start
// cancelled, so a browser's fetch got an empty answer.)
func TestSlowHandlerKeepsItsContext(t *testing.T) {
	t.Parallel()
	const deadline = 20 * time.Millisecond
	seen := make(chan string, 8)
	srv := httpserver.New(httpserver.Config{
		Timeouts: httpserver.Timeouts{ReadHeader: time.Minute, Body: deadline, Idle: time.Minute},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			require.NoError(t, err)
			start := r.Context().Err()
			if r.URL.Path == "/slow" {
				// Well past the deadline, which was set before the
				// handler ran.
				time.Sleep(10 * deadline)
			}
			seen <- fmt.Sprintf("%s %s %q at start %v, at end %v", r.Method, r.URL.Path, body, start, r.Context().Err())
		}),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	conn, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	replies := bufio.NewReader(conn)
	send := func(method, path, body string) {
		t.Helper()
		_, err := fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: gatehouse\r\nContent-Length: %d\r\n\r\n%s", method, path, len(body), body)
		require.NoError(t, err)
		res, err := http.ReadResponse(replies, nil)
		require.NoError(t, err)
		_, err = io.Copy(io.Discard, res.Body)
		require.NoError(t, err)
		require.NoError(t, res.Body.Close())
		require.Equal(t, http.StatusOK, res.StatusCode)
	}
	send("POST", "/slow", `{"query":"{ viewer { id } }"}`)
	send("POST", "/fast", "{}")
	send("GET", "/slow", "")
	send("GET", "/fast", "")
	close(seen)
	var got []string
	for s := range seen {
		got = append(got, s)
	}
	require.Equal(t, []string{
		`POST /slow "{\"query\":\"{ viewer { id } }\"}" at start <nil>, at end <nil>`,
		`POST /fast "{}" at start <nil>, at end <nil>`,
		`GET /slow "" at start <nil>, at end <nil>`,
		`GET /fast "" at start <nil>, at end <nil>`,
	}, got, strings.Join(got, "\n"))
}
