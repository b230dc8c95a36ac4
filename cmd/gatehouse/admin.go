package main

import (
	"context"
	"flag"
	"fmt"
	"io"

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

const adminUsage = `Usage:
  gatehouse admin issue-token [flags]
      Replace the platform administrator's token and print the new one to
      stdout; the old token stops working at once. For a lost bootstrap token.
`

func admin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "issue-token" {
		fmt.Fprint(stderr, adminUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return flag.ErrHelp
		}
		return fmt.Errorf("admin: expected a subcommand")
	}
	var c config.Serve
	if err := config.Parse("gatehouse admin issue-token", &c, args[1:], stderr); err != nil {
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
