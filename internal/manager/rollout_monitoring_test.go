package manager_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/gatewaytenant"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/controlplane"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/manager"
)

// dayTwo is one control plane shared by the steps of a day-two story: managers come and
// go on it as an operator upgrade would have them.
type dayTwo struct {
	t   *testing.T
	g   *WithT
	env *controlplane.Environment
	c   client.Client
	log *logLines // what the managers logged
}

// logLines collects log lines, safe for concurrent use.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.lines = append(l.lines, prefix+" "+args)
	}, funcr.Options{})
}

// containing are the lines logged so far that contain every one of words.
func (l *logLines) containing(words ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		if !slices.ContainsFunc(words, func(w string) bool { return !strings.Contains(line, w) }) {
			out = append(out, line)
		}
	}
	return out
}

func startDayTwo(t *testing.T) *dayTwo {
	env := controlplane.StartForTest(t, nil)
	c, err := client.New(env.Config, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	g := NewWithT(t)
	g.SetDefaultEventuallyTimeout(60 * time.Second)
	g.SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	return &dayTwo{t: t, g: g, env: env, c: c, log: &logLines{}}
}

// run starts a manager with o (metrics and probes off, the silver preset) until stop.
func (d *dayTwo) run(o manager.Options) (stop func()) { return d.runVia(d.env.Config, o) }

// runVia is run with the manager reaching the API server through cfg.
func (d *dayTwo) runVia(cfg *rest.Config, o manager.Options) (stop func()) {
	o.MetricsAddr, o.ProbeAddr, o.DataPlanePreset, o.Harness = "0", "0", "silver", &manager.Harness{SecondManager: true}
	ctx, cancel := context.WithCancel(ctrl.LoggerInto(context.Background(), d.log.logger()))
	mgr, err := manager.New(ctx, cfg, o)
	if err != nil {
		d.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			d.t.Error(err)
		}
	}
	d.t.Cleanup(stop)
	return stop
}

// tlsTenant creates a namespace with a Service and a tenant "api" calling it over TLS
// verified against the system roots, and returns the namespace.
func (d *dayTwo) tlsTenant() string {
	ns := d.namespaceWithService()
	system := gwapiv1.WellKnownCACertificatesSystem
	d.g.Expect(d.c.Create(context.Background(), &v1alpha1.GatewayTenant{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "api"},
		Spec: v1alpha1.GatewayTenantSpec{Upstreams: []v1alpha1.Upstream{{
			Name: "secure", Host: "secure." + ns + ".svc", Port: 8443,
			TLS: &v1alpha1.UpstreamTLS{Validation: v1alpha1.UpstreamTLSValidation{WellKnownCACertificates: &system}},
		}}},
	})).To(Succeed())
	return ns
}

// proxy returns the tenant's proxy Deployment once it exists, with the image it runs.
func (d *dayTwo) proxy(g Gomega, ns string) (*appsv1.Deployment, string) {
	dep := &appsv1.Deployment{}
	g.Expect(d.c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "api-proxy"}, dep)).To(Succeed())
	return dep, dep.Spec.Template.Spec.Containers[0].Image
}

// available plays the Deployment controller and kubelet, which envtest lacks.
func (d *dayTwo) available(ns string) {
	d.g.Eventually(func(g Gomega) {
		dep, _ := d.proxy(g, ns)
		r := *dep.Spec.Replicas
		dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: r, UpdatedReplicas: r, ReadyReplicas: r, AvailableReplicas: r}
		g.Expect(d.c.Status().Update(context.Background(), dep)).To(Succeed())
	}).Should(Succeed())
}

func proxyReady(g Gomega, c client.Client, ns string) metav1.Condition {
	t := &v1alpha1.GatewayTenant{}
	g.Expect(c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "api"}, t)).To(Succeed())
	cond := meta.FindStatusCondition(t.Status.Conditions, v1alpha1.ConditionProxyReady)
	g.Expect(cond).NotTo(BeNil())
	g.Expect(cond.ObservedGeneration).To(Equal(t.Generation))
	return *cond
}

