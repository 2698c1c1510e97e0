package wardhttp

import (
	"testing"
)

func TestRewriteURLsTouchesOnlyURLMembers(t *testing.T) {
	replace := func(v string) (string, bool) {
		id, _, ok := namedBinary(v)
		return "X:" + id, ok
	}
	for _, c := range []struct{ in, want string }{
		{`{"content":{"url":"Binary/b1","title":"Binary/b1"}}`, `{"content":{"url":"X:b1","title":"Binary/b1"}}`},
		{`{"a":[{"url" : "Binary/b1/_history/v1"},{"path":"https://h/fhir/R4/Binary/b2"}]}`, `{"a":[{"url" : "X:b1"},{"path":"X:b2"}]}`},
		{`{"url":"https://h/storage/b3/v3?Expires=1&Signature=abc"}`, `{"url":"X:b3"}`},
		{`{"url":"https://h/storage/b3/v3?Expires=1"}`, `{"url":"https://h/storage/b3/v3?Expires=1"}`},
		{`{"url":"https://elsewhere/Binary/b4"}`, `{"url":"https://elsewhere/Binary/b4"}`},
		{`{"url":{"x":"Binary/b5"},"y":"Binary/b6"}`, `{"url":{"x":"Binary/b5"},"y":"Binary/b6"}`},
		{`{"note":"say \"url\":","url":"Patient/p"}`, `{"note":"say \"url\":","url":"Patient/p"}`},
	} {
		if got := string(rewriteURLs([]byte(c.in), replace)); got != c.want {
			t.Errorf("%s\n got %s\nwant %s", c.in, got, c.want)
		}
	}
}
