package database_test

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	atlasschema "ariga.io/atlas/sql/schema"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/schema"
	"entgo.io/ent/schema/field"
	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	entmigrate "gatehouse/ent/migrate"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/authz"
	"gatehouse/internal/database"
	"gatehouse/internal/dbtest"
)

// TestMigrationFilesMatchEntSchema is the drift check: the migration files,
// replayed on an empty database, give the ent schema. It fails when an ent
// schema changed without a migration file (write one with
// cmd/migrationdiff), or when a file was edited after atlas.sum was written.
func TestMigrationFilesMatchEntSchema(t *testing.T) {
	t.Parallel()
	dev := dbtest.NewEmptyPostgres(t)
	dir, err := database.MigrationDir()
	require.NoError(t, err)
	file, err := database.PlanMigration(context.Background(), dev.SQL, dir, "drift", entmigrate.Tables)
	require.NoError(t, err)
	if file != "" {
		t.Fatalf("the ent schema changed without a migration: run\n"+
			"  go run ./cmd/migrationdiff --dev-url postgres://…/<db> --name <what_changed>\n"+
			"and commit the new file in internal/database/migrations. It would be %s:\n%s",
			file, fileText(t, dir, file))
	}
}

func fileText(t *testing.T, dir migrate.Dir, name string) string {
	t.Helper()
	for _, f := range mustFiles(t, dir) {
		if f.Name() == name {
			return string(f.Bytes())
		}
	}
	t.Fatalf("%s was not written", name)
	return ""
}

// TestDriftCheckFailsOnUnmigratedSchemaChange runs the drift check with a
// schema changed the way a schema edit changes it (a new field on users): it
// reports a new migration adding the column.
func TestDriftCheckFailsOnUnmigratedSchemaChange(t *testing.T) {
	t.Parallel()
	dev := dbtest.NewEmptyPostgres(t)
	dir, err := database.MigrationDir()
	require.NoError(t, err)
	users := *entmigrate.UsersTable
	users.Columns = append(slices.Clone(users.Columns), &schema.Column{Name: "nickname", Type: field.TypeString, Nullable: true})
	tables := slices.Clone(entmigrate.Tables)
	tables[slices.Index(tables, entmigrate.UsersTable)] = &users

	file, err := database.PlanMigration(context.Background(), dev.SQL, dir, "drift", tables)
	require.NoError(t, err)
	require.NotEmpty(t, file, "an unmigrated schema change must be found")
	require.Contains(t, fileText(t, dir, file), `ALTER TABLE "users" ADD COLUMN "nickname" character varying NULL`)
}

func mustFiles(t *testing.T, dir migrate.Dir) []migrate.File {
	t.Helper()
	files, err := dir.Files()
	require.NoError(t, err)
	return files
}

// TestMigrationFilesGiveAutoMigratedSchema checks that a fresh database
// migrated from the files has the schema that the auto-migration of earlier
// releases gives: tables, columns, indexes and foreign keys (as Atlas
// inspects them), and the audit triggers and River's migrations.
func TestMigrationFilesGiveAutoMigratedSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	files, auto := dbtest.NewEmptyPostgres(t), dbtest.NewEmptyPostgres(t)
	require.NoError(t, database.Migrate(ctx, files.SQL, dialect.Postgres))
	require.NoError(t, database.AutoMigrate(ctx, auto.SQL, dialect.Postgres))

	fromFiles, fromAuto := inspect(t, files.SQL), inspect(t, auto.SQL)
	_, ok := fromFiles.Table(entmigrate.UsersTable.Name)
	require.True(t, ok)
	drv, err := postgres.Open(files.SQL)
	require.NoError(t, err)
	changes, err := drv.SchemaDiff(fromAuto, fromFiles)
	require.NoError(t, err)
	require.Empty(t, changes, "the files and the auto-migration give different schemas")
	require.Equal(t, triggers(t, auto.SQL), triggers(t, files.SQL))
	require.NotEmpty(t, triggers(t, files.SQL))
	require.Equal(t, riverVersions(t, auto.SQL), riverVersions(t, files.SQL))

	st, err := database.PostgresStatus(ctx, files.SQL)
	require.NoError(t, err)
	require.False(t, st.Legacy)
	require.Empty(t, st.Pending)
	require.Equal(t, lastVersion(t), st.Current)
}

