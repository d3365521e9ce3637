package manager_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/gatewaytenant"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/proxystate"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/controlplane"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/manager"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// TestVerificationCost measures what reading the proxies' state adds per TLS tenant, with the
// operator's defaults (a reading every 30s, 2 proxy replicas per tenant): requests to
// proxies and to the API server per minute once everything has settled, next to the same
// manager with plain tenants only. It takes about three minutes, so it runs only with
// GATEWAYTENANT_MEASURE=1; it prints figures and asserts none of them.
//
//	GATEWAYTENANT_MEASURE=1 KUBEBUILDER_ASSETS=$PWD/bin/control-plane go test ./internal/manager -run TestVerificationCost -v
func TestVerificationCost(t *testing.T) {
	if os.Getenv("GATEWAYTENANT_MEASURE") == "" {
		t.Skip("a measurement: set GATEWAYTENANT_MEASURE=1")
	}
	const tenants, replicas = 10, 2
	window := 2*time.Minute + 5*time.Second
	env, err := controlplane.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(env.Config, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	api := &requestCounter{}
	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(api.wrap)
	var proxyRequests atomic.Int64
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		proxyRequests.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, strings.Replace(addr, "10.98.", "127.98.", 1))
	}
	adminPort := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	mgr, err := manager.New(ctx, cfg, manager.Options{
		MetricsAddr: "0", ProbeAddr: "0", DataPlanePreset: "silver",
		Proxy:                    gatewaytenant.ProxySettings{Image: "registry.example/op:test", Replicas: replicas},
		CertificateExpiryWarning: 24 * time.Hour,
		OperatorNamespace:        "gatewaytenant-system",
		Harness:                  &manager.Harness{ProxyAdminPort: adminPort, DialProxy: dial},
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = mgr.Start(ctx) }()

	chain, err := pki.NewChain(pki.DNS("secure.svc"))
	if err != nil {
		t.Fatal(err)
	}
	upstream := httptest.NewUnstartedServer(http.NotFoundHandler())
	upstream.TLS = &tls.Config{Certificates: []tls.Certificate{chain.Leaf.TLSCertificate()}}
	upstream.StartTLS()
	t.Cleanup(upstream.Close)

	for i := range tenants {
		newPlainTenant(ctx, t, c, fmt.Sprintf("plain-%d", i))
	}
	plain := measure(ctx, t, c, api, &proxyRequests, window)

	for i := range tenants {
		newTLSTenant(ctx, t, c, tlsTenant{ns: fmt.Sprintf("tls-%d", i), index: i, replicas: replicas, adminPort: adminPort,
			upstream: upstream.Listener.Addr().String(), root: chain.Root.CertPEM()})
	}
	withTLS := measure(ctx, t, c, api, &proxyRequests, window)

	perMinute := func(n int64) float64 { return float64(n) / window.Minutes() }
	t.Logf("window %s; %d plain tenants, then %d TLS tenants added (%d proxy replicas each)", window, tenants, tenants, replicas)
	t.Logf("%-34s %12s %12s", "", "plain only", "+TLS")
	t.Logf("%-34s %12.1f %12.1f", "proxy state requests/min", perMinute(plain.proxy), perMinute(withTLS.proxy))
	t.Logf("%-34s %12.1f %12.1f", "API server requests/min", perMinute(plain.api), perMinute(withTLS.api))
	t.Logf("%-34s %12.1f %12.1f", "API server writes/min", perMinute(plain.writes), perMinute(withTLS.writes))
	t.Logf("%-34s %12.1f %12.1f", "tenant reconciles/min", plain.tenantReconciles/window.Minutes(), withTLS.tenantReconciles/window.Minutes())
	t.Logf("%-34s %12.1f %12.1f", "proxy readings (poller reconciles)/min", plain.pollerReconciles/window.Minutes(), withTLS.pollerReconciles/window.Minutes())
	t.Logf("added per TLS tenant: %.2f proxy requests/min (%.2f per replica), %.2f API requests/min, %.2f API writes/min",
		perMinute(withTLS.proxy-plain.proxy)/tenants, perMinute(withTLS.proxy-plain.proxy)/tenants/replicas,
		perMinute(withTLS.api-plain.api)/tenants, perMinute(withTLS.writes-plain.writes)/tenants)
	t.Logf("API requests by kind during the +TLS window: %v", withTLS.byKind)
}

type sample struct {
	proxy, api, writes int64
	byKind             map[string]int64
	// reconciles of the tenant controller and readings by the poller
	tenantReconciles, pollerReconciles float64
}

// measure waits until the manager's writes stop, then counts requests over window.
func measure(ctx context.Context, t *testing.T, c client.Client, api *requestCounter, proxyRequests *atomic.Int64, window time.Duration) sample {
	t.Helper()
	waitFor(t, "writes to settle", 5*time.Minute, func() bool {
		before := api.writes.Load()
		time.Sleep(5 * time.Second) // observation window, not synchronisation
		return api.writes.Load() == before
	})
	api.reset()
	p0 := proxyRequests.Load()
	t0, r0 := reconcileCount(t, gatewaytenant.ControllerName), reconcileCount(t, proxystate.ControllerName)
	select {
	case <-time.After(window): // the measurement itself
	case <-ctx.Done():
		t.Fatal("cancelled")
	}
	return sample{proxy: proxyRequests.Load() - p0, api: api.total.Load(), writes: api.writes.Load(), byKind: api.snapshot(),
		tenantReconciles: reconcileCount(t, gatewaytenant.ControllerName) - t0, pollerReconciles: reconcileCount(t, proxystate.ControllerName) - r0}
}

