package wardhttp

import "testing"

// TestUserSecretsNeverServed: passwordHash and mfaSecret leave every
// resource output (read, search, history and bundles all go through
// view.present), extended or not; other resources keep their bytes.
func TestUserSecretsNeverServed(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{"resourceType":"User","id":"u","meta":{"project":"p"},"email":"a@b.c","passwordHash":"$2a$10$x","mfaSecret":"S","firstName":"A"}`,
			`{"resourceType":"User","id":"u","meta":{"project":"p"},"email":"a@b.c","firstName":"A"}`},
		{`{"resourceType":"User","id":"u","email":"a@b.c"}`, `{"resourceType":"User","id":"u","email":"a@b.c"}`},
		{`{"resourceType":"Patient","id":"x","passwordHash":"kept: not a User"}`, `{"resourceType":"Patient","id":"x","passwordHash":"kept: not a User"}`},
	}
	for _, c := range cases {
		if got := string((view{extended: true}).present([]byte(c.in))); got != c.want {
			t.Errorf("extended present(%s)\n got %s\nwant %s", c.in, got, c.want)
		}
		if got := string((view{}).present([]byte(c.in))); got != string(stripMeta([]byte(c.want))) {
			t.Errorf("present(%s) = %s", c.in, got)
		}
	}
}
