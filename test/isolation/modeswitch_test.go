package isolation

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/controlplane"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/manager"
)

const switchNS = "mno345-prod"

// TestModeSwitchLeavesNoGap switches the data plane of a TLS tenant from Proxy to
// BackendTLSPolicy and back, records every NetworkPolicy and BackendTLSPolicy the operator
// writes and deletes in the tenant's namespace meanwhile (one watch each, merged in the order
// of the API server's resourceVersions, which etcd's revisions order across kinds), and has
// the engine judge every state in between, under a default deny of all ingress and egress:
//
//   - the gateway always reaches the upstream by one path: through the proxy (gateway to the
//     proxy's listener, and the proxy to the upstream's pods), or directly while a
//     BackendTLSPolicy has it verify the upstream;
//   - the gateway never reaches the pods directly without such a policy, nor anything else.
func TestModeSwitchLeavesNoGap(t *testing.T) {
	createNamespaces(t, map[string]map[string]string{
		"264e6f-prod": {"environment": "prod", "name": "264e6f"},
		"evil-ns":     {"environment": "prod", "name": "264e6f"}, // labels copied from the gateway's
		switchNS:      {"environment": "prod", "name": "mno345"},
		"kube-system": nil,
	})
	plane := &v1alpha1.GatewayDataPlane{
		ObjectMeta: metav1.ObjectMeta{Name: "switching"},
		Spec: v1alpha1.GatewayDataPlaneSpec{Environments: []v1alpha1.DataPlaneEnvironment{{
			Name:              "prod",
			NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"environment": "prod", "name": "264e6f"}},
			NamespaceNames:    []string{"264e6f-prod"},
		}}},
	}
	if err := k8sClient.Create(ctx, plane); err != nil {
		t.Fatal(err)
	}
	tenant := setUpTenant(t, switchNS, func(t *v1alpha1.GatewayTenant) {
		t.Spec.DataPlane = plane.Name
		t.Spec.Upstreams = t.Spec.Upstreams[1:] // the TLS upstream
	})
	tenantPolicies(t, tenant)
	proxy := peer{switchNS, proxyPodLabels(t, tenant)}
	w := &world{proxy: proxy, listen: proxyListenPort(t, tenant),
		secure:  peer{switchNS, map[string]string{"app": "tls-api"}},
		gateway: peer{"264e6f-prod", map[string]string{"app": "envoy"}}}
	available(t, tenant)
	eventually(t, "the tenant Ready on the proxy", func() bool { return conditionTrue(tenant, v1alpha1.ConditionReady) })

	rec := record(t, switchNS)
	setMode(t, plane, v1alpha1.UpstreamTLSModeBackendTLSPolicy)
	eventually(t, "the gateway verifying, the proxy gone", func() bool {
		return exists(&gwapiv1.BackendTLSPolicy{}, "my-api.tls-api") && !exists(&appsv1.Deployment{}, "my-api-proxy") &&
			slices.Equal(names(t), []string{"my-api.tls-api-from-gateway"})
	})
	setMode(t, plane, v1alpha1.UpstreamTLSModeProxy)
	eventually(t, "the proxy Deployment back", func() bool { return exists(&appsv1.Deployment{}, "my-api-proxy") })
	available(t, tenant) // the Deployment controller and the kubelet, which envtest lacks
	proxyAlone := func(s state) bool {
		return len(s.tlsPolicies) == 0 && slices.Equal(slices.Sorted(maps.Keys(s.policies)), []string{"my-api-proxy", "my-api.tls-api-from-proxy"})
	}
	states := rec.stop(t, "the proxy alone again", proxyAlone)

	var sawProxy, sawDirect, sawBoth bool
	for i, s := range states {
		viaProxy, direct, problems := w.judge(t, s)
		for _, p := range problems {
			t.Errorf("state %d of %d (after %s): %s", i, len(states)-1, s.after, p)
		}
		sawProxy, sawDirect, sawBoth = sawProxy || viaProxy && !direct, sawDirect || direct && !viaProxy, sawBoth || viaProxy && direct
	}
	if !sawProxy || !sawDirect || !sawBoth {
		t.Errorf("the states recorded do not span the switch: proxy only %v, direct only %v, both %v (%d states)", sawProxy, sawDirect, sawBoth, len(states))
	}
	t.Logf("judged %d states of the tenant's namespace across both switches", len(states))
}

