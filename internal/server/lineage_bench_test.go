package server_test

import (
	"context"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/authn"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// BenchmarkAuthenticateDerived is the authentication of one bearer token
// in process, without HTTP: a service account token (no lineage), a role
// session (signature from the verified cache, revocation, and its lineage
// in one query) and an API key a session minted (the key's row, and its
// lineage in one query). The difference to the old code is the lineage
// query.
func BenchmarkAuthenticateDerived(b *testing.B) {
	for _, be := range testenv.Backends(b) {
		a := &apiEnv{Env: testenv.NewEnv(b, be.Open(b))}
		l := a.lineageOrg(b, "bench")
		session, _ := l.session(b, l.ops.token, 3600)
		_, minted, _ := l.key(b, session, "minted", l.role)
		chain := authn.Chain{authn.ServiceAccounts{Store: a.Store, Now: a.Clock.Now}, authn.APIKeys{Store: a.Store, Now: a.Clock.Now},
			a.Provider.Authenticator()}
		for _, c := range []struct{ name, token string }{
			{"service-account", l.admin.token}, {"role-session", session}, {"session-minted-key", minted},
		} {
			b.Run(be.Name+"/"+c.name, func(b *testing.B) {
				ctx := context.Background()
				b.ReportAllocs()
				before := cpuTime(b)
				for b.Loop() {
					if _, err := chain.Authenticate(ctx, c.token); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(cpuTime(b)-before)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// BenchmarkDerivedCredentialHTTP is GET /api/v1/organizations/{id}/groups
// end to end over a keep-alive loopback connection, by a service account
// (no lineage: the baseline), a role session it assumed, and an API key
// that session minted: what checking a derived credential's lineage on
// every use costs. cpu-ns/op is the process's user+system CPU time per
// request (client and server: they share the process).
func BenchmarkDerivedCredentialHTTP(b *testing.B) {
	for _, be := range testenv.Backends(b) {
		a := &apiEnv{Env: testenv.NewEnv(b, be.Open(b))}
		l := a.lineageOrg(b, "bench")
		session, _ := l.session(b, l.ops.token, 3600)
		_, minted, _ := l.key(b, session, "minted", l.role)
		for _, c := range []struct{ name, token string }{
			{"service-account", l.admin.token}, {"role-session", session}, {"session-minted-key", minted},
		} {
			b.Run(be.Name+"/"+c.name, func(b *testing.B) {
				req, err := http.NewRequest("GET", a.URL+orgPath(l.admin.org, "groups"), nil)
				if err != nil {
					b.Fatal(err)
				}
				req.Header.Set("Authorization", "Bearer "+c.token)
				b.ReportAllocs()
				before := cpuTime(b)
				for b.Loop() {
					resp, err := a.Client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err != nil || resp.StatusCode != http.StatusOK {
						b.Fatalf("status %d, read error %v", resp.StatusCode, err)
					}
				}
				b.ReportMetric(float64(cpuTime(b)-before)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
