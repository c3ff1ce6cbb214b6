package workflow

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"gatehouse/ent"
	"gatehouse/ent/entitlement"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/ent/sodacceptance"
	"gatehouse/ent/sodconflictset"
	"gatehouse/ent/user"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
	"gatehouse/internal/database"
	"gatehouse/internal/errcode"
	"gatehouse/internal/workflow/rules"
)

// SodSetInput creates a separation-of-duties conflict set.
type SodSetInput struct {
	Name           string
	Description    *string
	Mode           enum.SodMode
	EntitlementIDs []pulid.ID
}

// SodSetUpdate changes a conflict set; a nil field keeps its value, and
// EntitlementIDs (when not nil) replaces the set's entitlements.
type SodSetUpdate struct {
	Name           *string
	Description    *string
	Mode           *enum.SodMode
	EntitlementIDs []pulid.ID
}

// sodManager is what managing conflict sets needs: IT admins or risk
// managers, with a WRITE token.
var sodManager = authz.Need{Role: authz.Auditor, Write: true, To: "manage separation-of-duties conflict sets"}

// CreateSodConflictSet creates a conflict set. IT admins and risk
// managers, with a WRITE token; audited on the system chain
// (CATALOG_CHANGED, entity SodConflictSet). Errors: UNAUTHENTICATED,
// FORBIDDEN, INVALID_INPUT naming the field (rules.CheckSodSet), NOT_FOUND
// (entitlementIds: an unknown entitlement), CONFLICT (name: taken).
func (s *Service) CreateSodConflictSet(ctx context.Context, in SodSetInput) (*ent.SodConflictSet, error) {
	if _, err := authz.Require(ctx, sodManager); err != nil {
		return nil, err
	}
	if err := rules.CheckSodSet(in.Name, in.Mode, in.EntitlementIDs); err != nil {
		return nil, err
	}
	var id pulid.ID
	err := s.inTx(ctx, func(ctx context.Context, t *txn) error {
		if err := checkSodSetInput(ctx, t.client, "", &in.Name, in.EntitlementIDs); err != nil {
			return err
		}
		set, err := t.client.SodConflictSet.Create().SetName(in.Name).SetNillableDescription(in.Description).
			SetMode(in.Mode).AddEntitlementIDs(in.EntitlementIDs...).Save(ctx)
		if err != nil {
			return fmt.Errorf("create conflict set: %w", err)
		}
		id = set.ID
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create conflict set: %w", err)
	}
	return s.client.SodConflictSet.Get(ctx, id)
}

// UpdateSodConflictSet changes a conflict set. Conflicts already recorded
// on items keep what they recorded; the change applies to later checks.
// Who may call, the audit and the errors are those of
// CreateSodConflictSet, plus NOT_FOUND (id).
func (s *Service) UpdateSodConflictSet(ctx context.Context, id pulid.ID, in SodSetUpdate) (*ent.SodConflictSet, error) {
	if _, err := authz.Require(ctx, sodManager); err != nil {
		return nil, err
	}
	err := s.inTx(ctx, func(ctx context.Context, t *txn) error {
		set, err := t.client.SodConflictSet.Query().Where(sodconflictset.ID(id)).WithEntitlements().Only(ctx)
		if ent.IsNotFound(err) {
			return &errcode.Error{Code: errcode.NotFound, Field: "id", Message: "id: no such conflict set"}
		}
		if err != nil {
			return fmt.Errorf("load conflict set: %w", err)
		}
		name, mode, ents := set.Name, set.Mode, in.EntitlementIDs
		if in.Name != nil {
			name = *in.Name
		}
		if in.Mode != nil {
			mode = *in.Mode
		}
		if ents == nil {
			for _, e := range set.Edges.Entitlements {
				ents = append(ents, e.ID)
			}
		}
		if err := rules.CheckSodSet(name, mode, ents); err != nil {
			return err
		}
		if err := checkSodSetInput(ctx, t.client, id, in.Name, in.EntitlementIDs); err != nil {
			return err
		}
		upd := set.Update().SetNillableName(in.Name).SetNillableDescription(in.Description).SetNillableMode(in.Mode)
		if in.EntitlementIDs != nil {
			upd.ClearEntitlements().AddEntitlementIDs(in.EntitlementIDs...)
		}
		return upd.Exec(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("update conflict set: %w", err)
	}
	return s.client.SodConflictSet.Get(ctx, id)
}

// DeleteSodConflictSet deletes a conflict set and the acceptances of its
// conflicts (each audited as SOD_ACCEPTANCE_REVOKED). Conflicts recorded on
// items stay. Who may call and the audit are those of
// CreateSodConflictSet. Errors: UNAUTHENTICATED, FORBIDDEN, NOT_FOUND.
func (s *Service) DeleteSodConflictSet(ctx context.Context, id pulid.ID) error {
	if _, err := authz.Require(ctx, sodManager); err != nil {
		return err
	}
	err := s.inTx(ctx, func(ctx context.Context, t *txn) error {
		accepted, err := t.client.SodAcceptance.Query().Where(sodacceptance.ConflictSetID(id)).IDs(ctx)
		if err != nil {
			return fmt.Errorf("load acceptances: %w", err)
		}
		for _, a := range accepted {
			if err := t.client.SodAcceptance.DeleteOneID(a).Exec(ctx); err != nil {
				return fmt.Errorf("delete acceptance: %w", err)
			}
		}
		err = t.client.SodConflictSet.DeleteOneID(id).Exec(ctx)
		if ent.IsNotFound(err) {
			return &errcode.Error{Code: errcode.NotFound, Field: "id", Message: "id: no such conflict set"}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete conflict set: %w", err)
	}
	return nil
}

// checkSodSetInput checks, for the set id (empty for a new one), that a
// new name is free and that every listed entitlement exists.
func checkSodSetInput(ctx context.Context, client *ent.Client, id pulid.ID, name *string, ents []pulid.ID) error {
	if name != nil {
		taken, err := client.SodConflictSet.Query().Where(sodconflictset.Name(*name), sodconflictset.IDNEQ(id)).Exist(ctx)
		if err != nil {
			return fmt.Errorf("find conflict set by name: %w", err)
		}
		if taken {
			return errcode.Duplicate("name", "a conflict set is already named %q", *name)
		}
	}
	if len(ents) == 0 {
		return nil
	}
	found, err := client.Entitlement.Query().Where(entitlement.IDIn(ents...)).IDs(ctx)
	if err != nil {
		return fmt.Errorf("load entitlements: %w", err)
	}
	for _, e := range ents {
		if !slices.Contains(found, e) {
			return &errcode.Error{Code: errcode.NotFound, Field: "entitlementIds", Message: fmt.Sprintf("entitlementIds: no entitlement %s", e)}
		}
	}
	return nil
}

// AcceptSodConflict records that a risk manager accepts, for the user
// userID and with a reason, the conflicts of the set setID until until
// (nil: for good): the set then no longer blocks that user's requests, and
// their conflicts are shown to reviewers as accepted, by whom and why.
// Accepting again replaces the earlier acceptance. Items already refused
// stay refused (submit again); an item whose fulfilment the set stopped is
// fulfilled on retryFulfillment. Risk managers only, with a WRITE token,
// never for themselves; audited on the system chain
// (SOD_CONFLICT_ACCEPTED with the reason). Errors: UNAUTHENTICATED,
// FORBIDDEN (not a risk manager; their own conflict), NOT_FOUND
// (conflictSetId, userId), INVALID_INPUT (reason empty, until not in the
// future).
func (s *Service) AcceptSodConflict(ctx context.Context, setID, userID pulid.ID, reason string, until *time.Time) (*ent.SodAcceptance, error) {
	v, err := authz.Require(ctx, authz.Need{Role: authz.RiskManager, Write: true, To: "accept separation-of-duties conflicts"})
	if err != nil {
		return nil, err
	}
	if userID == v.UserID {
		return nil, errcode.New(errcode.Forbidden, "a risk manager cannot accept a conflict of their own")
	}
	reason = strings.TrimSpace(reason)
	if err := rules.CheckSodAcceptance(reason, until, s.now()); err != nil {
		return nil, err
	}
	var id pulid.ID
	err = s.inTx(ctx, func(ctx context.Context, t *txn) error {
		if ok, err := t.client.SodConflictSet.Query().Where(sodconflictset.ID(setID)).Exist(ctx); err != nil || !ok {
			return notFound(err, "conflictSetId", "conflict set")
		}
		if ok, err := t.client.User.Query().Where(user.ID(userID)).Exist(ctx); err != nil || !ok {
			return notFound(err, "userId", "user")
		}
		if err := s.lockKey(ctx, t, "sod-acceptance/"+string(setID)+"/"+string(userID)); err != nil {
			return fmt.Errorf("lock acceptance: %w", err)
		}
		prev, err := t.client.SodAcceptance.Query().
			Where(sodacceptance.ConflictSetID(setID), sodacceptance.UserID(userID)).Only(ctx)
		switch {
		case ent.IsNotFound(err):
			a, err := t.client.SodAcceptance.Create().SetConflictSetID(setID).SetUserID(userID).
				SetAcceptedByID(v.UserID).SetReason(reason).SetNillableUntil(until).Save(ctx)
			if err != nil {
				return fmt.Errorf("create acceptance: %w", err)
			}
			id = a.ID
			return nil
		case err != nil:
			return fmt.Errorf("load acceptance: %w", err)
		}
		upd := prev.Update().SetAcceptedByID(v.UserID).SetReason(reason).SetNillableUntil(until)
		if until == nil {
			upd.ClearUntil()
		}
		id = prev.ID
		return upd.Exec(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("accept conflict: %w", err)
	}
	return s.client.SodAcceptance.Get(ctx, id)
}

// RevokeSodAcceptance withdraws an acceptance: the set blocks the user's
// requests again from now on. Risk managers only, with a WRITE token;
// audited (SOD_ACCEPTANCE_REVOKED). Errors: UNAUTHENTICATED, FORBIDDEN,
// NOT_FOUND.
func (s *Service) RevokeSodAcceptance(ctx context.Context, id pulid.ID) error {
	if _, err := authz.Require(ctx, authz.Need{Role: authz.RiskManager, Write: true, To: "revoke separation-of-duties acceptances"}); err != nil {
		return err
	}
	err := s.inTx(ctx, func(ctx context.Context, t *txn) error {
		err := t.client.SodAcceptance.DeleteOneID(id).Exec(ctx)
		if ent.IsNotFound(err) {
			return &errcode.Error{Code: errcode.NotFound, Field: "id", Message: "id: no such acceptance"}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke acceptance: %w", err)
	}
	return nil
}

// sodState is what the separation-of-duties check read for a beneficiary:
// the sets that list a requested entitlement (with the acceptance of each
// for the beneficiary), the names of their entitlements, and which of them
// the beneficiary holds or has pending.
type sodState struct {
	sets    []rules.SodSet
	names   map[pulid.ID]enum.SodEntitlement
	held    []pulid.ID
	pending []pulid.ID
}

// loadSod reads, with one statement, the conflict sets that list any of
// requested, with every entitlement of each and whether the beneficiary
// holds it (an active grant) or has it pending (a GRANT item in one of
// pendingStatuses, the item skip left out), and each set's acceptance for
// the beneficiary. Nothing is read when requested is empty.
func (s *Service) loadSod(ctx context.Context, client *ent.Client, beneficiary pulid.ID, requested []pulid.ID, skip pulid.ID, pendingStatuses []enum.ItemStatus) (*sodState, error) {
	st := &sodState{names: map[pulid.ID]enum.SodEntitlement{}}
	if len(requested) == 0 {
		return st, nil
	}
	args := []any{string(beneficiary), string(beneficiary), string(enum.RequestActionGrant)}
	for _, status := range pendingStatuses {
		args = append(args, string(status))
	}
	args = append(args, string(skip), string(beneficiary))
	for _, id := range requested {
		args = append(args, string(id))
	}
	q := `SELECT s.id, s.name, s.mode, m.entitlement_id, e.name, a.name,
  CASE WHEN EXISTS (SELECT 1 FROM grants g JOIN identities i ON i.id = g.identity_id
    WHERE i.user_id = ? AND g.revoked_at IS NULL AND g.entitlement_id = m.entitlement_id) THEN 1 ELSE 0 END,
  CASE WHEN EXISTS (SELECT 1 FROM request_items ri JOIN access_requests r ON r.id = ri.request_id
    WHERE r.beneficiary_id = ? AND ri.action = ? AND ri.status IN (` + database.Placeholders(len(pendingStatuses)) + `)
      AND ri.entitlement_id = m.entitlement_id AND ri.id <> ?) THEN 1 ELSE 0 END,
  sa.id, sa.reason, sa.until, sa.created_at, sa.accepted_by_id, u.name
FROM sod_conflict_sets s
JOIN sod_conflict_set_entitlements m ON m.sod_conflict_set_id = s.id
JOIN entitlements e ON e.id = m.entitlement_id
JOIN applications a ON a.id = e.application_id
LEFT JOIN sod_acceptances sa ON sa.conflict_set_id = s.id AND sa.user_id = ?
LEFT JOIN users u ON u.id = sa.accepted_by_id
WHERE s.id IN (SELECT sod_conflict_set_id FROM sod_conflict_set_entitlements WHERE entitlement_id IN (` + database.Placeholders(len(requested)) + `))
ORDER BY s.name, s.id, e.name, m.entitlement_id`
	rows, err := client.QueryContext(ctx, database.Bind(s.dialect, q), args...)
	if err != nil {
		return nil, fmt.Errorf("load conflict sets: %w", err)
	}
	defer rows.Close()
	bySet := map[pulid.ID]int{}
	for rows.Next() {
		var (
			setID, setName, mode, entID, entName, appName string
			held, pending                                 int
			accID, reason, byID, byName                   sql.NullString
			until, at                                     sql.NullTime
		)
		if err := rows.Scan(&setID, &setName, &mode, &entID, &entName, &appName, &held, &pending,
			&accID, &reason, &until, &at, &byID, &byName); err != nil {
			return nil, fmt.Errorf("load conflict sets: %w", err)
		}
		i, ok := bySet[pulid.ID(setID)]
		if !ok {
			i = len(st.sets)
			bySet[pulid.ID(setID)] = i
			set := rules.SodSet{ID: pulid.ID(setID), Name: setName, Mode: enum.SodMode(mode)}
			if accID.Valid {
				set.Acceptance = &enum.SodAcceptanceRef{ID: pulid.ID(accID.String), AcceptedByID: pulid.ID(byID.String),
					AcceptedByName: byName.String, Reason: reason.String, Until: timeOrNil(until), At: at.Time.UTC()}
			}
			st.sets = append(st.sets, set)
		}
		e := pulid.ID(entID)
		st.sets[i].Entitlements = append(st.sets[i].Entitlements, e)
		st.names[e] = enum.SodEntitlement{ID: e, Name: entName, Application: appName}
		if held == 1 && !slices.Contains(st.held, e) {
			st.held = append(st.held, e)
		}
		if pending == 1 && !slices.Contains(st.pending, e) {
			st.pending = append(st.pending, e)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load conflict sets: %w", err)
	}
	return st, nil
}

// record is the conflict h as recorded on an item found at checkpoint.
func (st *sodState) record(h rules.SodHit, checkpoint enum.SodCheckpoint) enum.SodConflict {
	c := enum.SodConflict{ConflictSetID: h.Set.ID, Name: h.Set.Name, Mode: h.Set.Mode, Checkpoint: checkpoint}
	for _, m := range h.Entitlements {
		e := st.names[m.ID]
		e.Via = m.Via
		c.Entitlements = append(c.Entitlements, e)
	}
	if h.Accepted {
		c.Acceptance = h.Set.Acceptance
	}
	return c
}

// name is an entitlement as SOD_CONFLICT messages name it.
func (st *sodState) name(id pulid.ID) string {
	e := st.names[id]
	return fmt.Sprintf("%q of %s", e.Name, e.Application)
}

// checkSod finds the separation-of-duties conflicts of the GRANT items of
// p (rules.SodConflicts) against the beneficiary's grants, their GRANT
// items open in other requests and the other items of p, with one
// statement, and records them on the items; the first blocking conflict is
// kept for Plan.SodError. For a caller who may not read the beneficiary's
// grants (precise false), only the items of p are compared with each
// other, so that neither a refusal nor a warning tells what the
// beneficiary holds or has pending; the check before fulfilment compares
// the rest. listed are the requested entitlements that a conflict set
// lists (loadRuleSet): with none, no item can conflict and nothing more is
// read.
func (s *Service) checkSod(ctx context.Context, client *ent.Client, p *Plan, listed []pulid.ID, precise bool, now time.Time) error {
	if len(listed) == 0 {
		return nil
	}
	var requested []pulid.ID
	for _, it := range p.Items {
		if it.Action == enum.RequestActionGrant {
			requested = append(requested, it.Entitlement.ID)
		}
	}
	st, err := s.loadSod(ctx, client, p.Beneficiary.ID, requested, "", openItemStatuses)
	if err != nil {
		return err
	}
	if len(st.sets) == 0 {
		return nil
	}
	f := rules.SodFacts{Requested: requested}
	if precise {
		f.Held, f.Pending = st.held, st.pending
	}
	hits := rules.SodConflicts(st.sets, f, now)
	for i := range p.Items {
		it := &p.Items[i]
		if it.Action != enum.RequestActionGrant {
			continue
		}
		for _, h := range hits[it.Entitlement.ID] {
			it.SodConflicts = append(it.SodConflicts, st.record(h, enum.SodCheckpointSubmission))
			if h.Blocks() && p.sodBlock == nil {
				p.sodBlock = rules.SodBlocked(h, p.Beneficiary.Email, st.name)
			}
		}
	}
	return nil
}

// SodError is the SOD_CONFLICT error of the plan's first blocking
// separation-of-duties conflict, nil when none blocks: submission refuses
// it, preview lists it among its errors.
func (p *Plan) SodError() error { return p.sodBlock }

// sodEvents are the SOD_CONFLICT_WARNED events of an item's conflicts (at
// submission none blocks).
func sodEvents(action audit.Action, requestID, itemID pulid.ID, conflicts []enum.SodConflict) []audit.Event {
	out := make([]audit.Event, 0, len(conflicts))
	for _, c := range conflicts {
		out = append(out, audit.Event{Action: action, RequestID: &requestID, ItemID: &itemID, Data: sodData(c)})
	}
	return out
}

// sodData is a conflict as audit data.
func sodData(c enum.SodConflict) map[string]any {
	ents := make([]any, len(c.Entitlements))
	for i, e := range c.Entitlements {
		ents[i] = map[string]any{"entitlement": string(e.ID), "name": e.Name, "application": e.Application, "via": string(e.Via)}
	}
	d := map[string]any{"conflictSet": string(c.ConflictSetID), "name": c.Name, "mode": string(c.Mode),
		"checkpoint": string(c.Checkpoint), "entitlements": ents}
	if a := c.Acceptance; a != nil {
		acc := map[string]any{"acceptance": string(a.ID), "acceptedBy": string(a.AcceptedByID), "reason": a.Reason}
		if a.Until != nil {
			acc["until"] = a.Until.UTC().Format(time.RFC3339)
		}
		d["accepted"] = acc
	}
	return d
}

// sodBeforeFulfillment checks a GRANT item again right before its
// fulfilment, in the transaction that starts it, against the
// beneficiary's grants and their items being fulfilled (a grant made since
// submission, by another request or outside Gatehouse, makes a conflict
// the submission could not see). Fulfilments of one beneficiary's items
// are serialised on a lock. A conflict not recorded on the item yet is
// added to it (SOD_CONFLICT_WARNED); a blocking one marks the item FAILED
// with a SOD_CONFLICT last error (SOD_CONFLICT_BLOCKED, then
// FULFILLMENT_FAILED with code SOD_CONFLICT), and blocked is true: a risk
// manager's acceptance and retryFulfillment (or a new request) follow.
// beneficiary is the item's request's beneficiary.
func (s *Service) sodBeforeFulfillment(ctx context.Context, t *txn, item *ent.RequestItem, beneficiary *ent.User) (blocked bool, err error) {
	if item.Action != enum.RequestActionGrant {
		return false, nil
	}
	if err := s.lockKey(ctx, t, "sod/"+string(beneficiary.ID)); err != nil {
		return false, fmt.Errorf("lock beneficiary: %w", err)
	}
	st, err := s.loadSod(ctx, t.client, beneficiary.ID, []pulid.ID{item.EntitlementID}, item.ID, []enum.ItemStatus{enum.ItemStatusFulfilling})
	if err != nil || len(st.sets) == 0 {
		return false, err
	}
	hits := rules.SodConflicts(st.sets, rules.SodFacts{Held: st.held, Pending: st.pending, Requested: []pulid.ID{item.EntitlementID}}, s.now())
	var (
		added  []enum.SodConflict
		events []audit.Event
		block  error
	)
	for _, h := range hits[item.EntitlementID] {
		c := st.record(h, enum.SodCheckpointFulfillment)
		if h.Blocks() {
			if block == nil {
				block = rules.SodBlocked(h, beneficiary.Email, st.name)
			}
			added = append(added, c)
			events = append(events, sodEvents(audit.SodConflictBlocked, item.RequestID, item.ID, []enum.SodConflict{c})...)
			continue
		}
		if slices.ContainsFunc(item.SodConflicts, func(o enum.SodConflict) bool {
			return o.ConflictSetID == c.ConflictSetID && (o.Acceptance != nil) == (c.Acceptance != nil)
		}) {
			continue
		}
		added = append(added, c)
		events = append(events, sodEvents(audit.SodConflictWarned, item.RequestID, item.ID, []enum.SodConflict{c})...)
	}
	if len(added) == 0 {
		return false, nil
	}
	upd := t.client.RequestItem.UpdateOne(item).SetSodConflicts(append(slices.Clone(item.SodConflicts), added...))
	if block != nil {
		msg := string(errcode.SodConflict) + ": " + block.Error()
		upd.SetStatus(enum.ItemStatusFailed).SetLastError(msg)
		events = append(events, audit.Event{Action: audit.FulfillmentFailed, RequestID: &item.RequestID, ItemID: &item.ID,
			Data: map[string]any{"error": msg, "code": string(errcode.SodConflict), "attempts": item.FulfillmentAttempts}})
	}
	if err := upd.Exec(ctx); err != nil {
		return false, fmt.Errorf("record conflicts: %w", err)
	}
	if err := s.record(ctx, t, item.RequestID, systemActor, events...); err != nil {
		return false, fmt.Errorf("record events: %w", err)
	}
	return block != nil, nil
}
