package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/config"
)

func migrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var db config.Database
	if err := config.Parse("gatehouse migrate", &db, args, stderr); err != nil {
		return err
	}
	st, err := openStore(ctx, db)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintf(stdout, "migrations applied (%s)\n", st.Dialect())
	return nil
}

// adminCommand is one `gatehouse admin` subcommand. Each lives in its own
// file and registers itself in adminCommands from an init function.
type adminCommand struct {
	// usage is the subcommand's line(s) in `gatehouse admin --help`.
	usage string
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// adminCommands maps subcommand names to their implementations.
var adminCommands = map[string]adminCommand{}

func init() {
	adminCommands["issue-token"] = adminCommand{
		usage: `issue-token [flags]
      Replace the platform administrator's token and print the new one to
      stdout; the old token stops working at once. For a lost bootstrap token.`,
		run: issueToken,
	}
}

func adminUsage() string {
	names := make([]string, 0, len(adminCommands))
	for n := range adminCommands {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("Usage:\n")
	for _, n := range names {
		b.WriteString("  gatehouse admin " + adminCommands[n].usage + "\n")
	}
	return b.String()
}

func admin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, adminUsage())
		return fmt.Errorf("admin: expected a subcommand")
	}
	cmd, ok := adminCommands[args[0]]
	if !ok {
		fmt.Fprint(stderr, adminUsage())
		if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			return flag.ErrHelp
		}
		return fmt.Errorf("admin: unknown subcommand %q", args[0])
	}
	return cmd.run(auditCLI(ctx, args), args[1:], stdout, stderr)
}

// cliResources are the audit log's resource types of the admin commands.
var cliResources = map[string]string{
	"users": "localaccounts", "clients": "oauth2clients", "rotate-keys": "signingkeys",
	"issue-token": "serviceaccounts", "backup": "backups", "setup-link": "localaccounts",
}

// auditCLI is ctx with the audit entry of the admin command args: every
// write the command makes is recorded (actor kind "cli") in the write's own
// transaction, like an API write. Commands that only read record nothing.
func auditCLI(ctx context.Context, args []string) context.Context {
	command := args[0]
	if len(args) > 1 && !strings.HasPrefix(args[1], "-") && (command == "users" || command == "clients") {
		command += " " + args[1]
	}
	ctx, _ = audit.BeginCLI(ctx, func() string { return uuid.Must(uuid.NewV7()).String() }, time.Now,
		command, cliResources[args[0]], "")
	return ctx
}

func issueToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c config.Serve
	if err := config.Parse("gatehouse admin issue-token", &c, args, stderr); err != nil {
		return err
	}
	// Reissuing a token touches no encrypted column: no key needed.
	st, ten, err := openTenancyWith(ctx, &c, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	token, err := ten.ReissueBootstrapToken(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, token)
	return nil
}
