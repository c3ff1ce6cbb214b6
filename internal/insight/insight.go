// Package insight computes what a reviewer weighs beside a request item
// (issue 15, item 4): how many of the beneficiary's peers hold the
// entitlement (by job title, department and manager), whether the
// beneficiary held it before and when that ended, and the days since the
// beneficiary's start. A page of items costs two statements however long
// it is: one reads the items the viewer may see with their beneficiaries
// and the beneficiaries' grants of the items' entitlements, the other
// counts every cohort and its holders, grouped by (entitlement, cohort).
//
// Whoever sees an item sees its insight: the items are read through
// authz.VisibleItems, the one row filter of RequestItemPolicy. The
// beneficiary's past holdings are told only to those of
// authz.SeesPastHoldings, a reviewer being one with a task on the request
// (authz.Related with authz.Reviewer). The rules themselves (hidden small cohorts, the
// last ended grant, days since start) are pure functions of
// internal/workflow/rules.
package insight

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/vikstrous/dataloadgen"

	"gatehouse/ent"
	"gatehouse/ent/accessrequest"
	"gatehouse/ent/predicate"
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
	if len(ids) == 0 {
		return out, nil
	}
	return out, r.compute(ctx, requestitem.IDIn(ids...), func(it *item, in *Insight) { out[it.id] = in })
}

// Requests computes the insight of the items of the requests, by request
// and item ID, for the viewer of ctx: the items the viewer may see, no
// others. Two statements whatever the number of requests and items. Any
// viewer may call it; without a viewer the answer is empty.
func (r *Reader) Requests(ctx context.Context, requestIDs []pulid.ID) (map[pulid.ID]map[pulid.ID]*Insight, error) {
	out := map[pulid.ID]map[pulid.ID]*Insight{}
	if len(requestIDs) == 0 {
		return out, nil
	}
	return out, r.compute(ctx, requestitem.RequestIDIn(requestIDs...), func(it *item, in *Insight) {
		if out[it.requestID] == nil {
			out[it.requestID] = map[pulid.ID]*Insight{}
		}
		out[it.requestID][it.id] = in
	})
}

