package manager_test

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/manager"
)

// apiRequests is a TLS reverse proxy in front of the API server that records every request
// the manager sends. The manager trusts the proxy; the proxy authenticates to the API server
// with the test's credentials.
type apiRequests struct {
	mu   sync.Mutex
	seen []*http.Request // method, URL and headers of each request
	cfg  *rest.Config    // the manager's way to the API server, through the proxy
}

func newAPIRequests(t *testing.T, api *rest.Config) *apiRequests {
	t.Helper()
	host := api.Host
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	target, err := url.Parse(host)
	if err != nil {
		t.Fatal(err)
	}
	transport, err := rest.TransportFor(api)
	if err != nil {
		t.Fatal(err)
	}
	a := &apiRequests{}
	proxy := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport:     transport,
		FlushInterval: -1, // watches stream
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.seen = append(a.seen, &http.Request{Method: r.Method, URL: r.URL, Header: r.Header.Clone()})
		a.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	a.cfg = &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{
		CAData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}),
	}}
	return a
}

// take returns the requests seen since the last take.
func (a *apiRequests) take() []*http.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.seen
	a.seen = nil
	return out
}

// The manager asks the API server for uncompressed responses unless told otherwise: beside
// its API server, gzip costs both sides more CPU than it saves (docs/benchmarks.md).
func TestManagerAsksForUncompressedResponses(t *testing.T) {
	d := startDayTwo(t)
	for _, tc := range []struct {
		compression bool
		want        string
	}{{false, ""}, {true, "gzip"}} {
		// A proxy of its own per manager: what a stopped manager still sends is not counted
		// against the next.
		api := newAPIRequests(t, d.env.Config)
		ctx, cancel := context.WithCancel(context.Background())
		mgr, err := manager.New(ctx, api.cfg, manager.Options{
			MetricsAddr: "0", ProbeAddr: "0", DataPlanePreset: "silver",
			Harness: &manager.Harness{SecondManager: true}, APICompression: tc.compression,
		})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- mgr.Start(ctx) }()
		// Once the caches have synced, every informer has listed or watched its kind.
		synced := mgr.GetCache().WaitForCacheSync(ctx)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if !synced {
			t.Fatal("the manager's caches did not sync")
		}
		seen := map[string]int{}
		for _, r := range api.take() {
			seen[r.Header.Get("Accept-Encoding")]++
		}
		if len(seen) != 1 || seen[tc.want] == 0 {
			t.Errorf("APICompression %v: requests by Accept-Encoding %v, want all %q", tc.compression, seen, tc.want)
		}
	}
}

// othersConfigMaps are the lists and watches of ConfigMaps beyond the operator's own (which
// it selects by label).
func othersConfigMaps(rs []*http.Request) []string {
	var out []string
	for _, r := range rs {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/configmaps") &&
			!strings.Contains(r.URL.Query().Get("labelSelector"), v1alpha1.LabelManagedBy) {
			out = append(out, r.Method+" "+r.URL.String())
		}
	}
	return out
}

// The manager receives none of the cluster's ConfigMaps while no tenant names one, so a
// cluster full of them costs a cold start nothing. Once a tenant names a CA ConfigMap, the
// manager watches ConfigMaps and follows that one's changes.
func TestConfigMapsAreWatchedOnceATenantNamesOne(t *testing.T) {
	d := startDayTwo(t)
	api := newAPIRequests(t, d.env.Config)
	ctx := context.Background()
	d.g.Expect(d.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "other"}})).To(Succeed())
	d.g.Expect(d.c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "settings"},
		Data: map[string]string{"mode": "production"}})).To(Succeed())
	d.runVia(api.cfg, manager.Options{})

	// A plain tenant and a TLS tenant that trusts the system roots name no ConfigMap.
	plain := d.plainTenant()
	system := d.tlsTenant()
	d.g.Eventually(func(g Gomega) {
		for _, ns := range []string{plain, system} {
			tn := tenant(g, d.c, ns)
			g.Expect(tn.Status.ObservedGeneration).To(Equal(tn.Generation), ns)
		}
	}).Should(Succeed())
	d.g.Expect(othersConfigMaps(api.take())).To(BeEmpty(), "the manager read ConfigMaps no tenant names")

	// A tenant names a CA ConfigMap.
	chain, err := pki.NewChain(pki.DNS("secure.svc"))
	d.g.Expect(err).NotTo(HaveOccurred())
	ns := d.namespaceWithService()
	d.g.Expect(d.c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ca"},
		Data: map[string]string{"ca.crt": string(chain.Root.CertPEM())}})).To(Succeed())
	d.g.Expect(d.c.Create(ctx, &v1alpha1.GatewayTenant{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "api"},
		Spec: v1alpha1.GatewayTenantSpec{Upstreams: []v1alpha1.Upstream{{
			Name: "secure", Host: "secure." + ns + ".svc", Port: 8443,
			TLS: &v1alpha1.UpstreamTLS{Validation: v1alpha1.UpstreamTLSValidation{
				CACertificateRefs: []v1alpha1.CACertificateReference{{Kind: "ConfigMap", Name: "ca"}}}},
		}}},
	})).To(Succeed())
	d.g.Eventually(func(g Gomega) {
		tn := tenant(g, d.c, ns)
		g.Expect(tn.Status.ObservedGeneration).To(Equal(tn.Generation))
		cond := meta.FindStatusCondition(tn.Status.Conditions, v1alpha1.ConditionResolvedRefs)
		g.Expect(cond).NotTo(BeNil())
		g.Expect(cond.Status).To(Equal(metav1.ConditionTrue), cond.Message)
	}).Should(Succeed())
	watched := othersConfigMaps(api.take())
	d.g.Expect(watched).To(ContainElement(ContainSubstring("watch=true")), "no watch of ConfigMaps started: %v", watched)

	// The CA ConfigMap changes: the watch brings it.
	cm := &corev1.ConfigMap{}
	d.g.Expect(d.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "ca"}, cm)).To(Succeed())
	cm.Data = map[string]string{"ca.crt": "not a certificate"}
	d.g.Expect(d.c.Update(ctx, cm)).To(Succeed())
	d.g.Eventually(func(g Gomega) {
		cond := upstreamReady(g, d.c, ns)
		g.Expect(cond.Reason).To(Equal(v1alpha1.ReasonInvalidCACertificateRef), cond.Message)
	}).Should(Succeed())
}

// namespaceWithService creates a namespace with a Service "secure" on 8443 and returns its
// name.
func (d *dayTwo) namespaceWithService() string {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "tenant-"}}
	d.g.Expect(d.c.Create(ctx, ns)).To(Succeed())
	d.g.Expect(d.c.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "secure"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"name": "secure"},
			Ports: []corev1.ServicePort{{Port: 8443, TargetPort: intstr.FromInt32(8443)}}},
	})).To(Succeed())
	return ns.Name
}

// plainTenant creates a namespace with a Service and a tenant "api" calling it without TLS,
// and returns the namespace.
func (d *dayTwo) plainTenant() string {
	ns := d.namespaceWithService()
	d.g.Expect(d.c.Create(context.Background(), &v1alpha1.GatewayTenant{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "api"},
		Spec:       v1alpha1.GatewayTenantSpec{Upstreams: []v1alpha1.Upstream{{Name: "secure", Host: "secure." + ns + ".svc", Port: 8443}}},
	})).To(Succeed())
	return ns
}
