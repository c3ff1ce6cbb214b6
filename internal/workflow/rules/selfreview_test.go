package rules

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/errcode"
)

// The cast of the self-review tests, beside that of the reviewer tests.
const (
	uSvc pulid.ID = "usr_SVC" // a service account
	uC   pulid.ID = "usr_C"   // an accomplice of the requester
)

// TestCheckDecider plays who may decide a task assigned to M on a request
// R made for B. The acting people are the credential's user and the minter
// of its token; the self-review check comes before the assignment check,
// so a party always hears why.
func TestCheckDecider(t *testing.T) {
	t.Parallel()
	byR := Parties{RequesterID: uR, BeneficiaryID: uB}
	viaService := Parties{RequesterID: uSvc, BeneficiaryID: uB, SubmittedByID: uR}
	rows := []struct {
		name    string
		acting  Acting
		parties Parties
		code    errcode.Code // "" = allowed
		self    bool         // the self-review message
		why     string
	}{
		{"assignee with a JWT", Acting{UserID: uM}, byR, "", false,
			"the assigned reviewer decides"},
		{"assignee with a token of their own", Acting{UserID: uM, MintedBy: uM}, byR, "", false,
			"a token one minted for oneself acts as oneself"},
		{"requester with a JWT", Acting{UserID: uR}, byR, errcode.Forbidden, true,
			"the requester never reviews their own request"},
		{"beneficiary with a JWT", Acting{UserID: uB}, byR, errcode.Forbidden, true,
			"the beneficiary never reviews their own request"},
		{"service account token minted by the requester", Acting{UserID: uSvc, MintedBy: uR}, byR, errcode.Forbidden, true,
			"the attack: the requester acts through a service account's token"},
		{"service account token minted by the beneficiary", Acting{UserID: uSvc, MintedBy: uB}, byR, errcode.Forbidden, true,
			"the beneficiary's minted token counts as the beneficiary"},
		{"legacy token for the reviewer minted by the requester", Acting{UserID: uM, MintedBy: uR}, byR, errcode.Forbidden, true,
			"a token minted for another person before that was refused still carries its minter"},
		{"service account token minted by an outsider", Acting{UserID: uSvc, MintedBy: uA}, byR, errcode.Forbidden, false,
			"not a party, but the task is M's, not the service account's"},
		{"submitter with a JWT", Acting{UserID: uR}, viaService, errcode.Forbidden, true,
			"whoever minted the token that submitted the request is a party too"},
		{"submitter through another service token", Acting{UserID: uSvc, MintedBy: uR}, viaService, errcode.Forbidden, true,
			"the submitter cannot approve through the same service account"},
		{"assignee of a request submitted through a service account", Acting{UserID: uM}, viaService, "", false,
			"the reviewer is independent of the submitter"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			t.Parallel()
			err := CheckDecider(row.acting, row.parties, uM)
			if row.code == "" {
				require.NoError(t, err, row.why)
				return
			}
			require.Equal(t, row.code, errcode.Of(err), "%s: %v", row.why, err)
			if row.self {
				require.Contains(t, err.Error(), "cannot decide its review tasks", row.why)
			} else {
				require.Contains(t, err.Error(), "assigned to someone else", row.why)
			}
		})
	}
}

// TestCheckReassignment plays the new assignee of a task on R's request
// for B, M and O1 already reviewers of the item. The caller is A (an IT
// admin) unless the row says otherwise.
func TestCheckReassignment(t *testing.T) {
	t.Parallel()
	byR := Parties{RequesterID: uR, BeneficiaryID: uB}
	viaService := Parties{RequesterID: uSvc, BeneficiaryID: uB, SubmittedByID: uR}
	assigned := map[pulid.ID]bool{uM: true, uO1: true}
	person := func(id pulid.ID) Person { return Person{ID: id, Email: string(id), Active: true} }
	rows := []struct {
		name    string
		acting  Acting
		parties Parties
		to      Person
		comment string
		field   string // "" = allowed, else the INVALID_INPUT field
		why     string
	}{
		{"an accomplice with a reason", Acting{UserID: uA}, byR, person(uC), "M is on leave", "",
			"allowed: the reason goes to the audit trail"},
		{"an accomplice without a reason", Acting{UserID: uA}, byR, person(uC), "", "comment",
			"a reassignment needs a reason"},
		{"a blank reason", Acting{UserID: uA}, byR, person(uC), " \t\n", "comment",
			"white space is no reason"},
		{"the requester", Acting{UserID: uA}, byR, person(uR), "x", "toUserId",
			"never a reviewer: the requester"},
		{"the beneficiary", Acting{UserID: uA}, byR, person(uB), "x", "toUserId",
			"never a reviewer: the beneficiary"},
		{"the submitter", Acting{UserID: uA}, viaService, person(uR), "x", "toUserId",
			"the minter of the token that submitted the request is a party"},
		{"a service account", Acting{UserID: uA}, byR, Person{ID: uSvc, Email: "svc", Active: true, Service: true}, "x", "toUserId",
			"service accounts never review"},
		{"a terminated user", Acting{UserID: uA}, byR, Person{ID: uT, Email: "t", Active: false}, "x", "toUserId",
			"TERMINATED users never review"},
		{"an earlier reviewer", Acting{UserID: uA}, byR, person(uO1), "x", "toUserId",
			"each stage has distinct people"},
		{"oneself", Acting{UserID: uA}, byR, person(uA), "x", "toUserId",
			"nobody reassigns a task to themselves"},
		{"the minter of the caller's token", Acting{UserID: uSvc, MintedBy: uA}, byR, person(uA), "x", "toUserId",
			"nor to themselves through a service account's token"},
		{"the minter of another token", Acting{UserID: uSvc, MintedBy: uK}, byR, person(uA), "x", "",
			"A is independent of this call and of the request"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			t.Parallel()
			err := CheckReassignment(row.acting, row.parties, row.to, assigned, row.comment)
			if row.field == "" {
				require.NoError(t, err, row.why)
				return
			}
			var e *errcode.Error
			require.ErrorAs(t, err, &e, row.why)
			require.Equal(t, errcode.InvalidInput, e.Code, row.why)
			require.Equal(t, row.field, e.Field, row.why)
		})
	}
}

