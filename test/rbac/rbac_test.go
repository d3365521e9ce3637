// Package rbac_test runs the real manager as a ServiceAccount holding exactly the
// permissions the operator ships (the CSV's, and config/default's), and shows that each of
// them is needed.
package rbac_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	configv1 "github.com/openshift/api/config/v1"
	"github.com/operator-framework/api/pkg/manifests"
	"github.com/operator-framework/api/pkg/operators/v1alpha1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"go.uber.org/zap/zapcore"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	gwv1alpha1 "github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/dataplane"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/gatewaytenant"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/bundle"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/controlplane"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/manager"
)

const saName = "gatewaytenant-controller-manager"

// world is a control plane with every CRD the manager may use, as on OpenShift with the
// Prometheus operator, and the OwnerReferencesPermissionEnforcement admission plugin
// OpenShift runs (setting a blocking owner reference needs update on the owner's finalizers).
type world struct {
	env   *envtest.Environment
	admin client.Client
	cfg   *rest.Config
}

func startWorld(t *testing.T) *world {
	openshift, err := controlplane.OpenShiftConfigCRDs("dnses", "infrastructures")
	if err != nil {
		t.Fatal(err)
	}
	monitoring, err := controlplane.MonitoringCRDs("podmonitors")
	if err != nil {
		t.Fatal(err)
	}
	gatewayAPI, err := controlplane.GatewayAPICRDs(controlplane.GatewayAPIStandard...)
	if err != nil {
		t.Fatal(err)
	}
	env := controlplane.StartForTest(t, func(env *envtest.Environment) {
		env.ControlPlane.GetAPIServer().Configure().Append("enable-admission-plugins", "OwnerReferencesPermissionEnforcement")
	}, slices.Concat(openshift, monitoring, gatewayAPI)...)
	cfg := env.Config
	admin, err := client.New(cfg, client.Options{Scheme: scheme()})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{env: env.Environment, admin: admin, cfg: cfg}
	ctx := context.Background()
	// Kubernetes lets every ServiceAccount read ClusterTrustBundles by default; a platform may
	// take that away. Without it, the operator's own rule must be enough (and is shown needed).
	must(t, admin.Delete(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "system:cluster-trust-bundle-discovery"}}))
	// Detection reads both: the DNS domain does not match a preset, the API server's does.
	name := metav1.ObjectMeta{Name: dataplane.ClusterConfigName}
	must(t, admin.Create(ctx, &configv1.DNS{ObjectMeta: name, Spec: configv1.DNSSpec{BaseDomain: "example.org"}}))
	infra := &configv1.Infrastructure{ObjectMeta: name}
	must(t, admin.Create(ctx, infra))
	infra.Status.APIServerURL = "https://api.silver.devops.gov.bc.ca:6443"
	infra.Status.ControlPlaneTopology = configv1.HighlyAvailableTopologyMode
	infra.Status.InfrastructureTopology = configv1.HighlyAvailableTopologyMode
	must(t, admin.Status().Update(ctx, infra))
	return w
}

func repoRoot(t *testing.T) string {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func scheme() *runtime.Scheme {
	s := manager.Scheme()
	utilruntime.Must(configv1.AddToScheme(s))
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// grant is the RBAC the manager's ServiceAccount gets in one run: cluster-wide rules, and
// rules in its own namespace.
type grant struct {
	cluster, namespaced []rbacv1.PolicyRule
}

// csvGrant reads the permissions of the generated bundle's CSV.
func csvGrant(t *testing.T) grant {
	b, err := manifests.GetBundleFromDir(filepath.Join(repoRoot(t), "bundle"))
	if err != nil {
		t.Fatal(err)
	}
	spec := b.CSV.Spec.InstallStrategy.StrategySpec
	var g grant
	collect := func(perms []v1alpha1.StrategyDeploymentPermissions) []rbacv1.PolicyRule {
		var rules []rbacv1.PolicyRule
		for _, p := range perms {
			if p.ServiceAccountName != saName {
				t.Fatalf("CSV grants to %s; the manager runs as %s", p.ServiceAccountName, saName)
			}
			rules = append(rules, p.Rules...)
		}
		return rules
	}
	g.cluster, g.namespaced = collect(spec.ClusterPermissions), collect(spec.Permissions)
	return g
}

// configGrant reads the Roles and ClusterRoles config/default binds to the manager.
func configGrant(t *testing.T) grant {
	objs, err := bundle.Render(filepath.Join(repoRoot(t), "config", "default"))
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string][]rbacv1.PolicyRule{}
	for _, o := range objs {
		if k := o.GetKind(); k == "Role" || k == "ClusterRole" {
			var r rbacv1.ClusterRole // a Role has the same rules field
			must(t, runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &r))
			roles[k+"/"+o.GetName()] = r.Rules
		}
	}
	var g grant
	for _, o := range objs {
		k := o.GetKind()
		if k != "RoleBinding" && k != "ClusterRoleBinding" {
			continue
		}
		var b rbacv1.RoleBinding
		must(t, runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &b))
		if !slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool { return s.Name == saName }) {
			continue
		}
		rules, ok := roles[b.RoleRef.Kind+"/"+b.RoleRef.Name]
		if !ok {
			t.Fatalf("%s %s binds %s %s, which config/default lacks", k, b.Name, b.RoleRef.Kind, b.RoleRef.Name)
		}
		if k == "ClusterRoleBinding" {
			g.cluster = append(g.cluster, rules...)
		} else {
			g.namespaced = append(g.namespaced, rules...)
		}
	}
	return g
}

