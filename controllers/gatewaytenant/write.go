package gatewaytenant

// The write phase: the desired objects (resources.go) written by the rule of apply.go, and
// what is no longer wanted deleted. What it did comes back as an outcome; it changes nothing
// of the observation.

import (
	"context"
	"errors"
	"fmt"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

// outcome is what one write phase did and learned.
type outcome struct {
	// created, updated and deleted are the children written, "<Kind> <name>".
	created, updated, deleted []string
	// failed are the writes that failed, other than those that lost a race.
	failed []failure
	// conflicted says a write lost a race with another writer (409 Conflict): the reconcile
	// is tried again, quietly.
	conflicted bool
	// deployment is the proxy Deployment as stored after this write phase; nil when it was
	// not written.
	deployment *appsv1.Deployment
	// held, when set, says the proxy keeps an older image until the rollout bound lets its
	// upgrade go ahead.
	held *outdated
	// sizeRefused says why the tenant's spec.proxy is refused; the proxy keeps its size.
	sizeRefused error
}

// part is what a child belongs to, for the condition that reports a failure to write it.
type part int

const (
	partPolicies   part = iota // NetworkPolicyReady
	partProxy                  // ProxyReady
	partBackendTLS             // BackendTLSPolicyReady
)

// failure is a write that failed.
type failure struct {
	child string // "<Kind> <name>"
	part  part
	err   error
}

// errOf joins the errors of the failed writes of part.
func (o *outcome) errOf(p part) error {
	var errs []error
	for _, f := range o.failed {
		if f.part == p {
			errs = append(errs, fmt.Errorf("writing %s: %w", f.child, f.err))
		}
	}
	return errors.Join(errs...)
}

// err joins the errors of every failed write.
func (o *outcome) err() error {
	return errors.Join(o.errOf(partPolicies), o.errOf(partProxy), o.errOf(partBackendTLS))
}

// settled says that every write so far succeeded: none failed, none lost a race. What a new
// path replaces is removed only then.
func (o *outcome) settled() bool { return len(o.failed) == 0 && !o.conflicted }

// note records the result of writing child.
func (o *outcome) note(child string, p part, op controllerutil.OperationResult, err error) {
	switch {
	case apierrors.IsConflict(err):
		o.conflicted = true
	case err != nil:
		o.failed = append(o.failed, failure{child: child, part: p, err: err})
	case op == controllerutil.OperationResultCreated:
		o.created = append(o.created, child)
	case op == controllerutil.OperationResultUpdated:
		o.updated = append(o.updated, child)
	}
}

// writer writes the children of one tenant and notes what it did in out.
type writer struct {
	r      *Reconciler
	ctx    context.Context
	tenant *v1alpha1.GatewayTenant
	out    *outcome
}

// write writes what obs says the tenant needs and deletes what it no longer needs: nothing
// but deletions when another tenant owns a Service port it names, nothing at all while its
// data plane does not resolve.
//
// The order keeps the gateway's paths whole when the data plane's mode changes: the
// BackendTLSPolicies first, then the NetworkPolicies straight to the pods of the upstreams
// whose policy is in place, then the proxy; an old path (the proxy's NetworkPolicies and
// objects, a BackendTLSPolicy after its NetworkPolicy) goes only once every write before it
// succeeded. At no moment does the gateway reach neither path, nor pods directly without the
// policy that has them verified.
func (r *Reconciler) write(ctx context.Context, tenant *v1alpha1.GatewayTenant, obs *observation) *outcome {
	w := &writer{r: r, ctx: ctx, tenant: tenant, out: &outcome{}}
	switch {
	case obs.conflict != nil:
		w.deleteOwned(obs)
	case obs.dataPlane.accepted():
		inPlace := w.backendTLSPolicies(obs)
		w.networkPolicies(obs, inPlace)
		w.proxy(obs)
		w.pruneBackendTLSPolicies(obs)
	}
	return w.out
}

// apply writes desired by the rule of apply.go and returns the object as stored; nil when the
// write failed.
func (w *writer) apply(desired client.Object, p part) client.Object {
	obj, op, err := w.r.createOrUpdate(w.ctx, w.tenant, desired)
	w.out.note(kindOf(w.r, desired)+" "+desired.GetName(), p, op, err)
	if err != nil {
		return nil
	}
	return obj
}

// delete removes an object the tenant no longer needs.
func (w *writer) delete(obj client.Object, p part) {
	child := kindOf(w.r, obj) + " " + obj.GetName()
	err := w.r.Client.Delete(w.ctx, obj, client.Preconditions{UID: ptr.To(obj.GetUID())})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		w.out.note(child, p, controllerutil.OperationResultNone, fmt.Errorf("deleting: %w", err))
	default:
		w.out.deleted = append(w.out.deleted, child)
	}
}

