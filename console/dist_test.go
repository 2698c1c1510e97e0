package console

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestDistMatchesSources: console/dist was built from the app/ sources in
// the tree. app/hash-sources.mjs (run by `npm run build`) writes the hash
// of what the build reads to dist.sha256; a source change without a
// rebuild fails here rather than shipping a stale console.
func TestDistMatchesSources(t *testing.T) {
	want, err := os.ReadFile("dist.sha256")
	if err != nil {
		t.Fatalf("console/dist.sha256: %v (run npm --prefix console/app run build)", err)
	}
	files := []string{"index.html", "package-lock.json", "vite.config.js"}
	err = filepath.WalkDir("app/src", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, filepath.ToSlash(strings.TrimPrefix(p, "app/")))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	h := sha256.New()
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join("app", f))
		if err != nil {
			t.Fatal(err)
		}
		h.Write([]byte(f + "\x00"))
		h.Write(data)
		h.Write([]byte{0})
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != strings.TrimSpace(string(want)) {
		t.Errorf("console/dist is stale: app/ sources hash to %s, dist was built from %s.\n"+
			"Rebuild: npm --prefix console/app ci && npm --prefix console/app run build", got, strings.TrimSpace(string(want)))
	}
}
