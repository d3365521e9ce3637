package gatewaytenant

import (
	"crypto/x509"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
)

var policyEpoch = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// btlsEnv is the judge's view of namespace ns: Service "a" with port 8443 named https,
// BackendTLSPolicies served, the implementation's defaults; then tweaks.
func btlsEnv(tweaks ...func(*backendTLSEnv)) backendTLSEnv {
	env := backendTLSEnv{
		served: true, tenant: "my-api", plane: "envoy", settings: v1alpha1.BackendTLSPolicySettings{DefaultMinVersion: v1alpha1.TLSVersion12},
		services: map[string]*corev1.Service{"a": {Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "https", Port: 8443}}}}},
		own:      map[string]*gwapiv1.BackendTLSPolicy{},
	}
	for _, tw := range tweaks {
		tw(&env)
	}
	return env
}

// foreign is a BackendTLSPolicy nobody of the operator wrote, created at minute min, on
// Service a at section (empty: the whole Service).
func foreign(name string, minute int, section string) gwapiv1.BackendTLSPolicy {
	ref := gwapiv1.LocalPolicyTargetReferenceWithSectionName{LocalPolicyTargetReference: gwapiv1.LocalPolicyTargetReference{Kind: "Service", Name: "a"}}
	if section != "" {
		ref.SectionName = ptr.To(gwapiv1.SectionName(section))
	}
	return gwapiv1.BackendTLSPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", CreationTimestamp: metav1.NewTime(policyEpoch.Add(time.Duration(minute) * time.Minute))},
		Spec:       gwapiv1.BackendTLSPolicySpec{TargetRefs: []gwapiv1.LocalPolicyTargetReferenceWithSectionName{ref}},
	}
}

