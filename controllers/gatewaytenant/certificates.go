package gatewaytenant

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/metrics"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// Keys of the objects certificates are read from.
const (
	caCertKey = "ca.crt"
	// The OpenShift service CA: a ConfigMap in every namespace, injected by the service CA
	// operator.
	serviceCAConfigMap = "openshift-service-ca.crt"
	serviceCAKey       = "service-ca.crt"
)

// certCheck is the verdict on the certificates of one TLS upstream.
type certCheck struct {
	// reason is empty when every reference resolved to usable material; a ReasonXxx
	// otherwise, with message saying which reference and why.
	reason  string
	message string
	// expiring, when set, is a warning: the soonest certificate expires within the warning
	// window. notAfter is the soonest expiry of all material, zero when there is none.
	expiring string
	notAfter time.Time
	// refs are the soonest expiry of each usable reference, for the manager's metrics.
	refs []metrics.CertificateRef
}

// certSource reads the objects a tenant's certificate references name. Implementations read
// the API server directly: Secret contents are never cached.
type certSource interface {
	Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error
}

// checkCertificates resolves and checks the CA references and client certificate of a TLS
// upstream at time now. An error is returned only for API failures, never for bad input.
func checkCertificates(ctx context.Context, src certSource, namespace string, u v1alpha1.Upstream, now time.Time, warnWithin time.Duration) (certCheck, error) {
	var res certCheck
	var certs []*x509.Certificate
	invalid := 0
	refs := u.TLS.Validation.CACertificateRefs
	for _, ref := range refs {
		got, err := memoized(ctx, src, caRefKind(ref), namespace, string(ref.Name), "ca", func(src certSource) (parsedObject, error) {
			certs, reason, msg, err := readCARef(ctx, src, namespace, ref)
			return parsedObject{certs, reason, msg}, err
		})
		if err != nil {
			return res, err
		}
		if got.reason != "" {
			invalid++
			if res.reason == "" {
				res.reason, res.message = got.reason, fmt.Sprintf("upstream %q: %s", u.Name, got.msg)
			}
			continue
		}
		certs = append(certs, got.certs...)
		if len(got.certs) > 0 {
			res.refs = append(res.refs, metrics.CertificateRef{Upstream: u.Name, Kind: metrics.KindCA,
				Ref: caRefKind(ref) + "/" + string(ref.Name), NotAfter: contract.EarliestNotAfter(got.certs)})
		}
	}
	if wk := u.TLS.Validation.WellKnownCACertificates; wk != nil {
		kind := "" // nothing to read
		if *wk == v1alpha1.WellKnownCAOpenShiftServiceCA {
			kind = "ConfigMap"
		}
		got, err := memoized(ctx, src, kind, namespace, serviceCAConfigMap, "service-ca", func(src certSource) (parsedObject, error) {
			certs, reason, msg, err := checkWellKnownCA(ctx, src, namespace, *wk)
			return parsedObject{certs, reason, msg}, err
		})
		if err != nil {
			return res, err
		}
		if got.reason != "" {
			res.reason, res.message = got.reason, fmt.Sprintf("upstream %q: %s", u.Name, got.msg)
		}
		certs = append(certs, got.certs...)
	}
	if len(refs) > 1 && invalid == len(refs) {
		res.reason = v1alpha1.ReasonNoValidCACertificate
		res.message += fmt.Sprintf("; none of the %d CA certificate references is usable", len(refs))
	}
	if res.reason != "" {
		return res, nil
	}
	if ref := u.TLS.ClientCertificateRef; ref != nil {
		got, err := memoized(ctx, src, "Secret", namespace, ref.Name, "client", func(src certSource) (parsedObject, error) {
			chain, msg, err := readClientCertificate(ctx, src, namespace, ref.Name)
			return parsedObject{certs: chain, msg: msg}, err
		})
		if err != nil {
			return res, err
		}
		if got.msg != "" {
			res.reason, res.message = v1alpha1.ReasonInvalidClientCertificate, fmt.Sprintf("upstream %q: %s", u.Name, got.msg)
			return res, nil
		}
		certs = append(certs, got.certs...)
		if len(got.certs) > 0 {
			res.refs = append(res.refs, metrics.CertificateRef{Upstream: u.Name, Kind: metrics.KindClient,
				Ref: "Secret/" + ref.Name, NotAfter: contract.EarliestNotAfter(got.certs)})
		}
	}
	return checkExpiry(res, u.Name, certs, now, warnWithin), nil
}

// checkExpiry fails on the first expired or not yet valid certificate and warns on the soonest
// expiring one.
func checkExpiry(res certCheck, upstream string, certs []*x509.Certificate, now time.Time, warnWithin time.Duration) certCheck {
	for _, c := range certs {
		switch {
		case now.After(c.NotAfter):
			res.reason = v1alpha1.ReasonCertificateExpired
			res.message = fmt.Sprintf("upstream %q: certificate %q expired at %s; replace it", upstream, c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339))
			return res
		case now.Before(c.NotBefore):
			res.reason = v1alpha1.ReasonCertificateExpired
			res.message = fmt.Sprintf("upstream %q: certificate %q is not valid before %s", upstream, c.Subject.CommonName, c.NotBefore.UTC().Format(time.RFC3339))
			return res
		}
		if res.notAfter.IsZero() || c.NotAfter.Before(res.notAfter) {
			res.notAfter = c.NotAfter
			if c.NotAfter.Sub(now) < warnWithin {
				res.expiring = fmt.Sprintf("upstream %q: certificate %q expires at %s; renew it", upstream, c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339))
			}
		}
	}
	return res
}

