package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"strings"
	"time"
)

// SMTP sends messages to an SMTP server, one connection per message. Build
// it with NewSMTP; it is safe for concurrent use.
type SMTP struct {
	addr        string // host:port
	host        string
	implicitTLS bool // smtps://
	requireTLS  bool
	user, pass  string
	hasAuth     bool
	from        string
	tlsConfig   *tls.Config
	now         func() time.Time
	timeout     time.Duration
}

var _ Sender = (*SMTP)(nil)

// SMTPOption tunes an SMTP sender.
type SMTPOption func(*SMTP)

// WithTLSConfig sets the TLS configuration of STARTTLS and smtps (for
// example a RootCAs pool that trusts a private server); ServerName defaults
// to the URL's host.
func WithTLSConfig(c *tls.Config) SMTPOption {
	return func(s *SMTP) { s.tlsConfig = c.Clone() }
}

// RequireSTARTTLS refuses to send over a connection the server does not
// offer to encrypt with STARTTLS (the URL's query starttls=require does
// the same).
func RequireSTARTTLS() SMTPOption { return func(s *SMTP) { s.requireTLS = true } }

// WithClock sets the clock of the Date header; time.Now by default.
func WithClock(now func() time.Time) SMTPOption { return func(s *SMTP) { s.now = now } }

// WithTimeout bounds one message's connection, from dial to QUIT, when the
// context of Send has no earlier deadline; default DefaultSMTPTimeout.
func WithTimeout(d time.Duration) SMTPOption { return func(s *SMTP) { s.timeout = d } }

// DefaultSMTPTimeout bounds one message's delivery when the caller's
// context has no deadline.
const DefaultSMTPTimeout = time.Minute

// NewSMTP returns a sender to the server at rawURL, whose messages come from
// the address from.
//
// rawURL is smtp://[user:pass@]host[:port] (port 587 by default; STARTTLS
// is used whenever the server offers it, and required with
// ?starttls=require) or smtps://[user:pass@]host[:port] (implicit TLS, port
// 465 by default). With a user, the sender authenticates with AUTH PLAIN,
// which it does only over TLS (or to localhost). The error names what is
// wrong with the URL, never the password.
func NewSMTP(rawURL, from string, opts ...SMTPOption) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("not a URL such as smtp://user:pass@mail.example.com:587")
	}
	s := &SMTP{now: time.Now, timeout: DefaultSMTPTimeout}
	port := ""
	switch u.Scheme {
	case "smtp":
		port = "587"
	case "smtps":
		port, s.implicitTLS = "465", true
	default:
		return nil, fmt.Errorf("scheme %q is not smtp or smtps", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, errors.New("the URL names no host")
	}
	if u.Path != "" && u.Path != "/" {
		return nil, errors.New("the URL has a path; give only scheme, user, host and port")
	}
	s.host = u.Hostname()
	if p := u.Port(); p != "" {
		port = p
	}
	s.addr = net.JoinHostPort(s.host, port)
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
		s.hasAuth = s.user != ""
	}
	for k, v := range u.Query() {
		switch {
		case k == "starttls" && len(v) == 1 && v[0] == "require":
			s.requireTLS = true
		case k == "starttls" && len(v) == 1 && v[0] == "opportunistic":
		default:
			return nil, fmt.Errorf("unknown query parameter %q (only starttls=require or starttls=opportunistic)", k)
		}
	}
	if s.requireTLS && s.implicitTLS {
		return nil, errors.New("starttls=require applies to smtp://, smtps:// is always encrypted")
	}
	addr, err := mail.ParseAddress(from)
	if err != nil || addr.Name != "" {
		return nil, fmt.Errorf("from address %q is not a plain e-mail address", from)
	}
	s.from = addr.Address
	for _, o := range opts {
		o(s)
	}
	if s.tlsConfig == nil {
		s.tlsConfig = &tls.Config{}
	}
	if s.tlsConfig.ServerName == "" {
		s.tlsConfig.ServerName = s.host
	}
	return s, nil
}

// String describes the sender without its password.
func (s *SMTP) String() string {
	scheme := "smtp"
	if s.implicitTLS {
		scheme = "smtps"
	}
	u := url.URL{Scheme: scheme, Host: s.addr}
	if s.hasAuth {
		u.User = url.User(s.user)
	}
	return u.String()
}

// Error is a failed delivery. Permanent says that sending the same message
// again will fail again (the server answered 5xx, or the sender cannot
// meet its configuration such as a required STARTTLS); otherwise the
// failure is transient (4xx, a network error, a timeout) and a later
// attempt may succeed.
type Error struct {
	Permanent bool
	// Code is the server's reply code; 0 when the server gave none.
	Code int
	Err  error
}

