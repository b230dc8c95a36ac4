package scim

import (
	"context"
	"io"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/internal/authz"
)

// Handler serves the SCIM operations of authz.SCIMRoutes. Thin: it reads
// the request, calls the Service, and answers SCIM JSON.
type Handler struct {
	Service *Service
	// BaseURL is the absolute URL of an organization's SCIM base
	// (…/scim/v2/organizations/{id}) for r: resources' locations.
	BaseURL func(r *http.Request, orgID string) string
	// Fail answers an error: a SCIM error as it is, anything else (the
	// server's to log and classify) in SCIM's shape too.
	Fail func(w http.ResponseWriter, r *http.Request, err error)
}

// Register adds every SCIM route to mux, each behind gate (which decides
// who may call the operation and puts its Caller in the context), and a
// SCIM 404 for any other path under /scim/v2/.
func (h *Handler) Register(mux *http.ServeMux, gate func(operationID string, next http.Handler) http.Handler) {
	ops := map[string]http.HandlerFunc{
		"scimGetServiceProviderConfig": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, serviceProviderConfig(h.base(r)))
		},
		"scimListResourceTypes": func(w http.ResponseWriter, r *http.Request) {
			all := resourceTypes(h.base(r))
			writeJSON(w, http.StatusOK, listOf(all, len(all), 1))
		},
		"scimGetResourceType": func(w http.ResponseWriter, r *http.Request) {
			for _, t := range resourceTypes(h.base(r)) {
				if t["id"] == r.PathValue("id") {
					writeJSON(w, http.StatusOK, t)
					return
				}
			}
			h.Fail(w, r, notFound("ResourceType", r.PathValue("id")))
		},
		"scimListSchemas": func(w http.ResponseWriter, r *http.Request) {
			all := schemas(h.base(r))
			writeJSON(w, http.StatusOK, listOf(all, len(all), 1))
		},
		"scimGetSchema": func(w http.ResponseWriter, r *http.Request) {
			for _, s := range schemas(h.base(r)) {
				if strings.EqualFold(s["id"].(string), r.PathValue("id")) {
					writeJSON(w, http.StatusOK, s)
					return
				}
			}
			h.Fail(w, r, notFound("Schema", r.PathValue("id")))
		},
		"scimListUsers": h.list(h.Service.ListUsers),
		"scimCreateUser": h.create(func(r *http.Request, c *Caller, body []byte) (any, string, error) {
			u, err := h.Service.CreateUser(r.Context(), c, h.base(r), body)
			if err != nil {
				return nil, "", err
			}
			return u, u.Meta.Location, nil
		}),
		"scimGetUser": h.one(func(r *http.Request, c *Caller) (any, string, error) {
			u, err := h.Service.GetUser(r.Context(), c, h.base(r), r.PathValue("id"))
			return u, metaVersion(u, err), err
		}),
		"scimReplaceUser": h.write(func(r *http.Request, c *Caller, body []byte) (any, string, error) {
			u, err := h.Service.ReplaceUser(r.Context(), c, h.base(r), r.PathValue("id"), body, r.Header.Get("If-Match"))
			return u, metaVersion(u, err), err
		}),
		"scimPatchUser": h.write(func(r *http.Request, c *Caller, body []byte) (any, string, error) {
			u, err := h.Service.PatchUser(r.Context(), c, h.base(r), r.PathValue("id"), body, r.Header.Get("If-Match"))
			return u, metaVersion(u, err), err
		}),
		"scimDeleteUser": h.remove(h.Service.DeleteUser),
		"scimListGroups": h.list(h.Service.ListGroups),
		"scimCreateGroup": h.create(func(r *http.Request, c *Caller, body []byte) (any, string, error) {
			g, err := h.Service.CreateGroup(r.Context(), c, h.base(r), body)
			if err != nil {
				return nil, "", err
			}
			return g, g.Meta.Location, nil
		}),
		"scimGetGroup": h.one(func(r *http.Request, c *Caller) (any, string, error) {
			g, err := h.Service.GetGroup(r.Context(), c, h.base(r), r.PathValue("id"))
			return g, groupVersion(g, err), err
		}),
		"scimReplaceGroup": h.write(func(r *http.Request, c *Caller, body []byte) (any, string, error) {
			g, err := h.Service.ReplaceGroup(r.Context(), c, h.base(r), r.PathValue("id"), body, r.Header.Get("If-Match"))
			return g, groupVersion(g, err), err
		}),
		"scimPatchGroup": h.write(func(r *http.Request, c *Caller, body []byte) (any, string, error) {
			g, err := h.Service.PatchGroup(r.Context(), c, h.base(r), r.PathValue("id"), body, r.Header.Get("If-Match"))
			return g, groupVersion(g, err), err
		}),
		"scimDeleteGroup": h.remove(h.Service.DeleteGroup),
	}
	for id, route := range authz.SCIMRoutes {
		f, ok := ops[id]
		if !ok {
			panic("scim: no handler for catalogue operation " + id)
		}
		mux.Handle(route.Method+" "+route.Path, gate(id, f))
	}
	mux.HandleFunc("/scim/v2/", func(w http.ResponseWriter, r *http.Request) {
		h.Fail(w, r, Errorf(http.StatusNotFound, "", "no SCIM operation %s %s (the base URL is /scim/v2/organizations/{organizationID})", r.Method, r.URL.Path))
	})
}

