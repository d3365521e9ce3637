package gatewaytenant

// The TLS material only the proxy checks: the operator reads no Secret, and a pod certificate
// lives in the pod alone. A CA Secret, the client certificate Secret and the pod certificate
// reach the proxy through the kubelet; each replica reports in its state report what it found
// (proxy/contract.MaterialState), and this file says what that means for the tenant, in the
// condition reasons the operator used when it read Secrets itself. Pure.

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/proxystate"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/metrics"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// checkedByProxy is one piece of an upstream's TLS material that only the proxy checks.
type checkedByProxy struct {
	// field is its field in the proxy's configuration and state report.
	field string
	kind  contract.MaterialKind
	// ref says how the tenant names it, e.g. `clientCertificateRef: Secret "client-cert"`.
	ref string
	// secret and keys are the Secret and its keys, in the order of the files; empty for a
	// pod certificate.
	secret string
	keys   []string
	// signer is the pod certificate's signer.
	signer string
	// metric is its ref label in the certificate expiry metric.
	metric string
}

// proxyChecked lists the material of a TLS upstream that only the proxy checks.
func proxyChecked(u v1alpha1.Upstream) []checkedByProxy {
	var out []checkedByProxy
	for i, ref := range u.TLS.Validation.CACertificateRefs {
		if refKind(ref) == kindSecret {
			out = append(out, checkedByProxy{field: fmt.Sprintf("caFiles[%d]", i), kind: contract.MaterialCA,
				ref: fmt.Sprintf("caCertificateRefs[%d]: Secret %q", i, ref.Name), secret: string(ref.Name), keys: []string{caCertKey},
				metric: kindSecret + "/" + string(ref.Name)})
		}
	}
	switch t := u.TLS; {
	case t.ClientCertificateRef != nil:
		out = append(out, checkedByProxy{field: "clientCertificate", kind: contract.MaterialClient,
			ref: fmt.Sprintf("clientCertificateRef: Secret %q", t.ClientCertificateRef.Name), secret: t.ClientCertificateRef.Name,
			keys: []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey}, metric: kindSecret + "/" + t.ClientCertificateRef.Name})
	case t.PodCertificate != nil:
		signer := string(t.PodCertificate.SignerName)
		out = append(out, checkedByProxy{field: "clientCertificate.credentialBundleFile", kind: contract.MaterialClient,
			ref: fmt.Sprintf("podCertificate of signer %q", signer), signer: signer, metric: "PodCertificate/" + signer})
	}
	return out
}

// metricKind is the kind label of the material in the certificate expiry metric.
func (c checkedByProxy) metricKind() string {
	if c.kind == contract.MaterialCA {
		return metrics.KindCA
	}
	return metrics.KindClient
}

// names is how the tenant names the material, for a message.
func names(checked []checkedByProxy) string {
	refs := make([]string, 0, len(checked))
	for _, c := range checked {
		refs = append(refs, c.ref)
	}
	return strings.Join(refs, ", ")
}

// materialVerdict is what the replicas running the current configuration report of the
// material of one upstream that only the proxy checks.
type materialVerdict struct {
	checked []checkedByProxy
	// reported says some replica reported on it.
	reported bool
	// failures are the replicas whose material fails, by pod: each one's first failing piece.
	failures []materialFailure
	// ok are the replicas whose material loads.
	ok []string
	// warning says a certificate of it expires soon (the first one found).
	warning string
	// replicas are the client certificates the replicas hold.
	replicas []v1alpha1.ReplicaCertificate
	// certRefs are the soonest expiry of each piece, over the replicas (metrics).
	certRefs []metrics.CertificateRef
}

// materialFailure is one replica's failing material, in the API's words.
type materialFailure struct {
	pod, reason, message string
}

// judgeMaterial judges what the replicas of the verdict report of u's material.
func judgeMaterial(u v1alpha1.Upstream, v proxystate.Verdict) materialVerdict {
	mv := materialVerdict{checked: proxyChecked(u)}
	expiries := map[string]metrics.CertificateRef{}
	for _, r := range v.Replicas {
		if len(r.State.Material) == 0 {
			continue // a proxy older than the material report
		}
		if cert := heldClientCertificate(r); cert != nil {
			mv.replicas = append(mv.replicas, *cert)
		}
		if len(mv.checked) == 0 {
			continue
		}
		mv.reported = true
		if f, failed := failingMaterial(u, mv.checked, r); failed {
			mv.failures = append(mv.failures, f)
		} else {
			mv.ok = append(mv.ok, r.Pod)
		}
		for _, c := range mv.checked {
			m, ok := materialOf(r.State, c.field)
			if !ok || m.Loaded == nil {
				continue
			}
			if m.Problem == contract.MaterialExpiringSoon && mv.warning == "" {
				mv.warning = c.expiringMessage(r.Pod, m)
			}
			if e, seen := expiries[c.field]; !seen || m.Loaded.NotAfter.Before(e.NotAfter) {
				expiries[c.field] = metrics.CertificateRef{Upstream: u.Name, Kind: c.metricKind(), Ref: c.metric, NotAfter: m.Loaded.NotAfter}
			}
		}
	}
	for _, c := range mv.checked {
		if e, ok := expiries[c.field]; ok {
			mv.certRefs = append(mv.certRefs, e)
		}
	}
	if len(mv.replicas) > maxReplicaCertificates {
		mv.replicas = mv.replicas[:maxReplicaCertificates]
	}
	return mv
}

