package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// writeFile writes a configuration file into a test directory.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// load binds Serve with a fake environment and parses args.
func load(env map[string]string, args ...string) (*Serve, *Binder, error) {
	var c Serve
	b := &Binder{FS: newFlagSet(), Getenv: func(k string) string { return env[k] }}
	c.Bind(b)
	return &c, b, b.Parse(args)
}

func TestConfigFile(t *testing.T) {
	t.Parallel()
	good := writeFile(t, `
# comments are fine
listen: 0.0.0.0:9000
log-level: debug
shutdown-timeout: 7s
audit-retention: 0
cloud-access-node-enabled: false
database-url: "postgres://gh:pw@db:5432/gh"
`)
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		check   func(*Serve, *Binder) string
		wantErr string // substring of the error; "" for none
	}{
		{name: "file over defaults", args: []string{"--config", good}, check: func(c *Serve, b *Binder) string {
			if c.Listen != "0.0.0.0:9000" || c.LogLevel != "debug" || c.ShutdownTimeout != 7*time.Second ||
				c.CloudAccessNodeEnabled || c.DatabaseURL != "postgres://gh:pw@db:5432/gh" || c.AuditRetention != 0 {
				return "file values not applied"
			}
			if c.LogFormat != "json" || c.ReadTimeout != 30*time.Second {
				return "options the file does not name lost their defaults"
			}
			if b.SourceOf("listen") != FromFile || b.SourceOf("log-format") != FromDefault {
				return "wrong sources"
			}
			return ""
		}},
		{name: "GATEHOUSE_CONFIG names the file", env: map[string]string{"GATEHOUSE_CONFIG": good},
			check: func(c *Serve, _ *Binder) string {
				if c.Listen != "0.0.0.0:9000" {
					return "GATEHOUSE_CONFIG ignored"
				}
				return ""
			}},
		{name: "environment over file", env: map[string]string{"GATEHOUSE_LISTEN": "127.0.0.1:7000", "GATEHOUSE_CLOUD_ACCESS_NODE_ENABLED": "true"},
			args: []string{"--config", good}, check: func(c *Serve, b *Binder) string {
				if c.Listen != "127.0.0.1:7000" || !c.CloudAccessNodeEnabled || c.LogLevel != "debug" {
					return "environment did not win over the file (or the file was dropped)"
				}
				if b.SourceOf("listen") != FromEnv || b.SourceOf("log-level") != FromFile {
					return "wrong sources"
				}
				return ""
			}},
		{name: "flag over environment and file", env: map[string]string{"GATEHOUSE_LISTEN": "127.0.0.1:7000"},
			args: []string{"--config", good, "--listen", "127.0.0.1:1", "--log-level=warn"}, check: func(c *Serve, b *Binder) string {
				if c.Listen != "127.0.0.1:1" || c.LogLevel != "warn" {
					return "flags did not win"
				}
				if b.SourceOf("listen") != FromFlag {
					return "wrong source"
				}
				return ""
			}},
		{name: "flag before --config still wins", args: []string{"--log-level=error", "--config", good},
			check: func(c *Serve, _ *Binder) string {
				if c.LogLevel != "error" {
					return "the file overrode a flag"
				}
				return ""
			}},
		{name: "empty file", args: []string{"--config", writeFile(t, "")}},
		{name: "comments only", args: []string{"--config", writeFile(t, "# nothing yet\n")}},
		{name: "unknown key", args: []string{"--config", writeFile(t, "listen: :1\nlisten-adress: x\n")}, wantErr: "line 2: listen-adress: unknown option"},
		{name: "flag spelled with dashes", args: []string{"--config", writeFile(t, "--listen: x\n")}, wantErr: "--listen: unknown option"},
		{name: "bool as string", args: []string{"--config", writeFile(t, "cloud-access-node-enabled: \"no\"\n")}, wantErr: "cloud-access-node-enabled: want true or false"},
		{name: "string as number", args: []string{"--config", writeFile(t, "signing-algorithm: 256\n")}, wantErr: "signing-algorithm: want a string, got int"},
		{name: "string as list", args: []string{"--config", writeFile(t, "trusted-proxies: [10.0.0.0/8]\n")}, wantErr: "trusted-proxies: want a single value"},
		{name: "duration without unit", args: []string{"--config", writeFile(t, "read-timeout: 30\n")}, wantErr: "read-timeout: want a duration"},
		{name: "bad duration", args: []string{"--config", writeFile(t, "read-timeout: soon\n")}, wantErr: "read-timeout: parse error"},
		{name: "bad duration behind a flag still checked for type", args: []string{"--read-timeout=1s", "--config", writeFile(t, "read-timeout: true\n")}, wantErr: "read-timeout: want a duration"},
		{name: "duplicate key", args: []string{"--config", writeFile(t, "listen: a\nlisten: b\n")}, wantErr: "listen: given twice"},
		{name: "nested config", args: []string{"--config", writeFile(t, "config: other.yaml\n")}, wantErr: "cannot name another"},
		{name: "not a mapping", args: []string{"--config", writeFile(t, "- listen\n")}, wantErr: "want a mapping"},
		{name: "not YAML", args: []string{"--config", writeFile(t, "listen: [\n")}, wantErr: "yaml"},
		{name: "missing file", args: []string{"--config", filepath.Join(t.TempDir(), "nope.yaml")}, wantErr: "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, b, err := load(tc.env, tc.args...)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if tc.check != nil {
				if msg := tc.check(c, b); msg != "" {
					t.Errorf("%s: %+v", msg, c)
				}
			}
		})
	}
}

