package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/client-go/kubernetes"
)

// operatorResources are the API resources the operator reads or writes. Requests for other
// resources (the API server's own leases, for one) are not the operator's and are not counted.
var operatorResources = map[string]bool{
	"gatewaytenants": true, "gatewaydataplanes": true, "networkpolicies": true, "configmaps": true,
	"secrets": true, "services": true, "deployments": true, "serviceaccounts": true,
	"poddisruptionbudgets": true, "events": true,
}

// writeVerbs are the verbs of apiserver_request_total that change something.
var writeVerbs = map[string]bool{"POST": true, "PUT": true, "PATCH": true, "DELETE": true, "DELETECOLLECTION": true, "APPLY": true}

// requestKey is one series of apiserver_request_total, reduced to what the report needs.
type requestKey struct{ verb, resource, subresource string }

// requestCounts are apiserver_request_total by verb and resource at one moment.
type requestCounts map[requestKey]float64

func parseMetrics(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(r)
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// apiserverRequests scrapes the API server's /metrics.
func apiserverRequests(ctx context.Context, cs kubernetes.Interface) (requestCounts, error) {
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the API server's metrics: %w", err)
	}
	families, err := parseMetrics(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parsing the API server's metrics: %w", err)
	}
	out := requestCounts{}
	for _, m := range families["apiserver_request_total"].GetMetric() {
		res := labelValue(m, "resource")
		if !operatorResources[res] {
			continue
		}
		k := requestKey{verb: labelValue(m, "verb"), resource: res, subresource: labelValue(m, "subresource")}
		out[k] += m.GetCounter().GetValue()
	}
	return out, nil
}

// sub is c minus before.
func (c requestCounts) sub(before requestCounts) requestCounts {
	out := requestCounts{}
	for k, v := range c {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// total sums the series that keep says yes to.
func (c requestCounts) total(keep func(requestKey) bool) float64 {
	var t float64
	for k, v := range c {
		if keep(k) {
			t += v
		}
	}
	return t
}

func all(requestKey) bool             { return true }
func writes(k requestKey) bool        { return writeVerbs[k.verb] }
func reads(k requestKey) bool         { return !writeVerbs[k.verb] && k.verb != "WATCH" }
func eventWrites(k requestKey) bool   { return writes(k) && k.resource == "events" }
func configMapGets(k requestKey) bool { return k.verb == "GET" && k.resource == "configmaps" }

// String lists the series, largest first, as "VERB resource[/sub]=n".
func (c requestCounts) String() string {
	keys := make([]requestKey, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if c[keys[i]] != c[keys[j]] {
			return c[keys[i]] > c[keys[j]]
		}
		return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j])
	})
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		name := k.resource
		if k.subresource != "" {
			name += "/" + k.subresource
		}
		parts = append(parts, fmt.Sprintf("%s %s=%.0f", k.verb, name, c[k]))
	}
	return strings.Join(parts, ", ")
}

// managerMetrics is what the bench reads from the manager's own metrics endpoint.
type managerMetrics struct {
	reconciles float64 // controller_runtime_reconcile_total of the tenant controller
	depth      float64 // workqueue_depth of the tenant controller
	active     float64 // controller_runtime_active_workers of the tenant controller
}

func scrapeManager(ctx context.Context, addr string) (managerMetrics, error) {
	var mm managerMetrics
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return mm, err
	}
	// A scrape a second while settling: spare the manager compressing them (a Prometheus
	// scrapes every 30 s or so).
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return mm, err
	}
	defer resp.Body.Close()
	families, err := parseMetrics(resp.Body)
	if err != nil {
		return mm, fmt.Errorf("parsing the manager's metrics: %w", err)
	}
	for _, m := range families["controller_runtime_reconcile_total"].GetMetric() {
		if labelValue(m, "controller") == tenantController {
			mm.reconciles += m.GetCounter().GetValue()
		}
	}
	for _, m := range families["workqueue_depth"].GetMetric() {
		if labelValue(m, "name") == tenantController {
			mm.depth += m.GetGauge().GetValue()
		}
	}
	for _, m := range families["controller_runtime_active_workers"].GetMetric() {
		if labelValue(m, "controller") == tenantController {
			mm.active += m.GetGauge().GetValue()
		}
	}
	return mm, nil
}

// memory is a process's resident set now and its high-water mark, from /proc.
type memory struct{ rss, hwm int64 } // bytes

func readMemory(pid int) (memory, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return memory{}, err
	}
	var m memory
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			m.rss = kb << 10
		case "VmHWM:":
			m.hwm = kb << 10
		}
	}
	return m, nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
