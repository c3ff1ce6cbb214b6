package connectors

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
)

// Markers kinds wrap into their errors (fmt.Errorf("…: %w", ErrAuthRefused))
// so that Reason can name the failure without quoting the application.
var (
	// ErrAuthRefused: the application refused the credentials.
	ErrAuthRefused = errors.New("authentication refused")
	// ErrInsufficientPrivilege: the credentials are accepted but may not do
	// what the connector needs.
	ErrInsufficientPrivilege = errors.New("insufficient privileges")
	// ErrUnexpectedAnswer: the application answered with something the
	// connector cannot read (not the protocol it speaks).
	ErrUnexpectedAnswer = errors.New("unexpected answer")
)

// HTTPStatusError is implemented by the errors of kinds that speak HTTP
// when the application answered with an unexpected status.
type HTTPStatusError interface {
	error
	HTTPStatus() int
}

// Reason returns a short, fixed description of a connector failure, for
// messages shown to API callers: it is made only of Gatehouse's own words
// and numbers, never of text the application (or whatever listens at the
// configured address) sent back, so a connection check cannot be used to
// read another service. It is one of
//
//	"unusable configuration: <key>: <message>"  (a *ConfigError, whose
//	                                             messages never hold values)
//	"authentication refused (HTTP 401)"         401 and 403
//	"redirect not followed (HTTP 302)"          3xx
//	"unexpected status 500"                     any other HTTP status
//	"authentication refused"                    ErrAuthRefused
//	"insufficient privileges"                   ErrInsufficientPrivilege
//	"timeout"                                   deadline exceeded
//	"TLS error"                                 handshake or certificate
//	"unexpected answer"                         ErrUnexpectedAnswer
//	"unreachable"                               network errors
//	"failed"                                    anything else
//
// Reason(nil) is "".
func Reason(err error) string {
	if err == nil {
		return ""
	}
	if ce, ok := errors.AsType[*ConfigError](err); ok {
		return "unusable configuration: " + ce.Error()
	}
	if se, ok := errors.AsType[HTTPStatusError](err); ok {
		code := se.HTTPStatus()
		switch {
		case code == 401 || code == 403:
			return fmt.Sprintf("authentication refused (HTTP %d)", code)
		case code >= 300 && code < 400:
			return fmt.Sprintf("redirect not followed (HTTP %d)", code)
		default:
			return fmt.Sprintf("unexpected status %d", code)
		}
	}
	switch {
	case errors.Is(err, ErrAuthRefused):
		return "authentication refused"
	case errors.Is(err, ErrInsufficientPrivilege):
		return "insufficient privileges"
	case isTimeout(err):
		return "timeout"
	case isTLS(err):
		return "TLS error"
	case errors.Is(err, ErrUnexpectedAnswer):
		return "unexpected answer"
	case isNetwork(err):
		return "unreachable"
	}
	return "failed"
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}

func isTLS(err error) bool {
	if _, ok := errors.AsType[tls.RecordHeaderError](err); ok {
		return true
	}
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return true
	}
	if _, ok := errors.AsType[tls.AlertError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.HostnameError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.CertificateInvalidError](err); ok {
		return true
	}
	// Handshake failures without a typed error; the text is the Go TLS
	// stack's own, used to classify, never shown.
	return strings.Contains(err.Error(), "tls: ")
}

func isNetwork(err error) bool {
	if _, ok := errors.AsType[net.Error](err); ok { // *net.OpError and *net.DNSError among them
		return true
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// Error classes returned by Class.
const (
	ClassConfig   = "config"
	ClassAuth     = "auth"
	ClassHTTP3xx  = "http_3xx"
	ClassHTTP4xx  = "http_4xx"
	ClassHTTP5xx  = "http_5xx"
	ClassTimeout  = "timeout"
	ClassTLS      = "tls"
	ClassProtocol = "protocol"
	ClassNetwork  = "network"
	ClassCanceled = "canceled"
	ClassOther    = "other"
)

// Class returns the class of a connector failure, one of a small fixed set
// (the Class* constants), for metric labels and log fields; it follows the
// same order as Reason. A cancelled call (a shutdown) is ClassCanceled;
// 401 and 403 answers and ErrAuthRefused and ErrInsufficientPrivilege are
// ClassAuth; other HTTP statuses are classed by their hundreds. Class(nil)
// is "".
func Class(err error) string {
	if err == nil {
		return ""
	}
	if _, ok := errors.AsType[*ConfigError](err); ok {
		return ClassConfig
	}
	if errors.Is(err, context.Canceled) {
		return ClassCanceled
	}
	if se, ok := errors.AsType[HTTPStatusError](err); ok {
		switch code := se.HTTPStatus(); {
		case code == 401 || code == 403:
			return ClassAuth
		case code >= 300 && code < 400:
			return ClassHTTP3xx
		case code >= 400 && code < 500:
			return ClassHTTP4xx
		case code >= 500 && code < 600:
			return ClassHTTP5xx
		}
		return ClassOther
	}
	switch {
	case errors.Is(err, ErrAuthRefused), errors.Is(err, ErrInsufficientPrivilege):
		return ClassAuth
	case isTimeout(err):
		return ClassTimeout
	case isTLS(err):
		return ClassTLS
	case errors.Is(err, ErrUnexpectedAnswer):
		return ClassProtocol
	case isNetwork(err):
		return ClassNetwork
	}
	return ClassOther
}
