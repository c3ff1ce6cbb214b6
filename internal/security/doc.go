// Package security plays known attacks against the real HTTP and websocket
// handlers, on SQLite and (with TEST_DATABASE_URL) PostgreSQL: expensive
// documents, secret exfiltration through connector configuration, revoked
// credentials on open sockets, disclosure through preview and submit,
// impersonation through minted tokens, bad input and stalled connections.
// Each test fails if the hole it covers comes back; timings live in the
// benchmarks of the packages that do the work.
package security
