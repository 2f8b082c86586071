package tests

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestMetricsDocumented checks that docs/metrics.md lists every metric
// the code registers (a `Name: "petrel_..."` in a non-test file under
// internal/) and nothing else, so that an administrator's alerts are built
// on names that exist.
func TestMetricsDocumented(t *testing.T) {
	root := filepath.Join("..")
	inCode := map[string]string{}
	nameRE := regexp.MustCompile(`Name:\s*"(petrel_[a-z0-9_]+)"`)
	err := filepath.WalkDir(filepath.Join(root, "internal"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range nameRE.FindAllStringSubmatch(string(b), -1) {
			inCode[m[1]] = p
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(inCode) < 20 {
		t.Fatalf("found only %d metric names in internal/: the pattern no longer matches the code", len(inCode))
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	// A documented metric is a table row: | `petrel_...` | type | ...
	rowRE := regexp.MustCompile("(?m)^\\| `(petrel_[a-z0-9_]+)` \\|")
	inDoc := map[string]bool{}
	for _, m := range rowRE.FindAllStringSubmatch(string(doc), -1) {
		inDoc[m[1]] = true
	}
	var missing, stale []string
	for n := range inCode {
		if !inDoc[n] {
			missing = append(missing, n+" ("+inCode[n]+")")
		}
	}
	for n := range inDoc {
		if _, ok := inCode[n]; !ok {
			stale = append(stale, n)
		}
	}
	slices.Sort(missing)
	slices.Sort(stale)
	if len(missing) > 0 {
		t.Errorf("metrics not in docs/metrics.md: %v", missing)
	}
	if len(stale) > 0 {
		t.Errorf("docs/metrics.md lists metrics the code does not register: %v", stale)
	}
}
