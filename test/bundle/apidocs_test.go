package bundle_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// docs/api.md is what crd-ref-docs, at the version the Makefile pins, makes of api/ today.
func TestAPIReferenceIsUpToDate(t *testing.T) {
	makefile, err := os.ReadFile(filepath.Join(root(), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^CRD_REF_DOCS_VERSION \?= (\S+)$`).FindSubmatch(makefile)
	if m == nil {
		t.Fatal("Makefile sets no CRD_REF_DOCS_VERSION")
	}
	out := filepath.Join(t.TempDir(), "api.md")
	cmd := exec.Command("go", "run", "github.com/elastic/crd-ref-docs@"+string(m[1]),
		"--source-path=./api/v1alpha1", "--config=hack/api-docs/config.yaml", "--renderer=markdown", "--output-path="+out)
	cmd.Dir = root()
	if log, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("crd-ref-docs: %v\n%s", err, log)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile(filepath.Join(root(), "docs", "api.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, have) {
		t.Error("docs/api.md is stale: run `make api-docs` and commit it")
	}
}
