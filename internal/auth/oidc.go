package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"gatehouse/ent"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/user"
	"gatehouse/internal/authz"
)

// OIDCConfig is the single sign-on an Authenticator accepts besides its own
// tokens: ID tokens (or JWT access tokens) of one OpenID Connect provider.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL (GATEHOUSE_OIDC_ISSUER); its
	// discovery document is read at /.well-known/openid-configuration.
	Issuer string
	// Audience is the client ID the tokens must name in aud
	// (GATEHOUSE_OIDC_AUDIENCE).
	Audience string
	// UserClaim is the claim holding the user's email
	// (GATEHOUSE_OIDC_USER_CLAIM); "" means "email".
	UserClaim string
	// JIT creates unknown users, as USER (or the role their groups map
	// to), on their first sign-in (GATEHOUSE_OIDC_JIT).
	JIT bool
	// GroupsClaim is the claim listing the user's groups
	// (GATEHOUSE_OIDC_GROUPS_CLAIM); with GroupRoles, every sign-in sets
	// the user's platform role from it.
	GroupsClaim string
	// GroupRoles maps a group to a platform role
	// (GATEHOUSE_OIDC_GROUP_ROLES="admins=IT_ADMIN,risk=RISK_MANAGER"). A
	// user in several mapped groups gets the highest role, one in none
	// USER.
	GroupRoles map[string]enum.PlatformRole
}

// DefaultOIDCUserClaim is the claim matched against users' emails when
// OIDCConfig.UserClaim is empty.
const DefaultOIDCUserClaim = "email"

// ParseGroupRoles parses GATEHOUSE_OIDC_GROUP_ROLES: comma-separated
// group=ROLE pairs, ROLE one of USER, RISK_MANAGER, IT_ADMIN.
func ParseGroupRoles(s string) (map[string]enum.PlatformRole, error) {
	out := map[string]enum.PlatformRole{}
	for pair := range strings.SplitSeq(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		i := strings.LastIndex(pair, "=")
		if i <= 0 {
			return nil, fmt.Errorf("%q is not group=ROLE", pair)
		}
		group, role := strings.TrimSpace(pair[:i]), enum.PlatformRole(strings.TrimSpace(pair[i+1:]))
		if !role.IsValid() {
			return nil, fmt.Errorf("%q: role %q is not one of %v", pair, role, enum.AllPlatformRoles)
		}
		if _, dup := out[group]; dup {
			return nil, fmt.Errorf("group %q is mapped twice", group)
		}
		out[group] = role
	}
	return out, nil
}

// Validate checks the configuration without contacting the provider.
func (c OIDCConfig) Validate() error {
	u, err := url.Parse(c.Issuer)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("GATEHOUSE_OIDC_ISSUER=%q is not an http(s) URL", c.Issuer)
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		return fmt.Errorf("GATEHOUSE_OIDC_ISSUER=%q must be https (http only for localhost)", c.Issuer)
	}
	if strings.TrimSpace(c.Audience) == "" {
		return errors.New("GATEHOUSE_OIDC_AUDIENCE (the client ID the tokens are issued to) is required with GATEHOUSE_OIDC_ISSUER")
	}
	if len(c.GroupRoles) > 0 && c.GroupsClaim == "" {
		return errors.New("GATEHOUSE_OIDC_GROUP_ROLES needs GATEHOUSE_OIDC_GROUPS_CLAIM (the claim listing groups, e.g. groups)")
	}
	if c.GroupsClaim != "" && len(c.GroupRoles) == 0 {
		return errors.New("GATEHOUSE_OIDC_GROUPS_CLAIM needs GATEHOUSE_OIDC_GROUP_ROLES (group=ROLE pairs)")
	}
	return nil
}

func loopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// OIDC verifies the tokens of one provider. Build it with NewOIDC and give
// it to New with WithOIDC.
type OIDC struct {
	cfg      OIDCConfig
	verifier *oidc.IDTokenVerifier
	// authURL and tokenURL are the provider's endpoints (discovery).
	authURL, tokenURL string
}

