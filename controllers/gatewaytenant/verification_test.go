package gatewaytenant_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/yaml"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/proxystate"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/kubelet"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/proxyrun"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// proxyCheckInterval is the proxy replicas' active check period in these specs.
const proxyCheckInterval = 300 * time.Millisecond

// freeReplicaPort is a TCP port free on both loopback addresses the replicas use.
func freeReplicaPort() int {
	for range 50 {
		a, err := net.Listen("tcp", "127.0.0.2:0")
		Expect(err).NotTo(HaveOccurred())
		port := a.Addr().(*net.TCPAddr).Port
		b, err := net.Listen("tcp", net.JoinHostPort("127.0.0.3", strconv.Itoa(port)))
		_ = a.Close()
		if err == nil {
			_ = b.Close()
			return port
		}
	}
	Fail("no port free on both 127.0.0.2 and 127.0.0.3")
	return 0
}

// replicaIP is the pod address an EndpointSlice gives the replica on loopback address ip: the
// API server refuses loopback addresses in EndpointSlices, so the manager dials through
// dialReplica, which maps them back.
func replicaIP(loopback string) string { return strings.Replace(loopback, "127.0.0.", "10.99.0.", 1) }

func dialReplica(ctx context.Context, network, address string) (net.Conn, error) {
	return (&net.Dialer{}).DialContext(ctx, network, strings.Replace(address, "10.99.0.", "127.0.0.", 1))
}

// tlsServer is a TLS upstream on loopback whose configuration a spec switches at will.
type tlsServer struct {
	addr    string
	serving atomic.Pointer[tls.Config]
	hits    atomic.Int64
}

func startTLSServer(initial *tls.Config) *tlsServer {
	s := &tlsServer{}
	s.serving.Store(initial)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.hits.Add(1)
		_, _ = io.WriteString(w, "ok")
	}))
	srv.TLS = &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return s.serving.Load(), nil }}
	srv.StartTLS()
	DeferCleanup(srv.Close)
	s.addr = srv.Listener.Addr().String()
	return s
}

func serving(c *pki.Cert) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{c.TLSCertificate()}, MinVersion: tls.VersionTLS12}
}

// replica is one proxy pod played on loopback: the real binary, with the configuration the
// operator rendered and the volumes the kubelet would mount (internal/harness), its listeners
// and admin port on its own 127.0.0.x, and its upstream at a loopback TLS server (the name it
// verifies stays the one rendered).
type replica struct {
	ns, ip, upstreamAddr string
	opts                 []kubelet.Option // how the kubelet mounts its pod
	pod                  *proxyrun.Pod
	proc                 *proxyrun.Process
}

func startReplica(bin, ns, ip, upstreamAddr string, opts ...kubelet.Option) *replica {
	GinkgoHelper()
	r := &replica{ns: ns, ip: ip, upstreamAddr: upstreamAddr, opts: opts}
	r.start(bin)
	DeferCleanup(r.stop)
	return r
}

// resync is the kubelet's sync of the pod's volumes after a ConfigMap or Secret changed.
func (r *replica) resync() {
	GinkgoHelper()
	_, err := r.pod.Sync(ctx)
	Expect(err).NotTo(HaveOccurred())
}

// rotate is the kubelet's renewal of the pod's pod certificates.
func (r *replica) rotate() {
	GinkgoHelper()
	_, err := r.pod.RotatePodCertificates(ctx)
	Expect(err).NotTo(HaveOccurred())
}

// caFile is where the replica reads the upstream's first CA bundle.
func (r *replica) caFile() string {
	GinkgoHelper()
	f, ok := r.pod.HostPath(r.pod.Config.Upstreams[0].TLS.CAFiles[0])
	Expect(ok).To(BeTrue())
	return f
}