// TestRiverJobArgumentsNotIndexed checks that migrating PostgreSQL leaves
// River's job table without the GIN indexes of arguments and metadata (its
// other indexes stay), and that migrating again, as every start does, is no
// error once they are gone.
func TestRiverJobArgumentsNotIndexed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.NewEmptyPostgres(t)
	require.NoError(t, database.Migrate(ctx, db.SQL, dialect.Postgres))
	require.NoError(t, database.Migrate(ctx, db.SQL, dialect.Postgres))
	var gin, all int
	require.NoError(t, db.SQL.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE indexdef LIKE '%USING gin%'), count(*)
		FROM pg_indexes WHERE tablename = 'river_job'`).Scan(&gin, &all))
	require.Zero(t, gin)
	require.Equal(t, 5, all, "the primary key, kind, fetching, finalized and unique indexes")
}

// TestLegacyDatabaseIsBaselined upgrades a database made by the
// auto-migration of an earlier release — an older one, lacking a column and
// an index of the baseline — with data in it: Migrate adds what the baseline
// has, records a baseline revision at the first file, applies the files
// after it (the end of duration items is filled in), and keeps the data.
// The schema is then the one the files give a fresh database, and
// migrating again changes nothing.
func TestLegacyDatabaseIsBaselined(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var itemID pulid.ID
	var grantEnd time.Time
	db := dbtest.NewLegacyPostgres(t, func(db *dbtest.DB) { itemID, grantEnd = seedUnendedItem(t, db) })
	_, err := db.SQL.Exec(`ALTER TABLE users DROP COLUMN delegate_until; DROP INDEX accessrequest_status`)
	require.NoError(t, err)

	st, err := database.PostgresStatus(ctx, db.SQL)
	require.NoError(t, err)
	require.True(t, st.Legacy)

	require.NoError(t, database.Migrate(ctx, db.SQL, dialect.Postgres))
	require.NoError(t, database.Migrate(ctx, db.SQL, dialect.Postgres))
	st, err = database.PostgresStatus(ctx, db.SQL)
	require.NoError(t, err)
	require.False(t, st.Legacy)
	require.Empty(t, st.Pending)
	require.Equal(t, lastVersion(t), st.Current)
	var n, baseline int
	require.NoError(t, db.SQL.QueryRow(`SELECT count(*), count(*) FILTER (WHERE type = $1) FROM `+database.RevisionsTable,
		int(migrate.RevisionTypeBaseline)).Scan(&n, &baseline))
	require.Equal(t, len(mustFiles(t, mustDir(t))), n, "a baseline, then one revision per later file")
	require.Equal(t, 1, baseline)
	require.NoError(t, db.SQL.QueryRow(`SELECT count(*) FROM users`).Scan(&n))
	require.Equal(t, 1, n)
	requireItemEnd(t, db, itemID, grantEnd)

	fresh := dbtest.NewEmptyPostgres(t)
	require.NoError(t, database.Migrate(ctx, fresh.SQL, dialect.Postgres))
	drv, err := postgres.Open(db.SQL)
	require.NoError(t, err)
	changes, err := drv.SchemaDiff(inspect(t, db.SQL), inspect(t, fresh.SQL))
	require.NoError(t, err)
	require.Empty(t, changes, "the upgraded database has the schema of a fresh one")
}

// TestSQLiteFillsItemEnds: on SQLite, whose auto-migration keeps no
// revisions, migrating fills in the end of duration items fulfilled before
// items kept it, as the PostgreSQL migration file does.
func TestSQLiteFillsItemEnds(t *testing.T) {
	t.Parallel()
	db := dbtest.NewSQLite(t)
	itemID, grantEnd := seedUnendedItem(t, db)
	require.NoError(t, database.Migrate(context.Background(), db.SQL, db.Dialect))
	requireItemEnd(t, db, itemID, grantEnd)
}

// seedUnendedItem writes what fulfilment wrote before items kept their end:
// a FULFILLED duration item without ends_at, and its grant with one.
func seedUnendedItem(t *testing.T, db *dbtest.DB) (pulid.ID, time.Time) {
	t.Helper()
	sys := authz.SystemContext(context.Background())
	client := ent.NewClient(ent.Driver(entsql.OpenDB(db.Dialect, db.SQL)))
	u := client.User.Create().SetEmail("u@example.com").SetName("U").SaveX(sys)
	app := client.Application.Create().SetName("Wiki").SetFulfillment(enum.FulfillmentManual).
		SetConnectorKind(enum.ConnectorKindManual).SaveX(sys)
	e := client.Entitlement.Create().SetApplication(app).SetExternalID("w").SetName("Wiki users").SaveX(sys)
	req := client.AccessRequest.Create().SetAction(enum.RequestActionGrant).SetRequester(u).SetBeneficiary(u).
		SetDuration("PT8H").SaveX(sys)
	fulfilled := time.Now().UTC().Truncate(time.Second)
	item := client.RequestItem.Create().SetRequest(req).SetEntitlement(e).SetApplication(app).
		SetAction(enum.RequestActionGrant).SetStatus(enum.ItemStatusFulfilled).SetDuration("PT8H").
		SetFulfilledAt(fulfilled).SaveX(sys)
	idn := client.Identity.Create().SetUser(u).SetApplication(app).SetExternalID("u").SetLogin("u").SaveX(sys)
	end := fulfilled.Add(8 * time.Hour)
	client.Grant.Create().SetIdentity(idn).SetEntitlement(e).SetGrantedAt(fulfilled).SetEndsAt(end).
		SetSourceItem(item).SaveX(sys)
	return item.ID, end
}

func requireItemEnd(t *testing.T, db *dbtest.DB, itemID pulid.ID, want time.Time) {
	t.Helper()
	client := ent.NewClient(ent.Driver(entsql.OpenDB(db.Dialect, db.SQL)))
	item, err := client.RequestItem.Get(authz.SystemContext(context.Background()), itemID)
	require.NoError(t, err)
	require.NotNil(t, item.EndsAt, "the item's end is filled in")
	require.True(t, want.Equal(*item.EndsAt), "item ends %s, grant %s", item.EndsAt, want)
}

// TestConcurrentMigrationsApplyOnce starts several migrations of one fresh
// database at once, as replicas starting together do: all succeed and every
// file is applied once.
func TestConcurrentMigrationsApplyOnce(t *testing.T) {
	t.Parallel()
	db := dbtest.NewEmptyPostgres(t)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { errs[i] = database.Migrate(context.Background(), db.SQL, dialect.Postgres) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	var n int
	require.NoError(t, db.SQL.QueryRow(`SELECT count(*) FROM `+database.RevisionsTable+` WHERE applied = total AND type = $1`,
		int(migrate.RevisionTypeExecute)).Scan(&n))
	require.Equal(t, len(mustFiles(t, mustDir(t))), n)
}

func mustDir(t *testing.T) migrate.Dir {
	t.Helper()
	dir, err := database.MigrationDir()
	require.NoError(t, err)
	return dir
}

func lastVersion(t *testing.T) string {
	t.Helper()
	files := mustFiles(t, mustDir(t))
	require.NotEmpty(t, files)
	return files[len(files)-1].Version()
}

// inspect returns the public schema of db as Atlas sees it, without the
// revisions table.
func inspect(t *testing.T, db *sql.DB) *atlasschema.Schema {
	t.Helper()
	drv, err := postgres.Open(db)
	require.NoError(t, err)
	s, err := drv.InspectSchema(context.Background(), "public", nil)
	require.NoError(t, err)
	s.Tables = slices.DeleteFunc(s.Tables, func(t *atlasschema.Table) bool { return t.Name == database.RevisionsTable })
	return s
}

func triggers(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT tgrelid::regclass::text || ' ' || tgname || ' ' || pg_get_triggerdef(oid)
		FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1`)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, strings.TrimSpace(s))
	}
	require.NoError(t, rows.Err())
	return out
}

func riverVersions(t *testing.T, db *sql.DB) []int {
	t.Helper()
	rows, err := db.Query(`SELECT version FROM river_migration ORDER BY version`)
	require.NoError(t, err)
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		require.NoError(t, rows.Scan(&v))
		out = append(out, v)
	}
	require.NoError(t, rows.Err())
	return out
}
