package gatewaytenant

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/proxystate"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

func replicaFailure(pod string, r contract.Reason, confirmed bool) proxystate.Failure {
	return proxystate.Failure{Pod: pod, Result: r, Message: "the proxy's words about " + string(r), Confirmed: confirmed}
}

func TestVerifiedCondition(t *testing.T) {
	verifiedTrue := condition(v1alpha1.ConditionVerified, true, v1alpha1.ReasonVerified, "verified by 2 proxy replica(s)")
	failedBefore := condition(v1alpha1.ConditionVerified, false, v1alpha1.ReasonUnknownAuthority, "wrong CA")
	type tc struct {
		verdict    proxystate.Verdict
		material   materialVerdict
		prev       *metav1.Condition
		want       metav1.ConditionStatus
		wantReason string
		message    string
	}
	base := tc{verdict: proxystate.Verdict{Verified: []string{"a", "b"}, Presented: &contract.PresentedCertificate{
		Subject: "CN=api", Issuer: "CN=inter", NotAfter: time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)}},
		want: metav1.ConditionTrue, wantReason: v1alpha1.ReasonVerified,
		message: "verified by 2 proxy replica(s): the upstream presents CN=api issued by CN=inter, valid until 2027-01-02T03:04:05Z"}
	cases := []struct {
		desc  string
		tweak func(*tc)
	}{
		{"every replica verified", func(*tc) {}},
		{"no replica yet", func(c *tc) {
			c.verdict = proxystate.Verdict{}
			c.want, c.wantReason, c.message = metav1.ConditionUnknown, v1alpha1.ReasonAwaitingProxyReport, `no proxy replica has verified upstream "api"`
		}},
		{"replicas of an older configuration only", func(c *tc) {
			c.verdict, c.prev = proxystate.Verdict{Pending: 2}, &verifiedTrue
			c.want, c.wantReason, c.message = metav1.ConditionUnknown, v1alpha1.ReasonAwaitingProxyReport, "with the current configuration"
		}},
		{"replicas unreachable, never known", func(c *tc) {
			c.verdict = proxystate.Verdict{Unreachable: []string{"a: connection to its admin port refused"}}
			c.want, c.wantReason, c.message = metav1.ConditionUnknown, v1alpha1.ReasonProxyUnreachable, "a: connection to its admin port refused"
		}},
		{"replicas unreachable keep what was known", func(c *tc) {
			c.verdict, c.prev = proxystate.Verdict{Unreachable: []string{"a: refused"}}, &failedBefore
			c.want, c.wantReason, c.message = metav1.ConditionFalse, v1alpha1.ReasonUnknownAuthority, "wrong CA"
		}},
		{"all fail alike", func(c *tc) {
			c.verdict = proxystate.Verdict{Failing: []proxystate.Failure{replicaFailure("a", contract.ReasonHostnameMismatch, false), replicaFailure("b", contract.ReasonHostnameMismatch, true)}}
			c.want, c.wantReason, c.message = metav1.ConditionFalse, v1alpha1.ReasonHostnameMismatch, "the proxy's words about hostname_mismatch"
		}},
		{"each proxy reason has its own", func(c *tc) {
			c.verdict = proxystate.Verdict{Failing: []proxystate.Failure{replicaFailure("a", contract.ReasonExpired, false)}}
			c.want, c.wantReason, c.message = metav1.ConditionFalse, v1alpha1.ReasonCertificateExpired, "about expired"
		}},
		{"a reason the operator does not know", func(c *tc) {
			c.verdict = proxystate.Verdict{Failing: []proxystate.Failure{replicaFailure("a", "reason_of_a_newer_proxy", false)}}
			c.want, c.wantReason, c.message = metav1.ConditionFalse, v1alpha1.ReasonVerificationFailed, "reason_of_a_newer_proxy"
		}},
		{"one unconfirmed failure of a verified upstream changes nothing", func(c *tc) {
			c.verdict = proxystate.Verdict{Verified: []string{"b"}, Failing: []proxystate.Failure{replicaFailure("a", contract.ReasonConnectFailed, false)}}
			c.prev = &verifiedTrue
			c.message = "verified by 2 proxy replica(s)"
		}},
		{"a confirmed failure of a verified upstream counts", func(c *tc) {
			c.verdict = proxystate.Verdict{Failing: []proxystate.Failure{replicaFailure("a", contract.ReasonExpired, true)}}
			c.prev = &verifiedTrue
			c.want, c.wantReason, c.message = metav1.ConditionFalse, v1alpha1.ReasonCertificateExpired, "about expired"
		}},
		{"replicas disagree", func(c *tc) {
			c.verdict = proxystate.Verdict{Verified: []string{"a"}, Failing: []proxystate.Failure{replicaFailure("b", contract.ReasonUnknownAuthority, true)}}
			c.want, c.wantReason = metav1.ConditionFalse, v1alpha1.ReasonReplicasDisagree
			c.message = "2 proxy replicas disagree: a: verified; b: UnknownAuthority: the proxy's words about unknown_authority"
		}},
		{"a replica's material fails, though its handshake passed: at once", func(c *tc) {
			c.material = materialVerdict{failures: []materialFailure{{pod: "a", reason: v1alpha1.ReasonInvalidClientCertificate,
				message: `clientCertificateRef: Secret "client-cert" has no key "tls.key"`}}}
			c.verdict, c.prev = proxystate.Verdict{Verified: []string{"a"}}, &verifiedTrue
			c.want, c.wantReason, c.message = metav1.ConditionFalse, v1alpha1.ReasonInvalidClientCertificate, `has no key "tls.key"`
		}},
		{"material of a replica that has not checked yet", func(c *tc) {
			c.material = materialVerdict{failures: []materialFailure{{pod: "a", reason: v1alpha1.ReasonCertificateExpired, message: "expired"}}}
			c.verdict = proxystate.Verdict{Pending: 1}
			c.want, c.wantReason, c.message = metav1.ConditionFalse, v1alpha1.ReasonCertificateExpired, "expired"
		}},
		{"one replica's pod certificate fails", func(c *tc) {
			c.material = materialVerdict{failures: []materialFailure{{pod: "b", reason: v1alpha1.ReasonInvalidClientCertificate, message: "replica b: key mismatch"}}}
			c.want, c.wantReason = metav1.ConditionFalse, v1alpha1.ReasonReplicasDisagree
			c.message = "2 proxy replicas disagree: a: verified; b: InvalidClientCertificate: replica b: key mismatch"
		}},
		{"replicas fail differently", func(c *tc) {
			c.verdict = proxystate.Verdict{Failing: []proxystate.Failure{replicaFailure("a", contract.ReasonUnknownAuthority, true), replicaFailure("b", contract.ReasonTimeout, true)}}
			c.want, c.wantReason, c.message = metav1.ConditionFalse, v1alpha1.ReasonReplicasDisagree, "b: Timeout"
		}},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			x := base
			c.tweak(&x)
			got := verifiedCondition("api", x.verdict, x.material, x.prev)
			if got.Type != v1alpha1.ConditionVerified || got.Status != x.want || got.Reason != x.wantReason || !strings.Contains(got.Message, x.message) {
				t.Fatalf("got %s/%s %q, want %s/%s with %q", got.Status, got.Reason, got.Message, x.want, x.wantReason, x.message)
			}
		})
	}
}

