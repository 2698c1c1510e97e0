package subscription

import "testing"

// TestSuccessCodesReadAsMedplum: subscription-success-codes values and
// statuses, with what Medplum's isJobSuccessful answers for each.
func TestSuccessCodesReadAsMedplum(t *testing.T) {
	for _, tc := range []struct {
		codes  string
		status int
		want   bool
	}{
		{"", 200, true}, // no extension: 2xx and 3xx
		{"", 399, true},
		{"", 400, false},
		{"123, fda-fda", 200, true},    // not an integer: the default
		{"1a,asd,fda-fda", 500, false}, // the first entry already falls back
		{"200,300,400-505", 500, true}, // in a range
		{"300,400-505", 200, false},    // listed codes replace the default
		{"200, 204", 204, true},        // spaces removed
		{"200-299", 299, true},         // bounds included
		{"200-299", 300, false},        //
		{"404, x", 404, true},          // matched before the entry that falls back
		{"404, x", 201, true},          // ... and the fallback after it
		{"404, x", 500, false},         //
		{"-250", 200, true},            // Number("") is 0: 0 to 250
		{"200-", 200, false},           // 200 to 0: empty
		{"200,", 0, true},              // "" is code 0
		{"2e2", 200, true},             // Number("2e2") is 200
		{"200.0", 200, true},           // an integer as Number() reads it
		{"200.5", 200, true},           // not an integer: the default
		{"202-204-100", 203, true},     // only the first two pieces
		{"0xC8", 200, true},            // Number("0xC8") is 200
		{"0x1F", 200, false},           // 31 only
	} {
		if got := parseSuccessCodes(tc.codes).delivered(tc.status); got != tc.want {
			t.Errorf("success codes %q, status %d: delivered=%v, want %v", tc.codes, tc.status, got, tc.want)
		}
	}
}

// BenchmarkSignature: X-Signature's cost per delivery, for a 1 KiB and a
// 64 KiB body.
func BenchmarkSignature(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		body := make([]byte, size)
		b.Run(map[int]string{1 << 10: "1KiB", 64 << 10: "64KiB"}[size], func(b *testing.B) {
			b.SetBytes(int64(size))
			for range b.N {
				_ = signature("s3cret", body)
			}
		})
	}
}
