package server

import (
	"net/http"

	"github.com/gatehouse/gatehouse/internal/access"
)

// mayGrant is the request's check of the right to grant access (see
// access.GrantOperation), decided for the caller the guard loaded, at the
// time and from the address the guard saw.
func (h *handlers) mayGrant(r *http.Request) access.GrantCheck {
	d := decidedFrom(r.Context())
	if d == nil {
		return nil // refuses every change of access: fail closed
	}
	return h.s.access.GrantCheck(d.caller, d.now, d.sourceIP)
}
