package main

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"gatehouse/ent"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/authz"
	"gatehouse/internal/server"
	"gatehouse/internal/workflow"
)

// The data set's shape. Every application is MANUAL (no connector, so a
// decision starts no outside work) and reviewed in two stages: the
// requester's manager, then the application's owners (ANY). The three
// "ledger" applications have two owners, so an item has 3 tasks; the wiki
// has one owner, 2 tasks. Requests have 2 items, 7 in 50 have one, and the
// first 39 in 2,000 have a wiki item: 2,000 requests make 3,720 items and
// 11,121 tasks, the data set of issue 12.
const (
	members         = 200 // requesters, each reporting to one of the managers
	managers        = 20
	ledgerApps      = 3
	ledgerEnts      = 10 // per ledger application
	wikiEnts        = 10
	submitEnts      = 100 // of the application the submit rounds request
	singleItemPer50 = 7
	wikiItemsPer2k  = 39
)

// dataSet is what the seed made and what the rounds need.
type dataSet struct {
	auditor  *ent.User // a risk manager: reads every request (the nested query's viewer)
	members  []*ent.User
	submit   []pulid.ID // entitlements of the submit application
	nextPair atomic.Int64

	requests, items, tasks int
	took                   time.Duration
}

// seed creates the organisation and submits n requests through the
// workflow, as the API does (same checks, stages, tasks, audit rows and
// jobs), as their requesters. The shape depends only on n; IDs are ULIDs
// and differ between runs.
func seed(ctx context.Context, srv *server.Server, db *sql.DB, n int) (*dataSet, error) {
	start := time.Now()
	sys := authz.SystemContext(ctx)
	c := srv.Client
	ds := &dataSet{}
	user := func(email, name string, role enum.PlatformRole, manager *ent.User) (*ent.User, error) {
		b := c.User.Create().SetEmail(email).SetName(name).SetPlatformRole(role).SetDepartment("Bench")
		if manager != nil {
			b.SetManagerID(manager.ID)
		}
		return b.Save(sys)
	}
	var err error
	if ds.auditor, err = user("auditor@bench.example", "Audrey Auditor", enum.PlatformRoleRiskManager, nil); err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	if _, err = user("admin@bench.example", "Adam Admin", enum.PlatformRoleITAdmin, nil); err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	mgrs := make([]*ent.User, managers)
	for i := range mgrs {
		if mgrs[i], err = user(fmt.Sprintf("manager-%02d@bench.example", i), fmt.Sprintf("Manager %02d", i), enum.PlatformRoleUser, nil); err != nil {
			return nil, fmt.Errorf("seed: %w", err)
		}
	}
	ds.members = make([]*ent.User, members)
	for i := range ds.members {
		if ds.members[i], err = user(fmt.Sprintf("member-%03d@bench.example", i), fmt.Sprintf("Member %03d", i), enum.PlatformRoleUser, mgrs[i%managers]); err != nil {
			return nil, fmt.Errorf("seed: %w", err)
		}
	}
	app := func(name string, owners, ents int) ([]pulid.ID, error) {
		var ownerIDs []pulid.ID
		for i := range owners {
			o, err := user(fmt.Sprintf("owner-%d@%s.bench.example", i, name), fmt.Sprintf("%s owner %d", name, i), enum.PlatformRoleUser, nil)
			if err != nil {
				return nil, err
			}
			ownerIDs = append(ownerIDs, o.ID)
		}
		a, err := c.Application.Create().SetName(name).SetDescription("Benchmark application " + name).
			SetFulfillment(enum.FulfillmentManual).SetConnectorKind(enum.ConnectorKindManual).
			SetConnectorConfig(map[string]any{}).AddOwnerIDs(ownerIDs...).Save(sys)
		if err != nil {
			return nil, err
		}
		for level, kind := range []enum.ReviewerKind{enum.ReviewerKindManager, enum.ReviewerKindApplicationOwner} {
			if _, err := c.ReviewStageTemplate.Create().SetApplicationID(a.ID).SetLevel(level + 1).
				SetReviewerKind(kind).SetRule(enum.StageRuleAny).Save(sys); err != nil {
				return nil, err
			}
		}
		builders := make([]*ent.EntitlementCreate, ents)
		for i := range builders {
			builders[i] = c.Entitlement.Create().SetApplicationID(a.ID).
				SetExternalID(fmt.Sprintf("%s-%02d", name, i)).SetName(fmt.Sprintf("%s role %02d", name, i)).
				SetDescription("Benchmark entitlement").SetKind(enum.EntitlementKindRole)
		}
		created, err := c.Entitlement.CreateBulk(builders...).Save(sys)
		if err != nil {
			return nil, err
		}
		ids := make([]pulid.ID, len(created))
		for i, e := range created {
			ids[i] = e.ID
		}
		return ids, nil
	}
	var ledger []pulid.ID
	for i := range ledgerApps {
		ids, err := app(fmt.Sprintf("ledger%d", i+1), 2, ledgerEnts)
		if err != nil {
			return nil, fmt.Errorf("seed: %w", err)
		}
		ledger = append(ledger, ids...)
	}
	wiki, err := app("wiki", 1, wikiEnts)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	if ds.submit, err = app("tickets", 2, submitEnts); err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}

	// Request i is member i%members's; each member takes the ledger
	// entitlements in turn, so no entitlement is asked twice for one person.
	plans := make([]struct {
		requester *ent.User
		ents      []pulid.ID
	}, n)
	used := make([]int, members)
	wikiItems := (wikiItemsPer2k*n + 1000) / 2000
	for i := range plans {
		m := i % members
		p := &plans[i]
		p.requester = ds.members[m]
		count := 2
		if i%50 < singleItemPer50 {
			count = 1
		}
		if i < wikiItems {
			p.ents = append(p.ents, wiki[i%wikiEnts])
			count--
		}
		for range count {
			if used[m] >= len(ledger) {
				return nil, fmt.Errorf("seed: %d requests need more entitlements than the data set has", n)
			}
			p.ents = append(p.ents, ledger[used[m]])
			used[m]++
		}
	}
	submitOne := func(i int) error {
		p := plans[i]
		vctx := authz.NewContext(ctx, &authz.Viewer{UserID: p.requester.ID, Role: enum.PlatformRoleUser})
		just := "benchmark"
		_, err := srv.Workflow.Submit(vctx, workflow.SubmitInput{
			Action: enum.RequestActionGrant, EntitlementIDs: p.ents, Justification: &just,
		}, nil)
		if err != nil {
			return fmt.Errorf("seed: request %d: %w", i, err)
		}
		return nil
	}
	// The first page is submitted in order, so the nested query reads the
	// same shape in every run; the rest in parallel.
	ordered := min(n, 64)
	for i := range ordered {
		if err := submitOne(i); err != nil {
			return nil, err
		}
	}
	var (
		wg    sync.WaitGroup
		next  atomic.Int64
		errMu sync.Mutex
		first error
	)
	next.Store(int64(ordered))
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := submitOne(i); err != nil {
					errMu.Lock()
					first = err
					errMu.Unlock()
					next.Store(int64(n))
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	ds.took = time.Since(start)
	if _, err := ds.count(ctx, db); err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	return ds, nil
}

