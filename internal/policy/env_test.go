package policy

import (
	"fmt"
	"testing"
	"time"

	"cel.dev/cel-go/cel"
)

// The cached time zone accessors must answer exactly as cel-go's own.
func TestZoneAccessorsMatchCEL(t *testing.T) {
	env := testEnv(t)
	plain, err := cel.NewEnv(cel.Variable(VarNow, cel.TimestampType), cel.DefaultUTCTimeZone(true))
	if err != nil {
		t.Fatal(err)
	}
	eval := func(e *cel.Env, expr string, now time.Time) (string, error) {
		ast, iss := e.Compile(expr)
		if iss.Err() != nil {
			return "", iss.Err()
		}
		prg, err := e.Program(ast)
		if err != nil {
			return "", err
		}
		out, _, err := prg.Eval(map[string]any{VarNow: now})
		if err != nil {
			return "", err
		}
		return fmt.Sprint(out.Value()), nil
	}
	times := []time.Time{
		time.Date(2026, 11, 23, 23, 30, 15, 250e6, time.UTC),
		time.Date(2026, 3, 29, 0, 59, 0, 0, time.UTC), // the night Zurich moves to summer time
		time.Date(2024, 12, 31, 23, 0, 0, 0, time.UTC),
	}
	locations.Delete("Asia/Kolkata")
	defer func() {
		if _, ok := locations.Load("Asia/Kolkata"); !ok {
			t.Error("the policy environment did not use the cached zone accessors")
		}
	}()
	for _, fn := range []string{"getFullYear", "getMonth", "getDayOfYear", "getDayOfMonth", "getDate",
		"getDayOfWeek", "getHours", "getMinutes", "getSeconds", "getMilliseconds"} {
		for _, tz := range []string{"Europe/Zurich", "America/New_York", "Asia/Kolkata", "UTC", "+05:30", "-08:00", "Nowhere/Atlantis", "+25:00"} {
			for _, now := range times {
				expr := fmt.Sprintf("now.%s('%s')", fn, tz)
				want, wantErr := eval(plain, expr, now)
				got, gotErr := eval(env.cel, expr, now)
				if got != want || (gotErr == nil) != (wantErr == nil) {
					t.Errorf("%s at %s = %q, %v; cel-go gives %q, %v", expr, now, got, gotErr, want, wantErr)
				}
			}
		}
	}
}
