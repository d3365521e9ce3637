package gatewaytenant

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

var statusNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// plainResult is a valid plain upstream name on port 80 of its Service.
func plainResult(name string) upstreamResult {
	return upstreamResult{upstream: v1alpha1.Upstream{Name: name, Host: name + ".ns.svc", Port: 80}, reason: v1alpha1.ReasonReady,
		detail: "reachable", podSelector: map[string]string{"name": name}}
}

// refused is r refused with reason.
func refused(r upstreamResult, reason, detail string) upstreamResult {
	r.reason, r.detail, r.podSelector, r.ports = reason, detail, nil, nil
	return r
}

// observed is what judge makes of tenant my-api in namespace ns with these upstreams: its data
// plane resolved, the proxy serving its valid TLS upstreams (and those of last, at their last
// good spec), the Services of plain ones with one ready endpoint; then tweaks.
func observed(results []upstreamResult, last []upstreamResult, tweaks ...func(*observation)) *observation {
	lastGood := map[string]upstreamResult{}
	for _, l := range last {
		lastGood[l.upstream.Name] = l
	}
	obs := &observation{generation: 7, now: statusNow, expiryWarning: 30 * 24 * time.Hour, upstreams: results,
		dataPlane: resolveDataPlane(&v1alpha1.GatewayTenantSpec{}, []v1alpha1.GatewayDataPlane{plane("aps-silver", true, "test", "prod")}),
		endpoints: map[string]int{}, proxyHost: "my-api-proxy.ns.svc"}
	for _, r := range results {
		svc, _ := splitHost(r.upstream.Host)
		obs.endpoints[svc] = 1
	}
	obs.served = proxyUpstreams(tenantWith(results...), withLastGood(results, lastGood))
	for _, tw := range tweaks {
		tw(obs)
	}
	return obs
}

// available is the proxy Deployment as stored, all replicas of its latest generation up.
func available(o *outcome) { o.deployment = proxyDeploymentWith(2, 2, 2, 2) }

func outcomeWith(tweaks ...func(*outcome)) *outcome {
	o := &outcome{}
	for _, tw := range tweaks {
		tw(o)
	}
	return o
}

func conditionOf(t *testing.T, st v1alpha1.GatewayTenantStatus, typ string) metav1.Condition {
	t.Helper()
	c := meta.FindStatusCondition(st.Conditions, typ)
	if c == nil {
		t.Fatalf("no %s condition", typ)
	}
	return *c
}

func TestComputeStatusReadyFollowsTheFirstFailingCondition(t *testing.T) {
	good, goodTLS := plainResult("a"), tlsResult("s", 8443)
	bad := refused(plainResult("b"), v1alpha1.ReasonPortNotFound, "port")
	cases := []struct {
		desc       string
		obs        *observation
		out        *outcome
		wantReady  metav1.ConditionStatus
		wantReason string
	}{
		{"all good", observed([]upstreamResult{good}, nil), outcomeWith(), metav1.ConditionTrue, v1alpha1.ReasonReady},
		{"data plane first", observed([]upstreamResult{bad}, nil, func(o *observation) {
			o.dataPlane = resolveDataPlane(&v1alpha1.GatewayTenantSpec{DataPlane: "x"}, nil)
		}), outcomeWith(), metav1.ConditionFalse, v1alpha1.ReasonDataPlaneNotFound},
		{"then upstreams", observed([]upstreamResult{good, bad}, nil), outcomeWith(), metav1.ConditionFalse, v1alpha1.ReasonInvalidUpstreams},
		{"then writing policies", observed([]upstreamResult{good}, nil),
			outcomeWith(func(o *outcome) {
				o.failed = []failure{{child: "NetworkPolicy p", part: partPolicies, err: errors.New("boom")}}
			}),
			metav1.ConditionFalse, v1alpha1.ReasonApplyFailed},
		{"then the proxy", observed([]upstreamResult{goodTLS}, nil),
			outcomeWith(func(o *outcome) { o.deployment = proxyDeploymentWith(2, 2, 2, 0) }), metav1.ConditionFalse, v1alpha1.ReasonProxyProgressing},
		{"then writing the proxy", observed([]upstreamResult{goodTLS}, nil),
			outcomeWith(available, func(o *outcome) { o.failed = []failure{{child: "Service p", part: partProxy, err: errors.New("boom")}} }),
			metav1.ConditionFalse, v1alpha1.ReasonApplyFailed},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			st := computeStatus(&v1alpha1.GatewayTenantStatus{}, c.obs, c.out, "my-api")
			ready := conditionOf(t, st, v1alpha1.ConditionReady)
			if ready.Status != c.wantReady || ready.Reason != c.wantReason {
				t.Fatalf("Ready %s/%s (%s), want %s/%s", ready.Status, ready.Reason, ready.Message, c.wantReady, c.wantReason)
			}
			for _, cond := range st.Conditions {
				if cond.ObservedGeneration != 7 {
					t.Errorf("%s has observedGeneration %d", cond.Type, cond.ObservedGeneration)
				}
			}
			for _, u := range st.Upstreams {
				if valid := u.Name != "b"; (u.GatewayHost != "") != valid {
					t.Errorf("upstream %s gatewayHost %q", u.Name, u.GatewayHost)
				}
			}
		})
	}
}