func (e *Error) Error() string {
	kind := "transient"
	if e.Permanent {
		kind = "permanent"
	}
	return fmt.Sprintf("smtp: %s failure: %v", kind, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// IsPermanent reports whether err is a delivery failure that retrying will
// not mend.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

// classify wraps an error of the SMTP exchange.
func classify(stage string, err error) error {
	err = fmt.Errorf("%s: %w", stage, err)
	var tp *textproto.Error
	if errors.As(err, &tp) {
		return &Error{Permanent: tp.Code >= 500, Code: tp.Code, Err: err}
	}
	return &Error{Err: err}
}

// Send delivers m to its one recipient. Its context bounds the connection
// (dial and every read and write). The error is an *Error (see
// IsPermanent); an invalid recipient or message ID is permanent.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	to, err := mail.ParseAddress(m.To)
	if err != nil || to.Name != "" {
		return &Error{Permanent: true, Err: fmt.Errorf("recipient %q is not a plain e-mail address", m.To)}
	}
	if strings.ContainsFunc(m.ID, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-", r))
	}) {
		return &Error{Permanent: true, Err: fmt.Errorf("message ID %q holds a character other than letters, digits, '.', '_' and '-'", m.ID)}
	}
	body, err := s.compose(to.Address, m)
	if err != nil {
		return &Error{Permanent: true, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var d net.Dialer
	var conn net.Conn
	if s.implicitTLS {
		td := tls.Dialer{NetDialer: &d, Config: s.tlsConfig}
		conn, err = td.DialContext(ctx, "tcp", s.addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", s.addr)
	}
	if err != nil {
		return classify("connect", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// A cancelled context ends any read or write in progress.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return classify("greeting", err)
	}
	defer c.Close()
	if !s.implicitTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tlsConfig); err != nil {
				return classify("starttls", err)
			}
		} else if s.requireTLS {
			return &Error{Permanent: true, Err: errors.New("the server does not offer STARTTLS, which is required")}
		}
	}
	if s.hasAuth {
		if err := c.Auth(smtp.PlainAuth("", s.user, s.pass, s.host)); err != nil {
			var tp *textproto.Error
			if errors.As(err, &tp) {
				return classify("auth", err)
			}
			// net/smtp refuses to send the password in the clear.
			return &Error{Permanent: true, Err: fmt.Errorf("auth: %w", err)}
		}
	}
	if err := c.Mail(s.from); err != nil {
		return classify("mail from", err)
	}
	if err := c.Rcpt(to.Address); err != nil {
		return classify("rcpt to", err)
	}
	w, err := c.Data()
	if err != nil {
		return classify("data", err)
	}
	if _, err := w.Write(body); err != nil {
		return classify("data", err)
	}
	if err := w.Close(); err != nil {
		return classify("data", err)
	}
	// The message was accepted at the end of DATA; a failed QUIT loses
	// nothing.
	_ = c.Quit()
	return nil
}

// compose renders the message: headers, then the plain-text body alone or,
// with an HTML body, both as multipart/alternative, each quoted-printable.
func (s *SMTP) compose(to string, m Message) ([]byte, error) {
	var b bytes.Buffer
	id := m.ID
	if id == "" {
		r := make([]byte, 16)
		_, _ = rand.Read(r)
		id = hex.EncodeToString(r)
	}
	domain := s.from[strings.LastIndexByte(s.from, '@')+1:]
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", s.from)
	h("To", to)
	h("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	h("Date", s.now().Format(time.RFC1123Z))
	h("Message-ID", "<"+id+"@"+domain+">")
	h("MIME-Version", "1.0")
	part := func(w *bytes.Buffer, text string) error {
		qp := quotedprintable.NewWriter(w)
		if _, err := qp.Write([]byte(text)); err != nil {
			return err
		}
		return qp.Close()
	}
	if m.HTML == "" {
		h("Content-Type", "text/plain; charset=utf-8")
		h("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		if err := part(&b, m.Text); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}
	var parts bytes.Buffer
	mw := multipart.NewWriter(&parts)
	for _, p := range []struct{ typ, body string }{{"text/plain; charset=utf-8", m.Text}, {"text/html; charset=utf-8", m.HTML}} {
		hdr := textproto.MIMEHeader{}
		hdr.Set("Content-Type", p.typ)
		hdr.Set("Content-Transfer-Encoding", "quoted-printable")
		w, err := mw.CreatePart(hdr)
		if err != nil {
			return nil, err
		}
		var pb bytes.Buffer
		if err := part(&pb, p.body); err != nil {
			return nil, err
		}
		if _, err := w.Write(pb.Bytes()); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	h("Content-Type", "multipart/alternative; boundary="+mw.Boundary())
	b.WriteString("\r\n")
	b.Write(parts.Bytes())
	return b.Bytes(), nil
}
