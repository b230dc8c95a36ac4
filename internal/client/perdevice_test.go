package client_test

import (
	"testing"

	"github.com/gatehouse/gatehouse/internal/client"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestSessionPerDevice: the setting is stored by create and update, kept by
// SpecOf, declared by the clients file (an apply with it changed updates the
// client, one without changes nothing) and off by default.
func TestSessionPerDevice(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		r, _ := newRegistry(open(t))
		ctx := t.Context()
		c, _, err := r.Create(ctx, client.Spec{Name: "Console", Type: client.Public, RedirectURIs: []string{"http://127.0.0.1/cb"}})
		if err != nil || c.SessionPerDevice {
			t.Fatalf("default: %+v, %v", c, err)
		}
		spec := client.SpecOf(c)
		spec.SessionPerDevice = true
		if c, err = r.Update(ctx, c.ID, spec); err != nil || !c.SessionPerDevice {
			t.Fatalf("update: %+v, %v", c, err)
		}
		if got, err := r.Get(ctx, c.ID); err != nil || !got.SessionPerDevice || !client.SpecOf(got).SessionPerDevice {
			t.Fatalf("read back: %+v, %v", got, err)
		}
		file := func(perDevice string) string {
			return `{"clients": [{"id": "spa", "name": "SPA", "type": "public", "redirectURIs": ["http://127.0.0.1/callback"],
			  "sessionPerDevice": ` + perDevice + `}]}`
		}
		for _, v := range []string{"true", "false", "true"} {
			if _, err := r.ApplyFile(ctx, writeFile(t, file(v)), env(nil)); err != nil {
				t.Fatal(err)
			}
			if got, err := r.Get(ctx, "spa"); err != nil || got.SessionPerDevice != (v == "true") {
				t.Fatalf("after applying sessionPerDevice %s: %+v, %v", v, got, err)
			}
		}
	})
}
