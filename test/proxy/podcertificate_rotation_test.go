package e2e

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/kubelet"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
	"github.com/gatewaytenant/gatewaytenant-operator/test/proxy/testutil"
)

// clientSigner plays a pod certificate signer for the kubelet harness: it certifies the key
// the kubelet made, naming the certificate pod-<n>; once broken, it certifies another key,
// so that the kubelet writes a bundle whose chain does not match its key.
type clientSigner struct {
	ca     *pki.Cert
	issued atomic.Int64
	broken atomic.Bool
}

func (s *clientSigner) Issue(_ context.Context, req kubelet.CertificateRequest) ([]byte, error) {
	pub := req.Key.Public()
	if s.broken.Load() {
		other, err := kubelet.GenerateKey(req.Projection.KeyType)
		if err != nil {
			return nil, err
		}
		pub = other.Public()
	}
	leaf, err := s.ca.Certify(pub, fmt.Sprintf("pod-%d", s.issued.Add(1)), pki.Validity(time.Now().Add(-time.Minute), time.Now().Add(24*time.Hour)))
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}), nil
}

// TestPodCertificateRotationThroughKubeletVolume: the proxy's client identity is a pod
// certificate, laid out as the kubelet lays out a projected podCertificate source (one
// credential bundle, key then chain, swapped atomically through "..data"). The kubelet rotates
// it three times under a steady request loop to an upstream that requires client
// certificates and sees each new one: not one request fails. Then the signer answers with a
// certificate for another key: the proxy keeps the identity it had, keeps serving, and its
// state report says key_mismatch while it holds pod-3.
func TestPodCertificateRotationThroughKubeletVolume(t *testing.T) {
	clientCA := must[*pki.Cert](t)(pki.NewRoot("platform clients"))
	chain := must[*pki.Chain](t)(pki.NewChain())
	up := startRotatingUpstream(t, chain, clientCA)
	signer := &clientSigner{ca: clientCA}

	spec := &corev1.PodSpec{
		Containers: []corev1.Container{{Name: "proxy", VolumeMounts: []corev1.VolumeMount{{Name: "up-0", MountPath: "/etc/gatewaytenant/upstreams/api"}}}},
		Volumes: []corev1.Volume{{Name: "up-0", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{PodCertificate: &corev1.PodCertificateProjection{SignerName: "platform.example/gateway-clients", KeyType: "ECDSAP256",
				CredentialBundlePath: "client/credential-bundle.pem"}},
		}}}}},
	}
	ctx := context.Background()
	pod, _, err := kubelet.Mount(ctx, nil, "ns", spec, "", t.TempDir(), kubelet.WithPodCertificates(signer))
	if err != nil {
		t.Fatal(err)
	}
	bundle, _ := pod.HostPath("/etc/gatewaytenant/upstreams/api/client/credential-bundle.pem")
	caFile := must[string](t)(pki.WriteFile(t.TempDir(), "ca.crt", chain.Root.CertPEM()))
	config := filepath.Join(t.TempDir(), "proxy.yaml")
	if err := os.WriteFile(config, []byte(configYAML("0s", upstreamYAML("api", up.addr, caFile,
		fmt.Sprintf("clientCertificate: {credentialBundleFile: %q}", bundle)))), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startDebugProxy(t, config)
	if _, err := p.WaitReady(ctx, time.Minute, "api"); err != nil {
		t.Fatal(err)
	}
	load := testutil.StartLoad(t, p.URL("api", "/"), 4)
	served := func(what string, cond func() bool) {
		t.Helper()
		mark, ok := up.handshakes.Load(), load.OK()
		testutil.Eventually(t, what, func() bool { return cond() && up.handshakes.Load() > mark+10 && load.OK() > ok+10 })
	}
	served("requests with the first pod certificate", func() bool { return up.sawClient("pod-1") })
	for i := 2; i <= 4; i++ {
		if _, err := pod.RotatePodCertificates(ctx); err != nil {
			t.Fatal(err)
		}
		served(fmt.Sprintf("the upstream to see rotated pod certificate pod-%d", i), func() bool { return up.sawClient(fmt.Sprintf("pod-%d", i)) })
	}

	signer.broken.Store(true)
	if _, err := pod.RotatePodCertificates(ctx); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	var material contract.MaterialState
	testutil.Eventually(t, "the state report to say key_mismatch", func() bool {
		rep, err := contract.FetchState(ctx, client, p.Addr(contract.AdminListener))
		if err != nil {
			return false
		}
		material = rep.Upstreams[0].Material[1]
		return material.Problem == contract.MaterialKeyMismatch
	})
	if material.Field != "clientCertificate.credentialBundleFile" || material.Loaded == nil || material.Loaded.Subject != "CN=pod-4" {
		t.Fatalf("after a broken bundle the report says %+v; want the identity pod-4 kept", material)
	}
	served("requests with the kept identity after a broken bundle", func() bool { return up.sawClient("pod-4") })
	load.Finish(t)
	if broken := must[[]byte](t)(os.ReadFile(bundle)); parses(broken) {
		t.Fatal("the bundle the kubelet wrote last parses: the test did not break it")
	}
	t.Logf("%d requests, none failed, over 3 pod certificate rotations and a broken bundle", load.OK())
}

// parses says whether a credential bundle loads.
func parses(bundle []byte) bool {
	_, chain, err := contract.ParseCredentialBundle(bundle)
	return err == nil && len(chain) > 0 && chain[0].PublicKeyAlgorithm != x509.UnknownPublicKeyAlgorithm
}
