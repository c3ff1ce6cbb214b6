package mail_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
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

	"gatehouse/internal/mail"
)

// received is one message the test server accepted.
type received struct {
	from, to string
	data     []byte
	tls      bool
	user     string
}

// mailServer is a real SMTP server (go-smtp) that offers STARTTLS with a
// test certificate, takes AUTH PLAIN only over TLS, and records messages.
type mailServer struct {
	addr  string
	roots *x509.CertPool

	mu     sync.Mutex
	got    []received
	reject *smtp.SMTPError // the answer to DATA, when set
}

func startMailServer(t *testing.T, implicitTLS bool) *mailServer {
	t.Helper()
	cert, roots := testCertificate(t)
	ms := &mailServer{roots: roots}
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
	ms.addr = l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ms
}

func (ms *mailServer) messages() []received {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]received(nil), ms.got...)
}

type discardLog struct{}

func (discardLog) Printf(string, ...any) {}
func (discardLog) Println(...any)        {}

type session struct {
	ms   *mailServer
	conn *smtp.Conn
	tls  bool
	user string
	from string
	to   string
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "mailer" || pass != "s3cret" {
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
	defer s.ms.mu.Unlock()
	if s.ms.reject != nil {
		return s.ms.reject
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.ms.got = append(s.ms.got, received{from: s.from, to: s.to, data: b, tls: isTLS || s.tls, user: s.user})
	return nil
}

func (s *session) Reset()        {}
func (s *session) Logout() error { return nil }

// testCertificate is a self-signed certificate for 127.0.0.1 and the pool
// that trusts it.
func testCertificate(t *testing.T) (tls.Certificate, *x509.CertPool) {
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

// parts reads a received message: its headers and its bodies by content
// type.
func parts(t *testing.T, data []byte) (netmail.Header, map[string]string) {
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

// TestSMTPSendsOverSTARTTLSWithAuth: a message reaches a real SMTP server
// that offers STARTTLS, over the encrypted connection, authenticated with
// AUTH PLAIN, from the configured address to its one recipient, with its
// subject (encoded) and both bodies as multipart/alternative.
func TestSMTPSendsOverSTARTTLSWithAuth(t *testing.T) {
	t.Parallel()
	ms := startMailServer(t, false)
	s, err := mail.NewSMTP("smtp://mailer:s3cret@"+ms.addr+"?starttls=require", "gatehouse@corp.example",
		mail.WithTLSConfig(&tls.Config{RootCAs: ms.roots}),
		mail.WithClock(func() time.Time { return time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) }))
	require.NoError(t, err)
	require.NotContains(t, s.String(), "s3cret", "the description never shows the password")

	err = s.Send(context.Background(), mail.Message{
		To: "ann@corp.example", Subject: "Review needed: Café access",
		Text: "Please review the request.\nhttps://gatehouse.example/app/requests/1",
		HTML: `<p>Please <a href="https://gatehouse.example/app/requests/1">review</a> the request.</p>`,
	})
	require.NoError(t, err)
	got := ms.messages()
	require.Len(t, got, 1)
	require.True(t, got[0].tls, "STARTTLS offered by the server was used")
	require.Equal(t, "mailer", got[0].user, "AUTH PLAIN")
	require.Equal(t, "gatehouse@corp.example", got[0].from)
	require.Equal(t, "ann@corp.example", got[0].to)
	h, bodies := parts(t, got[0].data)
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	require.NoError(t, err)
	require.Equal(t, "Review needed: Café access", subject)
	require.Equal(t, "ann@corp.example", h.Get("To"))
	require.Equal(t, "gatehouse@corp.example", h.Get("From"))
	require.Equal(t, "1.0", h.Get("MIME-Version"))
	require.NotEmpty(t, h.Get("Message-ID"))
	date, err := h.Date()
	require.NoError(t, err)
	require.True(t, date.Equal(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)))
	require.Equal(t, "Please review the request.\nhttps://gatehouse.example/app/requests/1", strings.ReplaceAll(bodies["text/plain"], "\r\n", "\n"), "line breaks travel as CRLF")
	require.Contains(t, bodies["text/html"], `<a href="https://gatehouse.example/app/requests/1">review</a>`)
}

// TestSMTPImplicitTLS: smtps:// speaks TLS from the first byte.
func TestSMTPImplicitTLS(t *testing.T) {
	t.Parallel()
	ms := startMailServer(t, true)
	s, err := mail.NewSMTP("smtps://mailer:s3cret@"+ms.addr, "gatehouse@corp.example",
		mail.WithTLSConfig(&tls.Config{RootCAs: ms.roots}))
	require.NoError(t, err)
	require.NoError(t, s.Send(context.Background(), mail.Message{To: "bob@corp.example", Subject: "Hi", Text: "t", HTML: "<p>h</p>"}))
	got := ms.messages()
	require.Len(t, got, 1)
	require.True(t, got[0].tls)
	require.Equal(t, "bob@corp.example", got[0].to)
}

// TestSMTPUntrustedCertificateFails: STARTTLS to a server whose
// certificate the sender does not trust fails rather than falling back to
// plain text.
func TestSMTPUntrustedCertificateFails(t *testing.T) {
	t.Parallel()
	ms := startMailServer(t, false)
	s, err := mail.NewSMTP("smtp://mailer:s3cret@"+ms.addr, "gatehouse@corp.example")
	require.NoError(t, err)
	err = s.Send(context.Background(), mail.Message{To: "bob@corp.example", Subject: "Hi", Text: "t"})
	require.Error(t, err)
	require.Empty(t, ms.messages())
}

// TestSMTPRejectionsArePermanentOrTransient: the server's 5xx answer is a
// permanent failure, its 4xx a transient one, and a wrong password (535)
// is permanent; none delivers.
func TestSMTPRejectionsArePermanentOrTransient(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		user      string
		reject    *smtp.SMTPError
		permanent bool
	}{
		{"5xx rejection", "mailer:s3cret", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}, true},
		{"4xx rejection", "mailer:s3cret", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}, false},
		{"wrong password", "mailer:wrong", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ms := startMailServer(t, false)
			ms.reject = tc.reject
			s, err := mail.NewSMTP("smtp://"+tc.user+"@"+ms.addr, "gatehouse@corp.example",
				mail.WithTLSConfig(&tls.Config{RootCAs: ms.roots}))
			require.NoError(t, err)
			err = s.Send(context.Background(), mail.Message{To: "bob@corp.example", Subject: "Hi", Text: "t"})
			require.Error(t, err)
			require.Equal(t, tc.permanent, mail.IsPermanent(err), err.Error())
			require.NotContains(t, err.Error(), "s3cret")
			require.Empty(t, ms.messages())
		})
	}
}