// maxReplicaCertificates is the most replicas status.upstreams[].clientCertificate lists.
const maxReplicaCertificates = 16

// failingMaterial is the first failing piece of material of one replica, if any. When every
// CA reference of several is a Secret and none loads, the reason is NoValidCACertificate, as
// for references the operator reads.
func failingMaterial(u v1alpha1.Upstream, checked []checkedByProxy, r proxystate.Replica) (materialFailure, bool) {
	var first *materialFailure
	failedCAs := 0
	for _, c := range checked {
		m, ok := materialOf(r.State, c.field)
		if !ok || !m.Problem.Failed() {
			continue
		}
		if c.kind == contract.MaterialCA {
			failedCAs++
		}
		if first == nil {
			reason, detail := c.failure(m)
			first = &materialFailure{pod: r.Pod, reason: reason, message: detail}
			if c.signer != "" {
				first.message = fmt.Sprintf("replica %s: %s", r.Pod, detail)
			}
		}
	}
	if first == nil {
		return materialFailure{}, false
	}
	if refs := u.TLS.Validation.CACertificateRefs; len(refs) > 1 && failedCAs == len(refs) {
		first.reason = v1alpha1.ReasonNoValidCACertificate
		first.message += fmt.Sprintf("; none of the %d CA certificate references is usable", len(refs))
	}
	return *first, true
}

// failure is the reason and detail of a failing piece of material.
func (c checkedByProxy) failure(m contract.MaterialState) (reason, detail string) {
	reason = v1alpha1.ReasonInvalidClientCertificate
	if c.kind == contract.MaterialCA {
		reason = v1alpha1.ReasonInvalidCACertificateRef
	}
	switch m.Problem {
	case contract.MaterialExpired, contract.MaterialNotYetValid:
		return v1alpha1.ReasonCertificateExpired, fmt.Sprintf("%s: %s; replace it", c.ref, m.Message)
	case contract.MaterialMissing:
		return reason, c.missing(m)
	}
	return reason, fmt.Sprintf("%s: %s", c.ref, m.Message)
}

// missing says which of the material's files the kubelet did not write: a Secret that does
// not exist, or lacks keys (a Secret of another type than kubernetes.io/tls has no tls.crt),
// or no pod certificate.
func (c checkedByProxy) missing(m contract.MaterialState) string {
	if c.secret == "" {
		return fmt.Sprintf("%s: the kubelet wrote no credential bundle", c.ref)
	}
	var absent []string
	for i, f := range m.Files {
		if slices.Contains(m.Missing, f) && i < len(c.keys) {
			absent = append(absent, fmt.Sprintf("%q", c.keys[i]))
		}
	}
	switch {
	case c.kind == contract.MaterialCA:
		return fmt.Sprintf("%s not found, or it has no key %q", c.ref, caCertKey)
	case len(absent) < len(c.keys):
		return fmt.Sprintf("%s has no key %s; it must be a %s Secret (kubectl create secret tls)", c.ref, strings.Join(absent, " or "), corev1.SecretTypeTLS)
	}
	return fmt.Sprintf("%s not found, or it holds neither %q nor %q (it must be a %s Secret: kubectl create secret tls)",
		c.ref, corev1.TLSCertKey, corev1.TLSPrivateKeyKey, corev1.SecretTypeTLS)
}

// expiringMessage warns of material of a replica that expires soon.
func (c checkedByProxy) expiringMessage(pod string, m contract.MaterialState) string {
	if c.signer != "" {
		return fmt.Sprintf("%s: the pod certificate of replica %s expires at %s and was not renewed; is the signer issuing?",
			c.ref, pod, m.Loaded.NotAfter.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("%s: %s; renew it", c.ref, m.Message)
}

// heldClientCertificate is the client certificate a replica holds, nil when it holds none.
func heldClientCertificate(r proxystate.Replica) *v1alpha1.ReplicaCertificate {
	for _, m := range r.State.Material {
		if m.Kind == contract.MaterialClient && m.Loaded != nil {
			return &v1alpha1.ReplicaCertificate{Pod: r.Pod, Subject: m.Loaded.Subject, Issuer: m.Loaded.Issuer,
				NotAfter: &metav1.Time{Time: m.Loaded.NotAfter}}
		}
	}
	return nil
}

// materialOf is the report of the material of field.
func materialOf(st contract.UpstreamState, field string) (contract.MaterialState, bool) {
	for _, m := range st.Material {
		if m.Field == field {
			return m, true
		}
	}
	return contract.MaterialState{}, false
}

// clientCertificateStatus is status.upstreams[].clientCertificate of a TLS upstream: nil when
// it presents none.
func clientCertificateStatus(u v1alpha1.Upstream, mv materialVerdict) *v1alpha1.ClientCertificateStatus {
	t := u.TLS
	switch {
	case t == nil:
		return nil
	case t.ClientCertificateRef != nil:
		return &v1alpha1.ClientCertificateStatus{SecretName: t.ClientCertificateRef.Name, Replicas: mv.replicas}
	case t.PodCertificate != nil:
		return &v1alpha1.ClientCertificateStatus{SignerName: string(t.PodCertificate.SignerName), Replicas: mv.replicas}
	}
	return nil
}
