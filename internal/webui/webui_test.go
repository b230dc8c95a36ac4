package webui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCSP(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		origins []string
		want    string
	}{
		{nil, "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"},
		{[]string{"https://a.example", "", "https://a.example", "https://a.example:8443"},
			"default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' https://a.example https://a.example:8443; frame-ancestors 'none'; base-uri 'none'"},
	} {
		if got := CSP(tt.origins...); got != tt.want {
			t.Errorf("CSP(%v) = %q, want %q", tt.origins, got, tt.want)
		}
	}
}

func TestWantsHTML(t *testing.T) {
	t.Parallel()
	for accept, want := range map[string]bool{
		"": false, "*/*": false, "application/json": false, "application/json, text/html": false,
		"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8": true, "text/html": true,
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		if got := WantsHTML(r); got != want {
			t.Errorf("WantsHTML(%q) = %v, want %v", accept, got, want)
		}
	}
}

// TestTooManyGrammar: "a second", never "1 seconds"; the number otherwise;
// German when the browser asks for it; the status and the policy.
func TestTooManyGrammar(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ retry, lang, want, not string }{
		{"1", "", "Wait a second and try again.", "1 seconds"},
		{"42", "", "Wait 42 seconds and try again.", ""},
		{"1", "de-CH,de;q=0.9", "Warten Sie eine Sekunde", "1 Sekunden"},
		{"7", "fr, de;q=0.5", "Warten Sie 7 Sekunden", ""},
	} {
		r := httptest.NewRequest("GET", "/oauth2/v2/authorization", nil)
		r.Header.Set("Accept-Language", tt.lang)
		w := httptest.NewRecorder()
		TooMany(w, r, tt.retry)
		body := w.Body.String()
		if w.Code != http.StatusTooManyRequests || !strings.Contains(body, tt.want) || tt.not != "" && strings.Contains(body, tt.not) {
			t.Errorf("retry %s, %q: %d %s", tt.retry, tt.lang, w.Code, body)
		}
		if w.Header().Get("Content-Security-Policy") != CSP() || InlineCode(body) != "" {
			t.Errorf("retry %s: policy %q or inline code %q", tt.retry, w.Header().Get("Content-Security-Policy"), InlineCode(body))
		}
	}
}

func TestInlineCode(t *testing.T) {
	t.Parallel()
	for page, bad := range map[string]bool{
		`<p class="x">ok</p>`: false, `<style>p{}</style>`: true, `<p style="color:red">`: true,
		`<script>1</script>`: true, `<img src=x onerror="1">`: true, `<a href="javascript:1">`: true,
		`<p>the onboarding page</p>`: false,
	} {
		if got := InlineCode(page) != ""; got != bad {
			t.Errorf("InlineCode(%q) found %v, want %v", page, got, bad)
		}
	}
}
