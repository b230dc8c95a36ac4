package objectlimit_test

import (
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/objectlimit"
)

// TestParse: --object-limits takes kind=N,...; unnamed kinds keep their
// defaults; unknown kinds, non-positive or malformed limits and repeats
// are refused, naming the flag.
func TestParse(t *testing.T) {
	t.Parallel()
	l, err := objectlimit.Parse(" apikeys=5, users=20000 ,")
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]int{objectlimit.APIKeys: 5, objectlimit.Users: 20000, objectlimit.Groups: objectlimit.Default(objectlimit.Groups)} {
		if got := l.Of(k); got != want {
			t.Errorf("%s = %d, want %d", k, got, want)
		}
	}
	var none objectlimit.Limits
	if none.Of(objectlimit.APIKeys) != 1000 || none.Of(objectlimit.Users) != 10000 {
		t.Errorf("nil limits are not the defaults: %s", none)
	}
	if !strings.Contains(l.String(), "apikeys=5,") || strings.Count(l.String(), "=") != len(objectlimit.Kinds()) {
		t.Errorf("String() = %q", l.String())
	}
	round, err := objectlimit.Parse(l.String())
	if err != nil || round.String() != l.String() {
		t.Errorf("Parse(String()) = %v, %v", round, err)
	}
	for _, bad := range []string{"apikeys", "apikeys=0", "apikeys=-1", "apikeys=x", "widgets=3", "users=1,users=2"} {
		if _, err := objectlimit.Parse(bad); err == nil || !strings.Contains(err.Error(), "--object-limits") {
			t.Errorf("Parse(%q) = %v, want an error naming --object-limits", bad, err)
		}
	}
}
