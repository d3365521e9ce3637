package gatewaytenant

// What the CA certificates the operator reads for a TLS upstream mean: usable, or which
// reference is wrong and why; expired, or expiring soon. Pure: certsource.go reads them.

import (
	"crypto/x509"
	"fmt"
	"time"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/metrics"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// certCheck is the verdict on the certificates of one TLS upstream that the operator reads:
// its CA ConfigMaps and ClusterTrustBundles. (A CA Secret and the client certificate the
// proxy checks: material.go.)
type certCheck struct {
	// reason is empty when every reference resolved to usable material; a ReasonXxx
	// otherwise, with detail saying which reference and why (without the upstream's name).
	reason string
	detail string
	// expiring, when set, is a warning: the soonest certificate expires within the warning
	// window. notAfter is the soonest expiry of all material, zero when there is none.
	expiring string
	notAfter time.Time
	// refs are the soonest expiry of each usable reference, for the manager's metrics.
	refs []metrics.CertificateRef
}

// judgeCertificates checks the CA references the operator reads of the TLS upstream u of a
// tenant in namespace, as read into m, at time now.
func judgeCertificates(namespace string, u v1alpha1.Upstream, m certMaterial, now time.Time, warnWithin time.Duration) certCheck {
	var res certCheck
	var certs []*x509.Certificate
	invalid := 0
	refs := u.TLS.Validation.CACertificateRefs
	for i, ref := range refs {
		reason, detail := judgeCARef(ref, m.cas[i])
		if reason != "" {
			invalid++
			if res.reason == "" {
				res.reason, res.detail = reason, detail
			}
			continue
		}
		got := m.cas[i].certs
		certs = append(certs, got...)
		if len(got) > 0 {
			res.refs = append(res.refs, metrics.CertificateRef{Upstream: u.Name, Kind: metrics.KindCA, Ref: refName(ref), NotAfter: contract.EarliestNotAfter(got)})
		}
	}
	if wk := u.TLS.Validation.WellKnownCACertificates; wk != nil {
		if reason, detail := judgeWellKnownCA(namespace, *wk, m.serviceCA); reason != "" {
			res.reason, res.detail = reason, detail
		}
		if *wk == v1alpha1.WellKnownCAOpenShiftServiceCA {
			certs = append(certs, m.serviceCA.certs...)
		}
	}
	if len(refs) > 1 && invalid == len(refs) {
		res.reason = v1alpha1.ReasonNoValidCACertificate
		res.detail += fmt.Sprintf("; none of the %d CA certificate references is usable", len(refs))
	}
	if res.reason != "" {
		return res
	}
	return checkExpiry(res, certs, now, warnWithin)
}

// checkExpiry fails on the first expired or not yet valid certificate and warns on the soonest
// expiring one.
func checkExpiry(res certCheck, certs []*x509.Certificate, now time.Time, warnWithin time.Duration) certCheck {
	for _, c := range certs {
		switch {
		case now.After(c.NotAfter):
			res.reason = v1alpha1.ReasonCertificateExpired
			res.detail = fmt.Sprintf("certificate %q expired at %s; replace it", c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339))
			return res
		case now.Before(c.NotBefore):
			res.reason = v1alpha1.ReasonCertificateExpired
			res.detail = fmt.Sprintf("certificate %q is not valid before %s", c.Subject.CommonName, c.NotBefore.UTC().Format(time.RFC3339))
			return res
		}
		if res.notAfter.IsZero() || c.NotAfter.Before(res.notAfter) {
			res.notAfter = c.NotAfter
			if c.NotAfter.Sub(now) < warnWithin {
				res.expiring = fmt.Sprintf("certificate %q expires at %s; renew it", c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339))
			}
		}
	}
	return res
}

// judgeCARef says why a CA reference the operator reads, as read, is unusable; empty when it
// is usable or is a Secret, which the proxy checks.
func judgeCARef(ref v1alpha1.CACertificateReference, got objectRead) (reason, detail string) {
	kind := refKind(ref)
	what := fmt.Sprintf("%s %q", kind, ref.Name)
	if sel := ref.ClusterTrustBundleSelector; sel != nil {
		what = fmt.Sprintf("ClusterTrustBundles of signer %q", sel.SignerName)
		if l := selectorString(sel); l != "" {
			what += " labelled " + l
		}
	}
	switch {
	case kind == "":
		return v1alpha1.ReasonInvalidKind, fmt.Sprintf("caCertificateRefs: kind %q of group %q is not supported; "+
			"use ConfigMap or Secret of the core group, or ClusterTrustBundle of certificates.k8s.io", caRefKind(ref), ref.Group)
	case kind == kindSecret:
		return "", ""
	case !got.found && ref.ClusterTrustBundleSelector != nil:
		return v1alpha1.ReasonInvalidCACertificateRef, fmt.Sprintf("no ClusterTrustBundle matches: %s", what)
	case !got.found:
		return v1alpha1.ReasonInvalidCACertificateRef, fmt.Sprintf("%s not found", what)
	case !got.hasKey:
		return v1alpha1.ReasonInvalidCACertificateRef, fmt.Sprintf("%s has no key %q", what, caCertKey)
	case got.parseErr != nil && kind == kindConfigMap:
		return v1alpha1.ReasonInvalidCACertificateRef, fmt.Sprintf("%s key %q: %v", what, caCertKey, got.parseErr)
	case got.parseErr != nil:
		return v1alpha1.ReasonInvalidCACertificateRef, fmt.Sprintf("%s: %v", what, got.parseErr)
	}
	return "", ""
}

// judgeWellKnownCA checks a well-known trust bundle: System needs nothing; the OpenShift
// service CA must be in the namespace (serviceCA, as read).
func judgeWellKnownCA(namespace string, wk gwapiv1.WellKnownCACertificatesType, serviceCA objectRead) (reason, detail string) {
	switch wk {
	case gwapiv1.WellKnownCACertificatesSystem:
		return "", ""
	case v1alpha1.WellKnownCAOpenShiftServiceCA:
	default:
		return v1alpha1.ReasonUnsupportedWellKnownCA, fmt.Sprintf("wellKnownCACertificates %q is not supported; use %q or %q",
			wk, gwapiv1.WellKnownCACertificatesSystem, v1alpha1.WellKnownCAOpenShiftServiceCA)
	}
	switch {
	case !serviceCA.found:
		return v1alpha1.ReasonServiceCAUnavailable, fmt.Sprintf("the OpenShift service CA is not available: no ConfigMap %q in namespace %q "+
			"(is this OpenShift, with the service CA operator running?)", serviceCAConfigMap, namespace)
	case !serviceCA.hasKey:
		return v1alpha1.ReasonServiceCAUnavailable, fmt.Sprintf("the OpenShift service CA is not available yet: ConfigMap %q has no key %q",
			serviceCAConfigMap, serviceCAKey)
	case serviceCA.parseErr != nil:
		return v1alpha1.ReasonServiceCAUnavailable, fmt.Sprintf("the OpenShift service CA is not available yet: ConfigMap %q key %q: %v",
			serviceCAConfigMap, serviceCAKey, serviceCA.parseErr)
	}
	return "", ""
}