// readCARef reads the certificates of one CA reference. A non-empty reason says why the
// reference is unusable.
func readCARef(ctx context.Context, src certSource, namespace string, ref v1alpha1.CACertificateReference) (certs []*x509.Certificate, reason, msg string, err error) {
	kind := caRefKind(ref)
	if ref.Group != "" || (kind != "ConfigMap" && kind != "Secret") {
		return nil, v1alpha1.ReasonInvalidKind,
			fmt.Sprintf("caCertificateRefs: kind %q of group %q is not supported; use ConfigMap or Secret of the core group", kind, ref.Group), nil
	}
	key := types.NamespacedName{Namespace: namespace, Name: string(ref.Name)}
	var data []byte
	var found bool
	if kind == "ConfigMap" {
		cm := &corev1.ConfigMap{}
		err = src.Get(ctx, key, cm)
		if v, ok := cm.Data[caCertKey]; ok {
			data, found = []byte(v), true
		} else if v, ok := cm.BinaryData[caCertKey]; ok {
			data, found = v, true
		}
	} else {
		s := &corev1.Secret{}
		err = src.Get(ctx, key, s)
		data, found = s.Data[caCertKey]
	}
	switch {
	case apierrors.IsNotFound(err):
		return nil, v1alpha1.ReasonInvalidCACertificateRef, fmt.Sprintf("%s %q not found", kind, ref.Name), nil
	case err != nil:
		return nil, "", "", fmt.Errorf("reading %s %s: %w", kind, key, err)
	case !found:
		return nil, v1alpha1.ReasonInvalidCACertificateRef, fmt.Sprintf("%s %q has no key %q", kind, ref.Name, caCertKey), nil
	}
	certs, perr := contract.ParseCertificates(data)
	if perr != nil {
		return nil, v1alpha1.ReasonInvalidCACertificateRef, fmt.Sprintf("%s %q key %q: %v", kind, ref.Name, caCertKey, perr), nil
	}
	for _, c := range certs {
		if !c.BasicConstraintsValid || !c.IsCA {
			return nil, v1alpha1.ReasonInvalidCACertificateRef, fmt.Sprintf("%s %q key %q: certificate %q is not a CA certificate (its basicConstraints do not say CA:TRUE); "+
				"give the CA that signed the upstream's certificate, not the upstream's own certificate", kind, ref.Name, caCertKey, c.Subject.CommonName), nil
		}
	}
	return certs, "", "", nil
}

// caRefKind is the kind of a CA reference, ConfigMap when unset.
func caRefKind(ref v1alpha1.CACertificateReference) string {
	if ref.Kind == "" {
		return "ConfigMap"
	}
	return string(ref.Kind)
}

// readClientCertificate reads a kubernetes.io/tls Secret and checks that its certificate
// matches its key. A non-empty msg says why it is unusable.
func readClientCertificate(ctx context.Context, src certSource, namespace, name string) ([]*x509.Certificate, string, error) {
	s := &corev1.Secret{}
	err := src.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, s)
	switch {
	case apierrors.IsNotFound(err):
		return nil, fmt.Sprintf("clientCertificateRef: Secret %q not found", name), nil
	case err != nil:
		return nil, "", fmt.Errorf("reading Secret %s/%s: %w", namespace, name, err)
	case s.Type != corev1.SecretTypeTLS:
		return nil, fmt.Sprintf("clientCertificateRef: Secret %q has type %q; it must be %q (kubectl create secret tls)", name, s.Type, corev1.SecretTypeTLS), nil
	}
	_, chain, err := contract.ParseClientCertificate(s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		return nil, fmt.Sprintf("clientCertificateRef: Secret %q: %v", name, err), nil
	}
	return chain, "", nil
}

// checkWellKnownCA checks a well-known trust bundle: System needs nothing; the OpenShift
// service CA must be in the namespace.
func checkWellKnownCA(ctx context.Context, src certSource, namespace string, wk gwapiv1.WellKnownCACertificatesType) (certs []*x509.Certificate, reason, msg string, err error) {
	switch wk {
	case gwapiv1.WellKnownCACertificatesSystem:
		return nil, "", "", nil
	case v1alpha1.WellKnownCAOpenShiftServiceCA:
	default:
		return nil, v1alpha1.ReasonUnsupportedWellKnownCA, fmt.Sprintf("wellKnownCACertificates %q is not supported; use %q or %q",
			wk, gwapiv1.WellKnownCACertificatesSystem, v1alpha1.WellKnownCAOpenShiftServiceCA), nil
	}
	cm := &corev1.ConfigMap{}
	err = src.Get(ctx, types.NamespacedName{Namespace: namespace, Name: serviceCAConfigMap}, cm)
	switch {
	case apierrors.IsNotFound(err):
		return nil, v1alpha1.ReasonServiceCAUnavailable, fmt.Sprintf("the OpenShift service CA is not available: no ConfigMap %q in namespace %q (is this OpenShift, with the service CA operator running?)",
			serviceCAConfigMap, namespace), nil
	case err != nil:
		return nil, "", "", fmt.Errorf("reading ConfigMap %s/%s: %w", namespace, serviceCAConfigMap, err)
	}
	certs, perr := contract.ParseCertificates([]byte(cm.Data[serviceCAKey]))
	if perr != nil {
		return nil, v1alpha1.ReasonServiceCAUnavailable, fmt.Sprintf("the OpenShift service CA is not available yet: ConfigMap %q key %q: %v",
			serviceCAConfigMap, serviceCAKey, perr), nil
	}
	return certs, "", "", nil
}