func TestRefusalInBackendTLSPolicyMode(t *testing.T) {
	own := foreign("my-api.a", 5, "https") // the tenant's, created at minute 5
	tests := []struct {
		desc     string
		tls      func(*v1alpha1.UpstreamTLS)
		env      func(*backendTLSEnv)
		reason   string
		contains []string
	}{
		{desc: "what a policy expresses is verified by the gateway", reason: v1alpha1.ReasonReady,
			contains: []string{`Service "a" port https directly`, `BackendTLSPolicy "my-api.a"`}},
		{desc: "a client certificate lives on the Gateway", tls: func(t *v1alpha1.UpstreamTLS) { t.ClientCertificateRef = &v1alpha1.SecretReference{Name: "c"} },
			reason: v1alpha1.ReasonNotExpressibleInBackendTLSPolicy, contains: []string{"tls.clientCertificateRef", `data plane "envoy"`, "spec.upstreamTLS.mode", "mode is Proxy"}},
		{desc: "a depth cannot be bounded", tls: func(t *v1alpha1.UpstreamTLS) { t.VerifyDepth = ptr.To[int32](2) },
			reason: v1alpha1.ReasonNotExpressibleInBackendTLSPolicy, contains: []string{"tls.verifyDepth"}},
		{desc: "every field is named at once", tls: func(t *v1alpha1.UpstreamTLS) {
			t.VerifyDepth, t.ClientCertificateRef = ptr.To[int32](0), &v1alpha1.SecretReference{Name: "c"}
		}, reason: v1alpha1.ReasonNotExpressibleInBackendTLSPolicy, contains: []string{"tls.verifyDepth", "tls.clientCertificateRef"}},
		{desc: "a minimum above the implementation's default, without an option", tls: func(t *v1alpha1.UpstreamTLS) { t.MinVersion = v1alpha1.TLSVersion13 },
			reason: v1alpha1.ReasonNotExpressibleInBackendTLSPolicy, contains: []string{"tls.minVersion 1.3", "accepts TLS 1.2 by default", "minVersionOption"}},
		{desc: "a minimum above the default, with the implementation's option", tls: func(t *v1alpha1.UpstreamTLS) { t.MinVersion = v1alpha1.TLSVersion13 },
			env: func(e *backendTLSEnv) { e.settings.MinVersionOption = "kgateway.dev/min-tls-version" }, reason: v1alpha1.ReasonReady},
		{desc: "a minimum the implementation applies by default", tls: func(t *v1alpha1.UpstreamTLS) { t.MinVersion = v1alpha1.TLSVersion13 },
			env: func(e *backendTLSEnv) { e.settings.DefaultMinVersion = v1alpha1.TLSVersion13 }, reason: v1alpha1.ReasonReady},
		{desc: "the operator's own well-known bundle", tls: func(t *v1alpha1.UpstreamTLS) {
			t.Validation = v1alpha1.UpstreamTLSValidation{WellKnownCACertificates: ptr.To(v1alpha1.WellKnownCAOpenShiftServiceCA)}
		}, reason: v1alpha1.ReasonNotExpressibleInBackendTLSPolicy, contains: []string{"gatewaytenant.io/openshift-service-ca", "caCertificateRefs"}},
		{desc: "System is the implementation's", tls: func(t *v1alpha1.UpstreamTLS) {
			t.Validation = v1alpha1.UpstreamTLSValidation{WellKnownCACertificates: ptr.To(gwapiv1.WellKnownCACertificatesSystem)}
		}, reason: v1alpha1.ReasonReady},
		{desc: "an unnamed Service port", env: func(e *backendTLSEnv) { e.services["a"].Spec.Ports[0].Name = "" },
			reason: v1alpha1.ReasonServicePortUnnamed, contains: []string{"port 8443 of Service \"a\" has no name", "sectionName", "name: https"}},
		{desc: "the API is not served", env: func(e *backendTLSEnv) { e.served = false },
			reason: v1alpha1.ReasonBackendTLSPolicyUnavailable, contains: []string{"gateway.networking.k8s.io/v1", "what it had stays", "restarts the operator"}},
		{desc: "an older foreign policy on the port", env: func(e *backendTLSEnv) { e.others = []gwapiv1.BackendTLSPolicy{foreign("theirs", 1, "https")} },
			reason: v1alpha1.ReasonConflicted, contains: []string{`BackendTLSPolicy "theirs"`, `Service "a" port https`, "never changes a policy it does not own"}},
		{desc: "an older foreign policy on the whole Service", env: func(e *backendTLSEnv) {
			e.own["a"] = &own
			e.others = []gwapiv1.BackendTLSPolicy{foreign("theirs", 1, "")}
		}, reason: v1alpha1.ReasonConflicted, contains: []string{`Service "a" (all its ports)`, "it is older (created 2026-11-22T12:01:00Z)"}},
		{desc: "the oldest foreign policy is named", env: func(e *backendTLSEnv) {
			e.others = []gwapiv1.BackendTLSPolicy{foreign("second", 2, "https"), foreign("first", 1, "")}
		}, reason: v1alpha1.ReasonConflicted, contains: []string{`"first"`}},
		{desc: "a tie of creation times goes to the name that sorts first", env: func(e *backendTLSEnv) {
			e.own["a"] = &own
			e.others = []gwapiv1.BackendTLSPolicy{foreign("aaa", 5, "https")}
		}, reason: v1alpha1.ReasonConflicted, contains: []string{"same second", "its name sorts first"}},
		{desc: "a newer foreign policy loses to the tenant's", env: func(e *backendTLSEnv) {
			e.own["a"] = &own
			e.others = []gwapiv1.BackendTLSPolicy{foreign("theirs", 9, "https")}
		}, reason: v1alpha1.ReasonReady},
		{desc: "a foreign policy on another port", env: func(e *backendTLSEnv) { e.others = []gwapiv1.BackendTLSPolicy{foreign("theirs", 1, "metrics")} },
			reason: v1alpha1.ReasonReady},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			u := tlsResult("a", 8443)
			if tt.tls != nil {
				tt.tls(u.upstream.TLS)
			}
			env := btlsEnv()
			if tt.env != nil {
				tt.env(&env)
			}
			plain := plainResult("p")
			got, direct := judgeInMode([]upstreamResult{plain, u}, env)
			if got[0].reason != v1alpha1.ReasonReady || len(got) != 2 {
				t.Fatalf("a plain upstream is not the judge's: %+v", got)
			}
			if got[1].reason != tt.reason {
				t.Fatalf("reason %s (%s), want %s", got[1].reason, got[1].detail, tt.reason)
			}
			for _, want := range tt.contains {
				if !strings.Contains(got[1].detail, want) {
					t.Errorf("detail %q lacks %q", got[1].detail, want)
				}
			}
			if wantDirect := tt.reason == v1alpha1.ReasonReady; (len(direct) == 1) != wantDirect {
				t.Errorf("direct %v, want the upstream verified by the gateway: %v", direct, wantDirect)
			}
		})
	}
}