// TestConfigFileSharedBetweenCommands: one file serves `serve` and
// `migrate`, whose flag set holds only the database options: serve's other
// options are skipped there, anything else is still an error.
func TestConfigFileSharedBetweenCommands(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "listen: 0.0.0.0:8080\ndata-dir: /var/lib/gatehouse\nencryption-key-file: /etc/k\n")
	var d Database
	b := &Binder{FS: newFlagSet(), Getenv: func(string) string { return "" }}
	d.Bind(b)
	if err := b.Parse([]string{"--config", path}); err != nil || d.DataDir != "/var/lib/gatehouse" {
		t.Fatalf("migrate with serve's file: %v, data dir %q", err, d.DataDir)
	}
	bad := writeFile(t, "data-dir: /x\nlistn: y\n")
	b = &Binder{FS: newFlagSet(), Getenv: func(string) string { return "" }}
	d.Bind(b)
	if err := b.Parse([]string{"--config", bad}); err == nil || !strings.Contains(err.Error(), "listn") {
		t.Fatalf("unknown key in a shared file: %v", err)
	}
}

// TestConfigFileGenericFlags: a flag defined straight on the flag set
// (as other commands and future options may) is a key too, with its type.
func TestConfigFileGenericFlags(t *testing.T) {
	t.Parallel()
	fs := newFlagSet()
	n := fs.Int("workers", 1, "")
	var console bool
	fs.BoolVar(&console, "console", false, "")
	b := &Binder{FS: fs, Getenv: func(string) string { return "" }}
	if err := b.Parse([]string{"--config", writeFile(t, "workers: 4\nconsole: true\n")}); err != nil || *n != 4 || !console {
		t.Fatalf("generic flags: %v, workers %d console %v", err, *n, console)
	}
	b = &Binder{FS: flag.NewFlagSet("x", flag.ContinueOnError), Getenv: func(string) string { return "" }}
	b.FS.Int("workers", 1, "")
	if err := b.Parse([]string{"--config", writeFile(t, "workers: four\n")}); err == nil || !strings.Contains(err.Error(), "workers: want a number") {
		t.Fatalf("a string for an int flag: %v", err)
	}
}

