package gatewaytenant

import (
	"context"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/proxystate"
)

// observation is what one reconcile read, and what that means. observe makes every read
// once; judge then computes the rest as pure functions of the reads. Nothing changes it
// afterwards: the write phase reports what it did in an outcome, and the status is computed
// from both.
type observation struct {
	now        time.Time
	generation int64
	// expiryWarning is how long before a certificate expires that it is reported.
	expiryWarning time.Duration
	// gatewayID is the tenant's gateway id, which tags its gateway service definitions.
	gatewayID string

	// What was read.

	// policies are the NetworkPolicies the tenant controls.
	policies []networkingv1.NetworkPolicy
	// planes are the GatewayDataPlanes.
	planes []v1alpha1.GatewayDataPlane
	// services are the Services of the tenant's namespace its upstreams name, by name; a
	// name missing from the map names no Service.
	services map[string]*corev1.Service
	// certs is the certificate material of each TLS upstream, by upstream name.
	certs map[string]certMaterial
	// lastGood is the record of the TLS upstreams the proxy served when they were last
	// valid, by name (lastgood.go).
	lastGood map[string]upstreamResult
	// deployment is the proxy Deployment as stored before this reconcile; nil when none.
	deployment *appsv1.Deployment
	// reading is the latest reading of the proxy replicas' state; readProxy says whether the
	// proxies are read at all.
	reading   proxystate.Reading
	readProxy bool
	// endpoints are the ready endpoints of the Services of plain upstreams, by Service name.
	endpoints map[string]int
	// backendTLSPolicies are the BackendTLSPolicies of the tenant's namespace, read where the
	// API server serves them (backendTLSServed).
	backendTLSPolicies []gwapiv1.BackendTLSPolicy
	backendTLSServed   bool

	// What it means.

	// conflict, when set, says which older GatewayTenant owns a Service port this one
	// names: nothing is written for this one, and nothing else is judged.
	conflict  *conflict
	dataPlane dataPlaneResult
	// upstreams are the spec's upstreams, judged, in spec order.
	upstreams []upstreamResult
	// served are the TLS upstreams the proxy serves, with their ports: the valid ones, and
	// invalid ones at their last good spec.
	served []proxyUpstream
	// proxyHost is the gateway host of the proxy Service: <name>.<namespace>.svc.
	proxyHost string
	// config is the proxy's configuration for served, rendered once with its revision;
	// configErr says why it could not be rendered.
	config    proxyConfig
	configErr error
	// verdicts are the proxy replicas' results per served upstream, for config's revision,
	// and materials what they report of the material only they check (material.go).
	verdicts  map[string]proxystate.Verdict
	materials map[string]materialVerdict
	// tlsMode is who verifies TLS upstreams, as the data plane says (Proxy when it names none
	// or does not resolve).
	tlsMode v1alpha1.UpstreamTLSMode
	// direct are the TLS upstreams the gateway verifies through the tenant's BackendTLSPolicies
	// (tlsMode BackendTLSPolicy), with their desired policies.
	direct []directUpstream
	// ownPolicies are the BackendTLSPolicies of backendTLSPolicies the tenant controls, by
	// upstream name.
	ownPolicies map[string]*gwapiv1.BackendTLSPolicy
	// keptDirect are the TLS upstreams that, in Proxy mode, keep the BackendTLSPolicy and the
	// NetworkPolicy straight to their pods of an earlier BackendTLSPolicy mode until the proxy
	// serves them with its replicas available: the new path is in place before the old goes.
	keptDirect map[string]bool
}

// observe reads everything the tenant depends on, then judges it.
func (r *Reconciler) observe(ctx context.Context, tenant *v1alpha1.GatewayTenant) (*observation, error) {
	obs := &observation{now: r.Clock.Now(), generation: tenant.Generation, expiryWarning: r.ExpiryWarning, gatewayID: tenant.Spec.GatewayID}
	tenants := &v1alpha1.GatewayTenantList{}
	if err := r.Client.List(ctx, tenants, client.InNamespace(tenant.Namespace)); err != nil {
		return nil, fmt.Errorf("listing GatewayTenants of namespace %s: %w", tenant.Namespace, err)
	}
	policies := &networkingv1.NetworkPolicyList{}
	if err := r.Client.List(ctx, policies, client.InNamespace(tenant.Namespace), client.MatchingLabels{v1alpha1.LabelTenant: tenant.Name}); err != nil {
		return nil, fmt.Errorf("listing NetworkPolicies: %w", err)
	}
	for _, np := range policies.Items {
		if metav1.IsControlledBy(&np, tenant) {
			obs.policies = append(obs.policies, np)
		}
	}
	if obs.backendTLSServed = r.BackendTLSPolicies; obs.backendTLSServed {
		list := &gwapiv1.BackendTLSPolicyList{}
		if err := r.Client.List(ctx, list, client.InNamespace(tenant.Namespace)); err != nil {
			return nil, fmt.Errorf("listing BackendTLSPolicies: %w", err)
		}
		obs.backendTLSPolicies = list.Items
		obs.ownPolicies, _ = splitPolicies(tenant, list.Items)
	}
	if obs.conflict = conflictOf(tenant, tenants.Items); obs.conflict != nil {
		return obs, nil // nothing more is written, so nothing more is needed
	}
	if err := r.readDependencies(ctx, tenant, obs); err != nil {
		return nil, err
	}
	if err := r.readDataPath(ctx, tenant, obs); err != nil {
		return nil, err
	}
	obs.judge(tenant)
	return obs, nil
}

