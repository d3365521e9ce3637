package harness

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestRepoRootFindsTheCheckoutFromBelow(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "config", "crd", "bases")); err != nil {
		t.Errorf("RepoRoot %s is not the checkout: %v", root, err)
	}
	if wd, _ := os.Getwd(); filepath.Join(root, "internal", "harness") != wd {
		t.Errorf("RepoRoot %s is not two levels above %s", root, wd)
	}
}

func TestRepoRootRefusesAnotherModule(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/other\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	if root, err := RepoRoot(); err == nil {
		t.Errorf("RepoRoot = %s in another module, want an error", root)
	}
}

// Product code never depends on the harness or on test/: only the demo, the benchmark tools
// of hack/ and tests import the harness, and nothing imports test/.
func TestOnlyTheDemoImportsTheHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("lists every package of the module")
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	harness, test := Module+"/internal/harness", Module+"/test/"
	mayUseHarness := func(pkg string) bool {
		return pkg == Module+"/internal/demo" || pkg == Module+"/cmd/demo" || strings.HasPrefix(pkg, Module+"/hack/") ||
			pkg == harness || strings.HasPrefix(pkg, harness+"/")
	}
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, " ")
		for imp := range strings.FieldsSeq(imports) {
			if strings.HasPrefix(imp, test) {
				t.Errorf("%s imports %s: no package imports test/", pkg, imp)
			}
			if (imp == harness || strings.HasPrefix(imp, harness+"/")) && !mayUseHarness(pkg) {
				t.Errorf("%s imports %s: only the demo, hack/ and tests may", pkg, imp)
			}
		}
	}
}
