package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/internal/buildinfo"
	"github.com/gatehouse/gatehouse/internal/config"
)

// printVersion is `gatehouse version [--json]`.
func printVersion(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gatehouse version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the build information as a JSON object")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("version: unexpected arguments %q", fs.Args())
	}
	info := buildinfo.Get()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	_, err := fmt.Fprintf(stdout, "gatehouse %s\ncommit:   %s\nbuilt:    %s\ngo:       %s\nplatform: %s\n",
		info.Version, info.Commit, info.Date, info.GoVersion, info.Platform)
	return err
}

const configUsage = `Usage: gatehouse config print [serve flags]

Prints the configuration "gatehouse serve" would run with, given the same
flags, GATEHOUSE_* variables and --config file: every option, the value in
effect and where it came from (flag, env, file or default). Secrets are
shown as <redacted> when set, and passwords in URLs as xxxxx. The output is
itself a valid configuration file.
`

// configCommand is `gatehouse config print`.
func configCommand(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "print" {
		fmt.Fprint(stderr, configUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return flag.ErrHelp
		}
		return errors.New("config: want the subcommand print")
	}
	var c config.Serve
	b, err := config.Load("gatehouse config print", &c, args[1:], stderr)
	if err != nil {
		return err
	}
	if b.FS.NArg() > 0 {
		return fmt.Errorf("config print: unexpected arguments %q", b.FS.Args())
	}
	return b.Print(stdout)
}

// healthOptions are `gatehouse healthcheck`'s options. --listen and
// --tls-cert-file are serve's, so the probe finds the server from the same
// environment or configuration file (a container image sets
// GATEHOUSE_LISTEN once for both).
type healthOptions struct {
	listen, tlsCertFile, url string
	timeout                  time.Duration
}

// Bind registers the healthcheck options.
func (o *healthOptions) Bind(b *config.Binder) {
	b.String(&o.listen, "listen", "127.0.0.1:8080", "the address gatehouse serve listens on (a wildcard address is probed on loopback)")
	b.String(&o.tlsCertFile, "tls-cert-file", "", "set when gatehouse serve terminates TLS: probe with https")
	b.String(&o.url, "healthcheck-url", "", "URL to probe instead (default http(s)://LISTEN/readyz)")
	b.Duration(&o.timeout, "healthcheck-timeout", 5*time.Second, "how long the probe may take")
}

// probeURL is the URL of the server's /readyz on the address it listens on.
func (o *healthOptions) probeURL() (string, error) {
	if o.url != "" {
		return o.url, nil
	}
	host, port, err := net.SplitHostPort(o.listen)
	if err != nil {
		return "", fmt.Errorf("--listen %q: %w", o.listen, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	scheme := "http"
	if o.tlsCertFile != "" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/readyz", nil
}

// healthcheck is `gatehouse healthcheck`: it exits 0 when the server's
// /readyz answers 200, so that an image without a shell or curl can probe
// itself (Docker's HEALTHCHECK, Kubernetes exec probes).
func healthcheck(ctx context.Context, args []string, stderr io.Writer) error {
	var o healthOptions
	if err := config.Parse("gatehouse healthcheck", &o, args, stderr); err != nil {
		return err
	}
	u, err := o.probeURL()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	// The probe sends nothing secret and reads only the status, from the
	// server's own address: the certificate names the public host, not
	// 127.0.0.1, so it is not verified.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // see above
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: GET %s: %s", u, resp.Status)
	}
	return nil
}
