package progress

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/vikstrous/dataloadgen"

	"gatehouse/ent"
	"gatehouse/ent/reviewpolicy"
	"gatehouse/ent/reviewtask"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/ent/user"
	"gatehouse/internal/workflow"
	"gatehouse/internal/workflow/rules"
)

// TaskCount is the number of one reviewer's tasks of one status.
type TaskCount struct {
	Reviewer pulid.ID
	Status   enum.TaskStatus
	N        int
}

// TaskCounts are the numbers of review tasks of one request by reviewer and
// status, in reviewer then status order: everything completion needs, from
// one grouped query.
type TaskCounts []TaskCount

// Overall is the request's completion: done tasks over all tasks,
// REASSIGNED tasks left out (DESIGN §4.3).
func (c TaskCounts) Overall() rules.Completion {
	return rules.NewCompletion(tally(c, func(TaskCount) bool { return true }))
}

// Of is one reviewer's completion on the request; 0/0 (100%) without tasks.
func (c TaskCounts) Of(reviewer pulid.ID) rules.Completion {
	return rules.NewCompletion(tally(c, func(tc TaskCount) bool { return tc.Reviewer == reviewer }))
}

// Reviewers lists the reviewers with counted tasks, in ID order.
func (c TaskCounts) Reviewers() []pulid.ID {
	var out []pulid.ID
	for _, tc := range c {
		if rules.Counts(tc.Status) && tc.N > 0 && (len(out) == 0 || out[len(out)-1] != tc.Reviewer) {
			out = append(out, tc.Reviewer)
		}
	}
	return out
}

func tally(c TaskCounts, of func(TaskCount) bool) (done, total int) {
	for _, tc := range c {
		if !of(tc) {
			continue
		}
		if rules.Counts(tc.Status) {
			total += tc.N
		}
		if rules.IsDone(tc.Status) {
			done += tc.N
		}
	}
	return done, total
}

// CountTasks counts the tasks of the requests with one grouped query. The
// caller has checked that the viewer may see the requests. The rows are
// scanned by hand: ent's grouped Scan fills a slice by reflection, which a
// page of 50 requests paid for with ~50 KB.
func CountTasks(ctx context.Context, client *ent.Client, requestIDs []pulid.ID) (map[pulid.ID]TaskCounts, error) {
	out := make(map[pulid.ID]TaskCounts, len(requestIDs))
	if len(requestIDs) == 0 {
		return out, nil
	}
	t := entsql.Table(reviewtask.Table)
	s := entsql.Dialect(client.Dialect()).
		Select(t.C(reviewtask.FieldRequestID), t.C(reviewtask.FieldReviewerID), t.C(reviewtask.FieldStatus), entsql.Count("*")).
		From(t)
	query, args := s.Where(ent.OneOf(s, t.C(reviewtask.FieldRequestID), requestIDs)).
		GroupBy(t.C(reviewtask.FieldRequestID), t.C(reviewtask.FieldReviewerID), t.C(reviewtask.FieldStatus)).
		Query()
	rows, err := client.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("count tasks: %w", err)
	}
	defer rows.Close()
	var request pulid.ID
	var tc TaskCount
	for rows.Next() {
		if err := rows.Scan(&request, &tc.Reviewer, &tc.Status, &tc.N); err != nil {
			return nil, fmt.Errorf("count tasks: %w", err)
		}
		out[request] = append(out[request], tc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count tasks: %w", err)
	}
	for _, c := range out {
		slices.SortFunc(c, func(a, b TaskCount) int {
			return cmp.Or(cmp.Compare(a.Reviewer, b.Reviewer), cmp.Compare(a.Status, b.Status))
		})
	}
	return out, nil
}

// Loaders batch the reads of one GraphQL operation: task counts by request,
// users and review policies by ID, the outcomes of the policy rules that
// decided items by item, one query per batch however many objects ask.
type Loaders struct {
	tasks          *dataloadgen.Loader[pulid.ID, TaskCounts]
	users          *dataloadgen.Loader[pulid.ID, *ent.User]
	reviewPolicies *dataloadgen.Loader[pulid.ID, *ent.ReviewPolicy]
	ruleOutcomes   *dataloadgen.Loader[pulid.ID, *enum.PolicyRuleOutcome]
}

