package rbac_test

import (
	"context"
	"crypto/tls"
	"errors"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	gwv1alpha1 "github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/controlplane"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/proxyrun"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/manager"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// proxyPod is the tenant's proxy pod played on loopback: the real proxy binary on the files
// the kubelet would mount from the Deployment the operator rendered (internal/harness), its
// upstream at a loopback TLS server. admin is its admin address, where the manager reads it.
type proxyPod struct {
	pod   *proxyrun.Pod
	proc  *proxyrun.Process
	admin atomic.Pointer[string]
}

// dial connects the manager to the proxy's admin listener, whatever pod address it asks for:
// the API server refuses loopback addresses in EndpointSlices.
func (p *proxyPod) dial(ctx context.Context, network, _ string) (net.Conn, error) {
	addr := p.admin.Load()
	if addr == nil {
		return nil, errors.New("no proxy runs")
	}
	return (&net.Dialer{}).DialContext(ctx, network, *addr)
}

// start mounts the Deployment's pod, runs the proxy on it and publishes it in the proxy
// Service's EndpointSlice, as the kubelet and the EndpointSlice controller would.
func (p *proxyPod) start(t *testing.T, c client.Client, bin, ns, upstreamAddr string) {
	t.Helper()
	ctx := context.Background()
	dep := &appsv1.Deployment{}
	must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "tls-api-proxy"}, dep))
	pod, err := proxyrun.MountPod(ctx, c, ns, &dep.Spec.Template.Spec, t.TempDir())
	must(t, err)
	raw, err := yaml.Marshal(pod.Config)
	must(t, err)
	cfg, err := contract.ParseConfig(raw)
	must(t, err)
	proxyrun.Localise(cfg, pod.HostPath, upstreamAddr)
	cfg.Verification.Interval = &contract.Duration{Duration: 300 * time.Millisecond}
	data, err := yaml.Marshal(cfg)
	must(t, err)
	file := filepath.Join(pod.Root, "proxy.replica.yaml")
	must(t, os.WriteFile(file, data, 0o600))
	p.pod = pod
	if p.proc, err = proxyrun.Start(bin, file, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.proc.Stop() })
	if _, err := p.proc.WaitReady(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	admin := p.proc.Addr(contract.AdminListener)
	p.admin.Store(&admin)

	svc := &corev1.Service{}
	must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "tls-api-proxy"}, svc))
	labels := map[string]string{discoveryv1.LabelServiceName: svc.Name}
	maps.Copy(labels, svc.Labels)
	must(t, c.Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: svc.Name + "-x1", Labels: labels},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.99.0.2"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "tls-api-proxy-0"}}},
	}))
}

