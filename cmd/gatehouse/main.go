// Command gatehouse is the Gatehouse identity and access management service.
//
//	gatehouse serve     run the server (embedded SQLite by default, or PostgreSQL)
//	gatehouse migrate   apply database migrations and exit
//	gatehouse admin     administrative tasks against the database
//	gatehouse version   print the version, commit, build date and Go version
//	gatehouse config    print the effective configuration (secrets redacted)
//	gatehouse healthcheck  probe a running server's /readyz (for containers)
//
// Every option is a flag and a GATEHOUSE_* environment variable; run
// `gatehouse COMMAND --help` for the list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/gatehouse/gatehouse/internal/buildinfo"
)

// version is this build's version (internal/buildinfo: the VCS stamp, or
// what a release build set with -ldflags -X
// github.com/gatehouse/gatehouse/internal/buildinfo.version=...).
var version = buildinfo.Get().Version

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `Gatehouse: identity and access management for multi-tenant clouds.

Usage:
  gatehouse serve   [flags]   run the server
  gatehouse migrate [flags]   apply database migrations and exit
  gatehouse admin SUBCOMMAND  administrative tasks against the database
                              ("gatehouse admin --help" lists them)
  gatehouse version [--json]  print the version, commit, build date and Go version
  gatehouse config print [serve flags]
                              print the effective configuration, secrets redacted
  gatehouse healthcheck [--url URL]
                              exit 0 if a running server's /readyz answers 200

Run "gatehouse COMMAND --help" for a command's flags. Every flag can also be
set with the GATEHOUSE_* environment variable shown beside it, or in a YAML
file given with --config (GATEHOUSE_CONFIG): flags win over the environment,
the environment over the file, the file over the defaults.
`

// run is main without the process exit, so tests can drive the CLI.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stdout, stderr)
	case "migrate":
		err = migrate(ctx, args[1:], stdout, stderr)
	case "admin":
		err = admin(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		err = printVersion(args[1:], stdout, stderr)
	case "config":
		err = configCommand(args[1:], stdout, stderr)
	case "healthcheck":
		err = healthcheck(ctx, args[1:], stderr)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "gatehouse: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "gatehouse:", err)
		return 1
	}
	return 0
}
