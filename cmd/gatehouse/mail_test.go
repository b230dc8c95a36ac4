package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
)

// TestMailConfig: the mail options are checked at start, and the password
// comes from the environment or a file, never the URL.
func TestMailConfig(t *testing.T) {
	t.Parallel()
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("from the file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		c        config.Mail
		password string
		err      string
	}{
		{name: "no mail", c: config.Mail{}},
		{name: "password from the environment", c: config.Mail{SMTPURL: "smtp://gh@mail.example.com", SMTPPassword: "from env", MailFrom: "noreply@id.example.com"}, password: "from env"},
		{name: "password from a file", c: config.Mail{SMTPURL: "smtps://gh@mail.example.com", SMTPPasswordFile: pwFile, MailFrom: "Gatehouse <noreply@id.example.com>"}, password: "from the file"},
		{name: "no sender", c: config.Mail{SMTPURL: "smtp://mail.example.com"}, err: "--mail-from is required"},
		{name: "bad sender", c: config.Mail{SMTPURL: "smtp://mail.example.com", MailFrom: "not an address"}, err: "--mail-from"},
		{name: "password in the URL", c: config.Mail{SMTPURL: "smtp://gh:pw@mail.example.com", MailFrom: "noreply@id.example.com"}, err: "holds a password"},
		{name: "two passwords", c: config.Mail{SMTPURL: "smtp://gh@mail.example.com", SMTPPassword: "a", SMTPPasswordFile: pwFile, MailFrom: "noreply@id.example.com"}, err: "once"},
		{name: "password without user", c: config.Mail{SMTPURL: "smtp://mail.example.com", SMTPPassword: "a", MailFrom: "noreply@id.example.com"}, err: "names no user"},
		{name: "missing file", c: config.Mail{SMTPURL: "smtp://gh@mail.example.com", SMTPPasswordFile: pwFile + ".missing", MailFrom: "noreply@id.example.com"}, err: "--smtp-password-file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mc, err := mailConfig(&tc.c)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.c.SMTPURL == "" {
				if mc != nil {
					t.Fatal("mail configured without --smtp-url")
				}
				return
			}
			if mc.Password != tc.password || mc.From == nil {
				t.Fatalf("password %q, from %v", mc.Password, mc.From)
			}
		})
	}
}
