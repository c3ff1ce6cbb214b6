// Command migrationdiff writes the PostgreSQL migration file that takes the
// database of the existing files in internal/database/migrations to the ent
// schema (ent/migrate). It replays the files on a scratch database, created
// (named after the URL's database) and dropped on the server of --dev-url, and writes nothing when the files
// already give the ent schema. With --check it writes nothing and fails
// when a file would be written (CI's drift check). With --hash it only
// rewrites atlas.sum, after a hand-written file (a data change) was added.
//
//	go run ./cmd/migrationdiff --dev-url postgres://postgres@127.0.0.1:5432/test?sslmode=disable --name add_x
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io/fs"
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
	check := flag.Bool("check", false, "write nothing; exit 1 when the ent schema has changes without a migration file")
	hash := flag.Bool("hash", false, "only rewrite atlas.sum for the files in --dir (after adding a hand-written file)")
	flag.Parse()
	if *hash {
		if err := rehash(*dir); err != nil {
			fmt.Fprintln(os.Stderr, "migrationdiff:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	file, text, err := run(ctx, *devURL, *dir, *name, *check)
	if err != nil {
		fmt.Fprintln(os.Stderr, "migrationdiff:", err)
		os.Exit(1)
	}
	switch {
	case file == "":
		fmt.Println("no changes: the migration files give the ent schema")
	case *check:
		fmt.Fprintf(os.Stderr, "the ent schema changed without a migration file: run go run ./cmd/migrationdiff --dev-url … --name <what_changed>\n"+
			"and commit the new file in %s. It would be %s:\n%s", *dir, file, text)
		os.Exit(1)
	default:
		fmt.Println("wrote", file)
	}
}

// run plans the migration on a scratch database and returns the new file's
// name and text ("" when there are no changes); with check, it leaves dir
// unchanged.
func run(ctx context.Context, devURL, dirPath, name string, check bool) (string, string, error) {
	u, err := url.Parse(devURL)
	if devURL == "" || err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || len(u.Path) < 2 {
		return "", "", fmt.Errorf("--dev-url must be a postgres://…/database URL")
	}
	local, err := migrate.NewLocalDir(dirPath)
	if err != nil {
		return "", "", err
	}
	var dir migrate.Dir = local
	if check {
		mem := &migrate.MemDir{}
		if err := copyDir(mem, local); err != nil {
			return "", "", err
		}
		dir = mem
	}
	admin, err := sql.Open("postgres", devURL)
	if err != nil {
		return "", "", err
	}
	defer admin.Close()
	// The scratch database is named after the URL's, so that it stays in
	// the namespace of whoever gave the URL.
	scratch := fmt.Sprintf("%s_diff_%d", strings.TrimPrefix(u.Path, "/"), os.Getpid())
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(scratch)); err != nil {
		return "", "", fmt.Errorf("create scratch database: %w", err)
	}
	defer admin.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(scratch)+" WITH (FORCE)") //nolint:errcheck // best effort
	su := *u
	su.Path = "/" + scratch
	dev, err := sql.Open("postgres", su.String())
	if err != nil {
		return "", "", err
	}
	defer dev.Close()
	file, err := database.PlanMigration(ctx, dev, dir, name, entmigrate.Tables)
	if err != nil || file == "" {
		return "", "", err
	}
	b, err := fs.ReadFile(dir, file)
	return file, string(b), err
}

// rehash writes the atlas.sum of the migration directory at path.
func rehash(path string) error {
	dir, err := migrate.NewLocalDir(path)
	if err != nil {
		return err
	}
	sum, err := dir.Checksum()
	if err != nil {
		return err
	}
	return migrate.WriteSumFile(dir, sum)
}

// copyDir copies the migration files and atlas.sum of src into dst.
func copyDir(dst *migrate.MemDir, src *migrate.LocalDir) error {
	files, err := src.Files()
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := dst.WriteFile(f.Name(), f.Bytes()); err != nil {
			return err
		}
	}
	sum, err := fs.ReadFile(src, migrate.HashFileName)
	if errors.Is(err, fs.ErrNotExist) && len(files) == 0 {
		return nil
	}
	if err != nil {
		return err
	}
	return dst.WriteFile(migrate.HashFileName, sum)
}
