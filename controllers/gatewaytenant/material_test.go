package gatewaytenant

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/proxystate"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// secretUpstream is a TLS upstream trusting ConfigMap ca and Secret ca-secret, presenting
// Secret client-cert.
func secretUpstream() upstreamResult {
	return tlsResult("api", 8443, func(t *v1alpha1.UpstreamTLS) {
		t.Validation.CACertificateRefs = append(t.Validation.CACertificateRefs, v1alpha1.CACertificateReference{Kind: "Secret", Name: "ca-secret"})
		t.ClientCertificateRef = &v1alpha1.SecretReference{Name: "client-cert"}
	})
}

// loaded is material that loaded, its certificate named cn, expiring at notAfter.
func loaded(field string, kind contract.MaterialKind, cn string, notAfter time.Time, files ...string) contract.MaterialState {
	return contract.MaterialState{Field: field, Kind: kind, Files: files,
		Loaded: &contract.LoadedMaterial{Subject: "CN=" + cn, Issuer: "CN=platform", NotAfter: notAfter, Certificates: 1}}
}

// secretReport is what a replica reports of secretUpstream's material, then tweaks.
func secretReport(tweaks ...func(m []contract.MaterialState)) []contract.MaterialState {
	far := statusNow.Add(365 * 24 * time.Hour)
	m := []contract.MaterialState{
		loaded("caFiles[0]", contract.MaterialCA, "root", far, "/u/ca-0/ca.crt"),
		loaded("caFiles[1]", contract.MaterialCA, "secret root", far, "/u/ca-1/ca.crt"),
		loaded("clientCertificate", contract.MaterialClient, "gateway", far, "/u/client/tls.crt", "/u/client/tls.key"),
	}
	for _, tw := range tweaks {
		tw(m)
	}
	return m
}

func problem(i int, p contract.MaterialProblem, message string, missing ...string) func([]contract.MaterialState) {
	return func(m []contract.MaterialState) {
		m[i].Problem, m[i].Message, m[i].Missing = p, message, missing
		if p.Failed() && p != contract.MaterialExpired {
			m[i].Loaded = nil
		}
	}
}

func replicasReport(material ...[]contract.MaterialState) proxystate.Verdict {
	var v proxystate.Verdict
	for i, m := range material {
		pod := string(rune('a' + i))
		v.Replicas = append(v.Replicas, proxystate.Replica{Pod: pod, State: contract.UpstreamState{Name: "api", Result: contract.ResultOK, Material: m}})
		v.Verified = append(v.Verified, pod)
	}
	return v
}

