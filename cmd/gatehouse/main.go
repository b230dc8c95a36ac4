// Command gatehouse is the Gatehouse identity and access management service.
//
//	gatehouse serve     run the server (embedded SQLite by default, or PostgreSQL)
//	gatehouse migrate   apply database migrations and exit
//	gatehouse admin     administrative tasks against the database
//	gatehouse version   print the version
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
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `Gatehouse: identity and access management for multi-tenant clouds.

Usage:
  gatehouse serve   [flags]   run the server
  gatehouse migrate [flags]   apply database migrations and exit
  gatehouse admin SUBCOMMAND  administrative tasks against the database
                              ("gatehouse admin --help" lists them)
  gatehouse version           print the version

Run "gatehouse COMMAND --help" for a command's flags. Every flag can also be
set with the GATEHOUSE_* environment variable shown beside it.
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
		fmt.Fprintln(stdout, "gatehouse", version)
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
