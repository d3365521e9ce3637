package gatewaytenant_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/gatewaytenant/gatewaytenant-operator/controllers/gatewaytenant"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/controlplane"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/manager"
)

const (
	proxyImage        = "registry.example/gatewaytenant/operator:test"
	expiryWarning     = 30 * 24 * time.Hour
	operatorNamespace = "gatewaytenant-system"
	proxyPollInterval = time.Second
)

var (
	env       *controlplane.Environment
	k8sClient client.Client // uncached: assertions see the API server, not the manager's cache
	writes    atomic.Int64  // API writes made by the manager's client
	// proxyAdminPort is where the manager reads proxies' state: free on 127.0.0.2 and
	// 127.0.0.3, where the specs run proxy replicas.
	proxyAdminPort int
	cancel         context.CancelFunc
	// mgrCache is the manager's cache, to assert what it holds.
	mgrCache cache.Cache
	// referencedConfigMaps is the manager's cache of the ConfigMaps tenants reference.
	referencedConfigMaps cache.Cache
)

func TestGatewayTenantController(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "GatewayTenant controller")
}

var _ = BeforeSuite(func() {
	SetDefaultEventuallyTimeout(60 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))

	// The Gateway API CRDs judge every BackendTLSPolicy the operator writes with their own
	// CEL rules.
	gatewayAPI, err := controlplane.GatewayAPICRDs(controlplane.GatewayAPIStandard...)
	Expect(err).NotTo(HaveOccurred())
	env, err = controlplane.Start(gatewayAPI...)
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.New(env.Config, client.Options{Scheme: manager.Scheme()})
	Expect(err).NotTo(HaveOccurred())

	proxyAdminPort = freeReplicaPort()
	var ctx context.Context
	ctx, cancel = context.WithCancel(context.Background())
	mgrConfig := rest.CopyConfig(env.Config)
	mgrConfig.Wrap(recordRequests)
	mgr, err := manager.New(ctx, mgrConfig, manager.Options{
		MetricsAddr:              "0",
		ProbeAddr:                "0",
		DataPlanePreset:          "silver",
		Proxy:                    gatewaytenant.ProxySettings{Image: proxyImage, Replicas: 2},
		CertificateExpiryWarning: expiryWarning,
		OperatorNamespace:        operatorNamespace,
		ProxyStatePoll:           manager.ProxyStatePoll{Interval: proxyPollInterval},
		Harness: &manager.Harness{NewClient: countingClient, ProxyAdminPort: proxyAdminPort, DialProxy: dialReplica,
			ReferencedConfigMaps: func(c cache.Cache) { referencedConfigMaps = c }},
	})
	Expect(err).NotTo(HaveOccurred())
	mgrCache = mgr.GetCache()
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

// countingClient is the manager's usual client, counting every write it sends.
func countingClient(cfg *rest.Config, o client.Options) (client.Client, error) {
	c, err := client.NewWithWatch(cfg, o)
	if err != nil {
		return nil, err
	}
	count := func() { writes.Add(1) }
	return interceptor.NewClient(c, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			count()
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			count()
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			count()
			return c.Patch(ctx, obj, patch, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			count()
			return c.Delete(ctx, obj, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			count()
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			count()
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	}), nil
}

// reconciles is how many reconciles of GatewayTenants have finished, from the manager's
// own controller-runtime metrics.
func reconciles() float64 { return reconcilesOf(gatewaytenant.ControllerName) }

// reconcilesOf is how many reconciles of the named controller have finished.
func reconcilesOf(controller string) float64 {
	families, err := crmetrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	var total float64
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if label(m, "controller") == controller {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// request is a request of the manager for Secrets, ConfigMaps or ClusterTrustBundles, as the
// API server saw it.
type request struct {
	method, path, query, accept string
}

var (
	requestsMu sync.Mutex
	requests   []request
)

// recordRequests records every request of the manager that touches Secrets, ConfigMaps or
// ClusterTrustBundles, so that a test can tell what the manager reads of them.
func recordRequests(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		for _, r := range []string{"/secrets", "/configmaps", "/clustertrustbundles"} {
			if strings.Contains(req.URL.Path, r) {
				requestsMu.Lock()
				requests = append(requests, request{req.Method, req.URL.Path, req.URL.RawQuery, req.Header.Get("Accept")})
				requestsMu.Unlock()
			}
		}
		return rt.RoundTrip(req)
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// recordedRequests are the recorded requests whose path contains part.
func recordedRequests(part string) []request {
	requestsMu.Lock()
	defer requestsMu.Unlock()
	var out []request
	for _, r := range requests {
		if strings.Contains(r.path, part) {
			out = append(out, r)
		}
	}
	return out
}

// recordedSecretRequests are the manager's requests for Secrets: there must be none.
func recordedSecretRequests() []request { return recordedRequests("/secrets") }