func TestComputeStatusKeepsTransitionTimesOfUnchangedConditions(t *testing.T) {
	obs := observed([]upstreamResult{plainResult("a")}, nil)
	first := computeStatus(&v1alpha1.GatewayTenantStatus{}, obs, outcomeWith(), "my-api")
	past := metav1.NewTime(statusNow.Add(-time.Hour))
	for i := range first.Conditions {
		first.Conditions[i].LastTransitionTime = past
	}
	second := computeStatus(&first, obs, outcomeWith(), "my-api")
	for _, c := range second.Conditions {
		if !c.LastTransitionTime.Equal(&past) {
			t.Errorf("%s transition time moved", c.Type)
		}
	}
}

// proxyDeploymentWith is a proxy Deployment at generation 2 wanting replicas, whose status has
// seen observedGeneration and has updated and available replicas.
func proxyDeploymentWith(replicas int32, observed int64, updated, available int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "my-api-proxy", Generation: 2},
		Spec:       appsv1.DeploymentSpec{Replicas: &replicas},
		Status:     appsv1.DeploymentStatus{ObservedGeneration: observed, UpdatedReplicas: updated, AvailableReplicas: available},
	}
}

// ProxyReady: True while the gateway's traffic gets through the proxy, rolling updates
// included; a message that says what is rolling, never "2 of 2 available" while it does.
func TestProxyReadyCondition(t *testing.T) {
	plain, secure := plainResult("p"), tlsResult("t", 8443)
	badTLS := refused(tlsResult("t", 8443), v1alpha1.ReasonInvalidCACertificateRef, "no CA")
	deployment := func(d *appsv1.Deployment) func(*outcome) { return func(o *outcome) { o.deployment = d } }
	for _, c := range []struct {
		desc        string
		obs         *observation
		out         *outcome
		wantStatus  metav1.ConditionStatus
		wantReason  string
		wantMessage string
	}{
		{"every replica of the latest generation available", observed([]upstreamResult{plain, secure}, nil), outcomeWith(available),
			metav1.ConditionTrue, v1alpha1.ReasonReady, "proxy Deployment my-api-proxy: 2 replicas available"},
		{"no TLS upstream", observed([]upstreamResult{plain}, nil), outcomeWith(), metav1.ConditionTrue, v1alpha1.ReasonNotRequired, ""},
		{"no valid TLS upstream", observed([]upstreamResult{badTLS}, nil), outcomeWith(), metav1.ConditionFalse, v1alpha1.ReasonNoValidUpstreams, ""},
		{"Deployment not written", observed([]upstreamResult{secure}, nil), outcomeWith(), metav1.ConditionFalse, v1alpha1.ReasonProxyProgressing,
			"not written yet"},
		{"not written: as it stands", observed([]upstreamResult{secure}, nil, func(o *observation) { o.deployment = proxyDeploymentWith(2, 2, 2, 2) }),
			outcomeWith(), metav1.ConditionTrue, v1alpha1.ReasonReady, ""},
		{"new generation not yet observed, the old replicas serve", observed([]upstreamResult{secure}, nil),
			outcomeWith(deployment(proxyDeploymentWith(2, 1, 2, 2))), metav1.ConditionTrue, v1alpha1.ReasonProxyProgressing,
			"rolls out a change the Deployment controller has not picked up yet; 2 replicas of the previous one available"},
		{"rolling: one replica updated", observed([]upstreamResult{secure}, nil),
			outcomeWith(deployment(proxyDeploymentWith(2, 2, 1, 2))), metav1.ConditionTrue, v1alpha1.ReasonProxyProgressing,
			"rolls out: 1 of 2 replicas updated, 2 available"},
		{"updated, one available", observed([]upstreamResult{secure}, nil),
			outcomeWith(deployment(proxyDeploymentWith(2, 2, 2, 1))), metav1.ConditionTrue, v1alpha1.ReasonProxyProgressing, "1 of 2 replicas available"},
		{"none available", observed([]upstreamResult{secure}, nil),
			outcomeWith(deployment(proxyDeploymentWith(2, 2, 2, 0))), metav1.ConditionFalse, v1alpha1.ReasonProxyProgressing, "0 of 2 replicas available"},
		{"size refused", observed([]upstreamResult{secure}, nil),
			outcomeWith(available, func(o *outcome) {
				o.sizeRefused = errors.New("spec.proxy.replicas: 8 is above the platform's maximum of 4")
			}),
			metav1.ConditionFalse, v1alpha1.ReasonProxySizeNotAllowed, "maximum of 4; the proxy keeps the size it had"},
		{"image held back", observed([]upstreamResult{secure}, nil),
			outcomeWith(available, func(o *outcome) { o.held = &outdated{image: "op:1", want: "op:2"} }),
			metav1.ConditionTrue, v1alpha1.ReasonProxyOutdated, "still runs op:1; its upgrade to op:2 waits its turn"},
	} {
		t.Run(c.desc, func(t *testing.T) {
			got := proxyReadyCondition(c.obs, c.out)
			if got.Status != c.wantStatus || got.Reason != c.wantReason || !strings.Contains(got.Message, c.wantMessage) {
				t.Fatalf("ProxyReady %s/%s %q, want %s/%s with %q", got.Status, got.Reason, got.Message, c.wantStatus, c.wantReason, c.wantMessage)
			}
			if got.Reason == v1alpha1.ReasonProxyProgressing && regexp.MustCompile(`(\d+) of (\d+) replicas updated and available`).MatchString(got.Message) {
				t.Errorf("a rolling proxy's message %q says it is complete", got.Message)
			}
			ready := readyCondition([]metav1.Condition{got}, nil)
			if ready.Status != got.Status {
				t.Errorf("Ready %s while ProxyReady %s: Ready follows whether the traffic gets through", ready.Status, got.Status)
			}
		})
	}
}

