package tenancy

import "testing"

func TestIsHostname(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want bool
	}{
		{"example.com", true},
		{"a-b.example.co.uk", true},
		{"x1.io", true},
		{"localhost", false},
		{"-bad.com", false},
		{"bad-.com", false},
		{"exa mple.com", false},
		{"example..com", false},
		{"user@example.com", false},
		{"", false},
	} {
		if got := IsHostname(c.in); got != c.want {
			t.Errorf("IsHostname(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}
