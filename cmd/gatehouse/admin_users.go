package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/authz"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/connector"
	"github.com/gatehouse/gatehouse/internal/oidc"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/tenancy"
)

func init() {
	adminCommands["users"] = adminCommand{
		usage: `users set-password|delete|invite --email EMAIL [flags]
      Local users (the built-in password connector, for installs with no
      upstream identity provider). set-password creates the user or replaces
      its password, and unlocks it; the password is read from the first line
      of standard input, never from a flag (flags end up in shell history
      and in ps). delete removes the local user's password. invite prints the
      signup link that activates a pending user of an organization.`,
		run: adminUsers,
	}
}

const usersUsage = `Usage:
  gatehouse admin users set-password --email EMAIL [--platform-administrator] [flags] < password-file
  gatehouse admin users delete --email EMAIL [flags]
  gatehouse admin users invite --organization ORG_ID --email EMAIL [--lifetime 168h] [--issuer URL]

invite prints (JSON) the signup link of the organization's user EMAIL, who
must be in state pending: ISSUER/api/v1/signup?token=..., which works once,
until it expires, and makes the user active (an earlier link of the same
user stops working). Send it to the user; it is not stored in clear.

set-password reads the password from the first line of standard input: pipe
it in (from a file or a password manager) or type it at the prompt (twice,
not echoed). At least 12 characters, at most 1024 bytes. Setting a password
also clears a lockout. Every command also takes the database flags of "gatehouse serve"
(--data-dir, --database-url, and their GATEHOUSE_* variables).
`

// stdin is where set-password reads the password (a variable for tests).
var stdin io.Reader = os.Stdin

// userOptions are the flags of one `admin users` subcommand.
type userOptions struct {
	config.Database
	cmd, email, organization, issuer string
	lifetime                         time.Duration
	fs                               *flag.FlagSet
	// platformAdmin: set-password also makes the user a platform
	// administrator (the console's first sign-in on a new install).
	platformAdmin bool
}

func (o *userOptions) Bind(b *config.Binder) {
	o.Database.Bind(b)
	o.fs = b.FS
	b.FS.StringVar(&o.email, "email", "", "the user's email address (required)")
	if o.cmd == "set-password" {
		b.FS.BoolVar(&o.platformAdmin, "platform-administrator", false,
			"also grant the user the platform-administrator role (platform-wide, like the bootstrap account), e.g. to sign in to the console at /console/ as the first administrator")
	}
	if o.cmd == "invite" {
		b.FS.StringVar(&o.organization, "organization", "", "ID of the organization of the pending user (required)")
		b.FS.DurationVar(&o.lifetime, "lifetime", tenancy.DefaultSignupLifetime, "how long the link works (at most 720h)")
		b.String(&o.issuer, "issuer", "http://127.0.0.1:8080", "public base URL of this Gatehouse, as serve --issuer")
	}
}

func adminUsers(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(stderr, usersUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			return flag.ErrHelp
		}
		return errors.New("admin users: expected a subcommand: set-password, delete or invite")
	}
	cmd := args[0]
	if cmd != "set-password" && cmd != "delete" && cmd != "invite" {
		fmt.Fprint(stderr, usersUsage)
		return fmt.Errorf("admin users: unknown subcommand %q", cmd)
	}
	o := userOptions{cmd: cmd}
	if err := config.Parse("gatehouse admin users "+cmd, &o, args[1:], stderr); err != nil {
		return err
	}
	if o.email == "" {
		return errors.New("--email is required")
	}
	if o.fs.NArg() > 0 {
		// Not repeated: it may well be the password.
		return errors.New("unexpected arguments after the flags (the password is read from standard input, never the command line)")
	}
	st, err := openStore(ctx, o.Database)
	if err != nil {
		return err
	}
	defer st.Close()
	// The audit event (auditCLI) names the account and, for an
	// invitation, the organization.
	resource := "localaccounts"
	if cmd == "invite" {
		resource = "users"
	}
	audit.Name(ctx, o.organization, resource, strings.ToLower(strings.TrimSpace(o.email)))
	switch cmd {
	case "invite":
		return inviteUser(ctx, st, &o, stdout)
	}
	switch cmd {
	case "delete":
		err := st.Tx(ctx, func(q *store.Q) error {
			if err := q.DeleteLocalPassword(ctx, o.email); err != nil {
				return err
			}
			// Whoever knew the password loses what it gave them.
			_, err := q.EndLocalSessions(ctx, strings.ToLower(strings.TrimSpace(o.email)), "", time.Now())
			return err
		})
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no local user %q", o.email)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "local user %s deleted\n", strings.ToLower(strings.TrimSpace(o.email)))
		return nil
	default:
		password, err := readPassword(stdin, stderr, o.email)
		if err != nil {
			return err
		}
		pw, err := connector.NewPassword(st, connector.PasswordConfig{})
		if err != nil {
			return err
		}
		if err := pw.SetPassword(ctx, o.email, password); err != nil {
			return err
		}
		email := strings.ToLower(strings.TrimSpace(o.email))
		fmt.Fprintf(stdout, "password set for local user %s\n", email)
		if o.platformAdmin {
			if err := grantPlatformAdministrator(ctx, st, email); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s is a platform administrator\n", email)
		}
		return nil
	}
}

