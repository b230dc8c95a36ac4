package server_test

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/buildinfo"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestBuildInfoMetric: /metrics carries gatehouse_build_info = 1 with the
// running build's labels.
func TestBuildInfoMetric(t *testing.T) {
	t.Parallel()
	e := testenv.NewEnvWith(t, testenv.Backends(t)[0].Open(t), testenv.Options{})
	resp, err := e.Client.Get(e.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	info := buildinfo.Get()
	want := fmt.Sprintf("gatehouse_build_info{commit=%q,goversion=%q,version=%q} 1\n", info.Commit, info.GoVersion, info.Version)
	if !strings.Contains(string(body), want) {
		t.Errorf("/metrics lacks %q:\n%s", want, grepLines(body, "gatehouse_build"))
	}
}
