package resolvers_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/schema/enum"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/errcode"
	"gatehouse/resolvers"
)

// TestUniqueConstraintsAreConflicts writes a duplicate past the catalog's
// checks (as a concurrent write does), for each unique value an
// administrator sets, and shows the database's refusal to the client as
// CONFLICT naming the field, on both databases.
func TestUniqueConstraintsAreConflicts(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.New(t, db)
		c, sys := env.Client, apitest.Sys()
		app := c.Application.Create().SetName("Wiki").SetFulfillment(enum.FulfillmentManual).SetConnectorKind(enum.ConnectorKindManual).SaveX(sys)
		c.Entitlement.Create().SetApplication(app).SetExternalID("x").SetName("X").SaveX(sys)
		c.Role.Create().SetName("Auditors").SaveX(sys)
		c.JobTitle.Create().SetName("Clerk").SaveX(sys)
		c.User.Create().SetEmail("a@example.com").SetName("A").SaveX(sys)

		for _, tc := range []struct {
			name, field string
			write       func() error
		}{
			{"application name", "name", func() error {
				_, err := c.Application.Create().SetName("Wiki").SetFulfillment(enum.FulfillmentManual).SetConnectorKind(enum.ConnectorKindManual).Save(sys)
				return err
			}},
			{"entitlement external ID in its application", "externalID", func() error {
				_, err := c.Entitlement.Create().SetApplication(app).SetExternalID("x").SetName("Y").Save(sys)
				return err
			}},
			{"entitlement name in its application", "name", func() error {
				_, err := c.Entitlement.Create().SetApplication(app).SetExternalID("y").SetName("X").Save(sys)
				return err
			}},
			{"role name", "name", func() error { _, err := c.Role.Create().SetName("Auditors").Save(sys); return err }},
			{"job title name", "name", func() error { _, err := c.JobTitle.Create().SetName("Clerk").Save(sys); return err }},
			{"user email", "email", func() error {
				_, err := c.User.Create().SetEmail("a@example.com").SetName("B").Save(sys)
				return err
			}},
		} {
			err := tc.write()
			require.True(t, ent.IsConstraintError(err), "%s: %v", tc.name, err)
			var log bytes.Buffer
			got := resolvers.ErrorPresenter(slog.New(slog.NewTextHandler(&log, nil)))(context.Background(), err)
			require.Equal(t, string(errcode.Conflict), got.Extensions["code"], tc.name)
			require.Equal(t, tc.field, got.Extensions["field"], tc.name)
			require.Equal(t, tc.field+": already taken by another record", got.Message, tc.name)
		}
	})
}