// readDependencies reads what the spec names: data planes, the upstreams' Services and
// certificates, the proxy's last good record and its Deployment.
func (r *Reconciler) readDependencies(ctx context.Context, tenant *v1alpha1.GatewayTenant, obs *observation) error {
	planes := &v1alpha1.GatewayDataPlaneList{}
	if err := r.Client.List(ctx, planes); err != nil {
		return fmt.Errorf("listing GatewayDataPlanes: %w", err)
	}
	obs.planes = planes.Items
	obs.services, obs.certs = map[string]*corev1.Service{}, map[string]certMaterial{}
	for _, u := range tenant.Spec.Upstreams {
		name, ns := splitHost(u.Host)
		if ns != tenant.Namespace {
			continue
		}
		if _, seen := obs.services[name]; !seen {
			svc := &corev1.Service{}
			err := r.referenced().Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, svc)
			switch {
			case apierrors.IsNotFound(err):
				svc = nil
			case err != nil:
				return fmt.Errorf("getting Service %s/%s: %w", ns, name, err)
			}
			if svc != nil {
				obs.services[name] = svc
			}
		}
		if u.TLS != nil {
			m, err := readCertificates(ctx, r.certSource(), tenant.Namespace, u)
			if err != nil {
				return err
			}
			obs.certs[u.Name] = m
		}
	}
	if !hasTLS(tenant) {
		return nil
	}
	var err error
	if obs.lastGood, err = r.lastGoodUpstreams(ctx, tenant); err != nil {
		return err
	}
	dep := &appsv1.Deployment{}
	err = r.Client.Get(ctx, client.ObjectKey{Namespace: tenant.Namespace, Name: proxyName(tenant.Name)}, dep)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("getting the proxy Deployment: %w", err)
	case metav1.IsControlledBy(dep, tenant):
		obs.deployment = dep
	}
	return nil
}

// readDataPath reads the latest proxy reading of the tenant (from memory) and counts the
// ready endpoints of its plain upstreams' Services (from the cache): no request to the API
// server.
func (r *Reconciler) readDataPath(ctx context.Context, tenant *v1alpha1.GatewayTenant, obs *observation) error {
	if r.ProxyStates != nil && hasTLS(tenant) {
		obs.reading, _ = r.ProxyStates.Get(client.ObjectKeyFromObject(tenant))
		obs.readProxy = true
	}
	obs.endpoints = map[string]int{}
	for _, u := range tenant.Spec.Upstreams {
		svc, ns := splitHost(u.Host)
		if _, seen := obs.endpoints[svc]; seen || u.TLS != nil || ns != tenant.Namespace {
			continue
		}
		n, err := r.readyEndpoints(ctx, types.NamespacedName{Namespace: ns, Name: svc})
		if err != nil {
			return err
		}
		obs.endpoints[svc] = n
	}
	return nil
}

// readyEndpoints counts the ready endpoints of a Service, once per address.
func (r *Reconciler) readyEndpoints(ctx context.Context, svc types.NamespacedName) (int, error) {
	list := &discoveryv1.EndpointSliceList{}
	if err := r.referenced().ListGroup(ctx, svc, list, client.InNamespace(svc.Namespace), client.MatchingLabels{discoveryv1.LabelServiceName: svc.Name}); err != nil {
		return 0, fmt.Errorf("listing the EndpointSlices of Service %s: %w", svc, err)
	}
	ready := map[string]bool{}
	for _, s := range list.Items {
		for _, ep := range s.Endpoints {
			if (ep.Conditions.Ready == nil || *ep.Conditions.Ready) && len(ep.Addresses) > 0 {
				ready[ep.Addresses[0]] = true
			}
		}
	}
	return len(ready), nil
}

// lastGoodUpstreams reads, from the proxy ConfigMap, the TLS upstreams as the proxy last
// served them, by name; empty when there is no proxy.
func (r *Reconciler) lastGoodUpstreams(ctx context.Context, tenant *v1alpha1.GatewayTenant) (map[string]upstreamResult, error) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: tenant.Namespace, Name: proxyName(tenant.Name)}}
	err := r.getOwnedMeta(ctx, cm) // the record is an annotation: metadata is enough
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("getting proxy ConfigMap: %w", err)
	case !metav1.IsControlledBy(cm, tenant):
		return nil, nil
	}
	return decodeLastGood(cm.Annotations[annotationLastGood]), nil
}

