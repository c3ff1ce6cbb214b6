// Package mail is the e-mail that Gatehouse sends: one message to one
// recipient, with a plain-text and an HTML body.
package mail

import "context"

// Message is one e-mail to one recipient.
type Message struct {
	To      string // an address, no display name
	Subject string
	Text    string // the plain-text body
	HTML    string // the HTML body; empty for a plain-text message
	// ID names the message: its Message-ID is <ID@the sender's domain>, the
	// same on every attempt, so that a receiver can drop a copy sent again
	// after a crash. Letters, digits, '.', '_' and '-' only; empty: a
	// random one.
	ID string
}

// Sender delivers messages. Send returns once the next hop has accepted
// the message.
type Sender interface {
	Send(ctx context.Context, m Message) error
}
