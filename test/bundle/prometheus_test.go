package bundle_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	fcache "k8s.io/client-go/tools/cache/testing"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/bundle"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
	domainmetrics "github.com/gatewaytenant/gatewaytenant-operator/internal/metrics"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

var metricName = regexp.MustCompile(`\bgatewaytenant_[a-z0-9_]+\b`)

// Every metric an alert of config/prometheus (and so of the bundle) names is one the manager
// or a running proxy really exports, and the alerts cover what the issue asks for: handshake
// failures, expiring certificates, tenants not Ready, failing reloads.
func TestPrometheusRuleMetricsExist(t *testing.T) {
	objs, err := bundle.Render(filepath.Join(root(), "config", "prometheus"))
	if err != nil {
		t.Fatal(err)
	}
	var rule monitoringv1.PrometheusRule
	for _, o := range objs {
		if o.GetKind() == "PrometheusRule" {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, &rule, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	exported := slices.Concat(proxyMetricNames(t), managerMetricNames(t))
	var alerts []string
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			names := metricName.FindAllString(r.Expr.String(), -1)
			if len(names) == 0 {
				t.Errorf("alert %s names no gatewaytenant metric: %s", r.Alert, r.Expr.String())
			}
			for _, n := range names {
				if !slices.Contains(exported, n) {
					t.Errorf("alert %s uses %s, which neither the manager nor the proxy exports (they do: %v)", r.Alert, n, exported)
				}
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s lacks a severity, summary or description", r.Alert)
			}
		}
	}
	for _, want := range []string{"GatewayTenantsNotReady", "GatewayTenantCertificateExpiringSoon",
		"GatewayTenantProxyUpstreamHandshakeFailures", "GatewayTenantProxyReloadFailing"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s among %v", want, alerts)
		}
	}
}

// proxyMetricNames runs the proxy library with an mTLS upstream and reads its /metrics.
func proxyMetricNames(t *testing.T) []string {
	t.Helper()
	ca, err := pki.NewRoot("ca")
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.NewLeaf("client", pki.ClientAuth())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caFile := must(pki.WriteFile(dir, "ca.crt", ca.CertPEM()))(t)
	certFile := must(pki.WriteFile(dir, "tls.crt", client.CertPEM()))(t)
	keyFile := must(pki.WriteFile(dir, "tls.key", client.KeyPEM()))(t)
	cfg := &contract.Config{
		APIVersion: contract.APIVersion, Kind: contract.Kind,
		Admin: contract.Admin{Address: "127.0.0.1:0"},
		Upstreams: []contract.Upstream{{
			Name: "api", Listen: "127.0.0.1:0", Address: "127.0.0.1:1",
			TLS: &contract.UpstreamTLS{CAFiles: []string{caFile}, ServerName: "api.example",
				ClientCertificate: &contract.ClientCertificate{CertFile: certFile, KeyFile: keyFile}},
		}},
	}
	p, err := proxy.New(cfg, proxy.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx) }()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer scancel()
		_ = p.Shutdown(sctx)
		cancel()
		<-done
	})
	resp, err := http.Get("http://" + p.AdminAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return familyNames(t, resp.Body)
}

// managerMetricNames gathers the manager's domain collectors, with a tenant and a
// referenced certificate to report.
func managerMetricNames(t *testing.T) []string {
	t.Helper()
	src := fcache.NewFakeControllerSource()
	src.Add(&v1alpha1.GatewayTenant{ObjectMeta: metav1.ObjectMeta{Name: "t", Namespace: "ns", UID: "t"}})
	inf := toolscache.NewSharedInformer(src, &v1alpha1.GatewayTenant{}, 0)
	tenants := domainmetrics.NewTenants()
	if err := tenants.Watch(inf); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go inf.RunWithContext(ctx)
	if !toolscache.WaitForCacheSync(ctx.Done(), inf.HasSynced, tenants.HasSynced) {
		t.Fatal("informer did not sync")
	}
	certs := domainmetrics.NewCertificates()
	certs.Set(types.NamespacedName{Namespace: "ns", Name: "t"}, []domainmetrics.CertificateRef{
		{Upstream: "api", Kind: domainmetrics.KindCA, Ref: "ConfigMap/ca", NotAfter: time.Now()}})
	reg := prometheus.NewRegistry()
	reg.MustRegister(certs.Collector(), tenants)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range families {
		names = append(names, f.GetName())
	}
	return names
}

func familyNames(t *testing.T, r io.Reader) []string {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range families {
		names = append(names, n)
		// Histograms and summaries are queried through their series.
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if strings.HasSuffix(n, "_seconds") {
				names = append(names, n+suffix)
			}
		}
	}
	return names
}

func must[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