// reconcileCount is controller_runtime_reconcile_total of one controller.
func reconcileCount(t *testing.T, controller string) float64 {
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == controller {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	return total
}

func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond) // polling interval, not synchronisation
	}
}

// requestCounter counts the manager's requests to the API server, by verb and resource.
type requestCounter struct {
	total, writes atomic.Int64
	mu            sync.Mutex
	kinds         map[string]int64
}

func (rc *requestCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		rc.total.Add(1)
		if req.Method != http.MethodGet {
			rc.writes.Add(1)
		}
		parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
		kind := req.Method + " " + parts[len(parts)-1]
		if req.URL.Query().Get("watch") == "true" {
			kind = "WATCH " + parts[len(parts)-1]
		}
		rc.mu.Lock()
		if rc.kinds == nil {
			rc.kinds = map[string]int64{}
		}
		rc.kinds[kind]++
		rc.mu.Unlock()
		return rt.RoundTrip(req)
	})
}

func (rc *requestCounter) reset() {
	rc.total.Store(0)
	rc.writes.Store(0)
	rc.mu.Lock()
	rc.kinds = map[string]int64{}
	rc.mu.Unlock()
}

func (rc *requestCounter) snapshot() map[string]int64 {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make(map[string]int64, len(rc.kinds))
	for k, v := range rc.kinds {
		out[k] = v
	}
	return out
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.98.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func service(ns, name string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{
		Selector: map[string]string{"name": name},
		Ports:    []corev1.ServicePort{{Port: 8443, TargetPort: intstr.FromInt32(8443)}},
	}}
}

func newPlainTenant(ctx context.Context, t *testing.T, c client.Client, ns string) {
	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	must(t, c.Create(ctx, service(ns, "web")))
	must(t, c.Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: "web-x", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
	}))
	must(t, c.Create(ctx, &v1alpha1.GatewayTenant{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "t"},
		Spec: v1alpha1.GatewayTenantSpec{Upstreams: []v1alpha1.Upstream{{Name: "web", Host: "web." + ns + ".svc", Port: 8443}}}}))
}

type tlsTenant struct {
	ns              string
	index, replicas int
	adminPort       int
	upstream        string
	root            []byte
}

// newTLSTenant creates a tenant with one TLS upstream and plays its proxy pods: the real
// proxy library with the rendered configuration, one per replica on 127.98.<index>.<n>,
// published in an EndpointSlice as 10.98.<index>.<n>.
func newTLSTenant(ctx context.Context, t *testing.T, c client.Client, tt tlsTenant) {
	ns := tt.ns
	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	must(t, c.Create(ctx, service(ns, "secure")))
	must(t, c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ca"}, Data: map[string]string{"ca.crt": string(tt.root)}}))
	hostname := "secure.svc"
	must(t, c.Create(ctx, &v1alpha1.GatewayTenant{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "t"},
		Spec: v1alpha1.GatewayTenantSpec{Upstreams: []v1alpha1.Upstream{{Name: "secure", Host: "secure." + ns + ".svc", Port: 8443,
			TLS: &v1alpha1.UpstreamTLS{Validation: v1alpha1.UpstreamTLSValidation{
				CACertificateRefs: []v1alpha1.CACertificateReference{{Kind: "ConfigMap", Name: "ca"}},
				Hostname:          ptr.To(gwapiv1.PreciseHostname(hostname)),
			}}}}}}))
	cm := &corev1.ConfigMap{}
	waitFor(t, "the proxy configuration of "+ns, time.Minute, func() bool {
		return c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "t-proxy"}, cm) == nil
	})
	dep := &appsv1.Deployment{}
	waitFor(t, "the proxy Deployment of "+ns, time.Minute, func() bool {
		if c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "t-proxy"}, dep) != nil {
			return false
		}
		dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2}
		return c.Status().Update(ctx, dep) == nil
	})
	dir := t.TempDir()
	caFile, err := pki.WriteFile(dir, "ca.crt", tt.root)
	must(t, err)
	svc := &corev1.Service{}
	must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "t-proxy"}, svc))
	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "t-proxy-x", Labels: map[string]string{discoveryv1.LabelServiceName: svc.Name}},
		AddressType: discoveryv1.AddressTypeIPv4}
	for k, v := range svc.Labels {
		slice.Labels[k] = v
	}
	for n := 1; n <= tt.replicas; n++ {
		rendered, err := contract.ParseConfig([]byte(cm.Data["proxy.yaml"]))
		must(t, err)
		ip := fmt.Sprintf("127.98.%d.%d", tt.index, n)
		rendered.Admin.Address = net.JoinHostPort(ip, strconv.Itoa(tt.adminPort))
		rendered.Upstreams[0].Listen, rendered.Upstreams[0].Address = ip+":0", tt.upstream
		rendered.Upstreams[0].TLS.CAFiles = []string{caFile}
		p, err := proxy.New(rendered)
		must(t, err)
		go func() { _ = p.Serve(ctx) }()
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.98.%d.%d", tt.index, n)},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: fmt.Sprintf("t-proxy-%d", n)}})
	}
	must(t, c.Create(ctx, slice))
	tenant := &v1alpha1.GatewayTenant{}
	waitFor(t, ns+" verified", 2*time.Minute, func() bool {
		if c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "t"}, tenant) != nil || len(tenant.Status.Upstreams) == 0 {
			return false
		}
		v := meta.FindStatusCondition(tenant.Status.Upstreams[0].Conditions, v1alpha1.ConditionVerified)
		return v != nil && v.Status == metav1.ConditionTrue
	})
}
