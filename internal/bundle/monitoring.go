package bundle

import (
	"fmt"
	"path/filepath"
)

// prometheusConfigDir holds the monitoring objects (monitoring.coreos.com) kept out of
// config/default, which must apply where those CRDs are absent.
const prometheusConfigDir = "config/prometheus"

// addMonitoring adds config/prometheus's PrometheusRule to the bundle (OLM installs it in the
// operator's namespace). Its ServiceMonitor stays out: its TLS server name names the
// namespace, which a bundle does not know.
func (p *parts) addMonitoring(root string) error {
	objs, err := Render(filepath.Join(root, prometheusConfigDir))
	if err != nil {
		return fmt.Errorf("rendering %s: %w", prometheusConfigDir, err)
	}
	n := 0
	for _, o := range objs {
		if o.GetKind() != "PrometheusRule" {
			continue
		}
		o = o.DeepCopy()
		o.SetNamespace("")
		p.extras = append(p.extras, o)
		n++
	}
	if n == 0 {
		return fmt.Errorf("%s has no PrometheusRule", prometheusConfigDir)
	}
	return nil
}
