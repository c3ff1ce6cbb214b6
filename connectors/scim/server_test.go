package scim_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	scimserver "github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	scimfilter "github.com/elimity-com/scim/filter"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
	filterparser "github.com/scim2/filter-parser/v2"
	"github.com/stretchr/testify/require"

	"gatehouse/connectors/connectortest"
)

// The SCIM service the connector is tested against: github.com/elimity-com/scim
// (a third-party SCIM 2.0 server: routing, schema validation of bodies, filter
// and PATCH parsing, error responses) over in-memory handlers, behind the two
// things every real deployment puts in front of it: bearer-token
// authentication and, for the failure tests, an overload switch.

// store is the service's in-memory state.
type store struct {
	mu     sync.Mutex
	seq    int
	users  map[string]scimserver.ResourceAttributes
	groups map[string]*memGroup
}

type memGroup struct {
	displayName string
	members     []string // user ids, in insertion order; duplicates would show
}

func newStore() *store {
	return &store{users: map[string]scimserver.ResourceAttributes{}, groups: map[string]*memGroup{}}
}

func (s *store) nextID(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s-%04d", prefix, s.seq)
}

// unescape turns the filter's string values into what they say: the
// filter parser keeps JSON escapes (\" \\ \u0041) as written, while RFC 7644
// §3.4.2.2 defines compValue as a JSON string.
func unescape(e filterparser.Expression) {
	switch e := e.(type) {
	case *filterparser.AttributeExpression:
		if s, ok := e.CompareValue.(string); ok {
			var v string
			if json.Unmarshal([]byte(`"`+s+`"`), &v) == nil {
				e.CompareValue = v
			}
		}
	case *filterparser.LogicalExpression:
		unescape(e.Left)
		unescape(e.Right)
	case *filterparser.NotExpression:
		unescape(e.Expression)
	case *filterparser.ValuePath:
		unescape(e.ValueFilter)
	}
}

func passes(v *scimfilter.Validator, s schema.Schema, attrs map[string]any) bool {
	if v == nil {
		return true
	}
	exp := v.GetFilter()
	unescape(exp)
	return scimfilter.NewFilterValidator(exp, s).PassesFilter(attrs) == nil
}

func page(ids []string, params scimserver.ListRequestParams, resource func(string) scimserver.Resource) scimserver.Page {
	p := scimserver.Page{TotalResults: len(ids), Resources: []scimserver.Resource{}}
	start := max(params.StartIndex, 1) - 1
	for i := start; i < len(ids) && i < start+params.Count; i++ {
		p.Resources = append(p.Resources, resource(ids[i]))
	}
	return p
}

// users is the /Users handler: userName is unique, case-insensitively.
type users struct{ s *store }

func (h users) resource(id string) scimserver.Resource {
	attrs := h.s.users[id]
	r := scimserver.Resource{ID: id, Attributes: attrs}
	if ext, ok := attrs["externalId"].(string); ok {
		r.ExternalID = optional.NewString(ext)
	}
	return r
}

func (h users) Create(_ *http.Request, attrs scimserver.ResourceAttributes) (scimserver.Resource, error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	name, _ := attrs["userName"].(string)
	for _, u := range h.s.users {
		if other, _ := u["userName"].(string); strings.EqualFold(other, name) {
			return scimserver.Resource{}, scimerrors.ScimError{ScimType: scimerrors.ScimTypeUniqueness, Status: http.StatusConflict, Detail: "userName " + name + " is already taken"}
		}
	}
	id := h.s.nextID("u")
	h.s.users[id] = attrs
	return h.resource(id), nil
}

