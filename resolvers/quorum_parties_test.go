package resolvers_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/reviewstage"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
)

// TestQuorumPartiesExcluded: a QUORUM stage whose designated reviewers
// include the request's requester and beneficiary (never reviewers of
// their own request) takes fallback reviewers to keep its quorum — the
// application's owners, or, when it has none, the IT admins — and the
// preview, the stage and the submitted tasks say so.
func TestQuorumPartiesExcluded(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env, ctx := o.env, apitest.Sys()
		m := env.User(t, "m@example.com", enum.PlatformRoleUser)
		owner := env.User(t, "owner@example.com", enum.PlatformRoleUser)
		tom := env.User(t, "tom@example.com", enum.PlatformRoleUser)
		r := subPerson(t, env, "r@example.com", m, nil)
		b := subPerson(t, env, "b@example.com", m, nil)
		rTok := env.Token(t, r)
		quorumOf := func(name string, owners []*ent.User) *ent.Entitlement {
			app, e := o.app(t, name, enum.FulfillmentManual, owners)
			rvTemplate(t, env, app, 1, enum.ReviewerKindDesignated, enum.StageRuleQuorum, 2, r, b, tom)
			return e
		}
		forB := func(e *ent.Entitlement) map[string]any {
			return map[string]any{"action": "GRANT", "beneficiaryId": b.ID, "entitlementIds": subIDs(e)}
		}

		t.Run("an owner completes the quorum", func(t *testing.T) {
			e := quorumOf("Payroll", []*ent.User{owner})
			p := subPreview(t, env, rTok, forB(e))
			require.Empty(t, p.Errors)
			st := p.Items[0].Stages[0]
			require.Equal(t, 2, st.Quorum, "the quorum is not lowered to Tom alone")
			require.Equal(t, []subUser{{"tom@example.com"}, {"owner@example.com"}}, st.Reviewers)
			require.Len(t, st.FallbackReviewers, 1)
			require.Equal(t, "owner@example.com", st.FallbackReviewers[0].User.Email)
			require.Equal(t, "APPLICATION_OWNER", st.FallbackReviewers[0].Kind)
			require.NotNil(t, st.Resolution)
			require.Contains(t, *st.Resolution, "r@example.com")
			require.Contains(t, *st.Resolution, "b@example.com")

			req := subSubmit(t, env, rTok, forB(e))
			s1 := req.Items[0].Stages[0]
			require.Equal(t, 2, s1.Quorum)
			require.ElementsMatch(t, []string{"tom@example.com", "owner@example.com"}, s1.reviewers("PENDING"))
			stored, err := env.Client.ReviewStage.Query().Where(reviewstage.ItemID(pulid.ID(req.Items[0].ID))).Only(ctx)
			require.NoError(t, err)
			require.Equal(t, []pulid.ID{owner.ID}, stored.FallbackReviewerIds)
			require.Equal(t, st.Resolution, stored.Resolution)
		})

		t.Run("no owner: the IT admin completes it", func(t *testing.T) {
			e := quorumOf("Treasury", nil)
			p := subPreview(t, env, rTok, forB(e))
			require.Empty(t, p.Errors)
			st := p.Items[0].Stages[0]
			require.Equal(t, 2, st.Quorum)
			require.Equal(t, []subUser{{"tom@example.com"}, {"it@example.com"}}, st.Reviewers)
			require.Len(t, st.FallbackReviewers, 1)
			require.Equal(t, "it@example.com", st.FallbackReviewers[0].User.Email)
			require.Equal(t, "IT_ADMIN", st.FallbackReviewers[0].Kind)
			require.NotNil(t, st.Resolution)
			require.Contains(t, *st.Resolution, "it@example.com (IT_ADMIN)")

			req := subSubmit(t, env, rTok, forB(e))
			s1 := req.Items[0].Stages[0]
			require.ElementsMatch(t, []string{"tom@example.com", "it@example.com"}, s1.reviewers("PENDING"))

			// Both must approve: Tom's approval alone leaves the item pending.
			require.Empty(t, rvDecide(t, env, env.Token(t, tom), s1.task(t, "tom@example.com", "").ID, "APPROVE").Errors)
			require.Equal(t, "PENDING_REVIEW", subGet(t, env, rTok, req.ID).Items[0].Status)
			require.Empty(t, rvDecide(t, env, env.Token(t, o.admin), s1.task(t, "it@example.com", "").ID, "APPROVE").Errors)
			require.Equal(t, "APPROVED", subGet(t, env, rTok, req.ID).Items[0].Status)
		})
	})
}
