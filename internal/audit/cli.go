package audit

import (
	"context"
	"os"
	"os/user"
	"time"
)

// ActorCLI is the actor kind of writes made by `gatehouse admin`: the
// operator at the database, outside any API request.
const ActorCLI = "cli"

// CLIOperationPrefix starts the operation of every `gatehouse admin` event,
// followed by the command ("admin users set-password").
const CLIOperationPrefix = "admin "

// BeginCLI returns ctx carrying the audit entry of `gatehouse admin`
// command (e.g. "users set-password"): every store.Tx run with it records
// the event, once, in the same transaction as the command's first write, so
// that the change and its record commit together. resourceType and
// resourceID are the defaults a service may refine with Describe; the
// entry is returned so that the command can name the organization it acts
// in. The actor is the operating system user who ran the command (the
// database gives no better name: whoever runs the CLI holds the database).
func BeginCLI(ctx context.Context, newID func() string, now func() time.Time, command, resourceType, resourceID string) (context.Context, *Entry) {
	who := osUser()
	e := &Entry{NewID: newID, Now: now, OperationID: CLIOperationPrefix + command,
		Actor: Actor{Kind: ActorCLI, ID: who, Subject: "cli:" + who}}
	return Begin(ctx, e, resourceType, resourceID), e
}

// osUser names the operating system user running the process, "unknown" if
// it cannot be told.
func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if n := os.Getenv("USER"); n != "" {
		return n
	}
	return "unknown"
}

// Name sets the resource of the write in ctx (what Describe sets, without
// snapshots) and, when orgID is not "", the organization it happens in; for
// a command that knows them only once its flags are parsed. Outside an
// audited write it does nothing.
func Name(ctx context.Context, orgID, resourceType, resourceID string) {
	e := From(ctx)
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if orgID != "" {
		e.OrganizationID = orgID
	}
	if resourceType != "" {
		e.resourceType = resourceType
	}
	if resourceID != "" {
		e.resourceID = resourceID
	}
}
