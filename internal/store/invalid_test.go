package store_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testenv"
)

// TestInvalidInputClassified: PostgreSQL refuses NUL and invalid UTF-8 in
// text (SQLSTATE 22021) as the statement's fault; the store reports that as
// ErrInvalidInput (the API's 400), never as a database fault or an
// unclassified error (a 500). SQLite stores such text: the API refuses it
// before the store on both engines (internal/server TestInputText).
func TestInvalidInputClassified(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "22021"}, true},
		{fmt.Errorf("get user: %w", &pgconn.PgError{Code: "22P05"}), true},
		{&pgconn.PgError{Code: "22001"}, true},
		{&pgconn.PgError{Code: "23505"}, false},
		{&pgconn.PgError{Code: "08006"}, false},
		{fmt.Errorf("x: %w", store.ErrInvalidInput), true},
		{errors.New("22021"), false},
	} {
		if got := store.IsInvalidInput(c.err); got != c.want {
			t.Errorf("IsInvalidInput(%v) = %v, want %v", c.err, got, c.want)
		}
	}

	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		st, ctx := testenv.Postgres(t), t.Context()
		sc := newScope(t, st, "invalid")
		for what, subject := range map[string]string{"NUL": "jo\x00@example.com", "invalid UTF-8": "jo\xff@example.com"} {
			err := st.Tx(ctx, func(q *store.Q) error {
				return q.CreateUser(ctx, &store.User{Meta: newMeta(sc.org, "jo"), Subject: subject, State: "active"})
			})
			if !errors.Is(err, store.ErrInvalidInput) || store.IsUnavailable(err) {
				t.Errorf("user with %s in its subject: error %v, want ErrInvalidInput", what, err)
			}
			_, err = st.Read().GetUser(ctx, sc.org, "id\x00")
			if !store.IsInvalidInput(err) {
				t.Errorf("read by an ID with %s: error %v, want one IsInvalidInput recognizes", what, err)
			}
		}
		if n := count(t, st, "users", "organization_id = $1 AND name = $2", sc.org, "jo"); n != 0 {
			t.Errorf("%d users written", n)
		}
	})
}
