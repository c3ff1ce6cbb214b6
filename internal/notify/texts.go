package notify

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"

	"gatehouse/ent"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/mail"
)

// Template is the title (the e-mail's subject) and the one-paragraph body
// of a kind of notification, as text/template sources over texts.
type Template struct {
	Title, Body string
}

// Templates holds the texts of every kind. The templates read texts: .What
// (the entitlement and application of the event's item, or "access"),
// .Beneficiary, .Requester, .Actor (names), .For (" for <beneficiary>" when
// the recipient is not the beneficiary), .To (the name of the user data.to
// names), .MovedAway (the recipient is data.from: the task left them),
// .Data (the event's data) and .Request (its ID).
var Templates = map[enum.NotificationKind]Template{
	enum.NotificationKindTaskAssigned: {
		Title: "Review needed: {{.What}}{{.For}}",
		Body:  "{{.Requester}} asked for {{.What}} for {{.Beneficiary}}. Your review is needed.",
	},
	enum.NotificationKindTaskReminded: {
		Title: "Reminder: review {{.What}}{{.For}}",
		Body:  "A review task assigned to you is still pending: {{.What}} for {{.Beneficiary}}, requested by {{.Requester}}.",
	},
	enum.NotificationKindTaskEscalated: {
		Title: "{{if .MovedAway}}Escalated to {{.To}}{{else}}Escalated to you{{end}}: review {{.What}}{{.For}}",
		Body:  "{{if .MovedAway}}The review of {{.What}} for {{.Beneficiary}} waited too long for your decision, so it now waits for {{.To}}; you no longer need to decide it.{{else}}Nobody decided in time, so the review of {{.What}} for {{.Beneficiary}} now waits for you.{{end}}",
	},
	enum.NotificationKindRequestApproved: {
		Title: "Approved: {{.What}}{{.For}}",
		Body:  "{{.Actor}} approved {{.What}} for {{.Beneficiary}}. It is being fulfilled.",
	},
	enum.NotificationKindRequestDenied: {
		Title: "Denied: {{.What}}{{.For}}",
		Body:  "{{.Actor}} denied {{.What}} for {{.Beneficiary}}.",
	},
	enum.NotificationKindRequestCancelled: {
		Title: "Cancelled: request{{.For}}",
		Body:  "{{.Actor}} cancelled the request for {{.Beneficiary}}{{with .Data.reason}}: {{.}}{{end}}.",
	},
	enum.NotificationKindRequestExpired: {
		Title: "Expired: request{{.For}}",
		Body:  "Nobody decided the request for {{.Beneficiary}} in time, so it was cancelled.",
	},
	enum.NotificationKindRequestCompleted: {
		Title: "Request {{.Status}}{{.For}}",
		Body:  "The request for {{.Beneficiary}} is {{.Status}}.",
	},
	enum.NotificationKindAccessGranted: {
		Title: "Access granted: {{.What}}{{.For}}",
		Body:  "{{.Beneficiary}} now has {{.What}}.",
	},
	enum.NotificationKindFulfillmentFailed: {
		Title: "Could not grant {{.What}}{{.For}}",
		Body:  "{{.What}} was approved for {{.Beneficiary}} but could not be granted{{with .Data.error}}: {{.}}{{end}}. An administrator can retry it.",
	},
	enum.NotificationKindAccessRevoked: {
		Title: "Access removed: {{.What}}{{.For}}",
		Body:  "{{.Beneficiary}} no longer has {{.What}}.",
	},
	enum.NotificationKindAccessExpired: {
		Title: "Access expired: {{.What}}{{.For}}",
		Body:  "The temporary access of {{.Beneficiary}} to {{.What}} has ended.",
	},
	enum.NotificationKindGrantExpiring: {
		Title: "Access ending soon: {{.What}}{{.For}}",
		Body:  "The temporary access of {{.Beneficiary}} to {{.What}} ends soon{{with .Data.endsAt}} ({{.}}){{end}}. Ask for an extension if it is still needed.",
	},
	enum.NotificationKindAccessExtended: {
		Title: "Access extended: {{.What}}{{.For}}",
		Body:  "The access of {{.Beneficiary}} to {{.What}} {{with .Data.newEndsAt}}now ends later ({{.}}){{else}}no longer ends{{end}}.",
	},
	enum.NotificationKindManualFulfillmentWaiting: {
		Title: "To do by hand: {{.What}} for {{.Beneficiary}}",
		Body:  "{{.What}} for {{.Beneficiary}} waits for you to carry it out in the application{{if eq (print .Data.reason) \"FAILED\"}} (its connector could not){{end}}, then to confirm it in Gatehouse.",
	},
	enum.NotificationKindBreakGlassInvoked: {
		Title: "Break-glass: {{.What}}{{.For}}",
		Body:  "{{.Beneficiary}} used emergency access to {{.What}}, provisioned at once without review{{with .Data.endsAt}} until {{.}}{{end}}{{with .Data.duration}} for {{.}}{{end}}. Reason: {{.Data.reason}}. The after-the-fact review decides whether it stays; a denial revokes it at once.",
	},
	enum.NotificationKindWebhookEndpointDisabled: {
		Title: "Event webhook endpoint disabled",
		Body:  "The event webhook endpoint {{.Data.id}} failed{{with .Data.consecutiveFailures}} {{.}}{{end}} deliveries in a row and was disabled. Fix its receiver, then enable it again.",
	},
}

