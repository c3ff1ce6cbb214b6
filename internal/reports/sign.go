package reports

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// SignatureHeader carries the detached Ed25519 signature of a request's
// report, over the exact bytes of the response body:
// "Gatehouse-Signature: ed25519=<base64 of the 64-byte signature>".
const SignatureHeader = "Gatehouse-Signature"

// KeyPath is where the public key that verifies the signatures is served,
// without authentication.
const KeyPath = "/.well-known/gatehouse-report-key"

// Signer signs the reports with an Ed25519 key.
type Signer struct {
	key ed25519.PrivateKey
}

// NewSigner returns a Signer with key; a nil key is a new random one (its
// signatures verify only with the public key of this Signer).
func NewSigner(key ed25519.PrivateKey) (*Signer, error) {
	if key == nil {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("reports: generate signing key: %w", err)
		}
		key = k
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("reports: the signing key is not an Ed25519 private key")
	}
	return &Signer{key: key}, nil
}

// Sign returns the Ed25519 signature of b.
func (s *Signer) Sign(b []byte) []byte { return ed25519.Sign(s.key, b) }

// PublicKey returns the key that verifies the signatures.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// PublicKeyPEM returns the public key as a PEM "PUBLIC KEY" block
// (SubjectPublicKeyInfo), the form `openssl pkeyutl -pubin` reads.
func (s *Signer) PublicKeyPEM() []byte {
	der, err := x509.MarshalPKIXPublicKey(s.PublicKey())
	if err != nil {
		panic(err) // an Ed25519 public key always marshals
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// KeyHandler serves the public key at KeyPath as PEM, to anyone.
func (s *Signer) KeyHandler() http.Handler {
	key := s.PublicKeyPEM()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(key)
	})
}

// ParseSigningKey reads the report signing key setting: the base64 (standard
// or URL alphabet) of a 32-byte Ed25519 seed, or the path of a file holding
// such a seed or a PEM "PRIVATE KEY" (PKCS #8, as `openssl genpkey
// -algorithm ed25519` writes).
func ParseSigningKey(setting string) (ed25519.PrivateKey, error) {
	setting = strings.TrimSpace(setting)
	if seed, ok := decodeSeed(setting); ok {
		return ed25519.NewKeyFromSeed(seed), nil
	}
	b, err := os.ReadFile(setting)
	if err != nil {
		return nil, fmt.Errorf("report signing key: neither the base64 of a 32-byte seed nor a readable file: %w", err)
	}
	return parseKeyFile(setting, b)
}

func parseKeyFile(path string, b []byte) (ed25519.PrivateKey, error) {
	if blk, _ := pem.Decode(b); blk != nil {
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("report signing key %s: %w", path, err)
		}
		ek, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("report signing key %s: not an Ed25519 key", path)
		}
		return ek, nil
	}
	if seed, ok := decodeSeed(strings.TrimSpace(string(b))); ok {
		return ed25519.NewKeyFromSeed(seed), nil
	}
	return nil, fmt.Errorf("report signing key %s: neither a PEM private key nor the base64 of a 32-byte seed", path)
}

func decodeSeed(s string) ([]byte, bool) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == ed25519.SeedSize {
			return b, true
		}
	}
	return nil, false
}

// LocalSigningKey reads the signing key kept at path (the base64 of a seed,
// or PEM), creating it with mode 0600 on first use, so that signatures
// verify with the same public key across restarts.
func LocalSigningKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return parseKeyFile(path, b)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read report signing key: %w", err)
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(seed)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write report signing key: %w", err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}