// judgeInMode is what judgeUpstreams does with results that passed the Service checks, on a
// data plane in BackendTLSPolicy mode: the refusal, then the gateway's upstreams.
func judgeInMode(results []upstreamResult, env backendTLSEnv) ([]upstreamResult, []directUpstream) {
	judged := slices.Clone(results)
	for i, r := range judged {
		if r.valid() && r.upstream.TLS != nil {
			if reason, detail := env.refusal(r.upstream); reason != "" {
				judged[i].reason, judged[i].detail = reason, detail
			}
		}
	}
	return directUpstreams(judged, env)
}

func TestDirectUpstreamsLeaveRefusedUpstreamsAlone(t *testing.T) {
	broken := tlsResult("a", 8443)
	broken.reason, broken.detail = v1alpha1.ReasonInvalidCACertificateRef, `ConfigMap "ca" not found`
	got, direct := directUpstreams([]upstreamResult{broken}, btlsEnv())
	if got[0].reason != v1alpha1.ReasonInvalidCACertificateRef || got[0].detail != broken.detail || len(direct) != 0 {
		t.Errorf("a refused upstream changed: %+v, direct %v", got[0], direct)
	}
}

func TestDesiredBackendTLSPolicy(t *testing.T) {
	tenant := &v1alpha1.GatewayTenant{ObjectMeta: metav1.ObjectMeta{Name: "my-api", Namespace: "ns"}}
	u := tlsResult("a", 8443, func(t *v1alpha1.UpstreamTLS) {
		t.Validation.CACertificateRefs = []v1alpha1.CACertificateReference{{Name: "ca"}, {Kind: "Secret", Name: "ca2"}}
		t.Validation.SubjectAltNames = []gwapiv1.SubjectAltName{{Type: gwapiv1.URISubjectAltNameType, URI: "spiffe://cluster/ns/a"}}
		t.MinVersion = v1alpha1.TLSVersion13
	})
	d := directUpstream{upstreamResult: u, portName: "https"}

	p := desiredBackendTLSPolicy(tenant, d, v1alpha1.BackendTLSPolicySettings{DefaultMinVersion: v1alpha1.TLSVersion12})
	want := gwapiv1.BackendTLSPolicySpec{
		TargetRefs: []gwapiv1.LocalPolicyTargetReferenceWithSectionName{{
			LocalPolicyTargetReference: gwapiv1.LocalPolicyTargetReference{Group: "", Kind: "Service", Name: "a"},
			SectionName:                ptr.To(gwapiv1.SectionName("https")),
		}},
		Validation: gwapiv1.BackendTLSPolicyValidation{
			CACertificateRefs: []gwapiv1.LocalObjectReference{{Kind: "ConfigMap", Name: "ca"}, {Kind: "Secret", Name: "ca2"}},
			Hostname:          "a.ns.svc",
			SubjectAltNames:   u.upstream.TLS.Validation.SubjectAltNames,
		},
	}
	if !equality.Semantic.DeepEqual(p.Spec, want) {
		t.Errorf("spec:\n got %+v\nwant %+v", p.Spec, want)
	}
	if p.Name != "my-api.a" || p.Namespace != "ns" || p.Labels[v1alpha1.LabelTenant] != "my-api" || p.Labels[v1alpha1.LabelUpstream] != "a" ||
		p.Labels[v1alpha1.LabelManagedBy] != v1alpha1.ManagedByValue {
		t.Errorf("metadata %+v", p.ObjectMeta)
	}

	d.upstream.TLS.Validation.Hostname = ptr.To(gwapiv1.PreciseHostname("api.example"))
	p = desiredBackendTLSPolicy(tenant, d, v1alpha1.BackendTLSPolicySettings{DefaultMinVersion: v1alpha1.TLSVersion12, MinVersionOption: "kgateway.dev/min-tls-version"})
	if p.Spec.Validation.Hostname != "api.example" {
		t.Errorf("hostname %q, want the tenant's", p.Spec.Validation.Hostname)
	}
	if got := p.Spec.Options["kgateway.dev/min-tls-version"]; got != "1.3" || len(p.Spec.Options) != 1 {
		t.Errorf("options %v, want the minimum version under the implementation's key", p.Spec.Options)
	}
}