// deleteIfOwned deletes the object named like obj when the tenant controls it.
func (w *writer) deleteIfOwned(obj client.Object, p part) {
	err := w.r.getOwnedMeta(w.ctx, obj)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		w.out.note(kindOf(w.r, obj)+" "+obj.GetName(), p, controllerutil.OperationResultNone, fmt.Errorf("reading: %w", err))
	case metav1.IsControlledBy(obj, w.tenant):
		w.delete(obj, p)
	}
}

// networkPolicies writes the NetworkPolicies of every served upstream (those straight to the
// pods of an upstream the gateway verifies only once its BackendTLSPolicy is in place) and,
// when every write so far succeeded, deletes those no longer wanted. The policies of an
// upstream that became invalid are kept as they were: a mistake in the spec never cuts off
// traffic that worked; so are those of an earlier BackendTLSPolicy mode until the proxy
// serves the upstream.
func (w *writer) networkPolicies(obs *observation, inPlace map[string]bool) {
	wanted := map[string]bool{}
	for _, desired := range desiredNetworkPolicies(w.tenant, obs, w.r.Proxy, w.r.OperatorNamespace, inPlace) {
		wanted[desired.Name] = true
		w.apply(desired, partPolicies)
	}
	if !w.out.settled() {
		return
	}
	keep := map[string]bool{}
	for _, u := range obs.upstreams {
		keep[u.upstream.Name] = !u.valid() || obs.keptDirect[u.upstream.Name]
	}
	keepProxy := obs.tlsMode != v1alpha1.UpstreamTLSModeBackendTLSPolicy && hasTLS(w.tenant) && len(obs.served) == 0
	for i := range obs.policies {
		np := &obs.policies[i]
		upstream, perUpstream := np.Labels[v1alpha1.LabelUpstream]
		if wanted[np.Name] || keep[upstream] || (!perUpstream && keepProxy) {
			continue
		}
		w.delete(np, partPolicies)
	}
}

