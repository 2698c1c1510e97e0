package store

import (
	"strings"
)

// HomesBackfill is the statement with which migration 00020 fills
// identity_homes from the rows written before it, in engine's form.
func HomesBackfill(engine string) string {
	b, err := migrations.ReadFile("migrations/00020_identity_homes." + engine + ".sql")
	if err != nil {
		panic(err)
	}
	up, _ := upDown(string(b))
	at := strings.Index(up, "INSERT INTO identity_homes")
	return up[at : at+strings.IndexByte(up[at:], ';')]
}
