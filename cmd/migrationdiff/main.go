// Command migrationdiff writes the PostgreSQL migration file that takes the
// database of the existing files in internal/database/migrations to the ent
// schema (ent/migrate). It replays the files on a scratch database, created
// (named after the URL's database) and dropped on the server of --dev-url, and writes nothing when the files
// already give the ent schema.
//
//	go run ./cmd/migrationdiff --dev-url postgres://postgres@127.0.0.1:5432/test?sslmode=disable --name add_x
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strings"

	"ariga.io/atlas/sql/migrate"
	"github.com/lib/pq"

	entmigrate "gatehouse/ent/migrate"
	"gatehouse/internal/database"
)

func main() {
	devURL := flag.String("dev-url", os.Getenv("GATEHOUSE_DEV_DATABASE_URL"), "PostgreSQL server URL to create the scratch database on (GATEHOUSE_DEV_DATABASE_URL)")
	name := flag.String("name", "changes", "name of the new migration file (after its version)")
	dir := flag.String("dir", "internal/database/migrations", "migration directory")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	file, err := run(ctx, *devURL, *dir, *name)
	if err != nil {
		fmt.Fprintln(os.Stderr, "migrationdiff:", err)
		os.Exit(1)
	}
	if file == "" {
		fmt.Println("no changes: the migration files give the ent schema")
		return
	}
	fmt.Println("wrote", file)
}

func run(ctx context.Context, devURL, dirPath, name string) (string, error) {
	u, err := url.Parse(devURL)
	if devURL == "" || err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || len(u.Path) < 2 {
		return "", fmt.Errorf("--dev-url must be a postgres://…/database URL")
	}
	dir, err := migrate.NewLocalDir(dirPath)
	if err != nil {
		return "", err
	}
	admin, err := sql.Open("postgres", devURL)
	if err != nil {
		return "", err
	}
	defer admin.Close()
	// The scratch database is named after the URL's, so that it stays in
	// the namespace of whoever gave the URL.
	scratch := fmt.Sprintf("%s_diff_%d", strings.TrimPrefix(u.Path, "/"), os.Getpid())
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(scratch)); err != nil {
		return "", fmt.Errorf("create scratch database: %w", err)
	}
	defer admin.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(scratch)+" WITH (FORCE)") //nolint:errcheck // best effort
	su := *u
	su.Path = "/" + scratch
	dev, err := sql.Open("postgres", su.String())
	if err != nil {
		return "", err
	}
	defer dev.Close()
	return database.PlanMigration(ctx, dev, dir, name, entmigrate.Tables)
}