// replaceSecret deletes Secret name of ns and, with data, creates it again with typ (the
// type of a Secret cannot change); then the kubelet syncs the proxy pod's volumes.
func (p *proxyPod) replaceSecret(t *testing.T, c client.Client, ns, name string, typ corev1.SecretType, data map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := c.Delete(ctx, s); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	if data != nil {
		s.Type, s.Data = typ, data
		must(t, c.Create(ctx, s))
	}
	if p.pod != nil {
		if _, err := p.pod.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// upstreamReady is the Ready condition of the TLS tenant's upstream, nil until it has one of
// the current generation.
func upstreamReady(ctx context.Context, c client.Client, key client.ObjectKey) *metav1.Condition {
	t := &gwv1alpha1.GatewayTenant{}
	if c.Get(ctx, key, t) != nil || t.Status.ObservedGeneration != t.Generation || len(t.Status.Upstreams) == 0 {
		return nil
	}
	return meta.FindStatusCondition(t.Status.Upstreams[0].Conditions, gwv1alpha1.ConditionReady)
}

// The operator holds no Secret permission (exactly the CSV's), yet every problem it found
// when it read a tenant's Secrets still reaches the tenant's status, with the same reason:
// the real proxy, on the files the kubelet mounts, reports what it loads, and the manager
// reads that report. The manager is denied nothing: it asks for no Secret.
func TestSecretProblemsReachStatusFromTheProxy(t *testing.T) {
	w := startWorld(t)
	bin, err := proxyrun.Build(context.Background(), t.TempDir())
	must(t, err)
	proxy := &proxyPod{}
	r, err := w.start(t, csvGrant(t), func(o *manager.Options) {
		o.Harness.DialProxy = proxy.dial
		o.ProxyStatePoll.Interval = time.Second
	})
	must(t, err)
	ctx, c := context.Background(), w.admin
	ns := r.ns + "-tenants"
	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))

	chain, err := pki.NewChain(pki.DNS("secure." + ns + ".svc"))
	must(t, err)
	clientCA, err := pki.NewRoot("client CA")
	must(t, err)
	gateway, err := clientCA.NewLeaf("gateway", pki.ClientAuth())
	must(t, err)
	upstream := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	upstream.TLS = serverRequiringClients(chain, clientCA)
	upstream.StartTLS()
	t.Cleanup(upstream.Close)

	tlsSecret := func(crt, key []byte) map[string][]byte { return map[string][]byte{"tls.crt": crt, "tls.key": key} }
	must(t, c.Create(ctx, service(ns, "secure")))
	proxy.replaceSecret(t, c, ns, "upstream-ca", corev1.SecretTypeOpaque, map[string][]byte{"ca.crt": chain.Root.CertPEM()})
	proxy.replaceSecret(t, c, ns, "client-cert", corev1.SecretTypeTLS, tlsSecret(gateway.CertPEM(), gateway.KeyPEM()))
	must(t, c.Create(ctx, tenant(ns, "tls-api", gwv1alpha1.Upstream{Name: "secure", Host: "secure." + ns + ".svc", Port: 8443, TLS: &gwv1alpha1.UpstreamTLS{
		Validation:           gwv1alpha1.UpstreamTLSValidation{CACertificateRefs: []gwv1alpha1.CACertificateReference{{Kind: "Secret", Name: "upstream-ca"}}},
		ClientCertificateRef: &gwv1alpha1.SecretReference{Name: "client-cert"},
	}})))
	key := client.ObjectKey{Namespace: ns, Name: "tls-api"}
	expect := func(what string, status metav1.ConditionStatus, reason, message string) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			got := upstreamReady(ctx, c, key)
			if got != nil && got.Status == status && got.Reason == reason && strings.Contains(got.Message, message) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: upstream Ready is %+v, want %s/%s with %q (denied: %v)", what, got, status, reason, message, r.denials.list())
			}
			time.Sleep(100 * time.Millisecond) // polling interval, not synchronisation
		}
	}
	expect("before any replica reports", metav1.ConditionUnknown, gwv1alpha1.ReasonAwaitingProxyReport, `only the proxy replicas can check`)
	dep := client.ObjectKey{Namespace: ns, Name: "tls-api-proxy"}
	for deadline := time.Now().Add(90 * time.Second); ; {
		err := controlplane.MarkDeploymentAvailable(ctx, c, dep)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the proxy Deployment: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // polling interval, not synchronisation
	}
	proxy.start(t, c, bin, ns, upstream.Listener.Addr().String())
	expect("with the Secrets in order", metav1.ConditionTrue, gwv1alpha1.ReasonReady, "verified by 1 proxy replica(s)")

	other, err := clientCA.NewLeaf("other", pki.ClientAuth())
	must(t, err)
	expired, err := clientCA.NewLeaf("gateway", pki.ClientAuth(), pki.Expired())
	must(t, err)
	soon, err := clientCA.NewLeaf("gateway", pki.ClientAuth(), pki.Validity(time.Now().Add(-time.Hour), time.Now().Add(time.Hour)))
	must(t, err)
	for _, p := range []struct {
		what            string
		secret          string
		typ             corev1.SecretType
		data            map[string][]byte
		status          metav1.ConditionStatus
		reason, message string
	}{
		{"client Secret missing", "client-cert", "", nil, metav1.ConditionFalse, gwv1alpha1.ReasonInvalidClientCertificate,
			`clientCertificateRef: Secret "client-cert" not found, or it holds neither "tls.crt" nor "tls.key"`},
		{"client Secret of the wrong type", "client-cert", corev1.SecretTypeOpaque, map[string][]byte{"certificate": gateway.CertPEM()},
			metav1.ConditionFalse, gwv1alpha1.ReasonInvalidClientCertificate, "it must be a kubernetes.io/tls Secret"},
		{"client certificate not PEM", "client-cert", corev1.SecretTypeTLS, tlsSecret([]byte("-----BEGIN CERTIFICATE-----\nnope\n"), gateway.KeyPEM()),
			metav1.ConditionFalse, gwv1alpha1.ReasonInvalidClientCertificate, "no PEM certificate found"},
		{"client key mismatch", "client-cert", corev1.SecretTypeTLS, tlsSecret(gateway.CertPEM(), other.KeyPEM()),
			metav1.ConditionFalse, gwv1alpha1.ReasonInvalidClientCertificate, "private key does not match public key"},
		{"client certificate expired", "client-cert", corev1.SecretTypeTLS, tlsSecret(expired.CertPEM(), expired.KeyPEM()),
			metav1.ConditionFalse, gwv1alpha1.ReasonCertificateExpired, `certificate "gateway" expired at`},
		{"client certificate expiring", "client-cert", corev1.SecretTypeTLS, tlsSecret(soon.CertPEM(), soon.KeyPEM()),
			metav1.ConditionTrue, gwv1alpha1.ReasonCertificateExpiringSoon, `certificate "gateway" expires at`},
		{"CA Secret missing", "upstream-ca", "", nil, metav1.ConditionFalse, gwv1alpha1.ReasonInvalidCACertificateRef,
			`caCertificateRefs[0]: Secret "upstream-ca" not found, or it has no key "ca.crt"`},
		{"CA Secret not PEM", "upstream-ca", corev1.SecretTypeOpaque, map[string][]byte{"ca.crt": []byte("a root")},
			metav1.ConditionFalse, gwv1alpha1.ReasonInvalidCACertificateRef, "no PEM certificate found"},
		{"CA Secret holding a leaf", "upstream-ca", corev1.SecretTypeOpaque, map[string][]byte{"ca.crt": chain.Leaf.CertPEM()},
			metav1.ConditionFalse, gwv1alpha1.ReasonInvalidCACertificateRef, "is not a CA certificate"},
	} {
		proxy.replaceSecret(t, c, ns, p.secret, p.typ, p.data)
		expect(p.what, p.status, p.reason, p.message)
		proxy.replaceSecret(t, c, ns, "upstream-ca", corev1.SecretTypeOpaque, map[string][]byte{"ca.crt": chain.Root.CertPEM()})
		proxy.replaceSecret(t, c, ns, "client-cert", corev1.SecretTypeTLS, tlsSecret(gateway.CertPEM(), gateway.KeyPEM()))
		expect(p.what+", then mended", metav1.ConditionTrue, gwv1alpha1.ReasonReady, "verified by 1 proxy replica(s)")
	}
	if d := r.denials.list(); len(d) > 0 {
		t.Errorf("RBAC denied the manager %v", d)
	}
	for _, rule := range slices.Concat(csvGrant(t).cluster, csvGrant(t).namespaced) {
		if slices.Contains(rule.Resources, "secrets") {
			t.Errorf("the CSV grants %s", ruleString(rule))
		}
	}
}

// serverRequiringClients serves chain's leaf and intermediate to clients holding a
// certificate of clientCA only.
func serverRequiringClients(chain *pki.Chain, clientCA *pki.Cert) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{chain.Leaf.TLSCertificate()}, ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs: clientCA.Pool(), MinVersion: tls.VersionTLS12}
}