// start mounts the current pod template and runs the proxy on it.
func (r *replica) start(bin string) {
	GinkgoHelper()
	dep := get(r.ns, "my-api-proxy", &appsv1.Deployment{})
	pod, err := proxyrun.MountPod(ctx, k8sClient, r.ns, &dep.Spec.Template.Spec, GinkgoT().TempDir(), r.opts...)
	Expect(err).NotTo(HaveOccurred())
	r.pod = pod
	rendered, err := yaml.Marshal(pod.Config)
	Expect(err).NotTo(HaveOccurred())
	cfg, err := contract.ParseConfig(rendered) // a copy: pod.Config stays as rendered
	Expect(err).NotTo(HaveOccurred())
	proxyrun.Localise(cfg, pod.HostPath, r.upstreamAddr)
	cfg.Admin.Address = net.JoinHostPort(r.ip, strconv.Itoa(proxyAdminPort))
	for i := range cfg.Upstreams {
		cfg.Upstreams[i].Listen = r.ip + ":0"
	}
	cfg.Verification.Interval = &contract.Duration{Duration: proxyCheckInterval}
	data, err := yaml.Marshal(cfg)
	Expect(err).NotTo(HaveOccurred())
	file := filepath.Join(pod.Root, "proxy.replica.yaml")
	Expect(os.WriteFile(file, data, 0o600)).To(Succeed())
	r.proc, err = proxyrun.Start(bin, file, GinkgoWriter, "--log-level", "debug")
	Expect(err).NotTo(HaveOccurred())
}

// restart plays the rollout of a new configuration: the pod is replaced by one with the new
// ConfigMap and files.
func (r *replica) restart(bin string) {
	GinkgoHelper()
	r.stop()
	r.start(bin)
}

func (r *replica) stop() {
	GinkgoHelper()
	Expect(r.proc.Stop()).To(Succeed())
}

// proxyEndpoints plays the EndpointSlice controller for the proxy Service: one ready endpoint
// per replica, labelled like the Service.
func proxyEndpoints(ns string, replicas ...*replica) {
	svc := get(ns, "my-api-proxy", &corev1.Service{})
	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "my-api-proxy-x1"}}
	_, err := controllerutil.CreateOrUpdate(ctx, k8sClient, slice, func() error {
		slice.Labels = map[string]string{discoveryv1.LabelServiceName: svc.Name}
		for k, v := range svc.Labels {
			slice.Labels[k] = v
		}
		slice.AddressType = discoveryv1.AddressTypeIPv4
		slice.Endpoints = nil
		for i, r := range replicas {
			slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
				Addresses:  []string{replicaIP(r.ip)},
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: fmt.Sprintf("my-api-proxy-%d", i)},
			})
		}
		return nil
	})
	Expect(err).NotTo(HaveOccurred())
}

// serviceEndpoints plays the EndpointSlice controller for a tenant's own Service.
func serviceEndpoints(ns, svc string, ips ...string) {
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: svc + "-x1", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, ip := range ips {
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
	}
	Expect(k8sClient.Create(ctx, slice)).To(Succeed())
}

// verified waits until upstream "secure" of t has the Verified condition status/reason, and
// returns it with the upstream's Ready and the tenant's Ready.
func verified(t *v1alpha1.GatewayTenant, status metav1.ConditionStatus, reason string) (v, ready, tenantReady metav1.Condition) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		us, r := upstreamStatus(g, t, "secure")
		c := meta.FindStatusCondition(us.Conditions, v1alpha1.ConditionVerified)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.ObservedGeneration).To(Equal(t.Generation))
		g.Expect(c.Status).To(Equal(status), c.Message)
		g.Expect(c.Reason).To(Equal(reason), c.Message)
		v, ready, tenantReady = *c, r, condition(g, t, v1alpha1.ConditionReady)
	}).Should(Succeed())
	return v, ready, tenantReady
}

// tenantEvents are the events recorded on the tenant, as "type/reason".
func tenantEvents(ns string) []string {
	list := &eventsv1.EventList{}
	Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Kind == "GatewayTenant" {
			out = append(out, e.Type+"/"+e.Reason)
		}
	}
	return out
}

// tenantEventNotes are the notes of the Normal events of reason recorded on tenant my-api.
func tenantEventNotes(ns, reason string) []string {
	list := &eventsv1.EventList{}
	Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Kind == "GatewayTenant" && e.Type == corev1.EventTypeNormal && e.Reason == reason {
			out = append(out, e.Note)
		}
	}
	return out
}