var parsed = func() map[enum.NotificationKind][2]*texttemplate.Template {
	out := map[enum.NotificationKind][2]*texttemplate.Template{}
	for k, t := range Templates {
		out[k] = [2]*texttemplate.Template{
			texttemplate.Must(texttemplate.New(string(k) + ".title").Option("missingkey=zero").Parse(t.Title)),
			texttemplate.Must(texttemplate.New(string(k) + ".body").Option("missingkey=zero").Parse(t.Body)),
		}
	}
	return out
}()

// texts is what a notification's texts are made of.
type texts struct {
	Kind      enum.NotificationKind
	Event     Event
	Request   *ent.AccessRequest
	Item      *ent.RequestItem
	Recipient *ent.User
	Actor     *ent.User
	People    map[pulid.ID]*ent.User
}

func (t texts) name(id pulid.ID) string {
	if u := t.People[id]; u != nil {
		return u.Name
	}
	return "someone"
}

func (t texts) data() map[string]any {
	d := map[string]any{}
	for k, v := range t.Event.Data {
		d[k] = v
	}
	d["What"] = t.what()
	d["Status"] = strings.ToLower(strings.ReplaceAll(fmt.Sprint(t.Event.Data["status"]), "_", " "))
	d["Request"] = string(t.Event.Request)
	d["Actor"] = "The system"
	if t.Actor != nil {
		d["Actor"] = t.Actor.Name
	}
	d["Requester"], d["Beneficiary"], d["For"] = "someone", "someone", ""
	if t.Request != nil {
		d["Requester"], d["Beneficiary"] = t.name(t.Request.RequesterID), t.name(t.Request.BeneficiaryID)
		if t.Request.BeneficiaryID == t.Recipient.ID {
			d["Beneficiary"] = "you"
		} else {
			d["For"] = " for " + t.name(t.Request.BeneficiaryID)
		}
		if t.Request.RequesterID == t.Recipient.ID {
			d["Requester"] = "You"
		}
	}
	to, _ := t.Event.Data["to"].(string)
	d["To"] = t.name(pulid.ID(to))
	from, _ := t.Event.Data["from"].(string)
	d["MovedAway"] = from != "" && pulid.ID(from) == t.Recipient.ID
	d["Data"] = t.Event.Data
	return d
}

// what names the event's item: "<entitlement> in <application>".
func (t texts) what() string {
	if t.Item == nil || t.Item.Edges.Entitlement == nil {
		return "access"
	}
	w := t.Item.Edges.Entitlement.Name
	if t.Item.Edges.Application != nil {
		w += " in " + t.Item.Edges.Application.Name
	}
	if t.Item.Action == enum.RequestActionRevoke && t.Kind != enum.NotificationKindAccessRevoked {
		w = "removal of " + w
	}
	return w
}

// render returns the notification's title and body.
func (t texts) render() (string, string, error) {
	tpl, ok := parsed[t.Kind]
	if !ok {
		return "", "", fmt.Errorf("no texts for notification kind %s", t.Kind)
	}
	d := t.data()
	var title, body bytes.Buffer
	if err := tpl[0].Execute(&title, d); err != nil {
		return "", "", fmt.Errorf("render %s title: %w", t.Kind, err)
	}
	if err := tpl[1].Execute(&body, d); err != nil {
		return "", "", fmt.Errorf("render %s body: %w", t.Kind, err)
	}
	return strings.TrimSpace(title.String()), strings.TrimSpace(body.String()), nil
}

// emailData is what the e-mail templates read.
type emailData struct {
	Name, Title, Body, URL, Settings string
}

var (
	emailText = texttemplate.Must(texttemplate.New("email.txt").Parse(`Hello {{.Name}},

{{.Body}}

Open it: {{.URL}}

--
Gatehouse. Choose which notifications you receive by e-mail: {{.Settings}}
`))
	emailHTML = htmltemplate.Must(htmltemplate.New("email.html").Parse(`<!DOCTYPE html>
<html><body style="font-family: sans-serif; line-height: 1.4">
<p>Hello {{.Name}},</p>
<p>{{.Body}}</p>
<p><a href="{{.URL}}">{{.Title}}</a></p>
<hr>
<p style="font-size: smaller; color: #555">Gatehouse. <a href="{{.Settings}}">Choose which notifications you receive by e-mail.</a></p>
</body></html>
`))
)

// renderEmail returns the e-mail of a notification to the address to.
func renderEmail(d emailData, to string) (mail.Message, error) {
	var text, html bytes.Buffer
	if err := emailText.Execute(&text, d); err != nil {
		return mail.Message{}, fmt.Errorf("render e-mail text: %w", err)
	}
	if err := emailHTML.Execute(&html, d); err != nil {
		return mail.Message{}, fmt.Errorf("render e-mail html: %w", err)
	}
	return mail.Message{To: to, Subject: "[Gatehouse] " + d.Title, Text: text.String(), HTML: html.String()}, nil
}