// denials records the API server's 403 answers to the manager.
type denials struct {
	mu   sync.Mutex
	seen []string
}

func (d *denials) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		if err == nil && resp.StatusCode == http.StatusForbidden {
			d.mu.Lock()
			d.seen = append(d.seen, req.Method+" "+req.URL.Path)
			d.mu.Unlock()
		}
		return resp, err
	})
}

func (d *denials) list() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.seen)
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// run is one manager run under a grant, in an operator namespace of its own.
type run struct {
	w       *world
	ns      string // the operator's namespace
	denials *denials
	metrics string // the metrics endpoint's address
	stop    func()
}

var runs int

// start creates the operator's namespace, ServiceAccount and the grant's roles, and runs
// the manager as that ServiceAccount (impersonated) with leader election, secure metrics,
// preset detection and PodMonitors on, as the shipped Deployment runs it; tweaks adjust its
// options (how it reaches proxies on loopback, how often).
func (w *world) start(t *testing.T, g grant, tweaks ...func(*manager.Options)) (*run, error) {
	ctx := context.Background()
	runs++
	r := &run{w: w, ns: fmt.Sprintf("operator-%d", runs), denials: &denials{}}
	must(t, w.admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: r.ns}}))
	must(t, w.admin.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: r.ns, Name: saName}}))
	subject := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: r.ns, Name: saName}}
	must(t, w.admin.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: r.ns}, Rules: g.cluster}))
	must(t, w.admin.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: r.ns}, Subjects: subject,
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: r.ns}}))
	must(t, w.admin.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: r.ns, Name: "manager"}, Rules: g.namespaced}))
	must(t, w.admin.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: r.ns, Name: "manager"}, Subjects: subject,
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "manager"}}))

	cfg := rest.CopyConfig(w.cfg)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + r.ns + ":" + saName,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + r.ns, "system:authenticated"},
	}
	cfg.Wrap(r.denials.wrap)
	r.metrics = freeAddr(t)
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{"network.openshift.io/policy-group": "monitoring"}}
	mctx, cancel := context.WithCancel(ctx)
	opts := manager.Options{
		MetricsAddr: r.metrics, SecureMetrics: true, ProbeAddr: "0",
		LeaderElection: true, LeaderElectionNamespace: r.ns,
		DetectDataPlanePreset: true, PresetDomains: dataplane.DefaultDomainPresets(),
		Proxy: gatewaytenant.ProxySettings{Image: "op:1", Replicas: 2,
			Monitoring: gatewaytenant.MonitoringSettings{NamespaceSelector: selector, PodMonitors: true}},
		CertificateExpiryWarning: 24 * time.Hour,
		Harness:                  &manager.Harness{SecondManager: true},
	}
	for _, tw := range tweaks {
		tw(&opts)
	}
	mgr, err := manager.New(mctx, cfg, opts)
	if err != nil {
		cancel()
		return r, err
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	stopped := false
	r.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			// controller-runtime does not stop a manager whose caches never synced (its
			// ServiceAccount may not list a kind it watches). Such a manager starts no
			// controller and holds no lease, so it cannot act on the runs that follow.
			t.Logf("the manager of %s did not stop: its caches never synced", r.ns)
		}
	}
	t.Cleanup(r.stop)
	return r, nil
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// scenario is what the manager must get done: a plain and a TLS tenant Ready (the TLS one
// trusting a ConfigMap and a ClusterTrustBundle, with its proxy, disruption budget and
// PodMonitor), a tenant of a data plane whose gateway verifies TLS with its BackendTLSPolicy,
// its metrics scraped by a Prometheus holding the metrics-reader role, and the TLS tenants'
// proxy and BackendTLSPolicy removed when their upstreams turn plain. It returns an error as
// soon as one step does not converge in time.
func (r *run) scenario(ctx context.Context, within time.Duration) error {
	c := r.w.admin
	ns := r.ns + "-tenants"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return err
	}
	root, err := pki.NewRoot("ca")
	if err != nil {
		return err
	}
	for _, o := range []client.Object{
		service(ns, "plain"), service(ns, "secure"),
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "upstream-ca"}, Data: map[string]string{"ca.crt": string(root.CertPEM())}},
		&certificatesv1.ClusterTrustBundle{ObjectMeta: metav1.ObjectMeta{Name: ns + "-roots"}, Spec: certificatesv1.ClusterTrustBundleSpec{TrustBundle: string(root.CertPEM())}},
		tenant(ns, "plain-api", gwv1alpha1.Upstream{Name: "plain", Host: "plain." + ns + ".svc", Port: 8443}),
		tenant(ns, "tls-api", gwv1alpha1.Upstream{Name: "secure", Host: "secure." + ns + ".svc", Port: 8443, TLS: &gwv1alpha1.UpstreamTLS{
			Validation: gwv1alpha1.UpstreamTLSValidation{CACertificateRefs: []gwv1alpha1.CACertificateReference{{Kind: "ConfigMap", Name: "upstream-ca"},
				{Group: "certificates.k8s.io", Kind: "ClusterTrustBundle", Name: gwv1alpha1.CACertificateRefName(ns + "-roots")}}},
		}}),
	} {
		if err := c.Create(ctx, o); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(within)
	until := func(what string, ok func() bool) error {
		for !ok() {
			if time.Now().After(deadline) {
				return fmt.Errorf("%s did not happen within %s", what, within)
			}
			time.Sleep(100 * time.Millisecond)
		}
		return nil
	}
	key := func(name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }
	if err := until("the plain tenant Ready", func() bool { return ready(ctx, c, key("plain-api")) }); err != nil {
		return err
	}
	dep := &appsv1.Deployment{}
	if err := until("the proxy Deployment", func() bool { return c.Get(ctx, key("tls-api-proxy"), dep) == nil }); err != nil {
		return err
	}
	// envtest runs no Deployment controller: report the proxy available.
	dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2}
	if err := c.Status().Update(ctx, dep); err != nil {
		return err
	}
	if err := until("the TLS tenant Ready", func() bool { return ready(ctx, c, key("tls-api")) }); err != nil {
		return err
	}
	if err := until("the PodMonitor", func() bool { return c.Get(ctx, key("tls-api-proxy"), &monitoringv1.PodMonitor{}) == nil }); err != nil {
		return err
	}
	if err := r.gatewayVerified(ctx, ns, until); err != nil {
		return err
	}
	if err := until("a scrape of the metrics", func() bool { return r.scrape(ctx) == nil }); err != nil {
		return fmt.Errorf("%w: %v", err, r.scrape(ctx))
	}
	t := &gwv1alpha1.GatewayTenant{}
	if err := c.Get(ctx, key("tls-api"), t); err != nil {
		return err
	}
	t.Spec.Upstreams[0].TLS = nil
	if err := c.Update(ctx, t); err != nil {
		return err
	}
	if err := c.Get(ctx, key("gwapi-api"), t); err != nil {
		return err
	}
	t.Spec.Upstreams[0].TLS = nil
	if err := c.Update(ctx, t); err != nil {
		return err
	}
	return until("the proxy's and the BackendTLSPolicy's removal", func() bool {
		return c.Get(ctx, key("tls-api-proxy"), &appsv1.Deployment{}) != nil &&
			c.Get(ctx, key("tls-api-proxy"), &monitoringv1.PodMonitor{}) != nil &&
			c.Get(ctx, key("gwapi-api.verified"), &gwapiv1.BackendTLSPolicy{}) != nil
	})
}