// An upstream whose new spec is refused while its last good spec serves keeps where the
// gateway reaches it, says so and why, and counts for NetworkPolicyReady.
func TestStatusOfAnUpstreamKeptAtItsLastGoodSpec(t *testing.T) {
	one, two := tlsResult("one", 8443), tlsResult("two", 9443)
	twoNow := refused(two, v1alpha1.ReasonInvalidCACertificateRef, `ConfigMap "upstream-cq" not found`)
	web := plainResult("web")
	webNow := refused(web, v1alpha1.ReasonServiceNotFound, `Service "web" not found in namespace "ns"`)
	kept := func(o *observation) {
		o.policies = []networkingv1.NetworkPolicy{{ObjectMeta: metav1.ObjectMeta{Name: networkPolicyName("my-api", "web")}}}
	}
	old := &v1alpha1.GatewayTenantStatus{Upstreams: []v1alpha1.UpstreamStatus{{Name: "web", GatewayHost: "web.ns.svc", GatewayPort: 80}}}
	st := computeStatus(old, observed([]upstreamResult{one, twoNow, webNow}, []upstreamResult{two}, kept), outcomeWith(available), "my-api")

	for _, want := range []struct {
		name, host string
		port       int32
		message    string
	}{
		{"two", "my-api-proxy.ns.svc", 9443, `upstream "two": its new spec is refused: ConfigMap "upstream-cq" not found. ` +
			"It keeps its last good spec, which the gateway reaches at my-api-proxy.ns.svc:9443"},
		{"web", "web.ns.svc", 80, `upstream "web": its new spec is refused: Service "web" not found in namespace "ns". ` +
			"It keeps its last good spec, which the gateway reaches at web.ns.svc:80"},
	} {
		us := st.Upstreams[map[string]int{"two": 1, "web": 2}[want.name]]
		c := meta.FindStatusCondition(us.Conditions, v1alpha1.ConditionReady)
		if us.GatewayHost != want.host || us.GatewayPort != want.port || c.Status != metav1.ConditionFalse || c.Message != want.message {
			t.Errorf("%s: at %s:%d, Ready %s %q\nwant at %s:%d, False %q", want.name, us.GatewayHost, us.GatewayPort, c.Status, c.Message,
				want.host, want.port, want.message)
		}
	}
	np := conditionOf(t, st, v1alpha1.ConditionNetworkPolicyReady)
	if np.Status != metav1.ConditionTrue || !strings.HasSuffix(np.Message, "may reach upstreams [one, two (last good spec), web (last good spec)]") {
		t.Errorf("NetworkPolicyReady %s %q", np.Status, np.Message)
	}
	if r := conditionOf(t, st, v1alpha1.ConditionReady); r.Reason != v1alpha1.ReasonInvalidUpstreams {
		t.Errorf("Ready %s: the refused specs are still to fix", r.Reason)
	}

	// A plain upstream whose policy is gone is not kept.
	st = computeStatus(old, observed([]upstreamResult{webNow}, nil), outcomeWith(), "my-api")
	if us := st.Upstreams[0]; us.GatewayHost != "" {
		t.Errorf("a plain upstream without its policy is reached at %s", us.GatewayHost)
	}
	if np := conditionOf(t, st, v1alpha1.ConditionNetworkPolicyReady); np.Reason != v1alpha1.ReasonNoValidUpstreams {
		t.Errorf("NetworkPolicyReady %s with nothing served", np.Reason)
	}
}
