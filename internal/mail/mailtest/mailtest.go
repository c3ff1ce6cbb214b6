// Package mailtest is a real SMTP server (go-smtp) for tests: it offers
// STARTTLS with a test certificate (or speaks implicit TLS), takes AUTH
// PLAIN only over TLS, records the messages it accepts, and answers DATA
// with a chosen rejection when told to, or holds a message back before
// answering (a mail server slow to take it) until the test lets it go.
package mailtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"gatehouse/internal/testhold"
)

// User and Password are the credentials the server accepts; a client
// without them may not send.
const (
	User     = "mailer"
	Password = "s3cret"
)

// Received is one message the server accepted.
type Received struct {
	From, To string
	Data     []byte
	// TLS: the message came over an encrypted connection.
	TLS  bool
	User string
}

// Server is a running test SMTP server.
type Server struct {
	// Addr is its host:port on 127.0.0.1.
	Addr string
	// Roots trusts its certificate (mail.WithTLSConfig).
	Roots *x509.CertPool
	// CertPEM is its certificate in PEM, for a process that trusts the
	// files SSL_CERT_FILE names.
	CertPEM []byte

	mu     sync.Mutex
	got    []Received
	reject *smtp.SMTPError
	hold   *testhold.Hold[string]
}

// HoldNext makes the server hold the next message it receives until
// Release; the test releases it at the latest when it ends.
// Its Arrived receives the message's recipient.
func (ms *Server) HoldNext(t *testing.T) *testhold.Hold[string] {
	h := testhold.New[string](t)
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.hold = h
	return h
}

// Start starts a server closed when the test ends; implicitTLS makes it
// speak TLS from the first byte (smtps), else it offers STARTTLS.
func Start(t *testing.T, implicitTLS bool) *Server {
	t.Helper()
	cert, roots := certificate(t)
	ms := &Server{Roots: roots, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Leaf.Raw})}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		return &session{ms: ms, tls: isTLS, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.ErrorLog = discardLog{}
	var l net.Listener
	var err error
	if implicitTLS {
		l, err = tls.Listen("tcp", "127.0.0.1:0", srv.TLSConfig)
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	require.NoError(t, err)
	ms.Addr = l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ms
}

// URL is the smtp:// URL of the server with its credentials.
func (ms *Server) URL() string { return "smtp://" + User + ":" + Password + "@" + ms.Addr }

// Messages returns the messages accepted so far, in order.
func (ms *Server) Messages() []Received {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]Received(nil), ms.got...)
}

// Reject makes the server answer DATA with err (nil accepts again).
func (ms *Server) Reject(err *smtp.SMTPError) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.reject = err
}

type discardLog struct{}

func (discardLog) Printf(string, ...any) {}
func (discardLog) Println(...any)        {}

type session struct {
	ms   *Server
	conn *smtp.Conn
	tls  bool
	user string
	from string
	to   string
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != User || pass != Password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		s.user = user
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = to; return nil }

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.ms.mu.Lock()
	h := s.ms.hold
	s.ms.hold = nil
	s.ms.mu.Unlock()
	if h != nil {
		h.Keep(s.to)
	}
	s.ms.mu.Lock()
	defer s.ms.mu.Unlock()
	if s.ms.reject != nil {
		return s.ms.reject
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.ms.got = append(s.ms.got, Received{From: s.from, To: s.to, Data: b, TLS: isTLS || s.tls, User: s.user})
	return nil
}

func (s *session) Reset()        {}
func (s *session) Logout() error { return nil }

// certificate is a self-signed certificate for 127.0.0.1 and the pool
// that trusts it.
func certificate(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test mail server"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, roots
}

// Parts reads a received multipart/alternative message: its headers and
// its bodies by content type, decoded.
func Parts(t *testing.T, data []byte) (netmail.Header, map[string]string) {
	t.Helper()
	msg, err := netmail.ReadMessage(strings.NewReader(string(data)))
	require.NoError(t, err)
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/alternative", mt)
	out := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		b, err := io.ReadAll(p)
		require.NoError(t, err)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		out[ct] = string(b)
	}
	return msg.Header, out
}