// ancestor is a report of controller example.com/gw on Gateway gw/<gateway> with conditions
// (type, status, reason) for generation gen.
func ancestor(gateway string, gen int64, conds ...[3]string) gwapiv1.PolicyAncestorStatus {
	a := gwapiv1.PolicyAncestorStatus{
		AncestorRef:    gwapiv1.ParentReference{Namespace: ptr.To(gwapiv1.Namespace("gw")), Name: gwapiv1.ObjectName(gateway)},
		ControllerName: "example.com/gw",
	}
	for _, c := range conds {
		a.Conditions = append(a.Conditions, metav1.Condition{Type: c[0], Status: metav1.ConditionStatus(c[1]), Reason: c[2], Message: "said " + c[2], ObservedGeneration: gen})
	}
	return a
}

func TestAncestorsCondition(t *testing.T) {
	accepted := [3]string{"Accepted", "True", "Accepted"}
	resolved := [3]string{"ResolvedRefs", "True", "ResolvedRefs"}
	tests := []struct {
		desc      string
		ancestors []gwapiv1.PolicyAncestorStatus
		nilPolicy bool
		status    metav1.ConditionStatus
		reason    string
		contains  string
	}{
		{desc: "not written yet", nilPolicy: true, status: metav1.ConditionUnknown, reason: v1alpha1.ReasonAwaitingImplementation, contains: "no Gateway API implementation"},
		{desc: "no implementation reported", status: metav1.ConditionUnknown, reason: v1alpha1.ReasonAwaitingImplementation, contains: "once a route"},
		{desc: "accepted and resolved", ancestors: []gwapiv1.PolicyAncestorStatus{ancestor("a", 2, accepted, resolved)},
			status: metav1.ConditionTrue, reason: v1alpha1.ReasonAccepted, contains: "Gateway gw/a (controller example.com/gw)"},
		{desc: "accepted, ResolvedRefs not reported", ancestors: []gwapiv1.PolicyAncestorStatus{ancestor("a", 2, accepted)},
			status: metav1.ConditionTrue, reason: v1alpha1.ReasonAccepted},
		{desc: "refused by one of two", ancestors: []gwapiv1.PolicyAncestorStatus{
			ancestor("a", 2, accepted, resolved), ancestor("b", 2, [3]string{"Accepted", "False", "Invalid"})},
			status: metav1.ConditionFalse, reason: "Invalid", contains: "Gateway gw/b (controller example.com/gw) refuses BackendTLSPolicy \"my-api.a\" (Accepted Invalid): said Invalid"},
		{desc: "a reference that does not resolve", ancestors: []gwapiv1.PolicyAncestorStatus{
			ancestor("a", 2, accepted, [3]string{"ResolvedRefs", "False", "InvalidCACertificateRef"})},
			status: metav1.ConditionFalse, reason: "InvalidCACertificateRef"},
		{desc: "a report on an older generation", ancestors: []gwapiv1.PolicyAncestorStatus{ancestor("a", 1, accepted, resolved)},
			status: metav1.ConditionUnknown, reason: v1alpha1.ReasonAwaitingImplementation, contains: "generation 2"},
		{desc: "an older refusal does not count", ancestors: []gwapiv1.PolicyAncestorStatus{ancestor("a", 1, [3]string{"Accepted", "False", "Invalid"})},
			status: metav1.ConditionUnknown, reason: v1alpha1.ReasonAwaitingImplementation},
		{desc: "a report without observedGeneration is current", ancestors: []gwapiv1.PolicyAncestorStatus{ancestor("a", 0, accepted, resolved)},
			status: metav1.ConditionTrue, reason: v1alpha1.ReasonAccepted},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			p := &gwapiv1.BackendTLSPolicy{ObjectMeta: metav1.ObjectMeta{Name: "my-api.a", Generation: 2}, Status: gwapiv1.PolicyStatus{Ancestors: tt.ancestors}}
			if tt.nilPolicy {
				p = nil
			}
			c := ancestorsCondition("my-api.a", p)
			if c.Status != tt.status || c.Reason != tt.reason || !strings.Contains(c.Message, tt.contains) || c.Type != v1alpha1.ConditionBackendTLSPolicyAccepted {
				t.Errorf("got %s %s %q, want %s %s containing %q", c.Status, c.Reason, c.Message, tt.status, tt.reason, tt.contains)
			}
		})
	}
}

