// Package insight computes what a reviewer weighs beside a request item
// (issue 15, item 4): how many of the beneficiary's peers hold the
// entitlement (by job title, department and manager), whether the
// beneficiary held it before and when that ended, and the days since the
// beneficiary's start. A page of items costs two statements however long
// it is: one reads the items the viewer may see with their beneficiaries
// and the beneficiaries' grants of the items' entitlements, the other
// counts every cohort and its holders, grouped by (entitlement, cohort).
//
// Whoever sees an item sees its insight (authz.VisibleItem, the row filter
// of RequestItemPolicy, is applied to the items read here); the
// beneficiary's past holdings are told only to those of
// authz.SeesPastHoldings. The rules themselves (hidden small cohorts, the
// last ended grant, days since start) are pure functions of
// internal/workflow/rules.
package insight

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/vikstrous/dataloadgen"

	"gatehouse/ent"
	"gatehouse/ent/requestitem"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/authz"
	"gatehouse/internal/database"
	"gatehouse/internal/workflow/rules"
)

// Insight is the reviewer insight of one item.
type Insight struct {
	// Coverage is the peer coverage by cohort, in the order job title,
	// department, manager; a cohort the beneficiary has no value for is
	// left out.
	Coverage []rules.PeerCoverage
	// HeldBefore is the beneficiary's last ended holding of the
	// entitlement; nil when there is none or the viewer may not be told
	// (authz.SeesPastHoldings).
	HeldBefore *rules.PastHolding
	// DaysSinceStart is the days from the beneficiary's start date to now;
	// nil without a start date.
	DaysSinceStart *int
}

// Querier runs SQL: an *ent.Client (sql/execquery) is one.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Reader computes insights over a database.
type Reader struct {
	db      Querier
	dialect string
	now     func() time.Time
}

// NewReader returns a Reader over client, with its dialect and clock.
func NewReader(client *ent.Client) *Reader {
	return &Reader{db: client, dialect: client.Dialect(), now: client.Now}
}

// Items computes the insight of the items, by ID, for the viewer of ctx:
// items the viewer may not see (or that do not exist) get an empty insight.
// Two statements whatever the number of items. Any viewer may call it;
// without a viewer every insight is empty.
func (r *Reader) Items(ctx context.Context, ids []pulid.ID) (map[pulid.ID]*Insight, error) {
	out := make(map[pulid.ID]*Insight, len(ids))
	for _, id := range ids {
		out[id] = &Insight{}
	}
	v := authz.FromContext(ctx)
	if v == nil || len(ids) == 0 {
		return out, nil
	}
	items, err := r.loadItems(ctx, v, ids)
	if err != nil {
		return nil, err
	}
	counts, err := r.countCohorts(ctx, items)
	if err != nil {
		return nil, err
	}
	now := r.now()
	for _, it := range items {
		in := out[it.id]
		b := it.beneficiary
		counted := b.active
		holds := counted && it.holdsNow()
		add := func(c rules.Cohort, key, name string) {
			size := counts.size[cohortKey{c, key}]
			holders := counts.holders[holderKey{it.entitlementID, c, key}]
			if counted {
				size--
			}
			if holds {
				holders--
			}
			in.Coverage = append(in.Coverage, rules.Coverage(c, name, size, holders))
		}
		if b.jobTitleID != "" {
			add(rules.CohortJobTitle, b.jobTitleID, b.jobTitle)
		}
		if b.department != "" {
			add(rules.CohortDepartment, b.department, b.department)
		}
		if b.managerID != "" {
			add(rules.CohortManager, b.managerID, b.manager)
		}
		if authz.SeesPastHoldings(v, b.id, it.viewerReviews) {
			in.HeldBefore = rules.LastEnded(it.grants)
		}
		if b.startDate != nil {
			d := rules.DaysSince(*b.startDate, now)
			in.DaysSinceStart = &d
		}
	}
	return out, nil
}

type person struct {
	id                 pulid.ID
	active             bool // ACTIVE and HUMAN: a member of cohorts
	jobTitleID         string
	jobTitle           string
	department         string
	managerID, manager string
	startDate          *time.Time
}

type item struct {
	id, entitlementID pulid.ID
	beneficiary       person
	// viewerReviews: the viewer has a task on the item's request.
	viewerReviews bool
	// grants are the beneficiary's grants of the entitlement.
	grants []rules.GrantSpan
}

// holdsNow reports whether the beneficiary holds the entitlement (a grant
// not ended), as the cohort count sees it.
func (it *item) holdsNow() bool {
	return slices.ContainsFunc(it.grants, func(g rules.GrantSpan) bool { return g.EndedAt == nil })
}