func (h users) Get(_ *http.Request, id string) (scimserver.Resource, error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	if _, ok := h.s.users[id]; !ok {
		return scimserver.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	return h.resource(id), nil
}

func (h users) GetAll(_ *http.Request, params scimserver.ListRequestParams) (scimserver.Page, error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	var ids []string
	for id, attrs := range h.s.users {
		if passes(params.FilterValidator, schema.CoreUserSchema(), attrs) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return page(ids, params, h.resource), nil
}

func (h users) Replace(r *http.Request, id string, attrs scimserver.ResourceAttributes) (scimserver.Resource, error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	if _, ok := h.s.users[id]; !ok {
		return scimserver.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	h.s.users[id] = attrs
	return h.resource(id), nil
}

func (h users) Delete(_ *http.Request, id string) error {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	if _, ok := h.s.users[id]; !ok {
		return scimerrors.ScimErrorResourceNotFound(id)
	}
	delete(h.s.users, id)
	for _, g := range h.s.groups {
		g.members = slices.DeleteFunc(g.members, func(m string) bool { return m == id })
	}
	return nil
}

func (h users) Patch(*http.Request, string, []scimserver.PatchOperation) (scimserver.Resource, error) {
	return scimserver.Resource{}, scimerrors.ScimError{Status: http.StatusNotImplemented, Detail: "PATCH of users is not supported here"}
}

// groups is the /Groups handler. PATCH follows RFC 7644 §3.5.2: adding a
// member who is there changes nothing; members must be existing users;
// removing with a filter that matches no member is 400 noTarget.
type groups struct{ s *store }

func (h groups) resource(id string) scimserver.Resource {
	g := h.s.groups[id]
	attrs := scimserver.ResourceAttributes{"displayName": g.displayName}
	if len(g.members) > 0 {
		ms := make([]any, 0, len(g.members))
		for _, m := range g.members {
			ms = append(ms, map[string]any{"value": m, "type": "User"})
		}
		attrs["members"] = ms
	}
	return scimserver.Resource{ID: id, Attributes: attrs}
}

func memberIDs(v any) []string {
	var out []string
	list, ok := v.([]any)
	if !ok {
		list = []any{v}
	}
	for _, item := range list {
		if m, ok := item.(map[string]any); ok {
			if id, ok := m["value"].(string); ok {
				out = append(out, id)
			}
		}
	}
	return out
}

func (h groups) Create(_ *http.Request, attrs scimserver.ResourceAttributes) (scimserver.Resource, error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	name, _ := attrs["displayName"].(string)
	id := h.s.nextID("g")
	h.s.groups[id] = &memGroup{displayName: name, members: memberIDs(attrs["members"])}
	return h.resource(id), nil
}

func (h groups) Get(_ *http.Request, id string) (scimserver.Resource, error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	if _, ok := h.s.groups[id]; !ok {
		return scimserver.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	return h.resource(id), nil
}

func (h groups) GetAll(_ *http.Request, params scimserver.ListRequestParams) (scimserver.Page, error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	var ids []string
	for id := range h.s.groups {
		if passes(params.FilterValidator, schema.CoreGroupSchema(), h.resource(id).Attributes) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return page(ids, params, h.resource), nil
}

func (h groups) Replace(_ *http.Request, id string, attrs scimserver.ResourceAttributes) (scimserver.Resource, error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	if _, ok := h.s.groups[id]; !ok {
		return scimserver.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	name, _ := attrs["displayName"].(string)
	h.s.groups[id] = &memGroup{displayName: name, members: memberIDs(attrs["members"])}
	return h.resource(id), nil
}

func (h groups) Delete(_ *http.Request, id string) error {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	if _, ok := h.s.groups[id]; !ok {
		return scimerrors.ScimErrorResourceNotFound(id)
	}
	delete(h.s.groups, id)
	return nil
}

func (h groups) Patch(_ *http.Request, id string, ops []scimserver.PatchOperation) (scimserver.Resource, error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	g, ok := h.s.groups[id]
	if !ok {
		return scimserver.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	members := slices.Clone(g.members)
	for _, op := range ops {
		path := ""
		if op.Path != nil {
			path = strings.ToLower(op.Path.AttributePath.AttributeName)
		}
		value := op.Value
		if path == "" {
			if m, ok := op.Value.(map[string]any); ok {
				path, value = "members", m["members"]
			}
		}
		if path != "members" {
			return scimserver.Resource{}, scimerrors.ScimErrorInvalidPath
		}
		switch strings.ToLower(op.Op) {
		case scimserver.PatchOperationAdd, scimserver.PatchOperationReplace:
			if strings.EqualFold(op.Op, scimserver.PatchOperationReplace) {
				members = nil
			}
			for _, m := range memberIDs(value) {
				if _, ok := h.s.users[m]; !ok {
					return scimserver.Resource{}, scimerrors.ScimError{ScimType: scimerrors.ScimTypeInvalidValue, Status: http.StatusBadRequest, Detail: "member " + m + " is not a user"}
				}
				if !slices.Contains(members, m) {
					members = append(members, m)
				}
			}
		case scimserver.PatchOperationRemove:
			var match func(string) bool
			switch {
			case op.Path != nil && op.Path.ValueExpression != nil:
				unescape(op.Path.ValueExpression)
				attr, _ := schema.CoreGroupSchema().Attributes.ContainsAttribute("members")
				v := scimfilter.NewFilterValidator(op.Path.ValueExpression, schema.Schema{Attributes: attr.SubAttributes()})
				match = func(m string) bool { return v.PassesFilter(map[string]any{"value": m, "type": "User"}) == nil }
			case value != nil:
				ids := memberIDs(value)
				match = func(m string) bool { return slices.Contains(ids, m) }
			default:
				match = func(string) bool { return true }
			}
			before := len(members)
			members = slices.DeleteFunc(members, match)
			if len(members) == before && op.Path != nil && op.Path.ValueExpression != nil {
				return scimserver.Resource{}, scimerrors.ScimErrorNoTarget
			}
		}
	}
	g.members = members
	return h.resource(id), nil
}

// service is a running SCIM service.
type service struct {
	store *store
	token string
	srv   *httptest.Server
	// base is the SCIM base URL, under which /Users and /Groups live.
	base string

	// overload, when set, is the status (429 or 503) every request gets,
	// with Retry-After: retryAfter.
	overload   atomic.Int32
	retryAfter atomic.Value // string

	// beforeCreate, when set, runs before a POST /Users reaches the service
	// (another writer racing the connector).
	beforeCreate atomic.Pointer[func()]
	// filters records the filter parameters of GET /Users.
	mu      sync.Mutex
	filters []string
}

func newService(t *testing.T) *service {
	t.Helper()
	st := newStore()
	srv, err := scimserver.NewServer(&scimserver.ServerArgs{
		ServiceProviderConfig: &scimserver.ServiceProviderConfig{SupportFiltering: true, SupportPatch: true, MaxResults: 50},
		ResourceTypes: []scimserver.ResourceType{
			{ID: optional.NewString("User"), Name: "User", Endpoint: "/Users", Schema: schema.CoreUserSchema(), Handler: users{st}},
			{ID: optional.NewString("Group"), Name: "Group", Endpoint: "/Groups", Schema: schema.CoreGroupSchema(), Handler: groups{st}},
		},
	})
	require.NoError(t, err)
	s := &service{store: st, token: connectortest.NewID("tok")}
	s.retryAfter.Store("")
	mux := http.NewServeMux()
	mux.Handle("/scim/v2/", http.StripPrefix("/scim/v2", s.front(srv)))
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	s.base = s.srv.URL + "/scim/v2"
	return s
}

// front authenticates and, when overloaded, refuses, as a gateway would.
func (s *service) front(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/scim+json")
		if code := int(s.overload.Load()); code != 0 {
			if ra := s.retryAfter.Load().(string); ra != "" {
				w.Header().Set("Retry-After", ra)
			}
			w.WriteHeader(code)
			_, _ = fmt.Fprintf(w, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"%d","detail":"slow down"}`, code)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+s.token {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"401","detail":"invalid bearer token"}`))
			return
		}
		if r.Method == http.MethodGet && r.URL.Path == "/Users" {
			if f := r.URL.Query().Get("filter"); f != "" {
				s.mu.Lock()
				s.filters = append(s.filters, f)
				s.mu.Unlock()
			}
		}
		if f := s.beforeCreate.Load(); f != nil && r.Method == http.MethodPost && r.URL.Path == "/Users" {
			(*f)()
		}
		next.ServeHTTP(w, r)
	})
}

// admin sends a request to the service as its administrator would, and
// decodes a JSON answer into out when given.
func (s *service) admin(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	var rd *strings.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = strings.NewReader(string(b))
	} else {
		rd = strings.NewReader("")
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.base+path, rd)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if out != nil {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
	}
	return resp.StatusCode
}

// createUser creates a user through the SCIM API and returns its id.
func (s *service) createUser(t *testing.T, userName string) string {
	t.Helper()
	var u struct {
		ID string `json:"id"`
	}
	code := s.admin(t, http.MethodPost, "/Users", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": userName,
	}, &u)
	require.Equal(t, http.StatusCreated, code)
	return u.ID
}

// createGroup creates a group through the SCIM API and returns its id.
func (s *service) createGroup(t *testing.T, name string) string {
	t.Helper()
	var g struct {
		ID string `json:"id"`
	}
	code := s.admin(t, http.MethodPost, "/Groups", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": name,
	}, &g)
	require.Equal(t, http.StatusCreated, code)
	return g.ID
}

// members reads a group's members with GET /Groups/{id}.
func (s *service) members(t *testing.T, groupID string) []string {
	t.Helper()
	var g struct {
		Members []struct {
			Value string `json:"value"`
		} `json:"members"`
	}
	require.Equal(t, http.StatusOK, s.admin(t, http.MethodGet, "/Groups/"+groupID, nil, &g))
	var out []string
	for _, m := range g.Members {
		out = append(out, m.Value)
	}
	return out
}

// user reads a user with GET /Users/{id}.
func (s *service) user(t *testing.T, id string) map[string]any {
	t.Helper()
	var u map[string]any
	require.Equal(t, http.StatusOK, s.admin(t, http.MethodGet, "/Users/"+id, nil, &u))
	return u
}

func (s *service) seenFilters() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.filters)
}