func TestPolicyAcceptedConditionWaitsForTheCurrentSpec(t *testing.T) {
	tenant := &v1alpha1.GatewayTenant{ObjectMeta: metav1.ObjectMeta{Name: "my-api", Namespace: "ns"}}
	d := directUpstream{upstreamResult: tlsResult("a", 8443), portName: "https"}
	d.desired = desiredBackendTLSPolicy(tenant, d, v1alpha1.BackendTLSPolicySettings{})
	d.stored = d.desired.DeepCopy()
	d.stored.Generation = 1
	d.stored.Status.Ancestors = []gwapiv1.PolicyAncestorStatus{ancestor("a", 1, [3]string{"Accepted", "True", "Accepted"})}
	if c := policyAcceptedCondition(d); c.Status != metav1.ConditionTrue {
		t.Fatalf("stored as desired: %+v", c)
	}
	d.stored.Spec.Validation.Hostname = "old.example"
	if c := policyAcceptedCondition(d); c.Status != metav1.ConditionUnknown || !strings.Contains(c.Message, "being updated") {
		t.Errorf("a report on the policy before its update counts: %+v", c)
	}
}

func TestSplitPolicies(t *testing.T) {
	tenant := &v1alpha1.GatewayTenant{ObjectMeta: metav1.ObjectMeta{Name: "my-api", Namespace: "ns", UID: "t-1"}}
	owned := func(name string, labels map[string]string) gwapiv1.BackendTLSPolicy {
		p := foreign(name, 1, "https")
		p.Labels = labels
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: v1alpha1.GroupVersion.String(), Kind: "GatewayTenant", Name: "my-api", UID: "t-1", Controller: ptr.To(true)}}
		return p
	}
	all := []gwapiv1.BackendTLSPolicy{
		owned("my-api.a", upstreamLabels("my-api", "a")),
		owned("my-api.b", nil), // its labels removed by hand
		foreign("theirs", 1, "https"),
	}
	own, others := splitPolicies(tenant, all)
	if own["a"] == nil || own["b"] == nil || len(own) != 2 || len(others) != 1 || others[0].Name != "theirs" {
		t.Errorf("own %v, others %v", own, others)
	}
}

func TestModeSwitchKeepsTheOldPath(t *testing.T) {
	a, b := tlsResult("a", 8443), tlsResult("b", 9443)
	refusedB := refused(b, v1alpha1.ReasonNotExpressibleInBackendTLSPolicy, "verifyDepth")
	last := map[string]upstreamResult{"a": a, "b": b}

	t.Run("in BackendTLSPolicy mode the proxy keeps only what cannot move", func(t *testing.T) {
		kept := keptOnProxy([]upstreamResult{a, refusedB}, last)
		if len(kept) != 1 || kept[0].upstream.Name != "b" || !kept[0].valid() {
			t.Errorf("kept on the proxy: %+v", kept)
		}
	})
	t.Run("in Proxy mode the direct path stays until the proxy serves with every replica", func(t *testing.T) {
		tenant := tenantWith(a, b, plainResult("p"))
		own := map[string]*gwapiv1.BackendTLSPolicy{"a": {}, "b": {}, "p": {}}
		rolling := proxyDeploymentWith(2, 2, 1, 1)
		done := proxyDeploymentWith(2, 2, 2, 2)
		for _, c := range []struct {
			desc string
			dep  *appsv1.Deployment
			last map[string]upstreamResult
			want []string
		}{
			{"no proxy yet", nil, nil, []string{"a", "b"}},
			{"the proxy rolls out", rolling, last, []string{"a", "b"}},
			{"rolled out, serving a only", done, map[string]upstreamResult{"a": a}, []string{"b"}},
			{"rolled out, serving both", done, last, nil},
		} {
			dep := c.dep
			got := keptDirect(tenant, own, dep, c.last)
			if len(got) != len(c.want) {
				t.Errorf("%s: kept %v, want %v", c.desc, got, c.want)
			}
			for _, n := range c.want {
				if !got[n] {
					t.Errorf("%s: kept %v, want %v", c.desc, got, c.want)
				}
			}
		}
	})
}

