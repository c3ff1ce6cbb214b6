package webhooks

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDeliveriesNeverReachLinkLocalAddresses: whatever name a URL uses,
// the delivery transport refuses to connect to a link-local address (the
// cloud metadata service's 169.254.169.254) before any packet is sent.
func TestDeliveriesNeverReachLinkLocalAddresses(t *testing.T) {
	t.Parallel()
	c := &http.Client{Transport: guardedTransport()}
	for _, u := range []string{"http://169.254.169.254/latest/meta-data", "http://[fe80::1%25lo]/"} {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, u, strings.NewReader("{}"))
		require.NoError(t, err)
		_, err = c.Do(req)
		require.Error(t, err, u)
		require.Contains(t, err.Error(), "refusing to connect", u)
	}
}

// TestSignMatchesTheSpecificationExample: the signature of the Standard
// Webhooks specification's published example.
func TestSignMatchesTheSpecificationExample(t *testing.T) {
	t.Parallel()
	key, err := decodeSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	require.NoError(t, err)
	got := Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", []byte(`{"test": 2432232314}`))
	require.Equal(t, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", got)
}

// TestSlackTextLinksTheRequest: a Slack message is one readable line that
// names the event, the request and the actor, and links the request in the
// console when the public URL is known.
func TestSlackTextLinksTheRequest(t *testing.T) {
	t.Parallel()
	p := Payload{Type: "ITEM_APPROVED", Data: map[string]any{"request": "req_1", "actor": "usr_2"}}
	with := New(Config{PublicURL: "https://gatehouse.example"}).slackText(p)
	require.Equal(t, "Gatehouse: item approved on request req_1 by usr_2 <https://gatehouse.example/app/requests/req_1|open>", with)
	require.Equal(t, "Gatehouse: item approved on request req_1 by usr_2", New(Config{}).slackText(p))
}