// judge computes what the reads mean. Pure.
func (obs *observation) judge(tenant *v1alpha1.GatewayTenant) {
	obs.dataPlane = resolveDataPlane(&tenant.Spec, obs.planes)
	obs.judgeUpstreamTLS(tenant)
	obs.proxyHost = proxyName(tenant.Name) + "." + tenant.Namespace + ".svc"
	if len(obs.served) == 0 {
		return
	}
	obs.config, obs.configErr = renderProxyConfig(obs.served, obs.expiryWarning)
	if !obs.readProxy || obs.configErr != nil {
		return
	}
	obs.verdicts, obs.materials = map[string]proxystate.Verdict{}, map[string]materialVerdict{}
	for _, pu := range obs.served {
		v := obs.reading.Verdict(pu.upstream.Name, obs.config.revision)
		obs.verdicts[pu.upstream.Name] = v
		obs.materials[pu.upstream.Name] = judgeMaterial(pu.upstream, v)
	}
}

// judgeUpstreamTLS judges the upstreams and decides who verifies each TLS upstream: in Proxy
// mode the proxy serves the valid ones (and invalid ones at their last good spec), and what
// an earlier BackendTLSPolicy mode opened stays until the proxy serves them; in
// BackendTLSPolicy mode the gateway verifies those a BackendTLSPolicy can express, and the
// proxy keeps serving, at their last good spec, those it served that cannot move yet.
func (obs *observation) judgeUpstreamTLS(tenant *v1alpha1.GatewayTenant) {
	obs.tlsMode = v1alpha1.UpstreamTLSModeProxy
	if obs.dataPlane.plane != nil {
		obs.tlsMode = obs.dataPlane.plane.Spec.TLSMode()
	}
	var others []gwapiv1.BackendTLSPolicy
	obs.ownPolicies, others = splitPolicies(tenant, obs.backendTLSPolicies)
	judge := func(refuse func(v1alpha1.Upstream) (string, string)) []upstreamResult {
		return judgeUpstreams(tenant.Namespace, tenant.Spec.Upstreams, obs.services, obs.certs, refuse, obs.now, obs.expiryWarning)
	}
	if obs.tlsMode != v1alpha1.UpstreamTLSModeBackendTLSPolicy {
		obs.upstreams = judge(nil)
		obs.served = proxyUpstreams(tenant, withLastGood(obs.upstreams, obs.lastGood))
		obs.keptDirect = keptDirect(tenant, obs.ownPolicies, obs.deployment, obs.lastGood)
		return
	}
	settings := obs.dataPlane.plane.Spec.BackendTLSPolicySettings()
	env := backendTLSEnv{served: obs.backendTLSServed, tenant: tenant.Name, plane: obs.dataPlane.plane.Name, settings: settings,
		services: obs.services, own: obs.ownPolicies, others: others}
	obs.upstreams, obs.direct = directUpstreams(judge(env.refusal), env)
	for i := range obs.direct {
		obs.direct[i].desired = desiredBackendTLSPolicy(tenant, obs.direct[i], settings)
	}
	obs.served = proxyUpstreams(tenant, keptOnProxy(obs.upstreams, obs.lastGood))
}

// directAs is the upstream named name when the gateway verifies it, nil otherwise.
func (obs *observation) directAs(name string) *directUpstream {
	for i := range obs.direct {
		if obs.direct[i].upstream.Name == name {
			return &obs.direct[i]
		}
	}
	return nil
}

// proxyNeeded says whether the tenant's proxy should run: it serves upstreams, or the data
// plane's proxy verifies TLS upstreams of the spec (none valid yet: the proxy is left as it is).
func (obs *observation) proxyNeeded() bool {
	return len(obs.served) > 0 || obs.tlsMode != v1alpha1.UpstreamTLSModeBackendTLSPolicy && obs.hasTLS()
}

// hasTLS says whether any upstream of the spec speaks TLS.
func (obs *observation) hasTLS() bool {
	return slices.ContainsFunc(obs.upstreams, func(u upstreamResult) bool { return u.upstream.TLS != nil })
}

// nextCheck is how long until a certificate of an upstream (its CA and client certificates,
// and the one it presents to the proxy) next enters the warning window or expires; zero when
// there is none.
func (obs *observation) nextCheck() time.Duration {
	var next time.Duration
	at := func(notAfter time.Time) {
		for _, t := range []time.Time{notAfter.Add(-obs.expiryWarning), notAfter} {
			if d := t.Sub(obs.now); d > 0 && (next == 0 || d < next) {
				next = d
			}
		}
	}
	for _, u := range obs.upstreams {
		if !u.notAfter.IsZero() {
			at(u.notAfter)
		}
	}
	for _, v := range obs.verdicts {
		if v.Presented != nil {
			at(v.Presented.NotAfter)
		}
	}
	if next > 0 {
		next += time.Second // land just past the boundary
	}
	return next
}

// servedAs is how the proxy serves the upstream named name, nil when it does not.
func (obs *observation) servedAs(name string) *proxyUpstream {
	for i := range obs.served {
		if obs.served[i].upstream.Name == name {
			return &obs.served[i]
		}
	}
	return nil
}

// keptPolicy says whether the NetworkPolicy a plain upstream had when it was last valid is
// still in place.
func (obs *observation) keptPolicy(tenant, upstream string) bool {
	for _, np := range obs.policies {
		if np.Name == networkPolicyName(tenant, upstream) {
			return true
		}
	}
	return false
}
