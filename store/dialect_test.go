package store

import (
	"errors"
	"fmt"
	"testing"
)

type sqlStateError string

func (e sqlStateError) Error() string    { return "pg: " + string(e) }
func (e sqlStateError) SQLState() string { return string(e) }

// TestRetryable: only PostgreSQL's deadlock and serialization failures,
// however wrapped, make Write run a transaction again.
func TestRetryable(t *testing.T) {
	cases := []struct {
		d    Dialect
		err  error
		want bool
	}{
		{Postgres{}, sqlStateError("40P01"), true},
		{Postgres{}, fmt.Errorf("commit: %w", sqlStateError("40001")), true},
		{Postgres{}, sqlStateError("23505"), false},
		{Postgres{}, errors.New("40P01"), false},
		{SQLite{}, sqlStateError("40P01"), false},
	}
	for _, c := range cases {
		if got := c.d.Retryable(c.err); got != c.want {
			t.Errorf("%s.Retryable(%v) = %v, want %v", c.d.Name(), c.err, got, c.want)
		}
	}
}
