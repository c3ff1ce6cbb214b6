// Package scimtest is an in-memory SCIM 2.0 service for tests: the
// third-party github.com/elimity-com/scim server (routing, schema validation,
// filter and PATCH parsing, error responses) over in-memory Users and Groups
// handlers. Tests of the SCIM connector and the end-to-end tests share it.
package scimtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	scimserver "github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	scimfilter "github.com/elimity-com/scim/filter"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
	filterparser "github.com/scim2/filter-parser/v2"
)

// Store is the service's in-memory state.
type Store struct {
	mu     sync.Mutex
	seq    int
	users  map[string]scimserver.ResourceAttributes
	groups map[string]*memGroup
}

type memGroup struct {
	displayName string
	members     []string // user ids, in insertion order; duplicates would show
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{users: map[string]scimserver.ResourceAttributes{}, groups: map[string]*memGroup{}}
}

func (s *Store) nextID(prefix string) string {
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
// Users is the /Users handler over a Store.
type Users struct{ S *Store }

func (h Users) resource(id string) scimserver.Resource {
	attrs := h.S.users[id]
	r := scimserver.Resource{ID: id, Attributes: attrs}
	if ext, ok := attrs["externalId"].(string); ok {
		r.ExternalID = optional.NewString(ext)
	}
	return r
}

func (h Users) Create(_ *http.Request, attrs scimserver.ResourceAttributes) (scimserver.Resource, error) {
	h.S.mu.Lock()
	defer h.S.mu.Unlock()
	name, _ := attrs["userName"].(string)
	for _, u := range h.S.users {
		if other, _ := u["userName"].(string); strings.EqualFold(other, name) {
			return scimserver.Resource{}, scimerrors.ScimError{ScimType: scimerrors.ScimTypeUniqueness, Status: http.StatusConflict, Detail: "userName " + name + " is already taken"}
		}
	}
	id := h.S.nextID("u")
	h.S.users[id] = attrs
	return h.resource(id), nil
}

func (h Users) Get(_ *http.Request, id string) (scimserver.Resource, error) {
	h.S.mu.Lock()
	defer h.S.mu.Unlock()
	if _, ok := h.S.users[id]; !ok {
		return scimserver.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	return h.resource(id), nil
}

func (h Users) GetAll(_ *http.Request, params scimserver.ListRequestParams) (scimserver.Page, error) {
	h.S.mu.Lock()
	defer h.S.mu.Unlock()
	var ids []string
	for id, attrs := range h.S.users {
		if passes(params.FilterValidator, schema.CoreUserSchema(), attrs) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return page(ids, params, h.resource), nil
}

func (h Users) Replace(r *http.Request, id string, attrs scimserver.ResourceAttributes) (scimserver.Resource, error) {
	h.S.mu.Lock()
	defer h.S.mu.Unlock()
	if _, ok := h.S.users[id]; !ok {
		return scimserver.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	h.S.users[id] = attrs
	return h.resource(id), nil
}

func (h Users) Delete(_ *http.Request, id string) error {
	h.S.mu.Lock()
	defer h.S.mu.Unlock()
	if _, ok := h.S.users[id]; !ok {
		return scimerrors.ScimErrorResourceNotFound(id)
	}
	delete(h.S.users, id)
	for _, g := range h.S.groups {
		g.members = slices.DeleteFunc(g.members, func(m string) bool { return m == id })
	}
	return nil
}

func (h Users) Patch(*http.Request, string, []scimserver.PatchOperation) (scimserver.Resource, error) {
	return scimserver.Resource{}, scimerrors.ScimError{Status: http.StatusNotImplemented, Detail: "PATCH of users is not supported here"}
}

// groups is the /Groups handler. PATCH follows RFC 7644 §3.5.2: adding a
// member who is there changes nothing; members must be existing users;
// removing with a filter that matches no member is 400 noTarget.
// Groups is the /Groups handler over a Store.
type Groups struct{ S *Store }

func (h Groups) resource(id string) scimserver.Resource {
	g := h.S.groups[id]
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

func (h Groups) Create(_ *http.Request, attrs scimserver.ResourceAttributes) (scimserver.Resource, error) {
	h.S.mu.Lock()
	defer h.S.mu.Unlock()
	name, _ := attrs["displayName"].(string)
	id := h.S.nextID("g")
	h.S.groups[id] = &memGroup{displayName: name, members: memberIDs(attrs["members"])}
	return h.resource(id), nil
}

func (h Groups) Get(_ *http.Request, id string) (scimserver.Resource, error) {
	h.S.mu.Lock()
	defer h.S.mu.Unlock()
	if _, ok := h.S.groups[id]; !ok {
		return scimserver.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	return h.resource(id), nil
}

func (h Groups) GetAll(_ *http.Request, params scimserver.ListRequestParams) (scimserver.Page, error) {
	h.S.mu.Lock()
	defer h.S.mu.Unlock()
	var ids []string
	for id := range h.S.groups {
		if passes(params.FilterValidator, schema.CoreGroupSchema(), h.resource(id).Attributes) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return page(ids, params, h.resource), nil
}

func (h Groups) Replace(_ *http.Request, id string, attrs scimserver.ResourceAttributes) (scimserver.Resource, error) {
	h.S.mu.Lock()
	defer h.S.mu.Unlock()
	if _, ok := h.S.groups[id]; !ok {
		return scimserver.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	name, _ := attrs["displayName"].(string)
	h.S.groups[id] = &memGroup{displayName: name, members: memberIDs(attrs["members"])}
	return h.resource(id), nil
}

func (h Groups) Delete(_ *http.Request, id string) error {
	h.S.mu.Lock()
	defer h.S.mu.Unlock()
	if _, ok := h.S.groups[id]; !ok {
		return scimerrors.ScimErrorResourceNotFound(id)
	}
	delete(h.S.groups, id)
	return nil
}

func (h Groups) Patch(_ *http.Request, id string, ops []scimserver.PatchOperation) (scimserver.Resource, error) {
	h.S.mu.Lock()
	defer h.S.mu.Unlock()
	g, ok := h.S.groups[id]
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
				if _, ok := h.S.users[m]; !ok {
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

// NewServer returns a SCIM 2.0 service (github.com/elimity-com/scim) over
// the store's Users and Groups, with filtering and PATCH.
func NewServer(st *Store) (scimserver.Server, error) {
	return scimserver.NewServer(&scimserver.ServerArgs{
		ServiceProviderConfig: &scimserver.ServiceProviderConfig{SupportFiltering: true, SupportPatch: true, MaxResults: 50},
		ResourceTypes: []scimserver.ResourceType{
			{ID: optional.NewString("User"), Name: "User", Endpoint: "/Users", Schema: schema.CoreUserSchema(), Handler: Users{st}},
			{ID: optional.NewString("Group"), Name: "Group", Endpoint: "/Groups", Schema: schema.CoreGroupSchema(), Handler: Groups{st}},
		},
	})
}

// AddUser adds a user behind the API, as the service's administrator
// would, and returns its id.
func (s *Store) AddUser(userName string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextID("u")
	s.users[id] = scimserver.ResourceAttributes{"userName": userName}
	return id
}

// AddGroup adds a group with members behind the API and returns its id.
func (s *Store) AddGroup(name string, members ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextID("g")
	s.groups[id] = &memGroup{displayName: name, members: members}
	return id
}

// SetMembers replaces a group's members behind the API.
func (s *Store) SetMembers(groupID string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[groupID].members = members
}

// MemberNames returns the userNames of a group's members, sorted.
func (s *Store) MemberNames(groupID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []string{}
	for _, id := range s.groups[groupID].members {
		name, _ := s.users[id]["userName"].(string)
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}
