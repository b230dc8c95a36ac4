package config

import (
	"bytes"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestEnvName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"data-dir": "GATEHOUSE_DATA_DIR", "listen": "GATEHOUSE_LISTEN", "log-level": "GATEHOUSE_LOG_LEVEL"} {
		if got := EnvName(in); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", in, got, want)
		}
	}
}

// parse binds Serve with a fake environment.
func parse(env map[string]string, args ...string) (*Serve, error) {
	var c Serve
	b := &Binder{FS: newFlagSet(), Getenv: func(k string) string { return env[k] }}
	c.Bind(b)
	return &c, b.Parse(args)
}

func TestPrecedence(t *testing.T) {
	t.Parallel()
	c, err := parse(nil)
	if err != nil || c.Listen != "127.0.0.1:8080" || c.DataDir != "./gatehouse-data" || c.ShutdownTimeout != 20*time.Second {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	env := map[string]string{"GATEHOUSE_LISTEN": "0.0.0.0:9000", "GATEHOUSE_SHUTDOWN_TIMEOUT": "5s",
		"GATEHOUSE_DATABASE_URL": "postgres://db/x"}
	c, err = parse(env)
	if err != nil || c.Listen != "0.0.0.0:9000" || c.ShutdownTimeout != 5*time.Second || !c.Postgres() {
		t.Fatalf("environment: %+v, %v", c, err)
	}
	c, err = parse(env, "--listen", "127.0.0.1:1")
	if err != nil || c.Listen != "127.0.0.1:1" {
		t.Fatalf("a flag must win over the environment: %+v, %v", c, err)
	}
	if _, err := parse(map[string]string{"GATEHOUSE_SERVICE_ACCOUNT_TTL": "forever"}); err == nil {
		t.Error("a bad duration in the environment was accepted")
	}
	if c, _ := parse(map[string]string{"GATEHOUSE_DATABASE_URL": "sqlite:/tmp/x.db"}); c.Postgres() {
		t.Error("a sqlite: URL selected PostgreSQL")
	}
}

func TestParseWritesUsage(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	var d Database
	if err := Parse("gatehouse migrate", &d, []string{"--help"}, &out); err == nil {
		t.Error("--help did not stop parsing")
	}
	if !bytes.Contains(out.Bytes(), []byte("GATEHOUSE_DATABASE_URL")) {
		t.Errorf("usage does not name the environment variables: %s", out.String())
	}
}

func newFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"", nil, false},
		{"10.0.0.0/8", []string{"10.0.0.0/8"}, false},
		{" 10.1.2.3/8 , 192.0.2.1,::1 ", []string{"10.0.0.0/8", "192.0.2.1/32", "::1/128"}, false},
		{"::ffff:10.0.0.1", []string{"10.0.0.1/32"}, false},
		{"10.0.0.0/33", nil, true},
		{"proxy.example", nil, true},
	}
	for _, c := range cases {
		s, err := parse(map[string]string{"GATEHOUSE_TRUSTED_PROXIES": c.in})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.TrustedProxyPrefixes()
		if (err != nil) != c.wantErr {
			t.Errorf("%q: error %v, want error %v", c.in, err, c.wantErr)
			continue
		}
		var strs []string
		for _, p := range got {
			strs = append(strs, p.String())
		}
		if strings.Join(strs, " ") != strings.Join(c.want, " ") {
			t.Errorf("%q: prefixes %v, want %v", c.in, strs, c.want)
		}
	}
}

// TestCloudOptions: the cloud options default to a usable built-in access
// node, and booleans come from the environment like every other option.
func TestCloudOptions(t *testing.T) {
	t.Parallel()
	c, err := parse(nil)
	if err != nil || !c.CloudAccessNodeEnabled || c.WorkloadSigningAlgorithm != "ES256" || c.CloudRequestTimeout != 30*time.Second ||
		c.CloudAttemptTimeout != 10*time.Second || c.CloudAWSRegion != "us-east-1" || c.CloudAWSAmbientCreds {
		t.Fatalf("defaults: %+v, %v", c.Cloud, err)
	}
	c, err = parse(map[string]string{"GATEHOUSE_CLOUD_ACCESS_NODE_ENABLED": "false", "GATEHOUSE_CLOUD_AWS_SECRET_ACCESS_KEY": "s3cret",
		"GATEHOUSE_CLOUD_AWS_AMBIENT_CREDENTIALS": "true"})
	if err != nil || c.CloudAccessNodeEnabled || c.CloudAWSSecretAccessKey != "s3cret" || !c.CloudAWSAmbientCreds {
		t.Fatalf("environment: %+v, %v", c.Cloud, err)
	}
	if c, err = parse(map[string]string{"GATEHOUSE_CLOUD_ACCESS_NODE_ENABLED": "false"}, "--cloud-access-node-enabled=true"); err != nil || !c.CloudAccessNodeEnabled {
		t.Fatalf("a flag must win over the environment: %+v, %v", c.Cloud, err)
	}
	if _, err := parse(map[string]string{"GATEHOUSE_CLOUD_ACCESS_NODE_ENABLED": "perhaps"}); err == nil {
		t.Error("a bad boolean in the environment was accepted")
	}
}