// TestEveryProxyReasonIsMapped: every handshake failure reason of the proxy has a condition
// reason of its own.
func TestEveryProxyReasonIsMapped(t *testing.T) {
	seen := map[string]contract.Reason{}
	for _, r := range contract.HandshakeFailureReasons {
		got := verifiedReason(r)
		if got == v1alpha1.ReasonVerificationFailed {
			t.Errorf("proxy reason %s has no condition reason", r)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("%s and %s both map to %s", r, other, got)
		}
		seen[got] = r
	}
}

// The upstream's Ready condition follows its data path: a failed verification makes it False
// with the same reason; an upstream certificate that expires soon and a Service without ready
// endpoints are warnings (True with the reason).
func TestUpstreamReadyFollowsTheDataPath(t *testing.T) {
	now := statusNow
	later, soon := now.Add(365*24*time.Hour), now.Add(24*time.Hour)
	web, api := plainResult("web"), tlsResult("api", 8443)
	api.detail = "the gateway reaches it through the proxy, which verifies its certificate"
	withVerdict := func(v proxystate.Verdict) func(*observation) {
		return func(o *observation) { o.verdicts = map[string]proxystate.Verdict{"api": v} }
	}
	verified := func(notAfter time.Time) func(*observation) {
		return withVerdict(proxystate.Verdict{Verified: []string{"a", "b"}, Presented: &contract.PresentedCertificate{Subject: "CN=api", NotAfter: notAfter}})
	}
	for _, c := range []struct {
		desc       string
		u          upstreamResult
		tweak      func(*observation)
		want       metav1.ConditionStatus
		wantReason string
		message    string
	}{
		{"plain with endpoints", web, func(o *observation) { o.endpoints["web"] = 2 }, metav1.ConditionTrue, v1alpha1.ReasonReady,
			`Service "web" port 80 has 2 ready endpoint(s)`},
		{"plain without endpoints: a warning", web, func(o *observation) { o.endpoints["web"] = 0 }, metav1.ConditionTrue, v1alpha1.ReasonNoReadyEndpoints,
			`Service "web" has no ready endpoints`},
		{"proxy state not read", api, func(*observation) {}, metav1.ConditionTrue, v1alpha1.ReasonReady, "which verifies its certificate"},
		{"verified", api, verified(later), metav1.ConditionTrue, v1alpha1.ReasonReady, "through the proxy; verified by 2 proxy replica(s)"},
		{"verification pending", api, withVerdict(proxystate.Verdict{}), metav1.ConditionTrue, v1alpha1.ReasonReady,
			"its verification is pending (AwaitingProxyReport)"},
		{"verification failed", api, withVerdict(proxystate.Verdict{Failing: []proxystate.Failure{replicaFailure("a", contract.ReasonHostnameMismatch, true)}}),
			metav1.ConditionFalse, v1alpha1.ReasonHostnameMismatch, `upstream "api": the proxy's words about hostname_mismatch`},
		{"the upstream's certificate expires soon", api, verified(soon), metav1.ConditionTrue, v1alpha1.ReasonCertificateExpiringSoon,
			"the upstream's own certificate CN=api expires at 2026-11-23T12:00:00Z"},
	} {
		t.Run(c.desc, func(t *testing.T) {
			views := upstreamViews(&v1alpha1.GatewayTenantStatus{}, observed([]upstreamResult{c.u}, nil, c.tweak), "my-api")
			got := views[0].ready
			if got.Status != c.want || got.Reason != c.wantReason || !strings.Contains(got.Message, c.message) {
				t.Fatalf("got %s/%s %q, want %s/%s with %q", got.Status, got.Reason, got.Message, c.want, c.wantReason, c.message)
			}
		})
	}
}