// world is who talks to whom in the namespace being switched.
type world struct {
	proxy, secure, gateway peer
	listen                 int
}

// judge says whether the gateway reaches the TLS upstream through the proxy, and directly with
// a BackendTLSPolicy in place, in state s, and what is wrong with s.
func (w *world) judge(t *testing.T, s state) (viaProxy, direct bool, problems []string) {
	policies := []*networkingv1.NetworkPolicy{{
		ObjectMeta: metav1.ObjectMeta{Name: "default-deny", Namespace: switchNS},
		Spec:       networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}},
	}}
	for _, np := range s.policies {
		policies = append(policies, np)
	}
	engine := matcher.BuildNetworkPolicies(true, policies)
	allowed := func(from, to peer, port int) bool {
		return engine.IsTrafficAllowed(&matcher.Traffic{
			Source:       &matcher.TrafficPeer{Internal: internal(t, from), IP: "10.0.0.1"},
			Destination:  &matcher.TrafficPeer{Internal: internal(t, to), IP: "10.0.0.2"},
			ResolvedPort: port, Protocol: corev1.ProtocolTCP,
		}).IsAllowed()
	}
	viaProxy = allowed(w.gateway, w.proxy, w.listen) && allowed(w.proxy, w.secure, 9443)
	reachesPods := allowed(w.gateway, w.secure, 9443)
	verified := s.verifies("tls-api", "api")
	direct = reachesPods && verified
	if !viaProxy && !direct {
		problems = append(problems, fmt.Sprintf("the gateway reaches the upstream by no path (pods directly: %v, BackendTLSPolicy: %v)", reachesPods, verified))
	}
	if reachesPods && !verified {
		problems = append(problems, "the gateway reaches the upstream's pods directly while no BackendTLSPolicy has it verify them")
	}
	copied := peer{"evil-ns", map[string]string{"app": "envoy"}}
	batch := peer{switchNS, map[string]string{"app": "batch"}}
	for _, c := range []struct {
		desc     string
		from, to peer
		port     int
	}{
		{"the gateway, the proxy's admin port", w.gateway, w.proxy, 9090},
		{"the gateway, another port of the upstream", w.gateway, w.secure, 9444},
		{"the gateway, another pod of the namespace", w.gateway, batch, 9443},
		{"copied labels, the upstream", copied, w.secure, 9443},
		{"copied labels, the proxy", copied, w.proxy, w.listen},
		{"another pod of the namespace, the upstream", batch, w.secure, 9443},
		{"the proxy, another pod of the namespace", w.proxy, batch, 9443},
	} {
		if allowed(c.from, c.to, c.port) {
			problems = append(problems, c.desc+" is allowed")
		}
	}
	return viaProxy, direct, problems
}

// state is the tenant's namespace as the API server held it at one resourceVersion: its
// NetworkPolicies and BackendTLSPolicies, and the event that made it.
type state struct {
	after       string
	policies    map[string]*networkingv1.NetworkPolicy
	tlsPolicies map[string]*gwapiv1.BackendTLSPolicy
}

// verifies says whether a BackendTLSPolicy targets the Service's port (or the whole Service).
func (s state) verifies(service, port string) bool {
	for _, p := range s.tlsPolicies {
		for _, r := range p.Spec.TargetRefs {
			if r.Kind == "Service" && string(r.Name) == service && (r.SectionName == nil || string(*r.SectionName) == port) {
				return true
			}
		}
	}
	return false
}

// recording is every change of the NetworkPolicies and BackendTLSPolicies of a namespace
// from one resourceVersion on.
type recording struct {
	start  state
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	events []change
}

type change struct {
	rv   uint64
	kind watch.EventType
	obj  client.Object
}