// compute computes the insight of the items that which names and the
// viewer of ctx may see, and gives each to put.
func (r *Reader) compute(ctx context.Context, which predicate.RequestItem, put func(*item, *Insight)) error {
	v := authz.FromContext(ctx)
	if v == nil {
		return nil
	}
	items, err := r.loadItems(ctx, v, which)
	if err != nil {
		return err
	}
	counts, err := r.countCohorts(ctx, items)
	if err != nil {
		return err
	}
	now := r.now()
	for _, it := range items {
		in := &Insight{}
		put(it, in)
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
	return nil
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
	id, requestID, entitlementID pulid.ID
	beneficiary                  person
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
// name), whether the viewer reviews the request (the first subquery, that
// names the requests the viewer reviews), and the beneficiaries' grants of
// the items' entitlements (one row per grant); the second subquery names
// the items.
const itemsQuery = `SELECT ri.id, ri.request_id, ri.entitlement_id, u.id, u.status, u.kind, u.job_title_id, jt.name,
 u.department, u.manager_id, m.name, u.start_date,
 CASE WHEN ar.id IN (%s) THEN 1 ELSE 0 END,
 g.granted_at, g.revoked_at, g.revoke_reason
FROM request_items ri
JOIN access_requests ar ON ar.id = ri.request_id
JOIN users u ON u.id = ar.beneficiary_id
LEFT JOIN job_titles jt ON jt.id = u.job_title_id
LEFT JOIN users m ON m.id = u.manager_id
LEFT JOIN identities i ON i.user_id = u.id AND i.application_id = ri.application_id
LEFT JOIN grants g ON g.identity_id = i.id AND g.entitlement_id = ri.entitlement_id
WHERE ri.id IN (%s)`

// loadItems reads the items of which that v may see. Both subqueries are
// authz's own row filters: the items v sees (authz.VisibleItems, that of
// RequestItemPolicy) and the requests v reviews (authz.Related).
func (r *Reader) loadItems(ctx context.Context, v *authz.Viewer, which predicate.RequestItem) ([]*item, error) {
	b := entsql.Dialect(r.dialect)
	ar := entsql.Table(accessrequest.Table)
	reviews := b.Select(ar.C(accessrequest.FieldID)).From(ar)
	authz.Related(authz.Reviewer, v.UserID)(reviews)
	reviewsSQL, args := reviews.Query()
	t := entsql.Table(requestitem.Table)
	visible := b.Select(t.C(requestitem.FieldID)).From(t)
	which(visible)
	authz.VisibleItems(v)(visible)
	visible.SetTotal(len(args)) // after the first subquery's
	visibleSQL, visibleArgs := visible.Query()
	rows, err := r.db.QueryContext(ctx, fmt.Sprintf(itemsQuery, reviewsSQL, visibleSQL), append(args, visibleArgs...)...)
	if err != nil {
		return nil, fmt.Errorf("load items: %w", err)
	}
	defer rows.Close()
	byID := map[pulid.ID]*item{}
	var out []*item
	for rows.Next() {
		var (
			id, reqID, entID, userID, status, kind           string
			jobTitleID, jobTitle, managerID, manager, reason sql.NullString
			department                                       string
			startDate, grantedAt, revokedAt                  sql.NullTime
			reviews                                          int
		)
		if err := rows.Scan(&id, &reqID, &entID, &userID, &status, &kind, &jobTitleID, &jobTitle,
			&department, &managerID, &manager, &startDate, &reviews, &grantedAt, &revokedAt, &reason); err != nil {
			return nil, fmt.Errorf("load items: %w", err)
		}
		it := byID[pulid.ID(id)]
		if it == nil {
			it = &item{id: pulid.ID(id), requestID: pulid.ID(reqID), entitlementID: pulid.ID(entID), viewerReviews: reviews == 1,
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

// Loader batches the insight of the items of one GraphQL operation or
// subscription event, like progress.Loaders batch its completions: a page
// whose items are known primes it with one Reader.Items call (Prime); any
// other item is read with the other items of its request, one
// Reader.Requests call per batch of requests, so that the items of one
// request — a subscription event's, say — are one batch however their
// fields are scheduled. The handler attaches one per operation and one per
// event of a subscription that selects insight (WithLoader); a field
// without one gets a fresh one (LoaderFrom).
type Loader struct {
	r        *Reader
	requests *dataloadgen.Loader[pulid.ID, map[pulid.ID]*Insight]

	mu     sync.Mutex
	primed map[pulid.ID]*Insight
}

// NewLoader returns a fresh loader over client; make one per operation or
// subscription event.
func NewLoader(client *ent.Client) *Loader {
	r := NewReader(client)
	return &Loader{r: r, primed: map[pulid.ID]*Insight{}, requests: dataloadgen.NewLoader(
		func(ctx context.Context, requestIDs []pulid.ID) ([]map[pulid.ID]*Insight, []error) {
			byRequest, err := r.Requests(ctx, requestIDs)
			if err != nil {
				return nil, []error{err}
			}
			out := make([]map[pulid.ID]*Insight, len(requestIDs))
			for i, id := range requestIDs {
				out[i] = byRequest[id]
			}
			return out, nil
		}, dataloadgen.WithWait(time.Millisecond))}
}

// Prime computes the insight of the items of a page with one Reader.Items
// call, for the viewer of ctx, and keeps it for Item.
func (l *Loader) Prime(ctx context.Context, ids []pulid.ID) error {
	if len(ids) == 0 {
		return nil
	}
	byID, err := l.r.Items(ctx, ids)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	maps.Copy(l.primed, byID)
	return nil
}

// Item returns the insight of an item for the viewer of ctx: primed, or
// read with the other items of its request.
func (l *Loader) Item(ctx context.Context, it *ent.RequestItem) (*Insight, error) {
	l.mu.Lock()
	in, ok := l.primed[it.ID]
	l.mu.Unlock()
	if ok {
		return in, nil
	}
	byItem, err := l.requests.Load(ctx, it.RequestID)
	if err != nil {
		return nil, err
	}
	if in := byItem[it.ID]; in != nil {
		return in, nil
	}
	return &Insight{}, nil
}

type loaderKey struct{}

// WithLoader returns a context carrying l.
func WithLoader(ctx context.Context, l *Loader) context.Context {
	return context.WithValue(ctx, loaderKey{}, l)
}

// LoaderFrom returns the loader of ctx, or a fresh one over client when
// there is none.
func LoaderFrom(ctx context.Context, client *ent.Client) *Loader {
	if l, ok := ctx.Value(loaderKey{}).(*Loader); ok {
		return l
	}
	return NewLoader(client)
}