// judgedInMode is tenant my-api in namespace ns with a plain upstream p and TLS upstreams a
// (Service port https) and b (unnamed port), judged on a data plane in BackendTLSPolicy mode
// whose BackendTLSPolicies are served, with stored as the namespace's policies.
func judgedInMode(t *testing.T, stored ...gwapiv1.BackendTLSPolicy) (*v1alpha1.GatewayTenant, *observation) {
	t.Helper()
	root, err := pki.NewRoot("upstream root")
	if err != nil {
		t.Fatal(err)
	}
	tenant := &v1alpha1.GatewayTenant{ObjectMeta: metav1.ObjectMeta{Name: "my-api", Namespace: "ns", UID: "t-1", Generation: 3}}
	svc := func(portName string) *corev1.Service {
		return &corev1.Service{Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "x"},
			Ports: []corev1.ServicePort{{Name: portName, Port: 8443, TargetPort: intstr.FromInt32(9443)}}}}
	}
	obs := &observation{now: time.Now(), generation: 3, expiryWarning: time.Hour, backendTLSServed: true, backendTLSPolicies: stored,
		services: map[string]*corev1.Service{"p": svc("http"), "a": svc("https"), "b": svc("")},
		certs:    map[string]certMaterial{}, endpoints: map[string]int{"p": 1},
		planes: []v1alpha1.GatewayDataPlane{plane("envoy", true, "test")}}
	obs.planes[0].Spec.UpstreamTLS = &v1alpha1.UpstreamTLSSpec{Mode: v1alpha1.UpstreamTLSModeBackendTLSPolicy}
	for _, name := range []string{"p", "a", "b"} {
		u := v1alpha1.Upstream{Name: name, Host: name + ".ns.svc", Port: 8443}
		if name != "p" {
			u.TLS = &v1alpha1.UpstreamTLS{Validation: v1alpha1.UpstreamTLSValidation{CACertificateRefs: []v1alpha1.CACertificateReference{{Name: "ca"}}}}
			obs.certs[name] = certMaterial{cas: []objectRead{{found: true, hasKey: true, certs: []*x509.Certificate{root.Cert}}}}
		}
		tenant.Spec.Upstreams = append(tenant.Spec.Upstreams, u)
	}
	obs.judge(tenant)
	return tenant, obs
}

// ownPolicy is what the tenant's policy of upstream a looks like once written, with the
// implementation's report.
func ownPolicy(tenant *v1alpha1.GatewayTenant, obs *observation, ancestors ...gwapiv1.PolicyAncestorStatus) gwapiv1.BackendTLSPolicy {
	p := obs.directAs("a").desired.DeepCopy()
	p.Generation = 2
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: v1alpha1.GroupVersion.String(), Kind: "GatewayTenant", Name: tenant.Name, UID: tenant.UID, Controller: ptr.To(true)}}
	p.Status.Ancestors = ancestors
	return *p
}