// TestComputeStatusWithDataPath: the tenant's Ready follows a failed verification, and a
// True one does not call an upstream without endpoints reachable.
func TestComputeStatusWithDataPath(t *testing.T) {
	web, api := plainResult("web"), tlsResult("api", 8443)
	obs := func(v proxystate.Verdict, endpoints int) *observation {
		return observed([]upstreamResult{web, api}, nil, func(o *observation) {
			o.endpoints["web"] = endpoints
			o.verdicts = map[string]proxystate.Verdict{"api": v}
		})
	}
	for _, c := range []struct {
		desc       string
		obs        *observation
		want       metav1.ConditionStatus
		wantReason string
		message    string
	}{
		{"all verified", obs(proxystate.Verdict{Verified: []string{"a"}}, 1), metav1.ConditionTrue, v1alpha1.ReasonReady, "all 2 upstreams are reachable from the gateway"},
		{"no endpoints, pending", obs(proxystate.Verdict{}, 0), metav1.ConditionTrue, v1alpha1.ReasonReady,
			`all 2 upstreams are configured; upstream "web" has no ready endpoints; upstream "api" awaits verification by the proxy (AwaitingProxyReport)`},
		{"verification failed", obs(proxystate.Verdict{Failing: []proxystate.Failure{replicaFailure("a", contract.ReasonChainTooDeep, true)}}, 1),
			metav1.ConditionFalse, v1alpha1.ReasonChainTooDeep, `upstream "api": the proxy's words about chain_too_deep`},
		{"the upstream's own certificate expires soon",
			obs(proxystate.Verdict{Verified: []string{"a"}, Presented: &contract.PresentedCertificate{Subject: "CN=api", NotAfter: statusNow.Add(time.Hour)}}, 1),
			metav1.ConditionTrue, v1alpha1.ReasonCertificateExpiringSoon,
			"all 2 upstreams are reachable from the gateway, but upstream \"api\": the upstream's own certificate CN=api expires at"},
		{"a CA expires soon, and the verification is pending", func() *observation {
			o := obs(proxystate.Verdict{}, 1)
			o.upstreams[1].warning = `certificate "ca" expires at 2026-11-23T12:00:00Z; renew it`
			return o
		}(), metav1.ConditionTrue, v1alpha1.ReasonCertificateExpiringSoon,
			`all 2 upstreams are configured; upstream "api" awaits verification by the proxy (AwaitingProxyReport), but upstream "api": certificate "ca" expires at`},
	} {
		t.Run(c.desc, func(t *testing.T) {
			st := computeStatus(&v1alpha1.GatewayTenantStatus{}, c.obs, outcomeWith(available), "my-api")
			ready := conditionOf(t, st, v1alpha1.ConditionReady)
			if ready.Status != c.want || ready.Reason != c.wantReason || !strings.Contains(ready.Message, c.message) {
				t.Fatalf("Ready %s/%s %q, want %s/%s with %q", ready.Status, ready.Reason, ready.Message, c.want, c.wantReason, c.message)
			}
			if v := meta.FindStatusCondition(st.Upstreams[1].Conditions, v1alpha1.ConditionVerified); v == nil || v.ObservedGeneration != 7 {
				t.Fatalf("TLS upstream's Verified = %+v", v)
			}
			if meta.FindStatusCondition(st.Upstreams[0].Conditions, v1alpha1.ConditionVerified) != nil {
				t.Fatal("a plain upstream got a Verified condition")
			}
		})
	}
}