// NewLoaders returns fresh loaders; make one set per operation.
func NewLoaders(client *ent.Client) *Loaders {
	return &Loaders{
		tasks: dataloadgen.NewLoader(func(ctx context.Context, ids []pulid.ID) ([]TaskCounts, []error) {
			counts, err := CountTasks(ctx, client, ids)
			if err != nil {
				return nil, []error{err}
			}
			out := make([]TaskCounts, len(ids))
			for i, id := range ids {
				out[i] = counts[id]
			}
			return out, nil
		}, dataloadgen.WithWait(time.Millisecond)),
		users: dataloadgen.NewLoader(func(ctx context.Context, ids []pulid.ID) ([]*ent.User, []error) {
			us, err := client.User.Query().Where(user.IDIn(ids...)).All(ctx)
			return inOrder(ids, us, err, func(u *ent.User) pulid.ID { return u.ID })
		}, dataloadgen.WithWait(time.Millisecond)),
		reviewPolicies: dataloadgen.NewLoader(func(ctx context.Context, ids []pulid.ID) ([]*ent.ReviewPolicy, []error) {
			rps, err := client.ReviewPolicy.Query().Where(reviewpolicy.IDIn(ids...)).All(ctx)
			return inOrder(ids, rps, err, func(rp *ent.ReviewPolicy) pulid.ID { return rp.ID })
		}, dataloadgen.WithWait(time.Millisecond)),
		ruleOutcomes: dataloadgen.NewLoader(func(ctx context.Context, ids []pulid.ID) ([]*enum.PolicyRuleOutcome, []error) {
			byItem, err := workflow.RuleOutcomes(ctx, client, ids)
			if err != nil {
				return nil, []error{err}
			}
			out := make([]*enum.PolicyRuleOutcome, len(ids))
			for i, id := range ids {
				if o, ok := byItem[id]; ok {
					out[i] = &o
				}
			}
			return out, nil
		}, dataloadgen.WithWait(time.Millisecond)),
	}
}

// inOrder puts the rows a batch read in the order of ids, a not-found
// error for each ID without one.
func inOrder[T any](ids []pulid.ID, rows []*T, err error, id func(*T) pulid.ID) ([]*T, []error) {
	if err != nil {
		return nil, []error{err}
	}
	byID := make(map[pulid.ID]*T, len(rows))
	for _, r := range rows {
		byID[id(r)] = r
	}
	out := make([]*T, len(ids))
	errs := make([]error, len(ids))
	for i, id := range ids {
		if out[i] = byID[id]; out[i] == nil {
			errs[i] = &ent.NotFoundError{}
		}
	}
	return out, errs
}

// TaskCounts returns the task counts of a request.
func (l *Loaders) TaskCounts(ctx context.Context, requestID pulid.ID) (TaskCounts, error) {
	return l.tasks.Load(ctx, requestID)
}

// PrimeTaskCounts counts the tasks of a page of requests with one query and
// primes the loader, so that the page's completions cost one statement
// however their resolvers are scheduled.
func (l *Loaders) PrimeTaskCounts(ctx context.Context, client *ent.Client, requestIDs []pulid.ID) error {
	if len(requestIDs) == 0 {
		return nil
	}
	counts, err := CountTasks(ctx, client, requestIDs)
	if err != nil {
		return err
	}
	for _, id := range requestIDs {
		l.tasks.Prime(id, counts[id])
	}
	return nil
}

// User returns a user, with the privacy of ctx.
func (l *Loaders) User(ctx context.Context, id pulid.ID) (*ent.User, error) {
	return l.users.Load(ctx, id)
}

// ReviewPolicy returns a review policy, with the privacy of ctx
// (authz.ReviewPolicyPolicy).
func (l *Loaders) ReviewPolicy(ctx context.Context, id pulid.ID) (*ent.ReviewPolicy, error) {
	return l.reviewPolicies.Load(ctx, id)
}

// RuleOutcome returns the outcome of the policy rule that decided an item
// at submission (workflow.RuleOutcomes), nil when none did, with the
// privacy of ctx.
func (l *Loaders) RuleOutcome(ctx context.Context, itemID pulid.ID) (*enum.PolicyRuleOutcome, error) {
	return l.ruleOutcomes.Load(ctx, itemID)
}

// Users returns users in the order of ids, with the privacy of ctx, in one
// batch; the error is that of the first user that failed to load.
func (l *Loaders) Users(ctx context.Context, ids []pulid.ID) ([]*ent.User, error) {
	users, err := l.users.LoadAll(ctx, ids)
	var errs dataloadgen.ErrorSlice
	if errors.As(err, &errs) {
		for _, e := range errs {
			if e != nil {
				return nil, e
			}
		}
	}
	return users, err
}

type loadersKey struct{}

// WithLoaders returns a context carrying l.
func WithLoaders(ctx context.Context, l *Loaders) context.Context {
	return context.WithValue(ctx, loadersKey{}, l)
}

// LoadersFrom returns the loaders of ctx, or fresh ones over client when
// there are none.
func LoadersFrom(ctx context.Context, client *ent.Client) *Loaders {
	if l, ok := ctx.Value(loadersKey{}).(*Loaders); ok {
		return l
	}
	return NewLoaders(client)
}
