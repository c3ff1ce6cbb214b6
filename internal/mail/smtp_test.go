package mail_test

import (
	"context"
	"crypto/tls"
	"mime"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"gatehouse/internal/mail"
	"gatehouse/internal/mail/mailtest"
)

// TestSMTPSendsOverSTARTTLSWithAuth: a message reaches a real SMTP server
// that offers STARTTLS, over the encrypted connection, authenticated with
// AUTH PLAIN, from the configured address to its one recipient, with its
// subject (encoded) and both bodies as multipart/alternative.
func TestSMTPSendsOverSTARTTLSWithAuth(t *testing.T) {
	t.Parallel()
	ms := mailtest.Start(t, false)
	s, err := mail.NewSMTP("smtp://mailer:s3cret@"+ms.Addr+"?starttls=require", "gatehouse@corp.example",
		mail.WithTLSConfig(&tls.Config{RootCAs: ms.Roots}),
		mail.WithClock(func() time.Time { return time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) }))
	require.NoError(t, err)
	require.NotContains(t, s.String(), "s3cret", "the description never shows the password")

	err = s.Send(context.Background(), mail.Message{
		To: "ann@corp.example", Subject: "Review needed: Café access",
		Text: "Please review the request.\nhttps://gatehouse.example/app/requests/1",
		HTML: `<p>Please <a href="https://gatehouse.example/app/requests/1">review</a> the request.</p>`,
		ID:   "notification.01ABC",
	})
	require.NoError(t, err)
	got := ms.Messages()
	require.Len(t, got, 1)
	require.True(t, got[0].TLS, "STARTTLS offered by the server was used")
	require.Equal(t, "mailer", got[0].User, "AUTH PLAIN")
	require.Equal(t, "gatehouse@corp.example", got[0].From)
	require.Equal(t, "ann@corp.example", got[0].To)
	h, bodies := mailtest.Parts(t, got[0].Data)
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	require.NoError(t, err)
	require.Equal(t, "Review needed: Café access", subject)
	require.Equal(t, "ann@corp.example", h.Get("To"))
	require.Equal(t, "gatehouse@corp.example", h.Get("From"))
	require.Equal(t, "1.0", h.Get("MIME-Version"))
	require.Equal(t, "<notification.01ABC@corp.example>", h.Get("Message-ID"), "the message's own ID, the same on every attempt")
	date, err := h.Date()
	require.NoError(t, err)
	require.True(t, date.Equal(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)))
	require.Equal(t, "Please review the request.\nhttps://gatehouse.example/app/requests/1", strings.ReplaceAll(bodies["text/plain"], "\r\n", "\n"), "line breaks travel as CRLF")
	require.Contains(t, bodies["text/html"], `<a href="https://gatehouse.example/app/requests/1">review</a>`)
}

// TestSMTPImplicitTLS: smtps:// speaks TLS from the first byte.
func TestSMTPImplicitTLS(t *testing.T) {
	t.Parallel()
	ms := mailtest.Start(t, true)
	s, err := mail.NewSMTP("smtps://mailer:s3cret@"+ms.Addr, "gatehouse@corp.example",
		mail.WithTLSConfig(&tls.Config{RootCAs: ms.Roots}))
	require.NoError(t, err)
	require.NoError(t, s.Send(context.Background(), mail.Message{To: "bob@corp.example", Subject: "Hi", Text: "t", HTML: "<p>h</p>"}))
	got := ms.Messages()
	require.Len(t, got, 1)
	require.True(t, got[0].TLS)
	require.Equal(t, "bob@corp.example", got[0].To)
}

// TestSMTPUntrustedCertificateFails: STARTTLS to a server whose
// certificate the sender does not trust fails rather than falling back to
// plain text.
func TestSMTPUntrustedCertificateFails(t *testing.T) {
	t.Parallel()
	ms := mailtest.Start(t, false)
	s, err := mail.NewSMTP("smtp://mailer:s3cret@"+ms.Addr, "gatehouse@corp.example")
	require.NoError(t, err)
	err = s.Send(context.Background(), mail.Message{To: "bob@corp.example", Subject: "Hi", Text: "t"})
	require.Error(t, err)
	require.Empty(t, ms.Messages())
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
			ms := mailtest.Start(t, false)
			ms.Reject(tc.reject)
			s, err := mail.NewSMTP("smtp://"+tc.user+"@"+ms.Addr, "gatehouse@corp.example",
				mail.WithTLSConfig(&tls.Config{RootCAs: ms.Roots}))
			require.NoError(t, err)
			err = s.Send(context.Background(), mail.Message{To: "bob@corp.example", Subject: "Hi", Text: "t"})
			require.Error(t, err)
			require.Equal(t, tc.permanent, mail.IsPermanent(err), err.Error())
			require.NotContains(t, err.Error(), "s3cret")
			require.Empty(t, ms.Messages())
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
	ms := mailtest.Start(t, false)
	s, err := mail.NewSMTP("smtp://mailer:s3cret@"+ms.Addr, "gatehouse@corp.example",
		mail.WithTLSConfig(&tls.Config{RootCAs: ms.Roots}))
	require.NoError(t, err)
	require.NoError(t, s.Send(context.Background(), mail.Message{To: "bob@corp.example", Subject: "Hi\r\nBcc: eve@evil.example", Text: "t", HTML: "<p>h</p>"}))
	h, _ := mailtest.Parts(t, ms.Messages()[0].Data)
	require.Empty(t, h.Get("Bcc"))
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	require.NoError(t, err)
	require.Equal(t, "Hi\r\nBcc: eve@evil.example", subject, "kept whole, encoded")

	for _, to := range []string{"bob@corp.example\r\nBcc: eve@evil.example", "Bob <bob@corp.example>"} {
		err := s.Send(context.Background(), mail.Message{To: to, Subject: "Hi", Text: "t"})
		require.Error(t, err)
		require.True(t, mail.IsPermanent(err))
	}
	require.Len(t, ms.Messages(), 1)
}

// TestSMTPMessageIDs: a message without an ID gets a random Message-ID; an
// ID that could break the header is refused, permanently, before any
// connection.
func TestSMTPMessageIDs(t *testing.T) {
	t.Parallel()
	ms := mailtest.Start(t, false)
	s, err := mail.NewSMTP(ms.URL(), "gatehouse@corp.example", mail.WithTLSConfig(&tls.Config{RootCAs: ms.Roots}))
	require.NoError(t, err)
	for range 2 {
		require.NoError(t, s.Send(context.Background(), mail.Message{To: "bob@corp.example", Subject: "Hi", Text: "t", HTML: "<p>h</p>"}))
	}
	got := ms.Messages()
	require.Len(t, got, 2)
	h1, _ := mailtest.Parts(t, got[0].Data)
	h2, _ := mailtest.Parts(t, got[1].Data)
	require.Regexp(t, `^<[0-9a-f]{32}@corp\.example>$`, h1.Get("Message-ID"))
	require.NotEqual(t, h1.Get("Message-ID"), h2.Get("Message-ID"))

	err = s.Send(context.Background(), mail.Message{To: "bob@corp.example", Subject: "Hi", Text: "t", ID: "x>\r\nBcc: eve@corp.example"})
	require.Error(t, err)
	require.True(t, mail.IsPermanent(err))
	require.Len(t, ms.Messages(), 2, "nothing sent")
}