// TestJudgeMaterial: every problem a replica reports of a Secret it loads is the reason the
// operator gave when it read Secrets itself, and says what to fix.
func TestJudgeMaterial(t *testing.T) {
	for _, c := range []struct {
		desc    string
		report  []contract.MaterialState
		reason  string // "": no failure
		message string
	}{
		{"all loads", secretReport(), "", ""},
		{"client Secret missing, or of another type", secretReport(problem(2, contract.MaterialMissing, "no such file or directory", "/u/client/tls.crt", "/u/client/tls.key")),
			v1alpha1.ReasonInvalidClientCertificate, `clientCertificateRef: Secret "client-cert" not found, or it holds neither "tls.crt" nor "tls.key" (it must be a kubernetes.io/tls Secret`},
		{"client Secret without tls.key", secretReport(problem(2, contract.MaterialMissing, "no such file or directory", "/u/client/tls.key")),
			v1alpha1.ReasonInvalidClientCertificate, `clientCertificateRef: Secret "client-cert" has no key "tls.key"; it must be a kubernetes.io/tls Secret`},
		{"client certificate not PEM", secretReport(problem(2, contract.MaterialNotPEM, "no PEM certificate found")),
			v1alpha1.ReasonInvalidClientCertificate, `clientCertificateRef: Secret "client-cert": no PEM certificate found`},
		{"client key mismatch", secretReport(problem(2, contract.MaterialKeyMismatch, "private key does not match public key of certificate \"gateway\"")),
			v1alpha1.ReasonInvalidClientCertificate, "private key does not match public key"},
		{"client certificate expired", secretReport(problem(2, contract.MaterialExpired, `certificate "gateway" expired at 2026-11-01T00:00:00Z`)),
			v1alpha1.ReasonCertificateExpired, `clientCertificateRef: Secret "client-cert": certificate "gateway" expired at 2026-11-01T00:00:00Z; replace it`},
		{"CA Secret missing", secretReport(problem(1, contract.MaterialMissing, "no such file or directory", "/u/ca-1/ca.crt")),
			v1alpha1.ReasonInvalidCACertificateRef, `caCertificateRefs[1]: Secret "ca-secret" not found, or it has no key "ca.crt"`},
		{"CA Secret holding a leaf", secretReport(problem(1, contract.MaterialNotCA, `certificate "api" is not a CA certificate`)),
			v1alpha1.ReasonInvalidCACertificateRef, `caCertificateRefs[1]: Secret "ca-secret": certificate "api" is not a CA certificate`},
		{"a ConfigMap's file is not the proxy's to judge", secretReport(problem(0, contract.MaterialNotPEM, "no PEM certificate found")), "", ""},
	} {
		t.Run(c.desc, func(t *testing.T) {
			mv := judgeMaterial(secretUpstream().upstream, replicasReport(c.report))
			if !mv.reported {
				t.Fatal("not reported")
			}
			switch {
			case c.reason == "" && len(mv.failures) > 0:
				t.Fatalf("failures %+v", mv.failures)
			case c.reason != "" && (len(mv.failures) != 1 || mv.failures[0].reason != c.reason || !strings.Contains(mv.failures[0].message, c.message)):
				t.Fatalf("failures %+v, want %s with %q", mv.failures, c.reason, c.message)
			}
		})
	}
}

// TestJudgeMaterialOfPodCertificates: each replica holds its own certificate, listed by pod;
// one that is not renewed is a warning naming the replica; the expiry metric has the soonest.
func TestJudgeMaterialOfPodCertificates(t *testing.T) {
	up := tlsResult("api", 8443, func(t *v1alpha1.UpstreamTLS) {
		t.PodCertificate = &v1alpha1.PodCertificateIdentity{SignerName: "example.com/gateway-clients"}
	}).upstream
	field := "clientCertificate.credentialBundleFile"
	fresh := loaded(field, contract.MaterialClient, "my-api-proxy-0", statusNow.Add(20*time.Hour), "/u/client/credential-bundle.pem")
	stale := loaded(field, contract.MaterialClient, "my-api-proxy-1", statusNow.Add(2*time.Hour), "/u/client/credential-bundle.pem")
	stale.Problem = contract.MaterialExpiringSoon
	mv := judgeMaterial(up, replicasReport([]contract.MaterialState{fresh}, []contract.MaterialState{stale}))
	if len(mv.failures) != 0 || len(mv.ok) != 2 {
		t.Fatalf("failures %+v ok %v", mv.failures, mv.ok)
	}
	if want := `podCertificate of signer "example.com/gateway-clients": the pod certificate of replica b expires at`; !strings.HasPrefix(mv.warning, want) {
		t.Errorf("warning %q, want %q", mv.warning, want)
	}
	if len(mv.replicas) != 2 || mv.replicas[0].Pod != "a" || mv.replicas[0].Subject != "CN=my-api-proxy-0" || mv.replicas[1].Subject != "CN=my-api-proxy-1" {
		t.Errorf("replicas %+v", mv.replicas)
	}
	if len(mv.certRefs) != 1 || mv.certRefs[0].Ref != "PodCertificate/example.com/gateway-clients" || !mv.certRefs[0].NotAfter.Equal(stale.Loaded.NotAfter) {
		t.Errorf("certificate metric %+v, want the soonest expiry of the replicas'", mv.certRefs)
	}
	broken := fresh
	broken.Problem, broken.Message, broken.Loaded = contract.MaterialKeyMismatch, "private key does not match", nil
	mv = judgeMaterial(up, replicasReport([]contract.MaterialState{fresh}, []contract.MaterialState{broken}))
	if len(mv.failures) != 1 || mv.failures[0].pod != "b" || !strings.HasPrefix(mv.failures[0].message, "replica b: podCertificate of signer") {
		t.Errorf("failures %+v", mv.failures)
	}
}

