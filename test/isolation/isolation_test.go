// Package isolation judges the NetworkPolicies the real operator writes on a real API server
// with an independent NetworkPolicy engine (cyclonus's matcher, which implements the
// Kubernetes NetworkPolicy semantics on its own), over a table of traffic cases: what the
// gateway may reach, what nobody else may, and what the TLS proxy may reach when the tenant's
// namespace denies all ingress and egress by default.
package isolation

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	"go.uber.org/zap/zapcore"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/dataplane"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/gatewaytenant"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/controlplane"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/manager"
)

const (
	tenantNS = "abc123-prod"
	otherNS  = "xyz789-prod"
)

var (
	ctx       = context.Background()
	k8sClient client.Client
	cfg       *rest.Config
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

// run starts the control plane and the real manager, keeping the Silver preset as the
// default data plane, as the reference platform's Silver cluster would.
func run(m *testing.M) int {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	gatewayAPI, err := controlplane.GatewayAPICRDs(controlplane.GatewayAPIStandard...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env, err := controlplane.Start(gatewayAPI...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	cfg = env.Config
	if k8sClient, err = client.New(env.Config, client.Options{Scheme: manager.Scheme()}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	mgr, err := manager.New(mctx, env.Config, manager.Options{
		MetricsAddr: "0", ProbeAddr: "0", DataPlanePreset: "silver",
		Proxy:                    gatewaytenant.ProxySettings{Image: "registry.example/gatewaytenant/operator:test", Replicas: 1},
		CertificateExpiryWarning: 30 * 24 * time.Hour,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() {
		if err := mgr.Start(mctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
	}()
	return m.Run()
}

// peer is a pod: its namespace (whose labels are read back from the API server, so the
// kubernetes.io/metadata.name the API server sets is there) and its own labels.
type peer struct {
	ns     string
	labels map[string]string
}

// trafficCase is one connection attempt and whether the policies must let it through.
type trafficCase struct {
	desc     string
	from, to peer
	port     int
	protocol corev1.Protocol
	allowed  bool
}

// TestIsolation applies the tenant guide's case (Silver, test and prod) with one plain and one TLS
// upstream, adds a default deny of all ingress and egress in the tenant's namespace, and
// asks the engine about each case.
func TestIsolation(t *testing.T) {
	setUpCluster(t)
	tenant := setUpTenant(t, tenantNS, nil)
	engine := underDefaultDeny(t, tenant)

	proxy := peer{tenantNS, proxyPodLabels(t, tenant)}
	plain := peer{tenantNS, map[string]string{"app": "plain-api"}}
	secure := peer{tenantNS, map[string]string{"app": "tls-api"}}
	otherPod := peer{tenantNS, map[string]string{"app": "batch"}}
	silverTest := peer{"264e6f-test", map[string]string{"app": "kong"}}
	silverProd := peer{"264e6f-prod", map[string]string{"app": "kong"}}
	kubeDNS := peer{"kube-system", map[string]string{"k8s-app": "kube-dns"}}
	proxyPort := proxyListenPort(t, tenant)
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP

	judge(t, engine, []trafficCase{
		{"gateway test reaches the plain upstream", silverTest, plain, 8080, tcp, true},
		{"gateway prod reaches the plain upstream", silverProd, plain, 8080, tcp, true},
		{"gateway test reaches the proxy", silverTest, proxy, proxyPort, tcp, true},
		{"gateway prod reaches the proxy", silverProd, proxy, proxyPort, tcp, true},
		{"gateway, wrong port of the plain upstream", silverTest, plain, 9090, tcp, false},
		{"gateway, right port number over UDP", silverTest, plain, 8080, udp, false},
		{"gateway, the proxy's admin port", silverProd, proxy, 9090, tcp, false},
		{"gateway, the TLS upstream around the proxy", silverTest, secure, 9443, tcp, false},
		{"gateway, another pod of the namespace", silverTest, otherPod, 8080, tcp, false},
		{"another tenant, the plain upstream", peer{otherNS, map[string]string{"app": "x"}}, plain, 8080, tcp, false},
		{"another tenant, the proxy", peer{otherNS, map[string]string{"app": "x"}}, proxy, proxyPort, tcp, false},
		{"Gold's gateway, the plain upstream", peer{"b8840c-test", map[string]string{"app": "kong"}}, plain, 8080, tcp, false},
		{"Gold's gateway, the proxy", peer{"b8840c-prod", map[string]string{"app": "kong"}}, proxy, proxyPort, tcp, false},
		{"namespace with only name: 264e6f", peer{"264e6f-tools", nil}, plain, 8080, tcp, false},
		{"namespace with only environment: test", peer{"tools-test", nil}, plain, 8080, tcp, false},
		{"copied labels, the plain upstream", peer{"evil-ns", nil}, plain, 8080, tcp, false},
		{"copied labels, the proxy", peer{"evil-ns", nil}, proxy, proxyPort, tcp, false},
		{"another pod of the namespace, the TLS upstream", otherPod, secure, 9443, tcp, false},
		{"proxy reaches the TLS upstream", proxy, secure, 9443, tcp, true},
		{"proxy reaches cluster DNS over UDP", proxy, kubeDNS, 53, udp, true},
		{"proxy reaches cluster DNS over TCP", proxy, kubeDNS, 53, tcp, true},
		{"proxy, the TLS upstream's other port", proxy, secure, 9444, tcp, false},
		{"proxy, the plain upstream", proxy, plain, 8080, tcp, false},
		{"proxy, another pod of the namespace", proxy, otherPod, 9443, tcp, false},
		{"proxy, the gateway", proxy, silverTest, 8000, tcp, false},
		{"proxy, another tenant", proxy, peer{otherNS, map[string]string{"app": "tls-api"}}, 9443, tcp, false},
		{"proxy, not-DNS pods of kube-system", proxy, peer{"kube-system", map[string]string{"k8s-app": "metrics"}}, 53, udp, false},
		{"proxy, DNS on another port", proxy, kubeDNS, 5353, udp, false},
	})
	judgeOutsideClosed(t, engine, proxy)
}

// underDefaultDeny waits for the tenant's NetworkPolicies and builds the engine from every
// policy of its namespace plus a default deny of all ingress and egress there.
func underDefaultDeny(t *testing.T, tenant *v1alpha1.GatewayTenant) *matcher.Policy {
	t.Helper()
	policies := append(tenantPolicies(t, tenant), &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "default-deny", Namespace: tenant.Namespace},
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{
			networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress,
		}},
	})
	return matcher.BuildNetworkPolicies(true, policies)
}

// judge asks the engine about each case.
func judge(t *testing.T, engine *matcher.Policy, cases []trafficCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			tr := &matcher.Traffic{
				Source:       &matcher.TrafficPeer{Internal: internal(t, c.from), IP: "10.0.0.1"},
				Destination:  &matcher.TrafficPeer{Internal: internal(t, c.to), IP: "10.0.0.2"},
				ResolvedPort: c.port,
				Protocol:     c.protocol,
			}
			if got := engine.IsTrafficAllowed(tr).IsAllowed(); got != c.allowed {
				t.Errorf("allowed = %v, want %v\n%s", got, c.allowed, engine.IsTrafficAllowed(tr).Table())
			}
		})
	}
}

// judgeOutsideClosed checks that from reaches no address outside the cluster.
func judgeOutsideClosed(t *testing.T, engine *matcher.Policy, from peer) {
	t.Helper()
	out := &matcher.Traffic{
		Source:       &matcher.TrafficPeer{Internal: internal(t, from), IP: "10.0.0.1"},
		Destination:  &matcher.TrafficPeer{IP: "203.0.113.7"},
		ResolvedPort: 443, Protocol: corev1.ProtocolTCP,
	}
	if engine.IsTrafficAllowed(out).IsAllowed() {
		t.Errorf("%v reaches an address outside the cluster:\n%s", from.labels, engine.IsTrafficAllowed(out).Table())
	}
}

// setUpCluster creates the namespaces of the cases with the labels the reference platform
// gives them, and Gold's data plane beside Silver's default.
func setUpCluster(t *testing.T) {
	t.Helper()
	namespaces := map[string]map[string]string{
		"264e6f-test":  {"environment": "test", "name": "264e6f"},
		"264e6f-prod":  {"environment": "prod", "name": "264e6f"},
		"b8840c-test":  {"environment": "test", "name": "b8840c"},
		"b8840c-prod":  {"environment": "prod", "name": "b8840c"},
		"264e6f-tools": {"name": "264e6f"},
		"tools-test":   {"environment": "test"},
		"evil-ns":      {"environment": "test", "name": "264e6f"}, // labels copied from the gateway's
		tenantNS:       {"environment": "prod", "name": "abc123"},
		otherNS:        {"environment": "prod", "name": "xyz789"},
		"kube-system":  nil,
	}
	createNamespaces(t, namespaces)
	createDataPlane(t, "gold", "gold")
	// The other tenant exposes the same kind of Service on Gold.
	createService(t, otherNS, "tls-api", 8443, 9443)
	other := &v1alpha1.GatewayTenant{
		ObjectMeta: metav1.ObjectMeta{Name: "other-api", Namespace: otherNS},
		Spec: v1alpha1.GatewayTenantSpec{DataPlane: "gold", Upstreams: []v1alpha1.Upstream{{
			Name: "tls-api", Host: "tls-api." + otherNS + ".svc", Port: 8443,
		}}},
	}
	if err := k8sClient.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
}

// createNamespaces creates each namespace with its labels, unless it exists.
func createNamespaces(t *testing.T, namespaces map[string]map[string]string) {
	t.Helper()
	for name, labels := range namespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
		if err := client.IgnoreAlreadyExists(k8sClient.Create(ctx, ns)); err != nil {
			t.Fatal(err)
		}
	}
}

