package resolvers_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/application"
	"gatehouse/ent/entitlement"
	"gatehouse/ent/user"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/demo"
)

// TestPolicyRulesOfDemo runs the README's policy rule examples against the
// demo organisation.
func TestPolicyRulesOfDemo(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.NewWith(t, db, apitest.Options{})
		sys := apitest.Sys()
		_, err := demo.Seed(sys, env.Client)
		require.NoError(t, err)
		person := func(email string) *ent.User {
			u, err := env.Client.User.Query().Where(user.Email(email)).Only(sys)
			require.NoError(t, err)
			return u
		}
		entID := func(app, name string) string {
			e, err := env.Client.Entitlement.Query().Where(entitlement.Name(name), entitlement.HasApplicationWith(application.Name(app))).Only(sys)
			require.NoError(t, err)
			return string(e.ID)
		}
		grant := func(id string) map[string]any {
			return map[string]any{"action": "GRANT", "entitlementIds": []string{id}, "justification": "month-end close work"}
		}
		liam, emma := env.Token(t, person("liam.obrien@example.com")), env.Token(t, person("emma.schultz@example.com"))

		// The README's listing shows the labels.
		var list struct {
			Entitlements struct {
				Edges []struct {
					Node struct {
						Name   string
						Labels []string
					}
				}
			}
		}
		env.MustDo(t, liam, `{ entitlements(first: 20, where: {hasApplicationWith: {name: "NetSuite"}}) { edges { node { id name privileged labels } } } }`, nil, &list)
		labelled := map[string][]string{}
		for _, e := range list.Entitlements.Edges {
			labelled[e.Node.Name] = e.Node.Labels
		}
		require.Equal(t, []string{"finance", "sox"}, labelled["Controller"])

		p := prPreviewOf(t, env, liam, grant(entID("NetSuite", "View Financial Reports")))
		require.Empty(t, p.Errors)
		require.True(t, p.AutoApproved, "a Finance accountant gets the low-risk reports at once")
		require.Equal(t, "Financial reports approved for Finance", p.Items[0].PolicyRule.Name)

		billing := grant(entID("Production Database", "Billing Schema"))
		billing["duration"] = "P7D" // the application allows no permanent access
		p = prPreviewOf(t, env, emma, billing)
		require.Len(t, p.Errors, 1)
		require.Equal(t, "DENIED_BY_POLICY", p.Errors[0].Code)
		require.Contains(t, p.Errors[0].Message, "Payment data is not available to Sales.")

		p = prPreviewOf(t, env, liam, grant(entID("NetSuite", "Controller")))
		require.Empty(t, p.Errors)
		require.Equal(t, "Privileged finance access: manager then risk manager", p.Items[0].PolicyRule.Name)
		require.Len(t, p.Items[0].Stages, 2)
		require.Equal(t, "rachel.goldberg@example.com", p.Items[0].Stages[0].Reviewers[0].Email)
		require.Equal(t, "RISK_MANAGER", p.Items[0].Stages[1].ReviewerKind)
		require.Equal(t, "nadia.kowalski@example.com", p.Items[0].Stages[1].Reviewers[0].Email)
	})
}
