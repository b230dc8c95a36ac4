package mail_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/mail"
)

// TestSamples keeps docs/mail/ (every message, in every language, rendered
// as the HTML and text parts a reader sees) equal to what the templates
// make. GATEHOUSE_UPDATE_DOCS=1 rewrites the files.
func TestSamples(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "..", "docs", "mail")
	data := mail.Data{Link: "https://id.example.com/oauth2/v2/password?token=ghpw_EXAMPLE", ExpiresAt: time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC),
		Email: "jo@corp.example", Organization: "Acme", Issuer: "https://id.example.com", At: time.Date(2026, 12, 7, 9, 30, 0, 0, time.UTC)}
	update := os.Getenv("GATEHOUSE_UPDATE_DOCS") != ""
	if update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, lang := range mail.Languages {
		for _, kind := range mail.Kinds {
			m, err := mail.Render("sample", kind, lang, data.Email, data)
			if err != nil {
				t.Fatal(err)
			}
			for ext, body := range map[string]string{"html": m.HTML, "txt": "Subject: " + m.Subject + "\n\n" + m.Text} {
				path := filepath.Join(dir, kind+"."+lang+"."+ext)
				if update {
					if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				got, err := os.ReadFile(path)
				if err != nil || string(got) != body {
					t.Errorf("%s is not what the templates render (%v): run GATEHOUSE_UPDATE_DOCS=1 go test ./internal/mail -run TestSamples", path, err)
				}
			}
		}
	}
}