// grantPlatformAdministrator binds the platform-administrator role to the
// local user email (a local user's subject is its email).
func grantPlatformAdministrator(ctx context.Context, st *store.Store, email string) error {
	admin, ok := authz.RoleByName(authz.RolePlatformAdministrator)
	if !ok {
		return errors.New("no platform-administrator role")
	}
	return st.Tx(ctx, func(q *store.Q) error {
		return q.BindPlatformRole(ctx, string(authn.KindUser), email, admin.ID)
	})
}

// inviteUser prints the signup link of a pending user.
func inviteUser(ctx context.Context, st *store.Store, o *userOptions, stdout io.Writer) error {
	if o.organization == "" {
		return errors.New("--organization is required")
	}
	ten := &tenancy.Service{Store: st, Now: time.Now, Rand: rand.Reader}
	token, exp, err := ten.CreateSignup(ctx, o.organization, o.email, o.lifetime)
	if err != nil {
		return plain(err)
	}
	out := json.NewEncoder(stdout)
	out.SetIndent("", "  ")
	return out.Encode(map[string]any{
		"url":       strings.TrimRight(o.issuer, "/") + oidc.SignupPath + "?" + url.Values{"token": {token}}.Encode(),
		"expiresAt": exp,
	})
}

// readPassword reads one line of in. On a terminal it prompts on stderr,
// turns echo off while the password is typed (stty) and asks twice.
func readPassword(in io.Reader, stderr io.Writer, email string) (string, error) {
	f, _ := in.(*os.File)
	interactive := f != nil && isTerminal(f)
	r := bufio.NewReaderSize(in, connector.MaxPasswordBytes+2)
	if !interactive {
		return readLine(r)
	}
	if err := stty(f, "-echo"); err != nil {
		fmt.Fprintln(stderr, "warning: could not turn terminal echo off; the password will be visible")
	} else {
		defer func() { _ = stty(f, "echo") }()
	}
	fmt.Fprintf(stderr, "Password for %s: ", email)
	first, err := readLine(r)
	fmt.Fprintln(stderr)
	if err != nil {
		return "", err
	}
	fmt.Fprint(stderr, "Again: ")
	second, err := readLine(r)
	fmt.Fprintln(stderr)
	if err != nil {
		return "", err
	}
	if first != second {
		return "", errors.New("the two passwords differ")
	}
	return first, nil
}

// readLine reads up to the first newline (dropped, with a CR before it), or
// to the end of input.
func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return "", fmt.Errorf("the password on standard input is longer than %d bytes", connector.MaxPasswordBytes)
	case err != nil && !errors.Is(err, io.EOF):
		return "", fmt.Errorf("read password: %w", err)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r")
	if s == "" {
		return "", errors.New("no password on standard input")
	}
	return s, nil
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// stty runs stty on the terminal f (no cgo or extra module needed).
func stty(f *os.File, arg string) error {
	cmd := exec.Command("stty", arg)
	cmd.Stdin = f
	return cmd.Run()
}
