package demo

// Step 5: trust and identity from the cluster itself. The platform publishes the upstreams'
// root in a ClusterTrustBundle of its signer and runs a pod certificate signer; the tenant's
// TLS upstream trusts the one and presents the other, and its namespace holds no Secret.

import (
	"context"
	"fmt"
	"slices"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/kubelet"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/signer"
)

// The platform's signers in step 5.
const (
	// UpstreamsSigner publishes the root of the upstreams' certificates in a ClusterTrustBundle.
	UpstreamsSigner = "platform.example/upstreams"
	// ClientsSigner issues the proxy replicas' pod certificates.
	ClientsSigner = "platform.example/gateway-clients"
	// trustLabel labels the bundles tenants trust.
	trustLabel = "trust"
)

// TrustResult is what step 5 observed.
type TrustResult struct {
	// Tenant is the TLS tenant once its proxy, with the pod certificate, verified the upstream.
	Tenant   *v1alpha1.GatewayTenant
	Rendered *Rendered
	// Bundle is the ClusterTrustBundle the tenant trusts.
	Bundle *certificatesv1.ClusterTrustBundle
	// Status is the answer's status through the proxy; ClientSubject the client certificate
	// the upstream saw.
	Status        int
	ClientSubject string
	// Secrets counts the Secrets of the tenant's namespace.
	Secrets int
}

// ClusterTrust is step 5: the TLS tenant moves to a CA from a ClusterTrustBundle and a client
// identity from a pod certificate, and the upstream starts requiring that identity.
func (s *Story) ClusterTrust(ctx context.Context) (*TrustResult, error) {
	p := s.p()
	p.step("5. Trust and identity from the cluster: a ClusterTrustBundle and a pod certificate, no Secret")
	if s.Watch == nil {
		return nil, fmt.Errorf("step 5 needs a client that can watch, for the platform's signer")
	}
	clients, err := s.startSigner(ctx)
	if err != nil {
		return nil, err
	}
	p.line("the platform runs the signer %s: it issues the PodCertificateRequests the kubelet makes for pods", ClientsSigner)
	bundle := (&signer.Signer{Name: UpstreamsSigner, CA: s.tls.chain.Root}).TrustBundle("v1", map[string]string{trustLabel: "upstreams"})
	if err := s.create(ctx, bundle); err != nil {
		return nil, err
	}
	p.line("and publishes the upstreams' root %q in ClusterTrustBundle %s (signer %s, label %s=upstreams)",
		s.tls.chain.Root.Cert.Subject.CommonName, bundle.Name, UpstreamsSigner, trustLabel)
	s.tls.upstream.requireClients(clients.CA.Pool())
	p.line("the upstream now requires a client certificate issued by %q", clients.CA.Cert.Subject.CommonName)

	patch := `{"op":"replace","path":"/spec/upstreams/0/tls/validation/caCertificateRefs","value":[{"group":"certificates.k8s.io",` +
		`"kind":"ClusterTrustBundle","clusterTrustBundleSelector":{"signerName":"` + UpstreamsSigner + `","labelSelector":{"matchLabels":{"` +
		trustLabel + `":"upstreams"}}}}]},{"op":"add","path":"/spec/upstreams/0/tls/podCertificate","value":{"signerName":"` + ClientsSigner + `"}}`
	if err := s.patchTLS(ctx, patch, func(t *v1alpha1.UpstreamTLS) {
		t.Validation.CACertificateRefs = []v1alpha1.CACertificateReference{{Group: certificatesv1.GroupName, Kind: "ClusterTrustBundle",
			ClusterTrustBundleSelector: &v1alpha1.ClusterTrustBundleSelector{SignerName: UpstreamsSigner,
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{trustLabel: "upstreams"}}}}}
		t.PodCertificate = &v1alpha1.PodCertificateIdentity{SignerName: ClientsSigner}
	}); err != nil {
		return nil, err
	}
	// The kubelet asks the signer for the pod's certificate when it mounts the pod.
	s.tls.mount = []kubelet.Option{kubelet.WithPodCertificates(kubelet.PodCertificateRequests{Client: s.Client}),
		kubelet.WithPodName(podName(TLSTenant+"-proxy", s.tls.pods+1))}
	r, err := s.rendered(ctx, func(r *Rendered) bool {
		return slices.ContainsFunc(upstreamProjections(r), func(v corev1.VolumeProjection) bool { return v.PodCertificate != nil })
	})
	if err != nil {
		return nil, err
	}
	p.line("re-rendered: the pod projects the signer's ClusterTrustBundles and a pod certificate, and nothing of the namespace:")
	sources, err := yaml.Marshal(upstreamProjections(r))
	if err != nil {
		return nil, err
	}
	p.block(string(sources))
	s.showRoll(r)
	return s.trusted(ctx, r, bundle)
}

