package oidc

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// TestTranslationsComplete: every text exists in every language, and every
// page renders in every language (a template naming a missing field fails).
func TestTranslationsComplete(t *testing.T) {
	for lang, m := range catalogue {
		v := reflect.ValueOf(*m)
		for i := range v.NumField() {
			if v.Field(i).String() == "" {
				t.Errorf("%s: %s is empty", lang, v.Type().Field(i).Name)
			}
		}
		if m.Lang != lang {
			t.Errorf("%s: Lang %q", lang, m.Lang)
		}
		views := map[string]any{
			"login":    &loginView{T: m, State: "s", CSRF: "c", Session: "jo@x", Providers: []providerChoice{{ID: "p", Name: "P"}}, Error: "e", Forgot: ForgotPath},
			"forgot":   linkView{T: m, Action: ForgotPath, CSRF: "c", Email: "jo@x", Error: "e"},
			"consent":  consentView{T: m, State: "s", CSRF: "c", Client: "App", Subject: "jo@x", Scopes: []scopeView{describeScope(m, "openid"), describeScope(m, "x")}},
			"onboard":  onboardView{T: m, State: "s", CSRF: "c", Subject: "jo@x", Error: "e", Roles: roleChoices(m, nil)},
			"logout":   logoutView{T: m, Subject: "jo@x", CSRF: "c", ClientID: "app", PostLogoutRedirectURI: "https://app/bye", State: "s"},
			"continue": continueView{T: m, URL: "https://idp.example/authorize?a=1&b=2"},
			"message":  messageView{T: m, Title: "t", Text: "x"},
		}
		for name, data := range views {
			var b bytes.Buffer
			if err := pages.ExecuteTemplate(&b, name, data); err != nil {
				t.Errorf("%s %s: %v", lang, name, err)
			}
			if !strings.Contains(b.String(), `lang="`+lang+`"`) {
				t.Errorf("%s %s: no lang attribute", lang, name)
			}
		}
	}
	for _, r := range roleChoices(english, nil) {
		if r.Text == "" {
			t.Errorf("role %s has no description", r.Name)
		}
	}
}

// TestOrigin: only plain scheme://host[:port] origins reach a CSP.
func TestOrigin(t *testing.T) {
	tests := map[string]string{
		"https://app.example/cb?x=1":      "https://app.example",
		"http://127.0.0.1:9999/callback":  "http://127.0.0.1:9999",
		"http://[::1]:8080/cb":            "http://[::1]:8080",
		"ftp://app.example/":              "",
		"/relative":                       "",
		"https://app.example;script-src/": "",
		"https://a b/":                    "",
		"https://user@app.example/":       "https://app.example",
	}
	for in, want := range tests {
		if got := origin(in); got != want {
			t.Errorf("origin(%q) = %q, want %q", in, got, want)
		}
	}
	if got := contentSecurityPolicy([]string{"https://a.example", "", "https://a.example"}); !strings.Contains(got, "form-action 'self' https://a.example;") {
		t.Errorf("CSP %q", got)
	}
}