var _ = Describe("Verification of TLS upstreams by the proxy replicas", Ordered, func() {
	var bin string
	BeforeAll(func() {
		var err error
		bin, err = proxyrun.Build(ctx, GinkgoT().TempDir())
		Expect(err).NotTo(HaveOccurred())
	})

	It("reports each replica's verification in status, without flapping, and writes nothing while it holds", func() {
		ns := newNamespace()
		newService(ns, "web")
		newService(ns, "secure")
		chain := must(pki.NewChain(pki.DNS("secure." + ns + ".svc")))
		other := must(pki.NewRoot("someone else's root"))
		Expect(k8sClient.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "upstream-ca"},
			Data:       map[string]string{"ca.crt": string(other.CertPEM())},
		})).To(Succeed())
		server := startTLSServer(serving(chain.Leaf))
		secure := tlsUpstream(ns, "secure")
		secure.TLS.ClientCertificateRef = nil
		t := newTenant(ns, []v1alpha1.Upstream{upstream(ns, "web"), secure})
		becomeAvailable(ns)

		By("awaiting a report while no replica runs, without blocking Ready")
		verified(t, metav1.ConditionUnknown, v1alpha1.ReasonAwaitingProxyReport)
		expectReady(t)
		ready := condition(Default, t, v1alpha1.ConditionReady)
		Expect(ready.Message).To(ContainSubstring(`upstream "secure" awaits verification by the proxy`))
		Expect(ready.Message).To(ContainSubstring(`upstream "web" has no ready endpoints`))
		Expect(ready.Message).NotTo(ContainSubstring("reachable"))
		Eventually(func(g Gomega) {
			_, c := upstreamStatus(g, t, "web")
			g.Expect(c.Reason).To(Equal(v1alpha1.ReasonNoReadyEndpoints))
		}).Should(Succeed())
		networkPolicy(ns, "web") // a warning: the policy is in place

		By("admitting the operator's namespace to the proxies' admin port, and only to it")
		np := get(ns, "my-api-proxy", &networkingv1.NetworkPolicy{})
		Expect(np.Spec.Ingress).To(ContainElement(networkingv1.NetworkPolicyIngressRule{
			From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": operatorNamespace}}}},
			Ports: []networkingv1.NetworkPolicyPort{tcpPort(intstr.FromInt32(9090))},
		}))
		for _, rule := range np.Spec.Ingress {
			if rule.Ports[0].Port.IntValue() == 9090 {
				Expect(rule.From[0].NamespaceSelector.MatchLabels).To(HaveKeyWithValue("kubernetes.io/metadata.name", operatorNamespace),
					"only the operator's namespace reaches the admin port")
			}
		}

		By("reporting a CA bundle that does not hold the upstream's root")
		a := startReplica(bin, ns, "127.0.0.2", server.addr)
		proxyEndpoints(ns, a)
		v, up, ready := verified(t, metav1.ConditionFalse, v1alpha1.ReasonUnknownAuthority)
		Expect(v.Message).To(ContainSubstring("issued by CN=inter, which is not a trusted CA"))
		Expect(up.Status).To(Equal(metav1.ConditionFalse))
		Expect(up.Reason).To(Equal(v1alpha1.ReasonUnknownAuthority))
		Expect(ready.Reason).To(Equal(v1alpha1.ReasonUnknownAuthority))
		Expect(ready.Message).To(HavePrefix(`upstream "secure": `))
		Eventually(func() []string { return tenantEvents(ns) }).Should(ContainElement("Warning/" + v1alpha1.ReasonUnknownAuthority))
		Expect(server.hits.Load()).To(BeZero(), "verification sends no request")

		By("verifying once the CA ConfigMap holds the root and the kubelet has synced it")
		update(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "upstream-ca"}}, func(cm *corev1.ConfigMap) {
			cm.Data["ca.crt"] = string(chain.Root.CertPEM())
		})
		a.resync()
		v, up, _ = verified(t, metav1.ConditionTrue, v1alpha1.ReasonVerified)
		Expect(v.Message).To(ContainSubstring("verified by 1 proxy replica(s): the upstream presents CN=kong.example issued by CN=inter"))
		Expect(up.Reason).To(Equal(v1alpha1.ReasonReady))
		expectReady(t)
		Eventually(func() []string { return tenantEvents(ns) }).Should(ContainElement("Normal/" + v1alpha1.ReasonVerified))

		By("writing nothing while the result holds, though the replicas are read every second")
		settled := settledWrites()
		before := reconcilesOf(proxystate.ControllerName)
		Consistently(writes.Load, 4*time.Second, 200*time.Millisecond).Should(Equal(settled))
		Expect(reconcilesOf(proxystate.ControllerName)).To(BeNumerically(">=", before+2), "the replicas were read meanwhile")

		By("reporting a certificate with a common name and no subjectAltName, once confirmed")
		cnOnly := must(chain.Intermediate.NewLeaf("secure." + ns + ".svc"))
		server.serving.Store(serving(cnOnly))
		v, _, ready = verified(t, metav1.ConditionFalse, v1alpha1.ReasonHostnameMismatch)
		Expect(v.Message).To(ContainSubstring("presents CN=secure." + ns + ".svc and no subjectAltName; certificates must carry the name as a DNS SAN"))
		Expect(ready.Reason).To(Equal(v1alpha1.ReasonHostnameMismatch))
		server.serving.Store(serving(chain.Leaf))
		verified(t, metav1.ConditionTrue, v1alpha1.ReasonVerified)

		By("saying so when two replicas disagree")
		b := startReplica(bin, ns, "127.0.0.3", server.addr)
		Expect(os.WriteFile(b.caFile(), other.CertPEM(), 0o600)).To(Succeed()) // its files are stale
		proxyEndpoints(ns, a, b)
		v, _, _ = verified(t, metav1.ConditionFalse, v1alpha1.ReasonReplicasDisagree)
		Expect(v.Message).To(ContainSubstring("my-api-proxy-0: verified"))
		Expect(v.Message).To(ContainSubstring("my-api-proxy-1: UnknownAuthority: "))
		b.resync()
		v, _, _ = verified(t, metav1.ConditionTrue, v1alpha1.ReasonVerified)
		Expect(v.Message).To(ContainSubstring("verified by 2 proxy replica(s)"))

		By("judging a new configuration only by replicas that run it")
		rollOut := func(depth int32) {
			hash := get(ns, "my-api-proxy", &appsv1.Deployment{}).Spec.Template.Annotations["gatewaytenant.io/config-hash"]
			update(t, func(t *v1alpha1.GatewayTenant) { t.Spec.Upstreams[1].TLS.VerifyDepth = ptr.To(depth) })
			Eventually(func() string {
				return get(ns, "my-api-proxy", &appsv1.Deployment{}).Spec.Template.Annotations["gatewaytenant.io/config-hash"]
			}).ShouldNot(Equal(hash))
			verified(t, metav1.ConditionUnknown, v1alpha1.ReasonAwaitingProxyReport)
			a.restart(bin)
			b.restart(bin)
			becomeAvailable(ns)
		}
		rollOut(0)
		v, _, ready = verified(t, metav1.ConditionFalse, v1alpha1.ReasonChainTooDeep)
		Expect(v.Message).To(ContainSubstring("verifyDepth allows 0"))
		Expect(ready.Reason).To(Equal(v1alpha1.ReasonChainTooDeep))
		rollOut(1)
		verified(t, metav1.ConditionTrue, v1alpha1.ReasonVerified)
		expectReady(t)

		By("counting the ready endpoints of a plain upstream")
		serviceEndpoints(ns, "web", "10.0.0.1", "10.0.0.2")
		Eventually(func(g Gomega) {
			_, c := upstreamStatus(g, t, "web")
			g.Expect(c.Reason).To(Equal(v1alpha1.ReasonReady))
			g.Expect(c.Message).To(ContainSubstring("has 2 ready endpoint(s)"))
			g.Expect(condition(g, t, v1alpha1.ConditionReady).Message).To(Equal("all 2 upstreams are reachable from the gateway"))
		}).Should(Succeed())
		Expect(server.hits.Load()).To(BeZero(), "verification sends no request")
	})
})

// settledWrites waits until the manager's write counter stops moving, and returns it.
func settledWrites() int64 {
	GinkgoHelper()
	var settled int64
	Eventually(func() int64 {
		prev := settled
		settled = writes.Load()
		return settled - prev
	}).WithPolling(2 * time.Second).Should(BeZero())
	return settled
}

func must[T any](v T, err error) T {
	GinkgoHelper()
	Expect(err).NotTo(HaveOccurred())
	return v
}