// TestSMTPUnreachableIsTransient: a server that does not answer is a
// transient failure, and the context's deadline ends the attempt.
func TestSMTPUnreachableIsTransient(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() }) // accepts in the backlog, never greets
	s, err := mail.NewSMTP("smtp://"+l.Addr().String(), "gatehouse@corp.example")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = s.Send(ctx, mail.Message{To: "bob@corp.example", Subject: "Hi", Text: "t"})
	require.Error(t, err)
	require.False(t, mail.IsPermanent(err))
}

// TestNewSMTPRejectsBadSettings: a bad URL or from address is refused with
// a message that names the problem and never the password.
func TestNewSMTPRejectsBadSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ url, from, want string }{
		{"http://mail.example.com", "a@b.example", "scheme"},
		{"smtp://", "a@b.example", "no host"},
		{"smtp://u:topsecret@mail.example.com/x", "a@b.example", "path"},
		{"smtp://u:topsecret@mail.example.com?tls=1", "a@b.example", "query parameter"},
		{"smtps://mail.example.com?starttls=require", "a@b.example", "always encrypted"},
		{"smtp://mail.example.com", "not an address", "from address"},
		{"smtp://mail.example.com", "Gatehouse <a@b.example>", "from address"},
		{"::", "a@b.example", "not a URL"},
	} {
		_, err := mail.NewSMTP(tc.url, tc.from)
		require.Error(t, err, tc.url)
		require.Contains(t, err.Error(), tc.want, tc.url)
		require.NotContains(t, err.Error(), "topsecret")
	}
	_, err := mail.NewSMTP("smtp://mail.example.com", "a@b.example")
	require.NoError(t, err)
}

// TestSMTPHeadersCannotBeInjected: a subject with line breaks stays one
// encoded header, and a recipient with a line break or a display name is
// refused before anything is sent.
func TestSMTPHeadersCannotBeInjected(t *testing.T) {
	t.Parallel()
	ms := startMailServer(t, false)
	s, err := mail.NewSMTP("smtp://mailer:s3cret@"+ms.addr, "gatehouse@corp.example",
		mail.WithTLSConfig(&tls.Config{RootCAs: ms.roots}))
	require.NoError(t, err)
	require.NoError(t, s.Send(context.Background(), mail.Message{To: "bob@corp.example", Subject: "Hi\r\nBcc: eve@evil.example", Text: "t", HTML: "<p>h</p>"}))
	h, _ := parts(t, ms.messages()[0].data)
	require.Empty(t, h.Get("Bcc"))
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	require.NoError(t, err)
	require.Equal(t, "Hi\r\nBcc: eve@evil.example", subject, "kept whole, encoded")

	for _, to := range []string{"bob@corp.example\r\nBcc: eve@evil.example", "Bob <bob@corp.example>"} {
		err := s.Send(context.Background(), mail.Message{To: to, Subject: "Hi", Text: "t"})
		require.Error(t, err)
		require.True(t, mail.IsPermanent(err))
	}
	require.Len(t, ms.messages(), 1)
}