// Monitoring without and then with the Prometheus operator's CRDs: the monitoring
// namespaces reach the admin port only, PodMonitors appear once the CRD exists and a manager
// starts, and a manager that finds no CRD runs as well as one without the feature.
func TestMonitoringWithAndWithoutPodMonitorCRD(t *testing.T) {
	d := startDayTwo(t)
	monitoring := manager.Options{Proxy: gatewaytenant.ProxySettings{Image: "op:1", Replicas: 2,
		Monitoring: gatewaytenant.MonitoringSettings{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"network.openshift.io/policy-group": "monitoring"}},
			PodMonitors:       true,
		}}}

	stop := d.run(monitoring)
	ns := d.tlsTenant()
	d.g.Eventually(func(g Gomega) {
		np := &networkingv1.NetworkPolicy{}
		g.Expect(d.c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "api-proxy"}, np)).To(Succeed())
		g.Expect(np.Spec.PodSelector.MatchLabels).To(HaveKeyWithValue(v1alpha1.LabelTenant, "api"))
		g.Expect(np.Spec.Ingress).To(ContainElement(networkingv1.NetworkPolicyIngressRule{
			From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: monitoring.Proxy.Monitoring.NamespaceSelector}},
			Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(9090))}},
		}), "the monitoring namespaces reach the admin port")
		d.proxy(g, ns)
	}).Should(Succeed())
	d.available(ns)
	d.g.Eventually(func(g Gomega) {
		g.Expect(proxyReady(g, d.c, ns).Status).To(Equal(metav1.ConditionTrue))
	}).Should(Succeed())
	stop()
	d.g.Expect(d.log.containing("No PodMonitors for the proxies", "not installed")).To(HaveLen(1))

	// The CRD arrives (the cluster admin installs the Prometheus operator); the next
	// manager finds it at start.
	crds, err := controlplane.MonitoringCRDs("podmonitors")
	d.g.Expect(err).NotTo(HaveOccurred())
	_, err = envtest.InstallCRDs(d.env.Config, envtest.CRDInstallOptions{Paths: crds, ErrorIfPathMissing: true})
	d.g.Expect(err).NotTo(HaveOccurred())
	d.run(monitoring)
	d.g.Eventually(func(g Gomega) {
		pm := &monitoringv1.PodMonitor{}
		g.Expect(d.c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "api-proxy"}, pm)).To(Succeed())
		g.Expect(pm.Spec.Selector.MatchLabels).To(HaveKeyWithValue(v1alpha1.LabelTenant, "api"))
		g.Expect(pm.Spec.PodMetricsEndpoints).To(HaveLen(1))
		g.Expect(pm.Spec.PodMetricsEndpoints[0].Port).To(Equal(ptr.To("admin")))
		g.Expect(metav1.IsControlledBy(pm, tenant(g, d.c, ns))).To(BeTrue())
	}).Should(Succeed())
	d.g.Expect(d.log.containing("A PodMonitor for each proxy", "installed")).To(HaveLen(1), "the manager says what it does")

	// The PodMonitor as stored holds what the operator means, and no empty fields of the Go
	// type (an empty bearerTokenSecret reads as a reference to a Secret named "").
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(monitoringv1.SchemeGroupVersion.WithKind(monitoringv1.PodMonitorsKind))
	d.g.Expect(d.c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "api-proxy"}, u)).To(Succeed())
	endpoints, _, err := unstructured.NestedSlice(u.Object, "spec", "podMetricsEndpoints")
	d.g.Expect(err).NotTo(HaveOccurred())
	d.g.Expect(endpoints).To(Equal([]any{map[string]any{"port": "admin", "path": "/metrics"}}))
}

func tenant(g Gomega, c client.Client, ns string) *v1alpha1.GatewayTenant {
	t := &v1alpha1.GatewayTenant{}
	g.Expect(c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "api"}, t)).To(Succeed())
	return t
}

// proxiesOn runs a manager with the proxy image until n TLS tenants have their proxies
// available, stops it, and returns the tenants' namespaces: the cluster before an upgrade.
func (d *dayTwo) proxiesOn(image string, n int) []string {
	stop := d.run(manager.Options{Proxy: gatewaytenant.ProxySettings{Image: image, Replicas: 1}})
	defer stop()
	var namespaces []string
	for range n {
		namespaces = append(namespaces, d.tlsTenant())
	}
	for _, ns := range namespaces {
		d.g.Eventually(func(g Gomega) { d.proxy(g, ns) }).Should(Succeed())
		d.available(ns)
	}
	return namespaces
}

// An operator upgrade changes the proxy image of every tenant; with one rollout an hour and
// a burst of one, exactly one proxy changes image, and every other tenant says in ProxyReady
// that it still runs the old image and why.
func TestProxyImageRolloutIsBounded(t *testing.T) {
	d := startDayTwo(t)
	const tenants = 4
	namespaces := d.proxiesOn("op:1", tenants)

	d.run(manager.Options{Proxy: gatewaytenant.ProxySettings{Image: "op:2", Replicas: 1},
		ProxyRolloutsPerMinute: 1.0 / 60, ProxyRolloutBurst: 1})
	d.g.Eventually(func(g Gomega) {
		images := map[string]int{}
		for _, ns := range namespaces {
			_, image := d.proxy(g, ns)
			images[image]++
			if image == "op:1" {
				c := proxyReady(g, d.c, ns)
				g.Expect(c.Reason).To(Equal(v1alpha1.ReasonProxyOutdated))
				g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
				g.Expect(c.Message).To(ContainSubstring("still runs op:1; its upgrade to op:2 waits its turn"))
			}
		}
		g.Expect(images).To(Equal(map[string]int{"op:2": 1, "op:1": tenants - 1}), fmt.Sprint(images))
	}).Should(Succeed())
	// And it stays so: the bound holds over further reconciles.
	d.g.Consistently(func(g Gomega) {
		n := 0
		for _, ns := range namespaces {
			if _, image := d.proxy(g, ns); image == "op:2" {
				n++
			}
		}
		g.Expect(n).To(Equal(1))
	}, 3*time.Second).Should(Succeed())
}

