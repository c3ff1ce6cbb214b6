package resolvers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	scimserver "github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	scimfilter "github.com/elimity-com/scim/filter"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
	filterparser "github.com/scim2/filter-parser/v2"
	"github.com/stretchr/testify/require"
)

// The SCIM service of the connector tests: github.com/elimity-com/scim (a
// third-party SCIM 2.0 server) over in-memory handlers, behind bearer-token
// authentication. A minimal copy of connectors/scim's test server.

type scimStore struct {
	mu     sync.Mutex
	seq    int
	users  map[string]scimserver.ResourceAttributes
	groups map[string]*scimGroup
}

type scimGroup struct {
	displayName string
	members     []string // user ids
}

func (s *scimStore) nextID(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s-%04d", prefix, s.seq)
}

// scimUnescape turns the filter's string values into what they say (the
// parser keeps JSON escapes as written).
func scimUnescape(e filterparser.Expression) {
	switch e := e.(type) {
	case *filterparser.AttributeExpression:
		if s, ok := e.CompareValue.(string); ok {
			var v string
			if json.Unmarshal([]byte(`"`+s+`"`), &v) == nil {
				e.CompareValue = v
			}
		}
	case *filterparser.LogicalExpression:
		scimUnescape(e.Left)
		scimUnescape(e.Right)
	case *filterparser.NotExpression:
		scimUnescape(e.Expression)
	case *filterparser.ValuePath:
		scimUnescape(e.ValueFilter)
	}
}

func scimPasses(v *scimfilter.Validator, s schema.Schema, attrs map[string]any) bool {
	if v == nil {
		return true
	}
	exp := v.GetFilter()
	scimUnescape(exp)
	return scimfilter.NewFilterValidator(exp, s).PassesFilter(attrs) == nil
}

func scimPage(ids []string, params scimserver.ListRequestParams, resource func(string) scimserver.Resource) scimserver.Page {
	p := scimserver.Page{TotalResults: len(ids), Resources: []scimserver.Resource{}}
	start := max(params.StartIndex, 1) - 1
	for i := start; i < len(ids) && i < start+params.Count; i++ {
		p.Resources = append(p.Resources, resource(ids[i]))
	}
	return p
}

// scimUsers is the /Users handler: userName is unique, case-insensitively.
type scimUsers struct{ s *scimStore }

func (h scimUsers) resource(id string) scimserver.Resource {
	attrs := h.s.users[id]
	r := scimserver.Resource{ID: id, Attributes: attrs}
	if ext, ok := attrs["externalId"].(string); ok {
		r.ExternalID = optional.NewString(ext)
	}
	return r
}