// The configuration is rendered once with its revision, which follows the configuration.
func TestProxyConfigCarriesItsRevision(t *testing.T) {
	ups := []proxyUpstream{{upstreamResult: upstreamResult{upstream: v1alpha1.Upstream{Name: "api", Host: "api.ns.svc", Port: 8443,
		TLS: &v1alpha1.UpstreamTLS{Validation: v1alpha1.UpstreamTLSValidation{CACertificateRefs: []v1alpha1.CACertificateReference{{Name: "ca"}}}}}}, listenPort: 8000}}
	rendered, err := renderProxyConfig(ups, contract.DefaultExpiryWarning)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := contract.ParseConfig(rendered.data)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Revision != rendered.revision || len(rendered.revision) != 16 {
		t.Fatalf("rendered revision %q, reported %q", cfg.Revision, rendered.revision)
	}
	ups[0].upstream.Port = 9443
	if again, _ := renderProxyConfig(ups, contract.DefaultExpiryWarning); again.revision == rendered.revision || again.hash() == rendered.hash() {
		t.Fatal("the revision and the hash do not follow the configuration")
	}
}

func TestProxyPolicy(t *testing.T) {
	tenant := &v1alpha1.GatewayTenant{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "t"}}
	up := tlsResult("api", 8443)
	up.podSelector = map[string]string{"app": "api"}
	up.ports = []networkingv1.NetworkPolicyPort{tcpPort(9443)}
	ups := proxyUpstreams(tenantWith(up), []upstreamResult{up})
	gateway := gatewayPeers([]v1alpha1.DataPlaneEnvironment{
		{Name: "test", NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"environment": "test"}}},
		{Name: "prod", NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"environment": "prod"}}},
	})
	monitoring := monitoringPeer(MonitoringSettings{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"policy-group": "monitoring"}}})
	np := proxyPolicy(tenant, ups, gateway, []*networkingv1.NetworkPolicyPeer{operatorPeer("gatewaytenant-system"), nil, monitoring},
		ClusterDNS{Namespace: "kube-system", PodLabels: map[string]string{"k8s-app": "kube-dns"}, Port: 53})

	if np.Name != "t-proxy" || np.Spec.PodSelector.MatchLabels[v1alpha1.LabelTenant] != "t" ||
		!slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) {
		t.Fatalf("policy %s selects %v with types %v", np.Name, np.Spec.PodSelector.MatchLabels, np.Spec.PolicyTypes)
	}
	type rule struct{ from, port string }
	var got []rule
	for _, r := range np.Spec.Ingress {
		got = append(got, rule{metav1.FormatLabelSelector(r.From[0].NamespaceSelector), r.Ports[0].Port.String()})
		if len(r.From) != 1 || len(r.Ports) != 1 {
			t.Errorf("rule %+v: want one peer and one port", r)
		}
	}
	want := []rule{
		{"environment=test", "8000"}, {"environment=prod", "8000"}, // the gateway: listeners only
		{"kubernetes.io/metadata.name=gatewaytenant-system", "9090"}, // the operator: admin port only
		{"policy-group=monitoring", "9090"},                          // monitoring: admin port only
	}
	if !slices.Equal(got, want) {
		t.Errorf("ingress %v, want %v", got, want)
	}
	if len(np.Spec.Egress) != 2 || np.Spec.Egress[0].To[0].PodSelector.MatchLabels["app"] != "api" ||
		np.Spec.Egress[0].Ports[0].Port.IntValue() != 9443 {
		t.Errorf("egress %+v, want the upstream's pods on 9443, then DNS", np.Spec.Egress)
	}
	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Labels: proxyService(tenant, nil).Labels}}
	if !proxystate.IsProxySlice(slice) {
		t.Fatal("the poller does not recognise the proxy Service's labels, which its EndpointSlices inherit")
	}
}

// TestVerificationReasonsDocumented: the README's condition table and docs/tls-upstreams.md
// name every reason of Verified and NoReadyEndpoints.
func TestVerificationReasonsDocumented(t *testing.T) {
	reasons := []string{v1alpha1.ReasonVerified, v1alpha1.ReasonAwaitingProxyReport, v1alpha1.ReasonProxyUnreachable,
		v1alpha1.ReasonReplicasDisagree, v1alpha1.ReasonVerificationFailed, v1alpha1.ReasonNoReadyEndpoints}
	for _, r := range verifiedReasons {
		reasons = append(reasons, r)
	}
	for _, doc := range []string{"../../README.md", "../../docs/tls-upstreams.md"} {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range reasons {
			if !strings.Contains(string(data), "`"+r+"`") {
				t.Errorf("%s does not name reason %s", doc, r)
			}
		}
	}
}
