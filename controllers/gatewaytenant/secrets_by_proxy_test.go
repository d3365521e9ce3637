package gatewaytenant_test

import (
	"crypto/tls"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/proxyrun"
)

// requiringClients serves c to clients holding a certificate of clientCA only.
func requiringClients(c, clientCA *pki.Cert) *tls.Config {
	cfg := serving(c)
	cfg.ClientAuth, cfg.ClientCAs = tls.RequireAndVerifyClientCert, clientCA.Pool()
	return cfg
}

// replaceSecret deletes Secret name of ns, if it exists, and creates it with typ and data
// (the type of a Secret cannot change).
func replaceSecret(ns, name string, typ corev1.SecretType, data map[string][]byte) {
	GinkgoHelper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, s))).To(Succeed())
	if data != nil {
		s.Type, s.Data = typ, data
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
	}
}

var _ = Describe("Secrets, checked by the proxy replicas that mount them", Ordered, func() {
	var bin string
	BeforeAll(func() {
		var err error
		bin, err = proxyrun.Build(ctx, GinkgoT().TempDir())
		Expect(err).NotTo(HaveOccurred())
	})

	// Every problem of a Secret, with the shipped RBAC: test/rbac. Here, how they show in the
	// tenant's conditions.
	It("reach the tenant's status with the reasons the operator gave when it read them, and the operator reads none", func() {
		ns := newNamespace()
		newService(ns, "secure")
		chain := certificates(ns)
		leaf := must(chain.Intermediate.NewLeaf("secure."+ns+".svc", pki.DNS("secure."+ns+".svc")))
		clientCA := must(pki.NewRoot("client CA"))
		server := startTLSServer(requiringClients(leaf, clientCA))
		extraCA := must(pki.NewRoot("extra root"))
		replaceSecret(ns, "more-ca", corev1.SecretTypeOpaque, map[string][]byte{"ca.crt": extraCA.CertPEM()})
		gateway := clientSecret(ns, clientCA)
		u := tlsUpstream(ns, "secure")
		u.TLS.Validation.CACertificateRefs = append(u.TLS.Validation.CACertificateRefs, v1alpha1.CACertificateReference{Kind: "Secret", Name: "more-ca"})
		u.TLS.ClientCertificateRef = &v1alpha1.SecretReference{Name: "client-cert"}
		t := newTenant(ns, []v1alpha1.Upstream{u})
		becomeAvailable(ns)

		By("saying Unknown, not Ready, until a replica has reported on the Secrets")
		Eventually(func(g Gomega) {
			for _, typ := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionResolvedRefs} {
				c := condition(g, t, typ)
				g.Expect(c.Status).To(Equal(metav1.ConditionUnknown), "%s: %s", typ, c.Message)
				g.Expect(c.Reason).To(Equal(v1alpha1.ReasonAwaitingProxyReport))
			}
		}).Should(Succeed())

		By("Ready once a replica has loaded them and verified the upstream with them")
		a := startReplica(bin, ns, "127.0.0.2", server.addr)
		proxyEndpoints(ns, a)
		verified(t, metav1.ConditionTrue, v1alpha1.ReasonVerified)
		expectReady(t)
		Eventually(func(g Gomega) {
			us, _ := upstreamStatus(g, t, "secure")
			g.Expect(us.ClientCertificate).NotTo(BeNil())
			g.Expect(us.ClientCertificate.SecretName).To(Equal("client-cert"))
			g.Expect(us.ClientCertificate.Replicas).To(HaveLen(1))
			g.Expect(us.ClientCertificate.Replicas[0].Pod).To(Equal("my-api-proxy-0"))
			g.Expect(us.ClientCertificate.Replicas[0].Subject).To(Equal("CN=gateway"))
			g.Expect(us.ClientCertificate.Replicas[0].NotAfter.Time).To(BeTemporally("==", gateway.Cert.NotAfter))
		}).Should(Succeed())

		other := must(clientCA.NewLeaf("other", pki.ClientAuth()))
		soon := must(clientCA.NewLeaf("gateway", pki.ClientAuth(), pki.Validity(time.Now().Add(-time.Hour), time.Now().Add(expiryWarning/2))))
		tlsSecret := func(crt, key []byte) map[string][]byte { return map[string][]byte{"tls.crt": crt, "tls.key": key} }
		restore := func() {
			replaceSecret(ns, "client-cert", corev1.SecretTypeTLS, tlsSecret(gateway.CertPEM(), gateway.KeyPEM()))
			replaceSecret(ns, "more-ca", corev1.SecretTypeOpaque, map[string][]byte{"ca.crt": extraCA.CertPEM()})
		}
		for _, c := range []struct {
			what              string
			break_            func()
			status            metav1.ConditionStatus
			reason, message   string
			resolvedRefsFalse bool
		}{
			{"the client certificate Secret missing", func() { replaceSecret(ns, "client-cert", "", nil) }, metav1.ConditionFalse,
				v1alpha1.ReasonInvalidClientCertificate, `clientCertificateRef: Secret "client-cert" not found, or it holds neither "tls.crt" nor "tls.key"`, true},
			{"a client certificate with another's key", func() {
				replaceSecret(ns, "client-cert", corev1.SecretTypeTLS, tlsSecret(gateway.CertPEM(), other.KeyPEM()))
			}, metav1.ConditionFalse, v1alpha1.ReasonInvalidClientCertificate, "private key does not match public key", true},
			{"a client certificate expiring soon: a warning", func() {
				replaceSecret(ns, "client-cert", corev1.SecretTypeTLS, tlsSecret(soon.CertPEM(), soon.KeyPEM()))
			}, metav1.ConditionTrue, v1alpha1.ReasonCertificateExpiringSoon, `clientCertificateRef: Secret "client-cert": certificate "gateway" expires at`, false},
			{"a CA Secret holding the upstream's own certificate", func() {
				replaceSecret(ns, "more-ca", corev1.SecretTypeOpaque, map[string][]byte{"ca.crt": leaf.CertPEM()})
			}, metav1.ConditionFalse, v1alpha1.ReasonInvalidCACertificateRef, `caCertificateRefs[1]: Secret "more-ca": certificate "secure.` + ns + `.svc" is not a CA certificate`, true},
		} {
			By(c.what)
			c.break_()
			a.resync()
			upstreamReason(t, c.status, c.reason, c.message)
			Eventually(func(g Gomega) {
				refs := condition(g, t, v1alpha1.ConditionResolvedRefs)
				g.Expect(refs.Status == metav1.ConditionFalse).To(Equal(c.resolvedRefsFalse), refs.Message)
				ready := condition(g, t, v1alpha1.ConditionReady)
				g.Expect(ready.Status).To(Equal(c.status), ready.Message)
			}).Should(Succeed())
			restore()
			a.resync()
			verified(t, metav1.ConditionTrue, v1alpha1.ReasonVerified)
			expectReady(t)
		}
		Expect(recordedSecretRequests()).To(BeEmpty(), "the manager asked the API server for Secrets")
	})
})