// count sets the data set's row counts from the database, and returns its
// audit events.
func (ds *dataSet) count(ctx context.Context, db *sql.DB) (auditEvents int, err error) {
	row := db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM access_requests), (SELECT count(*) FROM request_items),
		(SELECT count(*) FROM review_tasks), (SELECT count(*) FROM audit_events)`)
	if err := row.Scan(&ds.requests, &ds.items, &ds.tasks, &auditEvents); err != nil {
		return 0, fmt.Errorf("count: %w", err)
	}
	return auditEvents, nil
}

// nextSubmission returns a member and an entitlement of the submit
// application that no earlier submission asked for.
func (ds *dataSet) nextSubmission() (*ent.User, pulid.ID, bool) {
	k := int(ds.nextPair.Add(1) - 1)
	if k >= members*len(ds.submit) {
		return nil, "", false
	}
	return ds.members[k%members], ds.submit[k/members], true
}

// pendingTask is a task some reviewer may decide now.
type pendingTask struct {
	id, reviewer string
}

// pendingTasks returns one PENDING task per request (so that concurrent
// decisions never race for one stage), oldest request first.
func pendingTasks(ctx context.Context, db *sql.DB) ([]pendingTask, error) {
	rows, err := db.QueryContext(ctx, `SELECT DISTINCT ON (request_id) id, reviewer_id FROM review_tasks
		WHERE status = 'PENDING' ORDER BY request_id, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []pendingTask
	for rows.Next() {
		var t pendingTask
		if err := rows.Scan(&t.id, &t.reviewer); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
