// Command aistat runs the ai-stat account site and its administration
// commands:
//
//	aistat [serve] [flags]                              run the site (the default)
//	aistat user add --email E --name N --role R         create a user; the password is read from stdin
//	aistat migrate                                      apply the schema
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	// The IANA time zone database in the binary: a profile's time zone is
	// valid or not whatever the machine has installed.
	_ "time/tzdata"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	switch {
	case errors.Is(err, flag.ErrHelp):
		// The flag package has printed the usage that -h asked for.
	case err != nil:
		fmt.Fprintln(os.Stderr, "aistat:", err)
		os.Exit(1)
	}
}

// run executes one command line until it is done or ctx ends. Tests call it
// as main does.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, stdout, stderr, getenv, logger)
	case "migrate":
		return migrate(ctx, args, stdout, stderr, getenv, logger)
	case "user":
		if len(args) == 0 || args[0] != "add" {
			return fmt.Errorf("usage: aistat user add --email E --name N --role R (password on standard input)")
		}
		return userAdd(ctx, args[1:], stdin, stdout, stderr, getenv, logger)
	}
	return fmt.Errorf("unknown command %q: want serve, user add or migrate", cmd)
}
