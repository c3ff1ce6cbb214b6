package resolvers_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/auditevent"
	"gatehouse/ent/reviewstage"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/apitest"
	"gatehouse/internal/audit"
	"gatehouse/internal/dbtest"
)

// The honest-quorum tests: a stage whose own reviewers are cut below the
// number its rule needs by an exclusion takes fallback reviewers, and says
// so in the preview, on the stage and in the audit trail.

// TestQuorumFallback: David reviews stage 1 of every application here, so
// he is excluded from stage 2, which names him and Tom.
func TestQuorumFallback(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env, ctx := o.env, apitest.Sys()
		_, o1, r, _ := o.cast(t)
		o2 := env.User(t, "o2@example.com", enum.PlatformRoleUser)
		david := env.User(t, "david@example.com", enum.PlatformRoleUser)
		tom := env.User(t, "tom@example.com", enum.PlatformRoleUser)
		rTok := env.Token(t, r)
		twoStages := func(name string, owners []*ent.User, rule enum.StageRule, quorum int) *ent.Entitlement {
			app, e := o.app(t, name, enum.FulfillmentManual, owners)
			rvTemplate(t, env, app, 1, enum.ReviewerKindDesignated, enum.StageRuleAny, 1, david)
			rvTemplate(t, env, app, 2, enum.ReviewerKindDesignated, rule, quorum, david, tom)
			return e
		}

		t.Run("QUORUM 2 of David and Tom takes an owner", func(t *testing.T) {
			e := twoStages("Payments", []*ent.User{o1}, enum.StageRuleQuorum, 2)
			p := subPreview(t, env, rTok, subGrantIn(e))
			require.Empty(t, p.Errors)
			st := p.Items[0].Stages[1]
			require.Equal(t, 2, st.Quorum, "the quorum is not lowered to 1")
			require.Equal(t, "DESIGNATED", st.ReviewerKind)
			require.Equal(t, []subUser{{"tom@example.com"}, {"o1@example.com"}}, st.Reviewers)
			require.Len(t, st.FallbackReviewers, 1)
			require.Equal(t, "o1@example.com", st.FallbackReviewers[0].User.Email)
			require.Equal(t, "APPLICATION_OWNER", st.FallbackReviewers[0].Kind)
			require.NotNil(t, st.Resolution)
			require.Contains(t, *st.Resolution, "david@example.com (already a reviewer of this item)")
			require.Contains(t, *st.Resolution, "o1@example.com (APPLICATION_OWNER)")

			req := subSubmit(t, env, rTok, subGrantIn(e))
			s2 := req.Items[0].Stages[1]
			require.Equal(t, 2, s2.Quorum)
			require.ElementsMatch(t, []string{"tom@example.com", "o1@example.com"}, s2.reviewers("WAITING"))

			stored, err := env.Client.ReviewStage.Query().
				Where(reviewstage.ItemID(pulid.ID(req.Items[0].ID)), reviewstage.Level(2)).Only(ctx)
			require.NoError(t, err)
			require.Equal(t, []pulid.ID{o1.ID}, stored.FallbackReviewerIds, "the resolution is recorded on the stage")
			require.Equal(t, st.Resolution, stored.Resolution)
			var node struct {
				Node struct {
					Items []struct {
						Stages []struct {
							Level      int
							Resolution *string
						}
					}
				}
			}
			env.MustDo(t, rTok, `query($id: ID!) { node(id: $id) { ... on AccessRequest {
			  items { stages { level resolution } } } } }`, map[string]any{"id": req.ID}, &node)
			require.Nil(t, node.Node.Items[0].Stages[0].Resolution, "stage 1 needed no fallback")
			require.Equal(t, st.Resolution, node.Node.Items[0].Stages[1].Resolution, "the requester sees why on the stage")

			ev, err := env.Client.AuditEvent.Query().
				Where(auditevent.RequestID(pulid.ID(req.ID)), auditevent.Action(string(audit.RequestSubmitted))).Only(ctx)
			require.NoError(t, err)
			fbs, ok := ev.Data["fallbacks"].([]any)
			require.True(t, ok, "REQUEST_SUBMITTED names the fallback: %v", ev.Data)
			require.Len(t, fbs, 1)
			fb := fbs[0].(map[string]any)
			require.Equal(t, req.Items[0].ID, fb["item"])
			require.EqualValues(t, 2, fb["stage"])
			require.EqualValues(t, 2, fb["quorum"])
			require.Equal(t, []any{map[string]any{"reviewer": string(o1.ID), "kind": "APPLICATION_OWNER"}}, fb["reviewers"])

			// Stage 2 needs two approvals: Tom's alone does not approve.
			dTok, tTok, oTok := env.Token(t, david), env.Token(t, tom), env.Token(t, o1)
			require.Empty(t, rvDecide(t, env, dTok, req.Items[0].Stages[0].task(t, "david@example.com", "").ID, "APPROVE").Errors)
			require.Empty(t, rvDecide(t, env, tTok, s2.task(t, "tom@example.com", "").ID, "APPROVE").Errors)
			require.Equal(t, "PENDING_REVIEW", subGet(t, env, rTok, req.ID).Items[0].Status, "one approval of a quorum of 2")
			require.Empty(t, rvDecide(t, env, oTok, s2.task(t, "o1@example.com", "").ID, "APPROVE").Errors)
			require.Equal(t, "APPROVED", subGet(t, env, rTok, req.ID).Items[0].Status, "the fallback's approval is the second")
		})

		t.Run("ALL of David and Tom takes an owner", func(t *testing.T) {
			e := twoStages("Vendors", []*ent.User{o2}, enum.StageRuleAll, 1)
			p := subPreview(t, env, rTok, subGrantIn(e))
			require.Empty(t, p.Errors)
			st := p.Items[0].Stages[1]
			require.Equal(t, []subUser{{"tom@example.com"}, {"o2@example.com"}}, st.Reviewers,
				"ALL of two people needs two approvals, not Tom's alone")
			require.Len(t, st.FallbackReviewers, 1)
			require.Equal(t, "o2@example.com", st.FallbackReviewers[0].User.Email)
		})

		t.Run("a stage with enough people shows no fallback", func(t *testing.T) {
			e := twoStages("Ledger", []*ent.User{o1}, enum.StageRuleAny, 1)
			p := subPreview(t, env, rTok, subGrantIn(e))
			require.Empty(t, p.Errors)
			st := p.Items[0].Stages[1]
			require.Equal(t, []subUser{{"tom@example.com"}}, st.Reviewers)
			require.Empty(t, st.FallbackReviewers)
			require.Nil(t, st.Resolution)
		})

		t.Run("nobody to fall back to", func(t *testing.T) {
			// QUORUM 3: Tom and the IT admin are all the chain has left.
			e := twoStages("Treasury", nil, enum.StageRuleQuorum, 3)
			p := subPreview(t, env, rTok, subGrantIn(e))
			require.Len(t, p.Errors, 1)
			require.Equal(t, "NO_REVIEWER", p.Errors[0].Code)
			require.Contains(t, p.Errors[0].Message, "stage 2 (DESIGNATED)")
			require.Contains(t, p.Errors[0].Message, "needs 3 reviewers")
			res := subTry(t, env, rTok, subGrantIn(e), nil)
			require.Len(t, res.Errors, 1)
			require.Equal(t, "NO_REVIEWER", res.Errors[0].Extensions.Code, "submission is refused, not approved by two")
		})
	})
}
