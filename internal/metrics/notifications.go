package metrics

import "github.com/prometheus/client_golang/prometheus"

// Notifications counts notifications and their e-mails by kind; it
// implements notify.Observer. Build it with Metrics.RegisterNotifications.
type Notifications struct {
	created, sent, failed *prometheus.CounterVec
}

// RegisterNotifications registers and returns the notification counters.
// Call it once per Metrics; a second call panics.
func (m *Metrics) RegisterNotifications() *Notifications {
	n := &Notifications{
		created: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_notifications_created_total",
			Help: "Notifications written, by kind (in-app, e-mail or both).",
		}, []string{"kind"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_notification_emails_sent_total",
			Help: "Notification e-mails the mail server accepted, by kind.",
		}, []string{"kind"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_notification_emails_failed_total",
			Help: "Notification e-mail attempts that failed, by kind; failed attempts are retried.",
		}, []string{"kind"}),
	}
	m.registry.MustRegister(n.created, n.sent, n.failed)
	return n
}

// NotificationCreated counts a notification written.
func (n *Notifications) NotificationCreated(kind string) { n.created.WithLabelValues(kind).Inc() }

// EmailSent counts an e-mail accepted by the mail server.
func (n *Notifications) EmailSent(kind string) { n.sent.WithLabelValues(kind).Inc() }

// EmailFailed counts a failed e-mail attempt.
func (n *Notifications) EmailFailed(kind string) { n.failed.WithLabelValues(kind).Inc() }