// TestResolveStageServiceAccounts checks that reviewer resolution passes
// over service accounts and the submitter of the request in every kind,
// falling back as it does for any excluded candidate.
func TestResolveStageServiceAccounts(t *testing.T) {
	t.Parallel()
	service := func(d *Directory, ids ...pulid.ID) {
		for _, id := range ids {
			p := d.People[id]
			p.Service = true
			d.People[id] = p
		}
	}
	rows := []struct {
		name  string
		kind  enum.ReviewerKind
		setup func(d *Directory)
		want  []pulid.ID
		got   enum.ReviewerKind
		why   string
	}{
		{"service manager", enum.ReviewerKindManager, func(d *Directory) { service(d, uM) },
			[]pulid.ID{uO1, uO2}, enum.ReviewerKindApplicationOwner, "a service account as manager (legacy data) falls back to the owners"},
		{"one service owner", enum.ReviewerKindApplicationOwner, func(d *Directory) { service(d, uO1) },
			[]pulid.ID{uO2}, enum.ReviewerKindApplicationOwner, "the service account is left out of the pool"},
		{"service risk manager", enum.ReviewerKindRiskManager, func(d *Directory) { service(d, uK) },
			[]pulid.ID{uA}, ReviewerKindITAdmin, "a service account with the RISK_MANAGER role never reviews"},
		{"service IT admin only", ReviewerKindITAdmin, func(d *Directory) {
			d.People[uSvc] = Person{ID: uSvc, Active: true, Service: true}
			d.ITAdminIDs = []pulid.ID{uSvc, uA}
		}, []pulid.ID{uA}, ReviewerKindITAdmin, "nor one with IT_ADMIN"},
		{"service delegate", enum.ReviewerKindManager, func(d *Directory) {
			d.People[uSvc] = Person{ID: uSvc, Active: true, Service: true}
			delegate(d, uM, uSvc, nil, nil)
		}, []pulid.ID{uM}, enum.ReviewerKindManager, "a delegation to a service account is ignored"},
		{"submitter is the manager", enum.ReviewerKindManager, func(d *Directory) {
			d.RequesterID, d.SubmittedByID = uSvc, uM
		}, []pulid.ID{uO1, uO2}, enum.ReviewerKindApplicationOwner, "whoever minted the submitting token does not review"},
		{"submitter is the IT admin", ReviewerKindITAdmin, func(d *Directory) {
			d.SubmittedByID = uA
		}, nil, "", "the only IT admin submitted: no reviewer"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			t.Parallel()
			d := directory()
			row.setup(&d)
			as, kind, err := ResolveStage(row.kind, nil, d, nil, now)
			if row.want == nil {
				require.Equal(t, errcode.NoReviewer, errcode.Of(err), row.why)
				return
			}
			require.NoError(t, err, row.why)
			var got []pulid.ID
			for _, a := range as {
				got = append(got, a.Reviewer)
			}
			require.Equal(t, row.want, got, row.why)
			require.Equal(t, row.got, kind, row.why)
		})
	}
}

// TestCheckDelegate plays M choosing a delegate.
func TestCheckDelegate(t *testing.T) {
	t.Parallel()
	active := func(id pulid.ID) Person { return Person{ID: id, Email: string(id), Active: true} }
	tests := []struct {
		name        string
		to          Person
		from, until *time.Time
		field       string // "" = allowed, else the INVALID_INPUT field
		why         string
	}{
		{"a colleague", active(uC), nil, nil, "",
			"any active person may stand in, for an open period"},
		{"a bounded period", active(uC), at(time.Hour), at(2 * time.Hour), "",
			"a period may start in the future"},
		{"oneself", active(uM), nil, nil, "userId",
			"a delegation to oneself means nothing"},
		{"a terminated user", Person{ID: uT, Email: "t"}, nil, nil, "userId",
			"a TERMINATED user reviews nothing"},
		{"a service account", Person{ID: uSvc, Email: "svc", Active: true, Service: true}, nil, nil, "userId",
			"service accounts never review"},
		{"nobody", Person{}, nil, nil, "userId",
			"a delegate must be someone"},
		{"until before from", active(uC), at(2 * time.Hour), at(time.Hour), "until",
			"the period ends after it starts"},
		{"until equals from", active(uC), at(time.Hour), at(time.Hour), "until",
			"an empty period is refused"},
	}
	for _, tt := range tests {
		err := CheckDelegate(uM, tt.to, tt.from, tt.until)
		if tt.field == "" {
			require.NoError(t, err, "%s: %s", tt.name, tt.why)
			continue
		}
		var e *errcode.Error
		require.ErrorAs(t, err, &e, "%s: %s", tt.name, tt.why)
		require.Equal(t, errcode.InvalidInput, e.Code, "%s: %s", tt.name, tt.why)
		require.Equal(t, tt.field, e.Field, "%s: %s", tt.name, tt.why)
	}
}
