package gatewaytenant_test

import (
	"context"
	"os"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/kubelet"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/proxyrun"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/signer"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/manager"
)

// mountedPod is a proxy pod of a Deployment mounted as the kubelet would start it.
type mountedPod struct{ *proxyrun.Pod }

func mountPod(ns string, dep *appsv1.Deployment, opts ...kubelet.Option) mountedPod {
	GinkgoHelper()
	pod, err := proxyrun.MountPod(ctx, k8sClient, ns, &dep.Spec.Template.Spec, GinkgoT().TempDir(), opts...)
	Expect(err).NotTo(HaveOccurred())
	return mountedPod{pod}
}

// read is the content of a file the pod's container sees at inPod.
func (p mountedPod) read(inPod string) string {
	GinkgoHelper()
	local, ok := p.HostPath(inPod)
	Expect(ok).To(BeTrue(), "%s is in none of the container's volumes", inPod)
	data, err := os.ReadFile(local)
	Expect(err).NotTo(HaveOccurred())
	return string(data)
}

// startSigner runs a pod certificate signer of name with a CA of its own until the spec ends.
func startSigner(name string) *signer.Signer {
	GinkgoHelper()
	c, err := client.NewWithWatch(env.Config, client.Options{Scheme: manager.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	s := &signer.Signer{Name: name, CA: must(pki.NewRoot(name + " CA")), Client: c}
	runCtx, cancel := context.WithCancel(ctx)
	wait := s.Start(runCtx)
	DeferCleanup(func() {
		cancel()
		Expect(wait()).To(Succeed())
	})
	return s
}

// podCertificateUpstream is upstream "secure" trusting the ClusterTrustBundles of signer
// trusted, presenting a pod certificate of signer clients.
func podCertificateUpstream(ns, trusted, clients string) v1alpha1.Upstream {
	u := trustingOnly(ns, "secure", signerRef(trusted, nil))
	u.TLS.PodCertificate = &v1alpha1.PodCertificateIdentity{SignerName: v1alpha1.SignerName(clients)}
	return u
}

var _ = Describe("Pod certificates as the proxy's identity", Ordered, func() {
	var bin string
	BeforeAll(func() {
		var err error
		bin, err = proxyrun.Build(ctx, GinkgoT().TempDir())
		Expect(err).NotTo(HaveOccurred())
	})

	It("give each replica a certificate of its own from the signer, reported in status and renewed without a rollout", func() {
		ns := newNamespace()
		newService(ns, "secure")
		clients := startSigner(ns + ".example/gateway-clients")
		upstreams := &signer.Signer{Name: ns + ".example/upstreams", CA: must(pki.NewRoot("platform upstreams"))}
		Expect(k8sClient.Create(ctx, upstreams.TrustBundle("v1", nil))).To(Succeed())
		leaf := must(upstreams.CA.NewLeaf("secure."+ns+".svc", pki.DNS("secure."+ns+".svc")))
		server := startTLSServer(requiringClients(leaf, clients.CA))
		t := newTenant(ns, []v1alpha1.Upstream{podCertificateUpstream(ns, upstreams.Name, clients.Name)})
		becomeAvailable(ns)

		By("saying Unknown until a replica reports the certificate it holds")
		Eventually(func(g Gomega) {
			c := condition(g, t, v1alpha1.ConditionReady)
			g.Expect(c.Status).To(Equal(metav1.ConditionUnknown), c.Message)
			g.Expect(c.Message).To(ContainSubstring(`podCertificate of signer "` + clients.Name + `"`))
		}).Should(Succeed())
		dep := get(ns, "my-api-proxy", &appsv1.Deployment{})
		Expect(projections(dep)).To(ContainElement(corev1.VolumeProjection{PodCertificate: &corev1.PodCertificateProjection{
			SignerName: clients.Name, KeyType: "ECDSAP256", CredentialBundlePath: "client/credential-bundle.pem"}}))

		By("two replicas, each with its own certificate from the kubelet's PodCertificateRequests")
		issuer := kubelet.WithPodCertificates(kubelet.PodCertificateRequests{Client: k8sClient})
		a := startReplica(bin, ns, "127.0.0.2", server.addr, issuer, kubelet.WithPodName("my-api-proxy-0"))
		b := startReplica(bin, ns, "127.0.0.3", server.addr, issuer, kubelet.WithPodName("my-api-proxy-1"))
		proxyEndpoints(ns, a, b)
		verified(t, metav1.ConditionTrue, v1alpha1.ReasonVerified)
		expectReady(t)
		var first metav1.Time
		Eventually(func(g Gomega) {
			us, _ := upstreamStatus(g, t, "secure")
			cc := us.ClientCertificate
			g.Expect(cc).NotTo(BeNil())
			g.Expect(cc.SignerName).To(Equal(clients.Name))
			g.Expect(cc.Replicas).To(HaveLen(2))
			for i, r := range cc.Replicas {
				g.Expect(r.Pod).To(Equal([]string{"my-api-proxy-0", "my-api-proxy-1"}[i]))
				g.Expect(r.Subject).To(Equal("CN=" + r.Pod))
				g.Expect(r.Issuer).To(Equal("CN=" + clients.Name + " CA"))
			}
			first = *cc.Replicas[0].NotAfter
		}).Should(Succeed())

		By("the kubelet renewing one replica's certificate: status follows, the proxy does not roll")
		generation := get(ns, "my-api-proxy", &appsv1.Deployment{}).Generation
		clients.SetLifetime(12 * time.Hour)
		a.rotate()
		Eventually(func(g Gomega) {
			us, _ := upstreamStatus(g, t, "secure")
			g.Expect(us.ClientCertificate.Replicas[0].NotAfter.Time).To(BeTemporally("<", first.Add(-11*time.Hour)))
		}).Should(Succeed())
		verified(t, metav1.ConditionTrue, v1alpha1.ReasonVerified)
		Expect(get(ns, "my-api-proxy", &appsv1.Deployment{}).Generation).To(Equal(generation))
		Expect(recordedSecretRequests()).To(BeEmpty())
	})
})

var _ = Describe("The proxy pod with trust bundles and pod certificates", func() {
	It("is admitted by restricted Pod Security as it stands", func() {
		ns := newNamespace()
		newService(ns, "secure")
		signerName := ns + ".example/upstreams"
		bundle := trustBundle(strings.ReplaceAll(signerName, "/", ":")+":v1", nil, must(pki.NewRoot("platform upstreams")))
		u := podCertificateUpstream(ns, signerName, ns+".example/gateway-clients")
		u.TLS.Validation.CACertificateRefs = append(u.TLS.Validation.CACertificateRefs, bundleRef(bundle.Name),
			v1alpha1.CACertificateReference{Kind: "Secret", Name: "more-ca"})
		u.TLS.PodCertificate.MaxExpirationSeconds = ptr.To[int32](3600)
		newTenant(ns, []v1alpha1.Upstream{u})
		dep := get(ns, "my-api-proxy", &appsv1.Deployment{})
		var kinds []string
		for _, p := range projections(dep) {
			switch {
			case p.ClusterTrustBundle != nil:
				kinds = append(kinds, "clusterTrustBundle")
			case p.PodCertificate != nil:
				kinds = append(kinds, "podCertificate")
			case p.Secret != nil:
				kinds = append(kinds, "secret")
			}
		}
		Expect(strings.Join(kinds, " ")).To(Equal("clusterTrustBundle clusterTrustBundle secret podCertificate"))
		expectRestrictedAdmits(dep)
	})
})
