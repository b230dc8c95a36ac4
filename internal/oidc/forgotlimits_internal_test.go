package oidc

import (
	"fmt"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/clientip"
)

// TestForgotLimitsKeys: the per-account bucket of the "Forgot password?"
// page is keyed by the normalized address, and only by a valid one. Keyed
// by what was typed, each post could leave a bucket holding up to the
// form's 16 KiB for an hour, and many client addresses (an IPv6 /48 is
// 65,536 of them, 5 posts each) could fill the limiter's 50,000 keys with
// some 800 MB: a memory exhaustion without an account.
func TestForgotLimitsKeys(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	l := newForgotLimits(nil, func() time.Time { return now })
	post := func(i int, email string) bool {
		r := httptest.NewRequest("POST", ForgotPath, nil)
		addr := netip.MustParseAddr(fmt.Sprintf("2001:db8:%x:%x::1", i>>16, i&0xffff))
		r = r.WithContext(clientip.WithAddr(r.Context(), addr))
		ok, _ := l.allow(r, email)
		return ok
	}
	junk := strings.Repeat("x", 16<<10)
	for i := range 100 {
		if !post(i, fmt.Sprintf("%d%s", i, junk)) {
			t.Fatalf("post %d refused", i)
		}
	}
	if n := l.byAccount.Len(); n != 0 {
		t.Errorf("%d account buckets for text that is no address, want 0", n)
	}

	// A valid address is one bucket however it is typed: the limit holds
	// for the account across spellings.
	for i := range DefaultForgotRate.N {
		if !post(1000+i, []string{"Jo@Corp.Example", " jo@corp.example", "JO@CORP.EXAMPLE "}[i%3]) {
			t.Fatalf("request %d for jo refused", i)
		}
	}
	if post(2000, "jo@corp.example") {
		t.Error("jo's requests past the limit allowed")
	}
	if n := l.byAccount.Len(); n != 1 {
		t.Errorf("%d account buckets, want 1", n)
	}
}
