package testenv

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// ModuleDir is the directory of a module of this build in the Go module cache.
func ModuleDir(module string) (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w", module, err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", fmt.Errorf("module %s is not in the module cache: run go mod download", module)
	}
	return dir, nil
}

// OpenShiftConfigCRDs returns the CRD files of config.openshift.io/v1 resources (plural
// names such as "dnses") from github.com/openshift/api, in their Default feature set. Each
// file is named on its own: openshift/api ships several variants of a CRD, and envtest keeps
// only the last one it reads.
func OpenShiftConfigCRDs(resources ...string) ([]string, error) {
	dir, err := ModuleDir("github.com/openshift/api")
	if err != nil {
		return nil, err
	}
	files := make([]string, 0, len(resources))
	for _, r := range resources {
		pattern := filepath.Join(dir, "config", "v1", "zz_generated.crd-manifests", "*_"+r+"-Default.crd.yaml")
		matches, err := filepath.Glob(pattern)
		if err != nil {
			return nil, err
		}
		if len(matches) != 1 {
			return nil, fmt.Errorf("want one Default CRD of config.openshift.io %s, found %d (%s)", r, len(matches), pattern)
		}
		files = append(files, matches[0])
	}
	return files, nil
}
