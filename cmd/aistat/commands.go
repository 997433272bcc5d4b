package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"aistat"
	"aistat/internal/pglocal"
	"aistat/internal/postgres"
)

// openDatabase is locateDatabase with a pool on the database and the schema
// applied: what the commands other than serve, whose site opens pools of
// its own, work with.
func openDatabase(ctx context.Context, dsn, dataDir string, start startCluster, logger *slog.Logger) (*database, error) {
	d, err := locateDatabase(ctx, dsn, dataDir, start, logger)
	if err != nil {
		return nil, err
	}
	if d.db, err = postgres.Open(d.dsn, nil); err != nil {
		d.close()
		return nil, err
	}
	if err := aistat.Migrate(ctx, d.db); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

// databaseFlags are the flags of every command that only needs the database.
func databaseFlags(fs *flag.FlagSet, getenv func(string) string) (dsn, dataDir *string) {
	e := &envFlags{fs: fs, getenv: getenv}
	dsn, dataDir = new(string), new(string)
	e.string(dsn, "database-url", "DATABASE_URL", "", "PostgreSQL URL; empty uses the embedded default database")
	e.string(dataDir, "data-dir", "AISTAT_DATA_DIR", "./.data", "folder of the embedded default database")
	return dsn, dataDir
}

func migrate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string, logger *slog.Logger) error {
	fs := flag.NewFlagSet("aistat migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn, dataDir := databaseFlags(fs, getenv)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	d, err := openDatabase(ctx, *dsn, *dataDir, pglocal.Open, logger)
	if err != nil {
		return err
	}
	d.close()
	fmt.Fprintln(stdout, "schema applied")
	return nil
}

// userAdd creates a user whose password is the first line of stdin, so it
// never appears in the process list or the shell's history.
func userAdd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string, logger *slog.Logger) error {
	fs := flag.NewFlagSet("aistat user add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn, dataDir := databaseFlags(fs, getenv)
	email := fs.String("email", "", "email address (required)")
	name := fs.String("name", "", "display name (required)")
	role := fs.String("role", "viewer", "admin, editor or viewer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read password: %w", err)
	}
	password := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	d, err := openDatabase(ctx, *dsn, *dataDir, pglocal.Open, logger)
	if err != nil {
		return err
	}
	defer d.close()
	u, err := aistat.NewUsers(d.db).Create(ctx, aistat.NewUser{Email: *email, Name: *name, Role: aistat.Role(*role), Password: password})
	switch aistat.ErrorCode(err) {
	case "":
	case aistat.EINTERNAL:
		return fmt.Errorf("user not created: %w", err)
	default:
		fields := aistat.ErrorFields(err)
		var b strings.Builder
		for _, k := range slices.Sorted(maps.Keys(fields)) {
			fmt.Fprintf(&b, "\n  %s: %s", k, fields[k])
		}
		if b.Len() == 0 {
			b.WriteString(" " + aistat.ErrorMessage(err))
		}
		return fmt.Errorf("user not created:%s", b.String())
	}
	fmt.Fprintf(stdout, "created user %d <%s> (%s)\n", u.ID, u.Email, u.Role.Label())
	return nil
}
