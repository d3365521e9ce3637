package harness

import (
	"os"
	"path/filepath"
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
