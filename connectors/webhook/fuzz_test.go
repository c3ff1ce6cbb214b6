package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/connectors/webhook"
)

// FuzzVerify feeds the signature parser arbitrary headers, bodies, secrets
// and clocks. It must never panic, must fail with one of its three errors,
// and may only accept a header that carries, next to a timestamp within
// tolerance, the HMAC of that timestamp and body under the secret; a
// header made by Sign at the receiver's clock always verifies. Seeds are in
// testdata/fuzz/FuzzVerify.
func FuzzVerify(f *testing.F) {
	const now = int64(1_750_000_000)
	body := []byte(`{"type":"grant"}`)
	f.Add("s3cret", webhook.Sign([]byte("s3cret"), time.Unix(now, 0), body), body, now, int64(60))
	f.Add("s3cret", "t="+strconv.FormatInt(now, 10)+",v1="+strings.Repeat("ab", 32), body, now, int64(0))
	f.Add("k", "t=-9223372036854775808,v1=00", []byte{}, int64(9223372036854775807), int64(-1))
	f.Add("", "", []byte(nil), int64(0), int64(0))
	f.Add("k", ",,,=,t=,v1=,t=1,t=2", []byte("x"), int64(2), int64(1))
	f.Fuzz(func(t *testing.T, secret, header string, body []byte, nowUnix, toleranceSeconds int64) {
		if toleranceSeconds > 1<<32 || toleranceSeconds < -(1<<32) {
			toleranceSeconds %= 1 << 32
		}
		clock := time.Unix(nowUnix, 0)
		tolerance := time.Duration(toleranceSeconds) * time.Second
		err := webhook.Verify([]byte(secret), header, body, clock, tolerance)
		if err != nil {
			if !errors.Is(err, webhook.ErrMalformedSignature) && !errors.Is(err, webhook.ErrSignatureMismatch) && !errors.Is(err, webhook.ErrStaleSignature) {
				t.Fatalf("unclassified error %v", err)
			}
		} else {
			if secret == "" {
				t.Fatal("an empty secret verified")
			}
			if !carriesMAC(secret, header, body) {
				t.Fatalf("header %q verified without the body's HMAC", header)
			}
		}

		// A signature made now always verifies, whatever the body.
		if secret != "" {
			good := webhook.Sign([]byte(secret), clock, body)
			if err := webhook.Verify([]byte(secret), good, body, clock, tolerance); err != nil {
				t.Fatalf("a fresh signature failed: %v", err)
			}
		}
	})
}

// carriesMAC reports whether header has a t=<ts> (the last one wins, as in
// Verify) and a v1 that is the HMAC of "<ts>." + body under secret.
func carriesMAC(secret, header string, body []byte) bool {
	var ts string
	var sigs []string
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(strconv.FormatInt(n, 10) + "."))
	h.Write(body)
	want := hex.EncodeToString(h.Sum(nil))
	for _, s := range sigs {
		if strings.EqualFold(s, want) {
			return true
		}
	}
	return false
}