// trusted rolls the proxy out, sends a request through it, and shows what the tenant and the
// namespace hold.
func (s *Story) trusted(ctx context.Context, r *Rendered, bundle *certificatesv1.ClusterTrustBundle) (*TrustResult, error) {
	p := s.p()
	res := &TrustResult{Rendered: r, Bundle: bundle}
	pcrs := &certificatesv1.PodCertificateRequestList{}
	if err := s.Client.List(ctx, pcrs, client.InNamespace(Namespace)); err != nil {
		return res, err
	}
	for _, pcr := range pcrs.Items {
		p.line("PodCertificateRequest %s: pod %s, signer %s, issued until %s", pcr.Name, pcr.Spec.PodName, pcr.Spec.SignerName, pcr.Status.NotAfter)
	}
	if _, err := s.rollOut(ctx, r); err != nil {
		return res, err
	}
	resp, err := s.request(ctx, "demo-pod-certificate")
	if err != nil {
		return res, err
	}
	res.Status, res.ClientSubject = resp.Status, s.tls.upstream.lastClient()
	p.line("the upstream saw the client certificate %s", res.ClientSubject)
	if _, err := s.proxyAvailable(ctx, r); err != nil {
		return res, err
	}
	if res.Tenant, err = s.verified(ctx, metav1.ConditionTrue, v1alpha1.ReasonVerified); err != nil {
		return res, err
	}
	p.tenantStatus(res.Tenant)
	secrets := &corev1.SecretList{}
	if err := s.Client.List(ctx, secrets, client.InNamespace(Namespace)); err != nil {
		return res, err
	}
	res.Secrets = len(secrets.Items)
	p.line("$ kubectl -n %s get secrets   # %d: the CA is the cluster's, the key never left the pod", Namespace, res.Secrets)
	switch {
	case res.Status != 200:
		return res, fmt.Errorf("the proxy answered %d, not 200: %s", res.Status, resp.Body)
	case !meta.IsStatusConditionTrue(res.Tenant.Status.Conditions, v1alpha1.ConditionReady):
		return res, fmt.Errorf("GatewayTenant %s is not Ready with its pod certificate", TLSTenant)
	case res.Secrets != 0:
		return res, fmt.Errorf("the namespace holds %d Secrets", res.Secrets)
	}
	return res, nil
}

// startSigner runs the platform's pod certificate signer until the story closes.
func (s *Story) startSigner(ctx context.Context) (*signer.Signer, error) {
	ca, err := pki.NewRoot("platform gateway clients")
	if err != nil {
		return nil, err
	}
	sg := &signer.Signer{Name: ClientsSigner, CA: ca, Client: s.Watch}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	wait := sg.Start(runCtx)
	s.tls.stopSigner = func() error {
		cancel()
		return wait()
	}
	return sg, nil
}

// upstreamProjections are the projected sources of the rendered pod's volumes.
func upstreamProjections(r *Rendered) []corev1.VolumeProjection {
	var out []corev1.VolumeProjection
	for _, v := range r.Deployment.Spec.Template.Spec.Volumes {
		if v.Projected != nil {
			out = append(out, v.Projected.Sources...)
		}
	}
	return out
}