// gatewayVerified creates a data plane of this run whose gateway verifies TLS upstreams
// through BackendTLSPolicies, and a tenant gwapi-api of it in ns with a TLS upstream, and
// waits for its BackendTLSPolicy and its readiness.
func (r *run) gatewayVerified(ctx context.Context, ns string, until func(string, func() bool) error) error {
	c := r.w.admin
	plane := &gwv1alpha1.GatewayDataPlane{ObjectMeta: metav1.ObjectMeta{Name: r.ns + "-gwapi"}, Spec: gwv1alpha1.GatewayDataPlaneSpec{
		Environments: []gwv1alpha1.DataPlaneEnvironment{{Name: "prod", NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"gateway": "envoy"}}}},
		UpstreamTLS:  &gwv1alpha1.UpstreamTLSSpec{Mode: gwv1alpha1.UpstreamTLSModeBackendTLSPolicy},
	}}
	verified := service(ns, "verified")
	verified.Spec.Ports[0].Name = "https"
	t := tenant(ns, "gwapi-api", gwv1alpha1.Upstream{Name: "verified", Host: "verified." + ns + ".svc", Port: 8443, TLS: &gwv1alpha1.UpstreamTLS{
		Validation: gwv1alpha1.UpstreamTLSValidation{CACertificateRefs: []gwv1alpha1.CACertificateReference{{Kind: "ConfigMap", Name: "upstream-ca"}}},
	}})
	t.Spec.DataPlane = plane.Name
	for _, o := range []client.Object{plane, verified, t} {
		if err := c.Create(ctx, o); err != nil {
			return err
		}
	}
	key := client.ObjectKey{Namespace: ns, Name: "gwapi-api.verified"}
	if err := until("the BackendTLSPolicy", func() bool { return c.Get(ctx, key, &gwapiv1.BackendTLSPolicy{}) == nil }); err != nil {
		return err
	}
	return until("the gateway-verified tenant Ready", func() bool { return ready(ctx, c, client.ObjectKeyFromObject(t)) })
}