// With the default burst, an upgrade changes no more proxy images a minute than
// --proxy-rollouts-per-minute says: at 2 a minute, five tenants do not all change at once,
// and those that wait say so.
func TestProxyImageRolloutPerMinuteWithTheDefaultBurst(t *testing.T) {
	d := startDayTwo(t)
	const tenants, perMinute = 5, 2
	namespaces := d.proxiesOn("op:1", tenants)

	start := time.Now()
	d.run(manager.Options{Proxy: gatewaytenant.ProxySettings{Image: "op:2", Replicas: 1}, ProxyRolloutsPerMinute: perMinute})
	// Counted against the minutes begun since the manager started, however slow the machine.
	withinPromise := func(g Gomega) int {
		changed := 0
		for _, ns := range namespaces {
			if _, image := d.proxy(g, ns); image == "op:2" {
				changed++
			}
		}
		minutes := int(math.Ceil(time.Since(start).Minutes()))
		g.Expect(changed).To(BeNumerically("<=", perMinute*minutes), "%d image changes in %d minute(s)", changed, minutes)
		return changed
	}
	d.g.Eventually(func(g Gomega) {
		g.Expect(withinPromise(g)).To(BeNumerically(">=", 1))
		for _, ns := range namespaces {
			if _, image := d.proxy(g, ns); image == "op:1" {
				g.Expect(proxyReady(g, d.c, ns).Reason).To(Equal(v1alpha1.ReasonProxyOutdated))
			}
		}
	}).Should(Succeed())
	d.g.Consistently(func(g Gomega) { withinPromise(g) }, 5*time.Second).Should(Succeed())
}

// A tenant sizes its proxy within the platform's bounds: the Deployment follows; beyond them
// the tenant is told which field and which bound, and the proxy keeps its size. Resources
// other than cpu and memory are refused at admission.
func TestProxySizingWithinBounds(t *testing.T) {
	d := startDayTwo(t)
	d.run(manager.Options{Proxy: gatewaytenant.ProxySettings{Image: "op:1", Replicas: 2, MaxReplicas: 4,
		MaxResources: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}})
	ns := d.tlsTenant()
	d.g.Eventually(func(g Gomega) {
		dep, _ := d.proxy(g, ns)
		g.Expect(*dep.Spec.Replicas).To(Equal(int32(2)))
		g.Expect(dep.Spec.Template.Spec.Containers[0].Resources).To(Equal(gatewaytenant.DefaultProxyResources()))
	}).Should(Succeed())

	resize := func(s *v1alpha1.ProxySizing) {
		d.g.Eventually(func(g Gomega) {
			t := tenant(g, d.c, ns)
			t.Spec.Proxy = s
			g.Expect(d.c.Update(context.Background(), t)).To(Succeed())
		}).Should(Succeed())
	}
	resize(&v1alpha1.ProxySizing{Replicas: ptr.To[int32](3), Resources: &v1alpha1.ProxyResources{
		Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")}}})
	d.g.Eventually(func(g Gomega) {
		dep, _ := d.proxy(g, ns)
		g.Expect(*dep.Spec.Replicas).To(Equal(int32(3)))
		g.Expect(dep.Spec.Template.Spec.Containers[0].Resources.Limits.Memory().String()).To(Equal("512Mi"))
		g.Expect(dep.Spec.Template.Spec.Containers[0].Resources.Requests.Cpu().String()).To(Equal("50m"))
	}).Should(Succeed())

	resize(&v1alpha1.ProxySizing{Replicas: ptr.To[int32](8)})
	d.g.Eventually(func(g Gomega) {
		c := proxyReady(g, d.c, ns)
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal(v1alpha1.ReasonProxySizeNotAllowed))
		g.Expect(c.Message).To(Equal("spec.proxy.replicas: 8 is above the platform's maximum of 4; the proxy keeps the size it had"))
	}).Should(Succeed())
	dep, _ := d.proxy(d.g, ns)
	d.g.Expect(*dep.Spec.Replicas).To(Equal(int32(3)))
	d.g.Expect(dep.Spec.Template.Spec.Containers[0].Resources.Limits.Memory().String()).To(Equal("512Mi"))

	t2 := tenant(d.g, d.c, ns)
	t2.Spec.Proxy = &v1alpha1.ProxySizing{Resources: &v1alpha1.ProxyResources{
		Requests: corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}}}
	err := d.c.Update(context.Background(), t2)
	d.g.Expect(err).To(MatchError(ContainSubstring("only cpu and memory may be requested")))
}