// createDataPlane creates the data plane of a preset under name, not as the default.
func createDataPlane(t *testing.T, preset, name string) {
	t.Helper()
	dp, err := dataplane.Preset(preset)
	if err != nil {
		t.Fatal(err)
	}
	dp.Name, dp.Spec.Default, dp.Labels = name, false, nil
	if err := k8sClient.Create(ctx, dp); err != nil {
		t.Fatal(err)
	}
}

// setUpTenant creates, in ns, the Services plain-api (8080) and tls-api (8443, target 9443),
// the CA of the TLS upstream, and the tenant my-api exposing both, after tweak.
func setUpTenant(t *testing.T, ns string, tweak func(*v1alpha1.GatewayTenant)) *v1alpha1.GatewayTenant {
	t.Helper()
	createService(t, ns, "plain-api", 8080, 8080)
	createService(t, ns, "tls-api", 8443, 9443)
	root, err := pki.NewRoot("upstream root")
	if err != nil {
		t.Fatal(err)
	}
	ca := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "upstream-ca", Namespace: ns},
		Data:       map[string]string{"ca.crt": string(root.CertPEM())},
	}
	if err := k8sClient.Create(ctx, ca); err != nil {
		t.Fatal(err)
	}
	tenant := &v1alpha1.GatewayTenant{
		ObjectMeta: metav1.ObjectMeta{Name: "my-api", Namespace: ns},
		Spec: v1alpha1.GatewayTenantSpec{Upstreams: []v1alpha1.Upstream{
			{Name: "plain-api", Host: "plain-api." + ns + ".svc", Port: 8080},
			{Name: "tls-api", Host: "tls-api." + ns + ".svc", Port: 8443, TLS: &v1alpha1.UpstreamTLS{
				Validation: v1alpha1.UpstreamTLSValidation{
					CACertificateRefs: []v1alpha1.CACertificateReference{{Name: "upstream-ca"}},
				},
			}},
		}},
	}
	if tweak != nil {
		tweak(tenant)
	}
	if err := k8sClient.Create(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	return tenant
}

