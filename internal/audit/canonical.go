package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"gatehouse/ent"
	"gatehouse/ent/schema/pulid"
)

// TimeFormat is the layout of "at" in the canonical form: UTC with exactly
// six fractional digits, the precision PostgreSQL keeps.
const TimeFormat = "2006-01-02T15:04:05.000000Z"

// Canonical returns the canonical JSON of an audit event, the bytes its hash
// covers: the object {action, actor, at, chain, data, item_id, request_id,
// seq} with keys sorted at every level, no insignificant whitespace and no
// HTML escaping (RFC 8785 style; keys are sorted by bytes and numbers are
// printed as Go's encoding/json prints a float64, which follows ECMAScript).
// at is written in UTC with six fractional digits (finer digits are
// dropped), absent request and item IDs are null, and nil data is {}.
//
// Data is normalised through a JSON round trip (every number becomes a
// float64) so that the form is the same before a row is stored and after it
// is read back from the database, which decodes numbers as float64. Callers
// should therefore put in Data only strings, bools, integers of magnitude
// below 2^53 and nested maps and lists of those; larger integers and
// fractions are hashed consistently but may not read back as written.
//
// Any caller may use it; it returns an error only when data cannot be
// encoded as JSON (channels, functions, NaN or infinite floats, …).
func Canonical(chain string, seq int64, at time.Time, action, actor string, requestID, itemID *pulid.ID, data map[string]any) ([]byte, error) {
	norm, err := normalise(data)
	if err != nil {
		return nil, err
	}
	obj := map[string]any{
		"action":     action,
		"actor":      actor,
		"at":         at.UTC().Format(TimeFormat),
		"chain":      chain,
		"data":       norm,
		"item_id":    idOrNil(itemID),
		"request_id": idOrNil(requestID),
		"seq":        seq,
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		return nil, fmt.Errorf("audit: canonical form: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Hash returns hex(sha256(prevHash ‖ canonical)), the hash of an event whose
// predecessor's hash is prevHash (GenesisHash for the first event). Any
// caller may use it; it cannot fail.
func Hash(prevHash string, canonical []byte) string {
	h := sha256.New()
	h.Write([]byte(prevHash))
	h.Write(canonical)
	return hex.EncodeToString(h.Sum(nil))
}

// CheckpointCanonical returns the canonical JSON of an audit checkpoint, the
// bytes its hash covers (with its prev_hash, as for events): the object
// {at, chain, head_hash, head_seq, seq} with sorted keys, no whitespace, and
// at in UTC with six fractional digits. Any caller may use it; it cannot
// fail.
func CheckpointCanonical(seq int64, at time.Time, chain string, headSeq int64, headHash string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	// Strings, integers and a sorted map always encode.
	_ = enc.Encode(map[string]any{
		"at":        at.UTC().Format(TimeFormat),
		"chain":     chain,
		"head_hash": headHash,
		"head_seq":  headSeq,
		"seq":       seq,
	})
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// canonicalOf is the canonical form of a stored event.
func canonicalOf(e *ent.AuditEvent) ([]byte, error) {
	return Canonical(e.Chain, e.Seq, e.At, e.Action, e.Actor, e.RequestID, e.ItemID, e.Data)
}

// normalise returns data as the database gives it back: decoded from its
// JSON encoding, numbers as float64. Nil data becomes an empty map.
func normalise(data map[string]any) (map[string]any, error) {
	if data == nil {
		return map[string]any{}, nil
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("audit: encode data: %w", err)
	}
	out := map[string]any{}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("audit: decode data: %w", err)
	}
	return out, nil
}

func idOrNil(id *pulid.ID) any {
	if id == nil {
		return nil
	}
	return string(*id)
}