func service(ns, name string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{
		Selector: map[string]string{"name": name}, Ports: []corev1.ServicePort{{Port: 8443, TargetPort: intstr.FromInt32(8443)}}}}
}

func tenant(ns, name string, u gwv1alpha1.Upstream) *gwv1alpha1.GatewayTenant {
	return &gwv1alpha1.GatewayTenant{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: gwv1alpha1.GatewayTenantSpec{Upstreams: []gwv1alpha1.Upstream{u}}}
}

func ready(ctx context.Context, c client.Client, key client.ObjectKey) bool {
	t := &gwv1alpha1.GatewayTenant{}
	if c.Get(ctx, key, t) != nil {
		return false
	}
	cond := meta.FindStatusCondition(t.Status.Conditions, gwv1alpha1.ConditionReady)
	return cond != nil && cond.Status == metav1.ConditionTrue && cond.ObservedGeneration == t.Generation
}

// scrape reads /metrics as a Prometheus bound to the shipped metrics-reader ClusterRole
// would: the manager checks the token with a TokenReview and the access with a
// SubjectAccessReview.
func (r *run) scrape(ctx context.Context) error {
	c := r.w.admin
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: r.ns, Name: "prometheus"}}
	if err := c.Get(ctx, client.ObjectKeyFromObject(sa), sa); err != nil {
		if err := c.Create(ctx, sa); err != nil {
			return err
		}
		if err := c.Create(ctx, metricsReader(r.ns)); err != nil {
			return err
		}
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptrTo(int64(600))}}
	if err := c.SubResource("token").Create(ctx, sa, tr); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+r.metrics+"/metrics", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tr.Status.Token)
	// The manager serves a self-signed certificate here (no --metrics-cert-dir).
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return nil
}

func ptrTo[T any](v T) *T { return &v }

// metricsReader binds the shipped metrics-reader ClusterRole (applied by the test from
// config/default) to the scraping ServiceAccount.
func metricsReader(ns string) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: ns + "-prometheus"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "prometheus"}},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "gatewaytenant-metrics-reader"}}
}

