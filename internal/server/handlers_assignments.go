package server

import (
	"net/http"

	"github.com/gatehouse/gatehouse/api"
	"github.com/gatehouse/gatehouse/internal/assignment"
	"github.com/gatehouse/gatehouse/internal/pagination"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Permission set and account assignment handlers (issue 6). Thin: the
// logic is in internal/assignment, the decisions in internal/access.

// --- permission sets ---

func (h *handlers) ListPermissionSets(w http.ResponseWriter, r *http.Request, organizationID string, params api.ListPermissionSetsParams) {
	p, err := h.s.assignments.ListPermissionSets(r.Context(), organizationID, pagination.Request{Page: params.Page, Size: params.Size, Sort: deref(params.Sort)})
	h.reply(w, r, http.StatusOK, later(err, func() any { return permissionSetPageToAPI(p) }), err)
}

// writePermissionSet decodes a permission set body and hands it to write.
func (h *handlers) writePermissionSet(w http.ResponseWriter, r *http.Request, status int,
	write func(in assignment.PermissionSetInput) (*assignment.PermissionSet, error)) {
	var in api.PermissionSetWrite
	if !h.decode(w, r, &in) {
		return
	}
	ps, err := permissionSetInputFromAPI(in, h.limits())
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	set, err := write(ps)
	h.reply(w, r, status, later(err, func() any { return permissionSetToAPI(set) }), err)
}

func (h *handlers) CreatePermissionSet(w http.ResponseWriter, r *http.Request, organizationID string) {
	h.writePermissionSet(w, r, http.StatusCreated, func(in assignment.PermissionSetInput) (*assignment.PermissionSet, error) {
		return h.s.assignments.CreatePermissionSet(r.Context(), principal(r), organizationID, in)
	})
}

func (h *handlers) GetPermissionSet(w http.ResponseWriter, r *http.Request, organizationID, permissionSetID string) {
	set, err := h.s.assignments.GetPermissionSet(r.Context(), organizationID, permissionSetID)
	h.reply(w, r, http.StatusOK, later(err, func() any { return permissionSetToAPI(set) }), err)
}

func (h *handlers) UpdatePermissionSet(w http.ResponseWriter, r *http.Request, organizationID, permissionSetID string) {
	h.writePermissionSet(w, r, http.StatusOK, func(in assignment.PermissionSetInput) (*assignment.PermissionSet, error) {
		return h.s.assignments.UpdatePermissionSet(r.Context(), origin(r), organizationID, permissionSetID, in)
	})
}

func (h *handlers) DeletePermissionSet(w http.ResponseWriter, r *http.Request, organizationID, permissionSetID string) {
	h.reply(w, r, http.StatusOK, nil, h.s.assignments.DeletePermissionSet(r.Context(), organizationID, permissionSetID))
}

// --- account assignments ---

func (h *handlers) ListAccountAssignments(w http.ResponseWriter, r *http.Request, organizationID string, params api.ListAccountAssignmentsParams) {
	f, req, err := assignmentQuery(params)
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	p, err := h.s.assignments.ListAssignments(r.Context(), organizationID, f, req)
	h.reply(w, r, http.StatusOK, later(err, func() any { return assignmentPageToAPI(p) }), err)
}

func (h *handlers) CreateAccountAssignments(w http.ResponseWriter, r *http.Request, organizationID string) {
	var in api.AccountAssignmentsCreate
	if !h.decode(w, r, &in) {
		return
	}
	as, err := h.s.assignments.CreateAssignments(r.Context(), origin(r), organizationID, createRequestFromAPI(in))
	h.reply(w, r, http.StatusCreated, later(err, func() any { return api.AccountAssignmentList{Items: assignmentsToAPI(as)} }), err)
}

func (h *handlers) GetAccountAssignment(w http.ResponseWriter, r *http.Request, organizationID, accountAssignmentID string) {
	a, err := h.s.assignments.GetAssignment(r.Context(), organizationID, accountAssignmentID)
	h.reply(w, r, http.StatusOK, later(err, func() any { return assignmentToAPI(a) }), err)
}

func (h *handlers) DeleteAccountAssignment(w http.ResponseWriter, r *http.Request, organizationID, accountAssignmentID string) {
	h.reply(w, r, http.StatusOK, nil, h.s.assignments.DeleteAssignment(r.Context(), organizationID, accountAssignmentID))
}

// effective answers the assignments that reach a user or service account.
func (h *handlers) effective(w http.ResponseWriter, r *http.Request, organizationID string, member assignment.Ref, params api.ListAccountAssignmentsParams) {
	f, req, err := assignmentQuery(params)
	if err != nil {
		h.s.writeError(w, r, err)
		return
	}
	p, err := h.s.assignments.ListEffective(r.Context(), organizationID, member, f, req)
	h.reply(w, r, http.StatusOK, later(err, func() any { return assignmentPageToAPI(p) }), err)
}

func (h *handlers) ListUserAccountAssignments(w http.ResponseWriter, r *http.Request, organizationID, userID string, params api.ListUserAccountAssignmentsParams) {
	h.effective(w, r, organizationID, assignment.Ref{Type: store.PrincipalUser, ID: userID}, api.ListAccountAssignmentsParams(params))
}

func (h *handlers) ListServiceAccountAccountAssignments(w http.ResponseWriter, r *http.Request, organizationID, serviceAccountID string,
	params api.ListServiceAccountAccountAssignmentsParams) {
	h.effective(w, r, organizationID, assignment.Ref{Type: store.PrincipalServiceAccount, ID: serviceAccountID}, api.ListAccountAssignmentsParams(params))
}