func (h scimUsers) Create(_ *http.Request, attrs scimserver.ResourceAttributes) (scimserver.Resource, error) {
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

func (h scimUsers) Get(_ *http.Request, id string) (scimserver.Resource, error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	if _, ok := h.s.users[id]; !ok {
		return scimserver.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	return h.resource(id), nil
}

func (h scimUsers) GetAll(_ *http.Request, params scimserver.ListRequestParams) (scimserver.Page, error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	var ids []string
	for id, attrs := range h.s.users {
		if scimPasses(params.FilterValidator, schema.CoreUserSchema(), attrs) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return scimPage(ids, params, h.resource), nil
}

func (h scimUsers) Replace(_ *http.Request, id string, attrs scimserver.ResourceAttributes) (scimserver.Resource, error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	if _, ok := h.s.users[id]; !ok {
		return scimserver.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	h.s.users[id] = attrs
	return h.resource(id), nil
}

func (h scimUsers) Delete(_ *http.Request, id string) error {
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

func (h scimUsers) Patch(*http.Request, string, []scimserver.PatchOperation) (scimserver.Resource, error) {
	return scimserver.Resource{}, scimerrors.ScimError{Status: http.StatusNotImplemented, Detail: "PATCH of users is not supported here"}
}

// scimGroups is the /Groups handler; PATCH follows RFC 7644 §3.5.2.
type scimGroups struct{ s *scimStore }

func (h scimGroups) resource(id string) scimserver.Resource {
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

func scimMemberIDs(v any) []string {
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

func (h scimGroups) Create(_ *http.Request, attrs scimserver.ResourceAttributes) (scimserver.Resource, error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	name, _ := attrs["displayName"].(string)
	id := h.s.nextID("g")
	h.s.groups[id] = &scimGroup{displayName: name, members: scimMemberIDs(attrs["members"])}
	return h.resource(id), nil
}

func (h scimGroups) Get(_ *http.Request, id string) (scimserver.Resource, error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	if _, ok := h.s.groups[id]; !ok {
		return scimserver.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	return h.resource(id), nil
}

func (h scimGroups) GetAll(_ *http.Request, params scimserver.ListRequestParams) (scimserver.Page, error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	var ids []string
	for id := range h.s.groups {
		if scimPasses(params.FilterValidator, schema.CoreGroupSchema(), h.resource(id).Attributes) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return scimPage(ids, params, h.resource), nil
}

func (h scimGroups) Replace(_ *http.Request, id string, attrs scimserver.ResourceAttributes) (scimserver.Resource, error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	if _, ok := h.s.groups[id]; !ok {
		return scimserver.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	name, _ := attrs["displayName"].(string)
	h.s.groups[id] = &scimGroup{displayName: name, members: scimMemberIDs(attrs["members"])}
	return h.resource(id), nil
}

func (h scimGroups) Delete(_ *http.Request, id string) error {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	if _, ok := h.s.groups[id]; !ok {
		return scimerrors.ScimErrorResourceNotFound(id)
	}
	delete(h.s.groups, id)
	return nil
}

func (h scimGroups) Patch(_ *http.Request, id string, ops []scimserver.PatchOperation) (scimserver.Resource, error) {
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
			for _, m := range scimMemberIDs(value) {
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
				scimUnescape(op.Path.ValueExpression)
				attr, _ := schema.CoreGroupSchema().Attributes.ContainsAttribute("members")
				v := scimfilter.NewFilterValidator(op.Path.ValueExpression, schema.Schema{Attributes: attr.SubAttributes()})
				match = func(m string) bool { return v.PassesFilter(map[string]any{"value": m, "type": "User"}) == nil }
			case value != nil:
				ids := scimMemberIDs(value)
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

// scimService is a running SCIM service; base is its SCIM base URL.
type scimService struct {
	store *scimStore
	token string
	base  string
}

func newSCIMService(t *testing.T, token string) *scimService {
	t.Helper()
	st := &scimStore{users: map[string]scimserver.ResourceAttributes{}, groups: map[string]*scimGroup{}}
	srv, err := scimserver.NewServer(&scimserver.ServerArgs{
		ServiceProviderConfig: &scimserver.ServiceProviderConfig{SupportFiltering: true, SupportPatch: true, MaxResults: 50},
		ResourceTypes: []scimserver.ResourceType{
			{ID: optional.NewString("User"), Name: "User", Endpoint: "/Users", Schema: schema.CoreUserSchema(), Handler: scimUsers{st}},
			{ID: optional.NewString("Group"), Name: "Group", Endpoint: "/Groups", Schema: schema.CoreGroupSchema(), Handler: scimGroups{st}},
		},
	})
	require.NoError(t, err)
	s := &scimService{store: st, token: token}
	mux := http.NewServeMux()
	mux.Handle("/scim/v2/", http.StripPrefix("/scim/v2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+s.token {
			w.Header().Set("Content-Type", "application/scim+json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"401","detail":"invalid bearer token"}`))
			return
		}
		srv.ServeHTTP(w, r)
	})))
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	s.base = hs.URL + "/scim/v2"
	return s
}

// createUser adds a user to the service, as its administrator would.
func (s *scimService) createUser(userName string) string {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	id := s.store.nextID("u")
	s.store.users[id] = scimserver.ResourceAttributes{"userName": userName}
	return id
}

// createGroup adds a group with members.
func (s *scimService) createGroup(name string, members ...string) string {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	id := s.store.nextID("g")
	s.store.groups[id] = &scimGroup{displayName: name, members: members}
	return id
}

// setMembers replaces a group's members.
func (s *scimService) setMembers(groupID string, members ...string) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	s.store.groups[groupID].members = members
}

// members returns a group's members' userNames, sorted.
func (s *scimService) members(groupID string) []string {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	out := []string{}
	for _, id := range s.store.groups[groupID].members {
		name, _ := s.store.users[id]["userName"].(string)
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}