func TestStatusInBackendTLSPolicyMode(t *testing.T) {
	tenant, obs := judgedInMode(t)
	if len(obs.served) != 0 || obs.proxyNeeded() || len(obs.direct) != 1 {
		t.Fatalf("served %v, direct %v: want no proxy and a verified by the gateway", obs.served, obs.direct)
	}
	st := computeStatus(&v1alpha1.GatewayTenantStatus{}, obs, outcomeWith(), tenant.Name)
	cond := func(typ string) *metav1.Condition { return meta.FindStatusCondition(st.Conditions, typ) }
	if c := cond(v1alpha1.ConditionProxyReady); c.Status != metav1.ConditionTrue || c.Reason != v1alpha1.ReasonNotRequired || !strings.Contains(c.Message, "BackendTLSPolicies") {
		t.Errorf("ProxyReady %+v", c)
	}
	if c := cond(v1alpha1.ConditionBackendTLSPolicyReady); c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "[my-api.a]") {
		t.Errorf("BackendTLSPolicyReady %+v", c)
	}
	a, b := st.Upstreams[1], st.Upstreams[2]
	if a.GatewayHost != "a.ns.svc" || a.GatewayPort != 8443 {
		t.Errorf("the gateway calls %s:%d, want the upstream's Service", a.GatewayHost, a.GatewayPort)
	}
	if c := meta.FindStatusCondition(a.Conditions, v1alpha1.ConditionBackendTLSPolicyAccepted); c == nil || c.Status != metav1.ConditionUnknown {
		t.Errorf("BackendTLSPolicyAccepted before any report: %+v", c)
	}
	if c := meta.FindStatusCondition(b.Conditions, v1alpha1.ConditionReady); c.Reason != v1alpha1.ReasonServicePortUnnamed || b.GatewayHost != "" {
		t.Errorf("upstream b: %+v at %q", c, b.GatewayHost)
	}
	if !strings.Contains(st.Conditions[0].Message+cond(v1alpha1.ConditionResolvedRefs).Message, "has no name") {
		t.Errorf("ResolvedRefs does not say why b is refused: %+v", cond(v1alpha1.ConditionResolvedRefs))
	}

	t.Run("an implementation's refusal is the tenant's Ready, with its reason", func(t *testing.T) {
		tenant.Spec.Upstreams = tenant.Spec.Upstreams[:2] // without b
		refusedBy := ancestor("eg", 2, [3]string{"Accepted", "False", "NoValidCACertificate"})
		obs.backendTLSPolicies = []gwapiv1.BackendTLSPolicy{ownPolicy(tenant, obs, refusedBy)}
		obs.judge(tenant)
		st := computeStatus(&v1alpha1.GatewayTenantStatus{}, obs, outcomeWith(), tenant.Name)
		ready := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionReady)
		if ready.Status != metav1.ConditionFalse || ready.Reason != "NoValidCACertificate" || !strings.Contains(ready.Message, "Gateway gw/eg") {
			t.Errorf("Ready %+v", ready)
		}
		accepted := meta.FindStatusCondition(st.Upstreams[1].Conditions, v1alpha1.ConditionBackendTLSPolicyAccepted)
		if accepted.Status != metav1.ConditionFalse || accepted.Reason != "NoValidCACertificate" {
			t.Errorf("BackendTLSPolicyAccepted %+v", accepted)
		}

		obs.backendTLSPolicies = []gwapiv1.BackendTLSPolicy{ownPolicy(tenant, obs, ancestor("eg", 2, [3]string{"Accepted", "True", "Accepted"}, [3]string{"ResolvedRefs", "True", "ResolvedRefs"}))}
		obs.judge(tenant)
		st = computeStatus(&st, obs, outcomeWith(), tenant.Name)
		if ready := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionReady); ready.Status != metav1.ConditionTrue ||
			!strings.Contains(ready.Message, "all 2 upstreams are reachable") {
			t.Errorf("Ready once accepted: %+v", ready)
		}
	})
}

func TestGatewayConfigOfAnUpstreamTheGatewayVerifies(t *testing.T) {
	gs := &v1alpha1.GatewayServiceSpec{Format: v1alpha1.GatewayServiceFormatGWA, NamespaceTag: "ns.{gatewayID}", Protocol: "http"}
	upstreams := []v1alpha1.UpstreamStatus{
		{Name: "plain", GatewayHost: "plain.ns.svc", GatewayPort: 8080},
		{Name: "secure", GatewayHost: "secure.ns.svc", GatewayPort: 8443, Conditions: []metav1.Condition{{Type: v1alpha1.ConditionBackendTLSPolicyAccepted}}},
	}
	got := gatewayServices(gs, "gw-1", nil, upstreams)
	if got[0].Protocol != "http" || got[1].Protocol != "https" || got[1].Host != "secure.ns.svc" {
		t.Errorf("services %+v: the gateway speaks TLS to an upstream it verifies", got)
	}
}