func (w *world) applyMetricsReader(t *testing.T) {
	objs, err := bundle.Render(filepath.Join(repoRoot(t), "config", "default"))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() == "ClusterRole" && o.GetName() == "gatewaytenant-metrics-reader" {
			must(t, w.admin.Create(context.Background(), (&unstructured.Unstructured{Object: o.Object}).DeepCopy()))
			return
		}
	}
	t.Fatal("config/default has no gatewaytenant-metrics-reader ClusterRole")
}

func init() {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.Level(zapLevel()))))
}

// The manager converges a plain and a TLS tenant holding exactly the CSV's permissions, and
// exactly config/default's, without a single RBAC denial; and each rule of them is needed:
// without it the manager is denied something or fails to converge.
func TestPermissionsAreEnoughAndNoMore(t *testing.T) {
	w := startWorld(t)
	w.applyMetricsReader(t)
	csv, config := csvGrant(t), configGrant(t)
	g := NewWithT(t)
	g.Expect(ruleSet(config)).To(Equal(ruleSet(csv)), "config/default and the CSV grant different rules")

	for name, grant := range map[string]grant{"CSV": csv, "config/default": config} {
		if os.Getenv("RBAC_TEST_ONLY_RULE") != "" {
			break
		}
		r, err := w.start(t, grant)
		if err != nil {
			t.Fatalf("%s permissions: starting the manager: %v", name, err)
		}
		err = r.scenario(context.Background(), 90*time.Second)
		r.stop()
		if err != nil {
			t.Errorf("%s permissions: %v (denied: %v)", name, err, r.denials.list())
		}
		if d := r.denials.list(); len(d) > 0 {
			t.Errorf("%s permissions: RBAC denied %v", name, d)
		}
	}

	only := os.Getenv("RBAC_TEST_ONLY_RULE") // e.g. 9: run the removal of that rule only (debugging)
	for i, without := range eachWithoutOne(csv) {
		if only != "" && only != fmt.Sprint(i) {
			continue
		}
		r, err := w.start(t, without.grant)
		if err != nil {
			t.Logf("rule %d %s: needed, the manager does not start: %v", i, without.rule, err)
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- r.scenario(ctx, 60*time.Second) }()
		denied := func() bool { return len(r.denials.list()) > 0 }
	wait:
		for {
			select {
			case err = <-errc:
				break wait
			case <-time.After(200 * time.Millisecond):
				if denied() {
					break wait
				}
			}
		}
		cancel()
		r.stop()
		switch {
		case denied():
			t.Logf("rule %d %s: needed, denied %s", i, without.rule, r.denials.list()[0])
		case err != nil:
			t.Logf("rule %d %s: needed, %v", i, without.rule, err)
		default:
			t.Errorf("rule %d %s is not needed: the manager converged without it and was denied nothing; remove it", i, without.rule)
		}
	}
}

// without is a grant missing one rule.
type without struct {
	rule  string
	grant grant
}

// eachWithoutOne lists g once per rule, without that rule.
func eachWithoutOne(g grant) []without {
	var out []without
	for i := range g.cluster {
		out = append(out, without{"cluster " + ruleString(g.cluster[i]),
			grant{cluster: slices.Delete(slices.Clone(g.cluster), i, i+1), namespaced: g.namespaced}})
	}
	for i := range g.namespaced {
		out = append(out, without{"namespaced " + ruleString(g.namespaced[i]),
			grant{cluster: g.cluster, namespaced: slices.Delete(slices.Clone(g.namespaced), i, i+1)}})
	}
	return out
}

func ruleString(r rbacv1.PolicyRule) string {
	s := fmt.Sprintf("%s %s/%s", strings.Join(r.Verbs, ","), strings.Join(r.APIGroups, ","), strings.Join(r.Resources, ","))
	if len(r.ResourceNames) > 0 {
		s += " names=" + strings.Join(r.ResourceNames, ",")
	}
	return s
}

func ruleSet(g grant) []string {
	var out []string
	for _, r := range g.cluster {
		out = append(out, "cluster "+ruleString(r))
	}
	for _, r := range g.namespaced {
		out = append(out, "namespaced "+ruleString(r))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func zapLevel() int8 {
	if os.Getenv("RBAC_TEST_LOGS") != "" {
		return -1
	}
	return 10 // quiet: the denials are reported by the test
}