func TestIsSecret(t *testing.T) {
	t.Parallel()
	b := &Binder{FS: newFlagSet(), Getenv: func(string) string { return "" }}
	b.Secret("smtp-login")
	for name, want := range map[string]bool{
		"encryption-key": true, "cloud-aws-secret-access-key": true, "smtp-password": true, "smtp-login": true,
		"admin-token": true, "encryption-key-file": false, "cloud-aws-secret-access-key-file": false,
		"cloud-aws-access-key-id": false, "rate-limit-token": false, "bootstrap-token-file": false,
		"listen": false, "database-url": false, "tls-key-file": false,
	} {
		if got := b.IsSecret(name); got != want {
			t.Errorf("IsSecret(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestRedactValue(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"postgres://gh:hunter2@db:5432/gh?sslmode=disable":     "postgres://gh:xxxxx@db:5432/gh?sslmode=disable",
		"postgres://gh@db/gh?password=hunter2&sslmode=require": "postgres://gh@db/gh?password=xxxxx&sslmode=require",
		"host=db user=gh password=hunter2 dbname=gh":           "host=db user=gh password=xxxxx dbname=gh",
		"host=db password='hunter 2' dbname=gh":                "host=db password=xxxxx dbname=gh",
		"postgres://gh@db/gh":                                  "postgres://gh@db/gh",
		"127.0.0.1:8080":                                       "127.0.0.1:8080",
	} {
		if got := redactValue(in); got != want {
			t.Errorf("redactValue(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPrint: the effective configuration, redacted, with its sources; and
// it reads back as a configuration file with the same values.
func TestPrint(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "log-level: debug\ndatabase-url: postgres://gh:hunter2@db/gh\nsmtp-url: smtps://gh:mailpass1@mail.example.com\n")
	env := map[string]string{"GATEHOUSE_ENCRYPTION_KEY": "c2VjcmV0LWtleQ==", "GATEHOUSE_LISTEN": "0.0.0.0:8080", "GATEHOUSE_SMTP_PASSWORD": "mailpass2"}
	_, b, err := load(env, "--config", path, "--read-timeout=9s")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := b.Print(&out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, leak := range []string{"c2VjcmV0LWtleQ==", "hunter2", "mailpass1", "mailpass2"} {
		if strings.Contains(text, leak) {
			t.Errorf("config print shows the secret %q:\n%s", leak, text)
		}
	}
	for _, line := range []string{
		"encryption-key: <redacted> # env, redacted\n",
		"cloud-aws-secret-access-key: \"\" # default\n",
		"listen: 0.0.0.0:8080 # env\n",
		"log-level: debug # file\n",
		"read-timeout: 9s # flag\n",
		"cloud-access-node-enabled: true # default\n",
		"database-url: postgres://gh:xxxxx@db/gh # file, password redacted\n",
		"smtp-url: smtps://gh:xxxxx@mail.example.com # file, password redacted\n",
		"smtp-password: <redacted> # env, redacted\n",
	} {
		if !strings.Contains(text, line) {
			t.Errorf("config print lacks %q:\n%s", line, text)
		}
	}
	var back map[string]any
	if err := yaml.Unmarshal(out.Bytes(), &back); err != nil {
		t.Fatalf("config print is not YAML: %v", err)
	}
	if back["read-timeout"] != "9s" || back["cloud-access-node-enabled"] != true || back["log-level"] != "debug" {
		t.Errorf("config print does not read back: %v", back)
	}
	// Every option of serve is printed, but not --config: the output
	// reads back as a configuration file (which cannot name another).
	n := 0
	b.FS.VisitAll(func(*flag.Flag) { n++ })
	if _, ok := back[ConfigFlag]; ok || len(back) != n-1 {
		t.Errorf("config print has %d keys (config among them: %v), the flag set %d", len(back), ok, n)
	}
	path = writeFile(t, strings.ReplaceAll(text, Redacted, "c2VjcmV0LWtleQ=="))
	c, _, err := load(nil, "--config", path)
	if err != nil || c.ReadTimeout != 9*time.Second || c.Listen != "0.0.0.0:8080" || c.EncryptionKey != "c2VjcmV0LWtleQ==" {
		t.Errorf("config print's output does not load as a configuration file: %v, %+v", err, c)
	}
}