func (h *Handler) base(r *http.Request) string {
	return h.BaseURL(r, r.PathValue("organizationID"))
}

func metaVersion(u *User, err error) string {
	if err != nil || u == nil || u.Meta == nil {
		return ""
	}
	return u.Meta.Version
}

func groupVersion(g *Group, err error) string {
	if err != nil || g == nil || g.Meta == nil {
		return ""
	}
	return g.Meta.Version
}

// caller is the gate's Caller; a route reached without one is refused
// (fail closed).
func (h *Handler) caller(w http.ResponseWriter, r *http.Request) *Caller {
	c := callerFrom(r.Context())
	if c == nil {
		h.Fail(w, r, Errorf(http.StatusUnauthorized, "", "no authenticated caller"))
	}
	return c
}

func (h *Handler) body(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		h.Fail(w, r, badRequest(InvalidSyntax, "the request body cannot be read"))
		return nil, false
	}
	return b, true
}

func (h *Handler) list(f func(ctx context.Context, c *Caller, base string, q Query) (map[string]any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := h.caller(w, r)
		if c == nil {
			return
		}
		q, err := ParseQuery(r)
		if err == nil {
			var out map[string]any
			if out, err = f(r.Context(), c, h.base(r), q); err == nil {
				writeJSON(w, http.StatusOK, out)
				return
			}
		}
		h.Fail(w, r, err)
	}
}

func (h *Handler) one(f func(r *http.Request, c *Caller) (any, string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := h.caller(w, r)
		if c == nil {
			return
		}
		v, etag, err := f(r, c)
		if err != nil {
			h.Fail(w, r, err)
			return
		}
		if inm := r.Header.Get("If-None-Match"); inm != "" && etag != "" && (inm == etag || inm == "*") {
			w.Header().Set("ETag", etag)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		writeJSON(w, http.StatusOK, v)
	}
}

func (h *Handler) create(f func(r *http.Request, c *Caller, body []byte) (any, string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := h.caller(w, r)
		if c == nil {
			return
		}
		body, ok := h.body(w, r)
		if !ok {
			return
		}
		v, location, err := f(r, c, body)
		if err != nil {
			h.Fail(w, r, err)
			return
		}
		w.Header().Set("Location", location)
		switch x := v.(type) {
		case *User:
			w.Header().Set("ETag", metaVersion(x, nil))
		case *Group:
			w.Header().Set("ETag", groupVersion(x, nil))
		}
		writeJSON(w, http.StatusCreated, v)
	}
}

func (h *Handler) write(f func(r *http.Request, c *Caller, body []byte) (any, string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := h.caller(w, r)
		if c == nil {
			return
		}
		body, ok := h.body(w, r)
		if !ok {
			return
		}
		v, etag, err := f(r, c, body)
		if err != nil {
			h.Fail(w, r, err)
			return
		}
		w.Header().Set("ETag", etag)
		writeJSON(w, http.StatusOK, v)
	}
}

func (h *Handler) remove(f func(ctx context.Context, c *Caller, id, ifMatch string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := h.caller(w, r)
		if c == nil {
			return
		}
		if err := f(r.Context(), c, r.PathValue("id"), r.Header.Get("If-Match")); err != nil {
			h.Fail(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}
