package connectors_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/connectors"
)

// TestClass: each failure falls in one class of the fixed set, whatever its
// wrapping; the classes follow Reason's order.
func TestClass(t *testing.T) {
	t.Parallel()
	wrap := func(err error) error { return connectors.Transient(fmt.Errorf("kind: step: %w", err)) }
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"config", connectors.Permanent(&connectors.ConfigError{Key: "url", Message: "missing"}), connectors.ClassConfig},
		{"canceled", wrap(context.Canceled), connectors.ClassCanceled},
		{"401", wrap(statusErr(401)), connectors.ClassAuth},
		{"403", connectors.Permanent(statusErr(403)), connectors.ClassAuth},
		{"302", wrap(statusErr(302)), connectors.ClassHTTP3xx},
		{"404", connectors.Permanent(statusErr(404)), connectors.ClassHTTP4xx},
		{"429", wrap(statusErr(429)), connectors.ClassHTTP4xx},
		{"503", wrap(statusErr(503)), connectors.ClassHTTP5xx},
		{"odd status", wrap(statusErr(700)), connectors.ClassOther},
		{"auth marker", wrap(connectors.ErrAuthRefused), connectors.ClassAuth},
		{"privilege marker", wrap(connectors.ErrInsufficientPrivilege), connectors.ClassAuth},
		{"deadline", wrap(context.DeadlineExceeded), connectors.ClassTimeout},
		{"net timeout", wrap(&net.OpError{Op: "dial", Err: timeoutErr{}}), connectors.ClassTimeout},
		{"tls", wrap(tls.RecordHeaderError{Msg: "not TLS"}), connectors.ClassTLS},
		{"unexpected answer", wrap(connectors.ErrUnexpectedAnswer), connectors.ClassProtocol},
		{"refused", wrap(&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}), connectors.ClassNetwork},
		{"eof", wrap(io.ErrUnexpectedEOF), connectors.ClassNetwork},
		{"other", wrap(errors.New("boom")), connectors.ClassOther},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, connectors.Class(tt.err), tt.name)
	}
}
