package tenancy

import "github.com/gatehouse/gatehouse/internal/store"

// Hooks let another service do its own work inside the transaction of a
// user or group write of this one, so that its rows, the resource and the
// audit event commit together or not at all (the SCIM service keeps a
// directory's attributes so, and refuses writes whose precondition no
// longer holds). Either may be nil.
type Hooks[T any] struct {
	// Prepare runs once the stored row is read (old; nil on create) and
	// before any check or write: it may refuse (its error is the write's)
	// or adjust the new row (nil on delete) from the stored one.
	Prepare func(q *store.Q, old, new *T) error
	// Then runs after the write, before the commit.
	Then func(q *store.Q, old, new *T) error
}

func (h Hooks[T]) prepare(q *store.Q, old, new *T) error {
	if h.Prepare == nil {
		return nil
	}
	return h.Prepare(q, old, new)
}

func (h Hooks[T]) then(q *store.Q, old, new *T) error {
	if h.Then == nil {
		return nil
	}
	return h.Then(q, old, new)
}
