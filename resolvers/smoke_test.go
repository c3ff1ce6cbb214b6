package resolvers_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
)

func TestViewer(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.New(t, db)
		u := env.User(t, "ada@example.com", enum.PlatformRoleUser)
		var out struct{ Viewer struct{ ID, Email string } }
		env.MustDo(t, env.Token(t, u), `{ viewer { id email } }`, nil, &out)
		require.Equal(t, "ada@example.com", out.Viewer.Email)
		require.Equal(t, string(u.ID), out.Viewer.ID)
	})
}
