package controlplane

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness"
)

// monitoringAPIModule is the Go module of the monitoring.coreos.com types the operator
// uses; the CRDs of the same release come from the prometheus-operator module, which ships
// them under example/prometheus-operator-crd.
const (
	monitoringAPIModule = "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring"
	prometheusOperator  = "github.com/prometheus-operator/prometheus-operator"
)

// MonitoringCRDs returns the prometheus-operator CRD files of the release whose API types
// this build uses, for resources such as "podmonitors", "servicemonitors" and
// "prometheusrules". The prometheus-operator module is not a dependency of the build; it is
// fetched into the module cache (from the Go module proxy) when missing.
func MonitoringCRDs(resources ...string) ([]string, error) {
	root, err := harness.RepoRoot()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Version}}", monitoringAPIModule)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list -m %s: %w", monitoringAPIModule, err)
	}
	version := string(out[:len(out)-1])
	dl := exec.Command("go", "mod", "download", "-json", prometheusOperator+"@"+version)
	dl.Dir = root
	out, err = dl.Output()
	var mod struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &mod); jerr != nil || mod.Dir == "" {
		return nil, fmt.Errorf("go mod download %s@%s: %v %s", prometheusOperator, version, err, mod.Error)
	}
	files := make([]string, 0, len(resources))
	for _, r := range resources {
		files = append(files, filepath.Join(mod.Dir, "example", "prometheus-operator-crd", "monitoring.coreos.com_"+r+".yaml"))
	}
	return files, nil
}
