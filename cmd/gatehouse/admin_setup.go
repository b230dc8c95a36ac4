package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/gatehouse/gatehouse/internal/account"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/connector"
)

func init() {
	adminCommands["setup-link"] = adminCommand{
		usage: `setup-link [--issuer URL] [database flags]
      Print a fresh one-time setup link (valid 24 hours): its page creates
      the first human platform administrator (email and password). Older
      setup links stop working. Refused once a person holds the platform
      administrator role.`,
		run: setupLink,
	}
}

func setupLink(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c config.Serve
	if err := config.Parse("gatehouse admin setup-link", &c, args, stderr); err != nil {
		return err
	}
	if c.Issuer == "" {
		c.Issuer = "http://" + c.Listen
		if c.TLSCertFile != "" {
			c.Issuer = "https://" + c.Listen
		}
	}
	// A link touches no encrypted column: no key needed.
	st, ten, err := openTenancyWith(ctx, &c, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	pw, err := connector.NewPassword(st, connector.PasswordConfig{})
	if err != nil {
		return err
	}
	link, err := newAccounts(&c, st, ten, pw).CreateSetupLink(ctx)
	if errors.Is(err, account.ErrAdminExists) {
		return errors.New("a person already holds the platform administrator role: setup links are for the first one (reset a password with the API, or `gatehouse admin users set-password`)")
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Open this link within 24 hours to create the first platform administrator; it works once:\n  %s\n", link.URL)
	return nil
}
