// Package signer plays a platform's certificate signer against the real API server: it issues
// the PodCertificateRequests addressed to its signer name (the kubelet's requests for pod
// certificates, see kubelet.PodCertificateRequests) with a CA of its own, and publishes that CA
// as a ClusterTrustBundle linked to its signer name, as signers do so that workloads can trust
// what it issues. Tests and the demo run it; no product code imports it.
package signer

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
)

// Signer issues the pod certificates of one signer name.
type Signer struct {
	// Name is the signer name, e.g. "platform.example/gateway-clients".
	Name string
	// CA signs the certificates.
	CA *pki.Cert
	// Client reads, watches and answers the requests; it needs the "sign" permission on the
	// signer name (an administrator has it).
	Client client.WithWatch

	mu       sync.Mutex
	lifetime time.Duration
}

// SetLifetime makes the certificates issued from now on live d, at most each request's
// maxExpirationSeconds (which is the default).
func (s *Signer) SetLifetime(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lifetime = d
}

// Run issues the signer's requests until ctx ends: those waiting when it starts, then each
// new one as it appears.
func (s *Signer) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		list := &certificatesv1.PodCertificateRequestList{}
		if err := s.Client.List(ctx, list); err != nil {
			return err
		}
		for i := range list.Items {
			if err := s.answer(ctx, &list.Items[i]); err != nil {
				return err
			}
		}
		w, err := s.Client.Watch(ctx, &certificatesv1.PodCertificateRequestList{}, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
		if err != nil {
			return err
		}
		if err := s.follow(ctx, w); err != nil {
			return err
		}
	}
	return nil
}

// follow answers what the watch brings until it ends.
func (s *Signer) follow(ctx context.Context, w watch.Interface) error {
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil // the watch timed out: list again
			}
			pcr, ok := ev.Object.(*certificatesv1.PodCertificateRequest)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			if err := s.answer(ctx, pcr); err != nil {
				return err
			}
		}
	}
}

// answer issues a request of the signer that is not answered yet.
func (s *Signer) answer(ctx context.Context, pcr *certificatesv1.PodCertificateRequest) error {
	if pcr.Spec.SignerName != s.Name || len(pcr.Status.Conditions) > 0 {
		return nil
	}
	csr, err := x509.ParseCertificateRequest(pcr.Spec.StubPKCS10Request)
	if err != nil {
		return fmt.Errorf("PodCertificateRequest %s/%s: %w", pcr.Namespace, pcr.Name, err)
	}
	lifetime := time.Duration(*pcr.Spec.MaxExpirationSeconds) * time.Second
	s.mu.Lock()
	if s.lifetime > 0 && s.lifetime < lifetime {
		lifetime = s.lifetime
	}
	s.mu.Unlock()
	// The API server wants notBefore within five minutes of its clock and, like the
	// certificate, to the second.
	notBefore := time.Now().Truncate(time.Second)
	notAfter := notBefore.Add(lifetime)
	id := &url.URL{Scheme: "spiffe", Host: "cluster.local", Path: fmt.Sprintf("/ns/%s/sa/%s", pcr.Namespace, pcr.Spec.ServiceAccountName)}
	leaf, err := s.CA.Certify(csr.PublicKey, pcr.Spec.PodName, pki.Validity(notBefore, notAfter), pki.URI(id.String()))
	if err != nil {
		return err
	}
	pcr.Status.CertificateChain = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}))
	pcr.Status.NotBefore = &metav1.Time{Time: notBefore}
	pcr.Status.NotAfter = &metav1.Time{Time: notAfter}
	pcr.Status.BeginRefreshAt = &metav1.Time{Time: notBefore.Add(lifetime / 2)}
	meta.SetStatusCondition(&pcr.Status.Conditions, metav1.Condition{
		Type: certificatesv1.PodCertificateRequestConditionTypeIssued, Status: metav1.ConditionTrue, Reason: "Issued",
		Message: "issued by the test signer " + s.Name,
	})
	if err := s.Client.Status().Update(ctx, pcr); err != nil {
		return fmt.Errorf("issuing PodCertificateRequest %s/%s: %w", pcr.Namespace, pcr.Name, err)
	}
	return nil
}

// TrustBundle is the ClusterTrustBundle that publishes the signer's CA: linked to the signer
// name, so named "<signer name with ':' for '/'>:<suffix>", with labels.
func (s *Signer) TrustBundle(suffix string, labels map[string]string) *certificatesv1.ClusterTrustBundle {
	return &certificatesv1.ClusterTrustBundle{
		ObjectMeta: metav1.ObjectMeta{Name: strings.ReplaceAll(s.Name, "/", ":") + ":" + suffix, Labels: labels},
		Spec:       certificatesv1.ClusterTrustBundleSpec{SignerName: s.Name, TrustBundle: string(s.CA.CertPEM())},
	}
}

// Start runs the signer in the background until ctx ends; the returned function waits for
// it and says how it ended (nil when ctx ended it).
func (s *Signer) Start(ctx context.Context) func() error {
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return func() error {
		err := <-done
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
}