// proxy writes the proxy's objects for the served TLS upstreams. When no proxy is needed (no
// TLS upstreams, or the gateway verifies them all) it removes them; while TLS upstreams exist
// but none is served it leaves them as they are, so that a broken reference never takes down
// a proxy that serves. In BackendTLSPolicy mode the proxy is an old path: it changes only
// once every write before it succeeded.
func (w *writer) proxy(obs *observation) {
	tenant, r := w.tenant, w.r
	if obs.tlsMode == v1alpha1.UpstreamTLSModeBackendTLSPolicy && !w.out.settled() {
		return
	}
	if !obs.proxyNeeded() {
		w.deleteProxy()
		return
	}
	ups := obs.served
	if len(ups) == 0 {
		return
	}
	if obs.configErr != nil {
		w.out.note("ConfigMap "+proxyName(tenant.Name), partProxy, controllerutil.OperationResultNone, obs.configErr)
		return
	}
	settings := r.Proxy
	size, err := settings.sizeFor(tenant)
	if err != nil {
		w.out.sizeRefused = err
		size = storedSize(obs.deployment, proxySize{replicas: settings.Replicas, resources: proxyResources(settings)})
	}
	settings.Replicas, settings.Resources = size.replicas, size.resources
	dep := proxyDeployment(tenant, ups, obs.config, settings, workloadLabels(obs.dataPlane))
	if held := r.Rollout.hold(proxyImage(obs.deployment), proxyImage(dep), obs.now); held != nil {
		dep.Spec.Template.Spec.Containers[0].Image = held.image
		w.out.held = held
	}
	if r.Proxy.Monitoring.PodMonitors {
		w.apply(proxyPodMonitor(tenant), partProxy)
	}
	w.apply(proxyConfigMap(tenant, obs.config, ups), partProxy)
	w.apply(proxyServiceAccount(tenant), partProxy)
	w.apply(proxyService(tenant, ups), partProxy)
	if stored, ok := w.apply(dep, partProxy).(*appsv1.Deployment); ok {
		w.out.deployment = stored
	}
	if settings.Replicas > 1 {
		w.apply(proxyPDB(tenant), partProxy)
	} else {
		w.deleteIfOwned(&policyv1.PodDisruptionBudget{ObjectMeta: proxyMeta(tenant, proxyName(tenant.Name))}, partProxy)
	}
}

// deleteOwned removes every NetworkPolicy, BackendTLSPolicy and proxy object the tenant
// controls; a BackendTLSPolicy after the NetworkPolicies, so that no pod is open to the
// gateway without it.
func (w *writer) deleteOwned(obs *observation) {
	w.deleteProxy()
	for i := range obs.policies {
		w.delete(&obs.policies[i], partPolicies)
	}
	if !w.out.settled() {
		return
	}
	for _, p := range obs.ownPolicies {
		w.delete(p, partBackendTLS)
	}
}

// backendTLSPolicies writes the BackendTLSPolicy of every upstream the gateway verifies, and
// returns the names of those whose policy is in place.
func (w *writer) backendTLSPolicies(obs *observation) map[string]bool {
	inPlace := map[string]bool{}
	for _, d := range obs.direct {
		if w.apply(d.desired, partBackendTLS) != nil { // nil when it failed or lost a race
			inPlace[d.upstream.Name] = true
		}
	}
	return inPlace
}

// pruneBackendTLSPolicies deletes the tenant's BackendTLSPolicies that no upstream needs any
// more, once every write before succeeded (their NetworkPolicies are gone then). Those of an
// upstream whose new spec is refused stay, as its NetworkPolicy does; so do those kept until
// the proxy serves their upstream.
func (w *writer) pruneBackendTLSPolicies(obs *observation) {
	if !w.out.settled() {
		return
	}
	keep := map[string]bool{}
	for _, u := range obs.upstreams {
		keep[u.upstream.Name] = u.upstream.TLS != nil && !u.valid() || obs.keptDirect[u.upstream.Name]
	}
	for _, d := range obs.direct {
		keep[d.upstream.Name] = true
	}
	for name, p := range obs.ownPolicies {
		if !keep[name] {
			w.delete(p, partBackendTLS)
		}
	}
}

// deleteProxy removes every proxy object of the tenant.
func (w *writer) deleteProxy() {
	meta := proxyMeta(w.tenant, proxyName(w.tenant.Name))
	for _, obj := range []client.Object{
		&appsv1.Deployment{ObjectMeta: meta},
		&corev1.Service{ObjectMeta: meta},
		&corev1.ConfigMap{ObjectMeta: meta},
		&corev1.ServiceAccount{ObjectMeta: meta},
		&policyv1.PodDisruptionBudget{ObjectMeta: meta},
	} {
		w.deleteIfOwned(obj, partProxy)
	}
	if w.r.Proxy.Monitoring.PodMonitors {
		w.deleteIfOwned(&monitoringv1.PodMonitor{ObjectMeta: meta}, partProxy)
	}
}