// createService creates a Service selecting pods labelled app=<name>.
func createService(t *testing.T, ns, name string, port, targetPort int32) {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "api", Port: port, TargetPort: intstr.FromInt32(targetPort)}},
		},
	}
	if err := k8sClient.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
}

// tenantPolicies waits until the operator reports the tenant's NetworkPolicies in place for
// its current generation, and returns every NetworkPolicy of the tenant's namespace.
func tenantPolicies(t *testing.T, tenant *v1alpha1.GatewayTenant) []*networkingv1.NetworkPolicy {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(tenant), tenant); err != nil {
			return false, err
		}
		c := meta.FindStatusCondition(tenant.Status.Conditions, v1alpha1.ConditionNetworkPolicyReady)
		return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == tenant.Generation, nil
	})
	if err != nil {
		t.Fatalf("tenant's NetworkPolicies not ready: %v; conditions %+v", err, tenant.Status.Conditions)
	}
	list := &networkingv1.NetworkPolicyList{}
	if err := k8sClient.List(ctx, list, client.InNamespace(tenant.Namespace)); err != nil {
		t.Fatal(err)
	}
	var out []*networkingv1.NetworkPolicy
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	return out
}

// proxyPodLabels are the labels of the tenant's proxy's pods, from the Deployment the
// operator wrote.
func proxyPodLabels(t *testing.T, tenant *v1alpha1.GatewayTenant) map[string]string {
	t.Helper()
	dep := &appsv1.Deployment{}
	key := client.ObjectKey{Namespace: tenant.Namespace, Name: tenant.Name + "-proxy"}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		return client.IgnoreNotFound(k8sClient.Get(ctx, key, dep)) == nil && dep.Name != "", nil
	})
	if err != nil {
		t.Fatalf("proxy Deployment: %v", err)
	}
	return dep.Spec.Template.Labels
}