// itemsQuery reads the items with their beneficiaries (job title, manager's
// name), whether the viewer reviews the request, and the beneficiaries'
// grants of the items' entitlements (one row per grant).
const itemsQuery = `SELECT ri.id, ri.entitlement_id, u.id, u.status, u.kind, u.job_title_id, jt.name,
 u.department, u.manager_id, m.name, u.start_date,
 CASE WHEN EXISTS (SELECT 1 FROM review_tasks rt WHERE rt.request_id = ar.id AND rt.reviewer_id = ?) THEN 1 ELSE 0 END,
 g.granted_at, g.revoked_at, g.revoke_reason
FROM request_items ri
JOIN access_requests ar ON ar.id = ri.request_id
JOIN users u ON u.id = ar.beneficiary_id
LEFT JOIN job_titles jt ON jt.id = u.job_title_id
LEFT JOIN users m ON m.id = u.manager_id
LEFT JOIN identities i ON i.user_id = u.id AND i.application_id = ri.application_id
LEFT JOIN grants g ON g.identity_id = i.id AND g.entitlement_id = ri.entitlement_id
WHERE ri.id IN `

// loadItems reads the items among ids that v may see: the subquery that
// names them is the row filter of RequestItemPolicy (authz.VisibleItem).
func (r *Reader) loadItems(ctx context.Context, v *authz.Viewer, ids []pulid.ID) ([]*item, error) {
	b := entsql.Dialect(r.dialect)
	t := entsql.Table(requestitem.Table)
	values := make([]any, len(ids))
	for i, id := range ids {
		values[i] = string(id)
	}
	visible := b.Select(t.C(requestitem.FieldID)).From(t).Where(entsql.In(t.C(requestitem.FieldID), values...))
	if !v.ReadsAll() {
		authz.VisibleItem(v)(visible)
	}
	visible.SetTotal(1) // after the viewer's ID
	sub, subArgs := visible.Query()
	query := database.Bind(r.dialect, itemsQuery) + "(" + sub + ")"
	rows, err := r.db.QueryContext(ctx, query, append([]any{string(v.UserID)}, subArgs...)...)
	if err != nil {
		return nil, fmt.Errorf("load items: %w", err)
	}
	defer rows.Close()
	byID := map[pulid.ID]*item{}
	var out []*item
	for rows.Next() {
		var (
			id, entID, userID, status, kind                  string
			jobTitleID, jobTitle, managerID, manager, reason sql.NullString
			department                                       string
			startDate, grantedAt, revokedAt                  sql.NullTime
			reviews                                          int
		)
		if err := rows.Scan(&id, &entID, &userID, &status, &kind, &jobTitleID, &jobTitle,
			&department, &managerID, &manager, &startDate, &reviews, &grantedAt, &revokedAt, &reason); err != nil {
			return nil, fmt.Errorf("load items: %w", err)
		}
		it := byID[pulid.ID(id)]
		if it == nil {
			it = &item{id: pulid.ID(id), entitlementID: pulid.ID(entID), viewerReviews: reviews == 1,
				beneficiary: person{
					id:         pulid.ID(userID),
					active:     enum.UserStatus(status) == enum.UserStatusActive && enum.UserKind(kind) == enum.UserKindHuman,
					jobTitleID: jobTitleID.String, jobTitle: jobTitle.String,
					department: department,
					managerID:  managerID.String, manager: manager.String,
				}}
			if startDate.Valid {
				d := startDate.Time
				it.beneficiary.startDate = &d
			}
			byID[it.id] = it
			out = append(out, it)
		}
		if grantedAt.Valid {
			g := rules.GrantSpan{GrantedAt: grantedAt.Time, Reason: reason.String}
			if revokedAt.Valid {
				end := revokedAt.Time
				g.EndedAt = &end
			}
			it.grants = append(it.grants, g)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load items: %w", err)
	}
	return out, nil
}

type cohortKey struct {
	cohort rules.Cohort
	key    string
}

type holderKey struct {
	entitlementID pulid.ID
	cohort        rules.Cohort
	key           string
}

type cohortCounts struct {
	size    map[cohortKey]int
	holders map[holderKey]int
}

// countCohorts counts, with one statement, the active people of every
// cohort of the items' beneficiaries (grouped by job title, department and
// manager: each person falls in one group, so a cohort's size is the sum
// of its groups), and, grouped the same way and by entitlement, those of
// them holding one of the items' entitlements (a grant not ended).
func (r *Reader) countCohorts(ctx context.Context, items []*item) (cohortCounts, error) {
	out := cohortCounts{size: map[cohortKey]int{}, holders: map[holderKey]int{}}
	var titles, departments, managers, ents []any
	seen := map[string]bool{}
	addOnce := func(list *[]any, prefix, v string) {
		if v != "" && !seen[prefix+v] {
			seen[prefix+v] = true
			*list = append(*list, v)
		}
	}
	for _, it := range items {
		addOnce(&titles, "t", it.beneficiary.jobTitleID)
		addOnce(&departments, "d", it.beneficiary.department)
		addOnce(&managers, "m", it.beneficiary.managerID)
		addOnce(&ents, "e", string(it.entitlementID))
	}
	var cond []string
	var condArgs []any
	for _, c := range []struct {
		col  string
		vals []any
	}{{"u.job_title_id", titles}, {"u.department", departments}, {"u.manager_id", managers}} {
		if len(c.vals) > 0 {
			cond = append(cond, c.col+" IN ("+database.Placeholders(len(c.vals))+")")
			condArgs = append(condArgs, c.vals...)
		}
	}
	if len(cond) == 0 {
		return out, nil
	}
	member := "u.status = ? AND u.kind = ? AND (" + strings.Join(cond, " OR ") + ")"
	memberArgs := append([]any{string(enum.UserStatusActive), string(enum.UserKindHuman)}, condArgs...)
	query := `SELECT u.job_title_id, u.department, u.manager_id, '' AS entitlement_id, COUNT(*)
FROM users u WHERE ` + member + `
GROUP BY u.job_title_id, u.department, u.manager_id
UNION ALL
SELECT u.job_title_id, u.department, u.manager_id, g.entitlement_id, COUNT(DISTINCT u.id)
FROM grants g JOIN identities i ON i.id = g.identity_id JOIN users u ON u.id = i.user_id
WHERE g.revoked_at IS NULL AND g.entitlement_id IN (` + database.Placeholders(len(ents)) + `) AND ` + member + `
GROUP BY u.job_title_id, u.department, u.manager_id, g.entitlement_id`
	args := append(append(append([]any{}, memberArgs...), ents...), memberArgs...)
	rows, err := r.db.QueryContext(ctx, database.Bind(r.dialect, query), args...)
	if err != nil {
		return out, fmt.Errorf("count cohorts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			title, manager sql.NullString
			department     string
			entID          string
			n              int
		)
		if err := rows.Scan(&title, &department, &manager, &entID, &n); err != nil {
			return out, fmt.Errorf("count cohorts: %w", err)
		}
		keys := []cohortKey{{rules.CohortJobTitle, title.String}, {rules.CohortDepartment, department}, {rules.CohortManager, manager.String}}
		for _, k := range keys {
			if k.key == "" {
				continue
			}
			if entID == "" {
				out.size[k] += n
			} else {
				out.holders[holderKey{pulid.ID(entID), k.cohort, k.key}] += n
			}
		}
	}
	return out, rows.Err()
}

// Loader batches the insight of the items of one GraphQL operation: one
// Reader.Items call per batch, however many items ask. A batch gathers the
// items that ask within a millisecond; PrimePage makes a whole page one
// batch however its fields are scheduled.
type Loader struct {
	r *Reader
	l *dataloadgen.Loader[pulid.ID, *Insight]

	mu     sync.Mutex
	primed map[any]bool
}

// NewLoader returns a fresh loader over client; make one per operation.
func NewLoader(client *ent.Client) *Loader {
	r := NewReader(client)
	return &Loader{r: r, primed: map[any]bool{}, l: dataloadgen.NewLoader(func(ctx context.Context, ids []pulid.ID) ([]*Insight, []error) {
		byID, err := r.Items(ctx, ids)
		if err != nil {
			return nil, []error{err}
		}
		out := make([]*Insight, len(ids))
		for i, id := range ids {
			out[i] = byID[id]
		}
		return out, nil
	}, dataloadgen.WithWait(time.Millisecond))}
}

// PrimePage computes the insight of the items of a page (page names it,
// ids lists its items) with one Reader.Items call, the first time the page
// is named; later calls, concurrent ones included, wait for it and return.
func (l *Loader) PrimePage(ctx context.Context, page any, ids func() []pulid.ID) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.primed[page] {
		return nil
	}
	byID, err := l.r.Items(ctx, ids())
	if err != nil {
		return err
	}
	l.primed[page] = true
	for id, in := range byID {
		l.l.Prime(id, in)
	}
	return nil
}

// Item returns the insight of an item for the viewer of ctx.
func (l *Loader) Item(ctx context.Context, id pulid.ID) (*Insight, error) {
	return l.l.Load(ctx, id)
}

type loaderKey struct{}

// WithLoader returns a context carrying l.
func WithLoader(ctx context.Context, l *Loader) context.Context {
	return context.WithValue(ctx, loaderKey{}, l)
}

// FromContext returns the loader of ctx, if it carries one (the operations
// of the GraphQL handler do; the events of subscriptions do not).
func FromContext(ctx context.Context) (*Loader, bool) {
	l, ok := ctx.Value(loaderKey{}).(*Loader)
	return l, ok
}
