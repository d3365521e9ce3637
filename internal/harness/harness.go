// Package harness is what the tests and the demo use to play a cluster on one machine, with
// real components and no product logic of its own:
//
//   - controlplane: the real kube-apiserver and etcd with the operator's CRDs, and what the
//     controller-manager would do that the operator waits for (Deployments becoming available);
//   - kubelet: ConfigMap, Secret and projected volumes laid out on disk exactly as the kubelet
//     lays them out, and swapped as it swaps them on an update;
//   - pki: root -> intermediate -> leaf chains, client certificates, expired ones;
//   - proxyrun: the real proxy binary built from this checkout and run on loopback.
//
// Nothing outside tests, cmd/demo and internal/demo imports it.
package harness

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Module is the Go module of this repository.
const Module = "github.com/gatewaytenant/gatewaytenant-operator"

// RepoRoot is the checkout the process runs in: the nearest directory at or above the working
// directory whose go.mod declares Module. Tests run in their package's directory; the demo
// runs from the checkout (make demo).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if declaresModule(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of %s at or above the working directory: run from the checkout", Module)
		}
		dir = parent
	}
}

func declaresModule(goMod string) bool {
	f, err := os.Open(goMod)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if name, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(name), `"`) == Module
		}
	}
	return false
}

// ModuleDir is the directory of a module of this build in the Go module cache.
func ModuleDir(module string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			err = fmt.Errorf("%w: %s", err, exit.Stderr)
		}
		return "", fmt.Errorf("go list -m %s: %w", module, err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", fmt.Errorf("module %s is not in the module cache: run go mod download", module)
	}
	return dir, nil
}