// Client returns what a browser needs to sign in with the provider as the
// public client the server's audience names: the issuer, the client ID
// and the authorization and token endpoints.
func (o *OIDC) Client() (issuer, clientID, authURL, tokenURL string) {
	return o.cfg.Issuer, o.cfg.Audience, o.authURL, o.tokenURL
}

// oidcAlgs are the signature algorithms accepted from the provider.
var oidcAlgs = []string{oidc.RS256, oidc.ES256}

// NewOIDC checks cfg and reads the provider's discovery document (its
// signing keys are fetched on first use, cached, and fetched again when a
// token names a key the cache lacks: key rotation). client makes the
// provider's requests (nil: http.DefaultClient); now is the clock. Errors
// name the setting at fault or the discovery failure.
func NewOIDC(ctx context.Context, cfg OIDCConfig, client *http.Client, now func() time.Time) (*OIDC, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.UserClaim == "" {
		cfg.UserClaim = DefaultOIDCUserClaim
	}
	if client != nil {
		ctx = oidc.ClientContext(ctx, client)
	}
	provider, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("GATEHOUSE_OIDC_ISSUER=%q: OpenID Connect discovery: %w", cfg.Issuer, err)
	}
	// The key set outlives ctx: its fetches use the client only.
	keyCtx := context.Background()
	if client != nil {
		keyCtx = oidc.ClientContext(keyCtx, client)
	}
	var meta struct {
		JWKS string `json:"jwks_uri"`
	}
	if err := provider.Claims(&meta); err != nil || meta.JWKS == "" {
		return nil, fmt.Errorf("GATEHOUSE_OIDC_ISSUER=%q: the discovery document names no jwks_uri", cfg.Issuer)
	}
	keys := oidc.NewRemoteKeySet(keyCtx, meta.JWKS)
	verifier := oidc.NewVerifier(cfg.Issuer, keys, &oidc.Config{
		ClientID:             cfg.Audience,
		SupportedSigningAlgs: oidcAlgs,
		// Expiry is checked clockSkew late: the provider's clock may run
		// ahead of ours.
		Now: func() time.Time { return now().Add(-clockSkew) },
	})
	ep := provider.Endpoint()
	return &OIDC{cfg: cfg, verifier: verifier, authURL: ep.AuthURL, tokenURL: ep.TokenURL}, nil
}

// WithOIDC makes Authenticate accept the tokens of o's provider besides
// the server's own.
func WithOIDC(o *OIDC) Option {
	return func(a *Authenticator) { a.oidc = o }
}

// unverifiedIssuer returns the iss claim of a JWT, unverified: it only
// picks the verifier.
func unverifiedIssuer(token string) string {
	var claims struct {
		Iss string `json:"iss"`
	}
	if !decodeJWTPart(token, 1, &claims) {
		return ""
	}
	return claims.Iss
}

// oidcClaims are the claims a sign-in reads.
type oidcClaims map[string]any

func (c oidcClaims) str(name string) string {
	s, _ := c[name].(string)
	return strings.TrimSpace(s)
}