// proxyListenPort is the proxy's container port for the TLS upstream: the Service's target
// port the operator published for it.
func proxyListenPort(t *testing.T, tenant *v1alpha1.GatewayTenant) int {
	t.Helper()
	svc := &corev1.Service{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: tenant.Namespace, Name: tenant.Name + "-proxy"}, svc); err != nil {
		t.Fatal(err)
	}
	for _, p := range svc.Spec.Ports {
		if p.Name == "tls-api" {
			return p.TargetPort.IntValue()
		}
	}
	t.Fatalf("proxy Service %v has no port for tls-api", svc.Spec.Ports)
	return 0
}

// internal is a pod as the engine sees it, with its namespace's labels as the API server
// holds them.
func internal(t *testing.T, p peer) *matcher.InternalPeer {
	t.Helper()
	ns := &corev1.Namespace{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Name: p.ns}, ns); err != nil {
		t.Fatal(err)
	}
	return &matcher.InternalPeer{Namespace: p.ns, NamespaceLabels: ns.Labels, PodLabels: p.labels}
}

// TestPresetNamespaceNames: the preset pins its gateway namespaces by name; a platform admin
// may change the names of the kept data plane and the manager keeps them, while its other
// edits are restored and emptied names come back as the preset's.
func TestPresetNamespaceNames(t *testing.T) {
	key := client.ObjectKey{Name: "aps-silver"}
	dp := &v1alpha1.GatewayDataPlane{}
	eventually(t, "the preset's data plane", func() bool {
		return k8sClient.Get(ctx, key, dp) == nil && dp.Status.Source == "preset:silver"
	})
	for _, env := range dp.Spec.Environments {
		if want := []string{"264e6f-" + string(env.Name)}; !slices.Equal(env.NamespaceNames, want) {
			t.Fatalf("environment %s pins %v, want %v", env.Name, env.NamespaceNames, want)
		}
	}

	edit := func(change func(*v1alpha1.GatewayDataPlaneSpec)) {
		t.Helper()
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			if err := k8sClient.Get(ctx, key, dp); err != nil {
				return false, err
			}
			change(&dp.Spec)
			return k8sClient.Update(ctx, dp) == nil, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	names := func(env v1alpha1.EnvironmentName) []string {
		if err := k8sClient.Get(ctx, key, dp); err != nil {
			return nil
		}
		return dp.Spec.Environment(env).NamespaceNames
	}

	// The admin renames the test gateway's namespace, and also (wrongly) the selector.
	edit(func(s *v1alpha1.GatewayDataPlaneSpec) {
		s.Environments[0].NamespaceNames = []string{"264e6f-test", "264e6f-test2"}
		s.Environments[0].NamespaceSelector.MatchLabels["name"] = "changed"
	})
	eventually(t, "the selector restored", func() bool {
		return k8sClient.Get(ctx, key, dp) == nil && dp.Spec.Environments[0].NamespaceSelector.MatchLabels["name"] == "264e6f"
	})
	if got := names("test"); !slices.Equal(got, []string{"264e6f-test", "264e6f-test2"}) {
		t.Errorf("the admin's namespace names were not kept: %v", got)
	}

	// Emptied names are not kept: a preset never runs unpinned.
	edit(func(s *v1alpha1.GatewayDataPlaneSpec) { s.Environments[0].NamespaceNames = nil })
	eventually(t, "the preset's names back", func() bool { return slices.Equal(names("test"), []string{"264e6f-test"}) })
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// TestGetDataPlanesShowsEveryEnvironment asks the API server for the table `kubectl get gdp`
// prints, and reads the Environments column of the preset's data plane.
func TestGetDataPlanesShowsEveryEnvironment(t *testing.T) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var cell string
	eventually(t, "the Environments column", func() bool {
		u, err := url.JoinPath(cfg.Host, cfg.APIPath, "/apis/gatewaytenant.io/v1alpha1/gatewaydataplanes/aps-silver")
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
		resp, err := hc.Do(req)
		if err != nil {
			return false
		}
		defer func() { _ = resp.Body.Close() }()
		table := &metav1.Table{}
		if err := json.NewDecoder(resp.Body).Decode(table); err != nil || len(table.Rows) != 1 {
			t.Logf("status %d, decode %v, %d rows", resp.StatusCode, err, len(table.Rows))
			return false
		}
		for i, col := range table.ColumnDefinitions {
			if col.Name == "Environments" {
				cell = fmt.Sprint(table.Rows[0].Cells[i])
			}
		}
		return strings.Contains(cell, "test") && strings.Contains(cell, "prod")
	})
	t.Logf("kubectl get gdp aps-silver: Environments %s", cell)
}