// record lists the namespace's policies and watches them from there.
func record(t *testing.T, ns string) *recording {
	t.Helper()
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recording{start: state{after: "the start", policies: map[string]*networkingv1.NetworkPolicy{}, tlsPolicies: map[string]*gwapiv1.BackendTLSPolicy{}}}
	nps, tls := &networkingv1.NetworkPolicyList{}, &gwapiv1.BackendTLSPolicyList{}
	wctx, cancel := context.WithCancel(ctx)
	rec.cancel = cancel
	for _, list := range []client.ObjectList{nps, tls} {
		if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		wi, err := c.Watch(wctx, list, client.InNamespace(ns), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.GetResourceVersion()}})
		if err != nil {
			t.Fatal(err)
		}
		rec.wg.Add(1)
		go func() {
			defer rec.wg.Done()
			defer wi.Stop()
			for {
				select {
				case <-wctx.Done():
					return
				case e, ok := <-wi.ResultChan():
					if !ok {
						return
					}
					obj, isObj := e.Object.(client.Object)
					if !isObj || e.Type == watch.Error || e.Type == watch.Bookmark {
						t.Errorf("watch: %v %v", e.Type, e.Object)
						continue
					}
					rv, _ := strconv.ParseUint(obj.GetResourceVersion(), 10, 64)
					rec.mu.Lock()
					rec.events = append(rec.events, change{rv: rv, kind: e.Type, obj: obj})
					rec.mu.Unlock()
				}
			}
		}()
	}
	for i := range nps.Items {
		rec.start.policies[nps.Items[i].Name] = &nps.Items[i]
	}
	for i := range tls.Items {
		rec.start.tlsPolicies[tls.Items[i].Name] = &tls.Items[i]
	}
	return rec
}

// stop waits until the last state recorded is final, ends the watches, and returns every
// state from the start on.
func (r *recording) stop(t *testing.T, what string, final func(state) bool) []state {
	t.Helper()
	var states []state
	eventually(t, what, func() bool {
		states = r.replay()
		return final(states[len(states)-1])
	})
	r.cancel()
	r.wg.Wait()
	return r.replay()
}

// replay applies the changes recorded so far, in the order of their resourceVersions, to the
// start: every state in between.
func (r *recording) replay() []state {
	r.mu.Lock()
	events := slices.Clone(r.events)
	r.mu.Unlock()
	slices.SortStableFunc(events, func(a, b change) int { return cmp.Compare(a.rv, b.rv) })
	states := []state{r.start}
	for _, e := range events {
		s := state{policies: clonedMap(states[len(states)-1].policies), tlsPolicies: clonedMap(states[len(states)-1].tlsPolicies)}
		name := e.obj.GetName()
		switch o := e.obj.(type) {
		case *networkingv1.NetworkPolicy:
			replayed(s.policies, name, o, e.kind)
		case *gwapiv1.BackendTLSPolicy:
			replayed(s.tlsPolicies, name, o, e.kind)
		}
		s.after = fmt.Sprintf("%s %T %s", strings.ToLower(string(e.kind)), e.obj, name)
		states = append(states, s)
	}
	return states
}

// replayed applies one change of an object to m.
func replayed[T any](m map[string]*T, name string, o *T, kind watch.EventType) {
	if kind == watch.Deleted {
		delete(m, name)
		return
	}
	m[name] = o
}

func clonedMap[T any](m map[string]*T) map[string]*T { return maps.Clone(m) }

// setMode sets the data plane's spec.upstreamTLS.mode.
func setMode(t *testing.T, plane *v1alpha1.GatewayDataPlane, mode v1alpha1.UpstreamTLSMode) {
	t.Helper()
	eventually(t, "the data plane's mode "+string(mode), func() bool {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(plane), plane); err != nil {
			return false
		}
		plane.Spec.UpstreamTLS = &v1alpha1.UpstreamTLSSpec{Mode: mode}
		return k8sClient.Update(ctx, plane) == nil
	})
}

// available marks the tenant's proxy Deployment available.
func available(t *testing.T, tenant *v1alpha1.GatewayTenant) {
	t.Helper()
	key := client.ObjectKey{Namespace: tenant.Namespace, Name: tenant.Name + "-proxy"}
	eventually(t, "the proxy Deployment available", func() bool { return controlplane.MarkDeploymentAvailable(ctx, k8sClient, key) == nil })
}

func conditionTrue(tenant *v1alpha1.GatewayTenant, typ string) bool {
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(tenant), tenant); err != nil {
		return false
	}
	c := meta.FindStatusCondition(tenant.Status.Conditions, typ)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == tenant.Generation
}

func exists(obj client.Object, name string) bool {
	return k8sClient.Get(ctx, client.ObjectKey{Namespace: switchNS, Name: name}, obj) == nil
}

// names are the NetworkPolicies of the namespace being switched, sorted.
func names(t *testing.T) []string {
	list := &networkingv1.NetworkPolicyList{}
	if err := k8sClient.List(ctx, list, client.InNamespace(switchNS)); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, np := range list.Items {
		out = append(out, np.Name)
	}
	slices.Sort(out)
	return out
}