// groups returns the claim name as a list of strings (a single string
// counts as one group).
func (c oidcClaims) groups(name string) []string {
	switch v := c[name].(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, g := range v {
			if s, ok := g.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// roleRank orders the platform roles for the group mapping.
var roleRank = map[enum.PlatformRole]int{
	enum.PlatformRoleUser: 0, enum.PlatformRoleRiskManager: 1, enum.PlatformRoleITAdmin: 2,
}

// RoleForGroups returns the highest role the groups map to, USER when none
// is mapped.
func RoleForGroups(mapping map[string]enum.PlatformRole, groups []string) enum.PlatformRole {
	role := enum.PlatformRoleUser
	for _, g := range groups {
		if r, ok := mapping[g]; ok && roleRank[r] > roleRank[role] {
			role = r
		}
	}
	return role
}

// authenticateOIDC verifies a token of the provider and returns its user:
// matched by the user claim against emails (case-insensitively), created
// when unknown and JIT is on, its role set from its groups when a mapping
// is configured. An email claim marked email_verified=false is refused.
func (a *Authenticator) authenticateOIDC(ctx context.Context, token string) (*authz.Viewer, error) {
	o := a.oidc
	idt, err := o.verifier.Verify(ctx, token)
	if err != nil {
		return nil, errUnauthenticated
	}
	var claims oidcClaims
	if err := idt.Claims(&claims); err != nil {
		return nil, errUnauthenticated
	}
	if verified, ok := claims["email_verified"].(bool); ok && !verified && o.cfg.UserClaim == "email" {
		return nil, errUnauthenticated
	}
	email := claims.str(o.cfg.UserClaim)
	if email == "" {
		return nil, errUnauthenticated
	}
	var role *enum.PlatformRole
	if len(o.cfg.GroupRoles) > 0 {
		r := RoleForGroups(o.cfg.GroupRoles, claims.groups(o.cfg.GroupsClaim))
		role = &r
	}
	u, err := a.oidcUser(ctx, email, claims.str("name"), role)
	if err != nil {
		return nil, err
	}
	if u.Status != enum.UserStatusActive || u.Kind == enum.UserKindService {
		return nil, errUnauthenticated
	}
	return &authz.Viewer{UserID: u.ID, Role: u.PlatformRole, ExpiresAt: idt.Expiry, User: u}, nil
}

// oidcUser finds the user of email, creates it (JIT) or refuses, and sets
// its role when role is given. Creations and role changes are catalog
// writes, audited by the schema hooks like any other.
func (a *Authenticator) oidcUser(ctx context.Context, email, name string, role *enum.PlatformRole) (*ent.User, error) {
	u, err := a.userByEmail(ctx, email)
	switch {
	case ent.IsNotFound(err) && a.oidc.cfg.JIT:
		if name == "" {
			name = email
		}
		create := a.client.User.Create().SetEmail(email).SetName(name).SetPlatformRole(enum.PlatformRoleUser)
		if role != nil {
			create.SetPlatformRole(*role)
		}
		u, err = create.Save(ctx)
		switch {
		case ent.IsValidationError(err): // not a plain e-mail address (the schema's check)
			return nil, errUnauthenticated
		case ent.IsConstraintError(err): // created meanwhile by a parallel sign-in
			u, err = a.userByEmail(ctx, email)
		}
		if err != nil {
			return nil, fmt.Errorf("create signed-in user: %w", err)
		}
		return u, nil
	case ent.IsNotFound(err):
		return nil, errUnauthenticated
	case err != nil:
		return nil, fmt.Errorf("load user: %w", err)
	}
	if role != nil && u.PlatformRole != *role && u.Status == enum.UserStatusActive && u.Kind != enum.UserKindService {
		u, err = u.Update().SetPlatformRole(*role).Save(ctx)
		if err != nil {
			return nil, fmt.Errorf("set role from groups: %w", err)
		}
	}
	return u, nil
}

// isOIDCToken reports whether token is for the OIDC provider rather than
// one of the server's own JWTs: it names the provider's issuer and is not
// signed with HS256.
func (a *Authenticator) isOIDCToken(token string) bool {
	return a.oidc != nil && unverifiedIssuer(token) == a.oidc.cfg.Issuer && !slices.Contains([]string{"HS256", ""}, jwtAlg(token))
}

// jwtAlg returns the alg of a JWT's header, unverified.
func jwtAlg(token string) string {
	var h struct {
		Alg string `json:"alg"`
	}
	if !decodeJWTPart(token, 0, &h) {
		return ""
	}
	return h.Alg
}

// userByEmail reads the user whose e-mail is email: by the unique index
// when it is spelt as stored (every sign-in of a known user), else without
// regard to case (a scan).
func (a *Authenticator) userByEmail(ctx context.Context, email string) (*ent.User, error) {
	u, err := a.client.User.Query().Where(user.Email(email)).Only(ctx)
	if ent.IsNotFound(err) {
		u, err = a.client.User.Query().Where(user.EmailEqualFold(email)).Only(ctx)
	}
	return u, err
}
