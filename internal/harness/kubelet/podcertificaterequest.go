package kubelet

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// defaultMaxExpirationSeconds is what the API server sets when a projection names none.
const defaultMaxExpirationSeconds = 86400

// PodCertificateRequests asks for pod certificates the way the kubelet does: one
// PodCertificateRequest per key, with a stub PKCS#10 request signed by the key, answered by
// the signer in the request's status (a signer of the test's, such as harness/signer, runs
// against the same API server).
type PodCertificateRequests struct {
	Client client.Client
	// Timeout bounds the wait for the signer's answer; default one minute.
	Timeout time.Duration
}

// Issue creates the request and waits until its signer issues, denies or fails it.
func (r PodCertificateRequests) Issue(ctx context.Context, req CertificateRequest) ([]byte, error) {
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, req.Key)
	if err != nil {
		return nil, fmt.Errorf("making the stub certificate request: %w", err)
	}
	saUID := uuid.NewUUID()
	sa := &corev1.ServiceAccount{}
	switch err := r.Client.Get(ctx, client.ObjectKey{Namespace: req.Pod.Namespace, Name: req.Pod.ServiceAccountName}, sa); {
	case err == nil:
		saUID = sa.UID
	case !apierrors.IsNotFound(err):
		return nil, err
	}
	pcr := &certificatesv1.PodCertificateRequest{
		ObjectMeta: metav1.ObjectMeta{Namespace: req.Pod.Namespace, GenerateName: req.Pod.Name + "-"},
		Spec: certificatesv1.PodCertificateRequestSpec{
			SignerName:                req.Projection.SignerName,
			PodName:                   req.Pod.Name,
			PodUID:                    req.Pod.UID,
			ServiceAccountName:        req.Pod.ServiceAccountName,
			ServiceAccountUID:         saUID,
			NodeName:                  types.NodeName(req.Pod.NodeName),
			NodeUID:                   req.Pod.NodeUID,
			MaxExpirationSeconds:      ptr.To(ptr.Deref(req.Projection.MaxExpirationSeconds, defaultMaxExpirationSeconds)),
			StubPKCS10Request:         csr,
			UnverifiedUserAnnotations: req.Projection.UserAnnotations,
		},
	}
	if err := r.Client.Create(ctx, pcr); err != nil {
		return nil, fmt.Errorf("creating the PodCertificateRequest: %w", err)
	}
	timeout := r.Timeout
	if timeout == 0 {
		timeout = time.Minute
	}
	var chain []byte
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if err := r.Client.Get(ctx, client.ObjectKeyFromObject(pcr), pcr); err != nil {
			return false, err
		}
		for _, typ := range []string{certificatesv1.PodCertificateRequestConditionTypeDenied, certificatesv1.PodCertificateRequestConditionTypeFailed} {
			if c := meta.FindStatusCondition(pcr.Status.Conditions, typ); c != nil {
				return false, fmt.Errorf("PodCertificateRequest %s: %s: %s: %s", pcr.Name, typ, c.Reason, c.Message)
			}
		}
		chain = []byte(pcr.Status.CertificateChain)
		return meta.IsStatusConditionTrue(pcr.Status.Conditions, certificatesv1.PodCertificateRequestConditionTypeIssued), nil
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for signer %s to issue PodCertificateRequest %s/%s: %w", req.Projection.SignerName, pcr.Namespace, pcr.Name, err)
	}
	return chain, nil
}