// TestSecretMaterialInStatus: a tenant whose upstream references Secrets is not Ready until a
// replica has reported on them (Unknown, not False), then Ready or not by what they report;
// a poll that reads no replica changes nothing.
func TestSecretMaterialInStatus(t *testing.T) {
	api := secretUpstream()
	obs := func(v proxystate.Verdict) *observation {
		return observed([]upstreamResult{api}, nil, func(o *observation) {
			o.verdicts = map[string]proxystate.Verdict{"api": v}
			o.materials = map[string]materialVerdict{"api": judgeMaterial(api.upstream, v)}
		})
	}
	missing := secretReport(problem(2, contract.MaterialMissing, "no such file or directory", "/u/client/tls.crt", "/u/client/tls.key"))
	type want struct {
		ready, refs, up  metav1.ConditionStatus
		reason, upReason string
		message          string
	}
	var status v1alpha1.GatewayTenantStatus
	for _, c := range []struct {
		desc string
		obs  *observation
		want want
	}{
		{"no replica has reported", obs(proxystate.Verdict{Pending: 2}), want{metav1.ConditionUnknown, metav1.ConditionUnknown, metav1.ConditionUnknown,
			v1alpha1.ReasonAwaitingProxyReport, v1alpha1.ReasonAwaitingProxyReport,
			`only the proxy replicas can check caCertificateRefs[1]: Secret "ca-secret", clientCertificateRef: Secret "client-cert"`}},
		{"the Secret is missing", obs(replicasReport(missing)), want{metav1.ConditionFalse, metav1.ConditionFalse, metav1.ConditionFalse,
			v1alpha1.ReasonInvalidUpstreams, v1alpha1.ReasonInvalidClientCertificate, `clientCertificateRef: Secret "client-cert" not found`}},
		{"no replica can be read: as it was", obs(proxystate.Verdict{Unreachable: []string{"a: refused"}}), want{metav1.ConditionFalse, metav1.ConditionFalse,
			metav1.ConditionFalse, v1alpha1.ReasonInvalidUpstreams, v1alpha1.ReasonInvalidClientCertificate, `clientCertificateRef: Secret "client-cert" not found`}},
		{"the Secret is mended", obs(replicasReport(secretReport())), want{metav1.ConditionTrue, metav1.ConditionTrue, metav1.ConditionTrue,
			v1alpha1.ReasonReady, v1alpha1.ReasonReady, "all 1 upstreams are reachable"}},
	} {
		status = computeStatus(&status, c.obs, outcomeWith(available), "my-api")
		ready, refs := conditionOf(t, status, v1alpha1.ConditionReady), conditionOf(t, status, v1alpha1.ConditionResolvedRefs)
		up := meta.FindStatusCondition(status.Upstreams[0].Conditions, v1alpha1.ConditionReady)
		if ready.Status != c.want.ready || refs.Status != c.want.refs || up.Status != c.want.up || ready.Reason != c.want.reason ||
			up.Reason != c.want.upReason || !strings.Contains(ready.Message, c.want.message) {
			t.Errorf("%s: Ready %s/%s %q, ResolvedRefs %s, upstream Ready %s/%s; want %+v", c.desc, ready.Status, ready.Reason, ready.Message,
				refs.Status, up.Status, up.Reason, c.want)
		}
	}
	cc := status.Upstreams[0].ClientCertificate
	if cc == nil || cc.SecretName != "client-cert" || len(cc.Replicas) != 1 || cc.Replicas[0].Subject != "CN=gateway" {
		t.Errorf("clientCertificate %+v", cc)
	}
}
