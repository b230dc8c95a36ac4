package server

import (
	"net/http"

	"github.com/gatehouse/gatehouse/api"
	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Signing keys (issues 13 and 17): platform administrators list the token
// signing keys and rotate the platform's. The rules are internal/keys';
// these only translate. Neither ever touches private material: keys.List
// reads none, and a rotation reports key IDs.

// ListSigningKeys is GET /api/v1/signingkeys. The keys are few (a handful
// per key set) and read whole; pages cut the list in its order.
func (h *handlers) ListSigningKeys(w http.ResponseWriter, r *http.Request, params api.ListSigningKeysParams) {
	p, err := page(params.Limit, params.PageToken)
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	ks, err := h.s.keys.List(r.Context())
	if err == nil {
		if ks, err = keys.After(ks, p.After); err != nil {
			err = apierror.BadRequest("query parameter \"pageToken\": not a page token from this API")
		}
	}
	if p.Limit != store.NoLimit && len(ks) > p.Limit {
		ks = ks[:p.Limit]
	}
	replyList(h, w, r, p, ks, err, keys.KeyInfo.Cursor, signingKeyToAPI)
}

// RotateSigningKeys is POST /api/v1/signingkeys/rotate.
func (h *handlers) RotateSigningKeys(w http.ResponseWriter, r *http.Request) {
	var body api.SigningKeyRotationRequest
	if !h.decode(w, r, &body) {
		return
	}
	var algs []string
	if body.Algorithm != nil {
		if err := keys.CheckAlgorithm(string(*body.Algorithm)); err != nil {
			apierror.Write(w, apierror.BadRequest("algorithm: %v", err))
			return
		}
		algs = append(algs, string(*body.Algorithm))
	}
	rots, err := h.s.keys.RotateAlgorithms(r.Context(), algs...)
	h.reply(w, r, http.StatusOK, later(err, func() any { return rotationsToAPI(rots) }), err)
}

func signingKeyToAPI(k keys.KeyInfo) api.SigningKey {
	a := api.SigningKey{Kid: k.ID, Algorithm: api.SigningKeyAlgorithm(k.Algorithm), State: api.SigningKeyState(k.State),
		Scope: "platform", CreatedAt: k.CreatedAt.UTC(), ActivatedAt: optTime(k.ActivatedAt), RetiredAt: optTime(k.RetiredAt)}
	if k.State == store.SigningKeyRetired {
		a.ExpiresAt = optTime(k.ExpiresAt)
	}
	if k.Scope != store.PlatformScope {
		a.Scope, a.OrganizationId = "organization", ptr(k.Scope)
	}
	return a
}

func rotationsToAPI(rs []keys.Rotation) api.SigningKeyRotations {
	out := make(api.SigningKeyRotations, 0, len(rs))
	for _, r := range rs {
		a := api.SigningKeyRotation{Algorithm: api.SigningKeyAlgorithm(r.Algorithm), ActiveKid: r.Activated, NextKid: r.Next}
		if r.Retired != "" {
			a.RetiredKid = ptr(r.Retired)
		}
		out = append(out, a)
	}
	return out
}
