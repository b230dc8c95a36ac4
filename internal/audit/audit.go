// Package audit records every /api/v1 write in the append-only audit_events
// table, in the write's own transaction: the change and its record commit
// together or not at all, so a failed write leaves no event and a committed
// one always has exactly one.
//
// How it works: for a write operation, the API guard starts an Entry (who,
// which operation, which organization, the request ID, and a default
// resource type and ID taken from the route) and Begin puts it in the request
// context together with a store.CommitHook. Every store.Tx run with that
// context calls the hook just before committing, and the hook inserts the
// event, once per request. The services that perform the write say what
// changed with Describe (resource type and ID, before and after); a write
// whose service does not describe it is still recorded, with the route's
// resource and no snapshots.
//
// Snapshots are JSON with secrets removed: any field whose name contains
// "secret", "hash", "token" or "password", or ends in "Enc" (a sealed value),
// is dropped, at any depth. Field names are written in lower camel case.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Actor is who made a change.
type Actor struct {
	Kind    string  `json:"kind"`
	ID      string  `json:"id"`
	Subject string  `json:"subject"`
	RoleID  string  `json:"roleId,omitempty"`
	Source  *Source `json:"source,omitempty"`
}

// Source is who assumed the role of a role session.
type Source struct {
	Kind    string `json:"kind"`
	ID      string `json:"id"`
	Subject string `json:"subject"`
}

// Entry is one write in progress. The guard fills the first fields; Describe
// fills the rest.
type Entry struct {
	// NewID and Now make the event's ID (a UUIDv7) and time.
	NewID func() string
	Now   func() time.Time

	OrganizationID string
	OperationID    string
	RequestID      string
	Actor          Actor

	mu                       sync.Mutex
	resourceType, resourceID string
	before, after            json.RawMessage
	recorded                 bool
}

type entryKey struct{}

// Begin returns ctx carrying e and the commit hook that records it. The
// resource type and ID are the defaults (from the route) that Describe may
// replace.
func Begin(ctx context.Context, e *Entry, resourceType, resourceID string) context.Context {
	e.resourceType, e.resourceID = resourceType, resourceID
	ctx = context.WithValue(ctx, entryKey{}, e)
	return store.WithCommitHook(ctx, e.commit)
}

// From returns the entry in ctx, nil outside an audited write.
func From(ctx context.Context) *Entry {
	e, _ := ctx.Value(entryKey{}).(*Entry)
	return e
}

// Describe says what the write in ctx changes: the resource's type and ID
// (empty values keep the route's), its state before (nil for a creation) and
// after (nil for a deletion). Call it inside the write's transaction, before
// it commits. Outside an audited write it does nothing.
func Describe(ctx context.Context, resourceType, resourceID string, before, after any) {
	e := From(ctx)
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if resourceType != "" {
		e.resourceType = resourceType
	}
	if resourceID != "" {
		e.resourceID = resourceID
	}
	e.before, e.after = Snapshot(before), Snapshot(after)
}

// Action records an audited operation that changes nothing stored (issuing
// cloud credentials, validating a cloud connection): the event is the only row
// its transaction writes, with detail as the after state (secrets removed like
// any snapshot). Call it once the operation has succeeded, so a failure leaves
// no event; if recording fails, the operation must fail too, so nothing is
// handed out unaudited. Outside an audited request it does nothing.
func Action(ctx context.Context, st *store.Store, resourceType, resourceID string, detail any) error {
	if From(ctx) == nil {
		return nil
	}
	return st.Tx(ctx, func(*store.Q) error {
		Describe(ctx, resourceType, resourceID, nil, detail)
		return nil
	})
}

// Unaudited returns ctx without the request's commit hook, for an incidental
// write that is not the request's own (an idempotent "ensure" done on the
// way): its transaction must not carry the request's event, which belongs
// to the write that follows and must vanish if that write fails.
func Unaudited(ctx context.Context) context.Context { return store.WithCommitHook(ctx, nil) }

// commit is the store.CommitHook: it inserts the event once per request (a
// write that happened to run two transactions is still one event, recorded
// with the first).
func (e *Entry) commit(ctx context.Context, q *store.Q) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.recorded {
		return nil
	}
	actor, err := json.Marshal(e.Actor)
	if err != nil {
		return fmt.Errorf("audit actor: %w", err)
	}
	ev := &store.AuditEvent{
		ID: e.NewID(), OrganizationID: e.OrganizationID, Time: e.Now().UTC().Truncate(time.Millisecond),
		ActorKind: e.Actor.Kind, ActorID: e.Actor.ID, ActorSubject: e.Actor.Subject, Actor: string(actor),
		OperationID: e.OperationID, ResourceType: e.resourceType, ResourceID: e.resourceID,
		Before: string(e.before), After: string(e.after), RequestID: e.RequestID,
	}
	if err := q.InsertAuditEvent(ctx, ev); err != nil {
		return fmt.Errorf("audit %s: %w", e.OperationID, err)
	}
	e.recorded = true
	return nil
}

// Snapshot renders v as JSON for the audit log with secrets removed (see the
// package documentation); nil renders as null. Values that do not encode are
// recorded as a note rather than failing the write.
func Snapshot(v any) json.RawMessage {
	if v == nil {
		return json.RawMessage("null")
	}
	if raw, ok := v.(json.RawMessage); ok && len(raw) == 0 {
		return json.RawMessage("null")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`{"unrecorded":"the resource could not be encoded"}`)
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return json.RawMessage(`{"unrecorded":"the resource could not be encoded"}`)
	}
	out, err := json.Marshal(redact(generic))
	if err != nil {
		return json.RawMessage(`{"unrecorded":"the resource could not be encoded"}`)
	}
	return out
}

// redact drops secret fields and lower-cases the first letter of field names
// (Go field names become JSON-style names: ID → id, OrganizationID →
// organizationID).
func redact(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if Secret(k) {
				continue
			}
			out[lowerFirst(k)] = redact(e)
		}
		return out
	case []any:
		for i, e := range x {
			x[i] = redact(e)
		}
		return x
	}
	return v
}

// Secret reports whether a field named name holds a secret that the audit
// log must never contain.
func Secret(name string) bool {
	l := strings.ToLower(name)
	for _, w := range []string{"secret", "hash", "token", "password", "privatekey"} {
		if strings.Contains(l, w) {
			return true
		}
	}
	return strings.HasSuffix(name, "Enc")
}

func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError {
		return s
	}
	// A leading acronym is lowered whole: ID → id, OIDCIssuer → oidcIssuer.
	end := n
	for end < len(s) {
		r2, m := utf8.DecodeRuneInString(s[end:])
		if !unicode.IsUpper(r2) {
			break
		}
		next := end + m
		if next < len(s) {
			if r3, _ := utf8.DecodeRuneInString(s[next:]); unicode.IsLower(r3) {
				break
			}
		}
		end = next
	}
	if !unicode.IsUpper(r) {
		return s
	}
	return strings.ToLower(s[:end]) + s[end:]
}
